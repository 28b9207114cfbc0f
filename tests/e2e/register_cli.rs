//! `stackpack register`, `get` and registration during `install`/`remove`, through the
//! real binary, a real SQLite registry and the built-in default override policy
//! (a wasm component). The override scenarios are the three of StackStorm's
//! "Overriding Pack Defaults" documentation, with their files verbatim.

use std::path::Path;

use crate::common::{example_wasm, hostile_policy_wasm, pack_yaml, run, stackpack, write};
use serde_json::{Value, json};

fn action(name: &str) -> String {
    format!("---\nname: {name}\nrunner_type: python-script\nentry_point: {name}.py\n")
}

fn sensor(class: &str) -> String {
    format!(
        "---\nclass_name: {class}\nentry_point: {class}.py\ntrigger_types:\n  - name: {class}_event\n"
    )
}

fn rule(name: &str, enabled: bool) -> String {
    format!(
        "---\nname: {name}\nenabled: {enabled}\ntrigger:\n  type: core.st2.IntervalTimer\naction:\n  ref: core.local\n"
    )
}

/// A pack with `actions` actions, two sensors (each declaring a trigger type) and
/// `rules` enabled rules.
fn pack(root: &Path, name: &str, actions: &[&str], rules: &[&str]) {
    let dir = root.join("packs").join(name);
    write(&dir.join("pack.yaml"), &pack_yaml(name, "1.0.0"));
    for a in actions {
        write(&dir.join(format!("actions/{a}.yaml")), &action(a));
    }
    for s in ["sensor1", "sensor2"] {
        write(&dir.join(format!("sensors/{s}.yaml")), &sensor(s));
    }
    for r in rules {
        write(&dir.join(format!("rules/{r}.yaml")), &rule(r, true));
    }
}

fn register(root: &Path, args: &[&str]) -> Value {
    let r = run(stackpack(root).args(["--json", "register"]).args(args));
    assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    serde_json::from_str(&r.stdout).unwrap()
}

/// The st2 count keys of a register report.
fn counts(v: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for (k, n) in v.as_object().unwrap() {
        if n.is_number() {
            out.insert(k.clone(), n.clone());
        }
    }
    Value::Object(out)
}

fn get(root: &Path, pack: &str) -> Value {
    let r = run(stackpack(root).args(["--json", "get", pack]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    serde_json::from_str(&r.stdout).unwrap()
}

#[test]
fn seed_example_1_disable_all_sensors_of_one_pack() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    pack(root, "aws", &["ec2_start"], &[]);
    pack(root, "slack", &["post"], &[]);
    write(
        &root.join("overrides/aws.yaml"),
        "---\nsensors:\n  defaults:\n    enabled: false\n",
    );
    let v = register(root, &[]);
    assert_eq!(
        counts(&v),
        // st2's `triggers` counts triggers/ only; the sensors' trigger types apart.
        json!({"triggers": 0, "sensor_triggers": 4, "sensors": 4, "sensors(overridden)": 2,
               "actions": 2, "rules": 0, "aliases": 0, "policies": 0, "configs": 0})
    );
    let aws = get(root, "aws");
    assert_eq!(aws["registry"]["counts"]["sensors"]["disabled"], 2);
    let decision = &aws["registry"]["decisions"][0];
    assert_eq!(decision["policy"], "default");
    assert_eq!(
        decision["reason"],
        "overrides/aws.yaml: sensors.defaults.enabled=false"
    );
    let slack = get(root, "slack");
    assert_eq!(slack["registry"]["counts"]["sensors"]["enabled"], 2);
    assert_eq!(slack["registry"]["decisions"], json!([]));
}

#[test]
fn seed_example_2_all_sensors_disabled_but_one_packs() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    pack(root, "aws", &[], &[]);
    pack(root, "slack", &[], &[]);
    pack(root, "jira", &[], &[]);
    write(
        &root.join("overrides/_global.yaml"),
        "---\nsensors:\n  defaults:\n    enabled: false\n",
    );
    write(
        &root.join("overrides/slack.yaml"),
        "---\nsensors:\n  defaults:\n    enabled: true\n",
    );
    let v = register(root, &[]);
    // aws and jira: 2 sensors each disabled (overridden); slack's stay enabled, which
    // is what the pack says, so they are not counted as overridden.
    assert_eq!(v["sensors"], 6);
    assert_eq!(v["sensors(overridden)"], 4);
    assert_eq!(
        get(root, "jira")["registry"]["counts"]["sensors"]["disabled"],
        2
    );
    let slack = get(root, "slack");
    assert_eq!(slack["registry"]["counts"]["sensors"]["enabled"], 2);
    assert_eq!(
        slack["registry"]["decisions"][0]["reason"],
        "overrides/slack.yaml: sensors.defaults.enabled=true"
    );
    // Human output of `get` shows the verdicts too.
    let r = run(stackpack(root).args(["get", "aws"]));
    assert!(
        r.stdout
            .contains("sensor aws.sensor1 disabled by default: overrides/_global.yaml"),
        "{}",
        r.stdout
    );
}

