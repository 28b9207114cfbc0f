//! Archive sources: download (or take from the cache), check the sha256, unpack.
//!
//! Archives are cached by their digest under `<cache_dir>/archives/<sha256>.<ext>`,
//! written atomically (a temporary file in that directory, renamed into place), so a
//! reader sees the whole file or none. A download holds the entry's lock
//! (`<sha256>.<ext>.lock`, see [`crate::cache_lock`]): a second fetch of the same
//! archive, in this process or another sharing the cache, waits and then finds it
//! cached. A cache hit is hashed again before use, and needs no network; a cached file
//! that no longer matches its digest is moved aside (`.corrupt`) and downloaded again. Unpacking reads the archive
//! twice: first every entry is checked (paths, types, symlink and hard-link targets) and
//! the prefix to strip is worked out, so an unsafe archive writes nothing; then the
//! entries are written through the destination's `cap_std` handle.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use flate2::read::GzDecoder;
use sha2::{Digest, Sha256};
use stackpack_core::{ArchiveFormat, redact_url};
use stackpack_net::{FollowError, Hop, follow_redirects};
use tempfile::NamedTempFile;
use url::Url;

use crate::cache_lock::EntryLock;
use crate::tree::{Sink, TreeLimits, check_symlink, clean_path, ensure_empty};
use crate::{FetchError, Net, describe, fault, is_timeout};

/// Redirects followed, at most.
const MAX_REDIRECTS: u32 = 5;
/// The largest archive downloaded.
pub(crate) const MAX_ARCHIVE_BYTES: u64 = 1 << 30;

/// Downloads `url` with `net`, caching the file by its sha256 under
/// `cache_dir/archives/<sha256>.<ext>` (a cache hit is hashed again and uses no network;
/// offline without a cache hit is [`FetchError::Offline`]), checks the sha256 (a
/// mismatch is [`FetchError::Digest`]), then unpacks into `dest` (which must be empty), stripping
/// `strip_prefix` if given, else a single top-level directory if the archive has exactly
/// one. Absolute paths, `..`, symlinks and hard links leaving the tree, entries written
/// through a symlink of the archive, and device files are [`FetchError::UnsafeEntry`].
/// An archive over `limits` (entries, unpacked bytes, bytes of one file) is
/// [`FetchError::TooBig`], found from the headers before anything is written when they
/// tell the truth, and while writing otherwise.
///
/// A download waits up to `lock_timeout` for another fetch of the same archive into the
/// same cache ([`FetchError::CacheLocked`] after that).
///
/// HTTP(S) goes through `net`'s client and settings (proxies, CA bundle, timeouts); up
/// to 5 redirects are followed, to http(s) URLs only. `file://` URLs are read directly.
#[allow(clippy::too_many_arguments)]
pub fn fetch_archive(
    net: &Net,
    url: &str,
    expected: &stackpack_core::Sha256,
    kind: ArchiveFormat,
    strip_prefix: Option<&str>,
    cache_dir: &Path,
    offline: bool,
    lock_timeout: Duration,
    limits: &TreeLimits,
    dest: &cap_std::fs::Dir,
) -> Result<(), FetchError> {
    let shown = redact_url(url);
    let want = expected.as_hex();
    ensure_empty(dest)?;
    let cached = cache_entry(
        &Entry {
            cache_dir,
            want,
            kind,
            shown: &shown,
            noun: "archive",
            offline,
            lock_timeout,
        },
        |dir| {
            fault::point("archive-download", &shown);
            download(net, url, dir)
        },
        |actual| FetchError::Digest {
            url: shown.clone(),
            expected: want.to_string(),
            actual,
        },
    )?;
    unpack(&cached, kind, strip_prefix, &shown, limits, dest)
}

