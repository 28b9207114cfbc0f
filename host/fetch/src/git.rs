//! Git sources: ref resolution (one rule for tags, branches and commits; st2 cloned the
//! whole history and fell back to `v<ref>` for a tag not on a branch) and a cache of bare
//! repositories, one per URL, reused across installs and for offline installs.
//!
//! Two git libraries share the work. Every read is gitoxide's (`gix`, pure Rust): a
//! local repository, the cache's refs and objects, the export of a tree, the status of
//! a work tree (`local.rs`), and the refs the cache records. libgit2 (`git2`) is used
//! only where something is transferred from a remote: the fetch into the cache (and
//! creating the cache repository it fetches into) and `ls-remote` of an ssh, `git://` or
//! scp-like remote, or of an http server that does not answer as a smart one. libgit2's
//! first call in a process initialises OpenSSL (its configuration and the system's CA
//! bundle, about 20 ms of CPU), so a run that transfers nothing never makes one.
//!
//! A local repository (a `file://` URL or a path) is read in place: its refs are listed
//! and its objects read straight from it ([`SourceRepo`]), opened without a search of
//! parent directories and never written to; nothing of it goes into the cache.
//!
//! A remote's resolution lists the remote's refs first (`ls-remote`), picks the ref, then fetches
//! only that ref (shallow, `depth 1`, when the remote is not local) into
//! `<dir>/<sha256(url without userinfo)[..16]>.git`, under `refs/stackpack/…` so that a
//! later offline run can resolve tags and branches from the cache alone:
//!
//! - `refs/stackpack/heads/<branch>`, `refs/stackpack/tags/<tag>`;
//! - `refs/stackpack/HEAD`, symbolic, pointing at the default branch's ref.
//!
//! An http(s) remote's refs come from one request of our own HTTP client ([`probe`]:
//! its deadline, proxies and `[[credentials]]`), `info/refs?service=git-upload-pack`,
//! whose smart-HTTP advertisement is read here; any other answer (an error status, a
//! dumb server) is left to libgit2, which reports it as it always did.
//!
//! Each repository is written under a lock (`<dir>/<key>.lock`, see [`crate::cache_lock`]):
//! one fetch at a time per repository, across threads and processes sharing the cache;
//! a second requirer waits, then finds the commit cached and fetches nothing. Holding
//! that lock, any `*.lock` file inside the repository was left by a killed process and
//! is removed; a repository that cannot be opened is moved aside to
//! `<key>.git.corrupt` and fetched again, with a warning. Reads (export, a cached full
//! commit, offline resolution) take no lock: git writes objects and refs by renaming. A
//! repository read after a fetch is opened afresh, so it sees what libgit2 wrote.
//!
//! Network settings come from [`NetConfig`]: `https_proxy`/`http_proxy` (and
//! `no_proxy`) through git2's proxy options, credentials through
//! [`crate::credentials`]. libgit2 takes timeouts only as process-wide settings that
//! git2 exposes as `unsafe` functions (and this workspace denies `unsafe`), so every
//! libgit2 operation runs under [`watchdog`] instead: `ls-remote` within
//! `http_timeout`, a fetch within [`crate::TRANSFER_FACTOR`] times it, and a stalled or
//! trickling server ends in [`FetchError::Timeout`]. The CA bundle is not given to git
//! (the system's trust store is used).

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use git2::{AutotagOption, Direction, FetchOptions, ProxyOptions};
use gix::ObjectId;
use sha2::{Digest, Sha256};
use stackpack_core::{GitRef, parse_pack_version, redact_url, sort_versions_desc};
use stackpack_net::SafeUrl;
use url::Url;

use crate::cache_lock::EntryLock;
use crate::tree::{Sink, TreeLimits, clean_path, ensure_empty, is_dot_git};
use crate::{FetchError, NetConfig, credentials, fault, proxy_for};

/// How a wanted ref is named in errors: "the default branch", "`x`", "branch `x`"...
fn want_text(want: &GitRef) -> String {
    match want {
        GitRef::DefaultBranch => "the default branch".into(),
        GitRef::Any(x) => format!("`{x}`"),
        GitRef::Branch(x) => format!("branch `{x}`"),
        GitRef::Tag(x) => format!("tag `{x}`"),
        GitRef::Commit(x) => format!("commit `{x}`"),
    }
}

/// A resolved git revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedRev {
    /// Full 40-hex commit id.
    pub commit: String,
    /// How it matched, for the user: "default branch main", "tag v1.2.0", "tag 1.2.0",
    /// "branch dev", "commit 3f2a9c1".
    pub matched: String,
    /// The tag name if a tag matched (None otherwise).
    pub tag: Option<String>,
}

/// Bare-repo cache under a directory, reused across installs.
#[derive(Debug, Clone)]
pub struct GitCache {
    dir: PathBuf,
    net: NetConfig,
    offline: bool,
    lock_timeout: Duration,
    limits: TreeLimits,
    /// The HTTP client of the first-contact probes, made once (`None`: it could not be
    /// made, and git's own errors speak instead).
    http: std::sync::Arc<std::sync::OnceLock<Option<std::sync::Arc<crate::Net>>>>,
}

/// The refs of a repository: as a remote advertises them, or as the cache holds them.
#[derive(Debug, Default)]
struct Refs {
    /// The default branch: its name when known, and its tip commit.
    head: Option<(Option<String>, ObjectId)>,
    branches: BTreeMap<String, ObjectId>,
    /// Tag name → (the ref's object, the commit it peels to).
    tags: BTreeMap<String, (ObjectId, ObjectId)>,
}

/// Which ref a want picked.
#[derive(Debug, Clone, PartialEq, Eq)]
enum RefName {
    /// The default branch, by name when known.
    Head(Option<String>),
    Branch(String),
    Tag(String),
}

impl RefName {
    fn remote(&self) -> String {
        match self {
            RefName::Head(None) => "HEAD".into(),
            RefName::Head(Some(b)) | RefName::Branch(b) => format!("refs/heads/{b}"),
            RefName::Tag(t) => format!("refs/tags/{t}"),
        }
    }

    fn local(&self) -> String {
        match self {
            RefName::Head(None) => LOCAL_HEAD.into(),
            RefName::Head(Some(b)) | RefName::Branch(b) => format!("{LOCAL_HEADS}{b}"),
            RefName::Tag(t) => format!("{LOCAL_TAGS}{t}"),
        }
    }
}

const LOCAL_HEAD: &str = "refs/stackpack/HEAD";
const LOCAL_HEADS: &str = "refs/stackpack/heads/";
const LOCAL_TAGS: &str = "refs/stackpack/tags/";

#[derive(Debug)]
struct Picked {
    name: RefName,
    /// The ref's object (a tag object for an annotated tag).
    oid: ObjectId,
    commit: ObjectId,
    matched: String,
    tag: Option<String>,
}

#[derive(Debug)]
enum Pick {
    Ref(Picked),
    /// A commit prefix (lower-case hex) that no ref points at.
    Commit(String),
}

#[derive(Debug)]
enum Miss {
    Unknown,
    Ambiguous(Vec<String>),
}

const LS_HINT: &str = "check the URL, your network, the proxy settings and the credentials";
const READ_HINT: &str = "the repository may be damaged or incomplete; if it is stackpack's git cache, delete that directory and fetch again";
const CACHE_HINT: &str =
    "check that the git cache directory is writable, or delete it to start afresh";

impl GitCache {
    pub fn new(dir: PathBuf, net: &NetConfig, offline: bool) -> GitCache {
        GitCache {
            dir,
            net: net.clone(),
            offline,
            lock_timeout: crate::DEFAULT_LOCK_TIMEOUT,
            limits: TreeLimits::default(),
            http: Default::default(),
        }
    }

    /// Probes remotes with this client (the caller's one) instead of making its own.
    pub fn with_http(self, net: std::sync::Arc<crate::Net>) -> GitCache {
        let _ = self.http.set(Some(net));
        self
    }

    /// How long a fetch waits for another process (or thread) fetching into the same
    /// repository before giving up with [`FetchError::CacheLocked`]; 300 s by default.
    pub fn with_lock_timeout(mut self, timeout: Duration) -> GitCache {
        self.lock_timeout = timeout;
        self
    }

