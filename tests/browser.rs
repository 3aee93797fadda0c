//! The fans' page in a real browser: headless Chromium driven over WebDriver (see
//! `support::browser`). Each scenario starts its own server on the embedded store and its own
//! browsers; screenshots of every step land in `target/browser/<scenario>/`.

mod support;

use support::TestServer;
use support::browser::{Fan, ONE_SCENARIO_AT_A_TIME};

/// `#seatmap`'s button for a seat.
fn seat(id: i64) -> String {
    format!("#seatmap .seat[data-seat-id=\"{id}\"]")
}

/// Holds, charges for and pays one seat through the API, which ends `token`'s turn.
async fn buy_a_seat(server: &TestServer, token: &str, user: i64) {
    let (seat, reservation_id) = server.held_seat(token, user).await;
    server.charge(token, user, seat.price).await.ok("charge");
    server.pay(token, reservation_id, seat.price).await.ok("pay");
}

#[tokio::test]
async fn a_second_fan_waits_at_position_one_and_is_let_in_on_their_own_once_the_first_pays() {
    let _turn = ONE_SCENARIO_AT_A_TIME.lock().await;
    let server = TestServer::start_embedded(&[("QUEUE_MAX_ACTIVE", "1")]).await;
    let first = Fan::open(&server, "queue", "first").await;
    first.join(server.uid(1)).await;
    first.wait_admitted().await;
    first.shot("admitted").await;

    let second = Fan::open(&server, "queue", "second").await;
    second.join(server.uid(2)).await;
    second
        .wait(
            "position 1 in the waiting room, watched live",
            "document.getElementById('status').dataset.status === 'WAITING' \
             && document.getElementById('position').textContent === '1' \
             && document.getElementById('queue-mode').dataset.mode === 'live'",
        )
        .await;
    // Survives only if the page is never reloaded: admission must come to the open page.
    second.run("window.stayedOnThePage = true;").await;
    second.shot("waiting").await;

    first.type_into("#charge-amount", "200000").await;
    first.click("#charge").await;
    first.wait_message("CHARGED").await;
    let seat_id = first.first_free_seat().await;
    first.click(&seat(seat_id)).await;
    first.wait_message("HELD").await;
    first.shot("held").await;
    first.click("#pay").await;
    first.wait_message("PAID").await;
    first
        .wait("the ticket in my tickets", "document.getElementById('ticket-list').children.length === 1")
        .await;
    first.shot("paid").await;

    second.wait_admitted().await;
    assert_eq!(
        second.run("return window.stayedOnThePage === true;").await,
        true,
        "the second fan's page was reloaded instead of moving on by itself"
    );
    second.wait_message("ADMITTED").await;
    second.shot("admitted").await;
    first.close().await;
    second.close().await;
}

