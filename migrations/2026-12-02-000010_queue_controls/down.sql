DROP TRIGGER pause_changed ON queue_state;
ALTER TABLE queue_state DROP COLUMN paused, DROP COLUMN max_active, DROP COLUMN admit_per_tick;
