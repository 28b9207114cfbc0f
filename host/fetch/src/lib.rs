//! stackpack's network and git I/O: everything that goes out of the machine goes
//! through here, with one [`NetConfig`] (proxies, CA bundle, timeouts) applied to it.
//! [`Net`] implements [`NetBackend`] (from `stackpack-net`, the interface the plugin
//! runtime and the index fetcher use), so a plugin's `http-get`
//! and `git-list-refs` calls (already checked against its grants by the runtime) are
//! performed here.
//!
//! The host's own fetches live here too: [`GitCache`] resolves git refs and keeps bare
//! repositories cached for reuse and offline installs, [`fetch_archive`] downloads,
//! caches and checks tar.gz/zip archives by sha256, [`fetch_oci`] pulls an OCI pack
//! layer by digest (through the registry client [`Net::with_oci`] configures) into the
//! same cache and unpacks it the same way, and [`inspect_local`],
//! [`export_local_head`] and [`copy_dir`] read local sources. Every one of them writes
//! the pack into a `cap_std` directory handle and refuses entries that would leave it
//! (absolute or `..` paths, escaping symlinks, device files); none writes a `.git`.
//! Git repositories are read with gitoxide (pure Rust), and an http(s) remote's refs
//! are read from one request of [`Net`]; libgit2 is used only to transfer from a remote
//! (a fetch into the cache, `ls-remote` of an ssh or `git://` remote), since its first
//! use in a process initialises OpenSSL, which a run that transfers nothing should not
//! pay for.
//! Both caches may be shared by several processes: each entry is written under its own
//! lock ([`FetchError::CacheLocked`] when another holder keeps it past the timeout).

use std::io::Read;
use std::path::PathBuf;

mod archive;
mod cache_lock;
mod digest;
#[doc(hidden)]
pub use stackpack_fs::fault;
mod git;
mod local;
mod oci;
mod tree;

pub use archive::fetch_archive;
pub use git::{GitCache, ResolvedRev};
pub use oci::fetch_oci;

/// How long a fetch waits for another thread or process writing the same cache entry,
/// unless told otherwise.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(300);
pub use digest::{TreeManifest, tree_content_sha256, tree_fingerprint};
pub use local::{LocalSource, copy_dir, export_local_head, inspect_local};
use std::time::Duration;
pub use tree::{TREE_WRITERS, TreeLimits, export_parallel, verify_tree};

use stackpack_core::redact_url;
use stackpack_net::{HttpReply, NetBackend, NetFailure, SafeUrl};
use url::Url;

