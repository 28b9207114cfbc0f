//! The per-call store state and the host imports a guest may call: `log`,
//! `config-get`, `get-host-info`, and (resolver world only) `http-get`,
//! `git-list-refs`, `oci-list-tags` and `oci-get-manifest`. Every network call is
//! checked against the plugin's grants here, in one place, including each redirect hop
//! (a registry is granted as `oci://host[:port]`); the actual I/O is done by the
//! [`NetBackend`] the embedder supplies.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use url::Url;
use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, StoreLimits};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use stackpack_core::oci::OciRef;
use stackpack_net::grants::{Grants, git_remote_url};
use stackpack_net::{GetError, NetBackend, NetFailure, OciDescriptor, get_following};

use crate::bindings::resolver::stackpack::plugin::{host_base, net, types};
use crate::{API_VERSION, HOST_VERSION};

/// Limits on what one call may consume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub memory_bytes: usize,
    /// Guest execution time per call (time spent in host imports does not count).
    pub time: Duration,
    pub max_http_body: u64,
    pub max_redirects: u32,
    /// Bytes of stderr and `log` output kept per call.
    pub max_log_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 64 << 20,
            time: Duration::from_secs(5),
            max_http_body: 8 << 20,
            max_redirects: 5,
            max_log_bytes: 64 << 10,
        }
    }
}

/// Which limit a call ran into; stored in the state by the limiter and the epoch
/// callback so the trap can be reported precisely.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LimitHit {
    Time,
    Memory,
}

/// Error payload used to stop a guest; recognised again after the trap.
#[derive(Debug)]
pub(crate) struct Stopped(pub LimitHit);

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "stopped by the host: {:?} limit", self.0)
    }
}
impl std::error::Error for Stopped {}

/// The fixed context of one plugin, shared by all its calls.
pub(crate) struct PluginContext {
    pub name: String,
    pub grants: Grants,
    pub config: BTreeMap<String, String>,
    pub limits: Limits,
    pub offline: bool,
    pub net: Arc<dyn NetBackend>,
}

/// State of one store (one call).
pub(crate) struct CallState {
    pub ctx: Arc<PluginContext>,
    /// Grants of this call only, beside the plugin's own: the registry a reference
    /// names, for a plugin loaded with [`crate::Plugin::granting_named_registry`].
    pub call_grants: Grants,
    pub wasi: WasiCtx,
    pub table: ResourceTable,
    pub limits: StoreLimits,
    pub started: Instant,
    /// Time spent in host imports, which the guest's time limit does not count.
    pub host_time: Duration,
    pub hit: Option<LimitHit>,
    pub log: LogSink,
    /// Bytes of linear memory the call's instances hold together, and the most they
    /// held at once.
    pub memory_total: usize,
    pub memory_peak: usize,
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl ResourceLimiter for CallState {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // The limit holds for all the memories of a call together, however many the
        // component declares.
        let total = self
            .memory_total
            .saturating_sub(current)
            .saturating_add(desired);
        if total > self.ctx.limits.memory_bytes {
            self.hit = Some(LimitHit::Memory);
            return Err(wasmtime::Error::new(Stopped(LimitHit::Memory)));
        }
        let allowed = self.limits.memory_growing(current, desired, maximum)?;
        if allowed {
            self.memory_total = total;
            self.memory_peak = self.memory_peak.max(total);
        }
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }
    fn tables(&self) -> usize {
        self.limits.tables()
    }
    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

/// Captured plugin output (stderr and `log` calls), capped; the excess is counted and
/// dropped, never failing the guest.
#[derive(Clone, Default)]
pub(crate) struct LogSink(Arc<Mutex<LogBuf>>);

#[derive(Default)]
pub(crate) struct LogBuf {
    pub bytes: Vec<u8>,
    pub dropped: u64,
    pub cap: usize,
}

impl LogSink {
    pub fn new(cap: usize) -> LogSink {
        LogSink(Arc::new(Mutex::new(LogBuf {
            cap,
            ..LogBuf::default()
        })))
    }

