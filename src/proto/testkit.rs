//! The test kit every decoder's tests, fuzz targets and benchmarks share.
//!
//! - [`Driver`]: one flow's sink (flow context, event batch, counters) and
//!   the calls a worker would make: stream `data` / `gap` / `end`,
//!   `datagram`, `tick`, `close`; then [`Driver::events`] as JSON.
//! - [`AnySession`]: a stream or datagram session of any registered
//!   protocol, made from its registry entry ([`AnySession::new`]), fed the
//!   protocol's own [`Protocol::SAMPLE`](super::Protocol::SAMPLE).
//!
//! Not here: packet decoding or reassembly (pcap replays go through the
//! real capture, dispatch, worker and `tcp::TcpConn` code).

use super::{DatagramSession, Dir, ProtocolId, ProtocolsConfig, Session, TxSink};
use crate::event::{EventBatch, FlowContext};
use crate::flow::Transport;
use crate::stats::Counters;
use crate::time::Timestamp;
use std::net::{IpAddr, Ipv4Addr};

/// Start time of driven exchanges (2021-01-01T00:00:00Z).
pub const T0: Timestamp = 1_609_459_200_000_000_000;

/// One flow's worth of what a worker hands a session.
pub struct Driver {
    /// The flow (10.0.0.1:40000 to 10.0.0.2:port, handshake RTT 50 µs).
    pub flow: FlowContext,
    /// Encoded events so far.
    pub batch: EventBatch,
    /// Counters so far.
    pub counters: Counters,
}

impl Driver {
    /// A flow on `transport` to server port `port`.
    pub fn new(transport: Transport, port: u16) -> Self {
        let mut flow = FlowContext::new(
            1,
            (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 40000),
            (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), port),
            transport,
            "1:test".into(),
        );
        flow.handshake_rtt_us = Some(50);
        Driver {
            flow,
            batch: EventBatch::default(),
            counters: Counters::new(),
        }
    }

    /// The sink a session call writes into.
    pub fn sink(&mut self) -> TxSink<'_> {
        TxSink {
            flow: &mut self.flow,
            events: &mut self.batch,
            counters: &mut self.counters,
        }
    }

    /// The events so far, parsed (panics on invalid JSON: a decoder bug).
    pub fn events(&self) -> Vec<serde_json::Value> {
        (0..self.batch.len())
            .map(|i| {
                serde_json::from_slice(self.batch.json(i)).unwrap_or_else(|e| {
                    panic!(
                        "invalid JSON ({e}): {}",
                        String::from_utf8_lossy(self.batch.json(i))
                    )
                })
            })
            .collect()
    }

    /// The events so far as text lines (for exact comparisons).
    pub fn lines(&self) -> Vec<String> {
        (0..self.batch.len())
            .map(|i| String::from_utf8_lossy(self.batch.json(i)).into_owned())
            .collect()
    }
}

/// A session of either kind.
pub enum AnySession {
    /// TCP.
    Stream(Box<dyn Session>),
    /// UDP or ICMP.
    Datagram(Box<dyn DatagramSession>),
}

impl AnySession {
    /// The session a worker would create for protocol `p` (stream when the
    /// protocol has one, else datagram), with the default settings.
    pub fn new(p: ProtocolId, cfg: &ProtocolsConfig) -> AnySession {
        if let Some(s) = p.stream(cfg) {
            AnySession::Stream(s)
        } else if let Some(s) = p.datagram(cfg) {
            AnySession::Datagram(s)
        } else {
            panic!("{} has neither a stream nor a datagram session", p.name())
        }
    }

    /// The transport this session is for.
    pub fn transport(&self) -> Transport {
        match self {
            AnySession::Stream(_) => Transport::Tcp,
            AnySession::Datagram(_) => Transport::Udp,
        }
    }

    /// Bytes (stream) or one datagram of direction `dir` at `ts`.
    pub fn feed(&mut self, d: &mut Driver, dir: Dir, bytes: &[u8], ts: Timestamp) {
        match self {
            AnySession::Stream(s) => s.data(dir, bytes, ts, &mut d.sink()),
            AnySession::Datagram(s) => s.datagram(dir, bytes, ts, &mut d.sink()),
        }
    }

    /// A packet-time tick.
    pub fn tick(&mut self, d: &mut Driver, now: Timestamp) {
        match self {
            AnySession::Stream(s) => s.tick(now, &mut d.sink()),
            AnySession::Datagram(s) => s.tick(now, &mut d.sink()),
        }
    }

    /// The flow ends.
    pub fn close(&mut self, d: &mut Driver, now: Timestamp) {
        match self {
            AnySession::Stream(s) => s.close(now, &mut d.sink()),
            AnySession::Datagram(s) => s.close(now, &mut d.sink()),
        }
    }
}

/// Feeds protocol `p`'s sample exchange (one step per millisecond from
/// [`T0`]) and closes the flow; returns the driver.
pub fn run_sample(p: ProtocolId) -> Driver {
    let cfg = ProtocolsConfig::default();
    let mut s = AnySession::new(p, &cfg);
    let port = p.default_ports().first().map_or(0, |x| x.1);
    let mut d = Driver::new(s.transport(), port);
    let mut ts = T0;
    for (dir, bytes) in p.sample() {
        s.feed(&mut d, *dir, bytes, ts);
        ts += 1_000_000;
    }
    s.close(&mut d, ts);
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_protocols_sample_decodes_to_ok_events() {
        for &p in ProtocolId::ALL {
            let d = run_sample(p);
            let ev = d.events();
            assert!(!ev.is_empty(), "{}: the sample gives no event", p.name());
            for e in &ev {
                assert_eq!(e["type"], p.name(), "{e}");
                assert_eq!(e["status"], "OK", "{}: {e}", p.name());
                assert!(e.get("error").is_none(), "{}: {e}", p.name());
            }
            assert_eq!(d.counters.get(p.events_counter()), ev.len() as u64);
        }
    }
}
