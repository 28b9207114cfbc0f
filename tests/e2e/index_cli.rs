//! `stackpack search`, `show` and `index health` against indexes served on 127.0.0.1
//! (and the real Exchange index file), through the real binary.

use crate::common::{Reply, Server, hanging_server, http_server, run, stackpack, write};
use serde_json::{Value, json};

fn index(packs: Value) -> String {
    json!({"metadata": {"generated_ts": 1}, "packs": packs}).to_string()
}

fn entry(name: &str, version: &str, description: &str) -> Value {
    json!({"name": name, "version": version, "description": description, "author": "t",
           "keywords": ["k"], "repo_url": format!("https://github.com/x/stackstorm-{name}")})
}

fn exchange() -> String {
    format!(
        "{}/tests/data/exchange-index.json",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn first_index_wins_and_broken_ones_do_not_matter() {
    let d = tempfile::tempdir().unwrap();
    let base = http_server(vec![
        (
            "/first.json",
            Reply::ok(index(
                json!({"shared": entry("shared", "2.0.0", "from the first")}),
            )),
        ),
        (
            "/second.json",
            Reply::ok(index(
                json!({"shared": entry("shared", "1.0.0", "from the second"),
                                    "only2": entry("only2", "0.1.0", "second only")}),
            )),
        ),
        ("/broken.json", Reply::ok("{not json")),
        ("/empty.json", Reply::ok("{}")),
    ]);
    let root = d.path().join("root");
    let idx = |p: &str| format!("{base}/{p}");
    let args = |cmd: &[&str]| {
        let mut v: Vec<String> = ["first.json", "broken.json", "second.json", "empty.json"]
            .iter()
            .flat_map(|p| ["--index".to_string(), idx(p)])
            .collect();
        v.extend(cmd.iter().map(|s| s.to_string()));
        v
    };
    let r = run(stackpack(&root).args(args(&["show", "shared", "--json"])));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["version"], "2.0.0");
    let r = run(stackpack(&root).args(args(&["show", "only2"])));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("second only"), "{}", r.stdout);
    let r = run(stackpack(&root).args(args(&["index", "health", "--json"])));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let h: Value = serde_json::from_str(&r.stdout).unwrap();
    let statuses: Vec<&str> = h["indexes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["ok", "malformed", "ok", "empty"]);
    assert_eq!(h["total_packs"], 2);
    let r = run(stackpack(&root).args(args(&["show", "sharde"])));
    assert_eq!(r.code, 3, "not in any index: exit code 3");
    assert!(r.stderr.contains("Did you mean: shared"), "{}", r.stderr);
}

#[test]
fn private_index_with_a_token_and_offline_cache() {
    let d = tempfile::tempdir().unwrap();
    let body = index(json!({"secretpack": entry("secretpack", "3.1.4", "behind a token")}));
    let server = Server::start(move |req| {
        let authed = req
            .headers
            .iter()
            .any(|(k, v)| k == "authorization" && v == "Bearer s3cret-index-token");
        if authed {
            Reply::ok(&body)
        } else {
            Reply::status(401, "unauthorized")
        }
    });
    let base = &server.base;
    let url = format!("{base}/v1/index.json");
    let root = d.path().join("root");
    let cache = d.path().join("cache");
    let config = d.path().join("stackpack.toml");
    write(
        &config,
        &format!(
            "index_url = [\"{url}\"]\n[[credentials]]\nurl = \"{base}/\"\ntoken_env = \"CORP_INDEX_TOKEN\"\n"
        ),
    );
    let cmd = |extra: &[&str]| {
        let mut c = stackpack(&root);
        c.env("STACKPACK_CACHE_DIR", &cache)
            .arg("--config")
            .arg(&config)
            .args(extra);
        c
    };
    // Without the token: unusable, and said so.
    let r = run(&mut cmd(&["index", "health"]));
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("401"), "{}", r.stdout);
    // With it (from the environment): works, and the token never shows.
    let r = run(cmd(&["-vv", "search", "secret"]).env("CORP_INDEX_TOKEN", "s3cret-index-token"));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("secretpack") && r.stdout.contains("3.1.4"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("s3cret-index-token") && !r.stderr.contains("s3cret-index-token"));
    // Offline: the cached copy, no request.
    let before = server.count();
    let r = run(&mut cmd(&["--offline", "show", "secretpack", "--json"]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(server.count(), before, "offline mode made a request");
    // A never-fetched index offline is unusable, and health says why.
    let r = run(&mut cmd(&[
        "--offline",
        "--index",
        &format!("{base}/other.json"),
        "index",
        "health",
    ]));
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("offline"), "{}", r.stdout);
}

#[test]
fn hanging_index_is_unresponsive_within_the_timeout() {
    let d = tempfile::tempdir().unwrap();
    let config = d.path().join("stackpack.toml");
    write(&config, "http_timeout = 1\n");
    let hang = hanging_server();
    let t = std::time::Instant::now();
    let r = run(stackpack(&d.path().join("root"))
        .arg("--config")
        .arg(&config)
        .args([
            "--index",
            &format!("{hang}/index.json"),
            "--index",
            &exchange(),
            "index",
            "health",
            "--json",
        ]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(t.elapsed() < std::time::Duration::from_secs(15));
    let h: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(h["indexes"][0]["status"], "unresponsive");
    assert_eq!(h["indexes"][1]["status"], "ok");
    assert_eq!(h["indexes"][1]["packs"], 169);
}

#[test]
fn search_ranking_on_the_real_exchange_index() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let search = |q: &str| -> Vec<String> {
        let r = run(stackpack(&root).args(["--index", &exchange(), "search", q, "--json"]));
        assert_eq!(r.code, 0, "{}", r.stderr);
        let v: Value = serde_json::from_str(&r.stdout).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|e| e["key"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(search("slack")[0], "slack");
    let aws = search("AWS");
    assert_eq!(aws[0], "aws");
    assert!(aws.len() < 20, "{aws:?}");
    assert!(
        search("actions").len() < 20,
        "content listings must not match"
    );
    let r = run(stackpack(&root).args(["--index", &exchange(), "search", "monitoring"]));
    assert!(
        r.stdout.lines().next().unwrap().contains("NAME"),
        "{}",
        r.stdout
    );
    let r = run(stackpack(&root).args(["--index", &exchange(), "show", "acos"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let versions = r
        .stdout
        .lines()
        .find(|l| l.starts_with("versions"))
        .unwrap()
        .to_string();
    assert!(
        versions.find("1.10.0").unwrap() < versions.find("1.2.0").unwrap(),
        "{versions}"
    );
}
