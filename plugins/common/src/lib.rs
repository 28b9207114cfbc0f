//! Pure string helpers shared by stackpack's built-in guest plugins.
//!
//! Nothing here knows about WIT types or the host: every function maps strings to
//! strings (or to borrowed parts of its input), so the crate builds and tests on any
//! target, `cargo test -p plugin-common` on the build machine included.
//!
//! The locator forms understood here are the ones StackStorm users type:
//! - URLs: `scheme://[userinfo@]host[:port]/path` ([`parse_url`]);
//! - git's scp-like form: `[user@]host:path` ([`parse_scp_like`]);
//! - st2's ssh form without a colon: `user@host/path` ([`parse_st2_ssh`]);
//! - GitHub shorthand: `owner/repo` ([`parse_owner_repo`]);
//! - index names: `name` ([`is_bare_name`]).
#![forbid(unsafe_code)]

pub mod forge;
mod version;

pub use version::{compare_versions, strip_tag_v};

/// Strips one trailing `.git`, and only that: `my.pack.git` -> `my.pack`, `my.pack`
/// stays `my.pack` (never split on the first dot).
pub fn strip_dot_git(s: &str) -> &str {
    s.strip_suffix(".git").unwrap_or(s)
}

/// The parts of `scheme://[userinfo@]host[:port][/path][?query][#fragment]`, borrowed
/// from the input. `host` keeps the brackets of an IPv6 literal; `path` keeps its
/// leading `/` and is empty when the URL has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UrlParts<'a> {
    pub scheme: &'a str,
    pub userinfo: Option<&'a str>,
    pub host: &'a str,
    pub port: Option<&'a str>,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub fragment: Option<&'a str>,
}

impl UrlParts<'_> {
    /// Case-insensitive scheme test.
    pub fn scheme_is(&self, scheme: &str) -> bool {
        self.scheme.eq_ignore_ascii_case(scheme)
    }
}

/// Parses `scheme://[userinfo@]host[:port][/path][?query][#fragment]`. The userinfo
/// ends at the last `@` of the authority, so an unencoded `@` in a password still
/// parses. Returns `None` when there is no `://`, the scheme is not
/// `ALPHA *(ALPHA / DIGIT / "+" / "-" / ".")`, the port is not numeric, or the
/// authority contains whitespace.
pub fn parse_url(s: &str) -> Option<UrlParts<'_>> {
    let (scheme, rest) = s.split_once("://")?;
    let mut chars = scheme.chars();
    if !chars.next()?.is_ascii_alphabetic()
        || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        return None;
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if authority.chars().any(char::is_whitespace) {
        return None;
    }
    let (userinfo, hostport) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    let (host, port) = split_host_port(hostport)?;
    let (tail, fragment) = match tail.split_once('#') {
        Some((t, f)) => (t, Some(f)),
        None => (tail, None),
    };
    let (path, query) = match tail.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (tail, None),
    };
    Some(UrlParts {
        scheme,
        userinfo,
        host,
        port,
        path,
        query,
        fragment,
    })
}

fn split_host_port(hostport: &str) -> Option<(&str, Option<&str>)> {
    let (host, port) = if hostport.starts_with('[') {
        let close = hostport.find(']')?;
        let (host, after) = hostport.split_at(close + 1);
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':')?)),
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    match port {
        // `host:` is a valid URL with the default port.
        Some("") => Some((host, None)),
        Some(p) if !p.bytes().all(|b| b.is_ascii_digit()) => None,
        _ => Some((host, port)),
    }
}

/// An ssh location without a scheme: `user` (if any), `host` and the path exactly as
/// written after the separator (`owner/repo.git`, `/srv/git/x`, `~me/x`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SshParts<'a> {
    pub user: Option<&'a str>,
    pub host: &'a str,
    pub path: &'a str,
}

