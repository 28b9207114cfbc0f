//! Network grants: which hosts a plugin may reach. Grammar (after Spin's
//! `allowed_outbound_hosts`): `scheme://host[:port]` (`oci://host[:port]` grants a
//! registry to the OCI imports), where `host` may start with `*.`
//! to match any subdomain; the port defaults to the scheme's. A local file is granted by
//! its exact `file:///abs/path` URL. There is no allow-all: `*`, `*://*` and bare `*.`
//! are refused. Everything not granted is denied.

use url::Url;

/// One parsed grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    Net {
        scheme: String,
        host: HostPattern,
        port: u16,
    },
    File {
        path: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    Exact(String),
    /// `*.example.com`: any strict subdomain of `example.com`.
    Subdomains(String),
}

/// The grants of one plugin.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    grants: Vec<Grant>,
    /// As written, for display.
    raw: Vec<String>,
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        "ssh" => Some(22),
        "git" => Some(9418),
        // An OCI registry: https unless the operator lists it in `insecure_registries`.
        "oci" => Some(443),
        _ => None,
    }
}

impl Grant {
    /// Parses one grant; the error says what form is expected.
    pub fn parse(text: &str) -> Result<Grant, String> {
        let text = text.trim();
        let expected = "expected `scheme://host[:port]` (e.g. `https://gitlab.example.com`, \
                        `https://*.corp.example:8443`) or an exact `file:///path`";
        if let Some(path) = text.strip_prefix("file://") {
            if !path.starts_with('/') || path.len() < 2 || path.contains('*') {
                return Err(format!("a file grant must be an absolute path; {expected}"));
            }
            return Ok(Grant::File {
                path: path.to_string(),
            });
        }
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| format!("no scheme; {expected}"))?;
        if scheme == "*" || rest.starts_with('*') && !rest.starts_with("*.") {
            return Err(format!("allow-all grants are not supported; {expected}"));
        }
        let default = default_port(scheme).ok_or_else(|| {
            format!("unsupported scheme `{scheme}`; use http, https, ssh, git or oci")
        })?;
        if rest.contains('/') || rest.contains('@') || rest.contains('?') {
            return Err(format!("no user, path or query allowed; {expected}"));
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse::<u16>()
                    .map_err(|_| format!("bad port `{p}`; {expected}"))?,
            ),
            None => (rest, default),
        };
        let host = host.to_ascii_lowercase();
        let pattern = if let Some(base) = host.strip_prefix("*.") {
            if base.is_empty() || !base.contains('.') || base.contains('*') {
                return Err(format!(
                    "`*.` must be followed by a domain with at least two labels; {expected}"
                ));
            }
            HostPattern::Subdomains(base.to_string())
        } else {
            if host.is_empty() || host.contains('*') {
                return Err(format!(
                    "`*` is only allowed as a leading `*.` subdomain prefix; {expected}"
                ));
            }
            HostPattern::Exact(host)
        };
        Ok(Grant::Net {
            scheme: scheme.to_string(),
            host: pattern,
            port,
        })
    }

    fn allows(&self, url: &Url) -> bool {
        match self {
            Grant::File { path } => url.scheme() == "file" && url.path() == path,
            Grant::Net { scheme, host, port } => {
                let Some(url_host) = url.host_str() else {
                    return false;
                };
                let url_host = url_host.to_ascii_lowercase();
                url.scheme() == scheme
                    && url.port_or_known_default().or(default_port(url.scheme())) == Some(*port)
                    && match host {
                        HostPattern::Exact(h) => url_host == *h,
                        HostPattern::Subdomains(base) => url_host
                            .strip_suffix(base.as_str())
                            .is_some_and(|p| p.ends_with('.') && p.len() > 1),
                    }
            }
        }
    }
}

impl Grants {
    /// Parses a list of grants; the first bad entry fails the whole list.
    pub fn parse<S: AsRef<str>>(items: &[S]) -> Result<Grants, (String, String)> {
        let mut grants = Grants::default();
        for item in items {
            let item = item.as_ref();
            let grant = Grant::parse(item).map_err(|e| (item.to_string(), e))?;
            grants.grants.push(grant);
            grants.raw.push(item.trim().to_string());
        }
        Ok(grants)
    }

    pub fn none() -> Grants {
        Grants::default()
    }

    /// The grants as written.
    pub fn as_strings(&self) -> &[String] {
        &self.raw
    }

    pub fn is_empty(&self) -> bool {
        self.grants.is_empty()
    }

    /// Checks a URL against the grants. The error names the URL's origin and how to
    /// grant it, without any credentials.
    pub fn check(&self, url: &Url) -> Result<(), String> {
        if self.grants.iter().any(|g| g.allows(url)) {
            return Ok(());
        }
        Err(format!("{} is not granted to this plugin", origin(url)))
    }
}

