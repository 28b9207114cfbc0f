//! `[st2]`: where a running StackStorm's API is and how to authenticate to it, in
//! st2client's conventions. The file's `api_url`, `auth_url`, `api_key` /
//! `api_key_env`, `auth_token_env` and `cacert` come first; what it leaves unset comes
//! from the variables st2's CLI reads (`ST2_API_URL`, `ST2_AUTH_URL`, `ST2_API_KEY`,
//! `ST2_AUTH_TOKEN`, `ST2_CACERT`); an st2.conf given as the config supplies its
//! `[auth] api_url`. The handoff is on only when an API URL is known. The key and
//! token are never serialized and never shown by Debug.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::toml_file::form;
use crate::error::SiteError;

/// How stackpack authenticates to st2's API.
#[derive(Clone, PartialEq, Eq)]
pub enum St2Auth {
    /// Sent as `St2-Api-Key`.
    ApiKey(String),
    /// Sent as `X-Auth-Token`.
    Token(String),
}

impl St2Auth {
    /// The header name and value st2 expects for this credential.
    pub fn header(&self) -> (&'static str, &str) {
        match self {
            St2Auth::ApiKey(k) => ("St2-Api-Key", k),
            St2Auth::Token(t) => ("X-Auth-Token", t),
        }
    }

    /// Where the credential came from, for messages: the setting to fix.
    pub fn describe(&self) -> &'static str {
        match self {
            St2Auth::ApiKey(_) => "the st2 API key ([st2] api_key / api_key_env, or $ST2_API_KEY)",
            St2Auth::Token(_) => {
                "the st2 auth token ([st2] auth_token_env, or $ST2_AUTH_TOKEN; tokens expire: get a new one with `st2 auth`)"
            }
        }
    }
}

impl std::fmt::Debug for St2Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            St2Auth::ApiKey(_) => f.write_str("ApiKey(hidden)"),
            St2Auth::Token(_) => f.write_str("Token(hidden)"),
        }
    }
}

/// The st2 API settings. Empty (no `api_url`) means no handoff.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct St2Settings {
    /// The API's base URL without the version (`https://st2.example/api`, or st2's
    /// own `http://127.0.0.1:9101`).
    pub api_url: Option<String>,
    pub auth_url: Option<String>,
    pub auth: Option<St2Auth>,
    /// A PEM CA bundle for the API's certificate.
    pub cacert: Option<PathBuf>,
}

impl std::fmt::Debug for St2Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("St2Settings")
            .field(
                "api_url",
                &self.api_url.as_deref().map(stackpack_core::redact_url),
            )
            .field(
                "auth_url",
                &self.auth_url.as_deref().map(stackpack_core::redact_url),
            )
            .field("auth", &self.auth)
            .field("cacert", &self.cacert)
            .finish()
    }
}

impl St2Settings {
    /// Whether the handoff to st2 is configured (an API URL is known).
    pub fn configured(&self) -> bool {
        self.api_url.is_some()
    }

    /// Fills what the config left unset from st2's CLI variables; empty values count as
    /// unset. An API key wins over a token.
    pub fn fill_from_env(&mut self, env: &dyn Fn(&str) -> Option<String>) {
        let var = |n: &str| {
            env(n)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        if self.api_url.is_none() {
            self.api_url = var("ST2_API_URL");
        }
        if self.auth_url.is_none() {
            self.auth_url = var("ST2_AUTH_URL");
        }
        if self.auth.is_none() {
            self.auth = var("ST2_API_KEY")
                .map(St2Auth::ApiKey)
                .or_else(|| var("ST2_AUTH_TOKEN").map(St2Auth::Token));
        }
        if self.cacert.is_none() {
            self.cacert = var("ST2_CACERT").map(PathBuf::from);
        }
    }
}

/// `[st2]` as written.
#[derive(Default, Deserialize)]
#[serde(
    default,
    expecting = "an [st2] table with api_url, auth_url, api_key or api_key_env, auth_token_env, cacert"
)]
pub(super) struct St2Toml {
    #[serde(deserialize_with = "form::st2_url")]
    api_url: Option<String>,
    #[serde(deserialize_with = "form::st2_url")]
    auth_url: Option<String>,
    #[serde(deserialize_with = "form::string")]
    api_key: Option<String>,
    #[serde(deserialize_with = "form::env_var")]
    api_key_env: Option<String>,
    #[serde(deserialize_with = "form::env_var")]
    auth_token_env: Option<String>,
    #[serde(deserialize_with = "form::ca_bundle")]
    cacert: Option<String>,
}

impl St2Toml {
    /// The settings of `[st2]` in `file` (relative paths against `base`); a secret to
    /// come from an unset variable is left out with a warning.
    pub(super) fn into_settings(
        self,
        file: &Path,
        base: &Path,
        env: &dyn Fn(&str) -> Option<String>,
        warnings: &mut Vec<String>,
    ) -> Result<St2Settings, SiteError> {
        let mut from_env = |key: &str, var: String| match env(&var) {
            Some(v) if !v.trim().is_empty() => Some(v.trim().to_string()),
            _ => {
                warnings.push(format!(
                    "{}: st2.{key} names ${var}, which is not set",
                    file.display()
                ));
                None
            }
        };
        let auth = match (self.api_key, self.api_key_env, self.auth_token_env) {
            (None, None, None) => None,
            (Some(k), None, None) => Some(St2Auth::ApiKey(k)),
            (None, Some(var), None) => from_env("api_key_env", var).map(St2Auth::ApiKey),
            (None, None, Some(var)) => from_env("auth_token_env", var).map(St2Auth::Token),
            _ => {
                return Err(SiteError::ConfigValue {
                    path: file.to_path_buf(),
                    key: "st2.api_key".into(),
                    expected: "exactly one of api_key, api_key_env or auth_token_env".into(),
                });
            }
        };
        Ok(St2Settings {
            api_url: self.api_url,
            auth_url: self.auth_url,
            auth,
            cacert: self.cacert.map(|p| base.join(p)),
        })
    }
}

