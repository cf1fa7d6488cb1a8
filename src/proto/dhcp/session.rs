//! [`DhcpSession`]: pairs DHCPv4 client messages with the server's reply
//! by transaction id and client hardware address.
//!
//! The four messages of a lease (DISCOVER, OFFER, REQUEST, ACK) are two
//! transactions: DISCOVER answered by OFFER, REQUEST answered by ACK or
//! NAK (the client picks a new xid per exchange or keeps it; either way
//! each client message waits for its own reply). INFORM is answered by
//! ACK. RELEASE and DECLINE have no reply by design (RFC 2131 section
//! 3.1, 4.4.6): each is an event at once, status OK.
//!
//! - a client message repeated while it waits (a DISCOVER retransmitted
//!   with the same xid) is counted (`dhcpv4.retransmissions`), not
//!   reported twice;
//! - the first reply completes the transaction; further replies to the
//!   same message (a second server's OFFER, a repeated ACK) are counted
//!   (`dhcpv4.additional_replies`);
//! - a NAK completes it with `status: Error`;
//! - a reply nothing explains is an event with `Unmatched response`
//!   (`dhcpv4.unmatched_responses`); a client message without a reply
//!   after `transaction_timeout` (packet time) or when the flow ends is one
//!   with `Unmatched request` (`dhcpv4.unmatched_requests`);
//! - more than `max_in_flight` waiting: the oldest is reported as
//!   unmatched (`dhcpv4.in_flight_evicted`);
//! - a datagram that does not parse is counted (`dhcpv4.parse_errors`,
//!   one debug line).
//!
//! Which flow: see the module docs of [`super`]: every client/server
//! message of a broadcast domain is one flow, so that a DISCOVER from
//! 0.0.0.0 to 255.255.255.255 meets its OFFER sent to the offered address.

use super::event;
use super::parser::{self, msg, Message};
use super::DhcpConfig;
use crate::event::{Code, Status, TxDetail};
use crate::proto::common::{self, errors, KeyedTxQueue, Leg};
use crate::proto::{DatagramSession, Dir, TxSink};
use crate::time::Timestamp;
use std::sync::Arc;

/// Answered transactions remembered to recognise further replies.
const RECENT: usize = 16;

type Key = (u32, [u8; 16]);

#[derive(Debug)]
struct Pending {
    leg: Leg,
    raw: Vec<u8>,
    msg: Message,
}

/// The DHCPv4 messages of one flow (one broadcast domain).
pub struct DhcpSession {
    cfg: Arc<DhcpConfig>,
    pending: KeyedTxQueue<Key, Pending>,
    /// Answered transactions: key, the client message's type, time.
    recent: [(Key, Option<u8>, Timestamp); RECENT],
    recent_next: usize,
    tmp: Vec<u8>,
    /// The client MAC of the transaction being emitted (the report's resource).
    mac: Vec<u8>,
    free: Vec<Vec<u8>>,
}

fn method(t: Option<u8>) -> &'static str {
    match t {
        Some(msg::DISCOVER) => "DISCOVER",
        Some(msg::OFFER) => "OFFER",
        Some(msg::REQUEST) => "REQUEST",
        Some(msg::DECLINE) => "DECLINE",
        Some(msg::ACK) => "ACK",
        Some(msg::NAK) => "NAK",
        Some(msg::RELEASE) => "RELEASE",
        Some(msg::INFORM) => "INFORM",
        Some(_) => "OTHER",
        None => "BOOTP",
    }
}

impl DhcpSession {
    /// A session for one flow.
    pub fn new(cfg: Arc<DhcpConfig>) -> Self {
        let max = cfg.max_in_flight;
        DhcpSession {
            cfg,
            pending: KeyedTxQueue::new(max),
            recent: [((0, [0; 16]), None, 0); RECENT],
            recent_next: 0,
            tmp: Vec::new(),
            mac: Vec::new(),
            free: Vec::new(),
        }
    }

    /// Client messages waiting for a reply.
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// Whether `key` was answered within the timeout (`kind`: and its
    /// client message had this type).
    fn recently_answered(&self, key: &Key, kind: Option<Option<u8>>, ts: Timestamp) -> bool {
        let window = self.cfg.transaction_timeout.nanos();
        self.recent.iter().any(|(k, t, at)| {
            k == key
                && kind.is_none_or(|kind| kind == *t)
                && *at != 0
                && ts.saturating_sub(*at) <= window
        })
    }

    fn request(&mut self, buf: &[u8], m: Message, leg: Leg, out: &mut TxSink<'_>) {
        let key = m.key();
        if let Some(p) = self.pending.get_mut(&key) {
            if p.msg.options.message_type == m.options.message_type {
                out.count("dhcpv4.retransmissions", 1);
                return;
            }
            // The next message of the exchange with the same xid (REQUEST
            // after an unanswered DISCOVER): the old one stays unmatched.
            if let Some(old) = self.pending.take(&key) {
                self.emit(
                    Some((&old.raw, &old.msg, &old.leg)),
                    None,
                    Some(errors::UNMATCHED_REQUEST),
                    out,
                );
                out.count("dhcpv4.unmatched_requests", 1);
                self.recycle(old.raw);
            }
        }
        if self.recently_answered(&key, Some(m.options.message_type), leg.start) {
            // Sent again after its reply went out (the two crossed).
            out.count("dhcpv4.retransmissions", 1);
            return;
        }
        if matches!(m.options.message_type, Some(msg::RELEASE | msg::DECLINE)) {
            self.emit(Some((buf, &m, &leg)), None, None, out);
            return;
        }
        let mut raw = self.free.pop().unwrap_or_default();
        raw.extend_from_slice(buf);
        if let Some((_, old)) = self.pending.push(key, Pending { leg, raw, msg: m }) {
            out.count("dhcpv4.in_flight_evicted", 1);
            out.count("dhcpv4.unmatched_requests", 1);
            self.emit(
                Some((&old.raw, &old.msg, &old.leg)),
                None,
                Some(errors::UNMATCHED_REQUEST),
                out,
            );
            self.recycle(old.raw);
        }
    }

