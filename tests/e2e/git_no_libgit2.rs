//! A run that transfers nothing from a remote never initialises libgit2: its one-time
//! global initialisation loads OpenSSL's configuration (`openssl.cnf`) and the system's
//! CA bundle, ~20 ms of CPU per process. Seen from outside with `strace`: the real
//! binary installs from a `file://` bare repository, and reinstalls an unchanged pack
//! from a smart-HTTP remote, without opening `openssl.cnf`; the first install from that
//! remote (a libgit2 fetch) does open it, so the observable is the right one.

use std::path::Path;
use std::process::Command;

use crate::common::{
    bare_clone, cannot_run, commit_version, file_url, git_http_server, installed_version,
    pack_repo, stackpack,
};

/// The file OpenSSL's initialisation (run by libgit2's) opens; rustls, our HTTP
/// client's TLS, never reads it.
const OPENSSL_INIT: &str = "openssl.cnf";

/// Whether strace can trace a process here (it may be missing, or ptrace denied).
fn strace_works() -> bool {
    Command::new("strace")
        .args(["-f", "-e", "trace=openat", "-o", "/dev/null", "true"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs `stackpack --root <root> <args>` (the e2e environment) under
/// `strace -f -e trace=openat`; returns its exit code, its output and the files it
/// opened.
fn traced(root: &Path, log: &Path, args: &[&str]) -> (i32, String, String) {
    let mut inner = stackpack(root);
    inner.args(args);
    let mut cmd = Command::new("strace");
    cmd.args(["-f", "-e", "trace=openat", "-o"])
        .arg(log)
        .arg(inner.get_program())
        .args(inner.get_args());
    for (k, v) in inner.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let out = cmd.output().expect("run strace");
    let opened = std::fs::read_to_string(log).expect("read the strace log");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        opened,
    )
}

fn opened_openssl_config(opened: &str) -> bool {
    opened
        .lines()
        .any(|l| l.contains(OPENSSL_INIT) && !l.contains("ENOENT"))
}

/// Installing from a `file://` bare repository (read in place) into a fresh root, and
/// installing it again, never initialise libgit2.
#[test]
fn a_local_install_never_initialises_libgit2() {
    if !strace_works() {
        cannot_run(
            "git_no_libgit2::a_local_install_never_initialises_libgit2",
            "strace is missing or cannot trace here",
        );
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let work = pack_repo(&d.path().join("work"), "quiet", "1.0.0", "", "main");
    let bare = bare_clone(&work, &d.path().join("srv"), "quiet.git");
    let root = d.path().join("root");
    let spec = format!("{}=main", file_url(&bare));
    for round in ["install", "reinstall"] {
        let log = d.path().join(format!("{round}.strace"));
        let (code, out, opened) = traced(&root, &log, &["install", &spec]);
        assert_eq!(code, 0, "{round}: {out}");
        assert!(
            !opened_openssl_config(&opened),
            "{round} from file:// initialised libgit2 (opened {OPENSSL_INIT})"
        );
    }
    assert_eq!(installed_version(&root, "quiet").as_deref(), Some("1.0.0"));
}

/// Over smart HTTP: the first install fetches with libgit2 (and so opens
/// `openssl.cnf`, the control that shows the observable is seen); the reinstall of the
/// unchanged pack lists the refs with our own HTTP request and reads the cache with
/// gitoxide, and never initialises libgit2.
#[test]
fn an_unchanged_http_reinstall_never_initialises_libgit2() {
    if !strace_works() {
        cannot_run(
            "git_no_libgit2::an_unchanged_http_reinstall_never_initialises_libgit2",
            "strace is missing or cannot trace here",
        );
        return;
    }
    let d = tempfile::tempdir().unwrap();
    // A name of its own: the shared cache outlives this run.
    let name = format!(
        "quiet-{}-{}.git",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let work = pack_repo(&d.path().join("work"), "quiet", "1.0.0", "", "main");
    commit_version(&work, "quiet", "1.1.0", "");
    let served = d.path().join("srv");
    bare_clone(&work, &served, &name);
    let url = format!("{}/{name}", git_http_server(&served));
    let root = d.path().join("root");

    let (code, out, opened) = traced(&root, &d.path().join("first.strace"), &["install", &url]);
    assert_eq!(code, 0, "{out}");
    assert!(
        opened_openssl_config(&opened),
        "the first install fetched over HTTP without opening {OPENSSL_INIT}: the observable is wrong"
    );
    let (code, out, opened) = traced(&root, &d.path().join("again.strace"), &["install", &url]);
    assert_eq!(code, 0, "{out}");
    assert!(
        !opened_openssl_config(&opened),
        "an unchanged reinstall over HTTP initialised libgit2 (opened {OPENSSL_INIT}): {out}"
    );
    assert_eq!(installed_version(&root, "quiet").as_deref(), Some("1.1.0"));
}
