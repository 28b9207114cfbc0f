//! Hostile input: credentials that must never show (in any output or any file under the
//! root), indexes that are huge, malformed or lying, and YAML or input files built to
//! exhaust memory or time. Each test states the safe outcome it checks.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use stackpack_testkit::st2::down_url;

use crate::common::{
    Reply, Run, Server, file_url, git, pack_repo, run, shared_cache, stackpack, write,
};

/// The longest any single hostile case may take (debug build, a busy machine).
const BOUND: Duration = Duration::from_secs(20);

fn timed(cmd: &mut Command) -> (Run, Duration) {
    let started = Instant::now();
    let r = run(cmd);
    (r, started.elapsed())
}

/// Every file under `dir` that holds `secret` (compiled plugin code is skipped: it is
/// the same for every test and holds no input).
fn files_holding(dir: &Path, secret: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            found.extend(files_holding(&path, secret));
        } else if kind.is_file()
            && path.extension().is_none_or(|e| e != "cwasm")
            && std::fs::read(&path)
                .is_ok_and(|b| b.windows(secret.len()).any(|w| w == secret.as_bytes()))
        {
            found.push(path);
        }
    }
    found
}

/// The secret is in no output of the runs and in no file under the root or the cache.
fn assert_secret_nowhere(secret: &str, runs: &[&Run], dirs: &[&Path]) {
    for r in runs {
        assert!(!r.stdout.contains(secret), "stdout shows it:\n{}", r.stdout);
        assert!(!r.stderr.contains(secret), "stderr shows it:\n{}", r.stderr);
    }
    for dir in dirs {
        let found = files_holding(dir, secret);
        assert!(found.is_empty(), "files hold the secret: {found:?}");
    }
}

fn index_body(packs: Value) -> String {
    json!({"metadata": {}, "packs": packs}).to_string()
}

fn entry(name: &str, repo_url: &str) -> Value {
    json!({"name": name, "ref": name, "version": "1.0.0", "repo_url": repo_url,
           "description": format!("the {name} pack"), "author": "Tester"})
}

/// A pack directory with `pack.yaml` holding `pack_yaml` (raw bytes).
fn pack_dir(dir: &Path, name: &str, pack_yaml: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::create_dir_all(&p).unwrap();
    std::fs::write(p.join("pack.yaml"), pack_yaml).unwrap();
    p
}

fn good_pack_yaml(name: &str) -> String {
    format!("name: {name}\nref: {name}\nversion: 1.0.0\ndescription: d\nauthor: a\n")
}

// ---------------------------------------------------------------- credentials

#[test]
fn credentials_go_to_their_own_port_and_path_only() {
    // Safe outcome: a credential for http://127.0.0.1:<port prefix> or for a path is sent
    // to that origin and under that path (whole segments) only.
    let server = Server::start(|_| Reply::ok(index_body(json!({"a": entry("a", "file:///x")}))));
    let port = server.base.rsplit(':').next().unwrap().to_string();
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let config = d.path().join("stackpack.toml");
    // A plain string prefix of the server's origin: another port.
    let short = format!("http://127.0.0.1:{}", &port[..port.len() - 1]);
    write(
        &config,
        &format!(
            "[[credentials]]\nurl = \"{short}\"\ntoken = \"TOKEN-PORT\"\n\
             [[credentials]]\nurl = \"{}/priv\"\ntoken = \"TOKEN-PATH\"\n",
            server.base
        ),
    );
    for path in ["/index.json", "/private/index.json", "/priv/index.json"] {
        let r = run(stackpack(&root).arg("--config").arg(&config).args([
            "--index",
            &server.url(path),
            "search",
            "a",
        ]));
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    }
    let auth: Vec<Option<String>> = server
        .requests()
        .iter()
        .map(|s| s.header("authorization").map(str::to_string))
        .collect();
    assert_eq!(
        auth,
        [None, None, Some("Bearer TOKEN-PATH".to_string())],
        "only /priv/… gets the /priv credential, and no port-prefix credential is sent"
    );
}

