//! The contract's endpoints as helpers on [`TestServer`]: waiting room, catalogue, money.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Reply, Seat, TestServer, seat_from_json};

/// How long `wait_until_active` polls before giving up.
const ACTIVATION_TIMEOUT: Duration = Duration::from_secs(15);

impl TestServer {
    // --- waiting room -------------------------------------------------------------------------

    /// `POST /api/token`, asserting 2xx and the response shape; returns the body.
    pub async fn issue_token(&self, user_id: i64) -> Value {
        let reply = self.post("/api/token", None, &json!({ "userId": user_id })).await;
        let body = reply.ok("POST /api/token").clone();
        assert_eq!(body["userId"].as_i64(), Some(user_id), "token issued for the wrong user: {body}");
        assert!(
            body["token"].as_str().is_some_and(|t| !t.is_empty()),
            "issued token is not a non-empty string: {body}"
        );
        let status = body["status"].as_str().unwrap_or("");
        assert!(status == "WAITING" || status == "ACTIVE", "a new token must be WAITING or ACTIVE: {body}");
        assert!(body["position"].is_i64(), "position must be an integer: {body}");
        assert!(body["estimatedWaitSeconds"].is_number(), "estimatedWaitSeconds missing: {body}");
        body
    }

    /// The token string of an issue or status body.
    pub fn token_of(body: &Value) -> String {
        body["token"].as_str().expect("the body has a \"token\" string").to_owned()
    }

    /// `GET /api/token`, asserting 200; returns the body.
    pub async fn token_status(&self, token: &str) -> Value {
        let reply = self.get("/api/token", Some(token)).await;
        assert_eq!(reply.status, 200, "GET /api/token should be 200, body {}", reply.text);
        reply.json
    }

    /// The `status` field of `GET /api/token`.
    pub async fn status_of(&self, token: &str) -> String {
        self.token_status(token).await["status"].as_str().unwrap_or("<missing>").to_owned()
    }

