//! Payment: the rule that decides whether a hold may be paid, and what a payment records.

use time::OffsetDateTime;

use crate::ids::{PaymentId, ReservationId, SeatId, UserId};
use crate::money::{Balance, Won};
use crate::queue::TokenValue;
use crate::reservation::{Reservation, ReservationStatus};

/// Why a payment is refused, in the order the contract (docs/api.md) checks them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PaymentRejection {
    /// The reservation is someone else's; to the caller it does not exist.
    #[error("reservation not found")]
    NotFound,
    /// Already paid, or given back by its holder.
    #[error("the reservation cannot be paid: it is paid already or was given back")]
    NotPayable,
    /// The hold lapsed before payment.
    #[error("the hold on this seat has expired")]
    Expired,
    /// The amount offered is not the seat's price.
    #[error("the payment amount does not match the seat price")]
    AmountMismatch,
    /// The balance is below the price.
    #[error("the balance is too low for this payment")]
    InsufficientBalance,
}

/// A payment the domain has approved. The store commits all of it in one atomic step, each write
/// guarded so that a state change since the decision (another payment, the hold lapsing, the
/// balance being spent, the token being spent by another payment) makes the whole settlement
/// fail instead of half of it landing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettlementPlan {
    /// The reservation to confirm; it must still be `Held` and unexpired at `paid_at`.
    pub reservation_id: ReservationId,
    /// The payer, whose balance drops by `amount` (never below zero).
    pub user_id: UserId,
    /// The queue token the payer presented. Paying spends it, so the settlement succeeds only
    /// while it is still the payer's, stored active and unexpired at `paid_at`
    /// ([`crate::QueueToken::pays_for`]), and retires it in the same atomic step: one token
    /// pays at most once, even when two payments by it race.
    pub token: TokenValue,
    /// The seat to mark sold; it must still be held by this reservation.
    pub seat_id: SeatId,
    /// The price.
    pub amount: Won,
    /// The decision instant.
    pub paid_at: OffsetDateTime,
}

impl SettlementPlan {
    /// The contract: payment succeeds only for the holder, before the hold expires, with an amount equal
    /// to the seat's price and enough balance. `PAYMENT_AMOUNT_MISMATCH` comes before
    /// `INSUFFICIENT_BALANCE`. `token` is the payer's token, which the gate found active just
    /// before; the plan carries it so the store can restate that and spend it. `balance` is
    /// `None` when it was not read: the settlement guards the balance itself, so a payment can
    /// be tried on the reservation alone (one read fewer) and, if refused, decided again with
    /// the balance read, which then names the reason.
    pub fn authorize(
        reservation: &Reservation,
        payer: UserId,
        token: TokenValue,
        amount: Won,
        balance: Option<Balance>,
        now: OffsetDateTime,
    ) -> Result<SettlementPlan, PaymentRejection> {
        if reservation.user_id != payer {
            return Err(PaymentRejection::NotFound);
        }
        match reservation.status_at(now) {
            ReservationStatus::Held => {}
            ReservationStatus::Paid | ReservationStatus::Released | ReservationStatus::Refunded => {
                return Err(PaymentRejection::NotPayable);
            }
            ReservationStatus::Expired => return Err(PaymentRejection::Expired),
        }
        if amount != reservation.price {
            return Err(PaymentRejection::AmountMismatch);
        }
        if balance.is_some_and(|balance| balance.debit(amount).is_err()) {
            return Err(PaymentRejection::InsufficientBalance);
        }
        Ok(SettlementPlan {
            reservation_id: reservation.id,
            user_id: payer,
            token,
            seat_id: reservation.seat_id,
            amount,
            paid_at: now,
        })
    }
}

/// A completed payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    /// Its id.
    pub id: PaymentId,
    /// The reservation paid.
    pub reservation_id: ReservationId,
    /// Who paid.
    pub user_id: UserId,
    /// How much.
    pub amount: Won,
    /// When.
    pub paid_at: OffsetDateTime,
}

/// Why a balance moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedgerReason {
    /// A prepaid charge.
    Charge,
    /// A seat payment.
    Payment(ReservationId),
    /// A seat payment given back by the box office.
    Refund(ReservationId),
}

