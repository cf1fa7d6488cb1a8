//! Captures through the real pipeline into memory: the capture-to-events
//! path of decoder tests and benchmarks, with no second packet decoder.
//!
//! [`replay`] runs libpcap ([`capture`](crate::capture)), the capture
//! thread ([`dispatch`](crate::dispatch)), the workers with their
//! reassembly and protocol sessions, and the exporter, exactly as
//! `spanlens replay` does, and keeps the NDJSON lines in memory instead of
//! writing them out. Not for production paths: events are kept unbounded.

use crate::capture::Source;
use crate::config::RawConfig;
use crate::event::EventBatch;
use crate::output::{Output, OutputError};
use crate::pipeline::{run, RunOptions};
use crate::stats::{Counters, Registry};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

/// What a replay produced.
#[derive(Debug, Default)]
pub struct Replayed {
    /// Every event's JSON line, in output order.
    pub lines: Vec<String>,
    /// The run's counters.
    pub counters: Counters,
}

impl Replayed {
    /// The events, parsed.
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON {l}: {e}")))
            .collect()
    }

    /// The events of one `type`.
    pub fn of_type(&self, t: &str) -> Vec<serde_json::Value> {
        self.events()
            .into_iter()
            .filter(|e| e["type"] == t)
            .collect()
    }
}

/// Keeps every line written.
struct Memory(Arc<Mutex<Vec<String>>>);

impl Output for Memory {
    fn write(&mut self, batch: &EventBatch, _: &mut Counters) -> Result<(), OutputError> {
        let mut lines = self
            .0
            .lock()
            .map_err(|_| OutputError::Other("poisoned".into()))?;
        for i in 0..batch.len() {
            lines.push(String::from_utf8_lossy(batch.json(i)).into_owned());
        }
        Ok(())
    }

    fn close(&mut self, _: &mut Counters) -> Result<(), OutputError> {
        Ok(())
    }
}

/// Replays `files` with the settings in `config_toml` (a spanlens config
/// file's text; `""` for the defaults) and `workers` workers.
pub fn replay(files: &[PathBuf], config_toml: &str, workers: usize) -> Result<Replayed, String> {
    let mut raw = RawConfig::parse(config_toml)?;
    raw.pipeline.workers = workers;
    raw.pipeline.pin_threads = false;
    let config = raw.validate().map_err(|e| e.to_string())?;
    let mut source =
        Source::files(files, config.raw.capture.bpf.clone()).map_err(|e| e.to_string())?;
    let lines = Arc::new(Mutex::new(Vec::new()));
    let opts = RunOptions {
        realtime: None,
        progress: false,
        stop: Arc::new(AtomicBool::new(false)),
        live: false,
        aggregate: None,
    };
    let summary = run(
        config,
        &mut source,
        Box::new(Memory(Arc::clone(&lines))),
        opts,
        &Registry::default(),
    )
    .map_err(|e| e.to_string())?;
    if let Some(e) = summary.error {
        return Err(e.to_string());
    }
    let lines = std::mem::take(&mut *lines.lock().map_err(|_| "poisoned".to_string())?);
    Ok(Replayed {
        lines,
        counters: summary.counters,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name)
    }

    #[test]
    fn replay_in_memory_equals_the_fixture_and_counts_events() {
        let r = replay(&[data("redis-cli.pcap")], "", 1).unwrap();
        let redis = r.of_type("redis");
        assert!(!redis.is_empty());
        assert_eq!(r.counters.get("events.redis"), redis.len() as u64);
        // The same with two workers (line order aside).
        let mut one = r.lines.clone();
        let mut two = replay(&[data("redis-cli.pcap")], "", 2).unwrap().lines;
        one.sort();
        two.sort();
        assert_eq!(one, two);
    }

    #[test]
    fn a_bad_config_is_an_error_not_a_panic() {
        let e = replay(&[data("redis-cli.pcap")], "[flows]\nnope = 1\n", 1).unwrap_err();
        assert!(e.contains("nope"), "{e}");
    }
}
