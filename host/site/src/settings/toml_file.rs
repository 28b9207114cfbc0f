//! `stackpack.toml`: the file's sections as serde structs, each value read in the form
//! it must have, and the conversion into [`Settings`] (relative paths are relative to
//! the file).
//!
//! Keys the structs do not have are reported by `serde_ignored` as warnings naming the
//! file, the key and the keys that section knows. A value of the wrong form fails with
//! [`SiteError::ConfigValue`]: the key is found from the position toml gives the error,
//! the form from the error's text, which is the field's own description of what it
//! takes (see [`form`]).

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Range;
use std::path::Path;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use stackpack_core::InstallerChoice;
use toml::de::{DeTable, DeValue};

use super::credentials::CredentialToml;
use super::st2::St2Toml;
use super::{DeclaredKind, PluginSettings, PythonSettings, Settings, normalize_sha256, split_list};
use crate::error::SiteError;

/// The whole file.
#[derive(Default, Deserialize)]
#[serde(default)]
struct FileToml {
    #[serde(deserialize_with = "form::packs_base_paths")]
    packs_base_paths: Option<Vec<String>>,
    #[serde(deserialize_with = "form::index_url")]
    index_url: Option<Vec<String>>,
    #[serde(deserialize_with = "form::python_binary")]
    python_binary: Option<String>,
    #[serde(deserialize_with = "form::proxy")]
    http_proxy: Option<String>,
    #[serde(deserialize_with = "form::proxy")]
    https_proxy: Option<String>,
    #[serde(deserialize_with = "form::proxy")]
    no_proxy: Option<String>,
    #[serde(deserialize_with = "form::ca_bundle")]
    proxy_ca_bundle_path: Option<String>,
    #[serde(deserialize_with = "form::seconds")]
    http_timeout: Option<u64>,
    #[serde(deserialize_with = "form::registries")]
    insecure_registries: Option<Vec<String>>,
    #[serde(deserialize_with = "form::environment")]
    environment: Option<String>,
    #[serde(deserialize_with = "form::count")]
    max_pack_entries: Option<u64>,
    #[serde(deserialize_with = "form::mib")]
    max_pack_size_mib: Option<u64>,
    #[serde(deserialize_with = "form::mib")]
    max_pack_file_mib: Option<u64>,
    #[serde(deserialize_with = "form::directory")]
    base_path: Option<String>,
    #[serde(deserialize_with = "form::plugins")]
    plugins: BTreeMap<String, PluginToml>,
    #[serde(deserialize_with = "form::credentials")]
    credentials: Vec<CredentialToml>,
    python: PythonToml,
    registry: RegistryToml,
    st2: St2Toml,
}

/// `[registry]`.
#[derive(Default, Deserialize)]
#[serde(default, expecting = "a [registry] table with extra_runners")]
struct RegistryToml {
    #[serde(deserialize_with = "form::runners")]
    extra_runners: Option<Vec<String>>,
}

/// `[python]`.
#[derive(Default, Deserialize)]
#[serde(
    default,
    expecting = "a [python] table with installer, index_url, extra_index_urls, find_links"
)]
struct PythonToml {
    #[serde(deserialize_with = "form::installer")]
    installer: Option<InstallerChoice>,
    #[serde(deserialize_with = "form::url")]
    index_url: Option<String>,
    #[serde(deserialize_with = "form::urls")]
    extra_index_urls: Option<Vec<String>>,
    #[serde(deserialize_with = "form::wheelhouses")]
    find_links: Option<Vec<String>>,
}

/// `[plugins.<name>]`.
#[derive(Default, Deserialize)]
#[serde(
    default,
    expecting = "a table with hosts, memory_mib, time_ms, max_body_mib, config (and kind, path or url, sha256, order for a third-party plugin)"
)]
struct PluginToml {
    #[serde(deserialize_with = "form::hosts")]
    hosts: Option<Vec<String>>,
    #[serde(deserialize_with = "form::mib")]
    memory_mib: Option<u64>,
    #[serde(deserialize_with = "form::milliseconds")]
    time_ms: Option<u64>,
    #[serde(deserialize_with = "form::mib")]
    max_body_mib: Option<u64>,
    #[serde(deserialize_with = "form::plugin_config")]
    config: BTreeMap<String, ConfigText>,
    #[serde(deserialize_with = "form::kind")]
    kind: Option<DeclaredKind>,
    #[serde(deserialize_with = "form::wasm_path")]
    path: Option<String>,
    #[serde(deserialize_with = "form::wasm_url")]
    url: Option<String>,
    #[serde(deserialize_with = "form::sha256")]
    sha256: Option<String>,
    #[serde(deserialize_with = "form::order")]
    order: Option<i64>,
}

