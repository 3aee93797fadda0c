//! The operator's figures on `/metrics` move as a small sale goes: the room fills while the box
//! office holds admission and empties when it lets go, every hold, give-back, refusal, replay,
//! sale and won is counted once, and sales add up to the payments made.

mod support;

use serde_json::json;
use support::TestServer;

const SECRET: &str = "box-office-secret-0123456789abcdef";

#[tokio::test]
async fn a_small_sale_moves_the_operators_figures_as_it_goes() {
    let s = TestServer::start(&[("ADMIN_TOKEN", SECRET), ("QUEUE_MAX_ACTIVE", "10")]).await;
    let first = s.scrape().await;
    for series in ["frontrow_queue_admitted_total", "frontrow_sales_total", "frontrow_deadlines_total"] {
        assert_eq!(first.value(series), 0.0, "{series} starts at 0");
    }
    assert_eq!(first.value(r#"frontrow_payments_refused_total{reason="INSUFFICIENT_BALANCE"}"#), 0.0);
    s.wait_for_figure("frontrow_queue_max_active", 10.0).await;

    // The box office holds admission: three fans wait, and the room says so.
    let pause = s.post("/admin/queue", Some(SECRET), &json!({ "paused": true })).await;
    pause.ok("pause");
    let fans: Vec<i64> = (1..=3).map(|n| s.uid(n)).collect();
    let mut tokens = Vec::new();
    for fan in &fans {
        tokens.push(TestServer::token_of(&s.issue_token(*fan).await));
    }
    s.wait_for_figure("frontrow_queue_paused", 1.0).await;
    s.wait_for_figure("frontrow_queue_waiting", 3.0).await;
    // Let go: all three are in, and nobody waits.
    s.post("/admin/queue", Some(SECRET), &json!({ "paused": false })).await.ok("resume");
    for token in &tokens {
        s.wait_until_active(token).await;
    }
    s.wait_for_figure("frontrow_queue_waiting", 0.0).await;
    s.wait_for_figure("frontrow_queue_active", 3.0).await;
    assert_eq!(s.scrape().await.value("frontrow_queue_admitted_total"), 3.0);

    // Money in: the first charge is sent twice with one key; the replay charges nothing.
    let keyed = s
        .client
        .post(s.url("/api/charge"))
        .bearer_auth(&tokens[0])
        .header("Idempotency-Key", "metrics-charge-1")
        .json(&json!({ "userId": fans[0], "amount": 200_000 }));
    let again = keyed.try_clone().expect("a JSON request clones");
    s.send(keyed).await.ok("keyed charge");
    s.send(again).await.ok("keyed charge replayed");
    for (fan, token) in fans.iter().zip(&tokens).skip(1) {
        s.charge(token, *fan, 200_000).await.ok("charge");
    }

    // Four holds, one of them given back twice (counted once), then a refused payment.
    let seats = s.some_free_seats(&tokens[0], 4).await;
    let given_back = s.hold(&tokens[0], fans[0], &seats[3]).await["reservationId"].as_i64().expect("id");
    s.release(&tokens[0], given_back).await.ok("give back");
    s.release(&tokens[0], given_back).await.ok("give back again");
    let mut holds = Vec::new();
    for ((fan, token), seat) in fans.iter().zip(&tokens).zip(&seats) {
        holds.push((s.hold(token, *fan, seat).await["reservationId"].as_i64().expect("id"), seat.price));
    }
    let wrong = s.pay(&tokens[1], holds[1].0, holds[1].1 + 1).await;
    wrong.assert_error(422, "PAYMENT_AMOUNT_MISMATCH", "a wrong amount");
    for (token, (reservation, price)) in tokens.iter().zip(&holds) {
        s.pay(token, *reservation, *price).await.ok("pay");
    }

    let figures = s.scrape().await;
    let revenue: i64 = holds.iter().map(|(_, price)| price).sum();
    assert_eq!(figures.value("frontrow_holds_total"), 4.0);
    assert_eq!(figures.value(r#"frontrow_releases_total{reason="given_back"}"#), 1.0, "asked twice, once");
    assert_eq!(figures.value(r#"frontrow_releases_total{reason="lapsed"}"#), 0.0);
    assert_eq!(figures.value(r#"frontrow_payments_refused_total{reason="PAYMENT_AMOUNT_MISMATCH"}"#), 1.0);
    assert_eq!(figures.value("frontrow_sales_total"), 3.0, "one sale per payment");
    assert_eq!(figures.value("frontrow_revenue_won_total"), revenue as f64, "the sum of the prices paid");
    assert_eq!(figures.value("frontrow_balance_charged_won_total"), 600_000.0, "the replay charged nothing");
    assert_eq!(figures.value("frontrow_idempotent_replays_total"), 1.0);
    assert_eq!(figures.value("frontrow_store_unavailable_total"), 0.0);
    assert_eq!(figures.value("frontrow_deadlines_total"), 0.0);

    // Payments spent the tokens: the room is empty again; a refund is counted with its money.
    s.wait_for_figure("frontrow_queue_active", 0.0).await;
    let payments = s.bookings(&tokens[2]).await;
    let payment = payments.ok("bookings")["bought"][0]["paymentId"].as_i64().expect("paymentId");
    s.post_raw(&format!("/admin/payments/{payment}/refund"), Some(SECRET), "").await.ok("refund");
    let refunded = s.scrape().await;
    assert_eq!(refunded.value("frontrow_refunds_total"), 1.0);
    assert_eq!(refunded.value("frontrow_refunded_won_total"), holds[2].1 as f64);
}