    /// Polls `GET /api/token` until ACTIVE (bounded); returns the last body.
    pub async fn wait_until_active(&self, token: &str) -> Value {
        let deadline = Instant::now() + ACTIVATION_TIMEOUT;
        loop {
            let body = self.token_status(token).await;
            match body["status"].as_str() {
                Some("ACTIVE") => return body,
                Some("WAITING") => {}
                _ => panic!("token {token} can never become ACTIVE: {body}"),
            }
            assert!(Instant::now() < deadline, "token not ACTIVE within {ACTIVATION_TIMEOUT:?}: {body}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Issues a token for `user_id` and waits until it is ACTIVE; returns the token.
    pub async fn active_user(&self, user_id: i64) -> String {
        let token = Self::token_of(&self.issue_token(user_id).await);
        self.wait_until_active(&token).await;
        token
    }

    // --- catalogue ----------------------------------------------------------------------------

    /// `GET /api/concerts`: the concert ids.
    pub async fn concert_ids(&self, token: &str) -> Vec<i64> {
        let reply = self.get("/api/concerts", Some(token)).await;
        let list = reply.ok("GET /api/concerts").as_array().expect("concerts is an array").clone();
        list.iter().map(|c| c["concertId"].as_i64().expect("concertId is an integer")).collect()
    }

    /// `GET /api/{concertId}/available-dates`, asserting 200 and an array.
    pub async fn dates(&self, token: &str, concert_id: i64) -> Vec<Value> {
        let reply = self.get(&format!("/api/{concert_id}/available-dates"), Some(token)).await;
        reply.ok("GET available-dates").as_array().expect("available-dates is an array").clone()
    }

    /// `GET /api/{concertId}/available-seats?scheduleId=N`, asserting 200 and an array.
    pub async fn seats(&self, token: &str, concert_id: i64, schedule_id: i64) -> Vec<Value> {
        let path = format!("/api/{concert_id}/available-seats?scheduleId={schedule_id}");
        let reply = self.get(&path, Some(token)).await;
        reply.ok("GET available-seats").as_array().expect("available-seats is an array").clone()
    }

    /// The free seats of one performance as [`Seat`]s.
    pub async fn free_seats(&self, token: &str, concert_id: i64, schedule_id: i64) -> Vec<Seat> {
        let seats = self.seats(token, concert_id, schedule_id).await;
        seats.iter().map(|s| seat_from_json(concert_id, schedule_id, s)).collect()
    }

    /// `n` free seats of the first performance (of the first concert that has one) with at
    /// least `n` free seats.
    pub async fn some_free_seats(&self, token: &str, n: usize) -> Vec<Seat> {
        for concert_id in self.concert_ids(token).await {
            for date in self.dates(token, concert_id).await {
                let schedule_id = date["scheduleId"].as_i64().expect("scheduleId is an integer");
                let seats = self.free_seats(token, concert_id, schedule_id).await;
                if seats.len() >= n {
                    return seats.into_iter().take(n).collect();
                }
            }
        }
        panic!("no performance of the demo catalogue has {n} free seats");
    }

    /// `availableSeats` of one performance in `available-dates` (0 when the date is gone).
    pub async fn available_count(&self, token: &str, concert_id: i64, schedule_id: i64) -> i64 {
        let dates = self.dates(token, concert_id).await;
        dates
            .iter()
            .find(|d| d["scheduleId"].as_i64() == Some(schedule_id))
            .map(|d| d["availableSeats"].as_i64().expect("availableSeats is an integer"))
            .unwrap_or(0)
    }

    // --- reservations and money ---------------------------------------------------------------

    /// `POST /api/{concertId}/reserve-seat`.
    pub async fn reserve(&self, token: &str, concert_id: i64, seat_id: i64, user_id: i64) -> Reply {
        let body = json!({ "seatId": seat_id, "userId": user_id });
        self.post(&format!("/api/{concert_id}/reserve-seat"), Some(token), &body).await
    }

    /// Holds `seat` for `user_id`, asserting success; returns the reservation body.
    pub async fn hold(&self, token: &str, user_id: i64, seat: &Seat) -> Value {
        let reply = self.reserve(token, seat.concert_id, seat.seat_id, user_id).await;
        let body = reply.ok("POST reserve-seat").clone();
        assert_eq!(body["reservationStatus"], "RESERVED", "a new hold is RESERVED: {body}");
        assert!(body["reservationId"].is_i64(), "reservationId is an integer: {body}");
        body
    }

    /// Holds one free seat for `user_id`; returns the seat and the reservation id.
    pub async fn held_seat(&self, token: &str, user_id: i64) -> (Seat, i64) {
        let seat = self.some_free_seats(token, 1).await.remove(0);
        let held = self.hold(token, user_id, &seat).await;
        (seat, held["reservationId"].as_i64().expect("reservationId"))
    }

    /// `POST /api/charge`.
    pub async fn charge(&self, token: &str, user_id: i64, amount: i64) -> Reply {
        self.post("/api/charge", Some(token), &json!({ "userId": user_id, "amount": amount })).await
    }

    /// `GET /api/balance?userId=`.
    pub async fn balance(&self, token: &str, user_id: i64) -> Reply {
        self.get(&format!("/api/balance?userId={user_id}"), Some(token)).await
    }

    /// `currentBalance` from `GET /api/balance`, asserting 200.
    pub async fn balance_of(&self, token: &str, user_id: i64) -> i64 {
        let reply = self.balance(token, user_id).await;
        let body = reply.ok("GET /api/balance");
        assert_eq!(body["userId"].as_i64(), Some(user_id), "balance of the wrong user: {body}");
        body["currentBalance"].as_i64().expect("currentBalance is an integer")
    }

    /// `POST /api/pay`.
    pub async fn pay(&self, token: &str, reservation_id: i64, amount: i64) -> Reply {
        let body = json!({ "reservationId": reservation_id, "paymentAmount": amount });
        self.post("/api/pay", Some(token), &body).await
    }

    // --- a fan's bookings ---------------------------------------------------------------------

    /// `GET /api/reservations`.
    pub async fn bookings(&self, token: &str) -> Reply {
        self.get("/api/reservations", Some(token)).await
    }

    /// `DELETE /api/reservations/{id}`.
    pub async fn release(&self, token: &str, reservation_id: i64) -> Reply {
        self.delete(&format!("/api/reservations/{reservation_id}"), Some(token)).await
    }
}
