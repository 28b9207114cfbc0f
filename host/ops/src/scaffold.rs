//! `plugin new`: a new plugin project, ready to build and test offline.
//!
//! A Rust project is a crate on `stackpack-plugin-sdk`, with the SDK and the string
//! helpers it uses vendored under `vendor/` (copied from this binary, which embeds
//! their sources), `wit/plugin.wit`, and the Cargo.lock of stackpack's own plugins, so
//! it builds with the crates.io versions those use. A Python project is an `app.py`
//! for componentize-py with `build.sh` and `wit/plugin.wit`. Both get a README (build,
//! test, add) and a `plugin test` fixture in `testdata/`: recorded answers for a
//! resolver, a sample pack and the verdicts expected on it for a policy.
//!
//! The project is written into a temporary directory beside the target and renamed
//! into place at the end, so a failure leaves nothing behind.

use std::path::{Path, PathBuf};

use crate::error::OpsError;

/// What the plugin is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Resolver,
    Policy,
}

/// The language it is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    Rust,
    Python,
}

impl Kind {
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "resolver" => Some(Kind::Resolver),
            "policy" => Some(Kind::Policy),
            _ => None,
        }
    }
    fn world(self) -> &'static str {
        match self {
            Kind::Resolver => "source-resolver",
            Kind::Policy => "override-policy",
        }
    }
}

impl Lang {
    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "rust" => Some(Lang::Rust),
            "python" => Some(Lang::Python),
            _ => None,
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::Resolver => "resolver",
            Kind::Policy => "policy",
        })
    }
}

impl std::fmt::Display for Lang {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Lang::Rust => "Rust",
            Lang::Python => "Python",
        })
    }
}

/// `plugin new`.
#[derive(Debug, Clone)]
pub struct NewRequest {
    /// The plugin's name (also the crate's, and the prefix a resolver claims).
    pub name: String,
    pub kind: Kind,
    pub lang: Lang,
    /// Where to create it [default: `./<name>`]; must not exist or be empty.
    pub dir: Option<PathBuf>,
}

#[derive(Debug, serde::Serialize)]
pub struct NewReport {
    pub name: String,
    pub kind: Kind,
    pub lang: Lang,
    pub dir: PathBuf,
    /// The files written, relative to `dir`.
    pub files: Vec<String>,
    /// The command that builds the component, run in `dir`.
    pub build: String,
    /// The component, relative to `dir`.
    pub wasm: String,
    /// The `plugin test` command of its fixture, run in `dir`.
    pub test: String,
    /// The `plugin add` command, run in `dir`.
    pub add: String,
}

const WIT: &str = include_str!("../../../wit/plugin.wit");
const LOCK: &str = include_str!("../../../plugins/Cargo.lock");

/// The vendored crates: (path in the project, contents).
const VENDORED: &[(&str, &str)] = &[
    (
        "vendor/sdk/Cargo.toml",
        include_str!("../../../plugins/sdk/Cargo.toml"),
    ),
    (
        "vendor/sdk/src/lib.rs",
        include_str!("../../../plugins/sdk/src/lib.rs"),
    ),
    (
        "vendor/sdk/src/policy.rs",
        include_str!("../../../plugins/sdk/src/policy.rs"),
    ),
    (
        "vendor/sdk/src/resolver.rs",
        include_str!("../../../plugins/sdk/src/resolver.rs"),
    ),
    (
        "vendor/sdk/src/resolver_tests.rs",
        include_str!("../../../plugins/sdk/src/resolver_tests.rs"),
    ),
    (
        "vendor/sdk/src/service.rs",
        include_str!("../../../plugins/sdk/src/service.rs"),
    ),
    (
        "vendor/sdk/src/service_tests.rs",
        include_str!("../../../plugins/sdk/src/service_tests.rs"),
    ),
    (
        "vendor/common/Cargo.toml",
        include_str!("../../../plugins/common/Cargo.toml"),
    ),
    (
        "vendor/common/src/lib.rs",
        include_str!("../../../plugins/common/src/lib.rs"),
    ),
    (
        "vendor/common/src/forge.rs",
        include_str!("../../../plugins/common/src/forge.rs"),
    ),
    (
        "vendor/common/src/version.rs",
        include_str!("../../../plugins/common/src/version.rs"),
    ),
    (
        "vendor/common/src/tests.rs",
        include_str!("../../../plugins/common/src/tests.rs"),
    ),
];

