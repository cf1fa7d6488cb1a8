//! The contracts between the worker and a protocol decoder: [`Session`] for
//! byte streams (TCP, after reassembly), [`DatagramSession`] for datagrams
//! (UDP payloads, or whole ICMP messages), the [`TxSink`] both emit into,
//! and [`Protocol`] / [`ProtocolConfig`], what one registry line names.
//!
//! A session lives as long as its flow. A stream session sees the flow's
//! reassembled byte streams (one per [`Dir`]), gaps where bytes were never
//! captured, the end of each direction, and packet-time ticks for its
//! timeouts. A datagram session sees each datagram whole, with its
//! direction and capture time, and the same ticks. Both pair requests with
//! responses and emit one event per transaction through [`TxSink::emit`].
//! Sessions never see packet headers, never allocate per packet, and never
//! block.
//!
//! Not here: which protocol a flow gets (the port map in
//! [`registry`](super::registry)), and the pieces every decoder shares
//! (queue, legs, error texts, resync: [`common`](super::common)).

use crate::event::{EventBatch, FlowContext, JsonWriter, Transaction, Transport};
use crate::stats::Counters;
use crate::time::Timestamp;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::Arc;

pub use crate::flow::Dir;

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
        let (start, end) = (tx.start(), tx.end());
        let index = self.flow.next_index;
        self.flow.next_index += 1;
        crate::event::FlowJson::prepare(self.flow, tx.kind);
        if tx.real_client_ip.is_none() && !tx.reversed {
            crate::event::FlowJson::note_bytes(self.flow, tx.request_bytes, tx.response_bytes);
        }
        let flow = &*self.flow;
        self.events
            .push(start, flow.flow_id, index, |w| tx.encode(flow, w, body));
        let kept = self.events.sampling.is_none_or(|s| {
            s.keeps(
                flow.flow_id,
                index,
                tx.status == Some(crate::event::Status::Error),
                end - start,
            )
        });
        if let Some(agg) = self.events.aggregate.as_deref_mut() {
            let (buf, lines) = (&self.events.buf, &self.events.events);
            // A request from the flow's server (SIP) is keyed by that
            // server: not the flow's slot, so it neither uses nor sets the memo.
            self.flow.with_agg_hint(!tx.reversed, |flow, hint| {
                agg.fold_tx(tx, flow, hint, kept, (start, end), &|| {
                    let m = lines.last()?;
                    buf.get(m.start as usize..(m.start + m.len) as usize)
                });
            });
        }
        if !kept {
            // Left out of the output; the aggregate above still counts it.
            if let Some(m) = self.events.events.pop() {
                self.events.buf.truncate(m.start as usize);
            }
            self.counters.add("sampling.dropped", 1);
        }
        self.counters
            .add(super::registry::event_counter(tx.kind), 1);
    }

    /// Whether an aggregator takes this flow's transactions (a session may
    /// skip filling [`Transaction::detail`] when not).
    pub fn aggregating(&self) -> bool {
        self.events.aggregate.is_some()
    }

    /// Adds `n` to a counter (use dotted names under the protocol's prefix,
    /// e.g. `http.body_bytes_skipped`).
    pub fn count(&mut self, name: &'static str, n: u64) {
        self.counters.add(name, n);
    }
}

/// One protocol decoder's view of a byte-stream flow (TCP).
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
    /// The decoder rejected the flow's bytes from its first message on
    /// (they are not this protocol: PostgreSQL on a port configured for
    /// HTTP) and decoded nothing. The worker then drops the session, counts
    /// `flows.protocol_rejected`, and reports the flow without
    /// `network.protocol`. For a stream this is honoured only when the
    /// connection's start (its SYN) was seen. Default: never.
    fn rejected(&self) -> bool {
        false
    }
}

