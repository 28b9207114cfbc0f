//! The registry with real override-policy components: the built-in `default` policy
//! and a misbehaving one built from tests/guests/hostile-policy, chained as the CLI
//! chains them. A failing policy must leave the registry exactly as it was.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::common::{hostile_policy_wasm, pack_yaml, shared_cache, write};
use stackpack_core::pack::{PackMeta, parse_pack_yaml};
use stackpack_net::{Grants, NoNetwork};
use stackpack_ops::register::PluginPolicy;
use stackpack_plugin::{Limits, Plugin, PluginSpec, Runtime};
use stackpack_registry::{PackInput, Registry, RegistryError, ResourceType};

fn runtime() -> Runtime {
    Runtime::new(
        Some(shared_cache().join("plugins")),
        Arc::new(NoNetwork),
        false,
    )
    .unwrap()
}

fn default_policy(rt: &Runtime) -> Plugin {
    let b = stackpack_builtins::get("default").unwrap();
    rt.load(PluginSpec {
        name: "default".into(),
        wasm: Arc::from(b.wasm),
        grants: Grants::parse(b.default_grants).unwrap(),
        config: BTreeMap::new(),
        limits: Limits::default(),
    })
    .unwrap()
}

fn hostile(rt: &Runtime, mode: &str, limits: Limits) -> Plugin {
    rt.load(PluginSpec {
        name: "hostile-policy".into(),
        wasm: hostile_policy_wasm(),
        grants: Grants::parse::<&str>(&[]).unwrap(),
        config: BTreeMap::from([("mode".to_string(), mode.to_string())]),
        limits,
    })
    .unwrap()
}

/// A pack with one action and two sensors.
fn pack(dir: &Path) -> PackMeta {
    write(&dir.join("pack.yaml"), &pack_yaml("p", "1.0.0"));
    write(
        &dir.join("actions/a.yaml"),
        "name: a\nrunner_type: python-script\nentry_point: a.py\n",
    );
    for s in ["S1", "S2"] {
        write(
            &dir.join(format!("sensors/{s}.yaml")),
            &format!("class_name: {s}\nentry_point: s.py\n"),
        );
    }
    parse_pack_yaml(
        &std::fs::read_to_string(dir.join("pack.yaml")).unwrap(),
        None,
    )
    .unwrap()
}

fn input<'a>(meta: &'a PackMeta, dir: &'a Path, overrides: &[(&str, &str)]) -> PackInput<'a> {
    PackInput {
        meta,
        dir,
        source: "git:github.com/someone/p@abc".into(),
        environment: None,
        overrides: overrides
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
        scan: Default::default(),
    }
}

const ENABLE_SENSORS: (&str, &str) = (
    "overrides/p.yaml",
    "sensors:\n  defaults:\n    enabled: true\n",
);

#[test]
fn failing_policies_leave_the_registry_unchanged() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("p");
    let meta = pack(&dir);
    let rt = runtime();
    let default = default_policy(&rt);
    let mut reg = Registry::open(&d.path().join("registry.db")).unwrap();
    reg.register(&input(&meta, &dir, &[]), &[PluginPolicy(&default)], false)
        .unwrap();
    let before = reg.registered("p").unwrap().unwrap();
    assert_eq!(before.counts["sensors"].enabled, 2);

    // Content changed on disk since: a failed registration must not pick it up.
    std::fs::remove_file(dir.join("actions/a.yaml")).unwrap();

    let quick = Limits {
        time: Duration::from_millis(300),
        ..Limits::default()
    };
    let cases = [
        ("trap", "hostile policy trapped on pack p"),
        ("loop", "time limit"),
        ("short", "0"),
        ("refuse", "refusing pack p"),
    ];
    for (mode, expected) in cases {
        let bad = hostile(&rt, mode, quick);
        let err = reg
            .register(
                &input(&meta, &dir, &[]),
                &[PluginPolicy(&bad), PluginPolicy(&default)],
                false,
            )
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("hostile-policy") && msg.contains(expected),
            "{mode}: {msg}"
        );
        assert!(msg.contains("previous registration is kept"), "{msg}");
        assert!(!msg.contains("wasm backtrace"), "{msg}");
        match (mode, &err) {
            ("refuse", RegistryError::PolicyRefused { policy, .. }) => {
                assert_eq!(policy, "hostile-policy")
            }
            ("refuse", other) => panic!("{other:?}"),
            (_, RegistryError::Policy { pack, .. }) => assert_eq!(pack, "p"),
            (_, other) => panic!("{mode}: {other:?}"),
        }
        let after = reg.registered("p").unwrap().unwrap();
        assert_eq!(after.counts, before.counts, "{mode}");
        assert_eq!(
            reg.enabled(ResourceType::Action, "p.a").unwrap(),
            Some(true),
            "{mode}"
        );
    }
}

