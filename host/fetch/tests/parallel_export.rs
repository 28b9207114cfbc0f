//! Tree exports written by the shared writer threads (`export_parallel`) against the
//! same exports written by one thread: same tree, same digests, same limits and refusals.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use common::*;
use stackpack_fetch::{
    FetchError, TreeLimits, TreeManifest, copy_dir, export_local_head, export_parallel,
    tree_content_sha256, tree_fingerprint,
};
use tempfile::TempDir;

/// A plain directory of `files` small files spread over nested directories, every 7th
/// executable, with a few symlinks inside the tree.
fn make_source(root: &Path, files: usize) {
    for i in 0..files {
        let dir = root.join(format!("d{}/s{}/t{}", i % 13, i % 5, i % 3));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("f{i}.yaml"));
        fs::write(
            &path,
            format!("name: f{i}\nvalue: {}\n", i * 31).repeat(1 + i % 4),
        )
        .unwrap();
        if i % 7 == 0 {
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
    fs::write(root.join("pack.yaml"), "ref: big\n").unwrap();
    symlink("pack.yaml", root.join("link-top")).unwrap();
    symlink("../s1/t1", root.join("d1/s0/up")).unwrap();
}

/// Every entry under `root` as the disk holds it: path → (kind, permission bits,
/// bytes or link target). Symlinks are read, not followed.
fn listing(root: &Path) -> BTreeMap<PathBuf, (char, u32, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for e in fs::read_dir(root.join(&rel)).unwrap() {
            let e = e.unwrap();
            let path = rel.join(e.file_name());
            let meta = fs::symlink_metadata(e.path()).unwrap();
            let mode = meta.permissions().mode() & 0o7777;
            if meta.is_dir() {
                out.insert(path.clone(), ('d', mode, Vec::new()));
                stack.push(path);
            } else if meta.is_symlink() {
                let t = fs::read_link(e.path()).unwrap();
                out.insert(path, ('l', 0, t.into_os_string().into_encoded_bytes()));
            } else {
                out.insert(path, ('f', mode, fs::read(e.path()).unwrap()));
            }
        }
    }
    out
}

fn parallel_copy(src: &Path, parent: &Path, name: &str) -> (PathBuf, TreeManifest) {
    let (path, dir) = dest(parent, name);
    let ((), manifest) = export_parallel(|| copy_dir(src, &dir, &TreeLimits::default())).unwrap();
    (path, manifest)
}

fn dir_handle(path: &Path) -> cap_std::fs::Dir {
    cap_std::fs::Dir::open_ambient_dir(path, cap_std::ambient_authority()).unwrap()
}

/// The safe outcome: writing with many threads changes nothing in what is written.
/// 3,000 files in nested directories, with modes and links, copied in parallel hold
/// exactly what a sequential copy holds, and the manifest recorded while writing gives
/// the digests a scan of the disk gives.
#[test]
fn parallel_copy_writes_the_tree_a_sequential_copy_writes() {
    let tmp = TempDir::new().unwrap();
    let src = tmp.path().join("src");
    make_source(&src, 3000);
    let (seq_path, seq) = dest(tmp.path(), "seq");
    copy_dir(&src, &seq, &TreeLimits::default()).unwrap();
    let (par_path, manifest) = parallel_copy(&src, tmp.path(), "par");

    let want = listing(&seq_path);
    assert!(want.len() > 3000);
    assert_eq!(listing(&par_path), want);
    assert_eq!(manifest.len(), want.len());
    let par = dir_handle(&par_path);
    assert_eq!(
        manifest.content_sha256(),
        tree_content_sha256(&par).unwrap()
    );
    assert_eq!(
        manifest.content_sha256(),
        tree_content_sha256(&seq).unwrap()
    );
    assert_eq!(manifest.fingerprint(), tree_fingerprint(&par).unwrap());
    assert_eq!(manifest, TreeManifest::scan(&par).unwrap());
}

