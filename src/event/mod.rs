//! Events: the common fields every event carries, and their JSON encoding.
//!
//! Workers encode events straight into an [`EventBatch`] (one NDJSON line
//! per event plus an [`EventMeta`] record), so the exporter never
//! serialises. Protocol sessions describe a [`Transaction`] and write only
//! their own namespace (`http`, `url`, `mysql`, ...) through a closure; the
//! common part (`@timestamp`, `event.*`, `client.*`, `server.*`,
//! `network.*`, `transaction.*`, `status`, `error.message`) is written here,
//! the same way for every protocol.

pub mod json;

pub use json::JsonWriter;

use crate::time::{Timestamp, MICROSECOND};
use std::net::IpAddr;
use std::sync::Arc;

/// Where one encoded event sits in its batch, plus what the Elasticsearch
/// output needs without parsing the JSON again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventMeta {
    /// Byte offset of the line in [`EventBatch::buf`].
    pub start: u32,
    /// Length of the JSON object (without the trailing newline).
    pub len: u32,
    /// The event's own time (`@timestamp`), for daily index names.
    pub ts: Timestamp,
    /// The flow's id ([`FlowContext::flow_id`]).
    pub flow_id: u64,
    /// The event's index within its flow: `flow_id` and `index` together make
    /// a deterministic document id.
    pub index: u32,
}

impl EventMeta {
    /// The deterministic document id, `<flow id hex>-<index>`.
    pub fn doc_id(&self) -> String {
        format!("{:016x}-{}", self.flow_id, self.index)
    }
}

/// Encoded events on their way from a worker to the exporter.
#[derive(Debug, Default)]
pub struct EventBatch {
    /// NDJSON: every event is one JSON object followed by `\n`.
    pub buf: Vec<u8>,
    /// One record per event, in order.
    pub events: Vec<EventMeta>,
    /// The worker's aggregator (report, live page), when one runs: it rides
    /// with the batch being filled, so every place that emits an event
    /// feeds it without a lock, and the worker moves it to the next batch
    /// before shipping this one (it never reaches the exporter).
    /// (A `crate::aggregate::Aggregator`, as a [`TxFold`] so that `event`
    /// does not depend on `aggregate`, which depends on it.)
    pub aggregate: Option<Box<dyn TxFold>>,
    /// The sensor's `observer` object, rendered once ([`Observer::json`]):
    /// written first into every event of the batch.
    pub observer: Option<Arc<[u8]>>,
    /// Which transaction events are kept (`sample_ok`), when sampling.
    pub sampling: Option<Sampling>,
}

/// Transaction sampling (`[output.elasticsearch] sample_ok`): every error
/// and every transaction at least `slow_ns` long is kept, and a share
/// `keep` of the rest, chosen by a hash of the flow id and the event's
/// index in its flow (both deterministic), so 1 worker or 8 keep the same
/// events and a replay keeps the same ones every time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampling {
    /// Share of OK, fast transactions kept (0 to 1).
    pub keep: f64,
    /// Transactions at least this long (`event.duration`, ns) are kept.
    pub slow_ns: u64,
}

impl Sampling {
    /// Whether the event `index` of flow `flow_id` is kept.
    #[inline]
    pub fn keeps(&self, flow_id: u64, index: u32, error: bool, duration_ns: u64) -> bool {
        error || duration_ns >= self.slow_ns || sample_share(flow_id, index) < self.keep
    }
}

/// A uniform number in [0, 1) from a flow id and an index (splitmix64).
pub fn sample_share(flow_id: u64, index: u32) -> f64 {
    let mut z = flow_id ^ u64::from(index).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// Who saw the traffic: ECS `observer.name` (the sensor's configured name,
/// `[observer] name`, else the host name) and `observer.hostname`, so the
/// events of several sensors in one index can be split or merged by sensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observer {
    /// `observer.name`.
    pub name: String,
    /// `observer.hostname`.
    pub hostname: String,
}

impl Observer {
    /// The observer named `name`, or after the host when `None`.
    pub fn new(name: Option<&str>) -> Observer {
        let hostname = host_name();
        Observer {
            name: name.map_or_else(|| hostname.clone(), str::to_owned),
            hostname,
        }
    }

    /// `{"name":"...","hostname":"..."}`.
    pub fn json(&self) -> Arc<[u8]> {
        let mut buf = Vec::new();
        let mut w = JsonWriter::new(&mut buf);
        w.begin();
        w.str("name", &self.name);
        w.str("hostname", &self.hostname);
        w.end();
        Arc::from(buf)
    }
}

/// This machine's host name (`uname -n`), `localhost` when it has none.
pub fn host_name() -> String {
    let u = rustix::system::uname();
    let n = u.nodename().to_string_lossy().trim().to_string();
    if n.is_empty() {
        "localhost".into()
    } else {
        n
    }
}

impl EventBatch {
    /// An empty batch with room for `bytes` of JSON.
    pub fn with_capacity(bytes: usize) -> Self {
        EventBatch {
            buf: Vec::with_capacity(bytes),
            events: Vec::new(),
            aggregate: None,
            observer: None,
            sampling: None,
        }
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// True when there is no event.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Removes every event, keeping the allocations.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.events.clear();
    }

    /// The JSON of event `i` (without the newline).
    pub fn json(&self, i: usize) -> &[u8] {
        let m = &self.events[i];
        &self.buf[m.start as usize..(m.start + m.len) as usize]
    }

