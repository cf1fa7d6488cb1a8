//! A worker shard: the flow table, timers driven by packet-time ticks, TCP
//! reassembly and protocol sessions, and flow events.
//!
//! A worker owns everything it touches: no lock and no shared mutable state
//! with other workers. It receives [`ShardMsg`]s from the capture thread,
//! encodes events into an [`EventBatch`] and hands full batches to the
//! exporter. Emptied packet batches go back to the capture thread.
//!
//! Sessions: a TCP flow on a registered server port gets its protocol's
//! stream [`Session`], fed by [`TcpConn`] reassembly; a UDP flow on a
//! registered port gets a [`DatagramSession`] fed one payload per datagram;
//! ICMP and ICMPv6 flows go to the protocol registered with `ICMP = true`,
//! one whole ICMP message per call. `flows.analysis` below `full` creates
//! no sessions (and `flows` no reassembly either).
//!
//! A closed TCP connection's late segments open no new flow (see
//! [`closed`]); a new SYN on a closed flow still in the table ends it and
//! starts the next one.
//!
//! The flow table is found by the hash the capture thread computed to pick
//! the shard ([`PacketRec::hash`]): a packet's key is hashed once, and a
//! packet of a known flow costs one probe. The table is hashbrown's (the
//! one behind `std::collections::HashMap`) fed the same hashes in the same
//! order as a `HashMap` with the same hasher, so it iterates in the same
//! order too.
//!
//! Memory is bounded: the flow table holds at most
//! `flows.max_flows_per_worker` flows; when it is full the oldest-idle
//! sixteenth is reported and evicted (counter `flows.evicted`).

use crate::aggregate::{AggConfig, Aggregator, FlowSummary, TcpSummary};
use crate::config::{Analysis, Config};
use crate::dispatch::{PacketBatch, PacketRec, ShardMsg};
use crate::event::{EventBatch, FlowContext, JsonWriter, Transport};
use crate::flow::community_id::community_id;
use crate::flow::{FlowKey, Side};
use crate::proto::{DatagramSession, Dir, ProtocolId, Session, TxSink};
use crate::stats::{Counters, Published};
use crate::tcp::{flags, Delivery, Segment, TcpConn};
use crate::time::Timestamp;
use crossbeam_channel::{Receiver, Sender};
use hashbrown::hash_table::Entry;
use hashbrown::HashTable;
use std::sync::Arc;

mod closed;
mod embryo;
mod memcap;

/// Estimated flow-table bytes of a flow: its bucket (key, slot, control
/// byte) at the table's highest fill (7/8).
const BUCKET_BYTES: u64 = ((std::mem::size_of::<(FlowKey, Slot)>() + 1) * 8 / 7) as u64;
/// Estimated extra bytes of a full flow: the box and its small strings.
const FULL_FLOW_BYTES: u64 = (std::mem::size_of::<Flow>() + 64) as u64;

/// Encoded bytes after which a worker hands its event batch on.
const EVENT_BATCH_BYTES: usize = 256 * 1024;

/// One bidirectional flow.
struct Flow {
    ctx: FlowContext,
    /// Packets with this side go client to server.
    client_side: Side,
    first_ts: Timestamp,
    last_ts: Timestamp,
    packets: [u64; 2],
    bytes: [u64; 2],
    tcp: Option<TcpConn>,
    session: Option<Box<dyn Session>>,
    /// The session of a UDP or ICMP flow.
    datagrams: Option<Box<dyn DatagramSession>>,
    protocol: Option<ProtocolId>,
    last_report: Timestamp,
    packets_at_report: u64,
}

/// A flow table slot: a SYN-only flow kept compact, or a full flow.
enum Slot {
    Embryo(embryo::Embryo),
    Full(Box<Flow>),
}

impl Slot {
    fn last_ts(&self) -> Timestamp {
        match self {
            Slot::Embryo(e) => e.ts,
            Slot::Full(f) => f.last_ts,
        }
    }

    /// Eviction order: embryonic flows first, then flows without protocol
    /// state, then flows with it.
    fn class(&self) -> u8 {
        match self {
            Slot::Embryo(_) => 0,
            Slot::Full(f) if f.session.is_none() && f.datagrams.is_none() => 1,
            Slot::Full(_) => 2,
        }
    }
}

impl Flow {
    fn dir(&self, side: Side) -> Dir {
        if side == self.client_side {
            Dir::ToServer
        } else {
            Dir::ToClient
        }
    }
}

/// Why a flow event is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Report {
    /// Periodic, the flow goes on.
    Interim,
    /// The flow ended (timeout or end of input).
    Final,
    /// The table was full and this flow was pushed out.
    Evicted,
}

