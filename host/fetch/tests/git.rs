//! GitCache against real repositories made with git2, read in place through file://
//! URLs and fetched into the cache over git's smart HTTP on 127.0.0.1 (`git
//! http-backend`): both transports must resolve every ref alike.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use common::*;
use git2::Oid;
use stackpack_core::GitRef;
use stackpack_fetch::{FetchError, GitCache, NetConfig};
use tempfile::TempDir;

/// The source repository:
///
/// ```text
/// R ── A ── B ── C   main (default branch)
///      │    │    └── D  dev, and a branch named 1.0.0
///      │    └ v1.1.0 (annotated)
///      └ 1.0.0 (lightweight)          C: v1.10.0 (lightweight); R: release-x
/// ```
struct Fixture {
    tmp: TempDir,
    src: PathBuf,
    url: String,
    /// The same repository over smart HTTP (fetched through the cache).
    http: String,
    r: Oid,
    a: Oid,
    b: Oid,
    c: Oid,
    d: Oid,
}

impl Fixture {
    fn new() -> Fixture {
        let tmp = TempDir::new().unwrap();
        let src = tmp.path().join("src");
        let repo = init(&src);
        write(&repo, "README", "root\n", false);
        let r = commit_all(&repo, "root");
        write(&repo, "pack.yaml", "version: 1.0.0\n", false);
        write(&repo, "actions/run.sh", "#!/bin/sh\necho hi\n", true);
        symlink(&repo, "link", "actions/run.sh");
        symlink(&repo, "actions/up", "../pack.yaml");
        let a = commit_all(&repo, "1.0.0");
        write(&repo, "pack.yaml", "version: 1.1.0\n", false);
        let b = commit_all(&repo, "1.1.0");
        write(&repo, "pack.yaml", "version: 1.10.0\n", false);
        let c = commit_all(&repo, "1.10.0");
        let d = commit_with_file(&repo, "refs/heads/dev", c, "dev.txt", "dev\n");
        repo.reference("refs/heads/1.0.0", d, false, "test")
            .unwrap();
        let obj = |oid| repo.find_object(oid, None).unwrap();
        repo.tag_lightweight("1.0.0", &obj(a), false).unwrap();
        repo.tag("v1.1.0", &obj(b), &sig(), "release 1.1.0", false)
            .unwrap();
        repo.tag_lightweight("v1.10.0", &obj(c), false).unwrap();
        repo.tag_lightweight("release-x", &obj(r), false).unwrap();
        let url = url(&src);
        let http = format!(
            "{}/src",
            stackpack_testkit::http::git_http_server(tmp.path())
        );
        Fixture {
            tmp,
            src,
            url,
            http,
            r,
            a,
            b,
            c,
            d,
        }
    }

    fn cache(&self, offline: bool) -> GitCache {
        GitCache::new(
            self.tmp.path().join("cache/git"),
            &NetConfig::default(),
            offline,
        )
    }

    fn dest(&self, name: &str) -> (PathBuf, cap_std::fs::Dir) {
        dest(self.tmp.path(), name)
    }

    /// Both URLs of the source: read in place, and over HTTP.
    fn urls(&self) -> [&str; 2] {
        [&self.url, &self.http]
    }

    /// Moves the source repository away, so any network use fails.
    fn take_source_away(&self) {
        std::fs::rename(&self.src, self.tmp.path().join("gone")).unwrap();
    }
}

fn short(oid: Oid) -> String {
    oid.to_string()[..7].to_string()
}

