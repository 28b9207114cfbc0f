//! Fetching indexes: parallel, with a timeout, redirect-following, cached on disk and
//! revalidated (st2 fetched them one after another, with no timeout and no cache).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use stackpack_core::redact_url;
use stackpack_net::{
    GetError, HttpReply, NetBackend, NetFailure, RedirectError, SafeUrl, get_following,
};
use url::Url;

/// The largest index document accepted when none is configured: 64 MiB.
pub const DEFAULT_MAX_BODY: u64 = 64 * 1024 * 1024;

/// How many redirects one index fetch follows.
const MAX_REDIRECTS: u32 = 5;

/// What [`fetch_indexes`] found at one configured index.
#[derive(Debug, Clone)]
pub struct FetchedIndex {
    /// The URL as configured (it may carry credentials: never show it, show `shown_url`).
    pub url: String,
    /// The URL without password or token ([`stackpack_core::redact_url`]).
    pub shown_url: String,
    pub status: IndexStatus,
    /// Pack key → index entry (each a JSON object, as text); empty unless the status
    /// is `Ok`.
    pub packs: BTreeMap<String, RawEntry>,
    /// The raw document the packs come from (fresh or cached), when the status is `Ok`.
    pub body: Option<Arc<[u8]>>,
    /// Served from the on-disk cache: revalidated (304), offline, or a fallback.
    pub from_cache: bool,
    /// The index could not be fetched and the cached copy was used instead.
    pub fallback: bool,
    /// Age of the cached copy (time since its last successful fetch or revalidation),
    /// when it was used.
    pub age: Option<Duration>,
    /// Something the user should be told, e.g. that a cached copy stands in for the index.
    pub warning: Option<String>,
}

/// The state of one index after fetching it. Serialized as `{"status": "ok"}` or
/// `{"status": "malformed", "message": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", content = "message", rename_all = "kebab-case")]
pub enum IndexStatus {
    /// Usable: the document has at least one pack.
    Ok,
    /// The document is not an index: what is wrong with it.
    Malformed(String),
    /// The index could not be fetched (network, timeout, HTTP error) and nothing was
    /// cached: why.
    Unresponsive(String),
    /// The document is `{}` or has no packs.
    Empty,
    /// The index could not even be tried (bad URL, offline without a cached copy).
    Error(String),
}

impl IndexStatus {
    /// Whether the index contributes packs.
    pub fn is_ok(&self) -> bool {
        matches!(self, IndexStatus::Ok)
    }
}

/// How [`fetch_indexes`] runs.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Where cached index documents live, e.g. `<cache>/index`; created when needed.
    pub cache_dir: PathBuf,
    /// Use cached copies only; no request leaves the machine (`file://` indexes are still
    /// read, they are local).
    pub offline: bool,
    /// The largest document accepted, in bytes.
    pub max_body: u64,
}

impl FetchOptions {
    /// Online, with the default size cap.
    pub fn new(cache_dir: impl Into<PathBuf>) -> FetchOptions {
        FetchOptions {
            cache_dir: cache_dir.into(),
            offline: false,
            max_body: DEFAULT_MAX_BODY,
        }
    }
}

/// Fetch every index in parallel (one thread each), each distinct URL at most once; the
/// result keeps the order of `urls` (highest priority first) without repeated URLs.
///
/// http(s) indexes are cached in `<cache_dir>/<first 16 hex digits of sha256(URL without
/// userinfo)>.json` with a `.meta.json` beside it (redacted URL, ETag, Last-Modified,
/// time of the last successful fetch), both written atomically; only documents that are
/// indexes (usable or empty) are ever cached. A cached index is revalidated with
/// `If-None-Match` / `If-Modified-Since`, and a 304 serves the cached copy. Offline, only
/// the cache is used. When the index cannot be fetched (network error, timeout, HTTP error
/// status, too many redirects) the cached copy, if any, is used with a warning; without
/// one the index is `Unresponsive`. `file://` URLs and absolute paths are read directly
/// and not cached.
pub fn fetch_indexes(
    net: &dyn NetBackend,
    urls: &[String],
    opts: &FetchOptions,
) -> Vec<FetchedIndex> {
    let mut distinct: Vec<&str> = Vec::new();
    for url in urls {
        if !distinct.contains(&url.as_str()) {
            distinct.push(url);
        }
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = distinct
            .iter()
            .map(|&url| (url, scope.spawn(move || fetch_one(net, url, opts))))
            .collect();
        handles
            .into_iter()
            .map(|(url, handle)| {
                handle.join().unwrap_or_else(|_| {
                    FetchedIndex::failed(
                        url,
                        IndexStatus::Error("internal error: the fetch thread panicked".into()),
                    )
                })
            })
            .collect()
    })
}

