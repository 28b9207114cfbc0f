//! fetch_indexes against real servers on 127.0.0.1 through the real `stackpack_fetch::Net`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use common::*;
use stackpack_index::{FetchOptions, IndexStatus, fetch_indexes, health, merge};
use tempfile::TempDir;

fn opts(dir: &TempDir) -> FetchOptions {
    FetchOptions::new(dir.path().join("index"))
}

fn offline(dir: &TempDir) -> FetchOptions {
    FetchOptions {
        offline: true,
        ..opts(dir)
    }
}

#[test]
fn first_index_wins_on_merge() {
    let high = index_json(&[("shared", "2.0.0"), ("alpha", "1.0.0")]);
    let low = index_json(&[("shared", "1.0.0"), ("beta", "0.1.0")]);
    // One server per index: tiny_http can stall a request queued behind the keep-alive
    // connections of parallel ones to the same server.
    let high_server = Server::start(move |_| Reply::ok(high.clone()));
    let low_server = Server::start(move |_| Reply::ok(low.clone()));
    let dir = TempDir::new().unwrap();
    let urls = vec![high_server.url("/high.json"), low_server.url("/low.json")];
    let fetched = fetch_indexes(&net(), &urls, &opts(&dir));
    assert_eq!(fetched.len(), 2);
    assert_eq!(fetched[0].url, urls[0]);
    assert_eq!(fetched[1].url, urls[1]);
    assert!(fetched.iter().all(|i| i.status == IndexStatus::Ok));
    assert!(fetched.iter().all(|i| !i.from_cache && i.warning.is_none()));
    assert_eq!(fetched[0].packs.len(), 2);

    let merged = merge(&fetched);
    let keys: Vec<&str> = merged.keys().collect();
    assert_eq!(keys, ["alpha", "beta", "shared"]);
    let shared = merged.show("shared").unwrap();
    assert_eq!(shared.version.as_deref(), Some("2.0.0"));
    assert_eq!(shared.index, urls[0]);
    assert_eq!(merged.show("beta").unwrap().index, urls[1]);

    // Reversed priority: the other copy wins.
    let reversed = vec![urls[1].clone(), urls[0].clone()];
    let fetched = fetch_indexes(&net(), &reversed, &opts(&dir));
    let merged = merge(&fetched);
    assert_eq!(
        merged.show("shared").unwrap().version.as_deref(),
        Some("1.0.0")
    );

    let h = health(&fetched);
    assert_eq!((h.total_packs, h.usable, h.unusable), (3, 2, 0));
    assert_eq!(h.indexes[0].packs, 2);
}

