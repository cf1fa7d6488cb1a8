//! The small typed records the aggregator is fed, built from the typed data
//! at emission time or from a parsed NDJSON event.

use serde::Deserialize;
use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};

/// Status and error codes live in `event` (transactions carry them).
pub use crate::event::Code;

/// One transaction, as the aggregator needs it. Text fields are bytes as
/// the protocol saw them; the aggregator keeps only valid UTF-8 (checked
/// once, when a value first appears in a list).
#[derive(Debug, Clone, Copy)]
pub struct TxSummary<'a> {
    /// Event time (`@timestamp`), nanoseconds.
    pub ts: u64,
    /// `type`.
    pub proto: &'a str,
    /// `status: Error`.
    pub error: bool,
    /// `event.duration`, nanoseconds.
    pub duration_ns: u64,
    /// `transaction.server_us`.
    pub server_us: Option<u64>,
    /// `transaction.network_us`.
    pub network_us: Option<u64>,
    /// `source.bytes`.
    pub request_bytes: u64,
    /// `destination.bytes`.
    pub response_bytes: u64,
    /// `server.ip`, `server.port`.
    pub server: SocketAddr,
    /// `server.group`.
    pub group: Option<&'a str>,
    /// `client.ip`.
    pub client: IpAddr,
    /// Status or error code.
    pub code: Code<'a>,
    /// `http.response.mime_type`.
    pub content_type: Option<&'a [u8]>,
    /// `method`.
    pub method: Option<&'a [u8]>,
    /// What the top list ranks: the URL path, the SQL query, the Redis key.
    pub resource: Option<&'a [u8]>,
    /// `user_agent.original`.
    pub user_agent: Option<&'a [u8]>,
    /// `client.geo.country_iso_code`.
    pub country: Option<&'a str>,
    /// `client.geo.location` as `lat,lon` (0.1 degree).
    pub place: Option<&'a str>,
}

/// TCP health of one flow.
#[derive(Debug, Clone, Copy, Default)]
pub struct TcpSummary {
    /// Retransmitted segments, both sides.
    pub retrans: u64,
    /// Out-of-order segments, both sides.
    pub ooo: u64,
    /// RSTs, both sides.
    pub resets: u64,
    /// Zero-window segments, both sides.
    pub zero_windows: u64,
    /// Gap bytes, both sides.
    pub lost_bytes: u64,
    /// SYN never answered.
    pub syn_unanswered: bool,
    /// SYN answered by RST.
    pub syn_rejected: bool,
    /// Handshake RTT.
    pub handshake_rtt_us: Option<u64>,
}

/// One flow report.
#[derive(Debug, Clone, Copy)]
pub struct FlowSummary<'a> {
    /// `@timestamp` (the flow's last packet), nanoseconds.
    pub ts: u64,
    /// `flow.final`.
    pub final_report: bool,
    /// `flow.protocol`, else `network.transport`.
    pub proto: &'a str,
    /// Server.
    pub server: SocketAddr,
    /// Server group.
    pub group: Option<&'a str>,
    /// Client.
    pub client: IpAddr,
    /// Packets both ways.
    pub packets: u64,
    /// `source.bytes`.
    pub bytes_in: u64,
    /// `destination.bytes`.
    pub bytes_out: u64,
    /// `tcp.*`, for TCP flows.
    pub tcp: Option<TcpSummary>,
}

