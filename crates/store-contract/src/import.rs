//! Loading the catalogue as data: `import` is idempotent and all or nothing, and the hold's
//! compare-and-set refuses seats not on sale yet.

use domain::{ImportOutcome, NewConcert, NewHold};

use crate::Repositories;
use crate::fixture::{catalogue, now, performance, secs, uid, user};

fn imported(concerts_added: u32, performances_added: u32) -> ImportOutcome {
    ImportOutcome::Imported { concerts_added, performances_added }
}

/// Importing a catalogue twice loads it once.
pub async fn importing_a_catalogue_twice_loads_it_once(stores: Repositories) {
    let file = catalogue(now());
    assert_eq!(stores.catalogue.import(&file).await, Ok(imported(2, 0)), "the first import loads both");
    let concerts = stores.catalogue.concerts().await.expect("concerts works");
    let mut seats = Vec::new();
    for concert in &concerts {
        seats.extend(stores.catalogue.seats_of_concert(concert.id).await.expect("seats works"));
    }
    assert_eq!(stores.catalogue.import(&file).await, Ok(imported(0, 0)), "the second adds nothing");
    assert_eq!(stores.catalogue.concerts().await.expect("concerts works"), concerts);
    let mut again = Vec::new();
    for concert in &concerts {
        again.extend(stores.catalogue.seats_of_concert(concert.id).await.expect("seats works"));
    }
    assert_eq!(again, seats, "the same seats, ids included");
}

/// A known concert takes the file's title, gains the performances it lacks, and its known
/// performances (and their seats) take the file's on-sale instant.
pub async fn importing_a_known_concert_updates_it_and_adds_its_new_performances(stores: Repositories) {
    let start = now();
    let file = catalogue(start);
    stores.catalogue.import(&file).await.expect("import works");
    let mut changed: Vec<NewConcert> = file.clone();
    changed[0].title = "Renamed".into();
    changed[0].schedules[0].on_sale_at = start + secs(3_600);
    changed[0].schedules.push(performance(start + secs(86_400 * 40)));
    assert_eq!(stores.catalogue.import(&changed).await, Ok(imported(0, 1)));
    let concerts = stores.catalogue.concerts().await.expect("concerts works");
    let renamed = concerts.iter().find(|concert| concert.title == "Renamed").expect("the renamed concert");
    let schedules = stores.catalogue.schedules(renamed.id).await.expect("schedules works");
    assert_eq!(schedules.len(), 3, "one performance added: {schedules:?}");
    let moved = schedules.iter().find(|s| s.starts_at == file[0].schedules[0].starts_at).expect("known");
    assert_eq!(moved.on_sale_at, start + secs(3_600), "the on-sale instant moved");
    let seats = stores.catalogue.seats_of_schedule(moved.id).await.expect("seats works");
    assert!(seats.iter().all(|seat| seat.on_sale_at == start + secs(3_600)), "and its seats' with it");
}

/// A file that gives a loaded performance other seats is refused whole: nothing of it lands.
pub async fn importing_other_seats_for_a_loaded_performance_writes_nothing(stores: Repositories) {
    let start = now();
    let file = catalogue(start);
    stores.catalogue.import(&file).await.expect("import works");
    let before = stores.catalogue.concerts().await.expect("concerts works");
    let mut changed = file.clone();
    changed[0].title = "Renamed".into();
    changed[1].schedules[0].seats[0].price = domain::Won::new(1).expect("valid price");
    let outcome = stores.catalogue.import(&changed).await;
    let expected = ImportOutcome::SeatsDiffer {
        concert: file[1].key.clone(),
        starts_at: file[1].schedules[0].starts_at,
    };
    assert_eq!(outcome, Ok(expected));
    assert_eq!(stores.catalogue.concerts().await.expect("concerts works"), before, "nothing changed");
}

/// Before its performance goes on sale, a seat cannot be held, whatever the caller decided.
pub async fn try_hold_before_the_performance_goes_on_sale_is_refused(stores: Repositories) {
    let start = now();
    let mut file = catalogue(start);
    for schedule in &mut file[1].schedules {
        schedule.on_sale_at = start + secs(60);
    }
    stores.catalogue.import(&file).await.expect("import works");
    user(&stores, 1, start).await;
    let concerts = stores.catalogue.concerts().await.expect("concerts works");
    let later = concerts.iter().find(|concert| concert.title == file[1].title).expect("second concert");
    let seats = stores.catalogue.seats_of_concert(later.id).await.expect("seats works");
    let seat = &seats[0];
    assert_eq!(seat.on_sale_at, start + secs(60), "the seat knows when it goes on sale");
    let early = NewHold {
        seat_id: seat.id,
        concert_id: seat.concert_id,
        seat_name: seat.name(),
        user_id: uid(1),
        held_at: start + secs(59),
        until: start + secs(359),
        max_live_holds: 0,
    };
    assert_eq!(stores.reservations.try_hold(&early, None).await, Ok(None), "a second before: refused");
    let on_time = NewHold { held_at: start + secs(60), until: start + secs(360), ..early };
    let held = stores.reservations.try_hold(&on_time, None).await.expect("try_hold works");
    assert!(held.is_some(), "from the on-sale instant on, the seat can be held");
}
