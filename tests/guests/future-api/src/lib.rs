//! `future-api`: a trivial override policy (keeps everything) that exports
//! `stackpack:plugin/policy@0.2.0`, a version no host supports yet. The host must
//! refuse to load it, naming the versions it does support.

wit_bindgen::generate!({ path: "wit", world: "override-policy" });

use exports::stackpack::plugin::policy::{Guest, PackContext, PackResource, PolicyInfo, Verdict};

struct Future;

impl Guest for Future {
    fn describe() -> PolicyInfo {
        PolicyInfo {
            name: "future-api".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Targets stackpack:plugin@0.2.0".into(),
        }
    }

    fn decide(_: PackContext, resources: Vec<PackResource>) -> Result<Vec<Verdict>, String> {
        Ok(resources.iter().map(|_| Verdict::Keep).collect())
    }
}

export!(Future);
