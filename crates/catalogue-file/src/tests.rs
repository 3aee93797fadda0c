use super::*;
use time::macros::datetime;

const NOW: OffsetDateTime = datetime!(2030-01-01 12:34:56 UTC);

fn one_concert(performance: &str) -> String {
    format!(
        r#"{{"concerts": [{{"key": "k", "title": "T", "artist": "A", "venue": "V",
            "performances": [{performance}]}}],
          "seatMaps": {{"small": [{{"from": 1, "to": 2, "zone": "R", "price": 1000}}]}}}}"#
    )
}

fn refusal(text: &str) -> CatalogueFileError {
    parse(text, NOW).expect_err("the file must be refused")
}

#[test]
fn the_demo_file_is_three_concerts_on_sale_now_with_fifty_seats_a_performance() {
    let concerts = parse(include_str!("../../../catalogue/demo.json"), NOW).expect("the demo parses");
    assert_eq!(concerts.len(), 3);
    let first = &concerts[0].schedules[0];
    assert_eq!(first.starts_at, datetime!(2030-01-08 19:00 UTC), "seven days ahead at 19:00");
    for schedule in concerts.iter().flat_map(|concert| &concert.schedules) {
        assert_eq!(schedule.on_sale_at, NOW, "the demo is on sale at once");
        assert_eq!(schedule.seats.len(), 50);
        assert_eq!(schedule.seats[0].zone, "VIP");
        assert_eq!(schedule.seats[49].price.get(), 90_000);
    }
}

#[test]
fn instants_are_absolute_or_relative_to_the_import() {
    let text = one_concert(
        r#"{"startsAt": "2030-02-01T19:00:00+09:00", "onSaleAt": {"secondsFromNow": 60}, "seats": "small"}"#,
    );
    let concerts = parse(&text, NOW).expect("parses");
    let schedule = &concerts[0].schedules[0];
    assert_eq!(schedule.starts_at, datetime!(2030-02-01 10:00 UTC));
    assert_eq!(schedule.on_sale_at, NOW + Duration::MINUTE);
    assert_eq!(schedule.seats.iter().map(|seat| seat.number.get()).collect::<Vec<_>>(), vec![1, 2]);
}

#[test]
fn a_file_that_is_not_json_or_has_a_mistyped_field_is_refused_with_its_line_and_path() {
    let broken = refusal("{\n  \"concerts\": [\n    {\"key\": 5}\n  ]\n}");
    assert_eq!((broken.line, broken.at.as_str()), (Some(3), "concerts[0].key"), "{broken}");
    let unknown = refusal(r#"{"concerts": [], "extra": 1}"#);
    assert!(unknown.message.contains("extra"), "{unknown}");
    assert!(refusal("not json").line.is_some());
}

#[test]
fn values_out_of_range_are_refused_with_the_path_of_the_field() {
    let cases = [
        (r#"{"startsAt": "tomorrow", "seats": "small"}"#, "concerts[0].performances[0].startsAt"),
        (
            r#"{"startsAt": {"daysFromToday": 1, "at": "25:00"}, "seats": "small"}"#,
            "concerts[0].performances[0].startsAt.at",
        ),
        (
            r#"{"startsAt": {"secondsFromNow": 60}, "onSaleAt": {"secondsFromNow": 60}, "seats": "small"}"#,
            "concerts[0].performances[0].onSaleAt",
        ),
        (r#"{"startsAt": {"secondsFromNow": 60}, "seats": "huge"}"#, "concerts[0].performances[0].seats"),
        (
            r#"{"startsAt": {"secondsFromNow": 60}, "seats": [{"from": 0, "to": 2, "zone": "R", "price": 1}]}"#,
            "concerts[0].performances[0].seats[0].from",
        ),
        (
            r#"{"startsAt": {"secondsFromNow": 60}, "seats": [{"from": 1, "to": 51, "zone": "R", "price": 1}]}"#,
            "concerts[0].performances[0].seats[0].to",
        ),
        (
            r#"{"startsAt": {"secondsFromNow": 60}, "seats": [{"from": 1, "to": 2, "zone": " ", "price": 1}]}"#,
            "concerts[0].performances[0].seats[0].zone",
        ),
        (
            r#"{"startsAt": {"secondsFromNow": 60}, "seats": [{"from": 1, "to": 2, "zone": "R", "price": -1}]}"#,
            "concerts[0].performances[0].seats[0].price",
        ),
        (
            r#"{"startsAt": {"secondsFromNow": 60}, "seats": [{"from": 1, "to": 2, "zone": "R", "price": 0}]}"#,
            "concerts[0].performances[0].seats[0].price",
        ),
        (
            r#"{"startsAt": {"secondsFromNow": 60}, "seats": [{"from": 1, "to": 3, "zone": "R", "price": 1},
                {"from": 3, "to": 4, "zone": "S", "price": 1}]}"#,
            "concerts[0].performances[0].seats[1]",
        ),
        (r#"{"startsAt": {"secondsFromNow": 60}, "seats": []}"#, "concerts[0].performances[0].seats"),
    ];
    for (performance, at) in cases {
        let error = refusal(&one_concert(performance));
        assert_eq!(error.at, at, "{performance}: {error}");
        assert_eq!(error.line, None, "{error}");
    }
}

#[test]
fn concerts_need_a_valid_unique_key_names_and_performances() {
    let concert = |key: &str, title: &str, performances: &str| {
        format!(
            r#"{{"key": "{key}", "title": "{title}", "artist": "A", "venue": "V", "performances": [{performances}]}}"#
        )
    };
    let show =
        r#"{"startsAt": {"secondsFromNow": 60}, "seats": [{"from": 1, "to": 1, "zone": "R", "price": 1}]}"#;
    let file = |concerts: Vec<String>| format!(r#"{{"concerts": [{}]}}"#, concerts.join(","));
    let cases = [
        (file(vec![]), "concerts"),
        (file(vec![concert("Bad Key", "T", show)]), "concerts[0].key"),
        (file(vec![concert("k", "T", show), concert("k", "U", show)]), "concerts[1].key"),
        (file(vec![concert("k", "  ", show)]), "concerts[0].title"),
        (file(vec![concert("k", "T", "")]), "concerts[0].performances"),
        (file(vec![concert("k", "T", &format!("{show},{show}"))]), "concerts[0].performances[1].startsAt"),
    ];
    for (text, at) in cases {
        assert_eq!(refusal(&text).at, at, "{text}");
    }
}
