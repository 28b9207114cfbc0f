//! The caches under concurrency, in one process: a fetch held at a fault point while a
//! second requirer of the same repository (or archive) arrives; stale libgit2 lock
//! files; damaged entries. The fault points are process-wide, so these tests run one
//! at a time (`serial`).
#![cfg(debug_assertions)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use common::*;
use sha2::{Digest, Sha256};
use stackpack_core::{ArchiveFormat, GitRef};
use stackpack_fetch::{FetchError, GitCache, Net, NetConfig, fault, fetch_archive};
use tempfile::TempDir;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    let guard = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    fault::reset();
    guard
}

/// A repository with one commit of a pack.yaml, its URL over smart HTTP (a file://
/// repository is read in place, not fetched into the cache) and a git cache.
fn source(tmp: &Path) -> (git2::Repository, String, GitCache) {
    let src = tmp.join("src");
    let repo = init(&src);
    write(&repo, "pack.yaml", "version: 1.0.0\n", false);
    commit_all(&repo, "1.0.0");
    let cache = GitCache::new(tmp.join("cache/git"), &NetConfig::default(), false);
    let base = stackpack_testkit::http::git_http_server(tmp);
    (repo, format!("{base}/src"), cache)
}

/// The one repository in the git cache.
fn cached_repo(tmp: &Path) -> PathBuf {
    let found: Vec<_> = std::fs::read_dir(tmp.join("cache/git"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "git"))
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    found[0].clone()
}

#[test]
fn a_second_requirer_waits_for_the_first_fetch_and_fetches_nothing() {
    let _serial = serial();
    let tmp = TempDir::new().unwrap();
    let (_repo, url, cache) = source(tmp.path());
    fault::hold("cache-locked", &url);
    std::thread::scope(|s| {
        let first = s.spawn(|| cache.resolve(&url, &GitRef::DefaultBranch));
        fault::wait_reached("cache-locked", 1);
        let second = s.spawn(|| cache.resolve(&url, &GitRef::DefaultBranch));
        // The second is waiting for the repository while the first holds it, unfetched.
        fault::wait_reached("cache-lock-wait", 1);
        assert_eq!(fault::reached("git-fetch"), 0);
        fault::release("cache-locked");
        let first = first.join().unwrap().unwrap();
        let second = second.join().unwrap().unwrap();
        assert_eq!(first, second);
    });
    assert_eq!(
        fault::reached("git-fetch"),
        1,
        "the repository was fetched twice"
    );
}

