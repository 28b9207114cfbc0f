//! The fingerprint of a venv and the file recording it, `<venv>/.stackpack-venv.json`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use stackpack_core::redact_url;

use crate::config::VenvConfig;
use crate::python::Interpreter;

pub const FILE_NAME: &str = ".stackpack-venv.json";
const FORMAT: u32 = 1;

/// What the fingerprint covers besides the interpreter and the requirements.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Options {
    pub installer: String,
    pub index_url: Option<String>,
    pub extra_index_urls: Vec<String>,
    pub find_links: Vec<PathBuf>,
    pub offline: bool,
}

impl Options {
    pub fn new(installer_kind: &str, cfg: &VenvConfig) -> Options {
        Options {
            installer: installer_kind.to_owned(),
            index_url: cfg.index_url.clone(),
            extra_index_urls: cfg.extra_index_urls.clone(),
            find_links: cfg
                .find_links
                .iter()
                .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
                .collect(),
            offline: cfg.offline,
        }
    }

    /// The same with URL passwords replaced, for the file (the hash covers the real ones).
    fn redacted(&self) -> Options {
        Options {
            index_url: self.index_url.as_deref().map(redact_url),
            extra_index_urls: self
                .extra_index_urls
                .iter()
                .map(|u| redact_url(u))
                .collect(),
            ..self.clone()
        }
    }
}

/// How deep `-r` includes are followed (pip itself has no limit; a cycle is cut anyway).
const MAX_INCLUDE_DEPTH: usize = 16;

/// The files a requirements file includes: `-r`/`--requirement` and `-c`/`--constraint`
/// lines, in order, as written (a path relative to the including file, or a URL).
fn includes(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for line in text.lines() {
        // pip's comments: `#` at the start or after whitespace.
        let line = match line.find(" #").or_else(|| line.find("\t#")) {
            Some(i) => &line[..i],
            None => line,
        };
        let line = line.trim();
        for flag in ["--requirement", "--constraint", "-r", "-c"] {
            let Some(rest) = line.strip_prefix(flag) else {
                continue;
            };
            let long = flag.starts_with("--");
            let target = match rest.strip_prefix('=') {
                Some(t) => t,
                // `-rfile` is fine for the short flags; `--requirementfile` is not a flag.
                None if long && !rest.starts_with([' ', '\t']) => break,
                None => rest,
            }
            .trim();
            if !target.is_empty() {
                out.push(target);
            }
            break;
        }
    }
    out
}

/// The requirements as the installer reads them: requirements.txt's bytes followed by
/// each file it includes with `-r`/`-c`, recursively (relative to the including file),
/// each behind its path, so an edit to an included file changes the fingerprint. A
/// missing file or a URL counts as its name alone (the installer reports it).
pub(crate) fn with_includes(requirements_txt: &Path, top: &[u8]) -> Vec<u8> {
    let mut out = top.to_vec();
    let mut seen = vec![crate::ensure::normalize(requirements_txt)];
    let mut stack = vec![(requirements_txt.to_path_buf(), top.to_vec(), 0usize)];
    while let Some((file, bytes, depth)) = stack.pop() {
        if depth >= MAX_INCLUDE_DEPTH {
            continue;
        }
        let text = String::from_utf8_lossy(&bytes);
        let base = file.parent().unwrap_or(Path::new(""));
        let mut found = Vec::new();
        for target in includes(&text) {
            out.extend_from_slice(format!("\0include {target}\0").as_bytes());
            if target.contains("://") {
                continue;
            }
            // Lexically normalised, so `sub/../requirements.txt` is seen as itself.
            let path = crate::ensure::normalize(&base.join(target));
            if seen.contains(&path) {
                continue;
            }
            seen.push(path.clone());
            if let Ok(included) = std::fs::read(&path) {
                out.extend_from_slice(&included);
                found.push((path, included, depth + 1));
            }
        }
        // Depth-first in file order.
        stack.extend(found.into_iter().rev());
    }
    out
}

/// sha256 over the resolved interpreter (realpath and full version), the requirements
/// bytes, the installer kind and the installer options.
pub(crate) fn compute(interp: &Interpreter, requirements: &[u8], options: &Options) -> String {
    let mut h = Sha256::new();
    h.update(format!("stackpack-venv/{FORMAT}\0").as_bytes());
    h.update(interp.executable.as_os_str().as_encoded_bytes());
    h.update(b"\0");
    h.update(interp.sys_version.as_bytes());
    h.update(b"\0");
    h.update(Sha256::digest(requirements));
    h.update(b"\0");
    // serde_json of a struct: fields in declaration order, so stable.
    h.update(serde_json::to_vec(options).unwrap_or_default());
    hex::encode(h.finalize())
}

/// The recorded state of a built venv.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Record {
    pub format: u32,
    pub fingerprint: String,
    pub pack: String,
    /// `uv 0.13.9` / `pip 23.2.1`: what built it.
    pub installer: String,
    pub python: Interpreter,
    pub requirements_sha256: String,
    pub options: Options,
    pub built_at_unix: u64,
}

impl Record {
    pub fn new(
        pack: &str,
        fingerprint: String,
        installer: String,
        python: &Interpreter,
        requirements: &[u8],
        options: &Options,
    ) -> Record {
        Record {
            format: FORMAT,
            fingerprint,
            pack: pack.to_owned(),
            installer,
            python: python.clone(),
            requirements_sha256: hex::encode(Sha256::digest(requirements)),
            options: options.redacted(),
            built_at_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        }
    }

    /// The record of the venv at `venv`, if it has a readable one of this format.
    pub fn read(venv: &Path) -> Option<Record> {
        let bytes = std::fs::read(venv.join(FILE_NAME)).ok()?;
        serde_json::from_slice::<Record>(&bytes)
            .ok()
            .filter(|r| r.format == FORMAT)
    }

    pub fn to_json(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn include_lines() {
        let text = "requests\n-r base.txt\n-rdev.txt\n--requirement=more.txt\n\
                    --requirement   spaced.txt # why\n-c constraints.txt\n--constraint=c2.txt\n\
                    # -r commented.txt\n--requirementx.txt\n-r https://example.com/r.txt\n";
        assert_eq!(
            includes(text),
            [
                "base.txt",
                "dev.txt",
                "more.txt",
                "spaced.txt",
                "constraints.txt",
                "c2.txt",
                "https://example.com/r.txt"
            ]
        );
    }

    #[test]
    fn included_files_change_the_input_and_cycles_end() {
        let d = tempfile::tempdir().unwrap();
        let req = d.path().join("requirements.txt");
        let top = b"-r sub/base.txt\nsix\n".to_vec();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        // base includes a file relative to itself, and the top file again (a cycle).
        std::fs::write(
            d.path().join("sub/base.txt"),
            "-r pins.txt\n-r ../requirements.txt\n",
        )
        .unwrap();
        std::fs::write(d.path().join("sub/pins.txt"), "idna==3.6\n").unwrap();
        std::fs::write(&req, &top).unwrap();
        let first = with_includes(&req, &top);
        let text = String::from_utf8_lossy(&first);
        assert!(text.contains("idna==3.6"));
        // The cycle back to requirements.txt is cut at once, not at the depth limit.
        assert_eq!(text.matches("six").count(), 1, "{text}");
        assert_eq!(first, with_includes(&req, &top), "stable");
        std::fs::write(d.path().join("sub/pins.txt"), "idna==3.7\n").unwrap();
        assert_ne!(first, with_includes(&req, &top), "a nested edit shows");
        // Without includes, the input is the file itself.
        assert_eq!(with_includes(&req, b"six\n"), b"six\n");
    }
}
