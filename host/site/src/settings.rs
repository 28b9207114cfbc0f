//! Settings, read from `stackpack.toml` or from an existing `st2.conf`, using
//! st2.conf's option names so a StackStorm host can point `--config` at its own file.
//!
//! ```toml
//! packs_base_paths = ["/srv/extra-packs"]      # or st2's "a:b" string
//! index_url = ["https://index.example/v1/index.json"]
//! python_binary = "/usr/bin/python3"
//! https_proxy = "http://proxy:3128"
//! proxy_ca_bundle_path = "/etc/ssl/corp.pem"
//! environment = "prod"                         # handed to override policies
//!
//! [plugins.github]
//! hosts = ["https://github.example.com"]      # grants, on top of the built-in ones
//! memory_mib = 64
//! time_ms = 5000
//! config = { hosts = "github.example.com" }
//!
//! [plugins.corp-resolver]                     # a third-party plugin, declared here
//! kind = "resolver"                           # or "policy"; required with path/url
//! path = "plugins/corp_resolver.wasm"         # or url = "https://…" / "file:///…"
//! sha256 = "<64 hex digits>"                  # the pin (a warning without it)
//! order = 10                                  # built-in resolvers sit at 100…500
//! hosts = ["https://packs.corp.example"]      # its only grants
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::SiteError;

/// Proxy settings, applied to everything that goes out (HTTP, git, pip).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ProxySettings {
    pub http_proxy: Option<String>,
    pub https_proxy: Option<String>,
    pub no_proxy: Option<String>,
    pub proxy_ca_bundle_path: Option<PathBuf>,
}

/// A secret the host adds to requests whose URL starts with `url`. Secrets are never
/// serialized and never shown by Debug.
#[derive(Clone, PartialEq, Eq)]
pub struct CredentialSetting {
    pub url: String,
    pub secret: Secret,
}

#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    Bearer(String),
    Basic { username: String, password: String },
}

impl std::fmt::Debug for CredentialSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CredentialSetting({}, secret hidden)",
            stackpack_core::redact_url(&self.url)
        )
    }
}

/// How pack virtualenvs get their requirements (`[python]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PythonSettings {
    /// `auto` (uv when found, else pip), `uv`, `pip`, or a path to a uv binary.
    pub installer: Option<String>,
    pub index_url: Option<String>,
    pub extra_index_urls: Vec<String>,
    /// Wheelhouse directories (`--find-links`).
    pub find_links: Vec<PathBuf>,
}

/// The plugin kinds as written in the config and in plugin manifests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeclaredKind {
    Resolver,
    Policy,
}

impl DeclaredKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DeclaredKind::Resolver => "resolver",
            DeclaredKind::Policy => "policy",
        }
    }
}

impl std::fmt::Display for DeclaredKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Operator settings for one plugin: a built-in or added one (extra grants, limits,
/// config values, order), or a third-party one declared here with `path` or `url`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PluginSettings {
    /// Hosts granted on top of the plugin's built-in grants.
    pub hosts: Vec<String>,
    pub memory_mib: Option<u64>,
    pub time_ms: Option<u64>,
    /// Values the plugin reads with `config-get`.
    pub config: BTreeMap<String, String>,
    /// Required with `path`/`url`: which world the component must implement.
    pub kind: Option<DeclaredKind>,
    /// A local `.wasm` component (relative paths are relative to the config file).
    pub path: Option<PathBuf>,
    /// Where to get the component: `https://…` or `file:///…`.
    pub url: Option<String>,
    /// The pinned digest of the component's bytes: 64 lower-case hex digits.
    pub sha256: Option<String>,
    /// Position in its chain (lower first; ties by name).
    pub order: Option<i64>,
}

impl PluginSettings {
    /// Declared here with a component of its own (`path` or `url`).
    pub fn is_declared(&self) -> bool {
        self.path.is_some() || self.url.is_some()
    }
}

