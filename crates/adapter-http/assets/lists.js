// The page's lists: concerts and performances to pick from, and the fan's tickets. Each is
// drawn whole from the data it is given; the caller keeps the data and redraws after a language
// switch.

import { lang, t, won } from "./i18n.js";

function choiceButton(label, pressed, onClick, data) {
  const item = document.createElement("li");
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = label;
  button.setAttribute("aria-pressed", String(pressed));
  Object.assign(button.dataset, data);
  button.addEventListener("click", onClick);
  item.append(button);
  return item;
}

function line(text) {
  const item = document.createElement("li");
  item.textContent = text;
  return item;
}

/** Concert buttons; the `chosen` one pressed. */
export function drawConcerts(list, concerts, chosen, onPick) {
  list.replaceChildren(
    ...concerts.map((concert) =>
      choiceButton(`${concert.title} · ${concert.artist}`, concert.concertId === chosen, () => onPick(concert.concertId), {
        concertId: concert.concertId,
      }),
    ),
  );
}

function when(instant) {
  return new Intl.DateTimeFormat(lang() === "ko" ? "ko-KR" : "en-GB", {
    dateStyle: "medium",
    timeStyle: "short",
  }).format(new Date(instant));
}

/** A performance's button text: when it starts and how many seats are free. */
export function performanceLabel(performance) {
  return `${when(performance.concertDate)} · ${t("shop.freeSeats", { n: performance.availableSeats })}`;
}

/** Performance buttons with their start and free seats; the `chosen` one pressed. */
export function drawPerformances(list, performances, chosen, onPick) {
  if (performances.length === 0) {
    list.replaceChildren(line(t("shop.noPerformances")));
    return;
  }
  list.replaceChildren(
    ...performances.map((performance) =>
      choiceButton(
        performanceLabel(performance),
        performance.scheduleId === chosen,
        () => onPick(performance.scheduleId),
        { scheduleId: performance.scheduleId },
      ),
    ),
  );
}

/** The fan's live holds and purchases (`GET /api/reservations`). */
export function drawTickets(list, tickets) {
  const items = [
    ...tickets.held.map((r) => line(t("tickets.held", { name: r.seatName, price: won(r.price) }))),
    ...tickets.bought.map((r) => line(t("tickets.bought", { name: r.seatName, amount: won(r.amount) }))),
  ];
  list.replaceChildren(...(items.length > 0 ? items : [line(t("tickets.none"))]));
}
