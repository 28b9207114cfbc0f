//! stackpack's OCI registry client: packs, lockfiles and plugins travel as OCI artifacts
//! in any standard registry, addressed by [`stackpack_core::OciRef`].
//!
//! A synchronous wrapper around the `oci-client` crate, which runs inside a private
//! current-thread tokio runtime so callers stay synchronous. [`Client`] lists tags,
//! fetches manifests (checked against the digest the reference names), pulls blobs
//! (streamed, capped, verified against their sha256 before `Ok`) and pushes artifacts
//! (blobs, then a manifest written here, byte for byte, so the same content always gives
//! the same manifest digest). [`layer::reproducible_tar_gz`] makes the one layer of a pack:
//! the same tree gives the same bytes. Plain HTTP is used only for registries listed in
//! [`ClientConfig::insecure_registries`]; credentials come from [`ClientConfig::credentials`]
//! and never appear in an error, a log line or a file.

mod client;
mod error;
pub mod layer;
pub mod media;

pub use client::{
    Artifact, ArtifactKind, Client, ClientConfig, Descriptor, Manifest, Pushed, RegistryAuth,
    RegistryCredential,
};
pub use error::OciError;
