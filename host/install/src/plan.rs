//! The pure part of planning an install: what each reference is, whether two requests for
//! one pack agree, which dependencies still need fetching, and how a failure is reported.
//! Nothing here touches the disk or the network.

use stackpack_core::{
    PackMeta, PackRef, RefKind, SYSTEM_PACKS, VersionRange, dependency_name, parse_pack_version,
};
use stackpack_site::{InstalledPack, find};

use crate::error::{InstallError, InstalledConflict};

/// One reference to fetch, parsed once.
#[derive(Debug, Clone)]
pub(crate) struct Want {
    pub reference: PackRef,
    /// Who asked: "the command line" or the requiring pack's ref.
    pub by: String,
    /// Index of the top-level reference this serves.
    pub top: usize,
    /// The pack name when known before fetching (index names, dependency names).
    pub name: Option<String>,
    pub dependency: bool,
}

impl Want {
    /// A reference given on the command line.
    pub fn top_level(reference: PackRef, top: usize) -> Want {
        let name =
            matches!(reference.kind(), RefKind::IndexName).then(|| reference.locator().to_string());
        Want {
            reference,
            by: "the command line".into(),
            top,
            name,
            dependency: false,
        }
    }

    /// The reference as shown (credentials redacted).
    pub fn shown(&self) -> String {
        self.reference.to_string()
    }
}

/// A pack already in the plan, as far as version agreement goes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Planned<'a> {
    pub name: &'a str,
    /// The version fetched.
    pub version: &'a str,
    /// The version requested, as written (`=x`), if any.
    pub requested: Option<&'a str>,
    /// Who asked for it.
    pub by: &'a str,
}

impl Planned<'_> {
    /// `pack=requested (version)`, or `pack version`.
    fn label(&self) -> String {
        match self.requested {
            Some(r) => format!("{}={r} ({})", self.name, self.version),
            None => format!("{} {}", self.name, self.version),
        }
    }
}

/// Whether two version texts name the same version: equal as semantic versions (a
/// leading `v` allowed), or equal as text when either is not a version (a branch name).
pub(crate) fn same_version(a: &str, b: &str) -> bool {
    match (parse_pack_version(a), parse_pack_version(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => a.trim() == b.trim(),
    }
}

/// The range a requested text is, when it is one (`>=1.2,<2`, `^1.2`, `1.*`): the text a
/// [`PackRef`] keeps for its range starts with an operator or holds a `*`.
pub(crate) fn as_range(requested: &str) -> Option<VersionRange> {
    let looks =
        requested.starts_with(['<', '>', '=', '!', '~', '^', '*']) || requested.contains('*');
    looks.then(|| VersionRange::parse(requested).ok()).flatten()
}

/// Whether `version` satisfies a request: in the range, or the same version (or name).
pub(crate) fn satisfies(requested: &str, version: &str) -> bool {
    match as_range(requested) {
        Some(range) => range.matches_text(version),
        None => same_version(requested, version),
    }
}

/// The name a dependency specifier stands for: an index name itself, else the name
/// derived from its URL.
fn name_of(reference: &PackRef) -> String {
    match reference.kind() {
        RefKind::IndexName => reference.locator().to_string(),
        _ => reference.dependency_name(),
    }
}

/// The installed packs (other than `pack` itself and those in `except`) whose pack.yaml
/// depends on `pack`, each as `ref (requirement)`; with `only_broken_by`, only those
/// whose requirement that version does not satisfy.
pub(crate) fn dependents(
    installed: &[InstalledPack],
    pack: &str,
    except: &[&str],
    only_broken_by: Option<&str>,
) -> Vec<String> {
    let mut out = Vec::new();
    for p in installed.iter().filter(|p| p.is_active()) {
        if p.ref_ == pack || except.contains(&p.ref_.as_str()) {
            continue;
        }
        let Some(meta) = p.meta() else { continue };
        for dep in &meta.dependencies {
            let Ok(parsed) = PackRef::parse(dep) else {
                continue;
            };
            if name_of(&parsed) != pack {
                continue;
            }
            let broken = match (only_broken_by, parsed.requested()) {
                (None, _) => true,
                (Some(_), None) => false,
                (Some(v), Some(r)) => !satisfies(r, v),
            };
            if broken {
                out.push(format!("{} ({})", p.ref_, parsed));
            }
        }
    }
    out
}

/// What is installed under the ref a fetched pack declares.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InstalledCopy<'a> {
    pub version: &'a str,
    /// The lockfile's canonical source of it; None for a pack stackpack did not install.
    pub from: Option<&'a str>,
}