#[test]
fn invalid_index_urls_with_userinfo_are_never_echoed() {
    // Safe outcome: exit 2 naming the index URL with everything before its `@` hidden.
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    for url in [
        "https://user:SE/CRET-1@host/x",
        "https://user:SE?CRET-1@host:99999/x",
        "https://user:SECRET-1@[bad/x",
        "ftp://user:SECRET-1@h/x",
        "https:/user:SECRET-1@h/x",
    ] {
        let r = run(stackpack(&root).args(["--index", url, "search", "x"]));
        assert_eq!(r.code, 2, "{url}: {}{}", r.stdout, r.stderr);
        assert!(r.stderr.contains("invalid index URL"), "{}", r.stderr);
        assert_secret_nowhere("CRET-1", &[&r], &[&root]);
    }
}

#[test]
fn a_config_syntax_error_never_echoes_the_line() {
    // Safe outcome: exit 2 naming the file, line and column, without the token.
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    for text in [
        "[[credentials]]\nurl = \"https://h/\"\ntoken = \"SECRET-2\n",
        "[[credentials]]\nurl = \"https://h/\"\ntoken = SECRET-2\n",
        "[st2]\napi_key = \"SECRET-2\" trailing\n",
    ] {
        let config = d.path().join("stackpack.toml");
        write(&config, text);
        let r = run(stackpack(&root).arg("--config").arg(&config).arg("list"));
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(r.stderr.contains("line "), "{}", r.stderr);
        assert_secret_nowhere("SECRET-2", &[&r], &[&root]);
    }
}

#[test]
fn credentials_in_an_index_url_reach_no_output_and_no_file() {
    // Safe outcome: the token in `--index` is used for the request, and is in no output
    // (text or --json), not in the lockfile, the index cache or any file under the root.
    let d = tempfile::tempdir().unwrap();
    let repo = pack_repo(&d.path().join("work/viaidx"), "viaidx", "1.0.0", "", "main");
    git(&repo, &["tag", "v1.0.0"]);
    let body = index_body(json!({"viaidx": entry("viaidx", &file_url(&repo))}));
    let server = Server::start(move |req| match req.header("authorization") {
        Some(_) => Reply::ok(&body),
        None => Reply::status(401, "who are you"),
    });
    let url = server
        .url("/index.json")
        .replace("http://", "http://svc:SECRET-3@");
    let root = d.path().join("root");
    let cache = d.path().join("cache");
    let cmd = |args: &[&str]| {
        let mut c = stackpack(&root);
        c.env("STACKPACK_CACHE_DIR", &cache)
            .args(["--index", &url])
            .args(args);
        c
    };
    let r1 = run(&mut cmd(&["-vv", "search", "viaidx", "--json"]));
    assert_eq!(r1.code, 0, "{}{}", r1.stdout, r1.stderr);
    let r2 = run(&mut cmd(&["show", "viaidx", "--json"]));
    assert_eq!(r2.code, 0, "{}", r2.stderr);
    let r3 = run(&mut cmd(&[
        "-vv",
        "install",
        "viaidx",
        "--no-venv",
        "--json",
    ]));
    assert_eq!(r3.code, 0, "{}{}", r3.stdout, r3.stderr);
    let r4 = run(&mut cmd(&["index", "health", "--json"]));
    assert!(root.join("stackpack.lock").is_file());
    assert!(cache.join("index").is_dir(), "the index was cached");
    assert_secret_nowhere("SECRET-3", &[&r1, &r2, &r3, &r4], &[&root, &cache]);
}

