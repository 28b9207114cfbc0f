//! Builds the guest crates under `plugins/` for `wasm32-wasip2` with the cargo that is
//! running this build, and embeds the components. The nested build uses its own
//! target directory (beside ours) and none of the outer build's wrappers or flags.
//!
//! Each component is also precompiled to machine code with the plugin runtime's own
//! engine settings (the same source file, `host/plugin/src/engine_config.rs`), so the
//! runtime can load the built-ins without compiling them. When precompiling is not
//! possible for the target, the built-in ships without it and is compiled at run time.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

#[path = "../plugin/src/engine_config.rs"]
mod engine_config;

/// (name, crate file stem, kind, default grants)
const PLUGINS: &[(&str, &str, &str, &[&str])] = &[
    (
        "github",
        "github_resolver",
        "Resolver",
        &["https://github.com"],
    ),
    (
        "gitlab",
        "gitlab_resolver",
        "Resolver",
        &["https://gitlab.com"],
    ),
    ("file", "file_resolver", "Resolver", &[]),
    ("index", "index_resolver", "Resolver", &[]),
    ("git", "git_resolver", "Resolver", &[]),
    // Claims only `oci://`; each call is granted the registry its reference names
    // (`Plugin::granting_named_registry`), as the git resolver's remotes are fetched
    // from whatever host the reference names.
    ("oci", "oci_resolver", "Resolver", &[]),
    ("default", "default_policy", "Policy", &[]),
];

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let manifest_dir = PathBuf::from(env("CARGO_MANIFEST_DIR")?);
    let repo = manifest_dir
        .ancestors()
        .nth(2)
        .ok_or("cannot find the repository root")?
        .to_path_buf();
    let plugins = repo.join("plugins");
    let out_dir = PathBuf::from(env("OUT_DIR")?);
    // `plugins/oci` compiles the host's version-range grammar in from host/core.
    for watched in ["plugins", "wit", "host/core/src/range.rs"] {
        println!("cargo:rerun-if-changed={}", repo.join(watched).display());
    }
    println!("cargo:rerun-if-env-changed=STACKPACK_PLUGINS_TARGET_DIR");
    println!(
        "cargo:rerun-if-changed={}",
        manifest_dir
            .join("../plugin/src/engine_config.rs")
            .display()
    );

    // <target>/<profile>/build/<pkg>/out -> <target>/wasm-plugins
    let target_dir = match std::env::var_os("STACKPACK_PLUGINS_TARGET_DIR") {
        Some(d) => PathBuf::from(d),
        None => out_dir
            .ancestors()
            .nth(4)
            .ok_or("cannot place the plugins target dir")?
            .join("wasm-plugins"),
    };
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let build = || {
        Command::new(&cargo)
            .args([
                "build",
                "--release",
                "--locked",
                "--target",
                "wasm32-wasip2",
            ])
            .arg("--manifest-path")
            .arg(plugins.join("Cargo.toml"))
            .arg("--target-dir")
            .arg(&target_dir)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("CARGO_BUILD_RUSTFLAGS")
            .env_remove("RUSTC_WRAPPER")
            .env_remove("RUSTC_WORKSPACE_WRAPPER")
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("CARGO_BUILD_TARGET")
            .env_remove("CARGO_PRIMARY_PACKAGE")
            .output()
            .map_err(|e| format!("cannot run {cargo}: {e}"))
    };
    let mut output = build()?;
    // A rustup that does not install the toolchain file's targets by itself (as with
    // RUSTUP_AUTO_INSTALL=0) leaves wasm32-wasip2 missing on a fresh machine: add it
    // once, so `cargo build` alone works there, then try again.
    if !output.status.success() && target_missing(&String::from_utf8_lossy(&output.stderr)) {
        let mut add = Command::new("rustup");
        add.args(["target", "add", "wasm32-wasip2"]);
        if let Ok(toolchain) = std::env::var("RUSTUP_TOOLCHAIN") {
            add.args(["--toolchain", &toolchain]);
        }
        if add.status().is_ok_and(|s| s.success()) {
            println!(
                "cargo:warning=added the rustup target wasm32-wasip2 for the built-in plugins"
            );
            output = build()?;
        }
    }
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let hint = if target_missing(&stderr) {
            "\nThe wasm32-wasip2 target is missing: run `rustup target add wasm32-wasip2`."
        } else {
            ""
        };
        return Err(format!(
            "building the built-in plugins in {} failed:\n{stderr}{hint}",
            plugins.display()
        ));
    }

    let wasm_dir = target_dir.join("wasm32-wasip2").join("release");
    let engine = precompile_engine();
    let mut code =
        String::from("/// Generated by build.rs.\npub static BUILTINS: &[Builtin] = &[\n");
    for (name, stem, kind, grants) in PLUGINS {
        let src = wasm_dir.join(format!("{stem}.wasm"));
        let bytes = std::fs::read(&src).map_err(|e| format!("{}: {e}", src.display()))?;
        let dest = out_dir.join(format!("{stem}.wasm"));
        write_if_changed(&dest, &bytes)?;
        let sha = hex::encode(Sha256::digest(&bytes));
        let precompiled = match engine.as_ref().map(|e| e.precompile_component(&bytes)) {
            Some(Ok(cwasm)) => {
                let cdest = out_dir.join(format!("{stem}.cwasm"));
                write_if_changed(&cdest, &cwasm)?;
                format!("Some(include_bytes!({:?}))", cdest.display().to_string())
            }
            Some(Err(e)) => {
                println!(
                    "cargo:warning=built-in plugin {name} is not precompiled ({e}); it is compiled when first loaded"
                );
                "None".to_string()
            }
            None => "None".to_string(),
        };
        code.push_str(&format!(
            "    Builtin {{ name: {name:?}, kind: Kind::{kind}, sha256: {sha:?}, default_grants: &{grants:?}, wasm: include_bytes!({dest:?}), precompiled: {precompiled} }},\n",
            dest = dest.display().to_string()
        ));
    }
    code.push_str("];\n");
    write_if_changed(&out_dir.join("builtins.rs"), code.as_bytes())
}

/// An engine with the runtime's settings, generating code for the target being built
/// (the host's CPU features when not cross-compiling: the runtime checks them again
/// before using the code). `None`, with a warning, when wasmtime cannot target it.
fn precompile_engine() -> Option<wasmtime::Engine> {
    let mut config = engine_config::config();
    let target = std::env::var("TARGET").ok();
    if let Some(target) = target.as_deref()
        && std::env::var("HOST").ok().as_deref() != Some(target)
        && let Err(e) = config.target(target)
    {
        println!(
            "cargo:warning=the built-in plugins are not precompiled for {target} ({e}); they are compiled when first loaded"
        );
        return None;
    }
    match wasmtime::Engine::new(&config) {
        Ok(engine) => Some(engine),
        Err(e) => {
            println!(
                "cargo:warning=the built-in plugins are not precompiled ({e}); they are compiled when first loaded"
            );
            None
        }
    }
}

fn env(key: &str) -> Result<String, String> {
    std::env::var(key).map_err(|_| format!("{key} is not set"))
}

fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<(), String> {
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// Whether a failed build says the wasm32-wasip2 standard library is not installed.
fn target_missing(stderr: &str) -> bool {
    stderr.contains("wasm32-wasip2") && stderr.contains("target may not be installed")
        || stderr.contains("can't find crate for `core`")
        || stderr.contains("can't find crate for `std`")
}
