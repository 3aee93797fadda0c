-- The waiting room at scale: admission ticks shared by every instance, and positions computed
-- by arithmetic on tickets instead of counting the queue.

-- One row: what the admission ticks of all instances have done so far. Written only by the
-- admitter, inside its transaction under the admission advisory lock.
CREATE TABLE queue_state (
    id                 BOOLEAN     PRIMARY KEY DEFAULT TRUE CHECK (id),
    -- When the last admission step ran anywhere in the service (`QueuePolicy::admission_due`).
    last_admission_at  TIMESTAMPTZ,
    -- The served watermark: the highest ticket ever admitted. Every token with a ticket at or
    -- below it has left the waiting room (save a rare straggler, see the adapter's docs).
    admitted_through   BIGINT      NOT NULL DEFAULT 0 CHECK (admitted_through >= 0),
    -- Admissions ever made, for the observed admission rate.
    admitted_total     BIGINT      NOT NULL DEFAULT 0 CHECK (admitted_total >= 0)
);

-- Tickets above the watermark whose tokens are no longer waiting (dropped for idling, retired
-- by a new issue, expired by a payment). A waiting token's position is then
--   ticket - admitted_through - (drops between the two),
-- which the adapter serves from an in-process copy of this table. Rows are written in the same
-- statement that retires the token; the admitter deletes those the watermark has passed.
-- `xid` is the writing transaction, so a reader can fetch only the rows committed since its
-- previous snapshot (everything at or above that snapshot's xmin).
CREATE TABLE queue_drops (
    ticket  BIGINT PRIMARY KEY,
    xid     BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint)
);
CREATE INDEX queue_drops_by_xid ON queue_drops (xid);

-- A database that already has tokens starts from where its queue stands: the watermark just
-- below the oldest waiting token (or at the newest token when nobody waits), and every token
-- above it that no longer waits recorded as gone.
INSERT INTO queue_state (admitted_through)
SELECT COALESCE(
    (SELECT min(ticket) - 1 FROM queue_tokens WHERE status = 'WAITING'),
    (SELECT max(ticket) FROM queue_tokens),
    0);

INSERT INTO queue_drops (ticket)
SELECT ticket FROM queue_tokens
 WHERE status <> 'WAITING' AND ticket > (SELECT admitted_through FROM queue_state);