#[test]
fn userinfo_in_an_index_repo_url_is_never_printed_or_stored() {
    // Safe outcome: the clone fails, the error shows the URL without its password, and
    // nothing under the root or the cache holds it.
    let d = tempfile::tempdir().unwrap();
    let git_server = Server::start(|_| Reply::status(404, "no such repo"));
    let repo_url = git_server
        .url("/team/pack.git")
        .replace("http://", "http://oauth2:SECRET-4@");
    let index = d.path().join("index.json");
    write(
        &index,
        &index_body(json!({"leaky": entry("leaky", &repo_url)})),
    );
    let root = d.path().join("root");
    let cache = d.path().join("cache");
    let r = run(stackpack(&root).env("STACKPACK_CACHE_DIR", &cache).args([
        "--index",
        &file_url(&index),
        "install",
        "leaky",
        "--no-venv",
    ]));
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(r.stdout.contains("leaky") || r.stderr.contains("leaky"));
    let r2 = run(stackpack(&root).env("STACKPACK_CACHE_DIR", &cache).args([
        "--index",
        &file_url(&index),
        "show",
        "leaky",
        "--json",
    ]));
    assert_secret_nowhere("SECRET-4", &[&r, &r2], &[&root, &cache]);
}

#[test]
fn a_git_url_with_a_token_that_fails_to_clone_is_redacted() {
    // Safe outcome: exit 1, the error names the URL with `***` for the token.
    let d = tempfile::tempdir().unwrap();
    let server = Server::start(|_| Reply::status(403, "forbidden"));
    let url = server
        .url("/org/pack.git")
        .replace("http://", "http://x-token:SECRET-5@");
    let root = d.path().join("root");
    let cache = d.path().join("cache");
    let r = run(stackpack(&root).env("STACKPACK_CACHE_DIR", &cache).args([
        "install",
        &url,
        "--no-venv",
        "--json",
    ]));
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("***") || r.stderr.contains("***"),
        "{}{}",
        r.stdout,
        r.stderr
    );
    assert_secret_nowhere("SECRET-5", &[&r], &[&root, &cache]);
}

#[test]
fn an_st2_api_key_from_the_environment_never_shows() {
    // Safe outcome: the handoff fails (exit 6), the pending file names the pack, and the
    // key is in no output and no file.
    let d = tempfile::tempdir().unwrap();
    let pack = pack_dir(d.path(), "handed", good_pack_yaml("handed").as_bytes());
    let root = d.path().join("root");
    let r = run(stackpack(&root)
        .env("ST2_API_URL", down_url())
        .env("ST2_API_KEY", "SECRET-6")
        .args(["install", &file_url(&pack), "--no-venv"]));
    assert_eq!(r.code, 6, "{}{}", r.stdout, r.stderr);
    assert!(root.join(".stackpack-st2-pending.json").is_file());
    let r2 = run(stackpack(&root)
        .env("ST2_API_URL", down_url())
        .env("ST2_API_KEY", "SECRET-6")
        .args(["-vv", "register", "--json"]));
    assert_secret_nowhere("SECRET-6", &[&r, &r2], &[&root]);
}

#[test]
fn a_proxy_password_is_never_printed_on_proxy_errors() {
    // Safe outcome: the proxy error (bad proxy URL, or a proxy that is down) shows the
    // proxy without its password.
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let down = down_url().replace("http://", "http://user:SECRET-7@");
    for proxy in ["http://user:SE/CRET-7@:bad", down.as_str()] {
        let r = run(stackpack(&root).env("http_proxy", proxy).args([
            "--index",
            "http://index.invalid/index.json",
            "search",
            "x",
        ]));
        assert_ne!(r.code, 0, "{}", r.stdout);
        assert_secret_nowhere("CRET-7", &[&r], &[&root]);
    }
}

// ---------------------------------------------------------------- indexes

/// An index of `n` small entries `p0…`, written with a loop.
fn big_index(path: &Path, n: usize) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    f.write_all(b"{\"packs\": {").unwrap();
    for i in 0..n {
        if i > 0 {
            f.write_all(b",").unwrap();
        }
        write!(f, "\"p{i}\":{{\"version\":\"1.0.0\"}}").unwrap();
    }
    f.write_all(b"}}").unwrap();
}

