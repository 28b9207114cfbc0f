//! `stackpack doctor`: the st2 connection and credential, and the packs st2 registered
//! differently from what is on disk.

use stackpack_ops::{ErrorKind, Session};

use crate::error::CliError;
use crate::output;

pub fn doctor(s: &Session, json: bool) -> Result<(), CliError> {
    let report = stackpack_ops::st2::doctor(s)?;
    if json {
        output::json(&report)?;
    } else {
        let mut lines = vec![format!(
            "st2 at {}: reachable, {}; {} packs registered in st2, {} installed here.",
            report.api_url,
            match report.credential {
                Some(c) => format!("the credential from {c} accepted"),
                None => "no credential needed".to_string(),
            },
            report.st2_packs,
            report.installed
        )];
        for d in &report.drift {
            lines.push(format!("{}: {}", d.pack, d.detail));
            for f in &d.only_on_disk {
                lines.push(format!("  only on disk: {f}"));
            }
            for f in &d.only_in_st2 {
                lines.push(format!("  only in st2: {f}"));
            }
        }
        if report.drift.is_empty() {
            lines.push("Every pack matches what st2 registered.".into());
        }
        output::print(lines.join("\n"))?;
    }
    if report.drift.is_empty() {
        Ok(())
    } else {
        Err(CliError::Reported(ErrorKind::Failed))
    }
}
