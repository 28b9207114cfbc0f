//! The handoff to a running StackStorm: after stackpack installs or registers packs,
//! st2's API is asked to register the same packs into st2's own database
//! (`POST {api_url}/v1/packs/register`, authenticated with `St2-Api-Key` or
//! `X-Auth-Token`), and st2's counts are set beside stackpack's.
//!
//! A failed handoff loses nothing: the local work is complete, the packs st2 was not
//! told about are recorded in `<root>/.stackpack-st2-pending.json`, and the next
//! handoff sends them too. The request goes through the host's HTTP client with the
//! session's proxies, deadline and CA settings (`[st2] cacert` first). The key or token
//! appears only in the request header: never in messages, reports or files.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use stackpack_fetch::{Net, NetConfig};
use stackpack_net::NetFailure;
use stackpack_site::St2Settings;

use crate::error::OpsError;
use crate::session::Session;

/// The content types stackpack registers, and st2's configs, as st2's
/// `PackRegisterRequestAPI.types` names them: what is sent unless the caller names
/// types (`register --types`).
pub const TYPES: [&str; 7] = [
    "trigger", "sensor", "action", "rule", "alias", "policy", "config",
];

/// The largest answer read from st2.
const MAX_REPLY: u64 = 1 << 20;

/// What the handoff did, under `"st2"` in the JSON reports.
#[derive(Debug, Default, serde::Serialize)]
pub struct Handoff {
    /// The API the request went to (without credentials).
    pub api_url: String,
    /// The packs st2 was asked to register (this run's and earlier pending ones).
    pub packs: Vec<String>,
    /// st2's answer: registered resources per type (`{"actions": 3, ...}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counts: Option<BTreeMap<String, u64>>,
    /// Types whose count differs between stackpack's registration and st2's.
    pub differences: Vec<Difference>,
    /// Packs st2 was not told about (a failed handoff), recorded for the next one.
    pub pending: Vec<String>,
    /// The file that records `pending`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_file: Option<String>,
    /// Why the handoff failed, and what to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip)]
    pub failure: Option<OpsError>,
}

impl Handoff {
    /// Whether st2 was not told about some packs.
    pub fn failed(&self) -> bool {
        self.failure.is_some()
    }
}

/// One type counted differently by stackpack and st2.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Difference {
    /// st2's name for the type (`actions`).
    pub kind: String,
    pub stackpack: u64,
    pub st2: u64,
}

/// The pending file's content.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Pending {
    packs: Vec<String>,
}

/// Hands `changed` (and any packs earlier handoffs could not send) to st2, when the
/// session has st2 settings. `local` is stackpack's count object for `changed`, to
/// compare with st2's answer; `types` the content types st2 registers (default
/// [`TYPES`]). Returns None when st2 is not configured or there is nothing to send.
pub fn handoff(
    s: &Session,
    changed: &[String],
    local: Option<&BTreeMap<String, usize>>,
    fail_on_failure: bool,
    types: Option<&[&str]>,
) -> Option<Handoff> {
    let st2 = s.st2.as_ref()?;
    let api_url = st2.api_url.clone()?;
    let pending_path = s.root.st2_pending();
    let earlier = read_pending(s);
    let mut packs: Vec<String> = changed.to_vec();
    for p in &earlier {
        if !packs.contains(p) {
            packs.push(p.clone());
        }
    }
    if packs.is_empty() {
        return None;
    }
    let mut report = Handoff {
        api_url: stackpack_core::redact_url(&api_url),
        packs: packs.clone(),
        ..Handoff::default()
    };
    match send(
        s,
        st2,
        &api_url,
        &packs,
        types.unwrap_or(&TYPES),
        fail_on_failure,
    ) {
        Ok(counts) => {
            if !earlier.is_empty()
                && let Err(e) = std::fs::remove_file(&pending_path)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(
                    "st2 registered the pending packs, but {} could not be removed: {e}",
                    pending_path.display()
                );
            }
            // Counts are comparable only when st2 registered just what stackpack did.
            if let Some(local) = local
                && earlier.iter().all(|p| changed.contains(p))
            {
                report.differences = differences(local, &counts);
            }
            report.counts = Some(counts);
        }
        Err(e) => {
            let recorded = write_pending(s, &packs);
            report.pending = packs;
            report.pending_file = Some(pending_path.display().to_string());
            let e = match recorded {
                Ok(()) => e,
                Err(record) => {
                    tracing::error!("{e}");
                    record
                }
            };
            report.error = Some(e.to_string());
            report.failure = Some(e);
        }
    }
    Some(report)
}

