//! `oci`: packs stored as OCI artifacts in a registry, `oci://HOST[:PORT]/REPO[:TAG]`
//! or `oci://HOST[:PORT]/REPO@sha256:<hex>`. The host does the registry I/O (tags and
//! manifests, through `oci-list-tags` and `oci-get-manifest`); this plugin decides:
//!
//! - which tag: the one the locator names (`:1.2.0`); else the one `=x` names (the tag
//!   `x`, then `vx`, then the highest semver tag in `x` read as a version range, so
//!   `=1.2` or `>=1.0,<2` pick among the tags); with neither, the highest semver tag
//!   that is not a pre-release, else the tag `latest`;
//! - whether the manifest is a pack: artifact type `application/vnd.stackstorm.pack.v1`
//!   (or, without one, that config media type) and exactly one layer of media type
//!   `application/vnd.stackstorm.pack.layer.v1.tar+gzip`;
//! - the answer: an archive `oci://HOST/REPO:TAG@sha256:<manifest>` whose digest is
//!   the layer's, which the host pulls by digest and unpacks as a tar.gz.
//!
//! The canonical identity is `HOST[:PORT]/REPO`. The host grants this plugin the
//! registry each reference names, and nothing else unless the operator adds grants.

mod choose;
#[path = "../../../host/core/src/range.rs"]
#[allow(dead_code)]
mod range;
#[cfg(test)]
mod tests;

use choose::{Locator, choose_tag, pack_layer, semver_versions};
use stackpack_plugin_sdk::resolver::{
    ArchiveFormat, ArchiveSource, PackRef, PluginError, Resolution, Resolved, Resolver,
    ResolverInfo, VersionInfo, net_error, oci_get_manifest, oci_list_tags,
};

struct Oci;

/// The locator as an OCI reference; `not-applicable` when it is not `oci://`.
fn locate(reference: &PackRef) -> Result<Locator, PluginError> {
    match Locator::parse(&reference.locator) {
        Ok(Some(l)) => Ok(l),
        Ok(None) => Err(PluginError::NotApplicable),
        Err(e) => Err(PluginError::InvalidReference(e)),
    }
}

fn tags(repo: &str) -> Result<Vec<String>, PluginError> {
    oci_list_tags(repo).map_err(|e| net_error(repo, e))
}

impl Resolver for Oci {
    fn describe() -> ResolverInfo {
        ResolverInfo {
            name: "oci".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Packs pushed as OCI artifacts to a registry (oci://host/repo:tag)".into(),
            handles: [
                "oci://host[:port]/repo[:tag]",
                "oci://host[:port]/repo@sha256:<hex>",
                "oci://host[:port]/repo=<tag or version range>",
            ]
            .map(String::from)
            .into(),
            requested_hosts: Vec::new(),
        }
    }

    fn resolve(reference: PackRef) -> Result<Resolved, PluginError> {
        let locator = locate(&reference)?;
        let requested = reference.requested.as_deref();
        if requested == Some("") {
            return Err(PluginError::InvalidReference(format!(
                "\"{}=\" has nothing after '='; give a tag or a version range, or drop the '='",
                locator.repository_ref()
            )));
        }
        if requested.is_some() && (locator.tag.is_some() || locator.digest.is_some()) {
            return Err(PluginError::InvalidReference(format!(
                "{} already names its {}; drop the `={}` after it",
                locator,
                if locator.digest.is_some() {
                    "digest"
                } else {
                    "tag"
                },
                requested.unwrap_or_default()
            )));
        }
        let tag = match (&locator.tag, &locator.digest) {
            (Some(t), _) => Some(t.clone()),
            (None, Some(_)) => None,
            (None, None) => {
                let repo = locator.repository_ref();
                Some(
                    choose_tag(&tags(&repo)?, requested)
                        .map_err(|e| PluginError::NotFound(format!("{repo}: {e}")))?,
                )
            }
        };
        let asked = Locator {
            tag: tag.clone(),
            ..locator.clone()
        };
        let shown = asked.to_string();
        let manifest = oci_get_manifest(&shown).map_err(|e| net_error(&shown, e))?;
        if let Some(want) = &locator.digest
            && *want != manifest.digest
        {
            return Err(PluginError::Other(format!(
                "{shown}: the registry answered manifest {} where {want} was asked for",
                manifest.digest
            )));
        }
        let layer =
            pack_layer(&manifest).map_err(|e| PluginError::Other(format!("{shown}: {e}")))?;
        let pinned = Locator {
            tag,
            digest: Some(manifest.digest.clone()),
            ..locator.clone()
        };
        Ok(Resolved {
            resolution: Resolution::Archive(ArchiveSource {
                url: pinned.to_string(),
                digest: layer,
                format: ArchiveFormat::TarGz,
                strip_prefix: None,
            }),
            canonical: locator.canonical(),
            summary: None,
        })
    }

    fn list_versions(reference: PackRef) -> Result<Vec<VersionInfo>, PluginError> {
        let locator = locate(&reference)?;
        let repo = locator.repository_ref();
        Ok(semver_versions(&tags(&repo)?)
            .into_iter()
            .map(|(version, tag)| VersionInfo {
                version,
                ref_: Some(tag),
                yanked: false,
            })
            .collect())
    }
}

stackpack_plugin_sdk::export_resolver!(Oci);
