//! The plugin operations: `list`, `add`, `remove`, `inspect` and `test`, each
//! returning a report the caller shows.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use stackpack_plugin::{
    CodeSource, Grants, Limits, Plugin, PluginError, PluginKind, PluginSpec, Recorded, Refusal,
    ReplayNet, Resolved, Shape,
};
use stackpack_site::{DeclaredKind, PluginManifest, PluginStore, normalize_sha256};

use crate::chain::{self, Entry, Origin};
use crate::error::OpsError;
use crate::session::Session;

/// `plugin add`.
#[derive(Debug, Clone, Default)]
pub struct AddRequest {
    /// The component: a path, a file:// URL or an https:// URL
    pub source: String,
    /// Its sha256 (64 hex digits); nothing is added when the bytes differ
    pub sha256: String,
    /// Name to add it under [default: the name the component gives in describe()]
    pub name: Option<String>,
    /// Grant the plugin a host, `scheme://host[:port]`; repeat for several. Nothing else is granted
    pub grants: Vec<String>,
    /// Position in its chain: lower runs first; built-in resolvers sit at 100 (github) to 500 (git) [default: 0]
    pub order: Option<i64>,
    /// Memory limit per call, in MiB [default: 64]
    pub memory_mib: Option<u64>,
    /// Guest time limit per call, in milliseconds [default: 5000]
    pub time_ms: Option<u64>,
    /// A config value the plugin reads with config-get; repeat for several
    pub set: Vec<String>,
    /// Replace a plugin already added under this name
    pub force: bool,
}

/// `plugin test`.
#[derive(Debug, Clone, Default)]
pub struct TestRequest {
    /// The resolver: a .wasm file (path, file:// or https:// URL), or the name of a plugin
    pub target: String,
    /// References to resolve, one per line (`#` comments and blank lines are skipped)
    pub refs: PathBuf,
    /// Recorded HTTP responses: a JSON array of {"url", "status", "headers", "body"}
    pub recorded: PathBuf,
    /// A config value the plugin reads with config-get; repeat for several
    pub set: Vec<String>,
    /// Grant a host, `scheme://host[:port]`; repeat for several [default: the origins of the recorded URLs]
    pub grants: Vec<String>,
}

/// `key=value` pairs of `--set`.
fn assignments(values: &[String]) -> Result<BTreeMap<String, String>, OpsError> {
    values
        .iter()
        .map(|v| match v.split_once('=') {
            Some((k, val)) if !k.trim().is_empty() => Ok((k.trim().to_string(), val.to_string())),
            _ => Err(OpsError::BadAssignment {
                flag: "--set",
                value: v.clone(),
            }),
        })
        .collect()
}

/// A plugin name, or else a component to read.
fn is_plugin_name(target: &str) -> bool {
    stackpack_site::plugin_store::check_name(target).is_ok()
}

/// Requested hosts the grants do not cover (informational: grants are never implied).
fn not_granted(grants: &Grants, requested: &[String]) -> Vec<String> {
    requested
        .iter()
        .filter(|r| {
            let r = r.trim();
            !grants.as_strings().iter().any(|g| g == r)
                && url::Url::parse(r).map_or(true, |u| grants.check(&u).is_err())
        })
        .cloned()
        .collect()
}

fn wit(plugin: &Plugin) -> String {
    format!("{}@{}", stackpack_plugin::API_PACKAGE, plugin.api_version())
}

fn shown_order(entry: &Entry) -> Option<i64> {
    (entry.kind == PluginKind::Resolver || entry.origin != Origin::Builtin).then_some(entry.order)
}

#[derive(Debug, serde::Serialize)]
pub struct PluginRow {
    pub name: String,
    pub kind: PluginKind,
    /// Chain position; null for the built-in default policy, which always runs last.
    pub order: Option<i64>,
    pub origin: Origin,
    pub source: String,
    pub version: String,
    pub description: String,
    pub wit: String,
    pub sha256: String,
    pub pinned_sha256: Option<String>,
    pub granted_hosts: Vec<String>,
    pub requested_hosts: Vec<String>,
    pub builtin: bool,
}

