//! The example third-party plugins (examples/plugins) and the future-API guest
//! (tests/guests/future-api), built from source and run by the real runtime. The corp
//! resolver talks to a loopback HTTP server through the real network backend.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::common::{Reply, example_wasm, future_api_wasm, http_server, shared_cache};
use stackpack_core::{ArchiveFormat, GitRef, PackRef, Source};
use stackpack_plugin::{
    Grants, Limits, PackContext, PackResource, PackSummary, Plugin, PluginError, PluginKind,
    PluginSpec, Refusal, Resolved, ResourceKind, Runtime, SUPPORTED_API_VERSIONS, Verdict,
};

const SHA256: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn runtime() -> Runtime {
    let net = stackpack_fetch::Net::new(stackpack_fetch::NetConfig::default()).unwrap();
    Runtime::new(Some(shared_cache().join("plugins")), Arc::new(net), false).unwrap()
}

fn load(
    rt: &Runtime,
    name: &str,
    wasm: Arc<[u8]>,
    grants: &[&str],
    config: &[(&str, &str)],
) -> Result<Plugin, PluginError> {
    rt.load(PluginSpec {
        name: name.into(),
        wasm,
        grants: Grants::parse(grants).unwrap(),
        config: config
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        limits: Limits::default(),
    })
}

fn corp(rt: &Runtime, grants: &[&str], config: &[(&str, &str)]) -> Plugin {
    load(rt, "corp", example_wasm("corp-resolver"), grants, config).unwrap()
}

fn corp_policy(rt: &Runtime, config: &[(&str, &str)]) -> Plugin {
    load(rt, "corp-policy", example_wasm("corp-policy"), &[], config).unwrap()
}

/// A reference parsed by the host's own grammar, as the resolver chain passes it.
fn pack_ref(raw: &str) -> PackRef {
    PackRef::parse(raw).unwrap()
}

fn resolved(p: &Plugin, raw: &str) -> Resolved {
    match p.resolve(&pack_ref(raw)).unwrap() {
        Ok(r) => r,
        Err(refusal) => panic!("{raw}: refused: {refusal:?}"),
    }
}

fn refused(p: &Plugin, raw: &str) -> Refusal {
    match p.resolve(&pack_ref(raw)).unwrap() {
        Ok(r) => panic!("{raw}: expected a refusal, got {r:?}"),
        Err(refusal) => refusal,
    }
}

/// The pack service: one git pack, one archive pack, one that answers junk, one that
/// fails; everything else is a 404.
fn pack_service() -> String {
    http_server(vec![
        (
            "/packs/sensu",
            Reply::ok(
                r#"{"git_url": "https://gitlab.corp.example/packs/sensu.git", "ref": "v1.2.0",
                    "version": "1.2.0", "description": "Sensu, our fork"}"#,
            ),
        ),
        (
            "/packs/tarball",
            Reply::ok(format!(
                r#"{{"archive_url": "https://files.corp.example/tarball-2.0.0.tar.gz",
                     "sha256": "{SHA256}", "version": "2.0.0"}}"#
            )),
        ),
        ("/packs/junk", Reply::ok("<html>maintenance</html>")),
        (
            "/packs/broken",
            Reply {
                status: 500,
                headers: vec![],
                body: b"oops".to_vec(),
            },
        ),
    ])
}

#[test]
fn corp_resolver_describes_itself_from_its_config() {
    let rt = runtime();
    let p = corp(&rt, &[], &[("service-url", "https://packs.corp.example/")]);
    assert_eq!(p.kind(), PluginKind::Resolver);
    assert_eq!(p.api_version(), "0.1.0");
    let d = p.describe().unwrap();
    assert_eq!(d.name, "corp");
    assert_eq!(d.handles, ["corp:<name>"]);
    assert_eq!(d.requested_hosts, ["https://packs.corp.example"]);
    // No config, nothing requested.
    let p = corp(&rt, &[], &[]);
    assert!(p.describe().unwrap().requested_hosts.is_empty());
}

