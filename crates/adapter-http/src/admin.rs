//! The one gate of the box office (`/admin/…`): the operator's bearer secret, `ADMIN_TOKEN`.
//! With no secret set the box office does not exist (404, like any unknown path), so a
//! deployment that never set one exposes nothing. The secret is compared in constant time, so
//! how long a refusal takes says nothing about how much of a guess was right.

use std::sync::Arc;

use actix_web::HttpRequest;
use subtle::ConstantTimeEq;

use crate::errors::ApiError;
use crate::input;
use crate::state::HttpState;

/// The operator's secret.
#[derive(Clone)]
pub struct AdminToken(Arc<[u8]>);

impl AdminToken {
    /// Wraps the secret; the binary checks its length at start-up.
    pub fn new(secret: &str) -> Self {
        Self(Arc::from(secret.as_bytes()))
    }

    fn admits(&self, presented: &str) -> bool {
        bool::from(self.0.as_ref().ct_eq(presented.as_bytes()))
    }
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("AdminToken(…)")
    }
}

/// Lets the operator through, or answers 404 (no box office) or 401 `ADMIN_TOKEN_INVALID`.
pub fn gate(state: &HttpState, request: &HttpRequest) -> Result<(), ApiError> {
    let Some(secret) = &state.admin else { return Err(ApiError::not_found("no such resource")) };
    let presented = input::bearer(request)?;
    if secret.admits(presented) { Ok(()) } else { Err(ApiError::admin_token_invalid()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_secret_is_admitted() {
        let secret = AdminToken::new("correct horse battery staple 0123");
        assert!(secret.admits("correct horse battery staple 0123"));
        for guess in ["", "correct", "correct horse battery staple 012", "correct horse battery staple 01234"]
        {
            assert!(!secret.admits(guess), "{guess:?}");
        }
    }

    #[test]
    fn the_secret_never_shows_in_debug_output() {
        assert_eq!(format!("{:?}", AdminToken::new("hunter2-hunter2")), "AdminToken(…)");
    }
}
