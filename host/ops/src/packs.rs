//! `list` and `get`: the installed packs across the packs base paths, and one of them
//! with what the registry holds for it.

use std::path::PathBuf;

use stackpack_core::PackMeta;
use stackpack_site::{InstalledPack, PackState, find};

use crate::error::OpsError;
use crate::session::Session;

/// `stackpack list`: every pack found, shadowed and invalid ones included.
pub struct PackList {
    pub packs: Vec<InstalledPack>,
    /// Where it looked, in search order.
    pub searched: Vec<PathBuf>,
    /// The last sync this root applied (none: never synced).
    pub synced: Option<LastSync>,
}

/// The last desired lockfile a `sync` applied to the root, from `.stackpack-synced`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LastSync {
    /// Where it came from (a path, or a URL without credentials).
    pub source: String,
    /// The revision, `sha256:<hex>`: the OCI manifest digest for an `oci://` source,
    /// else the lockfile's digest.
    pub digest: String,
    /// When it was applied (RFC 3339, UTC; null in a state file written before this was
    /// recorded).
    pub at: Option<String>,
}

pub fn list(s: &Session) -> Result<PackList, OpsError> {
    Ok(PackList {
        packs: s.installed()?.as_ref().clone(),
        searched: s.search_paths(),
        synced: stackpack_install::sync::read_state(s.root.path()).map(|st| LastSync {
            digest: st.revision(),
            at: st.applied_at,
            source: st.source,
        }),
    })
}

/// The active installed pack with this ref, or `Pack "x" is not found.` with close
/// names and where it looked.
pub fn installed(s: &Session, pack: &str) -> Result<InstalledPack, OpsError> {
    let packs = s.installed()?;
    find(&packs, pack)
        .cloned()
        .ok_or_else(|| not_found(s, pack, &packs))
}

/// `stackpack get`: one installed pack, the packs it shadows, and its registration.
#[derive(Debug, serde::Serialize)]
pub struct PackDetail {
    #[serde(flatten)]
    pub pack: InstalledPack,
    pub shadows: Vec<PathBuf>,
    /// What the registry holds for the pack (null: not registered).
    pub registry: Option<stackpack_registry::Registered>,
}

impl PackDetail {
    /// The pack's metadata (a `PackDetail` is only made for a valid pack.yaml).
    pub fn meta(&self) -> Option<&PackMeta> {
        self.pack.meta()
    }
}

pub fn get(s: &Session, pack: &str) -> Result<PackDetail, OpsError> {
    let packs = s.installed()?;
    let Some(found) = find(&packs, pack) else {
        return Err(not_found(s, pack, &packs));
    };
    let meta = match &found.meta {
        PackState::Valid(m) => m,
        PackState::Invalid(reason) => {
            return Err(OpsError::PackInvalid {
                pack: pack.to_string(),
                path: found.path.display().to_string(),
                reason: reason.clone(),
            });
        }
    };
    Ok(PackDetail {
        shadows: packs
            .iter()
            .filter(|p| p.shadowed_by.as_ref() == Some(&found.path))
            .map(|p| p.path.clone())
            .collect(),
        registry: crate::register::registered(s, &meta.ref_)?,
        pack: found.clone(),
    })
}

fn not_found(s: &Session, pack: &str, packs: &[InstalledPack]) -> OpsError {
    let close: Vec<&str> = packs
        .iter()
        .filter(|p| p.is_active())
        .map(|p| p.ref_.as_str())
        .filter(|r| r.contains(pack) || pack.contains(r) || strsim::levenshtein(r, pack) <= 2)
        .collect();
    let searched: Vec<String> = s
        .search_paths()
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let hint = if close.is_empty() {
        format!(
            "Searched {}. Run `stackpack list` to see installed packs.",
            searched.join(", ")
        )
    } else {
        format!(
            "Did you mean: {}? Run `stackpack list` to see installed packs.",
            close.join(", ")
        )
    };
    OpsError::PackNotFound {
        pack: pack.to_string(),
        hint,
    }
}
