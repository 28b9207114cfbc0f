//! [`Session`]: what every operation starts from, built once per command. The settings
//! are read and resolved once; the network client, the plugin runtime, the resolver
//! and policy chains, the discovery of installed packs and the lockfile are each made
//! on first use and then shared, so an operation that needs none of them (`list`, or
//! `install --no-register` for policies) never pays for them, and a plugin that fails
//! its checks only breaks the operations that run it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use stackpack_fetch::{FetchError, GitCache, Net, NetConfig};
use stackpack_install::{Lockfile, SourcePolicy};
use stackpack_net::NetBackend;
use stackpack_plugin::{Plugin, PluginKind, Runtime};
use stackpack_site::{Enterprise, InstalledPack, Overrides, Root, Settings, St2Settings};
use stackpack_venv::{ProxyEnv, VenvConfig};

use crate::error::OpsError;
use crate::index::IndexServedNet;
use stackpack_core::{Progress, Silent};

/// The root used when neither `--root` nor an st2.conf `base_path` names one.
pub const DEFAULT_ROOT: &str = "/opt/stackstorm";

/// What the caller decides before settings are read (the CLI's global options).
#[derive(Debug, Clone, Default)]
pub struct SessionOptions {
    /// `--root`; default: an st2.conf's `base_path`, else [`DEFAULT_ROOT`].
    pub root: Option<PathBuf>,
    /// `--config`; default: `<root>/stackpack.toml` (absent is fine).
    pub config: Option<PathBuf>,
    /// `--index`, replacing the configured `index_url` when not empty.
    pub index: Vec<String>,
    pub offline: bool,
    /// `--cache-dir`; default `<root>/cache`.
    pub cache_dir: Option<PathBuf>,
}

/// One command's view of the site: root, resolved settings, enterprise rules, and the
/// lazily made shared services.
pub struct Session {
    pub root: Root,
    pub settings: Settings,
    pub offline: bool,
    /// The enterprise rules (system file, or `$STACKPACK_ENTERPRISE_CONFIG` when there
    /// is none); the user's config cannot loosen them.
    pub enterprise: Enterprise,
    /// The enterprise `allowed_sources`, parsed: packs and indexes must come from these.
    pub allowed_sources: Option<SourcePolicy>,
    /// How pack virtualenvs are built, from the settings.
    pub venv: VenvConfig,
    /// The running StackStorm to hand packs to (`[st2]`, `ST2_*`, st2.conf's
    /// `[auth] api_url`), when an API URL is known.
    pub st2: Option<St2Settings>,
    /// Where long work reports its progress ([`Silent`] unless the caller sets one).
    pub progress: Arc<dyn Progress>,
    net: Arc<LazyNet>,
    served: OnceLock<Arc<IndexServedNet>>,
    runtime: OnceLock<Runtime>,
    entries: OnceLock<Vec<crate::chain::Entry>>,
    resolvers: OnceLock<Vec<Plugin>>,
    policies: OnceLock<Vec<Plugin>>,
    installed: Mutex<Option<Arc<Vec<InstalledPack>>>>,
    lockfile: Mutex<Option<Arc<Lockfile>>>,
    oci: Mutex<Option<Arc<stackpack_oci::Client>>>,
}