/// What folding a transaction reads, from a [`TxSummary`] or straight from
/// the typed data at emission ([`Emitted`]): the worker's path computes a
/// field only where the fold reads it (the key, the server and the client's
/// place only when the flow's memo misses), instead of building the whole
/// summary for every transaction.
pub(super) trait Record<'a> {
    fn ts(&self) -> u64;
    fn proto(&self) -> &'a str;
    fn error(&self) -> bool;
    fn duration_ns(&self) -> u64;
    /// `transaction.server_us`, `transaction.network_us`.
    fn split_us(&self) -> (Option<u64>, Option<u64>);
    /// `source.bytes`, `destination.bytes`.
    fn bytes(&self) -> (u64, u64);
    fn server(&self) -> SocketAddr;
    fn group(&self) -> Option<&'a str>;
    fn client(&self) -> IpAddr;
    /// Country and place of the client.
    fn geo(&self) -> (Option<&'a str>, Option<&'a str>);
    /// Code, content type, method, resource and user agent (asked for
    /// only where the fold reads them: a repeat's labels may be counted by
    /// position, [`crate::event::TxDetail::filled`]).
    fn detail(&self) -> crate::event::TxDetail<'a>;
    /// The labels repeat the flow's previous transaction's
    /// ([`crate::event::TxDetail::repeat`]).
    fn repeat(&self) -> bool {
        false
    }
}

impl<'a> Record<'a> for TxSummary<'a> {
    #[inline(always)]
    fn ts(&self) -> u64 {
        self.ts
    }
    #[inline(always)]
    fn proto(&self) -> &'a str {
        self.proto
    }
    #[inline(always)]
    fn error(&self) -> bool {
        self.error
    }
    #[inline(always)]
    fn duration_ns(&self) -> u64 {
        self.duration_ns
    }
    #[inline(always)]
    fn split_us(&self) -> (Option<u64>, Option<u64>) {
        (self.server_us, self.network_us)
    }
    #[inline(always)]
    fn bytes(&self) -> (u64, u64) {
        (self.request_bytes, self.response_bytes)
    }
    #[inline(always)]
    fn server(&self) -> SocketAddr {
        self.server
    }
    #[inline(always)]
    fn group(&self) -> Option<&'a str> {
        self.group
    }
    #[inline(always)]
    fn client(&self) -> IpAddr {
        self.client
    }
    #[inline(always)]
    fn geo(&self) -> (Option<&'a str>, Option<&'a str>) {
        (self.country, self.place)
    }
    #[inline(always)]
    fn detail(&self) -> crate::event::TxDetail<'a> {
        crate::event::TxDetail {
            code: self.code,
            content_type: self.content_type,
            method: self.method,
            resource: self.resource,
            user_agent: self.user_agent,
            ..Default::default()
        }
    }
}

/// A transaction at emission, read field by field from the typed data:
/// the same figures the NDJSON path reads back from the event this
/// transaction encodes to ([`TxSummary::from_tx`] is built from it).
#[derive(Clone, Copy)]
pub struct Emitted<'a, 't> {
    tx: &'a crate::event::Transaction<'t>,
    flow: &'a crate::event::FlowContext,
    /// `tx.start()` and `tx.end()`, computed once.
    start: u64,
    end: u64,
}

impl<'a, 't: 'a> Emitted<'a, 't> {
    /// Transaction `tx` of `flow`.
    #[inline(always)]
    pub fn new(tx: &'a crate::event::Transaction<'t>, flow: &'a crate::event::FlowContext) -> Self {
        Self::with_times(tx, flow, (tx.start(), tx.end()))
    }

    /// [`Self::new`] with `tx.start()` and `tx.end()` already computed.
    #[inline(always)]
    pub fn with_times(
        tx: &'a crate::event::Transaction<'t>,
        flow: &'a crate::event::FlowContext,
        (start, end): (u64, u64),
    ) -> Self {
        Emitted {
            tx,
            flow,
            start,
            end,
        }
    }

    /// The flow's client geo, which the event writes only for the flow's
    /// own client (not a forwarded address, not a reversed request).
    #[inline(always)]
    fn flow_geo(&self) -> Option<&'a crate::geoip::Geo> {
        match (self.tx.real_client_ip, self.tx.reversed) {
            (None, false) => self.flow.client_geo.as_deref(),
            _ => None,
        }
    }
}