/// One balance change. The contract: every change is an entry, and the entries of a user sum to their
/// balance; the stores write the entry in the same atomic step as the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    /// Whose balance.
    pub user_id: UserId,
    /// Signed change in won: positive for charges, negative for payments.
    pub delta: i64,
    /// Why.
    pub reason: LedgerReason,
    /// The balance right after this change.
    pub balance_after: Balance,
    /// When.
    pub at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reservation::tests::held_reservation;
    use time::Duration;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2030-01-01 12:00 UTC);

    fn user(n: i64) -> UserId {
        UserId::new(n).expect("valid id")
    }

    fn won(n: i64) -> Won {
        Won::new(n).expect("valid amount")
    }

    fn balance(n: i64) -> Balance {
        Balance::new(n).expect("valid balance")
    }

    fn token() -> TokenValue {
        TokenValue::from_uuid(uuid::Uuid::from_u128(42))
    }

    fn live() -> Reservation {
        held_reservation(5, NOW + Duration::minutes(1))
    }

    #[test]
    fn payment_is_authorized_for_the_holder_with_the_price_and_enough_balance() {
        let plan =
            SettlementPlan::authorize(&live(), user(5), token(), won(30_000), Some(balance(30_000)), NOW);
        let plan = plan.expect("payable");
        assert_eq!(plan.amount, won(30_000));
        assert_eq!(plan.seat_id, live().seat_id);
        assert_eq!(plan.paid_at, NOW);
        assert_eq!(plan.token, token(), "the presented token is spent by the settlement");
    }

    #[test]
    fn payment_fails_with_not_found_for_someone_elses_reservation() {
        let result =
            SettlementPlan::authorize(&live(), user(6), token(), won(30_000), Some(balance(90_000)), NOW);
        assert_eq!(result, Err(PaymentRejection::NotFound));
    }

    #[test]
    fn payment_fails_with_not_payable_when_already_paid() {
        let paid = Reservation { status: ReservationStatus::Paid, ..live() };
        let result =
            SettlementPlan::authorize(&paid, user(5), token(), won(30_000), Some(balance(90_000)), NOW);
        assert_eq!(result, Err(PaymentRejection::NotPayable));
    }

    #[test]
    fn payment_fails_with_not_payable_when_the_holder_gave_the_hold_back() {
        let released = Reservation { status: ReservationStatus::Released, ..live() };
        let result =
            SettlementPlan::authorize(&released, user(5), token(), won(30_000), Some(balance(90_000)), NOW);
        assert_eq!(result, Err(PaymentRejection::NotPayable));
    }

    #[test]
    fn payment_fails_with_expired_when_the_hold_lapsed() {
        let lapsed = held_reservation(5, NOW);
        let result =
            SettlementPlan::authorize(&lapsed, user(5), token(), won(30_000), Some(balance(90_000)), NOW);
        assert_eq!(result, Err(PaymentRejection::Expired));
    }

    #[test]
    fn payment_fails_with_amount_mismatch_before_checking_the_balance() {
        let result = SettlementPlan::authorize(&live(), user(5), token(), won(29_999), Some(balance(0)), NOW);
        assert_eq!(result, Err(PaymentRejection::AmountMismatch));
    }

    #[test]
    fn payment_fails_with_insufficient_balance_when_money_is_short() {
        let result =
            SettlementPlan::authorize(&live(), user(5), token(), won(30_000), Some(balance(29_999)), NOW);
        assert_eq!(result, Err(PaymentRejection::InsufficientBalance));
    }

    #[test]
    fn payment_without_a_balance_read_leaves_the_balance_to_the_settlements_guard() {
        let plan = SettlementPlan::authorize(&live(), user(5), token(), won(30_000), None, NOW);
        assert_eq!(plan.map(|plan| plan.amount), Ok(won(30_000)));
        let result = SettlementPlan::authorize(&live(), user(5), token(), won(29_999), None, NOW);
        assert_eq!(result, Err(PaymentRejection::AmountMismatch), "the other rules still apply");
    }
}
