//! Versions: the `stackstorm_version` grammar, pack versions and compatibility checks.
//!
//! st2 validates `stackstorm_version` with one regex at registration and evaluates it with
//! python-semver's `match` at download, and the two disagree: the regex refuses `all`, `==x`
//! and a bare `x`, and accepts `=x`, `>>x` and `>= x`, which crash the matcher. Here a
//! single grammar does both jobs, see [`St2VersionSpec`].

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use semver::Version;

use crate::CoreError;

/// st2's `ST2_VERSION_REGEX`, verbatim, for reference and compat checks only: it rejects
/// `all`, `2.0.0` and `==2.0.0`, which st2's matcher accepts, and accepts `=2.0.0`, `>>1.0.0`
/// and `>= 1.6.0`, on which the matcher crashes. Validation uses [`St2VersionSpec`].
pub const ST2_VERSION_REGEX: &str = r"^((>?>|>=|=|<=|<?<)\s*[0-9]+\.[0-9]+\.[0-9]+?(\s*,)?\s*)+$";

/// A comparison operator of a `stackstorm_version` clause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparator {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==` (also written `=` or as a bare version)
    Eq,
    /// `!=`
    Ne,
}

impl Comparator {
    fn as_str(self) -> &'static str {
        match self {
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
            Self::Eq => "==",
            Self::Ne => "!=",
        }
    }

    fn accepts(self, ord: Ordering) -> bool {
        match self {
            Self::Lt => ord == Ordering::Less,
            Self::Le => ord != Ordering::Greater,
            Self::Gt => ord == Ordering::Greater,
            Self::Ge => ord != Ordering::Less,
            Self::Eq => ord == Ordering::Equal,
            Self::Ne => ord != Ordering::Equal,
        }
    }
}

/// One `op version` clause of a `stackstorm_version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionClause {
    /// The operator.
    pub op: Comparator,
    /// The version, padded to three parts.
    pub version: Version,
}

/// A parsed `stackstorm_version`: which StackStorm versions a pack supports.
///
/// Grammar (one for validation and matching): `all`, or comma-separated clauses `[op] version`
/// where `op` is one of `< <= > >= == !=` (`=` is read as `==`, no operator means `==`) and
/// `version` is `x.y` (read as `x.y.0`) or a full semantic version `x.y.z[-pre][+build]`.
/// Whitespace around operators, versions and commas is ignored; empty clauses (a trailing
/// comma) are skipped. A version matches when it satisfies every clause; build metadata is
/// ignored when comparing. `Display` gives the normalized form, e.g. `>=1.6.0, <2.2.0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct St2VersionSpec {
    /// Empty means `all`.
    clauses: Vec<VersionClause>,
}

impl St2VersionSpec {
    /// Parse a `stackstorm_version` string.
    pub fn parse(spec: &str) -> Result<Self, CoreError> {
        let invalid = |reason: String| CoreError::InvalidSt2VersionSpec {
            spec: spec.to_owned(),
            reason,
        };
        let trimmed = spec.trim();
        if trimmed.is_empty() {
            return Err(invalid("it is empty".to_owned()));
        }
        if trimmed == "all" {
            return Ok(Self {
                clauses: Vec::new(),
            });
        }
        let mut clauses = Vec::new();
        for part in trimmed.split(',') {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            clauses.push(parse_clause(part).map_err(invalid)?);
        }
        if clauses.is_empty() {
            return Err(invalid("it has no clauses".to_owned()));
        }
        Ok(Self { clauses })
    }

    /// True for `all`.
    pub fn is_all(&self) -> bool {
        self.clauses.is_empty()
    }

    /// The clauses (empty for `all`).
    pub fn clauses(&self) -> &[VersionClause] {
        &self.clauses
    }

    /// Whether `version` satisfies every clause.
    pub fn matches(&self, version: &Version) -> bool {
        self.clauses
            .iter()
            .all(|c| c.op.accepts(version.cmp_precedence(&c.version)))
    }
}

impl FromStr for St2VersionSpec {
    type Err = CoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for St2VersionSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.clauses.is_empty() {
            return f.write_str("all");
        }
        for (i, clause) in self.clauses.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}{}", clause.op.as_str(), clause.version)?;
        }
        Ok(())
    }
}