/// Is the fetched pack (whose pack.yaml says `found`, from `canonical`) the pack `want`
/// asked for? A name (an index key, a dependency name) must be the pack's ref. A URL
/// names no pack for sure, so it may install anything, except over an installed pack of
/// that ref that came from another source (or from an unknown one) when the URL's own
/// name is not that ref; a URL named after the pack moves it to the new source with a
/// warning. With `force` a mismatch is allowed, and the warning returned says what is
/// replaced.
pub(crate) fn check_identity(
    want: &Want,
    found: &str,
    canonical: &str,
    installed: Option<InstalledCopy>,
    force: bool,
) -> Result<Option<String>, InstallError> {
    let asked = want.shown();
    let refusal = if matches!(want.reference.kind(), RefKind::IndexName) {
        let asked_name = want.reference.locator();
        if asked_name == found {
            return Ok(None);
        }
        InstallError::NotWhatWasAsked {
            asked: asked.clone(),
            asked_name: asked_name.to_string(),
            found: found.to_string(),
            replaces: installed.map(|i| i.version.to_string()),
        }
    } else {
        let Some(copy) = installed else {
            return Ok(None);
        };
        if copy.from == Some(canonical) {
            return Ok(None);
        }
        if dependency_name(want.reference.locator()) == found {
            // The URL is named after the pack: moving it to another source is meant.
            return Ok(copy.from.map(|from| {
                format!(
                    "{found} {} came from {from}; {asked} replaces it",
                    copy.version
                )
            }));
        }
        let installed_from = match copy.from {
            Some(from) => from.to_string(),
            None => "an unknown source (it is not in stackpack.lock)".to_string(),
        };
        InstallError::ReplacesOtherSource {
            asked: asked.clone(),
            found: found.to_string(),
            installed: copy.version.to_string(),
            installed_from,
        }
    };
    if !force {
        return Err(refusal);
    }
    Ok(Some(match installed {
        Some(copy) => format!(
            "{asked} is the pack \"{found}\"; with --force it replaces the installed {found} {}{}",
            copy.version,
            copy.from
                .map(|f| format!(" (from {f})"))
                .unwrap_or_default()
        ),
        None => format!("{asked} is the pack \"{found}\"; installed as \"{found}\" (--force)"),
    }))
}

/// Does a request for `requested` (any version when None) agree with the pack already
/// planned? It does when it names the planned version or the same ref, when it is a
/// range holding the planned version, or when what it fetched (`fetched`, once known) is
/// the planned version.
pub(crate) fn agrees(planned: &Planned, requested: Option<&str>, fetched: Option<&str>) -> bool {
    match requested {
        None => true,
        Some(r) if as_range(r).is_some() => satisfies(r, planned.version),
        Some(r) => {
            same_version(r, planned.version)
                || planned.requested.is_some_and(|p| same_version(p, r))
                || fetched.is_some_and(|f| same_version(f, planned.version))
        }
    }
}

/// The conflict between a planned pack and a second request for it.
pub(crate) fn conflict(planned: &Planned, second: String, second_by: &str) -> InstallError {
    InstallError::Conflict {
        pack: planned.name.to_string(),
        first: planned.label(),
        first_by: planned.by.to_string(),
        second,
        second_by: second_by.to_string(),
    }
}

/// The conflict between a planned pack and a second fetch of it.
pub(crate) fn conflict_fetched(planned: &Planned, second: &Planned) -> InstallError {
    conflict(planned, second.label(), second.by)
}

/// Two wants in one batch for the same pack name with different versions conflict
/// before anything is fetched.
pub(crate) fn check_batch_conflicts(wants: &[Want]) -> Result<(), InstallError> {
    for (i, a) in wants.iter().enumerate() {
        for b in &wants[i + 1..] {
            let (Some(na), Some(nb)) = (&a.name, &b.name) else {
                continue;
            };
            if na != nb {
                continue;
            }
            // Ranges are compared with what is fetched, once it is.
            if let (Some(va), Some(vb)) = (a.reference.requested(), b.reference.requested())
                && a.reference.range().is_none()
                && b.reference.range().is_none()
                && !same_version(va, vb)
            {
                return Err(InstallError::Conflict {
                    pack: na.clone(),
                    first: format!("{na}={va}"),
                    first_by: a.by.clone(),
                    second: format!("{nb}={vb}"),
                    second_by: b.by.clone(),
                });
            }
        }
    }
    Ok(())
}

