//! The registry client settings of a session: what `oci://` installs (the installer's
//! layer pulls, the OCI resolver's tag lists and manifests) are made with. The same
//! proxies, CA bundle, timeouts and `[[credentials]]` as the rest of stackpack, plus
//! `insecure_registries`.

use std::time::Duration;

use stackpack_oci::{ClientConfig, RegistryAuth, RegistryCredential};
use stackpack_site::{Secret, Settings};

/// The registry client configuration the settings give (credentials whose `url` is
/// `oci://…`; the others are for HTTP).
pub(crate) fn client_config(settings: &Settings) -> ClientConfig {
    let proxy = &settings.proxy;
    let defaults = ClientConfig::default();
    let request_timeout = settings
        .http_timeout
        .map(Duration::from_secs)
        .unwrap_or(defaults.request_timeout);
    ClientConfig {
        insecure_registries: settings.insecure_registries.clone(),
        ca_bundle: proxy.proxy_ca_bundle_path.clone(),
        http_proxy: proxy.http_proxy.clone(),
        https_proxy: proxy.https_proxy.clone(),
        no_proxy: proxy.no_proxy.clone(),
        request_timeout,
        transfer_timeout: defaults.transfer_timeout.max(request_timeout),
        credentials: settings
            .credentials
            .iter()
            .filter(|c| stackpack_core::is_oci(&c.url))
            .map(|c| RegistryCredential {
                url: c.url.clone(),
                auth: match &c.secret {
                    Secret::Bearer(t) => RegistryAuth::Bearer(t.clone()),
                    Secret::Basic { username, password } => RegistryAuth::Basic {
                        username: username.clone(),
                        password: password.clone(),
                    },
                },
            })
            .collect(),
        user_agent: defaults.user_agent,
    }
}
