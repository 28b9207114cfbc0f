//! A fleet on one lockfile through a real OCI registry (Debian's docker-registry on
//! 127.0.0.1): a source root publishes its lockfile and overrides with
//! `push --lockfile oci://…:prod`, and several roots on one machine, standing for several
//! nodes, `sync oci://…:prod`. The safe outcomes checked: every node ends with the
//! desired lockfile byte for byte, the desired pack files and overrides, and the same
//! registry rows; a second sync writes nothing; packs stackpack did not install are never
//! touched; drift is repaired on the drifted node only; a killed sync converges on the
//! next; `--check` fails before and passes after; a moved tag moves the fleet; a plugin
//! pulled from the registry is refused unless it has the pinned sha256.

use std::path::{Path, PathBuf};

use sha2::Digest;
use stackpack_testkit::registry::{Registry, RegistryOptions};

use crate::common::{
    Run, cannot_run, commit_version, example_wasm, files, json, lockfile, mtime, on_main,
    pack_repo, run, stackpack, write,
};

/// The packs, the source root and the registry of one test.
struct Fleet {
    dir: tempfile::TempDir,
    alpha: PathBuf,
    source: PathBuf,
    config: PathBuf,
    registry: Registry,
}

impl Fleet {
    /// Starts the registry and installs `alpha` and `beta` (git, file://) on the source
    /// root, with an `overrides/_global.yaml` disabling actions; none when the registry
    /// cannot run here.
    fn new(case: &str) -> Option<Fleet> {
        let registry = match Registry::start(RegistryOptions::default()) {
            Ok(r) => r,
            Err(why) => {
                cannot_run(case, &why);
                return None;
            }
        };
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("stackpack.toml");
        write(
            &config,
            &format!("insecure_registries = [\"{}\"]\n", registry.host_port()),
        );
        let alpha = pack_repo(&dir.path().join("alpha"), "alpha", "1.0.0", "", "main");
        let beta = pack_repo(&dir.path().join("beta"), "beta", "1.0.0", "", "main");
        let source = dir.path().join("source");
        let f = Fleet {
            dir,
            alpha,
            source,
            config,
            registry,
        };
        let r = f.sp(&f.source, &["install", &on_main(&f.alpha), &on_main(&beta)]);
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
        write(
            &f.source.join("overrides/_global.yaml"),
            "actions:\n  defaults:\n    enabled: false\n",
        );
        Some(f)
    }

    /// stackpack on `root` with the fleet's config (the registry is insecure: plain HTTP).
    fn sp(&self, root: &Path, args: &[&str]) -> Run {
        run(stackpack(root).arg("--config").arg(&self.config).args(args))
    }

