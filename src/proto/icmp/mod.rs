//! ICMP and ICMPv6: echo request/reply pairs as `type: icmp` transactions
//! whose duration is the round-trip time, unanswered requests, and errors
//! linked to the flow they quote.
//!
//! - [`parser`]: pure message parsing (RFC 792, RFC 4443) and Packetbeat's
//!   type/code texts.
//! - [`session`]: [`IcmpSession`] pairs requests and replies by identifier
//!   and sequence, reports errors with the quoted datagram's flow.
//!
//! ICMP has no ports: the registry gives this protocol every ICMP and
//! ICMPv6 flow (`ICMP = true`).

pub mod parser;
pub mod session;
#[cfg(test)]
mod tests;

pub use session::IcmpSession;

use crate::proto::{DatagramSession, Dir, Protocol, ProtocolConfig};
use crate::time::HumanDuration;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// `[protocols.icmp]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IcmpConfig {
    /// Set to false to turn the decoder off.
    pub enabled: bool,
    /// A request without a reply for this long (packet time) is reported
    /// with `error.message: Unmatched request`.
    pub transaction_timeout: HumanDuration,
    /// Requests waiting for a reply per flow; beyond it the oldest is
    /// reported as unmatched (`icmp.in_flight_evicted`).
    pub max_in_flight: usize,
}

impl Default for IcmpConfig {
    fn default() -> Self {
        IcmpConfig {
            enabled: true,
            transaction_timeout: HumanDuration::secs(10),
            max_in_flight: 256,
        }
    }
}

impl ProtocolConfig for IcmpConfig {
    fn enabled(&self) -> bool {
        self.enabled
    }
    fn ports(&self) -> &[u16] {
        &[]
    }
}

/// The `icmp` registry entry (`src/proto/registry.rs`).
pub struct Icmp;

impl Protocol for Icmp {
    const NAME: &'static str = "icmp";
    const DEFAULT_PORTS: &'static [(crate::flow::Transport, u16)] = &[];
    const ICMP: bool = true;
    const SAMPLE: &'static [(Dir, &'static [u8])] = &[
        // Echo request id 5 seq 1, 4 data bytes; its reply.
        (
            Dir::ToServer,
            &[8, 0, 0, 0, 0, 5, 0, 1, b'p', b'i', b'n', b'g'],
        ),
        (
            Dir::ToClient,
            &[0, 0, 0, 0, 0, 5, 0, 1, b'p', b'i', b'n', b'g'],
        ),
    ];
    type Config = IcmpConfig;
    fn datagram(cfg: &Arc<IcmpConfig>) -> Option<Box<dyn DatagramSession>> {
        Some(Box::new(IcmpSession::new(Arc::clone(cfg))))
    }
}
