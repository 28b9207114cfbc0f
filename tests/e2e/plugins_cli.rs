//! Plugins through the real binary, with real components: `plugin add` (pinned by
//! sha256), `remove`, `list`, `inspect`, `test` (recorded HTTP), the pin checked on every
//! load, config-declared plugins, the enterprise file (`require_pinned_plugins`,
//! `allowed_plugins`, `allowed_sources`), the built-ins as `plugin list` shows them, and
//! compiled code reused by the next process.

use std::path::{Path, PathBuf};

use crate::common::{
    Reply, Run, example_wasm, file_url, future_api_wasm, git_http_server, hostile_wasm,
    https_server, pack_repo, run, stackpack, write,
};

fn sha(bytes: &[u8]) -> String {
    stackpack_plugin::sha256_hex(bytes)
}

/// Writes a component into `dir` and returns its path.
fn component(dir: &Path, file: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(file);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// `stackpack plugin add <source> --sha256 <digest> <extra...>`.
fn add(root: &Path, source: impl AsRef<std::ffi::OsStr>, digest: &str, extra: &[&str]) -> Run {
    run(stackpack(root)
        .args(["plugin", "add"])
        .arg(source)
        .args(["--sha256", digest])
        .args(extra))
}

fn json(r: &Run) -> serde_json::Value {
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

/// Files under `<root>/plugins` (none when the directory does not exist).
fn plugin_files(root: &Path) -> Vec<String> {
    match std::fs::read_dir(root.join("plugins")) {
        Ok(entries) => entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

fn names(list: &serde_json::Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn add_pins_and_stores_then_list_inspect_and_remove() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let wasm = hostile_wasm();
    let file = component(d.path(), "hostile_guest.wasm", &wasm);
    let digest = sha(&wasm);

    let r = run(stackpack(&root)
        .args(["plugin", "add"])
        .arg(&file)
        .args(["--sha256", &digest.to_uppercase()])
        .args(["--grant", "https://packs.corp.example", "--order", "-5"])
        .args([
            "--set",
            "requested-hosts=https://packs.corp.example,https://evil.example",
        ])
        .arg("--json"));
    let added = json(&r);
    assert_eq!(added["name"], "hostile", "named by describe()");
    assert_eq!(added["kind"], "resolver");
    assert_eq!(added["sha256"], digest.as_str());
    assert_eq!(added["order"], -5);
    assert_eq!(
        added["not_granted"],
        serde_json::json!(["https://evil.example"])
    );
    assert_eq!(
        std::fs::read(root.join("plugins/hostile.wasm")).unwrap(),
        wasm.to_vec()
    );
    let manifest = std::fs::read_to_string(root.join("plugins/hostile.toml")).unwrap();
    assert!(
        manifest.contains(&format!("sha256 = \"{digest}\"")),
        "{manifest}"
    );
    assert!(manifest.contains("kind = \"resolver\""), "{manifest}");
    assert!(
        manifest.contains("https://packs.corp.example"),
        "{manifest}"
    );

    // In the chain, before the built-ins (order -5 < 100), with only its grants.
    let list = json(&run(stackpack(&root).args(["plugin", "list", "--json"])));
    assert_eq!(
        names(&list),
        vec![
            "hostile", "github", "gitlab", "file", "index", "git", "oci", "default"
        ]
    );
    let h = &list[0];
    assert_eq!(h["origin"], "added");
    assert_eq!(h["order"], -5);
    assert_eq!(h["sha256"], digest.as_str());
    assert_eq!(h["pinned_sha256"], digest.as_str());
    assert_eq!(
        h["granted_hosts"],
        serde_json::json!(["https://packs.corp.example"])
    );
    assert_eq!(list[1]["order"], 100);
    assert_eq!(list[5]["order"], 500);
    assert_eq!(list[6]["order"], 600);
    assert_eq!(list[7]["order"], serde_json::Value::Null);

    let i = json(&run(
        stackpack(&root).args(["plugin", "inspect", "hostile", "--json"])
    ));
    assert_eq!(i["world"], "source-resolver");
    assert_eq!(i["wit"], "stackpack:plugin@0.1.0");
    assert_eq!(i["origin"], "added");
    assert_eq!(i["pinned_sha256"], digest.as_str());
    assert_eq!(
        i["requested_hosts"],
        serde_json::json!(["https://packs.corp.example", "https://evil.example"])
    );
    assert_eq!(
        i["not_granted"],
        serde_json::json!(["https://evil.example"])
    );
    assert_eq!(i["memory_mib"], 64);

    // A file that is not added can be inspected too: no grants, no pin.
    let i = json(&run(stackpack(&root)
        .args(["plugin", "inspect", "--json"])
        .arg(&file)));
    assert_eq!(i["origin"], "file");
    assert_eq!(i["sha256"], digest.as_str());
    assert_eq!(i["granted_hosts"], serde_json::json!([]));
    assert_eq!(i["pinned_sha256"], serde_json::Value::Null);

    // Adding it again needs --force.
    let r = add(&root, &file, &digest, &[]);
    assert_eq!(r.code, 4);
    assert!(
        r.stderr.contains("already added") && r.stderr.contains("--force"),
        "{}",
        r.stderr
    );

    let r = run(stackpack(&root).args(["plugin", "remove", "hostile"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(plugin_files(&root).is_empty(), "{:?}", plugin_files(&root));
    let list = json(&run(stackpack(&root).args(["plugin", "list", "--json"])));
    assert!(!names(&list).contains(&"hostile".to_string()));
    let r = run(stackpack(&root).args(["plugin", "remove", "hostile"]));
    assert_eq!(r.code, 3);
    assert!(r.stderr.contains("\"hostile\""), "{}", r.stderr);
}

#[test]
fn wrong_digest_is_refused_and_nothing_is_written() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let wasm = hostile_wasm();
    let file = component(d.path(), "hostile_guest.wasm", &wasm);
    let wrong = "0".repeat(64);
    let r = add(&root, file_url(&file), &wrong, &[]);
    assert_eq!(r.code, 5, "{}", r.stdout);
    assert!(r.stderr.contains(&wrong), "{}", r.stderr);
    assert!(r.stderr.contains(&sha(&wasm)), "{}", r.stderr);
    assert!(r.stderr.contains("hostile_guest.wasm"), "{}", r.stderr);
    assert!(r.stderr.contains("nothing was added"), "{}", r.stderr);
    assert!(plugin_files(&root).is_empty(), "{:?}", plugin_files(&root));

    let r = add(&root, &file, "abc", &[]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("64 hex digits"), "{}", r.stderr);
}

/// `plugin add https://...` over real TLS on loopback: trusted through the configured
/// CA bundle, refused without it, never downgraded to http by a redirect, and the
/// credentials in the URL never shown or stored.
#[test]
fn add_fetches_over_https_with_the_configured_ca_only() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let wasm = hostile_wasm();
    let digest = sha(&wasm);
    let plain = crate::common::http_server(vec![("/hostile.wasm", Reply::ok("not this"))]);
    let (base, ca_pem) = https_server(vec![
        (
            "/hostile.wasm",
            Reply {
                status: 200,
                headers: vec![],
                body: wasm.to_vec(),
            },
        ),
        ("/moved.wasm", Reply::redirect("/hostile.wasm")),
        (
            "/downgrade.wasm",
            Reply::redirect(&format!("{plain}/hostile.wasm")),
        ),
    ]);
    let secret_url = |path: &str| {
        format!(
            "https://svc:s3cr3t-token@{}{path}",
            base.trim_start_matches("https://")
        )
    };

    // Without the CA the server's certificate is not trusted: nothing is added.
    let r = add(&root, secret_url("/hostile.wasm"), &digest, &[]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stderr.contains("plugin hostile"), "{}", r.stderr);
    assert!(r.stderr.contains("/hostile.wasm"), "{}", r.stderr);
    assert!(
        r.stderr.contains("set proxy_ca_bundle_path"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("s3cr3t-token"), "{}", r.stderr);
    assert!(plugin_files(&root).is_empty(), "{:?}", plugin_files(&root));

    let ca = d.path().join("ca.pem");
    std::fs::write(&ca, &ca_pem).unwrap();
    write(
        &root.join("stackpack.toml"),
        &format!("proxy_ca_bundle_path = {:?}\n", ca.display().to_string()),
    );
    let r = add(
        &root,
        secret_url("/downgrade.wasm"),
        &digest,
        &["--name", "hostile"],
    );
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stderr.contains("only fetched over https"), "{}", r.stderr);
    assert!(plugin_files(&root).is_empty(), "{:?}", plugin_files(&root));

    // A same-host redirect is followed; the stored source keeps no credentials.
    let r = add(
        &root,
        secret_url("/moved.wasm"),
        &digest,
        &["--json", "--name", "hostile"],
    );
    let added = json(&r);
    assert_eq!(added["sha256"], digest.as_str());
    let shown = format!("{}{}", r.stdout, r.stderr);
    assert!(!shown.contains("s3cr3t-token"), "{shown}");
    let manifest = std::fs::read_to_string(root.join("plugins/hostile.toml")).unwrap();
    assert!(manifest.contains("/moved.wasm"), "{manifest}");
    assert!(!manifest.contains("s3cr3t-token"), "{manifest}");
    assert_eq!(
        std::fs::read(root.join("plugins/hostile.wasm")).unwrap(),
        wasm.to_vec()
    );
}

#[test]
fn a_replaced_component_is_refused_on_the_next_load() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let wasm = hostile_wasm();
    let file = component(d.path(), "h.wasm", &wasm);
    let digest = sha(&wasm);
    let r = add(&root, &file, &digest, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);

    // Someone swaps the stored component (here: for another valid component).
    let other = example_wasm("corp-resolver");
    std::fs::write(root.join("plugins/hostile.wasm"), &other).unwrap();
    for args in [
        vec!["plugin", "list"],
        vec!["plugin", "inspect", "hostile"],
        vec!["install", "anything", "--no-venv", "--no-register"],
    ] {
        let r = run(stackpack(&root).args(&args));
        assert_eq!(r.code, 5, "{args:?}: {}", r.stdout);
        assert!(
            r.stderr.contains("plugin hostile was refused"),
            "{args:?}: {}",
            r.stderr
        );
        assert!(r.stderr.contains(&digest), "{}", r.stderr);
        assert!(r.stderr.contains(&sha(&other)), "{}", r.stderr);
        assert!(r.stderr.contains("plugins/hostile.wasm"), "{}", r.stderr);
    }
    assert!(!root.join("packs/anything").exists());
}

#[test]
fn builtin_names_cannot_be_added_or_removed() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let wasm = hostile_wasm();
    let file = component(d.path(), "h.wasm", &wasm);
    let r = run(stackpack(&root).args(["plugin", "add"]).arg(&file).args([
        "--sha256",
        &sha(&wasm),
        "--name",
        "github",
    ]));
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("github is a built-in plugin"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("--name"), "{}", r.stderr);
    assert!(plugin_files(&root).is_empty());

    let r = run(stackpack(&root).args(["plugin", "remove", "default"]));
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("default is a built-in plugin"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_plugin_for_an_unsupported_api_is_refused_by_add() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let wasm = future_api_wasm();
    let file = component(d.path(), "future.wasm", &wasm);
    let r = add(&root, &file, &sha(&wasm), &[]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stderr.contains("stackpack:plugin@0.2.0"), "{}", r.stderr);
    assert!(r.stderr.contains("supports 0.1.0"), "{}", r.stderr);
    assert!(plugin_files(&root).is_empty());
}

#[test]
fn config_declared_plugins_pinned_unpinned_and_required_pins() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let resolver = hostile_wasm();
    let policy = example_wasm("corp-policy");
    component(d.path(), "hostile.wasm", &resolver);
    let policy_file = component(d.path(), "corp_policy.wasm", &policy);
    let config = d.path().join("stackpack.toml");
    write(
        &config,
        &format!(
            r#"
[plugins.hos]
kind = "resolver"
path = "hostile.wasm"
sha256 = "{}"
order = 150
hosts = ["https://packs.corp.example"]

[plugins.pol]
kind = "policy"
url = "{}"
"#,
            sha(&resolver),
            file_url(&policy_file)
        ),
    );
    let r = run(stackpack(&root)
        .arg("--config")
        .arg(&config)
        .args(["plugin", "list", "--json"]));
    let list = json(&r);
    assert_eq!(
        names(&list),
        vec![
            "github", "hos", "gitlab", "file", "index", "git", "oci", "pol", "default"
        ],
        "order 150 sits between github and gitlab; the default policy runs last"
    );
    assert_eq!(list[1]["origin"], "config");
    assert_eq!(
        list[1]["granted_hosts"],
        serde_json::json!(["https://packs.corp.example"])
    );
    assert_eq!(list[7]["pinned_sha256"], serde_json::Value::Null);
    // The unpinned one loads, with a warning that gives its digest.
    assert!(r.stderr.contains("plugin pol"), "{}", r.stderr);
    assert!(r.stderr.contains("not pinned"), "{}", r.stderr);
    assert!(r.stderr.contains(&sha(&policy)), "{}", r.stderr);

    // A config-declared component replaced after pinning is refused.
    std::fs::write(d.path().join("hostile.wasm"), &policy).unwrap();
    let r = run(stackpack(&root)
        .arg("--config")
        .arg(&config)
        .args(["plugin", "list"]));
    assert_eq!(r.code, 5);
    assert!(r.stderr.contains("plugin hos was refused"), "{}", r.stderr);
    assert!(
        r.stderr.contains(&sha(&resolver)) && r.stderr.contains(&sha(&policy)),
        "{}",
        r.stderr
    );
    std::fs::write(d.path().join("hostile.wasm"), &resolver).unwrap();

    if crate::common::enterprise_env_usable() {
        let enterprise = d.path().join("enterprise.toml");
        write(&enterprise, "require_pinned_plugins = true\n");
        let r = run(stackpack(&root)
            .env("STACKPACK_ENTERPRISE_CONFIG", &enterprise)
            .arg("--config")
            .arg(&config)
            .args(["plugin", "list"]));
        assert_eq!(r.code, 5, "{}", r.stdout);
        assert!(r.stderr.contains("plugin pol"), "{}", r.stderr);
        assert!(r.stderr.contains("require_pinned_plugins"), "{}", r.stderr);
        assert!(r.stderr.contains("enterprise.toml"), "{}", r.stderr);
        assert!(
            r.stderr.contains(&format!("sha256 = \"{}\"", sha(&policy))),
            "{}",
            r.stderr
        );

        // Allow-listed plugins only: `hos` is not on the list.
        write(&enterprise, "allowed_plugins = [\"pol\"]\n");
        let r = run(stackpack(&root)
            .env("STACKPACK_ENTERPRISE_CONFIG", &enterprise)
            .arg("--config")
            .arg(&config)
            .args(["plugin", "list"]));
        assert_eq!(r.code, 5, "{}", r.stdout);
        assert!(
            r.stderr.contains("plugin hos is not allowed"),
            "{}",
            r.stderr
        );
        let wasm = hostile_wasm();
        let file = component(d.path(), "h2.wasm", &wasm);
        let r = run(stackpack(&root)
            .env("STACKPACK_ENTERPRISE_CONFIG", &enterprise)
            .args(["plugin", "add"])
            .arg(&file)
            .args(["--sha256", &sha(&wasm)]));
        assert_eq!(r.code, 5, "{}", r.stdout);
        assert!(
            r.stderr.contains("plugin hostile is not allowed"),
            "{}",
            r.stderr
        );
        assert!(plugin_files(&root).is_empty());
    }

    // A section naming no plugin at all, and no component.
    write(
        &config,
        "[plugins.nosuch]\nhosts = [\"https://x.example\"]\n",
    );
    let r = run(stackpack(&root)
        .arg("--config")
        .arg(&config)
        .args(["plugin", "list"]));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("[plugins.nosuch]"), "{}", r.stderr);
    assert!(r.stderr.contains("stackpack.toml"), "{}", r.stderr);
    assert!(r.stderr.contains("path"), "{}", r.stderr);
}

#[test]
fn enterprise_allowed_sources_refuse_installs_before_fetching() {
    if !crate::common::enterprise_env_usable() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let repo = pack_repo(&d.path().join("src/pk"), "pk", "1.0.0", "", "main");
    let served = d.path().join("served");
    crate::common::bare_clone(&repo, &served, "pk.git");
    let base = git_http_server(&served);
    let enterprise = d.path().join("enterprise.toml");
    write(
        &enterprise,
        "allowed_sources = [\"https://packs.corp.example\", \"https://*.corp.example\"]\n",
    );
    let config = d.path().join("stackpack.toml");
    write(
        &config,
        "index_url = [\"https://packs.corp.example/index.json\"]\n",
    );
    let install = |reference: &str| {
        run(stackpack(&root)
            .env("STACKPACK_ENTERPRISE_CONFIG", &enterprise)
            .arg("--config")
            .arg(&config)
            .args(["install", "--no-venv", "--no-register", reference]))
    };
    for reference in [file_url(&repo), format!("{base}/pk.git")] {
        let r = install(&reference);
        assert_eq!(r.code, 1, "{reference}: {}", r.stdout);
        assert!(
            r.stdout.contains("not under an origin allowed"),
            "{}",
            r.stdout
        );
        assert!(r.stdout.contains("nothing was fetched"), "{}", r.stdout);
        assert!(
            r.stdout.contains(&enterprise.display().to_string()),
            "{}",
            r.stdout
        );
        let shown = reference.trim_start_matches("file://");
        assert!(r.stdout.contains(shown), "{}", r.stdout);
        assert!(!root.join("packs/pk").exists());
        assert!(
            !root.join("cache/git").exists(),
            "nothing fetched into the git cache"
        );
    }
    // An index that is not allowed is refused before it is fetched.
    let r = run(stackpack(&root)
        .env("STACKPACK_ENTERPRISE_CONFIG", &enterprise)
        .args(["--index", &format!("{base}/index.json")])
        .args(["install", "--no-venv", "--no-register", "pk"]));
    assert_eq!(r.code, 5);
    assert!(r.stderr.contains("pack index"), "{}", r.stderr);
    assert!(r.stderr.contains(&base), "{}", r.stderr);

    // Allowing local paths lets the file:// install through.
    write(
        &enterprise,
        "allowed_sources = [\"https://packs.corp.example\", \"file://\"]\n",
    );
    let r = install(&file_url(&repo));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(root.join("packs/pk/pack.yaml").exists());
}

#[test]
fn plugin_test_replays_recorded_responses() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let wasm = example_wasm("corp-resolver");
    let file = component(d.path(), "corp_resolver.wasm", &wasm);
    let recorded = d.path().join("recorded.json");
    write(
        &recorded,
        r#"[
  {"url": "https://packs.corp.example/packs/sensu", "status": 200,
   "headers": {"content-type": "application/json"},
   "body": "{\"git_url\": \"https://gitlab.corp.example/packs/sensu.git\", \"ref\": \"v1.1.0\"}"},
  {"url": "https://packs.corp.example/packs/gone", "status": 404, "body": "{}"}
]"#,
    );
    let refs = d.path().join("refs.txt");
    write(
        &refs,
        "# comment\n\ncorp:sensu=1.2.0\nsensu\ncorp:gone\ncorp:unrecorded\n",
    );
    let test = |refs: &Path, json: bool| {
        let mut cmd = stackpack(&root);
        cmd.args(["plugin", "test"])
            .arg(&file)
            .arg("--refs")
            .arg(refs)
            .arg("--recorded")
            .arg(&recorded)
            .args(["--set", "service-url=https://packs.corp.example"]);
        if json {
            cmd.arg("--json");
        }
        run(&mut cmd)
    };
    let r = test(&refs, true);
    assert_eq!(
        r.code, 1,
        "a not-found and an unrecorded URL fail: {}",
        r.stderr
    );
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 4, "comments and blank lines are skipped");
    assert_eq!(results[0]["status"], "resolved");
    assert_eq!(results[0]["resolution"]["kind"], "git");
    assert_eq!(
        results[0]["resolution"]["url"],
        "https://gitlab.corp.example/packs/sensu.git"
    );
    assert_eq!(results[0]["canonical"], "corp:sensu");
    assert_eq!(results[1]["status"], "not-applicable");
    assert_eq!(results[2]["status"], "refused");
    assert_eq!(results[2]["refusal"], "not-found");
    assert_eq!(results[3]["status"], "refused");
    assert!(
        results[3]["message"]
            .as_str()
            .unwrap()
            .contains("https://packs.corp.example/packs/unrecorded was not recorded"),
        "{}",
        results[3]
    );
    assert_eq!(
        v["unrecorded"],
        serde_json::json!(["https://packs.corp.example/packs/unrecorded"])
    );
    assert_eq!(
        v["granted_hosts"],
        serde_json::json!(["https://packs.corp.example"]),
        "grants default to the recorded origins"
    );

    // Only resolvable and not-applicable references: exit 0, in plain text too.
    let ok_refs = d.path().join("ok.txt");
    write(&ok_refs, "corp:sensu\nowner/repo\n");
    let r = test(&ok_refs, false);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("corp:sensu  ->  git https://gitlab.corp.example/packs/sensu.git"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("owner/repo  ->  not applicable"),
        "{}",
        r.stdout
    );

    // Without the grant the plugin is denied, and that is a failure.
    let r = run(stackpack(&root)
        .args(["plugin", "test"])
        .arg(&file)
        .arg("--refs")
        .arg(&ok_refs)
        .arg("--recorded")
        .arg(&recorded)
        .args(["--set", "service-url=https://packs.corp.example"])
        .args(["--grant", "https://other.example"]));
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stdout.contains("REFUSED"), "{}", r.stdout);
}

