//! The rules StackStorm applies to config schemas and configs, checked on schemas in the
//! shapes of st2's own fixture packs (named after them), with the outcomes st2's unit tests
//! expect (`test_resource_registrar.py`, `test_configs_registrar.py`,
//! `test_config_loader.py`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use stackpack_config::{ConfigError, ConfigProblem, ConfigSchema};

/// st2's `dummy_pack_6`: `regions` is an array whose default is a string.
const BAD_DEFAULT: &str = r#"
api_key: {type: string, required: true}
api_secret: {type: string, secret: true, required: true}
regions: {type: array, required: true, default: "us-east-1"}
private_key_path: {type: string, required: false}
region: {type: string, required: true, default: "default-region-value"}
"#;

fn rules_problems(text: &str) -> Vec<ConfigProblem> {
    match ConfigSchema::parse(text) {
        Err(ConfigError::SchemaRules { problems }) => problems,
        Err(other) => panic!("expected a rules error, got: {other}"),
        Ok(_) => panic!("the schema was accepted:\n{text}"),
    }
}

/// st2 refuses an empty schema file ("is empty and invalid"): so does stackpack, instead of
/// taking it for a schema without attributes.
#[test]
fn empty_schema_is_invalid() {
    for text in ["", "---\n", "{}\n", "[]\n", "# only a comment\n"] {
        let e = ConfigSchema::parse(text).unwrap_err();
        assert!(matches!(e, ConfigError::EmptySchema), "{text:?}: {e}");
        assert!(e.to_string().contains("is empty and invalid"), "{e}");
    }
}

/// st2's `dummy_pack_18`: an attribute with a key outside st2's list is refused with
/// st2's words, naming the key.
#[test]
fn unknown_attribute_key_is_refused() {
    let text = "api_key:\n  description: API key\n  type: string\n  secret: true\n  \
                required: true\n  invalid: value\n";
    let problems = rules_problems(text);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].path, "api_key");
    assert!(
        problems[0]
            .message
            .contains("Additional properties are not allowed ('invalid' was unexpected)"),
        "{}",
        problems[0]
    );
}

/// A typo of `secret` is refused, naming the key and the one meant, at any depth: the
/// secret flag is never silently dropped (which would show the value unmasked and write
/// the config world-readable).
#[test]
fn secret_typo_is_refused_with_a_suggestion() {
    let problems = rules_problems("token: {type: string, secert: true}\n");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].path, "token");
    assert!(
        problems[0].message.contains("`secert`")
            && problems[0].message.contains("did you mean `secret`?"),
        "{}",
        problems[0]
    );

    let nested = "auth:\n  type: object\n  properties:\n    password:\n      type: string\n      \
                  secert: true\n    user: {type: string, requried: true}\n";
    let problems = rules_problems(nested);
    assert_eq!(problems.len(), 2, "{problems:?}");
    let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert!(
        text.iter()
            .any(|t| t.starts_with("auth.properties.password: ")
                && t.contains("did you mean `secret`?")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|t| t.starts_with("auth.properties.user: ")
                && t.contains("did you mean `required`?")),
        "{text:?}"
    );
    // The error as a whole says what to do.
    let e = ConfigSchema::parse(nested).unwrap_err().to_string();
    assert!(
        e.contains("st2 refuses to register it") && e.contains("fix"),
        "{e}"
    );
}

/// Attribute names must match `^\w+$`, as in st2's `ConfigSchemaAPI`.
#[test]
fn attribute_names_are_word_characters() {
    let problems = rules_problems("api-key: {type: string}\nok_key: {type: string}\n");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].path, "api-key");
    assert!(problems[0].message.contains("`api_key`"), "{}", problems[0]);
    // Word characters of any script are fine; nested property names are free.
    ConfigSchema::parse("ключ: {type: string}\n").unwrap();
    ConfigSchema::parse("a:\n  type: object\n  properties:\n    \"x-y\": {type: string}\n")
        .unwrap();
}

