#![allow(clippy::unwrap_used, clippy::expect_used)]

use stackpack_plugin_sdk::resolver::{OciDescriptor, OciManifest};

use crate::choose::*;

fn tags(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn desc(media_type: &str, digest: &str) -> OciDescriptor {
    OciDescriptor {
        media_type: media_type.into(),
        digest: digest.into(),
        size: 10,
    }
}

fn manifest(artifact: Option<&str>, layers: Vec<OciDescriptor>) -> OciManifest {
    OciManifest {
        digest: format!("sha256:{}", "1".repeat(64)),
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        artifact_type: artifact.map(str::to_string),
        config: desc(PACK_CONFIG_TYPE, &format!("sha256:{}", "2".repeat(64))),
        layers,
        annotations: Vec::new(),
    }
}

/// Safe outcome: a range picks the highest tag inside it, never one outside it, and
/// never a pre-release the range does not name.
#[test]
fn a_range_picks_the_highest_matching_semver_tag() {
    let t = tags(&[
        "1.0.0",
        "1.2.0",
        "v1.3.1",
        "2.0.0",
        "2.1.0-rc1",
        "latest",
        "dev",
    ]);
    assert_eq!(choose_tag(&t, Some(">=1.0,<2")).unwrap(), "v1.3.1");
    assert_eq!(choose_tag(&t, Some("^1.1")).unwrap(), "v1.3.1");
    assert_eq!(choose_tag(&t, Some("~1.2")).unwrap(), "1.2.0");
    assert_eq!(choose_tag(&t, Some(">=2")).unwrap(), "2.0.0");
    assert_eq!(choose_tag(&t, Some("1.2")).unwrap(), "1.2.0");
    let e = choose_tag(&t, Some(">=3")).unwrap_err();
    assert!(e.contains("no tag is `>=3` or a version in >=3"), "{e}");
    assert!(e.contains("2.1.0-rc1, 2.0.0, v1.3.1, 1.2.0, 1.0.0"), "{e}");
}

/// Safe outcome: an exact tag is taken as written (also a non-version one), then with
/// a `v`; an unknown name that is no range is refused, naming the tags there are.
#[test]
fn an_exact_tag_wins_over_reading_it_as_a_range() {
    let t = tags(&["1.0", "v2.0.0", "stable"]);
    assert_eq!(choose_tag(&t, Some("1.0")).unwrap(), "1.0");
    assert_eq!(choose_tag(&t, Some("stable")).unwrap(), "stable");
    assert_eq!(choose_tag(&t, Some("2.0.0")).unwrap(), "v2.0.0");
    let e = choose_tag(&t, Some("nightly")).unwrap_err();
    assert!(
        e.contains("no tag is `nightly`") && e.contains("not a version range"),
        "{e}"
    );
}

/// Safe outcome: with nothing asked, the highest release wins over `latest` (which may
/// point anywhere); `latest` is the fallback; neither is an error saying how to name a tag.
#[test]
fn no_version_means_the_highest_release_else_latest() {
    assert_eq!(
        choose_tag(&tags(&["latest", "0.9.0", "1.1.0", "1.2.0-beta"]), None).unwrap(),
        "1.1.0"
    );
    assert_eq!(
        choose_tag(&tags(&["latest", "dev", "1.0.0-rc1"]), None).unwrap(),
        "latest"
    );
    let e = choose_tag(&tags(&["dev"]), None).unwrap_err();
    assert!(
        e.contains("neither") && e.contains("oci://host/repo:tag"),
        "{e}"
    );
}

/// Safe outcome: references parse into registry, repository, tag and digest;
/// credentials, upper case and a bad digest are refused with the reason; other schemes
/// are not this resolver's.
#[test]
fn locators_parse_or_say_why_not() {
    let hex = "a".repeat(64);
    let l = Locator::parse(&format!(
        "oci://127.0.0.1:5000/packs/hello:1.0@sha256:{hex}"
    ))
    .unwrap()
    .unwrap();
    assert_eq!(l.registry, "127.0.0.1:5000");
    assert_eq!(l.repository, "packs/hello");
    assert_eq!(l.tag.as_deref(), Some("1.0"));
    assert_eq!(l.digest, Some(format!("sha256:{hex}")));
    assert_eq!(l.canonical(), "127.0.0.1:5000/packs/hello");
    assert_eq!(l.repository_ref(), "oci://127.0.0.1:5000/packs/hello");
    assert_eq!(
        l.to_string(),
        format!("oci://127.0.0.1:5000/packs/hello:1.0@sha256:{hex}")
    );
    let bare = Locator::parse("OCI://Reg.example/p").unwrap().unwrap();
    assert_eq!(
        (bare.registry.as_str(), bare.tag.clone()),
        ("reg.example", None)
    );
    assert_eq!(Locator::parse("https://h/p").unwrap(), None);
    assert_eq!(Locator::parse("aws").unwrap(), None);
    for (bad, why) in [
        ("oci://u:pw@h/p", "[[credentials]]"),
        ("oci://h/Packs", "not a repository name"),
        ("oci://h/p@sha256:12", "not a digest"),
        ("oci://h", "names no repository"),
        ("oci:///p", "names no registry"),
    ] {
        let e = Locator::parse(bad).unwrap_err();
        assert!(e.contains(why), "{bad}: {e}");
        assert!(!e.contains("pw"), "{bad}: {e}");
    }
}

/// Safe outcome: only a pack artifact with exactly one pack layer is accepted; the
/// refusal names the type found and the type a pack has.
#[test]
fn only_a_pack_manifest_yields_a_layer() {
    let layer = desc(PACK_LAYER_TYPE, &format!("sha256:{}", "3".repeat(64)));
    assert_eq!(
        pack_layer(&manifest(Some(PACK_ARTIFACT_TYPE), vec![layer.clone()])).unwrap(),
        format!("sha256:{}", "3".repeat(64))
    );
    // Without an artifact type, the config media type stands for it.
    assert!(pack_layer(&manifest(None, vec![layer.clone()])).is_ok());
    let e = pack_layer(&manifest(
        Some("application/vnd.example.thing"),
        vec![layer.clone()],
    ))
    .unwrap_err();
    assert!(
        e.contains("application/vnd.example.thing") && e.contains(PACK_ARTIFACT_TYPE),
        "{e}"
    );
    let e = pack_layer(&manifest(
        Some(PACK_ARTIFACT_TYPE),
        vec![desc("application/wasm", "sha256:x")],
    ))
    .unwrap_err();
    assert!(
        e.contains("application/wasm") && e.contains(PACK_LAYER_TYPE),
        "{e}"
    );
    let e = pack_layer(&manifest(
        Some(PACK_ARTIFACT_TYPE),
        vec![layer.clone(), layer],
    ))
    .unwrap_err();
    assert!(
        e.contains("exactly one layer") && e.contains("2 layers"),
        "{e}"
    );
    let e = pack_layer(&manifest(Some(PACK_ARTIFACT_TYPE), vec![])).unwrap_err();
    assert!(e.contains("0 layers"), "{e}");
}
