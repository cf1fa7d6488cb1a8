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
pub mod names;
pub mod parser;
pub mod session;
#[cfg(test)]
pub(crate) mod tests;

pub use session::TlsSession;

use crate::config::HumanDuration;
use serde::{Deserialize, Serialize};

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
            ports: vec![443, 993, 995, 5223, 8443, 8883, 9243],
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

impl TlsConfig {
    /// Checks the settings; the error names the key and what to do.
    pub fn validate(&self) -> Result<(), String> {
        for f in &self.fingerprints {
            if !matches!(f.as_str(), "md5" | "sha1" | "sha256") {
                return Err(format!(
                    "protocols.tls.fingerprints: unknown algorithm {f:?}; use md5, sha1 or sha256"
                ));
            }
        }
        Ok(())
    }
}
