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

use crate::config::HumanDuration;
use serde::{Deserialize, Serialize};

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
            ports: vec![5432],
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
