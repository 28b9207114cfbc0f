//! References to OCI artifacts: `oci://HOST[:PORT]/REPO[:TAG][@sha256:HEX]`.
//!
//! Parsed once here, so every crate agrees on one grammar. The repository follows the
//! distribution spec's rules (lower-case path components joined by `/`, separators `.`,
//! `_`, `__` or dashes inside a component); a tag is `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`;
//! the only digest algorithm accepted is sha256. A reference never carries credentials:
//! `oci://user:secret@host/...` is refused (credentials go in `[[credentials]]`), so the
//! canonical text ([`OciRef`]'s `Display`) can be printed and stored anywhere.

use std::fmt;
use std::str::FromStr;

use crate::CoreError;

/// The scheme every OCI reference starts with.
pub const OCI_SCHEME: &str = "oci://";

/// Whether `text` is written as an OCI reference (starts with `oci://`, any case).
pub fn is_oci(text: &str) -> bool {
    text.trim()
        .get(..OCI_SCHEME.len())
        .is_some_and(|s| s.eq_ignore_ascii_case(OCI_SCHEME))
}

/// One OCI artifact (or repository, when neither tag nor digest is given).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OciRef {
    /// `host[:port]`, host lower-cased.
    pub registry: String,
    /// The repository path inside the registry, e.g. `packs/aws`.
    pub repository: String,
    /// The tag, when one is written.
    pub tag: Option<String>,
    /// `sha256:<64 lower-case hex>`, when one is written.
    pub digest: Option<String>,
}

impl OciRef {
    /// The same artifact pinned to `digest` (`sha256:<hex>`; the caller checked it), tag kept.
    pub fn with_digest(&self, digest: impl Into<String>) -> OciRef {
        OciRef {
            digest: Some(digest.into()),
            ..self.clone()
        }
    }

    /// The same repository with `tag` and no digest.
    pub fn with_tag(&self, tag: impl Into<String>) -> OciRef {
        OciRef {
            tag: Some(tag.into()),
            digest: None,
            ..self.clone()
        }
    }

    /// The repository alone, `oci://host[:port]/repo` (neither tag nor digest).
    pub fn repository_ref(&self) -> OciRef {
        OciRef {
            tag: None,
            digest: None,
            ..self.clone()
        }
    }

    /// The host without the port.
    pub fn host(&self) -> &str {
        match self.registry.rfind(']') {
            Some(end) => &self.registry[..=end],
            None => self
                .registry
                .rsplit_once(':')
                .map_or(self.registry.as_str(), |(h, _)| h),
        }
    }
}

impl fmt::Display for OciRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{OCI_SCHEME}{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl FromStr for OciRef {
    type Err = CoreError;

