//! `default`: StackStorm's file-based resource overrides as an override policy.
//!
//! The host hands over the override files that apply to a pack as (path, YAML text)
//! pairs, `overrides/_global.yaml` first, then `overrides/<pack>.yaml`:
//!
//! ```yaml
//! sensors:                 # actions, aliases, rules or sensors
//!   defaults:
//!     enabled: false       # every sensor of the pack...
//!   exceptions:            # (pack file only)
//!     my_sensor:           # ...except this one (name without the pack prefix)
//!       enabled: true
//! ```
//!
//! Precedence, as in st2: pack exceptions > pack defaults > global defaults > keep
//! (abstain). Only `enabled` matters; other keys are ignored, unknown resource types
//! with a logged warning, and `exceptions` in `_global.yaml` likewise (st2 ignores them
//! there too). An empty file is a no-op. Invalid YAML (duplicate keys included) or an
//! `enabled` that is not a boolean fails the whole decision with
//! `"<path>: <what is wrong at which key>; fix the file"`.
//!
//! YAML is parsed as YAML 1.2 (saphyr), but since st2 reads these files with PyYAML
//! (YAML 1.1), the 1.1 booleans `yes`/`no`/`on`/`off` (in PyYAML's spellings) are
//! accepted for `enabled` too, so files st2 accepts are accepted here.

wit_bindgen::generate!({ path: "../../wit", world: "override-policy" });

use exports::stackpack::plugin::policy::{
    Guest, PackContext, PackResource, PolicyInfo, ResourceKind, Verdict,
};
use saphyr::{LoadableYamlNode, Scalar, Yaml};
use stackpack::plugin::host_base::{LogLevel, log};
use std::collections::BTreeMap;

/// Resource types in the order of `kind_index`.
const TYPES: [&str; 4] = ["actions", "aliases", "rules", "sensors"];

fn kind_index(kind: ResourceKind) -> usize {
    match kind {
        ResourceKind::Action => 0,
        ResourceKind::Alias => 1,
        ResourceKind::Rule => 2,
        ResourceKind::Sensor => 3,
    }
}

#[derive(Default)]
struct TypeRules {
    defaults: Option<bool>,
    exceptions: BTreeMap<String, bool>,
}

/// One parsed override file.
struct OverrideFile<'a> {
    path: &'a str,
    types: [TypeRules; 4],
}

fn is_global(path: &str) -> bool {
    path.rsplit(['/', '\\']).next() == Some("_global.yaml")
}

fn untag<'y, 'i>(v: &'y Yaml<'i>) -> &'y Yaml<'i> {
    match v {
        Yaml::Tagged(_, inner) => untag(inner),
        _ => v,
    }
}

/// What a value is, for error messages.
fn show(v: &Yaml<'_>) -> String {
    match untag(v) {
        Yaml::Value(Scalar::String(s)) => format!("the string {s:?}"),
        Yaml::Value(Scalar::Integer(n)) => format!("the number {n}"),
        Yaml::Value(Scalar::FloatingPoint(f)) => format!("the number {f}"),
        Yaml::Value(Scalar::Boolean(b)) => format!("{b}"),
        Yaml::Value(Scalar::Null) => "nothing (null)".into(),
        Yaml::Sequence(_) => "a list".into(),
        Yaml::Mapping(_) => "a mapping".into(),
        Yaml::Representation(s, ..) => format!("{s:?}"),
        _ => "an unsupported value".into(),
    }
}