/// A sha256 digest as written by a person: optional `sha256:` prefix, any case.
/// Returns the 64 lower-case hex digits, or None when it is not one.
pub fn normalize_sha256(text: &str) -> Option<String> {
    let t = text.trim();
    let t = t.strip_prefix("sha256:").unwrap_or(t).to_ascii_lowercase();
    (t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit())).then_some(t)
}

/// Everything read from the config file (or the defaults when there is none).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Settings {
    /// The file the settings came from, if any.
    pub source: Option<PathBuf>,
    /// `system.base_path` from an st2.conf: the root, unless `--root` says otherwise.
    pub base_path: Option<PathBuf>,
    /// Searched after `<root>/packs`, left to right.
    pub packs_base_paths: Vec<PathBuf>,
    /// Pack indexes, highest priority first.
    pub index_url: Vec<String>,
    pub python_binary: String,
    /// `[python]`: installer and package index options for pack virtualenvs.
    pub python: PythonSettings,
    pub proxy: ProxySettings,
    /// Seconds any one network request may take (index, archive, git probe).
    pub http_timeout: Option<u64>,
    /// Site label handed to override policies (`"prod"`), so one policy serves many
    /// sites.
    pub environment: Option<String>,
    pub plugins: BTreeMap<String, PluginSettings>,
    /// Credentials for indexes and other hosts (`[[credentials]]`).
    #[serde(skip)]
    pub credentials: Vec<CredentialSetting>,
    /// Non-fatal problems (unknown keys), for the caller to print.
    #[serde(skip)]
    pub warnings: Vec<String>,
}

pub const DEFAULT_INDEX_URL: &str = "https://index.stackstorm.org/v1/index.json";

impl Default for Settings {
    fn default() -> Self {
        Settings {
            source: None,
            base_path: None,
            packs_base_paths: Vec::new(),
            index_url: vec![DEFAULT_INDEX_URL.to_string()],
            python_binary: "python3".to_string(),
            python: PythonSettings::default(),
            proxy: ProxySettings::default(),
            http_timeout: None,
            environment: None,
            plugins: BTreeMap::new(),
            credentials: Vec::new(),
            warnings: Vec::new(),
        }
    }
}

const TOP_KEYS: &[&str] = &[
    "packs_base_paths",
    "index_url",
    "python_binary",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "proxy_ca_bundle_path",
    "http_timeout",
    "environment",
    "base_path",
    "plugins",
    "credentials",
    "python",
];
const PYTHON_KEYS: &[&str] = &["installer", "index_url", "extra_index_urls", "find_links"];
const PLUGIN_KEYS: &[&str] = &[
    "hosts",
    "memory_mib",
    "time_ms",
    "config",
    "kind",
    "path",
    "url",
    "sha256",
    "order",
];

