//! Property-based tests of the value objects: each constructor accepts exactly its documented
//! range, arithmetic on balances never leaves it, and parsing never panics.

use std::collections::HashSet;

use proptest::prelude::*;
use uuid::Uuid;

use crate::catalogue::SeatNumber;
use crate::ids::{ConcertId, InvalidId, PaymentId, ReservationId, ScheduleId, SeatId, UserId};
use crate::money::{Balance, ChargeAmount, MAX_BALANCE, MAX_CHARGE, MoneyError, Won};
use crate::queue::{MalformedToken, TokenValue};

/// Any `i64`, with the edges of every range of this module drawn far more often than chance.
fn any_amount() -> impl Strategy<Value = i64> {
    let edges = [
        i64::MIN,
        i64::MIN + 1,
        -MAX_BALANCE - 1,
        -1,
        0,
        1,
        2,
        49,
        50,
        51,
        MAX_CHARGE - 1,
        MAX_CHARGE,
        MAX_CHARGE + 1,
        MAX_BALANCE - 1,
        MAX_BALANCE,
        MAX_BALANCE + 1,
        i64::MAX - 1,
        i64::MAX,
    ];
    prop_oneof![
        3 => any::<i64>(),
        2 => prop::sample::select(edges.to_vec()),
        2 => -2 * MAX_BALANCE..=2 * MAX_BALANCE,
        1 => -100_i64..=100,
    ]
}

fn balance() -> impl Strategy<Value = Balance> {
    prop_oneof![
        3 => 0..=MAX_BALANCE,
        1 => prop::sample::select(vec![0, 1, MAX_BALANCE - MAX_CHARGE, MAX_BALANCE - 1, MAX_BALANCE]),
    ]
    .prop_map(|amount| Balance::new(amount).expect("0..=MAX_BALANCE is a balance"))
}

fn charge() -> impl Strategy<Value = ChargeAmount> {
    prop_oneof![3 => 1..=MAX_CHARGE, 1 => prop::sample::select(vec![1, 2, MAX_CHARGE - 1, MAX_CHARGE])]
        .prop_map(|amount| ChargeAmount::new(amount).expect("1..=MAX_CHARGE is a charge"))
}

/// One change of a balance, for sequences.
#[derive(Debug, Clone, Copy)]
enum Change {
    Credit(i64),
    Debit(i64),
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        (1..=MAX_CHARGE).prop_map(Change::Credit),
        (0..=MAX_BALANCE).prop_map(Change::Debit),
        (0..=MAX_CHARGE).prop_map(Change::Debit),
    ]
}

/// Reads a seat name back into its number: the row letter gives the tens, the digits the rest.
fn number_of_name(name: &str) -> Option<i64> {
    let mut chars = name.chars();
    let row = chars.next().filter(char::is_ascii_uppercase)?;
    let column: i64 = chars.as_str().parse().ok().filter(|c| (1..=10).contains(c))?;
    Some(i64::from(u32::from(row) - u32::from('A')) * 10 + column)
}

/// Strings a client might send as a token: anything, unicode, near-UUIDs, and very long ones.
fn token_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => any::<String>(),
        2 => "[0-9a-fA-F-]{0,40}",
        2 => (
            prop::sample::select(vec!["", "{", "urn:uuid:", "(", " ", "\u{0}"]),
            "[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{11,13}",
            prop::sample::select(vec!["", "}", ")", " ", "\u{e9}", "\n"]),
        )
            .prop_map(|(prefix, core, suffix)| format!("{prefix}{core}{suffix}")),
        1 => prop::collection::vec(any::<char>(), 0..200).prop_map(|chars| chars.into_iter().collect()),
        1 => (any::<char>(), 10_000_usize..200_000).prop_map(|(c, n)| std::iter::repeat_n(c, n).collect()),
        1 => prop::collection::vec(any::<u8>(), 0..100)
            .prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
    ]
}

