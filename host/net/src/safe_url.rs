//! [`SafeUrl`]: a URL that cannot print its credentials.

use std::fmt;

use sha2::{Digest, Sha256};
use stackpack_core::redact_url;
use url::Url;

/// A URL whose `Display` and `Debug` hide its password or token the way
/// [`redact_url`] does (`https://user:***@h/…`, `https://***@h/…`; a lone user name is
/// kept on ssh URLs, where it is not a secret). The URL with its credentials, for the
/// request itself, is [`SafeUrl::expose`].
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SafeUrl(Url);

impl SafeUrl {
    pub fn parse(text: &str) -> Result<SafeUrl, url::ParseError> {
        Url::parse(text).map(SafeUrl)
    }

    /// The URL as given, credentials included: for making the request, never for
    /// showing or storing.
    pub fn expose(&self) -> &Url {
        &self.0
    }

    /// Whether the URL carries a user name or a password.
    pub fn has_userinfo(&self) -> bool {
        !self.0.username().is_empty() || self.0.password().is_some()
    }

    /// The URL to write down (the lockfile): no password, and no user name either except
    /// on ssh URLs (`ssh://git@host/…`), where the name is not a secret and is needed.
    pub fn without_credentials(&self) -> Url {
        let mut u = self.0.clone();
        let _ = u.set_password(None);
        if !is_ssh(u.scheme()) {
            let _ = u.set_username("");
        }
        u
    }

    /// The URL with no userinfo at all: what credentials are matched against and what
    /// caches are keyed on, so a token changes neither.
    pub fn without_userinfo(&self) -> Url {
        let mut u = self.0.clone();
        let _ = u.set_password(None);
        let _ = u.set_username("");
        u
    }

    /// A stable cache key: the first 16 hex digits of the sha256 of
    /// [`SafeUrl::without_userinfo`], so the same place is cached once whatever
    /// credentials reach it, and no credential ends up in a file name.
    pub fn cache_key(&self) -> String {
        short_digest(self.without_userinfo().as_str())
    }
}

/// The first 16 hex digits of the sha256 of `text`.
pub(crate) fn short_digest(text: &str) -> String {
    let digest = hex::encode(Sha256::digest(text.as_bytes()));
    digest[..16].to_string()
}

fn is_ssh(scheme: &str) -> bool {
    scheme.split('+').any(|s| s.eq_ignore_ascii_case("ssh"))
}

impl From<Url> for SafeUrl {
    fn from(url: Url) -> SafeUrl {
        SafeUrl(url)
    }
}

impl std::str::FromStr for SafeUrl {
    type Err = url::ParseError;
    fn from_str(text: &str) -> Result<SafeUrl, url::ParseError> {
        SafeUrl::parse(text)
    }
}

impl fmt::Display for SafeUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_url(self.0.as_str()))
    }
}

impl fmt::Debug for SafeUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SafeUrl({:?})", redact_url(self.0.as_str()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn u(s: &str) -> SafeUrl {
        SafeUrl::parse(s).unwrap()
    }

    #[test]
    fn display_and_debug_hide_secrets_as_redact_url_does() {
        for (raw, shown) in [
            ("https://user:tok@h/x", "https://user:***@h/x"),
            ("https://tok@h/", "https://***@h/"),
            ("https://h/x?a=1", "https://h/x?a=1"),
            ("ssh://git@h/x", "ssh://git@h/x"),
            ("git+ssh://git:pw@h/x", "git+ssh://git:***@h/x"),
        ] {
            let url = u(raw);
            assert_eq!(url.to_string(), shown);
            assert_eq!(url.to_string(), redact_url(raw));
            assert_eq!(format!("{url:?}"), format!("SafeUrl({shown:?})"));
            assert_eq!(format!("{url:#?}"), format!("SafeUrl({shown:?})"));
        }
        // The URL for the request keeps everything.
        assert_eq!(u("https://user:tok@h/x").expose().password(), Some("tok"));
    }

    #[test]
    fn without_credentials_keeps_only_ssh_user_names() {
        assert_eq!(
            u("https://user:tok@h/x").without_credentials().as_str(),
            "https://h/x"
        );
        assert_eq!(
            u("https://tok@h/x").without_credentials().as_str(),
            "https://h/x"
        );
        assert_eq!(
            u("ssh://git:pw@h/x").without_credentials().as_str(),
            "ssh://git@h/x"
        );
        assert_eq!(
            u("git+ssh://git@h/x").without_credentials().as_str(),
            "git+ssh://git@h/x"
        );
        assert_eq!(
            u("file:///srv/x").without_credentials().as_str(),
            "file:///srv/x"
        );
        assert!(u("https://tok@h/x").has_userinfo());
        assert!(!SafeUrl::from(u("https://tok@h/x").without_credentials()).has_userinfo());
    }

    #[test]
    fn cache_key_ignores_credentials_and_is_stable() {
        let key = u("https://h/index.json").cache_key();
        assert_eq!(key.len(), 16);
        assert_eq!(u("https://user:tok@h/index.json").cache_key(), key);
        assert_eq!(u("https://other@h/index.json").cache_key(), key);
        assert_ne!(u("https://h/other.json").cache_key(), key);
        // The digest of the bare URL, so existing caches keep their names.
        let digest = hex::encode(Sha256::digest(b"https://h/index.json"));
        assert_eq!(key, digest[..16]);
    }
}
