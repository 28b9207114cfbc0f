//! A stackpack site: the root directory and its layout ([`Root`]), the operator's
//! [`Settings`] (from `stackpack.toml` or an existing st2.conf, read and typed once by
//! [`Settings::load`], completed from the environment and the command line by
//! [`Settings::resolve`]), and the packs
//! installed across the packs base paths ([`discover`] → [`InstalledPack`]). Reading
//! never creates anything; [`Root::ensure`] creates the layout on first write and
//! returns the capability handle writes go through.

pub mod discover;
pub mod enterprise;
mod error;
pub mod plugin_store;
pub mod root;
pub mod settings;

pub use discover::{InstalledPack, PackState, discover, find, search_paths};
pub use enterprise::Enterprise;
pub use error::SiteError;
pub use plugin_store::{PluginManifest, PluginStore};
pub use root::Root;
pub use settings::{
    CredentialSetting, DeclaredKind, Overrides, PackLimits, PluginSettings, ProxySettings,
    PythonSettings, RegistrySettings, Secret, Settings, St2Auth, St2Settings, normalize_index_url,
    normalize_sha256,
};