    fn node(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn channel(&self, tag: &str) -> String {
        self.registry.oci(&format!("fleet/st2:{tag}"))
    }

    /// Publishes the source root's lockfile and overrides as `tag`; the manifest digest.
    fn publish(&self, tag: &str) -> String {
        let r = self.sp(
            &self.source,
            &["push", "--lockfile", &self.channel(tag), "--json"],
        );
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
        let digest = json(&r)["digest"].as_str().unwrap().to_string();
        assert!(digest.starts_with("sha256:"), "{digest}");
        digest
    }

    fn sync(&self, root: &Path, args: &[&str]) -> Run {
        let mut all = vec!["sync"];
        all.extend_from_slice(args);
        self.sp(root, &all)
    }
}

/// The rows of `<root>/registry.db` that must agree between nodes: packs (without the
/// registration time) and resources, with the root's own path written as `<root>`.
fn registry_rows(root: &Path) -> Vec<String> {
    let db = rusqlite::Connection::open(root.join("registry.db")).unwrap();
    let mut rows = Vec::new();
    for sql in [
        "SELECT ref, version, path, source, metadata FROM packs ORDER BY ref",
        "SELECT pack, type, ref, name, file, enabled, pack_enabled, decided_by, reason, \
         metadata FROM resources ORDER BY type, ref",
    ] {
        let mut stmt = db.prepare(sql).unwrap();
        let n = stmt.column_count();
        let mut q = stmt.query([]).unwrap();
        while let Some(row) = q.next().unwrap() {
            let cells: Vec<String> = (0..n)
                .map(|i| {
                    let v: rusqlite::types::Value = row.get(i).unwrap();
                    format!("{v:?}")
                })
                .collect();
            rows.push(cells.join(" | ").replace(root.to_str().unwrap(), "<root>"));
        }
    }
    rows
}

/// `enabled` of resource `ref_` in the node's registry.
fn enabled(root: &Path, ref_: &str) -> Option<i64> {
    let db = rusqlite::Connection::open(root.join("registry.db")).unwrap();
    db.query_row(
        "SELECT enabled FROM resources WHERE ref = ?1",
        [ref_],
        |r| r.get(0),
    )
    .ok()
}

/// Eight nodes sync one channel in parallel: each ends with the source's lockfile byte
/// for byte, its pack files and overrides, and registry rows equal to the others' (the
/// override applied: actions disabled); the status and `list --json` name the manifest
/// digest; a second sync on every node writes nothing and says so.
#[test]
fn eight_nodes_sync_one_channel_in_parallel_and_agree() {
    let Some(f) = Fleet::new("eight nodes sync from a registry") else {
        return;
    };
    let digest = f.publish("prod");
    let channel = f.channel("prod");
    let nodes: Vec<PathBuf> = (0..8).map(|i| f.node(&format!("node-{i}"))).collect();
    let runs: Vec<Run> = std::thread::scope(|scope| {
        let handles: Vec<_> = nodes
            .iter()
            .map(|n| {
                let (f, channel) = (&f, &channel);
                scope.spawn(move || f.sync(n, &["--json", channel]))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let desired = lockfile(&f.source);
    let first_rows = registry_rows(&nodes[0]);
    assert!(!first_rows.is_empty());
    for (node, r) in nodes.iter().zip(&runs) {
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
        let report = json(r);
        assert_eq!(report["digest"], digest.as_str(), "{report}");
        assert_eq!(report["applied"], true);
        assert_eq!(report["overrides_changed"], true);
        assert_eq!(lockfile(node), desired);
        assert_eq!(files(node, "packs"), files(&f.source, "packs"));
        assert_eq!(files(node, "overrides"), files(&f.source, "overrides"));
        assert_eq!(registry_rows(node), first_rows);
        assert_eq!(
            enabled(node, "alpha.hello"),
            Some(0),
            "the override applies"
        );

        let status = json(&f.sp(node, &["sync", "--status", "--json"]));
        assert_eq!(status["synced_digest"], digest.as_str());
        assert_eq!(status["synced_from"], channel.as_str());
        assert_eq!(status["lockfile_is_synced"], true);
        let list = json(&f.sp(node, &["list", "--json"]));
        assert_eq!(list["synced"]["digest"], digest.as_str());
        assert_eq!(list["synced"]["source"], channel.as_str());
        assert!(
            list["synced"]["at"].as_str().unwrap().contains('T'),
            "{list}"
        );
        assert_eq!(list["packs"].as_array().unwrap().len(), 2);
        let table = f.sp(node, &["list"]);
        assert!(
            table
                .stdout
                .contains(&format!("last synced to {channel} ({digest})")),
            "{}",
            table.stdout
        );
    }

    for node in &nodes {
        let watched = [
            node.join("stackpack.lock"),
            node.join(".stackpack-synced"),
            node.join("overrides/_global.yaml"),
            node.join("registry.db"),
        ];
        let before: Vec<_> = watched.iter().map(|p| mtime(p)).collect();
        let r = f.sync(node, &[&channel]);
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
        assert!(r.stdout.contains("already in sync"), "{}", r.stdout);
        let after: Vec<_> = watched.iter().map(|p| mtime(p)).collect();
        assert_eq!(before, after, "a second sync wrote nothing");
        assert!(!node.join(".stackpack-sync-register").exists());
    }
}

/// `--check` fails before and passes after; a pack removed from the desired lockfile is
/// removed while a hand-copied dir stays; a moved tag (new overrides, a new version)
/// moves the node on its next sync; drift on one node is repaired there only.
#[test]
fn check_removal_retag_and_drift() {
    let Some(f) = Fleet::new("sync from a registry: removal, retag, drift") else {
        return;
    };
    f.publish("prod");
    let channel = f.channel("prod");
    let (one, two) = (f.node("one"), f.node("two"));

    let r = f.sync(&one, &["--check", &channel]);
    assert_ne!(r.code, 0, "a bare root differs: {}", r.stdout);
    assert!(r.stdout.contains("missing alpha"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("override overrides/_global.yaml is missing here"),
        "{}",
        r.stdout
    );
    assert!(
        !one.join("stackpack.lock").exists(),
        "--check wrote nothing"
    );
    for node in [&one, &two] {
        let r = f.sync(node, &[&channel]);
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    }
    let r = f.sync(&one, &["--check", &channel]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);

    // The next revision: beta gone, alpha 1.1.0, actions enabled again, a pack file.
    write(
        &one.join("packs/handmade/pack.yaml"),
        &crate::common::pack_yaml("handmade", "0.1.0"),
    );
    commit_version(&f.alpha, "alpha", "1.1.0", "");
    let r = f.sp(&f.source, &["install", &on_main(&f.alpha)]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(f.sp(&f.source, &["remove", "beta"]).code, 0);
    write(
        &f.source.join("overrides/_global.yaml"),
        "actions:\n  defaults:\n    enabled: true\n",
    );
    write(&f.source.join("overrides/alpha.yaml"), "");
    let v2 = f.publish("prod");

    let r = f.sync(&one, &["--check", "--json", &channel]);
    assert_ne!(r.code, 0);
    let check = json(&r);
    let kinds = pairs(&check["differences"], "kind", "pack");
    assert_eq!(kinds, vec!["differs alpha", "extra beta"], "{check}");
    let overrides = pairs(&check["override_differences"], "change", "path");
    assert_eq!(overrides, vec!["changed _global.yaml", "added alpha.yaml"]);

    let r = f.sync(&one, &["--json", &channel]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let report = json(&r);
    assert_eq!(report["digest"], v2.as_str());
    assert_eq!(report["changed"]["removed"], serde_json::json!(["beta"]));
    assert_eq!(report["changed"]["replaced"], serde_json::json!(["alpha"]));
    assert!(!one.join("packs/beta").exists(), "the removed pack is gone");
    assert!(
        one.join("packs/handmade/pack.yaml").exists(),
        "the unmanaged dir stays"
    );
    assert_eq!(lockfile(&one), lockfile(&f.source));
    assert_eq!(files(&one, "overrides"), files(&f.source, "overrides"));
    assert_eq!(
        enabled(&one, "alpha.hello"),
        Some(1),
        "registered with the new override"
    );
    assert_eq!(enabled(&one, "beta.hello"), None, "beta unregistered");
    assert_eq!(f.sync(&one, &["--check", &channel]).code, 0);

    // Drift on one node: repaired there; the other node is left alone.
    f.sync(&two, &[&channel]);
    let two_lock = mtime(&two.join("stackpack.lock"));
    let two_files = files(&two, "packs");
    write(
        &one.join("packs/alpha/actions/hello.yaml"),
        "tampered: true\n",
    );
    let r = f.sync(&one, &["--check", &channel]);
    assert_ne!(r.code, 0);
    assert!(r.stdout.contains("drifted alpha"), "{}", r.stdout);
    assert_eq!(
        f.sync(&two, &["--check", &channel]).code,
        0,
        "two did not drift"
    );
    let r = f.sync(&one, &[&channel]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("replaced alpha"), "{}", r.stdout);
    assert_eq!(files(&one, "packs/alpha"), files(&f.source, "packs/alpha"));
    assert_eq!(f.sync(&one, &["--check", &channel]).code, 0);
    assert_eq!(mtime(&two.join("stackpack.lock")), two_lock);
    assert_eq!(files(&two, "packs"), two_files);
}

/// A sync killed (as by kill -9) at each of its steps, overrides included, leaves a node
/// the next sync converges: the desired lockfile and overrides, every pack registered with
/// the new overrides, `--check` clean, a further sync a no-op.
#[test]
fn a_killed_sync_from_a_registry_converges_on_the_next() {
    let Some(f) = Fleet::new("a killed sync from a registry") else {
        return;
    };
    f.publish("v1");
    commit_version(&f.alpha, "alpha", "1.1.0", "");
    assert_eq!(f.sp(&f.source, &["install", &on_main(&f.alpha)]).code, 0);
    assert_eq!(f.sp(&f.source, &["remove", "beta"]).code, 0);
    write(&f.source.join("overrides/_global.yaml"), "");
    f.publish("v2");
    let (v1, v2) = (f.channel("v1"), f.channel("v2"));
    for point in [
        "sync-planned",
        "install-swapped",
        "sync-installed",
        "sync-removed",
        "sync-overrides-written",
        "sync-state-written",
    ] {
        let node = f.node(&format!("node-{point}"));
        assert_eq!(f.sync(&node, &[&v1]).code, 0, "{point}");
        assert_eq!(enabled(&node, "alpha.hello"), Some(0), "{point}");
        let killed = run(stackpack(&node)
            .arg("--config")
            .arg(&f.config)
            .env("STACKPACK_FAULT_POINT", point)
            .args(["sync", &v2]));
        if killed.code == 0 {
            cannot_run(
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
        let r = f.sync(&node, &[&v2]);
        assert_eq!(r.code, 0, "{point}: {}{}", r.stdout, r.stderr);
        assert_eq!(lockfile(&node), lockfile(&f.source), "{point}");
        assert_eq!(files(&node, "packs"), files(&f.source, "packs"), "{point}");
        assert_eq!(
            files(&node, "overrides"),
            files(&f.source, "overrides"),
            "{point}"
        );
        assert_eq!(
            enabled(&node, "alpha.hello"),
            Some(1),
            "{point}: registered again"
        );
        assert_eq!(f.sync(&node, &["--check", &v2]).code, 0, "{point}");
        let r = f.sync(&node, &[&v2]);
        assert!(
            r.stdout.contains("already in sync"),
            "{point}: {}",
            r.stdout
        );
        assert!(!node.join(".stackpack-sync-register").exists(), "{point}");
    }
}

/// A channel that is not a lockfile artifact, a missing tag and a tag with no digest
/// change nothing and say why.
#[test]
fn a_wrong_or_missing_artifact_changes_nothing() {
    let Some(f) = Fleet::new("sync from a wrong artifact") else {
        return;
    };
    let node = f.node("node");
    let wasm = example_wasm("corp-policy");
    let file = f.dir.path().join("corp_policy.wasm");
    std::fs::write(&file, &wasm[..]).unwrap();
    let plugin = f.registry.oci("plugins/corp-policy:1.0.0");
    let r = f.sp(
        &f.source,
        &["push", "--plugin", file.to_str().unwrap(), &plugin],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let r = f.sync(&node, &[&plugin]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("not a lockfile"), "{}", r.stderr);
    let r = f.sync(&node, &[&f.channel("nope")]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("does not exist"), "{}", r.stderr);
    assert!(!node.join("stackpack.lock").exists());
    assert!(!node.join("packs").join("alpha").exists());
}

/// `plugin add oci://…` installs a component pushed with `push --plugin` when its sha256
/// is the pinned one; a wrong pin is refused naming both digests and adds nothing.
#[test]
fn a_plugin_is_added_from_a_registry_by_its_sha256() {
    let Some(f) = Fleet::new("plugin add from a registry") else {
        return;
    };
    let wasm = example_wasm("corp-policy");
    let sha = hex::encode(sha2::Sha256::digest(&wasm[..]));
    let file = f.dir.path().join("corp_policy.wasm");
    std::fs::write(&file, &wasm[..]).unwrap();
    let reference = f.registry.oci("plugins/corp-policy:1.0.0");
    let r = f.sp(
        &f.source,
        &[
            "push",
            "--plugin",
            file.to_str().unwrap(),
            &reference,
            "--json",
        ],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);

    let node = f.node("node");
    let wrong = "0".repeat(64);
    let r = f.sp(&node, &["plugin", "add", &reference, "--sha256", &wrong]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains(&sha) && r.stderr.contains(&wrong),
        "{}",
        r.stderr
    );
    assert!(
        !node.join("plugins").exists()
            || std::fs::read_dir(node.join("plugins")).unwrap().count() == 0
    );

    let r = f.sp(
        &node,
        &["plugin", "add", &reference, "--sha256", &sha, "--json"],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let added = json(&r);
    assert_eq!(added["sha256"], sha.as_str());
    let list = f.sp(&node, &["plugin", "list"]);
    assert!(
        list.stdout
            .contains(&added["name"].as_str().unwrap().to_string()),
        "{}",
        list.stdout
    );

    // A lockfile artifact is not a plugin.
    f.publish("prod");
    let r = f.sp(
        &node,
        &["plugin", "add", &f.channel("prod"), "--sha256", &sha],
    );
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("not a plugin"), "{}", r.stderr);
}

/// The whole fleet path through the registry: packs pushed as artifacts, a source root
/// that installed them from `oci://`, its lockfile pushed as the channel, and nodes that
/// sync it. The safe outcome: each node installs the packs from the registry (no git
/// source in its lockfile), ends with the desired lockfile byte for byte and the same
/// pack files, and a second sync writes nothing.
#[test]
fn a_channel_of_oci_packs_syncs_from_the_registry_alone() {
    let Some(f) = Fleet::new("a channel of oci packs") else {
        return;
    };
    let pushed = f.sp(
        &f.source,
        &["push", "alpha", &f.registry.oci("packs/alpha:1.0.0")],
    );
    assert_eq!(pushed.code, 0, "{}{}", pushed.stdout, pushed.stderr);
    let oci_source = f.node("oci-source");
    let r = f.sp(
        &oci_source,
        &["install", &f.registry.oci("packs/alpha:1.0.0")],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let desired_text = String::from_utf8(lockfile(&oci_source)).unwrap();
    assert!(desired_text.contains("kind = \"oci\""), "{desired_text}");
    assert!(!desired_text.contains("file://"), "{desired_text}");
    let channel = f.registry.oci("fleet/oci-packs:prod");
    let r = f.sp(&oci_source, &["push", "--lockfile", &channel]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);

    let nodes: Vec<PathBuf> = (0..3).map(|i| f.node(&format!("oci-node-{i}"))).collect();
    let runs: Vec<Run> = std::thread::scope(|scope| {
        let handles: Vec<_> = nodes
            .iter()
            .map(|n| {
                let (f, channel) = (&f, &channel);
                scope.spawn(move || f.sync(n, &[channel]))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (node, r) in nodes.iter().zip(&runs) {
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
        assert_eq!(lockfile(node), lockfile(&oci_source));
        assert_eq!(files(node, "packs"), files(&oci_source, "packs"));
        let again = f.sync(node, &[&channel]);
        assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
        assert!(again.stdout.contains("already in sync"), "{}", again.stdout);
    }
}

/// Each object of the JSON array `list` as "<its `a`> <its `b`>".
fn pairs(list: &serde_json::Value, a: &str, b: &str) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|d| format!("{} {}", d[a].as_str().unwrap(), d[b].as_str().unwrap()))
        .collect()
}
