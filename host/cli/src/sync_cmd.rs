//! `stackpack sync`: converge this root on a desired lockfile, compare with it
//! (`--check`, exit 4 when the root differs), or show what the root last applied
//! (`--status`).

use std::time::Duration;

use stackpack_ops::sync::{SyncRequest, status, sync as run_sync};
use stackpack_ops::{ErrorKind, Session};

use crate::cli::SyncArgs;
use crate::error::CliError;
use crate::{install_cmd, output, register_cmd};

pub fn sync(s: &Session, args: &SyncArgs, json: bool) -> Result<(), CliError> {
    let Some(source) = &args.source else {
        return show_status(s, json);
    };
    let report = run_sync(
        s,
        &SyncRequest {
            source: source.clone(),
            check: args.check,
            venv: !args.no_venv,
            register: !args.no_register,
            st2: !args.no_st2,
            force: args.force,
            lock_timeout: Duration::from_secs(args.lock_timeout),
        },
    )?;
    let short = short_digest(&report.digest);
    if json {
        output::json(&report.json())?;
    } else if report.check {
        for d in &report.plan.differences {
            output::print(d)?;
        }
        for d in &report.plan.overrides {
            output::print(d)?;
        }
        if !report.plan.lockfile_matches {
            output::print(format!(
                "lockfile: stackpack.lock is not byte-identical to {}",
                report.source
            ))?;
        }
        if report.plan.matches() {
            output::print(format!("in sync with {} ({short})", report.source))?;
        }
    } else if report.already_in_sync() {
        output::print(format!(
            "already in sync with {} ({short}); nothing written",
            report.source
        ))?;
    } else {
        let c = &report.changed;
        for (verb, packs) in [
            ("installed", &c.installed),
            ("replaced", &c.replaced),
            ("removed", &c.removed),
        ] {
            for p in packs {
                output::print(format!("{verb} {p}"))?;
            }
        }
        for (pack, reason) in &report.failures {
            output::print(format!("failed {pack}: {reason}"))?;
        }
        if !report.applied && !report.to_register.is_empty() {
            // The files were already right; a registration owed by an interrupted run
            // (overrides changed, every pack to register again) was made up now.
            output::print(format!(
                "in sync with {} ({short}); registered {} pack(s) again, as an interrupted sync had left owed",
                report.source,
                report.to_register.len()
            ))?;
        }
        if report.applied {
            output::print(format!(
                "synced to {} ({short}): {} installed, {} replaced, {} removed, {} \
                 unchanged{} in {} ms",
                report.source,
                c.installed.len(),
                c.replaced.len(),
                c.removed.len(),
                c.unchanged.len(),
                if report.overrides_changed {
                    ", overrides updated (every pack registered again)"
                } else {
                    ""
                },
                report.timings.total_ms
            ))?;
        }
        if let Some(h) = &report.st2 {
            register_cmd::print_st2(h)?;
        }
    }
    for w in &report.warnings {
        tracing::warn!("{w}");
    }
    if report.check {
        if report.plan.matches() {
            return Ok(());
        }
        eprintln!(
            "error: this root differs from {} ({} difference(s){}); run `stackpack sync {}` to \
             apply it",
            report.source,
            report.plan.differences.len() + report.plan.overrides.len(),
            if report.plan.lockfile_matches {
                ""
            } else {
                ", and its stackpack.lock"
            },
            report.source
        );
        return Err(CliError::Reported(ErrorKind::Conflict));
    }
    let handoff = register_cmd::st2_status(report.st2.as_ref());
    if let Some(e) = &report.register_error {
        return Err(install_cmd::not_registered(
            "synced",
            e,
            &report.to_register,
        ));
    }
    if !report.failures.is_empty() {
        eprintln!(
            "error: the root is partly synced to {}: fix the failures above and run sync again",
            report.source
        );
        return Err(CliError::Reported(ErrorKind::Failed));
    }
    handoff
}

fn show_status(s: &Session, json: bool) -> Result<(), CliError> {
    let st = status(s)?;
    if json {
        return output::json(&st);
    }
    match (&st.synced_digest, &st.synced_from) {
        (Some(digest), Some(from)) => output::print(format!(
            "last synced to {from} ({digest}){}; stackpack.lock {}",
            st.synced_at
                .as_ref()
                .map(|at| format!(" at {at}"))
                .unwrap_or_default(),
            if st.lockfile_is_synced {
                "is still that lockfile"
            } else {
                "changed since (an install or remove ran)"
            }
        )),
        _ => output::print("this root was never synced"),
    }
}

/// `sha256:<first 12 hex digits>` of a `sha256:<hex>` digest.
pub(crate) fn short_digest(digest: &str) -> String {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    format!("sha256:{}", hex.get(..12).unwrap_or(hex))
}
