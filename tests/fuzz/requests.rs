//! Strategies for whole malformed requests aimed at the real targets of a running server, each
//! with the statuses the contract (docs/api.md) allows it.

use std::fmt;

use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::Union;
use reqwest::Method;

use crate::bodies::{fields_of, form, invalid_body, object};
use crate::pieces::{
    JSON_TYPES, WRONG_TYPES, bad_balance_query, bad_path_id, bad_seats_query, odd_authorization,
    unknown_path, wrong_method,
};

/// The real targets the requests aim at, so that a wrongly accepted request would change state.
#[derive(Debug, Clone)]
pub struct Target {
    pub user: i64,
    pub token: String,
    /// A concert with the free seat below.
    pub concert: i64,
    /// A free seat of `concert`: a valid hold body.
    pub free_seat: i64,
    /// The user's held reservation and its price: a valid payment body.
    pub reservation: i64,
    pub price: i64,
}

/// One generated request and what it must get.
#[derive(Clone, Debug)]
pub struct Fuzz {
    pub category: &'static str,
    pub method: Method,
    pub path: String,
    pub headers: Vec<(&'static str, Vec<u8>)>,
    pub body: Vec<u8>,
    /// The statuses allowed; empty = any 4xx.
    pub expect: &'static [u16],
}

impl fmt::Display for Fuzz {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {} {}", self.category, self.method, self.path)?;
        for (name, value) in &self.headers {
            let value = String::from_utf8_lossy(value);
            let shown: String = value.chars().take(80).collect();
            let more = if value.chars().count() > 80 { "…" } else { "" };
            write!(f, "\n    {name}: {shown:?}{more}")?;
        }
        let head = &self.body[..self.body.len().min(200)];
        write!(f, "\n    body ({} bytes): {:?}", self.body.len(), String::from_utf8_lossy(head))
    }
}

/// A POST endpoint: its path, the fields of a body that would succeed, and out-of-range values.
struct Endpoint {
    path: String,
    valid: Vec<(&'static str, i64)>,
    out_of_range: Vec<i64>,
}

impl Endpoint {
    fn valid_body(&self) -> Vec<u8> {
        object(&fields_of(&self.valid)).into_bytes()
    }
}

/// The gated POST endpoints, aimed at the real targets.
fn post_endpoints(t: &Target) -> [Endpoint; 3] {
    let endpoint = |path: String, valid, out_of_range| Endpoint { path, valid, out_of_range };
    [
        endpoint(
            "/api/charge".to_owned(),
            vec![("userId", t.user), ("amount", 100_000)],
            vec![0, -1, -100_000, 10_000_001, i64::MAX, i64::MIN],
        ),
        endpoint(
            "/api/pay".to_owned(),
            vec![("reservationId", t.reservation), ("paymentAmount", t.price)],
            vec![0, -1, i64::MIN],
        ),
        endpoint(
            format!("/api/{}/reserve-seat", t.concert),
            vec![("seatId", t.free_seat), ("userId", t.user)],
            vec![0, -1, i64::MIN, i64::MAX],
        ),
    ]
}

/// The answer the contract gives a gated body whose one field is out of its range: an
/// amount is 400 `VALIDATION_ERROR`, any `userId` but the token's own user 403 `FORBIDDEN`, a
/// reservation or seat id that names nothing 404 `NOT_FOUND`.
fn gated_out_of_range(field: &str) -> &'static [u16] {
    match field {
        "userId" => &[403],
        "amount" | "paymentAmount" => &[400],
        _ => &[404],
    }
}

/// Every route with the methods it has.
fn routes(t: &Target) -> Vec<(String, &'static [&'static str])> {
    vec![
        ("/api/token".to_owned(), &["GET", "POST"][..]),
        ("/api/token/stream".to_owned(), &["GET"]),
        ("/api/concerts".to_owned(), &["GET"]),
        ("/api/charge".to_owned(), &["POST"]),
        (format!("/api/balance?userId={}", t.user), &["GET"]),
        ("/api/pay".to_owned(), &["POST"]),
        (format!("/api/{}/available-dates", t.concert), &["GET"]),
        (format!("/api/{}/available-seats?scheduleId=1", t.concert), &["GET"]),
        (format!("/api/{}/reserve-seat", t.concert), &["POST"]),
        ("/health".to_owned(), &["GET"]),
        ("/ready".to_owned(), &["GET"]),
        ("/metrics".to_owned(), &["GET"]),
        ("/api-docs/openapi.json".to_owned(), &["GET"]),
        ("/docs/".to_owned(), &["GET"]),
    ]
}

