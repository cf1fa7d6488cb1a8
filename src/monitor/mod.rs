//! Self-monitoring: the periodic stats line, the Prometheus `/metrics`
//! endpoint and log output that can be reopened on SIGHUP.
//!
//! Everything here reads the per-thread snapshots in
//! [`stats::Registry`](crate::stats::Registry); nothing touches a counter a
//! pipeline thread is writing, and nothing here runs on the packet path.

pub mod log;
pub mod metrics;

use crate::stats::{Counters, Registry};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One stats line from two snapshots `secs` apart.
pub fn stats_line(prev: &Counters, now: &Counters, secs: f64) -> String {
    let secs = secs.max(1e-9);
    let rate = |k: &str| now.get(k).saturating_sub(prev.get(k)) as f64 / secs;
    let queues: Vec<String> = now
        .iter()
        .filter(|(k, _)| k.starts_with("pipeline.queue_depth_worker"))
        .map(|(k, v)| format!("w{}={v}", &k["pipeline.queue_depth_worker".len()..]))
        .collect();
    format!(
        "stats: {:.0} packets/s, {:.2} Mbit/s, {:.0} events/s; drops kernel={} interface={} queue={} output={}; queues [{}] exporter={}; flows {}; es queue_bytes={} spool_bytes={}",
        rate("capture.packets"),
        rate("capture.bytes") * 8.0 / 1e6,
        rate("output.events"),
        now.get("capture.kernel_dropped"),
        now.get("capture.interface_dropped"),
        now.get("capture.queue_dropped_packets"),
        now.get("output.events_failed") + now.get("output.es.dropped"),
        queues.join(" "),
        now.get("pipeline.exporter_queue_depth"),
        now.get("flows.active"),
        now.get("output.es.queue_bytes"),
        now.get("output.es.spool_bytes"),
    )
}

/// Runs until `stop` (set it, then `unpark` the thread): every `interval`
/// logs a stats line, and reopens the log file whenever `hup` is set.
pub fn reporter(
    registry: Registry,
    interval: Duration,
    stop: Arc<AtomicBool>,
    hup: Arc<AtomicBool>,
) {
    let mut prev = registry.total();
    let mut last = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        // Parked rather than slept, so the caller can wake it at shutdown.
        std::thread::park_timeout(Duration::from_millis(100));
        if hup.swap(false, Ordering::Relaxed) {
            log::reopen();
            crate::output::ndjson::request_reopen();
            tracing::info!("log file reopened (SIGHUP)");
        }
        if !interval.is_zero() && last.elapsed() >= interval {
            let now = registry.total();
            tracing::info!("{}", stats_line(&prev, &now, last.elapsed().as_secs_f64()));
            prev = now;
            last = Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_line_reports_rates_and_drops() {
        let mut a = Counters::new();
        a.add("capture.packets", 100);
        a.add("capture.bytes", 1_000_000);
        let mut b = a.clone();
        b.add("capture.packets", 2000);
        b.add("capture.bytes", 2_500_000);
        b.add("capture.kernel_dropped", 7);
        b.set("pipeline.queue_depth_worker0", 3);
        b.set("flows.active", 12);
        let line = stats_line(&a, &b, 2.0);
        assert!(line.contains("1000 packets/s"), "{line}");
        assert!(line.contains("10.00 Mbit/s"), "{line}");
        assert!(line.contains("kernel=7"), "{line}");
        assert!(line.contains("w0=3"), "{line}");
        assert!(line.contains("flows 12"), "{line}");
    }
}
