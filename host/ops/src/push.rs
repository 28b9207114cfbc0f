//! `stackpack push`: a pack (installed, by name, or a directory) or this root's lockfile
//! with its `overrides/` as an OCI artifact.
//!
//! A pack becomes an image manifest with `artifactType` [`media::PACK_ARTIFACT`], a
//! config blob (JSON: the pack.yaml fields, the tree's content digest, and the source
//! and commit the lockfile records for an installed pack) and one layer, the tree as a
//! reproducible tar+gzip ([`stackpack_oci::layer`]): pushing the same tree twice gives the
//! same manifest digest. The tag defaults to the pack's version. A lockfile becomes an
//! artifact of type [`media::LOCKFILE_ARTIFACT`] whose layer holds `stackpack.lock` and
//! `overrides/`: a fleet's desired state, for `stackpack sync`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use stackpack_core::{OciRef, Pin, Task};
use stackpack_oci::{Artifact, layer, media};

use crate::{OpsError, Session};

/// The largest pack.yaml read.
const MAX_PACK_YAML: u64 = 1024 * 1024;

/// What `stackpack push` pushed.
#[derive(Debug, Clone, Serialize)]
pub struct PushReport {
    /// `pack` or `lockfile`.
    pub kind: &'static str,
    /// The reference pushed, with its manifest digest.
    pub reference: String,
    /// The manifest digest.
    pub digest: String,
    /// The digest of the one layer.
    pub layer_digest: String,
    /// Bytes of the layer.
    pub layer_size: u64,
    /// Bytes of the manifest, config and layer together.
    pub size: u64,
    /// The pack's ref (packs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pack: Option<String>,
    /// The pack's version (packs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// sha256 of the uncompressed layer: the tree's content.
    pub tree_sha256: String,
}

/// The config blob of a pack artifact.
#[derive(Serialize)]
struct PackConfig<'a> {
    #[serde(rename = "ref")]
    ref_: &'a str,
    name: &'a str,
    version: &'a str,
    description: &'a str,
    author: &'a str,
    dependencies: &'a [String],
    tree_sha256: &'a str,
    source: Option<String>,
    commit: Option<String>,
}

/// The config blob of a lockfile artifact.
#[derive(Serialize)]
struct LockfileConfig {
    lockfile_sha256: String,
    packs: Vec<BTreeMap<&'static str, String>>,
    tree_sha256: String,
}

/// Pushes the pack `source` (an installed pack's name, or a pack directory, also as
/// `file://`) to `target` (`oci://HOST[:PORT]/REPO[:TAG]`; the tag defaults to the
/// pack's version).
pub fn push(session: &Session, source: &str, target: &str) -> Result<PushReport, OpsError> {
    let target = parse_target(session, target)?;
    let (dir, locked) = find_pack(session, source)?;
    let yaml_path = dir.join(stackpack_core::MANIFEST_FILE_NAME);
    let text =
        stackpack_fs::read_limited(&yaml_path, MAX_PACK_YAML).map_err(|e| OpsError::Push {
            what: source.to_string(),
            reason: format!("cannot read {}: {e}", yaml_path.display()),
            fix: "push a pack directory (one holding pack.yaml) or an installed pack's name"
                .to_string(),
        })?;
    let text = String::from_utf8_lossy(&text);
    let dir_name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
    let meta = stackpack_core::parse_pack_yaml(&text, dir_name.as_deref()).map_err(|e| {
        OpsError::PackInvalid {
            pack: source.to_string(),
            path: yaml_path.display().to_string(),
            reason: e.to_string(),
        }
    })?;
    let target = match &target.tag {
        Some(_) => target,
        None => target.with_tag(meta.version.replace('+', "_")),
    };
    if target
        .tag
        .as_deref()
        .is_some_and(|t| format!("oci://h/r:{t}").parse::<OciRef>().is_err())
    {
        return Err(OpsError::Push {
            what: meta.ref_.clone(),
            reason: format!("its version {} is not usable as an OCI tag", meta.version),
            fix: "name the tag: oci://HOST/REPO:TAG".to_string(),
        });
    }
    let _task = Task::start(
        session.progress.as_ref(),
        &format!("packing {} {}", meta.ref_, meta.version),
    );
    let layer_bytes = layer::reproducible_tar_gz(&dir)?;
    let tree_sha256 = layer::tree_sha256(&layer_bytes)?;
    let (source_text, commit) = match &locked {
        Some(l) => (
            Some(stackpack_core::redact_url(&l.source.to_string())),
            match &l.pin {
                Pin::Commit(c) => Some(c.clone()),
                _ => None,
            },
        ),
        None => (None, None),
    };
    let config = PackConfig {
        ref_: &meta.ref_,
        name: &meta.name,
        version: &meta.version,
        description: &meta.description,
        author: &meta.author,
        dependencies: &meta.dependencies,
        tree_sha256: &tree_sha256,
        source: source_text,
        commit,
    };
    let config = serde_json::to_vec(&config).map_err(|e| OpsError::Push {
        what: meta.ref_.clone(),
        reason: format!("cannot write its config: {e}"),
        fix: "report this".to_string(),
    })?;
    let annotations = BTreeMap::from([
        (
            "org.opencontainers.image.title".to_string(),
            meta.ref_.clone(),
        ),
        (
            "org.opencontainers.image.version".to_string(),
            meta.version.clone(),
        ),
    ]);
    let artifact = Artifact {
        artifact_type: media::PACK_ARTIFACT.to_string(),
        config: (media::PACK_CONFIG.to_string(), config),
        layers: vec![(media::PACK_LAYER.to_string(), layer_bytes)],
        annotations,
    };
    let mut report = upload(session, &target, &artifact, "pack", tree_sha256)?;
    report.pack = Some(meta.ref_.clone());
    report.version = Some(meta.version.clone());
    Ok(report)
}

