//! The install graph is as strict as StackStorm's, and stricter where st2 is unsafe: a
//! fetched pack must be the pack that was asked for, a dependency never changes an
//! installed pack's version behind the user's back, version ranges in dependencies are
//! chosen among the repository's tags, and the Python checks speak st2's words. Every
//! repository and index is made by the test and served over file://.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::common::{
    commit_version, file_url, git, installed_version, pack_repo, run, stackpack, write,
};
use serde_json::Value;

/// Every file and link under `dir` (relative path → content or link target): two
/// snapshots are equal when nothing in the tree changed.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(base).unwrap().to_path_buf();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path).unwrap();
                out.insert(rel, target.into_os_string().into_encoded_bytes());
            } else if meta.is_dir() {
                out.insert(rel, b"<dir>".to_vec());
                walk(base, &path, out);
            } else {
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// The packs tree and the lockfile's bytes.
fn state(root: &Path) -> (BTreeMap<PathBuf, Vec<u8>>, Vec<u8>) {
    (
        snapshot(&root.join("packs")),
        std::fs::read(root.join("stackpack.lock")).unwrap_or_default(),
    )
}

/// An index.json at `path` with one git entry per (key, repo, version).
fn index(path: &Path, entries: &[(&str, &Path, &str)]) -> String {
    let packs: serde_json::Map<String, Value> = entries
        .iter()
        .map(|(key, repo, version)| {
            (
                key.to_string(),
                serde_json::json!({"name": key, "version": version, "repo_url": file_url(repo),
                    "author": "t", "description": "d"}),
            )
        })
        .collect();
    write(
        path,
        &serde_json::json!({"metadata": {}, "packs": packs}).to_string(),
    );
    path.to_str().unwrap().to_string()
}

fn json(r: &crate::common::Run) -> Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}\n{}", r.stdout, r.stderr))
}

