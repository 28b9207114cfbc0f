//! Assembling the plugin chain: the built-in components, the plugins added with
//! `stackpack plugin add` (`<root>/plugins`), and those declared in the config with
//! `path` or `url`, each with the operator's settings (grants, limits, config values,
//! order), loaded into one runtime in chain order.
//!
//! Every non-built-in plugin is verified against its pinned sha256 each time it is
//! loaded (the bytes read are hashed); the enterprise rules (allowed plugins, pinning,
//! allowed resolvers) are applied here, in [`load_entry`] and [`load_kind`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use stackpack_net::{GetError, Grants, SafeUrl, get_following};
use stackpack_plugin::{Limits, Plugin, PluginError, PluginKind, PluginSpec, Runtime};
use stackpack_site::{DeclaredKind, PluginSettings, PluginStore};

use crate::error::OpsError;
use crate::session::Session;

/// Chain position of the first built-in resolver; the others follow in steps of 100
/// (github 100, gitlab 200, file 300, index 400, git 500, oci 600: it claims only
/// `oci://`, which no other built-in claims).
const BUILTIN_ORDER_STEP: i64 = 100;
/// The built-in resolver of `oci://` references.
const OCI_BUILTIN: &str = "oci";
/// The most a plugin component may weigh when it is fetched.
pub(crate) const MAX_PLUGIN_BYTES: u64 = 64 << 20;
/// Redirects followed when fetching a plugin over https.
const MAX_REDIRECTS: u32 = 5;

/// Where a plugin comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    Builtin,
    Added,
    Config,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Builtin => "built-in",
            Origin::Added => "added",
            Origin::Config => "config",
        }
    }
}

/// Where a plugin's bytes are read from.
#[derive(Debug, Clone)]
pub enum WasmSource {
    Builtin(&'static [u8]),
    File(PathBuf),
    /// An https URL (as written, may hold credentials: show `source` instead).
    Url(String),
}

/// One plugin of the chain, before it is loaded.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub origin: Origin,
    pub kind: PluginKind,
    pub order: i64,
    /// "built-in", a path, or a redacted URL.
    pub source: String,
    /// The pinned sha256 (built-ins: the digest computed when the binary was built).
    pub pinned: Option<String>,
    /// The grants, and nothing else: a plugin's requested hosts are informational.
    pub hosts: Vec<String>,
    pub limits: Limits,
    pub config: BTreeMap<String, String>,
    pub code: WasmSource,
    /// The manifest or config file that declares it, for messages.
    pub declared_in: Option<PathBuf>,
    /// The built-in override policy, which always runs last.
    last: bool,
}

/// A loaded plugin with what the chain knows about it.
pub struct Loaded {
    pub plugin: Plugin,
    pub entry: Entry,
}

fn kind_of(k: DeclaredKind) -> PluginKind {
    match k {
        DeclaredKind::Resolver => PluginKind::Resolver,
        DeclaredKind::Policy => PluginKind::Policy,
    }
}

/// The WIT world a kind of plugin implements.
pub fn world(kind: PluginKind) -> &'static str {
    match kind {
        PluginKind::Resolver => "source-resolver",
        PluginKind::Policy => "override-policy",
    }
}

fn limits(memory_mib: Option<u64>, time_ms: Option<u64>, max_body_mib: Option<u64>) -> Limits {
    let mut limits = Limits::default();
    if let Some(b) = max_body_mib {
        limits.max_http_body = b.saturating_mul(1 << 20);
    }
    if let Some(m) = memory_mib {
        limits.memory_bytes = (m as usize).saturating_mul(1 << 20);
    }
    if let Some(t) = time_ms {
        limits.time = Duration::from_millis(t);
    }
    limits
}

/// The grants of a built-in: its defaults, the index URLs for `index`, then the
/// operator's `hosts`.
fn builtin_hosts(
    s: &Session,
    b: &stackpack_builtins::Builtin,
    user: &PluginSettings,
) -> Vec<String> {
    let mut hosts: Vec<String> = b.default_grants.iter().map(|s| s.to_string()).collect();
    if b.name == "index" {
        hosts.extend(
            s.settings
                .index_url
                .iter()
                .filter_map(|u| url::Url::parse(u).ok())
                .map(|u| stackpack_net::grants::origin(&u)),
        );
    }
    hosts.extend(user.hosts.iter().cloned());
    hosts
}

