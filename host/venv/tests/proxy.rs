//! Proxy settings reach the installer: a recording "proxy" on 127.0.0.1 sees the
//! installer's request for the (unreachable) index, and the proxy password never shows
//! in the error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use stackpack_testkit::http::{Reply, Server};
use stackpack_venv::{InstallerChoice, ProxyEnv, VenvConfig, VenvError, ensure};

const PASSWORD: &str = "s3cr3t-proxy-pw";

/// A "proxy" that answers every request 403, as a proxy that refuses would. (403 rather
/// than 502: uv retries 5xx answers with back-off, ~10 s.)
fn refusing_proxy() -> Server {
    Server::start(|_| Reply::status(403, "blocked by the test proxy"))
}

/// `<method> <request-target>` of every request the proxy saw, and whether it carried
/// Proxy-Authorization.
fn seen_by(proxy: &Server) -> Vec<String> {
    proxy
        .requests()
        .iter()
        .map(|request| {
            format!(
                "{} {}{}",
                request.method,
                request.path,
                if request.header("Proxy-Authorization").is_some() {
                    " (with Proxy-Authorization)"
                } else {
                    ""
                }
            )
        })
        .collect()
}

fn through_proxy(installer: InstallerChoice, label: &str) {
    let proxy = refusing_proxy();
    let proxy_url = format!(
        "http://user:{PASSWORD}@{}",
        proxy.base.trim_start_matches("http://")
    );
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
            http_proxy: Some(proxy_url.clone()),
            https_proxy: Some(proxy_url),
            // Replaces any inherited no_proxy that could bypass the proxy.
            no_proxy: Some("example.test".to_owned()),
            ca_bundle: None,
        },
        ..VenvConfig::default()
    };
    let err = ensure(&venvs, "proxied", &pack_dir, &cfg, false).unwrap_err();
    let msg = err.to_string();
    let seen = seen_by(&proxy);
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
#[cfg_attr(
    not(has_uv),
    ignore = "uv not found on PATH or in ~/.local/bin: install it with `python3 -m pip install --user uv`"
)]
fn uv_uses_the_proxy() {
    through_proxy(InstallerChoice::Uv(uv()), "uv");
}
