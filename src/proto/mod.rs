//! Application protocols: the [`Session`] contract, the port registry and
//! the sink transactions are emitted into.
//!
//! A session lives as long as its flow and sees the flow's reassembled byte
//! streams (one per [`Dir`]), gaps where bytes were never captured, the end
//! of each direction, and packet-time ticks for its timeouts. It pairs
//! requests with responses and emits one event per transaction through
//! [`TxSink::emit`]. Sessions never see packets, never allocate per packet,
//! and never block.
//!
//! Adding a protocol: a folder under `src/proto/`, one line in
//! [`Protocol`]'s `ALL` list and in [`Protocol::new_session`], and its
//! config section in [`ProtocolsConfig`].

pub mod http;
pub mod mysql;
pub mod pgsql;
pub mod redis;

use crate::event::{EventBatch, FlowContext, JsonWriter, Transaction};
use crate::stats::Counters;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Direction of application bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dir {
    /// Client to server (requests).
    ToServer,
    /// Server to client (responses).
    ToClient,
}

impl Dir {
    /// The other direction.
    pub fn reverse(self) -> Dir {
        match self {
            Dir::ToServer => Dir::ToClient,
            Dir::ToClient => Dir::ToServer,
        }
    }

    /// 0 for `ToServer`, 1 for `ToClient` (index into per-direction arrays).
    pub fn idx(self) -> usize {
        match self {
            Dir::ToServer => 0,
            Dir::ToClient => 1,
        }
    }
}

/// Where a session sends its transactions and its counters.
pub struct TxSink<'a> {
    /// The flow's shared fields (read-only for sessions).
    pub flow: &'a mut FlowContext,
    /// The worker's outgoing event batch.
    pub events: &'a mut EventBatch,
    /// The worker's counters.
    pub counters: &'a mut Counters,
}

impl TxSink<'_> {
    /// Encodes one transaction event: the common fields from `tx`, then the
    /// protocol's own fields written by `body`. Counts `events.<kind>`.
    pub fn emit(&mut self, tx: &Transaction<'_>, body: impl FnOnce(&mut JsonWriter<'_>)) {
        let index = self.flow.next_index;
        self.flow.next_index += 1;
        crate::event::FlowJson::prepare(self.flow, tx.kind);
        let flow = &*self.flow;
        self.events.push(tx.start(), flow.flow_id, index, |w| {
            tx.encode(flow, w, body)
        });
        self.counters.add(event_counter(tx.kind), 1);
    }

    /// Adds `n` to a counter (use dotted names under the protocol's prefix,
    /// e.g. `http.body_bytes_skipped`).
    pub fn count(&mut self, name: &'static str, n: u64) {
        self.counters.add(name, n);
    }
}

/// The counter name for events of one kind.
pub fn event_counter(kind: &str) -> &'static str {
    match kind {
        "flow" => "events.flow",
        "http" => "events.http",
        "mysql" => "events.mysql",
        "redis" => "events.redis",
        _ => "events.other",
    }
}

