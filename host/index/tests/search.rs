//! Search, show, suggestions and versions over the real Exchange index
//! (tests/data/exchange-index.json, 169 packs), loaded through a file:// URL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Instant;

use stackpack_index::{
    Entry, FetchOptions, IndexStatus, MergedIndex, fetch_indexes, health, merge,
};
use tempfile::TempDir;

fn exchange() -> MergedIndex<'static> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/data/exchange-index.json"
    );
    let path = std::fs::canonicalize(path).unwrap();
    let url = format!("file://{}", path.display());
    let dir = TempDir::new().unwrap();
    let fetched = fetch_indexes(&common::net(), &[url], &FetchOptions::new(dir.path()));
    assert_eq!(fetched[0].status, IndexStatus::Ok);
    assert_eq!(fetched[0].packs.len(), 169);
    let h = health(&fetched);
    assert_eq!((h.total_packs, h.usable, h.unusable), (169, 1, 0));
    // The merged index borrows the documents; each test keeps them to its end.
    merge(Box::leak(fetched.into_boxed_slice()))
}

fn keys(found: &[Entry]) -> Vec<String> {
    found.iter().map(|e| e.key.clone()).collect()
}

#[test]
fn entries() {
    let index = exchange();
    assert_eq!(index.len(), 169);
    let keys: Vec<&str> = index.keys().collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]));
    // No `ref` in the entry: the key stands in.
    let kafka = index.show("kafka").unwrap();
    assert_eq!(kafka.ref_, "kafka");
    assert!(kafka.raw.get("Contributors").is_some());
    let slack = index.show("slack").unwrap();
    assert_eq!(slack.version.as_deref(), Some("2.3.0"));
    assert!(slack.keywords.iter().any(|k| k == "chat"));
    assert_eq!(
        slack.repo_url.as_deref(),
        Some("https://github.com/StackStorm-Exchange/stackstorm-slack")
    );
    // Serialized without the raw entry (no `content` listing).
    let json = serde_json::to_value(&slack).unwrap();
    assert_eq!(json["ref"], "slack");
    assert!(json.get("content").is_none() && json.get("raw").is_none());
}

#[test]
fn versions_are_in_semver_order() {
    let index = exchange();
    let acos = &index.show("acos").unwrap().versions;
    assert_eq!(acos[0], "1.10.0");
    let pos = |v: &str| acos.iter().position(|x| x == v).unwrap();
    assert!(pos("1.10.0") < pos("1.2.0"));
    assert!(pos("1.2.0") < pos("1.1.0"));
    assert_eq!(acos.last().unwrap(), "0.1.0");
    let slack = &index.show("slack").unwrap().versions;
    assert!(slack.iter().position(|v| v == "0.13.0") < slack.iter().position(|v| v == "0.2.0"));
}

#[test]
fn search_ranks_names_before_keywords_before_descriptions() {
    let index = exchange();
    assert_eq!(keys(&index.search("slack"))[0], "slack");
    // Exact, then name prefix, then keyword-only.
    assert_eq!(
        keys(&index.search("aws")),
        ["aws", "aws_boto3", "aws_s3", "libcloud"]
    );
    assert_eq!(keys(&index.search("email")), ["email", "mailgun"]);
    assert_eq!(keys(&index.search("circle")), ["circle_ci"]);
    // Keyword matches are substrings of a keyword ("chat" in "chatops" too).
    let chat = keys(&index.search("chat"));
    assert!(
        chat.iter().any(|k| k == "slack") && chat.len() < 20,
        "{chat:?}"
    );
    // Names match anywhere, before descriptions: "ci" is a substring of circle_ci.
    let ci = keys(&index.search("_ci"));
    assert_eq!(ci, ["circle_ci", "travis_ci"]);
}

#[test]
fn search_ignores_content_versions_and_python_versions() {
    let index = exchange();
    let actions = index.search("actions");
    assert!(
        actions.len() < 30,
        "content listings must not match: {}",
        actions.len()
    );
    for e in &actions {
        let d = e.description.as_deref().unwrap_or("").to_lowercase();
        assert!(d.contains("actions"), "{} matched on something else", e.key);
    }
    assert!(
        index.search("3").len() < 20,
        "python_versions must not match"
    );
    assert!(index.search("1.0.0").is_empty(), "versions must not match");
    assert!(
        index.search("stackstorm-exchange").is_empty(),
        "repo_url must not match"
    );
    assert!(
        index.search("info@stackstorm.com").is_empty(),
        "email must not match"
    );
    assert!(index.search("").is_empty());
    assert!(index.search("   ").is_empty());
}

#[test]
fn search_is_case_insensitive() {
    let index = exchange();
    for q in ["SLACK", "Slack", "sLaCk"] {
        assert_eq!(keys(&index.search(q)), keys(&index.search("slack")), "{q}");
    }
    // Display names and authors, whatever their case.
    assert_eq!(keys(&index.search("Circle CI")), ["circle_ci"]);
    let by_author = index.search("stackstorm, inc.");
    assert!(by_author.len() > 10);
    assert!(by_author.iter().any(|e| e.key == "slack"));
}

#[test]
fn show_by_key_or_ref_as_install_does() {
    let index = exchange();
    assert_eq!(index.show("circle_ci").unwrap().name, "Circle CI");
    // Display names are not identifiers (install does not take them either): not found,
    // but suggested.
    assert!(index.show("Circle CI").is_none());
    assert_eq!(index.suggest("Circle CI")[0], "circle_ci");
    assert!(index.show("Microsoft Exchange").is_none());
    assert!(index.show("not-a-pack").is_none());
    assert!(index.show("").is_none());
    assert_eq!(index.get("slack").unwrap().key, "slack");
}

#[test]
fn suggestions() {
    let index = exchange();
    let s = index.suggest("sensuu");
    assert_eq!(s.first(), Some(&"sensu"), "{s:?}");
    assert!(s.len() <= 5);
    assert!(index.suggest("slak").contains(&"slack"));
    assert!(index.suggest("circleci").contains(&"circle_ci"));
    assert!(index.suggest("zzzzzzzzzz").is_empty());
    assert!(index.suggest("").is_empty());
}

#[test]
fn search_is_fast() {
    let index = exchange();
    let queries = [
        "slack",
        "aws",
        "actions",
        "stackstorm",
        "x",
        "monitoring",
        "zzz",
    ];
    let rounds = 50;
    let started = Instant::now();
    for _ in 0..rounds {
        for q in queries {
            std::hint::black_box(index.search(q));
        }
    }
    let per_search = started.elapsed() / (rounds * queries.len() as u32);
    eprintln!("one search over 169 packs: {per_search:?}");
    // Well under 5 ms in a release build; debug builds get some slack.
    assert!(per_search.as_millis() < 5, "{per_search:?}");
}
