//! AMQP 0-9-1 decoder (RabbitMQ): `type: amqp` events with Packetbeat's
//! `amqp.*` fields and config options.
//!
//! [`parser`] frames the byte stream (method, content header, body and
//! heartbeat frames, bounded by `max_frame_size` and the frame-max agreed
//! in connection.tune-ok), decodes every method's arguments, the basic
//! content properties and field tables (pure functions over byte slices);
//! [`session`] ([`AmqpSession`]) pairs requests with their replies per
//! channel (queue.declare with declare-ok, basic.get with get-ok or
//! get-empty, channel.close with close-ok, in either direction), reports
//! publishes, deliveries, returns, acks, nacks, rejects and `no-wait`
//! methods as one-way events, and channel and connection closes with a
//! reply code of 300 or more as errors (reply code, reply text, the class
//! and method that failed).
//!
//! Not decoded: AMQP 1.0 (a different protocol on the same port), TLS
//! (port 5671; the TLS decoder sees the handshake), the SASL credentials
//! of connection.start-ok and connection.secure (never kept).

pub mod parser;
pub mod session;
#[cfg(test)]
mod tests;

pub use session::AmqpSession;

use crate::flow::Transport::Tcp;
use crate::proto::registry::default_ports;
use crate::proto::{Dir, Protocol, ProtocolConfig, Session};
use crate::time::HumanDuration;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// `[protocols.amqp]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AmqpConfig {
    /// Set to false to turn the decoder off.
    pub enabled: bool,
    /// Server ports carrying AMQP.
    pub ports: Vec<u16>,
    /// Add `request`: the method and its main argument, or a published
    /// message's body.
    pub send_request: bool,
    /// Add `response`: `OK`, or a delivered, returned or fetched message's body.
    pub send_response: bool,
    /// Bytes of a message body kept for `request` / `response` (longer
    /// bodies end in ` [...]`).
    pub max_body_length: usize,
    /// Decode the `headers` table of content headers into `amqp.headers`.
    pub parse_headers: bool,
    /// Decode the `arguments` tables of declare, bind and consume methods
    /// into `amqp.arguments`.
    pub parse_arguments: bool,
    /// Do not report connection housekeeping: connection.start, tune,
    /// open, secure, update-secret, channel.open, channel.flow, basic.qos,
    /// and channel/connection closes with a reply code below 300.
    pub hide_connection_information: bool,
    /// Requests awaiting a reply per connection; beyond it the oldest is
    /// reported as unmatched (`amqp.in_flight_dropped`).
    pub max_in_flight: usize,
    /// Messages whose content (header and body frames) is still arriving,
    /// per connection; beyond it the oldest is reported as incomplete
    /// (`amqp.contents_dropped`).
    pub max_channels: usize,
    /// Largest frame payload accepted; a larger frame is a framing error
    /// (`amqp.oversize_frames`, resync). The frame-max the peers agree
    /// lowers it per connection.
    pub max_frame_size: usize,
    /// A request without a reply for this long (packet time) is reported
    /// with `error.message: Unmatched request`.
    pub transaction_timeout: HumanDuration,
}

impl Default for AmqpConfig {
    fn default() -> Self {
        AmqpConfig {
            enabled: true,
            ports: default_ports(Amqp::DEFAULT_PORTS),
            send_request: false,
            send_response: false,
            max_body_length: 1000,
            parse_headers: true,
            parse_arguments: true,
            hide_connection_information: true,
            max_in_flight: 64,
            max_channels: 64,
            max_frame_size: 131_072,
            transaction_timeout: HumanDuration::secs(10),
        }
    }
}

impl ProtocolConfig for AmqpConfig {
    fn enabled(&self) -> bool {
        self.enabled
    }
    fn ports(&self) -> &[u16] {
        &self.ports
    }
    fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.max_frame_size < 4096 {
            return Err((
                "max_frame_size",
                "must be at least 4096 (the protocol's smallest frame-max)".into(),
            ));
        }
        if self.max_in_flight == 0 {
            return Err(("max_in_flight", "must be at least 1".into()));
        }
        if self.max_channels == 0 {
            return Err(("max_channels", "must be at least 1".into()));
        }
        Ok(())
    }
}

/// The AMQP 0-9-1 protocol (one line in `protocols!`).
pub struct Amqp;

impl Protocol for Amqp {
    const NAME: &'static str = "amqp";
    const DEFAULT_PORTS: &'static [(crate::flow::Transport, u16)] = &[(Tcp, 5672)];
    // queue.declare "hello" -> declare-ok; basic.publish to "hello" with a
    // text/plain content header and a 5-byte body (one-way).
    const SAMPLE: &'static [(Dir, &'static [u8])] = &[
        (
            Dir::ToServer,
            b"\x01\x00\x01\x00\x00\x00\x11\x00\x32\x00\x0a\x00\x00\x05hello\x00\x00\x00\x00\x00\xce",
        ),
        (
            Dir::ToClient,
            b"\x01\x00\x01\x00\x00\x00\x12\x00\x32\x00\x0b\x05hello\x00\x00\x00\x00\x00\x00\x00\x00\xce",
        ),
        (
            Dir::ToServer,
            b"\x01\x00\x01\x00\x00\x00\x0e\x00\x3c\x00\x28\x00\x00\x00\x05hello\x00\xce\
              \x02\x00\x01\x00\x00\x00\x19\x00\x3c\x00\x00\x00\x00\x00\x00\x00\x00\x00\x05\x80\x00\x0atext/plain\xce\
              \x03\x00\x01\x00\x00\x00\x05hello\xce",
        ),
    ];
    type Config = AmqpConfig;
    fn stream(cfg: &Arc<AmqpConfig>) -> Option<Box<dyn Session>> {
        Some(Box::new(AmqpSession::new(Arc::clone(cfg))))
    }
}