    /// Encodes one event: `body` writes everything inside the top-level
    /// object; the newline and the [`EventMeta`] are added here.
    pub fn push(
        &mut self,
        ts: Timestamp,
        flow_id: u64,
        index: u32,
        body: impl FnOnce(&mut JsonWriter<'_>),
    ) {
        let start = self.buf.len();
        {
            let mut w = match &self.observer {
                Some(o) => {
                    // `{"observer":{...}` as two copies (the object is
                    // rendered once per batch).
                    self.buf.extend_from_slice(br#"{"observer":"#);
                    self.buf.extend_from_slice(o);
                    JsonWriter::continuing(&mut self.buf)
                }
                None => {
                    let mut w = JsonWriter::new(&mut self.buf);
                    w.begin();
                    w
                }
            };
            body(&mut w);
            w.end();
        }
        let len = self.buf.len() - start;
        self.buf.push(b'\n');
        self.events.push(EventMeta {
            start: start as u32,
            len: len as u32,
            ts,
            flow_id,
            index,
        });
    }
}

pub use crate::flow::Transport;

/// What every event of one flow shares; owned by the worker's flow entry.
#[derive(Debug, Clone)]
pub struct FlowContext {
    /// Deterministic flow id (fixed-key hash of the key and the first packet time).
    pub flow_id: u64,
    /// The client endpoint (the SYN sender, else the side not on the server port).
    pub client: (IpAddr, u16),
    /// The server endpoint.
    pub server: (IpAddr, u16),
    /// Transport protocol.
    pub transport: Transport,
    /// VLAN ids, outermost first (empty when untagged).
    pub vlan: Vec<u16>,
    /// Community ID v1 string (`1:...`).
    pub community_id: String,
    /// The named server group the server address falls in.
    pub server_group: Option<Arc<str>>,
    /// Handshake RTT as seen from the mirror port, once known.
    pub handshake_rtt_us: Option<u64>,
    /// The tunnel the flow's first packet came through (`tunnel.*`).
    pub tunnel: Option<Box<crate::flow::tunnel::Tunnel>>,
    /// Index of the next event of this flow.
    pub next_index: u32,
    /// Where the client is (`[geoip]`), looked up once per flow.
    pub client_geo: Option<Arc<crate::geoip::Geo>>,
    /// Ethernet addresses (client, server) of the outermost Ethernet
    /// header, from the first frame each side sent (or, until then, the
    /// other side's frames' destination): flow events' `source.mac` /
    /// `destination.mac`.
    pub macs: [Option<[u8; 6]>; 2],
    /// The flow's own JSON fields, rendered once for all its transactions.
    /// Filled by [`FlowJson::prepare`]; the identity fields above must not
    /// change after that.
    /// Boxed: most flows never carry a transaction, and a flow must stay small.
    json: Option<Box<FlowJson>>,
}

/// Opens `"name":{"ip":...,"port":...` (`source` or `destination`; the
/// caller adds `bytes` and closes it). ICMP endpoints have no port (the
/// flow key's "ports" are Community ID type equivalents), as in Packetbeat.
fn open_endpoint(w: &mut JsonWriter<'_>, name: &str, (ip, port): (IpAddr, u16), ports: bool) {
    w.begin_obj(name);
    w.ip("ip", ip);
    if ports {
        w.u64("port", port.into());
    }
}

/// What every transaction of one flow repeats, rendered once: `client`,
/// `server`, `source` and `destination` (but their byte counts), `network`
/// (but its byte total) and `flow`. Transactions splice their numbers in
/// between, or, when their byte counts repeat the previous ones, copy the
/// fragments already joined with those counts as one run; the result is
/// byte for byte what the field-by-field writer produces (tested).
#[derive(Debug, Clone, Default)]
pub struct FlowJson {
    /// The protocol (`network.protocol`) the fragments were rendered for.
    kind: &'static str,
    buf: Vec<u8>,
    /// Ends of the fragments in `buf` but the last (each ends at a number).
    ends: [usize; TX_NUMS],
    /// The aggregator's memo for this flow's transactions (here, not in
    /// [`FlowContext`], so that a flow without transactions stays small).
    agg_hint: AggHint,
    /// The fragments joined with the byte counts of `joined_for` in their
    /// slots: transactions that repeat their sizes (a keep-alive client
    /// asking for the same thing again) copy this one run instead of six
    /// fragments and five numbers.
    joined: Vec<u8>,
    /// The (request, response) bytes `joined` holds.
    joined_for: Option<(u64, u64)>,
    /// The previous transaction's (request, response) bytes: a pair seen
    /// twice in a row is joined for the ones after.
    prev: (u64, u64),
}

impl FlowJson {
    /// Renders the fragments for transactions of `kind` (once per flow).
    pub fn prepare(flow: &mut FlowContext, kind: &'static str) {
        if flow
            .json
            .as_ref()
            .is_some_and(|j| j.kind == kind && !j.buf.is_empty())
        {
            return;
        }
        let (mut buf, agg_hint, joined) = flow
            .json
            .take()
            .map(|j| (j.buf, j.agg_hint, j.joined))
            .unwrap_or_default();
        buf.clear();
        let mut ends = [0; TX_NUMS];
        let mut n = 0;
        {
            let mut w = JsonWriter::new(&mut buf);
            // Each number slot becomes a cut: `"bytes":` ends a fragment.
            flow.write_tx_common(
                &mut w,
                kind,
                None,
                &mut |w: &mut JsonWriter<'_>, _: usize| {
                    w.key_only("bytes");
                    ends[n] = w.buf().len();
                    n += 1;
                },
            );
        }
        debug_assert_eq!(n, TX_NUMS);
        flow.json = Some(Box::new(FlowJson {
            kind,
            buf,
            ends,
            agg_hint,
            joined,
            joined_for: None,
            prev: (u64::MAX, u64::MAX),
        }));
    }

    /// Notes a transaction's byte counts (after [`Self::prepare`]): a pair
    /// seen twice in a row is joined into the fragments once, and the
    /// transactions with the same pair copy the joined run.
    pub fn note_bytes(flow: &mut FlowContext, request: u64, response: u64) {
        let Some(j) = flow.json.as_deref_mut() else {
            return;
        };
        let pair = (request, response);
        if j.joined_for == Some(pair) {
            return;
        }
        if j.prev != pair {
            j.prev = pair;
            return;
        }
        let mut joined = std::mem::take(&mut j.joined);
        joined.clear();
        j.joined_for = j.parts(j.kind).map(|parts| {
            JsonWriter::new(&mut joined).interleave(&parts, &tx_nums(request, response));
            pair
        });
        j.joined = joined;
    }

    fn parts(&self, kind: &str) -> Option<[&[u8]; TX_NUMS + 1]> {
        if self.kind != kind || self.buf.is_empty() {
            return None;
        }
        let e = self.ends;
        let mut out: [&[u8]; TX_NUMS + 1] = [&[]; TX_NUMS + 1];
        let mut from = 0;
        for (i, &end) in e.iter().enumerate() {
            out[i] = &self.buf[from..end];
            from = end;
        }
        out[TX_NUMS] = &self.buf[from..];
        Some(out)
    }
}

/// Number slots in a transaction's flow fields: `client.bytes`,
/// `server.bytes`, `source.bytes`, `destination.bytes`, `network.bytes`.
const TX_NUMS: usize = 5;

/// The numbers for the [`TX_NUMS`] slots.
fn tx_nums(request: u64, response: u64) -> [u64; TX_NUMS] {
    [request, response, request, response, request + response]
}

/// `network.direction` the way Packetbeat (ECS) reports it, with the
/// private, loopback, link-local and unique-local ranges as the internal
/// networks (Packetbeat's default `internal_networks: [private]`): from
/// the client's side.
pub fn direction(client: IpAddr, server: IpAddr) -> &'static str {
    match (is_internal(client), is_internal(server)) {
        (true, true) => "internal",
        (true, false) => "outbound",
        (false, true) => "inbound",
        (false, false) => "external",
    }
}