fn parse_clause(part: &str) -> Result<VersionClause, String> {
    let op_len = part
        .find(|c: char| !matches!(c, '<' | '>' | '=' | '!' | '~' | '^'))
        .unwrap_or(part.len());
    let (op_text, rest) = part.split_at(op_len);
    let op = match op_text {
        "" | "=" | "==" => Comparator::Eq,
        "!=" => Comparator::Ne,
        "<" => Comparator::Lt,
        "<=" => Comparator::Le,
        ">" => Comparator::Gt,
        ">=" => Comparator::Ge,
        other => {
            return Err(format!(
                "clause '{part}' uses the unknown operator '{other}'"
            ));
        }
    };
    let text = rest.trim();
    if text.is_empty() {
        return Err(format!("clause '{part}' has no version after '{op_text}'"));
    }
    let version = parse_clause_version(text).ok_or_else(|| {
        format!("clause '{part}': '{text}' is not a version of the form x.y or x.y.z")
    })?;
    Ok(VersionClause { op, version })
}

fn parse_clause_version(text: &str) -> Option<Version> {
    let is_num = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let parts: Vec<&str> = text.split('.').collect();
    if parts.len() == 2 && parts.iter().all(|p| is_num(p)) {
        return Version::parse(&format!("{text}.0")).ok();
    }
    Version::parse(text).ok()
}

/// Parse a pack version (a pack.yaml `version`, an index `versions` entry, a git tag),
/// tolerating a leading `v` or `V` and surrounding whitespace.
pub fn parse_pack_version(text: &str) -> Result<Version, CoreError> {
    let trimmed = text.trim();
    let bare = trimmed
        .strip_prefix('v')
        .or_else(|| trimmed.strip_prefix('V'))
        .unwrap_or(trimmed);
    Version::parse(bare).map_err(|e| CoreError::InvalidPackVersion {
        version: text.to_owned(),
        reason: e.to_string(),
    })
}

/// Sort versions highest first by semantic-version order (a leading `v` tolerated; an index
/// lists `versions` in text order, and the highest is not always its `version`); strings that
/// are not versions go last, in text order. Duplicates are kept.
pub fn sort_versions_desc(versions: Vec<String>) -> Vec<String> {
    let mut parsed = Vec::new();
    let mut other = Vec::new();
    for text in versions {
        match parse_pack_version(&text) {
            Ok(v) => parsed.push((v, text)),
            Err(_) => other.push(text),
        }
    }
    parsed.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    other.sort();
    parsed.into_iter().map(|(_, t)| t).chain(other).collect()
}

/// st2's `normalize_pack_version`: a version with exactly one `.` gets `.0` appended
/// (`0.2` → `0.2.0`); anything else is returned unchanged.
pub fn normalize_pack_version(version: &str) -> String {
    if version.matches('.').count() == 1 {
        format!("{version}.0")
    } else {
        version.to_owned()
    }
}

/// st2's `get_stackstorm_version`: a dev version with exactly one `.` becomes semver by
/// replacing `dev` with `.0` (`3.10dev` → `3.10.0`); anything else is returned unchanged.
pub fn normalize_st2_version(version: &str) -> String {
    if version.contains("dev") && version.matches('.').count() == 1 {
        version.replace("dev", ".0")
    } else {
        version.to_owned()
    }
}

/// Check a pack's `stackstorm_version` (`spec`, as written in pack.yaml) against the running
/// StackStorm version (`current`, e.g. `3.9.0`; a `3.10dev` form is normalized first).
pub fn check_stackstorm_version(
    pack_name: &str,
    spec: &str,
    current: &str,
) -> Result<(), CoreError> {
    let parsed = St2VersionSpec::parse(spec)?;
    let running = parse_pack_version(&normalize_st2_version(current))?;
    if parsed.matches(&running) {
        Ok(())
    } else {
        Err(CoreError::IncompatibleStackstorm {
            pack: pack_name.to_owned(),
            spec: spec.to_owned(),
            current: current.to_owned(),
        })
    }
}

/// The Python major version a pack's `python_versions` insists on, if it insists (st2 only
/// rejects `{"2"}` on Python 3 and `{"3"}` on Python 2; any other combination passes).
fn required_python_major(meta_python_versions: &[String], python_major: u32) -> Option<u32> {
    let set: BTreeSet<&str> = meta_python_versions.iter().map(|s| s.trim()).collect();
    let only = |v: &str| set.len() == 1 && set.contains(v);
    if only("2") && python_major != 2 {
        Some(2)
    } else if only("3") && python_major != 3 {
        Some(3)
    } else {
        None
    }
}

