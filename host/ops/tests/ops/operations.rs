//! Each operation driven through `stackpack-ops`, without the binary: a session on a
//! scratch root, real files, the real built-in plugins, a real SQLite registry.

use std::path::{Path, PathBuf};

use stackpack_ops::config;
use stackpack_ops::install::{InstallRequest, install, remove};
use stackpack_ops::plugin::{self, AddRequest, TestRequest};
use stackpack_ops::register::{RegisterRequest, register};
use stackpack_ops::{ErrorKind, Session, SessionOptions, index, packs};
use stackpack_registry::ProblemKind;

use crate::common::write;

fn example_pack() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/packs/hello_st2")
}

fn file_url(p: &Path) -> String {
    url::Url::from_file_path(p.canonicalize().unwrap())
        .unwrap()
        .to_string()
}

/// A session on `root`, with the compiled-plugin cache shared by every test.
fn session(root: &Path, extra: impl FnOnce(&mut SessionOptions)) -> Session {
    let mut opts = SessionOptions {
        root: Some(root.to_path_buf()),
        cache_dir: Some(Path::new(env!("CARGO_TARGET_TMPDIR")).join("ops-cache")),
        ..SessionOptions::default()
    };
    extra(&mut opts);
    Session::new(&opts).unwrap()
}

fn pack_dir(dir: &Path, name: &str, schema: Option<&str>) -> PathBuf {
    let p = dir.join(name);
    write(
        &p.join("pack.yaml"),
        &format!("name: {name}\nversion: 1.0.0\ndescription: d\nauthor: a\n"),
    );
    write(
        &p.join("actions/a1.yaml"),
        "name: a1\nrunner_type: local-shell-cmd\nentry_point: ''\n",
    );
    if let Some(schema) = schema {
        write(&p.join("config.schema.yaml"), schema);
    }
    p
}

fn quick() -> InstallRequest {
    InstallRequest {
        venv: false,
        ..InstallRequest::default()
    }
}

/// Installs the pack in `dir` without venv or registration.
fn install_only(s: &Session, dir: &Path) {
    install(
        s,
        &InstallRequest {
            packs: vec![file_url(dir)],
            register: false,
            ..quick()
        },
    )
    .unwrap();
}

#[test]
fn install_list_get_remove() {
    let root = tempfile::tempdir().unwrap();
    let s = session(root.path(), |_| {});
    let report = install(
        &s,
        &InstallRequest {
            packs: vec![file_url(&example_pack())],
            ..quick()
        },
    )
    .unwrap();
    assert_eq!(report.install.installed(), vec!["hello_st2".to_string()]);
    let reg = report.registered.expect("registered after install");
    assert_eq!(reg.packs.len(), 1);
    assert!(report.register_error.is_none());

    let listed = packs::list(&s).unwrap();
    assert_eq!(listed.packs.len(), 1);
    let detail = packs::get(&s, "hello_st2").unwrap();
    assert_eq!(detail.meta().unwrap().version, "1.0.0");
    assert!(detail.registry.is_some(), "get shows the registration");

    let missing = packs::get(&s, "hello_st").unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::NotFound);
    assert!(
        missing.to_string().contains("Did you mean: hello_st2"),
        "{missing}"
    );

    let removed = remove(&s, &["hello_st2".into()], false, Default::default(), true).unwrap();
    assert_eq!(removed.remove.removed(), vec!["hello_st2".to_string()]);
    assert!(packs::list(&s).unwrap().packs.is_empty());
    assert!(
        stackpack_ops::register::registered(&s, "hello_st2")
            .unwrap()
            .is_none(),
        "remove unregisters"
    );
}

