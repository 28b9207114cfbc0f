//! Drives the `prompt` example through a real pseudo-terminal.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use expectrl::{Eof, Expect, Session};
use serde_json::{Value, json};

const SCHEMA: &str = r#"
name: {type: string, description: "Display name", required: true}
port: {type: integer, default: 8080, description: "TCP port"}
debug: {type: boolean, default: false}
level: {type: string, enum: [debug, info, warn], default: info}
api_key: {type: string, secret: true, required: true, description: "API key"}
"#;

const SECRET: &str = "t0psecretvalue";

/// Builds the example (cheap when fresh) and returns its path. `--workspace` resolves
/// features as `cargo test --workspace` (CI) does, so nothing is rebuilt there; with
/// `-p stackpack-config` instead, every shared dependency was compiled a second time.
fn example() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--quiet", "--workspace", "--example", "prompt"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .unwrap();
    assert!(status.success());
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let p = dir.join("examples").join("prompt");
    assert!(p.exists(), "{} missing", p.display());
    p
}

struct Run {
    session: expectrl::session::OsSession,
    seen: Vec<u8>,
}

impl Run {
    fn start(schema: &Path, existing: Option<&Path>, out: &Path) -> Run {
        let mut cmd = Command::new(example());
        cmd.arg(schema);
        if let Some(e) = existing {
            cmd.arg(e);
        }
        cmd.env("PROMPT_RESULT_FILE", out).env("TERM", "xterm");
        let mut session = Session::spawn(cmd).unwrap();
        session.set_expect_timeout(Some(Duration::from_secs(30)));
        Run {
            session,
            seen: Vec::new(),
        }
    }

    fn expect(&mut self, needle: &str) {
        let c = self.session.expect(needle).unwrap_or_else(|e| {
            panic!("waiting for {needle:?}: {e}; seen so far:\n{}", self.text())
        });
        self.seen.extend_from_slice(c.before());
        self.seen.extend_from_slice(c.get(0).unwrap_or_default());
    }

    fn send(&mut self, s: &str) {
        // Let the prompt switch the terminal mode (raw / no echo) before typing.
        std::thread::sleep(Duration::from_millis(300));
        self.session.send(s).unwrap();
    }

    fn finish(&mut self) -> String {
        let c = self.session.expect(Eof).unwrap();
        self.seen.extend_from_slice(c.before());
        self.seen.extend_from_slice(c.get(0).unwrap_or_default());
        self.text()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.seen).into_owned()
    }
}

#[test]
fn answers_every_kind_of_prompt() {
    let tmp = tempfile::tempdir().unwrap();
    let schema = tmp.path().join("config.schema.yaml");
    std::fs::write(&schema, SCHEMA).unwrap();
    let out = tmp.path().join("out.json");
    let mut run = Run::start(&schema, None, &out);

    run.expect("Display name");
    run.expect("name");
    run.send("alice\r");
    run.expect("TCP port");
    run.expect("8080");
    run.send("9000\r");
    run.expect("debug (y/n)");
    run.send("y\r");
    run.expect("level (choose one)");
    run.expect("warn");
    run.send("\x1b[B"); // info (default) -> warn
    run.send("\r");
    run.expect("API key");
    run.expect("api_key (secret)");
    run.send(&format!("{SECRET}\r"));
    run.expect("RESULT written");
    let text = run.finish();

    assert!(!text.contains(SECRET), "secret echoed:\n{text}");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(
        v,
        json!({"name": "alice", "port": 9000, "debug": true, "level": "warn", "api_key": SECRET})
    );
}

#[test]
fn existing_values_are_defaults_and_secrets_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let schema = tmp.path().join("config.schema.yaml");
    std::fs::write(&schema, SCHEMA).unwrap();
    let existing = tmp.path().join("existing.json");
    std::fs::write(
        &existing,
        json!({"name": "bob", "port": 1234, "debug": true, "level": "debug", "api_key": SECRET, "extra": 1})
            .to_string(),
    )
    .unwrap();
    let out = tmp.path().join("out.json");
    let mut run = Run::start(&schema, Some(&existing), &out);

    run.expect("[bob]");
    run.send("\r");
    run.expect("[1234]");
    run.send("\r");
    run.expect("debug (y/n)");
    run.send("\r");
    run.expect("level (choose one)");
    run.send("\r");
    run.expect("(unchanged)");
    run.send("\r");
    run.expect("RESULT written");
    let text = run.finish();

    assert!(!text.contains(SECRET), "secret shown:\n{text}");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(
        v,
        json!({"name": "bob", "port": 1234, "debug": true, "level": "debug", "api_key": SECRET, "extra": 1})
    );
}

#[test]
fn refuses_without_a_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let schema = tmp.path().join("config.schema.yaml");
    std::fs::write(&schema, SCHEMA).unwrap();
    let output = Command::new(example())
        .arg(&schema)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("not a TTY") && err.contains("--set"), "{err}");
}
