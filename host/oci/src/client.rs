//! The synchronous registry client over `oci-client`.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use futures_util::StreamExt as _;
use oci_client::errors::{OciDistributionError, OciErrorCode};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use stackpack_core::OciRef;

use crate::OciError;
use crate::media;

/// The largest manifest read.
const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;
/// Tags asked per page when listing.
const TAGS_PAGE: usize = 1000;
/// Pages read at most when listing tags.
const MAX_TAG_PAGES: usize = 1000;

/// How stackpack talks to registries; ops builds it from the session's settings.
#[derive(Clone)]
pub struct ClientConfig {
    /// Registries (`host:port`, as in the reference) spoken to in plain HTTP.
    pub insecure_registries: Vec<String>,
    /// A PEM bundle of CAs trusted besides the built-in roots.
    pub ca_bundle: Option<PathBuf>,
    pub http_proxy: Option<String>,
    pub https_proxy: Option<String>,
    pub no_proxy: Option<String>,
    /// Connect and read timeout of each request; the deadline of a tag list or manifest.
    pub request_timeout: Duration,
    /// The deadline of a whole blob transfer or push.
    pub transfer_timeout: Duration,
    /// Credentials, matched on `oci://host[:port]/` and whole path segments of the
    /// repository; the most specific match wins.
    pub credentials: Vec<RegistryCredential>,
    pub user_agent: String,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            insecure_registries: Vec::new(),
            ca_bundle: None,
            http_proxy: None,
            https_proxy: None,
            no_proxy: None,
            request_timeout: Duration::from_secs(30),
            transfer_timeout: Duration::from_secs(300),
            credentials: Vec::new(),
            user_agent: concat!("stackpack/", env!("CARGO_PKG_VERSION")).to_string(),
        }
    }
}

/// Says nothing of the credentials.
impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("insecure_registries", &self.insecure_registries)
            .field("ca_bundle", &self.ca_bundle)
            .field("request_timeout", &self.request_timeout)
            .field("transfer_timeout", &self.transfer_timeout)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

/// A secret for the registries and repositories under `url` (`oci://host[:port]/[path]`).
#[derive(Clone, PartialEq, Eq)]
pub struct RegistryCredential {
    pub url: String,
    pub auth: RegistryAuth,
}

/// Basic (username and password) or a bearer token. Never shown by Debug.
#[derive(Clone, PartialEq, Eq)]
pub enum RegistryAuth {
    Basic { username: String, password: String },
    Bearer(String),
}

impl std::fmt::Debug for RegistryCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.auth {
            RegistryAuth::Basic { .. } => "basic",
            RegistryAuth::Bearer(_) => "bearer",
        };
        write!(
            f,
            "RegistryCredential({kind} for {}, secret hidden)",
            stackpack_core::redact_url(&self.url)
        )
    }
}

impl RegistryCredential {
    /// How many path segments of `reference`'s repository this credential covers, when it
    /// is for its registry (`None` otherwise).
    fn specificity(&self, reference: &OciRef) -> Option<usize> {
        let text = self.url.trim();
        if !stackpack_core::is_oci(text) {
            return None;
        }
        let rest = &text["oci://".len()..];
        let (registry, path) = rest.split_once('/').unwrap_or((rest, ""));
        if !registry.eq_ignore_ascii_case(&reference.registry) {
            return None;
        }
        let want: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let have: Vec<&str> = reference.repository.split('/').collect();
        (have.len() >= want.len() && have.iter().zip(&want).all(|(h, w)| h == w))
            .then_some(want.len())
    }
}

/// What an artifact of one kind looks like, for [`Client::pull_single_layer`]: its
/// artifact type, its one layer's media type, its name and how one is made (for errors).
#[derive(Debug, Clone, Copy)]
pub struct ArtifactKind<'a> {
    /// "a lockfile", "a plugin".
    pub name: &'a str,
    pub artifact_type: &'a str,
    pub layer_type: &'a str,
    /// What to do when the artifact is another kind.
    pub fix: &'a str,
}

/// A blob or manifest as a manifest describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
}

/// An OCI image manifest, with the digest of its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// `sha256:<hex>` of the manifest bytes.
    pub digest: String,
    pub media_type: String,
    pub artifact_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    pub annotations: BTreeMap<String, String>,
}

