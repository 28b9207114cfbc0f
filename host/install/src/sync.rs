//! `sync`: make a root exactly what a desired lockfile says. Packs the desired lockfile
//! records are installed from its entries (`install --locked`, taking the entries from
//! the desired lockfile) when missing, pinned differently, or drifted from the tree
//! this root recorded; packs the root's own lockfile records and the desired one lacks
//! are removed; packs stackpack did not install (not in the root's lockfile, or a
//! StackStorm system pack) are never touched. The desired bytes then become the root's
//! `stackpack.lock`, byte for byte.
//!
//! A lockfile's `tree_sha256` is a fingerprint of the tree on the root that wrote it
//! (it includes inodes and modification times), so a lockfile copied from another root
//! records digests that mean nothing here. `<root>/.stackpack-synced` keeps, for the
//! last applied desired lockfile, its sha256 and, per pack, the digest the lockfile
//! records beside the digest of the tree on this root. [`with_local_digests`] reads a
//! lockfile through it, so drift checks and `install` compare trees with what this
//! root installed. A lockfile that also records `tree_content_sha256` (the content
//! digest, the same on every root) lets a tree whose fingerprint differs count as intact
//! when its content matches ([`crate::tree::check`]).
//!
//! A desired lockfile may carry the files of `<root>/overrides/` (an OCI lockfile
//! artifact does): sync then makes that directory hold exactly those files, each
//! written atomically, and leaves `.stackpack-sync-register` until every pack was
//! registered again with them ([`REREGISTER_FILE`]). A desired lockfile without them
//! (a path, an https URL) leaves `overrides/` alone.
//!
//! Everything runs under the root lock, with the same journal, staging and atomic swap
//! as install and remove. A kill at any point leaves a root the next `sync` converges:
//! the journal is recovered, the differences computed again, and the state file is
//! written before the lockfile, so a root whose lockfile bytes are the desired ones has
//! recorded its own digests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cap_std::fs::Dir;
use serde::{Deserialize, Serialize};
use stackpack_core::SYSTEM_PACKS;
use stackpack_fs::fault;
use stackpack_site::Root;

use crate::error::InstallError;
use crate::install::{Env, InstallOptions, Report, install_held};
use crate::journal::{self, Recovered};
use crate::lock::RootLock;
use crate::lockfile::{LockedPack, Lockfile};
use crate::remove::remove_held;

/// `<root>/.stackpack-synced`: what the last sync applied (see the module docs).
pub const SYNC_STATE_FILE: &str = ".stackpack-synced";

/// `<root>/.stackpack-sync-register`: a sync changed `overrides/` and every pack has to
/// be registered again with them; removed once that registration succeeded.
pub const REREGISTER_FILE: &str = ".stackpack-sync-register";

/// The largest override file a desired lockfile may carry (as `register` reads them).
pub const MAX_OVERRIDE_BYTES: u64 = 4 << 20;

/// The most override files a desired lockfile may carry.
pub const MAX_OVERRIDE_FILES: usize = 4096;

/// The state file format this stackpack writes and reads.
const STATE_VERSION: u32 = 1;

/// The largest state file read (it holds two digests per pack).
const MAX_STATE_BYTES: u64 = 4 << 20;

/// What the last sync of a root applied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncState {
    pub version: u32,
    /// The sha256 of the desired lockfile's bytes.
    pub sha256: String,
    /// The revision applied, `sha256:<hex>`: an OCI artifact's manifest digest, else the
    /// lockfile's digest (missing in state files older than this field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// When it was applied (RFC 3339, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_at: Option<String>,
    /// Where it came from (a path, or a URL without credentials).
    pub source: String,
    /// Per pack, the digest the lockfile records and the digest of the tree here.
    #[serde(default)]
    pub packs: BTreeMap<String, Trees>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trees {
    /// `tree_sha256` as the desired lockfile records it.
    pub locked: Option<String>,
    /// The digest of `packs/<pack>` on this root right after the sync.
    pub local: String,
}