/// A plugin config value: strings as they are, numbers and booleans as TOML writes
/// them, lists joined with commas.
struct ConfigText(String);

impl<'de> Deserialize<'de> for ConfigText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = match toml::Value::deserialize(d)? {
            toml::Value::String(s) => s,
            v @ (toml::Value::Integer(_) | toml::Value::Float(_) | toml::Value::Boolean(_)) => {
                v.to_string()
            }
            toml::Value::Array(items) => items
                .iter()
                .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
                .collect::<Vec<_>>()
                .join(","),
            _ => return Err(de::Error::custom("a string, number, boolean or list")),
        };
        Ok(ConfigText(text))
    }
}

/// The `deserialize_with` readers: each reads one field's value and, when it is not of
/// the field's form, fails with the description of that form as the error's message.
pub(super) mod form {
    use super::*;

    macro_rules! forms {
        ($($name:ident: $read:ident -> $ty:ty, $expected:literal;)*) => {$(
            pub(in crate::settings) fn $name<'de, D: Deserializer<'de>>(
                d: D,
            ) -> Result<Option<$ty>, D::Error> {
                let value = toml::Value::deserialize(d)?;
                super::$read(&value).map(Some).ok_or_else(|| de::Error::custom($expected))
            }
        )*};
    }

    forms! {
        packs_base_paths: colon_list -> Vec<String>,
            "a list of directories, or a colon-separated string";
        index_url: comma_list -> Vec<String>, "a list of index URLs or paths";
        python_binary: nonempty_str -> String, "the name or path of a python executable";
        proxy: nonempty_str -> String, "a string";
        ca_bundle: nonempty_str -> String, "the path of a PEM CA bundle";
        seconds: positive -> u64, "a positive number of seconds";
        registries: registry_list -> Vec<String>,
            "a list of OCI registries spoken to in plain HTTP, each host:port (e.g. \"127.0.0.1:5000\")";
        count: positive -> u64, "a positive integer";
        environment: nonempty_str -> String, "a label such as \"prod\"";
        directory: nonempty_str -> String, "a directory";

        installer: installer_choice -> InstallerChoice,
            "auto, uv, pip, or the path of a uv binary";
        url: nonempty_str -> String, "a URL";
        urls: comma_list -> Vec<String>, "a list of URLs";
        wheelhouses: comma_list -> Vec<String>, "a list of wheelhouse directories";
        runners: comma_list -> Vec<String>,
            "a list of runner names (custom runners installed in StackStorm)";

        hosts: comma_list -> Vec<String>, "a list of `scheme://host[:port]` grants";
        mib: positive -> u64, "a positive integer (MiB)";
        milliseconds: positive -> u64, "a positive integer (milliseconds)";
        kind: declared_kind -> DeclaredKind, "\"resolver\" or \"policy\"";
        wasm_path: nonempty_str -> String, "the path of a .wasm component";
        wasm_url: component_url -> String,
            "an https:// URL or an absolute file:/// URL of a .wasm component";
        sha256: digest -> String,
            "the component's sha256: 64 hex digits (`sha256sum plugin.wasm`)";
        order: integer -> i64,
            "an integer position in its chain (lower runs first; built-in resolvers sit at 100, 200, 300, 400, 500)";

        credential_url: credential_url -> String,
            "the http(s):// or oci:// URL the credential is for (scheme, host, optional port and path)";
        string: string -> String, "a string";
        env_var: string -> String, "the name of an environment variable";
        st2_url: st2_url -> String, "an http(s):// URL of st2's API (or auth service)";
    }

    pub(super) fn plugins<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, PluginToml>, D::Error> {
        table_of(d, "a table of [plugins.<name>] sections")
    }

    pub(super) fn plugin_config<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, ConfigText>, D::Error> {
        table_of(d, "a table of string values")
    }

    pub(in crate::settings) fn credentials<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<CredentialToml>, D::Error> {
        list_of(
            d,
            "a list of [[credentials]] tables with url and token or username/password",
        )
    }
}

/// A table whose values are all `T`; a value of another type is refused as not being
/// `expecting`.
fn table_of<'de, D, T>(d: D, expecting: &'static str) -> Result<BTreeMap<String, T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct Tables<T>(&'static str, PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for Tables<T> {
        type Value = BTreeMap<String, T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some((k, v)) = map.next_entry()? {
                out.insert(k, v);
            }
            Ok(out)
        }
    }
    d.deserialize_map(Tables(expecting, PhantomData))
}

