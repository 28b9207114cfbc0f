//! The plugin runtime with real components: the built-ins from plugins/ and the
//! hostile guest from tests/guests/hostile. No mocks: network calls go through the
//! real backend to a loopback HTTP server.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{Reply, Server, hostile_wasm, http_server, shared_cache};
use stackpack_core::{GitRef, PackRef, Source};
use stackpack_plugin::{
    Grants, Limits, Plugin, PluginError, PluginKind, PluginSpec, Refusal, Runtime,
};

fn runtime() -> Runtime {
    let net = stackpack_fetch::Net::new(stackpack_fetch::NetConfig::default()).unwrap();
    Runtime::new(Some(shared_cache().join("plugins")), Arc::new(net), false).unwrap()
}

fn hostile(rt: &Runtime, grants: &[&str], limits: Limits) -> Plugin {
    rt.load(PluginSpec {
        name: "hostile".into(),
        wasm: hostile_wasm(),
        grants: Grants::parse(grants).unwrap(),
        config: BTreeMap::from([("greeting".to_string(), "/hello".to_string())]),
        limits,
    })
    .unwrap()
}

fn builtin(rt: &Runtime, name: &str) -> Plugin {
    let b = stackpack_builtins::get(name).unwrap();
    rt.load(PluginSpec {
        name: name.into(),
        wasm: Arc::from(b.wasm),
        grants: Grants::parse(b.default_grants).unwrap(),
        config: BTreeMap::new(),
        limits: Limits::default(),
    })
    .unwrap()
}

/// A reference parsed by the host's own grammar, as the resolver chain passes it. The
/// hostile guest fetches the URL a reference is.
fn pack_ref(raw: &str) -> PackRef {
    PackRef::parse(raw).unwrap()
}

fn local_path(r: Result<Result<stackpack_plugin::Resolved, Refusal>, PluginError>) -> String {
    match r.unwrap().unwrap().source {
        Source::Local { path } => path.display().to_string(),
        other => panic!("expected a local source, got {other:?}"),
    }
}

#[test]
fn builtin_github_resolves_shorthand() {
    let rt = runtime();
    let gh = builtin(&rt, "github");
    assert_eq!(gh.kind(), PluginKind::Resolver);
    assert_eq!(gh.api_version(), "0.1.0");
    let resolved = gh
        .resolve(&pack_ref("StackStorm-Exchange/stackstorm-test=v1.0.0"))
        .unwrap()
        .unwrap();
    assert_eq!(
        resolved.canonical,
        "github.com/StackStorm-Exchange/stackstorm-test"
    );
    match resolved.source {
        Source::Git { url, git_ref, .. } => {
            assert_eq!(
                url,
                "https://github.com/StackStorm-Exchange/stackstorm-test"
            );
            assert_eq!(git_ref, GitRef::Any("v1.0.0".into()));
        }
        other => panic!("{other:?}"),
    }
    // Not its business: the next resolver gets it.
    assert!(matches!(
        gh.resolve(&pack_ref("file:///tmp/x")).unwrap(),
        Err(Refusal::NotApplicable)
    ));
}

#[test]
fn builtin_policy_is_a_policy() {
    let rt = runtime();
    let p = builtin(&rt, "default");
    assert_eq!(p.kind(), PluginKind::Policy);
    assert_eq!(p.describe().unwrap().name, "default");
    // A policy cannot be asked to resolve.
    let e = p.resolve(&pack_ref("x")).err().unwrap();
    assert!(matches!(e, PluginError::WrongKind { .. }), "{e}");
}

