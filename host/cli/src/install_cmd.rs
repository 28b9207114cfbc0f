//! `stackpack install` and `stackpack remove`.

use std::time::Duration;

use stackpack_install::{Env, InstallOptions, Lockfile, Outcome, Report};

use crate::cli::InstallArgs;
use crate::context::Context;
use crate::error::CliError;
use crate::{output, plugins};

pub fn install(ctx: &Context, args: &InstallArgs) -> Result<(), CliError> {
    ctx.check_index_urls()?;
    let net = plugins::net(ctx)?;
    let served = std::sync::Arc::new(crate::indexes::IndexServedNet::new(ctx, net.clone()));
    let rt = plugins::runtime(ctx, served)?;
    let plugins = plugins::load_all(ctx, &rt)?;
    let git = stackpack_fetch::GitCache::new(
        ctx.root.cache_dir().join("git"),
        &plugins::net_config(ctx),
        ctx.offline,
    );
    let venv = crate::venv_cmd::config(ctx)?;
    let env = Env {
        root: &ctx.root,
        search_paths: ctx.search_paths(),
        plugins: &plugins,
        net: &net,
        git: &git,
        venv: (!args.no_venv).then_some(&venv),
    };
    let opts = InstallOptions {
        skip_dependencies: args.skip_dependencies,
        force: args.force,
        locked: args.locked,
        offline: ctx.offline,
        lock_timeout: Duration::from_secs(args.lock_timeout),
        python_binary: venv.python.clone(),
        allowed_sources: ctx.allowed_sources.clone(),
        ..InstallOptions::default()
    };
    let mut refs = args.packs.clone();
    if args.locked && refs.is_empty() {
        let lock = Lockfile::read(&ctx.root.lockfile())?;
        refs = lock.packs.iter().map(|p| p.ref_.clone()).collect();
        if refs.is_empty() {
            return Err(CliError::Usage(format!(
                "{} records no packs; install some without --locked first",
                ctx.root.lockfile().display()
            )));
        }
    }
    let report = stackpack_install::install(&env, &refs, &opts)?;
    let installed = report.installed();
    crate::config_cmd::warn_unconfigured(ctx, &installed);
    // Register what was installed. The packs are in place whatever happens here, so a
    // registration failure is reported with the way to retry, and exits 1.
    let registration = if args.no_register || installed.is_empty() {
        None
    } else {
        Some(crate::register_cmd::register_installed(ctx, &installed))
    };
    let registered = match registration {
        Some(Ok(outcome)) => Some(outcome),
        Some(Err(e)) => {
            print_report(ctx, &report, None)?;
            return Err(CliError::Usage(format!(
                "the packs are installed but were not registered: {e}\nFix that, then run \
                 `stackpack register {}`",
                installed.join(" ")
            )));
        }
        None => None,
    };
    print_report(ctx, &report, registered.as_ref())
}

pub fn remove(
    ctx: &Context,
    packs: &[String],
    force: bool,
    lock_timeout: u64,
) -> Result<(), CliError> {
    let report = stackpack_install::remove(
        &ctx.root,
        &ctx.search_paths(),
        packs,
        force,
        Duration::from_secs(lock_timeout),
    )?;
    crate::register_cmd::unregister(ctx, &report.removed())?;
    print_report(ctx, &report, None)
}

/// One line per pack (or the JSON report, with the registration under
/// `"registered"`); exit status 1 when any failed.
fn print_report(
    ctx: &Context,
    report: &Report,
    registered: Option<&crate::register_cmd::Outcome>,
) -> Result<(), CliError> {
    for w in &report.warnings {
        tracing::warn!("{w}");
    }
    if let Some(reg) = registered {
        for r in &reg.packs {
            crate::register_cmd::warn_problems(&r.pack, &r.problems);
        }
    }
    if ctx.json {
        let mut value =
            serde_json::to_value(report).map_err(|e| CliError::Output(e.to_string()))?;
        if let (Some(reg), Some(obj)) = (registered, value.as_object_mut()) {
            obj.insert("registered".into(), reg.json());
        }
        output::json(&value)?;
    } else {
        for r in &report.results {
            let line = match &r.outcome {
                Outcome::Installed {
                    ref_,
                    version,
                    source,
                    matched,
                    replaced,
                    unchanged,
                    venv,
                    ..
                } => {
                    let how = matched
                        .as_ref()
                        .map(|m| format!(" ({m})"))
                        .unwrap_or_default();
                    let was = match replaced {
                        _ if *unchanged => ", already installed and unchanged".to_string(),
                        Some(v) if v != version => format!(", replacing {v}"),
                        Some(_) => ", reinstalled".to_string(),
                        None => String::new(),
                    };
                    let dep = r
                        .dependency_of
                        .as_ref()
                        .map(|d| format!(" [dependency of {d}]"))
                        .unwrap_or_default();
                    let venv = venv
                        .as_ref()
                        .map(|v| format!("; {}", crate::venv_cmd::describe(v)))
                        .unwrap_or_default();
                    format!("installed {ref_} {version} from {source}{how}{was}{dep}{venv}")
                }
                Outcome::Removed {
                    ref_,
                    version,
                    path,
                } => {
                    format!("removed {ref_} {version} from {path}")
                }
                Outcome::Failed { reason } => format!("failed {}: {reason}", r.requested),
            };
            output::print(line)?;
        }
        for r in registered.iter().flat_map(|reg| &reg.packs) {
            output::print(format!(
                "registered {}: {}",
                r.pack,
                crate::register_cmd::summary(r)
            ))?;
        }
    }
    if report.failed() {
        return Err(CliError::Reported);
    }
    Ok(())
}