    /// The size limits of an exported tree ([`TreeLimits::default`] unless told).
    pub fn with_tree_limits(mut self, limits: TreeLimits) -> GitCache {
        self.limits = limits;
        self
    }

    /// Resolves `want` on `url` and makes sure the commit is in the cache.
    ///
    /// `Any(x)` tries, in order: tag `x`, tag `v<x>`, branch `x`, commit `x` (full or a
    /// unique short hex prefix): unlike st2, tags win over branches. `Tag(x)` also tries
    /// `v<x>`. An unknown ref fails with [`FetchError::UnknownRef`] listing the semver
    /// tags (newest first) and the branches.
    ///
    /// Online, the remote's refs are listed and only the needed ref is fetched (shallow
    /// when the remote is not local); a commit that no ref points at is looked up after
    /// fetching the default branch and all tags, then all branches, in full. A full
    /// commit id already in the cache needs no network at all. Offline, only the cache
    /// is used, or [`FetchError::Offline`] says to run once online.
    ///
    /// A local repository is read in place, online or offline (see [`SourceRepo`]).
    pub fn resolve(&self, url: &str, want: &GitRef) -> Result<ResolvedRev, FetchError> {
        if is_local(url) {
            return SourceRepo::open(url)?.resolve(want);
        }
        if let GitRef::Commit(c) = want
            && c.len() == 40
            && let Ok(oid) = ObjectId::from_hex(c.as_bytes())
            && let Ok(Some(repo)) = self.open(url)
            && repo.find_commit(oid).is_ok()
        {
            tracing::debug!(url = %redact_url(url), commit = %oid, "commit already cached");
            return Ok(commit_rev(oid));
        }
        if self.offline {
            self.resolve_offline(url, want)
        } else {
            self.resolve_online(url, want)
        }
    }

    /// The tag names of `url`, as the remote lists them (`git ls-remote --tags`), or
    /// offline as the cache holds them. Used to choose a version in a range.
    pub fn tags(&self, url: &str) -> Result<Vec<String>, FetchError> {
        let refs = if is_local(url) {
            SourceRepo::open(url)?.refs()?
        } else if self.offline {
            let repo = self.open(url)?.ok_or_else(|| FetchError::Offline {
                url: redact_url(url),
                what: "the list of tags".to_string(),
            })?;
            cached_refs(&repo, url)?
        } else {
            self.ls_remote(url)?
        };
        Ok(refs.tags.into_keys().collect())
    }

    /// Writes the tree of `commit` (optionally only `subdir` of it) into `dest`, which
    /// must be empty. Regular files keep their executable bit (0755 vs 0644); symlinks
    /// are written only if their target is relative and stays inside the written tree
    /// (else [`FetchError::UnsafeEntry`]), and nothing is written through one; submodules
    /// are skipped with a warning; no `.git` is written. A tree over the size limits is
    /// [`FetchError::TooBig`] (a blob's size is read before its content).
    pub fn export(
        &self,
        url: &str,
        commit: &str,
        subdir: Option<&str>,
        dest: &cap_std::fs::Dir,
    ) -> Result<(), FetchError> {
        ensure_empty(dest)?;
        let shown = redact_url(url);
        let not_cached = || FetchError::NotCached {
            url: shown.clone(),
            commit: commit.to_string(),
        };
        let repo = if is_local(url) {
            SourceRepo::open(url)?.repo
        } else {
            self.open(url)?.ok_or_else(not_cached)?
        };
        let found = find_commit(&repo, url, commit)?.ok_or_else(not_cached)?;
        let mut tree = repo
            .find_commit(found)
            .and_then(|c| c.tree_id())
            .map_err(|e| git_err("read", &shown, &e, CACHE_HINT))?
            .detach();
        let mut origin = format!("{shown} at {}", short(found));
        if let Some(sub) = subdir {
            let missing = || FetchError::Subdir {
                url: shown.clone(),
                commit: found.to_string(),
                subdir: sub.to_string(),
            };
            let clean = clean_path(Path::new(sub)).map_err(|_| missing())?;
            if !clean.as_os_str().is_empty() {
                let entry = repo
                    .find_tree(tree)
                    .ok()
                    .and_then(|t| t.lookup_entry_by_path(&clean).ok().flatten())
                    .ok_or_else(missing)?;
                if !entry.mode().is_tree() {
                    return Err(missing());
                }
                tree = entry.object_id();
                origin = format!("{origin} ({sub})");
            }
        }
        export_tree(&repo, tree, &Sink::new(dest, origin, self.limits))
    }

    fn repo_path(&self, url: &str) -> PathBuf {
        self.dir.join(format!("{}.git", cache_key(url)))
    }

    /// The cache repository of `url`, if there is one, opened afresh (a handle opened
    /// before a fetch is not used after it).
    fn open(&self, url: &str) -> Result<Option<gix::Repository>, FetchError> {
        let path = self.repo_path(url);
        if !path.exists() {
            return Ok(None);
        }
        open_cache(&path).map(Some)
    }

