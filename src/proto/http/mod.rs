//! HTTP/1.x: one `type: http` event per request/response transaction.
//!
//! - [`parser`]: pure framing and head parsing (RFC 9112), streaming,
//!   resynchronising after gaps.
//! - [`session`]: [`HttpSession`] pairs requests with responses (in order,
//!   for pipelining), handles `100-continue`, upgrades, losses, timeouts and
//!   the bounds below, and counts what it drops.
//! - [`scan`]: the strict fast path of head parsing, and which header
//!   fields a session keeps ([`scan::Wants`]).
//! - [`message`]: [`message::Message`], what is kept of one request or
//!   response, and the `error.message` texts.
//! - [`event`]: the event's HTTP fields (`http.*`, `url.*`, `user_agent.*`,
//!   `user.name` and Packetbeat's `method`, `query`, `path`).
//!
//! Not here: HTTP/2, TLS, content decoding (gzip bodies are reported as
//! received), cookies split into fields.

pub mod event;
pub mod message;
pub mod parser;
pub mod scan;
pub mod session;
#[cfg(test)]
mod tests;

pub use session::{fuzz_one, HttpSession};

use crate::flow::Transport::Tcp;
use crate::proto::registry::default_ports;
use crate::proto::{Dir, Protocol, ProtocolConfig, Session};
use crate::time::HumanDuration;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// `[protocols.http]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Set to false to turn the decoder off.
    pub enabled: bool,
    /// Server ports carrying HTTP.
    pub ports: Vec<u16>,
    /// Header names (any case) copied into `http.request.headers` and
    /// `http.response.headers`.
    pub send_headers: Vec<String>,
    /// Copy every header.
    pub send_all_headers: bool,
    /// Content types (substrings of `Content-Type`, any case) whose bodies
    /// are included as `http.*.body.content`.
    pub include_body_for: Vec<String>,
    /// Bytes of a body kept for `include_body_for` and for form parameters.
    pub max_body_bytes: usize,
    /// A header naming the real client behind a proxy (e.g. `X-Forwarded-For`):
    /// its first address becomes `client.ip`, and `network.forwarded_ip`.
    pub real_ip_header: Option<String>,
    /// Replace `Authorization` and `Proxy-Authorization` values by `*`
    /// (default on).
    pub redact_authorization: bool,
    /// Mask the values of the query and form parameters named in
    /// [`DEFAULT_HIDDEN`] (`pass`, `password`, `passwd`, `pwd`, `secret`,
    /// `token`, `api_key`; any case) by `xxxxx` (default on).
    pub mask_passwords: bool,
    /// More query and form parameter names whose values are replaced by
    /// `xxxxx`, added to [`DEFAULT_HIDDEN`] (always applied).
    pub hide_keywords: Vec<String>,
    /// A request with no response after this much packet time is reported
    /// as unmatched.
    pub transaction_timeout: HumanDuration,
    /// Messages larger than this have their body skipped (never kept), counted
    /// in `http.messages_over_max_size`.
    pub max_message_size: u64,
    /// Requests waiting for a response per connection; beyond it requests are
    /// only counted (`http.in_flight_overflow`).
    pub max_in_flight: usize,
    /// Bound on a message head (start line and headers); a longer head is an
    /// error event.
    pub max_head_bytes: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            enabled: true,
            ports: default_ports(Http::DEFAULT_PORTS),
            send_headers: Vec::new(),
            send_all_headers: false,
            include_body_for: Vec::new(),
            max_body_bytes: 64 * 1024,
            real_ip_header: None,
            redact_authorization: true,
            mask_passwords: true,
            hide_keywords: Vec::new(),
            transaction_timeout: HumanDuration::secs(10),
            max_message_size: 10 * 1024 * 1024,
            max_in_flight: 64,
            max_head_bytes: parser::DEFAULT_MAX_HEAD,
        }
    }
}

/// Parameter names whose values are masked unless `mask_passwords = false`.
pub const DEFAULT_HIDDEN: [&str; 7] = [
    "pass", "password", "passwd", "pwd", "secret", "token", "api_key",
];

impl HttpConfig {
    /// Whether the value of parameter `key` is masked.
    pub fn hides(&self, key: &[u8]) -> bool {
        (self.mask_passwords
            && DEFAULT_HIDDEN
                .iter()
                .any(|h| h.as_bytes().eq_ignore_ascii_case(key)))
            || self
                .hide_keywords
                .iter()
                .any(|h| h.as_bytes().eq_ignore_ascii_case(key))
    }

    /// Whether any parameter is masked (form bodies are then shown re-encoded).
    pub fn masks_any(&self) -> bool {
        self.mask_passwords || !self.hide_keywords.is_empty()
    }
}

/// The `http` registry entry (`src/proto/registry.rs`).
pub struct Http;

impl Protocol for Http {
    const NAME: &'static str = "http";
    const DEFAULT_PORTS: &'static [(crate::flow::Transport, u16)] = &[
        (Tcp, 80),
        (Tcp, 8080),
        (Tcp, 8000),
        (Tcp, 5000),
        (Tcp, 8002),
    ];
    const SAMPLE: &'static [(Dir, &'static [u8])] = &[
        (
            Dir::ToServer,
            b"GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8.0\r\n\r\n",
        ),
        (
            Dir::ToClient,
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 13\r\n\r\n<html></html>",
        ),
    ];
    type Config = HttpConfig;
    fn stream(cfg: &Arc<HttpConfig>) -> Option<Box<dyn Session>> {
        Some(Box::new(HttpSession::new(Arc::clone(cfg))))
    }
}

impl ProtocolConfig for HttpConfig {
    fn enabled(&self) -> bool {
        self.enabled
    }
    fn ports(&self) -> &[u16] {
        &self.ports
    }
}
