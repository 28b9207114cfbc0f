//! The handoff to a running StackStorm: after stackpack installs or registers packs,
//! st2's API is asked to register the same packs into st2's own database
//! (`POST {api_url}/v1/packs/register`, authenticated with `St2-Api-Key` or
//! `X-Auth-Token`), and st2's counts are set beside stackpack's. After `remove`, the
//! removed packs' rules, aliases, policies and actions are deleted through st2's API.
//!
//! A failed handoff loses nothing: the local work is complete, the packs st2 was not
//! told about (and removed packs it still holds) are recorded in
//! `<root>/.stackpack-st2-pending.json`, and the next
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
    /// Removed packs whose resources st2 was asked to delete (this run's and earlier
    /// pending ones), with what it deleted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<Unregistered>,
    /// What st2 keeps of a removed pack: its API deletes nothing else.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub st2_keeps: Option<&'static str>,
    /// Override policy verdicts set on st2's resources after its registration.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<Applied>,
    /// Packs st2 was not told about (a failed handoff), recorded for the next one.
    pub pending: Vec<String>,
    /// Removed packs whose resources st2 still holds (a failed handoff), recorded for
    /// the next one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pending_removed: Vec<String>,
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

/// One override verdict applied to st2: the resource's `enabled` as stackpack's
/// registry decided it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Applied {
    /// stackpack's name for the type (`action`, `sensor`, `rule`, `alias`).
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(rename = "ref")]
    pub ref_: String,
    pub enabled: bool,
    /// The policy that decided it.
    pub policy: String,
    /// False when st2 already had it so (st2 applies the `overrides/` files itself).
    pub changed: bool,
}

/// What st2 deleted of one removed pack: resources per type (`{"actions": 2}`).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Unregistered {
    pub pack: String,
    pub deleted: BTreeMap<String, u64>,
}

/// What st2 keeps of a removed pack, shown with every unregistration.
pub const ST2_KEEPS: &str = "the pack's entry, its sensor types and trigger types, and its \
     config (st2's API has no call that deletes them short of `st2 pack uninstall`, which also \
     deletes the files); disabled sensors without their files do not run";

/// The resources st2's API deletes one by one, in an order that removes what refers to
/// another resource first: (st2's name for the type, API collection).
const DELETABLE: [(&str, &str); 4] = [
    ("rules", "rules"),
    ("aliases", "actionalias"),
    ("policies", "policies"),
    ("actions", "actions"),
];

/// The API collection of each type whose `enabled` st2 lets a client set.
fn collection(kind: &str) -> Option<&'static str> {
    match kind {
        "action" => Some("actions"),
        "sensor" => Some("sensortypes"),
        "rule" => Some("rules"),
        "alias" => Some("actionalias"),
        _ => None,
    }
}

/// The pending file's content: packs to register, and removed packs whose resources
/// st2 has yet to delete.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Pending {
    packs: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    removed: Vec<String>,
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
    exchange(s, changed, &[], local, fail_on_failure, types)
}

/// Asks st2 to delete the resources of `removed` packs (and of packs earlier handoffs
/// could not unregister), and sends any packs still pending registration.
pub fn handoff_removed(s: &Session, removed: &[String]) -> Option<Handoff> {
    exchange(s, &[], removed, None, false, None)
}

/// After a sync: asks st2 to register the `changed` packs and delete the resources of
/// the `removed` ones, in one exchange.
pub fn handoff_synced(
    s: &Session,
    changed: &[String],
    removed: &[String],
    local: Option<&BTreeMap<String, usize>>,
) -> Option<Handoff> {
    exchange(s, changed, removed, local, false, None)
}

/// Whether st2 is configured for this session (an API URL from any source).
pub fn configured(s: &Session) -> bool {
    s.st2.as_ref().is_some_and(|st2| st2.api_url.is_some())
}

/// `stackpack register --st2`: sends `packs` (installed packs, by name or ref) and what
/// earlier handoffs could not send to st2, without registering anything locally again.
/// Returns None when there is nothing to send; an error when st2 is not configured or
/// a named pack is not installed.
pub fn resend(
    s: &Session,
    packs: &[String],
    types: Option<&[&str]>,
) -> Result<Option<Handoff>, OpsError> {
    if !configured(s) {
        return Err(OpsError::St2NotConfigured);
    }
    let mut refs: Vec<String> = Vec::new();
    for name in packs {
        let p = crate::packs::installed(s, name)?;
        if !refs.contains(&p.ref_) {
            refs.push(p.ref_);
        }
    }
    Ok(exchange(s, &refs, &[], None, false, types))
}