pub fn list(s: &Session) -> Result<Vec<PluginRow>, OpsError> {
    let mut rows = Vec::new();
    for l in chain::load_detailed(s)? {
        let (plugin, entry) = (&l.plugin, &l.entry);
        let d = plugin.describe()?;
        rows.push(PluginRow {
            name: plugin.name().to_string(),
            kind: plugin.kind(),
            order: shown_order(entry),
            origin: entry.origin,
            source: entry.source.clone(),
            version: d.version,
            description: d.description,
            wit: wit(plugin),
            sha256: plugin.sha256().to_string(),
            pinned_sha256: entry.pinned.clone(),
            granted_hosts: plugin.grants().as_strings().to_vec(),
            requested_hosts: d.requested_hosts,
            builtin: entry.origin == Origin::Builtin,
        });
    }
    Ok(rows)
}

#[derive(Debug, serde::Serialize)]
pub struct Added {
    pub name: String,
    pub kind: PluginKind,
    pub wit: String,
    pub sha256: String,
    pub order: i64,
    pub source: String,
    pub wasm: PathBuf,
    pub manifest: PathBuf,
    pub granted_hosts: Vec<String>,
    pub requested_hosts: Vec<String>,
    /// Requested by the plugin but not granted (grant them with --grant).
    pub not_granted: Vec<String>,
    pub replaced: bool,
    /// How its machine code was obtained: compiled now, or already in the cache.
    pub code: CodeSource,
    /// How long compiling took (now, or when the cache entry was written).
    pub compile_ms: Option<u64>,
    /// The compiled code every later load uses.
    pub cache_file: Option<PathBuf>,
}

pub fn add(s: &Session, req: &AddRequest) -> Result<Added, OpsError> {
    let expected = normalize_sha256(&req.sha256).ok_or_else(|| OpsError::BadDigest {
        value: req.sha256.clone(),
    })?;
    let config = assignments(&req.set)?;
    // Until describe() names it: --name, or the file name.
    let label = req.name.clone().unwrap_or_else(|| {
        let tail = req.source.rsplit('/').next().unwrap_or(&req.source);
        tail.strip_suffix(".wasm").unwrap_or(tail).to_string()
    });
    let grants = Grants::parse(&req.grants).map_err(|(grant, reason)| PluginError::Grant {
        plugin: label.clone(),
        grant,
        reason,
    })?;
    let (bytes, shown) = chain::fetch_source(s, &label, &req.source)?;
    let actual = stackpack_plugin::sha256_hex(&bytes);
    if actual != expected {
        return Err(OpsError::DigestMismatch {
            from: shown,
            expected,
            actual,
        });
    }
    let mut limits = Limits::default();
    if let Some(m) = req.memory_mib {
        limits.memory_bytes = (m as usize).saturating_mul(1 << 20);
    }
    if let Some(t) = req.time_ms {
        limits.time = std::time::Duration::from_millis(t);
    }
    // Loading it once checks it is a component, which world, and which API version;
    // describe() needs no network.
    let plugin = s.runtime()?.load(PluginSpec {
        name: label,
        wasm: Arc::from(bytes.as_slice()),
        grants: grants.clone(),
        config: config.clone(),
        limits,
    })?;
    let d = plugin.describe()?;
    let name = req.name.clone().unwrap_or_else(|| d.name.clone());
    stackpack_site::plugin_store::check_name(&name).map_err(OpsError::BadName)?;
    if stackpack_builtins::get(&name).is_some() {
        return Err(OpsError::Builtin {
            name,
            what: "an added plugin cannot take its name; choose another one with --name".into(),
        });
    }
    if !s.enterprise.plugin_allowed(&name) {
        return Err(OpsError::PluginNotAllowed {
            plugin: name,
            file: s.enterprise.shown_source(),
            allowed: s
                .enterprise
                .allowed_plugins
                .as_deref()
                .unwrap_or_default()
                .join(", "),
            fix: "nothing was added; ask your administrator to allow it".into(),
        });
    }
    if s.settings
        .plugins
        .get(&name)
        .is_some_and(|p| p.is_declared())
    {
        return Err(OpsError::PluginConfig {
            file: s.config_file(),
            plugin: name.clone(),
            problem: "already declares a plugin of that name with `path`/`url`".into(),
            fix: "nothing was added; remove that section, or add this one under another name with --name".into(),
        });
    }
    let store = PluginStore::new(&s.root);
    let replaced = store.get(&name)?.is_some();
    if replaced && !req.force {
        return Err(OpsError::AlreadyAdded {
            path: store.manifest_path(&name),
            name,
        });
    }
    let kind = plugin.kind();
    let manifest = PluginManifest {
        name: name.clone(),
        kind: match kind {
            PluginKind::Resolver => DeclaredKind::Resolver,
            PluginKind::Policy => DeclaredKind::Policy,
        },
        source: shown.clone(),
        sha256: actual.clone(),
        api_version: Some(plugin.api_version().to_string()),
        order: req.order.unwrap_or(0),
        hosts: grants.as_strings().to_vec(),
        memory_mib: req.memory_mib,
        time_ms: req.time_ms,
        config,
    };
    store.add(&s.root, &manifest, &bytes)?;
    let report = Added {
        name: name.clone(),
        kind,
        wit: wit(&plugin),
        sha256: actual,
        order: manifest.order,
        source: shown,
        wasm: store.wasm_path(&name),
        manifest: store.manifest_path(&name),
        granted_hosts: manifest.hosts.clone(),
        not_granted: not_granted(&grants, &d.requested_hosts),
        requested_hosts: d.requested_hosts,
        replaced,
        code: plugin.code_source(),
        compile_ms: plugin.compile_time().map(|t| t.as_millis() as u64),
        cache_file: plugin.cache_file().map(std::path::Path::to_path_buf),
    };
    Ok(report)
}

