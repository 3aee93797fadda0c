-- The box office refunds a paid seat: the reservation becomes `REFUNDED` (so the seat can be
-- sold again: `one_sale_per_seat` counts `PAID` ones only), the payment records when it was
-- refunded, and the money back is a ledger entry of its own.
ALTER TABLE reservations DROP CONSTRAINT reservations_status_check;
ALTER TABLE reservations ADD CONSTRAINT reservations_status_check
    CHECK (status IN ('HELD', 'PAID', 'EXPIRED', 'RELEASED', 'REFUNDED'));
ALTER TABLE payments ADD COLUMN refunded_at TIMESTAMPTZ;
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_reason_check;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_reason_check
    CHECK (reason IN ('CHARGE', 'PAYMENT', 'REFUND'));
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_check;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_check
    CHECK ((reason IN ('PAYMENT', 'REFUND')) = (reservation_id IS NOT NULL));

-- A refund in one round trip, atomic like `settle_payment` (whose comments explain the
-- pattern): the rows are locked and checked first, in the settlement's order (reservation →
-- seat → user), and nothing is written unless every guard holds:
-- * the reservation is still `PAID`, by this payer, for this seat, and this is its payment,
--   not refunded yet;
-- * the money back keeps the balance within its ceiling.
-- Then the reservation becomes `REFUNDED`, the payment records the instant, the seat is back
-- on sale (unsold, under no hold), the balance rises and the ledger entry records it. A
-- refusal returns `balance_after` NULL having written nothing; of two racing refunds, the
-- second waits for the first's lock and then finds the reservation no longer `PAID`.
CREATE FUNCTION refund_payment(
    p_payment      BIGINT,
    p_reservation  BIGINT,
    p_user         BIGINT,
    p_seat         BIGINT,
    p_amount       BIGINT,
    p_at           TIMESTAMPTZ,
    OUT balance_after BIGINT
)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM FROM reservations r
     WHERE r.id = p_reservation AND r.user_id = p_user AND r.seat_id = p_seat AND r.status = 'PAID'
       FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    PERFORM FROM payments p
     WHERE p.id = p_payment AND p.reservation_id = p_reservation AND p.amount = p_amount
       AND p.refunded_at IS NULL;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    PERFORM FROM seats s WHERE s.id = p_seat FOR NO KEY UPDATE;
    PERFORM FROM users u WHERE u.id = p_user AND u.balance + p_amount <= 1000000000 FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;

    UPDATE reservations SET status = 'REFUNDED' WHERE id = p_reservation;
    UPDATE payments SET refunded_at = p_at WHERE id = p_payment;
    UPDATE seats SET sold = FALSE, held_by = NULL, held_until = NULL WHERE id = p_seat;
    UPDATE users SET balance = balance + p_amount WHERE id = p_user RETURNING balance INTO balance_after;
    INSERT INTO ledger_entries (user_id, delta, reason, reservation_id, balance_after, at)
    VALUES (p_user, p_amount, 'REFUND', p_reservation, balance_after, p_at);
END
$$;
