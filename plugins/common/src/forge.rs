//! Locator matching shared by the forge resolvers (GitHub, GitLab): which locators a
//! forge claims, the git URL to fetch and the canonical identity, as plain strings.

use crate::{
    GitLocator, canonical_identity, compare_versions, parse_git_locator, parse_owner_repo,
    repo_path_segments, strip_tag_v, without_userinfo,
};

/// What a forge accepts.
pub struct ForgeRules<'a> {
    /// For messages: "GitHub".
    pub name: &'a str,
    /// Whether a (lower-cased) host name belongs to this forge.
    pub is_host: &'a dyn Fn(&str) -> bool,
    /// `owner/repo` shorthand expands to `https://<this host>/owner/repo`.
    pub shorthand_host: Option<&'a str>,
    /// The public host that only serves https: `http://` is upgraded for it.
    pub https_only_host: Option<&'a str>,
    pub min_segments: usize,
    pub max_segments: Option<usize>,
    /// GitLab: a `-` segment starts a web route (`/-/tree/main`), never a repo path.
    pub reject_dash_segment: bool,
    /// Shown when a locator for this forge is malformed: the forms that work.
    pub expected: &'a str,
}

/// The outcome of [`match_forge`].
#[derive(Debug, PartialEq, Eq)]
pub enum ForgeMatch {
    /// Not this forge's: let the next resolver try.
    NotApplicable,
    /// This forge's host, but malformed: the message says what is expected.
    Invalid(String),
    /// `url`: what git should fetch (credentials and ssh form kept as written);
    /// `canonical`: `host/path` without credentials or `.git`.
    Repo { url: String, canonical: String },
}

/// Classifies a locator for a forge (see [`ForgeRules`]).
pub fn match_forge(locator: &str, rules: &ForgeRules<'_>) -> ForgeMatch {
    if let (Some(host), Some((owner, repo))) = (rules.shorthand_host, parse_owner_repo(locator)) {
        return ForgeMatch::Repo {
            url: format!("https://{host}/{owner}/{repo}"),
            canonical: canonical_identity(host, &format!("{owner}/{repo}")),
        };
    }
    let Some(loc) = parse_git_locator(locator) else {
        return ForgeMatch::NotApplicable;
    };
    let host = loc.host().to_ascii_lowercase();
    if !(rules.is_host)(&host) {
        return ForgeMatch::NotApplicable;
    }
    let invalid = |what: &str| {
        ForgeMatch::Invalid(format!(
            "\"{}\" is not a valid {} repository: {what}; expected {}",
            without_userinfo(locator),
            rules.name,
            rules.expected
        ))
    };
    let url = match loc {
        GitLocator::Url(u) => {
            let scheme = u.scheme.to_ascii_lowercase();
            match scheme.as_str() {
                "https" | "ssh" | "git+ssh" | "ssh+git" => locator.to_string(),
                "http" if rules.https_only_host == Some(host.as_str()) => {
                    format!("https://{}", &locator[u.scheme.len() + 3..])
                }
                "http" => locator.to_string(),
                "git" => return invalid("the unauthenticated git:// protocol is not supported"),
                _ => return ForgeMatch::NotApplicable,
            }
        }
        GitLocator::Scp(_) => locator.to_string(),
        // Not a URL git understands (it would be a local path): rewrite as scp-like.
        GitLocator::St2Ssh(s) => match s.user {
            Some(user) => format!("{user}@{}:{}", s.host, s.path),
            None => format!("{}:{}", s.host, s.path),
        },
    };
    if let GitLocator::Url(u) = loc
        && (u.query.is_some() || u.fragment.is_some())
    {
        return invalid("a query string or fragment is not allowed");
    }
    let segments = match repo_path_segments(loc.path()) {
        Ok(s) => s,
        Err(e) => return invalid(&e),
    };
    if rules.reject_dash_segment && segments.contains(&"-") {
        return invalid("that is a web page address (it has a \"/-/\" part), not a repository");
    }
    if segments.len() < rules.min_segments {
        return invalid("the path names too few segments");
    }
    if rules.max_segments.is_some_and(|max| segments.len() > max) {
        return invalid("the path names too many segments");
    }
    ForgeMatch::Repo {
        url,
        canonical: canonical_identity(&host, &segments.join("/")),
    }
}

/// Turns `git ls-remote` ref names into `(version, tag)` pairs, newest first: only
/// `refs/tags/*`, peeled `^{}` duplicates dropped, `version` without a leading `v`.
pub fn versions_from_refs<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<(String, String)> {
    let mut tags: Vec<&str> = names
        .into_iter()
        .filter_map(|n| n.strip_prefix("refs/tags/"))
        .map(|t| t.strip_suffix("^{}").unwrap_or(t))
        .filter(|t| !t.is_empty())
        .collect();
    tags.sort_unstable();
    tags.dedup();
    let mut out: Vec<(String, String)> = tags
        .into_iter()
        .map(|t| (strip_tag_v(t).to_string(), t.to_string()))
        .collect();
    out.sort_by(|a, b| compare_versions(&b.0, &a.0).then_with(|| b.1.cmp(&a.1)));
    out
}

