//! Reassembly and metrics tests: permutations, overlaps, gaps, bounds,
//! wrap-around, handshake RTTs and a randomized shuffle/duplicate check.

use super::*;
use crate::time::MILLISECOND;

const C: Dir = Dir::ToServer;
const S: Dir = Dir::ToClient;
const T0: Timestamp = 1_700_000_000 * crate::time::SECOND;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Data(Vec<u8>),
    Gap(u64),
    End,
}

/// A connection plus everything it delivered, consecutive data merged.
struct H {
    conn: TcpConn,
    counters: Counters,
    out: [Vec<Ev>; 2],
}

impl H {
    fn new() -> Self {
        Self::with(&TcpConfig::default())
    }

    fn with(cfg: &TcpConfig) -> Self {
        H {
            conn: TcpConn::new(cfg),
            counters: Counters::new(),
            out: [Vec::new(), Vec::new()],
        }
    }

    fn push(out: &mut [Vec<Ev>; 2], dir: Dir, d: Delivery<'_>) {
        let v = &mut out[dir.idx()];
        match d {
            Delivery::Data(b) => {
                assert!(!b.is_empty(), "empty data delivery");
                if let Some(Ev::Data(prev)) = v.last_mut() {
                    prev.extend_from_slice(b);
                } else {
                    v.push(Ev::Data(b.to_vec()));
                }
            }
            Delivery::Gap(n) => {
                assert!(n > 0, "zero gap delivered");
                v.push(Ev::Gap(n));
            }
            Delivery::End => v.push(Ev::End),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn seg_full(
        &mut self,
        dir: Dir,
        seq: u32,
        ack: u32,
        fl: u8,
        window: u16,
        payload: &[u8],
        wire: u32,
        ts: Timestamp,
    ) {
        let seg = Segment {
            seq,
            ack,
            flags: fl,
            window,
            payload,
            wire_payload_len: wire,
        };
        let out = &mut self.out;
        self.conn
            .segment(dir, &seg, ts, &mut self.counters, &mut |d, del, _| {
                Self::push(out, d, del)
            });
    }

    /// A segment with an explicit ack number and flags (window 1000).
    fn seg(&mut self, dir: Dir, seq: u32, ack: u32, fl: u8, payload: &[u8]) {
        self.seg_full(dir, seq, ack, fl, 1000, payload, payload.len() as u32, T0);
    }

    /// Data without the ACK flag, so no hole of the other side is touched.
    fn data(&mut self, dir: Dir, seq: u32, payload: &[u8]) {
        self.seg(dir, seq, 0, flags::PSH, payload);
    }

    /// The same at packet time `ts`.
    fn data_at(&mut self, dir: Dir, seq: u32, payload: &[u8], ts: Timestamp) {
        let wire = payload.len() as u32;
        self.seg_full(dir, seq, 0, flags::PSH, 1000, payload, wire, ts);
    }

    fn ack(&mut self, dir: Dir, seq: u32, ack: u32) {
        self.seg(dir, seq, ack, flags::ACK, b"");
    }

    fn finish(&mut self) {
        let out = &mut self.out;
        self.conn.finish(T0, &mut self.counters, &mut |d, del, _| {
            Self::push(out, d, del)
        });
    }

    fn evs(&self, dir: Dir) -> &[Ev] {
        &self.out[dir.idx()]
    }

    fn m(&self, dir: Dir) -> DirMetrics {
        let m = self.conn.metrics();
        if dir == C {
            m.client
        } else {
            m.server
        }
    }

    fn json(&self) -> serde_json::Value {
        let mut buf = Vec::new();
        let mut w = JsonWriter::new(&mut buf);
        w.begin();
        self.conn.write_json(&mut w);
        w.end();
        serde_json::from_slice(&buf).expect("valid json")
    }
}

fn d(b: &[u8]) -> Ev {
    Ev::Data(b.to_vec())
}

/// Deterministic xorshift64* so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![vec![]];
    }
    let mut all = Vec::new();
    for p in permutations(n - 1) {
        for pos in 0..=p.len() {
            let mut q = p.clone();
            q.insert(pos, n - 1);
            all.push(q);
        }
    }
    all
}

#[test]
fn in_order_data_is_delivered_zero_copy() {
    let mut conn = TcpConn::new(&TcpConfig::default());
    let mut counters = Counters::new();
    let payload = b"hello world".to_vec();
    let seg = Segment {
        seq: 100,
        ack: 0,
        flags: flags::PSH,
        window: 10,
        payload: &payload,
        wire_payload_len: payload.len() as u32,
    };
    let mut ptrs = Vec::new();
    conn.segment(C, &seg, T0, &mut counters, &mut |_, del, _| {
        if let Delivery::Data(b) = del {
            ptrs.push((b.as_ptr(), b.len()));
        }
    });
    assert_eq!(ptrs, vec![(payload.as_ptr(), payload.len())]);
}

