//! The merged index and its queries: search, show, suggestions.

use std::collections::BTreeMap;

use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::FetchedIndex;

/// A pack entry of the merged index.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// The key of the entry in its index (the pack's ref, for the Exchange).
    pub key: String,
    /// The display name (`name`, or the key when it has none).
    pub name: String,
    /// The entry's `ref`, or the key when it has none.
    #[serde(rename = "ref")]
    pub ref_: String,
    pub version: Option<String>,
    pub description: Option<String>,
    pub author: Option<String>,
    pub keywords: Vec<String>,
    pub repo_url: Option<String>,
    /// Every version the entry lists (yanked ones included), in semver order, newest
    /// first (an index lists them in text order); strings that are not versions last.
    pub versions: Vec<String>,
    /// The same versions with what the index says of each (ref, yanked), same order.
    pub releases: Vec<Release>,
    /// The redacted URL of the index the entry comes from.
    pub index: String,
    /// The whole entry as the index has it (`content`, `email`, unknown keys...).
    #[serde(skip)]
    pub raw: Value,
}

/// One version an index entry lists. `versions` may be a list of strings, a list of
/// `{"version", "ref", "yanked"}` objects (the two mixed), or an object keyed by
/// version whose values hold `ref` and `yanked`; without `versions`, the entry's own
/// `version` is its one release. The index resolver plugin reads the same shapes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Release {
    pub version: String,
    /// The git ref the version is at, when the index gives one.
    #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
    pub ref_: Option<String>,
    /// Withdrawn by its publisher: listed, but not to be picked.
    pub yanked: bool,
}

impl Release {
    fn from_details(version: String, details: &Value) -> Release {
        Release {
            version,
            ref_: text(details, "ref").filter(|r| !r.trim().is_empty()),
            yanked: details
                .get("yanked")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        }
    }
}

/// The releases of an index entry (see [`Release`]), newest first.
fn releases(raw: &Value) -> Vec<Release> {
    let listed: Vec<Release> = match raw.get("versions") {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|item| match item {
                Value::Object(_) => Some(Release::from_details(text(item, "version")?, item)),
                other => Some(Release::from_details(scalar(other)?, &Value::Null)),
            })
            .collect(),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(version, details)| Release::from_details(version.clone(), details))
            .collect(),
        Some(other) => scalar(other)
            .map(|v| Release::from_details(v, &Value::Null))
            .into_iter()
            .collect(),
        None => text(raw, "version")
            .map(|v| Release::from_details(v, &Value::Null))
            .into_iter()
            .collect(),
    };
    let order =
        stackpack_core::sort_versions_desc(listed.iter().map(|r| r.version.clone()).collect());
    let mut listed: Vec<Option<Release>> = listed.into_iter().map(Some).collect();
    order
        .into_iter()
        .filter_map(|v| {
            listed
                .iter_mut()
                .find(|r| r.as_ref().is_some_and(|r| r.version == v))
                .and_then(Option::take)
        })
        .collect()
}

/// The searched fields of one entry, lowercased, made once when the indexes are merged:
/// one string `name NUL ref NUL key NUL keywords NUL description NUL author`, the
/// keywords separated by SOH (both characters are blanked out of the fields), so an
/// index of a million entries costs one allocation each.
#[derive(Debug, Clone, Default)]
struct Folded(Box<str>);

const FIELD: char = '\0';
const KEYWORD: char = '\u{1}';

impl Folded {
    fn new(key: &str, fields: &Searched<'_>) -> Folded {
        let clean = |t: &str| t.to_lowercase().replace([FIELD, KEYWORD], " ");
        let name = fields
            .name
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .unwrap_or(key);
        let ref_ = fields
            .ref_
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .unwrap_or(key);
        let keywords: Vec<String> = fields.keywords.0.iter().map(|k| clean(k)).collect();
        let parts = [
            clean(name),
            clean(ref_),
            clean(key),
            keywords.join(&KEYWORD.to_string()),
            clean(fields.description.as_deref().unwrap_or("")),
            clean(fields.author.as_deref().unwrap_or("")),
        ];
        Folded(parts.join(&FIELD.to_string()).into_boxed_str())
    }

    /// How well the entry matches a lowercased, non-empty query (lower is better).
    fn rank(&self, q: &str) -> Option<u8> {
        let mut parts = self.0.split(FIELD);
        let mut next = || parts.next().unwrap_or("");
        let ids = [next(), next(), next()];
        let (keywords, description, author) = (next(), next(), next());
        if ids.contains(&q) {
            Some(0)
        } else if ids.iter().any(|id| id.starts_with(q)) {
            Some(1)
        } else if ids.iter().any(|id| id.contains(q)) {
            Some(2)
        } else if !keywords.is_empty() && keywords.split(KEYWORD).any(|k| k.contains(q)) {
            Some(3)
        } else if description.contains(q) {
            Some(4)
        } else if author.contains(q) {
            Some(5)
        } else {
            None
        }
    }

