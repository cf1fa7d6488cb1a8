//! [`NfsSession`] (TCP) and [`NfsUdpSession`] (UDP): RPC calls to the NFS
//! program paired with their replies by xid.
//!
//! Over TCP each direction is cut into records by the record marks
//! (RFC 5531 section 11), across fragments and segments; of each record
//! only the first `max_header_size` bytes are kept (the headers and
//! arguments that name the operation), the rest is counted and skipped.
//! Over UDP each datagram is one message. Calls wait in a
//! [`KeyedTxQueue`] by xid (bounded by `max_in_flight`); a reply takes its
//! call; calls to other programs (MOUNT, NLM, ...) wait too, so that their
//! replies are swallowed rather than reported as unmatched, and are
//! counted (`nfs.other_programs`). After lost bytes a direction resumes at
//! the next record mark followed by an NFS call or by a reply to a waiting
//! xid (`nfs.resyncs`). A call still waiting when a reply gap happened
//! expires with the response loss text instead of `Unmatched request`.

use super::parser::{self, CallHeader, NfsCall, ReplyStat, Rpc, NFS_PROGRAM};
use super::NfsConfig;
use crate::event::{Code, JsonWriter, Status, Transaction, TxDetail};
use crate::proto::common::errors::{
    LOSS_REQUEST, LOSS_RESPONSE, UNMATCHED_REQUEST, UNMATCHED_RESPONSE,
};
use crate::proto::common::{self, KeyedTxQueue, Leg, Resync, Scan};
use crate::proto::{DatagramSession, Dir, Session, TxSink};
use crate::time::Timestamp;
use std::sync::Arc;

const RESYNC: Resync = Resync {
    resyncs: "nfs.resyncs",
    skipped: "nfs.resync_skipped_bytes",
    keep: 512,
};

/// A call waiting for its reply.
#[derive(Debug)]
struct Call {
    h: CallHeader,
    /// None: not the NFS program (its reply is swallowed).
    nfs: Option<NfsCall>,
    leg: Leg,
    /// A reply gap happened while it waited.
    reply_gap: bool,
}

/// A reply.
#[derive(Debug)]
struct Reply {
    xid: u32,
    stat: ReplyStat,
    status: Option<u32>,
    leg: Leg,
}

/// What both transports share: the calls waiting, the pairing, the events.
struct Core {
    cfg: Arc<NfsConfig>,
    pending: KeyedTxQueue<u32, Call>,
    /// Calls lost in request gaps whose replies may come (bounded).
    lost_calls: usize,
    /// An RPC message was decoded.
    decoded: bool,
    /// The first record was not RPC and nothing was decoded.
    rejected: bool,
}

impl Core {
    fn new(cfg: Arc<NfsConfig>) -> Core {
        let pending = KeyedTxQueue::new(cfg.max_in_flight);
        Core {
            cfg,
            pending,
            lost_calls: 0,
            decoded: false,
            rejected: false,
        }
    }

    /// One whole message (`b` holds its first bytes, `leg` its size).
    /// Returns false when it is not RPC (the stream lost its framing).
    fn message(&mut self, dir: Dir, b: &[u8], leg: Leg, out: &mut TxSink<'_>) -> bool {
        match parser::rpc(b) {
            Err(None) => {
                out.count("nfs.truncated_messages", 1);
                true
            }
            Err(Some(_)) => {
                out.count("nfs.parse_errors", 1);
                if !self.decoded {
                    self.rejected = true;
                }
                false
            }
            Ok(Rpc::Call(h, body)) => {
                self.decoded = true;
                if dir == Dir::ToClient {
                    // NFSv4.1 backchannel (CB_COMPOUND) or a misread flow.
                    out.count("nfs.server_calls", 1);
                    return true;
                }
                let nfs = if h.prog == NFS_PROGRAM {
                    let gss = h.cred.gss.map(|g| g.2);
                    Some(parser::nfs_call(
                        h.vers,
                        h.proc_,
                        gss,
                        &b[body..],
                        self.cfg.max_ops,
                    ))
                } else {
                    out.count("nfs.other_programs", 1);
                    None
                };
                let call = Call {
                    h,
                    nfs,
                    leg,
                    reply_gap: false,
                };
                if let Some((_, old)) = self.pending.push(call.h.xid, call) {
                    out.count("nfs.in_flight_dropped", 1);
                    if old.nfs.is_some() {
                        emit(Some(&old), None, Some(UNMATCHED_REQUEST), out);
                    }
                }
                true
            }
            Ok(Rpc::Reply(xid, stat, body)) => {
                self.decoded = true;
                match self.pending.take(&xid) {
                    Some(call) => {
                        if call.nfs.is_none() {
                            return true;
                        }
                        let status = match stat {
                            ReplyStat::Accepted(0) => {
                                let gss = call.h.cred.gss.map(|g| g.2);
                                parser::nfs_reply_status(call.h.vers, call.h.proc_, gss, &b[body..])
                            }
                            _ => None,
                        };
                        let r = Reply {
                            xid,
                            stat,
                            status,
                            leg,
                        };
                        emit(Some(&call), Some(&r), None, out);
                    }
                    None => {
                        let why = if self.lost_calls > 0 {
                            self.lost_calls -= 1;
                            LOSS_REQUEST
                        } else {
                            out.count("nfs.unmatched_responses", 1);
                            UNMATCHED_RESPONSE
                        };
                        let r = Reply {
                            xid,
                            stat,
                            status: None,
                            leg,
                        };
                        emit(None, Some(&r), Some(why), out);
                    }
                }
                true
            }
        }
    }

