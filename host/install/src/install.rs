//! `install`: resolve every reference and its dependencies, fetch them all into
//! staging and check them, and only then swap them into `<root>/packs`. A conflict
//! anywhere in the graph installs nothing.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cap_std::fs::Dir;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use stackpack_core::{PackMeta, PackRef, RefKind, SYSTEM_PACKS, parse_pack_yaml};
use stackpack_fetch::{ArchiveKind, GitCache, LocalSource, Net, WantRef};
use stackpack_net::SafeUrl;
use stackpack_plugin::{ArchiveFormat, GitRef, Plugin, Resolution};
use stackpack_site::{InstalledPack, Root, discover, find};

use crate::error::InstallError;
use crate::lock::RootLock;
use crate::lockfile::{LockedPack, Lockfile, SourceKind};
use crate::resolve::{Located, ResolverChain};
use crate::stage::{Staging, fault_point};

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
    /// Build virtualenvs after the swap (the venv step reads this; none exists yet).
    pub venv: bool,
    /// Register content after the swap (the register step reads this; none exists yet).
    pub register: bool,
    /// The configured python (`python_binary`), asked for its version only when a pack
    /// declares `python_versions`.
    pub python_binary: String,
    /// The enterprise `allowed_sources`: every resolution (git URL, archive URL, local
    /// path) must be under one of them, checked before anything is fetched.
    pub allowed_sources: Option<crate::sources::SourcePolicy>,
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
            venv: true,
            register: true,
            python_binary: "python3".to_string(),
            allowed_sources: None,
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

/// One reference to fetch.
#[derive(Debug, Clone)]
struct Want {
    raw: String,
    /// Who asked: "the command line" or the requiring pack's ref.
    by: String,
    /// Index of the top-level reference this serves.
    top: usize,
    /// The pack name when known before fetching (index names, dependency names).
    name: Option<String>,
    dependency: bool,
}

/// A pack fetched into staging and checked.
struct Staged {
    slot: String,
    meta: PackMeta,
    entry: LockedPack,
    matched: Option<String>,
    /// The version requested, as written (`=x`), if any.
    requested: Option<String>,
    warnings: Vec<String>,
    /// The installed copy is this very commit/archive and intact: nothing to swap.
    unchanged: bool,
}

/// What identifies fetched content before fetching it all.
enum Pin {
    Git(stackpack_fetch::ResolvedRev),
    Archive(String),
    None,
}

/// A pack in the plan.
struct Node {
    staged: Staged,
    want: Want,
    tops: BTreeSet<usize>,
}