    /// The lowercased name, ref and key.
    fn ids(&self) -> [&str; 3] {
        let mut parts = self.0.split(FIELD);
        let mut next = || parts.next().unwrap_or("");
        [next(), next(), next()]
    }

    /// The entry's ref, lowercased.
    fn ref_(&self) -> &str {
        self.ids()[1]
    }
}

/// The searched fields of an entry, read from its JSON text without building the rest
/// (a `content` listing is skipped, not parsed into a tree).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Searched<'a> {
    #[serde(borrow)]
    name: Text<'a>,
    #[serde(borrow, rename = "ref")]
    ref_: Text<'a>,
    #[serde(borrow)]
    description: Text<'a>,
    #[serde(borrow)]
    author: Text<'a>,
    keywords: Texts,
}

/// A scalar field as text, as [`text`] reads it; any other value is no text.
#[derive(Debug, Default)]
struct Text<'a>(Option<std::borrow::Cow<'a, str>>);

impl Text<'_> {
    fn as_deref(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

/// Reads a scalar as text; lists, objects and null are skipped and read as none.
struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Option<std::borrow::Cow<'de, str>>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Some(v.into()))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(v.to_string().into()))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(v.into()))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(v.to_string().into()))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(v.to_string().into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(v.to_string().into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(serde_json::Number::from_f64(v).map(|n| n.to_string().into()))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TextVisitor).map(Text)
    }
}

/// A list field as texts, as [`texts`] reads it.
#[derive(Debug, Default)]
struct Texts(Vec<String>);

impl<'de> Deserialize<'de> for Texts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ListVisitor;
        impl<'de> Visitor<'de> for ListVisitor {
            type Value = Vec<String>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(Text(item)) = seq.next_element::<Text<'de>>()? {
                    out.extend(item.map(|t| t.into_owned()));
                }
                Ok(out)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Vec::new())
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(vec![v.to_string()])
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Vec::new())
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Vec::new())
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Vec::new())
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Vec::new())
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Vec::new())
            }
        }
        d.deserialize_any(ListVisitor).map(Texts)
    }
}

/// The display name: `name`, or the key when it has none.
fn display_name(key: &str, raw: &Value) -> String {
    text(raw, "name")
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| key.to_string())
}

/// The entry's `ref`, or the key when it has none.
fn ref_of(key: &str, raw: &Value) -> String {
    text(raw, "ref")
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| key.to_string())
}

impl Entry {
    /// The entry `key` of the index shown as `index`, from its parsed JSON.
    pub fn new(key: &str, raw: &Value, index: &str) -> Entry {
        let mut raw = raw.clone();
        redact_strings(&mut raw);
        let raw = &raw;
        let releases = releases(raw);
        Entry {
            key: key.to_string(),
            name: display_name(key, raw),
            ref_: ref_of(key, raw),
            version: text(raw, "version"),
            description: text(raw, "description"),
            author: text(raw, "author"),
            keywords: texts(raw, "keywords"),
            repo_url: text(raw, "repo_url"),
            versions: releases.iter().map(|r| r.version.clone()).collect(),
            releases,
            index: index.to_string(),
            raw: raw.clone(),
        }
    }
}

/// Hides the password or token of every URL in the strings of `value` (an index's
/// `repo_url` may carry one, and the entry is shown and written as JSON).
fn redact_strings(value: &mut Value) {
    match value {
        Value::String(s) if s.contains("://") => *s = stackpack_core::redact_url(s),
        Value::Array(items) => items.iter_mut().for_each(redact_strings),
        Value::Object(map) => map.values_mut().for_each(redact_strings),
        _ => {}
    }
}

