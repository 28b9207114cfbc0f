//! The SQLite registry: schema, migrations, one transaction per pack. Fault points (debug
//! builds, `stackpack_fs::fault`): `register-before-transaction`, `register-in-transaction`
//! (rows written, not committed), `register-after-commit`, `unregister-before`; the detail
//! is the pack.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use rusqlite_migration::{M, Migrations};
use serde_json::Value;
use stackpack_core::pack::PackMeta;
use stackpack_fs::fault;

use crate::content::{
    Problem, ResourceType, ScanOptions, Selection, is_sensor_file, scan_pack_with,
};
use crate::error::RegistryError;
use crate::policy::{OverridePolicy, PackSummary, PolicyContext, decide};

/// Schema versions, oldest first; `PRAGMA user_version` records how many were applied.
/// Append only: a released migration is never edited.
const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE packs (
    ref           TEXT PRIMARY KEY,
    version       TEXT NOT NULL,
    path          TEXT NOT NULL,
    source        TEXT NOT NULL,
    metadata      TEXT NOT NULL,
    registered_at INTEGER NOT NULL
) STRICT;
CREATE TABLE resources (
    pack         TEXT NOT NULL REFERENCES packs(ref) ON DELETE CASCADE,
    type         TEXT NOT NULL,
    ref          TEXT NOT NULL,
    name         TEXT NOT NULL,
    file         TEXT NOT NULL,
    enabled      INTEGER,
    pack_enabled INTEGER,
    decided_by   TEXT,
    reason       TEXT,
    metadata     TEXT NOT NULL,
    PRIMARY KEY (type, ref)
) STRICT;
CREATE INDEX resources_by_pack ON resources(pack);
CREATE TABLE configs (
    pack   TEXT PRIMARY KEY REFERENCES packs(ref) ON DELETE CASCADE,
    file   TEXT NOT NULL,
    config TEXT NOT NULL
) STRICT;
"#];

fn migrations() -> Migrations<'static> {
    Migrations::new(MIGRATIONS.iter().map(|sql| M::up(sql)).collect())
}

/// What to register for one pack.
#[derive(Debug)]
pub struct PackInput<'a> {
    pub meta: &'a PackMeta,
    pub dir: &'a Path,
    /// Where the pack came from, e.g. `git:github.com/owner/repo@<commit>`.
    pub source: String,
    /// Site label handed to policies.
    pub environment: Option<String>,
    /// The override files that apply, `(label, yaml text)`, `_global.yaml` first.
    pub overrides: Vec<(String, String)>,
    /// What to read (`register --types`) and the site's extra runners.
    pub scan: ScanOptions,
}

/// A resource that was registered before and is gone from the pack now.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Removed {
    #[serde(rename = "type")]
    pub kind: ResourceType,
    #[serde(rename = "ref")]
    pub ref_: String,
}

/// The outcome of registering one pack.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PackReport {
    pub pack: String,
    /// Resources registered, per type. `trigger` counts the files of `triggers/`
    /// only, as st2 does; the trigger types sensors declare are in `sensor_triggers`.
    pub registered: BTreeMap<ResourceType, usize>,
    /// Trigger types declared by the pack's sensors (and not in `triggers/`):
    /// registered, but not in st2's `triggers` count.
    pub sensor_triggers: usize,
    /// Resources whose effective `enabled` differs from what the pack says, per type.
    pub overridden: BTreeMap<ResourceType, usize>,
    /// Resources of the previous registration that the pack no longer has.
    pub removed: Vec<Removed>,
    /// Files that could not be registered.
    pub problems: Vec<Problem>,
}

/// Counts of one type in the registry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct TypeCounts {
    pub total: usize,
    pub enabled: usize,
    pub disabled: usize,
    pub overridden: usize,
}

/// A resource whose state a policy decided.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Decided {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(rename = "ref")]
    pub ref_: String,
    pub enabled: bool,
    /// What the pack itself says.
    pub pack_enabled: bool,
    pub policy: String,
    pub reason: String,
}

