#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use stackpack_config::{ConfigError, ConfigSchema, Kind, set_value};

const FIXTURE: &str = r#"
api_key:   {type: string, secret: true, required: true}
api_secret: {type: string, secret: true, required: true}
region:    {type: string, required: true, default: "lon"}
"#;

const NESTED: &str = r#"
host:
  type: string
  description: "Server host"
  required: true
port:
  type: integer
  default: 8080
verbose:
  type: boolean
  default: false
level:
  type: string
  enum: [debug, info, warn]
  default: info
tags:
  type: array
  items: {type: string}
ratios:
  type: array
  items: {type: number}
auth:
  type: object
  properties:
    user: {type: string, required: true}
    password: {type: string, secret: true}
    timeout: {type: integer, default: 30}
instances:
  type: array
  items:
    type: object
    properties:
      alias: {type: string, required: true}
      token: {type: string, secret: true}
      port: {type: integer}
"#;

fn nested() -> ConfigSchema {
    ConfigSchema::parse(NESTED).unwrap()
}

#[test]
fn parses_st2_fixture_shape() {
    let s = ConfigSchema::parse(FIXTURE).unwrap();
    let names: Vec<_> = s.properties().iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["api_key", "api_secret", "region"]);
    let key = &s.properties()[0];
    assert_eq!(key.kind, Kind::String);
    assert!(key.secret && key.required && key.default.is_none());
    let region = &s.properties()[2];
    assert_eq!(region.default, Some(json!("lon")));
    assert!(s.has_required());
    let js = s.json_schema();
    assert_eq!(js["type"], "object");
    assert_eq!(js["additionalProperties"], true);
    assert_eq!(js["required"], json!(["api_key", "api_secret", "region"]));
    assert!(js["properties"]["api_key"].get("secret").is_none());
    assert!(js["properties"]["api_key"].get("required").is_none());
}

#[test]
fn required_with_default_only_is_not_required() {
    let s = ConfigSchema::parse("region: {type: string, required: true, default: lon}").unwrap();
    assert!(!s.has_required());
    assert!(s.validate(&json!({})).is_ok());
}

#[test]
fn parses_nested_objects_and_arrays() {
    let s = nested();
    let names: Vec<_> = s.properties().iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "host",
            "port",
            "verbose",
            "level",
            "tags",
            "ratios",
            "auth",
            "instances"
        ],
        "file order"
    );
    let auth = s.property("auth").unwrap();
    assert_eq!(auth.kind, Kind::Object);
    assert_eq!(auth.properties.len(), 3);
    let auth_names: Vec<_> = auth.properties.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(auth_names, ["user", "password", "timeout"]);
    assert!(auth.properties[0].required);
    assert!(auth.properties[1].secret);
    let inst = s.property("instances").unwrap();
    let items = inst.items.as_ref().unwrap();
    assert_eq!(items.kind, Kind::Object);
    assert_eq!(items.properties[0].name, "alias");
    let level = s.property("level").unwrap();
    assert_eq!(level.choices.as_ref().unwrap().len(), 3);
    assert_eq!(
        s.property("host").unwrap().description.as_deref(),
        Some("Server host")
    );
    // required lifted recursively
    let js = s.json_schema();
    assert_eq!(js["properties"]["auth"]["required"], json!(["user"]));
    assert_eq!(
        js["properties"]["instances"]["items"]["required"],
        json!(["alias"])
    );
}

#[test]
fn invalid_schemas_are_named() {
    let e = ConfigSchema::parse("- a\n- b\n").unwrap_err();
    assert!(matches!(e, ConfigError::SchemaNotMapping { .. }), "{e}");
    assert!(e.to_string().contains("mapping"));

    let e = ConfigSchema::parse("port: 5\n").unwrap_err();
    assert!(matches!(e, ConfigError::PropertyNotMapping { .. }), "{e}");
    assert!(e.to_string().contains("`port`"), "{e}");

    let e = ConfigSchema::parse("port: {type: int}\n").unwrap_err();
    assert!(matches!(e, ConfigError::UnknownType { .. }), "{e}");
    assert!(
        e.to_string().contains("`port`") && e.to_string().contains("`int`"),
        "{e}"
    );

    let e = ConfigSchema::parse("auth:\n  type: object\n  properties:\n    user: {type: strng}\n")
        .unwrap_err();
    assert!(e.to_string().contains("auth.user"), "{e}");

    // A default that breaks its own property is a warning, not an error (st2 registers it).
    let s = ConfigSchema::parse("port: {type: integer, default: abc}\n").unwrap();
    let w = s.warnings();
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].path, "port");
    assert!(w[0].message.contains("integer"), "{}", w[0]);

    let s = ConfigSchema::parse("level: {type: string, enum: [a, b], default: c}\n").unwrap();
    assert_eq!(s.warnings().len(), 1, "{:?}", s.warnings());

    let e = ConfigSchema::parse("a: {type: string\n").unwrap_err();
    assert!(matches!(e, ConfigError::SchemaYaml { .. }), "{e}");

    let e = ConfigSchema::parse("a: {type: string, enum: x}\n").unwrap_err();
    assert!(e.to_string().contains("enum"), "{e}");

    // A template default is not checked against the type.
    ConfigSchema::parse("port: {type: integer, default: '{{ st2kv.system.port }}'}\n").unwrap();
}

