//! Install speed on repositories shaped like the StackStorm Exchange, against the st2
//! way and the physical floor, over `file://` and smart HTTP, measured in one run.
//!
//!   cargo bench --bench install
//!   STACKPACK_BENCH_QUICK=1 cargo bench --bench install   # small repositories, once
//!
//! What is generated and measured: see `install_suite.rs` (shared with the end-to-end
//! test that runs the quick mode).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod install_suite;

fn main() {
    let opts = install_suite::Options::from_env();
    let work = tempfile::tempdir().unwrap();
    let report = install_suite::run(
        opts,
        std::path::Path::new(env!("CARGO_BIN_EXE_stackpack")),
        work.path(),
    );
    print!("{}", report.render(opts));
}
