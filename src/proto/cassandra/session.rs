//! One CQL connection: framing per direction (legacy frames, or v5
//! segments after a v5 handshake), body decompression, pairing of
//! requests with responses by stream id, server pushes, the prepared
//! statement cache, gaps and timeouts.
//!
//! Pairing: the server answers a request on the request's stream id, in
//! any order; requests wait in a [`KeyedTxQueue`] by stream id. A request
//! on a stream id that is still waiting means the first one was never
//! answered (a client reuses an id only after its answer): it is reported
//! as unmatched. EVENT frames (stream -1) are one-way events
//! (`cassandra.no_request: true`).
//!
//! Framing: a frame is handled once it is buffered whole, up to
//! `max_frame_bytes`; a larger uncompressed frame is handled from its first
//! [`PREFIX_WANT`] bytes while the rest is skipped without buffering (its
//! transaction still ends at its last byte); a larger compressed frame
//! from its header only. On a v5 connection, once the server has answered
//! the STARTUP with READY or AUTHENTICATE, both directions carry segments
//! (section 2 of the v5 spec): each segment's header CRC24 and payload
//! CRC32 are checked, LZ4 segments decompressed, and the payloads form
//! the frame stream. A capture that starts inside a v5 connection finds
//! the segments by their CRCs.
//!
//! Loss: a gap inside a frame being skipped keeps sync; any other gap (or
//! a byte that is no frame header) makes the direction lost: bytes are
//! scanned for a chain of plausible headers ([`parser::find_start`]) or a
//! segment with valid CRCs. Requests still waiting after a server-side gap
//! that never get an answer are reported with the response-loss text;
//! answers on unknown stream ids after a client-side gap with the
//! request-loss text.

use super::parser::{
    self, flag, op, Compression, CqlResult, DecompressError, Head, Header, Prelude, Rd, Seg,
};
use super::CassandraConfig;
use crate::event::{Code, JsonWriter, Status, Transaction, TxDetail};
use crate::proto::common::errors::{
    LOSS_REQUEST, LOSS_RESPONSE, UNMATCHED_REQUEST, UNMATCHED_RESPONSE,
};
use crate::proto::common::{self, parse_in_place, KeyedTxQueue, Leg, Resync, Scan};
use crate::proto::{Dir, Session, TxSink};
use crate::time::Timestamp;
use std::collections::HashMap;
use std::sync::Arc;

/// Uncompressed frames larger than `max_frame_bytes` are read from this
/// many leading body bytes.
pub const PREFIX_WANT: usize = 64 * 1024;
/// Statements of a BATCH listed in the event (all are counted).
pub const MAX_BATCH_QUERIES: usize = 16;
/// Keys of a SUPPORTED answer written, and values per key.
const MAX_SUPPORTED: usize = 32;
/// Bytes skipped without finding sync before the connection is given up.
const MAX_UNSYNCED: u64 = 4 << 20;
/// Where a lost direction resumes (a header may straddle two chunks).
const RESYNC: Resync = Resync {
    resyncs: "cassandra.resyncs",
    skipped: "cassandra.resync_skipped_bytes",
    keep: 32,
};

/// How a direction's bytes are framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// Frames follow each other (v1 to v4, and v5 before its handshake).
    Frames,
    /// v5 segments, LZ4-compressed when `lz4`.
    Segments { lz4: bool },
}

/// Per-direction state.
#[derive(Debug)]
struct Side {
    /// Bytes of an incomplete frame (or the kept prefix of one skipped).
    buf: Vec<u8>,
    /// Time of the first byte of the incomplete frame.
    start: Timestamp,
    /// Body bytes of the current frame still to skip.
    skip: u64,
    /// The frame being skipped: its header, first byte time, and whether
    /// its buffered prefix is all that will be parsed (uncompressed) or
    /// nothing is (compressed).
    held: Option<(Header, Timestamp)>,
    /// Bytes of the skipped frame were lost in a gap.
    held_lost: bool,
    /// The frame stream lost sync.
    lost: bool,
    /// Bytes skipped while looking for sync.
    lost_bytes: u64,
    framing: Framing,
    /// Bytes of an incomplete v5 segment.
    seg_buf: Vec<u8>,
    /// The segment stream lost sync.
    seg_lost: bool,
}

impl Side {
    fn new() -> Self {
        Side {
            buf: Vec::new(),
            start: 0,
            skip: 0,
            held: None,
            held_lost: false,
            lost: false,
            lost_bytes: 0,
            framing: Framing::Frames,
            seg_buf: Vec::new(),
            seg_lost: false,
        }
    }
}

/// A batch's summary.
#[derive(Debug)]
struct Batch {
    kind: u8,
    count: u16,
    /// Statement texts (`EXECUTE <hex id>` for an unknown prepared id),
    /// at most [`MAX_BATCH_QUERIES`], together at most `max_query_length`.
    queries: Vec<Arc<str>>,
}

