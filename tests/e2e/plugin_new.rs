//! `stackpack plugin new`: each scaffold (Rust and Python, resolver and policy) is
//! generated, built with its own build command, added with `plugin add` pinned by its
//! sha256, and passes the `plugin test` fixture it was generated with. The Rust builds
//! share one target dir under the test target dir, so the SDK's dependencies compile
//! once, and run `--offline`: a generated project needs nothing from this repository
//! and nothing from the network beyond crates the machine already has.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{cannot_run, run, stackpack};

/// What `plugin new --json` reports.
struct Scaffold {
    dir: PathBuf,
    wasm: String,
    files: Vec<String>,
}

fn scaffold(work: &Path, name: &str, kind: &str, lang: &str) -> Scaffold {
    let dir = work.join(name);
    let r = run(stackpack(&work.join("root"))
        .args([
            "plugin", "new", name, "--kind", kind, "--lang", lang, "--json",
        ])
        .arg("--dir")
        .arg(&dir));
    assert_eq!(r.code, 0, "plugin new: {}{}", r.stdout, r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["dir"].as_str().map(PathBuf::from), Some(dir.clone()));
    let files = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect::<Vec<_>>();
    for f in &files {
        assert!(dir.join(f).is_file(), "{f} listed but not written");
    }
    assert!(files.contains(&"README.md".to_string()));
    Scaffold {
        dir,
        wasm: v["wasm"].as_str().unwrap().to_string(),
        files,
    }
}

/// Builds a generated Rust project as its README says, into the shared target dir;
/// returns the component's bytes.
fn build_rust(s: &Scaffold, artifact: &str) -> Vec<u8> {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("plugin-new-target");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let started = std::time::Instant::now();
    let out = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--offline",
            "--target",
            "wasm32-wasip2",
        ])
        .current_dir(&s.dir)
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "building the generated {} failed:\n{}",
        s.dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("built {artifact} in {:.1?}", started.elapsed());
    let wasm = target.join(format!("wasm32-wasip2/release/{artifact}.wasm"));
    assert_eq!(
        s.wasm,
        format!("target/wasm32-wasip2/release/{artifact}.wasm"),
        "the README's component path"
    );
    std::fs::read(&wasm).unwrap()
}

/// componentize-py on PATH or in ~/.local/bin.
fn componentize_py() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(Path::new(&home).join(".local/bin"));
    }
    dirs.into_iter()
        .map(|d| d.join("componentize-py"))
        .find(|p| p.is_file())
}

/// Builds a generated Python project with its build.sh; `None` (after saying why) when
/// componentize-py is missing.
fn build_python(case: &str, s: &Scaffold) -> Option<Vec<u8>> {
    let Some(tool) = componentize_py() else {
        cannot_run(
            case,
            "componentize-py is not installed (python3 -m pip install --user componentize-py==0.25.1)",
        );
        return None;
    };
    let path = std::env::join_paths(
        std::iter::once(tool.parent().unwrap().to_path_buf()).chain(
            std::env::var_os("PATH")
                .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
                .unwrap_or_default(),
        ),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let out = Command::new("sh")
        .arg("build.sh")
        .current_dir(&s.dir)
        .env("PATH", path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "build.sh of {} failed:\n{}{}",
        s.dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("built {} in {:.1?}", s.wasm, started.elapsed());
    Some(std::fs::read(s.dir.join(&s.wasm)).unwrap())
}

/// `plugin add` of the built component, pinned by its sha256 (granted the fixture's
/// service and given its config, for a resolver).
fn add(root: &Path, work: &Path, name: &str, kind: &str, wasm: &[u8]) {
    let file = work.join(format!("{name}.wasm"));
    std::fs::write(&file, wasm).unwrap();
    let mut cmd = stackpack(root);
    cmd.args(["plugin", "add"])
        .arg(&file)
        .args(["--sha256", &stackpack_plugin::sha256_hex(wasm)]);
    if kind == "resolver" {
        cmd.args([
            "--grant",
            "https://packs.example.com",
            "--set",
            "service-url=https://packs.example.com",
        ]);
    }
    let r = run(&mut cmd);
    assert_eq!(r.code, 0, "plugin add: {}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(&format!("added plugin {name}: {kind}")),
        "{}",
        r.stdout
    );
}

/// Runs the project's `plugin test` fixture against the added plugin, by name.
fn fixture_test(root: &Path, s: &Scaffold, name: &str, kind: &str) -> serde_json::Value {
    let mut cmd = stackpack(root);
    cmd.current_dir(&s.dir)
        .args(["plugin", "test", name, "--json"]);
    if kind == "resolver" {
        cmd.args([
            "--refs",
            "testdata/refs.txt",
            "--recorded",
            "testdata/recorded.json",
            "--set",
            "service-url=https://packs.example.com",
        ]);
    } else {
        cmd.args([
            "--pack",
            "testdata/sample_pack",
            "--expect",
            "testdata/expected.txt",
        ]);
    }
    let r = run(&mut cmd);
    assert_eq!(r.code, 0, "plugin test: {}{}", r.stdout, r.stderr);
    serde_json::from_str(&r.stdout).unwrap()
}

fn check_resolver_report(name: &str, v: &serde_json::Value) {
    let results = v["results"].as_array().unwrap();
    let statuses: Vec<&str> = results
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["resolved", "resolved", "not-applicable"], "{v}");
    assert_eq!(results[0]["canonical"], format!("{name}:hello"));
    assert_eq!(
        results[0]["resolution"]["url"],
        "https://git.example.com/packs/hello.git"
    );
    assert!(
        v["unrecorded"].as_array().unwrap().is_empty(),
        "asked only what the fixture recorded: {v}"
    );
}

fn check_policy_report(v: &serde_json::Value) {
    let verdicts: Vec<(&str, &str)> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["ref"].as_str().unwrap(), r["verdict"].as_str().unwrap()))
        .collect();
    assert_eq!(
        verdicts,
        [
            ("sample_pack.WatchSensor", "disable"),
            ("sample_pack.greet", "keep")
        ],
        "{v}"
    );
}

