//! SIP over UDP and TCP: one `type: sip` event per SIP transaction
//! (RFC 3261 section 17), with Packetbeat's `sip.*` fields.
//!
//! - [`parser`]: pure, bounded parsing of SIP messages (start line, the
//!   headers Packetbeat reports, compact forms, `Content-Length` framing)
//!   and of the SDP summary; spans into the captured bytes, no copies.
//! - [`session`]: [`SipSession`] pairs requests with their final response
//!   by `Via` branch and `CSeq` method, folds provisional responses in,
//!   counts retransmissions instead of reporting them twice, and expires
//!   requests by packet time.
//! - [`event`]: the `sip.*` fields, `user.name`, `method`.
//!
//! Packetbeat writes one event per SIP message (its golden file for
//! `sip.pcap` has 12 events for 12 messages); spanlens writes one per
//! transaction: the request's fields as Packetbeat names them, the final
//! response's `sip.code` / `sip.status` and headers (`sip.response.*`),
//! the provisional responses (`sip.provisional.*`) and the time between
//! them (`transaction.*`). An `ACK` is an event of its own.
//!
//! The parser is hand-written: the SIP crates on crates.io (rsip,
//! sip-codec) build owned header trees per message and are not kept up;
//! httparse refuses `SIP/2.0` start lines.
//!
//! Not here: multipart bodies, compressed (`Content-Encoding`) bodies
//! (counted as not parsed), SIP over TLS/WebSocket, dialog tracking across
//! transactions (the `Call-ID` and tags are in each event for that).

pub mod event;
pub mod parser;
pub mod session;
#[cfg(test)]
mod tests;

pub use session::SipSession;

use crate::flow::Transport::{Tcp, Udp};
use crate::proto::registry::default_ports;
use crate::proto::{DatagramSession, Dir, Protocol, ProtocolConfig, Session};
use crate::time::HumanDuration;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// `[protocols.sip]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SipConfig {
    /// Set to false to turn the decoder off.
    pub enabled: bool,
    /// Server ports carrying SIP, over UDP and TCP.
    pub ports: Vec<u16>,
    /// Parse `Authorization` into `sip.auth.*` and `user.name` (Packetbeat's
    /// `parse_authorization`).
    pub parse_authorization: bool,
    /// Parse SDP bodies into `sip.sdp.*` (Packetbeat's `parse_body`).
    pub parse_body: bool,
    /// A request without a final response for this long after its last
    /// message (packet time) is reported with `Unmatched request`. The
    /// default is RFC 3261's Timer B / Timer F, 64 * T1.
    pub transaction_timeout: HumanDuration,
    /// Requests waiting for a final response per flow; beyond it the oldest
    /// is reported as unmatched (`sip.in_flight_evicted`).
    pub max_in_flight: usize,
    /// Longest message (header block, and body) accepted; a longer one is a
    /// parse error (`sip.parse_errors`).
    pub max_message_bytes: usize,
    /// Bytes of waiting requests kept per flow (each request is kept whole
    /// until its final response); beyond it the oldest is reported as
    /// unmatched (`sip.pending_bytes_evicted`).
    pub max_pending_bytes: usize,
}

impl Default for SipConfig {
    fn default() -> Self {
        SipConfig {
            enabled: true,
            ports: default_ports(Sip::DEFAULT_PORTS),
            parse_authorization: true,
            parse_body: true,
            transaction_timeout: HumanDuration::secs(32),
            max_in_flight: 64,
            max_message_bytes: 65_535,
            max_pending_bytes: 256 * 1024,
        }
    }
}

impl ProtocolConfig for SipConfig {
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
        if self.max_message_bytes < 512 {
            return Err(("max_message_bytes", "must be at least 512".into()));
        }
        if self.max_pending_bytes < self.max_message_bytes {
            return Err((
                "max_pending_bytes",
                "must be at least max_message_bytes".into(),
            ));
        }
        Ok(())
    }
}

/// The `sip` registry entry (`src/proto/registry.rs`): UDP and TCP.
pub struct Sip;

impl Protocol for Sip {
    const NAME: &'static str = "sip";
    const DEFAULT_PORTS: &'static [(crate::flow::Transport, u16)] = &[(Udp, 5060), (Tcp, 5060)];
    const SAMPLE: &'static [(Dir, &'static [u8])] = &[
        (
            Dir::ToServer,
            b"REGISTER sip:example.com SIP/2.0\r\n\
Via: SIP/2.0/TCP 192.0.2.10:5060;branch=z9hG4bK776asdhds\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@example.com>\r\n\
From: Bob <sip:bob@example.com>;tag=456248\r\n\
Call-ID: 843817637684230@998sdasdh09\r\n\
CSeq: 1826 REGISTER\r\n\
Contact: <sip:bob@192.0.2.10>\r\n\
Expires: 7200\r\n\
Content-Length: 0\r\n\r\n",
        ),
        (
            Dir::ToClient,
            b"SIP/2.0 200 OK\r\n\
Via: SIP/2.0/TCP 192.0.2.10:5060;branch=z9hG4bK776asdhds;received=192.0.2.10\r\n\
To: Bob <sip:bob@example.com>;tag=2493k59kd\r\n\
From: Bob <sip:bob@example.com>;tag=456248\r\n\
Call-ID: 843817637684230@998sdasdh09\r\n\
CSeq: 1826 REGISTER\r\n\
Contact: <sip:bob@192.0.2.10>;expires=7200\r\n\
Content-Length: 0\r\n\r\n",
        ),
    ];
    type Config = SipConfig;
    fn stream(cfg: &Arc<SipConfig>) -> Option<Box<dyn Session>> {
        Some(Box::new(SipSession::new(Arc::clone(cfg))))
    }
    fn datagram(cfg: &Arc<SipConfig>) -> Option<Box<dyn DatagramSession>> {
        Some(Box::new(SipSession::new(Arc::clone(cfg))))
    }
}
