//! Strategies for malformed requests aimed at the real targets of a running server, each with
//! the statuses the contract (docs/api.md) allows it: every one must be refused.

use bytes::Bytes;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::Union;
use reqwest::Method;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde_json::json;

use crate::{Fuzz, Target};

/// The methods of RFC 9110 (+ PATCH); the metrics may only ever label these.
pub const STANDARD_METHODS: &[&str] =
    &["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"];

/// A request without a body, with `authorization` when there is one.
fn fuzz(what: &'static str, method: Method, path: &str, auth: Option<&str>, expect: &'static [u16]) -> Fuzz {
    let fuzz =
        Fuzz { what, method, path: path.to_owned(), headers: HeaderMap::new(), body: Bytes::new(), expect };
    fuzz.header(AUTHORIZATION, auth)
}

/// Leaks a string the strategies share (a few kilobytes in all, once per run), so that every
/// closure copies it instead of cloning it.
fn leak(text: String) -> &'static str {
    text.leak()
}

impl Fuzz {
    fn header(mut self, name: HeaderName, value: Option<&str>) -> Self {
        if let Some(value) = value {
            self.headers.append(name, HeaderValue::from_bytes(value.as_bytes()).expect("a header value"));
        }
        self
    }

    /// This body under this Content-Type (`None`: no such header at all).
    fn body(self, content_type: Option<&str>, body: impl Into<Bytes>) -> Self {
        Fuzz { body: body.into(), ..self.header(CONTENT_TYPE, content_type) }
    }
}

/// The Content-Type of JSON.
const JSON: Option<&str> = Some("application/json");

/// A route, its methods, and for a gated POST endpoint the fields of a body that would succeed
/// with the values out of their ranges.
struct Route {
    path: &'static str,
    methods: &'static [&'static str],
    body: Option<(Valid, &'static [i64])>,
}