#[test]
fn bad_indexes_do_not_affect_the_others() {
    let good = index_json(&[("good", "1.0.0")]);
    let documents: [(&str, &[u8]); 8] = [
        ("/notjson", b"<html>captive portal</html>"),
        ("/list", b"[]"),
        ("/good.json", &good),
        ("/nopacks", br#"{"foo": 1}"#),
        ("/packslist", br#"{"packs": ["a"]}"#),
        ("/empty", b"{}"),
        ("/emptypacks", br#"{"metadata": {}, "packs": {}}"#),
        ("/missing", b"not found"),
    ];
    let paths: Vec<&str> = documents.iter().map(|(p, _)| *p).collect();
    let servers: Vec<Server> = documents
        .iter()
        .map(|(path, body)| {
            let (path, body) = (path.to_string(), body.to_vec());
            Server::start(move |req| {
                let status = if req.path == path { 200 } else { 404 };
                Reply::status(status, body.clone())
            })
        })
        .collect();
    let dir = TempDir::new().unwrap();
    let urls: Vec<String> = servers
        .iter()
        .zip(&paths)
        .map(|(server, path)| server.url(if *path == "/missing" { "/gone" } else { path }))
        .collect();
    let fetched = fetch_indexes(&net(), &urls, &opts(&dir));
    let status: Vec<&IndexStatus> = fetched.iter().map(|i| &i.status).collect();
    assert!(matches!(status[0], IndexStatus::Malformed(m) if m.starts_with("not JSON")));
    assert_eq!(
        status[1],
        &IndexStatus::Malformed("expected an index object, got a list instead".into())
    );
    assert_eq!(status[2], &IndexStatus::Ok);
    assert_eq!(
        status[3],
        &IndexStatus::Malformed("the index object has no \"packs\" attribute".into())
    );
    assert!(
        matches!(status[4], IndexStatus::Malformed(m) if m.contains("\"packs\" must be an object"))
    );
    assert_eq!(status[5], &IndexStatus::Empty);
    assert_eq!(status[6], &IndexStatus::Empty);
    assert_eq!(
        status[7],
        &IndexStatus::Unresponsive("HTTP status 404".into())
    );
    for (i, index) in fetched.iter().enumerate() {
        if i != 2 {
            assert!(index.packs.is_empty() && index.body.is_none(), "{index:?}");
        }
    }

    let merged = merge(&fetched);
    assert_eq!(merged.keys().collect::<Vec<_>>(), ["good"]);
    let h = health(&fetched);
    assert_eq!((h.total_packs, h.usable, h.unusable), (1, 1, 7));
    let json = serde_json::to_value(&h).unwrap();
    assert_eq!(json["indexes"][1]["status"], "malformed");
    assert_eq!(
        json["indexes"][1]["message"],
        "expected an index object, got a list instead"
    );
    assert_eq!(json["indexes"][2]["status"], "ok");
    assert_eq!(json["indexes"][2]["packs"], 1);
    assert_eq!(json["indexes"][5]["status"], "empty");

    // Malformed documents are never cached: offline, only the good and empty ones are there.
    let again = fetch_indexes(&net(), &urls, &offline(&dir));
    assert_eq!(again[2].status, IndexStatus::Ok);
    assert!(again[2].from_cache);
    assert_eq!(again[5].status, IndexStatus::Empty);
    for i in [0, 1, 3, 4, 7] {
        assert_eq!(
            again[i].status,
            IndexStatus::Error("offline and never fetched; run once online".into()),
            "{}",
            paths[i]
        );
    }
}

#[test]
fn hanging_index_is_unresponsive_then_served_from_cache() {
    let body = index_json(&[("slow", "1.0.0")]);
    let server = Flaky::start(body.clone(), false);
    let dir = TempDir::new().unwrap();
    let url = server.url("user:s3cret@", "/index.json");

    // Never fetched and hanging: unresponsive, within the timeout.
    let never = Flaky::start(Vec::new(), true);
    let started = Instant::now();
    let fetched = fetch_indexes(&net(), &[never.url("", "/index.json")], &opts(&dir));
    let took = started.elapsed();
    assert!(took < Duration::from_millis(1500), "took {took:?}");
    assert_eq!(
        fetched[0].status,
        IndexStatus::Unresponsive("timed out".into())
    );
    assert!(fetched[0].warning.is_none() && !fetched[0].fallback);
    assert_eq!(never.hits(), 1);

    // Fetched once, then the server hangs: the cached copy stands in, with a warning.
    let fetched = fetch_indexes(&net(), std::slice::from_ref(&url), &opts(&dir));
    assert_eq!(fetched[0].status, IndexStatus::Ok);
    assert!(!fetched[0].from_cache);
    server.hang();
    let started = Instant::now();
    let fetched = fetch_indexes(&net(), std::slice::from_ref(&url), &opts(&dir));
    let took = started.elapsed();
    assert!(took < Duration::from_millis(1500), "took {took:?}");
    let index = &fetched[0];
    assert_eq!(index.status, IndexStatus::Ok);
    assert!(index.from_cache && index.fallback);
    assert_eq!(index.body.as_deref(), Some(&body[..]));
    assert!(index.packs.contains_key("slow"));
    assert!(index.age.unwrap() < Duration::from_secs(60));
    let warning = index.warning.as_deref().unwrap();
    assert!(
        warning.contains(&server.url("user:***@", "/index.json")),
        "{warning}"
    );
    assert!(!warning.contains("s3cret"), "{warning}");
    assert!(warning.contains("timed out"), "{warning}");
    assert!(
        warning.contains("; using the copy cached ") && warning.ends_with(" s ago"),
        "{warning}"
    );
    assert_eq!(index.shown_url, server.url("user:***@", "/index.json"));
    assert_eq!(server.hits(), 2);

    let h = health(&fetched);
    assert!(h.indexes[0].cached_age_secs.unwrap() < 60);
    assert!(h.indexes[0].from_cache);
    assert!(!serde_json::to_string(&h).unwrap().contains("s3cret"));
}

#[test]
fn indexes_are_fetched_in_parallel_and_once() {
    let hanging: Vec<Flaky> = (0..4).map(|_| Flaky::start(Vec::new(), true)).collect();
    let dir = TempDir::new().unwrap();
    let mut urls: Vec<String> = hanging.iter().map(|s| s.url("", "/i.json")).collect();
    urls.push(urls[0].clone());
    let started = Instant::now();
    let fetched = fetch_indexes(&net(), &urls, &opts(&dir));
    let took = started.elapsed();
    // Four 500 ms timeouts one after the other would take 2 s.
    assert!(took < Duration::from_millis(1800), "took {took:?}");
    assert_eq!(
        fetched.len(),
        4,
        "a repeated URL is fetched and listed once"
    );
    assert_eq!(hanging[0].hits(), 1);
    assert!(
        fetched
            .iter()
            .all(|i| matches!(i.status, IndexStatus::Unresponsive(_)))
    );
}

#[test]
fn not_modified_uses_the_cached_body() {
    let body = index_json(&[("etagged", "1.0.0")]);
    let served = body.clone();
    let server = Server::start(move |req| {
        if req.header("if-none-match") == Some("\"v1\"") {
            Reply::status(304, Vec::new()).header("ETag", "\"v1\"")
        } else {
            Reply::ok(served.clone())
                .header("ETag", "\"v1\"")
                .header("Last-Modified", "Wed, 21 Oct 2015 07:28:00 GMT")
        }
    });
    let dir = TempDir::new().unwrap();
    let urls = vec![server.url("/index.json")];

    let first = fetch_indexes(&net(), &urls, &opts(&dir));
    assert_eq!(first[0].status, IndexStatus::Ok);
    assert!(!first[0].from_cache && first[0].age.is_none());
    assert_eq!(files_in(&dir.path().join("index")).len(), 2);

    let second = fetch_indexes(&net(), &urls, &opts(&dir));
    let index = &second[0];
    assert_eq!(index.status, IndexStatus::Ok);
    assert!(index.from_cache && !index.fallback && index.warning.is_none());
    assert_eq!(index.body.as_deref(), Some(&body[..]));
    assert!(index.packs.contains_key("etagged"));
    assert!(index.age.unwrap() < Duration::from_secs(5));

    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].header("if-none-match"), None);
    assert_eq!(requests[1].header("if-none-match"), Some("\"v1\""));
    assert_eq!(
        requests[1].header("if-modified-since"),
        Some("Wed, 21 Oct 2015 07:28:00 GMT")
    );
}

#[test]
fn offline_uses_the_cache_only() {
    let server = Server::start(|_| Reply::ok(index_json(&[("cached", "1.0.0")])));
    let dir = TempDir::new().unwrap();
    let urls = vec![server.url("/index.json")];
    fetch_indexes(&net(), &urls, &opts(&dir));
    assert_eq!(server.count(), 1);

    let fetched = fetch_indexes(&net(), &urls, &offline(&dir));
    assert_eq!(server.count(), 1, "offline makes no request");
    let index = &fetched[0];
    assert_eq!(index.status, IndexStatus::Ok);
    assert!(index.from_cache && !index.fallback);
    assert!(index.packs.contains_key("cached"));
    assert!(index.age.is_some());

    let never = vec![server.url("/other.json")];
    let fetched = fetch_indexes(&net(), &never, &offline(&dir));
    assert_eq!(
        fetched[0].status,
        IndexStatus::Error("offline and never fetched; run once online".into())
    );
    assert_eq!(server.count(), 1);
}

#[test]
fn file_urls_paths_and_plain_bodies() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("local-index.json");
    let body = index_json(&[("local", "0.1.0")]);
    std::fs::write(&path, &body).unwrap();
    let file_url = format!("file://{}", path.display());
    let fetched = fetch_indexes(
        &net(),
        &[file_url.clone(), path.display().to_string()],
        &opts(&dir),
    );
    for index in &fetched {
        assert_eq!(index.status, IndexStatus::Ok, "{}", index.url);
        assert_eq!(index.body.as_deref(), Some(&body[..]));
        assert!(!index.from_cache);
    }
    // Local files are read offline too.
    let fetched = fetch_indexes(&net(), std::slice::from_ref(&file_url), &offline(&dir));
    assert_eq!(fetched[0].status, IndexStatus::Ok);
    let missing = format!("file://{}", dir.path().join("nope.json").display());
    let fetched = fetch_indexes(&net(), &[missing], &opts(&dir));
    assert!(matches!(&fetched[0].status, IndexStatus::Unresponsive(m) if m.contains("nope.json")));

    // A plain body (no ETag, no Last-Modified): cached, fetched unconditionally again.
    let server = Server::start(|_| Reply::ok(index_json(&[("plain", "1.0.0")])));
    let urls = vec![server.url("/plain.json")];
    for _ in 0..2 {
        let fetched = fetch_indexes(&net(), &urls, &opts(&dir));
        assert_eq!(fetched[0].status, IndexStatus::Ok);
        assert!(!fetched[0].from_cache);
    }
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert!(requests.iter().all(|r| r.header("if-none-match").is_none()
        && r.header("if-modified-since").is_none()));
    let fetched = fetch_indexes(&net(), &urls, &offline(&dir));
    assert!(fetched[0].packs.contains_key("plain"));
}

