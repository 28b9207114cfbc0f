//! Output helpers: plain tables for people, JSON for machines.

use std::io::Write;

use comfy_table::{Table, presets};

use crate::error::CliError;

/// A borderless table with a header row.
pub fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING)
        .set_content_arrangement(comfy_table::ContentArrangement::Disabled)
        .set_header(header.iter().map(|h| h.to_uppercase()));
    t
}

/// Two spaces between columns, none before the first.
fn pad(t: &mut Table) {
    for c in t.column_iter_mut() {
        c.set_padding((0, 2));
    }
}

/// A two-column Property/Value table.
pub fn properties(rows: &[(&str, String)]) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING);
    for (k, v) in rows {
        t.add_row(vec![k.to_string(), v.clone()]);
    }
    t
}

pub fn print(text: impl std::fmt::Display) -> Result<(), CliError> {
    let text = text.to_string();
    let mut out = std::io::stdout().lock();
    for line in text.trim_end().lines() {
        writeln!(out, "{}", line.trim_end()).map_err(|e| CliError::Output(e.to_string()))?;
    }
    Ok(())
}

/// Prints a table built with [`table`] or [`properties`].
pub fn print_table(mut t: Table) -> Result<(), CliError> {
    pad(&mut t);
    print(t)
}

pub fn json(value: &impl serde::Serialize) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value).map_err(|e| CliError::Output(e.to_string()))?;
    print(text)
}

/// A spinner on stderr for long work: hidden when `show` is false or stderr is not a
/// terminal (indicatif's default), cleared by `finish_and_clear`.
pub fn spinner(show: bool, message: impl Into<String>) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new_spinner().with_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar.set_message(message.into());
    bar.enable_steady_tick(std::time::Duration::from_millis(100));
    bar
}