/// What to push: a config blob and layers, each with its media type.
#[derive(Debug, Clone, Default)]
pub struct Artifact {
    pub artifact_type: String,
    pub config: (String, Vec<u8>),
    pub layers: Vec<(String, Vec<u8>)>,
    /// Written into the manifest (sorted by key); the same annotations give the same digest.
    pub annotations: BTreeMap<String, String>,
}

/// What a push stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// The reference pushed to, with the manifest digest.
    pub reference: OciRef,
    pub manifest_digest: String,
    pub layers: Vec<Descriptor>,
    /// Bytes of the manifest, the config and the layers together.
    pub size: u64,
}

/// The manifest as written on the wire (field order fixed, so the bytes are too).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireManifest {
    schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    artifact_type: Option<String>,
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

/// A registry client: one per session; each call blocks until done or its deadline.
pub struct Client {
    config: ClientConfig,
    runtime: tokio::runtime::Runtime,
    /// One `oci-client` client per credential in use (`None`: anonymous), since that crate
    /// keeps one credential per registry.
    inner: Mutex<HashMap<Option<usize>, oci_client::Client>>,
    certificates: Vec<oci_client::client::Certificate>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}

impl Client {
    /// A client for `config`: reads the CA bundle and checks the proxies now.
    pub fn new(config: &ClientConfig) -> Result<Client, OciError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| OciError::Config {
                what: "the async runtime".to_string(),
                reason: e.to_string(),
                fix: "check the process limits (threads, file descriptors)".to_string(),
            })?;
        let certificates = match &config.ca_bundle {
            None => Vec::new(),
            Some(path) => read_ca_bundle(path)?,
        };
        let client = Client {
            config: config.clone(),
            runtime,
            inner: Mutex::new(HashMap::new()),
            certificates,
        };
        // Build the anonymous client now, so a bad proxy is reported here.
        client.inner_for(None)?;
        Ok(client)
    }

    fn inner_for(&self, credential: Option<usize>) -> Result<oci_client::Client, OciError> {
        let mut map = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = map.get(&credential) {
            return Ok(c.clone());
        }
        let config = oci_client::client::ClientConfig {
            protocol: oci_client::client::ClientProtocol::HttpsExcept(
                self.config.insecure_registries.clone(),
            ),
            extra_root_certificates: self.certificates.clone(),
            read_timeout: Some(self.config.request_timeout),
            connect_timeout: Some(self.config.request_timeout),
            user_agent: user_agent(&self.config.user_agent),
            https_proxy: self.config.https_proxy.clone(),
            http_proxy: self.config.http_proxy.clone(),
            no_proxy: self.config.no_proxy.clone(),
            ..Default::default()
        };
        let client = oci_client::Client::try_from(config).map_err(|e| OciError::Config {
            what: "the proxies or the CA bundle".to_string(),
            reason: e.to_string(),
            fix: "check http_proxy, https_proxy, no_proxy and proxy_ca_bundle_path in \
                  stackpack.toml"
                .to_string(),
        })?;
        map.insert(credential, client.clone());
        Ok(client)
    }

    /// The credential for `reference` (its index and the auth `oci-client` takes).
    fn auth_for(&self, reference: &OciRef) -> (Option<usize>, oci_client::secrets::RegistryAuth) {
        let best = self
            .config
            .credentials
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.specificity(reference).map(|s| (s, i)))
            .max_by_key(|(s, i)| (*s, std::cmp::Reverse(*i)));
        match best {
            None => (None, oci_client::secrets::RegistryAuth::Anonymous),
            Some((_, i)) => {
                let auth = match &self.config.credentials[i].auth {
                    RegistryAuth::Basic { username, password } => {
                        oci_client::secrets::RegistryAuth::Basic(username.clone(), password.clone())
                    }
                    RegistryAuth::Bearer(token) => {
                        oci_client::secrets::RegistryAuth::Bearer(token.clone())
                    }
                };
                (Some(i), auth)
            }
        }
    }

    /// Every tag of `reference`'s repository (all pages).
    pub fn list_tags(&self, reference: &OciRef) -> Result<Vec<String>, OciError> {
        let op = Op::new(self, reference, "listing the tags of");
        let repo = reference.repository_ref();
        let image = oci_reference(&repo.with_tag("latest"));
        let (index, auth) = self.auth_for(reference);
        let inner = self.inner_for(index)?;
        self.run(&op, self.config.transfer_timeout, async {
            let mut tags: Vec<String> = Vec::new();
            let mut last: Option<String> = None;
            for _ in 0..MAX_TAG_PAGES {
                let page = inner
                    .list_tags(&image, &auth, Some(TAGS_PAGE), last.as_deref())
                    .await
                    .map_err(|e| op.error(e))?;
                let count = page.tags.len();
                let next = page.tags.last().cloned();
                tags.extend(page.tags);
                if count < TAGS_PAGE || next.is_none() || next == last {
                    break;
                }
                last = next;
            }
            tags.sort();
            tags.dedup();
            Ok(tags)
        })
    }

    /// The one layer of the artifact `reference` names, after checking that the artifact
    /// is `kind` (its artifact type, or its config media type when it has none, and
    /// exactly one layer of the kind's media type); pulled by digest, verified and capped
    /// at `max_bytes`. Returns the manifest (its digest is the revision) with the bytes.
    pub fn pull_single_layer(
        &self,
        reference: &OciRef,
        kind: &ArtifactKind<'_>,
        max_bytes: u64,
    ) -> Result<(Manifest, Vec<u8>), OciError> {
        let manifest = self.manifest(reference)?;
        let wrong = |found: String| OciError::WrongArtifact {
            reference: reference.to_string(),
            found,
            expected: format!("{} ({})", kind.name, kind.artifact_type),
            fix: kind.fix.to_string(),
        };
        let artifact_type = manifest
            .artifact_type
            .as_deref()
            .unwrap_or(&manifest.config.media_type);
        if artifact_type != kind.artifact_type {
            return Err(wrong(format!("an artifact of type {artifact_type}")));
        }
        let layer = match manifest.layers.as_slice() {
            [layer] if layer.media_type == kind.layer_type => layer.clone(),
            layers => {
                let types: Vec<&str> = layers.iter().map(|l| l.media_type.as_str()).collect();
                return Err(wrong(format!(
                    "an artifact whose layers are [{}] where one {} layer belongs",
                    types.join(", "),
                    kind.layer_type
                )));
            }
        };
        let pinned = reference.with_digest(manifest.digest.clone());
        let mut bytes = Vec::new();
        self.pull_blob(&pinned, &layer, max_bytes, &mut bytes)?;
        Ok((manifest, bytes))
    }

    /// The manifest `reference` names (by tag or digest); its bytes are hashed and, when
    /// the reference names a digest, compared with it.
    pub fn manifest(&self, reference: &OciRef) -> Result<Manifest, OciError> {
        let op = Op::new(self, reference, "fetching the manifest of");
        if reference.tag.is_none() && reference.digest.is_none() {
            return Err(OciError::Registry {
                reference: reference.to_string(),
                operation: op.operation.clone(),
                reason: "the reference names neither a tag nor a digest; add :TAG or \
                         @sha256:<hex>"
                    .to_string(),
            });
        }
        let image = oci_reference(reference);
        let (index, auth) = self.auth_for(reference);
        let inner = self.inner_for(index)?;
        let accepted = [
            media::OCI_MANIFEST,
            "application/vnd.docker.distribution.manifest.v2+json",
        ];
        let bytes = self.run(&op, self.config.request_timeout, async {
            inner
                .pull_manifest_raw(&image, &auth, &accepted)
                .await
                .map(|(bytes, _)| bytes)
                .map_err(|e| op.error(e))
        })?;
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(OciError::TooLarge {
                reference: reference.to_string(),
                what: "the manifest".to_string(),
                limit: MAX_MANIFEST_BYTES as u64,
            });
        }
        let digest = sha256(&bytes);
        if let Some(expected) = &reference.digest
            && *expected != digest
        {
            return Err(OciError::DigestMismatch {
                expected: expected.clone(),
                actual: digest,
                reference: reference.to_string(),
            });
        }
        let wire: WireManifest =
            serde_json::from_slice(&bytes).map_err(|e| OciError::InvalidManifest {
                reference: reference.to_string(),
                reason: e.to_string(),
            })?;
        if wire.schema_version != 2 {
            return Err(OciError::InvalidManifest {
                reference: reference.to_string(),
                reason: format!("schemaVersion is {}, not 2", wire.schema_version),
            });
        }
        Ok(Manifest {
            digest,
            media_type: wire
                .media_type
                .unwrap_or_else(|| media::OCI_MANIFEST.to_string()),
            artifact_type: wire.artifact_type,
            config: wire.config,
            layers: wire.layers,
            annotations: wire.annotations,
        })
    }

    /// Streams the blob `descriptor` names from `reference`'s repository into `out`,
    /// refusing more than `descriptor.size` or `max_bytes` bytes, and returns `Ok` only
    /// when what was written hashes to `descriptor.digest`. On an error `out` holds
    /// unverified bytes: write to a temporary file and use it only after `Ok`.
    pub fn pull_blob(
        &self,
        reference: &OciRef,
        descriptor: &Descriptor,
        max_bytes: u64,
        out: &mut impl Write,
    ) -> Result<(), OciError> {
        let op = Op::new(self, reference, "pulling a blob of");
        let shown = reference.to_string();
        let limit = descriptor.size.min(max_bytes);
        if descriptor.size > max_bytes {
            return Err(OciError::TooLarge {
                reference: shown,
                what: format!("blob {} ({} bytes)", descriptor.digest, descriptor.size),
                limit: max_bytes,
            });
        }
        let image = oci_reference(&reference.repository_ref().with_tag("latest"));
        let (index, auth) = self.auth_for(reference);
        let inner = self.inner_for(index)?;
        let layer = oci_client::manifest::OciDescriptor {
            media_type: descriptor.media_type.clone(),
            digest: descriptor.digest.clone(),
            size: i64::try_from(descriptor.size).unwrap_or(i64::MAX),
            ..Default::default()
        };
        self.run(&op, self.config.transfer_timeout, async {
            inner
                .store_auth_if_needed(image.resolve_registry(), &auth)
                .await;
            let mut stream = inner
                .pull_blob_stream(&image, &layer)
                .await
                .map_err(|e| op.error(e))?;
            let mut hasher = Sha256::new();
            let mut received: u64 = 0;
            let mut failed = None;
            while let Some(chunk) = stream.next().await {
                let chunk = match chunk {
                    Ok(c) => c,
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                };
                received += chunk.len() as u64;
                if received > limit {
                    return Err(OciError::TooLarge {
                        reference: shown.clone(),
                        what: format!("blob {}", descriptor.digest),
                        limit,
                    });
                }
                hasher.update(&chunk);
                out.write_all(&chunk).map_err(|source| OciError::Write {
                    reference: shown.clone(),
                    source,
                })?;
            }
            let actual = format!("sha256:{}", hex::encode(hasher.finalize()));
            if actual != descriptor.digest {
                return Err(OciError::DigestMismatch {
                    expected: descriptor.digest.clone(),
                    actual,
                    reference: shown.clone(),
                });
            }
            if let Some(e) = failed {
                return Err(OciError::Registry {
                    reference: shown.clone(),
                    operation: op.operation.clone(),
                    reason: e.to_string(),
                });
            }
            out.flush().map_err(|source| OciError::Write {
                reference: shown.clone(),
                source,
            })
        })
    }

    /// Pushes `artifact` to `reference` (which names the tag): the layers and config as
    /// blobs, then the manifest, whose bytes are made here (fixed field order, sorted
    /// annotations), so the same artifact always gets the same manifest digest.
    pub fn push(&self, reference: &OciRef, artifact: &Artifact) -> Result<Pushed, OciError> {
        let op = Op::new(self, reference, "pushing");
        let Some(tag) = reference.tag.clone() else {
            return Err(OciError::Registry {
                reference: reference.to_string(),
                operation: op.operation.clone(),
                reason: "the reference names no tag; add :TAG".to_string(),
            });
        };
        let target = reference.with_tag(tag);
        let image = oci_reference(&target);
        let (index, auth) = self.auth_for(reference);
        let inner = self.inner_for(index)?;
        let describe = |media_type: &str, data: &[u8]| Descriptor {
            media_type: media_type.to_string(),
            digest: sha256(data),
            size: data.len() as u64,
        };
        let config = describe(&artifact.config.0, &artifact.config.1);
        let layers: Vec<Descriptor> = artifact
            .layers
            .iter()
            .map(|(m, d)| describe(m, d))
            .collect();
        let wire = WireManifest {
            schema_version: 2,
            media_type: Some(media::OCI_MANIFEST.to_string()),
            artifact_type: Some(artifact.artifact_type.clone()),
            config: config.clone(),
            layers: layers.clone(),
            annotations: artifact.annotations.clone(),
        };
        let body = serde_json::to_vec(&wire).map_err(|e| OciError::Registry {
            reference: reference.to_string(),
            operation: op.operation.clone(),
            reason: format!("cannot write the manifest: {e}"),
        })?;
        let manifest_digest = sha256(&body);
        let size = body.len() as u64 + config.size + layers.iter().map(|l| l.size).sum::<u64>();
        self.run(&op, self.config.transfer_timeout, async {
            inner
                .store_auth_if_needed(image.resolve_registry(), &auth)
                .await;
            let blobs = artifact
                .layers
                .iter()
                .zip(&layers)
                .map(|((_, data), d)| (data, d))
                .chain(std::iter::once((&artifact.config.1, &config)));
            for (data, descriptor) in blobs {
                inner
                    .push_blob(&image, data, &descriptor.digest)
                    .await
                    .map_err(|e| op.error(e))?;
            }
            let content_type = reqwest::header::HeaderValue::from_static(media::OCI_MANIFEST);
            inner
                .push_manifest_raw(&image, body, content_type)
                .await
                .map_err(|e| op.error(e))?;
            Ok(())
        })?;
        Ok(Pushed {
            reference: target.with_digest(manifest_digest.clone()),
            manifest_digest,
            layers,
            size,
        })
    }

    /// Runs `fut` on the private runtime within `deadline`; a plain-HTTP answer to TLS is
    /// recognised here (it needs a second request).
    fn run<T>(
        &self,
        op: &Op,
        deadline: Duration,
        fut: impl Future<Output = Result<T, OciError>>,
    ) -> Result<T, OciError> {
        let result = self.runtime.block_on(async {
            match tokio::time::timeout(deadline, fut).await {
                Ok(r) => r,
                Err(_) => Err(OciError::Timeout {
                    reference: op.reference.clone(),
                    operation: op.operation.clone(),
                    seconds: deadline.as_secs(),
                }),
            }
        });
        match result {
            Err(OciError::Connect { .. })
                if !op.insecure && self.runtime.block_on(speaks_plain_http(&op.registry)) =>
            {
                Err(OciError::PlainHttp {
                    registry: op.registry.clone(),
                    reference: op.reference.clone(),
                    operation: op.operation.clone(),
                })
            }
            other => other,
        }
    }
}

