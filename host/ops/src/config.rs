//! `config`: a pack's configuration from its config.schema.yaml. The caller gathers
//! values (prompts, `--set`, `--from-file`); everything is validated before anything
//! is written, and the file is written atomically.

use std::path::{Path, PathBuf};

use serde_json::Value;
use stackpack_config::{ConfigSchema, read_config, set_value, write_config};

use crate::error::OpsError;
use crate::session::Session;

/// An installed pack's schema and current config.
pub struct PackConfig {
    pub pack: String,
    pub schema: ConfigSchema,
    /// The config as it is now (`None`: there is none yet).
    pub existing: Option<Value>,
    /// `<root>/configs/<pack>.yaml`.
    pub file: PathBuf,
}

/// The pack's schema and config, or why there is nothing to configure.
pub fn open(s: &Session, pack: &str) -> Result<PackConfig, OpsError> {
    let found = crate::packs::installed(s, pack)?;
    let schema_path = found.path.join("config.schema.yaml");
    let text =
        stackpack_fs::read_to_string_limited(&schema_path, stackpack_core::yaml::MAX_FILE_BYTES)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => OpsError::NoConfigSchema {
                    pack: pack.to_string(),
                    path: schema_path.clone(),
                },
                _ => OpsError::ReadInput {
                    path: schema_path.clone(),
                    reason: e.to_string(),
                },
            })?;
    let schema = ConfigSchema::parse(&text).map_err(|source| OpsError::Schema {
        pack: pack.to_string(),
        path: schema_path.clone(),
        source: Box::new(source),
    })?;
    let configs_dir = s.root.configs_dir();
    Ok(PackConfig {
        existing: read_config(&configs_dir, pack)?,
        file: configs_dir.join(format!("{pack}.yaml")),
        pack: pack.to_string(),
        schema,
    })
}

impl PackConfig {
    /// The current config, or "there is none yet".
    pub fn current(&self) -> Result<&Value, OpsError> {
        self.existing.as_ref().ok_or_else(|| OpsError::NoConfig {
            pack: self.pack.clone(),
            path: self.file.clone(),
        })
    }

    /// Checks values against the schema; the error lists every problem.
    pub fn check(&self, values: &Value) -> Result<(), OpsError> {
        self.schema
            .validate(values)
            .map_err(|problems| OpsError::ConfigMismatch {
                pack: self.pack.clone(),
                problems: problems.iter().map(|p| p.to_string()).collect(),
            })
    }

    /// The values with secrets masked, for showing.
    pub fn masked(&self, values: &Value) -> Value {
        self.schema.mask_secrets(values)
    }

    /// Applies `--set key.path=value` assignments (typed by the schema).
    pub fn apply(&self, values: &mut Value, assignments: &[String]) -> Result<(), OpsError> {
        for a in assignments {
            set_value(&self.schema, values, a)?;
        }
        Ok(())
    }

    /// Validates and writes the config (0600 when it holds secrets); returns its path.
    pub fn save(&self, s: &Session, values: &Value) -> Result<PathBuf, OpsError> {
        self.check(values)?;
        s.root.ensure()?;
        Ok(write_config(
            &s.root.configs_dir(),
            &self.pack,
            values,
            self.schema.has_secret_values(values),
        )?)
    }
}

/// Reads a YAML file of values (`--from-file`).
pub fn read_values(path: &Path) -> Result<Value, OpsError> {
    let text = stackpack_fs::read_to_string_limited(path, stackpack_core::yaml::MAX_FILE_BYTES)
        .map_err(|e| OpsError::ReadInput {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    parse_values(&text, &path.display().to_string())
}

/// Parses YAML values; `what` names them in the error.
pub fn parse_values(text: &str, what: &str) -> Result<Value, OpsError> {
    stackpack_core::yaml::from_str::<Value>(text).map_err(|e| OpsError::BadYaml {
        what: what.to_string(),
        reason: e.to_string(),
    })
}

/// Values as YAML text.
pub fn to_yaml(values: &Value) -> String {
    stackpack_core::yaml::to_string(values).unwrap_or_default()
}

/// An installed pack's config schema as st2's `GET /config_schemas/<pack>` serves it.
pub struct SchemaView {
    pub pack: String,
    /// `<pack dir>/config.schema.yaml`.
    pub file: PathBuf,
    /// The parsed schema (properties in file order, warnings).
    pub schema: ConfigSchema,
    /// The attributes as written in the file, each `secret: true` default masked.
    pub attributes: Value,
}

impl SchemaView {
    /// st2's shape: `{"pack": ..., "attributes": {...}}`.
    pub fn json(&self) -> Value {
        serde_json::json!({"pack": self.pack, "attributes": self.attributes})
    }
}

/// The pack's config schema, checked with st2's rules; a pack without one is
/// [`OpsError::ConfigSchemaNotFound`].
pub fn schema(s: &Session, pack: &str) -> Result<SchemaView, OpsError> {
    let found = crate::packs::installed(s, pack)?;
    let file = found.path.join("config.schema.yaml");
    let text =
        match stackpack_fs::read_to_string_limited(&file, stackpack_core::yaml::MAX_FILE_BYTES) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(OpsError::ConfigSchemaNotFound {
                    pack: pack.to_string(),
                    path: file,
                });
            }
            Err(e) => {
                return Err(OpsError::ReadInput {
                    path: file,
                    reason: e.to_string(),
                });
            }
        };
    let bad = |source| OpsError::Schema {
        pack: pack.to_string(),
        path: file.clone(),
        source: Box::new(source),
    };
    let schema = ConfigSchema::parse(&text).map_err(bad)?;
    let mut attributes: Value = stackpack_core::yaml::from_str(&text)
        .map_err(|source| bad(stackpack_config::ConfigError::SchemaYaml { source }))?;
    mask_secret_defaults(&mut attributes);
    Ok(SchemaView {
        pack: pack.to_string(),
        file,
        schema,
        attributes,
    })
}

/// Replaces the `default` of every `secret: true` property (nested ones too) by the mask.
fn mask_secret_defaults(attributes: &mut Value) {
    let Value::Object(map) = attributes else {
        return;
    };
    for spec in map.values_mut() {
        mask_spec(spec);
    }
}

fn mask_spec(spec: &mut Value) {
    let Value::Object(map) = spec else {
        return;
    };
    if map.get("secret") == Some(&Value::Bool(true))
        && let Some(default) = map.get_mut("default")
        && !default.is_null()
    {
        *default = Value::String(stackpack_config::MASK.into());
    }
    for (key, value) in map.iter_mut() {
        match (key.as_str(), value) {
            ("properties" | "patternProperties" | "definitions", v) => mask_secret_defaults(v),
            ("items" | "allOf" | "anyOf" | "oneOf", Value::Array(list)) => {
                list.iter_mut().for_each(mask_spec);
            }
            ("items" | "additionalItems" | "additionalProperties" | "not", v) => mask_spec(v),
            _ => {}
        }
    }
}

/// Installed packs whose schema has required keys and that have no config yet.
pub fn unconfigured(s: &Session, packs: &[String]) -> Vec<String> {
    packs
        .iter()
        .filter(|pack| {
            let schema = s.root.packs_dir().join(pack).join("config.schema.yaml");
            let Ok(text) =
                stackpack_fs::read_to_string_limited(&schema, stackpack_core::yaml::MAX_FILE_BYTES)
            else {
                return false;
            };
            let Ok(schema) = ConfigSchema::parse(&text) else {
                return false;
            };
            let configured = s.root.configs_dir().join(format!("{pack}.yaml")).is_file();
            schema.has_required() && !configured
        })
        .cloned()
        .collect()
}