#[test]
fn first_verdict_that_is_not_keep_wins_and_its_reason_is_stored() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("p");
    let meta = pack(&dir);
    let rt = runtime();
    let default = default_policy(&rt);
    let strict = hostile(&rt, "disable-sensors", Limits::default());
    let keep = hostile(&rt, "keep", Limits::default());
    let mut reg = Registry::open(&d.path().join("registry.db")).unwrap();

    // The configured policy runs before the default one and wins over the pack file.
    let r = reg
        .register(
            &input(&meta, &dir, &[ENABLE_SENSORS]),
            &[PluginPolicy(&strict), PluginPolicy(&default)],
            false,
        )
        .unwrap();
    assert_eq!(r.overridden.get(&ResourceType::Sensor), Some(&2));
    let got = reg.registered("p").unwrap().unwrap();
    assert_eq!(got.counts["sensors"].disabled, 2);
    assert_eq!(got.decisions.len(), 2);
    assert_eq!(got.decisions[0].policy, "hostile-policy");
    assert_eq!(
        got.decisions[0].reason,
        "hostile-policy: no sensors from git:github.com/someone/p@abc in any environment"
    );

    // A policy that keeps everything passes the decision on to the default policy.
    let r = reg
        .register(
            &input(&meta, &dir, &[ENABLE_SENSORS]),
            &[PluginPolicy(&keep), PluginPolicy(&default)],
            false,
        )
        .unwrap();
    assert_eq!(r.overridden.get(&ResourceType::Sensor), None);
    let got = reg.registered("p").unwrap().unwrap();
    assert_eq!(got.counts["sensors"].enabled, 2);
    assert_eq!(got.decisions[0].policy, "default");
    assert_eq!(
        got.decisions[0].reason,
        "overrides/p.yaml: sensors.defaults.enabled=true"
    );
}

#[test]
fn registry_schema_is_migrated_and_newer_schemas_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("registry.db");
    drop(Registry::open(&db).unwrap());
    let conn = rusqlite::Connection::open(&db).unwrap();
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, 1);
    // Reopening an up-to-date registry is fine; one from a newer stackpack is not.
    drop(Registry::open(&db).unwrap());
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let e = Registry::open(&db).unwrap_err().to_string();
    assert!(e.contains("newer stackpack"), "{e}");
}

/// The override files of st2's own content-loader tests, verbatim: a global file that
/// disables sensors, and four pack files.
const ST2_GLOBAL_OVERRIDES: &str = "sensors:\n  defaults:\n    enabled: false\n";
const ST2_PACK_OVERRIDES: [(&str, &str); 4] = [
    (
        "overpack1",
        "actions:\n  defaults:\n    enabled: False\n  exceptions:\n    action2:\n      enabled: True\n",
    ),
    (
        "overpack2",
        "actions:\n  defaults:\n    enabled: False\n    rubbish: False\n  exceptions:\n    action2:\n      enabled: True\nsensors:\n  defaults:\n    enabled: True\n",
    ),
    (
        "overpack3",
        "actions:\n  defaults:\n    enabled: False\n  exceptions:\n    action2:\n      rubbish: True\nsensors:\n  exceptions:\n    sensor1:\n      enabled: True\n",
    ),
    ("overpack4", "actions:\n  defaults:\n    enabled: False\n"),
];

