//! Resolving and fetching one reference into a staging slot: ask the resolver chain (or
//! the lockfile), check the source against the enterprise rule, resolve its pin, leave an
//! intact installed copy alone, else fetch it and check its pack.yaml.
//!
//! A git repository is resolved once per run for each (URL, ref): when several packs
//! of one level require the same pack, the first resolution fetches and the others
//! wait for it and take its answer, so they all see the same commit whatever the
//! timing. The git cache and the archive cache also lock each entry while writing it
//! (against other processes sharing the cache).

use stackpack_net::SafeUrl;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use cap_std::fs::Dir;
use stackpack_core::{
    ArchiveFormat, MANIFEST_FILE_NAME, PackMeta, Pin, Sha256, Source, parse_pack_yaml,
};
use stackpack_core::{GitRef, Task, VersionRange, parse_pack_version, sort_versions_desc};
use stackpack_fetch::{GitCache, LocalSource, ResolvedRev};

use crate::error::InstallError;
use crate::install::{Env, InstallOptions};
use crate::lockfile::{LockedPack, Lockfile};
use crate::plan::Want;
use crate::resolve::{Located, ResolverChain};
use crate::stage::Staging;

/// A pack fetched into staging and checked.
pub(crate) struct Staged {
    pub slot: String,
    pub meta: PackMeta,
    pub entry: LockedPack,
    pub matched: Option<String>,
    /// The version requested, as written (`=x`), if any.
    pub requested: Option<String>,
    pub warnings: Vec<String>,
    /// The installed copy is this very commit/archive and intact: nothing to swap.
    pub unchanged: bool,
    /// The entries of the staged tree as the export wrote them (none when unchanged).
    pub manifest: Option<stackpack_fetch::TreeManifest>,
}

/// A located source with what identifies its content, resolved before fetching.
enum Target<'a> {
    Git {
        url: &'a str,
        subdir: Option<&'a str>,
        rev: ResolvedRev,
    },
    Archive {
        url: &'a str,
        sha256: &'a Sha256,
        format: ArchiveFormat,
        strip_prefix: Option<&'a str>,
    },
    Oci {
        /// The whole source, recorded as it is.
        source: &'a Source,
        registry: &'a str,
        repository: &'a str,
        manifest: &'a Sha256,
        layer: &'a Sha256,
    },
    Local {
        path: &'a Path,
    },
}

impl Target<'_> {
    fn pin(&self) -> Pin {
        match self {
            Target::Git { rev, .. } => Pin::Commit(rev.commit.clone()),
            Target::Archive { sha256, .. } => Pin::Sha256((*sha256).clone()),
            Target::Oci {
                manifest, layer, ..
            } => Pin::Oci {
                manifest: (*manifest).clone(),
                layer: (*layer).clone(),
            },
            Target::Local { .. } => Pin::Unpinned,
        }
    }

    fn matched(&self) -> Option<String> {
        match self {
            Target::Git { rev, .. } => Some(rev.matched.clone()),
            Target::Oci {
                source: Source::Oci { tag: Some(t), .. },
                manifest,
                ..
            } => Some(format!("tag {t} (manifest {})", manifest.prefixed())),
            _ => None,
        }
    }
}

/// What a fetch into a slot produced, before the pack.yaml is read.
struct Fetched {
    /// The source to record: credentials removed, a git source pinned to its commit.
    source: Source,
    pin: Pin,
    /// The git tag that matched, if one did.
    tag: Option<String>,
    matched: Option<String>,
    warnings: Vec<String>,
    /// The tree written, as the export recorded it.
    manifest: stackpack_fetch::TreeManifest,
}

/// One git resolution of a run, filled by its first requirer.
pub(crate) type ResolvedCell = Arc<Mutex<Option<ResolvedRev>>>;