pub fn install(env: &Env, raws: &[String], opts: &InstallOptions) -> Result<Report, InstallError> {
    let root_dir = env.root.ensure()?;
    let _lock = RootLock::acquire(env.root.path(), opts.lock_timeout)?;
    let staging = Staging::new(&root_dir, env.root.path())?;
    let installed = discover(&env.search_paths)?;
    let lockfile_path = env.root.lockfile();
    let mut lockfile = Lockfile::read(&lockfile_path)?;
    let chain = ResolverChain::new(env.plugins);
    let fetcher = Fetcher {
        env,
        opts,
        chain: &chain,
        lockfile: &lockfile,
        staging: &staging,
        python_major: std::sync::OnceLock::new(),
    };

    let mut failures: Vec<Option<String>> = vec![None; raws.len()];
    let mut wants: Vec<Want> = raws
        .iter()
        .enumerate()
        .map(|(top, raw)| Want {
            raw: raw.clone(),
            by: "the command line".into(),
            top,
            name: PackRef::parse(raw)
                .ok()
                .filter(|r| matches!(r.kind(), RefKind::IndexName))
                .map(|r| r.locator().to_string()),
            dependency: false,
        })
        .collect();
    let mut nodes: Vec<Node> = Vec::new();
    let mut warnings: Vec<String> = Vec::new();
    let progress = MultiProgress::new();

    while !wants.is_empty() {
        check_batch_conflicts(&wants)?;
        let batch = std::mem::take(&mut wants);
        let fetched = fetcher.fetch_all(&batch, &progress);
        for (want, result) in batch.into_iter().zip(fetched) {
            let staged = match result {
                Ok(s) => s,
                Err(e) => {
                    // The result line names the reference already.
                    let text = e.to_string();
                    let shown = redact(&want.raw);
                    let text = text
                        .strip_prefix(&format!("{shown}: "))
                        .map(str::to_string)
                        .unwrap_or(text);
                    let reason = if want.dependency {
                        format!("dependency {shown} of {}: {text}", want.by)
                    } else {
                        text
                    };
                    failures[want.top].get_or_insert(reason);
                    continue;
                }
            };
            if let Some(node) = nodes
                .iter_mut()
                .find(|n| n.staged.meta.ref_ == staged.meta.ref_)
            {
                if !agrees(
                    &node.staged,
                    staged.requested.as_deref(),
                    Some(&staged.meta.version),
                ) {
                    return Err(conflict(&node.staged.meta.ref_, node, &staged, &want));
                }
                node.tops.insert(want.top);
                if !staged.unchanged {
                    staging.discard(&staged.slot);
                }
                continue;
            }
            warnings.extend(staged.warnings.iter().cloned());
            if !opts.skip_dependencies {
                let deps = plan_dependencies(&staged, &want, &nodes, &installed, &mut warnings)?;
                for dep in deps {
                    match dep {
                        Ok(w) => wants.push(w),
                        Err(reason) => {
                            failures[want.top].get_or_insert(reason);
                        }
                    }
                }
            }
            nodes.push(Node {
                tops: BTreeSet::from([want.top]),
                want,
                staged,
            });
        }
    }

    // Everything is staged and consistent: swap in, dependencies first.
    let packs_path = env.root.packs_dir();
    let packs = root_dir
        .open_dir(stackpack_site::root::PACKS_DIR)
        .map_err(InstallError::io("cannot open", &packs_path))?;
    let venvs_path = env.root.virtualenvs_dir();
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
                let bar = progress.add(ProgressBar::new_spinner());
                bar.set_message(format!("virtualenv of {name}"));
                bar.enable_steady_tick(Duration::from_millis(100));
                let built = stackpack_venv::ensure(&venvs_path, name, &tree, cfg, false);
                bar.finish_and_clear();
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
        lockfile.write(&env.root.path().join(stackpack_site::root::LOCKFILE))?;
    }
    fault_point("after-lockfile");

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
            redact(&node.want.raw),
            Some(node.want.by.clone()),
        ));
    }
    Ok(Report { results, warnings })
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
            source: s.entry.source.clone(),
            matched: s.matched.clone(),
            commit: s.entry.commit.clone(),
            replaced,
            unchanged: s.unchanged,
            venv,
        },
    }
}

fn redact(raw: &str) -> String {
    stackpack_core::redact_url(raw)
}

/// Does a request for `requested` (any version when None) agree with the pack already
/// planned? It does when it names the planned version or the same ref, or when what it
/// fetched (`fetched`, once known) is the planned version.
fn agrees(planned: &Staged, requested: Option<&str>, fetched: Option<&str>) -> bool {
    let norm = |v: &str| v.trim_start_matches('v').to_string();
    let planned_version = norm(&planned.meta.version);
    match requested {
        None => true,
        Some(r) => {
            norm(r) == planned_version
                || planned.requested.as_deref().map(norm) == Some(norm(r))
                || fetched.map(norm) == Some(planned_version)
        }
    }
}

fn conflict(pack: &str, node: &Node, staged: &Staged, want: &Want) -> InstallError {
    let label = |s: &Staged| match &s.requested {
        Some(r) => format!("{pack}={r} ({})", s.meta.version),
        None => format!("{pack} {}", s.meta.version),
    };
    InstallError::Conflict {
        pack: pack.to_string(),
        first: label(&node.staged),
        first_by: node.want.by.clone(),
        second: label(staged),
        second_by: want.by.clone(),
    }
}

