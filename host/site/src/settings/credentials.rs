//! `[[credentials]]`: secrets the host adds to requests for a URL: the same scheme, host
//! and port, and a path under the credential's path in whole segments.
//! Each entry has `url` plus `token`/`token_env` (bearer) or `username` with
//! `password`/`password_env` (basic). A secret taken from an unset environment variable
//! drops the entry with a warning, so commands that do not need it still work. Secrets
//! are never serialized and never shown by Debug.

use std::path::Path;

use serde::Deserialize;

use super::toml_file::form;
use crate::error::SiteError;

/// A secret the host adds to requests under `url` (same origin, path in whole segments).
#[derive(Clone, PartialEq, Eq)]
pub struct CredentialSetting {
    pub url: String,
    pub secret: Secret,
}

#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    Bearer(String),
    Basic { username: String, password: String },
}

impl std::fmt::Debug for CredentialSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CredentialSetting({}, secret hidden)",
            stackpack_core::redact_url(&self.url)
        )
    }
}

/// One `[[credentials]]` table as written.
#[derive(Default, Deserialize)]
#[serde(default, expecting = "a table with url and token or username/password")]
pub(super) struct CredentialToml {
    #[serde(deserialize_with = "form::credential_url")]
    url: Option<String>,
    #[serde(deserialize_with = "form::string")]
    token: Option<String>,
    #[serde(deserialize_with = "form::env_var")]
    token_env: Option<String>,
    #[serde(deserialize_with = "form::string")]
    username: Option<String>,
    #[serde(deserialize_with = "form::string")]
    password: Option<String>,
    #[serde(deserialize_with = "form::env_var")]
    password_env: Option<String>,
}

impl CredentialToml {
    /// The credential of entry `i` of `file`, or None (with a warning) when its secret
    /// is to come from an environment variable that `env` does not have.
    pub(super) fn into_setting(
        self,
        file: &Path,
        i: usize,
        env: &dyn Fn(&str) -> Option<String>,
        warnings: &mut Vec<String>,
    ) -> Result<Option<CredentialSetting>, SiteError> {
        let bad = |key: &str, expected: &str| SiteError::ConfigValue {
            path: file.to_path_buf(),
            key: format!("credentials[{i}].{key}"),
            expected: expected.to_string(),
        };
        let url = self.url.ok_or_else(|| {
            bad(
                "url",
                "the http(s):// or oci:// URL the credential is for (scheme, host, optional port and path)",
            )
        })?;
        let mut from_env = |key: &str, var: String| match env(&var) {
            Some(v) if !v.is_empty() => Some(v),
            _ => {
                warnings.push(format!(
                    "{}: credentials[{i}].{key} names ${var}, which is not set; requests to {} go without credentials",
                    file.display(),
                    stackpack_core::redact_url(&url)
                ));
                None
            }
        };
        let secret = match (self.token, self.token_env, self.username) {
            (Some(token), None, None) => Some(Secret::Bearer(token)),
            (None, Some(var), None) => from_env("token_env", var).map(Secret::Bearer),
            (None, None, Some(username)) => {
                let password = match (self.password, self.password_env) {
                    (Some(p), None) => Some(p),
                    (None, Some(var)) => from_env("password_env", var),
                    _ => return Err(bad("password", "exactly one of password or password_env")),
                };
                password.map(|password| Secret::Basic { username, password })
            }
            _ => {
                return Err(bad(
                    "token",
                    "exactly one of token, token_env, or username with password/password_env",
                ));
            }
        };
        Ok(secret.map(|secret| CredentialSetting { url, secret }))
    }
}
