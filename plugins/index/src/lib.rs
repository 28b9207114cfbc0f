//! `index`: resolves bare pack names (`sensu`, `sensu=1.2.0`) through StackStorm pack
//! indexes (the `index.json` of StackStorm Exchange and compatible ones).
//!
//! Config: `index-urls`, newline-separated, highest priority first (`#` lines and blank
//! lines ignored). Each index is fetched with `http-get`; one that fails (network
//! error, non-200 answer, bad JSON) is logged as a warning and the next is tried. The
//! first index that has the name wins.
//!
//! An index is `{"metadata": ..., "packs": {"<name>": {"name", "version", "repo_url",
//! "description", "author", "keywords", ...}}}`; unknown keys are ignored. An entry
//! resolves to `git { url: repo_url, ref: any(<requested or the entry's version>) }`.
//! An entry may instead carry `archive_url` + `archive_sha256`: it then resolves to
//! that archive (tar.gz, or zip when the URL ends in `.zip`) for the entry's own
//! version; another requested version falls back to `repo_url` when there is one.
//! An optional `versions` list (strings, or objects with `version`, `ref` and `yanked`),
//! or object keyed by version (values with `ref` and `yanked`), feeds `list-versions`.
//!
//! A name is looked up as an index key first (the first index that has it wins), then
//! as the `ref` of exactly one entry; display names are not matched. `stackpack show`
//! follows the same rule, so what `show` finds `install` installs.
//!
//! The canonical identity is the repository's `host/path` (as the github and gitlab
//! resolvers give it, so the same pack found two ways dedups), never with
//! credentials or `.git`.

use plugin_common::{
    canonical_from_url, compare_versions, is_bare_name, is_sha256_hex, split_version_range,
    strip_dot_git, strip_tag_v, without_userinfo,
};
use serde_json::{Map, Value};
use stackpack_plugin_sdk::resolver::{
    ArchiveFormat, ArchiveSource, GitRef, HttpRequest, LogLevel, NetError, PackRef, PackSummary,
    PluginError, Resolution, Resolved, Resolver, ResolverInfo, VersionInfo, config_get,
    describe_net_error, git_resolution, http_get, log,
};

const NO_INDEX: &str =
    "no pack index is configured; set index_url in the config or pass --index URL";

struct Index;

fn index_urls() -> Vec<String> {
    config_get("index-urls")
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect()
}

/// The pack name a locator asks the index for, or why it is not one.
fn pack_name(reference: &PackRef) -> Result<&str, PluginError> {
    let locator = reference.locator.trim();
    if is_bare_name(locator) {
        return Ok(locator);
    }
    let Some((name, rest)) = split_version_range(locator) else {
        return Err(PluginError::NotApplicable);
    };
    let version = match reference.requested.as_deref() {
        Some(v) if !v.is_empty() => v,
        _ => rest.trim_start_matches(['<', '>', '~', '^', '!', '*', '=']),
    };
    let version = if version.is_empty() {
        "VERSION"
    } else {
        version
    };
    Err(PluginError::InvalidReference(format!(
        "version ranges are not supported (\"{}\"); pin one version as name=version, e.g. \
         {name}={version}",
        reference.raw.trim()
    )))
}

/// A found pack: the index it came from (as configured) and its entry.
struct Found {
    index: String,
    key: String,
    entry: Map<String, Value>,
}

/// Walks the configured indexes in priority order for the pack `name` names: the
/// entry under that key in the first index that has one, else the one entry (across
/// all indexes, an entry shadowed by a higher index's same key left out) whose `ref`
/// is `name`. `stackpack show` (the host's merged index) uses the same rule.
fn find(name: &str) -> Result<Found, PluginError> {
    let fetch = |url: &str| {
        let request = HttpRequest {
            url: url.into(),
            headers: vec![("accept".into(), "application/json".into())],
        };
        http_get(&request).map(|resp| (resp.status, resp.body))
    };
    let warn = |msg: &str| log(LogLevel::Warn, msg);
    find_in(name, &index_urls(), fetch, warn)
}