/// True for private, loopback, link-local, unique-local and unspecified addresses.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => {
            a.is_private() || a.is_loopback() || a.is_link_local() || a.is_unspecified()
        }
        IpAddr::V6(a) => {
            if let Some(v4) = a.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4));
            }
            let s = a.segments()[0];
            a.is_loopback()
                || a.is_unspecified()
                || (s & 0xfe00) == 0xfc00
                || (s & 0xffc0) == 0xfe80
        }
    }
}

/// `"AA-BB-CC-DD-EE-FF"`: ECS's MAC format, as Packetbeat writes it.
fn mac_text(m: &[u8; 6]) -> String {
    format!(
        "{:02X}-{:02X}-{:02X}-{:02X}-{:02X}-{:02X}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

impl FlowContext {
    /// A flow with no VLAN tag, no server group, no handshake RTT yet and
    /// no event written.
    pub fn new(
        flow_id: u64,
        client: (IpAddr, u16),
        server: (IpAddr, u16),
        transport: Transport,
        community_id: String,
    ) -> Self {
        FlowContext {
            flow_id,
            client,
            server,
            transport,
            vlan: Vec::new(),
            community_id,
            server_group: None,
            handshake_rtt_us: None,
            tunnel: None,
            next_index: 0,
            client_geo: None,
            macs: [None; 2],
            json: None,
        }
    }

    /// False for ICMP and ICMPv6, whose endpoints have no ports.
    pub fn has_ports(&self) -> bool {
        !matches!(self.transport, Transport::Other(1 | 58))
    }

    /// Runs `f` with the flow and, when `use_hint`, the aggregator's memo
    /// in place: the transaction fields holding it are set aside for the
    /// call (a pointer moved out and back) rather than the memo copied out
    /// and stored again on every transaction. `f` sees no memo when the
    /// flow has no transaction fields yet.
    pub fn with_agg_hint<R>(
        &mut self,
        use_hint: bool,
        f: impl FnOnce(&FlowContext, Option<&mut AggHint>) -> R,
    ) -> R {
        let mut json = self.json.take();
        let hint = json
            .as_deref_mut()
            .filter(|_| use_hint)
            .map(|j| &mut j.agg_hint);
        let r = f(self, hint);
        self.json = json;
        r
    }

    /// Writes `client`, `server` and `tunnel`; `num(w, i)` writes
    /// `client.bytes` (slot 0) and `server.bytes` (slot 1).
    pub fn write_endpoints(
        &self,
        w: &mut JsonWriter<'_>,
        client_ip: Option<IpAddr>,
        num: &mut dyn FnMut(&mut JsonWriter<'_>, usize),
    ) {
        let client_ip_shown = client_ip.unwrap_or(self.client.0);
        let ports = self.has_ports();
        w.begin_obj("client");
        w.ip("ip", client_ip_shown);
        if ports {
            w.u64("port", self.client.1.into());
        }
        // The flow's client only: a forwarded address is not looked up.
        if let (None, Some(g)) = (client_ip, &self.client_geo) {
            g.write_json(w);
        }
        num(w, 0);
        w.end();
        w.begin_obj("server");
        w.ip("ip", self.server.0);
        if ports {
            w.u64("port", self.server.1.into());
        }
        if let Some(g) = &self.server_group {
            w.str("group", g);
        }
        num(w, 1);
        w.end();
        if let Some(t) = &self.tunnel {
            t.write_json(w);
        }
    }

    /// Everything a transaction takes from its flow, in order: `client`,
    /// `server`, `tunnel`, `source`, `destination`, `network`, `flow.id`,
    /// `related.ip`; `num(w, i)` writes the [`TX_NUMS`] byte counts.
    fn write_tx_common(
        &self,
        w: &mut JsonWriter<'_>,
        kind: &str,
        forwarded: Option<IpAddr>,
        num: &mut dyn FnMut(&mut JsonWriter<'_>, usize),
    ) {
        self.write_endpoints(w, forwarded, num);
        open_endpoint(w, "source", self.client, self.has_ports());
        num(w, 2);
        w.end();
        open_endpoint(w, "destination", self.server, self.has_ports());
        num(w, 3);
        w.end();
        self.write_network(w, Some(kind), |w| {
            num(w, 4);
            if let Some(ip) = forwarded {
                w.ip("forwarded_ip", ip);
            }
        });
        w.begin_obj("flow");
        w.hex64("id", self.flow_id);
        w.end();
        self.write_related(w, forwarded);
    }

    /// [`Self::write_tx_common`] for a request sent by the flow's server
    /// (SIP: a BYE from the callee): the endpoints swap roles, without geo
    /// or server group (those belong to the flow's own client and server).
    fn write_tx_reversed(
        &self,
        w: &mut JsonWriter<'_>,
        kind: &str,
        num: &mut dyn FnMut(&mut JsonWriter<'_>, usize),
    ) {
        let ports = self.has_ports();
        open_endpoint(w, "client", self.server, ports);
        num(w, 0);
        w.end();
        open_endpoint(w, "server", self.client, ports);
        num(w, 1);
        w.end();
        if let Some(t) = &self.tunnel {
            t.write_json(w);
        }
        open_endpoint(w, "source", self.server, ports);
        num(w, 2);
        w.end();
        open_endpoint(w, "destination", self.client, ports);
        num(w, 3);
        w.end();
        self.write_network(w, Some(kind), |w| num(w, 4));
        w.begin_obj("flow");
        w.hex64("id", self.flow_id);
        w.end();
        self.write_related(w, None);
    }

    /// `related.ip`: the client (the forwarded one too), then the server.
    pub fn write_related(&self, w: &mut JsonWriter<'_>, forwarded: Option<IpAddr>) {
        w.begin_obj("related");
        w.begin_arr("ip");
        if let Some(f) = forwarded.filter(|f| *f != self.client.0) {
            w.elem_ip(f);
        }
        w.elem_ip(self.client.0);
        if self.server.0 != self.client.0 {
            w.elem_ip(self.server.0);
        }
        w.end_arr();
        w.end();
    }

    /// `source.mac` or `destination.mac` (`side` 0: client), when seen.
    pub fn write_mac(&self, w: &mut JsonWriter<'_>, side: usize) {
        if let Some(m) = &self.macs[side] {
            w.str("mac", &mac_text(m));
        }
    }

    /// Writes the `network` object (without byte/packet totals).
    pub fn write_network(
        &self,
        w: &mut JsonWriter<'_>,
        protocol: Option<&str>,
        extra: impl FnOnce(&mut JsonWriter<'_>),
    ) {
        w.begin_obj("network");
        w.ascii("transport", self.transport.name());
        w.str(
            "type",
            if self.client.0.is_ipv4() {
                "ipv4"
            } else {
                "ipv6"
            },
        );
        w.str("community_id", &self.community_id);
        if let Some(p) = protocol {
            w.str("protocol", p);
        }
        w.ascii("direction", direction(self.client.0, self.server.0));
        if !self.vlan.is_empty() {
            w.begin_arr("vlan");
            for v in &self.vlan {
                w.elem_u64((*v).into());
            }
            w.end_arr();
        }
        extra(w);
        w.end();
    }
}

/// `status` of a transaction event, as Packetbeat reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// `"OK"`.
    Ok,
    /// `"Error"`.
    Error,
}

impl Status {
    /// The JSON value.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Error => "Error",
        }
    }
}

/// The common part of a request/response transaction, filled by a protocol
/// session and encoded by [`TxSink::emit`](crate::proto::TxSink::emit).
#[derive(Debug, Clone, Default)]
pub struct Transaction<'a> {
    /// `type` (and `network.protocol`): "http", "mysql", "redis", ...
    pub kind: &'static str,
    /// `status`; `None` means OK.
    pub status: Option<Status>,
    /// Time of the first byte of the request.
    pub request_start: Option<Timestamp>,
    /// Time of the last byte of the request.
    pub request_end: Option<Timestamp>,
    /// Time of the first byte of the response.
    pub response_start: Option<Timestamp>,
    /// Time of the last byte of the response.
    pub response_end: Option<Timestamp>,
    /// Bytes of the request on the wire (application bytes): `source.bytes`.
    pub request_bytes: u64,
    /// Bytes of the response (application bytes): `destination.bytes`.
    pub response_bytes: u64,
    /// `error.message`.
    pub error: Option<&'a str>,
    /// The real client address when a proxy header named it (HTTP
    /// `real_ip_header`): it becomes `client.ip` and `network.forwarded_ip`;
    /// the proxy stays in `source.ip`.
    pub real_client_ip: Option<IpAddr>,
    /// `event.action` (e.g. `amqp.queue.declare`), when the protocol names one.
    pub action: Option<&'a str>,
    /// What the report ranks and counts (the protocol's own fields, typed).
    pub detail: TxDetail<'a>,
    /// The request went from the flow's server to its client (SIP: a BYE
    /// from the callee on the caller's flow): `source`/`client` are the
    /// flow's server for this event, `destination`/`server` its client.
    pub reversed: bool,
}

/// What the worker's aggregator does with each transaction the sessions
/// emit: a trait object, so that this module does not depend on
/// `aggregate` (which depends on it) and a call needs no type check.
pub trait TxFold: std::any::Any + Send {
    /// Folds in transaction `tx` of `flow`; `times`: `tx.start()` and
    /// `tx.end()`; `hint`: the flow's memo (`None`: not keyed by the flow's
    /// server); `kept`: false when sampling left its event out; `event`:
    /// its JSON, asked for only when it is kept among the slowest.
    fn fold_tx<'e>(
        &mut self,
        tx: &Transaction<'_>,
        flow: &FlowContext,
        hint: Option<&mut AggHint>,
        kept: bool,
        times: (Timestamp, Timestamp),
        event: &dyn Fn() -> Option<&'e [u8]>,
    );
    /// The aggregator itself.
    fn as_any(&self) -> &dyn std::any::Any;
    /// The aggregator itself.
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any;
    /// The aggregator itself.
    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any + Send>;
}

impl std::fmt::Debug for dyn TxFold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TxFold")
    }
}

