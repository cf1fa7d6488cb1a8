//! The Prometheus endpoint: `GET /metrics` answers every counter in the text
//! exposition format, names prefixed `spanlens_` (dots become underscores).
//! A tiny blocking HTTP/1.0 responder on its own thread; it serves one
//! request per connection and nothing else.

use crate::stats::{Counters, Registry};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Counters that go up and down (current sizes and depths).
fn is_gauge(name: &str) -> bool {
    name.starts_with("flows.active")
        || name.contains("queue_depth")
        || name.ends_with("queue_bytes")
        || name.ends_with("spool_bytes")
        || name == "pipeline.workers"
}

/// Renders counters in the Prometheus text format.
pub fn render(c: &Counters) -> String {
    let mut out = String::new();
    for (name, v) in c.iter() {
        let metric: String = std::iter::once("spanlens_")
            .chain(std::iter::once(name))
            .collect::<String>()
            .chars()
            .map(|ch| {
                if ch.is_ascii_alphanumeric() || ch == '_' {
                    ch
                } else {
                    '_'
                }
            })
            .collect();
        let kind = if is_gauge(name) { "gauge" } else { "counter" };
        out.push_str(&format!("# TYPE {metric} {kind}\n{metric} {v}\n"));
    }
    out
}

/// Binding the metrics address failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot serve metrics on {addr}: {source}; choose a free address with --metrics")]
pub struct MetricsError {
    /// The address.
    pub addr: String,
    /// The OS error.
    pub source: std::io::Error,
}

/// Binds `addr` and serves `/metrics` from `registry` until `stop`.
pub fn serve(
    addr: &str,
    registry: Registry,
    stop: Arc<AtomicBool>,
) -> Result<SocketAddr, MetricsError> {
    let err = |source| MetricsError {
        addr: addr.to_string(),
        source,
    };
    let listener = TcpListener::bind(addr).map_err(err)?;
    let local = listener.local_addr().map_err(err)?;
    listener.set_nonblocking(true).map_err(err)?;
    std::thread::Builder::new()
        .name("spanlens-metrics".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((s, _)) => {
                        let _ = answer(s, &registry);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        })
        .map_err(err)?;
    Ok(local)
}

fn answer(mut s: TcpStream, registry: &Registry) -> std::io::Result<()> {
    s.set_nonblocking(false)?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut buf = [0u8; 2048];
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
    let path = head.split_whitespace().nth(1).unwrap_or("");
    let (status, body, ctype) = if path == "/metrics" || path.starts_with("/metrics?") {
        (
            "200 OK",
            render(&registry.total()),
            "text/plain; version=0.0.4",
        )
    } else {
        ("404 Not Found", "try /metrics\n".to_string(), "text/plain")
    };
    write!(
        s,
        "HTTP/1.0 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let mut c = Counters::new();
        c.add("capture.packets", 42);
        c.set("flows.active", 3);
        c.add("output.es.docs_indexed", 5);
        let t = render(&c);
        assert!(
            t.contains("# TYPE spanlens_capture_packets counter\nspanlens_capture_packets 42\n"),
            "{t}"
        );
        assert!(
            t.contains("# TYPE spanlens_flows_active gauge\nspanlens_flows_active 3\n"),
            "{t}"
        );
        assert!(t.contains("spanlens_output_es_docs_indexed 5"), "{t}");
    }

    #[test]
    fn serves_metrics_over_http() {
        let reg = Registry::default();
        let slot = reg.slot();
        let mut c = Counters::new();
        c.add("capture.packets", 9);
        slot.publish(&c);
        let stop = Arc::new(AtomicBool::new(false));
        let addr = serve("127.0.0.1:0", reg, Arc::clone(&stop)).unwrap();
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        assert!(text.starts_with("HTTP/1.0 200 OK"), "{text}");
        assert!(text.contains("spanlens_capture_packets 9"), "{text}");
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        assert!(text.starts_with("HTTP/1.0 404"), "{text}");
        stop.store(true, Ordering::Relaxed);
    }
}
