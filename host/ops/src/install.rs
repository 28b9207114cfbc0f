//! `install` and `remove`: the install crate's plan, fetch, stage and swap, with the
//! session's resolver chain, then registration of what changed.

use std::time::Duration;

use stackpack_install::{Env, InstallOptions, Outcome, Report};

use crate::error::OpsError;
use crate::register::RegisterReport;
use crate::session::Session;

/// What to install.
#[derive(Debug, Clone)]
pub struct InstallRequest {
    /// References as typed; empty with `locked`: everything the lockfile records.
    pub packs: Vec<String>,
    pub skip_dependencies: bool,
    /// Install even when stackstorm_version or python_versions do not match.
    pub force: bool,
    /// Install exactly what the lockfile records.
    pub locked: bool,
    /// Build the packs' virtualenvs.
    pub venv: bool,
    /// Register the installed packs' content.
    pub register: bool,
    /// How long to wait for another stackpack working on the same root.
    pub lock_timeout: Duration,
    /// Hand the changed packs to st2, when st2 is configured (`--no-st2` clears it).
    pub st2: bool,
}

impl Default for InstallRequest {
    fn default() -> Self {
        InstallRequest {
            packs: Vec::new(),
            skip_dependencies: false,
            force: false,
            locked: false,
            venv: true,
            register: true,
            lock_timeout: Duration::from_secs(300),
            st2: true,
        }
    }
}

/// What an install did: per pack, then the registration of the installed packs.
#[derive(Debug)]
pub struct InstallReport {
    pub install: Report,
    /// The packs the registration covered: those installed, and locked packs whose
    /// registration was missing or stale.
    pub to_register: Vec<String>,
    /// The registration, when one ran and succeeded.
    pub registered: Option<RegisterReport>,
    /// The registration's failure: the packs are in place but not registered.
    pub register_error: Option<OpsError>,
    /// Installed packs whose schema has required keys and that have no config yet.
    pub unconfigured: Vec<String>,
    /// The handoff to st2, when one ran.
    pub st2: Option<crate::st2::Handoff>,
}

impl InstallReport {
    /// The report as JSON, with the registration under `"registered"`.
    pub fn json(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(&self.install).unwrap_or_default();
        if let (Some(reg), Some(obj)) = (&self.registered, value.as_object_mut()) {
            obj.insert("registered".into(), reg.json());
        }
        if let (Some(h), Some(obj)) = (&self.st2, value.as_object_mut()) {
            obj.insert("st2".into(), serde_json::to_value(h).unwrap_or_default());
        }
        value
    }
}

pub fn install(s: &Session, req: &InstallRequest) -> Result<InstallReport, OpsError> {
    s.check_index_urls()?;
    let mut refs = req.packs.clone();
    if req.locked && refs.is_empty() {
        refs = s.lockfile()?.packs.iter().map(|p| p.ref_.clone()).collect();
        if refs.is_empty() {
            return Err(OpsError::EmptyLockfile {
                path: s.root.lockfile(),
            });
        }
    }
    let net = s.net()?;
    let git = s.git_cache()?;
    let env = Env {
        root: &s.root,
        search_paths: s.search_paths(),
        plugins: s.resolvers()?,
        net: &net,
        git: &git,
        venv: req.venv.then_some(&s.venv),
        progress: s.progress.as_ref(),
    };
    let opts = InstallOptions {
        skip_dependencies: req.skip_dependencies,
        force: req.force,
        locked: req.locked,
        offline: s.offline,
        lock_timeout: req.lock_timeout,
        python_binary: s.venv.python.clone(),
        allowed_sources: s.allowed_sources.clone(),
        tree_limits: tree_limits(&s.settings.pack_limits),
        ..InstallOptions::default()
    };
    let report = stackpack_install::install(&env, &refs, &opts)?;
    s.packs_changed();
    let installed = report.installed();
    let unconfigured = crate::config::unconfigured(s, &installed);
    // Register what was installed, what an interrupted run's journal completed, and any
    // locked pack the registry lacks or records at another version or source (a run
    // killed between its swap and its registration). The packs are in place whatever
    // happens here, so a registration failure is reported with the way to retry.
    let (to_register, registered, register_error) = if req.register {
        register_after(s, &report, &installed)
    } else {
        (Vec::new(), None, None)
    };
    // Tell st2 about the packs whose trees changed; it reads them from disk.
    let st2 = if req.st2 {
        let changed: Vec<String> = report
            .results
            .iter()
            .filter_map(|r| match &r.outcome {
                Outcome::Installed {
                    ref_, unchanged, ..
                } if !unchanged => Some(ref_.clone()),
                _ => None,
            })
            .collect();
        let local = registered
            .as_ref()
            .map(|r| stackpack_registry::st2_counts(&r.packs));
        crate::st2::handoff(s, &changed, local.as_ref(), false, None)
    } else {
        None
    };
    Ok(InstallReport {
        install: report,
        to_register,
        registered,
        register_error,
        unconfigured,
        st2,
    })
}

