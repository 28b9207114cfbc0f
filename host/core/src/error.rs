//! The crate's error types.
//!
//! Every message says what failed, on which input, and what to do about it. Where st2 has a
//! well-known message, it comes first, verbatim, so people and scripts that know st2's wording
//! still recognise it; the advice follows. Every URL shown has gone through
//! [`redact_url`](crate::redact_url).

use std::fmt;

use thiserror::Error;

/// An error from this crate.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CoreError {
    /// The pack specifier was empty (st2: "No valid repo_url provided or could be inferred.").
    #[error(
        "No valid repo_url provided or could be inferred. Give a pack name (e.g. `aws`), \
         `owner/repo`, or a git URL."
    )]
    EmptySpec,

    /// Nothing before the `=` of a specifier.
    #[error(
        "Pack specifier \"{spec}\" has no pack name or URL before '='. Write it as \
         name=version, e.g. aws=1.0.0."
    )]
    EmptyLocator {
        /// The specifier (redacted).
        spec: String,
    },

    /// Nothing after the `=` of a specifier.
    #[error(
        "Pack specifier \"{spec}\" has an empty version after '='. Give a version, tag, branch \
         or commit after '=', or drop the '=' to install the default."
    )]
    EmptyVersion {
        /// The specifier (redacted).
        spec: String,
    },

    /// More than one `=` outside a URL's userinfo and query string.
    #[error(
        "Pack specifier \"{spec}\" contains more than one '='. Write the version once, as \
         name=version; an '=' inside a URL path must be percent-encoded as %3D."
    )]
    MultipleSeparators {
        /// The specifier (redacted).
        spec: String,
    },

    /// A version range (`>=`, `~`, `^`, `*`, ...) in a specifier that is not a valid range.
    #[error(
        "Pack specifier \"{spec}\" has an invalid version range: {reason}. Write a range as \
         name>=1.2,<2 (clauses < <= > >= == != ~= with a version, ^1.2, ~1.2 or 1.*), or pin one \
         exact version with name=version."
    )]
    VersionRange {
        /// The specifier (redacted).
        spec: String,
        /// Which clause is wrong and why.
        reason: String,
    },

    /// The part before `=` is not a pack name, `owner/repo`, or a git URL.
    #[error(
        "Pack specifier \"{spec}\" is not recognised: {reason}. Accepted forms: name, \
         name=version, owner/repo, https://host/path[.git][=ref], ssh://user@host/path[=ref], \
         git@host:group/pack[=ref], file:///dir[=ref]."
    )]
    UnrecognizedLocator {
        /// The specifier (redacted).
        spec: String,
        /// Why it fits none of the forms.
        reason: String,
    },

    /// A pack version that is not semantic versioning (after dropping a leading `v`).
    #[error(
        "Version \"{version}\" is not a valid semantic version: {reason}. Use \
         MAJOR.MINOR.PATCH such as 1.2.0 (a leading 'v' is allowed)."
    )]
    InvalidPackVersion {
        /// The version text as given.
        version: String,
        /// What the semver parser objected to.
        reason: String,
    },

    /// A `stackstorm_version` that does not fit the grammar.
    #[error(
        "'{spec}' does not match the stackstorm_version grammar: {reason}. Write \
         comma-separated clauses of an operator (<, <=, >, >=, ==, !=) and a version, e.g. \
         \">=3.4.0, <4.0\", or \"all\"."
    )]
    InvalidSt2VersionSpec {
        /// The spec as given.
        spec: String,
        /// Which clause failed and why.
        reason: String,
    },

    /// The running StackStorm version is outside a pack's `stackstorm_version`
    /// (st2 `verify_pack_version`, with `--force` named as the override).
    #[error(
        "Pack \"{pack}\" requires StackStorm \"{spec}\", but current version is \"{current}\". \
         You can override this restriction by passing --force, but the pack is not guaranteed \
         to work."
    )]
    IncompatibleStackstorm {
        /// The pack's `name`.
        pack: String,
        /// The pack's `stackstorm_version`.
        spec: String,
        /// The running StackStorm version.
        current: String,
    },

    /// `pack.yaml` failed validation.
    #[error(transparent)]
    PackYaml(#[from] PackYamlError),

    /// A Python installer choice that is none of `auto`, `uv`, `pip` or a path.
    #[error(
        "python installer \"{value}\" is not understood; use auto, uv, pip, or the path of a uv binary"
    )]
    Installer {
        /// The value as written.
        value: String,
    },

    /// A text that should be a sha256 digest is not one.
    #[error(
        "no usable sha256 digest: {reason}; archives are only installed with a digest, given \
         as sha256:<64 hex digits>"
    )]
    InvalidSha256 {
        /// Why the text is not a digest.
        reason: String,
    },

    /// A text that should be an `oci://` reference is not one; `part` names the piece
    /// that is wrong (scheme, registry, repository, tag, digest).
    #[error("\"{reference}\" is not a usable OCI reference: the {part} is wrong: {reason}")]
    InvalidOciRef {
        /// The text as given, without userinfo.
        reference: String,
        /// Which part is wrong.
        part: String,
        /// Why, and what to write instead.
        reason: String,
    },

    /// An archive format other than `tar.gz` and `zip`.
    #[error("archive format \"{format}\" is not supported; use tar.gz or zip")]
    UnknownArchiveFormat {
        /// The format as given.
        format: String,
    },
}

