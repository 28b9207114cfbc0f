//! `stackpack search`, `show` and `index health`.

use stackpack_ops::index::{self, content_counts, status_message, status_name};
use stackpack_ops::{ErrorKind, Session};

use crate::error::CliError;
use crate::output;

pub fn search(s: &Session, query: &str, json: bool) -> Result<(), CliError> {
    let found = index::search(s, query)?;
    if json {
        return output::json(&found);
    }
    if found.is_empty() {
        return output::print(format!("No packs match {query:?}."));
    }
    let mut t = output::table(&["name", "version", "description"]);
    for e in found {
        t.add_row(vec![
            e.key,
            e.version.unwrap_or_default(),
            shorten(&e.description.unwrap_or_default(), SEARCH_TEXT_CHARS),
        ]);
    }
    output::print_table(t)
}

/// How much of a description a search row shows; `--json` has all of it.
const SEARCH_TEXT_CHARS: usize = 200;
/// How much of any field `show` prints as a table; `--json` has all of it.
const SHOW_TEXT_CHARS: usize = 4000;

/// `text`, cut to `max` characters with a note of how much more there is: an index
/// entry may carry megabytes, which a table would take minutes to lay out.
fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((cut, _)) => format!(
            "{}… ({} more characters; --json shows all)",
            &text[..cut],
            text[cut..].chars().count()
        ),
    }
}

pub fn show(s: &Session, pack: &str, json: bool) -> Result<(), CliError> {
    let e = index::show(s, pack)?;
    if json {
        return output::json(&e.raw);
    }
    let list = |v: &[String]| v.join(", ");
    let rows = vec![
        ("name", e.key.clone()),
        ("display name", e.name.clone()),
        ("version", e.version.clone().unwrap_or_default()),
        ("versions", list(&e.versions)),
        ("author", e.author.clone().unwrap_or_default()),
        ("keywords", list(&e.keywords)),
        ("description", e.description.clone().unwrap_or_default()),
        ("repo_url", e.repo_url.clone().unwrap_or_default()),
        ("content", content_counts(&e.raw)),
        ("index", e.index.clone()),
    ];
    let rows: Vec<(&str, String)> = rows
        .into_iter()
        .map(|(k, v)| (k, shorten(&v, SHOW_TEXT_CHARS)))
        .collect();
    output::print_table(output::properties(&rows))
}

pub fn health(s: &Session, json: bool) -> Result<(), CliError> {
    let outcome = index::health(s)?;
    let report = &outcome.report;
    if json {
        output::json(report)?;
    } else {
        let mut t = output::table(&["index", "status", "packs", "cached", "note"]);
        for (h, warning) in report.indexes.iter().zip(&outcome.warnings) {
            let note = status_message(&h.status)
                .map(str::to_string)
                .or_else(|| warning.clone())
                .unwrap_or_default();
            let age = h
                .cached_age_secs
                .map(human_age)
                .unwrap_or_else(|| "-".into());
            t.add_row(vec![
                h.url.clone(),
                status_name(&h.status).to_string(),
                h.packs.to_string(),
                age,
                note,
            ]);
        }
        output::print_table(t)?;
        output::print(format!(
            "{} usable, {} unusable; {} packs in all",
            report.usable, report.unusable, report.total_packs
        ))?;
    }
    if report.usable == 0 {
        return Err(CliError::Reported(ErrorKind::Failed));
    }
    Ok(())
}

fn human_age(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s ago"),
        s if s < 3600 => format!("{}m ago", s / 60),
        s if s < 86400 => format!("{}h ago", s / 3600),
        s => format!("{}d ago", s / 86400),
    }
}
