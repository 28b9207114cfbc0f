//! `stackpack plugin list | add | remove | inspect | test`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use stackpack_plugin::{
    Grants, Limits, NoNetwork, Plugin, PluginError, PluginKind, PluginSpec, Recorded, Refusal,
    ReplayNet, Resolved,
};
use stackpack_site::{DeclaredKind, PluginManifest, PluginStore, normalize_sha256};

use crate::cli::PluginCommand;
use crate::context::Context;
use crate::error::CliError;
use crate::output;
use crate::plugins::{self, Entry, Origin, PluginsError};

#[derive(Debug, Args)]
pub struct AddArgs {
    /// The component: a path, a file:// URL or an https:// URL
    pub source: String,
    /// Its sha256 (64 hex digits); nothing is added when the bytes differ
    #[arg(long, value_name = "HEX")]
    pub sha256: String,
    /// Name to add it under [default: the name the component gives in describe()]
    #[arg(long)]
    pub name: Option<String>,
    /// Grant the plugin a host, `scheme://host[:port]`; repeat for several. Nothing else is granted
    #[arg(long = "grant", value_name = "ORIGIN")]
    pub grants: Vec<String>,
    /// Position in its chain: lower runs first; built-in resolvers sit at 100 (github) to 500 (git) [default: 0]
    #[arg(long, allow_negative_numbers = true)]
    pub order: Option<i64>,
    /// Memory limit per call, in MiB [default: 64]
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..))]
    pub memory_mib: Option<u64>,
    /// Guest time limit per call, in milliseconds [default: 5000]
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..))]
    pub time_ms: Option<u64>,
    /// A config value the plugin reads with config-get; repeat for several
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Replace a plugin already added under this name
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// The resolver: a .wasm file (path, file:// or https:// URL), or the name of a plugin
    pub target: String,
    /// References to resolve, one per line (`#` comments and blank lines are skipped)
    #[arg(long, value_name = "FILE")]
    pub refs: PathBuf,
    /// Recorded HTTP responses: a JSON array of {"url", "status", "headers", "body"}
    #[arg(long, value_name = "FILE")]
    pub recorded: PathBuf,
    /// A config value the plugin reads with config-get; repeat for several
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Grant a host, `scheme://host[:port]`; repeat for several [default: the origins of the recorded URLs]
    #[arg(long = "grant", value_name = "ORIGIN")]
    pub grants: Vec<String>,
}

pub fn run(ctx: &Context, cmd: &PluginCommand) -> Result<(), CliError> {
    match cmd {
        PluginCommand::List => list(ctx),
        PluginCommand::Add(args) => add(ctx, args),
        PluginCommand::Remove { name } => remove(ctx, name),
        PluginCommand::Inspect { target } => inspect(ctx, target),
        PluginCommand::Test(args) => test(ctx, args),
    }
}

