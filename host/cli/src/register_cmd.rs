//! `stackpack register`, and registration at the end of `install` / after `remove`.
//!
//! Every pack is read, validated and decided by the override policies first; only when
//! all policies answered are the packs written, one transaction each. So a failing
//! policy leaves the registry as it was.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use stackpack_plugin::{NoNetwork, Plugin};
use stackpack_registry::{PackInput, PackReport, Prepared, Problem, Registry, ResourceType};
use stackpack_site::{InstalledPack, PackState, discover};

use crate::context::Context;
use crate::error::CliError;
use crate::{output, plugins};

#[derive(Debug, clap::Args)]
pub struct RegisterArgs {
    /// Packs to register (default: every pack in every packs base path; registered
    /// packs no longer on disk are then unregistered)
    #[arg(value_name = "PACK")]
    pub packs: Vec<String>,
    /// Also load each pack's config (<root>/configs/<pack>.yaml), validated by its schema
    #[arg(long)]
    pub configs: bool,
    /// Refuse a pack with any invalid file (its previous registration is kept) and
    /// exit 1, instead of skipping the file
    #[arg(long)]
    pub fail_on_failure: bool,
}

/// The result of one run.
#[derive(Debug, Default, serde::Serialize)]
pub struct Outcome {
    pub packs: Vec<PackReport>,
    /// Packs removed from the registry because they are gone from disk.
    pub unregistered: Vec<String>,
    /// Configs loaded (`--configs`).
    pub configs: usize,
    /// Packs that could not be read at all (invalid pack.yaml), with why.
    pub skipped: Vec<Skipped>,
}

#[derive(Debug, serde::Serialize)]
pub struct Skipped {
    pub pack: String,
    pub reason: String,
}

impl Outcome {
    /// st2's count object plus the details: `{"actions": 3, "actions(overridden)": 1,
    /// ..., "configs": 1, "packs": [...], ...}`.
    pub fn json(&self) -> serde_json::Value {
        let mut out = serde_json::Map::new();
        for (k, v) in stackpack_registry::st2_counts(&self.packs) {
            out.insert(k, v.into());
        }
        out.insert("configs".into(), self.configs.into());
        out.insert(
            "packs".into(),
            serde_json::to_value(&self.packs).unwrap_or_default(),
        );
        out.insert(
            "unregistered".into(),
            serde_json::to_value(&self.unregistered).unwrap_or_default(),
        );
        out.insert(
            "skipped".into(),
            serde_json::to_value(&self.skipped).unwrap_or_default(),
        );
        serde_json::Value::Object(out)
    }
}

pub fn register(ctx: &Context, args: &RegisterArgs) -> Result<(), CliError> {
    let all = discover(&ctx.search_paths())?;
    let targets: Vec<InstalledPack> = if args.packs.is_empty() {
        all.into_iter().filter(|p| p.is_active()).collect()
    } else {
        let mut seen = Vec::new();
        for name in &args.packs {
            let p = crate::packs::installed(ctx, name)?;
            if !seen.iter().any(|q: &InstalledPack| q.path == p.path) {
                seen.push(p);
            }
        }
        seen
    };
    let outcome = run(
        ctx,
        &targets,
        args.packs.is_empty(),
        args.configs,
        args.fail_on_failure,
    )?;
    print(ctx, &outcome)?;
    if args.fail_on_failure && !outcome.skipped.is_empty() {
        return Err(CliError::Reported);
    }
    Ok(())
}

/// Registers packs just installed (by ref); used by `install`.
pub fn register_installed(ctx: &Context, refs: &[String]) -> Result<Outcome, CliError> {
    let all = discover(&ctx.search_paths())?;
    let targets: Vec<InstalledPack> = refs
        .iter()
        .filter_map(|r| stackpack_site::find(&all, r).cloned())
        .collect();
    run(ctx, &targets, false, false, false)
}

/// Removes packs from the registry (after `remove`); a missing registry is fine.
pub fn unregister(ctx: &Context, refs: &[String]) -> Result<(), CliError> {
    if refs.is_empty() || !ctx.root.registry_db().exists() {
        return Ok(());
    }
    let mut registry = Registry::open(&ctx.root.registry_db()).map_err(Box::new)?;
    for r in refs {
        registry.unregister(r).map_err(Box::new)?;
    }
    Ok(())
}

/// The override policies, in chain order (the built-in `default` last).
fn policies(ctx: &Context) -> Result<Vec<Plugin>, CliError> {
    // Policies have no network import; nothing here needs the network.
    let rt = plugins::runtime(ctx, Arc::new(NoNetwork))?;
    plugins::load_policies(ctx, &rt)
}