/// Errors of the network client, git, archives and local sources. URLs in them are
/// always redacted (no password or token).
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// A network operation passed its wall-clock deadline (see
    /// [`NetConfig::request_deadline`] and [`NetConfig::transfer_deadline`]).
    #[error(
        "{what} {url} timed out after {secs}s ({rule}); check that the server is up and \
         reachable (and the proxy settings), or raise `http_timeout` in the config"
    )]
    Timeout {
        what: &'static str,
        url: String,
        secs: u64,
        /// Which deadline it was, in words.
        rule: &'static str,
    },

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
    /// A registry operation failed; the message names the reference (never a
    /// credential) and what to do.
    #[error(transparent)]
    Oci(#[from] stackpack_oci::OciError),
    /// No registry client could be had for an `oci://` source.
    #[error("cannot reach the registry of {reference}: {reason}")]
    NoOciClient { reference: String, reason: String },
    /// A git operation failed; `location` is a redacted URL or a local path.
    #[error("git {action} of {location} failed: {reason}; {hint}")]
    Git {
        action: &'static str,
        location: String,
        reason: String,
        hint: &'static str,
    },
    /// The wanted ref is not in the repository.
    #[error("{want} was not found in {url}; {}", known_refs(.versions, .branches))]
    UnknownRef {
        url: String,
        want: String,
        /// Semver tags, `v` stripped, newest first.
        versions: Vec<String>,
        branches: Vec<String>,
    },
    /// The remote names no default branch (no HEAD, or a HEAD at a missing branch, and
    /// no `main` or `master`), and none was asked for.
    #[error(
        "{url} has no default branch (its HEAD is missing or names no branch, and it has no `main` or `master`); \
         name the ref to install as `<source>=<ref>`: {}",
        known_refs(.versions, .branches)
    )]
    NoDefaultBranch {
        url: String,
        versions: Vec<String>,
        branches: Vec<String>,
    },
    #[error("commit `{prefix}` is ambiguous in {url} (it matches {}); give more hex digits of the commit", .candidates.join(", "))]
    AmbiguousCommit {
        url: String,
        prefix: String,
        candidates: Vec<String>,
    },
    /// Offline, and what is needed is not cached.
    #[error(
        "{what} of {url} is not in the local cache and the network is off (offline mode); run once online to cache it"
    )]
    Offline { url: String, what: String },
    #[error(
        "commit {commit} of {url} is not in the git cache; resolve it first (online) so it is fetched"
    )]
    NotCached { url: String, commit: String },
    #[error(
        "`{subdir}` is not a directory in commit {commit} of {url}; check the subdirectory the source names"
    )]
    Subdir {
        url: String,
        commit: String,
        subdir: String,
    },
    /// An entry that could write outside the destination, or that is not a plain file,
    /// directory or safe symlink. `origin` is a redacted URL or a local path.
    #[error(
        "refusing entry `{entry}` of {origin}: {reason}; the source is unsafe to unpack, ask its maintainer to fix it"
    )]
    UnsafeEntry {
        origin: String,
        entry: String,
        reason: String,
    },
    #[error(
        "cannot write `{entry}` into the destination directory: {source}; check free disk space and permissions"
    )]
    Write {
        entry: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the destination directory is not empty; fetch into a new, empty directory")]
    DestNotEmpty,
    /// Another fetch (another process, or another thread of this one) kept writing the
    /// same cache entry for longer than the lock timeout.
    #[error(
        "{holder} is fetching {what} into the cache and did not finish within {secs}s (lock {}); \
         try again later, stop that process, or raise --lock-timeout",
        path.display()
    )]
    CacheLocked {
        what: String,
        path: PathBuf,
        holder: String,
        secs: u64,
    },
    /// Something planted where the cache keeps a lock file (a symlink, a fifo, a hard
    /// link): never followed nor written.
    #[error(
        "{} is {what} where stackpack keeps a cache lock; it is neither followed nor written. \
         Remove it (`rm {}`) and run again",
        path.display(), path.display()
    )]
    PlantedLock { path: PathBuf, what: &'static str },
    /// A tree (archive, git tree, local directory) over one of the size limits.
    #[error(
        "{origin} is too big to install: {what}, over the limit of {limit}; nothing was installed \
         from it. If you trust it, raise `{setting}` in stackpack.toml"
    )]
    TooBig {
        origin: String,
        what: String,
        limit: String,
        setting: &'static str,
    },
    #[error("cannot {action} {}: {source}; check that it exists and that stackpack may read and write it", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "sha256 mismatch for {url}: expected {expected}, got {actual}; the file changed upstream or was tampered with: check the source, and update the recorded digest only if you trust the new file"
    )]
    Digest {
        url: String,
        expected: String,
        actual: String,
    },
    #[error(
        "download of {url} failed: {reason}; check the URL, your network and the proxy settings"
    )]
    Download { url: String, reason: String },
    #[error(
        "download of {url} failed: HTTP status {status}; check the URL and that you have access to it"
    )]
    Http { url: String, status: u16 },
    #[error(
        "cannot read the {kind} archive from {url}: {reason}; the file is corrupt or not a {kind} archive, check the source"
    )]
    Archive {
        url: String,
        kind: &'static str,
        reason: String,
    },
    #[error(
        "no entry of the archive {url} is under `{prefix}`; check the prefix to strip that the source names"
    )]
    Prefix { url: String, prefix: String },
    /// st2's text for a `file://` source that is not a directory.
    #[error("Local pack directory \"{}\" doesn't exist; check the path (a file:// URL needs an absolute path)", path.display())]
    LocalMissing { path: PathBuf },
    #[error("cannot use the git repository {}: {reason}; {hint}", path.display())]
    LocalGit {
        path: PathBuf,
        reason: String,
        hint: &'static str,
    },
}

/// How many versions, and how many branches, an error lists (a remote may have
/// tens of thousands).
const LISTED_REFS: usize = 20;

fn known_refs(versions: &[String], branches: &[String]) -> String {
    let list = |items: &[String]| {
        let shown = items[..items.len().min(LISTED_REFS)].join(", ");
        match items.len().saturating_sub(LISTED_REFS) {
            0 => shown,
            more => format!("{shown} and {more} more"),
        }
    };
    let versions = if versions.is_empty() {
        "it has no version tags".to_string()
    } else {
        format!("available versions: {}", list(versions))
    };
    let branches = if branches.is_empty() {
        "no branches".to_string()
    } else {
        format!("branches: {}", list(branches))
    };
    format!("{versions}; {branches}. Ask for one of these, or a tag or commit of the repository")
}

