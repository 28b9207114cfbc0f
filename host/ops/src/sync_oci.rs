//! The desired lockfile of `sync oci://…`: a lockfile artifact (as `push --lockfile`
//! writes it) pulled from a registry. Its manifest must say it is one (artifact type and
//! its single layer's media type); the layer is pulled by digest, capped and verified
//! before it is read, then unpacked in memory: `stackpack.lock` and the files under
//! `overrides/`, nothing else (no link, no other path, no `..`).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Component;

use stackpack_core::OciRef;
use stackpack_install::sync::{self as core_sync, Desired};
use stackpack_oci::{ArtifactKind, OciError, media};

use crate::error::OpsError;
use crate::session::Session;
use crate::sync::MAX_LOCKFILE_BYTES;

/// The largest lockfile layer pulled (compressed).
pub const MAX_LOCKFILE_LAYER_BYTES: u64 = 16 << 20;

/// The most bytes a lockfile layer may unpack to.
const MAX_UNPACKED_BYTES: u64 = 64 << 20;

/// Reads the lockfile artifact `source` names (`oci://HOST[:PORT]/REPO:TAG` or
/// `…@sha256:…`) through the session's registry client; its revision is the manifest
/// digest.
pub fn fetch(s: &Session, source: &str) -> Result<Desired, OpsError> {
    let reference: OciRef =
        source
            .parse()
            .map_err(|e: stackpack_core::CoreError| OpsError::SyncSource {
                from: stackpack_core::redact_url(source),
                reason: e.to_string(),
            })?;
    let shown = reference.to_string();
    let refuse = |reason: String| OpsError::SyncSource {
        from: shown.clone(),
        reason,
    };
    if reference.tag.is_none() && reference.digest.is_none() {
        return Err(refuse(
            "it names no tag and no digest; name the channel (oci://HOST/REPO:prod) or the \
             revision (oci://HOST/REPO@sha256:...)"
                .to_string(),
        ));
    }
    if s.offline {
        return Err(refuse(
            "the network is off (offline mode); sync from a path instead".to_string(),
        ));
    }
    let net = s.net()?;
    let client = net.oci_client(&reference)?;
    let kind = ArtifactKind {
        name: "a lockfile",
        artifact_type: media::LOCKFILE_ARTIFACT,
        layer_type: media::LOCKFILE_LAYER,
        fix: "push a root's lockfile there with `stackpack push --lockfile`",
    };
    // Pulled by digest, capped and verified before a byte of it is read.
    let (manifest, bytes) = client
        .pull_single_layer(&reference, &kind, MAX_LOCKFILE_LAYER_BYTES)
        .map_err(|e| match e {
            OciError::NotFound { .. } => OpsError::SyncSourceMissing {
                from: shown.clone(),
            },
            OciError::WrongArtifact {
                found,
                expected,
                fix,
                ..
            } => refuse(format!("it is {found}, not {expected}; {fix}")),
            e => OpsError::from(e),
        })?;
    desired_from_layer(&shown, &manifest.digest, &bytes)
}

/// What a lockfile layer holds.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct LockfileLayer {
    pub lockfile: Vec<u8>,
    /// Path under `overrides/` → bytes.
    pub overrides: BTreeMap<String, Vec<u8>>,
}

/// Unpacks a lockfile layer (a tar+gzip) in memory; `shown` names the artifact in errors.
pub fn unpack_lockfile_layer(shown: &str, layer: &[u8]) -> Result<LockfileLayer, OpsError> {
    let refuse = |reason: String| OpsError::SyncSource {
        from: shown.to_string(),
        reason,
    };
    let gz = flate2::read::GzDecoder::new(layer);
    let mut archive = tar::Archive::new(gz.take(MAX_UNPACKED_BYTES));
    let mut out = LockfileLayer::default();
    let mut seen_lockfile = false;
    let entries = archive
        .entries()
        .map_err(|e| refuse(format!("its layer is not a readable tar+gzip: {e}")))?;
    for entry in entries {
        let mut entry =
            entry.map_err(|e| refuse(format!("its layer is not a readable tar+gzip: {e}")))?;
        let path = entry
            .path()
            .map_err(|e| refuse(format!("its layer names an unreadable path: {e}")))?
            .into_owned();
        let shown_path = path.display().to_string();
        let mut parts = Vec::new();
        for c in path.components() {
            match c {
                Component::Normal(p) => match p.to_str() {
                    Some(p) => parts.push(p.to_string()),
                    None => {
                        return Err(refuse(format!(
                            "its layer holds {shown_path:?}, a path that is not UTF-8"
                        )));
                    }
                },
                Component::CurDir => {}
                _ => {
                    return Err(refuse(format!(
                        "its layer holds {shown_path:?}, a path that leaves the lockfile \
                         directory"
                    )));
                }
            }
        }
        let kind = entry.header().entry_type();
        let in_overrides = parts.first().is_some_and(|p| p == "overrides");
        if kind.is_dir() && in_overrides {
            continue;
        }
        if !kind.is_file() {
            return Err(refuse(format!(
                "its layer holds {shown_path:?}, which is not a regular file (links and \
                 special files are refused)"
            )));
        }
        let cap = if in_overrides {
            core_sync::MAX_OVERRIDE_BYTES
        } else {
            MAX_LOCKFILE_BYTES
        };
        if entry.size() > cap {
            return Err(refuse(format!(
                "{shown_path} in its layer is {} bytes, more than {cap}",
                entry.size()
            )));
        }
        let mut bytes = Vec::new();
        (&mut entry)
            .take(cap)
            .read_to_end(&mut bytes)
            .map_err(|e| refuse(format!("cannot read {shown_path} in its layer: {e}")))?;
        if parts.len() == 1 && parts[0] == "stackpack.lock" {
            if seen_lockfile {
                return Err(refuse("its layer holds stackpack.lock twice".to_string()));
            }
            seen_lockfile = true;
            out.lockfile = bytes;
        } else if in_overrides && parts.len() > 1 {
            let rel = parts[1..].join("/");
            core_sync::check_override_path(&rel).map_err(&refuse)?;
            if out.overrides.insert(rel.clone(), bytes).is_some() {
                return Err(refuse(format!("its layer holds overrides/{rel} twice")));
            }
            if out.overrides.len() > core_sync::MAX_OVERRIDE_FILES {
                return Err(refuse(format!(
                    "its layer holds more than {} override files",
                    core_sync::MAX_OVERRIDE_FILES
                )));
            }
        } else {
            return Err(refuse(format!(
                "its layer holds {shown_path:?}; a lockfile artifact holds only \
                 stackpack.lock and overrides/"
            )));
        }
    }
    if !seen_lockfile {
        return Err(refuse(
            "its layer holds no stackpack.lock; push one with `stackpack push --lockfile`"
                .to_string(),
        ));
    }
    Ok(out)
}

