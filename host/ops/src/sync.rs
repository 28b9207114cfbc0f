//! `sync`: make this root exactly what a desired lockfile says (see
//! [`stackpack_install::sync`]), then register the packs that changed and hand them,
//! with the removed ones, to st2. The desired lockfile is read from a path, a `file://`
//! URL, an `https://` URL or an OCI lockfile artifact, `oci://…` (with its `overrides/`
//! files; [`fetch_desired`], one more scheme there adds a source).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use stackpack_install::sync::{self as core_sync, Desired, Plan};
use stackpack_install::{Env, InstallOptions, Outcome, Report};

use crate::error::OpsError;
use crate::register::RegisterReport;
use crate::session::Session;

/// The largest desired lockfile read (a lockfile is a few hundred bytes per pack).
pub const MAX_LOCKFILE_BYTES: u64 = 4 << 20;

/// Redirects followed when fetching a desired lockfile over https.
const MAX_REDIRECTS: u32 = 5;

/// What to sync to.
#[derive(Debug, Clone)]
pub struct SyncRequest {
    /// A lockfile path, a `file://` URL, an `https://` URL or an `oci://` reference to a
    /// lockfile artifact.
    pub source: String,
    /// Only compare: change nothing.
    pub check: bool,
    /// Build the packs' virtualenvs.
    pub venv: bool,
    /// Register the changed packs' content.
    pub register: bool,
    /// Hand the changed and removed packs to st2, when st2 is configured.
    pub st2: bool,
    /// Install even when stackstorm_version or python_versions do not match.
    pub force: bool,
    /// How long to wait for another stackpack working on the same root.
    pub lock_timeout: Duration,
}

impl SyncRequest {
    pub fn new(source: impl Into<String>) -> SyncRequest {
        SyncRequest {
            source: source.into(),
            check: false,
            venv: true,
            register: true,
            st2: true,
            force: false,
            lock_timeout: Duration::from_secs(300),
        }
    }
}

/// The packs a sync changed, by name.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Changed {
    /// Packs that were not installed.
    pub installed: Vec<String>,
    /// Packs installed again: another pin, or a drifted tree.
    pub replaced: Vec<String>,
    pub removed: Vec<String>,
    /// Desired packs left as they were.
    pub unchanged: Vec<String>,
}

/// How long each step took, in milliseconds.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Timings {
    pub fetch_ms: u64,
    pub apply_ms: u64,
    pub register_ms: u64,
    pub st2_ms: u64,
    pub total_ms: u64,
}

/// What a sync (or `--check`) found and did.
#[derive(Debug)]
pub struct SyncReport {
    /// The desired lockfile's source, without credentials.
    pub source: String,
    /// The sha256 of the desired lockfile's bytes.
    pub desired_sha256: String,
    /// The desired revision, `sha256:<hex>`: an OCI artifact's manifest digest, else the
    /// lockfile's digest.
    pub digest: String,
    pub check: bool,
    /// How the root compared with the desired lockfile before this run.
    pub plan: Plan,
    /// This run wrote the root (false: it was already in sync, or `--check`).
    pub applied: bool,
    pub changed: Changed,
    /// Packs that could not be installed or removed, with why.
    pub failures: Vec<(String, String)>,
    pub warnings: Vec<String>,
    /// `overrides/` was changed to the desired files (every pack registered again).
    pub overrides_changed: bool,
    /// The packs the registration covered.
    pub to_register: Vec<String>,
    pub registered: Option<RegisterReport>,
    /// The registration's failure: the packs are in place but not registered.
    pub register_error: Option<OpsError>,
    pub st2: Option<crate::st2::Handoff>,
    pub timings: Timings,
}

impl SyncReport {
    /// The root is (now, or with `--check`: already) what the desired lockfile says.
    pub fn in_sync(&self) -> bool {
        if self.check {
            self.plan.matches()
        } else {
            self.failures.is_empty() && (self.applied || self.plan.in_sync())
        }
    }

