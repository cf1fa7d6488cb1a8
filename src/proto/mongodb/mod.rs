//! MongoDB: `type: mongodb` transactions from the wire protocol over TCP,
//! current drivers' OP_MSG (body and document-sequence sections, the
//! checksum flag, moreToCome) as well as the legacy OP_QUERY / OP_REPLY /
//! OP_INSERT / OP_UPDATE / OP_DELETE / OP_GET_MORE / OP_KILL_CURSORS, and
//! OP_COMPRESSED (snappy, zlib and zstd decompressed within the message
//! bound; counted either way).
//!
//! - [`bson`]: a bounded in-place BSON walker (the few keys an event needs;
//!   no document is ever kept) and a bounded Extended JSON renderer for the
//!   optional texts.
//! - [`parser`]: the standard header, opcode bodies into [`parser::Request`]
//!   and [`parser::Response`] summaries, the resync scan.
//! - [`session`]: [`MongodbSession`], pairing by `requestID`/`responseTo`
//!   with Packetbeat's fields (`method`, `resource`, `query`, `request`,
//!   `response`, `mongodb.*`); one-way operations are reported at once.
//!
//! Not here: SASL/X.509 authentication payloads (a `saslStart` is reported
//! as a command like any other), TLS (MongoDB over TLS is the TLS decoder's
//! when its port is given to it), OP_MSG checksums are not verified.

pub mod bson;
pub mod parser;
pub mod session;
#[cfg(test)]
mod tests;

pub use session::MongodbSession;

use crate::flow::Transport::Tcp;
use crate::proto::registry::default_ports;
use crate::proto::{Dir, Protocol, ProtocolConfig, Session};
use crate::time::HumanDuration;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// `[protocols.mongodb]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MongodbConfig {
    /// Set to false to turn the decoder off.
    pub enabled: bool,
    /// Server ports.
    pub ports: Vec<u16>,
    /// Write `request`: the command with its documents (Packetbeat's option).
    pub send_request: bool,
    /// Write `response`: the returned documents, one a line.
    pub send_response: bool,
    /// Documents in `response` (0: all); more are marked `[...]`.
    pub max_docs: usize,
    /// Bytes per document in `response` (0: no limit); longer ones end ` ...`.
    pub max_doc_length: usize,
    /// Bytes of `query` and `request` (0: no limit).
    pub max_query_length: usize,
    /// A header claiming more is not MongoDB (the server's own
    /// maxMessageSizeBytes is 48,000,000): the direction resyncs.
    pub max_message_size: usize,
    /// Bytes of one message buffered and parsed; a longer message is read
    /// from its first bytes and the rest skipped by its length.
    pub max_message_buffer: usize,
    /// Requests waiting for a reply per connection; beyond it the oldest
    /// is reported unmatched (`mongodb.in_flight_overflow`).
    pub max_in_flight: usize,
    /// A request without a reply after this much packet time is reported
    /// with `error.message: Unmatched request`.
    pub transaction_timeout: HumanDuration,
}

impl Default for MongodbConfig {
    fn default() -> Self {
        MongodbConfig {
            enabled: true,
            ports: default_ports(Mongodb::DEFAULT_PORTS),
            send_request: false,
            send_response: false,
            max_docs: 10,
            max_doc_length: 5000,
            max_query_length: 8192,
            max_message_size: 48_000_000,
            max_message_buffer: 1 << 20,
            max_in_flight: 64,
            transaction_timeout: HumanDuration::secs(10),
        }
    }
}

impl ProtocolConfig for MongodbConfig {
    fn enabled(&self) -> bool {
        self.enabled
    }
    fn ports(&self) -> &[u16] {
        &self.ports
    }
    fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.max_message_buffer < 1024 {
            return Err(("max_message_buffer", "must be at least 1024 bytes".into()));
        }
        if self.max_message_size < self.max_message_buffer {
            return Err((
                "max_message_size",
                "must be at least max_message_buffer".into(),
            ));
        }
        Ok(())
    }
}

/// The `mongodb` registry entry (`src/proto/registry.rs`).
pub struct Mongodb;

impl Protocol for Mongodb {
    const NAME: &'static str = "mongodb";
    const DEFAULT_PORTS: &'static [(crate::flow::Transport, u16)] = &[(Tcp, 27017)];
    /// An OP_MSG `find` on test.users and its one-document cursor reply.
    const SAMPLE: &'static [(Dir, &'static [u8])] = &[
        (
            Dir::ToServer,
            b"N\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\xdd\x07\x00\x00\x00\x00\x00\x00\x009\x00\x00\x00\x02find\x00\x06\x00\x00\x00users\x00\x03filter\x00\x0e\x00\x00\x00\x10age\x00*\x00\x00\x00\x00\x02$db\x00\x05\x00\x00\x00test\x00\x00",
        ),
        (
            Dir::ToClient,
            b"\x84\x00\x00\x00\x02\x00\x00\x00\x01\x00\x00\x00\xdd\x07\x00\x00\x00\x00\x00\x00\x00o\x00\x00\x00\x03cursor\x00V\x00\x00\x00\x04firstBatch\x00&\x00\x00\x00\x030\x00\x1e\x00\x00\x00\x10_id\x00\x01\x00\x00\x00\x02name\x00\x06\x00\x00\x00alice\x00\x00\x00\x12id\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02ns\x00\x0b\x00\x00\x00test.users\x00\x00\x01ok\x00\x00\x00\x00\x00\x00\x00\xf0?\x00",
        ),
    ];
    type Config = MongodbConfig;
    fn stream(cfg: &Arc<MongodbConfig>) -> Option<Box<dyn Session>> {
        Some(Box::new(MongodbSession::new(Arc::clone(cfg))))
    }
}
