//! Interpreter probing, Python-content detection, names, and venvs without requirements.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use stackpack_venv::{
    InstallerChoice, VenvAction, VenvConfig, VenvError, ensure, has_python_content, python_version,
};

#[test]
fn python_version_of_python3() {
    let out = Command::new("python3")
        .args(["-c", "import sys; print('%d %d %d' % sys.version_info[:3])"])
        .output()
        .unwrap();
    let expected: Vec<u32> = String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    let (major, minor, micro) = python_version("python3").unwrap();
    assert_eq!(vec![major, minor, micro], expected);
    assert_eq!(major, 3);
}

#[test]
fn missing_python_is_named() {
    let err = python_version("no-such-python").unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, VenvError::PythonNotFound { .. }), "{msg}");
    assert!(msg.contains("\"no-such-python\""), "{msg}");
    assert!(msg.contains("python_binary"), "{msg}");

    let tmp = tempfile::tempdir().unwrap();
    let pack_dir = tmp.path().join("p");
    make_pack(&pack_dir, "");
    let cfg = VenvConfig {
        python: "/no/such/python3".to_owned(),
        installer: InstallerChoice::Pip,
        ..VenvConfig::default()
    };
    let msg = ensure(&tmp.path().join("v"), "p", &pack_dir, &cfg, false)
        .unwrap_err()
        .to_string();
    assert!(msg.starts_with("pack \"p\": "), "{msg}");
    assert!(
        msg.contains("/no/such/python3") && msg.contains("python_binary"),
        "{msg}"
    );
    assert!(!tmp.path().join("v/p").exists());
}

#[test]
fn a_python_that_fails_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let fake = tmp.path().join("broken-python");
    std::fs::write(
        &fake,
        "#!/bin/sh\necho 'pyenv: python3.9: command not found' >&2\nexit 127\n",
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let msg = python_version(fake.to_str().unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("did not run") && msg.contains("command not found"),
        "{msg}"
    );
}

#[test]
fn python_content() {
    let tmp = tempfile::tempdir().unwrap();
    let pack = |name: &str| {
        let d = tmp.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("pack.yaml"), "ref: x\n").unwrap();
        d
    };
    let write = |p: &Path, content: &str| {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    };

    let empty = pack("empty");
    assert!(!has_python_content(&empty));

    let yaml_only = pack("yaml_only");
    write(&yaml_only.join("actions/a.yaml"), "name: a\n");
    write(
        &yaml_only.join("actions/workflows/w.yaml"),
        "version: 1.0\n",
    );
    write(&yaml_only.join("rules/r.yaml"), "name: r\n");
    write(&yaml_only.join("setup.py"), "# not pack code\n");
    assert!(!has_python_content(&yaml_only));

    let req = pack("req");
    write(&req.join("requirements.txt"), "");
    assert!(has_python_content(&req));

    let nested = pack("nested");
    write(&nested.join("actions/lib/deep/helper.py"), "");
    assert!(has_python_content(&nested));

    let sensor = pack("sensor");
    write(&sensor.join("sensors/s.py"), "");
    assert!(has_python_content(&sensor));

    let lib = pack("lib");
    std::fs::create_dir_all(lib.join("lib")).unwrap();
    assert!(has_python_content(&lib));

    assert!(!has_python_content(&tmp.path().join("does-not-exist")));
}

#[test]
fn bad_pack_names_are_refused_before_anything_happens() {
    let tmp = tempfile::tempdir().unwrap();
    let pack_dir = tmp.path().join("p");
    make_pack(&pack_dir, "");
    let venvs = tmp.path().join("v");
    let cfg = VenvConfig::default();
    for bad in ["My-Pack", "../escape", "a/b", ""] {
        let err = ensure(&venvs, bad, &pack_dir, &cfg, false).unwrap_err();
        assert!(
            matches!(err, VenvError::InvalidPackName { .. }),
            "{bad}: {err}"
        );
        assert!(err.to_string().contains("a-z, 0-9 and '_'"), "{err}");
    }
    let err = ensure(&venvs, "_global", &pack_dir, &cfg, false).unwrap_err();
    assert!(matches!(err, VenvError::ReservedPackName { .. }), "{err}");
    assert!(!venvs.exists());
}

