//! Git sources: ref resolution (one rule for tags, branches and commits; st2 cloned the
//! whole history and fell back to `v<ref>` for a tag not on a branch) and a cache of bare
//! repositories, one per URL, reused across installs and for offline installs.
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
//! Each repository is written under a lock (`<dir>/<key>.lock`, see [`crate::cache_lock`]):
//! one fetch at a time per repository, across threads and processes sharing the cache;
//! a second requirer waits, then finds the commit cached and fetches nothing. Holding
//! that lock, any libgit2 `*.lock` file inside the repository was left by a killed
//! process and is removed; a repository libgit2 cannot open is moved aside to
//! `<key>.git.corrupt` and fetched again, with a warning. Reads (export, a cached full
//! commit, offline resolution) take no lock: git writes objects and refs by renaming.
//!
//! Network settings come from [`NetConfig`]: `https_proxy`/`http_proxy` (and
//! `no_proxy`) through git2's proxy options, credentials through
//! [`crate::credentials`]. libgit2 takes timeouts only as process-wide settings that
//! git2 exposes as `unsafe` functions (and this workspace denies `unsafe`), so every
//! remote operation runs under [`watchdog`] instead: `ls-remote` within
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

use git2::{AutotagOption, Direction, FetchOptions, ObjectType, Oid, ProxyOptions, Repository};
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
    head: Option<(Option<String>, Oid)>,
    branches: BTreeMap<String, Oid>,
    /// Tag name → (the ref's object, the commit it peels to).
    tags: BTreeMap<String, (Oid, Oid)>,
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
    oid: Oid,
    commit: Oid,
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
            && let Ok(oid) = Oid::from_str(c)
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
        let commit_obj = repo
            .find_commit(found)
            .map_err(|e| git_err("read", &shown, &e, CACHE_HINT))?;
        let mut tree = commit_obj
            .tree()
            .map_err(|e| git_err("read", &shown, &e, CACHE_HINT))?;
        let mut origin = format!("{shown} at {}", short(found));
        if let Some(sub) = subdir {
            let missing = || FetchError::Subdir {
                url: shown.clone(),
                commit: found.to_string(),
                subdir: sub.to_string(),
            };
            let clean = clean_path(Path::new(sub)).map_err(|_| missing())?;
            if !clean.as_os_str().is_empty() {
                let entry = tree.get_path(&clean).map_err(|_| missing())?;
                if entry.kind() != Some(ObjectType::Tree) {
                    return Err(missing());
                }
                tree = repo.find_tree(entry.id()).map_err(|_| missing())?;
                origin = format!("{origin} ({sub})");
            }
        }
        export_tree(&repo, &tree, &Sink::new(dest, origin, self.limits))
    }

    fn repo_path(&self, url: &str) -> PathBuf {
        self.dir.join(format!("{}.git", cache_key(url)))
    }

    /// The cache repository of `url`, if there is one.
    fn open(&self, url: &str) -> Result<Option<Repository>, FetchError> {
        let path = self.repo_path(url);
        if !path.exists() {
            return Ok(None);
        }
        Repository::open_bare(&path).map(Some).map_err(|e| {
            git_err(
                "open of the cache",
                &path.display().to_string(),
                &e,
                CACHE_HINT,
            )
        })
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
    /// then renamed into place) if missing, or moved aside and created afresh if libgit2
    /// cannot open it. The caller holds [`GitCache::lock`].
    fn open_or_init(&self, url: &str) -> Result<Repository, FetchError> {
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
        Repository::init_bare(&staged).map_err(|e| {
            git_err(
                "init of the cache",
                &staged.display().to_string(),
                &e,
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
        Repository::open_bare(&path).map_err(|e| {
            git_err(
                "open of the cache",
                &path.display().to_string(),
                &e,
                CACHE_HINT,
            )
        })
    }

    /// An http(s) remote is first asked for its refs with a bounded request of our own:
    /// a server that hangs fails here with a timeout, and an empty repository is told
    /// apart (see [`Advert`]). Other answers are left for libgit2 to interpret.
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
        let owned = url.to_string();
        let heads = watchdog(
            "git ls-remote of",
            url,
            self.net.request_deadline(),
            crate::REQUEST_RULE,
            None,
            move |cancel| list_heads(&owned, proxy.as_deref(), advert, cancel),
        )?;
        Ok(refs_of(heads))
    }

    /// Fetches `specs` from `url` into `repo`, shallow if asked (and the remote is not
    /// local); a failed shallow fetch is retried in full. The whole fetch runs within
    /// the transfer deadline, on a thread that keeps `lock` until it ends.
    fn fetch(
        &self,
        repo: &Repository,
        url: &str,
        specs: &[String],
        shallow: bool,
        lock: &Arc<EntryLock>,
    ) -> Result<(), FetchError> {
        let shown = redact_url(url);
        fault::point("git-fetch", &shown);
        let path = repo.path().to_path_buf();
        let owned = url.to_string();
        let specs = specs.to_vec();
        let proxy = proxy_for(&self.net, url).map(str::to_string);
        watchdog(
            "git fetch of",
            url,
            self.net.transfer_deadline(),
            crate::TRANSFER_RULE,
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
            repo.reference_symbolic(
                LOCAL_HEAD,
                &format!("{LOCAL_HEADS}{branch}"),
                true,
                "stackpack: default branch",
            )
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
            let target = if repo.find_object(picked.oid, None).is_ok() {
                picked.oid
            } else {
                picked.commit
            };
            repo.reference(&local, target, true, "stackpack: cached")
                .map_err(|e| git_err("update of the cache", &shown, &e, CACHE_HINT))?;
            return Ok(picked.into_rev());
        }
        let spec = format!("+{}:{local}", picked.name.remote());
        self.fetch(&repo, url, &[spec], true, &lock)?;
        // The remote may have moved since it was listed: the fetched ref is the truth.
        let commit = repo
            .find_reference(&local)
            .and_then(|r| r.peel_to_commit())
            .map_err(|e| git_err("fetch", &shown, &e, LS_HINT))?
            .id();
        Ok(ResolvedRev {
            commit: commit.to_string(),
            ..picked.into_rev()
        })
    }

    /// A commit that no ref points at: fetch the default branch and all tags in full,
    /// then all branches, and look for it after each.
    fn search_commit(
        &self,
        repo: &Repository,
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
            if let Some(oid) = find_commit(repo, url, prefix)? {
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
    repo: Repository,
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
        let repo = Repository::open_ext(
            &path,
            git2::RepositoryOpenFlags::NO_SEARCH,
            std::iter::empty::<&OsStr>(),
        )
        .map_err(|e| git_err("open", url, &e, LOCAL_HINT))?;
        Ok(SourceRepo {
            repo,
            url: url.to_string(),
        })
    }

    /// The refs as `ls-remote` lists them: HEAD (with its symbolic target), then every
    /// ref, and each annotated tag's peeled commit as `<tag>^{}`.
    fn refs(&self) -> Result<Refs, FetchError> {
        let repo = &self.repo;
        let fail = |e: git2::Error| git_err("read", &self.url, &e, READ_HINT);
        let mut heads: Vec<Head> = Vec::new();
        if let Ok(head) = repo.find_reference("HEAD")
            && let Ok(oid) = head
                .resolve()
                .and_then(|r| r.target().ok_or_else(|| git2::Error::from_str("no target")))
        {
            heads.push((
                "HEAD".into(),
                oid,
                head.symbolic_target().map(str::to_string),
            ));
        }
        for r in repo.references().map_err(fail)? {
            let r = r.map_err(fail)?;
            let Some(name) = r.name().map(str::to_string) else {
                continue;
            };
            let Ok(oid) = r
                .resolve()
                .and_then(|r| r.target().ok_or_else(|| git2::Error::from_str("no target")))
            else {
                continue;
            };
            if name.starts_with("refs/tags/")
                && let Ok(tag) = repo.find_tag(oid)
                && let Ok(peeled) = tag.target().and_then(|t| t.peel(ObjectType::Commit))
            {
                heads.push((format!("{name}^{{}}"), peeled.id(), None));
            }
            heads.push((name, oid, None));
        }
        Ok(refs_of(heads))
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

    /// Whether HEAD, a branch or a tag reaches `oid`.
    fn reachable(&self, oid: Oid, refs: &Refs) -> bool {
        let tips = refs
            .head
            .iter()
            .map(|(_, o)| *o)
            .chain(refs.branches.values().copied())
            .chain(refs.tags.values().map(|(_, c)| *c));
        tips.into_iter()
            .any(|tip| tip == oid || self.repo.graph_descendant_of(tip, oid).unwrap_or(false))
    }
}

const LOCAL_HINT: &str = "check that the path is a git repository you can read (owned by you, or listed in git's safe.directory)";

/// A remote ref as listed: name, object, symbolic target.
pub(crate) type Head = (String, Oid, Option<String>);

/// Lists the remote's refs. Only the listing is read: libgit2's own default-branch
/// guess (`git_remote_default_branch`) crashes on a remote whose HEAD is detached, so
/// [`refs_of`] makes that choice from the list.
pub(crate) fn list_heads(
    url: &str,
    proxy: Option<&str>,
    advert: Advert,
    cancel: &Cancel,
) -> Result<Vec<Head>, FetchError> {
    // git2's `Remote::list` makes a slice from libgit2's null pointer when the remote
    // has no refs (undefined behaviour, an abort in debug builds): an empty remote is
    // recognised first and never listed.
    if advert == Advert::Empty || local_repo_is_empty(url) {
        return Ok(Vec::new());
    }
    let shown = redact_url(url);
    let fail = |e: git2::Error| cancel.error_or(git_err("ls-remote", &shown, &e, LS_HINT));
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
            (
                h.name().to_string(),
                h.oid(),
                h.symref_target().map(str::to_string),
            )
        })
        .collect();
    Ok(heads)
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

/// What an http(s) remote's ref advertisement (`info/refs?service=git-upload-pack`)
/// says before libgit2 reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Advert {
    /// A smart-HTTP advertisement that lists no ref: the repository is empty.
    Empty,
    /// Refs, or an answer this does not read (left to libgit2).
    Unknown,
}

/// Asks an http(s) remote for its ref advertisement with `net` (its deadline, proxies,
/// credentials). Only a timeout is an error; a non-http URL is [`Advert::Unknown`].
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
    match stackpack_net::NetBackend::http_get(net, &probe, &[], 1 << 20) {
        Err(stackpack_net::NetFailure::Timeout) => Err(stackpack_net::NetFailure::Timeout),
        Ok(reply)
            if reply.status == 200
                && reply.header("content-type").is_some_and(|t| {
                    t.starts_with("application/x-git-upload-pack-advertisement")
                })
                && advertises_no_ref(&reply.body) == Some(true) =>
        {
            Ok(Advert::Empty)
        }
        _ => Ok(Advert::Unknown),
    }
}

/// Whether a smart-HTTP ref advertisement (pkt-lines) lists no ref; None when it cannot
/// be read as one.
fn advertises_no_ref(body: &[u8]) -> Option<bool> {
    let mut rest = body;
    while !rest.is_empty() {
        let len = usize::from_str_radix(std::str::from_utf8(rest.get(..4)?).ok()?, 16).ok()?;
        if len == 0 {
            rest = &rest[4..];
            continue;
        }
        let line = rest.get(4..len)?;
        rest = &rest[len..];
        if line.starts_with(b"# service=") {
            continue;
        }
        let name = line.get(41..)?;
        let name = name.split(|b| *b == 0 || *b == b'\n').next()?;
        if name != b"capabilities^{}" {
            return Some(false);
        }
    }
    Some(true)
}

/// Whether `url` names a local repository (git's local transport) that has no refs.
fn local_repo_is_empty(url: &str) -> bool {
    if !is_local(url) {
        return false;
    }
    let path = match Url::parse(url) {
        Ok(u) => match u.to_file_path() {
            Ok(p) => p,
            Err(()) => return false,
        },
        Err(_) => PathBuf::from(url),
    };
    Repository::open(&path)
        .and_then(|repo| repo.references().map(|mut refs| refs.next().is_none()))
        .unwrap_or(false)
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
    let fail = |e: git2::Error| cancel.error_or(git_err("fetch", &shown, &e, LS_HINT));
    let repo = Repository::open_bare(path).map_err(|e| {
        git_err(
            "open of the cache",
            &path.display().to_string(),
            &e,
            CACHE_HINT,
        )
    })?;
    let mut remote = repo.remote_anonymous(url).map_err(fail)?;
    let mut attempt = |depth: i32| {
        tracing::debug!(url = %shown, ?specs, depth, "git fetch");
        let mut options = FetchOptions::new();
        let mut proxy_options = ProxyOptions::new();
        if let Some(p) = proxy {
            proxy_options.url(p);
        }
        options
            .remote_callbacks(cancel.callbacks())
            .proxy_options(proxy_options)
            .download_tags(AutotagOption::None)
            .update_fetchhead(false)
            .depth(depth);
        remote.fetch(specs, Some(&mut options), Some("stackpack: fetch"))
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

/// Runs a git operation on a thread of its own and waits for it at most `allowed`.
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
    allowed: Duration,
    rule: &'static str,
    keep: Option<Arc<EntryLock>>,
    op: impl FnOnce(&Cancel) -> Result<T, FetchError> + Send + 'static,
) -> Result<T, FetchError> {
    let cancel = Cancel {
        deadline: Instant::now() + allowed,
        cancelled: Arc::new(AtomicBool::new(false)),
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
    match rx.recv_timeout(allowed) {
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

fn commit_rev(oid: Oid) -> ResolvedRev {
    ResolvedRev {
        commit: oid.to_string(),
        matched: format!("commit {}", short(oid)),
        tag: None,
    }
}

fn short(oid: Oid) -> String {
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
    let mut tips: Vec<(RefName, Oid, Oid)> = Vec::new();
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
    let distinct: BTreeSet<Oid> = matching.iter().map(|(_, _, c)| *c).collect();
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
fn cached_refs(repo: &Repository, url: &str) -> Result<Refs, FetchError> {
    let shown = redact_url(url);
    let mut refs = Refs::default();
    let iter = repo
        .references()
        .map_err(|e| git_err("read of the cache", &shown, &e, CACHE_HINT))?;
    for r in iter {
        let Ok(r) = r else { continue };
        let Some(name) = r.name().map(str::to_string) else {
            continue;
        };
        let Ok(commit) = r.peel_to_commit().map(|c| c.id()) else {
            continue;
        };
        if name == LOCAL_HEAD {
            let branch = r
                .symbolic_target()
                .and_then(|t| t.strip_prefix(LOCAL_HEADS))
                .map(str::to_string);
            refs.head = Some((branch, commit));
        } else if let Some(b) = name.strip_prefix(LOCAL_HEADS) {
            refs.branches.insert(b.to_string(), commit);
        } else if let Some(t) = name.strip_prefix(LOCAL_TAGS) {
            let oid = r.target().unwrap_or(commit);
            refs.tags.insert(t.to_string(), (oid, commit));
        }
    }
    Ok(refs)
}

/// The commit `id` (full or a prefix) in `repo`, if there.
fn find_commit(repo: &Repository, url: &str, id: &str) -> Result<Option<Oid>, FetchError> {
    if !(4..=40).contains(&id.len()) || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let found = if id.len() == 40 {
        Oid::from_str(id).and_then(|oid| repo.find_commit(oid))
    } else {
        repo.find_commit_by_prefix(id)
    };
    match found {
        Ok(c) => Ok(Some(c.id())),
        Err(e) if e.code() == git2::ErrorCode::Ambiguous => Err(FetchError::AmbiguousCommit {
            url: redact_url(url),
            prefix: id.to_string(),
            candidates: vec!["several objects in the cache".into()],
        }),
        Err(_) => Ok(None),
    }
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
    e: &git2::Error,
    hint: &'static str,
) -> FetchError {
    FetchError::Git {
        action,
        location: redact_url(location),
        reason: redact_url(e.message()),
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

/// Writes `tree` into the sink: directories, regular files (exec bit kept), safe
/// symlinks; submodules and `.git` skipped with a warning.
pub(crate) fn export_tree(
    repo: &Repository,
    tree: &git2::Tree<'_>,
    sink: &Sink<'_>,
) -> Result<(), FetchError> {
    let read_err = |e: git2::Error| FetchError::Git {
        action: "read",
        location: sink.origin().to_string(),
        reason: redact_url(e.message()),
        hint: READ_HINT,
    };
    let mut stack = vec![(PathBuf::new(), tree.clone())];
    let odb = repo.odb().map_err(read_err)?;
    while let Some((base, tree)) = stack.pop() {
        for entry in tree.iter() {
            let bytes = entry.name_bytes();
            let name = OsStr::from_bytes(bytes);
            let rel = base.join(name);
            if bytes.is_empty() || bytes == b"." || bytes == b".." || bytes.contains(&b'/') {
                return Err(sink.unsafe_entry(&rel, "its name is not a plain file name"));
            }
            if is_dot_git(name) {
                tracing::warn!(entry = %rel.display(), "skipping a .git entry of the repository");
                continue;
            }
            match entry.filemode() {
                0o040000 => {
                    sink.dir(&rel)?;
                    let sub = repo.find_tree(entry.id()).map_err(read_err)?;
                    stack.push((rel, sub));
                }
                mode @ (0o100644 | 0o100664 | 0o100755) => {
                    let (size, _) = odb.read_header(entry.id()).map_err(read_err)?;
                    sink.check_size(&rel, size as u64)?;
                    let blob = repo.find_blob(entry.id()).map_err(read_err)?;
                    sink.file(&rel, mode == 0o100755, blob.content())?;
                }
                0o120000 => {
                    let blob = repo.find_blob(entry.id()).map_err(read_err)?;
                    sink.symlink(&rel, Path::new(OsStr::from_bytes(blob.content())))?;
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
        let a = Oid::from_str("1111111111111111111111111111111111111111").unwrap();
        let b = Oid::from_str("2222222222222222222222222222222222222222").unwrap();
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

    #[test]
    fn empty_advertisements() {
        let pkt = |s: &str| format!("{:04x}{s}", s.len() + 4);
        let service = format!("{}0000", pkt("# service=git-upload-pack\n"));
        let zero = "0".repeat(40);
        let empty = format!(
            "{service}{}0000",
            pkt(&format!("{zero} capabilities^{{}}\0side-band\n"))
        );
        assert_eq!(advertises_no_ref(empty.as_bytes()), Some(true));
        assert_eq!(
            advertises_no_ref(format!("{service}0000").as_bytes()),
            Some(true)
        );
        let full = format!(
            "{service}{}0000",
            pkt(&format!("{} HEAD\0side-band\n", "1".repeat(40)))
        );
        assert_eq!(advertises_no_ref(full.as_bytes()), Some(false));
        assert_eq!(advertises_no_ref(b"zzzz"), None);
        assert_eq!(advertises_no_ref(b"00ff short"), None);
    }

    #[test]
    fn pick_order() {
        let a = Oid::from_str("1111111111111111111111111111111111111111").unwrap();
        let b = Oid::from_str("2222222222222222222222222222222222222222").unwrap();
        let c = Oid::from_str("3333333333333333333333333333333333333333").unwrap();
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
