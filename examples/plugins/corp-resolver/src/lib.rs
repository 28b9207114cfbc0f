//! `corp`: an example source resolver. It resolves `corp:<name>` and
//! `corp:<name>=<version>` by asking an internal pack service:
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
//!
//! The plugin never performs I/O itself: `config-get` and `http-get` are host imports.
//! The decision logic ([`resolve_answer`]) takes the HTTP answer as a value, so it is
//! unit-tested on the host with `cargo test`.

wit_bindgen::generate!({ path: "../../../wit", world: "source-resolver" });

use exports::stackpack::plugin::resolver::{Guest, Resolved, ResolverInfo};
use serde_json::{Map, Value};
use stackpack::plugin::host_base::config_get;
use stackpack::plugin::net::{HttpRequest, NetError, http_get};
use stackpack::plugin::types::{
    ArchiveFormat, ArchiveSource, GitRef, GitSource, PackRef, PackSummary, PluginError, Resolution,
    VersionInfo,
};

/// The reference prefix this plugin claims.
const PREFIX: &str = "corp:";
/// The config key naming the pack service.
const SERVICE_URL: &str = "service-url";

struct Corp;

impl Guest for Corp {
    fn describe() -> ResolverInfo {
        ResolverInfo {
            name: "corp".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Packs from the internal pack service (corp:<name>[=<version>])".into(),
            handles: vec!["corp:<name>".into()],
            // Ask for the service's host; the operator decides whether to grant it.
            requested_hosts: config_get(SERVICE_URL)
                .as_deref()
                .and_then(origin)
                .into_iter()
                .collect(),
        }
    }

    fn resolve(reference: PackRef) -> Result<Resolved, PluginError> {
        // Claim the reference first: without that, a missing config would break
        // every other resolver's references too.
        let name = pack_name(&reference)?;
        let service = service_url(&reference, config_get(SERVICE_URL))?;
        let url = format!("{service}/packs/{name}");
        let request = HttpRequest {
            url: url.clone(),
            headers: vec![("accept".into(), "application/json".into())],
        };
        let answer = http_get(&request).map(|resp| (resp.status, resp.body));
        resolve_answer(&reference, name, &url, answer)
    }

    fn list_versions(_: PackRef) -> Result<Vec<VersionInfo>, PluginError> {
        // Not supported by this service: the WIT says to answer not-applicable.
        Err(PluginError::NotApplicable)
    }
}

export!(Corp);

/// The pack name of a `corp:<name>` reference; not-applicable for anything else.
fn pack_name(reference: &PackRef) -> Result<&str, PluginError> {
    let Some(name) = reference.locator.trim().strip_prefix(PREFIX) else {
        return Err(PluginError::NotApplicable);
    };
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        return Err(PluginError::InvalidReference(format!(
            "\"{}\" is not a corp pack reference: expected corp:<name> or \
             corp:<name>=<version>, the name made of letters, digits, '-' and '_'",
            reference.raw.trim()
        )));
    }
    if reference.requested.as_deref() == Some("") {
        return Err(PluginError::InvalidReference(format!(
            "\"{}\" has nothing after '='; give a version or drop the '='",
            reference.raw.trim()
        )));
    }
    Ok(name)
}

/// The configured service URL without a trailing `/`, or why it is unusable.
fn service_url(reference: &PackRef, configured: Option<String>) -> Result<String, PluginError> {
    let how = "set it in the plugin's config: [plugins.corp] config = \
               { service-url = \"https://packs.corp.example\" }";
    let Some(url) = configured.filter(|u| !u.trim().is_empty()) else {
        return Err(PluginError::Other(format!(
            "cannot resolve \"{}\": the corp plugin has no `{SERVICE_URL}` configured; {how}",
            reference.raw.trim()
        )));
    };
    let url = url.trim().trim_end_matches('/');
    if origin(url).is_none() {
        return Err(PluginError::Other(format!(
            "cannot resolve \"{}\": `{SERVICE_URL}` = \"{url}\" is not an http(s) URL; {how}",
            reference.raw.trim()
        )));
    }
    Ok(url.to_string())
}

/// `scheme://host[:port]` of an http(s) URL: what the operator grants.
fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.trim().split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    if host.is_empty() {
        return None;
    }
    Some(format!("{scheme}://{}", host.to_ascii_lowercase()))
}

