//! Who is asking: with `AUTH_MODE=jwt` a queue token goes only to the user an identity token
//! from the company's identity provider proves. The checking itself (signatures, keys, claims)
//! is an adapter's job behind [`IdentityVerifier`]; the domain knows only its answer.

use crate::ids::UserId;

/// Why a credential proves nobody. Every variant is the client's fault (401); only
/// [`IdentityError::Expired`] is worth a retry with a fresh identity token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// Not a signed token at all, or one that cannot be decoded.
    #[error("the identity token is malformed")]
    Malformed,
    /// Signed with an algorithm this service does not accept from the identity provider.
    #[error("the identity token is signed with an algorithm this service does not accept")]
    WrongAlgorithm,
    /// Names a signing key the service does not know.
    #[error("the identity token names a signing key this service does not know")]
    UnknownKey,
    /// The signature does not match: forged, altered, or signed with another key.
    #[error("the identity token's signature does not verify with the identity provider's key")]
    BadSignature,
    /// Past its expiry.
    #[error("the identity token has expired; get a fresh one from the identity provider")]
    Expired,
    /// Before its not-before instant.
    #[error("the identity token is not valid yet")]
    NotYetValid,
    /// Issued by someone other than the configured identity provider.
    #[error("the identity token comes from another issuer")]
    WrongIssuer,
    /// Meant for another service.
    #[error("the identity token is meant for another audience")]
    WrongAudience,
    /// A claim the service requires (`exp`, and `iss`/`aud` when configured) is absent.
    #[error("the identity token lacks the required {0} claim")]
    MissingClaim(String),
    /// The user claim is absent or not a user id (a whole number from 1).
    #[error("the identity token's user claim is not a user id (a whole number from 1)")]
    NotAUser,
}

/// Checks an identity credential and says which user it proves.
pub trait IdentityVerifier: Send + Sync {
    /// The user `credential` proves, or why it proves nobody. Time claims are judged by the
    /// verifier against the real clock (with its configured leeway), as the identity provider
    /// that issued them does.
    fn verify(&self, credential: &str) -> Result<UserId, IdentityError>;
}
