//! Acting for oneself only: the contract says a `userId` in a request must be the token's user.

use domain::UserId;

/// The `userId` of a request names someone other than the token's user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("this token may only act for its own user")]
pub struct Forbidden;

/// Returns the requested user when it is the actor; ids that are not even valid cannot be the
/// actor either, so they are forbidden too rather than revealing anything.
pub fn ensure_self(actor: UserId, requested: i64) -> Result<UserId, Forbidden> {
    if actor.get() == requested { Ok(actor) } else { Err(Forbidden) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ensure_self_accepts_the_actor() {
        let actor = UserId::new(4).expect("valid id");
        assert_eq!(ensure_self(actor, 4), Ok(actor));
    }

    #[test]
    fn ensure_self_fails_with_forbidden_for_another_user() {
        let actor = UserId::new(4).expect("valid id");
        assert_eq!(ensure_self(actor, 5), Err(Forbidden));
        assert_eq!(ensure_self(actor, -4), Err(Forbidden));
    }
}
