//! Registration refuses what StackStorm's registrars refuse, through the real binary
//! and a real SQLite registry. Each test writes fixture packs in the shapes of st2's
//! own (`st2tests/fixtures/packs`: a pack per rule) and checks the expectation of the
//! st2 unit test it ports (test_actions_registrar.py, test_policies_registrar.py,
//! test_triggers_registrar.py, test_sensor_and_rule_registration.py, st2api's
//! test_packs.py). docs/st2-parity.md maps each rule to its test here.

use std::path::Path;

use serde_json::{Value, json};
use stackpack_testkit::st2::{Accept, St2Api};

use crate::common::{pack_yaml, run, stackpack, write};

fn pack(root: &Path, name: &str) -> std::path::PathBuf {
    let dir = root.join("packs").join(name);
    write(&dir.join("pack.yaml"), &pack_yaml(name, "0.1.0"));
    dir
}

fn register(root: &Path, args: &[&str]) -> (i32, Value, String) {
    let r = run(stackpack(root).args(["--json", "register"]).args(args));
    let v = serde_json::from_str(&r.stdout).unwrap_or(Value::Null);
    (r.code, v, r.stderr)
}

/// The problems of one pack in a register report, as `file → message`.
fn problems(v: &Value, pack: &str) -> Vec<(String, String)> {
    v["packs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["pack"] == pack)
        .flat_map(|p| p["problems"].as_array().unwrap().clone())
        .map(|p| {
            (
                p["file"].as_str().unwrap().to_string(),
                p["message"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn problem<'a>(found: &'a [(String, String)], file: &str) -> &'a str {
    found
        .iter()
        .find(|(f, _)| f == file)
        .map(|(_, m)| m.as_str())
        .unwrap_or_else(|| panic!("no problem reported for {file}: {found:?}"))
}

/// The stored rows of one type: ref → metadata.
fn stored(root: &Path, kind: &str) -> Vec<(String, Value)> {
    let db = rusqlite::Connection::open(root.join("registry.db")).unwrap();
    let mut stmt = db
        .prepare("SELECT ref, metadata FROM resources WHERE type = ?1 ORDER BY ref")
        .unwrap();
    stmt.query_map([kind], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
    })
    .unwrap()
    .map(|r| {
        let (k, m) = r.unwrap();
        (k, serde_json::from_str(&m).unwrap())
    })
    .collect()
}

fn refs(root: &Path, kind: &str) -> Vec<String> {
    stored(root, kind).into_iter().map(|(r, _)| r).collect()
}

/// The action-parameter fixtures: one valid action and one action per rule st2 checks.
fn action_params_pack(root: &Path) {
    let dir = pack(root, "dummy_pack_15");
    let act = |name: &str, params: &str| {
        format!(
            "name: {name}\nrunner_type: python-script\nentry_point: x.py\nparameters:\n{params}"
        )
    };
    write(
        &dir.join("actions/good.yaml"),
        &act(
            "good",
            "  p:\n    type: string\n    required: true\n    secret: true\n    position: 0\n  \
             q:\n    type: object\n    properties:\n      host: {type: [string, 'null'], format: hostname}\n",
        ),
    );
    write(
        &dir.join("actions/action_invalid_parameter_type.yaml"),
        &act("stringa", "  p: {type: stringa}\n"),
    );
    write(
        &dir.join("actions/list_type.yaml"),
        &act("list_type", "  p: {type: list}\n"),
    );
    write(
        &dir.join("actions/requried.yaml"),
        &act("requried", "  p: {type: string, requried: true}\n"),
    );
    write(
        &dir.join("actions/defualt.yaml"),
        &act("defualt", "  p: {type: string, defualt: x}\n"),
    );
    write(
        &dir.join("actions/bad_name.yaml"),
        &act("bad_name", "  bad-name: {type: string}\n"),
    );
    write(
        &dir.join("actions/same_position.yaml"),
        &act(
            "same_position",
            "  a: {type: string, position: 0}\n  b: {type: string, position: 0}\n",
        ),
    );
    write(
        &dir.join("actions/unknown_runner.yaml"),
        "name: unknown_runner\nrunner_type: my-runner\n",
    );
    write(
        &dir.join("actions/top_level_typo.yaml"),
        "name: top_level_typo\nrunner_type: local-shell-cmd\ndesciption: x\n",
    );
}

#[test]
fn action_parameters_follow_st2s_meta_schema() {
    // Safe outcome: every action st2 would refuse is skipped with its file and reason,
    // the valid one is registered, and the run goes on (exit 0).
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    action_params_pack(root);
    let (code, v, err) = register(root, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["actions"], 1, "{v}");
    assert_eq!(refs(root, "action"), ["dummy_pack_15.good"]);
    let found = problems(&v, "dummy_pack_15");
    assert_eq!(found.len(), 8, "{found:?}");
    let m = problem(&found, "actions/action_invalid_parameter_type.yaml");
    assert!(
        m.contains(
            "'stringa' is not one of ['array', 'boolean', 'integer', 'null', 'number', 'object', 'string']"
        ),
        "{m}"
    );
    let m = problem(&found, "actions/list_type.yaml");
    assert!(m.contains("'list' is not one of ['array'"), "{m}");
    let m = problem(&found, "actions/requried.yaml");
    assert!(
        m.contains("\"requried\" is not allowed (did you mean \"required\"?)"),
        "{m}"
    );
    let m = problem(&found, "actions/defualt.yaml");
    assert!(
        m.contains("\"defualt\" is not allowed (did you mean \"default\"?)"),
        "{m}"
    );
    let m = problem(&found, "actions/bad_name.yaml");
    assert!(m.contains("Parameter name \"bad-name\" is invalid"), "{m}");
    let m = problem(&found, "actions/same_position.yaml");
    assert!(m.contains("have same position 0"), "{m}");
    let m = problem(&found, "actions/unknown_runner.yaml");
    assert!(
        m.contains("RunnerType my-runner is not found") && m.contains("extra_runners"),
        "{m}"
    );
    let m = problem(&found, "actions/top_level_typo.yaml");
    assert!(
        m.contains("\"desciption\" (did you mean \"description\"?)"),
        "{m}"
    );
    // The table names each skipped file too.
    let r = run(stackpack(root).args(["register"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("skipped actions/requried.yaml: parameter \"p\""),
        "{}",
        r.stderr
    );
}

#[test]
fn fail_on_failure_refuses_and_writes_nothing() {
    // Safe outcome: with --fail-on-failure an invalid action refuses the run (exit 1)
    // and the previous registration stays exactly as it was.
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    let dir = pack(root, "p");
    write(
        &dir.join("actions/a.yaml"),
        "name: a\nrunner_type: local-shell-cmd\n",
    );
    let (code, _, err) = register(root, &[]);
    assert_eq!(code, 0, "{err}");
    write(
        &dir.join("actions/b.yaml"),
        "name: b\nrunner_type: local-shell-cmd\nparameters:\n  x: {type: string, requried: true}\n",
    );
    write(
        &dir.join("actions/a.yaml"),
        "name: a\nrunner_type: local-shell-cmd\ndescription: changed\n",
    );
    let r = run(stackpack(root).args(["register", "--fail-on-failure"]));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("actions/b.yaml") && r.stderr.contains("\"requried\""),
        "{}",
        r.stderr
    );
    let rows = stored(root, "action");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].1.get("description"), None, "{:?}", rows[0]);
}

#[test]
fn custom_runners_come_from_settings() {
    // Safe outcome: an action on a runner st2 does not ship is refused until the site
    // names that runner in [registry] extra_runners.
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    let dir = pack(root, "p");
    write(
        &dir.join("actions/a.yaml"),
        "name: a\nrunner_type: my-runner\n",
    );
    let (_, v, _) = register(root, &[]);
    assert_eq!(v["actions"], 0, "{v}");
    write(
        &root.join("stackpack.toml"),
        "[registry]\nextra_runners = [\"my-runner\"]\n",
    );
    let (code, v, err) = register(root, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["actions"], 1, "{v}");
    assert_eq!(problems(&v, "p"), []);
}

/// dummy_pack_1's and dummy_pack_2's policies, as st2's fixtures have them.
fn policy_packs(root: &Path) {
    let one = pack(root, "dummy_pack_1");
    write(
        &one.join("actions/local.yaml"),
        "name: local\nrunner_type: local-shell-cmd\n",
    );
    write(
        &one.join("policies/policy_1.yaml"),
        "name: test_policy_1\ndescription: test policy 1\nenabled: true\nresource_ref: dummy_pack_1.local\npolicy_type: action.concurrency\nparameters:\n  threshold: 3\n",
    );
    write(
        &one.join("policies/policy_2.yaml"),
        "name: test_policy_2\ndescription: test policy 2\nenabled: true\nresource_ref: dummy_pack_1.local\npolicy_type: action.mock_policy_error\nparameters:\n  foo: bar\n",
    );
    write(
        &one.join("policies/policy_3.yaml"),
        "name: test_policy_3\ndescription: test policy 3\nenabled: true\nresource_ref: dummy_pack_1.local\npolicy_type: action.retry\nparameters:\n  retry_on: timeout\n  max_retry_count: 5\n",
    );
    let two = pack(root, "dummy_pack_2");
    write(
        &two.join("policies/policy_3.yaml"),
        "name: test_policy_3\ndescription: test policy 3\nenabled: true\nresource_ref: dummy_pack_2.local\npolicy_type: action.retry\nparameters:\n  retry_on: timeout\n  max_retry_count: 100\n",
    );
    write(
        &two.join("policies/typo.yaml"),
        "name: typo\nresource_ref: dummy_pack_2.local\npolicy_type: action.concurrency\nparameters:\n  threshold: 1\n  actoin: cancel\n",
    );
    write(
        &two.join("policies/missing.yaml"),
        "name: missing\nresource_ref: dummy_pack_2.local\npolicy_type: action.retry\nparameters:\n  max_retry_count: 2\n",
    );
}

#[test]
fn policies_are_validated_against_their_type_and_stored_with_its_defaults() {
    // Safe outcome: policies st2 refuses are skipped with st2's reason; the others are
    // stored with the type's defaults filled in, as st2 stores them.
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    policy_packs(root);
    let (code, v, err) = register(root, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["policies"], 2, "{v}");
    let rows: Vec<(String, Value)> = stored(root, "policy");
    let params: Vec<(&str, &Value)> = rows
        .iter()
        .map(|(r, m)| (r.as_str(), &m["parameters"]))
        .collect();
    assert_eq!(
        params,
        [
            (
                "dummy_pack_1.test_policy_1",
                &json!({"action": "delay", "threshold": 3})
            ),
            (
                "dummy_pack_1.test_policy_3",
                &json!({"retry_on": "timeout", "max_retry_count": 5})
            ),
        ]
    );
    let one = problems(&v, "dummy_pack_1");
    assert!(
        problem(&one, "policies/policy_2.yaml")
            .contains("Referenced policy_type \"action.mock_policy_error\" doesnt exist"),
        "{one:?}"
    );
    let two = problems(&v, "dummy_pack_2");
    assert!(
        problem(&two, "policies/policy_3.yaml").contains("100 is greater than the maximum of 5"),
        "{two:?}"
    );
    let m = problem(&two, "policies/typo.yaml");
    assert!(
        m.contains("'actoin' was unexpected") && m.contains("did you mean \"action\"?"),
        "{m}"
    );
    assert!(
        problem(&two, "policies/missing.yaml").contains("'retry_on' is a required property"),
        "{two:?}"
    );
}

#[test]
fn python_tags_are_refused_in_every_metadata_file() {
    // Safe outcome: a file using a tag outside YAML's core schema is refused whole,
    // naming the tag; nothing of it is stored, with or without the tag's data.
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    let dir = pack(root, "tags");
    let tag = "!!python/name:os.system";
    let apply = "!!python/object/apply:os.system [\"id\"]";
    let files = [
        (
            "actions/a.yaml",
            format!("name: a\nrunner_type: local-shell-cmd\ndescription: {tag}\n"),
        ),
        (
            "rules/r.yaml",
            format!(
                "name: r\ntrigger: {{type: core.st2.IntervalTimer}}\naction: {{ref: core.local}}\ncriteria: {apply}\n"
            ),
        ),
        (
            "sensors/s.yaml",
            format!("class_name: S\nentry_point: s.py\npoll_interval: {apply}\n"),
        ),
        (
            "aliases/al.yaml",
            format!("name: al\naction_ref: tags.a\nformats: [{tag}]\n"),
        ),
        (
            "policies/p.yaml",
            format!(
                "name: p\nresource_ref: tags.a\npolicy_type: action.concurrency\nparameters: {{threshold: {tag} }}\n"
            ),
        ),
        ("triggers/t.yaml", format!("name: t\ndescription: {tag}\n")),
    ];
    for (f, text) in &files {
        write(&dir.join(f), text);
    }
    write(&dir.join("config.schema.yaml"), "key: {type: string}\n");
    write(&root.join("configs/tags.yaml"), &format!("key: {tag}\n"));
    let (code, v, err) = register(root, &["--configs"]);
    assert_eq!(code, 0, "{err}");
    let found = problems(&v, "tags");
    for (f, _) in &files {
        let m = problem(&found, f);
        assert!(m.contains("!!python/"), "{f}: {m}");
    }
    assert!(
        problem(&found, "configs/tags.yaml").contains(tag),
        "{found:?}"
    );
    for kind in ["action", "rule", "sensor", "alias", "policy", "trigger"] {
        assert_eq!(refs(root, kind), Vec::<String>::new(), "{kind}");
    }
    assert_eq!(v["configs"], 0);
    let (code, _, err) = register(root, &["--fail-on-failure"]);
    assert_eq!(code, 1, "{err}");
}

/// pack_with_sensor's shape: two sensors each declaring a trigger type, plus
/// dummy_pack_1's triggers/ (two trigger files, one also declared by a sensor).
fn trigger_pack(root: &Path) {
    let dir = pack(root, "pack_with_sensor");
    write(
        &dir.join("sensors/test_sensor_1.yaml"),
        "class_name: TestSensor\nentry_point: test_sensor_1.py\npoll_interval: 10\ntrigger_types:\n  - name: trigger_type_1\n    payload_schema: {type: object}\n  - name: head_sha_monitor\n",
    );
    write(
        &dir.join("sensors/test_sensor_2.yaml"),
        "class_name: TestSensorDisabled\nenabled: false\nentry_point: test_sensor_2.py\ntrigger_types:\n  - name: trigger_type_2\n    tags:\n      - name: tag1name\n        value: tag1 value\n",
    );
    write(
        &dir.join("triggers/event_handler.yaml"),
        "name: event_handler\npayload_schema: {type: object}\n",
    );
    write(
        &dir.join("triggers/head_sha_monitor.yaml"),
        "name: head_sha_monitor\npayload_schema: {type: object}\n",
    );
}

#[test]
fn trigger_counts_are_st2s_and_sensor_triggers_are_reported_apart() {
    // Safe outcome: `triggers` is what st2's trigger registrar counts (the files of
    // triggers/), and the trigger types sensors declare are registered and reported as
    // `sensor_triggers`, in --json and in the table.
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    trigger_pack(root);
    let (code, v, err) = register(root, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        (&v["triggers"], &v["sensor_triggers"], &v["sensors"]),
        (&json!(2), &json!(2), &json!(2)),
        "{v}"
    );
    assert_eq!(
        refs(root, "trigger"),
        [
            "pack_with_sensor.event_handler",
            "pack_with_sensor.head_sha_monitor",
            "pack_with_sensor.trigger_type_1",
            "pack_with_sensor.trigger_type_2"
        ]
    );
    // Re-registering is idempotent.
    let (_, again, _) = register(root, &[]);
    assert_eq!(
        (&again["triggers"], &again["sensor_triggers"]),
        (&json!(2), &json!(2))
    );
    let r = run(stackpack(root).args(["register"]));
    assert!(
        r.stdout
            .contains("2 triggers, 2 trigger types declared by sensors, 2 sensors"),
        "{}",
        r.stdout
    );
    let r = run(stackpack(root).args(["get", "pack_with_sensor"]));
    assert!(
        r.stdout.contains("2 triggers") && r.stdout.contains("2 trigger types declared by sensors"),
        "{}",
        r.stdout
    );
}

#[test]
fn register_types_registers_only_the_named_kinds() {
    // Safe outcome: `--types action` replaces the actions and leaves every other kind
    // in the registry as it was (as st2's `--types` does); an unknown type is a usage
    // error naming the types st2 accepts.
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    trigger_pack(root);
    let dir = root.join("packs/pack_with_sensor");
    write(
        &dir.join("actions/a.yaml"),
        "name: a\nrunner_type: local-shell-cmd\n",
    );
    write(
        &dir.join("rules/r.yaml"),
        "name: r\ntrigger: {type: core.st2.IntervalTimer}\naction: {ref: pack_with_sensor.a}\n",
    );
    let (code, _, err) = register(root, &[]);
    assert_eq!(code, 0, "{err}");

    // Sensors and rules change on disk, a new action appears; only actions are asked for.
    std::fs::remove_file(dir.join("sensors/test_sensor_2.yaml")).unwrap();
    std::fs::remove_file(dir.join("rules/r.yaml")).unwrap();
    write(
        &dir.join("actions/b.yaml"),
        "name: b\nrunner_type: local-shell-cmd\n",
    );
    write(&dir.join("rules/broken.yaml"), "name: broken\n");
    let (code, v, err) = register(root, &["--types", "action", "--fail-on-failure"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["actions"], 2, "{v}");
    assert_eq!(v["sensors"], 0, "{v}");
    assert_eq!(v["rules"], 0, "{v}");
    assert_eq!(
        refs(root, "action"),
        ["pack_with_sensor.a", "pack_with_sensor.b"]
    );
    assert_eq!(refs(root, "sensor").len(), 2);
    assert_eq!(refs(root, "rule"), ["pack_with_sensor.r"]);
    assert_eq!(refs(root, "trigger").len(), 4);

    // The sensors, with st2's plural spelling: their trigger types go with them, the
    // files of triggers/ stay.
    let (code, v, err) = register(root, &["--types", "sensors"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        (&v["sensors"], &v["sensor_triggers"], &v["triggers"]),
        (&json!(1), &json!(1), &json!(0)),
        "{v}"
    );
    assert_eq!(refs(root, "sensor"), ["pack_with_sensor.TestSensor"]);
    assert_eq!(
        refs(root, "trigger"),
        [
            "pack_with_sensor.event_handler",
            "pack_with_sensor.head_sha_monitor",
            "pack_with_sensor.trigger_type_1"
        ]
    );
    assert_eq!(refs(root, "rule"), ["pack_with_sensor.r"]);

    // Comma-separated, and the rules' problem is reported now that rules are read.
    let (code, v, err) = register(root, &["--types", "rule,trigger"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(refs(root, "rule"), Vec::<String>::new());
    assert!(
        problem(&problems(&v, "pack_with_sensor"), "rules/broken.yaml").contains("trigger"),
        "{v}"
    );

    let r = run(stackpack(root).args(["register", "--types", "acton"]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("unknown content type \"acton\" (did you mean \"action\"?)")
            && r.stderr.contains("policy_types"),
        "{}",
        r.stderr
    );
}

#[test]
fn the_st2_handoff_sends_the_same_types() {
    // Safe outcome: st2 is asked to register exactly the kinds stackpack registered.
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    let dir = pack(root, "p");
    write(
        &dir.join("actions/a.yaml"),
        "name: a\nrunner_type: local-shell-cmd\n",
    );
    let st2 = St2Api::start(&root.join("packs"), Accept::ApiKey("k-1".into()));
    write(
        &root.join("stackpack.toml"),
        &format!(
            "[st2]\napi_url = \"{}\"\napi_key_env = \"MY_ST2_KEY\"\n",
            st2.api_url()
        ),
    );
    let r = run(stackpack(root).env("MY_ST2_KEY", "k-1").args([
        "--json",
        "register",
        "p",
        "--types",
        "actions,sensor",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run(stackpack(root)
        .env("MY_ST2_KEY", "k-1")
        .args(["--json", "register", "p"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let sent = st2.registrations();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(sent[0]["types"], json!(["action", "sensor"]));
    assert_eq!(
        sent[1]["types"],
        json!([
            "trigger", "sensor", "action", "rule", "alias", "policy", "config"
        ])
    );
}

#[test]
fn the_first_packs_base_path_wins_registration() {
    // st2 differs here, on purpose: its pack registration took the pack from the LAST
    // base path holding it while its content loader took the FIRST. stackpack registers
    // the pack and its content from the first path, the one `list` shows as active.
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    let first = pack(root, "dup");
    write(
        &first.join("actions/from_first.yaml"),
        "name: from_first\nrunner_type: local-shell-cmd\n",
    );
    let extra = root.join("extra/dup");
    write(&extra.join("pack.yaml"), &pack_yaml("dup", "0.2.0"));
    write(
        &extra.join("actions/from_last.yaml"),
        "name: from_last\nrunner_type: local-shell-cmd\n",
    );
    write(
        &root.join("stackpack.toml"),
        &format!(
            "packs_base_paths = [\"{}\"]\n",
            root.join("extra").display()
        ),
    );
    let (code, v, err) = register(root, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["actions"], 1, "{v}");
    assert_eq!(refs(root, "action"), ["dup.from_first"]);
    let db = rusqlite::Connection::open(root.join("registry.db")).unwrap();
    let (version, path): (String, String) = db
        .query_row(
            "SELECT version, path FROM packs WHERE ref = 'dup'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(version, "0.1.0");
    assert_eq!(Path::new(&path), first);
}
