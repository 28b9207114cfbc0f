//! Helpers shared by the integration tests: real interpreters, real wheels.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use stackpack_venv::{InstallerChoice, VenvConfig};

/// The real interpreter behind `python3` (not a pyenv shim), so that reuse is measured
/// without a wrapper script being started.
pub fn real_python() -> String {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sys, os; print(os.path.realpath(sys.executable))",
        ])
        .output()
        .expect("python3 runs");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// uv where `InstallerChoice::Auto` looks for it (PATH, then ~/.local/bin), or `None`.
pub fn find_uv() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("uv"))
            .find(|c| c.is_file())
    });
    on_path.or_else(|| {
        let home = std::env::var_os("HOME")?;
        let p = Path::new(&home).join(".local/bin/uv");
        p.is_file().then_some(p)
    })
}

/// uv, for a test that needs it. Such a test carries
/// `#[cfg_attr(not(has_uv), ignore = ...)]` (the build script sets `has_uv` when it finds
/// uv), so it only runs where uv was found at build time; if uv has gone since, the test
/// fails rather than passing without having run.
pub fn uv() -> PathBuf {
    find_uv().expect(
        "uv was found when the tests were built but is not on PATH or in ~/.local/bin now; \
         reinstall it (`python3 -m pip install --user uv`) or rebuild the tests",
    )
}

/// The shared wheel writer (one copy for every test and bench).
#[allow(unused_imports)]
pub use stackpack_testkit::build_wheel;

pub fn make_pack(dir: &Path, requirements: &str) {
    std::fs::create_dir_all(dir.join("actions")).unwrap();
    std::fs::write(dir.join("actions/run.py"), "print('hi')\n").unwrap();
    std::fs::write(dir.join("requirements.txt"), requirements).unwrap();
}

/// Runs `<venv>/bin/python -c <code>`.
pub fn venv_python(venv: &Path, code: &str) -> Output {
    Command::new(venv.join("bin/python"))
        .args(["-c", code])
        .env_remove("PYTHONPATH")
        .output()
        .unwrap()
}

pub fn offline_cfg(installer: InstallerChoice, wheelhouse: &Path) -> VenvConfig {
    VenvConfig {
        python: real_python(),
        installer,
        offline: true,
        find_links: vec![wheelhouse.to_path_buf()],
        ..VenvConfig::default()
    }
}

/// Names in `dir` starting with `.build-` or `.old-`.
pub fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".build-") || n.starts_with(".old-"))
        .collect()
}
