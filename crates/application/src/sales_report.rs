//! `GET /admin/sales`: how the sale stands, per concert and per performance.

use domain::ports::{CatalogueRepository, Clock};
use domain::{Concert, PerformanceSales, StoreError};

/// One concert's sale: its performances and their sum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConcertSales {
    /// The concert.
    pub concert: Concert,
    /// The sum of its performances.
    pub total: PerformanceSales,
    /// Each performance, by id.
    pub performances: Vec<PerformanceSales>,
}

/// Every concert's sale now, by concert id.
pub async fn execute(
    catalogue: &dyn CatalogueRepository,
    clock: &dyn Clock,
) -> Result<Vec<ConcertSales>, StoreError> {
    let sales = catalogue.sales(clock.now()).await?;
    let concerts = catalogue.concerts().await?;
    Ok(concerts
        .into_iter()
        .map(|concert| {
            let performances: Vec<PerformanceSales> =
                sales.iter().filter(|one| one.concert_id == Some(concert.id)).copied().collect();
            let total = PerformanceSales::total(&performances);
            ConcertSales { concert, total, performances }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{NOW, clock, concert, concert_id, schedule_id, store_down};
    use domain::ports::MockCatalogueRepository;
    use futures::executor::block_on;
    use mockall::predicate::eq;

    fn performance(schedule: i64, concert: i64, sold: u64, revenue: i64) -> PerformanceSales {
        PerformanceSales {
            schedule_id: Some(schedule_id(schedule)),
            concert_id: Some(concert_id(concert)),
            seats: 50,
            sold,
            payments: sold,
            revenue,
            ..PerformanceSales::default()
        }
    }

    #[test]
    fn each_concert_gets_its_performances_and_their_sum() {
        let mut catalogue = MockCatalogueRepository::new();
        let listed =
            vec![performance(3, 1, 2, 60_000), performance(4, 1, 1, 30_000), performance(5, 2, 0, 0)];
        catalogue.expect_sales().with(eq(NOW)).times(1).return_once(move |_| Ok(listed));
        catalogue.expect_concerts().times(1).return_once(|| Ok(vec![concert(1), concert(2)]));
        let report = block_on(execute(&catalogue, &clock())).expect("report");
        assert_eq!(report.len(), 2);
        assert_eq!(report[0].performances.len(), 2);
        assert_eq!((report[0].total.sold, report[0].total.revenue, report[0].total.free()), (3, 90_000, 97));
        assert_eq!(report[1].performances, vec![performance(5, 2, 0, 0)]);
    }

    #[test]
    fn the_report_fails_with_store_when_the_store_is_down() {
        let mut catalogue = MockCatalogueRepository::new();
        catalogue.expect_sales().return_once(|_| Err(store_down()));
        assert!(matches!(block_on(execute(&catalogue, &clock())), Err(StoreError::Unavailable(_))));
    }
}
