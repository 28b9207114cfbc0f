//! Loopback HTTP(S) servers for tests. One response type, [`Reply`], and one server
//! core, [`Server`]: a tiny_http loop on 127.0.0.1 that answers each request with a
//! handler and records what it saw ([`Seen`]). Built on them: [`http_server`] (a route
//! table), [`https_server`] (the same over TLS, with a CA made per call) and
//! [`hanging_server`] (accepts connections, never answers).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

/// One HTTP response.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    /// 200 with `body`.
    pub fn ok(body: impl AsRef<[u8]>) -> Reply {
        Reply::status(200, body)
    }

    /// `status` with `body`.
    pub fn status(status: u16, body: impl AsRef<[u8]>) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: body.as_ref().to_vec(),
        }
    }

    /// 302 to `to`, with an empty body.
    pub fn redirect(to: &str) -> Reply {
        Reply::status(302, b"").header("Location", to)
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }

    fn into_response(self) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
        let mut response = tiny_http::Response::from_data(self.body).with_status_code(self.status);
        for (name, value) in self.headers {
            response.add_header(
                tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes())
                    .expect("a valid header"),
            );
        }
        response
    }
}

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// The request target as sent: path and query (the absolute URL through a proxy).
    pub path: String,
    /// In the order sent, names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    /// The first value of the header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn read(request: &mut tiny_http::Request) -> Seen {
        let mut body = Vec::new();
        let _ = request.as_reader().read_to_end(&mut body);
        Seen {
            method: request.method().as_str().to_owned(),
            path: request.url().to_owned(),
            headers: request
                .headers()
                .iter()
                .map(|h| {
                    (
                        h.field.as_str().as_str().to_ascii_lowercase(),
                        h.value.as_str().to_owned(),
                    )
                })
                .collect(),
            body,
        }
    }
}

/// A tiny_http server on 127.0.0.1 answering every request, one at a time, with its
/// handler, and recording each request (before answering it). Dropping it stops the
/// server; [`Server::detach`] leaves it running for the rest of the test process.
pub struct Server {
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    pub fn start(handler: impl Fn(&Seen) -> Reply + Send + 'static) -> Server {
        let server =
            Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind a loopback server"));
        let addr = server.server_addr().to_ip().expect("an IP address");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (s, log) = (server.clone(), seen.clone());
        let thread = std::thread::spawn(move || {
            for mut request in s.incoming_requests() {
                let saw = Seen::read(&mut request);
                lock(&log).push(saw.clone());
                let _ = request.respond(handler(&saw).into_response());
            }
        });
        Server {
            server,
            thread: Some(thread),
            base: format!("http://{addr}"),
            seen,
        }
    }

    /// The base URL followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<Seen> {
        lock(&self.seen).clone()
    }

    /// How many requests so far.
    pub fn count(&self) -> usize {
        lock(&self.seen).len()
    }

    /// Leaves the server running until the test process ends; returns its base URL.
    pub fn detach(mut self) -> String {
        // Dropping the handle detaches the thread, which keeps the server alive.
        self.thread.take();
        std::mem::take(&mut self.base)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.server.unblock();
            let _ = thread.join();
        }
    }
}

fn lock(seen: &Mutex<Vec<Seen>>) -> std::sync::MutexGuard<'_, Vec<Seen>> {
    seen.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The reply for `path` from a route table, 404 when it has none.
fn route(routes: &[(String, Reply)], path: &str) -> Reply {
    routes
        .iter()
        .find(|(p, _)| p == path)
        .map(|(_, r)| r.clone())
        .unwrap_or_else(|| Reply::status(404, "not found"))
}

fn owned_routes(routes: Vec<(&str, Reply)>) -> Vec<(String, Reply)> {
    routes.into_iter().map(|(p, r)| (p.to_owned(), r)).collect()
}

/// A loopback HTTP server answering from a route table (the request target as sent,
/// query included), for the rest of the test process; returns its base URL.
pub fn http_server(routes: Vec<(&str, Reply)>) -> String {
    let routes = owned_routes(routes);
    Server::start(move |request| route(&routes, &request.path)).detach()
}

