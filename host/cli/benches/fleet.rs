//! A fleet converging on one lockfile from an OCI registry, against the same fleet
//! installing from git, measured in one run.
//!
//!   cargo bench --bench fleet            (STACKPACK_BENCH_QUICK=1 for a small run)
//!
//! A dozen generated packs of 30 to 250 files (actions, scripts, docs), each a git repo
//! tagged v1.0.0 and served over file:// URLs. The registry is Debian's docker-registry
//! on 127.0.0.1 (skipped, with the reason, when it is not installed).
//!
//! - publish: each pack pushed to the registry (`stackpack push`), a source root
//!   installing them from `oci://` (from git when this build cannot install `oci://`
//!   packs; the output says which) and pushing its lockfile as `:prod`
//!   (`push --lockfile`);
//! - fleet sync: 8 empty roots, each with its own empty cache, `sync oci://…:prod` in
//!   parallel (per node and wall time);
//! - fleet install from git: 8 empty roots, each with its own empty cache, a cold
//!   `install` of the same packs from their git repos, in parallel;
//! - no-op sync: each synced root syncing the same channel again, one at a time.
//!
//! Virtualenvs are off in both (`--no-venv`): their cost is the same either way. Compiled
//! plugin code is copied into every cache first, as after any first run. Target: a no-op
//! sync under 50 ms per node.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use stackpack_testkit::registry::{Registry, RegistryOptions};

struct Shape {
    packs: usize,
    nodes: usize,
}

fn shape() -> Shape {
    if std::env::var("STACKPACK_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0") {
        Shape { packs: 3, nodes: 3 }
    } else {
        Shape {
            packs: 12,
            nodes: 8,
        }
    }
}

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

