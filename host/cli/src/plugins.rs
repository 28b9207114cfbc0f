//! Assembling the plugin chain: the built-in components, the plugins added with
//! `stackpack plugin add` (`<root>/plugins`), and those declared in the config with
//! `path` or `url`, each with the operator's settings (grants, limits, config values,
//! order), loaded into one runtime in chain order.
//!
//! Every non-built-in plugin is verified against its pinned sha256 each time it is
//! loaded (the bytes read are hashed); the enterprise rules (allowed plugins, pinning,
//! allowed resolvers) are applied here, in [`load_entry`] and [`load_all`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use stackpack_net::{Grants, NetBackend};
use stackpack_plugin::{Limits, Plugin, PluginError, PluginKind, PluginSpec, Runtime};
use stackpack_site::{DeclaredKind, PluginSettings, PluginStore};

use crate::context::Context;
use crate::error::CliError;

/// Network settings from the config, for HTTP and git alike.
pub fn net_config(ctx: &Context) -> stackpack_fetch::NetConfig {
    let proxy = &ctx.settings.proxy;
    stackpack_fetch::NetConfig {
        http_proxy: proxy.http_proxy.clone(),
        https_proxy: proxy.https_proxy.clone(),
        no_proxy: proxy.no_proxy.clone(),
        ca_bundle: proxy.proxy_ca_bundle_path.clone(),
        timeout: ctx.settings.http_timeout.map(Duration::from_secs),
        credentials: ctx
            .settings
            .credentials
            .iter()
            .map(|c| stackpack_fetch::Credential {
                prefix: c.url.clone(),
                auth: match &c.secret {
                    stackpack_site::Secret::Bearer(t) => stackpack_fetch::Auth::Bearer(t.clone()),
                    stackpack_site::Secret::Basic { username, password } => {
                        stackpack_fetch::Auth::Basic {
                            username: username.clone(),
                            password: password.clone(),
                        }
                    }
                },
            })
            .collect(),
    }
}

/// The host's network client.
pub fn net(ctx: &Context) -> Result<Arc<stackpack_fetch::Net>, CliError> {
    Ok(Arc::new(stackpack_fetch::Net::new(net_config(ctx))?))
}

/// The plugin runtime, doing its network I/O through `net`.
pub fn runtime(
    ctx: &Context,
    net: Arc<dyn stackpack_net::NetBackend>,
) -> Result<Runtime, CliError> {
    // Compiled code is cached when the cache dir can be created; otherwise plugins are
    // compiled in memory (slower, still correct).
    let cache = match ctx.root.ensure_cache() {
        Ok(dir) => Some(dir.join("plugins")),
        Err(e) => {
            tracing::info!("not caching compiled plugins: {e}");
            None
        }
    };
    Ok(Runtime::new(cache, net, ctx.offline)?)
}

/// Chain position of the first built-in resolver; the others follow in steps of 100
/// (github 100, gitlab 200, file 300, index 400, git 500).
const BUILTIN_ORDER_STEP: i64 = 100;
/// The most a plugin component may weigh when it is fetched.
const MAX_PLUGIN_BYTES: u64 = 64 << 20;
/// Redirects followed when fetching a plugin over https.
const MAX_REDIRECTS: usize = 5;

/// Why a plugin could not be found, fetched, verified, or managed. Every message
/// names the plugin (or source), what failed and what to do.
#[derive(Debug, thiserror::Error)]
pub enum PluginsError {
    #[error("cannot read plugin {plugin} from {from}: {reason}; {hint}")]
    Read {
        plugin: String,
        from: String,
        reason: String,
        hint: String,
    },

