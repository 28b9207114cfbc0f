//! The registry with real override-policy components: the built-in `default` policy
//! and a misbehaving one built from tests/guests/hostile-policy, chained as the CLI
//! chains them. A failing policy must leave the registry exactly as it was.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::{hostile_policy_wasm, pack_yaml, shared_cache, write};
use stackpack_core::pack::{PackMeta, parse_pack_yaml};
use stackpack_plugin::{Grants, Limits, NoNetwork, Plugin, PluginSpec, Runtime};
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
    reg.register(&input(&meta, &dir, &[]), &[&default], false)
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
            .register(&input(&meta, &dir, &[]), &[&bad, &default], false)
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
            &[&strict, &default],
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
            &[&keep, &default],
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
