DROP FUNCTION forget_ended_tokens(TIMESTAMPTZ, BIGINT);
DROP INDEX reservations_by_user;
DROP INDEX tokens_by_user;
DROP INDEX ended_tokens_by_last_live;