/// `http_timeout` when none is configured.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// A bulk transfer (an archive download, a git fetch) may take this many times
/// `http_timeout`.
pub const TRANSFER_FACTOR: u32 = 10;

/// The words for the request deadline, in errors.
pub const REQUEST_RULE: &str = "the deadline of one request, body included, is `http_timeout`";
/// The words for the transfer deadline, in errors.
pub const TRANSFER_RULE: &str =
    "the deadline of a git fetch or an archive download is 10 times `http_timeout`";

/// Network settings shared by HTTP and git.
#[derive(Debug, Clone, Default)]
pub struct NetConfig {
    pub http_proxy: Option<String>,
    pub https_proxy: Option<String>,
    pub no_proxy: Option<String>,
    pub ca_bundle: Option<PathBuf>,
    /// `http_timeout`; 30 s when unset. See [`NetConfig::request_deadline`].
    pub timeout: Option<Duration>,
    /// Credentials the host adds to matching requests (never shown to plugins).
    pub credentials: Vec<Credential>,
}

impl NetConfig {
    /// The wall-clock deadline of one HTTP request from connect to the body's last byte
    /// (an index, a plugin download, a probe, a POST; each redirect hop gets its own),
    /// and of one `git ls-remote`: `http_timeout`. A server that trickles its answer
    /// fails at the deadline however fast each read returns.
    pub fn request_deadline(&self) -> Duration {
        self.timeout.unwrap_or(DEFAULT_TIMEOUT)
    }

    /// The wall-clock deadline of a bulk transfer (one archive download, one git fetch):
    /// [`TRANSFER_FACTOR`] times `http_timeout` (300 s by default).
    pub fn transfer_deadline(&self) -> Duration {
        self.request_deadline().saturating_mul(TRANSFER_FACTOR)
    }
}

/// A secret the host sends, as an `Authorization` header, to URLs under `prefix`: the
/// same scheme, host and port, and a path under its path in whole segments (see
/// [`Credential::matches`]). Its Debug output never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub prefix: String,
    pub auth: Auth,
}

#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    Bearer(String),
    Basic { username: String, password: String },
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.auth {
            Auth::Bearer(_) => "bearer",
            Auth::Basic { .. } => "basic",
        };
        write!(
            f,
            "Credential({} for {}, secret hidden)",
            kind,
            redact_url(&self.prefix)
        )
    }
}

impl Credential {
    /// Whether the credential is for `url`: the same scheme, host and port (the
    /// scheme's default port when none is written) as the credential's URL, and a path
    /// under the credential's path in whole segments (`/a` covers `/a` and `/a/b`,
    /// never `/ab`). A credential URL that does not parse matches nothing.
    pub fn matches(&self, url: &Url) -> bool {
        let Ok(prefix) = Url::parse(self.prefix.trim()) else {
            return false;
        };
        if prefix.cannot_be_a_base() || url.cannot_be_a_base() {
            return false;
        }
        let same_origin = prefix.scheme().eq_ignore_ascii_case(url.scheme())
            && prefix.host() == url.host()
            && prefix.port_or_known_default() == url.port_or_known_default();
        if !same_origin {
            return false;
        }
        let segments = |u: &Url| -> Vec<String> {
            u.path_segments()
                .map(|s| s.filter(|s| !s.is_empty()).map(str::to_string).collect())
                .unwrap_or_default()
        };
        let want = segments(&prefix);
        let have = segments(url);
        have.len() >= want.len() && have.iter().zip(&want).all(|(h, w)| h == w)
    }
}

/// The host's network client.
pub struct Net {
    http: reqwest::blocking::Client,
    config: NetConfig,
    /// The registry client for `oci://` sources ([`Net::with_oci`]); none by default.
    oci: oci::OciSlot,
}

/// Says nothing of the client's settings: they hold credentials.
impl std::fmt::Debug for Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Net").finish_non_exhaustive()
    }
}

impl Net {
    pub fn new(config: NetConfig) -> Result<Net, FetchError> {
        let mut builder = reqwest::blocking::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // Per read in the blocking client; `send` and the archive download also set a
            // whole-request deadline on each request, which bounds the body too.
            .timeout(config.request_deadline())
            .connect_timeout(Duration::from_secs(10).min(config.request_deadline()))
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
        Ok(Net {
            http,
            config,
            oci: oci::OciSlot::default(),
        })
    }

