//! Where a pack comes from: the one model every crate uses, from a resolver's answer to the
//! lockfile and the string override policies see.
//!
//! - [`Source`] is what a resolver answers (or the lockfile replays): a git remote with a
//!   [`GitRef`], an archive with its [`ArchiveFormat`] and [`Sha256`], an OCI artifact
//!   with its manifest and layer digests, or a local directory.
//! - [`Pin`] is what that source resolved to: a commit, an archive digest, an OCI
//!   manifest and layer digest, or nothing (a plain local directory).
//! - [`Origin`] is the record policies and the registry see, printed as
//!   `<kind>:<canonical>@<pin>` (`git:github.com/o/r@3f2a…`), or `unmanaged:<path>` for a
//!   pack stackpack did not install.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{CoreError, redact_url};

/// Which git revision to fetch.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GitRef {
    /// The remote's default branch (what its HEAD points at).
    DefaultBranch,
    /// A name given by the user, tried in st2's order: tag `x`, tag `vx`, branch `x`, then
    /// commit `x` (full, or a unique prefix of at least 4 hex digits).
    Any(String),
    /// Branch `x`.
    Branch(String),
    /// Tag `x`, or else tag `vx`.
    Tag(String),
    /// A full commit id or a unique prefix of one (at least 4 hex digits).
    Commit(String),
}

impl fmt::Display for GitRef {
    /// `default branch`, `x` (for [`GitRef::Any`]), `branch x`, `tag x`, `commit x`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GitRef::DefaultBranch => f.write_str("default branch"),
            GitRef::Any(x) => f.write_str(x),
            GitRef::Branch(x) => write!(f, "branch {x}"),
            GitRef::Tag(x) => write!(f, "tag {x}"),
            GitRef::Commit(x) => write!(f, "commit {x}"),
        }
    }
}

/// The format of an archive source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "&'static str", try_from = "String")]
pub enum ArchiveFormat {
    TarGz,
    Zip,
}

impl ArchiveFormat {
    /// The file extension, and the name used in the lockfile and in output: `tar.gz`, `zip`.
    pub fn ext(self) -> &'static str {
        match self {
            ArchiveFormat::TarGz => "tar.gz",
            ArchiveFormat::Zip => "zip",
        }
    }
}

impl fmt::Display for ArchiveFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.ext())
    }
}

impl FromStr for ArchiveFormat {
    type Err = CoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "tar.gz" => Ok(ArchiveFormat::TarGz),
            "zip" => Ok(ArchiveFormat::Zip),
            other => Err(CoreError::UnknownArchiveFormat {
                format: other.to_string(),
            }),
        }
    }
}

impl From<ArchiveFormat> for &'static str {
    fn from(f: ArchiveFormat) -> &'static str {
        f.ext()
    }
}

impl TryFrom<String> for ArchiveFormat {
    type Error = CoreError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// A sha256 digest: 64 lower-case hex digits. Parsing accepts upper case and an optional
/// `sha256:` prefix; `Display` and serde give the bare lower-case hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Sha256(String);

impl Sha256 {
    /// The 64 lower-case hex digits.
    pub fn as_hex(&self) -> &str {
        &self.0
    }

    /// `sha256:<hex>`, the form resolvers give.
    pub fn prefixed(&self) -> String {
        format!("sha256:{}", self.0)
    }
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Sha256 {
    type Err = CoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |reason: String| CoreError::InvalidSha256 { reason };
        let text = s.trim();
        if text.is_empty() {
            return Err(bad("none was given".into()));
        }
        let hex = match text.split_once(':') {
            Some((algo, hex)) if algo.eq_ignore_ascii_case("sha256") => hex,
            Some((algo, _)) => return Err(bad(format!("`{algo}` digests are not supported"))),
            None => text,
        };
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad(format!("`{text}` is not 64 hex digits")));
        }
        Ok(Sha256(hex.to_ascii_lowercase()))
    }
}

impl From<Sha256> for String {
    fn from(d: Sha256) -> String {
        d.0
    }
}

impl TryFrom<String> for Sha256 {
    type Error = CoreError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// The kinds of source, named as in the lockfile and in [`Origin`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    Git,
    Archive,
    Oci,
    Local,
}