#[test]
fn wrong_type_names_key_and_rule() {
    let s = nested();
    let problems = s
        .validate(&json!({"host": "h", "port": "abc"}))
        .unwrap_err();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].path, "port");
    let text = problems[0].to_string();
    assert!(text.starts_with("port: "), "{text}");
    assert!(text.contains("integer"), "{text}");
}

#[test]
fn missing_required_is_reported() {
    let s = ConfigSchema::parse(FIXTURE).unwrap();
    let problems = s.validate(&json!({"api_key": "k"})).unwrap_err();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].path, "api_secret");
    assert!(problems[0].message.contains("required"));
    // The defaulted `region` is satisfied by its default.
    s.validate(&json!({"api_key": "k", "api_secret": "s"}))
        .unwrap();
}

#[test]
fn enum_outside_choices() {
    let s = nested();
    let problems = s
        .validate(&json!({"host": "h", "level": "loud"}))
        .unwrap_err();
    assert_eq!(problems[0].path, "level");
    assert!(problems[0].message.contains("enum"), "{}", problems[0]);
}

#[test]
fn nested_paths_are_dotted() {
    let s = nested();
    let problems = s
        .validate(&json!({"host": "h", "instances": [{"alias": "a"}, {"alias": 5}]}))
        .unwrap_err();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].path, "instances.1.alias");
    let problems = s
        .validate(&json!({"host": "h", "instances": [{"port": 1}]}))
        .unwrap_err();
    assert_eq!(problems[0].path, "instances.0.alias");
    let problems = s.validate(&json!({"host": "h", "auth": {}})).unwrap_err();
    assert_eq!(problems[0].path, "auth.user");
}

#[test]
fn extra_keys_and_nulls_allowed() {
    let s = nested();
    s.validate(&json!({"host": "h", "something_else": [1, 2], "port": null}))
        .unwrap();
}

#[test]
fn templates_accepted_for_any_type() {
    let s = nested();
    s.validate(&json!({
        "host": "{{st2kv.user.host}}",
        "port": "{{ st2kv.system.port }}",
        "verbose": "{{ st2kv.system.verbose }}",
        "level": "{{ st2kv.system.level }}",
        "instances": [{"alias": "a", "port": "{{ st2kv.system.p }}"}]
    }))
    .unwrap();
    // ...but a plain string is still a type error
    assert!(s.validate(&json!({"host": "h", "port": "st2kv"})).is_err());
}

#[test]
fn decrypt_kv_on_secret_is_refused() {
    let s = ConfigSchema::parse(FIXTURE).unwrap();
    let problems = s
        .validate(&json!({"api_key": "{{ st2kv.system.k | decrypt_kv }}", "api_secret": "x"}))
        .unwrap_err();
    assert_eq!(problems[0].path, "api_key");
    assert!(problems[0].message.contains("decrypt_kv"));

    // Also when the decrypting template is the schema's default and the config leaves the
    // key out (st2's dummy_pack_22).
    let s = ConfigSchema::parse(include_str!("st2_fixtures/dummy_pack_22.yaml")).unwrap();
    let problems = s.validate(&json!({"plain_key": "any value"})).unwrap_err();
    assert_eq!(problems[0].path, "secret_with_decrypting_default");
    assert!(
        problems[0].message.contains("decrypt_kv"),
        "{}",
        problems[0]
    );
}

#[test]
fn non_mapping_config_is_a_problem() {
    let s = nested();
    assert!(s.validate(&json!([1])).is_err());
}