/// Which entry of the archive cache (`<cache>/archives/<sha256>.<ext>`, named by the
/// digest of its bytes) a fetch wants, and how to speak of it.
pub(crate) struct Entry<'a> {
    pub cache_dir: &'a Path,
    /// The sha256 (hex) the entry's bytes must have.
    pub want: &'a str,
    pub kind: ArchiveFormat,
    /// The source, credentials removed, for messages.
    pub shown: &'a str,
    /// What the entry is, in messages: "archive", "layer".
    pub noun: &'static str,
    pub offline: bool,
    pub lock_timeout: Duration,
}

/// The cached file of `entry`: used as is when its bytes hash to the digest; otherwise,
/// holding the entry's lock, a damaged file is moved aside and `fill` writes a new one
/// into a temporary file in the cache directory (returning it with its sha256), which
/// takes the digest's name only when it matches (`mismatch` gets the actual sha256
/// otherwise, and nothing is cached). Offline, a missing entry is [`FetchError::Offline`].
pub(crate) fn cache_entry(
    entry: &Entry<'_>,
    fill: impl FnOnce(&Path) -> Result<(NamedTempFile, String), FetchError>,
    mismatch: impl FnOnce(String) -> FetchError,
) -> Result<PathBuf, FetchError> {
    let Entry {
        want,
        kind,
        shown,
        noun,
        ..
    } = *entry;
    let dir = entry.cache_dir.join("archives");
    let cached = dir.join(format!("{want}.{}", kind.ext()));
    if cached_state(&cached, want)? == Cached::Good {
        tracing::debug!(source = %shown, path = %cached.display(), "{noun} cache hit");
        return Ok(cached);
    }
    if entry.offline {
        return Err(FetchError::Offline {
            url: shown.to_string(),
            what: format!("the {noun} (sha256 {want})"),
        });
    }
    std::fs::create_dir_all(&dir).map_err(|e| FetchError::Io {
        action: "create the archive cache directory",
        path: dir.clone(),
        source: e,
    })?;
    let lock = EntryLock::acquire(
        &dir.join(format!("{want}.{}.lock", kind.ext())),
        &format!("the {noun} {shown}"),
        entry.lock_timeout,
    )?;
    fault::point("cache-locked", shown);
    // Whoever held the lock before may have written it.
    let state = cached_state(&cached, want)?;
    if let Cached::Corrupt(actual) = &state {
        let aside = dir.join(format!("{want}.{}.corrupt", kind.ext()));
        std::fs::rename(&cached, &aside).map_err(|source| FetchError::Io {
            action: "move aside the damaged cache entry",
            path: cached.clone(),
            source,
        })?;
        tracing::warn!(
            "the cached {noun} {} does not match its digest (its sha256 is {actual}); moved it aside to {} and fetching it again",
            cached.display(),
            aside.display()
        );
    }
    if state != Cached::Good {
        let (tmp, actual) = fill(&dir)?;
        if actual != want {
            return Err(mismatch(actual));
        }
        tmp.persist(&cached).map_err(|e| FetchError::Io {
            action: "move the fetched file into the cache at",
            path: cached.clone(),
            source: e.error,
        })?;
    }
    drop(lock);
    Ok(cached)
}

/// What the archive cache holds for one digest.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Cached {
    Good,
    Missing,
    /// A file whose sha256 (given) is not its name's.
    Corrupt(String),
}

pub(crate) fn cached_state(cached: &Path, want: &str) -> Result<Cached, FetchError> {
    match hash_file(cached) {
        Ok(actual) if actual == want => Ok(Cached::Good),
        Ok(actual) => Ok(Cached::Corrupt(actual)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Cached::Missing),
        Err(e) => Err(FetchError::Io {
            action: "read the cached archive",
            path: cached.to_path_buf(),
            source: e,
        }),
    }
}