/// A list whose items are all `T`; a value of another type is refused as not being
/// `expecting`.
fn list_of<'de, D, T>(d: D, expecting: &'static str) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct Lists<T>(&'static str, PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for Lists<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(item) = seq.next_element()? {
                out.push(item);
            }
            Ok(out)
        }
    }
    d.deserialize_seq(Lists(expecting, PhantomData))
}

/// A TOML error as `line L, column C: <what>`, without the excerpt of the file toml's
/// own text carries: that excerpt is the offending line, and a line of a config file
/// may hold a token or password. serde's "invalid type: string \"…\"" and the like
/// quote the value, so only the form expected is kept from them.
pub(crate) fn describe_error(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim();
    let message = match message.split_once(", expected ") {
        Some((_, form)) => format!("expected {form}"),
        None if message.contains('"') || message.contains('`') || message.contains('\'') => {
            "not valid TOML".to_string()
        }
        None => message.to_string(),
    };
    let message = message.lines().next().unwrap_or_default().to_string();
    match e.span() {
        Some(span) => {
            let before = text.get(..span.start).unwrap_or_default();
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message,
    }
}

/// Parses `text` as a TOML document (the syntax only).
pub(super) fn parse(text: &str) -> Result<toml::de::Deserializer<'_>, toml::de::Error> {
    toml::de::Deserializer::parse(text)
}

/// The settings of `file` (whose content is `text`, parsed into `document`).
pub(super) fn read(
    file: &Path,
    text: &str,
    document: toml::de::Deserializer<'_>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Settings, SiteError> {
    let mut warnings = Vec::new();
    let raw: FileToml = serde_ignored::deserialize(document, |ignored| {
        warnings.push(unknown_key(file, &ignored));
    })
    .map_err(|e| value_error(file, text, &e))?;
    let mut settings = raw.into_settings(file, env, &mut warnings)?;
    settings.warnings = warnings;
    Ok(settings)
}

impl FileToml {
    fn into_settings(
        self,
        file: &Path,
        env: &dyn Fn(&str) -> Option<String>,
        warnings: &mut Vec<String>,
    ) -> Result<Settings, SiteError> {
        let base = file.parent().unwrap_or(Path::new("."));
        let defaults = Settings::default();
        let mut plugins = BTreeMap::new();
        for (name, p) in self.plugins {
            let settings = p.into_settings(file, base, &name)?;
            plugins.insert(name, settings);
        }
        let mut credentials = Vec::new();
        for (i, c) in self.credentials.into_iter().enumerate() {
            credentials.extend(c.into_setting(file, i, env, warnings)?);
        }
        let st2 = self.st2.into_settings(file, base, env, warnings)?;
        Ok(Settings {
            source: None,
            base_path: self.base_path.map(|p| base.join(p)),
            packs_base_paths: self
                .packs_base_paths
                .unwrap_or_default()
                .iter()
                .map(|p| base.join(p))
                .collect(),
            // Plain paths are relative to this file, like every path in it.
            index_url: self.index_url.map_or(defaults.index_url, |urls| {
                urls.into_iter()
                    .map(|u| {
                        if u.contains("://") {
                            u
                        } else {
                            base.join(u).display().to_string()
                        }
                    })
                    .collect()
            }),
            python_binary: self.python_binary.unwrap_or(defaults.python_binary),
            python: PythonSettings {
                installer: self.python.installer.unwrap_or_default(),
                index_url: self.python.index_url,
                extra_index_urls: self.python.extra_index_urls.unwrap_or_default(),
                find_links: self
                    .python
                    .find_links
                    .unwrap_or_default()
                    .iter()
                    .map(|p| base.join(p))
                    .collect(),
            },
            registry: super::RegistrySettings {
                extra_runners: self.registry.extra_runners.unwrap_or_default(),
            },
            proxy: super::ProxySettings {
                http_proxy: self.http_proxy,
                https_proxy: self.https_proxy,
                no_proxy: self.no_proxy,
                proxy_ca_bundle_path: self.proxy_ca_bundle_path.map(|p| base.join(p)),
            },
            http_timeout: self.http_timeout,
            insecure_registries: self.insecure_registries.unwrap_or_default(),
            environment: self.environment,
            pack_limits: super::PackLimits {
                max_entries: self.max_pack_entries,
                max_size_mib: self.max_pack_size_mib,
                max_file_mib: self.max_pack_file_mib,
            },
            plugins,
            credentials,
            st2,
            warnings: Vec::new(),
        })
    }
}

