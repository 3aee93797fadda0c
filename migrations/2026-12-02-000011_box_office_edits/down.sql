DROP FUNCTION withdraw_performance(BIGINT, TIMESTAMPTZ, BIGINT);
DROP FUNCTION hold_seat(BIGINT, BIGINT, TIMESTAMPTZ, TIMESTAMPTZ, BIGINT, TEXT, INTEGER);
CREATE FUNCTION hold_seat(
    p_seat      BIGINT,
    p_concert   BIGINT,
    p_held_at   TIMESTAMPTZ,
    p_until     TIMESTAMPTZ,
    p_user      BIGINT,
    p_seat_name TEXT,
    p_price     BIGINT,
    p_max_live  INTEGER
)
RETURNS SETOF reservations
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM FROM seats s
     WHERE s.id = p_seat AND s.concert_id = p_concert AND NOT s.sold AND s.starts_at > p_held_at AND s.on_sale_at <= p_held_at
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
         WHERE id = p_seat AND concert_id = p_concert AND NOT sold AND starts_at > p_held_at AND on_sale_at <= p_held_at
           AND (held_until IS NULL OR held_until <= p_held_at)
     RETURNING id, held_by, concert_id
    ), lapsed AS (
        UPDATE reservations SET status = 'EXPIRED'
         WHERE id IN (SELECT r.id FROM reservations r
                       WHERE r.id = (SELECT held_by FROM previous)
                         AND r.status = 'HELD' AND r.expires_at <= p_held_at
                         AND EXISTS (SELECT 1 FROM seat)
                         FOR UPDATE OF r SKIP LOCKED)
    ), inserted AS (
        INSERT INTO reservations (id, user_id, seat_id, concert_id, seat_name, price, status, reserved_at, expires_at)
        SELECT held_by, p_user, id, concert_id, p_seat_name, p_price, 'HELD', p_held_at, p_until FROM seat
        RETURNING *
    )
    SELECT * FROM inserted;
END
$$;
ALTER TABLE schedules DROP COLUMN cancelled_at;
ALTER TABLE seats DROP COLUMN withdrawn;