pub(crate) fn hash_file(path: &Path) -> io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    io::copy(&mut file, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

/// Downloads into a temporary file in `dir`; returns it with its sha256.
fn download(net: &Net, url: &str, dir: &Path) -> Result<(NamedTempFile, String), FetchError> {
    let shown = redact_url(url);
    let fail = |reason: String| FetchError::Download {
        url: shown.clone(),
        reason: redact_url(&reason),
    };
    let start = Url::parse(url).map_err(|e| fail(format!("not a valid URL ({e})")))?;
    // One wall-clock deadline for the whole download, redirects and body included.
    let allowed = net.config.transfer_deadline();
    let deadline = Instant::now() + allowed;
    let timed_out = || FetchError::Timeout {
        what: "download of",
        url: shown.clone(),
        secs: allowed.as_secs(),
        rule: crate::TRANSFER_RULE,
    };
    let mut tmp = NamedTempFile::new_in(dir).map_err(|e| FetchError::Io {
        action: "create a temporary file in",
        path: dir.to_path_buf(),
        source: e,
    })?;
    let (_, body) = follow_redirects(&start, MAX_REDIRECTS, |current, from| {
        let body: Box<dyn Read> = match current.scheme() {
            // A redirect stays on the network: it never turns into a local read.
            _ if from.is_some() && !matches!(current.scheme(), "http" | "https") => {
                return Err(fail(format!(
                    "redirected to {}, which is not an http(s) URL",
                    redact_url(current.as_str())
                )));
            }
            "file" => {
                let path = current
                    .to_file_path()
                    .map_err(|()| fail("not a local path".into()))?;
                Box::new(File::open(&path).map_err(|e| fail(format!("{}: {e}", path.display())))?)
            }
            "http" | "https" => {
                tracing::debug!(url = %redact_url(current.as_str()), "GET");
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(timed_out());
                }
                let resp = net
                    .http
                    .get(current.clone())
                    .timeout(left)
                    .send()
                    .map_err(|e| {
                        if e.is_timeout() {
                            timed_out()
                        } else {
                            fail(describe(e))
                        }
                    })?;
                let status = resp.status().as_u16();
                if matches!(status, 301 | 302 | 303 | 307 | 308) {
                    let location = resp
                        .headers()
                        .get(reqwest::header::LOCATION)
                        .and_then(|v| v.to_str().ok())
                        .ok_or_else(|| fail(format!("HTTP {status} without a Location")))?;
                    return Ok(Hop::Redirect(location.to_string()));
                }
                if !resp.status().is_success() {
                    return Err(FetchError::Http {
                        url: shown.clone(),
                        status,
                    });
                }
                if let Some(len) = resp.content_length()
                    && len > MAX_ARCHIVE_BYTES
                {
                    return Err(fail(format!(
                        "it is {len} bytes, over the {MAX_ARCHIVE_BYTES}-byte limit"
                    )));
                }
                Box::new(resp)
            }
            other => {
                return Err(fail(format!(
                    "unsupported scheme `{other}`; use https://, http:// or file://"
                )));
            }
        };
        Ok(Hop::Done(body))
    })
    .map_err(|e| match e {
        FollowError::Step(e) => e,
        FollowError::Redirect(r) => fail(r.to_string()),
    })?;
    let mut hasher = Sha256::new();
    let mut total = 0u64;
    let mut body = body.take(MAX_ARCHIVE_BYTES + 1);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = body.read(&mut buf).map_err(|e| {
            if is_timeout(&e) {
                timed_out()
            } else {
                fail(format!("reading the body: {e}"))
            }
        })?;
        if n == 0 {
            break;
        }
        total += n as u64;
        if total > MAX_ARCHIVE_BYTES {
            return Err(fail(format!(
                "it is over the {MAX_ARCHIVE_BYTES}-byte limit"
            )));
        }
        hasher.update(&buf[..n]);
        tmp.write_all(&buf[..n]).map_err(|e| FetchError::Io {
            action: "write the download to",
            path: tmp.path().to_path_buf(),
            source: e,
        })?;
    }
    tmp.as_file().sync_all().map_err(|e| FetchError::Io {
        action: "write the download to",
        path: tmp.path().to_path_buf(),
        source: e,
    })?;
    Ok((tmp, hex::encode(hasher.finalize())))
}

