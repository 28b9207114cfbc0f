//! Settings, read from `stackpack.toml` or from an existing `st2.conf`, using
//! st2.conf's option names so a StackStorm host can point `--config` at its own file.
//! [`Settings::load`] reads and checks the file once: every value is typed (the Python
//! installer included), unknown keys become warnings, and a bad value fails naming the
//! file, the key and the form expected. [`Settings::resolve`] then adds what the
//! environment and the command line say (proxies, `--index`) and turns every index
//! location into an absolute URL.
//!
//! ```toml
//! packs_base_paths = ["/srv/extra-packs"]      # or st2's "a:b" string
//! index_url = ["https://index.example/v1/index.json"]
//! python_binary = "/usr/bin/python3"
//! https_proxy = "http://proxy:3128"
//! proxy_ca_bundle_path = "/etc/ssl/corp.pem"
//! environment = "prod"                         # handed to override policies
//!
//! [python]
//! installer = "uv"                          # auto | uv | pip | /path/to/uv
//!
//! [[credentials]]
//! url = "https://idx.corp/"                  # requests whose URL starts with this
//! token_env = "IDX_TOKEN"                    # or token, or username + password(_env)
//!
//! [st2]                                      # hand installed packs to a running st2
//! api_url = "https://st2.example/api"          # or $ST2_API_URL, or st2.conf [auth] api_url
//! api_key_env = "ST2_KEY"                      # or api_key, auth_token_env; $ST2_API_KEY
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

use stackpack_core::InstallerChoice;

use crate::error::SiteError;

mod credentials;
mod resolve;
mod st2;
mod st2conf;
mod toml_file;

pub(crate) use toml_file::describe_error as describe_toml_error;

pub use credentials::{CredentialSetting, Secret};
pub use resolve::{Overrides, normalize_index_url};
pub use st2::{St2Auth, St2Settings};

/// Proxy settings, applied to everything that goes out (HTTP, git, pip).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ProxySettings {
    pub http_proxy: Option<String>,
    pub https_proxy: Option<String>,
    pub no_proxy: Option<String>,
    pub proxy_ca_bundle_path: Option<PathBuf>,
}

/// How pack virtualenvs get their requirements (`[python]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PythonSettings {
    /// `auto` (uv when found, else pip; the default), `uv`, `pip`, or a uv binary.
    pub installer: InstallerChoice,
    pub index_url: Option<String>,
    pub extra_index_urls: Vec<String>,
    /// Wheelhouse directories (`--find-links`).
    pub find_links: Vec<PathBuf>,
}

/// Registration rules of the site (`[registry]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RegistrySettings {
    /// Runners installed in the site's StackStorm beyond st2's built-in ones, which
    /// actions may name as `runner_type`.
    pub extra_runners: Vec<String>,
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
    /// The largest HTTP answer (an index included) the plugin may receive, in MiB
    /// (8 when unset).
    pub max_body_mib: Option<u64>,
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
    text.parse::<stackpack_core::Sha256>()
        .ok()
        .map(|d| d.to_string())
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
    /// Pack indexes, highest priority first. As loaded: URLs, or paths made absolute
    /// against the config file's directory; after [`Settings::resolve`]: URLs only.
    pub index_url: Vec<String>,
    pub python_binary: String,
    /// `[python]`: installer and package index options for pack virtualenvs.
    pub python: PythonSettings,
    /// `[registry]`: registration rules (custom runners).
    pub registry: RegistrySettings,
    pub proxy: ProxySettings,
    /// Seconds any one network request may take (index, archive, git probe).
    pub http_timeout: Option<u64>,
    /// `insecure_registries`: OCI registries (`host:port`) spoken to in plain HTTP;
    /// every other registry only over HTTPS. Empty by default.
    pub insecure_registries: Vec<String>,
    /// Site label handed to override policies (`"prod"`), so one policy serves many
    /// sites.
    pub environment: Option<String>,
    /// Size limits of one fetched pack tree (`max_pack_entries`, `max_pack_size_mib`,
    /// `max_pack_file_mib`); `None` keeps the built-in default.
    pub pack_limits: PackLimits,
    pub plugins: BTreeMap<String, PluginSettings>,
    /// Credentials for indexes and other hosts (`[[credentials]]`).
    #[serde(skip)]
    pub credentials: Vec<CredentialSetting>,
    /// `[st2]`: the API of a running StackStorm to hand installed packs to.
    #[serde(skip)]
    pub st2: St2Settings,
    /// Non-fatal problems (unknown keys), for the caller to print.
    #[serde(skip)]
    pub warnings: Vec<String>,
}

