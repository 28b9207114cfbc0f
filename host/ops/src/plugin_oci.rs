//! Plugins as OCI artifacts: `plugin add oci://HOST[:PORT]/REPO:TAG --sha256 …` pulls a
//! wasm component pushed with `stackpack push --plugin` (artifact type
//! `application/vnd.stackpack.plugin.v1`, one `application/wasm` layer) through the
//! session's registry client; the caller checks the bytes against the pinned sha256 as for
//! any other source.

use std::collections::BTreeMap;
use std::path::Path;

use stackpack_core::OciRef;
use stackpack_oci::{Artifact, ArtifactKind, OciError, media};

use crate::error::OpsError;
use crate::push::PushReport;
use crate::session::Session;

/// The component `source` names, verified against its layer digest and capped at
/// `max_bytes`, with the reference as it may be shown.
pub fn pull(
    s: &Session,
    plugin: &str,
    source: &str,
    max_bytes: u64,
) -> Result<(Vec<u8>, String), OpsError> {
    let read_err = |from: String, reason: String, hint: &str| OpsError::PluginRead {
        plugin: plugin.to_string(),
        from,
        reason,
        hint: hint.to_string(),
    };
    let reference: OciRef = source.parse().map_err(|e: stackpack_core::CoreError| {
        read_err(
            stackpack_core::redact_url(source),
            e.to_string(),
            "write it as oci://HOST[:PORT]/REPO:TAG or oci://HOST[:PORT]/REPO@sha256:...",
        )
    })?;
    let shown = reference.to_string();
    if reference.tag.is_none() && reference.digest.is_none() {
        return Err(read_err(
            shown,
            "it names no tag and no digest".into(),
            "name the tag (oci://HOST/REPO:1.0.0) or the digest (oci://HOST/REPO@sha256:...)",
        ));
    }
    if s.offline {
        return Err(read_err(
            shown,
            "the network is off (--offline)".into(),
            "run without --offline",
        ));
    }
    let net = s.net()?;
    let client = net.oci_client(&reference)?;
    let kind = ArtifactKind {
        name: "a plugin",
        artifact_type: media::PLUGIN_ARTIFACT,
        layer_type: media::PLUGIN_LAYER,
        fix: "point at a plugin pushed with `stackpack push --plugin FILE.wasm oci://...`",
    };
    let (_, bytes) = client
        .pull_single_layer(&reference, &kind, max_bytes)
        .map_err(|e| match e {
            OciError::WrongArtifact {
                found, expected, ..
            } => read_err(
                shown.clone(),
                format!("it is {found}, not {expected}"),
                kind.fix,
            ),
            e => e.into(),
        })?;
    Ok((bytes, shown))
}

/// `stackpack push --plugin FILE.wasm oci://HOST[:PORT]/REPO:TAG`: the component as a
/// plugin artifact. The bytes are not loaded: whoever adds it pins its sha256.
pub fn push_plugin(s: &Session, wasm: &Path, target: &str) -> Result<PushReport, OpsError> {
    let failed = |reason: String, fix: &str| OpsError::Push {
        what: wasm.display().to_string(),
        reason,
        fix: fix.to_string(),
    };
    if s.offline {
        return Err(failed(
            "--offline forbids the network".into(),
            "run it without --offline",
        ));
    }
    let reference: OciRef = target.parse().map_err(|e: stackpack_core::CoreError| {
        failed(e.to_string(), "write it as oci://HOST[:PORT]/REPO:TAG")
    })?;
    if reference.tag.is_none() || reference.digest.is_some() {
        return Err(failed(
            format!("{reference} does not name a tag (and only a tag)"),
            "name the tag, e.g. oci://HOST/plugins/NAME:1.0.0",
        ));
    }
    let bytes = stackpack_fs::read_limited(wasm, crate::chain::MAX_PLUGIN_BYTES).map_err(|e| {
        failed(
            format!("cannot read it: {e}"),
            "give the path of a .wasm component",
        )
    })?;
    if !bytes.starts_with(b"\0asm") {
        return Err(failed(
            "it is not WebAssembly (no \\0asm header)".into(),
            "give the path of a .wasm component",
        ));
    }
    let sha256 = stackpack_plugin::sha256_hex(&bytes);
    let name = wasm
        .file_stem()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let config = serde_json::to_vec(&serde_json::json!({ "name": name, "sha256": sha256 }))
        .map_err(|e| failed(format!("cannot write its config: {e}"), "report this"))?;
    let artifact = Artifact {
        artifact_type: media::PLUGIN_ARTIFACT.to_string(),
        config: (PLUGIN_CONFIG.to_string(), config),
        layers: vec![(media::PLUGIN_LAYER.to_string(), bytes)],
        annotations: BTreeMap::from([("org.opencontainers.image.title".to_string(), name)]),
    };
    crate::push::upload(
        s,
        &reference,
        &artifact,
        "plugin",
        format!("sha256:{sha256}"),
    )
}

/// A plugin's config blob: JSON with its file name and the sha256 of the component.
pub const PLUGIN_CONFIG: &str = "application/vnd.stackpack.plugin.config.v1+json";
