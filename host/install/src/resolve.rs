//! The resolver chain: each resolver plugin in order is asked where a reference lives;
//! `not-applicable` passes it to the next one.

use stackpack_core::{GitRef, PackRef, RefKind, Source};
use stackpack_plugin::{Plugin, PluginKind, Refusal};

use crate::error::InstallError;

/// Where a reference lives, and which plugin said so (or the lockfile, for
/// `install --locked`: [`crate::LockedPack::located`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub source: Source,
    /// Identity for the lockfile and for policies, e.g. `github.com/owner/repo`.
    pub canonical: String,
    pub resolver: String,
    pub resolver_sha256: String,
}

pub struct ResolverChain<'a> {
    plugins: Vec<&'a Plugin>,
}

impl<'a> ResolverChain<'a> {
    /// The resolver plugins among `plugins`, in their order.
    pub fn new(plugins: &'a [Plugin]) -> ResolverChain<'a> {
        ResolverChain {
            plugins: plugins
                .iter()
                .filter(|p| p.kind() == PluginKind::Resolver)
                .collect(),
        }
    }

    /// Asks each resolver in turn. Errors do not repeat the reference: the caller's
    /// output names it. A git answer whose URL is `oci://` (an index entry whose
    /// `repo_url` is a registry) is asked again as that OCI reference, with the version
    /// it named after `=`, so the OCI resolver decides it.
    pub fn locate(&self, reference: &stackpack_core::PackRef) -> Result<Located, InstallError> {
        let located = self.locate_once(reference)?;
        let Source::Git { url, git_ref, .. } = &located.source else {
            return Ok(located);
        };
        if !stackpack_core::is_oci(url) || matches!(reference.kind(), RefKind::Oci) {
            return Ok(located);
        }
        // A URL naming its tag or digest is taken as it is.
        let pinned = url
            .parse::<stackpack_core::OciRef>()
            .is_ok_and(|r| r.tag.is_some() || r.digest.is_some());
        let text = match git_ref {
            GitRef::Any(v) | GitRef::Tag(v) | GitRef::Branch(v) if !pinned => format!("{url}={v}"),
            _ => url.clone(),
        };
        let forwarded = PackRef::parse(&text).map_err(|e| InstallError::Resolve {
            message: format!(
                "resolver {} answered the OCI reference {}, which is not usable: {e}",
                located.resolver,
                stackpack_core::redact_url(url)
            ),
        })?;
        tracing::debug!("{reference}: resolved to {forwarded}, asked again");
        self.locate_once(&forwarded)
    }

    fn locate_once(&self, reference: &stackpack_core::PackRef) -> Result<Located, InstallError> {
        let shown = reference.to_string(); // redacted
        for plugin in &self.plugins {
            let answer = plugin.resolve(reference)?;
            let refusal = match answer {
                Ok(resolved) => {
                    tracing::debug!("{shown}: resolved by plugin {}", plugin.name());
                    return Ok(Located {
                        source: resolved.source,
                        canonical: resolved.canonical,
                        resolver: plugin.name().to_string(),
                        resolver_sha256: plugin.sha256().to_string(),
                    });
                }
                Err(r) => r,
            };
            let message = match refusal {
                Refusal::NotApplicable => continue,
                Refusal::Denied(message) => {
                    return Err(InstallError::Denied {
                        plugin: plugin.name().to_string(),
                        message: stackpack_core::redact_url(&message),
                    });
                }
                Refusal::NotFound(m) | Refusal::InvalidReference(m) | Refusal::Other(m) => m,
                Refusal::Unavailable(m) => {
                    format!("{m} (plugin {} could not reach its source)", plugin.name())
                }
            };
            return Err(InstallError::Resolve {
                message: stackpack_core::redact_url(&message),
            });
        }
        Err(InstallError::NoResolver { reference: shown })
    }
}
