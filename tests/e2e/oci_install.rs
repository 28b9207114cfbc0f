//! Installs from OCI registries: a real registry (Debian's `docker-registry`, the
//! reference distribution server) on 127.0.0.1, packs pushed to it as OCI artifacts,
//! and the real binary installing them by tag, digest, version range, dependency and
//! index entry, `--locked` after a retag, a tampered blob, a wrong artifact type, and
//! an htpasswd-protected registry.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use stackpack_oci::{Artifact, Client, ClientConfig, RegistryAuth, RegistryCredential, media};
use stackpack_testkit::registry::{Registry, RegistryOptions};

use crate::common::{cannot_run, file_url, pack_yaml, run, stackpack, write};

/// A registry with these options, or `None` (said, or a CI failure) without the binary.
fn registry(case: &str, options: RegistryOptions) -> Option<Registry> {
    if !Registry::available() {
        cannot_run(
            case,
            "the docker-registry binary is not installed (apt-get install docker-registry)",
        );
        return None;
    }
    Some(Registry::start(options).unwrap())
}

/// A pack directory `name` at `version`, with one action and `extra` as a file's text.
fn pack_dir(base: &Path, name: &str, version: &str, extra: &str) -> PathBuf {
    let dir = base.join(format!("{name}-{version}-{}", extra.len()));
    write(&dir.join("pack.yaml"), &pack_yaml(name, version));
    write(
        &dir.join("actions/hello.yaml"),
        &format!("name: hello\npack: {name}\nrunner_type: local-shell-cmd\n"),
    );
    write(
        &dir.join("README.md"),
        &format!("{name} {version}\n{extra}\n"),
    );
    dir
}

fn client(reg: &Registry, credentials: Vec<RegistryCredential>) -> Client {
    Client::new(&ClientConfig {
        insecure_registries: vec![reg.host_port().to_string()],
        credentials,
        ..ClientConfig::default()
    })
    .unwrap()
}

/// Pushes `dir` as a pack artifact (or with another artifact type) to `reference`;
/// returns (manifest digest, layer digest), both `sha256:<hex>`.
fn push(client: &Client, reference: &str, dir: &Path, artifact_type: &str) -> (String, String) {
    let layer = stackpack_oci::layer::reproducible_tar_gz(dir).unwrap();
    let pushed = client
        .push(
            &reference.parse().unwrap(),
            &Artifact {
                artifact_type: artifact_type.to_string(),
                config: (media::PACK_CONFIG.to_string(), b"{}".to_vec()),
                layers: vec![(media::PACK_LAYER.to_string(), layer)],
                annotations: BTreeMap::new(),
            },
        )
        .unwrap();
    (pushed.manifest_digest, pushed.layers[0].digest.clone())
}

/// A root whose config lists the registry as plain HTTP (plus `extra` lines), with
/// its own cache, so every layer is pulled from the registry by this root.
struct Node {
    root: PathBuf,
    cache: PathBuf,
    config: PathBuf,
}

impl Node {
    fn new(base: &Path, name: &str, reg: &Registry, extra: &str) -> Node {
        let config = base.join(format!("{name}.toml"));
        write(
            &config,
            &format!("insecure_registries = [\"{}\"]\n{extra}", reg.host_port()),
        );
        Node {
            root: base.join(name),
            cache: base.join(format!("{name}-cache")),
            config,
        }
    }

    fn stackpack(&self, args: &[&str]) -> crate::common::Run {
        self.stackpack_env(args, &[])
    }

    fn stackpack_env(&self, args: &[&str], env: &[(&str, &Path)]) -> crate::common::Run {
        let mut cmd = stackpack(&self.root);
        for (k, v) in env {
            cmd.env(k, v);
        }
        run(cmd
            .env("STACKPACK_CACHE_DIR", &self.cache)
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .arg("--no-register"))
    }

    fn lock(&self) -> String {
        std::fs::read_to_string(self.root.join("stackpack.lock")).unwrap_or_default()
    }

    /// A digest of the content of the installed `pack` (paths, modes, bytes, links:
    /// the uncompressed reproducible tar of its tree), comparable across roots, unlike
    /// the lockfile's stat-based `tree_sha256`.
    fn tree(&self, pack: &str) -> String {
        let dir = self.root.join("packs").join(pack);
        let layer = stackpack_oci::layer::reproducible_tar_gz(&dir).unwrap();
        stackpack_oci::layer::tree_sha256(&layer).unwrap()
    }

