//! Pack configuration for stackpack: a pack's `config.schema.yaml` in StackStorm's dialect
//! (draft-4 validators with draft-3 style `required: true` inside each property, `secret: true`,
//! nested `properties`, `items`, `enum`, `default`) is parsed and checked against the rules
//! st2 applies before registering one ([`ConfigSchema::parse`]: not empty, word-character
//! attribute names, only the keys st2 allows, each of the right shape; a default that breaks
//! its own property is a warning, [`ConfigSchema::warnings`], as st2 registers such schemas), turned into a draft-7 JSON Schema with st2's rules (extra keys
//! allowed, `required: true` lifted into the parent's `required` list) and used to validate a
//! pack's values ([`ConfigSchema::validate`]), where `{{ st2kv... }}` template strings are accepted
//! for any type (st2 validated templates before rendering them, so one for a non-string key
//! failed). Values are set from `key.path=value` assignments ([`set_value`]) or asked for on
//! a terminal ([`prompt`]), shown with defaults filled and secrets masked, and stored as
//! `<configs_dir>/<pack>.yaml` ([`write_config`]): raw values, written atomically
//! (`stackpack_fs::write_atomic`), mode 0600 when they hold secrets.

mod meta;
mod prompt;

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use stackpack_core::yaml::{self, YamlError, YamlWriteError};

pub use meta::ATTRIBUTE_KEYS;
pub use prompt::prompt;

/// The mask st2 shows instead of a secret value.
pub const MASK: &str = "********";

/// Everything that can go wrong with a pack's configuration. Each message names the key path
/// (dotted, e.g. `instances.0.alias`) and the rule, and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config.schema.yaml is not valid YAML: {source}; fix the file's syntax")]
    SchemaYaml {
        #[source]
        source: Box<YamlError>,
    },
    #[error(
        "config.schema.yaml must be a mapping of attribute name to property schema, found {found}; \
         rewrite it as `name: {{type: string, ...}}` entries"
    )]
    SchemaNotMapping { found: String },
    #[error(
        "config.schema.yaml: property `{path}` must be a mapping (e.g. `{{type: string}}`), found {found}; fix its definition"
    )]
    PropertyNotMapping { path: String, found: String },
    #[error(
        "config.schema.yaml: property `{path}` has unknown type `{kind}`; use one of string, integer, number, boolean, array, object, null"
    )]
    UnknownType { path: String, kind: String },
    #[error("config.schema.yaml: property `{path}`: `{keyword}` {rule}; fix the schema")]
    BadKeyword {
        path: String,
        keyword: String,
        rule: String,
    },
    #[error(
        "the config schema is empty and invalid: st2 refuses to register it; declare the \
         pack's config attributes (`name: {{type: string, ...}}`) or delete the file"
    )]
    EmptySchema,
    #[error(
        "the config schema breaks st2's rules for config schemas, so st2 refuses to register it:\n{}\nfix these keys in config.schema.yaml",
        join_problems(.problems)
    )]
    SchemaRules { problems: Vec<ConfigProblem> },
    #[error("config.schema.yaml is not a valid JSON schema: {message}; fix the schema")]
    InvalidSchema { message: String },
    #[error("config for pack \"{pack}\" is invalid:\n{}\nfix these values (`--set key=value` or edit the file) and try again", join_problems(.problems))]
    Invalid {
        pack: String,
        problems: Vec<ConfigProblem>,
    },
    #[error("invalid pack name \"{pack}\": a pack name must match ^[a-z0-9_]+$")]
    BadPackName { pack: String },
    #[error(
        "invalid assignment \"{assignment}\": {reason}; write it as key.path=value (e.g. instances.0.alias=prod)"
    )]
    BadAssignment { assignment: String, reason: String },
    #[error("`{path}`: \"{value}\" is not a valid {expected}; give {hint}")]
    BadValue {
        path: String,
        value: String,
        expected: String,
        hint: String,
    },
    #[error("`{path}`: {reason}")]
    PathConflict { path: String, reason: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not valid YAML: {source}; fix or remove the file")]
    ConfigYaml {
        path: PathBuf,
        #[source]
        source: Box<YamlError>,
    },
    #[error(
        "{path} must hold a mapping of config keys to values, found {found}; fix or remove the file"
    )]
    ConfigNotMapping { path: PathBuf, found: String },
    #[error("cannot serialise the config as YAML: {source}")]
    Serialize {
        #[source]
        source: YamlWriteError,
    },
    #[error(
        "interactive configuration needs a terminal, but standard input is not a TTY; use --set key=value or --from-file <file.yaml> instead"
    )]
    NotATerminal,
    #[error("configuration dialog interrupted: {message}")]
    Dialog { message: String },
}

