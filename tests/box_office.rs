//! The box office over HTTP (`ADMIN_TOKEN`): off unless a secret is set; concerts put on sale
//! from the catalogue file's JSON (twice is once, a bad file refused with where it is wrong);
//! a refund that gives the money back once and puts the seat on sale again at once.

mod support;

use serde_json::json;
use support::TestServer;

const SECRET: &str = "box-office-secret-0123456789abcdef";

const CATALOGUE: &str = r#"{"concerts": [{"key": "admin-gala", "title": "Admin Gala", "artist": "Operators",
  "venue": "Back Office", "performances": [{"startsAt": {"daysFromToday": 5, "at": "20:00"},
  "seats": [{"from": 1, "to": 10, "zone": "R", "price": 40000}]}]}]}"#;

#[tokio::test]
async fn the_box_office_is_off_without_a_secret_and_refuses_anyone_without_it() {
    let off = TestServer::start(&[]).await;
    off.post_raw("/admin/catalogue", Some(SECRET), CATALOGUE).await.assert_error(
        404,
        "NOT_FOUND",
        "box office off",
    );
    let on = TestServer::start(&[("ADMIN_TOKEN", SECRET)]).await;
    on.post_raw("/admin/catalogue", None, CATALOGUE).await.assert_error(401, "TOKEN_MISSING", "no secret");
    let wrong = on.post_raw("/admin/catalogue", Some("box-office-secret-0123456789abcdeF"), CATALOGUE).await;
    wrong.assert_error(401, "ADMIN_TOKEN_INVALID", "a wrong secret");
    let fan = on.active_user(on.uid(1)).await;
    let as_fan = on.post_raw("/admin/payments/1/refund", Some(&fan), "").await;
    as_fan.assert_error(401, "ADMIN_TOKEN_INVALID", "a fan's queue token is no secret");
}

#[tokio::test]
async fn an_operator_puts_a_concert_on_sale_and_refunds_a_ticket_once() {
    let s = TestServer::start(&[("ADMIN_TOKEN", SECRET)]).await;
    let imported = s.post_raw("/admin/catalogue", Some(SECRET), CATALOGUE).await;
    assert_eq!(imported.ok("import")["concertsAdded"], 1, "{}", imported.text);
    let again = s.post_raw("/admin/catalogue", Some(SECRET), CATALOGUE).await;
    assert_eq!(again.ok("import again")["concertsAdded"], 0, "twice is once: {}", again.text);
    let broken = s.post_raw("/admin/catalogue", Some(SECRET), r#"{"concerts": [{"key": "BAD"}]}"#).await;
    broken.assert_error(400, "VALIDATION_ERROR", "a bad file");
    assert!(broken.text.contains("concerts[0]"), "says where: {}", broken.text);
    let repriced = CATALOGUE.replace("40000", "45000");
    let changed = s.post_raw("/admin/catalogue", Some(SECRET), &repriced).await;
    changed.assert_error(409, "SEATS_CHANGED", "repricing seats already on sale");

    let fan = s.uid(1);
    let token = s.active_user(fan).await;
    let concert = *s.concert_ids(&token).await.last().expect("the imported concert is listed");
    let schedule = s.dates(&token, concert).await[0]["scheduleId"].as_i64().expect("scheduleId");
    let seat = s.free_seats(&token, concert, schedule).await.remove(0);
    assert_eq!(seat.price, 40_000);
    let held = s.hold(&token, fan, &seat).await["reservationId"].as_i64().expect("id");
    s.charge(&token, fan, 100_000).await.ok("charge");
    let paid = s.pay(&token, held, seat.price).await;
    let payment = paid.ok("pay")["paymentId"].as_i64().expect("paymentId");

    let refund = s.post_raw(&format!("/admin/payments/{payment}/refund"), Some(SECRET), "").await;
    let body = refund.ok("refund").clone();
    assert_eq!(body["amount"], 40_000, "{body}");
    assert_eq!(body["currentBalance"], 100_000, "all the money is back: {body}");
    let twice = s.post_raw(&format!("/admin/payments/{payment}/refund"), Some(SECRET), "").await;
    twice.assert_error(409, "ALREADY_REFUNDED", "a second refund");
    let missing = s.post_raw("/admin/payments/999999/refund", Some(SECRET), "").await;
    missing.assert_error(404, "NOT_FOUND", "an unknown payment");

    let other = s.uid(2);
    let second = s.active_user(other).await;
    let free = s.free_seats(&second, concert, schedule).await;
    assert!(free.iter().any(|free| free.seat_id == seat.seat_id), "the refunded seat is on sale again");
    s.hold(&second, other, &seat).await;
    let bookings = s.bookings(&token).await;
    assert_eq!(bookings.ok("bookings")["bought"], json!([]), "a refunded ticket is no longer the fan's");

    let sales = s.get("/admin/sales", Some(SECRET)).await;
    let report = sales.ok("sales").as_array().expect("a list of concerts").clone();
    let gala = report.iter().find(|one| one["concertId"] == concert).expect("the imported concert");
    let expected = json!({"free": 9, "held": 1, "sold": 0, "revenue": 0, "payments": 1, "refunds": 1, "refunded": 40000});
    assert_eq!(gala["total"], expected, "the sales view adds up: {gala}");
    assert_eq!(gala["performances"][0]["scheduleId"], schedule, "{gala}");
}

#[tokio::test]
async fn the_brake_pauses_admission_for_everyone_and_caps_change_mid_sale() {
    let s = TestServer::start(&[("ADMIN_TOKEN", SECRET), ("QUEUE_MAX_ACTIVE", "100")]).await;
    let brake = |body: serde_json::Value| {
        let s = &s;
        async move { s.post_raw("/admin/queue", Some(SECRET), &body.to_string()).await }
    };
    let first = s.active_user(s.uid(1)).await;

    let paused = brake(json!({"paused": true, "maxActive": 1})).await;
    assert_eq!(paused.ok("pause").clone(), json!({"paused": true, "maxActive": 1, "admitPerTick": 0}));
    let waiting = TestServer::token_of(&s.issue_token(s.uid(2)).await);
    for _ in 0..10 {
        support::sleep_ms(60).await; // several admission ticks of 50 ms
        let status = s.token_status(&waiting).await;
        assert_eq!(status["status"], "WAITING", "nobody is admitted while paused: {status}");
    }
    let status = s.token_status(&waiting).await;
    assert_eq!((status["paused"].clone(), status["position"].clone()), (json!(true), json!(1)), "{status}");

    let resumed = brake(json!({"paused": false})).await;
    assert_eq!(resumed.ok("resume")["maxActive"], 1, "the cap stays: {}", resumed.text);
    support::sleep_ms(300).await;
    let status = s.token_status(&waiting).await;
    assert_eq!(status["status"], "WAITING", "the room is full at a cap of one: {status}");
    assert_eq!(status["paused"], false, "{status}");
    brake(json!({"maxActive": 2})).await.ok("raise the cap");
    s.wait_until_active(&waiting).await;
    let read = s.get("/admin/queue", Some(SECRET)).await;
    assert_eq!(
        read.ok("read the brake").clone(),
        json!({"paused": false, "maxActive": 2, "admitPerTick": 0})
    );
    brake(json!({"maxActive": -1})).await.assert_error(400, "VALIDATION_ERROR", "a cap out of range");
    brake(json!({"paused": null})).await.assert_error(400, "VALIDATION_ERROR", "null is no flag");
    assert_eq!(s.token_status(&first).await["status"], "ACTIVE");
}