/// What is being done, on what, for error messages.
struct Op {
    registry: String,
    reference: String,
    operation: String,
    insecure: bool,
    credential_url: Option<String>,
}

impl Op {
    fn new(client: &Client, reference: &OciRef, operation: &str) -> Op {
        let (index, _) = client.auth_for(reference);
        Op {
            registry: reference.registry.clone(),
            reference: reference.to_string(),
            operation: operation.to_string(),
            insecure: client
                .config
                .insecure_registries
                .iter()
                .any(|r| r.eq_ignore_ascii_case(&reference.registry)),
            credential_url: index
                .map(|i| stackpack_core::redact_url(&client.config.credentials[i].url)),
        }
    }

    fn unauthorized(&self, status: &str) -> OciError {
        let hint = match &self.credential_url {
            Some(url) => format!(
                "the registry refused the [[credentials]] entry for {url}; check its \
                 username and password (or token) and that it may access this repository"
            ),
            None => format!(
                "the registry wants credentials: add a [[credentials]] entry to \
                 stackpack.toml with url = \"oci://{}/\" and username with password \
                 (or password_env), or token",
                self.registry
            ),
        };
        OciError::Unauthorized {
            registry: self.registry.clone(),
            reference: self.reference.clone(),
            operation: self.operation.clone(),
            status: status.to_string(),
            hint,
        }
    }

