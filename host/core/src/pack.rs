//! `pack.yaml`: the [`PackMeta`] type, its validation rules and st2's ref derivation.
//!
//! [`parse_pack_yaml`] applies st2's schema (`PackAPI.schema`) and `get_pack_ref_from_metadata`
//! in one pass and reports every problem it finds, each naming the field and the fix. Where st2
//! differs on purpose: the derived `ref` is always validated (st2 only refused a `.` at download
//! and failed later, after moving the pack into place), `stackstorm_version` uses
//! [`St2VersionSpec`]'s grammar instead of st2's regex, the "onlyword" typo is
//! fixed, and an explicit `null` on an optional field counts as absent.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value as JsonValue;

use crate::error::{PackYamlError, PackYamlProblem};
use crate::version::{St2VersionSpec, normalize_pack_version};
use crate::yaml::YamlError;

/// The pack metadata file name.
pub const MANIFEST_FILE_NAME: &str = "pack.yaml";

/// st2's `PACK_REF_WHITELIST_REGEX`: what a pack ref (and a ref-less pack's name) must match.
pub const PACK_REF_WHITELIST_REGEX: &str = "^[a-z0-9_]+$";

/// st2's `PACK_VERSION_REGEX`, verbatim: a pack.yaml `version` must match it (lowercase-only
/// pre-release and build parts, so `1.0.0-RC1` is invalid).
pub const PACK_VERSION_REGEX: &str = r"^(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)(?:-[\da-z\-]+(?:\.[\da-z\-]+)*)?(?:\+[\da-z\-]+(?:\.[\da-z\-]+)*)?$";

/// Refs no pack may use (st2 `RESERVED_PACK_LIST`).
pub const RESERVED_PACK_REFS: [&str; 1] = ["_global"];

/// Packs shipped with StackStorm that cannot be uninstalled (st2 `SYSTEM_PACK_NAMES`).
pub const SYSTEM_PACKS: [&str; 4] = ["chatops", "core", "linux", "packs"];

#[allow(clippy::expect_used)] // a constant pattern, exercised by the tests below
static PACK_VERSION_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(PACK_VERSION_REGEX).expect("PACK_VERSION_REGEX compiles"));

/// `!!python/...` tags: st2's `yaml.safe_load` refuses the whole file, and so does the YAML
/// reader; this finds them first to say so in st2's terms.
#[allow(clippy::expect_used)] // a constant pattern, exercised by the tests below
static PYTHON_TAG_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?m)(?:^|[\s\[{,:?-])!!python/").expect("PYTHON_TAG_RE compiles")
});

const PYTHON_VERSIONS: [&str; 2] = ["2", "3"];
const CONTRIBUTOR_MAX_LEN: usize = 100;

/// Validated pack metadata, as read from `pack.yaml` by [`parse_pack_yaml`].
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct PackMeta {
    /// The pack's ref: its id and install directory name, derived by st2's rules (see
    /// [`parse_pack_yaml`]).
    #[serde(rename = "ref")]
    pub ref_: String,
    /// Display name.
    pub name: String,
    /// The pack version, matching [`PACK_VERSION_REGEX`].
    pub version: String,
    /// One-line description.
    pub description: String,
    /// Author.
    pub author: String,
    /// Author's email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Search keywords.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Pack specifiers (`name[=version]` or URL) of the packs this one needs.
    #[serde(default)]
    pub dependencies: Vec<String>,
    /// Supported Python major versions: `"2"`, `"3"` (empty when not declared).
    #[serde(default)]
    pub python_versions: Vec<String>,
    /// Supported StackStorm versions, as written (parse with [`St2VersionSpec`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stackstorm_version: Option<String>,
    /// Contributors, usually `Name <email>`.
    #[serde(default)]
    pub contributors: Vec<String>,
    /// Free-form system requirements, e.g. `{"centos": {"foo": ">= 1.0"}}`.
    #[serde(default = "empty_object")]
    pub system: JsonValue,
}

fn empty_object() -> JsonValue {
    JsonValue::Object(serde_json::Map::new())
}

/// Whether `candidate` can be a pack ref: it matches [`PACK_REF_WHITELIST_REGEX`] and is not
/// in [`RESERVED_PACK_REFS`].
pub fn is_valid_pack_ref(candidate: &str) -> bool {
    matches_ref_whitelist(candidate) && !RESERVED_PACK_REFS.contains(&candidate)
}

/// Whether `version` matches [`PACK_VERSION_REGEX`].
pub fn is_valid_pack_version(version: &str) -> bool {
    PACK_VERSION_RE.is_match(version)
}

