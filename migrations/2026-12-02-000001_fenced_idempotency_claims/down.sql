ALTER TABLE idempotency_keys DROP COLUMN claim;
DROP SEQUENCE idempotency_claims;