    fn not_found(&self, what: String) -> OciError {
        OciError::NotFound {
            registry: self.registry.clone(),
            reference: self.reference.clone(),
            what,
        }
    }

    fn other(&self, reason: String) -> OciError {
        OciError::Registry {
            reference: self.reference.clone(),
            operation: self.operation.clone(),
            reason,
        }
    }

    /// `oci-client`'s error as ours: what failed and what to do.
    fn error(&self, e: OciDistributionError) -> OciError {
        match e {
            OciDistributionError::UnauthorizedError { .. } => self.unauthorized("401 Unauthorized"),
            OciDistributionError::AuthenticationFailure(_) => {
                self.unauthorized("authentication failed")
            }
            OciDistributionError::ServerError { code: 401, .. } => {
                self.unauthorized("401 Unauthorized")
            }
            OciDistributionError::ServerError { code: 403, .. } => {
                self.unauthorized("403 Forbidden")
            }
            OciDistributionError::ServerError {
                code: 404, message, ..
            } => self.not_found(shorten(&message)),
            OciDistributionError::ImageManifestNotFoundError(m) => self.not_found(shorten(&m)),
            OciDistributionError::RegistryError { ref envelope, .. } => {
                let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
                let text = envelope
                    .errors
                    .iter()
                    .map(|e| e.message.clone())
                    .collect::<Vec<_>>()
                    .join("; ");
                if codes.contains(&&OciErrorCode::Unauthorized) {
                    self.unauthorized("401 Unauthorized")
                } else if codes.contains(&&OciErrorCode::Denied) {
                    self.unauthorized("403 Denied")
                } else if codes.iter().any(|c| {
                    matches!(
                        c,
                        OciErrorCode::ManifestUnknown
                            | OciErrorCode::NameUnknown
                            | OciErrorCode::BlobUnknown
                            | OciErrorCode::NotFound
                    )
                }) {
                    self.not_found(shorten(&text))
                } else {
                    self.other(shorten(&text))
                }
            }
            OciDistributionError::RequestError(ref r) => self.request_error(r),
            other => {
                let text = other.to_string();
                if text.contains("401") || text.to_ascii_lowercase().contains("unauthorized") {
                    self.unauthorized("401 Unauthorized")
                } else {
                    self.other(shorten(&chain(&other)))
                }
            }
        }
    }