/// `plugin remove`: the files deleted.
#[derive(Debug, serde::Serialize)]
pub struct Removed {
    pub removed: String,
    pub wasm: PathBuf,
    pub manifest: PathBuf,
}

pub fn remove(s: &Session, name: &str) -> Result<Removed, OpsError> {
    if stackpack_builtins::get(name).is_some() {
        return Err(OpsError::Builtin {
            name: name.to_string(),
            what: "it ships inside stackpack and cannot be removed (an administrator can leave a built-in resolver out of the chain with allowed_resolvers in the enterprise settings)".into(),
        });
    }
    let store = PluginStore::new(&s.root);
    let (wasm, manifest) = (store.wasm_path(name), store.manifest_path(name));
    if !store.remove(name)? {
        if s.settings
            .plugins
            .get(name)
            .is_some_and(|p| p.is_declared())
        {
            return Err(OpsError::PluginConfig {
                file: s.config_file(),
                plugin: name.to_string(),
                problem: "declares this plugin; it was not added with `stackpack plugin add`"
                    .into(),
                fix: "remove the section from the config file to remove the plugin".into(),
            });
        }
        let added: Vec<String> = store.list()?.into_iter().map(|m| m.name).collect();
        return Err(OpsError::UnknownPlugin {
            name: name.to_string(),
            hint: if added.is_empty() {
                "no plugins are added; `stackpack plugin list` shows every plugin".into()
            } else {
                format!("added plugins: {}", added.join(", "))
            },
        });
    }
    Ok(Removed {
        removed: name.to_string(),
        wasm,
        manifest,
    })
}

#[derive(Debug, serde::Serialize)]
pub struct Inspection {
    pub name: String,
    /// built-in, added, config, or file (a component not part of the chain).
    pub origin: String,
    pub source: String,
    pub world: &'static str,
    pub kind: PluginKind,
    pub wit: String,
    pub api_version: String,
    pub version: String,
    pub description: String,
    pub handles: Vec<String>,
    pub requested_hosts: Vec<String>,
    pub granted_hosts: Vec<String>,
    pub not_granted: Vec<String>,
    pub order: Option<i64>,
    pub memory_mib: u64,
    pub time_ms: u64,
    pub config: BTreeMap<String, String>,
    pub sha256: String,
    pub pinned_sha256: Option<String>,
    /// The component's size in bytes.
    pub size_bytes: u64,
    /// The core instances, memories and tables it declares (its per-call store limits).
    pub declared: Shape,
    /// How its machine code was obtained this time.
    pub code: CodeSource,
    /// How long compiling it took, now or when its cache entry was written; null for
    /// a built-in (compiled when stackpack was built).
    pub compile_ms: Option<u64>,
    pub cache_file: Option<PathBuf>,
    /// The most linear memory its `describe` call held at once, in bytes.
    pub describe_peak_memory_bytes: u64,
    /// The guest time of its `describe` call, in milliseconds.
    pub describe_ms: f64,
}

