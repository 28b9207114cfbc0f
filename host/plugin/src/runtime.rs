//! The engine, the compiled-code cache, and loading plugins.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker, ResourceTable, types::ComponentItem};
use wasmtime::{Config, Engine, Store, StoreLimitsBuilder, UpdateDeadline};
use wasmtime_wasi::WasiCtxBuilder;

use crate::bindings::{policy, resolver};
use crate::error::PluginError;
use stackpack_net::{Grants, NetBackend};

use crate::host::{CallState, LimitHit, Limits, LogSink, PluginContext, StderrPipe, Stopped};
use crate::{API_PACKAGE, SUPPORTED_API_VERSIONS};

/// One epoch tick. The time limit is checked at this granularity.
const TICK: Duration = Duration::from_millis(10);

/// The two plugin kinds, one per WIT world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PluginKind {
    Resolver,
    Policy,
}

impl PluginKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PluginKind::Resolver => "resolver",
            PluginKind::Policy => "policy",
        }
    }
    fn world(self) -> &'static str {
        match self {
            PluginKind::Resolver => "source-resolver",
            PluginKind::Policy => "override-policy",
        }
    }
}

impl std::fmt::Display for PluginKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything needed to load one plugin.
#[derive(Clone)]
pub struct PluginSpec {
    pub name: String,
    pub wasm: Arc<[u8]>,
    pub grants: Grants,
    pub config: BTreeMap<String, String>,
    pub limits: Limits,
}

/// How the plugin's machine code was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CodeSource {
    /// A built-in's machine code, precompiled when the binary was built.
    Precompiled,
    /// Compiled now with Cranelift (and written to the cache if there is one).
    Compiled,
    /// Loaded from a `.cwasm` in the cache.
    Cached,
}

/// The engine and its settings. Create one per process and load every plugin with it.
pub struct Runtime {
    engine: Engine,
    engine_key: String,
    cache_dir: Option<PathBuf>,
    net: Arc<dyn NetBackend>,
    offline: bool,
}

impl Runtime {
    /// `cache_dir`: where compiled code is kept (`<sha256>-<engine>.cwasm`); `None`
    /// compiles in memory every time.
    pub fn new(
        cache_dir: Option<PathBuf>,
        net: Arc<dyn NetBackend>,
        offline: bool,
    ) -> Result<Runtime, PluginError> {
        Runtime::with_config(crate::engine_config::config(), cache_dir, net, offline)
    }

