//! Reproducible layers: the same tree gives the same bytes, so pushing it twice gives one
//! digest.
//!
//! The tar holds every entry under the directory sorted by path (directories before their
//! contents), with uid/gid 0, empty owner names, mtime 0, mode 0755 for directories and
//! executable files and 0644 for the other files, and symlinks kept as links with their
//! target as written. Left out: `.git` (at any depth), any directory holding a
//! `pyvenv.cfg` (a virtualenv), `__pycache__` directories (bytecode differs between
//! machines) and, at the top, stackpack's own `.stackpack*` files. A fifo, socket or device
//! is refused. The gzip header has no file name, mtime 0 and OS "unknown"; the
//! compression level is fixed.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use flate2::{Compression, GzBuilder};
use sha2::{Digest, Sha256};

use crate::OciError;

/// The gzip level of every layer.
const LEVEL: u32 = 6;

/// The pack tree under `dir` as a reproducible tar+gzip (see the module docs).
pub fn reproducible_tar_gz(dir: &Path) -> Result<Vec<u8>, OciError> {
    let mut paths = Vec::new();
    walk(dir, Path::new(""), &mut paths)?;
    pack(dir, &paths)
}

/// Only the top-level entries `names` of `dir` that exist (a directory with all it holds,
/// under the same rules as [`reproducible_tar_gz`]), e.g. `stackpack.lock` and `overrides`.
pub fn reproducible_tar_gz_of(dir: &Path, names: &[&str]) -> Result<Vec<u8>, OciError> {
    let mut sorted: Vec<&str> = names.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut paths = Vec::new();
    for name in sorted {
        let rel = PathBuf::from(name);
        let full = dir.join(&rel);
        let meta = match fs::symlink_metadata(&full) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(layer_error(&full, e)),
        };
        paths.push(rel.clone());
        if meta.is_dir() {
            walk(&full, &rel, &mut paths)?;
        }
    }
    pack(dir, &paths)
}

/// The sha256 (`sha256:<hex>`) of the uncompressed tar inside a layer: the digest of the
/// tree's content, independent of the compression.
pub fn tree_sha256(layer: &[u8]) -> Result<String, OciError> {
    let mut decoder = flate2::read::GzDecoder::new(layer);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = decoder.read(&mut buf).map_err(|e| OciError::Layer {
            path: PathBuf::from("<layer>"),
            reason: format!("it is not a readable gzip stream: {e}"),
        })?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(format!("sha256:{}", hex::encode(hasher.finalize())))
}

/// Appends to `out` the entries under `dir` (whose path relative to the tree is `rel`),
/// sorted by name, depth first.
fn walk(dir: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> Result<(), OciError> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| layer_error(dir, e))? {
        let entry = entry.map_err(|e| layer_error(dir, e))?;
        names.push(entry.file_name());
    }
    names.sort();
    for name in names {
        let text = name.to_string_lossy();
        if text == ".git" || text == "__pycache__" {
            continue;
        }
        if rel.as_os_str().is_empty() && text.starts_with(".stackpack") {
            continue;
        }
        let full = dir.join(&name);
        let meta = fs::symlink_metadata(&full).map_err(|e| layer_error(&full, e))?;
        if meta.is_dir() && full.join("pyvenv.cfg").exists() {
            continue;
        }
        let child = rel.join(&name);
        out.push(child.clone());
        if meta.is_dir() {
            walk(&full, &child, out)?;
        }
    }
    Ok(())
}

fn pack(dir: &Path, paths: &[PathBuf]) -> Result<Vec<u8>, OciError> {
    let gz = GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), Compression::new(LEVEL));
    let mut tar = tar::Builder::new(gz);
    tar.follow_symlinks(false);
    for rel in paths {
        let full = dir.join(rel);
        let meta = fs::symlink_metadata(&full).map_err(|e| layer_error(&full, e))?;
        let mut header = tar::Header::new_gnu();
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        let ty = meta.file_type();
        let result = if ty.is_dir() {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_mode(0o755);
            header.set_size(0);
            tar.append_data(&mut header, rel, std::io::empty())
        } else if ty.is_symlink() {
            let target = fs::read_link(&full).map_err(|e| layer_error(&full, e))?;
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_mode(0o777);
            header.set_size(0);
            tar.append_link(&mut header, rel, &target)
        } else if ty.is_file() {
            let exec = meta.permissions().mode() & 0o111 != 0;
            header.set_entry_type(tar::EntryType::Regular);
            header.set_mode(if exec { 0o755 } else { 0o644 });
            header.set_size(meta.len());
            let file = fs::File::open(&full).map_err(|e| layer_error(&full, e))?;
            tar.append_data(&mut header, rel, file.take(meta.len()))
        } else {
            return Err(OciError::Layer {
                path: full,
                reason: "it is not a regular file, directory or symlink (a fifo, socket or \
                         device); remove it from the pack"
                    .to_string(),
            });
        };
        result.map_err(|e| layer_error(&full, e))?;
    }
    let gz = tar.into_inner().map_err(|e| layer_error(dir, e))?;
    let mut bytes = gz.finish().map_err(|e| layer_error(dir, e))?;
    bytes.flush().map_err(|e| layer_error(dir, e))?;
    Ok(bytes)
}