/// The types both sides count, where the numbers differ. `triggers` counts the files
/// of `triggers/` on both sides; stackpack's `sensor_triggers` has no st2 twin.
fn differences(local: &BTreeMap<String, usize>, st2: &BTreeMap<String, u64>) -> Vec<Difference> {
    local
        .iter()
        .filter_map(|(kind, &n)| {
            let theirs = *st2.get(kind)?;
            (theirs != n as u64).then(|| Difference {
                kind: kind.clone(),
                stackpack: n as u64,
                st2: theirs,
            })
        })
        .collect()
}

/// Packs recorded by earlier failed handoffs that are still installed.
fn read_pending(s: &Session) -> Vec<String> {
    let path = s.root.st2_pending();
    // A symlink or fifo planted there is not followed or opened (a fifo would block);
    // the next write replaces it.
    if let Ok(meta) = std::fs::symlink_metadata(&path)
        && !meta.is_file()
    {
        tracing::warn!(
            "{} is not a regular file (a symlink or special file was put there); ignoring it, the next handoff replaces it",
            path.display()
        );
        return Vec::new();
    }
    let text = match stackpack_fs::read_limited(&path, 1 << 20) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            tracing::warn!(
                "cannot read {}: {e}; its packs are not resent",
                path.display()
            );
            return Vec::new();
        }
    };
    let pending: Pending = match serde_json::from_slice(&text) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(
                "{} is not a pending-packs list ({e}); its packs are not resent",
                path.display()
            );
            return Vec::new();
        }
    };
    let installed = s.installed().ok();
    pending
        .packs
        .into_iter()
        .filter(|p| {
            installed
                .as_ref()
                .is_none_or(|all| stackpack_site::find(all, p).is_some())
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

fn write_pending(s: &Session, packs: &[String]) -> Result<(), OpsError> {
    let path = s.root.st2_pending();
    let bad = |reason: String| OpsError::St2Pending {
        path: path.clone(),
        reason,
    };
    let mut text = serde_json::to_vec_pretty(&Pending {
        packs: packs.to_vec(),
    })
    .map_err(|e| bad(e.to_string()))?;
    text.push(b'\n');
    stackpack_fs::write_atomic(&path, &text, stackpack_fs::Mode::Default)
        .map_err(|e| bad(e.to_string()))
}

/// The request itself: st2's counts, or why st2 did not register the packs.
fn send(
    s: &Session,
    st2: &St2Settings,
    api_url: &str,
    packs: &[String],
    types: &[&str],
    fail_on_failure: bool,
) -> Result<BTreeMap<String, u64>, OpsError> {
    let shown = stackpack_core::redact_url(api_url);
    let fail = |reason: String, fix: String| OpsError::St2Handoff {
        api_url: shown.clone(),
        packs: packs.to_vec(),
        reason,
        fix,
    };
    let net = client(s, st2).map_err(|e| fail(e.to_string(), "fix the setting it names".into()))?;
    let url = url::Url::parse(&format!("{api_url}/v1/packs/register")).map_err(|e| {
        fail(
            format!("the API URL is not a URL ({e})"),
            "fix [st2] api_url / $ST2_API_URL".into(),
        )
    })?;
    let mut headers = Vec::new();
    if let Some(auth) = &st2.auth {
        let (name, value) = auth.header();
        headers.push((name.to_string(), value.to_string()));
    }
    let body = serde_json::json!({
        "packs": packs,
        "types": types,
        "fail_on_failure": fail_on_failure,
    });
    let body = serde_json::to_vec(&body).map_err(|e| fail(e.to_string(), String::new()))?;
    let reply = net
        .post_json(&url, &headers, body, MAX_REPLY)
        .map_err(|e| match e {
            NetFailure::Timeout => fail(
                format!(
                    "no answer within {}s",
                    s.settings
                        .http_timeout
                        .unwrap_or(stackpack_fetch::DEFAULT_TIMEOUT.as_secs())
                ),
                "check that st2 is running (`st2ctl status`), or raise `http_timeout`".into(),
            ),
            other => fail(
                format!("cannot reach it ({})", other),
                "check that st2 is running (`st2ctl status`) and that [st2] api_url / \
                 $ST2_API_URL points at its API"
                    .into(),
            ),
        })?;
    let fault = || {
        serde_json::from_slice::<serde_json::Value>(&reply.body)
            .ok()
            .and_then(|v| v.get("faultstring")?.as_str().map(str::to_string))
            .unwrap_or_else(|| {
                String::from_utf8_lossy(&reply.body)
                    .chars()
                    .take(200)
                    .collect()
            })
    };
    match reply.status {
        200..=299 => parse_counts(&reply.body).ok_or_else(|| {
            fail(
                "its answer is not a JSON object of counts".into(),
                "check that [st2] api_url points at st2's API".into(),
            )
        }),
        401 | 403 => Err(fail(
            format!("HTTP {}: {}", reply.status, fault()),
            match &st2.auth {
                Some(auth) => format!("fix {}", auth.describe()),
                None => "set [st2] api_key_env (or $ST2_API_KEY) to an st2 API key \
                         (`st2 apikey create`)"
                    .into(),
            },
        )),
        400 => Err(fail(
            format!("st2 rejected them (HTTP 400): {}", fault()),
            "fix what st2 names, then run `stackpack register`".into(),
        )),
        404 => Err(fail(
            "HTTP 404: no pack registration at this URL".into(),
            "set [st2] api_url / $ST2_API_URL to the API's base URL (https://<host>/api)".into(),
        )),
        status => Err(fail(
            format!("HTTP {status}: {}", fault()),
            "check st2's API log (/var/log/st2/st2api.log)".into(),
        )),
    }
}

/// st2's `{"actions": 3, ...}`: the numeric entries.
fn parse_counts(body: &[u8]) -> Option<BTreeMap<String, u64>> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    Some(
        value
            .as_object()?
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.as_u64()?)))
            .collect(),
    )
}

/// The HTTP client for st2: the session's proxies and deadline, `[st2] cacert` (else
/// the proxy CA bundle), and none of the `[[credentials]]`.
fn client(s: &Session, st2: &St2Settings) -> Result<Arc<Net>, OpsError> {
    let base = s.net_config();
    Ok(Arc::new(Net::new(NetConfig {
        ca_bundle: st2.cacert.clone().or(base.ca_bundle),
        credentials: Vec::new(),
        ..base
    })?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_name_the_types_both_sides_count_alike() {
        let local: BTreeMap<String, usize> = [
            ("actions", 3),
            ("sensors", 1),
            ("triggers", 2),
            ("rules", 0),
        ]
        .into_iter()
        .map(|(k, n)| (k.to_string(), n))
        .collect();
        let st2: BTreeMap<String, u64> = [("actions", 2), ("sensors", 1), ("triggers", 2)]
            .into_iter()
            .map(|(k, n)| (k.to_string(), n))
            .collect();
        let mut local = local;
        local.insert("sensor_triggers".into(), 4);
        let found = differences(&local, &st2);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            (found[0].kind.as_str(), found[0].stackpack, found[0].st2),
            ("actions", 3, 2)
        );
    }
}