/// The configured size limits of one pack tree; each `None` is the built-in default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct PackLimits {
    /// `max_pack_entries`: files, directories and links in one pack.
    pub max_entries: Option<u64>,
    /// `max_pack_size_mib`: bytes of all files of one pack, in MiB.
    pub max_size_mib: Option<u64>,
    /// `max_pack_file_mib`: bytes of one file, in MiB.
    pub max_file_mib: Option<u64>,
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
            registry: RegistrySettings::default(),
            proxy: ProxySettings::default(),
            http_timeout: None,
            insecure_registries: Vec::new(),
            environment: None,
            pack_limits: PackLimits::default(),
            plugins: BTreeMap::new(),
            credentials: Vec::new(),
            st2: St2Settings::default(),
            warnings: Vec::new(),
        }
    }
}

impl Settings {
    /// Reads settings from `path`. A missing file is fine when `required` is false
    /// (the default location); a file given explicitly must exist. A file named
    /// `*.toml` must be TOML; any other is read as TOML when it parses as TOML, and as
    /// an st2.conf otherwise. Secrets named by `token_env`/`password_env` are read from
    /// the process environment.
    pub fn load(path: &Path, required: bool) -> Result<Settings, SiteError> {
        Settings::load_with_env(path, required, &|name| std::env::var(name).ok())
    }

