// The seat map of one performance: one group of buttons per price band, each seat's state
// shown by colour (app.css), by a word and in its aria-label. Redrawn in place, so a refresh
// every two seconds keeps the fan's focus and scroll.

import { t, won } from "./i18n.js";

function seatLabel(seat) {
  return t(`seat.label.${seat.state}`, { name: seat.seatName, zone: seat.zone, price: won(seat.price) });
}

/**
 * Draws `seats` into `map`, updating the buttons already there when the seats are the same.
 * `mine` is the seat id of the fan's own hold; `onPick(seatId)` runs on a click, for taken
 * seats too, so the fan hears from the server why one cannot be had.
 */
export function drawSeats(map, seats, { mine, onPick }) {
  const known = new Map([...map.querySelectorAll(".seat")].map((button) => [Number(button.dataset.seatId), button]));
  const sameSeats = known.size === seats.length && seats.every((seat) => known.has(seat.seatId));
  if (!sameSeats) {
    map.replaceChildren(...zones(seats, onPick));
    known.clear();
    for (const button of map.querySelectorAll(".seat")) known.set(Number(button.dataset.seatId), button);
  }
  for (const seat of seats) {
    const button = known.get(seat.seatId);
    button.dataset.state = seat.state;
    button.dataset.mine = String(mine === seat.seatId && seat.state === "HELD");
    button.setAttribute("aria-disabled", String(seat.state !== "FREE"));
    button.setAttribute("aria-label", seatLabel(seat));
    button.querySelector(".state").textContent = t(`seat.${seat.state}`);
  }
  for (const heading of map.querySelectorAll("h3")) {
    heading.textContent = t("zone", { zone: heading.dataset.zone, price: won(heading.dataset.price) });
  }
}

/** One group of seat buttons per price band, in seat order. */
function zones(seats, onPick) {
  const groups = [];
  for (const seat of seats) {
    let group = groups.at(-1);
    if (!group || group.zone !== seat.zone) {
      group = { zone: seat.zone, price: seat.price, seats: [] };
      groups.push(group);
    }
    group.seats.push(seat);
  }
  return groups.map((group) => {
    const box = document.createElement("div");
    box.className = "zone";
    box.setAttribute("role", "group");
    const heading = document.createElement("h3");
    heading.dataset.zone = group.zone;
    heading.dataset.price = group.price;
    heading.id = `zone-${group.zone}`;
    box.setAttribute("aria-labelledby", heading.id);
    const grid = document.createElement("div");
    grid.className = "seats";
    for (const seat of group.seats) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "seat";
      button.dataset.seatId = seat.seatId;
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = seat.seatName;
      const word = document.createElement("span");
      word.className = "state";
      button.append(name, word);
      button.addEventListener("click", () => onPick(seat.seatId));
      grid.append(button);
    }
    box.append(heading, grid);
    return box;
  });
}