/// What an archive entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Dir,
    File {
        exec: bool,
    },
    Symlink(PathBuf),
    /// A hard link to another entry (its archive path).
    HardLink(PathBuf),
    /// Metadata (pax headers): not written.
    Skip,
}

/// One entry of the archive as found in the first pass.
#[derive(Debug)]
struct Planned {
    /// The name as in the archive, for messages.
    raw: String,
    /// Cleaned path, before stripping.
    path: PathBuf,
    kind: Kind,
}

/// One entry as it will be written: `None` when not written (stripped away, metadata).
#[derive(Debug)]
struct Placed {
    path: PathBuf,
    kind: Kind,
}

pub(crate) fn unpack(
    file: &Path,
    kind: ArchiveFormat,
    strip_prefix: Option<&str>,
    shown: &str,
    limits: &TreeLimits,
    dest: &cap_std::fs::Dir,
) -> Result<(), FetchError> {
    let sink = Sink::new(dest, shown.to_string(), *limits);
    let corrupt = |reason: String| FetchError::Archive {
        url: shown.to_string(),
        kind: kind.ext(),
        reason,
    };
    let open = || {
        File::open(file).map_err(|e| FetchError::Io {
            action: "read the cached archive",
            path: file.to_path_buf(),
            source: e,
        })
    };
    let planned = match kind {
        ArchiveFormat::TarGz => {
            let mut archive = tar::Archive::new(GzDecoder::new(open()?));
            let mut planned = Vec::new();
            let mut budget = Budget::new(&sink);
            for entry in archive.entries().map_err(|e| corrupt(e.to_string()))? {
                let entry = entry.map_err(|e| corrupt(e.to_string()))?;
                let p = plan_tar(&entry, &sink).map_err(|e| e.or_corrupt(&corrupt))?;
                let size = match p.kind {
                    Kind::File { .. } => entry.header().size().unwrap_or(u64::MAX),
                    _ => 0,
                };
                budget.add(&p, size)?;
                planned.push(p);
            }
            planned
        }
        ArchiveFormat::Zip => {
            let mut archive = zip::ZipArchive::new(open()?).map_err(|e| corrupt(e.to_string()))?;
            if archive.len() as u64 > limits.max_entries {
                return Err(sink.too_many_entries());
            }
            let mut planned = Vec::new();
            let mut budget = Budget::new(&sink);
            for i in 0..archive.len() {
                let mut entry = archive.by_index(i).map_err(|e| corrupt(e.to_string()))?;
                let p = plan_zip(&mut entry, &sink).map_err(|e| e.or_corrupt(&corrupt))?;
                let size = match p.kind {
                    Kind::File { .. } => entry.size(),
                    _ => 0,
                };
                budget.add(&p, size)?;
                planned.push(p);
            }
            planned
        }
    };
    let placed = place(&planned, strip_prefix, shown, &sink)?;
    match kind {
        ArchiveFormat::TarGz => {
            let mut archive = tar::Archive::new(GzDecoder::new(open()?));
            let entries = archive.entries().map_err(|e| corrupt(e.to_string()))?;
            for (entry, placed) in entries.zip(&placed) {
                let entry = entry.map_err(|e| corrupt(e.to_string()))?;
                if let Some(p) = placed {
                    write(&sink, p, entry)?;
                }
            }
        }
        ArchiveFormat::Zip => {
            let mut archive = zip::ZipArchive::new(open()?).map_err(|e| corrupt(e.to_string()))?;
            for (i, placed) in placed.iter().enumerate() {
                if let Some(p) = placed {
                    let entry = archive.by_index(i).map_err(|e| corrupt(e.to_string()))?;
                    write(&sink, p, entry)?;
                }
            }
        }
    }
    Ok(())
}

/// The first pass's running count of entries and declared file sizes, so an archive
/// over the limits is refused before anything is written (the writes count again, in
/// case the headers lie).
struct Budget<'s, 'a> {
    sink: &'s Sink<'a>,
    entries: u64,
    bytes: u64,
}

impl<'s, 'a> Budget<'s, 'a> {
    fn new(sink: &'s Sink<'a>) -> Self {
        Budget {
            sink,
            entries: 0,
            bytes: 0,
        }
    }

