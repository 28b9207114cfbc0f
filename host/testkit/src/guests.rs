//! The wasm components the tests load, built from source: the test guests in
//! `tests/guests/` and the example plugins in `examples/plugins/`. Each is built once per
//! test process by the cargo running the tests, for wasm32-wasip2, into
//! `<tmp>/guests-target`, where `tmp` is the caller's `CARGO_TARGET_TMPDIR`: every guest
//! workspace and every test binary shares that target dir, so their common dependencies
//! (wit-bindgen...) are compiled once.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex, OnceLock};

/// The repository root (this crate is `host/testkit`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The compiled-plugin cache shared by every test under `tmp` (each test still uses its
/// own root).
pub fn plugin_cache(tmp: &Path) -> PathBuf {
    tmp.join("plugin-cache")
}

/// Builds the guest workspace at `manifest_rel` (relative to the repository root) for
/// wasm32-wasip2 into `<tmp>/guests-target` and returns `<artifact>.wasm` from it, once
/// per artifact per test process.
pub fn build(tmp: &Path, manifest_rel: &str, artifact: &str) -> Arc<[u8]> {
    type Cells = HashMap<String, Arc<OnceLock<Arc<[u8]>>>>;
    static BUILT: OnceLock<Mutex<Cells>> = OnceLock::new();
    let target = tmp.join("guests-target");
    // The map lock is held only to find the artifact's cell, so a panicking build
    // cannot poison it; concurrent callers of one artifact wait on its cell.
    let cell = BUILT
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .entry(format!("{}#{manifest_rel}#{artifact}", target.display()))
        .or_default()
        .clone();
    cell.get_or_init(|| {
        let manifest = repo_root().join(manifest_rel);
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = Command::new(cargo)
            .args([
                "build",
                "--release",
                "--locked",
                "--target",
                "wasm32-wasip2",
                "--manifest-path",
            ])
            .arg(&manifest)
            .arg("--target-dir")
            .arg(&target)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("RUSTC_WRAPPER")
            .env_remove("RUSTC_WORKSPACE_WRAPPER")
            .output()
            .expect("run cargo");
        assert!(
            out.status.success(),
            "building the guest {manifest_rel} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let wasm = target.join(format!("wasm32-wasip2/release/{artifact}.wasm"));
        let bytes = std::fs::read(&wasm)
            .unwrap_or_else(|e| panic!("{manifest_rel} built no {}: {e}", wasm.display()));
        Arc::from(bytes)
    })
    .clone()
}

/// The hostile resolver guest (tests/guests/hostile).
pub fn hostile(tmp: &Path) -> Arc<[u8]> {
    build(tmp, "tests/guests/hostile/Cargo.toml", "hostile_guest")
}

/// The misbehaving override policy (tests/guests/hostile-policy); config `mode` picks
/// the misbehaviour.
pub fn hostile_policy(tmp: &Path) -> Arc<[u8]> {
    build(
        tmp,
        "tests/guests/hostile-policy/Cargo.toml",
        "hostile_policy_guest",
    )
}

/// The policy built against the unsupported API version 0.2.0 (tests/guests/future-api).
pub fn future_api(tmp: &Path) -> Arc<[u8]> {
    build(
        tmp,
        "tests/guests/future-api/Cargo.toml",
        "future_api_guest",
    )
}

/// An example plugin from examples/plugins, by crate name (`corp-resolver`).
pub fn example(tmp: &Path, name: &str) -> Arc<[u8]> {
    build(tmp, "examples/plugins/Cargo.toml", &name.replace('-', "_"))
}

/// The componentize-py release the Python examples are built and tested with (the one
/// `.ci/run` installs).
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";

/// The componentize-py to build Python plugins with: `$COMPONENTIZE_PY`, else the first
/// on PATH, else the one in Python's user scripts directory (`python3 -m site
/// --user-base`/bin, where `pip install --user` puts it). `None` when there is none.
pub fn componentize_py() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("COMPONENTIZE_PY") {
        return Some(PathBuf::from(p));
    }
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("componentize-py"))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| {
        let out = Command::new("python3")
            .args(["-m", "site", "--user-base"])
            .output()
            .ok()?;
        let base = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let p = Path::new(&base).join("bin/componentize-py");
        (out.status.success() && p.is_file()).then_some(p)
    })
}

