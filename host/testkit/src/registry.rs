//! A real OCI registry for tests: Debian's `docker-registry` (the reference
//! `distribution` server) on 127.0.0.1, with its config, storage and certificates in a
//! temporary directory, killed when dropped.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Where Debian installs the registry.
pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

/// How to start a registry.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// `(username, password)`: every request then needs basic auth (an htpasswd file,
    /// bcrypt hashed).
    pub htpasswd: Option<(String, String)>,
    /// Serve HTTPS with a certificate for 127.0.0.1 issued by a CA made for this registry.
    pub tls: bool,
}

/// A running registry; killed (and its directory removed) on drop.
pub struct Registry {
    child: Child,
    host_port: String,
    dir: tempfile::TempDir,
    ca_pem: Option<String>,
}

impl Registry {
    /// Whether the registry binary is installed (tests call `cannot_run` when not).
    pub fn available() -> bool {
        Path::new(&registry_bin()).is_file()
    }

    /// Starts a registry and waits until it listens. Err when the binary is missing or
    /// does not start (the text says why).
    pub fn start(options: RegistryOptions) -> Result<Registry, String> {
        let bin = registry_bin();
        if !Path::new(&bin).is_file() {
            return Err(format!(
                "{bin} is not installed (apt-get install docker-registry)"
            ));
        }
        let dir = tempfile::tempdir().map_err(|e| format!("a temporary directory: {e}"))?;
        let storage = dir.path().join("storage");
        std::fs::create_dir_all(&storage).map_err(|e| format!("the storage dir: {e}"))?;
        let mut config = format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: true\nstorage:\n  \
             filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n  \
             maintenance:\n    uploadpurging:\n      enabled: false\nhttp:\n  addr: 127.0.0.1:0\n  \
             secret: stackpack-test-secret\n",
            storage.display()
        );
        let mut ca_pem = None;
        if options.tls {
            let pki = crate::http::test_pki();
            let cert = dir.path().join("server.pem");
            let key = dir.path().join("server.key");
            let ca = dir.path().join("ca.pem");
            for (path, text) in [
                (&cert, &pki.cert_pem),
                (&key, &pki.key_pem),
                (&ca, &pki.ca_pem),
            ] {
                std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
            }
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            ));
            ca_pem = Some(pki.ca_pem);
        }
        if let Some((user, password)) = &options.htpasswd {
            let hash = bcrypt::hash_with_result(password, 4)
                .map_err(|e| format!("bcrypt: {e}"))?
                .format_for_version(bcrypt::Version::TwoY);
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, format!("{user}:{hash}\n"))
                .map_err(|e| format!("{}: {e}", file.display()))?;
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: stackpack-test\n    path: {}\n",
                file.display()
            ));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).map_err(|e| format!("the config: {e}"))?;
        let mut child = Command::new(&bin)
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {bin}: {e}"))?;
        let Some(stderr) = child.stderr.take() else {
            let _ = child.kill();
            return Err("the registry's stderr is not captured".to_string());
        };
        // The log is read to its end (so the registry never blocks on a full pipe); the
        // "listening on" line gives the port.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            let mut seen = String::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = listening_on(&line)
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(Ok(addr));
                }
                if tx.is_some() && seen.len() < 8192 {
                    seen.push_str(&line);
                    seen.push('\n');
                }
            }
            if let Some(tx) = tx {
                let _ = tx.send(Err(seen));
            }
        });
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(Ok(host_port)) => Ok(Registry {
                child,
                host_port,
                dir,
                ca_pem,
            }),
            Ok(Err(log)) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(format!("the registry exited before listening:\n{log}"))
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                Err("the registry did not say it listens within 20 s".to_string())
            }
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn host_port(&self) -> &str {
        &self.host_port
    }

    /// `oci://127.0.0.1:PORT/<repository>`.
    pub fn oci(&self, repository: &str) -> String {
        format!("oci://{}/{repository}", self.host_port)
    }

    /// The PEM of the CA that issued the server certificate (TLS registries only).
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// The CA's PEM file (TLS registries only).
    pub fn ca_path(&self) -> Option<PathBuf> {
        self.ca_pem.as_ref().map(|_| self.dir.path().join("ca.pem"))
    }

    /// The registry's filesystem storage (`docker/registry/v2/...`), for tampering.
    pub fn storage_dir(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// The file holding the blob `sha256:<hex>` in the storage.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.storage_dir()
            .join("docker/registry/v2/blobs/sha256")
            .join(hex.get(..2).unwrap_or(""))
            .join(hex)
            .join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `STACKPACK_TEST_REGISTRY` or Debian's path.
fn registry_bin() -> String {
    std::env::var("STACKPACK_TEST_REGISTRY").unwrap_or_else(|_| REGISTRY_BIN.to_string())
}

/// The address of a `msg="listening on 127.0.0.1:PORT"` log line.
fn listening_on(line: &str) -> Option<String> {
    let rest = &line[line.find("listening on ")? + "listening on ".len()..];
    let addr: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
        .collect();
    let (_, port) = addr.rsplit_once(':')?;
    (!port.is_empty()).then_some(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listening_line_gives_the_address() {
        let line = "time=\"x\" level=info msg=\"listening on 127.0.0.1:44835\" go.version=go1.19";
        assert_eq!(listening_on(line).as_deref(), Some("127.0.0.1:44835"));
        assert_eq!(
            listening_on("level=info msg=\"redis not configured\""),
            None
        );
    }
}