impl FetchedIndex {
    fn failed(url: &str, status: IndexStatus) -> FetchedIndex {
        FetchedIndex {
            url: url.to_string(),
            shown_url: redact_url(url),
            status,
            packs: BTreeMap::new(),
            body: None,
            from_cache: false,
            fallback: false,
            age: None,
            warning: None,
        }
    }

    fn from_document(url: &str, body: Vec<u8>) -> FetchedIndex {
        let mut index = FetchedIndex::failed(url, IndexStatus::Empty);
        match classify(&body) {
            Ok(packs) if packs.is_empty() => {}
            Ok(packs) => {
                index.status = IndexStatus::Ok;
                index.packs = packs;
                index.body = Some(body.into());
            }
            Err(what) => index.status = IndexStatus::Malformed(what),
        }
        index
    }
}

fn fetch_one(net: &dyn NetBackend, url: &str, opts: &FetchOptions) -> FetchedIndex {
    let shown = redact_url(url);
    let parsed = match parse_index_url(url) {
        Ok(parsed) => parsed,
        Err(reason) => {
            return FetchedIndex::failed(
                url,
                IndexStatus::Error(format!(
                    "invalid index URL {}: {reason}",
                    stackpack_core::redact_unparsed_url(url)
                )),
            );
        }
    };
    match parsed.scheme() {
        "file" => return read_file(url, &parsed, opts.max_body),
        "http" | "https" => {}
        other => {
            return FetchedIndex::failed(
                url,
                IndexStatus::Error(format!(
                    "unsupported URL scheme `{other}` in {shown}; use http(s)://, file:// or an absolute path"
                )),
            );
        }
    }
    let cache = Cache::new(&opts.cache_dir, &parsed);
    let mut cached = cache.load();
    tracing::debug!(index = %shown, cached = cached.is_some(), offline = opts.offline, "fetching index");

    if opts.offline {
        return match cached {
            Some(copy) => copy.into_index(url, false, None),
            None => FetchedIndex::failed(
                url,
                IndexStatus::Error("offline and never fetched; run once online".into()),
            ),
        };
    }

    // Two rounds at most: a 304 for a cached copy that turns out unreadable is retried
    // without the conditional headers.
    loop {
        let validators = cached.as_ref().map(|c| &c.meta);
        match request(net, &parsed, validators, opts.max_body) {
            Ok(Reply::Fresh {
                body,
                etag,
                last_modified,
            }) => {
                let index = FetchedIndex::from_document(url, body);
                if matches!(index.status, IndexStatus::Ok | IndexStatus::Empty) {
                    let meta = CacheMeta {
                        url: shown.clone(),
                        etag,
                        last_modified,
                        fetched_at: now_secs(),
                    };
                    cache.store(index.body.as_deref().unwrap_or(b"{}"), &meta);
                }
                return index;
            }
            Ok(Reply::NotModified {
                etag,
                last_modified,
            }) => {
                let Some(mut copy) = cached.take() else {
                    return FetchedIndex::failed(
                        url,
                        IndexStatus::Unresponsive(
                            "the server answered 304 Not Modified to an unconditional request"
                                .into(),
                        ),
                    );
                };
                if classify(&copy.body).is_err() {
                    tracing::warn!(index = %shown, "the cached index is unreadable; fetching it again");
                    continue;
                }
                copy.meta.fetched_at = now_secs();
                if etag.is_some() {
                    copy.meta.etag = etag;
                }
                if last_modified.is_some() {
                    copy.meta.last_modified = last_modified;
                }
                cache.store_meta(&copy.meta);
                return copy.into_index(url, false, None);
            }
            Err(failure) => {
                let reason = failure.to_string();
                tracing::debug!(index = %shown, %reason, "index fetch failed");
                return match cached {
                    Some(copy) if classify(&copy.body).is_ok() => {
                        let warning = format!(
                            "index {shown} {}; using the copy cached {} ago",
                            failure.clause(),
                            format_age(copy.age())
                        );
                        copy.into_index(url, true, Some(warning))
                    }
                    _ => FetchedIndex::failed(url, IndexStatus::Unresponsive(reason)),
                };
            }
        }
    }
}