/// Resolves and fetches wants into staging.
pub(crate) struct Fetcher<'a> {
    pub env: &'a Env<'a>,
    pub opts: &'a InstallOptions,
    pub chain: &'a ResolverChain<'a>,
    pub lockfile: &'a Lockfile,
    /// Where `--locked` takes its entries: the root's lockfile, or a desired one (`sync`).
    pub locked: &'a Lockfile,
    pub staging: &'a Staging,
    /// The session's git cache, waiting up to the install's lock timeout.
    pub git: GitCache,
    /// This run's git resolutions, one cell per (URL, ref): the first requirer fills it
    /// while holding it, the others wait and reuse the answer.
    pub resolved: Mutex<HashMap<(String, GitRef), ResolvedCell>>,
    /// The configured python's major version and full version, resolved on first need:
    /// running python costs ~100 ms through a pyenv shim.
    pub python: std::sync::OnceLock<(u32, String)>,
}

/// Runs `f` on every item, each in its own thread, and returns the results in order. A
/// thread that panics yields [`InstallError::FetchPanicked`] naming `name(item)`.
pub(crate) fn in_parallel<T: Sync, R: Send>(
    items: &[T],
    name: impl Fn(&T) -> String,
    f: impl Fn(&T) -> Result<R, InstallError> + Sync,
) -> Vec<Result<R, InstallError>> {
    std::thread::scope(|scope| {
        let f = &f;
        let handles: Vec<_> = items
            .iter()
            .map(|item| scope.spawn(move || f(item)))
            .collect();
        handles
            .into_iter()
            .zip(items)
            .map(|(h, item)| {
                h.join().unwrap_or_else(|payload| {
                    let panic = payload
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| payload.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "no message".into());
                    Err(InstallError::FetchPanicked {
                        reference: name(item),
                        panic,
                    })
                })
            })
            .collect()
    })
}