/// A worker thread's state.
pub struct Worker {
    id: usize,
    config: Arc<Config>,
    /// Flows by key, found by the key's hash ([`PacketRec::hash`]).
    flows: HashTable<(FlowKey, Slot)>,
    /// The hasher of the table's keys (the capture thread's) and flow ids.
    hasher: ahash::RandomState,
    events: EventBatch,
    exporter: Sender<EventBatch>,
    /// Emptied event batches coming back from the exporter.
    spare_events: Receiver<EventBatch>,
    recycle: Sender<PacketBatch>,
    counters: Counters,
    tcp_counters: Counters,
    published: Published,
    now: Timestamp,
    /// Recently closed TCP connections.
    closed: closed::Closed,
    /// This worker's memory budgets and what it holds.
    budget: memcap::Budget,
    /// Full (not embryonic) flows in the table.
    full_flows: u64,
    /// Where sealed aggregator intervals go (report, live page).
    sealed: Option<Sender<Box<Aggregator>>>,
    /// Send everything at every tick (live page), not only past intervals.
    seal_all: bool,
}

impl Worker {
    /// A worker with shard number `id`.
    pub fn new(
        id: usize,
        config: Arc<Config>,
        exporter: (Sender<EventBatch>, Receiver<EventBatch>),
        recycle: Sender<PacketBatch>,
        published: Published,
    ) -> Self {
        let closed = closed::Closed::new(
            (config.raw.flows.max_flows_per_worker / 4).max(1024),
            config.raw.flows.tcp_timeout.nanos(),
        );
        let budget = memcap::Budget::new(&config.raw.memcap, config.raw.pipeline.workers);
        let (exporter, spare_events) = exporter;
        let mut events = EventBatch::with_capacity(EVENT_BATCH_BYTES + 64 * 1024);
        events.observer = Some(config.observer.json());
        events.sampling = config
            .raw
            .output
            .elasticsearch
            .as_ref()
            .and_then(|e| e.sampling());
        Worker {
            id,
            config,
            flows: HashTable::new(),
            hasher: crate::flow::fixed_state(),
            events,
            exporter,
            spare_events,
            recycle,
            counters: Counters::new(),
            tcp_counters: Counters::new(),
            published,
            now: 0,
            closed,
            budget,
            full_flows: 0,
            sealed: None,
            seal_all: false,
        }
    }

    /// Runs an aggregator fed at event emission (in this thread, no lock):
    /// on each tick the intervals before the previous one (with `live`:
    /// everything so far, so the page is at most a tick behind) are sent to
    /// `sealed`, where they merge; the rest is sent at the end of the run.
    /// A full channel drops the chunk and counts it (`report.chunks_dropped`).
    pub fn with_aggregator(
        mut self,
        cfg: AggConfig,
        sealed: Sender<Box<Aggregator>>,
        live: bool,
    ) -> Self {
        self.events.aggregate = Some(Box::new(Aggregator::new(cfg)));
        self.sealed = Some(sealed);
        self.seal_all = live;
        self
    }

    fn send_sealed(&mut self, before: u64) {
        let (Some(agg), Some(tx)) = (
            self.events.aggregate.as_deref_mut().and_then(|a| {
                a.as_any_mut()
                    .downcast_mut::<crate::aggregate::Aggregator>()
            }),
            &self.sealed,
        ) else {
            return;
        };
        let chunk = agg.take_before(before);
        if !chunk.is_empty() && tx.try_send(Box::new(chunk)).is_err() {
            self.counters.add("report.chunks_dropped", 1);
        }
    }

    /// Processes messages until [`ShardMsg::Finish`] or the channel closes.
    pub fn run(mut self, rx: Receiver<ShardMsg>) -> Counters {
        while let Ok(msg) = rx.recv() {
            match msg {
                ShardMsg::Packets(mut batch) => {
                    for rec in &batch.pkts {
                        self.packet(rec, &batch.data, &batch.tunnels);
                    }
                    batch.clear();
                    let _ = self.recycle.try_send(batch);
                    if self.events.buf.len() >= EVENT_BATCH_BYTES {
                        self.ship();
                    }
                }
                ShardMsg::Tick(now) => {
                    self.tick(now);
                    self.ship();
                    self.publish();
                    if let Some(agg) = self
                        .events
                        .aggregate
                        .as_deref()
                        .and_then(|a| a.as_any().downcast_ref::<crate::aggregate::Aggregator>())
                    {
                        let i = agg.config.interval_secs.max(1);
                        let before = if self.seal_all {
                            u64::MAX
                        } else {
                            agg.interval_of(now).saturating_sub(i)
                        };
                        self.send_sealed(before);
                    }
                }
                ShardMsg::Finish(now) => {
                    self.finish(now);
                    break;
                }
            }
        }
        self.ship();
        self.send_sealed(u64::MAX);
        self.publish();
        self.all_counters()
    }

