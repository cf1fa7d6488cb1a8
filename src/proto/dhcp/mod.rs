//! DHCPv4 over UDP (server port 67, client port 68): one `type: dhcpv4` event per client message and
//! its reply, with Packetbeat's `dhcpv4.*` fields.
//!
//! - [`parser`]: the BOOTP header and the options Packetbeat reports,
//!   bounded, as offsets into the datagram.
//! - [`session`]: [`DhcpSession`] pairs client messages with replies by
//!   transaction id and client hardware address.
//! - [`event`]: the `dhcpv4.*` fields of one message.
//!
//! # Events
//! Packetbeat writes one event per DHCP message (4 for a
//! DISCOVER/OFFER/REQUEST/ACK lease). spanlens writes one per client
//! message and its reply, so a lease is 2 events (DISCOVER with its OFFER,
//! REQUEST with its ACK) that carry the server's response time in
//! `transaction.*`: the client's message with Packetbeat's fields at
//! `dhcpv4.*` (exactly what Packetbeat writes for it), the server's reply
//! with the same names under `dhcpv4.reply.*`, and the reply's assigned
//! address also as `dhcpv4.assigned_ip` (a client message never has one).
//! RELEASE and DECLINE are events of their own; a NAK is `status: Error`.
//!
//! # Flows
//! The messages of one exchange travel between different addresses: a
//! DISCOVER from 0.0.0.0:68 to 255.255.255.255:67, its OFFER from the
//! server to the offered address (or to the broadcast address), so the
//! worker's 5-tuple flows would put request and reply in two flows, maybe
//! on two workers. The capture thread therefore gives every UDP packet
//! between ports 68 and 67 one flow key per broadcast domain (VLAN ids and
//! tunnel kept): [`exchange_key`], client 0.0.0.0:68, server
//! 255.255.255.255:67. Pairing by xid then happens in one session; the
//! addresses that matter are the `dhcpv4` fields (`client_ip`,
//! `assigned_ip`, `relay_ip`, `option.server_identifier`). Relay traffic
//! (67 to 67) keeps its own 5-tuple flow.
//!
//! The parser is hand-written: dhcproto (the well-kept crate) decodes
//! every option into owned values per message; the fixed header and a
//! dozen TLV options are read here in place, without allocating.

pub mod event;
pub mod parser;
pub mod session;
#[cfg(test)]
mod tests;

pub use session::DhcpSession;

use crate::flow::Transport::Udp;
use crate::flow::{FlowKey, Side};
use crate::proto::registry::default_ports;
use crate::proto::{DatagramSession, Dir, Protocol, ProtocolConfig};
use crate::time::HumanDuration;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

/// The DHCP server port.
pub const SERVER_PORT: u16 = 67;
/// The DHCP client port.
pub const CLIENT_PORT: u16 = 68;

/// The one flow key of every UDP packet between ports 68 and 67 of a
/// broadcast domain (see the module docs), with the packet's direction;
/// `None` for any other packet.
#[inline]
pub fn exchange_key(key: &FlowKey, side: Side) -> Option<(FlowKey, Side)> {
    if key.proto != 17 {
        return None;
    }
    let (src, dst) = match side {
        Side::LoToHi => (key.lo.1, key.hi.1),
        Side::HiToLo => (key.hi.1, key.lo.1),
    };
    let from_client = match (src, dst) {
        (CLIENT_PORT, SERVER_PORT) => true,
        (SERVER_PORT, CLIENT_PORT) => false,
        _ => return None,
    };
    let k = FlowKey {
        lo: (IpAddr::V4(Ipv4Addr::UNSPECIFIED), CLIENT_PORT),
        hi: (IpAddr::V4(Ipv4Addr::BROADCAST), SERVER_PORT),
        ..*key
    };
    Some((
        k,
        if from_client {
            Side::LoToHi
        } else {
            Side::HiToLo
        },
    ))
}

