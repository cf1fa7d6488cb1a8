//! Outputs: where the exporter thread writes encoded events.
//!
//! The exporter owns exactly one [`Output`]. Events arrive already encoded
//! (see [`EventBatch`]); an output only frames, batches and ships them.

pub mod elasticsearch;
pub mod ndjson;

use crate::event::EventBatch;
use crate::stats::Counters;

/// Failure of an output.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// Writing to a file or stdout failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file, or `stdout`.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Any other failure, already phrased for the operator.
    #[error("{0}")]
    Other(String),
}

/// Two outputs fed with every batch (`-o FILE --es URL`): the NDJSON copy
/// and Elasticsearch. Each counts under its own names; the first error of
/// either is returned after both were called.
pub struct Tee {
    a: Box<dyn Output>,
    b: Box<dyn Output>,
}

impl Tee {
    /// Both outputs, called in this order.
    pub fn new(a: Box<dyn Output>, b: Box<dyn Output>) -> Self {
        Tee { a, b }
    }
}

impl Output for Tee {
    fn write(&mut self, batch: &EventBatch, counters: &mut Counters) -> Result<(), OutputError> {
        let ra = self.a.write(batch, counters);
        let rb = self.b.write(batch, counters);
        ra.and(rb)
    }

    fn idle(&mut self, counters: &mut Counters) -> Result<(), OutputError> {
        let ra = self.a.idle(counters);
        let rb = self.b.idle(counters);
        ra.and(rb)
    }

    fn close(&mut self, counters: &mut Counters) -> Result<(), OutputError> {
        let ra = self.a.close(counters);
        let rb = self.b.close(counters);
        ra.and(rb)
    }

    fn warnings(&self, counters: &Counters) -> Vec<String> {
        let mut w = self.a.warnings(counters);
        w.extend(self.b.warnings(counters));
        w
    }
}

/// A destination for events. Called from the exporter thread only.
pub trait Output: Send {
    /// Takes a batch of encoded events. An output that batches may keep
    /// them and send later; it must never drop one without counting it.
    fn write(&mut self, batch: &EventBatch, counters: &mut Counters) -> Result<(), OutputError>;

    /// Called about every 100 ms of wall time while the exporter waits for
    /// events, so time-based flushing works on a quiet link.
    fn idle(&mut self, _counters: &mut Counters) -> Result<(), OutputError> {
        Ok(())
    }

    /// Flushes everything and releases resources (end of run or shutdown).
    fn close(&mut self, counters: &mut Counters) -> Result<(), OutputError>;

    /// Lines for the operator at the end of a run (after `close`), from the
    /// final counters: what was rejected and where it went, what waits in
    /// a spool, what was lost.
    fn warnings(&self, _counters: &Counters) -> Vec<String> {
        Vec::new()
    }
}
