//! `register`, and registration at the end of `install` / after `remove`.
//!
//! Every pack is read, validated and decided by the override policies first; only when
//! all policies answered are the packs written, one transaction each. So a failing
//! policy leaves the registry as it was.

use std::collections::BTreeMap;
use std::path::PathBuf;

use stackpack_plugin::Plugin;
use stackpack_registry::{
    OverridePolicy, PackInput, PackReport, PolicyContext, PolicyFailure, PolicyResource, Prepared,
    Problem, ProblemKind, RegisterType, Registered, Registry, RegistryError, ResourceKind, Runners,
    ScanOptions, Selection, Verdict,
};
use stackpack_site::{InstalledPack, PackState};

use crate::error::OpsError;
use crate::session::Session;

/// What to register.
#[derive(Debug, Clone, Default)]
pub struct RegisterRequest {
    /// Packs to register; empty: every active pack in every packs base path, and
    /// registered packs no longer on disk are unregistered.
    pub packs: Vec<String>,
    /// Also load each pack's config (`<root>/configs/<pack>.yaml`), validated by its
    /// schema.
    pub configs: bool,
    /// Refuse a pack with any invalid file (its previous registration is kept) instead
    /// of skipping the file.
    pub fail_on_failure: bool,
    /// Hand the registered packs to st2 too, when st2 is configured.
    pub st2: bool,
    /// The kinds of content to register (`--types`, st2's names); empty: every
    /// resource type, and configs when `configs`. Kinds not named keep their previous
    /// registration, and no pack is unregistered.
    pub types: Vec<RegisterType>,
}

/// The result of one registration run.
#[derive(Debug, Default, serde::Serialize)]
pub struct RegisterReport {
    pub packs: Vec<PackReport>,
    /// Packs removed from the registry because they are gone from disk.
    pub unregistered: Vec<String>,
    /// Configs loaded (`--configs`).
    pub configs: usize,
    /// Packs that could not be read at all (invalid pack.yaml), with why.
    pub skipped: Vec<Skipped>,
    /// What is registered but deserves a look: a config schema default that breaks its own
    /// property (st2 registers such schemas too).
    pub warnings: Vec<Warning>,
    /// The handoff to st2, when one ran.
    #[serde(skip)]
    pub st2: Option<crate::st2::Handoff>,
}

#[derive(Debug, serde::Serialize)]
pub struct Skipped {
    pub pack: String,
    pub reason: String,
}

/// A warning about one file of a pack (relative to the pack directory).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Warning {
    pub pack: String,
    pub file: String,
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}: {}", self.pack, self.file, self.message)
    }
}

impl RegisterReport {
    /// st2's count object plus the details: `{"actions": 3, "actions(overridden)": 1,
    /// ..., "configs": 1, "packs": [...], ...}`.
    pub fn json(&self) -> serde_json::Value {
        let mut out = serde_json::Map::new();
        for (k, v) in stackpack_registry::st2_counts(&self.packs) {
            out.insert(k, v.into());
        }
        out.insert("configs".into(), self.configs.into());
        for (key, value) in [
            ("packs", serde_json::to_value(&self.packs)),
            ("unregistered", serde_json::to_value(&self.unregistered)),
            ("skipped", serde_json::to_value(&self.skipped)),
            ("warnings", serde_json::to_value(&self.warnings)),
        ] {
            out.insert(key.into(), value.unwrap_or_default());
        }
        if let Some(h) = &self.st2 {
            out.insert("st2".into(), serde_json::to_value(h).unwrap_or_default());
        }
        serde_json::Value::Object(out)
    }

    /// Whether a pack could not be read at all.
    pub fn failed(&self) -> bool {
        !self.skipped.is_empty()
    }
}

/// `stackpack register`.
pub fn register(s: &Session, req: &RegisterRequest) -> Result<RegisterReport, OpsError> {
    let targets: Vec<InstalledPack> = if req.packs.is_empty() {
        s.installed()?
            .iter()
            .filter(|p| p.is_active())
            .cloned()
            .collect()
    } else {
        let mut seen: Vec<InstalledPack> = Vec::new();
        for name in &req.packs {
            let p = crate::packs::installed(s, name)?;
            if !seen.iter().any(|q| q.path == p.path) {
                seen.push(p);
            }
        }
        seen
    };
    let mut selection = if req.types.is_empty() {
        Selection::all()
    } else {
        Selection::of(&req.types)
    };
    selection.configs |= req.configs;
    let prune = req.packs.is_empty() && selection.is_all();
    let mut report = run(s, &targets, prune, &selection, req.fail_on_failure)?;
    if req.st2 {
        let packs: Vec<String> = report.packs.iter().map(|p| p.pack.clone()).collect();
        let local = stackpack_registry::st2_counts(&report.packs);
        let types: Option<Vec<&'static str>> =
            (!req.types.is_empty()).then(|| req.types.iter().map(|t| t.st2_name()).collect());
        report.st2 = crate::st2::handoff(
            s,
            &packs,
            Some(&local),
            req.fail_on_failure,
            types.as_deref(),
        );
    }
    Ok(report)
}

