//! Enterprise settings: a system-wide TOML file that an administrator owns and that
//! the user's config cannot loosen.
//!
//! ```toml
//! # /etc/stackpack/enterprise.toml
//! require_pinned_plugins = true              # refuse config-declared plugins without sha256
//! allowed_plugins = ["corp-resolver"]        # non-built-in plugins that may load
//! allowed_resolvers = ["corp-resolver", "index", "file"]   # the resolver chain, at most
//! allowed_sources = ["https://packs.corp.example", "https://*.corp.example", "file://"]
//! ```
//!
//! Where it is read from: [`SYSTEM_FILE`] when that file exists. Only when it does not
//! exist may [`ENV_VAR`] point at another file (for tests and packaging), so a user can
//! never replace or loosen a system file that is in place. Unknown keys are errors, not
//! warnings: a misspelt rule must not silently allow everything.
//!
//! `allowed_sources` entries use the plugin grant grammar (`scheme://host[:port]`, with a
//! leading `*.` for subdomains), plus `file://` for every local path or `file:///dir`
//! for local paths under `dir`; they are checked by the installer
//! (`stackpack-install`), which parses them.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::error::SiteError;

/// The system-wide enterprise file.
pub const SYSTEM_FILE: &str = "/etc/stackpack/enterprise.toml";
/// Names an enterprise file, honoured only when [`SYSTEM_FILE`] does not exist.
pub const ENV_VAR: &str = "STACKPACK_ENTERPRISE_CONFIG";

const KEYS: &[&str] = &[
    "require_pinned_plugins",
    "allowed_plugins",
    "allowed_sources",
    "allowed_resolvers",
];

/// The enterprise rules in force (all off when there is no enterprise file).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Enterprise {
    /// The file the rules came from.
    pub source: Option<PathBuf>,
    /// Refuse config-declared plugins that have no `sha256`.
    pub require_pinned_plugins: bool,
    /// When set, the only non-built-in plugins that may be added or loaded.
    pub allowed_plugins: Option<Vec<String>>,
    /// When set, the only origins packs (and indexes) may come from, as written.
    pub allowed_sources: Option<Vec<String>>,
    /// When set, the only resolvers (built-in or not) in the chain.
    pub allowed_resolvers: Option<Vec<String>>,
}

impl Enterprise {
    /// The rules from [`SYSTEM_FILE`], or from `$STACKPACK_ENTERPRISE_CONFIG` when the
    /// system file does not exist, or none.
    pub fn load() -> Result<Enterprise, SiteError> {
        Enterprise::load_from(Path::new(SYSTEM_FILE), std::env::var_os(ENV_VAR))
    }

