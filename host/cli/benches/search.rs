//! Search over the real 169-pack Exchange index, measured in one run beside baselines.
//!
//!   cargo bench --bench search
//!
//! - the search itself, in process, on the parsed merged index;
//! - the whole `stackpack search` process with a warm cache (an index served over
//!   HTTP on 127.0.0.1, fetched once, then read from the cache with `--offline`);
//! - baselines over the same file: `jq` and `python3` filtering names, keywords and
//!   descriptions (each also a whole process).
//!
//! Targets: whole process under 30 ms; the search itself under 5 ms.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const QUERY: &str = "monitoring";

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn time_process(n: usize, mut make: impl FnMut() -> Command) -> Option<Duration> {
    let mut times = Vec::new();
    for _ in 0..n {
        let mut cmd = make();
        let t = Instant::now();
        let out = cmd.output().ok()?;
        times.push(t.elapsed());
        if !out.status.success() {
            eprintln!("{:?} failed: {}", cmd, String::from_utf8_lossy(&out.stderr));
            return None;
        }
    }
    Some(median(times))
}

fn main() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/exchange-index.json");
    let body = std::fs::read(&file).unwrap();
    let dir = tempfile::tempdir().unwrap();

    // In process.
    let url = url::Url::from_file_path(&file).unwrap().to_string();
    let net = stackpack_fetch::Net::new(stackpack_fetch::NetConfig::default()).unwrap();
    let fetched = stackpack_index::fetch_indexes(
        &net,
        std::slice::from_ref(&url),
        &stackpack_index::FetchOptions::new(dir.path().join("idx")),
    );
    let merged = stackpack_index::merge(&fetched);
    let hits = merged.search(QUERY).len();
    let search = median(
        (0..200)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(merged.search(QUERY));
                t.elapsed()
            })
            .collect(),
    );

    // Whole process, warm cache, served over HTTP once.
    let server =
        stackpack_testkit::http::Server::start(move |_| stackpack_testkit::http::Reply::ok(&body));
    let index_url = server.url("/v1/index.json");
    let root = dir.path().join("root");
    let stackpack = |offline: bool| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_stackpack"));
        c.arg("--root").arg(&root).args(["--index", &index_url]);
        if offline {
            c.arg("--offline");
        }
        c.args(["search", QUERY]);
        c
    };
    time_process(1, || stackpack(false)).expect("first fetch");
    let process = time_process(20, || stackpack(true)).expect("stackpack search");
    let revalidate = time_process(20, || stackpack(false)).expect("stackpack search");

    let jq = time_process(10, || {
        let mut c = Command::new("jq");
        c.arg(format!(
            "[.packs[] | select(((.name // \"\") + \" \" + ((.keywords // []) | join(\" \")) + \" \" + (.description // \"\")) | ascii_downcase | contains(\"{QUERY}\")) | .name]"
        ))
        .arg(&file);
        c
    });
    let python = time_process(10, || {
        let mut c = Command::new("python3");
        c.arg("-c")
            .arg(format!(
                "import json,sys\nd=json.load(open(sys.argv[1]))\nq='{QUERY}'\nprint([k for k,e in d['packs'].items() if q in (str(e.get('name',''))+' '+' '.join(e.get('keywords',[]))+' '+str(e.get('description',''))).lower()])"
            ))
            .arg(&file);
        c
    });

    let verdict = |d: Duration, target: Duration| if d < target { "ok" } else { "MISSED" };
    println!("search {QUERY:?} over the Exchange index (169 packs, 746 KB): {hits} hits");
    println!(
        "  search itself (in process)            {:>10}   target < 5 ms: {}",
        ms(search),
        verdict(search, Duration::from_millis(5))
    );
    println!(
        "  stackpack search, warm cache          {:>10}   target < 30 ms: {}",
        ms(process),
        verdict(process, Duration::from_millis(30))
    );
    println!(
        "  stackpack search, online (refetched)  {:>10}",
        ms(revalidate)
    );
    for (name, t) in [("jq", jq), ("python3", python)] {
        match t {
            Some(t) => println!(
                "  baseline: {name:<8} (whole process)    {:>10}   stackpack is {:.1}x faster",
                ms(t),
                t.as_secs_f64() / process.as_secs_f64()
            ),
            None => println!("  baseline: {name:<8} not available"),
        }
    }
}