fn exchange(
    s: &Session,
    changed: &[String],
    removed: &[String],
    local: Option<&BTreeMap<String, usize>>,
    fail_on_failure: bool,
    types: Option<&[&str]>,
) -> Option<Handoff> {
    let st2 = s.st2.as_ref()?;
    let api_url = st2.api_url.clone()?;
    let pending_path = s.root.st2_pending();
    let earlier = read_pending(s);
    let mut packs: Vec<String> = changed.to_vec();
    for p in &earlier.packs {
        if !packs.contains(p) && !removed.contains(p) {
            packs.push(p.clone());
        }
    }
    let mut gone: Vec<String> = removed.to_vec();
    for p in &earlier.removed {
        if !gone.contains(p) && !changed.contains(p) {
            gone.push(p.clone());
        }
    }
    if packs.is_empty() && gone.is_empty() {
        return None;
    }
    let mut report = Handoff {
        api_url: stackpack_core::redact_url(&api_url),
        packs: packs.clone(),
        ..Handoff::default()
    };
    let mut errors: Vec<OpsError> = Vec::new();
    if !packs.is_empty() {
        match send(
            s,
            st2,
            &api_url,
            &packs,
            types.unwrap_or(&TYPES),
            fail_on_failure,
        ) {
            Ok(counts) => {
                // Counts are comparable only when st2 registered just what stackpack did.
                if let Some(local) = local
                    && earlier.packs.iter().all(|p| changed.contains(p))
                {
                    report.differences = differences(local, &counts);
                }
                report.counts = Some(counts);
                match apply_overrides(s, st2, &api_url, &packs) {
                    Ok(applied) => report.overrides = applied,
                    Err(e) => {
                        report.pending = packs.clone();
                        errors.push(e);
                    }
                }
            }
            Err(e) => {
                report.pending = packs.clone();
                errors.push(e);
            }
        }
    }
    if !gone.is_empty() {
        report.st2_keeps = Some(ST2_KEEPS);
        for pack in &gone {
            // After a failure the others would most likely fail alike (st2 down, slow,
            // the credential refused): they are recorded without a request each.
            if !errors.is_empty() {
                report.pending_removed.push(pack.clone());
                continue;
            }
            match unregister(s, st2, &api_url, pack) {
                Ok(u) => report.removed.push(u),
                Err(e) => {
                    report.pending_removed.push(pack.clone());
                    errors.push(e);
                }
            }
        }
    }
    let had_record = !earlier.packs.is_empty() || !earlier.removed.is_empty();
    if errors.is_empty() {
        if had_record
            && let Err(e) = std::fs::remove_file(&pending_path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(
                "st2 took the pending packs, but {} could not be removed: {e}",
                pending_path.display()
            );
        }
        return Some(report);
    }
    let recorded = write_pending(
        s,
        &Pending {
            packs: report.pending.clone(),
            removed: report.pending_removed.clone(),
        },
    );
    report.pending_file = Some(pending_path.display().to_string());
    let mut first = errors.remove(0);
    for e in &errors {
        tracing::error!("{e}");
    }
    if let Err(record) = recorded {
        tracing::error!("{first}");
        first = record;
    }
    report.error = Some(first.to_string());
    report.failure = Some(first);
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

/// What earlier failed handoffs recorded: packs to register that are still installed,
/// and removed packs that are still not installed.
fn read_pending(s: &Session) -> Pending {
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
        return Pending::default();
    }
    let text = match stackpack_fs::read_limited(&path, 1 << 20) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Pending::default(),
        Err(e) => {
            tracing::warn!(
                "cannot read {}: {e}; its packs are not resent",
                path.display()
            );
            return Pending::default();
        }
    };
    let pending: Pending = match serde_json::from_slice(&text) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(
                "{} is not a pending-packs list ({e}); its packs are not resent",
                path.display()
            );
            return Pending::default();
        }
    };
    let installed = s.installed().ok();
    let is_installed = |p: &String| -> Option<bool> {
        Some(stackpack_site::find(installed.as_ref()?, p).is_some())
    };
    let dedup = |v: Vec<String>| -> Vec<String> {
        v.into_iter().collect::<BTreeSet<_>>().into_iter().collect()
    };
    Pending {
        packs: dedup(pending.packs)
            .into_iter()
            .filter(|p| is_installed(p).unwrap_or(true))
            .collect(),
        removed: dedup(pending.removed)
            .into_iter()
            .filter(|p| !is_installed(p).unwrap_or(false))
            .collect(),
    }
}