#[test]
fn corp_resolver_git_answer() {
    let base = pack_service();
    let rt = runtime();
    let p = corp(&rt, &[&base], &[("service-url", &base)]);

    let r = resolved(&p, "corp:sensu");
    assert_eq!(r.canonical, "corp:sensu");
    match &r.source {
        Source::Git { url, git_ref, .. } => {
            assert_eq!(url, "https://gitlab.corp.example/packs/sensu.git");
            assert_eq!(git_ref, &GitRef::Any("v1.2.0".into()));
        }
        other => panic!("{other:?}"),
    }
    let summary = r.summary.unwrap();
    assert_eq!(summary.version.as_deref(), Some("1.2.0"));
    assert_eq!(summary.description.as_deref(), Some("Sensu, our fork"));

    // The version the user asked for wins over the service's ref.
    match resolved(&p, "corp:sensu=1.0.0").source {
        Source::Git { git_ref, .. } => assert_eq!(git_ref, GitRef::Any("1.0.0".into())),
        other => panic!("{other:?}"),
    }
}

#[test]
fn corp_resolver_archive_answer() {
    let base = pack_service();
    let rt = runtime();
    let p = corp(&rt, &[&base], &[("service-url", &base)]);
    let r = resolved(&p, "corp:tarball");
    assert_eq!(r.canonical, "corp:tarball");
    match r.source {
        Source::Archive {
            url,
            sha256,
            format,
            ..
        } => {
            assert_eq!(url, "https://files.corp.example/tarball-2.0.0.tar.gz");
            assert_eq!(sha256.prefixed(), format!("sha256:{SHA256}"));
            assert_eq!(format, ArchiveFormat::TarGz);
        }
        other => panic!("{other:?}"),
    }
    // An archive is one version: another one is not there.
    match refused(&p, "corp:tarball=3.0.0") {
        Refusal::NotFound(m) => assert!(m.contains("version 2.0.0"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn corp_resolver_errors_name_reference_url_and_status() {
    let base = pack_service();
    let rt = runtime();
    let p = corp(&rt, &[&base], &[("service-url", &format!("{base}/"))]);

    match refused(&p, "corp:nosuch") {
        Refusal::NotFound(m) => {
            assert!(
                m.contains("\"corp:nosuch\"")
                    && m.contains(&format!("{base}/packs/nosuch"))
                    && m.contains("HTTP 404"),
                "{m}"
            );
        }
        other => panic!("{other:?}"),
    }
    match refused(&p, "corp:junk") {
        Refusal::Other(m) => {
            assert!(
                m.contains("\"corp:junk\"")
                    && m.contains(&format!("{base}/packs/junk"))
                    && m.contains("invalid JSON"),
                "{m}"
            );
        }
        other => panic!("{other:?}"),
    }
    match refused(&p, "corp:broken") {
        Refusal::Unavailable(m) => {
            assert!(
                m.contains("\"corp:broken\"")
                    && m.contains(&format!("{base}/packs/broken"))
                    && m.contains("HTTP 500"),
                "{m}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn corp_resolver_leaves_other_references_alone() {
    let base = pack_service();
    let rt = runtime();
    for config in [vec![("service-url", base.as_str())], vec![]] {
        let p = corp(&rt, &[&base], &config);
        for other in [
            "sensu",
            "sensu=1.0.0",
            "StackStorm-Exchange/stackstorm-sensu",
        ] {
            assert!(
                matches!(refused(&p, other), Refusal::NotApplicable),
                "{other} with {config:?}"
            );
        }
    }
    // A corp reference without a service configured says which key to set.
    let p = corp(&rt, &[&base], &[]);
    match refused(&p, "corp:sensu") {
        Refusal::Other(m) => assert!(
            m.contains("service-url") && m.contains("corp:sensu") && m.contains("[plugins.corp]"),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn corp_resolver_needs_its_service_granted() {
    let base = pack_service();
    let rt = runtime();
    for grants in [vec![], vec!["https://packs.corp.example"]] {
        let p = corp(&rt, &grants, &[("service-url", &base)]);
        // It asks for the service's host; the operator did not grant it.
        assert_eq!(p.describe().unwrap().requested_hosts, [base.as_str()]);
        match refused(&p, "corp:sensu") {
            Refusal::Denied(m) => {
                // The runtime names the refused host; the plugin says how to grant it.
                assert!(m.contains(&format!("{base} is not granted")), "{m}");
                assert!(m.contains(&format!("--grant {base}")), "{m}");
                assert!(m.contains("\"corp:sensu\""), "{m}");
            }
            other => panic!("with grants {grants:?}: {other:?}"),
        }
    }
    // Granted: the same reference resolves.
    let p = corp(&rt, &[&base], &[("service-url", &base)]);
    assert!(matches!(
        resolved(&p, "corp:sensu").source,
        Source::Git { .. }
    ));
}

fn pack_context(source: &str) -> PackContext {
    PackContext {
        pack: PackSummary {
            name: "sensu".into(),
            version: Some("1.2.0".into()),
            description: None,
            metadata: vec![],
        },
        source: source.into(),
        environment: Some("prod".into()),
        overrides: vec![],
    }
}

fn resource(kind: ResourceKind, name: &str) -> PackResource {
    PackResource {
        kind,
        ref_: format!("sensu.{name}"),
        name: name.into(),
        enabled: true,
        file: format!("{name}.yaml"),
        metadata: vec![],
    }
}

fn resources() -> Vec<PackResource> {
    vec![
        resource(ResourceKind::Sensor, "watcher"),
        resource(ResourceKind::Action, "notify"),
        resource(ResourceKind::Rule, "on_alert"),
        resource(ResourceKind::Alias, "say"),
    ]
}

const TRUSTED: &str = "git:gitlab.corp.example/";

#[test]
fn corp_policy_trusts_only_its_gitlab() {
    let rt = runtime();
    let p = corp_policy(&rt, &[("trusted-source-prefix", TRUSTED)]);
    assert_eq!(p.kind(), PluginKind::Policy);
    assert_eq!(p.describe().unwrap().name, "corp-policy");

    let trusted = pack_context("git:gitlab.corp.example/ops/sensu@4f2a9c1");
    let verdicts = p.decide(&trusted, &resources()).unwrap().unwrap();
    assert_eq!(verdicts, vec![Verdict::Keep; 4]);

    let source = "git:github.com/StackStorm-Exchange/stackstorm-sensu@4f2a9c1";
    let verdicts = p
        .decide(&pack_context(source), &resources())
        .unwrap()
        .unwrap();
    assert_eq!(
        verdicts,
        [
            Verdict::Disable(format!(
                "corp-policy: sensors only run from packs installed from {TRUSTED}; sensu came \
                 from {source}"
            )),
            Verdict::Keep,
            Verdict::Keep,
            Verdict::Keep,
        ]
    );
}

#[test]
fn corp_policy_without_its_config_fails_the_decision() {
    let rt = runtime();
    let p = corp_policy(&rt, &[]);
    let ctx = pack_context("git:github.com/x/y@1");
    match p.decide(&ctx, &resources()).unwrap() {
        Err(m) => assert!(
            m.contains("trusted-source-prefix")
                && m.contains("[plugins.corp-policy] config = { trusted-source-prefix = "),
            "{m}"
        ),
        Ok(v) => panic!("expected an error, got {v:?}"),
    }
}

#[test]
fn future_api_version_is_refused_with_the_supported_ones() {
    let rt = runtime();
    let err = match load(&rt, "future", future_api_wasm(), &[], &[]) {
        Ok(p) => panic!("loaded a plugin for API {}", p.api_version()),
        Err(e) => e,
    };
    match &err {
        PluginError::UnsupportedApi {
            plugin,
            found,
            supported,
        } => {
            assert_eq!(plugin, "future");
            assert_eq!(found, "0.2.0");
            assert_eq!(supported, &SUPPORTED_API_VERSIONS.join(", "));
        }
        other => panic!("expected UnsupportedApi, got {other}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("plugin future") && msg.contains("stackpack:plugin@0.2.0"),
        "{msg}"
    );
    assert!(!SUPPORTED_API_VERSIONS.is_empty());
    for v in SUPPORTED_API_VERSIONS {
        assert!(msg.contains(v), "{v} missing from: {msg}");
    }
}