/// `key=value` pairs of `--set`.
fn assignments(values: &[String]) -> Result<BTreeMap<String, String>, CliError> {
    values
        .iter()
        .map(|v| match v.split_once('=') {
            Some((k, val)) if !k.trim().is_empty() => Ok((k.trim().to_string(), val.to_string())),
            _ => Err(PluginsError::BadAssignment {
                flag: "--set",
                value: v.clone(),
            }
            .into()),
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

fn hosts_text(hosts: &[String]) -> String {
    if hosts.is_empty() {
        "(none)".to_string()
    } else {
        hosts.join(", ")
    }
}

#[derive(serde::Serialize)]
struct PluginRow {
    name: String,
    kind: PluginKind,
    /// Chain position; null for the built-in default policy, which always runs last.
    order: Option<i64>,
    origin: Origin,
    source: String,
    version: String,
    description: String,
    wit: String,
    sha256: String,
    pinned_sha256: Option<String>,
    granted_hosts: Vec<String>,
    requested_hosts: Vec<String>,
    builtin: bool,
}

pub fn list(ctx: &Context) -> Result<(), CliError> {
    let rt = plugins::runtime(ctx, plugins::net(ctx)?)?;
    let mut rows = Vec::new();
    for l in plugins::load_all_detailed(ctx, &rt)? {
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
    if ctx.json {
        return output::json(&rows);
    }
    let mut t = output::table(&[
        "name",
        "kind",
        "order",
        "origin",
        "wit",
        "sha256",
        "granted hosts",
    ]);
    for r in &rows {
        t.add_row(vec![
            r.name.clone(),
            r.kind.to_string(),
            r.order
                .map_or_else(|| "last".to_string(), |o| o.to_string()),
            r.origin.as_str().to_string(),
            r.wit.clone(),
            r.sha256.clone(),
            hosts_text(&r.granted_hosts),
        ]);
    }
    output::print_table(t)
}

#[derive(serde::Serialize)]
struct Added {
    name: String,
    kind: PluginKind,
    wit: String,
    sha256: String,
    order: i64,
    source: String,
    wasm: PathBuf,
    manifest: PathBuf,
    granted_hosts: Vec<String>,
    requested_hosts: Vec<String>,
    /// Requested by the plugin but not granted (grant them with --grant).
    not_granted: Vec<String>,
    replaced: bool,
}

pub fn add(ctx: &Context, args: &AddArgs) -> Result<(), CliError> {
    let expected = normalize_sha256(&args.sha256).ok_or_else(|| PluginsError::BadDigest {
        value: args.sha256.clone(),
    })?;
    let config = assignments(&args.set)?;
    // Until describe() names it: --name, or the file name.
    let label = args.name.clone().unwrap_or_else(|| {
        let tail = args.source.rsplit('/').next().unwrap_or(&args.source);
        tail.strip_suffix(".wasm").unwrap_or(tail).to_string()
    });
    let grants = Grants::parse(&args.grants).map_err(|(grant, reason)| PluginError::Grant {
        plugin: label.clone(),
        grant,
        reason,
    })?;
    let (bytes, shown) = plugins::fetch_source(ctx, &label, &args.source)?;
    let actual = stackpack_plugin::sha256_hex(&bytes);
    if actual != expected {
        return Err(PluginsError::DigestMismatch {
            from: shown,
            expected,
            actual,
        }
        .into());
    }
    let mut limits = Limits::default();
    if let Some(m) = args.memory_mib {
        limits.memory_bytes = (m as usize).saturating_mul(1 << 20);
    }
    if let Some(t) = args.time_ms {
        limits.time = std::time::Duration::from_millis(t);
    }
    // Loading it once checks it is a component, which world, and which API version;
    // describe() needs no network.
    let rt = plugins::runtime(ctx, Arc::new(NoNetwork))?;
    let plugin = rt.load(PluginSpec {
        name: label,
        wasm: Arc::from(bytes.as_slice()),
        grants: grants.clone(),
        config: config.clone(),
        limits,
    })?;
    let d = plugin.describe()?;
    let name = args.name.clone().unwrap_or_else(|| d.name.clone());
    stackpack_site::plugin_store::check_name(&name).map_err(PluginsError::BadName)?;
    if stackpack_builtins::get(&name).is_some() {
        return Err(PluginsError::Builtin {
            name,
            what: "an added plugin cannot take its name; choose another one with --name".into(),
        }
        .into());
    }
    if !ctx.enterprise.plugin_allowed(&name) {
        return Err(PluginsError::NotAllowed {
            plugin: name,
            file: ctx.enterprise.shown_source(),
            allowed: ctx
                .enterprise
                .allowed_plugins
                .as_deref()
                .unwrap_or_default()
                .join(", "),
            fix: "nothing was added; ask your administrator to allow it".into(),
        }
        .into());
    }
    if ctx
        .settings
        .plugins
        .get(&name)
        .is_some_and(|p| p.is_declared())
    {
        return Err(PluginsError::Config {
            file: config_file(ctx),
            plugin: name.clone(),
            problem: "already declares a plugin of that name with `path`/`url`".into(),
            fix: "nothing was added; remove that section, or add this one under another name with --name".into(),
        }
        .into());
    }
    let store = PluginStore::new(&ctx.root);
    let replaced = store.get(&name)?.is_some();
    if replaced && !args.force {
        return Err(PluginsError::AlreadyAdded {
            path: store.manifest_path(&name),
            name,
        }
        .into());
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
        order: args.order.unwrap_or(0),
        hosts: grants.as_strings().to_vec(),
        memory_mib: args.memory_mib,
        time_ms: args.time_ms,
        config,
    };
    store.add(&ctx.root, &manifest, &bytes)?;
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
    };
    if ctx.json {
        return output::json(&report);
    }
    let mut text = format!(
        "{} plugin {}: {}, {}, order {}, sha256 {}\n  from {}\n  stored as {} (manifest {})\n  granted hosts: {}",
        if replaced { "replaced" } else { "added" },
        report.name,
        report.kind,
        report.wit,
        report.order,
        report.sha256,
        report.source,
        report.wasm.display(),
        report.manifest.display(),
        hosts_text(&report.granted_hosts),
    );
    if !report.not_granted.is_empty() {
        text.push_str(&format!(
            "\n  requested but not granted: {} (grant with --grant ORIGIN if you trust it)",
            report.not_granted.join(", ")
        ));
    }
    output::print(text)
}

pub fn remove(ctx: &Context, name: &str) -> Result<(), CliError> {
    if stackpack_builtins::get(name).is_some() {
        return Err(PluginsError::Builtin {
            name: name.to_string(),
            what: "it ships inside stackpack and cannot be removed (an administrator can leave a built-in resolver out of the chain with allowed_resolvers in the enterprise settings)".into(),
        }
        .into());
    }
    let store = PluginStore::new(&ctx.root);
    let (wasm, manifest) = (store.wasm_path(name), store.manifest_path(name));
    if !store.remove(name)? {
        if ctx
            .settings
            .plugins
            .get(name)
            .is_some_and(|p| p.is_declared())
        {
            return Err(PluginsError::Config {
                file: config_file(ctx),
                plugin: name.to_string(),
                problem: "declares this plugin; it was not added with `stackpack plugin add`"
                    .into(),
                fix: "remove the section from the config file to remove the plugin".into(),
            }
            .into());
        }
        let added: Vec<String> = store.list()?.into_iter().map(|m| m.name).collect();
        return Err(PluginsError::Unknown {
            name: name.to_string(),
            hint: if added.is_empty() {
                "no plugins are added; `stackpack plugin list` shows every plugin".into()
            } else {
                format!("added plugins: {}", added.join(", "))
            },
        }
        .into());
    }
    if ctx.json {
        return output::json(&serde_json::json!({
            "removed": name,
            "wasm": wasm,
            "manifest": manifest,
        }));
    }
    output::print(format!(
        "removed plugin {name} ({}, {})",
        wasm.display(),
        manifest.display()
    ))
}

#[derive(serde::Serialize)]
struct Inspection {
    name: String,
    /// built-in, added, config, or file (a component not part of the chain).
    origin: String,
    source: String,
    world: &'static str,
    kind: PluginKind,
    wit: String,
    api_version: String,
    version: String,
    description: String,
    handles: Vec<String>,
    requested_hosts: Vec<String>,
    granted_hosts: Vec<String>,
    not_granted: Vec<String>,
    order: Option<i64>,
    memory_mib: u64,
    time_ms: u64,
    config: BTreeMap<String, String>,
    sha256: String,
    pinned_sha256: Option<String>,
}

/// The entry named `name` among every plugin the settings name.
fn find_entry(ctx: &Context, name: &str) -> Result<Entry, CliError> {
    let entries = plugins::entries(ctx)?;
    let names: Vec<String> = entries.iter().map(|e| e.name.clone()).collect();
    entries.into_iter().find(|e| e.name == name).ok_or_else(|| {
        PluginsError::Unknown {
            name: name.to_string(),
            hint: format!(
                "known plugins: {}; or give the path of a .wasm file",
                names.join(", ")
            ),
        }
        .into()
    })
}

pub fn inspect(ctx: &Context, target: &str) -> Result<(), CliError> {
    let rt = plugins::runtime(ctx, Arc::new(NoNetwork))?;
    let (plugin, origin, source, order, pinned, config) = if is_plugin_name(target) {
        let entry = find_entry(ctx, target)?;
        let plugin = plugins::load_entry(ctx, &rt, &entry)?;
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
        let (bytes, shown) = plugins::fetch_source(ctx, &label, target)?;
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
    let report = Inspection {
        name: plugin.name().to_string(),
        origin,
        source,
        world: plugins::world(plugin.kind()),
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
    };
    if ctx.json {
        return output::json(&report);
    }
    let list = |v: &[String]| hosts_text(v);
    let rows = vec![
        ("name", report.name.clone()),
        ("origin", report.origin.clone()),
        ("source", report.source.clone()),
        ("world", format!("{} ({})", report.world, report.kind)),
        ("wit", report.wit.clone()),
        ("version", report.version.clone()),
        ("description", report.description.clone()),
        ("handles", report.handles.join(", ")),
        ("requested hosts", list(&report.requested_hosts)),
        ("granted hosts", list(&report.granted_hosts)),
        ("not granted", list(&report.not_granted)),
        (
            "order",
            report
                .order
                .map_or_else(|| "-".to_string(), |o| o.to_string()),
        ),
        (
            "limits",
            format!("{} MiB, {} ms", report.memory_mib, report.time_ms),
        ),
        (
            "config",
            report
                .config
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        ("sha256", report.sha256.clone()),
        (
            "pinned sha256",
            report
                .pinned_sha256
                .clone()
                .unwrap_or_else(|| "(not pinned)".into()),
        ),
    ];
    output::print_table(output::properties(&rows))
}

#[derive(serde::Serialize)]
struct TestRow {
    reference: String,
    /// resolved, not-applicable, refused, or error.
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    resolution: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    canonical: Option<String>,
    /// The refusal's kind (not-found, invalid-reference, unavailable, denied, other).
    #[serde(skip_serializing_if = "Option::is_none")]
    refusal: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

#[derive(serde::Serialize)]
struct TestReport {
    plugin: String,
    sha256: String,
    granted_hosts: Vec<String>,
    results: Vec<TestRow>,
    /// URLs the plugin asked for that the recording does not have.
    unrecorded: Vec<String>,
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

fn read_input(what: &'static str, path: &PathBuf, hint: &'static str) -> Result<String, CliError> {
    std::fs::read_to_string(path).map_err(|e| {
        PluginsError::Input {
            what,
            path: path.clone(),
            reason: e.to_string(),
            hint,
        }
        .into()
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

pub fn test(ctx: &Context, args: &TestArgs) -> Result<(), CliError> {
    let recorded_text = read_input(
        "the recorded responses",
        &args.recorded,
        "pass --recorded FILE with a JSON array of {\"url\", \"status\", \"headers\", \"body\"}",
    )?;
    let records: Vec<Recorded> = serde_json::from_str(&recorded_text).map_err(|e| {
        PluginsError::Input {
            what: "the recorded responses",
            path: args.recorded.clone(),
            reason: e.to_string(),
            hint: "it must be a JSON array of {\"url\": \"…\", \"status\": 200, \"headers\": {…}, \"body\": \"…\"}",
        }
    })?;
    let refs_text = read_input(
        "the references",
        &args.refs,
        "pass --refs FILE with one reference per line",
    )?;
    let replay = Arc::new(ReplayNet::new(records));
    let hosts = if args.grants.is_empty() {
        replay.origins()
    } else {
        args.grants.clone()
    };
    let rt = plugins::runtime(ctx, replay.clone())?;
    let (name, wasm, mut config, limits) = if is_plugin_name(&args.target) {
        let entry = find_entry(ctx, &args.target)?;
        let wasm = plugins::entry_bytes(ctx, &entry)?;
        (entry.name, wasm, entry.config, entry.limits)
    } else {
        let label = args.target.rsplit('/').next().unwrap_or(&args.target);
        let label = label.strip_suffix(".wasm").unwrap_or(label).to_string();
        let (bytes, _) = plugins::fetch_source(ctx, &label, &args.target)?;
        (label, Arc::from(bytes), BTreeMap::new(), Limits::default())
    };
    config.extend(assignments(&args.set)?);
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
        return Err(PluginsError::NotAResolver {
            plugin: name,
            kind: plugin.kind(),
        }
        .into());
    }
    let results: Vec<TestRow> = refs_text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|raw| test_row(&plugin, raw))
        .collect();
    let failed = results
        .iter()
        .filter(|r| matches!(r.status, "error" | "refused"))
        .count();
    let report = TestReport {
        plugin: plugin.name().to_string(),
        sha256: plugin.sha256().to_string(),
        granted_hosts: plugin.grants().as_strings().to_vec(),
        results,
        unrecorded: replay.missed(),
    };
    if ctx.json {
        output::json(&report)?;
    } else {
        let mut lines = Vec::new();
        for r in &report.results {
            let what = match r.status {
                "resolved" => format!(
                    "{} (canonical {})",
                    r.message.clone().unwrap_or_default(),
                    r.canonical.clone().unwrap_or_default()
                ),
                "not-applicable" => "not applicable".to_string(),
                "refused" => format!(
                    "REFUSED {}: {}",
                    r.refusal.unwrap_or("other"),
                    r.message.clone().unwrap_or_default()
                ),
                _ => format!("ERROR {}", r.message.clone().unwrap_or_default()),
            };
            lines.push(format!("{}  ->  {what}", r.reference));
        }
        for u in &report.unrecorded {
            lines.push(format!("not recorded: {u}"));
        }
        lines.push(format!(
            "{} references: {} resolved, {} not applicable, {failed} failed",
            report.results.len(),
            report
                .results
                .iter()
                .filter(|r| r.status == "resolved")
                .count(),
            report
                .results
                .iter()
                .filter(|r| r.status == "not-applicable")
                .count(),
        ));
        output::print(lines.join("\n"))?;
    }
    if failed > 0 {
        return Err(CliError::Reported);
    }
    Ok(())
}

/// The config file the settings came from, for messages ("" when there is none).
fn config_file(ctx: &Context) -> String {
    ctx.settings
        .source
        .as_deref()
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}
