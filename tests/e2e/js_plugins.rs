//! An override policy written in JavaScript (examples/plugins/js-policy), built with the
//! pinned `jco componentize`, added with `plugin add` and run by a real `register`: its
//! verdicts reach the registry, and its thrown error fails the registration cleanly.
//! Without node and the toolchain (`.ci/run` installs it) these tests cannot run.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;

use crate::common::{cannot_run, pack_yaml, run, stackpack, write};

/// The built policy, or why it cannot be built here.
fn js_policy() -> Result<Arc<[u8]>, String> {
    stackpack_testkit::js::example(
        Path::new(env!("CARGO_TARGET_TMPDIR")),
        "js-policy",
        "override-policy",
    )
}

/// Held while a test adds the policy: the first `plugin add` compiles the component
/// (seconds, and the machine's cores) into the shared cache, the next ones find it there
/// instead of compiling it again side by side.
fn one_compile_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A pack with one action, one rule and two sensors.
fn pack(root: &Path, name: &str) {
    let dir = root.join("packs").join(name);
    write(&dir.join("pack.yaml"), &pack_yaml(name, "1.0.0"));
    write(
        &dir.join("actions/hello.yaml"),
        "---\nname: hello\nrunner_type: python-script\nentry_point: hello.py\n",
    );
    write(
        &dir.join("rules/every_minute.yaml"),
        "---\nname: every_minute\nenabled: true\ntrigger:\n  type: core.st2.IntervalTimer\n\
         action:\n  ref: core.local\n",
    );
    for class in ["Watcher", "Poller"] {
        write(
            &dir.join(format!("sensors/{class}.yaml")),
            &format!("---\nclass_name: {class}\nentry_point: {class}.py\n"),
        );
    }
}

/// Adds the policy to `root` with `settings` (`key=value`) as its config.
fn add(root: &Path, wasm: &[u8], settings: &[&str]) {
    let dir = root.join("incoming");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("js_policy.wasm");
    std::fs::write(&file, wasm).unwrap();
    let mut cmd = stackpack(root);
    cmd.args(["plugin", "add"])
        .arg(&file)
        .args(["--sha256", &stackpack_plugin::sha256_hex(wasm)]);
    for s in settings {
        cmd.args(["--set", s]);
    }
    let _compiling = one_compile_at_a_time();
    let r = run(&mut cmd);
    assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("added plugin js-policy: policy"),
        "{}",
        r.stdout
    );
}

fn get(root: &Path, pack: &str) -> Value {
    let r = run(stackpack(root).args(["--json", "get", pack]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    serde_json::from_str(&r.stdout).unwrap()
}

#[test]
fn js_policy_verdicts_reach_the_registry_through_register() {
    let wasm = match js_policy() {
        Ok(w) => w,
        Err(why) => return cannot_run("js_policy_verdicts_reach_the_registry", &why),
    };
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    pack(&root, "community");
    pack(&root, "trusted");
    add(
        &root,
        &wasm,
        &["disable-kinds=sensor, rule", "allow-packs=trusted"],
    );

    // What describe() answered, as the operator sees it.
    let r = run(stackpack(&root).args(["plugin", "inspect", "js-policy"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("override-policy")
            && r.stdout.contains(
                "Disables the resources of the configured kinds, except in allowed packs"
            ),
        "{}",
        r.stdout
    );

    let r = run(stackpack(&root).args(["--json", "register"]));
    assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);

    // The configured kinds are disabled by the JavaScript policy, with its reason...
    let community = &get(&root, "community")["registry"];
    assert_eq!(community["counts"]["sensors"]["enabled"], 0, "{community}");
    assert_eq!(community["counts"]["rules"]["enabled"], 0, "{community}");
    let decisions = community["decisions"].as_array().unwrap();
    assert_eq!(decisions.len(), 3, "{community}");
    for d in decisions {
        assert_eq!(d["policy"], "js-policy", "{d}");
        assert_eq!(d["enabled"], false, "{d}");
        let reason = d["reason"].as_str().unwrap();
        assert!(
            reason.contains("are disabled outside allow-packs") && reason.contains("unmanaged:"),
            "{d}"
        );
    }
    // ...the rest is kept: the pack's own value decides.
    assert_eq!(community["counts"]["actions"]["enabled"], 1, "{community}");

    // A pack the config allows is left entirely to the pack's own metadata.
    let trusted = &get(&root, "trusted")["registry"];
    assert_eq!(trusted["counts"]["sensors"]["enabled"], 2, "{trusted}");
    assert_eq!(trusted["counts"]["rules"]["enabled"], 1, "{trusted}");
    assert!(
        trusted["decisions"]
            .as_array()
            .is_none_or(|d| d.iter().all(|d| d["policy"] != "js-policy")),
        "{trusted}"
    );
}

#[test]
fn a_js_policy_that_throws_fails_register_and_keeps_the_previous_registration() {
    let wasm = match js_policy() {
        Ok(w) => w,
        Err(why) => return cannot_run("a_js_policy_that_throws_fails_register", &why),
    };
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    pack(&root, "community");
    let r = run(stackpack(&root).args(["register"]));
    assert_eq!(r.code, 0, "{}", r.stderr);

    // A kind the policy does not know: it throws rather than guess.
    add(&root, &wasm, &["disable-kinds=sensor,sensorz"]);
    std::fs::remove_file(root.join("packs/community/actions/hello.yaml")).unwrap();
    let r = run(stackpack(&root).args(["register"]));
    assert_eq!(r.code, 1, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("\"js-policy\" failed on pack \"community\"")
            && r.stderr
                .contains("unknown resource kind(s) in disable-kinds: sensorz")
            && r.stderr.contains("previous registration is kept"),
        "{}",
        r.stderr
    );
    // The registry still holds the previous registration: the removed action, the
    // sensors enabled.
    let registry = &get(&root, "community")["registry"];
    assert_eq!(registry["counts"]["actions"]["total"], 1, "{registry}");
    assert_eq!(registry["counts"]["sensors"]["enabled"], 2, "{registry}");
}
