//! The rules StackStorm applies to a `config.schema.yaml` before it registers it: the
//! document is not empty, every attribute name is made of word characters (`^\w+$`), and
//! every attribute is a draft-4 property schema using only the keys st2's parameter
//! meta-schema allows, each with a value of the right shape (`secret` a boolean, `enum` a
//! non-empty list of distinct values, `type` one type name, ...). Nested schemas
//! (`properties`, `items`, `additionalProperties`, `allOf`, ...) follow the same rules,
//! except that they may also use `format` and a list of types.
//!
//! The rules are written here as a JSON Schema (draft 4) and checked with the
//! `jsonschema` crate; an unknown key is reported with the nearest allowed one.

use serde_json::Value;
use stackpack_core::param_schema::{NESTED_ONLY_KEY, PARAM_KEYS, param_meta_schema, suggest};

use crate::{ConfigError, ConfigProblem, describe};

/// The keys st2 allows in a top-level attribute of a config schema: those of an action
/// parameter.
pub const ATTRIBUTE_KEYS: &[&str] = &PARAM_KEYS;

/// Whether st2 takes the document for empty (Python's falsiness: nothing, `{}`, `[]`,
/// `""`, `0`, `false`).
pub(crate) fn is_empty(doc: &Value) -> bool {
    match doc {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.is_empty(),
    }
}

/// `^\w+$`: letters, digits (any script) and underscores, at least one.
fn is_word(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_')
}

/// The allowed key nearest to `unknown`, when it is near enough to be a typo.
fn nearest(unknown: &str, nested: bool) -> Option<&'static str> {
    let lower = unknown.to_ascii_lowercase();
    suggest(
        &lower,
        PARAM_KEYS
            .iter()
            .copied()
            .chain(nested.then_some(NESTED_ONLY_KEY)),
    )
}

fn join(parent: &str, child: &str) -> String {
    if child.is_empty() {
        parent.to_string()
    } else {
        format!("{parent}.{child}")
    }
}

/// st2's parameter meta-schema, compiled once per process.
static RULES: std::sync::LazyLock<Result<jsonschema::Validator, String>> =
    std::sync::LazyLock::new(|| {
        jsonschema::draft4::new(&param_meta_schema()).map_err(|e| e.to_string())
    });

/// Checks a parsed config.schema.yaml document against st2's rules, listing every problem.
pub(crate) fn check_document(doc: &Value) -> Result<(), ConfigError> {
    if is_empty(doc) {
        return Err(ConfigError::EmptySchema);
    }
    let Value::Object(attributes) = doc else {
        return Err(ConfigError::SchemaNotMapping {
            found: describe(doc),
        });
    };
    let validator = RULES.as_ref().map_err(|e| ConfigError::InvalidSchema {
        message: format!("the built-in rules for config schemas do not compile: {e}"),
    })?;
    let mut problems = Vec::new();
    for (name, spec) in attributes {
        if !is_word(name) {
            let suggestion: String = name
                .chars()
                .map(|c| if c.is_alphanumeric() { c } else { '_' })
                .collect();
            problems.push(ConfigProblem {
                path: name.clone(),
                message: format!(
                    "an attribute name may hold only letters, digits and underscores \
                     (st2: Additional properties are not allowed ('{name}' was unexpected)); \
                     rename it, e.g. `{suggestion}`"
                ),
            });
        }
        if !spec.is_object() {
            problems.push(ConfigProblem {
                path: name.clone(),
                message: format!(
                    "must be a mapping such as `{{type: string}}`, found {}",
                    describe(spec)
                ),
            });
            continue;
        }
        for error in validator.iter_errors(spec) {
            let inner = crate::pointer_to_dotted(&error.instance_path().to_string());
            let path = join(name, &inner);
            match error.kind() {
                jsonschema::error::ValidationErrorKind::AdditionalProperties { unexpected } => {
                    let nested = !inner.is_empty();
                    for key in unexpected {
                        let hint = match nearest(key, nested) {
                            _ if key == NESTED_ONLY_KEY && !nested => {
                                "st2 allows `format` only in nested schemas".to_string()
                            }
                            Some(k) => format!("did you mean `{k}`?"),
                            None => {
                                format!("the keys st2 allows are {}", ATTRIBUTE_KEYS.join(", "))
                            }
                        };
                        problems.push(ConfigProblem {
                            path: path.clone(),
                            message: format!(
                                "unknown key `{key}`: {hint} (st2: Additional properties are \
                                 not allowed ('{key}' was unexpected))"
                            ),
                        });
                    }
                }
                kind => problems.push(ConfigProblem {
                    path,
                    message: format!("{error} (rule: {})", kind.keyword()),
                }),
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ConfigError::SchemaRules { problems })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_suggest_the_key_meant() {
        assert_eq!(nearest("secert", false), Some("secret"));
        assert_eq!(nearest("requried", false), Some("required"));
        assert_eq!(nearest("defualt", false), Some("default"));
        assert_eq!(nearest("tpye", false), Some("type"));
        assert_eq!(nearest("formt", true), Some("format"));
        assert_eq!(nearest("wholly_unrelated", false), None);
    }

    #[test]
    fn word_names() {
        assert!(is_word("api_key") && is_word("ключ") && is_word("K2"));
        assert!(!is_word("api-key") && !is_word("") && !is_word("a b") && !is_word("a.b"));
    }
}
