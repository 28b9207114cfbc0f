//! The one error type of the crate. Every message names what failed and on which
//! reference (canonical text: never credentials), and what to do about it.

use std::path::PathBuf;

/// What went wrong talking to a registry or building a layer.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    /// A client setting is unusable (CA bundle, proxy).
    #[error("cannot set up the OCI registry client: {what}: {reason}; {fix}")]
    Config {
        /// The setting concerned.
        what: String,
        /// Why it cannot be used.
        reason: String,
        /// What to do.
        fix: String,
    },

    /// The registry answered a TLS handshake in plain HTTP, and it is not listed as insecure.
    #[error(
        "{registry} speaks plain HTTP, not HTTPS (while {operation} {reference}): if that \
         registry is meant to be used without TLS, add it to insecure_registries in \
         stackpack.toml (insecure_registries = [\"{registry}\"])"
    )]
    PlainHttp {
        /// `host:port`.
        registry: String,
        /// The reference being worked on.
        reference: String,
        /// What was being done ("pushing", "pulling", ...).
        operation: String,
    },

    /// TLS failed (an untrusted or wrong certificate).
    #[error(
        "TLS with {registry} failed (while {operation} {reference}): {reason}; if the \
         registry's certificate comes from a private CA, set proxy_ca_bundle_path in \
         stackpack.toml to a PEM file holding that CA"
    )]
    Tls {
        registry: String,
        reference: String,
        operation: String,
        reason: String,
    },

    /// The registry could not be reached.
    #[error(
        "cannot reach {registry} (while {operation} {reference}): {reason}; check the \
         address, that the registry runs, your network and the proxy settings"
    )]
    Connect {
        registry: String,
        reference: String,
        operation: String,
        reason: String,
    },

    /// The registry refused the request for lack of (valid) credentials.
    #[error("{status} from {registry} while {operation} {reference}: {hint}")]
    Unauthorized {
        registry: String,
        reference: String,
        operation: String,
        /// "401 Unauthorized" or "403 Forbidden" (or the registry's code).
        status: String,
        /// What to do: add a `[[credentials]]` entry, or check the one in use.
        hint: String,
    },

    /// The reference names nothing in the registry.
    #[error(
        "{reference} was not found in {registry} ({what}); check the repository and tag \
         (`stackpack push` publishes one)"
    )]
    NotFound {
        registry: String,
        reference: String,
        /// What was missing (the registry's words).
        what: String,
    },

    /// Content did not hash to the digest it was asked by.
    #[error(
        "{reference}: the content received hashes to {actual}, not {expected}; it was \
         refused (nothing was unpacked). The registry's copy is damaged or was replaced: \
         push it again, or ask its owner"
    )]
    DigestMismatch {
        expected: String,
        actual: String,
        reference: String,
    },

    /// A blob or manifest is larger than its descriptor or the caller's cap.
    #[error(
        "{reference}: {what} is larger than {limit} bytes; it was refused and nothing was \
         unpacked. Check that the reference names the artifact you meant (a pack, a \
         lockfile or a plugin pushed by stackpack), and re-push it from a smaller tree"
    )]
    TooLarge {
        reference: String,
        what: String,
        limit: u64,
    },

    /// An operation did not finish in time.
    #[error(
        "{operation} {reference} did not finish within {seconds} s; check the network, or \
         raise http_timeout in stackpack.toml (a transfer may take 10 times http_timeout)"
    )]
    Timeout {
        reference: String,
        operation: String,
        seconds: u64,
    },

    /// An artifact that is not of the kind the caller reads (another artifact type, or
    /// not exactly one layer of the expected media type).
    #[error("{reference} is {found}, not {expected}; {fix}")]
    WrongArtifact {
        reference: String,
        found: String,
        expected: String,
        fix: String,
    },

    /// A manifest that cannot be read as an OCI image manifest.
    #[error(
        "{reference}: the manifest is not a usable OCI image manifest: {reason}; check that \
         the reference names an artifact pushed with `stackpack push`"
    )]
    InvalidManifest { reference: String, reason: String },

    /// Any other failure the registry or the transport reported.
    #[error(
        "{operation} {reference} failed: {reason}; check the reference and the registry's \
         logs, then retry"
    )]
    Registry {
        reference: String,
        operation: String,
        reason: String,
    },

    /// Writing the pulled content failed.
    #[error("{reference}: cannot write the pulled content: {source}; check the disk")]
    Write {
        reference: String,
        #[source]
        source: std::io::Error,
    },

    /// A tree cannot be packed as a layer.
    #[error("cannot pack {} as an OCI layer: {reason}", path.display())]
    Layer {
        /// The file or directory concerned.
        path: PathBuf,
        /// Why, and what to do.
        reason: String,
    },
}