#[test]
fn every_permutation_of_3_and_4_segments_delivers_the_same_bytes() {
    for n in [3usize, 4] {
        let stream: Vec<u8> = (0..n * 7).map(|i| b'a' + (i % 26) as u8).collect();
        for perm in permutations(n) {
            let mut h = H::new();
            h.seg(C, 999, 0, flags::SYN, b"");
            for &k in &perm {
                let chunk = &stream[k * 7..(k + 1) * 7];
                let fl = if k == n - 1 {
                    flags::PSH | flags::FIN
                } else {
                    flags::PSH
                };
                h.seg(C, 1000 + (k * 7) as u32, 0, fl, chunk);
            }
            assert_eq!(h.evs(C), &[d(&stream), Ev::End], "perm {perm:?}");
            let m = h.m(C);
            assert_eq!(m.gap_bytes, 0);
            assert_eq!(m.retransmitted_segments, 0, "perm {perm:?}");
            let in_order = perm.windows(2).all(|w| w[0] < w[1]);
            assert_eq!(m.out_of_order_segments == 0, in_order, "perm {perm:?}");
            assert_eq!(h.conn.buffered_bytes(C), 0);
        }
    }
}

#[test]
fn overlap_with_same_bytes_is_trimmed_and_counted_as_retransmission() {
    let mut h = H::new();
    h.data(C, 0, b"0123456789");
    // Later than the out-of-order threshold (3 ms without a handshake).
    h.data_at(C, 5, b"56789abcde", T0 + 10 * MILLISECOND);
    h.finish();
    assert_eq!(h.evs(C), &[d(b"0123456789abcde"), Ev::End]);
    assert_eq!(h.m(C).retransmitted_segments, 1);
    assert_eq!(h.m(C).retransmitted_bytes, 5);
    assert_eq!(h.counters.get("tcp.overlap_mismatches"), 0);
}

#[test]
fn overlap_with_different_bytes_keeps_first_copy_and_counts_mismatch() {
    // The later in-order segment disagrees with a buffered piece.
    let mut h = H::new();
    h.data(C, 0, b"AAAA");
    h.data(C, 8, b"CCCC"); // buffered
    h.data(C, 4, b"BBBBXXXXDD"); // fills the hole, overlaps CCCC with XXXX
    assert_eq!(h.evs(C), &[d(b"AAAABBBBCCCCDD")]);
    assert_eq!(h.counters.get("tcp.overlap_mismatches"), 1);

    // Two out-of-order pieces disagreeing; same bytes do not count.
    let mut h = H::new();
    h.data(C, 0, b"A");
    h.data(C, 5, b"hello");
    h.data(C, 7, b"LLOworld"); // 'LLO' differs from 'llo'
    h.data(C, 8, b"loworld"); // identical overlap
    h.data(C, 1, b"xxxx");
    assert_eq!(h.evs(C), &[d(b"Axxxxhelloworld")]);
    assert_eq!(h.counters.get("tcp.overlap_mismatches"), 1);
}

#[test]
fn retransmission_is_not_delivered_twice() {
    let mut h = H::new();
    h.data(C, 10, b"abc");
    h.data(C, 13, b"def");
    h.data_at(C, 10, b"abc", T0 + 10 * MILLISECOND);
    h.data_at(C, 13, b"def", T0 + 10 * MILLISECOND);
    h.data_at(C, 16, b"g", T0 + 10 * MILLISECOND);
    assert_eq!(h.evs(C), &[d(b"abcdefg")]);
    assert_eq!(h.m(C).retransmitted_segments, 2);
    assert_eq!(h.m(C).retransmitted_bytes, 6);
    assert_eq!(h.m(C).keep_alives, 0);
}

#[test]
fn hole_is_given_up_when_the_peer_acks_past_it() {
    let mut h = H::new();
    h.data(S, 5000, b"response"); // server stream base 5000
    h.data(C, 100, b"GET "); // client stream base 100
    h.data(C, 110, b"more"); // [104, 110) lost
    assert_eq!(h.evs(C), &[d(b"GET ")]);
    // The server acknowledges 114: the six bytes were received but not captured.
    h.ack(S, 5008, 114);
    assert_eq!(h.evs(C), &[d(b"GET "), Ev::Gap(6), d(b"more")]);
    assert_eq!(h.m(C).gap_bytes, 6);
    assert_eq!(h.counters.get("tcp.gap_bytes"), 6);
    // A late copy of the lost bytes is not delivered after the gap.
    h.data(C, 104, b"abcdef");
    h.data(C, 114, b"!");
    assert_eq!(h.evs(C), &[d(b"GET "), Ev::Gap(6), d(b"more!")]);
    assert_eq!(h.m(C).retransmitted_segments, 1);
}

#[test]
fn ack_inside_a_hole_gaps_only_up_to_the_ack() {
    let mut h = H::new();
    h.data(S, 0, b"x");
    h.data(C, 0, b"aa");
    h.data(C, 10, b"kk"); // hole [2, 10)
    h.ack(S, 1, 5); // [2, 5) acknowledged, never seen
    assert_eq!(h.evs(C), &[d(b"aa"), Ev::Gap(3)]);
    h.data(C, 5, b"fghij");
    assert_eq!(h.evs(C), &[d(b"aa"), Ev::Gap(3), d(b"fghijkk")]);
}

#[test]
fn ack_ahead_of_its_data_without_a_hole_does_not_gap() {
    // A mirror may show the ACK before the data it acknowledges.
    let mut h = H::new();
    h.data(S, 0, b"x");
    h.data(C, 0, b"ab");
    h.ack(S, 1, 6);
    h.data(C, 2, b"cdef");
    assert_eq!(h.evs(C), &[d(b"abcdef")]);
    assert_eq!(h.m(C).gap_bytes, 0);
}

