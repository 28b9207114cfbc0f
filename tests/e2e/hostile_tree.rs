//! Hostile trees and a hostile root: archives, git trees and local directories built to
//! escape the pack (chained symlinks, links written through links, `..`, absolute and
//! hard links), to exhaust the disk or the clock (bombs, huge entry counts, oversized
//! files), to hang a reader (fifos), and files planted under the root (the lock file,
//! the staging dir, a pack dir) to redirect stackpack's writes.
//!
//! Every case states its safe outcome and checks it: a clear error naming the thing,
//! nothing written outside the root (a sentinel directory beside it is compared before
//! and after), the previously installed pack intact, and a bounded time.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::{
    Reply, file_url, git, http_server, installed_version, pack_yaml, run, stackpack, write,
};

/// Every hostile run must end within this (debug build, two shared cores).
const BOUND: Duration = Duration::from_secs(60);

/// `../` enough times to reach `/` from any test directory.
fn to_fs_root() -> String {
    "../".repeat(64)
}

/// A scratch root with the pack `victim` 1.0.0 installed from a plain directory, and a
/// sentinel directory outside the root that links in hostile trees point at.
struct Scene {
    d: tempfile::TempDir,
    root: PathBuf,
    sentinel: PathBuf,
}

impl Scene {
    fn new() -> Scene {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("root");
        let sentinel = d.path().join("outside");
        write(&sentinel.join("secret.txt"), "outside the root\n");
        let good = d.path().join("good");
        write(&good.join("pack.yaml"), &pack_yaml("victim", "1.0.0"));
        write(&good.join("actions/run.sh"), "#!/bin/sh\necho good\n");
        let scene = Scene { d, root, sentinel };
        let r = scene.install(&[&file_url(&good)]);
        assert_eq!(
            r.code, 0,
            "the good pack installs: {}{}",
            r.stdout, r.stderr
        );
        scene
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.d.path().join(rel)
    }

    /// `stackpack install <args>` (no venv), checked to end within [`BOUND`].
    fn install(&self, args: &[&str]) -> crate::common::Run {
        self.run(&[&["install", "--no-venv", "--no-register"], args].concat())
    }

    fn run(&self, args: &[&str]) -> crate::common::Run {
        let t = Instant::now();
        let r = run(stackpack(&self.root).args(args));
        assert!(t.elapsed() < BOUND, "{args:?} took {:?}", t.elapsed());
        r
    }

    /// Installs the archive `bytes` as the index entry `victim` (served on 127.0.0.1).
    fn install_archive(&self, bytes: Vec<u8>, ext: &str) -> crate::common::Run {
        self.install_archive_with(bytes, ext, None)
    }

    fn install_archive_with(
        &self,
        bytes: Vec<u8>,
        ext: &str,
        config: Option<&str>,
    ) -> crate::common::Run {
        let sha = hex_sha256(&bytes);
        let route = format!("/victim-2.0.0.{ext}");
        let base = http_server(vec![(
            route.as_str(),
            Reply {
                status: 200,
                headers: vec![],
                body: bytes,
            },
        )]);
        let index = self.path("index.json");
        let entry = serde_json::json!({"metadata": {}, "packs": {"victim": {
            "name": "victim", "version": "2.0.0", "author": "t", "description": "d",
            "archive_url": format!("{base}{route}"),
            "archive_sha256": sha,
        }}});
        write(&index, &entry.to_string());
        let config_path = self.path("stackpack.toml");
        write(&config_path, config.unwrap_or(""));
        self.install(&[
            "--config",
            config_path.to_str().unwrap(),
            "--index",
            index.to_str().unwrap(),
            "victim",
        ])
    }

    /// The safe outcome of a refused install: exit 1, every `needle` in the output, the
    /// previous `victim` 1.0.0 intact, and nothing outside the root touched.
    fn assert_refused(&self, r: &crate::common::Run, needles: &[&str]) {
        let out = format!("{}{}", r.stdout, r.stderr);
        assert_eq!(r.code, 1, "refused with exit 1: {out}");
        for needle in needles {
            assert!(out.contains(needle), "the error names {needle:?}: {out}");
        }
        self.assert_previous_intact();
        self.assert_outside_untouched();
    }

    fn assert_previous_intact(&self) {
        assert_eq!(
            installed_version(&self.root, "victim").as_deref(),
            Some("1.0.0"),
            "the previous pack is still installed"
        );
        assert_eq!(
            std::fs::read_to_string(self.root.join("packs/victim/actions/run.sh")).unwrap(),
            "#!/bin/sh\necho good\n"
        );
    }

