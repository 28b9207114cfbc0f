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

    /// A tag resolved to another commit than the one the lockfile recorded for it.
    #[error(
        "tag `{tag}` of {url} was moved: pack \"{pack}\" was installed from it at {old}, \
         and it now points at {new}; nothing was replaced. Check with the pack's \
         maintainer that the new content is genuine, then pass --force to install it"
    )]
    TagMoved {
        pack: String,
        url: String,
        tag: String,
        old: String,
        new: String,
    },

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

    /// Writing a fetched tree into its staging directory failed (a full disk, most often).
    #[error(
        "cannot stage {reference}: writing `{entry}` into the staging directory {} failed: \
         {source}; {fix}",
        dir.display()
    )]
    Stage {
        reference: String,
        entry: String,
        dir: PathBuf,
        source: std::io::Error,
        fix: &'static str,
    },

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
        "dependency conflict on pack \"{pack}\": {pack} {installed} is installed, and {requirer} \
         requires {requirement}. Nothing was installed. Install the dependency explicitly \
         (stackpack install {suggestion}) if you mean to change it, or pass --force to accept the \
         change{}",
        dependents_text(&.0.dependents),
        pack = .0.pack, installed = .0.installed, requirer = .0.requirer,
        requirement = .0.requirement, suggestion = .0.suggestion
    )]
    ChangesInstalled(Box<InstalledConflict>),

    #[error(
        "{asked} is the pack \"{found}\" (its pack.yaml says so), not \"{asked_name}\"; refusing \
         to install it{}. Check the index entry or dependency that names it, or pass --force to \
         install it as \"{found}\" anyway",
        replaces.as_ref().map(|r| format!(", as it would replace the installed {found} {r}")).unwrap_or_default()
    )]
    NotWhatWasAsked {
        /// The reference as given (credentials redacted).
        asked: String,
        /// The name it was asked for (index key, dependency name).
        asked_name: String,
        /// The ref in the fetched pack.yaml.
        found: String,
        /// The installed version it would replace, if any.
        replaces: Option<String>,
    },

    #[error(
        "{asked} is the pack \"{found}\", and would replace the installed {found} {installed}, which \
         came from {installed_from}; refusing to replace a pack from another source. Remove \
         {found} first (stackpack remove {found}), or pass --force to replace it"
    )]
    ReplacesOtherSource {
        /// The reference as given (credentials redacted).
        asked: String,
        found: String,
        installed: String,
        /// Where the installed pack came from (the lockfile's canonical source, or "an
        /// unknown source" for a pack stackpack did not install).
        installed_from: String,
    },

    #[error(
        "no tag of {url} is a version in the range {range}; {}. Change the range, or pin one \
         version with name=version",
        if available.is_empty() { "it has no version tags".to_string() } else { format!("available versions: {}", available.join(", ")) }
    )]
    NoVersionInRange {
        range: String,
        url: String,
        /// The versions its tags name, highest first.
        available: Vec<String>,
    },

    #[error(
        "a version range ({range}) is chosen among the tags of a git repository, but {location} \
         is {what}; pin the exact version, or install the pack from its git repository"
    )]
    RangeNeedsGit {
        range: String,
        location: String,
        what: &'static str,
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

    /// Something planted where stackpack keeps one of its own files or directories
    /// under the root (a symlink, a fifo, a hard link...): never followed nor written.
    #[error(
        "{} is {what} where stackpack keeps its {role}; it is neither followed nor written. \
         Remove it (`rm {}`) and run again",
        path.display(), path.display()
    )]
    Planted {
        path: PathBuf,
        what: String,
        role: &'static str,
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

    #[error(
        "desired lockfile {from}: {reason}; nothing was changed. Point sync at a valid \
         stackpack.lock (as `stackpack install` writes it)"
    )]
    Desired { from: String, reason: String },

    #[error(
        "the desired lockfile records {} that {} holds without stackpack having installed \
         them; sync replaces only packs stackpack installed, so nothing was changed: move \
         them out of {} and sync again",
        packs.join(", "), packs_dir.display(), packs_dir.display()
    )]
    SyncUnmanaged {
        packs: Vec<String>,
        packs_dir: PathBuf,
    },

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

/// A dependency that would change the version of an installed pack.
#[derive(Debug)]
pub struct InstalledConflict {
    pub pack: String,
    /// The installed version.
    pub installed: String,
    /// The pack whose dependency asks for the change.
    pub requirer: String,
    /// The dependency as written (credentials redacted).
    pub requirement: String,
    /// What to install explicitly: `pack=version` or the dependency as written.
    pub suggestion: String,
    /// Installed packs that depend on the pack, with their requirement.
    pub dependents: Vec<String>,
}

/// `; installed packs that depend on it: a (b=1.0.0), c (b)`, or nothing.
fn dependents_text(dependents: &[String]) -> String {
    if dependents.is_empty() {
        String::new()
    } else {
        format!(
            " (installed packs that depend on it: {})",
            dependents.join(", ")
        )
    }
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
