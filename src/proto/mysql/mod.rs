//! Mysql decoder (placeholder until its issue lands: counts bytes, emits nothing).

use crate::proto::{Dir, Session, TxSink};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// `[protocols.mysql]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MysqlConfig {
    /// Set to false to turn the decoder off.
    pub enabled: bool,
    /// Server ports carrying Mysql.
    pub ports: Vec<u16>,
}

impl Default for MysqlConfig {
    fn default() -> Self {
        MysqlConfig {
            enabled: true,
            ports: vec![3306, 3307],
        }
    }
}

/// A Mysql connection.
pub struct MysqlSession {
    _config: std::sync::Arc<MysqlConfig>,
}

impl MysqlSession {
    /// A new session with the given settings.
    pub fn new(config: std::sync::Arc<MysqlConfig>) -> Self {
        MysqlSession { _config: config }
    }
}

impl Session for MysqlSession {
    fn data(&mut self, _dir: Dir, data: &[u8], _ts: Timestamp, out: &mut TxSink<'_>) {
        out.count("mysql.bytes", data.len() as u64);
    }
    fn gap(&mut self, _dir: Dir, _len: u64, _ts: Timestamp, _out: &mut TxSink<'_>) {}
    fn end(&mut self, _dir: Dir, _ts: Timestamp, _out: &mut TxSink<'_>) {}
    fn tick(&mut self, _now: Timestamp, _out: &mut TxSink<'_>) {}
    fn close(&mut self, _now: Timestamp, _out: &mut TxSink<'_>) {}
}
