use std::path::PathBuf;
use std::time::Duration;

/// Why an install or removal failed. Each message says what went wrong and what to do.
/// The failures of one reference (resolving, fetching, checking it) do not repeat the
/// reference: the install report shows each beside the reference it belongs to.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("{0}")]
    Reference(#[from] stackpack_core::CoreError),

    #[error(
        "no resolver accepts {reference:?}. Accepted forms: name, name=version, owner/repo, \
         https://host/path[.git][=ref], ssh://git@host/path, git@host:group/pack, file:///dir[=ref]"
    )]
    NoResolver { reference: String },

    #[error("{message}")]
    Resolve { message: String },

    #[error(
        "plugin {plugin} was denied network access: {message}. Grant the host to it in the \
         config ([plugins.{plugin}] hosts = [...]) if you trust it"
    )]
    Denied { plugin: String, message: String },

    #[error(
        "{url} is not under an origin allowed by the enterprise settings in {} \
         (allowed_sources = [{allowed}]); nothing was fetched. Install the pack from an allowed \
         source, or ask your administrator to allow its origin",
        file.display()
    )]
    SourceNotAllowed {
        url: String,
        file: PathBuf,
        allowed: String,
    },

    #[error(
        "pack index {url} is not under an origin allowed by the enterprise settings in {} \
         (allowed_sources = [{allowed}]); nothing was fetched. Set index_url (or --index) to an \
         allowed index, or ask your administrator to allow its origin",
        file.display()
    )]
    IndexNotAllowed {
        url: String,
        file: PathBuf,
        allowed: String,
    },

    #[error(
        "enterprise settings {}: allowed_sources entry {entry:?} is not valid: {reason}; ask your \
         administrator to fix the file",
        file.display()
    )]
    AllowedSource {
        file: PathBuf,
        entry: String,
        reason: String,
    },

    #[error(transparent)]
    Plugin(#[from] stackpack_plugin::PluginError),

    #[error(transparent)]
    Fetch(#[from] stackpack_fetch::FetchError),

    #[error("{message}")]
    InvalidPack { message: String },

    #[error(
        "internal error: fetching {reference} panicked ({panic}); nothing was installed from \
         it. Please report this as a bug"
    )]
    FetchPanicked { reference: String, panic: String },

    #[error(
        "dependency conflict on pack \"{pack}\": {first_by} requires {first}, {second_by} requires \
         {second}. Nothing was installed; align the versions in their pack.yaml dependencies or \
         install with --skip-dependencies"
    )]
    Conflict {
        pack: String,
        first: String,
        first_by: String,
        second: String,
        second_by: String,
    },

    #[error(
        "another stackpack is working on {} (pid {holder}) and did not finish within {}s; \
         try again later, or stop that process",
        root.display(), waited.as_secs()
    )]
    LockTimeout {
        root: PathBuf,
        holder: String,
        waited: Duration,
    },

    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("{0}")]
    Site(#[from] stackpack_site::SiteError),

    #[error("lockfile {}: {reason}; fix or delete it (it is rewritten by the next install)", path.display())]
    Lockfile { path: PathBuf, reason: String },

    #[error(
        "journal {}: {reason}. It records an interrupted install or removal in a form this \
         stackpack cannot read (another version wrote it, or it is damaged); nothing was \
         changed. Check that {} and stackpack.lock agree, then delete it",
        path.display(), path.parent().map(|p| p.join("packs")).unwrap_or_default().display()
    )]
    Journal { path: PathBuf, reason: String },

    #[error("pack \"{pack}\" is not in the lockfile {}; install it without --locked first", path.display())]
    NotLocked { pack: String, path: PathBuf },

    #[error("Pack \"{pack}\" is not installed in {}. Run `stackpack list` to see installed packs", packs_dir.display())]
    NotInstalled { pack: String, packs_dir: PathBuf },

    #[error("Pack \"{pack}\" is in {}, which stackpack does not manage; remove it there by hand", path.display())]
    NotManaged { pack: String, path: PathBuf },

    #[error(
        "Pack \"{pack}\" ships with StackStorm and is not removed; pass --force to remove it anyway"
    )]
    SystemPack { pack: String },

    #[error(
        "Pack \"{pack}\" is required by {}; remove those first, or pass --force",
        dependents.join(", ")
    )]
    Required {
        pack: String,
        dependents: Vec<String>,
    },
}

impl InstallError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> InstallError {
        let path = path.into();
        move |source| InstallError::Io {
            action,
            path,
            source,
        }
    }
}