    #[error(
        "plugin {plugin} was refused: the sha256 of {from} is {actual}, but it is pinned to \
         {expected}. The file changed since it was pinned (replaced or tampered with); restore \
         the original, or, if you trust the new file, {fix}"
    )]
    PinMismatch {
        plugin: String,
        from: String,
        expected: String,
        actual: String,
        fix: String,
    },

    #[error(
        "the sha256 of {from} is {actual}, but --sha256 says {expected}; nothing was added. \
         Check that this is the file you meant to add; pass its real digest only if you trust it"
    )]
    DigestMismatch {
        from: String,
        expected: String,
        actual: String,
    },

    #[error("config file {file}: [plugins.{plugin}] {problem}; {fix}")]
    Config {
        file: String,
        plugin: String,
        problem: String,
        fix: String,
    },

    #[error(
        "plugin {plugin} is not allowed by the enterprise settings in {file} \
         (allowed_plugins = [{allowed}]); {fix}"
    )]
    NotAllowed {
        plugin: String,
        file: String,
        allowed: String,
        fix: String,
    },

    #[error(
        "plugin {plugin} ({from}) has no sha256 pin, and the enterprise settings in {enterprise} \
         require pinned plugins (require_pinned_plugins = true); add `sha256 = \"{actual}\"` to \
         [plugins.{plugin}] in {file} if you trust this file"
    )]
    Unpinned {
        plugin: String,
        from: String,
        actual: String,
        file: String,
        enterprise: String,
    },

    #[error("{name} is a built-in plugin: {what}")]
    Builtin { name: String, what: String },

    #[error(
        "plugin {name} is already added ({}); pass --force to replace it, or choose another name with --name",
        path.display()
    )]
    AlreadyAdded { name: String, path: PathBuf },

    #[error("there is no plugin named {name:?}; {hint}")]
    Unknown { name: String, hint: String },

    #[error(
        "invalid sha256 {value:?}: expected 64 hex digits, as printed by `sha256sum plugin.wasm`"
    )]
    BadDigest { value: String },

    #[error("invalid {flag} {value:?}: write it as key=value")]
    BadAssignment { flag: &'static str, value: String },

    #[error("invalid plugin name: {0}; pass another one with --name")]
    BadName(String),

    #[error("cannot read {what} {}: {reason}; {hint}", path.display())]
    Input {
        what: &'static str,
        path: PathBuf,
        reason: String,
        hint: &'static str,
    },

    #[error(
        "`stackpack plugin test` runs resolvers, and plugin {plugin} is a {kind}; test a source-resolver component"
    )]
    NotAResolver { plugin: String, kind: PluginKind },
}

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
pub enum Code {
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
    pub code: Code,
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

fn config_file(ctx: &Context) -> String {
    ctx.settings
        .source
        .as_deref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| ctx.root.default_config().display().to_string())
}

