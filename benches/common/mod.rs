//! What the per-protocol micro benchmarks share: a flow and the loop that
//! drives one request/response exchange through a session.

use criterion::Bencher;
use spanlens::event::{EventBatch, FlowContext, Transport};
use spanlens::proto::{Dir, Session, TxSink};
use spanlens::stats::Counters;
use std::net::{IpAddr, Ipv4Addr};

/// 10.0.0.1:40000 to 10.0.0.2:`server_port`, handshake RTT 50 µs.
pub fn flow(server_port: u16) -> FlowContext {
    let mut f = FlowContext::new(
        1,
        (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 40000),
        (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), server_port),
        Transport::Tcp,
        "1:abc".into(),
    );
    f.handshake_rtt_us = Some(50);
    f
}

/// Each iteration feeds `req` then `resp` to `session` (1 ms apart) and
/// keeps the event batch from growing without bound.
pub fn exchange<S: Session>(
    b: &mut Bencher<'_>,
    mut session: S,
    mut flow: FlowContext,
    req: &[u8],
    resp: &[u8],
) {
    let mut ev = EventBatch::with_capacity(1 << 20);
    let mut counters = Counters::new();
    let mut ts = 1_000_000_000u64;
    b.iter(|| {
        let mut out = TxSink {
            flow: &mut flow,
            events: &mut ev,
            counters: &mut counters,
        };
        session.data(Dir::ToServer, req, ts, &mut out);
        session.data(Dir::ToClient, resp, ts + 1000, &mut out);
        ts += 10_000;
        if ev.len() >= 1024 {
            ev.clear();
        }
    });
}
