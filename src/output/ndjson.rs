//! NDJSON output: one event per line to stdout or to a file.

use super::{Output, OutputError};
use crate::event::EventBatch;
use crate::stats::Counters;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

/// Writes events as NDJSON.
pub struct NdjsonOutput {
    path: Option<PathBuf>,
    out: BufWriter<Box<dyn Write + Send>>,
}

impl NdjsonOutput {
    /// Standard output.
    pub fn stdout() -> Self {
        NdjsonOutput {
            path: None,
            out: BufWriter::with_capacity(64 * 1024, Box::new(std::io::stdout())),
        }
    }

    /// A file, created or truncated.
    pub fn file(path: PathBuf) -> Result<Self, OutputError> {
        let f = File::create(&path).map_err(|source| OutputError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Ok(NdjsonOutput {
            path: Some(path),
            out: BufWriter::with_capacity(64 * 1024, Box::new(f)),
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
}

impl Output for NdjsonOutput {
    fn write(&mut self, batch: &EventBatch, counters: &mut Counters) -> Result<(), OutputError> {
        // Large batches bypass the BufWriter's copy (it flushes first, so
        // the order of lines is kept).
        if let Err(e) = self.out.write_all(&batch.buf) {
            counters.add("output.errors", 1);
            counters.add("output.events_failed", batch.len() as u64);
            return Err(self.err(e));
        }
        counters.add("output.events_written", batch.len() as u64);
        Ok(())
    }

    fn idle(&mut self, _counters: &mut Counters) -> Result<(), OutputError> {
        self.out.flush().map_err(|e| self.err(e))
    }

    fn close(&mut self, _counters: &mut Counters) -> Result<(), OutputError> {
        self.out.flush().map_err(|e| self.err(e))
    }
}
