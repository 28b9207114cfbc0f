//! What the caller configures: the interpreter, the installer, installer options and the
//! network settings handed to every child process.

use std::fmt;
use std::path::PathBuf;

use stackpack_core::redact_url;

/// Which tool creates the venv and installs requirements; defined in stackpack-core so
/// the settings can parse it when the config file is read.
pub use stackpack_core::InstallerChoice;

/// Network settings for the installers. A field left `None` leaves the inherited
/// environment variable as it is (so a proxy set in stackpack's own environment still
/// applies); a `Some` value replaces both spellings (`http_proxy` and `HTTP_PROXY`).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ProxyEnv {
    pub http_proxy: Option<String>,
    pub https_proxy: Option<String>,
    pub no_proxy: Option<String>,
    /// A PEM bundle of CA certificates: `PIP_CERT` for pip, `SSL_CERT_FILE` for uv.
    pub ca_bundle: Option<PathBuf>,
}

impl fmt::Debug for ProxyEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyEnv")
            .field("http_proxy", &self.http_proxy.as_deref().map(redact_url))
            .field("https_proxy", &self.https_proxy.as_deref().map(redact_url))
            .field("no_proxy", &self.no_proxy)
            .field("ca_bundle", &self.ca_bundle)
            .finish()
    }
}

/// How pack venvs are built.
#[derive(Clone, PartialEq, Eq)]
pub struct VenvConfig {
    /// `python_binary`: a name on PATH or a path.
    pub python: String,
    pub installer: InstallerChoice,
    pub index_url: Option<String>,
    pub extra_index_urls: Vec<String>,
    /// Wheelhouses (`--find-links`).
    pub find_links: Vec<PathBuf>,
    /// No index at all: pip `--no-index`, uv `--offline --no-index`.
    pub offline: bool,
    pub proxy: ProxyEnv,
}

impl Default for VenvConfig {
    fn default() -> Self {
        VenvConfig {
            python: "python3".to_owned(),
            installer: InstallerChoice::Auto,
            index_url: None,
            extra_index_urls: Vec::new(),
            find_links: Vec::new(),
            offline: false,
            proxy: ProxyEnv::default(),
        }
    }
}

impl fmt::Debug for VenvConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VenvConfig")
            .field("python", &self.python)
            .field("installer", &self.installer)
            .field("index_url", &self.index_url.as_deref().map(redact_url))
            .field(
                "extra_index_urls",
                &self
                    .extra_index_urls
                    .iter()
                    .map(|u| redact_url(u))
                    .collect::<Vec<_>>(),
            )
            .field("find_links", &self.find_links)
            .field("offline", &self.offline)
            .field("proxy", &self.proxy)
            .finish()
    }
}
