//! Crashes and hostile conditions through the real binary: the process killed at every
//! fault point of install, remove and register; installs, removals and registrations
//! at once; kill -9 of a lock holder; a full disk; roots and lockfiles another program
//! (or another stackpack) left behind.
//!
//! The safe outcome every case checks: each `packs/*` dir is complete and is what the
//! lockfile records (its tree digest; the lockfile read as every command reads it,
//! with an interrupted run's journal applied), `registry.db` passes
//! `PRAGMA integrity_check`, nothing is left in staging after the next command, and the
//! next install succeeds and converges. A refusal names what it refuses and changes
//! nothing. Fault points exist in debug builds only: in a release build the cases that
//! need them say so and return.

use std::collections::BTreeSet;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use stackpack_install::{JOURNAL_FILE, Lockfile, journal, tree::tree_digest};

use crate::common::{file_url, installed_version, pack_repo, pack_yaml, run, stackpack, write};

/// The packs the cases install: `app` (a local dir) depends on `lib` (a git repo);
/// `re` exists at 1.0.0 and 2.0.0 (local dirs with a Python action, so a virtualenv).
struct Fixture {
    _dir: tempfile::TempDir,
    app: PathBuf,
    re_v1: PathBuf,
    re_v2: PathBuf,
    plain: PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let lib = pack_repo(&dir.path().join("lib"), "lib", "1.0.0", "", "main");
    let app = dir.path().join("app");
    write(
        &app.join("pack.yaml"),
        &format!(
            "{}dependencies:\n  - {}\n",
            pack_yaml("app", "1.0.0"),
            file_url(&lib)
        ),
    );
    write(
        &app.join("actions/go.yaml"),
        "name: go\npack: app\nrunner_type: local-shell-cmd\n",
    );
    let re = |v: &str| {
        let p = dir.path().join(format!("v{v}")).join("re");
        write(&p.join("pack.yaml"), &pack_yaml("re", v));
        write(&p.join("actions/run.py"), "print('re')\n");
        write(
            &p.join("actions/run.yaml"),
            "name: run\nrunner_type: python-script\nentry_point: run.py\n",
        );
        p
    };
    let plain = dir.path().join("plain");
    write(&plain.join("pack.yaml"), &pack_yaml("plain", "1.0.0"));
    write(
        &plain.join("rules/r.yaml"),
        "name: r\npack: plain\ntrigger:\n  type: core.st2.webhook\naction:\n  ref: core.local\n",
    );
    Fixture {
        re_v1: re("1.0.0"),
        re_v2: re("2.0.0"),
        app,
        plain,
        _dir: dir,
    }
}

/// Whether python3 runs here (the virtualenv cases need it). Missing: a failure in CI,
/// otherwise the caller skips with the printed reason.
fn have_python(case: &str) -> bool {
    let ok = Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        crate::common::cannot_run(case, "python3 is not available");
    }
    ok
}

