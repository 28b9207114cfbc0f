//! What every command starts from: the root, the settings, and the output mode.

use std::path::{Path, PathBuf};

use stackpack_install::SourcePolicy;
use stackpack_site::{Enterprise, Overrides, Root, Settings};

use crate::cli::Global;
use crate::error::CliError;

pub const DEFAULT_ROOT: &str = "/opt/stackstorm";

pub struct Context {
    pub root: Root,
    pub settings: Settings,
    pub offline: bool,
    pub json: bool,
    /// The enterprise rules (system file, or `$STACKPACK_ENTERPRISE_CONFIG` when there
    /// is none); the user's config cannot loosen them.
    pub enterprise: Enterprise,
    /// The enterprise `allowed_sources`, parsed: packs and indexes must come from these.
    pub allowed_sources: Option<SourcePolicy>,
}

impl Context {
    pub fn new(global: &Global) -> Result<Context, CliError> {
        // An explicit config may carry st2's base_path; the default config lives in the
        // root, so it cannot choose the root.
        let explicit = global
            .config
            .as_deref()
            .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()));
        let explicit = explicit.as_deref();
        let early_root = global
            .root
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_ROOT));
        let config_path = explicit
            .map(Path::to_path_buf)
            .unwrap_or_else(|| Root::new(&early_root, None).default_config());
        let settings = Settings::load(&config_path, explicit.is_some())?;
        for w in &settings.warnings {
            tracing::warn!("{w}");
        }
        let root_path = match (&global.root, &settings.base_path) {
            (Some(r), _) => r.clone(),
            (None, Some(b)) => b.clone(),
            (None, None) => early_root,
        };
        let settings = settings.resolve(&Overrides {
            index_urls: global.index.clone(),
        })?;
        let root_path = std::path::absolute(&root_path).unwrap_or(root_path);
        let enterprise = Enterprise::load()?;
        let allowed_sources = match (&enterprise.allowed_sources, &enterprise.source) {
            (Some(items), Some(file)) => Some(SourcePolicy::new(items, file)?),
            _ => None,
        };
        Ok(Context {
            root: Root::new(root_path, global.cache_dir.clone()),
            settings,
            offline: global.offline,
            json: global.json,
            enterprise,
            allowed_sources,
        })
    }

    /// Refuses, before anything is fetched, index URLs (`index_url` / `--index`) that
    /// the enterprise `allowed_sources` does not allow.
    pub fn check_index_urls(&self) -> Result<(), CliError> {
        if let Some(policy) = &self.allowed_sources {
            for url in &self.settings.index_url {
                policy.check_index(url)?;
            }
        }
        Ok(())
    }

    /// The packs base paths in search order.
    pub fn search_paths(&self) -> Vec<PathBuf> {
        stackpack_site::search_paths(&self.root.packs_dir(), &self.settings.packs_base_paths)
    }
}
