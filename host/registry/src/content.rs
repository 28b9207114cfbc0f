//! Reading a pack's content from disk: the top-level `*.yaml`/`*.yml` files
//! of `triggers/`, `sensors/`, `actions/`, `rules/`, `aliases/` and `policies/`, each
//! parsed and validated. A bad file becomes a [`Problem`] with its path and reason; the
//! other files are still read.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde_json::Value;
use stackpack_core::yaml::YamlError;

use crate::st2_rules::{self, Runners};

/// The kinds of content a pack registers, in st2's registration order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ResourceType {
    Trigger,
    Sensor,
    Action,
    Rule,
    Alias,
    Policy,
}

impl ResourceType {
    pub const ALL: [ResourceType; 6] = [
        ResourceType::Trigger,
        ResourceType::Sensor,
        ResourceType::Action,
        ResourceType::Rule,
        ResourceType::Alias,
        ResourceType::Policy,
    ];

    /// Singular name, as stored in the registry.
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceType::Trigger => "trigger",
            ResourceType::Sensor => "sensor",
            ResourceType::Action => "action",
            ResourceType::Rule => "rule",
            ResourceType::Alias => "alias",
            ResourceType::Policy => "policy",
        }
    }

    /// Plural name: the content directory and the key in count reports.
    pub fn plural(self) -> &'static str {
        match self {
            ResourceType::Trigger => "triggers",
            ResourceType::Sensor => "sensors",
            ResourceType::Action => "actions",
            ResourceType::Rule => "rules",
            ResourceType::Alias => "aliases",
            ResourceType::Policy => "policies",
        }
    }

    pub fn parse(s: &str) -> Option<ResourceType> {
        ResourceType::ALL
            .into_iter()
            .find(|t| t.as_str() == s || t.plural() == s)
    }

    /// Whether override policies apply (st2: actions, aliases, rules, sensors).
    pub fn overridable(self) -> bool {
        matches!(
            self,
            ResourceType::Sensor | ResourceType::Action | ResourceType::Rule | ResourceType::Alias
        )
    }

    /// The value of `enabled` when a file does not say: st2's API defaults (a rule is
    /// disabled unless it says otherwise).
    pub fn default_enabled(self) -> bool {
        !matches!(self, ResourceType::Rule)
    }
}

impl fmt::Display for ResourceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A kind of content named by `register --types`, with the names st2's
/// `POST /packs/register` accepts (singular or plural).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RegisterType {
    /// Everything, configs included.
    All,
    Resource(ResourceType),
    /// `<root>/configs/<pack>.yaml`.
    Config,
    /// st2's runners, rule types and policy types: built into stackpack, so naming them
    /// registers nothing here (st2 is still asked for them in the handoff).
    Runner,
    RuleType,
    PolicyType,
}

impl RegisterType {
    /// Every name accepted, as st2 spells them.
    pub const NAMES: [&'static str; 20] = [
        "all",
        "runner",
        "runners",
        "action",
        "actions",
        "trigger",
        "triggers",
        "sensor",
        "sensors",
        "rule",
        "rules",
        "rule_type",
        "rule_types",
        "alias",
        "aliases",
        "policy_type",
        "policy_types",
        "policy",
        "policies",
        "config",
    ];

    /// Reads one name (`configs` too); an unknown one is refused with the names st2
    /// knows and the nearest of them.
    pub fn parse(name: &str) -> Result<RegisterType, String> {
        let t = match name {
            "all" => RegisterType::All,
            "runner" | "runners" => RegisterType::Runner,
            "rule_type" | "rule_types" => RegisterType::RuleType,
            "policy_type" | "policy_types" => RegisterType::PolicyType,
            "config" | "configs" => RegisterType::Config,
            other => match ResourceType::parse(other) {
                Some(t) => RegisterType::Resource(t),
                None => {
                    let hint = crate::st2_rules::suggest(other, RegisterType::NAMES)
                        .map(|s| format!(" (did you mean \"{s}\"?)"))
                        .unwrap_or_default();
                    return Err(format!(
                        "unknown content type \"{other}\"{hint}; use {}",
                        RegisterType::NAMES.join(", ")
                    ));
                }
            },
        };
        Ok(t)
    }

