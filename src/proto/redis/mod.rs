//! Redis decoder: `type: redis` transactions from RESP2 and RESP3.
//!
//! [`parser`] is an incremental zero-copy RESP scanner; [`session`]
//! ([`RedisSession`]) summarises messages, pairs replies with requests in
//! order (pipelining, bounded), reports pub/sub pushes on their own and
//! resynchronises after gaps. Not decoded: TLS connections (no RESP
//! bytes; counted as parse errors) and RESP3 streamed values.

pub mod parser;
pub mod session;
#[cfg(test)]
mod tests;

use crate::flow::Transport::Tcp;
use crate::proto::registry::default_ports;
use crate::proto::{Dir, Protocol, ProtocolConfig, Session};
use crate::time::HumanDuration;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub use session::RedisSession;

/// `[protocols.redis]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConfig {
    /// Set to false to turn the decoder off.
    pub enabled: bool,
    /// Server ports carrying Redis.
    pub ports: Vec<u16>,
    /// Bytes of the command text kept in `query`.
    pub max_query_length: usize,
    /// Bytes of the rendered reply kept in `redis.return_value`.
    pub max_return_value_length: usize,
    /// Commands awaiting a reply per connection; beyond it commands are
    /// only counted (`redis.in_flight_dropped`), pairing stays right.
    pub max_in_flight: usize,
    /// Add the command text as `request`.
    pub send_request: bool,
    /// Add the rendered reply as `response`.
    pub send_response: bool,
    /// A command without a reply for this long (packet time) is reported
    /// with `error.message: Unmatched request`.
    pub transaction_timeout: HumanDuration,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            enabled: true,
            ports: default_ports(Redis::DEFAULT_PORTS),
            max_query_length: 1024,
            max_return_value_length: 1024,
            max_in_flight: 1000,
            send_request: false,
            send_response: false,
            transaction_timeout: HumanDuration::secs(10),
        }
    }
}

/// The `redis` registry entry (`src/proto/registry.rs`).
pub struct Redis;

impl Protocol for Redis {
    const NAME: &'static str = "redis";
    const DEFAULT_PORTS: &'static [(crate::flow::Transport, u16)] = &[(Tcp, 6379)];
    const SAMPLE: &'static [(Dir, &'static [u8])] = &[
        (
            Dir::ToServer,
            b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n",
        ),
        (Dir::ToClient, b"+OK\r\n"),
        (Dir::ToServer, b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n"),
        (Dir::ToClient, b"$5\r\nvalue\r\n"),
    ];
    type Config = RedisConfig;
    fn stream(cfg: &Arc<RedisConfig>) -> Option<Box<dyn Session>> {
        Some(Box::new(RedisSession::new(Arc::clone(cfg))))
    }
}

impl ProtocolConfig for RedisConfig {
    fn enabled(&self) -> bool {
        self.enabled
    }
    fn ports(&self) -> &[u16] {
        &self.ports
    }
}