/// Reads `<root>/.stackpack-synced`; none when missing. A damaged one is ignored with a
/// warning: the next sync compares against the lockfile's own digests and rewrites it.
pub fn read_state(root: &Path) -> Option<SyncState> {
    let path = root.join(SYNC_STATE_FILE);
    let bytes = match stackpack_fs::read_limited(&path, MAX_STATE_BYTES) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!("ignoring {}: {e}", path.display());
            return None;
        }
    };
    match serde_json::from_slice::<SyncState>(&bytes) {
        Ok(s) if s.version == STATE_VERSION => Some(s),
        Ok(s) => {
            tracing::warn!(
                "ignoring {}: version {} is not supported",
                path.display(),
                s.version
            );
            None
        }
        Err(e) => {
            tracing::warn!("ignoring {}: {e}", path.display());
            None
        }
    }
}

/// `lock` with each pack's `tree_sha256` replaced by the digest this root recorded for
/// it at its last sync, where the lockfile still records what that sync wrote.
pub fn with_local_digests(root: &Path, lock: &Lockfile) -> Lockfile {
    let Some(state) = read_state(root) else {
        return lock.clone();
    };
    let mut out = lock.clone();
    for p in &mut out.packs {
        if let Some(t) = state.packs.get(&p.ref_)
            && t.locked == p.tree_sha256
        {
            p.tree_sha256 = Some(t.local.clone());
        }
    }
    out
}

impl SyncState {
    /// The revision applied: the recorded digest, else the lockfile's.
    pub fn revision(&self) -> String {
        self.digest
            .clone()
            .unwrap_or_else(|| format!("sha256:{}", self.sha256))
    }
}

/// A desired lockfile: its bytes, parsed, and their sha256.
#[derive(Debug, Clone)]
pub struct Desired {
    /// Where it came from, for messages (a path, or a URL without credentials).
    pub source: String,
    pub bytes: Vec<u8>,
    pub lockfile: Lockfile,
    pub sha256: String,
    /// The revision it is, when its source names one (an OCI manifest digest,
    /// `sha256:<hex>`); else the lockfile's digest stands for it.
    pub revision: Option<String>,
    /// The files `<root>/overrides/` must hold (path relative to it → bytes), when the
    /// source carries them; none: `overrides/` is not sync's business.
    pub overrides: Option<BTreeMap<String, Vec<u8>>>,
}

impl Desired {
    /// Parses `bytes` read from `source`; an invalid lockfile is refused naming it.
    pub fn parse(source: &str, bytes: Vec<u8>) -> Result<Desired, InstallError> {
        let refuse = |reason: String| InstallError::Desired {
            from: source.to_string(),
            reason,
        };
        let text = std::str::from_utf8(&bytes).map_err(|e| refuse(format!("not UTF-8: {e}")))?;
        let lockfile = Lockfile::parse(text).map_err(refuse)?;
        Ok(Desired {
            source: source.to_string(),
            sha256: stackpack_plugin::sha256_hex(&bytes),
            bytes,
            lockfile,
            revision: None,
            overrides: None,
        })
    }

    /// The revision, `sha256:<hex>`: the source's (an OCI manifest digest), else the
    /// lockfile's.
    pub fn digest(&self) -> String {
        self.revision
            .clone()
            .unwrap_or_else(|| format!("sha256:{}", self.sha256))
    }