    fn all_counters(&self) -> Counters {
        let mut c = self.counters.clone();
        c.merge(&self.tcp_counters);
        c.set(gauge_name(self.id), self.flows.len() as u64);
        c.set("flows.closed_remembered", self.closed.len() as u64);
        c.set("memcap.flow_table_bytes", self.flow_table_bytes());
        c.set("memcap.reassembly_bytes", self.budget.reassembly);
        c.set("memcap.protocol_state_bytes", self.budget.protocol);
        c
    }

    /// The flow table's estimated bytes (see [`memcap`]).
    fn flow_table_bytes(&self) -> u64 {
        self.flows.len() as u64 * BUCKET_BYTES + self.full_flows * FULL_FLOW_BYTES
    }

    fn publish(&mut self) {
        self.counters.set("flows.active", self.flows.len() as u64);
        self.published.publish(&self.all_counters());
    }

    fn ship(&mut self) {
        if self.events.is_empty() {
            return;
        }
        let n = self.events.len() as u64;
        let mut batch = std::mem::replace(
            &mut self.events,
            self.spare_events
                .try_recv()
                .unwrap_or_else(|_| EventBatch::with_capacity(EVENT_BATCH_BYTES + 64 * 1024)),
        );
        // The aggregator stays in this worker.
        self.events.aggregate = batch.aggregate.take();
        self.events.observer.clone_from(&batch.observer);
        self.events.sampling = batch.sampling;
        let sent = match self.exporter.try_send(batch) {
            Ok(()) => Ok(()),
            Err(crossbeam_channel::TrySendError::Full(b)) => {
                // The exporter queue's budget: wait for room.
                self.counters.add("memcap.exporter_queue_hits", 1);
                self.exporter.send(b).map_err(|_| ())
            }
            Err(crossbeam_channel::TrySendError::Disconnected(_)) => Err(()),
        };
        if sent.is_err() {
            self.counters.add("output.events_lost_exporter_gone", n);
        }
    }

    fn new_flow(
        &mut self,
        rec: &PacketRec,
        tunnel: Option<&crate::dispatch::decap::Tunnel>,
    ) -> Flow {
        let d = &rec.dec;
        self.new_flow_at(
            &rec.key,
            rec.side,
            rec.ts,
            rec.frame,
            d.tcp.flags,
            d.icmp_one_way,
            tunnel.copied(),
        )
    }

    /// The flow whose first packet went `side` of `key` at `ts` (frame
    /// number `frame`, TCP flags `tcp_flags`).
    #[allow(clippy::too_many_arguments)]
    fn new_flow_at(
        &mut self,
        key: &FlowKey,
        side: Side,
        ts: Timestamp,
        frame: u64,
        tcp_flags: u8,
        icmp_one_way: bool,
        tunnel: Option<crate::dispatch::decap::Tunnel>,
    ) -> Flow {
        let cfg = &self.config;
        let (src, dst) = match side {
            Side::LoToHi => (key.lo, key.hi),
            Side::HiToLo => (key.hi, key.lo),
        };
        let proto = key.proto;
        let registry = &cfg.registry;
        let is_tcp = proto == 6;
        // Who is the server: the SYN's receiver, else the side on a
        // configured protocol port, else the lower port.
        let syn = is_tcp && tcp_flags & flags::SYN != 0;
        let ack = is_tcp && tcp_flags & flags::ACK != 0;
        let is_udp = proto == 17;
        let proto_port = |p: u16| (is_tcp || is_udp) && registry.claims(p);
        let is_icmp = proto == 1 || proto == 58;
        let src_is_client = if is_icmp {
            // The sender of a request type (or of a one-way message) is the client.
            !is_icmp_reply(proto == 58, src.1)
        } else if syn && !ack {
            true
        } else if syn && ack {
            false
        } else if proto_port(dst.1) {
            true
        } else if proto_port(src.1) {
            false
        } else {
            dst.1 <= src.1
        };
        let (client, server) = if src_is_client {
            (src, dst)
        } else {
            (dst, src)
        };
        let client_side = if src_is_client {
            side
        } else {
            match side {
                Side::LoToHi => Side::HiToLo,
                Side::HiToLo => Side::LoToHi,
            }
        };
        let level = cfg.raw.flows.level();
        let protocol = if level < Analysis::Full {
            None
        } else if is_icmp {
            registry.icmp()
        } else {
            registry.lookup(Transport::from_ip_proto(proto), server.1)
        };
        let has_ports = matches!(proto, 6 | 17 | 132 | 1 | 58);
        let one_way = icmp_one_way;
        let (cid_src, cid_dst) = if one_way {
            (src, dst)
        } else {
            (client, server)
        };
        let cid = community_id(
            0,
            cid_src.0,
            cid_dst.0,
            proto,
            has_ports.then_some((cid_src.1, cid_dst.1)),
            one_way,
        );
        let mut ctx = FlowContext::new(
            key.flow_id(ts, frame, &self.hasher),
            client,
            server,
            Transport::from_ip_proto(proto),
            cid,
        );
        ctx.vlan = key.vlan.iter().copied().filter(|v| *v != 0).collect();
        ctx.tunnel = tunnel.map(Box::new);
        ctx.server_group = match &tunnel {
            Some(t) => cfg.groups.lookup_in_tunnel(server.0, t.id),
            None => cfg.groups.lookup(server.0),
        };
        ctx.client_geo = cfg.geoip.as_ref().map(|g| Arc::new(g.lookup(client.0)));
        let (session, datagrams) = match protocol {
            Some(p) if is_tcp => (p.stream(&registry.config), None),
            Some(p) => (None, p.datagram(&registry.config)),
            None => (None, None),
        };
        let (mut session, mut datagrams) = (session, datagrams);
        let state = session_bytes(&session, &datagrams);
        if state > 0 {
            if self.budget.protocol + state > self.budget.protocol_cap {
                self.counters.add("memcap.protocol_state_hits", 1);
                session = None;
                datagrams = None;
            } else {
                self.budget.protocol += state;
            }
        }
        let protocol = protocol.filter(|_| session.is_some() || datagrams.is_some());
        if let Some(p) = protocol {
            self.counters.add(p.sessions_counter(), 1);
        }
        Flow {
            ctx,
            client_side,
            first_ts: ts,
            last_ts: ts,
            packets: [0; 2],
            bytes: [0; 2],
            tcp: (is_tcp && level >= Analysis::Tcp).then(|| TcpConn::new(&cfg.raw.tcp)),
            session,
            datagrams,
            protocol,
            last_report: ts,
            packets_at_report: 0,
        }
    }

