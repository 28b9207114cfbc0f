//! Writing fetched trees (git exports, archive contents, copied directories) into a
//! destination directory handle. Every write goes through the `cap_std` handle, so no
//! path can leave it; on top of that, entry paths and symlink targets are checked so the
//! written tree is self-contained: no absolute or `..` paths, no symlink that points out
//! of the tree, no device files, and never a `.git` directory (a planted `.git/config`
//! could run commands when git is later used in the pack directory). No entry is
//! written through a symlink the tree made earlier (each directory is opened without
//! following links), so the depth of a path as written is its real depth, and
//! [`verify_tree`] checks the finished tree as the filesystem resolves it.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};

use cap_std::fs::{Dir, OpenOptions, Permissions, PermissionsExt};
use sha2::{Digest, Sha256};

use crate::FetchError;
use crate::digest::{FileStat, Record, RecordKind, TreeManifest};

/// Fails unless `dest` has no entries.
pub(crate) fn ensure_empty(dest: &Dir) -> Result<(), FetchError> {
    let mut entries = dest.entries().map_err(|e| FetchError::Write {
        entry: ".".into(),
        source: e,
    })?;
    if entries.next().is_some() {
        return Err(FetchError::DestNotEmpty);
    }
    Ok(())
}

/// Whether a path component is `.git`, in any case (case-insensitive file systems).
pub(crate) fn is_dot_git(name: &OsStr) -> bool {
    name.eq_ignore_ascii_case(".git")
}

/// An entry path made relative and plain: `.` components dropped; absolute paths and
/// `..` components refused (the reason is returned). May return an empty path (the root).
pub(crate) fn clean_path(raw: &Path) -> Result<PathBuf, &'static str> {
    let mut out = PathBuf::new();
    for c in raw.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir => return Err("its path contains `..`"),
            Component::RootDir | Component::Prefix(_) => return Err("its path is absolute"),
        }
    }
    Ok(out)
}

/// Checks that a symlink at `link` (a clean path relative to the tree root) with target
/// `target` resolves inside the tree. The rule is lexical and sound without looking at
/// the other entries: the target is relative, its `..` components all come first and climb
/// at most to the tree root, and the rest descends. (A `..` after a name is refused: the
/// name could itself be a symlink, e.g. to `.`, and `..` would then climb out.)
pub(crate) fn check_symlink(link: &Path, target: &Path) -> Result<(), String> {
    if target.as_os_str().is_empty() {
        return Err("its symlink target is empty".into());
    }
    let depth = link.components().count().saturating_sub(1);
    let mut ups = 0usize;
    let mut descended = false;
    for c in target.components() {
        match c {
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!(
                    "it is a symlink to the absolute path {}",
                    target.display()
                ));
            }
            Component::CurDir => {}
            Component::ParentDir if descended => {
                return Err(format!(
                    "it is a symlink to {}, which has `..` after a directory name",
                    target.display()
                ));
            }
            Component::ParentDir => {
                ups += 1;
                if ups > depth {
                    return Err(format!(
                        "it is a symlink to {}, outside the pack",
                        target.display()
                    ));
                }
            }
            Component::Normal(_) => descended = true,
        }
    }
    Ok(())
}

/// Size limits on one fetched tree (an archive's content, a git tree, a local
/// directory), so a small download cannot fill the disk or take hours to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeLimits {
    /// Entries (files, directories, links), at most.
    pub max_entries: u64,
    /// Bytes of file content in the whole tree, at most.
    pub max_bytes: u64,
    /// Bytes of one file, at most.
    pub max_file_bytes: u64,
}

impl TreeLimits {
    /// The setting of [`TreeLimits::max_entries`] in stackpack.toml.
    pub const ENTRIES_SETTING: &'static str = "max_pack_entries";
    /// The setting of [`TreeLimits::max_bytes`] (in MiB) in stackpack.toml.
    pub const BYTES_SETTING: &'static str = "max_pack_size_mib";
    /// The setting of [`TreeLimits::max_file_bytes`] (in MiB) in stackpack.toml.
    pub const FILE_BYTES_SETTING: &'static str = "max_pack_file_mib";
}