/// A scalar field as text (a YAML `version: 1.0` arrives as a number).
fn text(raw: &Value, field: &str) -> Option<String> {
    scalar(raw.get(field)?)
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A list field as texts (a lone string counts as a list of one).
fn texts(raw: &Value, field: &str) -> Vec<String> {
    match raw.get(field) {
        Some(Value::Array(items)) => items.iter().filter_map(scalar).collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// All usable indexes merged into one list of entries, sorted by key. It borrows the
/// fetched documents: each entry is the key, the entry's JSON text and the index it
/// comes from, parsed only while a query looks at it, so searching an index of a
/// million entries never holds a million parsed entries (only the matches are built
/// into [`Entry`] values).
#[derive(Debug, Clone, Default)]
pub struct MergedIndex<'a> {
    slots: Vec<Slot<'a>>,
}

#[derive(Debug, Clone)]
struct Slot<'a> {
    key: &'a str,
    raw: &'a RawValue,
    index: &'a str,
    folded: Folded,
}

impl<'a> Slot<'a> {
    fn new(key: &'a str, raw: &'a RawValue, index: &'a str) -> Slot<'a> {
        let fields: Searched<'_> = serde_json::from_str(raw.get()).unwrap_or_default();
        Slot {
            key,
            raw,
            index,
            folded: Folded::new(key, &fields),
        }
    }
}

impl Slot<'_> {
    /// The entry's JSON (an object, as [`crate::FetchedIndex`] keeps only those).
    fn value(&self) -> Value {
        serde_json::from_str(self.raw.get()).unwrap_or(Value::Null)
    }

    fn entry(&self) -> Entry {
        Entry::new(self.key, &self.value(), self.index)
    }
}

/// Merge fetched indexes, highest priority first: the first index that has a key wins
/// (st2's order for its configured `index_url` list). Unusable indexes contribute nothing.
pub fn merge(indexes: &[FetchedIndex]) -> MergedIndex<'_> {
    let mut merged: BTreeMap<&str, Slot<'_>> = BTreeMap::new();
    for index in indexes.iter().filter(|i| i.status.is_ok()) {
        for (key, raw) in &index.packs {
            merged
                .entry(key.as_str())
                .or_insert_with(|| Slot::new(key, raw, &index.shown_url));
        }
    }
    MergedIndex {
        slots: merged.into_values().collect(),
    }
}