/// [`find`] with the I/O passed in: `fetch` answers (status, body) for a URL.
fn find_in(
    name: &str,
    urls: &[String],
    mut fetch: impl FnMut(&str) -> Result<(u16, Vec<u8>), NetError>,
    mut warn: impl FnMut(&str),
) -> Result<Found, PluginError> {
    if urls.is_empty() {
        return Err(PluginError::Unavailable(NO_INDEX.into()));
    }
    let mut failures = Vec::new();
    let mut all_denied = true;
    let mut read_any = false;
    // Hashes of the keys seen in higher-priority indexes (sorted), and the entries whose
    // ref is `name`. Hashes, not the keys: an index may have a million of them.
    let mut seen: Vec<u64> = Vec::new();
    let mut by_ref: Vec<Found> = Vec::new();
    for url in urls {
        let shown = without_userinfo(url);
        let failure = match fetch(url) {
            Err(e) => {
                all_denied &= matches!(e, NetError::Denied(_));
                describe_net_error(&e)
            }
            Ok((status, _)) if status != 200 => {
                all_denied = false;
                format!("HTTP {status}")
            }
            Ok((_, body)) => {
                all_denied = false;
                match scan(&body, name, &seen) {
                    Err(e) => format!("not valid JSON: {e}"),
                    Ok(None) => "no \"packs\" object".into(),
                    Ok(Some(found)) => {
                        read_any = true;
                        match found.keyed {
                            Some(Value::Object(entry)) => {
                                return Ok(Found {
                                    index: shown,
                                    key: name.to_string(),
                                    entry,
                                });
                            }
                            Some(_) => format!("the \"{name}\" entry is not an object"),
                            None => {
                                by_ref.extend(found.by_ref.into_iter().map(|(key, entry)| Found {
                                    index: shown.clone(),
                                    key,
                                    entry,
                                }));
                                seen.extend(found.keys);
                                seen.sort_unstable();
                                seen.dedup();
                                continue;
                            }
                        }
                    }
                }
            }
        };
        warn(&format!(
            "pack index {shown} skipped: {failure}; trying the next one"
        ));
        failures.push(format!("{shown}: {failure}"));
    }
    if by_ref.len() > 1 {
        let keys: Vec<&str> = by_ref.iter().map(|f| f.key.as_str()).collect();
        return Err(PluginError::NotFound(format!(
            "\"{name}\" is the ref of several index entries ({}); install one by its \
             index name",
            keys.join(", ")
        )));
    }
    if let Some(found) = by_ref.pop() {
        return Ok(found);
    }
    if read_any && failures.is_empty() {
        Err(PluginError::NotFound(format!(
            "No record of the \"{name}\" pack in the index."
        )))
    } else if read_any {
        // It may be in an index that could not be read: say which, and why.
        Err(PluginError::NotFound(format!(
            "No record of the \"{name}\" pack in the indexes that could be read; not read: {}",
            failures.join("; ")
        )))
    } else if all_denied {
        Err(PluginError::Denied(format!(
            "no pack index could be read: {}",
            failures.join("; ")
        )))
    } else {
        Err(PluginError::Unavailable(format!(
            "no pack index could be read: {}",
            failures.join("; ")
        )))
    }
}

/// What one index document holds for a name.
struct Scanned {
    /// The entry under the name's key, when there is one.
    keyed: Option<Value>,
    /// The entries (key, entry) whose `ref` is the name and whose key no
    /// higher-priority index has.
    by_ref: Vec<(String, Map<String, Value>)>,
    /// The hashes of every key of this index.
    keys: Vec<u64>,
}

fn key_hash(key: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    h.finish()
}

/// The visitor methods for a JSON value that is not an object: it is skipped and read as
/// "no packs here".
macro_rules! not_an_object {
    () => {
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(None)
        }
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    };
}

