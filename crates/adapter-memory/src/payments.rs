//! Payments: the payments table and the settlement unit of work.

#[cfg(test)]
mod tests;

use std::collections::HashMap;

use async_trait::async_trait;
use domain::ports::{PaymentRepository, StoreResult};
use domain::{
    Cancellation, LedgerReason, Payment, PaymentId, Receipt, Refund, RefundPlan, RefundRejection,
    ReservationId, ReservationStatus, ScheduleId, SettlementPlan,
};
use time::OffsetDateTime;

use crate::{MemoryStore, State, next_id};

/// Every payment, at `id - 1`, with the one-payment-per-reservation index.
#[derive(Debug, Default)]
pub(crate) struct Payments {
    rows: Vec<Payment>,
    by_reservation: HashMap<ReservationId, PaymentId>,
}

impl Payments {
    /// The payment of `reservation`, if it was paid.
    pub(crate) fn of(&self, reservation: ReservationId) -> Option<&Payment> {
        let id = self.by_reservation.get(&reservation)?;
        self.rows.get(crate::slot(id.get())?)
    }

    /// How many payments exist.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }
}

impl State {
    /// Checks every guard first and writes nothing unless all pass; then takes the money, sells
    /// the seat, confirms the reservation, records the payment and its ledger entry, and expires
    /// the presented token, all under the one lock. The token guard (still the payer's, active
    /// and unexpired at `paid_at`) makes one token pay at most once.
    fn settle(&mut self, plan: &SettlementPlan) -> StoreResult<Option<Payment>> {
        let Some(reservation) = self.reservations.get(plan.reservation_id) else { return Ok(None) };
        let reservation_payable = reservation.user_id == plan.user_id
            && reservation.seat_id == plan.seat_id
            && reservation.price == plan.amount
            && reservation.status == ReservationStatus::Held
            && plan.paid_at < reservation.expires_at;
        let Some(seat) = self.catalogue.seat(plan.seat_id) else { return Ok(None) };
        let seat_held_by_it =
            !seat.sold && seat.hold.is_some_and(|hold| hold.reservation_id == plan.reservation_id);
        let unpaid = !self.payments.by_reservation.contains_key(&plan.reservation_id);
        let Some(balance) = self.wallets.balance(plan.user_id) else { return Ok(None) };
        let Ok(balance_after) = balance.debit(plan.amount) else { return Ok(None) };
        let Some(ticket) = self.queue.paying_ticket(plan.token, plan.user_id, plan.paid_at) else {
            return Ok(None);
        };
        if !(reservation_payable && seat_held_by_it && unpaid) {
            return Ok(None);
        }
        let payment = Payment {
            id: next_id(self.payments.rows.len(), PaymentId::new)?,
            reservation_id: plan.reservation_id,
            user_id: plan.user_id,
            amount: plan.amount,
            paid_at: plan.paid_at,
        };

        let reason = LedgerReason::Payment(plan.reservation_id);
        self.wallets.post(plan.user_id, -plan.amount.get(), reason, balance_after, plan.paid_at);
        if let Some(seat) = self.catalogue.seat_mut(plan.seat_id) {
            seat.sold = true;
        }
        self.reservations.close(plan.reservation_id, ReservationStatus::Paid);
        self.payments.by_reservation.insert(plan.reservation_id, payment.id);
        self.payments.rows.push(payment.clone());
        self.queue.retire(ticket);
        Ok(Some(payment))
    }
}

impl State {
    /// The catalogue's seat counts with every payment added to its performance.
    pub(crate) fn sales(&self, at: time::OffsetDateTime) -> Vec<domain::PerformanceSales> {
        let mut sales = self.catalogue.seat_counts(at);
        for payment in &self.payments.rows {
            let Some(reservation) = self.reservations.get(payment.reservation_id) else { continue };
            let Some(seat) = self.catalogue.seat(reservation.seat_id) else { continue };
            let Some(one) = sales.iter_mut().find(|one| one.schedule_id == Some(seat.schedule_id)) else {
                continue;
            };
            one.payments += 1;
            if reservation.status == ReservationStatus::Refunded {
                one.refunds += 1;
                one.refunded = one.refunded.saturating_add(payment.amount.get());
            } else {
                one.revenue = one.revenue.saturating_add(payment.amount.get());
            }
        }
        sales
    }

