//! Native tests of the pure glue (the host imports are not callable here).

use super::*;

fn pack_ref(locator: &str, requested: Option<&str>) -> PackRef {
    PackRef {
        raw: locator.into(),
        locator: locator.into(),
        requested: requested.map(String::from),
    }
}

#[test]
fn resolve_git_takes_the_requested_ref() {
    let url = "https://u:t@github.com/o/r.git";
    let r = resolve_git(&pack_ref(url, None), url.into(), "github.com/o/r".into()).unwrap();
    assert_eq!(r.canonical, "github.com/o/r");
    assert!(r.summary.is_none());
    match r.resolution {
        Resolution::Git(g) => {
            assert_eq!(g.url, url);
            assert!(matches!(g.ref_, GitRef::DefaultBranch));
            assert!(g.subdir.is_none());
        }
        other => panic!("{other:?}"),
    }
    let r = resolve_git(&pack_ref("o/r", Some("v1")), "u".into(), "c".into()).unwrap();
    assert!(
        matches!(r.resolution, Resolution::Git(g) if matches!(&g.ref_, GitRef::Any(v) if v == "v1"))
    );
    match resolve_git(&pack_ref(url, Some("")), url.into(), "c".into()) {
        Err(PluginError::InvalidReference(m)) => {
            assert!(m.contains("nothing after '='"), "{m}");
            assert!(!m.contains("u:t@"), "{m}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn net_errors() {
    for (e, want) in [
        (NetError::Denied("no grant".into()), r#"Denied("no grant")"#),
        (
            NetError::Offline,
            r#"Unavailable("https://h/x: the host is offline")"#,
        ),
        (
            NetError::Timeout,
            r#"Unavailable("https://h/x: timed out")"#,
        ),
        (
            NetError::TooLarge(7),
            r#"Other("https://h/x: answer too large (7 bytes)")"#,
        ),
        (
            NetError::Transport("reset".into()),
            r#"Unavailable("https://h/x: reset")"#,
        ),
    ] {
        let got = format!("{:?}", net_error("https://h/x", e));
        assert_eq!(got.strip_prefix("PluginError::"), Some(want), "{got}");
    }
    assert_eq!(
        describe_net_error(&NetError::Denied("x".into())),
        "denied: x"
    );
}

#[test]
fn forge_locators() {
    let is_host = |h: &str| h == "forge.example";
    let rules = ForgeRules {
        name: "Forge",
        is_host: &is_host,
        shorthand_host: None,
        https_only_host: None,
        min_segments: 2,
        max_segments: Some(2),
        reject_dash_segment: false,
        expected: "https://forge.example/OWNER/REPO",
    };
    assert_eq!(
        locate_forge(" https://forge.example/o/r.git ", &rules).unwrap(),
        (
            "https://forge.example/o/r.git".to_string(),
            "forge.example/o/r".to_string()
        )
    );
    assert!(matches!(
        locate_forge("https://elsewhere.example/o/r", &rules),
        Err(PluginError::NotApplicable)
    ));
    assert!(matches!(
        locate_forge("https://forge.example/o", &rules),
        Err(PluginError::InvalidReference(m)) if m.contains("https://forge.example/OWNER/REPO")
    ));
}
