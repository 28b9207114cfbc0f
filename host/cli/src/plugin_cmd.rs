//! `stackpack plugin list | add | remove | inspect | test`.

use stackpack_ops::plugin::{self, AddRequest, TestRequest};
use stackpack_ops::{ErrorKind, Session};

use crate::cli::PluginCommand;
use crate::error::CliError;
use crate::output;

pub fn run(s: &Session, cmd: &PluginCommand, json: bool) -> Result<(), CliError> {
    match cmd {
        PluginCommand::List => list(s, json),
        PluginCommand::Add(a) => {
            let report = plugin::add(
                s,
                &AddRequest {
                    source: a.source.clone(),
                    sha256: a.sha256.clone(),
                    name: a.name.clone(),
                    grants: a.grants.clone(),
                    order: a.order,
                    memory_mib: a.memory_mib,
                    time_ms: a.time_ms,
                    set: a.set.clone(),
                    force: a.force,
                },
            )?;
            if json {
                return output::json(&report);
            }
            let mut text = format!(
                "{} plugin {}: {}, {}, order {}, sha256 {}\n  from {}\n  stored as {} (manifest {})\n  granted hosts: {}",
                if report.replaced { "replaced" } else { "added" },
                report.name,
                report.kind,
                report.wit,
                report.order,
                report.sha256,
                report.source,
                report.wasm.display(),
                report.manifest.display(),
                hosts_text(&report.granted_hosts),
            );
            text.push_str(&format!(
                "\n  machine code: {}",
                code_text(
                    &report.code,
                    report.compile_ms,
                    report.cache_file.as_deref()
                )
            ));
            if !report.not_granted.is_empty() {
                text.push_str(&format!(
                    "\n  requested but not granted: {} (grant with --grant ORIGIN if you trust it)",
                    report.not_granted.join(", ")
                ));
            }
            output::print(text)
        }
        PluginCommand::Remove { name } => {
            let r = plugin::remove(s, name)?;
            if json {
                return output::json(&r);
            }
            output::print(format!(
                "removed plugin {name} ({}, {})",
                r.wasm.display(),
                r.manifest.display()
            ))
        }
        PluginCommand::Inspect { target } => inspect(s, target, json),
        PluginCommand::Test(a) => test(
            s,
            &TestRequest {
                target: a.target.clone(),
                refs: a.refs.clone(),
                recorded: a.recorded.clone(),
                set: a.set.clone(),
                grants: a.grants.clone(),
            },
            json,
        ),
    }
}

/// How a plugin's machine code was obtained, and how long compiling took.
fn code_text(
    code: &stackpack_plugin::CodeSource,
    compile_ms: Option<u64>,
    cache_file: Option<&std::path::Path>,
) -> String {
    let took = compile_ms.map_or_else(String::new, |ms| format!(" in {:.1} s", ms as f64 / 1e3));
    let file = cache_file.map_or_else(String::new, |p| format!(", {}", p.display()));
    match code {
        stackpack_plugin::CodeSource::Compiled => format!("compiled{took}{file}"),
        stackpack_plugin::CodeSource::Cached => format!("cached (compiled{took}{file})"),
        stackpack_plugin::CodeSource::Precompiled => "precompiled into stackpack".to_string(),
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
}

fn hosts_text(hosts: &[String]) -> String {
    if hosts.is_empty() {
        "(none)".to_string()
    } else {
        hosts.join(", ")
    }
}

fn list(s: &Session, json: bool) -> Result<(), CliError> {
    let rows = plugin::list(s)?;
    if json {
        return output::json(&rows);
    }
    let mut t = output::table(&[
        "name",
        "kind",
        "order",
        "origin",
        "wit",
        "sha256",
        "granted hosts",
    ]);
    for r in &rows {
        t.add_row(vec![
            r.name.clone(),
            r.kind.to_string(),
            r.order
                .map_or_else(|| "last".to_string(), |o| o.to_string()),
            r.origin.as_str().to_string(),
            r.wit.clone(),
            r.sha256.clone(),
            hosts_text(&r.granted_hosts),
        ]);
    }
    output::print_table(t)
}

fn inspect(s: &Session, target: &str, json: bool) -> Result<(), CliError> {
    let report = plugin::inspect(s, target)?;
    if json {
        return output::json(&report);
    }
    let rows = vec![
        ("name", report.name.clone()),
        ("origin", report.origin.clone()),
        ("source", report.source.clone()),
        ("world", format!("{} ({})", report.world, report.kind)),
        ("wit", report.wit.clone()),
        ("version", report.version.clone()),
        ("description", report.description.clone()),
        ("handles", report.handles.join(", ")),
        ("requested hosts", hosts_text(&report.requested_hosts)),
        ("granted hosts", hosts_text(&report.granted_hosts)),
        ("not granted", hosts_text(&report.not_granted)),
        (
            "order",
            report
                .order
                .map_or_else(|| "-".to_string(), |o| o.to_string()),
        ),
        (
            "limits",
            format!("{} MiB, {} ms", report.memory_mib, report.time_ms),
        ),
        (
            "config",
            report
                .config
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        ("sha256", report.sha256.clone()),
        ("size", mib(report.size_bytes)),
        (
            "declares",
            format!(
                "{} core instances, {} memories, {} tables",
                report.declared.instances, report.declared.memories, report.declared.tables
            ),
        ),
        (
            "machine code",
            code_text(
                &report.code,
                report.compile_ms,
                report.cache_file.as_deref(),
            ),
        ),
        (
            "describe",
            format!(
                "{:.1} ms, peak memory {}",
                report.describe_ms,
                mib(report.describe_peak_memory_bytes)
            ),
        ),
        (
            "pinned sha256",
            report
                .pinned_sha256
                .clone()
                .unwrap_or_else(|| "(not pinned)".into()),
        ),
    ];
    output::print_table(output::properties(&rows))
}

fn test(s: &Session, req: &TestRequest, json: bool) -> Result<(), CliError> {
    let report = plugin::test(s, req)?;
    let failed = report.failed();
    if json {
        output::json(&report)?;
    } else {
        let mut lines = Vec::new();
        for r in &report.results {
            let message = r.message.clone().unwrap_or_default();
            let what = match r.status {
                "resolved" => format!(
                    "{message} (canonical {})",
                    r.canonical.clone().unwrap_or_default()
                ),
                "not-applicable" => "not applicable".to_string(),
                "refused" => format!("REFUSED {}: {message}", r.refusal.unwrap_or("other")),
                _ => format!("ERROR {message}"),
            };
            lines.push(format!("{}  ->  {what}", r.reference));
        }
        for u in &report.unrecorded {
            lines.push(format!("not recorded: {u}"));
        }
        let count = |status: &str| report.results.iter().filter(|r| r.status == status).count();
        lines.push(format!(
            "{} references: {} resolved, {} not applicable, {failed} failed",
            report.results.len(),
            count("resolved"),
            count("not-applicable"),
        ));
        output::print(lines.join("\n"))?;
    }
    if failed > 0 {
        return Err(CliError::Reported(ErrorKind::Failed));
    }
    Ok(())
}