    fn request_error(&self, r: &reqwest::Error) -> OciError {
        match r.status().map(|s| s.as_u16()) {
            Some(401) => return self.unauthorized("401 Unauthorized"),
            Some(403) => return self.unauthorized("403 Forbidden"),
            Some(404) => return self.not_found("404 Not Found".to_string()),
            _ => {}
        }
        let reason = shorten(&chain(r));
        let lower = reason.to_ascii_lowercase();
        if lower.contains("certificate") || lower.contains("unknownissuer") {
            OciError::Tls {
                registry: self.registry.clone(),
                reference: self.reference.clone(),
                operation: self.operation.clone(),
                reason,
            }
        } else if r.is_connect() || lower.contains("corrupt message") || lower.contains("tls") {
            OciError::Connect {
                registry: self.registry.clone(),
                reference: self.reference.clone(),
                operation: self.operation.clone(),
                reason,
            }
        } else if r.is_timeout() {
            OciError::Timeout {
                reference: self.reference.clone(),
                operation: self.operation.clone(),
                seconds: 0,
            }
        } else {
            self.other(reason)
        }
    }
}

/// Whether `registry` answers plain HTTP on its port (asked after HTTPS failed). An HTTPS
/// server answering a plain request with 400 ("client sent an HTTP request to an HTTPS
/// server") does not count.
async fn speaks_plain_http(registry: &str) -> bool {
    let Ok(client) = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
    else {
        return false;
    };
    client
        .get(format!("http://{registry}/v2/"))
        .send()
        .await
        .is_ok_and(|r| r.status() != reqwest::StatusCode::BAD_REQUEST)
}

