//! The configured pack indexes, fetched once per run (in parallel, cached, offline-
//! capable), and `stackpack search`, `show` and `index health`.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use stackpack_fetch::Net;
use stackpack_index::{FetchOptions, FetchedIndex, MergedIndex, fetch_indexes, health, merge};
use stackpack_net::{HttpReply, NetBackend, NetFailure};

use crate::context::Context;
use crate::error::CliError;
use crate::output;

/// Fetches every configured index (warnings go to the log).
pub fn fetch(ctx: &Context, net: &Net) -> Vec<FetchedIndex> {
    let cache_dir = match ctx.root.ensure_cache() {
        Ok(c) => c.join("index"),
        Err(e) => {
            tracing::info!("not caching indexes: {e}");
            std::env::temp_dir().join(format!("stackpack-index-{}", std::process::id()))
        }
    };
    fetch_urls(net, &ctx.settings.index_url, cache_dir, ctx.offline)
}

fn fetch_urls(net: &Net, urls: &[String], cache_dir: PathBuf, offline: bool) -> Vec<FetchedIndex> {
    let fetched = fetch_indexes(
        net,
        urls,
        &FetchOptions {
            cache_dir,
            offline,
            max_body: stackpack_index::DEFAULT_MAX_BODY,
        },
    );
    for f in &fetched {
        if let Some(w) = &f.warning {
            tracing::warn!("{w}");
        }
    }
    fetched
}

/// The network as plugins see it: a GET of a configured index URL is answered from
/// the index fetched (once, on first use) by the host, with its cache, offline mode
/// and credentials; everything else goes to the real network.
pub struct IndexServedNet {
    net: Arc<Net>,
    urls: Vec<String>,
    offline: bool,
    cache_dir: PathBuf,
    fetched: OnceLock<Vec<FetchedIndex>>,
}

impl IndexServedNet {
    pub fn new(ctx: &Context, net: Arc<Net>) -> IndexServedNet {
        IndexServedNet {
            net,
            urls: ctx.settings.index_url.clone(),
            offline: ctx.offline,
            cache_dir: ctx.root.cache_dir().join("index"),
            fetched: OnceLock::new(),
        }
    }

    fn indexes(&self) -> &[FetchedIndex] {
        self.fetched
            .get_or_init(|| fetch_urls(&self.net, &self.urls, self.cache_dir.clone(), self.offline))
    }
}

impl NetBackend for IndexServedNet {
    fn http_get(
        &self,
        url: &url::Url,
        headers: &[(String, String)],
        max_body: u64,
    ) -> Result<HttpReply, NetFailure> {
        if !self.urls.iter().any(|u| u == url.as_str()) {
            return self.net.http_get(url, headers, max_body);
        }
        let Some(index) = self.indexes().iter().find(|f| f.url == url.as_str()) else {
            return Err(NetFailure::Transport("index not fetched".into()));
        };
        match &index.body {
            Some(body) => Ok(HttpReply {
                status: 200,
                headers: Vec::new(),
                body: body.to_vec(),
            }),
            None => Err(NetFailure::Transport(format!(
                "{}: {}",
                index.shown_url,
                serde_json::to_string(&index.status).unwrap_or_default()
            ))),
        }
    }

    fn git_list_refs(&self, url: &str) -> Result<Vec<(String, String)>, NetFailure> {
        self.net.git_list_refs(url)
    }
}

fn merged(ctx: &Context) -> Result<(Vec<FetchedIndex>, MergedIndex), CliError> {
    ctx.check_index_urls()?;
    let net = crate::plugins::net(ctx)?;
    let fetched = fetch(ctx, &net);
    let usable = fetched.iter().any(|f| f.body.is_some());
    if !usable {
        let report: Vec<String> = fetched
            .iter()
            .map(|f| {
                format!(
                    "{}: {}",
                    f.shown_url,
                    serde_json::to_value(&f.status)
                        .ok()
                        .and_then(|v| v
                            .get("message")
                            .and_then(|m| m.as_str())
                            .map(str::to_string))
                        .unwrap_or_else(|| "unusable".into())
                )
            })
            .collect();
        return Err(CliError::NoIndex(report.join("; ")));
    }
    let merged = merge(&fetched);
    Ok((fetched, merged))
}

