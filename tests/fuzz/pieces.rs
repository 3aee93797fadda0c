//! Strategies for the parts of a malformed request: headers, query strings, path ids, methods
//! and paths.

use proptest::prelude::*;
use proptest::sample::select;
use reqwest::Method;

use crate::bodies::garbage_text;

/// The methods of RFC 9110 (+ PATCH); the metrics may only ever label these.
pub const STANDARD_METHODS: &[&str] =
    &["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"];

/// Content types that all mean JSON, and none at all: the body decides.
pub const JSON_TYPES: &[&str] = &[
    "application/json",
    "application/json; charset=utf-8",
    "application/json; charset=utf-16",
    "APPLICATION/JSON",
    "application/problem+json",
    "",
];
/// Content types that are not JSON: refused whatever the body.
#[rustfmt::skip]
pub const WRONG_TYPES: &[&[u8]] = &[
    b"text/plain", b"text/plain; charset=utf-8", b"application/x-www-form-urlencoded",
    b"multipart/form-data; boundary=XyZ", b"application/xml", b"text/json", b"text/html",
    b"application/x-json", b"application/jsonx", b"json", b"*/*", b"application/*",
    b"application/octet-stream", b"application /json", b"", b";", b"application/js\xc3\xb6n",
    b"application/json\xff",
];

/// A UUID-shaped string (never an issued token).
fn fake_uuid() -> impl Strategy<Value = String> {
    any::<u128>().prop_map(|n| {
        let hex = format!("{:032x}", n);
        format!("{}-{}-4{}-{}-{}", &hex[..8], &hex[8..12], &hex[13..16], &hex[16..20], &hex[20..])
    })
}

/// `Authorization` values that never name an active token. `None` = no header at all.
pub fn odd_authorization(token: &str) -> BoxedStrategy<Option<Vec<u8>>> {
    let fixed: Vec<Vec<u8>> = [
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
        "Bearer  ".to_owned(),
        "Bearer \t ".to_owned(),
        "Basic dXNlcjpwYXNz".to_owned(),
        format!("Token {token}"),
        token.to_owned(),
        format!("Bearer{token}"),
        format!("Bearer {token}x"),
        format!("Bearer {}", &token[..token.len() - 1]),
        format!("Bearer {}", "A".repeat(8_192)),
        format!("Bearer {token},Bearer {token}"),
        "Bearer ' OR 1=1 --".to_owned(),
        "Bearer 00000000-0000-0000-0000-000000000000".to_owned(),
    ]
    .map(String::into_bytes)
    .to_vec();
    let invalid_utf8 = [format!("Bearer {token}").as_bytes(), b"\xff\xfe"].concat();
    prop_oneof![
        2 => Just(None),
        14 => select(fixed).prop_map(Some),
        1 => Just(Some(invalid_utf8)),
        2 => (fake_uuid(), any::<bool>()).prop_map(|(uuid, lower)| {
            Some(format!("{} {uuid}", if lower { "bearer" } else { "Bearer" }).into_bytes())
        }),
        1 => garbage_text(1..61).prop_map(|text| {
            let visible: String = text.chars().filter(|c| !c.is_control()).collect();
            Some(format!("Bearer {visible}!").into_bytes())
        }),
    ]
    .boxed()
}

/// Path segments that are not a concert id.
pub fn bad_path_id() -> impl Strategy<Value = String> {
    #[rustfmt::skip]
    const FIXED: &[&str] = &[
        "abc", "1.5", "1e3", "0x1", "99999999999999999999", "-99999999999999999999", "9223372036854775808",
        "9223372036854775807", "0", "-1", "%ZZ", "%00", "%FF", "%E2%98%83", "%20", "1%20", "%2B1", "1;2",
        "1,2", "%D9%A1", "null", "true", "%7B%7D", "%5B1%5D", "concert", "-0x1",
    ];
    prop_oneof![
        17 => select(FIXED).prop_map(str::to_owned),
        3 => (0..4_000usize).prop_map(|n| format!("z{}", "9".repeat(n))),
    ]
}

/// Query strings of `GET /api/balance` that are not `userId=<the user>`, and the one status
/// each must get: 400 when it names no user id, 403 when it names another user.
pub fn bad_balance_query(user: i64) -> impl Strategy<Value = (String, &'static [u16])> {
    #[rustfmt::skip]
    const MALFORMED_USER: &[&str] = &[
        "", "userId=", "userId=abc", "userId=1.5", "userId=99999999999999999999",
        "userId=-99999999999999999999", "userId=9223372036854775808", "userId=0x1", "userId=1e3",
        "userId=%D9%A1", "userId=true", "userId=null", "userId=%ZZ", "userId=%FF", "%ZZ", "&&&", "=",
        "==&=", "userId={u}&userId={u}", "userid={u}", "user_id={u}", "userId[]={u}", "userId={u}%00",
        "userId={u}abc", "userId=+{u}", "userId={u}.0",
    ];
    let malformed: Vec<String> = MALFORMED_USER
        .iter()
        .map(|query| query.replace("{u}", &user.to_string()))
        .chain([format!("userId={}", "9".repeat(4_000))])
        .collect();
    let someone_else = vec!["userId=0".to_owned(), "userId=-1".to_owned(), format!("userId={}", user + 1)];
    prop_oneof![
        4 => select(malformed).prop_map(|query| (query, &[400u16][..])),
        1 => select(someone_else).prop_map(|query| (query, &[403u16][..])),
    ]
}