impl Settings {
    /// Reads settings from `path`. A missing file is fine when `required` is false
    /// (the default location); a file given explicitly must exist.
    pub fn load(path: &Path, required: bool) -> Result<Settings, SiteError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
                return Ok(Settings::default());
            }
            Err(e) => {
                return Err(SiteError::ConfigRead {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                });
            }
        };
        let is_toml = path.extension().is_some_and(|e| e == "toml");
        let mut settings = match text.parse::<toml::Table>() {
            Ok(table) => Settings::from_toml(path, &table)?,
            Err(e) if is_toml => {
                return Err(SiteError::ConfigSyntax {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                });
            }
            Err(_) => Settings::from_st2_conf(path, &text)?,
        };
        settings.source = Some(path.to_path_buf());
        Ok(settings)
    }

    fn from_toml(path: &Path, table: &toml::Table) -> Result<Settings, SiteError> {
        let mut s = Settings::default();
        let base = path.parent().unwrap_or(Path::new("."));
        let bad = |key: &str, expected: &str| SiteError::ConfigValue {
            path: path.to_path_buf(),
            key: key.to_string(),
            expected: expected.to_string(),
        };
        for (key, value) in table {
            match key.as_str() {
                "packs_base_paths" => {
                    let expected = "a list of directories, or a colon-separated string";
                    let items = string_list(value, ':').ok_or_else(|| bad(key, expected))?;
                    s.packs_base_paths = items.iter().map(|p| base.join(p)).collect();
                }
                "index_url" => {
                    // Plain paths are relative to this file, like every path in it.
                    s.index_url = string_list(value, ',')
                        .ok_or_else(|| bad(key, "a list of index URLs or paths"))?
                        .into_iter()
                        .map(|u| {
                            if u.contains("://") {
                                u
                            } else {
                                base.join(u).display().to_string()
                            }
                        })
                        .collect();
                }
                "python_binary" => {
                    s.python_binary = nonempty_str(value)
                        .ok_or_else(|| bad(key, "the name or path of a python executable"))?;
                }
                "http_proxy" | "https_proxy" | "no_proxy" => {
                    let v = nonempty_str(value).ok_or_else(|| bad(key, "a string"))?;
                    match key.as_str() {
                        "http_proxy" => s.proxy.http_proxy = Some(v),
                        "https_proxy" => s.proxy.https_proxy = Some(v),
                        _ => s.proxy.no_proxy = Some(v),
                    }
                }
                "proxy_ca_bundle_path" => {
                    let v = nonempty_str(value)
                        .ok_or_else(|| bad(key, "the path of a PEM CA bundle"))?;
                    s.proxy.proxy_ca_bundle_path = Some(base.join(v));
                }
                "http_timeout" => {
                    s.http_timeout = Some(
                        positive(value).ok_or_else(|| bad(key, "a positive number of seconds"))?,
                    );
                }
                "environment" => {
                    s.environment = Some(
                        nonempty_str(value).ok_or_else(|| bad(key, "a label such as \"prod\""))?,
                    );
                }
                "base_path" => {
                    let v = nonempty_str(value).ok_or_else(|| bad(key, "a directory"))?;
                    s.base_path = Some(base.join(v));
                }
                "plugins" => {
                    let plugins = value
                        .as_table()
                        .ok_or_else(|| bad(key, "a table of [plugins.<name>] sections"))?;
                    for (name, p) in plugins {
                        let settings = plugin_settings(path, base, name, p, &mut s.warnings)?;
                        s.plugins.insert(name.clone(), settings);
                    }
                }
                "python" => {
                    let t = value.as_table().ok_or_else(|| {
                        bad(key, "a [python] table with installer, index_url, extra_index_urls, find_links")
                    })?;
                    for (k, v) in t {
                        let key = format!("python.{k}");
                        match k.as_str() {
                            "installer" => {
                                let i = nonempty_str(v).ok_or_else(|| {
                                    bad(&key, "auto, uv, pip, or the path of a uv binary")
                                })?;
                                s.python.installer = Some(i);
                            }
                            "index_url" => {
                                s.python.index_url =
                                    Some(nonempty_str(v).ok_or_else(|| bad(&key, "a URL"))?);
                            }
                            "extra_index_urls" => {
                                s.python.extra_index_urls = string_list(v, ',')
                                    .ok_or_else(|| bad(&key, "a list of URLs"))?;
                            }
                            "find_links" => {
                                s.python.find_links = string_list(v, ',')
                                    .ok_or_else(|| bad(&key, "a list of wheelhouse directories"))?
                                    .iter()
                                    .map(|p| base.join(p))
                                    .collect();
                            }
                            _ => s.warnings.push(format!(
                                "{}: unknown key `{key}` ignored (known keys: {})",
                                path.display(),
                                PYTHON_KEYS.join(", ")
                            )),
                        }
                    }
                }
                "credentials" => {
                    let items = value.as_array().ok_or_else(|| {
                        bad(key, "a list of [[credentials]] tables with url and token or username/password")
                    })?;
                    for (i, item) in items.iter().enumerate() {
                        if let Some(c) = credential(path, i, item, &mut s.warnings)? {
                            s.credentials.push(c);
                        }
                    }
                }
                _ => s.warnings.push(format!(
                    "{}: unknown key `{key}` ignored (known keys: {})",
                    path.display(),
                    TOP_KEYS.join(", ")
                )),
            }
        }
        Ok(s)
    }

    /// st2.conf: an INI file with many sections; only the ones stackpack uses are read
    /// (`[system] base_path`, `[content] packs_base_paths, index_url`,
    /// `[actionrunner] python_binary`), the rest belong to st2 and are left alone.
    fn from_st2_conf(path: &Path, text: &str) -> Result<Settings, SiteError> {
        let ini = ini::Ini::load_from_str(text).map_err(|e| SiteError::ConfigSyntax {
            path: path.to_path_buf(),
            reason: format!("neither TOML nor st2.conf INI: {e}"),
        })?;
        let mut s = Settings::default();
        let get = |section: &str, key: &str| {
            ini.section(Some(section))
                .and_then(|sec| sec.get(key))
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        if let Some(v) = get("system", "base_path") {
            s.base_path = Some(PathBuf::from(v));
        }
        if let Some(v) = get("content", "packs_base_paths") {
            s.packs_base_paths = split_list(v, ':').into_iter().map(PathBuf::from).collect();
        }
        if let Some(v) = get("content", "index_url") {
            s.index_url = split_list(v, ',');
        }
        if let Some(v) = get("actionrunner", "python_binary") {
            s.python_binary = v.to_string();
        }
        Ok(s)
    }
}

