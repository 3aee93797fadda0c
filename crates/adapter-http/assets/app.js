// The fans' page: join the queue, wait (live over the token stream, polling as a fallback),
// pick a performance and a seat on a map that refreshes itself, hold it with a countdown, pay.
// Every answer of the API is shown as a sentence in #message, keyed by its error code.

import { ApiError, call } from "./api.js";
import { drawConcerts, drawPerformances, drawTickets, performanceLabel } from "./lists.js";
import { drawSeats } from "./seatmap.js";
import { followToken } from "./waiting.js";
import { errorText, lang, setLang, t, translate, won } from "./i18n.js";

const MAP_REFRESH_MS = 2000;
const TOKEN_KEY = "frontrow.token";

const $ = (id) => document.getElementById(id);

/** Everything the page knows; the render functions draw it again after a language switch. */
const state = {
  phase: "join", // join | waiting | shop | done
  token: null,
  userId: null,
  view: null, // the last token JSON
  mode: null, // "live" | "polling"
  concerts: [],
  concertId: null,
  performances: [],
  scheduleId: null,
  seats: [], // the last seat map
  hold: null, // the live reservation
  balance: null,
  tickets: null,
  message: null, // { kind, key, vars, code }
};

let mapTimer = null;
let countdownTimer = null;
let watcher = null;

// --- messages ---------------------------------------------------------------------------------

function showError(code) {
  state.message = { kind: "error", code };
  renderMessage();
}

function showOk(code, vars = {}) {
  state.message = { kind: "ok", code, vars };
  renderMessage();
}

function renderMessage() {
  const box = $("message");
  const message = state.message;
  box.hidden = !message;
  if (!message) return;
  box.dataset.kind = message.kind;
  box.dataset.code = message.code;
  box.setAttribute("aria-live", message.kind === "error" ? "assertive" : "polite");
  box.textContent = message.kind === "error" ? errorText(message.code) : t(`ok.${message.code}`, message.vars);
}

/** Shows a refusal; a token the server no longer accepts sends the fan back to the start. */
function fail(error) {
  const code = error instanceof ApiError ? error.code : "UNKNOWN";
  if (!(error instanceof ApiError)) console.error(error);
  showError(code);
  if (error instanceof ApiError && error.status === 401 && state.phase !== "done") {
    leave();
  }
}

// --- phases -----------------------------------------------------------------------------------

function show(phase) {
  state.phase = phase;
  $("join").hidden = phase !== "join";
  $("queue").hidden = phase !== "waiting";
  $("shop").hidden = phase !== "shop";
  $("wallet").hidden = phase !== "shop";
  $("tickets").hidden = phase !== "shop" && phase !== "done";
  $("done").hidden = phase !== "done";
  if (phase !== "shop") {
    clearInterval(mapTimer);
    mapTimer = null;
    setHold(null);
  }
}

function leave() {
  watcher?.abort();
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = null;
  show("join");
}

async function join(event) {
  event.preventDefault();
  const userText = $("user-id").value.trim();
  const identity = $("identity").value.trim();
  if (!/^[1-9][0-9]{0,14}$/.test(userText) && !identity) {
    showError("VALIDATION_ERROR");
    $("user-id").focus();
    return;
  }
  const body = userText ? { userId: Number(userText) } : {};
  try {
    const issued = await call("POST", "/api/token", { token: identity || undefined, body });
    state.message = null;
    renderMessage();
    enterQueue(issued);
  } catch (error) {
    fail(error);
  }
}

function enterQueue(view) {
  Object.assign(state, { concertId: null, scheduleId: null, seats: [], balance: null, tickets: null, mode: null });
  state.token = view.token;
  state.userId = view.userId;
  sessionStorage.setItem(TOKEN_KEY, view.token);
  show("waiting");
  onStatus(view);
  if (state.phase === "waiting") follow();
}

/** Applies one token status: draws it, and moves on when admitted or ended. */
function onStatus(view) {
  state.view = view;
  renderQueue();
  if (view.status === "ACTIVE" && state.phase === "waiting") {
    watcher?.abort();
    admitted();
  } else if (view.status === "EXPIRED") {
    showError("TOKEN_EXPIRED");
    leave();
  }
}