#[test]
fn fin_before_missing_data_waits_for_the_data() {
    let mut h = H::new();
    h.data(C, 0, b"ab");
    h.seg(C, 4, 0, flags::FIN, b"ef");
    assert_eq!(h.evs(C), &[d(b"ab")]);
    assert!(h.conn.state().fin[0]);
    h.data(C, 2, b"cd");
    assert_eq!(h.evs(C), &[d(b"abcdef"), Ev::End]);
}

#[test]
fn fin_before_missing_data_gaps_when_the_peer_acks_the_fin() {
    let mut h = H::new();
    h.data(S, 0, b"x");
    h.data(C, 0, b"ab");
    h.seg(C, 4, 0, flags::FIN, b"ef");
    // ACK of data only up to 2: nothing to give up yet.
    h.ack(S, 1, 2);
    assert_eq!(h.evs(C), &[d(b"ab")]);
    // ACK of the FIN (6 + 1).
    h.ack(S, 1, 7);
    assert_eq!(h.evs(C), &[d(b"ab"), Ev::Gap(2), d(b"ef"), Ev::End]);
    // Nothing more at finish.
    h.finish();
    assert_eq!(h.evs(C).iter().filter(|e| **e == Ev::End).count(), 1);
}

#[test]
fn fin_before_missing_data_gaps_at_finish() {
    let mut h = H::new();
    h.data(C, 0, b"ab");
    h.seg(C, 6, 0, flags::FIN, b"");
    assert_eq!(h.evs(C), &[d(b"ab")]);
    h.finish();
    assert_eq!(h.evs(C), &[d(b"ab"), Ev::Gap(4), Ev::End]);
    assert_eq!(h.evs(S), &[Ev::End]);
}

#[test]
fn sequence_numbers_wrap_at_2_32() {
    let isn = 0xFFFF_FFF0u32;
    let stream: Vec<u8> = (0..40u8).collect();
    // Segments of 8 bytes starting at isn + 1: crossing 2^32 inside the 2nd.
    for perm in permutations(5) {
        let mut h = H::new();
        h.seg(C, isn, 0, flags::SYN, b"");
        for &k in &perm {
            let seq = isn.wrapping_add(1).wrapping_add(8 * k as u32);
            h.data(C, seq, &stream[8 * k..8 * k + 8]);
        }
        h.seg(C, isn.wrapping_add(41), 0, flags::FIN, b"");
        assert_eq!(h.evs(C), &[d(&stream), Ev::End], "perm {perm:?}");
    }
    // ACK-driven gap across the wrap.
    let mut h = H::new();
    h.seg(S, 7, 0, flags::SYN | flags::ACK, b"");
    h.seg(C, isn, 0, flags::SYN, b"");
    h.data(C, isn.wrapping_add(1), &stream[..8]);
    h.data(C, isn.wrapping_add(17), &stream[16..24]);
    h.ack(S, 8, isn.wrapping_add(25));
    assert_eq!(h.evs(C), &[d(&stream[..8]), Ev::Gap(8), d(&stream[16..24])]);
}

#[test]
fn holes_bound_gives_up_the_oldest_hole() {
    let cfg = TcpConfig {
        max_ooo_bytes: 1 << 20,
        max_holes: 2,
    };
    let mut h = H::with(&cfg);
    h.data(C, 0, b"a");
    h.data(C, 2, b"c"); // hole 1
    h.data(C, 4, b"e"); // hole 2
    assert_eq!(h.evs(C), &[d(b"a")]);
    h.data(C, 6, b"g"); // hole 3: the oldest is given up
    assert_eq!(h.counters.get("tcp.holes_bound_hits"), 1);
    assert_eq!(h.evs(C), &[d(b"a"), Ev::Gap(1), d(b"c")]);
    assert_eq!(h.conn.buffered_bytes(C), 2);
    // The rest still reassembles when filled.
    h.data(C, 3, b"d");
    h.data(C, 5, b"f");
    assert_eq!(h.evs(C), &[d(b"a"), Ev::Gap(1), d(b"cdefg")]);
    assert_eq!(h.counters.get("tcp.ooo_bytes_bound_hits"), 0);
}

#[test]
fn ooo_bytes_bound_gives_up_holes_until_within_bound() {
    let cfg = TcpConfig {
        max_ooo_bytes: 10,
        max_holes: 32,
    };
    let mut h = H::with(&cfg);
    h.data(C, 0, b"0");
    h.data(C, 5, b"56789"); // 5 bytes buffered
    h.data(C, 20, b"KLMNOPQ"); // 12 > 10: first hole [1,5) given up
    assert_eq!(h.counters.get("tcp.ooo_bytes_bound_hits"), 1);
    assert_eq!(h.evs(C), &[d(b"0"), Ev::Gap(4), d(b"56789")]);
    assert_eq!(h.conn.buffered_bytes(C), 7);
    // A single segment larger than the bound is given up at once.
    h.data(C, 40, b"0123456789ABC");
    assert_eq!(h.counters.get("tcp.ooo_bytes_bound_hits"), 3);
    assert_eq!(
        h.evs(C),
        &[
            d(b"0"),
            Ev::Gap(4),
            d(b"56789"),
            Ev::Gap(10),
            d(b"KLMNOPQ"),
            Ev::Gap(13),
            d(b"0123456789ABC")
        ]
    );
    assert_eq!(h.conn.buffered_bytes(C), 0);
    assert_eq!(h.m(C).gap_bytes, 27);
    assert_eq!(h.counters.get("tcp.gap_bytes"), 27);
}

