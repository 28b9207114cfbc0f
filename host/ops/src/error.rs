//! The operations' error type: every failure an operation can report, each with the
//! [`ErrorKind`] that decides the process's exit code.

use std::path::PathBuf;

use stackpack_fetch::FetchError;
use stackpack_install::InstallError;
use stackpack_plugin::{PluginError, PluginKind};
use stackpack_site::SiteError;

/// What kind of failure an error is, for callers that act on it (the CLI maps each to
/// a documented exit code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// The work was tried and failed (network, disk, a plugin, a pack's content).
    Failed,
    /// The input is not usable: arguments, a config file, a reference, a digest.
    Usage,
    /// The thing named does not exist: a pack, an index entry, a plugin.
    NotFound,
    /// The request contradicts what is there: a dependency conflict, a pack that others
    /// need, a plugin already added, another stackpack holding the root.
    Conflict,
    /// A trust rule refused it: a pin that does not match, an enterprise rule.
    Denied,
    /// The local work is complete, but the running StackStorm was not told about it
    /// (its API is down, slow, refused the credentials or the packs).
    Handoff,
}

#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error(transparent)]
    Site(#[from] SiteError),
    #[error(transparent)]
    Plugin(#[from] PluginError),
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Install(Box<InstallError>),
    #[error(transparent)]
    Oci(Box<stackpack_oci::OciError>),
    /// `stackpack push` cannot start: the arguments name nothing pushable.
    #[error("cannot push {what}: {reason}; {fix}")]
    Push {
        what: String,
        reason: String,
        fix: String,
    },
    #[error(transparent)]
    Venv(Box<stackpack_venv::VenvError>),
    #[error(transparent)]
    Config(Box<stackpack_config::ConfigError>),
    #[error(transparent)]
    Registry(Box<stackpack_registry::RegistryError>),

    /// A pack that is not installed; `hint` says what to do.
    #[error("Pack \"{pack}\" is not found.\n{hint}")]
    PackNotFound { pack: String, hint: String },
    #[error("Pack \"{pack}\" at {path} is invalid: {reason}; fix its pack.yaml and try again")]
    PackInvalid {
        pack: String,
        path: String,
        reason: String,
    },
    #[error(
        "no pack index is usable ({0}); check index_url / --index, the network, or run once online to fill the cache"
    )]
    NoIndex(String),
    #[error("Pack \"{pack}\" is not in any index. {hint}")]
    NotInIndex { pack: String, hint: String },
    #[error("{} records no packs; install some without --locked first", path.display())]
    EmptyLockfile { path: PathBuf },
    #[error(
        "cannot read the desired lockfile {from}: {reason}; nothing was changed. Check the \
         path or URL, the network and the [[credentials]] for it, then sync again"
    )]
    SyncSource { from: String, reason: String },
    #[error(
        "the desired lockfile {from} does not exist; nothing was changed. Check the path or \
         URL (a root's lockfile is <root>/stackpack.lock)"
    )]
    SyncSourceMissing { from: String },
    #[error(
        "cannot sync from {from}: `{scheme}://` is not a source sync reads; give a lockfile \
         path, a file:// URL or an https:// URL"
    )]
    SyncScheme { from: String, scheme: String },

    #[error(
        "Pack \"{pack}\" doesn't have a config schema ({}); there is nothing to configure",
        path.display()
    )]
    NoConfigSchema { pack: String, path: PathBuf },
    #[error(
        "Pack \"{pack}\" doesn't have a config schema defined ({} does not exist); the pack \
         takes no configuration",
        path.display()
    )]
    ConfigSchemaNotFound { pack: String, path: PathBuf },
    #[error(
        "pack \"{pack}\" has no config yet ({} does not exist); run `stackpack config {pack}`",
        path.display()
    )]
    NoConfig { pack: String, path: PathBuf },
    #[error(
        "the config for pack \"{pack}\" does not match its config.schema.yaml; nothing was written:\n{}",
        problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n")
    )]
    ConfigMismatch { pack: String, problems: Vec<String> },
    #[error("pack \"{pack}\": {}: {source}", path.display())]
    Schema {
        pack: String,
        path: PathBuf,
        source: Box<stackpack_config::ConfigError>,
    },
    #[error("cannot read {}: {reason}; check the path and its permissions", path.display())]
    ReadInput { path: PathBuf, reason: String },
    #[error(
        "{what} is not valid YAML: {reason}; nothing was written, fix the YAML and run the command again"
    )]
    BadYaml { what: String, reason: String },

    #[error("override file {}: {reason}; {fix}", path.display())]
    OverrideFile {
        path: PathBuf,
        reason: String,
        fix: &'static str,
    },

    // Plugins: found, fetched, verified, managed. Every message names the plugin (or
    // source), what failed and what to do.
    #[error("cannot read plugin {plugin} from {from}: {reason}; {hint}")]
    PluginRead {
        plugin: String,
        from: String,
        reason: String,
        hint: String,
    },
    #[error(
        "plugin {plugin} was refused: the sha256 of {from} is {actual}, but it is pinned to \
         {expected}. The file changed since it was pinned (replaced or tampered with); restore \
         the original, or, if you trust the new file, {fix}"
    )]
    PinMismatch {
        plugin: String,
        from: String,
        expected: String,
        actual: String,
        fix: String,
    },
    #[error(
        "the sha256 of {from} is {actual}, but --sha256 says {expected}; nothing was added. \
         Check that this is the file you meant to add; pass its real digest only if you trust it"
    )]
    DigestMismatch {
        from: String,
        expected: String,
        actual: String,
    },
    #[error("config file {file}: [plugins.{plugin}] {problem}; {fix}")]
    PluginConfig {
        file: String,
        plugin: String,
        problem: String,
        fix: String,
    },
    #[error(
        "plugin {plugin} is not allowed by the enterprise settings in {file} \
         (allowed_plugins = [{allowed}]); {fix}"
    )]
    PluginNotAllowed {
        plugin: String,
        file: String,
        allowed: String,
        fix: String,
    },
    #[error(
        "plugin {plugin} ({from}) has no sha256 pin, and the enterprise settings in {enterprise} \
         require pinned plugins (require_pinned_plugins = true); add `sha256 = \"{actual}\"` to \
         [plugins.{plugin}] in {file} if you trust this file"
    )]
    Unpinned {
        plugin: String,
        from: String,
        actual: String,
        file: String,
        enterprise: String,
    },
    #[error("{name} is a built-in plugin: {what}")]
    Builtin { name: String, what: String },
    #[error(
        "plugin {name} is already added ({}); pass --force to replace it, or choose another name with --name",
        path.display()
    )]
    AlreadyAdded { name: String, path: PathBuf },
    #[error("there is no plugin named {name:?}; {hint}")]
    UnknownPlugin { name: String, hint: String },
    #[error(
        "invalid sha256 {value:?}: expected 64 hex digits, as printed by `sha256sum plugin.wasm`"
    )]
    BadDigest { value: String },
    #[error("invalid {flag} {value:?}: write it as key=value")]
    BadAssignment { flag: &'static str, value: String },
    #[error("invalid plugin name: {0}; pass another one with --name")]
    BadName(String),
    #[error("cannot read {what} {}: {reason}; {hint}", path.display())]
    Input {
        what: &'static str,
        path: PathBuf,
        reason: String,
        hint: &'static str,
    },
    #[error(
        "`stackpack plugin test --refs --recorded` runs resolvers, and plugin {plugin} is a {kind}; test a policy with --pack DIR (a sample pack)"
    )]
    NotAResolver { plugin: String, kind: PluginKind },
    #[error(
        "`stackpack plugin test --pack` runs override policies, and plugin {plugin} is a {kind}; test a resolver with --refs FILE --recorded FILE"
    )]
    NotAPolicy { plugin: String, kind: PluginKind },
    #[error(
        "cannot write the plugin project {}: {reason}; nothing was left there", path.display()
    )]
    Scaffold { path: PathBuf, reason: String },
    #[error("{} exists and is not empty; choose another directory with --dir, or remove it", path.display())]
    ScaffoldExists { path: PathBuf },
    #[error("cannot create the plugin project: {0}")]
    NewName(String),

    /// The st2 API did not register the packs; `fix` names the setting or step.
    #[error("st2 at {api_url} did not register {}: {reason}; {fix}", .packs.join(", "))]
    St2Handoff {
        api_url: String,
        packs: Vec<String>,
        reason: String,
        fix: String,
    },
    /// The st2 API did not delete a removed pack's resources.
    #[error("st2 at {api_url} did not unregister removed pack {pack}: {reason}; {fix}")]
    St2Unregister {
        api_url: String,
        pack: String,
        reason: String,
        fix: String,
    },
    /// `doctor` could not read st2's packs.
    #[error("cannot check st2 at {api_url}: {reason}; {fix}")]
    St2Check {
        api_url: String,
        reason: String,
        fix: String,
    },
    /// The st2 API did not take an override policy's verdict on a resource.
    #[error(
        "st2 at {api_url} did not take the policy verdict enabled={enabled} on {resource}: {reason}; {fix}"
    )]
    St2Override {
        api_url: String,
        resource: String,
        enabled: bool,
        reason: String,
        fix: String,
    },
    #[error("no StackStorm API is configured: set [st2] api_url in stackpack.toml or $ST2_API_URL")]
    St2NotConfigured,
    #[error("cannot record the packs st2 was not told about in {}: {reason}; check that the root is writable", path.display())]
    St2Pending { path: PathBuf, reason: String },
}

