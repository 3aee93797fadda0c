//! The strictness decisions of the contract (docs/api.md, "Input is strict"), one request
//! each: what is refused, and what looks odd but is taken.

use reqwest::Method;
use serde_json::json;

use crate::metric_methods;
use crate::support::TestServer;

/// What every charge that is taken adds to the balance.
const AMOUNT: i64 = 100;

/// A charge's `(what, Content-Type, body)` and its answer: `None` when it is taken.
type Case = (String, Option<Vec<u8>>, Vec<u8>, Option<(u16, &'static str)>);

fn charges(user: i64) -> Vec<Case> {
    let valid = json!({ "userId": user, "amount": AMOUNT }).to_string();
    let padded = |size: usize| format!("{{{}{}", " ".repeat(size - valid.len()), &valid[1..]).into_bytes();
    let json = Some(b"application/json".to_vec());
    let refused = Some((400, "VALIDATION_ERROR"));
    let case =
        |what: &str, ty: &Option<Vec<u8>>, body: Vec<u8>, answer| (what.to_owned(), ty.clone(), body, answer);
    let mut cases = Vec::new();
    #[rustfmt::skip]
    let wrong_types: [&[u8]; 7] = [b"text/plain", b"application/x-www-form-urlencoded", b"multipart/form-data; boundary=x",
        b"application/xml", b"text/json", b"", b"application/js\xc3\xb6n"];
    for ty in wrong_types {
        cases.push(case("a type that is not JSON", &Some(ty.to_vec()), valid.clone().into_bytes(), refused));
    }
    for ty in [&b"application/json; charset=utf-8"[..], b"Application/JSON", b"application/merge-patch+json"]
    {
        cases.push(case("a type that means JSON", &Some(ty.to_vec()), valid.clone().into_bytes(), None));
    }
    cases.push(case("no Content-Type at all", &None, valid.clone().into_bytes(), None));
    #[rustfmt::skip]
    let past_64_bits = [(user.to_string(), "9223372036854775808"), (user.to_string(), "-9223372036854775809"),
        (user.to_string(), "18446744073709551616"), ("9223372036854775808".to_owned(), "100"), ("-9223372036854775809".to_owned(), "100")];
    for (user_id, amount) in past_64_bits {
        let body = format!(r#"{{"userId": {user_id}, "amount": {amount}}}"#).into_bytes();
        cases.push(case("an integer past 64 bits", &json, body, refused));
    }
    let not_objects = [format!("[{user}, {AMOUNT}]"), format!("[{valid}]"), "null".into(), "100".into()];
    for body in not_objects {
        cases.push(case("a body that is not an object", &json, body.into_bytes(), refused));
    }
    let latin1 = [&valid.as_bytes()[..valid.len() - 1], b",\"note\": \"caf\xe9\"}"].concat();
    cases.push(case("Latin-1 in an unknown field", &json, latin1, refused));
    cases.push(case("a stray byte", &json, b"{\"userId\": 1\xff, \"amount\": 100}".to_vec(), refused));
    cases.push(case("a body of exactly 16 KiB", &json, padded(16 * 1024), None));
    for size in [16 * 1024 + 1, 100 * 1024] {
        cases.push(case("a body over 16 KiB", &json, padded(size), Some((413, "PAYLOAD_TOO_LARGE"))));
    }
    let unknown = json!({ "userId": user, "amount": AMOUNT, "currency": "KRW", "note": "세뱃돈 🎁", "nested": {"a": [1]} });
    cases.push(case("unknown fields", &json, unknown.to_string().into_bytes(), None));
    cases
}

#[tokio::test]
async fn each_strictness_decision_of_the_contract_holds() {
    let s = TestServer::start(&[("QUEUE_MAX_ACTIVE", "0")]).await;
    let user = s.uid(1);
    let token = s.active_user(user).await;
    let mut taken = 0;
    for (what, content_type, body, answer) in charges(user) {
        let mut request = s.client.post(s.url("/api/charge")).bearer_auth(&token).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let reply = s.send(request).await;
        match answer {
            None => {
                taken += 1;
                assert_eq!(reply.ok(&what)["currentBalance"].as_i64(), Some(taken * AMOUNT), "{what}");
            }
            Some((status, code)) => reply.assert_error(status, code, &what),
        }
    }
    let huge = format!("{{{}}}", " ".repeat(16 * 1024));
    let reply = s.post_raw("/api/charge", None, &huge).await;
    reply.assert_error(413, "PAYLOAD_TOO_LARGE", "too large, before the token");
    for body in [r#"{"userId": 9223372036854775808}"#, r#"{"userId": -9223372036854775809}"#] {
        s.post_raw("/api/token", None, body).await.assert_error(400, "VALIDATION_ERROR", body);
    }
    let (past_64_bits, signed) =
        ("/api/1/available-seats?scheduleId=99999999999999999999", format!("/api/balance?userId=%2B{user}"));
    for path in ["/api/balance?userId=9223372036854775808", past_64_bits, &signed] {
        s.get(path, Some(&token)).await.assert_error(400, "VALIDATION_ERROR", path);
    }
    for path in ["/api/99999999999999999999/available-dates", "/api/+1/available-dates"] {
        s.get(path, Some(&token)).await.assert_error(404, "NOT_FOUND", "a path id past 64 bits or signed");
    }
    assert_eq!(s.balance_of(&token, user).await, taken * AMOUNT, "only the charges that were taken count");
}

#[tokio::test]
async fn invented_methods_are_405_json_and_leave_the_metrics_labels_alone() {
    let s = TestServer::start(&[]).await;
    let paths = [
        ("/api/concerts", 405, "METHOD_NOT_ALLOWED"),
        ("/health", 405, "METHOD_NOT_ALLOWED"),
        ("/nowhere", 404, "NOT_FOUND"),
    ];
    for (i, (path, status, code)) in paths.into_iter().enumerate() {
        let method = Method::from_bytes(format!("FUZZ{i}X").as_bytes()).expect("a method");
        s.send(s.client.request(method, s.url(path))).await.assert_error(status, code, path);
    }
    let reply = s.send(s.client.request(Method::DELETE, s.url("/api/concerts"))).await;
    reply.assert_error(405, "METHOD_NOT_ALLOWED", "DELETE /api/concerts");
    let methods = metric_methods(&s).await;
    assert!(methods.contains("DELETE"), "standard methods are still counted: {methods:?}");
    assert!(!methods.iter().any(|m| m.starts_with("FUZZ")), "invented methods became labels: {methods:?}");
}
