//! Input hardening, black-box: twenty thousand generated malformed requests (bad bodies, content
//! types, bearer headers, query strings, path ids, methods and paths, oversized bodies) must each
//! get a 4xx JSON error from README's table, never a 5xx, and must change nothing. Plus a few
//! focused cases of the strictness decisions documented in the README.
//!
//! The generator is a seeded PRNG. Every run uses [`DEFAULT_SEED`], so a failure in CI replays
//! exactly (the requests, not their interleaving); `FRONTROW_FUZZ_SEED=<seed>` runs another
//! seed, and `FRONTROW_FUZZ_SEED=random` a fresh one, printed for its replay.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};
use support::{Reply, TestServer};

/// How many malformed requests one run generates.
const REQUESTS: usize = 20_000;
/// How many are in flight at once.
const CONCURRENCY: usize = 32;
/// Requests not started within this budget are skipped (and counted), so the test stays short
/// on a machine far slower than expected; at most [`MAX_SKIPPED`] of them may be.
const BUDGET: Duration = Duration::from_secs(60);
/// The most requests the budget may skip before the run counts as failed.
const MAX_SKIPPED: usize = REQUESTS / 10;
/// The seed of every run unless `FRONTROW_FUZZ_SEED` names another.
const DEFAULT_SEED: u64 = 0x6672_6f6e_7472_6f77;
/// Longer than this without an answer is a hang.
const PER_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// README's error codes with their statuses, plus the framework-level 405 and 413.
const CODES: &[(&str, u16)] = &[
    ("VALIDATION_ERROR", 400),
    ("TOKEN_MISSING", 401),
    ("TOKEN_INVALID", 401),
    ("TOKEN_EXPIRED", 401),
    ("QUEUE_NOT_ACTIVE", 403),
    ("FORBIDDEN", 403),
    ("NOT_FOUND", 404),
    ("METHOD_NOT_ALLOWED", 405),
    ("REQUEST_TIMEOUT", 408),
    ("SEAT_UNAVAILABLE", 409),
    ("RESERVATION_EXPIRED", 409),
    ("RESERVATION_NOT_PAYABLE", 409),
    ("IDEMPOTENCY_KEY_IN_PROGRESS", 409),
    ("PAYLOAD_TOO_LARGE", 413),
    ("INSUFFICIENT_BALANCE", 422),
    ("PAYMENT_AMOUNT_MISMATCH", 422),
    ("BALANCE_LIMIT_EXCEEDED", 422),
    ("IDEMPOTENCY_KEY_REUSED", 422),
    ("TOO_MANY_STREAMS", 429),
    ("STREAMS_FULL", 429),
];
/// The methods of RFC 9110 (+ PATCH); the metrics may only ever label these.
const STANDARD_METHODS: &[&str] =
    &["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"];

// --- a small deterministic PRNG ---------------------------------------------------------------

/// SplitMix64: tiny, fast, and good enough to drive a generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }

    /// `n` characters drawn from ASCII letters, digits, unicode, controls and escapes.
    fn garbage_text(&mut self, n: usize) -> String {
        const PIECES: &[&str] = &[
            "a", "Z", "0", "9", " ", "-", "_", "~", "é", "ß", "漢", "字", "🎫", "💸", "\u{202e}", "\u{200b}",
            "\u{feff}", "\u{fffd}", "\u{0}", "\u{1}", "\u{1b}", "\u{7f}", "\t", "\n", "\r", "\\", "\"", "'",
            "<", ">", "&", "%", "{", "}", "[", "]", ":", ",", "١", "𝟏", "Ａ",
        ];
        (0..n).map(|_| *self.pick(PIECES)).collect()
    }
}

// --- what is fuzzed -----------------------------------------------------------------------------

/// The real targets the fuzzer aims at, so that a wrongly accepted request would change state.
#[derive(Debug, Clone)]
struct Target {
    user: i64,
    token: String,
    /// A concert with the free seat below.
    concert: i64,
    /// A free seat of `concert`: a valid hold body.
    free_seat: i64,
    /// The user's held reservation and its price: a valid payment body.
    reservation: i64,
    price: i64,
}

