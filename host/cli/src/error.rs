//! The CLI's error type: every failure a command can report, with its exit code.

use stackpack_fetch::FetchError;
use stackpack_plugin::PluginError;
use stackpack_site::SiteError;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Site(#[from] SiteError),
    #[error(transparent)]
    Plugin(#[from] PluginError),
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// A pack that is not installed; `hint` says what to do.
    #[error("Pack \"{pack}\" is not found.\n{hint}")]
    PackNotFound { pack: String, hint: String },
    #[error("Pack \"{pack}\" at {path} is invalid: {reason}")]
    PackInvalid {
        pack: String,
        path: String,
        reason: String,
    },
    #[error("cannot write output: {0}")]
    Output(String),
    #[error(transparent)]
    Install(Box<stackpack_install::InstallError>),
    #[error(transparent)]
    Plugins(Box<crate::plugins::PluginsError>),
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Venv(Box<stackpack_venv::VenvError>),
    #[error(transparent)]
    Config(Box<stackpack_config::ConfigError>),
    #[error(
        "no pack index is usable ({0}); check index_url / --index, the network, or run once online to fill the cache"
    )]
    NoIndex(String),
    #[error("Pack \"{pack}\" is not in any index. {hint}")]
    NotInIndex { pack: String, hint: String },
    #[error(transparent)]
    Registry(#[from] Box<stackpack_registry::RegistryError>),
    /// The failure was already reported on stdout (per-pack results).
    #[error("")]
    Reported,
}

impl From<stackpack_install::InstallError> for CliError {
    fn from(e: stackpack_install::InstallError) -> Self {
        CliError::Install(Box::new(e))
    }
}

impl From<crate::plugins::PluginsError> for CliError {
    fn from(e: crate::plugins::PluginsError) -> Self {
        CliError::Plugins(Box::new(e))
    }
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        1
    }
}