    fn readme(&self, pack: &str) -> String {
        std::fs::read_to_string(self.root.join("packs").join(pack).join("README.md"))
            .unwrap_or_default()
    }
}

fn ok(r: &crate::common::Run) {
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
}

/// Safe outcomes: an OCI install unpacks exactly the tree a file:// install gives; the
/// lockfile records both digests; a digest reference installs; after the tag is
/// pushed again with other content, `install --locked` on a fresh root and cache still
/// installs the recorded manifest and leaves the lockfile's pins as they were, and the
/// root that installed from the tag refuses the moved tag unless `--force`.
#[test]
fn push_install_by_tag_and_digest_and_locked_after_a_retag() {
    let Some(reg) = registry("oci push/install", RegistryOptions::default()) else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let c = client(&reg, Vec::new());
    let v1 = pack_dir(d.path(), "ocihello", "1.0.0", "first");
    let tagged = format!("{}:1.0.0", reg.oci("packs/ocihello"));
    let (manifest, layer) = push(&c, &tagged, &v1, media::PACK_ARTIFACT);

    let a = Node::new(d.path(), "a", &reg, "");
    ok(&a.stackpack(&["install", &tagged]));
    let lock = a.lock();
    for line in [
        "kind = \"oci\"".to_string(),
        format!("url = \"{tagged}\""),
        format!("manifest_sha256 = \"{}\"", &manifest["sha256:".len()..]),
        format!("layer_sha256 = \"{}\"", &layer["sha256:".len()..]),
        "resolver = \"oci\"".to_string(),
    ] {
        assert!(lock.contains(&line), "{line} not in {lock}");
    }
    let file = Node::new(d.path(), "file", &reg, "");
    ok(&file.stackpack(&["install", &file_url(&v1)]));
    assert!(!a.tree("ocihello").is_empty());
    assert_eq!(a.tree("ocihello"), file.tree("ocihello"));

    let by_digest = Node::new(d.path(), "digest", &reg, "");
    ok(&by_digest.stackpack(&[
        "install",
        &format!("{}@{manifest}", reg.oci("packs/ocihello")),
    ]));
    assert_eq!(by_digest.tree("ocihello"), a.tree("ocihello"));

    // The tag moves to other content.
    let v1b = pack_dir(d.path(), "ocihello", "1.0.0", "second, pushed over the tag");
    let (moved, _) = push(&c, &tagged, &v1b, media::PACK_ARTIFACT);
    assert_ne!(moved, manifest);
    let locked = Node::new(d.path(), "locked", &reg, "");
    std::fs::create_dir_all(&locked.root).unwrap();
    std::fs::write(locked.root.join("stackpack.lock"), &lock).unwrap();
    ok(&locked.stackpack(&["install", "--locked"]));
    assert!(locked.readme("ocihello").contains("first"));
    // Byte for byte but for `tree_sha256`, this root's own stat fingerprint of its tree.
    let pins = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| !l.starts_with("tree_sha256"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(pins(&locked.lock()), pins(&lock));
    // Without --locked, the root that installed from the tag sees it moved: refused,
    // both manifests named, the installed pack and the lockfile as they were.
    let r = a.stackpack(&["install", &tagged]);
    assert_ne!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(
        all.contains("was moved") && all.contains(&manifest) && all.contains(&moved),
        "{all}"
    );
    assert!(all.contains("--force"), "{all}");
    assert!(a.readme("ocihello").contains("first"));
    assert_eq!(a.lock(), lock);
    // --force takes the new content, says so, and records the new manifest.
    let r = a.stackpack(&["install", &tagged, "--force"]);
    ok(&r);
    assert!(
        format!("{}{}", r.stdout, r.stderr).contains("was moved"),
        "{}{}",
        r.stdout,
        r.stderr
    );
    assert!(
        a.readme("ocihello").contains("second"),
        "{}",
        a.readme("ocihello")
    );
    assert!(a.lock().contains(&moved["sha256:".len()..]), "{}", a.lock());
}

/// Safe outcome: under an enterprise `allowed_sources`, an OCI install from a registry
/// that is not listed (another port, or the same host allowed only as https) is refused
/// before anything is pulled; listing `oci://host:port` lets it through.
#[test]
fn allowed_sources_name_registries() {
    if !crate::common::enterprise_env_usable() {
        return;
    }
    let Some(reg) = registry("oci allowed_sources", RegistryOptions::default()) else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let c = client(&reg, Vec::new());
    let tagged = format!("{}:1.0.0", reg.oci("packs/allowed"));
    push(
        &c,
        &tagged,
        &pack_dir(d.path(), "allowed", "1.0.0", "x"),
        media::PACK_ARTIFACT,
    );
    let enterprise = d.path().join("enterprise.toml");
    let node = Node::new(d.path(), "n", &reg, "");
    let port: u16 = reg.host_port().rsplit(':').next().unwrap().parse().unwrap();
    let other = format!("127.0.0.1:{}", if port == 1 { 2 } else { port - 1 });
    for refused in [
        format!("oci://{other}"),
        format!("https://{}", reg.host_port()),
    ] {
        // The default index stays allowed: only the registry is in question.
        write(
            &enterprise,
            &format!("allowed_sources = [\"https://index.stackstorm.org\", \"{refused}\"]\n"),
        );
        let r = node.stackpack_env(
            &["install", &tagged],
            &[("STACKPACK_ENTERPRISE_CONFIG", &enterprise)],
        );
        assert_eq!(r.code, 1, "{refused}: {}{}", r.stdout, r.stderr);
        assert!(
            r.stdout.contains("not under an origin allowed") && r.stdout.contains(&refused),
            "{}",
            r.stdout
        );
        assert!(!node.root.join("packs/allowed").exists());
        assert!(walk(&node.cache).is_empty(), "{:?}", walk(&node.cache));
    }
    write(
        &enterprise,
        &format!(
            "allowed_sources = [\"https://index.stackstorm.org\", \"oci://{}\"]\n",
            reg.host_port()
        ),
    );
    let r = node.stackpack_env(
        &["install", &tagged],
        &[("STACKPACK_ENTERPRISE_CONFIG", &enterprise)],
    );
    ok(&r);
    assert!(node.readme("allowed").contains("allowed 1.0.0"));
}

/// Safe outcome: a layer blob changed in the registry's storage is refused with both
/// digests named, and the pack installed before stays as it was.
#[test]
fn a_tampered_blob_is_refused_and_the_installed_pack_stays() {
    let Some(reg) = registry("oci tampered blob", RegistryOptions::default()) else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let c = client(&reg, Vec::new());
    let v1 = pack_dir(d.path(), "ocitamper", "1.0.0", "good");
    let v2 = pack_dir(d.path(), "ocitamper", "2.0.0", "to be tampered with");
    let repo = reg.oci("packs/ocitamper");
    push(&c, &format!("{repo}:1.0.0"), &v1, media::PACK_ARTIFACT);
    let (_, layer2) = push(&c, &format!("{repo}:2.0.0"), &v2, media::PACK_ARTIFACT);
    let n = Node::new(d.path(), "n", &reg, "");
    ok(&n.stackpack(&["install", &format!("{repo}:1.0.0")]));
    let before = n.lock();

    let blob = reg.blob_path(&layer2);
    let mut bytes = std::fs::read(&blob).unwrap();
    let last = bytes.len() - 1;
    bytes[last / 2] ^= 0xff;
    std::fs::write(&blob, &bytes).unwrap();

    let r = n.stackpack(&["install", &format!("{repo}:2.0.0")]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    let out = format!("{}{}", r.stdout, r.stderr);
    assert!(out.contains(&layer2), "{out}");
    let actual = format!(
        "sha256:{}",
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes))
    );
    assert!(out.contains(&actual), "{out}");
    assert_eq!(n.lock(), before);
    assert!(n.readme("ocitamper").contains("good"));
    assert_eq!(
        crate::common::installed_version(&n.root, "ocitamper").as_deref(),
        Some("1.0.0")
    );
}

