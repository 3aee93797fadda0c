//! The tables of `migrations/` as they stand after the last one, for diesel's query builder.
//! Statements the builder cannot express cleanly (the compare-and-set CTEs) are written as SQL
//! in the modules that use them.

diesel::table! {
    users (id) {
        id -> BigInt,
        balance -> BigInt,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    concerts (id) {
        id -> BigInt,
        title -> Text,
        artist -> Text,
        venue -> Text,
        key -> Nullable<Text>,
    }
}

diesel::table! {
    schedules (id) {
        id -> BigInt,
        concert_id -> BigInt,
        starts_at -> Timestamptz,
        on_sale_at -> Timestamptz,
        cancelled_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    seats (id) {
        id -> BigInt,
        schedule_id -> BigInt,
        concert_id -> BigInt,
        starts_at -> Timestamptz,
        on_sale_at -> Timestamptz,
        number -> SmallInt,
        zone -> Text,
        price -> BigInt,
        sold -> Bool,
        held_by -> Nullable<BigInt>,
        held_until -> Nullable<Timestamptz>,
        withdrawn -> Bool,
    }
}

diesel::table! {
    reservations (id) {
        id -> BigInt,
        user_id -> BigInt,
        seat_id -> BigInt,
        concert_id -> BigInt,
        seat_name -> Text,
        price -> BigInt,
        status -> Text,
        reserved_at -> Timestamptz,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    payments (id) {
        id -> BigInt,
        reservation_id -> BigInt,
        user_id -> BigInt,
        amount -> BigInt,
        paid_at -> Timestamptz,
    }
}

diesel::table! {
    ledger_entries (id) {
        id -> BigInt,
        user_id -> BigInt,
        delta -> BigInt,
        reason -> Text,
        reservation_id -> Nullable<BigInt>,
        balance_after -> BigInt,
        at -> Timestamptz,
    }
}

diesel::table! {
    queue_tokens (token) {
        token -> Uuid,
        user_id -> BigInt,
        ticket -> BigInt,
        status -> Text,
        issued_at -> Timestamptz,
        last_seen_at -> Timestamptz,
        expires_at -> Nullable<Timestamptz>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    users,
    concerts,
    schedules,
    seats,
    reservations,
    payments,
    ledger_entries,
    queue_tokens,
);
