//! The capture thread: header decode, filter, flow hash, batches, ticks.
//!
//! For every packet the capture thread decodes only the headers
//! ([`crate::dispatch::decap::Decoder`]: tunnels peeled, IP fragments reassembled,
//! plain frames through [`decode`]), drops what the CIDR [`filter`] and
//! `--tunnel-id` exclude, computes the
//! symmetric flow hash and appends the packet's payload and a
//! [`PacketRec`] to the batch of the shard that owns the flow's hash
//! ([`shard::Owners`]: buckets of hashes given out evenly as flows appear,
//! not `hash % workers`). Batches travel
//! over bounded channels and come back empty through a recycle channel, so
//! nothing is allocated per packet.
//!
//! It also owns packet time: whenever the newest packet time crosses a tick
//! boundary (one second of packet time), it flushes every partial batch and
//! sends [`ShardMsg::Tick`] to every shard. Each shard therefore sees its
//! packets and the ticks in the same relative order whatever the number of
//! shards, which makes replays deterministic.

pub mod decap;
pub mod decode;
pub mod dedup;
pub mod filter;
pub mod shard;

use crate::capture::{CaptureError, Next, Source};
use crate::dispatch::decap::{Decoder, Fast, Tunnel};
use crate::flow::{FlowKey, Side};
use crate::stats::{Counters, Published};
use crate::time::{Timestamp, SECOND};
use crossbeam_channel::{Receiver, Sender, TrySendError};
use decode::{Decoded, Undecodable};
use filter::Filter;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Packet time between ticks.
pub const TICK: Timestamp = SECOND;

/// Payload bytes per batch before it is sent even if not full of packets.
const BATCH_BYTES: usize = 1 << 20;

/// `capture.packets_worker<N>`: packets handed to worker N (how evenly
/// the flows are split, target 2); written when there are several workers.
pub const PACKETS_WORKER: [&str; 8] = [
    "capture.packets_worker0",
    "capture.packets_worker1",
    "capture.packets_worker2",
    "capture.packets_worker3",
    "capture.packets_worker4",
    "capture.packets_worker5",
    "capture.packets_worker6",
    "capture.packets_worker7",
];

/// One packet in a batch.
#[derive(Debug, Clone, Copy)]
pub struct PacketRec {
    /// Capture time.
    pub ts: Timestamp,
    /// Frame length on the wire.
    pub wire_len: u32,
    /// Canonical flow key.
    pub key: FlowKey,
    /// The key's hash ([`FlowKey::shard_hash`] with [`crate::flow::fixed_state`]):
    /// it picks the shard, and the worker's flow table finds the flow by it,
    /// so a packet's key is hashed once.
    pub hash: u64,
    /// Direction relative to the key.
    pub side: Side,
    /// Decoded header fields (its payload offset refers to the frame, not the batch).
    pub dec: Decoded,
    /// Offset of the captured payload in [`PacketBatch::data`].
    pub data_off: u32,
    /// Frame number in the input (1 for the first packet read), the same
    /// whatever the number of workers: part of the flow id.
    pub frame: u64,
    /// 0: not tunnelled; else 1 + the index of its [`Tunnel`] in
    /// [`PacketBatch::tunnels`].
    pub tunnel: u32,
    /// Destination and source MAC of the outermost Ethernet header (`None`
    /// for other link types).
    pub mac: Option<[u8; 12]>,
}

/// The first 12 bytes of an Ethernet frame (destination, source MAC).
#[inline]
fn ethernet_macs(lt: i32, frame: &[u8]) -> Option<[u8; 12]> {
    if lt != crate::capture::linktype::ETHERNET {
        return None;
    }
    frame.get(..12)?.try_into().ok()
}

impl PacketRec {
    /// The captured payload of this packet within its batch's data.
    #[inline]
    pub fn payload<'a>(&self, data: &'a [u8]) -> &'a [u8] {
        let start = self.data_off as usize;
        data.get(start..start + self.dec.payload_len).unwrap_or(&[])
    }

    /// Where this packet came from, when it was tunnelled.
    #[inline]
    pub fn tunnel<'a>(&self, tunnels: &'a [Tunnel]) -> Option<&'a Tunnel> {
        (self.tunnel as usize)
            .checked_sub(1)
            .and_then(|i| tunnels.get(i))
    }
}

