//! Pack virtualenvs through the real binary: real python3 venvs, a wheelhouse built in
//! the test, offline installs, reuse, rebuilds and a failing requirement.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{file_url, pack_yaml, run, stackpack, write};

/// A wheelhouse with `tinypkg` 0.1.0.
fn wheelhouse(dir: &Path) -> PathBuf {
    let wheels = dir.join("wheels");
    stackpack_testkit::build_wheel(&wheels, "tinypkg", "0.1.0", "42");
    wheels
}

/// A plain-directory pack with a Python action and these requirements.
fn py_pack(dir: &Path, version: &str, requirements: &str) -> PathBuf {
    let pack = dir.join("pypack");
    write(&pack.join("pack.yaml"), &pack_yaml("pypack", version));
    write(
        &pack.join("actions/run.py"),
        "import tinypkg\nprint(tinypkg.VALUE)\n",
    );
    write(
        &pack.join("actions/run.yaml"),
        "name: run\nrunner_type: python-script\nentry_point: run.py\n",
    );
    write(&pack.join("requirements.txt"), requirements);
    pack
}

fn imports(root: &Path, module: &str) -> bool {
    Command::new(root.join("virtualenvs/pypack/bin/python"))
        .args(["-c", &format!("import {module}")])
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn offline_install_from_a_wheelhouse_reuse_and_rebuild() {
    let d = tempfile::tempdir().unwrap();
    let wheels = wheelhouse(d.path());
    let config = d.path().join("stackpack.toml");
    write(
        &config,
        &format!("[python]\nfind_links = [\"{}\"]\n", wheels.display()),
    );
    let root = d.path().join("root");
    let pack = py_pack(d.path(), "1.0.0", "tinypkg==0.1.0\n");
    let sp = || {
        let mut c = stackpack(&root);
        c.arg("--config").arg(&config).arg("--offline");
        c
    };

    let r = run(sp().args(["install", &file_url(&pack)]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("virtualenv created with"), "{}", r.stdout);
    assert!(
        imports(&root, "tinypkg"),
        "tinypkg is not importable in the pack's venv"
    );

    // Same requirements: no installer work.
    let r = run(sp().args(["install", &file_url(&pack)]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("virtualenv unchanged"), "{}", r.stdout);
    let r = run(sp().args(["venv", "pypack", "--json"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["action"], "kept");
    let r = run(sp().args(["venv", "pypack", "--recreate", "--json"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["action"], "rebuilt");
    assert!(imports(&root, "tinypkg"));

    // A requirement that cannot be installed offline fails the pack, and the previous
    // pack and venv stay as they were.
    let bad = py_pack(
        &d.path().join("v2"),
        "2.0.0",
        "tinypkg==0.1.0\ngit+https://example.invalid/nothing.git\n",
    );
    let r = run(sp().args(["install", &file_url(&bad)]));
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("virtualenv for pypack"), "{}", r.stdout);
    assert!(
        r.stdout.contains("said:")
            && (r.stdout.contains("offline") || r.stdout.contains("example.invalid")),
        "installer error lines missing: {}",
        r.stdout
    );
    assert_eq!(
        crate::common::installed_version(&root, "pypack").as_deref(),
        Some("1.0.0")
    );
    assert!(imports(&root, "tinypkg"), "the previous venv was damaged");
    let leftovers: Vec<_> = std::fs::read_dir(root.join("virtualenvs"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n.to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "build dirs left: {leftovers:?}");
}

#[test]
fn no_venv_skips_it_and_packs_without_python_get_none() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let pack = py_pack(d.path(), "1.0.0", "");
    let r = run(stackpack(&root).args(["install", "--no-venv", &file_url(&pack)]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!root.join("virtualenvs/pypack").exists());
    let plain = d.path().join("yamlonly");
    write(&plain.join("pack.yaml"), &pack_yaml("yamlonly", "1.0.0"));
    write(&plain.join("rules/r.yaml"), "name: r\n");
    let r = run(stackpack(&root).args(["install", &file_url(&plain)]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!root.join("virtualenvs/yamlonly").exists());
    let r = run(stackpack(&root).args(["venv", "nosuch"]));
    assert_eq!(r.code, 3);
    assert!(
        r.stderr.contains(r#"Pack "nosuch" is not found."#),
        "{}",
        r.stderr
    );
}
