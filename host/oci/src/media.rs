//! The media types of stackpack's artifacts.

/// The manifest of every artifact stackpack pushes.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// A pack: the manifest's `artifactType`.
pub const PACK_ARTIFACT: &str = "application/vnd.stackstorm.pack.v1";
/// A pack's config blob: JSON with the pack.yaml fields, tree digest, source and commit.
pub const PACK_CONFIG: &str = "application/vnd.stackstorm.pack.config.v1+json";
/// A pack's one layer: the pack tree as a reproducible tar+gzip.
pub const PACK_LAYER: &str = "application/vnd.stackstorm.pack.layer.v1.tar+gzip";

/// A root's lockfile (a fleet's desired state): the manifest's `artifactType`.
pub const LOCKFILE_ARTIFACT: &str = "application/vnd.stackpack.lockfile.v1";
/// A lockfile's config blob.
pub const LOCKFILE_CONFIG: &str = "application/vnd.stackpack.lockfile.config.v1+json";
/// A lockfile's one layer: `stackpack.lock` and `overrides/` as a reproducible tar+gzip.
pub const LOCKFILE_LAYER: &str = "application/vnd.stackpack.lockfile.layer.v1.tar+gzip";

/// A plugin: the manifest's `artifactType`.
pub const PLUGIN_ARTIFACT: &str = "application/vnd.stackpack.plugin.v1";
/// A plugin's one layer: the wasm component.
pub const PLUGIN_LAYER: &str = "application/wasm";
