//! A [`NetBackend`] that answers from recorded responses instead of the network, for
//! `stackpack plugin test` and for plugin authors' own tests: a resolver can be run
//! against every reference form without a server, deterministically.
//!
//! Recordings are a JSON array (parse it with serde into `Vec<Recorded>`):
//!
//! ```json
//! [{"url": "https://packs.corp.example/index.json", "status": 200,
//!   "headers": {"content-type": "application/json"}, "body": "{…}"}]
//! ```
//!
//! A `git ls-remote` (the `git-list-refs` import) is answered by a record of the
//! repository's URL with `git_refs`, each ref name mapped to its commit; such a record
//! answers only `git-list-refs`, never an HTTP GET:
//!
//! ```json
//! [{"url": "https://git.corp.example/packs/sensu.git",
//!   "git_refs": {"refs/heads/main": "<40 hex>", "refs/tags/v1.0.0": "<40 hex>"}}]
//! ```
//!
//! A URL that was not recorded fails with a transport error that names it and says it
//! was not recorded; the URLs asked for but missing are kept for the report. Grants
//! still apply first (the runtime checks them before the backend sees a request).

use std::collections::BTreeMap;
use std::sync::Mutex;

use stackpack_net::{HttpReply, NetBackend, NetFailure, SafeUrl};
use url::Url;

/// One recorded HTTP response.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Recorded {
    pub url: String,
    #[serde(default = "ok_status")]
    pub status: u16,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub body: String,
    /// The refs a `git ls-remote` of `url` lists (name to commit); a record with them
    /// answers `git-list-refs` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_refs: Option<BTreeMap<String, String>>,
}

fn ok_status() -> u16 {
    200
}

/// Replays [`Recorded`] responses; see the module docs.
pub struct ReplayNet {
    records: Vec<(Option<Url>, Recorded)>,
    missed: Mutex<Vec<String>>,
}

impl ReplayNet {
    pub fn new(records: Vec<Recorded>) -> ReplayNet {
        ReplayNet {
            records: records
                .into_iter()
                .map(|r| (Url::parse(&r.url).ok(), r))
                .collect(),
            missed: Mutex::new(Vec::new()),
        }
    }

    /// The origins (`scheme://host[:port]`, as grants are written) of the recorded
    /// URLs, deduplicated in first-seen order: the default grants of a replayed run.
    pub fn origins(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (url, _) in &self.records {
            if let Some(u) = url {
                let o = stackpack_net::grants::origin(u);
                if !out.contains(&o) {
                    out.push(o);
                }
            }
        }
        out
    }

    /// URLs a plugin asked for that were not recorded, in order, without repeats.
    pub fn missed(&self) -> Vec<String> {
        self.missed.lock().map(|m| m.clone()).unwrap_or_default()
    }

    fn miss(&self, what: String) -> NetFailure {
        if let Ok(mut m) = self.missed.lock()
            && !m.contains(&what)
        {
            m.push(what.clone());
        }
        NetFailure::Transport(format!(
            "{what} was not recorded: the replayed network only answers the URLs in the recorded responses file; record it there"
        ))
    }
}

impl NetBackend for ReplayNet {
    fn http_get(
        &self,
        url: &Url,
        _headers: &[(String, String)],
        max_body: u64,
    ) -> Result<HttpReply, NetFailure> {
        let found = self.records.iter().find(|(u, r)| {
            r.git_refs.is_none()
                && match u {
                    Some(u) => u == url,
                    None => r.url == url.as_str(),
                }
        });
        let Some((_, r)) = found else {
            return Err(self.miss(SafeUrl::from(url.clone()).to_string()));
        };
        if r.body.len() as u64 > max_body {
            return Err(NetFailure::TooLarge(max_body));
        }
        Ok(HttpReply {
            status: r.status,
            headers: r
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            body: r.body.as_bytes().to_vec(),
        })
    }

    fn git_list_refs(&self, url: &str) -> Result<Vec<(String, String)>, NetFailure> {
        let parsed = Url::parse(url).ok();
        let found = self.records.iter().find_map(|(u, r)| {
            let same = match (u, &parsed) {
                (Some(u), Some(p)) => u == p,
                _ => r.url == url,
            };
            r.git_refs.as_ref().filter(|_| same)
        });
        match found {
            Some(refs) => Ok(refs
                .iter()
                .map(|(name, commit)| (name.clone(), commit.clone()))
                .collect()),
            None => Err(self.miss(format!("git ls-remote {}", stackpack_core::redact_url(url)))),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn rec(url: &str, body: &str) -> Recorded {
        Recorded {
            url: url.into(),
            status: 200,
            headers: BTreeMap::from([("content-type".into(), "text/plain".into())]),
            body: body.into(),
            git_refs: None,
        }
    }

    #[test]
    fn answers_recorded_urls_and_names_missing_ones() {
        let net = ReplayNet::new(vec![
            rec("https://a.example/x.json", "x"),
            rec("https://a.example:8443/y", "y"),
            rec("http://b.example/z", "z"),
        ]);
        assert_eq!(
            net.origins(),
            vec![
                "https://a.example",
                "https://a.example:8443",
                "http://b.example"
            ]
        );
        let r = net
            .http_get(&Url::parse("https://a.example/x.json").unwrap(), &[], 100)
            .unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"x"[..]));
        assert_eq!(
            r.headers,
            vec![("content-type".into(), "text/plain".into())]
        );
        let e = net
            .http_get(
                &Url::parse("https://u:pw@a.example/nope").unwrap(),
                &[],
                100,
            )
            .unwrap_err();
        let NetFailure::Transport(m) = e else {
            panic!("expected a transport error")
        };
        assert!(
            m.contains("https://u:***@a.example/nope was not recorded"),
            "{m}"
        );
        assert_eq!(net.missed(), vec!["https://u:***@a.example/nope"]);
        assert!(matches!(
            net.http_get(&Url::parse("https://a.example/x.json").unwrap(), &[], 0),
            Err(NetFailure::TooLarge(0))
        ));
    }

    /// Safe outcome: `git ls-remote` is answered only from a record with `git_refs` for
    /// that very URL; such a record never answers an HTTP GET, and an unrecorded
    /// repository is a named miss.
    #[test]
    fn answers_recorded_git_refs_only_for_ls_remote() {
        let refs = BTreeMap::from([
            ("refs/heads/main".to_string(), "a".repeat(40)),
            ("refs/tags/v1.0.0".to_string(), "b".repeat(40)),
        ]);
        let net = ReplayNet::new(vec![Recorded {
            git_refs: Some(refs.clone()),
            ..rec("https://git.example/packs/sensu.git", "")
        }]);
        assert_eq!(net.origins(), vec!["https://git.example"]);
        let got = net
            .git_list_refs("https://git.example/packs/sensu.git")
            .unwrap();
        assert_eq!(got, refs.into_iter().collect::<Vec<_>>());
        let get = net.http_get(
            &Url::parse("https://git.example/packs/sensu.git").unwrap(),
            &[],
            100,
        );
        assert!(matches!(get, Err(NetFailure::Transport(_))), "{get:?}");
        let NetFailure::Transport(m) = net
            .git_list_refs("https://git.example/packs/other.git")
            .unwrap_err()
        else {
            panic!("expected a transport error")
        };
        assert!(
            m.contains("git ls-remote https://git.example/packs/other.git was not recorded"),
            "{m}"
        );
    }
}
