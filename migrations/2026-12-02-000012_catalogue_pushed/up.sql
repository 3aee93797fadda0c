-- The catalogue is pushed like the queue (migration `2026-12-02-000005_push_changes`): every
-- statement that changes `concerts` or `schedules` notifies the channel `frontrow` from its own
-- transaction, with the payload
-- * `c`: the catalogue changed: a concert added, or its title, artist or venue changed; a
--   performance added, or its `onSaleAt` moved; either removed. Each instance stops serving
--   what its catalogue cache read before, and reads the concert list, the concerts and their
--   performances from the database again when next asked.
-- Seats are not covered: no instance serves a seat list or a seat count from a copy.
-- Statement-level: a statement notifies once however many rows it changes, none when it
-- changes no row, and PostgreSQL folds a transaction's identical notifications into one, so an
-- import notifies once. A trigger with a transition table takes one event, hence one trigger
-- per table and event.

-- Six triggers, `<table>_<event>`: `concerts_insert` … `schedules_delete`.
DO $$
DECLARE
    tbl TEXT;
    event TEXT;
BEGIN
    FOREACH tbl IN ARRAY ARRAY['concerts', 'schedules'] LOOP
        FOREACH event IN ARRAY ARRAY['INSERT', 'UPDATE', 'DELETE'] LOOP
            EXECUTE format(
                'CREATE TRIGGER %I AFTER %s ON %I REFERENCING %s TABLE AS changed
                     FOR EACH STATEMENT EXECUTE FUNCTION notify_if_changed(%L)',
                tbl || '_' || lower(event), event, tbl,
                CASE event WHEN 'DELETE' THEN 'OLD' ELSE 'NEW' END, 'c');
        END LOOP;
    END LOOP;
END
$$;