/// The dependencies of a fetched pack (`meta`, wanted as `want`) that still need
/// fetching. Each entry is a want, or the reason the requesting top-level reference
/// fails. A dependency on a planned pack at another version is a conflict; so is one
/// that would change the version of an installed pack, unless `force` (then a warning
/// lists the installed packs that depend on it).
pub(crate) fn plan_dependencies(
    meta: &PackMeta,
    want: &Want,
    planned: &[Planned],
    installed: &[InstalledPack],
    force: bool,
    warnings: &mut Vec<String>,
) -> Result<Vec<Result<Want, String>>, InstallError> {
    let me = &meta.ref_;
    let mut out = Vec::new();
    for dep in &meta.dependencies {
        let parsed = match PackRef::parse(dep) {
            Ok(p) => p,
            Err(e) => {
                out.push(Err(format!(
                    "pack {me} lists an invalid dependency \"{}\": {e}",
                    stackpack_core::redact_url(dep)
                )));
                continue;
            }
        };
        let name = name_of(&parsed);
        let requested = parsed.requested();
        if let Some(p) = planned.iter().find(|p| p.name == name) {
            if !agrees(p, requested, None) {
                return Err(conflict(p, parsed.to_string(), me));
            }
            continue;
        }
        let present = find(installed, &name);
        if SYSTEM_PACKS.contains(&name.as_str()) {
            if present.is_none() {
                warnings.push(format!(
                    "pack {me} depends on {name}, which ships with StackStorm and is not installed in any packs base path"
                ));
            }
            continue;
        }
        if let Some(p) = present
            && let Some(m) = p.meta()
        {
            // An unversioned dependency on an installed pack is satisfied by it (st2 does
            // not upgrade it either).
            if requested.is_none_or(|r| satisfies(r, &m.version)) {
                tracing::debug!(
                    "dependency {name} of {me} is satisfied by {}",
                    p.path.display()
                );
                continue;
            }
            let others = dependents(installed, &name, &[me], None);
            if !force {
                let suggestion = match parsed.kind() {
                    RefKind::IndexName if parsed.range().is_none() => parsed.to_string(),
                    _ => format!("\"{parsed}\""),
                };
                return Err(InstallError::ChangesInstalled(Box::new(
                    InstalledConflict {
                        pack: name,
                        installed: m.version.clone(),
                        requirer: me.clone(),
                        requirement: parsed.to_string(),
                        suggestion,
                        dependents: others,
                    },
                )));
            }
            warnings.push(format!(
                "pack {me} requires {parsed}: the installed {name} {} is replaced (--force){}",
                m.version,
                if others.is_empty() {
                    String::new()
                } else {
                    format!("; installed packs that depend on it: {}", others.join(", "))
                }
            ));
        }
        out.push(Ok(Want {
            reference: parsed,
            by: me.clone(),
            top: want.top,
            name: Some(name),
            dependency: true,
        }));
    }
    Ok(out)
}