/// Each certificate of a PEM bundle, as `oci-client` takes them (one per entry).
fn read_ca_bundle(
    path: &std::path::Path,
) -> Result<Vec<oci_client::client::Certificate>, OciError> {
    let bad = |reason: String| OciError::Config {
        what: format!("the CA bundle {}", path.display()),
        reason,
        fix: "set proxy_ca_bundle_path in stackpack.toml to a readable PEM file of CA \
              certificates"
            .to_string(),
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut out = Vec::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find(BEGIN) {
        let Some(len) = rest[start..].find(END) else {
            return Err(bad(
                "a certificate is not closed by its END line".to_string()
            ));
        };
        let pem = &rest[start..start + len + END.len()];
        reqwest::Certificate::from_pem(pem.as_bytes()).map_err(|e| bad(e.to_string()))?;
        out.push(oci_client::client::Certificate {
            encoding: oci_client::client::CertificateEncoding::Pem,
            data: format!("{pem}\n").into_bytes(),
        });
        rest = &rest[start + len + END.len()..];
    }
    if out.is_empty() {
        return Err(bad("it holds no PEM certificate".to_string()));
    }
    Ok(out)
}

/// `oci-client` takes its user agent as `&'static str`: each distinct text is kept once.
fn user_agent(text: &str) -> &'static str {
    static AGENTS: OnceLock<Mutex<Vec<&'static str>>> = OnceLock::new();
    let agents = AGENTS.get_or_init(|| Mutex::new(Vec::new()));
    let mut agents = agents
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(found) = agents.iter().find(|a| **a == text) {
        return found;
    }
    let leaked: &'static str = Box::leak(text.to_string().into_boxed_str());
    agents.push(leaked);
    leaked
}

