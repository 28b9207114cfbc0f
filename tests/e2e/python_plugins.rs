//! The Python example plugins (`examples/plugins/python-policy`, `python-resolver`),
//! built with componentize-py as their READMEs say and driven through the real binary:
//! the policy's verdicts reach the registry through `register`, the resolver installs
//! packs through `install` (a git repository made here, served over smart HTTP) and
//! resolves under `plugin test` with the recorded answers of its `testdata/`. Their own
//! Python unit tests run too. Without componentize-py these tests cannot run (a failure
//! under CI=true, a printed skip elsewhere).
//!
//! Each component is built once (kept under the target dir, keyed by its sources, the WIT
//! and componentize-py's version) and compiled once per run: every test uses the shared
//! plugin cache, and the first `plugin add` of a component holds a lock the others wait
//! on, so they load the code it compiled.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use stackpack_testkit::guests::{self, PythonPlugin};

use crate::common::{
    Run, bare_clone, cannot_run, commit_version, git, git_http_server, installed_version,
    pack_repo, pack_yaml, run, stackpack, write,
};

fn tmp() -> &'static Path {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
}

fn example_dir(dir: &str) -> PathBuf {
    guests::repo_root().join("examples/plugins").join(dir)
}

/// Held around a first `plugin add` of a component, so one test compiles it into the
/// shared cache while the others wait and then load that code.
static COMPILING: Mutex<()> = Mutex::new(());

/// `stackpack plugin add <component> --sha256 <its digest> <extra...>` on `root`.
fn add(root: &Path, plugin: &PythonPlugin, extra: &[&str]) -> Run {
    let _one_compile = COMPILING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let r = run(stackpack(root)
        .args(["plugin", "add"])
        .arg(&plugin.path)
        .args(["--sha256", &stackpack_plugin::sha256_hex(&plugin.wasm)])
        .args(extra));
    assert_eq!(r.code, 0, "plugin add:\n{}{}", r.stdout, r.stderr);
    r
}

/// The built component, or `None` after saying why it cannot be built here.
fn built(
    case: &str,
    build: fn(&Path) -> Result<Arc<PythonPlugin>, String>,
) -> Option<Arc<PythonPlugin>> {
    match build(tmp()) {
        Ok(p) => {
            if let Some(t) = p.built_in {
                eprintln!(
                    "built {} ({} bytes) with componentize-py in {:.1} s",
                    p.path.display(),
                    p.wasm.len(),
                    t.as_secs_f64()
                );
            }
            Some(p)
        }
        Err(why) => {
            cannot_run(case, &why);
            None
        }
    }
}

fn json(r: &Run) -> Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}{}", r.stdout, r.stderr))
}

/// A pack `ops` with two actions, a sensor and a rule, all enabled by the pack itself.
fn ops_pack(root: &Path) {
    let dir = root.join("packs/ops");
    write(&dir.join("pack.yaml"), &pack_yaml("ops", "1.0.0"));
    for a in ["restart_db", "status"] {
        write(
            &dir.join(format!("actions/{a}.yaml")),
            &format!("---\nname: {a}\nrunner_type: python-script\nentry_point: {a}.py\n"),
        );
    }
    write(
        &dir.join("sensors/watcher.yaml"),
        "---\nclass_name: watcher\nentry_point: watcher.py\ntrigger_types:\n  - name: watched\n",
    );
    write(
        &dir.join("rules/on_alert.yaml"),
        "---\nname: on_alert\nenabled: true\ntrigger:\n  type: core.st2.IntervalTimer\n\
         action:\n  ref: core.local\n",
    );
}

/// (type, ref, enabled, decided_by, reason) of every resource of `pack` a policy decides
/// on (actions, aliases, rules, sensors).
type Row = (String, String, Option<bool>, Option<String>, Option<String>);

fn rows(root: &Path, pack: &str) -> Vec<Row> {
    let conn = rusqlite::Connection::open(root.join("registry.db")).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT type, ref, enabled, decided_by, reason FROM resources WHERE pack = ?1 \
             AND type IN ('action', 'alias', 'rule', 'sensor') ORDER BY type, ref",
        )
        .unwrap();
    stmt.query_map([pack], |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get::<_, Option<i64>>(2)?.map(|e| e != 0),
            r.get(3)?,
            r.get(4)?,
        ))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

