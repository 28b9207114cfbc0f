//! StackStorm's registration rules for actions and policies, written out here: the
//! keys an action or policy file may have, the keys an action-parameter definition may
//! have (st2's parameter meta-schema: draft 4 with `required: true|false`, `secret`,
//! `position`, `immutable`; one `type` per parameter; nested schemas may also use
//! `format` and a list of types), the built-in runners, and the policy types with their
//! parameter schemas. A policy's parameters are validated against its type and the
//! type's defaults are filled in, as st2 stores them.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value, json};
pub use stackpack_core::param_schema::{PARAM_KEYS, suggest};
use stackpack_core::param_schema::{PARAM_TYPES, param_meta_schema};

type Fields = Map<String, Value>;

/// st2's built-in runners (`contrib/runners/*/runner.yaml`).
pub const RUNNERS: [&str; 14] = [
    "action-chain",
    "announcement",
    "http-request",
    "inquirer",
    "local-shell-cmd",
    "local-shell-script",
    "noop",
    "orquesta",
    "python-script",
    "remote-shell-cmd",
    "remote-shell-script",
    "winrm-cmd",
    "winrm-ps-cmd",
    "winrm-ps-script",
];

/// The keys an action file may have (st2's `ActionAPI`).
pub const ACTION_KEYS: [&str; 14] = [
    "id",
    "ref",
    "uid",
    "name",
    "description",
    "enabled",
    "runner_type",
    "entry_point",
    "pack",
    "parameters",
    "output_schema",
    "tags",
    "notify",
    "metadata_file",
];

/// The keys a policy file may have (st2's `PolicyAPI`).
pub const POLICY_KEYS: [&str; 11] = [
    "id",
    "uid",
    "name",
    "pack",
    "ref",
    "description",
    "enabled",
    "resource_ref",
    "policy_type",
    "parameters",
    "metadata_file",
];

/// The runners an action may name: st2's and the site's own (`[registry]
/// extra_runners`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Runners {
    pub extra: Vec<String>,
}

impl Runners {
    pub fn knows(&self, name: &str) -> bool {
        RUNNERS.contains(&name) || self.extra.iter().any(|r| r == name)
    }
}

#[allow(clippy::expect_used)] // a constant schema, exercised by the tests below
static PARAM_META: LazyLock<jsonschema::Validator> = LazyLock::new(|| {
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .should_validate_formats(false)
        .build(&param_meta_schema())
        .expect("the parameter meta-schema compiles")
});

#[allow(clippy::expect_used)] // a constant pattern, exercised by the tests below
static WORD: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\w+$").expect("\\w+ compiles"));

fn did_you_mean<'a>(key: &str, known: impl IntoIterator<Item = &'a str>) -> String {
    suggest(key, known)
        .map(|s| format!(" (did you mean \"{s}\"?)"))
        .unwrap_or_default()
}

/// Refuses keys outside `allowed`, naming each and the closest allowed key.
fn check_keys(doc: &Fields, allowed: &[&str], what: &str) -> Result<(), String> {
    let unknown: Vec<&String> = doc
        .keys()
        .filter(|k| !allowed.contains(&k.as_str()))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let named: Vec<String> = unknown
        .iter()
        .map(|k| format!("\"{k}\"{}", did_you_mean(k, allowed.iter().copied())))
        .collect();
    Err(format!(
        "{} not allowed in {what} (st2 refuses the file: Additional properties are not \
         allowed); use only {}",
        if named.len() == 1 {
            format!("key {} is", named[0])
        } else {
            format!("keys {} are", named.join(", "))
        },
        allowed.join(", ")
    ))
}