fn installed_refs(root: &Path) -> BTreeSet<String> {
    std::fs::read_dir(root.join("packs"))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Every `packs/*` dir is what `lock` records for it (tree digest), and every entry of
/// `lock` is in `packs/`.
fn assert_agree(root: &Path, lock: &Lockfile, when: &str) {
    let on_disk = installed_refs(root);
    let locked: BTreeSet<String> = lock.packs.iter().map(|p| p.ref_.clone()).collect();
    assert_eq!(
        on_disk, locked,
        "{when}: packs/ and the lockfile list different packs"
    );
    for entry in &lock.packs {
        let dir = cap_std::fs::Dir::open_ambient_dir(
            root.join("packs").join(&entry.ref_),
            cap_std::ambient_authority(),
        )
        .unwrap();
        let digest = tree_digest(&dir).unwrap();
        assert_eq!(
            Some(digest),
            entry.tree_sha256,
            "{when}: packs/{} is not the tree the lockfile records",
            entry.ref_
        );
        assert!(
            dir.is_file("pack.yaml"),
            "{when}: packs/{} is incomplete",
            entry.ref_
        );
    }
}

/// `registry.db`, when there is one, passes SQLite's integrity check.
fn assert_registry_ok(root: &Path, when: &str) {
    let db = root.join("registry.db");
    if !db.exists() {
        return;
    }
    let conn = rusqlite::Connection::open(&db).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok", "{when}: registry.db is damaged");
}

/// Every pack of the lockfile is registered at the version and from the source the
/// lockfile records, and nothing else is registered.
fn assert_registry_matches_lockfile(root: &Path, when: &str) {
    let lock = Lockfile::read(&root.join("stackpack.lock")).unwrap();
    let locked: BTreeSet<(String, String, String)> = lock
        .packs
        .iter()
        .map(|p| (p.ref_.clone(), p.version.clone(), p.origin().to_string()))
        .collect();
    let conn = rusqlite::Connection::open(root.join("registry.db")).unwrap();
    let mut stmt = conn
        .prepare("SELECT ref, version, source FROM packs")
        .unwrap();
    let registered: BTreeSet<(String, String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        registered, locked,
        "{when}: the registry does not match the lockfile"
    );
    assert_registry_ok(root, when);
}

fn registered_packs(root: &Path) -> BTreeSet<String> {
    let conn = rusqlite::Connection::open(root.join("registry.db")).unwrap();
    let mut stmt = conn.prepare("SELECT ref FROM packs").unwrap();
    stmt.query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Nothing left by a run: no staging, no journal, no venv build, no temp file.
fn assert_no_leftovers(root: &Path, when: &str) {
    let staging: Vec<_> = std::fs::read_dir(root.join(".stackpack-staging"))
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(staging.is_empty(), "{when}: staging left: {staging:?}");
    assert!(
        !root.join(JOURNAL_FILE).exists(),
        "{when}: the journal was left"
    );
    let venv_builds: Vec<_> = std::fs::read_dir(root.join("virtualenvs"))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    assert!(
        venv_builds.is_empty(),
        "{when}: virtualenv builds left: {venv_builds:?}"
    );
    let temps: Vec<_> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(temps.is_empty(), "{when}: temp files left: {temps:?}");
}

/// The full check after a command: packs/ and the lockfile file agree, no journal, the
/// registry is sound, nothing left over.
fn assert_settled(root: &Path, when: &str) {
    let lock = Lockfile::read(&root.join("stackpack.lock")).unwrap();
    assert_agree(root, &lock, when);
    assert_registry_ok(root, when);
    assert_no_leftovers(root, when);
}

/// The fault points (name, detail) a run of `args` on `root` passes.
fn points_reached(root: &Path, args: &[String], faults: &Path) -> Vec<(String, String)> {
    std::fs::create_dir_all(faults).unwrap();
    let r = run(stackpack(root)
        .env("STACKPACK_FAULT_DIR", faults)
        .args(args));
    assert_eq!(r.code, 0, "clean run of {args:?}: {}{}", r.stdout, r.stderr);
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir(faults).unwrap() {
        let path = entry.unwrap().path();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".reached"))
        else {
            continue;
        };
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            let detail = line.split_once(' ').map_or("", |(_, d)| d);
            out.insert((name.to_string(), detail.to_string()));
        }
    }
    out.into_iter().collect()
}

/// One crash scenario: `setup` brings a fresh root to its starting state, `command` is
/// killed at each point it passes, `next` is the install that must then converge to
/// `expect` (pack, version).
struct Scenario<'a> {
    name: &'a str,
    setup: &'a dyn Fn(&Path),
    command: Vec<String>,
    next: Vec<String>,
    expect: &'a [(&'a str, &'a str)],
    /// Points this scenario must pass (so that discovering none fails the test).
    must_pass: &'a [&'a str],
}