#[test]
fn mid_stream_pickup_starts_at_first_data() {
    let mut h = H::new();
    // Pure ACKs from the client do not fix its base.
    h.ack(C, 77_000, 5000);
    h.data(S, 5000, b"HTTP/1.1 200 OK\r\n");
    h.data(C, 77_000, b"GET / HTTP/1.1\r\n");
    h.data(S, 5017, b"\r\n");
    assert_eq!(h.evs(C), &[d(b"GET / HTTP/1.1\r\n")]);
    assert_eq!(h.evs(S), &[d(b"HTTP/1.1 200 OK\r\n\r\n")]);
    assert_eq!(h.conn.state_name(), "established");
    assert!(!h.conn.state().established);
    assert_eq!(h.m(C).gap_bytes + h.m(S).gap_bytes, 0);
}

#[test]
fn handshake_rtts_from_crafted_timestamps() {
    let mut h = H::new();
    h.seg_full(C, 100, 0, flags::SYN, 65535, b"", 0, T0);
    // Retransmitted SYN 1 s later: the RTT starts from it.
    h.seg_full(
        C,
        100,
        0,
        flags::SYN,
        65535,
        b"",
        0,
        T0 + 1000 * MILLISECOND,
    );
    h.seg_full(
        S,
        900,
        101,
        flags::SYN | flags::ACK,
        65535,
        b"",
        0,
        T0 + 1003 * MILLISECOND,
    );
    h.seg_full(
        C,
        101,
        901,
        flags::ACK,
        512,
        b"",
        0,
        T0 + 1003 * MILLISECOND + 250_000,
    );
    let m = *h.conn.metrics();
    assert_eq!(m.server_rtt_us, Some(3000));
    assert_eq!(m.client_rtt_us, Some(250));
    assert_eq!(m.handshake_rtt_us, Some(3250));
    assert_eq!(h.conn.handshake_rtt_us(), Some(3250));
    assert_eq!(m.client.retransmitted_segments, 1);
    assert!(h.conn.state().established);
    assert_eq!(h.conn.state_name(), "established");
    let j = h.json();
    assert_eq!(j["tcp"]["handshake_rtt_us"], 3250);
    assert_eq!(j["tcp"]["server_rtt_us"], 3000);
    assert_eq!(j["tcp"]["client_rtt_us"], 250);
    assert_eq!(j["tcp"]["client"]["retransmitted_segments"], 1);
    assert_eq!(j["tcp"]["state"], "established");
    assert!(j["tcp"].get("syn_unanswered").is_none());
    // Data after the handshake starts at ISN + 1.
    h.data(C, 101, b"hi");
    h.data(S, 901, b"yo");
    assert_eq!(h.evs(C), &[d(b"hi")]);
    assert_eq!(h.evs(S), &[d(b"yo")]);
}

#[test]
fn zero_window_and_duplicate_acks_are_counted() {
    let mut h = H::new();
    h.data(S, 0, b"abcd");
    h.seg_full(C, 50, 4, flags::ACK, 0, b"", 0, T0); // zero window
    h.seg_full(C, 50, 4, flags::ACK, 0, b"", 0, T0); // zero window again, not a dup ack
    h.seg_full(C, 50, 4, flags::ACK, 100, b"", 0, T0); // window update
    h.seg_full(C, 50, 4, flags::ACK, 100, b"", 0, T0); // dup ack 1
    h.seg_full(C, 50, 4, flags::ACK, 100, b"", 0, T0); // dup ack 2
    h.seg_full(C, 50, 8, flags::ACK, 100, b"", 0, T0); // new ack
    let m = h.m(C);
    assert_eq!(m.zero_window_segments, 2);
    assert_eq!(m.duplicate_acks, 2);
    assert_eq!(h.m(S).duplicate_acks, 0);
    assert_eq!(h.json()["tcp"]["client"]["zero_window_segments"], 2);
}

#[test]
fn keep_alives_and_zero_window_probes_make_no_phantom_gaps_or_duplicates() {
    let mut h = H::new();
    h.seg(S, 999, 0, flags::SYN | flags::ACK, b"");
    h.data(S, 1000, b"abcd");
    // Keep-alive: one garbage byte, and zero bytes, at seq - 1.
    h.data(S, 1003, b"\0");
    h.seg(S, 1003, 0, flags::ACK, b"");
    // Zero-window probe: the next byte, then repeated probes of it.
    h.data(S, 1004, b"e");
    h.data(S, 1004, b"e");
    h.data(S, 1004, b"e");
    // Window opens: the probe byte is sent again with more. tshark does
    // not call it a retransmission (more than one byte starting one below
    // the next sequence number adds new data).
    h.data(S, 1004, b"efgh");
    h.finish();
    assert_eq!(h.evs(S), &[d(b"abcdefgh"), Ev::End]);
    let m = h.m(S);
    assert_eq!(m.gap_bytes, 0);
    assert_eq!(m.keep_alives, 4);
    assert_eq!(m.retransmitted_segments, 0);
    assert_eq!(m.out_of_order_segments, 0);
}