impl MergedIndex<'_> {
    /// How many packs the merged index holds.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The keys of its packs, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.slots.iter().map(|slot| slot.key)
    }

    /// Case-insensitive search over name, ref/key, keywords (substring of each keyword),
    /// description and author; `content`, `versions`, `python_versions`, `repo_url` and
    /// `email` are never searched (st2 matched dict keys, so `actions` found every pack).
    /// Best first: exact name/ref, name/ref
    /// prefix, name/ref substring, keyword, description, author; ties by key. An empty
    /// query finds nothing.
    pub fn search(&self, query: &str) -> Vec<Entry> {
        let q = query.trim().to_lowercase();
        if q.is_empty() {
            return Vec::new();
        }
        let mut hits: Vec<(u8, usize)> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, slot)| slot.folded.rank(&q).map(|r| (r, i)))
            .collect();
        // Entries are sorted by key, so their position breaks ties by key.
        hits.sort_unstable();
        hits.into_iter()
            .map(|(_, i)| self.slots[i].entry())
            .collect()
    }

    /// The pack `name` names, by the rule `install` uses too (the index resolver
    /// plugin): the entry with this exact key, else the one entry whose `ref` is exactly
    /// `name`. Two entries with that ref (under other keys) name no pack; neither does a
    /// display name, which is prose rather than an identifier. `None`: offer
    /// [`MergedIndex::suggest`], which does look at display names.
    pub fn show(&self, name: &str) -> Option<Entry> {
        let name = name.trim();
        if name.is_empty() {
            return None;
        }
        if let Some(e) = self.get(name) {
            return Some(e);
        }
        // The folded ref narrows the search; the entry's own ref decides (case counts).
        let folded = name.to_lowercase();
        let mut by_ref = self
            .slots
            .iter()
            .filter(|slot| slot.folded.ref_() == folded)
            .map(Slot::entry)
            .filter(|e| e.ref_ == name);
        match (by_ref.next(), by_ref.next()) {
            (Some(e), None) => Some(e),
            _ => None,
        }
    }

    /// Up to five keys of packs whose key, ref or name is close to `name` ("did you
    /// mean"), best first.
    pub fn suggest(&self, name: &str) -> Vec<&str> {
        let q = name.trim().to_lowercase();
        if q.is_empty() {
            return Vec::new();
        }
        let max_edits = (q.chars().count() / 3).min(2);
        let mut close: Vec<(f64, &str)> = self
            .slots
            .iter()
            .filter_map(|slot| {
                let [name, ref_, key] = slot.folded.ids();
                let mut best: Option<f64> = None;
                for candidate in [key, name, ref_] {
                    let score = strsim::jaro_winkler(&q, candidate);
                    let near = score >= 0.8 || strsim::levenshtein(&q, candidate) <= max_edits;
                    if near && best.is_none_or(|b| score > b) {
                        best = Some(score);
                    }
                }
                best.map(|score| (score, slot.key))
            })
            .collect();
        close.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
        close.into_iter().take(5).map(|(_, key)| key).collect()
    }

    /// The entry with this exact key.
    pub fn get(&self, key: &str) -> Option<Entry> {
        self.slots
            .binary_search_by(|slot| slot.key.cmp(key))
            .ok()
            .and_then(|i| self.slots.get(i))
            .map(|slot| slot.entry())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    /// A merged index of `entries` (leaked: each test builds a few small ones).
    fn index(entries: &[(&str, Value)]) -> MergedIndex<'static> {
        let mut slots: Vec<Slot<'static>> = entries
            .iter()
            .map(|(k, v)| {
                Slot::new(
                    Box::leak(k.to_string().into_boxed_str()),
                    Box::leak(serde_json::value::to_raw_value(v).unwrap()),
                    "https://i.example/index.json",
                )
            })
            .collect();
        slots.sort_by(|a, b| a.key.cmp(b.key));
        MergedIndex { slots }
    }

    fn keys(found: &[Entry]) -> Vec<&str> {
        found.iter().map(|e| e.key.as_str()).collect()
    }

    #[test]
    fn entry_fields() {
        let e = Entry::new(
            "circle_ci",
            &json!({"name": "Circle CI", "version": 1.0, "keywords": null,
                    "versions": ["1.2.0", "1.10.0", "0.9.0", "junk"]}),
            "i",
        );
        assert_eq!(e.ref_, "circle_ci");
        assert_eq!(e.name, "Circle CI");
        assert_eq!(e.version.as_deref(), Some("1.0"));
        assert!(e.keywords.is_empty());
        assert_eq!(e.versions, ["1.10.0", "1.2.0", "0.9.0", "junk"]);
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["ref"], "circle_ci");
        assert!(json.get("raw").is_none() && json.get("folded").is_none());
    }

    #[test]
    fn versions_in_every_shape_keep_yanked() {
        let list = Entry::new(
            "p",
            &json!({"version": "1.2.0", "versions": ["1.0.0", {"version": "1.2.0", "ref": "v1.2.0"},
                                                     {"version": "1.1.0", "yanked": true}, 7]}),
            "i",
        );
        assert_eq!(list.versions, ["1.2.0", "1.1.0", "1.0.0", "7"]);
        assert_eq!(
            list.releases[0],
            Release {
                version: "1.2.0".into(),
                ref_: Some("v1.2.0".into()),
                yanked: false
            }
        );
        assert!(list.releases[1].yanked && !list.releases[2].yanked);
        let map = Entry::new(
            "p",
            &json!({"versions": {"1.0.0": {"yanked": true, "ref": "abc"}, "1.10.0": {},
                                 "1.2.0": null}}),
            "i",
        );
        assert_eq!(map.versions, ["1.10.0", "1.2.0", "1.0.0"]);
        assert_eq!(
            map.releases[2],
            Release {
                version: "1.0.0".into(),
                ref_: Some("abc".into()),
                yanked: true
            }
        );
        let json = serde_json::to_value(&map).unwrap();
        assert_eq!(
            json["releases"][2],
            json!({"version": "1.0.0", "ref": "abc", "yanked": true})
        );
        // Without `versions`, the entry's own version is its one release.
        let single = Entry::new("p", &json!({"version": "0.3.0"}), "i");
        assert_eq!(single.versions, ["0.3.0"]);
    }

    #[test]
    fn show_matches_key_then_a_unique_ref() {
        let idx = index(&[
            ("circle_ci", json!({"name": "Circle CI"})),
            ("exchange_key", json!({"ref": "ms", "name": "Microsoft"})),
            ("a", json!({"ref": "dup"})),
            ("b", json!({"ref": "dup"})),
            ("c", json!({"ref": "a"})),
        ]);
        assert_eq!(idx.show("circle_ci").unwrap().key, "circle_ci");
        assert_eq!(idx.show(" ms ").unwrap().key, "exchange_key");
        // The key wins over another entry's ref.
        assert_eq!(idx.show("a").unwrap().key, "a");
        // An ambiguous ref and a display name name nothing; suggestions still help.
        assert!(idx.show("dup").is_none());
        assert!(idx.show("Circle CI").is_none());
        assert_eq!(idx.suggest("Circle CI"), ["circle_ci"]);
    }

    #[test]
    fn ranking() {
        let idx = index(&[
            ("mail", json!({"description": "x"})),
            ("gmail", json!({})),
            ("mailgun", json!({})),
            ("post", json!({"keywords": ["e-mail"]})),
            ("notes", json!({"description": "Sends MAIL"})),
            ("zz", json!({"author": "Mail Corp"})),
            ("other", json!({"email": "mail@x", "content": {"mail": 1}})),
        ]);
        assert_eq!(
            keys(&idx.search("Mail")),
            ["mail", "mailgun", "gmail", "post", "notes", "zz"]
        );
        assert!(idx.search("  ").is_empty());
    }
}