impl PluginToml {
    /// The settings of `[plugins.<name>]`, with the rules that tie its keys together.
    fn into_settings(
        self,
        file: &Path,
        base: &Path,
        name: &str,
    ) -> Result<PluginSettings, SiteError> {
        let bad = |key: &str, expected: &str| SiteError::ConfigValue {
            path: file.to_path_buf(),
            key: format!("plugins.{name}.{key}"),
            expected: expected.to_string(),
        };
        let p = PluginSettings {
            hosts: self.hosts.unwrap_or_default(),
            memory_mib: self.memory_mib,
            time_ms: self.time_ms,
            max_body_mib: self.max_body_mib,
            config: self.config.into_iter().map(|(k, v)| (k, v.0)).collect(),
            kind: self.kind,
            path: self.path.map(|p| base.join(p)),
            url: self.url,
            sha256: self.sha256,
            order: self.order,
        };
        if p.path.is_some() && p.url.is_some() {
            return Err(bad("url", "either `path` or `url`, not both"));
        }
        if p.is_declared() {
            if p.kind.is_none() {
                return Err(bad(
                    "kind",
                    "\"resolver\" or \"policy\": required for a plugin loaded from `path` or `url`",
                ));
            }
        } else {
            for (key, set) in [("kind", p.kind.is_some()), ("sha256", p.sha256.is_some())] {
                if set {
                    return Err(bad(
                        key,
                        "nothing here unless the plugin is loaded from `path` or `url` (built-in and added plugins carry their own kind and pin)",
                    ));
                }
            }
        }
        Ok(p)
    }
}

