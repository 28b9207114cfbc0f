//! The install benchmark itself, shared by `cargo bench --bench install` (a release
//! binary, full-size repositories) and the end-to-end test that runs it small
//! (`tests/e2e/bench_install.rs`), so the benchmark cannot rot unnoticed.
//!
//! Repositories shaped like the StackStorm Exchange are generated with one
//! `git fast-import` per repository (history written in one process): one pack with
//! ~3,600 small YAML files, ~400 commits and ~50 version tags, one with ~850 files and
//! ~400 commits, and a dozen with 30–250 files and 50–250 commits. They are served as
//! `file://` bare repositories and over git's smart HTTP on 127.0.0.1 (`git http-backend`
//! behind stackpack-testkit's loopback server, answering requests in parallel).
//!
//! For each transport, the newest tag of every pack is installed into an empty packs
//! directory:
//! - the st2 way: per pack, one after another, a full `git clone`, a checkout of the
//!   tag and a copy into the packs dir, with the git CLI;
//! - the physical floor: each pack's tree at its tag written with
//!   `git archive | tar -x`, eight packs at a time (read from the bare repositories on
//!   disk: what writing the files costs). Each transport's table measures it again, in
//!   turn with git's transfer and the cold install, so a busy disk weighs on all three;
//! - git's own transfer: each pack's tag fetched shallow (`git fetch --depth 1`) into an
//!   empty bare repository with the git CLI, eight packs at a time, no files written.
//!   Over smart HTTP this is what the server (`git upload-pack` building each pack) and
//!   the wire cost before any file is written, a part the floor above does not pay;
//!   `file://` sources are read in place, so there it is shown for reference only;
//! - stackpack cold: an empty root and an empty cache;
//! - stackpack with the cache of a cold run but an empty root;
//! - stackpack reinstalling the biggest pack, unchanged (the whole process).
//!
//! `STACKPACK_BENCH_QUICK=1` makes the repositories ten times smaller and measures once.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How big the run is.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Repositories a tenth of the size, one measurement per row.
    pub quick: bool,
}

impl Options {
    /// From the environment: `STACKPACK_BENCH_QUICK=1` asks for the quick run.
    pub fn from_env() -> Options {
        Options {
            quick: std::env::var("STACKPACK_BENCH_QUICK").is_ok_and(|v| v == "1"),
        }
    }

    fn runs(&self) -> usize {
        if self.quick { 1 } else { 3 }
    }
}

/// The shape of one generated pack repository.
#[derive(Debug, Clone)]
struct Shape {
    name: String,
    files: usize,
    commits: usize,
    tags: usize,
}

/// A generated bare repository and the tag that is installed.
#[derive(Debug, Clone)]
pub struct Repo {
    pub name: String,
    pub path: PathBuf,
    pub files: usize,
    pub commits: usize,
    /// The newest tag's version (the tag is `v<version>`).
    pub version: String,
}

/// One row of a table: wall time and CPU time (of every child process; over HTTP that
/// includes the server's `git http-backend`).
#[derive(Debug, Clone, Copy)]
pub struct Measure {
    pub wall: Duration,
    pub cpu: Duration,
}

/// The measurements of one transport.
#[derive(Debug, Clone)]
pub struct Table {
    pub transport: &'static str,
    pub st2_way: Measure,
    pub floor: Measure,
    /// git's own shallow fetch of every pack's tag, no files written.
    pub transfer: Measure,
    pub cold: Measure,
    pub warm_cache: Measure,
    pub reinstall: Measure,
}

impl Table {
    /// How many times faster than the st2 way a cold install is.
    pub fn speedup(&self) -> f64 {
        self.st2_way.wall.as_secs_f64() / self.cold.wall.as_secs_f64()
    }

    /// How far a cold install is above the physical floor.
    pub fn over_floor(&self) -> f64 {
        self.cold.wall.as_secs_f64() / self.floor.wall.as_secs_f64()
    }

    /// How far a cold install is above the floor plus git's own transfer of the packs.
    pub fn over_floor_and_transfer(&self) -> f64 {
        self.cold.wall.as_secs_f64() / (self.floor.wall + self.transfer.wall).as_secs_f64()
    }
}

