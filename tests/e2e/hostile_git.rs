//! Hostile git remotes and networks, through the real binary: every remote shape (no
//! HEAD, detached HEAD, empty, only tags, only branches, dumb HTTP, 20,000 refs, odd ref
//! names), ref injection, redirects, submodules, `.git` entries, LFS pointers, huge
//! blobs, broken and stalling git servers, trickling index, archive and plugin servers,
//! and a force-moved tag. Each test states the safe outcome it checks: a correct
//! install or a clear error naming the thing, never a crash (a signal exit), the
//! previous state intact, and a bounded time.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::common::{
    Reply, Seen, Server, bare_clone, commit_version, git, git_http_backend, git_http_server,
    git_with_input, installed_version, pack_repo, run, stackpack, write,
};
use stackpack_testkit::http::trickle_server;

/// A run that ended by itself: an exit code, not a signal (a crash has no code).
fn no_crash(r: &crate::common::Run) {
    assert!(
        r.code >= 0,
        "stackpack died of a signal (a crash): {}{}",
        r.stdout,
        r.stderr
    );
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(!all.contains("panicked"), "a panic: {all}");
}

/// A config file setting `http_timeout` (seconds).
fn timeout_config(dir: &Path, secs: u64) -> PathBuf {
    let config = dir.join("stackpack.toml");
    write(&config, &format!("http_timeout = {secs}\n"));
    config
}

/// A work repo of pack `name` at 1.0.0 (tagged v1.0.0) on `main`, and its bare clone
/// `<d>/srv/<name>.git`.
fn served_pack(d: &Path, name: &str) -> (PathBuf, PathBuf) {
    let work = pack_repo(&d.join("work").join(name), name, "1.0.0", "", "main");
    git(&work, &["tag", "v1.0.0"]);
    let bare = bare_clone(&work, &d.join("srv"), &format!("{name}.git"));
    (work, bare)
}

fn file_url(p: &Path) -> String {
    format!("file://{}", p.display())
}

// ---------------------------------------------------------------------------------
// Remote shapes.

/// A bare repository with a detached HEAD (no HEAD symref) crashed libgit2's default
/// branch guess. Safe outcome: installed, exit 0, no signal.
#[test]
fn detached_head_over_file_url_installs() {
    let d = tempfile::tempdir().unwrap();
    let (_, bare) = served_pack(d.path(), "detached");
    let head = git(&bare, &["rev-parse", "HEAD"]);
    git(&bare, &["update-ref", "--no-deref", "HEAD", &head]);
    let root = d.path().join("root");
    let r = run(stackpack(&root).args(["install", &format!("{}=main", file_url(&bare))]));
    no_crash(&r);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        installed_version(&root, "detached").as_deref(),
        Some("1.0.0")
    );
}

/// The same remote as an index `repo_url`. Safe outcome: installed by name, no crash.
#[test]
fn detached_head_through_an_index_repo_url_installs() {
    let d = tempfile::tempdir().unwrap();
    let (_, bare) = served_pack(d.path(), "idxdetached");
    let head = git(&bare, &["rev-parse", "HEAD"]);
    git(&bare, &["update-ref", "--no-deref", "HEAD", &head]);
    let index = d.path().join("index.json");
    write(
        &index,
        &serde_json::json!({"metadata": {}, "packs": {"idxdetached": {
            "name": "idxdetached", "version": "1.0.0", "author": "t", "description": "d",
            "repo_url": file_url(&bare)}}})
        .to_string(),
    );
    let root = d.path().join("root");
    let r =
        run(stackpack(&root).args(["--index", index.to_str().unwrap(), "install", "idxdetached"]));
    no_crash(&r);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        installed_version(&root, "idxdetached").as_deref(),
        Some("1.0.0")
    );
}

/// A detached HEAD on a commit no branch holds, asked for the default branch (over
/// smart HTTP, where no ref is needed). Safe outcome: the advertised HEAD's commit is
/// installed, as git clone would check it out.
#[test]
fn detached_head_default_branch_is_the_advertised_head() {
    let d = tempfile::tempdir().unwrap();
    let (work, _) = served_pack(d.path(), "headpick");
    commit_version(&work, "headpick", "2.0.0", "");
    let detached = git(&work, &["rev-parse", "HEAD"]);
    git(&work, &["reset", "-q", "--hard", "v1.0.0"]);
    let served = d.path().join("srv2");
    let bare = bare_clone(&work, &served, "headpick.git");
    git(&bare, &["fetch", "-q", work.to_str().unwrap(), &detached]);
    git(&bare, &["update-ref", "--no-deref", "HEAD", &detached]);
    let base = git_http_server(&served);
    let root = d.path().join("root");
    let r = run(stackpack(&root).args(["install", &format!("{base}/headpick.git")]));
    no_crash(&r);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        installed_version(&root, "headpick").as_deref(),
        Some("2.0.0")
    );
}