#[test]
fn seed_example_3_actions_disabled_except_two_and_one_rule() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    pack(
        root,
        "mypack",
        &["action1", "action2", "action3", "action4"],
        &["rule1", "rule2"],
    );
    write(
        &root.join("overrides/mypack.yaml"),
        "---\nactions:\n  defaults:\n    enabled: false\n  exceptions:\n    action1:\n      enabled: true\n    action2:\n      enabled: true\nrules:\n  exceptions:\n    rule1:\n      enabled: false\n",
    );
    let v = register(root, &["mypack"]);
    assert_eq!(
        counts(&v),
        json!({"triggers": 0, "sensor_triggers": 2, "sensors": 2, "actions": 4,
               "actions(overridden)": 2,
               "rules": 2, "rules(overridden)": 1, "aliases": 0, "policies": 0, "configs": 0})
    );
    let g = get(root, "mypack");
    let c = &g["registry"]["counts"];
    assert_eq!(c["actions"]["enabled"], 2);
    assert_eq!(c["actions"]["disabled"], 2);
    assert_eq!(c["rules"]["enabled"], 1);
    assert_eq!(c["rules"]["disabled"], 1);
}

#[test]
fn rule_counting_compares_effective_values() {
    // st2 assumed a rule without `enabled` was enabled: disabling it counted as
    // an override although nothing changed, enabling it did not count although it did.
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    let dir = root.join("packs/p");
    write(&dir.join("pack.yaml"), &pack_yaml("p", "1.0.0"));
    let silent =
        "---\nname: NAME\ntrigger:\n  type: core.st2.IntervalTimer\naction:\n  ref: core.local\n";
    write(
        &dir.join("rules/quiet.yaml"),
        &silent.replace("NAME", "quiet"),
    );
    write(
        &dir.join("rules/loud.yaml"),
        &silent.replace("NAME", "loud"),
    );
    write(
        &root.join("overrides/p.yaml"),
        "rules:\n  exceptions:\n    quiet:\n      enabled: false\n    loud:\n      enabled: true\n",
    );
    let v = register(root, &[]);
    assert_eq!(v["rules"], 2);
    assert_eq!(v["rules(overridden)"], 1, "{v}");
    // An empty override file is a no-op (st2 crashed with a TypeError).
    write(&root.join("overrides/p.yaml"), "");
    let v = register(root, &[]);
    assert_eq!(v.get("rules(overridden)"), None, "{v}");
}

#[test]
fn all_content_types_stale_removal_and_broken_files() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    let dir = root.join("packs/full");
    write(&dir.join("pack.yaml"), &pack_yaml("full", "1.0.0"));
    write(&dir.join("actions/a1.yaml"), &action("a1"));
    write(&dir.join("actions/a2.yml"), &action("a2"));
    write(&dir.join("actions/README.md"), "not metadata");
    write(&dir.join("actions/workflows/wf.yaml"), "version: 1.0\n");
    write(&dir.join("sensors/s.yaml"), &sensor("s"));
    write(
        &dir.join("triggers/t.yaml"),
        "name: t\npayload_schema:\n  type: object\n",
    );
    write(&dir.join("rules/r.yaml"), &rule("r", true));
    write(
        &dir.join("aliases/al.yaml"),
        "name: al\naction_ref: full.a1\nformats:\n  - run a1\n",
    );
    write(
        &dir.join("policies/pol.yaml"),
        "name: pol\nresource_ref: full.a1\npolicy_type: action.concurrency\nparameters:\n  threshold: 1\n",
    );
    let v = register(root, &[]);
    assert_eq!(
        counts(&v),
        json!({"triggers": 1, "sensor_triggers": 1, "sensors": 1, "actions": 2, "rules": 1,
               "aliases": 1, "policies": 1, "configs": 0})
    );

    // a2 deleted, a1 broken: a2 is removed from the registry; the broken file is
    // reported with its path and skipped while everything else registers.
    std::fs::remove_file(dir.join("actions/a2.yml")).unwrap();
    write(
        &dir.join("actions/a1.yaml"),
        "name: a1\nrunner_type: [oops\n",
    );
    let r = run(stackpack(root).args(["--json", "register", "full"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("full: skipped actions/a1.yaml: not valid YAML"),
        "{}",
        r.stderr
    );
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["actions"], 0);
    assert_eq!(v["aliases"], 1);
    let removed = &v["packs"][0]["removed"];
    assert!(
        removed
            .as_array()
            .unwrap()
            .contains(&json!({"type": "action", "ref": "full.a2"})),
        "{removed}"
    );
    assert_eq!(v["packs"][0]["problems"][0]["file"], "actions/a1.yaml");
    assert_eq!(get(root, "full")["registry"]["counts"].get("actions"), None);

    // --fail-on-failure: the pack is refused, exit 1, the registration stays as it was.
    write(&dir.join("actions/a1.yaml"), &action("a1"));
    write(&dir.join("actions/bad.yaml"), "name: bad\n");
    let r = run(stackpack(root).args(["register", "--fail-on-failure"]));
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stderr
            .contains("actions/bad.yaml: required field \"runner_type\" is missing"),
        "{}",
        r.stderr
    );
    assert_eq!(get(root, "full")["registry"]["counts"].get("actions"), None);
}

