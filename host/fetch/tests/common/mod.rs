//! Helpers shared by the integration tests: git repositories made with git2, directory
//! handles, file modes.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use git2::{Oid, Repository, RepositoryInitOptions, Signature, Time};

pub fn sig() -> Signature<'static> {
    Signature::new("Test", "test@example.com", &Time::new(1_700_000_000, 0)).unwrap()
}

/// A non-bare repository whose default branch is `main`.
pub fn init(path: &Path) -> Repository {
    let mut options = RepositoryInitOptions::new();
    options.initial_head("main");
    Repository::init_opts(path, &options).unwrap()
}

/// Writes a file in the work tree (0755 when `exec`).
pub fn write(repo: &Repository, rel: &str, content: &str, exec: bool) {
    let path = repo.workdir().unwrap().join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, content).unwrap();
    let mode = if exec { 0o755 } else { 0o644 };
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
}

pub fn symlink(repo: &Repository, rel: &str, target: &str) {
    let path = repo.workdir().unwrap().join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(target, path).unwrap();
}

/// Commits the whole work tree onto HEAD's branch.
pub fn commit_all(repo: &Repository, message: &str) -> Oid {
    let mut index = repo.index().unwrap();
    index
        .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
        .unwrap();
    index.update_all(["*"], None).unwrap();
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    let parents: Vec<_> = parent.iter().collect();
    repo.commit(Some("HEAD"), &sig(), &sig(), message, &tree, &parents)
        .unwrap()
}

/// A commit on `refname` with `parent`'s tree plus one file.
pub fn commit_with_file(
    repo: &Repository,
    refname: &str,
    parent: Oid,
    file: &str,
    content: &str,
) -> Oid {
    let parent = repo.find_commit(parent).unwrap();
    let blob = repo.blob(content.as_bytes()).unwrap();
    let mut builder = repo.treebuilder(Some(&parent.tree().unwrap())).unwrap();
    builder.insert(file, blob, 0o100644).unwrap();
    let tree = repo.find_tree(builder.write().unwrap()).unwrap();
    repo.commit(
        Some(refname),
        &sig(),
        &sig(),
        "side commit",
        &tree,
        &[&parent],
    )
    .unwrap()
}

pub fn url(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// A new empty directory and its handle.
pub fn dest(parent: &Path, name: &str) -> (std::path::PathBuf, cap_std::fs::Dir) {
    let path = parent.join(name);
    std::fs::create_dir_all(&path).unwrap();
    let dir = cap_std::fs::Dir::open_ambient_dir(&path, cap_std::ambient_authority()).unwrap();
    (path, dir)
}

pub fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o777
}

pub fn is_empty(path: &Path) -> bool {
    std::fs::read_dir(path).unwrap().next().is_none()
}