fn crash_everywhere(s: &Scenario) {
    if !cfg!(debug_assertions) {
        crate::common::cannot_run(s.name, "fault points exist in debug builds only");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let clean = d.path().join("clean");
    (s.setup)(&clean);
    let points = points_reached(&clean, &s.command, &d.path().join("faults"));
    let names: BTreeSet<&str> = points.iter().map(|(n, _)| n.as_str()).collect();
    for want in s.must_pass {
        assert!(
            names.contains(want),
            "{}: the clean run did not pass {want}: {points:?}",
            s.name
        );
    }
    for (i, (point, detail)) in points.iter().enumerate() {
        let when = format!("{}: killed at {point} ({detail})", s.name);
        let root = d.path().join(format!("case-{i}"));
        (s.setup)(&root);
        let out = stackpack(&root)
            .env("STACKPACK_FAULT_POINT", point)
            .env("STACKPACK_FAULT_DETAIL", detail)
            .args(&s.command)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.signal(),
            Some(6),
            "{when}: the process did not die there: {stderr}"
        );
        assert!(
            stderr.contains(&format!("fault point {point} ({detail}) reached")),
            "{when}: {stderr}"
        );
        // Right after the kill, as any command reads it: the lockfile (with the journal
        // the killed run left) describes packs/ exactly.
        let lock = journal::current(&root).unwrap();
        assert_agree(&root, &lock, &when);
        assert_registry_ok(&root, &when);

        let r = run(stackpack(&root).args(&s.next));
        assert_eq!(
            r.code, 0,
            "{when}: the next install: {}{}",
            r.stdout, r.stderr
        );
        assert_settled(&root, &format!("{when}, then the next install"));
        for (pack, version) in s.expect {
            assert_eq!(
                installed_version(&root, pack).as_deref(),
                Some(*version),
                "{when}: {pack} did not converge"
            );
        }
        // The next install alone registers what a killed run swapped in but did not
        // register, and unregisters what it took out.
        assert_registry_matches_lockfile(&root, &format!("{when}, then the next install"));
        std::fs::remove_dir_all(&root).unwrap();
    }
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn must_install(root: &Path, refs: &[&str]) {
    let mut a = vec!["install"];
    a.extend_from_slice(refs);
    let r = run(stackpack(root).args(&a));
    assert_eq!(r.code, 0, "install {refs:?}: {}{}", r.stdout, r.stderr);
}

/// Killed at every point of a fresh install of a pack with a git dependency: the
/// lockfile never lags, and installing again converges.
#[test]
fn kill_at_every_point_of_an_install_with_a_dependency() {
    let f = fixture();
    let app = file_url(&f.app);
    crash_everywhere(&Scenario {
        name: "install app (+lib)",
        setup: &|_root| {},
        command: args(&["install", &app]),
        next: args(&["install", &app]),
        expect: &[("app", "1.0.0"), ("lib", "1.0.0")],
        must_pass: &[
            "install-fetched",
            "install-staged",
            "install-journal-written",
            "before-swap",
            "after-swap",
            "after-lockfile",
            "install-end",
            "register-in-transaction",
            "register-after-commit",
        ],
    });
}

/// Killed at every point of an install, then an install of another pack: that install
/// alone registers what the killed run swapped in (it does not name those packs).
#[test]
fn kill_at_every_point_of_an_install_then_install_another_pack() {
    let f = fixture();
    let app = file_url(&f.app);
    let plain = file_url(&f.plain);
    crash_everywhere(&Scenario {
        name: "install app (+lib), then install plain",
        setup: &|_root| {},
        command: args(&["install", &app]),
        next: args(&["install", &plain]),
        expect: &[("plain", "1.0.0")],
        must_pass: &["after-swap", "after-lockfile", "install-end"],
    });
}

/// Killed at every point of an upgrade, then an install of another pack: the upgraded
/// pack is registered at the version the lockfile records, even when the killed run's
/// journal was already gone (the registry recorded the old version).
#[test]
fn kill_at_every_point_of_an_upgrade_then_install_another_pack() {
    let f = fixture();
    let v1 = file_url(&f.re_v1);
    let v2 = file_url(&f.re_v2);
    let plain = file_url(&f.plain);
    crash_everywhere(&Scenario {
        name: "upgrade re 1.0.0 -> 2.0.0, then install plain",
        setup: &|root| must_install(root, &["--no-venv", &v1, &plain]),
        command: args(&["install", "--no-venv", &v2]),
        next: args(&["install", "--no-venv", &plain]),
        expect: &[("plain", "1.0.0")],
        must_pass: &["after-swap", "after-lockfile", "install-end"],
    });
}

/// Killed at every point of a removal, then an install of a pack that stays: that
/// install alone unregisters the packs the killed run took out.
#[test]
fn kill_at_every_point_of_a_remove_then_install_another_pack() {
    let f = fixture();
    let app = file_url(&f.app);
    let plain = file_url(&f.plain);
    crash_everywhere(&Scenario {
        name: "remove app lib, then install plain",
        setup: &|root| must_install(root, &[&app, &plain]),
        command: args(&["remove", "app", "lib"]),
        next: args(&["install", &plain]),
        expect: &[("plain", "1.0.0")],
        must_pass: &["remove-after-take-out", "remove-end", "unregister-before"],
    });
}

/// Killed at every point of an upgrade from 1.0.0 to 2.0.0 of a pack with a
/// virtualenv: the pack is 1.0.0 or 2.0.0 and the lockfile says which.
#[test]
fn kill_at_every_point_of_a_reinstall_over_an_older_version() {
    if !have_python("kill_at_every_point_of_a_reinstall_over_an_older_version") {
        return;
    }
    let f = fixture();
    let v1 = file_url(&f.re_v1);
    let v2 = file_url(&f.re_v2);
    crash_everywhere(&Scenario {
        name: "reinstall re 1.0.0 -> 2.0.0",
        setup: &|root| must_install(root, &[&v1]),
        command: args(&["install", &v2]),
        next: args(&["install", &v2]),
        expect: &[("re", "2.0.0")],
        must_pass: &[
            "install-venv",
            "before-swap",
            "after-swap",
            "after-lockfile",
        ],
    });
}

/// Killed at every point of a removal of two packs: each is there (and locked) or
/// gone (and unlocked); installing again converges.
#[test]
fn kill_at_every_point_of_a_remove() {
    let f = fixture();
    let app = file_url(&f.app);
    let plain = file_url(&f.plain);
    crash_everywhere(&Scenario {
        name: "remove app lib",
        setup: &|root| must_install(root, &[&app, &plain]),
        command: args(&["remove", "app", "lib"]),
        next: args(&["install", &app]),
        expect: &[("app", "1.0.0"), ("lib", "1.0.0"), ("plain", "1.0.0")],
        must_pass: &[
            "remove-journal-written",
            "remove-before-take-out",
            "remove-after-take-out",
            "remove-after-lockfile",
            "remove-end",
            "unregister-before",
        ],
    });
}

/// Killed at every point of a registration (before, inside and after each pack's
/// transaction): the registry stays sound and the next install registers.
#[test]
fn kill_at_every_point_of_a_register() {
    let f = fixture();
    let app = file_url(&f.app);
    let plain = file_url(&f.plain);
    crash_everywhere(&Scenario {
        name: "register",
        setup: &|root| {
            let r = run(stackpack(root).args(["install", "--no-register", &app, &plain]));
            assert_eq!(r.code, 0, "{}", r.stderr);
        },
        command: args(&["register"]),
        next: args(&["install", &app, &plain]),
        expect: &[("app", "1.0.0"), ("lib", "1.0.0"), ("plain", "1.0.0")],
        must_pass: &[
            "register-prepared",
            "register-before-transaction",
            "register-in-transaction",
            "register-after-commit",
            "register-end",
        ],
    });
}

// ---------------------------------------------------------------------------------
// kill -9

/// Starts `cmd` held at `point` (through `STACKPACK_FAULT_DIR`) and waits until it is
/// there. Returns the child and the hold file to remove to let it go on.
fn start_held(mut cmd: Command, faults: &Path, point: &str) -> (Child, PathBuf) {
    std::fs::create_dir_all(faults).unwrap();
    let hold = faults.join(format!("{point}.hold"));
    std::fs::write(&hold, "").unwrap();
    let mut child = cmd
        .env("STACKPACK_FAULT_DIR", faults)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let marker = faults.join(format!("{point}.reached"));
    let started = Instant::now();
    while !std::fs::read_to_string(&marker).is_ok_and(|s| !s.is_empty()) {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            panic!(
                "exited ({status}) before reaching {point}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{point} not reached"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    (child, hold)
}

fn finish(child: Child) -> crate::common::Run {
    let out = child.wait_with_output().unwrap();
    crate::common::Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The holder of the root lock is killed with SIGKILL mid-install (after staging):
/// the next install does not wait for it, removes its staging and converges.
#[test]
fn kill_9_of_the_lock_holder_then_another_install_proceeds() {
    if !cfg!(debug_assertions) {
        return;
    }
    let f = fixture();
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let app = file_url(&f.app);
    let mut cmd = stackpack(&root);
    cmd.args(["install", &app]);
    let (mut child, _hold) = start_held(cmd, &d.path().join("faults"), "install-staged");
    child.kill().unwrap();
    child.wait().unwrap();
    let started = Instant::now();
    let r = run(stackpack(&root).args(["install", "--lock-timeout", "5", &app]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "waited for a dead holder"
    );
    assert_settled(&root, "after the kill -9 and the next install");
    assert_eq!(installed_version(&root, "app").as_deref(), Some("1.0.0"));
}

/// A staging dir left by a run whose pid is gone (and one by a pid that is alive but
/// does not hold the lock) is removed by the next run, which succeeds.
#[test]
fn stale_staging_of_a_dead_pid_is_removed() {
    let f = fixture();
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    must_install(&root, &[&file_url(&f.plain)]);
    write(
        &root.join(".stackpack-staging/run-999999/slot-0/pack.yaml"),
        "name: junk\n",
    );
    write(&root.join(".stackpack-staging/run-1/slot-3/x"), "junk");
    must_install(&root, &[&file_url(&f.re_v1), "--no-venv"]);
    assert_settled(&root, "after a run over stale staging");
}

/// Killed right after the swap, then the next command is a removal of that pack: the
/// removal sees the new version as installed and takes it out; the lockfile follows.
#[test]
fn kill_after_swap_then_remove() {
    if !cfg!(debug_assertions) {
        return;
    }
    let f = fixture();
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let r = run(stackpack(&root)
        .env("STACKPACK_FAULT_POINT", "after-swap")
        .args(["install", &file_url(&f.plain)]));
    assert_ne!(r.code, 0);
    assert!(
        root.join(JOURNAL_FILE).exists(),
        "the journal names the swap"
    );
    // The raw lockfile lags; the journal makes up for it for every reader.
    assert!(
        Lockfile::read(&root.join("stackpack.lock"))
            .unwrap_or_default()
            .get("plain")
            .is_none()
    );
    assert!(journal::current(&root).unwrap().get("plain").is_some());
    let r = run(stackpack(&root).args(["list"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("plain"), "{}", r.stdout);
    let r = run(stackpack(&root).args(["remove", "plain"]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_settled(&root, "after the removal");
    assert!(installed_refs(&root).is_empty());
}

/// Killed inside the recovery of an earlier kill: the recovery runs again, to the same
/// result.
#[test]
fn kill_during_recovery_is_recovered() {
    if !cfg!(debug_assertions) {
        return;
    }
    let f = fixture();
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let v1 = file_url(&f.re_v1);
    let v2 = file_url(&f.re_v2);
    must_install(&root, &["--no-venv", &v1]);
    for point in ["after-swap", "recover-after-lockfile"] {
        let r = run(stackpack(&root).env("STACKPACK_FAULT_POINT", point).args([
            "install",
            "--no-venv",
            &v2,
        ]));
        assert!(r.stderr.contains(point), "{point}: {}", r.stderr);
        assert_agree(&root, &journal::current(&root).unwrap(), point);
    }
    must_install(&root, &["--no-venv", &v2]);
    assert_settled(&root, "after two kills");
    assert_eq!(installed_version(&root, "re").as_deref(), Some("2.0.0"));
}

// ---------------------------------------------------------------------------------
// concurrency

/// Two installs of different packs into one root at once: the second waits for the
/// first (saying so), both succeed, the lockfile records both.
#[test]
fn two_installs_of_different_packs_at_once() {
    if !cfg!(debug_assertions) {
        return;
    }
    let f = fixture();
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let mut first = stackpack(&root);
    first.args(["install", &file_url(&f.plain)]);
    let (held, hold) = start_held(first, &d.path().join("faults"), "install-staged");
    let second = stackpack(&root)
        .args(["install", &file_url(&f.app)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    std::fs::remove_file(hold).unwrap();
    let (a, b) = (finish(held), finish(second));
    assert_eq!(a.code, 0, "{}", a.stderr);
    assert_eq!(b.code, 0, "{}", b.stderr);
    assert!(
        b.stderr.contains("waiting for another stackpack"),
        "{}",
        b.stderr
    );
    assert_settled(&root, "after two installs at once");
    assert_eq!(
        installed_refs(&root),
        BTreeSet::from(["app".into(), "lib".into(), "plain".into()])
    );
}

/// An install while a removal is between its steps: the install waits, the removal
/// finishes, then the install runs; both succeed and the end state is consistent.
#[test]
fn install_while_remove_runs() {
    if !cfg!(debug_assertions) {
        return;
    }
    let f = fixture();
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    must_install(&root, &[&file_url(&f.plain)]);
    let mut rm = stackpack(&root);
    rm.args(["remove", "plain"]);
    let (held, hold) = start_held(rm, &d.path().join("faults"), "remove-after-take-out");
    let install = stackpack(&root)
        .args(["install", &file_url(&f.app)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    std::fs::remove_file(hold).unwrap();
    let (a, b) = (finish(held), finish(install));
    assert_eq!(a.code, 0, "{}", a.stderr);
    assert_eq!(b.code, 0, "{}", b.stderr);
    assert_settled(&root, "after a removal and an install at once");
    assert_eq!(
        installed_refs(&root),
        BTreeSet::from(["app".into(), "lib".into()])
    );
}

/// A registration while an install is about to swap: registration does not take the
/// root lock, it reads what is installed now and commits; the install then finishes.
/// The registry is sound and the next registration sees every pack.
#[test]
fn register_while_install_runs() {
    if !cfg!(debug_assertions) {
        return;
    }
    let f = fixture();
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    must_install(&root, &[&file_url(&f.plain)]);
    let mut inst = stackpack(&root);
    inst.args(["install", &file_url(&f.app)]);
    let (held, hold) = start_held(inst, &d.path().join("faults"), "before-swap");
    let r = run(stackpack(&root).args(["register"]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_registry_ok(&root, "register during an install");
    std::fs::remove_file(hold).unwrap();
    let a = finish(held);
    assert_eq!(a.code, 0, "{}", a.stderr);
    let r = run(stackpack(&root).args(["register"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_settled(&root, "after an install and a registration at once");
    assert_eq!(
        registered_packs(&root),
        BTreeSet::from(["app".into(), "lib".into(), "plain".into()])
    );
}

/// Eight installs of the same pack into one root at once: all succeed (one installs,
/// the others find it installed or replace it whole), one pack, one lockfile entry.
#[test]
fn eight_concurrent_installs_of_the_same_pack() {
    let f = fixture();
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    let children: Vec<Child> = (0..8)
        .map(|_| {
            stackpack(&root)
                .args(["install", &file_url(&f.app)])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let r = finish(child);
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    }
    assert_settled(&root, "after 8 installs at once");
    let lock = Lockfile::read(&root.join("stackpack.lock")).unwrap();
    assert_eq!(lock.packs.len(), 2, "{lock:?}");
}

// ---------------------------------------------------------------------------------
// disk full

/// A tmpfs of `size` mounted at `dir`, unmounted when dropped. `None` (with the printed
/// reason) where mounting is not possible outside CI; in CI a failure.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str, case: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs(dir.to_path_buf())),
            other => {
                let why = match other {
                    Ok(o) => String::from_utf8_lossy(&o.stderr).trim().to_string(),
                    Err(e) => e.to_string(),
                };
                crate::common::cannot_run(
                    case,
                    &format!("cannot mount a tmpfs ({why}); run the tests as root"),
                );
                None
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the filesystem of `dir` with `dir/filler` until it is full.
fn fill(dir: &Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(dir.join("filler")).unwrap();
    let chunk = vec![0x5au8; 4096];
    while f.write_all(&chunk).is_ok() && f.flush().is_ok() {}
    let _ = f.sync_all();
}

/// A pack bigger than the disk: staging fails with "No space left" naming the file, the
/// pack and the staging directory, and says the disk is full;
/// the installed version stays, nothing is left; with a pack that fits the next
/// install succeeds.
#[test]
fn disk_full_during_extract() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let Some(_mnt) = Tmpfs::mount(&root, "2m", "disk_full_during_extract") else {
        return;
    };
    let src = d.path().join("big");
    write(&src.join("pack.yaml"), &pack_yaml("big", "1.0.0"));
    must_install(&root, &[&file_url(&src)]);
    write(&src.join("pack.yaml"), &pack_yaml("big", "2.0.0"));
    let blob: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(src.join("blob.bin"), blob).unwrap();
    let r = run(stackpack(&root).args(["install", &file_url(&src)]));
    assert_ne!(r.code, 0);
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(all.contains("No space left"), "{all}");
    assert!(all.contains("blob.bin"), "the file is named: {all}");
    assert!(
        all.contains(&format!("cannot stage {}", file_url(&src))),
        "the pack is named: {all}"
    );
    assert!(
        all.contains(&root.join(".stackpack-staging").display().to_string()),
        "the staging directory is named: {all}"
    );
    assert!(
        all.contains("disk holding the stackpack root is full"),
        "{all}"
    );
    assert_eq!(installed_version(&root, "big").as_deref(), Some("1.0.0"));
    assert_settled(&root, "after a full disk during the fetch");
    std::fs::remove_file(src.join("blob.bin")).unwrap();
    must_install(&root, &[&file_url(&src)]);
    assert_eq!(installed_version(&root, "big").as_deref(), Some("2.0.0"));
    assert_settled(&root, "after the next install");
}

/// The disk fills up while a pack's virtualenv is built: the install fails naming the
/// virtualenv, the previous pack and venv stay, no build dir is left; once space is
/// freed the next install succeeds.
#[test]
fn disk_full_during_venv() {
    if !cfg!(debug_assertions) || !have_python("disk_full_during_venv") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let Some(_mnt) = Tmpfs::mount(&root, "64m", "disk_full_during_venv") else {
        return;
    };
    let f = fixture();
    must_install(&root, &["--no-venv", &file_url(&f.re_v1)]);
    // Held once the pack is staged, the disk is filled: the venv build meets it.
    let mut cmd = stackpack(&root);
    cmd.args(["install", &file_url(&f.re_v2)]);
    let (held, hold) = start_held(cmd, &d.path().join("faults"), "install-journal-written");
    fill(&root);
    std::fs::remove_file(hold).unwrap();
    let r = finish(held);
    assert_ne!(r.code, 0, "{}", r.stdout);
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(all.contains("virtualenv for re"), "{all}");
    assert_eq!(installed_version(&root, "re").as_deref(), Some("1.0.0"));
    std::fs::remove_file(root.join("filler")).unwrap();
    assert_settled(&root, "after a full disk during the venv");
    must_install(&root, &[&file_url(&f.re_v2)]);
    assert_eq!(installed_version(&root, "re").as_deref(), Some("2.0.0"));
    assert!(root.join("virtualenvs/re/bin/python").exists());
    assert_settled(&root, "after the next install");
}

/// The disk fills up after the swap, so the lockfile cannot be written: the install
/// fails naming stackpack.lock; the journal still describes the swapped pack (every
/// reader sees packs/ as it is) and the next install, with space, settles the lockfile.
#[test]
fn disk_full_during_lockfile_write() {
    if !cfg!(debug_assertions) {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let Some(_mnt) = Tmpfs::mount(&root, "4m", "disk_full_during_lockfile_write") else {
        return;
    };
    let f = fixture();
    must_install(&root, &["--no-venv", &file_url(&f.re_v1)]);
    let mut cmd = stackpack(&root);
    cmd.args(["install", "--no-venv", &file_url(&f.re_v2)]);
    let faults = d.path().join("faults");
    // Held after the swap (the old tree already dropped), the disk is filled.
    let (held, hold) = start_held(cmd, &faults, "install-swapped");
    fill(&root);
    std::fs::remove_file(hold).unwrap();
    let r = finish(held);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(r.stderr.contains("stackpack.lock"), "{}", r.stderr);
    assert!(r.stderr.contains("No space left"), "{}", r.stderr);
    assert_eq!(installed_version(&root, "re").as_deref(), Some("2.0.0"));
    assert_agree(
        &root,
        &journal::current(&root).unwrap(),
        "lockfile not written",
    );
    std::fs::remove_file(root.join("filler")).unwrap();
    must_install(&root, &["--no-venv", &file_url(&f.re_v2)]);
    assert_settled(&root, "after the next install");
}

/// The disk fills up before the registry commits: the registration fails naming
/// registry.db and the full disk, the previous registration stays and the database is sound; with space
/// the next registration succeeds.
#[test]
fn disk_full_during_registry_commit() {
    if !cfg!(debug_assertions) {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let Some(_mnt) = Tmpfs::mount(&root, "8m", "disk_full_during_registry_commit") else {
        return;
    };
    let f = fixture();
    must_install(&root, &[&file_url(&f.plain)]);
    let before = registered_packs(&root);
    must_install(&root, &["--no-register", &file_url(&f.app)]);
    let mut cmd = stackpack(&root);
    cmd.args(["register"]);
    let (held, hold) = start_held(cmd, &d.path().join("faults"), "register-prepared");
    fill(&root);
    std::fs::remove_file(hold).unwrap();
    let r = finish(held);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(r.stderr.contains("registry.db"), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("The disk holding it is full: free space on it"),
        "the full disk is named: {}",
        r.stderr
    );
    // (SQLite itself needs space to open the database for the check.)
    std::fs::remove_file(root.join("filler")).unwrap();
    assert_registry_ok(&root, "after a full disk during the commit");
    assert_eq!(
        registered_packs(&root),
        before,
        "the previous registration stays"
    );
    let r = run(stackpack(&root).args(["register"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        registered_packs(&root),
        BTreeSet::from(["app".into(), "lib".into(), "plain".into()])
    );
    assert_settled(&root, "after the next registration");
}

// ---------------------------------------------------------------------------------
// foreign roots and lockfiles

/// A root that is a file: a clear error naming it, the file unchanged.
#[test]
fn a_root_that_is_a_file() {
    let f = fixture();
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    std::fs::write(&root, "not a dir").unwrap();
    let r = run(stackpack(&root).args(["install", &file_url(&f.plain)]));
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains(&root.display().to_string()),
        "{}",
        r.stderr
    );
    assert_eq!(std::fs::read_to_string(&root).unwrap(), "not a dir");
}

/// `packs` is a file in the root: a clear error naming it, nothing changed.
#[test]
fn a_packs_dir_that_is_a_file() {
    let f = fixture();
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    write(&root.join("packs"), "nope");
    let r = run(stackpack(&root).args(["install", &file_url(&f.plain)]));
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("packs"), "{}", r.stderr);
    assert_eq!(std::fs::read_to_string(root.join("packs")).unwrap(), "nope");
    assert!(!root.join("stackpack.lock").exists());
}

/// A root another layout left files in (unknown files and dirs, dot files, a packs
/// README): the install succeeds and touches none of them.
#[test]
fn a_root_with_another_layouts_files() {
    let f = fixture();
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let foreign = [
        "state-v9.db",
        ".stackpack-v9/journal",
        "packs/README.txt",
        "virtualenvs/.keep",
        "configs/other.yaml",
    ];
    for p in foreign {
        write(&root.join(p), "foreign");
    }
    must_install(&root, &[&file_url(&f.plain)]);
    for p in foreign {
        assert_eq!(
            std::fs::read_to_string(root.join(p)).unwrap(),
            "foreign",
            "{p}"
        );
    }
    let lock = Lockfile::read(&root.join("stackpack.lock")).unwrap();
    assert_eq!(lock.packs.len(), 1);
}

/// A damaged lockfile (garbage, truncated mid-entry, a version from the future): the
/// install refuses, naming stackpack.lock and what is wrong; neither the lockfile nor
/// packs/ change. Once fixed the next install succeeds.
#[test]
fn damaged_lockfiles_are_refused_and_left_alone() {
    let f = fixture();
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    must_install(&root, &[&file_url(&f.plain)]);
    let good = std::fs::read_to_string(root.join("stackpack.lock")).unwrap();
    let cut = &good[..good.len() * 2 / 3];
    let cases = [
        (
            "garbage",
            "\u{1}\u{2}garbage[[[ = \n".to_string(),
            "stackpack.lock",
        ),
        ("truncated", cut.to_string(), "stackpack.lock"),
        (
            "from the future",
            good.replace("version = 1", "version = 9"),
            "version 9 is not supported",
        ),
    ];
    for (what, text, says) in cases {
        std::fs::write(root.join("stackpack.lock"), &text).unwrap();
        let r = run(stackpack(&root).args(["install", &file_url(&f.re_v1), "--no-venv"]));
        assert_ne!(r.code, 0, "{what}: {}", r.stdout);
        assert!(r.stderr.contains(says), "{what}: {}", r.stderr);
        assert!(r.stderr.contains("stackpack.lock"), "{what}: {}", r.stderr);
        assert_eq!(
            std::fs::read_to_string(root.join("stackpack.lock")).unwrap(),
            text,
            "{what}: the lockfile was changed"
        );
        assert_eq!(
            installed_refs(&root),
            BTreeSet::from(["plain".into()]),
            "{what}"
        );
    }
    std::fs::write(root.join("stackpack.lock"), &good).unwrap();
    must_install(&root, &[&file_url(&f.re_v1), "--no-venv"]);
    assert_settled(&root, "after the lockfile was fixed");
}

/// A journal that cannot be read (garbage, or from a future version): install and
/// remove refuse, naming the journal and saying what to do; nothing changes.
#[test]
fn unreadable_journals_are_refused() {
    let f = fixture();
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    must_install(&root, &[&file_url(&f.plain)]);
    let lock = std::fs::read_to_string(root.join("stackpack.lock")).unwrap();
    for (what, text) in [
        ("garbage", "{not json"),
        (
            "from the future",
            r#"{"version": 7, "install": [], "remove": []}"#,
        ),
    ] {
        std::fs::write(root.join(JOURNAL_FILE), text).unwrap();
        let install = args(&["install", "--no-venv", &file_url(&f.re_v1)]);
        for a in [install, args(&["remove", "plain"])] {
            let r = run(stackpack(&root).args(&a));
            assert_ne!(r.code, 0, "{what} {a:?}: {}", r.stdout);
            assert!(r.stderr.contains(JOURNAL_FILE), "{what}: {}", r.stderr);
            assert!(r.stderr.contains("delete it"), "{what}: {}", r.stderr);
            assert_eq!(
                std::fs::read_to_string(root.join("stackpack.lock")).unwrap(),
                lock
            );
            assert_eq!(installed_refs(&root), BTreeSet::from(["plain".into()]));
        }
    }
    std::fs::remove_file(root.join(JOURNAL_FILE)).unwrap();
    must_install(&root, &[&file_url(&f.re_v1), "--no-venv"]);
    assert_settled(&root, "after the journal was deleted");
}