/// Registers packs just installed (by ref); used by `install`.
pub fn register_installed(s: &Session, refs: &[String]) -> Result<RegisterReport, OpsError> {
    let all = s.installed()?;
    let targets: Vec<InstalledPack> = refs
        .iter()
        .filter_map(|r| stackpack_site::find(&all, r).cloned())
        .collect();
    run(s, &targets, false, &Selection::all(), false)
}

/// Where the registry lags the packs on disk ([`lagging`]).
#[derive(Debug, Default)]
pub struct Lag {
    /// Locked packs not registered, or registered at another version or from another
    /// source than the lockfile records.
    pub unregistered: Vec<String>,
    /// Registered packs that are in no packs base path.
    pub gone: Vec<String>,
}

/// Compares the registry with the lockfile and the packs on disk, reading the registry
/// in one query (a missing registry: every locked pack is unregistered). Only readable
/// packs in `<root>/packs` count as locked (the lockfile describes those).
pub fn lagging(s: &Session) -> Result<Lag, OpsError> {
    let heads = match Registry::open_existing(&s.root.registry_db()) {
        Ok(Some(r)) => r.heads()?,
        // An older schema is migrated by the registration that follows.
        Ok(None) | Err(RegistryError::Outdated { .. }) => BTreeMap::new(),
        Err(e) => return Err(e.into()),
    };
    let lock = s.lockfile()?;
    let all = s.installed()?;
    let packs_dir = s.root.packs_dir();
    let unregistered = lock
        .packs
        .iter()
        .filter(|p| {
            stackpack_site::find(&all, &p.ref_)
                .is_some_and(|i| i.base_path == packs_dir && i.meta().is_some())
        })
        .filter(|p| {
            heads
                .get(&p.ref_)
                .is_none_or(|h| h.version != p.version || h.source != p.origin().to_string())
        })
        .map(|p| p.ref_.clone())
        .collect();
    let gone = heads
        .keys()
        .filter(|r| !all.iter().any(|i| &i.ref_ == *r))
        .cloned()
        .collect();
    Ok(Lag { unregistered, gone })
}

/// Removes packs from the registry (after `remove`); a missing registry is fine.
pub fn unregister(s: &Session, refs: &[String]) -> Result<(), OpsError> {
    if refs.is_empty() || !s.root.registry_db().exists() {
        return Ok(());
    }
    let mut registry = Registry::open(&s.root.registry_db())?;
    for r in refs {
        registry.unregister(r)?;
    }
    Ok(())
}

/// What the registry holds for `pack` (`None`: no registry, or not registered).
pub fn registered(s: &Session, pack: &str) -> Result<Option<Registered>, OpsError> {
    match Registry::open_existing(&s.root.registry_db())? {
        Some(r) => Ok(r.registered(pack)?),
        None => Ok(None),
    }
}

/// Where each pack came from, from the lockfile (`git:github.com/o/r@<commit>`);
/// packs stackpack did not install are `unmanaged:<path>`.
fn sources(s: &Session) -> BTreeMap<String, String> {
    let lock = match s.lockfile() {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!("{e}; policies will see every pack as unmanaged");
            return BTreeMap::new();
        }
    };
    lock.packs
        .iter()
        .map(|p| (p.ref_.clone(), p.origin().to_string()))
        .collect()
}

/// The override files that apply to `pack`, `_global.yaml` first, as (label, text).
fn overrides(s: &Session, pack: &str) -> Result<Vec<(String, String)>, OpsError> {
    let dir = s.root.overrides_dir();
    let mut out = Vec::new();
    for name in ["_global", pack] {
        let path = dir.join(format!("{name}.yaml"));
        match stackpack_fs::read_limited(&path, stackpack_core::yaml::MAX_FILE_BYTES) {
            Ok(bytes) => {
                let text = String::from_utf8(bytes).map_err(|_| OpsError::OverrideFile {
                    path: path.clone(),
                    reason: "not UTF-8 text".into(),
                    fix: "save it as UTF-8 YAML",
                })?;
                out.push((format!("overrides/{name}.yaml"), text));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                let fix = match e.kind() {
                    std::io::ErrorKind::FileTooLarge | std::io::ErrorKind::InvalidInput => {
                        "make it a regular YAML file of a few KiB"
                    }
                    _ => "check its permissions",
                };
                return Err(OpsError::OverrideFile {
                    path,
                    reason: format!("cannot be read: {e}"),
                    fix,
                });
            }
        }
    }
    Ok(out)
}