/// An index URL: a URL, or an absolute path taken as `file://`.
fn parse_index_url(url: &str) -> Result<Url, String> {
    let trimmed = url.trim();
    if trimmed.starts_with('/') {
        return Url::from_file_path(trimmed).map_err(|_| "not a usable path".to_string());
    }
    Url::parse(trimmed).map_err(|e| e.to_string())
}

fn read_file(url: &str, parsed: &Url, max_body: u64) -> FetchedIndex {
    let unreadable = |reason: String| FetchedIndex::failed(url, IndexStatus::Unresponsive(reason));
    let Ok(path) = parsed.to_file_path() else {
        return FetchedIndex::failed(
            url,
            IndexStatus::Error(format!(
                "{} is not a local path; a file:// URL needs an absolute path",
                redact_url(url)
            )),
        );
    };
    let body = match stackpack_fs::read_limited(&path, max_body) {
        Ok(body) => body,
        Err(e) if e.kind() == std::io::ErrorKind::FileTooLarge => {
            return unreadable(format!(
                "{} is larger than the {} limit for an index",
                path.display(),
                stackpack_fs::human_bytes(max_body)
            ));
        }
        Err(e) => return unreadable(format!("cannot read {}: {e}", path.display())),
    };
    FetchedIndex::from_document(url, body)
}

/// One index entry as the document has it: its JSON text, parsed when it is needed, so
/// an index of a million entries costs its bytes, not a million trees.
pub type RawEntry = Box<serde_json::value::RawValue>;

/// The packs of an index document, or what is wrong with it. An empty map is an empty
/// index (`{}` or `"packs": {}`). Entries that are not objects are left out.
fn classify(body: &[u8]) -> Result<BTreeMap<String, RawEntry>, String> {
    use serde_json::value::RawValue;
    let doc: BTreeMap<String, &RawValue> = match serde_json::from_slice(body) {
        Ok(doc) => doc,
        Err(e) => {
            return Err(match serde_json::from_slice::<&RawValue>(body) {
                Ok(raw) if kind_of(raw) != "an object" => {
                    format!("expected an index object, got {} instead", kind_of(raw))
                }
                _ => format!("not JSON: {e}"),
            });
        }
    };
    if doc.is_empty() {
        return Ok(BTreeMap::new());
    }
    let packs = match doc.get("packs") {
        Some(raw) if kind_of(raw) == "an object" => raw,
        Some(other) => {
            return Err(format!(
                "\"packs\" must be an object of pack entries, got {} instead",
                kind_of(other)
            ));
        }
        None => return Err("the index object has no \"packs\" attribute".into()),
    };
    let packs: BTreeMap<String, RawEntry> =
        serde_json::from_str(packs.get()).map_err(|e| format!("not JSON: {e}"))?;
    Ok(packs
        .into_iter()
        .filter(|(key, entry)| {
            let ok = kind_of(entry) == "an object";
            if !ok {
                tracing::warn!(pack = %key, "ignoring an index entry that is not an object");
            }
            ok
        })
        .collect())
}

/// What a JSON text is, from its first character.
fn kind_of(value: &serde_json::value::RawValue) -> &'static str {
    match value.get().trim_start().as_bytes().first() {
        Some(b'{') => "an object",
        Some(b'[') => "a list",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

enum Reply {
    Fresh {
        body: Vec<u8>,
        etag: Option<String>,
        last_modified: Option<String>,
    },
    NotModified {
        etag: Option<String>,
        last_modified: Option<String>,
    },
}

/// Why an index could not be fetched. Messages never carry credentials.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("timed out")]
    Timeout,
    #[error("the network is off")]
    Offline,
    #[error("the index is larger than {0} bytes")]
    TooLarge(u64),
    #[error("{0}")]
    Transport(String),
    #[error("HTTP status {0}")]
    Status(u16),
    #[error("HTTP status {0} without a Location header")]
    NoLocation(u16),
    #[error("redirected to {0}, which is not an http(s) URL")]
    BadRedirect(String),
    #[error("more than {MAX_REDIRECTS} redirects")]
    TooManyRedirects,
}

