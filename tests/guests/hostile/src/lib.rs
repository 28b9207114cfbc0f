//! `hostile`: a resolver that misbehaves on request, for the host's sandbox tests.
//!
//! `resolve` acts on `reference.locator`:
//! - `loop`: spins forever (fuel/epoch limits must stop it);
//! - `bomb`: allocates 1 MiB vectors forever (the memory limit must stop it);
//! - `trap`: panics with "hostile guest trapped on purpose" (a wasm trap);
//! - `flood`: writes 10 MiB to stderr and calls `log` 10 000 times, then succeeds;
//! - `http:<url>`, or an `http://` / `https://` URL itself: `http-get(url)`; success ->
//!   `local("/status/<status>")`, a denied request -> `denied(<msg>)`, any other net error -> `other(<the error>)`;
//! - `config:<key>`: `local(<config-get(key)>)`, or `local("/none")` when unset;
//! - anything else: `local("/ok")` with canonical `ok`.
//!
//! `describe` requests the hosts listed (comma-separated) in its own `requested-hosts`
//! config value, none by default, so tests choose what it asks for.

wit_bindgen::generate!({ path: "../../../wit", world: "source-resolver" });

use core::hint::black_box;
use exports::stackpack::plugin::resolver::{Guest, Resolved, ResolverInfo};
use stackpack::plugin::host_base::{LogLevel, config_get, log};
use stackpack::plugin::net::{HttpRequest, NetError, http_get};
use stackpack::plugin::types::{PackRef, PluginError, Resolution, VersionInfo};

struct Hostile;

fn local(path: String, canonical: &str) -> Result<Resolved, PluginError> {
    Ok(Resolved {
        resolution: Resolution::Local(path),
        canonical: canonical.into(),
        summary: None,
    })
}

fn spin() -> ! {
    let mut n: u64 = 0;
    loop {
        n = black_box(n.wrapping_add(1));
    }
}

fn bomb() -> ! {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        // Non-zero fill so every page is really written, not just reserved.
        hoard.push(black_box(vec![0xA5u8; 1 << 20]));
        black_box(&hoard);
    }
}

fn flood() {
    let line = "x".repeat(64 * 1024 - 1); // eprintln adds the newline: 64 KiB a call
    for _ in 0..160 {
        eprintln!("{line}");
    }
    for i in 0..10_000 {
        log(LogLevel::Info, &format!("hostile guest log flood {i}"));
    }
}

fn http(url: &str) -> Result<Resolved, PluginError> {
    // Forged credentials: the host must drop them.
    let request = HttpRequest {
        url: url.into(),
        headers: vec![
            ("Authorization".into(), "Bearer guest-forged".into()),
            ("Cookie".into(), "session=guest-forged".into()),
        ],
    };
    match http_get(&request) {
        Ok(resp) => local(format!("/status/{}", resp.status), "hostile"),
        Err(NetError::Denied(msg)) => Err(PluginError::Denied(msg)),
        Err(NetError::Offline) => Err(PluginError::Other("offline".into())),
        Err(NetError::Timeout) => Err(PluginError::Other("timeout".into())),
        Err(NetError::TooLarge(n)) => Err(PluginError::Other(format!("too-large: {n}"))),
        Err(NetError::Transport(msg)) => Err(PluginError::Other(format!("transport: {msg}"))),
    }
}

impl Guest for Hostile {
    fn describe() -> ResolverInfo {
        ResolverInfo {
            name: "hostile".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Misbehaves on purpose: for the host's sandbox tests only".into(),
            handles: [
                "loop",
                "bomb",
                "trap",
                "flood",
                "http:<url>",
                "config:<key>",
                "*",
            ]
            .map(String::from)
            .into(),
            requested_hosts: config_get("requested-hosts")
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|h| !h.is_empty())
                .map(String::from)
                .collect(),
        }
    }

    fn resolve(reference: PackRef) -> Result<Resolved, PluginError> {
        let locator = reference.locator.as_str();
        match locator {
            "loop" => spin(),
            "bomb" => bomb(),
            "trap" => panic!("hostile guest trapped on purpose"),
            "flood" => {
                flood();
                local("/ok".into(), "ok")
            }
            _ => {
                if locator.starts_with("http://") || locator.starts_with("https://") {
                    http(locator)
                } else if let Some(url) = locator.strip_prefix("http:") {
                    http(url)
                } else if let Some(key) = locator.strip_prefix("config:") {
                    local(config_get(key).unwrap_or_else(|| "/none".into()), "hostile")
                } else {
                    local("/ok".into(), "ok")
                }
            }
        }
    }

    fn list_versions(_reference: PackRef) -> Result<Vec<VersionInfo>, PluginError> {
        Err(PluginError::NotApplicable)
    }
}

export!(Hostile);