/// A transaction's protocol fields the aggregator needs, set by the
/// session next to what its `body` writes (so a report built at emission
/// and one built from the NDJSON agree).
#[derive(Debug, Clone, Copy, Default)]
pub struct TxDetail<'a> {
    /// Status or error code (HTTP status, MySQL error code, Redis error prefix).
    pub code: Code<'a>,
    /// `method`.
    pub method: Option<&'a [u8]>,
    /// What top lists rank: `path` (HTTP), `query` (MySQL), `resource` (Redis).
    pub resource: Option<&'a [u8]>,
    /// `http.response.mime_type`.
    pub content_type: Option<&'a [u8]>,
    /// `user_agent.original`.
    pub user_agent: Option<&'a [u8]>,
    /// The fields above are the same as the flow's previous transaction's
    /// (HTTP's memo says so): the aggregator may count them where it
    /// counted that one's ([`AggHint::labels`]).
    pub repeat: bool,
    /// Gives the fields above when they were left empty (a repeat's are
    /// read only when the aggregator cannot count them by position, or
    /// keeps the transaction among the slowest): see [`Self::filled`].
    pub fill: Option<DetailFill<'a>>,
}

/// What fills a [`TxDetail`] left empty.
#[derive(Clone, Copy)]
pub struct DetailFill<'a>(pub &'a dyn Fn() -> TxDetail<'a>);

