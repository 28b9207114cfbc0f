//! Local sources: git work trees and plain directories.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::*;
use stackpack_fetch::{FetchError, LocalSource, copy_dir, export_local_head, inspect_local};
use tempfile::TempDir;

#[test]
fn dirty_repo_exports_its_last_commit() {
    let tmp = TempDir::new().unwrap();
    let src = tmp.path().join("pack");
    let repo = init(&src);
    write(&repo, "pack.yaml", "version: 1.0.0\n", false);
    write(&repo, "actions/run.sh", "#!/bin/sh\n", true);
    write(&repo, ".gitignore", "*.pyc\n", false);
    symlink(&repo, "link", "pack.yaml");
    let head = commit_all(&repo, "first").to_string();

    let clean = LocalSource::Git {
        commit: head.clone(),
        dirty: false,
    };
    assert_eq!(inspect_local(&src).unwrap(), clean);
    // An ignored file leaves it clean.
    write(&repo, "actions/x.pyc", "bytecode", false);
    assert_eq!(inspect_local(&src).unwrap(), clean);
    // An untracked file makes it dirty.
    write(&repo, "new.txt", "new\n", false);
    assert_eq!(
        inspect_local(&src).unwrap(),
        LocalSource::Git {
            commit: head.clone(),
            dirty: true
        }
    );
    std::fs::remove_file(src.join("new.txt")).unwrap();
    // So does a modified tracked file.
    write(&repo, "pack.yaml", "version: 9.9.9-dirty\n", false);
    assert_eq!(
        inspect_local(&src).unwrap(),
        LocalSource::Git {
            commit: head.clone(),
            dirty: true
        }
    );
    // Written back as committed (a newer mtime, the same content): clean again.
    write(&repo, "pack.yaml", "version: 1.0.0\n", false);
    assert_eq!(inspect_local(&src).unwrap(), clean);
    // A deleted tracked file makes it dirty.
    std::fs::remove_file(src.join("actions/run.sh")).unwrap();
    assert_eq!(
        inspect_local(&src).unwrap(),
        LocalSource::Git {
            commit: head.clone(),
            dirty: true
        }
    );
    write(&repo, "actions/run.sh", "#!/bin/sh\n", true);
    assert_eq!(inspect_local(&src).unwrap(), clean);
    write(&repo, "pack.yaml", "version: 9.9.9-dirty\n", false);

    let (out, dir) = dest(tmp.path(), "out");
    assert_eq!(
        export_local_head(&src, &dir, &Default::default()).unwrap(),
        head
    );
    assert_eq!(
        std::fs::read_to_string(out.join("pack.yaml")).unwrap(),
        "version: 1.0.0\n"
    );
    assert_eq!(mode(&out.join("actions/run.sh")), 0o755);
    assert_eq!(
        std::fs::read_link(out.join("link")).unwrap(),
        Path::new("pack.yaml")
    );
    assert!(!out.join("actions/x.pyc").exists());
    assert!(!out.join(".git").exists());
}

#[test]
fn missing_and_plain_directories() {
    let tmp = TempDir::new().unwrap();
    let missing = tmp.path().join("nope");
    let err = inspect_local(&missing).unwrap_err();
    assert!(matches!(err, FetchError::LocalMissing { .. }), "{err:?}");
    assert!(
        err.to_string().starts_with(&format!(
            "Local pack directory \"{}\" doesn't exist",
            missing.display()
        )),
        "{err}"
    );
    std::fs::write(tmp.path().join("file"), "x").unwrap();
    assert!(matches!(
        inspect_local(&tmp.path().join("file")),
        Err(FetchError::LocalMissing { .. })
    ));
    let plain = tmp.path().join("plain");
    std::fs::create_dir(&plain).unwrap();
    assert_eq!(inspect_local(&plain).unwrap(), LocalSource::Plain);
}

#[test]
fn repo_without_commits_is_an_error() {
    let tmp = TempDir::new().unwrap();
    let src = tmp.path().join("empty");
    init(&src);
    let err = inspect_local(&src).unwrap_err();
    assert!(matches!(err, FetchError::LocalGit { .. }), "{err:?}");
    assert!(err.to_string().contains("commit"), "{err}");
}

fn plain_tree(root: &Path) {
    std::fs::create_dir_all(root.join(".git/objects")).unwrap();
    std::fs::write(root.join(".git/config"), "[core]\n").unwrap();
    std::fs::create_dir_all(root.join("actions/lib")).unwrap();
    std::fs::write(root.join("pack.yaml"), "name: plain\n").unwrap();
    std::fs::write(root.join("actions/run.sh"), "#!/bin/sh\n").unwrap();
    std::fs::write(root.join("actions/lib/util.py"), "x = 1\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        root.join("actions/run.sh"),
        std::fs::Permissions::from_mode(0o750),
    )
    .unwrap();
    std::fs::set_permissions(
        root.join("pack.yaml"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    std::os::unix::fs::symlink("../pack.yaml", root.join("actions/pack.yaml")).unwrap();
}

#[test]
fn copy_dir_copies_a_plain_tree() {
    let tmp = TempDir::new().unwrap();
    let src = tmp.path().join("plain");
    plain_tree(&src);
    let (out, dir) = dest(tmp.path(), "out");
    copy_dir(&src, &dir, &Default::default()).unwrap();
    assert!(!out.join(".git").exists());
    assert_eq!(
        std::fs::read_to_string(out.join("pack.yaml")).unwrap(),
        "name: plain\n"
    );
    assert_eq!(mode(&out.join("pack.yaml")), 0o644);
    assert_eq!(mode(&out.join("actions/run.sh")), 0o755);
    assert_eq!(mode(&out.join("actions/lib/util.py")), 0o644);
    assert_eq!(
        std::fs::read_link(out.join("actions/pack.yaml")).unwrap(),
        Path::new("../pack.yaml")
    );
}

#[test]
fn copy_dir_refuses_escaping_symlinks() {
    for target in ["../../etc/passwd", "/etc/passwd"] {
        let tmp = TempDir::new().unwrap();
        let src = tmp.path().join("plain");
        plain_tree(&src);
        std::os::unix::fs::symlink(target, src.join("actions/evil")).unwrap();
        let (_, dir) = dest(tmp.path(), "out");
        let err = copy_dir(&src, &dir, &Default::default()).unwrap_err();
        match &err {
            FetchError::UnsafeEntry { entry, .. } => assert_eq!(entry, "actions/evil"),
            other => panic!("expected UnsafeEntry, got {other:?}"),
        }
    }
}