    /// Nothing was written because nothing differed.
    pub fn already_in_sync(&self) -> bool {
        !self.check && self.plan.in_sync() && self.to_register.is_empty()
    }

    pub fn json(&self) -> serde_json::Value {
        let failures: Vec<serde_json::Value> = self
            .failures
            .iter()
            .map(|(pack, reason)| serde_json::json!({"pack": pack, "reason": reason}))
            .collect();
        let mut v = serde_json::json!({
            "source": self.source,
            "desired_sha256": self.desired_sha256,
            "digest": self.digest,
            "check": self.check,
            "in_sync": self.in_sync(),
            "already_in_sync": self.already_in_sync(),
            "applied": self.applied,
            "differences": self.plan.differences,
            "override_differences": self.plan.overrides,
            "overrides_changed": self.overrides_changed,
            "lockfile_matches": self.plan.lockfile_matches,
            "changed": self.changed,
            "failures": failures,
            "warnings": self.warnings,
            "timings": self.timings,
        });
        if let Some(obj) = v.as_object_mut() {
            if let Some(reg) = &self.registered {
                obj.insert("registered".into(), reg.json());
            }
            if let Some(h) = &self.st2 {
                obj.insert("st2".into(), serde_json::to_value(h).unwrap_or_default());
            }
        }
        v
    }
}

/// Reads the desired lockfile from `source` and parses it; nothing else is touched.
pub fn fetch_desired(s: &Session, source: &str) -> Result<Desired, OpsError> {
    if stackpack_core::is_oci(source) {
        return crate::sync_oci::fetch(s, source);
    }
    let shown = stackpack_core::redact_url(source);
    let bytes = if let Some((scheme, _)) = source.split_once("://") {
        let url = url::Url::parse(source).map_err(|e| OpsError::SyncSource {
            from: shown.clone(),
            reason: format!("not a valid URL: {e}"),
        })?;
        match scheme {
            "file" => {
                let path = url.to_file_path().map_err(|()| OpsError::SyncSource {
                    from: shown.clone(),
                    reason: "not a local path".to_string(),
                })?;
                read_path(&path, &shown)?
            }
            "https" => fetch_https(s, &url, &shown)?,
            other => {
                return Err(OpsError::SyncScheme {
                    from: shown,
                    scheme: other.to_string(),
                });
            }
        }
    } else {
        read_path(&PathBuf::from(source), &shown)?
    };
    Desired::parse(&shown, bytes).map_err(|e| OpsError::Install(Box::new(e)))
}

fn read_path(path: &std::path::Path, shown: &str) -> Result<Vec<u8>, OpsError> {
    stackpack_fs::read_limited(path, MAX_LOCKFILE_BYTES).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            OpsError::SyncSourceMissing {
                from: shown.to_string(),
            }
        } else {
            OpsError::SyncSource {
                from: shown.to_string(),
                reason: e.to_string(),
            }
        }
    })
}

fn fetch_https(s: &Session, url: &url::Url, shown: &str) -> Result<Vec<u8>, OpsError> {
    let failed = |reason: String| OpsError::SyncSource {
        from: shown.to_string(),
        reason,
    };
    if s.offline {
        return Err(failed(
            "the network is off (offline mode); sync from a path instead".to_string(),
        ));
    }
    let net = s.net()?;
    let only_https = |u: &url::Url, _: Option<&url::Url>| {
        if u.scheme() == "https" {
            Ok(())
        } else {
            Err(format!(
                "a redirect to {} leaves https",
                stackpack_fetch::redact(u)
            ))
        }
    };
    let (_, reply) = stackpack_net::get_following(
        &*net,
        url,
        &[],
        MAX_LOCKFILE_BYTES,
        MAX_REDIRECTS,
        only_https,
    )
    .map_err(|e| {
        failed(match e {
            stackpack_net::GetError::Refused(r) => r,
            stackpack_net::GetError::Net(n) => n.to_string(),
            stackpack_net::GetError::Redirect(r) => r.to_string(),
        })
    })?;
    if reply.status == 404 {
        return Err(OpsError::SyncSourceMissing {
            from: shown.to_string(),
        });
    }
    if reply.status != 200 {
        return Err(failed(format!("the server answered HTTP {}", reply.status)));
    }
    Ok(reply.body)
}