/// A request waiting for its response.
#[derive(Debug)]
struct Request {
    h: Header,
    leg: Leg,
    query: Option<Arc<str>>,
    prepared_id: Option<Box<[u8]>>,
    batch: Option<Box<Batch>>,
    /// STARTUP: the COMPRESSION option.
    compression: Option<Compression>,
    /// The body could not be read (compressed without a known algorithm,
    /// or too large to decompress).
    undecoded: bool,
}

/// A response frame, borrowed from the buffer it was read from.
struct Response<'a> {
    h: Header,
    leg: Leg,
    prelude: Prelude<'a>,
    /// The message (after the prelude); None when the body could not be
    /// read.
    body: Option<Rd<'a>>,
}

/// A Cassandra connection.
pub struct CassandraSession {
    cfg: Arc<CassandraConfig>,
    ignored: u32,
    sides: [Side; 2],
    /// The connection's protocol version (the first frame's).
    version: Option<u8>,
    /// Frame body compression (v3/v4), from the STARTUP or the config.
    compression: Option<Compression>,
    pending: KeyedTxQueue<i16, Request>,
    /// Prepared ids to statement texts, at most `max_prepared_statements`.
    prepared: HashMap<Box<[u8]>, Arc<str>>,
    /// Reused output of decompression.
    scratch: Vec<u8>,
    /// Reused output of LZ4 segment decompression.
    seg_scratch: Vec<u8>,
    /// Packet time of the last client-side gap / server-side gap.
    client_gap: Option<Timestamp>,
    server_gap: Option<Timestamp>,
    /// Nothing more is parsed (no sync found for too long).
    given_up: bool,
}

impl CassandraSession {
    /// A new session with the given settings.
    pub fn new(cfg: Arc<CassandraConfig>) -> Self {
        CassandraSession {
            ignored: cfg.ignored_mask(),
            compression: cfg.default_compression(),
            pending: KeyedTxQueue::new(cfg.max_in_flight),
            cfg,
            sides: [Side::new(), Side::new()],
            version: None,
            prepared: HashMap::new(),
            scratch: Vec::new(),
            seg_scratch: Vec::new(),
            client_gap: None,
            server_gap: None,
            given_up: false,
        }
    }

    fn feed(&mut self, dir: Dir, data: &[u8], ts: Timestamp, out: &mut TxSink<'_>) {
        if self.given_up {
            out.count("cassandra.skipped_bytes", data.len() as u64);
            return;
        }
        match self.sides[dir.idx()].framing {
            Framing::Frames => self.frames(dir, data, ts, out),
            Framing::Segments { lz4 } => self.segments(dir, data, lz4, ts, out),
        }
    }

    // ------------------------------------------------------------ segments

    fn segments(&mut self, dir: Dir, data: &[u8], lz4: bool, ts: Timestamp, out: &mut TxSink<'_>) {
        let d = dir.idx();
        let mut buf = std::mem::take(&mut self.sides[d].seg_buf);
        parse_in_place(&mut buf, data, |b| self.segment_loop(dir, b, lz4, ts, out));
        if self.given_up {
            buf = Vec::new();
        }
        self.sides[d].seg_buf = buf;
    }

    /// Handles every whole segment in `bytes`; returns the bytes consumed.
    fn segment_loop(
        &mut self,
        dir: Dir,
        bytes: &[u8],
        lz4: bool,
        ts: Timestamp,
        out: &mut TxSink<'_>,
    ) -> usize {
        let d = dir.idx();
        let mut pos = 0;
        while pos < bytes.len() && !self.given_up {
            let rest = &bytes[pos..];
            if self.sides[d].seg_lost {
                match RESYNC.scan(rest, |b| parser::find_segment(b, lz4), out) {
                    Scan::Found(off) => {
                        self.sides[d].seg_lost = false;
                        self.sides[d].lost_bytes = 0;
                        pos += off;
                        continue;
                    }
                    Scan::NotFound(drop) => {
                        self.unsynced(d, drop, out);
                        return pos + drop;
                    }
                }
            }
            let s = match parser::segment(rest, lz4) {
                Seg::Header(s) => s,
                Seg::More => break,
                Seg::Error => {
                    out.count("cassandra.segment_errors", 1);
                    self.lose_segments(dir);
                    continue;
                }
            };
            let Some(whole) = rest.get(..s.total()) else {
                break;
            };
            pos += s.total();
            let (payload, trailer) = whole[s.header_len..].split_at(s.payload_len);
            if parser::crc32(payload).to_le_bytes() != trailer {
                out.count("cassandra.segment_crc_errors", 1);
                self.lose_frames(dir);
                continue;
            }
            out.count("cassandra.segments", 1);
            if lz4 && s.uncompressed_len > 0 {
                let mut scratch = std::mem::take(&mut self.seg_scratch);
                scratch.clear();
                let ok = parser::lz4_block(payload, s.uncompressed_len, 1 << 17, &mut scratch);
                if ok.is_ok() {
                    self.frames(dir, &scratch, ts, out);
                } else {
                    out.count("cassandra.decompress_errors", 1);
                    self.lose_frames(dir);
                }
                self.seg_scratch = scratch;
            } else {
                self.frames(dir, payload, ts, out);
            }
        }
        pos
    }