    /// Adds the files `overrides/` must hold; each path is checked with
    /// [`check_override_path`] and each file against [`MAX_OVERRIDE_BYTES`].
    pub fn with_overrides(
        mut self,
        files: BTreeMap<String, Vec<u8>>,
    ) -> Result<Desired, InstallError> {
        let refuse = |reason: String| InstallError::Desired {
            from: self.source.clone(),
            reason,
        };
        if files.len() > MAX_OVERRIDE_FILES {
            return Err(refuse(format!(
                "it carries {} override files, more than {MAX_OVERRIDE_FILES}",
                files.len()
            )));
        }
        for (path, bytes) in &files {
            check_override_path(path).map_err(|r| refuse(r.clone()))?;
            if bytes.len() as u64 > MAX_OVERRIDE_BYTES {
                return Err(refuse(format!(
                    "overrides/{path} is {} bytes, more than {MAX_OVERRIDE_BYTES}",
                    bytes.len()
                )));
            }
        }
        self.overrides = Some(files);
        Ok(self)
    }
}

/// An override file's path relative to `overrides/` is one or more plain names joined by
/// `/`: no `..`, no `.`, no empty part, nothing absolute, no NUL or backslash.
pub fn check_override_path(path: &str) -> Result<(), String> {
    let bad = path.is_empty()
        || path.starts_with('/')
        || path.contains('\\')
        || path.contains('\0')
        || path
            .split('/')
            .any(|part| part.is_empty() || part == "." || part == "..");
    if bad {
        Err(format!(
            "override path {path:?} is not a plain relative path under overrides/"
        ))
    } else {
        Ok(())
    }
}

/// One way the root differs from the desired lockfile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Difference {
    /// Recorded in the desired lockfile, not installed here.
    Missing { pack: String, new: String },
    /// Installed from another source or pin.
    Differs {
        pack: String,
        old: String,
        new: String,
    },
    /// Installed from the same pin, but the tree changed since it was installed.
    Drifted { pack: String, version: String },
    /// Installed by stackpack here, not in the desired lockfile.
    Extra { pack: String, old: String },
    /// In the desired lockfile, and in `packs/` here without stackpack having installed
    /// it (a hand-copied dir): sync does not replace it.
    Unmanaged { pack: String, path: PathBuf },
}

impl Difference {
    pub fn pack(&self) -> &str {
        match self {
            Difference::Missing { pack, .. }
            | Difference::Differs { pack, .. }
            | Difference::Drifted { pack, .. }
            | Difference::Extra { pack, .. }
            | Difference::Unmanaged { pack, .. } => pack,
        }
    }
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Difference::Missing { pack, new } => write!(f, "missing {pack}: {new}"),
            Difference::Differs { pack, old, new } => write!(f, "differs {pack}: {old} → {new}"),
            Difference::Drifted { pack, version } => write!(
                f,
                "drifted {pack} {version}: its files changed since it was installed"
            ),
            Difference::Extra { pack, old } => {
                write!(f, "extra {pack}: {old}, not in the desired lockfile")
            }
            Difference::Unmanaged { pack, path } => write!(
                f,
                "unmanaged {pack}: {} was not installed by stackpack; sync will not replace it",
                path.display()
            ),
        }
    }
}

/// One way `<root>/overrides/` differs from the files a desired lockfile carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OverrideDifference {
    /// The path under `overrides/`.
    pub path: String,
    /// `added` (desired, missing here), `changed` (other bytes here, or not a regular
    /// file) or `removed` (here, not desired).
    pub change: &'static str,
}

impl std::fmt::Display for OverrideDifference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.change {
            "added" => "is missing here",
            "changed" => "differs from the desired file",
            _ => "is not in the desired lockfile",
        };
        write!(f, "override overrides/{} {what}", self.path)
    }
}

/// How the root compares with a desired lockfile.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub differences: Vec<Difference>,
    /// How `overrides/` differs from the desired files (empty when the desired lockfile
    /// carries none).
    pub overrides: Vec<OverrideDifference>,
    /// `stackpack.lock` holds exactly the desired bytes.
    pub lockfile_matches: bool,
    /// `.stackpack-synced` records the desired lockfile's digest.
    pub recorded: bool,
}

impl Plan {
    /// The packs and the lockfile are what the desired lockfile says.
    pub fn matches(&self) -> bool {
        self.differences.is_empty() && self.overrides.is_empty() && self.lockfile_matches
    }

