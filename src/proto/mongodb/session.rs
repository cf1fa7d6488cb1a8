//! [`MongodbSession`]: frames each direction by the standard header,
//! pairs replies with requests by `responseTo` in a bounded
//! [`KeyedTxQueue`], reports the one-way operations (legacy writes,
//! kill cursors, OP_MSG with moreToCome) at once, as Packetbeat does, and
//! decompresses OP_COMPRESSED (snappy, zlib, zstd) within the message
//! bound.
//!
//! Bounds: a message longer than `max_message_size` is not MongoDB (resync);
//! one longer than `max_message_buffer` is read from its first
//! `max_message_buffer` bytes and the rest is skipped by its length
//! (`mongodb.messages_truncated`). After a gap the direction resyncs at the
//! next plausible header; requests waiting when response bytes were lost
//! are reported with the loss text.

use super::parser::{
    self, Header, Opts, Request, Response, HEADER_LEN, OP_COMPRESSED, OP_MSG, OP_REPLY,
};
use super::MongodbConfig;
use crate::event::{Code, Status, Transaction, TxDetail};
use crate::proto::common::errors::{
    LOSS_REQUEST, LOSS_RESPONSE, UNMATCHED_REQUEST, UNMATCHED_RESPONSE,
};
use crate::proto::common::{self, parse_in_place, KeyedTxQueue, Leg, Resync, Scan};
use crate::proto::{Dir, Session, TxSink};
use crate::time::Timestamp;
use std::sync::Arc;

/// Where a lost direction resumes (a header may straddle two chunks).
const RESYNC: Resync = Resync {
    resyncs: "mongodb.resyncs",
    skipped: "mongodb.resync_skipped_bytes",
    keep: HEADER_LEN - 1,
};

/// A request waiting for its reply.
#[derive(Debug)]
struct Pending {
    req: Request,
    leg: Leg,
    compressor: Option<&'static str>,
    /// A continuation of an exhaust stream (the previous reply said
    /// moreToCome): `leg` is that reply's end.
    exhaust: bool,
}

/// A reply.
#[derive(Debug)]
struct Reply {
    resp: Response,
    leg: Leg,
    compressor: Option<&'static str>,
}

/// One direction's framing state.
#[derive(Debug, Default)]
struct Side {
    /// Bytes of the message being read (at most `max_message_buffer`
    /// plus one chunk).
    buf: Vec<u8>,
    /// Time of the first byte of that message.
    start: Timestamp,
    /// Looking for the next header after lost or bad bytes.
    lost: bool,
    /// An over-long message: its first bytes, kept until its last byte.
    held: Option<(Header, Vec<u8>)>,
    /// Bytes of that message still to come.
    skip: u64,
    /// Some of them were lost.
    held_lost: bool,
}

/// One MongoDB connection.
pub struct MongodbSession {
    cfg: Arc<MongodbConfig>,
    side: [Side; 2],
    pending: KeyedTxQueue<i32, Pending>,
    /// Request bytes were lost: the next reply without a request says so.
    request_lost: bool,
    /// Decompressed messages (reused).
    scratch: Vec<u8>,
}

impl MongodbSession {
    /// A new session with the given settings.
    pub fn new(cfg: Arc<MongodbConfig>) -> Self {
        let pending = KeyedTxQueue::new(cfg.max_in_flight);
        MongodbSession {
            cfg,
            side: [Side::default(), Side::default()],
            pending,
            request_lost: false,
            scratch: Vec::new(),
        }
    }

    fn opts(&self) -> Opts {
        Opts {
            send_request: self.cfg.send_request,
            send_response: self.cfg.send_response,
            max_docs: self.cfg.max_docs,
            max_doc_length: self.cfg.max_doc_length,
            max_query_length: self.cfg.max_query_length,
        }
    }

    fn feed(&mut self, dir: Dir, mut data: &[u8], ts: Timestamp, out: &mut TxSink<'_>) {
        let d = dir.idx();
        if self.side[d].skip > 0 {
            let n = (self.side[d].skip.min(data.len() as u64)) as usize;
            self.side[d].skip -= n as u64;
            data = &data[n..];
            if self.side[d].skip == 0 {
                self.finish_held(dir, ts, out);
            }
            if data.is_empty() {
                return;
            }
        }
        let mut buf = std::mem::take(&mut self.side[d].buf);
        if buf.is_empty() {
            self.side[d].start = ts;
        }
        parse_in_place(&mut buf, data, |b| self.frames(dir, b, ts, out));
        self.side[d].buf = buf;
    }