fn rust_case(name: &str, kind: &str) {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let s = scaffold(d.path(), name, kind, "rust");
    assert!(s.files.contains(&"vendor/sdk/src/lib.rs".to_string()));
    let wasm = build_rust(&s, &name.replace('-', "_"));
    add(&root, d.path(), name, kind, &wasm);
    let report = fixture_test(&root, &s, name, kind);
    if kind == "resolver" {
        check_resolver_report(name, &report);
    } else {
        check_policy_report(&report);
    }
}

fn python_case(case: &str, name: &str, kind: &str) {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let s = scaffold(d.path(), name, kind, "python");
    assert!(s.files.contains(&"app.py".to_string()));
    let Some(wasm) = build_python(case, &s) else {
        return;
    };
    add(&root, d.path(), name, kind, &wasm);
    let report = fixture_test(&root, &s, name, kind);
    if kind == "resolver" {
        check_resolver_report(name, &report);
    } else {
        check_policy_report(&report);
    }
}

/// Safe outcome: the generated Rust resolver builds offline from what the binary wrote,
/// is accepted by `plugin add`, and resolves its fixture's references from the recorded
/// answers only.
#[test]
fn rust_resolver_scaffold_builds_and_passes_its_fixture() {
    rust_case("acme-packs", "resolver");
}

/// Safe outcome: the generated Rust policy builds offline, is accepted by `plugin add`,
/// and decides its sample pack as its expect file says.
#[test]
fn rust_policy_scaffold_builds_and_passes_its_fixture() {
    rust_case("acme-policy", "policy");
}

/// Safe outcome: the generated Python resolver builds with componentize-py, is accepted
/// by `plugin add`, and resolves its fixture's references from the recorded answers.
#[test]
fn python_resolver_scaffold_builds_and_passes_its_fixture() {
    python_case(
        "python_resolver_scaffold_builds_and_passes_its_fixture",
        "pyacme",
        "resolver",
    );
}

/// Safe outcome: the generated Python policy builds with componentize-py, is accepted by
/// `plugin add`, and decides its sample pack as its expect file says.
#[test]
fn python_policy_scaffold_builds_and_passes_its_fixture() {
    python_case(
        "python_policy_scaffold_builds_and_passes_its_fixture",
        "pyacme-policy",
        "policy",
    );
}

/// Safe outcome: a bad name, a reserved one and a non-empty directory are refused with
/// a usage or conflict exit code and nothing is written.
#[test]
fn bad_names_and_occupied_dirs_write_nothing() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    for (name, want) in [
        ("Bad Name", "not a usable plugin name"),
        ("../escape", "not a usable plugin name"),
        ("github", "reserved"),
    ] {
        let dir = d.path().join("p");
        let r = run(stackpack(&root)
            .args([
                "plugin", "new", name, "--kind", "resolver", "--lang", "rust",
            ])
            .arg("--dir")
            .arg(&dir));
        assert_eq!(r.code, 2, "{name}: {}", r.stderr);
        assert!(r.stderr.contains(want), "{name}: {}", r.stderr);
        assert!(!dir.exists(), "{name}: nothing written");
    }
    let taken = d.path().join("taken");
    std::fs::create_dir(&taken).unwrap();
    std::fs::write(taken.join("notes.txt"), "mine").unwrap();
    let r = run(stackpack(&root)
        .args([
            "plugin", "new", "acme", "--kind", "policy", "--lang", "python",
        ])
        .arg("--dir")
        .arg(&taken));
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(
        r.stderr.contains("exists and is not empty") && r.stderr.contains("--dir"),
        "{}",
        r.stderr
    );
    let left: Vec<_> = std::fs::read_dir(&taken).unwrap().collect();
    assert_eq!(left.len(), 1, "the directory is left as it was");
    let beside: Vec<_> = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(beside, ["taken"], "no staging directory left: {beside:?}");
}