    /// POSTs `body` as `application/json` to an http(s) `url`, with the same proxies,
    /// CA bundle, deadline and credential handling as a GET; redirects are not followed.
    pub fn post_json(
        &self,
        url: &Url,
        headers: &[(String, String)],
        body: Vec<u8>,
        max_body: u64,
    ) -> Result<HttpReply, NetFailure> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(NetFailure::Transport(format!(
                "unsupported scheme `{}` for a POST",
                url.scheme()
            )));
        }
        let req = self
            .http
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        self.send(req, "POST", url, headers, max_body)
    }

    /// Sends a `GET`, `PUT` or `DELETE` to an http(s) `url` (a `PUT` with `body` as
    /// `application/json`), with the same proxies, CA bundle, deadline and credential
    /// handling as [`Net::post_json`]; the reply is returned whatever its status.
    pub fn api_request(
        &self,
        method: &str,
        url: &Url,
        headers: &[(String, String)],
        body: Option<Vec<u8>>,
        max_body: u64,
    ) -> Result<HttpReply, NetFailure> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(NetFailure::Transport(format!(
                "unsupported scheme `{}` for a {method}",
                url.scheme()
            )));
        }
        let req = match method {
            "GET" => self.http.get(url.clone()),
            "DELETE" => self.http.delete(url.clone()),
            "PUT" => self.http.put(url.clone()),
            other => {
                return Err(NetFailure::Transport(format!("unsupported method {other}")));
            }
        };
        let req = match body {
            Some(b) => req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(b),
            None => req,
        };
        self.send(req, method, url, headers, max_body)
    }

    /// Adds `headers` and the operator's credential for `url` to `req`, sends it and
    /// reads the reply, its body capped at `max_body`.
    fn send(
        &self,
        mut req: reqwest::blocking::RequestBuilder,
        method: &str,
        url: &Url,
        headers: &[(String, String)],
        max_body: u64,
    ) -> Result<HttpReply, NetFailure> {
        let credential = self.config.credentials.iter().find(|c| c.matches(url));
        for (k, v) in headers {
            if credential.is_some() && k.eq_ignore_ascii_case("authorization") {
                continue;
            }
            req = req.header(k, v);
        }
        // The operator's credentials for this URL; the caller's Authorization (if any)
        // is replaced, so a plugin can never send its own.
        if let Some(c) = credential {
            req = match &c.auth {
                Auth::Bearer(token) => req.bearer_auth(token),
                Auth::Basic { username, password } => req.basic_auth(username, Some(password)),
            };
        }
        let resp = req
            .timeout(self.config.request_deadline())
            .send()
            .map_err(|e| {
                if e.is_timeout() {
                    NetFailure::Timeout
                } else {
                    NetFailure::Transport(format!("{method} {}: {}", redact(url), describe(e)))
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

    fn proxy_for(&self, url: &str) -> Option<&str> {
        proxy_for(&self.config, url)
    }
}

/// The proxy `config` gives for `url` (https_proxy for https, http_proxy for http),
/// unless `no_proxy` names its host.
pub(crate) fn proxy_for<'a>(config: &'a NetConfig, url: &str) -> Option<&'a str> {
    let parsed = Url::parse(url).ok()?;
    let proxy = match parsed.scheme() {
        "https" => config.https_proxy.as_deref(),
        "http" => config.http_proxy.as_deref(),
        _ => None,
    }?;
    if let (Some(host), Some(no_proxy)) = (parsed.host_str(), config.no_proxy.as_deref())
        && bypasses_proxy(host, no_proxy)
    {
        return None;
    }
    Some(proxy)
}

/// `no_proxy` matching as curl does it: `*`, a host, or a domain (with or without a
/// leading dot) that the host is in; a `:port` on an entry is ignored.
fn bypasses_proxy(host: &str, no_proxy: &str) -> bool {
    let host = host
        .trim_matches(|c| c == '[' || c == ']')
        .to_ascii_lowercase();
    no_proxy.split(',').map(str::trim).any(|entry| {
        if entry == "*" {
            return true;
        }
        let entry = match entry.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !h.contains(':') => h,
            _ => entry,
        };
        let domain = entry.trim_start_matches('.').to_ascii_lowercase();
        !domain.is_empty() && (host == domain || host.ends_with(&format!(".{domain}")))
    })
}

fn proxy_error(key: &'static str, value: &str, e: reqwest::Error) -> FetchError {
    FetchError::Proxy {
        key,
        // The value did not parse as a proxy URL: where its authority ends is unknown.
        value: stackpack_core::redact_unparsed_url(value),
        reason: stackpack_core::redact_unparsed_url(&e.to_string()),
    }
}