    /// The sentinel holds only what the scene put there, and no symlink under the root
    /// resolves outside it.
    fn assert_outside_untouched(&self) {
        let names: Vec<_> = std::fs::read_dir(&self.sentinel)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("secret.txt")]);
        assert_eq!(
            std::fs::read_to_string(self.sentinel.join("secret.txt")).unwrap(),
            "outside the root\n"
        );
        assert_no_escaping_link(&self.root.join("packs"), &self.root);
    }
}

/// Fails when a symlink under `dir` resolves (as the filesystem does) outside `root`.
fn assert_no_escaping_link(dir: &Path, root: &Path) {
    let root = root.canonicalize().unwrap();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let ty = e.file_type().unwrap();
            if ty.is_symlink() {
                if let Ok(target) = e.path().canonicalize() {
                    assert!(
                        target.starts_with(&root),
                        "{} resolves to {}, outside the root",
                        e.path().display(),
                        target.display()
                    );
                }
            } else if ty.is_dir() {
                stack.push(e.path());
            }
        }
    }
}

fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// One entry of a hostile archive; names are raw bytes (no checks by the tar crate).
enum Entry {
    Dir(&'static str),
    File(String, Vec<u8>),
    Link(String, String),
    HardLink(String, String),
    Raw(tar::EntryType, Vec<u8>, Vec<u8>),
}

fn file(name: &str, data: &str) -> Entry {
    Entry::File(name.to_string(), data.as_bytes().to_vec())
}

fn link(name: &str, target: &str) -> Entry {
    Entry::Link(name.to_string(), target.to_string())
}

fn victim_yaml() -> Entry {
    file("pack.yaml", &pack_yaml("victim", "2.0.0"))
}

fn tar_header(kind: tar::EntryType, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(if kind == tar::EntryType::Directory {
        0o755
    } else {
        0o644
    });
    h.set_size(size);
    h.set_mtime(1_700_000_000);
    h
}

/// A tar.gz of `entries`, in order. Names that fit are written raw into the old
/// header (so the tar crate's own path checks are bypassed); longer ones use a GNU
/// long-name entry.
fn tar_gz(entries: &[Entry]) -> Vec<u8> {
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    for e in entries {
        let (kind, name, data, target): (_, &[u8], &[u8], Option<&[u8]>) = match e {
            Entry::Dir(n) => (tar::EntryType::Directory, n.as_bytes(), &[], None),
            Entry::File(n, d) => (tar::EntryType::Regular, n.as_bytes(), d, None),
            Entry::Link(n, t) => (
                tar::EntryType::Symlink,
                n.as_bytes(),
                &[],
                Some(t.as_bytes()),
            ),
            Entry::HardLink(n, t) => (tar::EntryType::Link, n.as_bytes(), &[], Some(t.as_bytes())),
            Entry::Raw(k, n, d) => (*k, n.as_slice(), d.as_slice(), None),
        };
        let mut h = tar_header(kind, data.len() as u64);
        if name.len() <= 100 && target.is_none_or(|t| t.len() <= 100) {
            h.as_old_mut().name[..name.len()].copy_from_slice(name);
            if let Some(t) = target {
                h.as_old_mut().linkname[..t.len()].copy_from_slice(t);
            }
            h.set_cksum();
            b.append(&h, data).unwrap();
        } else {
            let name = std::str::from_utf8(name).unwrap();
            match target {
                Some(t) => b
                    .append_link(&mut h, name, std::str::from_utf8(t).unwrap())
                    .unwrap(),
                None => b.append_data(&mut h, name, data).unwrap(),
            }
        }
    }
    b.into_inner().unwrap().finish().unwrap()
}

fn zip_of(entries: &[Entry]) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    for e in entries {
        match e {
            Entry::Dir(n) => z.add_directory(*n, opts).unwrap(),
            Entry::File(n, d) => {
                z.start_file(n.as_str(), opts.unix_permissions(0o644))
                    .unwrap();
                z.write_all(d).unwrap();
            }
            Entry::Link(n, t) => z.add_symlink(n.as_str(), t.as_str(), opts).unwrap(),
            Entry::HardLink(..) | Entry::Raw(..) => unreachable!("not in zips"),
        }
    }
    z.finish().unwrap().into_inner()
}

