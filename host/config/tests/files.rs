#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt as _;

use serde_json::json;
use stackpack_config::{ConfigError, read_config, write_config};

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn leftovers(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

#[test]
fn round_trip_and_modes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("configs");
    assert_eq!(read_config(&dir, "demo").unwrap(), None);

    let v = json!({"host": "h", "port": 8080, "tags": ["a"]});
    let path = write_config(&dir, "demo", &v, false).unwrap();
    assert_eq!(path, dir.join("demo.yaml"));
    assert_eq!(mode(&path), 0o644);
    assert_eq!(read_config(&dir, "demo").unwrap(), Some(v));

    let secret = json!({"api_key": "s3cret"});
    write_config(&dir, "demo", &secret, true).unwrap();
    assert_eq!(mode(&path), 0o600);
    assert_eq!(read_config(&dir, "demo").unwrap(), Some(secret));
    assert!(leftovers(&dir).is_empty());
}

#[test]
fn empty_and_bad_files() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("a.yaml"), "").unwrap();
    assert_eq!(read_config(tmp.path(), "a").unwrap(), Some(json!({})));
    std::fs::write(tmp.path().join("b.yaml"), "- 1\n").unwrap();
    assert!(matches!(
        read_config(tmp.path(), "b"),
        Err(ConfigError::ConfigNotMapping { .. })
    ));
    std::fs::write(tmp.path().join("c.yaml"), "a: [\n").unwrap();
    assert!(matches!(
        read_config(tmp.path(), "c"),
        Err(ConfigError::ConfigYaml { .. })
    ));
    assert!(matches!(
        read_config(tmp.path(), "../etc"),
        Err(ConfigError::BadPackName { .. })
    ));
    assert!(matches!(
        write_config(tmp.path(), "A-b", &json!({}), false),
        Err(ConfigError::BadPackName { .. })
    ));
}

#[test]
fn failed_rename_leaves_old_target_and_no_temp_file() {
    // Works as any user: the target name is a non-empty directory, so the final rename fails
    // after the temporary file was written.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir(dir.join("demo.yaml")).unwrap();
    std::fs::write(dir.join("demo.yaml").join("keep"), b"old").unwrap();
    let e = write_config(dir, "demo", &json!({"new": 2}), false).unwrap_err();
    assert!(matches!(e, ConfigError::Io { .. }), "{e}");
    assert!(e.to_string().contains("demo.yaml"), "{e}");
    assert_eq!(
        std::fs::read(dir.join("demo.yaml").join("keep")).unwrap(),
        b"old"
    );
    assert!(leftovers(dir).is_empty());
}