    /// [`Settings::load`] with the environment given as a lookup function.
    pub(crate) fn load_with_env(
        path: &Path,
        required: bool,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Settings, SiteError> {
        let text = match stackpack_fs::read_to_string_limited(path, MAX_CONFIG_BYTES) {
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
        let mut settings = match toml_file::parse(&text) {
            Ok(document) => toml_file::read(path, &text, document, env)?,
            Err(e) if is_toml => {
                return Err(SiteError::ConfigSyntax {
                    path: path.to_path_buf(),
                    reason: toml_file::describe_error(&text, &e),
                });
            }
            Err(_) => st2conf::read(path, &text)?,
        };
        settings.source = Some(path.to_path_buf());
        Ok(settings)
    }
}

/// The largest config file (stackpack.toml, st2.conf) or enterprise file read: 1 MiB,
/// a hundred times a large st2.conf. Only regular files are read.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

fn split_list(s: &str, sep: char) -> Vec<String> {
    s.split(sep)
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

/// An environment for tests: `vars` and nothing else.
#[cfg(test)]
pub(crate) fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: std::collections::HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
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
    fn registry_extra_runners() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            "stackpack.toml",
            "[registry]\nextra_runners = [\"my-runner\"]\nextra_runner = 1\n",
        );
        let s = Settings::load(&p, true).unwrap();
        assert_eq!(s.registry.extra_runners, vec!["my-runner"]);
        assert!(
            s.warnings
                .iter()
                .any(|w| w.contains("registry.extra_runner") && w.contains("extra_runners")),
            "{:?}",
            s.warnings
        );
        assert_eq!(
            Settings::default().registry.extra_runners,
            Vec::<String>::new()
        );
        let bad = write(d.path(), "b.toml", "[registry]\nextra_runners = 3\n");
        let e = Settings::load(&bad, true).unwrap_err().to_string();
        assert!(e.contains("registry.extra_runners"), "{e}");
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
        assert_eq!(s.python.installer, InstallerChoice::Pip);
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
    fn insecure_registries_and_oci_credentials_are_read() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            "stackpack.toml",
            r#"
insecure_registries = ["127.0.0.1:5000", "Registry.Local:80", "127.0.0.1:5000"]
[[credentials]]
url = "oci://127.0.0.1:5000/"
username = "alice"
password = "pw"
"#,
        );
        let s = Settings::load(&p, true)
            .unwrap()
            .resolve_with_env(&Overrides::default(), &|_| None)
            .unwrap();
        assert_eq!(
            s.insecure_registries,
            ["127.0.0.1:5000", "registry.local:80"]
        );
        assert_eq!(s.credentials[0].url, "oci://127.0.0.1:5000/");
        assert!(Settings::default().insecure_registries.is_empty());
        for bad in [
            "insecure_registries = [\"http://h:1\"]\n",
            "insecure_registries = 5\n",
        ] {
            let p = write(d.path(), "bad.toml", bad);
            let e = Settings::load(&p, true).unwrap_err().to_string();
            assert!(
                e.contains("insecure_registries") && e.contains("host:port"),
                "{e}"
            );
        }
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
    fn unknown_keys_are_warnings_naming_file_key_and_known_keys() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            "stackpack.toml",
            r#"
colour = "blue"
[python]
installer = "pip"
wheels = "x"
[plugins.github]
hosts = ["https://ghe.corp"]
memory = 64
[[credentials]]
url = "https://idx.corp/"
token = "t"
tokn = "u"
"#,
        );
        let s = Settings::load(&p, true).unwrap();
        let file = p.display().to_string();
        let expected = [
            ("colour", "packs_base_paths, index_url, python_binary"),
            (
                "python.wheels",
                "installer, index_url, extra_index_urls, find_links",
            ),
            (
                "plugins.github.memory",
                "hosts, memory_mib, time_ms, max_body_mib, config",
            ),
            (
                "credentials[0].tokn",
                "url, token, token_env, username, password, password_env",
            ),
        ];
        assert_eq!(s.warnings.len(), expected.len(), "{:?}", s.warnings);
        for (key, known) in expected {
            let w = s
                .warnings
                .iter()
                .find(|w| w.contains(&format!("unknown key `{key}` ignored")))
                .unwrap_or_else(|| panic!("no warning for {key}: {:?}", s.warnings));
            assert!(w.starts_with(&format!("{file}: ")), "{w}");
            assert!(w.contains(&format!("(known keys: {known}")), "{w}");
        }
        // The known values were still read.
        assert_eq!(s.python.installer, InstallerChoice::Pip);
        assert_eq!(s.plugins["github"].hosts, vec!["https://ghe.corp"]);
        assert_eq!(s.credentials.len(), 1);
    }

    #[test]
    fn wrong_types_name_the_key_and_the_form() {
        let d = tempfile::tempdir().unwrap();
        for (text, key, form) in [
            (
                "http_timeout = \"7\"\n",
                "http_timeout",
                "a positive number of seconds",
            ),
            (
                "http_timeout = 0\n",
                "http_timeout",
                "a positive number of seconds",
            ),
            (
                "packs_base_paths = [1, 2]\n",
                "packs_base_paths",
                "a list of directories, or a colon-separated string",
            ),
            (
                "environment = \"  \"\n",
                "environment",
                "a label such as \"prod\"",
            ),
            (
                "python = \"uv\"\n",
                "python",
                "a [python] table with installer, index_url",
            ),
            (
                "[python]\nfind_links = 3\n",
                "python.find_links",
                "wheelhouse",
            ),
            (
                "plugins = 3\n",
                "plugins",
                "a table of [plugins.<name>] sections",
            ),
            (
                "[plugins]\ngithub = 3\n",
                "plugins.github",
                "a table with hosts, memory_mib",
            ),
            (
                "[plugins.github]\nhosts = \"a\"\nmemory_mib = 1.5\n",
                "plugins.github.memory_mib",
                "a positive integer (MiB)",
            ),
            (
                "[plugins.github]\nconfig = { hosts = { a = 1 } }\n",
                "plugins.github.config.hosts",
                "a string, number, boolean or list",
            ),
            (
                "[plugins.github]\nconfig = 3\n",
                "plugins.github.config",
                "a table of string values",
            ),
            (
                "credentials = 1\n",
                "credentials",
                "a list of [[credentials]] tables",
            ),
            (
                "[[credentials]]\nurl = \"https://a/\"\n[[credentials]]\nurl = \"https://b/\"\ntoken = 3\n",
                "credentials[1].token",
                "a string",
            ),
            (
                "[[credentials]]\ntoken = \"t\"\n",
                "credentials[0].url",
                "the http(s):// or oci:// URL the credential is for (scheme, host, optional port and path)",
            ),
        ] {
            let p = write(d.path(), "bad.toml", text);
            let e = Settings::load(&p, true).unwrap_err().to_string();
            assert!(
                e.contains(&format!(
                    "config file {}: key `{key}` has a bad value; expected",
                    p.display()
                )),
                "{text}: {e}"
            );
            assert!(e.contains(form), "{text}: {e}");
            assert!(!e.contains("invalid type"), "{text}: {e}");
        }
    }

    #[test]
    fn installer_is_typed_when_read_and_a_bad_one_fails_then() {
        let d = tempfile::tempdir().unwrap();
        for (text, choice) in [
            ("", InstallerChoice::Auto),
            ("[python]\ninstaller = \"auto\"\n", InstallerChoice::Auto),
            (
                "[python]\ninstaller = \"uv\"\n",
                InstallerChoice::Uv("uv".into()),
            ),
            (
                "[python]\ninstaller = \"/opt/uv/bin/uv\"\n",
                InstallerChoice::Uv("/opt/uv/bin/uv".into()),
            ),
        ] {
            let p = write(d.path(), "stackpack.toml", text);
            assert_eq!(Settings::load(&p, true).unwrap().python.installer, choice);
        }
        for bad in ["\"poetry\"", "\"\"", "true"] {
            let p = write(
                d.path(),
                "stackpack.toml",
                &format!("[python]\ninstaller = {bad}\n"),
            );
            let e = Settings::load(&p, true).unwrap_err().to_string();
            assert!(e.contains(&p.display().to_string()), "{e}");
            assert!(e.contains("`python.installer`"), "{e}");
            assert!(
                e.contains("auto, uv, pip, or the path of a uv binary"),
                "{e}"
            );
        }
    }

    #[test]
    fn syntax_errors_never_quote_the_file() {
        // The safe outcome: the error names the file, the line and the column, and no
        // part of any line (a token sits on it) appears in it.
        let d = tempfile::tempdir().unwrap();
        for text in [
            "[[credentials]]\nurl = \"https://h/\"\ntoken = \"SECRET-TOKEN-1\n",
            "[[credentials]]\nurl = \"https://h/\"\ntoken = SECRET-TOKEN-1\n",
            "[[credentials]]\nurl = \"https://h/\"\ntoken = \"SECRET-TOKEN-1\" x\n",
            "http_proxy = \"http://u:SECRET-TOKEN-1@proxy:3128\"\nhttp_proxy = \"x\"\n",
            "[st2]\napi_key = \"SECRET-TOKEN-1\"\n[st2]\n",
            "credentials = \"SECRET-TOKEN-1\"\n",
            "[[credentials]]\nurl = \"https://h/\"\ntoken = [\"SECRET-TOKEN-1\"]\n",
        ] {
            let p = write(d.path(), "bad.toml", text);
            let e = Settings::load(&p, true).unwrap_err().to_string();
            assert!(!e.contains("SECRET"), "{text:?}: {e}");
            assert!(e.contains(&p.display().to_string()), "{e}");
        }
        let p = write(
            d.path(),
            "bad.toml",
            "a = 1\n[[credentials]]\ntoken = \"SECRET-TOKEN-1\n",
        );
        let e = Settings::load(&p, true).unwrap_err().to_string();
        assert!(e.contains("line 3"), "{e}");
    }

    #[test]
    fn credential_secrets_from_the_given_environment() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            "stackpack.toml",
            "[[credentials]]\nurl = \"https://idx.corp/\"\ntoken_env = \"IDX_TOKEN\"\n[[credentials]]\nurl = \"https://u:pw@other.corp/\"\nusername = \"svc\"\npassword_env = \"OTHER_PASSWORD\"\n",
        );
        let env = |name: &str| (name == "IDX_TOKEN").then(|| "tok-from-env".to_string());
        let s = Settings::load_with_env(&p, true, &env).unwrap();
        assert_eq!(s.credentials.len(), 1);
        assert!(s.credentials[0].secret == Secret::Bearer("tok-from-env".into()));
        assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
        assert!(s.warnings[0].contains("credentials[1].password_env names $OTHER_PASSWORD"));
        assert!(!s.warnings[0].contains("pw@"), "{}", s.warnings[0]);
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
