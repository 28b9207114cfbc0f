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
use crate::shape::Shape;
use crate::{API_PACKAGE, SUPPORTED_API_VERSIONS};

/// One epoch tick. The time limit is checked at this granularity.
const TICK: Duration = Duration::from_millis(10);

/// The per-store counts a component gets at least, whatever it declares: the fixed
/// limits of earlier releases, which leave room for the instances wasmtime adds itself
/// (adapters between nested components).
const FLOOR: Shape = Shape {
    instances: 8,
    memories: 4,
    tables: 32,
};

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
    /// The least each store gets ([`FLOOR`]; the unit tests use none).
    floor: Shape,
    /// Where compiling is shown (a component of many MiB takes seconds).
    progress: Arc<dyn stackpack_core::Progress>,
}

/// What the cache keeps beside a `.cwasm`: how long compiling it took.
#[derive(serde::Serialize, serde::Deserialize)]
struct CacheRecord {
    compile_ms: u64,
    wasm_bytes: u64,
}

/// How a component's machine code was found.
struct Code {
    component: Component,
    source: CodeSource,
    /// Compiling it took this long: now, or when the cache entry was written.
    compile_time: Option<Duration>,
    /// The cache entry it was loaded from or written to.
    cache_file: Option<PathBuf>,
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
            floor: FLOOR,
            progress: Arc::new(stackpack_core::Silent),
        })
    }

    /// Shows each compilation through `progress` (a spinner in the CLI).
    pub fn with_progress(mut self, progress: Arc<dyn stackpack_core::Progress>) -> Runtime {
        self.progress = progress;
        self
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Loads a plugin: finds or compiles its code, checks its world and API version,
    /// and links it, ready for calls.
    pub fn load(&self, spec: PluginSpec) -> Result<Plugin, PluginError> {
        let sha256 = hex::encode(Sha256::digest(&spec.wasm));
        // What it declares decides its store limits; beyond the ceilings it is refused
        // here, before any of it is compiled or run.
        let shape = crate::shape::read(&spec.name, &spec.wasm)?;
        shape.check(&spec.name)?;
        let started = Instant::now();
        let code = self.component(&spec.name, &spec.wasm, &sha256)?;
        let (component, source) = (code.component, code.source);
        let load_time = started.elapsed();
        match source {
            CodeSource::Precompiled => tracing::info!(
                "plugin {}: loaded precompiled code in {:.2} ms",
                spec.name,
                load_time.as_secs_f64() * 1e3
            ),
            CodeSource::Cached => tracing::info!(
                "plugin {}: loaded cached code in {:.2} ms from {}",
                spec.name,
                load_time.as_secs_f64() * 1e3,
                code.cache_file
                    .as_deref()
                    .map_or_else(String::new, |p| p.display().to_string())
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
            compile_time: code.compile_time,
            cache_file: code.cache_file,
            shape,
            store_shape: Shape {
                instances: shape.instances.max(self.floor.instances),
                memories: shape.memories.max(self.floor.memories),
                tables: shape.tables.max(self.floor.tables),
            },
            size: spec.wasm.len() as u64,
            last_call: std::sync::Mutex::new(None),
            pre,
        })
    }

    fn component(&self, name: &str, wasm: &[u8], sha256: &str) -> Result<Code, PluginError> {
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
            return Ok(Code {
                component,
                source: CodeSource::Precompiled,
                compile_time: None,
                cache_file: None,
            });
        }
        let Some(dir) = &self.cache_dir else {
            let (cwasm, took) = self.compile(name, wasm)?;
            // SAFETY: the bytes were produced by `precompile_component` on this engine
            // just above; they never left this process's memory.
            #[allow(unsafe_code)]
            let component =
                unsafe { Component::deserialize(&self.engine, &cwasm) }.map_err(invalid)?;
            return Ok(Code {
                component,
                source: CodeSource::Compiled,
                compile_time: Some(took),
                cache_file: None,
            });
        };
        let file = format!("{sha256}-{}.cwasm", self.engine_key);
        let record_file = format!("{sha256}-{}.json", self.engine_key);
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
                Ok(component) => {
                    let compile_time = std::fs::read(dir.join(&record_file))
                        .ok()
                        .and_then(|b| serde_json::from_slice::<CacheRecord>(&b).ok())
                        .map(|r| Duration::from_millis(r.compile_ms));
                    return Ok(Code {
                        component,
                        source: CodeSource::Cached,
                        compile_time,
                        cache_file: Some(path),
                    });
                }
                Err(e) => tracing::warn!(
                    "plugin {name}: ignoring unusable cached code {}: {e}; recompiling",
                    path.display()
                ),
            }
        }
        let (cwasm, took) = self.compile(name, wasm)?;
        let record = CacheRecord {
            compile_ms: took.as_millis() as u64,
            wasm_bytes: wasm.len() as u64,
        };
        let stored = store_cwasm(dir, &file, &cwasm).and_then(|()| {
            let json = serde_json::to_vec(&record).unwrap_or_default();
            store_cwasm(dir, &record_file, &json)
        });
        let cache_file = match stored {
            Ok(()) => {
                tracing::debug!("plugin {name}: wrote compiled code to {}", path.display());
                Some(path)
            }
            Err(e) => {
                tracing::warn!("plugin {name}: could not cache compiled code: {e}");
                None
            }
        };
        // SAFETY: the bytes were produced by `precompile_component` on this engine just
        // above; they never left this process's memory.
        #[allow(unsafe_code)]
        let component = unsafe { Component::deserialize(&self.engine, &cwasm) }.map_err(invalid)?;
        Ok(Code {
            component,
            source: CodeSource::Compiled,
            compile_time: Some(took),
            cache_file,
        })
    }

    /// Compiles a component to machine code, shown through the progress display.
    fn compile(&self, name: &str, wasm: &[u8]) -> Result<(Vec<u8>, Duration), PluginError> {
        let _task = stackpack_core::Task::start(
            self.progress.as_ref(),
            &format!(
                "compiling plugin {name} ({})",
                stackpack_fs::human_bytes(wasm.len() as u64)
            ),
        );
        let started = Instant::now();
        let cwasm =
            self.engine
                .precompile_component(wasm)
                .map_err(|e| PluginError::InvalidComponent {
                    plugin: name.to_string(),
                    reason: format!("{e:#}"),
                })?;
        Ok((cwasm, started.elapsed()))
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
    compile_time: Option<Duration>,
    cache_file: Option<PathBuf>,
    shape: Shape,
    /// The store limits: `shape`, raised to the runtime's floor.
    store_shape: Shape,
    size: u64,
    last_call: std::sync::Mutex<Option<CallStats>>,
    pre: Pre,
}