    fn add(&mut self, entry: &Planned, size: u64) -> Result<(), FetchError> {
        if entry.kind == Kind::Skip {
            return Ok(());
        }
        let limits = self.sink.limits();
        self.entries += 1;
        if self.entries > limits.max_entries {
            return Err(self.sink.too_many_entries());
        }
        if size > limits.max_file_bytes {
            return Err(self.sink.file_too_big(Path::new(&entry.raw), Some(size)));
        }
        self.bytes = self.bytes.saturating_add(size);
        if self.bytes > limits.max_bytes {
            return Err(self.sink.too_many_bytes());
        }
        Ok(())
    }
}

/// A first-pass failure: an unsafe entry, or an unreadable archive.
enum PlanError {
    Unsafe(FetchError),
    Corrupt(String),
}

impl PlanError {
    fn or_corrupt(self, corrupt: &impl Fn(String) -> FetchError) -> FetchError {
        match self {
            PlanError::Unsafe(e) => e,
            PlanError::Corrupt(reason) => corrupt(reason),
        }
    }
}

fn planned(raw: String, kind: Kind, sink: &Sink<'_>) -> Result<Planned, PlanError> {
    let path = clean_path(Path::new(&raw))
        .map_err(|reason| PlanError::Unsafe(sink.unsafe_entry(Path::new(&raw), reason)))?;
    Ok(Planned { raw, path, kind })
}

fn plan_tar<R: Read>(entry: &tar::Entry<'_, R>, sink: &Sink<'_>) -> Result<Planned, PlanError> {
    use tar::EntryType as T;
    let raw = entry
        .path()
        .map_err(|e| PlanError::Corrupt(e.to_string()))?
        .to_string_lossy()
        .into_owned();
    let header = entry.header();
    let unsafe_entry = |reason: &str| PlanError::Unsafe(sink.unsafe_entry(Path::new(&raw), reason));
    let link = || -> Result<PathBuf, PlanError> {
        entry
            .link_name()
            .map_err(|e| PlanError::Corrupt(e.to_string()))?
            .map(|l| l.into_owned())
            .ok_or_else(|| unsafe_entry("it is a link without a target"))
    };
    let kind = match header.entry_type() {
        T::Regular | T::Continuous | T::GNUSparse => {
            let mode = header
                .mode()
                .map_err(|e| PlanError::Corrupt(e.to_string()))?;
            Kind::File {
                exec: mode & 0o111 != 0,
            }
        }
        T::Directory => Kind::Dir,
        T::Symlink => Kind::Symlink(link()?),
        T::Link => Kind::HardLink(link()?),
        T::XGlobalHeader | T::XHeader | T::GNULongName | T::GNULongLink => Kind::Skip,
        T::Char | T::Block => return Err(unsafe_entry("it is a device file")),
        T::Fifo => return Err(unsafe_entry("it is a fifo")),
        _ => return Err(unsafe_entry("its tar entry type is not supported")),
    };
    if kind == Kind::Skip {
        return Ok(Planned {
            raw,
            path: PathBuf::new(),
            kind,
        });
    }
    planned(raw, kind, sink)
}

fn plan_zip<R: Read>(
    entry: &mut zip::read::ZipFile<'_, R>,
    sink: &Sink<'_>,
) -> Result<Planned, PlanError> {
    let raw = entry.name().to_string();
    let mode = entry.unix_mode();
    let kind = match mode.map(|m| m & 0o170000) {
        _ if entry.is_dir() => Kind::Dir,
        Some(0o120000) => {
            let mut target = Vec::new();
            entry
                .take(4096)
                .read_to_end(&mut target)
                .map_err(|e| PlanError::Corrupt(e.to_string()))?;
            let target = String::from_utf8(target).map_err(|_| {
                PlanError::Unsafe(
                    sink.unsafe_entry(Path::new(&raw), "its symlink target is not UTF-8"),
                )
            })?;
            Kind::Symlink(PathBuf::from(target))
        }
        None | Some(0) | Some(0o100000) => Kind::File {
            exec: mode.is_some_and(|m| m & 0o111 != 0),
        },
        Some(0o040000) => Kind::Dir,
        Some(_) => {
            return Err(PlanError::Unsafe(sink.unsafe_entry(
                Path::new(&raw),
                "it is a device file, fifo or socket",
            )));
        }
    };
    planned(raw, kind, sink)
}

