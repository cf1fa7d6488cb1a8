//! What a flow costs: a worker is fed N flows of one kind and the heap it
//! holds afterwards (a counting global allocator: hash-table buckets,
//! boxed flows, strings, everything) is divided by N. Run with
//! `cargo test --test flow_memory -- --nocapture` to see the figures.

use spanlens::config::RawConfig;
use spanlens::dispatch::decode::{decode, linktype};
use spanlens::dispatch::{PacketBatch, PacketRec, ShardMsg};
use spanlens::flow::FlowKey;
use spanlens::stats::Published;
use spanlens::worker::Worker;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::{Arc, Mutex};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static A: Counting = Counting;

/// One measurement at a time (the counter is process-wide).
static SERIAL: Mutex<()> = Mutex::new(());

fn checksum(b: &[u8]) -> u16 {
    let mut s: u32 = 0;
    for c in b.chunks(2) {
        s += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// An Ethernet/IPv4/TCP frame from client `i` to 10.0.0.1:`dport` (or back).
fn frame(i: u32, dport: u16, to_server: bool, seq: u32, ack: u32, flags: u8) -> Vec<u8> {
    let client = [10, 1 + (i >> 16) as u8, (i >> 8) as u8, i as u8];
    let server = [10, 0, 0, 1];
    let sport = 1024 + (i % 60000) as u16;
    let (src, dst, sp, dp) = if to_server {
        (client, server, sport, dport)
    } else {
        (server, client, dport, sport)
    };
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 8, 0];
    let mut ip = vec![0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0];
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    let c = checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&sp.to_be_bytes());
    f.extend_from_slice(&dp.to_be_bytes());
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&ack.to_be_bytes());
    f.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    f
}

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;

/// Heap bytes per flow held by a worker after `n` flows of `packets(i)`.
fn per_flow(n: u32, packets: impl Fn(u32) -> Vec<Vec<u8>>) -> f64 {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let config = Arc::new(RawConfig::default().validate().unwrap());
    let (ex_tx, _ex_rx) = crossbeam_channel::bounded(1024);
    let (_spare_tx, spare_rx) = crossbeam_channel::bounded(4);
    let (rc_tx, rc_rx) = crossbeam_channel::bounded::<PacketBatch>(4);
    let (tx, rx) = crossbeam_channel::bounded::<ShardMsg>(1);
    let (done_tx, done_rx) = crossbeam_channel::bounded::<()>(1);
    let w = Worker::new(0, config, (ex_tx, spare_rx), rc_tx, Published::default());
    let h = std::thread::spawn(move || {
        let c = w.run(rx);
        let _ = done_tx.send(());
        c
    });
    let mut frame_no = 0u64;
    let mut batch_of = |frames: &[Vec<u8>]| {
        let mut b = PacketBatch::default();
        for f in frames {
            frame_no += 1;
            let dec = decode(linktype::ETHERNET, f).expect("decodes");
            let (key, side) = FlowKey::new(
                (dec.src, dec.sport),
                (dec.dst, dec.dport),
                dec.proto,
                dec.vlan,
            );
            b.pkts.push(PacketRec {
                ts: 1_700_000_000_000_000_000 + frame_no * 1000,
                wire_len: f.len() as u32,
                key,
                hash: key.shard_hash(&spanlens::flow::fixed_state()),
                side,
                dec,
                data_off: 0,
                frame: frame_no,
                tunnel: 0,
                mac: None,
            });
        }
        b
    };
    // Warm-up flows outside the measurement, then the measured ones.
    let warm: Vec<Vec<u8>> = (0..64).flat_map(|i| packets(n + 1000 + i)).collect();
    tx.send(ShardMsg::Packets(batch_of(&warm))).unwrap();
    drop(rc_rx.recv().unwrap());
    let before = LIVE.load(Ordering::SeqCst);
    let mut i = 0;
    while i < n {
        let frames: Vec<Vec<u8>> = (i..(i + 512).min(n)).flat_map(&packets).collect();
        i = (i + 512).min(n);
        let b = batch_of(&frames);
        drop(frames);
        tx.send(ShardMsg::Packets(b)).unwrap();
        // The worker hands each batch back once it has processed it.
        drop(rc_rx.recv().unwrap());
    }
    let after = LIVE.load(Ordering::SeqCst);
    tx.send(ShardMsg::Finish(0)).unwrap();
    done_rx.recv().unwrap();
    let counters = h.join().unwrap();
    assert_eq!(counters.get("flows.created"), u64::from(n) + 64);
    (after - before) as f64 / f64::from(n)
}

#[test]
fn a_half_open_flow_costs_at_most_256_bytes() {
    // 57,344 flows: the hash table is 65,536 buckets, 7/8 full (its
    // highest fill), and the cost includes each flow's share of it. At the
    // worst fill (just after the table doubled) the share is 2.3 buckets;
    // see half_open_flow_cost_right_after_the_table_grew.
    let c = per_flow(57_344 - 64, |i| vec![frame(i, 40000, true, i, 0, SYN)]);
    eprintln!("half-open (SYN only) flow: {c:.1} bytes");
    assert!(c <= 256.0, "{c}");
}

#[test]
fn half_open_flow_cost_right_after_the_table_grew() {
    // 57,345 = 7/8 * 65,536 + 1 (with the 64 warm-up flows): the table has
    // just grown to 131,072 buckets.
    let c = per_flow(57_345 - 64, |i| vec![frame(i, 40000, true, i, 0, SYN)]);
    eprintln!("half-open flow, table just grown: {c:.1} bytes");
    assert!(c <= 256.0, "{c}");
}

#[test]
fn an_established_flow_without_protocol_state_costs_at_most_1_kib() {
    // Handshake on a port no protocol claims: reassembly and metrics, no
    // session. 28,673 flows: the table has just grown (the worst fill).
    let c = per_flow(28_673 - 64, |i| {
        vec![
            frame(i, 40000, true, 100, 0, SYN),
            frame(i, 40000, false, 500, 101, SYN | ACK),
            frame(i, 40000, true, 101, 501, ACK),
        ]
    });
    eprintln!("established flow without protocol state: {c:.1} bytes");
    assert!(c <= 1024.0, "{c}");
}

#[test]
fn an_established_http_flow_cost_is_reported() {
    // Port 80: an HTTP session too (its buffers grow only with data).
    let c = per_flow(28_673 - 64, |i| {
        vec![
            frame(i, 80, true, 100, 0, SYN),
            frame(i, 80, false, 500, 101, SYN | ACK),
            frame(i, 80, true, 101, 501, ACK),
        ]
    });
    eprintln!("established HTTP flow (session, no data yet): {c:.1} bytes");
    assert!(c > 0.0);
}