/// What grants a URL: `scheme://host[:port]` (no user, path or query), or the exact
/// `file://` path. Also how denials name what was asked for.
pub fn origin(url: &Url) -> String {
    match url.scheme() {
        "file" => format!("file://{}", url.path()),
        s => format!(
            "{s}://{}{}",
            url.host_str().unwrap_or(""),
            url.port().map(|p| format!(":{p}")).unwrap_or_default()
        ),
    }
}

/// Turns a git remote spec into a URL the grants can check: scp-like
/// `user@host:path` becomes `ssh://user@host/path`.
pub fn git_remote_url(remote: &str) -> Result<Url, String> {
    if let Ok(url) = Url::parse(remote)
        && url.has_host()
    {
        return Ok(url);
    }
    if let Some((userhost, path)) = remote.split_once(':')
        && !userhost.contains('/')
        && !path.starts_with("//")
    {
        return Url::parse(&format!(
            "ssh://{userhost}/{}",
            path.trim_start_matches('/')
        ))
        .map_err(|e| format!("not a git remote URL: {e}"));
    }
    Url::parse(remote).map_err(|e| format!("not a git remote URL: {e}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn allowed(grants: &[&str], url: &str) -> bool {
        Grants::parse(grants)
            .unwrap()
            .check(&Url::parse(url).unwrap())
            .is_ok()
    }

    #[test]
    fn exact_host_and_default_port() {
        assert!(allowed(&["https://github.com"], "https://github.com/a/b"));
        assert!(allowed(&["https://github.com"], "https://github.com:443/a"));
        assert!(!allowed(
            &["https://github.com"],
            "https://github.com:8443/a"
        ));
        assert!(!allowed(&["https://github.com"], "http://github.com/a"));
        assert!(!allowed(
            &["https://github.com"],
            "https://api.github.com/a"
        ));
        assert!(!allowed(
            &["https://github.com"],
            "https://github.com.evil.io/"
        ));
    }

    #[test]
    fn explicit_port() {
        assert!(allowed(
            &["http://127.0.0.1:8080"],
            "http://127.0.0.1:8080/x"
        ));
        assert!(!allowed(
            &["http://127.0.0.1:8080"],
            "http://127.0.0.1:8081/x"
        ));
    }

    #[test]
    fn oci_registries_are_granted_by_host_and_port() {
        let g = ["oci://127.0.0.1:5000"];
        assert!(allowed(&g, "oci://127.0.0.1:5000/packs/aws"));
        assert!(!allowed(&g, "oci://127.0.0.1:5001/packs/aws"));
        assert!(!allowed(&g, "https://127.0.0.1:5000/v2/"));
        assert!(allowed(&["oci://ghcr.io"], "oci://ghcr.io/o/p"));
        assert!(!allowed(&["oci://ghcr.io"], "oci://ghcr.io:5000/o/p"));
    }

    #[test]
    fn subdomain_wildcard() {
        let g = ["https://*.corp.example"];
        assert!(allowed(&g, "https://git.corp.example/x"));
        assert!(allowed(&g, "https://a.b.corp.example/x"));
        assert!(!allowed(&g, "https://corp.example/x"));
        assert!(!allowed(&g, "https://evilcorp.example/x"));
    }

    #[test]
    fn file_grants_are_exact() {
        let g = ["file:///srv/index.json"];
        assert!(allowed(&g, "file:///srv/index.json"));
        assert!(!allowed(&g, "file:///srv/other.json"));
        assert!(!allowed(&g, "file:///etc/passwd"));
    }

    #[test]
    fn nothing_is_granted_by_default() {
        assert!(!allowed(&[], "https://github.com/"));
    }

    #[test]
    fn refuses_bad_grants() {
        for bad in [
            "*",
            "*://*",
            "https://*",
            "https://*.com",
            "https://a.*.com",
            "github.com",
            "https://github.com/path",
            "https://user@github.com",
            "ftp://x.org",
            "file://relative",
            "https://x.org:notaport",
        ] {
            assert!(Grant::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn denial_names_the_origin() {
        let err = Grants::none()
            .check(&Url::parse("https://tok:secret@evil.io:444/x?y").unwrap())
            .unwrap_err();
        assert_eq!(err, "https://evil.io:444 is not granted to this plugin");
    }

    #[test]
    fn scp_remotes_become_ssh_urls() {
        let u = git_remote_url("git@gitlab.example.com:group/sub/pack.git").unwrap();
        assert_eq!(
            u.as_str(),
            "ssh://git@gitlab.example.com/group/sub/pack.git"
        );
        assert!(allowed(&["ssh://gitlab.example.com"], u.as_str()));
        let u = git_remote_url("https://github.com/a/b").unwrap();
        assert_eq!(u.host_str(), Some("github.com"));
    }
}