fn join_problems(problems: &[ConfigProblem]) -> String {
    problems
        .iter()
        .map(|p| format!("  {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// One validation failure: the dotted key path (`instances.0.alias`; empty for the whole
/// config) and what rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub path: String,
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() {
            "(config)"
        } else {
            &self.path
        };
        write!(f, "{path}: {}", self.message)
    }
}

/// The type of a property (`type:` in the schema). `Any` stands for a missing `type`, a list
/// of types, or `null`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    Integer,
    Number,
    Boolean,
    Array,
    Object,
    Any,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Kind {
    /// The schema's name for the type (`any` for [`Kind::Any`]).
    pub fn name(self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::Integer => "integer",
            Kind::Number => "number",
            Kind::Boolean => "boolean",
            Kind::Array => "array",
            Kind::Object => "object",
            Kind::Any => "any",
        }
    }
}

/// One property of the schema (top-level attribute, nested property or array `items`).
#[derive(Debug, Clone, PartialEq)]
pub struct Property {
    pub name: String,
    pub kind: Kind,
    pub description: Option<String>,
    pub default: Option<Value>,
    pub required: bool,
    pub secret: bool,
    pub choices: Option<Vec<Value>>,
    pub items: Option<Box<Property>>,
    pub properties: Vec<Property>,
}

impl Property {
    fn child(&self, name: &str) -> Option<&Property> {
        self.properties.iter().find(|p| p.name == name)
    }
}

/// A parsed config.schema.yaml (top-level map attribute -> property schema).
#[derive(Debug, Clone)]
pub struct ConfigSchema {
    properties: Vec<Property>,
    json_schema: Value,
    warnings: Vec<ConfigProblem>,
}

/// Whether a string is a Jinja expression (`{{ st2kv.system.x }}`, `{% ... %}`), rendered by
/// st2 at run time: accepted for any type.
pub fn is_template(s: &str) -> bool {
    (s.contains("{{") && s.contains("}}")) || (s.contains("{%") && s.contains("%}"))
}

fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(_) => "a boolean".into(),
        Value::Number(_) => "a number".into(),
        Value::String(_) => "a string".into(),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a mapping".into(),
    }
}

fn join_path(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_string()
    } else {
        format!("{parent}.{child}")
    }
}

fn parse_property(name: &str, path: &str, spec: &Value) -> Result<Property, ConfigError> {
    let map = match spec {
        Value::Object(m) => m,
        // `key: {}` means "any type"; `key:` (null) is refused, as st2 does.
        other => {
            return Err(ConfigError::PropertyNotMapping {
                path: path.into(),
                found: describe(other),
            });
        }
    };
    let bad = |keyword: &str, rule: &str| ConfigError::BadKeyword {
        path: path.into(),
        keyword: keyword.into(),
        rule: rule.into(),
    };
    let kind = match map.get("type") {
        None | Some(Value::Null) => Kind::Any,
        Some(Value::String(t)) => match t.as_str() {
            "string" => Kind::String,
            "integer" => Kind::Integer,
            "number" => Kind::Number,
            "boolean" => Kind::Boolean,
            "array" => Kind::Array,
            "object" => Kind::Object,
            "null" => Kind::Any,
            other => {
                return Err(ConfigError::UnknownType {
                    path: path.into(),
                    kind: other.into(),
                });
            }
        },
        Some(Value::Array(types)) => {
            for t in types {
                let ok = matches!(
                    t.as_str(),
                    Some("string" | "integer" | "number" | "boolean" | "array" | "object" | "null")
                );
                if !ok {
                    return Err(ConfigError::UnknownType {
                        path: path.into(),
                        kind: t.to_string(),
                    });
                }
            }
            Kind::Any
        }
        Some(other) => {
            return Err(ConfigError::UnknownType {
                path: path.into(),
                kind: other.to_string(),
            });
        }
    };
    let description = match map.get("description") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(bad("description", "must be a string")),
    };
    let required = match map.get("required") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(bad("required", "must be true or false")),
    };
    let secret = match map.get("secret") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(bad("secret", "must be true or false")),
    };
    let choices = match map.get("enum") {
        None => None,
        Some(Value::Array(a)) if !a.is_empty() => Some(a.clone()),
        Some(_) => return Err(bad("enum", "must be a non-empty list of values")),
    };
    let items = match map.get("items") {
        None => None,
        Some(v @ Value::Object(_)) => {
            Some(Box::new(parse_property("items", &format!("{path}[]"), v)?))
        }
        // Positional `items` lists: validated by the JSON schema, not modelled here.
        Some(Value::Array(list)) => {
            for (i, v) in list.iter().enumerate() {
                parse_property("items", &format!("{path}.items.{i}"), v)?;
            }
            None
        }
        Some(_) => return Err(bad("items", "must be a mapping (the schema of each item)")),
    };
    let properties = match map.get("properties") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(props)) => props
            .iter()
            .map(|(k, v)| parse_property(k, &join_path(path, k), v))
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(bad(
                "properties",
                "must be a mapping of property name to schema",
            ));
        }
    };
    for keyword in [
        "patternProperties",
        "additionalProperties",
        "additionalItems",
    ] {
        match map.get(keyword) {
            None | Some(Value::Bool(_)) => {}
            Some(Value::Object(m)) if keyword == "patternProperties" => {
                for (k, v) in m {
                    parse_property(k, &join_path(path, k), v)?;
                }
            }
            Some(v @ Value::Object(_)) => {
                parse_property(keyword, &join_path(path, keyword), v)?;
            }
            Some(_) => return Err(bad(keyword, "must be a mapping or a boolean")),
        }
    }
    Ok(Property {
        name: name.into(),
        kind,
        description,
        default: map.get("default").cloned(),
        required,
        secret,
        choices,
        items,
        properties,
    })
}

