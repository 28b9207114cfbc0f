//! Registering a dozen packs with a few hundred resources, measured in one run beside
//! the baseline of merely parsing the same YAML files.
//!
//!   cargo bench --bench register
//!
//! - baseline: read and YAML-parse every metadata file, in process (no validation, no
//!   policies, no database): the floor any registration pays;
//! - the registry in process: scan + validate + both override policies (the built-in
//!   `default` wasm component, with override files) + SQLite commit, per pack;
//! - the whole `stackpack register` process (register-all, the steady state: the
//!   registry exists and is updated in place), and a first registration into a fresh
//!   registry.
//!
//! Target: whole process under 200 ms.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const PACKS: usize = 12;
const ACTIONS: usize = 20;
const SENSORS: usize = 3;
const RULES: usize = 6;
const ALIASES: usize = 3;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Twelve packs, 32 content files each (sensors also declare a trigger type).
fn make_site(root: &Path) -> usize {
    let mut files = 0;
    for p in 0..PACKS {
        let name = format!("pack{p:02}");
        let dir = root.join("packs").join(&name);
        write(
            &dir.join("pack.yaml"),
            &format!(
                "name: {name}\nversion: 1.0.{p}\ndescription: bench pack\nauthor: bench\nemail: b@example.com\n"
            ),
        );
        for a in 0..ACTIONS {
            write(
                &dir.join(format!("actions/action{a}.yaml")),
                &format!(
                    "---\nname: action{a}\nrunner_type: python-script\nentry_point: action{a}.py\ndescription: Action {a} of {name}\nenabled: true\nparameters:\n  host:\n    type: string\n    required: true\n    description: Target\n  port:\n    type: integer\n    default: 22\n  tags:\n    type: array\n    items:\n      type: string\n"
                ),
            );
            files += 1;
        }
        for s in 0..SENSORS {
            write(
                &dir.join(format!("sensors/sensor{s}.yaml")),
                &format!(
                    "---\nclass_name: Sensor{s}\nentry_point: sensor{s}.py\npoll_interval: 30\ntrigger_types:\n  - name: event{s}\n    payload_schema:\n      type: object\n      properties:\n        id:\n          type: string\n"
                ),
            );
            files += 1;
        }
        for r in 0..RULES {
            write(
                &dir.join(format!("rules/rule{r}.yaml")),
                &format!(
                    "---\nname: rule{r}\nenabled: true\ntrigger:\n  type: {name}.event0\ncriteria:\n  trigger.id:\n    type: equals\n    pattern: x{r}\naction:\n  ref: {name}.action{r}\n  parameters:\n    host: \"{{{{ trigger.id }}}}\"\n"
                ),
            );
            files += 1;
        }
        for a in 0..ALIASES {
            write(
                &dir.join(format!("aliases/alias{a}.yaml")),
                &format!(
                    "---\nname: alias{a}\naction_ref: {name}.action{a}\nformats:\n  - \"run {a} on {{{{host}}}}\"\n"
                ),
            );
            files += 1;
        }
    }
    write(
        &root.join("overrides/_global.yaml"),
        "sensors:\n  defaults:\n    enabled: false\n",
    );
    write(
        &root.join("overrides/pack00.yaml"),
        "actions:\n  defaults:\n    enabled: false\n  exceptions:\n    action1:\n      enabled: true\n",
    );
    files
}

fn parse_only(root: &Path) -> usize {
    let mut n = 0;
    for p in 0..PACKS {
        let dir = root.join("packs").join(format!("pack{p:02}"));
        for kind in stackpack_registry::ResourceType::ALL {
            for file in stackpack_registry::content::metadata_files(&dir, kind) {
                let text = std::fs::read_to_string(dir.join(file)).unwrap();
                let v: serde_json::Value = stackpack_core::yaml::from_str(&text).unwrap();
                std::hint::black_box(v);
                n += 1;
            }
        }
    }
    n
}

fn register_process(root: &Path, cache: &Path) -> Duration {
    let t = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_stackpack"))
        .args(["--root"])
        .arg(root)
        .args(["--cache-dir"])
        .arg(cache)
        .args(["--json", "register"])
        .output()
        .unwrap();
    let elapsed = t.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    elapsed
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let cache = dir.path().join("cache");
    let files = make_site(&root);

    let parsed = parse_only(&root);
    assert_eq!(parsed, files);
    let parse = median(
        (0..20)
            .map(|_| {
                let t = Instant::now();
                parse_only(&root);
                t.elapsed()
            })
            .collect(),
    );

    // Compile the default policy once (the .cwasm cache), as any installed host has.
    register_process(&root, &cache);
    std::fs::remove_file(root.join("registry.db")).unwrap();
    let fresh = median(
        (0..5)
            .map(|_| {
                for f in ["registry.db", "registry.db-wal", "registry.db-shm"] {
                    let _ = std::fs::remove_file(root.join(f));
                }
                register_process(&root, &cache)
            })
            .collect(),
    );
    let steady = median((0..15).map(|_| register_process(&root, &cache)).collect());

    let resources = PACKS * (ACTIONS + 2 * SENSORS + RULES + ALIASES);
    println!(
        "register: {PACKS} packs, {files} metadata files, {resources} resources (with sensor trigger types)"
    );
    println!(
        "  baseline: read + parse the YAML only, in process  {:>10}",
        ms(parse)
    );
    let target = if steady < Duration::from_millis(200) {
        "met"
    } else {
        "MISSED"
    };
    println!(
        "  stackpack register (all), whole process          {:>10}   {:.1}x the parse-only time; target < 200 ms: {target}",
        ms(steady),
        steady.as_secs_f64() / parse.as_secs_f64()
    );
    println!(
        "  stackpack register (all), fresh registry         {:>10}",
        ms(fresh)
    );
}
