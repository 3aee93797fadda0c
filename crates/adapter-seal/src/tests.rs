use super::*;
use time::macros::datetime;

const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";
const OTHER_KEY: &[u8] = b"fedcba9876543210fedcba9876543210";

fn claims() -> TokenClaims {
    TokenClaims {
        value: TokenValue::from_uuid(uuid::Uuid::from_u128(0x1234_5678_9abc_def0_1234_5678_9abc_def0)),
        user_id: UserId::new(42).expect("valid id"),
        ticket: 1_000_001,
        issued_at: datetime!(2030-01-01 12:00:00.123 UTC),
    }
}

fn seal(key: &[u8]) -> HmacSeal {
    HmacSeal::new(key, None).expect("a long enough key")
}

#[test]
fn a_sealed_token_opens_to_its_claims_and_is_url_safe() {
    let text = seal(KEY).seal(&claims());
    assert_eq!(text.len(), TEXT_CHARS);
    assert!(text.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)), "{text}");
    assert_eq!(seal(KEY).open(&text), Some(claims()));
}

#[test]
fn every_altered_character_truncation_or_extension_is_refused() {
    let text = seal(KEY).seal(&claims());
    for at in 0..text.len() {
        for replacement in ['A', 'z', '-', '_', '.'] {
            let mut altered: Vec<char> = text.chars().collect();
            if altered[at] == replacement {
                continue;
            }
            altered[at] = replacement;
            let altered: String = altered.into_iter().collect();
            assert_eq!(seal(KEY).open(&altered), None, "{altered}");
        }
    }
    for cut in 0..text.len() {
        assert_eq!(seal(KEY).open(&text[..cut]), None, "cut at {cut}");
    }
    assert_eq!(seal(KEY).open(&format!("{text}A")), None);
    assert_eq!(seal(KEY).open(&format!("A{text}")), None);
}

#[test]
fn made_up_text_of_any_shape_is_refused() {
    let fifty_five = "A".repeat(55);
    let forty_three = "B".repeat(43);
    for text in [
        String::new(),
        "00000000-0000-0000-0000-000000000000".to_owned(),
        format!("{fifty_five}.{forty_three}"),
        "é".repeat(TEXT_CHARS / 2),
        ".".repeat(TEXT_CHARS),
    ] {
        assert_eq!(seal(KEY).open(&text), None, "{text:?}");
    }
}

#[test]
fn a_token_sealed_with_another_key_is_refused_unless_that_key_is_the_previous_one() {
    let old = seal(OTHER_KEY).seal(&claims());
    assert_eq!(seal(KEY).open(&old), None);
    let rotating = HmacSeal::new(KEY, Some(OTHER_KEY)).expect("long enough keys");
    assert_eq!(rotating.open(&old), Some(claims()), "sealed before the rotation");
    let new = rotating.seal(&claims());
    assert_eq!(seal(KEY).open(&new), Some(claims()), "sealed with the current key");
    assert_eq!(seal(OTHER_KEY).open(&new), None);
}

#[test]
fn keys_shorter_than_32_bytes_are_refused() {
    assert_eq!(HmacSeal::new(&KEY[..31], None).err(), Some(KeyTooShort(31)));
    assert_eq!(HmacSeal::new(KEY, Some(b"short")).err(), Some(KeyTooShort(5)));
}

#[test]
fn random_keys_are_long_enough_and_differ() {
    let (first, second) = (random_key().expect("randomness"), random_key().expect("randomness"));
    assert_eq!(first.len(), MIN_KEY_BYTES);
    assert_ne!(first, second);
    assert!(HmacSeal::new(&first, None).is_ok());
}

#[test]
fn the_key_id_names_the_current_key_without_showing_it() {
    let id = seal(KEY).key_id();
    assert_eq!(id.len(), 8);
    assert_eq!(id, HmacSeal::new(KEY, Some(OTHER_KEY)).expect("long enough keys").key_id());
    assert_ne!(id, seal(OTHER_KEY).key_id());
    assert!(!String::from_utf8_lossy(KEY).contains(&id));
}