fn write_pending(s: &Session, pending: &Pending) -> Result<(), OpsError> {
    let path = s.root.st2_pending();
    let bad = |reason: String| OpsError::St2Pending {
        path: path.clone(),
        reason,
    };
    let mut text = serde_json::to_vec_pretty(pending).map_err(|e| bad(e.to_string()))?;
    text.push(b'\n');
    stackpack_fs::write_atomic(&path, &text, stackpack_fs::Mode::Default)
        .map_err(|e| bad(e.to_string()))
}

/// Why a request to st2 failed, and what to do: (reason, fix).
type Failed = (String, String);

/// One request to st2's API with the credential header; transport failures, 401/403,
/// 404 and 5xx become a reason and a fix. Other statuses are the caller's to read.
fn call(
    s: &Session,
    st2: &St2Settings,
    net: &Net,
    method: &str,
    url: &url::Url,
    body: Option<Vec<u8>>,
) -> Result<stackpack_net::HttpReply, Failed> {
    let mut headers = Vec::new();
    if let Some(auth) = &st2.auth {
        let (name, value) = auth.header();
        headers.push((name.to_string(), value.to_string()));
    }
    let sent = if method == "POST" {
        net.post_json(url, &headers, body.unwrap_or_default(), MAX_REPLY)
    } else {
        net.api_request(method, url, &headers, body, MAX_REPLY)
    };
    let reply = sent.map_err(|e| match e {
        NetFailure::Timeout => (
            format!(
                "no answer within {}s",
                s.settings
                    .http_timeout
                    .unwrap_or(stackpack_fetch::DEFAULT_TIMEOUT.as_secs())
            ),
            "check that st2 is running (`st2ctl status`), or raise `http_timeout`".into(),
        ),
        other => (
            format!("cannot reach it ({other})"),
            "check that st2 is running (`st2ctl status`) and that [st2] api_url / \
             $ST2_API_URL points at its API"
                .into(),
        ),
    })?;
    match reply.status {
        401 | 403 => Err((
            format!("HTTP {}: {}", reply.status, fault_text(&reply.body)),
            match &st2.auth {
                Some(auth) => format!("fix {}", auth.describe()),
                None => "set [st2] api_key_env (or $ST2_API_KEY) to an st2 API key \
                         (`st2 apikey create`)"
                    .into(),
            },
        )),
        500..=599 => Err((
            format!("HTTP {}: {}", reply.status, fault_text(&reply.body)),
            "check st2's API log (/var/log/st2/st2api.log)".into(),
        )),
        _ => Ok(reply),
    }
}

/// st2's `faultstring`, else the start of the body.
fn fault_text(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("faultstring")?.as_str().map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(200).collect())
}

/// `{api_url}/v1/<segments...>`, each segment escaped.
fn endpoint(api_url: &str, segments: &[&str]) -> Result<url::Url, Failed> {
    let mut url = url::Url::parse(api_url).map_err(|e| {
        (
            format!("the API URL is not a URL ({e})"),
            "fix [st2] api_url / $ST2_API_URL".to_string(),
        )
    })?;
    {
        let mut path = url.path_segments_mut().map_err(|()| {
            (
                "the API URL cannot take a path".to_string(),
                "fix [st2] api_url / $ST2_API_URL".to_string(),
            )
        })?;
        path.pop_if_empty().push("v1");
        for seg in segments {
            path.push(seg);
        }
    }
    Ok(url)
}

