//! Plugin load and call costs, printed beside a baseline measured in the same run.
//!
//!   cargo bench -p stackpack-plugin --bench plugin_load
//!
//! Baseline: compiling the component with Cranelift (what every run would pay without
//! the `.cwasm` cache nor the code shipped precompiled). Targets: precompiled and
//! cached loads < 5 ms, fresh instance + one resolve call < 1 ms.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use stackpack_core::PackRef;
use stackpack_plugin::{Grants, Limits, NoNetwork, PluginSpec, Runtime};

fn spec() -> PluginSpec {
    let b = stackpack_builtins::get("github").expect("github built-in");
    PluginSpec {
        name: "github".into(),
        wasm: Arc::from(b.wasm),
        grants: Grants::parse(b.default_grants).unwrap(),
        config: BTreeMap::new(),
        limits: Limits::default(),
    }
}

/// The github component with a custom section appended: the same code under another
/// sha256, so no precompiled built-in matches it and it is compiled or cached.
fn third_party_spec() -> PluginSpec {
    let b = stackpack_builtins::get("github").expect("github built-in");
    let mut wasm = b.wasm.to_vec();
    let name = b"bench";
    wasm.extend_from_slice(&[0, 1 + name.len() as u8, name.len() as u8]);
    wasm.extend_from_slice(name);
    PluginSpec {
        name: "github-copy".into(),
        wasm: Arc::from(wasm),
        grants: Grants::parse(b.default_grants).unwrap(),
        config: BTreeMap::new(),
        limits: Limits::default(),
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let cache = tempfile::tempdir().unwrap();
    let wasm_kib = spec().wasm.len() / 1024;

    // Baseline: compile every time (no cache).
    let rt = Runtime::new(None, Arc::new(NoNetwork), false).unwrap();
    let compile = median(
        (0..3)
            .map(|_| {
                let t = Instant::now();
                let p = rt.load(third_party_spec()).unwrap();
                assert_eq!(p.code_source(), stackpack_plugin::CodeSource::Compiled);
                t.elapsed()
            })
            .collect(),
    );

    // Cached: the first load writes the .cwasm, the rest read it.
    let rt = Runtime::new(Some(cache.path().to_path_buf()), Arc::new(NoNetwork), false).unwrap();
    rt.load(third_party_spec()).unwrap();
    let cached = median(
        (0..50)
            .map(|_| {
                let t = Instant::now();
                let p = rt.load(third_party_spec()).unwrap();
                assert_eq!(p.code_source(), stackpack_plugin::CodeSource::Cached);
                t.elapsed()
            })
            .collect(),
    );

    // Precompiled: the built-in's code shipped in the binary, no cache involved.
    let precompiled = median(
        (0..50)
            .map(|_| {
                let t = Instant::now();
                let p = rt.load(spec()).unwrap();
                assert_eq!(p.code_source(), stackpack_plugin::CodeSource::Precompiled);
                t.elapsed()
            })
            .collect(),
    );

    // Fresh instance + one resolve call.
    let plugin = rt.load(spec()).unwrap();
    let reference = PackRef::parse("StackStorm-Exchange/stackstorm-test=v1.0.0").unwrap();
    for _ in 0..50 {
        plugin.resolve(&reference).unwrap().unwrap();
    }
    let call = median(
        (0..1000)
            .map(|_| {
                let t = Instant::now();
                plugin.resolve(&reference).unwrap().unwrap();
                t.elapsed()
            })
            .collect(),
    );

    let verdict = |d: Duration, target: Duration| if d < target { "ok" } else { "MISSED" };
    println!("plugin: github resolver, {wasm_kib} KiB component");
    println!("  compile (baseline, no cache)      {:>12}", ms(compile));
    println!(
        "  precompiled load (built-in)       {:>12}  {:>8.0}x faster than compile  target < 5 ms: {}",
        ms(precompiled),
        compile.as_secs_f64() / precompiled.as_secs_f64(),
        verdict(precompiled, Duration::from_millis(5))
    );
    println!(
        "  cached load (.cwasm)              {:>12}  {:>8.0}x faster than compile  target < 5 ms: {}",
        ms(cached),
        compile.as_secs_f64() / cached.as_secs_f64(),
        verdict(cached, Duration::from_millis(5))
    );
    println!(
        "  fresh instance + resolve call     {:>12}  {:>8.0}x faster than compile  target < 1 ms: {}",
        ms(call),
        compile.as_secs_f64() / call.as_secs_f64(),
        verdict(call, Duration::from_millis(1))
    );
}