#[tokio::test]
async fn of_two_fans_racing_for_one_seat_one_holds_it_and_the_other_sees_it_taken_and_why() {
    let _turn = ONE_SCENARIO_AT_A_TIME.lock().await;
    let server = TestServer::start_embedded(&[]).await;
    let ana = Fan::open(&server, "race", "ana").await;
    let ben = Fan::open(&server, "race", "ben").await;
    ana.join(server.uid(1)).await;
    ben.join(server.uid(2)).await;
    ana.wait_admitted().await;
    ben.wait_admitted().await;
    let seat_id = ana.first_free_seat().await;
    assert_eq!(ben.first_free_seat().await, seat_id, "both fans should see the same performance first");

    let target = seat(seat_id);
    tokio::join!(ana.click(&target), ben.click(&target));
    let outcome = "(() => { const m = document.getElementById('message'); \
                   return !m.hidden && (m.dataset.code === 'HELD' || m.dataset.code === 'SEAT_UNAVAILABLE'); })()";
    ana.wait("the answer to the hold", outcome).await;
    ben.wait("the answer to the hold", outcome).await;
    let ana_won = ana.attr("#message", "data-code").await.as_deref() == Some("HELD");
    let ben_won = ben.attr("#message", "data-code").await.as_deref() == Some("HELD");
    assert!(ana_won != ben_won, "exactly one fan must hold the seat (ana {ana_won}, ben {ben_won})");
    let (winner, loser) = if ana_won { (&ana, &ben) } else { (&ben, &ana) };
    winner
        .wait(
            "the performance's free seats counted down",
            "document.querySelector('#performances button[aria-pressed=\"true\"]').textContent.includes('잔여 49석')",
        )
        .await;
    winner.shot("won").await;

    loser
        .wait(
            "the seat shown taken on the loser's map",
            &format!(
                "(() => {{ const s = document.querySelector('{target}'); \
                 return s.dataset.state === 'HELD' && s.getAttribute('aria-disabled') === 'true' \
                 && s.textContent.includes('선점') && s.getAttribute('aria-label').includes('선점'); }})()"
            ),
        )
        .await;
    assert_eq!(
        loser.run("return document.activeElement?.dataset.seatId ?? null;").await,
        serde_json::json!(seat_id.to_string()),
        "the map is redrawn in place: the seat the loser clicked keeps the focus"
    );
    // A taken seat still asks the server when clicked, and the fan is told why it failed.
    loser.run("document.getElementById('message').hidden = true;").await;
    loser.click(&target).await;
    let sentence = loser.wait_message("SEAT_UNAVAILABLE").await;
    assert!(
        sentence.contains("이미 다른 분이 선점했거나 판매된 좌석"),
        "the loser should read a sentence, not a code: {sentence:?}"
    );
    loser.shot("lost").await;
    ana.close().await;
    ben.close().await;
}

#[tokio::test]
async fn a_hold_whose_countdown_runs_out_gives_the_seat_back_to_the_map() {
    let _turn = ONE_SCENARIO_AT_A_TIME.lock().await;
    let server = TestServer::start_embedded(&[("SEAT_HOLD_SECONDS", "4")]).await;
    let fan = Fan::open(&server, "expiry", "fan").await;
    fan.join(server.uid(1)).await;
    fan.wait_admitted().await;
    let seat_id = fan.first_free_seat().await;
    let target = seat(seat_id);
    fan.click(&target).await;
    fan.wait_message("HELD").await;
    fan.wait(
        "a running countdown under 0:05",
        "!document.getElementById('hold').hidden && /^0:0[0-4]$/.test(document.getElementById('countdown').textContent)",
    )
    .await;
    fan.wait(
        "the held seat marked as mine",
        &format!("document.querySelector('{target}').dataset.mine === 'true'"),
    )
    .await;
    fan.shot("counting-down").await;

    let sentence = fan.wait_message("RESERVATION_EXPIRED").await;
    assert!(sentence.contains("선점 시간이 끝나"), "the hold's end should be a sentence: {sentence:?}");
    fan.wait(
        "the hold panel gone and the seat free again",
        &format!(
            "document.getElementById('hold').hidden && document.querySelector('{target}').dataset.state === 'FREE' \
             && document.querySelector('{target}').getAttribute('aria-disabled') === 'false'"
        ),
    )
    .await;
    fan.shot("expired").await;
    fan.close().await;
}

#[tokio::test]
async fn the_page_speaks_korean_first_and_remembers_english_once_chosen() {
    let _turn = ONE_SCENARIO_AT_A_TIME.lock().await;
    let server = TestServer::start_embedded(&[]).await;
    let fan = Fan::open(&server, "language", "fan").await;
    assert_eq!(fan.attr("html", "lang").await.as_deref(), Some("ko"));
    assert_eq!(fan.text("#join-heading").await, "입장하기");
    fan.shot("korean").await;

    fan.click("#lang").await;
    fan.wait("English labels", "document.getElementById('join-heading').textContent === 'Join'").await;
    fan.click("#join-submit").await;
    let sentence = fan.wait_message("VALIDATION_ERROR").await;
    assert_eq!(sentence, "Please check what you entered.");

    fan.visit().await;
    fan.wait("English after a reload", "document.documentElement.lang === 'en'").await;
    assert_eq!(fan.text("#join-heading").await, "Join");
    fan.shot("english").await;
    fan.click("#lang").await;
    fan.wait("Korean again", "document.getElementById('join-heading').textContent === '입장하기'").await;
    fan.close().await;
}