/// A policy whose pin does not match breaks registration, never an install that does
/// not register: policies are loaded only when something registers.
#[test]
fn a_broken_policy_cannot_break_install_without_registration() {
    let root = tempfile::tempdir().unwrap();
    let bogus = root.path().join("bogus.wasm");
    std::fs::write(&bogus, b"not a component").unwrap();
    write(
        &root.path().join("stackpack.toml"),
        &format!(
            "[plugins.corp]\nkind = \"policy\"\npath = \"{}\"\nsha256 = \"{}\"\n",
            bogus.display(),
            "0".repeat(64)
        ),
    );
    let s = session(root.path(), |_| {});
    let report = install(
        &s,
        &InstallRequest {
            packs: vec![file_url(&example_pack())],
            register: false,
            ..quick()
        },
    )
    .unwrap();
    assert_eq!(report.install.installed(), vec!["hello_st2".to_string()]);
    assert!(report.registered.is_none());

    let err = register(&s, &RegisterRequest::default()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Denied, "{err}");
    assert!(err.to_string().contains("plugin corp was refused"), "{err}");
}

#[test]
fn a_bad_config_is_reported_as_a_config_problem() {
    let root = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    let dir = pack_dir(
        src.path(),
        "cfgpack",
        Some("port:\n  type: integer\n  required: true\n"),
    );
    let s = session(root.path(), |_| {});
    install_only(&s, &dir);
    write(
        &root.path().join("configs/cfgpack.yaml"),
        "port: not-a-number\n",
    );
    let report = register(
        &s,
        &RegisterRequest {
            configs: true,
            ..RegisterRequest::default()
        },
    )
    .unwrap();
    let problems = &report.packs[0].problems;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].kind, ProblemKind::Config);
    assert_eq!(problems[0].file, "configs/cfgpack.yaml");
    let json = report.json();
    assert_eq!(json["packs"][0]["problems"][0]["type"], "config", "{json}");
    assert_eq!(report.configs, 0);
}

#[test]
fn config_set_validate_save_show() {
    let root = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    let dir = pack_dir(
        src.path(),
        "cfgpack",
        Some("port:\n  type: integer\n  required: true\ntoken:\n  type: string\n  secret: true\n"),
    );
    let s = session(root.path(), |_| {});
    install_only(&s, &dir);
    assert_eq!(
        install(&s, &quick()).map(|_| ()).err().map(|e| e.kind()),
        None,
        "an install of nothing is not an error"
    );
    let target = config::open(&s, "cfgpack").unwrap();
    assert_eq!(target.current().unwrap_err().kind(), ErrorKind::NotFound);
    let mut values = serde_json::json!({});
    target
        .apply(&mut values, &["port=8080".into(), "token=s3cret".into()])
        .unwrap();
    let written = target.save(&s, &values).unwrap();
    assert_eq!(written, root.path().join("configs/cfgpack.yaml"));
    let again = config::open(&s, "cfgpack").unwrap();
    let current = again.current().unwrap();
    assert_eq!(current["port"], 8080);
    assert_eq!(again.masked(current)["token"], "********");

    let bad = again.check(&serde_json::json!({"token": "x"})).unwrap_err();
    assert_eq!(bad.kind(), ErrorKind::Usage);
    assert!(bad.to_string().contains("port"), "{bad}");
    let no_schema = config::open(&s, "nope").err().unwrap();
    assert_eq!(no_schema.kind(), ErrorKind::NotFound);
}

#[test]
fn index_search_show_health() {
    let root = tempfile::tempdir().unwrap();
    let index_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/index.json");
    let s = session(root.path(), |o| {
        o.index = vec![index_path.display().to_string()];
    });
    let found = index::search(&s, "hello").unwrap();
    assert_eq!(found.first().map(|e| e.key.as_str()), Some("hello_st2"));
    let shown = index::show(&s, "hello_st2").unwrap();
    assert_eq!(shown.version.as_deref(), Some("1.0.0"));
    let missing = index::show(&s, "hello_st").unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::NotFound);
    assert!(missing.to_string().contains("hello_st2"), "{missing}");
    let health = index::health(&s).unwrap();
    assert_eq!(health.report.usable, 1);
    assert_eq!(index::status_name(&health.report.indexes[0].status), "ok");

    let broken = tempfile::tempdir().unwrap();
    let s = session(root.path(), |o| {
        o.index = vec![broken.path().join("missing.json").display().to_string()];
    });
    let err = index::search(&s, "hello").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Failed);
    assert!(err.to_string().contains("no pack index is usable"), "{err}");
}