#[test]
fn missing_uv_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let pack_dir = tmp.path().join("p");
    make_pack(&pack_dir, "");
    let cfg = VenvConfig {
        installer: InstallerChoice::Uv("/no/such/uv".into()),
        ..VenvConfig::default()
    };
    let msg = ensure(&tmp.path().join("v"), "p", &pack_dir, &cfg, false)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("/no/such/uv") && msg.contains("pack \"p\""),
        "{msg}"
    );
}

/// No requirements: a bare venv (pip's path never needs pip), kept on the second call
/// without starting anything, also when `python_binary` is a wrapper script (here a pyenv
/// shim, if python3 is one).
#[test]
fn venv_without_requirements_via_python3_on_path() {
    let tmp = tempfile::tempdir().unwrap();
    let pack_dir = tmp.path().join("p");
    std::fs::create_dir_all(pack_dir.join("sensors")).unwrap();
    std::fs::write(pack_dir.join("sensors/s.py"), "").unwrap();
    let venvs = tmp.path().join("v");
    let cfg = VenvConfig {
        python: "python3".to_owned(),
        installer: InstallerChoice::Pip,
        ..VenvConfig::default()
    };
    let created = ensure(&venvs, "p", &pack_dir, &cfg, false).unwrap();
    assert_eq!(created.action, VenvAction::Created);
    let out = venv_python(&venvs.join("p"), "import sys; print(sys.prefix)");
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        venvs.join("p").to_str().unwrap()
    );
    let kept = ensure(&venvs, "p", &pack_dir, &cfg, false).unwrap();
    assert_eq!(kept.action, VenvAction::Kept);
    assert!(
        kept.seconds * 20.0 < created.seconds,
        "{kept:?} vs {created:?}"
    );
    let json = serde_json::to_value(&kept).unwrap();
    assert_eq!(json["action"], "kept");
    assert_eq!(json["pack"], "p");
    eprintln!(
        "no requirements, python3 on PATH: created {:.3}s, kept {:.4}s",
        created.seconds, kept.seconds
    );

    // A venv whose interpreter link is gone is rebuilt, and a build dir left by a dead
    // process is cleared on the way; one of a live process (ours, pid 1) is left alone.
    let dead = venvs.join(".build-p-4000000000");
    let live = venvs.join(".build-p-1");
    std::fs::create_dir_all(dead.join("bin")).unwrap();
    std::fs::create_dir_all(&live).unwrap();
    std::fs::remove_file(venvs.join("p/bin/python")).unwrap();
    let rebuilt = ensure(&venvs, "p", &pack_dir, &cfg, false).unwrap();
    assert_eq!(rebuilt.action, VenvAction::Rebuilt);
    assert!(venvs.join("p/bin/python").exists());
    assert!(!dead.exists());
    assert!(live.exists());
    std::fs::remove_dir(&live).unwrap();

    // The interpreter named by its real path is a different configuration: the
    // fingerprint is the same (same interpreter), so the venv is kept.
    let real = VenvConfig {
        python: real_python(),
        ..cfg.clone()
    };
    assert_eq!(
        ensure(&venvs, "p", &pack_dir, &real, false).unwrap().action,
        VenvAction::Kept
    );
}

/// The installer kind is part of the fingerprint: a venv made with pip is rebuilt when
/// the installer becomes uv.
#[test]
#[cfg_attr(
    not(has_uv),
    ignore = "uv not found on PATH or in ~/.local/bin: install it with `python3 -m pip install --user uv`"
)]
fn another_installer_kind_rebuilds_the_venv() {
    let tmp = tempfile::tempdir().unwrap();
    let pack_dir = tmp.path().join("p");
    std::fs::create_dir_all(pack_dir.join("sensors")).unwrap();
    std::fs::write(pack_dir.join("sensors/s.py"), "").unwrap();
    let venvs = tmp.path().join("v");
    let with_pip = VenvConfig {
        python: real_python(),
        installer: InstallerChoice::Pip,
        ..VenvConfig::default()
    };
    let created = ensure(&venvs, "p", &pack_dir, &with_pip, false).unwrap();
    assert_eq!(created.action, VenvAction::Created);
    assert!(
        created.installer.starts_with("pip "),
        "{}",
        created.installer
    );
    let with_uv = VenvConfig {
        installer: InstallerChoice::Uv(uv()),
        ..with_pip
    };
    let report = ensure(&venvs, "p", &pack_dir, &with_uv, false).unwrap();
    assert_eq!(report.action, VenvAction::Rebuilt);
    assert!(report.installer.starts_with("uv "), "{}", report.installer);
    assert!(venvs.join("p/bin/python").exists());
}
