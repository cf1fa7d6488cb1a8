//! Http decoder (placeholder until its issue lands: counts bytes, emits nothing).

use crate::proto::{Dir, Session, TxSink};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// `[protocols.http]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Set to false to turn the decoder off.
    pub enabled: bool,
    /// Server ports carrying Http.
    pub ports: Vec<u16>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            enabled: true,
            ports: vec![80, 8080, 8000, 5000, 8002],
        }
    }
}

/// A Http connection.
pub struct HttpSession {
    _config: std::sync::Arc<HttpConfig>,
}

impl HttpSession {
    /// A new session with the given settings.
    pub fn new(config: std::sync::Arc<HttpConfig>) -> Self {
        HttpSession { _config: config }
    }
}

impl Session for HttpSession {
    fn data(&mut self, _dir: Dir, data: &[u8], _ts: Timestamp, out: &mut TxSink<'_>) {
        out.count("http.bytes", data.len() as u64);
    }
    fn gap(&mut self, _dir: Dir, _len: u64, _ts: Timestamp, _out: &mut TxSink<'_>) {}
    fn end(&mut self, _dir: Dir, _ts: Timestamp, _out: &mut TxSink<'_>) {}
    fn tick(&mut self, _now: Timestamp, _out: &mut TxSink<'_>) {}
    fn close(&mut self, _now: Timestamp, _out: &mut TxSink<'_>) {}
}