    /// st2's name for it (`PackRegisterController.CONTENT_TYPES`).
    pub fn st2_name(self) -> &'static str {
        match self {
            RegisterType::All => "all",
            RegisterType::Resource(t) => t.as_str(),
            RegisterType::Config => "config",
            RegisterType::Runner => "runner",
            RegisterType::RuleType => "rule_type",
            RegisterType::PolicyType => "policy_type",
        }
    }
}

/// Which resources a registration reads and replaces. The trigger types a sensor
/// declares belong to the sensors (st2's sensor registrar registers them); `triggers`
/// means the files of `triggers/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    resources: Vec<ResourceType>,
    /// Load configs too.
    pub configs: bool,
}

impl Selection {
    /// Every resource type (configs as the caller says).
    pub fn all() -> Selection {
        Selection {
            resources: ResourceType::ALL.to_vec(),
            configs: false,
        }
    }

    /// The kinds named, as `st2 pack register --types` reads them: `all` is every
    /// resource type and configs.
    pub fn of(types: &[RegisterType]) -> Selection {
        if types.contains(&RegisterType::All) {
            return Selection {
                configs: true,
                ..Selection::all()
            };
        }
        Selection {
            resources: ResourceType::ALL
                .into_iter()
                .filter(|t| types.contains(&RegisterType::Resource(*t)))
                .collect(),
            configs: types.contains(&RegisterType::Config),
        }
    }

    /// Whether every resource type is selected.
    pub fn is_all(&self) -> bool {
        self.resources.len() == ResourceType::ALL.len()
    }

    /// Whether the files of `kind`'s directory are read.
    pub fn reads(&self, kind: ResourceType) -> bool {
        self.resources.contains(&kind)
    }

    /// Whether a registered resource of `kind` from `file` is replaced by this
    /// registration.
    pub fn covers(&self, kind: ResourceType, file: &str) -> bool {
        if kind == ResourceType::Trigger && is_sensor_file(file) {
            self.reads(ResourceType::Sensor)
        } else {
            self.reads(kind)
        }
    }
}

/// Whether `file` (relative to the pack) is a sensor's metadata file.
pub fn is_sensor_file(file: &str) -> bool {
    file.starts_with("sensors/")
}

/// One validated resource of a pack.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Resource {
    #[serde(rename = "type")]
    pub kind: ResourceType,
    /// `<pack>.<name>`.
    #[serde(rename = "ref")]
    pub ref_: String,
    /// The name within the pack (a sensor's `class_name`).
    pub name: String,
    /// The metadata file, relative to the pack directory (`actions/run.yaml`).
    pub file: String,
    /// What the pack itself says (its `enabled`, else the type's default); `None` for
    /// types that cannot be disabled (triggers, policies).
    pub enabled: Option<bool>,
    /// The whole document, with `pack` filled in.
    pub metadata: Value,
}

/// What a bad file was meant to be: a resource of some type, or the pack's config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    Resource(ResourceType),
    /// The pack's config: its schema (`config.schema.yaml`, checked whenever the pack is
    /// registered) or its values (`<root>/configs/<pack>.yaml`, loaded by
    /// `register --configs`).
    Config,
}

impl serde::Serialize for ProblemKind {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        match self {
            ProblemKind::Resource(t) => t.serialize(ser),
            ProblemKind::Config => ser.serialize_str("config"),
        }
    }
}

/// A file that could not be registered, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: ProblemKind,
    /// Relative to the pack directory for content files; a config's is relative to
    /// the root (`configs/<pack>.yaml`).
    pub file: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file, self.message)
    }
}

/// Everything read from one pack.
#[derive(Debug, Default, Clone)]
pub struct Scan {
    pub resources: Vec<Resource>,
    pub problems: Vec<Problem>,
    /// Metadata files read (valid or not).
    pub files: usize,
}