    fn reply_gap(&mut self) {
        for c in self.pending.iter_mut() {
            c.reply_gap = true;
        }
    }

    fn expire(&mut self, limit: Option<Timestamp>, out: &mut TxSink<'_>) {
        while let Some((_, c)) = self
            .pending
            .pop_expired(|c| limit.is_none_or(|l| c.leg.end < l))
        {
            if c.nfs.is_none() {
                continue;
            }
            let why = if c.reply_gap {
                LOSS_RESPONSE
            } else {
                out.count("nfs.unmatched_requests", 1);
                UNMATCHED_REQUEST
            };
            emit(Some(&c), None, Some(why), out);
        }
    }

    fn tick(&mut self, now: Timestamp, out: &mut TxSink<'_>) {
        let limit = now.saturating_sub(self.cfg.transaction_timeout.nanos());
        self.expire(Some(limit), out);
    }
}

/// The CRC-32 of a file handle, as tshark's `nfs.fh.hash` shows it.
fn fh_hash(fh: &[u8]) -> String {
    format!("0x{:08x}", crc32fast::hash(fh))
}

fn write_cred(h: &CallHeader, w: &mut JsonWriter<'_>) {
    let c = &h.cred;
    if c.flavor == 1 {
        w.begin_obj("cred");
        if let Some(s) = c.stamp {
            w.u64("stamp", u64::from(s));
        }
        if let Some(m) = &c.machine {
            w.str("machinename", m);
        }
        if let Some(u) = c.uid {
            w.u64("uid", u64::from(u));
        }
        if let Some(g) = c.gid {
            w.u64("gid", u64::from(g));
        }
        w.begin_arr("gids");
        for g in &c.gids {
            w.elem_u64(u64::from(*g));
        }
        w.end_arr();
        w.end();
    }
    if let Some((p, seq, svc)) = c.gss {
        w.begin_obj("gss");
        w.ascii("procedure", parser::gss_proc_name(p));
        w.u64("sequence", u64::from(seq));
        w.ascii("service", parser::gss_service_name(svc));
        w.end();
    }
}

