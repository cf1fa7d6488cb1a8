//! MySQL decoder: `type: mysql` transactions from the client/server protocol.
//!
//! [`parser`] reads packets (pure functions over byte slices), [`session`]
//! ([`MysqlSession`]) follows one connection: handshake (server version,
//! user, database; never the password), commands and their responses,
//! prepared statements, multi-results, LOCAL INFILE, and resynchronisation
//! after gaps; [`compress`] unwraps the compressed protocol (CLIENT_COMPRESS
//! zlib and zstd, also recognised mid-stream) before packets are framed.
//! What it does not do: TLS connections (an SSLRequest is reported once as
//! an event with `mysql.tls: true`, counted as `mysql.tls_connections`, and
//! the rest of the connection is skipped).

pub mod compress;
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

pub use session::MysqlSession;

/// `[protocols.mysql]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MysqlConfig {
    /// Set to false to turn the decoder off.
    pub enabled: bool,
    /// Server ports carrying MySQL.
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
    /// Requests awaiting a response per connection; beyond it the oldest is
    /// reported as unmatched (`mysql.in_flight_dropped`).
    pub max_in_flight: usize,
    /// Bytes of a statement kept in `query`.
    pub max_query_length: usize,
    /// Prepared statements remembered per connection
    /// (`mysql.statements_evicted` when full).
    pub max_prepared_statements: usize,
    /// Parameters of a COM_STMT_EXECUTE kept in `params`.
    pub max_params: usize,
    /// A request without a response for this long (packet time) is
    /// reported with `error.message: Unmatched request`.
    pub transaction_timeout: HumanDuration,
}

impl Default for MysqlConfig {
    fn default() -> Self {
        MysqlConfig {
            enabled: true,
            ports: default_ports(Mysql::DEFAULT_PORTS),
            max_rows: 10,
            max_row_length: 1024,
            send_request: false,
            send_response: false,
            max_in_flight: 64,
            max_query_length: 8192,
            max_prepared_statements: 1024,
            max_params: 64,
            transaction_timeout: HumanDuration::secs(10),
        }
    }
}

/// The `mysql` registry entry (`src/proto/registry.rs`).
pub struct Mysql;

impl Protocol for Mysql {
    const NAME: &'static str = "mysql";
    const DEFAULT_PORTS: &'static [(crate::flow::Transport, u16)] = &[(Tcp, 3306), (Tcp, 3307)];
    // COM_QUERY "SELECT 1": one column, one row, classic EOFs.
    const SAMPLE: &'static [(Dir, &'static [u8])] = &[
        (Dir::ToServer, b"\x09\x00\x00\x00\x03SELECT 1"),
        (
            Dir::ToClient,
            b"\x01\x00\x00\x01\x01\
              \x17\x00\x00\x02\x03def\x00\x00\x00\x011\x00\x0c\x3f\x00\x01\x00\x00\x00\x08\x81\x00\x00\x00\x00\
              \x05\x00\x00\x03\xfe\x00\x00\x02\x00\
              \x02\x00\x00\x04\x011\
              \x05\x00\x00\x05\xfe\x00\x00\x02\x00",
        ),
    ];
    type Config = MysqlConfig;
    fn stream(cfg: &Arc<MysqlConfig>) -> Option<Box<dyn Session>> {
        Some(Box::new(MysqlSession::new(Arc::clone(cfg))))
    }
}

impl ProtocolConfig for MysqlConfig {
    fn enabled(&self) -> bool {
        self.enabled
    }
    fn ports(&self) -> &[u16] {
        &self.ports
    }
}
