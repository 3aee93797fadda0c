-- The box office's brake, stored with the queue's shared state: admission paused, and the caps
-- overriding `QUEUE_MAX_ACTIVE` and `QUEUE_ADMIT_PER_TICK` (NULL keeps the setting). Every
-- admission attempt reads them under the admission lock, in its own transaction. A pause or a
-- resume is pushed (`q`, as a moved queue), so every instance's snapshot, which answers
-- `paused` to polling fans, reads it at once.
ALTER TABLE queue_state
    ADD COLUMN paused BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN max_active INTEGER CHECK (max_active BETWEEN 0 AND 1000000),
    ADD COLUMN admit_per_tick INTEGER CHECK (admit_per_tick BETWEEN 0 AND 1000000);

CREATE TRIGGER pause_changed
    AFTER UPDATE OF paused ON queue_state
    FOR EACH ROW WHEN (NEW.paused IS DISTINCT FROM OLD.paused)
    EXECUTE FUNCTION notify_watermark_moved();
