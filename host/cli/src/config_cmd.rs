//! `stackpack config <pack>`: a pack's configuration from its config.schema.yaml,
//! interactive or scripted, validated before anything is written.

use std::io::IsTerminal;
use std::path::PathBuf;

use serde_json::Value;
use stackpack_config::{ConfigSchema, prompt, read_config, set_value, write_config};

use crate::context::Context;
use crate::error::CliError;
use crate::output;

#[derive(Debug, clap::Args)]
pub struct ConfigArgs {
    /// Pack ref
    pub pack: String,
    /// Set a value (dotted path: `instances.0.host=db1`); repeatable, no prompts
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Take the values from a YAML file (then apply any --set)
    #[arg(long, value_name = "FILE")]
    pub from_file: Option<PathBuf>,
    /// Save without asking for confirmation
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Show the current config (secrets masked) and exit
    #[arg(long, conflicts_with_all = ["set", "from_file", "validate"])]
    pub show: bool,
    /// Validate the current config file against the schema and exit
    #[arg(long, conflicts_with_all = ["set", "from_file"])]
    pub validate: bool,
}

fn config_error(e: stackpack_config::ConfigError) -> CliError {
    CliError::Config(Box::new(e))
}

pub fn config(ctx: &Context, args: &ConfigArgs) -> Result<(), CliError> {
    let pack = args.pack.as_str();
    let found = crate::packs::installed(ctx, pack)?;
    let schema_path = found.path.join("config.schema.yaml");
    let text = std::fs::read_to_string(&schema_path).map_err(|_| {
        CliError::Usage(format!(
            "Pack \"{pack}\" doesn't have a config schema ({}); there is nothing to configure",
            schema_path.display()
        ))
    })?;
    let schema = ConfigSchema::parse(&text).map_err(config_error)?;
    let configs_dir = ctx.root.configs_dir();
    let existing = read_config(&configs_dir, pack).map_err(config_error)?;
    let config_file = configs_dir.join(format!("{pack}.yaml"));

    if args.show || args.validate {
        let Some(values) = existing else {
            return Err(CliError::Usage(format!(
                "pack \"{pack}\" has no config yet ({} does not exist); run `stackpack config {pack}`",
                config_file.display()
            )));
        };
        if args.validate {
            check(&schema, &values, pack)?;
            return output::print(format!(
                "{} is valid for pack {pack}.",
                config_file.display()
            ));
        }
        let shown = schema.mask_secrets(&values);
        return if ctx.json {
            output::json(&shown)
        } else {
            print_yaml(&shown)
        };
    }

    let interactive = args.set.is_empty() && args.from_file.is_none();
    let mut values = match &args.from_file {
        Some(f) => {
            let text = std::fs::read_to_string(f)
                .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", f.display())))?;
            stackpack_core::yaml::from_str::<Value>(&text)
                .map_err(|e| CliError::Usage(format!("{} is not valid YAML: {e}", f.display())))?
        }
        None if interactive => {
            if !std::io::stdin().is_terminal() {
                return Err(CliError::Usage(format!(
                    "stdin is not a terminal, so there is no one to ask; use `stackpack config {pack} --set key=value` or `--from-file values.yaml`"
                )));
            }
            prompt(&schema, pack, existing.as_ref()).map_err(config_error)?
        }
        None => existing
            .clone()
            .unwrap_or_else(|| Value::Object(Default::default())),
    };
    for assignment in &args.set {
        set_value(&schema, &mut values, assignment).map_err(config_error)?;
    }
    check(&schema, &values, pack)?;

    if interactive && !args.yes {
        eprintln!("The config for {pack} (secrets masked):");
        print_yaml(&schema.mask_secrets(&values))?;
        let edit = dialoguer::Confirm::new()
            .with_prompt(
                "Edit it in $EDITOR before saving? (secrets are shown in plain text there)",
            )
            .default(false)
            .interact()
            .map_err(|e| CliError::Usage(format!("no answer: {e}")))?;
        if edit {
            let text = stackpack_core::yaml::to_string(&values)
                .map_err(|e| CliError::Output(e.to_string()))?;
            if let Some(edited) = dialoguer::Editor::new()
                .extension(".yaml")
                .edit(&text)
                .map_err(|e| {
                    CliError::Usage(format!("cannot run $EDITOR: {e}; set EDITOR or answer n"))
                })?
            {
                values = stackpack_core::yaml::from_str(&edited).map_err(|e| {
                    CliError::Usage(format!(
                        "the edited config is not valid YAML: {e}; nothing was written"
                    ))
                })?;
                check(&schema, &values, pack)?;
            }
        }
        let save = dialoguer::Confirm::new()
            .with_prompt(format!("Save it to {}?", config_file.display()))
            .default(true)
            .interact()
            .map_err(|e| CliError::Usage(format!("no answer: {e}")))?;
        if !save {
            return Err(CliError::Usage(
                "not saved; the existing config is unchanged".into(),
            ));
        }
    }
    ctx.root.ensure()?;
    let written = write_config(
        &configs_dir,
        pack,
        &values,
        schema.has_secret_values(&values),
    )
    .map_err(config_error)?;
    if ctx.json {
        return output::json(&serde_json::json!({
            "path": written,
            "values": schema.mask_secrets(&values),
        }));
    }
    output::print(format!(
        "Saved the config of {pack} to {}.",
        written.display()
    ))
}

fn check(schema: &ConfigSchema, values: &Value, pack: &str) -> Result<(), CliError> {
    schema.validate(values).map_err(|problems| {
        CliError::Usage(format!(
            "the config for pack \"{pack}\" does not match its config.schema.yaml; nothing was written:\n{}",
            problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n")
        ))
    })
}

fn print_yaml(v: &Value) -> Result<(), CliError> {
    let text = stackpack_core::yaml::to_string(v).map_err(|e| CliError::Output(e.to_string()))?;
    output::print(text)
}

/// After an install: packs whose schema has required keys and that have no config yet.
pub fn warn_unconfigured(ctx: &Context, packs: &[String]) {
    for pack in packs {
        let schema = ctx.root.packs_dir().join(pack).join("config.schema.yaml");
        let Ok(text) = std::fs::read_to_string(&schema) else {
            continue;
        };
        let Ok(schema) = ConfigSchema::parse(&text) else {
            continue;
        };
        let configured = ctx
            .root
            .configs_dir()
            .join(format!("{pack}.yaml"))
            .is_file();
        if schema.has_required() && !configured {
            tracing::warn!(
                "pack {pack} needs configuration before use: run `stackpack config {pack}`"
            );
        }
    }
}
