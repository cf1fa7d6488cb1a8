//! The live page and the collector behind it and behind `--report`.
//!
//! Workers seal aggregator intervals at packet-time ticks and send them
//! over a bounded channel (never blocking; a full channel is counted as
//! `report.chunks_dropped`). One collector thread merges them into the run's
//! aggregate; for the live page it keeps a bounded ring of intervals
//! (`[report] ring_intervals`, counted in `bounds.ring` when intervals age
//! out). The page server (`--ui ADDR`, `[ui] listen`) is read-only: `GET /`
//! is the report page, `GET /data.json` its model, rebuilt on request from
//! the ring and the live counters; it binds to loopback unless told
//! otherwise.

use crate::aggregate::{AggConfig, Aggregator};
use crate::stats::Registry;
use crossbeam_channel::{bounded, Sender};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// `[ui]`: the live page.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UiConfig {
    /// `ip:port` to serve the live page on (e.g. `127.0.0.1:9900`); unset
    /// means no page. A non-loopback address serves it to the network.
    pub listen: Option<String>,
}

impl UiConfig {
    /// Checks the address.
    pub fn check(&self) -> Result<(), String> {
        match &self.listen {
            Some(a) => a.parse::<SocketAddr>().map(|_| ()).map_err(|_| {
                format!("'{a}' is not ip:port (e.g. 127.0.0.1:9900, which serves only this host)")
            }),
            None => Ok(()),
        }
    }
}

/// The aggregate a run builds, shared with the page server.
pub type Shared = Arc<Mutex<Aggregator>>;

/// Where sealed intervals go besides the run's aggregate (summaries).
pub type Sink = Box<dyn FnMut(&Aggregator) + Send>;

/// Merges sealed intervals from the workers.
pub struct Collector {
    shared: Shared,
    handle: JoinHandle<()>,
}

/// Room for sealed chunks in flight (one per worker per tick).
const CHUNKS: usize = 4096;

impl Collector {
    /// Starts the collector; workers get clones of the sender. `ring`
    /// keeps only the last `ring_intervals` intervals (live page).
    pub fn start(
        cfg: AggConfig,
        ring: bool,
    ) -> std::io::Result<(Sender<Box<Aggregator>>, Collector)> {
        Self::start_with(cfg, ring, None)
    }

    /// As [`Self::start`], and every sealed interval also goes to `sink`
    /// (the Elasticsearch summaries): with `sink.1` (live), intervals two
    /// behind the newest seen as they age, else everything once at the end.
    pub fn start_with(
        cfg: AggConfig,
        ring: bool,
        sink: Option<(Sink, bool)>,
    ) -> std::io::Result<(Sender<Box<Aggregator>>, Collector)> {
        let (tx, rx) = bounded::<Box<Aggregator>>(CHUNKS);
        let shared: Shared = Arc::new(Mutex::new(Aggregator::new(cfg)));
        let s = Arc::clone(&shared);
        let handle = std::thread::Builder::new()
            .name("spanlens-collect".into())
            .spawn(move || {
                let mut pending = Aggregator::new(cfg);
                let mut newest = 0u64;
                let mut sink = sink;
                let i = cfg.interval_secs.max(1);
                for chunk in rx {
                    if let Some((f, live)) = sink.as_mut() {
                        pending.merge(&chunk);
                        if *live {
                            newest =
                                newest.max(chunk.stats().map(|(k, _)| k.start).max().unwrap_or(0));
                            let old = pending.take_before(newest.saturating_sub(2 * i));
                            if !old.is_empty() {
                                f(&old);
                            }
                        }
                    }
                    let mut a = s.lock().unwrap_or_else(|e| e.into_inner());
                    a.merge(&chunk);
                    if ring {
                        a.trim_ring();
                    }
                }
                if let Some((f, _)) = sink.as_mut() {
                    if !pending.is_empty() {
                        f(&pending);
                    }
                }
            })?;
        Ok((tx, Collector { shared, handle }))
    }

    /// The shared aggregate (for the page server).
    pub fn shared(&self) -> Shared {
        Arc::clone(&self.shared)
    }

    /// Waits until every sender is gone; returns the run's aggregate.
    pub fn finish(self) -> Aggregator {
        let _ = self.handle.join();
        let mut a = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut *a)
    }
}

/// The page server could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot serve the live page on {addr}: {source}; choose a free address with --ui")]
pub struct UiError {
    addr: String,
    source: std::io::Error,
}

/// Serves the live page until `stop` is set; returns the bound address.
pub fn serve(
    addr: &str,
    shared: Shared,
    registry: Registry,
    stop: Arc<AtomicBool>,
) -> Result<SocketAddr, UiError> {
    let err = |source| UiError {
        addr: addr.to_string(),
        source,
    };
    // Built once: the page is the same every time, only data.json changes.
    let page =
        super::render_page(None, true).map_err(|e| err(std::io::Error::other(e.to_string())))?;
    let listener = TcpListener::bind(addr).map_err(err)?;
    let local = listener.local_addr().map_err(err)?;
    listener.set_nonblocking(true).map_err(err)?;
    if !local.ip().is_loopback() {
        tracing::warn!("the live page on {local} is reachable from the network (read-only)");
    }
    std::thread::Builder::new()
        .name("spanlens-ui".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((s, _)) => {
                        let _ = answer(s, &page, &shared, &registry);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        })
        .map_err(err)?;
    Ok(local)
}

fn answer(
    mut s: TcpStream,
    page: &str,
    shared: &Shared,
    registry: &Registry,
) -> std::io::Result<()> {
    s.set_nonblocking(false)?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut buf = [0u8; 4096];
    let mut n = 0;
    while n < buf.len() {
        let k = s.read(&mut buf[n..])?;
        if k == 0 {
            break;
        }
        n += k;
        if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    let head = String::from_utf8_lossy(&buf[..n]);
    let mut parts = head.split_whitespace();
    let method = parts.next().unwrap_or("");
    let path = parts.next().unwrap_or("");
    let path = path.split('?').next().unwrap_or("");
    let (status, ctype, body) = match (method, path) {
        ("GET", "/") | ("GET", "/index.html") => {
            ("200 OK", "text/html; charset=utf-8", page.to_string())
        }
        ("GET", "/data.json") => {
            // Copy under the lock, build outside it.
            let agg = shared.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let sensor = registry.total().to_json();
            let model = super::model::build(&agg, Some(&sensor), &["live".to_string()]);
            ("200 OK", "application/json", model.to_string())
        }
        ("GET", _) => ("404 Not Found", "text/plain", "try /\n".to_string()),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "read-only: GET only\n".to_string(),
        ),
    };
    write!(
        s,
        "HTTP/1.0 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    s.write_all(body.as_bytes())
}