/// Pushes this root's `stackpack.lock` and `overrides/` to `target`, which must name a
/// tag (the channel, e.g. `:prod`).
pub fn push_lockfile(session: &Session, target: &str) -> Result<PushReport, OpsError> {
    let target = parse_target(session, target)?;
    if target.tag.is_none() {
        return Err(OpsError::Push {
            what: "the lockfile".to_string(),
            reason: format!("{target} names no tag"),
            fix: "name the channel as the tag, e.g. oci://HOST/REPO:prod".to_string(),
        });
    }
    let root = session.root.path();
    let lockfile = session.root.lockfile();
    let lock_bytes =
        stackpack_fs::read_limited(&lockfile, 64 * 1024 * 1024).map_err(|e| OpsError::Push {
            what: "the lockfile".to_string(),
            reason: format!("cannot read {}: {e}", lockfile.display()),
            fix: "install packs into this root first (or pass --root)".to_string(),
        })?;
    let lock = session.lockfile()?;
    let _task = Task::start(
        session.progress.as_ref(),
        &format!("packing {}", lockfile.display()),
    );
    let lock_name = file_name(&lockfile);
    let overrides = file_name(&session.root.overrides_dir());
    let layer_bytes = layer::reproducible_tar_gz_of(root, &[&lock_name, &overrides])?;
    let tree_sha256 = layer::tree_sha256(&layer_bytes)?;
    let config = LockfileConfig {
        lockfile_sha256: format!("sha256:{}", stackpack_plugin::sha256_hex(&lock_bytes)),
        packs: lock
            .packs
            .iter()
            .map(|p| BTreeMap::from([("ref", p.ref_.clone()), ("version", p.version.clone())]))
            .collect(),
        tree_sha256: tree_sha256.clone(),
    };
    let config = serde_json::to_vec(&config).map_err(|e| OpsError::Push {
        what: "the lockfile".to_string(),
        reason: format!("cannot write its config: {e}"),
        fix: "report this".to_string(),
    })?;
    let artifact = Artifact {
        artifact_type: media::LOCKFILE_ARTIFACT.to_string(),
        config: (media::LOCKFILE_CONFIG.to_string(), config),
        layers: vec![(media::LOCKFILE_LAYER.to_string(), layer_bytes)],
        annotations: BTreeMap::new(),
    };
    upload(session, &target, &artifact, "lockfile", tree_sha256)
}

/// Pushes `artifact` to `target` with the session's registry client, showing progress.
pub(crate) fn upload(
    session: &Session,
    target: &OciRef,
    artifact: &Artifact,
    kind: &'static str,
    tree_sha256: String,
) -> Result<PushReport, OpsError> {
    let net = session.net()?;
    let client = net.oci_client(target)?;
    let _task = Task::start(session.progress.as_ref(), &format!("pushing to {target}"));
    let pushed = client.push(target, artifact)?;
    let layer = pushed.layers.first().cloned();
    Ok(PushReport {
        kind,
        reference: pushed.reference.to_string(),
        digest: pushed.manifest_digest.clone(),
        layer_digest: layer.as_ref().map(|l| l.digest.clone()).unwrap_or_default(),
        layer_size: layer.map_or(0, |l| l.size),
        size: pushed.size,
        pack: None,
        version: None,
        tree_sha256,
    })
}

fn parse_target(session: &Session, target: &str) -> Result<OciRef, OpsError> {
    if session.offline {
        return Err(OpsError::Push {
            what: stackpack_core::redact_url(target),
            reason: "--offline forbids the network".to_string(),
            fix: "run it without --offline".to_string(),
        });
    }
    let parsed: OciRef = target
        .parse()
        .map_err(|e: stackpack_core::CoreError| OpsError::Push {
            what: "to that destination".to_string(),
            reason: e.to_string(),
            fix: "write it as oci://HOST[:PORT]/REPO[:TAG]".to_string(),
        })?;
    if parsed.digest.is_some() {
        return Err(OpsError::Push {
            what: format!("to {parsed}"),
            reason: "a push names a tag; the registry gives the digest".to_string(),
            fix: "leave out @sha256:...".to_string(),
        });
    }
    Ok(parsed)
}

/// The pack directory `source` names, and its lockfile entry when it is an installed
/// pack named by its ref. An installed pack wins over a same-named directory in the
/// current directory; write `./name` for the directory.
fn find_pack(
    session: &Session,
    source: &str,
) -> Result<(PathBuf, Option<stackpack_install::LockedPack>), OpsError> {
    let as_path = source.strip_prefix("file://").unwrap_or(source);
    let is_name = !as_path.contains('/') && stackpack_core::is_valid_pack_ref(as_path);
    if is_name && !source.starts_with("file://") {
        let installed = session.installed()?;
        if let Some(pack) = installed
            .iter()
            .find(|p| p.ref_ == as_path && p.shadowed_by.is_none())
        {
            let locked = session
                .lockfile()?
                .packs
                .iter()
                .find(|l| l.ref_ == pack.ref_)
                .cloned();
            return Ok((pack.path.clone(), locked));
        }
    }
    let dir = Path::new(as_path);
    if dir.is_dir() {
        return Ok((
            std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf()),
            None,
        ));
    }
    Err(OpsError::Push {
        what: source.to_string(),
        reason: format!(
            "it is neither a pack installed in {} nor a directory",
            session.root.path().display()
        ),
        fix: "name an installed pack (stackpack list shows them) or a pack directory".to_string(),
    })
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
