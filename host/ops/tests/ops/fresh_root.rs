//! A fresh root and an empty cache: the first commands load every built-in plugin from
//! the code shipped precompiled in the binary, so nothing is compiled and no compiled
//! code is written to the cache.

use std::path::Path;

use stackpack_ops::install::{InstallRequest, install};
use stackpack_ops::plugin;
use stackpack_ops::{Session, SessionOptions};

/// The `.cwasm` files under the cache's plugin dir (none when it does not exist).
fn compiled_files(cache: &Path) -> Vec<String> {
    std::fs::read_dir(cache.join("plugins"))
        .map(|dir| {
            dir.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".cwasm"))
                .collect()
        })
        .unwrap_or_default()
}

/// Safe outcome: installing (and registering) on a fresh root with an empty cache
/// compiles no plugin: the cache holds no compiled code afterwards, nor after listing
/// (which loads every plugin).
#[test]
fn first_commands_on_a_fresh_root_compile_nothing() {
    let root = tempfile::tempdir().unwrap();
    let cache = root.path().join("fresh-cache");
    let s = Session::new(&SessionOptions {
        root: Some(root.path().to_path_buf()),
        cache_dir: Some(cache.clone()),
        ..SessionOptions::default()
    })
    .unwrap();
    let pack = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/packs/hello_st2");
    let url = url::Url::from_file_path(pack.canonicalize().unwrap())
        .unwrap()
        .to_string();
    let report = install(
        &s,
        &InstallRequest {
            packs: vec![url],
            venv: false,
            register: true,
            ..InstallRequest::default()
        },
    )
    .unwrap();
    assert!(report.registered.is_some(), "the pack was registered");
    assert!(
        !s.policies().unwrap().is_empty(),
        "the policies were loaded"
    );
    assert_eq!(compiled_files(&cache), Vec::<String>::new());

    let listed = plugin::list(&s).unwrap();
    assert_eq!(listed.len(), stackpack_builtins::all().len());
    assert_eq!(compiled_files(&cache), Vec::<String>::new());
}
