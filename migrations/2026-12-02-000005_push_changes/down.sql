DROP TRIGGER token_ended ON queue_tokens;
DROP FUNCTION notify_token_ended();
DROP TRIGGER watermark_moved ON queue_state;
DROP FUNCTION notify_watermark_moved();
DROP TRIGGER tokens_forgotten ON queue_tokens;
DROP TRIGGER tickets_gone ON queue_drops;
DROP FUNCTION notify_if_changed();
