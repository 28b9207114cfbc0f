//! The configured pack indexes, fetched once per session (in parallel, cached,
//! offline-capable), the network plugins see them through ([`IndexServedNet`]), and
//! the `search`, `show` and `index health` operations.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use stackpack_fetch::NetConfig;
use stackpack_index::{
    Entry, FetchOptions, FetchedIndex, Health, IndexStatus, MergedIndex, fetch_indexes, merge,
};
use stackpack_net::{HttpReply, NetBackend, NetFailure};

use crate::error::OpsError;
use crate::session::{LazyNet, Session};

/// The network as plugins see it: a GET of a configured index URL is answered from
/// the index fetched (once, on first use) by the host, with its cache, offline mode
/// and credentials; everything else goes to the real network.
pub struct IndexServedNet {
    net: Arc<LazyNet>,
    config: NetConfig,
    urls: Vec<String>,
    offline: bool,
    cache_dir: PathBuf,
    fetched: OnceLock<Vec<FetchedIndex>>,
}

impl IndexServedNet {
    pub(crate) fn new(
        net: Arc<LazyNet>,
        config: NetConfig,
        urls: Vec<String>,
        cache_dir: PathBuf,
        offline: bool,
    ) -> IndexServedNet {
        IndexServedNet {
            net,
            config,
            urls,
            offline,
            cache_dir,
            fetched: OnceLock::new(),
        }
    }

    /// Every configured index, fetched on first use (warnings go to the log).
    pub fn indexes(&self) -> Result<&[FetchedIndex], OpsError> {
        if let Some(f) = self.fetched.get() {
            return Ok(f);
        }
        let net = self.net.get(|| self.config.clone())?;
        // Without a usable cache dir, indexes are still fetched, into a scratch dir.
        let cache_dir = match std::fs::create_dir_all(&self.cache_dir) {
            Ok(()) => self.cache_dir.clone(),
            Err(e) => {
                tracing::info!("not caching indexes: {e}");
                std::env::temp_dir().join(format!("stackpack-index-{}", std::process::id()))
            }
        };
        let fetched = fetch_indexes(
            net.as_ref(),
            &self.urls,
            &FetchOptions {
                cache_dir,
                offline: self.offline,
                max_body: stackpack_index::DEFAULT_MAX_BODY,
            },
        );
        for f in &fetched {
            if let Some(w) = &f.warning {
                tracing::warn!("{w}");
            }
        }
        Ok(self.fetched.get_or_init(|| fetched))
    }
}

impl NetBackend for IndexServedNet {
    fn http_get(
        &self,
        url: &url::Url,
        headers: &[(String, String)],
        max_body: u64,
    ) -> Result<HttpReply, NetFailure> {
        let net = self
            .net
            .get(|| self.config.clone())
            .map_err(|e| NetFailure::Transport(e.to_string()))?;
        if !self.urls.iter().any(|u| u == url.as_str()) {
            return net.http_get(url, headers, max_body);
        }
        let indexes = self
            .indexes()
            .map_err(|e| NetFailure::Transport(e.to_string()))?;
        let Some(index) = indexes.iter().find(|f| f.url == url.as_str()) else {
            return Err(NetFailure::Transport("index not fetched".into()));
        };
        match &index.body {
            // The plugin's own cap on an answer holds for an index served from memory
            // as for one from the network: a plugin never receives more than it can hold.
            Some(body) if body.len() as u64 > max_body => Err(NetFailure::Transport(format!(
                "the index {} is {} bytes, over the {} cap on what a plugin may receive; \
                 raise `max_body_mib` under [plugins.index] in the config (and `memory_mib` \
                 if the plugin then runs out of memory), or install the pack by its URL",
                index.shown_url,
                body.len(),
                stackpack_fs::human_bytes(max_body)
            ))),
            Some(body) => Ok(HttpReply {
                status: 200,
                headers: Vec::new(),
                body: body.to_vec(),
            }),
            None => Err(NetFailure::Transport(format!(
                "{}: {}",
                index.shown_url,
                status_text(&index.status)
            ))),
        }
    }

    fn git_list_refs(&self, url: &str) -> Result<Vec<(String, String)>, NetFailure> {
        self.net
            .get(|| self.config.clone())
            .map_err(|e| NetFailure::Transport(e.to_string()))?
            .git_list_refs(url)
    }