/// Two wants in one batch for the same pack name with different versions conflict
/// before anything is fetched.
fn check_batch_conflicts(wants: &[Want]) -> Result<(), InstallError> {
    for (i, a) in wants.iter().enumerate() {
        for b in &wants[i + 1..] {
            let (Some(na), Some(nb)) = (&a.name, &b.name) else {
                continue;
            };
            if na != nb {
                continue;
            }
            let va = PackRef::parse(&a.raw)
                .ok()
                .and_then(|r| r.requested().map(str::to_string));
            let vb = PackRef::parse(&b.raw)
                .ok()
                .and_then(|r| r.requested().map(str::to_string));
            if let (Some(va), Some(vb)) = (&va, &vb)
                && va.trim_start_matches('v') != vb.trim_start_matches('v')
            {
                return Err(InstallError::Conflict {
                    pack: na.clone(),
                    first: format!("{na}={va}"),
                    first_by: a.by.clone(),
                    second: format!("{nb}={vb}"),
                    second_by: b.by.clone(),
                });
            }
        }
    }
    Ok(())
}

/// The dependencies of a staged pack that still need fetching. Each entry is a want,
/// or the reason the requesting top-level reference fails.
fn plan_dependencies(
    staged: &Staged,
    want: &Want,
    nodes: &[Node],
    installed: &[InstalledPack],
    warnings: &mut Vec<String>,
) -> Result<Vec<Result<Want, String>>, InstallError> {
    let me = &staged.meta.ref_;
    let mut out = Vec::new();
    for dep in &staged.meta.dependencies {
        let parsed = match PackRef::parse(dep) {
            Ok(p) => p,
            Err(e) => {
                out.push(Err(format!(
                    "pack {me} lists an invalid dependency {dep:?}: {e}"
                )));
                continue;
            }
        };
        let name = match parsed.kind() {
            RefKind::IndexName => parsed.locator().to_string(),
            _ => parsed.dependency_name(),
        };
        let requested = parsed.requested();
        if let Some(node) = nodes.iter().find(|n| n.staged.meta.ref_ == name) {
            if !agrees(&node.staged, requested, None) {
                return Err(InstallError::Conflict {
                    pack: name.clone(),
                    first: match &node.staged.requested {
                        Some(r) => format!("{name}={r} ({})", node.staged.meta.version),
                        None => format!("{name} {}", node.staged.meta.version),
                    },
                    first_by: node.want.by.clone(),
                    second: redact(dep),
                    second_by: me.clone(),
                });
            }
            continue;
        }
        let present = find(installed, &name);
        if SYSTEM_PACKS.contains(&name.as_str()) {
            if present.is_none() {
                warnings.push(format!(
                    "pack {me} depends on {name}, which ships with StackStorm and is not installed in any packs base path"
                ));
            }
            continue;
        }
        if let Some(p) = present
            && let Some(m) = p.meta()
            && requested.is_none_or(|r| r.trim_start_matches('v') == m.version)
        {
            tracing::debug!(
                "dependency {name} of {me} is satisfied by {}",
                p.path.display()
            );
            continue;
        }
        out.push(Ok(Want {
            raw: dep.clone(),
            by: me.clone(),
            top: want.top,
            name: Some(name),
            dependency: true,
        }));
    }
    Ok(out)
}

/// Resolves and fetches wants into staging.
struct Fetcher<'a> {
    env: &'a Env<'a>,
    opts: &'a InstallOptions,
    chain: &'a ResolverChain<'a>,
    lockfile: &'a Lockfile,
    staging: &'a Staging,
    /// Resolved on first need: running python costs ~100 ms through a pyenv shim.
    python_major: std::sync::OnceLock<u32>,
}

