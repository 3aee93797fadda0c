//! `PATCH`/`DELETE /admin/seats/{seatId}`: the box office changes a seat's price or takes the
//! seat off the map, but never under a fan: a seat held or sold is left as it is.

use domain::ports::{CatalogueRepository, Clock};
use domain::{InvalidPrice, Seat, SeatEdit, SeatId, StoreError, ticket_price};

/// The request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EditSeat {
    /// The seat of the path.
    pub seat_id: i64,
    /// The change.
    pub change: SeatChange,
}

/// The change asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeatChange {
    /// A new price in won, checked here.
    Price(i64),
    /// Off the map.
    Remove,
}

/// Why the seat was not changed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EditSeatError {
    /// The price is not one a seat may be sold at.
    #[error(transparent)]
    InvalidPrice(#[from] InvalidPrice),
    /// No such seat (or it was removed).
    #[error("seat not found")]
    SeatNotFound,
    /// Held or sold: a fan's seat is not changed under them.
    #[error("the seat is held or sold; it can be changed once it is free again")]
    SeatTaken,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Decides on one read, then lets the store apply the edit in the same atomic step as holds
/// are taken; a refusal there is a seat taken meanwhile, unless a fresh read finds it gone.
/// Returns the seat as it now stands (as it was, when removed).
pub async fn execute(
    catalogue: &dyn CatalogueRepository,
    clock: &dyn Clock,
    command: EditSeat,
) -> Result<Seat, EditSeatError> {
    let edit = match command.change {
        SeatChange::Price(won) => SeatEdit::Reprice(ticket_price(won)?),
        SeatChange::Remove => SeatEdit::Withdraw,
    };
    let id = SeatId::new(command.seat_id).map_err(|_| EditSeatError::SeatNotFound)?;
    let now = clock.now();
    let decide = async || -> Result<(), EditSeatError> {
        let seat = catalogue.seat(id).await?.ok_or(EditSeatError::SeatNotFound)?;
        if seat.is_editable_at(now) { Ok(()) } else { Err(EditSeatError::SeatTaken) }
    };
    decide().await?;
    if let Some(seat) = catalogue.edit_seat(id, edit, now).await? {
        return Ok(seat);
    }
    // Refused at `now`: a fan took the seat meanwhile (perhaps giving it back since), or it is
    // gone.
    decide().await?;
    Err(EditSeatError::SeatTaken)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{NOW, clock, held_until, seat, seat_id, sold, store_down, won};
    use domain::ports::MockCatalogueRepository;
    use futures::executor::block_on;
    use mockall::predicate::eq;

    fn edit(change: SeatChange) -> EditSeat {
        EditSeat { seat_id: 107, change }
    }

    fn showing(answers: Vec<Option<Seat>>) -> MockCatalogueRepository {
        let mut catalogue = MockCatalogueRepository::new();
        let mut answers: Vec<_> = answers.into_iter().rev().collect();
        let reads = answers.len();
        catalogue
            .expect_seat()
            .with(eq(seat_id(107)))
            .times(reads)
            .returning(move |_| Ok(answers.pop().flatten()));
        catalogue
    }

    #[test]
    fn a_free_seat_takes_its_new_price() {
        let mut catalogue = showing(vec![Some(seat(7))]);
        let repriced = Seat { price: won(45_000), ..seat(7) };
        let answer = repriced.clone();
        catalogue
            .expect_edit_seat()
            .with(eq(seat_id(107)), eq(SeatEdit::Reprice(won(45_000))), eq(NOW))
            .times(1)
            .return_once(move |_, _, _| Ok(Some(answer)));
        let edited = block_on(execute(&catalogue, &clock(), edit(SeatChange::Price(45_000))));
        assert_eq!(edited.expect("repriced"), repriced);
    }

    #[test]
    fn a_free_seat_is_removed() {
        let mut catalogue = showing(vec![Some(seat(7))]);
        catalogue
            .expect_edit_seat()
            .with(eq(seat_id(107)), eq(SeatEdit::Withdraw), eq(NOW))
            .times(1)
            .return_once(|_, _, _| Ok(Some(seat(7))));
        assert!(block_on(execute(&catalogue, &clock(), edit(SeatChange::Remove))).is_ok());
    }

    #[test]
    fn a_price_below_one_won_is_refused_before_anything_is_read() {
        let catalogue = MockCatalogueRepository::new();
        let refused = block_on(execute(&catalogue, &clock(), edit(SeatChange::Price(0))));
        assert!(matches!(refused, Err(EditSeatError::InvalidPrice(InvalidPrice(0)))), "{refused:?}");
    }

    #[test]
    fn an_unknown_seat_is_not_found_and_nothing_is_written() {
        let catalogue = showing(vec![None]);
        let refused = block_on(execute(&catalogue, &clock(), edit(SeatChange::Remove)));
        assert!(matches!(refused, Err(EditSeatError::SeatNotFound)), "{refused:?}");
    }

    #[test]
    fn a_sold_seat_or_a_held_one_is_left_as_it_is() {
        for taken in [sold(seat(7)), held_until(seat(7), NOW + time::Duration::MINUTE)] {
            let catalogue = showing(vec![Some(taken)]);
            let refused = block_on(execute(&catalogue, &clock(), edit(SeatChange::Price(10))));
            assert!(matches!(refused, Err(EditSeatError::SeatTaken)), "{refused:?}");
        }
    }

    #[test]
    fn a_seat_taken_while_the_edit_was_decided_is_reported_as_taken() {
        let mut catalogue = showing(vec![Some(seat(7)), Some(sold(seat(7)))]);
        catalogue.expect_edit_seat().times(1).return_once(|_, _, _| Ok(None));
        let refused = block_on(execute(&catalogue, &clock(), edit(SeatChange::Remove)));
        assert!(matches!(refused, Err(EditSeatError::SeatTaken)), "{refused:?}");
    }

    #[test]
    fn a_seat_taken_and_given_back_while_the_edit_was_decided_is_reported_as_taken() {
        let mut catalogue = showing(vec![Some(seat(7)), Some(seat(7))]);
        catalogue.expect_edit_seat().times(1).return_once(|_, _, _| Ok(None));
        let refused = block_on(execute(&catalogue, &clock(), edit(SeatChange::Price(9))));
        assert!(matches!(refused, Err(EditSeatError::SeatTaken)), "{refused:?}");
    }

    #[test]
    fn a_store_failure_is_reported_as_such() {
        let mut catalogue = MockCatalogueRepository::new();
        catalogue.expect_seat().return_once(|_| Err(store_down()));
        let failed = block_on(execute(&catalogue, &clock(), edit(SeatChange::Remove)));
        assert!(matches!(failed, Err(EditSeatError::Store(_))), "{failed:?}");
    }
}