#[test]
fn rst_flushes_buffered_data_with_gaps_and_ends_both_directions() {
    let mut h = H::new();
    h.data(C, 0, b"ab");
    h.data(C, 4, b"ef");
    h.data(S, 0, b"resp");
    h.seg(S, 4, 0, flags::RST | flags::ACK, b"");
    assert_eq!(h.evs(C), &[d(b"ab"), Ev::Gap(2), d(b"ef"), Ev::End]);
    assert_eq!(h.evs(S), &[d(b"resp"), Ev::End]);
    assert!(h.conn.state().closed());
    assert_eq!(h.conn.state_name(), "reset");
    assert_eq!(h.m(S).resets, 1);
    // Nothing after the end, not even at finish.
    h.data(C, 6, b"gh");
    h.finish();
    assert_eq!(h.evs(C).len(), 4);
    assert_eq!(h.evs(S).len(), 2);
    assert!(!h.conn.metrics().syn_rejected);
}

#[test]
fn syn_answered_by_rst_is_rejected_and_unanswered_syn_is_flagged() {
    let mut h = H::new();
    h.seg(C, 10, 0, flags::SYN, b"");
    h.seg(S, 0, 11, flags::RST | flags::ACK, b"");
    h.finish();
    let j = h.json();
    assert_eq!(j["tcp"]["syn_rejected"], true);
    assert!(j["tcp"].get("syn_unanswered").is_none());
    assert_eq!(j["tcp"]["state"], "reset");

    let mut h = H::new();
    h.seg(C, 10, 0, flags::SYN, b"");
    h.seg(C, 10, 0, flags::SYN, b"");
    assert!(!h.conn.metrics().syn_unanswered);
    assert_eq!(h.conn.state_name(), "syn_sent");
    h.finish();
    let j = h.json();
    assert_eq!(j["tcp"]["syn_unanswered"], true);
    assert!(j["tcp"].get("syn_rejected").is_none());
    assert_eq!(j["tcp"]["client"]["retransmitted_segments"], 1);
}

#[test]
fn out_of_window_rst_is_ignored_and_the_stream_goes_on() {
    let mut h = H::new();
    let pa = flags::PSH | flags::ACK;
    h.seg(C, 0, 0, pa, b"GET1");
    h.seg(S, 0, 4, pa, b"resp");
    // A stale RST from a middlebox, far outside the client's window (1000).
    h.seg(S, 50_000, 4, flags::RST | flags::ACK, b"");
    // One just outside the window, one far behind (a previous connection).
    h.seg(S, 4 + 1001 + 1, 4, flags::RST, b"");
    h.seg(S, 4u32.wrapping_sub(70_000), 4, flags::RST, b"");
    assert_eq!(h.m(S).resets_ignored, 3);
    assert_eq!(h.m(S).resets, 0);
    assert_eq!(h.counters.get("tcp.resets_ignored"), 3);
    assert!(!h.conn.state().closed());
    h.seg(C, 4, 4, pa, b"GET2");
    h.seg(S, 4, 8, pa, b"resp2");
    assert_eq!(h.evs(C), &[d(b"GET1GET2")]);
    assert_eq!(h.evs(S), &[d(b"respresp2")]);
    // In the window (not exactly at the next byte): the connection ends.
    h.seg(S, 9 + 500, 8, flags::RST, b"");
    assert_eq!(h.m(S).resets, 1);
    assert_eq!(h.conn.state_name(), "reset");
    assert_eq!(h.evs(C), &[d(b"GET1GET2"), Ev::End]);
    assert_eq!(h.evs(S), &[d(b"respresp2"), Ev::End]);
    let j = h.json();
    assert_eq!(j["tcp"]["server"]["resets_ignored"], 3);
    assert_eq!(j["tcp"]["server"]["resets"], 1);
}

#[test]
fn rst_at_the_acknowledged_sequence_number_is_taken() {
    // A stack answering a segment for a socket it no longer has sends its
    // RST at the ACK number of that segment.
    let mut h = H::new();
    h.seg(C, 100, 0, flags::PSH | flags::ACK, b"req");
    h.seg(S, 0, 103, flags::PSH | flags::ACK, b"x");
    h.seg(C, 103, 1, flags::ACK, b"");
    h.seg(S, 1, 0, flags::RST, b"");
    assert_eq!(h.m(S).resets, 1);
    assert!(h.conn.state().closed());
    // A RST from a side never seen before: nothing to judge it by, taken.
    let mut h = H::new();
    h.seg(C, 7, 0, flags::RST, b"");
    assert_eq!(h.m(C).resets, 1);
}

#[test]
fn rst_not_acknowledging_the_syn_is_no_rejection() {
    let mut h = H::new();
    h.seg_full(C, 10, 0, flags::SYN, 1000, b"", 0, T0);
    // A stale RST|ACK for an earlier connection on the same ports.
    h.seg_full(S, 0, 999, flags::RST | flags::ACK, 0, b"", 0, T0 + 10);
    // A bare RST (no ACK) in SYN-SENT is ignored too (RFC 9293 3.10.7.3).
    h.seg_full(S, 0, 0, flags::RST, 0, b"", 0, T0 + 20);
    assert_eq!(h.m(S).resets_ignored, 2);
    h.seg_full(S, 500, 11, flags::SYN | flags::ACK, 1000, b"", 0, T0 + 100);
    h.seg_full(C, 11, 501, flags::ACK, 1000, b"", 0, T0 + 150);
    h.finish();
    let j = h.json();
    assert!(j["tcp"].get("syn_rejected").is_none(), "{j}");
    assert_eq!(j["tcp"]["handshake_rtt_us"], 0);
    assert_eq!(j["tcp"]["state"], "established");
}

