//! Identity tokens: with `AUTH_MODE=jwt` the company's identity provider vouches for who asks
//! for a queue token, by a JWT it signed. [`JwtVerifier`] implements the domain's
//! [`IdentityVerifier`] port with `jsonwebtoken`: the signature (HS256 with a shared secret, or
//! RS256/ES256 with the provider's public keys from a PEM or JWKS file, never fetched over the
//! network), `exp` (required), `nbf`, `iss` and `aud`, within a clock leeway; then the user claim
//! (`sub` by default) must be a user id.

use std::fmt;
use std::path::PathBuf;

use domain::{IdentityError, IdentityVerifier, UserId};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use serde_json::{Map, Value};

mod keys;

/// What the binary's settings say about the identity provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtSettings {
    /// The keys identity tokens are signed with.
    pub keys: KeySource,
    /// The `iss` every token must carry, when set.
    pub issuer: Option<String>,
    /// The `aud` every token must carry, when set; when unset, tokens that name an audience
    /// are refused (they are meant for some other service).
    pub audience: Option<String>,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    pub leeway_seconds: u64,
    /// The claim holding the user id.
    pub user_claim: String,
}

/// Where the identity provider's keys come from.
#[derive(Clone, PartialEq, Eq)]
pub enum KeySource {
    /// HS256 with this shared secret (at least 32 bytes, RFC 7518).
    Secret(String),
    /// RS256 or ES256 (P-256) with the one public key in this PEM file.
    PemFile(PathBuf),
    /// RS256 and ES256 keys of this JWKS file, picked by the token's `kid`.
    JwksFile(PathBuf),
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Secret(_) => f.write_str("Secret([redacted])"),
            Self::PemFile(path) => f.debug_tuple("PemFile").field(path).finish(),
            Self::JwksFile(path) => f.debug_tuple("JwksFile").field(path).finish(),
        }
    }
}

/// Why the identity keys cannot be used; start-up stops with it.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The key file cannot be read.
    #[error("cannot read the identity key file {}: {source}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The key file holds no key this service can check signatures with.
    #[error("the identity key file {} is not usable: {reason}", path.display())]
    Unusable {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// An HS256 secret shorter than the hash (RFC 7518 section 3.2 requires 256 bits).
    #[error("the identity token secret is too short: HS256 needs at least 32 bytes")]
    WeakSecret,
    /// The build has no crypto backend for jsonwebtoken (or two).
    #[error(
        "no crypto backend for identity tokens: build jsonwebtoken with exactly one of rust_crypto, aws_lc_rs"
    )]
    NoCryptoBackend,
}

/// A key the identity provider signs with, and how tokens signed with it are validated.
struct VerifyingKey {
    /// The JWKS `kid`; `None` for a secret or a PEM key, which are used whatever a token names.
    kid: Option<String>,
    key: DecodingKey,
    validation: Validation,
}

/// Checks identity tokens; built once at start-up, shared by every request.
pub struct JwtVerifier {
    keys: Vec<VerifyingKey>,
    user_claim: String,
}

impl fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kids: Vec<Option<&str>> = self.keys.iter().map(|key| key.kid.as_deref()).collect();
        f.debug_struct("JwtVerifier").field("kids", &kids).field("user_claim", &self.user_claim).finish()
    }
}

impl JwtVerifier {
    /// Reads and checks the keys `settings` name.
    pub fn load(settings: &JwtSettings) -> Result<Self, SetupError> {
        if jsonwebtoken::crypto::CryptoProvider::try_get_default().is_none() {
            return Err(SetupError::NoCryptoBackend);
        }
        Ok(Self::with_keys(keys::load(&settings.keys)?, settings))
    }

    fn with_keys(keys: Vec<keys::Key>, settings: &JwtSettings) -> Self {
        let keys = keys
            .into_iter()
            .map(|(kid, key, algorithm)| VerifyingKey {
                kid,
                key,
                validation: validation(algorithm, settings),
            })
            .collect();
        Self { keys, user_claim: settings.user_claim.clone() }
    }

    /// The key a token's header asks for: the only one unless the keys come from a JWKS file
    /// with several, where the `kid` decides.
    fn key_for(&self, header: &Header) -> Result<&VerifyingKey, IdentityError> {
        match (self.keys.as_slice(), header.kid.as_deref()) {
            ([only], _) if only.kid.is_none() => Some(only),
            ([only], None) => Some(only),
            (keys, Some(kid)) => keys.iter().find(|key| key.kid.as_deref() == Some(kid)),
            (_, None) => None,
        }
        .ok_or(IdentityError::UnknownKey)
    }
}

impl IdentityVerifier for JwtVerifier {
    fn verify(&self, credential: &str) -> Result<UserId, IdentityError> {
        let header = jsonwebtoken::decode_header(credential).map_err(refusal)?;
        let key = self.key_for(&header)?;
        let token = jsonwebtoken::decode::<Map<String, Value>>(credential, &key.key, &key.validation)
            .map_err(refusal)?;
        user_id(token.claims.get(&self.user_claim))
    }
}

/// One algorithm per key (so a token cannot pick a weaker one, or an HMAC over a public key),
/// `exp` required, `nbf` checked when present, `iss` and `aud` required when configured.
fn validation(algorithm: Algorithm, settings: &JwtSettings) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.leeway = settings.leeway_seconds;
    validation.validate_nbf = true;
    // `Validation::new` already requires `exp`.
    if let Some(issuer) = &settings.issuer {
        validation.set_issuer(&[issuer]);
        validation.required_spec_claims.insert("iss".to_owned());
    }
    if let Some(audience) = &settings.audience {
        validation.set_audience(&[audience]);
        validation.required_spec_claims.insert("aud".to_owned());
    }
    validation
}

/// The domain's reason for a refusal by `jsonwebtoken`.
fn refusal(error: jsonwebtoken::errors::Error) -> IdentityError {
    match error.into_kind() {
        ErrorKind::InvalidSignature => IdentityError::BadSignature,
        ErrorKind::ExpiredSignature => IdentityError::Expired,
        ErrorKind::ImmatureSignature => IdentityError::NotYetValid,
        ErrorKind::InvalidIssuer => IdentityError::WrongIssuer,
        ErrorKind::InvalidAudience => IdentityError::WrongAudience,
        ErrorKind::InvalidAlgorithm => IdentityError::WrongAlgorithm,
        ErrorKind::MissingRequiredClaim(claim) => IdentityError::MissingClaim(claim),
        _ => IdentityError::Malformed,
    }
}

/// The user a claim names: a JSON integer, or a string of decimal digits without sign, spaces or
/// leading zeros (one spelling per user), from 1 to `i64::MAX`.
fn user_id(claim: Option<&Value>) -> Result<UserId, IdentityError> {
    let id = match claim {
        Some(Value::Number(number)) => number.as_i64(),
        Some(Value::String(text)) if text.bytes().all(|b| b.is_ascii_digit()) && !text.starts_with('0') => {
            text.parse().ok()
        }
        _ => None,
    };
    id.and_then(|id| UserId::new(id).ok()).ok_or(IdentityError::NotAUser)
}

#[cfg(test)]
mod tests;