fn matches_ref_whitelist(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// st2's `get_pack_warnings`: a deprecation warning for a Python-2-only pack.
pub fn deprecation_warnings(meta: &PackMeta) -> Vec<String> {
    let set: BTreeSet<&str> = meta.python_versions.iter().map(String::as_str).collect();
    if set.len() == 1 && set.contains("2") {
        vec![format!(
            "DEPRECATION WARNING: Pack {} only supports Python 2.x. Python 2 support has been \
             removed since st2 v3.4.0. Please update your packs to work with Python 3.x",
            meta.name
        )]
    } else {
        Vec::new()
    }
}

/// Parse and validate the text of a `pack.yaml`.
///
/// `dir_name` is the pack directory's name when the pack is already in place (registration);
/// pass `None` for a freshly downloaded pack, as st2 does. The ref is `ref` if set, else
/// `dir_name` if it is a valid ref, else `name` if it is a valid ref.
pub fn parse_pack_yaml(text: &str, dir_name: Option<&str>) -> Result<PackMeta, PackYamlError> {
    if PYTHON_TAG_RE.is_match(text) {
        return Err(PackYamlError::new(vec![PackYamlProblem::file(
            "pack.yaml uses a !!python/ tag; pack.yaml is loaded safely and Python object tags \
             are not allowed. Remove the tag.",
        )]));
    }
    let doc: JsonValue = crate::yaml::from_str(text).map_err(|e| {
        let message = match *e {
            YamlError::UnsupportedTag { tag, location } => format!(
                "pack.yaml uses the YAML tag {tag} at line {}, column {}; pack.yaml is loaded \
                 safely and custom tags are not allowed. Remove the tag.",
                location.line(),
                location.column()
            ),
            e => format!("pack.yaml is not valid YAML: {e}. Fix the syntax there."),
        };
        PackYamlError::new(vec![PackYamlProblem::file(message)])
    })?;

    let map = match doc {
        JsonValue::Null => return Err(PackYamlError::empty()),
        JsonValue::Object(m) if m.is_empty() => return Err(PackYamlError::empty()),
        JsonValue::Object(m) => m,
        other => {
            return Err(PackYamlError::new(vec![PackYamlProblem::file(format!(
                "pack.yaml must hold a mapping of fields (name: ..., version: ...), but it holds \
                 {}. Rewrite it as `key: value` lines.",
                describe(&other)
            ))]));
        }
    };

    let mut fields = Fields {
        map: &map,
        problems: Vec::new(),
    };

    let ref_field = fields.optional_string("ref");
    let name = fields.required_string("name", "the pack's display name");
    let description = fields.required_string("description", "a one-line summary");
    let version = fields.version();
    let author = fields.required_string("author", "your name");
    let email = fields.email();
    let keywords = fields.string_list("keywords", None);
    let dependencies = fields.string_list("dependencies", None);
    let python_versions = fields.python_versions();
    let stackstorm_version = fields.stackstorm_version();
    let contributors = fields.string_list("contributors", Some(CONTRIBUTOR_MAX_LEN));
    let system = fields.system();
    let ref_ = fields.derive_ref(ref_field.as_deref(), dir_name, name.as_deref());

    let Fields { problems, .. } = fields;
    if !problems.is_empty() {
        return Err(PackYamlError::new(problems));
    }
    match (ref_, name, description, version, author) {
        (Some(ref_), Some(name), Some(description), Some(version), Some(author)) => Ok(PackMeta {
            ref_,
            name,
            version,
            description,
            author,
            email,
            keywords,
            dependencies,
            python_versions,
            stackstorm_version,
            contributors,
            system,
        }),
        // Every `None` above recorded a problem, so this arm is not reached.
        _ => Err(PackYamlError::new(vec![PackYamlProblem::file(
            "pack.yaml is missing required fields: add name, description, version and author.",
        )])),
    }
}

/// Field-by-field reading of the top-level mapping, collecting problems as it goes.
struct Fields<'a> {
    map: &'a serde_json::Map<String, JsonValue>,
    problems: Vec<PackYamlProblem>,
}