/// git's scp-like syntax `[user@]host:path`: no `://`, and a `:` before the first
/// `/` (git's own rule for telling it from a local path).
pub fn parse_scp_like(s: &str) -> Option<SshParts<'_>> {
    if s.contains("://") {
        return None;
    }
    let colon = s.find(':')?;
    if s.find('/').is_some_and(|slash| slash < colon) {
        return None;
    }
    let (left, path) = (&s[..colon], &s[colon + 1..]);
    let (user, host) = match left.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, left),
    };
    ssh_parts(user, host, path)
}

/// st2's colon-less ssh form `user@host/path` (what `st2 pack install` accepts and
/// rewrites as `git@github.com/owner/repo`). The user is required: without it the
/// string is a plain relative path.
pub fn parse_st2_ssh(s: &str) -> Option<SshParts<'_>> {
    if s.contains("://") {
        return None;
    }
    let (left, path) = s.split_once('/')?;
    if left.contains(':') {
        return None;
    }
    let (user, host) = left.rsplit_once('@')?;
    ssh_parts(Some(user), host, path)
}

fn ssh_parts<'a>(user: Option<&'a str>, host: &'a str, path: &'a str) -> Option<SshParts<'a>> {
    let bad = |s: &str| s.is_empty() || s.chars().any(char::is_whitespace);
    if bad(host) || bad(path) || user.is_some_and(bad) || host.contains(['@', '[', ']']) {
        return None;
    }
    Some(SshParts { user, host, path })
}

/// A git remote in any of the three spellings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GitLocator<'a> {
    /// `scheme://...`
    Url(UrlParts<'a>),
    /// `[user@]host:path`
    Scp(SshParts<'a>),
    /// `user@host/path`
    St2Ssh(SshParts<'a>),
}

impl<'a> GitLocator<'a> {
    pub fn host(&self) -> &'a str {
        match self {
            GitLocator::Url(u) => u.host,
            GitLocator::Scp(s) | GitLocator::St2Ssh(s) => s.host,
        }
    }

    /// The repository path without its leading `/`.
    pub fn path(&self) -> &'a str {
        match self {
            GitLocator::Url(u) => u.path.trim_start_matches('/'),
            GitLocator::Scp(s) | GitLocator::St2Ssh(s) => s.path.trim_start_matches('/'),
        }
    }
}

/// Parses a git remote: a URL when it contains `://`, else the scp-like form, else
/// st2's `user@host/path`.
pub fn parse_git_locator(s: &str) -> Option<GitLocator<'_>> {
    if s.contains("://") {
        return parse_url(s).map(GitLocator::Url);
    }
    parse_scp_like(s)
        .map(GitLocator::Scp)
        .or_else(|| parse_st2_ssh(s).map(GitLocator::St2Ssh))
}