    /// Nothing to write: the root matches and records the desired digest.
    pub fn in_sync(&self) -> bool {
        self.matches() && self.recorded
    }
}

/// `version (pin)` of an entry, for people, with where it comes from when asked or when
/// nothing pins it.
fn described(p: &LockedPack, with_source: bool) -> String {
    let pin = p.pin.to_string();
    let mut out = p.version.clone();
    if !pin.is_empty() {
        out.push_str(&format!(" ({})", &pin[..pin.len().min(12)]));
    }
    if with_source || pin.is_empty() {
        out.push_str(&format!(" from {}", p.canonical));
    }
    out
}

/// Compares the root with `desired` without the root lock (what `sync --check` shows):
/// the lockfile as [`journal::current`] reads it. Writes nothing.
pub fn plan(root: &Root, desired: &Desired) -> Result<Plan, InstallError> {
    let own = journal::current(root.path())?;
    plan_with(root, &own, desired)
}

fn plan_with(root: &Root, own: &Lockfile, desired: &Desired) -> Result<Plan, InstallError> {
    let own = with_local_digests(root.path(), own);
    let packs = root.packs_dir();
    let mut differences = Vec::new();
    for want in &desired.lockfile.packs {
        let dir = packs.join(&want.ref_);
        let have = own.get(&want.ref_);
        let present = std::fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir());
        if have.is_none() && std::fs::symlink_metadata(&dir).is_ok() {
            differences.push(Difference::Unmanaged {
                pack: want.ref_.clone(),
                path: dir,
            });
            continue;
        }
        let Some(have) = have.filter(|_| present) else {
            differences.push(Difference::Missing {
                pack: want.ref_.clone(),
                new: described(want, false),
            });
            continue;
        };
        if have.source != want.source || have.pin != want.pin || have.canonical != want.canonical {
            let moved = have.source != want.source || have.canonical != want.canonical;
            differences.push(Difference::Differs {
                pack: want.ref_.clone(),
                old: described(have, moved),
                new: described(want, moved),
            });
            continue;
        }
        let intact = Dir::open_ambient_dir(&dir, cap_std::ambient_authority()).is_ok_and(|d| {
            crate::tree::check(
                &d,
                have.tree_sha256.as_deref(),
                have.tree_content_sha256.as_deref(),
            )
            .intact()
        });
        if !intact {
            differences.push(Difference::Drifted {
                pack: want.ref_.clone(),
                version: want.version.clone(),
            });
        }
    }
    for have in &own.packs {
        if desired.lockfile.get(&have.ref_).is_some() || SYSTEM_PACKS.contains(&have.ref_.as_str())
        {
            continue;
        }
        if std::fs::symlink_metadata(packs.join(&have.ref_)).is_ok() {
            differences.push(Difference::Extra {
                pack: have.ref_.clone(),
                old: described(have, false),
            });
        }
    }
    let lockfile_matches = match stackpack_fs::read_limited(&root.lockfile(), MAX_STATE_BYTES) {
        Ok(bytes) => bytes == desired.bytes,
        Err(_) => false,
    };
    let recorded = read_state(root.path())
        .is_some_and(|s| s.sha256 == desired.sha256 && s.revision() == desired.digest());
    let overrides = match &desired.overrides {
        Some(want) => override_differences(&root.overrides_dir(), want)?,
        None => Vec::new(),
    };
    Ok(Plan {
        differences,
        overrides,
        lockfile_matches,
        recorded,
    })
}

/// Override files by path under `overrides/`.
type OverrideFiles = BTreeMap<String, Vec<u8>>;