/// Packets for one shard: payload bytes back to back plus one record each.
#[derive(Debug, Default)]
pub struct PacketBatch {
    /// Payload bytes.
    pub data: Vec<u8>,
    /// Packet records.
    pub pkts: Vec<PacketRec>,
    /// Tunnels of the tunnelled packets ([`PacketRec::tunnel`]).
    pub tunnels: Vec<Tunnel>,
}

impl PacketBatch {
    /// An empty batch with room for `n` packets (one more for a tunnel's
    /// outer packet) and their payloads at 256 bytes each, so that filling
    /// it does not grow its vectors step by step: while no batch has come
    /// back from a worker yet (the whole of a short capture), growing them
    /// cost 260 reallocations for 4,272 packets, 285 instructions a packet
    /// of the capture thread on the MySQL lab capture (callgrind).
    pub fn for_packets(n: usize) -> Self {
        PacketBatch {
            data: Vec::with_capacity(n.saturating_mul(256)),
            pkts: Vec::with_capacity(n.saturating_add(1)),
            tunnels: Vec::new(),
        }
    }

    /// Empties the batch, keeping its allocations.
    pub fn clear(&mut self) {
        self.data.clear();
        self.pkts.clear();
        self.tunnels.clear();
    }
}

/// What the capture thread sends a worker.
#[derive(Debug)]
pub enum ShardMsg {
    /// Packets, in capture order.
    Packets(PacketBatch),
    /// Packet time reached this instant (a tick boundary).
    Tick(Timestamp),
    /// Input ended at this packet time: flush everything.
    Finish(Timestamp),
}

/// Capture-thread settings.
#[derive(Debug, Clone)]
pub struct DispatchOptions {
    /// Packets per batch.
    pub batch_packets: usize,
    /// Wall time after which a partial batch is sent (live).
    pub batch_timeout: Duration,
    /// Replay pacing: `Some(speed)` sleeps so that packets are handed on at
    /// `speed` times their capture rate.
    pub realtime: Option<f64>,
    /// Show a progress bar (replay on a terminal).
    pub progress: bool,
    /// Hand exact duplicate frames on instead of counting and dropping
    /// them ([`dedup`]).
    pub keep_duplicates: bool,
    /// Key every UDP packet between ports 68 and 67 by its broadcast
    /// domain instead of its 5-tuple, so that a DHCP request and its reply
    /// (sent between other addresses) share a flow
    /// ([`exchange_key`](crate::proto::dhcp::exchange_key)); set when the
    /// `dhcpv4` decoder is enabled.
    pub dhcp_exchanges: bool,
}

/// What the capture loop ended with.
#[derive(Debug, Default)]
pub struct DispatchSummary {
    /// Warnings to print (truncated files).
    pub warnings: Vec<String>,
    /// Newest packet time seen.
    pub last_ts: Timestamp,
}

/// The capture thread's state.
pub struct Dispatcher {
    shards: Vec<Sender<ShardMsg>>,
    recycle: Receiver<PacketBatch>,
    batches: Vec<PacketBatch>,
    /// The worker of each flow hash.
    owners: shard::Owners,
    filter: Filter,
    /// The filter keeps every packet (no `include`, no `exclude`).
    keep_all: bool,
    decoder: Decoder,
    /// `--tunnel-id`: only packets from these tunnels (empty: all).
    tunnel_ids: Vec<u32>,
    hasher: ahash::RandomState,
    opts: DispatchOptions,
    counters: Counters,
    /// `capture.packets` and `capture.bytes`, bumped per packet as plain
    /// integers and folded into `counters` when they are published.
    packets: u64,
    bytes: u64,
    /// Packets handed to each worker ([`PACKETS_WORKER`]).
    packets_worker: Vec<u64>,
    published: Published,
    live: bool,
    /// Recent frames, when duplicates are dropped.
    dedup: Option<dedup::Dedup>,
    /// Packet time of the next tick; `ticking` false: no packet yet.
    next_tick: Timestamp,
    ticking: bool,
    watermark: Timestamp,
    last_flush: Instant,
}

