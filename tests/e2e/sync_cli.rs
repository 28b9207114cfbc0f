//! `stackpack sync` through the real binary: several roots on one machine stand for
//! several nodes, converging on one root's lockfile (read from a path, a file:// URL or
//! an https server). The safe outcomes checked: after a sync the root's stackpack.lock
//! is byte-identical to the desired one and every pack's files are the desired ones; a
//! second sync writes nothing; packs stackpack did not install are never touched; a
//! refused desired lockfile changes nothing; a killed sync converges on the next one.

use std::path::{Path, PathBuf};

use sha2::Digest;

use crate::common::{
    Reply, commit_version, file_url, files, https_server, installed_version, json, lockfile, mtime,
    on_main, pack_repo, pack_yaml, run, stackpack, write,
};

/// Two git packs, `alpha` and `beta`, installed on a source root whose lockfile the
/// other roots sync to.
struct Fleet {
    dir: tempfile::TempDir,
    alpha: PathBuf,
    source: PathBuf,
}

impl Fleet {
    fn new() -> Fleet {
        let dir = tempfile::tempdir().unwrap();
        let alpha = pack_repo(&dir.path().join("alpha"), "alpha", "1.0.0", "", "main");
        let beta = pack_repo(&dir.path().join("beta"), "beta", "1.0.0", "", "main");
        let source = dir.path().join("source");
        let r = run(stackpack(&source).args(["install", &on_main(&alpha), &on_main(&beta)]));
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
        Fleet { dir, alpha, source }
    }

