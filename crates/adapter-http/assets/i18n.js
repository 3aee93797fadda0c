// The page's words in Korean (first) and English, and the human sentence for every error code
// of the API. The choice is remembered in localStorage.

const STORE_KEY = "frontrow.lang";

const texts = {
  ko: {
    "title": "frontrow 예매",
    "lang.toggle": "English",
    "lang.label": "Switch to English",
    "join.heading": "입장하기",
    "join.user": "회원 번호",
    "join.identity": "본인 확인 토큰 (AUTH_MODE=jwt 서버만)",
    "join.submit": "대기열 입장",
    "queue.heading": "대기실",
    "queue.position": "내 순번",
    "queue.wait": "예상 대기",
    "queue.status": "상태",
    "queue.live": "실시간 연결",
    "queue.polling": "주기적 확인",
    "queue.paused": "판매처가 입장을 잠시 멈췄습니다. 순서는 그대로 유지됩니다.",
    "status.WAITING": "대기 중",
    "status.ACTIVE": "입장 완료",
    "status.EXPIRED": "만료",
    "wait.seconds": "약 {s}초",
    "wait.minutes": "약 {m}분",
    "shop.concerts": "공연",
    "shop.performances": "회차",
    "shop.seats": "좌석",
    "shop.pickConcert": "공연을 고르세요.",
    "shop.pickPerformance": "회차를 고르세요.",
    "shop.noPerformances": "예매 가능한 회차가 없습니다.",
    "shop.freeSeats": "잔여 {n}석",
    "shop.legend": "색과 글자로 좌석 상태를 표시합니다.",
    "seat.FREE": "가능",
    "seat.HELD": "선점",
    "seat.SOLD": "판매",
    "seat.label.FREE": "{name} 좌석, {zone}석 {price}, 선택 가능",
    "seat.label.HELD": "{name} 좌석, {zone}석 {price}, 다른 분이 선점 중",
    "seat.label.SOLD": "{name} 좌석, {zone}석 {price}, 판매 완료",
    "zone": "{zone}석 · {price}",
    "hold.heading": "선점한 좌석",
    "hold.seat": "{name} 좌석 · {price}",
    "hold.left": "남은 시간",
    "hold.pay": "결제하기",
    "hold.release": "좌석 반납",
    "wallet.heading": "잔액",
    "wallet.balance": "현재 잔액",
    "wallet.amount": "충전 금액 (원)",
    "wallet.charge": "충전",
    "tickets.heading": "내 예매",
    "tickets.refresh": "새로고침",
    "tickets.none": "아직 예매 내역이 없습니다.",
    "tickets.held": "{name} 좌석 · {price} · 선점 중",
    "tickets.bought": "{name} 좌석 · {amount} · 결제 완료",
    "done.again": "다시 대기열 입장",
    "won": "{n}원",
    "ok.HELD": "{name} 좌석을 선점했습니다. 시간 안에 결제하세요.",
    "ok.RELEASED": "좌석을 반납했습니다.",
    "ok.CHARGED": "충전했습니다. 잔액 {balance}.",
    "ok.PAID": "결제했습니다. 즐거운 공연 되세요!",
    "ok.ADMITTED": "입장했습니다. 좌석을 고르세요.",
    "err.VALIDATION_ERROR": "입력한 값을 확인해 주세요.",
    "err.ADMIN_TOKEN_INVALID": "판매처 관리자 인증이 올바르지 않습니다.",
    "err.TOKEN_MISSING": "입장 토큰이 없습니다. 대기열에 다시 입장해 주세요.",
    "err.TOKEN_INVALID": "입장 토큰을 알 수 없습니다. 대기열에 다시 입장해 주세요.",
    "err.TOKEN_EXPIRED": "입장 시간이 끝났습니다. 대기열에 다시 입장해 주세요.",
    "err.IDENTITY_EXPIRED": "본인 확인 토큰이 만료되었습니다. 새로 받아 주세요.",
    "err.IDENTITY_INVALID": "본인 확인 토큰이 올바르지 않습니다.",
    "err.QUEUE_NOT_ACTIVE": "아직 차례가 아닙니다. 대기실에서 기다려 주세요.",
    "err.FORBIDDEN": "다른 회원의 정보에는 접근할 수 없습니다.",
    "err.NOT_FOUND": "찾는 항목이 없습니다. 이미 사라졌을 수 있습니다.",
    "err.METHOD_NOT_ALLOWED": "이 주소에서는 할 수 없는 요청입니다.",
    "err.REQUEST_TIMEOUT": "요청이 제때 도착하지 않았습니다. 다시 시도해 주세요.",
    "err.SEAT_UNAVAILABLE": "이미 다른 분이 선점했거나 판매된 좌석입니다. 다른 좌석을 골라 주세요.",
    "err.SALES_NOT_OPEN": "아직 판매가 시작되지 않은 회차입니다.",
    "err.RESERVATION_EXPIRED": "선점 시간이 끝나 좌석이 다시 판매됩니다.",
    "err.RESERVATION_NOT_PAYABLE": "이미 결제했거나 반납한 좌석입니다.",
    "err.RESERVATION_PAID": "결제한 좌석은 반납할 수 없습니다.",
    "err.ALREADY_REFUNDED": "이미 환불되었습니다.",
    "err.SEAT_TAKEN": "선점되었거나 판매된 좌석은 바꿀 수 없습니다.",
    "err.SEATS_CHANGED": "이미 등록된 회차의 좌석을 바꿀 수 없습니다.",
    "err.IDEMPOTENCY_KEY_IN_PROGRESS": "같은 요청을 처리하는 중입니다. 잠시 후 다시 시도해 주세요.",
    "err.HOLD_LIMIT_REACHED": "동시에 선점할 수 있는 좌석 수를 넘었습니다. 먼저 결제하거나 반납해 주세요.",
    "err.PAYLOAD_TOO_LARGE": "요청이 너무 큽니다.",
    "err.INSUFFICIENT_BALANCE": "잔액이 부족합니다. 먼저 충전해 주세요.",
    "err.PAYMENT_AMOUNT_MISMATCH": "결제 금액이 좌석 가격과 다릅니다.",
    "err.BALANCE_LIMIT_EXCEEDED": "충전 한도를 넘습니다. 더 적은 금액을 충전해 주세요.",
    "err.IDEMPOTENCY_KEY_REUSED": "같은 요청 키로 다른 요청을 보냈습니다.",
    "err.TOO_MANY_KEYS": "요청이 너무 많습니다. 잠시 후 다시 시도해 주세요.",
    "err.TOO_MANY_STREAMS": "다른 창에서 이미 대기 중입니다. 이 창은 주기적으로 확인합니다.",
    "err.STREAMS_FULL": "접속이 많아 주기적으로 순번을 확인합니다.",
    "err.UNAVAILABLE": "서버가 잠시 응답하지 않습니다. 다시 시도해 주세요.",
    "err.INTERNAL": "서버에서 문제가 생겼습니다. 다시 시도해 주세요.",
    "err.NETWORK": "서버에 연결할 수 없습니다. 연결을 확인해 주세요.",
    "err.UNKNOWN": "알 수 없는 오류가 발생했습니다. 다시 시도해 주세요.",
  },
  en: {
    "title": "frontrow tickets",
    "lang.toggle": "한국어",
    "lang.label": "한국어로 보기",
    "join.heading": "Join",
    "join.user": "Member number",
    "join.identity": "Identity token (AUTH_MODE=jwt servers only)",
    "join.submit": "Enter the queue",
    "queue.heading": "Waiting room",
    "queue.position": "Position",
    "queue.wait": "Estimated wait",
    "queue.status": "Status",
    "queue.live": "live",
    "queue.polling": "checking every few seconds",
    "queue.paused": "The box office has paused admission for a moment. You keep your place.",
    "status.WAITING": "Waiting",
    "status.ACTIVE": "Admitted",
    "status.EXPIRED": "Expired",
    "wait.seconds": "about {s} s",
    "wait.minutes": "about {m} min",
    "shop.concerts": "Concerts",
    "shop.performances": "Performances",
    "shop.seats": "Seats",
    "shop.pickConcert": "Pick a concert.",
    "shop.pickPerformance": "Pick a performance.",
    "shop.noPerformances": "No performance has a free seat.",
    "shop.freeSeats": "{n} seats free",
    "shop.legend": "Seat states are shown by colour and by word.",
    "seat.FREE": "free",
    "seat.HELD": "held",
    "seat.SOLD": "sold",
    "seat.label.FREE": "Seat {name}, zone {zone}, {price}, free",
    "seat.label.HELD": "Seat {name}, zone {zone}, {price}, held by someone else",
    "seat.label.SOLD": "Seat {name}, zone {zone}, {price}, sold",
    "zone": "Zone {zone} · {price}",
    "hold.heading": "Your seat on hold",
    "hold.seat": "Seat {name} · {price}",
    "hold.left": "Time left",
    "hold.pay": "Pay",
    "hold.release": "Give it back",
    "wallet.heading": "Balance",
    "wallet.balance": "Current balance",
    "wallet.amount": "Amount to add (won)",
    "wallet.charge": "Charge",
    "tickets.heading": "My tickets",
    "tickets.refresh": "Refresh",
    "tickets.none": "No bookings yet.",
    "tickets.held": "Seat {name} · {price} · on hold",
    "tickets.bought": "Seat {name} · {amount} · paid",
    "done.again": "Join the queue again",
    "won": "₩{n}",
    "ok.HELD": "Seat {name} is yours for now. Pay before the time runs out.",
    "ok.RELEASED": "You gave the seat back.",
    "ok.CHARGED": "Charged. Your balance is {balance}.",
    "ok.PAID": "Paid. Enjoy the show!",
    "ok.ADMITTED": "You are in. Pick your seat.",
    "err.VALIDATION_ERROR": "Please check what you entered.",
    "err.ADMIN_TOKEN_INVALID": "The box office credentials are not valid.",
    "err.TOKEN_MISSING": "You have no queue token. Please join the queue again.",
    "err.TOKEN_INVALID": "Your queue token is not known. Please join the queue again.",
    "err.TOKEN_EXPIRED": "Your turn has ended. Please join the queue again.",
    "err.IDENTITY_EXPIRED": "Your identity token has expired. Please get a new one.",
    "err.IDENTITY_INVALID": "Your identity token is not valid.",
    "err.QUEUE_NOT_ACTIVE": "It is not your turn yet. Please wait in the waiting room.",
    "err.FORBIDDEN": "You cannot act for another member.",
    "err.NOT_FOUND": "That could not be found. It may be gone already.",
    "err.METHOD_NOT_ALLOWED": "That request is not possible here.",
    "err.REQUEST_TIMEOUT": "Your request did not arrive in time. Please try again.",
    "err.SEAT_UNAVAILABLE": "Someone else holds or bought that seat. Please pick another one.",
    "err.SALES_NOT_OPEN": "Sales for this performance have not opened yet.",
    "err.RESERVATION_EXPIRED": "Your hold ran out, and the seat is on sale again.",
    "err.RESERVATION_NOT_PAYABLE": "That seat is already paid for or was given back.",
    "err.RESERVATION_PAID": "A paid seat cannot be given back.",
    "err.ALREADY_REFUNDED": "That was refunded already.",
    "err.SEAT_TAKEN": "A held or sold seat cannot be changed.",
    "err.SEATS_CHANGED": "The seats of a performance already loaded cannot change.",
    "err.IDEMPOTENCY_KEY_IN_PROGRESS": "The same request is still running. Please try again in a moment.",
    "err.HOLD_LIMIT_REACHED": "You hold as many seats as allowed at once. Pay for or give back one first.",
    "err.PAYLOAD_TOO_LARGE": "That request is too large.",
    "err.INSUFFICIENT_BALANCE": "Your balance is too low. Please charge it first.",
    "err.PAYMENT_AMOUNT_MISMATCH": "The amount does not match the seat's price.",
    "err.BALANCE_LIMIT_EXCEEDED": "That would pass the balance limit. Please add less.",
    "err.IDEMPOTENCY_KEY_REUSED": "That request key was used for a different request.",
    "err.TOO_MANY_KEYS": "Too many requests. Please try again later.",
    "err.TOO_MANY_STREAMS": "You are waiting in another window too; this one checks every few seconds.",
    "err.STREAMS_FULL": "Many fans are here; your place is checked every few seconds.",
    "err.UNAVAILABLE": "The service is not answering for a moment. Please try again.",
    "err.INTERNAL": "Something went wrong on our side. Please try again.",
    "err.NETWORK": "The service cannot be reached. Please check your connection.",
    "err.UNKNOWN": "Something unexpected happened. Please try again.",
  },
};

