//! `__NAME__`: an override policy for stackpack, on `stackpack-plugin-sdk`.
//!
//! It disables the resources of the kinds listed in its `disable-kinds` config
//! (comma-separated: action, alias, rule, sensor; `sensor` when unset) and abstains
//! (`keep`) on the others, so the next policy, then the pack's own metadata, decides.
//! A policy has no network: it is a pure function of its inputs and config.

use stackpack_plugin_sdk::policy::{PackContext, PackResource, PolicyInfo, ResourceKind};
use stackpack_plugin_sdk::policy::{Verdict, config_get};
use stackpack_plugin_sdk::{Policy, export_policy};

struct Plugin;

impl Policy for Plugin {
    fn describe() -> PolicyInfo {
        PolicyInfo {
            name: "__NAME__".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Disables the resource kinds listed in disable-kinds".into(),
        }
    }

    fn decide(ctx: PackContext, resources: Vec<PackResource>) -> Result<Vec<Verdict>, String> {
        decide_with(config_get("disable-kinds"), &ctx, &resources)
    }
}

export_policy!(Plugin);

fn kind_name(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::Action => "action",
        ResourceKind::Alias => "alias",
        ResourceKind::Rule => "rule",
        ResourceKind::Sensor => "sensor",
    }
}

/// One verdict per resource, index-aligned, given the `disable-kinds` config value.
fn decide_with(
    kinds: Option<String>,
    ctx: &PackContext,
    resources: &[PackResource],
) -> Result<Vec<Verdict>, String> {
    let kinds = kinds.unwrap_or_else(|| "sensor".into());
    let listed: Vec<&str> = kinds.split(',').map(str::trim).filter(|k| !k.is_empty()).collect();
    if let Some(bad) = listed.iter().find(|k| !["action", "alias", "rule", "sensor"].contains(k)) {
        return Err(format!(
            "__NAME__: `disable-kinds` lists {bad:?}; use action, alias, rule or sensor, \
             comma-separated"
        ));
    }
    Ok(resources
        .iter()
        .map(|r| match kind_name(r.kind) {
            k if listed.contains(&k) => Verdict::Disable(format!(
                "__NAME__: {k}s are disabled on this site (disable-kinds = {kinds}); pack {}",
                ctx.pack.name
            )),
            _ => Verdict::Keep,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use stackpack_plugin_sdk::policy::PackSummary;

    fn resource(kind: ResourceKind, name: &str) -> PackResource {
        PackResource {
            kind,
            ref_: format!("p.{name}"),
            name: name.into(),
            enabled: true,
            file: format!("{name}.yaml"),
            metadata: Vec::new(),
        }
    }

    #[test]
    fn disables_the_listed_kinds_only() {
        let ctx = PackContext {
            pack: PackSummary {
                name: "p".into(),
                version: None,
                description: None,
                metadata: Vec::new(),
            },
            source: "unmanaged:/tmp/p".into(),
            environment: None,
            overrides: Vec::new(),
        };
        let rs = [resource(ResourceKind::Action, "a"), resource(ResourceKind::Sensor, "s")];
        let got = decide_with(None, &ctx, &rs).unwrap();
        assert!(matches!(got.as_slice(), [Verdict::Keep, Verdict::Disable(_)]));
        let got = decide_with(Some("action".into()), &ctx, &rs).unwrap();
        assert!(matches!(got.as_slice(), [Verdict::Disable(_), Verdict::Keep]));
        assert!(decide_with(Some("sensors".into()), &ctx, &rs).is_err());
    }
}
