//! The pack specifier: the argument of `stackpack install` and each entry of a pack's
//! `dependencies`, plus URL redaction.
//!
//! Grammar: `locator [ "=" requested ]`, where `requested` is a version, tag, branch or commit
//! and `locator` is one of
//!
//! | form | example | [`RefKind`] |
//! |---|---|---|
//! | index name | `aws` | `IndexName` |
//! | GitHub shorthand | `StackStorm-Exchange/stackstorm-aws` | `GithubShorthand` |
//! | URL | `https://host/group/pack.git`, `ssh://git@host/pack`, `git://host/pack` | `Url` |
//! | scp-like | `git@gitlab.example.com:group/sub/pack`, `host:pack` | `ScpLike` |
//! | st2's slash form | `git@github.com/owner/repo` | `ScpLike` (path after the first `/`) |
//! | local directory | `file:///srv/packs/aws` | `FileUrl` |
//! | OCI artifact | `oci://registry:5000/packs/aws:1.2.0`, `oci://r/p@sha256:…` | `Oci` |
//!
//! An `oci://` reference is one whole locator: its `:tag` and `@sha256:` are part of it
//! (the `=` split never cuts it), and a `=tag` or a range may still follow
//! (`oci://r/packs/aws=>=1.0,<2`).
//!
//! The separator is the one `=` that is not inside a URL's userinfo (`https://u:t=k@host/p`)
//! or query string (`https://host/repo?x=y`). Unlike st2, which splits on every `=` and keeps
//! the first two parts:
//! - more than one such `=` (`a=b=c`) is an error, not a silent drop of `=c`;
//! - a version range (`some_pack>=1.1.1`, `aws>=1.2,<2`, `aws^1.0`, `aws=~1.2`; see
//!   [`crate::VersionRange`]) is a range, chosen later among the repository's tags, rather
//!   than a lookup of a pack named `some_pack>`;
//! - scp-like locators stay as they are instead of being turned into
//!   `https://github.com/deploy@host:grp/repo`;
//! - bare local paths (`/srv/pack`, `./pack`) are an error asking for `file://`.

use std::fmt;

use crate::CoreError;

/// URL schemes accepted for git remotes (`file` is separate: [`RefKind::FileUrl`]).
const GIT_SCHEMES: [&str; 6] = ["https", "http", "ssh", "git", "git+ssh", "ssh+git"];

/// Characters that make a specifier look like a version range or comparison.
const RANGE_CHARS: [char; 6] = ['>', '<', '~', '^', '*', '!'];

/// What kind of place a locator points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefKind {
    /// A name to look up in the pack indexes, e.g. `aws`.
    IndexName,
    /// `owner/repo` on GitHub.
    GithubShorthand,
    /// A git URL with the given (lowercased) scheme: `https`, `http`, `ssh`, `git`, `git+ssh`,
    /// `ssh+git`.
    Url {
        /// The scheme, lowercased.
        scheme: String,
    },
    /// scp-like `[user@]host:path`, or st2's `user@host/path`.
    ScpLike {
        /// The user before `@`, if any.
        user: Option<String>,
        /// The host.
        host: String,
        /// The path after `:` (or after the first `/` in st2's form).
        path: String,
    },
    /// A `file://` URL: a local git repository or plain directory.
    FileUrl,
    /// An `oci://host[:port]/repo[:tag][@sha256:hex]` artifact in a registry.
    Oci,
}

/// A parsed pack specifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackRef {
    raw: String,
    locator: String,
    requested: Option<String>,
    /// A version range instead of one version (then `requested` is its text).
    range: Option<crate::VersionRange>,
    kind: RefKind,
}

