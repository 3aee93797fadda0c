-- Forgetting the fans who have gone: a token that ended more than the retention window ago is
-- deleted, and so is its user if nothing else of theirs is kept (no token, a zero balance, no
-- ledger entry, no reservation, no idempotency key); a user who comes back is created anew by
-- `issue_queue_token`, as on a first visit. Without it, every fan who ever took a token stays
-- in `queue_tokens` and `users` for ever.
--
-- The rule is the domain's `QueueToken::forgettable_before`: stored EXPIRED, and last live
-- (`expires_at` once admitted, the last poll otherwise) before the cutoff.

CREATE INDEX ended_tokens_by_last_live ON queue_tokens ((COALESCE(expires_at, last_seen_at)))
    WHERE status = 'EXPIRED';
-- For "does this user have any token / reservation left" (and a fan's own bookings).
CREATE INDEX tokens_by_user ON queue_tokens (user_id);
CREATE INDEX reservations_by_user ON reservations (user_id);

-- One batch: at most `p_batch` forgettable tokens, oldest first, skipping rows another
-- transaction holds; then those of their users left with nothing. Two statements, so the
-- second sees the first's deletions. Payments need no check of their own: every payment has
-- a reservation of the same user. Returns how many tokens were forgotten.
--
CREATE FUNCTION forget_ended_tokens(p_cutoff TIMESTAMPTZ, p_batch BIGINT) RETURNS BIGINT
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    owners BIGINT[];
    forgotten BIGINT;
BEGIN
    WITH doomed AS (
        SELECT t.token FROM queue_tokens t
         WHERE t.status = 'EXPIRED' AND COALESCE(t.expires_at, t.last_seen_at) < p_cutoff
         ORDER BY COALESCE(t.expires_at, t.last_seen_at)
         LIMIT p_batch
           FOR UPDATE SKIP LOCKED
    ), deleted AS (
        DELETE FROM queue_tokens t USING doomed WHERE t.token = doomed.token RETURNING t.user_id
    )
    SELECT array_agg(DISTINCT deleted.user_id), count(*) INTO owners, forgotten FROM deleted;

    -- A user row that an insert's foreign-key check holds (a new token, hold or charge in
    -- flight) is skipped; one that such a check reaches after this lock waits for the delete
    -- and fails, and the adapter runs that issue again.
    BEGIN
        DELETE FROM users u
         WHERE u.id IN (SELECT c.id FROM users c
                         WHERE c.id = ANY (owners) AND c.balance = 0
                           FOR UPDATE SKIP LOCKED)
           AND NOT EXISTS (SELECT FROM queue_tokens t WHERE t.user_id = u.id)
           AND NOT EXISTS (SELECT FROM ledger_entries l WHERE l.user_id = u.id)
           AND NOT EXISTS (SELECT FROM reservations r WHERE r.user_id = u.id)
           AND NOT EXISTS (SELECT FROM idempotency_keys k WHERE k.user_id = u.id);
    EXCEPTION WHEN foreign_key_violation THEN
        -- Something of theirs committed between this statement's snapshot and its lock: they
        -- are back, so they stay. Their tokens above are forgotten all the same.
        NULL;
    END;
    RETURN forgotten;
END;
$$;