fn oci_reference(r: &OciRef) -> oci_client::Reference {
    match (&r.tag, &r.digest) {
        (_, Some(digest)) => oci_client::Reference::with_digest(
            r.registry.clone(),
            r.repository.clone(),
            digest.clone(),
        ),
        (Some(tag), None) => {
            oci_client::Reference::with_tag(r.registry.clone(), r.repository.clone(), tag.clone())
        }
        (None, None) => oci_client::Reference::with_tag(
            r.registry.clone(),
            r.repository.clone(),
            "latest".to_string(),
        ),
    }
}

fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// An error and its sources, each once.
fn chain(e: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// At most 400 characters of a registry's text, with any URL userinfo removed.
fn shorten(text: &str) -> String {
    let text = stackpack_core::redact_url(text.trim());
    match text.char_indices().nth(400) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn cred(url: &str) -> RegistryCredential {
        RegistryCredential {
            url: url.to_string(),
            auth: RegistryAuth::Basic {
                username: "u".to_string(),
                password: "hunter2".to_string(),
            },
        }
    }

    #[test]
    fn credentials_match_registry_and_whole_path_segments_most_specific_first() {
        let r: OciRef = "oci://127.0.0.1:5000/team/packs/aws:1".parse().unwrap();
        assert_eq!(cred("oci://127.0.0.1:5000/").specificity(&r), Some(0));
        assert_eq!(cred("oci://127.0.0.1:5000/team").specificity(&r), Some(1));
        assert_eq!(cred("oci://127.0.0.1:5000/tea").specificity(&r), None);
        assert_eq!(cred("oci://127.0.0.1:5001/").specificity(&r), None);
        assert_eq!(cred("https://127.0.0.1:5000/").specificity(&r), None);
        let config = ClientConfig {
            credentials: vec![
                cred("oci://127.0.0.1:5000/"),
                cred("oci://127.0.0.1:5000/team"),
            ],
            ..Default::default()
        };
        let client = Client::new(&config).unwrap();
        assert_eq!(client.auth_for(&r).0, Some(1));
    }

    #[test]
    fn debug_output_never_shows_a_secret() {
        let config = ClientConfig {
            credentials: vec![cred("oci://h/")],
            ..Default::default()
        };
        let text = format!("{config:?}");
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn manifest_bytes_are_fixed_by_the_artifact() {
        let wire = WireManifest {
            schema_version: 2,
            media_type: Some(media::OCI_MANIFEST.to_string()),
            artifact_type: Some(media::PACK_ARTIFACT.to_string()),
            config: Descriptor {
                media_type: media::PACK_CONFIG.to_string(),
                digest: sha256(b"{}"),
                size: 2,
            },
            layers: vec![],
            annotations: BTreeMap::from([("b".into(), "2".into()), ("a".into(), "1".into())]),
        };
        let text = String::from_utf8(serde_json::to_vec(&wire).unwrap()).unwrap();
        assert!(
            text.starts_with("{\"schemaVersion\":2,\"mediaType\":"),
            "{text}"
        );
        assert!(
            text.contains("\"annotations\":{\"a\":\"1\",\"b\":\"2\"}"),
            "{text}"
        );
    }

    #[test]
    fn an_unreadable_ca_bundle_is_reported_with_the_setting() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("ca.pem");
        std::fs::write(&path, "not a certificate").unwrap();
        let config = ClientConfig {
            ca_bundle: Some(path),
            ..Default::default()
        };
        let err = Client::new(&config).unwrap_err().to_string();
        assert!(err.contains("proxy_ca_bundle_path"), "{err}");
    }
}
