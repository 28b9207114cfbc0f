//! `corp`: an example source resolver on `stackpack-plugin-sdk`. It resolves
//! `corp:<name>` and `corp:<name>=<version>` by asking an internal pack service:
//!
//! ```text
//! GET <service-url>/packs/<name>
//! 200 {"git_url": "https://gitlab.corp.example/packs/sensu.git", "ref": "v1.2.0"}
//! 200 {"archive_url": "https://packs.corp.example/files/x-1.0.0.tar.gz",
//!      "sha256": "<64 hex digits>", "version": "1.0.0"}
//! 404 (no such pack)
//! ```
//!
//! A git answer resolves to that repository at the requested version (`=<version>`),
//! else at the service's `ref`, else at the default branch. An archive answer resolves
//! to that archive (zip when the URL ends in `.zip`, tar.gz otherwise); it is one build
//! of one version, so a requested version must match its `version`. Optional `version`,
//! `description` and `name` fields are shown to the user. The canonical identity (in
//! the lockfile) is `corp:<name>`.
//!
//! Config (`config = { ... }` in the operator's `[plugins.<name>]` section):
//! - `service-url`: the service's base URL, e.g. `https://packs.corp.example`. Its
//!   origin is what `describe` asks the operator to grant.
//!
//! Anything not starting with `corp:` is not applicable: the next resolver gets it.
//! The SDK (`stackpack-plugin-sdk`) claims the prefix, reads the config, asks the
//! service through the host, reads its answer by the pack-service convention above and
//! words the errors; the tests below run [`resolved`] natively on canned answers.

use stackpack_plugin_sdk::resolver::{PackRef, PluginError, Resolved, ResolverInfo};
use stackpack_plugin_sdk::service::{Entry, claim, configured_url, get_entry, requested_origin};
use stackpack_plugin_sdk::{Resolver, export_resolver};

const PREFIX: &str = "corp:";
const SERVICE_URL: &str = "service-url";

struct Corp;

impl Resolver for Corp {
    fn describe() -> ResolverInfo {
        ResolverInfo {
            name: "corp".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Packs from the internal pack service (corp:<name>[=<version>])".into(),
            handles: vec!["corp:<name>".into()],
            // Ask for the service's host; the operator decides whether to grant it.
            requested_hosts: requested_origin(SERVICE_URL),
        }
    }

    fn resolve(reference: PackRef) -> Result<Resolved, PluginError> {
        // Claim the reference first: a missing config must not break other resolvers.
        let name = claim(&reference, PREFIX)?;
        let example = "https://packs.corp.example";
        let service = configured_url(&reference, "corp", SERVICE_URL, example)?;
        let entry = get_entry(&reference, name, &format!("{service}/packs/{name}"))?;
        resolved(&reference, name, &entry)
    }
}

export_resolver!(Corp);

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
    use stackpack_plugin_sdk::resolver::{ArchiveFormat, GitRef, Resolution};
    use stackpack_plugin_sdk::service::{answer_entry, claim};

    const URL: &str = "https://packs.corp.example/packs/sensu";
    const SHA: &str = "ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789";

    fn pack_ref(raw: &str) -> PackRef {
        let (locator, requested) = match raw.rsplit_once('=') {
            Some((l, r)) => (l.to_string(), Some(r.to_string())),
            None => (raw.to_string(), None),
        };
        PackRef {
            raw: raw.into(),
            locator,
            requested,
        }
    }

    /// Resolves `raw` against one canned HTTP 200 answer, as `resolve` does.
    fn answer(raw: &str, body: &str) -> Result<Resolved, PluginError> {
        let r = pack_ref(raw);
        let name = claim(&r, PREFIX)?;
        let entry = answer_entry(&r, name, URL, Ok((200, body.as_bytes().to_vec())))?;
        resolved(&r, name, &entry)
    }

    fn git(r: Result<Resolved, PluginError>) -> (String, GitRef) {
        match r {
            Ok(Resolved {
                resolution: Resolution::Git(g),
                canonical,
                ..
            }) => {
                assert_eq!(canonical, "corp:sensu");
                (g.url, g.ref_)
            }
            other => panic!("expected a git resolution, got {other:?}"),
        }
    }

    fn message(r: Result<Resolved, PluginError>) -> String {
        match r {
            Err(PluginError::NotFound(m) | PluginError::Other(m)) => m,
            other => panic!("expected an error with a message, got {other:?}"),
        }
    }

    #[test]
    fn git_answers_and_the_requested_version_wins() {
        let body = r#"{"git_url": "https://gitlab.corp.example/packs/sensu.git", "ref": "v1.2.0"}"#;
        let (url, ref_) = git(answer("corp:sensu", body));
        assert_eq!(url, "https://gitlab.corp.example/packs/sensu.git");
        assert!(matches!(&ref_, GitRef::Any(r) if r == "v1.2.0"), "{ref_:?}");
        let (_, ref_) = git(answer("corp:sensu=2.0.0", body));
        assert!(matches!(&ref_, GitRef::Any(r) if r == "2.0.0"), "{ref_:?}");
        let (_, ref_) = git(answer("corp:sensu", r#"{"git_url": "https://g/x"}"#));
        assert!(matches!(ref_, GitRef::DefaultBranch), "{ref_:?}");
    }

    #[test]
    fn archive_answers() {
        let body = format!(
            r#"{{"archive_url": "https://packs.corp.example/f/sensu.zip", "sha256": "{SHA}", "version": "1.0.0"}}"#
        );
        match answer("corp:sensu", &body) {
            Ok(Resolved {
                resolution: Resolution::Archive(a),
                canonical,
                summary,
            }) => {
                assert_eq!(a.url, "https://packs.corp.example/f/sensu.zip");
                assert_eq!(a.digest, format!("sha256:{}", SHA.to_ascii_lowercase()));
                assert_eq!(a.format, ArchiveFormat::Zip);
                assert_eq!(canonical, "corp:sensu");
                assert_eq!(summary.and_then(|s| s.version).as_deref(), Some("1.0.0"));
            }
            other => panic!("{other:?}"),
        }
        assert!(answer("corp:sensu=1.0.0", &body).is_ok());
        let m = message(answer("corp:sensu=2.0.0", &body));
        assert!(m.contains("only as an archive of version 1.0.0"), "{m}");
        let bad = r#"{"archive_url": "https://x/y.tar.gz", "sha256": "abc"}"#;
        let m = message(answer("corp:sensu", bad));
        assert!(m.contains("sha256") && m.contains(URL), "{m}");
    }

    #[test]
    fn an_answer_with_neither_source_is_unusable() {
        let m = message(answer("corp:sensu=1.0", "{}"));
        assert!(
            m.contains("\"corp:sensu=1.0\"")
                && m.contains(URL)
                && m.contains("neither \"git_url\" nor \"archive_url\""),
            "{m}"
        );
    }
}
