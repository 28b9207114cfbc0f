//! The handoff to StackStorm beyond install and register, through the real binary
//! against stackpack-testkit's emulation of st2's API: `register --st2` (send what is
//! pending, nothing registered locally), and `remove` deleting the removed packs'
//! resources through st2's API, with failures recorded and resent.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use stackpack_testkit::st2::{Accept, St2Api, down_url};

use crate::common::{example_wasm, file_url, installed_version, pack_yaml, run, stackpack, write};
use crate::st2_cli::{assert_key_nowhere, configure, pending};

const KEY: &str = "st2-key-m0re-5ecr3t-77";

/// A pack source with two actions, a rule, an alias and a sensor.
fn source(dir: &Path, name: &str) -> PathBuf {
    let d = dir.join(format!("src-{name}"));
    write(
        &d.join("sensors/watch.yaml"),
        "---\nclass_name: Watch\nentry_point: watch.py\ntrigger_types:\n  - name: changed\n",
    );
    write(&d.join("pack.yaml"), &pack_yaml(name, "1.0.0"));
    for a in ["one", "two"] {
        write(
            &d.join(format!("actions/{a}.yaml")),
            &format!("---\nname: {a}\nrunner_type: local-shell-cmd\n"),
        );
    }
    write(
        &d.join("rules/on_one.yaml"),
        &format!(
            "---\nname: on_one\npack: {name}\ntrigger:\n  type: core.st2.webhook\naction:\n  ref: {name}.one\n"
        ),
    );
    write(
        &d.join("aliases/say.yaml"),
        &format!("---\nname: say\naction_ref: {name}.one\nformats:\n  - \"say\"\n"),
    );
    d
}

fn install(root: &Path, srcs: &[&Path]) {
    let mut args = vec!["install".to_string(), "--no-venv".to_string()];
    args.extend(srcs.iter().map(|s| file_url(s)));
    let r = run(stackpack(root).env("MY_ST2_KEY", KEY).args(&args));
    assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
}