    fn lose_segments(&mut self, dir: Dir) {
        let s = &mut self.sides[dir.idx()];
        s.seg_lost = true;
        self.lose_frames(dir);
    }

    /// The frame stream of `dir` lost bytes: what was buffered is dropped
    /// and a frame is looked for.
    fn lose_frames(&mut self, dir: Dir) {
        let s = &mut self.sides[dir.idx()];
        s.buf.clear();
        s.skip = 0;
        s.held = None;
        s.lost = true;
    }

    /// Skipped bytes while unsynced; gives up past [`MAX_UNSYNCED`].
    fn unsynced(&mut self, d: usize, n: usize, out: &mut TxSink<'_>) {
        let s = &mut self.sides[d];
        s.lost_bytes += n as u64;
        if s.lost_bytes > MAX_UNSYNCED {
            out.count("cassandra.unsynced_connections", 1);
            self.given_up = true;
        }
    }

    // ------------------------------------------------------------ frames

    fn frames(&mut self, dir: Dir, mut data: &[u8], ts: Timestamp, out: &mut TxSink<'_>) {
        let d = dir.idx();
        let s = &mut self.sides[d];
        if s.skip > 0 {
            let n = s.skip.min(data.len() as u64) as usize;
            s.skip -= n as u64;
            data = &data[n..];
            if s.skip == 0 {
                self.finish_held(dir, ts, out);
            }
        }
        if data.is_empty() {
            return;
        }
        let before = self.sides[d].framing;
        let mut buf = std::mem::take(&mut self.sides[d].buf);
        let direct = buf.is_empty();
        if direct {
            self.sides[d].start = ts;
        } else {
            buf.extend_from_slice(data);
        }
        let bytes: &[u8] = if direct { data } else { &buf };
        let used = self.frame_loop(dir, bytes, ts, out).min(bytes.len());
        if self.sides[d].framing != before {
            // Segments from here on (a v5 handshake, or found by their
            // CRCs): the rest is theirs (copied: once per connection).
            if let Framing::Segments { lz4 } = self.sides[d].framing {
                let rest = bytes[used..].to_vec();
                if !rest.is_empty() {
                    self.segments(dir, &rest, lz4, ts, out);
                }
            }
            return;
        }
        if direct {
            buf.extend_from_slice(&data[used..]);
        } else {
            buf.drain(..used);
        }
        if self.sides[d].held.is_some() {
            buf.truncate(self.held_keep(d));
        }
        if self.given_up {
            buf = Vec::new();
        }
        self.sides[d].buf = buf;
    }

    /// Bytes kept of a held frame: its header and the body prefix that
    /// will be parsed (none of a compressed body).
    fn held_keep(&self, d: usize) -> usize {
        match self.sides[d].held {
            Some((h, _)) if h.flags & flag::COMPRESS != 0 && h.version < 5 => {
                usize::from(h.header_len)
            }
            Some((h, _)) => usize::from(h.header_len) + PREFIX_WANT,
            None => usize::MAX,
        }
    }