/// Every plugin the settings name, in chain order: resolvers by order then name, then
/// policies by order then name, the built-in default policy last. Checks the config's
/// `[plugins.<name>]` sections against the built-in and added plugins.
pub fn entries(s: &Session) -> Result<Vec<Entry>, OpsError> {
    let store = PluginStore::new(&s.root);
    let added = store.list()?;
    let file = s.config_file();
    let config_err = |plugin: &str, problem: String, fix: String| OpsError::PluginConfig {
        file: file.clone(),
        plugin: plugin.to_string(),
        problem,
        fix,
    };
    let no_user = PluginSettings::default();
    let mut out = Vec::new();

    let mut position = 0;
    for b in stackpack_builtins::all() {
        let user = s.settings.plugins.get(b.name).unwrap_or(&no_user);
        let (kind, last) = match b.kind {
            stackpack_builtins::Kind::Resolver => (PluginKind::Resolver, false),
            stackpack_builtins::Kind::Policy => (PluginKind::Policy, true),
        };
        let order = if last {
            if user.order.is_some() {
                return Err(config_err(
                    b.name,
                    "sets `order`, but the built-in override policy always runs last, after every configured policy".into(),
                    "remove `order` from this section".into(),
                ));
            }
            i64::MAX
        } else {
            position += 1;
            user.order.unwrap_or(position * BUILTIN_ORDER_STEP)
        };
        let mut config = user.config.clone();
        if b.name == "index" {
            config.insert("index-urls".into(), s.settings.index_url.join("\n"));
        }
        out.push(Entry {
            name: b.name.to_string(),
            origin: Origin::Builtin,
            kind,
            order,
            source: "built-in".into(),
            pinned: Some(b.sha256.to_string()),
            hosts: builtin_hosts(s, b, user),
            limits: limits(user.memory_mib, user.time_ms, user.max_body_mib),
            config,
            code: WasmSource::Builtin(b.wasm),
            declared_in: None,
            last,
        });
    }

    for m in &added {
        if stackpack_builtins::get(&m.name).is_some() {
            return Err(OpsError::Builtin {
                name: m.name.clone(),
                what: format!(
                    "{} shadows it; remove it with `stackpack plugin remove {}`",
                    store.manifest_path(&m.name).display(),
                    m.name
                ),
            });
        }
        // A `[plugins.<name>]` section without path/url adds grants, limits, config
        // values and an order on top of the manifest, as it does for built-ins.
        let user = s.settings.plugins.get(&m.name).unwrap_or(&no_user);
        let mut hosts = m.hosts.clone();
        hosts.extend(user.hosts.iter().cloned());
        let mut config = m.config.clone();
        config.extend(user.config.clone());
        out.push(Entry {
            name: m.name.clone(),
            origin: Origin::Added,
            kind: kind_of(m.kind),
            order: user.order.unwrap_or(m.order),
            source: m.source.clone(),
            pinned: Some(m.sha256.clone()),
            hosts,
            limits: limits(
                user.memory_mib.or(m.memory_mib),
                user.time_ms.or(m.time_ms),
                user.max_body_mib,
            ),
            config,
            code: WasmSource::File(store.wasm_path(&m.name)),
            declared_in: Some(store.manifest_path(&m.name)),
            last: false,
        });
    }

    for (name, p) in &s.settings.plugins {
        let builtin = stackpack_builtins::get(name).is_some();
        let added_here = added.iter().any(|m| m.name == *name);
        if !p.is_declared() {
            if !builtin && !added_here {
                return Err(config_err(
                    name,
                    "names no built-in or added plugin, and has neither `path` nor `url`".into(),
                    format!(
                        "declare the component with `kind`, `path` (or `url`) and `sha256`, add it with `stackpack plugin add <file> --sha256 <hex> --name {name}`, or remove the section (built-in plugins: {})",
                        builtin_names().join(", ")
                    ),
                ));
            }
            continue;
        }
        if builtin {
            return Err(config_err(
                name,
                "sets `path`/`url`, but that is the name of a built-in plugin".into(),
                "give the third-party plugin a name of its own".into(),
            ));
        }
        if added_here {
            return Err(config_err(
                name,
                format!(
                    "declares a component with `path`/`url`, but a plugin of that name was also added ({})",
                    store.manifest_path(name).display()
                ),
                format!(
                    "keep one: `stackpack plugin remove {name}`, or remove `path`/`url` from this section"
                ),
            ));
        }
        stackpack_site::plugin_store::check_name(name)
            .map_err(|reason| config_err(name, reason, "rename the section".into()))?;
        let (kind, code, source) = match (&p.kind, &p.path, &p.url) {
            (Some(k), Some(path), _) => (
                kind_of(*k),
                WasmSource::File(path.clone()),
                path.display().to_string(),
            ),
            (Some(k), None, Some(u)) if u.starts_with("file://") => {
                let path = url::Url::parse(u)
                    .ok()
                    .and_then(|u| u.to_file_path().ok())
                    .ok_or_else(|| {
                        config_err(
                            name,
                            format!("has url {u:?}, which is not a usable file:// URL"),
                            "write `url = \"file:///absolute/path.wasm\"` or use `path`".into(),
                        )
                    })?;
                (kind_of(*k), WasmSource::File(path), u.clone())
            }
            (Some(k), None, Some(u)) => (
                kind_of(*k),
                WasmSource::Url(u.clone()),
                stackpack_core::redact_url(u),
            ),
            // Settings refuse a declared plugin without kind; be defensive anyway.
            _ => {
                return Err(config_err(
                    name,
                    "has no `kind`".into(),
                    "add `kind = \"resolver\"` or `kind = \"policy\"`".into(),
                ));
            }
        };
        out.push(Entry {
            name: name.clone(),
            origin: Origin::Config,
            kind,
            order: p.order.unwrap_or(0),
            source,
            pinned: p.sha256.clone(),
            hosts: p.hosts.clone(),
            limits: limits(p.memory_mib, p.time_ms, p.max_body_mib),
            config: p.config.clone(),
            code,
            declared_in: s.settings.source.clone(),
            last: false,
        });
    }

    out.sort_by(|a, b| {
        let rank = |e: &Entry| (e.kind == PluginKind::Policy, e.last);
        rank(a)
            .cmp(&rank(b))
            .then(a.order.cmp(&b.order))
            .then(a.name.cmp(&b.name))
    });
    Ok(out)
}