impl Fetcher<'_> {
    /// Fetches a batch in parallel, one progress task per reference (cleared however
    /// its thread ends).
    pub fn fetch_all(&self, batch: &[Want]) -> Vec<Result<Staged, InstallError>> {
        in_parallel(batch, Want::shown, |want| {
            let _task = Task::start(self.env.progress, &format!("fetching {}", want.shown()));
            self.fetch(want)
        })
    }

    fn fetch(&self, want: &Want) -> Result<Staged, InstallError> {
        // A range is chosen among the tags of the repository the resolvers name (the
        // lockfile, with --locked, has chosen already); the OCI resolver chooses among a
        // registry's tags itself.
        let oci = matches!(want.reference.kind(), stackpack_core::RefKind::Oci);
        let range = want.reference.range().filter(|_| !self.opts.locked && !oci);
        // A registry is checked before its resolver reaches it for tags and manifests.
        if oci
            && !self.opts.locked
            && let Some(policy) = &self.opts.allowed_sources
        {
            policy.check_location(want.reference.locator())?;
        }
        let located = if self.opts.locked {
            self.locate_locked(want)?
        } else if range.is_some() {
            self.chain.locate(&want.reference.without_version())?
        } else {
            self.chain.locate(&want.reference)?
        };
        // The one place every source passes (resolver or lockfile) before any fetch.
        if let Some(policy) = &self.opts.allowed_sources {
            policy.check(&located.source)?;
        }
        let located = match range {
            Some(range) => self.in_range(located, range)?,
            None => located,
        };
        let mut target = self.target(&located)?;
        if let (Some(range), Target::Git { rev, .. }) = (range, &mut target) {
            rev.matched = format!("{}, the highest version in {range}", rev.matched);
        }
        let moved = self.tag_moved(&located, &target)?;
        let requested = want.reference.requested().map(str::to_string);
        if let Some(staged) = self.unchanged(&located, &target, &requested) {
            return Ok(staged);
        }
        let (slot, dir) = self.staging.slot()?;
        let staged = self.fetch_into(want, target, &dir).and_then(|f| {
            // The tree as the filesystem resolves it: no link leaves it.
            stackpack_fetch::verify_tree(&dir, &want.shown())?;
            let meta = self.check(want, &self.staging.slot_path(&slot))?;
            Ok((f, meta))
        });
        match staged {
            Ok((mut fetched, meta)) => {
                fetched.warnings.extend(moved);
                fetched
                    .warnings
                    .extend(stackpack_core::deprecation_warnings(&meta));
                if let Some(range) = range
                    && !range.matches_text(&meta.version)
                {
                    fetched.warnings.push(format!(
                        "{}: {} holds pack.yaml version {}, which is not in {range}",
                        want.shown(),
                        fetched.matched.as_deref().unwrap_or("the chosen tag"),
                        meta.version
                    ));
                }
                Ok(Staged {
                    entry: LockedPack {
                        ref_: meta.ref_.clone(),
                        version: meta.version.clone(),
                        canonical: located.canonical.clone(),
                        source: fetched.source,
                        pin: fetched.pin,
                        tag: fetched.tag,
                        resolver: located.resolver.clone(),
                        resolver_sha256: located.resolver_sha256.clone(),
                        // Taken once the slot is final, just before the swap.
                        tree_sha256: None,
                        tree_content_sha256: None,
                    },
                    slot,
                    meta,
                    matched: fetched.matched,
                    requested,
                    warnings: fetched.warnings,
                    unchanged: false,
                    manifest: Some(fetched.manifest),
                })
            }
            Err(e) => {
                self.staging.discard(&slot);
                Err(match e {
                    InstallError::Fetch(stackpack_fetch::FetchError::Write { entry, source }) => {
                        let fix = if source.kind() == std::io::ErrorKind::StorageFull {
                            "the disk holding the stackpack root is full: free space on it and \
                             install again"
                        } else {
                            "check free disk space and the permissions of the stackpack root, \
                             then install again"
                        };
                        InstallError::Stage {
                            reference: want.shown(),
                            entry,
                            dir: self.staging.slot_path(&slot),
                            source,
                            fix,
                        }
                    }
                    other => other,
                })
            }
        }
    }

    /// Resolves what identifies the content: the commit of a git ref (this fetches it
    /// into the git cache), or an archive's pinned digest.
    fn target<'l>(&self, located: &'l Located) -> Result<Target<'l>, InstallError> {
        Ok(match &located.source {
            Source::Git {
                url,
                git_ref,
                subdir,
            } => Target::Git {
                url,
                subdir: subdir.as_deref(),
                rev: self.resolve_git(url, git_ref)?,
            },
            Source::Archive {
                url,
                sha256,
                format,
                strip_prefix,
            } => Target::Archive {
                url,
                sha256,
                format: *format,
                strip_prefix: strip_prefix.as_deref(),
            },
            Source::Oci {
                registry,
                repository,
                manifest,
                layer,
                ..
            } => Target::Oci {
                source: &located.source,
                registry,
                repository,
                manifest,
                layer,
            },
            Source::Local { path } => Target::Local { path },
        })
    }

    /// The located source with its git ref set to the tag of the highest version in
    /// `range`. A `file://` git repository (which the file resolver answers as a local
    /// directory when no version is given) is read as a git remote.
    fn in_range(&self, located: Located, range: &VersionRange) -> Result<Located, InstallError> {
        let needs_git = |location: String, what| InstallError::RangeNeedsGit {
            range: range.to_string(),
            location,
            what,
        };
        let (url, subdir) = match &located.source {
            Source::Git { url, subdir, .. } => (url.clone(), subdir.clone()),
            Source::Archive { url, .. } => {
                return Err(needs_git(stackpack_core::redact_url(url), "an archive"));
            }
            Source::Oci { .. } => {
                return Err(needs_git(located.source.location(), "an OCI artifact"));
            }
            Source::Local { path } => match stackpack_fetch::inspect_local(path)? {
                LocalSource::Git { .. } => (format!("file://{}", path.display()), None),
                LocalSource::Plain => {
                    return Err(needs_git(
                        path.display().to_string(),
                        "a directory that is not a git repository",
                    ));
                }
            },
        };
        let tags = self.git.tags(&url)?;
        let Some(best) = range.best(tags.iter().map(String::as_str)) else {
            let versions = tags
                .iter()
                .filter_map(|t| parse_pack_version(t).ok().map(|v| v.to_string()))
                .collect::<std::collections::BTreeSet<_>>();
            return Err(InstallError::NoVersionInRange {
                range: range.to_string(),
                url: stackpack_core::redact_url(&url),
                available: sort_versions_desc(versions.into_iter().collect()),
            });
        };
        Ok(Located {
            source: Source::Git {
                url,
                git_ref: GitRef::Tag(best.to_string()),
                subdir,
            },
            ..located
        })
    }

    /// When the target is a git tag (or an OCI tag) that the lockfile recorded, for the
    /// same source, at another commit (or manifest): the tag was moved upstream. That is
    /// refused ([`InstallError::TagMoved`]) unless `--force`, which installs the new
    /// content with a warning (returned).
    fn tag_moved(
        &self,
        located: &Located,
        target: &Target,
    ) -> Result<Option<String>, InstallError> {
        let same_source = |e: &&LockedPack| e.canonical == located.canonical;
        let (location, tag, entry, old, new) = match target {
            Target::Git { url, rev, .. } => {
                let Some(tag) = &rev.tag else {
                    return Ok(None);
                };
                let Some(entry) = self.lockfile.packs.iter().filter(same_source).find(|e| {
                    e.tag.as_deref() == Some(tag.as_str())
                        && e.pin.commit().is_some_and(|c| c != rev.commit)
                }) else {
                    return Ok(None);
                };
                let old = entry.pin.commit().unwrap_or_default();
                (
                    stackpack_core::redact_url(url),
                    tag,
                    entry,
                    format!("commit {old}"),
                    format!("commit {}", rev.commit),
                )
            }
            Target::Oci {
                source:
                    Source::Oci {
                        registry,
                        repository,
                        tag: Some(tag),
                        ..
                    },
                manifest,
                ..
            } => {
                let Some((entry, old)) =
                    self.lockfile
                        .packs
                        .iter()
                        .filter(same_source)
                        .find_map(|e| match &e.source {
                            Source::Oci {
                                registry: r,
                                repository: p,
                                tag: Some(t),
                                manifest: m,
                                ..
                            } if r == registry && p == repository && t == tag && m != *manifest => {
                                Some((e, m))
                            }
                            _ => None,
                        })
                else {
                    return Ok(None);
                };
                (
                    format!("oci://{registry}/{repository}"),
                    tag,
                    entry,
                    format!("manifest {}", old.prefixed()),
                    format!("manifest {}", manifest.prefixed()),
                )
            }
            _ => return Ok(None),
        };
        if !self.opts.force {
            return Err(InstallError::TagMoved {
                pack: entry.ref_.clone(),
                url: location,
                tag: tag.clone(),
                old,
                new,
            });
        }
        Ok(Some(format!(
            "tag `{tag}` of {location} was moved from {old} to {new}; installing it as --force asks"
        )))
    }

    /// Resolves `want` on `url` once per run; later requirers wait for and share the
    /// first answer (a failure is not kept: the next requirer tries again).
    fn resolve_git(&self, url: &str, want: &GitRef) -> Result<ResolvedRev, InstallError> {
        let cell = self
            .resolved
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((url.to_string(), want.clone()))
            .or_default()
            .clone();
        let mut cell = cell.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(rev) = &*cell {
            return Ok(rev.clone());
        }
        let rev = self.git.resolve(url, want)?;
        *cell = Some(rev.clone());
        Ok(rev)
    }

    /// The installed pack, when the lockfile says it came from this very commit or
    /// archive and its tree is still exactly what was installed.
    fn unchanged(
        &self,
        located: &Located,
        target: &Target,
        requested: &Option<String>,
    ) -> Option<Staged> {
        let pin = target.pin();
        if pin == Pin::Unpinned {
            return None;
        }
        let entry = self
            .lockfile
            .packs
            .iter()
            .find(|e| e.canonical == located.canonical && e.pin == pin)?;
        let recorded = entry.tree_sha256.as_deref()?;
        let dir = Dir::open_ambient_dir(
            self.env.root.packs_dir().join(&entry.ref_),
            cap_std::ambient_authority(),
        )
        .ok()?;
        let check = crate::tree::check(&dir, Some(recorded), entry.tree_content_sha256.as_deref());
        if !check.intact() {
            tracing::info!(
                "pack {} was modified since it was installed; replacing it",
                entry.ref_
            );
            return None;
        }
        let text = stackpack_fs::read_to_string_limited(
            &self
                .env
                .root
                .packs_dir()
                .join(&entry.ref_)
                .join(MANIFEST_FILE_NAME),
            stackpack_core::yaml::MAX_FILE_BYTES,
        )
        .ok()?;
        let meta = parse_pack_yaml(&text, None).ok()?;
        let mut entry = entry.clone();
        if let crate::tree::Check::SameContent(fingerprint) = check {
            // The same content with another fingerprint (a lockfile from another root):
            // the lockfile learns this root's.
            entry.tree_sha256 = Some(fingerprint);
        }
        if let Target::Git { rev, .. } = target
            && entry.tag.is_none()
        {
            // A lockfile written before tags were recorded learns the tag now.
            entry.tag = rev.tag.clone();
        }
        (meta.ref_ == entry.ref_).then(|| Staged {
            slot: String::new(),
            meta,
            entry,
            matched: target.matched(),
            requested: requested.clone(),
            warnings: Vec::new(),
            unchanged: true,
            manifest: None,
        })
    }

    /// A lockfile entry as if a resolver had answered.
    fn locate_locked(&self, want: &Want) -> Result<Located, InstallError> {
        let name = want
            .name
            .clone()
            .unwrap_or_else(|| want.reference.dependency_name());
        let entry = self
            .locked
            .get(&name)
            .ok_or_else(|| InstallError::NotLocked {
                pack: name.clone(),
                path: self.env.root.lockfile(),
            })?;
        Ok(entry.located())
    }

    /// Fetches a located pack into `dir`.
    fn fetch_into(&self, want: &Want, target: Target, dir: &Dir) -> Result<Fetched, InstallError> {
        let mut warnings = Vec::new();
        let pin = target.pin();
        let matched = target.matched();
        let tag = match &target {
            Target::Git { rev, .. } => rev.tag.clone(),
            _ => None,
        };
        let fetched = |source: Source, pin: Pin, matched, warnings, manifest| Fetched {
            source,
            pin,
            tag: tag.clone(),
            matched,
            warnings,
            manifest,
        };
        // Every export below writes its files with the shared writer threads and
        // records the tree it wrote (`export_parallel`).
        use stackpack_fetch::export_parallel;
        match target {
            Target::Git { url, subdir, rev } => {
                let ((), manifest) =
                    export_parallel(|| self.git.export(url, &rev.commit, subdir, dir))?;
                let source = Source::Git {
                    url: without_credentials(url),
                    git_ref: stackpack_core::GitRef::Commit(rev.commit),
                    subdir: subdir.map(str::to_string),
                };
                Ok(fetched(source, pin, matched, warnings, manifest))
            }
            Target::Archive {
                url,
                sha256,
                format,
                strip_prefix,
            } => {
                let (_, manifest) = export_parallel(|| {
                    stackpack_fetch::fetch_archive(
                        self.env.net,
                        url,
                        sha256,
                        format,
                        strip_prefix,
                        self.env.root.cache_dir(),
                        self.opts.offline,
                        self.opts.lock_timeout,
                        &self.opts.tree_limits,
                        dir,
                    )
                })?;
                let source = Source::Archive {
                    url: without_credentials(url),
                    sha256: sha256.clone(),
                    format,
                    strip_prefix: strip_prefix.map(str::to_string),
                };
                Ok(fetched(source, pin, matched, warnings, manifest))
            }
            Target::Oci {
                source,
                registry,
                repository,
                manifest,
                layer,
            } => {
                let reference = stackpack_core::OciRef {
                    registry: registry.to_string(),
                    repository: repository.to_string(),
                    tag: None,
                    digest: None,
                };
                let (_, tree) = export_parallel(|| {
                    stackpack_fetch::fetch_oci(
                        self.env.net,
                        &reference,
                        manifest,
                        layer,
                        self.env.root.cache_dir(),
                        self.opts.offline,
                        self.opts.lock_timeout,
                        &self.opts.tree_limits,
                        dir,
                    )
                })?;
                Ok(fetched(source.clone(), pin, matched, warnings, tree))
            }
            Target::Local { path } => {
                let source = Source::Local {
                    path: path.to_path_buf(),
                };
                let shown = want.shown();
                match stackpack_fetch::inspect_local(path)? {
                    LocalSource::Git { dirty, .. } => {
                        if dirty {
                            warnings.push(format!(
                                "{shown}: the work tree has uncommitted changes; installing its last commit (HEAD) only. Commit them to install them"
                            ));
                        }
                        let (commit, manifest) = export_parallel(|| {
                            stackpack_fetch::export_local_head(path, dir, &self.opts.tree_limits)
                        })?;
                        let matched = format!("HEAD {}", &commit[..commit.len().min(12)]);
                        Ok(fetched(
                            source,
                            Pin::Commit(commit),
                            Some(matched),
                            warnings,
                            manifest,
                        ))
                    }
                    LocalSource::Plain => {
                        if want.reference.requested().is_some() {
                            warnings.push(format!(
                                "{shown}: {} is not a git repository, so the version after '=' is ignored",
                                path.display()
                            ));
                        }
                        let ((), manifest) = export_parallel(|| {
                            stackpack_fetch::copy_dir(path, dir, &self.opts.tree_limits)
                        })?;
                        Ok(fetched(source, Pin::Unpinned, None, warnings, manifest))
                    }
                }
            }
        }
    }

    /// The configured python's major version and full version (`3.11.7`); 3 when it
    /// cannot be run (the venv step then reports why).
    fn python(&self) -> &(u32, String) {
        self.python.get_or_init(
            || match stackpack_venv::python_version(&self.opts.python_binary) {
                Ok((major, minor, patch)) => (major, format!("{major}.{minor}.{patch}")),
                Err(e) => {
                    tracing::debug!("{e}; assuming python 3 for python_versions checks");
                    (
                        3,
                        format!("3 (assumed: {} could not be run)", self.opts.python_binary),
                    )
                }
            },
        )
    }

    /// Reads and checks the staged pack.yaml: its schema, its ref, and (unless
    /// `--force`) the StackStorm and Python versions it declares.
    fn check(&self, want: &Want, path: &Path) -> Result<PackMeta, InstallError> {
        let invalid = |message: String| InstallError::InvalidPack { message };
        let text = match stackpack_fs::read_to_string_limited(
            &path.join(MANIFEST_FILE_NAME),
            stackpack_core::yaml::MAX_FILE_BYTES,
        ) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(invalid(format!(
                    "Pack \"{}\" is missing {MANIFEST_FILE_NAME} file; a pack's root must hold its {MANIFEST_FILE_NAME}",
                    want.shown()
                )));
            }
            Err(e) => {
                return Err(invalid(format!(
                    "cannot read {}: {e}",
                    path.join(MANIFEST_FILE_NAME).display()
                )));
            }
        };
        let meta = parse_pack_yaml(&text, None).map_err(|e| {
            invalid(format!(
                "{MANIFEST_FILE_NAME} is invalid: {}",
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
                let (major, full) = self.python();
                stackpack_core::python_versions_ok(&meta.name, &meta.python_versions, *major, full)
                    .map_err(invalid)?;
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_panicking_fetch_names_its_reference() {
        let items = ["aws", "https://u:***@h.example/o/slack", "jira"];
        let results = in_parallel(
            &items,
            |i| i.to_string(),
            |i| {
                if i.contains("slack") {
                    panic!("boom on {i}");
                }
                Ok(i.len())
            },
        );
        assert_eq!(results[0].as_ref().unwrap(), &3);
        assert_eq!(results[2].as_ref().unwrap(), &4);
        let e = results[1].as_ref().unwrap_err().to_string();
        assert!(
            e.contains("fetching https://u:***@h.example/o/slack panicked")
                && e.contains("boom on https://u:***@h.example/o/slack")
                && e.contains("report this as a bug"),
            "{e}"
        );
    }

    #[test]
    fn credentials_stay_out_of_recorded_urls() {
        assert_eq!(
            without_credentials("https://user:tok@h.example/o/r.git"),
            "https://h.example/o/r.git"
        );
        assert_eq!(
            without_credentials("ssh://git:pw@h.example/o/r.git"),
            "ssh://git@h.example/o/r.git"
        );
        assert_eq!(
            without_credentials("git@h.example:o/r"),
            "git@h.example:o/r"
        );
    }
}