/// Safe outcomes: an artifact that is not a pack is refused naming both artifact
/// types; a range picks the highest semver tag inside it; an `oci://` dependency and
/// an index entry whose repo_url is a registry install through the OCI resolver.
#[test]
fn artifact_type_ranges_dependencies_and_index_entries() {
    let Some(reg) = registry("oci resolver", RegistryOptions::default()) else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let c = client(&reg, Vec::new());
    let repo = reg.oci("packs/ocirange");
    for v in ["1.0.0", "1.2.0", "2.0.0"] {
        let dir = pack_dir(d.path(), "ocirange", v, v);
        push(&c, &format!("{repo}:{v}"), &dir, media::PACK_ARTIFACT);
    }
    let other = pack_dir(d.path(), "notapack", "1.0.0", "");
    let wrong = format!("{}:1.0.0", reg.oci("other/thing"));
    push(&c, &wrong, &other, "application/vnd.example.thing.v1");

    let n = Node::new(d.path(), "n", &reg, "");
    let r = n.stackpack(&["install", &wrong]);
    assert_ne!(r.code, 0);
    let out = format!("{}{}", r.stdout, r.stderr);
    assert!(
        out.contains("application/vnd.example.thing.v1") && out.contains(media::PACK_ARTIFACT),
        "{out}"
    );

    ok(&n.stackpack(&["install", &format!("{repo}=>=1.0,<2")]));
    assert_eq!(
        crate::common::installed_version(&n.root, "ocirange").as_deref(),
        Some("1.2.0")
    );

    let app = d.path().join("app");
    write(
        &app.join("pack.yaml"),
        &format!(
            "{}dependencies:\n  - {repo}:2.0.0\n",
            pack_yaml("ociapp", "1.0.0")
        ),
    );
    let m = Node::new(d.path(), "m", &reg, "");
    ok(&m.stackpack(&["install", &file_url(&app)]));
    assert_eq!(
        crate::common::installed_version(&m.root, "ocirange").as_deref(),
        Some("2.0.0")
    );

    let index = d.path().join("index.json");
    write(
        &index,
        &format!(
            r#"{{"packs": {{"ocirange": {{"name": "ocirange", "version": "1.0.0",
                "description": "x", "author": "t", "repo_url": "{repo}"}}}}}}"#
        ),
    );
    let i = Node::new(
        d.path(),
        "i",
        &reg,
        &format!("index_url = [\"{}\"]\n", file_url(&index)),
    );
    ok(&i.stackpack(&["install", "ocirange"]));
    assert_eq!(
        crate::common::installed_version(&i.root, "ocirange").as_deref(),
        Some("1.0.0")
    );
    assert!(i.lock().contains("kind = \"oci\""), "{}", i.lock());
}