    fn node(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The source root's lockfile, copied to `name` (a snapshot of the fleet revision).
    fn snapshot(&self, name: &str) -> PathBuf {
        let to = self.dir.path().join(name);
        std::fs::copy(self.source.join("stackpack.lock"), &to).unwrap();
        to
    }
}

fn sync(root: &Path, args: &[&str]) -> crate::common::Run {
    run(stackpack(root).arg("sync").args(args))
}

fn path_arg(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A root syncs to another root's lockfile: same lockfile bytes, same files; the
/// status records the desired digest; a second sync writes nothing and says so.
#[test]
fn a_root_converges_on_another_roots_lockfile_and_a_second_sync_is_a_no_op() {
    let f = Fleet::new();
    let node = f.node("node");
    let r = sync(
        &node,
        &["--json", path_arg(&f.source.join("stackpack.lock"))],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let report = json(&r);
    let desired = lockfile(&f.source);
    let digest = hex::encode(sha2::Sha256::digest(&desired));
    assert_eq!(report["desired_sha256"], digest.as_str());
    assert_eq!(report["applied"], true);
    assert_eq!(
        report["changed"]["installed"],
        serde_json::json!(["alpha", "beta"])
    );
    assert!(report["timings"]["total_ms"].is_u64(), "{report}");
    assert_eq!(lockfile(&node), desired);
    assert_eq!(files(&node, "packs"), files(&f.source, "packs"));
    assert_eq!(installed_version(&node, "alpha").as_deref(), Some("1.0.0"));

    let status = json(&run(stackpack(&node).args(["sync", "--status", "--json"])));
    assert_eq!(status["synced_sha256"], digest.as_str());
    assert_eq!(status["lockfile_is_synced"], true);

    let before = (
        mtime(&node.join("stackpack.lock")),
        mtime(&node.join(".stackpack-synced")),
    );
    let r = sync(&node, &[path_arg(&f.source.join("stackpack.lock"))]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("already in sync"), "{}", r.stdout);
    let after = (
        mtime(&node.join("stackpack.lock")),
        mtime(&node.join(".stackpack-synced")),
    );
    assert_eq!(
        before, after,
        "a no-op sync wrote the lockfile or the state"
    );
    let r = sync(
        &node,
        &["--json", path_arg(&f.source.join("stackpack.lock"))],
    );
    assert_eq!(json(&r)["already_in_sync"], true);
    // A registration owed by a sync killed after it changed the overrides (its marker
    // left behind) is made up by the next sync, which says so instead of "already in
    // sync", and then no longer owed.
    write(&node.join(".stackpack-sync-register"), "");
    let r = sync(&node, &[path_arg(&f.source.join("stackpack.lock"))]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(!r.stdout.contains("already in sync"), "{}", r.stdout);
    assert!(
        r.stdout.contains("registered 2 pack(s) again"),
        "{}",
        r.stdout
    );
    assert!(!node.join(".stackpack-sync-register").exists());
    let r = sync(&node, &[path_arg(&f.source.join("stackpack.lock"))]);
    assert!(r.stdout.contains("already in sync"), "{}", r.stdout);
    // An install after a sync sees the synced packs as intact.
    let r = run(stackpack(&node).args(["install", "--locked", "--json"]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        json(&r)["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["unchanged"] == true),
        "{}",
        r.stdout
    );
}

/// `--check` lists what differs and exits 4 before a sync, and passes after it; a pin
/// change, a pack dropped from the desired lockfile and drift are each listed and then
/// repaired; an unmanaged pack dir is never touched.
#[test]
fn check_lists_differences_and_sync_repairs_them_leaving_unmanaged_packs_alone() {
    let f = Fleet::new();
    let v1 = f.snapshot("v1.lock");
    let node = f.node("node");
    let r = sync(&node, &["--check", path_arg(&v1)]);
    assert_eq!(r.code, 4, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("missing alpha"), "{}", r.stdout);
    assert!(r.stdout.contains("missing beta"), "{}", r.stdout);
    assert!(!node.join("packs").exists(), "--check wrote packs/");
    assert_eq!(sync(&node, &[path_arg(&v1)]).code, 0);
    let r = sync(&node, &["--check", path_arg(&v1)]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("in sync"), "{}", r.stdout);

    // A hand-copied pack: not stackpack's, never touched.
    write(
        &node.join("packs/handmade/pack.yaml"),
        &pack_yaml("handmade", "0.1.0"),
    );

    // The fleet moves: alpha upgraded, beta removed.
    commit_version(&f.alpha, "alpha", "1.1.0", "");
    let r = run(stackpack(&f.source).args(["install", &on_main(&f.alpha)]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let r = run(stackpack(&f.source).args(["remove", "beta"]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let v2 = f.snapshot("v2.lock");
    // And drift on the node: a file edited under packs/alpha.
    write(
        &node.join("packs/alpha/actions/hello.yaml"),
        "edited: by hand\n",
    );

    let r = sync(&node, &["--check", "--json", path_arg(&v2)]);
    assert_eq!(r.code, 4, "{}{}", r.stdout, r.stderr);
    let kinds: Vec<(String, String)> = json(&r)["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["kind"].as_str().unwrap().into(),
                d["pack"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("differs".into(), "alpha".into()),
            ("extra".into(), "beta".into())
        ],
        "{}",
        r.stdout
    );
    let r = sync(&node, &["--check", path_arg(&v2)]);
    assert!(
        r.stdout.contains("1.0.0") && r.stdout.contains("→ 1.1.0"),
        "{}",
        r.stdout
    );

    let r = sync(&node, &["--json", path_arg(&v2)]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let report = json(&r);
    assert_eq!(report["changed"]["replaced"], serde_json::json!(["alpha"]));
    assert_eq!(report["changed"]["removed"], serde_json::json!(["beta"]));
    assert_eq!(lockfile(&node), std::fs::read(&v2).unwrap());
    assert_eq!(installed_version(&node, "alpha").as_deref(), Some("1.1.0"));
    assert!(!node.join("packs/beta").exists());
    assert!(
        node.join("packs/handmade/pack.yaml").exists(),
        "an unmanaged pack was touched"
    );
    let mut expected = files(&f.source, "packs");
    expected.extend(
        files(&node, "packs")
            .into_iter()
            .filter(|(k, _)| k.starts_with("handmade/")),
    );
    assert_eq!(files(&node, "packs"), expected);

    // Drift alone, with the same pin: listed as drifted, then repaired.
    write(
        &node.join("packs/alpha/actions/hello.yaml"),
        "edited: again\n",
    );
    let r = sync(&node, &["--check", path_arg(&v2)]);
    assert_eq!(r.code, 4, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("drifted alpha"), "{}", r.stdout);
    let r = sync(&node, &["--json", path_arg(&v2)]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        json(&r)["changed"]["replaced"],
        serde_json::json!(["alpha"])
    );
    assert_eq!(files(&node, "packs"), expected);
    assert_eq!(sync(&node, &["--check", path_arg(&v2)]).code, 0);
}

/// Four roots syncing the same lockfile at once end identical to it and to each other.
#[test]
fn four_roots_sync_the_same_lockfile_in_parallel() {
    let f = Fleet::new();
    let desired = f.snapshot("desired.lock");
    let nodes: Vec<PathBuf> = (0..4).map(|i| f.node(&format!("node{i}"))).collect();
    let children: Vec<_> = nodes
        .iter()
        .map(|n| {
            stackpack(n)
                .args(["sync", path_arg(&desired)])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let bytes = std::fs::read(&desired).unwrap();
    for n in &nodes {
        assert_eq!(lockfile(n), bytes, "{}", n.display());
        assert_eq!(
            files(n, "packs"),
            files(&f.source, "packs"),
            "{}",
            n.display()
        );
    }
}

/// A sync killed (as by kill -9) at each of its steps leaves a root the next sync
/// converges: the desired lockfile byte for byte, the desired files, `--check` clean.
#[test]
fn a_sync_killed_at_any_step_converges_on_the_next_one() {
    let f = Fleet::new();
    let v1 = f.snapshot("v1.lock");
    commit_version(&f.alpha, "alpha", "1.1.0", "");
    assert_eq!(
        run(stackpack(&f.source).args(["install", &on_main(&f.alpha)])).code,
        0
    );
    assert_eq!(run(stackpack(&f.source).args(["remove", "beta"])).code, 0);
    let v2 = f.snapshot("v2.lock");
    let points = [
        "sync-planned",
        "install-journal-written",
        "install-swapped",
        "install-end",
        "sync-installed",
        "remove-after-take-out",
        "remove-end",
        "sync-removed",
        "sync-state-written",
    ];
    for point in points {
        let node = f.node(&format!("node-{point}"));
        assert_eq!(sync(&node, &[path_arg(&v1)]).code, 0);
        let killed = run(stackpack(&node)
            .env("STACKPACK_FAULT_POINT", point)
            .args(["sync", path_arg(&v2)]));
        if killed.code == 0 {
            crate::common::cannot_run(
                "sync killed at a fault point",
                "fault points exist in debug builds only",
            );
            return;
        }
        assert!(
            killed.stderr.contains(&format!("fault point {point}")),
            "{point}: {}",
            killed.stderr
        );
        let r = sync(&node, &[path_arg(&v2)]);
        assert_eq!(r.code, 0, "{point}: {}{}", r.stdout, r.stderr);
        assert_eq!(lockfile(&node), std::fs::read(&v2).unwrap(), "{point}");
        assert_eq!(files(&node, "packs"), files(&f.source, "packs"), "{point}");
        let r = sync(&node, &["--check", path_arg(&v2)]);
        assert_eq!(r.code, 0, "{point}: {}{}", r.stdout, r.stderr);
        let r = sync(&node, &[path_arg(&v2)]);
        assert!(
            r.stdout.contains("already in sync"),
            "{point}: {}",
            r.stdout
        );
        assert!(!node.join(".stackpack-journal").exists(), "{point}");
    }
}

/// An invalid, missing or unsupported desired lockfile is refused naming it, before
/// anything on the root changes.
#[test]
fn a_bad_desired_lockfile_is_refused_by_name_and_changes_nothing() {
    let f = Fleet::new();
    let node = f.node("node");
    let good = f.snapshot("good.lock");
    assert_eq!(sync(&node, &[path_arg(&good)]).code, 0);
    let before = (
        lockfile(&node),
        files(&node, "packs"),
        mtime(&node.join(".stackpack-synced")),
    );

    let bad = f.dir.path().join("bad.lock");
    std::fs::write(&bad, "version = 1\n[[pack]]\nref = \"x\"\n").unwrap();
    let r = sync(&node, &[path_arg(&bad)]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains(path_arg(&bad)), "{}", r.stderr);
    assert!(r.stderr.contains("nothing was changed"), "{}", r.stderr);

    let traversal = f.dir.path().join("traversal.lock");
    let text = String::from_utf8(lockfile(&f.source))
        .unwrap()
        .replace("ref = \"beta\"", "ref = \"../beta\"");
    std::fs::write(&traversal, text).unwrap();
    let r = sync(&node, &[path_arg(&traversal)]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("../beta"), "{}", r.stderr);

    let missing = f.dir.path().join("missing.lock");
    let r = sync(&node, &[path_arg(&missing)]);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains(path_arg(&missing)), "{}", r.stderr);

    let r = sync(&node, &["ftp://127.0.0.1/fleet.lock"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("ftp://127.0.0.1/fleet.lock"),
        "{}",
        r.stderr
    );

    // A registry nobody listens on: refused naming it.
    let r = sync(&node, &["oci://127.0.0.1:1/fleet:prod"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("oci://127.0.0.1:1/fleet:prod"),
        "{}",
        r.stderr
    );

    let after = (
        lockfile(&node),
        files(&node, "packs"),
        mtime(&node.join(".stackpack-synced")),
    );
    assert_eq!(before, after, "a refused sync changed the root");
}

/// Over https (the configured CA trusted, credentials never shown) and file:// alike.
#[test]
fn sync_over_https_and_file_urls() {
    let f = Fleet::new();
    let desired = lockfile(&f.source);
    let (base, ca_pem) = https_server(vec![
        ("/fleet/prod.lock", Reply::ok(desired.clone())),
        ("/fleet/moved.lock", Reply::redirect("/fleet/prod.lock")),
        ("/fleet/huge.lock", Reply::ok(vec![b'#'; 5 << 20])),
    ]);
    let node = f.node("node");
    let ca = f.dir.path().join("ca.pem");
    std::fs::write(&ca, &ca_pem).unwrap();
    write(
        &node.join("stackpack.toml"),
        &format!("proxy_ca_bundle_path = {:?}\n", ca.display().to_string()),
    );
    let url = format!(
        "https://svc:s3cr3t-token@{}/fleet/moved.lock",
        base.trim_start_matches("https://")
    );
    let r = sync(&node, &["--json", &url]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(!r.stdout.contains("s3cr3t-token"), "{}", r.stdout);
    assert!(!r.stderr.contains("s3cr3t-token"), "{}", r.stderr);
    assert_eq!(lockfile(&node), desired);
    assert_eq!(files(&node, "packs"), files(&f.source, "packs"));
    let state = std::fs::read_to_string(node.join(".stackpack-synced")).unwrap();
    assert!(!state.contains("s3cr3t-token"), "{state}");

    // Over the size cap: refused naming the URL, the root as it was.
    let r = sync(&node, &[&format!("{base}/fleet/huge.lock")]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("/fleet/huge.lock"), "{}", r.stderr);
    assert_eq!(lockfile(&node), desired);

    let r = sync(&node, &[&format!("{base}/fleet/absent.lock")]);
    assert_ne!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("/fleet/absent.lock"), "{}", r.stderr);

    let other = f.node("other");
    let r = sync(&other, &[&file_url(&f.source.join("stackpack.lock"))]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(lockfile(&other), desired);
}

/// With st2 configured, a sync hands st2 exactly the packs it installed or replaced and
/// asks it to delete the resources of the packs it removed; a no-op sync and
/// `--no-st2` call nothing.
#[test]
fn sync_hands_only_the_changed_and_removed_packs_to_st2() {
    use stackpack_testkit::st2::{Accept, St2Api};
    const KEY: &str = "st2-sync-key-5ecr3t";
    let f = Fleet::new();
    let v1 = f.snapshot("v1.lock");
    let node = f.node("node");
    let st2 = St2Api::start(&node.join("packs"), Accept::ApiKey(KEY.into()));
    write(
        &node.join("stackpack.toml"),
        &format!(
            "[st2]\napi_url = \"{}\"\napi_key_env = \"MY_ST2_KEY\"\n",
            st2.api_url()
        ),
    );
    let go = |args: &[&str]| {
        run(stackpack(&node)
            .env("MY_ST2_KEY", KEY)
            .arg("sync")
            .args(args))
    };

    let r = go(&["--json", path_arg(&v1)]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let sent = st2.registrations();
    assert_eq!(sent.len(), 1, "{sent:?}");
    let mut packs: Vec<String> = sent[0]["packs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    packs.sort();
    assert_eq!(packs, ["alpha", "beta"]);
    let calls = st2.calls().len();
    assert!(go(&[path_arg(&v1)]).stdout.contains("already in sync"));
    assert_eq!(st2.calls().len(), calls, "a no-op sync called st2");

    commit_version(&f.alpha, "alpha", "1.1.0", "");
    assert_eq!(
        run(stackpack(&f.source).args(["install", &on_main(&f.alpha)])).code,
        0
    );
    assert_eq!(run(stackpack(&f.source).args(["remove", "beta"])).code, 0);
    let v2 = f.snapshot("v2.lock");
    let r = go(&["--json", path_arg(&v2)]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let sent = st2.registrations();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(sent[1]["packs"], serde_json::json!(["alpha"]));
    let out = json(&r);
    assert_eq!(out["st2"]["removed"][0]["pack"], "beta", "{out}");
    assert!(!r.stdout.contains(KEY) && !r.stderr.contains(KEY));

    // --no-st2: the root changes, st2 is not called.
    write(
        &node.join("packs/alpha/actions/hello.yaml"),
        "edited: by hand\n",
    );
    let calls = st2.calls().len();
    let r = go(&["--no-st2", path_arg(&v2)]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("replaced alpha"), "{}", r.stdout);
    assert_eq!(st2.calls().len(), calls, "--no-st2 called st2");
}

/// A pack the desired lockfile records but that this root holds without stackpack
/// having installed it (a hand-copied dir) is not replaced: the sync is refused with
/// exit 4, naming it, before anything changes; `--check` lists it.
#[test]
fn a_hand_copied_pack_the_desired_lockfile_names_is_not_replaced() {
    let f = Fleet::new();
    let desired = f.snapshot("desired.lock");
    let node = f.node("node");
    write(
        &node.join("packs/beta/pack.yaml"),
        &pack_yaml("beta", "0.0.1"),
    );
    let r = sync(&node, &["--check", path_arg(&desired)]);
    assert_eq!(r.code, 4, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("unmanaged beta"), "{}", r.stdout);
    assert!(r.stdout.contains("missing alpha"), "{}", r.stdout);
    let r = sync(&node, &[path_arg(&desired)]);
    assert_eq!(r.code, 4, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("beta") && r.stderr.contains("nothing was changed"),
        "{}",
        r.stderr
    );
    assert_eq!(installed_version(&node, "beta").as_deref(), Some("0.0.1"));
    assert!(
        !node.join("packs/alpha").exists(),
        "a refused sync installed a pack"
    );
    assert!(!node.join("stackpack.lock").exists());
}