fn plugin_settings(
    path: &Path,
    base: &Path,
    name: &str,
    value: &toml::Value,
    warnings: &mut Vec<String>,
) -> Result<PluginSettings, SiteError> {
    let bad = |key: &str, expected: &str| SiteError::ConfigValue {
        path: path.to_path_buf(),
        key: if key.is_empty() {
            format!("plugins.{name}")
        } else {
            format!("plugins.{name}.{key}")
        },
        expected: expected.to_string(),
    };
    let table = value.as_table().ok_or_else(|| {
        bad(
            "",
            "a table with hosts, memory_mib, time_ms, config (and kind, path or url, sha256, order for a third-party plugin)",
        )
    })?;
    let mut p = PluginSettings::default();
    for (key, v) in table {
        match key.as_str() {
            "kind" => {
                p.kind = Some(match v.as_str().map(str::trim) {
                    Some("resolver") => DeclaredKind::Resolver,
                    Some("policy") => DeclaredKind::Policy,
                    _ => return Err(bad(key, "\"resolver\" or \"policy\"")),
                });
            }
            "path" => {
                let v = nonempty_str(v).ok_or_else(|| bad(key, "the path of a .wasm component"))?;
                p.path = Some(base.join(v));
            }
            "url" => {
                let v = nonempty_str(v)
                    .filter(|u| {
                        u.strip_prefix("https://").is_some_and(|r| !r.is_empty())
                            || u.strip_prefix("file://")
                                .is_some_and(|r| r.starts_with('/'))
                    })
                    .ok_or_else(|| {
                        bad(
                            key,
                            "an https:// URL or an absolute file:/// URL of a .wasm component",
                        )
                    })?;
                p.url = Some(v);
            }
            "sha256" => {
                p.sha256 = Some(v.as_str().and_then(normalize_sha256).ok_or_else(|| {
                    bad(
                        key,
                        "the component's sha256: 64 hex digits (`sha256sum plugin.wasm`)",
                    )
                })?);
            }
            "order" => {
                p.order = Some(v.as_integer().ok_or_else(|| {
                    bad(
                        key,
                        "an integer position in its chain (lower runs first; built-in resolvers sit at 100, 200, 300, 400, 500)",
                    )
                })?);
            }
            "hosts" => {
                p.hosts = string_list(v, ',')
                    .ok_or_else(|| bad(key, "a list of `scheme://host[:port]` grants"))?;
            }
            "memory_mib" => {
                p.memory_mib =
                    Some(positive(v).ok_or_else(|| bad(key, "a positive integer (MiB)"))?)
            }
            "time_ms" => {
                p.time_ms =
                    Some(positive(v).ok_or_else(|| bad(key, "a positive integer (milliseconds)"))?)
            }
            "config" => {
                let t = v
                    .as_table()
                    .ok_or_else(|| bad(key, "a table of string values"))?;
                for (k, cv) in t {
                    let text = match cv {
                        toml::Value::String(s) => s.clone(),
                        toml::Value::Integer(_)
                        | toml::Value::Float(_)
                        | toml::Value::Boolean(_) => cv.to_string(),
                        toml::Value::Array(items) => items
                            .iter()
                            .map(|i| {
                                i.as_str()
                                    .map(str::to_string)
                                    .unwrap_or_else(|| i.to_string())
                            })
                            .collect::<Vec<_>>()
                            .join(","),
                        _ => {
                            return Err(bad(
                                &format!("config.{k}"),
                                "a string, number, boolean or list",
                            ));
                        }
                    };
                    p.config.insert(k.clone(), text);
                }
            }
            _ => warnings.push(format!(
                "{}: unknown key `plugins.{name}.{key}` ignored (known keys: {})",
                path.display(),
                PLUGIN_KEYS.join(", ")
            )),
        }
    }
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

/// One `[[credentials]]` entry: `url` plus `token`/`token_env` (bearer) or
/// `username` with `password`/`password_env` (basic). A secret taken from an unset
/// environment variable drops the entry with a warning, so commands that do not need
/// it still work.
fn credential(
    path: &Path,
    i: usize,
    item: &toml::Value,
    warnings: &mut Vec<String>,
) -> Result<Option<CredentialSetting>, SiteError> {
    let bad = |key: &str, expected: &str| SiteError::ConfigValue {
        path: path.to_path_buf(),
        key: format!("credentials[{i}].{key}"),
        expected: expected.to_string(),
    };
    let t = item
        .as_table()
        .ok_or_else(|| bad("", "a table with url and token or username/password"))?;
    let get = |k: &str| t.get(k).and_then(toml::Value::as_str).map(str::to_string);
    let url = get("url").ok_or_else(|| bad("url", "the URL (prefix) the credential is for"))?;
    for k in t.keys() {
        if ![
            "url",
            "token",
            "token_env",
            "username",
            "password",
            "password_env",
        ]
        .contains(&k.as_str())
        {
            warnings.push(format!(
                "{}: unknown key `credentials[{i}].{k}` ignored",
                path.display()
            ));
        }
    }
    let from_env = |key: &str, var: String, warnings: &mut Vec<String>| match std::env::var(&var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            warnings.push(format!(
                "{}: credentials[{i}].{key} names ${var}, which is not set; requests to {} go without credentials",
                path.display(),
                stackpack_core::redact_url(&url)
            ));
            None
        }
    };
    let secret = match (get("token"), get("token_env"), get("username")) {
        (Some(token), None, None) => Some(Secret::Bearer(token)),
        (None, Some(var), None) => from_env("token_env", var, warnings).map(Secret::Bearer),
        (None, None, Some(username)) => {
            let password = match (get("password"), get("password_env")) {
                (Some(p), None) => Some(p),
                (None, Some(var)) => from_env("password_env", var, warnings),
                _ => return Err(bad("password", "exactly one of password or password_env")),
            };
            password.map(|password| Secret::Basic { username, password })
        }
        _ => {
            return Err(bad(
                "token",
                "exactly one of token, token_env, or username with password/password_env",
            ));
        }
    };
    Ok(secret.map(|secret| CredentialSetting { url, secret }))
}

