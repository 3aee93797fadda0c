//! The operator's whole story, end to end over HTTP: a concert with two performances put on
//! sale from the catalogue file's JSON, sales that open a little later (fans are refused
//! before), the brake pulled and released, the cap changed mid-sale, a seat repriced and one
//! taken off the map, a ticket refunded, a performance cancelled with its buyers refunded, and a
//! sales view that adds up all along.

mod support;

use serde_json::{Value, json};
use support::{Reply, Seat, TestServer, seat_from_json, sleep_ms};

const SECRET: &str = "operator-story-secret-0123456789ab";

/// Two performances of 10 seats at 40,000 won, on sale `opens_in` seconds after the import.
fn catalogue(opens_in: u64) -> String {
    let performance = |days: u32| {
        json!({"startsAt": {"daysFromToday": days, "at": "19:00"}, "onSaleAt": {"secondsFromNow": opens_in},
               "seats": [{"from": 1, "to": 10, "zone": "R", "price": 40000}]})
    };
    json!({"concerts": [{"key": "operator-story", "title": "Operator Story", "artist": "The Box Office",
        "venue": "Main Hall", "performances": [performance(10), performance(11)]}]})
    .to_string()
}

/// The operator's requests.
struct Operator<'a>(&'a TestServer);

impl Operator<'_> {
    async fn post(&self, path: &str, body: Value) -> Reply {
        self.0.post_raw(path, Some(SECRET), &body.to_string()).await
    }

    async fn sales_of(&self, concert: i64) -> Value {
        let sales = self.0.get("/admin/sales", Some(SECRET)).await;
        let report = sales.ok("sales").as_array().expect("a list of concerts").clone();
        report.into_iter().find(|one| one["concertId"] == concert).expect("the concert is in the sales view")
    }

    async fn map(&self, schedule: i64) -> Vec<Value> {
        let map = self.0.get(&format!("/admin/performances/{schedule}/seats"), Some(SECRET)).await;
        map.ok("seat map").as_array().expect("a list of seats").clone()
    }

    async fn reprice(&self, seat: i64, price: i64) -> Reply {
        let request = self.0.client.patch(self.0.url(&format!("/admin/seats/{seat}"))).bearer_auth(SECRET);
        self.0.send(request.json(&json!({ "price": price }))).await
    }
}

/// The free seats of a performance, as a fan sees them.
async fn free(s: &TestServer, token: &str, concert: i64, schedule: i64) -> Vec<Seat> {
    let seats = s.seats(token, concert, schedule).await;
    seats.iter().map(|seat| seat_from_json(concert, schedule, seat)).collect()
}