/// Turns the service's answer (status and body, or the network error) for `url` into
/// the resolution of `reference`. Pure: the unit tests call it with canned answers.
fn resolve_answer(
    reference: &PackRef,
    name: &str,
    url: &str,
    answer: Result<(u16, Vec<u8>), NetError>,
) -> Result<Resolved, PluginError> {
    let raw = reference.raw.trim();
    let requested = reference.requested.as_deref();
    let body = match answer {
        Ok((200, body)) => body,
        Ok((404, _)) => {
            return Err(PluginError::NotFound(format!(
                "\"{raw}\": the pack service has no pack \"{name}\" ({url} answered HTTP 404)"
            )));
        }
        Ok((status @ (429 | 500..=599), _)) => {
            return Err(PluginError::Unavailable(format!(
                "\"{raw}\": the pack service is unavailable ({url} answered HTTP {status}); \
                 try again later"
            )));
        }
        Ok((status, _)) => {
            return Err(PluginError::Other(format!(
                "\"{raw}\": unexpected answer from the pack service ({url} answered HTTP {status})"
            )));
        }
        Err(e) => return Err(net_failure(raw, url, e)),
    };
    let bad = |what: &str| {
        PluginError::Other(format!(
            "\"{raw}\": the pack service sent an unusable answer ({url} answered HTTP 200: \
             {what})"
        ))
    };
    let entry = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(entry)) => entry,
        Ok(_) => return Err(bad("not a JSON object")),
        Err(e) => return Err(bad(&format!("invalid JSON: {e}"))),
    };
    let version = text(&entry, "version");
    let resolution = if let Some(git_url) = text(&entry, "git_url") {
        // The user's `=<version>` wins over the ref the service suggests.
        let ref_ = match requested.map(String::from).or_else(|| text(&entry, "ref")) {
            Some(r) => GitRef::Any(r),
            None => GitRef::DefaultBranch,
        };
        Resolution::Git(GitSource {
            url: git_url,
            ref_,
            subdir: None,
        })
    } else if let Some(archive_url) = text(&entry, "archive_url") {
        if let Some(want) = requested
            && version.as_deref() != Some(want)
        {
            return Err(PluginError::NotFound(format!(
                "\"{raw}\": the pack service offers \"{name}\" only as an archive of version \
                 {} ({url})",
                version.as_deref().unwrap_or("(unknown)")
            )));
        }
        let digest = text(&entry, "sha256")
            .map(|d| d.trim_start_matches("sha256:").to_ascii_lowercase())
            .filter(|d| d.len() == 64 && d.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| bad("\"archive_url\" without a valid \"sha256\" (64 hex digits)"))?;
        let path = archive_url.split(['?', '#']).next().unwrap_or_default();
        let format = if path.to_ascii_lowercase().ends_with(".zip") {
            ArchiveFormat::Zip
        } else {
            ArchiveFormat::TarGz
        };
        Resolution::Archive(ArchiveSource {
            url: archive_url,
            digest: format!("sha256:{digest}"),
            format,
            strip_prefix: None,
        })
    } else {
        return Err(bad("neither \"git_url\" nor \"archive_url\""));
    };
    Ok(Resolved {
        resolution,
        canonical: format!("{PREFIX}{name}"),
        summary: Some(PackSummary {
            name: text(&entry, "name").unwrap_or_else(|| name.to_string()),
            version,
            description: text(&entry, "description"),
            metadata: Vec::new(),
        }),
    })
}

/// A non-empty string field of the service's answer.
fn text(entry: &Map<String, Value>, key: &str) -> Option<String> {
    entry
        .get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
}

