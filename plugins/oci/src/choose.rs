//! The decisions of the OCI resolver, free of host calls so they run in native tests:
//! reading an `oci://` locator, choosing a tag, and checking that a manifest is a pack.

use std::fmt;

use stackpack_plugin_sdk::resolver::OciManifest;

use crate::range::{VersionRange, tag_version};

/// The artifact type of a pack's manifest.
pub const PACK_ARTIFACT_TYPE: &str = "application/vnd.stackstorm.pack.v1";
/// The config media type of a pack (its artifact type when the manifest has none).
pub const PACK_CONFIG_TYPE: &str = "application/vnd.stackstorm.pack.config.v1+json";
/// The media type of the one layer holding the pack's tree.
pub const PACK_LAYER_TYPE: &str = "application/vnd.stackstorm.pack.layer.v1.tar+gzip";

/// The tag chosen when a repository has no semver tag and none is asked for.
pub const LATEST: &str = "latest";

/// `oci://HOST[:PORT]/REPO[:TAG][@sha256:HEX]` taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locator {
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    /// `sha256:<64 lower-case hex>`.
    pub digest: Option<String>,
}

impl Locator {
    /// `Ok(None)` when `text` is not an `oci://` reference; an error names what is wrong.
    pub fn parse(text: &str) -> Result<Option<Locator>, String> {
        let text = text.trim();
        let Some(rest) = text
            .get(..6)
            .filter(|s| s.eq_ignore_ascii_case("oci://"))
            .map(|_| &text[6..])
        else {
            return Ok(None);
        };
        let expected = "expected oci://host[:port]/repository[:tag] or …/repository@sha256:<hex>";
        let (registry, path) = rest
            .split_once('/')
            .ok_or_else(|| format!("{text} names no repository; {expected}"))?;
        if registry.is_empty() {
            return Err(format!("{text} names no registry host; {expected}"));
        }
        if registry.contains('@') {
            return Err(format!(
                "oci://…@{} holds credentials; give them as a [[credentials]] entry with url = \"oci://{}/\" instead",
                registry.rsplit('@').next().unwrap_or_default(),
                registry.rsplit('@').next().unwrap_or_default()
            ));
        }
        let (name, digest) = match path.split_once('@') {
            Some((name, digest)) => {
                let hex = digest.strip_prefix("sha256:").unwrap_or("");
                if hex.len() != 64
                    || !hex
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                {
                    return Err(format!(
                        "`@{digest}` in {text} is not a digest; write @sha256:<64 lower-case hex digits>"
                    ));
                }
                (name, Some(digest.to_string()))
            }
            None => (path, None),
        };
        let (repository, tag) = match name.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') => (repo, Some(tag.to_string())),
            _ => (name, None),
        };
        if let Some(tag) = &tag
            && !valid_tag(tag)
        {
            return Err(format!(
                "`{tag}` in {text} is not a tag (letters, digits, '_', '.', '-', at most 128, not starting with '.' or '-')"
            ));
        }
        if !valid_repository(repository) {
            return Err(format!(
                "`{repository}` in {text} is not a repository name (lower-case letters, digits and \
                 '.', '_', '-' inside '/'-separated parts)"
            ));
        }
        Ok(Some(Locator {
            registry: registry.to_ascii_lowercase(),
            repository: repository.to_string(),
            tag,
            digest,
        }))
    }

    /// `oci://HOST[:PORT]/REPO`, without tag or digest.
    pub fn repository_ref(&self) -> String {
        format!("oci://{}/{}", self.registry, self.repository)
    }

    /// `HOST[:PORT]/REPO`: the identity the lockfile records.
    pub fn canonical(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
}

impl fmt::Display for Locator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.repository_ref())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

fn valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 128
        && !tag.starts_with(['.', '-'])
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn valid_repository(repo: &str) -> bool {
    !repo.is_empty()
        && repo.split('/').all(|part| {
            !part.is_empty()
                && part.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                && part.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                && part.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
                })
        })
}