/// A pack's `config.schema.yaml` as registration sees it.
struct SchemaCheck {
    /// The schema, when the pack has a valid one.
    schema: Option<stackpack_config::ConfigSchema>,
    /// Why the schema cannot be registered.
    problem: Option<Problem>,
}

const SCHEMA_FILE: &str = "config.schema.yaml";

/// Checks the pack's config.schema.yaml with st2's rules, as st2 does whenever it
/// registers a pack: no file is fine (a schema is optional); an invalid one is a problem.
fn check_schema(pack: &InstalledPack) -> SchemaCheck {
    let problem = |message: String| SchemaCheck {
        schema: None,
        problem: Some(Problem {
            kind: ProblemKind::Config,
            file: SCHEMA_FILE.to_string(),
            message,
        }),
    };
    // Read only when a regular file: a fifo planted there would block the read.
    let path = pack.path.join(SCHEMA_FILE);
    let text =
        match stackpack_fs::read_to_string_limited(&path, stackpack_core::yaml::MAX_FILE_BYTES) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return SchemaCheck {
                    schema: None,
                    problem: None,
                };
            }
            Err(e) => return problem(format!("cannot be read: {e}")),
        };
    match stackpack_config::ConfigSchema::parse(&text) {
        Ok(schema) => SchemaCheck {
            schema: Some(schema),
            problem: None,
        },
        Err(e) => problem(e.to_string()),
    }
}