/// `stackpack sync`: compare (`check`) or converge this root on the desired lockfile.
pub fn sync(s: &Session, req: &SyncRequest) -> Result<SyncReport, OpsError> {
    let started = Instant::now();
    let desired = fetch_desired(s, &req.source)?;
    let fetch_ms = millis(started.elapsed());
    let mut report = SyncReport {
        source: desired.source.clone(),
        desired_sha256: desired.sha256.clone(),
        digest: desired.digest(),
        check: req.check,
        plan: core_sync::plan(&s.root, &desired)?,
        applied: false,
        changed: Changed::default(),
        failures: Vec::new(),
        warnings: Vec::new(),
        overrides_changed: false,
        to_register: Vec::new(),
        registered: None,
        register_error: None,
        st2: None,
        timings: Timings {
            fetch_ms,
            ..Timings::default()
        },
    };
    // Without the lock, a root found in sync (and no interrupted run to finish, no
    // registration with changed overrides still owed) is reported so: nothing to write.
    let reregister_marker = s.root.path().join(core_sync::REREGISTER_FILE);
    let interrupted =
        stackpack_install::journal::path(s.root.path()).exists() || reregister_marker.exists();
    if req.check || (report.plan.in_sync() && !interrupted) {
        report.changed.unchanged = unchanged(&desired, &report.plan);
        report.timings.total_ms = millis(started.elapsed());
        return Ok(report);
    }

    let apply_start = Instant::now();
    let net = s.net()?;
    let git = s.git_cache()?;
    let env = Env {
        root: &s.root,
        search_paths: s.search_paths(),
        // A locked install asks no resolver.
        plugins: &[],
        net: &net,
        git: &git,
        venv: req.venv.then_some(&s.venv),
        progress: s.progress.as_ref(),
    };
    let opts = InstallOptions {
        force: req.force,
        offline: s.offline,
        lock_timeout: req.lock_timeout,
        python_binary: s.venv.python.clone(),
        allowed_sources: s.allowed_sources.clone(),
        tree_limits: crate::install::tree_limits(&s.settings.pack_limits),
        ..InstallOptions::default()
    };
    let synced = core_sync::sync(&env, &desired, &opts)?;
    s.packs_changed();
    report.timings.apply_ms = millis(apply_start.elapsed());
    if let Some(plan) = synced.plan.clone() {
        report.plan = plan;
    }
    report.applied = synced.applied;
    report.overrides_changed = synced.overrides_changed;
    report
        .warnings
        .extend(synced.recovered.warnings.iter().cloned());
    for r in [&synced.install, &synced.remove].into_iter().flatten() {
        collect(r, &mut report);
    }
    report.changed.unchanged = unchanged(&desired, &report.plan);

    // Register what changed (and what an interrupted run left unregistered), unregister
    // what was removed; the packs are in place whatever happens here.
    let register_start = Instant::now();
    let mut changed: Vec<String> = report.changed.installed.clone();
    changed.extend(report.changed.replaced.iter().cloned());
    // Changed overrides (now, or by a run killed before it registered) apply to every
    // pack: all are registered again, and handed to st2 again.
    let reregister_all = reregister_marker.exists();
    if reregister_all {
        for p in s.installed()?.iter() {
            if !changed.contains(&p.ref_) {
                changed.push(p.ref_.clone());
            }
        }
    }
    let mut gone = report.changed.removed.clone();
    for r in &synced.recovered.removed {
        if !gone.contains(r) {
            gone.push(r.clone());
        }
    }
    if req.register {
        let recovered = Report {
            recovered: synced.recovered.clone(),
            ..Report::default()
        };
        let (to_register, registered, error) =
            crate::install::register_after(s, &recovered, &changed);
        report.to_register = to_register;
        report.registered = registered;
        // `register_after` also unregisters every registered pack no longer on disk,
        // the packs this sync removed included.
        if error.is_none()
            && reregister_all
            && let Err(e) = std::fs::remove_file(&reregister_marker)
        {
            // The next sync then registers every pack once more: slower, not wrong.
            report.warnings.push(format!(
                "cannot remove {}: {e}; the next sync registers every pack again",
                reregister_marker.display()
            ));
        }
        report.register_error = error;
    }
    report.timings.register_ms = millis(register_start.elapsed());
    let st2_start = Instant::now();
    if req.st2 && (!changed.is_empty() || !gone.is_empty()) {
        let local = report
            .registered
            .as_ref()
            .map(|r| stackpack_registry::st2_counts(&r.packs));
        report.st2 = crate::st2::handoff_synced(s, &changed, &gone, local.as_ref());
    }
    report.timings.st2_ms = millis(st2_start.elapsed());
    report.timings.total_ms = millis(started.elapsed());
    Ok(report)
}