impl PackRef {
    /// Parse a specifier (surrounding whitespace ignored). See the module docs for the grammar.
    pub fn parse(raw: &str) -> Result<PackRef, CoreError> {
        let spec = raw.trim();
        if spec.is_empty() {
            return Err(CoreError::EmptySpec);
        }
        let shown = || redact_url(spec);

        let simple = !spec.contains("://") && !spec.contains(':') && !spec.contains('@');
        let (start, end) = searchable_range(spec);
        // A range starts at its first operator: `aws>=1.2,<2`, `aws^1.2`, `aws==1.0`. `~`,
        // `!` and `*` are ordinary in URL paths, so after a URL a range using them is
        // written after `=` (`https://h/p=~1.2`); `<`, `>` and `^` never appear in a URL.
        let op_chars: &[char] = if simple && !spec.starts_with("~/") {
            &RANGE_CHARS
        } else {
            &['<', '>', '^']
        };
        let region = &spec[start..end];
        let anchor = [region.find(op_chars), region.find("==")]
            .into_iter()
            .flatten()
            .min()
            .map(|p| p + start)
            // In a URL a range comes after the path (`ssh://<user@host>/x` is st2's
            // placeholder, not a range).
            .filter(|&a| simple || !spec[a..].contains('/'));
        let seps: Vec<usize> = separator_positions(spec)
            .into_iter()
            .filter(|&p| anchor.is_none_or(|a| p < a))
            .collect();
        let (locator, requested, range_text) = match (seps.as_slice(), anchor) {
            ([], None) => (spec, None, None),
            ([], Some(a)) => (&spec[..a], None, Some(&spec[a..])),
            // After `=`, operators make a range only when the text reads as one: a git
            // ref may hold `<` or `>` (`x<y` is a tag name, not a comparison).
            ([p], Some(_)) if !looks_like_range(&spec[p + 1..]) => {
                (&spec[..*p], Some(&spec[p + 1..]), None)
            }
            ([p], Some(_)) => (&spec[..*p], None, Some(&spec[p + 1..])),
            ([p], None) => {
                let req = &spec[p + 1..];
                if req.starts_with(|c: char| c == '=' || RANGE_CHARS.contains(&c))
                    || req.contains('*')
                {
                    (&spec[..*p], None, Some(req))
                } else {
                    (&spec[..*p], Some(req), None)
                }
            }
            _ => return Err(CoreError::MultipleSeparators { spec: shown() }),
        };

        let locator = locator.trim_end();
        if locator.is_empty() {
            return Err(CoreError::EmptyLocator { spec: shown() });
        }
        let range = match range_text {
            None => None,
            Some(text) => Some(crate::VersionRange::parse(text).map_err(|reason| {
                CoreError::VersionRange {
                    spec: shown(),
                    reason,
                }
            })?),
        };
        if let Some(req) = requested {
            if req.is_empty() {
                return Err(CoreError::EmptyVersion { spec: shown() });
            }
            if req.contains(char::is_whitespace) {
                return Err(CoreError::UnrecognizedLocator {
                    spec: shown(),
                    reason: "the version after '=' contains whitespace".to_owned(),
                });
            }
        }
        let requested = requested
            .map(str::to_owned)
            .or_else(|| range.as_ref().map(|r| r.to_string()));

        let kind = classify(locator).map_err(|reason| CoreError::UnrecognizedLocator {
            spec: shown(),
            reason,
        })?;
        Ok(PackRef {
            raw: spec.to_owned(),
            locator: locator.to_owned(),
            requested,
            range,
            kind,
        })
    }

    /// The specifier as given (trimmed). May hold credentials: show [`PackRef`]'s `Display`
    /// (or [`redact_url`] of this) instead.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The part before `=`: a name, `owner/repo`, or a git URL.
    pub fn locator(&self) -> &str {
        &self.locator
    }

    /// The version, tag, branch or commit after `=`, or the text of a version range, if
    /// any.
    pub fn requested(&self) -> Option<&str> {
        self.requested.as_deref()
    }

    /// The version range (`aws>=1.2,<2`), if the specifier gives one instead of a version.
    pub fn range(&self) -> Option<&crate::VersionRange> {
        self.range.as_ref()
    }

    /// The same locator without a version or range: what to ask resolvers when the
    /// version is chosen afterwards among the tags of the repository they name.
    pub fn without_version(&self) -> PackRef {
        PackRef {
            raw: self.locator.clone(),
            locator: self.locator.clone(),
            requested: None,
            range: None,
            kind: self.kind.clone(),
        }
    }

    /// What kind of locator this is.
    pub fn kind(&self) -> &RefKind {
        &self.kind
    }

    /// The git remote to clone, or `None` for an index name (look it up in an index).
    /// `owner/repo` becomes `https://github.com/owner/repo`; st2's `user@host/path` becomes
    /// `user@host:path`; everything else is returned unchanged.
    pub fn repo_url(&self) -> Option<String> {
        match &self.kind {
            RefKind::IndexName => None,
            RefKind::GithubShorthand => Some(format!("https://github.com/{}", self.locator)),
            RefKind::ScpLike { user, host, path } => Some(match user {
                Some(user) => format!("{user}@{host}:{path}"),
                None => format!("{host}:{path}"),
            }),
            RefKind::Url { .. } | RefKind::FileUrl | RefKind::Oci => Some(self.locator.clone()),
        }
    }

    /// The installed pack name this specifier most likely refers to; see [`dependency_name`].
    pub fn dependency_name(&self) -> String {
        dependency_name(&self.locator)
    }
}

impl fmt::Display for PackRef {
    /// The specifier with any URL password or token replaced by `***`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_url(&self.raw))
    }
}