/// HEAD names a branch that does not exist (so no HEAD is advertised) and `main`
/// exists. Safe outcome: `main` is installed.
#[test]
fn head_at_a_missing_branch_falls_back_to_main() {
    let d = tempfile::tempdir().unwrap();
    let (_, bare) = served_pack(d.path(), "nohead");
    git(&bare, &["symbolic-ref", "HEAD", "refs/heads/gone"]);
    let base = git_http_server(&d.path().join("srv"));
    let root = d.path().join("root");
    let r = run(stackpack(&root).args(["install", &format!("{base}/nohead.git")]));
    no_crash(&r);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("main"), "{}", r.stdout);
    assert_eq!(installed_version(&root, "nohead").as_deref(), Some("1.0.0"));
}

/// No HEAD, no `main` or `master`, only a tag and a branch `dev`. Safe outcome: a clear
/// error saying there is no default branch, telling to name a ref with `=<ref>` and
/// listing what exists; nothing installed. Then naming the tag installs.
#[test]
fn only_tags_and_an_odd_branch_ask_for_a_ref() {
    let d = tempfile::tempdir().unwrap();
    let (_, bare) = served_pack(d.path(), "tagsonly");
    git(&bare, &["branch", "-m", "main", "dev"]);
    git(&bare, &["symbolic-ref", "HEAD", "refs/heads/gone"]);
    let base = git_http_server(&d.path().join("srv"));
    let root = d.path().join("root");
    let r = run(stackpack(&root).args(["install", &format!("{base}/tagsonly.git")]));
    no_crash(&r);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("no default branch"), "{}", r.stdout);
    assert!(r.stdout.contains("=<ref>"), "{}", r.stdout);
    assert!(
        r.stdout.contains("1.0.0") && r.stdout.contains("dev"),
        "{}",
        r.stdout
    );
    assert!(!root.join("packs/tagsonly").exists());

    let r = run(stackpack(&root).args(["install", &format!("{base}/tagsonly.git=1.0.0")]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        installed_version(&root, "tagsonly").as_deref(),
        Some("1.0.0")
    );
}

/// A repository with no refs at all. Safe outcome: a clear error (no default branch,
/// no versions, no branches), exit 1, nothing installed.
#[test]
fn empty_repository_is_a_clear_error() {
    let d = tempfile::tempdir().unwrap();
    let served = d.path().join("srv");
    std::fs::create_dir_all(&served).unwrap();
    git(&served, &["init", "-q", "--bare", "empty.git"]);
    let base = git_http_server(&served);
    let root = d.path().join("root");
    let r = run(stackpack(&root).args(["install", &format!("{base}/empty.git")]));
    no_crash(&r);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("no default branch") && r.stdout.contains("no branches"),
        "{}",
        r.stdout
    );
    let r = run(stackpack(&root).args([
        "install",
        &format!("{}=1.0.0", file_url(&served.join("empty.git"))),
    ]));
    no_crash(&r);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("was not found"), "{}", r.stdout);
    assert!(!root.join("packs").join("empty").exists());
}

/// Only branches, no tags, and a version asked for. Safe outcome: a clear error
/// listing the branches and saying there are no version tags.
#[test]
fn only_branches_and_a_version_asked_lists_the_branches() {
    let d = tempfile::tempdir().unwrap();
    let (_, bare) = served_pack(d.path(), "branchesonly");
    git(&bare, &["tag", "-d", "v1.0.0"]);
    git(&bare, &["branch", "feature", "main"]);
    let root = d.path().join("root");
    let r = run(stackpack(&root).args(["install", &format!("{}=2.0.0", file_url(&bare))]));
    no_crash(&r);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("no version tags") && r.stdout.contains("feature, main"),
        "{}",
        r.stdout
    );
}

/// A plain static file server over a bare repository (git's dumb HTTP protocol, which
/// libgit2 does not speak). Safe outcome: a clear error naming the URL, exit 1,
/// bounded time, no crash.
#[test]
fn dumb_http_remote_is_a_clear_error() {
    let d = tempfile::tempdir().unwrap();
    let (_, bare) = served_pack(d.path(), "dumb");
    git(&bare, &["update-server-info"]);
    let served = d.path().join("srv");
    let server = Server::start(move |req: &Seen| {
        let path = req.path.split('?').next().unwrap_or("/");
        let file = served.join(path.trim_start_matches('/'));
        match std::fs::read(&file) {
            Ok(body) if file.starts_with(&served) => Reply::ok(body),
            _ => Reply::status(404, "not found"),
        }
    });
    let root = d.path().join("root");
    let config = timeout_config(d.path(), 5);
    let t = Instant::now();
    let r = run(stackpack(&root)
        .arg("--config")
        .arg(&config)
        .args(["install", &format!("{}/dumb.git=1.0.0", server.base)]));
    no_crash(&r);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains(&server.base), "{}", r.stdout);
    assert!(
        t.elapsed() < Duration::from_secs(30),
        "took {:?}",
        t.elapsed()
    );
    assert!(!root.join("packs/dumb").exists());
}

