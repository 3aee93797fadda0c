DROP TRIGGER schedules_delete ON schedules;
DROP TRIGGER schedules_update ON schedules;
DROP TRIGGER schedules_insert ON schedules;
DROP TRIGGER concerts_delete ON concerts;
DROP TRIGGER concerts_update ON concerts;
DROP TRIGGER concerts_insert ON concerts;
