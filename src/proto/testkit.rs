//! The test kit every decoder's tests, fuzz targets and benchmarks share.
//!
//! - [`Driver`]: one flow's sink (flow context, event batch, counters) and
//!   the calls a worker would make: stream `data` / `gap` / `end`,
//!   `datagram`, `tick`, `close`; then [`Driver::events`] as JSON.
//! - [`AnySession`]: a stream or datagram session of any registered
//!   protocol, made from its registry entry ([`AnySession::new`]), fed the
//!   protocol's own [`Protocol::SAMPLE`](super::Protocol::SAMPLE).
//! - The generic checks every decoder passes, run on every registered
//!   protocol's sample by this module's tests (so a new protocol is checked
//!   by adding its registry line), and callable with any exchange from a
//!   protocol's own tests: [`check_every_prefix`] (a prefix of a message
//!   is incomplete: no event, no counter moves), [`check_every_split`] (cut
//!   anywhere, the same events), [`check_random_bytes`] (random and mutated
//!   input never panics, every event is valid JSON).
//! - [`fuzz_stream`] / [`fuzz_datagram`]: the fuzz driver, so that each
//!   fuzz target is a few lines; [`bench_exchange`], the loop the
//!   all-protocols benchmark (`benches/protocols.rs`) times.
//!
//! Not here: packet decoding or reassembly. To run a capture through the
//! real capture, dispatch, worker and `tcp::TcpConn` code, use
//! [`crate::harness::replay`].

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

/// A sequence of steps: the bytes of one direction (stream) or one
/// datagram each.
pub type Exchange<'a> = &'a [(Dir, &'a [u8])];

fn fresh(p: ProtocolId, cfg: &ProtocolsConfig) -> (AnySession, Driver) {
    let s = AnySession::new(p, cfg);
    let port = p.default_ports().first().map_or(0, |x| x.1);
    let d = Driver::new(s.transport(), port);
    (s, d)
}

/// What the checks run: a name for messages and a session maker. The
/// `check_*` functions build one from a registered protocol; a decoder not
/// (yet) in the registry, such as `proto::template`, uses [`prefix_check`],
/// [`split_check`] and [`random_check`] with its own.
pub struct Subject<'a> {
    /// Shown in failure messages.
    pub name: &'a str,
    /// Makes a fresh session.
    pub make: &'a dyn Fn() -> AnySession,
}

impl Subject<'_> {
    fn fresh(&self) -> (AnySession, Driver) {
        let s = (self.make)();
        let d = Driver::new(s.transport(), 1);
        (s, d)
    }
}

/// One piece: the whole step.
fn uncut(_: usize, b: &[u8]) -> Vec<std::ops::Range<usize>> {
    std::iter::once(0..b.len()).collect()
}

/// Feeds `steps`, each cut into the pieces `cut(step index, bytes)`
/// returns (all at the step's time), then closes; returns the driver.
fn drive_cut(
    subject: &Subject<'_>,
    steps: Exchange<'_>,
    cut: impl Fn(usize, &[u8]) -> Vec<std::ops::Range<usize>>,
    close: bool,
) -> Driver {
    let (mut s, mut d) = subject.fresh();
    let mut ts = T0;
    for (i, (dir, bytes)) in steps.iter().enumerate() {
        for r in cut(i, bytes) {
            s.feed(&mut d, *dir, &bytes[r], ts);
        }
        ts += 1_000_000;
    }
    if close {
        s.close(&mut d, ts);
    }
    d
}

fn counters_of(d: &Driver) -> Vec<(&'static str, u64)> {
    let mut v: Vec<_> = d.counters.iter().filter(|(_, n)| *n > 0).collect();
    v.sort();
    v
}

