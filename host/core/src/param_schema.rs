//! StackStorm's meta-schema for a parameter definition: the rules an action parameter
//! and a top-level attribute of `config.schema.yaml` must both follow. It is draft-4 JSON
//! Schema with st2's additions (`required: true|false`, `secret`, `position`,
//! `immutable`), one `type` name per parameter, and nested schemas (`properties`,
//! `items`, `allOf`, ...) that may also use `format` and a list of types. Unknown keys
//! are refused (`additionalProperties: false`), so a typo such as `secert` is an error
//! rather than a silently dropped flag; [`suggest`] names the key that was meant.
//!
//! The schema is returned as a value; each caller compiles it with its JSON Schema
//! validator.

use serde_json::{Map, Value, json};

/// The JSON types a parameter may declare.
pub const PARAM_TYPES: [&str; 7] = [
    "array", "boolean", "integer", "null", "number", "object", "string",
];

/// The keys of a parameter definition (the top level of each entry of an action's
/// `parameters`, or of each attribute of a config schema).
pub const PARAM_KEYS: [&str; 35] = [
    "id",
    "$schema",
    "title",
    "description",
    "default",
    "multipleOf",
    "maximum",
    "exclusiveMaximum",
    "minimum",
    "exclusiveMinimum",
    "maxLength",
    "minLength",
    "pattern",
    "additionalItems",
    "items",
    "maxItems",
    "minItems",
    "uniqueItems",
    "maxProperties",
    "minProperties",
    "required",
    "secret",
    "additionalProperties",
    "definitions",
    "properties",
    "patternProperties",
    "dependencies",
    "enum",
    "type",
    "position",
    "immutable",
    "allOf",
    "anyOf",
    "oneOf",
    "not",
];

/// The one key a nested schema may use beyond [`PARAM_KEYS`].
pub const NESTED_ONLY_KEY: &str = "format";

/// The keywords shared by a parameter definition and the schemas nested in it, each
/// with the form its value must have.
fn keywords(nested: &Value) -> Map<String, Value> {
    let pos_int = json!({"type": "integer", "minimum": 0});
    let schema_array = json!({"type": "array", "minItems": 1, "items": nested});
    let schema_map = json!({"type": "object", "additionalProperties": nested});
    let bool_or_schema = json!({"anyOf": [{"type": "boolean"}, nested]});
    let string_array =
        json!({"type": "array", "items": {"type": "string"}, "minItems": 1, "uniqueItems": true});
    let v = json!({
        "id": {"type": "string"},
        "$schema": {"type": "string"},
        "title": {"type": "string"},
        "description": {"type": "string"},
        "default": {},
        "multipleOf": {"type": "number", "minimum": 0, "exclusiveMinimum": true},
        "maximum": {"type": "number"},
        "exclusiveMaximum": {"type": "boolean"},
        "minimum": {"type": "number"},
        "exclusiveMinimum": {"type": "boolean"},
        "maxLength": pos_int,
        "minLength": pos_int,
        "pattern": {"type": "string"},
        "additionalItems": bool_or_schema,
        "items": {"anyOf": [nested, schema_array]},
        "maxItems": pos_int,
        "minItems": pos_int,
        "uniqueItems": {"type": "boolean"},
        "maxProperties": pos_int,
        "minProperties": pos_int,
        "required": {"type": "boolean"},
        "secret": {"type": "boolean"},
        "additionalProperties": bool_or_schema,
        "definitions": schema_map,
        "properties": schema_map,
        "patternProperties": schema_map,
        "dependencies": {"type": "object", "additionalProperties": {"anyOf": [nested, string_array]}},
        "enum": {"type": "array", "minItems": 1, "uniqueItems": true},
        "position": {"type": "number", "minimum": 0},
        "immutable": {"type": "boolean"},
        "allOf": schema_array,
        "anyOf": schema_array,
        "oneOf": schema_array,
        "not": nested,
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// The meta-schema of one parameter definition (draft 4). Its root is the parameter
/// itself (one `type`); `#/definitions/nested` is a schema inside it (`properties`,
/// `items`, ...), which may also use `format` and a list of types.
pub fn param_meta_schema() -> Value {
    let nested_ref = json!({"$ref": "#/definitions/nested"});
    let dependencies = json!({"exclusiveMaximum": ["maximum"], "exclusiveMinimum": ["minimum"]});
    let mut root = keywords(&nested_ref);
    root.insert("type".into(), json!({"enum": PARAM_TYPES}));
    let mut nested = keywords(&nested_ref);
    nested.insert(NESTED_ONLY_KEY.into(), json!({"type": "string"}));
    nested.insert(
        "type".into(),
        json!({"anyOf": [
            {"enum": PARAM_TYPES},
            {"type": "array", "items": {"enum": PARAM_TYPES}, "minItems": 1, "uniqueItems": true}
        ]}),
    );
    json!({
        "type": "object",
        "properties": root,
        "additionalProperties": false,
        "dependencies": dependencies,
        "definitions": {
            "nested": {
                "type": "object",
                "properties": nested,
                "additionalProperties": false,
                "dependencies": dependencies,
            }
        }
    })
}

/// The closest of `known` to `key`, when it is close enough to be a typo (at most two
/// edits, and fewer than half the longer word).
pub fn suggest<'a>(key: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    known
        .into_iter()
        .map(|k| (strsim::damerau_levenshtein(key, k), k))
        .filter(|(d, k)| *d <= 2 && *d < key.len().max(k.len()) / 2 + 1)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_suggest_the_key_meant() {
        assert_eq!(suggest("secert", PARAM_KEYS), Some("secret"));
        assert_eq!(suggest("requried", PARAM_KEYS), Some("required"));
        assert_eq!(suggest("defualt", PARAM_KEYS), Some("default"));
        assert_eq!(suggest("tpye", PARAM_KEYS), Some("type"));
        assert_eq!(suggest("formt", [NESTED_ONLY_KEY]), Some("format"));
        assert_eq!(suggest("wholly_unrelated", PARAM_KEYS), None);
        assert_eq!(suggest("zzzzzz", PARAM_KEYS), None);
    }
}