impl std::fmt::Debug for DetailFill<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DetailFill")
    }
}

impl<'a> TxDetail<'a> {
    /// The fields, from [`Self::fill`] when it is set.
    #[inline]
    pub fn filled(&self) -> TxDetail<'a> {
        match self.fill {
            Some(f) => TxDetail {
                repeat: self.repeat,
                ..(f.0)()
            },
            None => *self,
        }
    }
}

/// The aggregator's per-flow memo (opaque here: `aggregate` fills and
/// checks it): where this flow's last transaction was counted, so the next
/// one skips the key lookup. Plain integers, validated on every use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AggHint {
    /// The aggregator generation the slot belongs to (0: empty).
    pub epoch: u32,
    /// The stats slot.
    pub slot: u32,
    /// The interval start of that slot, nanoseconds.
    pub start_ns: u64,
    /// The interval length, nanoseconds.
    pub len_ns: u64,
    /// Address and length of the protocol name it was found for.
    pub proto: (usize, usize),
    /// Where this flow's client was in that slot's clients (checked).
    pub client: u32,
    /// Where this flow's last transaction's labels were counted, for a
    /// transaction that repeats them ([`TxDetail::repeat`]).
    pub labels: LabelsAt,
}

/// Positions in one stats slot's label lists and top list (`u32::MAX`:
/// not counted), valid while `epoch`, `slot` and the top list's `moves`
/// are still those of the slot (label lists only grow; a top list counts
/// the times its entries moved).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LabelsAt {
    /// The aggregator generation of `slot`.
    pub epoch: u32,
    /// The stats slot the positions are in.
    pub slot: u32,
    /// The slot's top list's move count when `top` was taken.
    pub top_moves: u32,
    /// Position in the slot's codes.
    pub code: u32,
    /// Position in its content types.
    pub content_type: u32,
    /// Position in its methods.
    pub method: u32,
    /// Position in its user agents.
    pub agent: u32,
    /// Position in its top list.
    pub top: u32,
    /// The error flag they were counted with (an HTTP code label is the
    /// same either way; a code-less error is counted as `error`).
    pub err: bool,
}

