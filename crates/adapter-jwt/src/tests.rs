//! The verifier against tokens signed here with the test keys of `tests/fixtures/identity`.

use std::path::PathBuf;

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{EncodingKey, get_current_timestamp};
use serde_json::json;

use super::*;

const SECRET: &str = "the-identity-providers-test-secret-0123456789";
const ISSUER: &str = "https://id.example.test";
const AUDIENCE: &str = "frontrow";

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/identity/", $name))
    };
}

fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/identity").join(name)
}

/// Issuer and audience required, no leeway, user in `sub`.
fn settings(keys: KeySource) -> JwtSettings {
    JwtSettings {
        keys,
        issuer: Some(ISSUER.into()),
        audience: Some(AUDIENCE.into()),
        leeway_seconds: 0,
        user_claim: "sub".into(),
    }
}

fn verifier(keys: KeySource) -> JwtVerifier {
    JwtVerifier::load(&settings(keys)).expect("the test keys load")
}

fn hs256() -> JwtVerifier {
    verifier(KeySource::Secret(SECRET.into()))
}

fn rs256() -> JwtVerifier {
    verifier(KeySource::PemFile(fixture_path("rsa_public.pem")))
}

fn es256() -> JwtVerifier {
    verifier(KeySource::PemFile(fixture_path("ec_public.pem")))
}

fn now() -> i64 {
    i64::try_from(get_current_timestamp()).expect("a sane clock")
}

/// What the identity provider puts in a fresh token for user 7.
fn claims() -> Value {
    json!({ "sub": "7", "iss": ISSUER, "aud": AUDIENCE, "iat": now(), "exp": now() + 300 })
}

fn claims_with(change: impl FnOnce(&mut Map<String, Value>)) -> Value {
    let mut claims = claims();
    change(claims.as_object_mut().expect("claims are an object"));
    claims
}

fn secret_key(secret: &str) -> EncodingKey {
    EncodingKey::from_secret(secret.as_bytes()).expect("an HMAC key")
}

fn rsa_key() -> EncodingKey {
    EncodingKey::from_rsa_pem(fixture!("rsa_private.pem")).expect("the RSA test key")
}

fn ec_key() -> EncodingKey {
    EncodingKey::from_ec_pem(fixture!("ec_private.pem")).expect("the EC test key")
}

fn sign_with(algorithm: Algorithm, kid: Option<&str>, key: &EncodingKey, claims: &Value) -> String {
    let mut header = Header::new(algorithm);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).expect("sign")
}

fn hs(claims: &Value) -> String {
    sign_with(Algorithm::HS256, None, &secret_key(SECRET), claims)
}

fn user(n: i64) -> UserId {
    UserId::new(n).expect("a valid id")
}

#[test]
fn an_hs256_token_signed_with_the_shared_secret_proves_its_subject() {
    assert_eq!(hs256().verify(&hs(&claims())), Ok(user(7)));
}

#[test]
fn an_rs256_token_checked_with_the_pem_public_key_proves_its_subject() {
    let token = sign_with(Algorithm::RS256, None, &rsa_key(), &claims());
    assert_eq!(rs256().verify(&token), Ok(user(7)));
}

#[test]
fn an_es256_token_checked_with_the_pem_public_key_proves_its_subject() {
    let token = sign_with(Algorithm::ES256, None, &ec_key(), &claims());
    assert_eq!(es256().verify(&token), Ok(user(7)));
}

#[test]
fn a_token_whose_payload_was_altered_is_refused_as_a_bad_signature() {
    let genuine = hs(&claims());
    let other = hs(&claims_with(|c| _ = c.insert("sub".into(), json!("501"))));
    let genuine: Vec<&str> = genuine.split('.').collect();
    let other_payload = other.split('.').nth(1).expect("a payload");
    let forged = format!("{}.{other_payload}.{}", genuine[0], genuine[2]);
    assert_eq!(hs256().verify(&forged), Err(IdentityError::BadSignature));
}