    pub fn push(&self, data: &[u8]) {
        let Ok(mut buf) = self.0.lock() else { return };
        let room = buf.cap.saturating_sub(buf.bytes.len());
        let take = room.min(data.len());
        buf.bytes.extend_from_slice(&data[..take]);
        buf.dropped += (data.len() - take) as u64;
    }

    /// Takes what was captured: (text, bytes dropped).
    pub fn take(&self) -> (String, u64) {
        let Ok(mut buf) = self.0.lock() else {
            return (String::new(), 0);
        };
        let text = String::from_utf8_lossy(&buf.bytes).into_owned();
        let dropped = buf.dropped;
        buf.bytes.clear();
        buf.dropped = 0;
        (text, dropped)
    }
}

/// The guest's stderr (and stdout): everything goes to the capped log sink.
#[derive(Clone)]
pub(crate) struct StderrPipe(pub LogSink);

impl wasmtime_wasi::cli::IsTerminal for StderrPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl wasmtime_wasi::cli::StdoutStream for StderrPipe {
    fn p2_stream(&self) -> Box<dyn wasmtime_wasi::p2::OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl wasmtime_wasi::p2::OutputStream for StderrPipe {
    fn write(&mut self, bytes: bytes::Bytes) -> Result<(), wasmtime_wasi::p2::StreamError> {
        self.0.push(&bytes);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), wasmtime_wasi::p2::StreamError> {
        Ok(())
    }
    fn check_write(&mut self) -> Result<usize, wasmtime_wasi::p2::StreamError> {
        // Always accept: the sink drops what exceeds its cap instead of failing the guest.
        Ok(64 << 10)
    }
}

#[wasmtime_wasi::async_trait]
impl wasmtime_wasi::p2::Pollable for StderrPipe {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for StderrPipe {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.0.push(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

impl CallState {
    /// Runs a host-side operation, excluding its duration from the guest's time.
    fn timed<R>(&mut self, f: impl FnOnce(&PluginContext) -> R) -> R {
        let t = Instant::now();
        let r = f(&self.ctx);
        self.host_time += t.elapsed();
        r
    }
}

fn net_error(f: NetFailure) -> net::NetError {
    match f {
        NetFailure::Offline => net::NetError::Offline,
        NetFailure::Timeout => net::NetError::Timeout,
        NetFailure::TooLarge(n) => net::NetError::TooLarge(n),
        NetFailure::Transport(m) => net::NetError::Transport(m),
    }
}

fn get_error(e: GetError<String>) -> net::NetError {
    match e {
        GetError::Refused(reason) => net::NetError::Denied(reason),
        GetError::Net(f) => net_error(f),
        GetError::Redirect(r) => net::NetError::Transport(r.to_string()),
    }
}

/// Headers a guest may not set: credentials are the host's business.
const STRIPPED_HEADERS: [&str; 4] = ["authorization", "proxy-authorization", "cookie", "host"];

impl host_base::Host for CallState {
    fn log(&mut self, level: host_base::LogLevel, message: String) {
        const MAX_LINE: usize = 4096;
        let mut line = message;
        if line.len() > MAX_LINE {
            let mut cut = MAX_LINE;
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            line.truncate(cut);
            line.push('…');
        }
        let tag = match level {
            host_base::LogLevel::Trace => "trace",
            host_base::LogLevel::Debug => "debug",
            host_base::LogLevel::Info => "info",
            host_base::LogLevel::Warn => "warn",
            host_base::LogLevel::Error => "error",
        };
        self.log.push(format!("[{tag}] {line}\n").as_bytes());
    }

    fn config_get(&mut self, key: String) -> Option<String> {
        self.ctx.config.get(&key).cloned()
    }

    fn get_host_info(&mut self) -> host_base::HostInfo {
        host_base::HostInfo {
            host_version: HOST_VERSION.to_string(),
            api_version: API_VERSION.to_string(),
            offline: self.ctx.offline,
        }
    }
}

impl net::Host for CallState {
    fn http_get(&mut self, req: net::HttpRequest) -> Result<net::HttpResponse, net::NetError> {
        if self.ctx.offline {
            return Err(net::NetError::Offline);
        }
        let url = Url::parse(&req.url)
            .map_err(|e| net::NetError::Transport(format!("invalid URL: {e}")))?;
        let headers: Vec<(String, String)> = req
            .headers
            .into_iter()
            .filter(|(k, _)| !STRIPPED_HEADERS.contains(&k.to_ascii_lowercase().as_str()))
            .collect();
        // Every hop, redirects included, is checked against the grants before it is made.
        let (_, reply) = self
            .timed(|c| {
                get_following(
                    &*c.net,
                    &url,
                    &headers,
                    c.limits.max_http_body,
                    c.limits.max_redirects,
                    |hop, _| c.grants.check(hop),
                )
            })
            .map_err(get_error)?;
        Ok(net::HttpResponse {
            status: reply.status,
            headers: reply.headers,
            body: reply.body,
        })
    }

    fn oci_list_tags(&mut self, repository: String) -> Result<Vec<String>, net::NetError> {
        let reference = self.oci_granted(&repository)?;
        self.timed(|c| c.net.oci_list_tags(&reference.repository_ref()))
            .map_err(net_error)
    }

    fn oci_get_manifest(&mut self, reference: String) -> Result<net::OciManifest, net::NetError> {
        let parsed = self.oci_granted(&reference)?;
        if parsed.tag.is_none() && parsed.digest.is_none() {
            return Err(net::NetError::Transport(format!(
                "{parsed} names no manifest; add :tag or @sha256:<hex>"
            )));
        }
        let m = self
            .timed(|c| c.net.oci_manifest(&parsed))
            .map_err(net_error)?;
        let descriptor = |d: OciDescriptor| net::OciDescriptor {
            media_type: d.media_type,
            digest: d.digest,
            size: d.size,
        };
        Ok(net::OciManifest {
            digest: m.digest,
            media_type: m.media_type,
            artifact_type: m.artifact_type,
            config: descriptor(m.config),
            layers: m.layers.into_iter().map(descriptor).collect(),
            annotations: m.annotations,
        })
    }

    fn git_list_refs(&mut self, url: String) -> Result<Vec<net::RemoteRef>, net::NetError> {
        if self.ctx.offline {
            return Err(net::NetError::Offline);
        }
        let parsed = git_remote_url(&url).map_err(net::NetError::Transport)?;
        self.ctx
            .grants
            .check(&parsed)
            .map_err(net::NetError::Denied)?;
        let refs = self
            .timed(|c| c.net.git_list_refs(&url))
            .map_err(net_error)?;
        Ok(refs
            .into_iter()
            .map(|(name, commit)| net::RemoteRef { name, commit })
            .collect())
    }
}

impl CallState {
    /// Parses an `oci://` reference a guest passed and checks its registry
    /// (`oci://host[:port]`) against the plugin's grants and this call's.
    fn oci_granted(&self, text: &str) -> Result<OciRef, net::NetError> {
        if self.ctx.offline {
            return Err(net::NetError::Offline);
        }
        let reference: OciRef = text
            .parse()
            .map_err(|e: stackpack_core::CoreError| net::NetError::Transport(e.to_string()))?;
        let origin = Url::parse(&format!("oci://{}/", reference.registry))
            .map_err(|e| net::NetError::Transport(format!("{reference}: {e}")))?;
        if self.call_grants.check(&origin).is_ok() {
            return Ok(reference);
        }
        self.ctx
            .grants
            .check(&origin)
            .map_err(net::NetError::Denied)?;
        Ok(reference)
    }
}

impl types::Host for CallState {}
