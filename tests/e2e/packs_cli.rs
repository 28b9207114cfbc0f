//! `stackpack list` and `stackpack get` on packs written by the test, across two base
//! paths, through the real binary.

use std::path::Path;

use crate::common::{pack_yaml, run, stackpack, write};
use serde_json::Value;

/// root/packs: alpha (valid), broken (bad YAML), partial (missing fields);
/// extra: alpha (shadowed), beta (valid). The config adds `extra` as a base path.
fn site(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let root = dir.join("root");
    let extra = dir.join("extra");
    write(
        &root.join("packs/alpha/pack.yaml"),
        &pack_yaml("alpha", "1.2.0"),
    );
    write(
        &root.join("packs/broken/pack.yaml"),
        "name: [broken\nversion: 1.0.0\n",
    );
    write(
        &root.join("packs/partial/pack.yaml"),
        "name: partial\nversion: 0.2\n",
    );
    write(&extra.join("alpha/pack.yaml"), &pack_yaml("alpha", "0.9.0"));
    write(&extra.join("beta/pack.yaml"), &pack_yaml("beta", "2.0.0"));
    let config = dir.join("stackpack.toml");
    write(&config, "packs_base_paths = [\"extra\"]\n");
    (root, config)
}

#[test]
fn list_shows_every_pack_with_shadowing_and_errors() {
    let d = tempfile::tempdir().unwrap();
    let (root, config) = site(d.path());
    let r = run(stackpack(&root).arg("--config").arg(&config).arg("list"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(
        lines[0].contains("REF") && lines[0].contains("PATH"),
        "{}",
        r.stdout
    );
    let line = |needle: &str| {
        lines
            .iter()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle} in\n{}", r.stdout))
            .to_string()
    };
    assert!(line("packs/alpha").contains("1.2.0"));
    assert!(line("extra/alpha").contains("shadowed by"));
    assert!(line("extra/alpha").contains("root/packs/alpha"));
    assert!(line("broken").contains("invalid:"));
    let partial = line("partial");
    assert!(partial.contains("description"), "{partial}");
    assert!(partial.contains("author"), "{partial}");
    assert!(
        partial.contains(r#"Pack version "0.2" doesn't follow a valid semver format"#),
        "{partial}"
    );
    assert!(line("beta").contains("2.0.0"));
}

#[test]
fn list_json_shape() {
    let d = tempfile::tempdir().unwrap();
    let (root, config) = site(d.path());
    let r = run(stackpack(&root)
        .arg("--config")
        .arg(&config)
        .args(["list", "--json"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    // A root never synced says so.
    assert!(v["synced"].is_null(), "{v}");
    let packs = v["packs"].as_array().unwrap();
    assert_eq!(packs.len(), 5);
    let alpha = &packs[0];
    assert_eq!(alpha["ref"], "alpha");
    assert_eq!(alpha["metadata"]["version"], "1.2.0");
    assert_eq!(
        alpha["metadata"]["keywords"],
        serde_json::json!(["test", "alpha"])
    );
    assert!(alpha.get("shadowed_by").is_none());
    let broken = packs.iter().find(|p| p["ref"] == "broken").unwrap();
    assert!(broken["error"].as_str().unwrap().contains("pack.yaml"));
    assert!(broken.get("metadata").is_none());
    let shadowed = packs
        .iter()
        .find(|p| p["ref"] == "alpha" && p["path"].as_str().unwrap().contains("extra"))
        .unwrap();
    assert!(
        shadowed["shadowed_by"]
            .as_str()
            .unwrap()
            .ends_with("root/packs/alpha")
    );
}

#[test]
fn get_shows_the_active_pack() {
    let d = tempfile::tempdir().unwrap();
    let (root, config) = site(d.path());
    let r = run(stackpack(&root)
        .arg("--config")
        .arg(&config)
        .args(["get", "alpha"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("1.2.0"), "{}", r.stdout);
    assert!(r.stdout.contains("The alpha pack"));
    assert!(
        r.stdout
            .contains(&root.join("packs/alpha").display().to_string())
    );
    assert!(r.stdout.contains("shadows"), "{}", r.stdout);

    let r = run(stackpack(&root)
        .arg("--config")
        .arg(&config)
        .args(["get", "beta", "--json"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["metadata"]["name"], "beta");
    assert_eq!(v["metadata"]["author"], "Tester");
    assert!(v["path"].as_str().unwrap().ends_with("extra/beta"));
}

#[test]
fn get_unknown_pack_fails_with_a_hint() {
    let d = tempfile::tempdir().unwrap();
    let (root, config) = site(d.path());
    let r = run(stackpack(&root)
        .arg("--config")
        .arg(&config)
        .args(["get", "nosuch"]));
    assert_eq!(r.code, 3, "not found: exit code 3");
    assert!(
        r.stderr.contains(r#"Pack "nosuch" is not found."#),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("stackpack list"), "{}", r.stderr);
    assert!(r.stdout.is_empty());

    let r = run(stackpack(&root)
        .arg("--config")
        .arg(&config)
        .args(["get", "alpah"]));
    assert_eq!(r.code, 3);
    assert!(r.stderr.contains("Did you mean: alpha"), "{}", r.stderr);
}

#[test]
fn get_invalid_pack_reports_its_error() {
    let d = tempfile::tempdir().unwrap();
    let (root, config) = site(d.path());
    let r = run(stackpack(&root)
        .arg("--config")
        .arg(&config)
        .args(["get", "partial"]));
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("invalid"), "{}", r.stderr);
    assert!(r.stderr.contains("description"), "{}", r.stderr);
}

#[test]
fn empty_root_lists_nothing_and_creates_nothing() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("fresh");
    let r = run(stackpack(&root).arg("list"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("No packs installed"), "{}", r.stdout);
    assert!(!root.exists(), "a read-only command created the root");
}

#[test]
fn st2_conf_is_a_drop_in_config() {
    let d = tempfile::tempdir().unwrap();
    let base = d.path().join("st2");
    write(
        &base.join("packs/alpha/pack.yaml"),
        &pack_yaml("alpha", "1.0.0"),
    );
    write(
        &d.path().join("more/gamma/pack.yaml"),
        &pack_yaml("gamma", "3.0.0"),
    );
    let conf = d.path().join("st2.conf");
    write(
        &conf,
        &format!(
            "[system]\nbase_path = {}\n\n[content]\npacks_base_paths = {}:\n\n[database]\nhost = 127.0.0.1\n",
            base.display(),
            d.path().join("more").display()
        ),
    );
    // No --root: st2.conf's base_path chooses it.
    let r = run(std::process::Command::new(env!("CARGO_BIN_EXE_stackpack"))
        .env_clear()
        .env("STACKPACK_CONFIG", &conf)
        .env("STACKPACK_CACHE_DIR", crate::common::shared_cache())
        .args(["list", "--json"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let refs: Vec<&str> = v["packs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["ref"].as_str().unwrap())
        .collect();
    assert_eq!(refs, vec!["alpha", "gamma"]);
}

#[test]
fn bad_config_names_file_key_and_form() {
    let d = tempfile::tempdir().unwrap();
    let config = d.path().join("stackpack.toml");
    write(&config, "python_binary = 3\nsurprise = true\n");
    let r = run(stackpack(&d.path().join("root"))
        .arg("--config")
        .arg(&config)
        .arg("list"));
    assert_eq!(r.code, 2, "a bad config file is a usage error");
    assert!(r.stderr.contains("stackpack.toml"), "{}", r.stderr);
    assert!(r.stderr.contains("`python_binary`"), "{}", r.stderr);
    assert!(r.stderr.contains("expected"), "{}", r.stderr);

    write(&config, "surprise = true\n");
    let r = run(stackpack(&d.path().join("root"))
        .arg("--config")
        .arg(&config)
        .arg("list"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("unknown key `surprise`"), "{}", r.stderr);

    let r = run(stackpack(&d.path().join("root"))
        .arg("--config")
        .arg(d.path().join("nope.toml"))
        .arg("list"));
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("nope.toml"), "{}", r.stderr);
}