const ST2_ONLY: [&str; 4] = ["required", "secret", "immutable", "position"];

/// One st2 property schema → JSON Schema: st2-only keywords stripped, `required: true` of the
/// children lifted into this node's `required` list, recursing into every sub-schema.
fn convert_node(spec: &Value) -> Value {
    let Value::Object(map) = spec else {
        // `key:` with no spec accepts anything.
        return Value::Object(Map::new());
    };
    let mut out = Map::new();
    for (k, v) in map {
        if ST2_ONLY.contains(&k.as_str()) {
            continue;
        }
        let v = match (k.as_str(), v) {
            ("properties" | "patternProperties", Value::Object(children)) => Value::Object(
                children
                    .iter()
                    .map(|(name, s)| (name.clone(), convert_node(s)))
                    .collect(),
            ),
            ("items", Value::Array(list)) => Value::Array(list.iter().map(convert_node).collect()),
            ("items" | "additionalProperties" | "additionalItems" | "not", Value::Object(_)) => {
                convert_node(v)
            }
            ("anyOf" | "allOf" | "oneOf", Value::Array(list)) => {
                Value::Array(list.iter().map(convert_node).collect())
            }
            _ => v.clone(),
        };
        out.insert(k.clone(), v);
    }
    let mut required: Vec<Value> = match map.get("required") {
        Some(Value::Array(list)) => list.clone(),
        _ => Vec::new(),
    };
    if let Some(Value::Object(children)) = map.get("properties") {
        for (name, s) in children {
            if s.get("required") == Some(&Value::Bool(true)) {
                let name = Value::String(name.clone());
                if !required.contains(&name) {
                    required.push(name);
                }
            }
        }
    }
    if !required.is_empty() {
        out.insert("required".into(), Value::Array(required));
    }
    Value::Object(out)
}

fn compile(schema: &Value) -> Result<jsonschema::Validator, String> {
    jsonschema::draft7::new(schema).map_err(|e| e.to_string())
}

/// `/instances/0/alias` → `instances.0.alias`.
fn pointer_to_dotted(pointer: &str) -> String {
    pointer
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect::<Vec<_>>()
        .join(".")
}

fn run_validator(validator: &jsonschema::Validator, value: &Value) -> Vec<ConfigProblem> {
    validator
        .iter_errors(value)
        .map(|e| {
            let mut path = pointer_to_dotted(&e.instance_path().to_string());
            let message = match e.kind() {
                jsonschema::error::ValidationErrorKind::Required { property } => {
                    let name = property
                        .as_str()
                        .map_or_else(|| property.to_string(), String::from);
                    path = join_path(&path, &name);
                    format!("required key `{name}` is missing (rule: required)")
                }
                _ => format!("{e} (rule: {})", e.kind().keyword()),
            };
            ConfigProblem { path, message }
        })
        .collect()
}