/// The warning for a key no section has.
fn unknown_key(file: &Path, ignored: &serde_ignored::Path<'_>) -> String {
    let segments = segments(ignored);
    let key = dotted(&segments);
    let section = segments
        .get(..segments.len().saturating_sub(1))
        .unwrap_or(&[]);
    let known = match section {
        [] => field_names::<FileToml>(),
        [Segment::Key(s)] if s == "python" => field_names::<PythonToml>(),
        [Segment::Key(s)] if s == "registry" => field_names::<RegistryToml>(),
        [Segment::Key(s)] if s == "st2" => field_names::<St2Toml>(),
        [Segment::Key(s), Segment::Key(_)] if s == "plugins" => field_names::<PluginToml>(),
        [Segment::Key(s), Segment::Index(_)] if s == "credentials" => {
            field_names::<CredentialToml>()
        }
        _ => &[],
    };
    if known.is_empty() {
        format!("{}: unknown key `{key}` ignored", file.display())
    } else {
        format!(
            "{}: unknown key `{key}` ignored (known keys: {})",
            file.display(),
            known.join(", ")
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
}

/// The keys and list positions leading to a value, outermost first.
fn segments(path: &serde_ignored::Path<'_>) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut at = path;
    loop {
        match at {
            serde_ignored::Path::Root => break,
            serde_ignored::Path::Map { parent, key } => {
                out.push(Segment::Key(key.clone()));
                at = parent;
            }
            serde_ignored::Path::Seq { parent, index } => {
                out.push(Segment::Index(*index));
                at = parent;
            }
            serde_ignored::Path::Some { parent }
            | serde_ignored::Path::NewtypeStruct { parent }
            | serde_ignored::Path::NewtypeVariant { parent } => at = parent,
        }
    }
    out.reverse();
    out
}

/// `plugins.x.time_ms`, `credentials[0].token`.
fn dotted(segments: &[Segment]) -> String {
    let mut out = String::new();
    for s in segments {
        match s {
            Segment::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Segment::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// A deserialization error as the key it is about and the form that key takes. Errors
/// from the readers in [`form`] carry the form as their whole message; serde's own
/// ("invalid type: integer `3`, expected …") carry it after "expected".
fn value_error(file: &Path, text: &str, e: &toml::de::Error) -> SiteError {
    let message = e.message().trim();
    let expected = message
        .split_once(", expected ")
        .map_or(message, |(_, form)| form);
    match e.span().and_then(|span| key_at(text, &span)) {
        Some(key) => SiteError::ConfigValue {
            path: file.to_path_buf(),
            key,
            expected: expected.to_string(),
        },
        None => SiteError::ConfigSyntax {
            path: file.to_path_buf(),
            reason: describe_error(text, e),
        },
    }
}

/// The key whose value spans exactly `span` in the TOML document `text` (the
/// innermost one), as in [`dotted`].
fn key_at(text: &str, span: &Range<usize>) -> Option<String> {
    fn walk(
        value: &toml::Spanned<DeValue<'_>>,
        at: &mut Vec<Segment>,
        span: &Range<usize>,
        found: &mut Option<String>,
    ) {
        if value.span() == *span {
            *found = Some(dotted(at));
        }
        match value.get_ref() {
            DeValue::Table(table) => {
                for (k, v) in table {
                    at.push(Segment::Key(k.get_ref().to_string()));
                    walk(v, at, span, found);
                    at.pop();
                }
            }
            DeValue::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    at.push(Segment::Index(i));
                    walk(v, at, span, found);
                    at.pop();
                }
            }
            _ => {}
        }
    }
    let root = DeTable::parse(text).ok()?;
    let mut found = None;
    let mut at = Vec::new();
    for (k, v) in root.get_ref() {
        at.push(Segment::Key(k.get_ref().to_string()));
        walk(v, &mut at, span, &mut found);
        at.pop();
    }
    found
}

/// The field names of a derived struct: serde's derive hands them to
/// `deserialize_struct`, where this deserializer takes them and stops.
fn field_names<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    struct Fields<'a>(&'a mut &'static [&'static str]);
    impl<'de> Deserializer<'de> for Fields<'_> {
        type Error = de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("only the field names are asked for"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(de::Error::custom("only the field names are asked for"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }
    let mut fields: &'static [&'static str] = &[];
    // The error is the point: the names are taken before it.
    let _ = T::deserialize(Fields(&mut fields));
    fields
}

fn positive(v: &toml::Value) -> Option<u64> {
    v.as_integer().filter(|n| *n > 0).map(|n| n as u64)
}

fn integer(v: &toml::Value) -> Option<i64> {
    v.as_integer()
}

fn string(v: &toml::Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

/// An http(s) URL with a host: credentials are matched on its scheme, host and port,
/// then on whole path segments, so a text that does not parse as such is refused.
fn credential_url(v: &toml::Value) -> Option<String> {
    let text = nonempty_str(v)?;
    let url = url::Url::parse(&text).ok()?;
    (matches!(url.scheme(), "http" | "https" | "oci") && url.host().is_some()).then_some(text)
}

/// A list of `host[:port]` registries, each as an OCI reference would name it
/// (lower-cased host).
fn registry_list(v: &toml::Value) -> Option<Vec<String>> {
    comma_list(v)?
        .iter()
        .map(|r| {
            let r = r.trim();
            if r.is_empty() || r.contains('/') {
                return None;
            }
            format!("oci://{r}/x")
                .parse::<stackpack_core::OciRef>()
                .ok()
                .map(|parsed| parsed.registry)
        })
        .collect()
}

fn st2_url(v: &toml::Value) -> Option<String> {
    super::st2::st2_url(v)
}

fn nonempty_str(v: &toml::Value) -> Option<String> {
    v.as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn installer_choice(v: &toml::Value) -> Option<InstallerChoice> {
    nonempty_str(v)?.parse().ok()
}

fn declared_kind(v: &toml::Value) -> Option<DeclaredKind> {
    match v.as_str().map(str::trim) {
        Some("resolver") => Some(DeclaredKind::Resolver),
        Some("policy") => Some(DeclaredKind::Policy),
        _ => None,
    }
}

fn component_url(v: &toml::Value) -> Option<String> {
    nonempty_str(v).filter(|u| {
        u.strip_prefix("https://").is_some_and(|r| !r.is_empty())
            || u.strip_prefix("file://")
                .is_some_and(|r| r.starts_with('/'))
    })
}

fn digest(v: &toml::Value) -> Option<String> {
    v.as_str().and_then(normalize_sha256)
}

fn colon_list(v: &toml::Value) -> Option<Vec<String>> {
    string_list(v, ':')
}

fn comma_list(v: &toml::Value) -> Option<Vec<String>> {
    string_list(v, ',')
}

/// A list given as an array of strings or as one separated string.
fn string_list(v: &toml::Value, sep: char) -> Option<Vec<String>> {
    match v {
        toml::Value::String(s) => Some(split_list(s, sep)),
        toml::Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map(|s| s.trim().to_string()))
            .collect::<Option<Vec<_>>>()
            .map(|v| v.into_iter().filter(|s| !s.is_empty()).collect()),
        _ => None,
    }
}
