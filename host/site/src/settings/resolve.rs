//! From the settings as read to the settings commands use: what the file leaves out
//! comes from the environment (proxies, st2's CLI variables), the command line replaces what it names
//! (`--index`), and every index location becomes an absolute URL.

use std::path::PathBuf;

use super::{ProxySettings, Settings};
use crate::error::SiteError;

/// What the command line says over the config file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `--index` values: when any, they replace the configured `index_url` list.
    pub index_urls: Vec<String>,
}

impl Settings {
    /// The settings commands use: proxies missing from the file come from the process
    /// environment ([`ProxySettings::fill_from_env`]), `overrides` are applied, and
    /// every index location is normalised ([`normalize_index_url`]).
    pub fn resolve(self, overrides: &Overrides) -> Result<Settings, SiteError> {
        self.resolve_with_env(overrides, &|name| std::env::var(name).ok())
    }

    /// [`Settings::resolve`] with the environment given as a lookup function.
    pub fn resolve_with_env(
        mut self,
        overrides: &Overrides,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Settings, SiteError> {
        self.proxy.fill_from_env(env);
        self.st2.fill_from_env(env);
        if !overrides.index_urls.is_empty() {
            self.index_url = overrides.index_urls.clone();
        }
        self.index_url = self
            .index_url
            .iter()
            .map(|u| normalize_index_url(u))
            .collect::<Result<_, _>>()?;
        self.insecure_registries.sort();
        self.insecure_registries.dedup();
        Ok(self)
    }
}

impl ProxySettings {
    /// Fills the proxy settings the config left out from the environment, as st2 does:
    /// lower-case names first, then upper-case; empty values count as unset.
    /// `proxy_ca_bundle_path` is st2's own name and has no upper-case form.
    pub fn fill_from_env(&mut self, env: &dyn Fn(&str) -> Option<String>) {
        let first = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| env(n).filter(|v| !v.trim().is_empty()))
        };
        if self.http_proxy.is_none() {
            self.http_proxy = first(&["http_proxy", "HTTP_PROXY"]);
        }
        if self.https_proxy.is_none() {
            self.https_proxy = first(&["https_proxy", "HTTPS_PROXY"]);
        }
        if self.no_proxy.is_none() {
            self.no_proxy = first(&["no_proxy", "NO_PROXY"]);
        }
        if self.proxy_ca_bundle_path.is_none() {
            self.proxy_ca_bundle_path = first(&["proxy_ca_bundle_path"]).map(PathBuf::from);
        }
    }
}

