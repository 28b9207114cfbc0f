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
//! (abstain). Only `enabled` can be overridden: any other key under `defaults` or an
//! exception is an error, as in st2. Unknown resource types are ignored with a logged
//! warning, and `exceptions` in `_global.yaml` likewise (st2 ignores them there too).
//! An empty file is a no-op (st2 crashes on it). Invalid YAML (duplicate keys included)
//! fails the whole decision; an invalid section (a key other than `enabled`, an
//! `enabled` that is not a boolean) fails it when the pack has resources of that type,
//! as st2 fails only when it overrides that type, and is logged otherwise. Errors read
//! `"<path>: <what is wrong at which key>; <the fix>"`.
//!
//! YAML is parsed as YAML 1.2's core schema (serde-saphyr, the host's YAML reader too,
//! with the same budgets against alias bombs and deep nesting), but since st2 reads
//! these files with PyYAML (YAML 1.1), the 1.1 booleans `yes`/`no`/`on`/`off` (in
//! PyYAML's spellings) are accepted for `enabled` too, so files st2 accepts are
//! accepted here.

use serde_json::Value;
use stackpack_plugin_sdk::policy::{
    PackContext, PackResource, Policy, PolicyInfo, ResourceKind, Verdict,
};
use std::collections::BTreeMap;

/// A warning for the operator, through the host's log.
#[cfg(target_arch = "wasm32")]
fn warn(message: &str) {
    use stackpack_plugin_sdk::policy::{LogLevel, log};
    log(LogLevel::Warn, message);
}

// Native unit tests have no host to import from: warnings are collected instead.
#[cfg(not(target_arch = "wasm32"))]
thread_local! {
    static WARNINGS: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

#[cfg(not(target_arch = "wasm32"))]
fn warn(message: &str) {
    WARNINGS.with(|w| w.borrow_mut().push(message.to_string()));
}

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
    /// What is wrong with this type's section: reported only when the pack has a
    /// resource of this type, as st2 raises only when it overrides that type.
    invalid: Option<String>,
}

/// One parsed override file.
struct OverrideFile<'a> {
    path: &'a str,
    types: [TypeRules; 4],
}

fn is_global(path: &str) -> bool {
    path.rsplit(['/', '\\']).next() == Some("_global.yaml")
}

/// What a value is, for error messages.
fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("the string {s:?}"),
        Value::Number(n) => format!("the number {n}"),
        Value::Bool(b) => format!("{b}"),
        Value::Null => "nothing (null)".into(),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a mapping".into(),
    }
}

fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        // PyYAML's YAML 1.1 booleans (true/True/TRUE and false/... are 1.2 booleans).
        Value::String(s) => match s.as_str() {
            "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Some(true),
            "no" | "No" | "NO" | "off" | "Off" | "OFF" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// The entries of a mapping with their names; `null` counts as an empty mapping.
fn entries<'y>(v: &'y Value, path: &str, at: &str) -> Result<Vec<(String, &'y Value)>, String> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Object(m) => Ok(m.iter().map(|(k, v)| (k.clone(), v)).collect()),
        other => Err(format!(
            "{path}: {at} must be a mapping, found {}; fix the file",
            show(other)
        )),
    }
}

/// The `enabled` of a `defaults` or exception mapping, if it has one. `enabled` is the
/// only key that can be overridden (st2 refuses any other with a ValueError).
fn enabled(v: &Value, path: &str, at: &str) -> Result<Option<bool>, String> {
    let mut found = None;
    for (key, value) in entries(v, path, at)? {
        if key != "enabled" {
            return Err(format!(
                "{path}: {at}.{key} cannot be overridden, only `enabled` can; remove the key"
            ));
        }
        found = match as_bool(value) {
            Some(b) => Some(b),
            None => {
                return Err(format!(
                    "{path}: {at}.enabled must be true or false, found {}; fix the file",
                    show(value)
                ));
            }
        };
    }
    Ok(found)
}

/// Reads one type's section (`defaults`, and `exceptions` in a pack's own file).
fn parse_type(body: &Value, path: &str, type_key: &str, global: bool) -> Result<TypeRules, String> {
    let mut rules = TypeRules::default();
    for (section, value) in entries(body, path, type_key)? {
        let at = format!("{type_key}.{section}");
        match section.as_str() {
            "defaults" => rules.defaults = enabled(value, path, &at)?,
            "exceptions" if global => warn(&format!(
                "{path}: ignoring {at}: exceptions only apply in a pack's own file"
            )),
            "exceptions" => {
                for (name, exception) in entries(value, path, &at)? {
                    let at = format!("{at}.{name}");
                    if let Some(b) = enabled(exception, path, &at)? {
                        rules.exceptions.insert(name, b);
                    }
                }
            }
            _ => warn(&format!(
                "{path}: ignoring {at} (expected `defaults` or `exceptions`)"
            )),
        }
    }
    Ok(rules)
}

/// The host's YAML rules (`stackpack_core::yaml`): YAML 1.2 core schema, duplicate keys
/// refused, nesting, node count, aliases and scalar bytes bounded; one line per error.
fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_depth: 64,
            max_nodes: 250_000,
            max_aliases: 10_000,
            max_total_scalar_bytes: 16 * 1024 * 1024,
        },
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::Error,
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
        underscored_numbers_as_strings: true,
        with_snippet: false,
    }
}

