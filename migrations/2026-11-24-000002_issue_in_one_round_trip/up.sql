-- `POST /api/token` in one round trip: `issue_queue_token` does the whole issue inside
-- PostgreSQL, so the adapter sends one statement (no BEGIN/COMMIT, no read-then-write
-- conversation). As one statement it runs in one implicit transaction: it commits whole or not
-- at all, and a client that vanishes mid-way leaves nothing half done.
--
-- The clock is the caller's: `p_now` is the instant of the request and `p_idle_cutoff` is
-- `now - idle timeout`, and PostgreSQL's own now() decides nothing. A stored token is live by
-- the domain's rule (`QueueToken::state_at`): ACTIVE while `expires_at > now`, WAITING while
-- `last_seen_at > idle cutoff`. Every status test is a literal (never a parameter), so the
-- cached plans keep using the partial indexes (`one_live_token_per_user` above all).
--
-- Concurrent issues for one user all end with the one token, and a ticket is only ever drawn
-- by an insert that succeeds (a ticket drawn and lost would count as a place ahead of everyone
-- behind it until the watermark passes it):
-- * A new fan: the first issue inserts the user; every concurrent issue for them waits on that
--   uncommitted row (the insert's conflict check) until it commits, and then finds the token.
--   So the creator takes no lock and reads nothing but the candidate's primary key: one
--   insert of the user, one of the token.
-- * A returning fan whose token is live: one read, nothing written, nothing locked.
-- * Otherwise the user's row lock serialises the issues (FOR NO KEY UPDATE: enough to exclude
--   another issue, without blocking the foreign-key checks of rows that reference the user,
--   such as a new hold), and the token is read again under it. The user's row is locked
--   before the token's, the order a settlement takes them in, so the two cannot deadlock. A
--   token the clock has expired is retired, its ticket recorded in `queue_drops` when above
--   the watermark (a waiting token: active ones are all at or below it) and returned as
--   `gone`, so the caller can update its queue snapshot.
--
-- A candidate value that is already stored (a random UUID that repeated: a bug) is refused
-- before the insert, so it draws no ticket either; the error names `queue_tokens_pkey`, as the
-- insert's own unique violation would, and the adapter reports it as an internal error.
--
-- The output columns are named as `queue_tokens`' columns so the adapter reads them as a token
-- row; `#variable_conflict use_column` makes those names mean the columns inside the queries,
-- where the function's own values are only ever the `p_` parameters and the `live` record.
CREATE FUNCTION issue_queue_token(
    p_user         BIGINT,
    p_token        UUID,
    p_now          TIMESTAMPTZ,
    p_idle_cutoff  TIMESTAMPTZ,
    OUT token         UUID,
    OUT user_id       BIGINT,
    OUT ticket        BIGINT,
    OUT status        TEXT,
    OUT issued_at     TIMESTAMPTZ,
    OUT last_seen_at  TIMESTAMPTZ,
    OUT expires_at    TIMESTAMPTZ,
    OUT gone          BIGINT
)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
    live queue_tokens%ROWTYPE;
    locked BOOLEAN := FALSE;
BEGIN
    INSERT INTO users (id, balance, created_at) VALUES (p_user, 0, p_now)
    ON CONFLICT (id) DO NOTHING;

    IF NOT FOUND THEN
        -- The user exists: their live token, first without a lock; if the clock finds none,
        -- again under the user's row lock (another issue may have just queued one).
        LOOP
            SELECT * INTO live FROM queue_tokens t WHERE t.user_id = p_user AND t.status <> 'EXPIRED';
            IF ((live.status = 'ACTIVE' AND live.expires_at > p_now)
                OR (live.status = 'WAITING' AND live.last_seen_at > p_idle_cutoff)) IS TRUE THEN
                token := live.token;
                user_id := live.user_id;
                ticket := live.ticket;
                status := live.status;
                issued_at := live.issued_at;
                last_seen_at := live.last_seen_at;
                expires_at := live.expires_at;
                RETURN;
            END IF;
            EXIT WHEN locked;
            PERFORM FROM users u WHERE u.id = p_user FOR NO KEY UPDATE;
            locked := TRUE;
        END LOOP;

        IF live.token IS NOT NULL THEN
            WITH retired AS (
                UPDATE queue_tokens t SET status = 'EXPIRED'
                 WHERE t.token = live.token AND t.status <> 'EXPIRED'
             RETURNING t.ticket
            )
            INSERT INTO queue_drops (ticket)
            SELECT retired.ticket FROM retired, queue_state
             WHERE retired.ticket > queue_state.admitted_through
            ON CONFLICT (ticket) DO NOTHING
            RETURNING queue_drops.ticket INTO gone;
        END IF;
    END IF;

    IF EXISTS (SELECT FROM queue_tokens t WHERE t.token = p_token) THEN
        RAISE unique_violation USING MESSAGE = 'a freshly minted token value is already in use',
                                     CONSTRAINT = 'queue_tokens_pkey';
    END IF;
    INSERT INTO queue_tokens (token, user_id, status, issued_at, last_seen_at, expires_at)
    VALUES (p_token, p_user, 'WAITING', p_now, p_now, NULL)
    RETURNING queue_tokens.token, queue_tokens.user_id, queue_tokens.ticket, queue_tokens.status,
              queue_tokens.issued_at, queue_tokens.last_seen_at, queue_tokens.expires_at
         INTO token, user_id, ticket, status, issued_at, last_seen_at, expires_at;
END;
$$;