    /// Reads the messages at the start of `buf` (the direction's pending
    /// bytes); returns how many bytes were used up.
    fn frames(&mut self, dir: Dir, buf: &[u8], ts: Timestamp, out: &mut TxSink<'_>) -> usize {
        let d = dir.idx();
        let (max_size, max_buf) = (self.cfg.max_message_size, self.cfg.max_message_buffer);
        let mut pos = 0;
        loop {
            let rest = &buf[pos..];
            if self.side[d].lost {
                match RESYNC.scan(rest, |b| parser::find_start(b, max_size), out) {
                    Scan::Found(off) => {
                        pos += off;
                        self.side[d].lost = false;
                        self.side[d].start = ts;
                        continue;
                    }
                    Scan::NotFound(drop) => {
                        pos += drop;
                        break;
                    }
                }
            }
            let Some(h) = parser::header(rest) else { break };
            if !parser::plausible(&h, max_size) {
                out.count("mongodb.bad_headers", 1);
                self.side[d].lost = true;
                self.lose(dir, out);
                continue;
            }
            let leg = |len: usize| Leg {
                start: self.side[d].start,
                end: ts,
                bytes: len as u64,
                lost: false,
            };
            if h.len > max_buf {
                if rest.len() < max_buf {
                    break;
                }
                if rest.len() >= h.len {
                    let l = leg(h.len);
                    self.message(dir, h, &rest[HEADER_LEN..max_buf], true, l, out);
                    pos += h.len;
                    self.side[d].start = ts;
                    continue;
                }
                let s = &mut self.side[d];
                s.held = Some((h, rest[..max_buf].to_vec()));
                s.skip = (h.len - rest.len()) as u64;
                s.held_lost = false;
                pos = buf.len();
                break;
            }
            if rest.len() < h.len {
                break;
            }
            let l = leg(h.len);
            self.message(dir, h, &rest[HEADER_LEN..h.len], false, l, out);
            pos += h.len;
            self.side[d].start = ts;
        }
        pos
    }

    /// The last byte of an over-long message arrived at `ts`.
    fn finish_held(&mut self, dir: Dir, ts: Timestamp, out: &mut TxSink<'_>) {
        let s = &mut self.side[dir.idx()];
        let Some((h, prefix)) = s.held.take() else {
            return;
        };
        let leg = Leg {
            start: s.start,
            end: ts,
            bytes: h.len as u64,
            lost: s.held_lost,
        };
        s.start = ts;
        self.message(dir, h, &prefix[HEADER_LEN..], true, leg, out);
    }

    /// Bytes of direction `dir` were lost or unreadable.
    fn lose(&mut self, dir: Dir, out: &mut TxSink<'_>) {
        match dir {
            Dir::ToServer => self.request_lost = true,
            Dir::ToClient => {
                while let Some((_, p)) = self.pending.pop_expired(|_| true) {
                    self.emit(Some(&p), None, Some(LOSS_RESPONSE), out);
                }
            }
        }
    }