/// Validates `<root>/configs/<pack>.yaml` against the pack's schema.
fn load_config(
    s: &Session,
    pack: &InstalledPack,
    schema: &SchemaCheck,
) -> Result<Option<(PathBuf, serde_json::Value)>, String> {
    let configs = s.root.configs_dir();
    let values = match stackpack_config::read_config(&configs, &pack.ref_) {
        Ok(Some(v)) => v,
        Ok(None) => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    if schema.problem.is_some() {
        return Err(format!(
            "not loaded: the pack's {SCHEMA_FILE} is invalid, so the config cannot be \
             validated; fix the schema and register again"
        ));
    }
    if let Some(schema) = &schema.schema {
        schema
            .check(&pack.ref_, &values)
            .map_err(|e| e.to_string())?;
    }
    let path = stackpack_config::config_path(&configs, &pack.ref_).map_err(|e| e.to_string())?;
    Ok(Some((path, values)))
}

type Decided = (Prepared, Option<(PathBuf, serde_json::Value)>);

fn run(
    s: &Session,
    targets: &[InstalledPack],
    prune: bool,
    selection: &Selection,
    fail_on_failure: bool,
) -> Result<RegisterReport, OpsError> {
    let configs = selection.configs;
    // No packs and no registry yet (a fresh or mistyped --root): touch nothing, not
    // even the plugin cache.
    if targets.is_empty() && !s.root.registry_db().exists() {
        tracing::warn!(
            "no packs found in {} or the other packs base paths: nothing to register, \
             nothing written (check --root)",
            s.root.packs_dir().display()
        );
        return Ok(RegisterReport::default());
    }
    let chain: Vec<PluginPolicy> = s.policies()?.iter().map(PluginPolicy).collect();
    let sources = sources(s);
    let mut report = RegisterReport::default();

    // Decide everything before writing anything.
    let mut prepared: Vec<Decided> = Vec::new();
    for pack in targets {
        let _task = (targets.len() > 1).then(|| {
            stackpack_core::Task::start(s.progress.as_ref(), &format!("reading {}", pack.ref_))
        });
        let meta = match &pack.meta {
            PackState::Valid(m) => m,
            PackState::Invalid(reason) => {
                report.skipped.push(Skipped {
                    pack: pack.ref_.clone(),
                    reason: format!("{}: {reason}", pack.path.display()),
                });
                continue;
            }
        };
        let input = PackInput {
            meta,
            dir: &pack.path,
            source: sources
                .get(&pack.ref_)
                .cloned()
                .unwrap_or_else(|| format!("unmanaged:{}", pack.path.display())),
            environment: s.settings.environment.clone(),
            overrides: overrides(s, &pack.ref_)?,
            scan: ScanOptions {
                selection: selection.clone(),
                runners: Runners {
                    extra: s.settings.registry.extra_runners.clone(),
                },
            },
        };
        let schema = check_schema(pack);
        if let Some(schema) = &schema.schema {
            report
                .warnings
                .extend(schema.warnings().iter().map(|w| Warning {
                    pack: pack.ref_.clone(),
                    file: SCHEMA_FILE.to_string(),
                    message: w.to_string(),
                }));
        }
        let mut p = match stackpack_registry::prepare(&input, &chain, fail_on_failure) {
            Err(RegistryError::InvalidContent { pack, mut problems }) => {
                problems.extend(schema.problem.clone());
                return Err(RegistryError::InvalidContent { pack, problems }.into());
            }
            other => other?,
        };
        if let Some(problem) = schema.problem.clone() {
            if fail_on_failure {
                return Err(RegistryError::InvalidContent {
                    pack: pack.ref_.clone(),
                    problems: vec![problem],
                }
                .into());
            }
            p.push_problem(problem);
        }
        let config = if configs {
            match load_config(s, pack, &schema) {
                Ok(c) => c,
                Err(message) => {
                    let problem = Problem {
                        kind: ProblemKind::Config,
                        file: format!("configs/{}.yaml", pack.ref_),
                        message,
                    };
                    if fail_on_failure {
                        return Err(RegistryError::InvalidContent {
                            pack: pack.ref_.clone(),
                            problems: vec![problem],
                        }
                        .into());
                    }
                    p.push_problem(problem);
                    None
                }
            }
        } else {
            None
        };
        prepared.push((p, config));
    }

    stackpack_fs::fault::point("register-prepared", "");
    s.root.ensure()?;
    let mut registry = Registry::open(&s.root.registry_db())?;
    for (p, config) in prepared {
        let pack = p.pack().to_string();
        report.packs.push(registry.commit(p)?);
        if let Some((path, values)) = config {
            registry.set_config(&pack, &path, &values)?;
            report.configs += 1;
        }
    }
    if prune {
        let on_disk: Vec<&str> = targets.iter().map(|p| p.ref_.as_str()).collect();
        for pack in registry.packs()? {
            if !on_disk.contains(&pack.as_str()) {
                registry.unregister(&pack)?;
                report.unregistered.push(pack);
            }
        }
    }
    stackpack_fs::fault::point("register-end", "");
    Ok(report)
}

/// An override-policy plugin as the registry sees it: the registry's types go to the
/// plugin's WIT types here, at the plugin boundary, and the answers come back.
pub struct PluginPolicy<'a>(pub &'a Plugin);

impl OverridePolicy for PluginPolicy<'_> {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn decide(
        &self,
        ctx: &PolicyContext,
        resources: &[PolicyResource],
    ) -> Result<Result<Vec<Verdict>, String>, PolicyFailure> {
        use stackpack_plugin as wit;
        let ctx = wit::PackContext {
            pack: wit::PackSummary {
                name: ctx.pack.name.clone(),
                version: ctx.pack.version.clone(),
                description: ctx.pack.description.clone(),
                metadata: ctx.pack.metadata.clone(),
            },
            source: ctx.source.clone(),
            environment: ctx.environment.clone(),
            overrides: ctx.overrides.clone(),
        };
        let resources: Vec<wit::PackResource> = resources
            .iter()
            .map(|r| wit::PackResource {
                kind: match r.kind {
                    ResourceKind::Action => wit::ResourceKind::Action,
                    ResourceKind::Alias => wit::ResourceKind::Alias,
                    ResourceKind::Rule => wit::ResourceKind::Rule,
                    ResourceKind::Sensor => wit::ResourceKind::Sensor,
                },
                ref_: r.ref_.clone(),
                name: r.name.clone(),
                enabled: r.enabled,
                file: r.file.clone(),
                metadata: r.metadata.clone(),
            })
            .collect();
        let answer = self.0.decide(&ctx, &resources).map_err(Box::new)?;
        Ok(answer.map(|verdicts| {
            verdicts
                .into_iter()
                .map(|v| match v {
                    wit::Verdict::Keep => Verdict::Keep,
                    wit::Verdict::Enable(r) => Verdict::Enable(r),
                    wit::Verdict::Disable(r) => Verdict::Disable(r),
                })
                .collect()
        }))
    }
}
