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
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::{
    Reply, file_url, git, git_with_input, http_server, installed_version, pack_yaml, run,
    stackpack, write,
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
    git_with_input(repo, &["mktree"], &lines.join("\n"))
}

fn blob(repo: &Path, content: &str) -> String {
    git_with_input(repo, &["hash-object", "-w", "--stdin"], content)
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

// ---- paths and links ----

/// Safe outcome: an absolute symlink is refused, naming it.
#[test]
fn absolute_link_is_refused() {
    let s = Scene::new();
    let r = s.install_archive(
        tar_gz(&[victim_yaml(), link("evil", "/etc/passwd")]),
        "tar.gz",
    );
    s.assert_refused(&r, &["evil", "absolute"]);
}

/// Safe outcome: a link to the parent of the pack (the packs dir) is refused.
#[test]
fn link_to_the_parent_of_the_pack_is_refused() {
    let s = Scene::new();
    let r = s.install_archive(tar_gz(&[victim_yaml(), link("up", "..")]), "tar.gz");
    s.assert_refused(&r, &["up", "outside the pack"]);
}

/// Safe outcome: a file entry written under a directory link of the same archive
/// (`d -> sub`, then `d/x`) is refused: nothing is written through a link, even one
/// that stays inside.
#[test]
fn file_through_a_directory_link_is_refused() {
    let s = Scene::new();
    let r = s.install_archive(
        tar_gz(&[
            victim_yaml(),
            Entry::Dir("sub/"),
            link("d", "sub"),
            file("d/x", "through the link"),
        ]),
        "tar.gz",
    );
    s.assert_refused(&r, &["d/x", "through `d`"]);
}

/// Safe outcome: a hard link whose target is outside the archive is refused.
#[test]
fn hard_link_outside_is_refused() {
    let s = Scene::new();
    let r = s.install_archive(
        tar_gz(&[
            victim_yaml(),
            Entry::HardLink("h".into(), "../../../../etc/passwd".into()),
        ]),
        "tar.gz",
    );
    s.assert_refused(&r, &["`h`", "hard link"]);
}

/// Safe outcome: `..` in an entry name is refused.
#[test]
fn dotdot_entry_is_refused() {
    let s = Scene::new();
    let r = s.install_archive(tar_gz(&[victim_yaml(), file("../escape", "x")]), "tar.gz");
    s.assert_refused(&r, &["../escape", "`..`"]);
    assert!(!s.root.join("packs/escape").exists());
}

/// Safe outcome: a name with a backslash is a plain name on Linux: installed as such,
/// inside the pack; a very long name (GNU long-name entry) is installed inside too
/// or refused by the filesystem; either way nothing leaves the root.
#[test]
fn backslash_and_long_names_stay_inside() {
    let s = Scene::new();
    let long = format!("{}/f", "d".repeat(200));
    let r = s.install_archive(
        tar_gz(&[
            victim_yaml(),
            file("..\\..\\evil", "x"),
            file(&long, "deep"),
        ]),
        "tar.gz",
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(s.root.join("packs/victim/..\\..\\evil").is_file());
    assert!(s.root.join("packs/victim").join(&long).is_file());
    s.assert_outside_untouched();
}

/// Safe outcome: a name with a NUL byte is cut by tar at the NUL; what remains is
/// written inside the pack and nothing else.
#[test]
fn nul_in_a_name_stays_inside() {
    let s = Scene::new();
    let r = s.install_archive(
        tar_gz(&[
            victim_yaml(),
            Entry::Raw(
                tar::EntryType::Regular,
                b"ok\0/../../evil".to_vec(),
                b"x".to_vec(),
            ),
        ]),
        "tar.gz",
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(s.root.join("packs/victim/ok").is_file());
    s.assert_outside_untouched();
}

/// Safe outcome: a file then a directory of the same name is refused (the directory
/// is not written through or over the file).
#[test]
fn duplicate_file_then_dir_is_refused() {
    let s = Scene::new();
    let r = s.install_archive(
        tar_gz(&[
            victim_yaml(),
            file("x", "1"),
            Entry::Dir("x/"),
            file("x/y", "2"),
        ]),
        "tar.gz",
    );
    s.assert_refused(&r, &["`x", "appears twice"]);
}

/// Safe outcome: a directory then a link of the same name is refused.
#[test]
fn duplicate_dir_then_link_is_refused() {
    let s = Scene::new();
    let r = s.install_archive(
        tar_gz(&[victim_yaml(), Entry::Dir("x/"), link("x", "pack.yaml")]),
        "tar.gz",
    );
    s.assert_refused(&r, &["`x`", "appears twice"]);
}

/// Safe outcome: a planted symlink at `packs/victim` pointing at the sentinel is
/// replaced as an entry: the install succeeds, the sentinel is untouched (nothing is
/// read, written or deleted through the link), and `packs/victim` is a real directory.
#[test]
fn planted_symlink_at_the_pack_dir_is_replaced_not_followed() {
    let s = Scene::new();
    std::fs::remove_dir_all(s.root.join("packs/victim")).unwrap();
    std::os::unix::fs::symlink(&s.sentinel, s.root.join("packs/victim")).unwrap();
    write(&s.sentinel.join("config.yaml"), "planted: 1\n");
    let r = s.install_archive(tar_gz(&[victim_yaml(), file("a.txt", "new")]), "tar.gz");
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let meta = std::fs::symlink_metadata(s.root.join("packs/victim")).unwrap();
    assert!(meta.is_dir(), "a real directory now");
    assert!(!s.root.join("packs/victim/config.yaml").exists());
    std::fs::remove_file(s.sentinel.join("config.yaml")).unwrap();
    s.assert_outside_untouched();
}

/// Safe outcome: a symlink planted at `<root>/.stackpack-staging` (to a directory
/// outside, or to `packs` inside) is refused naming it and the fix; nothing is written
/// or deleted through it.
#[test]
fn planted_symlink_at_the_staging_dir_is_refused() {
    let s = Scene::new();
    let staging = s.root.join(".stackpack-staging");
    let _ = std::fs::remove_dir_all(&staging);
    for target in [s.sentinel.clone(), s.root.join("packs")] {
        let _ = std::fs::remove_file(&staging);
        std::os::unix::fs::symlink(&target, &staging).unwrap();
        let r = s.install_archive(tar_gz(&[victim_yaml()]), "tar.gz");
        s.assert_refused(&r, &[".stackpack-staging", "a symlink", "Remove it"]);
    }
}

/// Safe outcome: `<root>/.stackpack-lock` planted as a symlink to a file outside the
/// root is neither followed nor truncated; the run is refused naming it and the fix.
#[test]
fn planted_lock_symlink_is_not_followed() {
    let s = Scene::new();
    let lock = s.root.join(".stackpack-lock");
    std::fs::remove_file(&lock).unwrap();
    std::os::unix::fs::symlink(s.sentinel.join("secret.txt"), &lock).unwrap();
    let r = s.install_archive(tar_gz(&[victim_yaml()]), "tar.gz");
    s.assert_refused(&r, &[".stackpack-lock", "a symlink", "Remove it"]);
    // A hard link to an outside file (same filesystem) is not truncated either.
    std::fs::remove_file(&lock).unwrap();
    std::fs::hard_link(s.sentinel.join("secret.txt"), &lock).unwrap();
    let r = s.install_archive(tar_gz(&[victim_yaml()]), "tar.gz");
    s.assert_refused(&r, &[".stackpack-lock", "hard link"]);
}

/// Safe outcome: `stackpack.lock` planted as a symlink to a file outside is neither
/// read (its content never reaches the output) nor written through: refused naming it
/// and the fix.
#[test]
fn planted_lockfile_symlink_is_replaced_not_written_through() {
    let s = Scene::new();
    let lockfile = s.root.join("stackpack.lock");
    std::fs::remove_file(&lockfile).unwrap();
    std::os::unix::fs::symlink(s.sentinel.join("secret.txt"), &lockfile).unwrap();
    let r = s.install_archive(tar_gz(&[victim_yaml()]), "tar.gz");
    s.assert_refused(&r, &["stackpack.lock", "a symlink", "Remove it"]);
    assert!(!r.stdout.contains("outside the root") && !r.stderr.contains("outside the root"));
    assert!(std::fs::symlink_metadata(&lockfile).unwrap().is_symlink());
}

// ---- archives ----

/// Safe outcome: tar device and fifo entries are refused, naming them.
#[test]
fn tar_device_and_fifo_entries_are_refused() {
    let s = Scene::new();
    for (kind, what) in [
        (tar::EntryType::Fifo, "fifo"),
        (tar::EntryType::Char, "device"),
    ] {
        let r = s.install_archive(
            tar_gz(&[victim_yaml(), Entry::Raw(kind, b"special".to_vec(), vec![])]),
            "tar.gz",
        );
        s.assert_refused(&r, &["special", what]);
    }
}

/// Safe outcome: a zip symlink that escapes is refused; one inside is kept as a link.
#[test]
fn zip_symlink_entries() {
    let s = Scene::new();
    let r = s.install_archive(zip_of(&[victim_yaml(), link("x", "../../x")]), "zip");
    s.assert_refused(&r, &["`x`", "outside the pack"]);
    let r = s.install_archive(zip_of(&[victim_yaml(), link("m", "pack.yaml")]), "zip");
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        std::fs::symlink_metadata(s.root.join("packs/victim/m"))
            .unwrap()
            .is_symlink()
    );
}

/// A zip of `n` files of `each` zero bytes (deflated to almost nothing).
fn zip_bomb(n: usize, each: usize) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(9))
        .large_file(each as u64 > u32::MAX as u64);
    z.start_file("pack.yaml", opts).unwrap();
    z.write_all(pack_yaml("victim", "2.0.0").as_bytes())
        .unwrap();
    let zeros = vec![0u8; 1 << 20];
    for i in 0..n {
        z.start_file(format!("blob{i}"), opts).unwrap();
        let mut left = each;
        while left > 0 {
            let k = left.min(zeros.len());
            z.write_all(&zeros[..k]).unwrap();
            left -= k;
        }
    }
    z.finish().unwrap().into_inner()
}

