//! `stackpack push` through the real binary against a real OCI registry (Debian's
//! `docker-registry`, started per test on 127.0.0.1). The safe outcomes checked: the
//! same tree pushed twice gets one manifest digest; what is pushed is the pack's files
//! (pulled back and unpacked, byte for byte) with its lockfile origin; a protected
//! registry refuses anonymous pushes with a message naming `[[credentials]]`, accepts
//! the configured ones, and the password appears in no output and no file of the root;
//! TLS works only with the CA configured; a plain-HTTP registry is used only when listed
//! in `insecure_registries`; a pushed lockfile comes back byte-identical with its
//! overrides.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use stackpack_core::OciRef;
use stackpack_oci::{Client, ClientConfig, media};
use stackpack_testkit::registry::{Registry, RegistryOptions};

use crate::common::{cannot_run, file_url, pack_repo, pack_yaml, run, stackpack, write};

/// A registry, or None after `cannot_run` (the binary is missing).
fn registry(case: &str, options: RegistryOptions) -> Option<Registry> {
    match Registry::start(options) {
        Ok(r) => Some(r),
        Err(why) => {
            cannot_run(case, &format!("the OCI registry cannot run: {why}"));
            None
        }
    }
}

/// `stackpack.toml` in `root` listing the registry as plain HTTP, plus `extra`.
fn insecure_config(root: &Path, reg: &Registry, extra: &str) {
    write(
        &root.join("stackpack.toml"),
        &format!("insecure_registries = [\"{}\"]\n{extra}", reg.host_port()),
    );
}