fn as_bool(v: &Yaml<'_>) -> Option<bool> {
    match untag(v) {
        Yaml::Value(Scalar::Boolean(b)) => Some(*b),
        // PyYAML's YAML 1.1 booleans (true/True/TRUE and false/... are 1.2 booleans).
        Yaml::Value(Scalar::String(s)) => match s.as_ref() {
            "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Some(true),
            "no" | "No" | "NO" | "off" | "Off" | "OFF" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn key_name(k: &Yaml<'_>) -> Option<String> {
    match untag(k) {
        Yaml::Value(Scalar::String(s)) => Some(s.to_string()),
        Yaml::Value(Scalar::Integer(n)) => Some(n.to_string()),
        Yaml::Value(Scalar::Boolean(b)) => Some(b.to_string()),
        _ => None,
    }
}

/// The entries of a mapping with their names; `null` counts as an empty mapping.
fn entries<'y, 'i>(
    v: &'y Yaml<'i>,
    path: &str,
    at: &str,
) -> Result<Vec<(String, &'y Yaml<'i>)>, String> {
    match untag(v) {
        Yaml::Value(Scalar::Null) => Ok(Vec::new()),
        Yaml::Mapping(m) => m
            .iter()
            .map(|(k, v)| match key_name(k) {
                Some(name) => Ok((name, v)),
                None => Err(format!(
                    "{path}: {at} has a key that is {}, expected a name; fix the file",
                    show(k)
                )),
            })
            .collect(),
        other => Err(format!(
            "{path}: {at} must be a mapping, found {}; fix the file",
            show(other)
        )),
    }
}

/// The `enabled` of a `defaults` or exception mapping, if it has one.
fn enabled(v: &Yaml<'_>, path: &str, at: &str) -> Result<Option<bool>, String> {
    for (key, value) in entries(v, path, at)? {
        if key == "enabled" {
            return match as_bool(value) {
                Some(b) => Ok(Some(b)),
                None => Err(format!(
                    "{path}: {at}.enabled must be true or false, found {}; fix the file",
                    show(value)
                )),
            };
        }
    }
    Ok(None)
}

fn parse_file<'a>(path: &'a str, text: &str) -> Result<OverrideFile<'a>, String> {
    let mut file = OverrideFile {
        path,
        types: Default::default(),
    };
    let docs = Yaml::load_from_str(text)
        .map_err(|e| format!("{path}: not valid YAML: {e}; fix the file"))?;
    let doc = match docs.as_slice() {
        [] => return Ok(file),
        [doc] => doc,
        more => {
            return Err(format!(
                "{path}: holds {} YAML documents, expected one; fix the file",
                more.len()
            ));
        }
    };
    let global = is_global(path);
    for (type_key, body) in entries(doc, path, "the top level")? {
        let Some(i) = TYPES.iter().position(|t| *t == type_key) else {
            log(
                LogLevel::Warn,
                &format!(
                    "{path}: ignoring unknown key {type_key:?} (overridable types: {})",
                    TYPES.join(", ")
                ),
            );
            continue;
        };
        let rules = &mut file.types[i];
        for (section, value) in entries(body, path, &type_key)? {
            let at = format!("{type_key}.{section}");
            match section.as_str() {
                "defaults" => rules.defaults = enabled(value, path, &at)?,
                "exceptions" if global => log(
                    LogLevel::Warn,
                    &format!("{path}: ignoring {at}: exceptions only apply in a pack's own file"),
                ),
                "exceptions" => {
                    for (name, exception) in entries(value, path, &at)? {
                        let at = format!("{at}.{name}");
                        if let Some(b) = enabled(exception, path, &at)? {
                            rules.exceptions.insert(name, b);
                        }
                    }
                }
                _ => {}
            }
        }
    }
    Ok(file)
}

fn verdict(value: bool, reason: String) -> Verdict {
    if value {
        Verdict::Enable(reason)
    } else {
        Verdict::Disable(reason)
    }
}

/// Later files take precedence over earlier ones (the pack's over `_global.yaml`), and
/// within a file an exception over the type's defaults.
fn decide_one(files: &[OverrideFile<'_>], resource: &PackResource) -> Verdict {
    let i = kind_index(resource.kind);
    let type_key = TYPES[i];
    for file in files.iter().rev() {
        let rules = &file.types[i];
        if let Some(&b) = rules.exceptions.get(&resource.name) {
            let reason = format!(
                "{}: {type_key}.exceptions.{}.enabled={b}",
                file.path, resource.name
            );
            return verdict(b, reason);
        }
        if let Some(b) = rules.defaults {
            return verdict(b, format!("{}: {type_key}.defaults.enabled={b}", file.path));
        }
    }
    Verdict::Keep
}

struct DefaultPolicy;

impl Guest for DefaultPolicy {
    fn describe() -> PolicyInfo {
        PolicyInfo {
            name: "default".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "StackStorm's override files: overrides/_global.yaml, then \
                          overrides/<pack>.yaml enable or disable resources"
                .into(),
        }
    }

    fn decide(ctx: PackContext, resources: Vec<PackResource>) -> Result<Vec<Verdict>, String> {
        let files = ctx
            .overrides
            .iter()
            .map(|(path, text)| parse_file(path, text))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(resources.iter().map(|r| decide_one(&files, r)).collect())
    }
}

export!(DefaultPolicy);

#[cfg(test)]
mod tests {
    use super::*;

    fn res(kind: ResourceKind, name: &str) -> PackResource {
        PackResource {
            kind,
            ref_: format!("mypack.{name}"),
            name: name.into(),
            enabled: true,
            file: format!("x/{name}.yaml"),
            metadata: Vec::new(),
        }
    }

    /// Verdicts as comparable strings ("keep", "enable: reason", "disable: reason").
    fn run(files: &[(&str, &str)], resources: &[PackResource]) -> Result<Vec<String>, String> {
        let parsed = files
            .iter()
            .map(|(p, t)| parse_file(p, t))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(resources
            .iter()
            .map(|r| match decide_one(&parsed, r) {
                Verdict::Keep => "keep".to_string(),
                Verdict::Enable(why) => format!("enable: {why}"),
                Verdict::Disable(why) => format!("disable: {why}"),
            })
            .collect())
    }

    const GLOBAL: &str = "overrides/_global.yaml";
    const PACK: &str = "overrides/mypack.yaml";

    #[test]
    fn precedence() {
        let global =
            "sensors:\n  defaults:\n    enabled: false\nrules:\n  defaults:\n    enabled: false\n";
        let pack = "rules:\n  defaults:\n    enabled: true\n  exceptions:\n    noisy:\n      enabled: false\nactions:\n  exceptions:\n    a1:\n      enabled: no\n";
        let resources = [
            res(ResourceKind::Sensor, "s1"),
            res(ResourceKind::Rule, "r1"),
            res(ResourceKind::Rule, "noisy"),
            res(ResourceKind::Action, "a1"),
            res(ResourceKind::Action, "a2"),
            res(ResourceKind::Alias, "al"),
        ];
        let got = run(&[(GLOBAL, global), (PACK, pack)], &resources).unwrap();
        assert_eq!(
            got,
            [
                "disable: overrides/_global.yaml: sensors.defaults.enabled=false",
                "enable: overrides/mypack.yaml: rules.defaults.enabled=true",
                "disable: overrides/mypack.yaml: rules.exceptions.noisy.enabled=false",
                "disable: overrides/mypack.yaml: actions.exceptions.a1.enabled=false",
                "keep",
                "keep",
            ]
        );
    }

    #[test]
    fn empty_and_null_files_are_no_ops() {
        let r = [res(ResourceKind::Sensor, "s")];
        for text in [
            "",
            "   \n",
            "# only a comment\n",
            "---\n",
            "~\n",
            "sensors:\n",
            "sensors:\n  defaults:\n",
        ] {
            assert_eq!(run(&[(PACK, text)], &r).unwrap(), ["keep"], "{text:?}");
        }
        let other_keys = "sensors:\n  defaults:\n    interval: 5\n  foo: bar\n";
        assert_eq!(run(&[(PACK, other_keys)], &r).unwrap(), ["keep"]);
    }

    #[test]
    fn errors_name_file_and_key() {
        let r = [res(ResourceKind::Sensor, "s")];
        let err = |text: &str| run(&[(PACK, text)], &r).unwrap_err();
        let e = err("sensors:\n  defaults:\n    enabled: maybe\n");
        assert_eq!(
            e,
            "overrides/mypack.yaml: sensors.defaults.enabled must be true or false, found the string \"maybe\"; fix the file"
        );
        let e = err("sensors:\n  exceptions:\n    s:\n      enabled: 1\n");
        assert!(
            e.contains("sensors.exceptions.s.enabled must be true or false"),
            "{e}"
        );
        let e = err("sensors: [a, b]\n");
        assert!(e.contains("sensors must be a mapping, found a list"), "{e}");
        let e = err("- a\n");
        assert!(e.contains("the top level must be a mapping"), "{e}");
        let e = err("sensors:\n  defaults: {enabled: true\n");
        assert!(
            e.starts_with("overrides/mypack.yaml: not valid YAML: "),
            "{e}"
        );
        assert!(e.ends_with("; fix the file"), "{e}");
        let e = err("sensors:\n  defaults:\n    enabled: true\n    enabled: false\n");
        assert!(e.contains("not valid YAML"), "{e}");
        let e = err("a: 1\n---\nb: 2\n");
        assert!(e.contains("2 YAML documents"), "{e}");
    }

    #[test]
    fn yaml_11_booleans_and_tags() {
        let r = [res(ResourceKind::Sensor, "s")];
        for (text, want) in [
            ("On", true),
            ("OFF", false),
            ("True", true),
            ("!!bool false", false),
        ] {
            let file = format!("sensors:\n  defaults:\n    enabled: {text}\n");
            let got = run(&[(PACK, &file)], &r).unwrap();
            assert_eq!(got[0].starts_with("enable"), want, "{text}: {got:?}");
        }
    }
}
