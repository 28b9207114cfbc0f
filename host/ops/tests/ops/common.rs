//! Helpers for the library tests: the test guests and example plugins and the shared
//! compiled-plugin cache (stackpack-testkit's, under this target's tmp dir), the loopback
//! HTTP server, and pack files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use stackpack_testkit::guests;

pub use stackpack_testkit::http::{Reply, Server, http_server};
pub use stackpack_testkit::{pack_yaml, write};

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
