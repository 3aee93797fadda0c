-- A fan may give a live hold back before it lapses: the reservation becomes `RELEASED` and its
-- seat is on sale again at once. A fan's bookings are read by holder, newest first: the index
-- by holder gains the id, so that read stops after the newest few however many there are.
ALTER TABLE reservations DROP CONSTRAINT reservations_status_check;
ALTER TABLE reservations ADD CONSTRAINT reservations_status_check
    CHECK (status IN ('HELD', 'PAID', 'EXPIRED', 'RELEASED'));

DROP INDEX reservations_by_user;
CREATE INDEX reservations_by_user ON reservations (user_id, id);