impl Default for TreeLimits {
    /// 20,000 entries, 512 MiB in all, 128 MiB per file: several times the largest
    /// packs of the StackStorm Exchange (aws has about 3,600 files).
    fn default() -> Self {
        TreeLimits {
            max_entries: 20_000,
            max_bytes: 512 << 20,
            max_file_bytes: 128 << 20,
        }
    }
}

/// Writer threads a tree export uses, at most, shared by every export of the process
/// (so packs exported at once share them); the default is the number of CPUs up to
/// this. Creating a file is mostly kernel CPU time on the disks measured (about 0.85 ms
/// of system time per file on a 2-core machine, whatever the number of writers), so
/// writers beyond the CPUs only contend: there, a 3,601-file pack took 3.2-5.5 s to
/// install with 1 writer, 3.5-7.9 s with 2, 5.8-8.3 s with 4, 6.0-11.5 s with 8 and
/// 11-12.5 s with 16, against 12.7-14.2 s before writers (on a heavily shared machine).
/// `STACKPACK_TREE_WRITERS` (1 to 64) overrides the default.
pub const TREE_WRITERS: usize = 8;

/// Files held in memory waiting for a writer, per export, at most (with their bytes
/// below [`MAX_QUEUED_BYTES`]).
const MAX_QUEUED_FILES: usize = 256;
/// Bytes of queued files, per export, at most.
const MAX_QUEUED_BYTES: u64 = 32 << 20;
/// A file larger than this is written by the exporting thread as it is read, not queued.
const QUEUE_FILE_BYTES: usize = 1 << 20;
/// Directory handles kept open per export for the next entries, at most.
const MAX_OPEN_DIRS: usize = 64;

type Job = Box<dyn FnOnce() + Send>;

/// The process's writer threads, each with its own queue; `None` when none could be
/// started (the exporting thread then writes everything itself).
///
/// Every file of one directory goes to the same writer ([`writer_for`]): creating a
/// file takes its directory's lock, so two writers in one directory only wait on each
/// other (the kernel spins on that lock; profiles of a 14-pack install showed about a
/// quarter of the CPU spent so), while writers in different directories do not.
fn pool() -> Option<&'static [SyncSender<Job>]> {
    static POOL: OnceLock<Vec<SyncSender<Job>>> = OnceLock::new();
    let writers = POOL.get_or_init(|| {
        let writers = std::env::var("STACKPACK_TREE_WRITERS")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .map_or_else(
                || {
                    std::thread::available_parallelism()
                        .map_or(1, usize::from)
                        .min(TREE_WRITERS)
                },
                |n| n.clamp(1, 64),
            );
        (0..writers)
            .filter_map(|i| {
                // Room for a whole export's queue (bounded by MAX_QUEUED_FILES and
                // MAX_QUEUED_BYTES), so an exporter is not held up by one busy writer
                // while the others could take its next directory.
                let (tx, rx) = mpsc::sync_channel::<Job>(MAX_QUEUED_FILES);
                std::thread::Builder::new()
                    .name(format!("tree-writer-{i}"))
                    .spawn(move || {
                        for job in rx {
                            // A panicking job is recorded as its export's error by its
                            // `Done`; the thread goes on serving the others.
                            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                        }
                    })
                    .ok()
                    .map(|_| tx)
            })
            .collect()
    });
    (!writers.is_empty()).then_some(writers.as_slice())
}

/// The writer that creates the files of the directory `parent` of the export `origin`.
fn writer_for(writers: usize, origin: &str, parent: Option<&Path>) -> usize {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    origin.hash(&mut h);
    parent.hash(&mut h);
    (h.finish() % writers.max(1) as u64) as usize
}

/// What the writers of one export share with the exporting thread.
#[derive(Default)]
struct Export {
    state: Mutex<ExportState>,
    changed: Condvar,
    stopped: AtomicBool,
}

#[derive(Default)]
struct ExportState {
    queued: usize,
    queued_bytes: u64,
    /// The first error; it stops the export.
    error: Option<FetchError>,
    records: Vec<Record>,
}

impl Export {
    fn lock(&self) -> MutexGuard<'_, ExportState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn fail(&self, e: FetchError) {
        let mut st = self.lock();
        if st.error.is_none() {
            st.error = Some(e);
        }
        self.stopped.store(true, Ordering::SeqCst);
    }

    fn record(&self, r: Record) {
        self.lock().records.push(r);
    }

    /// Waits until no more than `files` files and `bytes` bytes are queued.
    fn wait_below(&self, files: usize, bytes: u64) {
        let mut st = self.lock();
        while st.queued > files || (st.queued > 0 && st.queued_bytes > bytes) {
            st = self.changed.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }
}