/// Safe outcome: a zip bomb (a few MB unpacking to over 1 GiB) is refused quickly,
/// from its headers, naming the archive, the cap and the setting; nothing is unpacked.
#[test]
fn zip_bomb_is_refused_quickly() {
    let s = Scene::new();
    let bomb = zip_bomb(9, 120 << 20);
    assert!(bomb.len() < 4 << 20, "the bomb is small: {}", bomb.len());
    let t = Instant::now();
    let r = s.install_archive(bomb, "zip");
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "took {:?}",
        t.elapsed()
    );
    s.assert_refused(&r, &["victim-2.0.0.zip", "512 MiB", "max_pack_size_mib"]);
}

/// Safe outcome: a tar of 100,000 empty entries is refused at the entry cap, quickly,
/// naming the setting.
#[test]
fn tar_with_100k_entries_is_refused() {
    let s = Scene::new();
    let mut entries = vec![victim_yaml()];
    entries.extend((0..100_000).map(|i| file(&format!("e{i}"), "")));
    let t = Instant::now();
    let r = s.install_archive(tar_gz(&entries), "tar.gz");
    assert!(
        t.elapsed() < Duration::from_secs(30),
        "took {:?}",
        t.elapsed()
    );
    s.assert_refused(&r, &["20000 entries", "max_pack_entries"]);
}