impl Fields<'_> {
    /// The value of `key`, treating an explicit `null` as absent.
    fn get(&self, key: &str) -> Option<&JsonValue> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn problem(&mut self, field: &str, message: String) {
        self.problems.push(PackYamlProblem::field(field, message));
    }

    fn not_a_string(&mut self, field: &str, value: &JsonValue) {
        self.problem(
            field,
            format!(
                "'{field}' must be a string, but pack.yaml gives {}. Write it as text, quoted if \
                 needed.",
                describe(value)
            ),
        );
    }

    fn required_string(&mut self, field: &str, what: &str) -> Option<String> {
        match self.get(field) {
            None => {
                self.problem(
                    field,
                    format!(
                        "'{field}' is a required property. Add `{field}: <{what}>` to pack.yaml."
                    ),
                );
                None
            }
            Some(JsonValue::String(s)) => Some(s.clone()),
            Some(other) => {
                let other = other.clone();
                self.not_a_string(field, &other);
                None
            }
        }
    }

    fn optional_string(&mut self, field: &str) -> Option<String> {
        match self.get(field)? {
            JsonValue::String(s) => Some(s.clone()),
            other => {
                let other = other.clone();
                self.not_a_string(field, &other);
                None
            }
        }
    }

    fn version(&mut self) -> Option<String> {
        let value = self.get("version").cloned();
        let (text, was_number) = match value {
            None => {
                self.problem(
                    "version",
                    "'version' is a required property. Add `version: \"0.1.0\"` (a quoted \
                     MAJOR.MINOR.PATCH version) to pack.yaml."
                        .to_owned(),
                );
                return None;
            }
            Some(JsonValue::String(s)) => (s, false),
            // st2 coerces with str() first: YAML `version: 0.2` becomes "0.2" and then fails.
            Some(JsonValue::Number(n)) => (n.to_string(), true),
            Some(JsonValue::Bool(b)) => ((if b { "True" } else { "False" }).to_owned(), false),
            Some(other) => {
                self.not_a_string("version", &other);
                return None;
            }
        };
        if is_valid_pack_version(&text) {
            return Some(text);
        }
        let fix = if was_number {
            let guess = Some(normalize_pack_version(&text))
                .filter(|g| is_valid_pack_version(g))
                .unwrap_or_else(|| "0.1.0".to_owned());
            format!(
                " YAML read the unquoted value as a number; write a quoted three-part version \
                 such as version: \"{guess}\"."
            )
        } else {
            match version_guess(&text) {
                Some(guess) => format!(" Did you mean version: \"{guess}\"?"),
                None => " Write version as MAJOR.MINOR.PATCH, e.g. \"1.0.0\".".to_owned(),
            }
        };
        self.problem(
            "version",
            format!(
                "Pack version \"{text}\" doesn't follow a valid semver format. Valid versions and \
                 formats include: 0.1.0, 0.2.1, 1.1.0, etc.{fix}"
            ),
        );
        None
    }

    fn email(&mut self) -> Option<String> {
        let email = self.optional_string("email")?;
        let looks_ok = match email.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.is_empty()
                    && !domain.contains('@')
                    && !email.chars().any(char::is_whitespace)
            }
            None => false,
        };
        if looks_ok {
            Some(email)
        } else {
            self.problem(
                "email",
                format!(
                    "'email' value \"{email}\" is not an email address. Write a single address \
                     such as name@example.com, or remove the key."
                ),
            );
            None
        }
    }

    fn string_list(&mut self, field: &str, max_len: Option<usize>) -> Vec<String> {
        let Some(value) = self.get(field).cloned() else {
            return Vec::new();
        };
        let JsonValue::Array(items) = value else {
            self.problem(
                field,
                format!(
                    "'{field}' must be a list of strings, but pack.yaml gives {}. Write it as \
                     `{field}: [\"a\", \"b\"]` or one `- item` per line.",
                    describe(&value)
                ),
            );
            return Vec::new();
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match item {
                JsonValue::String(s) => {
                    if let Some(max) = max_len
                        && s.chars().count() > max
                    {
                        self.problem(
                            field,
                            format!(
                                "'{field}' item {} is longer than {max} characters. Shorten it \
                                 (e.g. to \"Name <email>\").",
                                i + 1
                            ),
                        );
                    }
                    out.push(s.clone());
                }
                other => self.problem(
                    field,
                    format!(
                        "'{field}' item {} must be a string, but it is {}. Quote it.",
                        i + 1,
                        describe(other)
                    ),
                ),
            }
        }
        out
    }

    fn python_versions(&mut self) -> Vec<String> {
        let field = "python_versions";
        let before = self.problems.len();
        let list = self.string_list(field, None);
        if self.problems.len() > before {
            return Vec::new();
        }
        if self.get(field).is_none() {
            return Vec::new();
        }
        if list.is_empty() {
            self.problem(
                field,
                "'python_versions' [] is too short. List \"3\" (and \"2\" if the pack still runs \
                 on Python 2), or remove the key."
                    .to_owned(),
            );
        }
        if list.len() > 2 {
            self.problem(
                field,
                format!(
                    "'python_versions' has {} entries but at most 2 are allowed. List \"2\" and/or \
                     \"3\", each once.",
                    list.len()
                ),
            );
        }
        for item in &list {
            if !PYTHON_VERSIONS.contains(&item.as_str()) {
                self.problem(
                    field,
                    format!(
                        "'python_versions': '{item}' is not one of ['2', '3']. List only \"2\" \
                         and/or \"3\"."
                    ),
                );
            }
        }
        let unique: BTreeSet<&String> = list.iter().collect();
        if unique.len() != list.len() {
            self.problem(
                field,
                "'python_versions' has non-unique elements. List each version once.".to_owned(),
            );
        }
        list
    }

    fn stackstorm_version(&mut self) -> Option<String> {
        let spec = self.optional_string("stackstorm_version")?;
        match St2VersionSpec::parse(&spec) {
            Ok(_) => Some(spec),
            Err(e) => {
                self.problem("stackstorm_version", format!("'stackstorm_version': {e}"));
                None
            }
        }
    }

    fn system(&mut self) -> JsonValue {
        let Some(value) = self.get("system").cloned() else {
            return empty_object();
        };
        if !value.is_object() {
            self.problem(
                "system",
                format!(
                    "'system' must be a mapping (e.g. `system: {{centos: {{foo: \">= 1.0\"}}}}`), \
                     but pack.yaml gives {}. Fix or remove the key.",
                    describe(&value)
                ),
            );
            return empty_object();
        }
        value
    }

    fn derive_ref(
        &mut self,
        ref_field: Option<&str>,
        dir_name: Option<&str>,
        name: Option<&str>,
    ) -> Option<String> {
        let (candidate, field) = if let Some(r) = ref_field.filter(|r| !r.is_empty()) {
            if !matches_ref_whitelist(r) {
                let fix = match suggest_ref(r) {
                    Some(s) => format!(" Set \"ref\" in pack.yaml to e.g. {s}."),
                    None => " Change \"ref\" in pack.yaml.".to_owned(),
                };
                self.problem(
                    "ref",
                    format!(
                        "Pack ref / name can only contain valid word characters (a-z, 0-9 and _), \
                         dashes are not allowed. '{r}' does not match '{PACK_REF_WHITELIST_REGEX}'.\
                         {fix}"
                    ),
                );
                return None;
            }
            (r, "ref")
        } else if let Some(dir) = dir_name.filter(|d| matches_ref_whitelist(d)) {
            (dir, "ref")
        } else if let Some(name) = name {
            if !matches_ref_whitelist(name) {
                let example = suggest_ref(name)
                    .map(|s| format!(" For example: ref: {s}"))
                    .unwrap_or_default();
                self.problem(
                    "name",
                    format!(
                        "Pack name \"{name}\" contains invalid characters and \"ref\" attribute is \
                         not available. You either need to add \"ref\" attribute which contains \
                         only word characters to the pack metadata file or update name attribute \
                         to contain only word characters.{example}"
                    ),
                );
                return None;
            }
            (name, "name")
        } else {
            // `name` is missing: already reported as required.
            return None;
        };
        if RESERVED_PACK_REFS.contains(&candidate) {
            self.problem(
                field,
                format!(
                    "{candidate} is a reserved name, and cannot be used as a pack name. Set \
                     \"ref\" in pack.yaml to another name."
                ),
            );
            return None;
        }
        Some(candidate.to_owned())
    }
}

