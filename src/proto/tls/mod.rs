//! TLS: one `type: tls` event per connection's handshake, never the payload.
//!
//! - [`parser`]: record framing and handshake message assembly (pure,
//!   streaming, bounded, resynchronising), hello parsing with `tls-parser`.
//! - [`fingerprint`]: JA3, JA3S and JA4.
//! - [`cert`]: certificates sent in clear, summarised with `x509-parser`.
//! - [`session`]: [`TlsSession`] follows both directions until they switch
//!   to encrypted records and writes the event.
//! - [`event`]: the ECS `tls.*` fields (and Packetbeat's `tls.detailed.*`).
//!
//! Not here: decryption, TLS 1.3 certificates (they are encrypted), SSLv2
//! hellos, DTLS and QUIC.

pub mod cert;
pub mod event;
pub mod fingerprint;
pub mod handshake;
pub mod names;
pub mod parser;
pub mod session;
#[cfg(test)]
pub(crate) mod tests;

pub use session::TlsSession;

use crate::flow::Transport::Tcp;
use crate::proto::registry::default_ports;
use crate::proto::{Dir, Protocol, ProtocolConfig, Session};
use crate::time::HumanDuration;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// `[protocols.tls]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// Set to false to turn the decoder off.
    pub enabled: bool,
    /// Server ports carrying TLS.
    pub ports: Vec<u16>,
    /// Write the certificates' `x509.*` objects and the detailed chain.
    pub send_certificates: bool,
    /// Write the DER certificates (base64) as `tls.*.certificate` and
    /// `tls.*.certificate_chain`.
    pub include_raw_certificates: bool,
    /// Write `tls.detailed.*` (both hellos in full, the chain, alerts).
    pub include_detailed_fields: bool,
    /// Certificate fingerprints written under `tls.*.hash`: any of `md5`,
    /// `sha1`, `sha256`.
    pub fingerprints: Vec<String>,
    /// Bound on one handshake message; a longer one is skipped and counted
    /// (`tls.handshake_too_large`).
    pub max_handshake_bytes: usize,
    /// Certificates kept per chain.
    pub max_certificates: usize,
    /// A handshake that stalls this long (packet time) is reported as not
    /// established.
    pub transaction_timeout: HumanDuration,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            enabled: true,
            ports: default_ports(Tls::DEFAULT_PORTS),
            send_certificates: true,
            include_raw_certificates: false,
            include_detailed_fields: true,
            fingerprints: vec!["sha1".into()],
            max_handshake_bytes: parser::DEFAULT_MAX_MESSAGE,
            max_certificates: 10,
            transaction_timeout: HumanDuration::secs(10),
        }
    }
}

/// A TLS 1.2 ClientHello record with SNI `a.com`.
#[rustfmt::skip]
const SAMPLE_CLIENT_HELLO: &[u8] = &[
    0x16, 0x03, 0x01, 0x00, 0x3d,       // record: handshake, TLS 1.0 framing, 61 bytes
    0x01, 0x00, 0x00, 0x39,             // client_hello, 57 bytes
    0x03, 0x03,                         // legacy_version TLS 1.2
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, // random
    0x00,                               // session id: empty
    0x00, 0x02, 0xc0, 0x2f,             // one cipher: ECDHE-RSA-AES128-GCM-SHA256
    0x01, 0x00,                         // compression: NULL
    0x00, 0x0e,                         // extensions: 14 bytes
    0x00, 0x00, 0x00, 0x0a,             // server_name, 10 bytes
    0x00, 0x08, 0x00, 0x00, 0x05,       // list of 8: host_name of 5
    b'a', b'.', b'c', b'o', b'm',
];

/// ServerHello, ServerHelloDone, ChangeCipherSpec, encrypted Finished.
#[rustfmt::skip]
const SAMPLE_SERVER_FLIGHT: &[u8] = &[
    0x16, 0x03, 0x03, 0x00, 0x30,       // record: handshake, 48 bytes
    0x02, 0x00, 0x00, 0x28,             // server_hello, 40 bytes
    0x03, 0x03,                         // version TLS 1.2
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, // random
    0x00,                               // session id: empty
    0xc0, 0x2f,                         // cipher
    0x00,                               // compression NULL
    0x00, 0x00,                         // no extensions
    0x0e, 0x00, 0x00, 0x00,             // server_hello_done
    0x14, 0x03, 0x03, 0x00, 0x01, 0x01, // change_cipher_spec
    0x16, 0x03, 0x03, 0x00, 0x08,       // Finished, encrypted: 8 bytes
    9, 9, 9, 9, 9, 9, 9, 9,
];

/// ClientKeyExchange and ChangeCipherSpec: the handshake is established.
#[rustfmt::skip]
const SAMPLE_CLIENT_FINISH: &[u8] = &[
    0x16, 0x03, 0x03, 0x00, 0x06,       // record: handshake, 6 bytes
    0x10, 0x00, 0x00, 0x02, 0x00, 0x00, // client_key_exchange, 2 bytes
    0x14, 0x03, 0x03, 0x00, 0x01, 0x01, // change_cipher_spec
];

/// The `tls` registry entry (`src/proto/registry.rs`).
pub struct Tls;

impl Protocol for Tls {
    const NAME: &'static str = "tls";
    const DEFAULT_PORTS: &'static [(crate::flow::Transport, u16)] = &[
        (Tcp, 443),
        (Tcp, 993),
        (Tcp, 995),
        (Tcp, 5223),
        (Tcp, 8443),
        (Tcp, 8883),
        (Tcp, 9243),
    ];
    const SAMPLE: &'static [(Dir, &'static [u8])] = &[
        (Dir::ToServer, SAMPLE_CLIENT_HELLO),
        (Dir::ToClient, SAMPLE_SERVER_FLIGHT),
        (Dir::ToServer, SAMPLE_CLIENT_FINISH),
    ];
    type Config = TlsConfig;
    fn stream(cfg: &Arc<TlsConfig>) -> Option<Box<dyn Session>> {
        Some(Box::new(TlsSession::new(Arc::clone(cfg))))
    }
}

impl ProtocolConfig for TlsConfig {
    fn enabled(&self) -> bool {
        self.enabled
    }
    fn ports(&self) -> &[u16] {
        &self.ports
    }
    fn validate(&self) -> Result<(), (&'static str, String)> {
        for f in &self.fingerprints {
            if !matches!(f.as_str(), "md5" | "sha1" | "sha256") {
                return Err((
                    "fingerprints",
                    format!("unknown algorithm {f:?}; use md5, sha1 or sha256"),
                ));
            }
        }
        if self.max_handshake_bytes < 1024 {
            return Err((
                "max_handshake_bytes",
                "must be at least 1024 (a ClientHello is often 512 bytes or more)".into(),
            ));
        }
        Ok(())
    }
}