#[test]
fn a_huge_index_listed_first_does_not_break_installs_by_name() {
    // Safe outcome: an install by name from the next index works (the big one is
    // skipped with a warning naming it and the cap), and a name only the big index has
    // fails naming the index and the cap; no plugin memory-limit failure.
    let d = tempfile::tempdir().unwrap();
    let big = d.path().join("big.json");
    big_index(&big, 400_000); // ~11 MB, over the 8 MiB a plugin may receive
    let repo = pack_repo(
        &d.path().join("work/smallpk"),
        "smallpk",
        "1.0.0",
        "",
        "main",
    );
    git(&repo, &["tag", "v1.0.0"]);
    let small = d.path().join("small.json");
    write(
        &small,
        &index_body(json!({"smallpk": entry("smallpk", &file_url(&repo))})),
    );
    let root = d.path().join("root");
    let idx = |c: &mut Command| {
        c.args(["--index", &file_url(&big), "--index", &file_url(&small)]);
    };
    let mut cmd = stackpack(&root);
    idx(&mut cmd);
    let (r, took) = timed(cmd.args(["install", "smallpk", "--no-venv", "--no-register"]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(took < BOUND, "{took:?}");
    let mut cmd = stackpack(&root);
    idx(&mut cmd);
    let (r, took) = timed(cmd.args(["install", "p7", "--no-venv", "--no-register"]));
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let out = format!("{}{}", r.stdout, r.stderr);
    assert!(
        out.contains(&file_url(&big)) && out.contains("8 MiB"),
        "{out}"
    );
    assert!(!out.contains("memory limit"), "{out}");
    assert!(out.contains("max_body_mib"), "{out}");
    assert!(took < BOUND, "{took:?}");
    // Raising the cap lets the index plugin read the whole index within its default
    // memory: the entry is found (and refused for having no source).
    let config = d.path().join("stackpack.toml");
    write(&config, "[plugins.index]\nmax_body_mib = 32\n");
    let mut cmd = stackpack(&root);
    idx(&mut cmd);
    let (r, took) = timed(cmd.arg("--config").arg(&config).args([
        "install",
        "p7",
        "--no-venv",
        "--no-register",
    ]));
    let out = format!("{}{}", r.stdout, r.stderr);
    assert_eq!(r.code, 1, "{out}");
    assert!(out.contains("neither repo_url nor archive_url"), "{out}");
    assert!(took < BOUND, "{took:?}");
}

/// The peak RSS of `cmd` in KiB, through GNU time; None when it is not installed.
fn peak_rss_kib(cmd: &Command) -> Option<(Run, u64)> {
    if !Path::new("/usr/bin/time").exists() {
        return None;
    }
    let mut timed = Command::new("/usr/bin/time");
    timed
        .arg("-f")
        .arg("PEAK_RSS_KIB=%M")
        .arg(cmd.get_program());
    timed.args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => timed.env(k, v),
            None => timed.env_remove(k),
        };
    }
    let r = run(&mut timed);
    let kib = r
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("PEAK_RSS_KIB="))
        .and_then(|v| v.trim().parse().ok())?;
    Some((r, kib))
}

#[test]
fn search_and_show_over_a_big_index_stay_small() {
    // Safe outcome: search and show over 300,000 entries (~9 MB) answer, with a peak
    // RSS under 400 MiB (copying every entry took over 1 GiB).
    let d = tempfile::tempdir().unwrap();
    let big = d.path().join("big.json");
    big_index(&big, 300_000);
    let root = d.path().join("root");
    for args in [["search", "p123456"], ["show", "p123456"]] {
        let mut cmd = stackpack(&root);
        cmd.args(["--index", &file_url(&big)]).args(args);
        let Some((r, kib)) = peak_rss_kib(&cmd) else {
            crate::common::cannot_run(
                "search_and_show_over_a_big_index_stay_small",
                "/usr/bin/time (GNU time) is not installed (apt-get install time)",
            );
            return;
        };
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
        assert!(r.stdout.contains("p123456"), "{}", r.stdout);
        eprintln!("{args:?}: peak RSS {kib} KiB");
        assert!(kib < 400 * 1024, "{args:?}: peak RSS {kib} KiB");
    }
}

