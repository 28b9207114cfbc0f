//! Plugins built by other toolchains through the real binary: a componentize-py
//! (CPython) override policy added, compiled once at `plugin add`, reused from the cache
//! by every later command, inspected, and deciding in a real `register`; components
//! declaring absurd instance, memory or table counts refused before they are compiled
//! or run, at `plugin add` and when a config declares them.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::common::{Run, cannot_run, pack_yaml, run, stackpack, write};

fn tmp() -> &'static Path {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
}

/// The Python policy, or `None` (said, and a failure in CI) without componentize-py.
fn python_policy(case: &str) -> Option<Arc<[u8]>> {
    match stackpack_testkit::guests::python_policy(tmp()) {
        Ok(wasm) => Some(wasm),
        Err(why) => {
            cannot_run(case, &why);
            None
        }
    }
}

fn json(r: &Run) -> Value {
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

/// The files of `<cache>/plugins`, with the inode and modification time of each.
fn cache_files(cache: &Path) -> Vec<(String, u64, i64, i64)> {
    let mut files: Vec<_> = match std::fs::read_dir(cache.join("plugins")) {
        Ok(entries) => entries
            .map(|e| {
                let e = e.unwrap();
                let m = e.metadata().unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    m.ino(),
                    m.mtime(),
                    m.mtime_nsec(),
                )
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files
}

/// A pack with one action and two sensors.
fn pack(root: &Path, name: &str) {
    let dir = root.join("packs").join(name);
    write(&dir.join("pack.yaml"), &pack_yaml(name, "1.0.0"));
    write(
        &dir.join("actions/a.yaml"),
        "name: a\nrunner_type: local-shell-cmd\nenabled: true\nentry_point: ''\nparameters: {}\n",
    );
    for s in ["sensor1", "sensor2"] {
        write(
            &dir.join(format!("sensors/{s}.yaml")),
            &format!("class_name: {s}\nentry_point: {s}.py\nenabled: true\n"),
        );
    }
}

/// Safe outcome: the CPython component fits the derived limits and the default memory
/// and time limits; it is compiled once, at `plugin add` (which says how long that
/// took and where the code went); `register` and `inspect` afterwards load that very
/// file (same inode and modification time, nothing else written); `inspect` reports
/// the size, the declared counts, the compile time and the peak memory of `describe`;
/// and the policy's verdicts reach the registry.
#[test]
fn python_policy_compiles_once_at_add_and_decides_in_register() {
    let Some(wasm) = python_policy("python_policy_compiles_once_at_add_and_decides_in_register")
    else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let cache = d.path().join("cache");
    let file = d.path().join("py_policy.wasm");
    std::fs::write(&file, &wasm).unwrap();
    let digest = stackpack_plugin::sha256_hex(&wasm);
    let sp = |root: &Path| {
        let mut cmd = stackpack(root);
        cmd.env("STACKPACK_CACHE_DIR", &cache);
        cmd
    };

    let r = run(sp(&root).args(["plugin", "add"]).arg(&file).args([
        "--sha256",
        &digest,
        "--set",
        "reason=python says no",
    ]));
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    assert!(r.stdout.contains("added plugin py-policy"), "{}", r.stdout);
    assert!(
        r.stdout.contains("machine code: compiled in "),
        "{}",
        r.stdout
    );
    let written = cache_files(&cache);
    let cwasm: Vec<_> = written
        .iter()
        .filter(|f| f.0.starts_with(&digest) && f.0.ends_with(".cwasm"))
        .collect();
    assert_eq!(cwasm.len(), 1, "{written:?}");
    assert!(r.stdout.contains(&cwasm[0].0), "{}", r.stdout);

    pack(&root, "community");
    let reg = json(&run(sp(&root).args(["--json", "register"])));
    assert_eq!(reg["sensors(overridden)"], 2, "{reg}");
    let got = json(&run(sp(&root).args(["--json", "get", "community"])));
    let decision = &got["registry"]["decisions"][0];
    assert_eq!(decision["policy"], "py-policy", "{got}");
    assert_eq!(
        decision["reason"], "python says no (community)",
        "{decision}"
    );
    assert_eq!(got["registry"]["counts"]["actions"]["enabled"], 1, "{got}");

    let i = json(&run(sp(&root).args([
        "--json",
        "plugin",
        "inspect",
        "py-policy",
    ])));
    assert_eq!(i["code"], "cached", "{i}");
    assert_eq!(i["size_bytes"], wasm.len() as u64);
    assert!(i["declared"]["instances"].as_u64().unwrap() > 8, "{i}");
    assert!(i["declared"]["memories"].as_u64().unwrap() >= 1, "{i}");
    assert!(i["compile_ms"].as_u64().unwrap() > 0, "{i}");
    let peak = i["describe_peak_memory_bytes"].as_u64().unwrap();
    assert!(peak > 1 << 20 && peak <= 64 << 20, "{i}");
    eprintln!(
        "python policy: {} bytes, declares {}, compiled in {} ms, describe {} ms, peak {} bytes",
        i["size_bytes"], i["declared"], i["compile_ms"], i["describe_ms"], peak
    );
    let text = run(sp(&root).args(["plugin", "inspect", "py-policy"]));
    assert_eq!(text.code, 0, "{}", text.stderr);
    for field in [
        "size",
        "declares",
        "machine code",
        "describe",
        "peak memory",
    ] {
        assert!(text.stdout.contains(field), "{field}: {}", text.stdout);
    }

    // Nothing was compiled or written again by register, get or inspect.
    assert_eq!(cache_files(&cache), written);
}

fn greedy_components() -> Vec<(Vec<u8>, &'static str)> {
    use stackpack_testkit::guests::declaring;
    vec![
        (
            declaring(5000, 1, 1),
            "5000 core instances, more than the 100",
        ),
        (declaring(1, 300, 1), "300 memories, more than the 20"),
        (declaring(1, 1, 20_000), "20000 tables, more than the 100"),
    ]
}

/// Safe outcome: `plugin add` of a component declaring absurd counts fails naming the
/// plugin, the count and the ceiling; nothing is added, nothing compiled.
#[test]
fn absurd_counts_are_refused_at_add_and_nothing_is_compiled() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let cache = d.path().join("cache");
    for (bytes, said) in greedy_components() {
        let file = d.path().join("greedy.wasm");
        std::fs::write(&file, &bytes).unwrap();
        let r = run(stackpack(&root)
            .env("STACKPACK_CACHE_DIR", &cache)
            .args(["plugin", "add"])
            .arg(&file)
            .args(["--sha256", &stackpack_plugin::sha256_hex(&bytes)]));
        assert_ne!(r.code, 0, "{}", r.stdout);
        assert!(
            r.stderr.contains(&format!("plugin greedy declares {said}")),
            "{}",
            r.stderr
        );
        assert!(r.stderr.contains("it was not run"), "{}", r.stderr);
        assert!(!root.join("plugins").exists(), "nothing is added");
        assert!(cache_files(&cache).is_empty(), "nothing is compiled");
    }
}

/// Safe outcome: a config-declared policy declaring absurd counts stops `register`
/// with the same clear error before anything is written to the registry.
#[test]
fn absurd_counts_are_refused_when_a_config_declares_them() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    pack(&root, "p");
    for (bytes, said) in greedy_components() {
        let file: PathBuf = d.path().join("greedy.wasm");
        std::fs::write(&file, &bytes).unwrap();
        let config = d.path().join("stackpack.toml");
        write(
            &config,
            &format!(
                "[plugins.greedy]\nkind = \"policy\"\npath = \"{}\"\nsha256 = \"{}\"\n",
                file.display(),
                stackpack_plugin::sha256_hex(&bytes)
            ),
        );
        let r = run(stackpack(&root)
            .arg("--config")
            .arg(&config)
            .args(["register"]));
        assert_ne!(r.code, 0, "{}", r.stdout);
        assert!(
            r.stderr.contains(&format!("plugin greedy declares {said}")),
            "{}",
            r.stderr
        );
        assert!(!root.join("registry.db").exists(), "nothing was registered");
    }
}