/// What the registry holds for one pack, for `get`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Registered {
    pub source: String,
    pub version: String,
    /// Unix seconds.
    pub registered_at: i64,
    pub counts: BTreeMap<String, TypeCounts>,
    pub decisions: Vec<Decided>,
    pub has_config: bool,
}

/// The registered version and source of a pack ([`Registry::heads`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackHead {
    pub version: String,
    /// Where the pack came from, as registered (`git:github.com/o/r@<commit>`).
    pub source: String,
}

/// A pack read, validated and decided, ready for [`Registry::commit`]. Preparing
/// touches no database, so a run can decide every pack before writing any.
#[derive(Debug, Clone)]
pub struct Prepared {
    pack: String,
    version: String,
    dir: PathBuf,
    source: String,
    meta_json: String,
    resources: Vec<crate::content::Resource>,
    decisions: Vec<Option<crate::policy::Decision>>,
    problems: Vec<Problem>,
    selection: Selection,
}

impl Prepared {
    pub fn pack(&self) -> &str {
        &self.pack
    }
    /// The files that could not be registered.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }
    /// Each resource read, with what the policies decided for it (`None` for types
    /// policies do not see).
    pub fn decided(
        &self,
    ) -> impl Iterator<Item = (&crate::content::Resource, Option<&crate::policy::Decision>)> {
        self.resources
            .iter()
            .zip(self.decisions.iter().map(Option::as_ref))
    }
    /// Adds a problem found outside the content files (e.g. the pack's config).
    pub fn push_problem(&mut self, problem: Problem) {
        self.problems.push(problem);
    }
}

/// Reads and validates a pack's content and runs the override policies over it.
/// Invalid files become problems (and are skipped), unless `fail_on_failure`, which
/// refuses the whole pack.
pub fn prepare<P: OverridePolicy>(
    input: &PackInput<'_>,
    policies: &[P],
    fail_on_failure: bool,
) -> Result<Prepared, RegistryError> {
    let pack = input.meta.ref_.clone();
    let scan = scan_pack_with(input.dir, &pack, &input.scan);
    if fail_on_failure && !scan.problems.is_empty() {
        return Err(RegistryError::InvalidContent {
            pack,
            problems: scan.problems,
        });
    }
    let ctx = PolicyContext {
        pack: PackSummary {
            name: pack.clone(),
            version: Some(input.meta.version.clone()),
            description: Some(input.meta.description.clone()),
            metadata: vec![("author".into(), input.meta.author.clone())],
        },
        source: input.source.clone(),
        environment: input.environment.clone(),
        overrides: input.overrides.clone(),
    };
    let decisions = decide(policies, &ctx, &scan.resources)?;
    Ok(Prepared {
        pack,
        version: input.meta.version.clone(),
        dir: input.dir.to_path_buf(),
        source: input.source.clone(),
        meta_json: serde_json::to_string(input.meta).unwrap_or_else(|_| "{}".into()),
        resources: scan.resources,
        decisions,
        problems: scan.problems,
        selection: input.scan.selection.clone(),
    })
}

