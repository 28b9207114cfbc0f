//! The per-call cost of an override policy written in Python (componentize-py, the
//! example `examples/plugins/python-policy`) beside one written in Rust (the example
//! `examples/plugins/corp-policy`), both loaded as third-party plugins:
//!
//!   nice -n 19 cargo bench -p stackpack-plugin --bench python_policy
//!
//! For each: the component's size, its first compile (into an empty cache), a load from
//! the `.cwasm` cache, one `describe` call and one `decide` call over 100 resources
//! (each call is a fresh instance, as in `register`), as medians, and the Python/Rust
//! ratio. Needs componentize-py (`python3 -m pip install --user
//! componentize-py==0.25.1`) and the wasm32-wasip2 target; the components are built by
//! stackpack-testkit and kept under the target dir.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use stackpack_plugin::{
    CodeSource, Grants, Limits, NoNetwork, PackContext, PackResource, PackSummary, PluginSpec,
    ResourceKind, Runtime, Verdict,
};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn spec(name: &str, wasm: &Arc<[u8]>, config: &[(&str, &str)]) -> PluginSpec {
    PluginSpec {
        name: name.into(),
        wasm: wasm.clone(),
        grants: Grants::none(),
        config: config
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        limits: Limits::default(),
    }
}

/// 100 resources of a pack `bench`: 40 actions, 20 rules, 20 sensors, 20 aliases.
fn resources() -> Vec<PackResource> {
    (0..100)
        .map(|i| {
            let (kind, prefix) = match i % 5 {
                0 | 1 => (ResourceKind::Action, "restart"),
                2 => (ResourceKind::Rule, "on"),
                3 => (ResourceKind::Sensor, "watch"),
                _ => (ResourceKind::Alias, "say"),
            };
            let name = format!("{prefix}_{i}");
            PackResource {
                kind,
                ref_: format!("bench.{name}"),
                name: name.clone(),
                enabled: true,
                file: format!("{name}.yaml"),
                metadata: vec![("description".into(), format!("resource {i}"))],
            }
        })
        .collect()
}

fn context() -> PackContext {
    PackContext {
        pack: PackSummary {
            name: "bench".into(),
            version: Some("1.0.0".into()),
            description: None,
            metadata: Vec::new(),
        },
        source: "git:github.com/example/bench@0123abcd".into(),
        environment: Some("prod".into()),
        overrides: Vec::new(),
    }
}

struct Figures {
    kib: usize,
    compile: Duration,
    load: Duration,
    describe: Duration,
    decide: Duration,
    disabled: usize,
}

fn measure(
    cache: &Path,
    name: &str,
    wasm: &Arc<[u8]>,
    config: &[(&str, &str)],
    runs: usize,
) -> Figures {
    let rt = Runtime::new(Some(cache.to_path_buf()), Arc::new(NoNetwork), false).unwrap();
    let t = Instant::now();
    let first = rt.load(spec(name, wasm, config)).unwrap();
    let compile = t.elapsed();
    assert_eq!(first.code_source(), CodeSource::Compiled);
    let load = median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                let p = rt.load(spec(name, wasm, config)).unwrap();
                assert_eq!(p.code_source(), CodeSource::Cached);
                t.elapsed()
            })
            .collect(),
    );
    let plugin = rt.load(spec(name, wasm, config)).unwrap();
    let describe = median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                plugin.describe().unwrap();
                t.elapsed()
            })
            .collect(),
    );
    let (ctx, resources) = (context(), resources());
    let mut disabled = 0;
    let decide = median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                let verdicts = plugin.decide(&ctx, &resources).unwrap().unwrap();
                let took = t.elapsed();
                disabled = verdicts
                    .iter()
                    .filter(|v| matches!(v, Verdict::Disable(_)))
                    .count();
                took
            })
            .collect(),
    );
    Figures {
        kib: wasm.len() / 1024,
        compile,
        load,
        describe,
        decide,
        disabled,
    }
}

fn main() {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let python = match stackpack_testkit::guests::example_python_policy(tmp) {
        Ok(p) => p,
        Err(why) => {
            eprintln!("python_policy bench cannot run: {why}");
            std::process::exit(1);
        }
    };
    if let Some(t) = python.built_in {
        println!(
            "built python-policy with componentize-py in {:.1} s",
            t.as_secs_f64()
        );
    }
    let rust = stackpack_testkit::guests::example(tmp, "corp-policy");
    // Each bench run compiles into a cache of its own, so the first load is a compile.
    let cache = tempfile::tempdir().unwrap();
    let r = measure(
        cache.path(),
        "corp-policy",
        &rust,
        &[("trusted-source-prefix", "git:gitlab.corp.example/")],
        200,
    );
    let p = measure(
        cache.path(),
        "python-policy",
        &python.wasm,
        &[
            ("disable", "sensor:*,bench.restart_*"),
            ("except", "restart_1"),
        ],
        30,
    );
    println!("override policy, decide over 100 resources; medians (fresh instance per call)");
    println!(
        "                          {:>14}  {:>14}  {:>8}",
        "rust (corp)", "python", "py/rust"
    );
    let row = |what: &str, a: String, b: String, ratio: f64| {
        println!("  {what:<24}{a:>14}  {b:>14}  {ratio:>7.1}x");
    };
    row(
        "component size",
        format!("{} KiB", r.kib),
        format!("{} KiB", p.kib),
        p.kib as f64 / r.kib as f64,
    );
    for (what, a, b) in [
        ("first load (compile)", r.compile, p.compile),
        ("load from cache", r.load, p.load),
        ("describe", r.describe, p.describe),
        ("decide (100 resources)", r.decide, p.decide),
    ] {
        row(what, ms(a), ms(b), b.as_secs_f64() / a.as_secs_f64());
    }
    println!(
        "  verdicts: rust disabled {} of 100 (sensors of an untrusted source), python {} of 100 (sensors, restart_* but restart_1)",
        r.disabled, p.disabled
    );
}