#[test]
fn a_token_signed_with_another_key_is_refused_as_a_bad_signature() {
    let other_secret =
        sign_with(Algorithm::HS256, None, &secret_key("another-secret-of-at-least-32-bytes!"), &claims());
    assert_eq!(hs256().verify(&other_secret), Err(IdentityError::BadSignature));
    let other_rsa = EncodingKey::from_rsa_pem(fixture!("rsa_other_private.pem")).expect("RSA key");
    let token = sign_with(Algorithm::RS256, None, &other_rsa, &claims());
    assert_eq!(rs256().verify(&token), Err(IdentityError::BadSignature));
    let other_ec = EncodingKey::from_ec_pem(fixture!("ec_other_private.pem")).expect("EC key");
    let token = sign_with(Algorithm::ES256, None, &other_ec, &claims());
    assert_eq!(es256().verify(&token), Err(IdentityError::BadSignature));
}

#[test]
fn a_token_signed_with_the_public_key_as_an_hmac_secret_is_refused_as_the_wrong_algorithm() {
    // The classic algorithm confusion: the public key is public, so anyone could do this.
    let forged = sign_with(
        Algorithm::HS256,
        None,
        &EncodingKey::from_secret(fixture!("rsa_public.pem")).expect("key"),
        &claims(),
    );
    assert_eq!(rs256().verify(&forged), Err(IdentityError::WrongAlgorithm));
    let rs = sign_with(Algorithm::RS256, None, &rsa_key(), &claims());
    assert_eq!(hs256().verify(&rs), Err(IdentityError::WrongAlgorithm));
}

#[test]
fn an_expired_token_is_refused_as_expired_unless_within_the_leeway() {
    let expired = hs(&claims_with(|c| _ = c.insert("exp".into(), json!(now() - 30))));
    assert_eq!(hs256().verify(&expired), Err(IdentityError::Expired));
    let lenient =
        JwtVerifier::load(&JwtSettings { leeway_seconds: 60, ..settings(KeySource::Secret(SECRET.into())) })
            .expect("loads");
    assert_eq!(lenient.verify(&expired), Ok(user(7)));
}

#[test]
fn a_token_not_valid_yet_is_refused_as_not_yet_valid() {
    let early = hs(&claims_with(|c| _ = c.insert("nbf".into(), json!(now() + 120))));
    assert_eq!(hs256().verify(&early), Err(IdentityError::NotYetValid));
    let started = hs(&claims_with(|c| _ = c.insert("nbf".into(), json!(now() - 1))));
    assert_eq!(hs256().verify(&started), Ok(user(7)));
}

#[test]
fn a_token_for_another_audience_or_none_is_refused() {
    let elsewhere = hs(&claims_with(|c| _ = c.insert("aud".into(), json!("billing"))));
    assert_eq!(hs256().verify(&elsewhere), Err(IdentityError::WrongAudience));
    let several = hs(&claims_with(|c| _ = c.insert("aud".into(), json!(["billing", AUDIENCE]))));
    assert_eq!(hs256().verify(&several), Ok(user(7)), "one of several audiences is enough");
    let nowhere = hs(&claims_with(|c| _ = c.remove("aud")));
    assert_eq!(hs256().verify(&nowhere), Err(IdentityError::MissingClaim("aud".into())));
}

#[test]
fn without_a_configured_audience_a_token_naming_one_is_refused() {
    let open =
        JwtVerifier::load(&JwtSettings { audience: None, ..settings(KeySource::Secret(SECRET.into())) })
            .expect("loads");
    assert_eq!(open.verify(&hs(&claims())), Err(IdentityError::WrongAudience));
    assert_eq!(open.verify(&hs(&claims_with(|c| _ = c.remove("aud")))), Ok(user(7)));
}

#[test]
fn a_token_from_another_issuer_or_none_is_refused() {
    let stranger = hs(&claims_with(|c| _ = c.insert("iss".into(), json!("https://evil.example"))));
    assert_eq!(hs256().verify(&stranger), Err(IdentityError::WrongIssuer));
    let anonymous = hs(&claims_with(|c| _ = c.remove("iss")));
    assert_eq!(hs256().verify(&anonymous), Err(IdentityError::MissingClaim("iss".into())));
}