/// One protocol decoder's view of a datagram flow (UDP, or ICMP for a
/// protocol with [`Protocol::ICMP`]).
///
/// Each call gets one whole datagram: the UDP payload, or the ICMP message
/// from its type byte on. There are no gaps (a lost datagram is simply not
/// seen) and no stream end: requests without an answer expire on `tick`.
pub trait DatagramSession: Send {
    /// One datagram of direction `dir`, captured at `ts`.
    fn datagram(&mut self, dir: Dir, payload: &[u8], ts: Timestamp, out: &mut TxSink<'_>);
    /// Packet time reached `now`: expire what has waited too long.
    fn tick(&mut self, now: Timestamp, out: &mut TxSink<'_>);
    /// The flow is being removed: report everything still pending.
    fn close(&mut self, now: Timestamp, out: &mut TxSink<'_>);
    /// The decoder rejected the flow's bytes from its first message on
    /// (they are not this protocol: PostgreSQL on a port configured for
    /// HTTP) and decoded nothing. The worker then drops the session, counts
    /// `flows.protocol_rejected`, and reports the flow without
    /// `network.protocol`. For a stream this is honoured only when the
    /// connection's start (its SYN) was seen. Default: never.
    fn rejected(&self) -> bool {
        false
    }
}

/// One application protocol: a unit struct in `src/proto/<name>/mod.rs`,
/// named by one line of [`protocols!`](super::registry) in
/// `src/proto/registry.rs`.
///
/// A protocol decodes streams when [`Protocol::stream`] returns a session,
/// datagrams when [`Protocol::datagram`] does, or both (DNS). The
/// transports it is looked up for are the ones in [`Protocol::DEFAULT_PORTS`]
/// (the configured `ports` apply to each of them); an `ICMP` protocol gets
/// the ICMP and ICMPv6 flows instead of ports.
pub trait Protocol: 'static {
    /// The name of the config section (`[protocols.<NAME>]`), of `type`,
    /// `network.protocol` and the counters (`events.<NAME>`,
    /// `sessions.<NAME>`). Must equal the registry line's field name.
    const NAME: &'static str;
    /// The default server ports, per transport: `&[(Transport::Tcp, 5432)]`;
    /// a protocol on both transports lists each (`(Udp, 53), (Tcp, 53)`).
    const DEFAULT_PORTS: &'static [(Transport, u16)];
    /// True for a protocol that receives the ICMP and ICMPv6 flows through
    /// [`Protocol::datagram`] (each ICMP message whole). ICMP has no ports.
    const ICMP: bool = false;
    /// A short, complete, successful exchange (for stream protocols: the
    /// client's and server's bytes in order; for datagram protocols: one
    /// datagram per entry), decoded by the generic checks in
    /// [`testkit`](super::testkit) and by the benchmark over all protocols.
    /// It must give at least one event, with `status: OK`.
    const SAMPLE: &'static [(Dir, &'static [u8])];
    /// `[protocols.<NAME>]`.
    type Config: ProtocolConfig;
    /// A session for a new TCP flow on one of the protocol's ports.
    fn stream(_cfg: &Arc<Self::Config>) -> Option<Box<dyn Session>> {
        None
    }
    /// A session for a new UDP flow on one of its ports (or an ICMP flow).
    fn datagram(_cfg: &Arc<Self::Config>) -> Option<Box<dyn DatagramSession>> {
        None
    }
}

/// What every `[protocols.<name>]` section has, whatever else it holds.
///
/// serde cannot combine `flatten` with `deny_unknown_fields`, so the common
/// keys are written out in each config struct and exposed here.
pub trait ProtocolConfig:
    Default + Clone + PartialEq + std::fmt::Debug + Serialize + DeserializeOwned + Send + Sync + 'static
{
    /// `enabled`: false turns the decoder off.
    fn enabled(&self) -> bool;
    /// `ports`: the server ports, on each transport the protocol serves
    /// (empty for ICMP).
    fn ports(&self) -> &[u16];
    /// Protocol-specific checks: `Err((key, message))` where `key` is the
    /// key inside the section (it is reported as `protocols.<name>.<key>`).
    fn validate(&self) -> Result<(), (&'static str, String)> {
        Ok(())
    }
}