/// The result of a run.
#[derive(Debug, Clone)]
pub struct Report {
    pub repos: Vec<Repo>,
    pub generated: Duration,
    pub tables: Vec<Table>,
}

fn shapes(quick: bool) -> Vec<Shape> {
    let scale = |n: usize| if quick { n.div_ceil(10).max(3) } else { n };
    let mut shapes = vec![
        Shape {
            name: "bigpack".into(),
            files: scale(3600),
            commits: scale(420),
            tags: scale(50),
        },
        Shape {
            name: "midpack".into(),
            files: scale(850),
            commits: scale(400),
            tags: scale(30),
        },
    ];
    // A dozen smaller packs: 30–250 files, 50–250 commits (three of them when quick).
    let small: [(usize, usize); 12] = [
        (30, 50),
        (35, 80),
        (40, 120),
        (45, 60),
        (50, 250),
        (60, 90),
        (70, 150),
        (80, 70),
        (100, 200),
        (130, 110),
        (170, 180),
        (250, 240),
    ];
    let picked: Vec<_> = if quick {
        vec![small[0], small[5], small[11]]
    } else {
        small.to_vec()
    };
    for (i, (files, commits)) in picked.into_iter().enumerate() {
        shapes.push(Shape {
            name: format!("pack{i:02}"),
            files: scale(files),
            commits: scale(commits),
            tags: scale(commits / 10),
        });
    }
    shapes
}

/// A deterministic stream of numbers (no dependency on a random crate).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

/// The path of file `i` of a pack: mostly action metadata, then rules, sensors and
/// workflows, as in an Exchange pack.
fn file_path(i: usize) -> String {
    match i % 20 {
        0..=13 => format!("actions/action_{i:04}.yaml"),
        14..=16 => format!("rules/rule_{i:04}.yaml"),
        17 => format!("sensors/sensor_{i:04}.yaml"),
        _ => format!("actions/workflows/flow_{i:04}.yaml"),
    }
}

/// A small YAML file (300–900 bytes), different for each `(i, round)`.
fn file_text(pack: &str, i: usize, round: usize, rng: &mut Lcg) -> String {
    let mut text = format!(
        "---\nname: item_{i}\npack: {pack}\nrunner_type: python-script\nentry_point: item_{i}.py\ndescription: Item {i} of {pack}, revision {round}\nenabled: true\nparameters:\n"
    );
    let params = 2 + (rng.next() % 10) as usize;
    for p in 0..params {
        let _ = write!(
            text,
            "  param_{p}:\n    type: string\n    description: Parameter {p} ({})\n    required: {}\n",
            rng.next(),
            p % 3 == 0
        );
    }
    text
}

fn pack_yaml(name: &str, version: &str) -> String {
    format!(
        "---\nname: {name}\nref: {name}\ndescription: The {name} pack (generated for the install benchmark)\nkeywords: [bench, {name}]\nversion: {version}\nauthor: StackStorm Exchange\nemail: info@stackstorm.com\npython_versions:\n  - \"3\"\n"
    )
}

fn blob(out: &mut Vec<u8>, path: &str, text: &str) {
    let _ = write!(out, "M 100644 inline {path}\ndata {}\n", text.len());
    out.extend_from_slice(text.as_bytes());
    out.push(b'\n');
}