pub fn search(ctx: &Context, query: &str) -> Result<(), CliError> {
    let (_, index) = merged(ctx)?;
    let found = index.search(query);
    if ctx.json {
        return output::json(&found);
    }
    if found.is_empty() {
        return output::print(format!("No packs match {query:?}."));
    }
    let mut t = output::table(&["name", "version", "description"]);
    for e in found {
        t.add_row(vec![
            e.key.clone(),
            e.version.clone().unwrap_or_default(),
            e.description.clone().unwrap_or_default(),
        ]);
    }
    output::print_table(t)
}

pub fn show(ctx: &Context, pack: &str) -> Result<(), CliError> {
    let (_, index) = merged(ctx)?;
    let Some(e) = index.show(pack) else {
        let close = index.suggest(pack);
        let hint = if close.is_empty() {
            "Run `stackpack search <words>` to look for it.".to_string()
        } else {
            format!("Did you mean: {}?", close.join(", "))
        };
        return Err(CliError::NotInIndex {
            pack: pack.to_string(),
            hint,
        });
    };
    if ctx.json {
        return output::json(&e.raw);
    }
    let list = |v: &[String]| v.join(", ");
    let rows = vec![
        ("name", e.key.clone()),
        ("display name", e.name.clone()),
        ("version", e.version.clone().unwrap_or_default()),
        ("versions", list(&e.versions)),
        ("author", e.author.clone().unwrap_or_default()),
        ("keywords", list(&e.keywords)),
        ("description", e.description.clone().unwrap_or_default()),
        ("repo_url", e.repo_url.clone().unwrap_or_default()),
        ("content", content_counts(&e.raw)),
        ("index", e.index.clone()),
    ];
    output::print_table(output::properties(&rows))
}

pub fn health_cmd(ctx: &Context) -> Result<(), CliError> {
    ctx.check_index_urls()?;
    let net = crate::plugins::net(ctx)?;
    let fetched = fetch(ctx, &net);
    let report = health(&fetched);
    if ctx.json {
        output::json(&report)?;
    } else {
        let mut t = output::table(&["index", "status", "packs", "cached", "note"]);
        for (h, f) in report.indexes.iter().zip(&fetched) {
            let status = serde_json::to_value(&h.status).ok();
            let kind = status
                .as_ref()
                .and_then(|v| v.get("status").and_then(|s| s.as_str()).map(str::to_string))
                .unwrap_or_default();
            let message = status
                .as_ref()
                .and_then(|v| {
                    v.get("message")
                        .and_then(|m| m.as_str())
                        .map(str::to_string)
                })
                .or_else(|| f.warning.clone())
                .unwrap_or_default();
            let age = h
                .cached_age_secs
                .map(human_age)
                .unwrap_or_else(|| "-".into());
            t.add_row(vec![h.url.clone(), kind, h.packs.to_string(), age, message]);
        }
        output::print_table(t)?;
        output::print(format!(
            "{} usable, {} unusable; {} packs in all",
            report.usable, report.unusable, report.total_packs
        ))?;
    }
    if report.usable == 0 {
        return Err(CliError::Reported);
    }
    Ok(())
}

/// "actions 12, sensors 2": the sizes of the entry's content listings (the listings
/// themselves are in `show --json`).
fn content_counts(raw: &serde_json::Value) -> String {
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

fn human_age(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s ago"),
        s if s < 3600 => format!("{}m ago", s / 60),
        s if s < 86400 => format!("{}h ago", s / 3600),
        s => format!("{}d ago", s / 86400),
    }
}