/// The metadata files of one content directory: regular files (symlinks are not
/// followed) ending in `.yaml`/`.yml`, sorted by name. `actions/config.yaml` is st2's
/// legacy pack config, not an action.
pub fn metadata_files(pack_dir: &Path, kind: ResourceType) -> Vec<String> {
    let dir = pack_dir.join(kind.plural());
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(".yaml") || n.ends_with(".yml"))
        .filter(|n| !(kind == ResourceType::Action && (n == "config.yaml" || n == "config.yml")))
        .map(|n| format!("{}/{n}", kind.plural()))
        .collect();
    files.sort();
    files
}

/// What a scan reads and the site's rules for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanOptions {
    /// The kinds of file read (all by default); see [`Selection`].
    pub selection: Selection,
    /// The runners actions may name beyond st2's own.
    pub runners: Runners,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            selection: Selection::all(),
            runners: Runners::default(),
        }
    }
}

/// Reads and validates every metadata file of the pack at `pack_dir`, whose ref is
/// `pack`.
pub fn scan_pack(pack_dir: &Path, pack: &str) -> Scan {
    scan_pack_with(pack_dir, pack, &ScanOptions::default())
}

/// Reads and validates the metadata files of the kinds `options` selects (a sensor's
/// file also declares its trigger types, which come with the sensors).
pub fn scan_pack_with(pack_dir: &Path, pack: &str, options: &ScanOptions) -> Scan {
    let mut scan = Scan::default();
    // Where each ref was first defined, to report duplicates.
    let mut seen: BTreeMap<(ResourceType, String), String> = BTreeMap::new();
    for kind in ResourceType::ALL {
        if !options.selection.reads(kind) {
            continue;
        }
        for file in metadata_files(pack_dir, kind) {
            scan.files += 1;
            let parsed = stackpack_fs::read_to_string_limited(
                &pack_dir.join(&file),
                stackpack_core::yaml::MAX_FILE_BYTES,
            )
            .map_err(|e| format!("cannot read the file: {e}"))
            .and_then(|text| parse_yaml(&text))
            .and_then(|doc| validate(kind, pack, &file, doc, options));
            match parsed {
                Ok(resources) => {
                    for r in resources {
                        let key = (r.kind, r.ref_.clone());
                        if let Some(first) = seen.get(&key) {
                            // A trigger type declared both by a sensor and in triggers/
                            // is one trigger; any other repeat is a mistake.
                            if r.kind != ResourceType::Trigger {
                                scan.problems.push(Problem {
                                    kind: ProblemKind::Resource(kind),
                                    file: file.clone(),
                                    message: format!(
                                        "{} \"{}\" is already defined in {first}; rename one of them",
                                        r.kind, r.name
                                    ),
                                });
                            }
                            continue;
                        }
                        seen.insert(key, file.clone());
                        scan.resources.push(r);
                    }
                }
                Err(message) => scan.problems.push(Problem {
                    kind: ProblemKind::Resource(kind),
                    file: file.clone(),
                    message,
                }),
            }
        }
    }
    scan
}

/// Parses one YAML document into JSON values. Explicit tags outside YAML's own
/// (`!python/object:...`, `!!python/name:...`, `!Custom`) are refused, so nothing is ever
/// constructed from a tag (st2 uses a safe loader for the same reason); aliases, nesting
/// and size are bounded (see `stackpack_core::yaml`).
pub fn parse_yaml(text: &str) -> Result<Value, String> {
    let value: Value = stackpack_core::yaml::from_str(text).map_err(|e| match *e {
        YamlError::UnsupportedTag { tag, location } => format!(
            "uses the YAML tag {tag} (line {}), which pack metadata may not use; remove it",
            location.line()
        ),
        e => format!("not valid YAML: {e}"),
    })?;
    match value {
        Value::Null => Err("the file is empty".into()),
        Value::Object(_) => Ok(value),
        other => Err(format!(
            "expected a mapping of fields, found {}",
            describe(&other)
        )),
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::Null => "nothing (null)".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a mapping".into(),
    }
}

type Fields = serde_json::Map<String, Value>;