thread_local! {
    /// The export the next [`Sink`] made on this thread belongs to (set by [`export_parallel`]).
    static SCOPE: RefCell<Option<Arc<Export>>> = const { RefCell::new(None) };
}

/// Runs `export` (a function that writes one tree: [`crate::GitCache::export`],
/// [`crate::fetch_archive`], [`crate::copy_dir`], [`crate::export_local_head`]) with its
/// files written by the shared writer threads ([`TREE_WRITERS`]), and returns, with its
/// result, the [`TreeManifest`] of the tree written: the digests come from the bytes
/// as they were written, and no walk of the tree is needed afterwards.
///
/// Directories are created by the calling thread, in order and without following a
/// link; each file is then created through its directory's handle by a writer, with the
/// same checks, limits and errors as a sequential export. The first error stops the
/// export: files not yet written are dropped, writes under way finish, and that error
/// is returned (the caller discards the destination, as after any failed export).
/// Outside this function, a tree is written by the calling thread alone.
pub fn export_parallel<T>(
    export: impl FnOnce() -> Result<T, FetchError>,
) -> Result<(T, TreeManifest), FetchError> {
    /// Clears the thread's scope however `export` ends (a panic included), so a later
    /// export on this thread is not taken for part of this one.
    struct Scoped;
    impl Drop for Scoped {
        fn drop(&mut self) {
            SCOPE.with(|s| *s.borrow_mut() = None);
        }
    }
    let shared = Arc::new(Export::default());
    SCOPE.with(|s| *s.borrow_mut() = Some(Arc::clone(&shared)));
    let scoped = Scoped;
    let out = export();
    drop(scoped);
    shared.wait_below(0, 0);
    let mut st = shared.lock();
    if let Some(e) = st.error.take() {
        return Err(e);
    }
    let value = out?;
    Ok((
        value,
        TreeManifest::from_records(std::mem::take(&mut st.records)),
    ))
}

/// Writes entries into `dest`; `origin` (a redacted URL or a path) names the source in
/// errors. Nothing is created or written through a symlink: each directory on an
/// entry's path is opened without following links, so a link the tree wrote earlier
/// (`a/b -> ..`) cannot make a later entry (`a/b/...`) land elsewhere; such an entry is
/// refused. Entries and bytes are counted against the [`TreeLimits`]. Made inside
/// [`export_parallel`], it hands files to the writer threads and records the manifest.
pub(crate) struct Sink<'a> {
    dest: &'a Dir,
    origin: Arc<str>,
    limits: TreeLimits,
    entries: AtomicU64,
    bytes: AtomicU64,
    /// The parallel export this sink writes for, if any.
    export: Option<Arc<Export>>,
    /// Open handles of directories written, by path.
    dirs: RefCell<HashMap<PathBuf, Arc<Dir>>>,
    /// Directories recorded in the manifest.
    seen_dirs: RefCell<HashSet<PathBuf>>,
    /// Files and links handed out or written, by path (a writer may not have created
    /// them yet): a later entry of the same name, or one going through it, is refused.
    taken: RefCell<HashMap<PathBuf, &'static str>>,
}