    fn from_str(text: &str) -> Result<OciRef, CoreError> {
        let text = text.trim();
        // Shown in errors: the text without any userinfo.
        let shown = crate::redact_url(text);
        let bad = |part: &str, reason: String| CoreError::InvalidOciRef {
            reference: shown.clone(),
            part: part.to_string(),
            reason,
        };
        if !is_oci(text) {
            return Err(bad(
                "scheme",
                "an OCI reference starts with oci://".to_string(),
            ));
        }
        let rest = &text[OCI_SCHEME.len()..];
        let (registry, path) = rest.split_once('/').unwrap_or((rest, ""));
        if registry.contains('@') {
            return Err(bad(
                "registry",
                "credentials do not belong in the reference; put them in a [[credentials]] \
                 entry of stackpack.toml with url = \"oci://HOST[:PORT]/\""
                    .to_string(),
            ));
        }
        let registry = parse_registry(registry).map_err(|reason| bad("registry", reason))?;
        let (path, digest) = match path.rsplit_once('@') {
            Some((p, d)) => (p, Some(parse_digest(d).map_err(|r| bad("digest", r))?)),
            None => (path, None),
        };
        let last_slash = path.rfind('/').map_or(0, |i| i + 1);
        let (repository, tag) = match path[last_slash..].find(':') {
            Some(i) => (&path[..last_slash + i], Some(&path[last_slash + i + 1..])),
            None => (path, None),
        };
        check_repository(repository).map_err(|r| bad("repository", r))?;
        if let Some(tag) = tag {
            check_tag(tag).map_err(|r| bad("tag", r))?;
        }
        Ok(OciRef {
            registry,
            repository: repository.to_string(),
            tag: tag.map(str::to_string),
            digest,
        })
    }
}

fn parse_registry(text: &str) -> Result<String, String> {
    if text.is_empty() {
        return Err("the registry host is missing: write oci://HOST[:PORT]/REPO".to_string());
    }
    let (host, port) = if let Some(inner) = text.strip_prefix('[') {
        let (addr, after) = inner.split_once(']').ok_or_else(|| {
            format!("\"{text}\" opens an IPv6 address with [ but never closes it")
        })?;
        if addr.is_empty()
            || !addr
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
            return Err(format!("\"{addr}\" is not an IPv6 address"));
        }
        match after {
            "" => (format!("[{}]", addr.to_ascii_lowercase()), None),
            p => match p.strip_prefix(':') {
                Some(port) => (format!("[{}]", addr.to_ascii_lowercase()), Some(port)),
                None => return Err(format!("\"{text}\" has text after the IPv6 address")),
            },
        }
    } else {
        let (host, port) = match text.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (text, None),
        };
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if host.is_empty() || host.len() > 253 || !host.split('.').all(label_ok) {
            return Err(format!(
                "\"{host}\" is not a host name or IP address (letters, digits, dots and dashes)"
            ));
        }
        (host.to_ascii_lowercase(), port)
    };
    match port {
        None => Ok(host),
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 && p.chars().all(|c| c.is_ascii_digit()) => Ok(format!("{host}:{n}")),
            _ => Err(format!("\"{p}\" is not a port number (1 to 65535)")),
        },
    }
}

fn parse_digest(text: &str) -> Result<String, String> {
    let Some((algorithm, hex)) = text.split_once(':') else {
        return Err(format!(
            "\"{text}\" is not a digest; write sha256:<64 hex digits>"
        ));
    };
    if !algorithm.eq_ignore_ascii_case("sha256") {
        return Err(format!(
            "digest algorithm \"{algorithm}\" is not supported; write sha256:<64 hex digits>"
        ));
    }
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!(
            "\"{hex}\" is not 64 hex digits; write sha256:<64 hex digits>"
        ));
    }
    Ok(format!("sha256:{}", hex.to_ascii_lowercase()))
}

/// A repository path: components of `[a-z0-9]+` joined by `.`, `_`, `__` or runs of
/// `-`, separated by `/`.
fn check_repository(text: &str) -> Result<(), String> {
    if text.is_empty() {
        return Err("the repository is missing: write oci://HOST[:PORT]/REPO[:TAG]".to_string());
    }
    if text.len() > 255 {
        return Err("the repository is longer than 255 characters".to_string());
    }
    for component in text.split('/') {
        if !component_ok(component) {
            return Err(format!(
                "\"{component}\" is not a repository path component: use lower-case letters \
                 and digits, separated inside a component by '.', '_', '__' or dashes"
            ));
        }
    }
    Ok(())
}

fn component_ok(c: &str) -> bool {
    let alnum = |ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit();
    let bytes: Vec<char> = c.chars().collect();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        // A separator run: ".", "_", "__" or one or more "-".
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep: String = bytes[start..i].iter().collect();
        let ok = sep == "." || sep == "_" || sep == "__" || sep.chars().all(|ch| ch == '-');
        if !ok {
            return false;
        }
    }
    true
}

