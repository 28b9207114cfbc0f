//! Native tests of the service glue, with canned answers.

use super::*;
use crate::resolver::GitRef;

const URL: &str = "https://packs.corp.example/packs/sensu";

fn pack_ref(raw: &str) -> PackRef {
    let (locator, requested) = match raw.rsplit_once('=') {
        Some((l, r)) => (l.to_string(), Some(r.to_string())),
        None => (raw.to_string(), None),
    };
    PackRef {
        raw: raw.into(),
        locator,
        requested,
    }
}

fn answer(raw: &str, status: u16, body: &str) -> Result<Entry, PluginError> {
    let r = pack_ref(raw);
    let name = claim(&r, "corp:")?;
    answer_entry(&r, name, URL, Ok((status, body.as_bytes().to_vec())))
}

fn message(r: Result<Entry, PluginError>) -> String {
    match r {
        Err(
            PluginError::NotFound(m)
            | PluginError::Other(m)
            | PluginError::Unavailable(m)
            | PluginError::Denied(m)
            | PluginError::InvalidReference(m),
        ) => m,
        other => panic!("expected an error with a message, got {other:?}"),
    }
}

#[test]
fn claims_only_prefixed_references() {
    for other in [
        "sensu",
        "owner/repo",
        "https://corp.example/x",
        "Corp:sensu",
    ] {
        assert!(
            matches!(
                claim(&pack_ref(other), "corp:"),
                Err(PluginError::NotApplicable)
            ),
            "{other}"
        );
    }
    assert_eq!(
        claim(&pack_ref("corp:my_pack-2=1.0"), "corp:").ok(),
        Some("my_pack-2")
    );
    for bad in ["corp:", "corp:a/b", "corp:x?y", "corp:sensu="] {
        match claim(&pack_ref(bad), "corp:") {
            Err(PluginError::InvalidReference(m)) => assert!(m.contains(bad), "{m}"),
            other => panic!("{bad}: {other:?}"),
        }
    }
    let m = message(claim(&pack_ref("corp:a/b"), "corp:").map(|_| unreachable!()));
    assert!(
        m.contains("not a corp pack reference: expected corp:<name>"),
        "{m}"
    );
}

#[test]
fn a_json_object_is_an_entry() {
    let e = answer(
        "corp:sensu",
        200,
        r#"{"git_url": " https://g/x ", "ref": "", "n": 1}"#,
    )
    .unwrap();
    assert_eq!(e.text("git_url").as_deref(), Some("https://g/x"));
    assert_eq!(e.text("ref"), None, "an empty string is no value");
    assert_eq!(e.text("n"), None, "a number is no text");
    assert_eq!(e.raw, "corp:sensu");
    let m = message(Err(e.unusable("no \"git_url\"")));
    assert!(
        m.contains(URL) && m.contains("HTTP 200: no \"git_url\""),
        "{m}"
    );
}

#[test]
fn errors_name_the_reference_the_url_and_the_status() {
    let cases = [
        (404, "nope", "HTTP 404"),
        (500, "", "HTTP 500"),
        (403, "", "HTTP 403"),
        (200, "<html>", "invalid JSON"),
        (200, "[1]", "not a JSON object"),
    ];
    for (status, body, expected) in cases {
        let m = message(answer("corp:sensu=1.0", status, body));
        assert!(
            m.contains("\"corp:sensu=1.0\"") && m.contains(URL) && m.contains(expected),
            "{status} {body}: {m}"
        );
    }
    assert!(matches!(
        answer("corp:sensu", 404, ""),
        Err(PluginError::NotFound(_))
    ));
    assert!(matches!(
        answer("corp:sensu", 503, ""),
        Err(PluginError::Unavailable(_))
    ));
    assert!(matches!(
        answer("corp:sensu", 429, ""),
        Err(PluginError::Unavailable(_))
    ));
}

#[test]
fn network_failures() {
    let r = pack_ref("corp:sensu");
    let denied = NetError::Denied("https://packs.corp.example is not granted".into());
    match answer_entry(&r, "sensu", URL, Err(denied)) {
        Err(PluginError::Denied(m)) => {
            assert!(m.contains("--grant https://packs.corp.example"), "{m}")
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        answer_entry(&r, "sensu", URL, Err(NetError::Offline)),
        Err(PluginError::Unavailable(_))
    ));
    assert!(matches!(
        answer_entry(&r, "sensu", URL, Err(NetError::TooLarge(9))),
        Err(PluginError::Other(m)) if m.contains("too large (9 bytes)")
    ));
}

