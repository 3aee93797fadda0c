DROP TABLE queue_drops;
DROP TABLE queue_state;