impl ConfigSchema {
    /// Parses and checks the schema itself with st2's rules: an empty document, one that is
    /// not a mapping, an attribute name that is not word characters, a property that is not
    /// a mapping, an unknown `type`, a key st2 does not allow (`secert: true`) or a value of
    /// the wrong shape → error naming the key. A `default` that violates its own property
    /// is not an error (st2 registers such schemas): it is listed in
    /// [`ConfigSchema::warnings`], and refused by [`ConfigSchema::validate`] only when a
    /// config leaves that key out so that the default is used.
    pub fn parse(yaml_text: &str) -> Result<ConfigSchema, ConfigError> {
        let raw: Value =
            yaml::from_str(yaml_text).map_err(|source| ConfigError::SchemaYaml { source })?;
        if meta::is_empty(&raw) {
            return Err(ConfigError::EmptySchema);
        }
        let map = match raw {
            Value::Object(m) => m,
            other => {
                return Err(ConfigError::SchemaNotMapping {
                    found: describe(&other),
                });
            }
        };
        let mut properties = map
            .iter()
            .map(|(k, v)| parse_property(k, k, v))
            .collect::<Result<Vec<_>, _>>()?;
        meta::check_document(&Value::Object(map.clone()))?;
        // serde_json sorts keys: restore the file's order from the YAML mapping.
        if let Ok(order) = yaml::from_str::<KeyOrder>(yaml_text) {
            file_order(&order, &mut properties);
        }
        let top = Value::Object(Map::from_iter([
            ("type".to_string(), Value::String("object".into())),
            ("properties".to_string(), Value::Object(map.clone())),
            ("additionalProperties".to_string(), Value::Bool(true)),
        ]));
        let json_schema = convert_node(&top);
        compile(&json_schema).map_err(|message| ConfigError::InvalidSchema { message })?;
        let mut warnings = Vec::new();
        for (name, spec) in &map {
            check_defaults(name, spec, &mut warnings);
        }
        Ok(ConfigSchema {
            properties,
            json_schema,
            warnings,
        })
    }

    /// Defaults that violate their own property (`regions: {type: array, default:
    /// us-east-1}`), one warning each with the key path: st2 registers such a schema, and
    /// the default is refused only when a config leaves its key out.
    pub fn warnings(&self) -> &[ConfigProblem] {
        &self.warnings
    }

    /// Whether some top-level property is `required: true` without a `default`: the pack
    /// cannot run until it is configured.
    pub fn has_required(&self) -> bool {
        self.properties
            .iter()
            .any(|p| p.required && p.default.is_none())
    }

    /// The top-level properties, in file order.
    pub fn properties(&self) -> &[Property] {
        &self.properties
    }

    /// The top-level property `name`.
    pub fn property(&self, name: &str) -> Option<&Property> {
        self.properties.iter().find(|p| p.name == name)
    }

    /// The schema as a draft-7 JSON Schema document, with st2's rules: type object,
    /// `additionalProperties: true` at the top, `required: true` inside properties turned into
    /// the parent's `required` list (recursively), `secret`/`immutable`/`position` stripped.
    pub fn json_schema(&self) -> &Value {
        &self.json_schema
    }

