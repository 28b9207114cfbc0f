//! The host's network as its users see it: one GET, one `git ls-remote`, or one OCI
//! registry read (tags, a manifest) at a time.

use stackpack_core::oci::OciRef;
use url::Url;

/// One HTTP hop as the backend performed it (redirects are not followed).
#[derive(Debug, Clone)]
pub struct HttpReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpReply {
    /// Where a redirect (301, 302, 303, 307, 308 with a non-empty `Location`) points, if
    /// this is one; relative locations are for the caller to join onto the request URL.
    pub fn redirect_location(&self) -> Option<&str> {
        if !matches!(self.status, 301 | 302 | 303 | 307 | 308) {
            return None;
        }
        self.header("location").filter(|l| !l.trim().is_empty())
    }

    /// The first header of that name (compared without case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why the backend could not complete a request.
#[derive(Debug, Clone)]
pub enum NetFailure {
    Offline,
    Timeout,
    TooLarge(u64),
    Transport(String),
}

/// In words, with any URL in a transport message redacted.
impl std::fmt::Display for NetFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NetFailure::Offline => f.write_str("the network is off (offline)"),
            NetFailure::Timeout => f.write_str(
                "timed out (one request, body included, must finish within `http_timeout`)",
            ),
            NetFailure::TooLarge(n) if *n >= 1 << 20 => {
                write!(f, "the answer is larger than {} MiB", n >> 20)
            }
            NetFailure::TooLarge(n) => write!(f, "the answer is larger than {n} bytes"),
            NetFailure::Transport(m) => f.write_str(&stackpack_core::redact_url(m)),
        }
    }
}

/// One blob an OCI manifest points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciDescriptor {
    pub media_type: String,
    /// `sha256:<hex>`.
    pub digest: String,
    pub size: u64,
}

/// An OCI image manifest as a registry served it; `digest` is the sha256 of its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciManifest {
    pub digest: String,
    pub media_type: String,
    pub artifact_type: Option<String>,
    pub config: OciDescriptor,
    pub layers: Vec<OciDescriptor>,
    pub annotations: Vec<(String, String)>,
}

/// What a backend without a registry client answers to the OCI calls.
pub fn no_oci_client(what: &OciRef) -> NetFailure {
    NetFailure::Transport(format!(
        "{what}: this network backend has no OCI registry client, so registries cannot be reached here"
    ))
}

/// The host's network. Implementations perform one GET without following redirects
/// (callers follow them with [`crate::get_following`], checking every hop), add the
/// operator's credentials for the URL's host, and cap the body at `max_body`.
pub trait NetBackend: Send + Sync {
    fn http_get(
        &self,
        url: &Url,
        headers: &[(String, String)],
        max_body: u64,
    ) -> Result<HttpReply, NetFailure>;
    /// `git ls-remote <url>`: (ref name, commit id) pairs.
    fn git_list_refs(&self, url: &str) -> Result<Vec<(String, String)>, NetFailure>;
    /// The tags of the repository `repository` names (its tag and digest, if any, are
    /// ignored), every page. A backend without a registry client says so.
    fn oci_list_tags(&self, repository: &OciRef) -> Result<Vec<String>, NetFailure> {
        Err(no_oci_client(repository))
    }
    /// The manifest `reference` names (by digest when it has one, else by tag), its
    /// bytes checked against that digest. A backend without a registry client says so.
    fn oci_manifest(&self, reference: &OciRef) -> Result<OciManifest, NetFailure> {
        Err(no_oci_client(reference))
    }
}

/// A backend with no network at all: every call fails as offline.
pub struct NoNetwork;

impl NetBackend for NoNetwork {
    fn http_get(&self, _: &Url, _: &[(String, String)], _: u64) -> Result<HttpReply, NetFailure> {
        Err(NetFailure::Offline)
    }
    fn git_list_refs(&self, _: &str) -> Result<Vec<(String, String)>, NetFailure> {
        Err(NetFailure::Offline)
    }
}

#[cfg(test)]
mod tests {
    use super::NetFailure;

    #[test]
    fn failures_in_words_never_show_credentials() {
        let t = NetFailure::Transport("error sending https://deploy:s3cret@h.example/x".into());
        assert!(!t.to_string().contains("s3cret"), "{t}");
        assert_eq!(
            NetFailure::TooLarge(64 << 20).to_string(),
            "the answer is larger than 64 MiB"
        );
        assert_eq!(
            NetFailure::TooLarge(100).to_string(),
            "the answer is larger than 100 bytes"
        );
    }
}