/// A valid ref made from `text` (lowercased, runs of other characters turned into `_`).
fn suggest_ref(text: &str) -> Option<String> {
    let lowered = text.to_ascii_lowercase();
    let guess = lowered
        .split(|c: char| !(c.is_ascii_alphanumeric()))
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("_");
    Some(guess).filter(|g| is_valid_pack_ref(g))
}

/// A valid pack version close to `text` (drop a leading `v`, pad `x.y`, lowercase).
fn version_guess(text: &str) -> Option<String> {
    let trimmed = text.trim();
    let bare = trimmed
        .strip_prefix('v')
        .or_else(|| trimmed.strip_prefix('V'))
        .unwrap_or(trimmed);
    let padded = normalize_pack_version(bare);
    [padded.clone(), padded.to_ascii_lowercase()]
        .into_iter()
        .find(|g| g != text && is_valid_pack_version(g))
}

/// "a number (0.2)", "a list", ... for messages.
fn describe(value: &JsonValue) -> String {
    match value {
        JsonValue::Null => "nothing (null)".to_owned(),
        JsonValue::Bool(b) => format!("a boolean ({b})"),
        JsonValue::Number(n) => format!("a number ({n})"),
        JsonValue::String(s) => format!("a string (\"{s}\")"),
        JsonValue::Array(_) => "a list".to_owned(),
        JsonValue::Object(_) => "a mapping".to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    const BASE: &str = "description: d\nversion: 0.1.0\nauthor: a\n";

    fn parse(extra: &str) -> Result<PackMeta, PackYamlError> {
        parse_pack_yaml(&format!("{BASE}{extra}"), None)
    }

    fn ok(extra: &str) -> PackMeta {
        parse(extra).unwrap()
    }

    fn err(extra: &str) -> String {
        parse(extra).unwrap_err().to_string()
    }

    #[test]
    fn minimal_pack_parses_with_defaults() {
        let meta = ok("name: pack1\n");
        assert_eq!(
            meta,
            PackMeta {
                ref_: "pack1".into(),
                name: "pack1".into(),
                version: "0.1.0".into(),
                description: "d".into(),
                author: "a".into(),
                email: None,
                keywords: vec![],
                dependencies: vec![],
                python_versions: vec![],
                stackstorm_version: None,
                contributors: vec![],
                system: json!({}),
            }
        );
    }

    #[test]
    fn ref_from_name_or_ref() {
        assert_eq!(ok("name: pack1\n").ref_, "pack1");
        let meta = ok("name: Pack1\nref: pack1\n");
        assert_eq!(meta.ref_, "pack1");
        assert_eq!(meta.name, "Pack1");
    }

    // `_global` is refused as ref, as name and as directory name.
    #[test]
    fn reserved_refs() {
        let expected = "_global is a reserved name, and cannot be used as a pack name. Set \
                        \"ref\" in pack.yaml to another name.";
        assert_eq!(err("name: Pack1\nref: _global\n"), expected);
        assert_eq!(err("name: _global\n"), expected);
        let e = parse_pack_yaml(&format!("{BASE}name: Pack 1\n"), Some("_global")).unwrap_err();
        assert_eq!(e.to_string(), expected);
    }

    // The directory name as ref, contributors kept in order.
    #[test]
    fn dir_name_and_contributors() {
        let text = "name: dummy_pack_1\ndescription: dummy pack\nversion: 0.1.0\nauthor: st2-dev\n\
                    contributors:\n  - John Doe1 <john.doe1@gmail.com>\n  - John Doe2 <john.doe2@gmail.com>\n";
        let meta = parse_pack_yaml(text, Some("dummy_pack_1")).unwrap();
        assert_eq!(meta.ref_, "dummy_pack_1");
        assert_eq!(
            meta.contributors,
            vec![
                "John Doe1 <john.doe1@gmail.com>",
                "John Doe2 <john.doe2@gmail.com>"
            ]
        );
    }

    // Extra keys are accepted and dropped.
    #[test]
    fn extra_keys_ignored() {
        let meta = ok(
            "name: dummy_pack_20\nref: dummy_pack_20_ref\nattribute1: 1\nattribute2: two\n\
                       attribute3: [3]\nattribute: 4\nsome: [feature, value]\n",
        );
        assert_eq!(meta.ref_, "dummy_pack_20_ref");
        assert!(meta.contributors.is_empty());
        let json = serde_json::to_value(&meta).unwrap();
        assert!(json.get("attribute1").is_none());
        assert!(json.get("some").is_none());
    }

    #[test]
    fn ref_beats_dir_name() {
        let meta = parse_pack_yaml(
            &format!("{BASE}name: x\nref: dummy_pack_6_ref\n"),
            Some("dummy_pack_6"),
        )
        .unwrap();
        assert_eq!(meta.ref_, "dummy_pack_6_ref");
    }

    #[test]
    fn name_when_no_ref_and_no_dir() {
        assert_eq!(ok("name: dummy_pack_7_name\n").ref_, "dummy_pack_7_name");
    }

    #[test]
    fn dir_name_beats_name_but_only_when_valid() {
        let text = format!("{BASE}name: Fancy Name\n");
        assert_eq!(parse_pack_yaml(&text, Some("fancy")).unwrap().ref_, "fancy");
        let text = format!("{BASE}name: plain\n");
        assert_eq!(
            parse_pack_yaml(&text, Some("stackstorm-plain"))
                .unwrap()
                .ref_,
            "plain"
        );
        let text = format!("{BASE}name: Fancy Name\n");
        assert!(parse_pack_yaml(&text, Some("stackstorm-fancy")).is_err());
    }

    // st2's message, with its "onlyword" typo fixed.
    #[test]
    fn invalid_name_without_ref() {
        assert_eq!(
            err("name: dummy pack 14\n"),
            "Pack name \"dummy pack 14\" contains invalid characters and \"ref\" attribute is not \
             available. You either need to add \"ref\" attribute which contains only word \
             characters to the pack metadata file or update name attribute to contain only word \
             characters. For example: ref: dummy_pack_14"
        );
        let e = err("name: Dummy Pack 8 Invalid Name\n");
        assert!(e.contains("contains invalid characters"), "{e}");
        assert!(
            e.ends_with("For example: ref: dummy_pack_8_invalid_name"),
            "{e}"
        );
        let e = err("name: My Pack\n");
        assert!(
            e.starts_with("Pack name \"My Pack\" contains invalid characters"),
            "{e}"
        );
        assert!(!e.contains("onlyword"));
    }

    #[test]
    fn invalid_ref_pattern() {
        let e = parse("name: x\nref: invalid-has-dash\n").unwrap_err();
        assert_eq!(e.problems.len(), 1);
        assert_eq!(e.problems[0].field.as_deref(), Some("ref"));
        assert_eq!(
            e.to_string(),
            "Pack ref / name can only contain valid word characters (a-z, 0-9 and _), dashes are \
             not allowed. 'invalid-has-dash' does not match '^[a-z0-9_]+$'. Set \"ref\" in \
             pack.yaml to e.g. invalid_has_dash."
        );
        // A dotted ref is refused up front, not after the pack is moved into place.
        let e = err("name: x\nref: my.pack\n");
        assert!(e.contains("'my.pack' does not match '^[a-z0-9_]+$'"), "{e}");
    }

    // Everything stored exactly, unknown keys not stored.
    #[test]
    fn full_metadata() {
        let meta = ok(
            "name: dummy_pack_11\nemail: info@stackstorm.com\nkeywords: [a, b]\n\
                       dependencies: [core=0.2.0]\nstackstorm_version: \">=1.6.0, <2.2.0\"\n\
                       system: {centos: {foo: \">= 1.0\"}}\npython_versions: [\"2\", \"3\"]\n\
                       this: {is: unknown}\nfuture: arguments\n",
        );
        assert_eq!(meta.dependencies, vec!["core=0.2.0"]);
        assert_eq!(meta.stackstorm_version.as_deref(), Some(">=1.6.0, <2.2.0"));
        assert_eq!(meta.system, json!({"centos": {"foo": ">= 1.0"}}));
        assert_eq!(meta.python_versions, vec!["2", "3"]);
        assert_eq!(meta.keywords, vec!["a", "b"]);
        assert_eq!(meta.email.as_deref(), Some("info@stackstorm.com"));
        let json = serde_json::to_value(&meta).unwrap();
        assert_eq!(json["ref"], "dummy_pack_11");
        assert!(json.get("this").is_none());
        assert!(json.get("future").is_none());
        let back: PackMeta = serde_json::from_value(json).unwrap();
        assert_eq!(back, meta);
    }

    // The one `stackstorm_version` grammar decides, not st2's regex.
    #[test]
    fn bad_stackstorm_version() {
        let e = parse("name: x\nstackstorm_version: wrongstackstormversion\n").unwrap_err();
        assert_eq!(e.problems[0].field.as_deref(), Some("stackstorm_version"));
        assert!(
            e.to_string()
                .starts_with("'stackstorm_version': 'wrongstackstormversion' does not match"),
            "{e}"
        );
        // Forms st2's regex refused are accepted.
        for ok_spec in [
            "all",
            "2.0.0",
            "\"==2.0.0\"",
            "\">= 3.4, <4.0\"",
            "\">=3.0.0,\"",
        ] {
            let meta = ok(&format!("name: x\nstackstorm_version: {ok_spec}\n"));
            assert!(meta.stackstorm_version.is_some(), "{ok_spec}");
        }
        assert!(parse("name: x\nstackstorm_version: \">>1.0.0\"\n").is_err());
    }

    #[test]
    fn python_versions_enum() {
        let e = parse("name: x\npython_versions: [\"4\", \"5\"]\n").unwrap_err();
        let text = e.to_string();
        assert!(text.contains("'4' is not one of ['2', '3']"), "{text}");
        assert!(text.contains("'5' is not one of ['2', '3']"), "{text}");
        assert_eq!(e.problems_for("python_versions").count(), 2);
    }

    #[test]
    fn python_versions_shape_rules() {
        assert!(err("name: x\npython_versions: []\n").contains("[] is too short"));
        assert!(err("name: x\npython_versions: [\"3\", \"3\"]\n").contains("non-unique"));
        assert!(err("name: x\npython_versions: [\"2\", \"3\", \"3\"]\n").contains("at most 2"));
        let e = err("name: x\npython_versions: [3]\n");
        assert_eq!(
            e,
            "'python_versions' item 1 must be a string, but it is a number (3). Quote it."
        );
        assert!(err("name: x\npython_versions: \"3\"\n").contains("must be a list of strings"));
        assert_eq!(
            ok("name: x\npython_versions: [\"3\"]\n").python_versions,
            vec!["3"]
        );
        assert!(ok("name: x\npython_versions:\n").python_versions.is_empty());
    }

    #[test]
    fn float_version() {
        let text = "name: x\ndescription: d\nversion: 0.2\nauthor: a\n";
        let e = parse_pack_yaml(text, None).unwrap_err().to_string();
        assert!(
            e.starts_with(
                "Pack version \"0.2\" doesn't follow a valid semver format. Valid versions and \
                 formats include: 0.1.0, 0.2.1, 1.1.0, etc."
            ),
            "{e}"
        );
        assert!(e.ends_with("version: \"0.2.0\"."), "{e}");
        let e = parse_pack_yaml("name: x\ndescription: d\nversion: 1.0\nauthor: a\n", None)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("Pack version \"1.0\" doesn't"), "{e}");
        let e = parse_pack_yaml("name: x\ndescription: d\nversion: 1\nauthor: a\n", None)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("Pack version \"1\" doesn't"), "{e}");
    }

    #[test]
    fn string_versions_get_a_guess() {
        let text = "name: x\ndescription: d\nauthor: a\nversion: ";
        let e = parse_pack_yaml(&format!("{text}v1.2.0\n"), None)
            .unwrap_err()
            .to_string();
        assert!(e.ends_with("Did you mean version: \"1.2.0\"?"), "{e}");
        let e = parse_pack_yaml(&format!("{text}1.0.0-RC1\n"), None)
            .unwrap_err()
            .to_string();
        assert!(e.ends_with("Did you mean version: \"1.0.0-rc1\"?"), "{e}");
        let e = parse_pack_yaml(&format!("{text}latest\n"), None)
            .unwrap_err()
            .to_string();
        assert!(
            e.ends_with("Write version as MAJOR.MINOR.PATCH, e.g. \"1.0.0\"."),
            "{e}"
        );
        let e = parse_pack_yaml(&format!("{text}true\n"), None)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("Pack version \"True\" doesn't"), "{e}");
    }

    #[test]
    fn empty_file() {
        for text in ["", "   \n", "# only a comment\n", "---\n", "{}\n", "~\n"] {
            let e = parse_pack_yaml(text, None).unwrap_err();
            assert!(e.is_empty_file(), "{text:?}");
            assert_eq!(
                e.to_string(),
                "Pack \"pack.yaml\" metadata file is empty. Add at least name, description, \
                 version and author."
            );
        }
    }

    #[test]
    fn non_mapping_and_bad_yaml() {
        let e = parse_pack_yaml("- a\n- b\n", None).unwrap_err();
        assert!(!e.is_empty_file());
        assert_eq!(
            e.to_string(),
            "pack.yaml must hold a mapping of fields (name: ..., version: ...), but it holds a \
             list. Rewrite it as `key: value` lines."
        );
        assert!(
            parse_pack_yaml("just text\n", None)
                .unwrap_err()
                .to_string()
                .contains("a string")
        );
        let e = parse_pack_yaml("name: [unclosed\n", None)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("pack.yaml is not valid YAML: "), "{e}");
        let e = parse_pack_yaml("a: 1\n---\nb: 2\n", None)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("pack.yaml is not valid YAML: "), "{e}");
    }

    #[test]
    fn custom_tags_are_refused() {
        let e = parse("name: x\nsystem: {a: !custom [ls]}\n").unwrap_err();
        assert_eq!(e.problems.len(), 1);
        assert!(
            e.to_string()
                .starts_with("pack.yaml uses the YAML tag !custom at line 5, column "),
            "{e}"
        );
        for text in [
            "name: x\nsystem: {a: !!python/object/apply:os.system [ls]}\n",
            "name: !!python/name:os.system\n",
            "name: x\nsystem:\n  - !!python/tuple [1]\n",
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(e.problems.len(), 1, "{text}");
            assert!(
                e.to_string().starts_with("pack.yaml uses a !!python/ tag"),
                "{e}"
            );
        }
        assert!(parse("name: x\nkeywords: [\"!!python/ in quotes\"]\n").is_ok());
        let e = parse_pack_yaml("!foo {name: x}\n", None).unwrap_err();
        assert!(e.to_string().contains("tag !foo at line 1"), "{e}");
    }

    #[test]
    fn all_missing_required_fields_are_reported_together() {
        let e = parse_pack_yaml("keywords: [a]\n", None).unwrap_err();
        let fields: Vec<_> = e
            .problems
            .iter()
            .map(|p| p.field.clone().unwrap())
            .collect();
        assert_eq!(fields, vec!["name", "description", "version", "author"]);
        assert_eq!(
            e.problems[0].message,
            "'name' is a required property. Add `name: <the pack's display name>` to pack.yaml."
        );
        assert_eq!(e.to_string().lines().count(), 4);
    }

    #[test]
    fn many_problems_at_once() {
        let text = "name: Bad Name\ndescription: [x]\nversion: 0.2\nauthor: a\nemail: nope\n\
                    keywords: kw\nstackstorm_version: \">>2\"\ncontributors: [1]\nsystem: []\n";
        let e = parse_pack_yaml(text, None).unwrap_err();
        let fields: Vec<_> = e
            .problems
            .iter()
            .map(|p| p.field.clone().unwrap())
            .collect();
        assert_eq!(
            fields,
            vec![
                "description",
                "version",
                "email",
                "keywords",
                "stackstorm_version",
                "contributors",
                "system",
                "name"
            ]
        );
    }

    #[test]
    fn null_required_field_counts_as_missing() {
        let e = parse("name:\n").unwrap_err().to_string();
        assert!(e.starts_with("'name' is a required property."), "{e}");
        let e = parse("name: 12\n").unwrap_err().to_string();
        assert_eq!(
            e,
            "'name' must be a string, but pack.yaml gives a number (12). Write it as text, quoted \
             if needed."
        );
    }

    #[test]
    fn email_is_loosely_checked() {
        assert_eq!(ok("name: x\nemail: a@b\n").email.as_deref(), Some("a@b"));
        for bad in ["nope", "@b", "a@", "a@b@c", "John <a@b.c>"] {
            let e = err(&format!("name: x\nemail: \"{bad}\"\n"));
            assert!(
                e.starts_with(&format!("'email' value \"{bad}\" is not an email")),
                "{e}"
            );
        }
        assert_eq!(ok("name: x\nemail:\n").email, None);
    }

    #[test]
    fn lists_must_hold_strings() {
        let e = err("name: x\ndependencies: [a, {b: c}]\n");
        assert_eq!(
            e,
            "'dependencies' item 2 must be a string, but it is a mapping. Quote it."
        );
        let long = "x".repeat(101);
        let e = err(&format!("name: x\ncontributors: [\"{long}\"]\n"));
        assert!(
            e.starts_with("'contributors' item 1 is longer than 100 characters."),
            "{e}"
        );
        assert_eq!(
            ok(&format!(
                "name: x\ncontributors: [\"{}\"]\n",
                "y".repeat(100)
            ))
            .contributors
            .len(),
            1
        );
    }

    #[test]
    fn system_is_converted_to_json() {
        let meta = ok("name: x\nsystem:\n  centos: {7: yes, n: 1, f: 1.5, l: [true, null]}\n");
        assert_eq!(
            meta.system,
            json!({"centos": {"7": "yes", "n": 1, "f": 1.5, "l": [true, null]}})
        );
        let e = err("name: x\nsystem: {a: .nan}\n");
        assert!(
            e.starts_with("pack.yaml is not valid YAML: ") && e.contains("line 5"),
            "{e}"
        );
    }

    #[test]
    fn deserialize_defaults() {
        let meta: PackMeta = serde_json::from_value(json!({
            "ref": "p", "name": "p", "version": "1.0.0", "description": "d", "author": "a"
        }))
        .unwrap();
        assert_eq!(meta.system, json!({}));
        assert!(meta.keywords.is_empty());
        assert_eq!(meta.email, None);
    }

    #[test]
    fn deprecation_warning_for_python2_only() {
        let mut meta = ok("name: Pack2\nref: pack2\npython_versions: [\"2\"]\n");
        assert_eq!(
            deprecation_warnings(&meta),
            vec![
                "DEPRECATION WARNING: Pack Pack2 only supports Python 2.x. Python 2 support has \
                 been removed since st2 v3.4.0. Please update your packs to work with Python 3.x"
            ]
        );
        for other in [vec!["3"], vec!["2", "3"], vec![]] {
            meta.python_versions = other.into_iter().map(String::from).collect();
            assert!(deprecation_warnings(&meta).is_empty());
        }
    }

    #[test]
    fn ref_validity_and_constants() {
        assert!(is_valid_pack_ref("my_pack1"));
        assert!(!is_valid_pack_ref("My_pack"));
        assert!(!is_valid_pack_ref("my-pack"));
        assert!(!is_valid_pack_ref("my.pack"));
        assert!(!is_valid_pack_ref(""));
        assert!(!is_valid_pack_ref("_global"));
        assert_eq!(SYSTEM_PACKS, ["chatops", "core", "linux", "packs"]);
        assert_eq!(RESERVED_PACK_REFS, ["_global"]);
    }

    #[test]
    fn pack_version_regex() {
        for good in [
            "0.1.0",
            "1.10.0",
            "0.1.1-boto3",
            "1.0.0+build.1",
            "1.0.0-rc.1+b-2",
        ] {
            assert!(is_valid_pack_version(good), "{good}");
        }
        for bad in [
            "0.2",
            "01.0.0",
            "1.0.0-RC1",
            "v1.0.0",
            "",
            "1.0.0 ",
            "1.0.0-",
        ] {
            assert!(!is_valid_pack_version(bad), "{bad}");
        }
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest_ref("My-Pack 2").as_deref(), Some("my_pack_2"));
        assert_eq!(suggest_ref("---"), None);
        assert_eq!(version_guess("0.3").as_deref(), Some("0.3.0"));
        assert_eq!(version_guess("x"), None);
    }
}
