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