/// A repository path segment as the forges allow it: `[A-Za-z0-9_.-]+`, not `.`/`..`.
pub fn is_path_segment(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Splits a repository path (`/group/sub/pack.git/`) into segments without the
/// trailing `.git`: leading and trailing slashes are ignored. Errors name the first
/// segment that is not a valid [`is_path_segment`].
pub fn repo_path_segments(path: &str) -> Result<Vec<&str>, String> {
    let trimmed = strip_dot_git(path.trim_matches('/'));
    if trimmed.is_empty() {
        return Ok(Vec::new());
    }
    trimmed
        .split('/')
        .map(|seg| {
            if is_path_segment(seg) {
                Ok(seg)
            } else if seg.is_empty() {
                Err(format!("empty path segment in \"{path}\""))
            } else {
                Err(format!(
                    "path segment \"{seg}\" may only contain letters, digits, '_', '.' and '-'"
                ))
            }
        })
        .collect()
}

/// GitHub's `owner/repo` shorthand: exactly one `/`, both sides valid path segments,
/// no scheme, `@` or `:`. Returns `(owner, repo)` with `repo` as written (a trailing
/// `.git` is kept; [`canonical_identity`] drops it).
pub fn parse_owner_repo(s: &str) -> Option<(&str, &str)> {
    if s.contains(['@', ':']) {
        return None;
    }
    let (owner, repo) = s.split_once('/')?;
    (is_path_segment(owner) && is_path_segment(repo) && !strip_dot_git(repo).is_empty())
        .then_some((owner, repo))
}

/// An index pack name: `^[A-Za-z0-9_.-]+$`, and not `.` or `..`.
pub fn is_bare_name(s: &str) -> bool {
    is_path_segment(s)
}

/// For a locator like `some_pack>` (what the host leaves of `some_pack>=1.1.1`) or
/// `some_pack~1.0`: the pack name before the first version-range operator and the
/// rest. `None` when there is no operator or the part before it is not a bare name.
pub fn split_version_range(locator: &str) -> Option<(&str, &str)> {
    let i = locator.find(['<', '>', '~', '^', '!', '*'])?;
    let (name, rest) = locator.split_at(i);
    is_bare_name(name).then_some((name, rest))
}

/// The identity of a repository for lockfiles and deduplication: lower-cased host,
/// `/`, the path without surrounding slashes and without a trailing `.git`. Userinfo,
/// ports and schemes never appear in it, so `https://u:t@github.com/o/r.git`,
/// `git@github.com:o/r` and `ssh://git@github.com:22/o/r` are all `github.com/o/r`.
pub fn canonical_identity(host: &str, path: &str) -> String {
    let path = strip_dot_git(path.trim_matches('/'));
    let path = path.trim_end_matches('/');
    format!("{}/{}", host.to_ascii_lowercase(), path)
}

/// [`canonical_identity`] of any git remote spelling; `file://` URLs become
/// `file:///abs/path`. `None` when `s` is not a recognisable remote.
pub fn canonical_from_url(s: &str) -> Option<String> {
    match parse_git_locator(s)? {
        GitLocator::Url(u) if u.scheme_is("file") => {
            let path = strip_dot_git(u.path.trim_end_matches('/'));
            Some(format!("file://{path}"))
        }
        GitLocator::Url(u) if u.host.is_empty() => None,
        loc => Some(canonical_identity(loc.host(), loc.path())),
    }
}

/// Removes the userinfo (`user:token@`) of a URL, leaving everything else as written.
/// Strings that are not URLs are returned unchanged.
pub fn without_userinfo(s: &str) -> String {
    match parse_url(s) {
        Some(UrlParts {
            userinfo: Some(info),
            scheme,
            ..
        }) => {
            let after = &s[scheme.len() + 3 + info.len() + 1..];
            format!("{scheme}://{after}")
        }
        _ => s.to_string(),
    }
}

/// One entry of a plugin's `hosts` config: the bare lower-cased host name to match
/// locators against, and the `scheme://host[:port]` origin to request from the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfiguredHost {
    pub host: String,
    pub origin: String,
}

/// Parses a `hosts` config value: names separated by commas (or whitespace), each
/// `host`, `host:port` or `https://host[:port]` (a path is ignored). Entries that do
/// not parse are skipped.
pub fn parse_host_list(value: &str) -> Vec<ConfiguredHost> {
    value
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .filter_map(|entry| {
            let url = if entry.contains("://") {
                entry.to_string()
            } else {
                format!("https://{entry}")
            };
            let u = parse_url(&url)?;
            if u.host.is_empty() || u.userinfo.is_some() {
                return None;
            }
            let host = u.host.to_ascii_lowercase();
            let scheme = u.scheme.to_ascii_lowercase();
            let origin = match u.port {
                Some(p) => format!("{scheme}://{host}:{p}"),
                None => format!("{scheme}://{host}"),
            };
            Some(ConfiguredHost { host, origin })
        })
        .collect()
}

/// Decodes `%XX` escapes. `None` on a malformed escape or when the result is not
/// UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return Some(s.to_string());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// True for `sha256` hex digests: exactly 64 hex digits.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests;
