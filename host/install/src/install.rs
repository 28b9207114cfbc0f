//! `install`: resolve every reference and its dependencies, fetch them all into
//! staging and check them, and only then swap them into `<root>/packs`. A conflict
//! anywhere in the graph installs nothing.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use stackpack_core::{PackRef, Task};
use stackpack_fetch::{GitCache, Net};
use stackpack_fs::fault;
use stackpack_plugin::Plugin;
use stackpack_site::{Root, discover, find};

use crate::error::InstallError;
use crate::fetcher::{Fetcher, Staged};
use crate::journal::{self, Journal, Recovered};
use crate::lock::RootLock;
use crate::lockfile::Lockfile;
use crate::plan::{
    InstalledCopy, Planned, Want, agrees, check_batch_conflicts, check_identity, conflict_fetched,
    dependents, failure_reason, plan_dependencies, same_version,
};
use crate::resolve::ResolverChain;
use crate::stage::Staging;

/// The StackStorm version packs are checked against unless configured otherwise.
pub const DEFAULT_STACKSTORM_VERSION: &str = "3.9.0";

#[derive(Debug, Clone)]
pub struct InstallOptions {
    pub skip_dependencies: bool,
    /// Skip the stackstorm_version / python_versions checks.
    pub force: bool,
    /// Install exactly what the lockfile says, without asking resolvers.
    pub locked: bool,
    pub offline: bool,
    pub lock_timeout: Duration,
    pub stackstorm_version: String,
    /// The configured python (`python_binary`), asked for its version only when a pack
    /// declares `python_versions`.
    pub python_binary: String,
    /// The enterprise `allowed_sources`: every resolution (git URL, archive URL, local
    /// path) must be under one of them, checked before anything is fetched.
    pub allowed_sources: Option<crate::sources::SourcePolicy>,
    /// Size limits of each fetched tree (entries, bytes, bytes of one file).
    pub tree_limits: stackpack_fetch::TreeLimits,
}

impl Default for InstallOptions {
    fn default() -> Self {
        InstallOptions {
            skip_dependencies: false,
            force: false,
            locked: false,
            offline: false,
            lock_timeout: Duration::from_secs(300),
            stackstorm_version: DEFAULT_STACKSTORM_VERSION.to_string(),
            python_binary: "python3".to_string(),
            allowed_sources: None,
            tree_limits: stackpack_fetch::TreeLimits::default(),
        }
    }
}

/// What an install works with.
pub struct Env<'a> {
    pub root: &'a Root,
    pub search_paths: Vec<PathBuf>,
    /// Resolver plugins in chain order (others are ignored).
    pub plugins: &'a [Plugin],
    pub net: &'a Net,
    pub git: &'a GitCache,
    /// How to build virtualenvs; `None` skips them (`--no-venv`).
    pub venv: Option<&'a stackpack_venv::VenvConfig>,
    /// Where fetches and venv builds report (one task each).
    pub progress: &'a dyn stackpack_core::Progress,
}

/// The outcome for one requested reference, or for a dependency it pulled in.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PackResult {
    /// As typed (credentials redacted), or the dependency spec.
    pub requested: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dependency_of: Option<String>,
    #[serde(flatten)]
    pub outcome: Outcome,
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Outcome {
    Installed {
        #[serde(rename = "ref")]
        ref_: String,
        version: String,
        source: String,
        /// How the git ref matched ("tag v1.2.0", "default branch main"...).
        #[serde(skip_serializing_if = "Option::is_none")]
        matched: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        commit: Option<String>,
        /// The version this replaced, if any.
        #[serde(skip_serializing_if = "Option::is_none")]
        replaced: Option<String>,
        /// Already installed from the same commit or archive, intact: left as it was.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        unchanged: bool,
        /// The pack's virtualenv, when it has Python content.
        #[serde(skip_serializing_if = "Option::is_none")]
        venv: Option<stackpack_venv::VenvReport>,
    },
    Removed {
        #[serde(rename = "ref")]
        ref_: String,
        version: String,
        path: String,
    },
    Failed {
        reason: String,
    },
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Report {
    pub results: Vec<PackResult>,
    pub warnings: Vec<String>,
    /// What this run finished of an interrupted run's journal before starting.
    #[serde(skip)]
    pub recovered: Recovered,
}

impl Report {
    pub fn failed(&self) -> bool {
        self.results
            .iter()
            .any(|r| matches!(r.outcome, Outcome::Failed { .. }))
    }

    /// The refs of the packs installed (or found unchanged) by this run.
    pub fn installed(&self) -> Vec<String> {
        self.results
            .iter()
            .filter_map(|r| match &r.outcome {
                Outcome::Installed { ref_, .. } => Some(ref_.clone()),
                _ => None,
            })
            .collect()
    }

    /// The refs of the packs removed by this run.
    pub fn removed(&self) -> Vec<String> {
        self.results
            .iter()
            .filter_map(|r| match &r.outcome {
                Outcome::Removed { ref_, .. } => Some(ref_.clone()),
                _ => None,
            })
            .collect()
    }
}

/// A pack in the plan.
struct Node {
    staged: Staged,
    want: Want,
    tops: BTreeSet<usize>,
}

impl Node {
    fn planned(&self) -> Planned<'_> {
        Planned {
            name: &self.staged.meta.ref_,
            version: &self.staged.meta.version,
            requested: self.staged.requested.as_deref(),
            by: &self.want.by,
        }
    }
}

