//! fetch_archive against a real HTTP server on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use common::*;
use sha2::{Digest, Sha256};
use stackpack_core::ArchiveFormat;
use stackpack_fetch::{FetchError, Net, NetConfig, fetch_archive};
use stackpack_testkit::http::{Reply, Server};
use tempfile::TempDir;

/// Serves fixed files; `/redirect/<name>` answers 302 to `/<name>`.
fn serve(files: HashMap<String, Vec<u8>>) -> Server {
    Server::start(move |req| {
        let path = req.path.trim_start_matches('/');
        if let Some(name) = path.strip_prefix("redirect/") {
            Reply::redirect(&format!("/{name}"))
        } else if let Some(body) = files.get(path) {
            Reply::ok(body)
        } else {
            Reply::status(404, b"")
        }
    })
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A digest as a resolver gives it (`sha256:` prefix or not, any case).
fn to_digest(text: &str) -> stackpack_core::Sha256 {
    text.parse().unwrap()
}

fn net() -> Net {
    Net::new(NetConfig::default()).unwrap()
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(1_700_000_000);
    h
}

/// A tar.gz of `pack-1.0/` with a pack.yaml, an executable and an inner symlink.
fn good_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    let mut h = header(tar::EntryType::Directory, 0o755, 0);
    b.append_data(&mut h, "pack-1.0/", &[][..]).unwrap();
    let body = b"name: demo\nversion: 1.0.0\n";
    let mut h = header(tar::EntryType::Regular, 0o644, body.len() as u64);
    b.append_data(&mut h, "pack-1.0/pack.yaml", &body[..])
        .unwrap();
    let body = b"#!/bin/sh\n";
    let mut h = header(tar::EntryType::Regular, 0o755, body.len() as u64);
    b.append_data(&mut h, "pack-1.0/actions/run.sh", &body[..])
        .unwrap();
    let mut h = header(tar::EntryType::Symlink, 0o777, 0);
    b.append_link(&mut h, "pack-1.0/actions/meta", "../pack.yaml")
        .unwrap();
    let mut h = header(tar::EntryType::Link, 0o644, 0);
    b.append_link(&mut h, "pack-1.0/copy.yaml", "pack-1.0/pack.yaml")
        .unwrap();
    b.into_inner().unwrap().finish().unwrap()
}

/// A tar.gz with a good file, then `evil` (raw name bytes, bypassing the tar crate's
/// own checks).
fn evil_tar(name: &[u8], kind: tar::EntryType, link: Option<&str>) -> Vec<u8> {
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    let body = b"name: demo\n";
    let mut h = header(tar::EntryType::Regular, 0o644, body.len() as u64);
    b.append_data(&mut h, "pack.yaml", &body[..]).unwrap();
    let body: &[u8] = if kind == tar::EntryType::Regular {
        b"pwned\n"
    } else {
        b""
    };
    let mut h = header(kind, 0o644, body.len() as u64);
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    if let Some(link) = link {
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
    }
    h.set_cksum();
    b.append(&h, body).unwrap();
    b.into_inner().unwrap().finish().unwrap()
}

fn good_zip() -> Vec<u8> {
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    z.add_directory("pack-2.0/", opts.unix_permissions(0o755))
        .unwrap();
    z.start_file("pack-2.0/pack.yaml", opts.unix_permissions(0o644))
        .unwrap();
    z.write_all(b"name: demo\nversion: 2.0.0\n").unwrap();
    z.start_file("pack-2.0/actions/run.sh", opts.unix_permissions(0o755))
        .unwrap();
    z.write_all(b"#!/bin/sh\n").unwrap();
    z.add_symlink("pack-2.0/actions/meta", "../pack.yaml", opts)
        .unwrap();
    z.finish().unwrap().into_inner()
}

struct Case {
    tmp: TempDir,
    server: Server,
    tar: Vec<u8>,
    zip: Vec<u8>,
}

impl Case {
    fn new(extra: &[(&str, Vec<u8>)]) -> Case {
        let tar = good_tar();
        let zip = good_zip();
        let mut files = HashMap::new();
        files.insert("pack.tar.gz".to_string(), tar.clone());
        files.insert("pack.zip".to_string(), zip.clone());
        for (name, body) in extra {
            files.insert(name.to_string(), body.clone());
        }
        Case {
            tmp: TempDir::new().unwrap(),
            server: serve(files),
            tar,
            zip,
        }
    }

    fn url(&self, name: &str) -> String {
        format!("{}/{name}", self.server.base)
    }

    fn cache(&self) -> std::path::PathBuf {
        self.tmp.path().join("cache")
    }