/// Safe outcomes: anonymous access to a protected registry fails saying to add
/// `[[credentials]]`; with them the install works, and the password shows nowhere:
/// not in the output, the lockfile or any file of the root.
#[test]
fn a_protected_registry_needs_credentials_and_never_shows_them() {
    let password = "s3cr3t-registry-pw";
    let Some(reg) = registry(
        "oci htpasswd",
        RegistryOptions {
            htpasswd: Some(("deployer".into(), password.into())),
            ..RegistryOptions::default()
        },
    ) else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let base = format!("oci://{}/", reg.host_port());
    let c = client(
        &reg,
        vec![RegistryCredential {
            url: base.clone(),
            auth: RegistryAuth::Basic {
                username: "deployer".into(),
                password: password.into(),
            },
        }],
    );
    let dir = pack_dir(d.path(), "ocisecret", "1.0.0", "");
    let tagged = format!("{}:1.0.0", reg.oci("packs/ocisecret"));
    push(&c, &tagged, &dir, media::PACK_ARTIFACT);

    let anon = Node::new(d.path(), "anon", &reg, "");
    let r = anon.stackpack(&["install", &tagged]);
    assert_ne!(r.code, 0);
    assert!(
        format!("{}{}", r.stdout, r.stderr).contains("[[credentials]]"),
        "{}{}",
        r.stdout,
        r.stderr
    );

    let n = Node::new(
        d.path(),
        "n",
        &reg,
        &format!(
            "[[credentials]]\nurl = \"{base}\"\nusername = \"deployer\"\npassword_env = \"OCI_TEST_PW\"\n"
        ),
    );
    let r = run(stackpack(&n.root)
        .env("STACKPACK_CACHE_DIR", &n.cache)
        .env("OCI_TEST_PW", password)
        .arg("--config")
        .arg(&n.config)
        .args(["install", &tagged, "--no-register"]));
    ok(&r);
    for text in [&r.stdout, &r.stderr, &n.lock()] {
        assert!(!text.contains(password), "password leaked: {text}");
    }
    for entry in walk(&n.root) {
        if let Ok(bytes) = std::fs::read(&entry) {
            assert!(
                !String::from_utf8_lossy(&bytes).contains(password),
                "password stored in {}",
                entry.display()
            );
        }
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() && !p.is_symlink() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}