/// What a git forge resolver fetches for a requested version: `Ok(None)` is the
/// default branch, `Ok(Some(name))` a name the host resolves in st2's order (tag,
/// `v`-tag, branch, commit); an empty version after `=` is an error saying so.
pub fn requested_git_ref(locator: &str, requested: Option<&str>) -> Result<Option<String>, String> {
    match requested {
        None => Ok(None),
        Some("") => Err(format!(
            "\"{}=\" has nothing after '='; give a tag, branch or commit, or drop the '='",
            without_userinfo(locator)
        )),
        Some(v) => Ok(Some(v.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn github() -> ForgeRules<'static> {
        ForgeRules {
            name: "GitHub",
            is_host: &|h| h == "github.com" || h == "ghe.corp",
            shorthand_host: Some("github.com"),
            https_only_host: Some("github.com"),
            min_segments: 2,
            max_segments: Some(2),
            reject_dash_segment: false,
            expected: "OWNER/REPO",
        }
    }

    fn gitlab() -> ForgeRules<'static> {
        ForgeRules {
            name: "GitLab",
            is_host: &|h| h == "gitlab.com" || h.starts_with("gitlab."),
            shorthand_host: None,
            https_only_host: Some("gitlab.com"),
            min_segments: 2,
            max_segments: None,
            reject_dash_segment: true,
            expected: "GROUP/.../PROJECT",
        }
    }

    fn repo(url: &str, canonical: &str) -> ForgeMatch {
        ForgeMatch::Repo {
            url: url.into(),
            canonical: canonical.into(),
        }
    }

    #[test]
    fn github_forms() {
        let r = github();
        let cases = [
            (
                "owner/repo",
                "https://github.com/owner/repo",
                "github.com/owner/repo",
            ),
            ("o/r.git", "https://github.com/o/r.git", "github.com/o/r"),
            (
                "https://github.com/o/r.git",
                "https://github.com/o/r.git",
                "github.com/o/r",
            ),
            (
                "http://github.com/o/r",
                "https://github.com/o/r",
                "github.com/o/r",
            ),
            (
                "https://u:tok@github.com/o/r",
                "https://u:tok@github.com/o/r",
                "github.com/o/r",
            ),
            (
                "ssh://git@github.com/o/r",
                "ssh://git@github.com/o/r",
                "github.com/o/r",
            ),
            (
                "git@github.com:o/r.git",
                "git@github.com:o/r.git",
                "github.com/o/r",
            ),
            ("git@github.com/o/r", "git@github.com:o/r", "github.com/o/r"),
            ("git@GHE.corp:o/r", "git@GHE.corp:o/r", "ghe.corp/o/r"),
            ("http://ghe.corp/o/r", "http://ghe.corp/o/r", "ghe.corp/o/r"),
            (
                "https://github.com/o/r/",
                "https://github.com/o/r/",
                "github.com/o/r",
            ),
        ];
        for (locator, url, canonical) in cases {
            assert_eq!(match_forge(locator, &r), repo(url, canonical), "{locator}");
        }
    }

    #[test]
    fn github_rejections() {
        let r = github();
        for na in [
            "sensu",
            "https://gitlab.com/o/r",
            "git@gitlab.com:o/r",
            "file:///x/y",
            "ftp://github.com/o/r",
            "a/b/c",
        ] {
            assert_eq!(match_forge(na, &r), ForgeMatch::NotApplicable, "{na}");
        }
        for bad in [
            "https://github.com/onlyowner",
            "https://github.com/o/r/tree/main",
            "https://github.com/o/r?tab=x",
            "git://github.com/o/r",
            "git@github.com:o",
            "https://github.com/o/r%20x",
        ] {
            match match_forge(bad, &r) {
                ForgeMatch::Invalid(msg) => assert!(msg.contains("expected OWNER/REPO"), "{msg}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn gitlab_forms() {
        let r = gitlab();
        let cases = [
            (
                "https://gitlab.com/g/sub/pack.git",
                "https://gitlab.com/g/sub/pack.git",
                "gitlab.com/g/sub/pack",
            ),
            (
                "git@gitlab.com:g/sub/pack",
                "git@gitlab.com:g/sub/pack",
                "gitlab.com/g/sub/pack",
            ),
            (
                "git@gitlab.com/g/sub/pack",
                "git@gitlab.com:g/sub/pack",
                "gitlab.com/g/sub/pack",
            ),
            (
                "ssh://git@gitlab.example.com:2222/g/p",
                "ssh://git@gitlab.example.com:2222/g/p",
                "gitlab.example.com/g/p",
            ),
        ];
        for (locator, url, canonical) in cases {
            assert_eq!(match_forge(locator, &r), repo(url, canonical), "{locator}");
        }
        assert_eq!(match_forge("g/p", &r), ForgeMatch::NotApplicable);
        assert!(matches!(
            match_forge("https://gitlab.com/g", &r),
            ForgeMatch::Invalid(_)
        ));
        assert!(matches!(
            match_forge("https://gitlab.com/g/p/-/tree/main", &r),
            ForgeMatch::Invalid(_)
        ));
    }

    #[test]
    fn refs_to_versions() {
        let refs = [
            "HEAD",
            "refs/heads/main",
            "refs/tags/v1.0.0",
            "refs/tags/v1.0.0^{}",
            "refs/tags/1.2.0",
            "refs/tags/v0.9.1",
            "refs/tags/nightly",
            "refs/pull/1/head",
        ];
        let v = versions_from_refs(refs);
        assert_eq!(
            v,
            [
                ("1.2.0".to_string(), "1.2.0".to_string()),
                ("1.0.0".into(), "v1.0.0".into()),
                ("0.9.1".into(), "v0.9.1".into()),
                ("nightly".into(), "nightly".into()),
            ]
        );
    }
}