/// Pack `i` of `n`: between 30 and 250 files, spread evenly, three commits deep.
fn make_repo(dir: &Path, i: usize, n: usize) -> PathBuf {
    let files = 30 + (220 * i) / (n - 1).max(1);
    let repo = dir.join(format!("stackstorm-fleet{i}"));
    for sub in ["actions", "actions/lib", "rules", "sensors", "docs"] {
        std::fs::create_dir_all(repo.join(sub)).unwrap();
    }
    git(&repo, &["init", "-q", "-b", "main"]);
    for round in 0..3 {
        for f in 0..files {
            let body = format!("# round {round} {}\n", "x".repeat(300 + 37 * (f % 23)));
            let (path, text) = match f % 5 {
                0 | 1 => (
                    format!("actions/a{f}.yaml"),
                    format!(
                        "name: a{f}\npack: fleet{i}\nrunner_type: python-script\nentry_point: \
                         lib/a{f}.py\ndescription: {body}"
                    ),
                ),
                2 => (
                    format!("actions/lib/a{}.py", f - 2),
                    format!("def run():\n    return {f}\n{body}"),
                ),
                3 => (
                    format!("rules/r{f}.yaml"),
                    format!(
                        "name: r{f}\npack: fleet{i}\ntrigger:\n  type: core.st2.webhook\n\
                         action:\n  ref: fleet{i}.a0\ndescription: {body}"
                    ),
                ),
                _ => (format!("docs/d{f}.md"), body),
            };
            std::fs::write(repo.join(path), text).unwrap();
        }
        std::fs::write(
            repo.join("pack.yaml"),
            format!(
                "name: fleet{i}\nref: fleet{i}\nversion: 1.0.{round}\ndescription: bench \
                 pack\nauthor: b\n"
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
}

/// Runs stackpack on `root` with `cache` and `config`; the time it took.
fn stackpack(root: &Path, cache: &Path, config: &Path, args: &[&str]) -> (Duration, String) {
    try_stackpack(root, cache, config, args).unwrap_or_else(|e| panic!("{e}"))
}

fn try_stackpack(
    root: &Path,
    cache: &Path,
    config: &Path,
    args: &[&str],
) -> Result<(Duration, String), String> {
    let t = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_stackpack"))
        .arg("--root")
        .arg(root)
        .arg("--config")
        .arg(config)
        .env("STACKPACK_CACHE_DIR", cache)
        .args(args)
        .output()
        .unwrap();
    let took = t.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(format!(
            "stackpack {args:?}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok((took, stdout))
}

fn copy_dir(from: &Path, to: &Path) {
    let Ok(entries) = std::fs::read_dir(from) else {
        return;
    };
    std::fs::create_dir_all(to).unwrap();
    for e in entries.flatten() {
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// A fresh cache holding only the compiled plugin code of `warm`.
fn cache(dir: &Path, warm: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    copy_dir(&warm.join("plugins"), &dir.join("plugins"));
    dir.to_path_buf()
}

/// Runs `job` for every node at once; each node's time, and the wall time.
fn parallel(nodes: usize, job: impl Fn(usize) -> Duration + Sync) -> (Vec<Duration>, Duration) {
    let t = Instant::now();
    let each = std::thread::scope(|s| {
        let job = &job;
        let handles: Vec<_> = (0..nodes).map(|n| s.spawn(move || job(n))).collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    });
    (each, t.elapsed())
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1e3)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let shape = shape();
    let registry = match Registry::start(RegistryOptions::default()) {
        Ok(r) => r,
        Err(why) => {
            println!("fleet bench skipped: {why}");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("stackpack.toml");
    std::fs::write(
        &config,
        format!("insecure_registries = [\"{}\"]\n", registry.host_port()),
    )
    .unwrap();
    let repos: Vec<PathBuf> = (0..shape.packs)
        .map(|i| make_repo(&dir.path().join("repos"), i, shape.packs))
        .collect();
    let git_refs: Vec<String> = repos
        .iter()
        .map(|r| format!("file://{}=1.0.0", r.display()))
        .collect();

    // Publish: the packs from a root that installed them from git, then a source root
    // that installs them from the registry and pushes its lockfile.
    let warm = dir.path().join("warm-cache");
    let publisher = dir.path().join("publisher");
    let mut args = vec!["install", "--no-venv"];
    args.extend(git_refs.iter().map(String::as_str));
    stackpack(&publisher, &warm, &config, &args);
    let t = Instant::now();
    let oci_refs: Vec<String> = (0..shape.packs)
        .map(|i| {
            let target = registry.oci(&format!("packs/fleet{i}:1.0.0"));
            stackpack(
                &publisher,
                &warm,
                &config,
                &["push", &format!("fleet{i}"), &target],
            );
            target
        })
        .collect();
    let push_packs = t.elapsed();
    let source = dir.path().join("source");
    let source_cache = cache(&dir.path().join("source-cache"), &warm);
    let mut args = vec!["install", "--no-venv"];
    args.extend(oci_refs.iter().map(String::as_str));
    // A build that cannot install from oci:// yet publishes a lockfile of git packs: the
    // nodes then take the lockfile from the registry and the packs from git.
    let packs_from = if try_stackpack(&source, &source_cache, &config, &args).is_ok() {
        "the registry (oci://)"
    } else {
        let mut args = vec!["install", "--no-venv"];
        args.extend(git_refs.iter().map(String::as_str));
        stackpack(&source, &source_cache, &config, &args);
        "git (file://): this build installs no oci:// pack"
    };
    std::fs::create_dir_all(source.join("overrides")).unwrap();
    std::fs::write(
        source.join("overrides/_global.yaml"),
        "rules:\n  defaults:\n    enabled: false\n",
    )
    .unwrap();
    let channel = registry.oci("fleet/st2:prod");
    let t = Instant::now();
    stackpack(&source, &warm, &config, &["push", "--lockfile", &channel]);
    let push_lockfile = t.elapsed();

    let caches: Vec<PathBuf> = (0..shape.nodes)
        .flat_map(|n| {
            [
                cache(&dir.path().join(format!("sync-cache-{n}")), &warm),
                cache(&dir.path().join(format!("git-cache-{n}")), &warm),
            ]
        })
        .collect();
    let node = |kind: &str, n: usize| dir.path().join(format!("{kind}-{n}"));
    let (sync_each, sync_wall) = parallel(shape.nodes, |n| {
        stackpack(
            &node("sync", n),
            &caches[2 * n],
            &config,
            &["sync", "--no-venv", &channel],
        )
        .0
    });
    let (git_each, git_wall) = parallel(shape.nodes, |n| {
        let mut args = vec!["install", "--no-venv"];
        args.extend(git_refs.iter().map(String::as_str));
        stackpack(&node("git", n), &caches[2 * n + 1], &config, &args).0
    });
    let noop_each: Vec<Duration> = (0..shape.nodes)
        .map(|n| {
            let (took, out) = stackpack(
                &node("sync", n),
                &caches[2 * n],
                &config,
                &["sync", "--no-venv", &channel],
            );
            assert!(out.contains("already in sync"), "{out}");
            took
        })
        .collect();
    for n in 1..shape.nodes {
        assert_eq!(
            std::fs::read(node("sync", n).join("stackpack.lock")).unwrap(),
            std::fs::read(source.join("stackpack.lock")).unwrap(),
            "every node holds the desired lockfile"
        );
    }

    let files: usize = (0..shape.packs)
        .map(|i| 30 + (220 * i) / (shape.packs - 1).max(1) + 1)
        .sum();
    println!(
        "fleet of {} nodes, {} packs ({files} files per revision), registry on {}",
        shape.nodes,
        shape.packs,
        registry.host_port()
    );
    println!("  the nodes' packs come from {packs_from}");
    println!(
        "  publish: {} packs pushed in {}, lockfile pushed in {}",
        shape.packs,
        ms(push_packs),
        ms(push_lockfile)
    );
    println!();
    println!("  | node | sync oci://…:prod | cold install from git | no-op sync |");
    println!("  |---|---:|---:|---:|");
    for n in 0..shape.nodes {
        println!(
            "  | {n} | {} | {} | {} |",
            ms(sync_each[n]),
            ms(git_each[n]),
            ms(noop_each[n])
        );
    }
    println!(
        "  | all {} in parallel (wall) | {} | {} | |",
        shape.nodes,
        ms(sync_wall),
        ms(git_wall)
    );
    println!(
        "  | median per node | {} | {} | {} |",
        ms(median(sync_each.clone())),
        ms(median(git_each.clone())),
        ms(median(noop_each.clone()))
    );
    let worst_noop = noop_each.iter().max().copied().unwrap_or_default();
    println!();
    println!(
        "  sync vs git install (wall): {:.1}x; no-op sync worst {} (target < 50 ms: {})",
        git_wall.as_secs_f64() / sync_wall.as_secs_f64(),
        ms(worst_noop),
        if worst_noop < Duration::from_millis(50) {
            "ok"
        } else {
            "MISSED"
        }
    );
}
