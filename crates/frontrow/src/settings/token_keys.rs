//! `TOKEN_SIGNING_KEY` and `TOKEN_SIGNING_KEY_PREVIOUS`: the keys queue tokens are sealed with.

use adapter_seal::MIN_KEY_BYTES;

use super::SettingError;

/// The keys set, if any. Unset, the store decides: one kept in PostgreSQL and shared by every
/// instance, or a random one per process for the embedded store.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct TokenKeys {
    /// Seals new tokens and opens them.
    pub current: Option<Vec<u8>>,
    /// Still opens tokens sealed before a rotation.
    pub previous: Option<Vec<u8>>,
}

/// Never shows a key.
impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys")
            .field("current", &self.current.as_ref().map(|_| "[hidden]"))
            .field("previous", &self.previous.as_ref().map(|_| "[hidden]"))
            .finish()
    }
}

impl TokenKeys {
    /// Reads both variables; a key shorter than 32 bytes, or a previous key without a current
    /// one, is refused (the error names the variable, never the key).
    pub(super) fn read(read: &dyn Fn(&'static str) -> Option<String>) -> Result<Self, SettingError> {
        let key = |name: &'static str| {
            read(name)
                .map(|value| {
                    if value.len() < MIN_KEY_BYTES {
                        return Err(SettingError {
                            name,
                            value: "[hidden]".into(),
                            reason: format!("must be at least {MIN_KEY_BYTES} bytes, got {}", value.len())
                                .into(),
                        });
                    }
                    Ok(value.into_bytes())
                })
                .transpose()
        };
        let keys = Self { current: key("TOKEN_SIGNING_KEY")?, previous: key("TOKEN_SIGNING_KEY_PREVIOUS")? };
        if keys.previous.is_some() && keys.current.is_none() {
            return Err(SettingError {
                name: "TOKEN_SIGNING_KEY_PREVIOUS",
                value: "[hidden]".into(),
                reason: "only means something with TOKEN_SIGNING_KEY set (the key that replaced it)".into(),
            });
        }
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "a-token-signing-key-of-32-bytes!";
    const OLD: &str = "the-previous-key-of-over-32-bytes";

    fn keys(pairs: &[(&'static str, &str)]) -> Result<TokenKeys, SettingError> {
        let pairs: Vec<(&'static str, String)> = pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        TokenKeys::read(&|name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn unset_keys_leave_the_choice_to_the_store() {
        assert_eq!(keys(&[]).expect("valid"), TokenKeys::default());
    }

    #[test]
    fn a_current_and_a_previous_key_are_read_as_bytes() {
        let read = keys(&[("TOKEN_SIGNING_KEY", KEY), ("TOKEN_SIGNING_KEY_PREVIOUS", OLD)]).expect("valid");
        assert_eq!(read.current.as_deref(), Some(KEY.as_bytes()));
        assert_eq!(read.previous.as_deref(), Some(OLD.as_bytes()));
    }

    #[test]
    fn a_short_key_or_a_lone_previous_key_is_refused_without_showing_it() {
        for (pairs, name) in [
            (vec![("TOKEN_SIGNING_KEY", "short-secret")], "TOKEN_SIGNING_KEY"),
            (
                vec![("TOKEN_SIGNING_KEY", KEY), ("TOKEN_SIGNING_KEY_PREVIOUS", "short-secret")],
                "TOKEN_SIGNING_KEY_PREVIOUS",
            ),
            (vec![("TOKEN_SIGNING_KEY_PREVIOUS", OLD)], "TOKEN_SIGNING_KEY_PREVIOUS"),
        ] {
            let line = keys(&pairs).expect_err("refused").to_string();
            assert!(line.contains(name), "{line}");
            assert!(!line.contains("short-secret") && !line.contains(OLD), "never shown: {line}");
        }
    }

    #[test]
    fn debug_output_hides_the_keys() {
        let read = keys(&[("TOKEN_SIGNING_KEY", KEY)]).expect("valid");
        assert!(!format!("{read:?}").contains(KEY));
    }
}