/// `keep` 1.0.0 installed from its own repository; `impostor` (a directory of another
/// name) holds a pack.yaml whose ref is also `keep`, tagged v6.6.6.
fn keep_and_impostor(d: &Path, root: &Path) -> (PathBuf, PathBuf) {
    let keep = pack_repo(&d.join("keep"), "keep", "1.0.0", "", "main");
    let impostor = pack_repo(&d.join("impostor"), "keep", "6.6.6", "", "main");
    git(&impostor, &["tag", "v6.6.6"]);
    let r = run(stackpack(root).args(["install", &file_url(&keep)]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    (keep, impostor)
}

// Safe outcome: an index entry whose pack.yaml declares another pack's ref installs
// nothing and leaves the installed pack and the lockfile as they were; --force replaces
// it and says what was replaced.
#[test]
fn an_index_entry_that_is_another_pack_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let (_, impostor) = keep_and_impostor(d.path(), &root);
    let idx = index(
        &d.path().join("index.json"),
        &[("mirage", &impostor, "6.6.6")],
    );
    let before = state(&root);

    let r = run(stackpack(&root).args(["--index", &idx, "install", "mirage"]));
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("mirage is the pack \"keep\"")
            && r.stdout.contains("not \"mirage\"")
            && r.stdout.contains("replace the installed keep 1.0.0")
            && r.stdout.contains("--force"),
        "{}",
        r.stdout
    );
    assert!(
        state(&root) == before,
        "a refused impostor changed the root"
    );
    assert!(!root.join("packs/mirage").exists());

    let r = run(stackpack(&root).args(["--index", &idx, "install", "mirage", "--force"]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(installed_version(&root, "keep").as_deref(), Some("6.6.6"));
    assert!(
        r.stderr
            .contains("with --force it replaces the installed keep 1.0.0"),
        "{}",
        r.stderr
    );
}

// Safe outcome: a dependency given as a URL that turns out to be an installed pack from
// another source is refused with both names, and the dependent pack is not installed
// either; --force replaces it and says so.
#[test]
fn a_dependency_url_that_replaces_another_source_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let (keep, impostor) = keep_and_impostor(d.path(), &root);
    let app = pack_repo(
        &d.path().join("app"),
        "app",
        "1.0.0",
        &format!("dependencies:\n  - {}\n", file_url(&impostor)),
        "main",
    );
    let before = state(&root);

    let r = run(stackpack(&root).args(["install", &file_url(&app)]));
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(&format!(
            "{} is the pack \"keep\", and would replace the installed keep 1.0.0, which came from {}",
            file_url(&impostor),
            file_url(&keep)
        )),
        "{}",
        r.stdout
    );
    assert!(
        state(&root) == before,
        "a refused dependency changed the root"
    );

    let r = run(stackpack(&root).args(["install", &file_url(&app), "--force"]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(installed_version(&root, "keep").as_deref(), Some("6.6.6"));
    assert_eq!(installed_version(&root, "app").as_deref(), Some("1.0.0"));
    assert!(
        r.stderr.contains(&format!(
            "replaces the installed keep 1.0.0 (from {})",
            file_url(&keep)
        )),
        "{}",
        r.stderr
    );
}

/// st2's dependency fixtures: test2 (tags v0.4.0, v0.5.0), test4 (depends on
/// test2=v0.4.0), test6 (depends on test2), test7 (depends on test2=0.5.0), in an index.
struct Fixtures {
    index: String,
}

fn st2_fixtures(d: &Path) -> Fixtures {
    let test2 = pack_repo(&d.join("test2"), "test2", "0.4.0", "", "main");
    git(&test2, &["tag", "v0.4.0"]);
    commit_version(&test2, "test2", "0.5.0", "");
    git(&test2, &["tag", "v0.5.0"]);
    let dependent = |name: &str, dep: &str| {
        let repo = pack_repo(
            &d.join(name),
            name,
            "0.7.0",
            &format!("dependencies:\n  - {dep}\n"),
            "main",
        );
        git(&repo, &["tag", "v0.7.0"]);
        repo
    };
    let test4 = dependent("test4", "test2=v0.4.0");
    let test6 = dependent("test6", "test2");
    let test7 = dependent("test7", "test2=0.5.0");
    Fixtures {
        index: index(
            &d.join("index.json"),
            &[
                ("test2", &test2, "0.5.0"),
                ("test4", &test4, "0.7.0"),
                ("test6", &test6, "0.7.0"),
                ("test7", &test7, "0.7.0"),
            ],
        ),
    }
}

// Ports st2's test_get_pack_dependencies conflict case (test2 0.5.0 installed, test4
// needs test2=v0.4.0: a conflict) and its workflow's stop-on-conflict, without st2's
// destructive cleanup. Safe outcome: exit 4, the message names the installed version, who
// requires what, the fix and the installed dependents, and the root is byte-identical.
#[test]
fn a_dependency_never_changes_an_installed_pack_silently() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let f = st2_fixtures(d.path());
    let r = run(stackpack(&root).args(["--index", &f.index, "install", "test2", "test6"]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(installed_version(&root, "test2").as_deref(), Some("0.5.0"));
    let before = state(&root);

    let r = run(stackpack(&root).args(["--index", &f.index, "install", "test4"]));
    assert_eq!(r.code, 4, "{}{}", r.stdout, r.stderr);
    for part in [
        "dependency conflict on pack \"test2\": test2 0.5.0 is installed, and test4 requires test2=v0.4.0",
        "Nothing was installed",
        "stackpack install test2=v0.4.0",
        "--force",
        "installed packs that depend on it: test6 (test2)",
    ] {
        assert!(r.stderr.contains(part), "{part}: {}", r.stderr);
    }
    assert!(state(&root) == before, "a conflict changed the root");

    // st2's workflow with skip_dependencies: test4 goes in, test2 is left alone.
    let r = run(stackpack(&root).args([
        "--index",
        &f.index,
        "install",
        "test4",
        "--skip-dependencies",
    ]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(installed_version(&root, "test2").as_deref(), Some("0.5.0"));
    assert_eq!(installed_version(&root, "test4").as_deref(), Some("0.7.0"));

    // --force accepts the change and lists the dependents.
    let r = run(stackpack(&root).args(["--index", &f.index, "install", "test4", "--force"]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(installed_version(&root, "test2").as_deref(), Some("0.4.0"));
    assert!(
        r.stderr.contains(
            "pack test4 requires test2=v0.4.0: the installed test2 0.5.0 is replaced (--force); installed packs that depend on it: test6 (test2)"
        ),
        "{}",
        r.stderr
    );
}

// st2's test_get_pack_dependencies: an unversioned dependency on an installed pack, and
// one whose version matches it with or without `v`, fetch nothing. An explicit install of
// another version is the user's choice: it goes ahead and names the installed packs
// that require the old one (st2 checks no reverse dependencies at all).
#[test]
fn satisfied_dependencies_fetch_nothing_and_explicit_changes_warn() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let f = st2_fixtures(d.path());
    let r = run(stackpack(&root).args(["--index", &f.index, "install", "test2", "test6", "test7"]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let r = run(stackpack(&root).args(["--index", &f.index, "install", "test6", "--json"]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let v = json(&r);
    assert_eq!(v["results"].as_array().unwrap().len(), 1, "{v}");

    let r = run(stackpack(&root).args(["--index", &f.index, "install", "test2=v0.4.0"]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(installed_version(&root, "test2").as_deref(), Some("0.4.0"));
    assert!(
        r.stderr.contains(
            "test2 0.4.0 replaces 0.5.0, which installed packs require: test7 (test2=0.5.0)"
        ),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("test6 (test2)"), "{}", r.stderr);
}

/// A repository `ranged` with tags v1.0.0, 1.2.0, v1.5.0 and v2.0.0, its default branch
/// at 2.1.0.
fn ranged_repo(d: &Path) -> PathBuf {
    let repo = pack_repo(&d.join("ranged"), "ranged", "1.0.0", "", "main");
    git(&repo, &["tag", "v1.0.0"]);
    for (version, tag) in [("1.2.0", "1.2.0"), ("1.5.0", "v1.5.0"), ("2.0.0", "v2.0.0")] {
        commit_version(&repo, "ranged", version, "");
        git(&repo, &["tag", tag]);
    }
    commit_version(&repo, "ranged", "2.1.0", "");
    repo
}

// Safe outcome: a range picks the highest matching tag (with or without `v`), the report
// and the JSON say which, and the lockfile pins that tag's commit; a range that matches
// nothing fails naming the available versions and installs nothing.
#[test]
fn ranges_pick_the_highest_matching_tag() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let ranged = ranged_repo(d.path());
    let app = pack_repo(
        &d.path().join("app"),
        "app",
        "1.0.0",
        "dependencies:\n  - ranged>=1.2, <2\n",
        "main",
    );
    let idx = index(
        &d.path().join("index.json"),
        &[("ranged", &ranged, "2.1.0")],
    );
    let r = run(stackpack(&root).args(["--index", &idx, "install", &file_url(&app), "--json"]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let v = json(&r);
    let dep = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["ref"] == "ranged")
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(dep["version"], "1.5.0", "{dep}");
    assert_eq!(
        dep["matched"], "tag v1.5.0, the highest version in >=1.2,<2",
        "{dep}"
    );
    let commit = git(&ranged, &["rev-parse", "v1.5.0^{commit}"]);
    assert_eq!(dep["commit"], commit.as_str(), "{dep}");
    let lock = std::fs::read_to_string(root.join("stackpack.lock")).unwrap();
    assert!(lock.contains(&commit), "{lock}");

    // A URL with a range; the tag without `v` counts too. The text report says it.
    let r = run(stackpack(&root).args(["install", &format!("{}<1.5", file_url(&ranged))]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("(tag 1.2.0, the highest version in <1.5), replacing 1.5.0"),
        "{}",
        r.stdout
    );

    let before = state(&root);
    let r = run(stackpack(&root).args(["--index", &idx, "install", "ranged>=3"]));
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(&format!(
            "no tag of {} is a version in the range >=3; available versions: 2.0.0, 1.5.0, 1.2.0, 1.0.0",
            file_url(&ranged)
        )),
        "{}",
        r.stdout
    );
    assert!(state(&root) == before, "a failed range changed the root");
}

/// The configured python's full version, or None (with the reason printed) when there is
/// no python3; in CI a missing python3 fails the test.
fn python_version() -> Option<String> {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys; print('.'.join(map(str, sys.version_info[:3])))",
        ])
        .output();
    match out {
        Ok(o) if o.status.success() => Some(String::from_utf8_lossy(&o.stdout).trim().to_string()),
        other => {
            crate::common::cannot_run(
                "python version checks",
                &format!("python3 cannot be run ({other:?})"),
            );
            None
        }
    }
}

// Ports st2's test_download_pack python-version case and its get_pack_warnings case.
// Safe outcome: a Python-2-only pack is refused on Python 3 with st2's message and the
// full version; with --force it is installed with st2's deprecation warning.
#[test]
fn python_2_packs_get_st2s_messages() {
    let Some(version) = python_version() else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let pack = d.path().join("test3");
    write(
        &pack.join("pack.yaml"),
        &format!(
            "{}python_versions: [\"2\"]\n",
            crate::common::pack_yaml("test3", "0.6.0")
        ),
    );
    let r = run(stackpack(&root).args(["install", &file_url(&pack), "--no-venv"]));
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let expected =
        format!("Pack \"test3\" requires Python 2.x, but current Python version is \"{version}\"");
    assert!(r.stdout.contains(&expected), "{expected}: {}", r.stdout);
    assert!(!root.join("packs/test3").exists());

    let r = run(stackpack(&root).args(["install", &file_url(&pack), "--no-venv", "--force"]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(
            "DEPRECATION WARNING: Pack test3 only supports Python 2.x. Python 2 support has been \
             removed since st2 v3.4.0. Please update your packs to work with Python 3.x"
        ),
        "{}",
        r.stderr
    );
}