impl Session {
    /// Reads and resolves the settings; touches no network and writes nothing.
    pub fn new(opts: &SessionOptions) -> Result<Session, OpsError> {
        // An explicit config may carry st2's base_path; the default config lives in the
        // root, so it cannot choose the root.
        let explicit = opts
            .config
            .as_deref()
            .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()));
        let explicit = explicit.as_deref();
        let early_root = opts
            .root
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_ROOT));
        let config_path = explicit
            .map(Path::to_path_buf)
            .unwrap_or_else(|| Root::new(&early_root, None).default_config());
        let settings = Settings::load(&config_path, explicit.is_some())?;
        for w in &settings.warnings {
            tracing::warn!("{w}");
        }
        let root_path = match (&opts.root, &settings.base_path) {
            (Some(r), _) => r.clone(),
            (None, Some(b)) => b.clone(),
            (None, None) => early_root,
        };
        let settings = settings.resolve(&Overrides {
            index_urls: opts.index.clone(),
        })?;
        let root_path = std::path::absolute(&root_path).unwrap_or(root_path);
        let enterprise = Enterprise::load()?;
        let allowed_sources = match (&enterprise.allowed_sources, &enterprise.source) {
            (Some(items), Some(file)) => Some(SourcePolicy::new(items, file)?),
            _ => None,
        };
        let venv = venv_config(&settings, opts.offline);
        let st2 = settings.st2.configured().then(|| settings.st2.clone());
        Ok(Session {
            root: Root::new(root_path, opts.cache_dir.clone()),
            settings,
            offline: opts.offline,
            enterprise,
            allowed_sources,
            venv,
            st2,
            progress: Arc::new(Silent),
            net: Arc::new(LazyNet::default()),
            served: OnceLock::new(),
            runtime: OnceLock::new(),
            entries: OnceLock::new(),
            resolvers: OnceLock::new(),
            policies: OnceLock::new(),
            installed: Mutex::new(None),
            lockfile: Mutex::new(None),
            oci: Mutex::new(None),
        })
    }

    /// The packs base paths in search order.
    pub fn search_paths(&self) -> Vec<PathBuf> {
        stackpack_site::search_paths(&self.root.packs_dir(), &self.settings.packs_base_paths)
    }

    /// The config file the settings came from, or the default one, for messages.
    pub fn config_file(&self) -> String {
        self.settings
            .source
            .as_deref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| self.root.default_config().display().to_string())
    }

    /// Refuses, before anything is fetched, index URLs (`index_url` / `--index`) that
    /// the enterprise `allowed_sources` does not allow.
    pub fn check_index_urls(&self) -> Result<(), OpsError> {
        if let Some(policy) = &self.allowed_sources {
            for url in &self.settings.index_url {
                policy.check_index(url)?;
            }
        }
        Ok(())
    }

    /// Network settings from the config, for HTTP and git alike.
    pub fn net_config(&self) -> NetConfig {
        let proxy = &self.settings.proxy;
        NetConfig {
            http_proxy: proxy.http_proxy.clone(),
            https_proxy: proxy.https_proxy.clone(),
            no_proxy: proxy.no_proxy.clone(),
            ca_bundle: proxy.proxy_ca_bundle_path.clone(),
            timeout: self.settings.http_timeout.map(Duration::from_secs),
            credentials: self
                .settings
                .credentials
                .iter()
                .map(|c| stackpack_fetch::Credential {
                    prefix: c.url.clone(),
                    auth: match &c.secret {
                        stackpack_site::Secret::Bearer(t) => {
                            stackpack_fetch::Auth::Bearer(t.clone())
                        }
                        stackpack_site::Secret::Basic { username, password } => {
                            stackpack_fetch::Auth::Basic {
                                username: username.clone(),
                                password: password.clone(),
                            }
                        }
                    },
                })
                .collect(),
        }
    }

    /// The OCI registry client's settings: `insecure_registries`, the proxies and CA
    /// bundle, `http_timeout` (a request) and 10 times it (a transfer), and the
    /// `[[credentials]]` whose url is `oci://`.
    pub fn oci_config(&self) -> stackpack_oci::ClientConfig {
        let net = self.net_config();
        stackpack_oci::ClientConfig {
            insecure_registries: self.settings.insecure_registries.clone(),
            ca_bundle: net.ca_bundle.clone(),
            http_proxy: net.http_proxy.clone(),
            https_proxy: net.https_proxy.clone(),
            no_proxy: net.no_proxy.clone(),
            request_timeout: net.request_deadline(),
            transfer_timeout: net.transfer_deadline(),
            credentials: self
                .settings
                .credentials
                .iter()
                .filter(|c| stackpack_core::is_oci(&c.url))
                .map(|c| stackpack_oci::RegistryCredential {
                    url: c.url.clone(),
                    auth: match &c.secret {
                        stackpack_site::Secret::Bearer(t) => {
                            stackpack_oci::RegistryAuth::Bearer(t.clone())
                        }
                        stackpack_site::Secret::Basic { username, password } => {
                            stackpack_oci::RegistryAuth::Basic {
                                username: username.clone(),
                                password: password.clone(),
                            }
                        }
                    },
                })
                .collect(),
            ..Default::default()
        }
    }

    /// The OCI registry client ([`Session::oci_config`]), made on first use and shared.
    pub fn oci_client(&self) -> Result<Arc<stackpack_oci::Client>, OpsError> {
        let mut slot = self
            .oci
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(client) = slot.as_ref() {
            return Ok(client.clone());
        }
        let client = Arc::new(stackpack_oci::Client::new(&self.oci_config())?);
        *slot = Some(client.clone());
        Ok(client)
    }

    /// The host's HTTP client (proxies, CA bundle, timeouts, credentials), made once.
    pub fn net(&self) -> Result<Arc<Net>, OpsError> {
        Ok(self.net.get(|| self.net_config())?)
    }

    /// The git cache under the cache dir, probing remotes with the session's client.
    pub fn git_cache(&self) -> Result<GitCache, OpsError> {
        Ok(GitCache::new(
            self.root.cache_dir().join("git"),
            &self.net_config(),
            self.offline,
        )
        .with_http(self.net()?))
    }

    /// The network as plugins see it: configured index URLs are answered from the
    /// indexes the host fetched once; everything else goes to [`Session::net`].
    pub fn plugin_net(&self) -> Arc<IndexServedNet> {
        self.served().clone()
    }

    /// [`Session::plugin_net`], borrowed for as long as the session lives (the fetched
    /// indexes are borrowed from it).
    pub(crate) fn served(&self) -> &Arc<IndexServedNet> {
        self.served.get_or_init(|| {
            Arc::new(IndexServedNet::new(
                self.net.clone(),
                self.net_config(),
                self.settings.index_url.clone(),
                self.root.cache_dir().join("index"),
                self.offline,
            ))
        })
    }

    /// The plugin runtime, made once; its network is [`Session::plugin_net`].
    pub fn runtime(&self) -> Result<&Runtime, OpsError> {
        if let Some(rt) = self.runtime.get() {
            return Ok(rt);
        }
        let rt = self.new_runtime(self.plugin_net())?;
        Ok(self.runtime.get_or_init(|| rt))
    }

    /// A runtime of its own over another network (`plugin test` replays recordings).
    pub fn new_runtime(&self, net: Arc<dyn NetBackend>) -> Result<Runtime, OpsError> {
        // Compiled code is cached when the cache dir can be created; otherwise plugins
        // are compiled in memory (slower, still correct).
        let cache = match self.root.ensure_cache() {
            Ok(dir) => Some(dir.join("plugins")),
            Err(e) => {
                tracing::info!("not caching compiled plugins: {e}");
                None
            }
        };
        Ok(Runtime::new(cache, net, self.offline)?)
    }

    /// Every plugin the settings name, in chain order, listed once (built-ins, the
    /// added ones, the config-declared ones); nothing is loaded.
    pub fn plugin_entries(&self) -> Result<&[crate::chain::Entry], OpsError> {
        if let Some(e) = self.entries.get() {
            return Ok(e);
        }
        let listed = crate::chain::entries(self)?;
        Ok(self.entries.get_or_init(|| listed))
    }

    /// The resolver chain, loaded on first use (policies are not loaded).
    pub fn resolvers(&self) -> Result<&[Plugin], OpsError> {
        if let Some(r) = self.resolvers.get() {
            return Ok(r);
        }
        let loaded = crate::chain::load_kind(self, PluginKind::Resolver)?;
        Ok(self.resolvers.get_or_init(|| loaded))
    }

    /// The override policies in chain order (the built-in `default` last), loaded on
    /// first use (resolvers are not loaded).
    pub fn policies(&self) -> Result<&[Plugin], OpsError> {
        if let Some(p) = self.policies.get() {
            return Ok(p);
        }
        let loaded = crate::chain::load_kind(self, PluginKind::Policy)?;
        Ok(self.policies.get_or_init(|| loaded))
    }

    /// Every installed pack across the base paths, read once until
    /// [`Session::packs_changed`] says the disk changed.
    pub fn installed(&self) -> Result<Arc<Vec<InstalledPack>>, OpsError> {
        let mut slot = self.installed.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(found) = &*slot {
            return Ok(found.clone());
        }
        let found = Arc::new(stackpack_site::discover(&self.search_paths())?);
        *slot = Some(found.clone());
        Ok(found)
    }

    /// The lockfile as it describes `<root>/packs` (the intents of an interrupted run's
    /// journal applied in memory), read once until [`Session::packs_changed`].
    pub fn lockfile(&self) -> Result<Arc<Lockfile>, OpsError> {
        let mut slot = self.lockfile.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(lock) = &*slot {
            return Ok(lock.clone());
        }
        let lock = Arc::new(stackpack_install::journal::current(self.root.path())?);
        *slot = Some(lock.clone());
        Ok(lock)
    }

    /// Forgets what was read of the packs and the lockfile (after an install or a
    /// removal changed them).
    pub fn packs_changed(&self) {
        *self.installed.lock().unwrap_or_else(|p| p.into_inner()) = None;
        *self.lockfile.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

/// The host's HTTP client, made on first use and shared by the host and the plugins.
#[derive(Default)]
pub struct LazyNet(OnceLock<Arc<Net>>);

impl LazyNet {
    pub fn get(&self, config: impl FnOnce() -> NetConfig) -> Result<Arc<Net>, FetchError> {
        if let Some(net) = self.0.get() {
            return Ok(net.clone());
        }
        let net = Arc::new(Net::new(config())?);
        Ok(self.0.get_or_init(|| net).clone())
    }
}

/// The venv settings from the config (`python_binary`, `[python]`, proxies, `--offline`).
fn venv_config(s: &Settings, offline: bool) -> VenvConfig {
    VenvConfig {
        python: s.python_binary.clone(),
        installer: s.python.installer.clone(),
        index_url: s.python.index_url.clone(),
        extra_index_urls: s.python.extra_index_urls.clone(),
        find_links: s.python.find_links.clone(),
        offline,
        proxy: ProxyEnv {
            http_proxy: s.proxy.http_proxy.clone(),
            https_proxy: s.proxy.https_proxy.clone(),
            no_proxy: s.proxy.no_proxy.clone(),
            ca_bundle: s.proxy.proxy_ca_bundle_path.clone(),
        },
    }
}
