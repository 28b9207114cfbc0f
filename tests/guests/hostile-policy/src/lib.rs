//! `hostile-policy`: an override policy that misbehaves on purpose, for the registry's
//! tests. Config `mode`:
//! - `trap`: panics mid-call (a wasm trap);
//! - `loop`: never returns (the host's time limit must stop it);
//! - `short`: returns fewer verdicts than resources;
//! - `refuse`: returns an error string;
//! - `disable-sensors`: a well-behaved policy disabling every sensor;
//! - anything else: keeps everything.

wit_bindgen::generate!({ path: "../../../wit", world: "override-policy" });

use exports::stackpack::plugin::policy::{
    Guest, PackContext, PackResource, PolicyInfo, ResourceKind, Verdict,
};
use stackpack::plugin::host_base::config_get;

struct Hostile;

impl Guest for Hostile {
    fn describe() -> PolicyInfo {
        PolicyInfo {
            name: "hostile-policy".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Misbehaves on purpose".into(),
        }
    }

    fn decide(ctx: PackContext, resources: Vec<PackResource>) -> Result<Vec<Verdict>, String> {
        match config_get("mode").as_deref() {
            Some("trap") => panic!("hostile policy trapped on pack {}", ctx.pack.name),
            Some("loop") => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            Some("short") => Ok(Vec::new()),
            Some("refuse") => Err(format!("refusing pack {}", ctx.pack.name)),
            Some("disable-sensors") => Ok(resources
                .iter()
                .map(|r| match r.kind {
                    ResourceKind::Sensor => Verdict::Disable(format!(
                        "hostile-policy: no sensors from {} in {}",
                        ctx.source,
                        ctx.environment.as_deref().unwrap_or("any environment")
                    )),
                    _ => Verdict::Keep,
                })
                .collect()),
            _ => Ok(resources.iter().map(|_| Verdict::Keep).collect()),
        }
    }
}

export!(Hostile);