#[test]
fn each_want_kind_resolves() {
    let f = Fixture::new();
    for url in f.urls() {
        let git = f.cache(false);

        let rev = git.resolve(url, &GitRef::DefaultBranch).unwrap();
        assert_eq!(rev.commit, f.c.to_string());
        assert_eq!(rev.matched, "default branch main");
        assert_eq!(rev.tag, None);

        let rev = git.resolve(url, &GitRef::Branch("dev".into())).unwrap();
        assert_eq!(rev.commit, f.d.to_string());
        assert_eq!(rev.matched, "branch dev");

        let rev = git.resolve(url, &GitRef::Tag("1.0.0".into())).unwrap();
        assert_eq!(rev.commit, f.a.to_string());
        assert_eq!(rev.matched, "tag 1.0.0");
        assert_eq!(rev.tag.as_deref(), Some("1.0.0"));

        // Annotated: peeled to its commit.
        let rev = git.resolve(url, &GitRef::Tag("v1.1.0".into())).unwrap();
        assert_eq!(rev.commit, f.b.to_string());
        assert_eq!(rev.tag.as_deref(), Some("v1.1.0"));
        // Tag(x) falls back to v<x>.
        let rev = git.resolve(url, &GitRef::Tag("1.1.0".into())).unwrap();
        assert_eq!(rev.commit, f.b.to_string());
        assert_eq!(rev.matched, "tag v1.1.0");

        // A commit at a ref's tip (one no ref points at: `unadvertised_commit_is_searched`).
        let rev = git.resolve(url, &GitRef::Commit(f.c.to_string())).unwrap();
        assert_eq!(rev.commit, f.c.to_string());
        assert_eq!(rev.matched, format!("commit {}", short(f.c)));
        assert_eq!(rev.tag, None);
    }
}

#[test]
fn unadvertised_commit_is_searched() {
    let f = Fixture::new();
    let repo = git2::Repository::open(&f.src).unwrap();
    repo.find_reference("refs/tags/release-x")
        .unwrap()
        .delete()
        .unwrap();
    for (n, url) in f.urls().into_iter().enumerate() {
        let git = f.cache(false);
        let prefix = f.r.to_string()[..10].to_string();
        let rev = git.resolve(url, &GitRef::Commit(prefix.clone())).unwrap();
        assert_eq!(rev.commit, f.r.to_string());
        assert_eq!(rev.matched, format!("commit {}", short(f.r)));
        let rev = git.resolve(url, &GitRef::Any(prefix)).unwrap();
        assert_eq!(rev.commit, f.r.to_string());
        let (path, dir) = f.dest(&format!("root{n}"));
        git.export(url, &rev.commit, None, &dir).unwrap();
        assert!(path.join("README").is_file());
        assert!(!path.join("pack.yaml").exists());
    }
}

#[test]
fn any_tries_tag_then_v_tag_then_branch_then_commit() {
    let f = Fixture::new();
    for url in f.urls() {
        let git = f.cache(false);
        let any = |x: &str| git.resolve(url, &GitRef::Any(x.into())).unwrap();

        let rev = any("1.10.0");
        assert_eq!(
            (rev.commit, rev.matched),
            (f.c.to_string(), "tag v1.10.0".into())
        );
        let rev = any("1.1.0");
        assert_eq!(rev.commit, f.b.to_string());
        assert_eq!(rev.matched, "tag v1.1.0");
        assert_eq!(rev.tag.as_deref(), Some("v1.1.0"));
        let rev = any("dev");
        assert_eq!(
            (rev.commit, rev.matched),
            (f.d.to_string(), "branch dev".into())
        );
        let rev = any("main");
        assert_eq!(
            (rev.commit, rev.matched),
            (f.c.to_string(), "branch main".into())
        );
        let rev = any(&f.b.to_string()[..8]);
        assert_eq!(rev.commit, f.b.to_string());
        assert_eq!(rev.matched, format!("commit {}", short(f.b)));
        assert_eq!(rev.tag, None);
    }
}

#[test]
fn tag_wins_over_branch() {
    let f = Fixture::new();
    for url in f.urls() {
        let git = f.cache(false);
        // Both a tag and a branch are named 1.0.0 (st2 would take the branch).
        let rev = git.resolve(url, &GitRef::Any("1.0.0".into())).unwrap();
        assert_eq!(rev.commit, f.a.to_string());
        assert_eq!(rev.matched, "tag 1.0.0");
        // The branch is still reachable by asking for a branch.
        let rev = git.resolve(url, &GitRef::Branch("1.0.0".into())).unwrap();
        assert_eq!(rev.commit, f.d.to_string());
    }
}

