use super::*;
use crate::testkit::{SHOW, concert_id, demo_catalogue, schedule_id, seat_id, seeded};
use domain::{NewSchedule, NewSeat, SeatNumber, Won};
use time::Duration;

#[tokio::test]
async fn seed_if_empty_loads_the_catalogue_once() {
    let store = MemoryStore::new();
    assert_eq!(store.seed_if_empty(&demo_catalogue()).await, Ok(true));
    assert_eq!(store.seed_if_empty(&demo_catalogue()).await, Ok(false));
    assert_eq!(store.concerts().await.map(|c| c.len()), Ok(2));
    assert_eq!(store.seats_of_concert(concert_id(1)).await.map(|s| s.len()), Ok(100));
}

#[tokio::test]
async fn concerts_are_listed_by_id_with_their_details() {
    let store = seeded().await;
    let concerts = store.concerts().await.expect("concerts");
    let ids: Vec<i64> = concerts.iter().map(|c| c.id.get()).collect();
    assert_eq!(ids, [1, 2]);
    assert_eq!(concerts[0].title, "Spring Nights");
    assert_eq!(concerts[1].venue, "Olympic Hall");
}

#[tokio::test]
async fn concert_is_found_by_id_and_none_when_unknown() {
    let store = seeded().await;
    let found = store.concert(concert_id(2)).await.expect("concert");
    assert_eq!(found.map(|c| c.artist), Some("The Late Shows".into()));
    assert_eq!(store.concert(concert_id(3)).await, Ok(None));
}

#[tokio::test]
async fn schedules_are_listed_earliest_first() {
    let store = seeded().await;
    let schedules = store.schedules(concert_id(1)).await.expect("schedules");
    let ids: Vec<i64> = schedules.iter().map(|s| s.id.get()).collect();
    assert_eq!(ids, [2, 1], "the second performance loaded is the earlier one");
    assert!(schedules.iter().all(|s| s.concert_id == concert_id(1)));
    assert_eq!(schedules[0].starts_at, SHOW - Duration::days(1));
}

#[tokio::test]
async fn schedules_and_seats_of_an_unknown_concert_are_empty() {
    let store = seeded().await;
    assert_eq!(store.schedules(concert_id(9)).await, Ok(vec![]));
    assert_eq!(store.seats_of_concert(concert_id(9)).await, Ok(vec![]));
    assert_eq!(store.seats_of_schedule(schedule_id(9)).await, Ok(vec![]));
}

#[tokio::test]
async fn seats_of_a_schedule_are_ordered_by_number_and_carry_their_concert_and_start() {
    let store = seeded().await;
    let seats = store.seats_of_schedule(schedule_id(2)).await.expect("seats");
    let numbers: Vec<u8> = seats.iter().map(|s| s.number.get()).collect();
    assert_eq!(numbers, (1..=50).collect::<Vec<u8>>());
    assert!(seats.iter().all(|s| s.concert_id == concert_id(1) && s.schedule_id == schedule_id(2)));
    assert!(seats.iter().all(|s| s.starts_at == SHOW - Duration::days(1) && !s.sold && s.hold.is_none()));
}

#[tokio::test]
async fn seats_of_a_concert_are_ordered_by_schedule_then_number() {
    let store = seeded().await;
    let seats = store.seats_of_concert(concert_id(1)).await.expect("seats");
    let keys: Vec<(i64, u8)> = seats.iter().map(|s| (s.schedule_id.get(), s.number.get())).collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(keys, sorted);
    assert_eq!(seats.len(), 100);
}

#[tokio::test]
async fn seat_ids_are_unique_across_performances() {
    let store = seeded().await;
    let seat = store.seat(seat_id(51)).await.expect("seat").expect("seat 51 exists");
    assert_eq!((seat.schedule_id, seat.number.get()), (schedule_id(2), 1));
    assert_eq!(seat.name(), "A1");
    assert_eq!(store.seat(seat_id(151)).await, Ok(None));
}

#[tokio::test]
async fn seed_loads_seats_given_out_of_order_by_number() {
    let seat = |n| NewSeat {
        number: SeatNumber::new(n).expect("valid number"),
        zone: "R".into(),
        price: Won::new(10).expect("valid price"),
    };
    let concert = NewConcert {
        key: "shuffled".into(),
        title: "Shuffled".into(),
        artist: "A".into(),
        venue: "V".into(),
        schedules: vec![NewSchedule {
            starts_at: SHOW,
            on_sale_at: SHOW - Duration::days(30),
            seats: vec![seat(3), seat(1), seat(2)],
        }],
    };
    let store = MemoryStore::new();
    assert_eq!(store.seed_if_empty(&[concert]).await, Ok(true));
    let seats = store.seats_of_schedule(schedule_id(1)).await.expect("seats");
    let numbers: Vec<u8> = seats.iter().map(|s| s.number.get()).collect();
    assert_eq!(numbers, [1, 2, 3]);
}

#[tokio::test]
async fn seed_fails_on_a_duplicate_seat_number_and_loads_nothing() {
    let mut catalogue = demo_catalogue();
    let duplicate = catalogue[1].schedules[0].seats[0].clone();
    catalogue[1].schedules[0].seats.push(duplicate);
    let store = MemoryStore::new();
    assert!(matches!(store.seed_if_empty(&catalogue).await, Err(StoreError::Internal(_))));
    assert_eq!(store.concerts().await, Ok(vec![]));
    assert_eq!(store.seat(seat_id(1)).await, Ok(None));
    assert_eq!(store.seed_if_empty(&demo_catalogue()).await, Ok(true));
}