/// What one call consumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct CallStats {
    pub call: &'static str,
    /// The most linear memory the call's instances held at once, in bytes.
    pub peak_memory_bytes: u64,
    /// Guest time (time in host imports excluded).
    pub guest_time: Duration,
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
    /// How long compiling it took, now or when its cache entry was written; `None` for
    /// a built-in's precompiled code or a cache entry without its record.
    pub fn compile_time(&self) -> Option<Duration> {
        self.compile_time
    }
    /// The `.cwasm` its code was loaded from or written to.
    pub fn cache_file(&self) -> Option<&Path> {
        self.cache_file.as_deref()
    }
    /// The core instances, memories and tables one instantiation declares.
    pub fn shape(&self) -> Shape {
        self.shape
    }
    /// The component's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }
    /// What the latest call (failed or not) consumed.
    pub fn last_call(&self) -> Option<CallStats> {
        self.last_call.lock().ok().and_then(|g| *g)
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
                .instances(store_limit(self.store_shape.instances))
                .tables(store_limit(self.store_shape.tables))
                .memories(store_limit(self.store_shape.memories))
                .build(),
            started: Instant::now(),
            host_time: Duration::ZERO,
            hit: None,
            log,
            memory_total: 0,
            memory_peak: 0,
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
        let stats = CallStats {
            call,
            peak_memory_bytes: state.memory_peak as u64,
            guest_time: state.started.elapsed().saturating_sub(state.host_time),
        };
        if let Ok(mut last) = self.last_call.lock() {
            *last = Some(stats);
        }
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

/// A store limit from a declared count (already checked against its ceiling).
fn store_limit(count: u64) -> usize {
    usize::try_from(count).unwrap_or(usize::MAX)
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

    /// Safe outcome: the declared counts are never below what wasmtime charges: with the
    /// store limited to exactly what each built-in declares (no floor), every one still
    /// instantiates, and one instance fewer is refused.
    #[test]
    fn declared_counts_are_what_instantiation_needs() {
        let mut rt = runtime(None);
        rt.floor = Shape::default();
        for b in stackpack_builtins::all() {
            let plugin = rt.load(spec(b)).unwrap();
            let shape = plugin.shape();
            assert!(
                shape.instances > 0 && shape.memories > 0,
                "{}: {shape:?}",
                b.name
            );
            assert_eq!(plugin.describe().unwrap().name, b.name);
            let mut tight = rt.load(spec(b)).unwrap();
            tight.store_shape.instances -= 1;
            let err = tight.describe().unwrap_err().to_string();
            assert!(err.contains("instance count too high"), "{}: {err}", b.name);
        }
    }

    /// Safe outcome: a component declaring more instances, memories or tables than the
    /// ceilings is refused at load with the count and the ceiling named, and nothing
    /// of it is compiled (the cache stays empty) or run.
    #[test]
    fn absurd_declared_counts_are_refused_before_compiling() {
        let cache = tempfile::tempdir().unwrap();
        let rt = runtime(Some(cache.path().to_path_buf()));
        for (bytes, what) in [
            (
                stackpack_testkit::guests::declaring(10_000, 1, 1),
                "10000 core instances",
            ),
            (
                stackpack_testkit::guests::declaring(1, 64, 1),
                "64 memories",
            ),
            (
                stackpack_testkit::guests::declaring(1, 1, 5000),
                "5000 tables",
            ),
        ] {
            let err = rt
                .load(PluginSpec {
                    name: "greedy".into(),
                    wasm: Arc::from(bytes),
                    grants: Grants::default(),
                    config: BTreeMap::new(),
                    limits: Limits::default(),
                })
                .err()
                .expect("refused");
            assert!(matches!(err, PluginError::TooLarge { .. }), "{err}");
            assert!(
                err.to_string()
                    .contains(&format!("plugin greedy declares {what}"))
            );
        }
        assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 0);
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
        assert!(plugin.compile_time().is_some());
        let mut cached: Vec<String> = std::fs::read_dir(cache.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        cached.sort();
        assert_eq!(cached.len(), 2, "the code and its record: {cached:?}");
        assert!(cached[0].ends_with(".cwasm") && cached[1].ends_with(".json"));
        let again = rt.load(spec(b)).unwrap();
        assert_eq!(again.code_source(), CodeSource::Cached);
        // The compile time comes from the cache's record.
        assert_eq!(
            again.compile_time().map(|t| t.as_millis()),
            plugin.compile_time().map(|t| t.as_millis())
        );
        assert_eq!(again.cache_file(), plugin.cache_file());
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