#[test]
fn defaults_filled_for_display() {
    let s = nested();
    let v = s.with_defaults(&json!({"host": "h", "verbose": true, "instances": [{"alias": "a"}]}));
    assert_eq!(v["port"], 8080);
    assert_eq!(v["verbose"], true);
    assert_eq!(v["level"], "info");
    assert_eq!(v["auth"]["timeout"], 30);
    // falsy default honoured
    let v = s.with_defaults(&json!({}));
    assert_eq!(v["verbose"], false);
}

#[test]
fn masks_nested_secrets() {
    let s = nested();
    let values = json!({
        "host": "h",
        "auth": {"user": "u", "password": "hunter2"},
        "instances": [{"alias": "a", "token": "t0k"}, {"alias": "b"}]
    });
    assert!(s.has_secret_values(&values));
    let m = s.mask_secrets(&values);
    assert_eq!(m["auth"]["password"], "********");
    assert_eq!(m["auth"]["user"], "u");
    assert_eq!(m["instances"][0]["token"], "********");
    assert!(m["instances"][1].get("token").is_none());
    assert!(!m.to_string().contains("hunter2") && !m.to_string().contains("t0k"));
    assert!(!s.has_secret_values(&json!({"host": "h", "auth": {"user": "u"}})));

    let f = ConfigSchema::parse(FIXTURE).unwrap();
    assert_eq!(
        f.mask_secrets(&json!({"api_key": "k", "region": "lon"})),
        json!({"api_key": "********", "region": "lon"})
    );
}

#[test]
fn set_value_typed_and_dotted() {
    let s = nested();
    let mut v = json!({});
    set_value(&s, &mut v, "host=example.com").unwrap();
    set_value(&s, &mut v, "port=9090").unwrap();
    set_value(&s, &mut v, "verbose=yes").unwrap();
    set_value(&s, &mut v, "tags=a, b,c").unwrap();
    set_value(&s, &mut v, "ratios=1.5,2").unwrap();
    set_value(&s, &mut v, "auth.user=bob").unwrap();
    set_value(&s, &mut v, "auth.timeout=5").unwrap();
    set_value(&s, &mut v, "instances.0.alias=prod").unwrap();
    set_value(&s, &mut v, "instances.0.port=22").unwrap();
    set_value(&s, &mut v, "instances.1.alias=dev").unwrap();
    set_value(&s, &mut v, "extra.deep=1").unwrap();
    set_value(&s, &mut v, "port={{ st2kv.system.port }}").unwrap();
    set_value(&s, &mut v, "url=http://x/?a=b").unwrap();
    assert_eq!(
        v,
        json!({
            "host": "example.com",
            "port": "{{ st2kv.system.port }}",
            "verbose": true,
            "tags": ["a", "b", "c"],
            "ratios": [1.5, 2],
            "auth": {"user": "bob", "timeout": 5},
            "instances": [{"alias": "prod", "port": 22}, {"alias": "dev"}],
            "extra": {"deep": "1"},
            "url": "http://x/?a=b"
        })
    );
    s.validate(&v).unwrap();
    set_value(&s, &mut v, "verbose=no").unwrap();
    assert_eq!(v["verbose"], false);
}

#[test]
fn set_value_errors() {
    let s = nested();
    let mut v = json!({"host": "h"});
    let e = set_value(&s, &mut v, "port=abc").unwrap_err();
    assert!(
        e.to_string().contains("`port`") && e.to_string().contains("integer"),
        "{e}"
    );
    let e = set_value(&s, &mut v, "verbose=maybe").unwrap_err();
    assert!(e.to_string().contains("boolean"), "{e}");
    assert!(set_value(&s, &mut v, "noequals").is_err());
    assert!(set_value(&s, &mut v, "a..b=1").is_err());
    let e = set_value(&s, &mut v, "instances.3.alias=x").unwrap_err();
    assert!(e.to_string().contains("instances.3"), "{e}");
    let e = set_value(&s, &mut v, "host.x=1").unwrap_err();
    assert!(e.to_string().contains("host"), "{e}");
    assert_eq!(v, json!({"host": "h"}));
}

#[test]
fn pack_names_checked() {
    assert!(stackpack_config::check_pack_name("my_pack1").is_ok());
    for bad in ["", "My", "a-b", "../x", "a/b", "a.b"] {
        assert!(stackpack_config::check_pack_name(bad).is_err(), "{bad}");
    }
}
