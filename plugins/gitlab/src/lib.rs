//! `gitlab`: resolves GitLab repositories, subgroups included.
//!
//! Claims `http(s)://[user[:token]@]HOST/group[/sub...]/project[.git]`,
//! `ssh://git@HOST[:port]/group/.../project`, `git@HOST:group/.../project[.git]` and
//! st2's `git@HOST/group/.../project`, where HOST is gitlab.com, any host whose name
//! starts with `gitlab.`, or one of the names in the `hosts` config (comma-separated).
//! At least two path segments; a `/-/` segment (a web page such as `/-/tree/main`) is
//! refused. Everything else is `not-applicable`; there is no shorthand (`owner/repo`
//! belongs to the github resolver, as in st2).
//!
//! The resolution URL keeps what the user wrote (ssh stays ssh, userinfo stays); st2's
//! colon-less ssh form becomes `git@HOST:group/.../project`, and `http://gitlab.com`
//! becomes https. The canonical identity is `host/group/.../project`.

wit_bindgen::generate!({ path: "../../wit", world: "source-resolver" });

use exports::stackpack::plugin::resolver::{Guest, Resolved, ResolverInfo};
use plugin_common::forge::{
    ForgeMatch, ForgeRules, match_forge, requested_git_ref, versions_from_refs,
};
use plugin_common::{ConfiguredHost, parse_host_list, without_userinfo};
use stackpack::plugin::host_base::config_get;
use stackpack::plugin::net::{NetError, git_list_refs};
use stackpack::plugin::types::{GitRef, GitSource, PackRef, PluginError, Resolution, VersionInfo};

const PUBLIC_HOST: &str = "gitlab.com";
const EXPECTED: &str = "https://gitlab.com/GROUP[/SUBGROUP...]/PROJECT[.git] or \
                        git@gitlab.com:GROUP[/SUBGROUP...]/PROJECT[.git] (at least two path segments)";

struct Gitlab;

fn configured_hosts() -> Vec<ConfiguredHost> {
    config_get("hosts")
        .map(|v| parse_host_list(&v))
        .unwrap_or_default()
}

/// The URL to fetch and the canonical identity, or why the locator is not ours.
fn locate(locator: &str) -> Result<(String, String), PluginError> {
    let extra = configured_hosts();
    let is_host =
        |h: &str| h == PUBLIC_HOST || h.starts_with("gitlab.") || extra.iter().any(|c| c.host == h);
    let rules = ForgeRules {
        name: "GitLab",
        is_host: &is_host,
        shorthand_host: None,
        https_only_host: Some(PUBLIC_HOST),
        min_segments: 2,
        max_segments: None,
        reject_dash_segment: true,
        expected: EXPECTED,
    };
    match match_forge(locator.trim(), &rules) {
        ForgeMatch::Repo { url, canonical } => Ok((url, canonical)),
        ForgeMatch::Invalid(msg) => Err(PluginError::InvalidReference(msg)),
        ForgeMatch::NotApplicable => Err(PluginError::NotApplicable),
    }
}

/// See [`requested_git_ref`].
fn git_ref(reference: &PackRef) -> Result<GitRef, PluginError> {
    requested_git_ref(&reference.locator, reference.requested.as_deref())
        .map(|r| r.map_or(GitRef::DefaultBranch, GitRef::Any))
        .map_err(PluginError::InvalidReference)
}

fn net_error(url: &str, e: NetError) -> PluginError {
    match e {
        NetError::Denied(msg) => PluginError::Denied(msg),
        NetError::Offline => PluginError::Unavailable(format!("{url}: the host is offline")),
        NetError::Timeout => PluginError::Unavailable(format!("{url}: timed out")),
        NetError::TooLarge(n) => PluginError::Other(format!("{url}: answer too large ({n} bytes)")),
        NetError::Transport(msg) => PluginError::Unavailable(format!("{url}: {msg}")),
    }
}

impl Guest for Gitlab {
    fn describe() -> ResolverInfo {
        let extra = configured_hosts();
        let mut handles: Vec<String> = [
            "https://gitlab.com/group/[sub/...]project[.git]",
            "ssh://git@gitlab.com/group/[sub/...]project",
            "git@gitlab.com:group/[sub/...]project[.git]",
            "git@gitlab.com/group/[sub/...]project",
            "https://gitlab.*/group/[sub/...]project",
            "git@gitlab.*:group/[sub/...]project",
        ]
        .map(String::from)
        .into();
        handles.extend(
            extra
                .iter()
                .map(|c| format!("{}/group/[sub/...]project", c.origin)),
        );
        let mut requested_hosts = vec![format!("https://{PUBLIC_HOST}")];
        requested_hosts.extend(extra.into_iter().map(|c| c.origin));
        ResolverInfo {
            name: "gitlab".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "GitLab repositories, subgroups and self-hosted instances (https and ssh)"
                .into(),
            handles,
            requested_hosts,
        }
    }

    fn resolve(reference: PackRef) -> Result<Resolved, PluginError> {
        let (url, canonical) = locate(&reference.locator)?;
        let ref_ = git_ref(&reference)?;
        Ok(Resolved {
            resolution: Resolution::Git(GitSource {
                url,
                ref_,
                subdir: None,
            }),
            canonical,
            summary: None,
        })
    }

    fn list_versions(reference: PackRef) -> Result<Vec<VersionInfo>, PluginError> {
        let (url, _) = locate(&reference.locator)?;
        let refs = git_list_refs(&url).map_err(|e| net_error(&without_userinfo(&url), e))?;
        Ok(versions_from_refs(refs.iter().map(|r| r.name.as_str()))
            .into_iter()
            .map(|(version, tag)| VersionInfo {
                version,
                ref_: Some(tag),
                yanked: false,
            })
            .collect())
    }
}

export!(Gitlab);