/// The per-pack outcomes of an install or removal, into the report.
fn collect(r: &Report, report: &mut SyncReport) {
    report.warnings.extend(r.warnings.iter().cloned());
    for res in &r.results {
        match &res.outcome {
            Outcome::Installed {
                ref_,
                unchanged: true,
                ..
            } => report.changed.unchanged.push(ref_.clone()),
            Outcome::Installed {
                ref_,
                replaced: Some(_),
                ..
            } => report.changed.replaced.push(ref_.clone()),
            Outcome::Installed { ref_, .. } => report.changed.installed.push(ref_.clone()),
            Outcome::Removed { ref_, .. } => report.changed.removed.push(ref_.clone()),
            Outcome::Failed { reason } => report
                .failures
                .push((res.requested.clone(), reason.clone())),
        }
    }
}

/// The desired packs no difference names.
fn unchanged(desired: &Desired, plan: &Plan) -> Vec<String> {
    desired
        .lockfile
        .packs
        .iter()
        .filter(|p| !plan.differences.iter().any(|d| d.pack() == p.ref_))
        .map(|p| p.ref_.clone())
        .collect()
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// What `sync --status` shows: the last desired lockfile this root applied, and
/// whether its lockfile still holds it.
#[derive(Debug, serde::Serialize)]
pub struct SyncStatus {
    /// The sha256 of the last applied desired lockfile (null: never synced).
    pub synced_sha256: Option<String>,
    /// The revision last applied, `sha256:<hex>`: the OCI manifest digest for an
    /// `oci://` source, else the lockfile's digest.
    pub synced_digest: Option<String>,
    /// When (RFC 3339, UTC).
    pub synced_at: Option<String>,
    /// Where it came from.
    pub synced_from: Option<String>,
    /// The sha256 of the root's `stackpack.lock` now (null: none).
    pub lockfile_sha256: Option<String>,
    /// The lockfile is still the one the last sync applied.
    pub lockfile_is_synced: bool,
}

pub fn status(s: &Session) -> Result<SyncStatus, OpsError> {
    let state = core_sync::read_state(s.root.path());
    let path = s.root.lockfile();
    let lockfile_sha256 = match stackpack_fs::read_limited(&path, MAX_LOCKFILE_BYTES) {
        Ok(bytes) => Some(stackpack_plugin::sha256_hex(&bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(OpsError::ReadInput {
                path,
                reason: e.to_string(),
            });
        }
    };
    Ok(SyncStatus {
        lockfile_is_synced: state.as_ref().map(|st| &st.sha256) == lockfile_sha256.as_ref(),
        synced_sha256: state.as_ref().map(|st| st.sha256.clone()),
        synced_digest: state.as_ref().map(|st| st.revision()),
        synced_at: state.as_ref().and_then(|st| st.applied_at.clone()),
        synced_from: state.map(|st| st.source),
        lockfile_sha256,
    })
}