let current = localStorage.getItem(STORE_KEY) === "en" ? "en" : "ko";

/** The language shown: "ko" or "en". */
export function lang() {
  return current;
}

/** Switches the language, remembers it, and re-labels every `data-i18n` element. */
export function setLang(next) {
  current = next === "en" ? "en" : "ko";
  localStorage.setItem(STORE_KEY, current);
  document.documentElement.lang = current;
  translate(document);
}

/** The text of `key` in the current language with `{name}` placeholders filled. */
export function t(key, vars = {}) {
  const text = texts[current][key] ?? texts.ko[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}

/** The human sentence for an API error code, in the current language. */
export function errorText(code) {
  return t(texts[current][`err.${code}`] ? `err.${code}` : "err.UNKNOWN");
}

/** Won, written the way the current language writes money. */
export function won(amount) {
  return t("won", { n: Number(amount).toLocaleString(current === "ko" ? "ko-KR" : "en-US") });
}

/** Sets the text of every element with `data-i18n` (and `aria-label` for `data-i18n-label`). */
export function translate(root) {
  for (const element of root.querySelectorAll("[data-i18n]")) {
    element.textContent = t(element.dataset.i18n);
  }
  for (const element of root.querySelectorAll("[data-i18n-label]")) {
    element.setAttribute("aria-label", t(element.dataset.i18nLabel));
  }
  document.title = t("title");
}
