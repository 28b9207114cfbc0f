//! The handoff to a running StackStorm, through the real binary against an emulation
//! of st2's API (stackpack-testkit's `st2`): what `install` and `register` send, with
//! which credential header, what they show, and how a failed handoff is reported,
//! recorded and retried, without the credential ever leaving the request.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use stackpack_testkit::st2::{Accept, St2Api, down_url};

use crate::common::{
    file_url, hanging_server, installed_version, pack_yaml, run, stackpack, write,
};

const KEY: &str = "st2-key-5ecr3t-0042";

/// A pack source directory with two actions and one sensor declaring a trigger type
/// (registered by both, and outside `triggers` on both sides: stackpack reports it as
/// `sensor_triggers`).
fn source(dir: &Path, name: &str) -> PathBuf {
    let d = dir.join(format!("src-{name}"));
    write(&d.join("pack.yaml"), &pack_yaml(name, "1.0.0"));
    for a in ["one", "two"] {
        write(
            &d.join(format!("actions/{a}.yaml")),
            &format!("---\nname: {a}\nrunner_type: local-shell-cmd\n"),
        );
    }
    write(
        &d.join("sensors/watch.yaml"),
        "---\nclass_name: Watch\nentry_point: watch.py\ntrigger_types:\n  - name: changed\n",
    );
    d
}

/// `[st2]` in the root's stackpack.toml, the key read from $MY_ST2_KEY.
pub(crate) fn configure(root: &Path, api_url: &str) {
    write(
        &root.join("stackpack.toml"),
        &format!("[st2]\napi_url = \"{api_url}\"\napi_key_env = \"MY_ST2_KEY\"\n"),
    );
}

pub(crate) fn pending(root: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(root.join(".stackpack-st2-pending.json")).ok()?;
    Some(serde_json::from_str(&text).unwrap())
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() && !p.is_symlink() {
            out.extend(files(&p));
        } else if p.is_file() {
            out.push(p);
        }
    }
    out
}

/// Neither `outputs` nor any file under `root` contains `key`.
pub(crate) fn assert_key_nowhere(key: &str, root: &Path, outputs: &[&str]) {
    for o in outputs {
        assert!(!o.contains(key), "the key leaked into output:\n{o}");
    }
    for f in files(root) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !bytes.windows(key.len()).any(|w| w == key.as_bytes()),
            "the key leaked into {}",
            f.display()
        );
    }
}

fn sorted(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    out.sort();
    out
}

#[test]
fn install_hands_exactly_the_changed_packs_to_st2_with_the_api_key() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let (a, b) = (source(tmp.path(), "alpha"), source(tmp.path(), "beta"));
    let st2 = St2Api::start(&root.join("packs"), Accept::ApiKey(KEY.into()));
    configure(&root, &st2.api_url());

    let r = run(stackpack(&root).env("MY_ST2_KEY", KEY).args([
        "--json",
        "install",
        "--no-venv",
        &file_url(&a),
        &file_url(&b),
    ]));
    assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    let sent = st2.registrations();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sorted(&sent[0]["packs"]), ["alpha", "beta"]);
    assert_eq!(sent[0]["fail_on_failure"], json!(false));
    assert!(
        sent[0]["types"]
            .as_array()
            .unwrap()
            .contains(&json!("action"))
    );
    let req = &st2.server.requests()[0];
    assert_eq!(req.header("st2-api-key"), Some(KEY));
    assert_eq!(req.header("content-type"), Some("application/json"));

    let out: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(out["st2"]["counts"]["actions"], json!(4), "{out}");
    assert_eq!(out["st2"]["counts"]["sensors"], json!(2), "{out}");
    assert_eq!(out["st2"]["pending"], json!([]));
    assert_eq!(out["st2"]["differences"], json!([]), "{out}");

    // A second install sends only the pack it installed; the text shows st2's counts.
    let r2 =
        run(stackpack(&root)
            .env("MY_ST2_KEY", KEY)
            .args(["install", "--no-venv", &file_url(&a)]));
    assert_eq!(r2.code, 0, "{}", r2.stderr);
    let sent = st2.registrations();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1]["packs"], json!(["alpha"]));
    assert!(
        r2.stdout.contains("st2 registered alpha: 2 actions")
            && !r2.stdout.contains("st2 counts differ"),
        "{}",
        r2.stdout
    );

    // --no-st2 skips the handoff.
    let r3 = run(stackpack(&root)
        .env("MY_ST2_KEY", KEY)
        .args(["register", "--no-st2", "alpha"]));
    assert_eq!(r3.code, 0, "{}", r3.stderr);
    assert_eq!(st2.registrations().len(), 2);
    assert_key_nowhere(KEY, &root, &[&r.stdout, &r.stderr, &r2.stdout, &r2.stderr]);
}

