//! Output helpers: plain tables for people, JSON for machines, and a spinner on
//! stderr for long work.

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

/// A two-column Property/Value table.
pub fn properties(rows: &[(&str, String)]) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING);
    for (k, v) in rows {
        t.add_row(vec![k.to_string(), v.clone()]);
    }
    t
}

/// Writes text to stdout line by line (trailing spaces trimmed). A closed stdout is
/// an error the caller ends on quietly, never a panic.
pub fn print(text: impl std::fmt::Display) -> Result<(), CliError> {
    let text = text.to_string();
    let mut out = std::io::stdout().lock();
    for line in text.trim_end().lines() {
        writeln!(out, "{}", line.trim_end()).map_err(CliError::Output)?;
    }
    out.flush().map_err(CliError::Output)
}

/// Prints a table built with [`table`] or [`properties`], two spaces between columns.
pub fn print_table(mut t: Table) -> Result<(), CliError> {
    for c in t.column_iter_mut() {
        c.set_padding((0, 2));
    }
    print(t)
}

pub fn json(value: &impl serde::Serialize) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::Output(std::io::Error::other(e)))?;
    print(text)
}

/// Spinners on stderr for long work, one per task (parallel fetches each get one):
/// hidden when stderr is not a terminal (indicatif's default).
pub struct Spinners {
    bars: indicatif::MultiProgress,
    live: std::sync::Mutex<Vec<Option<indicatif::ProgressBar>>>,
}

impl Spinners {
    pub fn new() -> Spinners {
        Spinners {
            bars: indicatif::MultiProgress::new(),
            live: std::sync::Mutex::new(Vec::new()),
        }
    }
}

impl stackpack_ops::Progress for Spinners {
    fn start(&self, message: &str) -> usize {
        let bar = self.bars.add(
            indicatif::ProgressBar::new_spinner().with_style(
                indicatif::ProgressStyle::with_template("{spinner} {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            ),
        );
        bar.set_message(message.to_string());
        bar.enable_steady_tick(std::time::Duration::from_millis(100));
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.push(Some(bar));
        live.len() - 1
    }

    fn finish(&self, id: usize) {
        let bar = self
            .live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(id)
            .and_then(Option::take);
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
    }
}