fn required_str<'a>(doc: &'a Fields, key: &str) -> Result<&'a str, String> {
    match doc.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s),
        None | Some(Value::Null) => Err(format!("required field \"{key}\" is missing")),
        Some(other) => Err(format!(
            "field \"{key}\" must be a non-empty string, found {}",
            describe(other)
        )),
    }
}

fn optional_map<'a>(doc: &'a Fields, key: &str) -> Result<Option<&'a Fields>, String> {
    match doc.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(other) => Err(format!(
            "field \"{key}\" must be a mapping, found {}",
            describe(other)
        )),
    }
}

fn enabled(doc: &Fields, kind: ResourceType) -> Result<Option<bool>, String> {
    if !kind.overridable() {
        return Ok(None);
    }
    match doc.get("enabled") {
        None | Some(Value::Null) => Ok(Some(kind.default_enabled())),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(format!(
            "field \"enabled\" must be true or false, found {}",
            describe(other)
        )),
    }
}

/// Checks one parsed document and returns the resources it defines (a sensor also
/// defines the trigger types it lists).
fn validate(
    kind: ResourceType,
    pack: &str,
    file: &str,
    doc: Value,
    options: &ScanOptions,
) -> Result<Vec<Resource>, String> {
    let Value::Object(mut doc) = doc else {
        return Err("expected a mapping of fields".into());
    };
    match doc.get("pack") {
        None | Some(Value::Null) => {
            doc.insert("pack".into(), Value::String(pack.into()));
        }
        Some(Value::String(p)) if p == pack => {}
        Some(other) => {
            let shown = match other {
                Value::String(s) => s.clone(),
                v => describe(v),
            };
            return Err(format!(
                "the file is in pack \"{pack}\" but its field \"pack\" says {shown:?}; \
                 remove the field or set it to \"{pack}\""
            ));
        }
    }
    let name_key = if kind == ResourceType::Sensor {
        "class_name"
    } else {
        "name"
    };
    let name = required_str(&doc, name_key)?.to_string();
    let mut extra = Vec::new();
    match kind {
        ResourceType::Action => {
            st2_rules::check_action(&doc, &options.runners)?;
        }
        ResourceType::Sensor => {
            if doc.get("entry_point").and_then(Value::as_str).is_none() {
                return Err(
                    "sensor definition is missing \"entry_point\" (the Python file \
                            of the sensor class)"
                        .into(),
                );
            }
            match doc.get("trigger_types") {
                None | Some(Value::Null) => {}
                Some(Value::Array(items)) => {
                    for (i, item) in items.iter().enumerate() {
                        let Value::Object(t) = item else {
                            return Err(format!(
                                "trigger_types[{i}] must be a mapping with a \"name\", found {}",
                                describe(item)
                            ));
                        };
                        let tname = required_str(t, "name")
                            .map_err(|e| format!("trigger_types[{i}]: {e}"))?;
                        let mut t = t.clone();
                        t.entry("pack")
                            .or_insert_with(|| Value::String(pack.into()));
                        extra.push(Resource {
                            kind: ResourceType::Trigger,
                            ref_: format!("{pack}.{tname}"),
                            name: tname.to_string(),
                            file: file.to_string(),
                            enabled: None,
                            metadata: Value::Object(t),
                        });
                    }
                }
                Some(other) => {
                    return Err(format!(
                        "field \"trigger_types\" must be a list, found {}",
                        describe(other)
                    ));
                }
            }
        }
        ResourceType::Rule => {
            let trigger = optional_map(&doc, "trigger")?
                .ok_or("required field \"trigger\" is missing (a mapping with a \"type\")")?;
            required_str(trigger, "type").map_err(|e| format!("trigger: {e}"))?;
            let action = optional_map(&doc, "action")?
                .ok_or("required field \"action\" is missing (a mapping with a \"ref\")")?;
            required_str(action, "ref").map_err(|e| format!("action: {e}"))?;
            optional_map(&doc, "criteria")?;
        }
        ResourceType::Alias => {
            required_str(&doc, "action_ref")?;
        }
        ResourceType::Policy => {
            required_str(&doc, "resource_ref")?;
            required_str(&doc, "policy_type")?;
            st2_rules::check_policy(&mut doc)?;
        }
        ResourceType::Trigger => {
            optional_map(&doc, "payload_schema")?;
        }
    }
    let enabled = enabled(&doc, kind)?;
    let mut out = vec![Resource {
        kind,
        ref_: format!("{pack}.{name}"),
        name,
        file: file.to_string(),
        enabled,
        metadata: Value::Object(doc),
    }];
    out.extend(extra);
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn check(kind: ResourceType, yaml: &str) -> Result<Vec<Resource>, String> {
        validate(
            kind,
            "mine",
            "x/f.yaml",
            parse_yaml(yaml)?,
            &ScanOptions::default(),
        )
    }

    #[test]
    fn action_defaults_and_pack_field() {
        let r = check(
            ResourceType::Action,
            "name: a\nrunner_type: python-script\n",
        )
        .unwrap();
        assert_eq!(r[0].ref_, "mine.a");
        assert_eq!(r[0].enabled, Some(true));
        assert_eq!(r[0].metadata["pack"], "mine");
        let e = check(
            ResourceType::Action,
            "name: a\nrunner_type: local-shell-cmd\npack: other\n",
        )
        .unwrap_err();
        assert!(
            e.contains("in pack \"mine\"") && e.contains("\"other\""),
            "{e}"
        );
    }

    #[test]
    fn rules_default_to_disabled() {
        let r = check(
            ResourceType::Rule,
            "name: r\ntrigger: {type: core.st2.IntervalTimer}\naction: {ref: core.local}\n",
        )
        .unwrap();
        assert_eq!(r[0].enabled, Some(false));
        let e = check(ResourceType::Rule, "name: r\naction: {ref: core.local}\n").unwrap_err();
        assert!(e.contains("\"trigger\" is missing"), "{e}");
    }

    #[test]
    fn bad_parameter_types_are_named() {
        let e = check(
            ResourceType::Action,
            "name: a\nrunner_type: python-script\nparameters:\n  p: {type: stringa}\n",
        )
        .unwrap_err();
        assert!(
            e.contains("'stringa' is not one of ['array', 'boolean', 'integer', 'null', 'number', 'object', 'string']"),
            "{e}"
        );
        let e = check(
            ResourceType::Action,
            "name: a\nrunner_type: python-script\nparameters:\n  bad-name: {type: string}\n",
        )
        .unwrap_err();
        assert!(e.contains("\"bad-name\" is invalid"), "{e}");
    }

    #[test]
    fn sensors_need_entry_point_and_declare_triggers() {
        let e = check(ResourceType::Sensor, "class_name: S\n").unwrap_err();
        assert!(e.contains("entry_point"), "{e}");
        let r = check(
            ResourceType::Sensor,
            "class_name: S\nentry_point: s.py\ntrigger_types:\n  - name: t1\n  - name: t2\n",
        )
        .unwrap();
        let refs: Vec<_> = r.iter().map(|r| (r.kind, r.ref_.as_str())).collect();
        assert_eq!(
            refs,
            [
                (ResourceType::Sensor, "mine.S"),
                (ResourceType::Trigger, "mine.t1"),
                (ResourceType::Trigger, "mine.t2")
            ]
        );
    }

    #[test]
    fn unsafe_tags_and_odd_documents_are_refused() {
        let e = parse_yaml("name: !python/object/apply:os.system [ls]\n").unwrap_err();
        assert!(e.contains("!python/object/apply:os.system"), "{e}");
        assert_eq!(parse_yaml("").unwrap_err(), "the file is empty");
        assert!(parse_yaml("- a\n").unwrap_err().contains("a list"));
        let e = check(
            ResourceType::Policy,
            "name: p\nresource_ref: mine.a\npolicy_type: action.nope\n",
        )
        .unwrap_err();
        assert!(e.contains("action.concurrency"), "{e}");
        let e = check(
            ResourceType::Alias,
            "name: a\naction_ref: x.y\nenabled: maybe\n",
        )
        .unwrap_err();
        assert!(e.contains("\"enabled\" must be true or false"), "{e}");
    }
}
