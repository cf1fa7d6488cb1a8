//! What the HTTP session keeps of one request or response ([`Message`]) and
//! the `error.message` texts ([`errors`]): shared by the session, which
//! fills messages, and the event writer, which reads them, so neither
//! imports the other.

use super::parser::Head;
use super::HttpConfig;
use crate::proto::common::Leg;

/// `error.message` texts: the shared ones and HTTP's own.
pub mod errors {
    pub use crate::proto::common::errors::{
        LOSS_REQUEST, LOSS_RESPONSE, UNMATCHED_REQUEST, UNMATCHED_RESPONSE,
    };
    /// The request head exceeded `max_head_bytes`.
    pub const REQUEST_HEAD_TOO_LARGE: &str = "Request head too large";
    /// The response head exceeded `max_head_bytes`.
    pub const RESPONSE_HEAD_TOO_LARGE: &str = "Response head too large";
    /// The request head could not be parsed (its start line or a field).
    pub const BAD_REQUEST_HEAD: &str = "Invalid request head";
    /// The request body could not be framed.
    pub const BAD_REQUEST_BODY: &str = "Invalid request body framing";
    /// The response body could not be framed.
    pub const BAD_RESPONSE_BODY: &str = "Invalid response body framing";
    /// The connection ended before the response did.
    pub const INCOMPLETE_RESPONSE: &str = "Incomplete response";
    /// The request was beyond `max_in_flight` and not kept.
    pub const UNTRACKED_REQUEST: &str = "Request not tracked: too many requests in flight";
}

/// One request or response as the session keeps it.
#[derive(Debug, Default, Clone)]
pub struct Message {
    /// The parsed head.
    pub head: Head,
    /// Times of the first and last byte seen, wire bytes (head, body,
    /// chunk framing), and whether bytes were lost inside this message.
    pub leg: Leg,
    /// Body payload bytes.
    pub body_bytes: u64,
    /// Kept body bytes (at most `max_body_bytes`).
    pub body: Vec<u8>,
    /// Keep body bytes.
    pub capture: bool,
    /// Emit the kept body as `body.content` (`include_body_for`).
    pub show_body: bool,
    /// `application/x-www-form-urlencoded` (its parameters go to `url.query`).
    pub form: bool,
    /// Larger than `max_message_size`.
    pub over_max: bool,
    /// The message is complete.
    pub complete: bool,
    /// What went wrong, for `error.message`.
    pub error: Option<&'static str>,
    /// Sequence number (requests), to find the one still being received.
    pub id: u64,
}

impl Message {
    pub(super) fn reset(&mut self) {
        self.head.clear();
        self.body.clear();
        self.leg = Leg::default();
        self.body_bytes = 0;
        self.capture = false;
        self.show_body = false;
        self.form = false;
        self.over_max = false;
        self.complete = false;
        self.error = None;
        self.id = 0;
    }

    /// Decides which body bytes are kept, from the head and the settings.
    pub(super) fn choose_capture(&mut self, cfg: &HttpConfig) {
        let ct = self.head.value(self.head.content_type).unwrap_or(&[]);
        self.form = self.head.method() != b"" && contains_ci(ct, b"urlencoded");
        self.show_body = cfg
            .include_body_for
            .iter()
            .any(|t| !t.is_empty() && contains_ci(ct, t.as_bytes()));
        self.capture = (self.form || self.show_body) && cfg.max_body_bytes > 0;
    }

    pub(super) fn keep_body(&mut self, data: &[u8], cfg: &HttpConfig) {
        if self.capture {
            let room = cfg.max_body_bytes.saturating_sub(self.body.len());
            self.body.extend_from_slice(&data[..room.min(data.len())]);
        }
    }
}

fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty()
        || hay
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
}