#[test]
fn unknown_ref_lists_versions_newest_first() {
    let f = Fixture::new();
    for url in f.urls() {
        let git = f.cache(false);
        let err = git.resolve(url, &GitRef::Any("9.9.9".into())).unwrap_err();
        match &err {
            FetchError::UnknownRef {
                versions, branches, ..
            } => {
                assert_eq!(versions, &["1.10.0", "1.1.0", "1.0.0"]);
                assert_eq!(branches, &["1.0.0", "dev", "main"]);
            }
            other => panic!("expected UnknownRef, got {other:?}"),
        }
        let text = err.to_string();
        assert!(text.contains("`9.9.9`"), "{text}");
        assert!(text.contains(url), "{text}");
        assert!(text.contains("1.10.0, 1.1.0, 1.0.0"), "{text}");
        assert!(!text.contains("release-x"), "{text}");

        for want in [
            GitRef::Branch("nope".into()),
            GitRef::Tag("nope".into()),
            GitRef::Commit("not-hex".into()),
            GitRef::Commit("abcdef0123".into()),
        ] {
            let err = git.resolve(url, &want).unwrap_err();
            assert!(
                matches!(err, FetchError::UnknownRef { .. }),
                "{want:?}: {err:?}"
            );
        }
    }
}

#[test]
fn cached_full_commit_needs_no_network() {
    let f = Fixture::new();
    let git = f.cache(false);
    let rev = git
        .resolve(&f.http, &GitRef::Commit(f.b.to_string()))
        .unwrap();
    assert_eq!(rev.commit, f.b.to_string());
    let (_, first) = f.dest("first");
    git.export(&f.http, &rev.commit, None, &first).unwrap();

    f.take_source_away();
    // Proof that the source is gone: anything needing the network now fails.
    let err = git
        .resolve(&f.http, &GitRef::Branch("dev".into()))
        .unwrap_err();
    assert!(matches!(err, FetchError::Git { .. }), "{err:?}");

    let again = git
        .resolve(&f.http, &GitRef::Commit(f.b.to_string()))
        .unwrap();
    assert_eq!(again.commit, f.b.to_string());
    let (path, second) = f.dest("second");
    git.export(&f.http, &again.commit, None, &second).unwrap();
    assert_eq!(
        std::fs::read_to_string(path.join("pack.yaml")).unwrap(),
        "version: 1.1.0\n"
    );
}