impl<'a, 't: 'a> Record<'a> for Emitted<'a, 't> {
    #[inline(always)]
    fn ts(&self) -> u64 {
        self.start
    }
    #[inline(always)]
    fn proto(&self) -> &'a str {
        self.tx.kind
    }
    #[inline(always)]
    fn error(&self) -> bool {
        self.tx.status == Some(crate::event::Status::Error)
    }
    #[inline(always)]
    fn duration_ns(&self) -> u64 {
        self.end - self.start
    }
    #[inline(always)]
    /// `Transaction::split_us` with the start and end computed once.
    fn split_us(&self) -> (Option<u64>, Option<u64>) {
        let us = |a: u64, b: u64| b.saturating_sub(a) / crate::time::MICROSECOND;
        match (
            self.flow.handshake_rtt_us,
            self.tx.request_end,
            self.tx.response_start,
        ) {
            (Some(rtt), Some(a), Some(b)) => {
                let (server, network) = crate::event::Transaction::server_network_us(
                    us(a, b),
                    rtt,
                    us(self.start, self.end),
                );
                (Some(server), Some(network))
            }
            _ => (None, None),
        }
    }
    #[inline(always)]
    fn bytes(&self) -> (u64, u64) {
        (self.tx.request_bytes, self.tx.response_bytes)
    }
    /// As the event writes its endpoints: ICMP has no ports (an ICMPv6
    /// flow's key has one); a request from the flow's server (SIP) swaps
    /// them, without a server group.
    #[inline(always)]
    fn server(&self) -> SocketAddr {
        let flow = self.flow;
        let port = |p: u16| if flow.has_ports() { p } else { 0 };
        if self.tx.reversed {
            SocketAddr::new(flow.client.0, port(flow.client.1))
        } else {
            SocketAddr::new(flow.server.0, port(flow.server.1))
        }
    }
    #[inline(always)]
    fn group(&self) -> Option<&'a str> {
        if self.tx.reversed {
            None
        } else {
            self.flow.server_group.as_deref()
        }
    }
    #[inline(always)]
    fn client(&self) -> IpAddr {
        if self.tx.reversed {
            self.flow.server.0
        } else {
            self.tx.real_client_ip.unwrap_or(self.flow.client.0)
        }
    }
    #[inline(always)]
    fn geo(&self) -> (Option<&'a str>, Option<&'a str>) {
        let g = self.flow_geo();
        (
            g.and_then(|g| g.country_iso_code.as_deref()),
            g.and_then(|g| g.place.as_deref()),
        )
    }
    #[inline(always)]
    fn detail(&self) -> crate::event::TxDetail<'a> {
        // Field by field: a detail with a fill is invariant in its lifetime.
        let d = self.tx.detail.filled();
        crate::event::TxDetail {
            code: d.code,
            content_type: d.content_type,
            method: d.method,
            resource: d.resource,
            user_agent: d.user_agent,
            repeat: d.repeat,
            fill: None,
        }
    }
    #[inline(always)]
    fn repeat(&self) -> bool {
        self.tx.detail.repeat
    }
}

impl<'a> TxSummary<'a> {
    /// The summary of a transaction at emission: the same figures the
    /// NDJSON path reads back from the event this transaction encodes to.
    pub fn from_tx(
        tx: &'a crate::event::Transaction<'_>,
        flow: &'a crate::event::FlowContext,
    ) -> Self {
        let e = Emitted::new(tx, flow);
        let (server_us, network_us) = e.split_us();
        let (request_bytes, response_bytes) = e.bytes();
        let (country, place) = e.geo();
        let d = e.detail();
        TxSummary {
            ts: e.ts(),
            proto: e.proto(),
            error: e.error(),
            duration_ns: e.duration_ns(),
            server_us,
            network_us,
            request_bytes,
            response_bytes,
            server: e.server(),
            group: e.group(),
            client: e.client(),
            code: d.code,
            content_type: d.content_type,
            method: d.method,
            resource: d.resource,
            user_agent: d.user_agent,
            country,
            place,
        }
    }
}

impl FlowSummary<'_> {
    /// The client address as text.
    pub fn client_str(&self) -> String {
        self.client.to_string()
    }
}

