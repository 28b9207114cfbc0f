//! Helpers shared by stackpack's tests and benchmarks, so each real fixture is built
//! one way: [`build_wheel`], a wheel of a tiny Python package built offline with pip,
//! for the virtualenv tests and the venv benchmark; and [`http`], loopback HTTP(S)
//! servers: one [`http::Reply`] type, one server core ([`http::Server`], answering with
//! a handler and recording each request) and the route-table, HTTPS and hanging servers
//! built on them. A dev-dependency only; it panics with a message (or the tool's output)
//! when a fixture cannot be made, which is what a test wants.
#![allow(clippy::expect_used)]

pub mod http;

use std::path::Path;
use std::process::Command;

/// Builds `<name>-<version>` (one module `<name>` with `VALUE = <value>` and a
/// `<name>-cli` console script) as a wheel into `wheelhouse`, offline:
/// `python3 -m pip wheel --no-build-isolation --no-deps --no-index` (needs setuptools
/// and `wheel`, which CI installs). `work` holds the package source.
pub fn build_wheel(work: &Path, wheelhouse: &Path, name: &str, version: &str, value: &str) {
    let src = work.join(format!("{name}-{version}-src"));
    std::fs::create_dir_all(&src).expect("create the package source dir");
    std::fs::write(
        src.join("setup.py"),
        format!(
            "from setuptools import setup\n\
             setup(name={name:?}, version={version:?}, py_modules=[{name:?}],\n\
             \x20     entry_points={{'console_scripts': ['{name}-cli={name}:main']}})\n"
        ),
    )
    .expect("write setup.py");
    std::fs::write(
        src.join(format!("{name}.py")),
        format!("VALUE = {value:?}\n\ndef main():\n    print('{name}', VALUE)\n"),
    )
    .expect("write the module");
    let out = Command::new("python3")
        .args([
            "-m",
            "pip",
            "wheel",
            "--no-build-isolation",
            "--no-deps",
            "--no-index",
            "-q",
            "-w",
        ])
        .arg(wheelhouse)
        .arg(&src)
        .output()
        .expect("pip wheel runs");
    assert!(
        out.status.success(),
        "pip wheel failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