#[test]
fn looping_guest_is_stopped_at_its_deadline() {
    let rt = runtime();
    let limit = Duration::from_millis(300);
    let p = hostile(
        &rt,
        &[],
        Limits {
            time: limit,
            ..Limits::default()
        },
    );
    let t = Instant::now();
    let err = p
        .resolve(&pack_ref("loop"))
        .expect_err("the loop must be stopped");
    let took = t.elapsed();
    assert!(matches!(err, PluginError::TimeLimit { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("hostile") && msg.contains("300 ms"), "{msg}");
    assert!(
        msg.contains("raise `time_ms` under `[plugins.hostile]` in the config"),
        "{msg}"
    );
    assert!(
        took >= limit && took < Duration::from_secs(5),
        "stopped after {took:?}"
    );
    // The plugin stays usable: the next call gets a fresh instance.
    assert_eq!(local_path(p.resolve(&pack_ref("fine"))), "/ok");
}

#[test]
fn memory_bomb_fails_cleanly() {
    let rt = runtime();
    let p = hostile(
        &rt,
        &[],
        Limits {
            memory_bytes: 32 << 20,
            ..Limits::default()
        },
    );
    let err = p
        .resolve(&pack_ref("bomb"))
        .expect_err("the bomb must fail");
    assert!(matches!(err, PluginError::MemoryLimit { .. }), "{err}");
    assert!(err.to_string().contains("32 MiB"), "{err}");
    assert!(
        err.to_string()
            .contains("raise `memory_mib` under `[plugins.hostile]` in the config"),
        "{err}"
    );
}

/// The limit errors tell the operator which setting to raise; that setting must be one
/// the config file really has.
#[test]
fn the_limit_hints_name_settings_the_config_reads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stackpack.toml");
    std::fs::write(&path, "[plugins.hostile]\ntime_ms = 300\nmemory_mib = 32\n").unwrap();
    let settings = stackpack_site::settings::Settings::load(&path, true).unwrap();
    let hostile = &settings.plugins["hostile"];
    assert_eq!((hostile.time_ms, hostile.memory_mib), (Some(300), Some(32)));
    for err in [
        PluginError::TimeLimit {
            plugin: "hostile".into(),
            call: "resolve",
            limit: Duration::from_millis(300),
        },
        PluginError::MemoryLimit {
            plugin: "hostile".into(),
            call: "resolve",
            limit_bytes: 32 << 20,
        },
    ] {
        let msg = err.to_string();
        let key = if matches!(err, PluginError::TimeLimit { .. }) {
            "`time_ms`"
        } else {
            "`memory_mib`"
        };
        assert!(
            msg.contains(&format!("raise {key} under `[plugins.hostile]`")),
            "{msg}"
        );
        assert!(!msg.contains("limits."), "{msg}");
    }
}

#[test]
fn trap_is_reported_with_the_plugin_name() {
    let rt = runtime();
    let p = hostile(&rt, &[], Limits::default());
    let err = p.resolve(&pack_ref("trap")).err().unwrap();
    assert!(matches!(err, PluginError::Trap { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("plugin hostile crashed in `resolve`"),
        "{err}"
    );
}

#[test]
fn log_flood_is_capped_not_fatal() {
    let rt = runtime();
    let p = hostile(&rt, &[], Limits::default());
    assert_eq!(local_path(p.resolve(&pack_ref("flood"))), "/ok");
}

#[test]
fn config_values_reach_the_guest() {
    let rt = runtime();
    let p = hostile(&rt, &[], Limits::default());
    assert_eq!(
        local_path(p.resolve(&pack_ref("config:greeting"))),
        "/hello"
    );
    assert_eq!(local_path(p.resolve(&pack_ref("config:missing"))), "/none");
}

#[test]
fn http_get_is_denied_unless_granted() {
    let base = http_server(vec![("/index.json", Reply::ok("{}"))]);
    let rt = runtime();
    let url = format!("{base}/index.json");

    let p = hostile(&rt, &[], Limits::default());
    match p.resolve(&pack_ref(&url)).unwrap() {
        Err(Refusal::Denied(msg)) => assert!(msg.contains("not granted"), "{msg}"),
        other => panic!("expected denied, got {other:?}"),
    }

    let p = hostile(&rt, &[&base], Limits::default());
    assert_eq!(local_path(p.resolve(&pack_ref(&url))), "/status/200");
}

#[test]
fn redirect_to_an_ungranted_host_is_denied() {
    let other = http_server(vec![("/secret", Reply::ok("secret"))]);
    let base = http_server(vec![("/go", Reply::redirect(&format!("{other}/secret")))]);
    let rt = runtime();
    let p = hostile(&rt, &[&base], Limits::default());
    match p.resolve(&pack_ref(&format!("{base}/go"))).unwrap() {
        Err(Refusal::Denied(msg)) => {
            assert!(msg.contains(other.trim_start_matches("http://")), "{msg}")
        }
        other => panic!("expected denied, got {other:?}"),
    }
    // Granting both lets the redirect through.
    let p = hostile(&rt, &[&base, &other], Limits::default());
    assert_eq!(
        local_path(p.resolve(&pack_ref(&format!("{base}/go")))),
        "/status/200"
    );
}

/// A loopback server that answers 200 only to the host's token, 401 to the guest's
/// forged header, 403 to anything else; it records every request.
fn token_server() -> Server {
    Server::start(|req| {
        let mut status = 403;
        for (name, value) in &req.headers {
            if name == "authorization" {
                status = match value.as_str() {
                    "Bearer host-s3cret" => 200,
                    "Bearer guest-forged" => 401,
                    _ => 403,
                };
            }
        }
        Reply::status(status, "ok")
    })
}

/// Every Authorization and Cookie value the server was sent, in order.
fn authorization_and_cookies(server: &Server) -> Vec<String> {
    server
        .requests()
        .iter()
        .flat_map(|req| req.headers.clone())
        .filter(|(name, _)| name == "authorization" || name == "cookie")
        .map(|(_, value)| value)
        .collect()
}

#[test]
fn credentials_stay_in_the_host_and_guest_headers_are_dropped() {
    let server = token_server();
    let base = &server.base;
    let net = stackpack_fetch::Net::new(stackpack_fetch::NetConfig {
        credentials: vec![stackpack_fetch::Credential {
            prefix: format!("{base}/private/"),
            auth: stackpack_fetch::Auth::Bearer("host-s3cret".into()),
        }],
        ..stackpack_fetch::NetConfig::default()
    })
    .unwrap();
    let rt = Runtime::new(Some(shared_cache().join("plugins")), Arc::new(net), false).unwrap();
    let p = hostile(&rt, &[base], Limits::default());
    // Under the credential's prefix: the host's token is added, the guest's forged
    // Authorization and Cookie never reach the server.
    assert_eq!(
        local_path(p.resolve(&pack_ref(&format!("{base}/private/x")))),
        "/status/200"
    );
    // Elsewhere on the same host: no token at all, and still not the guest's.
    assert_eq!(
        local_path(p.resolve(&pack_ref(&format!("{base}/public/x")))),
        "/status/403"
    );
    let seen = authorization_and_cookies(&server);
    assert_eq!(seen, vec!["Bearer host-s3cret".to_string()], "{seen:?}");
    // The token is nowhere in what the guest can read: its config is only what the
    // operator set for it.
    assert_eq!(local_path(p.resolve(&pack_ref("config:token"))), "/none");
}
