-- `POST /api/pay` in one round trip: `settle_payment` does the whole settlement inside
-- PostgreSQL, so the adapter sends one statement (no BEGIN/COMMIT, no conversation of five
-- guarded statements). As one statement it runs in one implicit transaction: it commits whole
-- or not at all, and a client that vanishes mid-way leaves nothing half done.
--
-- The decision is the domain's (`SettlementPlan::authorize`); every guard below restates what
-- it relied on, so a change since then matches no row and the settlement is refused:
-- * the reservation is still the payer's, for this seat at this price, `HELD` and unexpired at
--   `p_paid_at` (the instant of the decision; PostgreSQL's own now() decides nothing);
-- * the seat is still held by this reservation and unsold;
-- * the balance still covers the amount;
-- * the token the payer presented is still theirs, `ACTIVE` and unexpired at `p_paid_at`
--   (`QueueToken::pays_for`). Paying spends it, so of two racing payments with one token (a
--   fan paying two holds at once) one lands and the other is refused, as a later payment
--   with the spent token would be by the gate.
--
-- All or nothing: the four rows are locked and checked FIRST, in the order reservation → seat
-- → user → token (the same in every settlement, so concurrent settlements queue instead of
-- deadlocking), and nothing is written unless every guard holds. A refusal returns
-- `payment_id` NULL having written nothing. Locks are FOR NO KEY UPDATE, what the UPDATEs
-- below take anyway, so foreign-key checks of concurrent holds, charges and payments (FOR KEY
-- SHARE) are not blocked. Under READ COMMITTED a row changed by a settlement that committed
-- while this one waited for its lock is checked again in its new version, so the loser of a
-- race sees the winner's writes and is refused.
--
-- The payment row is unique per reservation; a unique violation (impossible while the
-- reservation guard holds, kept as the second line of defence) aborts the statement, which
-- rolls everything back, and the adapter reports it as a refusal too.
--
-- The ledger entry carries the balance after the debit. The retired token's ticket is
-- recorded in `queue_drops` when above the watermark (an active token is normally at or below
-- it, see the queue adapter's docs) and returned as `gone`, so the caller can update its queue
-- snapshot. Every status test is a literal, so cached plans keep their partial indexes.
CREATE FUNCTION settle_payment(
    p_reservation  BIGINT,
    p_user         BIGINT,
    p_seat         BIGINT,
    p_amount       BIGINT,
    p_token        UUID,
    p_paid_at      TIMESTAMPTZ,
    OUT payment_id BIGINT,
    OUT gone       BIGINT
)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_ticket   BIGINT;
    v_balance  BIGINT;
BEGIN
    PERFORM FROM reservations r
     WHERE r.id = p_reservation AND r.user_id = p_user AND r.seat_id = p_seat
       AND r.price = p_amount AND r.status = 'HELD' AND r.expires_at > p_paid_at
       FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;

    PERFORM FROM seats s
     WHERE s.id = p_seat AND s.held_by = p_reservation AND NOT s.sold
       FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;

    PERFORM FROM users u
     WHERE u.id = p_user AND u.balance >= p_amount
       FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;

    SELECT t.ticket INTO v_ticket FROM queue_tokens t
     WHERE t.token = p_token AND t.user_id = p_user
       AND t.status = 'ACTIVE' AND t.expires_at > p_paid_at
       FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;

    -- Every guard holds and every row is locked: write it all.
    UPDATE reservations r SET status = 'PAID' WHERE r.id = p_reservation;
    -- The seat keeps its last hold (which reservation bought it), as the embedded store does.
    UPDATE seats s SET sold = TRUE WHERE s.id = p_seat;
    UPDATE users u SET balance = u.balance - p_amount WHERE u.id = p_user
    RETURNING u.balance INTO v_balance;
    INSERT INTO ledger_entries (user_id, delta, reason, reservation_id, balance_after, at)
    VALUES (p_user, -p_amount, 'PAYMENT', p_reservation, v_balance, p_paid_at);
    INSERT INTO payments (reservation_id, user_id, amount, paid_at)
    VALUES (p_reservation, p_user, p_amount, p_paid_at)
    RETURNING id INTO payment_id;

    UPDATE queue_tokens t SET status = 'EXPIRED' WHERE t.token = p_token;
    INSERT INTO queue_drops (ticket)
    SELECT v_ticket FROM queue_state q WHERE v_ticket > q.admitted_through
    ON CONFLICT (ticket) DO NOTHING
    RETURNING ticket INTO gone;
END
$$;
