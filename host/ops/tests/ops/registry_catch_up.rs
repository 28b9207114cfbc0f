//! An install brings the registry in step with the lockfile: it registers locked packs
//! the registry lacks or records at another version, leaves up-to-date registrations
//! alone, and unregisters packs gone from disk. Real packs, a real SQLite registry.

use std::path::{Path, PathBuf};

use stackpack_ops::install::{InstallRequest, install};
use stackpack_ops::register::registered;
use stackpack_ops::{Session, SessionOptions};

use crate::common::write;

fn session(root: &Path) -> Session {
    Session::new(&SessionOptions {
        root: Some(root.to_path_buf()),
        cache_dir: Some(Path::new(env!("CARGO_TARGET_TMPDIR")).join("ops-cache")),
        ..SessionOptions::default()
    })
    .unwrap()
}

/// A pack `name` at `version` with one action, in `dir/<version>/<name>`.
fn pack(dir: &Path, name: &str, version: &str) -> String {
    let p: PathBuf = dir.join(version).join(name);
    write(
        &p.join("pack.yaml"),
        &format!("name: {name}\nversion: {version}\ndescription: d\nauthor: a\n"),
    );
    write(
        &p.join("actions/a1.yaml"),
        "name: a1\nrunner_type: local-shell-cmd\nentry_point: ''\n",
    );
    url::Url::from_file_path(p.canonicalize().unwrap())
        .unwrap()
        .to_string()
}

fn run(s: &Session, url: &str, register: bool) -> stackpack_ops::install::InstallReport {
    let report = install(
        s,
        &InstallRequest {
            packs: vec![url.to_string()],
            venv: false,
            register,
            ..InstallRequest::default()
        },
    )
    .unwrap();
    assert!(
        report.register_error.is_none(),
        "{:?}",
        report.register_error
    );
    report
}

fn version(s: &Session, pack: &str) -> Option<String> {
    registered(s, pack).unwrap().map(|r| r.version)
}

/// A pack installed without registration is registered by the next install of another
/// pack; a `--no-register` install touches no registration.
#[test]
fn an_install_registers_locked_packs_the_registry_lacks() {
    let src = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let s = session(root.path());
    run(&s, &pack(src.path(), "alpha", "1.0.0"), false);
    run(&s, &pack(src.path(), "beta", "1.0.0"), false);
    assert_eq!(
        version(&s, "alpha"),
        None,
        "--no-register registers nothing"
    );
    let report = run(&s, &pack(src.path(), "gamma", "1.0.0"), true);
    let mut covered = report.to_register.clone();
    covered.sort();
    assert_eq!(covered, ["alpha", "beta", "gamma"]);
    for p in ["alpha", "beta", "gamma"] {
        assert_eq!(version(&s, p).as_deref(), Some("1.0.0"), "{p}");
    }
}

/// Up-to-date registrations are left alone: the next install registers only its pack.
#[test]
fn an_install_leaves_up_to_date_registrations_alone() {
    let src = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let s = session(root.path());
    run(&s, &pack(src.path(), "alpha", "1.0.0"), true);
    let report = run(&s, &pack(src.path(), "beta", "1.0.0"), true);
    assert_eq!(report.to_register, ["beta"]);
    let reg = report.registered.unwrap();
    assert_eq!(
        reg.packs
            .iter()
            .map(|p| p.pack.as_str())
            .collect::<Vec<_>>(),
        ["beta"]
    );
}

/// A registration at another version than the lockfile records (an upgrade that did not
/// register) is replaced by the next install of another pack.
#[test]
fn an_install_replaces_a_registration_at_another_version() {
    let src = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let s = session(root.path());
    run(&s, &pack(src.path(), "alpha", "1.0.0"), true);
    run(&s, &pack(src.path(), "alpha", "2.0.0"), false);
    assert_eq!(version(&s, "alpha").as_deref(), Some("1.0.0"));
    run(&s, &pack(src.path(), "beta", "1.0.0"), true);
    assert_eq!(version(&s, "alpha").as_deref(), Some("2.0.0"));
}

/// A registered pack whose directory is gone from every packs base path is unregistered
/// by the next install.
#[test]
fn an_install_unregisters_packs_gone_from_disk() {
    let src = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let s = session(root.path());
    run(&s, &pack(src.path(), "alpha", "1.0.0"), true);
    std::fs::remove_dir_all(root.path().join("packs/alpha")).unwrap();
    run(&s, &pack(src.path(), "beta", "1.0.0"), true);
    assert_eq!(version(&s, "alpha"), None);
    assert_eq!(version(&s, "beta").as_deref(), Some("1.0.0"));
}
