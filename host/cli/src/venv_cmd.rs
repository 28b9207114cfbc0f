//! Pack virtualenvs: the settings they are built with, and `stackpack venv`.

use stackpack_venv::{ProxyEnv, VenvAction, VenvConfig, VenvReport};

use crate::context::Context;
use crate::error::CliError;
use crate::output;

/// The venv settings from the config (`python_binary`, `[python]`, proxies, `--offline`).
pub fn config(ctx: &Context) -> Result<VenvConfig, CliError> {
    let s = &ctx.settings;
    Ok(VenvConfig {
        python: s.python_binary.clone(),
        installer: s.python.installer.clone(),
        index_url: s.python.index_url.clone(),
        extra_index_urls: s.python.extra_index_urls.clone(),
        find_links: s.python.find_links.clone(),
        offline: ctx.offline,
        proxy: ProxyEnv {
            http_proxy: s.proxy.http_proxy.clone(),
            https_proxy: s.proxy.https_proxy.clone(),
            no_proxy: s.proxy.no_proxy.clone(),
            ca_bundle: s.proxy.proxy_ca_bundle_path.clone(),
        },
    })
}

/// One line about a venv, for people.
pub fn describe(r: &VenvReport) -> String {
    match r.action {
        VenvAction::Kept => "virtualenv unchanged".to_string(),
        VenvAction::Created | VenvAction::Rebuilt => format!(
            "virtualenv {} with {} (python {}) in {:.1}s",
            if matches!(r.action, VenvAction::Created) {
                "created"
            } else {
                "rebuilt"
            },
            r.installer,
            r.python,
            r.seconds
        ),
    }
}

/// `stackpack venv <pack> [--recreate]`.
pub fn venv(ctx: &Context, pack: &str, recreate: bool) -> Result<(), CliError> {
    let found = crate::packs::installed(ctx, pack)?;
    ctx.root.ensure()?;
    let cfg = config(ctx)?;
    let bar = output::spinner(true, format!("building the virtualenv of {pack}"));
    let result = stackpack_venv::ensure(
        &ctx.root.virtualenvs_dir(),
        pack,
        &found.path,
        &cfg,
        recreate,
    );
    bar.finish_and_clear();
    let report = result.map_err(|e| CliError::Venv(Box::new(e)))?;
    if ctx.json {
        return output::json(&report);
    }
    output::print(format!(
        "{pack}: {} at {}",
        describe(&report),
        report.path.display()
    ))
}