/// Parses `2024-01-02T03:04:05.678901Z` (what spanlens writes) into
/// nanoseconds since the epoch.
pub fn parse_rfc3339(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> { s.get(r)?.parse().ok() };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut nanos = 0u64;
    let rest = &s[19..];
    let rest = if let Some(frac) = rest.strip_prefix('.') {
        let digits: String = frac.chars().take_while(|c| c.is_ascii_digit()).collect();
        let mut v: u64 = digits.get(..digits.len().min(9))?.parse().ok()?;
        for _ in digits.len().min(9)..9 {
            v *= 10;
        }
        nanos = v;
        &frac[digits.len()..]
    } else {
        rest
    };
    if rest != "Z" {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss;
    u64::try_from(secs).ok().map(|s| s * 1_000_000_000 + nanos)
}

#[derive(Deserialize, Default)]
struct EvEvent {
    duration: Option<u64>,
}

#[derive(Deserialize, Default)]
struct EvGeo<'a> {
    #[serde(borrow)]
    country_iso_code: Option<Cow<'a, str>>,
    location: Option<EvLoc>,
}

#[derive(Deserialize, Default)]
struct EvLoc {
    lat: f64,
    lon: f64,
}

#[derive(Deserialize)]
struct EvEndpoint<'a> {
    #[serde(borrow)]
    ip: Cow<'a, str>,
    #[serde(default)]
    port: u16,
    #[serde(borrow, default)]
    group: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    geo: Option<EvGeo<'a>>,
}

#[derive(Deserialize, Default)]
struct EvBytes {
    #[serde(default)]
    bytes: u64,
    #[serde(default)]
    packets: u64,
}

#[derive(Deserialize, Default)]
struct EvNetwork<'a> {
    #[serde(borrow, default)]
    protocol: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    transport: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
struct EvSplit {
    server_us: Option<u64>,
    network_us: Option<u64>,
}

#[derive(Deserialize, Default)]
struct EvHttpResponse<'a> {
    status_code: Option<u32>,
    #[serde(borrow, default)]
    mime_type: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
struct EvHttp<'a> {
    #[serde(borrow, default)]
    response: Option<EvHttpResponse<'a>>,
}

#[derive(Deserialize, Default)]
struct EvUa<'a> {
    #[serde(borrow, default)]
    original: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
struct EvMysql {
    error_code: Option<u32>,
}

#[derive(Deserialize, Default)]
struct EvRedis<'a> {
    #[serde(borrow, default)]
    error: Option<Cow<'a, str>>,
}

/// One text field of a protocol's object.
#[derive(Deserialize, Default)]
struct EvText<'a> {
    #[serde(borrow, default)]
    message: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
struct EvPgsql<'a> {
    #[serde(borrow, default)]
    error_code: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
struct EvDnsQuestion<'a> {
    #[serde(borrow, default, rename = "type")]
    qtype: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
struct EvDns<'a> {
    #[serde(borrow, default)]
    response_code: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    question: Option<EvDnsQuestion<'a>>,
}

#[derive(Deserialize, Default)]
struct EvIcmp<'a> {
    #[serde(borrow, default)]
    request: Option<EvText<'a>>,
    #[serde(borrow, default)]
    response: Option<EvText<'a>>,
}

#[derive(Deserialize, Default)]
struct EvTlsClient<'a> {
    #[serde(borrow, default)]
    server_name: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
struct EvTls<'a> {
    #[serde(borrow, default)]
    version: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    client: Option<EvTlsClient<'a>>,
}

#[derive(Deserialize, Default)]
struct EvMemcacheSide<'a> {
    #[serde(borrow, default)]
    command: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    status: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "type")]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    keys: Vec<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
struct EvMemcache<'a> {
    #[serde(borrow, default)]
    request: Option<EvMemcacheSide<'a>>,
    #[serde(borrow, default)]
    response: Option<EvMemcacheSide<'a>>,
}

#[derive(Deserialize, Default)]
struct EvMongodb {
    #[serde(default)]
    error_code: Option<i64>,
}

