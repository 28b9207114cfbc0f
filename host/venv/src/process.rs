//! Child processes: the environment they get, running them, and picking the lines of
//! their output worth showing.
//!
//! Environment policy. Every child (the interpreter probe, `uv`, `python -m venv`, pip)
//! gets stackpack's environment with these changes:
//! - removed: `PYTHONPATH` (as st2 does) and `PYTHONHOME`, which would make the venv's
//!   interpreter load foreign code; `PIP_USER`, `PIP_TARGET`, `PIP_PREFIX`, `PIP_ROOT`,
//!   `PIP_PYTHON`, `UV_PYTHON`, `UV_SYSTEM_PYTHON`, `UV_VENV_SEED`, which would send
//!   packages somewhere other than the pack's venv, pick another interpreter, or seed pip
//!   into it;
//! - kept: every other `PIP_*` and `UV_*` variable of the user (and their pip.conf /
//!   uv.toml). They are the installers' own configuration (mirrors, trusted hosts,
//!   timeouts, cache location, keyring), which an operator sets on purpose; our explicit
//!   flags (`--index-url`, `--find-links`, `--no-index`, ...) take precedence over them.
//!   They are not part of the fingerprint: changing them does not rebuild venvs
//!   (`--recreate` does);
//! - set from [`ProxyEnv`]: `http_proxy`/`HTTP_PROXY`, `https_proxy`/`HTTPS_PROXY`,
//!   `no_proxy`/`NO_PROXY`, and the CA bundle as `PIP_CERT` (pip) and `SSL_CERT_FILE`
//!   (uv reads it with its default rustls backend; no `UV_SYSTEM_CERTS`/`UV_NATIVE_TLS`
//!   needed); fields left `None` keep what was inherited;
//! - set for parseable output: `PIP_DISABLE_PIP_VERSION_CHECK=1`, `PIP_NO_INPUT=1`,
//!   `PIP_PROGRESS_BAR=off`, `UV_NO_PROGRESS=1`, `NO_COLOR=1`. uv's cache stays where uv
//!   puts it by default (`UV_CACHE_DIR` of the user is kept).

use std::path::Path;
use std::process::{Command, Output, Stdio};

use stackpack_core::redact_url;

use crate::config::ProxyEnv;
use crate::error::VenvError;

const REMOVED: &[&str] = &[
    "PYTHONPATH",
    "PYTHONHOME",
    "PIP_USER",
    "PIP_TARGET",
    "PIP_PREFIX",
    "PIP_ROOT",
    "PIP_PYTHON",
    "UV_PYTHON",
    "UV_SYSTEM_PYTHON",
    "UV_VENV_SEED",
];

/// At most this many lines of installer output go into an error.
const MAX_LINES: usize = 15;

/// A command for `program` with the environment described in the module docs, stdin
/// closed and both outputs captured.
pub(crate) fn command(program: &Path, proxy: &ProxyEnv) -> Command {
    let mut cmd = Command::new(program);
    for var in REMOVED {
        cmd.env_remove(var);
    }
    let pairs = [
        (&proxy.http_proxy, ["http_proxy", "HTTP_PROXY"]),
        (&proxy.https_proxy, ["https_proxy", "HTTPS_PROXY"]),
        (&proxy.no_proxy, ["no_proxy", "NO_PROXY"]),
    ];
    for (value, names) in pairs {
        if let Some(value) = value {
            for name in names {
                cmd.env(name, value);
            }
        }
    }
    if let Some(ca) = &proxy.ca_bundle {
        cmd.env("PIP_CERT", ca).env("SSL_CERT_FILE", ca);
    }
    cmd.env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .env("PIP_NO_INPUT", "1")
        .env("PIP_PROGRESS_BAR", "off")
        .env("UV_NO_PROGRESS", "1")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Runs `cmd` to completion (both pipes drained concurrently by `output`).
pub(crate) fn run(mut cmd: Command, pack: &str, program: &str) -> Result<Output, VenvError> {
    tracing::debug!("{pack}: running {}", redact_url(&format!("{cmd:?}")));
    cmd.output().map_err(|source| VenvError::Spawn {
        pack: pack.to_owned(),
        program: program.to_owned(),
        source,
    })
}

/// Passes the installer's warnings on (uv's "failed to hardlink, falling back to a full
/// copy" when its cache and the venvs are on different filesystems, for one).
pub(crate) fn log_warnings(pack: &str, output: &Output) {
    for line in String::from_utf8_lossy(&output.stderr).lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("warning:") || trimmed.starts_with("WARNING:") {
            tracing::warn!("{pack}: {}", redact_url(trimmed));
        }
    }
}

/// Markers of a line that explains a failure, in pip's and uv's output.
const MARKERS: &[&str] = &[
    "ERROR",
    "error:",
    "Error:",
    "×",
    "╰─",
    "No matching distribution",
    "Could not find a version",
    "Could not fetch URL",
    "ProxyError",
    "Caused by",
    "cause:",
    "hint:",
    "fatal:",
];