fn positive(v: &toml::Value) -> Option<u64> {
    v.as_integer().filter(|n| *n > 0).map(|n| n as u64)
}

fn nonempty_str(v: &toml::Value) -> Option<String> {
    v.as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
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

fn split_list(s: &str, sep: char) -> Vec<String> {
    s.split(sep)
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn missing_default_file_is_fine_but_explicit_one_is_not() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("stackpack.toml");
        assert_eq!(Settings::load(&p, false).unwrap(), Settings::default());
        let e = Settings::load(&p, true).unwrap_err().to_string();
        assert!(e.contains("stackpack.toml"), "{e}");
    }

    #[test]
    fn toml_settings() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            "stackpack.toml",
            r#"
packs_base_paths = "extra:/abs/packs"
index_url = ["https://a/index.json", "file:///b.json"]
python_binary = "/usr/bin/python3.11"
https_proxy = "http://proxy:3128"
proxy_ca_bundle_path = "ca.pem"
http_timeout = 7
environment = "prod"
colour = "blue"
[python]
installer = "pip"
find_links = ["wheels"]
extra_index_urls = ["https://extra/simple"]
[plugins.github]
hosts = ["https://ghe.corp"]
time_ms = 200
config = { hosts = "ghe.corp", n = 3 }
"#,
        );
        let s = Settings::load(&p, true).unwrap();
        assert_eq!(
            s.packs_base_paths,
            vec![d.path().join("extra"), PathBuf::from("/abs/packs")]
        );
        assert_eq!(s.index_url, vec!["https://a/index.json", "file:///b.json"]);
        let relative = write(d.path(), "c.toml", "index_url = \"idx/index.json\"\n");
        assert_eq!(
            Settings::load(&relative, true).unwrap().index_url,
            vec![d.path().join("idx/index.json").display().to_string()]
        );
        assert_eq!(s.python_binary, "/usr/bin/python3.11");
        assert_eq!(s.proxy.https_proxy.as_deref(), Some("http://proxy:3128"));
        assert_eq!(s.proxy.proxy_ca_bundle_path, Some(d.path().join("ca.pem")));
        assert_eq!(s.http_timeout, Some(7));
        assert_eq!(s.environment.as_deref(), Some("prod"));
        assert_eq!(s.python.installer.as_deref(), Some("pip"));
        assert_eq!(s.python.find_links, vec![d.path().join("wheels")]);
        assert_eq!(s.python.extra_index_urls, vec!["https://extra/simple"]);
        let gh = &s.plugins["github"];
        assert_eq!(gh.hosts, vec!["https://ghe.corp"]);
        assert_eq!(gh.time_ms, Some(200));
        assert_eq!(gh.config["n"], "3");
        assert_eq!(s.warnings.len(), 1);
        assert!(
            s.warnings[0].contains("unknown key `colour`"),
            "{:?}",
            s.warnings
        );
    }

    #[test]
    fn bad_value_names_file_key_and_form() {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), "stackpack.toml", "python_binary = 3\n");
        let e = Settings::load(&p, true).unwrap_err().to_string();
        assert!(e.contains("stackpack.toml"), "{e}");
        assert!(e.contains("`python_binary`"), "{e}");
        assert!(e.contains("python executable"), "{e}");
        let p = write(d.path(), "b.toml", "[plugins.x]\ntime_ms = -1\n");
        let e = Settings::load(&p, true).unwrap_err().to_string();
        assert!(e.contains("plugins.x.time_ms"), "{e}");
    }

    #[test]
    fn third_party_plugin_settings() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            "stackpack.toml",
            &format!(
                "[plugins.corp]\nkind = \"resolver\"\npath = \"p/corp.wasm\"\nsha256 = \"sha256:{}\"\norder = -3\n[plugins.pol]\nkind = \"policy\"\nurl = \"https://x.example/pol.wasm\"\n",
                "AB".repeat(32)
            ),
        );
        let s = Settings::load(&p, true).unwrap();
        let corp = &s.plugins["corp"];
        assert_eq!(corp.kind, Some(DeclaredKind::Resolver));
        assert_eq!(corp.path, Some(d.path().join("p/corp.wasm")));
        assert_eq!(corp.sha256.as_deref(), Some("ab".repeat(32).as_str()));
        assert_eq!(corp.order, Some(-3));
        assert!(corp.is_declared());
        assert_eq!(
            s.plugins["pol"].url.as_deref(),
            Some("https://x.example/pol.wasm")
        );
        for (text, key) in [
            (
                "[plugins.a]\nkind = \"both\"\npath = \"a.wasm\"\n",
                "plugins.a.kind",
            ),
            ("[plugins.a]\npath = \"a.wasm\"\n", "plugins.a.kind"),
            (
                "[plugins.a]\nkind = \"policy\"\nurl = \"http://x/a.wasm\"\n",
                "plugins.a.url",
            ),
            (
                "[plugins.a]\nkind = \"policy\"\npath = \"a\"\nurl = \"https://x/a\"\n",
                "plugins.a.url",
            ),
            (
                "[plugins.a]\nkind = \"policy\"\npath = \"a\"\nsha256 = \"abc\"\n",
                "plugins.a.sha256",
            ),
            (
                "[plugins.a]\nkind = \"policy\"\npath = \"a\"\norder = \"first\"\n",
                "plugins.a.order",
            ),
            (
                "[plugins.github]\nsha256 = \"abc\"\n",
                "plugins.github.sha256",
            ),
        ] {
            let p = write(d.path(), "bad.toml", text);
            let e = Settings::load(&p, true).unwrap_err().to_string();
            assert!(
                e.contains("bad.toml") && e.contains(&format!("`{key}`")),
                "{text}: {e}"
            );
        }
    }

    #[test]
    fn toml_syntax_error_is_reported() {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), "stackpack.toml", "index_url = [\n");
        let e = Settings::load(&p, true).unwrap_err().to_string();
        assert!(e.contains("stackpack.toml"), "{e}");
    }

    #[test]
    fn credentials_from_config_and_env() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            "stackpack.toml",
            r#"