/// Writes the history of `shape` into a new bare repository at `path` with one
/// `git fast-import`; returns the newest tag's version.
fn generate(shape: &Shape, path: &Path) -> String {
    git(
        path.parent().unwrap(),
        &["init", "-q", "--bare", "-b", "main", path.to_str().unwrap()],
    );
    let mut rng = Lcg(shape.files as u64 * 7919 + shape.commits as u64);
    let mut stream = Vec::with_capacity(shape.files * 700 + shape.commits * 4000);
    let every = (shape.commits / shape.tags.max(1)).max(1);
    let mut tag = 0usize;
    let mut version = "0.1.0".to_string();
    for c in 0..shape.commits {
        let _ = write!(
            stream,
            "commit refs/heads/main\nmark :{}\ncommitter Bench <bench@example.com> {} +0000\n",
            c + 1,
            1_600_000_000 + c * 3600
        );
        let msg = format!("change {c}");
        let _ = write!(stream, "data {}\n{msg}\n", msg.len());
        if c > 0 {
            let _ = writeln!(stream, "from :{c}");
        }
        let tagged = (c + 1) % every == 0 && tag < shape.tags;
        if c == 0 {
            blob(&mut stream, "README.md", &format!("# {}\n", shape.name));
            for i in 0..shape.files.saturating_sub(2) {
                let text = file_text(&shape.name, i, 0, &mut rng);
                blob(&mut stream, &file_path(i), &text);
            }
        } else {
            let changed = 1 + (rng.next() % 8) as usize;
            for _ in 0..changed {
                let i = (rng.next() as usize) % shape.files.saturating_sub(2).max(1);
                let text = file_text(&shape.name, i, c, &mut rng);
                blob(&mut stream, &file_path(i), &text);
            }
        }
        if c == 0 || tagged {
            if tagged {
                tag += 1;
                version = format!("1.{tag}.0");
            }
            blob(&mut stream, "pack.yaml", &pack_yaml(&shape.name, &version));
        }
        if tagged {
            let _ = write!(stream, "reset refs/tags/v{version}\nfrom :{}\n\n", c + 1);
        }
    }
    let mut child = git_cmd(path)
        .args(["fast-import", "--quiet"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("run git fast-import");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&stream)
        .expect("feed git fast-import");
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "git fast-import failed for {}",
        shape.name
    );
    version
}

fn git_cmd(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env_remove("http_proxy")
        .env_remove("https_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY");
    cmd
}

fn git(dir: &Path, args: &[&str]) {
    let out = git_cmd(dir).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The CPU time of this process's waited-for children so far (`cutime + cstime` of
/// /proc/self/stat, in clock ticks of 10 ms).
fn children_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // cutime and cstime are fields 16 and 17 of the line (1-based), 14 and 15 here.
    let ticks: u64 = [13, 14]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    Duration::from_millis(ticks * 10)
}

fn measure(f: impl FnOnce()) -> Measure {
    let cpu = children_cpu();
    let t = Instant::now();
    f();
    Measure {
        wall: t.elapsed(),
        cpu: children_cpu().saturating_sub(cpu),
    }
}

fn median(mut v: Vec<Measure>) -> Measure {
    v.sort_by_key(|m| m.wall);
    v[v.len() / 2]
}

/// The st2 way: per pack, one after another, a full clone, a checkout of the tag and a
/// copy into `packs/` (st2 clones into `~/.st2packs/<md5>` and moves the checkout in).
fn st2_way(repos: &[Repo], url: &dyn Fn(&Repo) -> String, work: &Path) {
    let clones = work.join("st2packs");
    let packs = work.join("packs");
    std::fs::create_dir_all(&clones).unwrap();
    std::fs::create_dir_all(&packs).unwrap();
    for repo in repos {
        let clone = clones.join(&repo.name);
        git(
            &clones,
            &["clone", "-q", &url(repo), clone.to_str().unwrap()],
        );
        git(
            &clone,
            &[
                "-c",
                "advice.detachedHead=false",
                "checkout",
                "-q",
                &format!("v{}", repo.version),
            ],
        );
        let out = Command::new("cp")
            .arg("-r")
            .arg(&clone)
            .arg(packs.join(&repo.name))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "cp: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::remove_dir_all(&clone).unwrap();
    }
}

/// Runs the shell script `script(i, repo)` gives for every repository, eight at a time.
fn eight_at_a_time(repos: &[Repo], script: &(dyn Fn(usize, &Repo) -> String + Sync)) {
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..8.min(repos.len()) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(repo) = repos.get(i) else { break };
                    let script = script(i, repo);
                    let out = Command::new("sh")
                        .args(["-ec", &script])
                        .env("GIT_CONFIG_NOSYSTEM", "1")
                        .output()
                        .unwrap();
                    assert!(
                        out.status.success(),
                        "{script}: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
            });
        }
    });
}