/// The desired state a lockfile layer describes, as revision `digest` (the manifest's).
pub fn desired_from_layer(shown: &str, digest: &str, layer: &[u8]) -> Result<Desired, OpsError> {
    let unpacked = unpack_lockfile_layer(shown, layer)?;
    let install = |e| OpsError::Install(Box::new(e));
    let mut desired = Desired::parse(shown, unpacked.lockfile)
        .map_err(install)?
        .with_overrides(unpacked.overrides)
        .map_err(install)?;
    desired.revision = Some(digest.to_string());
    Ok(desired)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const LOCK: &str = "version = 1\n";

    /// A tar+gzip of `entries` (path, type, content) written with raw names, so that
    /// hostile paths reach the reader as they would from a registry.
    fn layer(entries: &[(&str, tar::EntryType, &str)]) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut b = tar::Builder::new(gz);
        for (path, kind, content) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_mode(0o644);
            if *kind == tar::EntryType::Symlink {
                h.set_link_name(content).unwrap();
                h.set_size(0);
            } else {
                h.set_size(content.len() as u64);
            }
            let name = &mut h.as_old_mut().name;
            name[..path.len()].copy_from_slice(path.as_bytes());
            h.set_cksum();
            let data: &[u8] = if *kind == tar::EntryType::Symlink {
                b""
            } else {
                content.as_bytes()
            };
            b.append(&h, data).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap()
    }

    use tar::EntryType::{Directory as D, Regular as F, Symlink as L};

    /// The lockfile and the override files come out as they went in, nested ones too.
    #[test]
    fn a_lockfile_layer_gives_its_lockfile_and_overrides() {
        let got = unpack_lockfile_layer(
            "oci://r/fleet:prod",
            &layer(&[
                ("overrides", D, ""),
                ("overrides/_global.yaml", F, "defaults: {}\n"),
                ("overrides/sub", D, ""),
                ("overrides/sub/x.yaml", F, "x"),
                ("stackpack.lock", F, LOCK),
            ]),
        )
        .unwrap();
        assert_eq!(got.lockfile, LOCK.as_bytes());
        assert_eq!(
            got.overrides.keys().collect::<Vec<_>>(),
            vec!["_global.yaml", "sub/x.yaml"]
        );
        let d = desired_from_layer(
            "oci://r/fleet:prod",
            "sha256:ab",
            &layer(&[("stackpack.lock", F, LOCK)]),
        )
        .unwrap();
        assert_eq!(d.digest(), "sha256:ab");
        assert_eq!(d.overrides, Some(BTreeMap::new()));
    }

    /// Links, paths that climb out, other files, a missing lockfile and garbage are
    /// refused naming the artifact and the entry; nothing is returned.
    #[test]
    fn hostile_or_foreign_layers_are_refused() {
        for (entries, says) in [
            (
                vec![
                    ("stackpack.lock", F, LOCK),
                    ("overrides/a.yaml", L, "/etc/passwd"),
                ],
                "overrides/a.yaml",
            ),
            (
                vec![("stackpack.lock", F, LOCK), ("overrides/../../x", F, "x")],
                "leaves",
            ),
            (
                vec![("stackpack.lock", F, LOCK), ("/etc/x", F, "x")],
                "leaves",
            ),
            (
                vec![("stackpack.lock", F, LOCK), ("packs/a", F, "x")],
                "packs/a",
            ),
            (
                vec![("stackpack.lock", L, "/etc/passwd")],
                "not a regular file",
            ),
            (vec![("overrides/a.yaml", F, "x")], "no stackpack.lock"),
            (
                vec![("stackpack.lock", F, LOCK), ("stackpack.lock", F, LOCK)],
                "twice",
            ),
        ] {
            let e = unpack_lockfile_layer("oci://r/fleet:prod", &layer(&entries))
                .unwrap_err()
                .to_string();
            assert!(e.contains("oci://r/fleet:prod"), "{e}");
            assert!(e.contains(says), "{says}: {e}");
        }
        let e = unpack_lockfile_layer("oci://r/fleet:prod", b"not gzip")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a readable tar+gzip"), "{e}");
    }
}