    /// The full flow of an embryo: built as from its SYN, which is then
    /// fed to the TCP connection.
    fn promote(&mut self, key: &FlowKey, e: embryo::Embryo) -> Box<Flow> {
        let mut f = Box::new(self.new_flow_at(key, e.side, e.ts, e.frame, e.flags, false, None));
        let dir = f.dir(e.side);
        f.packets[dir.idx()] = 1;
        f.bytes[dir.idx()] = u64::from(e.wire_len);
        if let Some(tcp) = f.tcp.as_mut() {
            let seg = Segment {
                seq: e.seq,
                ack: 0,
                flags: e.flags,
                window: e.window,
                payload: &[],
                wire_payload_len: 0,
            };
            tcp.segment(dir, &seg, e.ts, &mut self.tcp_counters, &mut |_, _, _| {});
        }
        f
    }

    /// Removes a flow (its key's hash: `hash`) from the table, full.
    fn take(&mut self, hash: u64, key: &FlowKey) -> Option<Box<Flow>> {
        let entry = self.flows.find_entry(hash, |(k, _)| k == key).ok()?;
        let ((_, slot), _) = entry.remove();
        match slot {
            Slot::Full(f) => {
                self.full_flows -= 1;
                Some(f)
            }
            Slot::Embryo(e) => Some(self.promote(key, e)),
        }
    }

    /// The slot of a packet's flow not in the table yet (the table made
    /// room for it), or `None` when the packet opens no flow (a late
    /// segment of a closed connection) or the flow stays an embryo.
    fn new_slot(
        &mut self,
        rec: &PacketRec,
        tunnels: &[crate::dispatch::decap::Tunnel],
    ) -> Option<Slot> {
        let is_tcp = rec.dec.proto == 6;
        let (fl, seq) = (rec.dec.tcp.flags, rec.dec.tcp.seq);
        if is_tcp && self.closed.verdict(&rec.key, fl, seq, self.now) == closed::Verdict::Late {
            self.counters.add("flows.segments_after_close", 1);
            return None;
        }
        if self.flows.len() >= self.config.raw.flows.max_flows_per_worker {
            self.evict_oldest();
        } else if self.flow_table_bytes() + BUCKET_BYTES + FULL_FLOW_BYTES
            > self.budget.flow_table_cap
        {
            self.counters.add("memcap.flow_table_hits", 1);
            self.evict_oldest();
        }
        let tunnel = rec.tunnel(tunnels);
        self.counters.add("flows.created", 1);
        let tcp_level = self.config.raw.flows.level() >= Analysis::Tcp;
        if is_tcp
            && tcp_level
            && fl & (flags::SYN | flags::ACK | flags::RST | flags::FIN) == flags::SYN
            && rec.dec.payload_wire_len == 0
            && tunnel.is_none()
        {
            // Only a SYN so far: kept compact until the next packet.
            let e = embryo::Embryo {
                ts: rec.ts,
                frame: rec.frame,
                seq,
                wire_len: rec.wire_len,
                window: rec.dec.tcp.window,
                flags: fl,
                side: rec.side,
            };
            let h = &self.hasher;
            let key = &rec.key;
            // As `HashMap::insert` does (the same buckets, the same order).
            self.flows
                .entry(rec.hash, |(k, _)| k == key, |(k, _)| k.shard_hash(h))
                .insert((*key, Slot::Embryo(e)));
            return None;
        }
        let f = Box::new(self.new_flow(rec, tunnel));
        self.full_flows += 1;
        Some(Slot::Full(f))
    }