/// The same for a git export (blobs from the object database): 1,500 files, an
/// executable, a symlink; parallel and sequential exports are identical.
#[test]
fn parallel_git_export_writes_the_tree_a_sequential_export_writes() {
    let tmp = TempDir::new().unwrap();
    let src = tmp.path().join("repo");
    let repo = init(&src);
    for i in 0..1500 {
        write(
            &repo,
            &format!("a{}/b{}/f{i}.yaml", i % 11, i % 4),
            &format!("n: {i}\n"),
            i % 9 == 0,
        );
    }
    common::symlink(&repo, "a1/link", "b1");
    commit_all(&repo, "many files");
    let (seq_path, seq) = dest(tmp.path(), "seq");
    export_local_head(&src, &seq, &TreeLimits::default()).unwrap();
    let (par_path, par) = dest(tmp.path(), "par");
    let (_, manifest) =
        export_parallel(|| export_local_head(&src, &par, &TreeLimits::default())).unwrap();
    assert_eq!(listing(&par_path), listing(&seq_path));
    assert_eq!(
        manifest.content_sha256(),
        tree_content_sha256(&seq).unwrap()
    );
    assert_eq!(manifest.fingerprint(), tree_fingerprint(&par).unwrap());
}

/// The content digest is a function of the content only: two exports of one tree agree,
/// and one byte, one mode bit or one link target changes it.
#[test]
fn content_digest_is_stable_and_sees_bytes_modes_and_links() {
    let tmp = TempDir::new().unwrap();
    let src = tmp.path().join("src");
    make_source(&src, 200);
    let (_, first) = parallel_copy(&src, tmp.path(), "one");
    let (_, second) = parallel_copy(&src, tmp.path(), "two");
    let base = first.content_sha256();
    assert_eq!(base, second.content_sha256());
    assert_ne!(first.fingerprint(), second.fingerprint(), "inodes differ");

    let file = src.join("d3/s3/t0/f3.yaml");
    let mut bytes = fs::read(&file).unwrap();
    bytes[0] ^= 1;
    fs::write(&file, &bytes).unwrap();
    let (_, byte) = parallel_copy(&src, tmp.path(), "byte");
    assert_ne!(byte.content_sha256(), base);
    bytes[0] ^= 1;
    fs::write(&file, &bytes).unwrap();
    let (_, restored) = parallel_copy(&src, tmp.path(), "restored");
    assert_eq!(restored.content_sha256(), base);

    fs::set_permissions(&file, fs::Permissions::from_mode(0o755)).unwrap();
    let (_, mode) = parallel_copy(&src, tmp.path(), "mode");
    assert_ne!(mode.content_sha256(), base);
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();

    fs::remove_file(src.join("link-top")).unwrap();
    symlink("d1", src.join("link-top")).unwrap();
    let (_, link) = parallel_copy(&src, tmp.path(), "link");
    assert_ne!(link.content_sha256(), base);
}

/// The safe outcome: the limits hold with many writers. A tree over the entry limit or
/// the byte limit is refused with the same error as when written by one thread.
#[test]
fn limits_still_trip_when_written_in_parallel() {
    let tmp = TempDir::new().unwrap();
    let src = tmp.path().join("src");
    make_source(&src, 2000);
    let entries = TreeLimits {
        max_entries: 500,
        ..TreeLimits::default()
    };
    let bytes = TreeLimits {
        max_bytes: 20_000,
        ..TreeLimits::default()
    };
    for (i, limits) in [entries, bytes].into_iter().enumerate() {
        let (_, dir) = dest(tmp.path(), &format!("par{i}"));
        let err = export_parallel(|| copy_dir(&src, &dir, &limits)).unwrap_err();
        let (_, seq) = dest(tmp.path(), &format!("seq{i}"));
        let seq_err = copy_dir(&src, &seq, &limits).unwrap_err();
        assert!(matches!(err, FetchError::TooBig { .. }), "{err}");
        assert_eq!(err.to_string(), seq_err.to_string());
    }
}

/// The safe outcome: a link leaving the tree is refused under parallel writing too,
/// the export returns only once no writer is busy (so the caller's discard of the
/// destination removes everything), and nothing lands where the link points.
#[test]
fn a_link_escape_still_fails_with_nothing_written_outside() {
    let tmp = TempDir::new().unwrap();
    let target = tmp.path().join("target");
    fs::create_dir(&target).unwrap();
    let src = tmp.path().join("src");
    make_source(&src, 600);
    symlink("../../../target", src.join("d2/esc")).unwrap();
    let (dest_path, dir) = dest(&tmp.path().join("root"), "slot");
    let err = export_parallel(|| copy_dir(&src, &dir, &TreeLimits::default())).unwrap_err();
    assert!(
        matches!(&err, FetchError::UnsafeEntry { entry, .. } if entry == "d2/esc"),
        "{err}"
    );
    let after = listing(&dest_path);
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(listing(&dest_path), after, "a writer was still writing");
    fs::remove_dir_all(&dest_path).unwrap();
    assert!(!dest_path.exists());
    assert!(is_empty(&target));
}