    fn fetch(
        &self,
        name: &str,
        expected: &str,
        kind: ArchiveFormat,
        strip: Option<&str>,
        offline: bool,
        out: &str,
    ) -> (std::path::PathBuf, Result<(), FetchError>) {
        let (path, dir) = dest(self.tmp.path(), out);
        let res = fetch_archive(
            &net(),
            &self.url(name),
            &to_digest(expected),
            kind,
            strip,
            &self.cache(),
            offline,
            stackpack_fetch::DEFAULT_LOCK_TIMEOUT,
            &stackpack_fetch::TreeLimits::default(),
            &dir,
        );
        (path, res)
    }
}

fn check_pack(out: &Path, version: &str) {
    let yaml = std::fs::read_to_string(out.join("pack.yaml")).unwrap();
    assert!(yaml.contains(version), "{yaml}");
    assert_eq!(mode(&out.join("pack.yaml")), 0o644);
    assert_eq!(mode(&out.join("actions/run.sh")), 0o755);
    assert_eq!(
        std::fs::read_link(out.join("actions/meta")).unwrap(),
        Path::new("../pack.yaml")
    );
}

#[test]
fn tar_gz_with_the_right_digest_unpacks_without_its_top_directory() {
    let case = Case::new(&[]);
    let digest = sha(&case.tar);
    let (out, res) = case.fetch(
        "pack.tar.gz",
        &format!("sha256:{digest}"),
        ArchiveFormat::TarGz,
        None,
        false,
        "out",
    );
    res.unwrap();
    check_pack(&out, "1.0.0");
    assert_eq!(
        std::fs::read_to_string(out.join("copy.yaml")).unwrap(),
        "name: demo\nversion: 1.0.0\n"
    );
    assert!(!out.join("pack-1.0").exists());
    assert!(
        case.cache()
            .join(format!("archives/{digest}.tar.gz"))
            .is_file()
    );
}

#[test]
fn zip_unpacks_with_an_explicit_prefix_and_follows_redirects() {
    let case = Case::new(&[]);
    let digest = sha(&case.zip);
    let (out, res) = case.fetch(
        "redirect/pack.zip",
        &digest.to_uppercase(),
        ArchiveFormat::Zip,
        Some("pack-2.0/"),
        false,
        "out",
    );
    res.unwrap();
    check_pack(&out, "2.0.0");
    // Without a prefix: the single top directory is stripped all the same.
    let (out, res) = case.fetch("pack.zip", &digest, ArchiveFormat::Zip, None, false, "out2");
    res.unwrap();
    check_pack(&out, "2.0.0");
    // A prefix nothing is under.
    let (_, res) = case.fetch(
        "pack.zip",
        &digest,
        ArchiveFormat::Zip,
        Some("nope"),
        false,
        "out3",
    );
    assert!(matches!(res, Err(FetchError::Prefix { .. })), "{res:?}");
}