/// Every strict prefix of each step of a stream exchange, fed after the
/// whole steps before it, gives no new event and moves no counter: the
/// decoder waits for more bytes instead of failing. Each step must be one
/// message, or messages none of which completes a transaction alone
/// (pipelined requests); the split check takes any steps. (Datagram protocols:
/// a cut datagram is a truncated message, which may be an error; their
/// prefixes are checked for panics and valid JSON only.)
pub fn check_every_prefix(p: ProtocolId, cfg: &ProtocolsConfig, steps: Exchange<'_>) {
    let make = || AnySession::new(p, cfg);
    prefix_check(
        &Subject {
            name: p.name(),
            make: &make,
        },
        steps,
    );
}

/// [`check_every_prefix`] for any session maker.
pub fn prefix_check(subject: &Subject<'_>, steps: Exchange<'_>) {
    let datagram = matches!((subject.make)(), AnySession::Datagram(_));
    for i in 0..steps.len() {
        let before = drive_cut(subject, &steps[..i], uncut, false);
        let (base_events, base_counters) = (before.lines(), counters_of(&before));
        for k in 1..steps[i].1.len() {
            let mut part = steps[..i].to_vec();
            part.push((steps[i].0, &steps[i].1[..k]));
            let d = drive_cut(subject, &part, uncut, false);
            let _ = d.events(); // valid JSON, always
            if datagram {
                continue;
            }
            assert_eq!(
                d.lines(),
                base_events,
                "{}: step {i} cut at {k} of {} emitted an event",
                subject.name,
                steps[i].1.len()
            );
            assert_eq!(
                counters_of(&d),
                base_counters,
                "{}: step {i} cut at {k} of {} moved a counter",
                subject.name,
                steps[i].1.len()
            );
        }
    }
}

/// A stream exchange cut at any point of any step (two `data` calls), or
/// byte by byte throughout, gives exactly the events of the uncut run.
/// (Datagrams cannot be cut; for them this checks nothing more than the
/// uncut run.)
pub fn check_every_split(p: ProtocolId, cfg: &ProtocolsConfig, steps: Exchange<'_>) {
    let make = || AnySession::new(p, cfg);
    split_check(
        &Subject {
            name: p.name(),
            make: &make,
        },
        steps,
    );
}

/// [`check_every_split`] for any session maker.
pub fn split_check(subject: &Subject<'_>, steps: Exchange<'_>) {
    let whole = drive_cut(subject, steps, uncut, true).lines();
    if matches!((subject.make)(), AnySession::Datagram(_)) {
        return;
    }
    for i in 0..steps.len() {
        for k in 1..steps[i].1.len() {
            let d = drive_cut(
                subject,
                steps,
                |j, b| {
                    if j == i {
                        vec![0..k, k..b.len()]
                    } else {
                        uncut(j, b)
                    }
                },
                true,
            );
            assert_eq!(d.lines(), whole, "{}: step {i} split at {k}", subject.name);
        }
    }
    let bytewise = drive_cut(
        subject,
        steps,
        |_, b| (0..b.len()).map(|x| x..x + 1).collect(),
        true,
    );
    assert_eq!(
        bytewise.lines(),
        whole,
        "{}: fed byte by byte",
        subject.name
    );
}