/// An http(s) URL, without a trailing slash.
pub(super) fn st2_url(v: &toml::Value) -> Option<String> {
    let s = v.as_str()?.trim();
    let url = url::Url::parse(s).ok()?;
    matches!(url.scheme(), "http" | "https").then(|| s.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::settings::env_of;
    use crate::settings::{Overrides, Settings};

    fn load(dir: &Path, name: &str, text: &str, env: &[(&str, &str)]) -> Settings {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        let env = env_of(env);
        Settings::load_with_env(&p, true, &env)
            .unwrap()
            .resolve_with_env(&Overrides::default(), &env)
            .unwrap()
    }

    #[test]
    fn file_first_then_st2_cli_variables() {
        let d = tempfile::tempdir().unwrap();
        let s = load(
            d.path(),
            "stackpack.toml",
            "[st2]\napi_url = \"https://st2.example/api/\"\napi_key_env = \"MY_KEY\"\ncacert = \"ca.pem\"\n",
            &[
                ("MY_KEY", "k-123"),
                ("ST2_API_URL", "http://env:9101"),
                ("ST2_AUTH_URL", "http://env:9100"),
                ("ST2_AUTH_TOKEN", "tok"),
            ],
        );
        assert_eq!(s.st2.api_url.as_deref(), Some("https://st2.example/api"));
        assert_eq!(s.st2.auth_url.as_deref(), Some("http://env:9100"));
        assert_eq!(s.st2.auth, Some(St2Auth::ApiKey("k-123".into())));
        assert_eq!(s.st2.cacert, Some(d.path().join("ca.pem")));
        assert!(s.st2.configured());

        let s = load(
            d.path(),
            "env.toml",
            "",
            &[
                ("ST2_API_URL", "http://env:9101"),
                ("ST2_AUTH_TOKEN", "tok"),
                ("ST2_CACERT", "/etc/st2/ca.pem"),
            ],
        );
        assert_eq!(s.st2.api_url.as_deref(), Some("http://env:9101"));
        assert_eq!(s.st2.auth, Some(St2Auth::Token("tok".into())));
        assert_eq!(s.st2.cacert, Some(PathBuf::from("/etc/st2/ca.pem")));

        let s = load(d.path(), "none.toml", "", &[]);
        assert!(!s.st2.configured());
        assert_eq!(s.st2, St2Settings::default());
    }

    #[test]
    fn st2_conf_gives_its_auth_api_url() {
        let d = tempfile::tempdir().unwrap();
        let s = load(
            d.path(),
            "st2.conf",
            "[auth]\napi_url = http://127.0.0.1:9101/\nenable = True\n\n[system]\nbase_path = /opt/stackstorm\n",
            &[("ST2_API_KEY", "k")],
        );
        assert_eq!(s.st2.api_url.as_deref(), Some("http://127.0.0.1:9101"));
        assert_eq!(s.st2.auth, Some(St2Auth::ApiKey("k".into())));
    }

    #[test]
    fn secrets_stay_out_of_debug_and_bad_values_are_named() {
        let d = tempfile::tempdir().unwrap();
        let s = load(
            d.path(),
            "stackpack.toml",
            "[st2]\napi_url = \"http://st2:9101\"\napi_key = \"sekrit-key\"\n",
            &[],
        );
        let shown = format!("{s:?}");
        assert!(!shown.contains("sekrit-key"), "{shown}");
        assert!(shown.contains("ApiKey(hidden)"), "{shown}");
        assert!(!serde_json::to_string(&s).unwrap().contains("sekrit-key"));

        for (text, key) in [
            ("[st2]\napi_url = \"ftp://x\"\n", "st2.api_url"),
            (
                "[st2]\napi_key = \"a\"\nauth_token_env = \"T\"\n",
                "st2.api_key",
            ),
        ] {
            let p = d.path().join("bad.toml");
            std::fs::write(&p, text).unwrap();
            let e = Settings::load_with_env(&p, true, &env_of(&[]))
                .unwrap_err()
                .to_string();
            assert!(e.contains(&format!("`{key}`")), "{text}: {e}");
        }
        let p = d.path().join("warn.toml");
        std::fs::write(
            &p,
            "[st2]\napi_url = \"http://x\"\napi_key_env = \"NOPE\"\n",
        )
        .unwrap();
        let s = Settings::load_with_env(&p, true, &env_of(&[])).unwrap();
        assert!(
            s.warnings.iter().any(|w| w.contains("$NOPE")),
            "{:?}",
            s.warnings
        );
        assert_eq!(s.st2.auth, None);
    }
}
