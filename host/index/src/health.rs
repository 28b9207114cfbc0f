//! The health report of the configured indexes; a pack listed by several indexes counts
//! once in the total.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::{FetchedIndex, IndexStatus};

/// How the configured indexes fared, highest priority first.
#[derive(Debug, Clone, Serialize)]
pub struct Health {
    pub indexes: Vec<IndexHealth>,
    /// Distinct packs over the usable indexes (what the merged index holds).
    pub total_packs: usize,
    /// Indexes with status `ok`.
    pub usable: usize,
    /// The others (malformed, unresponsive, empty, error).
    pub unusable: usize,
}

/// One index of the [`Health`] report: `{"url", "status", "message"?, "packs",
/// "cached_age_secs", "from_cache"}`.
#[derive(Debug, Clone, Serialize)]
pub struct IndexHealth {
    /// Redacted.
    pub url: String,
    #[serde(flatten)]
    pub status: IndexStatus,
    pub packs: usize,
    /// Age of the cached copy used, if one was.
    pub cached_age_secs: Option<u64>,
    pub from_cache: bool,
}

/// The health report of a fetch.
pub fn health(indexes: &[FetchedIndex]) -> Health {
    let mut distinct = BTreeSet::new();
    let mut usable = 0;
    for index in indexes.iter().filter(|i| i.status.is_ok()) {
        usable += 1;
        distinct.extend(index.packs.keys().map(String::as_str));
    }
    Health {
        indexes: indexes
            .iter()
            .map(|i| IndexHealth {
                url: i.shown_url.clone(),
                status: i.status.clone(),
                packs: i.packs.len(),
                cached_age_secs: i.age.map(|a| a.as_secs()),
                from_cache: i.from_cache,
            })
            .collect(),
        total_packs: distinct.len(),
        usable,
        unusable: indexes.len() - usable,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn json_shape() {
        let h = IndexHealth {
            url: "https://i.example".into(),
            status: IndexStatus::Unresponsive("timed out".into()),
            packs: 0,
            cached_age_secs: None,
            from_cache: false,
        };
        assert_eq!(
            serde_json::to_value(&h).unwrap(),
            json!({"url": "https://i.example", "status": "unresponsive", "message": "timed out",
                   "packs": 0, "cached_age_secs": null, "from_cache": false})
        );
        let h = IndexHealth {
            status: IndexStatus::Ok,
            packs: 2,
            ..h
        };
        let v = serde_json::to_value(&h).unwrap();
        assert_eq!(v["status"], "ok");
        assert!(v.get("message").is_none());
    }
}
