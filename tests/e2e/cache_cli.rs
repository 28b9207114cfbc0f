//! The cache under concurrency, through the binary: a diamond (two packs requiring one)
//! installed again and again, pairs of processes sharing one cache, a process held at a
//! fault point while another waits for it, and a process killed holding a cache lock.
//! Fault points exist in debug builds only.
#![cfg(debug_assertions)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use crate::common::*;

/// `base`, and `packa` and `packb` both requiring it, as git repositories tagged
/// `1.0.0`, served over smart HTTP on 127.0.0.1 and named with a version (git sources,
/// fetched through the git cache; a file:// repository would be read in place).
struct Diamond {
    base: PathBuf,
    /// The URL of `base`.
    base_url: String,
    packa: String,
    packb: String,
}

fn tagged(dir: &Path, name: &str, extra: &str) -> PathBuf {
    let repo = pack_repo(dir, name, "1.0.0", extra, "main");
    git(&repo, &["tag", "1.0.0"]);
    repo
}

fn diamond(dir: &Path) -> Diamond {
    let server = git_http_server(dir);
    let base = tagged(&dir.join("base"), "base", "");
    let base_url = format!("{server}/base");
    let dep = format!("dependencies:\n  - {base_url}=1.0.0\n");
    tagged(&dir.join("packa"), "packa", &dep);
    tagged(&dir.join("packb"), "packb", &dep);
    Diamond {
        base,
        base_url,
        packa: format!("{server}/packa=1.0.0"),
        packb: format!("{server}/packb=1.0.0"),
    }
}

/// A cache dir of its own, reusing the compiled plugins of the shared one.
fn fresh_cache(dir: &Path) -> PathBuf {
    let plugins = shared_cache().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    std::os::unix::fs::symlink(&plugins, dir.join("plugins")).unwrap();
    dir.to_path_buf()
}

fn install(root: &Path, cache: &Path, urls: &[&str]) -> Command {
    let mut cmd = stackpack(root);
    cmd.env("STACKPACK_CACHE_DIR", cache)
        .args(["install", "--no-venv", "--no-register"])
        .args(urls);
    cmd
}

fn spawn(cmd: &mut Command) -> Child {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start stackpack")
}

