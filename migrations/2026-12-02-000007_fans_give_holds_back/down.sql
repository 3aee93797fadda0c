DROP INDEX reservations_by_user;
CREATE INDEX reservations_by_user ON reservations (user_id);
UPDATE reservations SET status = 'EXPIRED' WHERE status = 'RELEASED';
ALTER TABLE reservations DROP CONSTRAINT reservations_status_check;
ALTER TABLE reservations ADD CONSTRAINT reservations_status_check
    CHECK (status IN ('HELD', 'PAID', 'EXPIRED'));