    /// One whole message (`body` after the header; the first
    /// `max_message_buffer` bytes only when `truncated`).
    fn message(
        &mut self,
        dir: Dir,
        h: Header,
        body: &[u8],
        truncated: bool,
        leg: Leg,
        out: &mut TxSink<'_>,
    ) {
        if truncated {
            out.count("mongodb.messages_truncated", 1);
        }
        if parser::opcode_name(h.opcode).is_none() {
            out.count("mongodb.unknown_opcodes", 1);
            return;
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        let (op, body, compressor) = if h.opcode == OP_COMPRESSED {
            out.count("mongodb.compressed_messages", 1);
            let op = super::bson::i32_at(body, 0).unwrap_or(0);
            let size = super::bson::i32_at(body, 4).unwrap_or(-1);
            let id = body.get(8).copied().unwrap_or(0xff);
            let name = parser::compressor_name(id);
            let ok = !truncated
                && size >= 0
                && decompress(
                    id,
                    &body[9.min(body.len())..],
                    size as usize,
                    self.cfg.max_message_buffer,
                    &mut scratch,
                )
                .is_ok();
            if !ok {
                out.count("mongodb.compressed_undecoded", 1);
                scratch.clear();
            }
            (op, &scratch[..], Some(name))
        } else {
            (h.opcode, body, None)
        };
        let undecoded = compressor.is_some() && body.is_empty();
        if op == OP_COMPRESSED || parser::opcode_name(op).is_none() {
            out.count("mongodb.unknown_opcodes", 1);
        } else {
            match dir {
                Dir::ToServer => self.on_request(h, op, body, undecoded, compressor, leg, out),
                Dir::ToClient => self.on_reply(h, op, body, undecoded, compressor, leg, out),
            }
        }
        self.scratch = scratch;
    }

    #[allow(clippy::too_many_arguments)]
    fn on_request(
        &mut self,
        h: Header,
        op: i32,
        body: &[u8],
        undecoded: bool,
        compressor: Option<&'static str>,
        leg: Leg,
        out: &mut TxSink<'_>,
    ) {
        if op == OP_REPLY {
            out.count("mongodb.unexpected_messages", 1);
            return;
        }
        let req = if undecoded {
            Request {
                opcode: op,
                method: "compressed".into(),
                command: true,
                one_way: !matches!(op, OP_MSG | parser::OP_QUERY | parser::OP_GET_MORE),
                query: "compressed()".into(),
                ..Request::default()
            }
        } else {
            parser::request(op, body, &self.opts())
        };
        if req.malformed && !undecoded {
            out.count("mongodb.malformed_messages", 1);
        }
        let p = Pending {
            req,
            leg,
            compressor,
            exhaust: false,
        };
        if p.req.one_way {
            out.count("mongodb.one_way", 1);
            self.emit(Some(&p), None, None, out);
            return;
        }
        if let Some((_, old)) = self.pending.push(h.request_id, p) {
            out.count("mongodb.in_flight_overflow", 1);
            out.count("mongodb.unmatched_requests", 1);
            self.emit(Some(&old), None, Some(UNMATCHED_REQUEST), out);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_reply(
        &mut self,
        h: Header,
        op: i32,
        body: &[u8],
        undecoded: bool,
        compressor: Option<&'static str>,
        leg: Leg,
        out: &mut TxSink<'_>,
    ) {
        if op != OP_REPLY && op != OP_MSG {
            out.count("mongodb.unexpected_messages", 1);
            return;
        }
        let command = self.pending.get_mut(&h.response_to).map(|p| p.req.command);
        let resp = if undecoded {
            Response {
                opcode: op,
                ..Response::default()
            }
        } else {
            parser::response(op, body, command.unwrap_or(op == OP_MSG), &self.opts())
        };
        if resp.malformed && !undecoded {
            out.count("mongodb.malformed_messages", 1);
        }
        let reply = Reply {
            resp,
            leg,
            compressor,
        };
        match self.pending.take(&h.response_to) {
            Some(p) => {
                if reply.resp.more_to_come {
                    // An exhaust cursor or streaming hello: the next reply
                    // answers this one.
                    out.count("mongodb.exhaust_replies", 1);
                    let next = Pending {
                        req: p.req.clone(),
                        leg: Leg {
                            start: leg.end,
                            end: leg.end,
                            bytes: 0,
                            lost: false,
                        },
                        compressor: p.compressor,
                        exhaust: true,
                    };
                    self.emit(Some(&p), Some(&reply), None, out);
                    if let Some((_, old)) = self.pending.push(h.request_id, next) {
                        out.count("mongodb.in_flight_overflow", 1);
                        self.emit(Some(&old), None, Some(UNMATCHED_REQUEST), out);
                    }
                } else {
                    self.emit(Some(&p), Some(&reply), None, out);
                }
            }
            None => {
                out.count("mongodb.unmatched_responses", 1);
                let why = if std::mem::take(&mut self.request_lost) {
                    LOSS_REQUEST
                } else {
                    UNMATCHED_RESPONSE
                };
                self.emit(None, Some(&reply), Some(why), out);
            }
        }
    }

    /// One `type: mongodb` event.
    fn emit(
        &self,
        p: Option<&Pending>,
        r: Option<&Reply>,
        error: Option<&str>,
        out: &mut TxSink<'_>,
    ) {
        let error = error
            .or_else(|| p.and_then(|p| p.leg.loss(true)))
            .or_else(|| r.and_then(|r| r.leg.loss(false)));
        let resp = r.map(|r| &r.resp);
        let failed = error.is_some() || resp.is_some_and(Response::failed);
        if resp.is_some_and(Response::failed) {
            out.count("mongodb.errors", 1);
        }
        let req = p.map(|p| &p.req);
        let t = Transaction {
            status: Some(if failed { Status::Error } else { Status::Ok }),
            error,
            detail: TxDetail {
                code: resp
                    .and_then(|r| r.error_code)
                    .map_or(Code::None, |c| Code::Num(c as u32)),
                method: req.map(|r| r.method.as_bytes()),
                resource: req.map(|r| r.resource.as_bytes()),
                ..TxDetail::default()
            },
            ..common::transaction("mongodb", p.map(|p| &p.leg), r.map(|r| &r.leg))
        };
        let compressor = p
            .and_then(|p| p.compressor)
            .or_else(|| r.and_then(|r| r.compressor));
        out.emit(&t, |w| {
            if let Some(q) = req {
                w.str("method", &q.method);
                w.str("resource", &q.resource);
                w.str("query", &q.query);
                if let Some(text) = &q.request {
                    w.str("request", text);
                }
            }
            if let Some(text) = resp.and_then(|r| r.text.as_deref()) {
                if !text.is_empty() {
                    w.str("response", text);
                }
            }
            w.begin_obj("mongodb");
            let op = req
                .map(|q| q.opcode)
                .or(resp.map(|r| r.opcode))
                .unwrap_or(0);
            w.ascii("opcode", parser::opcode_name(op).unwrap_or("unknown"));
            if let Some(q) = req {
                if let Some(v) = &q.database {
                    w.str("database", v);
                }
                if let Some(v) = &q.collection {
                    w.str("collection", v);
                }
                if let Some(v) = &q.full_collection_name {
                    w.str("fullCollectionName", v);
                }
                if let Some(v) = q.number_to_skip {
                    w.i64("numberToSkip", v.into());
                }
                if let Some(v) = q.number_to_return {
                    w.i64("numberToReturn", v.into());
                }
                if let Some(v) = q.documents {
                    w.u64("documents", v);
                }
                if q.one_way {
                    w.bool("one_way", true);
                }
                if q.checksum {
                    w.bool("checksum", true);
                }
            }
            if let Some(v) = resp
                .and_then(|r| r.cursor_id)
                .or(req.and_then(|q| q.cursor_id))
            {
                w.i64("cursorId", v);
            }
            if let Some(r) = resp {
                if let Some(v) = r.number_returned {
                    w.u64("numberReturned", v);
                }
                if let Some(v) = r.starting_from {
                    w.i64("startingFrom", v.into());
                }
                if let Some(v) = r.n {
                    w.i64("n", v);
                }
                if let Some(v) = r.n_modified {
                    w.i64("nModified", v);
                }
                if let Some(v) = &r.error {
                    w.str("error", v);
                }
                if let Some(v) = r.error_code {
                    w.i64("error_code", v.into());
                }
                if let Some(v) = &r.error_name {
                    w.str("error_name", v);
                }
                if r.write_errors > 0 {
                    w.u64("write_errors", r.write_errors);
                }
                if r.more_to_come {
                    w.bool("more_to_come", true);
                }
            }
            if p.is_some_and(|p| p.exhaust) {
                w.bool("exhaust", true);
            }
            if let Some(c) = compressor {
                w.ascii("compressor", c);
            }
            w.end();
        });
    }

    /// Reports waiting requests older than `limit` (all with `None`).
    fn flush(&mut self, limit: Option<Timestamp>, out: &mut TxSink<'_>) {
        while let Some((_, p)) = self
            .pending
            .pop_expired(|p| limit.is_none_or(|l| p.leg.end < l))
        {
            out.count("mongodb.unmatched_requests", 1);
            self.emit(Some(&p), None, Some(UNMATCHED_REQUEST), out);
        }
    }
}

/// Decompresses an OP_COMPRESSED payload of `size` bytes (at most `max`)
/// into `out`.
fn decompress(
    id: u8,
    data: &[u8],
    size: usize,
    max: usize,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    use std::io::Read;
    if size > max {
        return Err(format!(
            "{size} bytes uncompressed, over the {max}-byte bound"
        ));
    }
    out.clear();
    match id {
        0 => out.extend_from_slice(data),
        1 => {
            let n = snap::raw::decompress_len(data).map_err(|e| e.to_string())?;
            if n != size {
                return Err(format!("snappy says {n} bytes, the header {size}"));
            }
            out.resize(n, 0);
            snap::raw::Decoder::new()
                .decompress(data, out)
                .map_err(|e| e.to_string())?;
        }
        2 => {
            flate2::read::ZlibDecoder::new(data)
                .take(size as u64 + 1)
                .read_to_end(out)
                .map_err(|e| e.to_string())?;
        }
        3 => {
            let mut src = data;
            ruzstd::decoding::StreamingDecoder::new(&mut src)
                .map_err(|e| e.to_string())?
                .take(size as u64 + 1)
                .read_to_end(out)
                .map_err(|e| e.to_string())?;
        }
        _ => return Err(format!("unknown compressor {id}")),
    }
    if out.len() != size {
        return Err(format!(
            "{} bytes uncompressed, the header says {size}",
            out.len()
        ));
    }
    Ok(())
}

impl Session for MongodbSession {
    fn data(&mut self, dir: Dir, data: &[u8], ts: Timestamp, out: &mut TxSink<'_>) {
        self.feed(dir, data, ts, out);
    }

    fn gap(&mut self, dir: Dir, len: u64, ts: Timestamp, out: &mut TxSink<'_>) {
        out.count("mongodb.gap_bytes", len);
        let s = &mut self.side[dir.idx()];
        if s.skip > 0 && len <= s.skip {
            // Inside the skipped tail of an over-long message: still in sync.
            s.skip -= len;
            s.held_lost = true;
            if s.skip == 0 {
                self.finish_held(dir, ts, out);
            }
            return;
        }
        s.skip = 0;
        s.held = None;
        s.buf.clear();
        s.lost = true;
        self.lose(dir, out);
    }

    fn end(&mut self, _dir: Dir, _ts: Timestamp, _out: &mut TxSink<'_>) {}

    fn tick(&mut self, now: Timestamp, out: &mut TxSink<'_>) {
        let limit = now.saturating_sub(self.cfg.transaction_timeout.nanos());
        self.flush(Some(limit), out);
    }

    fn close(&mut self, _now: Timestamp, out: &mut TxSink<'_>) {
        self.flush(None, out);
    }
}

#[cfg(test)]
mod tests {
    use super::decompress;

    #[test]
    fn each_compressor_round_trips_and_sizes_are_checked() {
        use std::io::Write;
        let plain: Vec<u8> = (0..500u32).map(|i| (i % 7) as u8).collect();
        let mut out = Vec::new();
        let snappy = snap::raw::Encoder::new().compress_vec(&plain).unwrap();
        decompress(1, &snappy, plain.len(), 1 << 20, &mut out).unwrap();
        assert_eq!(out, plain);
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(&plain).unwrap();
        let zlib = z.finish().unwrap();
        decompress(2, &zlib, plain.len(), 1 << 20, &mut out).unwrap();
        assert_eq!(out, plain);
        assert!(decompress(2, &zlib, plain.len() - 1, 1 << 20, &mut out).is_err());
        assert!(decompress(1, &snappy, plain.len(), 100, &mut out).is_err());
        assert!(decompress(3, b"not zstd", 10, 100, &mut out).is_err());
        let zstd = ruzstd::encoding::compress_to_vec(
            &plain[..],
            ruzstd::encoding::CompressionLevel::Fastest,
        );
        decompress(3, &zstd, plain.len(), 1 << 20, &mut out).unwrap();
        assert_eq!(out, plain);
        decompress(0, &plain, plain.len(), 1 << 20, &mut out).unwrap();
        assert_eq!(out, plain);
    }
}