/// Each allowed key must have the shape st2's parameter meta-schema gives it.
#[test]
fn allowed_keys_have_their_shapes() {
    for (text, key) in [
        ("a: {type: string, secret: 'yes'}\n", "secret"),
        ("a: {type: string, immutable: 1}\n", "immutable"),
        ("a: {type: string, position: -1}\n", "position"),
        ("a: {type: integer, minLength: 1.5}\n", "minLength"),
        ("a: {type: string, enum: [x, x]}\n", "enum"),
        ("a: {type: integer, exclusiveMaximum: true}\n", "maximum"),
        ("a: {type: string, title: 5}\n", "title"),
        // A list of types only in nested schemas, as in st2.
        ("a: {type: [string, \"null\"]}\n", "a.type"),
        (
            "a:\n  type: object\n  required: [b]\n  properties:\n    b: {type: string}\n",
            "required",
        ),
    ] {
        let e = ConfigSchema::parse(text)
            .err()
            .unwrap_or_else(|| panic!("accepted: {text}"))
            .to_string();
        assert!(e.contains(key), "{text}: expected {key} in: {e}");
    }
    // A nested schema may list types and use `format`; the top level may not use `format`.
    ConfigSchema::parse(
        "a:\n  type: object\n  properties:\n    b: {type: [string, \"null\"], format: uri}\n",
    )
    .unwrap();
    let problems = rules_problems("a: {type: string, format: uri}\n");
    assert!(
        problems[0].message.contains("only in nested"),
        "{problems:?}"
    );
    // `key:` with no mapping is refused (st2: None is not of type 'object').
    let e = ConfigSchema::parse("a:\n").unwrap_err();
    assert!(e.to_string().contains("`a`"), "{e}");
}

/// Every schema shape of st2's valid fixture packs is accepted, with its properties.
#[test]
fn st2_fixture_schemas_are_accepted() {
    for (pack, text) in [
        (
            "dummy_pack_1",
            include_str!("st2_fixtures/dummy_pack_1.yaml"),
        ),
        ("dummy_pack_6", BAD_DEFAULT),
        (
            "dummy_pack_17",
            include_str!("st2_fixtures/dummy_pack_17.yaml"),
        ),
        (
            "dummy_pack_19",
            include_str!("st2_fixtures/dummy_pack_19.yaml"),
        ),
        (
            "dummy_pack_22",
            include_str!("st2_fixtures/dummy_pack_22.yaml"),
        ),
        (
            "dummy_pack_schema_with_additional_items_1",
            include_str!("st2_fixtures/additional_items.yaml"),
        ),
        (
            "dummy_pack_schema_with_pattern_and_additional_properties_1",
            include_str!("st2_fixtures/pattern_and_additional_properties.yaml"),
        ),
        (
            "dummy_pack_schema_with_nested_object_5",
            include_str!("st2_fixtures/nested_object_5.yaml"),
        ),
    ] {
        let s = ConfigSchema::parse(text).unwrap_or_else(|e| panic!("{pack}: {e}"));
        assert!(!s.properties().is_empty(), "{pack}");
    }
}

/// st2's `dummy_pack_6`: a default that breaks its own property is a warning naming the key
/// (st2 registers the schema), not a refusal of every config.
#[test]
fn bad_default_is_a_warning() {
    let s = ConfigSchema::parse(BAD_DEFAULT).unwrap();
    let w = s.warnings();
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].path, "regions");
    assert!(
        w[0].message.contains("\"us-east-1\"") && w[0].message.contains("array"),
        "{}",
        w[0]
    );
}

/// With the bad default of `dummy_pack_6`, a config that sets `regions` validates; a config
/// with a wrong `regions` reports its own value (st2: `1000 is not of type 'array'`); a
/// config that leaves `regions` out is refused only because the default is then used, and
/// says so.
#[test]
fn config_values_are_validated_despite_a_bad_default() {
    let s = ConfigSchema::parse(BAD_DEFAULT).unwrap();
    s.validate(&json!({"api_key": "k", "api_secret": "s", "regions": ["us-west-1"]}))
        .unwrap();

    let problems = s
        .validate(&json!({"api_key": "k", "api_secret": "s", "regions": 1000}))
        .unwrap_err();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].path, "regions");
    assert!(
        problems[0]
            .message
            .contains("1000 is not of type \"array\""),
        "{}",
        problems[0]
    );
    assert!(!problems[0].message.contains("default"), "{}", problems[0]);

    let problems = s
        .validate(&json!({"api_key": "k", "api_secret": "s"}))
        .unwrap_err();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].path, "regions");
    assert!(
        problems[0].message.contains("default \"us-east-1\"")
            && problems[0].message.contains("set `regions` in the config"),
        "{}",
        problems[0]
    );
}

/// st2's `dummy_pack_17` falsy defaults: a `null` default is allowed whatever the type, and
/// an explicit `null` for such a key is accepted (st2's `allow_default_none`).
#[test]
fn null_defaults_are_allowed() {
    let text = "flag: {type: boolean, required: true, default: null}\n\
                other: {type: boolean, required: true, default: false}\n";
    let s = ConfigSchema::parse(text).unwrap();
    assert!(s.warnings().is_empty(), "{:?}", s.warnings());
    s.validate(&json!({})).unwrap();
    s.validate(&json!({"flag": null})).unwrap();
    s.validate(&json!({"flag": true, "other": false})).unwrap();
    assert!(s.validate(&json!({"flag": "x"})).is_err());
}