/// A failed `http-get`, as the error the host understands.
fn net_failure(raw: &str, url: &str, e: NetError) -> PluginError {
    let cannot = format!("\"{raw}\": cannot ask the pack service at {url}");
    match e {
        NetError::Denied(why) => {
            let grant = origin(url).unwrap_or_else(|| url.to_string());
            PluginError::Denied(format!(
                "{cannot}: {why}; grant it with `--grant {grant}` (stackpack plugin add) or \
                 `hosts = [\"{grant}\"]` in the plugin's config section"
            ))
        }
        NetError::Offline => PluginError::Unavailable(format!("{cannot}: stackpack is offline")),
        NetError::Timeout => PluginError::Unavailable(format!("{cannot}: timed out")),
        NetError::TooLarge(n) => {
            PluginError::Other(format!("{cannot}: the answer is too large ({n} bytes)"))
        }
        NetError::Transport(why) => PluginError::Unavailable(format!("{cannot}: {why}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// Resolves `raw` against one canned answer.
    fn answer(raw: &str, status: u16, body: &str) -> Result<Resolved, PluginError> {
        let r = pack_ref(raw);
        let name = pack_name(&r)?;
        resolve_answer(&r, name, URL, Ok((status, body.as_bytes().to_vec())))
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
            Err(
                PluginError::NotFound(m)
                | PluginError::Other(m)
                | PluginError::Unavailable(m)
                | PluginError::Denied(m)
                | PluginError::InvalidReference(m),
            ) => m,
            other => panic!("expected an error with a message, got {other:?}"),
        }
    }

    #[test]
    fn claims_only_corp_references() {
        for other in [
            "sensu",
            "owner/repo",
            "https://corp.example/x",
            "Corp:sensu",
        ] {
            assert!(
                matches!(pack_name(&pack_ref(other)), Err(PluginError::NotApplicable)),
                "{other}"
            );
        }
        assert_eq!(
            pack_name(&pack_ref("corp:my_pack-2=1.0")).ok(),
            Some("my_pack-2")
        );
        for bad in ["corp:", "corp:a/b", "corp:x?y", "corp:sensu="] {
            assert!(
                matches!(
                    pack_name(&pack_ref(bad)),
                    Err(PluginError::InvalidReference(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn git_answers_and_the_requested_version_wins() {
        let body = r#"{"git_url": "https://gitlab.corp.example/packs/sensu.git", "ref": "v1.2.0"}"#;
        let (url, ref_) = git(answer("corp:sensu", 200, body));
        assert_eq!(url, "https://gitlab.corp.example/packs/sensu.git");
        assert!(matches!(&ref_, GitRef::Any(r) if r == "v1.2.0"), "{ref_:?}");
        let (_, ref_) = git(answer("corp:sensu=2.0.0", 200, body));
        assert!(matches!(&ref_, GitRef::Any(r) if r == "2.0.0"), "{ref_:?}");
        let (_, ref_) = git(answer("corp:sensu", 200, r#"{"git_url": "https://g/x"}"#));
        assert!(matches!(ref_, GitRef::DefaultBranch), "{ref_:?}");
    }

    #[test]
    fn archive_answers() {
        let body = format!(
            r#"{{"archive_url": "https://packs.corp.example/f/sensu.zip", "sha256": "{SHA}", "version": "1.0.0"}}"#
        );
        match answer("corp:sensu", 200, &body) {
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
        assert!(answer("corp:sensu=1.0.0", 200, &body).is_ok());
        let m = message(answer("corp:sensu=2.0.0", 200, &body));
        assert!(m.contains("only as an archive of version 1.0.0"), "{m}");
        let m = message(answer(
            "corp:sensu",
            200,
            r#"{"archive_url": "https://x/y.tar.gz", "sha256": "abc"}"#,
        ));
        assert!(m.contains("sha256") && m.contains(URL), "{m}");
    }

    #[test]
    fn errors_name_the_reference_the_url_and_the_status() {
        let cases = [
            (404, "nope", "HTTP 404"),
            (500, "", "HTTP 500"),
            (403, "", "HTTP 403"),
            (200, "<html>", "invalid JSON"),
            (200, "[1]", "not a JSON object"),
            (200, "{}", "neither \"git_url\" nor \"archive_url\""),
        ];
        for (status, body, expected) in cases {
            let m = message(answer("corp:sensu=1.0", status, body));
            assert!(
                m.contains("\"corp:sensu=1.0\"") && m.contains(URL) && m.contains(expected),
                "{status} {body}: {m}"
            );
        }
        assert!(matches!(
            answer("corp:sensu", 404, ""),
            Err(PluginError::NotFound(_))
        ));
        assert!(matches!(
            answer("corp:sensu", 503, ""),
            Err(PluginError::Unavailable(_))
        ));
    }

    #[test]
    fn network_failures() {
        let r = pack_ref("corp:sensu");
        let denied = NetError::Denied("https://packs.corp.example is not granted".into());
        match resolve_answer(&r, "sensu", URL, Err(denied)) {
            Err(PluginError::Denied(m)) => {
                assert!(m.contains("--grant https://packs.corp.example"), "{m}")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            resolve_answer(&r, "sensu", URL, Err(NetError::Offline)),
            Err(PluginError::Unavailable(_))
        ));
    }

    #[test]
    fn service_url_from_config() {
        let r = pack_ref("corp:sensu");
        assert_eq!(
            service_url(&r, Some(" https://packs.corp.example/ ".into())).ok(),
            Some("https://packs.corp.example".into())
        );
        for missing in [None, Some(String::new()), Some("packs.corp.example".into())] {
            let m = match service_url(&r, missing) {
                Err(PluginError::Other(m)) => m,
                other => panic!("{other:?}"),
            };
            assert!(m.contains("service-url") && m.contains("corp:sensu"), "{m}");
        }
        assert_eq!(
            origin("HTTPS://u@Packs.corp.example:8443/base?x").as_deref(),
            Some("https://packs.corp.example:8443")
        );
        assert_eq!(origin("file:///x"), None);
    }
}