#[test]
fn plugins_list_inspect_add_remove() {
    let root = tempfile::tempdir().unwrap();
    let s = session(root.path(), |_| {});
    let rows = plugin::list(&s).unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names.last(),
        Some(&"default"),
        "the default policy runs last"
    );
    assert!(names.contains(&"github"), "{names:?}");

    let inspected = plugin::inspect(&s, "file").unwrap();
    assert_eq!(inspected.world, "source-resolver");

    // A built-in's component added again under another name.
    let file = stackpack_builtins::get("file").unwrap();
    let wasm = root.path().join("copy.wasm");
    std::fs::write(&wasm, file.wasm).unwrap();
    let wrong = plugin::add(
        &s,
        &AddRequest {
            source: wasm.display().to_string(),
            sha256: "0".repeat(64),
            name: Some("copy".into()),
            ..AddRequest::default()
        },
    )
    .unwrap_err();
    assert_eq!(wrong.kind(), ErrorKind::Denied, "{wrong}");
    let added = plugin::add(
        &s,
        &AddRequest {
            source: wasm.display().to_string(),
            sha256: file.sha256.to_string(),
            name: Some("copy".into()),
            ..AddRequest::default()
        },
    )
    .unwrap();
    assert_eq!(added.name, "copy");
    assert!(added.wasm.is_file());
    let again = plugin::add(
        &s,
        &AddRequest {
            source: wasm.display().to_string(),
            sha256: file.sha256.to_string(),
            name: Some("copy".into()),
            ..AddRequest::default()
        },
    )
    .unwrap_err();
    assert_eq!(again.kind(), ErrorKind::Conflict, "{again}");
    let removed = plugin::remove(&s, "copy").unwrap();
    assert!(!removed.wasm.exists());
    assert_eq!(
        plugin::remove(&s, "copy").unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[test]
fn plugin_test_replays_recordings() {
    let root = tempfile::tempdir().unwrap();
    let pack = pack_dir(root.path(), "local", None);
    let refs = root.path().join("refs.txt");
    write(
        &refs,
        &format!(
            "# comment\n{}\nnot a reference at all ://\n",
            file_url(&pack)
        ),
    );
    let recorded = root.path().join("recorded.json");
    write(&recorded, "[]");
    let s = session(root.path(), |_| {});
    let report = plugin::test(
        &s,
        &TestRequest {
            target: "file".into(),
            refs,
            recorded,
            set: Vec::new(),
            grants: Vec::new(),
        },
    )
    .unwrap();
    assert_eq!(report.results.len(), 2);
    assert_eq!(
        report.results[0].status, "resolved",
        "{:?}",
        report.results[0]
    );
    assert_eq!(report.failed(), 1, "{:?}", report.results);
}

#[test]
fn venv_builds_then_keeps() {
    let root = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    let dir = pack_dir(src.path(), "pypack", None);
    write(&dir.join("actions/run.py"), "print('hi')\n");
    let s = session(root.path(), |_| {});
    install_only(&s, &dir);
    let built = stackpack_ops::venv::venv(&s, "pypack", false).unwrap();
    assert_eq!(built.path, root.path().join("virtualenvs/pypack"));
    assert!(built.path.join("bin/python").exists());
    let kept = stackpack_ops::venv::venv(&s, "pypack", false).unwrap();
    assert!(
        matches!(kept.action, stackpack_venv::VenvAction::Kept),
        "{kept:?}"
    );
    let missing = stackpack_ops::venv::venv(&s, "nope", false).unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::NotFound);
}
