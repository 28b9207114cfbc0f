//! Create, keep, rebuild and a failed rebuild of one pack's venv, with real venvs and a
//! real wheelhouse, once with pip and once with uv (reported as ignored without uv).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use common::*;
use stackpack_venv::{FINGERPRINT_FILE, InstallerChoice, VenvAction, VenvError, ensure};

fn lifecycle(installer: InstallerChoice, label: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let wheelhouse = tmp.path().join("wheelhouse");
    build_wheel(&wheelhouse, "tinypkg", "1.0", "one");
    build_wheel(&wheelhouse, "otherpkg", "1.0", "other");
    let pack_dir = tmp.path().join("packs/mypack");
    make_pack(&pack_dir, "tinypkg\n");
    let venvs = tmp.path().join("virtualenvs");
    let venv = venvs.join("mypack");
    let cfg = offline_cfg(installer, &wheelhouse);

    // Created, and it works after the swap: imports, and a console script whose shebang
    // pointed into the build dir.
    let created = ensure(&venvs, "mypack", &pack_dir, &cfg, false).unwrap();
    assert_eq!(created.action, VenvAction::Created);
    assert_eq!(created.path, venv);
    assert!(
        created.installer.starts_with(&format!("{label} ")),
        "{}",
        created.installer
    );
    let (major, minor, micro) = stackpack_venv::python_version(&cfg.python).unwrap();
    assert_eq!(created.python, format!("{major}.{minor}.{micro}"));
    let out = venv_python(&venv, "import tinypkg; print(tinypkg.VALUE)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "one");
    let cli = std::process::Command::new(venv.join("bin/tinypkg-cli"))
        .output()
        .unwrap();
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&cli.stdout).trim(), "tinypkg one");
    for entry in std::fs::read_dir(venv.join("bin")).unwrap().flatten() {
        if entry.file_type().unwrap().is_file() {
            let text = String::from_utf8_lossy(&std::fs::read(entry.path()).unwrap()).into_owned();
            assert!(
                !text.contains(".build-"),
                "{:?} names the build dir",
                entry.path()
            );
        }
    }
    assert!(!venv.join("bin/pip").exists(), "no pip inside the venv");
    assert!(leftovers(&venvs).is_empty());

    // Kept: nothing run, nothing written.
    let before = std::fs::metadata(&venv).unwrap();
    let fp_before = std::fs::metadata(venv.join(FINGERPRINT_FILE)).unwrap();
    let kept = ensure(&venvs, "mypack", &pack_dir, &cfg, false).unwrap();
    assert_eq!(kept.action, VenvAction::Kept);
    assert_eq!(kept.installer, created.installer);
    let after = std::fs::metadata(&venv).unwrap();
    let fp_after = std::fs::metadata(venv.join(FINGERPRINT_FILE)).unwrap();
    assert_eq!(before.ino(), after.ino());
    assert_eq!(before.mtime_nsec(), after.mtime_nsec());
    assert_eq!(fp_before.mtime_nsec(), fp_after.mtime_nsec());
    assert!(
        kept.seconds * 20.0 < created.seconds,
        "reuse {:.4}s vs create {:.4}s",
        kept.seconds,
        created.seconds
    );

    // Changed requirements: rebuilt, swapped in, the new package imports.
    std::fs::write(
        pack_dir.join("requirements.txt"),
        "tinypkg\notherpkg==1.0\n",
    )
    .unwrap();
    let rebuilt = ensure(&venvs, "mypack", &pack_dir, &cfg, false).unwrap();
    assert_eq!(rebuilt.action, VenvAction::Rebuilt);
    assert_ne!(std::fs::metadata(&venv).unwrap().ino(), before.ino());
    let out = venv_python(&venv, "import tinypkg, otherpkg; print(otherpkg.VALUE)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "other");
    assert!(leftovers(&venvs).is_empty());

    // A requirement that cannot be installed: an error with the installer's words, and
    // the previous venv exactly as it was.
    let good_record = std::fs::read(venv.join(FINGERPRINT_FILE)).unwrap();
    let good_ino = std::fs::metadata(&venv).unwrap().ino();
    for bad in ["nonexistent-pkg==9.9", "git+https://example.invalid/x.git"] {
        std::fs::write(
            pack_dir.join("requirements.txt"),
            format!("tinypkg\n{bad}\n"),
        )
        .unwrap();
        let err = ensure(&venvs, "mypack", &pack_dir, &cfg, false).unwrap_err();
        let msg = err.to_string();
        eprintln!("[{label}] {bad} ->\n{msg}\n");
        assert!(matches!(err, VenvError::InstallFailed { .. }), "{msg}");
        assert!(msg.contains("pack \"mypack\""), "{msg}");
        assert!(msg.lines().count() <= 20, "{msg}");
        if bad.starts_with("nonexistent") {
            assert!(msg.contains("nonexistent-pkg"), "{msg}");
        } else {
            // pip names the URL; uv says "Git operation failed ... network connectivity
            // is disabled" without it.
            assert!(
                msg.contains("example.invalid") || msg.contains("Git operation failed"),
                "{msg}"
            );
        }
        assert_eq!(
            std::fs::read(venv.join(FINGERPRINT_FILE)).unwrap(),
            good_record
        );
        assert_eq!(std::fs::metadata(&venv).unwrap().ino(), good_ino);
        let out = venv_python(&venv, "import tinypkg, otherpkg");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(leftovers(&venvs).is_empty(), "{:?}", leftovers(&venvs));
    }

    // Back to the good requirements: the fingerprint matches again, so it is kept.
    std::fs::write(
        pack_dir.join("requirements.txt"),
        "tinypkg\notherpkg==1.0\n",
    )
    .unwrap();
    let again = ensure(&venvs, "mypack", &pack_dir, &cfg, false).unwrap();
    assert_eq!(again.action, VenvAction::Kept);
    // And `recreate` rebuilds regardless.
    let forced = ensure(&venvs, "mypack", &pack_dir, &cfg, true).unwrap();
    assert_eq!(forced.action, VenvAction::Rebuilt);

    // Files included with `-r` count too: an edit to one rebuilds the venv.
    std::fs::write(
        pack_dir.join("requirements.txt"),
        "-r requirements/base.txt\n",
    )
    .unwrap();
    std::fs::create_dir_all(pack_dir.join("requirements")).unwrap();
    std::fs::write(pack_dir.join("requirements/base.txt"), "tinypkg\n").unwrap();
    let included = ensure(&venvs, "mypack", &pack_dir, &cfg, false).unwrap();
    assert_eq!(included.action, VenvAction::Rebuilt);
    let same = ensure(&venvs, "mypack", &pack_dir, &cfg, false).unwrap();
    assert_eq!(same.action, VenvAction::Kept);
    std::fs::write(
        pack_dir.join("requirements/base.txt"),
        "tinypkg\notherpkg==1.0\n",
    )
    .unwrap();
    let edited = ensure(&venvs, "mypack", &pack_dir, &cfg, false).unwrap();
    assert_eq!(
        edited.action,
        VenvAction::Rebuilt,
        "an included file changed"
    );
    let out = venv_python(&venv, "import otherpkg; print(otherpkg.VALUE)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    eprintln!(
        "[{label}] timings: created {:.3}s, kept {:.5}s ({:.0}x), rebuilt {:.3}s, forced {:.3}s",
        created.seconds,
        kept.seconds,
        created.seconds / kept.seconds,
        rebuilt.seconds,
        forced.seconds
    );
}

#[test]
fn lifecycle_with_pip() {
    lifecycle(InstallerChoice::Pip, "pip");
}

#[test]
#[cfg_attr(
    not(has_uv),
    ignore = "uv not found on PATH or in ~/.local/bin: install it with `python3 -m pip install --user uv`"
)]
fn lifecycle_with_uv() {
    lifecycle(InstallerChoice::Uv(uv()), "uv");
}

/// `Auto` finds uv by itself (on PATH or in ~/.local/bin), else falls back to pip.
#[test]
fn auto_picks_uv_when_present() {
    let tmp = tempfile::tempdir().unwrap();
    let wheelhouse = tmp.path().join("wheelhouse");
    std::fs::create_dir_all(&wheelhouse).unwrap();
    let pack_dir = tmp.path().join("p");
    make_pack(&pack_dir, "");
    let cfg = offline_cfg(InstallerChoice::Auto, &wheelhouse);
    let report = ensure(&tmp.path().join("v"), "p", &pack_dir, &cfg, false).unwrap();
    let expected = if find_uv().is_some() { "uv " } else { "pip " };
    assert!(
        report.installer.starts_with(expected),
        "{}",
        report.installer
    );
    assert!(Path::new(&report.path).join("bin/python").exists());
}