    /// Checks every guard first (the reservation still paid by this payment's payer, the
    /// money under the ceiling), then gives the money back, puts the seat on sale and marks the
    /// reservation refunded, all under the one lock.
    fn refund(&mut self, plan: &RefundPlan) -> StoreResult<Option<Refund>> {
        let Some(reservation) = self.reservations.get(plan.reservation_id) else { return Ok(None) };
        let refundable = reservation.status == ReservationStatus::Paid
            && reservation.user_id == plan.user_id
            && reservation.seat_id == plan.seat_id
            && self.payments.of(plan.reservation_id).is_some_and(|paid| paid.id == plan.payment_id);
        let Some(balance) = self.wallets.balance(plan.user_id) else { return Ok(None) };
        let Ok(balance_after) = balance.refund(plan.amount) else { return Ok(None) };
        if !refundable {
            return Ok(None);
        }
        let reason = LedgerReason::Refund(plan.reservation_id);
        self.wallets.post(plan.user_id, plan.amount.get(), reason, balance_after, plan.refunded_at);
        if let Some(seat) = self.catalogue.seat_mut(plan.seat_id) {
            seat.sold = false;
            seat.hold = None;
        }
        self.reservations.refund(plan.reservation_id);
        Ok(Some(Refund {
            payment_id: plan.payment_id,
            reservation_id: plan.reservation_id,
            user_id: plan.user_id,
            amount: plan.amount,
            balance_after,
            refunded_at: plan.refunded_at,
        }))
    }
}

impl State {
    /// See [`PaymentRepository::cancel_performance`]: all of it in one step under the lock. A
    /// sold seat keeps the hold that bought it, which names the sale to refund; each refund is
    /// decided by the domain's [`RefundPlan::authorize`], as a single refund is.
    fn cancel_performance(
        &mut self,
        schedule: ScheduleId,
        at: OffsetDateTime,
    ) -> StoreResult<Option<Cancellation>> {
        if self.catalogue.schedule(schedule).is_none() {
            return Ok(None);
        }
        let cancelled_at = self.catalogue.cancel(schedule, at);
        let mut cancellation =
            Cancellation { schedule_id: schedule, cancelled_at, refunds: 0, refunded: 0, unrefunded: 0 };
        for seat_id in self.catalogue.seat_ids(schedule).to_vec() {
            let Some(seat) = self.catalogue.seat(seat_id).cloned() else { continue };
            let Some(hold) = seat.hold else { continue };
            if !seat.sold {
                let status =
                    if hold.until > at { ReservationStatus::Released } else { ReservationStatus::Expired };
                self.reservations.close(hold.reservation_id, status);
                if let Some(seat) = self.catalogue.seat_mut(seat_id) {
                    seat.hold = None;
                }
                continue;
            }
            let (Some(payment), Some(reservation)) = (
                self.payments.of(hold.reservation_id).cloned(),
                self.reservations.get(hold.reservation_id).cloned(),
            ) else {
                continue;
            };
            let Some(balance) = self.wallets.balance(payment.user_id) else { continue };
            match RefundPlan::authorize(&payment, &reservation, balance, at) {
                Ok(plan) => {
                    if let Some(refund) = self.refund(&plan)? {
                        cancellation.refunds += 1;
                        cancellation.refunded = cancellation.refunded.saturating_add(refund.amount.get());
                    }
                }
                Err(RefundRejection::BalanceLimit) => cancellation.unrefunded += 1,
                Err(RefundRejection::AlreadyRefunded) => {}
            }
        }
        Ok(Some(cancellation))
    }
}

#[async_trait]
impl PaymentRepository for MemoryStore {
    async fn settle(
        &self,
        plan: &SettlementPlan,
        receipt: Option<Receipt<Option<Payment>>>,
    ) -> StoreResult<Option<Payment>> {
        self.with_state(|state| state.keyed(receipt.as_ref(), |state| state.settle(plan)))
    }

    async fn payment_for(&self, reservation: ReservationId) -> StoreResult<Option<Payment>> {
        self.with_state(|state| Ok(state.payments.of(reservation).cloned()))
    }

    async fn payment(&self, id: PaymentId) -> StoreResult<Option<Payment>> {
        self.with_state(|state| Ok(crate::slot(id.get()).and_then(|i| state.payments.rows.get(i)).cloned()))
    }

    async fn refund(&self, plan: &RefundPlan) -> StoreResult<Option<Refund>> {
        self.with_state(|state| state.refund(plan))
    }

    async fn cancel_performance(
        &self,
        schedule: ScheduleId,
        at: OffsetDateTime,
    ) -> StoreResult<Option<Cancellation>> {
        self.with_state(|state| state.cancel_performance(schedule, at))
    }
}