#[test]
fn end_is_delivered_once_per_direction() {
    let mut h = H::new();
    h.seg(C, 0, 0, flags::FIN, b"bye");
    h.seg(C, 0, 0, flags::FIN, b"bye");
    h.seg(C, 3, 0, flags::FIN, b"");
    h.seg(S, 0, 4, flags::FIN | flags::ACK, b"");
    h.finish();
    assert_eq!(h.evs(C), &[d(b"bye"), Ev::End]);
    assert_eq!(h.evs(S), &[Ev::End]);
    assert_eq!(h.conn.state_name(), "closed");
    assert!(h.conn.state().closed());
    assert_eq!(h.m(C).retransmitted_segments, 2);
}

#[test]
fn data_on_syn_is_delivered() {
    // TCP Fast Open: the SYN carries data starting at ISN + 1.
    let mut h = H::new();
    h.seg(C, 500, 0, flags::SYN, b"GET");
    h.seg(S, 70, 504, flags::SYN | flags::ACK, b"");
    h.data(C, 504, b" /");
    h.seg(C, 500, 0, flags::SYN, b"GET"); // retransmitted SYN with data
    assert_eq!(h.evs(C), &[d(b"GET /")]);
    assert_eq!(h.m(C).retransmitted_bytes, 3);
}

#[test]
fn snaplen_cut_payload_becomes_a_gap() {
    let mut h = H::new();
    h.seg_full(C, 0, 0, flags::PSH, 100, b"abcd", 10, T0);
    h.data(C, 10, b"k");
    assert_eq!(h.evs(C), &[d(b"abcd"), Ev::Gap(6), d(b"k")]);
    // Out of order and cut: the uncaptured tail stays a hole until finish.
    h.seg_full(C, 15, 0, flags::PSH, 100, b"pq", 5, T0);
    h.data(C, 11, b"lmno");
    h.finish();
    assert_eq!(
        h.evs(C),
        &[d(b"abcd"), Ev::Gap(6), d(b"klmnopq"), Ev::Gap(3), Ev::End]
    );
}

#[test]
fn late_hole_filler_is_a_retransmission_early_one_out_of_order() {
    let mut h = H::new();
    h.seg_full(C, 0, 0, flags::PSH, 100, b"ab", 2, T0);
    h.seg_full(C, 4, 0, flags::PSH, 100, b"ef", 2, T0);
    h.seg_full(C, 2, 0, flags::PSH, 100, b"cd", 2, T0 + MILLISECOND);
    assert_eq!(h.m(C).out_of_order_segments, 1);
    h.seg_full(C, 8, 0, flags::PSH, 100, b"ij", 2, T0 + MILLISECOND);
    h.seg_full(C, 6, 0, flags::PSH, 100, b"gh", 2, T0 + 200 * MILLISECOND);
    assert_eq!(h.m(C).out_of_order_segments, 1);
    assert_eq!(h.m(C).retransmitted_segments, 1);
    assert_eq!(h.m(C).retransmitted_bytes, 2);
    assert_eq!(h.evs(C), &[d(b"abcdefghij")]);
}

#[test]
fn counters_and_json_fields() {
    let mut h = H::new();
    h.data(C, 0, b"a");
    h.data(C, 2, b"c");
    h.data(C, 4, b"e");
    assert_eq!(h.counters.get("tcp.ooo_segments_buffered"), 2);
    h.finish();
    let j = h.json();
    for side in ["client", "server"] {
        for f in [
            "retransmitted_segments",
            "retransmitted_bytes",
            "out_of_order_segments",
            "duplicate_acks",
            "zero_window_segments",
            "keep_alives",
            "resets",
            "resets_ignored",
            "gap_bytes",
        ] {
            assert!(j["tcp"][side][f].is_u64(), "{side}.{f}");
        }
    }
    assert_eq!(j["tcp"]["client"]["gap_bytes"], 2);
    assert_eq!(j["tcp"]["server"]["gap_bytes"], 0);
    assert!(j["tcp"].get("handshake_rtt_us").is_none());
}

/// Cuts `stream` into random segments, adds random overlapping copies and
/// exact duplicates, shuffles, and checks the reassembled bytes.
#[test]
fn randomized_shuffled_duplicated_segments_reassemble_exactly() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for round in 0..300 {
        let len = 1 + rng.below(600) as usize;
        let stream: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let isn = rng.next() as u32; // any ISN, wrap included
        let mut segs: Vec<(usize, usize)> = Vec::new();
        let mut at = 0;
        while at < len {
            let n = 1 + rng.below(60) as usize;
            segs.push((at, (at + n).min(len)));
            at += n;
        }
        // Overlapping re-sends with random boundaries, and exact duplicates.
        for _ in 0..rng.below(8) {
            let a = rng.below(len as u64) as usize;
            let b = (a + 1 + rng.below(80) as usize).min(len);
            segs.push((a, b));
        }
        for _ in 0..rng.below(4) {
            let k = rng.below(segs.len() as u64) as usize;
            segs.push(segs[k]);
        }
        for i in (1..segs.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            segs.swap(i, j);
        }
        let mut h = H::new();
        h.seg(C, isn, 0, flags::SYN, b"");
        for &(a, b) in &segs {
            h.data(C, isn.wrapping_add(1 + a as u32), &stream[a..b]);
        }
        h.seg(C, isn.wrapping_add(1 + len as u32), 0, flags::FIN, b"");
        assert_eq!(h.evs(C), &[d(&stream), Ev::End], "round {round}");
        assert_eq!(h.counters.get("tcp.overlap_mismatches"), 0);
        assert_eq!(h.counters.get("tcp.gap_bytes"), 0);
        assert_eq!(h.conn.buffered_bytes(C), 0);
    }
}

