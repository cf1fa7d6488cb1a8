//! [`IcmpSession`]: one ICMP or ICMPv6 flow (the worker gives every ICMP
//! message of a flow to one session; an echo request and its reply share a
//! flow).
//!
//! - A request type (echo, timestamp, information, address mask) waits in
//!   a [`KeyedTxQueue`] under its (identifier, sequence); the reply with the
//!   same pair completes it: one event whose duration is the round-trip
//!   time. A second request with a pair still waiting closes the first
//!   (`icmp.duplicate_requests`).
//! - A request without a reply after `transaction_timeout` (packet time),
//!   or when the flow ends: `error.message: Unmatched request`
//!   (`icmp.unmatched_requests`); a reply without a request: `Unmatched
//!   response` (`icmp.unmatched_responses`).
//! - An error message (destination unreachable, time exceeded, parameter
//!   problem, packet too big, source quench, redirect) is one event with
//!   status Error and `icmp.quoted.*`: the addresses, ports and Community ID
//!   of the datagram it is about, which are those of that flow's events.
//! - Any other type (router or neighbour discovery, ...) is one event alone.
//!
//! Bounds: `max_in_flight` waiting requests per flow (the oldest is then
//! reported as unmatched, `icmp.in_flight_evicted`).

use super::parser::{type_code_text, Message, Role, Version};
use super::IcmpConfig;
use crate::event::{Code, JsonWriter, Status, Transaction, TxDetail};
use crate::flow::community_id::community_id;
use crate::proto::common::{self, errors, KeyedTxQueue, Leg};
use crate::proto::{DatagramSession, Dir, TxSink};
use crate::time::Timestamp;
use std::sync::Arc;

/// `error.message` of a request closed by another with the same id and
/// sequence (Packetbeat's wording).
pub const DUPLICATE_REQUEST: &str = "Another request with the same Id and Seq was received so this request was closed without receiving a response.";

/// One message as kept.
#[derive(Debug, Clone, Copy)]
struct Msg {
    leg: Leg,
    typ: u8,
    code: u8,
}

/// An ICMP or ICMPv6 flow.
pub struct IcmpSession {
    cfg: Arc<IcmpConfig>,
    pending: KeyedTxQueue<(u16, u16), Msg>,
    version: Option<Version>,
    text: String,
    /// The report's fields of the transaction being emitted: request
    /// message, response message, `path`.
    detail: [String; 3],
}

impl IcmpSession {
    /// A session for one ICMP flow.
    pub fn new(cfg: Arc<IcmpConfig>) -> Self {
        let max = cfg.max_in_flight;
        IcmpSession {
            cfg,
            pending: KeyedTxQueue::new(max),
            version: None,
            text: String::new(),
            detail: Default::default(),
        }
    }

    fn side(w: &mut JsonWriter<'_>, key: &str, v: Version, m: &Msg, text: &mut String) {
        text.clear();
        type_code_text(v, m.typ, m.code, text);
        w.begin_obj(key);
        w.str("message", text);
        w.u64("type", m.typ.into());
        w.u64("code", m.code.into());
        w.end();
    }

