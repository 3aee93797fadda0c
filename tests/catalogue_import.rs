//! The operator's side of a sale, over the real binary: a catalogue file imported with
//! `frontrow catalogue import` (twice, as once), a bad file refused whole with where it is
//! wrong, and sales that open at the file's `onSaleAt`: fans are refused with
//! `SALES_NOT_OPEN` before it and buy after it. (Needs PostgreSQL; `make test` starts it.)

mod support;

use std::process::{Command, Output};

use adapter_postgres::testing::TestDatabase;
use support::{TestServer, now_unix, parse_rfc3339, sleep_ms};

/// How long after the import its performances go on sale.
const OPENS_IN_SECONDS: u64 = 4;

fn import(database_url: &str, file: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_frontrow"))
        .args(["catalogue", "import"])
        .arg(file)
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run frontrow catalogue import")
}

fn write(name: &str, text: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("frontrow-{}-{name}", std::process::id()));
    std::fs::write(&path, text).expect("write the catalogue file");
    path
}

const FILE: &str = r#"{
  "concerts": [{
    "key": "spring-gala",
    "title": "Spring Gala",
    "artist": "The Importers",
    "venue": "Data Hall",
    "performances": [
      { "startsAt": { "daysFromToday": 30, "at": "19:00" }, "onSaleAt": { "secondsFromNow": 4 }, "seats": "hall" },
      { "startsAt": { "daysFromToday": 31, "at": "19:00" }, "onSaleAt": { "secondsFromNow": 4 }, "seats": "hall" }
    ]
  }],
  "seatMaps": { "hall": [ { "from": 1, "to": 20, "zone": "R", "price": 50000 } ] }
}"#;

#[tokio::test]
async fn an_imported_concert_goes_on_sale_at_its_minute_and_fans_buy_after_it() {
    let db = TestDatabase::create().await;
    let file = write("gala.json", FILE);
    let first = import(db.url(), &file);
    let said = String::from_utf8_lossy(&first.stdout);
    assert!(first.status.success(), "import: {said} {}", String::from_utf8_lossy(&first.stderr));
    assert!(said.contains("1 new"), "the first import loads the concert: {said}");
    let imported_at = now_unix();
    let again = import(db.url(), &file);
    let said = String::from_utf8_lossy(&again.stdout);
    assert!(again.status.success() && said.contains("0 new, 0 new performances"), "twice is once: {said}");

    let broken = write("broken.json", "{\n  \"concerts\": [\n    { \"key\": 7 }\n  ]\n}");
    let refused = import(db.url(), &broken);
    let why = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "a bad file fails the command: {why}");
    assert!(why.contains("line 3") && why.contains("concerts[0].key"), "says where: {why}");

    let s = TestServer::start_on(db.url(), &[("SEED_DEMO", "0")]).await;
    let fan = s.uid(1);
    let token = s.active_user(fan).await;
    let concerts = s.concert_ids(&token).await;
    assert_eq!(concerts.len(), 1, "one concert, once: {concerts:?}");
    let dates = s.dates(&token, concerts[0]).await;
    assert_eq!(dates.len(), 2, "{dates:?}");
    let opens = parse_rfc3339(dates[0]["onSaleAt"].as_str().expect("dates show onSaleAt"));
    assert!(
        (opens - imported_at - OPENS_IN_SECONDS as f64).abs() < 3.0,
        "opens {opens}, imported {imported_at}"
    );
    let schedule = dates[0]["scheduleId"].as_i64().expect("scheduleId");
    let seat = s.free_seats(&token, concerts[0], schedule).await.remove(0);
    assert_eq!(seat.price, 50_000);
    if now_unix() < opens - 0.5 {
        s.reserve(&token, seat.concert_id, seat.seat_id, fan).await.assert_error(
            409,
            "SALES_NOT_OPEN",
            "a hold before the performance goes on sale",
        );
    } else {
        panic!("the server took too long to start to see the sale before it opened");
    }
    while now_unix() < opens + 0.05 {
        sleep_ms(50).await;
    }
    let held = s.hold(&token, fan, &seat).await;
    s.charge(&token, fan, seat.price).await.ok("charge");
    let paid = s.pay(&token, held["reservationId"].as_i64().expect("id"), seat.price).await;
    paid.ok("a fan buys once sales are open");
}