impl SourceKind {
    /// `git`, `archive`, `oci`, `local`.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Git => "git",
            SourceKind::Archive => "archive",
            SourceKind::Oci => "oci",
            SourceKind::Local => "local",
        }
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where to get a pack: what a resolver answers, or what the lockfile replays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A git repository; `subdir`: the pack lives in that directory of it.
    Git {
        url: String,
        git_ref: GitRef,
        subdir: Option<String>,
    },
    /// A tar.gz or zip archive, checked against `sha256`; `strip_prefix`: the directory
    /// inside the archive that holds the pack.
    Archive {
        url: String,
        sha256: Sha256,
        format: ArchiveFormat,
        strip_prefix: Option<String>,
    },
    /// An OCI artifact in a registry: the manifest `manifest` of
    /// `oci://<registry>/<repository>` (found through `tag`, when one was asked for),
    /// whose one pack layer, a tar.gz, has the digest `layer`.
    Oci {
        /// `host[:port]`.
        registry: String,
        repository: String,
        tag: Option<String>,
        manifest: Sha256,
        layer: Sha256,
    },
    /// A directory on this machine (absolute): a git work tree or a plain directory.
    Local { path: PathBuf },
}

impl Source {
    pub fn kind(&self) -> SourceKind {
        match self {
            Source::Git { .. } => SourceKind::Git,
            Source::Archive { .. } => SourceKind::Archive,
            Source::Oci { .. } => SourceKind::Oci,
            Source::Local { .. } => SourceKind::Local,
        }
    }

    /// The URL or path the content is read from (may hold credentials: redact it before
    /// showing it); an OCI artifact as `oci://host[:port]/repo[:tag]@sha256:<manifest>`.
    pub fn location(&self) -> String {
        match self {
            Source::Git { url, .. } | Source::Archive { url, .. } => url.clone(),
            Source::Oci { manifest, .. } => {
                format!(
                    "{}@{}",
                    self.oci_tagged().unwrap_or_default(),
                    manifest.prefixed()
                )
            }
            Source::Local { path } => path.display().to_string(),
        }
    }

    /// An OCI source as `oci://host[:port]/repo[:tag]` (no digest); `None` for the others.
    pub fn oci_tagged(&self) -> Option<String> {
        match self {
            Source::Oci {
                registry,
                repository,
                tag,
                ..
            } => Some(match tag {
                Some(t) => format!("oci://{registry}/{repository}:{t}"),
                None => format!("oci://{registry}/{repository}"),
            }),
            _ => None,
        }
    }
}

impl fmt::Display for Source {
    /// `git <url> (<ref>)[ subdir <s>]`, `archive <url> sha256:<hex>`, `local <path>`, with
    /// URLs redacted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Git {
                url,
                git_ref,
                subdir,
            } => {
                write!(f, "git {} ({git_ref})", redact_url(url))?;
                match subdir {
                    Some(s) => write!(f, " subdir {s}"),
                    None => Ok(()),
                }
            }
            Source::Archive { url, sha256, .. } => {
                write!(f, "archive {} {}", redact_url(url), sha256.prefixed())
            }
            Source::Oci { layer, .. } => {
                write!(f, "oci {} layer {}", self.location(), layer.prefixed())
            }
            Source::Local { path } => write!(f, "local {}", path.display()),
        }
    }
}

/// How a [`Source`] is shown in JSON output: tagged by `kind`, URLs redacted, the git ref
/// as its text.
#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum ShownSource<'a> {
    Git {
        url: String,
        #[serde(rename = "ref")]
        git_ref: String,
        subdir: Option<&'a str>,
    },
    Archive {
        url: String,
        digest: String,
        format: ArchiveFormat,
        strip_prefix: Option<&'a str>,
    },
    Oci {
        reference: String,
        manifest: String,
        layer: String,
    },
    Local {
        path: &'a std::path::Path,
    },
}

