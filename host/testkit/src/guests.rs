//! The wasm components the tests load, built from source: the test guests in
//! `tests/guests/` and the example plugins in `examples/plugins/`. Each is built once per
//! test process by the cargo running the tests, for wasm32-wasip2, into
//! `<tmp>/guests-target`, where `tmp` is the caller's `CARGO_TARGET_TMPDIR`: every guest
//! workspace and every test binary shares that target dir, so their common dependencies
//! (wit-bindgen...) are compiled once.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

/// The repository root (this crate is `host/testkit`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The compiled-plugin cache shared by every test under `tmp` (each test still uses its
/// own root).
pub fn plugin_cache(tmp: &Path) -> PathBuf {
    tmp.join("plugin-cache")
}

/// Builds the guest workspace at `manifest_rel` (relative to the repository root) for
/// wasm32-wasip2 into `<tmp>/guests-target` and returns `<artifact>.wasm` from it, once
/// per artifact per test process.
pub fn build(tmp: &Path, manifest_rel: &str, artifact: &str) -> Arc<[u8]> {
    type Cells = HashMap<String, Arc<OnceLock<Arc<[u8]>>>>;
    static BUILT: OnceLock<Mutex<Cells>> = OnceLock::new();
    let target = tmp.join("guests-target");
    // The map lock is held only to find the artifact's cell, so a panicking build
    // cannot poison it; concurrent callers of one artifact wait on its cell.
    let cell = BUILT
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .entry(format!("{}#{manifest_rel}#{artifact}", target.display()))
        .or_default()
        .clone();
    cell.get_or_init(|| {
        let manifest = repo_root().join(manifest_rel);
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = Command::new(cargo)
            .args([
                "build",
                "--release",
                "--locked",
                "--target",
                "wasm32-wasip2",
                "--manifest-path",
            ])
            .arg(&manifest)
            .arg("--target-dir")
            .arg(&target)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("RUSTC_WRAPPER")
            .env_remove("RUSTC_WORKSPACE_WRAPPER")
            .output()
            .expect("run cargo");
        assert!(
            out.status.success(),
            "building the guest {manifest_rel} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let wasm = target.join(format!("wasm32-wasip2/release/{artifact}.wasm"));
        let bytes = std::fs::read(&wasm)
            .unwrap_or_else(|e| panic!("{manifest_rel} built no {}: {e}", wasm.display()));
        Arc::from(bytes)
    })
    .clone()
}

/// The hostile resolver guest (tests/guests/hostile).
pub fn hostile(tmp: &Path) -> Arc<[u8]> {
    build(tmp, "tests/guests/hostile/Cargo.toml", "hostile_guest")
}

/// The misbehaving override policy (tests/guests/hostile-policy); config `mode` picks
/// the misbehaviour.
pub fn hostile_policy(tmp: &Path) -> Arc<[u8]> {
    build(
        tmp,
        "tests/guests/hostile-policy/Cargo.toml",
        "hostile_policy_guest",
    )
}

/// The policy built against the unsupported API version 0.2.0 (tests/guests/future-api).
pub fn future_api(tmp: &Path) -> Arc<[u8]> {
    build(
        tmp,
        "tests/guests/future-api/Cargo.toml",
        "future_api_guest",
    )
}

/// An example plugin from examples/plugins, by crate name (`corp-resolver`).
pub fn example(tmp: &Path, name: &str) -> Arc<[u8]> {
    build(tmp, "examples/plugins/Cargo.toml", &name.replace('-', "_"))
}
