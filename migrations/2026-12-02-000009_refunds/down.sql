DROP FUNCTION refund_payment;
DELETE FROM ledger_entries WHERE reason = 'REFUND';
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_check;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_check CHECK ((reason = 'PAYMENT') = (reservation_id IS NOT NULL));
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_reason_check;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_reason_check CHECK (reason IN ('CHARGE', 'PAYMENT'));
ALTER TABLE payments DROP COLUMN refunded_at;
UPDATE reservations SET status = 'PAID' WHERE status = 'REFUNDED';
ALTER TABLE reservations DROP CONSTRAINT reservations_status_check;
ALTER TABLE reservations ADD CONSTRAINT reservations_status_check
    CHECK (status IN ('HELD', 'PAID', 'EXPIRED', 'RELEASED'));