fn check_tag(tag: &str) -> Result<(), String> {
    let mut chars = tag.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if first_ok && rest_ok && tag.len() <= 128 {
        Ok(())
    } else {
        Err(format!(
            "\"{tag}\" is not a tag: up to 128 letters, digits, '_', '.' and '-', not starting \
             with '.' or '-'"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn parse(text: &str) -> OciRef {
        match text.parse() {
            Ok(r) => r,
            Err(e) => panic!("{text} should parse: {e}"),
        }
    }

    fn error(text: &str) -> String {
        match text.parse::<OciRef>() {
            Ok(r) => panic!("{text} should be refused, parsed as {r:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn tag_port_and_nested_repository_are_split_where_the_grammar_says() {
        let r = parse("oci://127.0.0.1:5000/packs/st2/aws:1.2.0");
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "packs/st2/aws");
        assert_eq!(r.tag.as_deref(), Some("1.2.0"));
        assert_eq!(r.digest, None);
        assert_eq!(r.host(), "127.0.0.1");
        assert_eq!(r.to_string(), "oci://127.0.0.1:5000/packs/st2/aws:1.2.0");
    }

    #[test]
    fn repository_without_tag_or_digest_and_host_without_port() {
        let r = parse("OCI://Registry.Example.com/aws");
        assert_eq!(r.registry, "registry.example.com");
        assert_eq!(r.repository, "aws");
        assert_eq!((r.tag, r.digest), (None, None));
        assert!(is_oci("OCI://x/y"));
        assert!(!is_oci("https://x/y"));
    }

    #[test]
    fn digest_with_and_without_tag_is_canonical_lower_case() {
        let upper = HEX.to_ascii_uppercase();
        let r = parse(&format!("oci://host:5000/a/b@sha256:{upper}"));
        assert_eq!(r.digest.as_deref(), Some(format!("sha256:{HEX}").as_str()));
        assert_eq!(r.tag, None);
        let both = parse(&format!("oci://host/a:v1@sha256:{HEX}"));
        assert_eq!(both.tag.as_deref(), Some("v1"));
        assert_eq!(both.to_string(), format!("oci://host/a:v1@sha256:{HEX}"));
        assert_eq!(parse(&both.to_string()), both);
    }

    #[test]
    fn with_digest_and_with_tag_keep_the_rest() {
        let r = parse("oci://host/a:v1");
        let pinned = r.with_digest(format!("sha256:{HEX}"));
        assert_eq!(pinned.to_string(), format!("oci://host/a:v1@sha256:{HEX}"));
        assert_eq!(pinned.with_tag("v2").to_string(), "oci://host/a:v2");
        assert_eq!(pinned.repository_ref().to_string(), "oci://host/a");
    }

    #[test]
    fn separators_inside_components_follow_the_distribution_rules() {
        for ok in ["a.b", "a_b", "a__b", "a---b", "a0/b-1/c.d"] {
            parse(&format!("oci://h/{ok}"));
        }
        for bad in ["A", "a..b", "a___b", "-a", "a-", "a//b", "a/"] {
            let e = error(&format!("oci://h/{bad}"));
            assert!(e.contains("repository"), "{bad}: {e}");
        }
    }

    #[test]
    fn bad_input_names_the_bad_part() {
        assert!(error("https://h/a").contains("scheme"));
        assert!(error("oci:///a").contains("registry"));
        assert!(error("oci://h").contains("repository is missing"));
        assert!(error("oci://h:99999/a").contains("\"99999\" is not a port"));
        assert!(error("oci://h:/a").contains("port"));
        assert!(error("oci://bad_host/a").contains("\"bad_host\" is not a host"));
        assert!(error("oci://h/a:.x").contains("the tag is wrong"));
        assert!(error("oci://h/a:").contains("tag"));
        assert!(error("oci://h/a@md5:abc").contains("\"md5\" is not supported"));
        assert!(error("oci://h/a@sha256:abc").contains("not 64 hex digits"));
    }

    #[test]
    fn credentials_are_refused_and_never_shown() {
        let e = error("oci://alice:hunter2@h/a:1");
        assert!(e.contains("[[credentials]]"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn ipv6_registry_keeps_its_brackets() {
        let r = parse("oci://[::1]:5000/a");
        assert_eq!(r.registry, "[::1]:5000");
        assert_eq!(r.host(), "[::1]");
    }
}