/// `[protocols.dhcpv4]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DhcpConfig {
    /// Set to false to turn the decoder off.
    pub enabled: bool,
    /// Server ports (UDP). The client port 68 is implied: listing it too
    /// would make a reply seen before its request look like a request.
    pub ports: Vec<u16>,
    /// A client message without a reply for this long (packet time) is
    /// reported with `Unmatched request`.
    pub transaction_timeout: HumanDuration,
    /// Client messages waiting per flow (a broadcast domain); beyond it the
    /// oldest is reported as unmatched (`dhcpv4.in_flight_evicted`).
    pub max_in_flight: usize,
    /// Longest datagram decoded (longer ones are counted as parse errors).
    pub max_message_bytes: usize,
}

impl Default for DhcpConfig {
    fn default() -> Self {
        DhcpConfig {
            enabled: true,
            ports: default_ports(Dhcpv4::DEFAULT_PORTS),
            transaction_timeout: HumanDuration::secs(10),
            max_in_flight: 1024,
            max_message_bytes: 1500,
        }
    }
}

impl ProtocolConfig for DhcpConfig {
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
        if self.max_message_bytes < parser::HEADER {
            return Err((
                "max_message_bytes",
                "must be at least 236 (the BOOTP header)".into(),
            ));
        }
        Ok(())
    }
}

/// A DHCPDISCOVER from 00:0b:82:01:fc:42 (xid 0x3d1d) asking for mask,
/// router, DNS and NTP servers.
const DISCOVER: [u8; 272] = {
    let mut b = [0u8; 272];
    b[0] = 1; // BOOTREQUEST
    b[1] = 1; // Ethernet
    b[2] = 6;
    b[6] = 0x3d;
    b[7] = 0x1d;
    let mac = [0x00, 0x0b, 0x82, 0x01, 0xfc, 0x42];
    let mut i = 0;
    while i < 6 {
        b[28 + i] = mac[i];
        i += 1;
    }
    let opts = [
        99, 130, 83, 99, // cookie
        53, 1, 1, // DISCOVER
        61, 7, 1, 0x00, 0x0b, 0x82, 0x01, 0xfc, 0x42, // client id
        50, 4, 0, 0, 0, 0, // requested 0.0.0.0
        55, 4, 1, 3, 6, 42, // parameter request list
        255,
    ];
    let mut j = 0;
    while j < opts.len() {
        b[236 + j] = opts[j];
        j += 1;
    }
    b
};

/// The DHCPOFFER of 192.168.0.10 by 192.168.0.1 (lease 3600 s).
const OFFER: [u8; 300] = {
    let mut b = [0u8; 300];
    b[0] = 2; // BOOTREPLY
    b[1] = 1;
    b[2] = 6;
    b[6] = 0x3d;
    b[7] = 0x1d;
    let yi = [192, 168, 0, 10];
    let mut i = 0;
    while i < 4 {
        b[16 + i] = yi[i];
        i += 1;
    }
    let mac = [0x00, 0x0b, 0x82, 0x01, 0xfc, 0x42];
    let mut i = 0;
    while i < 6 {
        b[28 + i] = mac[i];
        i += 1;
    }
    let opts = [
        99, 130, 83, 99, // cookie
        53, 1, 2, // OFFER
        1, 4, 255, 255, 255, 0, // mask
        58, 4, 0, 0, 7, 8, // renewal 1800
        59, 4, 0, 0, 12, 78, // rebinding 3150
        51, 4, 0, 0, 14, 16, // lease 3600
        54, 4, 192, 168, 0, 1, // server id
        255,
    ];
    let mut j = 0;
    while j < opts.len() {
        b[236 + j] = opts[j];
        j += 1;
    }
    b
};

/// The `dhcpv4` registry entry (`src/proto/registry.rs`): UDP 67 and 68.
pub struct Dhcpv4;

impl Protocol for Dhcpv4 {
    const NAME: &'static str = "dhcpv4";
    const DEFAULT_PORTS: &'static [(crate::flow::Transport, u16)] = &[(Udp, SERVER_PORT)];
    const SAMPLE: &'static [(Dir, &'static [u8])] =
        &[(Dir::ToServer, &DISCOVER), (Dir::ToClient, &OFFER)];
    type Config = DhcpConfig;
    fn datagram(cfg: &Arc<DhcpConfig>) -> Option<Box<dyn DatagramSession>> {
        Some(Box::new(DhcpSession::new(Arc::clone(cfg))))
    }
}