/// Registers `installed` and the packs an interrupted run left unregistered, and
/// unregisters packs no longer on disk (a removal killed before it unregistered).
/// Returns the packs the registration covered, its report or its error.
pub(crate) fn register_after(
    s: &Session,
    report: &Report,
    installed: &[String],
) -> (Vec<String>, Option<RegisterReport>, Option<OpsError>) {
    let mut refs = installed.to_vec();
    let result = crate::register::lagging(s).and_then(|lag| {
        crate::register::unregister(s, &lag.gone)?;
        for r in report.recovered.installed.iter().chain(&lag.unregistered) {
            if !refs.contains(r) {
                refs.push(r.clone());
            }
        }
        if refs.is_empty() {
            return Ok(None);
        }
        crate::register::register_installed(s, &refs).map(Some)
    });
    match result {
        Ok(r) => (refs, r, None),
        Err(e) => (refs, None, Some(e)),
    }
}

/// What a removal did: per pack, then the handoff to st2.
#[derive(Debug)]
pub struct RemoveReport {
    pub remove: Report,
    /// The handoff to st2, when one ran.
    pub st2: Option<crate::st2::Handoff>,
}

impl RemoveReport {
    /// The report as JSON, with the handoff under `"st2"`.
    pub fn json(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(&self.remove).unwrap_or_default();
        if let (Some(h), Some(obj)) = (&self.st2, value.as_object_mut()) {
            obj.insert("st2".into(), serde_json::to_value(h).unwrap_or_default());
        }
        value
    }
}

/// `stackpack remove`: takes the packs out (configs are kept), unregisters them, and
/// (with `st2`, when st2 is configured) asks st2 to delete their resources.
pub fn remove(
    s: &Session,
    packs: &[String],
    force: bool,
    lock_timeout: Duration,
    st2: bool,
) -> Result<RemoveReport, OpsError> {
    let report = stackpack_install::remove(&s.root, &s.search_paths(), packs, force, lock_timeout)?;
    s.packs_changed();
    // Also the packs whose removal an interrupted run left unregistered.
    let mut gone = report.removed();
    if !report.recovered.removed.is_empty() {
        let all = s.installed()?;
        for r in &report.recovered.removed {
            if !gone.contains(r) && stackpack_site::find(&all, r).is_none() {
                gone.push(r.clone());
            }
        }
    }
    crate::register::unregister(s, &gone)?;
    let st2 = if st2 {
        crate::st2::handoff_removed(s, &gone)
    } else {
        None
    };
    Ok(RemoveReport {
        remove: report,
        st2,
    })
}

/// The size limits of fetched pack trees: the configured ones, else the defaults.
pub(crate) fn tree_limits(configured: &stackpack_site::PackLimits) -> stackpack_fetch::TreeLimits {
    let defaults = stackpack_fetch::TreeLimits::default();
    let mib = |m: u64| m.saturating_mul(1 << 20);
    stackpack_fetch::TreeLimits {
        max_entries: configured.max_entries.unwrap_or(defaults.max_entries),
        max_bytes: configured.max_size_mib.map_or(defaults.max_bytes, mib),
        max_file_bytes: configured.max_file_mib.map_or(defaults.max_file_bytes, mib),
    }
}