    /// Takes the lock on the cache repository of `url`, then removes the `*.lock` files
    /// a killed git operation left in it (with the lock held, none is live).
    fn lock(&self, url: &str) -> Result<EntryLock, FetchError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| FetchError::Io {
            action: "create the git cache directory",
            path: self.dir.clone(),
            source: e,
        })?;
        let shown = redact_url(url);
        let lock = EntryLock::acquire(
            &self.dir.join(format!("{}.lock", cache_key(url))),
            &format!("the git repository {shown}"),
            self.lock_timeout,
        )?;
        remove_stale_locks(&self.repo_path(url));
        fault::point("cache-locked", &shown);
        Ok(lock)
    }

    /// The cache repository of `url`, created (atomically: in a temporary directory,
    /// then renamed into place, by libgit2, which fetches into it next) if missing, or
    /// moved aside and created afresh if it cannot be opened. The caller holds
    /// [`GitCache::lock`].
    fn open_or_init(&self, url: &str) -> Result<gix::Repository, FetchError> {
        let path = self.repo_path(url);
        match self.open(url) {
            Ok(Some(repo)) => return Ok(repo),
            Ok(None) => {}
            Err(e) => {
                let aside = path.with_extension("git.corrupt");
                let _ = std::fs::remove_dir_all(&aside);
                std::fs::rename(&path, &aside).map_err(|source| FetchError::Io {
                    action: "move aside the damaged git cache repository",
                    path: path.clone(),
                    source,
                })?;
                tracing::warn!(
                    "the git cache of {} was damaged ({e}); moved it aside to {} and fetching it again",
                    redact_url(url),
                    aside.display()
                );
            }
        }
        let tmp = tempfile::Builder::new()
            .prefix(".init-")
            .tempdir_in(&self.dir)
            .map_err(|e| FetchError::Io {
                action: "create a temporary directory in",
                path: self.dir.clone(),
                source: e,
            })?;
        let staged = tmp.path().join("repo.git");
        // Without the system's template directory: its sample hooks are a dozen files
        // written for nothing (a cache repository runs no hook).
        let mut options = git2::RepositoryInitOptions::new();
        options.bare(true).external_template(false);
        git2::Repository::init_opts(&staged, &options).map_err(|e| {
            git_err(
                "init of the cache",
                &staged.display().to_string(),
                &e.message(),
                CACHE_HINT,
            )
        })?;
        if let Err(e) = std::fs::rename(&staged, &path)
            && !path.exists()
        {
            return Err(FetchError::Io {
                action: "move a new cache repository into place at",
                path,
                source: e,
            });
        }
        // Another writer that does not take the lock (an older stackpack) may have won
        // the rename: its repository is as good as ours.
        open_cache(&path)
    }

    /// An http(s) remote is asked for its refs with a bounded request of our own: a
    /// server that hangs fails here with a timeout, and a smart-HTTP advertisement is
    /// read here (see [`Advert`]). Other answers are left for libgit2 to interpret.
    fn probe(&self, url: &str) -> Result<Advert, FetchError> {
        let http = self
            .http
            .get_or_init(|| match crate::Net::new(self.net.clone()) {
                Ok(net) => Some(std::sync::Arc::new(net)),
                Err(e) => {
                    tracing::debug!("no HTTP probe before git contacts: {e}");
                    None
                }
            });
        let Some(net) = http else {
            return Ok(Advert::Unknown);
        };
        probe(net, url).map_err(|_| FetchError::Timeout {
            what: "git ls-remote of",
            url: redact_url(url),
            secs: self.net.request_deadline().as_secs(),
            rule: crate::REQUEST_RULE,
        })
    }

    /// The remote's refs (`git ls-remote`), within the request deadline.
    fn ls_remote(&self, url: &str) -> Result<Refs, FetchError> {
        tracing::debug!(url = %redact_url(url), "git ls-remote");
        let advert = self.probe(url)?;
        let proxy = proxy_for(&self.net, url).map(str::to_string);
        remote_heads(url, proxy, self.net.request_deadline(), advert).map(refs_of)
    }

    /// Fetches `specs` from `url` into `repo`, shallow if asked (and the remote is not
    /// local); a failed shallow fetch is retried in full. The whole fetch runs within
    /// the transfer deadline, on a thread that keeps `lock` until it ends; its first
    /// contact with the remote (libgit2's own ref listing) within the request deadline.
    fn fetch(
        &self,
        repo: &gix::Repository,
        url: &str,
        specs: &[String],
        shallow: bool,
        lock: &Arc<EntryLock>,
    ) -> Result<(), FetchError> {
        let shown = redact_url(url);
        fault::point("git-fetch", &shown);
        let path = repo.git_dir().to_path_buf();
        let owned = url.to_string();
        let specs = specs.to_vec();
        let proxy = proxy_for(&self.net, url).map(str::to_string);
        watchdog(
            "git fetch of",
            url,
            (self.net.transfer_deadline(), crate::TRANSFER_RULE),
            Some(self.net.request_deadline()),
            Some(lock.clone()),
            move |cancel| fetch_into(&path, &owned, &specs, shallow, proxy.as_deref(), cancel),
        )
    }

    fn resolve_offline(&self, url: &str, want: &GitRef) -> Result<ResolvedRev, FetchError> {
        let offline = || FetchError::Offline {
            url: redact_url(url),
            what: want_text(want),
        };
        let repo = self.open(url)?.ok_or_else(offline)?;
        let refs = cached_refs(&repo, url)?;
        match pick(&refs, want) {
            Ok(Pick::Ref(p)) => Ok(p.into_rev()),
            Ok(Pick::Commit(prefix)) => find_commit(&repo, url, &prefix)?
                .map(commit_rev)
                .ok_or_else(offline),
            Err(Miss::Unknown) => Err(offline()),
            Err(Miss::Ambiguous(candidates)) => Err(ambiguous(url, want, candidates)),
        }
    }

    fn resolve_online(&self, url: &str, want: &GitRef) -> Result<ResolvedRev, FetchError> {
        let shown = redact_url(url);
        let refs = self.ls_remote(url)?;
        let lock = Arc::new(self.lock(url)?);
        let repo = self.open_or_init(url)?;
        if let Some((Some(branch), _)) = &refs.head {
            let target = format!("{LOCAL_HEADS}{branch}");
            set_ref(&repo, LOCAL_HEAD, RefTarget::Symbolic(&target))
                .map_err(|e| git_err("update of the cache", &shown, &e, CACHE_HINT))?;
        }
        let picked = match pick(&refs, want) {
            Ok(Pick::Ref(p)) => p,
            Ok(Pick::Commit(prefix)) => {
                return self.search_commit(&repo, url, want, &prefix, &refs, &lock);
            }
            Err(Miss::Unknown) => return Err(unknown_ref(url, want, &refs)),
            Err(Miss::Ambiguous(candidates)) => return Err(ambiguous(url, want, candidates)),
        };
        let local = picked.name.local();
        if repo.find_commit(picked.commit).is_ok() {
            // Already cached: record the ref for offline use, no fetch.
            let target = if repo.has_object(picked.oid) {
                picked.oid
            } else {
                picked.commit
            };
            set_ref(&repo, &local, RefTarget::Object(target))
                .map_err(|e| git_err("update of the cache", &shown, &e, CACHE_HINT))?;
            return Ok(picked.into_rev());
        }
        let spec = format!("+{}:{local}", picked.name.remote());
        self.fetch(&repo, url, &[spec], true, &lock)?;
        // Opened afresh: libgit2 has just written into the repository. The remote may
        // have moved since it was listed: the fetched ref is the truth.
        let repo = open_cache(&self.repo_path(url))?;
        let commit = repo
            .find_reference(local.as_str())
            .and_then(|mut r| r.peel_to_commit())
            .map_err(|e| git_err("fetch", &shown, &e, LS_HINT))?
            .id;
        Ok(ResolvedRev {
            commit: commit.to_string(),
            ..picked.into_rev()
        })
    }

    /// A commit that no ref points at: fetch the default branch and all tags in full,
    /// then all branches, and look for it after each.
    fn search_commit(
        &self,
        repo: &gix::Repository,
        url: &str,
        want: &GitRef,
        prefix: &str,
        refs: &Refs,
        lock: &Arc<EntryLock>,
    ) -> Result<ResolvedRev, FetchError> {
        if let Some(oid) = find_commit(repo, url, prefix)? {
            return Ok(commit_rev(oid));
        }
        let mut specs = vec![format!("+refs/tags/*:{LOCAL_TAGS}*")];
        match &refs.head {
            Some((Some(b), _)) => specs.push(format!("+refs/heads/{b}:{LOCAL_HEADS}{b}")),
            Some((None, _)) => specs.push(format!("+HEAD:{LOCAL_HEAD}")),
            None => {}
        }
        let rounds = [specs, vec![format!("+refs/heads/*:{LOCAL_HEADS}*")]];
        for specs in &rounds {
            self.fetch(repo, url, specs, false, lock)?;
            // Opened afresh: libgit2 has just written into the repository.
            let fetched = open_cache(&self.repo_path(url))?;
            if let Some(oid) = find_commit(&fetched, url, prefix)? {
                return Ok(commit_rev(oid));
            }
        }
        Err(unknown_ref(url, want, refs))
    }
}

/// A local repository read in place: opened as git's local transport opens it (the
/// path itself, a bare repository or a work tree's `.git`, no search of parent
/// directories), only read (no ref, lock, config or object is written to it), and
/// resolved by the same rules as a remote: its refs are listed as `ls-remote` would list
/// them and picked by [`pick`]. A commit no ref points at is found when a branch, a tag
/// or HEAD reaches it (what fetching them would have brought); a full commit id is also
/// found when the repository merely holds it, as a cached one is.
pub(crate) struct SourceRepo {
    repo: gix::Repository,
    url: String,
}

impl SourceRepo {
    pub(crate) fn open(url: &str) -> Result<SourceRepo, FetchError> {
        let path = match Url::parse(url) {
            Ok(u) => u.to_file_path().map_err(|()| FetchError::Git {
                action: "open",
                location: redact_url(url),
                reason: "the URL does not name a local path".into(),
                hint: LOCAL_HINT,
            })?,
            Err(_) => PathBuf::from(url),
        };
        let repo = open_source(&path).map_err(|e| git_err("open", url, &e, LOCAL_HINT))?;
        Ok(SourceRepo {
            repo,
            url: url.to_string(),
        })
    }

    /// The refs as `ls-remote` lists them: HEAD (with its symbolic target), then every
    /// ref, and each annotated tag's peeled commit as `<tag>^{}`.
    pub(crate) fn heads(&self) -> Result<Vec<Head>, FetchError> {
        let repo = &self.repo;
        let fail = |e: &dyn std::fmt::Display| git_err("read", &self.url, e, READ_HINT);
        let mut heads: Vec<Head> = Vec::new();
        if let Ok(Some(head)) = repo.try_find_reference("HEAD") {
            let symref = match head.target() {
                gix::refs::TargetRef::Symbolic(name) => Some(name.as_bstr().to_string()),
                gix::refs::TargetRef::Object(_) => None,
            };
            if let Ok(oid) = head.clone().follow_to_object() {
                heads.push(("HEAD".into(), oid.detach(), symref));
            }
        }
        let platform = repo.references().map_err(|e| fail(&e))?;
        for r in platform.all().map_err(|e| fail(&e))? {
            let mut r = r.map_err(|e| fail(&e))?;
            let Ok(name) = std::str::from_utf8(r.name().as_bstr()).map(str::to_string) else {
                continue;
            };
            let Ok(oid) = r.follow_to_object().map(gix::Id::detach) else {
                continue;
            };
            if name.starts_with("refs/tags/")
                && let Ok(tag) = repo.find_tag(oid)
                && let Ok(target) = tag.target_id()
                && let Ok(peeled) = target.object().and_then(|o| o.peel_to_commit())
            {
                heads.push((format!("{name}^{{}}"), peeled.id, None));
            }
            heads.push((name, oid, None));
        }
        Ok(heads)
    }