#[test]
fn error_responses_are_never_cached() {
    let status = Arc::new(AtomicU16::new(500));
    let s = status.clone();
    let server = Server::start(move |_| {
        Reply::status(s.load(Ordering::SeqCst), index_json(&[("v", "1.0.0")]))
    });
    let dir = TempDir::new().unwrap();
    let cache = dir.path().join("index");
    let urls = vec![server.url("/index.json")];

    let fetched = fetch_indexes(&net(), &urls, &opts(&dir));
    assert_eq!(
        fetched[0].status,
        IndexStatus::Unresponsive("HTTP status 500".into())
    );
    assert!(fetched[0].packs.is_empty());
    assert!(files_in(&cache).is_empty(), "{:?}", files_in(&cache));

    // Once good, then failing: the good copy is served, and stays cached.
    status.store(200, Ordering::SeqCst);
    fetch_indexes(&net(), &urls, &opts(&dir));
    let cached_files = files_in(&cache);
    assert_eq!(cached_files.len(), 2);
    let body_file = cache.join(
        cached_files
            .iter()
            .find(|n| !n.ends_with(".meta.json"))
            .unwrap(),
    );
    let good = std::fs::read(&body_file).unwrap();
    status.store(503, Ordering::SeqCst);
    let fetched = fetch_indexes(&net(), &urls, &opts(&dir));
    assert_eq!(fetched[0].status, IndexStatus::Ok);
    assert!(fetched[0].fallback);
    let warning = fetched[0].warning.as_deref().unwrap();
    assert!(
        warning.contains("503") && warning.contains(&urls[0]),
        "{warning}"
    );
    assert_eq!(std::fs::read(&body_file).unwrap(), good);
    assert_eq!(files_in(&cache), cached_files, "no temp files left");
}