/// One generated request and what it must get.
#[derive(Clone)]
struct Fuzz {
    category: &'static str,
    method: Method,
    path: String,
    headers: Vec<(&'static str, Vec<u8>)>,
    body: Vec<u8>,
    /// The statuses allowed; empty = any 4xx.
    expect: &'static [u16],
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

/// A JSON value that is not a valid 64-bit integer (or not valid JSON at all). Whole numbers
/// written as `1.0` or `1e3` are integers (JSON Schema's rule, the document's).
fn not_an_integer(rng: &mut Rng) -> String {
    const FIXED: &[&str] = &[
        "1.5",
        "1e-1",
        "1.0000000000000000001",
        "1e30",
        "-1e30",
        "\"100\"",
        "\"\"",
        "\"1\\u0000\"",
        "null",
        "true",
        "false",
        "[]",
        "[1]",
        "{}",
        "{\"value\":1}",
        "9223372036854775808",
        "-9223372036854775809",
        "18446744073709551616",
        "99999999999999999999999999999",
        "01",
        "+1",
        "0x10",
        "NaN",
        "Infinity",
        "-",
        "1_000",
        "١٠٠",
        "\"１２３\"",
        "\"𝟏\"",
    ];
    match rng.below(4) {
        0 => format!("\"{}\"", "9".repeat(1 + rng.below(5_000))),
        1 => {
            let n = 1 + rng.below(40);
            serde_json::to_string(&rng.garbage_text(n)).expect("a string encodes")
        }
        _ => (*rng.pick(FIXED)).to_owned(),
    }
}

/// `{"a": 1, "b": 2}` from `(key, raw JSON value)` pairs.
fn object(fields: &[(String, String)]) -> String {
    let inner: Vec<String> = fields.iter().map(|(k, v)| format!("{}:{v}", json!(k))).collect();
    format!("{{{}}}", inner.join(","))
}

/// The answer README's contract gives a body whose one field is out of its range: an amount is
/// 400 `VALIDATION_ERROR`; on `POST /api/token` (`gated` false) a user id that is no id is too;
/// on a gated endpoint any `userId` but the token's own user is 403 `FORBIDDEN`; a reservation
/// or seat id that names nothing is 404 `NOT_FOUND`.
fn out_of_range_status(field: &str, gated: bool) -> &'static [u16] {
    match field {
        "userId" if gated => &[403],
        "userId" | "amount" | "paymentAmount" => &[400],
        _ => &[404],
    }
}

/// A body that must be refused: `valid` is the body that would succeed, as fields. Returns the
/// body and the one status it must get.
fn invalid_body(
    rng: &mut Rng,
    valid: &[(&str, i64)],
    out_of_range: &[i64],
    gated: bool,
) -> (Vec<u8>, &'static [u16]) {
    let mut fields: Vec<(String, String)> =
        valid.iter().map(|(k, v)| ((*k).to_owned(), v.to_string())).collect();
    let valid_text = object(&fields);
    let which = rng.below(fields.len());
    let body = match rng.below(22) {
        // A mistyped field, sometimes next to unknown fields.
        0..=3 => {
            fields[which].1 = not_an_integer(rng);
            if rng.chance(30) {
                fields.push(("extra".to_owned(), json!(rng.garbage_text(10)).to_string()));
            }
            object(&fields)
        }
        // An id or amount outside its range (0, negative, past the limits).
        4 | 5 => {
            fields[which].1 = rng.pick(out_of_range).to_string();
            if rng.chance(30) {
                fields.push(("isAdmin".to_owned(), "true".to_owned()));
            }
            return (object(&fields).into_bytes(), out_of_range_status(&fields[which].0, gated));
        }
        // A missing field (unknown ones do not stand in for it).
        6 => {
            fields.remove(which);
            if rng.chance(50) {
                fields.push(("unknown".to_owned(), "1".to_owned()));
            }
            object(&fields)
        }
        // A misspelt key.
        7 => {
            let key = &fields[which].0;
            let misspelt = match rng.below(5) {
                0 => key.to_lowercase(),
                1 => key.to_uppercase(),
                2 => format!("{key} "),
                3 => format!("{key}\u{200b}"),
                _ => key
                    .chars()
                    .flat_map(|c| if c.is_uppercase() { vec!['_', c.to_ascii_lowercase()] } else { vec![c] })
                    .collect(),
            };
            fields[which].0 = if misspelt == *key { format!("{key}_") } else { misspelt };
            object(&fields)
        }
        // A key given twice.
        8 => {
            let again = fields[which].clone();
            fields.push(again);
            object(&fields)
        }
        // Truncated JSON.
        9 => valid_text[..rng.below(valid_text.len())].to_owned(),
        // Not an object: an array of the right values, a scalar, or nothing.
        10 => match rng.below(3) {
            0 => format!("[{}]", fields.iter().map(|(_, v)| v.as_str()).collect::<Vec<_>>().join(",")),
            1 => format!("[{valid_text}]"),
            _ => (*rng.pick(&["null", "0", "1", "true", "\"\"", "[]", " ", "\n", "", "\"{}\""])).to_owned(),
        },
        // Syntax that is not JSON.
        11 => {
            let mut text = match rng.below(6) {
                0 => valid_text.replace('"', "'"),
                1 => valid_text.replace('"', ""),
                2 => valid_text.replacen('}', ",}", 1),
                3 => format!("{valid_text} // comment"),
                4 => format!("/* c */{valid_text}"),
                _ => valid_text.replacen(':', "=", 1),
            };
            if text == valid_text {
                text.push('x');
            }
            text
        }
        // Trailing garbage after a valid object.
        12 => format!("{valid_text}{}", rng.pick(&["x", "{}", "\u{0}", ",", "]", "}", "null", "\u{1b}[0m"])),
        // Invalid UTF-8, NUL or a control character inserted into the valid body.
        13 | 14 => {
            let mut bytes = valid_text.into_bytes();
            let at = rng.below(bytes.len() + 1);
            const BAD: &[&[u8]] =
                &[b"\xff", b"\xc0\xaf", b"\x80", b"\xed\xa0\x80", b"\x00", b"\x01", b"\x1b", b"\xfe\xff"];
            let bad = *rng.pick(BAD);
            bytes.splice(at..at, bad.iter().copied());
            return (bytes, &[400]);
        }
        // Invalid UTF-8 hidden in an unknown field of an otherwise valid body.
        15 => {
            let mut bytes = valid_text.into_bytes();
            bytes.pop();
            bytes.extend_from_slice(b",\"note\":\"caf\xe9 \xff\xfe\"}");
            return (bytes, &[400]);
        }
        // A huge string where an integer belongs (still under the size limit).
        16 => {
            fields[which].1 = json!("x".repeat(1_000 + rng.below(12_000))).to_string();
            object(&fields)
        }
        // Deep nesting.
        17 => {
            let depth = 200 + rng.below(5_000);
            if rng.chance(50) {
                format!("{}{}", "[".repeat(depth), "]".repeat(depth))
            } else {
                fields[which].1 = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
                object(&fields)
            }
        }
        // Unicode look-alikes and escapes in values.
        18 => {
            fields[which].1 =
                (*rng.pick(&["\"١\"", "\"\\u0031\"", "\"1\\u0000\"", "\"\u{202e}1\"", "\"🎫\""])).to_owned();
            object(&fields)
        }
        // Random bytes.
        19 => {
            let n = rng.below(300);
            return (rng.bytes(n), &[400]);
        }
        // Random text.
        20 => {
            let n = rng.below(200);
            let text = rng.garbage_text(n);
            format!("{{{text}")
        }
        // Form-encoded fields where JSON belongs (whatever the Content-Type says).
        _ => fields.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&"),
    };
    (body.into_bytes(), &[400])
}

/// Content types that all mean JSON, and none at all: the body decides.
const JSON_TYPES: &[&str] = &[
    "application/json",
    "application/json; charset=utf-8",
    "application/json; charset=utf-16",
    "APPLICATION/JSON",
    "application/problem+json",
    "",
];
/// Content types that are not JSON: refused whatever the body.
const WRONG_TYPES: &[&[u8]] = &[
    b"text/plain",
    b"text/plain; charset=utf-8",
    b"application/x-www-form-urlencoded",
    b"multipart/form-data; boundary=XyZ",
    b"application/xml",
    b"text/json",
    b"text/html",
    b"application/x-json",
    b"application/jsonx",
    b"json",
    b"*/*",
    b"application/*",
    b"application/octet-stream",
    b"application /json",
    b"",
    b";",
    b"application/js\xc3\xb6n",
    b"application/json\xff",
];

/// `Authorization` values that never name an active token. `None` = no header at all.
fn odd_authorization(rng: &mut Rng, token: &str) -> Option<Vec<u8>> {
    let value: Vec<u8> = match rng.below(20) {
        0 | 1 => return None,
        2 => b"Bearer".to_vec(),
        3 => b"Bearer ".to_vec(),
        4 => b"Bearer  ".to_vec(),
        5 => b"Bearer \t ".to_vec(),
        6 => format!("bearer {}", fake_uuid(rng)).into_bytes(),
        7 => b"Basic dXNlcjpwYXNz".to_vec(),
        8 => format!("Token {token}").into_bytes(),
        9 => token.as_bytes().to_vec(),
        10 => format!("Bearer{token}").into_bytes(),
        11 => format!("Bearer {token}x").into_bytes(),
        12 => format!("Bearer {}", &token[..token.len() - 1]).into_bytes(),
        13 => format!("Bearer {}", fake_uuid(rng)).into_bytes(),
        14 => format!("Bearer {}", "A".repeat(8_192)).into_bytes(),
        15 => {
            let mut v = format!("Bearer {token}").into_bytes();
            v.extend_from_slice(b"\xff\xfe");
            v
        }
        16 => format!("Bearer {token},Bearer {token}").into_bytes(),
        17 => b"Bearer ' OR 1=1 --".to_vec(),
        18 => b"Bearer 00000000-0000-0000-0000-000000000000".to_vec(),
        _ => {
            let n = 1 + rng.below(60);
            let text = rng.garbage_text(n);
            let visible: String = text.chars().filter(|c| !c.is_control()).collect();
            format!("Bearer {visible}!").into_bytes()
        }
    };
    Some(value)
}

/// A POST endpoint: its path, the fields of a body that would succeed, and out-of-range values.
type Endpoint = (String, Vec<(&'static str, i64)>, Vec<i64>);

/// The gated POST endpoints, aimed at the real targets.
fn post_endpoints(t: &Target) -> Vec<Endpoint> {
    vec![
        (
            "/api/charge".to_owned(),
            vec![("userId", t.user), ("amount", 100_000)],
            vec![0, -1, -100_000, 10_000_001, i64::MAX, i64::MIN],
        ),
        (
            "/api/pay".to_owned(),
            vec![("reservationId", t.reservation), ("paymentAmount", t.price)],
            vec![0, -1, i64::MIN],
        ),
        (
            format!("/api/{}/reserve-seat", t.concert),
            vec![("seatId", t.free_seat), ("userId", t.user)],
            vec![0, -1, i64::MIN, i64::MAX],
        ),
    ]
}

/// Path segments that are not a concert id.
fn bad_path_id(rng: &mut Rng) -> String {
    const FIXED: &[&str] = &[
        "abc",
        "1.5",
        "1e3",
        "0x1",
        "99999999999999999999",
        "-99999999999999999999",
        "9223372036854775808",
        "9223372036854775807",
        "0",
        "-1",
        "%ZZ",
        "%00",
        "%FF",
        "%E2%98%83",
        "%20",
        "1%20",
        "%2B1",
        "1;2",
        "1,2",
        "%D9%A1",
        "null",
        "true",
        "%7B%7D",
        "%5B1%5D",
        "concert",
        "-0x1",
    ];
    if rng.chance(15) { format!("z{}", "9".repeat(rng.below(4_000))) } else { (*rng.pick(FIXED)).to_owned() }
}

/// Query strings of `GET /api/balance` that are not `userId=<the user>`, and the one status
/// each must get: 400 when it names no user id, 403 when it names another user.
fn bad_balance_query(rng: &mut Rng, user: i64) -> (String, &'static [u16]) {
    let malformed = [
        String::new(),
        "userId=".to_owned(),
        "userId=abc".to_owned(),
        "userId=1.5".to_owned(),
        "userId=99999999999999999999".to_owned(),
        "userId=-99999999999999999999".to_owned(),
        "userId=9223372036854775808".to_owned(),
        format!("userId={user}&userId={user}"),
        format!("userid={user}"),
        format!("user_id={user}"),
        format!("userId[]={user}"),
        "userId=%ZZ".to_owned(),
        "userId=%FF".to_owned(),
        format!("userId={user}%00"),
        format!("userId={user}abc"),
        format!("userId=+{user}"),
        format!("userId={user}.0"),
        "userId=0x1".to_owned(),
        "userId=1e3".to_owned(),
        "userId=%D9%A1".to_owned(),
        "userId=true".to_owned(),
        "userId=null".to_owned(),
        "%ZZ".to_owned(),
        "&&&".to_owned(),
        "=".to_owned(),
        "==&=".to_owned(),
        format!("userId={}", "9".repeat(4_000)),
    ];
    let someone_else = ["userId=0".to_owned(), "userId=-1".to_owned(), format!("userId={}", user + 1)];
    if rng.chance(20) {
        (rng.pick(&someone_else).clone(), &[403])
    } else {
        (rng.pick(&malformed).clone(), &[400])
    }
}

/// Query strings of `available-seats` that select no performance, and the one status each must
/// get: 400 when malformed or not a real `YYYY-MM-DD` date, 404 when well-formed but naming no
/// performance.
fn bad_seats_query(rng: &mut Rng) -> (String, &'static [u16]) {
    const MALFORMED: &[&str] = &[
        "",
        "date=",
        "date=2024-13-01",
        "date=2024-02-30",
        "date=2023-02-29",
        "date=tomorrow",
        "date=2024-1-1",
        "date=20240101",
        "date=2024-01-01T00:00:00Z",
        "date=%ZZ",
        "date=%FF%FE",
        "date=%EF%BC%92%EF%BC%90%EF%BC%92%EF%BC%94-01-01",
        "date=2024-01-01&date=2024-01-02",
        "date=0000-00-00",
        "date=-2024-01-01",
        "date=%2B2024-01-01",
        "date=+2024-01-01",
        "date=2024-01-01%00",
        "scheduleId=",
        "scheduleId=abc",
        "scheduleId=1.0",
        "scheduleId=1e2",
        "scheduleId=99999999999999999999",
        "scheduleId=-99999999999999999999",
        "scheduleId=1&scheduleId=1",
        "scheduleId=%ZZ",
        "schedule_id=1",
        "ScheduleId=1",
        "%ZZ",
        "&",
        "=",
    ];
    const NAMING_NOTHING: &[&str] = &[
        "date=9999-12-31",
        "date=1970-01-01",
        "scheduleId=0",
        "scheduleId=-1",
        "scheduleId=9223372036854775807",
    ];
    match rng.below(10) {
        0 => (format!("date={}", "2".repeat(rng.below(4_000))), &[400]),
        1 | 2 => ((*rng.pick(NAMING_NOTHING)).to_owned(), &[404]),
        _ => ((*rng.pick(MALFORMED)).to_owned(), &[400]),
    }
}

/// A method no route of `path` has: standard, lower-case or invented.
fn wrong_method(rng: &mut Rng, allowed: &[&str]) -> Method {
    loop {
        let name: String = match rng.below(4) {
            0 => (*rng.pick(STANDARD_METHODS)).to_owned(),
            1 => (*rng
                .pick(&["get", "post", "Get", "PURGE", "LOCK", "PROPFIND", "M-SEARCH", "LINK", "X-FUZZ"]))
            .to_owned(),
            _ => {
                let n = 3 + rng.below(8);
                (0..n).map(|_| char::from(b'A' + rng.below(26) as u8)).collect()
            }
        };
        // CONNECT changes the request form; HEAD of an allowed GET is not "wrong".
        if name == "CONNECT"
            || allowed.contains(&name.as_str())
            || (name == "HEAD" && allowed.contains(&"GET"))
        {
            continue;
        }
        return Method::from_bytes(name.as_bytes()).expect("a valid method token");
    }
}

/// Paths that no route serves.
fn random_path(rng: &mut Rng) -> String {
    const FIXED: &[&str] = &[
        "/",
        "/api",
        "/api/",
        "/api/token/",
        "/api/concerts/",
        "/api/concerts/1",
        "/API/concerts",
        "/api/Token",
        "/api/1",
        "/api/1/",
        "/api/1/available-dates/",
        "/api/1/reserve-seat/1",
        "/api/1/available",
        "/api/1/2/3",
        "/api/token%00",
        "/api/concerts;x",
        "/api/concerts%2F",
        "/index.html",
        "/favicon.ico",
        "/.env",
        "/wp-login.php",
        "/health/",
        "/metrics/",
        "/%2e%2e/%2e%2e/etc/passwd",
        "//",
        "/api//available-dates",
    ];
    if rng.chance(60) {
        return (*rng.pick(FIXED)).to_owned();
    }
    let segments = 1 + rng.below(4);
    let mut path = String::new();
    for _ in 0..segments {
        path.push_str("/z");
        for _ in 0..rng.below(12) {
            let piece = match rng.below(5) {
                0 => format!("%{:02X}", rng.below(256)),
                1 => (*rng.pick(&["é", "漢", "🎫", "\u{202e}", "-", "_", "~"])).to_owned(),
                _ => char::from(b'a' + rng.below(26) as u8).to_string(),
            };
            path.push_str(&piece);
        }
    }
    path
}

/// A UUID-shaped string from the generator (never an issued token).
fn fake_uuid(rng: &mut Rng) -> String {
    let (a, b) = (rng.next(), rng.next());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        (b >> 48) & 0xffff,
        b & 0xffff_ffff_ffff
    )
}

/// Generates one request of the run: every one must be refused.
fn generate(rng: &mut Rng, t: &Target) -> Fuzz {
    let bearer = format!("Bearer {}", t.token).into_bytes();
    let posts = post_endpoints(t);
    let valid_body = |fields: &[(&str, i64)]| {
        object(&fields.iter().map(|(k, v)| ((*k).to_owned(), v.to_string())).collect::<Vec<_>>()).into_bytes()
    };
    match rng.below(100) {
        // Invalid bodies on the gated POST endpoints, with the right token.
        0..=29 => {
            let (path, fields, out_of_range) = rng.pick(&posts).clone();
            let (body, expect) = invalid_body(rng, &fields, &out_of_range, true);
            let mut headers = vec![("authorization", bearer)];
            let content_type = rng.pick(JSON_TYPES);
            if !content_type.is_empty() {
                headers.push(("content-type", content_type.as_bytes().to_vec()));
            }
            Fuzz { category: "invalid body", method: Method::POST, path, headers, body, expect }
        }
        // Invalid bodies on POST /api/token (no token needed; any Authorization is ignored).
        30..=34 => {
            let (body, expect) = invalid_body(rng, &[("userId", t.user + 1_000)], &[0, -1, i64::MIN], false);
            let mut headers = vec![("content-type", b"application/json".to_vec())];
            if let Some(auth) = odd_authorization(rng, &t.token) {
                headers.push(("authorization", auth));
            }
            let path = "/api/token".to_owned();
            Fuzz { category: "invalid token body", method: Method::POST, path, headers, body, expect }
        }
        // A valid body (one that would succeed) under a Content-Type that is not JSON.
        35..=44 => {
            let (path, fields, _) = rng.pick(&posts).clone();
            let body = if rng.chance(70) {
                valid_body(&fields)
            } else {
                fields.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&").into_bytes()
            };
            let headers = vec![("authorization", bearer), ("content-type", rng.pick(WRONG_TYPES).to_vec())];
            Fuzz { category: "wrong content type", method: Method::POST, path, headers, body, expect: &[400] }
        }
        // A valid body with an Authorization that names no active token.
        45..=54 => {
            let (path, fields, _) = rng.pick(&posts).clone();
            let mut headers = vec![("content-type", b"application/json".to_vec())];
            if let Some(auth) = odd_authorization(rng, &t.token) {
                headers.push(("authorization", auth));
            }
            let body = valid_body(&fields);
            Fuzz {
                category: "odd authorization (POST)",
                method: Method::POST,
                path,
                headers,
                body,
                expect: &[401],
            }
        }
        // The gated and the token-status GET endpoints with an odd Authorization.
        55..=61 => {
            let paths = [
                "/api/token".to_owned(),
                "/api/token/stream".to_owned(),
                "/api/concerts".to_owned(),
                format!("/api/{}/available-dates", t.concert),
                format!("/api/{}/available-seats?scheduleId=1", t.concert),
                format!("/api/balance?userId={}", t.user),
            ];
            let path = rng.pick(&paths).clone();
            let headers = odd_authorization(rng, &t.token)
                .map(|auth| vec![("authorization", auth)])
                .unwrap_or_default();
            let body = Vec::new();
            Fuzz {
                category: "odd authorization (GET)",
                method: Method::GET,
                path,
                headers,
                body,
                expect: &[401],
            }
        }
        // Bad query strings.
        62..=71 => {
            let (path, expect) = if rng.chance(50) {
                let (query, expect) = bad_balance_query(rng, t.user);
                (format!("/api/balance?{query}"), expect)
            } else {
                let (query, expect) = bad_seats_query(rng);
                (format!("/api/{}/available-seats?{query}", t.concert), expect)
            };
            let headers = vec![("authorization", bearer)];
            let body = Vec::new();
            Fuzz { category: "bad query", method: Method::GET, path, headers, body, expect }
        }
        // Path ids that are not ids, on every route that has one.
        72..=79 => {
            let id = bad_path_id(rng);
            let headers = vec![("authorization", bearer), ("content-type", b"application/json".to_vec())];
            let (method, path, body) = match rng.below(3) {
                0 => (Method::GET, format!("/api/{id}/available-dates"), Vec::new()),
                1 => (Method::GET, format!("/api/{id}/available-seats?scheduleId=1"), Vec::new()),
                // A valid body for the path's concert would be a hold: the id must stop it.
                _ => (
                    Method::POST,
                    format!("/api/{id}/reserve-seat"),
                    valid_body(&[("seatId", t.free_seat), ("userId", t.user)]),
                ),
            };
            Fuzz { category: "bad path id", method, path, headers, body, expect: &[404] }
        }
        // Wrong methods on every route.
        80..=89 => {
            let routes: Vec<(String, &[&str])> = vec![
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
            ];
            let (path, allowed) = rng.pick(&routes).clone();
            let method = wrong_method(rng, allowed);
            let (_, fields, _) = rng.pick(&posts).clone();
            let headers = vec![("authorization", bearer), ("content-type", b"application/json".to_vec())];
            let body = valid_body(&fields);
            Fuzz { category: "wrong method", method, path, headers, body, expect: &[404, 405] }
        }
        // Paths no route serves, with any method.
        90..=94 => {
            let method = if rng.chance(50) { Method::GET } else { wrong_method(rng, &[]) };
            let headers = vec![("authorization", bearer)];
            let (path, body) = (random_path(rng), Vec::new());
            Fuzz { category: "unknown path", method, path, headers, body, expect: &[404, 405] }
        }
        // Bodies over the 16 KiB limit; padding a valid body must not sneak it through.
        _ => {
            let (path, fields, _) = rng.pick(&posts).clone();
            let size = 16 * 1024 + 1 + rng.below(100 * 1024);
            let body = match rng.below(3) {
                0 => {
                    let mut body = valid_body(&fields);
                    body.splice(1..1, std::iter::repeat_n(b' ', size));
                    body
                }
                1 => format!("{{\"userId\":{},\"amount\":1,\"pad\":\"{}\"}}", t.user, "x".repeat(size))
                    .into_bytes(),
                _ => rng.bytes(size),
            };
            let mut headers = vec![("content-type", b"application/json".to_vec())];
            if rng.chance(80) {
                headers.push(("authorization", bearer));
            }
            Fuzz { category: "body over 16 KiB", method: Method::POST, path, headers, body, expect: &[413] }
        }
    }
}

// --- sending and judging ----------------------------------------------------------------------

/// Sends one fuzz request; `Err` describes what went wrong with the answer.
async fn fire(s: &TestServer, fuzz: &Fuzz) -> Result<u16, String> {
    let mut headers = HeaderMap::new();
    for (name, value) in &fuzz.headers {
        let value =
            HeaderValue::from_bytes(value).map_err(|e| format!("generator bug: header value: {e}"))?;
        headers.append(HeaderName::from_static(name), value);
    }
    let request = s
        .client
        .request(fuzz.method.clone(), s.url(&fuzz.path))
        .headers(headers)
        .body(fuzz.body.clone())
        .timeout(PER_REQUEST_TIMEOUT);
    let response = request.send().await.map_err(|e| format!("no answer: {e:?}"))?;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let text = response.text().await.map_err(|e| format!("{status} with an unreadable body: {e}"))?;
    judge(fuzz, status, &content_type, &text).map(|()| status)
}

/// Every answer must be a 4xx (one of `expect` when given) with README's JSON error body.
fn judge(fuzz: &Fuzz, status: u16, content_type: &str, text: &str) -> Result<(), String> {
    let shown: String = text.chars().take(300).collect();
    if !(400..500).contains(&status) {
        return Err(format!("status {status}, not a 4xx; body {shown:?}"));
    }
    if !fuzz.expect.is_empty() && !fuzz.expect.contains(&status) {
        return Err(format!("status {status}, expected one of {:?}; body {shown:?}", fuzz.expect));
    }
    if fuzz.method == Method::HEAD {
        return Ok(()); // a HEAD answer has no body by definition
    }
    if !content_type.starts_with("application/json") {
        return Err(format!("{status} with Content-Type {content_type:?}, not JSON; body {shown:?}"));
    }
    let body: Value =
        serde_json::from_str(text).map_err(|_| format!("{status} with a non-JSON body {shown:?}"))?;
    let code = body.get("code").and_then(Value::as_str).unwrap_or_default();
    let message = body.get("message").and_then(Value::as_str).unwrap_or_default();
    if message.is_empty() {
        return Err(format!("{status} without a message: {shown}"));
    }
    match CODES.iter().find(|(known, _)| *known == code) {
        Some((_, code_status)) if *code_status == status => Ok(()),
        Some((_, code_status)) => {
            Err(format!("{code} belongs with {code_status}, came with {status}: {shown}"))
        }
        None => Err(format!("{status} with code {code:?}, not one of README's: {shown}")),
    }
}

/// What the fuzzing must not change, read through the API.
#[derive(Debug, PartialEq)]
struct Snapshot {
    balance: i64,
    token: Value,
    dates: BTreeMap<i64, Value>,
    free_seats: BTreeMap<(i64, i64), BTreeSet<i64>>,
}

async fn snapshot(s: &TestServer, t: &Target) -> Snapshot {
    let mut dates = BTreeMap::new();
    let mut free_seats = BTreeMap::new();
    for concert in s.concert_ids(&t.token).await {
        let list = s.dates(&t.token, concert).await;
        for date in &list {
            let schedule = date["scheduleId"].as_i64().expect("scheduleId is an integer");
            let seats = s.free_seats(&t.token, concert, schedule).await;
            free_seats.insert((concert, schedule), seats.iter().map(|seat| seat.seat_id).collect());
        }
        dates.insert(concert, Value::Array(list));
    }
    Snapshot {
        balance: s.balance_of(&t.token, t.user).await,
        token: s.token_status(&t.token).await,
        dates,
        free_seats,
    }
}

/// A server with `QUEUE_MAX_ACTIVE=0`, one active user with a charged balance, a held seat
/// and another free seat.
async fn arena() -> (TestServer, Target) {
    let s = TestServer::start(&[("QUEUE_MAX_ACTIVE", "0")]).await;
    let user = s.uid(1);
    let token = s.active_user(user).await;
    s.charge(&token, user, 1_000_000).await.ok("charge the fuzz user");
    let mut seats = s.some_free_seats(&token, 2).await;
    let free = seats.pop().expect("two seats");
    let held = seats.pop().expect("two seats");
    let hold = s.hold(&token, user, &held).await;
    let reservation = hold["reservationId"].as_i64().expect("reservationId");
    let target = Target {
        user,
        token,
        concert: free.concert_id,
        free_seat: free.seat_id,
        reservation,
        price: held.price,
    };
    (s, target)
}

/// The `method` label values of the Prometheus metrics.
async fn metric_methods(s: &TestServer) -> BTreeSet<String> {
    let metrics = s.get("/metrics", None).await;
    assert_eq!(metrics.status, 200, "GET /metrics: {}", metrics.text);
    metrics
        .text
        .split("method=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thousands_of_malformed_requests_get_4xx_json_and_change_nothing() {
    let seed = match std::env::var("FRONTROW_FUZZ_SEED").as_deref() {
        Err(_) | Ok("") => DEFAULT_SEED,
        Ok("random") => support::random_u64(),
        Ok(number) => number.parse().unwrap_or_else(|_| panic!("FRONTROW_FUZZ_SEED={number:?} is not a u64")),
    };
    println!("fuzz seed: {seed} (replay with FRONTROW_FUZZ_SEED={seed})");
    let (s, target) = arena().await;
    let before = snapshot(&s, &target).await;

    let mut rng = Rng(seed);
    let requests: Vec<Fuzz> = (0..REQUESTS).map(|_| generate(&mut rng, &target)).collect();
    let started = Instant::now();
    let outcomes: Vec<(Fuzz, Option<Result<u16, String>>)> = stream::iter(requests)
        .map(|fuzz| {
            let s = &s;
            async move {
                if started.elapsed() > BUDGET {
                    return (fuzz, None);
                }
                let outcome = fire(s, &fuzz).await;
                (fuzz, Some(outcome))
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let elapsed = started.elapsed();

    let mut per_category: BTreeMap<&str, (usize, BTreeMap<u16, usize>)> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut skipped = 0;
    for (fuzz, outcome) in &outcomes {
        let entry = per_category.entry(fuzz.category).or_default();
        match outcome {
            None => skipped += 1,
            Some(Ok(status)) => {
                entry.0 += 1;
                *entry.1.entry(*status).or_default() += 1;
            }
            Some(Err(why)) => {
                entry.0 += 1;
                failures.push(format!("{why}\n  request: {fuzz}"));
            }
        }
    }
    let sent = outcomes.len() - skipped;
    println!("{sent} malformed requests in {elapsed:.1?} ({skipped} skipped over the {BUDGET:?} budget)");
    for (category, (count, statuses)) in &per_category {
        println!("  {category:<26} {count:>5}  {statuses:?}");
    }
    assert!(s.exit_status().is_none(), "the server died; log:\n{}", s.log_tail());
    assert!(
        failures.is_empty(),
        "{} of {sent} malformed requests were not answered with README's 4xx JSON (seed {seed}); the first:\n{}\nserver log:\n{}",
        failures.len(),
        failures.iter().take(15).cloned().collect::<Vec<_>>().join("\n"),
        s.log_tail()
    );
    assert!(skipped <= MAX_SKIPPED, "{skipped} of {REQUESTS} requests did not start within {BUDGET:?}");

    assert_eq!(s.get("/health", None).await.status, 200, "the server is alive");
    let after = snapshot(&s, &target).await;
    assert_eq!(before, after, "malformed requests changed the state (seed {seed})");
    let methods = metric_methods(&s).await;
    assert!(
        methods.iter().all(|m| STANDARD_METHODS.contains(&m.as_str())),
        "invented methods became metric labels: {methods:?}"
    );
    // The last proof that nothing moved: the hold is still in place and payable, exactly.
    let paid = s.pay(&target.token, target.reservation, target.price).await;
    paid.ok("pay the held reservation after the fuzzing");
    let fresh = TestServer::token_of(&s.issue_token(target.user).await);
    s.wait_until_active(&fresh).await;
    assert_eq!(s.balance_of(&fresh, target.user).await, 1_000_000 - target.price, "the price was taken once");
}

// --- focused cases ------------------------------------------------------------------------------

/// POST with a raw body and the given headers.
async fn post_with(
    s: &TestServer,
    path: &str,
    token: &str,
    content_type: Option<&[u8]>,
    body: Vec<u8>,
) -> Reply {
    let mut req = s.client.post(s.url(path)).bearer_auth(token).body(body);
    if let Some(content_type) = content_type {
        let value = HeaderValue::from_bytes(content_type).expect("a header value");
        req = req.header(reqwest::header::CONTENT_TYPE, value);
    }
    s.send(req).await
}

async fn active() -> (TestServer, String, i64) {
    let s = TestServer::start(&[("QUEUE_MAX_ACTIVE", "0")]).await;
    let user = s.uid(1);
    let token = s.active_user(user).await;
    (s, token, user)
}

#[tokio::test]
async fn a_wrong_content_type_is_400() {
    let (s, token, user) = active().await;
    let body = json!({ "userId": user, "amount": 100 }).to_string();
    for content_type in [
        &b"text/plain"[..],
        b"application/x-www-form-urlencoded",
        b"multipart/form-data; boundary=x",
        b"application/xml",
        b"text/json",
        b"",
        b"application/js\xc3\xb6n",
    ] {
        let reply = post_with(&s, "/api/charge", &token, Some(content_type), body.clone().into_bytes()).await;
        let what = format!("Content-Type {:?}", String::from_utf8_lossy(content_type));
        reply.assert_error(400, "VALIDATION_ERROR", &what);
    }
    assert_eq!(s.balance_of(&token, user).await, 0, "no refused charge went through");
    for content_type in
        [&b"application/json; charset=utf-8"[..], b"Application/JSON", b"application/merge-patch+json"]
    {
        let reply = post_with(&s, "/api/charge", &token, Some(content_type), body.clone().into_bytes()).await;
        reply.ok(&format!("JSON as {:?}", String::from_utf8_lossy(content_type)));
    }
    let reply = post_with(&s, "/api/charge", &token, None, body.into_bytes()).await;
    reply.ok("no Content-Type at all");
    assert_eq!(s.balance_of(&token, user).await, 400);
}

#[tokio::test]
async fn integers_past_64_bits_are_400() {
    let (s, token, user) = active().await;
    for (user_id, amount) in [
        (user.to_string(), "9223372036854775808"),
        (user.to_string(), "-9223372036854775809"),
        (user.to_string(), "18446744073709551616"),
        ("9223372036854775808".to_owned(), "100"),
        ("-9223372036854775809".to_owned(), "100"),
    ] {
        let body = format!(r#"{{"userId": {user_id}, "amount": {amount}}}"#);
        let reply = s.post_raw("/api/charge", Some(&token), &body).await;
        reply.assert_error(400, "VALIDATION_ERROR", &body);
    }
    for body in [r#"{"userId": 9223372036854775808}"#, r#"{"userId": -9223372036854775809}"#] {
        s.post_raw("/api/token", None, body).await.assert_error(400, "VALIDATION_ERROR", body);
    }
    let reply = s.get("/api/balance?userId=9223372036854775808", Some(&token)).await;
    reply.assert_error(400, "VALIDATION_ERROR", "?userId past i64");
    let reply = s.get("/api/1/available-seats?scheduleId=99999999999999999999", Some(&token)).await;
    reply.assert_error(400, "VALIDATION_ERROR", "?scheduleId past i64");
    let reply = s.get("/api/99999999999999999999/available-dates", Some(&token)).await;
    reply.assert_error(404, "NOT_FOUND", "a path id past i64 names nothing");
    assert_eq!(s.balance_of(&token, user).await, 0);
}

#[tokio::test]
async fn a_body_over_16_kib_is_413_json() {
    let (s, token, user) = active().await;
    let padded = |size: usize| {
        let body = json!({ "userId": user, "amount": 100 }).to_string();
        let pad = size - body.len();
        format!("{{{}{}", " ".repeat(pad), &body[1..])
    };
    let exact = padded(16 * 1024);
    assert_eq!(exact.len(), 16 * 1024);
    s.post_raw("/api/charge", Some(&token), &exact).await.ok("a body of exactly 16 KiB");
    for size in [16 * 1024 + 1, 100 * 1024] {
        let reply = s.post_raw("/api/charge", Some(&token), &padded(size)).await;
        reply.assert_error(413, "PAYLOAD_TOO_LARGE", &format!("a body of {size} bytes"));
        let reply = s.post_raw("/api/charge", None, &padded(size)).await;
        reply.assert_error(413, "PAYLOAD_TOO_LARGE", &format!("{size} bytes without a token"));
    }
    assert_eq!(s.balance_of(&token, user).await, 100, "only the 16 KiB charge went through");
}

#[tokio::test]
async fn a_body_that_is_not_a_json_object_is_400() {
    let (s, token, user) = active().await;
    for body in [
        format!("[{user}, 100]"),
        format!(r#"[{{"userId": {user}, "amount": 100}}]"#),
        "null".into(),
        "100".into(),
    ] {
        let reply = s.post_raw("/api/charge", Some(&token), &body).await;
        reply.assert_error(400, "VALIDATION_ERROR", &body);
    }
    assert_eq!(s.balance_of(&token, user).await, 0, "no array was taken for a charge");
}

#[tokio::test]
async fn invalid_utf8_anywhere_in_a_body_is_400() {
    let (s, token, user) = active().await;
    let mut body = format!(r#"{{"userId": {user}, "amount": 100, "note": "caf"#).into_bytes();
    body.extend_from_slice(b"\xe9\"}");
    let reply = post_with(&s, "/api/charge", &token, Some(b"application/json"), body).await;
    reply.assert_error(400, "VALIDATION_ERROR", "Latin-1 in an unknown field");
    let body = b"{\"userId\": 1\xff, \"amount\": 100}".to_vec();
    let reply = post_with(&s, "/api/charge", &token, Some(b"application/json"), body).await;
    reply.assert_error(400, "VALIDATION_ERROR", "a stray byte");
    assert_eq!(s.balance_of(&token, user).await, 0);
}

#[tokio::test]
async fn unknown_json_fields_are_ignored() {
    let (s, token, user) = active().await;
    let body = json!({ "userId": user, "amount": 100, "currency": "KRW", "note": "세뱃돈 🎁", "nested": {"a": [1]} });
    let reply = s.post("/api/charge", Some(&token), &body).await;
    assert_eq!(reply.ok("a charge with unknown fields")["currentBalance"].as_i64(), Some(100));
}

#[tokio::test]
async fn invented_methods_are_405_json_and_leave_the_metrics_labels_alone() {
    let s = TestServer::start(&[]).await;
    for (i, (path, status, code)) in [
        ("/api/concerts", 405, "METHOD_NOT_ALLOWED"),
        ("/health", 405, "METHOD_NOT_ALLOWED"),
        ("/no-such-route", 404, "NOT_FOUND"),
    ]
    .into_iter()
    .enumerate()
    {
        let method = Method::from_bytes(format!("FUZZ{i}X").as_bytes()).expect("a method");
        let reply = s.send(s.client.request(method, s.url(path))).await;
        reply.assert_error(status, code, path);
    }
    let reply = s.send(s.client.request(Method::DELETE, s.url("/api/concerts"))).await;
    reply.assert_error(405, "METHOD_NOT_ALLOWED", "DELETE /api/concerts");
    let methods = metric_methods(&s).await;
    assert!(methods.contains("DELETE"), "standard methods are still counted: {methods:?}");
    assert!(!methods.iter().any(|m| m.starts_with("FUZZ")), "invented methods became labels: {methods:?}");
}
