//! `AUTH_MODE` and the `AUTH_JWT_*` settings: how the service learns who asks for a queue token.
//! Only variables are read here; the key files are read (and refused if unusable) at start-up.

use std::path::PathBuf;

use adapter_jwt::{JwtSettings, KeySource};

use super::{Bounded, SettingError};

/// Clock skew tolerated on identity tokens' `exp` and `nbf`; at most ten minutes, as more would
/// keep expired identity tokens usable for long.
const AUTH_JWT_LEEWAY_SECONDS: Bounded = Bounded { name: "AUTH_JWT_LEEWAY_SECONDS", min: 0, max: 600 };
/// [`AUTH_JWT_LEEWAY_SECONDS`] when unset.
const DEFAULT_LEEWAY_SECONDS: u32 = 60;
/// The variables naming the identity provider's key; `AUTH_MODE=jwt` needs exactly one.
const KEY_VARIABLES: [&str; 3] = ["AUTH_JWT_SECRET", "AUTH_JWT_PUBLIC_KEY_FILE", "AUTH_JWT_JWKS_FILE"];
/// With [`KEY_VARIABLES`], every variable that only means something with `AUTH_MODE=jwt`.
const OTHER_JWT_VARIABLES: [&str; 4] =
    ["AUTH_JWT_ISSUER", "AUTH_JWT_AUDIENCE", AUTH_JWT_LEEWAY_SECONDS.name, "AUTH_JWT_USER_CLAIM"];

/// Who a token request comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMode {
    /// `AUTH_MODE=none`: the request's `userId` is trusted (the demo, or behind a gateway that
    /// already authenticates users).
    None,
    /// `AUTH_MODE=jwt`: an identity token from the identity provider says who asks.
    Jwt(JwtSettings),
}

