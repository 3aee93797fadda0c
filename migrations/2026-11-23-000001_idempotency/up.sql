-- Idempotency keys: the first request of a user with a key claims it (a row with no response
-- yet), and its response is kept here for 24 hours so a retry of the same request, on any
-- instance, gets it back instead of running again. The claim rule itself lives in the domain
-- (`decide_claim`); the adapter applies it under the row's lock.
CREATE TABLE idempotency_keys (
    user_id       BIGINT      NOT NULL REFERENCES users (id),
    key           TEXT        NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    -- Hash of method, path and body of the request that claimed the key.
    fingerprint   TEXT        NOT NULL,
    -- The response, once the request has finished; NULL while it runs.
    status        SMALLINT    NULL CHECK (status BETWEEN 100 AND 599),
    body          TEXT        NULL,
    claimed_at    TIMESTAMPTZ NOT NULL,
    completed_at  TIMESTAMPTZ NULL,
    PRIMARY KEY (user_id, key),
    CHECK ((status IS NULL) = (body IS NULL) AND (status IS NULL) = (completed_at IS NULL))
);
-- Purging records past the 24 h retention reads them oldest first.
CREATE INDEX idempotency_keys_by_claim ON idempotency_keys (claimed_at);