/// The registry database.
pub struct Registry {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Registry({})", self.path.display())
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Registry {
    /// Opens (creating and migrating as needed) the registry at `path`.
    pub fn open(path: &Path) -> Result<Registry, RegistryError> {
        let open = |source| RegistryError::Open {
            path: path.to_path_buf(),
            disk_full: crate::error::disk_full(path, &source),
            source,
        };
        let mut conn = Connection::open(path).map_err(open)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(open)?;
        // WAL: readers (`get`) never block a registration; NORMAL sync is durable across
        // a crash of this process, and commits stay atomic.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(open)?;
        // Two processes opening a new registry at the same moment both try to create
        // the schema; the second fails (the tables exist, or its snapshot is stale)
        // once the first has committed. Trying again then finds the schema up to date.
        let migrations = migrations();
        if migrations.to_latest(&mut conn).is_err() {
            migrations
                .to_latest(&mut conn)
                .map_err(|source| RegistryError::Migrate {
                    path: path.to_path_buf(),
                    source,
                })?;
        }
        Ok(Registry {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// Opens an existing registry read-only; `None` when there is none yet (reading
    /// creates nothing).
    pub fn open_existing(path: &Path) -> Result<Option<Registry>, RegistryError> {
        if !path.exists() {
            return Ok(None);
        }
        let open = |source| RegistryError::Open {
            path: path.to_path_buf(),
            disk_full: crate::error::disk_full(path, &source),
            source,
        };
        let conn =
            Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(open)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(open)?;
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(open)?;
        if version < MIGRATIONS.len() as i64 {
            return Err(RegistryError::Outdated {
                path: path.to_path_buf(),
            });
        }
        Ok(Some(Registry {
            conn,
            path: path.to_path_buf(),
        }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn sql(&self, doing: &'static str) -> impl Fn(rusqlite::Error) -> RegistryError + '_ {
        move |source| RegistryError::Sql {
            path: self.path.clone(),
            doing,
            disk_full: crate::error::disk_full(&self.path, &source),
            source,
        }
    }

    /// [`prepare`] then [`Registry::commit`].
    pub fn register<P: OverridePolicy>(
        &mut self,
        input: &PackInput<'_>,
        policies: &[P],
        fail_on_failure: bool,
    ) -> Result<PackReport, RegistryError> {
        let prepared = prepare(input, policies, fail_on_failure)?;
        self.commit(prepared)
    }

    /// Replaces a pack's registration with `prepared` in one transaction: on any error
    /// the previous registration stays as it was. Resources the pack no longer has are
    /// removed and listed in the report.
    pub fn commit(&mut self, prepared: Prepared) -> Result<PackReport, RegistryError> {
        let Prepared {
            pack,
            version,
            dir,
            source,
            meta_json,
            resources,
            decisions,
            problems,
            selection,
        } = prepared;
        let mut report = PackReport {
            pack: pack.clone(),
            problems,
            ..PackReport::default()
        };
        let path = self.path.clone();
        let sql = move |doing: &'static str| {
            let path = path.clone();
            move |source| RegistryError::Sql {
                disk_full: crate::error::disk_full(&path, &source),
                path: path.clone(),
                doing,
                source,
            }
        };
        fault::point("register-before-transaction", &pack);
        // IMMEDIATE: the write lock is taken at the start, waiting (busy_timeout) for
        // another registration. A deferred transaction that read first would fail at
        // once with "database is locked" when another process committed in between.
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(sql("starting a transaction"))?;
        // The rows this registration replaces: those of the selected kinds.
        let before: BTreeSet<(String, String)> = {
            let mut stmt = tx
                .prepare_cached("SELECT type, ref, file FROM resources WHERE pack = ?1")
                .map_err(sql("reading the previous registration"))?;
            let rows: Vec<(String, String, String)> = stmt
                .query_map([&pack], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .and_then(|rows| rows.collect())
                .map_err(sql("reading the previous registration"))?;
            rows.into_iter()
                .filter(|(t, _, file)| {
                    ResourceType::parse(t).is_none_or(|kind| selection.covers(kind, file))
                })
                .map(|(t, r, _)| (t, r))
                .collect()
        };
        tx.execute(
            "INSERT INTO packs (ref, version, path, source, metadata, registered_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(ref) DO UPDATE SET version = ?2, path = ?3, source = ?4,
                 metadata = ?5, registered_at = ?6",
            params![
                pack,
                version,
                dir.to_string_lossy(),
                source,
                meta_json,
                now()
            ],
        )
        .map_err(sql("recording the pack"))?;
        {
            let mut delete = tx
                .prepare_cached("DELETE FROM resources WHERE pack = ?1 AND type = ?2 AND ref = ?3")
                .map_err(sql("replacing the pack's resources"))?;
            for (t, r) in &before {
                delete
                    .execute(params![pack, t, r])
                    .map_err(sql("replacing the pack's resources"))?;
            }
        }
        let mut after = BTreeSet::new();
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO resources (pack, type, ref, name, file, enabled, pack_enabled,
                         decided_by, reason, metadata)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                     ON CONFLICT(type, ref) DO NOTHING",
                )
                .map_err(sql("storing resources"))?;
            for (r, d) in resources.iter().zip(&decisions) {
                let (enabled, by, reason) = match d {
                    Some(d) => (Some(d.enabled), d.by.as_deref(), d.reason.as_deref()),
                    None => (None, None, None),
                };
                // A row left in place (a kind not selected) keeps its registration.
                let stored = insert
                    .execute(params![
                        pack,
                        r.kind.as_str(),
                        r.ref_,
                        r.name,
                        r.file,
                        enabled,
                        r.enabled,
                        by,
                        reason,
                        r.metadata.to_string(),
                    ])
                    .map_err(sql("storing resources"))?;
                if stored == 0 {
                    continue;
                }
                after.insert((r.kind.as_str().to_string(), r.ref_.clone()));
                if r.kind == ResourceType::Trigger && is_sensor_file(&r.file) {
                    report.sensor_triggers += 1;
                } else {
                    *report.registered.entry(r.kind).or_default() += 1;
                }
                // Overridden = the effective value differs from the pack's own (with the
                // type's default when the file is silent; st2 assumed `enabled: true` for
                // every type, wrong for rules, whose default is disabled).
                if enabled.is_some() && enabled != r.enabled {
                    *report.overridden.entry(r.kind).or_default() += 1;
                }
            }
        }
        fault::point("register-in-transaction", &pack);
        tx.commit().map_err(sql("committing"))?;
        fault::point("register-after-commit", &pack);
        report.removed = before
            .difference(&after)
            .filter_map(|(t, r)| {
                Some(Removed {
                    kind: ResourceType::parse(t)?,
                    ref_: r.clone(),
                })
            })
            .collect();
        Ok(report)
    }

    /// Stores a pack's (already validated) config values.
    pub fn set_config(
        &mut self,
        pack: &str,
        file: &Path,
        config: &Value,
    ) -> Result<(), RegistryError> {
        self.conn
            .execute(
                "INSERT INTO configs (pack, file, config) VALUES (?1, ?2, ?3)
                 ON CONFLICT(pack) DO UPDATE SET file = ?2, config = ?3",
                params![pack, file.to_string_lossy(), config.to_string()],
            )
            .map_err(self.sql("storing a config"))?;
        Ok(())
    }

    /// Removes a pack and everything registered for it; false when it was not there.
    pub fn unregister(&mut self, pack: &str) -> Result<bool, RegistryError> {
        fault::point("unregister-before", pack);
        let n = self
            .conn
            .execute("DELETE FROM packs WHERE ref = ?1", [pack])
            .map_err(self.sql("removing a pack"))?;
        Ok(n > 0)
    }

    /// The refs of every registered pack, sorted.
    pub fn packs(&self) -> Result<Vec<String>, RegistryError> {
        let mut stmt = self
            .conn
            .prepare("SELECT ref FROM packs ORDER BY ref")
            .map_err(self.sql("listing packs"))?;
        stmt.query_map([], |r| r.get(0))
            .and_then(|rows| rows.collect())
            .map_err(self.sql("listing packs"))
    }

    /// The version and source of every registered pack, by ref, in one query.
    pub fn heads(&self) -> Result<BTreeMap<String, PackHead>, RegistryError> {
        let mut stmt = self
            .conn
            .prepare("SELECT ref, version, source FROM packs")
            .map_err(self.sql("listing packs"))?;
        stmt.query_map([], |r| {
            Ok((
                r.get(0)?,
                PackHead {
                    version: r.get(1)?,
                    source: r.get(2)?,
                },
            ))
        })
        .and_then(|rows| rows.collect())
        .map_err(self.sql("listing packs"))
    }

    /// What is registered for `pack`, if anything.
    pub fn registered(&self, pack: &str) -> Result<Option<Registered>, RegistryError> {
        let err = self.sql("reading a pack");
        let head: Option<(String, String, i64)> = self
            .conn
            .query_row(
                "SELECT source, version, registered_at FROM packs WHERE ref = ?1",
                [pack],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(&err)?;
        let Some((source, version, registered_at)) = head else {
            return Ok(None);
        };
        let mut counts: BTreeMap<String, TypeCounts> = BTreeMap::new();
        let mut decisions = Vec::new();
        let mut stmt = self
            .conn
            .prepare(
                "SELECT type, ref, enabled, pack_enabled, decided_by, reason, file FROM resources
                 WHERE pack = ?1 ORDER BY type, ref",
            )
            .map_err(&err)?;
        type Row = (
            String,
            String,
            Option<bool>,
            Option<bool>,
            Option<String>,
            Option<String>,
            String,
        );
        let rows: Vec<Row> = stmt
            .query_map([pack], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            })
            .and_then(|rows| rows.collect())
            .map_err(&err)?;
        for (kind, ref_, enabled, pack_enabled, by, reason, file) in rows {
            let plural = match ResourceType::parse(&kind) {
                Some(ResourceType::Trigger) if is_sensor_file(&file) => SENSOR_TRIGGERS.into(),
                Some(t) => t.plural().into(),
                None => kind.clone(),
            };
            let c = counts.entry(plural).or_default();
            c.total += 1;
            match enabled {
                Some(true) => c.enabled += 1,
                Some(false) => c.disabled += 1,
                None => {}
            }
            if enabled.is_some() && enabled != pack_enabled {
                c.overridden += 1;
            }
            if let (Some(enabled), Some(policy), Some(reason)) = (enabled, by, reason) {
                decisions.push(Decided {
                    kind,
                    ref_,
                    enabled,
                    pack_enabled: pack_enabled.unwrap_or(enabled),
                    policy,
                    reason,
                });
            }
        }
        let has_config = self
            .conn
            .query_row("SELECT 1 FROM configs WHERE pack = ?1", [pack], |_| Ok(()))
            .optional()
            .map_err(&err)?
            .is_some();
        Ok(Some(Registered {
            source,
            version,
            registered_at,
            counts,
            decisions,
            has_config,
        }))
    }

    /// The effective `enabled` of one resource (`None`: not registered, or a type
    /// without it).
    pub fn enabled(&self, kind: ResourceType, ref_: &str) -> Result<Option<bool>, RegistryError> {
        Ok(self
            .conn
            .query_row(
                "SELECT enabled FROM resources WHERE type = ?1 AND ref = ?2",
                params![kind.as_str(), ref_],
                |r| r.get::<_, Option<bool>>(0),
            )
            .optional()
            .map_err(self.sql("reading a resource"))?
            .flatten())
    }
}

/// The count key of the trigger types sensors declare (st2 registers them with the
/// sensors and leaves them out of `triggers`).
pub const SENSOR_TRIGGERS: &str = "sensor_triggers";

/// Sums pack reports into st2's count object: `{"actions": 3, "actions(overridden)": 1,
/// ...}`, every type present, `(overridden)` keys only when non-zero (as st2 prints them),
/// summed over all packs (st2 kept only the last pack's overridden count). `triggers`
/// counts the files of `triggers/`, as st2 does; [`SENSOR_TRIGGERS`] (not an st2 key)
/// the trigger types sensors declare.
pub fn st2_counts(reports: &[PackReport]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for t in ResourceType::ALL {
        out.insert(t.plural().to_string(), 0);
    }
    out.insert(SENSOR_TRIGGERS.to_string(), 0);
    for r in reports {
        *out.entry(SENSOR_TRIGGERS.to_string()).or_default() += r.sensor_triggers;
        for (t, n) in &r.registered {
            *out.entry(t.plural().to_string()).or_default() += n;
        }
        for (t, n) in &r.overridden {
            if *n > 0 {
                *out.entry(format!("{}(overridden)", t.plural()))
                    .or_default() += n;
            }
        }
    }
    out
}
