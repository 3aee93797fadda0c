DROP INDEX live_keys_by_user;