/// Safe outcome: one file over the per-file cap (set low in stackpack.toml) is
/// refused naming the file and the setting; under a raised cap it installs.
#[test]
fn file_over_the_per_file_cap_is_refused() {
    let s = Scene::new();
    let big = "x".repeat(3 << 20);
    let archive = tar_gz(&[victim_yaml(), file("big.bin", &big)]);
    let r = s.install_archive_with(archive.clone(), "tar.gz", Some("max_pack_file_mib = 2\n"));
    s.assert_refused(&r, &["big.bin", "2 MiB per file", "max_pack_file_mib"]);
    let r = s.install_archive_with(archive, "tar.gz", Some("max_pack_file_mib = 4\n"));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
}

/// Safe outcome: the entry cap applies to local directories and git trees too.
#[test]
fn entry_cap_applies_to_local_dirs_and_git_trees() {
    let s = Scene::new();
    let src = s.path("many");
    write(&src.join("pack.yaml"), &pack_yaml("victim", "2.0.0"));
    for i in 0..30 {
        write(&src.join(format!("f{i}")), "");
    }
    let config = s.path("small.toml");
    write(&config, "max_pack_entries = 10\n");
    let args = ["--config", config.to_str().unwrap()];
    let r = s.install(&[&args[..], &[&file_url(&src)]].concat());
    s.assert_refused(&r, &["10 entries", "max_pack_entries"]);
    git(&src, &["init", "-q", "-b", "main"]);
    git(&src, &["add", "-A"]);
    git(&src, &["commit", "-q", "-m", "many"]);
    let r = s.install(&[&args[..], &[&file_url(&src)]].concat());
    s.assert_refused(&r, &["10 entries", "max_pack_entries"]);
}