/// 20,000 tags, all versions. Safe outcome: an install by version completes in bounded
/// time, and an unknown version's error lists a bounded number of versions.
#[test]
fn twenty_thousand_tags_stay_bounded() {
    let d = tempfile::tempdir().unwrap();
    let (_, bare) = served_pack(d.path(), "manytags");
    let head = git(&bare, &["rev-parse", "HEAD"]);
    let mut stdin = String::new();
    for i in 0..20_000 {
        stdin.push_str(&format!(
            "create refs/tags/0.{}.{} {head}\n",
            i / 100,
            i % 100
        ));
    }
    git_with_input(&bare, &["update-ref", "--stdin"], &stdin);
    git(&bare, &["pack-refs", "--all"]);
    let base = git_http_server(&d.path().join("srv"));
    let root = d.path().join("root");
    let t = Instant::now();
    let r = run(stackpack(&root).args(["install", &format!("{base}/manytags.git=0.150.50")]));
    let took = t.elapsed();
    no_crash(&r);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(took < Duration::from_secs(60), "took {took:?}");
    eprintln!("install among 20,000 tags over smart HTTP took {took:?}");
    let r = run(stackpack(&root).args(["install", &format!("{base}/manytags.git=9.9.9")]));
    no_crash(&r);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("0.199.99"), "{}", r.stdout);
    assert!(
        r.stdout.len() < 4096,
        "the error lists every tag ({} bytes)",
        r.stdout.len()
    );
}

/// A tag whose name holds shell metacharacters. Safe outcome: it is installed by that
/// name and nothing runs it (no file made by the command in it).
#[test]
fn a_ref_name_with_shell_characters_is_only_a_name() {
    let d = tempfile::tempdir().unwrap();
    let (_, bare) = served_pack(d.path(), "oddref");
    // Run from `d`, where the command in the name would make `pwned`.
    let marker = d.path().join("pwned");
    let tag = "x$(touch${IFS}pwned)`touch${IFS}pwned`;|&<>'\"";
    git(&bare, &["tag", tag, "main"]);
    let root = d.path().join("root");
    let r = run(stackpack(&root)
        .current_dir(d.path())
        .args(["install", &format!("{}={tag}", file_url(&bare))]));
    no_crash(&r);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(!marker.exists(), "the ref name was run by a shell");
    assert_eq!(installed_version(&root, "oddref").as_deref(), Some("1.0.0"));
}

/// Refs that try to be options or revision syntax: `--upload-pack=…`, `-x`, `a..b`,
/// `main@{1}`, a control character. Safe outcome: each is refused or not found, with
/// an exit code, no command run, nothing installed.
#[test]
fn ref_injection_is_refused_or_not_found() {
    let d = tempfile::tempdir().unwrap();
    let (_, bare) = served_pack(d.path(), "inject");
    let marker = d.path().join("injected");
    let root = d.path().join("root");
    let base = git_http_server(&d.path().join("srv"));
    for url in [file_url(&bare), format!("{base}/inject.git")] {
        for r#ref in [
            format!("--upload-pack=touch {}", marker.display()),
            "-x".to_string(),
            "main..v1.0.0".to_string(),
            "main@{1}".to_string(),
            "ma\u{1}in".to_string(),
            "HEAD~1".to_string(),
        ] {
            let r = run(stackpack(&root).args(["install", &format!("{url}={ref}")]));
            no_crash(&r);
            assert!(
                r.code == 1 || r.code == 2,
                "{ref:?}: {}{}",
                r.stdout,
                r.stderr
            );
            assert!(!marker.exists(), "{ref:?} ran a command");
            assert!(!root.join("packs/inject").exists(), "{ref:?} installed");
        }
    }
}

// ---------------------------------------------------------------------------------
// Trees.

/// A submodule pointing at file:///etc. Safe outcome: installed with the submodule
/// skipped (a warning), nothing of /etc in the pack.
#[test]
fn a_submodule_at_file_etc_is_skipped() {
    let d = tempfile::tempdir().unwrap();
    let work = pack_repo(&d.path().join("w"), "submod", "1.0.0", "", "main");
    write(
        &work.join(".gitmodules"),
        "[submodule \"etc\"]\n\tpath = etc\n\turl = file:///etc\n",
    );
    let head = git(&work, &["rev-parse", "HEAD"]);
    git(
        &work,
        &[
            "update-index",
            "--add",
            "--cacheinfo",
            &format!("160000,{head},etc"),
        ],
    );
    git(&work, &["add", ".gitmodules"]);
    git(&work, &["commit", "-q", "-m", "submodule"]);
    let root = d.path().join("root");
    let r = run(stackpack(&root).args(["install", &format!("{}=main", file_url(&work))]));
    no_crash(&r);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let pack = root.join("packs/submod");
    assert!(pack.join("pack.yaml").is_file());
    assert!(!pack.join("etc/passwd").exists() && !pack.join("etc").exists());
}