/// The entry named `name` among every plugin the settings name.
fn find_entry(s: &Session, name: &str) -> Result<Entry, OpsError> {
    let entries = s.plugin_entries()?;
    let names: Vec<String> = entries.iter().map(|e| e.name.clone()).collect();
    entries
        .iter()
        .find(|e| e.name == name)
        .cloned()
        .ok_or_else(|| OpsError::UnknownPlugin {
            name: name.to_string(),
            hint: format!(
                "known plugins: {}; or give the path of a .wasm file",
                names.join(", ")
            ),
        })
}

pub fn inspect(s: &Session, target: &str) -> Result<Inspection, OpsError> {
    let rt = s.runtime()?;
    let (plugin, origin, source, order, pinned, config) = if is_plugin_name(target) {
        let entry = find_entry(s, target)?;
        let plugin = chain::load_entry(s, rt, &entry)?;
        let order = shown_order(&entry);
        (
            plugin,
            entry.origin.as_str().to_string(),
            entry.source,
            order,
            entry.pinned,
            entry.config,
        )
    } else {
        let label = target.rsplit('/').next().unwrap_or(target);
        let label = label.strip_suffix(".wasm").unwrap_or(label).to_string();
        let (bytes, shown) = chain::fetch_source(s, &label, target)?;
        let plugin = rt.load(PluginSpec {
            name: label,
            wasm: Arc::from(bytes),
            grants: Grants::none(),
            config: BTreeMap::new(),
            limits: Limits::default(),
        })?;
        (
            plugin,
            "file".to_string(),
            shown,
            None,
            None,
            BTreeMap::new(),
        )
    };
    let d = plugin.describe()?;
    let stats = plugin.last_call();
    let report = Inspection {
        name: plugin.name().to_string(),
        origin,
        source,
        world: chain::world(plugin.kind()),
        kind: plugin.kind(),
        wit: wit(&plugin),
        api_version: plugin.api_version().to_string(),
        version: d.version,
        description: d.description,
        handles: d.handles,
        not_granted: not_granted(plugin.grants(), &d.requested_hosts),
        requested_hosts: d.requested_hosts,
        granted_hosts: plugin.grants().as_strings().to_vec(),
        order,
        memory_mib: (plugin.limits().memory_bytes >> 20) as u64,
        time_ms: plugin.limits().time.as_millis() as u64,
        config,
        sha256: plugin.sha256().to_string(),
        pinned_sha256: pinned,
        size_bytes: plugin.size(),
        declared: plugin.shape(),
        code: plugin.code_source(),
        compile_ms: plugin.compile_time().map(|t| t.as_millis() as u64),
        cache_file: plugin.cache_file().map(std::path::Path::to_path_buf),
        describe_peak_memory_bytes: stats.map_or(0, |s| s.peak_memory_bytes),
        describe_ms: stats.map_or(0.0, |s| s.guest_time.as_secs_f64() * 1e3),
    };
    Ok(report)
}