/// The registration request: st2's counts, or why st2 did not register the packs.
fn send(
    s: &Session,
    st2: &St2Settings,
    api_url: &str,
    packs: &[String],
    types: &[&str],
    fail_on_failure: bool,
) -> Result<BTreeMap<String, u64>, OpsError> {
    let fail = |(reason, fix): Failed| OpsError::St2Handoff {
        api_url: stackpack_core::redact_url(api_url),
        packs: packs.to_vec(),
        reason,
        fix,
    };
    let net =
        client(s, st2).map_err(|e| fail((e.to_string(), "fix the setting it names".into())))?;
    let url = endpoint(api_url, &["packs", "register"]).map_err(fail)?;
    let body = serde_json::json!({
        "packs": packs,
        "types": types,
        "fail_on_failure": fail_on_failure,
    });
    let body = serde_json::to_vec(&body).map_err(|e| fail((e.to_string(), String::new())))?;
    let reply = call(s, st2, &net, "POST", &url, Some(body)).map_err(fail)?;
    match reply.status {
        200..=299 => parse_counts(&reply.body).ok_or_else(|| {
            fail((
                "its answer is not a JSON object of counts".into(),
                "check that [st2] api_url points at st2's API".into(),
            ))
        }),
        400 => Err(fail((
            format!("st2 rejected them (HTTP 400): {}", fault_text(&reply.body)),
            "fix what st2 names, then run `stackpack register`".into(),
        ))),
        404 => Err(fail(not_found())),
        status => Err(fail((
            format!("HTTP {status}: {}", fault_text(&reply.body)),
            "check st2's API log (/var/log/st2/st2api.log)".into(),
        ))),
    }
}

fn not_found() -> Failed {
    (
        "HTTP 404: no such API at this URL".into(),
        "set [st2] api_url / $ST2_API_URL to the API's base URL (https://<host>/api)".into(),
    )
}

/// Sets `enabled` on st2's copy of every resource of `packs` whose state in
/// stackpack's registry differs from the pack's own (an override policy's verdict).
/// st2's PUT takes the whole resource: each is read (`GET /v1/<type>/<ref>`), its
/// `enabled` set, and put back (`PUT /v1/<type>/<ref>`) unless st2 already has it so.
fn apply_overrides(
    s: &Session,
    st2: &St2Settings,
    api_url: &str,
    packs: &[String],
) -> Result<Vec<Applied>, OpsError> {
    let mut wanted: Vec<stackpack_registry::Decided> = Vec::new();
    match stackpack_registry::Registry::open_existing(&s.root.registry_db()) {
        Ok(Some(registry)) => {
            for pack in packs {
                match registry.registered(pack) {
                    Ok(Some(r)) => {
                        wanted.extend(r.decisions.into_iter().filter(|d| {
                            d.enabled != d.pack_enabled && collection(&d.kind).is_some()
                        }))
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!("{e}; the policy verdicts on {pack} are not sent to st2")
                    }
                }
            }
        }
        Ok(None) => {}
        Err(e) => tracing::warn!("{e}; no policy verdicts are sent to st2"),
    }
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let mut applied = Vec::new();
    let mut net: Option<Arc<Net>> = None;
    for d in wanted {
        let fail = |(reason, fix): Failed| OpsError::St2Override {
            api_url: stackpack_core::redact_url(api_url),
            resource: d.ref_.clone(),
            enabled: d.enabled,
            reason,
            fix,
        };
        let net = match &net {
            Some(n) => n.clone(),
            None => {
                let n = client(s, st2)
                    .map_err(|e| fail((e.to_string(), "fix the setting it names".into())))?;
                net = Some(n.clone());
                n
            }
        };
        let Some(coll) = collection(&d.kind) else {
            continue;
        };
        let url = endpoint(api_url, &[coll, &d.ref_]).map_err(fail)?;
        let reply = call(s, st2, &net, "GET", &url, None).map_err(fail)?;
        let mut resource: serde_json::Value = match reply.status {
            200..=299 => serde_json::from_slice(&reply.body).map_err(|_| {
                fail((
                    "its answer is not a JSON resource".into(),
                    "check that [st2] api_url points at st2's API".into(),
                ))
            })?,
            404 => {
                return Err(fail((
                    "st2 does not have it (HTTP 404)".into(),
                    "check that st2 registered the pack (`st2 pack get`), then run `stackpack \
                     register --st2`"
                        .into(),
                )));
            }
            status => {
                return Err(fail((
                    format!("reading it: HTTP {status}: {}", fault_text(&reply.body)),
                    "check st2's API log (/var/log/st2/st2api.log)".into(),
                )));
            }
        };
        let Some(obj) = resource.as_object_mut() else {
            return Err(fail((
                "its answer is not a JSON object".into(),
                "check that [st2] api_url points at st2's API".into(),
            )));
        };
        let changed = obj.get("enabled").and_then(|e| e.as_bool()) != Some(d.enabled);
        if changed {
            obj.insert("enabled".into(), d.enabled.into());
            let body =
                serde_json::to_vec(&resource).map_err(|e| fail((e.to_string(), String::new())))?;
            let reply = call(s, st2, &net, "PUT", &url, Some(body)).map_err(fail)?;
            if !(200..300).contains(&reply.status) {
                return Err(fail((
                    format!("HTTP {}: {}", reply.status, fault_text(&reply.body)),
                    "fix what st2 names, then run `stackpack register --st2`".into(),
                )));
            }
        }
        applied.push(Applied {
            kind: d.kind,
            ref_: d.ref_,
            enabled: d.enabled,
            policy: d.policy,
            changed,
        });
    }
    Ok(applied)
}

