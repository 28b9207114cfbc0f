//! OCI sources: a pack's layer pulled from a registry by digest, verified, then
//! unpacked through the same hardened tar.gz path and [`TreeLimits`] as archives.
//!
//! Layers share the archive cache (`<cache_dir>/archives/<sha256>.tar.gz`, one entry
//! per digest, written under its lock, hashed again on every hit), so a layer already
//! fetched, by this root or another sharing the cache, needs no network. A miss streams
//! the blob by its digest into a temporary file, with no second read of the manifest
//! (the resolver read it, or the lockfile recorded both digests): the registry client
//! hashes what it received and the file is kept only when that is the layer's digest,
//! so a tampered blob is refused, naming both digests, before anything is unpacked.

use std::sync::OnceLock;

use stackpack_core::{ArchiveFormat, OciRef, Sha256};
use stackpack_net::{NetFailure, OciDescriptor, OciManifest};
use stackpack_oci::{Client, ClientConfig, OciError};
use tempfile::NamedTempFile;

use crate::archive::{Entry, MAX_ARCHIVE_BYTES, cache_entry, hash_file, unpack};
use crate::tree::{TreeLimits, ensure_empty};
use crate::{FetchError, Net, fault};

/// The registry client of a [`Net`], made on first use from its configuration.
#[derive(Default)]
pub(crate) struct OciSlot {
    config: Option<ClientConfig>,
    client: OnceLock<Result<Client, String>>,
}

impl OciSlot {
    pub(crate) fn new(config: ClientConfig) -> OciSlot {
        OciSlot {
            config: Some(config),
            client: OnceLock::new(),
        }
    }

    /// The client, or why there is none (no configuration, or it cannot be set up).
    fn get(&self, reference: &OciRef) -> Result<&Client, String> {
        let Some(config) = &self.config else {
            return Err(stackpack_net::no_oci_client(reference).to_string());
        };
        self.client
            .get_or_init(|| Client::new(config).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(Clone::clone)
    }
}

impl Net {
    /// This network with a registry client for `oci://` references (made on first use).
    pub fn with_oci(mut self, config: ClientConfig) -> Net {
        self.oci = OciSlot::new(config);
        self
    }

    /// The registry client, or a [`FetchError::Oci`] saying why there is none.
    pub fn oci_client(&self, reference: &OciRef) -> Result<&Client, FetchError> {
        self.oci
            .get(reference)
            .map_err(|reason| FetchError::NoOciClient {
                reference: reference.to_string(),
                reason,
            })
    }

    pub(crate) fn oci_tags(&self, repository: &OciRef) -> Result<Vec<String>, NetFailure> {
        let client = self.oci.get(repository).map_err(NetFailure::Transport)?;
        client.list_tags(repository).map_err(oci_failure)
    }

    pub(crate) fn oci_manifest_of(&self, reference: &OciRef) -> Result<OciManifest, NetFailure> {
        let client = self.oci.get(reference).map_err(NetFailure::Transport)?;
        let m = client.manifest(reference).map_err(oci_failure)?;
        let descriptor = |d: stackpack_oci::Descriptor| OciDescriptor {
            media_type: d.media_type,
            digest: d.digest,
            size: d.size,
        };
        Ok(OciManifest {
            digest: m.digest,
            media_type: m.media_type,
            artifact_type: m.artifact_type,
            config: descriptor(m.config),
            layers: m.layers.into_iter().map(descriptor).collect(),
            annotations: m.annotations.into_iter().collect(),
        })
    }
}

/// A registry error as a plugin sees it: its whole message (which names the reference,
/// never a credential, and what to do).
fn oci_failure(e: OciError) -> NetFailure {
    NetFailure::Transport(e.to_string())
}

/// The pack layer `layer` of the manifest `manifest` of `reference`'s repository,
/// unpacked into `dest` (which must be empty): from the cache when it holds that
/// digest, else pulled and verified first (see the module docs). Offline without a
/// cache hit is [`FetchError::Offline`]; a blob that does not hash to `layer` is
/// [`FetchError::Oci`] naming both digests, and nothing is unpacked.
#[allow(clippy::too_many_arguments)]
pub fn fetch_oci(
    net: &Net,
    reference: &OciRef,
    manifest: &Sha256,
    layer: &Sha256,
    cache_dir: &std::path::Path,
    offline: bool,
    lock_timeout: std::time::Duration,
    limits: &TreeLimits,
    dest: &cap_std::fs::Dir,
) -> Result<(), FetchError> {
    let pinned = reference.with_digest(manifest.prefixed());
    let shown = pinned.to_string();
    let want = layer.as_hex();
    let kind = ArchiveFormat::TarGz;
    ensure_empty(dest)?;
    let cached = cache_entry(
        &Entry {
            cache_dir,
            want,
            kind,
            shown: &shown,
            noun: "layer",
            offline,
            lock_timeout,
        },
        |dir| {
            let client = net.oci_client(&pinned)?;
            fault::point("oci-pull", &shown);
            // Only the digest decides what is accepted; the size is the archive cap.
            let descriptor = stackpack_oci::Descriptor {
                media_type: stackpack_oci::media::PACK_LAYER.to_string(),
                digest: layer.prefixed(),
                size: MAX_ARCHIVE_BYTES,
            };
            let mut tmp = NamedTempFile::new_in(dir).map_err(|e| FetchError::Io {
                action: "create a temporary file in",
                path: dir.to_path_buf(),
                source: e,
            })?;
            client.pull_blob(&pinned, &descriptor, MAX_ARCHIVE_BYTES, tmp.as_file_mut())?;
            tmp.as_file().sync_all().map_err(|e| FetchError::Io {
                action: "write the pulled layer to",
                path: tmp.path().to_path_buf(),
                source: e,
            })?;
            // The client verified the digest while streaming; the file is hashed again
            // as the cache checks every entry, before it takes that digest's name.
            let actual = hash_file(tmp.path()).map_err(|e| FetchError::Io {
                action: "read the pulled layer",
                path: tmp.path().to_path_buf(),
                source: e,
            })?;
            Ok((tmp, actual))
        },
        |actual| {
            FetchError::Oci(OciError::DigestMismatch {
                expected: layer.prefixed(),
                actual: format!("sha256:{actual}"),
                reference: shown.clone(),
            })
        },
    )?;
    unpack(&cached, kind, None, &shown, limits, dest)
}
