//! A pack virtualenv with one small requirement from a local wheelhouse, measured in
//! one run: stackpack against the st2 way.
//!
//!   cargo bench --bench venv
//!
//! - st2 way: `python3 -m venv <dir>` (pip seeded) then `<dir>/bin/pip install -r
//!   requirements.txt --no-index --find-links <wheelhouse>`; st2 does this on every
//!   install, even when the requirements are unchanged, so it is also its "reuse" cost;
//! - stackpack cold: `stackpack --offline venv <pack>` with no venv yet;
//! - stackpack reuse: the same command again (fingerprint unchanged).
//!
//! Targets: cold at least 3x faster, reuse at least 50x faster.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn run(cmd: &mut Command) -> Duration {
    let t = Instant::now();
    let out = cmd.output().unwrap();
    let took = t.elapsed();
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let wheels = d.join("wheels");
    stackpack_testkit::build_wheel(&wheels, "tinypkg", "0.1.0", "42");

    let root = d.join("root");
    let pack = root.join("packs/pypack");
    std::fs::create_dir_all(pack.join("actions")).unwrap();
    std::fs::write(
        pack.join("pack.yaml"),
        "name: pypack\nversion: 1.0.0\ndescription: bench\nauthor: b\n",
    )
    .unwrap();
    std::fs::write(pack.join("actions/run.py"), "import tinypkg\n").unwrap();
    let requirements = pack.join("requirements.txt");
    std::fs::write(&requirements, "tinypkg==0.1.0\n").unwrap();
    let config = d.join("stackpack.toml");
    std::fs::write(
        &config,
        format!("[python]\nfind_links = [\"{}\"]\n", wheels.display()),
    )
    .unwrap();

    let st2 = median(
        (0..3)
            .map(|n| {
                let venv = d.join(format!("st2-venv-{n}"));
                let t = Instant::now();
                run(Command::new("python3").args(["-m", "venv"]).arg(&venv));
                run(Command::new(venv.join("bin/pip"))
                    .args([
                        "install",
                        "-q",
                        "--disable-pip-version-check",
                        "--no-index",
                        "--find-links",
                    ])
                    .arg(&wheels)
                    .arg("-r")
                    .arg(&requirements));
                t.elapsed()
            })
            .collect(),
    );

    let stackpack = |root: &Path| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_stackpack"));
        c.arg("--root")
            .arg(root)
            .arg("--config")
            .arg(&config)
            .args(["--offline", "venv", "pypack", "--json"]);
        c
    };
    let venv_dir = root.join("virtualenvs/pypack");
    let cold = median(
        (0..3)
            .map(|_| {
                let _ = std::fs::remove_dir_all(&venv_dir);
                run(&mut stackpack(&root))
            })
            .collect(),
    );
    let reuse = median((0..10).map(|_| run(&mut stackpack(&root))).collect());
    let out = stackpack(&root).output().unwrap();
    let installer = serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .ok()
        .and_then(|v| v["installer"].as_str().map(str::to_string))
        .unwrap_or_default();

    // The same with pip as the installer (no uv on the machine).
    let pip_config = d.join("pip.toml");
    std::fs::write(
        &pip_config,
        format!(
            "[python]\ninstaller = \"pip\"\nfind_links = [\"{}\"]\n",
            wheels.display()
        ),
    )
    .unwrap();
    let pip_cold = median(
        (0..3)
            .map(|_| {
                let _ = std::fs::remove_dir_all(&venv_dir);
                let mut c = stackpack(&root);
                c.arg("--config").arg(&pip_config);
                run(&mut c)
            })
            .collect(),
    );

    let verdict = |ok: bool| if ok { "ok" } else { "MISSED" };
    let cold_ratio = st2.as_secs_f64() / cold.as_secs_f64();
    let reuse_ratio = st2.as_secs_f64() / reuse.as_secs_f64();
    println!(
        "pack venv with one requirement from a local wheelhouse (stackpack installer: {installer})"
    );
    println!(
        "  st2 way (python3 -m venv + pip install -r)  {:>10}",
        ms(st2)
    );
    println!(
        "  stackpack cold                              {:>10}  {cold_ratio:>6.1}x faster  target >= 3x: {}",
        ms(cold),
        verdict(cold_ratio >= 3.0)
    );
    println!(
        "  stackpack cold, pip as the installer        {:>10}  {:>6.1}x faster",
        ms(pip_cold),
        st2.as_secs_f64() / pip_cold.as_secs_f64()
    );
    println!(
        "  stackpack reuse (whole process)             {:>10}  {reuse_ratio:>6.0}x faster  target >= 50x: {}",
        ms(reuse),
        verdict(reuse_ratio >= 50.0)
    );
}