/// What `stackpack doctor` found: st2 reachable with the credential, and each pack
/// whose copy in st2 differs from the root.
#[derive(Debug, Default, serde::Serialize)]
pub struct Doctor {
    /// The API checked (without credentials).
    pub api_url: String,
    /// The setting the credential came from (never the credential), or None.
    pub credential: Option<&'static str>,
    /// Packs st2 has registered.
    pub st2_packs: usize,
    /// Active packs installed in the root.
    pub installed: usize,
    /// Packs whose registration in st2 differs from the root, sorted by pack.
    pub drift: Vec<Drift>,
}

/// One pack that st2 has registered differently from what is on disk.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Drift {
    pub pack: String,
    /// `not-in-st2`, `not-installed`, `version`, `path` or `files`.
    pub problem: &'static str,
    /// What differs, for people.
    pub detail: String,
    /// Files on disk that st2's `files` lacks.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub only_on_disk: Vec<String>,
    /// Files in st2's `files` that are not on disk.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub only_in_st2: Vec<String>,
}

/// The most packs `doctor` reads from st2 (pages of 100).
const MAX_PACK_PAGES: usize = 1000;
/// The most files listed per pack when comparing with st2's `files`.
const MAX_FILES: usize = 100_000;

/// `stackpack doctor`: reads st2's packs with the configured credential (`GET
/// {api_url}/v1/packs`), which checks the connection and the credential, and compares
/// each entry's ref, version, path and `files` with the root's active packs.
pub fn doctor(s: &Session) -> Result<Doctor, OpsError> {
    let st2 = s.st2.as_ref().ok_or(OpsError::St2NotConfigured)?;
    let api_url = st2.api_url.clone().ok_or(OpsError::St2NotConfigured)?;
    let shown = stackpack_core::redact_url(&api_url);
    let fail = |(reason, fix): Failed| OpsError::St2Check {
        api_url: shown.clone(),
        reason,
        fix,
    };
    let net =
        client(s, st2).map_err(|e| fail((e.to_string(), "fix the setting it names".into())))?;
    let mut entries: Vec<serde_json::Value> = Vec::new();
    for page in 0..MAX_PACK_PAGES {
        let mut url = endpoint(&api_url, &["packs"]).map_err(fail)?;
        url.query_pairs_mut()
            .append_pair("limit", "100")
            .append_pair("offset", &(page * 100).to_string());
        let reply = call(s, st2, &net, "GET", &url, None).map_err(fail)?;
        match reply.status {
            200..=299 => {}
            404 => return Err(fail(not_found())),
            status => {
                return Err(fail((
                    format!("HTTP {status}: {}", fault_text(&reply.body)),
                    "check st2's API log (/var/log/st2/st2api.log)".into(),
                )));
            }
        }
        let got: Vec<serde_json::Value> = serde_json::from_slice(&reply.body).map_err(|_| {
            fail((
                "its list of packs is not a JSON array".into(),
                "check that [st2] api_url points at st2's API".into(),
            ))
        })?;
        let n = got.len();
        entries.extend(got);
        if n < 100 {
            break;
        }
    }
    let installed: Vec<stackpack_site::InstalledPack> = s
        .installed()?
        .iter()
        .filter(|p| p.is_active())
        .cloned()
        .collect();
    let mut report = Doctor {
        api_url: shown.clone(),
        credential: st2.auth.as_ref().map(|a| a.describe()),
        st2_packs: entries.len(),
        installed: installed.len(),
        drift: Vec::new(),
    };
    let field =
        |e: &serde_json::Value, k: &str| e.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let mut seen = BTreeSet::new();
    for e in &entries {
        let Some(r) = field(e, "ref") else { continue };
        seen.insert(r.clone());
        let Some(p) = installed.iter().find(|p| p.ref_ == r) else {
            report.drift.push(Drift {
                pack: r,
                problem: "not-installed",
                detail: "st2 has it registered, but it is not installed here (st2 keeps a \
                         removed pack's entry)"
                    .into(),
                ..Drift::default()
            });
            continue;
        };
        if let (Some(theirs), Some(meta)) = (field(e, "version"), p.meta())
            && theirs != meta.version
        {
            report.drift.push(Drift {
                pack: r.clone(),
                problem: "version",
                detail: format!(
                    "{} on disk, {theirs} in st2: run `stackpack register {r}`",
                    meta.version
                ),
                ..Drift::default()
            });
        }
        if let Some(path) = field(e, "path")
            && std::path::Path::new(&path) != p.path
        {
            report.drift.push(Drift {
                pack: r.clone(),
                problem: "path",
                detail: format!(
                    "st2 registered it from {path}, stackpack has it at {}",
                    p.path.display()
                ),
                ..Drift::default()
            });
        }
        if let Some(files) = e.get("files").and_then(|f| f.as_array()) {
            let theirs: BTreeSet<String> = files
                .iter()
                .filter_map(|f| f.as_str().map(str::to_string))
                .collect();
            let ours = pack_files(&p.path);
            let only_on_disk: Vec<String> = ours.difference(&theirs).cloned().collect();
            let only_in_st2: Vec<String> = theirs.difference(&ours).cloned().collect();
            if !only_on_disk.is_empty() || !only_in_st2.is_empty() {
                report.drift.push(Drift {
                    pack: r.clone(),
                    problem: "files",
                    detail: format!(
                        "{} file(s) only on disk, {} only in st2's list: run `stackpack \
                         register {r}`",
                        only_on_disk.len(),
                        only_in_st2.len()
                    ),
                    only_on_disk,
                    only_in_st2,
                });
            }
        }
    }
    for p in &installed {
        if !seen.contains(&p.ref_) {
            report.drift.push(Drift {
                pack: p.ref_.clone(),
                problem: "not-in-st2",
                detail: format!(
                    "installed, but st2 has not registered it: run `stackpack register --st2 {}`",
                    p.ref_
                ),
                ..Drift::default()
            });
        }
    }
    report
        .drift
        .sort_by(|a, b| (&a.pack, a.problem).cmp(&(&b.pack, b.problem)));
    Ok(report)
}

