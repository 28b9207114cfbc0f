//! Installs over git smart HTTP (`git http-backend` on 127.0.0.1), shallow, with a
//! token in the URL that must never show; and a git server that hangs.

use std::time::{Duration, Instant};

use crate::common::{
    commit_version, git, git_http_server, hanging_server, installed_version, pack_repo, run,
    stackpack, write,
};

#[test]
fn install_over_smart_http_is_shallow_and_keeps_tokens_secret() {
    let d = tempfile::tempdir().unwrap();
    let work = pack_repo(&d.path().join("work"), "webpack", "1.0.0", "", "main");
    git(&work, &["tag", "v1.0.0"]);
    commit_version(&work, "webpack", "2.0.0", "");
    git(&work, &["tag", "v2.0.0"]);
    commit_version(&work, "webpack", "3.0.0-dev", "");
    let served = d.path().join("srv");
    crate::common::bare_clone(&work, &served, "webpack.git");
    let base = git_http_server(&served);
    let url = base.replace("http://", "http://deploy:t0ps3cret@");
    let root = d.path().join("root");

    let r = run(stackpack(&root).args(["install", &format!("{url}/webpack.git=1.0.0")]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("tag v1.0.0"), "{}", r.stdout);
    assert_eq!(
        installed_version(&root, "webpack").as_deref(),
        Some("1.0.0")
    );

    // Default branch, then an upgrade by tag, all through the same bare cache.
    let r = run(stackpack(&root).args(["install", &format!("{url}/webpack.git")]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        installed_version(&root, "webpack").as_deref(),
        Some("3.0.0-dev")
    );
    let r = run(stackpack(&root).args(["install", &format!("{url}/webpack.git=2.0.0")]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        installed_version(&root, "webpack").as_deref(),
        Some("2.0.0")
    );

    let caches: Vec<_> = std::fs::read_dir(crate::common::shared_cache().join("git"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(
        caches.iter().any(|c| c.join("shallow").is_file()),
        "no shallow bare repo in the cache: {caches:?}"
    );
    let lock = std::fs::read_to_string(root.join("stackpack.lock")).unwrap();
    assert!(lock.contains(&format!("{base}/webpack.git")), "{lock}");
    for text in [&r.stdout, &r.stderr, &lock] {
        assert!(!text.contains("t0ps3cret"), "token leaked: {text}");
    }
    // An unknown version over HTTP lists what exists.
    let r = run(stackpack(&root).args(["install", &format!("{url}/webpack.git=4.0.0")]));
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("2.0.0, 1.0.0"), "{}", r.stdout);
    assert!(!r.stdout.contains("t0ps3cret") && !r.stderr.contains("t0ps3cret"));
}

#[test]
fn hanging_git_server_times_out() {
    let d = tempfile::tempdir().unwrap();
    let config = d.path().join("stackpack.toml");
    write(&config, "http_timeout = 1\n");
    let base = hanging_server();
    let t = Instant::now();
    let r = run(stackpack(&d.path().join("root"))
        .arg("--config")
        .arg(&config)
        .args(["install", &format!("{base}/stuck.git")]));
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("timed out after 1s"), "{}", r.stdout);
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "took {:?}",
        t.elapsed()
    );
}