impl std::str::FromStr for PackRef {
    type Err = CoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Whether the text after `=` is meant as a version range: it parses as one, or it
/// starts as one does (an operator, a digit, `v` and a digit), so its error is worth
/// reporting as a range's.
fn looks_like_range(text: &str) -> bool {
    let mut chars = text.chars();
    let first = chars.next();
    let starts_like = match first {
        Some(c) if c == '=' || c.is_ascii_digit() || RANGE_CHARS.contains(&c) => true,
        Some('v' | 'V') => chars.next().is_some_and(|c| c.is_ascii_digit()),
        _ => false,
    };
    starts_like || crate::VersionRange::parse(text).is_ok()
}

/// The byte range of `spec` where a version separator may appear: after a URL's userinfo
/// (scheme-ful or scp-like) and before a query string or fragment.
fn searchable_range(spec: &str) -> (usize, usize) {
    let start = if let Some(idx) = spec.find("://") {
        let auth_start = idx + 3;
        let auth_end = spec[auth_start..]
            .find(['/', '?', '#'])
            .map_or(spec.len(), |p| p + auth_start);
        spec[auth_start..auth_end]
            .rfind('@')
            .map_or(auth_start, |at| auth_start + at + 1)
    } else {
        match spec.find('@') {
            Some(at) if !spec[..at].contains([':', '/']) && spec[at + 1..].contains([':', '/']) => {
                at + 1
            }
            _ => 0,
        }
    };
    let end = spec[start..]
        .find(['?', '#'])
        .map_or(spec.len(), |p| p + start);
    (start, end)
}

/// Byte offsets of the `=` characters that may separate locator and version.
fn separator_positions(spec: &str) -> Vec<usize> {
    let (start, end) = searchable_range(spec);
    spec[start..end]
        .match_indices('=')
        .map(|(i, _)| i + start)
        .collect()
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

fn is_name(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && s.chars().all(is_name_char)
}

/// Classify a locator, or say why it fits no form.
fn classify(locator: &str) -> Result<RefKind, String> {
    if locator.contains(char::is_whitespace) {
        return Err("it contains whitespace".to_owned());
    }
    if let Some(idx) = locator.find("://") {
        let scheme = &locator[..idx];
        let valid_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if !valid_scheme {
            return Err(format!("'{scheme}' is not a URL scheme"));
        }
        let scheme = scheme.to_ascii_lowercase();
        let rest = &locator[idx + 3..];
        if scheme == "file" {
            if rest.trim_matches('/').is_empty() {
                return Err("the file:// URL names no directory".to_owned());
            }
            return Ok(RefKind::FileUrl);
        }
        if scheme == "oci" {
            return locator
                .parse::<crate::oci::OciRef>()
                .map(|_| RefKind::Oci)
                .map_err(|e| e.to_string());
        }
        if !GIT_SCHEMES.contains(&scheme.as_str()) {
            return Err(format!(
                "the URL scheme '{scheme}' is not supported (use https, http, ssh, git, file or oci)"
            ));
        }
        let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..auth_end];
        let host = authority
            .rfind('@')
            .map_or(authority, |at| &authority[at + 1..]);
        if host.is_empty() {
            return Err("the URL has no host".to_owned());
        }
        let path = rest[auth_end..].split(['?', '#']).next().unwrap_or("");
        if path.trim_matches('/').is_empty() {
            return Err("the URL has no repository path after the host".to_owned());
        }
        return Ok(RefKind::Url { scheme });
    }

    if locator.starts_with(['/', '~'])
        || locator == "."
        || locator == ".."
        || locator.starts_with("./")
        || locator.starts_with("../")
    {
        return Err(format!(
            "it looks like a local path; give local directories as file:// URLs, e.g. \
             file://{}",
            if locator.starts_with('/') {
                locator.to_owned()
            } else {
                "/absolute/path/to/pack".to_owned()
            }
        ));
    }

    if let Some(colon) = locator.find(':') {
        let before = &locator[..colon];
        let path = &locator[colon + 1..];
        if before.contains('/') {
            return Err("a ':' after a '/' fits no git location form".to_owned());
        }
        let (user, host) = match before.split_once('@') {
            Some((user, host)) => (Some(user), host),
            None => (None, before),
        };
        if user.is_some_and(str::is_empty) {
            return Err("the user before '@' is empty".to_owned());
        }
        if host.is_empty() || host.contains('@') {
            return Err("the host before ':' is missing or malformed".to_owned());
        }
        if path.trim_matches('/').is_empty() {
            return Err("the repository path after ':' is empty".to_owned());
        }
        return Ok(RefKind::ScpLike {
            user: user.map(str::to_owned),
            host: host.to_owned(),
            path: path.to_owned(),
        });
    }

    if let Some(at) = locator.find('@') {
        let user = &locator[..at];
        let rest = &locator[at + 1..];
        return match rest.split_once('/') {
            Some((host, path))
                if !user.is_empty()
                    && !user.contains('/')
                    && !host.is_empty()
                    && !path.trim_matches('/').is_empty() =>
            {
                Ok(RefKind::ScpLike {
                    user: Some(user.to_owned()),
                    host: host.to_owned(),
                    path: path.to_owned(),
                })
            }
            _ => Err(
                "'@' must be followed by host:path (e.g. git@github.com:owner/repo); to pin a \
                 version use name=version"
                    .to_owned(),
            ),
        };
    }

    let segments: Vec<&str> = locator.split('/').collect();
    match segments.as_slice() {
        [name] if is_name(name) => Ok(RefKind::IndexName),
        [_] => Err("a pack name may only contain letters, digits, '_', '-' and '.'".to_owned()),
        [owner, repo] if is_name(owner) && is_name(repo) => Ok(RefKind::GithubShorthand),
        [_, _] => Err("owner/repo needs a non-empty owner and repository name".to_owned()),
        _ => Err(format!(
            "a path with more than one '/' needs a URL scheme, e.g. https://{locator}"
        )),
    }
}

/// Replace the password or token in every URL of `text` with `***`:
/// `https://user:tok@h/…` → `https://user:***@h/…`, `https://tok@h` → `https://***@h`.
/// A lone user name is kept for `ssh` URLs (`ssh://git@host`), where it is not a secret.
/// Text without `scheme://` is returned unchanged; applying it twice changes nothing more.
pub fn redact_url(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(idx) = rest.find("://") {
        let scheme_start = rest[..idx]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .map_or(0, |p| p + 1);
        let scheme = rest[scheme_start..idx].to_ascii_lowercase();
        let auth_start = idx + 3;
        let auth_len = rest[auth_start..]
            .find(|c: char| {
                matches!(c, '/' | '?' | '#' | '"' | '\'' | '<' | '>' | '`') || c.is_whitespace()
            })
            .unwrap_or(rest.len() - auth_start);
        let authority = &rest[auth_start..auth_start + auth_len];
        out.push_str(&rest[..auth_start]);
        match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                let keep_user = scheme.split('+').any(|s| s == "ssh");
                match userinfo.split_once(':') {
                    Some((user, secret)) if !secret.is_empty() => {
                        out.push_str(user);
                        out.push_str(":***");
                    }
                    Some(_) => out.push_str(userinfo),
                    None if userinfo.is_empty() || keep_user => out.push_str(userinfo),
                    None => out.push_str("***"),
                }
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &rest[auth_start + auth_len..];
    }
    out.push_str(rest);
    out
}

/// [`redact_url`] for a text that is meant to be one URL but does not parse as one
/// (a password holding `/`, `?` or `#`, a space in the authority): everything between
/// `://` and the last `@` is replaced with `***`, so no part of a password survives
/// wherever the parser would have ended the authority. Text without `@` goes through
/// [`redact_url`].
pub fn redact_unparsed_url(text: &str) -> String {
    match (text.find("://"), text.rfind('@')) {
        (Some(idx), Some(at)) if at > idx + 3 => {
            format!("{}***{}", &text[..idx + 3], &text[at..])
        }
        (None, Some(at)) if text.contains(':') => format!("***{}", &text[at..]),
        _ => redact_url(text),
    }
}

/// The pack name a dependency locator refers to, for finding it among installed packs: an
/// index name is itself; otherwise take the last path segment (ignoring a query string, a
/// fragment and trailing `/`), strip a trailing `.git` only (st2 cut at the first `.`), then
/// strip a `stackstorm-` prefix (any case), as Exchange repositories are named
/// `stackstorm-<ref>`. Pass the locator, not the whole specifier.
pub fn dependency_name(locator: &str) -> String {
    let trimmed = locator.trim();
    // An OCI repository's last part, without its `@sha256:` digest and `:tag`.
    let oci;
    let trimmed = if crate::oci::is_oci(trimmed) {
        let path = trimmed.split('@').next().unwrap_or(trimmed);
        let last = path.rsplit('/').next().unwrap_or(path);
        oci = last.split(':').next().unwrap_or(last).to_string();
        oci.as_str()
    } else {
        trimmed
    };
    let without_query = if trimmed.contains("://") {
        trimmed.split(['?', '#']).next().unwrap_or(trimmed)
    } else {
        trimmed
    };
    let path = without_query.trim_end_matches('/');
    let last = path.rsplit(['/', ':']).next().unwrap_or(path);
    let base = last.strip_suffix(".git").unwrap_or(last);
    const PREFIX: &str = "stackstorm-";
    match base.get(..PREFIX.len()) {
        Some(head) if head.eq_ignore_ascii_case(PREFIX) && base.len() > PREFIX.len() => {
            base[PREFIX.len()..].to_owned()
        }
        _ => base.to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn p(raw: &str) -> PackRef {
        PackRef::parse(raw).unwrap_or_else(|e| panic!("{raw}: {e}"))
    }

    fn e(raw: &str) -> CoreError {
        PackRef::parse(raw).expect_err(raw)
    }

    fn unchanged_url(raw: &str, scheme: &str) {
        let r = p(raw);
        assert_eq!(
            r.kind(),
            &RefKind::Url {
                scheme: scheme.into()
            },
            "{raw}"
        );
        assert_eq!(r.repo_url().as_deref(), Some(raw));
        assert_eq!(r.requested(), None);
    }

    #[test]
    fn github_shorthand() {
        for (raw, url) in [
            (
                "stackstorm/st2contrib",
                "https://github.com/stackstorm/st2contrib",
            ),
            (
                "StackStorm-Exchange/stackstorm-test",
                "https://github.com/StackStorm-Exchange/stackstorm-test",
            ),
        ] {
            let r = p(raw);
            assert_eq!(r.kind(), &RefKind::GithubShorthand);
            assert_eq!(r.repo_url().as_deref(), Some(url));
        }
    }

    #[test]
    fn scp_like_unchanged() {
        let r = p("git@github.com:StackStorm/st2contrib.git");
        assert_eq!(
            r.kind(),
            &RefKind::ScpLike {
                user: Some("git".into()),
                host: "github.com".into(),
                path: "StackStorm/st2contrib.git".into()
            }
        );
        assert_eq!(
            r.repo_url().as_deref(),
            Some("git@github.com:StackStorm/st2contrib.git")
        );
        assert_eq!(
            p("git@github.com:foo/bar.git").repo_url().as_deref(),
            Some("git@github.com:foo/bar.git")
        );
        let r = p("gitlab@gitlab.com:StackStorm/st2contrib.git");
        assert!(matches!(r.kind(), RefKind::ScpLike { user: Some(u), .. } if u == "gitlab"));
        assert_eq!(
            r.repo_url().as_deref(),
            Some("gitlab@gitlab.com:StackStorm/st2contrib.git")
        );
    }

    #[test]
    fn urls_unchanged() {
        unchanged_url("https://github.com/StackStorm/st2contrib.git", "https");
        unchanged_url(
            "https://git-wip-us.apache.org/repos/asf/libcloud.git",
            "https",
        );
        unchanged_url(
            "https://github.com/StackStorm-Exchange/stackstorm-test",
            "https",
        );
        unchanged_url(
            "https://github.com/StackStorm-Exchange/stackstorm-test.git",
            "https",
        );
        unchanged_url("git://StackStorm-Exchange/stackstorm-test", "git");
        unchanged_url("git://StackStorm-Exchange/stackstorm-test.git", "git");
        unchanged_url("ssh://<user@host>/AutomationStackStorm", "ssh");
        unchanged_url("ssh://joe@local/AutomationStackStorm", "ssh");
        unchanged_url("HTTPS://example.com/p", "https");
    }

    /// Safe outcome: an OCI reference stays one locator, whatever `:` and `@` it holds;
    /// a `=tag` or a range after it is split off; its dependency name is the
    /// repository's last part.
    #[test]
    fn oci_references_are_one_locator() {
        let hex = "c".repeat(64);
        for raw in [
            "oci://127.0.0.1:5000/packs/hello:1.0".to_string(),
            format!("oci://127.0.0.1:5000/packs/hello@sha256:{hex}"),
            format!("oci://reg.example/packs/stackstorm-hello:1.0@sha256:{hex}"),
        ] {
            let r = p(&raw);
            assert_eq!(r.kind(), &RefKind::Oci, "{raw}");
            assert_eq!(r.locator(), raw);
            assert_eq!(r.requested(), None, "{raw}");
            assert_eq!(r.dependency_name(), "hello", "{raw}");
            assert_eq!(r.repo_url().as_deref(), Some(raw.as_str()));
        }
        let r = p("oci://127.0.0.1:5000/packs/hello=1.2.0");
        assert_eq!(
            (r.locator(), r.requested()),
            ("oci://127.0.0.1:5000/packs/hello", Some("1.2.0"))
        );
        let r = p("oci://127.0.0.1:5000/packs/hello=>=1.0,<2");
        assert_eq!(r.locator(), "oci://127.0.0.1:5000/packs/hello");
        assert_eq!(
            r.range().map(|x| x.to_string()).as_deref(),
            Some(">=1.0,<2")
        );
        let r = p("oci://127.0.0.1:5000/packs/hello>=1.1");
        assert_eq!(r.locator(), "oci://127.0.0.1:5000/packs/hello");
        assert!(r.range().is_some());
        let e = e("oci://127.0.0.1:5000").to_string();
        assert!(e.contains("oci://127.0.0.1:5000"), "{e}");
    }

    #[test]
    fn file_urls() {
        for raw in [
            "file:///home/vagrant/stackstorm-test",
            "file://localhost/home/vagrant/stackstorm-test",
        ] {
            let r = p(raw);
            assert_eq!(r.kind(), &RefKind::FileUrl);
            assert_eq!(r.repo_url().as_deref(), Some(raw));
        }
        let r = p("file:///srv/packs/aws=v1.2.0");
        assert_eq!(r.locator(), "file:///srv/packs/aws");
        assert_eq!(r.requested(), Some("v1.2.0"));
        assert!(matches!(
            e("file://"),
            CoreError::UnrecognizedLocator { .. }
        ));
    }

    #[test]
    fn empty_specifier() {
        for raw in ["", "   "] {
            let err = e(raw);
            assert_eq!(err, CoreError::EmptySpec);
            assert!(
                err.to_string()
                    .starts_with("No valid repo_url provided or could be inferred.")
            );
        }
    }

    // The parsing part only: looking the name up is the index's job.
    #[test]
    fn index_names() {
        let r = p("test");
        assert_eq!(r.kind(), &RefKind::IndexName);
        assert_eq!(r.locator(), "test");
        assert_eq!(r.requested(), None);
        assert_eq!(r.repo_url(), None);
        let r = p("test=1.2.3");
        assert_eq!((r.locator(), r.requested()), ("test", Some("1.2.3")));
        assert_eq!(p("doesntexist").kind(), &RefKind::IndexName);
        assert_eq!(p(" aws ").raw(), "aws");
    }

    #[test]
    fn versions_on_urls() {
        let r = p("StackStorm-Exchange/stackstorm-test=v1.0.0");
        assert_eq!(
            r.repo_url().as_deref(),
            Some("https://github.com/StackStorm-Exchange/stackstorm-test")
        );
        assert_eq!(r.requested(), Some("v1.0.0"));
        let r = p("git@github.com:foo/pack8.git=v3.2.1");
        assert_eq!(
            r.repo_url().as_deref(),
            Some("git@github.com:foo/pack8.git")
        );
        assert_eq!(r.requested(), Some("v3.2.1"));
        let r = p("https://github.com/StackStorm-Exchange/stackstorm-pack3.git=v2.1.1");
        assert_eq!(
            r.locator(),
            "https://github.com/StackStorm-Exchange/stackstorm-pack3.git"
        );
        assert_eq!(r.requested(), Some("v2.1.1"));
        let r = p("https://host/repo=feature/x");
        assert_eq!(r.requested(), Some("feature/x"));
    }

    // st2 parsed `some_pack>=1.1.1` as the pack `some_pack>` (its issue 5318); here it is the
    // pack `some_pack` with a version range.
    #[test]
    fn ranges_are_parsed() {
        let r = p("some_pack>=1.1.1");
        assert_eq!(r.locator(), "some_pack");
        assert_eq!(r.kind(), &RefKind::IndexName);
        assert_eq!(r.requested(), Some(">=1.1.1"));
        assert!(r.range().is_some_and(|x| x.matches_text("1.2.0")));
        assert_eq!(r.without_version().raw(), "some_pack");
        for (raw, locator, range) in [
            ("aws^1.0", "aws", "^1.0"),
            ("aws~1.0", "aws", "~1.0"),
            ("aws>1", "aws", ">1"),
            ("aws<2", "aws", "<2"),
            ("aws!=1.0", "aws", "!=1.0"),
            ("aws==1.0.0", "aws", "==1.0.0"),
            ("aws~=1.2", "aws", "~=1.2"),
            ("a>=1,<=2", "a", ">=1,<=2"),
            ("a>=1.2, <2", "a", ">=1.2,<2"),
            ("aws=^1.0", "aws", "^1.0"),
            ("aws=>1.0", "aws", ">1.0"),
            ("aws=1.*", "aws", "1.*"),
            ("git@h:g/p>=1.0", "git@h:g/p", ">=1.0"),
            ("https://h/g/p>=1.0", "https://h/g/p", ">=1.0"),
            ("https://h/g/p=~1.0", "https://h/g/p", "~1.0"),
            ("o/repo>=2", "o/repo", ">=2"),
        ] {
            let r = p(raw);
            assert_eq!(r.locator(), locator, "{raw}");
            assert_eq!(
                r.range().map(|x| x.to_string()).as_deref(),
                Some(range),
                "{raw}"
            );
            assert_eq!(r.requested(), Some(range), "{raw}");
        }
        // Credentials in the userinfo stay out of the range and of messages.
        let r = p("https://u:t=k@h/~u/p>=1.0");
        assert_eq!(r.locator(), "https://u:t=k@h/~u/p");
        assert_eq!(r.to_string(), "https://u:***@h/~u/p>=1.0");
        // An exact pin is not a range.
        assert!(p("aws=1.0.0").range().is_none());
        // A ref holding `<` or `>` that does not read as a range is a ref.
        let odd = p("file:///srv/odd.git=x<y>z");
        assert!(odd.range().is_none());
        assert_eq!(odd.requested(), Some("x<y>z"));
        assert!(PackRef::parse("aws=1.2,<2").is_ok_and(|r| r.range().is_some()));
        for raw in [
            "aws>=",
            "aws*",
            "aws>=1.x.y",
            "aws=>=1=2",
            "https://u:t=k@h/p>=x",
        ] {
            assert!(
                matches!(
                    e(raw),
                    CoreError::VersionRange { .. } | CoreError::MultipleSeparators { .. }
                ),
                "{raw}: {:?}",
                e(raw)
            );
        }
        match e("https://u:t=k@h/p>=x") {
            CoreError::VersionRange { spec, .. } => assert_eq!(spec, "https://u:***@h/p>=x"),
            other => panic!("{other:?}"),
        }
        // `~` and `!` are ordinary in URL paths.
        assert_eq!(
            p("ssh://host/~user/pack.git").locator(),
            "ssh://host/~user/pack.git"
        );
        assert!(matches!(
            p("git@host:~user/pack").kind(),
            RefKind::ScpLike { .. }
        ));
    }

    #[test]
    fn more_than_one_separator() {
        let err = e("a=b=c");
        assert_eq!(
            err,
            CoreError::MultipleSeparators {
                spec: "a=b=c".into()
            }
        );
        assert!(err.to_string().contains("contains more than one '='"));
        assert!(matches!(
            e("https://h/a=b/repo=v1"),
            CoreError::MultipleSeparators { .. }
        ));
    }

    // st2 rewrote `deploy@host:grp/repo` to `https://github.com/deploy@host:grp/repo`.
    #[test]
    fn scp_like_not_rewritten() {
        let r = p("deploy@host:grp/repo");
        assert_eq!(
            r.kind(),
            &RefKind::ScpLike {
                user: Some("deploy".into()),
                host: "host".into(),
                path: "grp/repo".into()
            }
        );
        assert_eq!(r.repo_url().as_deref(), Some("deploy@host:grp/repo"));
        let r = p("git@gitlab.example.com:group/sub/pack=1.0.0");
        assert_eq!(
            r.kind(),
            &RefKind::ScpLike {
                user: Some("git".into()),
                host: "gitlab.example.com".into(),
                path: "group/sub/pack".into()
            }
        );
        assert_eq!(r.requested(), Some("1.0.0"));
        let r = p("gitlab.example.com:group/pack");
        assert!(matches!(r.kind(), RefKind::ScpLike { user: None, .. }));
        assert_eq!(
            r.repo_url().as_deref(),
            Some("gitlab.example.com:group/pack")
        );
    }

    #[test]
    fn st2_slash_form_is_scp_like() {
        let r = p("git@github.com/owner/repo=v1");
        assert_eq!(
            r.kind(),
            &RefKind::ScpLike {
                user: Some("git".into()),
                host: "github.com".into(),
                path: "owner/repo".into()
            }
        );
        assert_eq!(r.repo_url().as_deref(), Some("git@github.com:owner/repo"));
        assert_eq!(r.requested(), Some("v1"));
    }

    // '=' in userinfo and query strings is not a separator.
    #[test]
    fn equals_in_userinfo_and_query() {
        let r = p("https://u:t=k@host/p=v1");
        assert_eq!(r.locator(), "https://u:t=k@host/p");
        assert_eq!(r.requested(), Some("v1"));
        assert_eq!(r.to_string(), "https://u:***@host/p=v1");
        let r = p("https://host/repo?x=y");
        assert_eq!(r.locator(), "https://host/repo?x=y");
        assert_eq!(r.requested(), None);
        let r = p("https://a=b@host/repo");
        assert_eq!(r.requested(), None);
        let r = p("us=er@host:grp/repo=main");
        assert_eq!(r.locator(), "us=er@host:grp/repo");
        assert_eq!(r.requested(), Some("main"));
    }

    #[test]
    fn empty_parts_are_errors() {
        assert_eq!(
            e("=1.0"),
            CoreError::EmptyLocator {
                spec: "=1.0".into()
            }
        );
        assert_eq!(
            e("aws="),
            CoreError::EmptyVersion {
                spec: "aws=".into()
            }
        );
        assert!(
            e("aws=")
                .to_string()
                .contains("has an empty version after '='")
        );
        assert!(
            e("aws=1.0 beta")
                .to_string()
                .contains("is not recognised: the version after '=' contains whitespace.")
        );
        // A secret in the spec never reaches the message.
        let msg = e("https://u:secret@h/p=").to_string();
        assert!(msg.contains("https://u:***@h/p="), "{msg}");
        assert!(!msg.contains("secret"));
    }

    #[test]
    fn unrecognized_locators_list_forms() {
        let err = e("/x/y/z");
        let msg = err.to_string();
        assert!(msg.contains("file:///x/y/z"), "{msg}");
        assert!(msg.ends_with(
            "Accepted forms: name, name=version, owner/repo, https://host/path[.git][=ref], \
             ssh://user@host/path[=ref], git@host:group/pack[=ref], file:///dir[=ref]."
        ));
        for raw in [
            "./pack",
            "~/pack",
            "github.com/owner/repo",
            "my pack",
            "ftp://h/p",
            "https://h",
            "https:///p",
            "a/",
            "aws@1.0",
            "pack$",
            "1http://h/p",
            "@host:p",
            "h:",
            "a/b:c",
        ] {
            assert!(
                matches!(e(raw), CoreError::UnrecognizedLocator { .. }),
                "{raw}"
            );
        }
        let msg = e("github.com/owner/repo").to_string();
        assert!(msg.contains("e.g. https://github.com/owner/repo"), "{msg}");
    }

    #[test]
    fn display_and_from_str() {
        let r: PackRef = "https://tok@h/p=1.0.0".parse().unwrap();
        assert_eq!(r.to_string(), "https://***@h/p=1.0.0");
        assert_eq!(r.raw(), "https://tok@h/p=1.0.0");
    }

    #[test]
    fn unparsed_urls_lose_everything_before_the_last_at() {
        for (raw, shown) in [
            ("https://user:SE/CRET@host/x", "https://***@host/x"),
            ("https://user:SE?CRET@host:1/x", "https://***@host:1/x"),
            ("https://user:SE#CRET@host", "https://***@host"),
            ("https://user:SE CRET@host/x", "https://***@host/x"),
            ("https:user:SECRET@host/x", "***@host/x"),
            ("https://host/x", "https://host/x"),
        ] {
            assert_eq!(redact_unparsed_url(raw), shown, "{raw}");
        }
    }

    #[test]
    fn redaction() {
        assert_eq!(redact_url("https://user:tok@h/x"), "https://user:***@h/x");
        assert_eq!(redact_url("https://tok@h"), "https://***@h");
        assert_eq!(redact_url("https://h/x"), "https://h/x");
        assert_eq!(redact_url("ssh://joe@local/x"), "ssh://joe@local/x");
        assert_eq!(redact_url("git+ssh://git:pw@h/x"), "git+ssh://git:***@h/x");
        assert_eq!(
            redact_url("git@github.com:foo/bar"),
            "git@github.com:foo/bar"
        );
        assert_eq!(redact_url("https://u:p@ss@h/x"), "https://u:***@h/x");
        assert_eq!(redact_url("https://u:@h/x"), "https://u:@h/x");
        assert_eq!(
            redact_url("clone of 'https://a:b@h1/r' failed; tried http://t@h2?x=1 too"),
            "clone of 'https://a:***@h1/r' failed; tried http://***@h2?x=1 too"
        );
        let once = redact_url("https://user:tok@h/x https://tok@h");
        assert_eq!(redact_url(&once), once);
        assert_eq!(redact_url("no url here"), "no url here");
        assert_eq!(redact_url("://weird@x"), "://***@x");
    }

    // Only a trailing `.git` is stripped (st2 cut the name at the first `.`).
    #[test]
    fn dependency_names() {
        for (locator, name) in [
            ("uninstalled_pack", "uninstalled_pack"),
            (
                "https://github.com/StackStorm-Exchange/stackstorm-pack1",
                "pack1",
            ),
            (
                "https://github.com/StackStorm-Exchange/stackstorm-pack2.git",
                "pack2",
            ),
            ("StackStorm-Exchange/stackstorm-pack4", "pack4"),
            ("git://StackStorm-Exchange/stackstorm-pack6.git", "pack6"),
            ("git@github.com:foo/pack8.git", "pack8"),
            ("file:///home/vagrant/stackstorm-pack9", "pack9"),
            ("file://localhost/home/vagrant/stackstorm-pack10", "pack10"),
            (
                "ssh://joe@local/AutomationStackStorm12",
                "AutomationStackStorm12",
            ),
            (
                "https://github.com/StackStorm-Exchange/stackstorm-bar.git",
                "bar",
            ),
            ("https://host/group/foo.bar.git", "foo.bar"),
            ("https://host/group/pack/", "pack"),
            ("https://host/group/pack.git?ref=x", "pack"),
            ("git@host:pack.git", "pack"),
            ("StackStorm-Exchange/StackStorm-Foo", "Foo"),
            ("owner/stackstorm-", "stackstorm-"),
            ("owner/mypack.gitx", "mypack.gitx"),
        ] {
            assert_eq!(dependency_name(locator), name, "{locator}");
        }
        assert_eq!(
            p("https://github.com/StackStorm-Exchange/stackstorm-pack3.git=v2.1.1")
                .dependency_name(),
            "pack3"
        );
    }
}
