//! The session driver the MySQL and Redis fuzz targets share.

use spanlens::event::{EventBatch, FlowContext, Transport};
use spanlens::proto::{Dir, Session, TxSink};
use spanlens::stats::Counters;
use std::net::{IpAddr, Ipv4Addr};

/// Feeds `data` to `session` in chunks: each chunk's control byte picks the
/// direction (bit 0), the length (`(ctl >> 2) * len_unit` bytes) and
/// whether it is a gap instead (`gap(ctl)` gives its size). Ticks one
/// second after every chunk, closes at the end, and checks that every
/// event is valid JSON.
pub fn drive<S: Session>(
    mut session: S,
    server_port: u16,
    data: &[u8],
    len_unit: usize,
    gap: impl Fn(u8) -> Option<u64>,
) {
    let mut flow = FlowContext::new(
        1,
        (IpAddr::V4(Ipv4Addr::LOCALHOST), 1),
        (IpAddr::V4(Ipv4Addr::LOCALHOST), server_port),
        Transport::Tcp,
        String::new(),
    );
    let mut events = EventBatch::default();
    let mut counters = Counters::new();
    let mut out = TxSink {
        flow: &mut flow,
        events: &mut events,
        counters: &mut counters,
    };
    let mut rest = data;
    let mut ts = 1_000_000_000u64;
    while let Some((&ctl, tail)) = rest.split_first() {
        let dir = if ctl & 1 == 0 {
            Dir::ToServer
        } else {
            Dir::ToClient
        };
        let len = ((ctl >> 2) as usize * len_unit).min(tail.len());
        let (chunk, next) = tail.split_at(len);
        match gap(ctl) {
            Some(n) => session.gap(dir, n, ts, &mut out),
            None => session.data(dir, chunk, ts, &mut out),
        }
        ts += 1_000_000_000;
        session.tick(ts, &mut out);
        rest = next;
    }
    session.close(ts, &mut out);
    for i in 0..events.len() {
        serde_json::from_slice::<serde_json::Value>(events.json(i)).expect("valid JSON");
    }
}
