//! Reading the identity provider's keys: a shared secret, one PEM public key, or a JWKS file.
//! Anything unusable is refused here, at start-up, rather than failing every token later.

use std::path::Path;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

use crate::{KeySource, SetupError};

/// A key with its JWKS `kid` (if any) and the one algorithm it verifies.
pub(crate) type Key = (Option<String>, DecodingKey, Algorithm);

/// Shortest HS256 secret: the hash's size (RFC 7518 section 3.2).
const MIN_SECRET_BYTES: usize = 32;

/// The keys `source` names.
pub(crate) fn load(source: &KeySource) -> Result<Vec<Key>, SetupError> {
    match source {
        KeySource::Secret(secret) => Ok(vec![secret_key(secret.as_bytes())?]),
        KeySource::PemFile(path) => {
            let pem = read(path)?;
            pem_key(&pem).map(|key| vec![key]).map_err(|reason| unusable(path, reason))
        }
        KeySource::JwksFile(path) => jwks_keys(&read(path)?).map_err(|reason| unusable(path, reason)),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, SetupError> {
    std::fs::read(path).map_err(|source| SetupError::Unreadable { path: path.to_owned(), source })
}

fn unusable(path: &Path, reason: String) -> SetupError {
    SetupError::Unusable { path: path.to_owned(), reason }
}

pub(crate) fn secret_key(secret: &[u8]) -> Result<Key, SetupError> {
    if secret.len() < MIN_SECRET_BYTES {
        return Err(SetupError::WeakSecret);
    }
    let key = DecodingKey::from_secret(secret).map_err(|_| SetupError::WeakSecret)?;
    Ok((None, key, Algorithm::HS256))
}

/// One RSA (RS256) or P-256 EC (ES256) public key in PEM.
pub(crate) fn pem_key(pem: &[u8]) -> Result<Key, String> {
    let text = String::from_utf8_lossy(pem);
    if text.contains("PRIVATE KEY") {
        return Err("it holds a private key; give the identity provider's public key".into());
    }
    if let Ok(key) = DecodingKey::from_rsa_pem(pem) {
        return Ok((None, key, Algorithm::RS256));
    }
    let key = DecodingKey::from_ec_pem(pem).map_err(|_| {
        "expected an RSA or P-256 EC public key in PEM (-----BEGIN PUBLIC KEY-----)".to_owned()
    })?;
    match Jwk::from_decoding_key(&key, None).map(|jwk| jwk.algorithm) {
        Ok(AlgorithmParameters::EllipticCurve(ec)) if ec.curve == EllipticCurve::P256 => {
            Ok((None, key, Algorithm::ES256))
        }
        _ => Err("only P-256 EC keys (ES256) and RSA keys (RS256) are supported".into()),
    }
}

/// The RS256 and ES256 signing keys of a JWKS document; others (encryption keys, other
/// algorithms or key types) are skipped, as an identity provider's set may well hold some.
pub(crate) fn jwks_keys(document: &[u8]) -> Result<Vec<Key>, String> {
    let document: Value =
        serde_json::from_slice(document).map_err(|error| format!("not a JWKS JSON document: {error}"))?;
    let entries =
        document.get("keys").and_then(Value::as_array).ok_or("not a JWKS document: no \"keys\" array")?;
    let mut keys = Vec::new();
    for entry in entries {
        let Ok(jwk) = serde_json::from_value::<Jwk>(entry.clone()) else { continue };
        let Some(algorithm) = signing_algorithm(&jwk) else { continue };
        let key = DecodingKey::from_jwk(&jwk).map_err(|error| {
            format!(
                "the key {:?} is malformed: {error}",
                jwk.common.key_id.as_deref().unwrap_or("without kid")
            )
        })?;
        keys.push((jwk.common.key_id.clone(), key, algorithm));
    }
    match keys.as_slice() {
        [] => Err("it holds no RS256 or P-256 ES256 signing key".into()),
        [_] => Ok(keys),
        _ if keys.iter().any(|(kid, _, _)| kid.is_none()) => {
            Err("with several signing keys, every key needs a \"kid\" for tokens to name".into())
        }
        _ => Ok(keys),
    }
}

/// RS256 for an RSA key, ES256 for a P-256 key, when the key's own `alg` (if any) agrees and
/// it is not marked for encryption.
fn signing_algorithm(jwk: &Jwk) -> Option<Algorithm> {
    if jwk.common.public_key_use == Some(PublicKeyUse::Encryption) {
        return None;
    }
    let algorithm = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => Algorithm::ES256,
        _ => return None,
    };
    match jwk.common.key_algorithm {
        None => Some(algorithm),
        Some(stated) if stated == KeyAlgorithm::from(algorithm) => Some(algorithm),
        Some(_) => None,
    }
}