    /// Handles every whole frame in `bytes`; returns the bytes consumed.
    fn frame_loop(&mut self, dir: Dir, bytes: &[u8], ts: Timestamp, out: &mut TxSink<'_>) -> usize {
        let d = dir.idx();
        let response = dir == Dir::ToClient;
        let before = self.sides[d].framing;
        let mut pos = 0;
        while pos < bytes.len() && !self.given_up {
            let rest = &bytes[pos..];
            if self.sides[d].lost {
                if before == Framing::Frames
                    && self.version.is_none_or(|v| v >= 5)
                    && self.try_segments(dir, rest, ts, out)
                {
                    return bytes.len();
                }
                let version = self.version;
                let find = |b: &[u8]| parser::find_start(b, response, version);
                match RESYNC.scan(rest, find, out) {
                    Scan::Found(off) => {
                        let s = &mut self.sides[d];
                        s.lost = false;
                        s.lost_bytes = 0;
                        s.start = ts;
                        pos += off;
                        continue;
                    }
                    Scan::NotFound(drop) => {
                        self.unsynced(d, drop, out);
                        return pos + drop;
                    }
                }
            }
            let h = match parser::header(rest, response) {
                Head::Frame(h) => h,
                Head::More => break,
                Head::Error(_) => {
                    out.count("cassandra.bad_frames", 1);
                    self.sides[d].lost = true;
                    continue;
                }
            };
            let total = h.total();
            let hl = usize::from(h.header_len);
            if total <= rest.len() as u64 {
                let total = total as usize;
                let leg = Leg {
                    start: self.sides[d].start,
                    end: ts,
                    bytes: total as u64,
                    lost: false,
                };
                self.on_frame(dir, h, &rest[hl..total], true, leg, out);
                pos += total;
                self.sides[d].start = ts;
                if self.sides[d].framing != before {
                    return pos;
                }
                continue;
            }
            let compressed = h.flags & flag::COMPRESS != 0 && h.version < 5;
            let avail = rest.len() - hl;
            let big = h.length as usize > self.cfg.max_frame_bytes;
            if big && (compressed || avail >= PREFIX_WANT) {
                // Handled when its last byte has been skipped.
                out.count("cassandra.frames_truncated", 1);
                let s = &mut self.sides[d];
                s.held = Some((h, s.start));
                s.held_lost = false;
                s.skip = total - rest.len() as u64;
                return pos;
            }
            break;
        }
        pos
    }

    /// A lost direction of a connection not known to be v4 or older: a
    /// capture that starts inside a v5 connection carries segments. True
    /// when a segment was found (and the bytes fed as segments).
    fn try_segments(&mut self, dir: Dir, rest: &[u8], ts: Timestamp, out: &mut TxSink<'_>) -> bool {
        for lz4 in [false, true] {
            if let Some(off) = parser::find_segment_strict(rest, lz4, dir == Dir::ToClient) {
                out.count("cassandra.v5_segments_detected", 1);
                let s = &mut self.sides[dir.idx()];
                s.framing = Framing::Segments { lz4 };
                s.seg_lost = false;
                s.buf.clear();
                s.lost = true;
                self.version = Some(5);
                self.segments(dir, &rest[off..], lz4, ts, out);
                return true;
            }
        }
        false
    }

    /// The held frame's last byte arrived at `ts`: handle it from its
    /// kept prefix.
    fn finish_held(&mut self, dir: Dir, ts: Timestamp, out: &mut TxSink<'_>) {
        let d = dir.idx();
        let Some((h, start)) = self.sides[d].held.take() else {
            return;
        };
        let buf = std::mem::take(&mut self.sides[d].buf);
        let leg = Leg {
            start,
            end: ts,
            bytes: h.total(),
            lost: std::mem::take(&mut self.sides[d].held_lost),
        };
        let body = buf.get(usize::from(h.header_len)..).unwrap_or(&[]);
        self.on_frame(dir, h, body, false, leg, out);
        let mut buf = buf;
        buf.clear();
        self.sides[d].buf = buf;
        self.sides[d].start = ts;
    }

