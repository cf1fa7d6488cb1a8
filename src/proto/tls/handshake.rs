//! What a connection's handshake showed: the parsed hellos, certificates,
//! alerts and timings, from which [`event`](super::event) writes the event.

use super::cert::CertInfo;
use super::parser::{ClientHello, ServerHello};
use crate::flow::Dir;
use crate::time::Timestamp;

/// Most alerts kept per connection.
pub const MAX_ALERTS: usize = 16;

/// One plaintext alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alert {
    /// Who sent it.
    pub from: Dir,
    /// 1 warning, 2 fatal.
    pub level: u8,
    /// The description code.
    pub code: u8,
}

/// Everything the event is written from.
#[derive(Debug, Default)]
pub struct Handshake {
    /// The (last) ClientHello.
    pub client: Option<ClientHello>,
    /// The ServerHello (not a HelloRetryRequest, unless only that came).
    pub server: Option<ServerHello>,
    /// A HelloRetryRequest came first.
    pub retried: bool,
    /// Server certificates, leaf first.
    pub server_certs: Vec<CertInfo>,
    /// Client certificates, leaf first.
    pub client_certs: Vec<CertInfo>,
    /// The ECDHE group (ServerKeyExchange, or the TLS 1.3 key share).
    pub curve: Option<u16>,
    /// The server sent CertificateRequest.
    pub cert_requested: bool,
    /// A key exchange message was seen (so not resumed).
    pub key_exchanged: bool,
    /// Plaintext alerts.
    pub alerts: Vec<Alert>,
    /// When each direction switched to encrypted records.
    pub switched: [Option<Timestamp>; 2],
    /// First handshake byte per direction.
    pub first: [Option<Timestamp>; 2],
    /// Last handshake byte per direction.
    pub last: [Timestamp; 2],
    /// When the ClientHello was complete.
    pub hello_end: Option<Timestamp>,
    /// Handshake-phase bytes per direction.
    pub bytes: [u64; 2],
    /// Plaintext handshake bytes were lost, per direction.
    pub lost: [bool; 2],
}

impl Handshake {
    /// Both directions switched to encrypted records.
    pub fn established(&self) -> bool {
        self.switched[0].is_some() && self.switched[1].is_some()
    }

    /// The negotiated version: the server's choice (supported_versions, then
    /// its legacy version), else what the client asked for.
    pub fn version(&self) -> Option<u16> {
        self.server
            .as_ref()
            .map(|s| s.selected_version.unwrap_or(s.version))
            .or_else(|| self.client.as_ref().map(|c| c.version))
    }

    /// Whether the session was resumed, and how.
    pub fn resumption(&self) -> Option<&'static str> {
        let (c, s) = (self.client.as_ref()?, self.server.as_ref()?);
        let id_match = !c.session_id.is_empty() && c.session_id == s.session_id;
        if s.selected_version == Some(0x0304) {
            return s.psk.then_some(if id_match { "id" } else { "ticket" });
        }
        let ticket = c.session_ticket.is_some_and(|n| n > 0) && s.session_ticket;
        if self.key_exchanged || !(id_match || ticket) {
            return None;
        }
        Some(if ticket { "ticket" } else { "id" })
    }
}
