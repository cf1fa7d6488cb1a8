//! DNS over UDP and TCP: one `type: dns` event per query/response pair.
//!
//! - [`parser`]: pure, bounded message parsing (RFC 1035 and the record
//!   types of RFC 3596, 2782, 6891, 4034, 8659) and TCP length-prefix
//!   framing.
//! - [`session`]: [`DnsSession`] pairs queries and responses by id on a
//!   flow (both transports), handles duplicates, truncation, timeouts,
//!   unmatched responses and TCP gaps, and counts what it drops.
//! - [`event`]: Packetbeat's `dns.*` fields, `method`, `query`, `resource`.
//!
//! The parser is hand-written rather than taken from a crate: it keeps
//! records as offsets into the captured bytes (no allocation per name or
//! record; hickory-proto and simple-dns build owned or borrowed record
//! trees), renders Packetbeat's presentation forms straight into the event,
//! and bounds name decoding (backward-only pointers) on hostile input.
//!
//! Not here: DNS over TLS/HTTPS/QUIC, TSIG verification, multi-message
//! zone transfers as one event (later messages are counted), the
//! `etld_plus_one` field (it needs the public suffix list).

pub mod event;
pub mod parser;
pub mod session;
#[cfg(test)]
mod tests;

pub use session::DnsSession;

use crate::flow::Transport::{Tcp, Udp};
use crate::proto::registry::default_ports;
use crate::proto::{DatagramSession, Dir, Protocol, ProtocolConfig, Session};
use crate::time::HumanDuration;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// `[protocols.dns]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DnsConfig {
    /// Set to false to turn the decoder off.
    pub enabled: bool,
    /// Server ports carrying DNS, over UDP and TCP.
    pub ports: Vec<u16>,
    /// Write the authority records as `dns.authorities` (the count is always written).
    pub include_authorities: bool,
    /// Write the additional records as `dns.additionals` (the count is always written).
    pub include_additionals: bool,
    /// A query without a response for this long (packet time) is reported
    /// with `error.message: Unmatched request`.
    pub transaction_timeout: HumanDuration,
    /// Queries waiting for a response per flow; beyond it the oldest is
    /// reported as unmatched (`dns.in_flight_evicted`).
    pub max_in_flight: usize,
    /// Bytes of a query kept while it waits (longer queries are cut; what
    /// fits is reported).
    pub max_query_bytes: usize,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            enabled: true,
            ports: default_ports(Dns::DEFAULT_PORTS),
            include_authorities: false,
            include_additionals: false,
            transaction_timeout: HumanDuration::secs(10),
            max_in_flight: 256,
            max_query_bytes: 1024,
        }
    }
}

impl ProtocolConfig for DnsConfig {
    fn enabled(&self) -> bool {
        self.enabled
    }
    fn ports(&self) -> &[u16] {
        &self.ports
    }
    fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.max_in_flight == 0 {
            return Err(("max_in_flight", "must be at least 1".into()));
        }
        Ok(())
    }
}

/// `www.example.com IN A`, id 0x1234, RD (RFC 1035 section 4.1).
const QUERY: [u8; 33] = [
    0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, // header: id, RD, 1 question
    3, b'w', b'w', b'w', 7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 3, b'c', b'o', b'm', 0, 0, 1,
    0, 1, // A, IN
];

/// The SAMPLE as TCP bytes: the query and its answer (192.0.2.7, TTL 60),
/// each behind its two-byte length.
const TCP_QUERY: [u8; 35] = {
    let mut b = [0u8; 35];
    b[1] = 33;
    let mut i = 0;
    while i < 33 {
        b[i + 2] = QUERY[i];
        i += 1;
    }
    b
};

const TCP_RESPONSE: [u8; 51] = {
    let mut b = [0u8; 51];
    b[1] = 49;
    let mut i = 0;
    while i < 33 {
        b[i + 2] = QUERY[i];
        i += 1;
    }
    b[4] = 0x81; // QR, RD
    b[5] = 0x80; // RA, NOERROR
    b[9] = 1; // 1 answer
    let ans = [0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 7];
    let mut j = 0;
    while j < 16 {
        b[35 + j] = ans[j];
        j += 1;
    }
    b
};

/// The `dns` registry entry (`src/proto/registry.rs`): UDP and TCP.
pub struct Dns;

impl Protocol for Dns {
    const NAME: &'static str = "dns";
    const DEFAULT_PORTS: &'static [(crate::flow::Transport, u16)] = &[(Udp, 53), (Tcp, 53)];
    const SAMPLE: &'static [(Dir, &'static [u8])] =
        &[(Dir::ToServer, &TCP_QUERY), (Dir::ToClient, &TCP_RESPONSE)];
    type Config = DnsConfig;
    fn stream(cfg: &Arc<DnsConfig>) -> Option<Box<dyn Session>> {
        Some(Box::new(DnsSession::new(Arc::clone(cfg))))
    }
    fn datagram(cfg: &Arc<DnsConfig>) -> Option<Box<dyn DatagramSession>> {
        Some(Box::new(DnsSession::new(Arc::clone(cfg))))
    }
}
