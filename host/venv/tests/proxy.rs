//! Proxy settings reach the installer: a recording "proxy" on 127.0.0.1 sees the
//! installer's request for the (unreachable) index, and the proxy password never shows
//! in the error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use common::*;
use stackpack_venv::{InstallerChoice, ProxyEnv, VenvConfig, VenvError, ensure};

const PASSWORD: &str = "s3cr3t-proxy-pw";

/// Records `<method> <request-target>` of every request and answers 403, as a proxy
/// that refuses would. (403 rather than 502: uv retries 5xx answers with back-off, ~10 s.)
struct RecordingProxy {
    server: Arc<tiny_http::Server>,
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
    thread: Option<JoinHandle<()>>,
}

impl RecordingProxy {
    fn start() -> RecordingProxy {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let port = server.server_addr().to_ip().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (s, log) = (server.clone(), seen.clone());
        let thread = std::thread::spawn(move || {
            for request in s.incoming_requests() {
                let auth = request
                    .headers()
                    .iter()
                    .any(|h| h.field.equiv("Proxy-Authorization"));
                log.lock().unwrap().push(format!(
                    "{} {}{}",
                    request.method(),
                    request.url(),
                    if auth {
                        " (with Proxy-Authorization)"
                    } else {
                        ""
                    }
                ));
                let _ = request.respond(
                    tiny_http::Response::from_string("blocked by the test proxy")
                        .with_status_code(403),
                );
            }
        });
        RecordingProxy {
            server,
            port,
            seen,
            thread: Some(thread),
        }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for RecordingProxy {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn through_proxy(installer: InstallerChoice, label: &str) {
    let proxy = RecordingProxy::start();
    let tmp = tempfile::tempdir().unwrap();
    let pack_dir = tmp.path().join("pack");
    make_pack(&pack_dir, "stackpack-proxy-probe==1.0\n");
    let venvs = tmp.path().join("virtualenvs");
    let cfg = VenvConfig {
        python: real_python(),
        installer,
        index_url: Some("http://pypi.invalid/simple".to_owned()),
        offline: false,
        proxy: ProxyEnv {
            http_proxy: Some(format!("http://user:{PASSWORD}@127.0.0.1:{}", proxy.port)),
            https_proxy: Some(format!("http://user:{PASSWORD}@127.0.0.1:{}", proxy.port)),
            // Replaces any inherited no_proxy that could bypass the proxy.
            no_proxy: Some("example.test".to_owned()),
            ca_bundle: None,
        },
        ..VenvConfig::default()
    };
    let err = ensure(&venvs, "proxied", &pack_dir, &cfg, false).unwrap_err();
    let msg = err.to_string();
    let seen = proxy.seen();
    eprintln!("[{label}] proxy saw {seen:#?}\n[{label}] error:\n{msg}\n");
    assert!(matches!(err, VenvError::InstallFailed { .. }), "{msg}");
    assert!(
        seen.iter()
            .any(|r| r.starts_with("GET http://pypi.invalid/simple/stackpack-proxy-probe/")),
        "the installer did not go through the proxy: {seen:?}"
    );
    assert!(!msg.contains(PASSWORD), "{msg}");
    assert!(!format!("{err:?}").contains(PASSWORD));
    assert!(!format!("{cfg:?}").contains(PASSWORD));
    // Nothing was created, nothing left behind.
    assert!(!venvs.join("proxied").exists());
    assert!(leftovers(&venvs).is_empty(), "{:?}", leftovers(&venvs));
}

#[test]
fn pip_uses_the_proxy() {
    through_proxy(InstallerChoice::Pip, "pip");
}

#[test]
fn uv_uses_the_proxy() {
    let Some(uv) = uv_or_skip("uv_uses_the_proxy") else {
        return;
    };
    through_proxy(InstallerChoice::Uv(uv), "uv");
}