/// Which tag to install from `tags`:
/// - `requested` given: the tag of that name, else `v` + it, else the highest semver tag
///   in it read as a version range (`1.2`, `>=1.0,<2`, `^1.1`);
/// - none: the highest semver tag that is not a pre-release, else `latest`.
///
/// The error says what was looked for and lists the semver tags there are.
pub fn choose_tag(tags: &[String], requested: Option<&str>) -> Result<String, String> {
    let has = |t: &str| tags.iter().any(|x| x == t);
    let known = || {
        let versions: Vec<String> = semver_versions(tags).into_iter().map(|(_, t)| t).collect();
        if versions.is_empty() {
            format!("it has no semver tags (tags: {})", listed(tags))
        } else {
            format!("its semver tags are {}", versions.join(", "))
        }
    };
    match requested {
        Some(want) => {
            if has(want) {
                return Ok(want.to_string());
            }
            let v = format!("v{want}");
            if want.starts_with(|c: char| c.is_ascii_digit()) && has(&v) {
                return Ok(v);
            }
            let range = VersionRange::parse(want).map_err(|e| {
                format!(
                    "no tag is `{want}`, and it is not a version range ({e}); {}",
                    known()
                )
            })?;
            range
                .best(tags.iter().map(String::as_str))
                .map(str::to_string)
                .ok_or_else(|| format!("no tag is `{want}` or a version in {range}; {}", known()))
        }
        None => {
            let any_release = VersionRange::parse(">=0.0.0").map_err(|e| e.to_string())?;
            if let Some(best) = any_release.best(tags.iter().map(String::as_str)) {
                return Ok(best.to_string());
            }
            if has(LATEST) {
                return Ok(LATEST.to_string());
            }
            Err(format!(
                "nothing names a tag, and the repository has neither a release semver tag nor `{LATEST}` \
                 ({}); name one as oci://host/repo:tag",
                known()
            ))
        }
    }
}

fn listed(tags: &[String]) -> String {
    if tags.is_empty() {
        return "none".into();
    }
    let mut shown: Vec<&str> = tags.iter().take(10).map(String::as_str).collect();
    if tags.len() > 10 {
        shown.push("…");
    }
    shown.join(", ")
}

/// The semver tags as (version without `v`, tag), highest first.
pub fn semver_versions(tags: &[String]) -> Vec<(String, String)> {
    let mut out: Vec<(semver::Version, String)> = tags
        .iter()
        .filter_map(|t| tag_version(t).map(|v| (v, t.clone())))
        .collect();
    out.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| b.1.cmp(&a.1)));
    out.into_iter().map(|(v, t)| (v.to_string(), t)).collect()
}

/// The digest of the manifest's one pack layer, after checking that the manifest is a
/// pack (see the module docs); the error names the type found and the type expected.
pub fn pack_layer(m: &OciManifest) -> Result<String, String> {
    let artifact = m.artifact_type.as_deref().unwrap_or(&m.config.media_type);
    if artifact != PACK_ARTIFACT_TYPE && artifact != PACK_CONFIG_TYPE {
        return Err(format!(
            "not a StackStorm pack: its artifact type is \"{artifact}\", where a pack has \
             \"{PACK_ARTIFACT_TYPE}\"; point at a pack pushed with `stackpack push`"
        ));
    }
    match m.layers.as_slice() {
        [only] if only.media_type == PACK_LAYER_TYPE => Ok(only.digest.clone()),
        [only] => Err(format!(
            "its one layer has media type \"{}\", where a pack's layer has \"{PACK_LAYER_TYPE}\"",
            only.media_type
        )),
        layers => Err(format!(
            "a pack has exactly one layer of media type \"{PACK_LAYER_TYPE}\", and this manifest has {} layers ({})",
            layers.len(),
            layers
                .iter()
                .map(|l| format!("\"{}\"", l.media_type))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}
