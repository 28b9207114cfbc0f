//! `Net::git_list_refs` (the plugins' `git-list-refs`) against real repositories: over
//! smart HTTP (`git http-backend` on 127.0.0.1) the refs are read from the advertisement
//! of one request, from a `file://` repository they are read in place; both list exactly
//! what `git ls-remote` lists. A server whose advertisement is malformed is an error
//! naming the URL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use common::*;
use stackpack_fetch::{Net, NetConfig};
use stackpack_net::{NetBackend, NetFailure};
use stackpack_testkit::http::{Reply, git_http_server, http_server};
use tempfile::TempDir;

/// `git ls-remote <url>`, as (name, id) pairs.
fn git_ls_remote(url: &str) -> BTreeSet<(String, String)> {
    let out = Command::new("git")
        .args(["ls-remote", url])
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (id, name) = l.split_once('\t').unwrap();
            (name.to_string(), id.to_string())
        })
        .collect()
}

/// Safe outcome: the plugins see the refs git itself lists (HEAD, branches, tags and
/// annotated tags' peeled commits), whichever way they are read.
#[test]
fn lists_what_git_ls_remote_lists() {
    let tmp = TempDir::new().unwrap();
    let src = tmp.path().join("src");
    let repo = init(&src);
    write(&repo, "pack.yaml", "version: 1.0.0\n", false);
    let a = commit_all(&repo, "1.0.0");
    write(&repo, "pack.yaml", "version: 1.1.0\n", false);
    let b = commit_all(&repo, "1.1.0");
    repo.reference("refs/heads/dev", a, false, "test").unwrap();
    repo.tag_lightweight("1.0.0", &repo.find_object(a, None).unwrap(), false)
        .unwrap();
    repo.tag(
        "v1.1.0",
        &repo.find_object(b, None).unwrap(),
        &sig(),
        "release",
        false,
    )
    .unwrap();
    let bare = tmp.path().join("srv/src.git");
    let out = Command::new("git")
        .args(["clone", "-q", "--bare"])
        .arg(&src)
        .arg(&bare)
        .output()
        .unwrap();
    assert!(out.status.success());
    let http = format!("{}/src.git", git_http_server(&tmp.path().join("srv")));
    let net = Net::new(NetConfig::default()).unwrap();
    for url in [http, url(&bare)] {
        let listed: BTreeSet<(String, String)> =
            net.git_list_refs(&url).unwrap().into_iter().collect();
        let expected = git_ls_remote(&url);
        assert!(
            expected.iter().any(|(n, _)| n == "refs/tags/v1.1.0^{}"),
            "{expected:?}"
        );
        assert_eq!(listed, expected, "{url}");
    }
}

/// Safe outcome: a smart-HTTP answer that is not a valid advertisement is an error that
/// names the repository's URL (never a panic, never a partial list).
#[test]
fn a_malformed_advertisement_is_an_error_naming_the_url() {
    let smart = "application/x-git-upload-pack-advertisement";
    let base = http_server(vec![(
        "/bad.git/info/refs?service=git-upload-pack",
        Reply::ok("001e# service=git-upload-pack\n00000013zzzz not an id\n0000")
            .header("Content-Type", smart),
    )]);
    let url = format!("{base}/bad.git");
    let net = Net::new(NetConfig::default()).unwrap();
    match net.git_list_refs(&url) {
        Err(NetFailure::Transport(msg)) => {
            assert!(msg.contains(&url) && msg.contains("malformed"), "{msg}");
        }
        other => panic!("{other:?}"),
    }
}