/// Registers a pack `pack` holding one resource (`kind` `name`, with `enabled` when
/// given) under st2's override files, `pack_file` replacing the pack's own; returns
/// (overridden, effective enabled) or the error.
fn override_one(
    rt: &Runtime,
    pack: &str,
    kind: ResourceType,
    name: &str,
    enabled: Option<bool>,
    pack_file: Option<&str>,
) -> Result<(bool, bool), String> {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join(pack);
    write(&dir.join("pack.yaml"), &pack_yaml(pack, "1.0.0"));
    let enabled = enabled
        .map(|b| format!("enabled: {b}\n"))
        .unwrap_or_default();
    let (file, body) = match kind {
        ResourceType::Action => (
            format!("actions/{name}.yaml"),
            format!("name: {name}\nrunner_type: python-script\nentry_point: a.py\n{enabled}"),
        ),
        ResourceType::Sensor => (
            format!("sensors/{name}.yaml"),
            format!("class_name: {name}\nentry_point: s.py\n{enabled}"),
        ),
        ResourceType::Rule => (
            format!("rules/{name}.yaml"),
            format!(
                "name: {name}\npack: {pack}\ntrigger:\n  type: core.st2.webhook\naction:\n  ref: core.local\n{enabled}"
            ),
        ),
        other => panic!("{other:?}"),
    };
    write(&dir.join(file), &body);
    let meta = parse_pack_yaml(
        &std::fs::read_to_string(dir.join("pack.yaml")).unwrap(),
        None,
    )
    .unwrap();
    let own = pack_file.or_else(|| {
        ST2_PACK_OVERRIDES
            .iter()
            .find(|(p, _)| *p == pack)
            .map(|(_, t)| *t)
    });
    let mut files = vec![("overrides/_global.yaml", ST2_GLOBAL_OVERRIDES)];
    let own_label = format!("overrides/{pack}.yaml");
    if let Some(text) = own {
        files.push((&own_label, text));
    }
    let default = default_policy(rt);
    let mut reg = Registry::open(&d.path().join("registry.db")).unwrap();
    let report = reg
        .register(
            &input(&meta, &dir, &files),
            &[PluginPolicy(&default)],
            false,
        )
        .map_err(|e| e.to_string())?;
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let overridden = report.overridden.get(&kind).copied().unwrap_or(0) == 1;
    let effective = reg
        .enabled(kind, &format!("{pack}.{name}"))
        .unwrap()
        .unwrap();
    Ok((overridden, effective))
}

/// st2's override cases against the built-in default policy. Where st2 counted wrongly
/// (it assumed every type defaults to enabled, so a rule, disabled by default, was
/// miscounted) and crashed on an empty pack file, the effective values are compared and
/// an empty file changes nothing.
#[test]
fn override_cases_against_the_default_policy() {
    use ResourceType::{Action, Rule, Sensor};
    let rt = runtime();
    let wrongtype = "wrongtype:\n  defaults:\n    enabled: false\n";
    let actions_on = "actions:\n  defaults:\n    enabled: true\n";
    let rules_on = "rules:\n  defaults:\n    enabled: true\n";
    // (case, pack, type, name, the pack's `enabled`, the pack's own override file when
    // not st2's) -> (counted as overridden, effective enabled)
    #[rustfmt::skip]
    let cases = [
        ("pack default disables", "overpack1", Action, "action1", Some(true), None, (true, false)),
        ("pack default, already off", "overpack1", Action, "action1", Some(false), None, (false, false)),
        ("exception, already on", "overpack1", Action, "action2", Some(true), None, (false, true)),
        ("exception enables", "overpack1", Action, "action2", Some(false), None, (true, true)),
        ("pack default only, 1", "overpack4", Action, "action1", Some(true), None, (true, false)),
        ("pack default only, 2", "overpack4", Action, "action2", Some(true), None, (true, false)),
        ("global default", "overpack1", Sensor, "sensor1", Some(true), None, (true, false)),
        ("pack default beats global", "overpack2", Sensor, "sensor1", Some(true), None, (false, true)),
        ("exception beats global", "overpack3", Sensor, "sensor1", Some(true), None, (false, true)),
        // A type outside actions/aliases/rules/sensors cannot be asked: triggers and
        // policies never reach a policy, and an unknown section is ignored.
        ("unknown section", "overpack9", Action, "action1", Some(true), Some(wrongtype), (false, true)),
        ("action default on, silent", "overpack12", Action, "action1", None, Some(actions_on), (false, true)),
        // A rule's default is disabled, so enabling one that says nothing counts.
        ("rule default on, silent", "overpack12", Rule, "rule1", None, Some(rules_on), (true, true)),
        // An empty pack file is a no-op; the global default applies.
        ("empty file, sensor", "overpack13", Sensor, "sensor1", Some(true), Some(""), (true, false)),
        ("empty file, action", "overpack13", Action, "action1", Some(true), Some(""), (false, true)),
    ];
    for (case, pack, kind, name, enabled, file, expected) in cases {
        let got = override_one(&rt, pack, kind, name, enabled, file)
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(got, expected, "{case}");
    }
    let e = override_one(&rt, "overpack2", Action, "action1", Some(true), None).unwrap_err();
    assert!(
        e.contains("overrides/overpack2.yaml: actions.defaults.rubbish cannot be overridden"),
        "unknown key in defaults: {e}"
    );
    let e = override_one(&rt, "overpack3", Action, "action2", Some(true), None).unwrap_err();
    assert!(
        e.contains(
            "overrides/overpack3.yaml: actions.exceptions.action2.rubbish cannot be overridden"
        ),
        "unknown key in an exception: {e}"
    );
}