    /// [`Enterprise::load`] with the system path and the variable's value given.
    pub fn load_from(system: &Path, env: Option<OsString>) -> Result<Enterprise, SiteError> {
        match std::fs::symlink_metadata(system) {
            Ok(_) => return Enterprise::read(system, "the system enterprise file"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            // Present but unreadable: never fall back to a file the user chooses.
            Err(e) => {
                return Err(SiteError::EnterpriseRead {
                    path: system.to_path_buf(),
                    reason: e.to_string(),
                    hint: "it exists but cannot be inspected; ask the administrator to make it readable".into(),
                });
            }
        }
        match env.filter(|v| !v.is_empty()) {
            Some(p) => {
                let p = PathBuf::from(p);
                Enterprise::read(&std::path::absolute(&p).unwrap_or(p), ENV_VAR)
            }
            None => Ok(Enterprise::default()),
        }
    }

    fn read(path: &Path, named_by: &str) -> Result<Enterprise, SiteError> {
        let text = stackpack_fs::read_to_string_limited(path, crate::settings::MAX_CONFIG_BYTES)
            .map_err(|e| SiteError::EnterpriseRead {
                path: path.to_path_buf(),
                reason: e.to_string(),
                hint: if named_by == ENV_VAR {
                    format!("{ENV_VAR} names it; point it at an existing file or unset it")
                } else {
                    "ask the administrator to make it readable".into()
                },
            })?;
        let table = text
            .parse::<toml::Table>()
            .map_err(|e| SiteError::ConfigSyntax {
                path: path.to_path_buf(),
                reason: crate::settings::describe_toml_error(&text, &e),
            })?;
        Enterprise::from_table(path, &table)
    }

    fn from_table(path: &Path, table: &toml::Table) -> Result<Enterprise, SiteError> {
        let bad = |key: &str, expected: &str| SiteError::ConfigValue {
            path: path.to_path_buf(),
            key: key.to_string(),
            expected: expected.to_string(),
        };
        let names = |key: &str, v: &toml::Value, what: &str| -> Result<Vec<String>, SiteError> {
            v.as_array()
                .and_then(|items| {
                    items
                        .iter()
                        .map(|i| {
                            i.as_str()
                                .map(str::trim)
                                .filter(|s| !s.is_empty())
                                .map(str::to_string)
                        })
                        .collect::<Option<Vec<_>>>()
                })
                .ok_or_else(|| bad(key, what))
        };
        let mut e = Enterprise {
            source: Some(path.to_path_buf()),
            ..Enterprise::default()
        };
        for (key, v) in table {
            match key.as_str() {
                "require_pinned_plugins" => {
                    e.require_pinned_plugins =
                        v.as_bool().ok_or_else(|| bad(key, "true or false"))?;
                }
                "allowed_plugins" => {
                    e.allowed_plugins = Some(names(key, v, "a list of plugin names")?);
                }
                "allowed_resolvers" => {
                    e.allowed_resolvers =
                        Some(names(key, v, "a list of resolver names (built-in or not)")?);
                }
                "allowed_sources" => {
                    e.allowed_sources = Some(names(
                        key,
                        v,
                        "a list of origins such as \"https://packs.corp.example\", \"https://*.corp.example\" or \"file://\"",
                    )?);
                }
                _ => {
                    return Err(bad(
                        key,
                        &format!(
                            "no such key; the enterprise file knows {} (unknown keys are refused so that a typo never loosens a rule)",
                            KEYS.join(", ")
                        ),
                    ));
                }
            }
        }
        Ok(e)
    }

    /// Whether a non-built-in plugin may be added or loaded.
    pub fn plugin_allowed(&self, name: &str) -> bool {
        self.allowed_plugins
            .as_ref()
            .is_none_or(|l| l.iter().any(|n| n == name))
    }

    /// Whether a resolver may be part of the chain.
    pub fn resolver_allowed(&self, name: &str) -> bool {
        self.allowed_resolvers
            .as_ref()
            .is_none_or(|l| l.iter().any(|n| n == name))
    }

    /// The file, for messages ("the enterprise settings in …").
    pub fn shown_source(&self) -> String {
        self.source
            .as_deref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "(no enterprise file)".into())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn system_file_wins_over_the_variable() {
        let d = tempfile::tempdir().unwrap();
        let system = d.path().join("enterprise.toml");
        let user = d.path().join("user.toml");
        std::fs::write(&user, "require_pinned_plugins = false\n").unwrap();
        // No system file: the variable is honoured.
        let e = Enterprise::load_from(&system, Some(user.clone().into())).unwrap();
        assert_eq!(e.source.as_deref(), Some(user.as_path()));
        // A system file: the variable is ignored.
        std::fs::write(&system, "require_pinned_plugins = true\n").unwrap();
        let e = Enterprise::load_from(&system, Some(user.into())).unwrap();
        assert!(e.require_pinned_plugins);
        assert_eq!(e.source.as_deref(), Some(system.as_path()));
    }

    #[test]
    fn nothing_means_no_rules() {
        let d = tempfile::tempdir().unwrap();
        let e = Enterprise::load_from(&d.path().join("none.toml"), None).unwrap();
        assert_eq!(e, Enterprise::default());
        assert!(e.plugin_allowed("x") && e.resolver_allowed("github"));
    }

    #[test]
    fn keys_and_errors() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("e.toml");
        std::fs::write(
            &p,
            "allowed_plugins = [\"corp\"]\nallowed_resolvers = [\"index\"]\nallowed_sources = [\"file://\"]\n",
        )
        .unwrap();
        let e = Enterprise::load_from(&d.path().join("none"), Some(p.clone().into())).unwrap();
        assert!(e.plugin_allowed("corp") && !e.plugin_allowed("other"));
        assert!(e.resolver_allowed("index") && !e.resolver_allowed("github"));
        assert_eq!(e.allowed_sources, Some(vec!["file://".to_string()]));

        std::fs::write(&p, "allowed_source = [\"file://\"]\n").unwrap();
        let err = Enterprise::load_from(&d.path().join("none"), Some(p.clone().into()))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("e.toml") && err.contains("`allowed_source`"),
            "{err}"
        );

        std::fs::write(&p, "require_pinned_plugins = \"yes\"\n").unwrap();
        let err = Enterprise::load_from(&d.path().join("none"), Some(p.into()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("require_pinned_plugins"), "{err}");

        let err = Enterprise::load_from(&d.path().join("none"), Some("/nonexistent/e.toml".into()))
            .unwrap_err()
            .to_string();
        assert!(err.contains(ENV_VAR), "{err}");
    }
}
