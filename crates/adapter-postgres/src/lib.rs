//! The PostgreSQL adapter (next milestone): every domain port on diesel + diesel-async +
//! deadpool, with the database's constraints as the second line of defence. Until it lands the
//! binary refuses to start when `DATABASE_URL` is set, instead of silently using memory.