/// An index location as a URL: `http://`, `https://` and `file://` URLs are kept (in
/// their parsed form); anything without `://` is a path, made absolute against the
/// current directory and turned into a `file://` URL.
pub fn normalize_index_url(raw: &str) -> Result<String, SiteError> {
    let bad = |reason: String| SiteError::IndexUrl {
        url: stackpack_core::redact_unparsed_url(raw),
        reason,
    };
    // `https:/h/x` or `http:host` is a mistyped URL, not a relative path to read.
    let lower = raw.trim_start().to_ascii_lowercase();
    if !raw.contains("://")
        && ["http:", "https:", "file:"]
            .iter()
            .any(|s| lower.starts_with(s))
    {
        return Err(bad("a URL needs `scheme://`".into()));
    }
    if raw.contains("://") {
        let url = url::Url::parse(raw).map_err(|e| bad(e.to_string()))?;
        return match url.scheme() {
            "http" | "https" | "file" => Ok(url.to_string()),
            s => Err(bad(format!("unsupported scheme `{s}`"))),
        };
    }
    let path = std::path::absolute(raw).map_err(|e| bad(e.to_string()))?;
    url::Url::from_file_path(&path)
        .map(|u| u.to_string())
        .map_err(|_| bad("not a usable path".into()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::settings::env_of;

    #[test]
    fn proxies_come_from_the_environment_lower_case_first() {
        let env = env_of(&[
            ("http_proxy", "http://lower:1"),
            ("HTTP_PROXY", "http://upper:1"),
            ("https_proxy", "  "),
            ("HTTPS_PROXY", "http://upper:2"),
            ("NO_PROXY", "localhost"),
            ("proxy_ca_bundle_path", "/etc/ssl/corp.pem"),
            ("PROXY_CA_BUNDLE_PATH", "/not/this.pem"),
        ]);
        let mut proxy = ProxySettings::default();
        proxy.fill_from_env(&env);
        assert_eq!(proxy.http_proxy.as_deref(), Some("http://lower:1"));
        // An empty (blank) lower-case value is skipped, not taken.
        assert_eq!(proxy.https_proxy.as_deref(), Some("http://upper:2"));
        assert_eq!(proxy.no_proxy.as_deref(), Some("localhost"));
        assert_eq!(
            proxy.proxy_ca_bundle_path,
            Some(PathBuf::from("/etc/ssl/corp.pem"))
        );

        let mut none = ProxySettings::default();
        none.fill_from_env(&env_of(&[("PROXY_CA_BUNDLE_PATH", "/x.pem")]));
        assert_eq!(none, ProxySettings::default());
    }

    #[test]
    fn configured_proxies_win_over_the_environment() {
        let mut proxy = ProxySettings {
            https_proxy: Some("http://configured:3128".into()),
            proxy_ca_bundle_path: Some("/etc/configured.pem".into()),
            ..ProxySettings::default()
        };
        proxy.fill_from_env(&env_of(&[
            ("https_proxy", "http://env:1"),
            ("http_proxy", "http://env:2"),
            ("proxy_ca_bundle_path", "/env.pem"),
        ]));
        assert_eq!(proxy.https_proxy.as_deref(), Some("http://configured:3128"));
        assert_eq!(proxy.http_proxy.as_deref(), Some("http://env:2"));
        assert_eq!(
            proxy.proxy_ca_bundle_path,
            Some(PathBuf::from("/etc/configured.pem"))
        );
    }

    #[test]
    fn index_locations_become_absolute_urls() {
        assert_eq!(
            normalize_index_url("https://idx.example/v1/index.json").unwrap(),
            "https://idx.example/v1/index.json"
        );
        assert_eq!(
            normalize_index_url("HTTP://Idx.Example:80/i.json").unwrap(),
            "http://idx.example/i.json"
        );
        assert_eq!(
            normalize_index_url("file:///srv/index.json").unwrap(),
            "file:///srv/index.json"
        );
        assert_eq!(
            normalize_index_url("/srv/my index.json").unwrap(),
            "file:///srv/my%20index.json"
        );
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            normalize_index_url("idx/index.json").unwrap(),
            url::Url::from_file_path(cwd.join("idx/index.json"))
                .unwrap()
                .to_string()
        );
    }

    #[test]
    fn bad_index_urls_name_the_url_and_the_fix() {
        let e = normalize_index_url("ftp://idx.example/i.json")
            .unwrap_err()
            .to_string();
        assert!(e.contains("ftp://idx.example/i.json"), "{e}");
        assert!(e.contains("unsupported scheme `ftp`"), "{e}");
        assert!(e.contains("http(s):// or file:// URL or a path"), "{e}");
        let e = normalize_index_url("https://user:hunter2@[::1/i.json")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("hunter2"), "{e}");
        assert!(e.contains("http(s):// or file:// URL or a path"), "{e}");
    }

    #[test]
    fn resolve_applies_environment_overrides_and_normalisation() {
        let settings = Settings {
            index_url: vec!["/srv/a.json".into()],
            ..Settings::default()
        };
        let env = env_of(&[("HTTPS_PROXY", "http://proxy:3128")]);
        let kept = settings
            .clone()
            .resolve_with_env(&Overrides::default(), &env)
            .unwrap();
        assert_eq!(kept.index_url, vec!["file:///srv/a.json"]);
        assert_eq!(kept.proxy.https_proxy.as_deref(), Some("http://proxy:3128"));

        let overridden = settings
            .clone()
            .resolve_with_env(
                &Overrides {
                    index_urls: vec!["https://b.example/i.json".into(), "/srv/c.json".into()],
                },
                &env,
            )
            .unwrap();
        assert_eq!(
            overridden.index_url,
            vec!["https://b.example/i.json", "file:///srv/c.json"]
        );

        let e = settings
            .resolve_with_env(
                &Overrides {
                    index_urls: vec!["gopher://x/i.json".into()],
                },
                &env,
            )
            .unwrap_err();
        assert!(matches!(e, SiteError::IndexUrl { .. }), "{e}");
    }

    #[test]
    fn invalid_index_urls_never_show_their_secret() {
        // The safe outcome: the error names the index URL with everything before its
        // last `@` hidden, whatever made it invalid.
        for raw in [
            "https://user:SE/CRET@host/x",
            "https://user:SE?CRET@host:99999/x",
            "https://user:SECRET@host:99999/x",
            "https://user:SECRET@[bad/x",
            "ftp://user:SECRET@h/x",
            "https:/user:SECRET@h/x",
            "http:user:SECRET@h/x",
        ] {
            let e = normalize_index_url(raw).unwrap_err().to_string();
            assert!(!e.contains("SE"), "{raw}: {e}");
            assert!(e.contains("invalid index URL"), "{e}");
        }
    }
}