#[test]
fn service_url_from_config() {
    let r = pack_ref("corp:sensu");
    let url = |v: Option<String>| service_url(&r, "corp", "service-url", "https://x.example", v);
    assert_eq!(
        url(Some(" https://packs.corp.example/ ".into())).ok(),
        Some("https://packs.corp.example".into())
    );
    for missing in [None, Some(String::new()), Some("packs.corp.example".into())] {
        let m = match url(missing) {
            Err(PluginError::Other(m)) => m,
            other => panic!("{other:?}"),
        };
        assert!(
            m.contains("service-url")
                && m.contains("corp:sensu")
                && m.contains("[plugins.corp] config = { service-url = \"https://x.example\" }"),
            "{m}"
        );
    }
    assert_eq!(
        origin("HTTPS://u@Packs.corp.example:8443/base?x").as_deref(),
        Some("https://packs.corp.example:8443")
    );
    assert_eq!(origin("file:///x"), None);
}

#[test]
fn archives_need_a_valid_digest() {
    let sha = "ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789";
    match archive("https://h/f/sensu.ZIP?x=1".into(), &format!("sha256:{sha}")) {
        Some(Resolution::Archive(a)) => {
            assert_eq!(a.digest, format!("sha256:{}", sha.to_ascii_lowercase()));
            assert_eq!(a.format, ArchiveFormat::Zip);
            assert_eq!(a.url, "https://h/f/sensu.ZIP?x=1");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        archive("https://h/x.tar.gz".into(), sha),
        Some(Resolution::Archive(a)) if a.format == ArchiveFormat::TarGz
    ));
    assert!(archive("https://h/x.tar.gz".into(), "abc").is_none());
}

#[test]
fn policies_name_the_missing_key() {
    let err = crate::policy::required("p", "k", "v", Some("  ".into())).unwrap_err();
    assert_eq!(
        err,
        "p: `k` is not configured; set it in the config: [plugins.p] config = { k = \"v\" }"
    );
    assert_eq!(
        crate::policy::required("p", "k", "v", Some(" x ".into())).as_deref(),
        Ok("x")
    );
}

#[test]
fn entries_resolve_by_the_pack_service_convention() {
    let sha = "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789";
    let git = answer(
        "corp:sensu",
        200,
        r#"{"git_url": "https://g/x", "ref": "v1"}"#,
    )
    .unwrap();
    let ref_of = |r: Result<Resolution, PluginError>| match r {
        Ok(Resolution::Git(g)) => g.ref_,
        other => panic!("{other:?}"),
    };
    assert!(matches!(ref_of(git.resolution("sensu", None)), GitRef::Any(v) if v == "v1"));
    assert!(matches!(ref_of(git.resolution("sensu", Some("2"))), GitRef::Any(v) if v == "2"));
    let bare = answer("corp:sensu", 200, r#"{"git_url": "https://g/x"}"#).unwrap();
    assert!(matches!(
        ref_of(bare.resolution("sensu", None)),
        GitRef::DefaultBranch
    ));
    assert_eq!(bare.summary("sensu").name, "sensu");

    let body = format!(
        r#"{{"archive_url": "https://h/a.tar.gz", "sha256": "{sha}", "version": "1.0", "name": "Sensu"}}"#
    );
    let archive = answer("corp:sensu", 200, &body).unwrap();
    assert!(matches!(
        archive.resolution("sensu", Some("1.0")),
        Ok(Resolution::Archive(_))
    ));
    assert!(matches!(
        archive.resolution("sensu", Some("2.0")),
        Err(PluginError::NotFound(m)) if m.contains("only as an archive of version 1.0")
    ));
    let summary = archive.summary("sensu");
    assert_eq!(
        (summary.name.as_str(), summary.version.as_deref()),
        ("Sensu", Some("1.0"))
    );
    let neither = answer("corp:sensu", 200, "{}").unwrap();
    assert!(matches!(
        neither.resolution("sensu", None),
        Err(PluginError::Other(m)) if m.contains("neither \"git_url\" nor \"archive_url\"")
    ));
}
