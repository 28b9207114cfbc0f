//! JavaScript plugins built with `jco componentize` (npm: `@bytecodealliance/jco` and
//! `@bytecodealliance/componentize-js`), for the tests that run them.
//!
//! The toolchain is not vendored: `.ci/run` installs the versions that
//! `examples/plugins/<name>/package-lock.json` pins with `npm ci` into
//! `<target>/js-toolchain` (`<target>` being the parent of the caller's
//! `CARGO_TARGET_TMPDIR`). A build takes seconds and most of a GiB of memory, so each
//! component is kept in `<tmp>/js-components/`, under a key hashed from its sources, the
//! WIT, the lockfile, the build flags and the versions of node, jco and componentize-js:
//! any of those changing builds it again, nothing else does.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

use sha2::{Digest, Sha256};

use crate::guests::repo_root;

/// The componentize flags every JavaScript example is built with, after the source:
/// `--disable all` leaves out the WASI imports (stdio, clocks, random, http) that
/// StarlingMonkey adds by default and that stackpack's host does not provide.
const FLAGS: [&str; 2] = ["--disable", "all"];

/// Where `.ci/run` installs the pinned toolchain, for the test binary whose
/// `CARGO_TARGET_TMPDIR` is `tmp`.
pub fn toolchain_dir(tmp: &Path) -> PathBuf {
    tmp.parent().unwrap_or(tmp).join("js-toolchain")
}

/// The command that installs the toolchain for the example `name`, for messages.
fn install_hint(tmp: &Path, name: &str) -> String {
    let dir = toolchain_dir(tmp);
    format!(
        "install it with: mkdir -p {d} && cp examples/plugins/{name}/package.json \
         examples/plugins/{name}/package-lock.json {d}/ && (cd {d} && npm ci)",
        d = dir.display()
    )
}

/// The version of an npm package installed under `<dir>/node_modules`, if any.
fn installed_version(dir: &Path, package: &str) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("node_modules").join(package).join("package.json"))
        .ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json["version"].as_str().map(str::to_string)
}

/// The version `lock` (a package-lock.json) pins for `package`.
fn locked_version(lock: &serde_json::Value, package: &str) -> Option<String> {
    lock["packages"][format!("node_modules/{package}")]["version"]
        .as_str()
        .map(str::to_string)
}

/// Every file under `dir`, sorted, as paths relative to it.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let entries = std::fs::read_dir(dir.join(&rel))
            .unwrap_or_else(|e| panic!("read {}: {e}", dir.join(&rel).display()));
        for entry in entries {
            let entry = entry.expect("read a directory entry");
            let path = rel.join(entry.file_name());
            if entry.file_type().expect("stat a directory entry").is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Builds `examples/plugins/<name>` (its entry point `src/policy.js`, world `world`)
/// with the pinned toolchain, or returns the cached component of an identical build.
/// `Err` says why it cannot be built here (no node, no toolchain, a toolchain at other
/// versions than the lockfile pins) and how to install it; a failing build panics with
/// jco's output.
pub fn example(tmp: &Path, name: &str, world: &str) -> Result<Arc<[u8]>, String> {
    type Cells = HashMap<String, Arc<OnceLock<Result<Arc<[u8]>, String>>>>;
    static BUILT: OnceLock<Mutex<Cells>> = OnceLock::new();
    let cell = BUILT
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .entry(format!("{}#{name}#{world}", tmp.display()))
        .or_default()
        .clone();
    cell.get_or_init(|| build(tmp, name, world)).clone()
}

fn build(tmp: &Path, name: &str, world: &str) -> Result<Arc<[u8]>, String> {
    let root = repo_root();
    let project = root.join("examples/plugins").join(name);
    let wit = root.join("wit/plugin.wit");
    let toolchain = toolchain_dir(tmp);

    let node = Command::new("node")
        .arg("--version")
        .output()
        .map_err(|e| format!("node is not installed ({e}); the JavaScript toolchain needs it"))?;
    let node = String::from_utf8_lossy(&node.stdout).trim().to_string();

    let lock_text = std::fs::read_to_string(project.join("package-lock.json"))
        .unwrap_or_else(|e| panic!("read {name}/package-lock.json: {e}"));
    let lock: serde_json::Value = serde_json::from_str(&lock_text)
        .unwrap_or_else(|e| panic!("parse {name}/package-lock.json: {e}"));
    let mut versions = Vec::new();
    for package in ["@bytecodealliance/jco", "@bytecodealliance/componentize-js"] {
        let pinned = locked_version(&lock, package)
            .unwrap_or_else(|| panic!("{name}/package-lock.json pins no {package}"));
        match installed_version(&toolchain, package) {
            Some(v) if v == pinned => versions.push(format!("{package}@{v}")),
            Some(v) => {
                return Err(format!(
                    "{} has {package} {v} but the lockfile pins {pinned}; {}",
                    toolchain.display(),
                    install_hint(tmp, name)
                ));
            }
            None => {
                return Err(format!(
                    "{package} is not installed in {}; {}",
                    toolchain.display(),
                    install_hint(tmp, name)
                ));
            }
        }
    }

    let mut key = Sha256::new();
    for part in [node.as_str(), world, &FLAGS.join(" ")]
        .into_iter()
        .chain(versions.iter().map(String::as_str))
    {
        key.update(part.as_bytes());
        key.update([0]);
    }
    let mut inputs = vec![
        (PathBuf::from("package.json"), project.join("package.json")),
        (
            PathBuf::from("package-lock.json"),
            project.join("package-lock.json"),
        ),
        (PathBuf::from("wit/plugin.wit"), wit.clone()),
    ];
    let src = project.join("src");
    inputs.extend(files_under(&src).into_iter().map(|rel| {
        let abs = src.join(&rel);
        (Path::new("src").join(rel), abs)
    }));
    for (rel, abs) in &inputs {
        let bytes = std::fs::read(abs).unwrap_or_else(|e| panic!("read {}: {e}", abs.display()));
        key.update(rel.to_string_lossy().as_bytes());
        key.update([0]);
        key.update((bytes.len() as u64).to_le_bytes());
        key.update(&bytes);
    }
    let key: String = key.finalize()[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();

    let cache = tmp.join("js-components");
    let out = cache.join(format!("{name}-{key}.wasm"));
    if let Ok(bytes) = std::fs::read(&out) {
        return Ok(Arc::from(bytes));
    }
    std::fs::create_dir_all(&cache).expect("create the JavaScript component cache");
    // Written beside its final name and renamed, so a concurrent test process never
    // reads half a component.
    let partial = cache.join(format!("{name}-{key}.{}.partial.wasm", std::process::id()));
    let jco = toolchain.join("node_modules/@bytecodealliance/jco/dist/jco.js");
    let started = std::time::Instant::now();
    let run = Command::new("node")
        .arg(&jco)
        .arg("componentize")
        .arg(src.join("policy.js"))
        .arg("--wit")
        .arg(&wit)
        .args(["--world-name", world])
        .args(FLAGS)
        .arg("-o")
        .arg(&partial)
        .current_dir(&project)
        .output()
        .unwrap_or_else(|e| panic!("run node {}: {e}", jco.display()));
    assert!(
        run.status.success() && partial.is_file(),
        "jco componentize of examples/plugins/{name} failed:\n{}\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    eprintln!(
        "built examples/plugins/{name} with {} in {:.1} s",
        versions.join(", "),
        started.elapsed().as_secs_f64()
    );
    std::fs::rename(&partial, &out).expect("move the built component into the cache");
    let bytes = std::fs::read(&out).expect("read the built component");
    Ok(Arc::from(bytes))
}