/// git's own transfer: each pack's tag fetched shallow into an empty bare repository
/// with the git CLI, eight packs at a time.
fn transfer(repos: &[Repo], url: &dyn Fn(&Repo) -> String, work: &Path) {
    let urls: Vec<String> = repos.iter().map(url).collect();
    eight_at_a_time(repos, &|i, repo| {
        let dest = work.join(format!("{}.git", repo.name));
        let tag = format!("refs/tags/v{}", repo.version);
        format!(
            "git init -q --bare '{}' && git --git-dir='{}' fetch -q --depth 1 --no-tags '{}' '{tag}:{tag}'",
            dest.display(),
            dest.display(),
            urls[i],
        )
    });
}

/// The physical floor: each pack's tree at its tag written by `git archive | tar -x`,
/// eight packs at a time.
fn floor(repos: &[Repo], work: &Path) {
    let packs = work.join("packs");
    eight_at_a_time(repos, &|_, repo| {
        let dest = packs.join(&repo.name);
        std::fs::create_dir_all(&dest).unwrap();
        format!(
            "git --git-dir='{}' archive 'v{}' | tar -x -C '{}'",
            repo.path.display(),
            repo.version,
            dest.display()
        )
    });
}

/// One `stackpack install --no-venv --no-register` process.
fn stackpack(bin: &Path, root: &Path, cache: &Path, refs: &[String]) {
    let mut cmd = Command::new(bin);
    for (k, _) in std::env::vars() {
        if k.starts_with("STACKPACK_") || k.to_ascii_lowercase().ends_with("_proxy") {
            cmd.env_remove(k);
        }
    }
    let out = cmd
        .arg("--root")
        .arg(root)
        .env("STACKPACK_CACHE_DIR", cache)
        .args(["install", "--no-venv", "--no-register"])
        .args(refs)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stackpack install failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn count_files(dir: &Path) -> usize {
    let mut n = 0;
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let t = e.file_type().unwrap();
            if t.is_dir() {
                if e.file_name() != ".git" {
                    dirs.push(e.path());
                }
            } else {
                n += 1;
            }
        }
    }
    n
}

/// Measures one transport: `url` names a repository as that transport serves it.
fn measure_transport(
    opts: Options,
    bin: &Path,
    transport: &'static str,
    repos: &[Repo],
    url: &dyn Fn(&Repo) -> String,
    work: &Path,
) -> Table {
    let runs = opts.runs();
    let refs: Vec<String> = repos
        .iter()
        .map(|r| format!("{}={}", url(r), r.version))
        .collect();
    let st2 = median(
        (0..runs)
            .map(|n| measure(|| st2_way(repos, url, &work.join(format!("st2-{n}")))))
            .collect(),
    );
    // The floor, git's transfer and the cold install are measured in turn, run after
    // run, so that a disk or CPU busy with something else weighs on all three alike.
    let mut floors = Vec::new();
    let mut transfers = Vec::new();
    let mut colds = Vec::new();
    for n in 0..runs {
        floors.push(measure(|| floor(repos, &work.join(format!("floor-{n}")))));
        transfers.push(measure(|| {
            transfer(repos, url, &work.join(format!("transfer-{n}")))
        }));
        let (root, cache) = (
            work.join(format!("cold-{n}")),
            work.join(format!("cache-{n}")),
        );
        std::fs::create_dir_all(&cache).unwrap();
        colds.push(measure(|| stackpack(bin, &root, &cache, &refs)));
    }
    let (floor_row, transfer_row, cold) = (median(floors), median(transfers), median(colds));
    // Every pack and every file landed.
    let root = work.join("cold-0");
    for repo in repos {
        assert_eq!(
            count_files(&root.join("packs").join(&repo.name)),
            repo.files,
            "{} over {transport}",
            repo.name
        );
    }
    let warm_cache = median(
        (0..runs)
            .map(|n| {
                let root = work.join(format!("warm-{n}"));
                measure(|| stackpack(bin, &root, &work.join("cache-0"), &refs))
            })
            .collect(),
    );
    let one = [refs[0].clone()];
    let reinstall = median(
        (0..runs.max(5))
            .map(|_| measure(|| stackpack(bin, &root, &work.join("cache-0"), &one)))
            .collect(),
    );
    Table {
        transport,
        st2_way: st2,
        floor: floor_row,
        transfer: transfer_row,
        cold,
        warm_cache,
        reinstall,
    }
}

