//! Glue for resolvers that ask a service of their own: claim references by a prefix
//! (`corp:<name>`), read the service URL from the config, ask it for a JSON object
//! and turn every failure into an error that names the reference, the URL and what to
//! do. The pure parts ([`claim`], [`service_url`], [`answer_entry`], [`origin`]) take
//! the host's answers as values, so native unit tests cover them.

use serde_json::{Map, Value};

use crate::resolver::{
    ArchiveFormat, ArchiveSource, GitRef, HttpRequest, NetError, PackRef, PackSummary, PluginError,
    Resolution, config_get, git_resolution, http_get,
};

/// The pack name of a `<prefix><name>` reference (`corp:sensu`, `corp:sensu=1.0`):
/// not-applicable when the locator does not start with `prefix`, so the next resolver
/// tries it; an invalid reference when the name is empty or not made of letters,
/// digits, `-` and `_`, or when nothing follows a `=`.
pub fn claim<'r>(reference: &'r PackRef, prefix: &str) -> Result<&'r str, PluginError> {
    let Some(name) = reference.locator.trim().strip_prefix(prefix) else {
        return Err(PluginError::NotApplicable);
    };
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        let kind = prefix.trim_end_matches(':');
        return Err(PluginError::InvalidReference(format!(
            "\"{}\" is not a {kind} pack reference: expected {prefix}<name> or \
             {prefix}<name>=<version>, the name made of letters, digits, '-' and '_'",
            reference.raw.trim()
        )));
    }
    if reference.requested.as_deref() == Some("") {
        return Err(PluginError::InvalidReference(format!(
            "\"{}\" has nothing after '='; give a version or drop the '='",
            reference.raw.trim()
        )));
    }
    Ok(name)
}

/// The http(s) URL in config `key` of plugin `plugin`, without a trailing `/`, read
/// with `config-get`; see [`service_url`].
pub fn configured_url(
    reference: &PackRef,
    plugin: &str,
    key: &str,
    example: &str,
) -> Result<String, PluginError> {
    service_url(reference, plugin, key, example, config_get(key))
}

/// The configured URL `value` of `key` without a trailing `/`, or an error naming the
/// reference and the key, and showing the config section that sets it (`example` is a
/// sample value).
pub fn service_url(
    reference: &PackRef,
    plugin: &str,
    key: &str,
    example: &str,
    value: Option<String>,
) -> Result<String, PluginError> {
    let how = format!(
        "set it in the plugin's config: [plugins.{plugin}] config = {{ {key} = \"{example}\" }}"
    );
    let Some(url) = value.filter(|u| !u.trim().is_empty()) else {
        return Err(PluginError::Other(format!(
            "cannot resolve \"{}\": the {plugin} plugin has no `{key}` configured; {how}",
            reference.raw.trim()
        )));
    };
    let url = url.trim().trim_end_matches('/');
    if origin(url).is_none() {
        return Err(PluginError::Other(format!(
            "cannot resolve \"{}\": `{key}` = \"{url}\" is not an http(s) URL; {how}",
            reference.raw.trim()
        )));
    }
    Ok(url.to_string())
}

/// The origin (`scheme://host[:port]`) of the http(s) URL in config `key`, as
/// `describe` lists it in `requested-hosts`; empty when unset or not http(s).
pub fn requested_origin(key: &str) -> Vec<String> {
    config_get(key)
        .as_deref()
        .and_then(origin)
        .into_iter()
        .collect()
}

/// `scheme://host[:port]` of an http(s) URL, lower-cased, without userinfo: what the
/// operator grants.
pub fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.trim().split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    if host.is_empty() {
        return None;
    }
    Some(format!("{scheme}://{}", host.to_ascii_lowercase()))
}

/// A JSON object a pack service answered about one pack, with what is needed to word
/// errors about it.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The object itself.
    pub fields: Map<String, Value>,
    /// The reference as the user typed it (trimmed).
    pub raw: String,
    /// The URL that answered.
    pub url: String,
}

impl Entry {
    /// A non-empty string field (trimmed).
    pub fn text(&self, key: &str) -> Option<String> {
        self.fields
            .get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
    }

    /// The error for an answer that cannot be used, saying `what` is wrong with it.
    pub fn unusable(&self, what: &str) -> PluginError {
        unusable(&self.raw, &self.url, what)
    }

    /// Where to get pack `name`, by the pack-service convention: `git_url` is a git
    /// repository, at the `requested` version when there is one, else at the entry's
    /// `ref`, else at the default branch; `archive_url` with `sha256` is an archive
    /// ([`archive`]) of one build, so a `requested` version other than its `version`
    /// is not found.
    pub fn resolution(
        &self,
        name: &str,
        requested: Option<&str>,
    ) -> Result<Resolution, PluginError> {
        if let Some(git_url) = self.text("git_url") {
            // The user's `=<version>` wins over the ref the service suggests.
            let ref_ = requested
                .map(String::from)
                .or_else(|| self.text("ref"))
                .map_or(GitRef::DefaultBranch, GitRef::Any);
            return Ok(git_resolution(git_url, ref_));
        }
        let Some(archive_url) = self.text("archive_url") else {
            return Err(self.unusable("neither \"git_url\" nor \"archive_url\""));
        };
        let version = self.text("version");
        if let Some(want) = requested
            && version.as_deref() != Some(want)
        {
            return Err(PluginError::NotFound(format!(
                "\"{}\": the pack service offers \"{name}\" only as an archive of version \
                 {} ({})",
                self.raw,
                version.as_deref().unwrap_or("(unknown)"),
                self.url
            )));
        }
        archive(archive_url, &self.text("sha256").unwrap_or_default()).ok_or_else(|| {
            self.unusable("\"archive_url\" without a valid \"sha256\" (64 hex digits)")
        })
    }

