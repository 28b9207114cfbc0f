//! `stackpack register`, and how registrations are shown (also by `install` and `get`).

use stackpack_ops::register::{RegisterReport, RegisterRequest};
use stackpack_ops::st2::Handoff;
use stackpack_ops::{ErrorKind, Session};
use stackpack_registry::{PackReport, Problem, Registered, ResourceType};

use crate::cli::RegisterArgs;
use crate::error::CliError;
use crate::output;

pub fn register(s: &Session, args: &RegisterArgs, json: bool) -> Result<(), CliError> {
    if args.st2 {
        return resend(s, args, json);
    }
    let report = stackpack_ops::register::register(
        s,
        &RegisterRequest {
            packs: args.packs.clone(),
            configs: args.configs,
            fail_on_failure: args.fail_on_failure,
            st2: !args.no_st2,
            types: args.types.clone(),
        },
    )?;
    print(&report, json)?;
    if !json && let Some(h) = &report.st2 {
        print_st2(h)?;
    }
    if args.fail_on_failure && report.failed() {
        return Err(CliError::Reported(ErrorKind::Failed));
    }
    st2_status(report.st2.as_ref())
}

/// `register --st2`: the named and pending packs to st2, nothing registered locally.
fn resend(s: &Session, args: &RegisterArgs, json: bool) -> Result<(), CliError> {
    let types: Option<Vec<&'static str>> =
        (!args.types.is_empty()).then(|| args.types.iter().map(|t| t.st2_name()).collect());
    let handoff = stackpack_ops::st2::resend(s, &args.packs, types.as_deref())?;
    if json {
        output::json(&serde_json::json!({ "st2": handoff }))?;
    } else {
        match &handoff {
            Some(h) => print_st2(h)?,
            None => output::print("Nothing to send to st2: no pack named and none pending.")?,
        }
    }
    st2_status(handoff.as_ref())
}

/// st2's counts beside stackpack's: one line, then one per type counted differently;
/// then what st2 deleted of removed packs, and what it keeps.
pub fn print_st2(h: &Handoff) -> Result<(), CliError> {
    let mut lines = Vec::new();
    if let Some(counts) = &h.counts {
        lines.extend(registered_lines(h, counts));
    }
    for a in &h.overrides {
        lines.push(format!(
            "st2 has {} {} by policy {}{}.",
            a.ref_,
            if a.enabled { "enabled" } else { "disabled" },
            a.policy,
            if a.changed { "" } else { " (already so)" }
        ));
    }
    for u in &h.removed {
        let shown: Vec<String> = u
            .deleted
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| format!("{n} {k}"))
            .collect();
        lines.push(format!(
            "st2 unregistered {}: deleted {}.",
            u.pack,
            if shown.is_empty() {
                "nothing".to_string()
            } else {
                shown.join(", ")
            }
        ));
    }
    if let Some(keeps) = h.st2_keeps
        && !h.removed.is_empty()
    {
        lines.push(format!("st2 keeps {keeps}."));
    }
    if lines.is_empty() {
        return Ok(());
    }
    output::print(lines.join("\n"))
}

fn registered_lines(h: &Handoff, counts: &std::collections::BTreeMap<String, u64>) -> Vec<String> {
    let shown: Vec<String> = counts
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| format!("{n} {k}"))
        .collect();
    let mut lines = vec![format!(
        "st2 registered {}: {}.",
        h.packs.join(", "),
        if shown.is_empty() {
            "no content".to_string()
        } else {
            shown.join(", ")
        }
    )];
    for d in &h.differences {
        lines.push(format!(
            "st2 counts differ: {} {} by stackpack, {} by st2",
            d.kind, d.stackpack, d.st2
        ));
    }
    lines
}

/// A failed handoff: its message on stderr (which packs st2 was not told about, where
/// they are recorded), then exit status 6.
pub fn st2_status(h: Option<&Handoff>) -> Result<(), CliError> {
    let Some(h) = h else { return Ok(()) };
    let Some(e) = &h.failure else { return Ok(()) };
    let mut told = Vec::new();
    if !h.pending.is_empty() {
        told.push(format!("st2 was not told about: {}.", h.pending.join(", ")));
    }
    if !h.pending_removed.is_empty() {
        told.push(format!(
            "st2 still holds the resources of removed packs: {}.",
            h.pending_removed.join(", ")
        ));
    }
    eprintln!(
        "error: {e}\n{} They are recorded in {} and sent with the next `stackpack install`, \
         `remove` or `register`, or alone with `stackpack register --st2` (--no-st2 skips st2).",
        told.join(" "),
        h.pending_file.as_deref().unwrap_or("the root")
    );
    Err(CliError::Reported(e.kind()))
}

fn plural(n: usize, t: ResourceType) -> String {
    if n == 1 {
        format!("1 {t}")
    } else {
        format!("{n} {}", t.plural())
    }
}

/// `2 trigger types declared by sensors`: registered, but outside st2's `triggers`.
fn sensor_triggers(n: usize) -> String {
    if n == 1 {
        "1 trigger type declared by sensors".to_string()
    } else {
        format!("{n} trigger types declared by sensors")
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
    let mut parts = parts;
    if r.sensor_triggers > 0 {
        parts.push(sensor_triggers(r.sensor_triggers));
    }
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

/// Warnings about what was registered (a config schema default that breaks its property).
pub fn warn_warnings(report: &RegisterReport) {
    for w in &report.warnings {
        tracing::warn!("{w}");
    }
}

fn print(report: &RegisterReport, json: bool) -> Result<(), CliError> {
    for r in &report.packs {
        warn_problems(&r.pack, &r.problems);
    }
    warn_warnings(report);
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
    let mut totals = totals;
    let declared = counts
        .get(stackpack_registry::SENSOR_TRIGGERS)
        .copied()
        .unwrap_or(0);
    if declared > 0 {
        totals.insert(1, sensor_triggers(declared));
    }
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
                None if t == stackpack_registry::SENSOR_TRIGGERS => sensor_triggers(c.total),
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
