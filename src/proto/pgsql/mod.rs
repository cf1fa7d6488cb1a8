//! PostgreSQL decoder: `type: pgsql` transactions from the frontend/backend
//! protocol (v3).
//!
//! [`parser`] frames messages and reads their bodies (pure functions over
//! byte slices); [`session`] ([`PgsqlSession`]) follows one connection:
//! startup (user, database, application name; never the password),
//! SSLRequest/GSSENCRequest answered `N` (decoding goes on in clear) or
//! `S`/`G` (the connection is encrypted: reported once, counted, and not
//! decoded), the simple query protocol (one transaction per Query, also
//! for several statements in one Query), the extended protocol (one
//! transaction per Execute, carrying the statement text of its Parse,
//! also for named statements prepared long before), COPY in and out
//! (bytes and rows counted, never kept), errors and notices,
//! CancelRequest, and resynchronisation after gaps.
//!
//! Not decoded: encrypted connections, replication streams after
//! CopyBothResponse (counted as COPY bytes), parameter values of Bind.

pub mod parser;
pub mod session;
#[cfg(test)]
pub(crate) mod tests;

use crate::flow::Transport::Tcp;
use crate::proto::registry::default_ports;
use crate::proto::{Dir, Protocol, ProtocolConfig, Session};
use crate::time::HumanDuration;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub use session::PgsqlSession;

/// `[protocols.pgsql]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PgsqlConfig {
    /// Set to false to turn the decoder off.
    pub enabled: bool,
    /// Server ports carrying PostgreSQL.
    pub ports: Vec<u16>,
    /// Rows kept in the `response` text when `send_response` is on.
    pub max_rows: usize,
    /// Bytes kept per row in the `response` text.
    pub max_row_length: usize,
    /// Add the statement as `request`.
    pub send_request: bool,
    /// Add the result set as CSV text in `response` (column names, then
    /// up to `max_rows` rows).
    pub send_response: bool,
    /// Transactions awaiting a response per connection; beyond it the
    /// oldest is reported as unmatched (`pgsql.in_flight_dropped`).
    pub max_in_flight: usize,
    /// Bytes of a statement kept in `query`.
    pub max_query_length: usize,
    /// Named prepared statements remembered per connection; when full, one
    /// is forgotten (`pgsql.statements_evicted`) and an Execute of it
    /// reports `method: EXECUTE` without `query` (`pgsql.unknown_statements`).
    pub max_prepared_statements: usize,
    /// A request without a response for this long (packet time) is
    /// reported with `error.message: Unmatched request`.
    pub transaction_timeout: HumanDuration,
}

impl Default for PgsqlConfig {
    fn default() -> Self {
        PgsqlConfig {
            enabled: true,
            ports: default_ports(Pgsql::DEFAULT_PORTS),
            max_rows: 10,
            max_row_length: 1024,
            send_request: false,
            send_response: false,
            max_in_flight: 64,
            max_query_length: 8192,
            max_prepared_statements: 1024,
            transaction_timeout: HumanDuration::secs(10),
        }
    }
}

/// The PostgreSQL protocol (one line in `protocols!`).
pub struct Pgsql;

impl Protocol for Pgsql {
    const NAME: &'static str = "pgsql";
    const DEFAULT_PORTS: &'static [(crate::flow::Transport, u16)] = &[(Tcp, 5432)];
    // Query "SELECT 1": RowDescription (1 field), DataRow "1",
    // CommandComplete "SELECT 1", ReadyForQuery idle.
    const SAMPLE: &'static [(Dir, &'static [u8])] = &[
        (Dir::ToServer, b"Q\x00\x00\x00\x0dSELECT 1\x00"),
        (
            Dir::ToClient,
            b"T\x00\x00\x00\x21\x00\x01?column?\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x17\x00\x04\xff\xff\xff\xff\x00\x00\
              D\x00\x00\x00\x0b\x00\x01\x00\x00\x00\x011\
              C\x00\x00\x00\x0dSELECT 1\x00\
              Z\x00\x00\x00\x05I",
        ),
    ];
    type Config = PgsqlConfig;
    fn stream(cfg: &Arc<PgsqlConfig>) -> Option<Box<dyn Session>> {
        Some(Box::new(PgsqlSession::new(Arc::clone(cfg))))
    }
}

impl ProtocolConfig for PgsqlConfig {
    fn enabled(&self) -> bool {
        self.enabled
    }
    fn ports(&self) -> &[u16] {
        &self.ports
    }
}