#[tokio::test]
async fn an_operator_runs_a_sale_from_the_catalogue_file_to_the_last_refund() {
    let s = TestServer::start(&[("ADMIN_TOKEN", SECRET), ("QUEUE_MAX_ACTIVE", "2")]).await;
    let op = Operator(&s);

    // Put on sale, opening in three seconds.
    let imported = s.post_raw("/admin/catalogue", Some(SECRET), &catalogue(3)).await;
    assert_eq!(imported.ok("import").clone(), json!({"concertsAdded": 1, "performancesAdded": 0}));
    let (ann, bob, cy) = (s.uid(1), s.uid(2), s.uid(3));
    let ann_token = s.active_user(ann).await;
    let concert = *s.concert_ids(&ann_token).await.last().expect("the concert is listed");
    let dates = s.dates(&ann_token, concert).await;
    assert_eq!(dates.len(), 2, "two performances: {dates:?}");
    let first = dates[0]["scheduleId"].as_i64().expect("scheduleId");
    let second = dates[1]["scheduleId"].as_i64().expect("scheduleId");
    assert!(dates[0]["onSaleAt"].is_string(), "fans see when sales open: {dates:?}");
    let seats = free(&s, &ann_token, concert, first).await;
    let early = s.reserve(&ann_token, concert, seats[0].seat_id, ann).await;
    early.assert_error(409, "SALES_NOT_OPEN", "a hold before sales open");

    // The brake, while nobody buys yet: Bob waits behind a paused room, then gets in.
    let paused = op.post("/admin/queue", json!({"paused": true})).await;
    assert_eq!(paused.ok("pause")["paused"], true);
    let bob_waiting = TestServer::token_of(&s.issue_token(bob).await);
    sleep_ms(400).await;
    let status = s.token_status(&bob_waiting).await;
    assert_eq!(
        (status["status"].clone(), status["paused"].clone()),
        (json!("WAITING"), json!(true)),
        "{status}"
    );
    op.post("/admin/queue", json!({"paused": false})).await.ok("resume");
    let bob_token = TestServer::token_of(&s.wait_until_active(&bob_waiting).await);

    // The room holds two; Cy waits until the cap is raised mid-sale.
    let cy_waiting = TestServer::token_of(&s.issue_token(cy).await);
    sleep_ms(300).await;
    assert_eq!(s.token_status(&cy_waiting).await["status"], "WAITING", "the room is full at two");
    let raised = op.post("/admin/queue", json!({"maxActive": 3})).await;
    assert_eq!(raised.ok("raise the cap")["maxActive"], 3);
    let cy_token = TestServer::token_of(&s.wait_until_active(&cy_waiting).await);

    // Sales open: a seat repriced and one taken off the map before anyone buys.
    sleep_ms(3_100).await;
    let map = op.map(first).await;
    assert_eq!(map.len(), 10, "{map:?}");
    let (dear, gone) = (map[9]["seatId"].as_i64().expect("id"), map[8]["seatId"].as_i64().expect("id"));
    assert_eq!(op.reprice(dear, 55_000).await.ok("reprice")["price"], 55_000);
    let removed = s.delete(&format!("/admin/seats/{gone}"), Some(SECRET)).await;
    assert_eq!(removed.ok("remove")["seatId"], gone);
    let on_sale = free(&s, &ann_token, concert, first).await;
    assert_eq!(on_sale.len(), 9, "the removed seat is off the fans' map");
    assert_eq!(on_sale.iter().find(|seat| seat.seat_id == dear).map(|seat| seat.price), Some(55_000));
    s.reserve(&ann_token, concert, gone, ann).await.assert_error(404, "NOT_FOUND", "a removed seat");

    // Fans buy: Ann two seats of the first night (one at the new price), Bob one of each night.
    for (token, user) in [(&ann_token, ann), (&bob_token, bob), (&cy_token, cy)] {
        s.charge(token, user, 200_000).await.ok("charge");
    }
    let ann_seat = on_sale.iter().find(|seat| seat.seat_id == dear).expect("the dear seat").clone();
    let ann_hold = s.hold(&ann_token, ann, &ann_seat).await["reservationId"].as_i64().expect("id");
    let taken = op.reprice(dear, 1_000).await;
    taken.assert_error(409, "SEAT_TAKEN", "repricing a held seat");
    let ann_paid = s.pay(&ann_token, ann_hold, 55_000).await;
    let ann_payment = ann_paid.ok("Ann pays")["paymentId"].as_i64().expect("paymentId");
    let bob_first = s.hold(&bob_token, bob, &on_sale[0]).await["reservationId"].as_i64().expect("id");
    s.pay(&bob_token, bob_first, 40_000).await.ok("Bob pays the first night");
    let bob_again = s.active_user(bob).await;
    let second_seat = free(&s, &bob_again, concert, second).await.remove(0);
    let bob_second = s.hold(&bob_again, bob, &second_seat).await["reservationId"].as_i64().expect("id");
    s.pay(&bob_again, bob_second, 40_000).await.ok("Bob pays the second night");
    let cy_hold = s.hold(&cy_token, cy, &free(&s, &cy_token, concert, second).await[0]).await;
    let cy_hold = cy_hold["reservationId"].as_i64().expect("id");

    let sales = op.sales_of(concert).await;
    let expected = json!({"free": 15, "held": 1, "sold": 3, "revenue": 135000, "payments": 3, "refunds": 0, "refunded": 0});
    assert_eq!(sales["total"], expected, "{sales}");

    // Ann's ticket refunded: her money back, the seat on sale again at once.
    let refund = s.post_raw(&format!("/admin/payments/{ann_payment}/refund"), Some(SECRET), "").await;
    assert_eq!(refund.ok("refund")["amount"], 55_000);
    assert_eq!(s.balance_of(&cy_token, cy).await, 200_000, "Cy untouched");
    let ann_now = s.active_user(ann).await;
    assert_eq!(s.balance_of(&ann_now, ann).await, 200_000, "Ann has all her money back");
    assert!(
        free(&s, &ann_now, concert, first).await.iter().any(|seat| seat.seat_id == dear),
        "on sale again"
    );

    // The second night is called off: Bob refunded, Cy's hold ended, the night gone for fans.
    let cancelled = op.post(&format!("/admin/performances/{second}/cancel"), json!({})).await;
    let body = cancelled.ok("cancel").clone();
    assert_eq!((body["refunds"].clone(), body["refunded"].clone()), (json!(1), json!(40000)), "{body}");
    let again = op.post(&format!("/admin/performances/{second}/cancel"), json!({})).await;
    let again = again.ok("cancel again").clone();
    assert_eq!(
        (again["refunds"].clone(), again["cancelledAt"].clone()),
        (json!(0), body["cancelledAt"].clone())
    );
    assert_eq!(s.balance_of(&ann_now, ann).await, 200_000);
    let bob_now = s.active_user(bob).await;
    assert_eq!(s.balance_of(&bob_now, bob).await, 160_000, "Bob keeps the first night only");
    s.pay(&cy_token, cy_hold, 40_000).await.assert_error(409, "RESERVATION_NOT_PAYABLE", "a cancelled night");
    let dates = s.dates(&ann_now, concert).await;
    assert_eq!(dates.len(), 1, "only the first night is left: {dates:?}");
    let missing = op.post("/admin/performances/999999/cancel", json!({})).await;
    missing.assert_error(404, "NOT_FOUND", "an unknown performance");

    // The sales view adds up: the first night has Bob's sale; the second none, and its refund.
    let sales = op.sales_of(concert).await;
    let nights = sales["performances"].as_array().expect("performances").clone();
    assert_eq!(
        (sales["artist"].clone(), sales["venue"].clone()),
        (json!("The Box Office"), json!("Main Hall"))
    );
    let when = |night: &Value| (night["startsAt"].is_string(), night["onSaleAt"].is_string());
    assert!(nights.iter().all(|night| when(night) == (true, true)), "every night says when: {sales}");
    let night = |id: i64| {
        let mut night = nights.iter().find(|night| night["scheduleId"] == id).expect("listed").clone();
        let object = night.as_object_mut().expect("an object");
        let cancelled = object.remove("cancelledAt").is_some();
        object.remove("startsAt");
        object.remove("onSaleAt");
        (cancelled, night)
    };
    let expected_first = json!({"scheduleId": first, "free": 8, "held": 0, "sold": 1, "revenue": 40000,
        "payments": 2, "refunds": 1, "refunded": 55000});
    assert_eq!(night(first), (false, expected_first), "{sales}");
    let expected_second = json!({"scheduleId": second, "free": 0, "held": 0, "sold": 0, "revenue": 0,
        "payments": 1, "refunds": 1, "refunded": 40000});
    assert_eq!(night(second), (true, expected_second), "the cancelled night stays listed: {sales}");
}