/// The failure of `want`, for the result line of its top-level reference (which names
/// that reference already): the error itself, or for a dependency, which one failed.
pub(crate) fn failure_reason(want: &Want, error: &InstallError) -> String {
    if want.dependency {
        format!("dependency {} of {}: {error}", want.shown(), want.by)
    } else {
        error.to_string()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn want(raw: &str, by: &str, dependency: bool) -> Want {
        let reference = PackRef::parse(raw).unwrap();
        let name = Some(reference.dependency_name());
        Want {
            reference,
            by: by.into(),
            top: 0,
            name,
            dependency,
        }
    }

    fn meta(yaml: &str) -> PackMeta {
        stackpack_core::parse_pack_yaml(yaml, None).unwrap()
    }

    #[test]
    fn versions_compare_as_versions_and_names_as_text() {
        assert!(same_version("v1.2.0", "1.2.0"));
        assert!(same_version("1.2.0", "V1.2.0"));
        assert!(!same_version("1.2.0", "1.2.1"));
        assert!(same_version("main", "main"));
        assert!(!same_version("main", "v1.2.0"));
        // A leading `v` is not stripped from names that are not versions.
        assert!(!same_version("vmain", "main"));
    }

    #[test]
    fn agreement() {
        let p = Planned {
            name: "aws",
            version: "1.2.0",
            requested: Some("release"),
            by: "the command line",
        };
        assert!(agrees(&p, None, None));
        assert!(agrees(&p, Some("v1.2.0"), None));
        assert!(agrees(&p, Some("release"), None));
        assert!(!agrees(&p, Some("1.3.0"), None));
        assert!(agrees(&p, Some("other-branch"), Some("1.2.0")));
        assert!(!agrees(&p, Some("other-branch"), Some("1.3.0")));
    }

    #[test]
    fn batch_conflicts_name_both_requests() {
        assert!(
            check_batch_conflicts(&[want("aws=1.0.0", "a", true), want("aws=v1.0.0", "b", true)])
                .is_ok()
        );
        let e =
            check_batch_conflicts(&[want("aws=1.0.0", "a", true), want("aws=2.0.0", "b", true)])
                .unwrap_err()
                .to_string();
        assert!(
            e.contains("a requires aws=1.0.0") && e.contains("b requires aws=2.0.0"),
            "{e}"
        );
    }

    #[test]
    fn dependencies_are_parsed_once_and_checked_against_the_plan() {
        let m = meta(
            "name: top\nversion: 1.0.0\ndescription: d\nauthor: a\n\
             dependencies: [aws=1.0.0, core, \"https://u:tok@h.example/o/slack.git\", \"x=a=b\"]\n",
        );
        let top = want("top", "the command line", false);
        let mut warnings = Vec::new();
        let planned = [Planned {
            name: "aws",
            version: "1.0.0",
            requested: None,
            by: "the command line",
        }];
        let out = plan_dependencies(&m, &top, &planned, &[], false, &mut warnings).unwrap();
        // aws is planned at that version; core ships with StackStorm (a warning).
        assert_eq!(out.len(), 2, "{out:?}");
        let slack = out[0].as_ref().unwrap();
        assert_eq!(slack.name.as_deref(), Some("slack"));
        assert_eq!(slack.by, "top");
        assert!(slack.dependency);
        let bad = out[1].as_ref().unwrap_err();
        assert!(bad.contains("invalid dependency \"x=a=b\""), "{bad}");
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("depends on core"));

        let planned = [Planned {
            name: "aws",
            version: "2.0.0",
            requested: None,
            by: "the command line",
        }];
        let e = plan_dependencies(&m, &top, &planned, &[], false, &mut Vec::new())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("the command line requires aws 2.0.0")
                && e.contains("top requires aws=1.0.0"),
            "{e}"
        );
    }

    fn installed_pack(dir: &std::path::Path, name: &str, version: &str, deps: &[&str]) {
        let pack = dir.join(name);
        std::fs::create_dir_all(&pack).unwrap();
        let deps = if deps.is_empty() {
            String::new()
        } else {
            format!("dependencies: [{}]\n", deps.join(", "))
        };
        std::fs::write(
            pack.join("pack.yaml"),
            format!("name: {name}\nversion: {version}\ndescription: d\nauthor: a\n{deps}"),
        )
        .unwrap();
    }

    // st2's test_get_pack_dependencies cases: test2 0.5.0 installed; test4 needs
    // test2=v0.4.0 (a conflict), test6 needs test2 (satisfied), foo=v1.0.0 against an
    // installed 1.0.0 (satisfied: `v` does not matter).
    #[test]
    fn dependencies_are_checked_against_installed_packs() {
        let d = tempfile::tempdir().unwrap();
        installed_pack(d.path(), "test2", "0.5.0", &[]);
        installed_pack(d.path(), "test6", "0.7.0", &["test2"]);
        installed_pack(d.path(), "test7", "0.7.0", &["\"test2=0.5.0\""]);
        installed_pack(d.path(), "foo", "1.0.0", &[]);
        let installed = stackpack_site::discover(&[d.path().to_path_buf()]).unwrap();
        let top = want("test4", "the command line", false);

        let m = meta(
            "name: test4\nversion: 0.7.0\ndescription: d\nauthor: a\n\
                      dependencies: [test2=v0.4.0]\n",
        );
        let e = plan_dependencies(&m, &top, &[], &installed, false, &mut Vec::new()).unwrap_err();
        assert!(matches!(e, InstallError::ChangesInstalled(_)), "{e:?}");
        let text = e.to_string();
        for part in [
            "test2 0.5.0 is installed, and test4 requires test2=v0.4.0",
            "stackpack install test2=v0.4.0",
            "test6 (test2), test7 (test2=0.5.0)",
        ] {
            assert!(text.contains(part), "{part}: {text}");
        }
        // --force queues it, and says what it replaces.
        let mut warnings = Vec::new();
        let out = plan_dependencies(&m, &top, &[], &installed, true, &mut warnings).unwrap();
        assert_eq!(out.len(), 1);
        assert!(
            warnings[0].contains("the installed test2 0.5.0 is replaced"),
            "{warnings:?}"
        );

        let m = meta(
            "name: x\nversion: 0.1.0\ndescription: d\nauthor: a\n\
                      dependencies: [test2, foo=v1.0.0, \"test2>=0.5,<1\"]\n",
        );
        let out = plan_dependencies(&m, &top, &[], &installed, false, &mut Vec::new()).unwrap();
        assert!(out.is_empty(), "{out:?}");
        let m = meta(
            "name: x\nversion: 0.1.0\ndescription: d\nauthor: a\n\
                      dependencies: [\"test2>=1\"]\n",
        );
        assert!(plan_dependencies(&m, &top, &[], &installed, false, &mut Vec::new()).is_err());

        // Only the dependents the new version does not satisfy, for explicit installs.
        assert_eq!(
            dependents(&installed, "test2", &[], Some("0.4.0")),
            vec!["test7 (test2=0.5.0)".to_string()]
        );
        assert!(dependents(&installed, "test2", &["test7"], Some("0.4.0")).is_empty());
    }

    #[test]
    fn ranges_agree_with_what_is_planned() {
        let p = Planned {
            name: "aws",
            version: "1.5.0",
            requested: None,
            by: "the command line",
        };
        assert!(agrees(&p, Some(">=1.2,<2"), None));
        assert!(!agrees(&p, Some(">=2"), Some("2.0.0")));
        // Two ranges in one batch are left to the fetched versions.
        assert!(
            check_batch_conflicts(&[want("aws>=1", "a", true), want("aws=2.0.0", "b", true)])
                .is_ok()
        );
    }

    #[test]
    fn the_fetched_pack_must_be_the_one_asked_for() {
        let copy = InstalledCopy {
            version: "1.0.0",
            from: Some("file:///srv/keep"),
        };
        // An index key must be the pack's ref.
        let mirage = want("mirage", "the command line", false);
        let e = check_identity(&mirage, "keep", "file:///srv/impostor", Some(copy), false)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("mirage is the pack \"keep\"")
                && e.contains("replace the installed keep 1.0.0"),
            "{e}"
        );
        assert!(
            check_identity(&mirage, "mirage", "x", None, false)
                .unwrap()
                .is_none()
        );
        let w = check_identity(&mirage, "keep", "file:///srv/impostor", Some(copy), true)
            .unwrap()
            .unwrap();
        assert!(
            w.contains("replaces the installed keep 1.0.0 (from file:///srv/keep)"),
            "{w}"
        );

        // A URL may install any pack, but not over one from another source.
        let url = want("file:///srv/impostor", "app", true);
        assert!(
            check_identity(&url, "keep", "file:///srv/impostor", None, false)
                .unwrap()
                .is_none()
        );
        assert!(
            check_identity(&url, "keep", "file:///srv/keep", Some(copy), false)
                .unwrap()
                .is_none()
        );
        // A URL named after the pack moves it to that source, saying so.
        let moved = want("file:///srv/fork/keep", "the command line", false);
        let w = check_identity(&moved, "keep", "file:///srv/fork/keep", Some(copy), false)
            .unwrap()
            .unwrap();
        assert!(w.contains("keep 1.0.0 came from file:///srv/keep"), "{w}");
        let e = check_identity(&url, "keep", "file:///srv/impostor", Some(copy), false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("which came from file:///srv/keep"), "{e}");
        // A pack stackpack did not install: only a URL named after it may replace it.
        let unmanaged = InstalledCopy {
            version: "1.0.0",
            from: None,
        };
        assert!(
            check_identity(&url, "keep", "file:///srv/impostor", Some(unmanaged), false).is_err()
        );
        let named = want(
            "https://h.example/o/stackstorm-keep",
            "the command line",
            false,
        );
        assert!(
            check_identity(
                &named,
                "keep",
                "h.example/o/stackstorm-keep",
                Some(unmanaged),
                false
            )
            .unwrap()
            .is_none()
        );
    }

    #[test]
    fn a_failure_is_reported_once_beside_its_reference() {
        let error = InstallError::Resolve {
            message: "no such pack".into(),
        };
        let top = want("https://u:tok@h.example/o/aws", "the command line", false);
        assert_eq!(failure_reason(&top, &error), "no such pack");
        let dep = want("https://u:tok@h.example/o/aws=1.0", "parent", true);
        assert_eq!(
            failure_reason(&dep, &error),
            "dependency https://u:***@h.example/o/aws=1.0 of parent: no such pack"
        );
    }
}