    fn refs(&self) -> Result<Refs, FetchError> {
        self.heads().map(refs_of)
    }

    fn resolve(&self, want: &GitRef) -> Result<ResolvedRev, FetchError> {
        let refs = self.refs()?;
        match pick(&refs, want) {
            Ok(Pick::Ref(p)) => {
                self.repo
                    .find_commit(p.commit)
                    .map_err(|e| git_err("read", &self.url, &e, READ_HINT))?;
                Ok(p.into_rev())
            }
            Ok(Pick::Commit(prefix)) => match find_commit(&self.repo, &self.url, &prefix)? {
                Some(oid) if prefix.len() == 40 || self.reachable(oid, &refs) => {
                    Ok(commit_rev(oid))
                }
                _ => Err(unknown_ref(&self.url, want, &refs)),
            },
            Err(Miss::Unknown) => Err(unknown_ref(&self.url, want, &refs)),
            Err(Miss::Ambiguous(candidates)) => Err(ambiguous(&self.url, want, candidates)),
        }
    }

    /// Whether HEAD, a branch or a tag reaches `oid` (one walk of the history of all
    /// the tips together).
    fn reachable(&self, oid: ObjectId, refs: &Refs) -> bool {
        let tips: BTreeSet<ObjectId> = refs
            .head
            .iter()
            .map(|(_, o)| *o)
            .chain(refs.branches.values().copied())
            .chain(refs.tags.values().map(|(_, c)| *c))
            .collect();
        if tips.contains(&oid) {
            return true;
        }
        let Ok(walk) = self.repo.rev_walk(tips).all() else {
            return false;
        };
        walk.map_while(Result::ok).any(|info| info.id == oid)
    }
}

const LOCAL_HINT: &str = "check that the path is a git repository you can read (owned by you, or listed in git's safe.directory)";

/// Opens the local repository at `path` read in place: the path itself, a bare
/// repository or a work tree's `.git`, never a parent directory. As git does, a
/// repository another user owns is refused unless git's `safe.directory` (system or
/// global configuration) lists it; the environment's `GIT_*` variables are not read.
pub(crate) fn open_source(path: &Path) -> Result<gix::Repository, gix::Error> {
    let allow = gix::sec::Permission::Allow;
    let mut options = gix::open::Options::isolated().bail_if_untrusted(true);
    options.permissions.config = gix::open::permissions::Config {
        env: false,
        ..gix::open::permissions::Config::all()
    };
    options.permissions.env.home = allow;
    options.permissions.env.xdg_config_home = allow;
    gix::open_opts(path, options)
}

/// Opens stackpack's own cache repository at `path` (isolated: its own configuration
/// only).
fn open_cache(path: &Path) -> Result<gix::Repository, FetchError> {
    gix::open_opts(path, gix::open::Options::isolated()).map_err(|e| {
        git_err(
            "open of the cache",
            &path.display().to_string(),
            &e,
            CACHE_HINT,
        )
    })
}

/// What a ref of the cache is set to point at.
enum RefTarget<'a> {
    Object(ObjectId),
    Symbolic(&'a str),
}

/// Points the cache's ref `name` at `target` (unless it already does), as
/// `git update-ref` / `git symbolic-ref` would.
fn set_ref(repo: &gix::Repository, name: &str, target: RefTarget<'_>) -> Result<(), String> {
    use gix::refs::transaction::{Change, LogChange, PreviousValue, RefEdit, RefLog};
    let new = match target {
        RefTarget::Object(oid) => gix::refs::Target::Object(oid),
        RefTarget::Symbolic(to) => {
            gix::refs::Target::Symbolic(to.try_into().map_err(|e| format!("{to}: {e}"))?)
        }
    };
    if let Ok(Some(current)) = repo.try_find_reference(name)
        && current.target().into_owned() == new
    {
        return Ok(());
    }
    let edit = RefEdit {
        change: Change::Update {
            log: LogChange {
                mode: RefLog::AndReference,
                force_create_reflog: false,
                message: "stackpack".into(),
            },
            expected: PreviousValue::Any,
            new,
        },
        name: name.try_into().map_err(|e| format!("{name}: {e}"))?,
        deref: false,
    };
    repo.edit_references_as([edit], None)
        .map(drop)
        .map_err(|e| e.to_string())
}

/// A remote ref as listed: name, object, symbolic target.
pub(crate) type Head = (String, ObjectId, Option<String>);

/// The refs of `url` as `git ls-remote` lists them: those of the smart-HTTP
/// advertisement the probe read ([`probe`]), those of a local repository read in place,
/// else (ssh, `git://`, scp-like, an http server that did not answer as a smart one)
/// asked of libgit2 within `deadline`.
pub(crate) fn remote_heads(
    url: &str,
    proxy: Option<String>,
    deadline: Duration,
    advert: Advert,
) -> Result<Vec<Head>, FetchError> {
    match advert {
        Advert::Heads(heads) => return Ok(heads),
        Advert::Malformed(reason) => {
            return Err(FetchError::Git {
                action: "ls-remote",
                location: redact_url(url),
                reason: format!("the server's ref advertisement is malformed: {reason}"),
                hint: LS_HINT,
            });
        }
        Advert::Unknown => {}
    }
    if is_local(url) {
        return SourceRepo::open(url)?.heads();
    }
    let owned = url.to_string();
    watchdog(
        "git ls-remote of",
        url,
        (deadline, crate::REQUEST_RULE),
        None,
        None,
        move |cancel| list_heads(&owned, proxy.as_deref(), cancel),
    )
}

/// Lists the remote's refs with libgit2. Only the listing is read: libgit2's own
/// default-branch guess (`git_remote_default_branch`) crashes on a remote whose HEAD is
/// detached, so [`refs_of`] makes that choice from the list.
fn list_heads(url: &str, proxy: Option<&str>, cancel: &Cancel) -> Result<Vec<Head>, FetchError> {
    let shown = redact_url(url);
    let fail =
        |e: git2::Error| cancel.error_or(git_err("ls-remote", &shown, &e.message(), LS_HINT));
    let mut remote = git2::Remote::create_detached(url).map_err(fail)?;
    let mut options = ProxyOptions::new();
    if let Some(p) = proxy {
        options.url(p);
    }
    let conn = remote
        .connect_auth(Direction::Fetch, Some(cancel.callbacks()), Some(options))
        .map_err(fail)?;
    let heads = conn
        .list()
        .map_err(fail)?
        .iter()
        .map(|h| {
            Ok((
                h.name().to_string(),
                to_object_id(h.oid(), &shown)?,
                h.symref_target().map(str::to_string),
            ))
        })
        .collect::<Result<Vec<Head>, FetchError>>()?;
    Ok(heads)
}

/// A libgit2 object id as gix's (both SHA-1).
fn to_object_id(oid: git2::Oid, shown: &str) -> Result<ObjectId, FetchError> {
    ObjectId::try_from(oid.as_bytes()).map_err(|e| FetchError::Git {
        action: "ls-remote",
        location: shown.to_string(),
        reason: format!("object id {oid}: {e}"),
        hint: LS_HINT,
    })
}