#[test]
fn wrong_or_missing_digest_is_refused() {
    let case = Case::new(&[]);
    let wrong = "0".repeat(64);
    let (out, res) = case.fetch(
        "pack.tar.gz",
        &wrong,
        ArchiveFormat::TarGz,
        None,
        false,
        "out",
    );
    let err = res.unwrap_err();
    match &err {
        FetchError::Digest {
            expected, actual, ..
        } => {
            assert_eq!(expected, &wrong);
            assert_eq!(actual, &sha(&case.tar));
        }
        other => panic!("expected Digest, got {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains(&wrong) && text.contains(&sha(&case.tar)),
        "{text}"
    );
    assert!(text.contains(&case.url("pack.tar.gz")), "{text}");
    assert!(is_empty(&out));
    assert!(
        !case
            .cache()
            .join(format!("archives/{wrong}.tar.gz"))
            .exists()
    );
}

#[test]
fn unsafe_tar_entries_are_refused_and_nothing_is_written() {
    let cases: [(&str, &[u8], tar::EntryType, Option<&str>); 5] = [
        ("parent", b"../evil", tar::EntryType::Regular, None),
        ("absolute", b"/tmp/evil", tar::EntryType::Regular, None),
        (
            "symlink",
            b"evil",
            tar::EntryType::Symlink,
            Some("../../etc/passwd"),
        ),
        (
            "hardlink",
            b"evil",
            tar::EntryType::Link,
            Some("../outside"),
        ),
        ("device", b"evil", tar::EntryType::Char, None),
    ];
    let extra: Vec<(String, Vec<u8>)> = cases
        .iter()
        .map(|(n, name, kind, link)| (format!("{n}.tar.gz"), evil_tar(name, *kind, *link)))
        .collect();
    let extra_refs: Vec<(&str, Vec<u8>)> =
        extra.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    let case = Case::new(&extra_refs);
    for ((n, name, _, _), (file, body)) in cases.iter().zip(&extra) {
        let out_name = format!("{n}/dest");
        let (out, res) = case.fetch(
            file,
            &sha(body),
            ArchiveFormat::TarGz,
            None,
            false,
            &out_name,
        );
        match res {
            Err(FetchError::UnsafeEntry { entry, .. }) => {
                assert_eq!(entry.as_bytes(), *name, "{n}")
            }
            other => panic!("{n}: expected UnsafeEntry, got {other:?}"),
        }
        assert!(is_empty(&out), "{n}: something was written");
        assert!(!out.parent().unwrap().join("evil").exists(), "{n}");
    }
    assert!(!Path::new("/tmp/evil").exists());
}

#[test]
fn cache_hit_needs_no_server() {
    let case = Case::new(&[]);
    let digest = sha(&case.tar);
    let (_, res) = case.fetch(
        "pack.tar.gz",
        &digest,
        ArchiveFormat::TarGz,
        None,
        false,
        "a",
    );
    res.unwrap();
    let hits = case.server.count();
    assert_eq!(hits, 1);
    let (out, res) = case.fetch(
        "pack.tar.gz",
        &digest,
        ArchiveFormat::TarGz,
        None,
        false,
        "b",
    );
    res.unwrap();
    check_pack(&out, "1.0.0");
    assert_eq!(case.server.count(), hits, "a cache hit used the network");

    let Case {
        tmp, server, zip, ..
    } = case;
    drop(server);
    let cache = tmp.path().join("cache");
    for offline in [false, true] {
        let (out, dir) = dest(tmp.path(), &format!("gone-{offline}"));
        fetch_archive(
            &net(),
            "http://127.0.0.1:9/pack.tar.gz",
            &to_digest(&digest),
            ArchiveFormat::TarGz,
            None,
            &cache,
            offline,
            stackpack_fetch::DEFAULT_LOCK_TIMEOUT,
            &stackpack_fetch::TreeLimits::default(),
            &dir,
        )
        .unwrap();
        check_pack(&out, "1.0.0");
    }
    // Offline, not cached.
    let (_, dir) = dest(tmp.path(), "offline-miss");
    let err = fetch_archive(
        &net(),
        "http://127.0.0.1:9/pack.zip",
        &to_digest(&sha(&zip)),
        ArchiveFormat::Zip,
        None,
        &cache,
        true,
        stackpack_fetch::DEFAULT_LOCK_TIMEOUT,
        &stackpack_fetch::TreeLimits::default(),
        &dir,
    )
    .unwrap_err();
    assert!(matches!(err, FetchError::Offline { .. }), "{err:?}");
    assert!(
        err.to_string().contains("http://127.0.0.1:9/pack.zip"),
        "{err}"
    );
}

#[test]
fn tokens_never_reach_errors() {
    let case = Case::new(&[]);
    let digest = sha(&case.tar);
    let port = case.server.base.rsplit(':').next().unwrap().to_string();
    // The server answers 404.
    let url = format!("http://user:s3cr3tTOKEN@127.0.0.1:{port}/missing.tar.gz");
    let (_, dir) = dest(case.tmp.path(), "a");
    let err = fetch_archive(
        &net(),
        &url,
        &to_digest(&digest),
        ArchiveFormat::TarGz,
        None,
        &case.cache(),
        false,
        stackpack_fetch::DEFAULT_LOCK_TIMEOUT,
        &stackpack_fetch::TreeLimits::default(),
        &dir,
    )
    .unwrap_err();
    assert!(
        matches!(err, FetchError::Http { status: 404, .. }),
        "{err:?}"
    );
    let text = format!("{err} {err:?}");
    assert!(!text.contains("s3cr3tTOKEN"), "{text}");
    assert!(text.contains("user:***@127.0.0.1"), "{text}");

    // Nobody listens.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let url = format!("https://user:s3cr3tTOKEN@127.0.0.1:{port}/pack.tar.gz");
    let err = fetch_archive(
        &net(),
        &url,
        &to_digest(&"e".repeat(64)),
        ArchiveFormat::TarGz,
        None,
        &case.cache(),
        false,
        stackpack_fetch::DEFAULT_LOCK_TIMEOUT,
        &stackpack_fetch::TreeLimits::default(),
        &dir,
    )
    .unwrap_err();
    assert!(matches!(err, FetchError::Download { .. }), "{err:?}");
    let text = format!("{err} {err:?}");
    assert!(!text.contains("s3cr3tTOKEN"), "{text}");
}
