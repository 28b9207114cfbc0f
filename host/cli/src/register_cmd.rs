//! `stackpack register`, and how registrations are shown (also by `install` and `get`).

use stackpack_ops::register::{RegisterReport, RegisterRequest};
use stackpack_ops::{ErrorKind, Session};
use stackpack_registry::{PackReport, Problem, Registered, ResourceType};

use crate::cli::RegisterArgs;
use crate::error::CliError;
use crate::output;

pub fn register(s: &Session, args: &RegisterArgs, json: bool) -> Result<(), CliError> {
    let report = stackpack_ops::register::register(
        s,
        &RegisterRequest {
            packs: args.packs.clone(),
            configs: args.configs,
            fail_on_failure: args.fail_on_failure,
        },
    )?;
    print(&report, json)?;
    if args.fail_on_failure && report.failed() {
        return Err(CliError::Reported(ErrorKind::Failed));
    }
    Ok(())
}

fn plural(n: usize, t: ResourceType) -> String {
    if n == 1 {
        format!("1 {t}")
    } else {
        format!("{n} {}", t.plural())
    }
}

/// One line per pack: `hello_st2: 2 actions (1 overridden), 1 sensor`.
pub fn summary(r: &PackReport) -> String {
    let parts: Vec<String> = ResourceType::ALL
        .into_iter()
        .filter_map(|t| {
            let n = *r.registered.get(&t)?;
            let o = r.overridden.get(&t).copied().unwrap_or(0);
            Some(if o > 0 {
                format!("{} ({o} overridden)", plural(n, t))
            } else {
                plural(n, t)
            })
        })
        .collect();
    let mut line = if parts.is_empty() {
        "no content".to_string()
    } else {
        parts.join(", ")
    };
    if !r.removed.is_empty() {
        let gone: Vec<String> = r
            .removed
            .iter()
            .map(|x| format!("{} {}", x.kind, x.ref_))
            .collect();
        line.push_str(&format!("; removed {}", gone.join(", ")));
    }
    line
}

/// Warnings for files that were skipped.
pub fn warn_problems(pack: &str, problems: &[Problem]) {
    for p in problems {
        tracing::warn!("{pack}: skipped {p}");
    }
}

fn print(report: &RegisterReport, json: bool) -> Result<(), CliError> {
    for r in &report.packs {
        warn_problems(&r.pack, &r.problems);
    }
    for s in &report.skipped {
        tracing::warn!("skipped pack {}: {}", s.pack, s.reason);
    }
    if json {
        return output::json(&report.json());
    }
    let mut lines: Vec<String> = report
        .packs
        .iter()
        .map(|r| format!("Registered {}: {}", r.pack, summary(r)))
        .collect();
    for p in &report.unregistered {
        lines.push(format!("Unregistered {p}: no longer installed"));
    }
    let counts = stackpack_registry::st2_counts(&report.packs);
    let totals: Vec<String> = ResourceType::ALL
        .into_iter()
        .map(|t| {
            let n = counts.get(t.plural()).copied().unwrap_or(0);
            match counts.get(&format!("{}(overridden)", t.plural())) {
                Some(o) => format!("{} ({o} overridden)", plural(n, t)),
                None => plural(n, t),
            }
        })
        .collect();
    let configs = if report.configs > 0 {
        format!(", {} config(s)", report.configs)
    } else {
        String::new()
    };
    lines.push(format!(
        "Registered {} pack(s): {}{configs}.",
        report.packs.len(),
        totals.join(", ")
    ));
    output::print(lines.join("\n"))
}

/// Rows for `get`: counts and the policies' verdicts, when the pack is registered.
pub fn registry_rows(reg: Option<&Registered>) -> Vec<(&'static str, String)> {
    let Some(reg) = reg else {
        return vec![("registered", "no (run `stackpack register`)".to_string())];
    };
    let counts: Vec<String> = reg
        .counts
        .iter()
        .map(|(t, c)| {
            let mut s = match ResourceType::parse(t) {
                Some(kind) => plural(c.total, kind),
                None => format!("{} {t}", c.total),
            };
            if c.disabled > 0 {
                s.push_str(&format!(
                    " ({} enabled, {} disabled)",
                    c.enabled, c.disabled
                ));
            }
            s
        })
        .collect();
    let mut rows = vec![(
        "registered",
        if counts.is_empty() {
            "no content".to_string()
        } else {
            counts.join(", ")
        },
    )];
    for d in &reg.decisions {
        let state = if d.enabled { "enabled" } else { "disabled" };
        rows.push((
            "override",
            format!(
                "{} {} {state} by {}: {}",
                d.kind, d.ref_, d.policy, d.reason
            ),
        ));
    }
    rows
}
