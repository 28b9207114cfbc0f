//! Looks for uv where the crate's own `find_uv` does (PATH, then `~/.local/bin`) so the
//! uv tests can be reported as ignored, with the reason, on a machine without it,
//! instead of passing without running. Sets `cfg(has_uv)` when uv is found. With
//! `STACKPACK_REQUIRE_UV=1` (CI) a missing uv fails the build, so those tests can never
//! be skipped there. The library itself does not read the cfg.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

fn is_executable_file(path: &Path) -> bool {
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn find_uv() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .filter(|dir| !dir.as_os_str().is_empty())
            .map(|dir| dir.join("uv"))
            .find(|candidate| is_executable_file(candidate))
    });
    on_path.or_else(|| {
        let candidate = Path::new(&std::env::var_os("HOME")?).join(".local/bin/uv");
        is_executable_file(&candidate).then_some(candidate)
    })
}

fn main() {
    println!("cargo::rustc-check-cfg=cfg(has_uv)");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=PATH");
    println!("cargo::rerun-if-env-changed=HOME");
    println!("cargo::rerun-if-env-changed=STACKPACK_REQUIRE_UV");
    if let Some(uv) = find_uv() {
        println!("cargo::rustc-cfg=has_uv");
        // Removing uv makes cargo look again.
        println!("cargo::rerun-if-changed={}", uv.display());
        return;
    }
    if std::env::var_os("STACKPACK_REQUIRE_UV").is_some_and(|v| v == "1") {
        eprintln!(
            "error: STACKPACK_REQUIRE_UV=1 but uv is not on PATH or in ~/.local/bin, so \
             the uv tests of stackpack-venv cannot run. Install it with \
             `python3 -m pip install --user uv`, or unset STACKPACK_REQUIRE_UV."
        );
        std::process::exit(1);
    }
    // Installing uv with `pip install --user` puts it in ~/.local/bin: watching that
    // directory (when it exists) makes cargo look again afterwards.
    let local_bin = std::env::var_os("HOME").map(|home| Path::new(&home).join(".local/bin"));
    let watched = local_bin.filter(|dir| dir.is_dir());
    if let Some(dir) = &watched {
        println!("cargo::rerun-if-changed={}", dir.display());
    }
    println!(
        "cargo::warning=uv not found on PATH or in ~/.local/bin: the uv tests of \
         stackpack-venv will be reported as ignored. Install it with \
         `python3 -m pip install --user uv`{}",
        if watched.is_some() {
            ""
        } else {
            ", then `touch host/venv/build.rs` so cargo looks again"
        }
    );
}
