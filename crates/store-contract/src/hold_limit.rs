//! The per-user hold limit: `try_hold` refuses a hold when its holder already has
//! `NewHold::max_live_holds` live holds, exactly, however many holds one user fires at once;
//! `live_holds` counts them.

use std::sync::Arc;

use crate::Repositories;
use crate::fixture::{approved, hold, seat_of, secs, seeded, uid, user};
use crate::races::all_at_once;

/// Twenty concurrent holds of twenty different seats by one user (limit 4) leave exactly four
/// live holds.
pub async fn twenty_concurrent_holds_by_one_user_leave_exactly_the_limit_live(stores: Repositories) {
    let world = seeded(&stores).await;
    user(&stores, 1, world.now).await;
    let mut seats = Vec::new();
    for number in 1..=20 {
        seats.push(seat_of(&stores, &world.early, number).await);
    }
    let seats = Arc::new(seats);
    let outcomes = all_at_once(20, |n| {
        let (stores, seats) = (stores.clone(), Arc::clone(&seats));
        async move {
            let index = usize::try_from(n - 1).expect("small numbers");
            let new_hold = approved(&seats[index], 1, world.now);
            assert_eq!(new_hold.max_live_holds, 4, "the default limit");
            stores.reservations.try_hold(&new_hold, None).await.expect("try_hold works")
        }
    })
    .await;
    let won = outcomes.iter().flatten().count();
    assert_eq!(won, 4, "exactly the limit of holds lands: {outcomes:?}");
    assert_eq!(stores.reservations.live_holds(uid(1), world.now).await, Ok(4));
    assert_eq!(stores.reservations.live_holds(uid(2), world.now).await, Ok(0), "another user has none");
}

/// A user at the limit is refused (the seat stays free for others) until one of their holds
/// lapses; a hold with no limit (0) is never refused for the count.
pub async fn a_user_at_the_limit_may_hold_again_once_one_of_their_holds_lapses(stores: Repositories) {
    let world = seeded(&stores).await;
    user(&stores, 1, world.now).await;
    user(&stores, 2, world.now).await;
    for (number, offset) in (1..=4).zip(0..) {
        hold(&stores, &seat_of(&stores, &world.early, number).await, 1, world.now + secs(offset)).await;
    }
    let fifth = seat_of(&stores, &world.early, 5).await;
    let refused = stores.reservations.try_hold(&approved(&fifth, 1, world.now + secs(10)), None).await;
    assert_eq!(refused, Ok(None), "the fifth live hold is refused");
    assert_eq!(stores.reservations.live_holds(uid(1), world.now + secs(10)).await, Ok(4));
    let unlimited = domain::NewHold { max_live_holds: 0, ..approved(&fifth, 1, world.now + secs(10)) };
    let extra = stores.reservations.try_hold(&unlimited, None).await.expect("try_hold works");
    assert!(extra.is_some(), "without a limit the count does not matter");

    let sixth = seat_of(&stores, &world.early, 6).await;
    let first_lapse = world.now + secs(300);
    assert_eq!(stores.reservations.live_holds(uid(1), first_lapse).await, Ok(4), "three and the extra");
    let refused = stores.reservations.try_hold(&approved(&sixth, 1, first_lapse), None).await;
    assert_eq!(refused, Ok(None), "the unlimited extra hold counts towards the limit too");
    let second_lapse = world.now + secs(301);
    let again = stores.reservations.try_hold(&approved(&sixth, 1, second_lapse), None).await;
    assert!(again.expect("try_hold works").is_some(), "once another hold lapses the user may hold again");
    let other = seat_of(&stores, &world.early, 7).await;
    let theirs = stores.reservations.try_hold(&approved(&other, 2, second_lapse), None).await;
    assert!(theirs.expect("try_hold works").is_some(), "another user is not limited by user 1's holds");
}