/** Follows the token until it is admitted or ends (see waiting.js). */
function follow() {
  watcher = new AbortController();
  const token = state.token;
  followToken(token, {
    signal: watcher.signal,
    stillWaiting: () => state.phase === "waiting" && state.token === token,
    onStatus,
    onMode: (mode) => {
      state.mode = mode;
      renderQueue();
    },
    onRefusal: fail,
  });
}

function renderQueue() {
  const view = state.view;
  if (!view) return;
  $("position").textContent = view.status === "WAITING" ? String(view.position) : "-";
  const seconds = Number(view.estimatedWaitSeconds ?? 0);
  $("wait").textContent =
    view.status !== "WAITING"
      ? "-"
      : seconds < 120
        ? t("wait.seconds", { s: Math.ceil(seconds) })
        : t("wait.minutes", { m: Math.ceil(seconds / 60) });
  $("status").textContent = t(`status.${view.status}`);
  $("status").dataset.status = view.status;
  $("paused").hidden = !view.paused;
  $("queue-mode").textContent = state.mode ? t(`queue.${state.mode}`) : "";
  $("queue-mode").dataset.mode = state.mode ?? "";
}

async function admitted() {
  show("shop");
  showOk("ADMITTED");
  await Promise.all([loadConcerts(), loadBalance(), loadTickets()]);
}

// --- catalogue and seat map -------------------------------------------------------------------

async function loadConcerts() {
  try {
    state.concerts = await call("GET", "/api/concerts", { token: state.token });
  } catch (error) {
    return fail(error);
  }
  renderConcerts();
  if (state.concerts.length > 0 && !state.concertId) await pickConcert(state.concerts[0].concertId);
}

function renderConcerts() {
  drawConcerts($("concerts"), state.concerts, state.concertId, pickConcert);
}

function renderPerformances() {
  drawPerformances($("performances"), state.performances, state.scheduleId, pickPerformance);
}

function renderTickets() {
  if (state.tickets) drawTickets($("ticket-list"), state.tickets);
}

async function pickConcert(concertId) {
  state.concertId = concertId;
  state.scheduleId = null;
  state.seats = [];
  renderConcerts();
  renderSeats();
  try {
    state.performances = await call("GET", `/api/${concertId}/available-dates`, { token: state.token });
  } catch (error) {
    return fail(error);
  }
  renderPerformances();
  if (state.performances.length > 0) await pickPerformance(state.performances[0].scheduleId);
}

async function pickPerformance(scheduleId) {
  state.scheduleId = scheduleId;
  state.seats = [];
  renderPerformances();
  $("seatmap").replaceChildren();
  await refreshMap();
  clearInterval(mapTimer);
  mapTimer = setInterval(refreshMap, MAP_REFRESH_MS);
}

async function refreshMap() {
  const scheduleId = state.scheduleId;
  if (!scheduleId || state.phase !== "shop") return;
  try {
    const seats = await call("GET", `/api/performances/${scheduleId}/seats`, { token: state.token });
    if (scheduleId !== state.scheduleId) return;
    state.seats = seats;
  } catch (error) {
    return fail(error);
  }
  renderSeats();
  // The chosen performance's free-seat count follows the map, its button changed in place.
  const performance = state.performances.find((p) => p.scheduleId === scheduleId);
  const button = $("performances").querySelector(`button[data-schedule-id="${scheduleId}"]`);
  if (performance && button) {
    performance.availableSeats = state.seats.filter((seat) => seat.state === "FREE").length;
    button.textContent = performanceLabel(performance);
  }
}

function renderSeats() {
  drawSeats($("seatmap"), state.seats, { mine: state.hold?.seatId, onPick: hold });
}

// --- hold, money, tickets ---------------------------------------------------------------------