/// The regular files under `dir` (path relative to it, `/`-joined), and the paths of
/// anything else found (links, devices), without following a link. A missing `dir` holds
/// nothing; a `dir` that is a link is refused.
fn local_overrides(dir: &Path) -> Result<(OverrideFiles, Vec<String>), InstallError> {
    let mut files = BTreeMap::new();
    let mut other = Vec::new();
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((files, other)),
        Err(e) => return Err(InstallError::io("cannot read", dir)(e)),
        Ok(m) if !m.is_dir() => {
            return Err(InstallError::Io {
                action: "cannot sync the overrides in",
                path: dir.to_path_buf(),
                source: std::io::Error::other(
                    "it is not a directory (a link or a file); make it a plain directory",
                ),
            });
        }
        Ok(_) => {}
    }
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((at, rel)) = stack.pop() {
        let entries = std::fs::read_dir(&at).map_err(InstallError::io("cannot read", &at))?;
        for entry in entries {
            let entry = entry.map_err(InstallError::io("cannot read", &at))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            let rel = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let meta =
                std::fs::symlink_metadata(&path).map_err(InstallError::io("cannot read", &path))?;
            if meta.is_dir() {
                stack.push((path, rel));
            } else if meta.is_file() && meta.len() <= MAX_OVERRIDE_BYTES {
                let bytes = stackpack_fs::read_limited(&path, MAX_OVERRIDE_BYTES)
                    .map_err(InstallError::io("cannot read", &path))?;
                files.insert(rel, bytes);
            } else {
                other.push(rel);
            }
        }
        if files.len() + other.len() > 4 * MAX_OVERRIDE_FILES {
            return Err(InstallError::Io {
                action: "cannot sync the overrides in",
                path: dir.to_path_buf(),
                source: std::io::Error::other(format!(
                    "it holds more than {} entries",
                    4 * MAX_OVERRIDE_FILES
                )),
            });
        }
    }
    Ok((files, other))
}

fn override_differences(
    dir: &Path,
    want: &BTreeMap<String, Vec<u8>>,
) -> Result<Vec<OverrideDifference>, InstallError> {
    let (have, other) = local_overrides(dir)?;
    let mut out = Vec::new();
    for (path, bytes) in want {
        let change = match have.get(path) {
            Some(b) if b == bytes => continue,
            Some(_) => "changed",
            None if other.contains(path) => "changed",
            None => "added",
        };
        out.push(OverrideDifference {
            path: path.clone(),
            change,
        });
    }
    for path in have.keys().chain(&other) {
        if !want.contains_key(path) {
            out.push(OverrideDifference {
                path: path.clone(),
                change: "removed",
            });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Makes `dir` hold exactly `want`: each desired file written atomically (its parent
/// directories made, none of them a link), everything else removed, then the directories
/// left empty.
fn apply_overrides(dir: &Path, want: &BTreeMap<String, Vec<u8>>) -> Result<(), InstallError> {
    let refuse = |path: &Path, why: &str| InstallError::Io {
        action: "cannot sync the overrides in",
        path: path.to_path_buf(),
        source: std::io::Error::other(why.to_string()),
    };
    let (have, other) = local_overrides(dir)?;
    for path in have.keys().chain(&other) {
        if want.contains_key(path) && !other.contains(path) {
            continue;
        }
        let full = dir.join(path);
        std::fs::remove_file(&full).map_err(InstallError::io("cannot remove", &full))?;
    }
    for (path, bytes) in want {
        if have.get(path) == Some(bytes) {
            continue;
        }
        check_override_path(path).map_err(|r| refuse(dir, &r))?;
        let full = dir.join(path);
        // Each directory on the way is made here or already a plain directory.
        let mut at = dir.to_path_buf();
        let parts: Vec<&str> = path.split('/').collect();
        for part in std::iter::once("").chain(parts[..parts.len() - 1].iter().copied()) {
            if !part.is_empty() {
                at.push(part);
            }
            match std::fs::symlink_metadata(&at) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => return Err(refuse(&at, "it is not a plain directory")),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    std::fs::create_dir(&at).map_err(InstallError::io("cannot create", &at))?;
                }
                Err(e) => return Err(InstallError::io("cannot read", &at)(e)),
            }
        }
        stackpack_fs::write_atomic(&full, bytes, stackpack_fs::Mode::Default)
            .map_err(InstallError::io("cannot write", &full))?;
    }
    remove_empty_dirs(dir, true);
    Ok(())
}

/// Removes the empty directories under `dir` (not `dir` itself when `keep`).
fn remove_empty_dirs(dir: &Path, keep: bool) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                remove_empty_dirs(&entry.path(), false);
            }
        }
    }
    if !keep {
        // Fails while it still holds something, which is what is wanted.
        let _ = std::fs::remove_dir(dir);
    }
}

