//! Catalogue checks: seeding, concerts, performances and seats as the store lists them, and
//! the health port.

use domain::{ConcertId, NewConcert, ScheduleId, SeatId};
use time::Duration;

use crate::Repositories;
use crate::fixture::{FIRST_TITLE, SECOND_TITLE, catalogue, now, seeded, unknown_id, zone_and_price};

/// `seed_if_empty` loads the catalogue once: a second call returns false and loads nothing,
/// even with a different catalogue.
pub async fn seed_if_empty_loads_the_catalogue_once(stores: Repositories) {
    let world = seeded(&stores).await;
    let intruder = NewConcert { title: "Intruder".into(), ..catalogue(world.now)[1].clone() };
    let again = stores.catalogue.seed_if_empty(&catalogue(world.now)).await.expect("seed_if_empty works");
    assert!(!again, "a second seed_if_empty must return false");
    let other = stores.catalogue.seed_if_empty(&[intruder]).await.expect("seed_if_empty works");
    assert!(!other, "seed_if_empty of a non-empty store must return false whatever it is given");

    let concerts = stores.catalogue.concerts().await.expect("concerts works");
    let mut titles: Vec<&str> = concerts.iter().map(|concert| concert.title.as_str()).collect();
    titles.sort_unstable();
    assert_eq!(titles, [FIRST_TITLE, SECOND_TITLE], "exactly the first catalogue, once, must be loaded");
    let first = stores.catalogue.seats_of_concert(world.first).await.expect("seats_of_concert works");
    assert_eq!(first.len(), 100, "two performances of 50 seats, loaded once");
    let second = stores.catalogue.seats_of_concert(world.second).await.expect("seats_of_concert works");
    assert_eq!(second.len(), 50, "one performance of 50 seats, loaded once");
}

/// `concerts` lists every concert by id with its details; `concert` finds each by id.
pub async fn concerts_are_listed_by_id_and_found_by_id(stores: Repositories) {
    let world = seeded(&stores).await;
    let concerts = stores.catalogue.concerts().await.expect("concerts works");
    assert_eq!(concerts.len(), 2, "two concerts were seeded: {concerts:?}");
    assert!(concerts[0].id < concerts[1].id, "concerts must be listed by id: {concerts:?}");
    let expected = catalogue(world.now);
    for concert in &concerts {
        let seed = expected.iter().find(|seed| seed.title == concert.title).expect("a seeded title");
        assert_eq!(
            (concert.artist.as_str(), concert.venue.as_str()),
            (seed.artist.as_str(), seed.venue.as_str()),
            "concert {} must keep its artist and venue",
            concert.title
        );
        let found = stores.catalogue.concert(concert.id).await.expect("concert works");
        assert_eq!(found.as_ref(), Some(concert), "concert(id) must return what concerts() lists");
    }
    assert_ne!(world.first, world.second, "each concert gets its own id");
}

/// `schedules` lists a concert's performances earliest first, each naming its concert.
pub async fn schedules_are_listed_earliest_first(stores: Repositories) {
    let world = seeded(&stores).await;
    let first = stores.catalogue.schedules(world.first).await.expect("schedules works");
    let starts: Vec<_> = first.iter().map(|schedule| schedule.starts_at).collect();
    assert_eq!(
        starts,
        [world.now + Duration::days(10), world.now + Duration::days(30)],
        "the performance loaded second starts first and must be listed first"
    );
    assert!(first.iter().all(|schedule| schedule.concert_id == world.first), "{first:?}");
    assert_ne!(first[0].id, first[1].id, "each performance gets its own id");
    let second = stores.catalogue.schedules(world.second).await.expect("schedules works");
    assert_eq!(second.len(), 1, "{second:?}");
    assert_eq!((second[0].concert_id, second[0].starts_at), (world.second, world.now + Duration::days(20)));
}

/// `seats_of_schedule` lists the 50 seats of one performance by number, each with its zone,
/// price, name, performance, concert and start.
pub async fn seats_of_a_schedule_are_listed_by_number_with_zone_price_and_name(stores: Repositories) {
    let world = seeded(&stores).await;
    for (schedule, concert) in
        [(&world.early, world.first), (&world.late, world.first), (&world.other, world.second)]
    {
        let seats = stores.catalogue.seats_of_schedule(schedule.id).await.expect("seats_of_schedule works");
        let numbers: Vec<u8> = seats.iter().map(|seat| seat.number.get()).collect();
        assert_eq!(
            numbers,
            (1..=50).collect::<Vec<u8>>(),
            "seats of {} must be 1..=50 in order",
            schedule.id
        );
        for seat in &seats {
            let (zone, price) = zone_and_price(seat.number.get());
            assert_eq!((seat.zone.as_str(), seat.price.get()), (zone, price), "zone and price of {seat:?}");
            assert_eq!(seat.schedule_id, schedule.id, "{seat:?}");
            assert_eq!(seat.concert_id, concert, "{seat:?}");
            assert_eq!(seat.starts_at, schedule.starts_at, "{seat:?}");
        }
        let names: Vec<String> = seats.iter().map(|seat| seat.name()).collect();
        assert_eq!((names[0].as_str(), names[10].as_str(), names[49].as_str()), ("A1", "B1", "E10"));
        let mut ids: Vec<SeatId> = seats.iter().map(|seat| seat.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 50, "every seat of a performance has its own id");
    }
}

