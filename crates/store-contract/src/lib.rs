//! The storage contract: one test suite for the repository ports of [`domain::ports`], run
//! unchanged against every store adapter (the embedded in-memory store and PostgreSQL), so the
//! two can never drift apart.
//!
//! Each check is a public `async fn(Repositories)` that seeds what it needs through the ports, drives
//! them with explicit instants (the ports take `now` as an argument) and panics with a sentence
//! saying what the store did wrong. An adapter runs them all with one line in an integration
//! test:
//!
//! ```ignore
//! async fn fresh_store() -> (store_contract::Repositories, ()) {
//!     (store_contract::Repositories::from_store(std::sync::Arc::new(MyStore::new())), ())
//! }
//! store_contract::contract_suite!(fresh_store);
//! ```
//!
//! The factory is called once per check and must hand back a FRESH, EMPTY store together with a
//! guard of any type (a per-test database, say); the guard is dropped after the check, once the
//! [`Repositories`] it served are gone. The test crate needs `tokio` (with `macros` and
//! `rt-multi-thread`) among its dev-dependencies, for `#[tokio::test]`.
//!
//! [`testkit`] is no check: it is what each store's own tests share beside the suite.

pub use domain::ports::Repositories;

pub mod admission;
pub mod bookings;
pub mod catalogue;
pub mod controls;
pub mod edits;
pub mod exactly_once;
mod fixture;
pub mod forget;
pub mod hold_limit;
pub mod holds;
pub mod idempotency;
pub mod import;
pub mod payments;
pub mod queue;
pub mod races;
pub mod refunds;
pub mod testkit;
pub mod wallet;