/// The refs of a listing, and its default branch: the branch HEAD names (a symref),
/// else a branch at HEAD's commit (`main`, `master`, then any), else HEAD's commit
/// itself (a detached HEAD). A remote that lists no HEAD (it points at a branch that
/// does not exist) falls back to `main`, then `master`; with neither there is no
/// default branch and the user must name a ref.
fn refs_of(heads: Vec<Head>) -> Refs {
    let mut refs = Refs::default();
    let mut head = None;
    let mut head_target = None;
    let mut peeled = BTreeMap::new();
    let mut tags = BTreeMap::new();
    for (name, oid, symref) in heads {
        if name == "HEAD" {
            head = Some(oid);
            head_target = symref
                .as_deref()
                .and_then(|t| t.strip_prefix("refs/heads/"))
                .map(str::to_string);
        } else if let Some(b) = name.strip_prefix("refs/heads/") {
            refs.branches.insert(b.to_string(), oid);
        } else if let Some(t) = name.strip_prefix("refs/tags/") {
            match t.strip_suffix("^{}") {
                Some(t) => peeled.insert(t.to_string(), oid),
                None => tags.insert(t.to_string(), oid),
            };
        }
    }
    const USUAL: [&str; 2] = ["main", "master"];
    refs.head = match head {
        Some(oid) => {
            let at_head = |b: &&String| refs.branches.get(*b) == Some(&oid);
            let name = head_target
                .filter(|b| refs.branches.contains_key(b))
                .or_else(|| {
                    USUAL
                        .iter()
                        .map(|s| s.to_string())
                        .find(|b| at_head(&b))
                        .or_else(|| refs.branches.keys().find(at_head).cloned())
                });
            Some((name, oid))
        }
        None => USUAL.iter().find_map(|b| {
            refs.branches
                .get(*b)
                .map(|oid| (Some((*b).to_string()), *oid))
        }),
    };
    refs.tags = tags
        .into_iter()
        .map(|(t, oid)| {
            let commit = peeled.get(&t).copied().unwrap_or(oid);
            (t, (oid, commit))
        })
        .collect();
    refs
}

/// What an http(s) remote answered to `info/refs?service=git-upload-pack`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Advert {
    /// A smart-HTTP ref advertisement, read: the refs it lists, as `ls-remote` lists
    /// them (none: the repository is empty).
    Heads(Vec<Head>),
    /// A smart-HTTP answer that is not a well-formed advertisement, and why.
    Malformed(String),
    /// Not a smart-HTTP answer (an error status, a dumb server, a non-http URL, an
    /// advertisement over the size cap): left to libgit2, which reports it as before.
    Unknown,
}

/// The largest ref advertisement read here; a larger one is left to libgit2.
const MAX_ADVERT: u64 = 8 << 20;

/// Asks an http(s) remote for its ref advertisement with `net` (its deadline, proxies,
/// credentials) and reads it. Only a timeout is an error; a non-http URL is
/// [`Advert::Unknown`].
pub(crate) fn probe(net: &crate::Net, url: &str) -> Result<Advert, stackpack_net::NetFailure> {
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Ok(Advert::Unknown);
    }
    let Ok(probe) = url::Url::parse(&format!(
        "{}/info/refs?service=git-upload-pack",
        url.trim_end_matches('/')
    )) else {
        return Ok(Advert::Unknown);
    };
    match stackpack_net::NetBackend::http_get(net, &probe, &[], MAX_ADVERT) {
        Err(stackpack_net::NetFailure::Timeout) => Err(stackpack_net::NetFailure::Timeout),
        Ok(reply)
            if reply.status == 200
                && reply.header("content-type").is_some_and(|t| {
                    t.starts_with("application/x-git-upload-pack-advertisement")
                }) =>
        {
            Ok(match parse_advertisement(&reply.body) {
                Ok(heads) => Advert::Heads(heads),
                Err(reason) => Advert::Malformed(reason),
            })
        }
        _ => Ok(Advert::Unknown),
    }
}

/// Reads a smart-HTTP ref advertisement (git protocol v0/v1, pkt-lines): a
/// `# service=git-upload-pack` line and a flush, an optional `version 1`, then one
/// `<id> <refname>` line per ref, the first followed by a NUL and the capabilities (whose
/// `symref=HEAD:<ref>` names HEAD's branch), annotated tags followed by `<tag>^{}` and
/// their commit, then a flush. An empty repository lists no ref, or only
/// `capabilities^{}` with a zero id. Anything else is an error saying what is wrong.
fn parse_advertisement(body: &[u8]) -> Result<Vec<Head>, String> {
    use gix::protocol::transport::packetline::{PacketLineRef, decode};
    let mut rest = body;
    let mut next = || -> Result<Option<PacketLineRef<'_>>, String> {
        if rest.is_empty() {
            return Ok(None);
        }
        match decode::streaming(rest).map_err(|e| e.to_string())? {
            decode::Stream::Complete {
                line,
                bytes_consumed,
            } => {
                rest = &rest[bytes_consumed..];
                Ok(Some(line))
            }
            decode::Stream::Incomplete { .. } => {
                Err("it ends in the middle of a pkt-line".to_string())
            }
        }
    };
    let mut line = next()?;
    if let Some(PacketLineRef::Data(d)) = line
        && d.starts_with(b"# service=")
    {
        if trim_lf(d) != b"# service=git-upload-pack" {
            return Err(format!(
                "it is for another service ({})",
                String::from_utf8_lossy(trim_lf(d))
            ));
        }
        if next()? != Some(PacketLineRef::Flush) {
            return Err("no flush-pkt follows the service line".into());
        }
        line = next()?;
    }
    if let Some(PacketLineRef::Data(d)) = line
        && d.starts_with(b"version ")
    {
        if trim_lf(d) != b"version 1" {
            return Err(format!(
                "it speaks git protocol {}, not 0 or 1",
                String::from_utf8_lossy(trim_lf(d))
            ));
        }
        line = next()?;
    }
    let mut heads = Vec::new();
    let mut head_symref = None;
    let mut first = true;
    loop {
        let data = match line {
            Some(PacketLineRef::Data(d)) => trim_lf(d),
            Some(PacketLineRef::Flush) => break,
            Some(_) => return Err("it holds an unexpected special pkt-line".into()),
            None => return Err("it ends without its closing flush-pkt".into()),
        };
        let (refline, caps) = match data.iter().position(|b| *b == 0) {
            Some(i) if first => (&data[..i], Some(&data[i + 1..])),
            Some(_) => return Err("a NUL byte in a ref line after the first".into()),
            None => (data, None),
        };
        first = false;
        if let Some(caps) = caps {
            head_symref = caps
                .split(|b| *b == b' ')
                .find_map(|c| c.strip_prefix(b"symref=HEAD:"))
                .and_then(|t| std::str::from_utf8(t).ok())
                .map(str::to_string);
        }
        if refline.starts_with(b"shallow ") {
            line = next()?;
            continue;
        }
        let shown = || String::from_utf8_lossy(refline).into_owned();
        let (id, name) = match (refline.get(..40), refline.get(40), refline.get(41..)) {
            (Some(id), Some(b' '), Some(name)) if !name.is_empty() => (id, name),
            _ => return Err(format!("the ref line `{}` is not `<id> <name>`", shown())),
        };
        let id = ObjectId::from_hex(id)
            .map_err(|_| format!("the ref line `{}` has no SHA-1 object id", shown()))?;
        let name = std::str::from_utf8(name)
            .map_err(|_| format!("the ref name of `{}` is not UTF-8", shown()))?;
        if !(name == "capabilities^{}" && id.is_null()) {
            heads.push((name.to_string(), id, None));
        }
        line = next()?;
    }
    if next()?.is_some() {
        return Err("data follows its closing flush-pkt".into());
    }
    if let Some(head) = heads.iter_mut().find(|h| h.0 == "HEAD") {
        head.2 = head_symref;
    }
    Ok(heads)
}

/// A pkt-line's payload without its trailing newline.
fn trim_lf(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\n").unwrap_or(line)
}