pub fn install(env: &Env, raws: &[String], opts: &InstallOptions) -> Result<Report, InstallError> {
    let root_dir = env.root.ensure()?;
    let _lock = RootLock::acquire(env.root.path(), opts.lock_timeout)?;
    let recovered = journal::recover(env.root.path())?;
    install_held(env, &root_dir, raws, opts, None, recovered)
}

/// [`install`] with the root lock held and the journal recovered by the caller. With
/// `opts.locked`, the entries come from `locked_from` when given (a desired lockfile),
/// else from the root's own lockfile.
pub(crate) fn install_held(
    env: &Env,
    root_dir: &cap_std::fs::Dir,
    raws: &[String],
    opts: &InstallOptions,
    locked_from: Option<&Lockfile>,
    recovered: Recovered,
) -> Result<Report, InstallError> {
    let staging = Staging::new(root_dir, env.root.path())?;
    let installed = discover(&env.search_paths)?;
    let lockfile_path = env.root.lockfile();
    let mut lockfile = Lockfile::read(&lockfile_path)?;
    // The lockfile with each pack's tree digest as taken on this root (a lockfile
    // written by `sync` records the digests of the root it was made on).
    let seen = crate::sync::with_local_digests(env.root.path(), &lockfile);
    let chain = ResolverChain::new(env.plugins);
    let fetcher = Fetcher {
        env,
        opts,
        chain: &chain,
        lockfile: &seen,
        locked: locked_from.unwrap_or(&seen),
        staging: &staging,
        git: env
            .git
            .clone()
            .with_lock_timeout(opts.lock_timeout)
            .with_tree_limits(opts.tree_limits),
        resolved: Default::default(),
        python: std::sync::OnceLock::new(),
    };

    let mut failures: Vec<Option<String>> = vec![None; raws.len()];
    let mut wants: Vec<Want> = Vec::new();
    for (top, raw) in raws.iter().enumerate() {
        match PackRef::parse(raw) {
            Ok(reference) => wants.push(Want::top_level(reference, top)),
            Err(e) => failures[top] = Some(e.to_string()),
        }
    }
    let mut nodes: Vec<Node> = Vec::new();
    let mut warnings: Vec<String> = Vec::new();

    let packs_path = env.root.packs_dir();
    let mut level = 0usize;
    while !wants.is_empty() {
        check_batch_conflicts(&wants)?;
        let batch = std::mem::take(&mut wants);
        let fetched = fetcher.fetch_all(&batch);
        // The whole batch joins the plan before any dependency is planned, so that a
        // dependency sees every pack asked for at this level (a pack named on the
        // command line after the one depending on it included).
        let first_new = nodes.len();
        level += 1;
        fault::point("install-fetched", &level.to_string());
        for (want, result) in batch.into_iter().zip(fetched) {
            let staged = match result {
                Ok(s) => s,
                Err(e) => {
                    failures[want.top].get_or_insert(failure_reason(&want, &e));
                    continue;
                }
            };
            let found = &staged.meta.ref_;
            let copy = installed
                .iter()
                .find(|p| p.ref_ == *found && p.base_path == packs_path && p.is_active())
                .and_then(|p| p.meta())
                .map(|m| InstalledCopy {
                    version: &m.version,
                    from: lockfile.get(found).map(|e| e.canonical.as_str()),
                });
            match check_identity(&want, found, &staged.entry.canonical, copy, opts.force) {
                Ok(warning) => warnings.extend(warning),
                Err(e) => {
                    failures[want.top].get_or_insert(failure_reason(&want, &e));
                    if !staged.unchanged {
                        staging.discard(&staged.slot);
                    }
                    continue;
                }
            }
            if let Some(node) = nodes
                .iter_mut()
                .find(|n| n.staged.meta.ref_ == staged.meta.ref_)
            {
                let planned = node.planned();
                let second = Planned {
                    name: &staged.meta.ref_,
                    version: &staged.meta.version,
                    requested: staged.requested.as_deref(),
                    by: &want.by,
                };
                if !agrees(&planned, second.requested, Some(second.version)) {
                    return Err(conflict_fetched(&planned, &second));
                }
                node.tops.insert(want.top);
                if !staged.unchanged {
                    staging.discard(&staged.slot);
                }
                continue;
            }
            warnings.extend(staged.warnings.iter().cloned());
            nodes.push(Node {
                tops: BTreeSet::from([want.top]),
                want,
                staged,
            });
        }
        if opts.skip_dependencies {
            continue;
        }
        for i in first_new..nodes.len() {
            let planned: Vec<Planned> = nodes.iter().map(Node::planned).collect();
            let node = &nodes[i];
            let deps = plan_dependencies(
                &node.staged.meta,
                &node.want,
                &planned,
                &installed,
                opts.force,
                &mut warnings,
            )?;
            for dep in deps {
                match dep {
                    Ok(w) => wants.push(w),
                    Err(reason) => {
                        failures[node.want.top].get_or_insert(reason);
                    }
                }
            }
        }
    }

    // Installed packs whose dependencies the new versions no longer satisfy: st2 does not
    // look, so this only warns (a dependency that forces such a change was refused above
    // unless --force).
    let changing: Vec<&str> = nodes.iter().map(|n| n.staged.meta.ref_.as_str()).collect();
    for node in nodes.iter().filter(|n| !n.want.dependency) {
        let name = &node.staged.meta.ref_;
        let Some(old) = find(&installed, name).and_then(|p| p.meta()) else {
            continue;
        };
        if same_version(&old.version, &node.staged.meta.version) {
            continue;
        }
        let broken = dependents(&installed, name, &changing, Some(&node.staged.meta.version));
        if !broken.is_empty() {
            warnings.push(format!(
                "{name} {} replaces {}, which installed packs require: {}; they may stop working until they are updated",
                node.staged.meta.version,
                old.version,
                broken.join(", ")
            ));
        }
    }

    fault::point("install-staged", "");

    // Everything is staged and consistent. The intents go to the journal before the
    // first virtualenv or pack changes (see `journal`), then venvs are built and packs
    // swapped in, dependencies first, then the lockfile is written.
    let packs = root_dir
        .open_dir(stackpack_site::root::PACKS_DIR)
        .map_err(InstallError::io("cannot open", &packs_path))?;
    let venvs_path = env.root.virtualenvs_dir();
    let mut intents = Vec::new();
    for node in nodes.iter_mut().rev() {
        if node.staged.unchanged || node.tops.iter().all(|t| failures[*t].is_some()) {
            continue;
        }
        let name = node.staged.meta.ref_.clone();
        let digest = staging
            .carry_legacy_config(&node.staged.slot, &packs, &packs_path, &name)
            .and_then(|added| {
                staging.slot_digests(&node.staged.slot, node.staged.manifest.as_ref(), added)
            });
        match digest {
            Ok((fingerprint, content)) => {
                node.staged.entry.tree_sha256 = Some(fingerprint);
                node.staged.entry.tree_content_sha256 = Some(content);
                intents.push(node.staged.entry.clone());
            }
            Err(e) => {
                for t in &node.tops {
                    failures[*t].get_or_insert(e.to_string());
                }
            }
        }
    }
    let journal = Journal::installing(intents);
    if !journal.is_empty() {
        journal.write(env.root.path())?;
    }
    fault::point("install-journal-written", "");

    let mut installed_nodes: Vec<(&Node, Option<String>, Option<stackpack_venv::VenvReport>)> =
        Vec::new();
    for node in nodes.iter().rev() {
        if node.tops.iter().all(|t| failures[*t].is_some()) {
            if !node.staged.unchanged {
                staging.discard(&node.staged.slot);
            }
            continue;
        }
        let name = &node.staged.meta.ref_;
        let previous = installed
            .iter()
            .find(|p| p.ref_ == *name && p.base_path == packs_path)
            .and_then(|p| p.meta().map(|m| m.version.clone()));
        // The virtualenv is built from the staged tree before the swap: if it fails,
        // the previous pack and its previous venv both stay as they were.
        let tree = if node.staged.unchanged {
            packs_path.join(name)
        } else {
            staging.slot_path(&node.staged.slot)
        };
        let venv = match env.venv {
            Some(cfg) if stackpack_venv::has_python_content(&tree) => {
                let task = Task::start(env.progress, &format!("virtualenv of {name}"));
                let built = stackpack_venv::ensure(&venvs_path, name, &tree, cfg, false);
                drop(task);
                fault::point("install-venv", name);
                match built {
                    Ok(report) => Some(report),
                    Err(e) => {
                        for t in &node.tops {
                            failures[*t].get_or_insert(format!("virtualenv for {name}: {e}"));
                        }
                        if !node.staged.unchanged {
                            staging.discard(&node.staged.slot);
                        }
                        continue;
                    }
                }
            }
            _ => None,
        };
        if node.staged.unchanged {
            lockfile.upsert(node.staged.entry.clone());
            installed_nodes.push((node, previous, venv));
            continue;
        }
        match staging.swap_into(&node.staged.slot, &packs, &packs_path, name) {
            Ok(_) => {
                fault::point("install-swapped", name);
                lockfile.upsert(node.staged.entry.clone());
                installed_nodes.push((node, previous, venv));
            }
            Err(e) => {
                for t in &node.tops {
                    failures[*t].get_or_insert(e.to_string());
                }
            }
        }
    }
    if !installed_nodes.is_empty() {
        lockfile.write(&lockfile_path)?;
    }
    fault::point("after-lockfile", "");
    if !journal.is_empty() {
        journal::clear(env.root.path())?;
    }
    fault::point("install-end", "");
    warnings.extend(recovered.warnings.iter().cloned());

    let mut results = Vec::new();
    for (top, raw) in raws.iter().enumerate() {
        if let Some(reason) = &failures[top] {
            results.push(PackResult {
                requested: redact(raw),
                dependency_of: None,
                outcome: Outcome::Failed {
                    reason: reason.clone(),
                },
            });
            continue;
        }
        let own = installed_nodes
            .iter()
            .find(|(n, _, _)| !n.want.dependency && n.want.top == top)
            .or_else(|| {
                // The same pack asked for twice: the first request's node serves both.
                installed_nodes
                    .iter()
                    .find(|(n, _, _)| n.tops.contains(&top) && !n.want.dependency)
            });
        if let Some((node, previous, venv)) = own {
            results.push(result_of(
                node,
                previous.clone(),
                venv.clone(),
                redact(raw),
                None,
            ));
        }
    }
    for (node, previous, venv) in installed_nodes.iter().filter(|(n, _, _)| n.want.dependency) {
        results.push(result_of(
            node,
            previous.clone(),
            venv.clone(),
            node.want.shown(),
            Some(node.want.by.clone()),
        ));
    }
    Ok(Report {
        results,
        warnings,
        recovered,
    })
}

fn result_of(
    node: &Node,
    replaced: Option<String>,
    venv: Option<stackpack_venv::VenvReport>,
    requested: String,
    dependency_of: Option<String>,
) -> PackResult {
    let s = &node.staged;
    PackResult {
        requested,
        dependency_of,
        outcome: Outcome::Installed {
            ref_: s.meta.ref_.clone(),
            version: s.meta.version.clone(),
            source: s.entry.canonical.clone(),
            matched: s.matched.clone(),
            commit: s.entry.pin.commit().map(str::to_string),
            replaced,
            unchanged: s.unchanged,
            venv,
        },
    }
}

fn redact(raw: &str) -> String {
    stackpack_core::redact_url(raw)
}
