//! The client against a real registry (Debian's docker-registry), started per test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use stackpack_core::OciRef;
use stackpack_oci::{
    Artifact, Client, ClientConfig, OciError, RegistryAuth, RegistryCredential, media,
};
use stackpack_testkit::registry::{Registry, RegistryOptions};

/// Starts a registry, or says why the test cannot run (a failure when CI is set).
fn registry(options: RegistryOptions) -> Option<Registry> {
    match Registry::start(options) {
        Ok(r) => Some(r),
        Err(why) => {
            stackpack_testkit::cannot_run("the OCI registry", &why);
            None
        }
    }
}

fn artifact(layer: &[u8]) -> Artifact {
    Artifact {
        artifact_type: media::PACK_ARTIFACT.to_string(),
        config: (media::PACK_CONFIG.to_string(), br#"{"name":"p"}"#.to_vec()),
        layers: vec![(media::PACK_LAYER.to_string(), layer.to_vec())],
        annotations: BTreeMap::from([("org.opencontainers.image.title".into(), "p".into())]),
    }
}

fn insecure(reg: &Registry) -> ClientConfig {
    ClientConfig {
        insecure_registries: vec![reg.host_port().to_string()],
        ..Default::default()
    }
}

#[test]
fn push_then_manifest_tags_and_verified_blob_round_trip() {
    let Some(reg) = registry(RegistryOptions::default()) else {
        return;
    };
    let client = Client::new(&insecure(&reg)).unwrap();
    let r: OciRef = reg.oci("team/p:1.0.0").parse().unwrap();
    let pushed = client.push(&r, &artifact(b"layer bytes")).unwrap();
    let again = client
        .push(&r.with_tag("1.0.1"), &artifact(b"layer bytes"))
        .unwrap();
    assert_eq!(pushed.manifest_digest, again.manifest_digest);
    assert_eq!(client.list_tags(&r).unwrap(), ["1.0.0", "1.0.1"]);

    let m = client.manifest(&r).unwrap();
    assert_eq!(m.digest, pushed.manifest_digest);
    assert_eq!(m.artifact_type.as_deref(), Some(media::PACK_ARTIFACT));
    assert_eq!(m.layers, pushed.layers);
    let by_digest = client
        .manifest(&r.with_digest(pushed.manifest_digest.clone()))
        .unwrap();
    assert_eq!(by_digest, m);

    let mut out = Vec::new();
    client
        .pull_blob(&r, &m.layers[0], 1 << 20, &mut out)
        .unwrap();
    assert_eq!(out, b"layer bytes");

    // The registry's copy of the layer replaced: refused, naming both digests.
    std::fs::write(reg.blob_path(&m.layers[0].digest), b"LAYER BYTES").unwrap();
    let mut out = Vec::new();
    let err = client
        .pull_blob(&r, &m.layers[0], 1 << 20, &mut out)
        .unwrap_err();
    assert!(matches!(err, OciError::DigestMismatch { .. }), "{err}");
    assert!(err.to_string().contains(&m.layers[0].digest), "{err}");

    // A cap below the size refuses before reading.
    let err = client
        .pull_blob(&r, &m.layers[0], 3, &mut Vec::new())
        .unwrap_err();
    assert!(matches!(err, OciError::TooLarge { .. }), "{err}");

    let missing = client.manifest(&r.with_tag("9.9.9")).unwrap_err();
    assert!(matches!(missing, OciError::NotFound { .. }), "{missing}");
}

#[test]
fn credentials_are_needed_and_used_and_never_shown() {
    let secret = "s3cret-pw-XYZ";
    let Some(reg) = registry(RegistryOptions {
        htpasswd: Some(("alice".into(), secret.into())),
        tls: false,
    }) else {
        return;
    };
    let r: OciRef = reg.oci("p:1").parse().unwrap();
    let anonymous = Client::new(&insecure(&reg)).unwrap();
    let err = anonymous.push(&r, &artifact(b"x")).unwrap_err().to_string();
    assert!(
        err.contains("[[credentials]]") && err.contains(reg.host_port()),
        "{err}"
    );

    let wrong = ClientConfig {
        credentials: vec![RegistryCredential {
            url: format!("oci://{}/", reg.host_port()),
            auth: RegistryAuth::Basic {
                username: "alice".into(),
                password: "nope-PW".into(),
            },
        }],
        ..insecure(&reg)
    };
    let err = Client::new(&wrong)
        .unwrap()
        .push(&r, &artifact(b"x"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("refused") && !err.contains("nope-PW"), "{err}");

    let right = ClientConfig {
        credentials: vec![RegistryCredential {
            url: format!("oci://{}/", reg.host_port()),
            auth: RegistryAuth::Basic {
                username: "alice".into(),
                password: secret.into(),
            },
        }],
        ..insecure(&reg)
    };
    let client = Client::new(&right).unwrap();
    client.push(&r, &artifact(b"x")).unwrap();
    assert_eq!(client.list_tags(&r).unwrap(), ["1"]);
}

#[test]
fn tls_needs_the_ca_and_plain_http_needs_insecure_registries() {
    let Some(tls) = registry(RegistryOptions {
        htpasswd: None,
        tls: true,
    }) else {
        return;
    };
    let r: OciRef = tls.oci("p:1").parse().unwrap();
    let err = Client::new(&ClientConfig::default())
        .unwrap()
        .push(&r, &artifact(b"x"))
        .unwrap_err();
    assert!(matches!(err, OciError::Tls { .. }), "{err}");
    assert!(err.to_string().contains("proxy_ca_bundle_path"), "{err}");
    let trusted = ClientConfig {
        ca_bundle: tls.ca_path(),
        ..Default::default()
    };
    Client::new(&trusted)
        .unwrap()
        .push(&r, &artifact(b"x"))
        .unwrap();

    let Some(plain) = registry(RegistryOptions::default()) else {
        return;
    };
    let r: OciRef = plain.oci("p:1").parse().unwrap();
    let err = Client::new(&ClientConfig::default())
        .unwrap()
        .push(&r, &artifact(b"x"))
        .unwrap_err();
    assert!(matches!(err, OciError::PlainHttp { .. }), "{err}");
    assert!(err.to_string().contains("insecure_registries"), "{err}");
}
