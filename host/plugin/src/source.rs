//! The one place WIT source types meet the host's: a resolver's `resolved` answer becomes
//! a [`Resolved`] holding a [`stackpack_core::Source`], and the host's parsed reference
//! becomes the WIT `pack-ref` a resolver receives. Nothing past this module sees a WIT
//! resolution.

use std::path::PathBuf;

use stackpack_core::oci::OciRef;
use stackpack_core::{ArchiveFormat, GitRef, Sha256, Source, redact_url};

use crate::bindings::{self, PackSummary};

/// A resolver's answer in the host's terms.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    /// Where to get the pack.
    pub source: Source,
    /// Identity for the lockfile and for policies, e.g. `gitlab.com/ex/pack`.
    pub canonical: String,
    /// What the resolver knows about the pack, for display and policies.
    pub summary: Option<PackSummary>,
}

/// The host's parsed reference as the WIT record a resolver receives: the raw text
/// and the host's own split (last `=` outside userinfo and query).
impl From<&stackpack_core::PackRef> for bindings::PackRef {
    fn from(r: &stackpack_core::PackRef) -> bindings::PackRef {
        bindings::PackRef {
            raw: r.raw().to_string(),
            locator: r.locator().to_string(),
            requested: r.requested().map(str::to_string),
        }
    }
}

impl From<&bindings::GitRef> for GitRef {
    fn from(r: &bindings::GitRef) -> GitRef {
        match r {
            bindings::GitRef::DefaultBranch => GitRef::DefaultBranch,
            bindings::GitRef::Any(x) => GitRef::Any(x.clone()),
            bindings::GitRef::Branch(x) => GitRef::Branch(x.clone()),
            bindings::GitRef::Tag(x) => GitRef::Tag(x.clone()),
            bindings::GitRef::Commit(x) => GitRef::Commit(x.clone()),
        }
    }
}

impl From<bindings::ArchiveFormat> for ArchiveFormat {
    fn from(f: bindings::ArchiveFormat) -> ArchiveFormat {
        match f {
            bindings::ArchiveFormat::TarGz => ArchiveFormat::TarGz,
            bindings::ArchiveFormat::Zip => ArchiveFormat::Zip,
        }
    }
}

/// A WIT resolution as a host source. An archive whose URL is `oci://` is an OCI
/// artifact ([`Source::Oci`]): its URL names the manifest by digest
/// (`oci://host/repo:tag@sha256:<manifest>`) and its digest is the pack layer's.
/// Refused, with the reason: an archive without a usable sha256 digest, an OCI archive
/// without a manifest digest or that is not a plain tar.gz, and a local path that is
/// not absolute.
impl TryFrom<&bindings::Resolution> for Source {
    type Error = String;

    fn try_from(r: &bindings::Resolution) -> Result<Source, String> {
        Ok(match r {
            bindings::Resolution::Git(g) => Source::Git {
                url: g.url.clone(),
                git_ref: GitRef::from(&g.ref_),
                subdir: g.subdir.clone(),
            },
            bindings::Resolution::Archive(a) if stackpack_core::oci::is_oci(&a.url) => oci(a)?,
            bindings::Resolution::Archive(a) => Source::Archive {
                url: a.url.clone(),
                sha256: a
                    .digest
                    .parse::<Sha256>()
                    .map_err(|e| format!("archive {}: {e}", redact_url(&a.url)))?,
                format: a.format.into(),
                strip_prefix: a.strip_prefix.clone(),
            },
            bindings::Resolution::Local(path) => {
                let path = PathBuf::from(path);
                if !path.is_absolute() {
                    return Err(format!(
                        "a relative path {}; local sources must be absolute",
                        path.display()
                    ));
                }
                Source::Local { path }
            }
        })
    }
}