/// One step of Marsaglia's xorshift64 (`x` must not start at zero).
pub fn xorshift64(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// `rounds` runs of random input from `seed`: the exchange with random
/// bytes flipped, cut at random points, repeated, mixed with random bytes,
/// gaps and ticks. Nothing may panic; every event must be valid JSON.
pub fn check_random_bytes(
    p: ProtocolId,
    cfg: &ProtocolsConfig,
    steps: Exchange<'_>,
    seed: u64,
    rounds: usize,
) {
    let make = || AnySession::new(p, cfg);
    random_check(
        &Subject {
            name: p.name(),
            make: &make,
        },
        steps,
        seed,
        rounds,
    );
}

/// [`check_random_bytes`] for any session maker.
pub fn random_check(subject: &Subject<'_>, steps: Exchange<'_>, seed: u64, rounds: usize) {
    let mut x = seed | 1;
    for _ in 0..rounds {
        let (mut s, mut d) = subject.fresh();
        let mut ts = T0;
        for _ in 0..(xorshift64(&mut x) % 12 + 1) {
            let r = xorshift64(&mut x);
            let (dir, mut bytes) = match steps.get((r % (steps.len() as u64 + 1)) as usize) {
                Some((dir, b)) => (*dir, b.to_vec()),
                None => {
                    let dir = if r & 1 == 0 {
                        Dir::ToServer
                    } else {
                        Dir::ToClient
                    };
                    let n = (xorshift64(&mut x) % 64) as usize;
                    (dir, (0..n).map(|_| xorshift64(&mut x) as u8).collect())
                }
            };
            for _ in 0..(xorshift64(&mut x) % 4) {
                if !bytes.is_empty() {
                    let at = (xorshift64(&mut x) % bytes.len() as u64) as usize;
                    bytes[at] = xorshift64(&mut x) as u8;
                }
            }
            let cut = (xorshift64(&mut x) % (bytes.len() as u64 + 1)) as usize;
            s.feed(&mut d, dir, &bytes[..cut], ts);
            match (&mut s, xorshift64(&mut x) % 8) {
                (AnySession::Stream(st), 0) => {
                    st.gap(dir, xorshift64(&mut x) % 100 + 1, ts, &mut d.sink())
                }
                (AnySession::Stream(st), 1) => st.end(dir, ts, &mut d.sink()),
                (_, 2) => {
                    ts += 11_000_000_000;
                    s.tick(&mut d, ts);
                }
                _ => {}
            }
            s.feed(&mut d, dir, &bytes[cut..], ts);
            ts += 1_000_000;
        }
        s.close(&mut d, ts);
        let _ = d.events();
    }
}

/// The fuzz driver for stream sessions: each chunk's control byte picks
/// the direction (bit 0), the length (`(ctl >> 2) * len_unit` bytes) and
/// whether it is a gap instead (`gap(ctl)` gives its size). Ticks one
/// second after every chunk, closes at the end, and checks that every
/// event is valid JSON.
pub fn fuzz_stream(
    session: &mut dyn Session,
    server_port: u16,
    data: &[u8],
    len_unit: usize,
    gap: impl Fn(u8) -> Option<u64>,
) {
    let mut d = Driver::new(Transport::Tcp, server_port);
    let mut rest = data;
    let mut ts = T0;
    while let Some((&ctl, tail)) = rest.split_first() {
        let dir = if ctl & 1 == 0 {
            Dir::ToServer
        } else {
            Dir::ToClient
        };
        let len = ((ctl >> 2) as usize * len_unit).min(tail.len());
        let (chunk, next) = tail.split_at(len);
        match gap(ctl) {
            Some(n) => session.gap(dir, n, ts, &mut d.sink()),
            None => session.data(dir, chunk, ts, &mut d.sink()),
        }
        ts += 1_000_000_000;
        session.tick(ts, &mut d.sink());
        rest = next;
    }
    session.close(ts, &mut d.sink());
    let _ = d.events();
}

/// The fuzz driver for datagram sessions: each datagram is preceded by a
/// control byte (bit 0: direction, the rest: length in bytes, at most
/// 127 per datagram; bit 7 set: a tick of 11 s first). Closes at the end
/// and checks that every event is valid JSON.
pub fn fuzz_datagram(session: &mut dyn DatagramSession, server_port: u16, data: &[u8]) {
    let mut d = Driver::new(Transport::Udp, server_port);
    let mut rest = data;
    let mut ts = T0;
    while let Some((&ctl, tail)) = rest.split_first() {
        let dir = if ctl & 1 == 0 {
            Dir::ToServer
        } else {
            Dir::ToClient
        };
        if ctl & 0x80 != 0 {
            ts += 11_000_000_000;
            session.tick(ts, &mut d.sink());
        }
        let len = (((ctl & 0x7f) >> 1) as usize * 4).min(tail.len());
        let (dgram, next) = tail.split_at(len);
        session.datagram(dir, dgram, ts, &mut d.sink());
        ts += 1_000_000;
        rest = next;
    }
    session.close(ts, &mut d.sink());
    let _ = d.events();
}

/// One benchmark iteration's work: feeds `steps` to `session` (1 µs
/// apart from `*ts`), keeping the event batch from growing without
/// bound. Returns the events emitted (transactions).
pub fn bench_exchange(
    s: &mut AnySession,
    d: &mut Driver,
    steps: Exchange<'_>,
    ts: &mut Timestamp,
) -> usize {
    let before = d.batch.len();
    for (dir, bytes) in steps {
        s.feed(d, *dir, bytes, *ts);
        *ts += 1_000;
    }
    let n = d.batch.len() - before;
    if d.batch.len() >= 1024 {
        d.batch.clear();
    }
    n
}

/// A fresh session and driver for protocol `p` with default settings
/// (for benchmarks).
pub fn session_for(p: ProtocolId) -> (AnySession, Driver) {
    fresh(p, &ProtocolsConfig::default())
}

/// One event body written by `f` into an object after a first field, as
/// a decoder's body sits in its event: the template tests compare two
/// writers' bytes this way.
pub fn encode_body<T, S>(
    f: fn(&mut crate::event::json::JsonWriter<'_>, &T, &S),
    tx: &T,
    session: &S,
) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut w = crate::event::json::JsonWriter::new(&mut buf);
    w.begin();
    w.u64("before", 1);
    f(&mut w, tx, session);
    w.end();
    buf
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

    /// The generic checks, on every registered protocol's sample.
    #[test]
    fn every_prefix_of_every_sample_is_incomplete_never_an_error() {
        let cfg = ProtocolsConfig::default();
        for &p in ProtocolId::ALL {
            check_every_prefix(p, &cfg, p.sample());
        }
    }

    #[test]
    fn every_split_of_every_sample_gives_the_same_events() {
        let cfg = ProtocolsConfig::default();
        for &p in ProtocolId::ALL {
            check_every_split(p, &cfg, p.sample());
        }
    }

    #[test]
    fn random_and_mutated_samples_never_panic() {
        let cfg = ProtocolsConfig::default();
        for &p in ProtocolId::ALL {
            check_random_bytes(p, &cfg, p.sample(), 0x5eed_0000 + p as u64, 2000);
        }
    }

    /// A decoder that emits one event per `data` call: wrong by both
    /// checks, and both must say so.
    struct EagerSession;

    impl Session for EagerSession {
        fn data(&mut self, _: Dir, data: &[u8], ts: Timestamp, out: &mut TxSink<'_>) {
            let t = crate::event::Transaction {
                kind: "http",
                request_start: Some(ts),
                request_bytes: data.len() as u64,
                ..Default::default()
            };
            out.emit(&t, |_| {});
        }
        fn gap(&mut self, _: Dir, _: u64, _: Timestamp, _: &mut TxSink<'_>) {}
        fn end(&mut self, _: Dir, _: Timestamp, _: &mut TxSink<'_>) {}
        fn tick(&mut self, _: Timestamp, _: &mut TxSink<'_>) {}
        fn close(&mut self, _: Timestamp, _: &mut TxSink<'_>) {}
    }

    fn eager() -> AnySession {
        AnySession::Stream(Box::new(EagerSession))
    }

    #[test]
    #[should_panic(expected = "eager: step 0 cut at 1 of 3 emitted an event")]
    fn the_prefix_check_catches_an_event_on_a_prefix() {
        prefix_check(
            &Subject {
                name: "eager",
                make: &eager,
            },
            &[(Dir::ToServer, b"abc")],
        );
    }

    #[test]
    #[should_panic(expected = "eager: step 0 split at 1")]
    fn the_split_check_catches_events_that_depend_on_the_cut() {
        split_check(
            &Subject {
                name: "eager",
                make: &eager,
            },
            &[(Dir::ToServer, b"abc")],
        );
    }
}