impl Serialize for Source {
    /// For output only (URLs are redacted): `{"kind": "git", "url", "ref", "subdir"}`,
    /// `{"kind": "archive", "url", "digest", "format", "strip_prefix"}`,
    /// `{"kind": "oci", "reference", "manifest", "layer"}`, `{"kind": "local", "path"}`.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let shown = match self {
            Source::Git {
                url,
                git_ref,
                subdir,
            } => ShownSource::Git {
                url: redact_url(url),
                git_ref: git_ref.to_string(),
                subdir: subdir.as_deref(),
            },
            Source::Archive {
                url,
                sha256,
                format,
                strip_prefix,
            } => ShownSource::Archive {
                url: redact_url(url),
                digest: sha256.prefixed(),
                format: *format,
                strip_prefix: strip_prefix.as_deref(),
            },
            Source::Oci {
                manifest, layer, ..
            } => ShownSource::Oci {
                reference: self.oci_tagged().unwrap_or_default(),
                manifest: manifest.prefixed(),
                layer: layer.prefixed(),
            },
            Source::Local { path } => ShownSource::Local { path },
        };
        shown.serialize(serializer)
    }
}

/// What a source resolved to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Pin {
    /// A full git commit id (a git source, or a local git work tree's HEAD).
    Commit(String),
    /// An archive's digest.
    Sha256(Sha256),
    /// An OCI artifact's manifest digest and the digest of its pack layer.
    Oci { manifest: Sha256, layer: Sha256 },
    /// A plain local directory: nothing pins it (the installed tree's digest, kept
    /// beside every pin, tells whether it changed).
    Unpinned,
}

impl Pin {
    /// The commit, when pinned by one.
    pub fn commit(&self) -> Option<&str> {
        match self {
            Pin::Commit(c) => Some(c),
            _ => None,
        }
    }

    /// The digest, when pinned by one.
    pub fn sha256(&self) -> Option<&Sha256> {
        match self {
            Pin::Sha256(d) => Some(d),
            _ => None,
        }
    }
}

impl fmt::Display for Pin {
    /// The commit, the bare hex digest (an OCI artifact's manifest digest), or nothing.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pin::Commit(c) => f.write_str(c),
            Pin::Sha256(d) | Pin::Oci { manifest: d, .. } => d.fmt(f),
            Pin::Unpinned => Ok(()),
        }
    }
}

/// Where an installed pack came from, as override policies and the registry see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Installed by stackpack: the lockfile's kind, canonical identity and pin.
    Installed {
        kind: SourceKind,
        canonical: String,
        pin: Pin,
    },
    /// Not in the lockfile: put there by hand or by another tool.
    Unmanaged { path: PathBuf },
}