/// The fetch itself (see [`GitCache::fetch`]), on the watchdog's thread.
fn fetch_into(
    path: &Path,
    url: &str,
    specs: &[String],
    shallow: bool,
    proxy: Option<&str>,
    cancel: &Cancel,
) -> Result<(), FetchError> {
    let shown = redact_url(url);
    let local = is_local(url);
    let fail = |e: git2::Error| cancel.error_or(git_err("fetch", &shown, &e.message(), LS_HINT));
    let repo = git2::Repository::open_bare(path).map_err(|e| {
        git_err(
            "open of the cache",
            &path.display().to_string(),
            &e.message(),
            CACHE_HINT,
        )
    })?;
    let mut remote = repo.remote_anonymous(url).map_err(fail)?;
    let proxy_options = || {
        let mut options = ProxyOptions::new();
        if let Some(p) = proxy {
            options.url(p);
        }
        options
    };
    let mut attempt = |depth: i32| {
        tracing::debug!(url = %shown, ?specs, depth, "git fetch");
        // Connected first (libgit2 lists the refs), so that the watchdog can hold the
        // first contact to the request deadline; the fetch then uses this connection.
        let mut conn = remote.connect_auth(
            Direction::Fetch,
            Some(cancel.callbacks()),
            Some(proxy_options()),
        )?;
        cancel.contacted.store(true, Ordering::Relaxed);
        let mut options = FetchOptions::new();
        options
            .remote_callbacks(cancel.callbacks())
            .proxy_options(proxy_options())
            .download_tags(AutotagOption::None)
            .update_fetchhead(false)
            .depth(depth);
        conn.remote()
            .fetch(specs, Some(&mut options), Some("stackpack: fetch"))
    };
    if shallow && !local {
        match attempt(1) {
            Ok(()) => return Ok(()),
            Err(_) if cancel.expired() => return Err(cancel.timeout()),
            Err(e) => {
                tracing::warn!(url = %shown, error = %redact_url(e.message()), "shallow fetch failed; fetching the full history");
            }
        }
    }
    // A full fetch into a shallow cache must also deepen it (git's --unshallow).
    let depth = if !local && repo.is_shallow() {
        i32::MAX
    } else {
        0
    };
    attempt(depth).map_err(fail)
}

/// The deadline of one git operation, as its callbacks and its error see it.
#[derive(Clone)]
pub(crate) struct Cancel {
    deadline: Instant,
    cancelled: Arc<AtomicBool>,
    /// Set by the operation once the remote has answered (see [`watchdog`]).
    contacted: Arc<AtomicBool>,
    what: &'static str,
    url: String,
    allowed: Duration,
    rule: &'static str,
}

impl Cancel {
    fn expired(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed) || Instant::now() >= self.deadline
    }

    fn timeout(&self) -> FetchError {
        FetchError::Timeout {
            what: self.what,
            url: self.url.clone(),
            secs: self.allowed.as_secs(),
            rule: self.rule,
        }
    }

    /// `e`, unless the deadline passed (then libgit2's error is the cancellation).
    fn error_or(&self, e: FetchError) -> FetchError {
        if self.expired() { self.timeout() } else { e }
    }

    /// [`credentials`], plus progress callbacks that cancel the operation once the
    /// deadline has passed (libgit2 calls them on every packet of a transfer).
    pub(crate) fn callbacks<'a>(&self) -> git2::RemoteCallbacks<'a> {
        let mut callbacks = credentials();
        let (a, b) = (self.clone(), self.clone());
        callbacks.transfer_progress(move |_| !a.expired());
        callbacks.sideband_progress(move |_| !b.expired());
        callbacks
    }
}

/// Runs a git operation on a thread of its own and waits for it at most `allowed` (the
/// deadline, and in words the rule that sets it); with `contact`, the operation must
/// also have reached the remote (set [`Cancel::contacted`]) within that time, the
/// request deadline.
///
/// libgit2 takes no deadline per call, and a server that stalls blocks its reads. Past
/// the deadline the caller gets [`FetchError::Timeout`] naming `what`, the (redacted)
/// URL, the deadline and `http_timeout`; the thread is told to cancel (its progress
/// callbacks return false at the next packet) and is left to end on its own, holding
/// `keep` (the cache entry's lock) until then, so nothing else writes that repository
/// meanwhile. libgit2 writes objects and refs by renaming, so an abandoned fetch leaves
/// the cache as it was or with whole objects only.
pub(crate) fn watchdog<T: Send + 'static>(
    what: &'static str,
    url: &str,
    (allowed, rule): (Duration, &'static str),
    contact: Option<Duration>,
    keep: Option<Arc<EntryLock>>,
    op: impl FnOnce(&Cancel) -> Result<T, FetchError> + Send + 'static,
) -> Result<T, FetchError> {
    let started = Instant::now();
    let cancel = Cancel {
        deadline: started + allowed,
        cancelled: Arc::new(AtomicBool::new(false)),
        contacted: Arc::new(AtomicBool::new(false)),
        what,
        url: redact_url(url),
        allowed,
        rule,
    };
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let theirs = cancel.clone();
    std::thread::Builder::new()
        .name("stackpack-git".into())
        .spawn(move || {
            let result = op(&theirs);
            let _ = tx.send(result);
            drop(keep);
        })
        .map_err(|e| FetchError::Client(format!("cannot start a thread for git: {e}")))?;
    if let Some(contact) = contact.filter(|c| *c < allowed) {
        match rx.recv_timeout(contact) {
            Ok(result) => return result,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout)
                if !cancel.contacted.load(Ordering::Relaxed) =>
            {
                cancel.cancelled.store(true, Ordering::Relaxed);
                tracing::debug!(url = %cancel.url, "git operation abandoned: no answer within the request deadline");
                return Err(FetchError::Timeout {
                    what,
                    url: cancel.url.clone(),
                    secs: contact.as_secs(),
                    rule: crate::REQUEST_RULE,
                });
            }
            Err(_) => {}
        }
    }
    match rx.recv_timeout(allowed.saturating_sub(started.elapsed())) {
        Ok(result) => result,
        Err(_) => {
            cancel.cancelled.store(true, Ordering::Relaxed);
            tracing::debug!(url = %cancel.url, "git operation abandoned at its deadline");
            Err(cancel.timeout())
        }
    }
}

impl Picked {
    fn into_rev(self) -> ResolvedRev {
        ResolvedRev {
            commit: self.commit.to_string(),
            matched: self.matched,
            tag: self.tag,
        }
    }
}

fn commit_rev(oid: ObjectId) -> ResolvedRev {
    ResolvedRev {
        commit: oid.to_string(),
        matched: format!("commit {}", short(oid)),
        tag: None,
    }
}

fn short(oid: ObjectId) -> String {
    oid.to_string()[..7].to_string()
}

/// Picks the ref `want` names among `refs`.
fn pick(refs: &Refs, want: &GitRef) -> Result<Pick, Miss> {
    let tag = |t: &str| -> Option<Pick> {
        refs.tags.get(t).map(|&(oid, commit)| {
            Pick::Ref(Picked {
                name: RefName::Tag(t.to_string()),
                oid,
                commit,
                matched: format!("tag {t}"),
                tag: Some(t.to_string()),
            })
        })
    };
    let tag_or_v = |t: &str| tag(t).or_else(|| tag(&format!("v{t}")));
    let branch = |b: &str| -> Option<Pick> {
        refs.branches.get(b).map(|&oid| {
            Pick::Ref(Picked {
                name: RefName::Branch(b.to_string()),
                oid,
                commit: oid,
                matched: format!("branch {b}"),
                tag: None,
            })
        })
    };
    match want {
        GitRef::DefaultBranch => {
            let (name, oid) = refs.head.as_ref().ok_or(Miss::Unknown)?;
            Ok(Pick::Ref(Picked {
                name: RefName::Head(name.clone()),
                oid: *oid,
                commit: *oid,
                matched: match name {
                    Some(b) => format!("default branch {b}"),
                    None => "default branch (detached HEAD)".into(),
                },
                tag: None,
            }))
        }
        GitRef::Branch(b) => branch(b).ok_or(Miss::Unknown),
        GitRef::Tag(t) => tag_or_v(t).ok_or(Miss::Unknown),
        GitRef::Commit(c) => pick_commit(refs, c),
        GitRef::Any(x) => match tag_or_v(x).or_else(|| branch(x)) {
            Some(p) => Ok(p),
            None => pick_commit(refs, x),
        },
    }
}

