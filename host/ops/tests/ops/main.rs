//! The library tests of stackpack-ops, as one test binary (each binary links wasmtime):
//! the operations on a session, the plugin runtime with real components (built-ins, test
//! guests, example plugins), and the registry with real override policies. None of them
//! runs the stackpack binary; the end-to-end tests in the repository's `tests/e2e` do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod fresh_root;
mod operations;
mod plugin_examples;
mod plugin_runtime;
mod registry_catch_up;
mod registry_policies;