#[derive(Deserialize, Default)]
struct EvAmqp<'a> {
    #[serde(default, rename = "reply-code")]
    reply_code: Option<i64>,
    #[serde(borrow, default)]
    queue: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    exchange: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
struct EvNfs<'a> {
    #[serde(borrow, default)]
    status: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
struct EvSip<'a> {
    #[serde(default)]
    code: Option<i64>,
    #[serde(borrow, default)]
    uri: Option<EvOriginal<'a>>,
}

#[derive(Deserialize, Default)]
struct EvOriginal<'a> {
    #[serde(borrow, default)]
    original: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
struct EvCassandraError {
    #[serde(default)]
    code: Option<i64>,
}

#[derive(Deserialize, Default)]
struct EvCassandraResponse {
    #[serde(default)]
    error: Option<EvCassandraError>,
}

#[derive(Deserialize, Default)]
struct EvCassandra {
    #[serde(default)]
    response: Option<EvCassandraResponse>,
}

#[derive(Deserialize, Default)]
struct EvThriftException<'a> {
    #[serde(borrow, default, rename = "type")]
    kind: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
struct EvThrift<'a> {
    #[serde(borrow, default)]
    exception: Option<EvThriftException<'a>>,
}

#[derive(Deserialize, Default)]
struct EvDhcpOption<'a> {
    #[serde(borrow, default)]
    message_type: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
struct EvDhcpReply<'a> {
    #[serde(borrow, default)]
    client_mac: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    option: Option<EvDhcpOption<'a>>,
}

#[derive(Deserialize, Default)]
struct EvDhcp<'a> {
    #[serde(borrow, default)]
    client_mac: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    reply: Option<EvDhcpReply<'a>>,
}

#[derive(Deserialize, Default)]
struct EvFlow<'a> {
    #[serde(default, rename = "final")]
    final_report: bool,
    #[serde(borrow, default)]
    protocol: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
struct EvTcpSide {
    #[serde(default)]
    retransmitted_segments: u64,
    #[serde(default)]
    out_of_order_segments: u64,
    #[serde(default)]
    zero_window_segments: u64,
    #[serde(default)]
    resets: u64,
    #[serde(default)]
    gap_bytes: u64,
}

#[derive(Deserialize, Default)]
struct EvTcp {
    handshake_rtt_us: Option<u64>,
    #[serde(default)]
    syn_unanswered: bool,
    #[serde(default)]
    syn_rejected: bool,
    #[serde(default)]
    client: EvTcpSide,
    #[serde(default)]
    server: EvTcpSide,
}

/// A parsed NDJSON event: only the fields the aggregator reads.
#[derive(Deserialize)]
pub struct Event<'a> {
    #[serde(rename = "@timestamp", borrow)]
    timestamp: Cow<'a, str>,
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    status: Option<Cow<'a, str>>,
    #[serde(default)]
    event: EvEvent,
    #[serde(borrow)]
    client: Option<EvEndpoint<'a>>,
    #[serde(borrow)]
    server: Option<EvEndpoint<'a>>,
    #[serde(default)]
    source: EvBytes,
    #[serde(default)]
    destination: EvBytes,
    #[serde(borrow, default)]
    network: EvNetwork<'a>,
    #[serde(default)]
    transaction: EvSplit,
    #[serde(borrow, default)]
    http: Option<EvHttp<'a>>,
    #[serde(borrow, default)]
    user_agent: Option<EvUa<'a>>,
    #[serde(borrow, default)]
    method: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    path: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    query: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    resource: Option<Cow<'a, str>>,
    #[serde(default)]
    mysql: Option<EvMysql>,
    #[serde(borrow, default)]
    redis: Option<EvRedis<'a>>,
    #[serde(borrow, default)]
    pgsql: Option<EvPgsql<'a>>,
    #[serde(borrow, default)]
    dns: Option<EvDns<'a>>,
    #[serde(borrow, default)]
    icmp: Option<EvIcmp<'a>>,
    #[serde(borrow, default)]
    tls: Option<EvTls<'a>>,
    #[serde(borrow, default)]
    memcache: Option<EvMemcache<'a>>,
    #[serde(default)]
    mongodb: Option<EvMongodb>,
    #[serde(borrow, default)]
    amqp: Option<EvAmqp<'a>>,
    #[serde(default)]
    cassandra: Option<EvCassandra>,
    #[serde(borrow, default)]
    thrift: Option<EvThrift<'a>>,
    #[serde(borrow, default)]
    nfs: Option<EvNfs<'a>>,
    #[serde(borrow, default)]
    sip: Option<EvSip<'a>>,
    #[serde(borrow, default)]
    dhcpv4: Option<EvDhcp<'a>>,
    #[serde(borrow, default)]
    flow: EvFlow<'a>,
    #[serde(default)]
    tcp: Option<EvTcp>,
    #[serde(skip)]
    place: Option<String>,
}