/// Reads an index document entry by entry, keeping only what [`find_in`] needs for
/// `name`, so an index of a million entries costs its bytes and one entry at a time,
/// never a tree of all of them. `Ok(None)` when the document has no `packs` object.
fn scan(body: &[u8], name: &str, seen: &[u64]) -> Result<Option<Scanned>, serde_json::Error> {
    use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
    use std::fmt;

    struct Doc<'a> {
        name: &'a str,
        seen: &'a [u64],
    }
    struct Packs<'a> {
        name: &'a str,
        seen: &'a [u64],
    }

    impl<'de> DeserializeSeed<'de> for Doc<'_> {
        type Value = Option<Scanned>;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
    }
    impl<'de> Visitor<'de> for Doc<'_> {
        type Value = Option<Scanned>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an index object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = None;
            while let Some(key) = map.next_key::<String>()? {
                if key == "packs" {
                    out = map.next_value_seed(Packs {
                        name: self.name,
                        seen: self.seen,
                    })?;
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(out)
        }
        // Any other JSON value is a document without a packs object.
        not_an_object!();
    }

    impl<'de> DeserializeSeed<'de> for Packs<'_> {
        type Value = Option<Scanned>;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
    }
    impl<'de> Visitor<'de> for Packs<'_> {
        type Value = Option<Scanned>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object of pack entries")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Scanned {
                keyed: None,
                by_ref: Vec::new(),
                keys: Vec::new(),
            };
            while let Some(key) = map.next_key::<String>()? {
                let entry: Value = map.next_value()?;
                let hash = key_hash(&key);
                out.keys.push(hash);
                if key == self.name {
                    out.keyed = Some(entry);
                } else if let Value::Object(entry) = entry
                    && text(&entry, "ref").as_deref() == Some(self.name)
                    && self.seen.binary_search(&hash).is_err()
                {
                    out.by_ref.push((key, entry));
                }
            }
            Ok(Some(out))
        }
        not_an_object!();
    }

    let mut de = serde_json::Deserializer::from_slice(body);
    let out = Doc { name, seen }.deserialize(&mut de)?;
    de.end()?;
    Ok(out)
}