    fn oci_list_tags(
        &self,
        repository: &stackpack_core::OciRef,
    ) -> Result<Vec<String>, NetFailure> {
        self.net
            .get(|| self.config.clone())
            .map_err(|e| NetFailure::Transport(e.to_string()))?
            .oci_list_tags(repository)
    }

    fn oci_manifest(
        &self,
        reference: &stackpack_core::OciRef,
    ) -> Result<stackpack_net::OciManifest, NetFailure> {
        self.net
            .get(|| self.config.clone())
            .map_err(|e| NetFailure::Transport(e.to_string()))?
            .oci_manifest(reference)
    }
}

/// `ok`, `malformed`, `unresponsive`, `empty` or `error`.
pub fn status_name(s: &IndexStatus) -> &'static str {
    match s {
        IndexStatus::Ok => "ok",
        IndexStatus::Malformed(_) => "malformed",
        IndexStatus::Unresponsive(_) => "unresponsive",
        IndexStatus::Empty => "empty",
        IndexStatus::Error(_) => "error",
    }
}

/// What is wrong with an index, when something is.
pub fn status_message(s: &IndexStatus) -> Option<&str> {
    match s {
        IndexStatus::Malformed(m) | IndexStatus::Unresponsive(m) | IndexStatus::Error(m) => Some(m),
        IndexStatus::Ok | IndexStatus::Empty => None,
    }
}

fn status_text(s: &IndexStatus) -> String {
    match status_message(s) {
        Some(m) => format!("{}: {m}", status_name(s)),
        None => status_name(s).to_string(),
    }
}

/// The merged index, or an error naming every index and why none is usable.
pub fn merged(s: &Session) -> Result<MergedIndex<'_>, OpsError> {
    s.check_index_urls()?;
    let fetched = s.served().indexes()?;
    if !fetched.iter().any(|f| f.body.is_some()) {
        let report: Vec<String> = fetched
            .iter()
            .map(|f| {
                format!(
                    "{}: {}",
                    f.shown_url,
                    status_message(&f.status).unwrap_or("unusable")
                )
            })
            .collect();
        return Err(OpsError::NoIndex(report.join("; ")));
    }
    Ok(merge(fetched))
}

/// `stackpack search`: index entries matching `query`, best first.
pub fn search(s: &Session, query: &str) -> Result<Vec<Entry>, OpsError> {
    Ok(merged(s)?.search(query))
}

/// `stackpack show`: one index entry, or "not in any index" with close names.
pub fn show(s: &Session, pack: &str) -> Result<Entry, OpsError> {
    let index = merged(s)?;
    if let Some(e) = index.show(pack) {
        return Ok(e);
    }
    let close = index.suggest(pack);
    let hint = if close.is_empty() {
        "Run `stackpack search <words>` to look for it.".to_string()
    } else {
        format!("Did you mean: {}?", close.join(", "))
    };
    Err(OpsError::NotInIndex {
        pack: pack.to_string(),
        hint,
    })
}

/// `stackpack index health`: the report, and each index's warning (fallback to cache).
pub struct HealthOutcome {
    pub report: Health,
    /// Per index, in the report's order: a warning the fetch gave, if any.
    pub warnings: Vec<Option<String>>,
}

pub fn health(s: &Session) -> Result<HealthOutcome, OpsError> {
    s.check_index_urls()?;
    let served = s.plugin_net();
    let fetched = served.indexes()?;
    Ok(HealthOutcome {
        report: stackpack_index::health(fetched),
        warnings: fetched.iter().map(|f| f.warning.clone()).collect(),
    })
}

/// "actions 12, sensors 2": the sizes of an entry's content listings (the listings
/// themselves are in `show --json`).
pub fn content_counts(raw: &serde_json::Value) -> String {
    let Some(content) = raw.get("content").and_then(|c| c.as_object()) else {
        return String::new();
    };
    content
        .iter()
        .map(|(kind, v)| {
            let n = v
                .get("count")
                .and_then(|c| c.as_u64())
                .or_else(|| {
                    v.get("resources")
                        .and_then(|r| r.as_array())
                        .map(|a| a.len() as u64)
                })
                .unwrap_or(0);
            format!("{kind} {n}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}