#[test]
fn a_token_without_an_expiry_is_refused() {
    let forever = hs(&claims_with(|c| _ = c.remove("exp")));
    assert_eq!(hs256().verify(&forever), Err(IdentityError::MissingClaim("exp".into())));
}

#[test]
fn a_subject_that_is_not_a_user_id_is_refused_as_not_a_user() {
    for sub in [
        json!("alice"),
        json!("0"),
        json!("-7"),
        json!("+7"),
        json!("07"),
        json!(" 7"),
        json!(""),
        json!(0),
        json!(-7),
        json!(7.5),
        json!("9223372036854775808"),
        json!(null),
    ] {
        let token = hs(&claims_with(|c| _ = c.insert("sub".into(), sub.clone())));
        assert_eq!(hs256().verify(&token), Err(IdentityError::NotAUser), "sub {sub}");
    }
    let no_subject = hs(&claims_with(|c| _ = c.remove("sub")));
    assert_eq!(hs256().verify(&no_subject), Err(IdentityError::NotAUser));
}

#[test]
fn a_subject_may_be_a_json_integer_up_to_i64_max() {
    let numeric = hs(&claims_with(|c| _ = c.insert("sub".into(), json!(7))));
    assert_eq!(hs256().verify(&numeric), Ok(user(7)));
    let largest = hs(&claims_with(|c| _ = c.insert("sub".into(), json!(i64::MAX.to_string()))));
    assert_eq!(hs256().verify(&largest), Ok(user(i64::MAX)));
}

#[test]
fn a_configured_user_claim_is_read_instead_of_sub() {
    let custom = JwtVerifier::load(&JwtSettings {
        user_claim: "uid".into(),
        ..settings(KeySource::Secret(SECRET.into()))
    })
    .expect("loads");
    let token = hs(&claims_with(|c| _ = c.insert("uid".into(), json!(42))));
    assert_eq!(custom.verify(&token), Ok(user(42)));
    assert_eq!(custom.verify(&hs(&claims())), Err(IdentityError::NotAUser), "sub alone is not enough");
}

#[test]
fn text_that_is_not_a_jwt_is_refused_as_malformed() {
    for text in ["", "garbage", "a.b.c", "eyJhbGciOiJub25lIn0.eyJzdWIiOiI3In0."] {
        assert_eq!(hs256().verify(text), Err(IdentityError::Malformed), "{text:?}");
    }
}

/// A JWKS document of the RSA test key (`kid` "rsa") and the EC test key (`kid` "ec").
fn jwks(kids: [Option<&str>; 2]) -> Vec<u8> {
    let rsa = DecodingKey::from_rsa_pem(fixture!("rsa_public.pem")).expect("RSA public key");
    let ec = DecodingKey::from_ec_pem(fixture!("ec_public.pem")).expect("EC public key");
    let mut keys = Vec::new();
    for ((key, algorithm), kid) in [(rsa, Algorithm::RS256), (ec, Algorithm::ES256)].into_iter().zip(kids) {
        let mut jwk = Jwk::from_decoding_key(&key, Some(algorithm)).expect("a JWK");
        jwk.common.key_id = kid.map(str::to_owned);
        keys.push(serde_json::to_value(jwk).expect("JSON"));
    }
    serde_json::to_vec(&json!({ "keys": keys })).expect("JSON")
}

fn jwks_verifier(document: &[u8]) -> JwtVerifier {
    let keys = keys::jwks_keys(document).expect("usable keys");
    JwtVerifier::with_keys(keys, &settings(KeySource::JwksFile("unused".into())))
}

#[test]
fn with_a_jwks_the_tokens_kid_picks_the_key() {
    let verifier = jwks_verifier(&jwks([Some("rsa"), Some("ec")]));
    let rs = sign_with(Algorithm::RS256, Some("rsa"), &rsa_key(), &claims());
    let es = sign_with(Algorithm::ES256, Some("ec"), &ec_key(), &claims());
    assert_eq!(verifier.verify(&rs), Ok(user(7)));
    assert_eq!(verifier.verify(&es), Ok(user(7)));
    let crossed = sign_with(Algorithm::RS256, Some("ec"), &rsa_key(), &claims());
    assert_eq!(verifier.verify(&crossed), Err(IdentityError::WrongAlgorithm));
    let unknown = sign_with(Algorithm::RS256, Some("retired"), &rsa_key(), &claims());
    assert_eq!(verifier.verify(&unknown), Err(IdentityError::UnknownKey));
    let unnamed = sign_with(Algorithm::RS256, None, &rsa_key(), &claims());
    assert_eq!(verifier.verify(&unnamed), Err(IdentityError::UnknownKey));
}