/// A tree that holds a `.git` directory (with a config that would run a command) and a
/// `.GIT` file, made with git's plumbing. Safe outcome: installed without them.
#[test]
fn a_dot_git_entry_in_a_tree_is_never_written() {
    let d = tempfile::tempdir().unwrap();
    let work = pack_repo(&d.path().join("w"), "dotgit", "1.0.0", "", "main");
    let hash = |text: &str| {
        let f = d.path().join("blob");
        write(&f, text);
        git(&work, &["hash-object", "-w", f.to_str().unwrap()])
    };
    let config = hash("[core]\n\tfsmonitor = touch /tmp/stackpack-fsmonitor-pwned\n");
    let sub = mktree(&work, &format!("100644 blob {config}\tconfig\n"));
    let tree = git(&work, &["rev-parse", "HEAD^{tree}"]);
    let listing = git(&work, &["ls-tree", &tree]);
    let mut entries = format!("{listing}\n040000 tree {sub}\t.git\n");
    entries.push_str(&format!("100644 blob {config}\t.GIT\n"));
    let top = mktree(&work, &entries);
    let commit = git(&work, &["commit-tree", &top, "-p", "HEAD", "-m", "dotgit"]);
    git(&work, &["update-ref", "refs/heads/main", &commit]);
    let root = d.path().join("root");
    let r = run(stackpack(&root).args(["install", &format!("{}=main", file_url(&work))]));
    no_crash(&r);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let pack = root.join("packs/dotgit");
    assert!(pack.join("pack.yaml").is_file());
    assert!(!pack.join(".git").exists() && !pack.join(".GIT").exists());
}

fn mktree(repo: &Path, entries: &str) -> String {
    git_with_input(repo, &["mktree"], entries)
}

/// A Git LFS pointer file. Safe outcome: installed as the pointer text (no LFS server
/// contacted, no filter run).
#[test]
fn an_lfs_pointer_is_installed_as_text() {
    let d = tempfile::tempdir().unwrap();
    let work = pack_repo(&d.path().join("w"), "lfs", "1.0.0", "", "main");
    let pointer = "version https://git-lfs.github.com/spec/v1\noid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 12345\n";
    write(&work.join("big.bin"), pointer);
    write(
        &work.join(".gitattributes"),
        "*.bin filter=lfs diff=lfs merge=lfs -text\n",
    );
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "lfs"]);
    let root = d.path().join("root");
    let r = run(stackpack(&root).args(["install", &format!("{}=main", file_url(&work))]));
    no_crash(&r);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        std::fs::read_to_string(root.join("packs/lfs/big.bin")).unwrap(),
        pointer
    );
}

/// One 200 MB blob (zeros, so the repository stays small). Safe outcome: the run ends
/// in bounded time with an exit code (installed, or refused by a size cap).
#[test]
fn a_huge_blob_ends_in_bounded_time() {
    let d = tempfile::tempdir().unwrap();
    let work = pack_repo(&d.path().join("w"), "hugeblob", "1.0.0", "", "main");
    let f = std::fs::File::create(work.join("zeros.bin")).unwrap();
    f.set_len(200 << 20).unwrap();
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "huge"]);
    let root = d.path().join("root");
    let t = Instant::now();
    let r = run(stackpack(&root).args(["install", &format!("{}=main", file_url(&work))]));
    let took = t.elapsed();
    no_crash(&r);
    assert!(r.code == 0 || r.code == 1, "{}{}", r.stdout, r.stderr);
    assert!(took < Duration::from_secs(120), "took {took:?}");
    eprintln!("a 200 MB blob: exit {} in {took:?}", r.code);
}

// ---------------------------------------------------------------------------------
// Broken and hostile git servers.

/// What a [`raw_git_server`] does with one request.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Act {
    /// Answer as `git http-backend` does.
    Serve,
    /// Send the status line and headers of the real answer, half its body, then close.
    CloseMidBody,
    /// Send the real answer's headers, then its body one byte every 200 ms.
    Trickle,
    /// Keep the connection open and never answer.
    Stall,
    /// Answer 200 with the real headers and a body of garbage.
    Garbage,
    /// Answer with this status and an empty body.
    Status(u16),
    /// Redirect to this server's twin path on another host name (`localhost`).
    RedirectToLocalhost,
}