/// Query strings of `available-seats` that select no performance, and the one status each must
/// get: 400 when malformed or not a real `YYYY-MM-DD` date, 404 when well-formed but naming no
/// performance.
pub fn bad_seats_query() -> impl Strategy<Value = (String, &'static [u16])> {
    #[rustfmt::skip]
    const MALFORMED: &[&str] = &[
        "", "date=", "date=2024-13-01", "date=2024-02-30", "date=2023-02-29", "date=tomorrow",
        "date=2024-1-1", "date=20240101", "date=2024-01-01T00:00:00Z", "date=%ZZ", "date=%FF%FE",
        "date=%EF%BC%92%EF%BC%90%EF%BC%92%EF%BC%94-01-01", "date=2024-01-01&date=2024-01-02",
        "date=0000-00-00", "date=-2024-01-01", "date=%2B2024-01-01", "date=+2024-01-01",
        "date=2024-01-01%00", "scheduleId=", "scheduleId=abc", "scheduleId=1.0", "scheduleId=1e2",
        "scheduleId=99999999999999999999", "scheduleId=-99999999999999999999", "scheduleId=1&scheduleId=1",
        "scheduleId=%ZZ", "schedule_id=1", "ScheduleId=1", "%ZZ", "&", "=",
    ];
    const NAMING_NOTHING: &[&str] = &[
        "date=9999-12-31",
        "date=1970-01-01",
        "scheduleId=0",
        "scheduleId=-1",
        "scheduleId=9223372036854775807",
    ];
    prop_oneof![
        7 => select(MALFORMED).prop_map(|query| (query.to_owned(), &[400u16][..])),
        2 => select(NAMING_NOTHING).prop_map(|query| (query.to_owned(), &[404u16][..])),
        1 => (0..4_000usize).prop_map(|n| (format!("date={}", "2".repeat(n)), &[400u16][..])),
    ]
}

/// A method no route of `path` has: standard, lower-case or invented.
pub fn wrong_method(allowed: &'static [&'static str]) -> impl Strategy<Value = Method> {
    const ODD: &[&str] = &["get", "post", "Get", "PURGE", "LOCK", "PROPFIND", "M-SEARCH", "LINK", "X-FUZZ"];
    prop_oneof![
        1 => select(STANDARD_METHODS).prop_map(str::to_owned),
        1 => select(ODD).prop_map(str::to_owned),
        2 => "[A-Z]{3,10}",
    ]
    // CONNECT changes the request form; HEAD of an allowed GET is not "wrong".
    .prop_filter("a method the route has", move |name| {
        name != "CONNECT"
            && !allowed.contains(&name.as_str())
            && !(name == "HEAD" && allowed.contains(&"GET"))
    })
    .prop_map(|name| Method::from_bytes(name.as_bytes()).expect("a valid method token"))
}

/// Paths that no route serves (`/` is the fans' page).
pub fn unknown_path() -> impl Strategy<Value = String> {
    #[rustfmt::skip]
    const FIXED: &[&str] = &[
        "/api", "/api/", "/api/token/", "/api/concerts/", "/api/concerts/1", "/API/concerts",
        "/api/Token", "/api/1", "/api/1/", "/api/1/available-dates/", "/api/1/reserve-seat/1",
        "/api/1/available", "/api/1/2/3", "/api/token%00", "/api/concerts;x", "/api/concerts%2F",
        "/index.html", "/favicon.ico", "/.env", "/wp-login.php", "/health/", "/metrics/",
        "/%2e%2e/%2e%2e/etc/passwd", "//", "/api//available-dates",
    ];
    let piece = prop_oneof![
        2 => any::<u8>().prop_map(|b| format!("%{b:02X}")),
        2 => select(&["é", "漢", "🎫", "\u{202e}", "-", "_", "~"][..]).prop_map(str::to_owned),
        6 => "[a-z]",
    ];
    let segment = prop::collection::vec(piece, 0..12).prop_map(|pieces| format!("/z{}", pieces.concat()));
    prop_oneof![
        3 => select(FIXED).prop_map(str::to_owned),
        2 => prop::collection::vec(segment, 1..5).prop_map(|segments| segments.concat()),
    ]
}