    fn with_config(
        config: Config,
        cache_dir: Option<PathBuf>,
        net: Arc<dyn NetBackend>,
        offline: bool,
    ) -> Result<Runtime, PluginError> {
        let engine = Engine::new(&config).map_err(|e| PluginError::Engine(e.to_string()))?;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_key = format!("{:016x}", hasher.finish());
        start_ticker(&engine);
        Ok(Runtime {
            engine,
            engine_key,
            cache_dir,
            net,
            offline,
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Loads a plugin: finds or compiles its code, checks its world and API version,
    /// and links it, ready for calls.
    pub fn load(&self, spec: PluginSpec) -> Result<Plugin, PluginError> {
        let sha256 = hex::encode(Sha256::digest(&spec.wasm));
        let started = Instant::now();
        let (component, source) = self.component(&spec.name, &spec.wasm, &sha256)?;
        let load_time = started.elapsed();
        match source {
            CodeSource::Precompiled => tracing::info!(
                "plugin {}: loaded precompiled code in {:.2} ms",
                spec.name,
                load_time.as_secs_f64() * 1e3
            ),
            CodeSource::Cached => tracing::info!(
                "plugin {}: loaded cached code in {:.2} ms",
                spec.name,
                load_time.as_secs_f64() * 1e3
            ),
            CodeSource::Compiled => tracing::info!(
                "plugin {}: compiled in {:.0} ms",
                spec.name,
                load_time.as_secs_f64() * 1e3
            ),
        }
        let (kind, api_version) = identify(&self.engine, &spec.name, &component)?;
        let world = kind.world();
        let link_err = |e: wasmtime::Error| PluginError::Link {
            plugin: spec.name.clone(),
            world,
            reason: format!("{e:#}"),
        };
        let mut linker: Linker<CallState> = Linker::new(&self.engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(link_err)?;
        let pre = match kind {
            PluginKind::Resolver => {
                resolver::SourceResolver::add_to_linker::<_, wasmtime::component::HasSelf<_>>(
                    &mut linker,
                    |s| s,
                )
                .map_err(link_err)?;
                let pre = linker.instantiate_pre(&component).map_err(link_err)?;
                Pre::Resolver(resolver::SourceResolverPre::new(pre).map_err(link_err)?)
            }
            PluginKind::Policy => {
                policy::OverridePolicy::add_to_linker::<_, wasmtime::component::HasSelf<_>>(
                    &mut linker,
                    |s| s,
                )
                .map_err(link_err)?;
                let pre = linker.instantiate_pre(&component).map_err(link_err)?;
                Pre::Policy(policy::OverridePolicyPre::new(pre).map_err(link_err)?)
            }
        };
        Ok(Plugin {
            named_registry: false,
            ctx: Arc::new(PluginContext {
                name: spec.name,
                grants: spec.grants,
                config: spec.config,
                limits: spec.limits,
                offline: self.offline,
                net: self.net.clone(),
            }),
            engine: self.engine.clone(),
            sha256,
            kind,
            api_version,
            code_source: source,
            load_time,
            pre,
        })
    }

    fn component(
        &self,
        name: &str,
        wasm: &[u8],
        sha256: &str,
    ) -> Result<(Component, CodeSource), PluginError> {
        let invalid = |e: wasmtime::Error| PluginError::InvalidComponent {
            plugin: name.to_string(),
            reason: format!("{e:#}"),
        };
        if let Some(component) = stackpack_builtins::all()
            .iter()
            .find(|b| b.sha256 == sha256)
            .and_then(|b| b.precompiled())
            .and_then(|code| self.shipped_code(name, code))
        {
            return Ok((component, CodeSource::Precompiled));
        }
        let Some(dir) = &self.cache_dir else {
            return Ok((
                Component::new(&self.engine, wasm).map_err(invalid)?,
                CodeSource::Compiled,
            ));
        };
        let file = format!("{sha256}-{}.cwasm", self.engine_key);
        let path = dir.join(&file);
        if path.is_file() {
            // SAFETY: `deserialize_file` trusts its input to be machine code that this
            // engine produced. The file is named by the sha256 of the wasm it was compiled
            // from and by this engine's compatibility hash, it is only ever written by
            // `store_cwasm` below (into the operator's own cache dir, by atomic rename, so
            // never partially), and wasmtime re-checks the engine/version header before
            // use. Whoever can write this directory can already replace the binary.
            #[allow(unsafe_code)]
            let loaded = unsafe { Component::deserialize_file(&self.engine, &path) };
            match loaded {
                Ok(c) => return Ok((c, CodeSource::Cached)),
                Err(e) => tracing::warn!(
                    "plugin {name}: ignoring unusable cached code {}: {e}; recompiling",
                    path.display()
                ),
            }
        }
        let cwasm = self.engine.precompile_component(wasm).map_err(invalid)?;
        if let Err(e) = store_cwasm(dir, &file, &cwasm) {
            tracing::warn!("plugin {name}: could not cache compiled code: {e}");
        }
        // SAFETY: the bytes were produced by `precompile_component` on this engine just
        // above; they never left this process's memory.
        #[allow(unsafe_code)]
        let component = unsafe { Component::deserialize(&self.engine, &cwasm) }.map_err(invalid)?;
        Ok((component, CodeSource::Compiled))
    }

    /// A built-in's code as this build precompiled it, or `None` (said in the log) when
    /// wasmtime finds it does not suit this engine: another wasmtime version, other
    /// settings, or CPU features this machine lacks. The caller then compiles.
    fn shipped_code(&self, name: &str, code: &[u8]) -> Option<Component> {
        if Engine::detect_precompiled(code) != Some(wasmtime::Precompiled::Component) {
            tracing::info!("plugin {name}: the precompiled code is not a component; compiling");
            return None;
        }
        // SAFETY: `deserialize` trusts its input to be machine code made by a
        // compatible engine. `code` is `Builtin::precompiled` (the unit tests also pass
        // copies of it with a damaged header or cut short, which wasmtime rejects while
        // parsing, before any code is used), which only the build of
        // `stackpack-builtins` produces, with `Engine::precompile_component` on this
        // runtime's own settings (`engine_config::config`), from the very component
        // whose sha256 matched; it is embedded in this binary and never read from
        // outside. wasmtime checks the version, target, settings and CPU features it
        // records before using it, so an artifact for another engine fails here.
        #[allow(unsafe_code)]
        let loaded = unsafe { Component::deserialize(&self.engine, code) };
        match loaded {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::info!(
                    "plugin {name}: the precompiled code does not suit this engine ({e:#}); compiling"
                );
                None
            }
        }
    }
}

/// Writes a cache entry atomically (`stackpack_fs::write_atomic`), so readers never
/// see a partial file.
fn store_cwasm(dir: &Path, file: &str, bytes: &[u8]) -> Result<(), PluginError> {
    let err = |e: std::io::Error| PluginError::Cache {
        path: dir.to_path_buf(),
        reason: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(err)?;
    stackpack_fs::write_atomic(&dir.join(file), bytes, stackpack_fs::Mode::Default).map_err(err)
}

/// One background thread per engine advances the epoch; it ends with the engine.
fn start_ticker(engine: &Engine) {
    let weak = engine.weak();
    let spawned = std::thread::Builder::new()
        .name("stackpack-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(TICK);
            }
        });
    if let Err(e) = spawned {
        // Without a ticker the time limit cannot fire; guests then run unbounded.
        tracing::warn!("could not start the plugin time-limit thread: {e}");
    }
}

/// Finds which world a component implements and which API version it targets, from
/// its exported interface names (`stackpack:plugin/resolver@0.1.0`).
fn identify(
    engine: &Engine,
    name: &str,
    component: &Component,
) -> Result<(PluginKind, String), PluginError> {
    let ty = component.component_type();
    let exports: Vec<String> = ty
        .exports(engine)
        .filter(|(_, item)| matches!(item.ty, ComponentItem::ComponentInstance(_)))
        .map(|(n, _)| n.to_string())
        .collect();
    for export in &exports {
        let Some(rest) = export.strip_prefix(&format!("{API_PACKAGE}/")) else {
            continue;
        };
        let (iface, version) = rest.split_once('@').unwrap_or((rest, ""));
        let kind = match iface {
            "resolver" => PluginKind::Resolver,
            "policy" => PluginKind::Policy,
            _ => continue,
        };
        if !SUPPORTED_API_VERSIONS.contains(&version) {
            return Err(PluginError::UnsupportedApi {
                plugin: name.to_string(),
                found: if version.is_empty() {
                    "(unversioned)".into()
                } else {
                    version.to_string()
                },
                supported: SUPPORTED_API_VERSIONS.join(", "),
            });
        }
        return Ok((kind, version.to_string()));
    }
    Err(PluginError::NotAPlugin {
        plugin: name.to_string(),
        exports: if exports.is_empty() {
            "nothing".into()
        } else {
            exports.join(", ")
        },
    })
}

enum Pre {
    Resolver(resolver::SourceResolverPre<CallState>),
    Policy(policy::OverridePolicyPre<CallState>),
}

/// A loaded plugin. Every call runs in a fresh instance with its own limits, so no
/// state leaks from one call to the next.
pub struct Plugin {
    ctx: Arc<PluginContext>,
    /// Each `resolve` call may reach the registry its `oci://` reference names.
    named_registry: bool,
    engine: Engine,
    sha256: String,
    kind: PluginKind,
    api_version: String,
    code_source: CodeSource,
    load_time: Duration,
    pre: Pre,
}

impl Plugin {
    pub fn name(&self) -> &str {
        &self.ctx.name
    }
    pub fn sha256(&self) -> &str {
        &self.sha256
    }
    pub fn kind(&self) -> PluginKind {
        self.kind
    }
    pub fn api_version(&self) -> &str {
        &self.api_version
    }
    pub fn grants(&self) -> &Grants {
        &self.ctx.grants
    }
    pub fn limits(&self) -> &Limits {
        &self.ctx.limits
    }
    pub fn code_source(&self) -> CodeSource {
        self.code_source
    }
    pub fn load_time(&self) -> Duration {
        self.load_time
    }

    /// The same plugin, whose `resolve` calls may also reach the
    /// registry (`oci://host[:port]`) that the `oci://` reference they are given names,
    /// and no other beyond its grants: what the host grants its built-in OCI resolver,
    /// as it fetches whatever git remote a reference names for the git resolver.
    pub fn granting_named_registry(mut self) -> Plugin {
        self.named_registry = true;
        self
    }

    /// Whether [`Plugin::granting_named_registry`] applies.
    pub fn grants_named_registry(&self) -> bool {
        self.named_registry
    }

    /// The grants of a call on `reference`: the registry its `oci://` locator names,
    /// when this plugin is granted that.
    fn call_grants(&self, reference: &stackpack_core::PackRef) -> Grants {
        if !self.named_registry {
            return Grants::none();
        }
        reference
            .locator()
            .parse::<stackpack_core::oci::OciRef>()
            .ok()
            .and_then(|r| Grants::parse(&[format!("oci://{}", r.registry)]).ok())
            .unwrap_or_default()
    }

    fn store_with(&self, call_grants: Grants) -> Store<CallState> {
        let log = LogSink::new(self.ctx.limits.max_log_bytes);
        // The empty capability set: no preopened dirs, env, args, sockets or stdin;
        // stdout and stderr land in the capped log sink.
        let wasi = WasiCtxBuilder::new()
            .stdout(StderrPipe(log.clone()))
            .stderr(StderrPipe(log.clone()))
            .build();
        let state = CallState {
            ctx: self.ctx.clone(),
            call_grants,
            wasi,
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(self.ctx.limits.memory_bytes)
                .instances(8)
                .tables(32)
                .memories(4)
                .build(),
            started: Instant::now(),
            host_time: Duration::ZERO,
            hit: None,
            log,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| s as &mut dyn wasmtime::ResourceLimiter);
        let limit_ticks = ticks(self.ctx.limits.time);
        store.set_epoch_deadline(limit_ticks);
        store.epoch_deadline_callback(move |mut cx| {
            let state = cx.data_mut();
            let guest_time = state.started.elapsed().saturating_sub(state.host_time);
            if guest_time >= state.ctx.limits.time {
                state.hit = Some(LimitHit::Time);
                return Err(wasmtime::Error::new(Stopped(LimitHit::Time)));
            }
            Ok(UpdateDeadline::Continue(
                ticks(state.ctx.limits.time - guest_time).max(1),
            ))
        });
        store
    }

    /// Runs one call in a fresh store, then forwards what the guest printed to the
    /// log and maps traps to errors naming the plugin and the limit.
    fn call<R>(
        &self,
        call: &'static str,
        f: impl FnOnce(&mut Store<CallState>) -> wasmtime::Result<R>,
    ) -> Result<R, PluginError> {
        self.call_with(call, Grants::none(), f)
    }

    fn call_with<R>(
        &self,
        call: &'static str,
        call_grants: Grants,
        f: impl FnOnce(&mut Store<CallState>) -> wasmtime::Result<R>,
    ) -> Result<R, PluginError> {
        let mut store = self.store_with(call_grants);
        let result = f(&mut store);
        let state = store.data();
        let (output, dropped) = state.log.take();
        let name = &self.ctx.name;
        for line in output.lines().filter(|l| !l.trim().is_empty()) {
            tracing::debug!("plugin {name}: {line}");
        }
        if dropped > 0 {
            let shown = if dropped >= 1 << 20 {
                format!("{:.1} MiB", dropped as f64 / f64::from(1 << 20))
            } else {
                format!("{dropped} bytes")
            };
            tracing::warn!(
                "plugin {name}: dropped {shown} of output beyond its {} KiB log cap",
                self.ctx.limits.max_log_bytes / 1024
            );
        }
        let hit = state.hit;
        result.map_err(|e| {
            let limit = hit.or_else(|| e.downcast_ref::<Stopped>().map(|s| s.0));
            match limit {
                Some(LimitHit::Time) => PluginError::TimeLimit {
                    plugin: name.clone(),
                    call,
                    limit: self.ctx.limits.time,
                },
                Some(LimitHit::Memory) => PluginError::MemoryLimit {
                    plugin: name.clone(),
                    call,
                    limit_bytes: self.ctx.limits.memory_bytes,
                },
                None => PluginError::Trap {
                    plugin: name.clone(),
                    call,
                    reason: trap_reason(&e, &output),
                },
            }
        })
    }

    fn resolver_pre(&self) -> Result<&resolver::SourceResolverPre<CallState>, PluginError> {
        match &self.pre {
            Pre::Resolver(p) => Ok(p),
            Pre::Policy(_) => Err(self.wrong_kind(PluginKind::Resolver)),
        }
    }

    fn policy_pre(&self) -> Result<&policy::OverridePolicyPre<CallState>, PluginError> {
        match &self.pre {
            Pre::Policy(p) => Ok(p),
            Pre::Resolver(_) => Err(self.wrong_kind(PluginKind::Policy)),
        }
    }

    fn wrong_kind(&self, wanted: PluginKind) -> PluginError {
        PluginError::WrongKind {
            plugin: self.ctx.name.clone(),
            actual: self.kind.as_str(),
            wanted: wanted.as_str(),
        }
    }

    /// The plugin's self-description, whichever its kind.
    pub fn describe(&self) -> Result<Description, PluginError> {
        match &self.pre {
            Pre::Resolver(pre) => {
                let info = self.call("describe", |store| {
                    pre.instantiate(&mut *store)?
                        .stackpack_plugin_resolver()
                        .call_describe(store)
                })?;
                Ok(Description {
                    name: info.name,
                    version: info.version,
                    description: info.description,
                    handles: info.handles,
                    requested_hosts: info.requested_hosts,
                })
            }
            Pre::Policy(pre) => {
                let info = self.call("describe", |store| {
                    pre.instantiate(&mut *store)?
                        .stackpack_plugin_policy()
                        .call_describe(store)
                })?;
                Ok(Description {
                    name: info.name,
                    version: info.version,
                    description: info.description,
                    handles: Vec::new(),
                    requested_hosts: Vec::new(),
                })
            }
        }
    }

    /// Asks a resolver where to get a pack. The outer error is the plugin failing (or
    /// answering with a source the host cannot use: [`PluginError::BadSource`]); the
    /// inner one is the plugin's answer (`not-applicable`, `not-found`...).
    pub fn resolve(
        &self,
        reference: &stackpack_core::PackRef,
    ) -> Result<Result<crate::Resolved, crate::Refusal>, PluginError> {
        let pre = self.resolver_pre()?;
        let wit = crate::bindings::PackRef::from(reference);
        let answer = self.call_with("resolve", self.call_grants(reference), |store| {
            pre.instantiate(&mut *store)?
                .stackpack_plugin_resolver()
                .call_resolve(store, &wit)
        })?;
        let resolved = match answer {
            Ok(r) => r,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let source = stackpack_core::Source::try_from(&resolved.resolution).map_err(|reason| {
            PluginError::BadSource {
                plugin: self.ctx.name.clone(),
                reason,
            }
        })?;
        Ok(Ok(crate::Resolved {
            source,
            canonical: resolved.canonical,
            summary: resolved.summary,
        }))
    }

    /// Asks a policy for one verdict per resource of a pack.
    pub fn decide(
        &self,
        ctx: &crate::PackContext,
        resources: &[crate::PackResource],
    ) -> Result<Result<Vec<crate::Verdict>, String>, PluginError> {
        let pre = self.policy_pre()?;
        let reply = self.call("decide", |store| {
            pre.instantiate(&mut *store)?
                .stackpack_plugin_policy()
                .call_decide(store, ctx, resources)
        })?;
        if let Ok(verdicts) = &reply
            && verdicts.len() != resources.len()
        {
            return Err(PluginError::BadReply {
                plugin: self.ctx.name.clone(),
                expected: resources.len(),
                returned: verdicts.len(),
            });
        }
        Ok(reply)
    }
}

/// What `describe` returned, for either kind.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Description {
    pub name: String,
    pub version: String,
    pub description: String,
    pub handles: Vec<String>,
    pub requested_hosts: Vec<String>,
}

fn ticks(d: Duration) -> u64 {
    (d.as_millis() / TICK.as_millis()).max(1) as u64 + 1
}

/// The most useful one-line description of a trap: the guest's own panic message
/// (which Rust guests print to stderr before trapping) when there was one, then
/// wasmtime's cause without the wasm backtrace.
fn trap_reason(e: &wasmtime::Error, guest_output: &str) -> String {
    let mut parts: Vec<String> = e
        .chain()
        .map(|c| c.to_string())
        .filter(|p| !p.contains("wasm backtrace"))
        .collect();
    parts.dedup();
    let cause = if parts.is_empty() {
        e.root_cause().to_string()
    } else {
        parts.join(": ")
    };
    // std's panic output: "thread '<name>' panicked at file:line:col:\n<message>".
    let panic = guest_output
        .split_once("panicked at ")
        .and_then(|(_, rest)| rest.split_once('\n'))
        .map(|(_, message)| message.lines().next().unwrap_or("").trim().to_string())
        .filter(|m| !m.is_empty());
    match panic {
        Some(message) => format!("{message} ({cause})"),
        None => cause,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::NoNetwork;

    fn spec(b: &stackpack_builtins::Builtin) -> PluginSpec {
        PluginSpec {
            name: b.name.into(),
            wasm: Arc::from(b.wasm),
            grants: Grants::default(),
            config: BTreeMap::new(),
            limits: Limits::default(),
        }
    }

    fn runtime(cache: Option<PathBuf>) -> Runtime {
        Runtime::new(cache, Arc::new(NoNetwork), true).unwrap()
    }

    /// Safe outcome: a fresh cache compiles nothing and writes nothing; every built-in
    /// comes from the code shipped in the binary and works.
    #[test]
    fn builtins_load_precompiled_into_an_empty_cache() {
        let cache = tempfile::tempdir().unwrap();
        let dir = cache.path().join("plugins");
        let rt = runtime(Some(dir.clone()));
        for b in stackpack_builtins::all() {
            assert!(
                b.precompiled().is_some(),
                "{} ships no precompiled code",
                b.name
            );
            let plugin = rt.load(spec(b)).unwrap();
            assert_eq!(plugin.code_source(), CodeSource::Precompiled, "{}", b.name);
            assert_eq!(plugin.describe().unwrap().name, b.name);
        }
        assert!(!dir.exists(), "nothing should be compiled into the cache");
        // Without a cache dir too.
        let plugin = runtime(None)
            .load(spec(&stackpack_builtins::all()[0]))
            .unwrap();
        assert_eq!(plugin.code_source(), CodeSource::Precompiled);
    }

    /// Safe outcome: code precompiled for other engine settings is refused by the
    /// compatibility check, and the plugin is compiled (and cached) instead.
    #[test]
    fn mismatched_engine_falls_back_to_compiling() {
        let cache = tempfile::tempdir().unwrap();
        let mut config = crate::engine_config::config();
        config.epoch_interruption(false);
        let rt = Runtime::with_config(
            config,
            Some(cache.path().to_path_buf()),
            Arc::new(NoNetwork),
            true,
        )
        .unwrap();
        let b = stackpack_builtins::get("file").unwrap();
        assert!(rt.shipped_code(b.name, b.precompiled().unwrap()).is_none());
        let plugin = rt.load(spec(b)).unwrap();
        assert_eq!(plugin.code_source(), CodeSource::Compiled);
        assert_eq!(plugin.describe().unwrap().name, "file");
        let cached = std::fs::read_dir(cache.path()).unwrap().count();
        assert_eq!(cached, 1, "the compiled code is cached as before");
        assert_eq!(rt.load(spec(b)).unwrap().code_source(), CodeSource::Cached);
    }

    /// Safe outcome: damaged shipped code (bad header, cut short) is never used.
    #[test]
    fn damaged_precompiled_code_is_refused() {
        let rt = runtime(None);
        let code = stackpack_builtins::get("file")
            .unwrap()
            .precompiled()
            .unwrap();
        assert!(rt.shipped_code("file", code).is_some());
        let mut bad_magic = code.to_vec();
        bad_magic[1] ^= 0xff;
        assert!(rt.shipped_code("file", &bad_magic).is_none());
        assert!(rt.shipped_code("file", &code[..code.len() / 2]).is_none());
        assert!(rt.shipped_code("file", &[]).is_none());
    }
}