impl Fetcher<'_> {
    /// Fetches a batch in parallel, with a spinner per reference (hidden when stderr is
    /// not a terminal).
    fn fetch_all(
        &self,
        batch: &[Want],
        progress: &MultiProgress,
    ) -> Vec<Result<Staged, InstallError>> {
        let style = ProgressStyle::with_template("{spinner} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        std::thread::scope(|scope| {
            let handles: Vec<_> = batch
                .iter()
                .map(|want| {
                    let bar = progress.add(ProgressBar::new_spinner().with_style(style.clone()));
                    bar.set_message(format!("fetching {}", redact(&want.raw)));
                    bar.enable_steady_tick(Duration::from_millis(100));
                    scope.spawn(move || {
                        let r = self.fetch(want);
                        bar.finish_and_clear();
                        r
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(InstallError::Resolve {
                            reference: "?".into(),
                            message: "internal error: a fetch thread panicked".into(),
                        })
                    })
                })
                .collect()
        })
    }

    fn fetch(&self, want: &Want) -> Result<Staged, InstallError> {
        let parsed = PackRef::parse(&want.raw)?;
        let shown = parsed.to_string();
        let located = if self.opts.locked {
            self.locate_locked(want, &parsed)?
        } else {
            self.chain.locate(&parsed)?
        };
        // The one place every resolution passes (resolver or lockfile) before any fetch.
        if let Some(policy) = &self.opts.allowed_sources {
            policy.check(&shown, &located.resolved.resolution)?;
        }
        let pin = self.pin(&shown, &located)?;
        if let Some(staged) = self.unchanged(&located, &pin, &parsed) {
            return Ok(staged);
        }
        let (slot, dir) = self.staging.slot()?;
        let staged = self
            .fetch_into(&shown, &parsed, &located, pin, &dir)
            .and_then(|(entry, matched, warnings)| {
                let meta = self.check(&shown, &dir, &self.staging.slot_path(&slot))?;
                let tree_sha256 = crate::tree::tree_digest(&dir).ok();
                Ok((entry, matched, warnings, meta, tree_sha256))
            });
        match staged {
            Ok((entry, matched, warnings, meta, tree_sha256)) => Ok(Staged {
                entry: LockedPack {
                    ref_: meta.ref_.clone(),
                    version: meta.version.clone(),
                    tree_sha256,
                    ..entry
                },
                slot,
                meta,
                matched,
                requested: parsed.requested().map(str::to_string),
                warnings,
                unchanged: false,
            }),
            Err(e) => {
                self.staging.discard(&slot);
                Err(e)
            }
        }
    }

    /// Resolves what identifies the content: the commit of a git ref (this fetches it
    /// into the git cache), or an archive's pinned digest.
    fn pin(&self, shown: &str, located: &Located) -> Result<Pin, InstallError> {
        Ok(match &located.resolved.resolution {
            Resolution::Git(g) => {
                let want = match &g.ref_ {
                    GitRef::DefaultBranch => WantRef::DefaultBranch,
                    GitRef::Any(x) => WantRef::Any(x.clone()),
                    GitRef::Branch(x) => WantRef::Branch(x.clone()),
                    GitRef::Tag(x) => WantRef::Tag(x.clone()),
                    GitRef::Commit(x) => WantRef::Commit(x.clone()),
                };
                let rev =
                    self.env
                        .git
                        .resolve(&g.url, &want)
                        .map_err(|source| InstallError::Fetch {
                            reference: shown.to_string(),
                            source,
                        })?;
                Pin::Git(rev)
            }
            Resolution::Archive(a) => Pin::Archive(
                a.digest
                    .strip_prefix("sha256:")
                    .unwrap_or(&a.digest)
                    .to_ascii_lowercase(),
            ),
            Resolution::Local(_) => Pin::None,
        })
    }

    /// The installed pack, when the lockfile says it came from this very commit or
    /// archive and its tree is still exactly what was installed.
    fn unchanged(&self, located: &Located, pin: &Pin, parsed: &PackRef) -> Option<Staged> {
        let (commit, sha, matched) = match pin {
            Pin::Git(rev) => (Some(rev.commit.as_str()), None, Some(rev.matched.clone())),
            Pin::Archive(sha) => (None, Some(sha.as_str()), None),
            Pin::None => return None,
        };
        let entry = self.lockfile.packs.iter().find(|e| {
            e.source == located.resolved.canonical
                && (commit.is_some() && e.commit.as_deref() == commit
                    || sha.is_some() && e.sha256.as_deref() == sha)
        })?;
        let recorded = entry.tree_sha256.as_deref()?;
        let dir = Dir::open_ambient_dir(
            self.env.root.packs_dir().join(&entry.ref_),
            cap_std::ambient_authority(),
        )
        .ok()?;
        if crate::tree::tree_digest(&dir).ok()?.as_str() != recorded {
            tracing::info!(
                "pack {} was modified since it was installed; replacing it",
                entry.ref_
            );
            return None;
        }
        let meta = parse_pack_yaml(&dir.read_to_string("pack.yaml").ok()?, None).ok()?;
        (meta.ref_ == entry.ref_).then(|| Staged {
            slot: String::new(),
            meta,
            entry: entry.clone(),
            matched,
            requested: parsed.requested().map(str::to_string),
            warnings: Vec::new(),
            unchanged: true,
        })
    }

    /// A lockfile entry as if a resolver had answered.
    fn locate_locked(&self, want: &Want, parsed: &PackRef) -> Result<Located, InstallError> {
        let name = want
            .name
            .clone()
            .unwrap_or_else(|| parsed.dependency_name());
        let entry = self
            .lockfile
            .get(&name)
            .ok_or_else(|| InstallError::NotLocked {
                pack: name.clone(),
                path: self.env.root.lockfile(),
            })?;
        let resolution = match entry.kind {
            SourceKind::Git => Resolution::Git(stackpack_plugin::GitSource {
                url: entry.url.clone(),
                ref_: GitRef::Commit(entry.commit.clone().unwrap_or_default()),
                subdir: entry.subdir.clone(),
            }),
            SourceKind::Archive => Resolution::Archive(stackpack_plugin::ArchiveSource {
                url: entry.url.clone(),
                digest: format!("sha256:{}", entry.sha256.clone().unwrap_or_default()),
                format: if entry.archive_format.as_deref() == Some("zip") {
                    ArchiveFormat::Zip
                } else {
                    ArchiveFormat::TarGz
                },
                strip_prefix: entry.subdir.clone(),
            }),
            SourceKind::Local => Resolution::Local(entry.url.clone()),
        };
        Ok(Located {
            resolved: stackpack_plugin::Resolved {
                resolution,
                canonical: entry.source.clone(),
                summary: None,
            },
            resolver: entry.resolver.clone(),
            resolver_sha256: entry.resolver_sha256.clone(),
        })
    }

    /// Fetches a located pack into `dir`: (lock entry without ref/version, how the ref
    /// matched, warnings).
    fn fetch_into(
        &self,
        shown: &str,
        parsed: &PackRef,
        located: &Located,
        pin: Pin,
        dir: &Dir,
    ) -> Result<(LockedPack, Option<String>, Vec<String>), InstallError> {
        let fetch_err = |source| InstallError::Fetch {
            reference: shown.to_string(),
            source,
        };
        let mut entry = LockedPack {
            ref_: String::new(),
            version: String::new(),
            source: located.resolved.canonical.clone(),
            kind: SourceKind::Git,
            url: String::new(),
            subdir: None,
            commit: None,
            sha256: None,
            archive_format: None,
            resolver: located.resolver.clone(),
            resolver_sha256: located.resolver_sha256.clone(),
            tree_sha256: None,
        };
        let mut warnings = Vec::new();
        let mut matched = None;
        match &located.resolved.resolution {
            Resolution::Git(g) => {
                let Pin::Git(rev) = pin else {
                    return Err(InstallError::Resolve {
                        reference: shown.to_string(),
                        message: "internal error: git source without a resolved commit".into(),
                    });
                };
                self.env
                    .git
                    .export(&g.url, &rev.commit, g.subdir.as_deref(), dir)
                    .map_err(fetch_err)?;
                entry.url = without_credentials(&g.url);
                entry.subdir = g.subdir.clone();
                entry.commit = Some(rev.commit);
                matched = Some(rev.matched);
            }
            Resolution::Archive(a) => {
                let kind = match a.format {
                    ArchiveFormat::Zip => ArchiveKind::Zip,
                    ArchiveFormat::TarGz => ArchiveKind::TarGz,
                };
                let sha = stackpack_fetch::fetch_archive(
                    self.env.net,
                    &a.url,
                    &a.digest,
                    kind,
                    a.strip_prefix.as_deref(),
                    self.env.root.cache_dir(),
                    self.opts.offline,
                    dir,
                )
                .map_err(fetch_err)?;
                entry.kind = SourceKind::Archive;
                entry.url = without_credentials(&a.url);
                entry.subdir = a.strip_prefix.clone();
                entry.sha256 = Some(sha);
                entry.archive_format = Some(
                    match a.format {
                        ArchiveFormat::Zip => "zip",
                        ArchiveFormat::TarGz => "tar.gz",
                    }
                    .into(),
                );
            }
            Resolution::Local(path) => {
                let path = Path::new(path);
                if !path.is_absolute() {
                    return Err(InstallError::Resolve {
                        reference: shown.to_string(),
                        message: format!(
                            "plugin {} answered with a relative path {}; local sources must be absolute",
                            located.resolver,
                            path.display()
                        ),
                    });
                }
                entry.kind = SourceKind::Local;
                entry.url = path.display().to_string();
                match stackpack_fetch::inspect_local(path).map_err(fetch_err)? {
                    LocalSource::Git { dirty, .. } => {
                        if dirty {
                            warnings.push(format!(
                                "{shown}: the work tree has uncommitted changes; installing its last commit (HEAD) only. Commit them to install them"
                            ));
                        }
                        let commit =
                            stackpack_fetch::export_local_head(path, dir).map_err(fetch_err)?;
                        matched = Some(format!("HEAD {}", &commit[..commit.len().min(12)]));
                        entry.commit = Some(commit);
                    }
                    LocalSource::Plain => {
                        if parsed.requested().is_some() {
                            warnings.push(format!(
                                "{shown}: {} is not a git repository, so the version after '=' is ignored",
                                path.display()
                            ));
                        }
                        stackpack_fetch::copy_dir(path, dir).map_err(fetch_err)?;
                    }
                }
            }
        }
        Ok((entry, matched, warnings))
    }

    /// The configured python's major version; 3 when it cannot be run (the venv step
    /// then reports why).
    fn python_major(&self) -> u32 {
        *self.python_major.get_or_init(|| {
            match stackpack_venv::python_version(&self.opts.python_binary) {
                Ok((major, _, _)) => major,
                Err(e) => {
                    tracing::debug!("{e}; assuming python 3 for python_versions checks");
                    3
                }
            }
        })
    }

    /// Reads and checks the staged pack.yaml (spec §2; ref rules fix Q10).
    fn check(&self, shown: &str, dir: &Dir, path: &Path) -> Result<PackMeta, InstallError> {
        let invalid = |message: String| InstallError::InvalidPack {
            reference: shown.to_string(),
            message,
        };
        let text = match dir.read_to_string("pack.yaml") {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(invalid(format!(
                    "Pack \"{shown}\" is missing pack.yaml file; a pack's root must hold its pack.yaml"
                )));
            }
            Err(e) => {
                return Err(invalid(format!(
                    "cannot read {}: {e}",
                    path.join("pack.yaml").display()
                )));
            }
        };
        let meta = parse_pack_yaml(&text, None).map_err(|e| {
            invalid(format!(
                "pack.yaml is invalid: {}",
                e.to_string().lines().collect::<Vec<_>>().join("; ")
            ))
        })?;
        if !self.opts.force {
            if let Some(spec) = &meta.stackstorm_version {
                stackpack_core::check_stackstorm_version(
                    &meta.name,
                    spec,
                    &self.opts.stackstorm_version,
                )
                .map_err(|e| invalid(e.to_string()))?;
            }
            if !meta.python_versions.is_empty() {
                stackpack_core::python_versions_ok(&meta.python_versions, self.python_major())
                    .map_err(|e| invalid(format!("Pack \"{}\": {e}", meta.name)))?;
            }
        }
        Ok(meta)
    }
}

/// A URL without credentials, for the lockfile ([`SafeUrl::without_credentials`]): no
/// password anywhere, no user name except on ssh (`git@`). A URL without userinfo is
/// kept as written.
fn without_credentials(url: &str) -> String {
    match SafeUrl::parse(url) {
        Ok(u) if u.has_userinfo() => u.without_credentials().to_string(),
        _ => url.to_string(),
    }
}