/// One protocol decoder's view of a flow.
pub trait Session: Send {
    /// In-order bytes of direction `dir`, captured at `ts`.
    fn data(&mut self, dir: Dir, data: &[u8], ts: Timestamp, out: &mut TxSink<'_>);
    /// `len` bytes of direction `dir` were never captured (loss, or the
    /// capture started mid-stream); the next `data` follows them.
    fn gap(&mut self, dir: Dir, len: u64, ts: Timestamp, out: &mut TxSink<'_>);
    /// Direction `dir` ended (FIN or RST seen and all bytes before it delivered).
    fn end(&mut self, dir: Dir, ts: Timestamp, out: &mut TxSink<'_>);
    /// Packet time reached `now`: expire what has waited too long.
    fn tick(&mut self, now: Timestamp, out: &mut TxSink<'_>);
    /// The flow is being removed: report everything still pending.
    fn close(&mut self, now: Timestamp, out: &mut TxSink<'_>);
}

/// The protocols spanlens decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// HTTP/1.x.
    Http,
    /// MySQL client/server protocol.
    Mysql,
    /// Redis RESP2/RESP3.
    Redis,
}

impl Protocol {
    /// Every protocol, in registry order.
    pub const ALL: [Protocol; 3] = [Protocol::Http, Protocol::Mysql, Protocol::Redis];

    /// The name used in config sections and in `type`.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Mysql => "mysql",
            Protocol::Redis => "redis",
        }
    }

    /// Creates a session for a new flow.
    pub fn new_session(self, cfg: &ProtocolsConfig) -> Box<dyn Session> {
        match self {
            Protocol::Http => Box::new(http::HttpSession::new(cfg.http.clone())),
            Protocol::Mysql => Box::new(mysql::MysqlSession::new(cfg.mysql.clone())),
            Protocol::Redis => Box::new(redis::RedisSession::new(cfg.redis.clone())),
        }
    }
}

/// `[protocols.*]` sections: one per protocol, each with `ports`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProtocolsConfig {
    /// `[protocols.http]`
    pub http: Arc<http::HttpConfig>,
    /// `[protocols.mysql]`
    pub mysql: Arc<mysql::MysqlConfig>,
    /// `[protocols.redis]`
    pub redis: Arc<redis::RedisConfig>,
}

impl ProtocolsConfig {
    /// The ports of one protocol.
    pub fn ports(&self, p: Protocol) -> &[u16] {
        match p {
            Protocol::Http => &self.http.ports,
            Protocol::Mysql => &self.mysql.ports,
            Protocol::Redis => &self.redis.ports,
        }
    }

    /// Whether a protocol is enabled (`enabled = false` turns it off).
    pub fn enabled(&self, p: Protocol) -> bool {
        match p {
            Protocol::Http => self.http.enabled,
            Protocol::Mysql => self.mysql.enabled,
            Protocol::Redis => self.redis.enabled,
        }
    }
}

/// Port to protocol lookup, built once from the config.
#[derive(Debug, Clone)]
pub struct Registry {
    by_port: Box<[Option<Protocol>]>,
    /// The protocol settings sessions are created with.
    pub config: ProtocolsConfig,
}

/// A port claimed by two protocols.
#[derive(Debug, thiserror::Error)]
#[error("port {port} is claimed by both protocols.{first}.ports and protocols.{second}.ports; give each port to one protocol")]
pub struct PortConflict {
    /// The port.
    pub port: u16,
    /// The protocol listed first.
    pub first: &'static str,
    /// The protocol listed second.
    pub second: &'static str,
}

impl Registry {
    /// Builds the lookup; a port claimed twice is an error.
    pub fn new(config: ProtocolsConfig) -> Result<Self, PortConflict> {
        let mut by_port = vec![None; 65536].into_boxed_slice();
        for p in Protocol::ALL {
            if !config.enabled(p) {
                continue;
            }
            for &port in config.ports(p) {
                let slot: &mut Option<Protocol> = &mut by_port[port as usize];
                if let Some(first) = *slot {
                    if first != p {
                        return Err(PortConflict {
                            port,
                            first: first.name(),
                            second: p.name(),
                        });
                    }
                }
                *slot = Some(p);
            }
        }
        Ok(Registry { by_port, config })
    }

    /// The protocol on a port, if any.
    #[inline]
    pub fn lookup(&self, port: u16) -> Option<Protocol> {
        self.by_port[port as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_claimed_twice_names_both_protocols() {
        let mut cfg = ProtocolsConfig::default();
        Arc::make_mut(&mut cfg.redis).ports = vec![80];
        let err = Registry::new(cfg).unwrap_err();
        assert_eq!(err.port, 80);
        assert!(err.to_string().contains("protocols.http.ports"));
        assert!(err.to_string().contains("protocols.redis.ports"));
    }

    #[test]
    fn default_ports_are_packetbeats() {
        let r = Registry::new(ProtocolsConfig::default()).unwrap();
        assert_eq!(r.lookup(80), Some(Protocol::Http));
        assert_eq!(r.lookup(3306), Some(Protocol::Mysql));
        assert_eq!(r.lookup(6379), Some(Protocol::Redis));
        assert_eq!(r.lookup(22), None);
    }
}