impl<'a> Sink<'a> {
    pub(crate) fn new(dest: &'a Dir, origin: String, limits: TreeLimits) -> Sink<'a> {
        Sink {
            dest,
            origin: origin.into(),
            limits,
            entries: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            export: SCOPE.with(|s| s.borrow_mut().take()),
            dirs: RefCell::new(HashMap::new()),
            seen_dirs: RefCell::new(HashSet::new()),
            taken: RefCell::new(HashMap::new()),
        }
    }

    pub(crate) fn origin(&self) -> &str {
        &self.origin
    }

    pub(crate) fn limits(&self) -> &TreeLimits {
        &self.limits
    }

    pub(crate) fn unsafe_entry(&self, entry: &Path, reason: impl Into<String>) -> FetchError {
        unsafe_entry(&self.origin, entry, reason)
    }

    /// The error for a tree over the entry limit.
    pub(crate) fn too_many_entries(&self) -> FetchError {
        FetchError::TooBig {
            origin: self.origin.to_string(),
            what: format!("it has more than {} entries", self.limits.max_entries),
            limit: format!("{} entries", self.limits.max_entries),
            setting: TreeLimits::ENTRIES_SETTING,
        }
    }

    /// The error for a tree over the total size limit.
    pub(crate) fn too_many_bytes(&self) -> FetchError {
        FetchError::TooBig {
            origin: self.origin.to_string(),
            what: format!(
                "its files hold more than {}",
                stackpack_fs::human_bytes(self.limits.max_bytes)
            ),
            limit: stackpack_fs::human_bytes(self.limits.max_bytes),
            setting: TreeLimits::BYTES_SETTING,
        }
    }

    /// The error for a file over the per-file limit (`size` when known).
    pub(crate) fn file_too_big(&self, rel: &Path, size: Option<u64>) -> FetchError {
        let size = size.map_or_else(|| "more".into(), |s| format!("{s} bytes"));
        FetchError::TooBig {
            origin: self.origin.to_string(),
            what: format!("`{}` is {size}", rel.display()),
            limit: format!(
                "{} per file",
                stackpack_fs::human_bytes(self.limits.max_file_bytes)
            ),
            setting: TreeLimits::FILE_BYTES_SETTING,
        }
    }

    /// Fails when a writer of this export has failed; the export stops there.
    fn check_stopped(&self) -> Result<(), FetchError> {
        match &self.export {
            Some(x) if x.stopped.load(Ordering::SeqCst) => Err(stopped()),
            _ => Ok(()),
        }
    }

    /// Records an error of the exporting thread as the export's (first) error.
    fn failed(&self, e: FetchError) -> FetchError {
        if let Some(x) = &self.export {
            x.stopped.store(true, Ordering::SeqCst);
        }
        e
    }

    /// Counts one more entry against the limit.
    pub(crate) fn count_entry(&self) -> Result<(), FetchError> {
        self.check_stopped()?;
        let n = self.entries.fetch_add(1, Ordering::SeqCst) + 1;
        if n > self.limits.max_entries {
            return Err(self.failed(self.too_many_entries()));
        }
        Ok(())
    }

    /// Checks a file's declared size (before reading it) against both size limits.
    pub(crate) fn check_size(&self, rel: &Path, size: u64) -> Result<(), FetchError> {
        if size > self.limits.max_file_bytes {
            return Err(self.failed(self.file_too_big(rel, Some(size))));
        }
        if self.bytes.load(Ordering::SeqCst).saturating_add(size) > self.limits.max_bytes {
            return Err(self.failed(self.too_many_bytes()));
        }
        Ok(())
    }

    /// Counts `n` more bytes of the file `rel`, of which `written` are read so far.
    fn count_bytes(&self, rel: &Path, written: u64, n: u64) -> Result<(), FetchError> {
        if written > self.limits.max_file_bytes {
            return Err(self.failed(self.file_too_big(rel, None)));
        }
        let total = self.bytes.fetch_add(n, Ordering::SeqCst) + n;
        if total > self.limits.max_bytes {
            return Err(self.failed(self.too_many_bytes()));
        }
        Ok(())
    }

    /// Whether `rel` lies in a `.git` directory (or is one): such entries are skipped.
    fn skipped(&self, rel: &Path) -> bool {
        if rel.components().any(|c| is_dot_git(c.as_os_str())) {
            tracing::warn!(origin = %self.origin, entry = %rel.display(), "skipping a .git entry");
            return true;
        }
        false
    }

    /// The plain names of `rel`, which must be a clean relative path.
    fn names<'p>(&self, rel: &'p Path) -> Result<Vec<&'p OsStr>, FetchError> {
        rel.components()
            .map(|c| match c {
                Component::Normal(n) => Ok(n),
                _ => Err(self.unsafe_entry(rel, "its path is not a plain relative path")),
            })
            .collect()
    }

    /// The error for an entry whose path goes through `sofar`, which is `what`.
    fn through(&self, rel: &Path, sofar: &Path, what: &str) -> FetchError {
        if what == "a symlink" {
            self.unsafe_entry(
                rel,
                format!(
                    "its path goes through `{}`, a symlink written earlier in the tree; \
                     nothing is written through a symlink",
                    sofar.display()
                ),
            )
        } else {
            self.unsafe_entry(
                rel,
                format!(
                    "its path goes through `{}`, which is {what} (an entry appears twice)",
                    sofar.display()
                ),
            )
        }
    }

    /// Opens the directories `names` one after the other from the destination, without
    /// following a symlink, creating the missing ones when `create`. `rel` is the entry
    /// being written, for messages.
    fn walk(&self, names: &[&OsStr], rel: &Path, create: bool) -> Result<Arc<Dir>, FetchError> {
        let full: PathBuf = names.iter().collect();
        if let Some(dir) = self.dirs.borrow().get(&full) {
            return Ok(Arc::clone(dir));
        }
        let mut dir = Arc::new(
            self.dest
                .try_clone()
                .map_err(|e| write_err(Path::new("."), e))?,
        );
        let mut sofar = PathBuf::new();
        for name in names {
            sofar.push(name);
            if let Some(known) = self.dirs.borrow().get(&sofar) {
                dir = Arc::clone(known);
                continue;
            }
            if let Some(what) = self.taken.borrow().get(&sofar) {
                return Err(self.through(rel, &sofar, what));
            }
            let opened = if create {
                stackpack_fs::create_dir_nofollow(&dir, name)
            } else {
                stackpack_fs::open_dir_nofollow(&dir, name)
            };
            let opened = opened.map_err(|e| match dir.symlink_metadata(name) {
                Ok(m) if m.is_symlink() || !m.is_dir() => {
                    self.through(rel, &sofar, stackpack_fs::kind_of(&m))
                }
                _ => write_err(rel, e),
            })?;
            dir = Arc::new(opened);
            if self.seen_dirs.borrow_mut().insert(sofar.clone())
                && let Some(x) = &self.export
            {
                x.record(Record {
                    path: sofar.clone(),
                    kind: RecordKind::Dir,
                });
            }
            let mut dirs = self.dirs.borrow_mut();
            if dirs.len() >= MAX_OPEN_DIRS {
                dirs.clear();
            }
            dirs.insert(sofar.clone(), Arc::clone(&dir));
        }
        Ok(dir)
    }

    /// The directory holding `rel` (created as needed, never through a link) and the
    /// entry's own name.
    fn parent<'p>(&self, rel: &'p Path) -> Result<(Arc<Dir>, &'p OsStr), FetchError> {
        let names = self.names(rel)?;
        let Some((last, parents)) = names.split_last() else {
            return Err(self.unsafe_entry(rel, "its path is empty"));
        };
        Ok((self.walk(parents, rel, true)?, last))
    }

    /// Claims `rel` for a file or link: an entry of that name handed out earlier makes
    /// this one a duplicate.
    fn take(&self, rel: &Path, what: &'static str) -> Result<(), FetchError> {
        let mut taken = self.taken.borrow_mut();
        if taken.contains_key(rel) || self.seen_dirs.borrow().contains(rel) {
            return Err(self.unsafe_entry(rel, "it appears twice"));
        }
        taken.insert(rel.to_path_buf(), what);
        Ok(())
    }

    pub(crate) fn dir(&self, rel: &Path) -> Result<(), FetchError> {
        if rel.as_os_str().is_empty() || self.skipped(rel) {
            return Ok(());
        }
        self.count_entry()?;
        let names = self.names(rel)?;
        self.walk(&names, rel, true).map(drop)
    }

    /// A regular file, mode 0755 when `exec`, else 0644. An existing entry of that name
    /// (a duplicate in an archive) is refused rather than overwritten or written through.
    /// Its bytes count against the size limits as they are read.
    pub(crate) fn file(
        &self,
        rel: &Path,
        exec: bool,
        mut data: impl Read,
    ) -> Result<(), FetchError> {
        if self.skipped(rel) {
            return Ok(());
        }
        self.count_entry()?;
        let (parent, name) = self.parent(rel)?;
        self.take(rel, "a regular file")?;
        let mode = if exec { 0o755 } else { 0o644 };
        let job = FileJob {
            parent,
            name: name.to_os_string(),
            rel: rel.to_path_buf(),
            mode,
            origin: Arc::clone(&self.origin),
            hash: self.export.is_some(),
        };
        // Read into memory (a small file, handed to a writer), or, past
        // QUEUE_FILE_BYTES or without writers, written here as it is read.
        let queue = self.export.is_some() && pool().is_some();
        let mut held: Vec<u8> = Vec::new();
        let mut open: Option<(cap_std::fs::File, Sha256)> = None;
        let mut buf = vec![0u8; 64 * 1024];
        let mut written = 0u64;
        loop {
            let n = match data.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.failed(write_err(rel, e))),
            };
            written += n as u64;
            self.count_bytes(rel, written, n as u64)?;
            if open.is_none() && (!queue || held.len() + n > QUEUE_FILE_BYTES) {
                let mut file = job.create().map_err(|e| self.failed(e))?;
                let mut hasher = Sha256::new();
                file.write_all(&held)
                    .map_err(|e| self.failed(write_err(rel, e)))?;
                hasher.update(&held);
                held = Vec::new();
                open = Some((file, hasher));
            }
            match &mut open {
                Some((file, hasher)) => {
                    file.write_all(&buf[..n])
                        .map_err(|e| self.failed(write_err(rel, e)))?;
                    if job.hash {
                        hasher.update(&buf[..n]);
                    }
                }
                None => held.extend_from_slice(&buf[..n]),
            }
        }
        match (open, &self.export) {
            (Some((file, hasher)), export) => {
                let record = job.finish(file, hasher).map_err(|e| self.failed(e))?;
                if let (Some(x), Some(r)) = (export, record) {
                    x.record(r);
                }
                Ok(())
            }
            (None, Some(x)) if queue => {
                self.check_stopped()?;
                let size = held.len() as u64;
                x.wait_below(MAX_QUEUED_FILES - 1, MAX_QUEUED_BYTES.saturating_sub(size));
                self.check_stopped()?;
                {
                    let mut st = x.lock();
                    st.queued += 1;
                    st.queued_bytes += size;
                }
                let x = Arc::clone(x);
                let run: Job = Box::new(move || {
                    // Counted as done however the write ends, a panic included.
                    let done = Done {
                        export: Arc::clone(&x),
                        size,
                        rel: job.rel.clone(),
                    };
                    if !x.stopped.load(Ordering::SeqCst) {
                        match job.write(&held) {
                            Ok(Some(r)) => x.record(r),
                            Ok(None) => {}
                            Err(e) => x.fail(e),
                        }
                    }
                    drop(done);
                });
                match pool() {
                    Some(writers) => writers[writer_for(writers.len(), &self.origin, rel.parent())]
                        .send(run)
                        .map_err(|_| {
                            self.failed(write_err(
                                rel,
                                io::Error::other("the tree writer threads have stopped"),
                            ))
                        }),
                    None => {
                        run();
                        Ok(())
                    }
                }
            }
            (None, export) => {
                let record = job.write(&held).map_err(|e| self.failed(e))?;
                if let (Some(x), Some(r)) = (export, record) {
                    x.record(r);
                }
                Ok(())
            }
        }
    }

    /// A symlink, only if [`check_symlink`] accepts it.
    pub(crate) fn symlink(&self, rel: &Path, target: &Path) -> Result<(), FetchError> {
        check_symlink(rel, target).map_err(|reason| self.unsafe_entry(rel, reason))?;
        if self.skipped(rel) {
            return Ok(());
        }
        self.count_entry()?;
        let (parent, name) = self.parent(rel)?;
        self.take(rel, "a symlink")?;
        parent
            .symlink(target, name)
            .map_err(|e| self.failed(exists_err(&self.origin, rel, e)))?;
        if let Some(x) = &self.export {
            x.record(Record {
                path: rel.to_path_buf(),
                kind: RecordKind::Link(target.to_path_buf()),
            });
        }
        Ok(())
    }

    /// A hard link to `target`, a regular file already written (both clean relative
    /// paths); neither path may pass through a symlink. Waits for the files handed to
    /// writers, so the target is on disk.
    pub(crate) fn hard_link(&self, rel: &Path, target: &Path) -> Result<(), FetchError> {
        if self.skipped(rel) || self.skipped(target) {
            return Ok(());
        }
        self.count_entry()?;
        if let Some(x) = &self.export {
            x.wait_below(0, 0);
            self.check_stopped()?;
        }
        let names = self.names(target)?;
        let Some((target_name, target_parents)) = names.split_last() else {
            return Err(self.unsafe_entry(rel, "its link target is empty"));
        };
        let from = self.walk(target_parents, rel, false)?;
        let meta = match from.symlink_metadata(target_name) {
            Ok(m) if m.is_file() => m,
            _ => {
                return Err(self.unsafe_entry(
                    rel,
                    format!(
                        "it is a hard link to {}, which is not a regular file written earlier",
                        target.display()
                    ),
                ));
            }
        };
        let (parent, name) = self.parent(rel)?;
        self.take(rel, "a regular file")?;
        from.hard_link(target_name, &parent, name)
            .map_err(|e| self.failed(exists_err(&self.origin, rel, e)))?;
        if let Some(x) = &self.export {
            let mut st = x.lock();
            let sha = st.records.iter().find_map(|r| match &r.kind {
                RecordKind::File(f) if r.path == target => Some(f.sha256),
                _ => None,
            });
            st.records.push(Record {
                path: rel.to_path_buf(),
                kind: RecordKind::File(FileStat::from_meta(&meta, sha.unwrap_or([0; 32]))),
            });
        }
        Ok(())
    }
}