proptest! {
    #[test]
    fn won_accepts_exactly_the_non_negative_amounts(amount in any_amount()) {
        match Won::new(amount) {
            Ok(won) => {
                prop_assert!(amount >= 0);
                prop_assert_eq!(won.get(), amount);
            }
            Err(error) => {
                prop_assert!(amount < 0);
                prop_assert_eq!(error, MoneyError::Negative);
            }
        }
    }

    #[test]
    fn a_charge_is_exactly_one_to_ten_million(amount in any_amount()) {
        match ChargeAmount::new(amount) {
            Ok(charge) => {
                prop_assert!((1..=MAX_CHARGE).contains(&amount));
                prop_assert_eq!(charge.won().get(), amount);
            }
            Err(error) => {
                prop_assert!(!(1..=MAX_CHARGE).contains(&amount));
                prop_assert_eq!(error, MoneyError::ChargeOutOfRange);
            }
        }
    }

    #[test]
    fn a_balance_is_exactly_zero_to_one_billion(amount in any_amount()) {
        match Balance::new(amount) {
            Ok(balance) => {
                prop_assert!((0..=MAX_BALANCE).contains(&amount));
                prop_assert_eq!(balance.won().get(), amount);
            }
            Err(MoneyError::Negative) => prop_assert!(amount < 0),
            Err(MoneyError::BalanceLimitExceeded) => prop_assert!(amount > MAX_BALANCE),
            Err(other) => prop_assert!(false, "unexpected error {other:?} for {amount}"),
        }
    }

    #[test]
    fn credit_is_exact_or_refused_at_the_ceiling(start in balance(), amount in charge()) {
        let (before, added) = (start.won().get(), amount.won().get());
        match start.credit(amount) {
            Ok(after) => {
                prop_assert!(before + added <= MAX_BALANCE);
                prop_assert_eq!(after.won().get(), before + added);
            }
            Err(error) => {
                prop_assert!(before + added > MAX_BALANCE);
                prop_assert_eq!(error, MoneyError::BalanceLimitExceeded);
            }
        }
    }

    #[test]
    fn debit_is_exact_or_refused_when_the_money_is_missing(
        start in balance(),
        amount in prop_oneof![0..=MAX_BALANCE, 0..=i64::MAX],
    ) {
        let before = start.won().get();
        let won = Won::new(amount).expect("non-negative");
        match start.debit(won) {
            Ok(after) => {
                prop_assert!(amount <= before);
                prop_assert_eq!(after.won().get(), before - amount);
            }
            Err(error) => {
                prop_assert!(amount > before);
                prop_assert_eq!(error, MoneyError::InsufficientBalance);
            }
        }
    }

    #[test]
    fn a_credit_then_a_debit_of_the_same_amount_round_trips(start in balance(), amount in charge()) {
        if let Ok(credited) = start.credit(amount) {
            prop_assert_eq!(credited.debit(amount.won()), Ok(start));
        }
    }

    #[test]
    fn no_sequence_of_changes_leaves_zero_to_one_billion(
        start in balance(),
        changes in prop::collection::vec(change(), 0..60),
    ) {
        // A model in i128, so it cannot overflow whatever the sequence.
        let mut balance = start;
        let mut model = i128::from(start.won().get());
        for change in changes {
            let (next, expected) = match change {
                Change::Credit(amount) => (
                    balance.credit(ChargeAmount::new(amount).expect("in range")),
                    model + i128::from(amount),
                ),
                Change::Debit(amount) => (
                    balance.debit(Won::new(amount).expect("non-negative")),
                    model - i128::from(amount),
                ),
            };
            let in_range = (0..=i128::from(MAX_BALANCE)).contains(&expected);
            prop_assert_eq!(next.is_ok(), in_range, "{:?} on {}", change, model);
            if let Ok(next) = next {
                balance = next;
                model = expected;
            }
            prop_assert!((0..=MAX_BALANCE).contains(&balance.won().get()));
            prop_assert_eq!(i128::from(balance.won().get()), model);
        }
    }

    #[test]
    fn a_seat_number_is_exactly_one_to_fifty(number in any_amount()) {
        match SeatNumber::new(number) {
            Ok(seat) => {
                prop_assert!((1..=50).contains(&number));
                prop_assert_eq!(i64::from(seat.get()), number);
                prop_assert_eq!(number_of_name(&seat.name()), Some(number), "name {}", seat.name());
            }
            Err(error) => {
                prop_assert!(!(1..=50).contains(&number));
                prop_assert_eq!(error.0, number);
            }
        }
    }

    #[test]
    fn ids_accept_exactly_the_positive_values(value in any_amount()) {
        fn check<T: std::fmt::Display>(
            value: i64,
            made: Result<T, InvalidId>,
            get: fn(&T) -> i64,
        ) -> Result<(), TestCaseError> {
            match made {
                Ok(id) => {
                    prop_assert!(value > 0);
                    prop_assert_eq!(get(&id), value);
                    prop_assert_eq!(id.to_string(), value.to_string());
                }
                Err(error) => {
                    prop_assert!(value <= 0);
                    prop_assert_eq!(error, InvalidId(value));
                }
            }
            Ok(())
        }
        check(value, UserId::new(value), |id| id.get())?;
        check(value, ConcertId::new(value), |id| id.get())?;
        check(value, ScheduleId::new(value), |id| id.get())?;
        check(value, SeatId::new(value), |id| id.get())?;
        check(value, ReservationId::new(value), |id| id.get())?;
        check(value, PaymentId::new(value), |id| id.get())?;
    }

    #[test]
    fn a_token_round_trips_through_its_text(bits in any::<u128>()) {
        let token = TokenValue::from_uuid(Uuid::from_u128(bits));
        let text = token.to_string();
        prop_assert_eq!(text.len(), 36);
        prop_assert_eq!(TokenValue::parse(&text), Ok(token));
        prop_assert_eq!(TokenValue::parse(&text.to_uppercase()), Ok(token));
        prop_assert_eq!(token.as_uuid().as_u128(), bits);
    }

    #[test]
    fn parsing_any_text_as_a_token_never_panics(text in token_text()) {
        // Whatever parses is a UUID whose canonical text parses back to the same token.
        if let Ok(token) = TokenValue::parse(&text) {
            prop_assert_eq!(TokenValue::parse(&token.to_string()), Ok(token));
        } else {
            prop_assert_eq!(TokenValue::parse(&text), Err(MalformedToken));
        }
    }
}

#[test]
fn every_seat_has_a_unique_name_that_reads_back_to_its_number() {
    let names: Vec<String> = SeatNumber::all().map(SeatNumber::name).collect();
    let unique: HashSet<&String> = names.iter().collect();
    assert_eq!(unique.len(), 50, "names: {names:?}");
    for seat in SeatNumber::all() {
        assert_eq!(number_of_name(&seat.name()), Some(i64::from(seat.get())));
    }
}