/// The whole third-party flow a user follows: build the example resolver, `plugin add`
/// it pinned and granted only its service, then `install corp:<name>`: the plugin asks
/// the internal service (loopback HTTP), the host fetches the git repository it names
/// (smart HTTP) and records the resolver in the lockfile.
#[test]
fn an_added_third_party_resolver_installs_corp_packs() {
    let d = tempfile::tempdir().unwrap();
    let work = pack_repo(&d.path().join("work"), "webpack", "1.0.0", "", "main");
    crate::common::git(&work, &["tag", "v1.0.0"]);
    crate::common::commit_version(&work, "webpack", "2.0.0", "");
    crate::common::git(&work, &["tag", "v2.0.0"]);
    let served = d.path().join("srv");
    crate::common::bare_clone(&work, &served, "webpack.git");
    let git_base = git_http_server(&served);
    let answer = format!(r#"{{"git_url": "{git_base}/webpack.git", "ref": "v1.0.0"}}"#);
    let service =
        crate::common::http_server(vec![("/packs/webpack", crate::common::Reply::ok(&answer))]);

    let root = d.path().join("root");
    let wasm = example_wasm("corp-resolver");
    let file = component(d.path(), "corp_resolver.wasm", &wasm);
    let r = run(stackpack(&root)
        .args(["plugin", "add"])
        .arg(&file)
        .args(["--sha256", &sha(&wasm), "--grant", &service])
        .args(["--set", &format!("service-url={service}")]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);

    let r = run(stackpack(&root).args(["install", "--no-venv", "corp:webpack"]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        crate::common::installed_version(&root, "webpack").as_deref(),
        Some("1.0.0")
    );
    let lock = std::fs::read_to_string(root.join("stackpack.lock")).unwrap();
    assert!(lock.contains("resolver = \"corp\""), "{lock}");
    assert!(lock.contains("source = \"corp:webpack\""), "{lock}");
    // The requested version wins over the service's default ref.
    let r = run(stackpack(&root).args(["install", "--no-venv", "corp:webpack=v2.0.0"]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        crate::common::installed_version(&root, "webpack").as_deref(),
        Some("2.0.0")
    );
    // Unknown to the service: a clear failure, nothing installed.
    let r = run(stackpack(&root).args(["install", "--no-venv", "corp:nothere"]));
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains("corp:nothere") || r.stderr.contains("corp:nothere"),
        "{}{}",
        r.stdout,
        r.stderr
    );
    assert!(!root.join("packs/nothere").exists());
}

/// A hostile resolver in the chain during a real install: each misbehaviour ends in an
/// error naming the plugin and the limit, the process exits cleanly, and nothing is
/// half-written (no staging left, no pack, no lockfile entry).
#[test]
fn a_hostile_added_resolver_stops_installs_cleanly() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let wasm = hostile_wasm();
    let file = component(d.path(), "hostile_guest.wasm", &wasm);
    // Order 350: after the file resolver (300), before the index (400), so `loop` etc.
    // reach it while file:// references do not.
    let r = run(stackpack(&root)
        .args(["plugin", "add"])
        .arg(&file)
        .args(["--sha256", &sha(&wasm), "--order", "350"])
        .args(["--time-ms", "300", "--memory-mib", "32"]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let good = pack_repo(&d.path().join("good"), "good", "1.0.0", "", "main");
    let cases = [
        ("loop", "time limit"),
        ("bomb", "32 MiB"),
        ("trap", "hostile guest trapped on purpose"),
    ];
    for (reference, limit) in cases {
        let r = run(stackpack(&root).args(["install", "--no-venv", reference, &file_url(&good)]));
        let out = format!("{}{}", r.stdout, r.stderr);
        assert_eq!(r.code, 1, "{reference}: {out}");
        assert!(
            out.contains("plugin hostile") && out.contains(limit),
            "{reference}: {out}"
        );
        assert!(!out.contains("wasm backtrace"), "{reference}: {out}");
        let staging: Vec<_> = std::fs::read_dir(root.join(".stackpack-staging"))
            .map(|e| e.collect())
            .unwrap_or_default();
        assert!(staging.is_empty(), "{reference}: staging left: {staging:?}");
        assert!(
            !root.join("packs/loop").exists() && !root.join("packs/bomb").exists(),
            "{reference}"
        );
    }
    // The host is unharmed: the same chain installs the good pack next.
    let r = run(stackpack(&root).args(["install", "--no-venv", &file_url(&good)]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
}

/// A guest flooding its output (10 MiB on stderr, 10 000 `log` calls) is capped: the
/// call still answers, the operator sees one warning naming the plugin and the cap, and
/// stackpack's own output stays small.
#[test]
fn a_log_flood_is_capped_and_named() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let wasm = hostile_wasm();
    let file = component(d.path(), "hostile_guest.wasm", &wasm);
    let refs = d.path().join("refs.txt");
    write(&refs, "flood\n");
    let recorded = d.path().join("recorded.json");
    write(&recorded, "[]");
    let r = run(stackpack(&root)
        .args(["plugin", "test"])
        .arg(&file)
        .arg("--refs")
        .arg(&refs)
        .arg("--recorded")
        .arg(&recorded));
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(
        r.stderr.contains("plugin hostile")
            && r.stderr.contains("MiB of output beyond its 64 KiB log cap"),
        "{}",
        &r.stderr[..r.stderr.len().min(2000)]
    );
    assert!(
        r.stdout.len() + r.stderr.len() < 64 * 1024,
        "{} bytes of output",
        r.stdout.len() + r.stderr.len()
    );
}

/// Safe outcome: the built-ins load from the code shipped in the binary (nothing
/// compiled, nothing cached); another plugin is compiled once, and a second process
/// loads its compiled code from the cache.
#[test]
fn second_process_loads_cached_code() {
    let d = tempfile::tempdir().unwrap();
    let cache = d.path().join("cache");
    let builtins = run(stackpack(&d.path().join("root"))
        .env("STACKPACK_CACHE_DIR", &cache)
        .args(["-v", "plugin", "list"]));
    assert_eq!(builtins.code, 0, "{}", builtins.stderr);
    assert!(
        builtins
            .stderr
            .contains("plugin github: loaded precompiled code"),
        "{}",
        builtins.stderr
    );
    assert!(
        !builtins.stderr.contains("compiled in"),
        "{}",
        builtins.stderr
    );

    let file = component(
        d.path(),
        "corp_resolver.wasm",
        &example_wasm("corp-resolver"),
    );
    let inspect = || {
        run(stackpack(&d.path().join("root"))
            .env("STACKPACK_CACHE_DIR", &cache)
            .args(["-v", "plugin", "inspect"])
            .arg(&file))
    };
    let first = inspect();
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(
        first.stderr.contains("plugin corp_resolver: compiled"),
        "{}",
        first.stderr
    );
    assert!(
        !first.stderr.contains("loaded cached code"),
        "{}",
        first.stderr
    );
    let second = inspect();
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert!(
        second
            .stderr
            .contains("plugin corp_resolver: loaded cached code"),
        "{}",
        second.stderr
    );
    assert!(!second.stderr.contains("compiled in"), "{}", second.stderr);
    // The same report, but for how the code was obtained and the describe call's
    // timing, which differ from one process to the next.
    let steady = |out: &str| {
        out.lines()
            .filter(|l| !l.starts_with("machine code") && !l.starts_with("describe "))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(steady(&first.stdout), steady(&second.stdout));
    assert!(
        second
            .stdout
            .contains("machine code     cached (compiled in"),
        "{}",
        second.stdout
    );
}

#[test]
fn plugin_list_shows_every_builtin() {
    let d = tempfile::tempdir().unwrap();
    let r = run(stackpack(&d.path().join("root")).args([
        "--index",
        "http://127.0.0.1:9/i.json",
        "plugin",
        "list",
        "--json",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["github", "gitlab", "file", "index", "git", "oci", "default"]
    );
    for p in v.as_array().unwrap() {
        assert_eq!(p["wit"], "stackpack:plugin@0.1.0");
        assert_eq!(p["sha256"].as_str().unwrap().len(), 64);
    }
    assert_eq!(
        v[0]["granted_hosts"],
        serde_json::json!(["https://github.com"])
    );
    assert_eq!(
        v[3]["granted_hosts"],
        serde_json::json!(["http://127.0.0.1:9"])
    );
    assert_eq!(v[5]["kind"], "resolver");
    assert_eq!(v[5]["name"], "oci");
    assert_eq!(v[6]["kind"], "policy");
    assert_eq!(v[6]["granted_hosts"], serde_json::json!([]));
}