/// Marks one queued file as written (or failed, when dropped during a panic).
struct Done {
    export: Arc<Export>,
    size: u64,
    rel: PathBuf,
}

impl Drop for Done {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.export.fail(write_err(
                &self.rel,
                io::Error::other("the writer thread failed while writing it"),
            ));
        }
        let mut st = self.export.lock();
        st.queued -= 1;
        st.queued_bytes -= self.size;
        drop(st);
        self.export.changed.notify_all();
    }
}

/// One file to create through its directory's handle.
struct FileJob {
    parent: Arc<Dir>,
    name: OsString,
    rel: PathBuf,
    mode: u32,
    origin: Arc<str>,
    /// Whether to hash the bytes and record the file (inside [`export_parallel`]).
    hash: bool,
}

impl FileJob {
    fn create(&self) -> Result<cap_std::fs::File, FetchError> {
        self.parent
            .open_with(&self.name, OpenOptions::new().write(true).create_new(true))
            .map_err(|e| exists_err(&self.origin, &self.rel, e))
    }

    fn write(&self, bytes: &[u8]) -> Result<Option<Record>, FetchError> {
        let mut file = self.create()?;
        file.write_all(bytes).map_err(|e| write_err(&self.rel, e))?;
        let mut hasher = Sha256::new();
        if self.hash {
            hasher.update(bytes);
        }
        self.finish(file, hasher)
    }