#[test]
fn register_st2_sends_named_and_pending_packs_without_registering_locally() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let (a, b) = (source(tmp.path(), "alpha"), source(tmp.path(), "beta"));
    configure(&root, &down_url());
    let r = run(stackpack(&root).env("MY_ST2_KEY", KEY).args([
        "install",
        "--no-venv",
        &file_url(&a),
        &file_url(&b),
    ]));
    assert_eq!(r.code, 6, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("stackpack register --st2"),
        "{}",
        r.stderr
    );
    let db = root.join("registry.db");
    let before = std::fs::metadata(&db).unwrap().modified().unwrap();

    let st2 = St2Api::start(&root.join("packs"), Accept::ApiKey(KEY.into()));
    configure(&root, &st2.api_url());
    let r = run(stackpack(&root)
        .env("MY_ST2_KEY", KEY)
        .args(["--json", "register", "--st2"]));
    assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    let sent = st2.registrations();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["packs"], json!(["alpha", "beta"]));
    let out: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(out["st2"]["counts"]["actions"], json!(4), "{out}");
    assert!(pending(&root).is_none(), "the record is cleared");
    // Safe outcome: the local registry was not written again.
    assert_eq!(std::fs::metadata(&db).unwrap().modified().unwrap(), before);
    assert!(out.get("actions").is_none(), "no local counts: {out}");

    // Nothing pending and no pack named: nothing sent.
    let r = run(stackpack(&root)
        .env("MY_ST2_KEY", KEY)
        .args(["register", "--st2"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("Nothing to send to st2"), "{}", r.stdout);
    assert_eq!(st2.registrations().len(), 1);

    // A named pack is sent alone.
    let r = run(stackpack(&root)
        .env("MY_ST2_KEY", KEY)
        .args(["register", "--st2", "beta"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(st2.registrations()[1]["packs"], json!(["beta"]));
    assert!(
        r.stdout.contains("st2 registered beta: 2 actions"),
        "{}",
        r.stdout
    );

    // A pack that is not installed is named, and nothing is sent.
    let r = run(stackpack(&root)
        .env("MY_ST2_KEY", KEY)
        .args(["register", "--st2", "gamma"]));
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(st2.registrations().len(), 2);
    assert_key_nowhere(KEY, &root, &[&r.stdout, &r.stderr]);
}

#[test]
fn register_st2_without_an_api_says_which_setting_to_set() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let a = source(tmp.path(), "alpha");
    let r = run(stackpack(&root).args(["install", "--no-venv", &file_url(&a)]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run(stackpack(&root)
        .env_remove("ST2_API_URL")
        .args(["register", "--st2", "alpha"]));
    assert_eq!(r.code, 2, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("[st2] api_url") && r.stderr.contains("ST2_API_URL"),
        "{}",
        r.stderr
    );
}

#[test]
fn remove_deletes_exactly_the_removed_packs_resources_in_st2() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let (a, b) = (source(tmp.path(), "alpha"), source(tmp.path(), "beta"));
    let st2 = St2Api::start(&root.join("packs"), Accept::ApiKey(KEY.into()));
    configure(&root, &st2.api_url());
    install(&root, &[&a, &b]);
    assert_eq!(st2.held("actions", "alpha"), ["alpha.one", "alpha.two"]);
    let calls_before = st2.calls().len();

    let r = run(stackpack(&root)
        .env("MY_ST2_KEY", KEY)
        .args(["--json", "remove", "alpha"]));
    assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    for c in ["actions", "rules", "actionalias"] {
        assert!(st2.held(c, "alpha").is_empty(), "{c} of alpha still held");
        assert!(!st2.held(c, "beta").is_empty(), "{c} of beta deleted");
    }
    let calls = st2.calls()[calls_before..].to_vec();
    let deletes: Vec<&str> = calls
        .iter()
        .filter(|(m, _)| m == "DELETE")
        .map(|(_, p)| p.as_str())
        .collect();
    // Rules first: they refer to actions.
    assert_eq!(
        deletes,
        [
            "/v1/rules/alpha.on_one",
            "/v1/actionalias/alpha.say",
            "/v1/actions/alpha.one",
            "/v1/actions/alpha.two"
        ]
    );
    assert!(
        calls.iter().all(|(_, p)| !p.contains("beta")),
        "only alpha is touched: {calls:?}"
    );
    for req in &st2.server.requests()[calls_before + 1..] {
        assert_eq!(req.header("st2-api-key"), Some(KEY));
    }
    assert!(st2.registrations().len() == 1, "nothing registered again");
    let out: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(out["st2"]["removed"][0]["pack"], json!("alpha"), "{out}");
    assert_eq!(
        out["st2"]["removed"][0]["deleted"]["actions"],
        json!(2),
        "{out}"
    );
    assert!(
        out["st2"]["st2_keeps"]
            .as_str()
            .unwrap()
            .contains("sensor types")
    );

    // The text names what st2 deleted and what it keeps.
    install(&root, &[&a]);
    let r = run(stackpack(&root)
        .env("MY_ST2_KEY", KEY)
        .args(["remove", "alpha"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("st2 unregistered alpha: deleted 2 actions, 1 aliases, 1 rules")
            && r.stdout.contains("st2 keeps the pack's entry"),
        "{}",
        r.stdout
    );

    // --no-st2 leaves st2 alone.
    let n = st2.server.requests().len();
    let r = run(stackpack(&root)
        .env("MY_ST2_KEY", KEY)
        .args(["remove", "--no-st2", "beta"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(st2.server.requests().len(), n);
    assert_key_nowhere(KEY, &root, &[&r.stdout, &r.stderr]);
}

#[test]
fn remove_with_st2_down_records_the_pack_and_the_next_command_unregisters_it() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let (a, b) = (source(tmp.path(), "alpha"), source(tmp.path(), "beta"));
    let st2 = St2Api::start(&root.join("packs"), Accept::ApiKey(KEY.into()));
    configure(&root, &st2.api_url());
    install(&root, &[&a, &b]);

    configure(&root, &down_url());
    let r = run(stackpack(&root)
        .env("MY_ST2_KEY", KEY)
        .args(["remove", "alpha", "beta"]));
    assert_eq!(r.code, 6, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("st2 still holds the resources of removed packs: alpha, beta")
            && r.stderr.contains("st2ctl status"),
        "{}",
        r.stderr
    );
    // Nothing lost: the packs are gone locally, and recorded for st2.
    assert_eq!(installed_version(&root, "alpha"), None);
    assert_eq!(pending(&root).unwrap()["removed"], json!(["alpha", "beta"]));
    assert_eq!(pending(&root).unwrap()["packs"], json!([]));

    // st2 is back but refuses the key: still recorded, the fix named.
    configure(&root, &st2.api_url());
    let r = run(stackpack(&root)
        .env("MY_ST2_KEY", "not-the-key")
        .args(["register", "--st2"]));
    assert_eq!(r.code, 6, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("HTTP 401") && r.stderr.contains("api_key_env"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("not-the-key"));
    assert_eq!(pending(&root).unwrap()["removed"], json!(["alpha", "beta"]));
    assert_eq!(st2.held("actions", "alpha").len(), 2);

    // Reinstalling beta takes it off the removal record; the install's handoff deletes
    // alpha's resources and registers beta.
    let r = run(stackpack(&root).env("MY_ST2_KEY", KEY).args([
        "--json",
        "install",
        "--no-venv",
        &file_url(&b),
    ]));
    assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(st2.held("actions", "alpha").is_empty());
    assert_eq!(st2.held("actions", "beta"), ["beta.one", "beta.two"]);
    let out: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(out["st2"]["removed"][0]["pack"], json!("alpha"), "{out}");
    assert!(pending(&root).is_none(), "the record is cleared");
    assert_key_nowhere(KEY, &root, &[&r.stdout, &r.stderr]);
}

#[test]
fn remove_rejected_by_st2_names_its_faultstring_and_keeps_the_record() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let a = source(tmp.path(), "alpha");
    let st2 = St2Api::start(&root.join("packs"), Accept::ApiKey(KEY.into()));
    configure(&root, &st2.api_url());
    install(&root, &[&a]);
    st2.fail(Some((400, "Invalid pack filter")));
    let r = run(stackpack(&root)
        .env("MY_ST2_KEY", KEY)
        .args(["--json", "remove", "alpha"]));
    assert_eq!(r.code, 6, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("Invalid pack filter"), "{}", r.stderr);
    let out: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(out["st2"]["pending_removed"], json!(["alpha"]), "{out}");
    assert_eq!(pending(&root).unwrap()["removed"], json!(["alpha"]));
    st2.fail(None);
    let r = run(stackpack(&root)
        .env("MY_ST2_KEY", KEY)
        .args(["register", "--st2"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(st2.held("actions", "alpha").is_empty());
    assert!(pending(&root).is_none());
}

#[test]
fn slow_st2_on_remove_costs_one_deadline_and_records_every_pack() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let (a, b) = (source(tmp.path(), "alpha"), source(tmp.path(), "beta"));
    let r = run(stackpack(&root).args(["install", "--no-venv", &file_url(&a), &file_url(&b)]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    write(
        &root.join("stackpack.toml"),
        &format!(
            "http_timeout = 1\n[st2]\napi_url = \"{}\"\napi_key_env = \"MY_ST2_KEY\"\n",
            crate::common::hanging_server()
        ),
    );
    let started = std::time::Instant::now();
    let r = run(stackpack(&root)
        .env("MY_ST2_KEY", KEY)
        .args(["remove", "alpha", "beta"]));
    let took = started.elapsed();
    assert_eq!(r.code, 6, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("no answer within 1s"), "{}", r.stderr);
    // After the first pack timed out, the second is recorded without waiting again.
    assert!(took < std::time::Duration::from_secs(8), "took {took:?}");
    assert_eq!(installed_version(&root, "beta"), None);
    assert_eq!(pending(&root).unwrap()["removed"], json!(["alpha", "beta"]));
    assert_key_nowhere(KEY, &root, &[&r.stdout, &r.stderr]);
}

/// A config with `[st2]` and the example corp policy, which disables the sensors of
/// packs not installed from its trusted prefix (all of these, from file:// sources).
fn policy_config(dir: &Path, api_url: &str) -> PathBuf {
    let wasm = example_wasm("corp-policy");
    let file = dir.join("corp-policy.wasm");
    std::fs::write(&file, &wasm[..]).unwrap();
    let path = dir.join("stackpack.toml");
    write(
        &path,
        &format!(
            "[plugins.corp-policy]\nkind = \"policy\"\npath = \"{}\"\nsha256 = \"{}\"\n\
             config = {{ trusted-source-prefix = \"git:gitlab.corp.example/\" }}\n\
             [st2]\napi_url = \"{api_url}\"\napi_key_env = \"MY_ST2_KEY\"\n",
            file.display(),
            stackpack_plugin::sha256_hex(&wasm)
        ),
    );
    path
}

#[test]
fn policy_verdicts_reach_st2_by_put_and_register_reapplies_them() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let a = source(tmp.path(), "alpha");
    let st2 = St2Api::start(&root.join("packs"), Accept::ApiKey(KEY.into()));
    let config = policy_config(tmp.path(), &st2.api_url());
    let r = run(stackpack(&root)
        .env("MY_ST2_KEY", KEY)
        .arg("--config")
        .arg(&config)
        .args(["--json", "install", "--no-venv", &file_url(&a)]));
    assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    // Safe outcome: st2 runs the sensor the policy disabled nowhere.
    assert_eq!(st2.enabled("sensortypes", "alpha.Watch"), Some(false));
    assert_eq!(st2.enabled("actions", "alpha.one"), Some(true));
    let calls = st2.calls();
    assert_eq!(
        calls,
        [
            ("GET".to_string(), "/v1/sensortypes/alpha.Watch".to_string()),
            ("PUT".to_string(), "/v1/sensortypes/alpha.Watch".to_string()),
        ],
        "only the overridden resource is read and put back"
    );
    let put = st2
        .server
        .requests()
        .into_iter()
        .find(|q| q.method == "PUT")
        .unwrap();
    assert_eq!(put.header("st2-api-key"), Some(KEY));
    let body: Value = serde_json::from_slice(&put.body).unwrap();
    assert_eq!(body["enabled"], json!(false));
    assert_eq!(
        body["name"],
        json!("Watch"),
        "the whole resource is put back"
    );
    let out: Value = serde_json::from_str(&r.stdout).unwrap();
    let applied = &out["st2"]["overrides"][0];
    assert_eq!(
        (&applied["ref"], &applied["enabled"], &applied["policy"]),
        (&json!("alpha.Watch"), &json!(false), &json!("corp-policy")),
        "{out}"
    );

    // st2 registering the pack again (as `st2ctl reload` does) forgets the verdict;
    // `stackpack register` applies it again.
    let r = run(stackpack(&root)
        .env("MY_ST2_KEY", KEY)
        .arg("--config")
        .arg(&config)
        .args(["register", "alpha"]));
    assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert_eq!(st2.registrations().len(), 2);
    assert_eq!(st2.enabled("sensortypes", "alpha.Watch"), Some(false));
    assert!(
        r.stdout
            .contains("st2 has alpha.Watch disabled by policy corp-policy."),
        "{}",
        r.stdout
    );
    let puts = st2.calls().iter().filter(|(m, _)| m == "PUT").count();
    assert_eq!(puts, 2);

    // A refused PUT: exit 6, the verdict and st2's faultstring named, the pack recorded,
    // and the next `register --st2` registers it and applies the verdict.
    st2.fail_method("PUT", 400, "'entry_point' is a required property");
    let r = run(stackpack(&root)
        .env("MY_ST2_KEY", KEY)
        .arg("--config")
        .arg(&config)
        .args(["register", "alpha"]));
    assert_eq!(r.code, 6, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("enabled=false on alpha.Watch")
            && r.stderr.contains("'entry_point' is a required property"),
        "{}",
        r.stderr
    );
    assert_eq!(pending(&root).unwrap()["packs"], json!(["alpha"]));
    assert_eq!(st2.enabled("sensortypes", "alpha.Watch"), Some(true));
    st2.fail(None);
    let r = run(stackpack(&root)
        .env("MY_ST2_KEY", KEY)
        .arg("--config")
        .arg(&config)
        .args(["register", "--st2"]));
    assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert_eq!(st2.enabled("sensortypes", "alpha.Watch"), Some(false));
    assert!(pending(&root).is_none());
    assert_key_nowhere(KEY, &root, &[&r.stdout, &r.stderr]);
}

#[test]
fn doctor_checks_the_credential_and_names_packs_st2_has_differently() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let (a, b, c) = (
        source(tmp.path(), "alpha"),
        source(tmp.path(), "beta"),
        source(tmp.path(), "gamma"),
    );
    let st2 = St2Api::start(&root.join("packs"), Accept::ApiKey(KEY.into()));
    configure(&root, &st2.api_url());
    install(&root, &[&a, &b]);
    let n = st2.server.requests().len();
    let r = run(stackpack(&root).env("MY_ST2_KEY", KEY).args(["doctor"]));
    assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("credential from") && r.stdout.contains("api_key_env"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("Every pack matches"), "{}", r.stdout);
    let reqs = &st2.server.requests()[n..];
    assert!(reqs.iter().all(|q| q.method == "GET"), "doctor only reads");
    assert_eq!(reqs[0].header("st2-api-key"), Some(KEY));
    assert!(reqs[0].path.starts_with("/v1/packs?"), "{}", reqs[0].path);

    // Drift: a file added to alpha, a version bumped in beta (both behind st2's back),
    // gamma installed without telling st2.
    write(
        &root.join("packs/alpha/actions/three.yaml"),
        "---\nname: three\nrunner_type: local-shell-cmd\n",
    );
    write(
        &root.join("packs/beta/pack.yaml"),
        &pack_yaml("beta", "1.1.0"),
    );
    let r = run(stackpack(&root).env("MY_ST2_KEY", KEY).args([
        "install",
        "--no-venv",
        "--no-st2",
        &file_url(&c),
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run(stackpack(&root)
        .env("MY_ST2_KEY", KEY)
        .args(["--json", "doctor"]));
    assert_eq!(r.code, 1, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    let out: Value = serde_json::from_str(&r.stdout).unwrap();
    let drift: Vec<(String, String)> = out["drift"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["pack"].as_str().unwrap().to_string(),
                d["problem"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        drift,
        [
            ("alpha".to_string(), "files".to_string()),
            ("beta".to_string(), "version".to_string()),
            ("gamma".to_string(), "not-in-st2".to_string()),
        ],
        "{out}"
    );
    assert_eq!(
        out["drift"][0]["only_on_disk"],
        json!(["actions/three.yaml"])
    );

    // After `register --st2` of those packs, and a removal st2 keeps the entry of.
    let r = run(stackpack(&root)
        .env("MY_ST2_KEY", KEY)
        .args(["register", "--st2", "alpha", "beta", "gamma"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run(stackpack(&root)
        .env("MY_ST2_KEY", KEY)
        .args(["remove", "gamma"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run(stackpack(&root).env("MY_ST2_KEY", KEY).args(["doctor"]));
    assert_eq!(r.code, 1, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("gamma: st2 has it registered, but it is not installed here")
            && !r.stdout.contains("alpha:")
            && !r.stdout.contains("beta:"),
        "{}",
        r.stdout
    );
    assert_key_nowhere(KEY, &root, &[&r.stdout, &r.stderr]);
}

#[test]
fn doctor_names_the_setting_to_fix_when_st2_refuses_or_is_down() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let st2 = St2Api::start(&root.join("packs"), Accept::ApiKey(KEY.into()));
    configure(&root, &st2.api_url());
    let r = run(stackpack(&root)
        .env("MY_ST2_KEY", "wrong-key-1234")
        .args(["doctor"]));
    assert_eq!(r.code, 6, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("HTTP 401") && r.stderr.contains("api_key_env"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("wrong-key-1234") && !r.stdout.contains("wrong-key-1234"));
    st2.fail(Some((
        403,
        "User \"svc\" doesn't have required permission \"pack_list\"",
    )));
    let r = run(stackpack(&root).env("MY_ST2_KEY", KEY).args(["doctor"]));
    assert_eq!(r.code, 6, "{}", r.stderr);
    assert!(
        r.stderr.contains("HTTP 403") && r.stderr.contains("pack_list"),
        "{}",
        r.stderr
    );

    configure(&root, &down_url());
    let r = run(stackpack(&root).env("MY_ST2_KEY", KEY).args(["doctor"]));
    assert_eq!(r.code, 6, "{}", r.stderr);
    assert!(r.stderr.contains("st2ctl status"), "{}", r.stderr);

    std::fs::remove_file(root.join("stackpack.toml")).unwrap();
    let r = run(stackpack(&root).env_remove("ST2_API_URL").args(["doctor"]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("[st2] api_url"), "{}", r.stderr);
    assert_key_nowhere(KEY, &root, &[&r.stdout, &r.stderr]);
}