/// Works out the prefix to strip and where each entry goes; checks symlink and hard-link
/// targets against the final layout.
fn place(
    planned: &[Planned],
    strip_prefix: Option<&str>,
    shown: &str,
    sink: &Sink<'_>,
) -> Result<Vec<Option<Placed>>, FetchError> {
    let content = || {
        planned
            .iter()
            .filter(|p| p.kind != Kind::Skip && !p.path.as_os_str().is_empty())
    };
    let prefix: PathBuf = match strip_prefix {
        Some(p) => {
            let clean = clean_path(Path::new(p)).map_err(|_| FetchError::Prefix {
                url: shown.to_string(),
                prefix: p.to_string(),
            })?;
            if !clean.as_os_str().is_empty()
                && !content().any(|e| e.path.starts_with(&clean) && e.path != clean)
            {
                return Err(FetchError::Prefix {
                    url: shown.to_string(),
                    prefix: p.to_string(),
                });
            }
            clean
        }
        None => {
            let tops: BTreeSet<_> = content()
                .filter_map(|e| e.path.components().next())
                .collect();
            let single_dir = tops.len() == 1
                && content().all(|e| e.path.components().count() > 1 || e.kind == Kind::Dir);
            match tops.into_iter().next() {
                Some(top) if single_dir => PathBuf::from(top.as_os_str()),
                _ => PathBuf::new(),
            }
        }
    };
    let strip = |path: &Path| -> Option<PathBuf> {
        let rest = path.strip_prefix(&prefix).ok()?;
        (!rest.as_os_str().is_empty()).then(|| rest.to_path_buf())
    };
    let mut files = BTreeSet::new();
    let mut placed = Vec::with_capacity(planned.len());
    for entry in planned {
        if entry.kind == Kind::Skip || entry.path.as_os_str().is_empty() {
            placed.push(None);
            continue;
        }
        let Some(path) = strip(&entry.path) else {
            tracing::debug!(entry = %entry.raw, "outside the prefix to strip; skipped");
            placed.push(None);
            continue;
        };
        let kind = match &entry.kind {
            Kind::Symlink(target) => {
                check_symlink(&path, target)
                    .map_err(|reason| sink.unsafe_entry(Path::new(&entry.raw), reason))?;
                entry.kind.clone()
            }
            Kind::HardLink(target) => {
                let bad = |why: &str| {
                    sink.unsafe_entry(
                        Path::new(&entry.raw),
                        format!("it is a hard link to {}, {why}", target.display()),
                    )
                };
                let clean = clean_path(target).map_err(|_| bad("outside the pack"))?;
                let stripped = strip(&clean).ok_or_else(|| bad("outside the pack"))?;
                if !files.contains(&stripped) {
                    return Err(bad("which is not a regular file earlier in the archive"));
                }
                Kind::HardLink(stripped)
            }
            other => other.clone(),
        };
        if matches!(kind, Kind::File { .. }) {
            files.insert(path.clone());
        }
        placed.push(Some(Placed { path, kind }));
    }
    Ok(placed)
}

fn write(sink: &Sink<'_>, placed: &Placed, data: impl Read) -> Result<(), FetchError> {
    match &placed.kind {
        Kind::Dir => sink.dir(&placed.path),
        Kind::File { exec } => sink.file(&placed.path, *exec, data),
        Kind::Symlink(target) => sink.symlink(&placed.path, target),
        Kind::HardLink(target) => sink.hard_link(&placed.path, target),
        Kind::Skip => Ok(()),
    }
}
