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
}
