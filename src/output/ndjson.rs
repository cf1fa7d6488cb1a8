//! NDJSON output: one event per line to stdout or to a file.
//!
//! A file is opened for appending (an earlier run's events are kept) and
//! reopened after SIGHUP ([`request_reopen`], called by the monitor
//! thread), so logrotate can move it away and a new file starts.

use super::{Output, OutputError};
use crate::event::EventBatch;
use crate::stats::Counters;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Bumped once per SIGHUP; a file output reopens when it sees a new value.
static REOPEN: AtomicU64 = AtomicU64::new(0);

/// Asks every NDJSON file output to reopen its file (at its next write or
/// idle tick, from the exporter thread).
pub fn request_reopen() {
    REOPEN.fetch_add(1, Ordering::Relaxed);
}

/// Writes events as NDJSON.
pub struct NdjsonOutput {
    path: Option<PathBuf>,
    out: BufWriter<Box<dyn Write + Send>>,
    generation: u64,
    /// Events written into the buffer since the last successful flush:
    /// counted as written once flushed, as failed if the flush fails.
    pending: u64,
}

fn open_append(path: &Path) -> Result<File, OutputError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| OutputError::Io {
            path: path.display().to_string(),
            source,
        })
}

impl NdjsonOutput {
    /// Standard output.
    pub fn stdout() -> Self {
        NdjsonOutput {
            path: None,
            out: BufWriter::with_capacity(64 * 1024, Box::new(std::io::stdout())),
            generation: REOPEN.load(Ordering::Relaxed),
            pending: 0,
        }
    }

    /// A file, created or appended to.
    pub fn file(path: PathBuf) -> Result<Self, OutputError> {
        let f = open_append(&path)?;
        Ok(NdjsonOutput {
            path: Some(path),
            out: BufWriter::with_capacity(64 * 1024, Box::new(f)),
            generation: REOPEN.load(Ordering::Relaxed),
            pending: 0,
        })
    }

    fn err(&self, source: std::io::Error) -> OutputError {
        OutputError::Io {
            path: self
                .path
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "stdout".into()),
            source,
        }
    }

    /// Flushes; the events buffered so far become written, or failed.
    fn flush(&mut self, counters: &mut Counters) -> Result<(), OutputError> {
        let n = std::mem::take(&mut self.pending);
        match self.out.flush() {
            Ok(()) => {
                counters.add("output.events_written", n);
                Ok(())
            }
            Err(e) => {
                counters.add("output.errors", 1);
                counters.add("output.events_failed", n);
                Err(self.err(e))
            }
        }
    }

    /// Reopens the file when a SIGHUP came since the last check.
    fn maybe_reopen(&mut self, counters: &mut Counters) -> Result<(), OutputError> {
        let g = REOPEN.load(Ordering::Relaxed);
        if g == self.generation {
            return Ok(());
        }
        self.generation = g;
        let Some(path) = self.path.clone() else {
            return Ok(());
        };
        self.flush(counters)?;
        let f = open_append(&path)?;
        self.out = BufWriter::with_capacity(64 * 1024, Box::new(f));
        counters.add("output.reopened", 1);
        tracing::info!("output file {} reopened (SIGHUP)", path.display());
        Ok(())
    }
}

impl Output for NdjsonOutput {
    fn write(&mut self, batch: &EventBatch, counters: &mut Counters) -> Result<(), OutputError> {
        self.maybe_reopen(counters)?;
        // Large batches bypass the BufWriter's copy (it flushes first, so
        // the order of lines is kept).
        if let Err(e) = self.out.write_all(&batch.buf) {
            // What the buffer held may be partly out: count it all failed.
            let n = std::mem::take(&mut self.pending) + batch.len() as u64;
            counters.add("output.errors", 1);
            counters.add("output.events_failed", n);
            return Err(self.err(e));
        }
        self.pending += batch.len() as u64;
        Ok(())
    }

    fn idle(&mut self, counters: &mut Counters) -> Result<(), OutputError> {
        self.flush(counters)?;
        self.maybe_reopen(counters)
    }

    fn close(&mut self, counters: &mut Counters) -> Result<(), OutputError> {
        self.flush(counters)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(n: u32) -> EventBatch {
        let mut b = EventBatch::default();
        for i in 0..n {
            b.push(1_700_000_000_000_000_000, 1, i, |w| {
                w.u64("n", u64::from(i))
            });
        }
        b
    }

    #[test]
    fn appends_and_reopens_after_a_rename() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.ndjson");
        std::fs::write(&path, "{\"earlier\":1}\n").unwrap();
        let mut c = Counters::new();
        let mut o = NdjsonOutput::file(path.clone()).unwrap();
        o.write(&batch(2), &mut c).unwrap();
        o.idle(&mut c).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 3);
        // logrotate moves the file, then signals.
        let rotated = dir.path().join("events.ndjson.1");
        std::fs::rename(&path, &rotated).unwrap();
        request_reopen();
        o.write(&batch(1), &mut c).unwrap();
        o.close(&mut c).unwrap();
        assert_eq!(
            std::fs::read_to_string(&rotated).unwrap().lines().count(),
            3
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 1);
        assert!(c.get("output.reopened") >= 1);
    }
}