#[test]
fn a_held_repository_times_out_naming_the_holder() {
    let _serial = serial();
    let tmp = TempDir::new().unwrap();
    let (_repo, url, cache) = source(tmp.path());
    let impatient = cache.clone().with_lock_timeout(Duration::ZERO);
    fault::hold("cache-locked", &url);
    std::thread::scope(|s| {
        let first = s.spawn(|| cache.resolve(&url, &GitRef::DefaultBranch));
        fault::wait_reached("cache-locked", 1);
        let err = impatient.resolve(&url, &GitRef::DefaultBranch).unwrap_err();
        assert!(matches!(err, FetchError::CacheLocked { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains("another fetch in this stackpack is fetching the git repository")
                && text.contains("--lock-timeout"),
            "{text}"
        );
        fault::release("cache-locked");
        first.join().unwrap().unwrap();
    });
}

#[test]
fn stale_libgit2_lock_files_are_removed() {
    let _serial = serial();
    let tmp = TempDir::new().unwrap();
    let (repo, url, cache) = source(tmp.path());
    cache.resolve(&url, &GitRef::DefaultBranch).unwrap();
    // What a fetch killed mid-write leaves behind.
    let cached = cached_repo(tmp.path());
    for stale in [
        "shallow.lock",
        "packed-refs.lock",
        "refs/stackpack/HEAD.lock",
    ] {
        std::fs::write(cached.join(stale), "").unwrap();
    }
    std::fs::create_dir_all(cached.join("refs/stackpack/heads")).unwrap();
    std::fs::write(cached.join("refs/stackpack/heads/main.lock"), "").unwrap();
    write(&repo, "pack.yaml", "version: 1.1.0\n", false);
    let newer = commit_all(&repo, "1.1.0");
    let rev = cache.resolve(&url, &GitRef::DefaultBranch).unwrap();
    assert_eq!(rev.commit, newer.to_string());
    assert!(!cached.join("shallow.lock").exists());
    assert!(!cached.join("refs/stackpack/HEAD.lock").exists());
    assert!(!cached.join("refs/stackpack/heads/main.lock").exists());
}

#[test]
fn a_damaged_repository_is_moved_aside_and_fetched_again() {
    let _serial = serial();
    let tmp = TempDir::new().unwrap();
    let (_repo, url, cache) = source(tmp.path());
    let rev = cache.resolve(&url, &GitRef::DefaultBranch).unwrap();
    let cached = cached_repo(tmp.path());
    std::fs::remove_dir_all(cached.join("objects")).unwrap();
    std::fs::remove_file(cached.join("HEAD")).unwrap();
    let again = cache.resolve(&url, &GitRef::DefaultBranch).unwrap();
    assert_eq!(again, rev);
    assert!(cached.with_extension("git.corrupt").join("refs").is_dir());
    let (dest_path, dest) = dest(tmp.path(), "out");
    cache.export(&url, &again.commit, None, &dest).unwrap();
    assert!(dest_path.join("pack.yaml").is_file());
}

/// A tar.gz holding `pack/pack.yaml`.
fn tar_gz() -> Vec<u8> {
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    let body = b"version: 1.0.0\n";
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_size(body.len() as u64);
    h.set_mtime(1_700_000_000);
    b.append_data(&mut h, "pack/pack.yaml", &body[..]).unwrap();
    b.into_inner().unwrap().finish().unwrap()
}

fn get_archive(
    net: &Net,
    url: &str,
    digest: &stackpack_core::Sha256,
    cache: &Path,
    dest_dir: &Path,
    name: &str,
) -> Result<(), FetchError> {
    let (_, dest) = dest(dest_dir, name);
    fetch_archive(
        net,
        url,
        digest,
        ArchiveFormat::TarGz,
        None,
        cache,
        false,
        Duration::from_secs(30),
        &stackpack_fetch::TreeLimits::default(),
        &dest,
    )
}

#[test]
fn an_archive_is_downloaded_once_and_a_damaged_copy_replaced() {
    let _serial = serial();
    let tmp = TempDir::new().unwrap();
    let bytes = tar_gz();
    let file = tmp.path().join("pack.tar.gz");
    std::fs::write(&file, &bytes).unwrap();
    let url = url(&file);
    let hexdigest = hex::encode(Sha256::digest(&bytes));
    let digest: stackpack_core::Sha256 = hexdigest.parse().unwrap();
    let cache = tmp.path().join("cache");
    let net = Net::new(NetConfig::default()).unwrap();
    fault::hold("cache-locked", &url);
    std::thread::scope(|s| {
        let first = s.spawn(|| get_archive(&net, &url, &digest, &cache, tmp.path(), "a"));
        fault::wait_reached("cache-locked", 1);
        let second = s.spawn(|| get_archive(&net, &url, &digest, &cache, tmp.path(), "b"));
        fault::wait_reached("cache-lock-wait", 1);
        fault::release("cache-locked");
        first.join().unwrap().unwrap();
        second.join().unwrap().unwrap();
    });
    assert_eq!(fault::reached("archive-download"), 1);
    assert!(tmp.path().join("b/pack.yaml").is_file());

    // A cached copy that no longer matches its digest is moved aside and replaced.
    let cached = cache.join(format!("archives/{hexdigest}.tar.gz"));
    std::fs::write(&cached, b"damaged").unwrap();
    get_archive(&net, &url, &digest, &cache, tmp.path(), "c").unwrap();
    assert_eq!(std::fs::read(&cached).unwrap(), bytes);
    assert_eq!(
        std::fs::read(cache.join(format!("archives/{hexdigest}.tar.gz.corrupt"))).unwrap(),
        b"damaged"
    );
    assert_eq!(fault::reached("archive-download"), 2);
}