fn parse_file<'a>(path: &'a str, text: &str) -> Result<OverrideFile<'a>, String> {
    let mut file = OverrideFile {
        path,
        types: Default::default(),
    };
    let docs: Vec<Value> = serde_saphyr::from_str_multiple_with_options(text, yaml_options())
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
            warn(&format!(
                "{path}: ignoring unknown key {type_key:?} (overridable types: {})",
                TYPES.join(", ")
            ));
            continue;
        };
        file.types[i] = parse_type(body, path, &type_key, global).unwrap_or_else(|e| TypeRules {
            invalid: Some(e),
            ..TypeRules::default()
        });
    }
    Ok(file)
}

/// Fails on an invalid section of a type the pack has resources of; warns about the
/// others (st2 would not notice them until the pack gains such a resource).
fn check_sections(files: &[OverrideFile<'_>], resources: &[PackResource]) -> Result<(), String> {
    for file in files {
        for (i, rules) in file.types.iter().enumerate() {
            let Some(problem) = &rules.invalid else {
                continue;
            };
            if resources.iter().any(|r| kind_index(r.kind) == i) {
                return Err(problem.clone());
            }
            warn(&format!(
                "{problem} (no {} in this pack yet, so nothing was affected)",
                TYPES[i]
            ));
        }
    }
    Ok(())
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

/// One verdict per resource from the override files `(path, text)`, in order.
fn decide_all<'a>(
    files: impl IntoIterator<Item = (&'a str, &'a str)>,
    resources: &[PackResource],
) -> Result<Vec<Verdict>, String> {
    let files = files
        .into_iter()
        .map(|(path, text)| parse_file(path, text))
        .collect::<Result<Vec<_>, _>>()?;
    check_sections(&files, resources)?;
    Ok(resources.iter().map(|r| decide_one(&files, r)).collect())
}

struct DefaultPolicy;

impl Policy for DefaultPolicy {
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
        let files = ctx.overrides.iter().map(|(p, t)| (p.as_str(), t.as_str()));
        decide_all(files, &resources)
    }
}

stackpack_plugin_sdk::export_policy!(DefaultPolicy);

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
        Ok(decide_all(files.iter().copied(), resources)?
            .into_iter()
            .map(|v| match v {
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
        let other_sections = "sensors:\n  foo: bar\ntriggers:\n  defaults:\n    enabled: false\n";
        WARNINGS.with(|w| w.borrow_mut().clear());
        assert_eq!(run(&[(PACK, other_sections)], &r).unwrap(), ["keep"]);
        let warned = WARNINGS.with(|w| w.borrow().clone());
        assert_eq!(warned.len(), 2, "{warned:?}");
        assert!(warned[0].contains("ignoring sensors.foo"), "{warned:?}");
        assert!(warned[1].contains("unknown key \"triggers\""), "{warned:?}");
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
    fn only_enabled_can_be_overridden_and_errors_hit_the_types_present() {
        let file = "actions:\n  defaults:\n    enabled: false\n    rubbish: false\nsensors:\n  defaults:\n    enabled: true\n";
        let e = run(&[(PACK, file)], &[res(ResourceKind::Action, "a")]).unwrap_err();
        assert_eq!(
            e,
            "overrides/mypack.yaml: actions.defaults.rubbish cannot be overridden, only `enabled` can; remove the key"
        );
        let exception = "actions:\n  exceptions:\n    a:\n      rubbish: true\n";
        let e = run(&[(PACK, exception)], &[res(ResourceKind::Action, "b")]).unwrap_err();
        assert!(
            e.contains("actions.exceptions.a.rubbish cannot be overridden"),
            "{e}"
        );
        // A pack without actions is decided by the valid sections, with a warning.
        WARNINGS.with(|w| w.borrow_mut().clear());
        let got = run(&[(PACK, file)], &[res(ResourceKind::Sensor, "s")]).unwrap();
        assert_eq!(
            got,
            ["enable: overrides/mypack.yaml: sensors.defaults.enabled=true"]
        );
        let warned = WARNINGS.with(|w| w.borrow().clone());
        assert!(
            warned.len() == 1 && warned[0].contains("rubbish cannot be overridden"),
            "{warned:?}"
        );
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

    #[test]
    fn hostile_yaml_is_refused() {
        let r = [res(ResourceKind::Sensor, "s")];
        let mut laughs = String::from("a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for (prev, name) in ["a", "b", "c", "d", "e", "f", "g", "h"]
            .iter()
            .zip(["b", "c", "d", "e", "f", "g", "h", "i"])
        {
            let refs = vec![format!("*{prev}"); 9].join(", ");
            laughs.push_str(&format!("{name}: &{name} [{refs}]\n"));
        }
        let deep = "sensors: ".to_string() + &"[".repeat(10_000);
        let nested: String = (0..100).map(|i| format!("{}a:\n", " ".repeat(i))).collect();
        for text in [laughs, deep, nested] {
            let e = run(&[(PACK, &text)], &r).unwrap_err();
            assert!(e.contains("not valid YAML"), "{e}");
        }
    }
}
