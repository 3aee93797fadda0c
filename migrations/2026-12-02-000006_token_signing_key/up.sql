-- The key queue tokens are sealed with when TOKEN_SIGNING_KEY is not set: the first instance to
-- start stores a random one, and every instance uses the one stored, so any number of them
-- share it with no configuration. One row at most.
CREATE TABLE token_signing_key (
    only_one   BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_one),
    secret     BYTEA NOT NULL CHECK (octet_length(secret) >= 32),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
