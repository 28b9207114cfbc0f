//! The enterprise `allowed_sources` rule: where packs (and pack indexes) may come from.
//! Entries use the plugin grant grammar (`scheme://host[:port]`, `oci://host[:port]` for
//! a registry, a leading `*.` for subdomains, no allow-all), plus `file://` for any local path and `file:///dir` for
//! local paths under `dir`. The installer checks every resolution against it right
//! after the resolver answers, before anything is fetched (see `install.rs`).

use std::path::{Component, Path, PathBuf};

use stackpack_core::Source;
use stackpack_net::grants::{Grants, git_remote_url};

use crate::error::InstallError;

#[derive(Debug, Clone, PartialEq, Eq)]
enum LocalRule {
    Any,
    Under(PathBuf),
}

/// The parsed `allowed_sources` of an enterprise file.
#[derive(Debug, Clone)]
pub struct SourcePolicy {
    origins: Grants,
    local: Vec<LocalRule>,
    raw: Vec<String>,
    file: PathBuf,
}

impl SourcePolicy {
    /// Parses the entries of `allowed_sources` from the enterprise file `file`.
    pub fn new(items: &[String], file: &Path) -> Result<SourcePolicy, InstallError> {
        let mut net = Vec::new();
        let mut local = Vec::new();
        for item in items {
            let item = item.trim();
            let bad = |reason: String| InstallError::AllowedSource {
                file: file.to_path_buf(),
                entry: item.to_string(),
                reason,
            };
            if let Some(path) = item.strip_prefix("file://") {
                let path = path.trim_end_matches('/');
                if path.is_empty() {
                    local.push(LocalRule::Any);
                } else if path.starts_with('/') && !has_parent(Path::new(path)) {
                    local.push(LocalRule::Under(PathBuf::from(path)));
                } else {
                    return Err(bad(
                        "expected `file://` (every local path) or `file:///absolute/dir`".into(),
                    ));
                }
            } else {
                net.push(item.to_string());
            }
        }
        let origins =
            Grants::parse(&net).map_err(|(entry, reason)| InstallError::AllowedSource {
                file: file.to_path_buf(),
                entry,
                reason,
            })?;
        Ok(SourcePolicy {
            origins,
            local,
            raw: items.iter().map(|i| i.trim().to_string()).collect(),
            file: file.to_path_buf(),
        })
    }

    /// Whether a location (URL, scp-like git remote, or absolute local path) is under
    /// an allowed origin.
    pub fn allows(&self, location: &str) -> bool {
        if location.starts_with('/') {
            return self.local_allowed(Path::new(location));
        }
        let Ok(url) = git_remote_url(location) else {
            return false;
        };
        if url.scheme() == "file" {
            return url.to_file_path().is_ok_and(|p| self.local_allowed(&p));
        }
        self.origins.check(&url).is_ok()
    }

    fn local_allowed(&self, path: &Path) -> bool {
        self.local.iter().any(|rule| match rule {
            LocalRule::Any => true,
            LocalRule::Under(dir) => !has_parent(path) && path.starts_with(dir),
        })
    }

    fn shown_allowed(&self) -> String {
        self.raw
            .iter()
            .map(|r| format!("{r:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Refuses a source whose git URL, archive URL, OCI reference or local path is not
    /// allowed.
    pub fn check(&self, source: &Source) -> Result<(), InstallError> {
        self.check_location(&source.location())
    }

    /// Refuses a location (a URL such as `oci://host/repo:tag`, a git remote, an
    /// absolute path) that is not allowed.
    pub fn check_location(&self, location: &str) -> Result<(), InstallError> {
        if self.allows(location) {
            return Ok(());
        }
        Err(InstallError::SourceNotAllowed {
            url: stackpack_core::redact_url(location),
            file: self.file.clone(),
            allowed: self.shown_allowed(),
        })
    }

    /// Refuses a pack index that is not under an allowed origin.
    pub fn check_index(&self, url: &str) -> Result<(), InstallError> {
        if self.allows(url) {
            return Ok(());
        }
        Err(InstallError::IndexNotAllowed {
            url: stackpack_core::redact_url(url),
            file: self.file.clone(),
            allowed: self.shown_allowed(),
        })
    }
}

fn has_parent(p: &Path) -> bool {
    p.components().any(|c| matches!(c, Component::ParentDir))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn policy(items: &[&str]) -> SourcePolicy {
        let items: Vec<String> = items.iter().map(|s| s.to_string()).collect();
        SourcePolicy::new(&items, Path::new("/etc/stackpack/enterprise.toml")).unwrap()
    }

    #[test]
    fn origins_and_local_paths() {
        let p = policy(&[
            "https://packs.corp.example",
            "https://*.corp.example",
            "file:///srv/packs",
        ]);
        assert!(p.allows("https://packs.corp.example/a/b.git"));
        assert!(p.allows("https://gitlab.corp.example/g/p"));
        assert!(!p.allows("https://github.com/x/y"));
        assert!(!p.allows("http://packs.corp.example/a"));
        assert!(!p.allows("git@github.com:x/y"));
        assert!(p.allows("/srv/packs/aws"));
        assert!(p.allows("file:///srv/packs/aws"));
        assert!(!p.allows("/srv/packs/../etc"));
        assert!(!p.allows("/srv/packsx"));
        assert!(!p.allows("file:///tmp/x"));
        let any = policy(&["file://", "ssh://git.corp.example"]);
        assert!(any.allows("/anything/at/all"));
        assert!(any.allows("git@git.corp.example:g/p.git"));
        assert!(!any.allows("https://git.corp.example/g/p"));
    }

    #[test]
    fn refusal_names_url_and_file() {
        let p = policy(&["file://"]);
        let r = Source::Git {
            url: "http://u:tok@127.0.0.1:9/x.git".into(),
            git_ref: stackpack_core::GitRef::DefaultBranch,
            subdir: None,
        };
        let e = p.check(&r).unwrap_err().to_string();
        assert!(e.contains("127.0.0.1:9/x.git"), "{e}");
        assert!(
            e.contains("/etc/stackpack/enterprise.toml") && !e.contains("tok"),
            "{e}"
        );
        let local = Source::Local { path: "/x".into() };
        assert!(p.check(&local).is_ok());
    }

    #[test]
    fn bad_entries_are_refused() {
        for bad in [
            "*",
            "https://*",
            "packs.corp",
            "file://relative",
            "file:///a/../b",
        ] {
            let e = SourcePolicy::new(&[bad.to_string()], Path::new("/e.toml"));
            assert!(e.is_err(), "{bad}");
        }
    }
}