    /// One frame: `whole` when `body` is all of it.
    fn on_frame(
        &mut self,
        dir: Dir,
        h: Header,
        body: &[u8],
        whole: bool,
        leg: Leg,
        out: &mut TxSink<'_>,
    ) {
        if self.version.is_none() {
            self.version = Some(h.version);
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        let body = if h.flags & flag::COMPRESS != 0 && h.version < 5 {
            match self.compression {
                None => {
                    out.count("cassandra.compressed_unknown", 1);
                    None
                }
                Some(_) if !whole => None,
                Some(c) => {
                    match parser::decompress(c, body, self.cfg.max_decompressed_bytes, &mut scratch)
                    {
                        Ok(()) => Some(&scratch[..]),
                        Err(DecompressError::TooLarge) => {
                            out.count("cassandra.decompress_too_large", 1);
                            None
                        }
                        Err(DecompressError::Corrupt) => {
                            out.count("cassandra.decompress_errors", 1);
                            None
                        }
                    }
                }
            }
        } else {
            Some(body)
        };
        let read = body.and_then(|b| parser::prelude(&h, b));
        match dir {
            Dir::ToServer => self.on_request(h, read.map(|(_, r)| r), leg, out),
            Dir::ToClient => {
                let (prelude, body) = match read {
                    Some((p, r)) => (p, Some(r)),
                    None => (Prelude::default(), None),
                };
                self.on_response(
                    Response {
                        h,
                        leg,
                        prelude,
                        body,
                    },
                    out,
                );
            }
        }
        self.scratch = scratch;
    }

    // ------------------------------------------------------------ requests

    fn on_request(&mut self, h: Header, body: Option<Rd<'_>>, leg: Leg, out: &mut TxSink<'_>) {
        let max_q = self.cfg.max_query_length;
        let mut req = Request {
            h,
            leg,
            query: None,
            prepared_id: None,
            batch: None,
            compression: None,
            undecoded: body.is_none(),
        };
        if let Some(r) = body {
            match parser::request(&h, r) {
                parser::Request::Statement(q, _) => req.query = Some(shared(q, max_q)),
                parser::Request::Execute(id) => {
                    match self.prepared.get(id) {
                        Some(q) => req.query = Some(Arc::clone(q)),
                        None => out.count("cassandra.unknown_prepared", 1),
                    }
                    req.prepared_id = Some(id.into());
                }
                parser::Request::Batch { kind, count } => {
                    req.batch = Some(Box::new(self.batch(&h, r, kind, count, out)));
                }
                parser::Request::Startup { compression, .. } => {
                    req.compression = compression.and_then(Compression::from_name);
                    if compression.is_some() && req.compression.is_none() {
                        out.count("cassandra.unknown_compression", 1);
                    }
                    if h.version < 5 {
                        // Frames after the STARTUP may be compressed.
                        self.compression = req.compression;
                    }
                }
                parser::Request::Other => {}
            }
        }
        if h.stream < 0 {
            out.count("cassandra.bad_stream_ids", 1);
        }
        if let Some(old) = self.pending.take(&h.stream) {
            // The client reuses an id only after its answer: the first
            // request was never answered.
            out.count("cassandra.stream_reused", 1);
            self.report_unanswered(old, out);
        }
        if let Some((_, old)) = self.pending.push(h.stream, req) {
            out.count("cassandra.in_flight_dropped", 1);
            self.report_unanswered(old, out);
        }
    }

    /// A BATCH's summary: its statements named (prepared ones by their
    /// text when known), within the bounds.
    fn batch(&self, h: &Header, r: Rd<'_>, kind: u8, count: u16, out: &mut TxSink<'_>) -> Batch {
        let mut b = Batch {
            kind,
            count,
            queries: Vec::new(),
        };
        let mut budget = self.cfg.max_query_length;
        let mut unknown = 0;
        parser::batch_items(h, r, MAX_BATCH_QUERIES, |item| {
            let q = match item {
                parser::BatchItem::Query(q) => shared(q, budget),
                parser::BatchItem::Prepared(id) => match self.prepared.get(id) {
                    Some(q) if q.len() <= budget => Arc::clone(q),
                    Some(q) => shared(q.as_bytes(), budget),
                    None => {
                        unknown += 1;
                        Arc::from(format!("EXECUTE {}", hex(id)).as_str())
                    }
                },
            };
            budget = budget.saturating_sub(q.len());
            b.queries.push(q);
        });
        if unknown > 0 {
            out.count("cassandra.unknown_prepared", unknown);
        }
        b
    }

    /// A request that will get no answer: unmatched, or lost with a gap.
    fn report_unanswered(&self, req: Request, out: &mut TxSink<'_>) {
        let lost = self.server_gap.is_some_and(|g| g >= req.leg.start);
        if !lost {
            out.count("cassandra.unmatched_requests", 1);
        }
        let error = if req.leg.lost {
            LOSS_REQUEST
        } else if lost {
            LOSS_RESPONSE
        } else {
            UNMATCHED_REQUEST
        };
        self.emit(Some(&req), None, Some(error), out);
    }

    // ------------------------------------------------------------ responses

    fn on_response(&mut self, resp: Response<'_>, out: &mut TxSink<'_>) {
        let h = resp.h;
        if h.opcode == op::EVENT || h.stream < 0 {
            out.count("cassandra.pushed_events", 1);
            self.emit(None, Some(&resp), None, out);
            return;
        }
        let Some(req) = self.pending.take(&h.stream) else {
            out.count("cassandra.unmatched_responses", 1);
            let lost = self.client_gap.is_some_and(|g| g <= resp.leg.start);
            let error = if lost {
                LOSS_REQUEST
            } else {
                UNMATCHED_RESPONSE
            };
            self.emit(None, Some(&resp), Some(error), out);
            return;
        };
        match (req.h.opcode, h.opcode) {
            (op::STARTUP, op::READY | op::AUTHENTICATE) if req.h.version >= 5 && h.version >= 5 => {
                // v5: segments from here on, both ways.
                let lz4 = req.compression == Some(Compression::Lz4);
                out.count("cassandra.v5_connections", 1);
                for s in &mut self.sides {
                    s.framing = Framing::Segments { lz4 };
                    s.buf.clear();
                    s.seg_buf.clear();
                }
            }
            (op::STARTUP, op::ERROR) => self.compression = self.cfg.default_compression(),
            (op::PREPARE, op::RESULT) => {
                if let (Some(q), Some(r)) = (&req.query, resp.body) {
                    if let CqlResult::Prepared { id, .. } = parser::result(h.version, r) {
                        self.remember(id, Arc::clone(q), out);
                    }
                }
            }
            _ => {}
        }
        let error = req.leg.loss(true).or(resp.leg.loss(false));
        self.emit(Some(&req), Some(&resp), error, out);
    }

    fn remember(&mut self, id: &[u8], q: Arc<str>, out: &mut TxSink<'_>) {
        if let Some(slot) = self.prepared.get_mut(id) {
            *slot = q;
            return;
        }
        if self.prepared.len() >= self.cfg.max_prepared_statements.max(1) {
            if let Some(k) = self.prepared.keys().next().cloned() {
                self.prepared.remove(&k);
                out.count("cassandra.prepared_evicted", 1);
            }
        }
        self.prepared.insert(id.into(), q);
    }

    // ------------------------------------------------------------ events

    fn emit(
        &self,
        req: Option<&Request>,
        resp: Option<&Response<'_>>,
        error: Option<&str>,
        out: &mut TxSink<'_>,
    ) {
        let op_bit = |o: u8| 1u32 << (o & 0x1f);
        if req.is_some_and(|r| self.ignored & op_bit(r.h.opcode) != 0)
            || resp.is_some_and(|r| self.ignored & op_bit(r.h.opcode) != 0)
        {
            out.count("cassandra.ignored_transactions", 1);
            return;
        }
        let server_error = resp.filter(|r| r.h.opcode == op::ERROR).and_then(|r| {
            r.body
                .and_then(|b| parser::error(r.h.version, b))
                .map(|e| e.code)
        });
        let failed = error.is_some() || resp.is_some_and(|r| r.h.opcode == op::ERROR);
        if server_error.is_some() {
            out.count("cassandra.errors", 1);
        }
        let method = match (req, resp) {
            (Some(r), _) => parser::op_name(r.h.opcode),
            (None, Some(r)) => parser::op_name(r.h.opcode),
            (None, None) => "UNKNOWN",
        };
        let query = req.and_then(|r| r.query.as_deref());
        let t = Transaction {
            status: Some(if failed { Status::Error } else { Status::Ok }),
            error,
            detail: TxDetail {
                code: server_error.map_or(Code::None, |c| Code::Num(c as u32)),
                method: Some(method.as_bytes()),
                resource: query.map(str::as_bytes),
                ..TxDetail::default()
            },
            ..common::transaction("cassandra", req.map(|r| &r.leg), resp.map(|r| &r.leg))
        };
        let cfg = &self.cfg;
        out.emit(&t, |w| {
            w.ascii("method", method);
            if let Some(q) = query {
                w.str("query", q);
            }
            w.begin_obj("cassandra");
            if req.is_none() {
                w.bool("no_request", true);
            }
            if let Some(r) = req.filter(|_| cfg.send_request) {
                w.begin_obj("request");
                if cfg.send_request_header {
                    write_header(w, &r.h);
                }
                write_request(w, r);
                w.end();
            }
            if let Some(r) = resp.filter(|_| cfg.send_response) {
                w.begin_obj("response");
                if cfg.send_response_header {
                    write_header(w, &r.h);
                }
                write_response(w, r);
                w.end();
            }
            w.end();
        });
    }

    /// Reports the requests older than `limit` (all with `None`).
    fn flush(&mut self, limit: Option<Timestamp>, out: &mut TxSink<'_>) {
        while let Some((_, req)) = self
            .pending
            .pop_expired(|r| limit.is_none_or(|l| r.leg.end < l))
        {
            self.report_unanswered(req, out);
        }
    }
}

fn write_header(w: &mut JsonWriter<'_>, h: &Header) {
    w.begin_obj("headers");
    w.ascii("version", parser::version_name(h.version));
    w.ascii("flags", parser::flags_name(h.flags));
    w.i64("stream", i64::from(h.stream));
    w.ascii("op", parser::op_name(h.opcode));
    w.u64("length", u64::from(h.length));
    w.end();
}

fn write_request(w: &mut JsonWriter<'_>, r: &Request) {
    if let Some(q) = &r.query {
        w.str("query", q);
    }
    if let Some(id) = &r.prepared_id {
        w.str("prepared_id", &hex(id));
    }
    if let Some(b) = &r.batch {
        w.begin_obj("batch");
        w.ascii("type", parser::batch_type(b.kind));
        w.u64("count", u64::from(b.count));
        w.begin_arr("queries");
        for q in &b.queries {
            w.elem_str(q);
        }
        w.end_arr();
        w.end();
    }
    if let Some(c) = r.compression {
        w.ascii("compression", c.name());
    }
    if r.undecoded {
        w.bool("undecoded", true);
    }
}

fn write_response(w: &mut JsonWriter<'_>, r: &Response<'_>) {
    if let Some(t) = r.prelude.trace_id {
        w.str("trace_id", &uuid(t));
    }
    if let Some(warn) = r.prelude.warnings {
        w.begin_arr("warnings");
        let _ = Rd::new(warn).string_list(|s| w.elem_str(&String::from_utf8_lossy(s)));
        w.end_arr();
    }
    let Some(body) = r.body else {
        w.bool("undecoded", true);
        return;
    };
    let v = r.h.version;
    match r.h.opcode {
        op::RESULT => write_result(w, &parser::result(v, body)),
        op::ERROR => {
            if let Some(e) = parser::error(v, body) {
                write_error(w, &e);
            }
        }
        op::SUPPORTED => {
            let mut rd = body;
            w.begin_obj("supported");
            let _ = (|| {
                let n = rd.u16()?;
                for i in 0..n {
                    let k = rd.string()?;
                    let keep = usize::from(i) < MAX_SUPPORTED;
                    if keep {
                        // A key from the wire: JsonWriter does not escape
                        // keys, so characters that would need it become `_`.
                        let key: String = String::from_utf8_lossy(k)
                            .chars()
                            .map(|c| {
                                if c.is_control() || c == '"' || c == '\\' {
                                    '_'
                                } else {
                                    c
                                }
                            })
                            .collect();
                        w.begin_arr(&key);
                    }
                    let mut j = 0;
                    let listed = rd.string_list(|s| {
                        if keep && j < MAX_SUPPORTED {
                            w.elem_str(&String::from_utf8_lossy(s));
                        }
                        j += 1;
                    });
                    // Closed even when the list is cut short.
                    if keep {
                        w.end_arr();
                    }
                    listed?;
                }
                Some(())
            })();
            w.end();
        }
        op::AUTHENTICATE => {
            let mut rd = body;
            if let Some(class) = rd.string() {
                w.begin_obj("authentication");
                w.bytes_lossy("class", class);
                w.end();
            }
        }
        op::EVENT => {
            if let Some(e) = parser::event(v, body) {
                w.begin_obj("event");
                match e {
                    parser::Event::Node {
                        kind,
                        change,
                        addr,
                        port,
                    } => {
                        w.bytes_lossy("type", kind);
                        w.bytes_lossy("change", change);
                        w.ip("host", addr);
                        w.i64("port", i64::from(port));
                    }
                    parser::Event::Schema(s) => {
                        w.ascii("type", "SCHEMA_CHANGE");
                        write_schema_change(w, &s);
                    }
                    parser::Event::Other(kind) => w.bytes_lossy("type", kind),
                }
                w.end();
            }
        }
        _ => {}
    }
}

fn write_result(w: &mut JsonWriter<'_>, res: &CqlResult<'_>) {
    w.begin_obj("result");
    w.ascii("type", parser::result_type(res));
    match res {
        CqlResult::Rows(meta, rows) => {
            w.begin_obj("rows");
            if let Some(n) = rows {
                w.i64("num_rows", i64::from(*n));
            }
            if let Some(m) = meta {
                write_meta(w, "meta", m);
            }
            w.end();
        }
        CqlResult::SetKeyspace(k) => w.bytes_lossy("keyspace", k),
        CqlResult::Prepared { id, req, resp } => {
            w.begin_obj("prepared");
            w.str("prepared_id", &hex(id));
            if let Some(m) = req {
                write_meta(w, "req_meta", m);
            }
            if let Some(m) = resp {
                write_meta(w, "resp_meta", m);
            }
            w.end();
        }
        CqlResult::SchemaChange(Some(s)) => write_schema_change(w, s),
        CqlResult::SchemaChange(None) | CqlResult::Void => {}
        CqlResult::Unknown(k) => w.i64("kind", i64::from(*k)),
    }
    w.end();
}

fn write_meta(w: &mut JsonWriter<'_>, key: &str, m: &parser::Meta<'_>) {
    w.begin_obj(key);
    if let Some(k) = m.keyspace {
        w.bytes_lossy("keyspace", k);
    }
    if let Some(t) = m.table {
        w.bytes_lossy("table", t);
    }
    w.ascii("flags", parser::rows_flags_name(m.flags));
    w.i64("col_count", i64::from(m.col_count));
    if let Some(n) = m.pkey_count {
        w.i64("pkey_columns", i64::from(n));
    }
    if let Some(p) = m.paging_state {
        w.str("paging_state", &hex(p));
    }
    w.end();
}

fn write_schema_change(w: &mut JsonWriter<'_>, s: &parser::SchemaChange<'_>) {
    w.begin_obj("schema_change");
    w.bytes_lossy("change", s.change);
    if let Some(t) = s.target {
        w.bytes_lossy("target", t);
    }
    w.bytes_lossy("keyspace", s.keyspace);
    if let Some(t) = s.table {
        w.bytes_lossy("table", t);
    }
    if let Some(o) = s.object {
        w.bytes_lossy("object", o);
    }
    if let Some(n) = s.name {
        w.bytes_lossy("name", n);
    }
    if let Some(a) = s.args {
        w.begin_arr("args");
        let _ = Rd::new(a).string_list(|s| w.elem_str(&String::from_utf8_lossy(s)));
        w.end_arr();
    }
    w.end();
}

fn write_error(w: &mut JsonWriter<'_>, e: &parser::Error<'_>) {
    w.begin_obj("error");
    w.i64("code", i64::from(e.code));
    w.bytes_lossy("msg", e.msg);
    w.ascii("type", parser::error_type(e.code));
    let d = &e.details;
    if *d != parser::ErrorDetails::default() {
        w.begin_obj("details");
        if let Some(c) = d.consistency {
            w.ascii("read_consistency", parser::consistency_name(c));
        }
        let ints = [
            ("required", d.required),
            ("alive", d.alive),
            ("received", d.received),
            ("blockfor", d.blockfor),
            ("num_failures", d.num_failures),
        ];
        for (k, v) in ints {
            if let Some(v) = v {
                w.i64(k, i64::from(v));
            }
        }
        if let Some(t) = d.write_type {
            w.bytes_lossy("write_type", t);
        }
        if let Some(p) = d.data_present {
            w.bool("data_present", p);
        }
        if let Some(k) = d.keyspace {
            w.bytes_lossy("keyspace", k);
        }
        if let Some(t) = d.table {
            w.bytes_lossy("table", t);
        }
        if let Some(id) = d.stmt_id {
            w.str("stmt_id", &hex(id));
        }
        if let Some(f) = d.function {
            w.bytes_lossy("function", f);
        }
        if let Some(a) = d.arg_types {
            w.begin_arr("arg_types");
            let _ = Rd::new(a).string_list(|s| w.elem_str(&String::from_utf8_lossy(s)));
            w.end_arr();
        }
        w.end();
    }
    w.end();
}

/// Lower-case hex of an id.
fn hex(b: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for &x in b {
        s.push(DIGITS[usize::from(x >> 4)] as char);
        s.push(DIGITS[usize::from(x & 15)] as char);
    }
    s
}

/// A [uuid] in its canonical form.
fn uuid(b: &[u8]) -> String {
    let h = hex(b);
    if h.len() != 32 {
        return h;
    }
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// `b` as shared text of at most `max` bytes (cut at a character
/// boundary; invalid UTF-8 replaced).
fn shared(b: &[u8], max: usize) -> Arc<str> {
    let cut = &b[..b.len().min(max)];
    match std::str::from_utf8(cut) {
        Ok(s) => Arc::from(s),
        Err(e) if e.error_len().is_none() => {
            Arc::from(std::str::from_utf8(&cut[..e.valid_up_to()]).unwrap_or_default())
        }
        Err(_) => {
            let s = String::from_utf8_lossy(cut);
            let mut end = s.len().min(max);
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            Arc::from(&s[..end])
        }
    }
}

impl Session for CassandraSession {
    fn data(&mut self, dir: Dir, data: &[u8], ts: Timestamp, out: &mut TxSink<'_>) {
        self.feed(dir, data, ts, out);
    }

    fn gap(&mut self, dir: Dir, len: u64, ts: Timestamp, out: &mut TxSink<'_>) {
        if self.given_up {
            return;
        }
        out.count("cassandra.gap_bytes", len);
        match dir {
            Dir::ToServer => self.client_gap = Some(ts),
            Dir::ToClient => self.server_gap = Some(ts),
        }
        let s = &mut self.sides[dir.idx()];
        if s.framing == Framing::Frames && s.skip >= len && s.held.is_some() {
            // Inside a frame being skipped: still in sync.
            s.skip -= len;
            s.held_lost = true;
            if s.skip == 0 {
                self.finish_held(dir, ts, out);
            }
            return;
        }
        out.count("cassandra.gaps_resync", 1);
        if s.framing == Framing::Frames {
            self.lose_frames(dir);
        } else {
            s.seg_buf.clear();
            self.lose_segments(dir);
        }
    }

    fn end(&mut self, _dir: Dir, _ts: Timestamp, _out: &mut TxSink<'_>) {}

    fn tick(&mut self, now: Timestamp, out: &mut TxSink<'_>) {
        let limit = now.saturating_sub(self.cfg.transaction_timeout.nanos());
        self.flush(Some(limit), out);
        for g in [&mut self.client_gap, &mut self.server_gap] {
            if g.is_some_and(|t| t < limit) {
                *g = None;
            }
        }
    }

    fn close(&mut self, _now: Timestamp, out: &mut TxSink<'_>) {
        self.flush(None, out);
    }
}
