//! The content registry: installed packs' resources (triggers, sensors, actions, rules,
//! aliases, policies) loaded into a SQLite database at `<root>/registry.db`, with the
//! operator's override policies applied.
//!
//! [`content::scan_pack`] reads and validates a pack's metadata files (a bad file is a
//! [`Problem`], the rest go on); [`policy::decide`] asks the override policies (anything
//! implementing [`OverridePolicy`]; the host wraps its wasm plugins in one), in
//! order, for verdicts on the overridable resources (the first verdict that is not
//! `keep` wins; the built-in `default` policy implements st2's `overrides/_global.yaml`
//! and `overrides/<pack>.yaml`); [`Registry::register`] replaces a pack's registration
//! in one transaction, removing resources the pack no longer has, so a failure keeps the
//! previous registration. [`Registry::registered`] reads back counts and the verdicts'
//! reasons for `get`; [`st2_counts`] sums reports into st2's `{"actions": 3,
//! "actions(overridden)": 1, ...}` shape. Schema changes are append-only migrations
//! tracked by SQLite's `user_version`.

pub mod content;
mod error;
pub mod policy;
pub mod st2_rules;
mod store;

pub use content::{
    Problem, ProblemKind, RegisterType, Resource, ResourceType, Scan, ScanOptions, Selection,
    scan_pack, scan_pack_with,
};
pub use error::RegistryError;
pub use policy::{
    OverridePolicy, PackSummary, PolicyContext, PolicyFailure, PolicyResource, ResourceKind,
    Verdict,
};
pub use st2_rules::Runners;
pub use store::{
    Decided, PackHead, PackInput, PackReport, Prepared, Registered, Registry, Removed,
    SENSOR_TRIGGERS, TypeCounts, prepare, st2_counts,
};
