//! Asks for a pack's config on the terminal and prints the resulting JSON on stdout.
//! Usage: `prompt <config.schema.yaml> [existing.json]`; with `PROMPT_RESULT_FILE` set the JSON
//! goes to that file instead (so a test can check the terminal never shows a secret).
//! Used by the pseudo-terminal tests.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let Some(schema_path) = args.get(1) else {
        eprintln!("usage: prompt <config.schema.yaml> [existing.json]");
        return ExitCode::from(2);
    };
    let run = || -> Result<serde_json::Value, String> {
        let text = std::fs::read_to_string(schema_path).map_err(|e| e.to_string())?;
        let schema = stackpack_config::ConfigSchema::parse(&text).map_err(|e| e.to_string())?;
        let existing = match args.get(2) {
            Some(p) => Some(
                serde_json::from_str::<serde_json::Value>(
                    &std::fs::read_to_string(p).map_err(|e| e.to_string())?,
                )
                .map_err(|e| e.to_string())?,
            ),
            None => None,
        };
        stackpack_config::prompt(&schema, "demo", existing.as_ref()).map_err(|e| e.to_string())
    };
    match run() {
        Ok(v) => {
            if let Ok(out) = std::env::var("PROMPT_RESULT_FILE") {
                if let Err(e) = std::fs::write(&out, v.to_string()) {
                    eprintln!("error: {out}: {e}");
                    return ExitCode::FAILURE;
                }
                println!("RESULT written");
            } else {
                println!("RESULT {v}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