    /// Validates raw config values like st2: defaults applied first, `null` allowed for
    /// optional keys, extra keys allowed, and template strings (`{{ st2kv.system.x }}`) accepted
    /// for any type. A `decrypt_kv` template on a `secret: true` key is refused, as in st2.
    pub fn validate(&self, values: &Value) -> Result<(), Vec<ConfigProblem>> {
        let mut problems = Vec::new();
        let Value::Object(_) = values else {
            return Err(vec![ConfigProblem {
                path: String::new(),
                message: format!(
                    "the config must be a mapping of keys to values, found {} (rule: type object)",
                    describe(values)
                ),
            }]);
        };
        let mut prepared = values.clone();
        let mut seen = Seen::default();
        prepare(
            &self.properties,
            &mut prepared,
            "",
            &mut seen,
            &mut problems,
        );
        // Template strings (given or filled in from defaults) are rendered by st2 at run time.
        let mut templates = Vec::new();
        collect_templates(&prepared, "", &mut templates);
        let validator = match compile(&self.json_schema) {
            Ok(v) => v,
            Err(message) => {
                return Err(vec![ConfigProblem {
                    path: String::new(),
                    message,
                }]);
            }
        };
        problems.extend(
            run_validator(&validator, &prepared)
                .into_iter()
                .filter(|p| !templates.contains(&p.path))
                .filter(|p| {
                    !(seen.nulled.contains(&p.path) && p.message.starts_with("required key"))
                })
                .map(|p| seen.explain_default(p)),
        );
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// Like [`ConfigSchema::validate`] with the problems in one [`ConfigError::Invalid`].
    pub fn check(&self, pack: &str, values: &Value) -> Result<(), ConfigError> {
        self.validate(values)
            .map_err(|problems| ConfigError::Invalid {
                pack: pack.into(),
                problems,
            })
    }

    /// The values with schema defaults filled in, like st2 when it resolves a pack's config at
    /// run time: falsy defaults honoured, explicit values kept, missing nested objects created.
    /// For display only: config files store raw values.
    pub fn with_defaults(&self, values: &Value) -> Value {
        let mut out = values.clone();
        fill_defaults(&self.properties, &mut out, true, "", &mut Vec::new());
        out
    }

    /// The values with every `secret: true` value (nested ones too) replaced by `********`.
    pub fn mask_secrets(&self, values: &Value) -> Value {
        let mut out = values.clone();
        walk_secrets(&self.properties, &mut out, &mut |v| {
            *v = Value::String(MASK.into());
        });
        out
    }

    /// Whether the values hold a (non-null) value for some `secret: true` property.
    pub fn has_secret_values(&self, values: &Value) -> bool {
        let mut copy = values.clone();
        let mut found = false;
        walk_secrets(&self.properties, &mut copy, &mut |_| found = true);
        found
    }
}

/// The keys of a YAML document's mappings in file order, with what each key holds; any
/// other value is `Leaf`. serde_json's maps sort their keys, so the order is read apart.
#[derive(Debug, Default)]
enum KeyOrder {
    Map(Vec<(String, KeyOrder)>),
    #[default]
    Leaf,
}

impl KeyOrder {
    fn get(&self, key: &str) -> Option<&KeyOrder> {
        match self {
            KeyOrder::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            KeyOrder::Leaf => None,
        }
    }
}

impl<'de> serde::Deserialize<'de> for KeyOrder {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = KeyOrder;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<KeyOrder, A::Error> {
                let mut entries = Vec::new();
                while let Some((key, value)) = map.next_entry::<Value, KeyOrder>()? {
                    let key = match key {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    entries.push((key, value));
                }
                Ok(KeyOrder::Map(entries))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<KeyOrder, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(KeyOrder::Leaf)
            }
            fn visit_bool<E>(self, _: bool) -> Result<KeyOrder, E> {
                Ok(KeyOrder::Leaf)
            }
            fn visit_i64<E>(self, _: i64) -> Result<KeyOrder, E> {
                Ok(KeyOrder::Leaf)
            }
            fn visit_u64<E>(self, _: u64) -> Result<KeyOrder, E> {
                Ok(KeyOrder::Leaf)
            }
            fn visit_i128<E>(self, _: i128) -> Result<KeyOrder, E> {
                Ok(KeyOrder::Leaf)
            }
            fn visit_u128<E>(self, _: u128) -> Result<KeyOrder, E> {
                Ok(KeyOrder::Leaf)
            }
            fn visit_f64<E>(self, _: f64) -> Result<KeyOrder, E> {
                Ok(KeyOrder::Leaf)
            }
            fn visit_str<E>(self, _: &str) -> Result<KeyOrder, E> {
                Ok(KeyOrder::Leaf)
            }
            fn visit_bytes<E>(self, _: &[u8]) -> Result<KeyOrder, E> {
                Ok(KeyOrder::Leaf)
            }
            fn visit_unit<E>(self) -> Result<KeyOrder, E> {
                Ok(KeyOrder::Leaf)
            }
            fn visit_none<E>(self) -> Result<KeyOrder, E> {
                Ok(KeyOrder::Leaf)
            }
            fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<KeyOrder, D::Error> {
                <KeyOrder as serde::Deserialize>::deserialize(d)
            }
        }
        d.deserialize_any(Visit)
    }
}

/// Sorts `props` (and their nested properties) in the order of the YAML mapping `node`.
fn file_order(node: &KeyOrder, props: &mut [Property]) {
    let KeyOrder::Map(map) = node else {
        return;
    };
    props.sort_by_key(|p| {
        map.iter()
            .position(|(k, _)| *k == p.name)
            .unwrap_or(usize::MAX)
    });
    for p in props.iter_mut() {
        let Some(spec) = node.get(p.name.as_str()) else {
            continue;
        };
        if let Some(children) = spec.get("properties") {
            file_order(children, &mut p.properties);
        }
        if let (Some(items), Some(item_spec)) = (p.items.as_deref_mut(), spec.get("items"))
            && let Some(children) = item_spec.get("properties")
        {
            file_order(children, &mut items.properties);
        }
    }
}

/// Records a warning for each default (nested ones too) that violates its own property. A
/// template default is rendered at run time and a `null` default is allowed by st2 whatever
/// the type, so neither is checked.
fn check_defaults(path: &str, spec: &Value, warnings: &mut Vec<ConfigProblem>) {
    let Value::Object(map) = spec else {
        return;
    };
    if let Some(default) = map.get("default") {
        let skip = default.is_null() || matches!(default, Value::String(s) if is_template(s));
        // The whole schema compiled, so each of its nodes does.
        if !skip && let Ok(validator) = compile(&convert_node(spec)) {
            let problems = run_validator(&validator, default);
            if let Some(first) = problems.first() {
                let why = if first.path.is_empty() {
                    first.message.clone()
                } else {
                    first.to_string()
                };
                warnings.push(ConfigProblem {
                    path: path.into(),
                    message: format!(
                        "the schema's default {default} breaks the key's own rules ({why}); \
                         st2 registers the schema anyway, so the default is used only when a \
                         config leaves `{path}` out, and is then refused: fix the default in \
                         config.schema.yaml, or always set `{path}` in the config"
                    ),
                });
            }
        }
    }
    if let Some(Value::Object(children)) = map.get("properties") {
        for (k, v) in children {
            check_defaults(&join_path(path, k), v, warnings);
        }
    }
    if let Some(items @ Value::Object(_)) = map.get("items") {
        check_defaults(&format!("{path}[]"), items, warnings);
    }
}