    fn packet(&mut self, rec: &PacketRec, data: &[u8], tunnels: &[crate::dispatch::decap::Tunnel]) {
        if rec.ts > self.now {
            self.now = rec.ts;
        }
        let (key, hash) = (&rec.key, rec.hash);
        debug_assert_eq!(hash, key.shard_hash(&self.hasher), "PacketRec::hash");
        let is_key = |e: &(FlowKey, Slot)| e.0 == *key;
        let is_tcp = rec.dec.proto == 6;
        let (fl, seq) = (rec.dec.tcp.flags, rec.dec.tcp.seq);
        if is_tcp && fl & flags::SYN != 0 && fl & flags::ACK == 0 {
            // A new SYN on a closed connection still in the table: the port
            // was reused, the old flow ends here.
            let reused = self
                .flows
                .find(hash, is_key)
                .and_then(|(_, s)| match s {
                    Slot::Full(f) => f.tcp.as_ref(),
                    Slot::Embryo(_) => None,
                })
                .is_some_and(|t| t.state().closed() && t.syn_seq() != Some(seq));
            if reused {
                if let Some(f) = self.take(hash, key) {
                    self.counters.add("flows.port_reused", 1);
                    let now = self.now;
                    self.end_flow(*f, now, Report::Final);
                }
            }
        }
        // The common case, a packet of a full flow: one probe.
        let flow: &mut Flow = match self.flows.find_mut(hash, is_key) {
            Some((_, Slot::Full(f))) => f,
            Some((_, Slot::Embryo(e))) => {
                let e = *e;
                let f = self.promote(key, e);
                self.full_flows += 1;
                // Through `entry`, as `HashMap::insert` replaces a value: it
                // may grow the table first, and the table's order follows.
                let h = &self.hasher;
                match self.flows.entry(hash, is_key, |(k, _)| k.shard_hash(h)) {
                    Entry::Occupied(o) => {
                        let slot = &mut o.into_mut().1;
                        *slot = Slot::Full(f);
                        match slot {
                            Slot::Full(f) => f,
                            Slot::Embryo(_) => return,
                        }
                    }
                    Entry::Vacant(_) => return,
                }
            }
            None => match self.new_slot(rec, tunnels) {
                Some(slot) => {
                    let h = &self.hasher;
                    let entry = self
                        .flows
                        .entry(hash, is_key, |(k, _)| k.shard_hash(h))
                        .insert((*key, slot));
                    match &mut entry.into_mut().1 {
                        Slot::Full(f) => f,
                        Slot::Embryo(_) => return,
                    }
                }
                None => return,
            },
        };
        let dir = flow.dir(rec.side);
        if let (None, Some(m)) = (flow.ctx.macs[dir.idx()], rec.mac) {
            // The sender's address is the frame's source (bytes 6..12).
            let (dst, src) = m.split_at(6);
            flow.ctx.macs[dir.idx()] = src.try_into().ok();
            if flow.ctx.macs[1 - dir.idx()].is_none() {
                flow.ctx.macs[1 - dir.idx()] = dst.try_into().ok();
            }
        }
        flow.packets[dir.idx()] += 1;
        flow.bytes[dir.idx()] += u64::from(rec.wire_len);
        flow.last_ts = flow.last_ts.max(rec.ts);
        let Flow {
            ctx,
            tcp,
            session,
            datagrams,
            protocol,
            ..
        } = flow;
        let payload = rec.payload(data);
        if let (Some(s), false) = (datagrams.as_mut(), payload.is_empty()) {
            let mut sink = TxSink {
                flow: ctx,
                events: &mut self.events,
                counters: &mut self.counters,
            };
            s.datagram(dir, payload, rec.ts, &mut sink);
        }
        if let Some(tcp) = tcp {
            let seg = Segment {
                seq: rec.dec.tcp.seq,
                ack: rec.dec.tcp.ack,
                flags: rec.dec.tcp.flags,
                window: rec.dec.tcp.window,
                payload: rec.payload(data),
                wire_payload_len: rec.dec.payload_wire_len as u32,
            };
            let events = &mut self.events;
            let counters = &mut self.counters;
            let before = buffered(tcp);
            let mut to_session = |d: Dir, delivery: Delivery<'_>, ts: Timestamp| {
                if let Some(s) = session.as_mut() {
                    let mut sink = TxSink {
                        flow: ctx,
                        events: &mut *events,
                        counters: &mut *counters,
                    };
                    deliver(s.as_mut(), d, delivery, ts, &mut sink);
                }
            };
            tcp.segment(dir, &seg, rec.ts, &mut self.tcp_counters, &mut to_session);
            let after = buffered(tcp);
            let held = &mut self.budget.reassembly;
            *held = (*held + after).saturating_sub(before);
            if after > 0 && *held > self.budget.reassembly_cap {
                // The reassembly budget: this connection hands over what it
                // buffered, with gaps for its holes.
                tcp.give_up_buffered(rec.ts, &mut self.tcp_counters, &mut to_session);
                *held = held.saturating_sub(after);
                self.tcp_counters.add("memcap.reassembly_hits", 1);
            }
            if ctx.handshake_rtt_us.is_none() {
                ctx.handshake_rtt_us = tcp.handshake_rtt_us();
            }
        }
        // The decoder says the bytes are not its protocol (for a stream,
        // only when the connection was seen from its start).
        let stream_rejected = session.as_ref().is_some_and(|s| s.rejected())
            && tcp.as_ref().is_some_and(|t| t.syn_seq().is_some());
        let datagrams_rejected = datagrams.as_ref().is_some_and(|s| s.rejected());
        if stream_rejected || datagrams_rejected {
            let state = session_bytes(session, datagrams);
            self.budget.protocol = self.budget.protocol.saturating_sub(state);
            *session = None;
            *datagrams = None;
            *protocol = None;
            self.counters.add("flows.protocol_rejected", 1);
        }
    }

    fn tick(&mut self, now: Timestamp) {
        self.now = self.now.max(now);
        let config = Arc::clone(&self.config);
        let flows_cfg = &config.raw.flows;
        let (tcp_to, close_to, udp_to) = (
            flows_cfg.tcp_timeout.nanos(),
            flows_cfg.tcp_close_timeout.nanos(),
            flows_cfg.udp_timeout.nanos(),
        );
        let period = flows_cfg.period.nanos();
        let expired: Vec<FlowKey> = self
            .flows
            .iter()
            .filter(|(_, s)| {
                let f = match s {
                    Slot::Full(f) => f,
                    Slot::Embryo(e) => return now.saturating_sub(e.ts) >= tcp_to,
                };
                let timeout = match &f.tcp {
                    Some(t) if t.state().closed() => close_to,
                    Some(_) => tcp_to,
                    None => udp_to,
                };
                now.saturating_sub(f.last_ts) >= timeout
            })
            .map(|(k, _)| *k)
            .collect();
        self.closed.expire(now);
        for k in expired {
            if let Some(f) = self.take(k.shard_hash(&self.hasher), &k) {
                self.counters.add("flows.expired", 1);
                if let Some(t) = f.tcp.as_ref().filter(|t| t.state().closed()) {
                    let forgotten = self.closed.insert(k, now, t.syn_seq());
                    self.counters.add("flows.closed_forgotten", forgotten);
                }
                self.end_flow(*f, now, Report::Final);
            }
        }
        let flows_enabled = flows_cfg.enabled;
        for (_, s) in self.flows.iter_mut() {
            let Slot::Full(f) = s else { continue };
            let f: &mut Flow = f;
            let Flow {
                ctx,
                session,
                datagrams,
                ..
            } = f;
            let mut sink = TxSink {
                flow: ctx,
                events: &mut self.events,
                counters: &mut self.counters,
            };
            if let Some(s) = session.as_mut() {
                s.tick(now, &mut sink);
            } else if let Some(s) = datagrams.as_mut() {
                s.tick(now, &mut sink);
            }
            let total = f.packets[0] + f.packets[1];
            if flows_enabled && now.saturating_sub(f.last_report) >= period {
                f.last_report = now;
                if total != f.packets_at_report {
                    f.packets_at_report = total;
                    write_flow_event(f, &mut self.events, &mut self.counters, Report::Interim);
                }
            }
        }
    }

    /// Reports, and removes, a sixteenth of the table: embryonic flows
    /// first, then flows without protocol state, then flows with it, the
    /// oldest-idle first within each (`flows.evicted`, and by kind
    /// `flows.evicted_embryonic`, `flows.evicted_no_state`,
    /// `flows.evicted_with_state`).
    fn evict_oldest(&mut self) {
        let mut ages: Vec<(u8, Timestamp, FlowKey)> = self
            .flows
            .iter()
            .map(|(k, s)| (s.class(), s.last_ts(), *k))
            .collect();
        if ages.is_empty() {
            return;
        }
        let n = (ages.len() / 16).max(1);
        ages.select_nth_unstable(n - 1);
        ages.truncate(n);
        for (class, _, k) in ages {
            if let Some(f) = self.take(k.shard_hash(&self.hasher), &k) {
                self.counters.add("flows.evicted", 1);
                self.counters.add(
                    match class {
                        0 => "flows.evicted_embryonic",
                        1 => "flows.evicted_no_state",
                        _ => "flows.evicted_with_state",
                    },
                    1,
                );
                let now = self.now;
                self.end_flow(*f, now, Report::Evicted);
            }
        }
    }

    fn end_flow(&mut self, mut f: Flow, now: Timestamp, why: Report) {
        let end = now.max(f.last_ts);
        if let Some(t) = &f.tcp {
            self.budget.reassembly = self.budget.reassembly.saturating_sub(buffered(t));
        }
        let state = session_bytes(&f.session, &f.datagrams);
        self.budget.protocol = self.budget.protocol.saturating_sub(state);
        let Flow {
            ctx,
            tcp,
            session,
            datagrams,
            ..
        } = &mut f;
        if let Some(s) = datagrams.as_mut() {
            let mut sink = TxSink {
                flow: ctx,
                events: &mut self.events,
                counters: &mut self.counters,
            };
            s.close(end, &mut sink);
        }
        if let Some(s) = session.as_mut() {
            let events = &mut self.events;
            let counters = &mut self.counters;
            if let Some(tcp) = tcp {
                tcp.finish(end, &mut self.tcp_counters, &mut |d, delivery, ts| {
                    let mut sink = TxSink {
                        flow: ctx,
                        events,
                        counters,
                    };
                    deliver(s.as_mut(), d, delivery, ts, &mut sink);
                });
            }
            let mut sink = TxSink {
                flow: ctx,
                events,
                counters,
            };
            s.close(end, &mut sink);
        } else if let Some(tcp) = tcp {
            tcp.finish(end, &mut self.tcp_counters, &mut |_, _, _| {});
        }
        if self.config.raw.flows.enabled {
            write_flow_event(&mut f, &mut self.events, &mut self.counters, why);
        }
        // Many flows end at once (eviction, expiry, end of input): hand
        // full batches on as they fill, so that the exporter queue's bound
        // also bounds them.
        if self.events.buf.len() >= EVENT_BATCH_BYTES {
            self.ship();
        }
    }

    fn finish(&mut self, now: Timestamp) {
        self.now = self.now.max(now);
        let keys: Vec<FlowKey> = self.flows.iter().map(|(k, _)| *k).collect();
        for k in keys {
            if let Some(f) = self.take(k.shard_hash(&self.hasher), &k) {
                let end = f.last_ts;
                self.end_flow(*f, end, Report::Final);
            }
        }
    }
}