impl AuthMode {
    /// Reads `AUTH_MODE` and, for `jwt`, the `AUTH_JWT_*` variables. `none` is the default only
    /// for the embedded store: a PostgreSQL deployment is a real one, where trusting the
    /// request's `userId` must be a decision, not an accident.
    pub(super) fn read(
        read: &dyn Fn(&'static str) -> Option<String>,
        database: bool,
    ) -> Result<Self, SettingError> {
        let mode = read("AUTH_MODE");
        match mode.as_deref().map(|mode| mode.trim().to_ascii_lowercase()).as_deref() {
            None if database => Err(SettingError {
                name: "AUTH_MODE",
                value: String::new(),
                reason: "must be set when DATABASE_URL is: jwt to check identity tokens, or none to trust \
                         the request's userId (only behind a gateway that authenticates users)"
                    .into(),
            }),
            None | Some("none") => match KEY_VARIABLES
                .into_iter()
                .chain(OTHER_JWT_VARIABLES)
                .find_map(|name| read(name).map(|value| (name, value)))
            {
                Some((name, value)) => Err(SettingError {
                    name,
                    value: shown(name, value),
                    reason: "is only used with AUTH_MODE=jwt; set AUTH_MODE=jwt, or unset it".into(),
                }),
                None => Ok(Self::None),
            },
            Some("jwt") => Ok(Self::Jwt(jwt(read)?)),
            Some(_) => Err(SettingError {
                name: "AUTH_MODE",
                value: mode.unwrap_or_default(),
                reason: "expected jwt or none".into(),
            }),
        }
    }
}

fn jwt(read: &dyn Fn(&'static str) -> Option<String>) -> Result<JwtSettings, SettingError> {
    let mut keys = KEY_VARIABLES.into_iter().filter_map(|name| read(name).map(|value| (name, value)));
    let keys = match (keys.next(), keys.next()) {
        (Some(("AUTH_JWT_SECRET", secret)), None) => KeySource::Secret(secret),
        (Some(("AUTH_JWT_PUBLIC_KEY_FILE", path)), None) => KeySource::PemFile(PathBuf::from(path.trim())),
        (Some((_, path)), None) => KeySource::JwksFile(PathBuf::from(path.trim())),
        (None, _) => {
            return Err(SettingError {
                name: "AUTH_MODE",
                value: "jwt".into(),
                reason: "needs the identity provider's key: set AUTH_JWT_SECRET (HS256), \
                         AUTH_JWT_PUBLIC_KEY_FILE (RS256/ES256 PEM) or AUTH_JWT_JWKS_FILE"
                    .into(),
            });
        }
        (Some(_), Some((name, value))) => {
            return Err(SettingError {
                name,
                value: shown(name, value),
                reason: "set only one of AUTH_JWT_SECRET, AUTH_JWT_PUBLIC_KEY_FILE, AUTH_JWT_JWKS_FILE"
                    .into(),
            });
        }
    };
    let leeway = AUTH_JWT_LEEWAY_SECONDS.read(read(AUTH_JWT_LEEWAY_SECONDS.name), DEFAULT_LEEWAY_SECONDS)?;
    let text = |name| read(name).map(|value| value.trim().to_owned());
    Ok(JwtSettings {
        keys,
        issuer: text("AUTH_JWT_ISSUER"),
        audience: text("AUTH_JWT_AUDIENCE"),
        leeway_seconds: leeway.into(),
        user_claim: text("AUTH_JWT_USER_CLAIM").unwrap_or_else(|| "sub".to_owned()),
    })
}

/// A value as an error may show it: never the secret.
fn shown(name: &str, value: String) -> String {
    if name == "AUTH_JWT_SECRET" { "[hidden]".to_owned() } else { value }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Settings;
    use std::collections::HashMap;

    const SECRET: &str = "a-shared-secret-of-at-least-32-bytes";

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> =
            pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        move |name| map.get(name).cloned()
    }

    fn auth(pairs: &[(&str, &str)]) -> Result<AuthMode, SettingError> {
        let lookup = lookup(pairs);
        AuthMode::read(&|name| lookup(name), false)
    }

    fn jwt_with(pairs: &[(&str, &str)]) -> JwtSettings {
        let mut all = vec![("AUTH_MODE", "jwt")];
        all.extend_from_slice(pairs);
        match auth(&all) {
            Ok(AuthMode::Jwt(settings)) => settings,
            other => panic!("expected jwt settings, got {other:?}"),
        }
    }

    #[test]
    fn the_embedded_store_trusts_the_request_by_default() {
        let settings = Settings::from_lookup(lookup(&[])).expect("valid");
        assert_eq!(settings.auth, AuthMode::None);
    }

    #[test]
    fn postgres_refuses_to_start_without_an_explicit_auth_mode() {
        let error = Settings::from_lookup(lookup(&[("DATABASE_URL", "postgres://localhost/x")]))
            .expect_err("AUTH_MODE is required");
        let line = error.to_string();
        assert!(
            line.contains("AUTH_MODE") && line.contains("DATABASE_URL") && !line.contains('\n'),
            "{line}"
        );
        let explicit = [("DATABASE_URL", "postgres://localhost/x"), ("AUTH_MODE", "none")];
        assert_eq!(Settings::from_lookup(lookup(&explicit)).expect("valid").auth, AuthMode::None);
    }

    #[test]
    fn jwt_mode_with_a_secret_checks_hs256_with_the_defaults() {
        let expected = JwtSettings {
            keys: KeySource::Secret(SECRET.into()),
            issuer: None,
            audience: None,
            leeway_seconds: 60,
            user_claim: "sub".into(),
        };
        assert_eq!(jwt_with(&[("AUTH_JWT_SECRET", SECRET)]), expected);
    }

    #[test]
    fn jwt_mode_reads_every_identity_setting() {
        let settings = jwt_with(&[
            ("AUTH_JWT_JWKS_FILE", " /etc/frontrow/jwks.json "),
            ("AUTH_JWT_ISSUER", "https://id.example.com"),
            ("AUTH_JWT_AUDIENCE", "frontrow"),
            ("AUTH_JWT_LEEWAY_SECONDS", "5"),
            ("AUTH_JWT_USER_CLAIM", "uid"),
        ]);
        let expected = JwtSettings {
            keys: KeySource::JwksFile("/etc/frontrow/jwks.json".into()),
            issuer: Some("https://id.example.com".into()),
            audience: Some("frontrow".into()),
            leeway_seconds: 5,
            user_claim: "uid".into(),
        };
        assert_eq!(settings, expected);
        let pem = jwt_with(&[("AUTH_JWT_PUBLIC_KEY_FILE", "/etc/idp.pem")]);
        assert_eq!(pem.keys, KeySource::PemFile("/etc/idp.pem".into()));
    }

    #[test]
    fn jwt_mode_needs_exactly_one_key_and_never_shows_the_secret() {
        let none = auth(&[("AUTH_MODE", "jwt")]).expect_err("no key");
        assert!(none.to_string().contains("AUTH_JWT_SECRET"), "{none}");
        let two = auth(&[("AUTH_MODE", "JWT"), ("AUTH_JWT_SECRET", SECRET), ("AUTH_JWT_JWKS_FILE", "/k")])
            .expect_err("two keys");
        assert!(two.to_string().contains("only one"), "{two}");
        let two =
            auth(&[("AUTH_MODE", "jwt"), ("AUTH_JWT_PUBLIC_KEY_FILE", "/k"), ("AUTH_JWT_SECRET", SECRET)])
                .expect_err("two keys");
        assert!(!two.to_string().contains(SECRET), "{two}");
    }

    #[test]
    fn identity_settings_without_auth_mode_jwt_are_refused_rather_than_ignored() {
        let stray = auth(&[("AUTH_JWT_SECRET", SECRET)]).expect_err("AUTH_MODE is not jwt");
        assert!(
            stray.to_string().contains("AUTH_MODE=jwt") && !stray.to_string().contains(SECRET),
            "{stray}"
        );
        assert!(auth(&[("AUTH_MODE", "none"), ("AUTH_JWT_AUDIENCE", "frontrow")]).is_err());
    }

    #[test]
    fn malformed_identity_settings_are_refused_with_the_variable_name() {
        for (name, value) in
            [("AUTH_MODE", "oauth"), ("AUTH_JWT_LEEWAY_SECONDS", "601"), ("AUTH_JWT_LEEWAY_SECONDS", "-1")]
        {
            let error = auth(&[("AUTH_MODE", "jwt"), ("AUTH_JWT_SECRET", SECRET), (name, value)])
                .expect_err("malformed");
            assert!(error.to_string().contains(name), "{name}={value}: {error}");
        }
    }
}