impl fmt::Display for Origin {
    /// `<kind>:<canonical>@<pin>` (e.g. `git:github.com/o/r@<commit>`, `local:/srv/p@` for
    /// an unpinned directory), or `unmanaged:<path>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Installed {
                kind,
                canonical,
                pin,
            } => write!(f, "{kind}:{canonical}@{pin}"),
            Origin::Unmanaged { path } => write!(f, "unmanaged:{}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn sha256_accepts_a_prefix_on_input_only() {
        let d: Sha256 = HEX.parse().unwrap();
        assert_eq!(d.to_string(), HEX);
        assert_eq!(
            format!("SHA256:{}", HEX.to_uppercase()).parse::<Sha256>(),
            Ok(d.clone())
        );
        assert_eq!(d.prefixed(), format!("sha256:{HEX}"));
        assert_eq!(serde_json::to_string(&d).unwrap(), format!("\"{HEX}\""));
        let back: Sha256 = serde_json::from_str(&format!("\"sha256:{HEX}\"")).unwrap();
        assert_eq!(back, d);
        for (bad, why) in [
            ("", "none was given"),
            ("sha256:abc", "not 64 hex digits"),
            (&format!("md5:{HEX}"), "`md5` digests are not supported"),
            (&"g".repeat(64), "not 64 hex digits"),
        ] {
            let e = bad.parse::<Sha256>().unwrap_err().to_string();
            assert!(
                e.contains(why) && e.contains("sha256:<64 hex digits>"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn archive_format_names() {
        for f in [ArchiveFormat::TarGz, ArchiveFormat::Zip] {
            assert_eq!(f.to_string().parse::<ArchiveFormat>(), Ok(f));
            assert_eq!(
                serde_json::to_string(&f).unwrap(),
                format!("\"{}\"", f.ext())
            );
        }
        let e = "rar".parse::<ArchiveFormat>().unwrap_err().to_string();
        assert!(e.contains("\"rar\"") && e.contains("tar.gz or zip"), "{e}");
    }

    #[test]
    fn source_text_and_json_redact_urls() {
        let git = Source::Git {
            url: "https://u:tok@h.example/o/r.git".into(),
            git_ref: GitRef::Tag("1.0".into()),
            subdir: Some("packs/x".into()),
        };
        assert_eq!(
            git.to_string(),
            "git https://u:***@h.example/o/r.git (tag 1.0) subdir packs/x"
        );
        let json = serde_json::to_value(&git).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind": "git", "url": "https://u:***@h.example/o/r.git",
                               "ref": "tag 1.0", "subdir": "packs/x"})
        );
        let plain = Source::Git {
            url: "https://h.example/o/r".into(),
            git_ref: GitRef::DefaultBranch,
            subdir: None,
        };
        assert_eq!(
            plain.to_string(),
            "git https://h.example/o/r (default branch)"
        );
        let archive = Source::Archive {
            url: "https://h.example/p.zip".into(),
            sha256: HEX.parse().unwrap(),
            format: ArchiveFormat::Zip,
            strip_prefix: None,
        };
        assert_eq!(
            archive.to_string(),
            format!("archive https://h.example/p.zip sha256:{HEX}")
        );
        assert_eq!(
            serde_json::to_value(&archive).unwrap(),
            serde_json::json!({"kind": "archive", "url": "https://h.example/p.zip",
                               "digest": format!("sha256:{HEX}"), "format": "zip",
                               "strip_prefix": null})
        );
        let local = Source::Local {
            path: "/srv/p".into(),
        };
        assert_eq!(local.to_string(), "local /srv/p");
        assert_eq!(
            serde_json::to_value(&local).unwrap(),
            serde_json::json!({"kind": "local", "path": "/srv/p"})
        );
        assert_eq!(local.kind().to_string(), "local");
    }

    #[test]
    fn oci_sources_show_their_reference_and_both_digests() {
        let layer = "f".repeat(64);
        let oci = Source::Oci {
            registry: "127.0.0.1:5000".into(),
            repository: "packs/hello".into(),
            tag: Some("1.0.0".into()),
            manifest: HEX.parse().unwrap(),
            layer: layer.parse().unwrap(),
        };
        assert_eq!(oci.kind().to_string(), "oci");
        assert_eq!(
            oci.location(),
            format!("oci://127.0.0.1:5000/packs/hello:1.0.0@sha256:{HEX}")
        );
        assert_eq!(
            oci.to_string(),
            format!("oci oci://127.0.0.1:5000/packs/hello:1.0.0@sha256:{HEX} layer sha256:{layer}")
        );
        assert_eq!(
            serde_json::to_value(&oci).unwrap(),
            serde_json::json!({"kind": "oci", "reference": "oci://127.0.0.1:5000/packs/hello:1.0.0",
                               "manifest": format!("sha256:{HEX}"),
                               "layer": format!("sha256:{layer}")})
        );
        let pin = Pin::Oci {
            manifest: HEX.parse().unwrap(),
            layer: layer.parse().unwrap(),
        };
        assert_eq!(pin.to_string(), HEX);
        let origin = Origin::Installed {
            kind: SourceKind::Oci,
            canonical: "127.0.0.1:5000/packs/hello".into(),
            pin,
        };
        assert_eq!(
            origin.to_string(),
            format!("oci:127.0.0.1:5000/packs/hello@{HEX}")
        );
    }

    #[test]
    fn origin_strings_are_what_policies_parse() {
        let commit = "3".repeat(40);
        let git = Origin::Installed {
            kind: SourceKind::Git,
            canonical: "github.com/o/r".into(),
            pin: Pin::Commit(commit.clone()),
        };
        assert_eq!(git.to_string(), format!("git:github.com/o/r@{commit}"));
        let archive = Origin::Installed {
            kind: SourceKind::Archive,
            canonical: "corp:tarball".into(),
            pin: Pin::Sha256(HEX.parse().unwrap()),
        };
        assert_eq!(archive.to_string(), format!("archive:corp:tarball@{HEX}"));
        let local = Origin::Installed {
            kind: SourceKind::Local,
            canonical: "file:///srv/p".into(),
            pin: Pin::Unpinned,
        };
        assert_eq!(local.to_string(), "local:file:///srv/p@");
        let unmanaged = Origin::Unmanaged {
            path: "/opt/stackstorm/packs/x".into(),
        };
        assert_eq!(unmanaged.to_string(), "unmanaged:/opt/stackstorm/packs/x");
    }
}
