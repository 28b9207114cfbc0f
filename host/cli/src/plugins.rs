//! Assembling the plugin chain: the built-in components plus the operator's settings
//! (extra grants, limits, config values), loaded into one runtime.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use stackpack_plugin::{Grants, Limits, Plugin, PluginError, PluginSpec, Runtime};

use crate::context::Context;
use crate::error::CliError;

/// Network settings from the config, for HTTP and git alike.
pub fn net_config(ctx: &Context) -> stackpack_fetch::NetConfig {
    let proxy = &ctx.settings.proxy;
    stackpack_fetch::NetConfig {
        http_proxy: proxy.http_proxy.clone(),
        https_proxy: proxy.https_proxy.clone(),
        no_proxy: proxy.no_proxy.clone(),
        ca_bundle: proxy.proxy_ca_bundle_path.clone(),
        timeout: ctx.settings.http_timeout.map(Duration::from_secs),
        credentials: ctx
            .settings
            .credentials
            .iter()
            .map(|c| stackpack_fetch::Credential {
                prefix: c.url.clone(),
                auth: match &c.secret {
                    stackpack_site::Secret::Bearer(t) => stackpack_fetch::Auth::Bearer(t.clone()),
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

/// The host's network client.
pub fn net(ctx: &Context) -> Result<Arc<stackpack_fetch::Net>, CliError> {
    Ok(Arc::new(stackpack_fetch::Net::new(net_config(ctx))?))
}

/// The plugin runtime, doing its network I/O through `net`.
pub fn runtime(
    ctx: &Context,
    net: Arc<dyn stackpack_plugin::NetBackend>,
) -> Result<Runtime, CliError> {
    // Compiled code is cached when the cache dir can be created; otherwise plugins are
    // compiled in memory (slower, still correct).
    let cache = match ctx.root.ensure_cache() {
        Ok(dir) => Some(dir.join("plugins")),
        Err(e) => {
            tracing::info!("not caching compiled plugins: {e}");
            None
        }
    };
    Ok(Runtime::new(cache, net, ctx.offline)?)
}

/// The spec of one built-in plugin with the operator's settings applied.
pub fn builtin_spec(
    ctx: &Context,
    b: &stackpack_builtins::Builtin,
) -> Result<PluginSpec, CliError> {
    let user = ctx
        .settings
        .plugins
        .get(b.name)
        .cloned()
        .unwrap_or_default();
    let mut hosts: Vec<String> = b.default_grants.iter().map(|s| s.to_string()).collect();
    let mut config: BTreeMap<String, String> = user.config.clone();
    if b.name == "index" {
        hosts.extend(
            ctx.settings
                .index_url
                .iter()
                .filter_map(|u| url::Url::parse(u).ok())
                .map(|u| stackpack_plugin::grants::origin(&u)),
        );
        config.insert("index-urls".into(), ctx.settings.index_url.join("\n"));
    }
    hosts.extend(user.hosts.iter().cloned());
    let grants = Grants::parse(&hosts).map_err(|(grant, reason)| PluginError::Grant {
        plugin: b.name.to_string(),
        grant,
        reason,
    })?;
    let mut limits = Limits::default();
    if let Some(m) = user.memory_mib {
        limits.memory_bytes = (m as usize).saturating_mul(1 << 20);
    }
    if let Some(t) = user.time_ms {
        limits.time = Duration::from_millis(t);
    }
    Ok(PluginSpec {
        name: b.name.to_string(),
        wasm: Arc::from(b.wasm),
        grants,
        config,
        limits,
    })
}

/// Loads every built-in plugin.
pub fn load_builtins(ctx: &Context, rt: &Runtime) -> Result<Vec<Plugin>, CliError> {
    stackpack_builtins::all()
        .iter()
        .map(|b| Ok(rt.load(builtin_spec(ctx, b)?)?))
        .collect()
}