/// What [`prepare`] did to the values: defaults it filled in (path, default), and
/// required keys whose `null` it accepted because their default is `null`.
#[derive(Default)]
struct Seen {
    defaults: Vec<(String, Value)>,
    nulled: Vec<String>,
}

impl Seen {
    /// A problem found in a default the config left out says so, and what to do.
    fn explain_default(&self, p: ConfigProblem) -> ConfigProblem {
        let filled = self
            .defaults
            .iter()
            .find(|(at, _)| p.path == *at || p.path.starts_with(&format!("{at}.")));
        let Some((at, default)) = filled else {
            return p;
        };
        ConfigProblem {
            message: format!(
                "{}; the config has no value for `{at}`, so the schema's default {default} \
                 was used: set `{at}` in the config (and fix the default in config.schema.yaml)",
                p.message
            ),
            path: p.path,
        }
    }
}

/// Prepares a copy of the values for the JSON-schema validator: fills defaults (not creating
/// missing objects) and drops `null` for optional keys and for keys whose default is `null`
/// (st2 accepts `null` there), recording both in `seen`.
fn prepare(
    props: &[Property],
    value: &mut Value,
    path: &str,
    seen: &mut Seen,
    problems: &mut Vec<ConfigProblem>,
) {
    fill_defaults(props, value, false, path, &mut seen.defaults);
    let Value::Object(map) = value else {
        return;
    };
    for p in props {
        let child_path = join_path(path, &p.name);
        if map.get(&p.name) == Some(&Value::Null) && (!p.required || p.default == Some(Value::Null))
        {
            map.remove(&p.name);
            if p.required {
                seen.nulled.push(child_path);
            }
            continue;
        }
        let Some(v) = map.get_mut(&p.name) else {
            continue;
        };
        if p.secret
            && let Value::String(s) = v
            && is_template(s)
            && s.contains("decrypt_kv")
        {
            problems.push(ConfigProblem {
                path: child_path.clone(),
                message: "values of \"secret: true\" keys are decrypted automatically: the \
                          \"decrypt_kv\" filter is not allowed here (rule: secret); remove it"
                    .into(),
            });
        }
        match v {
            Value::Object(_) if !p.properties.is_empty() => {
                prepare(&p.properties, v, &child_path, seen, problems);
            }
            Value::Array(list) => {
                if let Some(items) = &p.items
                    && !items.properties.is_empty()
                {
                    for (i, item) in list.iter_mut().enumerate() {
                        prepare(
                            &items.properties,
                            item,
                            &format!("{child_path}.{i}"),
                            seen,
                            problems,
                        );
                    }
                }
            }
            _ => {}
        }
    }
}

fn collect_templates(value: &Value, path: &str, out: &mut Vec<String>) {
    match value {
        Value::String(s) if is_template(s) => out.push(path.to_string()),
        Value::Object(map) => {
            for (k, v) in map {
                collect_templates(v, &join_path(path, k), out);
            }
        }
        Value::Array(list) => {
            for (i, v) in list.iter().enumerate() {
                collect_templates(v, &join_path(path, &i.to_string()), out);
            }
        }
        _ => {}
    }
}

/// Fills each missing key that has a default, recording (path, default) in `applied`.
fn fill_defaults(
    props: &[Property],
    value: &mut Value,
    create_objects: bool,
    path: &str,
    applied: &mut Vec<(String, Value)>,
) {
    let Value::Object(map) = value else {
        return;
    };
    for p in props {
        let child_path = join_path(path, &p.name);
        if !map.contains_key(&p.name)
            && let Some(d) = &p.default
        {
            map.insert(p.name.clone(), d.clone());
            applied.push((child_path.clone(), d.clone()));
        }
        if p.kind == Kind::Object && !p.properties.is_empty() {
            if create_objects && !map.contains_key(&p.name) {
                map.insert(p.name.clone(), Value::Object(Map::new()));
            }
            if let Some(child) = map.get_mut(&p.name) {
                fill_defaults(&p.properties, child, create_objects, &child_path, applied);
            }
        }
        if let (Some(items), Some(Value::Array(list))) = (&p.items, map.get_mut(&p.name))
            && !items.properties.is_empty()
        {
            for (i, item) in list.iter_mut().enumerate() {
                let item_path = format!("{child_path}.{i}");
                fill_defaults(&items.properties, item, create_objects, &item_path, applied);
            }
        }
    }
}

