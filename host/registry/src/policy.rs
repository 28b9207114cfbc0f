//! Running the override-policy chain over a pack's resources: every policy is asked,
//! in order, for one verdict per overridable resource; the first verdict that is not
//! `keep` decides, and its reason is kept for the registry.
//!
//! A policy is anything that implements [`OverridePolicy`]: the host wraps its wasm
//! plugins in one, and the registry never sees the plugin runtime.

use serde_json::Value;

use crate::content::{Resource, ResourceType};
use crate::error::RegistryError;

/// The kinds of resource a policy decides on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    Action,
    Alias,
    Rule,
    Sensor,
}

/// The pack a policy decides for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackSummary {
    pub name: String,
    pub version: Option<String>,
    pub description: Option<String>,
    pub metadata: Vec<(String, String)>,
}

/// What a policy is told about the pack: its summary, where it came from
/// (`git:github.com/o/r@<commit>`, `unmanaged:<path>`), the site's environment label,
/// and the text of the override files that apply (`(label, yaml)`, `_global.yaml` first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyContext {
    pub pack: PackSummary,
    pub source: String,
    pub environment: Option<String>,
    pub overrides: Vec<(String, String)>,
}

/// One overridable resource as a policy sees it; `enabled` is the pack's own value
/// (or its type's default), `metadata` selected fields as strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyResource {
    pub kind: ResourceKind,
    pub ref_: String,
    pub name: String,
    pub enabled: bool,
    pub file: String,
    pub metadata: Vec<(String, String)>,
}

/// A policy's answer for one resource: abstain, or enable / disable with a reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Keep,
    Enable(String),
    Disable(String),
}

/// Why a policy could not answer at all (it trapped, ran out of time...).
pub type PolicyFailure = Box<dyn std::error::Error + Send + Sync>;

/// An override policy: one answer per pack, index-aligned with the resources.
pub trait OverridePolicy {
    fn name(&self) -> &str;
    /// `Ok(Ok(verdicts))`, or `Ok(Err(message))` when the policy refuses the pack
    /// (a broken override file: the message says what to fix), or `Err` when the
    /// policy itself failed.
    fn decide(
        &self,
        ctx: &PolicyContext,
        resources: &[PolicyResource],
    ) -> Result<Result<Vec<Verdict>, String>, PolicyFailure>;
}

/// What the policies decided for one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The effective value.
    pub enabled: bool,
    /// The policy whose verdict decided it, when one did.
    pub by: Option<String>,
    pub reason: Option<String>,
}

fn kind(t: ResourceType) -> Option<ResourceKind> {
    match t {
        ResourceType::Action => Some(ResourceKind::Action),
        ResourceType::Alias => Some(ResourceKind::Alias),
        ResourceType::Rule => Some(ResourceKind::Rule),
        ResourceType::Sensor => Some(ResourceKind::Sensor),
        ResourceType::Trigger | ResourceType::Policy => None,
    }
}

/// Fields a policy may want to look at, as strings (dotted paths for nested ones).
const METADATA_FIELDS: &[&str] = &[
    "description",
    "runner_type",
    "entry_point",
    "poll_interval",
    "trigger.type",
    "action.ref",
    "action_ref",
    "tags",
];

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn metadata(doc: &Value) -> Vec<(String, String)> {
    METADATA_FIELDS
        .iter()
        .filter_map(|path| {
            let v = path.split('.').try_fold(doc, |v, k| v.get(k))?;
            Some((path.to_string(), scalar(v)?))
        })
        .collect()
}

/// The policy's view of a resource.
pub fn pack_resource(r: &Resource) -> Option<PolicyResource> {
    Some(PolicyResource {
        kind: kind(r.kind)?,
        ref_: r.ref_.clone(),
        name: r.name.clone(),
        enabled: r.enabled.unwrap_or(r.kind.default_enabled()),
        file: r.file.clone(),
        metadata: metadata(&r.metadata),
    })
}

/// One decision per resource (`None` for types policies do not see), from `policies`
/// in order.
pub fn decide<P: OverridePolicy>(
    policies: &[P],
    ctx: &PolicyContext,
    resources: &[Resource],
) -> Result<Vec<Option<Decision>>, RegistryError> {
    let mut index = Vec::new();
    let mut asked = Vec::new();
    for (i, r) in resources.iter().enumerate() {
        if let Some(pr) = pack_resource(r) {
            index.push(i);
            asked.push(pr);
        }
    }
    let mut out: Vec<Option<Decision>> = resources
        .iter()
        .map(|r| {
            r.enabled.map(|enabled| Decision {
                enabled,
                by: None,
                reason: None,
            })
        })
        .collect();
    let mut decided = vec![false; asked.len()];
    if asked.is_empty() {
        return Ok(out);
    }
    for policy in policies {
        // Every policy is asked even when earlier ones decided everything, so a broken
        // override file is reported whatever the order.
        let verdicts = policy
            .decide(ctx, &asked)
            .map_err(|source| RegistryError::Policy {
                pack: ctx.pack.name.clone(),
                source,
            })?
            .map_err(|message| RegistryError::PolicyRefused {
                policy: policy.name().to_string(),
                pack: ctx.pack.name.clone(),
                message,
            })?;
        for (j, verdict) in verdicts.into_iter().enumerate() {
            if decided[j] {
                continue;
            }
            let (enabled, reason) = match verdict {
                Verdict::Keep => continue,
                Verdict::Enable(reason) => (true, reason),
                Verdict::Disable(reason) => (false, reason),
            };
            decided[j] = true;
            out[index[j]] = Some(Decision {
                enabled,
                by: Some(policy.name().to_string()),
                reason: Some(reason),
            });
        }
    }
    Ok(out)
}
