//! Shared helpers for the integration tests: running the real binary on a scratch
//! root, a loopback HTTP server, and building the test guests and example plugins.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex, OnceLock};

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

/// The reply for `path` from a route table, 404 when it has none.
fn route(routes: &[(String, Reply)], path: &str) -> Reply {
    routes
        .iter()
        .find(|(p, _)| p == path)
        .map(|(_, r)| r.clone())
        .unwrap_or(Reply {
            status: 404,
            headers: vec![],
            body: b"not found".to_vec(),
        })
}

fn owned_routes(routes: Vec<(&str, Reply)>) -> Vec<(String, Reply)> {
    routes
        .into_iter()
        .map(|(p, r)| (p.to_string(), r))
        .collect()
}

/// A loopback HTTP server answering from a route table; returns its base URL.
pub fn http_server(routes: Vec<(&str, Reply)>) -> String {
    let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
    let base = format!("http://{}", server.server_addr().to_ip().unwrap());
    let routes = owned_routes(routes);
    std::thread::spawn(move || {
        for req in server.incoming_requests() {
            let reply = route(&routes, req.url());
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

/// A loopback HTTPS server answering from a route table (HTTP/1.1, one request per
/// connection), with a certificate for 127.0.0.1 issued by a CA made for this call.
/// Returns its base URL and the CA certificate's PEM, for a CA bundle.
pub fn https_server(routes: Vec<(&str, Reply)>) -> (String, String) {
    use std::io::{BufRead, BufReader, Write};
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "stackpack test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
        )
        .unwrap();
    let config = Arc::new(config);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("https://{}", listener.local_addr().unwrap());
    let routes = Arc::new(owned_routes(routes));
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let (config, routes) = (config.clone(), routes.clone());
            std::thread::spawn(move || {
                let conn = rustls::ServerConnection::new(config).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                let mut request_line = String::new();
                {
                    // A client that rejects the certificate ends the handshake here.
                    let mut reader = BufReader::new(&mut tls);
                    if reader.read_line(&mut request_line).is_err() {
                        return;
                    }
                    let mut line = String::new();
                    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                        line.clear();
                    }
                }
                let path = request_line.split_whitespace().nth(1).unwrap_or("/");
                let reply = route(&routes, path);
                let mut head = format!(
                    "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                    reply.status,
                    reply.body.len()
                );
                for (k, v) in &reply.headers {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str("\r\n");
                let _ = tls.write_all(head.as_bytes());
                let _ = tls.write_all(&reply.body);
                tls.conn.send_close_notify();
                let _ = tls.flush();
            });
        }
    });
    (base, ca.pem())
}

/// Builds the guest workspace at `manifest_rel` (relative to the repository root) for
/// wasm32-wasip2 and returns `<artifact>.wasm` from it, once per artifact per test
/// process. Every guest workspace shares one target dir, so their common dependencies
/// (wit-bindgen...) are compiled once.
pub fn guest_wasm(manifest_rel: &str, artifact: &str) -> Arc<[u8]> {
    type Cells = HashMap<String, Arc<OnceLock<Arc<[u8]>>>>;
    static BUILT: OnceLock<Mutex<Cells>> = OnceLock::new();
    // The map lock is held only to find the artifact's cell, so a panicking build
    // cannot poison it; concurrent callers of one artifact wait on its cell.
    let cell = BUILT
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .entry(format!("{manifest_rel}#{artifact}"))
        .or_default()
        .clone();
    cell.get_or_init(|| {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join(manifest_rel);
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
            "building the guest {manifest_rel} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let wasm = target.join(format!("wasm32-wasip2/release/{artifact}.wasm"));
        let bytes = std::fs::read(&wasm)
            .unwrap_or_else(|e| panic!("{manifest_rel} built no {}: {e}", wasm.display()));
        Arc::from(bytes)
    })
    .clone()
}

/// The hostile test guest (tests/guests/hostile).
pub fn hostile_wasm() -> Arc<[u8]> {
    guest_wasm("tests/guests/hostile/Cargo.toml", "hostile_guest")
}

/// An example plugin from examples/plugins, by crate name (`corp-resolver`).
pub fn example_wasm(name: &str) -> Arc<[u8]> {
    guest_wasm("examples/plugins/Cargo.toml", &name.replace('-', "_"))
}

/// The policy built against the unsupported API version 0.2.0
/// (tests/guests/future-api).
pub fn future_api_wasm() -> Arc<[u8]> {
    guest_wasm("tests/guests/future-api/Cargo.toml", "future_api_guest")
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

/// Serves the git repositories under `project_root` over smart HTTP on 127.0.0.1, by
/// running `git http-backend` (CGI) per request. Returns the base URL.
pub fn git_http_server(project_root: &Path) -> String {
    use std::io::Write;
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let base = format!("http://{}", server.server_addr().to_ip().unwrap());
    let root = project_root.to_path_buf();
    std::thread::spawn(move || {
        for mut req in server.incoming_requests() {
            let url = req.url().to_string();
            let (path, query) = url.split_once('?').unwrap_or((&url, ""));
            let mut body = Vec::new();
            let _ = req.as_reader().read_to_end(&mut body);
            let header = |name: &'static str| {
                req.headers()
                    .iter()
                    .find(|h| h.field.equiv(name))
                    .map(|h| h.value.to_string())
                    .unwrap_or_default()
            };
            let mut child = Command::new("git")
                .arg("http-backend")
                .env("GIT_PROJECT_ROOT", &root)
                .env("GIT_HTTP_EXPORT_ALL", "1")
                .env("PATH_INFO", path)
                .env("QUERY_STRING", query)
                .env("REQUEST_METHOD", req.method().as_str())
                .env("CONTENT_TYPE", header("Content-Type"))
                .env("HTTP_CONTENT_ENCODING", header("Content-Encoding"))
                .env("CONTENT_LENGTH", body.len().to_string())
                .env("REMOTE_ADDR", "127.0.0.1")
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            let _ = child.stdin.take().unwrap().write_all(&body);
            let out = child.wait_with_output().unwrap().stdout;
            let split = out
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map(|i| (i, 4))
                .or_else(|| out.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)));
            let (head, body) = match split {
                Some((i, n)) => (
                    String::from_utf8_lossy(&out[..i]).into_owned(),
                    out[i + n..].to_vec(),
                ),
                None => (String::new(), out),
            };
            let mut status = 200;
            let mut resp_headers = Vec::new();
            for line in head.lines() {
                if let Some((k, v)) = line.split_once(':') {
                    if k.eq_ignore_ascii_case("status") {
                        status = v.trim()[..3].parse().unwrap_or(500);
                    } else {
                        resp_headers.push(
                            tiny_http::Header::from_bytes(k.trim().as_bytes(), v.trim().as_bytes())
                                .unwrap(),
                        );
                    }
                }
            }
            let mut resp = tiny_http::Response::from_data(body).with_status_code(status);
            for h in resp_headers {
                resp.add_header(h);
            }
            let _ = req.respond(resp);
        }
    });
    base
}

/// A server that accepts connections and never answers. Returns its base URL.
pub fn hanging_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    base
}

/// The misbehaving override policy (tests/guests/hostile-policy); config `mode` picks
/// the misbehaviour.
pub fn hostile_policy_wasm() -> Arc<[u8]> {
    guest_wasm(
        "tests/guests/hostile-policy/Cargo.toml",
        "hostile_policy_guest",
    )
}