fn walk_secrets(props: &[Property], value: &mut Value, f: &mut dyn FnMut(&mut Value)) {
    let Value::Object(map) = value else {
        return;
    };
    for p in props {
        let Some(v) = map.get_mut(&p.name) else {
            continue;
        };
        if p.secret {
            if !v.is_null() {
                f(v);
            }
            continue;
        }
        walk_secret_value(p, v, f);
    }
}

fn walk_secret_value(p: &Property, v: &mut Value, f: &mut dyn FnMut(&mut Value)) {
    match v {
        Value::Object(_) => walk_secrets(&p.properties, v, f),
        Value::Array(list) => {
            if let Some(items) = &p.items {
                for item in list {
                    if items.secret {
                        if !item.is_null() {
                            f(item);
                        }
                    } else {
                        walk_secret_value(items, item, f);
                    }
                }
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------
// --set key.path=value

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "on" | "1" => Some(true),
        "false" | "no" | "n" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// Parses text typed by a user (`--set` or a prompt) as a value of `kind`; arrays of scalars
/// are comma-separated. Template strings stay strings whatever the kind.
pub(crate) fn parse_typed(
    path: &str,
    kind: Kind,
    items: Option<&Property>,
    text: &str,
) -> Result<Value, ConfigError> {
    let bad = |expected: &str, hint: &str| ConfigError::BadValue {
        path: path.into(),
        value: text.into(),
        expected: expected.into(),
        hint: hint.into(),
    };
    if is_template(text) {
        return Ok(Value::String(text.into()));
    }
    let trimmed = text.trim();
    match kind {
        Kind::String => Ok(Value::String(text.into())),
        Kind::Boolean => parse_bool(trimmed)
            .map(Value::Bool)
            .ok_or_else(|| bad("boolean", "true/false or yes/no")),
        Kind::Integer => trimmed
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| bad("integer", "a whole number such as 8080")),
        Kind::Number => {
            if let Ok(i) = trimmed.parse::<i64>() {
                return Ok(Value::from(i));
            }
            trimmed
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| bad("number", "a number such as 1.5"))
        }
        Kind::Array => {
            if trimmed.starts_with('[') {
                return serde_json::from_str::<Value>(trimmed)
                    .ok()
                    .filter(Value::is_array)
                    .ok_or_else(|| bad("list", "a JSON list or comma-separated values"));
            }
            if trimmed.is_empty() {
                return Ok(Value::Array(Vec::new()));
            }
            let (item_kind, item_items) = match items {
                Some(p) => (p.kind, p.items.as_deref()),
                None => (Kind::String, None),
            };
            if matches!(item_kind, Kind::Object | Kind::Array) {
                return Err(bad(
                    "list of objects",
                    "a JSON list, or set each item's keys with key.N.field=value",
                ));
            }
            let item_kind = if item_kind == Kind::Any {
                Kind::String
            } else {
                item_kind
            };
            trimmed
                .split(',')
                .enumerate()
                .map(|(i, part)| {
                    parse_typed(&format!("{path}.{i}"), item_kind, item_items, part.trim())
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array)
        }
        Kind::Object => serde_json::from_str::<Value>(trimmed)
            .ok()
            .filter(Value::is_object)
            .ok_or_else(|| {
                bad(
                    "object",
                    "a JSON object, or set its keys one by one with key.field=value",
                )
            }),
        Kind::Any => {
            if (trimmed.starts_with('[') || trimmed.starts_with('{'))
                && let Ok(v) = serde_json::from_str::<Value>(trimmed)
            {
                return Ok(v);
            }
            Ok(Value::String(text.into()))
        }
    }
}

/// Applies `key.path=value` (dotted; `a.0.b` indexes arrays) to values, parsing the value by
/// the schema's type at that path (true/false/yes/no for booleans, integers, numbers,
/// comma-separated lists for arrays of scalars, else string); unknown paths are set as
/// strings (extra keys are allowed in st2). An index equal to an array's length appends.
pub fn set_value(
    schema: &ConfigSchema,
    values: &mut Value,
    assignment: &str,
) -> Result<(), ConfigError> {
    let bad = |reason: &str| ConfigError::BadAssignment {
        assignment: assignment.into(),
        reason: reason.into(),
    };
    let Some((key, text)) = assignment.split_once('=') else {
        return Err(bad("no `=`"));
    };
    let key = key.trim();
    if key.is_empty() {
        return Err(bad("empty key"));
    }
    let segments: Vec<&str> = key.split('.').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Err(bad("empty segment in the key path"));
    }
    // Work on a copy: `values` is untouched on any error.
    let mut work = if values.is_null() {
        Value::Object(Map::new())
    } else {
        values.clone()
    };
    // Resolve the property at each step.
    let mut props: Vec<Option<&Property>> = Vec::with_capacity(segments.len());
    let mut current: Option<&Property> = None;
    for (i, seg) in segments.iter().enumerate() {
        let next = if i == 0 {
            schema.property(seg)
        } else {
            match current {
                Some(p)
                    if p.kind == Kind::Array
                        || seg.parse::<usize>().is_ok() && p.items.is_some() =>
                {
                    p.items.as_deref()
                }
                Some(p) => p.child(seg),
                None => None,
            }
        };
        props.push(next);
        current = next;
    }
    let last = segments.len() - 1;
    let leaf = props[last];
    let parsed = match leaf {
        Some(p) => parse_typed(key, p.kind, p.items.as_deref(), text)?,
        None => Value::String(text.into()),
    };

    let mut node = &mut work;
    for (i, seg) in segments.iter().enumerate() {
        let here = segments[..=i].join(".");
        let is_last = i == last;
        // What container the next segment needs.
        let wants_array = !is_last
            && match props[i] {
                Some(p) => {
                    p.kind == Kind::Array
                        || (p.kind == Kind::Any && segments[i + 1].parse::<usize>().is_ok())
                }
                None => segments[i + 1].parse::<usize>().is_ok(),
            };
        let slot: &mut Value = match node {
            Value::Object(map) => map.entry(seg.to_string()).or_insert(Value::Null),
            Value::Array(list) => {
                let idx: usize = seg.parse().map_err(|_| ConfigError::PathConflict {
                    path: here.clone(),
                    reason: format!("`{seg}` is not an index into a list; use a number"),
                })?;
                if idx > list.len() {
                    return Err(ConfigError::PathConflict {
                        path: here,
                        reason: format!(
                            "index {idx} is past the end of the list ({} items); use {} to append",
                            list.len(),
                            list.len()
                        ),
                    });
                }
                if idx == list.len() {
                    list.push(Value::Null);
                }
                &mut list[idx]
            }
            other => {
                return Err(ConfigError::PathConflict {
                    path: segments[..i].join("."),
                    reason: format!("holds {}, which has no keys to set", describe(other)),
                });
            }
        };
        if is_last {
            *slot = parsed;
            break;
        }
        if slot.is_null() {
            *slot = if wants_array {
                Value::Array(Vec::new())
            } else {
                Value::Object(Map::new())
            };
        }
        node = slot;
    }
    *values = work;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Files

/// Checks a pack name used in a file path: `^[a-z0-9_]+$`.
pub fn check_pack_name(pack: &str) -> Result<(), ConfigError> {
    let ok = !pack.is_empty()
        && pack
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ConfigError::BadPackName { pack: pack.into() })
    }
}

/// `<configs_dir>/<pack>.yaml`.
pub fn config_path(configs_dir: &Path, pack: &str) -> Result<PathBuf, ConfigError> {
    check_pack_name(pack)?;
    Ok(configs_dir.join(format!("{pack}.yaml")))
}

/// Reads `<configs_dir>/<pack>.yaml`: `None` when there is no such file, `{}` for an empty one.
pub fn read_config(configs_dir: &Path, pack: &str) -> Result<Option<Value>, ConfigError> {
    let path = config_path(configs_dir, pack)?;
    let text = match stackpack_fs::read_to_string_limited(&path, yaml::MAX_FILE_BYTES) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(ConfigError::Io { path, source }),
    };
    let value: Value = yaml::from_str(&text).map_err(|source| ConfigError::ConfigYaml {
        path: path.clone(),
        source,
    })?;
    match value {
        Value::Null => Ok(Some(Value::Object(Map::new()))),
        v @ Value::Object(_) => Ok(Some(v)),
        other => Err(ConfigError::ConfigNotMapping {
            path,
            found: describe(&other),
        }),
    }
}

/// Writes `<configs_dir>/<pack>.yaml` atomically: a temporary file in the same directory,
/// synced, then renamed over the old one, the directory synced (`stackpack_fs::write_atomic`);
/// `configs_dir` is created if missing. Mode 0600 when `secret` (the values hold secrets), 0644 otherwise.
/// On any failure the old file is untouched and the temporary file removed.
pub fn write_config(
    configs_dir: &Path,
    pack: &str,
    values: &Value,
    secret: bool,
) -> Result<PathBuf, ConfigError> {
    let path = config_path(configs_dir, pack)?;
    let io = |source: std::io::Error| ConfigError::Io {
        path: path.clone(),
        source,
    };
    let text = yaml::to_string(values).map_err(|source| ConfigError::Serialize { source })?;
    std::fs::create_dir_all(configs_dir).map_err(|source| ConfigError::Io {
        path: configs_dir.to_path_buf(),
        source,
    })?;
    let mode = if secret { 0o600 } else { 0o644 };
    stackpack_fs::write_atomic(&path, text.as_bytes(), stackpack_fs::Mode::Exact(mode))
        .map_err(io)?;
    Ok(path)
}