[[credentials]]
url = "https://idx.corp/"
token = "tok-inline"
[[credentials]]
url = "https://other.corp/"
username = "svc"
password_env = "STACKPACK_TEST_UNSET_PASSWORD_VAR"
"#,
        );
        let s = Settings::load(&p, true).unwrap();
        assert_eq!(s.credentials.len(), 1);
        assert!(s.credentials[0].secret == Secret::Bearer("tok-inline".into()));
        assert!(
            s.warnings[0].contains("STACKPACK_TEST_UNSET_PASSWORD_VAR"),
            "{:?}",
            s.warnings
        );
        let shown = format!("{s:?}");
        assert!(!shown.contains("tok-inline"), "{shown}");
        let p = write(
            d.path(),
            "b.toml",
            "[[credentials]]\nurl = \"https://x/\"\ntoken = \"a\"\nusername = \"b\"\n",
        );
        let e = Settings::load(&p, true).unwrap_err().to_string();
        assert!(e.contains("credentials[0].token"), "{e}");
    }

    #[test]
    fn st2_conf_is_accepted() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            "st2.conf",
            "[system]\nbase_path = /srv/st2\n\n[content]\npacks_base_paths = /a:/b:\nindex_url = https://x/i.json, https://y/i.json\n\n[actionrunner]\npython_binary = /usr/bin/python3\n\n[database]\nhost = 127.0.0.1\n",
        );
        let s = Settings::load(&p, true).unwrap();
        assert_eq!(s.base_path, Some(PathBuf::from("/srv/st2")));
        assert_eq!(
            s.packs_base_paths,
            vec![PathBuf::from("/a"), PathBuf::from("/b")]
        );
        assert_eq!(s.index_url, vec!["https://x/i.json", "https://y/i.json"]);
        assert_eq!(s.python_binary, "/usr/bin/python3");
        assert!(s.warnings.is_empty());
    }
}