/// Random loss: whatever is lost shows up as gaps, and data plus gaps add up
/// to the stream length with every delivered byte at its right place.
#[test]
fn randomized_loss_yields_exact_gaps() {
    let mut rng = Rng(42);
    for round in 0..300 {
        let len = 1 + rng.below(500) as usize;
        let stream: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let mut segs: Vec<(usize, usize)> = Vec::new();
        let mut at = 0;
        while at < len {
            let n = 1 + rng.below(40) as usize;
            segs.push((at, (at + n).min(len)));
            at += n;
        }
        segs.retain(|_| rng.below(5) != 0);
        for i in (1..segs.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            segs.swap(i, j);
        }
        let cfg = TcpConfig {
            max_ooo_bytes: 1 + rng.below(300) as usize,
            max_holes: 1 + rng.below(5) as usize,
        };
        let mut h = H::with(&cfg);
        h.seg(C, 0xFFFF_FF00, 0, flags::SYN, b"");
        for &(a, b) in &segs {
            h.data(C, 0xFFFF_FF01u32.wrapping_add(a as u32), &stream[a..b]);
        }
        h.seg(
            C,
            0xFFFF_FF01u32.wrapping_add(len as u32),
            0,
            flags::FIN,
            b"",
        );
        h.finish();
        let mut pos = 0usize;
        let evs = h.evs(C);
        assert_eq!(evs.last(), Some(&Ev::End), "round {round}");
        for e in evs {
            match e {
                Ev::Data(b) => {
                    assert_eq!(b.as_slice(), &stream[pos..pos + b.len()], "round {round}");
                    pos += b.len();
                }
                Ev::Gap(n) => pos += *n as usize,
                Ev::End => assert_eq!(pos, len, "round {round}"),
            }
        }
        assert!(h.conn.buffered_bytes(C) <= cfg.max_ooo_bytes);
    }
}

#[test]
fn every_split_point_in_any_order_reassembles() {
    let stream = b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n";
    for cut in 1..stream.len() {
        for reversed in [false, true] {
            let mut h = H::new();
            h.seg(C, 41, 0, flags::SYN, b"");
            let (a, b) = stream.split_at(cut);
            let parts = [(42u32, a), (42 + cut as u32, b)];
            let order: [usize; 2] = if reversed { [1, 0] } else { [0, 1] };
            for k in order {
                h.data(C, parts[k].0, parts[k].1);
            }
            // A copy of the whole request on top changes nothing.
            h.data(C, 42, stream);
            assert_eq!(h.evs(C), &[d(stream)], "cut {cut} reversed {reversed}");
            assert_eq!(h.m(C).out_of_order_segments, u32::from(reversed));
        }
    }
}

#[test]
fn data_beyond_the_fin_is_ignored() {
    let mut h = H::new();
    h.seg(C, 0, 0, flags::FIN | flags::PSH, b"abc");
    h.data(C, 3, b"zzz");
    h.data(C, 1, b"bcdef");
    h.finish();
    assert_eq!(h.evs(C), &[d(b"abc"), Ev::End]);
}

/// Random flags, sequence and ACK numbers, windows and payload sizes on
/// both directions with small bounds: never panics, never delivers after
/// `End`, never an empty delivery, `End` exactly once per direction after
/// `finish`, and the buffer stays within its bound.
#[test]
fn randomized_garbage_never_breaks_invariants() {
    let mut rng = Rng(7);
    let buf = [0xabu8; 300];
    for round in 0..200 {
        let cfg = TcpConfig {
            max_ooo_bytes: rng.below(200) as usize,
            max_holes: 1 + rng.below(4) as usize,
        };
        let mut h = H::with(&cfg);
        let base = [rng.next() as u32, rng.next() as u32];
        for _ in 0..rng.below(60) {
            let dir = if rng.below(2) == 0 { C } else { S };
            let i = dir.idx();
            let seq = base[i].wrapping_add(rng.below(400) as u32).wrapping_sub(50);
            let ack = base[1 - i]
                .wrapping_add(rng.below(400) as u32)
                .wrapping_sub(50);
            let fl = (rng.next() as u8) & 0x1f;
            let n = rng.below(120) as usize;
            let wire = n as u32 + rng.below(3) as u32 * 10;
            let ts = T0 + rng.below(10) * MILLISECOND;
            h.seg_full(dir, seq, ack, fl, rng.below(3) as u16, &buf[..n], wire, ts);
            for dir in [C, S] {
                let evs = h.evs(dir);
                if let Some(p) = evs.iter().position(|e| *e == Ev::End) {
                    assert_eq!(p, evs.len() - 1, "round {round}: delivery after End");
                }
                assert!(h.conn.buffered_bytes(dir) <= cfg.max_ooo_bytes);
            }
        }
        h.finish();
        for dir in [C, S] {
            let ends = h.evs(dir).iter().filter(|e| **e == Ev::End).count();
            assert_eq!(ends, 1, "round {round}");
            assert_eq!(h.evs(dir).last(), Some(&Ev::End));
            assert!(h.conn.ended(dir));
        }
        let _ = h.json();
    }
}

