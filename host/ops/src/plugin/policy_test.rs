//! `plugin test --pack`: an override policy run over a sample pack, as `register` runs
//! it, without a registry. Each resource's verdict is reported; an `--expect` file
//! (`<pack>.<name> keep|enable|disable` per line) makes a differing verdict a failure.

use std::path::PathBuf;
use std::sync::Arc;

use stackpack_plugin::{NoNetwork, PluginKind};
use stackpack_registry::{PackInput, ScanOptions, Selection};
use stackpack_site::PackState;
use stackpack_site::discover::read_pack;

use super::{load_for_test, read_input};
use crate::error::OpsError;
use crate::register::PluginPolicy;
use crate::session::Session;

/// `plugin test --pack`.
#[derive(Debug, Clone, Default)]
pub struct PolicyTestRequest {
    /// The policy: a .wasm file (path, file:// or https:// URL), or the name of a plugin
    pub target: String,
    /// The sample pack's directory (its pack.yaml and content directories)
    pub pack: PathBuf,
    /// Expected verdicts, `<pack>.<name> keep|enable|disable` per line
    pub expect: Option<PathBuf>,
    /// The source the policy is told [default: `unmanaged:<pack dir>`, as for a pack
    /// stackpack did not install]
    pub source: Option<String>,
    /// The site label the policy is told [default: the config's `environment`]
    pub environment: Option<String>,
    /// A config value the plugin reads with config-get; repeat for several
    pub set: Vec<String>,
}

#[derive(Debug, serde::Serialize)]
pub struct PolicyTestRow {
    #[serde(rename = "ref")]
    pub ref_: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub file: String,
    /// What the pack itself says.
    pub pack_enabled: bool,
    /// keep, enable or disable.
    pub verdict: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What the expect file wanted, when it differs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
}

#[derive(Debug, serde::Serialize)]
pub struct PolicyTestReport {
    pub plugin: String,
    pub sha256: String,
    pub pack: String,
    pub source: String,
    pub results: Vec<PolicyTestRow>,
    /// Files of the pack that could not be read as resources.
    pub problems: Vec<String>,
    /// Lines of the expect file naming no resource of the pack.
    pub unmatched: Vec<String>,
}

impl PolicyTestReport {
    /// Verdicts that differ from the expect file, plus expectations for no resource.
    pub fn failed(&self) -> usize {
        self.results.iter().filter(|r| r.expected.is_some()).count() + self.unmatched.len()
    }
}

/// Parses the expect file: `(ref, verdict)` per line, `#` comments and blank lines
/// skipped.
fn expectations(text: &str, path: &std::path::Path) -> Result<Vec<(String, String)>, OpsError> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let mut words = line.split_whitespace();
            match (words.next(), words.next(), words.next()) {
                (Some(r), Some(v @ ("keep" | "enable" | "disable")), None) => {
                    Ok((r.to_string(), v.to_string()))
                }
                _ => Err(OpsError::Input {
                    what: "the expected verdicts",
                    path: path.to_path_buf(),
                    reason: format!("{line:?} is not `<pack>.<name> keep|enable|disable`"),
                    hint: "write one `<pack>.<name> keep|enable|disable` per line",
                }),
            }
        })
        .collect()
}

pub fn test_policy(s: &Session, req: &PolicyTestRequest) -> Result<PolicyTestReport, OpsError> {
    let expected = match &req.expect {
        Some(path) => {
            let text = read_input(
                "the expected verdicts",
                path,
                "pass --expect FILE with one `<pack>.<name> keep|enable|disable` per line",
            )?;
            expectations(&text, path)?
        }
        None => Vec::new(),
    };
    let installed = read_pack(&req.pack, req.pack.parent().unwrap_or(&req.pack));
    let meta = match &installed.meta {
        PackState::Valid(m) => m,
        PackState::Invalid(reason) => {
            return Err(OpsError::Input {
                what: "the sample pack",
                path: req.pack.clone(),
                reason: reason.clone(),
                hint: "pass --pack DIR, a pack directory with a valid pack.yaml",
            });
        }
    };
    // A policy has no network import: its runtime needs none.
    let rt = s.new_runtime(Arc::new(NoNetwork))?;
    let plugin = load_for_test(s, &rt, &req.target, &req.set, &[])?;
    if plugin.kind() != PluginKind::Policy {
        return Err(OpsError::NotAPolicy {
            plugin: plugin.name().to_string(),
            kind: plugin.kind(),
        });
    }
    let source = req
        .source
        .clone()
        .unwrap_or_else(|| format!("unmanaged:{}", req.pack.display()));
    let input = PackInput {
        meta,
        dir: &req.pack,
        source: source.clone(),
        environment: req
            .environment
            .clone()
            .or_else(|| s.settings.environment.clone()),
        overrides: Vec::new(),
        scan: ScanOptions {
            selection: Selection::all(),
            runners: stackpack_registry::Runners {
                extra: s.settings.registry.extra_runners.clone(),
            },
        },
    };
    let prepared = stackpack_registry::prepare(&input, &[PluginPolicy(&plugin)], false)
        .map_err(|e| OpsError::Registry(Box::new(e)))?;
    let mut results = Vec::new();
    for (resource, decision) in prepared.decided() {
        let Some(pack_enabled) = resource.enabled else {
            continue;
        };
        let (verdict, reason) = match decision {
            Some(d) if d.by.is_some() => (
                if d.enabled { "enable" } else { "disable" },
                d.reason.clone(),
            ),
            _ => ("keep", None),
        };
        let expected = expected
            .iter()
            .find(|(r, _)| *r == resource.ref_)
            .map(|(_, v)| v.clone())
            .filter(|v| v != verdict);
        results.push(PolicyTestRow {
            ref_: resource.ref_.clone(),
            kind: resource.kind.to_string(),
            file: resource.file.clone(),
            pack_enabled,
            verdict,
            reason,
            expected,
        });
    }
    let unmatched = expected
        .iter()
        .filter(|(r, _)| !results.iter().any(|row| row.ref_ == *r))
        .map(|(r, v)| format!("{r} {v}"))
        .collect();
    Ok(PolicyTestReport {
        plugin: plugin.name().to_string(),
        sha256: plugin.sha256().to_string(),
        pack: meta.ref_.clone(),
        source,
        results,
        problems: prepared.problems().iter().map(|p| p.to_string()).collect(),
        unmatched,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn expect_lines_are_ref_and_verdict() {
        let p = std::path::Path::new("expected.txt");
        let got = expectations("# c\n\nhello.greet keep\n hello.watch   disable \n", p).unwrap();
        assert_eq!(
            got,
            [
                ("hello.greet".to_string(), "keep".to_string()),
                ("hello.watch".to_string(), "disable".to_string())
            ]
        );
        for bad in ["hello.greet", "hello.greet off", "a keep extra"] {
            let e = expectations(bad, p).unwrap_err().to_string();
            assert!(e.contains("expected.txt") && e.contains(bad), "{e}");
        }
    }
}