/// What [`sync`] did.
#[derive(Debug, Default)]
pub struct Synced {
    /// The differences found before anything changed (none: already in sync).
    pub plan: Option<Plan>,
    /// The install of the missing, differing and drifted packs, when one ran.
    pub install: Option<Report>,
    /// The removal of the extra packs, when one ran.
    pub remove: Option<Report>,
    /// The state file and the lockfile were written: the root now is the desired one.
    pub applied: bool,
    /// `overrides/` was changed: every pack is to be registered again
    /// ([`REREGISTER_FILE`] stays until then).
    pub overrides_changed: bool,
    /// What this run finished of an interrupted run's journal before starting.
    pub recovered: Recovered,
}

impl Synced {
    /// Some pack could not be installed or removed (the root is left partly synced and
    /// its lockfile describes it; run sync again once the cause is fixed).
    pub fn failed(&self) -> bool {
        self.install.as_ref().is_some_and(Report::failed)
            || self.remove.as_ref().is_some_and(Report::failed)
    }
}

/// Makes the root what `desired` says (see the module docs). `opts` are those of an
/// install; `locked` and `skip_dependencies` are implied (the desired lockfile records
/// every pack, dependencies included).
pub fn sync(env: &Env, desired: &Desired, opts: &InstallOptions) -> Result<Synced, InstallError> {
    let root_dir = env.root.ensure()?;
    let _lock = RootLock::acquire(env.root.path(), opts.lock_timeout)?;
    let recovered = journal::recover(env.root.path())?;
    let own = Lockfile::read(&env.root.lockfile())?;
    let plan = plan_with(env.root, &own, desired)?;
    let mut out = Synced {
        recovered,
        ..Synced::default()
    };
    if plan.in_sync() {
        out.plan = Some(plan);
        return Ok(out);
    }
    let unmanaged: Vec<String> = plan
        .differences
        .iter()
        .filter(|d| matches!(d, Difference::Unmanaged { .. }))
        .map(|d| d.pack().to_string())
        .collect();
    if !unmanaged.is_empty() {
        return Err(InstallError::SyncUnmanaged {
            packs: unmanaged,
            packs_dir: env.root.packs_dir(),
        });
    }
    fault::point("sync-planned", "");
    let to_install: Vec<String> = plan
        .differences
        .iter()
        .filter(|d| !matches!(d, Difference::Extra { .. }))
        .map(|d| d.pack().to_string())
        .collect();
    let extra: Vec<String> = plan
        .differences
        .iter()
        .filter(|d| matches!(d, Difference::Extra { .. }))
        .map(|d| d.pack().to_string())
        .collect();
    let overrides_plan = plan.overrides.clone();
    out.plan = Some(plan);
    if !to_install.is_empty() {
        let opts = InstallOptions {
            locked: true,
            skip_dependencies: true,
            ..opts.clone()
        };
        let report = install_held(
            env,
            &root_dir,
            &to_install,
            &opts,
            Some(&desired.lockfile),
            Recovered::default(),
        )?;
        out.install = Some(report);
        if out.failed() {
            return Ok(out);
        }
    }
    fault::point("sync-installed", "");
    if !extra.is_empty() {
        // Forced: the desired lockfile decides what stays, and packs needing an extra
        // one are being replaced by this sync. System packs are never extra.
        let report = remove_held(
            env.root,
            &root_dir,
            &env.search_paths,
            &extra,
            true,
            Recovered::default(),
        )?;
        out.remove = Some(report);
        if out.failed() {
            return Ok(out);
        }
    }
    fault::point("sync-removed", "");
    if let Some(want) = &desired.overrides
        && !overrides_plan.is_empty()
    {
        let marker = env.root.path().join(REREGISTER_FILE);
        stackpack_fs::write_atomic(&marker, b"", stackpack_fs::Mode::Default)
            .map_err(InstallError::io("cannot write", &marker))?;
        apply_overrides(&env.root.overrides_dir(), want)?;
        out.overrides_changed = true;
        fault::point("sync-overrides-written", "");
    }
    write_state(env.root, desired)?;
    fault::point("sync-state-written", "");
    let lockfile = env.root.lockfile();
    stackpack_fs::write_atomic(&lockfile, &desired.bytes, stackpack_fs::Mode::Default)
        .map_err(InstallError::io("cannot write", &lockfile))?;
    fault::point("sync-end", "");
    out.applied = true;
    Ok(out)
}