#[tokio::test]
async fn a_fan_whose_live_stream_is_refused_polls_instead_and_is_still_let_in() {
    let _turn = ONE_SCENARIO_AT_A_TIME.lock().await;
    let settings = [("QUEUE_MAX_ACTIVE", "1"), ("STREAMS_PER_INSTANCE", "1")];
    let server = TestServer::start_embedded(&settings).await;
    let (first, second) = (server.uid(1), server.uid(2));
    let first_token = server.active_user(first).await;
    let second_token = TestServer::token_of(&server.issue_token(second).await);
    // The instance's only stream, held open by the second fan's client.
    let stream = server
        .client
        .get(server.url("/api/token/stream"))
        .bearer_auth(&second_token)
        .send()
        .await
        .expect("open the second fan's stream");
    assert_eq!(stream.status().as_u16(), 200, "the second fan's stream should open");

    let fan = Fan::open(&server, "polling", "third").await;
    fan.join(server.uid(3)).await;
    fan.wait_message("STREAMS_FULL").await;
    fan.wait(
        "position 2, checked by polling",
        "document.getElementById('queue-mode').dataset.mode === 'polling' \
         && document.getElementById('position').textContent === '2'",
    )
    .await;
    fan.run("window.stayedOnThePage = true;").await;
    fan.shot("polling").await;

    buy_a_seat(&server, &first_token, first).await;
    server.wait_until_active(&second_token).await;
    drop(stream);
    buy_a_seat(&server, &second_token, second).await;
    fan.wait_admitted().await;
    assert_eq!(
        fan.run("return window.stayedOnThePage === true;").await,
        true,
        "the polling fan's page was reloaded instead of moving on by itself"
    );
    fan.shot("admitted").await;
    fan.close().await;
}

#[tokio::test]
async fn with_identity_tokens_a_fan_joins_with_the_token_alone_and_a_forged_one_is_explained() {
    let _turn = ONE_SCENARIO_AT_A_TIME.lock().await;
    let secret = "the-identity-providers-test-secret-0123456789";
    let settings = [("AUTH_MODE", "jwt"), ("AUTH_JWT_SECRET", secret), ("AUTH_JWT_AUDIENCE", "frontrow")];
    let server = TestServer::start_embedded(&settings).await;
    let sign = |secret: &str| {
        let now = support::now_unix() as i64;
        let claims =
            serde_json::json!({ "sub": server.uid(7).to_string(), "aud": "frontrow", "exp": now + 600 });
        let key = jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()).expect("an HMAC key");
        let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        jsonwebtoken::encode(&header, &claims, &key).expect("sign the identity token")
    };
    let fan = Fan::open(&server, "identity", "fan").await;
    fan.type_into("#identity", &sign("another-providers-secret-0123456789abcdef")).await;
    fan.click("#join-submit").await;
    let sentence = fan.wait_message("IDENTITY_INVALID").await;
    assert!(sentence.contains("본인 확인 토큰이 올바르지 않습니다"), "a sentence, not a code: {sentence:?}");
    fan.shot("forged").await;

    fan.run("document.getElementById('identity').value = '';").await;
    fan.type_into("#identity", &sign(secret)).await;
    fan.click("#join-submit").await;
    fan.wait_admitted().await;
    fan.type_into("#charge-amount", "1000").await;
    fan.click("#charge").await;
    fan.wait_message("CHARGED").await;
    fan.shot("joined").await;
    fan.close().await;
}
