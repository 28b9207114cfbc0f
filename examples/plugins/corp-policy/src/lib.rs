//! `corp-policy`: an example override policy. It disables every sensor of the packs
//! that were not installed from the company's GitLab, and abstains (`keep`) on
//! everything else, so the next policy (or the pack's own metadata) decides.
//!
//! Config (`config = { ... }` in the operator's `[plugins.corp-policy]` section):
//! - `trusted-source-prefix`: the start of a trusted pack source, as the host reports
//!   it (`git:<host>/<path>@<commit>`), e.g. `git:gitlab.corp.example/`. Required: the
//!   policy fails the decision rather than guess.
//!
//! An override policy has no network import at all (see the `override-policy` world):
//! it is a pure function of its inputs and config. Built on `stackpack-plugin-sdk`
//! (the bindings, [`Policy`] and the config check). The decision logic ([`decide_with`])
//! takes the config value as an argument, so it is unit-tested on the host with
//! `cargo test`.

use stackpack_plugin_sdk::policy::{PackContext, PackResource, PolicyInfo, ResourceKind};
use stackpack_plugin_sdk::policy::{Verdict, config_get, required};
use stackpack_plugin_sdk::{Policy, export_policy};

/// The config key holding the trusted source prefix.
const PREFIX_KEY: &str = "trusted-source-prefix";

struct CorpPolicy;

impl Policy for CorpPolicy {
    fn describe() -> PolicyInfo {
        PolicyInfo {
            name: "corp-policy".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Disables the sensors of packs not installed from the corporate GitLab"
                .into(),
        }
    }

    fn decide(ctx: PackContext, resources: Vec<PackResource>) -> Result<Vec<Verdict>, String> {
        decide_with(config_get(PREFIX_KEY), &ctx, &resources)
    }
}

export_policy!(CorpPolicy);

/// One verdict per resource, index-aligned, given the configured prefix.
fn decide_with(
    prefix: Option<String>,
    ctx: &PackContext,
    resources: &[PackResource],
) -> Result<Vec<Verdict>, String> {
    let example = "git:gitlab.corp.example/";
    let prefix = required("corp-policy", PREFIX_KEY, example, prefix)?;
    let trusted = ctx.source.starts_with(&prefix);
    Ok(resources
        .iter()
        .map(|r| match r.kind {
            ResourceKind::Sensor if !trusted => Verdict::Disable(format!(
                "corp-policy: sensors only run from packs installed from {prefix}; {} came \
                 from {}",
                ctx.pack.name, ctx.source
            )),
            _ => Verdict::Keep,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use stackpack_plugin_sdk::policy::PackSummary;

    const PREFIX: &str = "git:gitlab.corp.example/";

    fn ctx(source: &str) -> PackContext {
        PackContext {
            pack: PackSummary {
                name: "sensu".into(),
                version: Some("1.0.0".into()),
                description: None,
                metadata: Vec::new(),
            },
            source: source.into(),
            environment: Some("prod".into()),
            overrides: Vec::new(),
        }
    }

    fn resource(kind: ResourceKind, name: &str) -> PackResource {
        PackResource {
            kind,
            ref_: format!("sensu.{name}"),
            name: name.into(),
            enabled: true,
            file: format!("{name}.yaml"),
            metadata: Vec::new(),
        }
    }

    fn all_kinds() -> Vec<PackResource> {
        vec![
            resource(ResourceKind::Action, "a"),
            resource(ResourceKind::Sensor, "s1"),
            resource(ResourceKind::Rule, "r"),
            resource(ResourceKind::Alias, "al"),
            resource(ResourceKind::Sensor, "s2"),
        ]
    }

    /// Verdicts as comparable strings ("keep", "enable: why", "disable: why").
    fn shown(verdicts: Vec<Verdict>) -> Vec<String> {
        verdicts
            .into_iter()
            .map(|v| match v {
                Verdict::Keep => "keep".to_string(),
                Verdict::Enable(why) => format!("enable: {why}"),
                Verdict::Disable(why) => format!("disable: {why}"),
            })
            .collect()
    }

    #[test]
    fn trusted_source_keeps_everything() {
        let ctx = ctx("git:gitlab.corp.example/ops/sensu@0123abcd");
        let got = decide_with(Some(PREFIX.into()), &ctx, &all_kinds()).unwrap();
        assert_eq!(shown(got), ["keep"; 5]);
    }

    #[test]
    fn untrusted_source_disables_sensors_only() {
        let source = "git:github.com/StackStorm-Exchange/stackstorm-sensu@0123abcd";
        let got = decide_with(Some(PREFIX.into()), &ctx(source), &all_kinds()).unwrap();
        let why = format!(
            "disable: corp-policy: sensors only run from packs installed from {PREFIX}; \
             sensu came from {source}"
        );
        assert_eq!(shown(got), ["keep", &why, "keep", "keep", &why]);
    }

    #[test]
    fn prefix_must_match_at_the_start() {
        // A look-alike host that merely contains the trusted one is not trusted.
        let ctx = ctx("git:evil.example/git:gitlab.corp.example/sensu@1");
        let got = decide_with(
            Some(PREFIX.into()),
            &ctx,
            &[resource(ResourceKind::Sensor, "s")],
        );
        assert!(matches!(got.unwrap().as_slice(), [Verdict::Disable(_)]));
    }

    #[test]
    fn no_resources_no_verdicts() {
        let got = decide_with(Some(PREFIX.into()), &ctx("file:/tmp/x"), &[]).unwrap();
        assert!(got.is_empty());
    }

    #[test]
    fn missing_config_is_an_error_that_says_how_to_fix_it() {
        for prefix in [None, Some(""), Some("  ")] {
            let err = decide_with(prefix.map(String::from), &ctx("x"), &all_kinds()).unwrap_err();
            assert!(
                err.contains("trusted-source-prefix")
                    && err.contains("[plugins.corp-policy] config = {"),
                "{err}"
            );
        }
    }
}