#[test]
fn broken_override_file_names_file_and_key_and_changes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    pack(root, "aws", &["a"], &[]);
    register(root, &[]);
    let db_before = std::fs::read(root.join("registry.db")).unwrap();
    write(
        &root.join("overrides/_global.yaml"),
        "sensors:\n  defaults:\n    enabled: maybe\n",
    );
    let r = run(stackpack(root).args(["register"]));
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("overrides/_global.yaml: sensors.defaults.enabled must be true or false")
            && r.stderr.contains("previous registration is kept")
            && r.stderr
                .contains("fix the file. The pack's previous registration is kept"),
        "{}",
        r.stderr
    );
    assert_eq!(
        get(root, "aws")["registry"]["counts"]["sensors"]["enabled"],
        2
    );
    // A key other than `enabled` (st2: ValueError) is refused the same way.
    write(
        &root.join("overrides/aws.yaml"),
        "actions:\n  defaults:\n    enabled: false\n    rubbish: false\n",
    );
    std::fs::remove_file(root.join("overrides/_global.yaml")).unwrap();
    let r = run(stackpack(root).args(["register"]));
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains(
            "overrides/aws.yaml: actions.defaults.rubbish cannot be overridden, only `enabled` can"
        ),
        "{}",
        r.stderr
    );
    // Nothing was written (the WAL holds no new frames either: compare the row data).
    assert_eq!(db_before, std::fs::read(root.join("registry.db")).unwrap());
}

