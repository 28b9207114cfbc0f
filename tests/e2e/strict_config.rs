//! Config schemas through the real binary, held to StackStorm's rules: registration and
//! `config` refuse what st2 refuses to register (an empty schema, a key st2 does not allow,
//! an attribute name that is not word characters), a schema st2 accepts stays usable even
//! with a default that breaks its own property, and `config --schema` shows a schema as
//! st2's `GET /config_schemas/<pack>` does. One fixture pack per rule, in the shapes of st2's
//! own fixtures (`dummy_pack_6`, `dummy_pack_17`, `dummy_pack_18`).

use std::path::Path;

use crate::common::{pack_yaml, run, stackpack, write};
use serde_json::Value;

/// A pack with one action and the given config.schema.yaml, in `<root>/packs/<name>`.
fn pack(root: &Path, name: &str, schema: Option<&str>) {
    let dir = root.join("packs").join(name);
    write(&dir.join("pack.yaml"), &pack_yaml(name, "1.0.0"));
    write(
        &dir.join("actions/run.yaml"),
        "---\nname: run\nrunner_type: python-script\nentry_point: run.py\n",
    );
    if let Some(schema) = schema {
        write(&dir.join("config.schema.yaml"), schema);
    }
}

/// st2's `dummy_pack_6` shape: `regions` is an array whose default is a string.
const BAD_DEFAULT: &str = "\
api_key: {type: string, required: true}
api_secret: {type: string, secret: true, required: true}
regions: {type: array, required: true, default: \"us-east-1\"}
region: {type: string, required: true, default: default-region-value}
";

/// Each invalid schema, the pack it is in, and what the refusal must say.
const INVALID: [(&str, &str, &str); 4] = [
    // st2's dummy_pack_17 (invalid packs): an empty file.
    ("schema_empty", "---\n", "is empty and invalid"),
    // st2's dummy_pack_18: a key st2 does not allow.
    (
        "schema_unknown_key",
        "api_key:\n  description: API key\n  type: string\n  secret: true\n  required: true\n  invalid: value\n",
        "Additional properties are not allowed ('invalid' was unexpected)",
    ),
    // A typo of `secret`: refused, never read as a non-secret key.
    (
        "schema_typo",
        "token: {type: string, secert: true}\n",
        "unknown key `secert`: did you mean `secret`?",
    ),
    // An attribute name outside `^\w+$`.
    (
        "schema_bad_name",
        "api-key: {type: string}\n",
        "may hold only letters, digits and underscores",
    ),
];

/// With `--fail-on-failure` a pack whose schema st2 would refuse is refused (exit 1, the
/// file and reason on stderr); without it the schema is reported and skipped while the
/// pack's content registers, as st2 logs the failed pack registration and goes on.
#[test]
fn registration_refuses_schemas_st2_refuses() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    for (name, schema, _) in INVALID {
        pack(root, name, Some(schema));
    }
    for (name, _, says) in INVALID {
        let r = run(stackpack(root).args(["register", "--fail-on-failure", name]));
        assert_eq!(r.code, 1, "{name}: {}{}", r.stdout, r.stderr);
        assert!(
            r.stderr.contains("config.schema.yaml") && r.stderr.contains(says),
            "{name}: {}",
            r.stderr
        );
    }
    assert!(
        !root.join("registry.db").exists(),
        "nothing is registered when --fail-on-failure refuses"
    );

    let r = run(stackpack(root).args(["--json", "register"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["actions"], 4, "the packs' content still registers: {v}");
    for p in v["packs"].as_array().unwrap() {
        let problems = p["problems"].as_array().unwrap();
        assert_eq!(problems.len(), 1, "{p}");
        assert_eq!(problems[0]["type"], "config", "{p}");
        assert_eq!(problems[0]["file"], "config.schema.yaml", "{p}");
    }
    for (name, _, says) in INVALID {
        assert!(
            r.stderr
                .contains(&format!("{name}: skipped config.schema.yaml: "))
                && r.stderr.contains(says),
            "{name}: {}",
            r.stderr
        );
    }
}

/// `stackpack config` reads the schema with the same rules: a mistyped `secret` is refused
/// before any value is taken, so no secret is ever written 0644 or shown unmasked.
#[test]
fn config_refuses_a_schema_with_a_mistyped_secret() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    pack(
        root,
        "schema_typo",
        Some("token: {type: string, secert: true}\n"),
    );
    let r = run(stackpack(root).args(["config", "schema_typo", "--set", "token=hunter2"]));
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(
        r.stderr.contains("`secert`") && r.stderr.contains("did you mean `secret`?"),
        "{}",
        r.stderr
    );
    assert!(!r.stdout.contains("hunter2") && !r.stderr.contains("hunter2"));
    assert!(!root.join("configs/schema_typo.yaml").exists());
}

/// st2's `dummy_pack_6`: the schema registers with a warning about the default; a config
/// that sets `regions` is accepted; one with a wrong `regions` reports its own value (st2:
/// `1000 is not of type 'array'`); one that leaves `regions` out is refused because the
/// default is then used, and says so.
#[test]
fn a_bad_default_leaves_the_pack_configurable() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    pack(root, "regions_pack", Some(BAD_DEFAULT));

    let r = run(stackpack(root).args(["--json", "register", "regions_pack"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("regions_pack: config.schema.yaml: regions: ")
            && r.stderr.contains("\"us-east-1\""),
        "{}",
        r.stderr
    );
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["warnings"][0]["file"], "config.schema.yaml", "{v}");
    assert_eq!(v["packs"][0]["problems"], serde_json::json!([]), "{v}");

    let ok = run(stackpack(root).args([
        "config",
        "regions_pack",
        "--set",
        "api_key=k",
        "--set",
        "api_secret=s",
        "--set",
        "regions=us-west-1,eu-west-1",
    ]));
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert!(ok.stderr.contains("\"us-east-1\""), "warned: {}", ok.stderr);
    let file = root.join("configs/regions_pack.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("us-west-1") && text.contains("eu-west-1"),
        "{text}"
    );

    let values = d.path().join("values.yaml");
    write(&values, "api_key: k\napi_secret: s\nregions: 1000\n");
    let r = run(stackpack(root).args([
        "config",
        "regions_pack",
        "--from-file",
        values.to_str().unwrap(),
    ]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    let error = r
        .stderr
        .lines()
        .find(|l| l.starts_with("  regions:"))
        .unwrap_or("");
    assert!(
        error.contains("1000 is not of type \"array\"") && !error.contains("default"),
        "{}",
        r.stderr
    );

    write(&values, "api_key: k\napi_secret: s\n");
    let r = run(stackpack(root).args([
        "config",
        "regions_pack",
        "--from-file",
        values.to_str().unwrap(),
    ]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("default \"us-east-1\"")
            && r.stderr.contains("set `regions` in the config"),
        "{}",
        r.stderr
    );
    assert!(
        std::fs::read_to_string(&file).unwrap() == text,
        "a refused config leaves the file as it was"
    );

    // register --configs validates the stored config the same way (st2's configs
    // registrar: `Failed validating attribute "regions" ... 1000 is not of type 'array'`).
    write(&file, "api_key: k\napi_secret: s\nregions: 1000\n");
    let r = run(stackpack(root).args(["--json", "register", "--configs", "regions_pack"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["configs"], 0, "{v}");
    let problem = &v["packs"][0]["problems"][0];
    assert_eq!(problem["file"], "configs/regions_pack.yaml", "{v}");
    assert!(
        problem["message"]
            .as_str()
            .unwrap()
            .contains("regions: 1000 is not of type \"array\""),
        "{v}"
    );
}

const SHOWN: &str = "\
api_key: {type: string, secret: true, required: true, default: not-for-display, description: \"API key\"}
region: {type: string, required: true, default: lon, enum: [lon, nyc], description: \"Region\"}
auth:
  type: object
  properties:
    user: {type: string, required: true, description: \"Login\"}
    password: {type: string, secret: true}
instances:
  type: array
  items:
    type: object
    properties:
      alias: {type: string, required: true}
";

/// `config --schema --json` prints st2's `{"pack": ..., "attributes": {...}}` with the
/// attributes as written, secret defaults masked; the table lists every key (nested ones
/// dotted) with type, required, secret, default (masked when secret) and description.
/// A pack without a schema says so and exits NotFound (3).
#[test]
fn config_schema_is_shown_like_st2() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    pack(root, "shown", Some(SHOWN));
    pack(root, "plain", None);

    let r = run(stackpack(root).args(["--json", "config", "shown", "--schema"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["pack"], "shown");
    assert_eq!(v.as_object().unwrap().len(), 2, "{v}");
    let attributes = &v["attributes"];
    assert_eq!(attributes["api_key"]["secret"], true);
    assert_eq!(attributes["api_key"]["default"], "********");
    assert_eq!(attributes["region"]["default"], "lon");
    assert_eq!(
        attributes["region"]["enum"],
        serde_json::json!(["lon", "nyc"])
    );
    assert_eq!(
        attributes["auth"]["properties"]["user"]["required"], true,
        "{v}"
    );
    assert!(!r.stdout.contains("not-for-display"));

    let r = run(stackpack(root).args(["config", "shown", "--schema"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    let words = |l: &str| l.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    assert_eq!(
        words(lines[0]),
        [
            "KEY",
            "TYPE",
            "REQUIRED",
            "SECRET",
            "DEFAULT",
            "DESCRIPTION"
        ]
    );
    let row = |key: &str| {
        lines
            .iter()
            .find(|l| l.split_whitespace().next() == Some(key))
            .map(|l| words(l))
            .unwrap_or_else(|| panic!("no row for {key}:\n{}", r.stdout))
    };
    assert_eq!(
        row("api_key"),
        ["api_key", "string", "yes", "yes", "********", "API", "key"]
    );
    assert_eq!(
        row("region"),
        [
            "region",
            "string",
            "(lon|nyc)",
            "yes",
            "no",
            "lon",
            "Region"
        ]
    );
    assert_eq!(
        row("auth.user"),
        ["auth.user", "string", "yes", "no", "Login"]
    );
    assert_eq!(
        row("auth.password"),
        ["auth.password", "string", "no", "yes"]
    );
    assert_eq!(
        row("instances[].alias"),
        ["instances[].alias", "string", "yes", "no"]
    );
    assert!(!r.stdout.contains("not-for-display"));

    let r = run(stackpack(root).args(["config", "plain", "--schema"]));
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("Pack \"plain\" doesn't have a config schema defined"),
        "{}",
        r.stderr
    );
}