/// The chained-link escape: `a/b -> ..` makes every `a/b/` in a later path the tree
/// root again, so `(a/b/)^32 passwd` is written at the top while its 64 `..` look
/// safe for the depth as written; it would resolve to the sentinel outside the root.
fn chained_escape(sentinel: &Path) -> Vec<Entry> {
    let deep = "a/b/".repeat(32);
    let target = format!(
        "{}{}/secret.txt",
        to_fs_root(),
        sentinel.display().to_string().trim_start_matches('/')
    );
    vec![
        victim_yaml(),
        Entry::Dir("a/"),
        link("a/b", ".."),
        link("a/b/c/d", ".."),
        link(&format!("{deep}passwd"), &target),
    ]
}

/// Safe outcome: the chained links are refused (the entry written through the link
/// `a/b` is named), `victim` 1.0.0 stays, and nothing resolves outside the root.
#[test]
fn chained_links_in_a_tar_gz_are_refused() {
    let s = Scene::new();
    let r = s.install_archive(tar_gz(&chained_escape(&s.sentinel)), "tar.gz");
    s.assert_refused(&r, &["a/b", "symlink"]);
}

/// Safe outcome: as for tar.gz, with zip symlink entries.
#[test]
fn chained_links_in_a_zip_are_refused() {
    let s = Scene::new();
    let r = s.install_archive(zip_of(&chained_escape(&s.sentinel)), "zip");
    s.assert_refused(&r, &["a/b", "symlink"]);
}

/// Writes a git tree object from `ls-tree`-style lines (`mode type oid\tname`); git
/// mktree accepts duplicate names, which git itself would never write.
fn mktree(repo: &Path, lines: &[String]) -> String {
    let mut child = std::process::Command::new("git")
        .args(["mktree"])
        .current_dir(repo)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(lines.join("\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn blob(repo: &Path, content: &str) -> String {
    let mut child = std::process::Command::new("git")
        .args(["hash-object", "-w", "--stdin"])
        .current_dir(repo)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(content.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Safe outcome: a git tree whose directory `a0` holds both a symlink `b0 -> ..` and a
/// tree `b0` (duplicate names, as a crafted repository can) is refused when the tree
/// `b0` would be written through the link; victim 1.0.0 stays.
#[test]
fn chained_links_in_a_git_tree_are_refused() {
    let s = Scene::new();
    let repo = s.path("gitsrc");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    let target = format!(
        "{}{}/secret.txt",
        to_fs_root(),
        s.sentinel.display().to_string().trim_start_matches('/')
    );
    // Innermost first: the tree of the last `b31` holds `passwd`; each level `i` is a
    // tree `a<i>` holding the link `b<i> -> ..` and the tree `b<i>`, so the path
    // `a0/b0/a1/b1/.../a31/b31/passwd` is written, through the links, at the top.
    let up = blob(&repo, "..");
    let escape = blob(&repo, &target);
    let mut b_tree = mktree(&repo, &[format!("120000 blob {escape}\tpasswd")]);
    let mut a_tree = String::new();
    for level in (0..32).rev() {
        a_tree = mktree(
            &repo,
            &[
                format!("120000 blob {up}\tb{level}"),
                format!("040000 tree {b_tree}\tb{level}"),
            ],
        );
        if level > 0 {
            b_tree = mktree(&repo, &[format!("040000 tree {a_tree}\ta{level}")]);
        }
    }
    let yaml = blob(&repo, &pack_yaml("victim", "2.0.0"));
    let top = mktree(
        &repo,
        &[
            format!("040000 tree {a_tree}\ta0"),
            format!("100644 blob {yaml}\tpack.yaml"),
        ],
    );
    let commit = git(&repo, &["commit-tree", &top, "-m", "hostile"]);
    git(&repo, &["update-ref", "refs/heads/main", &commit]);
    git(&repo, &["reset", "-q", "--hard", "main"]);
    let r = s.install(&[&file_url(&repo)]);
    s.assert_refused(&r, &["a0/b0", "symlink"]);
}

/// Safe outcome: a plain local directory cannot hold a path through its own link, so
/// the same shape there is a link `a/b -> ..` and a deep link whose `..` count is
/// within the depth as written but leaves the pack as resolved: refused, naming it.
#[test]
fn chained_links_in_a_local_dir_are_refused() {
    let s = Scene::new();
    let src = s.path("localsrc");
    write(&src.join("pack.yaml"), &pack_yaml("victim", "2.0.0"));
    std::fs::create_dir_all(src.join("a")).unwrap();
    std::os::unix::fs::symlink("..", src.join("a/b")).unwrap();
    std::fs::create_dir_all(src.join("c/d/e")).unwrap();
    std::os::unix::fs::symlink("../../../a/b/a/b/..", src.join("c/d/e/x")).unwrap();
    let r = s.install(&[&file_url(&src)]);
    s.assert_refused(&r, &["c/d/e/x"]);
}