#[test]
fn register_hands_the_named_packs_with_st2_cli_variables() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let (a, b) = (source(tmp.path(), "alpha"), source(tmp.path(), "beta"));
    let r = run(stackpack(&root).args(["install", "--no-venv", &file_url(&a), &file_url(&b)]));
    assert_eq!(r.code, 0, "{}", r.stderr);

    let st2 = St2Api::start(&root.join("packs"), Accept::Token("tok-77".into()));
    let r = run(stackpack(&root)
        .env("ST2_API_URL", st2.api_url())
        .env("ST2_AUTH_TOKEN", "tok-77")
        .args(["register", "beta"]));
    assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    let sent = st2.registrations();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["packs"], json!(["beta"]));
    assert_eq!(
        st2.server.requests()[0].header("x-auth-token"),
        Some("tok-77")
    );
    assert!(
        r.stdout.contains("st2 registered beta: 2 actions"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("tok-77") && !r.stderr.contains("tok-77"));
}

#[test]
fn st2_down_exits_6_records_the_packs_and_the_next_register_sends_them() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let (a, b) = (source(tmp.path(), "alpha"), source(tmp.path(), "beta"));
    configure(&root, &down_url());
    let r =
        run(stackpack(&root)
            .env("MY_ST2_KEY", KEY)
            .args(["install", "--no-venv", &file_url(&a)]));
    assert_eq!(r.code, 6, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("st2 was not told about: alpha")
            && r.stderr.contains(".stackpack-st2-pending.json"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("st2ctl status"), "{}", r.stderr);
    // Nothing lost: installed and registered locally, and recorded for the next run.
    assert_eq!(installed_version(&root, "alpha").as_deref(), Some("1.0.0"));
    assert!(r.stdout.contains("registered alpha"), "{}", r.stdout);
    assert_eq!(pending(&root).unwrap()["packs"], json!(["alpha"]));

    // st2 is back. An install with --no-st2 leaves the record alone; the next
    // register sends the packs it names and the recorded ones, and clears the record.
    let st2 = St2Api::start(&root.join("packs"), Accept::ApiKey(KEY.into()));
    configure(&root, &st2.api_url());
    let r2 = run(stackpack(&root).env("MY_ST2_KEY", KEY).args([
        "install",
        "--no-venv",
        "--no-st2",
        &file_url(&b),
    ]));
    assert_eq!(r2.code, 0, "{}", r2.stderr);
    assert!(st2.registrations().is_empty());
    assert_eq!(pending(&root).unwrap()["packs"], json!(["alpha"]));
    let r3 = run(stackpack(&root)
        .env("MY_ST2_KEY", KEY)
        .args(["register", "beta"]));
    assert_eq!(r3.code, 0, "stdout:\n{}\nstderr:\n{}", r3.stdout, r3.stderr);
    let sent = st2.registrations();
    assert_eq!(sent.len(), 1);
    assert_eq!(sorted(&sent[0]["packs"]), ["alpha", "beta"]);
    assert!(pending(&root).is_none(), "the pending file is cleared");
    assert_key_nowhere(KEY, &root, &[&r.stdout, &r.stderr, &r3.stdout, &r3.stderr]);
}

#[test]
fn refused_credentials_and_rejected_packs_say_what_to_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let a = source(tmp.path(), "alpha");
    let st2 = St2Api::start(&root.join("packs"), Accept::ApiKey(KEY.into()));
    configure(&root, &st2.api_url());
    let r = run(stackpack(&root).env("MY_ST2_KEY", "wrong-key").args([
        "install",
        "--no-venv",
        &file_url(&a),
    ]));
    assert_eq!(r.code, 6, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("HTTP 401"), "{}", r.stderr);
    assert!(r.stderr.contains("api_key_env"), "{}", r.stderr);
    assert!(!r.stderr.contains("wrong-key"), "{}", r.stderr);
    assert_eq!(pending(&root).unwrap()["packs"], json!(["alpha"]));

    st2.fail(Some((
        400,
        "Failed to register pack \"alpha\": action one: 'runner_type' is invalid",
    )));
    let r = run(stackpack(&root)
        .env("MY_ST2_KEY", KEY)
        .args(["--json", "register", "alpha"]));
    assert_eq!(r.code, 6, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("'runner_type' is invalid"),
        "{}",
        r.stderr
    );
    let out: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(out["st2"]["pending"], json!(["alpha"]));
    assert!(out["st2"]["error"].as_str().unwrap().contains("HTTP 400"));
    assert!(
        out["actions"].is_number(),
        "the local registration stands: {out}"
    );

    st2.fail(None);
    let r = run(stackpack(&root)
        .env("MY_ST2_KEY", KEY)
        .args(["register", "alpha"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(pending(&root).is_none());
    assert_key_nowhere(KEY, &root, &[&r.stdout, &r.stderr]);
}

#[test]
fn slow_st2_hits_the_deadline_and_nothing_is_lost() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let a = source(tmp.path(), "alpha");
    write(
        &root.join("stackpack.toml"),
        &format!(
            "http_timeout = 1\n[st2]\napi_url = \"{}\"\napi_key = \"{KEY}\"\n",
            hanging_server()
        ),
    );
    let r = run(stackpack(&root).args(["install", "--no-venv", &file_url(&a)]));
    assert_eq!(r.code, 6, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("no answer within 1s"), "{}", r.stderr);
    assert!(r.stderr.contains("http_timeout"), "{}", r.stderr);
    assert_eq!(installed_version(&root, "alpha").as_deref(), Some("1.0.0"));
    assert_eq!(pending(&root).unwrap()["packs"], json!(["alpha"]));
    assert!(!r.stdout.contains(KEY) && !r.stderr.contains(KEY));
}
