//! Helpers shared by stackpack's tests and benchmarks, so each real fixture is built
//! one way: [`build_wheel`], a wheel of a tiny Python package written directly as a zip
//! (no Python packaging tools needed), for the virtualenv tests and the venv benchmark;
//! [`http`], loopback HTTP(S) servers: one [`http::Reply`] type, one server core
//! ([`http::Server`], answering with a handler and recording each request) and the
//! route-table, HTTPS and hanging servers built on them; [`st2`], an emulation of the
//! part of StackStorm's API that stackpack's handoff uses; and [`guests`], the wasm
//! components the tests load (test guests, example plugins) built from source, with the
//! compiled-plugin cache the tests share; [`js`], the JavaScript example plugins built
//! with the pinned `jco componentize` and cached by their inputs; and the small file
//! fixtures every suite uses ([`write`], [`pack_yaml`], [`file_url`]). A dev-dependency
//! only; it panics with a message when a fixture cannot be made, which is what a test
//! wants.
#![allow(clippy::expect_used)]

pub mod guests;
pub mod http;
pub mod js;
pub mod registry;
pub mod st2;

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;

/// Writes `text` to `path`, creating its directories.
pub fn write(path: &Path, text: &str) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("create the fixture's directory");
    }
    std::fs::write(path, text).expect("write the fixture");
}

/// A pack.yaml with the required fields.
pub fn pack_yaml(name: &str, version: &str) -> String {
    format!(
        "name: {name}\nversion: {version}\ndescription: The {name} pack\nauthor: Tester\nkeywords: [test, {name}]\n"
    )
}

/// `file://` and the path as written (tests name paths they made themselves).
pub fn file_url(p: &Path) -> String {
    format!("file://{}", p.display())
}

/// Writes the wheel of `<name>-<version>` into `wheelhouse` (created if needed) and
/// returns its path. The package is one module `<name>` with `VALUE = <value>` and a
/// `main()` that prints `<name> <value>`, exposed as the console script `<name>-cli`.
/// The wheel is pure Python (`py3-none-any`) with the `.dist-info` files pip and uv
/// read: `METADATA`, `WHEEL`, `entry_points.txt` and `RECORD` (each file's sha256, in
/// unpadded url-safe base64, and its size).
pub fn build_wheel(wheelhouse: &Path, name: &str, version: &str, value: &str) -> PathBuf {
    // The file name and the .dist-info directory use the normalised distribution name.
    let dist = name.replace(['-', '.'], "_");
    let info = format!("{dist}-{version}.dist-info");
    let files: Vec<(String, String)> = vec![
        (
            format!("{dist}.py"),
            format!("VALUE = {value:?}\n\ndef main():\n    print('{name}', VALUE)\n"),
        ),
        (
            format!("{info}/METADATA"),
            format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"),
        ),
        (
            format!("{info}/WHEEL"),
            "Wheel-Version: 1.0\nGenerator: stackpack-testkit\nRoot-Is-Purelib: true\n\
             Tag: py3-none-any\n"
                .to_owned(),
        ),
        (
            format!("{info}/entry_points.txt"),
            format!("[console_scripts]\n{name}-cli = {dist}:main\n"),
        ),
    ];
    let mut record = String::new();
    for (path, text) in &files {
        let digest = URL_SAFE_NO_PAD.encode(Sha256::digest(text.as_bytes()));
        record.push_str(&format!("{path},sha256={digest},{}\n", text.len()));
    }
    record.push_str(&format!("{info}/RECORD,,\n"));

    std::fs::create_dir_all(wheelhouse).expect("create the wheelhouse");
    let wheel = wheelhouse.join(format!("{dist}-{version}-py3-none-any.whl"));
    let file = std::fs::File::create(&wheel).expect("create the wheel file");
    let mut zip = zip::ZipWriter::new(file);
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let record_entry = (format!("{info}/RECORD"), record);
    for (path, text) in files.iter().chain(std::iter::once(&record_entry)) {
        zip.start_file(path.as_str(), options)
            .expect("start a wheel entry");
        zip.write_all(text.as_bytes()).expect("write a wheel entry");
    }
    zip.finish().expect("finish the wheel");
    wheel
}

/// Says that test `case` cannot run here, and why (a missing tool, no root): in CI (`CI`
/// set to anything but `false`) that is a failure; elsewhere the test prints that it
/// skipped, and the caller returns.
pub fn cannot_run(case: &str, why: &str) {
    let in_ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
    assert!(!in_ci, "{case}: {why}; CI must provide it");
    eprintln!("skipping {case}: {why}");
}