#[test]
fn lost_tail_is_gapped_once_the_ack_is_older_than_the_threshold() {
    // Keep-alive connection: the end of response 1 is lost, the client
    // acknowledges it, then sends request 2 (same ACK) 10 ms later.
    let mut h = H::new();
    h.seg_full(C, 0, 0, flags::PSH, 100, b"req1", 4, T0);
    h.seg_full(S, 0, 4, flags::ACK | flags::PSH, 100, b"resp", 4, T0);
    h.seg_full(C, 4, 8, flags::ACK, 100, b"", 0, T0 + 10_000);
    assert_eq!(h.evs(S), &[d(b"resp")], "ACK just ahead of data: wait");
    h.seg_full(
        C,
        4,
        8,
        flags::ACK | flags::PSH,
        100,
        b"req2",
        4,
        T0 + 10 * MILLISECOND,
    );
    assert_eq!(h.evs(S), &[d(b"resp"), Ev::Gap(4)]);
    assert_eq!(h.evs(C), &[d(b"req1req2")]);
    // The late copy is not delivered; the next response continues.
    h.seg_full(
        S,
        4,
        8,
        flags::ACK | flags::PSH,
        100,
        b"lost",
        4,
        T0 + 11 * MILLISECOND,
    );
    h.seg_full(
        S,
        8,
        8,
        flags::ACK | flags::PSH,
        100,
        b"resp2",
        5,
        T0 + 11 * MILLISECOND,
    );
    assert_eq!(h.evs(S), &[d(b"resp"), Ev::Gap(4), d(b"resp2")]);
}

#[test]
fn ack_just_before_its_data_is_not_a_gap() {
    let mut h = H::new();
    h.seg_full(C, 0, 0, flags::PSH, 100, b"q", 1, T0);
    h.seg_full(S, 0, 1, flags::ACK | flags::PSH, 100, b"ab", 2, T0);
    // The mirror shows the ACK of "cd" 20 µs before "cd" itself.
    h.seg_full(C, 1, 4, flags::ACK, 100, b"", 0, T0 + 100_000);
    h.seg_full(
        S,
        2,
        1,
        flags::ACK | flags::PSH,
        100,
        b"cd",
        2,
        T0 + 120_000,
    );
    h.finish();
    assert_eq!(h.evs(S), &[d(b"abcd"), Ev::End]);
    assert_eq!(h.m(S).gap_bytes, 0);
}

#[test]
fn ack_ahead_then_later_data_releases_the_hole_at_once() {
    let mut h = H::new();
    h.data(S, 0, b"x");
    h.data(C, 0, b"ab");
    h.ack(S, 1, 6); // [2, 6) not seen yet, nothing after it either
    assert_eq!(h.evs(C), &[d(b"ab")]);
    h.data(C, 6, b"gh"); // data after the acknowledged hole: it was lost
    assert_eq!(h.evs(C), &[d(b"ab"), Ev::Gap(4), d(b"gh")]);
}

#[test]
fn absurd_ack_is_ignored() {
    let mut h = H::new();
    h.data(S, 0, b"x");
    h.data(C, 0, b"ab");
    h.seg_full(S, 1, 0x7000_0000, flags::ACK, 100, b"", 0, T0);
    h.seg_full(
        S,
        1,
        0x7000_0000,
        flags::ACK,
        100,
        b"",
        0,
        T0 + crate::time::SECOND,
    );
    h.data(C, 2, b"cd");
    assert_eq!(h.evs(C), &[d(b"abcd")]);
}

/// http_minitwit.pcap, port 54743: SYN, SYN-ACK, SYN again 1.1 s later,
/// two SYN-ACKs, ACK. Wireshark's initial_rtt runs from the second SYN.
#[test]
fn rtt_runs_from_the_syn_retransmitted_after_a_syn_ack() {
    let us = crate::time::MICROSECOND;
    let mut h = H::new();
    h.seg_full(C, 3_036_014_581, 0, flags::SYN, 100, b"", 0, T0 + 75 * us);
    h.seg_full(
        S,
        3_407_654_114,
        3_036_014_582,
        flags::SYN | flags::ACK,
        100,
        b"",
        0,
        T0 + 84 * us,
    );
    h.seg_full(
        C,
        3_036_014_581,
        0,
        flags::SYN,
        100,
        b"",
        0,
        T0 + 1_102_265 * us,
    );
    h.seg_full(
        S,
        3_407_654_114,
        3_036_014_582,
        flags::SYN | flags::ACK,
        100,
        b"",
        0,
        T0 + 1_102_284 * us,
    );
    h.seg_full(
        S,
        3_407_654_114,
        3_036_014_582,
        flags::SYN | flags::ACK,
        100,
        b"",
        0,
        T0 + 1_198_752 * us,
    );
    h.seg_full(
        C,
        3_036_014_582,
        3_407_654_115,
        flags::ACK,
        100,
        b"",
        0,
        T0 + 1_515_623 * us,
    );
    let m = h.conn.metrics();
    assert_eq!(m.handshake_rtt_us, Some(1_515_623 - 1_102_265));
    assert_eq!(m.server_rtt_us, Some(1_102_284 - 1_102_265));
    assert_eq!(m.client_rtt_us, Some(1_515_623 - 1_198_752));
    assert_eq!(m.client.retransmitted_segments, 1);
    assert_eq!(m.server.retransmitted_segments, 2);
}