/// A loopback HTTPS server answering from a route table (HTTP/1.1, one request per
/// connection), with a certificate for 127.0.0.1 issued by a CA made for this call.
/// Returns its base URL and the CA certificate's PEM, for a CA bundle.
pub fn https_server(routes: Vec<(&str, Reply)>) -> (String, String) {
    let (config, ca_pem) = tls_config();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback server");
    let base = format!(
        "https://{}",
        listener.local_addr().expect("the listener's address")
    );
    let routes = Arc::new(owned_routes(routes));
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let (config, routes) = (config.clone(), routes.clone());
            std::thread::spawn(move || {
                let conn = rustls::ServerConnection::new(config).expect("a TLS connection");
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                let mut request_line = String::new();
                {
                    // A client that rejects the certificate ends the handshake here.
                    let mut reader = BufReader::new(&mut tls);
                    if reader.read_line(&mut request_line).is_err() {
                        return;
                    }
                    let mut line = String::new();
                    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                        line.clear();
                    }
                }
                let path = request_line.split_whitespace().nth(1).unwrap_or("/");
                let reply = route(&routes, path);
                let mut head = format!(
                    "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                    reply.status,
                    reply.body.len()
                );
                for (k, v) in &reply.headers {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str("\r\n");
                let _ = tls.write_all(head.as_bytes());
                let _ = tls.write_all(&reply.body);
                tls.conn.send_close_notify();
                let _ = tls.flush();
            });
        }
    });
    (base, ca_pem)
}

/// A CA made for one test and a server certificate for 127.0.0.1 it issued, all PEM.
pub struct TestPki {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
    cert_der: rustls::pki_types::CertificateDer<'static>,
    key_der: Vec<u8>,
}

/// A fresh CA and a server certificate for 127.0.0.1 issued by it.
pub fn test_pki() -> TestPki {
    let ca_key = rcgen::KeyPair::generate().expect("a CA key");
    let mut ca_params =
        rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA certificate params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "stackpack test CA");
    let ca = ca_params.self_signed(&ca_key).expect("a CA certificate");
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let leaf_key = rcgen::KeyPair::generate().expect("a server key");
    let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .expect("server certificate params")
        .signed_by(&leaf_key, &issuer)
        .expect("a server certificate");
    TestPki {
        ca_pem: ca.pem(),
        cert_pem: leaf.pem(),
        key_pem: leaf_key.serialize_pem(),
        cert_der: leaf.der().clone(),
        key_der: leaf_key.serialize_der(),
    }
}

/// A TLS server config with a certificate for 127.0.0.1 issued by a CA made for this
/// call, and that CA's PEM.
fn tls_config() -> (Arc<rustls::ServerConfig>, String) {
    let pki = test_pki();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![pki.cert_der],
            rustls::pki_types::PrivateKeyDer::Pkcs8(pki.key_der.into()),
        )
        .expect("a TLS server config");
    (Arc::new(config), pki.ca_pem)
}

/// A server that answers every request with status 200 and a `Content-Length` of
/// `length`, then sends the body one byte (`x`) every `interval`, never faster, and
/// never closes early: a client whose timeout applies per read waits for ever. Over
/// TLS when `tls` (then the CA's PEM is returned too). For the rest of the test
/// process; returns its base URL.
pub fn trickle_server(
    length: u64,
    interval: std::time::Duration,
    tls: bool,
) -> (String, Option<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback server");
    let addr = listener.local_addr().expect("the listener's address");
    let tls = tls.then(tls_config);
    let ca = tls.as_ref().map(|(_, pem)| pem.clone());
    let config = tls.map(|(c, _)| c);
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let config = config.clone();
            std::thread::spawn(move || {
                let stream: Box<dyn ReadWrite> = match config {
                    Some(config) => {
                        let conn = rustls::ServerConnection::new(config).expect("a TLS connection");
                        Box::new(rustls::StreamOwned::new(conn, tcp))
                    }
                    None => Box::new(tcp),
                };
                let mut reader = BufReader::new(stream);
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let stream = reader.get_mut();
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {length}\r\n\r\n");
                if stream.write_all(head.as_bytes()).is_err() {
                    return;
                }
                for _ in 0..length {
                    if stream
                        .write_all(b"x")
                        .and_then(|()| stream.flush())
                        .is_err()
                    {
                        return;
                    }
                    std::thread::sleep(interval);
                }
            });
        }
    });
    let scheme = if ca.is_some() { "https" } else { "http" };
    (format!("{scheme}://{addr}"), ca)
}

trait ReadWrite: std::io::Read + Write + Send {}
impl<T: std::io::Read + Write + Send> ReadWrite for T {}

/// A server that accepts connections and never answers (nor closes them), for the
/// rest of the test process. Returns its base URL.
pub fn hanging_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback server");
    let base = format!(
        "http://{}",
        listener.local_addr().expect("the listener's address")
    );
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    base
}