/// The names of the built-in plugins.
pub fn builtin_names() -> Vec<&'static str> {
    stackpack_builtins::all().iter().map(|b| b.name).collect()
}

/// How to re-pin a plugin whose bytes changed, by where it is declared.
fn repin_fix(entry: &Entry, actual: &str) -> String {
    match entry.origin {
        Origin::Added => format!(
            "add it again: `stackpack plugin add {} --sha256 {actual} --name {} --force`",
            entry.source, entry.name
        ),
        _ => format!(
            "set `sha256 = \"{actual}\"` in [plugins.{}] of {}",
            entry.name,
            entry
                .declared_in
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "the config".into())
        ),
    }
}

/// Applies the enterprise rules on plugins to one entry (built-ins are exempt).
fn check_enterprise(s: &Session, entry: &Entry) -> Result<(), OpsError> {
    if entry.origin == Origin::Builtin || s.enterprise.plugin_allowed(&entry.name) {
        return Ok(());
    }
    let fix = match entry.origin {
        Origin::Added => format!(
            "remove it with `stackpack plugin remove {}`, or ask your administrator to allow it",
            entry.name
        ),
        _ => format!(
            "remove [plugins.{}] from {}, or ask your administrator to allow it",
            entry.name,
            s.config_file()
        ),
    };
    Err(OpsError::PluginNotAllowed {
        plugin: entry.name.clone(),
        file: s.enterprise.shown_source(),
        allowed: quoted(s.enterprise.allowed_plugins.as_deref().unwrap_or_default()),
        fix,
    })
}