    /// What the user is shown about pack `name`: the entry's `name` (else `name`),
    /// `version` and `description`.
    pub fn summary(&self, name: &str) -> PackSummary {
        PackSummary {
            name: self.text("name").unwrap_or_else(|| name.to_string()),
            version: self.text("version"),
            description: self.text("description"),
            metadata: Vec::new(),
        }
    }
}

fn unusable(raw: &str, url: &str, what: &str) -> PluginError {
    PluginError::Other(format!(
        "\"{raw}\": the pack service sent an unusable answer ({url} answered HTTP 200: {what})"
    ))
}

/// Asks the pack service at `url` (`accept: application/json`, through the host's
/// `http-get`) about pack `name` of `reference`; see [`answer_entry`].
pub fn get_entry(reference: &PackRef, name: &str, url: &str) -> Result<Entry, PluginError> {
    let request = HttpRequest {
        url: url.to_string(),
        headers: vec![("accept".into(), "application/json".into())],
    };
    let answer = http_get(&request).map(|resp| (resp.status, resp.body));
    answer_entry(reference, name, url, answer)
}

/// The service's answer (status and body, or the network failure) for `url` as an
/// [`Entry`]: HTTP 200 with a JSON object. 404 is not-found, 429 and 5xx unavailable,
/// other statuses and bodies that are not a JSON object `other`; a refused grant is
/// `denied` with the `--grant` that fixes it. Every message names the reference and
/// the URL.
pub fn answer_entry(
    reference: &PackRef,
    name: &str,
    url: &str,
    answer: Result<(u16, Vec<u8>), NetError>,
) -> Result<Entry, PluginError> {
    let raw = reference.raw.trim();
    let body = match answer {
        Ok((200, body)) => body,
        Ok((404, _)) => {
            return Err(PluginError::NotFound(format!(
                "\"{raw}\": the pack service has no pack \"{name}\" ({url} answered HTTP 404)"
            )));
        }
        Ok((status @ (429 | 500..=599), _)) => {
            return Err(PluginError::Unavailable(format!(
                "\"{raw}\": the pack service is unavailable ({url} answered HTTP {status}); \
                 try again later"
            )));
        }
        Ok((status, _)) => {
            return Err(PluginError::Other(format!(
                "\"{raw}\": unexpected answer from the pack service ({url} answered HTTP {status})"
            )));
        }
        Err(e) => return Err(net_failure(raw, url, e)),
    };
    match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(fields)) => Ok(Entry {
            fields,
            raw: raw.to_string(),
            url: url.to_string(),
        }),
        Ok(_) => Err(unusable(raw, url, "not a JSON object")),
        Err(e) => Err(unusable(raw, url, &format!("invalid JSON: {e}"))),
    }
}

/// A failed `http-get` of `url` for reference `raw`, as the error the host understands.
pub fn net_failure(raw: &str, url: &str, e: NetError) -> PluginError {
    let cannot = format!("\"{raw}\": cannot ask the pack service at {url}");
    match e {
        NetError::Denied(why) => {
            let grant = origin(url).unwrap_or_else(|| url.to_string());
            PluginError::Denied(format!(
                "{cannot}: {why}; grant it with `--grant {grant}` (stackpack plugin add) or \
                 `hosts = [\"{grant}\"]` in the plugin's config section"
            ))
        }
        NetError::Offline => PluginError::Unavailable(format!("{cannot}: stackpack is offline")),
        NetError::Timeout => PluginError::Unavailable(format!("{cannot}: timed out")),
        NetError::TooLarge(n) => {
            PluginError::Other(format!("{cannot}: the answer is too large ({n} bytes)"))
        }
        NetError::Transport(why) => PluginError::Unavailable(format!("{cannot}: {why}")),
    }
}

/// An archive resolution of `url` pinned by `sha256` (64 hex digits, any case, an
/// optional `sha256:` prefix): zip when the URL's path ends in `.zip`, tar.gz
/// otherwise. `None` when the digest is not valid.
pub fn archive(url: String, sha256: &str) -> Option<Resolution> {
    let digest = sha256
        .trim()
        .trim_start_matches("sha256:")
        .to_ascii_lowercase();
    if !plugin_common::is_sha256_hex(&digest) {
        return None;
    }
    let path = url.split(['?', '#']).next().unwrap_or_default();
    let format = if path.to_ascii_lowercase().ends_with(".zip") {
        ArchiveFormat::Zip
    } else {
        ArchiveFormat::TarGz
    };
    Some(Resolution::Archive(ArchiveSource {
        url,
        digest: format!("sha256:{digest}"),
        format,
        strip_prefix: None,
    }))
}

#[cfg(test)]
#[path = "service_tests.rs"]
mod tests;
