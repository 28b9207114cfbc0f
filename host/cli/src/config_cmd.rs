//! `stackpack config <pack>`: interactive (prompts, a masked preview, an optional
//! `$EDITOR` round-trip, confirmation) or scripted (`--set`, `--from-file`); the
//! values are validated and written by `stackpack-ops`.

use std::io::IsTerminal;

use serde_json::Value;
use stackpack_ops::config::{self, PackConfig};
use stackpack_ops::{ErrorKind, Session};

use crate::cli::ConfigArgs;
use crate::error::CliError;
use crate::output;

pub fn config(s: &Session, args: &ConfigArgs, json: bool) -> Result<(), CliError> {
    let pack = args.pack.as_str();
    let target = config::open(s, pack)?;

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