fn quoted(items: &[String]) -> String {
    items
        .iter()
        .map(|i| format!("{i:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads an entry's bytes and verifies them against its pin (refusing a mismatch, and
/// an unpinned plugin when the enterprise requires pins).
pub fn entry_bytes(s: &Session, entry: &Entry) -> Result<Arc<[u8]>, OpsError> {
    let bytes: Arc<[u8]> = match &entry.code {
        WasmSource::Builtin(b) => return Ok(Arc::from(*b)),
        WasmSource::File(path) => Arc::from(read_file(&entry.name, path)?),
        WasmSource::Url(url) => Arc::from(url_bytes(s, entry, url)?),
    };
    let actual = stackpack_plugin::sha256_hex(&bytes);
    match &entry.pinned {
        Some(pin) if *pin == actual => {}
        Some(pin) => {
            return Err(OpsError::PinMismatch {
                plugin: entry.name.clone(),
                from: shown_code(entry),
                expected: pin.clone(),
                fix: repin_fix(entry, &actual),
                actual,
            });
        }
        None if s.enterprise.require_pinned_plugins => {
            return Err(OpsError::Unpinned {
                plugin: entry.name.clone(),
                from: entry.source.clone(),
                actual,
                file: s.config_file(),
                enterprise: s.enterprise.shown_source(),
            });
        }
        None => tracing::warn!(
            "plugin {} ({}) is not pinned: loading it as it is now (sha256 {actual}); pin it with `sha256 = \"{actual}\"` in [plugins.{}] of {}",
            entry.name,
            entry.source,
            entry.name,
            s.config_file()
        ),
    }
    Ok(bytes)
}

fn shown_code(entry: &Entry) -> String {
    match &entry.code {
        WasmSource::File(p) => p.display().to_string(),
        _ => entry.source.clone(),
    }
}

fn read_file(plugin: &str, path: &Path) -> Result<Vec<u8>, OpsError> {
    stackpack_fs::read_limited(path, MAX_PLUGIN_BYTES).map_err(|e| {
        let hint = match e.kind() {
            std::io::ErrorKind::FileTooLarge | std::io::ErrorKind::InvalidInput => {
                "check that this is a plugin component (a .wasm file)"
            }
            _ => "check the path, or remove the plugin (`stackpack plugin remove`, or its [plugins.<name>] section)",
        };
        OpsError::PluginRead {
            plugin: plugin.to_string(),
            from: path.display().to_string(),
            reason: e.to_string(),
            hint: hint.into(),
        }
    })
}

/// A config-declared plugin served over https: kept in the cache by its pinned digest
/// (re-hashed on every use) so it is downloaded once; an unpinned one is downloaded
/// on every load.
fn url_bytes(s: &Session, entry: &Entry, url: &str) -> Result<Vec<u8>, OpsError> {
    let cached = entry.pinned.as_ref().map(|pin| {
        s.root
            .cache_dir()
            .join("plugins")
            .join("store")
            .join(format!("{pin}.wasm"))
    });
    if let (Some(path), Some(pin)) = (&cached, &entry.pinned)
        && let Ok(bytes) = stackpack_fs::read_limited(path, MAX_PLUGIN_BYTES)
    {
        if stackpack_plugin::sha256_hex(&bytes) == *pin {
            return Ok(bytes);
        }
        tracing::warn!(
            "plugin {}: the cached copy {} does not match its pin; downloading it again",
            entry.name,
            path.display()
        );
    }
    let (bytes, _) = fetch_source(s, &entry.name, url)?;
    if let (Some(path), Some(pin)) = (&cached, &entry.pinned)
        && stackpack_plugin::sha256_hex(&bytes) == *pin
        && let Err(e) = store_cached(path, &bytes)
    {
        tracing::info!("plugin {}: not caching the download: {e}", entry.name);
    }
    Ok(bytes)
}

fn store_cached(path: &Path, bytes: &[u8]) -> Result<(), stackpack_site::SiteError> {
    let (Some(dir), Some(file)) = (path.parent(), path.file_name().and_then(|f| f.to_str())) else {
        return Ok(());
    };
    stackpack_site::plugin_store::write_file_atomic(dir, file, bytes)
}

/// Reads a plugin component from a path, a `file://` URL, an `https://` URL (through
/// the host's network: proxies, CA bundle and credentials apply; redirects must stay on
/// https) or an OCI plugin artifact (`oci://…`, [`crate::plugin_oci`]). Returns the
/// bytes and the source as it may be shown (redacted).
pub fn fetch_source(
    s: &Session,
    plugin: &str,
    source: &str,
) -> Result<(Vec<u8>, String), OpsError> {
    if stackpack_core::is_oci(source) {
        return crate::plugin_oci::pull(s, plugin, source, MAX_PLUGIN_BYTES);
    }
    let shown = stackpack_core::redact_url(source);
    let read_err = |reason: String, hint: &str| OpsError::PluginRead {
        plugin: plugin.to_string(),
        from: shown.clone(),
        reason,
        hint: hint.to_string(),
    };
    if source.starts_with("file://") {
        let path = url::Url::parse(source)
            .ok()
            .and_then(|u| u.to_file_path().ok())
            .ok_or_else(|| {
                read_err(
                    "not a usable file:// URL".into(),
                    "write file:///absolute/path.wasm, or give the path itself",
                )
            })?;
        return Ok((read_file(plugin, &path)?, path.display().to_string()));
    }
    if !source.contains("://") {
        let path = std::path::absolute(source).unwrap_or_else(|_| PathBuf::from(source));
        return Ok((read_file(plugin, &path)?, path.display().to_string()));
    }
    if !source.starts_with("https://") {
        return Err(read_err(
            "unsupported scheme".into(),
            "plugins are fetched over https:// only, or read from a path or a file:// URL",
        ));
    }
    if s.offline {
        return Err(read_err(
            "the network is off (--offline)".into(),
            "run without --offline, or download the file and give its path",
        ));
    }
    let net = s.net()?;
    let url = url::Url::parse(source).map_err(|e| read_err(e.to_string(), "check the URL"))?;
    let only_https = |u: &url::Url, _: Option<&url::Url>| {
        if u.scheme() == "https" {
            return Ok(());
        }
        Err(read_err(
            format!("redirected to {}", SafeUrl::from(u.clone())),
            "plugins are only fetched over https; ask the server's owner to serve it over https, or download it and give its path",
        ))
    };
    let (_, reply) = get_following(
        &*net,
        &url,
        &[],
        MAX_PLUGIN_BYTES,
        MAX_REDIRECTS,
        only_https,
    )
    .map_err(|e| match e {
        GetError::Refused(e) => e,
        GetError::Net(f) => read_err(
            f.to_string(),
            "check the URL, the network and the proxy settings",
        ),
        GetError::Redirect(r) => read_err(r.to_string(), "check the URL"),
    })?;
    match reply.status {
        200 => Ok((reply.body, shown)),
        status => Err(read_err(
            format!("HTTP status {status}"),
            "check the URL and that you have access to it (credentials come from [[credentials]] in the config)",
        )),
    }
}

/// Loads one entry: enterprise rules, bytes verified against the pin, the runtime's
/// checks (component, world, API version), and its declared kind.
pub fn load_entry(s: &Session, rt: &Runtime, entry: &Entry) -> Result<Plugin, OpsError> {
    check_enterprise(s, entry)?;
    let wasm = entry_bytes(s, entry)?;
    let grants = Grants::parse(&entry.hosts).map_err(|(grant, reason)| PluginError::Grant {
        plugin: entry.name.clone(),
        grant,
        reason,
    })?;
    let plugin = rt.load(PluginSpec {
        name: entry.name.clone(),
        wasm,
        grants,
        config: entry.config.clone(),
        limits: entry.limits,
    })?;
    // The built-in OCI resolver reaches the registry each reference names, as the host
    // fetches whatever git remote a reference names for the git resolver.
    let plugin = if entry.origin == Origin::Builtin && entry.name == OCI_BUILTIN {
        plugin.granting_named_registry()
    } else {
        plugin
    };
    if plugin.kind() != entry.kind {
        return Err(PluginError::WrongKind {
            plugin: entry.name.clone(),
            actual: plugin.kind().as_str(),
            wanted: entry.kind.as_str(),
        }
        .into());
    }
    Ok(plugin)
}

/// Whether the enterprise `allowed_resolvers` leaves this resolver out of the chain
/// (said in the log: quietly for a built-in, as a warning for another).
fn left_out(s: &Session, entry: &Entry) -> bool {
    if entry.kind != PluginKind::Resolver || s.enterprise.resolver_allowed(&entry.name) {
        return false;
    }
    if entry.origin == Origin::Builtin {
        tracing::debug!(
            "resolver {} is left out: not in allowed_resolvers of {}",
            entry.name,
            s.enterprise.shown_source()
        );
    } else {
        tracing::warn!(
            "resolver {} is left out of the chain: the enterprise settings in {} do not list it in allowed_resolvers",
            entry.name,
            s.enterprise.shown_source()
        );
    }
    true
}

/// Every plugin in chain order, loaded, with what the chain knows about each.
/// Resolvers the enterprise's `allowed_resolvers` leaves out are not loaded.
pub fn load_detailed(s: &Session) -> Result<Vec<Loaded>, OpsError> {
    let rt = s.runtime()?;
    let mut out = Vec::new();
    for entry in s.plugin_entries()? {
        if left_out(s, entry) {
            continue;
        }
        let plugin = load_entry(s, rt, entry)?;
        out.push(Loaded {
            plugin,
            entry: entry.clone(),
        });
    }
    Ok(out)
}

/// The plugins of one kind, loaded, in chain order: resolvers by `order` (then name),
/// or policies by `order` with the built-in default policy last. Plugins of the other
/// kind are not read at all, so a broken policy cannot stop an install that does not
/// register, nor a broken resolver a registration.
pub fn load_kind(s: &Session, kind: PluginKind) -> Result<Vec<Plugin>, OpsError> {
    let rt = s.runtime()?;
    s.plugin_entries()?
        .iter()
        .filter(|e| e.kind == kind && !left_out(s, e))
        .map(|e| load_entry(s, rt, e))
        .collect()
}
