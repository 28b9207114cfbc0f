//! Test servers on 127.0.0.1 and helpers shared by the integration tests.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use stackpack_fetch::{Net, NetConfig};

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

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    /// Names lowercased.
    pub headers: Vec<(String, String)>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == &name.to_ascii_lowercase())
            .map(|(_, v)| v.as_str())
    }
}

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn ok(body: Vec<u8>) -> Reply {
        Reply::status(200, body)
    }
    pub fn status(status: u16, body: Vec<u8>) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body,
        }
    }
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }
}

/// A tiny_http server answering every request with `handler`, recording what it saw.
pub struct Server {
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    pub base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    pub fn start(handler: impl Fn(&Seen) -> Reply + Send + 'static) -> Server {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let port = server.server_addr().to_ip().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (s, log) = (server.clone(), seen.clone());
        let thread = std::thread::spawn(move || {
            for req in s.incoming_requests() {
                let request = Seen {
                    path: req.url().to_string(),
                    headers: req
                        .headers()
                        .iter()
                        .map(|h| {
                            (
                                h.field.as_str().as_str().to_ascii_lowercase(),
                                h.value.as_str().to_string(),
                            )
                        })
                        .collect(),
                };
                let reply = handler(&request);
                log.lock().unwrap().push(request);
                let mut resp = tiny_http::Response::from_data(reply.body)
                    .with_status_code(tiny_http::StatusCode(reply.status));
                for (name, value) in reply.headers {
                    resp.add_header(tiny_http::Header::from_bytes(name, value).unwrap());
                }
                let _ = req.respond(resp);
            }
        });
        Server {
            server,
            thread: Some(thread),
            base: format!("http://127.0.0.1:{port}"),
            seen,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A raw TCP server that answers `body` with 200 until told to hang; a hanging server
/// accepts connections and never answers (nor closes them).
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