/// Out-of-order bytes a connection holds, both directions.
fn buffered(t: &TcpConn) -> u64 {
    (t.buffered_bytes(Dir::ToServer) + t.buffered_bytes(Dir::ToClient)) as u64
}

/// Inline bytes of a flow's protocol session (its buffers are bounded by
/// the decoder's own settings).
fn session_bytes(s: &Option<Box<dyn Session>>, d: &Option<Box<dyn DatagramSession>>) -> u64 {
    let a = s.as_deref().map_or(0, std::mem::size_of_val);
    let b = d.as_deref().map_or(0, std::mem::size_of_val);
    (a + b) as u64
}

fn deliver(
    s: &mut dyn Session,
    d: Dir,
    delivery: Delivery<'_>,
    ts: Timestamp,
    sink: &mut TxSink<'_>,
) {
    match delivery {
        Delivery::Data(b) => s.data(d, b, ts, sink),
        Delivery::Gap(n) => s.gap(d, n, ts, sink),
        Delivery::End => s.end(d, ts, sink),
    }
}

/// ICMP types that answer a request (echo reply, timestamp reply, ...).
fn is_icmp_reply(v6: bool, typ: u16) -> bool {
    if v6 {
        matches!(typ, 129 | 131 | 134 | 136 | 140 | 145)
    } else {
        matches!(typ, 0 | 14 | 16 | 9 | 18)
    }
}

