//! Memcache: `type: memcache` transactions from the text and the binary
//! protocols, over TCP and UDP (with the UDP frame header).
//!
//! - [`parser`]: streaming framing of text lines with their data blocks and
//!   of binary packets; values are counted and skipped, never kept.
//! - [`session`]: [`MemcacheSession`] (TCP: in order for text, by opaque
//!   with quiet requests for binary) and [`MemcacheUdpSession`] (UDP, by
//!   request id), with the event fields (`memcache.request.*`,
//!   `memcache.response.*`, `memcache.protocol_type`).
//!
//! Not here: SASL payloads, the meta commands (`mg`, `ms`, ...; counted as
//! `Info` commands by their first word), multi-datagram UDP requests.

pub mod parser;
pub mod session;
#[cfg(test)]
mod tests;

pub use session::{MemcacheSession, MemcacheUdpSession};

use crate::flow::Transport::{Tcp, Udp};
use crate::proto::registry::default_ports;
use crate::proto::{DatagramSession, Dir, Protocol, ProtocolConfig, Session};
use crate::time::HumanDuration;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// `[protocols.memcache]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MemcacheConfig {
    /// Set to false to turn the decoder off.
    pub enabled: bool,
    /// Server ports (TCP and UDP).
    pub ports: Vec<u16>,
    /// Keys kept per message (all are counted in `count_keys` beyond it).
    pub max_keys: usize,
    /// Statistics kept per `stats` answer.
    pub max_stats: usize,
    /// Bound on a text line, or a binary header with its extras and key.
    pub max_line: usize,
    /// Requests waiting for an answer per connection.
    pub max_in_flight: usize,
    /// A request without an answer after this much packet time is reported
    /// as unmatched (quiet and `noreply` requests as answered by silence).
    pub transaction_timeout: HumanDuration,
}

impl Default for MemcacheConfig {
    fn default() -> Self {
        MemcacheConfig {
            enabled: true,
            ports: default_ports(Memcache::DEFAULT_PORTS),
            max_keys: 100,
            max_stats: 256,
            max_line: 8192,
            max_in_flight: 1000,
            transaction_timeout: HumanDuration::secs(10),
        }
    }
}

/// The `memcache` registry entry (`src/proto/registry.rs`).
pub struct Memcache;

impl Protocol for Memcache {
    const NAME: &'static str = "memcache";
    const DEFAULT_PORTS: &'static [(crate::flow::Transport, u16)] = &[(Tcp, 11211), (Udp, 11211)];
    const SAMPLE: &'static [(Dir, &'static [u8])] = &[
        (Dir::ToServer, b"set k 0 0 5\r\nhello\r\n"),
        (Dir::ToClient, b"STORED\r\n"),
        (Dir::ToServer, b"get k\r\n"),
        (Dir::ToClient, b"VALUE k 0 5\r\nhello\r\nEND\r\n"),
    ];
    type Config = MemcacheConfig;
    fn stream(cfg: &Arc<MemcacheConfig>) -> Option<Box<dyn Session>> {
        Some(Box::new(MemcacheSession::new(Arc::clone(cfg))))
    }
    fn datagram(cfg: &Arc<MemcacheConfig>) -> Option<Box<dyn DatagramSession>> {
        Some(Box::new(MemcacheUdpSession::new(Arc::clone(cfg))))
    }
}

impl ProtocolConfig for MemcacheConfig {
    fn enabled(&self) -> bool {
        self.enabled
    }
    fn ports(&self) -> &[u16] {
        &self.ports
    }
    fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.max_line < 256 {
            return Err(("max_line", "must be at least 256 bytes".into()));
        }
        Ok(())
    }
}
