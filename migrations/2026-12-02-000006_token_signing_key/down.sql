DROP TABLE token_signing_key;