impl Default for LabelsAt {
    fn default() -> Self {
        LabelsAt {
            epoch: 0,
            slot: u32::MAX,
            top_moves: 0,
            code: u32::MAX,
            content_type: u32::MAX,
            method: u32::MAX,
            agent: u32::MAX,
            top: u32::MAX,
            err: false,
        }
    }
}

impl Transaction<'_> {
    /// The event time: the request's first byte, else the response's.
    pub fn start(&self) -> Timestamp {
        self.request_start
            .or(self.response_start)
            .or(self.request_end)
            .or(self.response_end)
            .unwrap_or(0)
    }

    /// The end: the response's last byte, else the request's.
    pub fn end(&self) -> Timestamp {
        self.response_end
            .or(self.response_start)
            .or(self.request_end)
            .unwrap_or_else(|| self.start())
            .max(self.start())
    }

    /// Encodes the common fields; `body` adds the protocol's own.
    pub fn encode(
        &self,
        flow: &FlowContext,
        w: &mut JsonWriter<'_>,
        body: impl FnOnce(&mut JsonWriter<'_>),
    ) {
        let start = self.start();
        let end = self.end();
        // The head as a template: constant runs copied whole, the values
        // written between them.
        w.field(br#""@timestamp":""#);
        w.ts(start);
        w.lit(br#"","type":""#);
        w.text_ascii(self.kind);
        w.lit(match self.status.unwrap_or(Status::Ok) {
            Status::Ok => {
                br#"","status":"OK","event":{"kind":"event","category":"network","type":["connection","protocol"],"dataset":""#
            }
            Status::Error => {
                br#"","status":"Error","event":{"kind":"event","category":"network","type":["connection","protocol"],"dataset":""#
            }
        });
        w.text_ascii(self.kind);
        w.lit(b"\"");
        if let Some(a) = self.action {
            w.str("action", a);
        }
        w.lit(br#","start":""#);
        w.ts(start);
        w.lit(br#"","end":""#);
        w.ts(end);
        w.lit(br#"","duration":"#);
        w.num(end - start);
        w.end();
        let json = match (self.real_client_ip, self.reversed) {
            (None, false) => flow.json.as_deref(),
            _ => None,
        };
        let nums = tx_nums(self.request_bytes, self.response_bytes);
        let pair = (self.request_bytes, self.response_bytes);
        if let Some(j) = json.filter(|j| j.kind == self.kind && j.joined_for == Some(pair)) {
            w.interleave(&[&j.joined], &[]);
        } else if let Some(parts) = json.and_then(|j| j.parts(self.kind)) {
            w.interleave(&parts, &nums);
        } else if self.reversed {
            flow.write_tx_reversed(w, self.kind, &mut |w: &mut JsonWriter<'_>, i: usize| {
                w.u64("bytes", nums[i])
            });
        } else {
            flow.write_tx_common(
                w,
                self.kind,
                self.real_client_ip,
                &mut |w: &mut JsonWriter<'_>, i: usize| w.u64("bytes", nums[i]),
            );
        }
        self.write_split(flow, w);
        if let Some(e) = self.error {
            w.begin_obj("error");
            w.str("message", e);
            w.end();
        }
        body(w);
    }

    /// `transaction.server_us` and `transaction.network_us` from the wait
    /// (request end to response start), the handshake RTT and the total
    /// (start to end), all in microseconds: the server's time is the wait
    /// less one round trip, the network's the rest of the total.
    #[inline(always)]
    pub fn server_network_us(wait: u64, rtt: u64, total: u64) -> (u64, u64) {
        let server = wait.saturating_sub(rtt);
        (server, total.saturating_sub(server))
    }

    /// `transaction.server_us` and `transaction.network_us`, when known.
    pub fn split_us(&self, flow: &FlowContext) -> (Option<u64>, Option<u64>) {
        let us = |a: Timestamp, b: Timestamp| b.saturating_sub(a) / MICROSECOND;
        match (flow.handshake_rtt_us, self.request_end, self.response_start) {
            (Some(rtt), Some(a), Some(b)) => {
                let (server, network) =
                    Self::server_network_us(us(a, b), rtt, us(self.start(), self.end()));
                (Some(server), Some(network))
            }
            _ => (None, None),
        }
    }

    /// `transaction.*`: where the time went (microseconds).
    fn write_split(&self, flow: &FlowContext, w: &mut JsonWriter<'_>) {
        let us = |a: Timestamp, b: Timestamp| b.saturating_sub(a) / MICROSECOND;
        if let (Some(rs), Some(re), Some(ss), Some(se), Some(rtt)) = (
            self.request_start,
            self.request_end,
            self.response_start,
            self.response_end,
            flow.handshake_rtt_us,
        ) {
            // Both sides and the handshake known (nearly every
            // transaction): every field, as one template. The total runs
            // from the request's first byte to the response's last
            // (`start()` and `end()` here; a response ending before its
            // request starts counts as zero either way).
            let wait = us(re, ss);
            let (server, network) = Self::server_network_us(wait, rtt, us(rs, se));
            w.lit(br#","transaction":{"request_us":"#);
            w.num(us(rs, re));
            w.lit(br#","wait_us":"#);
            w.num(wait);
            w.lit(br#","transfer_us":"#);
            w.num(us(ss, se));
            w.lit(br#","rtt_us":"#);
            w.num(rtt);
            w.lit(br#","server_us":"#);
            w.num(server);
            w.lit(br#","network_us":"#);
            w.num(network);
            w.end();
            return;
        }
        w.lit(br#","transaction":{"#);
        if let (Some(a), Some(b)) = (self.request_start, self.request_end) {
            w.field(br#""request_us":"#);
            w.num(us(a, b));
        }
        let wait = match (self.request_end, self.response_start) {
            (Some(a), Some(b)) => Some(us(a, b)),
            _ => None,
        };
        if let Some(wait) = wait {
            w.field(br#""wait_us":"#);
            w.num(wait);
        }
        if let (Some(a), Some(b)) = (self.response_start, self.response_end) {
            w.field(br#""transfer_us":"#);
            w.num(us(a, b));
        }
        if let Some(rtt) = flow.handshake_rtt_us {
            w.field(br#""rtt_us":"#);
            w.num(rtt);
            if let Some(wait) = wait {
                let total = us(self.start(), self.end());
                let (server, network) = Self::server_network_us(wait, rtt, total);
                w.lit(br#","server_us":"#);
                w.num(server);
                w.lit(br#","network_us":"#);
                w.num(network);
            }
        }
        w.end();
    }
}

/// A status or error code.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Code<'a> {
    /// None.
    #[default]
    None,
    /// A number (HTTP status, MySQL error code).
    Num(u32),
    /// A word (the Redis error prefix, e.g. `ERR`, `WRONGTYPE`).
    Text(&'a str),
}

impl<'a> Code<'a> {
    /// The code as text, formatting numbers into `buf`.
    pub fn as_str<'b>(&self, buf: &'b mut [u8; 20]) -> Option<&'b str>
    where
        'a: 'b,
    {
        match *self {
            Code::None => None,
            Code::Text(t) => Some(t),
            Code::Num(n) if (100..1000).contains(&n) => {
                // HTTP status codes: from a table built once.
                static THREE: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
                let t = THREE.get_or_init(|| (100..1000).map(|n| n.to_string()).collect());
                Some(t[(n - 100) as usize].as_str())
            }
            Code::Num(mut n) => {
                let mut i = buf.len();
                loop {
                    i -= 1;
                    buf[i] = b'0' + (n % 10) as u8;
                    n /= 10;
                    if n == 0 {
                        break;
                    }
                }
                std::str::from_utf8(&buf[i..]).ok()
            }
        }
    }

    /// The Redis error prefix of an error message (`ERR`, `WRONGTYPE`, ...).
    pub fn redis_error(msg: &'a str) -> Code<'a> {
        let w = msg.split_whitespace().next().unwrap_or("");
        if !w.is_empty() && w.len() <= 24 && w.bytes().all(|b| b.is_ascii_uppercase()) {
            Code::Text(w)
        } else {
            Code::Text("ERR")
        }
    }
}

impl crate::flow::tunnel::Tunnel {
    /// Writes the `tunnel` object.
    pub fn write_json(&self, w: &mut JsonWriter<'_>) {
        w.begin_obj("tunnel");
        w.ascii("type", self.kind.name());
        if let Some(id) = self.id {
            w.u64("id", id.into());
        }
        if let Some(ip) = self.src {
            w.begin_obj("source");
            w.ip("ip", ip);
            w.end();
        }
        if let Some(ip) = self.dst {
            w.begin_obj("destination");
            w.ip("ip", ip);
            w.end();
        }
        w.u64("depth", self.depth.into());
        if self.depth > 1 {
            w.begin_arr("layers");
            for k in
                &self.layers[..usize::from(self.depth).min(crate::flow::tunnel::MAX_LAYERS_NAMED)]
            {
                w.elem_str(k.name());
            }
            w.end_arr();
        }
        if let Some(e) = &self.erspan {
            w.begin_obj("erspan");
            w.u64("version", e.version.into());
            if e.version > 1 {
                w.u64("session_id", e.session.into());
                w.u64("vlan", e.vlan.into());
            }
            if let Some(d) = e.direction {
                w.ascii("direction", if d == 0 { "ingress" } else { "egress" });
            }
            if let Some(t) = e.timestamp {
                w.u64("timestamp", t.into());
            }
            w.end();
        }
        w.end();
    }
}

impl crate::geoip::Geo {
    /// Writes `"geo":{...}` into the open `client` object.
    pub fn write_json(&self, w: &mut JsonWriter<'_>) {
        w.begin_obj("geo");
        if let Some(v) = &self.country_iso_code {
            w.str("country_iso_code", v);
        }
        if let Some(v) = &self.country_name {
            w.str("country_name", v);
        }
        if let Some(v) = &self.city_name {
            w.str("city_name", v);
        }
        if let Some((lat, lon)) = self.location {
            w.begin_obj("location");
            w.f64("lat", lat);
            w.f64("lon", lon);
            w.end();
        }
        if let Some(l) = self.label {
            w.ascii("name", l);
        }
        w.end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(client: &str, server: &str, vlan: Vec<u16>, group: Option<&str>) -> FlowContext {
        let mut f = FlowContext::new(
            0x0123_4567_89ab_cdef,
            (client.parse().unwrap(), 40000),
            (server.parse().unwrap(), 8080),
            Transport::Tcp,
            "1:abc=".into(),
        );
        f.vlan = vlan;
        f.server_group = group.map(Arc::from);
        f.handshake_rtt_us = Some(7);
        f
    }

    fn encode(flow: &FlowContext, tx: &Transaction<'_>) -> Vec<u8> {
        let mut batch = EventBatch::default();
        batch.push(tx.start(), flow.flow_id, 0, |w| {
            tx.encode(flow, w, |w| w.str("x", "y"))
        });
        batch.buf
    }

    #[test]
    fn prerendered_flow_fields_equal_the_field_by_field_writer() {
        let tx = Transaction {
            kind: "http",
            request_start: Some(1_000_000_000),
            request_end: Some(1_000_100_000),
            response_start: Some(1_002_000_000),
            response_end: Some(1_003_000_000),
            request_bytes: 123,
            response_bytes: 4567,
            error: Some("oops \"quoted\""),
            ..Transaction::default()
        };
        for mut f in [
            flow("10.0.0.1", "10.0.0.2", vec![], None),
            flow("fe80::1", "2001:db8::2", vec![100, 200], Some("web")),
        ] {
            let slow = encode(&f, &tx);
            FlowJson::prepare(&mut f, "http");
            assert!(f.json.as_ref().unwrap().parts("http").is_some());
            assert_eq!(
                String::from_utf8_lossy(&encode(&f, &tx)),
                String::from_utf8_lossy(&slow)
            );
            // The same sizes again: joined once, then copied whole; other
            // sizes after that take the fragments again.
            let bigger = Transaction {
                response_bytes: 99_999_999_999,
                ..tx.clone()
            };
            let slow_bigger = encode(&f, &bigger);
            for (t, want, joined) in [
                (&tx, &slow, false),
                (&tx, &slow, true),
                (&tx, &slow, true),
                (&bigger, &slow_bigger, true),
                (&bigger, &slow_bigger, true),
                (&tx, &slow, true),
            ] {
                FlowJson::note_bytes(&mut f, t.request_bytes, t.response_bytes);
                let j = f.json.as_ref().unwrap();
                assert_eq!(j.joined_for.is_some(), joined);
                assert_eq!(
                    String::from_utf8_lossy(&encode(&f, t)),
                    String::from_utf8_lossy(want)
                );
            }
            // Another protocol on the same flow: the fragments are redone.
            let other = Transaction {
                kind: "redis",
                ..tx.clone()
            };
            assert!(f.json.as_ref().unwrap().parts("redis").is_none());
            let slow_other = encode(&f, &other);
            FlowJson::prepare(&mut f, "redis");
            assert_eq!(encode(&f, &other), slow_other);
            // A forwarded client address is not in the fragments.
            let fwd = Transaction {
                real_client_ip: Some("192.0.2.9".parse().unwrap()),
                ..other.clone()
            };
            let v: serde_json::Value =
                serde_json::from_slice(encode(&f, &fwd).strip_suffix(b"\n").unwrap()).unwrap();
            assert_eq!(v["client"]["ip"], "192.0.2.9");
            assert_eq!(v["network"]["forwarded_ip"], "192.0.2.9");
            assert_eq!(v["network"]["bytes"], 123 + 4567);
        }
    }

    #[test]
    fn sampling_share_is_uniform_and_errors_and_slow_ones_stay() {
        let s = Sampling {
            keep: 0.1,
            slow_ns: 500_000_000,
        };
        let n = 20_000u32;
        let kept = (0..n)
            .filter(|i| s.keeps(0x1234_5678_9abc_def0 ^ u64::from(i / 7), i % 7, false, 1000))
            .count();
        assert!((1_700..2_300).contains(&kept), "{kept} of {n} kept at 10%");
        assert!((0..n).all(|i| s.keeps(u64::from(i), 0, true, 0)));
        assert!((0..n).all(|i| s.keeps(u64::from(i), 0, false, 500_000_000)));
        for i in 0..1000 {
            let x = sample_share(i, 3);
            assert!((0.0..1.0).contains(&x));
            assert_eq!(x, sample_share(i, 3));
        }
    }

    #[test]
    fn direction_from_the_client_side() {
        let d = |c: &str, s: &str| direction(c.parse().unwrap(), s.parse().unwrap());
        assert_eq!(d("10.0.0.1", "192.168.1.1"), "internal");
        assert_eq!(d("10.0.0.1", "8.8.8.8"), "outbound");
        assert_eq!(d("8.8.8.8", "172.16.0.1"), "inbound");
        assert_eq!(d("8.8.8.8", "1.1.1.1"), "external");
        assert_eq!(d("fd00::1", "fe80::2"), "internal");
        assert_eq!(d("2001:db8::1", "::1"), "inbound");
        assert_eq!(d("::ffff:10.0.0.1", "2001:4860::8888"), "outbound");
    }

    #[test]
    fn macs_in_ecs_form() {
        assert_eq!(
            mac_text(&[0x08, 0x00, 0x27, 0x3d, 0x25, 0x4e]),
            "08-00-27-3D-25-4E"
        );
    }
}
