//! Interactive, type-aware prompting on a terminal (as st2's `pack config`).

use std::io::IsTerminal as _;

use dialoguer::console::Term;
use dialoguer::{Confirm, Input, Password, Select};
use serde_json::{Map, Value};

use crate::{ConfigError, ConfigSchema, Kind, Property, is_template, join_path, parse_typed};

fn dialog(e: dialoguer::Error) -> ConfigError {
    ConfigError::Dialog {
        message: e.to_string(),
    }
}

fn io(e: std::io::Error) -> ConfigError {
    ConfigError::Dialog {
        message: e.to_string(),
    }
}

/// A value as shown in a prompt: strings bare, lists comma-separated, the rest as JSON.
fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(list) if list.iter().all(|x| !x.is_object() && !x.is_array()) => {
            list.iter().map(show).collect::<Vec<_>>().join(", ")
        }
        other => other.to_string(),
    }
}

/// Asks for the pack's config values on the terminal, property by property (type-aware:
/// `Confirm` for booleans, `Select` for enums, hidden `Password` input for secrets, nested
/// objects with a `parent.` prefix, arrays of scalars comma-separated, arrays of objects item
/// by item), each prompt showing the description and the default. Starts from `existing`
/// values: their current values are the defaults, and secrets show "(unchanged)" and are kept
/// on empty input. Needs a terminal: errors when stdin is not a TTY.
pub fn prompt(
    schema: &ConfigSchema,
    pack: &str,
    existing: Option<&Value>,
) -> Result<Value, ConfigError> {
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return Err(ConfigError::NotATerminal);
    }
    let term = Term::stderr();
    term.write_line(&format!("Configuring pack \"{pack}\"."))
        .map_err(io)?;
    let mut out = match existing {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    prompt_object(&term, schema.properties(), "", &mut out)?;
    Ok(Value::Object(out))
}

fn prompt_object(
    term: &Term,
    props: &[Property],
    prefix: &str,
    out: &mut Map<String, Value>,
) -> Result<(), ConfigError> {
    for p in props {
        let path = join_path(prefix, &p.name);
        let current = out.get(&p.name).cloned();
        if let Some(v) = prompt_property(term, p, &path, current.as_ref())? {
            out.insert(p.name.clone(), v);
        } else {
            out.remove(&p.name);
        }
    }
    Ok(())
}

fn label(p: &Property, path: &str, hint: &str) -> String {
    let mut s = path.to_string();
    if !hint.is_empty() {
        s.push_str(&format!(" ({hint})"));
    }
    if p.required {
        s.push_str(" *");
    }
    s
}

fn describe_line(term: &Term, p: &Property, path: &str) -> Result<(), ConfigError> {
    let mut line = format!("-- {path}");
    if let Some(d) = &p.description {
        line.push_str(&format!(": {d}"));
    }
    if let Some(d) = &p.default
        && !p.secret
    {
        line.push_str(&format!(" [default: {}]", show(d)));
    }
    term.write_line(&line).map_err(io)
}