/// Safe outcome: exactly the resources the operator's patterns name are disabled in the
/// registry, with the policy named as the decider and its reason stored; the exception
/// and the unmatched resources keep the pack's own `enabled`; a bad pattern fails the
/// registration naming the plugin and leaves the previous registration as it was.
#[test]
fn python_policy_verdicts_reach_the_registry() {
    let case = "python_policy_verdicts_reach_the_registry";
    let Some(policy) = built(case, guests::example_python_policy) else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    ops_pack(&root);
    let r = add(
        &root,
        &policy,
        &[
            "--set",
            "disable=sensor:*,ops.restart_*,rule:on_*",
            "--set",
            "except=on_alert",
        ],
    );
    assert!(r.stdout.contains("python-policy"), "{}", r.stdout);

    let r = run(stackpack(&root).args(["--json", "register", "ops"]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let v = json(&r);
    assert_eq!(v["actions(overridden)"], 1, "{v}");
    assert_eq!(v["sensors(overridden)"], 1, "{v}");
    assert_eq!(v.get("rules(overridden)"), None, "{v}");

    let why = |r: &str, p: &str| Some(format!("{r} matches the disable pattern `{p}`"));
    let by = Some("python-policy".to_string());
    assert_eq!(
        rows(&root, "ops"),
        vec![
            (
                "action".into(),
                "ops.restart_db".into(),
                Some(false),
                by.clone(),
                why("ops.restart_db", "ops.restart_*")
            ),
            ("action".into(), "ops.status".into(), Some(true), None, None),
            ("rule".into(), "ops.on_alert".into(), Some(true), None, None),
            (
                "sensor".into(),
                "ops.watcher".into(),
                Some(false),
                by,
                why("ops.watcher", "sensor:*")
            ),
        ]
    );

    // `get` shows the same verdicts.
    let r = run(stackpack(&root).args(["--json", "get", "ops"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let g = json(&r);
    assert_eq!(g["registry"]["counts"]["actions"]["enabled"], 1, "{g}");
    assert_eq!(g["registry"]["counts"]["actions"]["disabled"], 1, "{g}");
    let decisions = g["registry"]["decisions"].as_array().unwrap();
    assert_eq!(decisions.len(), 2, "{g}");
    assert!(
        decisions.iter().all(|d| d["policy"] == "python-policy"),
        "{g}"
    );
    let r = run(stackpack(&root).args(["get", "ops"]));
    assert!(
        r.stdout
            .contains("sensor ops.watcher disabled by python-policy: ops.watcher matches the disable pattern `sensor:*`"),
        "{}",
        r.stdout
    );

    // A pattern with an unknown kind: the registration fails naming the plugin and the
    // entry, and the registry keeps what the last good run stored.
    let before = rows(&root, "ops");
    add(&root, &policy, &["--force", "--set", "disable=sensors:*"]);
    let r = run(stackpack(&root).args(["register", "ops"]));
    assert_ne!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let said = format!("{}{}", r.stdout, r.stderr);
    assert!(said.contains("python-policy"), "{said}");
    assert!(said.contains("`sensors:*`"), "{said}");
    assert_eq!(rows(&root, "ops"), before);
}

/// A repository `corp` serves as `<base>/webpack.git`: tags v1.0.0 and v2.0.0, then a
/// default branch at 3.0.0. Returns the base URL.
fn corp_git_server(dir: &Path) -> String {
    let work = pack_repo(&dir.join("work"), "webpack", "1.0.0", "", "main");
    git(&work, &["tag", "v1.0.0"]);
    commit_version(&work, "webpack", "2.0.0", "");
    git(&work, &["tag", "v2.0.0"]);
    commit_version(&work, "webpack", "3.0.0", "");
    let served = dir.join("srv");
    bare_clone(&work, &served, "webpack.git");
    git_http_server(&served)
}

/// Safe outcome: a `corp:` reference installs the repository the resolver names, at the
/// tag its `git ls-remote` found for a requested version; a version the repository lacks
/// installs nothing and the error lists the versions there are; the lockfile records
/// the resolver and the canonical `corp:<name>`.
#[test]
fn python_resolver_installs_packs_through_install() {
    let case = "python_resolver_installs_packs_through_install";
    let Some(resolver) = built(case, guests::example_python_resolver) else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let base = corp_git_server(d.path());
    let root = d.path().join("root");
    add(
        &root,
        &resolver,
        &[
            "--grant",
            &base,
            "--set",
            &format!("git-base={base}"),
            "--order",
            "10",
        ],
    );

    let r = run(stackpack(&root).args(["install", "--no-venv", "corp:webpack"]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        installed_version(&root, "webpack").as_deref(),
        Some("3.0.0")
    );
    let lock = std::fs::read_to_string(root.join("stackpack.lock")).unwrap();
    assert!(lock.contains("resolver = \"python-resolver\""), "{lock}");
    assert!(lock.contains("source = \"corp:webpack\""), "{lock}");

    let r = run(stackpack(&root).args(["install", "--no-venv", "--force", "corp:webpack=1.0.0"]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        installed_version(&root, "webpack").as_deref(),
        Some("1.0.0")
    );

    let r = run(stackpack(&root).args(["install", "--no-venv", "--force", "corp:webpack=9.9.9"]));
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let said = format!("{}{}", r.stdout, r.stderr);
    assert!(said.contains("its versions: 2.0.0, 1.0.0"), "{said}");
    assert_eq!(
        installed_version(&root, "webpack").as_deref(),
        Some("1.0.0")
    );
}

/// `stackpack plugin test` of the resolver with `testdata/refs.txt` and
/// `testdata/recorded.json`, as its README shows.
fn plugin_test(root: &Path, wasm: &Path, refs: &Path, recorded: &Path) -> Run {
    run(stackpack(root)
        .args(["--json", "plugin", "test"])
        .arg(wasm)
        .arg("--refs")
        .arg(refs)
        .arg("--recorded")
        .arg(recorded)
        .args(["--set", "git-base=https://git.corp.example/packs"]))
}

/// Safe outcome: with recorded answers only (no server), the README's `plugin test`
/// resolves the bare name to the default branch, the version to the tag the recorded
/// `git ls-remote` lists, and passes on a reference that is not `corp:`; a version the
/// recording lacks and a repository that was not recorded are failures (exit 1) that say
/// which.
#[test]
fn python_resolver_under_plugin_test_with_recorded_answers() {
    let case = "python_resolver_under_plugin_test_with_recorded_answers";
    let Some(resolver) = built(case, guests::example_python_resolver) else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    // Compile it once into the shared cache, as the other tests do.
    add(
        &root,
        &resolver,
        &["--set", "git-base=https://git.corp.example/packs"],
    );
    let testdata = example_dir("python-resolver/testdata");
    let recorded = testdata.join("recorded.json");

    let r = plugin_test(&root, &resolver.path, &testdata.join("refs.txt"), &recorded);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let v = json(&r);
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 3, "{v}");
    assert_eq!(results[0]["status"], "resolved", "{v}");
    assert_eq!(
        results[0]["resolution"]["url"],
        "https://git.corp.example/packs/sensu.git"
    );
    assert_eq!(results[0]["canonical"], "corp:sensu");
    assert_eq!(results[1]["status"], "resolved", "{v}");
    assert!(
        results[1]["message"].as_str().unwrap().contains("v1.2.0"),
        "the requested version is the recorded tag: {v}"
    );
    assert_eq!(results[2]["status"], "not-applicable", "{v}");
    assert_eq!(v["unrecorded"], serde_json::json!([]));
    assert_eq!(
        v["granted_hosts"],
        serde_json::json!(["https://git.corp.example"])
    );

    let refs = d.path().join("bad.txt");
    write(&refs, "corp:sensu=9.0.0\ncorp:other=1.0.0\n");
    let r = plugin_test(&root, &resolver.path, &refs, &recorded);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let v = json(&r);
    assert_eq!(v["results"][0]["refusal"], "not-found", "{v}");
    assert!(
        v["results"][0]["message"]
            .as_str()
            .unwrap()
            .contains("its versions: 1.2.0, 1.1.0"),
        "{v}"
    );
    assert_eq!(
        v["unrecorded"],
        serde_json::json!(["git ls-remote https://git.corp.example/packs/other.git"])
    );
}

/// Safe outcome: each example's own unit tests (`test_app.py`, run with python3 against
/// the bindings componentize-py generates, as the READMEs say) pass.
#[test]
fn python_examples_unit_tests_pass() {
    let Some(tool) = guests::componentize_py() else {
        cannot_run(
            "python_examples_unit_tests_pass",
            "componentize-py is not installed",
        );
        return;
    };
    for (dir, world) in [
        ("python-policy", "override-policy"),
        ("python-resolver", "source-resolver"),
    ] {
        let d = tempfile::tempdir().unwrap();
        let bindings = d.path().join("bindings");
        let out = Command::new(&tool)
            .arg("-d")
            .arg(guests::repo_root().join("wit"))
            .args(["-w", world, "bindings"])
            .arg(&bindings)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = Command::new("python3")
            .args(["-m", "unittest", "-v", "test_app"])
            .current_dir(example_dir(dir))
            .env("PYTHONPATH", &bindings)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{dir}: {said}");
        assert!(said.contains("OK"), "{dir}: {said}");
    }
}
