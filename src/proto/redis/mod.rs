//! Redis decoder (placeholder until its issue lands: counts bytes, emits nothing).

use crate::proto::{Dir, Session, TxSink};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// `[protocols.redis]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConfig {
    /// Set to false to turn the decoder off.
    pub enabled: bool,
    /// Server ports carrying Redis.
    pub ports: Vec<u16>,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            enabled: true,
            ports: vec![6379],
        }
    }
}

/// A Redis connection.
pub struct RedisSession {
    _config: std::sync::Arc<RedisConfig>,
}

impl RedisSession {
    /// A new session with the given settings.
    pub fn new(config: std::sync::Arc<RedisConfig>) -> Self {
        RedisSession { _config: config }
    }
}

impl Session for RedisSession {
    fn data(&mut self, _dir: Dir, data: &[u8], _ts: Timestamp, out: &mut TxSink<'_>) {
        out.count("redis.bytes", data.len() as u64);
    }
    fn gap(&mut self, _dir: Dir, _len: u64, _ts: Timestamp, _out: &mut TxSink<'_>) {}
    fn end(&mut self, _dir: Dir, _ts: Timestamp, _out: &mut TxSink<'_>) {}
    fn tick(&mut self, _now: Timestamp, _out: &mut TxSink<'_>) {}
    fn close(&mut self, _now: Timestamp, _out: &mut TxSink<'_>) {}
}
