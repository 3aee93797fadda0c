-- frontrow's schema. The use cases decide with the domain's rules; these constraints are the
-- second line of defence, so that even a buggy caller cannot sell a seat twice, overdraw a
-- balance, pay a reservation twice or give a user two live queue tokens.

CREATE TABLE users (
    id          BIGINT      PRIMARY KEY CHECK (id > 0),
    balance     BIGINT      NOT NULL DEFAULT 0 CHECK (balance BETWEEN 0 AND 1000000000),
    created_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE concerts (
    id      BIGSERIAL PRIMARY KEY,
    title   TEXT NOT NULL,
    artist  TEXT NOT NULL,
    venue   TEXT NOT NULL
);

CREATE TABLE schedules (
    id          BIGSERIAL   PRIMARY KEY,
    concert_id  BIGINT      NOT NULL REFERENCES concerts (id),
    starts_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX schedules_by_concert ON schedules (concert_id, starts_at);

-- A seat carries its sale state: `sold`, and the one hold it can have at a time
-- (`held_by` + `held_until`). One hold column per seat makes "one live hold per seat"
-- structural; the hold is taken by ONE conditional UPDATE (compare-and-set), never by locking.
CREATE TABLE seats (
    id           BIGSERIAL   PRIMARY KEY,
    schedule_id  BIGINT      NOT NULL REFERENCES schedules (id),
    concert_id   BIGINT      NOT NULL REFERENCES concerts (id),
    starts_at    TIMESTAMPTZ NOT NULL,
    number       SMALLINT    NOT NULL CHECK (number BETWEEN 1 AND 50),
    zone         TEXT        NOT NULL,
    price        BIGINT      NOT NULL CHECK (price >= 0),
    sold         BOOLEAN     NOT NULL DEFAULT FALSE,
    held_by      BIGINT,
    held_until   TIMESTAMPTZ,
    UNIQUE (schedule_id, number),
    CHECK ((held_by IS NULL) = (held_until IS NULL))
);
CREATE INDEX seats_by_concert ON seats (concert_id, schedule_id, number);
CREATE INDEX seats_with_holds ON seats (held_until) WHERE held_until IS NOT NULL AND NOT sold;

CREATE TABLE reservations (
    id           BIGSERIAL   PRIMARY KEY,
    user_id      BIGINT      NOT NULL REFERENCES users (id),
    seat_id      BIGINT      NOT NULL REFERENCES seats (id),
    concert_id   BIGINT      NOT NULL REFERENCES concerts (id),
    seat_name    TEXT        NOT NULL,
    price        BIGINT      NOT NULL CHECK (price >= 0),
    status       TEXT        NOT NULL CHECK (status IN ('HELD', 'PAID', 'EXPIRED')),
    reserved_at  TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL CHECK (expires_at > reserved_at)
);
-- A seat is sold at most once.
CREATE UNIQUE INDEX one_sale_per_seat ON reservations (seat_id) WHERE status = 'PAID';
CREATE INDEX held_reservations_by_expiry ON reservations (expires_at) WHERE status = 'HELD';

-- One payment per reservation.
CREATE TABLE payments (
    id              BIGSERIAL   PRIMARY KEY,
    reservation_id  BIGINT      NOT NULL UNIQUE REFERENCES reservations (id),
    user_id         BIGINT      NOT NULL REFERENCES users (id),
    amount          BIGINT      NOT NULL CHECK (amount > 0),
    paid_at         TIMESTAMPTZ NOT NULL
);

-- Every balance change; written in the same statement or transaction as the change, so the
-- entries of a user always sum to their balance.
CREATE TABLE ledger_entries (
    id              BIGSERIAL   PRIMARY KEY,
    user_id         BIGINT      NOT NULL REFERENCES users (id),
    delta           BIGINT      NOT NULL CHECK (delta <> 0),
    reason          TEXT        NOT NULL CHECK (reason IN ('CHARGE', 'PAYMENT')),
    reservation_id  BIGINT      REFERENCES reservations (id),
    balance_after   BIGINT      NOT NULL CHECK (balance_after BETWEEN 0 AND 1000000000),
    at              TIMESTAMPTZ NOT NULL,
    CHECK ((reason = 'PAYMENT') = (reservation_id IS NOT NULL))
);
CREATE INDEX ledger_by_user ON ledger_entries (user_id, id);

-- The waiting room. Tickets come from a sequence: issue order across all instances.
CREATE SEQUENCE queue_tickets;
CREATE TABLE queue_tokens (
    token         UUID        PRIMARY KEY,
    user_id       BIGINT      NOT NULL REFERENCES users (id),
    ticket        BIGINT      NOT NULL UNIQUE DEFAULT nextval('queue_tickets'),
    status        TEXT        NOT NULL CHECK (status IN ('WAITING', 'ACTIVE', 'EXPIRED')),
    issued_at     TIMESTAMPTZ NOT NULL,
    last_seen_at  TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ,
    CHECK (status <> 'ACTIVE' OR expires_at IS NOT NULL)
);
-- One live (waiting or active) token per user.
CREATE UNIQUE INDEX one_live_token_per_user ON queue_tokens (user_id) WHERE status <> 'EXPIRED';
CREATE INDEX waiting_by_ticket ON queue_tokens (ticket) WHERE status = 'WAITING';
CREATE INDEX waiting_by_last_seen ON queue_tokens (last_seen_at) WHERE status = 'WAITING';
CREATE INDEX active_by_expiry ON queue_tokens (expires_at) WHERE status = 'ACTIVE';
