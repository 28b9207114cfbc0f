//! Git sources: ref resolution (one rule for tags, branches and commits; st2 cloned the
//! whole history and fell back to `v<ref>` for a tag not on a branch) and a cache of bare
//! repositories, one per URL, reused across installs and for offline installs.
//!
//! Resolution lists the remote's refs first (`ls-remote`), picks the ref, then fetches
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
//! [`crate::credentials`]. Limitations, because libgit2 only takes them as process-wide
//! settings that git2 exposes as `unsafe` functions (and this workspace denies
//! `unsafe`): no connect or read timeout is applied to git (libgit2's defaults hold,
//! and a stalled server can hang a fetch), and the CA bundle is not given to git (the
//! system's trust store is used).

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

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
    pub fn resolve(&self, url: &str, want: &GitRef) -> Result<ResolvedRev, FetchError> {
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
        let refs = if self.offline {
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
        let repo = self.open(url)?.ok_or_else(not_cached)?;
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

    fn proxy(&self, url: &str) -> ProxyOptions<'static> {
        let mut options = ProxyOptions::new();
        if let Some(p) = proxy_for(&self.net, url) {
            options.url(p);
        }
        options
    }

    /// libgit2 has no per-call timeouts (its global ones are `unsafe` to set), so an
    /// http(s) remote is first asked for its refs with a bounded request: a server that
    /// hangs fails here with a timeout instead of hanging the install. Other answers are
    /// left for libgit2 to interpret.
    fn probe(&self, url: &str) -> Result<(), FetchError> {
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Ok(());
        }
        let secs = self.net.timeout.unwrap_or(crate::DEFAULT_TIMEOUT).as_secs();
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
            return Ok(());
        };
        let Ok(probe) = url::Url::parse(&format!(
            "{}/info/refs?service=git-upload-pack",
            url.trim_end_matches('/')
        )) else {
            return Ok(());
        };
        match stackpack_net::NetBackend::http_get(net.as_ref(), &probe, &[], 1 << 20) {
            Err(stackpack_net::NetFailure::Timeout) => Err(FetchError::Timeout {
                what: "git ls-remote of",
                url: redact_url(url),
                secs,
            }),
            _ => Ok(()),
        }
    }

    /// The remote's refs (`git ls-remote`).
    fn ls_remote(&self, url: &str) -> Result<Refs, FetchError> {
        let shown = redact_url(url);
        tracing::debug!(url = %shown, "git ls-remote");
        let fail = |e: git2::Error| git_err("ls-remote", &shown, &e, LS_HINT);
        self.probe(url)?;
        let mut remote = git2::Remote::create_detached(url).map_err(fail)?;
        let conn = remote
            .connect_auth(Direction::Fetch, Some(credentials()), Some(self.proxy(url)))
            .map_err(fail)?;
        let mut refs = Refs::default();
        let mut head = None;
        let mut head_target = None;
        let mut peeled = BTreeMap::new();
        let mut tags = BTreeMap::new();
        for h in conn.list().map_err(fail)? {
            let name = h.name();
            if name == "HEAD" {
                head = Some(h.oid());
                head_target = h
                    .symref_target()
                    .and_then(|t| t.strip_prefix("refs/heads/"))
                    .map(str::to_string);
            } else if let Some(b) = name.strip_prefix("refs/heads/") {
                refs.branches.insert(b.to_string(), h.oid());
            } else if let Some(t) = name.strip_prefix("refs/tags/") {
                match t.strip_suffix("^{}") {
                    Some(t) => peeled.insert(t.to_string(), h.oid()),
                    None => tags.insert(t.to_string(), h.oid()),
                };
            }
        }
        if head.is_some() && head_target.is_none() {
            head_target = conn
                .default_branch()
                .ok()
                .and_then(|b| b.as_str().map(str::to_string))
                .and_then(|b| b.strip_prefix("refs/heads/").map(str::to_string));
        }
        drop(conn);
        if let Some(oid) = head {
            // Without a symref, guess: a branch at HEAD's commit, main or master first.
            let name = head_target
                .filter(|b| refs.branches.contains_key(b))
                .or_else(|| {
                    let at_head = |b: &&String| refs.branches.get(*b) == Some(&oid);
                    ["main", "master"]
                        .iter()
                        .map(|s| s.to_string())
                        .find(|b| at_head(&b))
                        .or_else(|| refs.branches.keys().find(at_head).cloned())
                });
            refs.head = Some((name, oid));
        }
        refs.tags = tags
            .into_iter()
            .map(|(t, oid)| {
                let commit = peeled.get(&t).copied().unwrap_or(oid);
                (t, (oid, commit))
            })
            .collect();
        Ok(refs)
    }

    /// Fetches `specs` from `url` into `repo`, shallow if asked (and the remote is not
    /// local); a failed shallow fetch is retried in full.
    fn fetch(
        &self,
        repo: &Repository,
        url: &str,
        specs: &[String],
        shallow: bool,
    ) -> Result<(), FetchError> {
        let shown = redact_url(url);
        let local = is_local(url);
        fault::point("git-fetch", &shown);
        let mut remote = repo
            .remote_anonymous(url)
            .map_err(|e| git_err("fetch", &shown, &e, LS_HINT))?;
        let mut attempt = |depth: i32| {
            tracing::debug!(url = %shown, ?specs, depth, "git fetch");
            let mut options = FetchOptions::new();
            options
                .remote_callbacks(credentials())
                .proxy_options(self.proxy(url))
                .download_tags(AutotagOption::None)
                .update_fetchhead(false)
                .depth(depth);
            remote.fetch(specs, Some(&mut options), Some("stackpack: fetch"))
        };
        if shallow && !local {
            match attempt(1) {
                Ok(()) => return Ok(()),
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
        attempt(depth).map_err(|e| git_err("fetch", &shown, &e, LS_HINT))
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
        let _lock = self.lock(url)?;
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
                return self.search_commit(&repo, url, want, &prefix, &refs);
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
        self.fetch(&repo, url, &[spec], true)?;
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
            self.fetch(repo, url, specs, false)?;
            if let Some(oid) = find_commit(repo, url, prefix)? {
                return Ok(commit_rev(oid));
            }
        }
        Err(unknown_ref(url, want, refs))
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
                    let (size, _) = repo
                        .odb()
                        .and_then(|odb| odb.read_header(entry.id()))
                        .map_err(read_err)?;
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
