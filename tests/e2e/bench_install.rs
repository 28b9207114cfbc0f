//! The install benchmark (`cargo bench --bench install`) run in its quick mode against
//! the debug binary, so a change that breaks it fails here and not at the next release.

#[path = "../../host/cli/benches/install_suite.rs"]
mod install_suite;

/// Every row of both tables is measured and every pack lands with all its files (the
/// suite checks the file counts and each process's exit code); the timings themselves
/// are not judged on a debug build.
#[test]
fn the_install_benchmark_runs_in_quick_mode() {
    let d = tempfile::tempdir().unwrap();
    let opts = install_suite::Options { quick: true };
    let report = install_suite::run(
        opts,
        std::path::Path::new(env!("CARGO_BIN_EXE_stackpack")),
        d.path(),
    );
    assert_eq!(report.tables.len(), 2);
    for t in &report.tables {
        for m in [
            t.st2_way,
            t.floor,
            t.transfer,
            t.cold,
            t.warm_cache,
            t.reinstall,
        ] {
            assert!(!m.wall.is_zero(), "{t:?}");
        }
    }
    let text = report.render(opts);
    for row in [
        "the st2 way",
        "physical floor",
        "git's own transfer",
        "stackpack cold",
        "stackpack, warm cache",
        "stackpack reinstall of",
    ] {
        let rows = text.lines().filter(|l| l.starts_with(&format!("| {row}")));
        assert_eq!(rows.count(), 2, "{row}: {text}");
    }
}