/// A worker thread went away (it panicked or its channel closed).
#[derive(Debug, thiserror::Error)]
#[error("worker {0} stopped unexpectedly")]
pub struct WorkerGone(pub usize);

/// Errors of the capture loop.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// Reading packets failed.
    #[error(transparent)]
    Capture(#[from] CaptureError),
    /// A worker stopped.
    #[error(transparent)]
    Worker(#[from] WorkerGone),
}

impl Dispatcher {
    /// Creates the dispatcher for `shards.len()` workers.
    pub fn new(
        shards: Vec<Sender<ShardMsg>>,
        recycle: Receiver<PacketBatch>,
        filter: Filter,
        opts: DispatchOptions,
        published: Published,
        live: bool,
    ) -> Self {
        let n = shards.len();
        let dedup = (!opts.keep_duplicates).then(dedup::Dedup::default);
        Dispatcher {
            dedup,
            shards,
            recycle,
            batches: (0..n)
                .map(|_| PacketBatch::for_packets(opts.batch_packets))
                .collect(),
            owners: shard::Owners::new(n),
            keep_all: filter.is_pass_all(),
            filter,
            decoder: Decoder::with_defaults(),
            tunnel_ids: Vec::new(),
            hasher: crate::flow::fixed_state(),
            opts,
            counters: Counters::new(),
            packets: 0,
            bytes: 0,
            packets_worker: vec![0; n],
            published,
            live,
            next_tick: 0,
            ticking: false,
            watermark: 0,
            last_flush: Instant::now(),
        }
    }

    /// Decodes with `decoder` (the `[decap]` and `[defrag]` settings) and
    /// keeps only packets from the tunnels `tunnel_ids` (empty: all).
    pub fn with_decoder(mut self, decoder: Decoder, tunnel_ids: Vec<u32>) -> Self {
        self.decoder = decoder;
        self.tunnel_ids = tunnel_ids;
        self
    }

    fn fresh_batch(&self) -> PacketBatch {
        match self.recycle.try_recv() {
            Ok(mut b) => {
                b.clear();
                b
            }
            Err(_) => PacketBatch::for_packets(self.opts.batch_packets),
        }
    }

    fn send_batch(&mut self, shard: usize) -> Result<(), WorkerGone> {
        if self.batches[shard].pkts.is_empty() {
            return Ok(());
        }
        let fresh = self.fresh_batch();
        let batch = std::mem::replace(&mut self.batches[shard], fresh);
        let n = batch.pkts.len() as u64;
        if self.live {
            match self.shards[shard].try_send(ShardMsg::Packets(batch)) {
                Ok(()) => self.packets_worker[shard] += n,
                Err(TrySendError::Full(ShardMsg::Packets(mut b))) => {
                    self.counters
                        .add("capture.queue_dropped_packets", b.pkts.len() as u64);
                    b.clear();
                    self.batches[shard] = b;
                }
                Err(_) => return Err(WorkerGone(shard)),
            }
        } else {
            self.shards[shard]
                .send(ShardMsg::Packets(batch))
                .map_err(|_| WorkerGone(shard))?;
            self.packets_worker[shard] += n;
        }
        self.counters.add("capture.batches", 1);
        Ok(())
    }

    fn flush_all(&mut self) -> Result<(), WorkerGone> {
        for s in 0..self.shards.len() {
            self.send_batch(s)?;
        }
        self.last_flush = Instant::now();
        Ok(())
    }

    fn broadcast(&mut self, msg: impl Fn() -> ShardMsg) -> Result<(), WorkerGone> {
        for (i, s) in self.shards.iter().enumerate() {
            s.send(msg()).map_err(|_| WorkerGone(i))?;
        }
        Ok(())
    }

    /// Advances packet time to `ts`, sending a tick when it crosses a boundary.
    #[inline(always)]
    fn advance(&mut self, ts: Timestamp) -> Result<(), WorkerGone> {
        self.watermark = self.watermark.max(ts);
        if ts >= self.next_tick {
            self.tick(ts)?;
        }
        Ok(())
    }

    /// The first packet's time, or a tick boundary crossed.
    #[cold]
    #[inline(never)]
    fn tick(&mut self, ts: Timestamp) -> Result<(), WorkerGone> {
        if !self.ticking {
            self.ticking = true;
            self.next_tick = ts - ts % TICK + TICK;
            return Ok(());
        }
        let now = ts - ts % TICK;
        self.flush_all()?;
        self.broadcast(|| ShardMsg::Tick(now))?;
        self.next_tick = now + TICK;
        self.counters.add("capture.ticks", 1);
        self.decoder.expire(now);
        self.publish();
        Ok(())
    }

    #[inline(always)]
    fn on_packet(
        &mut self,
        lt: i32,
        ts: Timestamp,
        wire_len: u32,
        frame: &[u8],
    ) -> Result<(), WorkerGone> {
        self.packets += 1;
        self.bytes += u64::from(wire_len);
        self.advance(ts)?;
        let mut dec = Decoded::NONE;
        let fast = self.decoder.decode_fast(lt, frame, &mut dec);
        if let Some(d) = &mut self.dedup {
            let dup = match fast {
                // A copy of a tunnelled frame is a copy of its inner frame in
                // the same tunnel ([`dedup`]).
                Fast::Vxlan { inner, vni } => {
                    d.is_duplicate_in_tunnel(ts, wire_len, frame, inner, vni)
                }
                _ => d.is_duplicate(ts, wire_len, frame),
            };
            if dup {
                if matches!(fast, Fast::Vxlan { .. }) {
                    self.decoder.uncount_vxlan();
                }
                self.counters.add("capture.duplicates", 1);
                return Ok(());
            }
        }
        if let Fast::Slow = fast {
            match self.decoder.decode_slow(lt, ts, wire_len, frame) {
                Ok(d) => dec = d,
                Err(why) => return self.undecodable(why, ts, wire_len),
            }
        }
        let tunnel = self.decoder.tunnel();
        if !self.tunnel_ids.is_empty()
            && !tunnel.is_some_and(|t| t.id.is_some_and(|id| self.tunnel_ids.contains(&id)))
        {
            self.counters.add("capture.filtered_out", 1);
            return Ok(());
        }
        if !self.keep_all && !self.filter.keep(dec.src, dec.dst) {
            self.counters.add("capture.filtered_out", 1);
            return Ok(());
        }
        let (mut key, mut side) = FlowKey::new(
            (dec.src, dec.sport),
            (dec.dst, dec.dport),
            dec.proto,
            dec.vlan,
        );
        if let Some(t) = tunnel {
            if self.decoder.config().tunnel_id_in_flow_key {
                key.tunnel = t.tenant;
            }
        }
        if self.opts.dhcp_exchanges {
            if let Some((k, s)) = crate::proto::dhcp::exchange_key(&key, side) {
                (key, side) = (k, s);
            }
        }
        let hash = key.shard_hash(&self.hasher);
        let shard = self.owners.of(hash);
        let payload = self.decoder.payload(frame, &dec);
        let b = &mut self.batches[shard];
        let data_off = b.data.len() as u32;
        b.data.extend_from_slice(payload);
        let tunnel_ix = match tunnel {
            Some(t) => {
                if b.tunnels.capacity() == 0 {
                    // One allocation per batch, not a doubling series.
                    b.tunnels.reserve(self.opts.batch_packets);
                }
                b.tunnels.push(*t);
                b.tunnels.len() as u32
            }
            None => 0,
        };
        b.pkts.push(PacketRec {
            ts,
            wire_len: self.decoder.wire_len(wire_len),
            key,
            hash,
            side,
            dec,
            data_off,
            frame: self.packets,
            tunnel: tunnel_ix,
            mac: ethernet_macs(lt, frame),
        });
        if self.decoder.outer().is_some() {
            self.push_outer(ts, wire_len, Some(shard))?;
        }
        let b = &self.batches[shard];
        if b.pkts.len() >= self.opts.batch_packets || b.data.len() >= BATCH_BYTES {
            self.send_batch(shard)?;
        }
        Ok(())
    }

    /// A packet [`Decoder::decode_slow`] could not key.
    #[cold]
    #[inline(never)]
    fn undecodable(
        &mut self,
        why: Undecodable,
        ts: Timestamp,
        wire_len: u32,
    ) -> Result<(), WorkerGone> {
        if why == Undecodable::FragmentHeld {
            return Ok(());
        }
        self.counters.add(why.counter(), 1);
        // The tunnel's own packet is still a packet of the outer flow.
        if self.decoder.outer().is_some() {
            return self.push_outer(ts, wire_len, None);
        }
        Ok(())
    }

    /// With `decap.outer_flows`: the last packet's outermost tunnel packet
    /// as a packet of its own flow (`inner_shard`: where the inner packet
    /// went, whose batch the caller checks).
    #[cold]
    fn push_outer(
        &mut self,
        ts: Timestamp,
        wire_len: u32,
        inner_shard: Option<usize>,
    ) -> Result<(), WorkerGone> {
        let Some(outer) = self.decoder.outer() else {
            return Ok(());
        };
        if !self.filter.keep(outer.src, outer.dst) {
            return Ok(());
        }
        let (key, side) = FlowKey::new(
            (outer.src, outer.sport),
            (outer.dst, outer.dport),
            outer.proto,
            outer.vlan,
        );
        let hash = key.shard_hash(&self.hasher);
        let oshard = self.owners.of(hash);
        let ob = &mut self.batches[oshard];
        ob.pkts.push(PacketRec {
            ts,
            wire_len,
            key,
            hash,
            side,
            dec: *outer,
            data_off: ob.data.len() as u32,
            frame: self.packets,
            tunnel: 0,
            mac: None,
        });
        if Some(oshard) != inner_shard && ob.pkts.len() >= self.opts.batch_packets {
            self.send_batch(oshard)?;
        }
        Ok(())
    }

    /// Reads `source` to the end (or until `stop` is set) and finishes every shard.
    pub fn run(
        mut self,
        source: &mut Source,
        stop: &AtomicBool,
    ) -> Result<(Counters, DispatchSummary), DispatchError> {
        let mut summary = DispatchSummary::default();
        let progress = (self.opts.progress && !self.live && source.total_bytes > 0).then(|| {
            let pb = indicatif::ProgressBar::with_draw_target(
                Some(source.total_bytes),
                indicatif::ProgressDrawTarget::stderr_with_hz(4),
            );
            pb.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta}) {msg}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            pb
        });
        let mut read_bytes: u64 = 0;
        let mut since_check = 0u32;
        let mut pace: Option<(Timestamp, Instant)> = None;
        let mut last_packet_wall = Instant::now();
        let mut last_packet_ts: Option<Timestamp> = None;
        let mut last_stats = Instant::now();
        let mut truncated_files = 0u64;
        // Capture files, not paced: the records already read, in one loop.
        let drain = !self.live && self.opts.realtime.is_none();
        loop {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            if drain {
                let mut err = None;
                let n = source.drain(|p| {
                    read_bytes += p.data.len() as u64 + 16;
                    if err.is_none() {
                        if let Err(e) = self.on_packet(p.linktype, p.ts, p.wire_len, p.data) {
                            err = Some(e);
                        }
                    }
                });
                if let Some(e) = err {
                    return Err(e.into());
                }
                if n > 0 {
                    since_check += n as u32;
                    if since_check >= 4096 {
                        since_check = 0;
                        if let Some(pb) = &progress {
                            pb.set_position(read_bytes.min(source.total_bytes));
                        }
                    }
                    continue;
                }
            }
            let mut pkt: Option<(Timestamp, u32, usize)> = None;
            let mut err = None;
            let next = source.next(|p| {
                pkt = Some((p.ts, p.wire_len, p.data.len()));
                if let Some(speed) = self.opts.realtime {
                    let (t0, w0) = *pace.get_or_insert((p.ts, Instant::now()));
                    let due = Duration::from_nanos((p.ts.saturating_sub(t0) as f64 / speed) as u64);
                    if let Some(wait) = due.checked_sub(w0.elapsed()) {
                        std::thread::sleep(wait.min(Duration::from_secs(5)));
                    }
                }
                if let Err(e) = self.on_packet(p.linktype, p.ts, p.wire_len, p.data) {
                    err = Some(e);
                }
            })?;
            if let Some(e) = err {
                return Err(e.into());
            }
            match next {
                Next::Packet => {
                    if let Some((ts, _, caplen)) = pkt {
                        read_bytes += caplen as u64 + 16;
                        last_packet_ts = Some(ts);
                    }
                    since_check += 1;
                    if since_check >= 4096 {
                        since_check = 0;
                        if let Some(pb) = &progress {
                            pb.set_position(read_bytes.min(source.total_bytes));
                        }
                    }
                    if self.live {
                        last_packet_wall = Instant::now();
                    }
                    if self.live
                        && since_check % 64 == 0
                        && self.last_flush.elapsed() >= self.opts.batch_timeout
                    {
                        self.flush_all()?;
                    }
                }
                Next::Idle => {
                    // Nothing to read (live, non-blocking): yield briefly.
                    std::thread::sleep(Duration::from_millis(2));
                    // A quiet link: push partial batches on, and let packet
                    // time follow the wall clock so timeouts still fire.
                    if self.last_flush.elapsed() >= self.opts.batch_timeout {
                        self.flush_all()?;
                    }
                    if let Some(ts) = last_packet_ts {
                        let idle = crate::time::from_duration(last_packet_wall.elapsed());
                        self.advance(ts.saturating_add(idle))?;
                    }
                }
                Next::FileDone => {}
                Next::Truncated(msg) => {
                    truncated_files += 1;
                    summary.warnings.push(msg);
                }
                Next::End => break,
            }
            if self.live && last_stats.elapsed() >= Duration::from_secs(1) {
                last_stats = Instant::now();
                self.kernel_counters(source);
                self.publish();
            }
        }
        if let Some(pb) = progress {
            pb.finish_and_clear();
        }
        self.kernel_counters(source);
        summary.warnings.extend(source.take_warnings());
        self.counters
            .add("capture.truncated_files", truncated_files);
        self.flush_all()?;
        let end = self.watermark;
        self.broadcast(|| ShardMsg::Finish(end))?;
        self.fold_packet_counts();
        self.published.publish(&self.counters);
        summary.last_ts = end;
        Ok((self.counters, summary))
    }

    /// Publishes the counters with the current queue depths.
    fn publish(&mut self) {
        for (name, s) in crate::stats::QUEUE_DEPTH_WORKER.iter().zip(&self.shards) {
            self.counters.set(name, s.len() as u64);
        }
        self.fold_packet_counts();
        self.published.publish(&self.counters);
    }

    fn fold_packet_counts(&mut self) {
        self.decoder.fold(&mut self.counters);
        if self.packets > 0 {
            self.counters.set("capture.packets", self.packets);
            self.counters.set("capture.bytes", self.bytes);
            if self.packets_worker.len() > 1 {
                for (name, &n) in PACKETS_WORKER.iter().zip(&self.packets_worker) {
                    self.counters.set(name, n);
                }
            }
        }
    }

    fn kernel_counters(&mut self, source: &mut Source) {
        if let Some(k) = source.kernel_stats() {
            self.counters.set("capture.kernel_received", k.received);
            self.counters.set("capture.kernel_dropped", k.dropped);
            self.counters.set("capture.interface_dropped", k.if_dropped);
        }
    }
}
