//! No avoidable duplicate dependencies: a crate in Cargo.lock in two semver-incompatible
//! versions (for 0.x the minor counts as the major) fails this test unless deny.toml's
//! `[bans] skip` list names it with the reason. The same list serves cargo-deny, so CI
//! gets cargo-deny's multiple-versions check without building cargo-deny.

use std::collections::{BTreeMap, BTreeSet};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The part of a version that must match for two versions to be compatible.
fn major(version: &str) -> String {
    let core = version.split(['-', '+']).next().unwrap_or(version);
    let parts: Vec<&str> = core.split('.').collect();
    match parts.as_slice() {
        ["0", "0", patch, ..] => format!("0.0.{patch}"),
        ["0", minor, ..] => format!("0.{minor}"),
        [major, ..] => (*major).to_string(),
        [] => version.to_string(),
    }
}

fn read_toml(name: &str) -> toml::Table {
    let path = format!("{ROOT}/{name}");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.parse()
        .unwrap_or_else(|e| panic!("{path} is not valid TOML: {e}"))
}

/// Crate name → its versions, for the crates locked in more than one major.
fn duplicates(lock: &toml::Table) -> BTreeMap<String, BTreeSet<String>> {
    let mut by_name: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for package in lock["package"]
        .as_array()
        .expect("Cargo.lock has [[package]]")
    {
        let name = package["name"].as_str().expect("a package has a name");
        let version = package["version"]
            .as_str()
            .expect("a package has a version");
        by_name
            .entry(name.to_string())
            .or_default()
            .insert(major(version), version.to_string());
    }
    by_name
        .into_iter()
        .filter(|(_, majors)| majors.len() > 1)
        .map(|(name, majors)| (name, majors.into_values().collect()))
        .collect()
}

/// The crates deny.toml's `[bans] skip` list allows in several versions.
fn allowed() -> BTreeSet<String> {
    let deny = read_toml("deny.toml");
    deny["bans"]["skip"]
        .as_array()
        .expect("deny.toml has [bans] skip = [...]")
        .iter()
        .map(|entry| {
            let spec = entry["crate"]
                .as_str()
                .expect("each skip entry has `crate`");
            assert!(
                entry
                    .get("reason")
                    .and_then(|r| r.as_str())
                    .is_some_and(|r| !r.is_empty()),
                "deny.toml: the skip entry for {spec} needs a `reason`"
            );
            spec.split('@').next().unwrap_or(spec).to_string()
        })
        .collect()
}

#[test]
fn no_avoidable_duplicate_majors() {
    let duplicates = duplicates(&read_toml("Cargo.lock"));
    let allowed = allowed();
    let unexplained: Vec<String> = duplicates
        .iter()
        .filter(|(name, _)| !allowed.contains(*name))
        .map(|(name, versions)| {
            let versions: Vec<&str> = versions.iter().map(String::as_str).collect();
            format!("{name} {}", versions.join(", "))
        })
        .collect();
    assert!(
        unexplained.is_empty(),
        "Cargo.lock holds these crates in several incompatible versions: {}. Align our own \
         dependency with the version the others use (`cargo tree -i <crate>@<version>` shows \
         who pulls each), or, if a dependency forces it, add the crate to deny.toml's \
         [bans] skip list with the reason.",
        unexplained.join("; ")
    );
    let stale: Vec<&String> = allowed
        .iter()
        .filter(|name| !duplicates.contains_key(*name))
        .collect();
    assert!(
        stale.is_empty(),
        "deny.toml's [bans] skip list names crates no longer duplicated in Cargo.lock: {stale:?}; \
         remove them"
    );
}

#[test]
fn majors_follow_semver() {
    assert_eq!(major("1.2.3"), "1");
    assert_eq!(major("0.22.1"), "0.22");
    assert_eq!(major("0.0.7"), "0.0.7");
    assert_eq!(major("2.0.0-rc.1"), "2");
    let lock: toml::Table = "[[package]]\nname = \"a\"\nversion = \"0.1.0\"\n\
                             [[package]]\nname = \"a\"\nversion = \"0.2.0\"\n\
                             [[package]]\nname = \"b\"\nversion = \"1.0.0\"\n\
                             [[package]]\nname = \"b\"\nversion = \"1.5.0\"\n"
        .parse()
        .unwrap();
    let d = duplicates(&lock);
    assert_eq!(d.keys().collect::<Vec<_>>(), ["a"]);
    assert_eq!(d["a"].iter().collect::<Vec<_>>(), ["0.1.0", "0.2.0"]);
}
