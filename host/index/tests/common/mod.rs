//! Test servers on 127.0.0.1 (stackpack-testkit's HTTP server, and a raw TCP one that
//! can hang) and helpers shared by the integration tests.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use stackpack_fetch::{Net, NetConfig};
#[allow(unused_imports)]
pub use stackpack_testkit::http::{Reply, Seen, Server};

/// The real network client, with a short timeout.
pub fn net() -> Net {
    Net::new(NetConfig {
        timeout: Some(Duration::from_millis(500)),
        ..Default::default()
    })
    .unwrap()
}

/// An index document with `(key, version)` packs.
pub fn index_json(packs: &[(&str, &str)]) -> Vec<u8> {
    let packs: serde_json::Map<String, serde_json::Value> = packs
        .iter()
        .map(|(key, version)| {
            (
                key.to_string(),
                serde_json::json!({"name": key, "ref": key, "version": version,
                                   "description": format!("the {key} pack")}),
            )
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({"metadata": {}, "packs": packs})).unwrap()
}

/// A raw TCP server that answers `body` with 200 until told to hang; a hanging server
/// accepts connections and never answers (nor closes them).
/// Raw TCP rather than testkit's [`Server`]: it counts connections and hangs before
/// reading, so a second request to a hanging server is still counted.
pub struct Flaky {
    pub base: String,
    hang: Arc<AtomicBool>,
    hits: Arc<AtomicUsize>,
}

impl Flaky {
    pub fn start(body: Vec<u8>, hang: bool) -> Flaky {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let flag = Arc::new(AtomicBool::new(hang));
        let hits = Arc::new(AtomicUsize::new(0));
        let (f, h) = (flag.clone(), hits.clone());
        // Detached: it lives as long as the test process.
        std::thread::spawn(move || {
            let mut held: Vec<TcpStream> = Vec::new();
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                h.fetch_add(1, Ordering::SeqCst);
                if f.load(Ordering::SeqCst) {
                    held.push(stream);
                    continue;
                }
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&body);
            }
        });
        Flaky {
            base: format!("127.0.0.1:{port}"),
            hang: flag,
            hits,
        }
    }

    pub fn hang(&self) {
        self.hang.store(true, Ordering::SeqCst);
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// `http://<userinfo><host:port><path>`.
    pub fn url(&self, userinfo: &str, path: &str) -> String {
        format!("http://{userinfo}{}{path}", self.base)
    }
}

/// Files in a directory (for asserting on the cache).
pub fn files_in(dir: &std::path::Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