/// An `oci://` archive resolution as [`Source::Oci`] (see the `TryFrom` above).
fn oci(
    a: &crate::bindings::resolver::stackpack::plugin::types::ArchiveSource,
) -> Result<Source, String> {
    let reference: OciRef = a
        .url
        .parse()
        .map_err(|e: stackpack_core::CoreError| e.to_string())?;
    let Some(manifest) = &reference.digest else {
        return Err(format!(
            "the OCI archive {reference} names no manifest digest; an OCI resolution is \
             oci://host/repo[:tag]@sha256:<manifest>"
        ));
    };
    let manifest = manifest
        .parse::<Sha256>()
        .map_err(|e| format!("OCI archive {reference}: {e}"))?;
    let layer = a
        .digest
        .parse::<Sha256>()
        .map_err(|e| format!("the layer digest of OCI archive {reference}: {e}"))?;
    if a.format != bindings::ArchiveFormat::TarGz || a.strip_prefix.is_some() {
        return Err(format!(
            "the OCI archive {reference} must be a tar.gz layer without a prefix to strip"
        ));
    }
    Ok(Source::Oci {
        registry: reference.registry,
        repository: reference.repository,
        tag: reference.tag,
        manifest,
        layer,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::bindings::resolver::stackpack::plugin::types::{ArchiveSource, GitSource};

    #[test]
    fn resolutions_become_sources() {
        let hex = "ab".repeat(32);
        let archive = bindings::Resolution::Archive(ArchiveSource {
            url: "https://h.example/p.zip".into(),
            digest: format!("SHA256:{}", hex.to_uppercase()),
            format: bindings::ArchiveFormat::Zip,
            strip_prefix: Some("p-1.0".into()),
        });
        assert_eq!(
            Source::try_from(&archive).unwrap(),
            Source::Archive {
                url: "https://h.example/p.zip".into(),
                sha256: hex.parse().unwrap(),
                format: ArchiveFormat::Zip,
                strip_prefix: Some("p-1.0".into()),
            }
        );
        let git = bindings::Resolution::Git(GitSource {
            url: "https://h.example/o/r".into(),
            ref_: bindings::GitRef::Any("1.0".into()),
            subdir: None,
        });
        assert_eq!(
            Source::try_from(&git).unwrap(),
            Source::Git {
                url: "https://h.example/o/r".into(),
                git_ref: GitRef::Any("1.0".into()),
                subdir: None,
            }
        );
    }

    /// Safe outcome: an `oci://` archive becomes an OCI source holding the manifest
    /// digest of its URL and the layer digest; one without a manifest digest, or with
    /// a format or prefix the layer cannot have, is refused.
    #[test]
    fn oci_archives_become_oci_sources() {
        let (m, l) = ("1".repeat(64), "2".repeat(64));
        let archive = |url: String, format| {
            bindings::Resolution::Archive(ArchiveSource {
                url,
                digest: format!("sha256:{l}"),
                format,
                strip_prefix: None,
            })
        };
        assert_eq!(
            Source::try_from(&archive(
                format!("oci://127.0.0.1:5000/packs/hello:1.0.0@sha256:{m}"),
                bindings::ArchiveFormat::TarGz
            ))
            .unwrap(),
            Source::Oci {
                registry: "127.0.0.1:5000".into(),
                repository: "packs/hello".into(),
                tag: Some("1.0.0".into()),
                manifest: m.parse().unwrap(),
                layer: l.parse().unwrap(),
            }
        );
        let e = Source::try_from(&archive(
            "oci://127.0.0.1:5000/packs/hello:1.0.0".into(),
            bindings::ArchiveFormat::TarGz,
        ))
        .unwrap_err();
        assert!(e.contains("names no manifest digest"), "{e}");
        let e = Source::try_from(&archive(
            format!("oci://127.0.0.1:5000/packs/hello@sha256:{m}"),
            bindings::ArchiveFormat::Zip,
        ))
        .unwrap_err();
        assert!(e.contains("must be a tar.gz"), "{e}");
    }

    #[test]
    fn unusable_resolutions_are_refused_with_the_reason() {
        let archive = bindings::Resolution::Archive(ArchiveSource {
            url: "https://u:tok@h.example/p.tar.gz".into(),
            digest: "sha256:1234".into(),
            format: bindings::ArchiveFormat::TarGz,
            strip_prefix: None,
        });
        let e = Source::try_from(&archive).unwrap_err();
        assert!(
            e.contains("https://u:***@h.example/p.tar.gz") && e.contains("not 64 hex digits"),
            "{e}"
        );
        let local = bindings::Resolution::Local("packs/x".into());
        let e = Source::try_from(&local).unwrap_err();
        assert!(e.contains("relative path packs/x"), "{e}");
    }
}