/// One problem found in a `pack.yaml`; its text names the field and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackYamlProblem {
    /// The top-level field concerned, or `None` for a problem with the whole file.
    pub field: Option<String>,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl PackYamlProblem {
    pub(crate) fn field(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: Some(field.to_owned()),
            message: message.into(),
        }
    }

    pub(crate) fn file(message: impl Into<String>) -> Self {
        Self {
            field: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for PackYamlProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Every problem found in a `pack.yaml`, not just the first; `Display` puts one per line.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub struct PackYamlError {
    /// The problems, in field order; never empty.
    pub problems: Vec<PackYamlProblem>,
    pub(crate) empty_file: bool,
}

impl PackYamlError {
    pub(crate) fn new(problems: Vec<PackYamlProblem>) -> Self {
        Self {
            problems,
            empty_file: false,
        }
    }

    pub(crate) fn empty() -> Self {
        Self {
            problems: vec![PackYamlProblem::file(
                "Pack \"pack.yaml\" metadata file is empty. Add at least name, description, \
                 version and author.",
            )],
            empty_file: true,
        }
    }

    /// True when the file was empty (or held an empty mapping), so a caller that knows the
    /// pack directory can say st2's `Pack "<dir>" metadata file is empty` instead.
    pub fn is_empty_file(&self) -> bool {
        self.empty_file
    }

    /// The problems concerning `field`.
    pub fn problems_for<'a>(&'a self, field: &'a str) -> impl Iterator<Item = &'a PackYamlProblem> {
        self.problems
            .iter()
            .filter(move |p| p.field.as_deref() == Some(field))
    }
}

impl fmt::Display for PackYamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_yaml_error_joins_problems_one_per_line() {
        let err = PackYamlError::new(vec![
            PackYamlProblem::field("name", "first"),
            PackYamlProblem::field("author", "second"),
        ]);
        assert_eq!(err.to_string(), "first\nsecond");
        assert_eq!(err.problems_for("author").count(), 1);
        assert!(!err.is_empty_file());
        let core: CoreError = err.into();
        assert_eq!(core.to_string(), "first\nsecond");
    }

    #[test]
    fn range_message_says_the_reason_and_the_forms() {
        let err = CoreError::VersionRange {
            spec: "a>=x".into(),
            reason: "clause '>=x': unexpected character".into(),
        };
        let text = err.to_string();
        assert!(
            text.starts_with("Pack specifier \"a>=x\" has an invalid version range: clause '>=x'")
                && text.contains("name>=1.2,<2"),
            "{text}"
        );
    }

    #[test]
    fn empty_spec_keeps_st2_text() {
        assert!(
            CoreError::EmptySpec
                .to_string()
                .starts_with("No valid repo_url provided or could be inferred.")
        );
    }
}