fn search_with(index_text: &[u8], args: &[&str]) -> (Run, Duration, tempfile::TempDir) {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("index.json");
    std::fs::write(&path, index_text).unwrap();
    let root = d.path().join("root");
    let mut cmd = stackpack(&root);
    cmd.args(["--index", &file_url(&path)]).args(args);
    let (r, took) = timed(&mut cmd);
    (r, took, d)
}

#[test]
fn an_index_that_is_json_but_not_an_object_is_malformed() {
    // Safe outcome: exit 1, the index is named and said to be a list, not an index.
    for (text, kind) in [("[1, 2, 3]", "a list"), ("\"packs\"", "a string")] {
        let (r, _, _d) = search_with(text.as_bytes(), &["search", "x"]);
        assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
        assert!(r.stderr.contains(kind), "{}", r.stderr);
    }
    let (r, _, _d) = search_with(br#"{"packs": [1]}"#, &["index", "health"]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("malformed"), "{}", r.stdout);
}

#[test]
fn a_deeply_nested_index_is_refused_without_a_crash() {
    // Safe outcome: exit 1 with "not JSON" (serde's recursion limit), in bounded time.
    let text = format!("{{\"packs\": {{\"a\": {}", "[".repeat(200_000));
    let (r, took, _d) = search_with(text.as_bytes(), &["search", "a"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("not JSON"), "{}", r.stderr);
    assert!(took < BOUND);
}

#[test]
fn an_entry_with_a_huge_description_is_searched_in_bounded_time() {
    // Safe outcome: search answers (the entry matches on its name) within the bound.
    let text = index_body(json!({"huge": {"name": "huge", "version": "1.0.0",
        "description": "lorem ".repeat(1_000_000)}}));
    let (r, took, _d) = search_with(text.as_bytes(), &["search", "huge"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("huge"));
    assert!(took < BOUND, "{took:?}");
}

#[test]
fn a_hundred_thousand_entries_under_one_name_make_one_entry() {
    // Safe outcome: JSON's last duplicate key wins, show answers with one entry, fast.
    let mut text = String::from("{\"packs\": {");
    for i in 0..100_000 {
        if i > 0 {
            text.push(',');
        }
        text.push_str(&format!("\"dup\": {{\"version\": \"1.0.{i}\"}}"));
    }
    text.push_str("}}");
    let (r, took, _d) = search_with(text.as_bytes(), &["show", "dup", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let shown: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(shown["version"], "1.0.99999", "{shown}");
    assert!(took < BOUND);
}

#[test]
fn device_and_fifo_index_files_are_refused_at_once() {
    // Safe outcome: /dev/zero and a FIFO as file:// indexes are refused by what they
    // are, with no read of an endless stream and no wait for a writer.
    let d = tempfile::tempdir().unwrap();
    let fifo = d.path().join("index.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo");
    let root = d.path().join("root");
    for (url, what) in [
        ("file:///dev/zero".to_string(), "a device"),
        (file_url(&fifo), "a fifo"),
    ] {
        let (r, took) = timed(stackpack(&root).args(["--index", &url, "search", "x"]));
        assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
        assert!(r.stderr.contains(what), "{}", r.stderr);
        assert!(took < BOUND, "{took:?}");
    }
}

#[test]
fn an_index_served_with_a_wrong_content_length_fails_cleanly() {
    // Safe outcome: the short body is an error naming the index (exit 1), no hang, and
    // nothing is cached from it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let mut buf = [0u8; 4096];
            let _ = std::io::Read::read(&mut stream, &mut buf);
            let body = b"{\"packs\": {\"a\": {}}}";
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\nConnection: close\r\n\r\n"
            );
            let _ = stream.write_all(body);
        }
    });
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let cache = d.path().join("cache");
    let url = format!("http://{addr}/index.json");
    let (r, took) = timed(
        stackpack(&root)
            .env("STACKPACK_CACHE_DIR", &cache)
            .args(["--index", &url, "search", "a"]),
    );
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains(&url), "{}", r.stderr);
    assert!(took < BOUND, "{took:?}");
    let cached = std::fs::read_dir(cache.join("index"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(cached, 0, "a truncated index was cached");
}

// ---------------------------------------------------------------- YAML and input files

fn install_dir(pack: &Path, root: &Path, extra: &[&str]) -> (Run, Duration) {
    timed(
        stackpack(root)
            .args(["install", &file_url(pack), "--no-venv"])
            .args(extra),
    )
}

#[test]
fn a_pack_yaml_of_nested_brackets_fails_fast() {
    // Safe outcome: 400 KB of `[` is refused as invalid YAML in well under the bound.
    let d = tempfile::tempdir().unwrap();
    let pack = pack_dir(d.path(), "deep", "[".repeat(400_000).as_bytes());
    let (r, took) = install_dir(&pack, &d.path().join("root"), &["--no-register"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("not valid YAML") || r.stderr.contains("not valid YAML"));
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert!(!d.path().join("root/packs/deep").exists());
}

#[test]
fn a_billion_laughs_pack_yaml_is_refused() {
    // Safe outcome: the alias expansion hits the node budget; nothing is installed.
    let mut text = good_pack_yaml("lol");
    text.push_str(
        "x0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 9].join(",");
        text.push_str(&format!("x{i}: &a{i} [{refs}]\n"));
    }
    let d = tempfile::tempdir().unwrap();
    let pack = pack_dir(d.path(), "lol", text.as_bytes());
    let (r, took) = install_dir(&pack, &d.path().join("root"), &["--no-register"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("budget") || r.stderr.contains("budget"));
    assert!(took < BOUND);
    assert!(!d.path().join("root/packs/lol").exists());
}

#[test]
fn duplicate_keys_non_utf8_and_a_bom_in_pack_yaml() {
    // Safe outcomes: a duplicate key and non-UTF-8 bytes are refused, naming the
    // problem; a UTF-8 byte order mark is YAML and installs.
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let dup = pack_dir(
        d.path(),
        "dup",
        format!("{}version: 2.0.0\n", good_pack_yaml("dup")).as_bytes(),
    );
    let (r, _) = install_dir(&dup, &root, &["--no-register"]);
    assert_eq!(r.code, 1);
    assert!(format!("{}{}", r.stdout, r.stderr).contains("duplicate"));
    let bad = pack_dir(
        d.path(),
        "nonutf",
        b"name: nonutf\nversion: 1.0.0\ndescription: \xff\xfe\nauthor: a\n",
    );
    let (r, _) = install_dir(&bad, &root, &["--no-register"]);
    assert_eq!(r.code, 1);
    assert!(format!("{}{}", r.stdout, r.stderr).contains("UTF-8"));
    let mut bom = b"\xef\xbb\xbf".to_vec();
    bom.extend_from_slice(good_pack_yaml("bom").as_bytes());
    let bom = pack_dir(d.path(), "bom", &bom);
    let (r, _) = install_dir(&bom, &root, &["--no-register"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
}

#[test]
fn hostile_action_files_are_skipped_and_the_rest_registers() {
    // Safe outcome: a deeply nested action and a 50 MB action are each reported and
    // skipped (the big one unread, over the 4 MiB metadata cap); the good action
    // registers; all within the bound.
    let d = tempfile::tempdir().unwrap();
    let pack = pack_dir(d.path(), "acts", good_pack_yaml("acts").as_bytes());
    write(
        &pack.join("actions/good.yaml"),
        "name: good\nrunner_type: local-shell-cmd\n",
    );
    write(&pack.join("actions/deep.yaml"), &"[".repeat(400_000));
    let mut big = std::fs::File::create(pack.join("actions/big.yaml")).unwrap();
    big.write_all(b"name: big\nrunner_type: local-shell-cmd\ndescription: \"")
        .unwrap();
    let chunk = vec![b'x'; 1 << 20];
    for _ in 0..50 {
        big.write_all(&chunk).unwrap();
    }
    big.write_all(b"\"\n").unwrap();
    drop(big);
    let (r, took) = install_dir(&pack, &d.path().join("root"), &[]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let out = format!("{}{}", r.stdout, r.stderr);
    assert!(
        out.contains("deep.yaml") && out.contains("big.yaml"),
        "{out}"
    );
    assert!(out.contains("4 MiB"), "{out}");
    assert!(took < BOUND, "{took:?}");
}

#[test]
fn endless_files_where_a_file_is_expected_are_refused() {
    // Safe outcome: `--config /dev/zero`, `config --from-file /dev/zero` and
    // `plugin add /dev/zero` stop at once with exit 2 saying it is a device.
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let pack = pack_dir(d.path(), "cfg", good_pack_yaml("cfg").as_bytes());
    write(
        &pack.join("config.schema.yaml"),
        "region:\n  type: string\n  required: true\n",
    );
    let (r, _) = install_dir(&pack, &root, &["--no-register"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let fifo = d.path().join("values.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo");
    let zeros = "0".repeat(64);
    let cases: Vec<Vec<String>> = vec![
        vec!["--config".into(), "/dev/zero".into(), "list".into()],
        vec![
            "config".into(),
            "cfg".into(),
            "--from-file".into(),
            "/dev/zero".into(),
            "--yes".into(),
        ],
        vec![
            "config".into(),
            "cfg".into(),
            "--from-file".into(),
            fifo.display().to_string(),
            "--yes".into(),
        ],
        vec![
            "plugin".into(),
            "add".into(),
            "/dev/zero".into(),
            "--sha256".into(),
            zeros,
        ],
    ];
    for args in cases {
        let (r, took) = timed(stackpack(&root).args(&args));
        assert_ne!(r.code, 0, "{args:?}: {}", r.stdout);
        assert!(
            r.stderr.contains("a device") || r.stderr.contains("a fifo"),
            "{args:?}: {}",
            r.stderr
        );
        assert!(took < BOUND, "{args:?}: {took:?}");
    }
}

#[test]
fn an_oversized_override_file_is_refused_naming_it() {
    // Safe outcome: register fails naming overrides/_global.yaml and the cap; the
    // previous registration is kept (the pack stays registered from install).
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let pack = pack_dir(d.path(), "ov", good_pack_yaml("ov").as_bytes());
    write(
        &pack.join("actions/a.yaml"),
        "name: a\nrunner_type: local-shell-cmd\n",
    );
    let (r, _) = install_dir(&pack, &root, &[]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let global = root.join("overrides/_global.yaml");
    std::fs::create_dir_all(global.parent().unwrap()).unwrap();
    let mut f = std::fs::File::create(&global).unwrap();
    f.write_all(b"# ").unwrap();
    f.write_all(&vec![b'x'; 5 << 20]).unwrap();
    drop(f);
    let (r, took) = timed(stackpack(&root).args(["register", "ov"]));
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(
        r.stderr.contains("_global.yaml") && r.stderr.contains("4 MiB"),
        "{}",
        r.stderr
    );
    assert!(took < BOUND);
}

#[test]
fn the_shared_cache_never_holds_a_test_secret() {
    // Safe outcome: after the credential cases above ran (in any order, possibly in
    // parallel), the shared cache holds none of their secrets. Each case also checks
    // its own cache; this catches a write to the shared one.
    for secret in ["SECRET-3", "SECRET-4", "SECRET-5", "SECRET-6", "CRET-7"] {
        let found = files_holding(&shared_cache(), secret);
        assert!(found.is_empty(), "{secret}: {found:?}");
    }
}