/// A string field; numbers are accepted too (`"version": 1.0` happens).
fn text(entry: &Map<String, Value>, key: &str) -> Option<String> {
    match entry.get(key)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn summary(found: &Found) -> PackSummary {
    let entry = &found.entry;
    let mut metadata = Vec::new();
    if let Some(author) = text(entry, "author") {
        metadata.push(("author".into(), author));
    }
    let keywords: Vec<&str> = entry
        .get("keywords")
        .and_then(Value::as_array)
        .map(|k| k.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !keywords.is_empty() {
        metadata.push(("keywords".into(), keywords.join(",")));
    }
    metadata.push(("index".into(), found.index.clone()));
    PackSummary {
        name: text(entry, "name").unwrap_or_else(|| found.key.clone()),
        version: text(entry, "version"),
        description: text(entry, "description"),
        metadata,
    }
}

fn canonical_of(url: &str) -> String {
    canonical_from_url(url).unwrap_or_else(|| strip_dot_git(&without_userinfo(url)).to_string())
}

fn archive(found: &Found, url: String) -> Result<Resolution, PluginError> {
    let digest = text(&found.entry, "archive_sha256")
        .map(|d| d.strip_prefix("sha256:").unwrap_or(&d).to_ascii_lowercase())
        .filter(|d| is_sha256_hex(d))
        .ok_or_else(|| {
            PluginError::Other(format!(
                "index {}: the \"{}\" entry has an archive_url but no valid archive_sha256 \
                 (64 hex digits); fix the index",
                found.index, found.key
            ))
        })?;
    let path = url.split(['?', '#']).next().unwrap_or_default();
    let format = if path.to_ascii_lowercase().ends_with(".zip") {
        ArchiveFormat::Zip
    } else {
        ArchiveFormat::TarGz
    };
    Ok(Resolution::Archive(ArchiveSource {
        url,
        digest: format!("sha256:{digest}"),
        format,
        strip_prefix: None,
    }))
}

impl Resolver for Index {
    fn describe() -> ResolverInfo {
        let requested_hosts = index_urls()
            .iter()
            .filter_map(|u| {
                let p = plugin_common::parse_url(u)?;
                Some(if p.scheme_is("file") {
                    u.clone()
                } else {
                    let host = p.host.to_ascii_lowercase();
                    let scheme = p.scheme.to_ascii_lowercase();
                    match p.port {
                        Some(port) => format!("{scheme}://{host}:{port}"),
                        None => format!("{scheme}://{host}"),
                    }
                })
            })
            .collect();
        ResolverInfo {
            name: "index".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description:
                "Bare pack names looked up in StackStorm pack indexes (name, name=version)".into(),
            handles: vec!["name".into(), "name=version".into()],
            requested_hosts,
        }
    }

    fn resolve(reference: PackRef) -> Result<Resolved, PluginError> {
        let name = pack_name(&reference)?;
        let requested = match reference.requested.as_deref() {
            Some("") => {
                return Err(PluginError::InvalidReference(format!(
                    "\"{name}=\" has nothing after '='; give a version or drop the '='"
                )));
            }
            r => r,
        };
        let found = find(name)?;
        resolve_found(name, requested, &found)
    }

    fn list_versions(reference: PackRef) -> Result<Vec<VersionInfo>, PluginError> {
        let name = pack_name(&reference)?;
        Ok(versions_of(&find(name)?))
    }
}

/// The resolution of a found entry (see the module docs).
fn resolve_found(
    name: &str,
    requested: Option<&str>,
    found: &Found,
) -> Result<Resolved, PluginError> {
    let version = text(&found.entry, "version");
    let repo_url = text(&found.entry, "repo_url");
    let archive_url = text(&found.entry, "archive_url");
    let same_version = |want: &str| {
        version
            .as_deref()
            .is_some_and(|have| strip_tag_v(have) == strip_tag_v(want))
    };
    let resolution = match (archive_url, &repo_url, requested) {
        (Some(url), _, None) => archive(found, url)?,
        (Some(url), _, Some(want)) if same_version(want) => archive(found, url)?,
        (Some(_), None, Some(want)) => {
            return Err(PluginError::NotFound(format!(
                "the index offers \"{name}\" only as an archive of version {}, not {want}",
                version.as_deref().unwrap_or("(none)")
            )));
        }
        (_, Some(url), _) => git_resolution(
            url.clone(),
            match requested.map(String::from).or_else(|| version.clone()) {
                Some(v) => GitRef::Any(v),
                None => GitRef::DefaultBranch,
            },
        ),
        (None, None, _) => {
            return Err(PluginError::Other(format!(
                "index {}: the \"{name}\" entry has neither repo_url nor archive_url; \
                     fix the index",
                found.index
            )));
        }
    };
    let canonical = match (&repo_url, &resolution) {
        (Some(url), _) => canonical_of(url),
        (None, Resolution::Archive(a)) => canonical_of(&a.url),
        (None, _) => format!("index/{name}"),
    };
    Ok(Resolved {
        resolution,
        canonical,
        summary: Some(summary(found)),
    })
}

/// The entry's `versions` list (strings or `{version, ref, yanked}` objects), else its
/// single `version`; newest first.
fn versions_of(found: &Found) -> Vec<VersionInfo> {
    let mut versions: Vec<VersionInfo> = match found.entry.get("versions") {
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(|item| match item {
                Value::String(v) => Some(VersionInfo {
                    version: v.clone(),
                    ref_: None,
                    yanked: false,
                }),
                Value::Object(o) => Some(VersionInfo {
                    version: text(o, "version")?,
                    ref_: text(o, "ref"),
                    yanked: o.get("yanked").and_then(Value::as_bool).unwrap_or(false),
                }),
                _ => None,
            })
            .collect(),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(version, details)| VersionInfo {
                version: version.clone(),
                ref_: details.as_object().and_then(|d| text(d, "ref")),
                yanked: details
                    .get("yanked")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            })
            .collect(),
        _ => text(&found.entry, "version")
            .map(|version| VersionInfo {
                version,
                ref_: None,
                yanked: false,
            })
            .into_iter()
            .collect(),
    };
    versions.sort_by(|a, b| compare_versions(&b.version, &a.version));
    versions
}

stackpack_plugin_sdk::export_resolver!(Index);

#[cfg(test)]
mod tests {
    use super::*;

    const EXCHANGE: &str = r#"{
        "metadata": {"generated_ts": 1},
        "packs": {
            "sensu": {"name": "sensu", "version": "1.2.0", "author": "StackStorm",
                      "repo_url": "https://github.com/StackStorm-Exchange/stackstorm-sensu",
                      "description": "Sensu integration", "keywords": ["sensu", "monitoring"],
                      "email": "x@y", "content": {"actions": {"count": 3}},
                      "versions": ["1.0.0", {"version": "1.2.0"}, {"version": "1.1.0", "yanked": true}]},
            "tarball": {"name": "tarball", "version": "2.0.0",
                        "archive_url": "https://packs.example/tarball-2.0.0.zip",
                        "archive_sha256": "sha256:ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789"}
        }
    }"#;
    const PRIVATE: &str = r#"{"packs": {"sensu": {"name": "sensu", "version": "9.9.9",
        "repo_url": "https://u:secret@git.corp/packs/sensu.git"}}}"#;

    /// Entries whose key is not their ref, as in indexes that key packs by repository.
    const BY_REPO: &str = r#"{"packs": {
        "stackstorm-kafka": {"ref": "kafka", "name": "Apache Kafka", "version": "1.0.0",
                             "repo_url": "https://github.com/org/stackstorm-kafka",
                             "versions": {"1.0.0": {"ref": "v1.0.0"}, "0.9.0": {"yanked": true},
                                          "0.10.0": null}},
        "dup-a": {"ref": "dup", "repo_url": "https://git.example/a"},
        "dup-b": {"ref": "dup", "repo_url": "https://git.example/b"},
        "sensu-fork": {"ref": "sensu", "repo_url": "https://git.example/sensu-fork"}
    }}"#;

    fn urls(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    /// `find_in` over canned answers keyed by URL; returns the result and the warnings.
    fn lookup(name: &str, list: &[&str]) -> (Result<Found, PluginError>, Vec<String>) {
        let mut warnings = Vec::new();
        let fetch = |url: &str| match url {
            "https://down.example/index.json" => Err(NetError::Timeout),
            "https://denied.example/index.json" => Err(NetError::Denied("not granted".into())),
            "https://404.example/index.json" => Ok((404, Vec::new())),
            "https://junk.example/index.json" => Ok((200, b"<html>".to_vec())),
            "https://u:secret@private.example/index.json" => Ok((200, PRIVATE.into())),
            "https://by-repo.example/index.json" => Ok((200, BY_REPO.into())),
            _ => Ok((200, EXCHANGE.into())),
        };
        let r = find_in(name, &urls(list), fetch, |w: &str| {
            warnings.push(w.to_string())
        });
        (r, warnings)
    }

    fn resolved(name: &str, requested: Option<&str>, list: &[&str]) -> Resolved {
        let (found, _) = lookup(name, list);
        resolve_found(name, requested, &found.unwrap()).unwrap()
    }

    #[test]
    fn falls_through_broken_indexes_and_first_wins() {
        let list = [
            "https://down.example/index.json",
            "https://404.example/index.json",
            "https://junk.example/index.json",
            "https://u:secret@private.example/index.json",
            "https://index.example/index.json",
        ];
        let (found, warnings) = lookup("sensu", &list);
        let found = found.unwrap();
        assert_eq!(found.index, "https://private.example/index.json");
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert!(warnings[0].contains("https://down.example/index.json"));
        assert!(warnings[1].contains("HTTP 404"));
        assert!(warnings[2].contains("not valid JSON"));
        let r = resolve_found("sensu", None, &found).unwrap();
        assert_eq!(r.canonical, "git.corp/packs/sensu");
        match r.resolution {
            Resolution::Git(g) => {
                assert_eq!(g.url, "https://u:secret@git.corp/packs/sensu.git");
                assert!(matches!(g.ref_, GitRef::Any(v) if v == "9.9.9"));
            }
            other => panic!("{other:?}"),
        }
        let (tarball, _) = lookup("tarball", &list);
        assert_eq!(tarball.unwrap().index, "https://index.example/index.json");
    }

    #[test]
    fn git_entry_and_summary() {
        let r = resolved(
            "sensu",
            Some("1.0.0"),
            &["https://index.example/index.json"],
        );
        assert_eq!(
            r.canonical,
            "github.com/StackStorm-Exchange/stackstorm-sensu"
        );
        match &r.resolution {
            Resolution::Git(g) => {
                assert_eq!(
                    g.url,
                    "https://github.com/StackStorm-Exchange/stackstorm-sensu"
                );
                assert!(matches!(&g.ref_, GitRef::Any(v) if v == "1.0.0"));
            }
            other => panic!("{other:?}"),
        }
        let s = r.summary.unwrap();
        assert_eq!(s.name, "sensu");
        assert_eq!(s.version.as_deref(), Some("1.2.0"));
        assert_eq!(s.description.as_deref(), Some("Sensu integration"));
        assert_eq!(
            s.metadata,
            [
                ("author".to_string(), "StackStorm".to_string()),
                ("keywords".into(), "sensu,monitoring".into()),
                ("index".into(), "https://index.example/index.json".into()),
            ]
        );
    }

    #[test]
    fn archive_entry() {
        let list = ["https://index.example/index.json"];
        for requested in [None, Some("2.0.0"), Some("v2.0.0")] {
            let r = resolved("tarball", requested, &list);
            match r.resolution {
                Resolution::Archive(a) => {
                    assert_eq!(a.url, "https://packs.example/tarball-2.0.0.zip");
                    assert_eq!(
                        a.digest,
                        "sha256:abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"
                    );
                    assert!(matches!(a.format, ArchiveFormat::Zip));
                    assert!(a.strip_prefix.is_none());
                }
                other => panic!("{other:?}"),
            }
        }
        let (found, _) = lookup("tarball", &list);
        let err = resolve_found("tarball", Some("1.0.0"), &found.unwrap());
        assert!(matches!(err, Err(PluginError::NotFound(_))));
    }

    #[test]
    fn not_found_unavailable_denied() {
        let (r, _) = lookup("nope", &["https://index.example/index.json"]);
        assert!(
            matches!(r, Err(PluginError::NotFound(m)) if m == "No record of the \"nope\" pack in the index.")
        );
        let (r, _) = lookup("sensu", &[]);
        assert!(matches!(r, Err(PluginError::Unavailable(m)) if m == NO_INDEX));
        let (r, _) = lookup("sensu", &["https://down.example/index.json"]);
        assert!(matches!(r, Err(PluginError::Unavailable(_))));
        let (r, _) = lookup("sensu", &["https://denied.example/index.json"]);
        assert!(matches!(r, Err(PluginError::Denied(_))));
    }

    #[test]
    fn versions_newest_first() {
        let (found, _) = lookup("sensu", &["https://index.example/index.json"]);
        let v = versions_of(&found.unwrap());
        let got: Vec<(&str, bool)> = v.iter().map(|v| (v.version.as_str(), v.yanked)).collect();
        assert_eq!(got, [("1.2.0", false), ("1.1.0", true), ("1.0.0", false)]);
        let (found, _) = lookup("tarball", &["https://index.example/index.json"]);
        let v = versions_of(&found.unwrap());
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].version, "2.0.0");
    }

    fn pack_ref(raw: &str) -> PackRef {
        let (locator, requested) = match raw.rsplit_once('=') {
            Some((l, r)) => (l.to_string(), Some(r.to_string())),
            None => (raw.to_string(), None),
        };
        PackRef {
            raw: raw.into(),
            locator,
            requested,
        }
    }

    #[test]
    fn names_and_ranges() {
        assert_eq!(pack_name(&pack_ref("sensu=1.0")).ok(), Some("sensu"));
        assert!(matches!(
            pack_name(&pack_ref("owner/repo")),
            Err(PluginError::NotApplicable)
        ));
        assert!(matches!(
            pack_name(&pack_ref("git@github.com:o/r")),
            Err(PluginError::NotApplicable)
        ));
        for (raw, hint) in [
            ("some_pack>=1.1.1", "some_pack=1.1.1"),
            ("some_pack>1.0", "some_pack=1.0"),
            ("some_pack<=2", "some_pack=2"),
        ] {
            match pack_name(&pack_ref(raw)) {
                Err(PluginError::InvalidReference(m)) => {
                    assert!(m.contains("version ranges are not supported"), "{m}");
                    assert!(m.contains(hint), "{m}");
                }
                other => panic!("{raw}: {other:?}"),
            }
        }
    }

    #[test]
    fn key_first_then_a_unique_ref_never_the_display_name() {
        let by_repo = "https://by-repo.example/index.json";
        let exchange = "https://index.example/index.json";
        let (found, _) = lookup("kafka", &[by_repo, exchange]);
        let found = found.unwrap();
        assert_eq!(found.key, "stackstorm-kafka");
        let r = resolve_found("kafka", None, &found).unwrap();
        assert_eq!(r.canonical, "github.com/org/stackstorm-kafka");
        // A key in a lower index wins over a ref in a higher one (as the merged index
        // that `show` reads does).
        let (found, _) = lookup("sensu", &[by_repo, exchange]);
        assert_eq!(found.unwrap().index, exchange);
        // Two entries with that ref: neither is picked, and both keys are named.
        let (found, _) = lookup("dup", &[by_repo]);
        let Err(PluginError::NotFound(e)) = found else {
            panic!("expected not found")
        };
        assert!(e.contains("dup-a, dup-b"), "{e}");
        // Display names are not identifiers.
        let (found, _) = lookup("Apache Kafka", &[by_repo]);
        assert!(matches!(found, Err(PluginError::NotFound(_))));
    }

    #[test]
    fn versions_keyed_by_version_keep_yanked() {
        let (found, _) = lookup("kafka", &["https://by-repo.example/index.json"]);
        let v = versions_of(&found.unwrap());
        let got: Vec<(&str, Option<&str>, bool)> = v
            .iter()
            .map(|v| (v.version.as_str(), v.ref_.as_deref(), v.yanked))
            .collect();
        assert_eq!(
            got,
            [
                ("1.0.0", Some("v1.0.0"), false),
                ("0.10.0", None, false),
                ("0.9.0", None, true)
            ]
        );
    }
}
