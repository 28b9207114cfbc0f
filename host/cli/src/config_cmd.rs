//! `stackpack config <pack>`: interactive (prompts, a masked preview, an optional
//! `$EDITOR` round-trip, confirmation) or scripted (`--set`, `--from-file`); the
//! values are validated and written by `stackpack-ops`.

use std::io::IsTerminal;

use serde_json::Value;
use stackpack_config::{ConfigSchema, MASK, Property};
use stackpack_ops::config::{self, PackConfig};
use stackpack_ops::{ErrorKind, Session};

use crate::cli::ConfigArgs;
use crate::error::CliError;
use crate::output;

pub fn config(s: &Session, args: &ConfigArgs, json: bool) -> Result<(), CliError> {
    let pack = args.pack.as_str();
    if args.schema {
        return show_schema(s, pack, json);
    }
    let target = config::open(s, pack)?;
    warn_schema(pack, &target.schema);

    if args.show || args.validate {
        let values = target.current()?;
        if args.validate {
            target.check(values)?;
            return output::print(format!(
                "{} is valid for pack {pack}.",
                target.file.display()
            ));
        }
        let shown = target.masked(values);
        return if json {
            output::json(&shown)
        } else {
            output::print(config::to_yaml(&shown))
        };
    }

    let interactive = args.set.is_empty() && args.from_file.is_none();
    let mut values = match &args.from_file {
        Some(f) => config::read_values(f)?,
        None if interactive => {
            if !std::io::stdin().is_terminal() {
                return Err(stackpack_ops::OpsError::from(
                    stackpack_config::ConfigError::NotATerminal,
                )
                .into());
            }
            stackpack_config::prompt(&target.schema, pack, target.existing.as_ref())
                .map_err(stackpack_ops::OpsError::from)?
        }
        None => target
            .existing
            .clone()
            .unwrap_or_else(|| Value::Object(Default::default())),
    };
    target.apply(&mut values, &args.set)?;
    target.check(&values)?;
    if interactive && !args.yes {
        values = review(&target, values)?;
    }
    let written = target.save(s, &values)?;
    if json {
        return output::json(&serde_json::json!({
            "path": written,
            "values": target.masked(&values),
        }));
    }
    output::print(format!(
        "Saved the config of {pack} to {}.",
        written.display()
    ))
}

/// Shows the values (masked), offers `$EDITOR`, and asks before saving.
fn review(target: &PackConfig, mut values: Value) -> Result<Value, CliError> {
    let dialog = |e: dialoguer::Error| {
        CliError::from(stackpack_ops::OpsError::from(
            stackpack_config::ConfigError::Dialog {
                message: e.to_string(),
            },
        ))
    };
    eprintln!("The config for {} (secrets masked):", target.pack);
    output::print(config::to_yaml(&target.masked(&values)))?;
    let edit = dialoguer::Confirm::new()
        .with_prompt("Edit it in $EDITOR before saving? (secrets are shown in plain text there)")
        .default(false)
        .interact()
        .map_err(dialog)?;
    if edit
        && let Some(edited) = dialoguer::Editor::new()
            .extension(".yaml")
            .edit(&config::to_yaml(&values))
            .map_err(|e| {
                eprintln!("cannot run $EDITOR: set EDITOR, or answer n");
                dialog(e)
            })?
    {
        values = config::parse_values(&edited, "the edited config")?;
        target.check(&values)?;
    }
    let save = dialoguer::Confirm::new()
        .with_prompt(format!("Save it to {}?", target.file.display()))
        .default(true)
        .interact()
        .map_err(dialog)?;
    if !save {
        eprintln!("not saved; the existing config is unchanged");
        return Err(CliError::Reported(ErrorKind::Failed));
    }
    Ok(values)
}

/// The schema's warnings (a default that breaks its own property) on stderr.
fn warn_schema(pack: &str, schema: &ConfigSchema) {
    for w in schema.warnings() {
        tracing::warn!("{pack}: config.schema.yaml: {w}");
    }
}

/// `--schema`: the pack's config schema, one row per key (nested keys dotted, array items
/// as `key[]`), secret defaults masked; `--json` prints st2's shape.
fn show_schema(s: &Session, pack: &str, json: bool) -> Result<(), CliError> {
    let view = config::schema(s, pack)?;
    warn_schema(pack, &view.schema);
    if json {
        return output::json(&view.json());
    }
    let mut table = output::table(&[
        "key",
        "type",
        "required",
        "secret",
        "default",
        "description",
    ]);
    let mut rows = Vec::new();
    for p in view.schema.properties() {
        schema_rows(p, "", &mut rows);
    }
    for row in rows {
        table.add_row(row);
    }
    output::print_table(table)
}

fn schema_rows(p: &Property, parent: &str, rows: &mut Vec<Vec<String>>) {
    let key = if parent.is_empty() {
        p.name.clone()
    } else if p.name == "items" && parent.ends_with("[]") {
        parent.to_string()
    } else {
        format!("{parent}.{}", p.name)
    };
    let yes_no = |b: bool| if b { "yes" } else { "no" }.to_string();
    let default = match &p.default {
        None => String::new(),
        Some(_) if p.secret => MASK.to_string(),
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    };
    let kind = match &p.choices {
        Some(choices) => format!(
            "{} ({})",
            p.kind,
            choices
                .iter()
                .map(|c| c.as_str().map_or_else(|| c.to_string(), str::to_string))
                .collect::<Vec<_>>()
                .join("|")
        ),
        None => p.kind.to_string(),
    };
    rows.push(vec![
        key.clone(),
        kind,
        yes_no(p.required),
        yes_no(p.secret),
        default,
        p.description.clone().unwrap_or_default(),
    ]);
    for child in &p.properties {
        schema_rows(child, &key, rows);
    }
    if let Some(items) = &p.items {
        schema_rows(items, &format!("{key}[]"), rows);
    }
}
