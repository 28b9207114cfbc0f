use std::path::PathBuf;

/// Errors reading settings, preparing the root, or reading installed packs.
#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    #[error("could not read config file {}: {reason}; pass an existing file with --config or unset STACKPACK_CONFIG", path.display())]
    ConfigRead { path: PathBuf, reason: String },

    #[error("config file {} is not valid: {reason}", path.display())]
    ConfigSyntax { path: PathBuf, reason: String },

    #[error("config file {}: key `{key}` has a bad value; expected {expected}", path.display())]
    ConfigValue {
        path: PathBuf,
        key: String,
        expected: String,
    },

    #[error("invalid index URL {url:?}: {reason}; use an http(s):// or file:// URL or a path")]
    IndexUrl { url: String, reason: String },

    #[error("cannot create {} under the stackpack root: {reason}. {hint}", path.display())]
    RootCreate {
        path: PathBuf,
        reason: String,
        hint: String,
    },

    #[error("cannot read packs directory {}: {reason}", path.display())]
    ReadDir { path: PathBuf, reason: String },

    #[error("cannot read the enterprise settings {}: {reason}; {hint}", path.display())]
    EnterpriseRead {
        path: PathBuf,
        reason: String,
        hint: String,
    },

    #[error("cannot {action} {}: {reason}; check that stackpack may read and write the root's plugins directory", path.display())]
    PluginStore {
        action: &'static str,
        path: PathBuf,
        reason: String,
    },

    #[error(
        "plugin manifest {} is not valid: {reason}; remove the plugin with `stackpack plugin remove {name}` and add it again",
        path.display()
    )]
    PluginManifest {
        path: PathBuf,
        name: String,
        reason: String,
    },
}