const CLIPPY_TOML: &str = "# Tests may unwrap: a panic there is a failed test.\n\
                           allow-unwrap-in-tests = true\nallow-expect-in-tests = true\n";

/// Names a plugin may not take: stackpack's built-in plugins, and names cargo refuses
/// for a package (Rust keywords and the standard crates).
const RESERVED: &[&str] = &[
    "github",
    "gitlab",
    "file",
    "index",
    "git",
    "default",
    "test",
    "std",
    "core",
    "alloc",
    "proc_macro",
    "proc-macro",
    "self",
    "super",
    "crate",
    "as",
    "async",
    "await",
    "break",
    "const",
    "continue",
    "dyn",
    "else",
    "enum",
    "extern",
    "false",
    "fn",
    "for",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "match",
    "mod",
    "move",
    "mut",
    "pub",
    "ref",
    "return",
    "static",
    "struct",
    "trait",
    "true",
    "type",
    "unsafe",
    "use",
    "where",
    "while",
    "abstract",
    "become",
    "box",
    "do",
    "final",
    "gen",
    "macro",
    "override",
    "priv",
    "try",
    "typeof",
    "unsized",
    "virtual",
    "yield",
];

/// A name usable as the plugin's name, its crate's name and its references' prefix:
/// 1 to 64 characters, lower-case ASCII letters, digits, `-` and `_`, starting with a
/// letter and not ending with `-` or `_`, and not reserved.
pub fn check_name(name: &str) -> Result<(), String> {
    let shape = (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with(['-', '_'])
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !shape {
        return Err(format!(
            "{name:?} is not a usable plugin name: use 1 to 64 lower-case ASCII letters, \
             digits, `-` or `_`, starting with a letter and ending with a letter or digit \
             (e.g. `corp-packs`)"
        ));
    }
    if RESERVED.contains(&name) {
        return Err(format!(
            "{name:?} is reserved (a built-in plugin or a name cargo refuses); choose another \
             name, e.g. `{name}-plugin`"
        ));
    }
    Ok(())
}

/// The files of a project, with the commands its README shows.
struct Project {
    files: Vec<(String, String)>,
    build: String,
    wasm: String,
    test: String,
    add: String,
}

fn project(name: &str, kind: Kind, lang: Lang) -> Project {
    let artifact = name.replace('-', "_");
    let wasm = match lang {
        Lang::Rust => format!("target/wasm32-wasip2/release/{artifact}.wasm"),
        Lang::Python => format!("{artifact}.wasm"),
    };
    let build = match lang {
        Lang::Rust => "cargo build --release --target wasm32-wasip2".to_string(),
        Lang::Python => "sh build.sh".to_string(),
    };
    let test = match kind {
        Kind::Resolver => format!(
            "stackpack plugin test {wasm} --refs testdata/refs.txt --recorded \
             testdata/recorded.json --set service-url=https://packs.example.com"
        ),
        Kind::Policy => format!(
            "stackpack plugin test {wasm} --pack testdata/sample_pack --expect \
             testdata/expected.txt"
        ),
    };
    let add = match kind {
        Kind::Resolver => format!(
            "stackpack plugin add {wasm} --sha256 \"$(sha256sum {wasm} | cut -d' ' -f1)\" \\\n    \
             --grant https://packs.example.com --set service-url=https://packs.example.com"
        ),
        Kind::Policy => {
            format!("stackpack plugin add {wasm} --sha256 \"$(sha256sum {wasm} | cut -d' ' -f1)\"")
        }
    };
    let fill = |text: &str| {
        text.replace("__NAME__", name)
            .replace("__ARTIFACT__", &artifact)
            .replace("__WORLD__", kind.world())
    };
    let mut files: Vec<(String, String)> = vec![("wit/plugin.wit".into(), WIT.into())];
    match lang {
        Lang::Rust => {
            files.push((
                "Cargo.toml".into(),
                fill(include_str!("scaffold/rust/Cargo.toml")),
            ));
            files.push(("Cargo.lock".into(), LOCK.into()));
            files.push(("clippy.toml".into(), CLIPPY_TOML.into()));
            files.push((".gitignore".into(), "/target\n".into()));
            let lib = match kind {
                Kind::Resolver => include_str!("scaffold/rust/resolver.rs"),
                Kind::Policy => include_str!("scaffold/rust/policy.rs"),
            };
            files.push(("src/lib.rs".into(), fill(lib)));
            files.extend(VENDORED.iter().map(|(p, t)| (p.to_string(), t.to_string())));
        }
        Lang::Python => {
            let app = match kind {
                Kind::Resolver => include_str!("scaffold/python/resolver.py"),
                Kind::Policy => include_str!("scaffold/python/policy.py"),
            };
            files.push(("app.py".into(), fill(app)));
            files.push((
                "build.sh".into(),
                fill(include_str!("scaffold/python/build.sh")),
            ));
            files.push((
                ".gitignore".into(),
                format!("/{artifact}.wasm\n__pycache__/\n/wit_world/\n"),
            ));
        }
    }
    match kind {
        Kind::Resolver => {
            files.push((
                "testdata/refs.txt".into(),
                fill(include_str!("scaffold/testdata/refs.txt")),
            ));
            files.push((
                "testdata/recorded.json".into(),
                fill(include_str!("scaffold/testdata/recorded.json")),
            ));
        }
        Kind::Policy => {
            for (path, text) in [
                (
                    "expected.txt",
                    include_str!("scaffold/testdata/expected.txt"),
                ),
                (
                    "sample_pack/pack.yaml",
                    include_str!("scaffold/testdata/sample_pack/pack.yaml"),
                ),
                (
                    "sample_pack/actions/greet.yaml",
                    include_str!("scaffold/testdata/sample_pack/actions/greet.yaml"),
                ),
                (
                    "sample_pack/sensors/watch.yaml",
                    include_str!("scaffold/testdata/sample_pack/sensors/watch.yaml"),
                ),
                (
                    "sample_pack/sensors/watch.py",
                    include_str!("scaffold/testdata/sample_pack/sensors/watch.py"),
                ),
            ] {
                files.push((format!("testdata/{path}"), fill(text)));
            }
        }
    }
    files.push((
        "README.md".into(),
        readme(name, kind, lang, &build, &wasm, &test, &add, &fill),
    ));
    Project {
        files,
        build,
        wasm,
        test,
        add,
    }
}

#[allow(clippy::too_many_arguments)]
fn readme(
    name: &str,
    kind: Kind,
    lang: Lang,
    build: &str,
    wasm: &str,
    test: &str,
    add: &str,
    fill: &dyn Fn(&str) -> String,
) -> String {
    let what = match kind {
        Kind::Resolver => format!(
            "It resolves `{name}:<pack>[=<version>]` by asking a pack service \
             (`GET <service-url>/packs/<pack>`, answering JSON); see the top of {}.",
            if lang == Lang::Rust {
                "`src/lib.rs`"
            } else {
                "`app.py`"
            }
        ),
        Kind::Policy => format!(
            "It disables the resources of the kinds its `disable-kinds` config lists \
             (sensors by default); see the top of {}.",
            if lang == Lang::Rust {
                "`src/lib.rs`"
            } else {
                "`app.py`"
            }
        ),
    };
    let prereq = match lang {
        Lang::Rust => "Needs Rust with the `wasm32-wasip2` target (`rustup target add \
                       wasm32-wasip2`). The SDK (`stackpack-plugin-sdk`) is vendored under \
                       `vendor/` and `Cargo.lock` pins the crates.io versions stackpack's own \
                       plugins use, so a machine that has built stackpack builds this with \
                       `--offline` too."
            .to_string(),
        Lang::Python => "Needs componentize-py (`python3 -m pip install --user \
                         componentize-py==0.25.1`). For editor completion, generate the \
                         bindings `app.py` imports: `componentize-py -d wit/plugin.wit -w \
                         __WORLD__ bindings .`"
            .to_string(),
    };
    let unit = match lang {
        Lang::Rust => "`cargo test` runs the unit tests natively. ",
        Lang::Python => "",
    };
    let (fixture, checked) = match kind {
        Kind::Resolver => (
            " (the references in `refs.txt`, the service's answers recorded in \
             `recorded.json`; the plugin reaches nothing else)",
            "reference resolves or is not applicable",
        ),
        Kind::Policy => (
            " (the pack in `sample_pack/`, decided as `stackpack register` would, and the \
             verdicts `expected.txt` expects)",
            "verdict is the expected one",
        ),
    };
    let (confkind, confextra, rule) = match kind {
        Kind::Resolver => (
            "resolver",
            "hosts = [\"https://packs.example.com\"]\n\
             config = { service-url = \"https://packs.example.com\" }\n",
            "answer not-applicable for references you do not own, so the next resolver tries; ",
        ),
        Kind::Policy => ("policy", "config = { disable-kinds = \"sensor\" }\n", ""),
    };
    fill(include_str!("scaffold/README.md"))
        .replace("__KIND__", &kind.to_string())
        .replace("__LANG__", &lang.to_string())
        .replace("__WHAT__", &what)
        .replace("__PREREQ__", &fill(&prereq))
        .replace("__BUILD__", build)
        .replace("__WASM__", wasm)
        .replace("__UNIT__", unit)
        .replace("__FIXTURE__", fixture)
        .replace("__TEST__", test)
        .replace("__CHECKED__", checked)
        .replace("__ADD__", add)
        .replace("__CONFKIND__", confkind)
        .replace("__CONFEXTRA__", confextra)
        .replace("__RULE__", rule)
}

/// Creates the project; see the module docs.
pub fn new_plugin(req: &NewRequest) -> Result<NewReport, OpsError> {
    check_name(&req.name).map_err(OpsError::NewName)?;
    let dir = req.dir.clone().unwrap_or_else(|| PathBuf::from(&req.name));
    let failed = |reason: String| OpsError::Scaffold {
        path: dir.clone(),
        reason,
    };
    match std::fs::symlink_metadata(&dir) {
        Ok(m) if m.is_dir() => {
            let mut entries = std::fs::read_dir(&dir).map_err(|e| failed(e.to_string()))?;
            if entries.next().is_some() {
                return Err(OpsError::ScaffoldExists { path: dir });
            }
        }
        Ok(_) => return Err(OpsError::ScaffoldExists { path: dir }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(failed(e.to_string())),
    }
    let project = project(&req.name, req.kind, req.lang);
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let leaf = dir
        .file_name()
        .ok_or_else(|| failed("it names no directory".into()))?
        .to_string_lossy()
        .into_owned();
    let staging = parent.join(format!(".{leaf}.stackpack-new-{}", std::process::id()));
    // Only what this run created is removed on failure.
    std::fs::create_dir(&staging).map_err(|e| failed(format!("{}: {e}", staging.display())))?;
    let result = write_all(&staging, &project.files)
        .and_then(|()| move_into_place(&staging, &dir))
        .map_err(|e| failed(e.to_string()));
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    result?;
    Ok(NewReport {
        name: req.name.clone(),
        kind: req.kind,
        lang: req.lang,
        dir,
        files: project.files.into_iter().map(|(p, _)| p).collect(),
        build: project.build,
        wasm: project.wasm,
        test: project.test,
        add: project.add,
    })
}

fn write_all(staging: &Path, files: &[(String, String)]) -> std::io::Result<()> {
    for (rel, text) in files {
        let path = staging.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, text)?;
        #[cfg(unix)]
        if rel.ends_with(".sh") {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
        }
    }
    Ok(())
}

/// Renames the finished project onto `dir`, which is absent or an empty directory
/// (rename replaces an empty directory in one step).
fn move_into_place(staging: &Path, dir: &Path) -> std::io::Result<()> {
    std::fs::rename(staging, dir)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn names_are_crate_and_plugin_names() {
        for good in ["corp", "corp-packs", "a1", "my_policy2", &"a".repeat(64)] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "1corp",
            "-corp",
            "corp-",
            "corp_",
            "Corp",
            "corp packs",
            "corp.packs",
            "corp/packs",
            "../corp",
            "corp:x",
            "é",
            &"a".repeat(65),
        ] {
            let e = check_name(bad).unwrap_err();
            assert!(e.contains("not a usable plugin name"), "{bad}: {e}");
        }
        for reserved in ["github", "default", "fn", "test", "std"] {
            let e = check_name(reserved).unwrap_err();
            assert!(e.contains("reserved"), "{reserved}: {e}");
        }
    }

    #[test]
    fn every_placeholder_is_filled() {
        for kind in [Kind::Resolver, Kind::Policy] {
            for lang in [Lang::Rust, Lang::Python] {
                let p = project("acme-packs", kind, lang);
                for (path, text) in &p.files {
                    let stray = text
                        .match_indices("__")
                        .map(|(i, _)| &text[i..])
                        .find(|rest| {
                            rest[2..].starts_with(|c: char| c.is_ascii_uppercase())
                                && rest[2..].split("__").next().is_some_and(|w| {
                                    w.chars().all(|c| c.is_ascii_uppercase() || c == '_')
                                })
                        });
                    assert!(stray.is_none(), "{kind} {lang} {path}: {stray:?}");
                }
            }
        }
    }

    #[test]
    fn an_existing_non_empty_dir_is_refused_and_left_alone() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("proj");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("keep.txt"), "mine").unwrap();
        let req = NewRequest {
            name: "acme".into(),
            kind: Kind::Resolver,
            lang: Lang::Rust,
            dir: Some(dir.clone()),
        };
        let e = new_plugin(&req).unwrap_err();
        assert!(matches!(e, OpsError::ScaffoldExists { .. }), "{e}");
        assert!(e.to_string().contains("not empty"), "{e}");
        let left: Vec<_> = std::fs::read_dir(d.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "nothing beside it");
        assert_eq!(
            std::fs::read_to_string(dir.join("keep.txt")).unwrap(),
            "mine"
        );
        // An empty directory is filled; a bad name writes nothing.
        std::fs::remove_file(dir.join("keep.txt")).unwrap();
        let report = new_plugin(&req).unwrap();
        assert!(dir.join("vendor/sdk/src/lib.rs").is_file());
        assert!(report.files.contains(&"testdata/recorded.json".to_string()));
        let bad = NewRequest {
            name: "Bad Name".into(),
            dir: Some(d.path().join("other")),
            ..req
        };
        assert!(matches!(new_plugin(&bad), Err(OpsError::NewName(_))));
        assert!(!d.path().join("other").exists());
    }

    #[test]
    fn a_failed_write_leaves_nothing() {
        let d = tempfile::tempdir().unwrap();
        // The parent is a file: nothing can be created under it.
        let blocker = d.path().join("file");
        std::fs::write(&blocker, "x").unwrap();
        let req = NewRequest {
            name: "acme".into(),
            kind: Kind::Policy,
            lang: Lang::Python,
            dir: Some(blocker.join("proj")),
        };
        let e = new_plugin(&req).unwrap_err();
        assert!(e.to_string().contains("nothing was left there"), "{e}");
        let left: Vec<_> = std::fs::read_dir(d.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "only the blocking file");
    }
}