impl Failure {
    /// The failure as a clause after "index <url>".
    fn clause(&self) -> String {
        match self {
            Failure::Timeout | Failure::Offline | Failure::Transport(_) => {
                format!("unreachable ({self})")
            }
            Failure::Status(status) => format!("answered HTTP status {status}"),
            _ => format!("failed ({self})"),
        }
    }
}

impl From<NetFailure> for Failure {
    fn from(f: NetFailure) -> Failure {
        match f {
            NetFailure::Offline => Failure::Offline,
            NetFailure::Timeout => Failure::Timeout,
            NetFailure::TooLarge(n) => Failure::TooLarge(n),
            NetFailure::Transport(m) => Failure::Transport(redact_url(&m)),
        }
    }
}

/// One GET, following redirects; conditional when `validators` are given.
fn request(
    net: &dyn NetBackend,
    url: &Url,
    validators: Option<&CacheMeta>,
    max_body: u64,
) -> Result<Reply, Failure> {
    let mut headers = Vec::new();
    if let Some(meta) = validators {
        if let Some(etag) = &meta.etag {
            headers.push(("If-None-Match".to_string(), etag.clone()));
        }
        if let Some(date) = &meta.last_modified {
            headers.push(("If-Modified-Since".to_string(), date.clone()));
        }
    }
    // Redirects stay on http(s).
    let only_http = |next: &Url, from: Option<&Url>| {
        let Some(from) = from else { return Ok(()) };
        if !matches!(next.scheme(), "http" | "https") {
            return Err(Failure::BadRedirect(redact_url(next.as_str())));
        }
        tracing::debug!(from = %redact_url(from.as_str()), to = %redact_url(next.as_str()), "index redirect");
        Ok(())
    };
    let (_, reply) = get_following(net, url, &headers, max_body, MAX_REDIRECTS, only_http)
        .map_err(|e| match e {
            GetError::Refused(f) => f,
            GetError::Net(f) => f.into(),
            GetError::Redirect(RedirectError::TooMany { .. }) => Failure::TooManyRedirects,
            GetError::Redirect(RedirectError::BadLocation { location, .. }) => {
                Failure::BadRedirect(location)
            }
        })?;
    match reply.status {
        200..=299 => Ok(Reply::Fresh {
            etag: header(&reply, "etag"),
            last_modified: header(&reply, "last-modified"),
            body: reply.body,
        }),
        304 => Ok(Reply::NotModified {
            etag: header(&reply, "etag"),
            last_modified: header(&reply, "last-modified"),
        }),
        // A redirect with a usable Location was followed; this one has none.
        status @ (301 | 302 | 303 | 307 | 308) => Err(Failure::NoLocation(status)),
        status => Err(Failure::Status(status)),
    }
}

fn header(reply: &HttpReply, name: &str) -> Option<String> {
    reply
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
        .filter(|v| !v.is_empty())
}

/// `<name>.meta.json`: what revalidation needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CacheMeta {
    /// Redacted, for people looking into the cache directory.
    url: String,
    etag: Option<String>,
    last_modified: Option<String>,
    /// Unix seconds of the last successful fetch or revalidation.
    fetched_at: u64,
}

struct Cached {
    body: Vec<u8>,
    meta: CacheMeta,
}

impl Cached {
    fn age(&self) -> Duration {
        Duration::from_secs(now_secs().saturating_sub(self.meta.fetched_at))
    }

    fn into_index(self, url: &str, fallback: bool, warning: Option<String>) -> FetchedIndex {
        let age = self.age();
        let mut index = FetchedIndex::from_document(url, self.body);
        if let IndexStatus::Malformed(what) = &index.status {
            index.status = IndexStatus::Malformed(format!("the cached copy is unreadable: {what}"));
        }
        index.from_cache = true;
        index.fallback = fallback;
        index.age = Some(age);
        index.warning = warning;
        index
    }
}

struct Cache {
    dir: PathBuf,
    body: PathBuf,
    meta: PathBuf,
}

