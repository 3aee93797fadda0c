-- The box office edits what is on sale. A seat taken off the map is `withdrawn`: kept (its
-- reservations and payments point at it) but never listed and never held. A cancelled
-- performance has `cancelled_at`: kept for the sales view, never listed, its seats withdrawn.
ALTER TABLE seats ADD COLUMN withdrawn BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE schedules ADD COLUMN cancelled_at TIMESTAMPTZ;

-- The hold (migration `2026-12-02-000002_hold_limit_per_user` says what it checks) also
-- requires the seat not to be withdrawn, and fixes into the reservation the seat's price at the
-- decision instant, read from the row it updates: a price changed since the caller read the
-- seat is the one charged, never an older one.
DROP FUNCTION hold_seat(BIGINT, BIGINT, TIMESTAMPTZ, TIMESTAMPTZ, BIGINT, TEXT, BIGINT, INTEGER);
CREATE FUNCTION hold_seat(
    p_seat      BIGINT,
    p_concert   BIGINT,
    p_held_at   TIMESTAMPTZ,
    p_until     TIMESTAMPTZ,
    p_user      BIGINT,
    p_seat_name TEXT,
    p_max_live  INTEGER
)
RETURNS SETOF reservations
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM FROM seats s
     WHERE s.id = p_seat AND s.concert_id = p_concert AND NOT s.sold AND NOT s.withdrawn
       AND s.starts_at > p_held_at AND s.on_sale_at <= p_held_at
       AND (s.held_until IS NULL OR s.held_until <= p_held_at);
    IF NOT FOUND THEN
        RETURN;
    END IF;

    IF p_max_live > 0 THEN
        PERFORM FROM users u WHERE u.id = p_user FOR NO KEY UPDATE;
        IF (SELECT count(*) FROM reservations r
             WHERE r.user_id = p_user AND r.status = 'HELD' AND r.expires_at > p_held_at) >= p_max_live THEN
            RETURN;
        END IF;
    END IF;

    RETURN QUERY
    WITH previous AS (
        SELECT held_by FROM seats WHERE id = p_seat
    ), seat AS (
        UPDATE seats
           SET held_by = nextval(pg_get_serial_sequence('reservations', 'id')), held_until = p_until
         WHERE id = p_seat AND concert_id = p_concert AND NOT sold AND NOT withdrawn
           AND starts_at > p_held_at AND on_sale_at <= p_held_at
           AND (held_until IS NULL OR held_until <= p_held_at)
     RETURNING id, held_by, concert_id, price
    ), lapsed AS (
        UPDATE reservations SET status = 'EXPIRED'
         WHERE id IN (SELECT r.id FROM reservations r
                       WHERE r.id = (SELECT held_by FROM previous)
                         AND r.status = 'HELD' AND r.expires_at <= p_held_at
                         AND EXISTS (SELECT 1 FROM seat)
                         FOR UPDATE OF r SKIP LOCKED)
    ), inserted AS (
        INSERT INTO reservations (id, user_id, seat_id, concert_id, seat_name, price, status, reserved_at, expires_at)
        SELECT held_by, p_user, id, concert_id, p_seat_name, price, 'HELD', p_held_at, p_until FROM seat
        RETURNING *
    )
    SELECT * FROM inserted;
END
$$;

-- Cancelling a performance, the atomic first step: from its commit on, none of its seats can
-- be held (`hold_seat` requires them not withdrawn) or paid for (`settle_payment` requires the
-- seat still held by the reservation paid), its live holds are `RELEASED` (lapsed ones
-- `EXPIRED`, as the sweeper would), and it is gone from the performances fans see. Locks are
-- taken in the settlement's order, reservations before seats, so it queues behind holds and
-- payments in flight instead of deadlocking with them; the catalogue's advisory lock (`p_lock`)
-- queues it behind imports and other cancellations, which update the same seat rows. The
-- first cancellation's instant is kept. Returns NULL for an unknown performance.
--
-- The sales are refunded afterwards, one `refund_payment` per sale, each its own statement,
-- so no transaction ever holds two buyers' rows (the adapter's `cancel_performance` says how).
-- A hold that lands between the two UPDATEs below keeps its reservation `HELD` with its seat
-- withdrawn and unheld: it can never be paid for, and calling this again releases it.
CREATE FUNCTION withdraw_performance(
    p_schedule BIGINT,
    p_at       TIMESTAMPTZ,
    p_lock     BIGINT,
    OUT cancelled_at TIMESTAMPTZ
)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(p_lock);
    UPDATE schedules s SET cancelled_at = COALESCE(s.cancelled_at, p_at)
     WHERE s.id = p_schedule
    RETURNING s.cancelled_at INTO withdraw_performance.cancelled_at;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    UPDATE reservations r
       SET status = CASE WHEN r.expires_at > p_at THEN 'RELEASED' ELSE 'EXPIRED' END
      FROM seats s
     WHERE s.id = r.seat_id AND s.schedule_id = p_schedule AND r.status = 'HELD';
    UPDATE seats SET withdrawn = TRUE, held_by = CASE WHEN sold THEN held_by END,
                     held_until = CASE WHEN sold THEN held_until END
     WHERE schedule_id = p_schedule;
END
$$;