#[test]
fn install_registers_and_remove_unregisters() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let src = d.path().join("src/demo");
    write(&src.join("pack.yaml"), &pack_yaml("demo", "1.0.0"));
    write(&src.join("actions/hello.yaml"), &action("hello"));
    write(
        &root.join("overrides/demo.yaml"),
        "actions:\n  exceptions:\n    hello:\n      enabled: false\n",
    );
    let url = format!("file://{}", src.display());
    let r = run(stackpack(&root).args(["install", "--no-venv", &url]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("registered demo: 1 action (1 overridden)"),
        "{}",
        r.stdout
    );
    assert_eq!(
        get(&root, "demo")["registry"]["counts"]["actions"]["disabled"],
        1
    );

    // --no-register leaves the registry alone; the report says nothing of it.
    write(&src.join("actions/bye.yaml"), &action("bye"));
    let r = run(stackpack(&root).args(["--json", "install", "--no-venv", "--no-register", &url]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(v.get("registered").is_none(), "{v}");
    assert_eq!(
        get(&root, "demo")["registry"]["counts"]["actions"]["total"],
        1
    );

    let r = run(stackpack(&root).args(["remove", "demo"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let conn = rusqlite::Connection::open(root.join("registry.db")).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM resources", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0);
}

#[test]
fn register_on_an_empty_root_writes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("mistyped");
    // Without the shared cache too: the plugin cache would default into the root.
    let r = run(stackpack(&root)
        .env_remove("STACKPACK_CACHE_DIR")
        .args(["register"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("nothing to register"), "{}", r.stderr);
    assert!(!root.exists(), "created {}", root.display());
}

#[test]
fn register_all_unregisters_packs_gone_from_disk_and_loads_configs() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    pack(root, "keep", &["a"], &[]);
    pack(root, "gone", &["a"], &[]);
    write(
        &root.join("packs/keep/config.schema.yaml"),
        "region:\n  type: string\n  required: true\n",
    );
    write(&root.join("configs/keep.yaml"), "region: eu-west-1\n");
    let v = register(root, &["--configs"]);
    assert_eq!(v["configs"], 1);
    assert_eq!(get(root, "keep")["registry"]["has_config"], true);
    std::fs::remove_dir_all(root.join("packs/gone")).unwrap();
    let v = register(root, &[]);
    assert_eq!(v["unregistered"], json!(["gone"]));
    // An invalid config is reported and not loaded.
    write(&root.join("configs/keep.yaml"), "region: 42\n");
    let r = run(stackpack(root).args(["--json", "register", "--configs"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("configs/keep.yaml"), "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["configs"], 0);
}

#[test]
fn get_of_an_unregistered_pack_says_so_and_creates_nothing() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    pack(root, "p", &["a"], &[]);
    let r = run(stackpack(root).args(["get", "p"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("no (run `stackpack register`)"),
        "{}",
        r.stdout
    );
    assert!(!root.join("registry.db").exists());
    assert_eq!(get(root, "p")["registry"], Value::Null);
}

/// A config declaring one extra override policy (pinned), written next to the root.
fn policy_config(dir: &Path, name: &str, wasm: &[u8], config: &str) -> std::path::PathBuf {
    let file = dir.join(format!("{name}.wasm"));
    std::fs::write(&file, wasm).unwrap();
    let path = dir.join("stackpack.toml");
    write(
        &path,
        &format!(
            "[plugins.{name}]\nkind = \"policy\"\npath = \"{}\"\nsha256 = \"{}\"\nconfig = {{ {config} }}\n",
            file.display(),
            stackpack_plugin::sha256_hex(wasm)
        ),
    );
    path
}

#[test]
fn example_corp_policy_runs_before_the_default_policy() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    pack(&root, "community", &["a"], &[]);
    let config = policy_config(
        d.path(),
        "corp-policy",
        &example_wasm("corp-policy"),
        r#"trusted-source-prefix = "git:gitlab.corp.example/""#,
    );
    // The pack's own override file enables its sensors; the corp policy comes first in
    // the chain, so its verdict wins.
    write(
        &root.join("overrides/community.yaml"),
        "sensors:\n  defaults:\n    enabled: true\n",
    );
    let r = run(stackpack(&root)
        .arg("--config")
        .arg(&config)
        .args(["--json", "register"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["sensors(overridden)"], 2, "{v}");
    let g = get(&root, "community");
    let d0 = &g["registry"]["decisions"][0];
    assert_eq!(d0["policy"], "corp-policy");
    assert!(
        d0["reason"].as_str().unwrap().contains("unmanaged:"),
        "{d0}"
    );
    // Actions are left to the next policies (kept): still enabled.
    assert_eq!(g["registry"]["counts"]["actions"]["enabled"], 1);
}

#[test]
fn a_trapping_policy_is_named_and_leaves_the_registry_as_it_was() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    pack(&root, "p", &["a"], &[]);
    register(&root, &[]);
    let config = policy_config(
        d.path(),
        "hostile",
        &hostile_policy_wasm(),
        r#"mode = "trap""#,
    );
    std::fs::remove_file(root.join("packs/p/actions/a.yaml")).unwrap();
    let r = run(stackpack(&root)
        .arg("--config")
        .arg(&config)
        .args(["register"]));
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stderr.contains("plugin hostile crashed in `decide`")
            && r.stderr.contains("hostile policy trapped on pack p")
            && r.stderr.contains("previous registration is kept"),
        "{}",
        r.stderr
    );
    assert_eq!(get(&root, "p")["registry"]["counts"]["actions"]["total"], 1);
}

#[test]
fn policies_see_the_configured_environment_and_the_packs_source() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    pack(&root, "p", &[], &[]);
    let config = policy_config(
        d.path(),
        "strict",
        &hostile_policy_wasm(),
        r#"mode = "disable-sensors""#,
    );
    let text = std::fs::read_to_string(&config).unwrap();
    write(&config, &format!("environment = \"prod\"\n{text}"));
    let r = run(stackpack(&root)
        .arg("--config")
        .arg(&config)
        .args(["--json", "register"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let g = get(&root, "p");
    let reason = g["registry"]["decisions"][0]["reason"].as_str().unwrap();
    assert_eq!(
        reason,
        format!(
            "hostile-policy: no sensors from unmanaged:{} in prod",
            root.join("packs/p").display()
        )
    );
}

/// A reader that closes stdout early (`stackpack register | head -1`) ends the command
/// quietly: no panic, exit 0, and the registration itself is complete.
#[test]
fn a_closed_stdout_is_not_a_crash() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    for i in 0..40 {
        pack(root, &format!("pack{i}"), &["a1", "a2"], &["r1"]);
    }
    for args in [&["register"][..], &["list"][..], &["get", "pack1"][..]] {
        let mut child = stackpack(root)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Closed before the command writes anything.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    }
    assert_eq!(
        get(root, "pack39")["registry"]["counts"]["actions"]["total"],
        2
    );
}