/// What a parsed line holds.
pub enum Parsed<'e> {
    /// A transaction.
    Tx(TxSummary<'e>),
    /// A flow report.
    Flow(FlowSummary<'e>),
    /// Something else (or an event missing what the aggregator needs).
    Other,
}

impl<'a> Event<'a> {
    /// Parses one NDJSON line.
    pub fn parse(line: &'a [u8]) -> Result<Self, serde_json::Error> {
        let mut e: Event<'a> = serde_json::from_slice(line)?;
        if let Some(loc) = e
            .client
            .as_ref()
            .and_then(|c| c.geo.as_ref())
            .and_then(|g| g.location.as_ref())
        {
            e.place = Some(place_label(loc.lat, loc.lon));
        }
        Ok(e)
    }

    fn endpoints(&self) -> Option<(SocketAddr, IpAddr)> {
        let s = self.server.as_ref()?;
        let c = self.client.as_ref()?;
        Some((
            SocketAddr::new(s.ip.parse().ok()?, s.port),
            c.ip.parse().ok()?,
        ))
    }

    /// The summary this event gives.
    pub fn summary(&self) -> Parsed<'_> {
        let Some(ts) = parse_rfc3339(&self.timestamp) else {
            return Parsed::Other;
        };
        let Some((server, client)) = self.endpoints() else {
            return Parsed::Other;
        };
        let group = self.server.as_ref().and_then(|s| s.group.as_deref());
        if self.kind == "flow" {
            // `flow.protocol` (older files: `network.protocol`), else the transport.
            let proto = self
                .flow
                .protocol
                .as_deref()
                .or(self.network.protocol.as_deref())
                .or(self.network.transport.as_deref())
                .unwrap_or("other");
            return Parsed::Flow(FlowSummary {
                ts,
                final_report: self.flow.final_report,
                proto,
                server,
                group,
                client,
                packets: self.source.packets + self.destination.packets,
                bytes_in: self.source.bytes,
                bytes_out: self.destination.bytes,
                tcp: self.tcp.as_ref().map(|t| TcpSummary {
                    retrans: t.client.retransmitted_segments + t.server.retransmitted_segments,
                    ooo: t.client.out_of_order_segments + t.server.out_of_order_segments,
                    resets: t.client.resets + t.server.resets,
                    zero_windows: t.client.zero_window_segments + t.server.zero_window_segments,
                    lost_bytes: t.client.gap_bytes + t.server.gap_bytes,
                    syn_unanswered: t.syn_unanswered,
                    syn_rejected: t.syn_rejected,
                    handshake_rtt_us: t.handshake_rtt_us,
                }),
            });
        }
        let proto: &str = &self.kind;
        let resp = self.http.as_ref().and_then(|h| h.response.as_ref());
        let (method, resource, code) = self.detail(proto);
        let code = match proto {
            "http" => resp
                .and_then(|r| r.status_code)
                .map_or(Code::None, Code::Num),
            "mysql" => self
                .mysql
                .as_ref()
                .and_then(|m| m.error_code)
                .map_or(Code::None, Code::Num),
            "redis" => self
                .redis
                .as_ref()
                .and_then(|r| r.error.as_deref())
                .map_or(Code::None, Code::redis_error),
            _ => code,
        };
        let geo = self.client.as_ref().and_then(|c| c.geo.as_ref());
        Parsed::Tx(TxSummary {
            ts,
            proto,
            error: self.status.as_deref() == Some("Error"),
            duration_ns: self.event.duration.unwrap_or(0),
            server_us: self.transaction.server_us,
            network_us: self.transaction.network_us,
            request_bytes: self.source.bytes,
            response_bytes: self.destination.bytes,
            server,
            group,
            client,
            code,
            content_type: resp.and_then(|r| r.mime_type.as_deref()).map(str::as_bytes),
            method: method.map(str::as_bytes),
            resource: resource.map(str::as_bytes),
            user_agent: self
                .user_agent
                .as_ref()
                .and_then(|u| u.original.as_deref())
                .map(str::as_bytes),
            country: geo.and_then(|g| g.country_iso_code.as_deref()),
            place: self.place.as_deref(),
        })
    }
}

