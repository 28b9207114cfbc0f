//! `__NAME__`: a source resolver for stackpack, on `stackpack-plugin-sdk`.
//!
//! It claims references `__NAME__:<pack>[=<version>]` and asks a pack service,
//! `GET <service-url>/packs/<pack>`, which answers a JSON object:
//! `{"git_url": "...", "ref": "v1.0.0"}` (a git repository) or
//! `{"archive_url": "...", "sha256": "<64 hex>", "version": "1.0.0"}` (an archive),
//! optionally with `name`, `version` and `description`; 404 when it has no such pack.
//! Every other reference is not-applicable: the next resolver gets it.
//!
//! Config: `service-url`, the service's base URL (its origin is what `describe` asks
//! the operator to grant).

use stackpack_plugin_sdk::resolver::{PackRef, PluginError, Resolved, ResolverInfo};
use stackpack_plugin_sdk::service::{Entry, claim, configured_url, get_entry, requested_origin};
use stackpack_plugin_sdk::{Resolver, export_resolver};

const PREFIX: &str = "__NAME__:";
const SERVICE_URL: &str = "service-url";

struct Plugin;

impl Resolver for Plugin {
    fn describe() -> ResolverInfo {
        ResolverInfo {
            name: "__NAME__".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Packs from a pack service (__NAME__:<pack>[=<version>])".into(),
            handles: vec!["__NAME__:<pack>".into()],
            requested_hosts: requested_origin(SERVICE_URL),
        }
    }

    fn resolve(reference: PackRef) -> Result<Resolved, PluginError> {
        // Claim the reference first: a missing config must not break other resolvers.
        let name = claim(&reference, PREFIX)?;
        let example = "https://packs.example.com";
        let service = configured_url(&reference, "__NAME__", SERVICE_URL, example)?;
        let entry = get_entry(&reference, name, &format!("{service}/packs/{name}"))?;
        resolved(&reference, name, &entry)
    }
}

export_resolver!(Plugin);

/// The service's `entry` for pack `name`, as the resolution of `reference`.
fn resolved(reference: &PackRef, name: &str, entry: &Entry) -> Result<Resolved, PluginError> {
    Ok(Resolved {
        resolution: entry.resolution(name, reference.requested.as_deref())?,
        canonical: format!("{PREFIX}{name}"),
        summary: Some(entry.summary(name)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use stackpack_plugin_sdk::resolver::{GitRef, Resolution};
    use stackpack_plugin_sdk::service::answer_entry;

    #[test]
    fn a_git_answer_resolves_at_the_requested_version() {
        let reference = PackRef {
            raw: "__NAME__:hello=1.0.0".into(),
            locator: "__NAME__:hello".into(),
            requested: Some("1.0.0".into()),
        };
        let url = "https://packs.example.com/packs/hello";
        let body = br#"{"git_url": "https://git.example.com/hello.git", "ref": "main"}"#;
        let entry = answer_entry(&reference, "hello", url, Ok((200, body.to_vec()))).unwrap();
        let got = resolved(&reference, "hello", &entry).unwrap();
        assert_eq!(got.canonical, "__NAME__:hello");
        match got.resolution {
            Resolution::Git(g) => assert!(matches!(g.ref_, GitRef::Any(v) if v == "1.0.0")),
            other => panic!("{other:?}"),
        }
    }
}
