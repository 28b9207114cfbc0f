//! `file`: packs in a local directory, `file:///abs/dir` or `file://localhost/abs/dir`.
//!
//! Without a version this resolves to `resolution::local("/abs/dir")`: the host copies
//! the directory as it is. With a version (`file:///abs/dir=v1.2`) it resolves instead
//! to `resolution::git { url: "file:///abs/dir", ref: any("v1.2") }`: a tag, branch or
//! commit only means something for a git repository, so the directory is then fetched
//! with git at that ref (st2 does the same: it clones `file://` URLs).
//!
//! The canonical identity is `file:///abs/dir` either way. `%XX` escapes are decoded.
//! A relative path (`file://rel/dir`, which a URL reads as host `rel`) or any other
//! host is an `invalid-reference`. This plugin reaches no network host and has no
//! versions to list.

use plugin_common::{parse_url, percent_decode};
use stackpack_plugin_sdk::resolver::{
    GitRef, PackRef, PluginError, Resolution, Resolved, Resolver, ResolverInfo, VersionInfo,
    git_ref, git_resolution,
};

struct File;

fn invalid(locator: &str, what: &str) -> PluginError {
    PluginError::InvalidReference(format!(
        "\"{locator}\": {what}; expected file:///absolute/path/to/pack \
         (or file://localhost/absolute/path/to/pack)"
    ))
}

/// The absolute directory a `file:` locator names.
fn local_path(locator: &str) -> Result<String, PluginError> {
    let is_file = locator
        .get(..5)
        .is_some_and(|s| s.eq_ignore_ascii_case("file:"));
    if !is_file {
        return Err(PluginError::NotApplicable);
    }
    if !locator[5..].starts_with("//") {
        return Err(invalid(
            locator,
            "a file URL starts with file:// and an absolute path",
        ));
    }
    let Some(url) = parse_url(locator) else {
        return Err(invalid(locator, "not a valid file URL"));
    };
    if !(url.host.is_empty() || url.host.eq_ignore_ascii_case("localhost")) {
        return Err(invalid(
            locator,
            &format!(
                "the path must be absolute, but this reads as the relative path or remote \
                 host \"{}\" (an absolute path needs three slashes: file:///...)",
                url.host
            ),
        ));
    }
    if url.userinfo.is_some() || url.port.is_some() {
        return Err(invalid(locator, "a file URL takes no user or port"));
    }
    if url.query.is_some() || url.fragment.is_some() {
        return Err(invalid(locator, "a file URL takes no query or fragment"));
    }
    let Some(path) = percent_decode(url.path) else {
        return Err(invalid(locator, "the path has a malformed %-escape"));
    };
    if !path.starts_with('/') {
        return Err(invalid(locator, "the path must be absolute"));
    }
    if path.contains('\0') {
        return Err(invalid(locator, "the path contains a NUL byte"));
    }
    let trimmed = path.trim_end_matches('/');
    Ok(if trimmed.is_empty() { "/" } else { trimmed }.to_string())
}

impl Resolver for File {
    fn describe() -> ResolverInfo {
        ResolverInfo {
            name: "file".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description:
                "Local pack directories (file:///abs/dir); with a version, a local git repo".into(),
            handles: vec!["file:///abs/dir".into(), "file://localhost/abs/dir".into()],
            requested_hosts: Vec::new(),
        }
    }

    fn resolve(reference: PackRef) -> Result<Resolved, PluginError> {
        let path = local_path(reference.locator.trim())?;
        let canonical = format!("file://{path}");
        // Without a version the directory itself; with one, that ref of its git repo.
        let resolution = match git_ref(&reference)? {
            GitRef::DefaultBranch => Resolution::Local(path),
            ref_ => git_resolution(canonical.clone(), ref_),
        };
        Ok(Resolved {
            resolution,
            canonical,
            summary: None,
        })
    }

    fn list_versions(_reference: PackRef) -> Result<Vec<VersionInfo>, PluginError> {
        Err(PluginError::NotApplicable)
    }
}

stackpack_plugin_sdk::export_resolver!(File);

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(raw: &str, requested: Option<&str>) -> Result<Resolved, PluginError> {
        File::resolve(PackRef {
            raw: raw.into(),
            locator: raw.into(),
            requested: requested.map(String::from),
        })
    }

    #[test]
    fn local_directories() {
        for (locator, path) in [
            ("file:///abs/dir", "/abs/dir"),
            ("file:///abs/dir/", "/abs/dir"),
            ("file://localhost/abs/dir", "/abs/dir"),
            ("FILE://LocalHost/a%20b", "/a b"),
            ("file:///", "/"),
        ] {
            let r = resolve(locator, None).unwrap();
            assert!(
                matches!(&r.resolution, Resolution::Local(p) if p == path),
                "{locator}"
            );
            assert_eq!(r.canonical, format!("file://{path}"));
        }
    }

    #[test]
    fn a_version_means_a_git_repo() {
        let r = resolve("file:///srv/packs/x", Some("v1.2")).unwrap();
        match r.resolution {
            Resolution::Git(g) => {
                assert_eq!(g.url, "file:///srv/packs/x");
                assert!(matches!(g.ref_, GitRef::Any(v) if v == "v1.2"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(r.canonical, "file:///srv/packs/x");
        let empty = resolve("file:///srv/packs/x", Some(""));
        assert!(
            matches!(&empty, Err(PluginError::InvalidReference(m)) if m.contains("nothing after '='")),
            "{empty:?}"
        );
    }

    #[test]
    fn refusals() {
        for na in [
            "sensu",
            "owner/repo",
            "/abs/dir",
            "https://x/y",
            "files:///x",
        ] {
            assert!(
                matches!(resolve(na, None), Err(PluginError::NotApplicable)),
                "{na}"
            );
        }
        for bad in [
            "file://rel",
            "file://rel/dir",
            "file:/abs",
            "file:rel",
            "file://host.example/abs",
            "file:///a%zz",
            "file:///x?y",
            "file://u@localhost/x",
        ] {
            match resolve(bad, None) {
                Err(PluginError::InvalidReference(m)) => {
                    assert!(m.contains("file:///absolute/path"), "{m}")
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
        let msg = format!("{:?}", resolve("file://rel", None));
        assert!(msg.contains("must be absolute"), "{msg}");
    }
}