/// `seats_of_concert` lists the seats of every performance of a concert, by schedule id then
/// number, and only those.
pub async fn seats_of_a_concert_are_listed_by_schedule_then_number(stores: Repositories) {
    let world = seeded(&stores).await;
    let seats = stores.catalogue.seats_of_concert(world.first).await.expect("seats_of_concert works");
    let keys: Vec<(ScheduleId, u8)> =
        seats.iter().map(|seat| (seat.schedule_id, seat.number.get())).collect();
    let mut expected = Vec::new();
    let mut schedules = [world.early.id, world.late.id];
    schedules.sort_unstable();
    for schedule in schedules {
        expected.extend((1..=50).map(|number| (schedule, number)));
    }
    assert_eq!(keys, expected, "seats of a concert must be ordered by schedule id, then number");
    let mut by_schedule = stores.catalogue.seats_of_schedule(schedules[0]).await.expect("seats works");
    by_schedule.extend(stores.catalogue.seats_of_schedule(schedules[1]).await.expect("seats works"));
    assert_eq!(seats, by_schedule, "seats_of_concert must agree with seats_of_schedule");
    let other = stores.catalogue.seats_of_concert(world.second).await.expect("seats_of_concert works");
    assert!(other.len() == 50 && other.iter().all(|seat| seat.schedule_id == world.other.id), "{other:?}");
}

/// Unknown concert, performance and seat ids find nothing: `None` or an empty list.
pub async fn unknown_ids_find_nothing(stores: Repositories) {
    let world = seeded(&stores).await;
    let seats = stores.catalogue.seats_of_concert(world.first).await.expect("seats_of_concert works");
    let seen = seats.iter().map(|seat| seat.id.get()).chain([world.first.get(), world.second.get()]);
    let unknown = unknown_id(seen);
    let concert = ConcertId::new(unknown).expect("positive");
    let schedule = ScheduleId::new(unknown).expect("positive");
    let seat = SeatId::new(unknown).expect("positive");
    assert_eq!(stores.catalogue.concert(concert).await, Ok(None), "unknown concert");
    assert_eq!(stores.catalogue.seat(seat).await, Ok(None), "unknown seat");
    assert_eq!(stores.catalogue.schedules(concert).await, Ok(vec![]), "schedules of an unknown concert");
    assert_eq!(stores.catalogue.seats_of_concert(concert).await, Ok(vec![]), "seats of an unknown concert");
    assert_eq!(
        stores.catalogue.seats_of_schedule(schedule).await,
        Ok(vec![]),
        "seats of an unknown schedule"
    );
}

/// A freshly seeded seat is neither sold nor held, and `seat(id)` reads it exactly as the
/// lists do.
pub async fn a_seeded_seat_is_free_and_reads_the_same_alone_and_in_lists(stores: Repositories) {
    let world = seeded(&stores).await;
    let mut seats = stores.catalogue.seats_of_concert(world.first).await.expect("seats_of_concert works");
    seats.extend(stores.catalogue.seats_of_concert(world.second).await.expect("seats_of_concert works"));
    assert_eq!(seats.len(), 150);
    for listed in &seats {
        assert!(!listed.sold && listed.hold.is_none(), "a seeded seat must be unsold and unheld: {listed:?}");
        assert!(listed.is_free_at(world.now), "a seeded seat of a future performance is free: {listed:?}");
        let alone = stores.catalogue.seat(listed.id).await.expect("seat works");
        assert_eq!(alone.as_ref(), Some(listed), "seat(id) must read what the lists show");
    }
}

/// `ping` answers for a working store, seeded or not.
pub async fn ping_answers_for_a_working_store(stores: Repositories) {
    assert_eq!(stores.health.ping().await, Ok(()), "ping of an empty store");
    let loaded = stores.catalogue.seed_if_empty(&catalogue(now())).await;
    assert_eq!(loaded, Ok(true));
    assert_eq!(stores.health.ping().await, Ok(()), "ping of a seeded store");
}