impl Cache {
    fn new(dir: &Path, url: &Url) -> Cache {
        let name = SafeUrl::from(url.clone()).cache_key();
        Cache {
            dir: dir.to_path_buf(),
            body: dir.join(format!("{name}.json")),
            meta: dir.join(format!("{name}.meta.json")),
        }
    }

    /// The cached copy, when both files are there and the metadata reads.
    fn load(&self) -> Option<Cached> {
        let meta = fs::read(&self.meta).ok()?;
        let meta: CacheMeta = match serde_json::from_slice(&meta) {
            Ok(meta) => meta,
            Err(e) => {
                tracing::warn!(path = %self.meta.display(), error = %e, "ignoring unreadable index cache metadata");
                return None;
            }
        };
        let body = fs::read(&self.body).ok()?;
        Some(Cached { body, meta })
    }

    fn store(&self, body: &[u8], meta: &CacheMeta) {
        if let Err(e) = write_atomic(&self.dir, &self.body, body) {
            tracing::warn!(path = %self.body.display(), error = %e, "cannot cache the index");
            return;
        }
        self.store_meta(meta);
    }

    fn store_meta(&self, meta: &CacheMeta) {
        let result = serde_json::to_vec_pretty(meta)
            .map_err(std::io::Error::other)
            .and_then(|json| write_atomic(&self.dir, &self.meta, &json));
        if let Err(e) = result {
            tracing::warn!(path = %self.meta.display(), error = %e, "cannot cache the index metadata");
        }
    }
}

/// Writes `bytes` to `path` (in `dir`, created if missing) atomically, so readers see
/// the old or the new file, never part of one.
fn write_atomic(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    stackpack_fs::write_atomic(path, bytes, stackpack_fs::Mode::Default)
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `42 s`, `5 min`, `3 h`, `2 d`.
fn format_age(age: Duration) -> String {
    let secs = age.as_secs();
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs / 60),
        3600..86400 => format!("{} h", secs / 3600),
        _ => format!("{} d", secs / 86400),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn classification() {
        assert_eq!(classify(b"{}").unwrap().len(), 0);
        assert_eq!(classify(br#"{"packs": {}}"#).unwrap().len(), 0);
        let packs = classify(br#"{"packs": {"a": {"name": "a"}, "b": 3}}"#).unwrap();
        assert_eq!(packs.keys().collect::<Vec<_>>(), ["a"]);
        assert!(classify(b"not json").unwrap_err().starts_with("not JSON"));
        assert_eq!(
            classify(b"[]").unwrap_err(),
            "expected an index object, got a list instead"
        );
        assert_eq!(
            classify(br#"{"foo": 1}"#).unwrap_err(),
            "the index object has no \"packs\" attribute"
        );
        assert_eq!(
            classify(br#"{"packs": []}"#).unwrap_err(),
            "\"packs\" must be an object of pack entries, got a list instead"
        );
    }

    #[test]
    fn ages() {
        assert_eq!(format_age(Duration::from_secs(5)), "5 s");
        assert_eq!(format_age(Duration::from_secs(300)), "5 min");
        assert_eq!(format_age(Duration::from_secs(3 * 3600 + 5)), "3 h");
        assert_eq!(format_age(Duration::from_secs(2 * 86400)), "2 d");
    }

    #[test]
    fn cache_name_ignores_credentials() {
        let dir = Path::new("/c");
        let a = Cache::new(dir, &Url::parse("https://u:tok@h.example/i.json").unwrap());
        let b = Cache::new(dir, &Url::parse("https://h.example/i.json").unwrap());
        assert_eq!(a.body, b.body);
        let name = a.body.file_name().unwrap().to_str().unwrap().to_string();
        assert_eq!(name.len(), 16 + ".json".len());
        assert_eq!(a.meta, dir.join(name.replace(".json", ".meta.json")));
    }

    #[test]
    fn status_json() {
        assert_eq!(
            serde_json::to_value(IndexStatus::Ok).unwrap(),
            serde_json::json!({"status": "ok"})
        );
        assert_eq!(
            serde_json::to_value(IndexStatus::Malformed("x".into())).unwrap(),
            serde_json::json!({"status": "malformed", "message": "x"})
        );
    }
}