// ---- special files and permissions ----

fn mkfifo(path: &Path) {
    let out = std::process::Command::new("mkfifo")
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success());
}

/// Safe outcome: a local source holding a fifo is refused naming it, without
/// hanging on it (bounded time).
#[test]
fn local_source_with_a_fifo_is_refused() {
    let s = Scene::new();
    let src = s.path("fifosrc");
    write(&src.join("pack.yaml"), &pack_yaml("victim", "2.0.0"));
    mkfifo(&src.join("requirements.txt"));
    let r = s.install(&[&file_url(&src)]);
    s.assert_refused(&r, &["requirements.txt", "fifo"]);
}

/// Safe outcome: a local source whose pack.yaml is a fifo is refused, not read.
#[test]
fn pack_yaml_fifo_is_refused() {
    let s = Scene::new();
    let src = s.path("fifoyaml");
    std::fs::create_dir_all(&src).unwrap();
    mkfifo(&src.join("pack.yaml"));
    let r = s.install(&[&file_url(&src)]);
    s.assert_refused(&r, &["pack.yaml", "fifo"]);
}

/// Safe outcome: with the root on a read-only filesystem, the install fails with an
/// error naming the root, and the installed pack is intact. Needs root (to mount a
/// read-only bind); skipped with a reason otherwise, failing in CI.
#[test]
fn read_only_root_fails_cleanly() {
    let s = Scene::new();
    let is_root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    let ro = std::process::Command::new("mount")
        .args(["--bind", "-o", "ro"])
        .arg(&s.root)
        .arg(&s.root)
        .output();
    let mounted = is_root && ro.as_ref().is_ok_and(|o| o.status.success());
    if !mounted {
        let why = format!("cannot mount a read-only bind (root: {is_root}, {ro:?})");
        crate::common::cannot_run("read_only_root_fails_cleanly", &why);
        return;
    }
    // A bind mount with `ro` needs a remount on older mount(8).
    let _ = std::process::Command::new("mount")
        .args(["-o", "remount,bind,ro"])
        .arg(&s.root)
        .output();
    let r = s.install_archive(tar_gz(&[victim_yaml()]), "tar.gz");
    let _ = std::process::Command::new("umount").arg(&s.root).output();
    s.assert_refused(&r, &[s.root.to_str().unwrap(), "Read-only"]);
}