/// One request of a category: `method`, `path`, `headers` and `body`, and the statuses it may get.
fn fuzz(
    category: &'static str,
    method: Method,
    path: String,
    headers: Vec<(&'static str, Vec<u8>)>,
    body: Vec<u8>,
    expect: &'static [u16],
) -> Fuzz {
    Fuzz { category, method, path, headers, body, expect }
}

/// The headers with `authorization` added when there is one.
fn with_auth(
    mut headers: Vec<(&'static str, Vec<u8>)>,
    auth: Option<Vec<u8>>,
) -> Vec<(&'static str, Vec<u8>)> {
    headers.extend(auth.map(|auth| ("authorization", auth)));
    headers
}

/// Every malformed request of a run, each in proportion to its weight: every one must be refused.
pub fn request(t: &Target) -> BoxedStrategy<Fuzz> {
    let bearer = format!("Bearer {}", t.token).into_bytes();
    let json = || ("content-type", b"application/json".to_vec());
    let per_endpoint = |each: &dyn Fn(Endpoint) -> BoxedStrategy<Fuzz>| {
        Union::new(post_endpoints(t).into_iter().map(each)).boxed()
    };

    // Invalid bodies on the gated POST endpoints, with the right token.
    let invalid = per_endpoint(&|e: Endpoint| {
        let bearer = bearer.clone();
        (invalid_body(&e.valid, &e.out_of_range, gated_out_of_range), select(JSON_TYPES))
            .prop_map(move |((body, expect), content_type)| {
                let mut headers = vec![("authorization", bearer.clone())];
                if !content_type.is_empty() {
                    headers.push(("content-type", content_type.as_bytes().to_vec()));
                }
                fuzz("invalid body", Method::POST, e.path.clone(), headers, body, expect)
            })
            .boxed()
    });
    // Invalid bodies on POST /api/token (no token needed; any Authorization is ignored): a user
    // id that is no id is 400 there.
    let token_body = (
        invalid_body(&[("userId", t.user + 1_000)], &[0, -1, i64::MIN], |_| &[400]),
        odd_authorization(&t.token),
    )
        .prop_map(move |((body, expect), auth)| {
            let headers = with_auth(vec![json()], auth);
            fuzz("invalid token body", Method::POST, "/api/token".to_owned(), headers, body, expect)
        });
    // A valid body (one that would succeed, or its form encoding) under a Content-Type that is not JSON.
    let wrong_type = per_endpoint(&|e: Endpoint| {
        let bearer = bearer.clone();
        let bodies =
            prop_oneof![7 => Just(e.valid_body()), 3 => Just(form(&fields_of(&e.valid)).into_bytes())];
        (bodies, select(WRONG_TYPES))
            .prop_map(move |(body, content_type)| {
                let headers =
                    vec![("authorization", bearer.clone()), ("content-type", content_type.to_vec())];
                fuzz("wrong content type", Method::POST, e.path.clone(), headers, body, &[400])
            })
            .boxed()
    });
    // A valid body with an Authorization that names no active token.
    let odd_post = per_endpoint(&|e: Endpoint| {
        odd_authorization(&t.token)
            .prop_map(move |auth| {
                let headers = with_auth(vec![json()], auth);
                fuzz(
                    "odd authorization (POST)",
                    Method::POST,
                    e.path.clone(),
                    headers,
                    e.valid_body(),
                    &[401],
                )
            })
            .boxed()
    });
    // The gated and the token-status GET endpoints with an odd Authorization.
    let gets = vec![
        "/api/token".to_owned(),
        "/api/token/stream".to_owned(),
        "/api/concerts".to_owned(),
        format!("/api/{}/available-dates", t.concert),
        format!("/api/{}/available-seats?scheduleId=1", t.concert),
        format!("/api/balance?userId={}", t.user),
    ];
    let odd_get = (select(gets), odd_authorization(&t.token)).prop_map(|(path, auth)| {
        fuzz("odd authorization (GET)", Method::GET, path, with_auth(vec![], auth), vec![], &[401])
    });
    // Bad query strings.
    let concert = t.concert;
    let bad_query = prop_oneof![
        bad_balance_query(t.user).prop_map(|(query, expect)| (format!("/api/balance?{query}"), expect)),
        bad_seats_query()
            .prop_map(move |(query, expect)| (format!("/api/{concert}/available-seats?{query}"), expect)),
    ]
    .prop_map({
        let bearer = bearer.clone();
        move |(path, expect)| {
            fuzz("bad query", Method::GET, path, vec![("authorization", bearer.clone())], vec![], expect)
        }
    });
    // Path ids that are not ids, on every route that has one; a valid body for the path's
    // concert would be a hold: the id must stop it.
    let hold = object(&fields_of(&[("seatId", t.free_seat), ("userId", t.user)])).into_bytes();
    let bad_id = (bad_path_id(), 0..3u8).prop_map({
        let bearer = bearer.clone();
        move |(id, route)| {
            let (method, path, body) = match route {
                0 => (Method::GET, format!("/api/{id}/available-dates"), vec![]),
                1 => (Method::GET, format!("/api/{id}/available-seats?scheduleId=1"), vec![]),
                _ => (Method::POST, format!("/api/{id}/reserve-seat"), hold.clone()),
            };
            fuzz("bad path id", method, path, vec![("authorization", bearer.clone()), json()], body, &[404])
        }
    });
    // Wrong methods on every route, with a valid body of a POST endpoint.
    let bodies: Vec<Vec<u8>> = post_endpoints(t).iter().map(Endpoint::valid_body).collect();
    let wrong = Union::new(routes(t).into_iter().map(|(path, allowed)| {
        let bearer = bearer.clone();
        (wrong_method(allowed), select(bodies.clone()))
            .prop_map(move |(method, body)| {
                let headers = vec![("authorization", bearer.clone()), json()];
                fuzz("wrong method", method, path.clone(), headers, body, &[404, 405])
            })
            .boxed()
    }));
    // Paths no route serves, with any method.
    let method = prop_oneof![Just(Method::GET), wrong_method(&[])];
    let unknown = (method, unknown_path()).prop_map({
        let bearer = bearer.clone();
        move |(method, path)| {
            fuzz("unknown path", method, path, vec![("authorization", bearer.clone())], vec![], &[404, 405])
        }
    });
    // Bodies over the 16 KiB limit, with or without a token; padding a valid body must not
    // sneak it through.
    let user = t.user;
    let oversized = per_endpoint(&|e: Endpoint| {
        let valid = e.valid_body();
        let auth = prop::option::weighted(0.8, Just(bearer.clone()));
        (16 * 1024 + 1..116 * 1024 + 1usize, 0..3u8, prop::collection::vec(any::<u8>(), 1..64), auth)
            .prop_map(move |(size, shape, junk, auth)| {
                let body = match shape {
                    0 => [&valid[..1], &vec![b' '; size], &valid[1..]].concat(),
                    1 => format!("{{\"userId\":{user},\"amount\":1,\"pad\":\"{}\"}}", "x".repeat(size))
                        .into_bytes(),
                    _ => junk.iter().copied().cycle().take(size).collect(),
                };
                let headers = with_auth(vec![json()], auth);
                fuzz("body over 16 KiB", Method::POST, e.path.clone(), headers, body, &[413])
            })
            .boxed()
    });
    prop_oneof![
        30 => invalid,
        5 => token_body,
        10 => wrong_type,
        10 => odd_post,
        7 => odd_get,
        10 => bad_query,
        8 => bad_id,
        10 => wrong,
        5 => unknown,
        5 => oversized,
    ]
    .boxed()
}