    /// Sets the mode, then reads back the file's `stat` for the manifest.
    fn finish(
        &self,
        file: cap_std::fs::File,
        hasher: Sha256,
    ) -> Result<Option<Record>, FetchError> {
        file.set_permissions(Permissions::from_mode(self.mode))
            .map_err(|e| write_err(&self.rel, e))?;
        if !self.hash {
            return Ok(None);
        }
        let meta = file.metadata().map_err(|e| write_err(&self.rel, e))?;
        Ok(Some(Record {
            path: self.rel.clone(),
            kind: RecordKind::File(FileStat::from_meta(&meta, hasher.finalize().into())),
        }))
    }
}

fn unsafe_entry(origin: &str, entry: &Path, reason: impl Into<String>) -> FetchError {
    FetchError::UnsafeEntry {
        origin: origin.to_string(),
        entry: entry.display().to_string(),
        reason: reason.into(),
    }
}

fn write_err(entry: &Path, source: io::Error) -> FetchError {
    FetchError::Write {
        entry: entry.display().to_string(),
        source,
    }
}

fn exists_err(origin: &str, rel: &Path, e: io::Error) -> FetchError {
    match e.kind() {
        io::ErrorKind::AlreadyExists => unsafe_entry(origin, rel, "it appears twice"),
        _ => write_err(rel, e),
    }
}

