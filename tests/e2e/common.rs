//! Shared helpers for the end-to-end tests: running the real binary on a scratch root,
//! loopback HTTP servers (stackpack-testkit's, and git's smart HTTP on its server core),
//! and the test guests and example plugins (built by stackpack-testkit).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use stackpack_testkit::guests;

pub use stackpack_testkit::http::{
    Reply, Seen, Server, git_http_backend, git_http_server, hanging_server, http_server,
    https_server,
};
pub use stackpack_testkit::{cannot_run, file_url, pack_yaml, write};

/// Compiled plugin code shared by every test (each test still uses its own root).
pub fn shared_cache() -> PathBuf {
    guests::plugin_cache(tmp())
}

/// The stackpack binary with a clean environment, the given root and the shared cache.
pub fn stackpack(root: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stackpack"));
    for (k, _) in std::env::vars() {
        if k.starts_with("STACKPACK_")
            || k.starts_with("ST2_")
            || k.ends_with("_proxy")
            || k.ends_with("_PROXY")
        {
            cmd.env_remove(k);
        }
    }
    cmd.arg("--root")
        .arg(root)
        .env("STACKPACK_CACHE_DIR", shared_cache());
    cmd
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(cmd: &mut Command) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("run stackpack");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

fn tmp() -> &'static Path {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
}

/// The hostile test guest (tests/guests/hostile).
pub fn hostile_wasm() -> Arc<[u8]> {
    guests::hostile(tmp())
}

/// An example plugin from examples/plugins, by crate name (`corp-resolver`).
pub fn example_wasm(name: &str) -> Arc<[u8]> {
    guests::example(tmp(), name)
}

/// The policy built against the unsupported API version 0.2.0
/// (tests/guests/future-api).
pub fn future_api_wasm() -> Arc<[u8]> {
    guests::future_api(tmp())
}

/// Runs git in `dir` with a fixed identity; panics with git's output on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    git_with_input(dir, args, "")
}

/// Runs git in `dir` with `input` on its stdin (`mktree`, `hash-object --stdin`,
/// `update-ref --stdin`), returning its trimmed stdout; a failure fails the test.
pub fn git_with_input(dir: &Path, args: &[&str], input: &str) -> String {
    use std::io::Write as _;
    let mut child = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run git");
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .expect("write git's stdin");
    }
    let out = child.wait_with_output().expect("run git");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A git repo whose default branch is `branch`, with pack.yaml for `name` at
/// `version` (plus `extra` lines) committed.
pub fn pack_repo(dir: &Path, name: &str, version: &str, extra: &str, branch: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    git(dir, &["init", "-q", "-b", branch]);
    commit_version(dir, name, version, extra);
    dir.to_path_buf()
}

/// Rewrites pack.yaml at `version` and commits it.
pub fn commit_version(dir: &Path, name: &str, version: &str, extra: &str) {
    write(
        &dir.join("pack.yaml"),
        &format!("{}{extra}", pack_yaml(name, version)),
    );
    write(
        &dir.join("actions/hello.yaml"),
        &format!("name: hello\npack: {name}\nrunner_type: local-shell-cmd\n"),
    );
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", &format!("{name} {version}")]);
}

/// The version in an installed pack's pack.yaml.
pub fn installed_version(root: &Path, pack: &str) -> Option<String> {
    let text = std::fs::read_to_string(root.join("packs").join(pack).join("pack.yaml")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("version: "))
        .map(|v| v.trim().to_string())
}

/// A bare clone of the repository `work` at `served/<name>`, for a git server to serve.
pub fn bare_clone(work: &Path, served: &Path, name: &str) -> PathBuf {
    std::fs::create_dir_all(served).unwrap();
    git(
        served,
        &["clone", "-q", "--bare", work.to_str().unwrap(), name],
    );
    served.join(name)
}

/// The misbehaving override policy (tests/guests/hostile-policy); config `mode` picks
/// the misbehaviour.
pub fn hostile_policy_wasm() -> Arc<[u8]> {
    guests::hostile_policy(tmp())
}

/// Every file under `sub` of `root` (relative path → mode and sha256 of the content):
/// what two roots must agree on after syncing the same lockfile.
pub fn files(root: &Path, sub: &str) -> std::collections::BTreeMap<String, String> {
    use sha2::Digest;
    use std::os::unix::fs::PermissionsExt;
    fn walk(dir: &Path, prefix: &str, out: &mut std::collections::BTreeMap<String, String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let name = format!("{prefix}{}", e.file_name().to_string_lossy());
            if e.file_type().unwrap().is_dir() {
                walk(&e.path(), &format!("{name}/"), out);
            } else {
                let mode = e.metadata().unwrap().permissions().mode();
                let bytes = std::fs::read(e.path()).unwrap_or_default();
                out.insert(
                    name,
                    format!("{mode:o} {}", hex::encode(sha2::Sha256::digest(&bytes))),
                );
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    walk(&root.join(sub), "", &mut out);
    out
}

/// The bytes of `<root>/stackpack.lock` (empty when there is none).
pub fn lockfile(root: &Path) -> Vec<u8> {
    std::fs::read(root.join("stackpack.lock")).unwrap_or_default()
}

/// `p`'s modification time, if it exists.
pub fn mtime(p: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// A run's stdout as JSON; panics with both streams when it is not.
pub fn json(r: &Run) -> serde_json::Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}{}", r.stdout, r.stderr))
}

/// `file://<repo>=main`.
pub fn on_main(repo: &Path) -> String {
    format!("{}=main", file_url(repo))
}

/// The enterprise file can only be chosen by the variable when the system file is
/// absent; on a machine that has one, those tests cannot run. In CI (`CI` set to
/// anything but `false`) that is a failure, not a skip; locally the test says it
/// skipped.
pub fn enterprise_env_usable() -> bool {
    let usable = !Path::new("/etc/stackpack/enterprise.toml").exists();
    if !usable {
        cannot_run(
            "enterprise tests",
            "/etc/stackpack/enterprise.toml exists and takes precedence over \
             STACKPACK_ENTERPRISE_CONFIG; remove the file",
        );
    }
    usable
}