/// Prompts for one property; `None` leaves the key unset.
fn prompt_property(
    term: &Term,
    p: &Property,
    path: &str,
    current: Option<&Value>,
) -> Result<Option<Value>, ConfigError> {
    describe_line(term, p, path)?;
    let preset = current.or(p.default.as_ref()).cloned();

    if p.secret {
        let hint = if current.is_some() {
            "secret, (unchanged) if empty"
        } else {
            "secret"
        };
        loop {
            let text = Password::new()
                .with_prompt(label(p, path, hint))
                .allow_empty_password(true)
                .interact_on(term)
                .map_err(dialog)?;
            if text.is_empty() {
                if preset.is_some() || !p.required {
                    return Ok(preset);
                }
                term.write_line("A value is required.").map_err(io)?;
                continue;
            }
            match parse_typed(path, p.kind, p.items.as_deref(), &text) {
                Ok(v) => return Ok(Some(v)),
                Err(e) => term.write_line(&e.to_string()).map_err(io)?,
            }
        }
    }

    if let Some(choices) = &p.choices {
        let items: Vec<String> = choices.iter().map(show).collect();
        let default = preset
            .as_ref()
            .and_then(|v| choices.iter().position(|c| c == v))
            .unwrap_or(0);
        let idx = Select::new()
            .with_prompt(label(p, path, "choose one"))
            .items(&items)
            .default(default)
            .interact_on(term)
            .map_err(dialog)?;
        return Ok(choices.get(idx).cloned());
    }

    match p.kind {
        Kind::Boolean => {
            if let Some(Value::String(s)) = &preset
                && is_template(s)
            {
                return prompt_optional_text(term, p, path, preset.as_ref());
            }
            let default = preset.as_ref().and_then(Value::as_bool).unwrap_or(false);
            let answer = Confirm::new()
                .with_prompt(label(p, path, "y/n"))
                .default(default)
                .wait_for_newline(true)
                .interact_on(term)
                .map_err(dialog)?;
            Ok(Some(Value::Bool(answer)))
        }
        Kind::Object if !p.properties.is_empty() => {
            let mut map = match preset {
                Some(Value::Object(m)) => m,
                _ => Map::new(),
            };
            prompt_object(term, &p.properties, path, &mut map)?;
            if map.is_empty() && current.is_none() && !p.required {
                return Ok(None);
            }
            Ok(Some(Value::Object(map)))
        }
        Kind::Array
            if p.items
                .as_ref()
                .is_some_and(|i| i.kind == Kind::Object && !i.properties.is_empty()) =>
        {
            let Some(items) = p.items.as_deref() else {
                return Ok(preset);
            };
            let existing: Vec<Value> = match preset {
                Some(Value::Array(list)) => list,
                _ => Vec::new(),
            };
            let mut result = Vec::new();
            let mut i = 0usize;
            loop {
                let item_path = format!("{path}[{i}]");
                if let Some(old) = existing.get(i) {
                    let mut map = old.as_object().cloned().unwrap_or_default();
                    prompt_object(term, &items.properties, &item_path, &mut map)?;
                    result.push(Value::Object(map));
                    i += 1;
                    continue;
                }
                let more = Confirm::new()
                    .with_prompt(format!("Add another item to \"{path}\"?"))
                    .default(result.is_empty() && p.required)
                    .wait_for_newline(true)
                    .interact_on(term)
                    .map_err(dialog)?;
                if !more {
                    break;
                }
                let mut map = Map::new();
                prompt_object(term, &items.properties, &item_path, &mut map)?;
                result.push(Value::Object(map));
                i += 1;
            }
            if result.is_empty() && current.is_none() && !p.required {
                return Ok(None);
            }
            Ok(Some(Value::Array(result)))
        }
        Kind::Array
            if p.items
                .as_ref()
                .is_some_and(|i| matches!(i.kind, Kind::Object | Kind::Array)) =>
        {
            term.write_line(&format!(
                "Interactive mode does not support arrays of this type for \"{path}\" yet: \
                 skipping (use --set or --from-file)."
            ))
            .map_err(io)?;
            Ok(current.cloned())
        }
        Kind::Array | Kind::Integer | Kind::Number | Kind::String | Kind::Any | Kind::Object => {
            prompt_optional_text(term, p, path, preset.as_ref())
        }
    }
}

/// A text prompt where empty input (with no default) leaves the key unset.
fn prompt_optional_text(
    term: &Term,
    p: &Property,
    path: &str,
    preset: Option<&Value>,
) -> Result<Option<Value>, ConfigError> {
    let hint = match p.kind {
        Kind::Boolean => "y/n",
        Kind::Integer => "integer",
        Kind::Number => "number",
        Kind::Array => "comma-separated list",
        Kind::Object => "JSON object",
        _ => "",
    };
    let kind = p.kind;
    let items = p.items.as_deref();
    let owned_path = path.to_string();
    let required = p.required;
    let mut input = Input::<String>::new()
        .with_prompt(label(p, path, hint))
        .allow_empty(true)
        .validate_with(move |s: &String| -> Result<(), String> {
            if s.is_empty() {
                return if required {
                    Err("a value is required".into())
                } else {
                    Ok(())
                };
            }
            parse_typed(&owned_path, kind, items, s)
                .map(|_| ())
                .map_err(|e| e.to_string())
        });
    if let Some(v) = preset {
        input = input.default(show(v));
    }
    let text = input.interact_text_on(term).map_err(dialog)?;
    if text.is_empty() {
        return Ok(None);
    }
    parse_typed(path, p.kind, p.items.as_deref(), &text).map(Some)
}