/// Where each pack came from, from the lockfile (`git:github.com/o/r@<commit>`);
/// packs stackpack did not install are `unmanaged:<path>`.
fn sources(ctx: &Context) -> BTreeMap<String, String> {
    let lock = match stackpack_install::Lockfile::read(&ctx.root.lockfile()) {
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
fn overrides(ctx: &Context, pack: &str) -> Result<Vec<(String, String)>, CliError> {
    let dir = ctx.root.overrides_dir();
    let mut out = Vec::new();
    for name in ["_global", pack] {
        let path = dir.join(format!("{name}.yaml"));
        match std::fs::read(&path) {
            Ok(bytes) => {
                let text = String::from_utf8(bytes).map_err(|_| {
                    CliError::Usage(format!(
                        "override file {} is not UTF-8 text; save it as UTF-8 YAML",
                        path.display()
                    ))
                })?;
                out.push((format!("overrides/{name}.yaml"), text));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(CliError::Usage(format!(
                    "cannot read override file {}: {e}; check its permissions",
                    path.display()
                )));
            }
        }
    }
    Ok(out)
}

/// Validates `<root>/configs/<pack>.yaml` against the pack's schema.
fn load_config(
    ctx: &Context,
    pack: &InstalledPack,
) -> Result<Option<(std::path::PathBuf, serde_json::Value)>, String> {
    let configs = ctx.root.configs_dir();
    let values = match stackpack_config::read_config(&configs, &pack.ref_) {
        Ok(Some(v)) => v,
        Ok(None) => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let schema_path = pack.path.join("config.schema.yaml");
    if let Ok(text) = std::fs::read_to_string(&schema_path) {
        let schema = stackpack_config::ConfigSchema::parse(&text)
            .map_err(|e| format!("{}: {e}", schema_path.display()))?;
        schema
            .check(&pack.ref_, &values)
            .map_err(|e| e.to_string())?;
    }
    let path = stackpack_config::config_path(&configs, &pack.ref_).map_err(|e| e.to_string())?;
    Ok(Some((path, values)))
}

fn run(
    ctx: &Context,
    targets: &[InstalledPack],
    prune: bool,
    configs: bool,
    fail_on_failure: bool,
) -> Result<Outcome, CliError> {
    // No packs and no registry yet (a fresh or mistyped --root): touch nothing, not
    // even the plugin cache.
    if targets.is_empty() && !ctx.root.registry_db().exists() {
        tracing::warn!(
            "no packs found in {} or the other packs base paths: nothing to register, \
             nothing written (check --root)",
            ctx.root.packs_dir().display()
        );
        return Ok(Outcome::default());
    }
    let policies = policies(ctx)?;
    let chain: Vec<&Plugin> = policies.iter().collect();
    let sources = sources(ctx);
    let mut outcome = Outcome::default();

    // Decide everything before writing anything.
    let mut prepared: Vec<(Prepared, Option<(std::path::PathBuf, serde_json::Value)>)> = Vec::new();
    let bar = output::spinner(targets.len() > 1, "reading packs");
    for pack in targets {
        bar.set_message(pack.ref_.clone());
        let meta = match &pack.meta {
            PackState::Valid(m) => m,
            PackState::Invalid(reason) => {
                outcome.skipped.push(Skipped {
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
            environment: ctx.settings.environment.clone(),
            overrides: overrides(ctx, &pack.ref_)?,
        };
        let mut p =
            stackpack_registry::prepare(&input, &chain, fail_on_failure).map_err(Box::new)?;
        let config = if configs {
            match load_config(ctx, pack) {
                Ok(c) => c,
                Err(message) => {
                    let problem = Problem {
                        kind: ResourceType::Action,
                        file: format!("configs/{}.yaml", pack.ref_),
                        message,
                    };
                    if fail_on_failure {
                        return Err(Box::new(stackpack_registry::RegistryError::InvalidContent {
                            pack: pack.ref_.clone(),
                            problems: vec![problem],
                        })
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
    bar.finish_and_clear();

    ctx.root.ensure()?;
    let mut registry = Registry::open(&ctx.root.registry_db()).map_err(Box::new)?;
    for (p, config) in prepared {
        let pack = p.pack().to_string();
        outcome.packs.push(registry.commit(p).map_err(Box::new)?);
        if let Some((path, values)) = config {
            registry
                .set_config(&pack, &path, &values)
                .map_err(Box::new)?;
            outcome.configs += 1;
        }
    }
    if prune {
        let on_disk: Vec<&str> = targets.iter().map(|p| p.ref_.as_str()).collect();
        for pack in registry.packs().map_err(Box::new)? {
            if !on_disk.contains(&pack.as_str()) {
                registry.unregister(&pack).map_err(Box::new)?;
                outcome.unregistered.push(pack);
            }
        }
    }
    Ok(outcome)
}

fn plural(n: usize, t: ResourceType) -> String {
    if n == 1 {
        format!("1 {t}")
    } else {
        format!("{n} {}", t.plural())
    }
}

/// One line per pack: `hello_st2: 2 actions (1 overridden), 1 sensor`.
pub fn summary(r: &PackReport) -> String {
    let parts: Vec<String> = ResourceType::ALL
        .into_iter()
        .filter_map(|t| {
            let n = *r.registered.get(&t)?;
            let o = r.overridden.get(&t).copied().unwrap_or(0);
            Some(if o > 0 {
                format!("{} ({o} overridden)", plural(n, t))
            } else {
                plural(n, t)
            })
        })
        .collect();
    let mut line = if parts.is_empty() {
        "no content".to_string()
    } else {
        parts.join(", ")
    };
    if !r.removed.is_empty() {
        let gone: Vec<String> = r
            .removed
            .iter()
            .map(|x| format!("{} {}", x.kind, x.ref_))
            .collect();
        line.push_str(&format!("; removed {}", gone.join(", ")));
    }
    line
}

/// Warnings for files that were skipped.
pub fn warn_problems(pack: &str, problems: &[Problem]) {
    for p in problems {
        tracing::warn!("{pack}: skipped {p}");
    }
}

fn print(ctx: &Context, outcome: &Outcome) -> Result<(), CliError> {
    for r in &outcome.packs {
        warn_problems(&r.pack, &r.problems);
    }
    for s in &outcome.skipped {
        tracing::warn!("skipped pack {}: {}", s.pack, s.reason);
    }
    if ctx.json {
        return output::json(&outcome.json());
    }
    for r in &outcome.packs {
        println!("Registered {}: {}", r.pack, summary(r));
    }
    for p in &outcome.unregistered {
        println!("Unregistered {p}: no longer installed");
    }
    let counts = stackpack_registry::st2_counts(&outcome.packs);
    let totals: Vec<String> = ResourceType::ALL
        .into_iter()
        .map(|t| {
            let n = counts.get(t.plural()).copied().unwrap_or(0);
            match counts.get(&format!("{}(overridden)", t.plural())) {
                Some(o) => format!("{} ({o} overridden)", plural(n, t)),
                None => plural(n, t),
            }
        })
        .collect();
    let configs = if outcome.configs > 0 {
        format!(", {} config(s)", outcome.configs)
    } else {
        String::new()
    };
    println!(
        "Registered {} pack(s): {}{configs}.",
        outcome.packs.len(),
        totals.join(", ")
    );
    Ok(())
}

/// Rows for `get`: counts and the policies' verdicts, when the pack is registered.
pub fn get_rows(ctx: &Context, pack: &str) -> Result<Vec<(&'static str, String)>, CliError> {
    let Some(reg) = registered(ctx.root.registry_db().as_path(), pack)? else {
        return Ok(vec![(
            "registered",
            "no (run `stackpack register`)".to_string(),
        )]);
    };
    let mut rows = Vec::new();
    let counts: Vec<String> = reg
        .counts
        .iter()
        .map(|(t, c)| {
            let mut s = match ResourceType::parse(t) {
                Some(kind) => plural(c.total, kind),
                None => format!("{} {t}", c.total),
            };
            if c.disabled > 0 {
                s.push_str(&format!(
                    " ({} enabled, {} disabled)",
                    c.enabled, c.disabled
                ));
            }
            s
        })
        .collect();
    rows.push((
        "registered",
        if counts.is_empty() {
            "no content".to_string()
        } else {
            counts.join(", ")
        },
    ));
    for d in &reg.decisions {
        let state = if d.enabled { "enabled" } else { "disabled" };
        rows.push((
            "override",
            format!(
                "{} {} {state} by {}: {}",
                d.kind, d.ref_, d.policy, d.reason
            ),
        ));
    }
    Ok(rows)
}

/// What the registry holds for `pack` (`None`: no registry, or not registered).
pub fn registered(
    db: &Path,
    pack: &str,
) -> Result<Option<stackpack_registry::Registered>, CliError> {
    match Registry::open_existing(db).map_err(Box::new)? {
        Some(r) => Ok(r.registered(pack).map_err(Box::new)?),
        None => Ok(None),
    }
}
