//! stackpack's network and git I/O: everything that goes out of the machine goes
//! through here, with one [`NetConfig`] (proxies, CA bundle, timeouts) applied to it.
//! [`Net`] implements the plugin runtime's [`NetBackend`], so a plugin's `http-get`
//! and `git-list-refs` calls (already checked against its grants by the runtime) are
//! performed here.

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use stackpack_core::redact_url;
use stackpack_plugin::{HttpReply, NetBackend, NetFailure};
use url::Url;

/// Errors setting up the network client.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(
        "invalid proxy setting `{key}` = {value:?}: {reason}; expected a URL such as http://proxy.example:3128"
    )]
    Proxy {
        key: &'static str,
        value: String,
        reason: String,
    },
    #[error("cannot use CA bundle {}: {reason}; set proxy_ca_bundle_path to a readable PEM file", path.display())]
    CaBundle { path: PathBuf, reason: String },
    #[error("cannot set up the HTTP client: {0}")]
    Client(String),
}

/// Network settings shared by HTTP and git.
#[derive(Debug, Clone, Default)]
pub struct NetConfig {
    pub http_proxy: Option<String>,
    pub https_proxy: Option<String>,
    pub no_proxy: Option<String>,
    pub ca_bundle: Option<PathBuf>,
    /// Per-request timeout; 30 s when unset.
    pub timeout: Option<Duration>,
}

/// The host's network client.
pub struct Net {
    http: reqwest::blocking::Client,
    config: NetConfig,
}

impl Net {
    pub fn new(config: NetConfig) -> Result<Net, FetchError> {
        let mut builder = reqwest::blocking::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.timeout.unwrap_or(Duration::from_secs(30)))
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("stackpack/", env!("CARGO_PKG_VERSION")));
        let no_proxy = config
            .no_proxy
            .as_deref()
            .and_then(reqwest::NoProxy::from_string);
        if let Some(v) = &config.http_proxy {
            let proxy =
                reqwest::Proxy::http(v.as_str()).map_err(|e| proxy_error("http_proxy", v, e))?;
            builder = builder.proxy(proxy.no_proxy(no_proxy.clone()));
        }
        if let Some(v) = &config.https_proxy {
            let proxy =
                reqwest::Proxy::https(v.as_str()).map_err(|e| proxy_error("https_proxy", v, e))?;
            builder = builder.proxy(proxy.no_proxy(no_proxy.clone()));
        }
        if let Some(path) = &config.ca_bundle {
            let pem = std::fs::read(path).map_err(|e| FetchError::CaBundle {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            let certs =
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| FetchError::CaBundle {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder
            .build()
            .map_err(|e| FetchError::Client(e.to_string()))?;
        Ok(Net { http, config })
    }

    fn proxy_for(&self, url: &str) -> Option<&str> {
        if url.starts_with("https://") {
            self.config.https_proxy.as_deref()
        } else if url.starts_with("http://") {
            self.config.http_proxy.as_deref()
        } else {
            None
        }
    }
}

fn proxy_error(key: &'static str, value: &str, e: reqwest::Error) -> FetchError {
    FetchError::Proxy {
        key,
        value: redact_url(value),
        reason: redact_url(&e.to_string()),
    }
}

/// A URL as it may appear in messages: without any password or token.
pub fn redact(url: &Url) -> String {
    redact_url(url.as_str())
}

impl NetBackend for Net {
    fn http_get(
        &self,
        url: &Url,
        headers: &[(String, String)],
        max_body: u64,
    ) -> Result<HttpReply, NetFailure> {
        match url.scheme() {
            "file" => {
                let path = url
                    .to_file_path()
                    .map_err(|_| NetFailure::Transport(format!("not a local path: {url}")))?;
                let file = std::fs::File::open(&path)
                    .map_err(|e| NetFailure::Transport(format!("{}: {e}", path.display())))?;
                return read_capped(file, max_body).map(|body| HttpReply {
                    status: 200,
                    headers: Vec::new(),
                    body,
                });
            }
            "http" | "https" => {}
            other => {
                return Err(NetFailure::Transport(format!(
                    "unsupported scheme `{other}`"
                )));
            }
        }
        let mut req = self.http.get(url.clone());
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let resp = req.send().map_err(|e| {
            if e.is_timeout() {
                NetFailure::Timeout
            } else {
                NetFailure::Transport(format!("GET {}: {}", redact(url), describe(e)))
            }
        })?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        if let Some(len) = resp.content_length()
            && len > max_body
        {
            return Err(NetFailure::TooLarge(max_body));
        }
        let body = read_capped(resp, max_body)?;
        Ok(HttpReply {
            status,
            headers,
            body,
        })
    }

    fn git_list_refs(&self, url: &str) -> Result<Vec<(String, String)>, NetFailure> {
        let fail =
            |e: git2::Error| NetFailure::Transport(format!("git ls-remote: {}", e.message()));
        let mut remote = git2::Remote::create_detached(url).map_err(fail)?;
        let mut proxy = git2::ProxyOptions::new();
        if let Some(p) = self.proxy_for(url) {
            proxy.url(p);
        }
        let conn = remote
            .connect_auth(git2::Direction::Fetch, Some(credentials()), Some(proxy))
            .map_err(fail)?;
        let heads = conn.list().map_err(fail)?;
        Ok(heads
            .iter()
            .map(|h| (h.name().to_string(), h.oid().to_string()))
            .collect())
    }
}

/// Credentials for git: userinfo in an https URL, else the ssh agent.
pub fn credentials<'a>() -> git2::RemoteCallbacks<'a> {
    let mut callbacks = git2::RemoteCallbacks::new();
    let mut attempts = 0;
    callbacks.credentials(move |url, username, allowed| {
        attempts += 1;
        if attempts > 3 {
            return Err(git2::Error::from_str(
                "authentication failed; check the credentials in the URL or your ssh agent",
            ));
        }
        if allowed.contains(git2::CredentialType::USER_PASS_PLAINTEXT)
            && let Ok(u) = Url::parse(url)
            && let Some(pass) = u.password()
        {
            return git2::Cred::userpass_plaintext(u.username(), pass);
        }
        if allowed.contains(git2::CredentialType::SSH_KEY) {
            return git2::Cred::ssh_key_from_agent(username.unwrap_or("git"));
        }
        git2::Cred::default()
    });
    callbacks
}

fn read_capped(reader: impl Read, max: u64) -> Result<Vec<u8>, NetFailure> {
    let mut body = Vec::new();
    reader
        .take(max + 1)
        .read_to_end(&mut body)
        .map_err(|e| NetFailure::Transport(format!("reading the body: {e}")))?;
    if body.len() as u64 > max {
        return Err(NetFailure::TooLarge(max));
    }
    Ok(body)
}

/// A reqwest error without its URL (which may carry credentials), with its causes.
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn redaction_hides_tokens() {
        let u = Url::parse("https://user:s3cret@example.com/x").unwrap();
        assert_eq!(redact(&u), "https://user:***@example.com/x");
        let u = Url::parse("https://example.com/x").unwrap();
        assert_eq!(redact(&u), "https://example.com/x");
    }

    #[test]
    fn body_cap() {
        assert!(read_capped(&b"12345"[..], 5).is_ok());
        assert!(matches!(
            read_capped(&b"123456"[..], 5),
            Err(NetFailure::TooLarge(5))
        ));
    }

    #[test]
    fn bad_proxy_is_named() {
        let e = Net::new(NetConfig {
            https_proxy: Some("::not a url".into()),
            ..NetConfig::default()
        })
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("https_proxy"), "{e}");
    }
}