/// A commit id or prefix: a ref's tip when one points at it, else left to a lookup.
fn pick_commit(refs: &Refs, c: &str) -> Result<Pick, Miss> {
    if !(4..=40).contains(&c.len()) || !c.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Miss::Unknown);
    }
    let prefix = c.to_ascii_lowercase();
    // Ref tips, default branch first, then branches, then tags.
    let mut tips: Vec<(RefName, ObjectId, ObjectId)> = Vec::new();
    if let Some((name, oid)) = &refs.head {
        tips.push((RefName::Head(name.clone()), *oid, *oid));
    }
    tips.extend(
        refs.branches
            .iter()
            .map(|(b, o)| (RefName::Branch(b.clone()), *o, *o)),
    );
    tips.extend(
        refs.tags
            .iter()
            .map(|(t, (o, c))| (RefName::Tag(t.clone()), *o, *c)),
    );
    let matching: Vec<_> = tips
        .into_iter()
        .filter(|(_, _, commit)| commit.to_string().starts_with(&prefix))
        .collect();
    let distinct: BTreeSet<ObjectId> = matching.iter().map(|(_, _, c)| *c).collect();
    if distinct.len() > 1 {
        return Err(Miss::Ambiguous(
            distinct.iter().map(|o| o.to_string()).collect(),
        ));
    }
    match matching.into_iter().next() {
        Some((name, oid, commit)) => Ok(Pick::Ref(Picked {
            name,
            oid,
            commit,
            matched: format!("commit {}", short(commit)),
            tag: None,
        })),
        None => Ok(Pick::Commit(prefix)),
    }
}

/// The refs the cache holds under `refs/stackpack/`.
fn cached_refs(repo: &gix::Repository, url: &str) -> Result<Refs, FetchError> {
    let shown = redact_url(url);
    let fail = |e: &dyn std::fmt::Display| git_err("read of the cache", &shown, e, CACHE_HINT);
    let mut refs = Refs::default();
    let platform = repo.references().map_err(|e| fail(&e))?;
    for r in platform.prefixed("refs/stackpack/").map_err(|e| fail(&e))? {
        let Ok(mut r) = r else { continue };
        let Ok(name) = std::str::from_utf8(r.name().as_bstr()).map(str::to_string) else {
            continue;
        };
        let symbolic = match r.target() {
            gix::refs::TargetRef::Symbolic(t) => Some(t.as_bstr().to_string()),
            gix::refs::TargetRef::Object(_) => None,
        };
        let Ok(oid) = r.follow_to_object().map(gix::Id::detach) else {
            continue;
        };
        let Ok(commit) = r.peel_to_commit().map(|c| c.id) else {
            continue;
        };
        if name == LOCAL_HEAD {
            let branch = symbolic
                .as_deref()
                .and_then(|t| t.strip_prefix(LOCAL_HEADS))
                .map(str::to_string);
            refs.head = Some((branch, commit));
        } else if let Some(b) = name.strip_prefix(LOCAL_HEADS) {
            refs.branches.insert(b.to_string(), commit);
        } else if let Some(t) = name.strip_prefix(LOCAL_TAGS) {
            let oid = if symbolic.is_some() { commit } else { oid };
            refs.tags.insert(t.to_string(), (oid, commit));
        }
    }
    Ok(refs)
}

/// The commit `id` (full or a prefix of at least 4 hex digits) in `repo`, if there.
fn find_commit(
    repo: &gix::Repository,
    url: &str,
    id: &str,
) -> Result<Option<ObjectId>, FetchError> {
    if !(4..=40).contains(&id.len()) || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let oid = if id.len() == 40 {
        ObjectId::from_hex(id.as_bytes()).ok()
    } else {
        let Ok(prefix) = gix::hash::Prefix::from_hex(id) else {
            return Ok(None);
        };
        match repo.objects.lookup_prefix(prefix, None) {
            Ok(Some(Ok(oid))) => Some(oid),
            Ok(Some(Err(()))) => {
                return Err(FetchError::AmbiguousCommit {
                    url: redact_url(url),
                    prefix: id.to_string(),
                    candidates: vec!["several objects in the cache".into()],
                });
            }
            Ok(None) | Err(_) => None,
        }
    };
    Ok(oid.filter(|oid| repo.find_commit(*oid).is_ok()))
}

fn semver_versions(refs: &Refs) -> Vec<String> {
    let versions: BTreeSet<String> = refs
        .tags
        .keys()
        .filter(|t| parse_pack_version(t).is_ok())
        .map(|t| t.strip_prefix(['v', 'V']).unwrap_or(t).trim().to_string())
        .collect();
    sort_versions_desc(versions.into_iter().collect())
}

fn unknown_ref(url: &str, want: &GitRef, refs: &Refs) -> FetchError {
    if *want == GitRef::DefaultBranch {
        return FetchError::NoDefaultBranch {
            url: redact_url(url),
            versions: semver_versions(refs),
            branches: refs.branches.keys().cloned().collect(),
        };
    }
    FetchError::UnknownRef {
        url: redact_url(url),
        want: want_text(want),
        versions: semver_versions(refs),
        branches: refs.branches.keys().cloned().collect(),
    }
}

fn ambiguous(url: &str, want: &GitRef, candidates: Vec<String>) -> FetchError {
    let prefix = match want {
        GitRef::Any(x) | GitRef::Commit(x) => x.clone(),
        other => want_text(other),
    };
    FetchError::AmbiguousCommit {
        url: redact_url(url),
        prefix,
        candidates,
    }
}

fn git_err(
    action: &'static str,
    location: &str,
    reason: &dyn std::fmt::Display,
    hint: &'static str,
) -> FetchError {
    FetchError::Git {
        action,
        location: redact_url(location),
        reason: redact_url(reason.to_string().trim_end_matches('.')),
        hint,
    }
}

/// The cache key of a URL: [`SafeUrl::cache_key`], the first 16 hex digits of the
/// sha256 of the URL without its userinfo (so a token does not change where it is
/// cached, nor is written to disk); an scp-like `user@host:path` loses its `user@`.
fn cache_key(url: &str) -> String {
    if let Ok(u) = SafeUrl::parse(url) {
        return u.cache_key();
    }
    let clean = match url.split_once('@') {
        Some((user, rest)) if !user.contains(['/', ':']) => rest,
        _ => url,
    };
    let digest = hex::encode(Sha256::digest(clean.as_bytes()));
    digest[..16].to_string()
}

/// Removes the `*.lock` files under the repository at `path` (outside `objects/`, where
/// git writes none): libgit2 leaves them when killed mid-write, and then refuses to
/// write that ref, `shallow` or `packed-refs` ever again. Only called with the
/// repository's [`EntryLock`] held, so no live git operation owns one.
fn remove_stale_locks(path: &Path) {
    let mut dirs = vec![path.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let p = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                if p != path.join("objects") {
                    dirs.push(p);
                }
            } else if p.extension() == Some(OsStr::new("lock")) {
                match std::fs::remove_file(&p) {
                    Ok(()) => tracing::warn!(
                        "removed {}, left by an interrupted git operation",
                        p.display()
                    ),
                    Err(e) => tracing::warn!("cannot remove the stale {}: {e}", p.display()),
                }
            }
        }
    }
}

/// Whether git reaches `url` through its local transport (a `file://` URL or a path),
/// which does not support shallow fetches.
fn is_local(url: &str) -> bool {
    match Url::parse(url) {
        Ok(u) => u.scheme() == "file",
        // Not a URL: a path, unless scp-like `[user@]host:path`.
        Err(_) => match url.find(':') {
            Some(i) => url[..i].contains('/'),
            None => true,
        },
    }
}

