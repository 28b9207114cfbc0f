//! `stackpack config` through the real binary: scripted and interactive (a real
//! pseudo-terminal), validation errors that leave the file untouched, masking.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::{file_url, pack_yaml, run, stackpack, write};
use expectrl::{Eof, Expect, Session};

const SCHEMA: &str = r#"
api_key: {type: string, secret: true, required: true, description: "API key"}
region: {type: string, required: true, default: lon, enum: [lon, nyc], description: "Region"}
port: {type: integer, default: 443, description: "TCP port"}
verbose: {type: boolean, default: false}
"#;
const SECRET: &str = "s3cr3t-api-key-value";

fn installed(d: &Path) -> PathBuf {
    let pack = d.join("cfgpack");
    write(&pack.join("pack.yaml"), &pack_yaml("cfgpack", "1.0.0"));
    write(&pack.join("config.schema.yaml"), SCHEMA);
    let root = d.join("root");
    let r = run(stackpack(&root).args(["install", &file_url(&pack)]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("needs configuration before use"),
        "{}",
        r.stderr
    );
    root
}

#[test]
fn scripted_config_validation_and_masking() {
    let d = tempfile::tempdir().unwrap();
    let root = installed(d.path());
    let file = root.join("configs/cfgpack.yaml");

    let r = run(stackpack(&root).args([
        "config",
        "cfgpack",
        "--set",
        &format!("api_key={SECRET}"),
        "--set",
        "port=8443",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("port: 8443") && text.contains(SECRET),
        "{text}"
    );
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(!r.stdout.contains(SECRET) && !r.stderr.contains(SECRET));

    // Bad values: clear messages with the key and the rule; the file is untouched.
    for (set, needles) in [
        ("port=abc", vec!["port", "integer"]),
        ("region=par", vec!["region", "enum"]),
    ] {
        let r = run(stackpack(&root).args(["config", "cfgpack", "--set", set]));
        assert_eq!(r.code, 2, "{set}: a bad value is a usage error");
        for n in needles {
            assert!(r.stderr.contains(n), "{set}: {}", r.stderr);
        }
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            text,
            "{set} changed the file"
        );
    }
    let values = d.path().join("values.yaml");
    write(&values, "port: 80\n");
    let r =
        run(stackpack(&root).args(["config", "cfgpack", "--from-file", values.to_str().unwrap()]));
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("api_key"),
        "missing required key not named: {}",
        r.stderr
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);

    let r = run(stackpack(&root).args(["config", "cfgpack", "--show"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("********") && !r.stdout.contains(SECRET),
        "{}",
        r.stdout
    );
    let r = run(stackpack(&root).args(["config", "cfgpack", "--validate"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    write(&file, "api_key: x\nport: nope\n");
    let r = run(stackpack(&root).args(["config", "cfgpack", "--validate"]));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("port"), "{}", r.stderr);

    // Templates are accepted for any type.
    let r = run(stackpack(&root).args([
        "config",
        "cfgpack",
        "--set",
        "api_key={{ st2kv.system.key }}",
        "--set",
        "port={{ st2kv.system.port }}",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn packs_without_or_with_broken_schemas() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let plain = d.path().join("plain");
    write(&plain.join("pack.yaml"), &pack_yaml("plain", "1.0.0"));
    let broken = d.path().join("broken");
    write(&broken.join("pack.yaml"), &pack_yaml("broken", "1.0.0"));
    write(&broken.join("config.schema.yaml"), "port: {type: integr}\n");
    let r = run(stackpack(&root).args(["install", &file_url(&plain), &file_url(&broken)]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run(stackpack(&root).args(["config", "plain", "--set", "a=b"]));
    assert_eq!(r.code, 2, "nothing to configure is a usage error");
    assert!(
        r.stderr.contains("doesn't have a config schema"),
        "{}",
        r.stderr
    );
    let r = run(stackpack(&root).args(["config", "broken", "--set", "port=1"]));
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("port") && r.stderr.contains("integr"),
        "{}",
        r.stderr
    );
    assert!(!root.join("configs/broken.yaml").exists());
}

#[test]
fn interactive_through_a_pseudo_terminal() {
    let d = tempfile::tempdir().unwrap();
    let root = installed(d.path());
    // An "editor" that changes the port, as a person in $EDITOR would.
    let editor = d.path().join("edit.sh");
    write(
        &editor,
        "#!/bin/sh\nsed -i 's/port: 8080/port: 9090/' \"$1\"\n",
    );
    std::fs::set_permissions(&editor, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut cmd = stackpack(&root);
    cmd.args(["config", "cfgpack"])
        .env("TERM", "xterm")
        .env("EDITOR", &editor)
        .env_remove("VISUAL");
    let mut s = Session::spawn(cmd).unwrap();
    s.set_expect_timeout(Some(Duration::from_secs(30)));
    let mut seen = Vec::new();
    let mut step = |s: &mut Session<_, _>, wait: &str, send: &str| {
        let c = s.expect(wait).unwrap_or_else(|e| {
            panic!(
                "waiting for {wait:?}: {e}\n{}",
                String::from_utf8_lossy(&seen)
            )
        });
        seen.extend_from_slice(c.before());
        std::thread::sleep(Duration::from_millis(300));
        s.send(send).unwrap();
    };
    step(&mut s, "API key", &format!("{SECRET}\r"));
    step(&mut s, "Region", "\x1b[B\r"); // lon -> nyc
    step(&mut s, "TCP port", "8080\r");
    step(&mut s, "verbose", "n\r");
    step(&mut s, "Edit it in $EDITOR", "y\r");
    step(&mut s, "Save it to", "y\r");
    let c = s.expect(Eof).unwrap();
    seen.extend_from_slice(c.before());
    let text = String::from_utf8_lossy(&seen).into_owned();
    assert!(!text.contains(SECRET), "secret echoed:\n{text}");
    let written = std::fs::read_to_string(root.join("configs/cfgpack.yaml")).unwrap();
    assert!(
        written.contains(SECRET)
            && written.contains("region: nyc")
            && written.contains("port: 9090"),
        "{written}"
    );
}