/// Records `desired` as applied, with the digest of every desired pack's tree here.
fn write_state(root: &Root, desired: &Desired) -> Result<(), InstallError> {
    let packs = root.packs_dir();
    let applied_at = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .ok();
    let mut state = SyncState {
        version: STATE_VERSION,
        sha256: desired.sha256.clone(),
        digest: Some(desired.digest()),
        applied_at,
        source: desired.source.clone(),
        packs: BTreeMap::new(),
    };
    for p in &desired.lockfile.packs {
        let dir = packs.join(&p.ref_);
        let local = Dir::open_ambient_dir(&dir, cap_std::ambient_authority())
            .and_then(|d| crate::tree::tree_digest(&d))
            .map_err(InstallError::io("cannot read", &dir))?;
        state.packs.insert(
            p.ref_.clone(),
            Trees {
                locked: p.tree_sha256.clone(),
                local,
            },
        );
    }
    let path: PathBuf = root.path().join(SYNC_STATE_FILE);
    let text = serde_json::to_vec_pretty(&state).map_err(|e| InstallError::Io {
        action: "cannot write",
        path: path.clone(),
        source: std::io::Error::other(e),
    })?;
    stackpack_fs::write_atomic(&path, &text, stackpack_fs::Mode::Default)
        .map_err(InstallError::io("cannot write", &path))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const ONE: &str = r#"version = 1

[[pack]]
ref = "alpha"
version = "1.0.0"
source = "github.com/o/alpha"
kind = "git"
url = "https://github.com/o/alpha"
commit = "0123456789012345678901234567890123456789"
resolver = "github"
resolver_sha256 = "ab"
tree_sha256 = "from-another-root"
"#;

    /// A desired lockfile is refused naming its source when it does not parse, records a
    /// pack twice, or names a pack that is not a plain pack ref.
    #[test]
    fn desired_lockfiles_are_checked_and_named() {
        let d = Desired::parse("https://cfg/prod.lock", ONE.as_bytes().to_vec()).unwrap();
        assert_eq!(d.sha256, stackpack_plugin::sha256_hex(ONE.as_bytes()));
        assert_eq!(d.lockfile.packs.len(), 1);
        let twice = format!("{ONE}{}", &ONE["version = 1\n".len()..]);
        for (bad, says) in [
            ("version = 2\n".to_string(), "version 2"),
            ("[[pack]]\nref = 1\n".to_string(), "prod.lock"),
            (twice, "recorded twice"),
            (
                ONE.replace("ref = \"alpha\"", "ref = \"../alpha\""),
                "../alpha",
            ),
        ] {
            let e = Desired::parse("https://cfg/prod.lock", bad.into_bytes())
                .unwrap_err()
                .to_string();
            assert!(e.contains("https://cfg/prod.lock"), "{e}");
            assert!(e.contains(says), "{e}");
            assert!(e.contains("nothing was changed"), "{e}");
        }
    }

    /// The state maps a lockfile digest to this root's fingerprint only while the
    /// lockfile still records the digest the sync wrote.
    #[test]
    fn local_digests_replace_only_what_the_sync_wrote() {
        let d = tempfile::tempdir().unwrap();
        let lock = Lockfile::parse(ONE).unwrap();
        assert_eq!(with_local_digests(d.path(), &lock), lock);
        let state = SyncState {
            version: STATE_VERSION,
            sha256: "x".into(),
            source: "s".into(),
            packs: BTreeMap::from([(
                "alpha".to_string(),
                Trees {
                    locked: Some("from-another-root".into()),
                    local: "here".into(),
                },
            )]),
            ..SyncState::default()
        };
        std::fs::write(
            d.path().join(SYNC_STATE_FILE),
            serde_json::to_vec(&state).unwrap(),
        )
        .unwrap();
        let seen = with_local_digests(d.path(), &lock);
        assert_eq!(seen.packs[0].tree_sha256.as_deref(), Some("here"));
        let mut reinstalled = lock.clone();
        reinstalled.packs[0].tree_sha256 = Some("written-by-install-here".into());
        assert_eq!(with_local_digests(d.path(), &reinstalled), reinstalled);
        std::fs::write(d.path().join(SYNC_STATE_FILE), "not json").unwrap();
        assert_eq!(with_local_digests(d.path(), &lock), lock);
    }

    /// `overrides/` ends holding exactly the desired files: a changed one rewritten, an
    /// extra file and a link removed (the link's target untouched), a nested one made;
    /// an `overrides` that is a link is refused and nothing is written through it.
    #[test]
    fn overrides_are_made_exactly_the_desired_files() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("overrides");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("a.yaml"), "old").unwrap();
        std::fs::write(dir.join("extra.yaml"), "x").unwrap();
        let outside = d.path().join("outside.yaml");
        std::fs::write(&outside, "keep").unwrap();
        std::os::unix::fs::symlink(&outside, dir.join("link.yaml")).unwrap();
        let want = BTreeMap::from([
            ("a.yaml".to_string(), b"new".to_vec()),
            ("sub/b.yaml".to_string(), b"b".to_vec()),
        ]);
        let diff = override_differences(&dir, &want).unwrap();
        let seen: Vec<(&str, &str)> = diff.iter().map(|d| (d.path.as_str(), d.change)).collect();
        assert_eq!(
            seen,
            vec![
                ("a.yaml", "changed"),
                ("extra.yaml", "removed"),
                ("link.yaml", "removed"),
                ("sub/b.yaml", "added"),
            ]
        );
        apply_overrides(&dir, &want).unwrap();
        assert!(override_differences(&dir, &want).unwrap().is_empty());
        assert_eq!(std::fs::read(dir.join("a.yaml")).unwrap(), b"new");
        assert!(std::fs::symlink_metadata(dir.join("link.yaml")).is_err());
        assert_eq!(std::fs::read(&outside).unwrap(), b"keep");

        let elsewhere = d.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        let linked = d.path().join("linked");
        std::os::unix::fs::symlink(&elsewhere, &linked).unwrap();
        assert!(apply_overrides(&linked, &want).is_err());
        assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
    }

    /// Override paths are plain relative names only.
    #[test]
    fn override_paths_are_plain_relative_names() {
        for ok in ["a.yaml", "sub/b.yaml"] {
            assert!(check_override_path(ok).is_ok(), "{ok}");
        }
        for bad in ["", "/etc/x", "../x", "a/../b", "a//b", "./a", "a\\b"] {
            assert!(check_override_path(bad).is_err(), "{bad}");
        }
    }
}