#[test]
fn offline_resolves_from_the_cache() {
    let f = Fixture::new();
    let online = f.cache(false);
    let wants = [
        GitRef::DefaultBranch,
        GitRef::Any("1.1.0".into()),
        GitRef::Any("1.0.0".into()),
        GitRef::Branch("dev".into()),
        GitRef::Tag("v1.10.0".into()),
    ];
    let revs: Vec<_> = wants
        .iter()
        .map(|w| online.resolve(&f.http, w).unwrap())
        .collect();
    f.take_source_away();

    let offline = f.cache(true);
    for (want, rev) in wants.iter().zip(&revs) {
        assert_eq!(&offline.resolve(&f.http, want).unwrap(), rev, "{want:?}");
    }
    let short_b = f.b.to_string()[..9].to_string();
    assert_eq!(
        offline
            .resolve(&f.http, &GitRef::Commit(short_b))
            .unwrap()
            .commit,
        f.b.to_string()
    );
    let (path, dir) = f.dest("offline");
    offline
        .export(&f.http, &revs[0].commit, None, &dir)
        .unwrap();
    assert!(path.join("pack.yaml").is_file());

    // Not cached: an Offline error naming the URL and what to do.
    let err = offline
        .resolve(&f.http, &GitRef::Any("9.9.9".into()))
        .unwrap_err();
    assert!(matches!(err, FetchError::Offline { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(&f.http) && text.contains("online"), "{text}");
    let err = offline
        .resolve(
            "http://127.0.0.1:9/nowhere/else.git",
            &GitRef::DefaultBranch,
        )
        .unwrap_err();
    assert!(matches!(err, FetchError::Offline { .. }), "{err:?}");
}

#[test]
fn export_keeps_modes_and_symlinks_and_writes_no_git() {
    let f = Fixture::new();
    for (n, url) in f.urls().into_iter().enumerate() {
        let git = f.cache(false);
        let rev = git.resolve(url, &GitRef::Any("1.0.0".into())).unwrap();
        let (path, dir) = f.dest(&format!("export{n}"));
        git.export(url, &rev.commit, None, &dir).unwrap();
        assert_eq!(mode(&path.join("actions/run.sh")), 0o755);
        assert_eq!(mode(&path.join("pack.yaml")), 0o644);
        assert_eq!(
            std::fs::read_link(path.join("link")).unwrap(),
            Path::new("actions/run.sh")
        );
        assert_eq!(
            std::fs::read_link(path.join("actions/up")).unwrap(),
            Path::new("../pack.yaml")
        );
        assert!(!path.join(".git").exists());
        assert!(path.join("README").is_file());

        // Only a subdirectory; a symlink leaving it is refused.
        let (sub_path, sub) = f.dest(&format!("sub{n}"));
        let err = git
            .export(url, &rev.commit, Some("actions"), &sub)
            .unwrap_err();
        assert!(matches!(err, FetchError::UnsafeEntry { .. }), "{err:?}");

        // A missing subdirectory, a non-empty destination.
        let (_, other) = f.dest(&format!("other{n}"));
        let err = git
            .export(url, &rev.commit, Some("nope"), &other)
            .unwrap_err();
        assert!(matches!(err, FetchError::Subdir { .. }), "{err:?}");
        let err = git.export(url, &rev.commit, None, &dir).unwrap_err();
        assert!(matches!(err, FetchError::DestNotEmpty), "{err:?}");
        drop(sub_path);
    }
}

#[test]
fn export_of_a_subdirectory() {
    let tmp = TempDir::new().unwrap();
    let src = tmp.path().join("mono");
    let repo = init(&src);
    write(&repo, "packs/foo/pack.yaml", "name: foo\n", false);
    write(&repo, "packs/foo/actions/a.sh", "#!/bin/sh\n", true);
    symlink(&repo, "packs/foo/l", "actions/a.sh");
    write(&repo, "other.txt", "x\n", false);
    let head = commit_all(&repo, "mono");
    let git = GitCache::new(tmp.path().join("cache"), &NetConfig::default(), false);
    let url = url(&src);
    let rev = git.resolve(&url, &GitRef::DefaultBranch).unwrap();
    assert_eq!(rev.commit, head.to_string());
    let (path, dir) = dest(tmp.path(), "out");
    git.export(&url, &rev.commit, Some("packs/foo"), &dir)
        .unwrap();
    assert!(path.join("pack.yaml").is_file());
    assert_eq!(mode(&path.join("actions/a.sh")), 0o755);
    assert!(path.join("l").is_symlink());
    assert!(!path.join("other.txt").exists());
}

#[test]
fn escaping_symlink_is_refused() {
    let tmp = TempDir::new().unwrap();
    let src = tmp.path().join("evil");
    let repo = init(&src);
    write(&repo, "pack.yaml", "name: evil\n", false);
    symlink(&repo, "passwd", "../../etc/passwd");
    commit_all(&repo, "evil");
    let git = GitCache::new(tmp.path().join("cache"), &NetConfig::default(), false);
    let url = url(&src);
    let rev = git.resolve(&url, &GitRef::DefaultBranch).unwrap();
    let (_, dir) = dest(tmp.path(), "out");
    let err = git.export(&url, &rev.commit, None, &dir).unwrap_err();
    match &err {
        FetchError::UnsafeEntry { entry, .. } => assert_eq!(entry, "passwd"),
        other => panic!("expected UnsafeEntry, got {other:?}"),
    }
    assert!(err.to_string().contains("../../etc/passwd"), "{err}");
}

#[test]
fn tokens_never_reach_errors() {
    let tmp = TempDir::new().unwrap();
    let git = GitCache::new(tmp.path().join("cache"), &NetConfig::default(), false);
    let url = "http://user:s3cr3tTOKEN@127.0.0.1:9/nope.git";
    let err = git.resolve(url, &GitRef::DefaultBranch).unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(!text.contains("s3cr3tTOKEN"), "{text}");
    assert!(text.contains("127.0.0.1"), "{text}");
}

/// Every file under `dir` with its bytes and modification time.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>, std::time::SystemTime)> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let meta = e.metadata().unwrap();
            if meta.is_dir() {
                dirs.push(e.path());
            } else {
                out.push((
                    e.path(),
                    std::fs::read(e.path()).unwrap(),
                    meta.modified().unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}

/// A file:// repository (a work tree's, or a bare one named by URL or by path) is read
/// in place, online and offline: nothing is written into the cache, and the source is
/// left exactly as it was (no lock file, no config, no ref, no object added).
#[test]
fn a_local_repository_is_read_in_place_and_left_untouched() {
    let f = Fixture::new();
    let bare = f.tmp.path().join("bare.git");
    let out = std::process::Command::new("git")
        .args(["clone", "-q", "--bare"])
        .arg(&f.src)
        .arg(&bare)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let before = (snapshot(&f.src.join(".git")), snapshot(&bare));
    let bare_path = bare.display().to_string();
    for (n, url) in [f.url.as_str(), &url(&bare), &bare_path]
        .into_iter()
        .enumerate()
    {
        for offline in [false, true] {
            let git = f.cache(offline);
            let rev = git.resolve(url, &GitRef::Any("1.1.0".into())).unwrap();
            assert_eq!(
                (rev.commit.as_str(), rev.matched.as_str()),
                (f.b.to_string().as_str(), "tag v1.1.0")
            );
            let rev = git.resolve(url, &GitRef::DefaultBranch).unwrap();
            assert_eq!(rev.commit, f.c.to_string());
            let mut tags = git.tags(url).unwrap();
            tags.sort();
            assert_eq!(tags, ["1.0.0", "release-x", "v1.1.0", "v1.10.0"]);
            let (path, dir) = f.dest(&format!("out{n}{offline}"));
            git.export(url, &rev.commit, None, &dir).unwrap();
            assert_eq!(
                std::fs::read_to_string(path.join("pack.yaml")).unwrap(),
                "version: 1.10.0\n"
            );
        }
    }
    assert!(
        !f.tmp.path().join("cache/git").exists(),
        "a local repository was copied into the cache"
    );
    assert!(
        before == (snapshot(&f.src.join(".git")), snapshot(&bare)),
        "the source repository was written to"
    );
}

/// The errors of a local repository read in place are the ones the same repository
/// gives over HTTP (through the cache): an empty repository, a HEAD naming a branch
/// that does not exist, a missing ref; and a missing repository is a git error naming
/// its path.
#[test]
fn a_local_repository_fails_as_a_remote_one_does() {
    let tmp = TempDir::new().unwrap();
    let empty = tmp.path().join("empty");
    init(&empty);
    let headless = tmp.path().join("headless");
    let repo = init(&headless);
    write(&repo, "pack.yaml", "version: 1.0.0\n", false);
    let tip = commit_all(&repo, "1.0.0");
    repo.reference("refs/heads/other", tip, false, "test")
        .unwrap();
    repo.find_reference("refs/heads/main")
        .unwrap()
        .delete()
        .unwrap();
    let base = stackpack_testkit::http::git_http_server(tmp.path());
    let git = GitCache::new(tmp.path().join("cache/git"), &NetConfig::default(), false);
    let kind = |e: &FetchError| {
        format!("{e:?}")
            .split([' ', '{', '('])
            .next()
            .unwrap()
            .to_string()
    };
    for (name, want) in [
        ("empty", GitRef::DefaultBranch),
        ("empty", GitRef::Any("1.0.0".into())),
        ("headless", GitRef::DefaultBranch),
        ("headless", GitRef::Tag("2.0.0".into())),
        ("headless", GitRef::Commit("abcdef12".into())),
    ] {
        let local = git
            .resolve(&url(&tmp.path().join(name)), &want)
            .unwrap_err();
        let remote = git.resolve(&format!("{base}/{name}"), &want).unwrap_err();
        assert_eq!(
            kind(&local),
            kind(&remote),
            "{name} {want:?}: {local} / {remote}"
        );
        assert!(
            matches!(
                local,
                FetchError::UnknownRef { .. } | FetchError::NoDefaultBranch { .. }
            ),
            "{local:?}"
        );
    }
    let missing = tmp.path().join("missing");
    let err = git
        .resolve(&url(&missing), &GitRef::DefaultBranch)
        .unwrap_err();
    assert!(matches!(err, FetchError::Git { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&missing.display().to_string()),
        "{err}"
    );
}