fn gauge_name(id: usize) -> &'static str {
    crate::stats::FLOWS_ACTIVE_WORKER
        .get(id)
        .copied()
        .unwrap_or("flows.active_worker_other")
}

fn endpoint(w: &mut JsonWriter<'_>, key: &str, f: &Flow, side: usize) {
    let ep = if side == 0 {
        f.ctx.client
    } else {
        f.ctx.server
    };
    w.begin_obj(key);
    w.ip("ip", ep.0);
    w.u64("port", ep.1.into());
    f.ctx.write_mac(w, side);
    w.u64("packets", f.packets[side]);
    w.u64("bytes", f.bytes[side]);
    w.end();
}

/// What the aggregator takes from a final flow report (the figures the
/// flow event carries).
fn flow_summary(f: &Flow) -> FlowSummary<'_> {
    FlowSummary {
        ts: f.last_ts,
        final_report: true,
        proto: f.protocol.map_or(f.ctx.transport.name(), |p| p.name()),
        // As the event writes it: ICMP endpoints have no port.
        server: std::net::SocketAddr::new(
            f.ctx.server.0,
            if f.ctx.has_ports() { f.ctx.server.1 } else { 0 },
        ),
        group: f.ctx.server_group.as_deref(),
        client: f.ctx.client.0,
        packets: f.packets[0] + f.packets[1],
        bytes_in: f.bytes[0],
        bytes_out: f.bytes[1],
        tcp: f.tcp.as_ref().map(|t| {
            let m = t.metrics();
            let (c, s) = (&m.client, &m.server);
            TcpSummary {
                retrans: u64::from(c.retransmitted_segments) + u64::from(s.retransmitted_segments),
                ooo: u64::from(c.out_of_order_segments) + u64::from(s.out_of_order_segments),
                resets: u64::from(c.resets) + u64::from(s.resets),
                zero_windows: u64::from(c.zero_window_segments) + u64::from(s.zero_window_segments),
                lost_bytes: c.gap_bytes + s.gap_bytes,
                syn_unanswered: m.syn_unanswered,
                syn_rejected: m.syn_rejected,
                handshake_rtt_us: m.handshake_rtt_us,
            }
        }),
    }
}

