//! The resolver chain: each resolver plugin in order is asked where a reference lives;
//! `not-applicable` passes it to the next one.

use stackpack_core::Source;
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
    /// output names it.
    pub fn locate(&self, reference: &stackpack_core::PackRef) -> Result<Located, InstallError> {
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