/// The lines of an installer's output worth showing: each line carrying a marker, with
/// the indented lines that continue it (uv's `cause:` chains, pip's boxed subprocess
/// errors); failing that, the last lines. At most [`MAX_LINES`], every URL password
/// redacted, duplicates dropped.
pub(crate) fn relevant_output(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut picked: Vec<String> = Vec::new();
    for text in [&stderr, &stdout] {
        let mut capturing = false;
        for line in text.lines() {
            if MARKERS.iter().any(|m| line.contains(m)) {
                capturing = true;
                push(line, &mut picked);
            } else if line.trim().is_empty() {
                continue;
            } else if capturing && line.starts_with(char::is_whitespace) {
                push(line, &mut picked);
            } else {
                capturing = false;
            }
        }
    }
    if picked.is_empty() {
        let source = if stderr.trim().is_empty() {
            &stdout
        } else {
            &stderr
        };
        let lines: Vec<&str> = source.lines().filter(|l| !l.trim().is_empty()).collect();
        for line in &lines[lines.len().saturating_sub(MAX_LINES)..] {
            push(line, &mut picked);
        }
    }
    if picked.is_empty() {
        return format!("(no output; {})", output.status);
    }
    let more = picked.len().saturating_sub(MAX_LINES);
    picked.truncate(MAX_LINES);
    let mut text = picked.join("\n");
    if more > 0 {
        text.push_str(&format!("\n... ({more} more lines)"));
    }
    text
}

fn push(line: &str, picked: &mut Vec<String>) {
    let line = redact_url(line.trim_end());
    let same = |l: &String| l.trim() == line.trim();
    if !line.trim().is_empty() && !picked.iter().any(same) {
        picked.push(line);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::os::unix::process::ExitStatusExt;
    use std::process::ExitStatus;

    fn out(stdout: &str, stderr: &str) -> Output {
        Output {
            status: ExitStatus::from_raw(256),
            stdout: stdout.as_bytes().to_vec(),
            stderr: stderr.as_bytes().to_vec(),
        }
    }

    /// What a child really receives: run `env` with the command's environment.
    #[test]
    fn children_get_the_proxy_and_ca_settings() {
        let proxy = ProxyEnv {
            http_proxy: Some("http://u:pw@proxy:3128".to_owned()),
            https_proxy: Some("http://proxy:3129".to_owned()),
            no_proxy: Some("localhost,.corp".to_owned()),
            ca_bundle: Some("/etc/corp-ca.pem".into()),
        };
        let mut cmd = command(Path::new("env"), &proxy);
        // Inherited variables cannot be staged here without changing this process's
        // environment (other tests run in parallel): check the removals are registered.
        for var in REMOVED {
            assert!(
                cmd.get_envs()
                    .any(|(k, v)| k == std::ffi::OsStr::new(var) && v.is_none()),
                "{var} not removed"
            );
        }
        let out = cmd.output().unwrap();
        let env = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<&str> = env.lines().collect();
        for expected in [
            "http_proxy=http://u:pw@proxy:3128",
            "HTTP_PROXY=http://u:pw@proxy:3128",
            "https_proxy=http://proxy:3129",
            "HTTPS_PROXY=http://proxy:3129",
            "no_proxy=localhost,.corp",
            "NO_PROXY=localhost,.corp",
            "PIP_CERT=/etc/corp-ca.pem",
            "SSL_CERT_FILE=/etc/corp-ca.pem",
            "PIP_DISABLE_PIP_VERSION_CHECK=1",
            "UV_NO_PROGRESS=1",
        ] {
            assert!(lines.contains(&expected), "{expected} missing from\n{env}");
        }
        assert!(!lines.iter().any(|l| l.starts_with("PYTHONPATH=")), "{env}");
        // Unset fields keep what was inherited.
        let inherited = command(Path::new("env"), &ProxyEnv::default())
            .env("https_proxy", "http://inherited:1")
            .output()
            .unwrap();
        let env = String::from_utf8(inherited.stdout).unwrap();
        assert!(
            env.lines().any(|l| l == "https_proxy=http://inherited:1"),
            "{env}"
        );
    }

    #[test]
    fn pip_errors_are_picked() {
        let o = out(
            "Looking in links: /w\n",
            "WARNING: Retrying after ProxyError('x'): http://u:pw@proxy:1/\n\
             ERROR: Could not find a version that satisfies the requirement x==9 (from versions: none)\n\
             ERROR: No matching distribution found for x==9\n",
        );
        let text = relevant_output(&o);
        assert!(
            text.contains("No matching distribution found for x==9"),
            "{text}"
        );
        assert!(!text.contains("pw@"), "{text}");
        assert!(!text.contains("Looking in links"), "{text}");
    }

    #[test]
    fn uv_cause_chain_is_kept() {
        let o = out(
            "",
            "Using Python 3.11.7 environment at: /v\n\
             error: No solution found when resolving dependencies\n\
             \x20 cause: Because x was not found in the package registry\n\
             \x20   and you require x, we can conclude that your requirements are unsatisfiable.\n\
             \n\
             hint: An index (http://pypi.invalid/simple) returned a 403 Forbidden error.\n",
        );
        let text = relevant_output(&o);
        assert_eq!(text.lines().count(), 4, "{text}");
        assert!(text.starts_with("error: No solution"), "{text}");
        assert!(text.contains("unsatisfiable"), "{text}");
    }

    #[test]
    fn falls_back_to_the_last_lines_and_caps_them() {
        let many: String = (0..40).map(|i| format!("line {i}\n")).collect();
        let text = relevant_output(&out("", &many));
        assert!(text.starts_with("line 25"), "{text}");
        let errors: String = (0..40).map(|i| format!("ERROR: e{i}\n")).collect();
        let text = relevant_output(&out("", &errors));
        assert_eq!(text.lines().count(), MAX_LINES + 1, "{text}");
        assert!(text.ends_with("(25 more lines)"), "{text}");
    }
}
