//! Version ranges (`aws>=1.2,<2`): what the host resolves among a repository's git
//! tags and the built-in OCI resolver among a registry repository's tags.
//!
//! This file depends on `std` and `semver` only: the guest crate `plugins/oci` compiles
//! this very file into itself (`#[path]`), so the host and that resolver read a range
//! with one grammar.

use std::fmt;

use semver::Version;

/// A tag or version text as a version: surrounding whitespace and a leading `v` or `V`
/// ignored (the same reading as `stackpack_core::parse_pack_version`).
pub fn tag_version(text: &str) -> Option<Version> {
    let trimmed = text.trim();
    let bare = trimmed
        .strip_prefix('v')
        .or_else(|| trimmed.strip_prefix('V'))
        .unwrap_or(trimmed);
    Version::parse(bare).ok()
}

/// A version range of a dependency (`aws>=1.2,<2`): comma-separated clauses, each one of
/// - a comparison `< <= > >= == = !=` with a version `x`, `x.y` or `x.y.z[-pre]` (missing
///   parts are zero for `<`/`>=`-style bounds, as in Cargo: `<2` is `<2.0.0`; `==1.2`
///   matches any `1.2.z`);
/// - `^x.y` (same left-most non-zero part), `~x.y` (same `x.y`), `x.*` / `x.y.*`;
/// - Python's `~=x.y` (`>=x.y, <x+1`) and `~=x.y.z` (`>=x.y.z, <x.y+1`);
/// - a bare version, read as `==`.
///
/// A leading `v` on a version is ignored. A version matches when it satisfies every clause;
/// pre-releases match only a clause that names a pre-release of the same `x.y.z` (Cargo's
/// rule, so `>=1.2` does not pick `2.0.0-rc1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRange {
    req: semver::VersionReq,
    /// `!=` clauses, which semver's requirements do not have.
    excluded: Vec<semver::Comparator>,
    /// The clauses as written, trimmed, joined by `,`.
    text: String,
}

impl VersionRange {
    /// Parses a range; the error says which clause is wrong and why.
    pub fn parse(text: &str) -> Result<VersionRange, String> {
        let mut comparators = Vec::new();
        let mut excluded = Vec::new();
        let mut shown = Vec::new();
        for clause in text.split(',') {
            let clause = clause.trim();
            if clause.is_empty() {
                continue;
            }
            shown.push(clause.to_string());
            let op_len = clause
                .find(|c: char| !matches!(c, '<' | '>' | '=' | '!' | '~' | '^'))
                .unwrap_or(clause.len());
            let (op, rest) = clause.split_at(op_len);
            let version = rest.trim();
            let version = version
                .strip_prefix(['v', 'V'])
                .filter(|v| v.starts_with(|c: char| c.is_ascii_digit()))
                .unwrap_or(version);
            if version.is_empty() {
                return Err(format!("clause '{clause}' has no version"));
            }
            let comparator = |op: &str, version: &str| {
                semver::Comparator::parse(&format!("{op}{version}"))
                    .map_err(|e| format!("clause '{clause}': {e}"))
            };
            match op {
                "!=" => excluded.push(comparator("=", version)?),
                "==" | "=" | "" => comparators.push(comparator("=", version)?),
                "~=" => {
                    let parts: Vec<&str> = version.split('.').collect();
                    let num = |s: &str| s.parse::<u64>().ok();
                    let upper = match parts.as_slice() {
                        [major, _] => num(major)
                            .and_then(|m| m.checked_add(1))
                            .map(|m| format!("{m}.0.0")),
                        [major, minor, _] => match (num(major), num(minor)) {
                            (Some(m), Some(n)) => n.checked_add(1).map(|n| format!("{m}.{n}.0")),
                            _ => None,
                        },
                        _ => None,
                    };
                    let upper = upper.ok_or_else(|| {
                        format!(
                            "clause '{clause}': ~= needs a version x.y or x.y.z of numbers \
                             small enough to count up from"
                        )
                    })?;
                    comparators.push(comparator(">=", version)?);
                    comparators.push(comparator("<", &upper)?);
                }
                "<" | "<=" | ">" | ">=" | "^" | "~" => comparators.push(comparator(op, version)?),
                other => {
                    return Err(format!(
                        "clause '{clause}' uses the unknown operator '{other}'"
                    ));
                }
            }
        }
        if shown.is_empty() {
            return Err("the range has no clauses".to_string());
        }
        Ok(VersionRange {
            req: semver::VersionReq { comparators },
            excluded,
            text: shown.join(","),
        })
    }

    /// Whether `version` is in the range.
    pub fn matches(&self, version: &Version) -> bool {
        self.req.matches(version) && !self.excluded.iter().any(|c| c.matches(version))
    }

    /// Whether a version text (a leading `v` allowed) is a version in the range.
    pub fn matches_text(&self, version: &str) -> bool {
        tag_version(version).is_some_and(|v| self.matches(&v))
    }

    /// The highest version among `tags` (git tag names, `v`-prefixed or not; names that
    /// are not versions are ignored) that is in the range. Of two tags naming one version
    /// (`1.2.0` and `v1.2.0`), the `v` one is chosen, as st2 tags its releases.
    pub fn best<'a>(&self, tags: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
        tags.into_iter()
            .filter_map(|t| tag_version(t).map(|v| (v, t)))
            .filter(|(v, _)| self.matches(v))
            .max_by(|a, b| {
                a.0.cmp(&b.0)
                    .then_with(|| {
                        a.1.starts_with(['v', 'V'])
                            .cmp(&b.1.starts_with(['v', 'V']))
                    })
                    .then_with(|| b.1.cmp(a.1))
            })
            .map(|(_, t)| t)
    }
}

impl fmt::Display for VersionRange {
    /// The clauses as written, e.g. `>=1.2,<2`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}