impl Event<'_> {
    /// The method, resource and (for protocols other than HTTP, MySQL and
    /// Redis) code of a transaction of `proto`: the fields each decoder
    /// names in its [`crate::event::TxDetail`] at emission, read back from
    /// its event, so both ways of building a report count the same.
    fn detail(&self, proto: &str) -> (Option<&str>, Option<&str>, Code<'_>) {
        fn text<'c>(c: Option<&'c Cow<'_, str>>) -> Code<'c> {
            c.map_or(Code::None, |c| Code::Text(c))
        }
        fn num(c: Option<i64>) -> Code<'static> {
            // As the decoders do: `error_code as u32`.
            c.map_or(Code::None, |c| Code::Num(c as u32))
        }
        let method = self.method.as_deref();
        match proto {
            "http" => (method, self.path.as_deref(), Code::None),
            "mysql" => (method, self.query.as_deref(), Code::None),
            "redis" => (method, self.resource.as_deref(), Code::None),
            "pgsql" => (
                method,
                self.query.as_deref(),
                text(self.pgsql.as_ref().and_then(|p| p.error_code.as_ref())),
            ),
            "dns" => {
                let d = self.dns.as_ref();
                (
                    d.and_then(|d| d.question.as_ref())
                        .and_then(|q| q.qtype.as_deref()),
                    self.resource.as_deref(),
                    text(d.and_then(|d| d.response_code.as_ref())),
                )
            }
            "icmp" => {
                let i = self.icmp.as_ref();
                (
                    i.and_then(|i| i.request.as_ref())
                        .and_then(|r| r.message.as_deref()),
                    self.path.as_deref(),
                    text(
                        i.and_then(|i| i.response.as_ref())
                            .and_then(|r| r.message.as_ref()),
                    ),
                )
            }
            "tls" => {
                let t = self.tls.as_ref();
                (
                    t.and_then(|t| t.version.as_deref()),
                    t.and_then(|t| t.client.as_ref())
                        .and_then(|c| c.server_name.as_deref()),
                    Code::None,
                )
            }
            "memcache" => {
                let m = self.memcache.as_ref();
                let rq = m.and_then(|m| m.request.as_ref());
                let code = match m.and_then(|m| m.response.as_ref()) {
                    Some(r) if r.status.is_some() => text(r.status.as_ref()),
                    Some(r) if r.kind.as_deref() != Some("Counter") => text(r.command.as_ref()),
                    _ => Code::None,
                };
                (
                    rq.and_then(|r| r.command.as_deref()),
                    rq.and_then(|r| r.keys.first()).map(|k| &**k),
                    code,
                )
            }
            "mongodb" => (
                method,
                self.resource.as_deref(),
                num(self.mongodb.as_ref().and_then(|m| m.error_code)),
            ),
            "amqp" => {
                let a = self.amqp.as_ref();
                let resource = a
                    .and_then(|a| a.queue.as_deref())
                    .filter(|q| !q.is_empty())
                    .or_else(|| a.and_then(|a| a.exchange.as_deref()));
                let code = num(a.and_then(|a| a.reply_code).filter(|&c| c > 0));
                (method, resource, code)
            }
            "cassandra" => (
                method,
                self.query.as_deref(),
                num(self
                    .cassandra
                    .as_ref()
                    .and_then(|c| c.response.as_ref())
                    .and_then(|r| r.error.as_ref())
                    .and_then(|e| e.code)),
            ),
            "thrift" => (
                method,
                method,
                text(
                    self.thrift
                        .as_ref()
                        .and_then(|t| t.exception.as_ref())
                        .and_then(|e| e.kind.as_ref()),
                ),
            ),
            "nfs" => (
                method,
                method,
                text(self.nfs.as_ref().and_then(|n| n.status.as_ref())),
            ),
            "sip" => {
                let s = self.sip.as_ref();
                (
                    method,
                    s.and_then(|s| s.uri.as_ref())
                        .and_then(|u| u.original.as_deref()),
                    num(s.and_then(|s| s.code)),
                )
            }
            "dhcpv4" => {
                let d = self.dhcpv4.as_ref();
                let reply = d.and_then(|d| d.reply.as_ref());
                let mac = d
                    .and_then(|d| d.client_mac.as_deref())
                    .or_else(|| reply.and_then(|r| r.client_mac.as_deref()));
                let code = reply
                    .and_then(|r| r.option.as_ref())
                    .and_then(|o| o.message_type.as_ref())
                    .filter(|t| !t.starts_with("unknown"));
                (method, mac, text(code))
            }
            _ => (
                method,
                self.resource.as_deref().or(self.query.as_deref()),
                Code::None,
            ),
        }
    }
}

