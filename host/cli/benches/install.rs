//! Install speed on repositories shaped like the StackStorm Exchange, against the st2
//! way and the physical floor, over `file://` and smart HTTP, measured in one run.
//!
//!   cargo bench --bench install
//!   STACKPACK_BENCH_QUICK=1 cargo bench --bench install   # small repositories, once
//!   STACKPACK_BENCH_DIR=/tmp/b cargo bench --bench install # keep what it made in /tmp/b
//!
//! What is generated and measured: see `install_suite.rs` (shared with the end-to-end
//! test that runs the quick mode).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod install_suite;

fn main() {
    let opts = install_suite::Options::from_env();
    // STACKPACK_BENCH_DIR keeps the repositories and roots there (to look at them, or
    // to time other commands on them); else a temporary directory is used and removed.
    let temp = tempfile::tempdir().unwrap();
    let work = match std::env::var_os("STACKPACK_BENCH_DIR") {
        Some(dir) => std::path::PathBuf::from(dir),
        None => temp.path().to_path_buf(),
    };
    // STACKPACK_BENCH_BIN measures another build of stackpack (the harness itself only
    // starts processes and times them, so it may be a debug build:
    // `STACKPACK_BENCH_BIN=target/release/stackpack cargo test --bench install`).
    let bin = std::env::var_os("STACKPACK_BENCH_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_stackpack").into());
    let report = install_suite::run(opts, &bin, &work);
    print!("{}", report.render(opts));
}