async function hold(seatId) {
  try {
    const reservation = await call("POST", `/api/${state.concertId}/reserve-seat`, {
      token: state.token,
      body: { seatId, userId: state.userId },
    });
    setHold(reservation);
    showOk("HELD", { name: reservation.seatName });
  } catch (error) {
    fail(error);
  }
  await Promise.all([refreshMap(), loadTickets()]);
}

function setHold(reservation) {
  state.hold = reservation;
  clearInterval(countdownTimer);
  countdownTimer = null;
  $("hold").hidden = !reservation;
  if (!reservation) return;
  renderHold();
  countdownTimer = setInterval(tick, 250);
  tick();
}

function renderHold() {
  const reservation = state.hold;
  if (!reservation) return;
  $("hold-seat").textContent = t("hold.seat", { name: reservation.seatName, price: won(reservation.price) });
}

function tick() {
  const left = Math.max(0, Math.ceil((Date.parse(state.hold.expiresAt) - Date.now()) / 1000));
  $("countdown").textContent = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
  if (left === 0) {
    setHold(null);
    showError("RESERVATION_EXPIRED");
    refreshMap();
    loadTickets();
  }
}

async function pay() {
  const reservation = state.hold;
  if (!reservation) return;
  try {
    await call("POST", "/api/pay", {
      token: state.token,
      body: { reservationId: reservation.reservationId, paymentAmount: reservation.price },
    });
  } catch (error) {
    return fail(error);
  }
  // Paying ends the token: the fan's turn is over, their ticket stays readable.
  sessionStorage.removeItem(TOKEN_KEY);
  show("done");
  showOk("PAID");
  await loadTickets();
}

async function release() {
  const reservation = state.hold;
  if (!reservation) return;
  try {
    await call("DELETE", `/api/reservations/${reservation.reservationId}`, { token: state.token });
    setHold(null);
    showOk("RELEASED");
  } catch (error) {
    fail(error);
  }
  await Promise.all([refreshMap(), loadTickets()]);
}

async function loadBalance() {
  try {
    const wallet = await call("GET", `/api/balance?userId=${state.userId}`, { token: state.token });
    state.balance = wallet.currentBalance;
  } catch (error) {
    return fail(error);
  }
  renderBalance();
}

function renderBalance() {
  $("balance").textContent = state.balance === null ? "-" : won(state.balance);
}

async function charge(event) {
  event.preventDefault();
  const text = $("charge-amount").value.trim();
  if (!/^[1-9][0-9]{0,14}$/.test(text)) {
    showError("VALIDATION_ERROR");
    $("charge-amount").focus();
    return;
  }
  try {
    const wallet = await call("POST", "/api/charge", {
      token: state.token,
      body: { userId: state.userId, amount: Number(text) },
    });
    state.balance = wallet.currentBalance;
    renderBalance();
    $("charge-amount").value = "";
    showOk("CHARGED", { balance: won(wallet.currentBalance) });
  } catch (error) {
    fail(error);
  }
}

async function loadTickets() {
  if (!state.token) return;
  try {
    state.tickets = await call("GET", "/api/reservations", { token: state.token });
  } catch (error) {
    return fail(error);
  }
  renderTickets();
}

// --- start ------------------------------------------------------------------------------------

function toggleLanguage() {
  setLang(lang() === "ko" ? "en" : "ko");
  renderMessage();
  renderQueue();
  renderConcerts();
  if (state.phase === "shop") renderPerformances();
  renderSeats();
  renderHold();
  renderBalance();
  renderTickets();
}

async function resume() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) return;
  try {
    enterQueue(await call("GET", "/api/token", { token }));
  } catch {
    sessionStorage.removeItem(TOKEN_KEY);
  }
}

$("lang").addEventListener("click", toggleLanguage);
$("join-form").addEventListener("submit", join);
$("charge-form").addEventListener("submit", charge);
$("pay").addEventListener("click", pay);
$("release").addEventListener("click", release);
$("tickets-refresh").addEventListener("click", loadTickets);
$("again").addEventListener("click", () => {
  state.message = null;
  renderMessage();
  leave();
  $("user-id").focus();
});
setLang(lang());
translate(document);
resume();
