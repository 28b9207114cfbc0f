//! The end-to-end tests, as one test binary (each binary links wasmtime): each module
//! drives the real stackpack binary on a scratch root (`deps` checks Cargo.lock against
//! deny.toml). Library tests of the plugin runtime and the registry are in
//! `host/ops/tests/ops`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bench_install;
mod cache_cli;
mod common;
mod config_cli;
mod deps;
mod fleet_oci;
mod git_no_libgit2;
mod hostile_crash;
mod hostile_git;
mod hostile_input;
mod hostile_tree;
mod index_cli;
mod install_cli;
mod install_http;
mod js_plugins;
mod oci_install;
mod oci_push;
mod packs_cli;
mod plugin_limits;
mod plugin_new;
mod plugins_cli;
mod python_plugins;
mod register_cli;
mod st2_cli;
mod st2_more;
mod strict_config;
mod strict_graph;
mod strict_register;
mod sync_cli;
mod venv_cli;