/// Encodes a `type: flow` event with the flow's totals so far.
fn write_flow_event(f: &mut Flow, events: &mut EventBatch, counters: &mut Counters, why: Report) {
    let index = f.ctx.next_index;
    f.ctx.next_index += 1;
    let f = &*f;
    events.push(f.last_ts, f.ctx.flow_id, index, |w| {
        w.time("@timestamp", f.last_ts);
        w.ascii("type", "flow");
        w.begin_obj("event");
        w.ascii("kind", "event");
        w.ascii("category", "network");
        if why == Report::Interim {
            w.raw("type", br#"["connection"]"#);
        } else {
            w.raw("type", br#"["connection","end"]"#);
        }
        w.ascii("dataset", "flow");
        w.str(
            "action",
            if why == Report::Interim {
                "network_flow"
            } else {
                "network_flow_end"
            },
        );
        w.time("start", f.first_ts);
        w.time("end", f.last_ts);
        w.u64("duration", f.last_ts - f.first_ts);
        w.end();
        w.begin_obj("flow");
        w.hex64("id", f.ctx.flow_id);
        w.bool("final", why != Report::Interim);
        if why == Report::Evicted {
            w.bool("evicted", true);
        }
        // The decoder of the flow's transactions: not `network.protocol`,
        // which transaction panels filter on (a flow is not a transaction).
        if let Some(p) = f.protocol {
            w.str("protocol", p.name());
        }
        if !f.ctx.vlan.is_empty() {
            w.begin_arr("vlan");
            for v in &f.ctx.vlan {
                w.elem_u64((*v).into());
            }
            w.end_arr();
        }
        w.end();
        endpoint(w, "source", f, 0);
        endpoint(w, "destination", f, 1);
        f.ctx
            .write_endpoints(w, None, &mut |w: &mut JsonWriter<'_>, i: usize| {
                w.u64("bytes", f.bytes[i])
            });
        f.ctx.write_network(w, None, |w| {
            w.u64("bytes", f.bytes[0] + f.bytes[1]);
            w.u64("packets", f.packets[0] + f.packets[1]);
        });
        f.ctx.write_related(w, None);
        if let Some(t) = &f.tcp {
            t.write_json(w);
        }
    });
    counters.add("events.flow", 1);
    if let (Some(agg), true) = (
        events.aggregate.as_deref_mut().and_then(|a| {
            a.as_any_mut()
                .downcast_mut::<crate::aggregate::Aggregator>()
        }),
        why != Report::Interim,
    ) {
        agg.add_flow(&flow_summary(f));
    }
}

// The table slot of an embryonic flow holds it inline and a full flow is
// boxed; tests/flow_memory.rs measures the heap as a whole.
const _: () = assert!(std::mem::size_of::<Slot>() <= 40);
const _: () = assert!(BUCKET_BYTES <= 104);
const _: () = assert!(FULL_FLOW_BYTES <= 900);
