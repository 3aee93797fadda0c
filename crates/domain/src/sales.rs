//! The box office's view of a sale: seats free, held and sold, and the money, per performance
//! and per concert.

use time::OffsetDateTime;

use crate::ids::{ConcertId, ScheduleId};

/// One performance's sale at an instant, as the store counts it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PerformanceSales {
    /// The performance.
    pub schedule_id: Option<ScheduleId>,
    /// Its concert.
    pub concert_id: Option<ConcertId>,
    /// When it starts.
    pub starts_at: Option<OffsetDateTime>,
    /// When it goes on sale.
    pub on_sale_at: Option<OffsetDateTime>,
    /// When the box office cancelled it, if it did.
    pub cancelled_at: Option<OffsetDateTime>,
    /// Seats it has.
    pub seats: u64,
    /// Seats under a live hold.
    pub held: u64,
    /// Seats sold.
    pub sold: u64,
    /// Payments ever made for its seats, refunded ones included.
    pub payments: u64,
    /// Payments refunded.
    pub refunds: u64,
    /// Won paid and not refunded.
    pub revenue: i64,
    /// Won refunded.
    pub refunded: i64,
}

impl PerformanceSales {
    /// Seats neither held nor sold.
    pub fn free(&self) -> u64 {
        self.seats.saturating_sub(self.held).saturating_sub(self.sold)
    }

    /// The sum of `performances` (of one concert, say); ids are left out.
    pub fn total<'a>(performances: impl IntoIterator<Item = &'a PerformanceSales>) -> PerformanceSales {
        performances.into_iter().fold(PerformanceSales::default(), |sum, one| PerformanceSales {
            schedule_id: None,
            concert_id: None,
            starts_at: None,
            on_sale_at: None,
            cancelled_at: None,
            seats: sum.seats.saturating_add(one.seats),
            held: sum.held.saturating_add(one.held),
            sold: sum.sold.saturating_add(one.sold),
            payments: sum.payments.saturating_add(one.payments),
            refunds: sum.refunds.saturating_add(one.refunds),
            revenue: sum.revenue.saturating_add(one.revenue),
            refunded: sum.refunded.saturating_add(one.refunded),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_seats_are_the_ones_neither_held_nor_sold() {
        let sales = PerformanceSales { seats: 50, held: 3, sold: 7, ..PerformanceSales::default() };
        assert_eq!(sales.free(), 40);
    }

    #[test]
    fn a_concerts_sales_are_the_sum_of_its_performances() {
        let one = PerformanceSales {
            seats: 50,
            held: 1,
            sold: 2,
            payments: 3,
            refunds: 1,
            revenue: 200,
            refunded: 100,
            ..PerformanceSales::default()
        };
        let total = PerformanceSales::total([&one, &one]);
        assert_eq!((total.seats, total.held, total.sold, total.free()), (100, 2, 4, 94));
        assert_eq!((total.payments, total.refunds, total.revenue, total.refunded), (6, 2, 400, 200));
    }
}
