//! Queue tokens that verify themselves: the claims (token id, user id, ticket, issue time) in
//! base64url, then a dot, then their HMAC-SHA-256 under the service's key, in base64url: 99
//! URL-safe characters that any instance holding the key can check without asking anyone.
//!
//! Why HMAC and not a JWT: one party both seals and opens, so a shared secret is all it
//! takes; the format is fixed (no header naming an algorithm to trust or confuse), half the
//! length of the smallest JWT with the same claims, and the tag is compared in constant time
//! by the MAC's own `verify_slice`.
//!
//! Rotation: tokens are sealed with the current key and opened with it or the previous one,
//! so tokens sealed before a rotation stay valid while both keys are set.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::ports::TokenSeal;
use domain::{TokenClaims, TokenValue, UserId};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use time::OffsetDateTime;

/// The shortest key accepted, in bytes (the hash's output size).
pub const MIN_KEY_BYTES: usize = 32;

/// The layout version, the first byte of the claims, so a later layout can be told apart.
const VERSION: u8 = 1;
/// Version, token id, user id, ticket, issue time in milliseconds.
const CLAIMS_BYTES: usize = 1 + 16 + 8 + 8 + 8;
/// An HMAC-SHA-256 tag.
const TAG_BYTES: usize = 32;
/// Base64url without padding of the claims, a dot, of the tag.
const TEXT_CHARS: usize = 55 + 1 + 43;

/// A key that is too short to seal with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a token signing key must be at least {MIN_KEY_BYTES} bytes, got {0}")]
pub struct KeyTooShort(pub usize);

/// A fresh random key, for a process whose tokens need not outlive it (the embedded store) or
/// as the candidate a shared store keeps if it has none yet.
pub fn random_key() -> Result<Vec<u8>, getrandom::Error> {
    let mut key = vec![0; MIN_KEY_BYTES];
    getrandom::fill(&mut key)?;
    Ok(key)
}

/// Seals with one key, opens with it or a previous one.
#[derive(Clone)]
pub struct HmacSeal {
    current: Hmac<Sha256>,
    previous: Option<Hmac<Sha256>>,
}

impl std::fmt::Debug for HmacSeal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HmacSeal").field("previous", &self.previous.is_some()).finish_non_exhaustive()
    }
}

impl HmacSeal {
    /// Seals with `current`; also opens what `previous` sealed.
    pub fn new(current: &[u8], previous: Option<&[u8]>) -> Result<Self, KeyTooShort> {
        Ok(Self { current: keyed(current)?, previous: previous.map(keyed).transpose()? })
    }

    /// A short name of the current key, safe to log: the first 8 hex digits of its MAC of a
    /// fixed text. Instances that seal alike log the same name.
    pub fn key_id(&self) -> String {
        let mut mac = self.current.clone();
        mac.update(b"frontrow token key id");
        mac.finalize().into_bytes().iter().take(4).map(|byte| format!("{byte:02x}")).collect()
    }
}

/// The MAC keyed once; every use clones it (the key's pads are computed here, not per token).
fn keyed(key: &[u8]) -> Result<Hmac<Sha256>, KeyTooShort> {
    if key.len() < MIN_KEY_BYTES {
        return Err(KeyTooShort(key.len()));
    }
    Hmac::<Sha256>::new_from_slice(key).map_err(|_| KeyTooShort(key.len()))
}

impl TokenSeal for HmacSeal {
    fn seal(&self, claims: &TokenClaims) -> String {
        let bytes = encode(claims);
        let mut mac = self.current.clone();
        mac.update(&bytes);
        let tag = mac.finalize().into_bytes();
        let mut text = String::with_capacity(TEXT_CHARS);
        URL_SAFE_NO_PAD.encode_string(bytes, &mut text);
        text.push('.');
        URL_SAFE_NO_PAD.encode_string(tag, &mut text);
        text
    }

    fn open(&self, text: &str) -> Option<TokenClaims> {
        if text.len() != TEXT_CHARS {
            return None;
        }
        let (claims, tag) = text.split_once('.')?;
        let mut bytes = [0; CLAIMS_BYTES];
        let mut sealed = [0; TAG_BYTES];
        if URL_SAFE_NO_PAD.decode_slice(claims, &mut bytes).ok()? != CLAIMS_BYTES
            || URL_SAFE_NO_PAD.decode_slice(tag, &mut sealed).ok()? != TAG_BYTES
        {
            return None;
        }
        let verifies = |key: &Hmac<Sha256>| {
            let mut mac = key.clone();
            mac.update(&bytes);
            mac.verify_slice(&sealed).is_ok()
        };
        if !verifies(&self.current) && !self.previous.as_ref().is_some_and(verifies) {
            return None;
        }
        decode(&bytes)
    }
}

fn encode(claims: &TokenClaims) -> [u8; CLAIMS_BYTES] {
    let millis = i64::try_from(claims.issued_at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX);
    let mut bytes = [0; CLAIMS_BYTES];
    bytes[0] = VERSION;
    bytes[1..17].copy_from_slice(claims.value.as_uuid().as_bytes());
    bytes[17..25].copy_from_slice(&claims.user_id.get().to_be_bytes());
    bytes[25..33].copy_from_slice(&claims.ticket.to_be_bytes());
    bytes[33..41].copy_from_slice(&millis.to_be_bytes());
    bytes
}

/// The claims of bytes whose tag verified (so they were encoded by [`encode`]); `None` for a
/// layout this version does not know.
fn decode(bytes: &[u8; CLAIMS_BYTES]) -> Option<TokenClaims> {
    if bytes[0] != VERSION {
        return None;
    }
    let word = |at: usize| bytes.get(at..at + 8).and_then(|slice| <[u8; 8]>::try_from(slice).ok());
    let uuid = uuid::Uuid::from_slice(&bytes[1..17]).ok()?;
    let user_id = UserId::new(i64::from_be_bytes(word(17)?)).ok()?;
    let ticket = u64::from_be_bytes(word(25)?);
    let millis = i64::from_be_bytes(word(33)?);
    let issued_at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000).ok()?;
    Some(TokenClaims { value: TokenValue::from_uuid(uuid), user_id, ticket, issued_at })
}

#[cfg(test)]
mod tests;
