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
//! An OCI registry is recorded the same way, with the registry's own answers: the
//! repository `oci://host[:port]/repo` with the body of its tag list
//! (`{"name": "repo", "tags": ["1.0.0"]}`), and a manifest `oci://host[:port]/repo:tag`
//! (or `…@sha256:<hex>`) with the manifest's JSON, whose digest is the sha256 of the
//! recorded body.
//!
//! A URL that was not recorded fails with a transport error that names it and says it
//! was not recorded; the URLs asked for but missing are kept for the report. Grants
//! still apply first (the runtime checks them before the backend sees a request).

use std::collections::BTreeMap;
use std::sync::Mutex;

use sha2::Digest as _;
use stackpack_core::oci::OciRef;
use stackpack_net::{HttpReply, NetBackend, NetFailure, OciDescriptor, OciManifest, SafeUrl};
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

    fn oci_list_tags(&self, repository: &OciRef) -> Result<Vec<String>, NetFailure> {
        let key = repository.repository_ref().to_string();
        let body = self.oci_body(&key)?;
        #[derive(serde::Deserialize)]
        struct TagList {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let list: TagList = serde_json::from_slice(body)
            .map_err(|e| NetFailure::Transport(format!("the recorded tag list of {key}: {e}")))?;
        Ok(list.tags.unwrap_or_default())
    }

    fn oci_manifest(&self, reference: &OciRef) -> Result<OciManifest, NetFailure> {
        let key = reference.to_string();
        // A tag and a digest: the manifest recorded for the tag, checked against it.
        let tagged = OciRef {
            digest: None,
            ..reference.clone()
        }
        .to_string();
        let body = match self.records.iter().find(|(_, r)| r.url == key) {
            Some((_, r)) => r.body.as_bytes(),
            None if reference.tag.is_some() && reference.digest.is_some() => {
                self.oci_body(&tagged)?
            }
            None => return Err(self.miss(key)),
        };
        let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(body)));
        if let Some(want) = &reference.digest
            && *want != digest
        {
            return Err(NetFailure::Transport(format!(
                "the recorded manifest of {key} has digest {digest}, not {want}"
            )));
        }
        parse_manifest(body, digest)
            .map_err(|e| NetFailure::Transport(format!("the recorded manifest of {key}: {e}")))
    }
}

impl ReplayNet {
    /// The body recorded for an `oci://` key, or a miss.
    fn oci_body(&self, key: &str) -> Result<&[u8], NetFailure> {
        match self.records.iter().find(|(_, r)| r.url == key) {
            Some((_, r)) => Ok(r.body.as_bytes()),
            None => Err(self.miss(key.to_string())),
        }
    }
}

/// An OCI image manifest's JSON as an [`OciManifest`] with the given digest.
fn parse_manifest(body: &[u8], digest: String) -> Result<OciManifest, String> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Desc {
        media_type: String,
        digest: String,
        size: u64,
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Manifest {
        #[serde(default)]
        media_type: Option<String>,
        #[serde(default)]
        artifact_type: Option<String>,
        config: Desc,
        #[serde(default)]
        layers: Vec<Desc>,
        #[serde(default)]
        annotations: BTreeMap<String, String>,
    }
    let m: Manifest = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let desc = |d: Desc| OciDescriptor {
        media_type: d.media_type,
        digest: d.digest,
        size: d.size,
    };
    Ok(OciManifest {
        digest,
        media_type: m
            .media_type
            .unwrap_or_else(|| "application/vnd.oci.image.manifest.v1+json".into()),
        artifact_type: m.artifact_type,
        config: desc(m.config),
        layers: m.layers.into_iter().map(desc).collect(),
        annotations: m.annotations.into_iter().collect(),
    })
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

    /// Safe outcome: recorded registry answers replay as the registry gave them: the
    /// tag list, and the manifest with the sha256 of its recorded bytes as its digest;
    /// a manifest asked by another digest is refused, an unrecorded one is a miss.
    #[test]
    fn oci_answers_replay_from_recordings() {
        let manifest = r#"{"schemaVersion":2,"artifactType":"application/vnd.stackstorm.pack.v1",
            "config":{"mediaType":"application/vnd.stackstorm.pack.config.v1+json","digest":"sha256:aa","size":2},
            "layers":[{"mediaType":"application/vnd.stackstorm.pack.layer.v1.tar+gzip","digest":"sha256:bb","size":9}]}"#;
        let net = ReplayNet::new(vec![
            rec(
                "oci://127.0.0.1:5000/packs/hello",
                r#"{"name":"packs/hello","tags":["1.0.0","latest"]}"#,
            ),
            rec("oci://127.0.0.1:5000/packs/hello:1.0.0", manifest),
        ]);
        assert_eq!(net.origins(), ["oci://127.0.0.1:5000"]);
        let repo: OciRef = "oci://127.0.0.1:5000/packs/hello:9".parse().unwrap();
        assert_eq!(net.oci_list_tags(&repo).unwrap(), ["1.0.0", "latest"]);
        let tagged: OciRef = "oci://127.0.0.1:5000/packs/hello:1.0.0".parse().unwrap();
        let m = net.oci_manifest(&tagged).unwrap();
        let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(manifest)));
        assert_eq!(m.digest, digest);
        assert_eq!(
            m.artifact_type.as_deref(),
            Some("application/vnd.stackstorm.pack.v1")
        );
        assert_eq!(m.layers.len(), 1);
        assert_eq!(m.layers[0].digest, "sha256:bb");
        let other = tagged.with_digest(format!("sha256:{}", "0".repeat(64)));
        assert!(net.oci_manifest(&other).is_err());
        let missing: OciRef = "oci://127.0.0.1:5000/packs/hello:2.0.0".parse().unwrap();
        assert!(net.oci_manifest(&missing).is_err());
        assert_eq!(net.missed(), ["oci://127.0.0.1:5000/packs/hello:2.0.0"]);
    }
}