fn limits(memory_mib: Option<u64>, time_ms: Option<u64>) -> Limits {
    let mut limits = Limits::default();
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
    ctx: &Context,
    b: &stackpack_builtins::Builtin,
    user: &PluginSettings,
) -> Vec<String> {
    let mut hosts: Vec<String> = b.default_grants.iter().map(|s| s.to_string()).collect();
    if b.name == "index" {
        hosts.extend(
            ctx.settings
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
pub fn entries(ctx: &Context) -> Result<Vec<Entry>, CliError> {
    let store = PluginStore::new(&ctx.root);
    let added = store.list()?;
    let file = config_file(ctx);
    let config_err = |plugin: &str, problem: String, fix: String| PluginsError::Config {
        file: file.clone(),
        plugin: plugin.to_string(),
        problem,
        fix,
    };
    let no_user = PluginSettings::default();
    let mut out = Vec::new();

    let mut position = 0;
    for b in stackpack_builtins::all() {
        let user = ctx.settings.plugins.get(b.name).unwrap_or(&no_user);
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
                )
                .into());
            }
            i64::MAX
        } else {
            position += 1;
            user.order.unwrap_or(position * BUILTIN_ORDER_STEP)
        };
        let mut config = user.config.clone();
        if b.name == "index" {
            config.insert("index-urls".into(), ctx.settings.index_url.join("\n"));
        }
        out.push(Entry {
            name: b.name.to_string(),
            origin: Origin::Builtin,
            kind,
            order,
            source: "built-in".into(),
            pinned: Some(b.sha256.to_string()),
            hosts: builtin_hosts(ctx, b, user),
            limits: limits(user.memory_mib, user.time_ms),
            config,
            code: Code::Builtin(b.wasm),
            declared_in: None,
            last,
        });
    }

    for m in &added {
        if stackpack_builtins::get(&m.name).is_some() {
            return Err(PluginsError::Builtin {
                name: m.name.clone(),
                what: format!(
                    "{} shadows it; remove it with `stackpack plugin remove {}`",
                    store.manifest_path(&m.name).display(),
                    m.name
                ),
            }
            .into());
        }
        // A `[plugins.<name>]` section without path/url adds grants, limits, config
        // values and an order on top of the manifest, as it does for built-ins.
        let user = ctx.settings.plugins.get(&m.name).unwrap_or(&no_user);
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
            limits: limits(user.memory_mib.or(m.memory_mib), user.time_ms.or(m.time_ms)),
            config,
            code: Code::File(store.wasm_path(&m.name)),
            declared_in: Some(store.manifest_path(&m.name)),
            last: false,
        });
    }

    for (name, p) in &ctx.settings.plugins {
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
                )
                .into());
            }
            continue;
        }
        if builtin {
            return Err(config_err(
                name,
                "sets `path`/`url`, but that is the name of a built-in plugin".into(),
                "give the third-party plugin a name of its own".into(),
            )
            .into());
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
            )
            .into());
        }
        stackpack_site::plugin_store::check_name(name)
            .map_err(|reason| config_err(name, reason, "rename the section".into()))?;
        let (kind, code, source) = match (&p.kind, &p.path, &p.url) {
            (Some(k), Some(path), _) => (
                kind_of(*k),
                Code::File(path.clone()),
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
                (kind_of(*k), Code::File(path), u.clone())
            }
            (Some(k), None, Some(u)) => (
                kind_of(*k),
                Code::Url(u.clone()),
                stackpack_core::redact_url(u),
            ),
            // Settings refuse a declared plugin without kind; be defensive anyway.
            _ => {
                return Err(config_err(
                    name,
                    "has no `kind`".into(),
                    "add `kind = \"resolver\"` or `kind = \"policy\"`".into(),
                )
                .into());
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
            limits: limits(p.memory_mib, p.time_ms),
            config: p.config.clone(),
            code,
            declared_in: ctx.settings.source.clone(),
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
fn check_enterprise(ctx: &Context, entry: &Entry) -> Result<(), CliError> {
    if entry.origin == Origin::Builtin || ctx.enterprise.plugin_allowed(&entry.name) {
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
            config_file(ctx)
        ),
    };
    Err(PluginsError::NotAllowed {
        plugin: entry.name.clone(),
        file: ctx.enterprise.shown_source(),
        allowed: quoted(
            ctx.enterprise
                .allowed_plugins
                .as_deref()
                .unwrap_or_default(),
        ),
        fix,
    }
    .into())
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
pub fn entry_bytes(ctx: &Context, entry: &Entry) -> Result<Arc<[u8]>, CliError> {
    let bytes: Arc<[u8]> = match &entry.code {
        Code::Builtin(b) => return Ok(Arc::from(*b)),
        Code::File(path) => Arc::from(read_file(&entry.name, path)?),
        Code::Url(url) => Arc::from(url_bytes(ctx, entry, url)?),
    };
    let actual = stackpack_plugin::sha256_hex(&bytes);
    match &entry.pinned {
        Some(pin) if *pin == actual => {}
        Some(pin) => {
            return Err(PluginsError::PinMismatch {
                plugin: entry.name.clone(),
                from: shown_code(entry),
                expected: pin.clone(),
                fix: repin_fix(entry, &actual),
                actual,
            }
            .into());
        }
        None if ctx.enterprise.require_pinned_plugins => {
            return Err(PluginsError::Unpinned {
                plugin: entry.name.clone(),
                from: entry.source.clone(),
                actual,
                file: config_file(ctx),
                enterprise: ctx.enterprise.shown_source(),
            }
            .into());
        }
        None => tracing::warn!(
            "plugin {} ({}) is not pinned: loading it as it is now (sha256 {actual}); pin it with `sha256 = \"{actual}\"` in [plugins.{}] of {}",
            entry.name,
            entry.source,
            entry.name,
            config_file(ctx)
        ),
    }
    Ok(bytes)
}

fn shown_code(entry: &Entry) -> String {
    match &entry.code {
        Code::File(p) => p.display().to_string(),
        _ => entry.source.clone(),
    }
}

fn read_file(plugin: &str, path: &Path) -> Result<Vec<u8>, CliError> {
    let meta = std::fs::metadata(path);
    if let Ok(m) = &meta
        && m.len() > MAX_PLUGIN_BYTES
    {
        return Err(PluginsError::Read {
            plugin: plugin.to_string(),
            from: path.display().to_string(),
            reason: format!("it is larger than {} MiB", MAX_PLUGIN_BYTES >> 20),
            hint: "check that this is a plugin component".into(),
        }
        .into());
    }
    std::fs::read(path).map_err(|e| {
        PluginsError::Read {
            plugin: plugin.to_string(),
            from: path.display().to_string(),
            reason: e.to_string(),
            hint: "check the path, or remove the plugin (`stackpack plugin remove`, or its [plugins.<name>] section)".into(),
        }
        .into()
    })
}

/// A config-declared plugin served over https: kept in the cache by its pinned digest
/// (re-hashed on every use) so it is downloaded once; an unpinned one is downloaded
/// on every load.
fn url_bytes(ctx: &Context, entry: &Entry, url: &str) -> Result<Vec<u8>, CliError> {
    let cached = entry.pinned.as_ref().map(|pin| {
        ctx.root
            .cache_dir()
            .join("plugins")
            .join("store")
            .join(format!("{pin}.wasm"))
    });
    if let (Some(path), Some(pin)) = (&cached, &entry.pinned)
        && let Ok(bytes) = std::fs::read(path)
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
    let (bytes, _) = fetch_source(ctx, &entry.name, url)?;
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

/// Reads a plugin component from a path, a `file://` URL, or an `https://` URL (through
/// the host's network: proxies, CA bundle and credentials apply; redirects must stay on
/// https). Returns the bytes and the source as it may be shown (redacted).
pub fn fetch_source(
    ctx: &Context,
    plugin: &str,
    source: &str,
) -> Result<(Vec<u8>, String), CliError> {
    let shown = stackpack_core::redact_url(source);
    let read_err = |reason: String, hint: &str| PluginsError::Read {
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
        )
        .into());
    }
    if ctx.offline {
        return Err(read_err(
            "the network is off (--offline)".into(),
            "run without --offline, or download the file and give its path",
        )
        .into());
    }
    let net = net(ctx)?;
    let mut url = url::Url::parse(source).map_err(|e| read_err(e.to_string(), "check the URL"))?;
    for _ in 0..=MAX_REDIRECTS {
        if url.scheme() != "https" {
            return Err(read_err(
                format!("redirected to {}", stackpack_core::redact_url(url.as_str())),
                "plugins are only fetched over https; ask the server's owner to serve it over https, or download it and give its path",
            )
            .into());
        }
        let reply = net.http_get(&url, &[], MAX_PLUGIN_BYTES).map_err(|f| {
            let reason = match f {
                stackpack_net::NetFailure::Offline => "offline".to_string(),
                stackpack_net::NetFailure::Timeout => "timed out".to_string(),
                stackpack_net::NetFailure::TooLarge(n) => format!("larger than {} MiB", n >> 20),
                stackpack_net::NetFailure::Transport(m) => stackpack_core::redact_url(&m),
            };
            read_err(reason, "check the URL, the network and the proxy settings")
        })?;
        if let Some(loc) = reply.redirect_location() {
            url = url
                .join(loc)
                .map_err(|e| read_err(format!("bad redirect: {e}"), "check the URL"))?;
            continue;
        }
        match reply.status {
            200 => return Ok((reply.body, shown)),
            status => {
                return Err(read_err(
                    format!("HTTP status {status}"),
                    "check the URL and that you have access to it (credentials come from [[credentials]] in the config)",
                )
                .into());
            }
        }
    }
    Err(read_err(
        format!("more than {MAX_REDIRECTS} redirects"),
        "check the URL",
    )
    .into())
}

/// Loads one entry: enterprise rules, bytes verified against the pin, the runtime's
/// checks (component, world, API version), and its declared kind.
pub fn load_entry(ctx: &Context, rt: &Runtime, entry: &Entry) -> Result<Plugin, CliError> {
    check_enterprise(ctx, entry)?;
    let wasm = entry_bytes(ctx, entry)?;
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

/// Every plugin in chain order, with what the chain knows about each. Resolvers the
/// enterprise's `allowed_resolvers` leaves out are not loaded.
pub fn load_all_detailed(ctx: &Context, rt: &Runtime) -> Result<Vec<Loaded>, CliError> {
    let mut out = Vec::new();
    for entry in entries(ctx)? {
        if entry.kind == PluginKind::Resolver && !ctx.enterprise.resolver_allowed(&entry.name) {
            if entry.origin == Origin::Builtin {
                tracing::debug!(
                    "resolver {} is left out: not in allowed_resolvers of {}",
                    entry.name,
                    ctx.enterprise.shown_source()
                );
            } else {
                tracing::warn!(
                    "resolver {} is left out of the chain: the enterprise settings in {} do not list it in allowed_resolvers",
                    entry.name,
                    ctx.enterprise.shown_source()
                );
            }
            continue;
        }
        let plugin = load_entry(ctx, rt, &entry)?;
        out.push(Loaded { plugin, entry });
    }
    Ok(out)
}

/// Built-in, added and config-declared plugins, loaded, in chain order: resolvers by
/// `order` (then name), then policies by `order` with the built-in default policy last.
pub fn load_all(ctx: &Context, rt: &Runtime) -> Result<Vec<Plugin>, CliError> {
    Ok(load_all_detailed(ctx, rt)?
        .into_iter()
        .map(|l| l.plugin)
        .collect())
}

/// The override policies only, in chain order (the built-in `default` last): what
/// `register` runs. Resolvers are not loaded, so neither their bytes nor their
/// sources matter to a registration.
pub fn load_policies(ctx: &Context, rt: &Runtime) -> Result<Vec<Plugin>, CliError> {
    entries(ctx)?
        .iter()
        .filter(|e| e.kind == PluginKind::Policy)
        .map(|e| load_entry(ctx, rt, e))
        .collect()
}