#[test]
fn redirects_are_followed_up_to_five() {
    let body = index_json(&[("moved", "1.0.0")]);
    let start = || {
        let body = body.clone();
        Server::start(move |req| {
            let path = req.path.as_str();
            if path == "/index.json" {
                Reply::ok(body.clone())
            } else if let Some(n) = path.strip_prefix("/hop/") {
                let n: u32 = n.parse().unwrap();
                let next = if n == 0 {
                    "/index.json".to_string()
                } else {
                    format!("/hop/{}", n - 1)
                };
                Reply::status(302, Vec::new()).header("Location", next)
            } else if path == "/elsewhere" {
                Reply::status(301, Vec::new()).header("Location", "file:///etc/passwd")
            } else {
                Reply::status(404, Vec::new())
            }
        })
    };
    let servers = [start(), start(), start()];
    let dir = TempDir::new().unwrap();
    // /hop/4 → 3 → 2 → 1 → 0 → /index.json: five redirects.
    let urls = vec![
        servers[0].url("/hop/4"),
        servers[1].url("/hop/5"),
        servers[2].url("/elsewhere"),
    ];
    let fetched = fetch_indexes(&net(), &urls, &opts(&dir));
    assert_eq!(fetched[0].status, IndexStatus::Ok);
    assert!(fetched[0].packs.contains_key("moved"));
    assert_eq!(
        fetched[1].status,
        IndexStatus::Unresponsive("more than 5 redirects".into())
    );
    assert!(
        matches!(&fetched[2].status, IndexStatus::Unresponsive(m) if m.contains("not an http(s) URL"))
    );
}

#[test]
fn bad_urls_are_errors() {
    let dir = TempDir::new().unwrap();
    let fetched = fetch_indexes(
        &net(),
        &[
            "not a url".to_string(),
            "ftp://x.example/i.json".to_string(),
        ],
        &opts(&dir),
    );
    assert!(
        matches!(&fetched[0].status, IndexStatus::Error(m) if m.starts_with("invalid index URL"))
    );
    assert!(matches!(&fetched[1].status, IndexStatus::Error(m) if m.contains("`ftp`")));
}
