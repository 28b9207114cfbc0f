//! The installers: picking one, and the exact commands that create a venv and install
//! requirements into it from outside (no pip inside the venv).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::config::{InstallerChoice, VenvConfig};
use crate::error::VenvError;
use crate::process;
use crate::python::{Interpreter, find_command};

/// The installer in use for one `ensure`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Installer {
    Uv(PathBuf),
    Pip,
}

/// pip learnt `--python` (install into another environment from outside it) in 22.3.
const PIP_WITH_PYTHON_OPTION: (u32, u32) = (22, 3);

impl Installer {
    /// Resolves the choice without running anything.
    pub fn resolve(choice: &InstallerChoice, pack: &str) -> Result<Installer, VenvError> {
        match choice {
            InstallerChoice::Pip => Ok(Installer::Pip),
            InstallerChoice::Uv(path) => path
                .to_str()
                .and_then(find_command)
                .map(Installer::Uv)
                .ok_or_else(|| VenvError::UvNotFound {
                    pack: pack.to_owned(),
                    path: path.clone(),
                }),
            InstallerChoice::Auto => Ok(find_uv().map_or(Installer::Pip, Installer::Uv)),
        }
    }

    /// `uv` or `pip`: part of the fingerprint (the version is not, so that upgrading uv
    /// does not rebuild every venv).
    pub fn kind(&self) -> &'static str {
        match self {
            Installer::Uv(_) => "uv",
            Installer::Pip => "pip",
        }
    }

    /// `uv 0.13.9` / `pip 23.2.1`: runs `uv --version` for uv (a few ms); pip's version
    /// comes from the interpreter probe.
    pub fn describe(&self, interp: &Interpreter, cfg: &VenvConfig, pack: &str) -> String {
        match self {
            Installer::Uv(uv) => {
                let mut cmd = process::command(uv, &cfg.proxy);
                cmd.arg("--version");
                process::run(cmd, pack, "uv --version")
                    .ok()
                    .filter(|o| o.status.success())
                    .and_then(|o| {
                        let text = String::from_utf8_lossy(&o.stdout).into_owned();
                        let mut words = text.split_whitespace();
                        Some(format!("{} {}", words.next()?, words.next()?))
                    })
                    .unwrap_or_else(|| "uv".to_owned())
            }
            Installer::Pip => match &interp.pip {
                Some(version) => format!("pip {version}"),
                None => "python -m venv".to_owned(),
            },
        }
    }

    /// The command creating a bare venv (no pip, setuptools or wheel in it) at `dir`.
    pub fn create_command(
        &self,
        interp: &Interpreter,
        cfg: &VenvConfig,
        pack: &str,
        dir: &Path,
        relocatable: bool,
    ) -> Command {
        match self {
            Installer::Uv(uv) => {
                let mut cmd = process::command(uv, &cfg.proxy);
                cmd.arg("venv").arg("--python").arg(&interp.run_as).args([
                    "--no-project",
                    "--no-python-downloads",
                    "--prompt",
                    pack,
                ]);
                if relocatable {
                    cmd.arg("--relocatable");
                }
                cmd.arg(dir);
                cmd
            }
            Installer::Pip => {
                let mut cmd = process::command(&interp.run_as, &cfg.proxy);
                cmd.args(["-m", "venv", "--without-pip", "--prompt", pack])
                    .arg(dir);
                cmd
            }
        }
    }

    /// Checks that this installer can install into a venv from outside it.
    pub fn check_can_install(
        &self,
        interp: &Interpreter,
        cfg: &VenvConfig,
        pack: &str,
    ) -> Result<(), VenvError> {
        if *self != Installer::Pip {
            return Ok(());
        }
        let unavailable = |detail: String| VenvError::PipUnavailable {
            pack: pack.to_owned(),
            python: cfg.python.clone(),
            detail,
        };
        let Some(version) = &interp.pip else {
            return Err(unavailable(format!(
                "pip is not installed for {}",
                interp.run_as.display()
            )));
        };
        let mut parts = version.split(['.', 'b', 'r']).map(|p| p.parse::<u32>());
        let major_minor = match (parts.next(), parts.next()) {
            (Some(Ok(major)), Some(Ok(minor))) => (major, minor),
            (Some(Ok(major)), None) => (major, 0),
            _ => return Ok(()),
        };
        if major_minor < PIP_WITH_PYTHON_OPTION {
            return Err(unavailable(format!(
                "pip {version} of {} is too old to install into a venv from outside it \
                 (needs 22.3 or later)",
                interp.run_as.display()
            )));
        }
        Ok(())
    }

    /// The command installing `requirements` into the venv whose interpreter is
    /// `venv_python`, run from outside it, in the pack's directory.
    pub fn install_command(
        &self,
        interp: &Interpreter,
        cfg: &VenvConfig,
        venv_python: &Path,
        requirements: &Path,
        pack_dir: &Path,
    ) -> Command {
        let mut cmd = match self {
            Installer::Uv(uv) => {
                let mut cmd = process::command(uv, &cfg.proxy);
                cmd.args(["pip", "install", "--python"]).arg(venv_python);
                cmd
            }
            Installer::Pip => {
                let mut cmd = process::command(&interp.run_as, &cfg.proxy);
                cmd.args(["-m", "pip", "--python"]).arg(venv_python).args([
                    "install",
                    "--disable-pip-version-check",
                    "--no-input",
                    "--progress-bar",
                    "off",
                ]);
                cmd
            }
        };
        cmd.arg("-r").arg(requirements);
        if cfg.offline {
            if let Installer::Uv(_) = self {
                cmd.arg("--offline");
            }
            cmd.arg("--no-index");
        } else {
            let urls = cfg.index_url.iter().chain(&cfg.extra_index_urls);
            if let Some(url) = &cfg.index_url {
                cmd.arg("--index-url").arg(url);
            }
            for url in &cfg.extra_index_urls {
                cmd.arg("--extra-index-url").arg(url);
            }
            // pip ignores a plain-http index unless its host is trusted; the operator
            // configured it explicitly, so trust it (uv accepts http indexes as they are).
            if *self == Installer::Pip {
                let mut hosts: Vec<&str> = urls.filter_map(|u| http_host(u)).collect();
                hosts.dedup();
                for host in hosts {
                    cmd.arg("--trusted-host").arg(host);
                }
            }
        }
        for dir in &cfg.find_links {
            cmd.arg("--find-links")
                .arg(std::path::absolute(dir).unwrap_or_else(|_| dir.clone()));
        }
        cmd.current_dir(pack_dir);
        cmd
    }
}

/// The host (and port) of a plain `http://` URL, without any user info.
fn http_host(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("http://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit('@').next()?;
    (!host.is_empty()).then_some(host)
}

/// `uv` on PATH, else `~/.local/bin/uv` (where `pip install --user uv` puts it).
pub(crate) fn find_uv() -> Option<PathBuf> {
    find_command("uv").or_else(|| {
        let home = std::env::var_os("HOME")?;
        let path = Path::new(&home).join(".local/bin/uv");
        path.to_str().and_then(find_command)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_hosts() {
        assert_eq!(
            http_host("http://pypi.invalid/simple"),
            Some("pypi.invalid")
        );
        assert_eq!(
            http_host("http://u:p@mirror:8080/simple/"),
            Some("mirror:8080")
        );
        assert_eq!(http_host("https://pypi.org/simple"), None);
    }
}