/// A pack's files as st2 lists them in `files`: every file under the pack directory,
/// relative to it, except `*.pyc` and `.git/*`; directories reached through symlinks
/// are not entered (st2 walks without following links).
fn pack_files(dir: &std::path::Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.filter_map(Result::ok) {
            if out.len() >= MAX_FILES {
                return out;
            }
            let path = e.path();
            let Ok(rel) = path.strip_prefix(dir) else {
                continue;
            };
            let rel = rel.to_string_lossy().replace('\\', "/");
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                if rel != ".git" {
                    stack.push(path);
                }
                continue;
            }
            if meta.file_type().is_symlink() && path.is_dir() {
                continue;
            }
            if rel.ends_with(".pyc") || rel.starts_with(".git/") {
                continue;
            }
            out.insert(rel);
        }
    }
    out
}

/// The most rounds of list-then-delete for one type of one pack (a page each).
const MAX_ROUNDS: usize = 1000;

/// Deletes a removed pack's rules, aliases, policies and actions through st2's API:
/// each type is listed (`GET /v1/<type>?pack=<pack>`, a page at a time) and each
/// resource deleted by ref (`DELETE /v1/<type>/<ref>`), until the list is empty.
fn unregister(
    s: &Session,
    st2: &St2Settings,
    api_url: &str,
    pack: &str,
) -> Result<Unregistered, OpsError> {
    let fail = |(reason, fix): Failed| OpsError::St2Unregister {
        api_url: stackpack_core::redact_url(api_url),
        pack: pack.to_string(),
        reason,
        fix,
    };
    let net =
        client(s, st2).map_err(|e| fail((e.to_string(), "fix the setting it names".into())))?;
    let mut out = Unregistered {
        pack: pack.to_string(),
        deleted: BTreeMap::new(),
    };
    for (kind, collection) in DELETABLE {
        let mut list = endpoint(api_url, &[collection]).map_err(fail)?;
        list.query_pairs_mut()
            .append_pair("pack", pack)
            .append_pair("limit", "100");
        let mut deleted = 0u64;
        let mut last: Option<Vec<String>> = None;
        for _ in 0..MAX_ROUNDS {
            let reply = call(s, st2, &net, "GET", &list, None).map_err(fail)?;
            if reply.status == 404 {
                return Err(fail(not_found()));
            }
            if !(200..300).contains(&reply.status) {
                return Err(fail((
                    format!(
                        "listing its {kind}: HTTP {}: {}",
                        reply.status,
                        fault_text(&reply.body)
                    ),
                    "check st2's API log (/var/log/st2/st2api.log)".into(),
                )));
            }
            let refs = parse_refs(&reply.body, pack).ok_or_else(|| {
                fail((
                    format!("its list of {kind} is not a JSON array of resources"),
                    "check that [st2] api_url points at st2's API".into(),
                ))
            })?;
            if refs.is_empty() {
                break;
            }
            if last.as_ref() == Some(&refs) {
                return Err(fail((
                    format!("its {kind} are still listed after being deleted"),
                    "check st2's API log (/var/log/st2/st2api.log)".into(),
                )));
            }
            for r in &refs {
                let url = endpoint(api_url, &[collection, r]).map_err(fail)?;
                let reply = call(s, st2, &net, "DELETE", &url, None).map_err(fail)?;
                match reply.status {
                    200..=299 => deleted += 1,
                    // Gone already (deleted by someone else meanwhile).
                    404 => {}
                    status => {
                        return Err(fail((
                            format!("deleting {r}: HTTP {status}: {}", fault_text(&reply.body)),
                            "check st2's API log (/var/log/st2/st2api.log)".into(),
                        )));
                    }
                }
            }
            last = Some(refs);
        }
        out.deleted.insert(kind.to_string(), deleted);
    }
    Ok(out)
}