fn finish(child: Child) -> Run {
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The lockfile without its tree fingerprints (stat data of this root's files: inode,
/// mtime), which differ from root to root by design.
fn lockfile(root: &Path) -> String {
    let text = std::fs::read_to_string(root.join("stackpack.lock")).unwrap();
    assert!(text.contains("kind = \"git\""), "{text}");
    text.lines()
        .filter(|l| !l.starts_with("tree_sha256"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Waits until a process started with `STACKPACK_FAULT_DIR=<dir>` has reached `point`.
fn wait_reached(dir: &Path, point: &str, child: &mut Child) {
    let marker = dir.join(format!("{point}.reached"));
    let started = Instant::now();
    while !std::fs::read_to_string(&marker).is_ok_and(|s| !s.is_empty()) {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the process exited ({status}) before reaching {point}");
        }
        assert!(
            started.elapsed().as_secs() < 60,
            "{point} not reached in 60s"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// The one git repository in a cache.
fn cached_repo(cache: &Path) -> PathBuf {
    std::fs::read_dir(cache.join("git"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "git"))
        .unwrap()
}

#[test]
fn a_diamond_installs_every_time_with_one_lockfile() {
    let d = tempfile::tempdir().unwrap();
    let g = diamond(d.path());
    let started = Instant::now();
    let mut first: Option<String> = None;
    for i in 0..20 {
        let root = d.path().join(format!("root{i}"));
        let cache = fresh_cache(&d.path().join(format!("cache{i}")));
        let r = run(&mut install(&root, &cache, &[&g.packa, &g.packb]));
        assert_eq!(r.code, 0, "run {i}: {}{}", r.stdout, r.stderr);
        assert_eq!(installed_version(&root, "base").as_deref(), Some("1.0.0"));
        let lock = lockfile(&root);
        assert_eq!(first.get_or_insert_with(|| lock.clone()), &lock, "run {i}");
    }
    eprintln!("20 diamond installs in {:?}", started.elapsed());
}

#[test]
fn concurrent_installs_share_one_cache() {
    let d = tempfile::tempdir().unwrap();
    let g = diamond(d.path());
    let started = Instant::now();
    let mut first: Option<String> = None;
    for i in 0..10 {
        let cache = fresh_cache(&d.path().join(format!("cache{i}")));
        let (one, two) = (
            d.path().join(format!("a{i}")),
            d.path().join(format!("b{i}")),
        );
        let a = spawn(&mut install(&one, &cache, &[&g.packa, &g.packb]));
        let b = spawn(&mut install(&two, &cache, &[&g.packb, &g.packa]));
        for (r, root) in [(finish(a), &one), (finish(b), &two)] {
            assert_eq!(r.code, 0, "pair {i}: {}{}", r.stdout, r.stderr);
            let lock = lockfile(root);
            assert_eq!(first.get_or_insert_with(|| lock.clone()), &lock, "pair {i}");
        }
    }
    eprintln!("10 pairs of concurrent installs in {:?}", started.elapsed());
}

#[test]
fn a_process_waits_for_another_fetching_the_same_repository() {
    let d = tempfile::tempdir().unwrap();
    let g = diamond(d.path());
    let cache = fresh_cache(&d.path().join("cache"));
    let base = g.base_url.clone();
    let (fa, fb) = (d.path().join("fault-a"), d.path().join("fault-b"));
    std::fs::create_dir_all(&fa).unwrap();
    std::fs::create_dir_all(&fb).unwrap();
    std::fs::write(fa.join("cache-locked.hold"), &base).unwrap();
    let mut a =
        spawn(install(&d.path().join("a"), &cache, &[&g.packa]).env("STACKPACK_FAULT_DIR", &fa));
    let pid = a.id();
    wait_reached(&fa, "cache-locked", &mut a);
    // A holds the repository of `base`; B needs it too.
    let mut b =
        spawn(install(&d.path().join("b"), &cache, &[&g.packb]).env("STACKPACK_FAULT_DIR", &fb));
    wait_reached(&fb, "cache-lock-wait", &mut b);
    assert!(
        std::fs::read_to_string(fa.join("cache-locked.reached"))
            .unwrap()
            .contains(&base)
    );
    // A third with a short lock timeout gives up, naming the holder and the cause.
    let c = run(
        install(&d.path().join("c"), &cache, &[&format!("{base}=1.0.0")])
            .args(["--lock-timeout", "1"]),
    );
    assert_ne!(c.code, 0, "{}{}", c.stdout, c.stderr);
    let said = format!("{}{}", c.stdout, c.stderr);
    assert!(
        said.contains(&format!(
            "another stackpack (pid {pid}) is fetching the git repository {base} into the cache and did not finish within 1s"
        )) && said.contains("--lock-timeout")
            && !said.contains("network"),
        "{said}"
    );
    std::fs::remove_file(fa.join("cache-locked.hold")).unwrap();
    let (a, b) = (finish(a), finish(b));
    assert_eq!(a.code, 0, "{}{}", a.stdout, a.stderr);
    assert_eq!(b.code, 0, "{}{}", b.stdout, b.stderr);
    assert!(
        b.stderr.contains(&format!(
            "another stackpack (pid {pid}) is fetching the git repository {base}; waiting..."
        )),
        "{}",
        b.stderr
    );
    assert_eq!(
        installed_version(&d.path().join("b"), "base").as_deref(),
        Some("1.0.0")
    );
}

#[test]
fn an_install_after_a_kill_9_holding_a_cache_lock_succeeds() {
    let d = tempfile::tempdir().unwrap();
    let g = diamond(d.path());
    let cache = fresh_cache(&d.path().join("cache"));
    let root = d.path().join("root");
    let first = format!("{}=1.0.0", g.base_url);
    let r = run(&mut install(&root, &cache, &[&first]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    commit_version(&g.base, "base", "1.1.0", "");
    git(&g.base, &["tag", "1.1.0"]);
    let base = format!("{}=1.1.0", g.base_url);
    let fault = d.path().join("fault");
    std::fs::create_dir_all(&fault).unwrap();
    std::fs::write(fault.join("cache-locked.hold"), "").unwrap();
    let mut held = spawn(install(&root, &cache, &[&base]).env("STACKPACK_FAULT_DIR", &fault));
    wait_reached(&fault, "cache-locked", &mut held);
    held.kill().unwrap(); // SIGKILL
    held.wait().unwrap();
    // What libgit2 leaves when killed while writing refs and the shallow file.
    let repo = cached_repo(&cache);
    std::fs::write(repo.join("refs/stackpack/HEAD.lock"), "").unwrap();
    std::fs::write(repo.join("shallow.lock"), "").unwrap();
    let r = run(&mut install(&root, &cache, &[&base]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(installed_version(&root, "base").as_deref(), Some("1.1.0"));
    assert!(!repo.join("refs/stackpack/HEAD.lock").exists());
    assert!(
        r.stderr.contains("left by an interrupted git operation"),
        "{}",
        r.stderr
    );
}