/// Generates the repositories, serves them, measures both transports.
pub fn run(opts: Options, bin: &Path, work: &Path) -> Report {
    let served = work.join("srv");
    std::fs::create_dir_all(&served).unwrap();
    let started = Instant::now();
    let shapes = shapes(opts.quick);
    let repos: Vec<Repo> = std::thread::scope(|s| {
        let handles: Vec<_> = shapes
            .iter()
            .map(|shape| {
                let served = &served;
                s.spawn(move || {
                    let path = served.join(format!("{}.git", shape.name));
                    let version = generate(shape, &path);
                    Repo {
                        name: shape.name.clone(),
                        path,
                        files: shape.files,
                        commits: shape.commits,
                        version,
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let generated = started.elapsed();

    let base = stackpack_testkit::http::git_http_server(&served);
    let file_url = |r: &Repo| format!("file://{}", r.path.display());
    let http_url = |r: &Repo| format!("{base}/{}.git", r.name);
    let tables = vec![
        measure_transport(
            opts,
            bin,
            "file:// bare repositories",
            &repos,
            &file_url,
            &work.join("file"),
        ),
        measure_transport(
            opts,
            bin,
            "smart HTTP on 127.0.0.1 (git http-backend)",
            &repos,
            &http_url,
            &work.join("http"),
        ),
    ];
    Report {
        repos,
        generated,
        tables,
    }
}

fn secs(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{:.0} ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

impl Report {
    /// The tables as Markdown, with the targets' verdicts.
    pub fn render(&self, opts: Options) -> String {
        let files: usize = self.repos.iter().map(|r| r.files).sum();
        let commits: usize = self.repos.iter().map(|r| r.commits).sum();
        let big = &self.repos[0];
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} packs, {files} files, {commits} commits (biggest: {} files, {} commits); generated in {}; median of {}{}\n",
            self.repos.len(),
            big.files,
            big.commits,
            secs(self.generated),
            opts.runs(),
            if opts.quick {
                " (STACKPACK_BENCH_QUICK)"
            } else {
                ""
            },
        );
        let verdict = |ok: bool| if ok { "ok" } else { "MISSED" };
        for t in &self.tables {
            let _ = writeln!(out, "{}\n", t.transport);
            let _ = writeln!(
                out,
                "| install of every pack at its newest tag | wall | CPU |"
            );
            let _ = writeln!(out, "|---|---:|---:|");
            let rows = [
                (
                    "the st2 way (clone + checkout + copy, one pack after another)",
                    t.st2_way,
                ),
                (
                    "physical floor (git archive \\| tar -x, 8 packs at a time)",
                    t.floor,
                ),
                (
                    "git's own transfer (git fetch --depth 1 of each tag, 8 at a time, no files written)",
                    t.transfer,
                ),
                ("stackpack cold (empty root and cache)", t.cold),
                ("stackpack, warm cache, empty packs dir", t.warm_cache),
                (
                    &*format!(
                        "stackpack reinstall of {} unchanged (whole process)",
                        big.name
                    ),
                    t.reinstall,
                ),
            ];
            for (label, m) in rows {
                let _ = writeln!(out, "| {label} | {} | {} |", secs(m.wall), secs(m.cpu));
            }
            let _ = writeln!(
                out,
                "\nst2 way / stackpack cold: {:.1}x (target >= 5x: {}); stackpack cold / floor: {:.2}x (target <= 1.3x: {}); stackpack cold / (floor + git's transfer): {:.2}x; reinstall < 30 ms: {}\n",
                t.speedup(),
                verdict(t.speedup() >= 5.0),
                t.over_floor(),
                verdict(t.over_floor() <= 1.3),
                t.over_floor_and_transfer(),
                verdict(t.reinstall.wall < Duration::from_millis(30)),
            );
        }
        out
    }
}