/// A URL as it may appear in messages: without any password or token (as
/// [`SafeUrl`] shows it).
pub fn redact(url: &Url) -> String {
    SafeUrl::from(url.clone()).to_string()
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
        self.send(self.http.get(url.clone()), "GET", url, headers, max_body)
    }

    /// As the host's own `ls-remote`: a smart-HTTP remote's advertisement read from one
    /// request of this client, a local repository read in place, any other remote asked
    /// of libgit2 on a thread of its own (see [`git::watchdog`]); all within the
    /// request deadline.
    fn git_list_refs(&self, url: &str) -> Result<Vec<(String, String)>, NetFailure> {
        let advert = git::probe(self, url)?;
        let proxy = self.proxy_for(url).map(str::to_string);
        let heads =
            git::remote_heads(url, proxy, self.config.request_deadline(), advert).map_err(|e| {
                match e {
                    FetchError::Timeout { .. } => NetFailure::Timeout,
                    other => NetFailure::Transport(other.to_string()),
                }
            })?;
        Ok(heads
            .into_iter()
            .map(|(name, oid, _)| (name, oid.to_string()))
            .collect())
    }

    fn oci_list_tags(
        &self,
        repository: &stackpack_core::OciRef,
    ) -> Result<Vec<String>, NetFailure> {
        self.oci_tags(repository)
    }

    fn oci_manifest(
        &self,
        reference: &stackpack_core::OciRef,
    ) -> Result<stackpack_net::OciManifest, NetFailure> {
        self.oci_manifest_of(reference)
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
    reader.take(max + 1).read_to_end(&mut body).map_err(|e| {
        if is_timeout(&e) {
            NetFailure::Timeout
        } else {
            NetFailure::Transport(format!("reading the body: {e}"))
        }
    })?;
    if body.len() as u64 > max {
        return Err(NetFailure::TooLarge(max));
    }
    Ok(body)
}

/// Whether a read of a response body failed on a deadline (the request's whole-request
/// deadline, or the client's per-read one).
pub(crate) fn is_timeout(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::TimedOut
        || e.get_ref()
            .and_then(|inner| inner.downcast_ref::<reqwest::Error>())
            .is_some_and(reqwest::Error::is_timeout)
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
    if text.contains("invalid peer certificate") {
        text.push_str(
            " (the server's certificate is not trusted; if a private CA signed it, \
             set proxy_ca_bundle_path in the config to that CA's PEM bundle)",
        );
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
    fn credentials_match_origin_then_whole_path_segments() {
        let cred = |prefix: &str| Credential {
            prefix: prefix.into(),
            auth: Auth::Bearer("t".into()),
        };
        let url = |u: &str| Url::parse(u).unwrap();
        let port = cred("http://host:2339");
        assert!(port.matches(&url("http://host:2339/index.json")));
        assert!(port.matches(&url("http://user:pw@host:2339/")));
        // A longer port, another scheme, host or port is another origin.
        assert!(!port.matches(&url("http://host:23397/index.json")));
        assert!(!port.matches(&url("https://host:2339/index.json")));
        assert!(!port.matches(&url("http://host/index.json")));
        assert!(!port.matches(&url("http://host.evil:2339/")));
        assert!(!port.matches(&url("http://hostx:2339/")));
        // Default ports count as written.
        assert!(cred("https://h/").matches(&url("https://H:443/x")));
        assert!(!cred("https://h/").matches(&url("https://h:8443/x")));
        // Paths in whole segments, with or without a trailing slash.
        for prefix in ["https://h/a", "https://h/a/"] {
            let c = cred(prefix);
            assert!(c.matches(&url("https://h/a")), "{prefix}");
            assert!(c.matches(&url("https://h/a/b/index.json")), "{prefix}");
            assert!(!c.matches(&url("https://h/ab/index.json")), "{prefix}");
            assert!(!c.matches(&url("https://h/")), "{prefix}");
        }
        // A credential URL that does not parse matches nothing.
        assert!(!cred("host:2339").matches(&url("http://host:2339/")));
        assert!(!cred("not a url").matches(&url("http://h/")));
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
    fn no_proxy_bypass() {
        let config = NetConfig {
            https_proxy: Some("http://proxy:3128".into()),
            no_proxy: Some("localhost, .internal.example,10.0.0.1:8080".into()),
            ..NetConfig::default()
        };
        assert_eq!(
            proxy_for(&config, "https://github.com/x"),
            Some("http://proxy:3128")
        );
        assert_eq!(proxy_for(&config, "http://github.com/x"), None);
        assert_eq!(proxy_for(&config, "https://localhost/x"), None);
        assert_eq!(proxy_for(&config, "https://git.internal.example/x"), None);
        assert_eq!(proxy_for(&config, "https://10.0.0.1/x"), None);
        assert_eq!(proxy_for(&config, "file:///tmp/x"), None);
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