/// What the exporting thread returns when a writer failed first; [`export_parallel`]
/// returns that writer's error instead.
fn stopped() -> FetchError {
    write_err(
        Path::new("."),
        io::Error::other("the export stopped after another entry failed"),
    )
}

/// Checks a written tree as the filesystem resolves it: every symlink, followed through
/// the other symlinks of the tree, must stay inside it (absolute targets and chains that
/// climb above the top are refused), and no entry may be a fifo, socket or device file.
/// `origin` names the source in errors.
pub fn verify_tree(dir: &Dir, origin: &str) -> Result<(), FetchError> {
    let unsafe_entry = |entry: &Path, reason: String| FetchError::UnsafeEntry {
        origin: origin.to_string(),
        entry: entry.display().to_string(),
        reason,
    };
    let read_err = |entry: &Path, source: io::Error| FetchError::Write {
        entry: entry.display().to_string(),
        source,
    };
    let top = dir.try_clone().map_err(|e| read_err(Path::new("."), e))?;
    let mut stack = vec![(PathBuf::new(), top)];
    while let Some((base, handle)) = stack.pop() {
        let entries = handle.entries().map_err(|e| read_err(&base, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| read_err(&base, e))?;
            let name = entry.file_name();
            let rel = base.join(&name);
            let meta = handle
                .symlink_metadata(&name)
                .map_err(|e| read_err(&rel, e))?;
            if meta.is_dir() {
                let sub = stackpack_fs::open_dir_nofollow(&handle, &name)
                    .map_err(|e| read_err(&rel, e))?;
                stack.push((rel, sub));
            } else if meta.is_symlink() {
                let target = handle.read_link(&name).map_err(|e| read_err(&rel, e))?;
                let mut hops = 0;
                let start: Vec<_> = base.iter().map(OsStr::to_os_string).collect();
                resolve(dir, start, &target, &mut hops).map_err(|reason| {
                    unsafe_entry(
                        &rel,
                        format!("it is a symlink to {}, which {reason}", target.display()),
                    )
                })?;
            } else if !meta.is_file() {
                return Err(unsafe_entry(
                    &rel,
                    format!("it is {}", stackpack_fs::kind_of(&meta)),
                ));
            }
        }
    }
    Ok(())
}