/// A raw HTTP/1.1 server over `git http-backend` on the repositories under `root`; `act`
/// chooses, per request (numbered from 0, with what was seen), how to misbehave.
/// Returns its base URL (`http://127.0.0.1:<port>`) and the requests seen.
fn raw_git_server(
    root: &Path,
    act: impl Fn(usize, &Seen) -> Act + Send + Sync + 'static,
) -> (String, Arc<std::sync::Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let root = root.to_path_buf();
    let act = Arc::new(act);
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let (root, act, count, log) = (root.clone(), act.clone(), count.clone(), log.clone());
            std::thread::spawn(move || {
                let mut reader = BufReader::new(tcp.try_clone().unwrap());
                let mut out = tcp;
                while let Some(req) = read_request(&mut reader) {
                    log.lock().unwrap().push(req.clone());
                    let n = count.fetch_add(1, Ordering::SeqCst);
                    let what = act(n, &req);
                    if what == Act::Stall {
                        std::thread::sleep(Duration::from_secs(3600));
                        return;
                    }
                    let mut reply = match what {
                        Act::Status(s) => Reply::status(s, ""),
                        Act::RedirectToLocalhost => {
                            Reply::redirect(&format!("http://localhost:{port}{}", req.path))
                        }
                        _ => git_http_backend(&root, &req),
                    };
                    if what == Act::Garbage {
                        reply.body = (0..reply.body.len().max(512))
                            .map(|i| (i * 7919 % 251) as u8)
                            .collect();
                    }
                    let mut head = format!(
                        "HTTP/1.1 {} X\r\nContent-Length: {}\r\n",
                        reply.status,
                        reply.body.len()
                    );
                    for (k, v) in &reply.headers {
                        if !k.eq_ignore_ascii_case("content-length") {
                            head.push_str(&format!("{k}: {v}\r\n"));
                        }
                    }
                    head.push_str("\r\n");
                    if out.write_all(head.as_bytes()).is_err() {
                        return;
                    }
                    match what {
                        Act::CloseMidBody => {
                            let _ = out.write_all(&reply.body[..reply.body.len() / 2]);
                            let _ = out.shutdown(std::net::Shutdown::Both);
                            return;
                        }
                        Act::Trickle => {
                            for b in &reply.body {
                                if out.write_all(&[*b]).is_err() {
                                    return;
                                }
                                std::thread::sleep(Duration::from_millis(200));
                            }
                        }
                        _ => {
                            if out.write_all(&reply.body).is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    (format!("http://127.0.0.1:{port}"), seen)
}

/// One HTTP/1.1 request (Content-Length or chunked body), or None at the end.
fn read_request(reader: &mut impl BufRead) -> Option<Seen> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let mut body = Vec::new();
    if let Some(len) = header("content-length") {
        let mut buf = vec![0; len.parse().ok()?];
        reader.read_exact(&mut buf).ok()?;
        body = buf;
    } else if header("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let n = usize::from_str_radix(size.trim(), 16).ok()?;
            let mut chunk = vec![0; n + 2];
            reader.read_exact(&mut chunk).ok()?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    }
    Some(Seen {
        method,
        path,
        headers,
        body,
    })
}

/// Whether a request is libgit2's (not stackpack's own first-contact probe).
fn from_git(req: &Seen) -> bool {
    !req.header("user-agent")
        .unwrap_or("")
        .starts_with("stackpack/")
}

/// A git server that answers the first probe, then stalls on git's own first request.
/// Safe outcome: the install ends within `http_timeout` (2 s) plus a margin with a
/// timeout naming the URL, the deadline and `http_timeout`; nothing installed.
#[test]
fn git_server_stalling_after_the_probe_times_out() {
    let d = tempfile::tempdir().unwrap();
    served_pack(d.path(), "stallls");
    let (base, _) = raw_git_server(&d.path().join("srv"), |_, req| {
        if from_git(req) {
            Act::Stall
        } else {
            Act::Serve
        }
    });
    let config = timeout_config(d.path(), 2);
    let root = d.path().join("root");
    let t = Instant::now();
    let r = run(stackpack(&root)
        .arg("--config")
        .arg(&config)
        .args(["install", &format!("{base}/stallls.git=1.0.0")]));
    let took = t.elapsed();
    eprintln!("git_server_stalling_after_the_probe_times_out: ended in {took:?}");
    no_crash(&r);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(took < Duration::from_secs(2 + 10), "took {took:?}");
    assert!(
        r.stdout.contains("timed out after 2s")
            && r.stdout.contains(&format!("{base}/stallls.git"))
            && r.stdout.contains("http_timeout"),
        "{}",
        r.stdout
    );
    assert!(!root.join("packs/stallls").exists());
}

/// A git server that lists its refs, then stalls on the pack request. Safe outcome:
/// the fetch is abandoned at its deadline (10 × `http_timeout` = 10 s) plus a margin,
/// with a timeout naming the URL and `http_timeout`; the installed version stays.
#[test]
fn git_server_stalling_mid_fetch_times_out_and_keeps_the_installed_pack() {
    let d = tempfile::tempdir().unwrap();
    let (work, _) = served_pack(d.path(), "stallfetch");
    let root = d.path().join("root");
    let first = run(stackpack(&root).args([
        "install",
        &format!("{}=1.0.0", file_url(&d.path().join("srv/stallfetch.git"))),
    ]));
    assert_eq!(first.code, 0, "{}{}", first.stdout, first.stderr);
    commit_version(&work, "stallfetch", "2.0.0", "");
    git(&work, &["tag", "v2.0.0"]);
    git(
        &d.path().join("srv/stallfetch.git"),
        &[
            "fetch",
            "-q",
            work.to_str().unwrap(),
            "+refs/tags/*:refs/tags/*",
        ],
    );
    let (base, _) = raw_git_server(&d.path().join("srv"), |_, req| {
        if req.method == "POST" {
            Act::Stall
        } else {
            Act::Serve
        }
    });
    let config = timeout_config(d.path(), 1);
    let t = Instant::now();
    let r = run(stackpack(&root)
        .arg("--config")
        .arg(&config)
        .args(["install", &format!("{base}/stallfetch.git=2.0.0")]));
    let took = t.elapsed();
    eprintln!(
        "git_server_stalling_mid_fetch_times_out_and_keeps_the_installed_pack: ended in {took:?}"
    );
    no_crash(&r);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(took < Duration::from_secs(10 + 10), "took {took:?}");
    assert!(
        r.stdout.contains("git fetch of")
            && r.stdout.contains("timed out after 10s")
            && r.stdout.contains("http_timeout"),
        "{}",
        r.stdout
    );
    assert_eq!(
        installed_version(&root, "stallfetch").as_deref(),
        Some("1.0.0")
    );
}

/// A git server that sends its pack one byte every 200 ms. Safe outcome: cut at the
/// fetch deadline (10 × 1 s) plus a margin, with a timeout; nothing installed.
#[test]
fn git_server_trickling_its_pack_is_cut_at_the_deadline() {
    let d = tempfile::tempdir().unwrap();
    served_pack(d.path(), "tricklepack");
    let (base, _) = raw_git_server(&d.path().join("srv"), |_, req| {
        if req.method == "POST" {
            Act::Trickle
        } else {
            Act::Serve
        }
    });
    let config = timeout_config(d.path(), 1);
    let root = d.path().join("root");
    let t = Instant::now();
    let r = run(stackpack(&root)
        .arg("--config")
        .arg(&config)
        .args(["install", &format!("{base}/tricklepack.git=1.0.0")]));
    let took = t.elapsed();
    eprintln!("git_server_trickling_its_pack_is_cut_at_the_deadline: ended in {took:?}");
    no_crash(&r);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(took < Duration::from_secs(10 + 10), "took {took:?}");
    assert!(r.stdout.contains("timed out"), "{}", r.stdout);
    assert!(!root.join("packs/tricklepack").exists());
}

/// A git server that closes the connection halfway through the pack. Safe outcome: a
/// clear git error naming the URL, exit 1, bounded time, nothing installed.
#[test]
fn git_server_closing_mid_pack_is_a_clear_error() {
    let d = tempfile::tempdir().unwrap();
    served_pack(d.path(), "midclose");
    let (base, _) = raw_git_server(&d.path().join("srv"), |_, req| {
        if req.method == "POST" {
            Act::CloseMidBody
        } else {
            Act::Serve
        }
    });
    let config = timeout_config(d.path(), 5);
    let root = d.path().join("root");
    let t = Instant::now();
    let r = run(stackpack(&root)
        .arg("--config")
        .arg(&config)
        .args(["install", &format!("{base}/midclose.git=1.0.0")]));
    no_crash(&r);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(&format!("{base}/midclose.git")),
        "{}",
        r.stdout
    );
    assert!(
        t.elapsed() < Duration::from_secs(40),
        "took {:?}",
        t.elapsed()
    );
    assert!(!root.join("packs/midclose").exists());
}

/// A git server that answers the pack request with garbage. Safe outcome: a clear git
/// error naming the URL, exit 1, nothing installed.
#[test]
fn git_server_sending_garbage_pack_data_is_a_clear_error() {
    let d = tempfile::tempdir().unwrap();
    served_pack(d.path(), "garbage");
    let (base, _) = raw_git_server(&d.path().join("srv"), |_, req| {
        if req.method == "POST" {
            Act::Garbage
        } else {
            Act::Serve
        }
    });
    let config = timeout_config(d.path(), 5);
    let root = d.path().join("root");
    let t = Instant::now();
    let r = run(stackpack(&root)
        .arg("--config")
        .arg(&config)
        .args(["install", &format!("{base}/garbage.git=1.0.0")]));
    no_crash(&r);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(&format!("{base}/garbage.git")),
        "{}",
        r.stdout
    );
    assert!(
        t.elapsed() < Duration::from_secs(40),
        "took {:?}",
        t.elapsed()
    );
    assert!(!root.join("packs/garbage").exists());
}

/// `info/refs` answering 500, 404 or 401 (with a token in the URL). Safe outcome: a
/// clear error naming the (redacted) URL, exit 1, bounded time, the token never shown.
#[test]
fn info_refs_errors_are_clear_and_keep_tokens_secret() {
    for status in [500u16, 404, 401] {
        let d = tempfile::tempdir().unwrap();
        served_pack(d.path(), "status");
        let (base, _) = raw_git_server(&d.path().join("srv"), move |_, _| Act::Status(status));
        let url = base.replace("http://", "http://deploy:t0ps3cret@");
        let config = timeout_config(d.path(), 5);
        let root = d.path().join("root");
        let t = Instant::now();
        let r = run(stackpack(&root)
            .arg("--config")
            .arg(&config)
            .args(["install", &format!("{url}/status.git=1.0.0")]));
        no_crash(&r);
        assert_eq!(r.code, 1, "{status}: {}{}", r.stdout, r.stderr);
        let shown = base.replace("http://", "http://deploy:***@");
        assert!(r.stdout.contains(&shown), "{status}: {}", r.stdout);
        assert!(
            !r.stdout.contains("t0ps3cret") && !r.stderr.contains("t0ps3cret"),
            "{status}: token leaked"
        );
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "{status}: took {:?}",
            t.elapsed()
        );
    }
}

/// A git server that redirects to another host name (`localhost`, the same server),
/// with a token in the URL. Safe outcome: the run ends with an exit code in bounded
/// time and the token is never sent to the other host nor shown.
#[test]
fn a_git_redirect_to_another_host_never_carries_the_token() {
    let d = tempfile::tempdir().unwrap();
    served_pack(d.path(), "redir");
    let (base, seen) = raw_git_server(&d.path().join("srv"), |_, req| {
        if req
            .header("host")
            .is_some_and(|h| h.starts_with("127.0.0.1"))
        {
            Act::RedirectToLocalhost
        } else {
            Act::Serve
        }
    });
    let url = base.replace("http://", "http://deploy:t0ps3cret@");
    let config = timeout_config(d.path(), 5);
    let root = d.path().join("root");
    let t = Instant::now();
    let r = run(stackpack(&root)
        .arg("--config")
        .arg(&config)
        .args(["install", &format!("{url}/redir.git=1.0.0")]));
    no_crash(&r);
    assert!(
        t.elapsed() < Duration::from_secs(30),
        "took {:?}",
        t.elapsed()
    );
    assert!(
        !r.stdout.contains("t0ps3cret") && !r.stderr.contains("t0ps3cret"),
        "token shown: {}{}",
        r.stdout,
        r.stderr
    );
    let basic = base64_of("deploy:t0ps3cret");
    for req in seen.lock().unwrap().iter() {
        let to_localhost = req
            .header("host")
            .is_some_and(|h| h.starts_with("localhost"));
        let auth = req.header("authorization").unwrap_or("");
        assert!(
            !(to_localhost && auth.contains(&basic)),
            "the token went to another host: {} {}",
            req.method,
            req.path
        );
    }
}

fn base64_of(s: &str) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------
// Trickling HTTP servers: one byte per second after the headers.

/// An index server that trickles. Safe outcome: the index is given up at
/// `http_timeout` (2 s) plus a margin, the run ends with an exit code and says the
/// index timed out.
#[test]
fn a_trickling_index_is_cut_at_http_timeout() {
    let d = tempfile::tempdir().unwrap();
    let (base, _) = trickle_server(100_000, Duration::from_secs(1), false);
    let config = d.path().join("stackpack.toml");
    write(
        &config,
        &format!("http_timeout = 2\nindex_url = [\"{base}/index.json\"]\n"),
    );
    let root = d.path().join("root");
    let t = Instant::now();
    let r = run(stackpack(&root)
        .arg("--config")
        .arg(&config)
        .args(["install", "anything"]));
    let took = t.elapsed();
    eprintln!("a_trickling_index_is_cut_at_http_timeout: ended in {took:?}");
    no_crash(&r);
    assert_ne!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(took < Duration::from_secs(2 + 10), "took {took:?}");
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(all.contains("timed out") && all.contains(&base), "{all}");
}

/// An archive server that trickles. Safe outcome: the download is given up at its
/// deadline (10 × `http_timeout` = 10 s) plus a margin, with an error naming the URL,
/// the deadline and `http_timeout`; nothing installed.
#[test]
fn a_trickling_archive_is_cut_at_its_deadline() {
    let d = tempfile::tempdir().unwrap();
    let (base, _) = trickle_server(100_000, Duration::from_secs(1), false);
    let index = d.path().join("index.json");
    write(
        &index,
        &serde_json::json!({"metadata": {}, "packs": {"slowtar": {
            "name": "slowtar", "version": "1.0.0", "author": "t", "description": "d",
            "archive_url": format!("{base}/slowtar.tar.gz"),
            "archive_sha256": "0".repeat(64)}}})
        .to_string(),
    );
    let config = timeout_config(d.path(), 1);
    let root = d.path().join("root");
    let t = Instant::now();
    let r = run(stackpack(&root).arg("--config").arg(&config).args([
        "--index",
        index.to_str().unwrap(),
        "install",
        "slowtar",
    ]));
    let took = t.elapsed();
    eprintln!("a_trickling_archive_is_cut_at_its_deadline: ended in {took:?}");
    no_crash(&r);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(took < Duration::from_secs(10 + 10), "took {took:?}");
    assert!(
        r.stdout.contains("timed out after 10s")
            && r.stdout.contains(&format!("{base}/slowtar.tar.gz"))
            && r.stdout.contains("http_timeout"),
        "{}",
        r.stdout
    );
    assert!(!root.join("packs/slowtar").exists());
}

/// A plugin download (https) that trickles. Safe outcome: given up at `http_timeout`
/// (2 s) plus a margin, with an error saying it timed out; no plugin added.
#[test]
fn a_trickling_plugin_download_is_cut_at_http_timeout() {
    let d = tempfile::tempdir().unwrap();
    let (base, ca) = trickle_server(100_000, Duration::from_secs(1), true);
    let ca_file = d.path().join("ca.pem");
    write(&ca_file, &ca.unwrap());
    let config = d.path().join("stackpack.toml");
    write(
        &config,
        &format!(
            "http_timeout = 2\nproxy_ca_bundle_path = \"{}\"\n",
            ca_file.display()
        ),
    );
    let root = d.path().join("root");
    let t = Instant::now();
    let r = run(stackpack(&root).arg("--config").arg(&config).args([
        "plugin",
        "add",
        &format!("{base}/slow.wasm"),
        "--sha256",
        &"0".repeat(64),
    ]));
    let took = t.elapsed();
    eprintln!("a_trickling_plugin_download_is_cut_at_http_timeout: ended in {took:?}");
    no_crash(&r);
    assert_ne!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(took < Duration::from_secs(2 + 10), "took {took:?}");
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(
        all.contains("timed out") && all.contains("http_timeout"),
        "{all}"
    );
    assert!(!root.join("plugins/slow.wasm").exists());
}

// ---------------------------------------------------------------------------------
// A moved tag.

/// Tag v1.0.0 is force-moved to another commit after it was installed. Safe outcome:
/// a reinstall of 1.0.0 refuses, naming the tag, both commits and the pack, and leaves
/// the installed pack and the lockfile as they were; `--force` installs the new commit
/// and says the tag moved.
#[test]
fn a_moved_tag_is_refused_unless_forced() {
    let d = tempfile::tempdir().unwrap();
    let (work, bare) = served_pack(d.path(), "moved");
    let old = git(&work, &["rev-parse", "HEAD"]);
    let root = d.path().join("root");
    let url = file_url(&bare);
    let r = run(stackpack(&root).args(["install", &format!("{url}=1.0.0")]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let lock_before = std::fs::read_to_string(root.join("stackpack.lock")).unwrap();
    assert!(lock_before.contains("tag = \"v1.0.0\""), "{lock_before}");

    write(&work.join("actions/evil.sh"), "#!/bin/sh\necho moved\n");
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "moved"]);
    git(&work, &["tag", "-f", "v1.0.0"]);
    let new = git(&work, &["rev-parse", "HEAD"]);
    git(
        &bare,
        &[
            "fetch",
            "-q",
            "-f",
            work.to_str().unwrap(),
            "+refs/tags/*:refs/tags/*",
        ],
    );

    let r = run(stackpack(&root).args(["install", &format!("{url}=1.0.0")]));
    no_crash(&r);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    for needle in ["v1.0.0", old.as_str(), new.as_str(), "\"moved\"", "--force"] {
        assert!(r.stdout.contains(needle), "{needle}: {}", r.stdout);
    }
    assert!(!root.join("packs/moved/actions/evil.sh").exists());
    assert_eq!(
        std::fs::read_to_string(root.join("stackpack.lock")).unwrap(),
        lock_before
    );

    let r = run(stackpack(&root).args(["install", "--force", &format!("{url}=1.0.0")]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(all.contains("was moved") && all.contains(&new), "{all}");
    assert!(root.join("packs/moved/actions/evil.sh").exists());
    let lock = std::fs::read_to_string(root.join("stackpack.lock")).unwrap();
    assert!(lock.contains(&new), "{lock}");
}
