//! Strategies for JSON bodies that must be refused, built from the body that would succeed.

use proptest::prelude::*;
use proptest::sample::select;
use serde_json::json;

/// A body's fields as `(key, raw JSON value)`, in order.
pub type Fields = Vec<(String, String)>;

/// `{"a":1,"b":2}` from `(key, raw JSON value)` pairs.
pub fn object(fields: &[(String, String)]) -> String {
    let inner: Vec<String> = fields.iter().map(|(k, v)| format!("{}:{v}", json!(k))).collect();
    format!("{{{}}}", inner.join(","))
}

/// The fields of `valid` as raw JSON.
pub fn fields_of(valid: &[(&str, i64)]) -> Fields {
    valid.iter().map(|(k, v)| ((*k).to_owned(), v.to_string())).collect()
}

/// Text drawn from ASCII letters, digits, unicode, controls and escapes.
pub fn garbage_text(len: std::ops::Range<usize>) -> impl Strategy<Value = String> + Clone {
    #[rustfmt::skip]
    const PIECES: &[&str] = &[
        "a", "Z", "0", "9", " ", "-", "_", "~", "é", "ß", "漢", "字", "🎫", "💸", "\u{202e}", "\u{200b}",
        "\u{feff}", "\u{fffd}", "\u{0}", "\u{1}", "\u{1b}", "\u{7f}", "\t", "\n", "\r", "\\", "\"", "'", "<",
        ">", "&", "%", "{", "}", "[", "]", ":", ",", "١", "𝟏", "Ａ",
    ];
    prop::collection::vec(select(PIECES), len).prop_map(|pieces| pieces.concat())
}

/// A JSON value that is not a valid 64-bit integer (or not valid JSON at all). Whole numbers
/// written as `1.0` or `1e3` are integers (JSON Schema's rule, the document's), so none is here.
fn not_an_integer() -> impl Strategy<Value = String> {
    #[rustfmt::skip]
    const FIXED: &[&str] = &[
        "1.5", "1e-1", "1.0000000000000000001", "1e30", "-1e30", "\"100\"", "\"\"", "\"1\\u0000\"", "null",
        "true", "false", "[]", "[1]", "{}", "{\"value\":1}", "9223372036854775808", "-9223372036854775809",
        "18446744073709551616", "99999999999999999999999999999", "01", "+1", "0x10", "NaN", "Infinity", "-",
        "1_000", "١٠٠", "\"１２３\"", "\"𝟏\"",
    ];
    prop_oneof![
        2 => select(FIXED).prop_map(str::to_owned),
        1 => (1..5_001usize).prop_map(|n| format!("\"{}\"", "9".repeat(n))),
        1 => garbage_text(1..41).prop_map(|text| json!(text).to_string()),
    ]
}

/// `key` misspelt one of five ways (never left as it was).
fn misspell(key: &str, how: u8) -> String {
    let misspelt = match how {
        0 => key.to_lowercase(),
        1 => key.to_uppercase(),
        2 => format!("{key} "),
        3 => format!("{key}\u{200b}"),
        _ => key
            .chars()
            .flat_map(|c| if c.is_uppercase() { vec!['_', c.to_ascii_lowercase()] } else { vec![c] })
            .collect(),
    };
    if misspelt == key { format!("{key}_") } else { misspelt }
}

/// The valid text rewritten into syntax that is not JSON, one of six ways.
fn not_json(valid: &str, how: u8) -> String {
    let mut text = match how {
        0 => valid.replace('"', "'"),
        1 => valid.replace('"', ""),
        2 => valid.replacen('}', ",}", 1),
        3 => format!("{valid} // comment"),
        4 => format!("/* c */{valid}"),
        _ => valid.replacen(':', "=", 1),
    };
    if text == valid {
        text.push('x');
    }
    text
}

/// Bytes that break a body wherever they land: invalid UTF-8, NUL and control characters.
const BAD_BYTES: &[&[u8]] =
    &[b"\xff", b"\xc0\xaf", b"\x80", b"\xed\xa0\x80", b"\x00", b"\x01", b"\x1b", b"\xfe\xff"];

/// A refused body's answer: 400 `VALIDATION_ERROR`.
const REFUSED: &[u16] = &[400];

/// Bodies made by `edit`ing a copy of `fields` with each drawn value.
fn editing<T: std::fmt::Debug>(
    fields: Fields,
    values: impl Strategy<Value = T>,
    edit: impl Fn(&mut Fields, T) + 'static,
) -> impl Strategy<Value = (Vec<u8>, &'static [u16])> {
    values.prop_map(move |value| {
        let mut edited = fields.clone();
        edit(&mut edited, value);
        (object(&edited).into_bytes(), REFUSED)
    })
}

/// Bodies made by rewriting the valid body's text with each drawn value.
fn rewriting<T: std::fmt::Debug>(
    text: String,
    values: impl Strategy<Value = T>,
    rewrite: impl Fn(&str, T) -> Vec<u8> + 'static,
) -> impl Strategy<Value = (Vec<u8>, &'static [u16])> {
    values.prop_map(move |value| (rewrite(&text, value), REFUSED))
}