    fn reply(&mut self, buf: &[u8], m: Message, leg: Leg, out: &mut TxSink<'_>) {
        let key = m.key();
        match self.pending.take(&key) {
            Some(p) => {
                self.recent[self.recent_next] = (key, p.msg.options.message_type, leg.end.max(1));
                self.recent_next = (self.recent_next + 1) % RECENT;
                self.emit(
                    Some((&p.raw, &p.msg, &p.leg)),
                    Some((buf, &m, &leg)),
                    None,
                    out,
                );
                self.recycle(p.raw);
            }
            None if self.recently_answered(&key, None, leg.start) => {
                out.count("dhcpv4.additional_replies", 1);
            }
            None => {
                out.count("dhcpv4.unmatched_responses", 1);
                self.emit(
                    None,
                    Some((buf, &m, &leg)),
                    Some(errors::UNMATCHED_RESPONSE),
                    out,
                );
            }
        }
    }

    fn recycle(&mut self, mut raw: Vec<u8>) {
        if self.free.len() < 8 {
            raw.clear();
            self.free.push(raw);
        }
    }

    fn emit(
        &mut self,
        req: Option<(&[u8], &Message, &Leg)>,
        resp: Option<(&[u8], &Message, &Leg)>,
        error: Option<&'static str>,
        out: &mut TxSink<'_>,
    ) {
        let nak = resp.is_some_and(|(_, r, _)| r.options.message_type == Some(msg::NAK));
        let first = req.or(resp).map(|(_, m, _)| m.options.message_type);
        let method = method(first.flatten());
        let reply_type = resp.and_then(|(_, r, _)| r.options.message_type);
        // `dhcpv4.client_mac`, else `dhcpv4.reply.client_mac`.
        let mac = match req.or(resp) {
            Some((_, m, _)) => {
                event::mac(m.hw(), &mut self.mac);
                Some(&self.mac[..])
            }
            None => None,
        };
        let tx = crate::event::Transaction {
            status: Some(if nak || error.is_some() {
                Status::Error
            } else {
                Status::Ok
            }),
            error,
            detail: TxDetail {
                code: match reply_type.and_then(parser::msg_name) {
                    Some(n) => Code::Text(n),
                    None => Code::None,
                },
                method: Some(method.as_bytes()),
                resource: mac,
                ..TxDetail::default()
            },
            ..common::transaction("dhcpv4", req.map(|(_, _, l)| l), resp.map(|(_, _, l)| l))
        };
        let tmp = &mut self.tmp;
        out.emit(&tx, |w| {
            w.ascii("method", method);
            w.begin_obj("dhcpv4");
            if let Some((b, m, _)) = req {
                event::message(w, b, m, tmp);
            }
            if let Some((b, r, _)) = resp {
                if !r.yiaddr.is_unspecified() && req.is_some() {
                    w.ip("assigned_ip", std::net::IpAddr::V4(r.yiaddr));
                }
                w.begin_obj("reply");
                event::message(w, b, r, tmp);
                w.end();
            }
            w.end();
        });
    }

    fn expire(&mut self, now: Option<Timestamp>, out: &mut TxSink<'_>) {
        let timeout = self.cfg.transaction_timeout.nanos();
        while let Some((_, p)) = self
            .pending
            .pop_expired(|p| now.is_none_or(|n| p.leg.end.saturating_add(timeout) <= n))
        {
            out.count("dhcpv4.unmatched_requests", 1);
            self.emit(
                Some((&p.raw, &p.msg, &p.leg)),
                None,
                Some(errors::UNMATCHED_REQUEST),
                out,
            );
            self.recycle(p.raw);
        }
    }
}

impl DatagramSession for DhcpSession {
    fn datagram(&mut self, _dir: Dir, payload: &[u8], ts: Timestamp, out: &mut TxSink<'_>) {
        let mut leg = Leg::at(ts);
        leg.bytes = payload.len() as u64;
        if payload.len() > self.cfg.max_message_bytes {
            out.count("dhcpv4.parse_errors", 1);
            tracing::debug!(target: "spanlens::dhcpv4", "dropping a DHCP message of {} bytes (max_message_bytes)", payload.len());
            return;
        }
        match parser::parse(payload) {
            Ok(m) if m.op == parser::OP_REQUEST => self.request(payload, m, leg, out),
            Ok(m) => self.reply(payload, m, leg, out),
            Err(why) => {
                out.count("dhcpv4.parse_errors", 1);
                tracing::debug!(target: "spanlens::dhcpv4", "dropping a DHCP message: {why}");
            }
        }
    }

    fn tick(&mut self, now: Timestamp, out: &mut TxSink<'_>) {
        self.expire(Some(now), out);
    }

    fn close(&mut self, _now: Timestamp, out: &mut TxSink<'_>) {
        self.expire(None, out);
    }
}