fn layer_error(path: &Path, e: std::io::Error) -> OciError {
    OciError::Layer {
        path: path.to_path_buf(),
        reason: format!("{e}; check that it is readable and not changing while it is packed"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::os::unix::fs::symlink;

    fn tree(dir: &Path) {
        fs::create_dir_all(dir.join("actions/lib")).unwrap();
        fs::write(dir.join("pack.yaml"), "name: p\nversion: 1.0.0\n").unwrap();
        fs::write(dir.join("actions/run.sh"), "#!/bin/sh\necho hi\n").unwrap();
        fs::set_permissions(
            dir.join("actions/run.sh"),
            fs::Permissions::from_mode(0o700),
        )
        .unwrap();
        fs::write(dir.join("actions/lib/a.py"), "A = 1\n").unwrap();
        fs::write(dir.join("README.md"), "readme\n").unwrap();
        symlink("actions/run.sh", dir.join("run")).unwrap();
    }

    /// (path, type, mode, uid, gid, mtime, link target, content) of every entry.
    type Entry = (String, u8, u32, u64, u64, u64, Option<String>, Vec<u8>);

    fn entries(layer: &[u8]) -> Vec<Entry> {
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(layer));
        let mut out = Vec::new();
        for e in archive.entries().unwrap() {
            let mut e = e.unwrap();
            let h = e.header().clone();
            let mut content = Vec::new();
            e.read_to_end(&mut content).unwrap();
            out.push((
                e.path().unwrap().display().to_string(),
                h.entry_type().as_byte(),
                h.mode().unwrap(),
                h.uid().unwrap(),
                h.gid().unwrap(),
                h.mtime().unwrap(),
                e.link_name().unwrap().map(|l| l.display().to_string()),
                content,
            ));
        }
        out
    }

    #[test]
    fn the_same_tree_gives_the_same_bytes_whatever_its_mtimes_and_creation_order() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        tree(a.path());
        // The second tree is made in another order, a second later.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        fs::create_dir_all(b.path().join("actions")).unwrap();
        fs::write(b.path().join("README.md"), "readme\n").unwrap();
        tree(b.path());
        let first = reproducible_tar_gz(a.path()).unwrap();
        assert_eq!(first, reproducible_tar_gz(a.path()).unwrap());
        assert_eq!(first, reproducible_tar_gz(b.path()).unwrap());
        // The gzip header carries no mtime and no name.
        assert_eq!(&first[4..8], &[0, 0, 0, 0]);
        assert_eq!(first[3] & 0x08, 0, "no FNAME flag");
        fs::write(b.path().join("README.md"), "changed\n").unwrap();
        assert_ne!(first, reproducible_tar_gz(b.path()).unwrap());
    }

    #[test]
    fn entries_are_sorted_owned_by_root_at_mtime_zero_with_exec_bits_and_links() {
        let d = tempfile::tempdir().unwrap();
        tree(d.path());
        let got = entries(&reproducible_tar_gz(d.path()).unwrap());
        let names: Vec<&str> = got.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(
            names,
            [
                "README.md",
                "actions",
                "actions/lib",
                "actions/lib/a.py",
                "actions/run.sh",
                "pack.yaml",
                "run"
            ]
        );
        for e in &got {
            assert_eq!((e.3, e.4, e.5), (0, 0, 0), "{}", e.0);
        }
        let by = |n: &str| got.iter().find(|e| e.0 == n).unwrap();
        assert_eq!(by("actions/run.sh").2, 0o755);
        assert_eq!(by("README.md").2, 0o644);
        assert_eq!(by("actions").2, 0o755);
        assert_eq!(by("run").1, b'2', "a symlink stays a symlink");
        assert_eq!(by("run").6.as_deref(), Some("actions/run.sh"));
        assert_eq!(by("actions/lib/a.py").7, b"A = 1\n");
    }

    #[test]
    fn git_venvs_bytecode_and_stackpack_files_are_left_out() {
        let d = tempfile::tempdir().unwrap();
        tree(d.path());
        let clean = reproducible_tar_gz(d.path()).unwrap();
        fs::create_dir_all(d.path().join(".git/objects")).unwrap();
        fs::write(d.path().join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
        fs::create_dir_all(d.path().join("venv/bin")).unwrap();
        fs::write(d.path().join("venv/pyvenv.cfg"), "home = /usr\n").unwrap();
        fs::create_dir_all(d.path().join("actions/lib/__pycache__")).unwrap();
        fs::write(d.path().join("actions/lib/__pycache__/a.pyc"), "x").unwrap();
        fs::write(d.path().join(".stackpack-lock"), "").unwrap();
        assert_eq!(clean, reproducible_tar_gz(d.path()).unwrap());
    }

    #[test]
    fn a_fifo_is_refused_naming_it() {
        let d = tempfile::tempdir().unwrap();
        tree(d.path());
        let fifo = d.path().join("pipe");
        let status = std::process::Command::new("mkfifo").arg(&fifo).status();
        if !status.is_ok_and(|s| s.success()) {
            eprintln!("skipping: mkfifo is not available");
            return;
        }
        let err = reproducible_tar_gz(d.path()).unwrap_err().to_string();
        assert!(err.contains("pipe") && err.contains("fifo"), "{err}");
    }

    #[test]
    fn selected_entries_only_and_tree_digest_ignores_compression() {
        let d = tempfile::tempdir().unwrap();
        tree(d.path());
        let layer = reproducible_tar_gz_of(d.path(), &["pack.yaml", "actions", "missing"]).unwrap();
        let names: Vec<String> = entries(&layer).into_iter().map(|e| e.0).collect();
        assert_eq!(
            names,
            [
                "actions",
                "actions/lib",
                "actions/lib/a.py",
                "actions/run.sh",
                "pack.yaml"
            ]
        );
        let digest = tree_sha256(&layer).unwrap();
        assert!(digest.starts_with("sha256:") && digest.len() == 71);
        assert_eq!(digest, tree_sha256(&layer).unwrap());
    }
}