/// The refs of a list reply's resources that belong to `pack` (st2 filters by pack;
/// this keeps anything else from being deleted should a filter be ignored).
fn parse_refs(body: &[u8], pack: &str) -> Option<Vec<String>> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    Some(
        value
            .as_array()?
            .iter()
            .filter(|r| r.get("pack").and_then(|p| p.as_str()) == Some(pack))
            .filter_map(|r| r.get("ref")?.as_str().map(str::to_string))
            .collect(),
    )
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
    #![allow(clippy::unwrap_used)]
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

    #[test]
    fn endpoints_keep_the_api_path_and_escape_each_segment() {
        let u = endpoint("https://st2.example/api/", &["actions", "p.a/b?c"]).unwrap();
        assert_eq!(u.as_str(), "https://st2.example/api/v1/actions/p.a%2Fb%3Fc");
        let u = endpoint("http://127.0.0.1:9101", &["packs", "register"]).unwrap();
        assert_eq!(u.as_str(), "http://127.0.0.1:9101/v1/packs/register");
        assert!(endpoint("not a url", &["packs"]).is_err());
    }

    #[test]
    fn only_the_removed_packs_resources_are_taken_from_a_list() {
        let body =
            br#"[{"ref": "a.one", "pack": "a"}, {"ref": "b.one", "pack": "b"}, {"pack": "a"}]"#;
        assert_eq!(parse_refs(body, "a").unwrap(), ["a.one"]);
        assert!(parse_refs(b"{}", "a").is_none());
    }

    #[test]
    fn pack_files_are_listed_as_st2_lists_them() {
        let d = tempfile::tempdir().unwrap();
        for f in [
            "pack.yaml",
            "actions/a.py",
            "actions/a.pyc",
            ".git/HEAD",
            "etc/x/y.txt",
        ] {
            let p = d.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "x").unwrap();
        }
        let got: Vec<String> = pack_files(d.path()).into_iter().collect();
        assert_eq!(got, ["actions/a.py", "etc/x/y.txt", "pack.yaml"]);
    }
}