#[test]
fn a_jwks_of_one_signing_key_serves_tokens_without_a_kid() {
    let mut document: Value = serde_json::from_slice(&jwks([Some("rsa"), Some("ec")])).expect("JSON");
    document["keys"][1]["use"] = json!("enc");
    let verifier = jwks_verifier(&serde_json::to_vec(&document).expect("JSON"));
    let unnamed = sign_with(Algorithm::RS256, None, &rsa_key(), &claims());
    assert_eq!(verifier.verify(&unnamed), Ok(user(7)));
    let es = sign_with(Algorithm::ES256, Some("ec"), &ec_key(), &claims());
    assert_eq!(verifier.verify(&es), Err(IdentityError::UnknownKey), "the encryption key is not used");
}

#[test]
fn a_jwks_skips_keys_for_other_uses_or_algorithms_and_refuses_a_set_with_no_usable_key() {
    let mut document: Value = serde_json::from_slice(&jwks([Some("rsa"), Some("ec")])).expect("JSON");
    document["keys"][0]["alg"] = json!("RS512");
    document["keys"][1]["use"] = json!("enc");
    document["keys"]
        .as_array_mut()
        .expect("keys")
        .push(json!({ "kty": "oct", "k": "c2VjcmV0", "kid": "hmac" }));
    document["keys"].as_array_mut().expect("keys").push(json!({ "kty": "unheard-of", "kid": "x" }));
    let error = keys::jwks_keys(&serde_json::to_vec(&document).expect("JSON")).expect_err("nothing usable");
    assert!(error.contains("no RS256"), "{error}");
}

#[test]
fn a_jwks_with_several_keys_needs_a_kid_on_each() {
    let error = keys::jwks_keys(&jwks([Some("rsa"), None])).expect_err("refused");
    assert!(error.contains("kid"), "{error}");
}

#[test]
fn a_file_that_is_not_a_jwks_document_is_refused() {
    for document in [&b"not json"[..], b"{}", b"{\"keys\": 3}"] {
        assert!(keys::jwks_keys(document).is_err(), "{}", String::from_utf8_lossy(document));
    }
}

#[test]
fn a_pem_file_with_a_private_key_another_curve_or_no_key_is_refused_naming_the_file() {
    for (name, says) in
        [("rsa_private.pem", "private key"), ("p384_public.pem", "P-256"), ("README.md", "PEM")]
    {
        let error =
            JwtVerifier::load(&settings(KeySource::PemFile(fixture_path(name)))).expect_err("refused");
        let line = error.to_string();
        assert!(line.contains(name) && line.contains(says), "{name}: {line}");
    }
}

#[test]
fn a_key_file_that_cannot_be_read_is_refused_naming_the_file() {
    let missing = fixture_path("missing.pem");
    for source in [KeySource::PemFile(missing.clone()), KeySource::JwksFile(missing.clone())] {
        let error = JwtVerifier::load(&settings(source)).expect_err("refused");
        assert!(matches!(&error, SetupError::Unreadable { path, .. } if *path == missing), "{error}");
        assert!(error.to_string().contains("missing.pem"), "{error}");
    }
}

#[test]
fn a_secret_shorter_than_32_bytes_is_refused() {
    let error = JwtVerifier::load(&settings(KeySource::Secret("x".repeat(31)))).expect_err("refused");
    assert!(matches!(error, SetupError::WeakSecret), "{error}");
}

#[test]
fn the_secret_never_shows_in_debug_output() {
    let shown = format!("{:?} {:?}", settings(KeySource::Secret(SECRET.into())), hs256());
    assert!(!shown.contains(SECRET), "{shown}");
}
