//! `stackpack install` / `remove` end to end through the real binary, with git repos
//! made by the tests and served over file:// (and an index over file://).

use std::path::Path;

use crate::common::{
    commit_version, file_url, git, installed_version, pack_repo, run, stackpack, write,
};
use serde_json::Value;

/// A repo with tags 1.0.0 and v1.1.0, a branch `dev` (1.2.0-dev), default branch
/// `trunk` at 1.3.0.
fn versioned_repo(dir: &Path) -> std::path::PathBuf {
    let repo = pack_repo(dir, "tagged", "1.0.0", "", "trunk");
    git(&repo, &["tag", "1.0.0"]);
    commit_version(&repo, "tagged", "1.1.0", "");
    git(&repo, &["tag", "-a", "v1.1.0", "-m", "release 1.1.0"]);
    git(&repo, &["checkout", "-q", "-b", "dev"]);
    commit_version(&repo, "tagged", "1.2.0-dev", "");
    git(&repo, &["checkout", "-q", "trunk"]);
    commit_version(&repo, "tagged", "1.3.0", "");
    repo
}

fn json(r: &crate::common::Run) -> Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}\n{}", r.stdout, r.stderr))
}

#[test]
fn version_choice_over_file_git_urls() {
    let d = tempfile::tempdir().unwrap();
    let repo = versioned_repo(&d.path().join("tagged"));
    let root = d.path().join("root");
    let url = file_url(&repo);
    for (spec, version, matched) in [
        ("1.0.0", "1.0.0", "tag 1.0.0"),
        ("1.1.0", "1.1.0", "tag v1.1.0"),
        ("v1.1.0", "1.1.0", "tag v1.1.0"),
        ("dev", "1.2.0-dev", "branch dev"),
    ] {
        let r = run(stackpack(&root).args(["install", &format!("{url}={spec}")]));
        assert_eq!(r.code, 0, "{spec}: {}{}", r.stdout, r.stderr);
        assert_eq!(
            installed_version(&root, "tagged").as_deref(),
            Some(version),
            "{spec}"
        );
        assert!(r.stdout.contains(matched), "{spec}: {}", r.stdout);
    }
    // A short commit id.
    let commit = git(&repo, &["rev-parse", "--short=8", "1.0.0^{commit}"]);
    let r = run(stackpack(&root).args(["install", &format!("{url}={commit}")]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(installed_version(&root, "tagged").as_deref(), Some("1.0.0"));
    // Unknown: the available versions, semver order.
    let r = run(stackpack(&root).args(["install", &format!("{url}=9.9.9")]));
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("9.9.9"), "{}", r.stdout);
    assert!(r.stdout.contains("1.1.0, 1.0.0"), "{}", r.stdout);
    assert_eq!(
        installed_version(&root, "tagged").as_deref(),
        Some("1.0.0"),
        "a failure changed the install"
    );
}

#[test]
fn plain_dir_and_dirty_repo() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let plain = d.path().join("plain");
    write(
        &plain.join("pack.yaml"),
        &crate::common::pack_yaml("plain", "0.1.0"),
    );
    let r = run(stackpack(&root).args(["install", &file_url(&plain)]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(installed_version(&root, "plain").as_deref(), Some("0.1.0"));

    let repo = pack_repo(&d.path().join("dirty"), "dirty", "1.0.0", "", "main");
    write(
        &repo.join("pack.yaml"),
        &crate::common::pack_yaml("dirty", "6.6.6"),
    );
    let r = run(stackpack(&root).args(["install", &file_url(&repo)]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("uncommitted changes"), "{}", r.stderr);
    assert_eq!(installed_version(&root, "dirty").as_deref(), Some("1.0.0"));
    assert!(!root.join("packs/dirty/.git").exists());
}

#[test]
fn index_names_dependencies_and_lockfile() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let base = pack_repo(&d.path().join("base"), "base", "1.0.0", "", "main");
    git(&base, &["tag", "v1.0.0"]);
    let util = pack_repo(&d.path().join("util"), "util", "2.0.0", "", "main");
    // app depends on base (index name) and util (URL); util depends on base too (diamond).
    commit_version(&util, "util", "2.0.0", "dependencies:\n  - base\n");
    let app = pack_repo(
        &d.path().join("app"),
        "app",
        "0.5.0",
        &format!("dependencies:\n  - base=1.0.0\n  - {}\n", file_url(&util)),
        "main",
    );
    git(&app, &["tag", "v0.5.0"]);
    let index = d.path().join("index.json");
    write(
        &index,
        &serde_json::json!({"metadata": {}, "packs": {
            "base": {"name": "base", "version": "1.0.0", "repo_url": file_url(&base), "author": "t", "description": "b"},
            "app": {"name": "app", "version": "0.5.0", "repo_url": file_url(&app), "author": "t", "description": "a"}
        }})
        .to_string(),
    );
    let r = run(stackpack(&root).args([
        "--index",
        index.to_str().unwrap(),
        "install",
        "app",
        "--json",
    ]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let v = json(&r);
    let results = v["results"].as_array().unwrap();
    assert_eq!(results[0]["ref"], "app");
    assert_eq!(results[0]["status"], "installed");
    let deps: Vec<&str> = results[1..]
        .iter()
        .map(|r| r["ref"].as_str().unwrap())
        .collect();
    assert_eq!(deps.len(), 2, "{results:?}");
    assert!(deps.contains(&"base") && deps.contains(&"util"));
    for p in ["app", "base", "util"] {
        assert!(
            root.join("packs").join(p).join("pack.yaml").is_file(),
            "{p}"
        );
    }
    let lock = std::fs::read_to_string(root.join("stackpack.lock")).unwrap();
    assert!(
        lock.contains("ref = \"app\"") && lock.contains("resolver = \"index\""),
        "{lock}"
    );
    assert!(lock.contains("resolver_sha256"), "{lock}");

    // --locked reinstalls the recorded commit even after the repo moved on.
    commit_version(&app, "app", "0.6.0", "");
    let r = run(stackpack(&root).args([
        "--index",
        index.to_str().unwrap(),
        "install",
        "--locked",
        "app",
    ]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(installed_version(&root, "app").as_deref(), Some("0.5.0"));
    // A name no index knows.
    let r =
        run(stackpack(&root).args(["--index", index.to_str().unwrap(), "install", "nosuchpack"]));
    assert_eq!(r.code, 1);
    assert!(
        r.stdout
            .contains(r#"No record of the "nosuchpack" pack in the index."#),
        "{}",
        r.stdout
    );
}

#[test]
fn conflict_installs_nothing() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let shared = pack_repo(&d.path().join("shared"), "shared", "1.0.0", "", "main");
    git(&shared, &["tag", "1.0.0"]);
    commit_version(&shared, "shared", "2.0.0", "");
    git(&shared, &["tag", "2.0.0"]);
    let one = pack_repo(
        &d.path().join("one"),
        "one",
        "1.0.0",
        &format!("dependencies:\n  - {}=1.0.0\n", file_url(&shared)),
        "main",
    );
    let two = pack_repo(
        &d.path().join("two"),
        "two",
        "1.0.0",
        &format!("dependencies:\n  - {}=2.0.0\n", file_url(&shared)),
        "main",
    );
    let r = run(stackpack(&root).args(["install", &file_url(&one), &file_url(&two)]));
    assert_eq!(r.code, 4, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("dependency conflict on pack \"shared\""),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("one") && r.stderr.contains("two"),
        "{}",
        r.stderr
    );
    let installed: Vec<_> = std::fs::read_dir(root.join("packs")).unwrap().collect();
    assert!(installed.is_empty(), "a conflict installed something");
    // --skip-dependencies installs only what was named.
    let r = run(stackpack(&root).args([
        "install",
        "--skip-dependencies",
        &file_url(&one),
        &file_url(&two),
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(root.join("packs/one").is_dir() && root.join("packs/two").is_dir());
    assert!(!root.join("packs/shared").exists());
}

#[test]
fn reinstall_keeps_configs_and_removal_rules() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let repo = pack_repo(&d.path().join("keep"), "keep", "1.0.0", "", "main");
    let r = run(stackpack(&root).args(["install", &file_url(&repo)]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    write(&root.join("configs/keep.yaml"), "api_key: secret\n");
    write(&root.join("packs/keep/config.yaml"), "legacy: true\n");
    write(&root.join("packs/keep/local-edit.txt"), "lost on upgrade\n");
    commit_version(&repo, "keep", "1.1.0", "");
    let r = run(stackpack(&root).args(["install", &file_url(&repo)]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("replacing 1.0.0"), "{}", r.stdout);
    assert_eq!(installed_version(&root, "keep").as_deref(), Some("1.1.0"));
    assert_eq!(
        std::fs::read_to_string(root.join("configs/keep.yaml")).unwrap(),
        "api_key: secret\n"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("packs/keep/config.yaml")).unwrap(),
        "legacy: true\n"
    );
    assert!(!root.join("packs/keep/local-edit.txt").exists());

    // A dependent blocks removal; the dependent can go first.
    let user = pack_repo(
        &d.path().join("user"),
        "user",
        "1.0.0",
        "dependencies:\n  - keep\n",
        "main",
    );
    let r = run(stackpack(&root).args(["install", &file_url(&user)]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run(stackpack(&root).args(["remove", "keep"]));
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("required by user"), "{}", r.stdout);
    std::fs::create_dir_all(root.join("virtualenvs/keep")).unwrap();
    let r = run(stackpack(&root).args(["remove", "user", "keep"]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(!root.join("packs/keep").exists() && !root.join("virtualenvs/keep").exists());
    assert!(
        root.join("configs/keep.yaml").is_file(),
        "remove deleted the config"
    );
    let lock = std::fs::read_to_string(root.join("stackpack.lock")).unwrap();
    assert!(!lock.contains("\"keep\""), "{lock}");
    let r = run(stackpack(&root).args(["remove", "keep"]));
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains(r#"Pack "keep" is not installed"#),
        "{}",
        r.stdout
    );
}

#[test]
fn bad_inputs_fail_clearly_and_keep_the_rest() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let good = pack_repo(&d.path().join("good"), "good", "1.0.0", "", "main");
    let nometa = d.path().join("nometa");
    std::fs::create_dir_all(&nometa).unwrap();
    write(&nometa.join("README"), "no pack.yaml here\n");
    let broken = d.path().join("broken");
    write(&broken.join("pack.yaml"), "name: [oops\n");
    let partial = d.path().join("partial");
    write(
        &partial.join("pack.yaml"),
        "name: partial\nversion: 1.0.0\n",
    );
    let escape = d.path().join("escape");
    write(
        &escape.join("pack.yaml"),
        &format!("ref: ../x\n{}", crate::common::pack_yaml("escape", "1.0.0")),
    );
    let r = run(stackpack(&root).args([
        "install",
        &file_url(&good),
        &file_url(&nometa),
        &file_url(&broken),
        &file_url(&escape),
        "not a ref!",
        &file_url(&partial),
        "https://user:s3cr3t-token@127.0.0.1:9/x/pack.git",
        "--json",
        "--no-venv",
        "--no-register",
    ]));
    assert_eq!(r.code, 1);
    let v = json(&r);
    let res = v["results"].as_array().unwrap();
    assert_eq!(res[0]["status"], "installed");
    for (i, needle) in [
        (1, "missing pack.yaml"),
        (2, "pack.yaml is invalid"),
        (3, "ref"),
        (4, "not a ref!"),
        (5, "description"),
        (6, "127.0.0.1"),
    ] {
        assert_eq!(res[i]["status"], "failed", "{i}: {}", res[i]);
        assert!(
            res[i]["reason"].as_str().unwrap().contains(needle),
            "{i}: {}",
            res[i]
        );
    }
    assert!(
        !r.stdout.contains("s3cr3t") && !r.stderr.contains("s3cr3t"),
        "token leaked:\n{}{}",
        r.stdout,
        r.stderr
    );
    assert!(root.join("packs/good").is_dir());
    assert!(!root.join("packs/x").exists() && !d.path().join("x").exists());
    let lock = std::fs::read_to_string(root.join("stackpack.lock")).unwrap();
    assert!(!lock.contains("s3cr3t"));
}

#[test]
fn lock_serializes_and_kill_before_swap_keeps_the_old_version() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let repo = pack_repo(&d.path().join("atomic"), "atomic", "1.0.0", "", "main");
    let r = run(stackpack(&root).args(["install", &file_url(&repo)]));
    assert_eq!(r.code, 0, "{}", r.stderr);

    // Another process holds the root: we wait, then give up with a clear message.
    let holder = std::fs::OpenOptions::new()
        .write(true)
        .open(root.join(".stackpack-lock"))
        .unwrap();
    holder.lock().unwrap();
    let r = run(stackpack(&root).args(["install", "--lock-timeout", "1", &file_url(&repo)]));
    assert_eq!(r.code, 4, "a busy root is a conflict");
    assert!(
        r.stderr.contains("another stackpack is working on"),
        "{}",
        r.stderr
    );
    drop(holder);

    // Killed between staging and swap: the old version is intact, staging is cleaned
    // up by the next run. (Fault points exist in debug builds only.)
    commit_version(&repo, "atomic", "2.0.0", "");
    if cfg!(debug_assertions) {
        let r = run(stackpack(&root)
            .env("STACKPACK_FAULT_POINT", "before-swap")
            .args(["install", &file_url(&repo)]));
        assert_ne!(r.code, 0);
        assert_eq!(installed_version(&root, "atomic").as_deref(), Some("1.0.0"));
        assert!(root.join("packs/atomic/actions/hello.yaml").is_file());
    }
    let r = run(stackpack(&root).args(["install", &file_url(&repo)]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(installed_version(&root, "atomic").as_deref(), Some("2.0.0"));
    let leftovers: Vec<_> = std::fs::read_dir(root.join(".stackpack-staging"))
        .map(|d| d.collect())
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "staging left behind: {leftovers:?}");
}

#[test]
fn index_entry_served_as_an_archive() {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("tarred-1.4.0");
    write(
        &src.join("pack.yaml"),
        &crate::common::pack_yaml("tarred", "1.4.0"),
    );
    write(&src.join("actions/run.sh"), "#!/bin/sh\necho hi\n");
    std::fs::set_permissions(
        src.join("actions/run.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let tgz = d.path().join("tarred-1.4.0.tar.gz");
    let out = std::process::Command::new("tar")
        .arg("czf")
        .arg(&tgz)
        .arg("-C")
        .arg(d.path())
        .arg("tarred-1.4.0")
        .output()
        .unwrap();
    assert!(out.status.success());
    let bytes = std::fs::read(&tgz).unwrap();
    let sha = sha256sum(&tgz);
    let base = crate::common::http_server(vec![(
        "/packs/tarred-1.4.0.tar.gz",
        crate::common::Reply {
            status: 200,
            headers: vec![],
            body: bytes,
        },
    )]);
    let entry = |sha: &str| {
        serde_json::json!({"metadata": {}, "packs": {"tarred": {
            "name": "tarred", "version": "1.4.0", "author": "t", "description": "d",
            "archive_url": format!("{base}/packs/tarred-1.4.0.tar.gz"),
            "archive_sha256": sha,
        }}})
        .to_string()
    };
    let index = d.path().join("index.json");
    let root = d.path().join("root");

    write(&index, &entry(&"0".repeat(64)));
    let r = run(stackpack(&root).args(["--index", index.to_str().unwrap(), "install", "tarred"]));
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(&sha) && r.stdout.contains(&"0".repeat(64)),
        "both digests: {}",
        r.stdout
    );
    assert!(!root.join("packs/tarred").exists());

    write(&index, &entry(&sha));
    let r = run(stackpack(&root).args(["--index", index.to_str().unwrap(), "install", "tarred"]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(installed_version(&root, "tarred").as_deref(), Some("1.4.0"));
    let mode = std::fs::metadata(root.join("packs/tarred/actions/run.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_ne!(mode & 0o111, 0, "the executable bit was lost");
    let lock = std::fs::read_to_string(root.join("stackpack.lock")).unwrap();
    assert!(
        lock.contains("kind = \"archive\"") && lock.contains(&sha),
        "{lock}"
    );
}

/// sha256 of a file, by coreutils (an independent check of ours).
fn sha256sum(path: &Path) -> String {
    let out = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn unchanged_reinstall_writes_nothing_and_modified_pack_is_restored() {
    use std::os::unix::fs::MetadataExt;
    let d = tempfile::tempdir().unwrap();
    let repo = versioned_repo(&d.path().join("tagged"));
    let root = d.path().join("root");
    let spec = format!("{}=1.1.0", file_url(&repo));
    let r = run(stackpack(&root).args(["install", &spec]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let file = root.join("packs/tagged/actions/hello.yaml");
    let inode = std::fs::metadata(&file).unwrap().ino();
    let lockfile = root.join("stackpack.lock");
    let lock_stamp = || {
        let m = std::fs::metadata(&lockfile).unwrap();
        (m.ino(), m.modified().unwrap())
    };
    let lock_before = lock_stamp();

    let r = run(stackpack(&root).args(["install", &spec, "--json"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(json(&r)["results"][0]["unchanged"], true, "{}", r.stdout);
    assert_eq!(
        lock_stamp(),
        lock_before,
        "the lockfile was rewritten with the same content"
    );
    let r = run(stackpack(&root).args(["install", &spec]));
    assert!(
        r.stdout.contains("already installed and unchanged"),
        "{}",
        r.stdout
    );
    assert_eq!(
        std::fs::metadata(&file).unwrap().ino(),
        inode,
        "an unchanged pack was rewritten"
    );

    // A local edit makes the next reinstall replace the tree (st2 semantics).
    write(&file, "tampered: true\n");
    let r = run(stackpack(&root).args(["install", &spec]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stdout.contains("unchanged"), "{}", r.stdout);
    assert!(
        std::fs::read_to_string(&file)
            .unwrap()
            .contains("runner_type")
    );
}

#[test]
fn python_versions_are_checked_against_the_configured_python() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let old = d.path().join("py2only");
    write(
        &old.join("pack.yaml"),
        &format!(
            "{}python_versions:\n  - \"2\"\n",
            crate::common::pack_yaml("py2only", "1.0.0")
        ),
    );
    let r = run(stackpack(&root).args(["install", "--no-venv", &file_url(&old)]));
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("Python 2") && r.stdout.contains("--force"),
        "{}",
        r.stdout
    );
    assert!(!root.join("packs/py2only").exists());
    let r = run(stackpack(&root).args(["install", "--no-venv", "--force", &file_url(&old)]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(root.join("packs/py2only").is_dir());
    // st2's deprecation warning for a Python-2-only pack, at install.
    assert!(
        r.stderr
            .contains("DEPRECATION WARNING: Pack py2only only supports Python 2.x"),
        "{}",
        r.stderr
    );
}
