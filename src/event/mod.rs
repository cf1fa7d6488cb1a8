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
}

impl EventBatch {
    /// An empty batch with room for `bytes` of JSON.
    pub fn with_capacity(bytes: usize) -> Self {
        EventBatch {
            buf: Vec::with_capacity(bytes),
            events: Vec::new(),
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
            let mut w = JsonWriter::new(&mut self.buf);
            w.begin();
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

/// The transport of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    /// TCP (IP protocol 6).
    Tcp,
    /// UDP (IP protocol 17).
    Udp,
    /// Any other IP protocol, by number.
    Other(u8),
}

impl Transport {
    /// From an IP protocol number.
    pub fn from_ip_proto(p: u8) -> Self {
        match p {
            6 => Transport::Tcp,
            17 => Transport::Udp,
            n => Transport::Other(n),
        }
    }

    /// The IP protocol number.
    pub fn ip_proto(self) -> u8 {
        match self {
            Transport::Tcp => 6,
            Transport::Udp => 17,
            Transport::Other(n) => n,
        }
    }

    /// ECS `network.transport` value.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
            Transport::Other(1) => "icmp",
            Transport::Other(58) => "ipv6-icmp",
            Transport::Other(_) => "other",
        }
    }
}

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
    /// Index of the next event of this flow.
    pub next_index: u32,
}

impl FlowContext {
    /// Writes `client`, `server`, `source`, `destination` (without byte
    /// counts), `network` and `vlan` fields. `source` is the client side.
    pub fn write_endpoints(&self, w: &mut JsonWriter<'_>, client_ip: Option<IpAddr>) {
        let client_ip_shown = client_ip.unwrap_or(self.client.0);
        w.begin_obj("client");
        w.ip("ip", client_ip_shown);
        w.u64("port", self.client.1.into());
        w.end();
        w.begin_obj("server");
        w.ip("ip", self.server.0);
        w.u64("port", self.server.1.into());
        if let Some(g) = &self.server_group {
            w.str("group", g);
        }
        w.end();
    }

    /// Writes the `network` object (without byte/packet totals).
    pub fn write_network(
        &self,
        w: &mut JsonWriter<'_>,
        protocol: Option<&str>,
        extra: impl FnOnce(&mut JsonWriter<'_>),
    ) {
        w.begin_obj("network");
        w.str("transport", self.transport.name());
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
        w.time("@timestamp", start);
        w.str("type", self.kind);
        w.str("status", self.status.unwrap_or(Status::Ok).as_str());
        w.begin_obj("event");
        w.str("kind", "event");
        w.str("category", "network");
        w.str("dataset", self.kind);
        w.time("start", start);
        w.time("end", end);
        w.u64("duration", end - start);
        w.end();
        flow.write_endpoints(w, self.real_client_ip);
        w.begin_obj("source");
        w.ip("ip", flow.client.0);
        w.u64("port", flow.client.1.into());
        w.u64("bytes", self.request_bytes);
        w.end();
        w.begin_obj("destination");
        w.ip("ip", flow.server.0);
        w.u64("port", flow.server.1.into());
        w.u64("bytes", self.response_bytes);
        w.end();
        flow.write_network(w, Some(self.kind), |w| {
            w.u64("bytes", self.request_bytes + self.response_bytes);
            if let Some(ip) = self.real_client_ip {
                w.ip("forwarded_ip", ip);
            }
        });
        w.begin_obj("flow");
        w.hex64("id", flow.flow_id);
        w.end();
        self.write_split(flow, w);
        if let Some(e) = self.error {
            w.begin_obj("error");
            w.str("message", e);
            w.end();
        }
        body(w);
    }

    /// `transaction.*`: where the time went (microseconds).
    fn write_split(&self, flow: &FlowContext, w: &mut JsonWriter<'_>) {
        let us = |a: Timestamp, b: Timestamp| b.saturating_sub(a) / MICROSECOND;
        w.begin_obj("transaction");
        if let (Some(a), Some(b)) = (self.request_start, self.request_end) {
            w.u64("request_us", us(a, b));
        }
        let wait = match (self.request_end, self.response_start) {
            (Some(a), Some(b)) => Some(us(a, b)),
            _ => None,
        };
        if let Some(wait) = wait {
            w.u64("wait_us", wait);
        }
        if let (Some(a), Some(b)) = (self.response_start, self.response_end) {
            w.u64("transfer_us", us(a, b));
        }
        if let Some(rtt) = flow.handshake_rtt_us {
            w.u64("rtt_us", rtt);
            if let Some(wait) = wait {
                let server = wait.saturating_sub(rtt);
                w.u64("server_us", server);
                let total = us(self.start(), self.end());
                w.u64("network_us", total.saturating_sub(server));
            }
        }
        w.end();
    }
}