#[derive(Debug, serde::Serialize)]
pub struct TestRow {
    pub reference: String,
    /// resolved, not-applicable, refused, or error.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolution: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canonical: Option<String>,
    /// The refusal's kind (not-found, invalid-reference, unavailable, denied, other).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, serde::Serialize)]
pub struct TestReport {
    pub plugin: String,
    pub sha256: String,
    pub granted_hosts: Vec<String>,
    pub results: Vec<TestRow>,
    /// URLs the plugin asked for that the recording does not have.
    pub unrecorded: Vec<String>,
}

fn refusal_parts(r: Refusal) -> (&'static str, String) {
    match r {
        Refusal::NotApplicable => ("not-applicable", String::new()),
        Refusal::NotFound(m) => ("not-found", m),
        Refusal::InvalidReference(m) => ("invalid-reference", m),
        Refusal::Unavailable(m) => ("unavailable", m),
        Refusal::Denied(m) => ("denied", m),
        Refusal::Other(m) => ("other", m),
    }
}

fn read_input(
    what: &'static str,
    path: &std::path::Path,
    hint: &'static str,
) -> Result<String, OpsError> {
    stackpack_fs::read_to_string_limited(path, stackpack_core::yaml::MAX_FILE_BYTES).map_err(|e| {
        OpsError::Input {
            what,
            path: path.to_path_buf(),
            reason: e.to_string(),
            hint,
        }
    })
}

fn test_row(plugin: &Plugin, raw: &str) -> TestRow {
    let shown = stackpack_core::redact_url(raw);
    let row = |status, message: Option<String>| TestRow {
        reference: shown.clone(),
        status,
        resolution: None,
        canonical: None,
        refusal: None,
        message,
    };
    let parsed = match stackpack_core::PackRef::parse(raw) {
        Ok(p) => p,
        Err(e) => {
            return row(
                "error",
                Some(format!(
                    "stackpack rejects this reference before any resolver sees it: {e}"
                )),
            );
        }
    };
    match plugin.resolve(&parsed) {
        Err(e) => row("error", Some(e.to_string())),
        Ok(Ok(Resolved {
            source, canonical, ..
        })) => TestRow {
            resolution: serde_json::to_value(&source).ok(),
            canonical: Some(canonical),
            message: Some(source.to_string()),
            ..row("resolved", None)
        },
        Ok(Err(Refusal::NotApplicable)) => row("not-applicable", None),
        Ok(Err(r)) => {
            let (kind, message) = refusal_parts(r);
            TestRow {
                refusal: Some(kind),
                ..row("refused", Some(stackpack_core::redact_url(&message)))
            }
        }
    }
}

pub fn test(s: &Session, req: &TestRequest) -> Result<TestReport, OpsError> {
    let recorded_text = read_input(
        "the recorded responses",
        &req.recorded,
        "pass --recorded FILE with a JSON array of {\"url\", \"status\", \"headers\", \"body\"}",
    )?;
    let records: Vec<Recorded> = serde_json::from_str(&recorded_text).map_err(|e| {
        OpsError::Input {
            what: "the recorded responses",
            path: req.recorded.clone(),
            reason: e.to_string(),
            hint: "it must be a JSON array of {\"url\": \"…\", \"status\": 200, \"headers\": {…}, \"body\": \"…\"}",
        }
    })?;
    let refs_text = read_input(
        "the references",
        &req.refs,
        "pass --refs FILE with one reference per line",
    )?;
    let replay = Arc::new(ReplayNet::new(records));
    let hosts = if req.grants.is_empty() {
        replay.origins()
    } else {
        req.grants.clone()
    };
    // Its own runtime: the plugin's network is the recording, nothing else.
    let rt = s.new_runtime(replay.clone())?;
    let (name, wasm, mut config, limits) = if is_plugin_name(&req.target) {
        let entry = find_entry(s, &req.target)?;
        let wasm = chain::entry_bytes(s, &entry)?;
        (entry.name, wasm, entry.config, entry.limits)
    } else {
        let label = req.target.rsplit('/').next().unwrap_or(&req.target);
        let label = label.strip_suffix(".wasm").unwrap_or(label).to_string();
        let (bytes, _) = chain::fetch_source(s, &label, &req.target)?;
        (label, Arc::from(bytes), BTreeMap::new(), Limits::default())
    };
    config.extend(assignments(&req.set)?);
    let grants = Grants::parse(&hosts).map_err(|(grant, reason)| PluginError::Grant {
        plugin: name.clone(),
        grant,
        reason,
    })?;
    let plugin = rt.load(PluginSpec {
        name: name.clone(),
        wasm,
        grants,
        config,
        limits,
    })?;
    if plugin.kind() != PluginKind::Resolver {
        return Err(OpsError::NotAResolver {
            plugin: name,
            kind: plugin.kind(),
        });
    }
    let results: Vec<TestRow> = refs_text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|raw| test_row(&plugin, raw))
        .collect();
    let report = TestReport {
        plugin: plugin.name().to_string(),
        sha256: plugin.sha256().to_string(),
        granted_hosts: plugin.grants().as_strings().to_vec(),
        results,
        unrecorded: replay.missed(),
    };
    Ok(report)
}

impl TestReport {
    /// References that a resolver refused or that failed.
    pub fn failed(&self) -> usize {
        self.results
            .iter()
            .filter(|r| matches!(r.status, "error" | "refused"))
            .count()
    }
}
