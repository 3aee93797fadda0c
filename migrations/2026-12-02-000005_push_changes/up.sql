-- Every write that changes what an instance keeps in memory tells every instance, on the
-- channel `frontrow`, from its own transaction: PostgreSQL delivers a notification at commit
-- (never for a rollback), and folds identical ones of one transaction into one. Triggers, so
-- that no writer (a function, a statement of the adapter, a future one) can forget. Payloads:
-- * `q`: the waiting room's shared state moved: the served watermark rose, or tickets were
--   recorded as gone (dropped for idling, retired by a new issue, spent by a payment). Each
--   instance refreshes its queue snapshot, which reads exactly what changed.
-- * `t<token>`: an active token ended (a payment spent it, or its time ran out). Each
--   instance stops trusting its copy.
-- * `f`: ended tokens were deleted for good. Each instance drops its copies of ended tokens.
-- The adapter's `queue::listener` module says how they are applied and what happens while an
-- instance is not listening.

-- Notifies TG_ARGV[0] when the statement changed a row (the transition table `changed`).
CREATE FUNCTION notify_if_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT FROM changed) THEN
        PERFORM pg_notify('frontrow', TG_ARGV[0]);
    END IF;
    RETURN NULL;
END
$$;

-- Statement-level: one test per statement however many tickets it records, and none when an
-- `INSERT … SELECT` (a settlement's, usually) records nothing.
CREATE TRIGGER tickets_gone
    AFTER INSERT ON queue_drops REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION notify_if_changed('q');

CREATE TRIGGER tokens_forgotten
    AFTER DELETE ON queue_tokens REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION notify_if_changed('f');

CREATE FUNCTION notify_watermark_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('frontrow', 'q');
    RETURN NULL;
END
$$;

CREATE TRIGGER watermark_moved
    AFTER UPDATE OF admitted_through ON queue_state
    FOR EACH ROW WHEN (NEW.admitted_through IS DISTINCT FROM OLD.admitted_through)
    EXECUTE FUNCTION notify_watermark_moved();

CREATE FUNCTION notify_token_ended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('frontrow', 't' || NEW.token::text);
    RETURN NULL;
END
$$;

-- Per row, but only for tokens that were active: a payment's one, and those the admission
-- attempt finds run out (at most as many as it admitted a token lifetime ago).
CREATE TRIGGER token_ended
    AFTER UPDATE OF status ON queue_tokens
    FOR EACH ROW WHEN (OLD.status = 'ACTIVE' AND NEW.status <> 'ACTIVE')
    EXECUTE FUNCTION notify_token_ended();
