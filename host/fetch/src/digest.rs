//! Two digests of a pack tree, both computed from one list of entries
//! ([`TreeManifest`]) that an export fills while it writes, or that a scan of a directory
//! fills from the disk.
//!
//! - The **content digest** ([`TreeManifest::content_sha256`]) depends only on what the
//!   tree holds, so two exports of the same tree on any machines give the same value.
//!   It is the sha256 of the entries in path order (component by component, bytes
//!   compared), each written as
//!   - a directory: `d <path>\0`
//!   - a file: `f <path>\0<permission bits, octal>\0<sha256 of its bytes, hex>\0`
//!   - a symlink: `l <path>\0<target>\0`
//!
//!   where `<path>` is the entry's path from the tree's top with `/` between names, as
//!   raw bytes. A hard link is a file like any other.
//! - The **fingerprint** ([`TreeManifest::fingerprint`], [`tree_fingerprint`]) is what
//!   git's index keeps: per entry the path, kind, mode, size, modification time and inode
//!   (and a symlink's target), hashed in the same order. It reads no content, so checking
//!   an installed tree against it costs one `stat` per entry; it means something only on
//!   the machine and filesystem that wrote the tree.

use std::ffi::OsStr;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use cap_std::fs::{Dir, MetadataExt, PermissionsExt};
use sha2::{Digest, Sha256};

/// One entry of a tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) path: PathBuf,
    pub(crate) kind: RecordKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RecordKind {
    Dir,
    File(FileStat),
    Link(PathBuf),
}

/// What is known of a written file: its `stat` fields and the sha256 of its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileStat {
    /// `st_mode`, file type bits included.
    pub(crate) mode: u32,
    pub(crate) len: u64,
    pub(crate) mtime: Option<SystemTime>,
    pub(crate) ino: u64,
    pub(crate) sha256: [u8; 32],
}

impl FileStat {
    pub(crate) fn from_meta(meta: &cap_std::fs::Metadata, sha256: [u8; 32]) -> FileStat {
        FileStat {
            mode: meta.permissions().mode(),
            len: meta.len(),
            mtime: meta.modified().map(|t| t.into_std()).ok(),
            ino: meta.ino(),
            sha256,
        }
    }
}

/// The entries of one tree, with the digests computed from them (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeManifest {
    records: Vec<Record>,
    sorted: bool,
}

impl TreeManifest {
    pub(crate) fn from_records(mut records: Vec<Record>) -> TreeManifest {
        records.sort_by(|a, b| a.path.cmp(&b.path));
        TreeManifest {
            records,
            sorted: true,
        }
    }

    /// Reads the tree under `dir` from the disk, file contents included: the manifest an
    /// export of that very tree would have made. Symlinks are read, never followed.
    pub fn scan(dir: &Dir) -> io::Result<TreeManifest> {
        let mut records = Vec::new();
        scan(dir, Path::new(""), true, &mut records)?;
        Ok(TreeManifest::from_records(records))
    }

    /// Adds (or replaces) the regular file `name` at the top of `dir`, reading it from the
    /// disk: a file put into an exported tree after the export.
    pub fn add_top_file(&mut self, dir: &Dir, name: &str) -> io::Result<()> {
        let mut file = stackpack_fs::open_file_nofollow(dir, OsStr::new(name))?;
        let meta = cap_std::fs::Metadata::from_file(&file)?;
        let sha = hash_reader(&mut file)?;
        let path = PathBuf::from(name);
        self.records.retain(|r| r.path != path);
        self.records.push(Record {
            path,
            kind: RecordKind::File(FileStat::from_meta(&meta, sha)),
        });
        self.sorted = false;
        Ok(())
    }

    fn ordered(&self) -> Vec<&Record> {
        let mut out: Vec<&Record> = self.records.iter().collect();
        if !self.sorted {
            out.sort_by(|a, b| a.path.cmp(&b.path));
        }
        out
    }

    /// Entries (files, directories, links) in the tree.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The content digest, hex (see the module docs).
    pub fn content_sha256(&self) -> String {
        let mut h = Sha256::new();
        for r in self.ordered() {
            let path = r.path.as_os_str().as_bytes();
            match &r.kind {
                RecordKind::Dir => {
                    h.update(b"d ");
                    h.update(path);
                    h.update(b"\0");
                }
                RecordKind::File(f) => {
                    h.update(b"f ");
                    h.update(path);
                    h.update(format!(
                        "\0{:o}\0{}\0",
                        f.mode & 0o7777,
                        hex::encode(f.sha256)
                    ));
                }
                RecordKind::Link(target) => {
                    h.update(b"l ");
                    h.update(path);
                    h.update(b"\0");
                    h.update(target.as_os_str().as_bytes());
                    h.update(b"\0");
                }
            }
        }
        hex::encode(h.finalize())
    }

    /// The fingerprint, hex (see the module docs): equal to [`tree_fingerprint`] of the
    /// directory the manifest describes, as long as nothing in it changed.
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        for r in self.ordered() {
            let path = r.path.to_string_lossy();
            match &r.kind {
                RecordKind::Dir => h.update(format!("d {path}\0")),
                RecordKind::Link(target) => {
                    h.update(format!("l {path}\0{}\0", target.display()));
                }
                RecordKind::File(f) => h.update(format!(
                    "f {path} {:o} {} {:?} {}\0",
                    f.mode, f.len, f.mtime, f.ino
                )),
            }
        }
        hex::encode(h.finalize())
    }
}

/// The fingerprint of the tree under `dir` (see the module docs), from one `stat` per
/// entry; no file is read.
pub fn tree_fingerprint(dir: &Dir) -> io::Result<String> {
    let mut records = Vec::new();
    scan(dir, Path::new(""), false, &mut records)?;
    Ok(TreeManifest::from_records(records).fingerprint())
}

/// The content digest of the tree under `dir`, reading every file.
pub fn tree_content_sha256(dir: &Dir) -> io::Result<String> {
    TreeManifest::scan(dir).map(|m| m.content_sha256())
}

fn hash_reader(r: &mut impl Read) -> io::Result<[u8; 32]> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => h.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(h.finalize().into())
}

/// Lists the tree under `dir` into `out`; subdirectories are opened without following a
/// link. With `content`, each regular file is read and hashed (else its hash is zeros).
/// Anything that is neither a directory nor a symlink is listed as a file, with its stat.
fn scan(dir: &Dir, base: &Path, content: bool, out: &mut Vec<Record>) -> io::Result<()> {
    for entry in dir.entries()? {
        let entry = entry?;
        let name = entry.file_name();
        let path = base.join(&name);
        let ty = entry.file_type()?;
        if ty.is_dir() {
            out.push(Record {
                path: path.clone(),
                kind: RecordKind::Dir,
            });
            let sub = stackpack_fs::open_dir_nofollow(dir, OsStr::new(&name))?;
            scan(&sub, &path, content, out)?;
        } else if ty.is_symlink() {
            out.push(Record {
                kind: RecordKind::Link(dir.read_link(&name)?),
                path,
            });
        } else {
            let meta = entry.metadata()?;
            let sha = if content && meta.is_file() {
                let mut file = stackpack_fs::open_file_nofollow(dir, &name)?;
                hash_reader(&mut file)?
            } else {
                [0; 32]
            };
            out.push(Record {
                path,
                kind: RecordKind::File(FileStat::from_meta(&meta, sha)),
            });
        }
    }
    Ok(())
}
