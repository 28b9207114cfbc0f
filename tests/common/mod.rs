//! Shared helpers for the integration tests: running the real binary on a scratch
//! root, a loopback HTTP server, and building the hostile test guest.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, OnceLock};

/// Compiled plugin code shared by every test (each test still uses its own root).
pub fn shared_cache() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("plugin-cache")
}

/// The stackpack binary with a clean environment, the given root and the shared cache.
pub fn stackpack(root: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stackpack"));
    for (k, _) in std::env::vars() {
        if k.starts_with("STACKPACK_") || k.ends_with("_proxy") || k.ends_with("_PROXY") {
            cmd.env_remove(k);
        }
    }
    cmd.arg("--root")
        .arg(root)
        .env("STACKPACK_CACHE_DIR", shared_cache());
    cmd
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(cmd: &mut Command) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("run stackpack");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

pub fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A pack.yaml with the required fields.
pub fn pack_yaml(name: &str, version: &str) -> String {
    format!(
        "name: {name}\nversion: {version}\ndescription: The {name} pack\nauthor: Tester\nkeywords: [test, {name}]\n"
    )
}

/// One canned HTTP response.
#[derive(Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn ok(body: &str) -> Reply {
        Reply {
            status: 200,
            headers: vec![],
            body: body.as_bytes().to_vec(),
        }
    }
    pub fn redirect(to: &str) -> Reply {
        Reply {
            status: 302,
            headers: vec![("Location".into(), to.into())],
            body: vec![],
        }
    }
}

/// A loopback HTTP server answering from a route table; returns its base URL.
pub fn http_server(routes: Vec<(&str, Reply)>) -> String {
    let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
    let base = format!("http://{}", server.server_addr().to_ip().unwrap());
    let routes: Vec<(String, Reply)> = routes
        .into_iter()
        .map(|(p, r)| (p.to_string(), r))
        .collect();
    std::thread::spawn(move || {
        for req in server.incoming_requests() {
            let reply = routes
                .iter()
                .find(|(p, _)| p == req.url())
                .map(|(_, r)| r.clone())
                .unwrap_or(Reply {
                    status: 404,
                    headers: vec![],
                    body: b"not found".to_vec(),
                });
            let mut resp =
                tiny_http::Response::from_data(reply.body).with_status_code(reply.status);
            for (k, v) in reply.headers {
                resp.add_header(tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()).unwrap());
            }
            let _ = req.respond(resp);
        }
    });
    base
}

/// Builds tests/guests/hostile for wasm32-wasip2 once per test process.
pub fn hostile_wasm() -> Arc<[u8]> {
    static WASM: OnceLock<Arc<[u8]>> = OnceLock::new();
    WASM.get_or_init(|| {
        let manifest =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/guests/hostile/Cargo.toml");
        let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("guests-target");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = Command::new(cargo)
            .args([
                "build",
                "--release",
                "--locked",
                "--target",
                "wasm32-wasip2",
                "--manifest-path",
            ])
            .arg(&manifest)
            .arg("--target-dir")
            .arg(&target)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("RUSTC_WRAPPER")
            .env_remove("RUSTC_WORKSPACE_WRAPPER")
            .output()
            .expect("run cargo");
        assert!(
            out.status.success(),
            "building the hostile guest failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let wasm = target.join("wasm32-wasip2/release/hostile_guest.wasm");
        Arc::from(std::fs::read(wasm).unwrap())
    })
    .clone()
}

/// Runs git in `dir` with a fixed identity; panics with git's output on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A git repo whose default branch is `branch`, with pack.yaml for `name` at
/// `version` (plus `extra` lines) committed.
pub fn pack_repo(dir: &Path, name: &str, version: &str, extra: &str, branch: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    git(dir, &["init", "-q", "-b", branch]);
    commit_version(dir, name, version, extra);
    dir.to_path_buf()
}

/// Rewrites pack.yaml at `version` and commits it.
pub fn commit_version(dir: &Path, name: &str, version: &str, extra: &str) {
    write(
        &dir.join("pack.yaml"),
        &format!("{}{extra}", pack_yaml(name, version)),
    );
    write(
        &dir.join("actions/hello.yaml"),
        &format!("name: hello\npack: {name}\nrunner_type: local-shell-cmd\n"),
    );
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", &format!("{name} {version}")]);
}

pub fn file_url(p: &Path) -> String {
    format!("file://{}", p.display())
}

/// The version in an installed pack's pack.yaml.
pub fn installed_version(root: &Path, pack: &str) -> Option<String> {
    let text = std::fs::read_to_string(root.join("packs").join(pack).join("pack.yaml")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("version: "))
        .map(|v| v.trim().to_string())
}