impl From<InstallError> for OpsError {
    fn from(e: InstallError) -> Self {
        OpsError::Install(Box::new(e))
    }
}

impl From<stackpack_venv::VenvError> for OpsError {
    fn from(e: stackpack_venv::VenvError) -> Self {
        OpsError::Venv(Box::new(e))
    }
}

impl From<stackpack_config::ConfigError> for OpsError {
    fn from(e: stackpack_config::ConfigError) -> Self {
        OpsError::Config(Box::new(e))
    }
}

impl From<stackpack_registry::RegistryError> for OpsError {
    fn from(e: stackpack_registry::RegistryError) -> Self {
        OpsError::Registry(Box::new(e))
    }
}

impl From<stackpack_oci::OciError> for OpsError {
    fn from(e: stackpack_oci::OciError) -> Self {
        OpsError::Oci(Box::new(e))
    }
}

impl OpsError {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        use ErrorKind::*;
        match self {
            OpsError::Site(e) => site_kind(e),
            OpsError::Install(e) => install_kind(e),
            OpsError::Oci(e) => match **e {
                stackpack_oci::OciError::NotFound { .. } => NotFound,
                stackpack_oci::OciError::Unauthorized { .. }
                | stackpack_oci::OciError::DigestMismatch { .. } => Denied,
                stackpack_oci::OciError::PlainHttp { .. }
                | stackpack_oci::OciError::Config { .. }
                | stackpack_oci::OciError::Layer { .. } => Usage,
                _ => Failed,
            },
            OpsError::Push { .. } => Usage,
            OpsError::Plugin(PluginError::Grant { .. }) => Usage,
            OpsError::Config(e) => match **e {
                stackpack_config::ConfigError::BadAssignment { .. }
                | stackpack_config::ConfigError::BadValue { .. }
                | stackpack_config::ConfigError::PathConflict { .. }
                | stackpack_config::ConfigError::BadPackName { .. }
                | stackpack_config::ConfigError::NotATerminal => Usage,
                _ => Failed,
            },
            OpsError::Plugin(_)
            | OpsError::Fetch(_)
            | OpsError::Venv(_)
            | OpsError::Registry(_)
            | OpsError::PackInvalid { .. }
            | OpsError::NoIndex(_)
            | OpsError::PluginRead { .. }
            | OpsError::OverrideFile { .. }
            | OpsError::Schema { .. } => Failed,
            OpsError::SyncSource { .. } => Failed,
            OpsError::SyncSourceMissing { .. } => NotFound,
            OpsError::EmptyLockfile { .. }
            | OpsError::SyncScheme { .. }
            | OpsError::ReadInput { .. }
            | OpsError::BadYaml { .. }
            | OpsError::PluginConfig { .. }
            | OpsError::BadDigest { .. }
            | OpsError::BadAssignment { .. }
            | OpsError::BadName(_)
            | OpsError::Input { .. }
            | OpsError::NotAResolver { .. }
            | OpsError::NotAPolicy { .. }
            | OpsError::NewName(_)
            | OpsError::Builtin { .. }
            | OpsError::NoConfigSchema { .. }
            | OpsError::ConfigMismatch { .. } => Usage,
            OpsError::PackNotFound { .. }
            | OpsError::NotInIndex { .. }
            | OpsError::UnknownPlugin { .. }
            | OpsError::NoConfig { .. }
            | OpsError::ConfigSchemaNotFound { .. } => NotFound,
            OpsError::AlreadyAdded { .. } | OpsError::ScaffoldExists { .. } => Conflict,
            OpsError::Scaffold { .. } => Failed,
            OpsError::PinMismatch { .. }
            | OpsError::DigestMismatch { .. }
            | OpsError::PluginNotAllowed { .. }
            | OpsError::Unpinned { .. } => Denied,
            OpsError::St2Handoff { .. }
            | OpsError::St2Unregister { .. }
            | OpsError::St2Override { .. }
            | OpsError::St2Check { .. }
            | OpsError::St2Pending { .. } => Handoff,
            OpsError::St2NotConfigured => Usage,
        }
    }
}

fn install_kind(e: &InstallError) -> ErrorKind {
    use ErrorKind::*;
    match e {
        InstallError::Reference(_)
        | InstallError::AllowedSource { .. }
        | InstallError::Desired { .. } => Usage,
        InstallError::NoResolver { .. }
        | InstallError::NotLocked { .. }
        | InstallError::NotInstalled { .. }
        | InstallError::NoVersionInRange { .. } => NotFound,
        InstallError::Conflict { .. }
        | InstallError::ChangesInstalled(_)
        | InstallError::LockTimeout { .. }
        | InstallError::NotManaged { .. }
        | InstallError::SyncUnmanaged { .. }
        | InstallError::SystemPack { .. }
        | InstallError::Required { .. } => Conflict,
        InstallError::Denied { .. }
        | InstallError::SourceNotAllowed { .. }
        | InstallError::IndexNotAllowed { .. } => Denied,
        InstallError::Site(s) => site_kind(s),
        _ => Failed,
    }
}

fn site_kind(e: &SiteError) -> ErrorKind {
    match e {
        SiteError::ConfigSyntax { .. }
        | SiteError::ConfigValue { .. }
        | SiteError::IndexUrl { .. } => ErrorKind::Usage,
        _ => ErrorKind::Failed,
    }
}