/// A Python plugin built from `examples/plugins/<dir>` with componentize-py for `world`
/// of wit/plugin.wit; see [`python_example`].
pub struct PythonPlugin {
    pub wasm: Arc<[u8]>,
    /// Where the component is kept: `<tmp>/python-plugins/<dir>-<key>.wasm`.
    pub path: PathBuf,
    /// How long componentize-py took, when this call built it (`None`: reused).
    pub built_in: Option<std::time::Duration>,
}

/// Builds the Python example `examples/plugins/<dir>` (module `app`) for `world` with
/// componentize-py, or says why it cannot (`Err`: no componentize-py, or another release
/// than [`COMPONENTIZE_PY_VERSION`]). The component is kept under
/// `<tmp>/python-plugins/`, named by a hash of the example's `.py` files, the WIT and
/// componentize-py's version, so a run rebuilds it only when one of them changed, and
/// once per process at most. A failing build panics with componentize-py's output.
pub fn python_example(tmp: &Path, dir: &str, world: &str) -> Result<Arc<PythonPlugin>, String> {
    type Cells = HashMap<String, Arc<OnceLock<Result<Arc<PythonPlugin>, String>>>>;
    static BUILT: OnceLock<Mutex<Cells>> = OnceLock::new();
    let cell = BUILT
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .entry(format!("{}#{dir}#{world}", tmp.display()))
        .or_default()
        .clone();
    cell.get_or_init(|| build_python(tmp, &format!("examples/plugins/{dir}"), dir, world))
        .clone()
}