fn list(items: &[&str]) -> String {
    items
        .iter()
        .map(|t| format!("'{t}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks an action document as st2 does at registration: its keys, its runner, each
/// parameter's name and definition, and the parameters' positions.
pub fn check_action(doc: &Fields, runners: &Runners) -> Result<(), String> {
    check_keys(doc, &ACTION_KEYS, "an action")?;
    let runner = match doc.get("runner_type") {
        Some(Value::String(s)) if !s.trim().is_empty() => s,
        None | Some(Value::Null) => return Err("required field \"runner_type\" is missing".into()),
        Some(_) => return Err("field \"runner_type\" must be the name of a runner".into()),
    };
    if !runners.knows(runner) {
        let all: Vec<&str> = RUNNERS
            .iter()
            .copied()
            .chain(runners.extra.iter().map(String::as_str))
            .collect();
        return Err(format!(
            "RunnerType {runner} is not found{}: st2 runs actions with {}. A custom runner \
             installed in st2 goes in stackpack.toml: [registry] extra_runners = [\"{runner}\"]",
            did_you_mean(runner, all.iter().copied()),
            all.join(", ")
        ));
    }
    let params = match doc.get("parameters") {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Object(m)) => m,
        Some(_) => return Err("field \"parameters\" must be a mapping of parameter names".into()),
    };
    let mut positions: BTreeMap<u64, &str> = BTreeMap::new();
    for (name, spec) in params {
        if !WORD.is_match(name) {
            let fixed: String = name
                .chars()
                .map(|c| {
                    if c.is_alphanumeric() || c == '_' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            return Err(format!(
                "Parameter name \"{name}\" is invalid. Valid characters for parameter name \
                 are [a-zA-Z0-9_]; rename it, e.g. \"{fixed}\""
            ));
        }
        check_param(name, spec)?;
        if let Some(pos) = spec.get("position").and_then(Value::as_f64) {
            // st2 compares positions as numbers; whole numbers are the only useful ones.
            let key = pos as u64;
            if let Some(other) = positions.insert(key, name) {
                return Err(format!(
                    "Parameters {name} and {other} have same position {key}. Position values \
                     have to be unique."
                ));
            }
        }
    }
    if let (Some(first), Some(last)) = (positions.keys().next(), positions.keys().last())
        && (last - first + 1) as usize != positions.len()
    {
        let shown: Vec<String> = positions.keys().map(u64::to_string).collect();
        return Err(format!(
            "Positions supplied [{}] for parameters are not contiguous.",
            shown.join(", ")
        ));
    }
    Ok(())
}

/// Checks one parameter definition against st2's parameter meta-schema.
pub fn check_param(name: &str, spec: &Value) -> Result<(), String> {
    let Value::Object(fields) = spec else {
        return Err(format!(
            "parameter \"{name}\" must be a mapping (type, description, ...)"
        ));
    };
    match fields.get("type") {
        None => {}
        Some(Value::String(s)) if PARAM_TYPES.contains(&s.as_str()) => {}
        Some(Value::String(s)) => {
            return Err(format!(
                "parameter \"{name}\": type '{s}' is not one of [{}]",
                list(&PARAM_TYPES)
            ));
        }
        Some(Value::Array(_)) => {
            return Err(format!(
                "parameter \"{name}\": type must be one of [{}]; st2 allows a list of types \
                 only inside nested properties, not for a parameter",
                list(&PARAM_TYPES)
            ));
        }
        Some(other) => {
            return Err(format!(
                "parameter \"{name}\": type {other} is not one of [{}]",
                list(&PARAM_TYPES)
            ));
        }
    }
    let mut problems = Vec::new();
    for e in PARAM_META.iter_errors(spec) {
        let at = e.instance_path().to_string();
        let at = if at.is_empty() {
            String::new()
        } else {
            format!(" at {}", at.trim_start_matches('/').replace('/', "."))
        };
        let message = match e.kind() {
            jsonschema::error::ValidationErrorKind::AdditionalProperties { unexpected } => {
                let mut known: Vec<&str> = PARAM_KEYS.to_vec();
                if !at.is_empty() {
                    known.push("format");
                }
                unexpected
                    .iter()
                    .map(|k| {
                        format!(
                            "key \"{k}\" is not allowed{}",
                            did_you_mean(k, known.iter().copied())
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            }
            _ => format!("{e}"),
        };
        problems.push(format!("parameter \"{name}\"{at}: {message}"));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// One of st2's policy types: its ref and its parameters (each with st2's draft-3 style
/// `required`).
pub struct PolicyType {
    pub name: &'static str,
    pub parameters: fn() -> Value,
}

fn concurrency() -> Value {
    json!({
        "threshold": {"type": "integer", "required": true},
        "action": {"type": "string", "default": "delay", "enum": ["delay", "cancel"]},
    })
}

fn concurrency_attr() -> Value {
    let mut v = concurrency();
    if let Value::Object(m) = &mut v {
        m.insert(
            "attributes".into(),
            json!({"type": "array", "uniqueItems": true, "items": {"type": "string", "minLength": 1}}),
        );
    }
    v
}

fn retry() -> Value {
    json!({
        "retry_on": {"type": "string", "required": true, "enum": ["failure", "timeout"]},
        "max_retry_count": {"type": "integer", "required": true, "minimum": 1, "maximum": 5, "default": 2},
        "delay": {"type": "number", "required": false, "minimum": 0, "maximum": 120},
    })
}

/// st2's built-in policy types (`st2common/policies/meta`), by ref.
pub const POLICY_TYPES: [PolicyType; 3] = [
    PolicyType {
        name: "action.concurrency",
        parameters: concurrency,
    },
    PolicyType {
        name: "action.concurrency.attr",
        parameters: concurrency_attr,
    },
    PolicyType {
        name: "action.retry",
        parameters: retry,
    },
];

/// The draft-4 schema st2 validates a policy's parameters with: the type's parameters
/// as properties, no others; `required: true` becomes the `required` list; an optional
/// parameter without a default also accepts null.
fn policy_schema(parameters: &Value) -> Value {
    let mut properties = Fields::new();
    let mut required = Vec::new();
    if let Value::Object(params) = parameters {
        for (name, spec) in params {
            let mut spec = spec.as_object().cloned().unwrap_or_default();
            let is_required = spec.remove("required") == Some(Value::Bool(true));
            if is_required {
                required.push(Value::String(name.clone()));
            }
            let default_none = spec.get("default").is_none_or(Value::is_null);
            if (!is_required || spec.contains_key("default"))
                && default_none
                && let Some(Value::String(t)) = spec.get("type").cloned()
            {
                spec.insert("type".into(), json!([t, "null"]));
            }
            properties.insert(name.clone(), Value::Object(spec));
        }
    }
    let mut schema = json!({
        "type": "object",
        "properties": properties,
        "additionalProperties": false,
    });
    if !required.is_empty()
        && let Value::Object(m) = &mut schema
    {
        m.insert("required".into(), Value::Array(required));
    }
    schema
}

/// Checks a policy document as st2 does at registration (its keys, its type, its
/// parameters against the type's schema) and fills in the type's defaults.
pub fn check_policy(doc: &mut Fields) -> Result<(), String> {
    check_keys(doc, &POLICY_KEYS, "a policy")?;
    let Some(Value::String(ptype)) = doc.get("policy_type").cloned() else {
        return Err("required field \"policy_type\" is missing".into());
    };
    let Some(pt) = POLICY_TYPES.iter().find(|t| t.name == ptype) else {
        let names: Vec<&str> = POLICY_TYPES.iter().map(|t| t.name).collect();
        return Err(format!(
            "Referenced policy_type \"{ptype}\" doesnt exist{}; st2's policy types are {}",
            did_you_mean(&ptype, names.iter().copied()),
            names.join(", ")
        ));
    };
    let mut params = match doc.get("parameters") {
        None | Some(Value::Null) => Fields::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err("field \"parameters\" must be a mapping".into()),
    };
    for (name, value) in &params {
        if !WORD.is_match(name) {
            return Err(format!(
                "policy parameter name \"{name}\" is invalid: use letters, digits and _"
            ));
        }
        if value.is_null() {
            return Err(format!(
                "policy parameter \"{name}\" has no value; give it one or remove it"
            ));
        }
    }
    let type_params = (pt.parameters)();
    // st2 fills each default where the value is absent, before validating.
    if let Value::Object(defs) = &type_params {
        for (name, spec) in defs {
            if let Some(default) = spec.get("default")
                && !params.contains_key(name)
            {
                params.insert(name.clone(), default.clone());
            }
        }
    }
    let schema = policy_schema(&type_params);
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .build(&schema)
        .map_err(|e| format!("policy type {ptype}: its schema does not compile: {e}"))?;
    let value = Value::Object(params);
    let known: Vec<&str> = type_params
        .as_object()
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let problems: Vec<String> = validator
        .iter_errors(&value)
        .map(|e| {
            let at = e.instance_path().to_string();
            let at = at.trim_start_matches('/');
            match e.kind() {
                jsonschema::error::ValidationErrorKind::AdditionalProperties { unexpected } => {
                    unexpected
                        .iter()
                        .map(|k| {
                            format!(
                                "Additional properties are not allowed ('{k}' was unexpected){}",
                                did_you_mean(k, known.iter().copied())
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("; ")
                }
                jsonschema::error::ValidationErrorKind::Required { property } => format!(
                    "'{}' is a required property",
                    property.as_str().unwrap_or_default()
                ),
                _ if at.is_empty() => e.to_string(),
                _ => format!("parameter \"{at}\": {e}"),
            }
        })
        .collect();
    if !problems.is_empty() {
        return Err(format!(
            "parameters do not fit policy type {ptype} ({}): {}",
            describe_type(&type_params),
            problems.join("; ")
        ));
    }
    doc.insert("parameters".into(), value);
    Ok(())
}

/// `threshold (integer, required), action (string: delay|cancel, default delay)`.
fn describe_type(params: &Value) -> String {
    let Value::Object(m) = params else {
        return String::new();
    };
    m.iter()
        .map(|(name, spec)| {
            let mut parts = Vec::new();
            if let Some(t) = spec.get("type").and_then(Value::as_str) {
                parts.push(t.to_string());
            }
            if let Some(Value::Array(e)) = spec.get("enum") {
                let shown: Vec<String> = e
                    .iter()
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                    .collect();
                parts.push(format!("one of {}", shown.join("|")));
            }
            match (spec.get("minimum"), spec.get("maximum")) {
                (Some(lo), Some(hi)) => parts.push(format!("{lo} to {hi}")),
                (Some(lo), None) => parts.push(format!("at least {lo}")),
                _ => {}
            }
            if spec.get("required") == Some(&Value::Bool(true)) {
                parts.push("required".into());
            }
            if let Some(d) = spec.get("default") {
                parts.push(format!("default {d}"));
            }
            format!("{name}: {}", parts.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn action(yaml: &str) -> Result<(), String> {
        let v: Value = stackpack_core::yaml::from_str(yaml).unwrap();
        check_action(v.as_object().unwrap(), &Runners::default())
    }

    #[test]
    fn meta_schema_compiles_and_accepts_st2_parameters() {
        LazyLock::force(&PARAM_META);
        action(
            "name: a\nrunner_type: python-script\nparameters:\n  p:\n    type: object\n    \
             required: true\n    secret: true\n    position: 0\n    immutable: true\n    \
             default: {}\n    properties:\n      host: {type: [string, 'null'], format: hostname, required: true}\n  \
             q: {type: array, items: {type: string}, minItems: 1}\n",
        )
        .unwrap();
    }

    #[test]
    fn typos_in_parameter_keys_are_named_with_the_right_key() {
        let e = action(
            "name: a\nrunner_type: python-script\nparameters:\n  p: {type: string, requried: true}\n",
        )
        .unwrap_err();
        assert!(
            e.contains("key \"requried\" is not allowed (did you mean \"required\"?)"),
            "{e}"
        );
        let e = action(
            "name: a\nrunner_type: python-script\nparameters:\n  p:\n    type: object\n    \
             properties:\n      x: {type: string, defualt: a}\n",
        )
        .unwrap_err();
        assert!(e.contains("at properties.x"), "{e}");
        assert!(e.contains("(did you mean \"default\"?)"), "{e}");
        let e = action(
            "name: a\nrunner_type: python-script\nparameters:\n  p: {type: string, required: 'yes'}\n",
        )
        .unwrap_err();
        assert!(e.contains("at required") && e.contains("boolean"), "{e}");
    }

    #[test]
    fn positions_are_unique_and_contiguous() {
        let base = "name: a\nrunner_type: python-script\nparameters:\n";
        let e = action(&format!(
            "{base}  a: {{type: string, position: 0}}\n  b: {{type: string, position: 0}}\n"
        ))
        .unwrap_err();
        assert!(e.contains("have same position 0"), "{e}");
        let e = action(&format!(
            "{base}  a: {{type: string, position: 0}}\n  b: {{type: string, position: 2}}\n"
        ))
        .unwrap_err();
        assert!(
            e.contains("[0, 2] for parameters are not contiguous"),
            "{e}"
        );
    }

    #[test]
    fn suggestions_only_for_near_misses() {
        assert_eq!(suggest("defualt", PARAM_KEYS), Some("default"));
        assert_eq!(suggest("zzzzzz", PARAM_KEYS), None);
        assert_eq!(suggest("python-scrpt", RUNNERS), Some("python-script"));
    }
}
