//! Pure types and rules of StackStorm pack management, shared by every other stackpack crate.
//!
//! Nothing here touches the filesystem or the network: callers read files, clone repositories
//! and fetch indexes, then hand text to this crate. It holds [`PackMeta`] and
//! [`parse_pack_yaml`] (the `pack.yaml` schema and st2's ref-derivation rules, reporting every
//! problem at once in a [`PackYamlError`]); [`St2VersionSpec`] (one grammar for
//! `stackstorm_version`, replacing st2's disagreeing regex and matcher) with the version
//! helpers in [`version`]; [`PackRef`] and [`RefKind`] (the `name[=version]` / URL pack
//! specifier of `st2 pack install` and of `dependencies`, with st2's splitting bugs fixed);
//! the source model in [`source`]: [`Source`] (what a resolver answers: git with a [`GitRef`],
//! archive with its [`ArchiveFormat`] and [`Sha256`], or a local directory), [`Pin`] (what it
//! resolved to) and [`Origin`] (what override policies see);
//! [`redact_url`], which every message showing a URL goes through; [`InstallerChoice`] (the
//! `auto | uv | pip | /path/to/uv` choice of Python installer); [`yaml`], the one YAML
//! reader and writer of every crate (one schema, bounded against hostile input);
//! [`param_schema`], st2's meta-schema for a parameter definition (actions and config
//! schemas share it); [`Progress`], the trait long work reports through (the CLI draws it); and
//! [`CoreError`], the
//! crate's error type. Error texts that st2 users and tests match on are kept verbatim (typos
//! aside) and followed by what to do about them.

mod error;
pub mod installer;
pub mod oci;
pub mod pack;
pub mod param_schema;
pub mod progress;
pub mod reference;
pub mod source;
pub mod version;
pub mod yaml;

pub use error::{CoreError, PackYamlError, PackYamlProblem};
pub use installer::InstallerChoice;
pub use oci::{OciRef, is_oci};
pub use pack::{
    MANIFEST_FILE_NAME, PACK_REF_WHITELIST_REGEX, PACK_VERSION_REGEX, PackMeta, RESERVED_PACK_REFS,
    SYSTEM_PACKS, deprecation_warnings, is_valid_pack_ref, is_valid_pack_version, parse_pack_yaml,
};
pub use progress::{Progress, Silent, Task};
pub use reference::{PackRef, RefKind, dependency_name, redact_unparsed_url, redact_url};
pub use source::{ArchiveFormat, GitRef, Origin, Pin, Sha256, Source, SourceKind};
pub use version::{
    Comparator, ST2_VERSION_REGEX, St2VersionSpec, VersionClause, VersionRange,
    check_stackstorm_version, normalize_pack_version, normalize_st2_version, parse_pack_version,
    python_versions_ok, sort_versions_desc,
};
