-- Fenced idempotency claims: each claim of a key (the first, and every take-over of a claim
-- whose lease ran out) gets a number from a sequence, never handed out twice. A keyed write
-- locks its key's row under that number in the same transaction as its effect and records its
-- answer there before committing; a write whose claim was taken over finds no row and writes
-- nothing. So a key is either answered or untouched, whatever crashes or times out.
CREATE SEQUENCE idempotency_claims AS BIGINT;
ALTER TABLE idempotency_keys ADD COLUMN claim BIGINT NOT NULL DEFAULT nextval('idempotency_claims');
