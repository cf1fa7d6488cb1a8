//! Cassandra: `type: cassandra` transactions from the CQL native protocol,
//! versions 3 to 5 (v1/v2 frame headers are read too).
//!
//! - [`parser`]: frame headers, v5 segments (CRC24/CRC32, LZ4), frame
//!   body decompression (LZ4 with its 4-byte length prefix, Snappy) and the
//!   bodies this decoder reports (statements, prepared ids, batches, result
//!   kinds, errors with their details, events, SUPPORTED, AUTHENTICATE).
//! - [`session`]: [`CassandraSession`]: one connection; requests paired
//!   with responses by stream id, server pushes (EVENT, stream -1) as
//!   one-way events, prepared statements remembered so that an EXECUTE
//!   names its statement, resynchronisation after gaps, timeouts.
//!
//! Not decoded: row values, bound values, authentication tokens (never
//! reported), custom payloads (skipped).

pub mod parser;
pub mod session;
#[cfg(test)]
mod tests;

pub use session::CassandraSession;

use crate::flow::Transport::Tcp;
use crate::proto::registry::default_ports;
use crate::proto::{Dir, Protocol, ProtocolConfig, Session};
use crate::time::HumanDuration;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// `[protocols.cassandra]` (Packetbeat's options and defaults, plus bounds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CassandraConfig {
    /// Set to false to turn the decoder off.
    pub enabled: bool,
    /// Server ports.
    pub ports: Vec<u16>,
    /// Write `cassandra.request` (query, prepared id, batch).
    pub send_request: bool,
    /// Write `cassandra.response` (result, error, event, ...).
    pub send_response: bool,
    /// With `send_request`: the request frame's header
    /// (`cassandra.request.headers.*`).
    pub send_request_header: bool,
    /// With `send_response`: the response frame's header.
    pub send_response_header: bool,
    /// Opcodes whose transactions are not reported (e.g. `["OPTIONS",
    /// "REGISTER"]`); counted in `cassandra.ignored_transactions`.
    pub ignored_ops: Vec<String>,
    /// Compression of connections whose STARTUP was not captured:
    /// `""` (none), `"snappy"` or `"lz4"`. A captured STARTUP decides.
    pub compressor: String,
    /// Requests waiting for their response per connection; beyond it the
    /// oldest is reported as unmatched (`cassandra.in_flight_dropped`).
    pub max_in_flight: usize,
    /// Bytes of a statement kept in `query`.
    pub max_query_length: usize,
    /// Prepared statements remembered per connection (id to text).
    pub max_prepared_statements: usize,
    /// Frames up to this size are buffered whole (compressed frames must
    /// be, to be decompressed); larger uncompressed frames are read from
    /// their first 64 KiB, larger compressed ones from their header only.
    pub max_frame_bytes: usize,
    /// Bound on a decompressed frame body.
    pub max_decompressed_bytes: usize,
    /// A request without a response for this long (packet time) is
    /// reported with `error.message: Unmatched request`.
    pub transaction_timeout: HumanDuration,
}

impl Default for CassandraConfig {
    fn default() -> Self {
        CassandraConfig {
            enabled: true,
            ports: default_ports(Cassandra::DEFAULT_PORTS),
            send_request: true,
            send_response: true,
            send_request_header: true,
            send_response_header: true,
            ignored_ops: Vec::new(),
            compressor: String::new(),
            max_in_flight: 256,
            max_query_length: 8192,
            max_prepared_statements: 1024,
            max_frame_bytes: 1 << 20,
            max_decompressed_bytes: 4 << 20,
            transaction_timeout: HumanDuration::secs(10),
        }
    }
}

impl CassandraConfig {
    /// The `ignored_ops` as a bit per opcode.
    pub fn ignored_mask(&self) -> u32 {
        self.ignored_ops
            .iter()
            .filter_map(|s| parser::op_by_name(s))
            .fold(0, |m, o| m | 1 << o)
    }

    /// The `compressor` setting.
    pub fn default_compression(&self) -> Option<parser::Compression> {
        parser::Compression::from_name(self.compressor.as_bytes())
    }
}

impl ProtocolConfig for CassandraConfig {
    fn enabled(&self) -> bool {
        self.enabled
    }
    fn ports(&self) -> &[u16] {
        &self.ports
    }
    fn validate(&self) -> Result<(), (&'static str, String)> {
        if let Some(bad) = self
            .ignored_ops
            .iter()
            .find(|s| parser::op_by_name(s).is_none())
        {
            return Err((
                "ignored_ops",
                format!("unknown opcode {bad:?} (one of QUERY, EXECUTE, PREPARE, BATCH, OPTIONS, STARTUP, REGISTER, AUTH_RESPONSE, RESULT, ERROR, READY, SUPPORTED, AUTHENTICATE, EVENT, AUTH_CHALLENGE, AUTH_SUCCESS)"),
            ));
        }
        if !self.compressor.is_empty() && self.default_compression().is_none() {
            return Err((
                "compressor",
                format!(
                    "unknown compressor {:?} (\"\", \"snappy\" or \"lz4\")",
                    self.compressor
                ),
            ));
        }
        if self.max_frame_bytes < 64 * 1024 {
            return Err(("max_frame_bytes", "must be at least 65536".into()));
        }
        Ok(())
    }
}

/// The `cassandra` registry entry (`src/proto/registry.rs`).
pub struct Cassandra;

impl Protocol for Cassandra {
    const NAME: &'static str = "cassandra";
    const DEFAULT_PORTS: &'static [(crate::flow::Transport, u16)] = &[(Tcp, 9042)];
    // v4 QUERY "SELECT name FROM ks.users WHERE id = 1" (consistency ONE,
    // no flags) on stream 7, answered by a RESULT of kind Rows: global
    // table spec ks.users, one column `name` (varchar), one row "alice".
    const SAMPLE: &'static [(Dir, &'static [u8])] = &[
        (
            Dir::ToServer,
            b"\x04\x00\x00\x07\x07\x00\x00\x00\x2e\
              \x00\x00\x00\x27SELECT name FROM ks.users WHERE id = 1;\
              \x00\x01\x00",
        ),
        (
            Dir::ToClient,
            b"\x84\x00\x00\x07\x08\x00\x00\x00\x2c\
              \x00\x00\x00\x02\x00\x00\x00\x01\x00\x00\x00\x01\
              \x00\x02ks\x00\x05users\x00\x04name\x00\x0d\
              \x00\x00\x00\x01\x00\x00\x00\x05alice",
        ),
    ];
    type Config = CassandraConfig;
    fn stream(cfg: &Arc<CassandraConfig>) -> Option<Box<dyn Session>> {
        Some(Box::new(CassandraSession::new(Arc::clone(cfg))))
    }
}
