//! st2.conf: an INI file with many sections. Only the options stackpack uses are read
//! (`[system] base_path`, `[content] packs_base_paths, index_url`,
//! `[actionrunner] python_binary`, `[auth] api_url`); the rest belong to st2 and are left alone, without
//! warnings.

use std::path::{Path, PathBuf};

use super::{Settings, split_list};
use crate::error::SiteError;

/// The settings of the st2.conf at `path`, whose content is `text`.
pub(super) fn read(path: &Path, text: &str) -> Result<Settings, SiteError> {
    let ini = ini::Ini::load_from_str(text).map_err(|e| SiteError::ConfigSyntax {
        path: path.to_path_buf(),
        reason: format!("neither TOML nor st2.conf INI: {e}"),
    })?;
    let mut s = Settings::default();
    let get = |section: &str, key: &str| {
        ini.section(Some(section))
            .and_then(|sec| sec.get(key))
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    if let Some(v) = get("system", "base_path") {
        s.base_path = Some(PathBuf::from(v));
    }
    if let Some(v) = get("content", "packs_base_paths") {
        s.packs_base_paths = split_list(v, ':').into_iter().map(PathBuf::from).collect();
    }
    if let Some(v) = get("content", "index_url") {
        s.index_url = split_list(v, ',');
    }
    if let Some(v) = get("auth", "api_url") {
        s.st2.api_url = Some(v.trim_end_matches('/').to_string());
    }
    if let Some(v) = get("actionrunner", "python_binary") {
        s.python_binary = v.to_string();
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn text_that_is_not_ini_names_the_file() {
        let e = read(Path::new("/etc/st2/st2.conf"), "[system\nbase_path = x\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("/etc/st2/st2.conf"), "{e}");
        assert!(e.contains("neither TOML nor st2.conf INI"), "{e}");
    }
}