/// st2's `python_versions` check for the configured Python, `python_version` being its
/// full version (`3.11.7`, whose major is `python_major`). The error is st2's text:
/// `Pack "<name>" requires Python 2.x, but current Python version is "3.11.7". ...`.
pub fn python_versions_ok(
    pack_name: &str,
    meta_python_versions: &[String],
    python_major: u32,
    python_version: &str,
) -> Result<(), String> {
    match required_python_major(meta_python_versions, python_major) {
        None => Ok(()),
        Some(required) => Err(format!(
            "Pack \"{pack_name}\" requires Python {required}.x, but current Python version is \
             \"{python_version}\". You can override this restriction by providing the \"force\" \
             flag (--force), but the pack is not guaranteed to work."
        )),
    }
}

pub use crate::range::VersionRange;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    fn spec(s: &str) -> St2VersionSpec {
        St2VersionSpec::parse(s).unwrap()
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn range_matches_inside() {
        let s = spec(">=1.6.0, <2.2.0");
        for ver in ["1.6.0", "1.6.1", "2.0.0", "2.1.0", "2.1.9"] {
            assert!(s.matches(&v(ver)), "{ver}");
        }
    }

    #[test]
    fn range_rejects_outside() {
        let s = spec(">=1.6.0, <2.2.0");
        for ver in ["1.5.0", "0.1.0", "2.2.1", "2.3.0", "3.0.0", "2.2.0"] {
            assert!(!s.matches(&v(ver)), "{ver}");
        }
    }

    #[test]
    fn all_matches_everything() {
        let s = spec("all");
        assert!(s.is_all());
        for ver in ["1.6.0", "1.6.1", "2.0.0", "2.1.0", "0.0.1-alpha"] {
            assert!(s.matches(&v(ver)));
        }
        assert_eq!(s.to_string(), "all");
        assert!(spec("  all ").is_all());
    }

    #[test]
    fn lower_bound_only() {
        let s = spec(">=1.6.0");
        for ver in ["1.6.0", "1.6.1", "2.1.0"] {
            assert!(s.matches(&v(ver)));
        }
        for ver in ["1.5.0", "0.1.0", "1.5.9"] {
            assert!(!s.matches(&v(ver)));
        }
    }

    // Bare and == versions mean equality (st2's regex wrongly rejects them).
    #[test]
    fn bare_and_double_equals() {
        for text in ["2.0.0", "==2.0.0"] {
            let s = spec(text);
            assert!(s.matches(&v("2.0.0")), "{text}");
            assert!(!s.matches(&v("2.0.1")), "{text}");
            assert_eq!(s.to_string(), "==2.0.0");
        }
    }

    // Forms st2's regex accepts but its matcher crashes on get a defined meaning: `=x` is
    // equality, whitespace is tolerated, `>>` is an error.
    #[test]
    fn defined_semantics() {
        assert!(spec("=2.0.0").matches(&v("2.0.0")));
        assert!(!spec("=2.0.0").matches(&v("2.0.1")));
        assert!(spec(">= 1.6.0").matches(&v("2.0.0")));
        assert!(!spec(">= 1.6.0").matches(&v("1.5.0")));
        let err = St2VersionSpec::parse(">>1.0.0").unwrap_err();
        assert_eq!(
            err.to_string(),
            "'>>1.0.0' does not match the stackstorm_version grammar: clause '>>1.0.0' uses the \
             unknown operator '>>'. Write comma-separated clauses of an operator (<, <=, >, >=, \
             ==, !=) and a version, e.g. \">=3.4.0, <4.0\", or \"all\"."
        );
        assert!(St2VersionSpec::parse("<<4.0.0").is_err());
    }

    // st2's regex as documented, and what the one grammar decides instead.
    #[test]
    fn st2_regex_versus_grammar() {
        let re = regex::Regex::new(ST2_VERSION_REGEX).unwrap();
        for ok in [
            ">=1.6.0, <2.2.0",
            ">= 1.6.0",
            ">>1.0.0",
            "=2.0.0",
            ">=3.0.0",
        ] {
            assert!(re.is_match(ok), "{ok}");
        }
        for bad in [
            "all",
            "2.0.0",
            "==2.0.0",
            ">=3.4.0,<3.9",
            "wrongstackstormversion",
        ] {
            assert!(!re.is_match(bad), "{bad}");
        }
        for ok in [
            ">=1.6.0, <2.2.0",
            ">= 1.6.0",
            "=2.0.0",
            ">=3.0.0",
            "all",
            "2.0.0",
            "==2.0.0",
            ">=3.4.0,<3.9",
        ] {
            assert!(St2VersionSpec::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            ">>1.0.0",
            "wrongstackstormversion",
            "",
            " , ",
            ">=",
            "~1.0.0",
            ">=1",
        ] {
            assert!(St2VersionSpec::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn x_y_versions_are_padded_and_display_normalizes() {
        let s = spec(" >=3.4 ,<3.9, ");
        assert_eq!(s.to_string(), ">=3.4.0, <3.9.0");
        assert!(s.matches(&v("3.8.9")));
        assert!(!s.matches(&v("3.9.0")));
        assert_eq!(spec(">=3.0.0,").to_string(), ">=3.0.0");
        assert_eq!(
            spec("!=3.1.0, >3.0, <=4.0").to_string(),
            "!=3.1.0, >3.0.0, <=4.0.0"
        );
    }

    #[test]
    fn bare_number_is_not_a_version() {
        let err = St2VersionSpec::parse("<=4").unwrap_err();
        assert!(
            err.to_string()
                .contains("clause '<=4': '4' is not a version"),
            "{err}"
        );
    }

    #[test]
    fn not_equal_and_prerelease_and_build() {
        let s = spec("!=3.1.0");
        assert!(!s.matches(&v("3.1.0")));
        assert!(!s.matches(&v("3.1.0+build5")));
        assert!(s.matches(&v("3.1.1")));
        assert!(spec("<3.1.0").matches(&v("3.1.0-rc1")));
        assert!(spec("==3.1.0").matches(&v("3.1.0+abc")));
    }

    #[test]
    fn from_str_works() {
        let s: St2VersionSpec = "<4.0".parse().unwrap();
        assert_eq!(s.clauses().len(), 1);
        assert_eq!(s.clauses()[0].op, Comparator::Lt);
    }

    #[test]
    fn normalizes_pack_versions() {
        for (input, out) in [
            ("0.2.0", "0.2.0"),
            ("0.2.1", "0.2.1"),
            ("1.2.1", "1.2.1"),
            ("0.2", "0.2.0"),
            ("0.3", "0.3.0"),
            ("1.3", "1.3.0"),
            ("2.0", "2.0.0"),
        ] {
            assert_eq!(normalize_pack_version(input), out);
        }
    }

    #[test]
    fn normalizes_st2_versions() {
        assert_eq!(normalize_st2_version("3.10dev"), "3.10.0");
        assert_eq!(normalize_st2_version("3.9.0"), "3.9.0");
        assert_eq!(normalize_st2_version("3.9.1dev"), "3.9.1dev");
    }

    #[test]
    fn parse_pack_version_tolerates_v() {
        assert_eq!(parse_pack_version("v1.2.3").unwrap(), v("1.2.3"));
        assert_eq!(parse_pack_version(" 1.2.3 ").unwrap(), v("1.2.3"));
        assert_eq!(parse_pack_version("V0.1.0-rc.1").unwrap(), v("0.1.0-rc.1"));
        let err = parse_pack_version("0.2").unwrap_err();
        assert!(
            matches!(err, CoreError::InvalidPackVersion { ref version, .. } if version == "0.2")
        );
        assert!(
            err.to_string()
                .starts_with("Version \"0.2\" is not a valid semantic version: "),
            "{err}"
        );
        assert!(parse_pack_version("master").is_err());
        assert!(parse_pack_version("vv1.0.0").is_err());
    }

    // Semver order, not text order; non-versions last.
    #[test]
    fn sort_versions_desc_uses_semver() {
        let sorted = sort_versions_desc(strings(&[
            "1.0.1",
            "1.10.0",
            "1.8.0",
            "master",
            "v1.9.0",
            "1.10.0-rc1",
            "abc",
            "0.9.0",
        ]));
        assert_eq!(
            sorted,
            strings(&[
                "1.10.0",
                "1.10.0-rc1",
                "v1.9.0",
                "1.8.0",
                "1.0.1",
                "0.9.0",
                "abc",
                "master"
            ])
        );
        assert!(sort_versions_desc(Vec::new()).is_empty());
    }

    // The stackstorm_version check and its message, worded as st2's.
    #[test]
    fn check_stackstorm_version_messages() {
        assert!(check_stackstorm_version("test3", ">=1.6.0, <2.2.0", "2.0.0").is_ok());
        for current in ["2.2.0", "2.3.0", "1.5.9", "1.5.0"] {
            let err = check_stackstorm_version("test3", ">=1.6.0, <2.2.0", current).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!(
                    "Pack \"test3\" requires StackStorm \">=1.6.0, <2.2.0\", but current version \
                     is \"{current}\". You can override this restriction by passing --force, but \
                     the pack is not guaranteed to work."
                )
            );
        }
        assert!(check_stackstorm_version("p", ">=3.10.0", "3.10dev").is_ok());
        assert!(matches!(
            check_stackstorm_version("p", "bogus", "3.9.0"),
            Err(CoreError::InvalidSt2VersionSpec { .. })
        ));
    }

    // The python_versions check: a pack for Python 2 only is refused on Python 3.
    #[test]
    fn python_versions_checks() {
        for ok in [&[][..], &["3"][..], &["2", "3"][..]] {
            assert!(python_versions_ok("p", &strings(ok), 3, "3.11.7").is_ok());
        }
        // st2's test_download_pack python 2 case: the pack name and the full version.
        let err = python_versions_ok("test3", &strings(&["2"]), 3, "3.5.2").unwrap_err();
        assert!(
            err.starts_with(
                "Pack \"test3\" requires Python 2.x, but current Python version is \"3.5.2\"."
            ),
            "{err}"
        );
        assert!(err.contains("--force"));
        assert!(python_versions_ok("p", &strings(&["2", "2"]), 3, "3.11.7").is_err());
        assert!(python_versions_ok("p", &strings(&["2"]), 2, "2.7.18").is_ok());
        let err = python_versions_ok("test3", &strings(&["3"]), 2, "2.7.2").unwrap_err();
        assert!(
            err.starts_with(
                "Pack \"test3\" requires Python 3.x, but current Python version is \"2.7.2\"."
            ),
            "{err}"
        );
    }

    fn range(s: &str) -> VersionRange {
        VersionRange::parse(s).unwrap()
    }

    #[test]
    fn a_compatible_release_at_the_largest_number_is_an_error_not_an_overflow() {
        for spec in ["~=18446744073709551615.0", "~=1.18446744073709551615.0"] {
            let e = VersionRange::parse(spec).unwrap_err();
            assert!(e.contains("~= needs a version"), "{spec}: {e}");
        }
    }

    #[test]
    fn ranges_match_like_cargo_and_python() {
        let r = range(">=1.2,<2");
        for yes in ["1.2.0", "1.9.9", "v1.3.0"] {
            assert!(r.matches_text(yes), "{yes}");
        }
        for no in ["1.1.9", "2.0.0", "2.0.0-rc1", "1.5.0-rc1", "main"] {
            assert!(!r.matches_text(no), "{no}");
        }
        assert_eq!(r.to_string(), ">=1.2,<2");
        assert_eq!(range(" >= 1.2 , < 2 ,").to_string(), ">= 1.2,< 2");
        assert!(range("^1.2").matches_text("1.9.0") && !range("^1.2").matches_text("2.0.0"));
        assert!(range("~1.2").matches_text("1.2.7") && !range("~1.2").matches_text("1.3.0"));
        assert!(range("1.*").matches_text("1.7.0") && !range("1.*").matches_text("2.0.0"));
        assert!(range("~=1.2").matches_text("1.9.0") && !range("~=1.2").matches_text("2.0.0"));
        assert!(range("~=1.2.3").matches_text("1.2.9") && !range("~=1.2.3").matches_text("1.3.0"));
        assert!(range("==1.2.0").matches_text("v1.2.0") && !range("==1.2.0").matches_text("1.2.1"));
        assert!(range(">=v1.0,!=1.5.0").matches_text("1.4.0"));
        assert!(!range(">=v1.0,!=1.5.0").matches_text("1.5.0"));
        assert!(range(">=2.0.0-rc1").matches_text("2.0.0-rc2"));
    }

    #[test]
    fn bad_ranges_say_which_clause() {
        for (bad, says) in [
            (">=", "has no version"),
            (">=1.x.y", "'>=1.x.y'"),
            ("=>1.0", "unknown operator '=>'"),
            ("~=1", "~= needs"),
            (",", "no clauses"),
        ] {
            let e = VersionRange::parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn the_best_tag_is_the_highest_in_range() {
        let tags = [
            "v1.0.0",
            "1.2.0",
            "v1.10.0",
            "v2.0.0",
            "latest",
            "v1.10.0-rc1",
        ];
        assert_eq!(range(">=1.2,<2").best(tags), Some("v1.10.0"));
        assert_eq!(range("<1.2").best(tags), Some("v1.0.0"));
        assert_eq!(range(">=3").best(tags), None);
        assert_eq!(range("1.2.*").best(["1.2.0", "v1.2.0"]), Some("v1.2.0"));
    }
}
