//! `stackpack install` and `stackpack remove`.

use std::time::Duration;

use stackpack_install::{Outcome, Report};
use stackpack_ops::install::{InstallRequest, install as run_install};
use stackpack_ops::register::RegisterReport;
use stackpack_ops::{ErrorKind, OpsError, Session};

use crate::cli::InstallArgs;
use crate::error::CliError;
use crate::{output, register_cmd};

pub fn install(s: &Session, args: &InstallArgs, json: bool) -> Result<(), CliError> {
    let report = run_install(
        s,
        &InstallRequest {
            packs: args.packs.clone(),
            skip_dependencies: args.skip_dependencies,
            force: args.force,
            locked: args.locked,
            venv: !args.no_venv,
            register: !args.no_register,
            lock_timeout: Duration::from_secs(args.lock_timeout),
            st2: !args.no_st2,
        },
    )?;
    for pack in &report.unconfigured {
        tracing::warn!("pack {pack} needs configuration before use: run `stackpack config {pack}`");
    }
    if json {
        output::json(&report.json())?;
    } else {
        print_report(&report.install, report.registered.as_ref())?;
        if let Some(h) = &report.st2 {
            register_cmd::print_st2(h)?;
        }
    }
    let handoff = register_cmd::st2_status(report.st2.as_ref());
    if let Some(e) = &report.register_error {
        return Err(not_registered("installed", e, &report.to_register));
    }
    failed(&report.install)?;
    handoff
}

pub fn remove(
    s: &Session,
    packs: &[String],
    force: bool,
    lock_timeout: u64,
    st2: bool,
    json: bool,
) -> Result<(), CliError> {
    let report =
        stackpack_ops::install::remove(s, packs, force, Duration::from_secs(lock_timeout), st2)?;
    if json {
        output::json(&report.json())?;
    } else {
        print_report(&report.remove, None)?;
        if let Some(h) = &report.st2 {
            register_cmd::print_st2(h)?;
        }
    }
    let handoff = register_cmd::st2_status(report.st2.as_ref());
    failed(&report.remove)?;
    handoff
}

/// Exit status 1 when any pack failed (each is reported on its line).
/// Says that the packs are in place (`done`: installed, synced) but their registration
/// failed, with the command that retries it.
pub(crate) fn not_registered(done: &str, e: &OpsError, to_register: &[String]) -> CliError {
    let retry = std::iter::once("stackpack register")
        .chain(to_register.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ");
    eprintln!(
        "error: the packs are {done} but were not registered: {e}\nFix that, then run `{retry}`"
    );
    CliError::Reported(e.kind())
}

fn failed(report: &Report) -> Result<(), CliError> {
    for w in &report.warnings {
        tracing::warn!("{w}");
    }
    if report.failed() {
        return Err(CliError::Reported(ErrorKind::Failed));
    }
    Ok(())
}

/// One line per pack, then one per registered pack.
fn print_report(report: &Report, registered: Option<&RegisterReport>) -> Result<(), CliError> {
    if let Some(reg) = registered {
        for r in &reg.packs {
            register_cmd::warn_problems(&r.pack, &r.problems);
        }
        register_cmd::warn_warnings(reg);
    }
    for r in &report.results {
        let line = match &r.outcome {
            Outcome::Installed {
                ref_,
                version,
                source,
                matched,
                replaced,
                unchanged,
                venv,
                ..
            } => {
                let how = matched
                    .as_ref()
                    .map(|m| format!(" ({m})"))
                    .unwrap_or_default();
                let was = match replaced {
                    _ if *unchanged => ", already installed and unchanged".to_string(),
                    Some(v) if v != version => format!(", replacing {v}"),
                    Some(_) => ", reinstalled".to_string(),
                    None => String::new(),
                };
                let dep = r
                    .dependency_of
                    .as_ref()
                    .map(|d| format!(" [dependency of {d}]"))
                    .unwrap_or_default();
                let venv = venv
                    .as_ref()
                    .map(|v| format!("; {}", crate::packs_cmd::describe(v)))
                    .unwrap_or_default();
                format!("installed {ref_} {version} from {source}{how}{was}{dep}{venv}")
            }
            Outcome::Removed {
                ref_,
                version,
                path,
            } => format!("removed {ref_} {version} from {path}"),
            Outcome::Failed { reason } => format!("failed {}: {reason}", r.requested),
        };
        output::print(line)?;
    }
    for r in registered.iter().flat_map(|reg| &reg.packs) {
        output::print(format!(
            "registered {}: {}",
            r.pack,
            register_cmd::summary(r)
        ))?;
    }
    Ok(())
}