    fn emit(
        &mut self,
        req: Option<&Msg>,
        resp: Option<&Msg>,
        status: Status,
        error: Option<&'static str>,
        quoted: Option<&Message<'_>>,
        out: &mut TxSink<'_>,
    ) {
        let v = self.version.unwrap_or(Version::V4);
        let server = out.flow.server.0;
        let detail = if out.aggregating() {
            // What the event writes: `icmp.request.message` as the
            // operation, `icmp.response.message` as the code, `path`.
            let [rq, rs, path] = &mut self.detail;
            for (m, t) in [(req, &mut *rq), (resp, &mut *rs)] {
                t.clear();
                if let Some(m) = m {
                    type_code_text(v, m.typ, m.code, t);
                }
            }
            path.clear();
            use std::fmt::Write as _;
            let _ = write!(path, "{server}");
            TxDetail {
                method: req.map(|_| rq.as_bytes()),
                code: resp.map_or(Code::None, |_| Code::Text(rs.as_str())),
                resource: Some(path.as_bytes()),
                ..TxDetail::default()
            }
        } else {
            TxDetail::default()
        };
        let tx = Transaction {
            status: Some(status),
            error,
            detail,
            ..common::transaction("icmp", req.map(|m| &m.leg), resp.map(|m| &m.leg))
        };
        let text = &mut self.text;
        out.emit(&tx, |w| {
            w.ip("path", server);
            w.begin_obj("icmp");
            w.u64("version", v.number().into());
            if let Some(m) = req {
                Self::side(w, "request", v, m, text);
            }
            if let Some(m) = resp {
                Self::side(w, "response", v, m, text);
            }
            if let Some(q) = quoted.and_then(|m| m.quoted()) {
                let ports = matches!(q.proto, 6 | 17 | 132);
                w.begin_obj("quoted");
                w.ip("source_ip", q.src);
                w.ip("destination_ip", q.dst);
                w.u64("iana_number", q.proto.into());
                if ports && q.dport != 0 {
                    w.u64("source_port", q.sport.into());
                    w.u64("destination_port", q.dport.into());
                }
                let cid = community_id(
                    0,
                    q.src,
                    q.dst,
                    q.proto,
                    (ports && q.dport != 0).then_some((q.sport, q.dport)),
                    false,
                );
                w.str("community_id", &cid);
                w.end();
            }
            w.end();
        });
    }

    fn expire(&mut self, now: Option<Timestamp>, out: &mut TxSink<'_>) {
        if self.version.is_none() {
            return;
        }
        let timeout = self.cfg.transaction_timeout.nanos();
        while let Some((_, m)) = self
            .pending
            .pop_expired(|m| now.is_none_or(|n| m.leg.end.saturating_add(timeout) <= n))
        {
            out.count("icmp.unmatched_requests", 1);
            self.emit(
                Some(&m),
                None,
                Status::Error,
                Some(errors::UNMATCHED_REQUEST),
                None,
                out,
            );
        }
    }
}

impl DatagramSession for IcmpSession {
    fn datagram(&mut self, _dir: Dir, payload: &[u8], ts: Timestamp, out: &mut TxSink<'_>) {
        let v = if out.flow.transport.ip_proto() == 58 {
            Version::V6
        } else {
            Version::V4
        };
        self.version = Some(v);
        let Ok(m) = Message::parse(v, payload) else {
            out.count("icmp.parse_errors", 1);
            return;
        };
        let mut leg = Leg::at(ts);
        leg.bytes = m.payload.len() as u64;
        let kept = Msg {
            leg,
            typ: m.typ,
            code: m.code,
        };
        match m.role() {
            Role::Request => {
                if let Some(old) = self.pending.take(&(m.id, m.seq)) {
                    out.count("icmp.duplicate_requests", 1);
                    self.emit(
                        Some(&old),
                        None,
                        Status::Error,
                        Some(DUPLICATE_REQUEST),
                        None,
                        out,
                    );
                }
                if let Some((_, evicted)) = self.pending.push((m.id, m.seq), kept) {
                    out.count("icmp.in_flight_evicted", 1);
                    self.emit(
                        Some(&evicted),
                        None,
                        Status::Error,
                        Some(errors::UNMATCHED_REQUEST),
                        None,
                        out,
                    );
                }
            }
            Role::Reply => match self.pending.take(&(m.id, m.seq)) {
                Some(req) => self.emit(Some(&req), Some(&kept), Status::Ok, None, None, out),
                None => {
                    out.count("icmp.unmatched_responses", 1);
                    self.emit(
                        None,
                        Some(&kept),
                        Status::Error,
                        Some(errors::UNMATCHED_RESPONSE),
                        None,
                        out,
                    );
                }
            },
            Role::Error => {
                out.count("icmp.errors", 1);
                self.emit(Some(&kept), None, Status::Error, None, Some(&m), out);
            }
            Role::Other => self.emit(Some(&kept), None, Status::Ok, None, None, out),
        }
    }

    fn tick(&mut self, now: Timestamp, out: &mut TxSink<'_>) {
        self.expire(Some(now), out);
    }

    fn close(&mut self, _now: Timestamp, out: &mut TxSink<'_>) {
        self.expire(None, out);
    }
}