/// Symlinks followed while resolving one link, at most (the kernel's limit).
const MAX_HOPS: u32 = 40;

/// Resolves `target` from the directory `at` (names from the tree's top, each a real
/// directory), following the tree's symlinks as the kernel would; returns the resolved
/// names, or why it leaves the tree. A missing name is taken as written (the kernel
/// would stop there), and the rest is still checked lexically.
fn resolve(
    dir: &Dir,
    mut at: Vec<OsString>,
    target: &Path,
    hops: &mut u32,
) -> Result<Vec<OsString>, String> {
    for c in target.components() {
        match c {
            Component::RootDir | Component::Prefix(_) => {
                return Err("is absolute".into());
            }
            Component::CurDir => {}
            Component::ParentDir => {
                if at.pop().is_none() {
                    return Err("leaves the pack (as the filesystem resolves it)".into());
                }
            }
            Component::Normal(name) => {
                at.push(name.to_os_string());
                let path: PathBuf = at.iter().collect();
                match dir.symlink_metadata(&path) {
                    Ok(m) if m.is_symlink() => {
                        *hops += 1;
                        if *hops > MAX_HOPS {
                            return Err("goes through too many symlinks".into());
                        }
                        let next = dir.read_link(&path).map_err(|e| e.to_string())?;
                        at.pop();
                        at = resolve(dir, at, &next, hops)?;
                    }
                    _ => {}
                }
            }
        }
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(link: &str, target: &str) -> bool {
        check_symlink(Path::new(link), Path::new(target)).is_ok()
    }

    #[test]
    fn symlink_rule() {
        assert!(ok("link", "run.sh"));
        assert!(ok("a/link", "../run.sh"));
        assert!(ok("a/b/link", "../../x/y"));
        assert!(ok("a/link", "./b/./c"));
        assert!(!ok("link", "../x"));
        assert!(!ok("a/link", "../../x"));
        assert!(!ok("link", "/etc/passwd"));
        assert!(!ok("link", "d/.."));
        assert!(!ok("a/link", "b/../../x"));
        assert!(!ok("link", ""));
    }

    #[test]
    fn path_cleaning() {
        assert_eq!(clean_path(Path::new("./a/./b")), Ok(PathBuf::from("a/b")));
        assert_eq!(clean_path(Path::new("./")), Ok(PathBuf::new()));
        assert!(clean_path(Path::new("../evil")).is_err());
        assert!(clean_path(Path::new("a/../../evil")).is_err());
        assert!(clean_path(Path::new("/etc/passwd")).is_err());
    }
}