/// One `type: nfs` event.
fn emit(call: Option<&Call>, reply: Option<&Reply>, error: Option<&str>, out: &mut TxSink<'_>) {
    let nfs = call.and_then(|c| c.nfs.as_ref());
    let status_name = reply.and_then(|r| r.status).map(parser::status_name);
    let failed = error.is_some()
        || reply
            .is_some_and(|r| r.stat != ReplyStat::Accepted(0) || r.status.is_some_and(|s| s != 0));
    let opcode = nfs.map(|n| n.opcode);
    let t = Transaction {
        status: Some(if failed { Status::Error } else { Status::Ok }),
        error,
        detail: TxDetail {
            code: status_name.map_or(Code::None, Code::Text),
            method: opcode.map(str::as_bytes),
            resource: opcode.map(str::as_bytes),
            ..TxDetail::default()
        },
        ..common::transaction("nfs", call.map(|c| &c.leg), reply.map(|r| &r.leg))
    };
    out.emit(&t, |w| {
        if let Some(op) = opcode {
            w.ascii("method", op);
        }
        w.begin_obj("nfs");
        if let Some(c) = call {
            w.u64("version", u64::from(c.h.vers));
        }
        if let Some(n) = nfs {
            if let Some(m) = n.minor {
                w.u64("minor_version", u64::from(m));
            }
            if let Some(t) = &n.tag {
                w.str("tag", t);
            }
            w.ascii("opcode", n.opcode);
            if !n.ops.is_empty() {
                w.begin_arr("ops");
                for op in &n.ops {
                    w.elem_str(op);
                }
                w.end_arr();
            }
            if n.ops_truncated {
                w.bool("ops_truncated", true);
            }
            if let Some(fh) = &n.fh {
                w.str("fh_hash", &fh_hash(fh));
            }
            if n.opaque_args {
                w.bool("encrypted", true);
            }
        }
        if let Some(s) = status_name {
            w.ascii("status", s);
        }
        w.end();
        w.begin_obj("rpc");
        let xid = call.map(|c| c.h.xid).or(reply.map(|r| r.xid)).unwrap_or(0);
        w.str("xid", &format!("{xid:08x}"));
        if let Some(c) = call {
            w.ascii("auth_flavor", parser::flavor_name(c.h.cred.flavor));
            write_cred(&c.h, w);
        }
        if let Some(r) = reply {
            w.ascii("status", r.stat.name());
        }
        if let (Some(c), Some(r)) = (call, reply) {
            w.u64("time", r.leg.end.saturating_sub(c.leg.start));
        }
        w.end();
    });
}

/// One direction's record reader.
#[derive(Debug, Default)]
struct Records {
    /// A record mark being read.
    mark: [u8; 4],
    mark_len: usize,
    /// Bytes left in the current fragment.
    frag_left: usize,
    /// The current fragment is the record's last.
    last: bool,
    /// Inside a record.
    in_record: bool,
    /// The record's first `max_header_size` bytes.
    kept: Vec<u8>,
    /// Record body bytes so far.
    total: usize,
    /// Fragments so far.
    frags: usize,
    start: Timestamp,
    /// Looking for a record start.
    lost: bool,
    /// While lost: bytes kept for the next scan.
    scan: Vec<u8>,
}

/// The TCP session.
pub struct NfsSession {
    core: Core,
    rec: [Records; 2],
}

impl NfsSession {
    /// A new session with the given settings.
    pub fn new(cfg: Arc<NfsConfig>) -> Self {
        NfsSession {
            core: Core::new(cfg),
            rec: [Records::default(), Records::default()],
        }
    }

    fn lose(&mut self, d: usize) {
        let r = &mut self.rec[d];
        r.lost = true;
        r.in_record = false;
        r.mark_len = 0;
        r.frag_left = 0;
        r.kept.clear();
        r.scan.clear();
    }

    /// While lost: scans for a record start; returns the bytes from it on.
    fn resync(&mut self, dir: Dir, data: &[u8], out: &mut TxSink<'_>) -> Option<Vec<u8>> {
        let d = dir.idx();
        let mut scan = std::mem::take(&mut self.rec[d].scan);
        scan.extend_from_slice(data);
        let max = self.core.cfg.max_record_size;
        let pending = &self.core.pending;
        let known = |x: u32| pending.contains(&x);
        match RESYNC.scan(&scan, |b| parser::find_record(b, max, &known), out) {
            Scan::Found(off) => {
                self.rec[d].lost = false;
                Some(scan.split_off(off))
            }
            Scan::NotFound(drop) => {
                scan.drain(..drop);
                self.rec[d].scan = scan;
                None
            }
        }
    }

    fn records(&mut self, dir: Dir, data: &[u8], ts: Timestamp, out: &mut TxSink<'_>) {
        let mut owned: Vec<u8>;
        let mut input = data;
        while let Some(rest) = self.records_from(dir, input, ts, out) {
            owned = rest;
            input = &owned;
        }
    }