/// The fields of a body that would succeed.
type Valid = Vec<(&'static str, i64)>;

/// Every route of the API aimed at the targets, with its methods.
fn routes(t: &Target) -> Vec<Route> {
    let (user, concert) = (t.user, t.concert);
    let route = |path: String, methods, body| Route { path: leak(path), methods, body };
    #[rustfmt::skip]
    let posts = [
        ("/api/charge".into(), vec![("userId", user), ("amount", 100_000)], &[0, -1, 10_000_001, i64::MAX, i64::MIN][..]),
        ("/api/pay".into(), vec![("reservationId", t.reservation), ("paymentAmount", t.price)], &[0, -1, i64::MIN]),
        (format!("/api/{concert}/reserve-seat"), vec![("seatId", t.free_seat), ("userId", user)], &[0, -1, i64::MIN, i64::MAX]),
    ];
    #[rustfmt::skip]
    let gets = [format!("/api/balance?userId={user}"), format!("/api/{concert}/available-dates"),
        format!("/api/{concert}/available-seats?scheduleId=1"), "/api/token/stream".into(), "/api/concerts".into(),
        "/health".into(), "/ready".into(), "/metrics".into(), "/api-docs/openapi.json".into(), "/docs/".into()];
    let posts = posts.into_iter().map(|(path, valid, out)| route(path, &["POST"][..], Some((valid, out))));
    let gets = gets.into_iter().map(|path| route(path, &["GET"], None));
    posts.chain(gets).chain([route("/api/token".into(), &["GET", "POST"], None)]).collect()
}

/// `(key, raw JSON value)` pairs.
type Fields = Vec<(String, String)>;

/// The fields of a valid body as raw JSON.
fn fields_of(valid: &[(&str, i64)]) -> Fields {
    valid.iter().map(|(k, v)| ((*k).to_owned(), v.to_string())).collect()
}

/// `{"a":1,"b":2}`.
fn object(fields: &[(String, String)]) -> String {
    let inner: Vec<String> = fields.iter().map(|(k, v)| format!("{}:{v}", json!(k))).collect();
    format!("{{{}}}", inner.join(","))
}

/// `a=1&b=2`: a form where JSON belongs.
fn form(fields: &[(String, String)]) -> String {
    fields.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

/// Text drawn from ASCII, other scripts, look-alike digits, controls and escapes.
fn garbage_text(len: std::ops::Range<usize>) -> impl Strategy<Value = String> + Clone {
    #[rustfmt::skip]
    const PIECES: &[&str] = &["a", "Z", "0", "9", " ", "-", "_", "é", "漢", "🎫", "\u{202e}", "\u{200b}",
        "\u{feff}", "\u{0}", "\u{1b}", "\u{7f}", "\t", "\n", "\\", "\"", "'", "<", "&", "%", "{", "]", ":", ",", "١", "𝟏", "Ａ"];
    prop::collection::vec(select(PIECES), len).prop_map(|pieces| pieces.concat())
}

/// A JSON value that is not a 64-bit integer, or no JSON at all. A whole number written `1.0`
/// or `1e3` is an integer (JSON Schema's rule, the contract's), so none is here.
fn not_an_integer() -> impl Strategy<Value = String> {
    #[rustfmt::skip]
    const FIXED: &[&str] = &["1.5", "1e-1", "1.0000000000000000001", "1e30", "-1e30", "\"100\"", "null", "true",
        "[]", "[1]", "{}", "{\"value\":1}", "9223372036854775808", "-9223372036854775809", "18446744073709551616",
        "01", "+1", "0x10", "NaN", "Infinity", "-", "1_000", "١٠٠", "\"１２３\"", "\"\\u0031\"", "\"1\\u0000\""];
    prop_oneof![
        3 => select(FIXED).prop_map(str::to_owned),
        1 => garbage_text(0..41).prop_map(|text| json!(text).to_string()),
        1 => (1..13_000usize).prop_map(|n| json!("9".repeat(n)).to_string()),
        1 => (200..5_200usize).prop_map(|depth| format!("{}1{}", "[".repeat(depth), "]".repeat(depth))),
    ]
}

/// Text that is not a plain decimal 64-bit integer, for a query parameter or a path segment.
fn not_plain_digits() -> impl Strategy<Value = String> {
    #[rustfmt::skip]
    const FIXED: &[&str] = &["", "1.5", "1.0", "1e3", "0x1", "-0x1", "1;2", "1,2", "%ZZ", "%00", "%FF", "%20",
        "1%20", "%2B1", "%D9%A1", "%E2%98%83", "%7B%7D", "null", "true", "9223372036854775808", "-9223372036854775809"];
    prop_oneof![
        3 => select(FIXED).prop_map(str::to_owned),
        1 => (20..4_000usize).prop_map(|n| "9".repeat(n)),
        1 => "[a-z]{1,8}[0-9]{0,3}",
    ]
}

/// Bytes that make a JSON body invalid wherever they are inserted (no digit, sign, dot,
/// exponent or space, which could leave it valid): syntax, comments, trailing data, invalid
/// UTF-8, NUL and controls.
#[rustfmt::skip]
const JUNK: &[&[u8]] = &[b"x", b"}", b"]", b"{", b"[", b",", b":", b"=", b"'", b"\"", b"\\", b"//c", b"/*c*/",
    b"null", b"\xff", b"\xc0\xaf", b"\x80", b"\xed\xa0\x80", b"\x00", b"\x01", b"\x1b", b"\xfe\xff"];

/// Bodies that must be refused, made from the one that would succeed; `range_status` is the
/// answer to a field holding one of `out_of_range`, every other body's is 400.
fn invalid_body(
    valid: &[(&'static str, i64)],
    out_of_range: &'static [i64],
    range_status: fn(&str) -> &'static [u16],
) -> BoxedStrategy<(Bytes, &'static [u16])> {
    let fields = fields_of(valid);
    let text = object(&fields);
    let refused = |body: Vec<u8>| (Bytes::from(body), &[400u16][..]);
    let (f, g, t, u) = (fields.clone(), fields.clone(), text.clone(), text.clone());
    let bad_note = [&text.as_bytes()[..text.len() - 1], b",\"note\":\"caf\xe9 \xff\"}"].concat();
    #[rustfmt::skip]
    let not_objects = [text.replace('"', "'"), text.replace('"', ""), text.replacen(':', "=", 1), form(&fields),
        format!("[{}]", fields.iter().map(|(_, v)| v.as_str()).collect::<Vec<_>>().join(",")), format!("[{text}]"),
        "null".into(), "0".into(), "true".into(), "\"\"".into(), "[]".into(), " ".into(), "".into(), "\"{}\"".into()];
    prop_oneof![
        // One field changed: a value that is no integer, gone, misspelt or given twice; with
        // or without an unknown field, which never stands in for a missing one.
        6 => (0..fields.len(), 0..9u8, not_an_integer(), any::<bool>()).prop_map(move |(at, how, value, extra)| {
            let mut f = f.clone();
            let key = f[at].0.clone();
            match how {
                0 => f[at] = ("unknown".to_owned(), "1".to_owned()),
                1 => f.push(f[at].clone()),
                2 => f[at].0 = key.to_uppercase(),
                3 => f[at].0 = format!("{key}\u{200b}"),
                4 => f[at].0 = format!("{key} "),
                5 => f[at].0 = key.to_lowercase() + if key == key.to_lowercase() { "_" } else { "" },
                _ => f[at].1 = value,
            }
            f.extend(extra.then(|| ("extra".to_owned(), "\"x\"".to_owned())));
            refused(object(&f).into_bytes())
        }),
        // A field out of its range, maybe beside a field claiming privileges.
        2 => (0..fields.len(), select(out_of_range), any::<bool>()).prop_map(move |(at, value, admin)| {
            let mut f = g.clone();
            f[at].1 = value.to_string();
            f.extend(admin.then(|| ("isAdmin".to_owned(), "true".to_owned())));
            (Bytes::from(object(&f)), range_status(&f[at].0))
        }),
        // Junk inserted anywhere, or the body cut short.
        3 => (0..=text.len(), select(JUNK)).prop_map(move |(at, junk)| {
            let mut bytes = t.as_bytes().to_vec();
            bytes.splice(at..at, junk.iter().copied());
            refused(bytes)
        }),
        1 => (0..text.len()).prop_map(move |cut| refused(u.as_bytes()[..cut].to_vec())),
        // Not a JSON object: other quoting, a form, an array, a scalar, nothing, deep nesting.
        2 => select(not_objects.to_vec()).prop_map(move |body| refused(body.into_bytes())),
        1 => (200..5_200usize).prop_map(move |depth| refused(("[".repeat(depth) + &"]".repeat(depth)).into_bytes())),
        // Invalid UTF-8 in an unknown field of a body that would otherwise succeed.
        1 => Just(bad_note).prop_map(refused),
        // Random bytes; random text after a brace.
        1 => prop::collection::vec(any::<u8>(), 0..300).prop_map(refused),
        1 => garbage_text(0..200).prop_map(move |text| refused(format!("{{{text}").into_bytes())),
    ]
    .boxed()
}

/// `Authorization` values that name no active token; `None` is no header at all.
fn odd_authorization(token: &str) -> BoxedStrategy<Option<String>> {
    let valid = format!("bearer {token}").to_lowercase();
    let schemes = ["", "Bearer", "Bearer ", "bearer ", "Bearer \t ", "Basic ", "Token "];
    #[rustfmt::skip]
    let credentials = [token.to_owned(), format!("{token}x"), format!("{token}ÿ"), token[1..].to_owned(), format!("{token},Bearer {token}"),
        "A".repeat(8_192), "' OR 1=1 --".to_owned(), "00000000-0000-0000-0000-000000000000".to_owned(), String::new()];
    let header =
        (select(schemes.to_vec()), select(credentials.to_vec())).prop_map(|(s, c)| format!("{s}{c}"));
    prop_oneof![
        1 => Just(None),
        // Blanks between scheme and token are allowed, so no spacing makes the valid header odd.
        6 => header
            .prop_filter("the valid header", move |h| h.to_lowercase().split_whitespace().collect::<Vec<_>>().join(" ") != valid)
            .prop_map(Some),
        1 => (any::<u128>(), garbage_text(1..61)).prop_map(|(n, text)| {
            Some(format!("Bearer {n:032x}{}", text.replace(char::is_control, "")))
        }),
    ]
    .boxed()
}

/// A method none of `allowed`: standard, lower-case or invented.
fn wrong_method(allowed: &'static [&'static str]) -> impl Strategy<Value = Method> {
    prop_oneof![select(STANDARD_METHODS).prop_map(str::to_owned), "get|post|Get|PURGE|M-SEARCH|[A-Z]{3,10}"]
        // CONNECT changes the request form; HEAD of an allowed GET is not "wrong".
        .prop_filter("a method the route has", move |name| {
            name != "CONNECT"
                && !allowed.contains(&name.as_str())
                && !(name == "HEAD" && allowed.contains(&"GET"))
        })
        .prop_map(|name| Method::from_bytes(name.as_bytes()).expect("a valid method token"))
}

/// The malformed requests one route gets: wrong methods, and under /api/ an Authorization that
/// names no active token; a gated POST endpoint also invalid bodies, a body that would succeed
/// under a type that is not JSON, and bodies over 16 KiB with or without a token (padding a
/// valid body does not sneak it through).
fn route_kinds(
    t: &Target,
    bearer: Option<&'static str>,
    route: Route,
    bodies: &[&'static str],
) -> BoxedStrategy<Fuzz> {
    let path = route.path;
    // 405 with Allow on the API's paths; elsewhere an invented method may be 404 (the contract).
    let expect: &[u16] = if path.starts_with("/api/") { &[405] } else { &[404, 405] };
    let wrong = (wrong_method(route.methods), select(bodies.to_vec()))
        .prop_map(move |(method, body)| fuzz("wrong method", method, path, bearer, expect).body(JSON, body));
    let odd = |method: Method, ty: Option<&'static str>, body: &'static str| {
        odd_authorization(&t.token).prop_map(move |auth| {
            fuzz("odd authorization", method.clone(), path, auth.as_deref(), &[401]).body(ty, body)
        })
    };
    let Some((valid, out_of_range)) = route.body else {
        return if path.starts_with("/api/") {
            prop_oneof![wrong, odd(Method::GET, None, "")].boxed()
        } else {
            wrong.boxed()
        };
    };
    let gated: fn(&str) -> &'static [u16] = |field| match field {
        "userId" => &[403],
        "amount" | "paymentAmount" => &[400],
        _ => &[404],
    };
    #[rustfmt::skip]
    let json_types = [JSON, Some("application/json; charset=utf-16"), Some("APPLICATION/JSON"), Some("application/problem+json"), None];
    #[rustfmt::skip]
    let wrong_types = ["text/plain", "text/plain; charset=utf-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=X",
        "application/xml", "text/json", "application/x-json", "application/jsonx", "json", "*/*", "application/*", "application /json", ";", "",
        "application/json\u{ff}"];
    let fields = fields_of(&valid);
    let (body, form) = (leak(object(&fields)), leak(form(&fields)));
    prop_oneof![
        1 => wrong,
        10 => (invalid_body(&valid, out_of_range, gated), select(json_types.to_vec())).prop_map(move |((body, expect), ty)| {
            fuzz("invalid body", Method::POST, path, bearer, expect).body(ty, body)
        }),
        3 => (select(vec![body, form]), select(wrong_types.to_vec()), any::<bool>()).prop_map(move |(body, ty, odd)| {
            let ty = if odd { format!("{ty}\u{f6}") } else { ty.to_owned() };
            fuzz("wrong content type", Method::POST, path, bearer, &[400]).body(Some(&ty), body)
        }),
        3 => odd(Method::POST, JSON, body),
        2 => (16 * 1024 + 1..116 * 1024 + 1usize, any::<bool>(), prop::collection::vec(any::<u8>(), 1..64), prop::bool::weighted(0.8))
            .prop_map(move |(size, pad, junk, token)| {
                let padded = format!("{{{}{}", " ".repeat(size), &body[1..]).into_bytes();
                let body = if pad { padded } else { junk.iter().copied().cycle().take(size).collect() };
                fuzz("body over 16 KiB", Method::POST, path, bearer.filter(|_| token), &[413]).body(JSON, body)
            }),
    ]
    .boxed()
}

/// Query strings without a user id or with another's; without a performance, with an impossible
/// date or with one that names no performance.
fn bad_query(user: i64, concert: i64) -> impl Strategy<Value = (String, &'static [u16])> {
    let seats = format!("/api/{concert}/available-seats?");
    #[rustfmt::skip]
    let balance = ["", "&&&", "=", "userid={u}", "user_id={u}", "userId[]={u}", "userId={u}&userId={u}", "userId={u}%00",
        "userId={u}abc", "userId=+{u}", "userId=%2B{u}", "userId={u}.0"].map(|q| q.replace("{u}", &user.to_string()));
    #[rustfmt::skip]
    let dates = ["2024-13-01", "2024-02-30", "2023-02-29", "0000-00-00", "tomorrow", "2024-1-1", "20240101", "2024-01-01T00:00:00Z",
        "-2024-01-01", "+2024-01-01", "%2B2024-01-01", "2024-01-01%00", "%FF%FE", "%EF%BC%92%EF%BC%90%EF%BC%92%EF%BC%94-01-01"];
    #[rustfmt::skip]
    let no_performance = ["", "&", "%ZZ", "schedule_id=1", "ScheduleId=1", "scheduleId=1&scheduleId=1",
        "date=2024-01-01&date=2024-01-02"];
    let nothing = [
        "date=9999-12-31",
        "date=1970-01-01",
        "scheduleId=0",
        "scheduleId=-1",
        "scheduleId=9223372036854775807",
    ];
    let date = prop_oneof![
        select(dates.to_vec()).prop_map(str::to_owned),
        (0..4_000usize).prop_map(|n| "2".repeat(n)),
        not_plain_digits()
    ];
    let (s1, s2, s3, s4) = (seats.clone(), seats.clone(), seats.clone(), seats);
    prop_oneof![
        3 => not_plain_digits().prop_map(|id| (format!("/api/balance?userId={id}"), &[400u16][..])),
        2 => select(balance.to_vec()).prop_map(|query| (format!("/api/balance?{query}"), &[400u16][..])),
        1 => select(vec![0, -1, user + 1]).prop_map(|other| (format!("/api/balance?userId={other}"), &[403u16][..])),
        3 => not_plain_digits().prop_map(move |id| (format!("{s1}scheduleId={id}"), &[400u16][..])),
        3 => date.prop_map(move |date| (format!("{s2}date={date}"), &[400u16][..])),
        1 => select(no_performance.to_vec()).prop_map(move |query| (format!("{s3}{query}"), &[400u16][..])),
        2 => select(nothing.to_vec()).prop_map(move |query| (format!("{s4}{query}"), &[404u16][..])),
    ]
}

/// Paths no route serves (`/` is the fans' page).
fn unknown_path() -> impl Strategy<Value = String> {
    #[rustfmt::skip]
    let fixed = ["/api", "/api/", "/api/token/", "/API/concerts", "/api/1", "/api/1/available", "/api/1/2/3", "/api/token%00",
        "/api/concerts;x", "/index.html", "/.env", "/health/", "/%2e%2e/%2e%2e/etc/passwd", "//", "/api//available-dates",
        "/api/concerts/", "/api/1/available-dates/", "/metrics/", "/api/Token", "/api/concerts%2F"];
    let piece = prop_oneof!["%[0-9A-F]{2}", "[a-z~_-]", "[é漢🎫\u{202e}]"];
    let segment = prop::collection::vec(piece, 0..12).prop_map(|pieces| format!("/z{}", pieces.concat()));
    prop_oneof![
        select(fixed.to_vec()).prop_map(str::to_owned),
        prop::collection::vec(segment, 1..5).prop_map(|s| s.concat())
    ]
}

/// Every malformed request, each kind in proportion to its weight.
pub fn request(t: &Target) -> BoxedStrategy<Fuzz> {
    let bearer = Some(leak(format!("Bearer {}", t.token)));
    let hold = leak(object(&fields_of(&[("seatId", t.free_seat), ("userId", t.user)])));
    let named = vec![
        "0".to_owned(),
        "-1".into(),
        "9223372036854775807".into(),
        "concert".into(),
        "+1".into(),
        format!("+{}", t.concert),
    ];
    let ids = prop_oneof![4 => not_plain_digits(), 1 => select(named)];
    let routes_of_ids = select(&["available-dates", "available-seats?scheduleId=1", "reserve-seat"][..]);
    let routes = routes(t);
    let bodies: Vec<&str> = routes
        .iter()
        .filter_map(|r| r.body.as_ref())
        .map(|(valid, _)| leak(object(&fields_of(valid))))
        .collect();
    let per_route = routes
        .into_iter()
        .map(|route| (if route.body.is_some() { 19 } else { 2 }, route_kinds(t, bearer, route, &bodies)));
    prop_oneof![
        // Invalid bodies on POST /api/token, where any Authorization is ignored.
        5 => (invalid_body(&[("userId", t.user + 1_000)], &[0, -1, i64::MIN], |_| &[400]), odd_authorization(&t.token))
            .prop_map(|((body, expect), auth)| fuzz("invalid token body", Method::POST, "/api/token", auth.as_deref(), expect).body(JSON, body)),
        10 => bad_query(t.user, t.concert).prop_map(move |(path, expect)| fuzz("bad query", Method::GET, &path, bearer, expect)),
        // Path ids that name no concert, where a valid body would otherwise hold the seat.
        8 => (ids, routes_of_ids).prop_map(move |(id, route)| {
            let method = if route == "reserve-seat" { Method::POST } else { Method::GET };
            fuzz("bad path id", method, &format!("/api/{id}/{route}"), bearer, &[404]).body(JSON, hold)
        }),
        5 => (prop_oneof![Just(Method::GET), wrong_method(&[])], unknown_path())
            .prop_map(move |(method, path)| fuzz("unknown path", method, &path, bearer, &[404, 405])),
        77 => Union::new_weighted(per_route.collect()),
    ]
    .boxed()
}