/// Builds the Python module `app` in `src` (relative to the repository) for `world`,
/// kept under `<tmp>/python-plugins/<name>-<hash>.wasm`; see [`python_example`].
fn build_python(
    tmp: &Path,
    src: &str,
    name: &str,
    world: &str,
) -> Result<Arc<PythonPlugin>, String> {
    let tool = componentize_py().ok_or_else(|| {
        format!(
            "componentize-py is not installed (not on PATH nor in Python's user scripts \
             directory); install it with `python3 -m pip install --user \
             componentize-py=={COMPONENTIZE_PY_VERSION}`"
        )
    })?;
    let version = Command::new(&tool)
        .arg("--version")
        .output()
        .map_err(|e| format!("cannot run {}: {e}", tool.display()))?;
    let version = String::from_utf8_lossy(&version.stdout).trim().to_string();
    if version != format!("componentize-py {COMPONENTIZE_PY_VERSION}") {
        return Err(format!(
            "{} is `{version}`, not componentize-py {COMPONENTIZE_PY_VERSION}; install that \
             release with `python3 -m pip install --user componentize-py=={COMPONENTIZE_PY_VERSION}`",
            tool.display()
        ));
    }
    let root = repo_root();
    let src = root.join(src);
    let wit = root.join("wit");
    let mut hash = Sha256::new();
    hash.update(format!("{version}\0{world}\0").as_bytes());
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(&src)
        .unwrap_or_else(|e| panic!("read {}: {e}", src.display()))
        .map(|e| e.expect("list the example").path())
        .filter(|p| p.extension().is_some_and(|x| x == "py"))
        .collect();
    inputs.sort();
    inputs.push(wit.join("plugin.wit"));
    for p in &inputs {
        let bytes = std::fs::read(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
        hash.update(
            p.strip_prefix(&root)
                .unwrap_or(p)
                .to_string_lossy()
                .as_bytes(),
        );
        hash.update([0]);
        hash.update((bytes.len() as u64).to_le_bytes());
        hash.update(&bytes);
    }
    let key: String = hash
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    let out_dir = tmp.join("python-plugins");
    std::fs::create_dir_all(&out_dir).expect("create the Python plugins' output directory");
    let path = out_dir.join(format!("{name}-{key}.wasm"));
    if let Ok(bytes) = std::fs::read(&path) {
        return Ok(Arc::new(PythonPlugin {
            wasm: Arc::from(bytes),
            path,
            built_in: None,
        }));
    }
    // Built beside and renamed into place: another process building the same key at
    // the same time writes the same bytes, and no reader sees a partial file.
    let partial = out_dir.join(format!("{name}-{key}.{}.partial", std::process::id()));
    let started = std::time::Instant::now();
    let out = Command::new(&tool)
        .arg("-d")
        .arg(&wit)
        .args(["-w", world, "componentize", "app", "-p", "."])
        .arg("-o")
        .arg(&partial)
        .current_dir(&src)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("run componentize-py");
    assert!(
        out.status.success(),
        "building the Python plugin {name} with componentize-py failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let built_in = started.elapsed();
    std::fs::rename(&partial, &path).expect("move the built component into place");
    let bytes = std::fs::read(&path).expect("read the built component");
    Ok(Arc::new(PythonPlugin {
        wasm: Arc::from(bytes),
        path,
        built_in: Some(built_in),
    }))
}

/// The Python override policy `examples/plugins/python-policy`; see [`python_example`].
pub fn example_python_policy(tmp: &Path) -> Result<Arc<PythonPlugin>, String> {
    python_example(tmp, "python-policy", "override-policy")
}

/// The Python resolver `examples/plugins/python-resolver`; see [`python_example`].
pub fn example_python_resolver(tmp: &Path) -> Result<Arc<PythonPlugin>, String> {
    python_example(tmp, "python-resolver", "source-resolver")
}

/// A component that declares the given counts and does nothing else (no exports, so
/// it is no plugin): one core module defining `memories` memories and `tables` tables,
/// instantiated once, and an empty module instantiated `instances - 1` more times.
pub fn declaring(instances: u32, memories: u32, tables: u32) -> Vec<u8> {
    use wasm_encoder::{
        Component, InstanceSection, MemorySection, MemoryType, Module, ModuleSection, RefType,
        TableSection, TableType,
    };
    let mut heavy = Module::new();
    let mut mems = MemorySection::new();
    for _ in 0..memories {
        mems.memory(MemoryType {
            minimum: 0,
            maximum: None,
            memory64: false,
            shared: false,
            page_size_log2: None,
        });
    }
    let mut tabs = TableSection::new();
    for _ in 0..tables {
        tabs.table(TableType {
            element_type: RefType::FUNCREF,
            table64: false,
            minimum: 0,
            maximum: None,
            shared: false,
        });
    }
    heavy.section(&tabs).section(&mems);
    let mut component = Component::new();
    component.section(&ModuleSection(&heavy));
    component.section(&ModuleSection(&Module::new()));
    let mut instances_section = InstanceSection::new();
    instances_section.instantiate(0, Vec::<(&str, wasm_encoder::ModuleArg)>::new());
    for _ in 1..instances {
        instances_section.instantiate(1, Vec::<(&str, wasm_encoder::ModuleArg)>::new());
    }
    component.section(&instances_section);
    component.finish()
}

/// A component holding a nested component that instantiates a module defining one
/// memory `inner` times, the nested component itself instantiated `outer` times.
pub fn nested(outer: u32, inner: u32) -> Vec<u8> {
    use wasm_encoder::{
        Component, ComponentInstanceSection, InstanceSection, MemorySection, MemoryType, Module,
        ModuleSection, NestedComponentSection,
    };
    let mut module = Module::new();
    let mut mems = MemorySection::new();
    mems.memory(MemoryType {
        minimum: 0,
        maximum: None,
        memory64: false,
        shared: false,
        page_size_log2: None,
    });
    module.section(&mems);
    let mut nested = Component::new();
    nested.section(&ModuleSection(&module));
    let mut core = InstanceSection::new();
    for _ in 0..inner {
        core.instantiate(0, Vec::<(&str, wasm_encoder::ModuleArg)>::new());
    }
    nested.section(&core);
    let mut component = Component::new();
    component.section(&NestedComponentSection(&nested));
    let mut instances = ComponentInstanceSection::new();
    for _ in 0..outer {
        instances.instantiate(
            0,
            Vec::<(&str, wasm_encoder::ComponentExportKind, u32)>::new(),
        );
    }
    component.section(&instances);
    component.finish()
}

/// The minimal Python override policy (tests/guests/py-policy/app.py) built with
/// componentize-py against wit/plugin.wit, once per process and kept like the examples
/// (see [`python_example`]). `Err` says why it cannot be built here, for `cannot_run`.
pub fn python_policy(tmp: &Path) -> Result<Arc<[u8]>, String> {
    static BUILT: OnceLock<Result<Arc<[u8]>, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            build_python(
                tmp,
                "tests/guests/py-policy",
                "py-policy",
                "override-policy",
            )
            .map(|p| p.wasm.clone())
        })
        .clone()
}