/// A pack directory with a script, a nested file and a symlink.
fn pack_dir(dir: &Path, name: &str, version: &str) -> PathBuf {
    write(&dir.join("pack.yaml"), &pack_yaml(name, version));
    write(&dir.join("actions/run.sh"), "#!/bin/sh\necho run\n");
    write(
        &dir.join("actions/run.yaml"),
        "name: run\nrunner_type: local-shell-script\nentry_point: run.sh\n",
    );
    write(&dir.join("README.md"), "# readme\n");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        dir.join("actions/run.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::os::unix::fs::symlink("README.md", dir.join("README")).unwrap();
    dir.to_path_buf()
}

fn push_json(root: &Path, args: &[&str]) -> serde_json::Value {
    let r = run(stackpack(root).arg("--json").arg("push").args(args));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    serde_json::from_str(&r.stdout).unwrap()
}

/// A client for the test's own reads of the registry.
fn client(reg: &Registry) -> Client {
    Client::new(&ClientConfig {
        insecure_registries: vec![reg.host_port().to_string()],
        ..Default::default()
    })
    .unwrap()
}

/// The layer `reference` names, unpacked into `into`; and the config blob as JSON.
fn pull(client: &Client, reference: &str, into: &Path) -> (serde_json::Value, String) {
    let r: OciRef = reference.parse().unwrap();
    let m = client.manifest(&r).unwrap();
    let mut config = Vec::new();
    client
        .pull_blob(&r, &m.config, 1 << 20, &mut config)
        .unwrap();
    assert_eq!(m.layers.len(), 1);
    let mut layer = Vec::new();
    client
        .pull_blob(&r, &m.layers[0], 64 << 20, &mut layer)
        .unwrap();
    tar::Archive::new(flate2::read::GzDecoder::new(&layer[..]))
        .unpack(into)
        .unwrap();
    (
        serde_json::from_slice(&config).unwrap(),
        m.artifact_type.unwrap_or_default(),
    )
}

/// Every file under `dir` (relative path → content, or `-> target` for a link), minus
/// `.git`.
fn files(dir: &Path) -> BTreeMap<String, String> {
    fn walk(dir: &Path, rel: &str, out: &mut BTreeMap<String, String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            if name == ".git" {
                continue;
            }
            let path = format!("{rel}{name}");
            let ty = e.file_type().unwrap();
            if ty.is_symlink() {
                let target = std::fs::read_link(e.path()).unwrap();
                out.insert(path, format!("-> {}", target.display()));
            } else if ty.is_dir() {
                walk(&e.path(), &format!("{path}/"), out);
            } else {
                out.insert(
                    path,
                    String::from_utf8_lossy(&std::fs::read(e.path()).unwrap()).into_owned(),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, "", &mut out);
    out
}

#[test]
fn the_same_tree_pushed_twice_gets_one_digest_and_json_says_what_was_pushed() {
    let Some(reg) = registry("oci push twice", RegistryOptions::default()) else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    insecure_config(&root, &reg, "");
    let pack = pack_dir(&d.path().join("hello"), "hello", "1.2.0");
    let target = reg.oci("packs/hello");
    let first = push_json(&root, &[pack.to_str().unwrap(), &target]);
    let second = push_json(&root, &[pack.to_str().unwrap(), &target]);
    assert_eq!(first["digest"], second["digest"]);
    assert_eq!(first["layer_digest"], second["layer_digest"]);
    let digest = first["digest"].as_str().unwrap();
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{first}"
    );
    assert_eq!(
        first["reference"].as_str().unwrap(),
        format!("{target}:1.2.0@{digest}"),
        "the tag defaults to the version"
    );
    assert!(
        first["layer_digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert!(first["size"].as_u64().unwrap() > first["layer_size"].as_u64().unwrap());
    assert_eq!(first["pack"], "hello");
    assert_eq!(first["version"], "1.2.0");

    // The table names the same digest; another mtime on every file changes nothing.
    std::fs::write(pack.join("README.md"), "# readme\n").unwrap();
    let r = run(stackpack(&root).args(["push", pack.to_str().unwrap(), &format!("{target}:v1")]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains(digest), "{}", r.stdout);
    assert!(
        r.stdout.contains(first["layer_digest"].as_str().unwrap()),
        "{}",
        r.stdout
    );

    // The pulled layer is the pack's files, links and exec bits kept.
    let out = d.path().join("pulled");
    let (config, artifact_type) = pull(&client(&reg), first["reference"].as_str().unwrap(), &out);
    assert_eq!(artifact_type, media::PACK_ARTIFACT);
    assert_eq!(files(&out), files(&pack));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(out.join("actions/run.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o111, 0o111, "the script stays executable");
    assert_eq!(config["ref"], "hello");
    assert_eq!(config["version"], "1.2.0");
    assert_eq!(config["tree_sha256"], first["tree_sha256"]);
    assert!(
        config["source"].is_null() && config["commit"].is_null(),
        "{config}"
    );
}

#[test]
fn an_installed_pack_is_pushed_by_name_with_its_source_and_commit() {
    let Some(reg) = registry("oci push installed", RegistryOptions::default()) else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let repo = pack_repo(&d.path().join("alpha"), "alpha", "2.0.0", "", "main");
    write(&repo.join("actions/a.sh"), "echo a\n");
    crate::common::git(&repo, &["add", "-A"]);
    crate::common::git(&repo, &["commit", "-qm", "action"]);
    let commit = crate::common::git(&repo, &["rev-parse", "HEAD"]);
    let root = d.path().join("root");
    insecure_config(&root, &reg, "");
    let r = run(stackpack(&root).args([
        "install",
        "--no-register",
        &format!("{}=main", file_url(&repo)),
    ]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);

    let pushed = push_json(&root, &["alpha", &reg.oci("alpha")]);
    assert!(
        pushed["reference"]
            .as_str()
            .unwrap()
            .contains("/alpha:2.0.0@sha256:"),
        "{pushed}"
    );
    let out = d.path().join("pulled");
    let (config, _) = pull(&client(&reg), pushed["reference"].as_str().unwrap(), &out);
    assert_eq!(files(&out), files(&root.join("packs/alpha")));
    assert!(!out.join(".git").exists());
    assert_eq!(config["commit"], commit.as_str());
    assert!(
        config["source"].as_str().unwrap().contains("alpha"),
        "{config}"
    );
}

#[test]
fn a_protected_registry_needs_credentials_and_never_sees_them_printed_or_stored() {
    let password = "pw-Zq81-never-shown";
    let Some(reg) = registry(
        "oci push htpasswd",
        RegistryOptions {
            htpasswd: Some(("fleet".to_string(), password.to_string())),
            tls: false,
        },
    ) else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let pack = pack_dir(&d.path().join("hello"), "hello", "1.0.0");
    let root = d.path().join("root");
    insecure_config(&root, &reg, "");
    let r = run(stackpack(&root).args(["push", pack.to_str().unwrap(), &reg.oci("hello")]));
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(
        r.stderr.contains("[[credentials]]")
            && r.stderr.contains(&format!("oci://{}/", reg.host_port())),
        "{}",
        r.stderr
    );

    insecure_config(
        &root,
        &reg,
        &format!(
            "[[credentials]]\nurl = \"oci://{}/\"\nusername = \"fleet\"\npassword_env = \"REGISTRY_PW\"\n",
            reg.host_port()
        ),
    );
    let r = run(stackpack(&root).env("REGISTRY_PW", password).args([
        "-vv",
        "push",
        pack.to_str().unwrap(),
        &reg.oci("hello"),
    ]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(!r.stdout.contains(password) && !r.stderr.contains(password));
    let r = run(stackpack(&root).env("REGISTRY_PW", password).args([
        "push",
        "--lockfile",
        &reg.oci("fleet:prod"),
    ]));
    // No lockfile in this root: refused, still without the password.
    assert_ne!(r.code, 0);
    assert!(!r.stdout.contains(password) && !r.stderr.contains(password));
    for (path, content) in files(&root) {
        assert!(!content.contains(password), "{path} holds the password");
    }
}

#[test]
fn tls_works_with_the_ca_configured_and_fails_clearly_without() {
    let Some(reg) = registry(
        "oci push tls",
        RegistryOptions {
            htpasswd: None,
            tls: true,
        },
    ) else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let pack = pack_dir(&d.path().join("hello"), "hello", "1.0.0");
    let root = d.path().join("root");
    let r = run(stackpack(&root).args(["push", pack.to_str().unwrap(), &reg.oci("hello")]));
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(
        r.stderr.contains("TLS") && r.stderr.contains("proxy_ca_bundle_path"),
        "{}",
        r.stderr
    );

    write(
        &root.join("stackpack.toml"),
        &format!(
            "proxy_ca_bundle_path = \"{}\"\n",
            reg.ca_path().unwrap().display()
        ),
    );
    let pushed = push_json(&root, &[pack.to_str().unwrap(), &reg.oci("hello")]);
    assert!(pushed["digest"].as_str().unwrap().starts_with("sha256:"));
}

#[test]
fn a_plain_http_registry_not_listed_as_insecure_is_refused_naming_the_setting() {
    let Some(reg) = registry("oci push plain http", RegistryOptions::default()) else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let pack = pack_dir(&d.path().join("hello"), "hello", "1.0.0");
    let root = d.path().join("root");
    let r = run(stackpack(&root).args(["push", pack.to_str().unwrap(), &reg.oci("hello")]));
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("plain HTTP") && r.stderr.contains("insecure_registries"),
        "{}",
        r.stderr
    );
    let tags = client(&reg).list_tags(&reg.oci("hello").parse().unwrap());
    assert!(
        tags.is_err() || tags.unwrap().is_empty(),
        "nothing was pushed"
    );
}

#[test]
fn a_pushed_lockfile_comes_back_byte_identical_with_its_overrides() {
    let Some(reg) = registry("oci push lockfile", RegistryOptions::default()) else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let repo = pack_repo(&d.path().join("alpha"), "alpha", "1.0.0", "", "main");
    let root = d.path().join("root");
    insecure_config(&root, &reg, "");
    let r = run(stackpack(&root).args([
        "install",
        "--no-register",
        &format!("{}=main", file_url(&repo)),
    ]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    write(
        &root.join("overrides/_global.yaml"),
        "actions:\n  defaults:\n    enabled: false\n",
    );
    write(
        &root.join("overrides/alpha.yaml"),
        "rules:\n  defaults:\n    enabled: true\n",
    );

    let r = run(stackpack(&root).args(["push", "--lockfile", &reg.oci("fleet")]));
    assert_eq!(r.code, 2, "a lockfile push names its channel: {}", r.stderr);
    assert!(r.stderr.contains("tag"), "{}", r.stderr);

    let pushed = push_json(&root, &["--lockfile", &reg.oci("fleet:prod")]);
    let again = push_json(&root, &["--lockfile", &reg.oci("fleet:prod")]);
    assert_eq!(pushed["digest"], again["digest"]);
    assert_eq!(pushed["kind"], "lockfile");
    let out = d.path().join("pulled");
    let (config, artifact_type) = pull(&client(&reg), pushed["reference"].as_str().unwrap(), &out);
    assert_eq!(artifact_type, media::LOCKFILE_ARTIFACT);
    assert_eq!(
        std::fs::read(out.join("stackpack.lock")).unwrap(),
        std::fs::read(root.join("stackpack.lock")).unwrap()
    );
    assert_eq!(
        files(&out.join("overrides")),
        files(&root.join("overrides"))
    );
    let names: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "only the lockfile and overrides: {names:?}");
    assert_eq!(config["packs"][0]["ref"], "alpha");
}