/// Expands to one `#[tokio::test]` (multi-threaded, two workers) per contract check, grouped in
/// modules named like the suite's (`catalogue::…`, `holds::…`, `admission::…`, `races::…`,
/// `idempotency::…`).
///
/// The argument is a callable (an `async fn` or a closure returning a future) that yields
/// `(Repositories, Guard)` for a fresh, empty store; `Guard` may be any type and lives until the
/// check has finished, after the `Repositories` are dropped.
#[macro_export]
macro_rules! contract_suite {
    ($factory:expr $(,)?) => {
        $crate::__contract_module!($factory; catalogue:
            seed_if_empty_loads_the_catalogue_once,
            concerts_are_listed_by_id_and_found_by_id,
            schedules_are_listed_earliest_first,
            seats_of_a_schedule_are_listed_by_number_with_zone_price_and_name,
            seats_of_a_concert_are_listed_by_schedule_then_number,
            unknown_ids_find_nothing,
            a_seeded_seat_is_free_and_reads_the_same_alone_and_in_lists,
            ping_answers_for_a_working_store,
        );
        $crate::__contract_module!($factory; holds:
            try_hold_of_a_free_seat_records_a_held_reservation_and_marks_the_seat,
            a_second_hold_while_the_first_is_live_is_refused,
            a_hold_succeeds_once_the_previous_hold_has_lapsed,
            try_hold_of_a_sold_seat_is_refused,
            try_hold_of_a_seat_whose_performance_started_is_refused,
            try_hold_of_an_unknown_seat_is_refused,
            reservation_reads_back_what_try_hold_returned,
            release_expired_expires_lapsed_holds_frees_their_seats_and_counts_them,
            release_expired_leaves_paid_reservations_and_sold_seats_alone,
            release_expired_keeps_the_newer_hold_on_a_seat_taken_over_after_a_lapse,
        );
        $crate::__contract_module!($factory; bookings:
            release_ends_a_live_hold_and_puts_its_seat_back_on_sale_at_once,
            release_is_refused_unless_the_hold_is_the_callers_live_one,
            release_racing_payment_of_one_hold_lets_exactly_one_win,
            bookings_list_held_and_paid_reservations_newest_first_with_their_payments,
        );
        $crate::__contract_module!($factory; import:
            importing_a_catalogue_twice_loads_it_once,
            importing_a_known_concert_updates_it_and_adds_its_new_performances,
            importing_other_seats_for_a_loaded_performance_writes_nothing,
            try_hold_before_the_performance_goes_on_sale_is_refused,
        );
        $crate::__contract_module!($factory; refunds:
            refund_gives_the_money_back_and_puts_the_seat_on_sale,
            twenty_concurrent_refunds_of_one_payment_refund_once,
            a_refunded_seat_is_sold_again,
            sales_add_up_after_holds_payments_and_a_refund,
            a_refund_racing_payments_of_the_same_reservation_lands_alone,
        );
        $crate::__contract_module!($factory; edits:
            a_repriced_seat_is_held_at_its_new_price,
            a_held_or_sold_seat_is_not_edited,
            a_withdrawn_seat_is_gone_from_every_read_and_never_held,
            a_withdrawal_racing_holds_never_lands_under_a_hold,
            a_seat_withdrawn_after_its_hold_lapsed_is_never_paid_for,
            cancelling_a_performance_refunds_its_sales_ends_its_holds_and_hides_it,
            a_payment_racing_a_cancellation_leaves_the_fan_whole,
        );
        $crate::__contract_module!($factory; controls:
            controls_read_back_as_stored,
            a_paused_room_admits_nobody_and_keeps_every_place_until_resumed,
            caps_set_at_run_time_replace_the_settings_from_the_next_tick,
        );
        $crate::__contract_module!($factory; wallet:
            a_new_user_has_a_zero_balance_and_an_empty_ledger,
            credit_adds_the_amount_and_writes_a_charge_entry,
            credit_above_the_ceiling_is_refused_and_changes_nothing,
            an_unknown_user_has_no_balance_and_cannot_be_credited,
        );
        $crate::__contract_module!($factory; payments:
            settle_takes_the_money_sells_the_seat_confirms_the_reservation_and_expires_the_token,
            settle_of_a_paid_reservation_is_refused_and_changes_nothing,
            settle_after_the_hold_lapsed_is_refused_and_changes_nothing,
            settle_when_another_hold_took_the_seat_is_refused_and_changes_nothing,
            settle_without_enough_balance_is_refused_and_changes_nothing,
            settle_by_someone_other_than_the_holder_is_refused_and_changes_nothing,
            settle_naming_another_seat_or_an_unknown_reservation_is_refused_and_changes_nothing,
            settle_refuses_when_the_presented_token_is_no_longer_active,
            settle_refuses_a_token_that_is_not_the_payers,
        );
        $crate::__contract_module!($factory; queue:
            issue_creates_the_user_and_a_waiting_token_with_increasing_tickets,
            issue_again_returns_the_same_token_while_it_is_waiting_or_active,
            position_counts_the_waiting_tokens_ahead_plus_one,
            a_recorded_poll_keeps_the_token_from_being_dropped,
            admit_is_fifo_and_stops_at_max_active,
            admit_respects_the_per_tick_cap_alone_and_with_max_active,
            admit_without_caps_admits_every_waiting_token,
            admit_expires_active_tokens_after_their_ttl_and_refills_their_places,
            admit_drops_waiting_tokens_idle_past_the_cutoff,
            issue_after_the_active_time_ran_out_queues_a_new_token_at_the_back,
            issue_after_the_idle_timeout_queues_a_new_token_at_the_back,
        );
        $crate::__contract_module!($factory; admission:
            an_admit_within_the_tick_of_the_last_admission_admits_nothing_but_still_expires_and_drops,
            admit_per_tick_holds_across_many_admits_within_one_tick,
            position_stays_exact_as_tokens_in_the_middle_drop_out_and_the_front_is_admitted,
            the_room_counts_waiting_and_active_fans_and_the_places_they_free,
        );
        $crate::__contract_module!($factory; races:
            a_thousand_concurrent_holds_of_one_seat_have_exactly_one_winner,
            two_hundred_concurrent_credits_lose_no_update,
            fifty_concurrent_settles_of_one_reservation_pay_once,
            two_concurrent_settles_by_one_token_pay_once_and_the_loser_changes_nothing,
            payment_racing_hold_expiry_never_lets_both_win,
            twenty_concurrent_issues_for_one_user_return_one_token,
            a_hundred_concurrent_issues_get_distinct_tickets_and_positions,
        );
        $crate::__contract_module!($factory; idempotency:
            a_new_key_is_claimed_once_and_its_completed_response_is_replayed,
            a_stored_error_response_is_replayed_exactly,
            a_key_used_for_another_request_is_reused,
            an_abandoned_claim_is_claimed_again_once_its_lease_runs_out,
            a_record_past_the_ttl_is_claimed_anew,
            release_frees_a_running_claim_and_complete_keeps_the_first_response,
            keys_are_scoped_per_user,
            purge_expired_deletes_only_records_past_the_ttl,
            ten_concurrent_claims_of_a_new_key_have_exactly_one_winner,
            ten_concurrent_claims_of_an_expired_key_have_exactly_one_winner,
            a_new_key_beyond_the_users_cap_is_refused_until_the_oldest_expires,
        );
        $crate::__contract_module!($factory; hold_limit:
            twenty_concurrent_holds_by_one_user_leave_exactly_the_limit_live,
            a_user_at_the_limit_may_hold_again_once_one_of_their_holds_lapses,
        );
        $crate::__contract_module!($factory; forget:
            forget_ended_drops_ended_tokens_and_the_users_left_with_nothing,
            a_forgotten_fan_who_comes_back_is_created_anew_behind_everyone,
            forget_ended_works_through_a_backlog_larger_than_a_batch_in_one_call,
        );
        $crate::__contract_module!($factory; exactly_once:
            a_keyed_credit_records_its_answer_in_the_same_step_as_its_effect,
            a_write_under_a_claim_that_was_taken_over_changes_nothing,
            a_second_write_under_an_answered_claim_changes_nothing,
            twenty_retries_racing_a_lapsed_claim_credit_exactly_once,
        );
    };
}

/// One module of tests for [`contract_suite!`]; not for direct use.
#[doc(hidden)]
#[macro_export]
macro_rules! __contract_module {
    ($factory:expr; $module:ident: $($check:ident),+ $(,)?) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;

            $(
                #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    let (stores, guard) = ($factory)().await;
                    $crate::$module::$check(stores).await;
                    drop(guard);
                }
            )+
        }
    };
}

#[cfg(test)]
mod registry_tests;