    /// Reads records from `data`; after a resync returns the bytes to go
    /// on with (a loop, not recursion: garbage cannot deepen the stack).
    fn records_from(
        &mut self,
        dir: Dir,
        mut data: &[u8],
        ts: Timestamp,
        out: &mut TxSink<'_>,
    ) -> Option<Vec<u8>> {
        let d = dir.idx();
        let max_keep = self.core.cfg.max_header_size;
        let max_record = self.core.cfg.max_record_size;
        while !data.is_empty() {
            if self.rec[d].lost {
                return self.resync(dir, data, out);
            }
            let r = &mut self.rec[d];
            if r.frag_left == 0 && !(r.in_record && r.last) {
                // A record mark.
                let n = (4 - r.mark_len).min(data.len());
                r.mark[r.mark_len..r.mark_len + n].copy_from_slice(&data[..n]);
                r.mark_len += n;
                data = &data[n..];
                if r.mark_len < 4 {
                    return None;
                }
                r.mark_len = 0;
                let m = u32::from_be_bytes(r.mark);
                let len = (m & 0x7fff_ffff) as usize;
                if !r.in_record {
                    r.in_record = true;
                    r.start = ts;
                    r.total = 0;
                    r.frags = 0;
                    r.kept.clear();
                }
                r.frags += 1;
                r.last = m & 0x8000_0000 != 0;
                r.frag_left = len;
                if r.total + len > max_record {
                    out.count("nfs.oversized_records", 1);
                    self.lose(d);
                    continue;
                }
            } else {
                let n = r.frag_left.min(data.len());
                let keep = n.min(max_keep.saturating_sub(r.kept.len()));
                r.kept.extend_from_slice(&data[..keep]);
                r.total += n;
                r.frag_left -= n;
                data = &data[n..];
            }
            let r = &mut self.rec[d];
            if r.in_record && r.last && r.frag_left == 0 {
                r.in_record = false;
                r.last = false;
                if r.total > max_keep {
                    out.count("nfs.skipped_bytes", (r.total - max_keep) as u64);
                }
                let leg = Leg {
                    start: r.start,
                    end: ts,
                    bytes: (r.total + 4 * r.frags) as u64,
                    lost: false,
                };
                let kept = std::mem::take(&mut r.kept);
                let ok = self.core.message(dir, &kept, leg, out);
                let mut kept = kept;
                kept.clear();
                self.rec[d].kept = kept;
                if !ok {
                    self.lose(d);
                }
            }
        }
        None
    }
}

impl Session for NfsSession {
    fn data(&mut self, dir: Dir, data: &[u8], ts: Timestamp, out: &mut TxSink<'_>) {
        self.records(dir, data, ts, out);
    }

    fn gap(&mut self, dir: Dir, len: u64, _ts: Timestamp, out: &mut TxSink<'_>) {
        out.count("nfs.gap_bytes", len);
        let d = dir.idx();
        let r = &self.rec[d];
        // A gap wholly inside the skipped tail of a record keeps the framing.
        if r.in_record
            && !r.lost
            && (len as usize) < r.frag_left
            && r.kept.len() >= self.core.cfg.max_header_size
        {
            let r = &mut self.rec[d];
            r.frag_left -= len as usize;
            r.total += len as usize;
            return;
        }
        self.lose(d);
        match dir {
            Dir::ToClient => self.core.reply_gap(),
            Dir::ToServer => {
                self.core.lost_calls = (self.core.lost_calls + 1).min(self.core.cfg.max_in_flight);
            }
        }
    }

    fn end(&mut self, _dir: Dir, _ts: Timestamp, _out: &mut TxSink<'_>) {}

    fn tick(&mut self, now: Timestamp, out: &mut TxSink<'_>) {
        self.core.tick(now, out);
    }

    fn close(&mut self, _now: Timestamp, out: &mut TxSink<'_>) {
        self.core.expire(None, out);
    }

    fn rejected(&self) -> bool {
        self.core.rejected && !self.core.decoded
    }
}

/// The UDP session: one RPC message per datagram.
pub struct NfsUdpSession {
    core: Core,
}

impl NfsUdpSession {
    /// A new session with the given settings.
    pub fn new(cfg: Arc<NfsConfig>) -> Self {
        NfsUdpSession {
            core: Core::new(cfg),
        }
    }
}

impl DatagramSession for NfsUdpSession {
    fn datagram(&mut self, dir: Dir, payload: &[u8], ts: Timestamp, out: &mut TxSink<'_>) {
        let leg = Leg {
            start: ts,
            end: ts,
            bytes: payload.len() as u64,
            lost: false,
        };
        let keep = payload.len().min(self.core.cfg.max_header_size);
        self.core.message(dir, &payload[..keep], leg, out);
    }

    fn tick(&mut self, now: Timestamp, out: &mut TxSink<'_>) {
        self.core.tick(now, out);
    }

    fn close(&mut self, _now: Timestamp, out: &mut TxSink<'_>) {
        self.core.expire(None, out);
    }
}