pub use crate::geoip::place_label;

#[cfg(test)]
mod tests {
    use super::*;

    /// `Emitted::split_us` (start and end computed once) gives what
    /// `Transaction::split_us` gives, whichever timestamps are known.
    #[test]
    fn emitted_split_matches_transaction() {
        let mut flow = crate::event::FlowContext::new(
            1,
            ("10.0.0.1".parse().unwrap(), 40000),
            ("10.0.0.2".parse().unwrap(), 80),
            crate::flow::Transport::Tcp,
            String::new(),
        );
        let times = [None, Some(0), Some(1_000), Some(5_500), Some(9_999_999)];
        for rtt in [None, Some(0), Some(3), Some(50_000)] {
            flow.handshake_rtt_us = rtt;
            for &a in &times {
                for &b in &times {
                    for &c in &times {
                        for &d in &times {
                            let tx = crate::event::Transaction {
                                request_start: a,
                                request_end: b,
                                response_start: c,
                                response_end: d,
                                ..Default::default()
                            };
                            let e = Emitted::new(&tx, &flow);
                            assert_eq!(e.split_us(), tx.split_us(&flow), "{a:?} {b:?} {c:?} {d:?}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn parses_what_spanlens_writes() {
        assert_eq!(
            parse_rfc3339("2015-08-27T08:00:55.638957Z"),
            Some(1_440_662_455_638_957_000)
        );
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339(&crate::time::rfc3339(4_102_444_799_999_999_000)),
            Some(4_102_444_799_999_999_000)
        );
        assert_eq!(parse_rfc3339("2015-08-27 08:00:55Z"), None);
        assert_eq!(parse_rfc3339("2015-08-27T08:00:55+01:00"), None);
    }

    #[test]
    fn codes_as_text() {
        let mut b = [0u8; 20];
        assert_eq!(Code::Num(404).as_str(&mut b), Some("404"));
        assert_eq!(Code::Num(0).as_str(&mut b), Some("0"));
        assert_eq!(
            Code::redis_error("WRONGTYPE Operation against").as_str(&mut b),
            Some("WRONGTYPE")
        );
        assert_eq!(Code::redis_error("oops lower").as_str(&mut b), Some("ERR"));
        assert_eq!(Code::None.as_str(&mut b), None);
    }
}
