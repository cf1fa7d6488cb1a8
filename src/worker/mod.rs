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
//! Memory is bounded: the flow table holds at most
//! `flows.max_flows_per_worker` flows; when it is full the oldest-idle
//! sixteenth is reported and evicted (counter `flows.evicted`).

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
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

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
    flows: HashMap<FlowKey, Flow, ahash::RandomState>,
    events: EventBatch,
    exporter: Sender<EventBatch>,
    /// Emptied event batches coming back from the exporter.
    spare_events: Receiver<EventBatch>,
    recycle: Sender<PacketBatch>,
    counters: Counters,
    tcp_counters: Counters,
    published: Published,
    now: Timestamp,
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
        let (exporter, spare_events) = exporter;
        Worker {
            id,
            config,
            flows: HashMap::with_hasher(crate::flow::fixed_state()),
            events: EventBatch::with_capacity(EVENT_BATCH_BYTES + 64 * 1024),
            exporter,
            spare_events,
            recycle,
            counters: Counters::new(),
            tcp_counters: Counters::new(),
            published,
            now: 0,
        }
    }

    /// Processes messages until [`ShardMsg::Finish`] or the channel closes.
    pub fn run(mut self, rx: Receiver<ShardMsg>) -> Counters {
        while let Ok(msg) = rx.recv() {
            match msg {
                ShardMsg::Packets(mut batch) => {
                    for rec in &batch.pkts {
                        self.packet(rec, &batch.data);
                    }
                    batch.data.clear();
                    batch.pkts.clear();
                    let _ = self.recycle.try_send(batch);
                    if self.events.buf.len() >= EVENT_BATCH_BYTES {
                        self.ship();
                    }
                }
                ShardMsg::Tick(now) => {
                    self.tick(now);
                    self.ship();
                    self.publish();
                }
                ShardMsg::Finish(now) => {
                    self.finish(now);
                    break;
                }
            }
        }
        self.ship();
        self.publish();
        self.all_counters()
    }

    fn all_counters(&self) -> Counters {
        let mut c = self.counters.clone();
        c.merge(&self.tcp_counters);
        c.set(gauge_name(self.id), self.flows.len() as u64);
        c
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
        let batch = std::mem::replace(
            &mut self.events,
            self.spare_events
                .try_recv()
                .unwrap_or_else(|_| EventBatch::with_capacity(EVENT_BATCH_BYTES + 64 * 1024)),
        );
        if self.exporter.send(batch).is_err() {
            self.counters.add("output.events_lost_exporter_gone", n);
        }
    }

    fn new_flow(&mut self, rec: &PacketRec) -> Flow {
        let cfg = &self.config;
        let d = &rec.dec;
        let src = (d.src, d.sport);
        let dst = (d.dst, d.dport);
        let registry = &cfg.registry;
        let is_tcp = d.proto == 6;
        // Who is the server: the SYN's receiver, else the side on a
        // configured protocol port, else the lower port.
        let syn = is_tcp && d.tcp.flags & flags::SYN != 0;
        let ack = is_tcp && d.tcp.flags & flags::ACK != 0;
        let is_udp = d.proto == 17;
        let proto_port = |p: u16| (is_tcp || is_udp) && registry.claims(p);
        let is_icmp = d.proto == 1 || d.proto == 58;
        let src_is_client = if is_icmp {
            // The sender of a request type (or of a one-way message) is the client.
            !is_icmp_reply(d.proto == 58, d.sport)
        } else if syn && !ack {
            true
        } else if syn && ack {
            false
        } else if proto_port(d.dport) {
            true
        } else if proto_port(d.sport) {
            false
        } else {
            d.dport <= d.sport
        };
        let (client, server) = if src_is_client {
            (src, dst)
        } else {
            (dst, src)
        };
        let client_side = if src_is_client {
            rec.side
        } else {
            match rec.side {
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
            registry.lookup(Transport::from_ip_proto(d.proto), server.1)
        };
        let has_ports = matches!(d.proto, 6 | 17 | 132 | 1 | 58);
        let one_way = d.icmp_one_way;
        let (cid_src, cid_dst) = if one_way {
            (src, dst)
        } else {
            (client, server)
        };
        let cid = community_id(
            0,
            cid_src.0,
            cid_dst.0,
            d.proto,
            has_ports.then_some((cid_src.1, cid_dst.1)),
            one_way,
        );
        let mut ctx = FlowContext::new(
            rec.key.flow_id(rec.ts, self.flows.hasher()),
            client,
            server,
            Transport::from_ip_proto(d.proto),
            cid,
        );
        ctx.vlan = rec.key.vlan.iter().copied().filter(|v| *v != 0).collect();
        ctx.server_group = cfg.groups.lookup(server.0);
        let (session, datagrams) = match protocol {
            Some(p) if is_tcp => (p.stream(&registry.config), None),
            Some(p) => (None, p.datagram(&registry.config)),
            None => (None, None),
        };
        let protocol = protocol.filter(|_| session.is_some() || datagrams.is_some());
        if let Some(p) = protocol {
            self.counters.add(p.sessions_counter(), 1);
        }
        Flow {
            ctx,
            client_side,
            first_ts: rec.ts,
            last_ts: rec.ts,
            packets: [0; 2],
            bytes: [0; 2],
            tcp: (is_tcp && level >= Analysis::Tcp).then(|| TcpConn::new(&cfg.raw.tcp)),
            session,
            datagrams,
            protocol,
            last_report: rec.ts,
            packets_at_report: 0,
        }
    }

    fn packet(&mut self, rec: &PacketRec, data: &[u8]) {
        if rec.ts > self.now {
            self.now = rec.ts;
        }
        if !self.flows.contains_key(&rec.key) {
            if self.flows.len() >= self.config.raw.flows.max_flows_per_worker {
                self.evict_oldest();
            }
            let f = self.new_flow(rec);
            self.counters.add("flows.created", 1);
            self.flows.insert(rec.key, f);
        }
        let Some(flow) = self.flows.get_mut(&rec.key) else {
            return;
        };
        let dir = flow.dir(rec.side);
        flow.packets[dir.idx()] += 1;
        flow.bytes[dir.idx()] += u64::from(rec.wire_len);
        flow.last_ts = flow.last_ts.max(rec.ts);
        let Flow {
            ctx,
            tcp,
            session,
            datagrams,
            ..
        } = flow;
        let payload = rec.payload(data);
        if let (Some(s), false) = (datagrams, payload.is_empty()) {
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
            tcp.segment(
                dir,
                &seg,
                rec.ts,
                &mut self.tcp_counters,
                &mut |d, delivery, ts| {
                    if let Some(s) = session.as_mut() {
                        let mut sink = TxSink {
                            flow: ctx,
                            events,
                            counters,
                        };
                        deliver(s.as_mut(), d, delivery, ts, &mut sink);
                    }
                },
            );
            if ctx.handshake_rtt_us.is_none() {
                ctx.handshake_rtt_us = tcp.handshake_rtt_us();
            }
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
            .filter(|(_, f)| {
                let timeout = match &f.tcp {
                    Some(t) if t.state().closed() => close_to,
                    Some(_) => tcp_to,
                    None => udp_to,
                };
                now.saturating_sub(f.last_ts) >= timeout
            })
            .map(|(k, _)| *k)
            .collect();
        for k in expired {
            if let Some(f) = self.flows.remove(&k) {
                self.counters.add("flows.expired", 1);
                self.end_flow(f, now, Report::Final);
            }
        }
        let flows_enabled = flows_cfg.enabled;
        for f in self.flows.values_mut() {
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

    /// Reports, and removes, the oldest-idle sixteenth of the table.
    fn evict_oldest(&mut self) {
        let mut ages: Vec<(Timestamp, FlowKey)> =
            self.flows.iter().map(|(k, f)| (f.last_ts, *k)).collect();
        let n = (ages.len() / 16).max(1);
        ages.select_nth_unstable(n - 1);
        ages.truncate(n);
        for (_, k) in ages {
            if let Some(f) = self.flows.remove(&k) {
                self.counters.add("flows.evicted", 1);
                let now = self.now;
                self.end_flow(f, now, Report::Evicted);
            }
        }
    }

    fn end_flow(&mut self, mut f: Flow, now: Timestamp, why: Report) {
        let end = now.max(f.last_ts);
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
    }

    fn finish(&mut self, now: Timestamp) {
        self.now = self.now.max(now);
        let keys: Vec<FlowKey> = self.flows.keys().copied().collect();
        for k in keys {
            if let Some(f) = self.flows.remove(&k) {
                let end = f.last_ts;
                self.end_flow(f, end, Report::Final);
            }
        }
    }
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

fn endpoint(w: &mut JsonWriter<'_>, key: &str, ep: (IpAddr, u16), packets: u64, bytes: u64) {
    w.begin_obj(key);
    w.ip("ip", ep.0);
    w.u64("port", ep.1.into());
    w.u64("packets", packets);
    w.u64("bytes", bytes);
    w.end();
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
        w.end();
        endpoint(w, "source", f.ctx.client, f.packets[0], f.bytes[0]);
        endpoint(w, "destination", f.ctx.server, f.packets[1], f.bytes[1]);
        f.ctx.write_endpoints(w, None);
        f.ctx.write_network(w, f.protocol.map(|p| p.name()), |w| {
            w.u64("bytes", f.bytes[0] + f.bytes[1]);
            w.u64("packets", f.packets[0] + f.packets[1]);
        });
        if let Some(t) = &f.tcp {
            t.write_json(w);
        }
    });
    counters.add("events.flow", 1);
}