/// Writes the tree `tree` of `repo` into the sink: directories, regular files (exec bit
/// kept), safe symlinks; submodules and `.git` skipped with a warning; any other entry
/// mode refused. A blob's size is read from its header before its content.
pub(crate) fn export_tree(
    repo: &gix::Repository,
    tree: ObjectId,
    sink: &Sink<'_>,
) -> Result<(), FetchError> {
    let read_err = |e: &dyn std::fmt::Display| FetchError::Git {
        action: "read",
        location: sink.origin().to_string(),
        reason: redact_url(&e.to_string()),
        hint: READ_HINT,
    };
    let mut stack = vec![(PathBuf::new(), tree)];
    while let Some((base, tree)) = stack.pop() {
        let tree = repo.find_tree(tree).map_err(|e| read_err(&e))?;
        let decoded = tree.decode().map_err(|e| read_err(&e))?;
        for entry in &decoded.entries {
            let bytes: &[u8] = entry.filename;
            let name = OsStr::from_bytes(bytes);
            let rel = base.join(name);
            if bytes.is_empty() || bytes == b"." || bytes == b".." || bytes.contains(&b'/') {
                return Err(sink.unsafe_entry(&rel, "its name is not a plain file name"));
            }
            if is_dot_git(name) {
                tracing::warn!(entry = %rel.display(), "skipping a .git entry of the repository");
                continue;
            }
            let id = entry.oid.to_owned();
            match entry.mode.value() {
                0o040000 => {
                    sink.dir(&rel)?;
                    stack.push((rel, id));
                }
                mode @ (0o100644 | 0o100664 | 0o100755) => {
                    let header = repo.find_header(id).map_err(|e| read_err(&e))?;
                    sink.check_size(&rel, header.size())?;
                    let blob = repo.find_blob(id).map_err(|e| read_err(&e))?;
                    sink.file(&rel, mode == 0o100755, &blob.data[..])?;
                }
                0o120000 => {
                    let blob = repo.find_blob(id).map_err(|e| read_err(&e))?;
                    sink.symlink(&rel, Path::new(OsStr::from_bytes(&blob.data)))?;
                }
                0o160000 => {
                    tracing::warn!(entry = %rel.display(), "skipping a git submodule: submodules are not fetched");
                }
                other => {
                    return Err(sink.unsafe_entry(
                        &rel,
                        format!("it has the unknown git file mode {other:o}"),
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn cache_key_ignores_userinfo() {
        assert_eq!(
            cache_key("https://user:tok@example.com/a.git"),
            cache_key("https://example.com/a.git")
        );
        assert_eq!(cache_key("git@github.com:a/b"), cache_key("github.com:a/b"));
        assert_eq!(cache_key("https://example.com/a.git").len(), 16);
    }

    #[test]
    fn locality() {
        assert!(is_local("file:///tmp/x"));
        assert!(is_local("/tmp/x"));
        assert!(is_local("./x"));
        assert!(!is_local("https://example.com/x"));
        assert!(!is_local("git@github.com:a/b"));
        assert!(!is_local("ssh://git@github.com/a/b"));
    }

    /// The default branch of every remote shape: a symref wins, a detached HEAD is
    /// its commit (or the usual branch at it), no HEAD falls back to main then master,
    /// and with neither there is none (the caller asks for a ref).
    #[test]
    fn default_branch_of_each_remote_shape() {
        let a = ObjectId::from_hex("1111111111111111111111111111111111111111".as_bytes()).unwrap();
        let b = ObjectId::from_hex("2222222222222222222222222222222222222222".as_bytes()).unwrap();
        let head =
            |oid, symref: Option<&str>| ("HEAD".to_string(), oid, symref.map(str::to_string));
        let branch = |name: &str, oid| (format!("refs/heads/{name}"), oid, None);
        let tag = |name: &str, oid| (format!("refs/tags/{name}"), oid, None);

        let symref = refs_of(vec![
            head(b, Some("refs/heads/dev")),
            branch("main", b),
            branch("dev", b),
        ]);
        assert_eq!(symref.head, Some((Some("dev".into()), b)));
        let detached_on_main = refs_of(vec![head(a, None), branch("dev", a), branch("main", a)]);
        assert_eq!(detached_on_main.head, Some((Some("main".into()), a)));
        let detached_alone = refs_of(vec![head(b, None), branch("main", a)]);
        assert_eq!(detached_alone.head, Some((None, b)));
        let no_head = refs_of(vec![branch("master", a), branch("dev", b)]);
        assert_eq!(no_head.head, Some((Some("master".into()), a)));
        let only_tags = refs_of(vec![tag("v1.0.0", a), tag("v1.0.0^{}", b)]);
        assert_eq!(only_tags.head, None);
        assert_eq!(only_tags.tags["v1.0.0"], (a, b));
        assert_eq!(refs_of(Vec::new()).head, None);
        let e = unknown_ref(
            "https://u:tok@h.example/r.git",
            &GitRef::DefaultBranch,
            &only_tags,
        )
        .to_string();
        assert!(
            e.contains("no default branch") && e.contains("=<ref>") && !e.contains("tok"),
            "{e}"
        );
    }

    /// A smart-HTTP advertisement is read into the refs `ls-remote` lists (HEAD's
    /// symref from the capabilities, peeled tags kept), an empty repository's into none,
    /// and every malformed one into an error (never a panic).
    #[test]
    fn advertisements() {
        let pkt = |s: &str| format!("{:04x}{s}", s.len() + 4);
        let service = format!("{}0000", pkt("# service=git-upload-pack\n"));
        let zero = "0".repeat(40);
        let (one, two) = ("1".repeat(40), "2".repeat(40));
        let empty = format!(
            "{service}{}0000",
            pkt(&format!("{zero} capabilities^{{}}\0side-band\n"))
        );
        assert_eq!(parse_advertisement(empty.as_bytes()), Ok(Vec::new()));
        assert_eq!(
            parse_advertisement(format!("{service}0000").as_bytes()),
            Ok(Vec::new())
        );
        let full = format!(
            "{service}{}{}{}{}0000",
            pkt(&format!(
                "{one} HEAD\0multi_ack symref=HEAD:refs/heads/main agent=git/2\n"
            )),
            pkt(&format!("{one} refs/heads/main\n")),
            pkt(&format!("{two} refs/tags/v1\n")),
            pkt(&format!("{one} refs/tags/v1^{{}}\n")),
        );
        let oid = |s: &str| ObjectId::from_hex(s.as_bytes()).unwrap();
        assert_eq!(
            parse_advertisement(full.as_bytes()),
            Ok(vec![
                ("HEAD".into(), oid(&one), Some("refs/heads/main".into())),
                ("refs/heads/main".into(), oid(&one), None),
                ("refs/tags/v1".into(), oid(&two), None),
                ("refs/tags/v1^{}".into(), oid(&one), None),
            ])
        );
        for bad in [
            "zzzz".to_string(),
            "00ff short".to_string(),
            format!("{service}{}", pkt(&format!("{one} HEAD\n"))),
            format!("{service}{}0000", pkt("not a ref line\n")),
            format!(
                "{service}{}0000",
                pkt(&format!("{} HEAD\n", "x".repeat(40)))
            ),
            format!("{service}{}0000", pkt(&format!("{one}\n"))),
            format!("{service}{}0000", pkt("version 2\n")),
            format!("{}0000", pkt("# service=git-receive-pack\n")),
            format!("{service}0000trailing"),
        ] {
            assert!(parse_advertisement(bad.as_bytes()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn pick_order() {
        let a = ObjectId::from_hex("1111111111111111111111111111111111111111".as_bytes()).unwrap();
        let b = ObjectId::from_hex("2222222222222222222222222222222222222222".as_bytes()).unwrap();
        let c = ObjectId::from_hex("3333333333333333333333333333333333333333".as_bytes()).unwrap();
        let mut refs = Refs {
            head: Some((Some("main".into()), a)),
            ..Refs::default()
        };
        refs.branches.insert("main".into(), a);
        refs.branches.insert("1.0.0".into(), b);
        refs.tags.insert("1.0.0".into(), (c, c));
        refs.tags.insert("v2.0.0".into(), (b, b));
        let got = |w: GitRef| match pick(&refs, &w) {
            Ok(Pick::Ref(p)) => p.matched,
            Ok(Pick::Commit(c)) => format!("search {c}"),
            Err(Miss::Unknown) => "unknown".into(),
            Err(Miss::Ambiguous(_)) => "ambiguous".into(),
        };
        assert_eq!(got(GitRef::Any("1.0.0".into())), "tag 1.0.0");
        assert_eq!(got(GitRef::Any("2.0.0".into())), "tag v2.0.0");
        assert_eq!(got(GitRef::Branch("1.0.0".into())), "branch 1.0.0");
        assert_eq!(got(GitRef::DefaultBranch), "default branch main");
        assert_eq!(got(GitRef::Any("1111".into())), "commit 1111111");
        assert_eq!(got(GitRef::Any("abcd".into())), "search abcd");
        assert_eq!(got(GitRef::Any("zzz".into())), "unknown");
        assert_eq!(got(GitRef::Commit("abc".into())), "unknown");
        assert_eq!(semver_versions(&refs), vec!["2.0.0", "1.0.0"]);
    }
}