/// A body that must be refused, and the statuses it may get: `valid` is the body that would
/// succeed, `out_of_range` the values its fields must refuse, `out_of_range_status` the answer
/// the contract gives a field holding one of them.
pub fn invalid_body(
    valid: &[(&'static str, i64)],
    out_of_range: &[i64],
    out_of_range_status: fn(&str) -> &'static [u16],
) -> BoxedStrategy<(Vec<u8>, &'static [u16])> {
    let fields = fields_of(valid);
    let text = object(&fields);
    let which = 0..fields.len();
    let values = fields.iter().map(|(_, v)| v.as_str()).collect::<Vec<_>>().join(",");
    let scalars: &[&str] = &["null", "0", "1", "true", "\"\"", "[]", " ", "\n", "", "\"{}\""];
    let tails: &[&str] = &["x", "{}", "\u{0}", ",", "]", "}", "null", "\u{1b}[0m"];
    let lookalikes: &[&str] = &["\"١\"", "\"\\u0031\"", "\"1\\u0000\"", "\"\u{202e}1\"", "\"🎫\""];
    let in_range = fields.clone();
    prop_oneof![
        // A mistyped field, sometimes next to unknown fields.
        4 => editing(fields.clone(), (which.clone(), not_an_integer(), prop::option::weighted(0.3, garbage_text(10..11))),
            |f, (at, value, extra)| {
                f[at].1 = value;
                f.extend(extra.map(|text| ("extra".to_owned(), json!(text).to_string())));
            }),
        // An id or amount outside its range (0, negative, past the limits).
        2 => (which.clone(), select(out_of_range.to_vec()), prop::bool::weighted(0.3)).prop_map(
            move |(at, value, admin)| {
                let mut f = in_range.clone();
                f[at].1 = value.to_string();
                if admin {
                    f.push(("isAdmin".to_owned(), "true".to_owned()));
                }
                (object(&f).into_bytes(), out_of_range_status(&f[at].0))
            }),
        // A missing field (unknown ones do not stand in for it).
        1 => editing(fields.clone(), (which.clone(), any::<bool>()), |f, (at, unknown)| {
            f.remove(at);
            if unknown {
                f.push(("unknown".to_owned(), "1".to_owned()));
            }
        }),
        // A misspelt key; a key given twice.
        1 => editing(fields.clone(), (which.clone(), 0..5u8), |f, (at, how)| f[at].0 = misspell(&f[at].0, how)),
        1 => editing(fields.clone(), which.clone(), |f, at| f.push(f[at].clone())),
        // Truncated JSON.
        1 => rewriting(text.clone(), 0..text.len(), |text, cut| text.as_bytes()[..cut].to_vec()),
        // Not an object: an array of the right values, the object in an array, a scalar, nothing.
        1 => prop_oneof![Just(format!("[{values}]")), Just(format!("[{text}]")), select(scalars).prop_map(str::to_owned)]
            .prop_map(|body| (body.into_bytes(), REFUSED)),
        // Syntax that is not JSON; trailing garbage after a valid object.
        1 => rewriting(text.clone(), 0..6u8, |text, how| not_json(text, how).into_bytes()),
        1 => rewriting(text.clone(), select(tails), |text, tail| format!("{text}{tail}").into_bytes()),
        // Invalid UTF-8, NUL or a control character inserted into the valid body.
        2 => rewriting(text.clone(), (0..=text.len(), select(BAD_BYTES)), |text, (at, bad)| {
            let mut bytes = text.as_bytes().to_vec();
            bytes.splice(at..at, bad.iter().copied());
            bytes
        }),
        // Invalid UTF-8 hidden in an unknown field of an otherwise valid body.
        1 => rewriting(text.clone(), Just(()), |text, ()| {
            let mut bytes = text.as_bytes()[..text.len() - 1].to_vec();
            bytes.extend_from_slice(b",\"note\":\"caf\xe9 \xff\xfe\"}");
            bytes
        }),
        // A huge string where an integer belongs (still under the size limit).
        1 => editing(fields.clone(), (which.clone(), 1_000..13_000usize), |f, (at, n)| f[at].1 = json!("x".repeat(n)).to_string()),
        // Deep nesting, alone or as a field's value.
        1 => prop_oneof![
            rewriting(String::new(), 200..5_200usize, |_, depth| format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes()),
            editing(fields.clone(), (which.clone(), 200..5_200usize), |f, (at, depth)| {
                f[at].1 = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
            }),
        ],
        // Unicode look-alikes and escapes in values.
        1 => editing(fields.clone(), (which, select(lookalikes)), |f, (at, value)| f[at].1 = value.to_owned()),
        // Random bytes; random text after a brace.
        1 => prop::collection::vec(any::<u8>(), 0..300).prop_map(|bytes| (bytes, REFUSED)),
        1 => garbage_text(0..200).prop_map(|text| (format!("{{{text}").into_bytes(), REFUSED)),
        // Form-encoded fields where JSON belongs (whatever the Content-Type says).
        1 => Just((form(&fields).into_bytes(), REFUSED)),
    ]
    .boxed()
}

/// The fields as `a=1&b=2`.
pub fn form(fields: &[(String, String)]) -> String {
    fields.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}
