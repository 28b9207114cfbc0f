//! Helpers for the library tests: the test guests and example plugins and the shared
//! compiled-plugin cache (stackpack-testkit's, under this target's tmp dir), the loopback
//! HTTP server, and pack files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use stackpack_testkit::guests;

pub use stackpack_testkit::http::{Reply, Server, http_server};

fn tmp() -> &'static Path {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
}

/// Compiled plugin code shared by every test (each test still uses its own root).
pub fn shared_cache() -> PathBuf {
    guests::plugin_cache(tmp())
}

/// The hostile test guest (tests/guests/hostile).
pub fn hostile_wasm() -> Arc<[u8]> {
    guests::hostile(tmp())
}

/// The misbehaving override policy (tests/guests/hostile-policy); config `mode` picks
/// the misbehaviour.
pub fn hostile_policy_wasm() -> Arc<[u8]> {
    guests::hostile_policy(tmp())
}

/// The policy built against the unsupported API version 0.2.0
/// (tests/guests/future-api).
pub fn future_api_wasm() -> Arc<[u8]> {
    guests::future_api(tmp())
}

/// An example plugin from examples/plugins, by crate name (`corp-resolver`).
pub fn example_wasm(name: &str) -> Arc<[u8]> {
    guests::example(tmp(), name)
}

pub fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A pack.yaml with the required fields.
pub fn pack_yaml(name: &str, version: &str) -> String {
    format!(
        "name: {name}\nversion: {version}\ndescription: The {name} pack\nauthor: Tester\nkeywords: [test, {name}]\n"
    )
}
