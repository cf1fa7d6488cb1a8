//! One MySQL connection: packet framing per direction, the handshake,
//! pairing of commands with responses, and resynchronisation after gaps.
//!
//! Framing is streaming: a packet is handled once its header and payload
//! are buffered, except packets longer than [`MAX_BUFFERED`], which are
//! handled from their first [`PREFIX_WANT`] bytes while the rest is
//! skipped without buffering (rows of a large result set are counted, not
//! stored). A gap that falls inside a packet being skipped keeps the
//! stream in sync; any other gap makes the direction *lost*: bytes are
//! scanned for the next packet header that parses as a plausible command
//! (client side) or a chain of consecutive response packets (server side)
//! and parsing resumes there. The transaction whose response lost bytes
//! carries `error.message: Packet loss while capturing the response` and
//! keeps the rows counted so far.
//!
//! Mid-stream pickup (no handshake seen) works: CLIENT_DEPRECATE_EOF is
//! then inferred from the packet after the column definitions (a classic
//! EOF is shorter than 7 bytes), and row terminators are recognised by a
//! rule that holds in both variants ([`parser::is_row_terminator`]).
//!
//! Not emitted as events: COM_STMT_CLOSE and COM_STMT_SEND_LONG_DATA
//! (they have no response; counted as `mysql.stmt_close` /
//! `mysql.stmt_send_long_data`) and responses without a request
//! (`mysql.unmatched_responses`).

use super::compress::{self, Algorithm, Piece, Unwrap};
use super::parser::{self, caps, cmd, PacketHeader, HEADER_LEN, MAX_PAYLOAD};
use super::MysqlConfig;
use crate::aggregate::Code;
use crate::event::{JsonWriter, Status, Transaction, TxDetail};
use crate::proto::common::errors::{LOSS_REQUEST, LOSS_RESPONSE, UNMATCHED_REQUEST};
use crate::proto::common::{self, parse_in_place, Overflow, Pushed, Resync, Scan, TxQueue};
use crate::proto::{Dir, Session, TxSink};
use crate::time::Timestamp;
use std::collections::HashMap;
use std::sync::Arc;

/// Packets up to this payload size are buffered whole before parsing.
pub const MAX_BUFFERED: usize = 64 * 1024;
/// Larger packets are parsed from this many leading bytes.
pub const PREFIX_WANT: usize = 8 * 1024;
/// Where a lost direction resumes; 16 KiB are kept for the next scan (a
/// packet chain may straddle two chunks).
const RESYNC: Resync = Resync {
    resyncs: "mysql.resyncs",
    skipped: "mysql.resync_skipped_bytes",
    keep: 16 * 1024,
};
/// Bytes skipped without finding sync before the connection is given up.
const MAX_UNSYNCED: u64 = 1 << 20;
/// Links of a packet chain that are enough to trust a resync point.
const CHAIN_ENOUGH: u32 = 32;
/// Distinct tables kept for `path`.
const MAX_TABLES: usize = 8;
/// Column names/types kept per result set.
const MAX_COLUMNS: usize = 4096;

/// Connection phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Nothing seen yet: a greeting or a command decides.
    Start,
    /// Greeting seen, waiting for the client's HandshakeResponse.
    Greeting,
    /// Login sent, waiting for the server's OK/ERR.
    Auth,
    /// Command phase.
    Ready,
    /// TLS or replication: nothing more is parsed.
    Skipped,
}

/// What follows a run of column (or parameter) definitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AfterDefs {
    /// Rows (binary protocol when true).
    Rows(bool),
    /// The column definitions of a COM_STMT_PREPARE reply.
    PrepareColumns(u16),
    /// The response ends.
    Done,
}

/// Where the response in progress is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resp {
    /// The first packet of a response (or of the next result of a
    /// multi-result response).
    Idle,
    /// Definitions left to read (`u64::MAX`: until an EOF, COM_FIELD_LIST).
    Defs(u64, AfterDefs),
    /// Definitions read; a classic EOF may follow.
    MaybeEof(AfterDefs),
    /// Result rows until a terminator or ERR.
    Rows(bool),
    /// Structure unknown: an OK or ERR ends it, else the next command.
    Generic,
    /// LOCAL INFILE requested: the client uploads, then OK or ERR.
    Infile,
    /// The response is complete (transient, never stored).
    Done,
}

/// Shorthand for [`Resp::Done`].
const DONE: Resp = Resp::Done;

/// Per-direction framing state.
#[derive(Debug, Default)]
struct Stream {
    /// Bytes of an incomplete packet.
    buf: Vec<u8>,
    /// Bytes of the current packet still to skip.
    skip: u64,
    /// The stream lost sync after a gap.
    lost: bool,
    /// The last packet had the maximum length: the next one continues it.
    cont: bool,
    /// Bytes skipped while looking for sync.
    lost_bytes: u64,
}

/// A prepared statement remembered between PREPARE and EXECUTE.
#[derive(Debug, Clone, Default)]
struct Stmt {
    method: String,
    query: String,
    num_params: usize,
    types: parser::StmtParamTypes,
}

/// One command and what has been seen of its response.
#[derive(Debug, Default)]
struct MysqlTx {
    command: u8,
    method: String,
    query: Option<String>,
    params: Vec<String>,
    statement_id: Option<u32>,
    /// For COM_INIT_DB / `USE`: the database that becomes current on OK.
    use_db: Option<String>,
    /// A response without a request (parsed to stay in step, never emitted).
    orphan: bool,
    request_start: Option<Timestamp>,
    request_end: Option<Timestamp>,
    request_bytes: u64,
    request_lost: bool,
    response_start: Option<Timestamp>,
    response_end: Option<Timestamp>,
    response_bytes: u64,
    response_lost: bool,
    /// Response packets seen.
    response_packets: u64,
    ok: Option<parser::OkPacket>,
    error_code: Option<u16>,
    error_message: Option<String>,
    num_fields: Option<u64>,
    num_rows: u64,
    results: u32,
    columns: Vec<String>,
    column_types: Vec<(u8, bool)>,
    tables: Vec<String>,
    rows: Vec<Vec<String>>,
    infile: Option<String>,
    /// CLIENT_QUERY_ATTRIBUTES: the attributes sent before the statement.
    query_attributes: Option<parser::QueryAttributes>,
}

/// A MySQL connection.
pub struct MysqlSession {
    cfg: Arc<MysqlConfig>,
    phase: Phase,
    server_caps: u32,
    /// The negotiated capabilities are known (the login was seen).
    caps_known: bool,
    /// CLIENT_DEPRECATE_EOF: known from the handshake, or inferred.
    deprecate_eof: Option<bool>,
    server_version: Option<String>,
    user: Option<String>,
    database: Option<String>,
    streams: [Stream; 2],
    /// Commands awaiting their response; a full queue reports its oldest.
    pending: TxQueue<MysqlTx>,
    resp: Resp,
    /// A classic EOF with this sequence id may follow a response that was
    /// completed without knowing whether EOFs are sent; it is swallowed.
    swallow_eof: Option<u8>,
    stmts: HashMap<u32, Stmt>,
    /// The compressed protocol (zlib or zstd) in effect: each direction's compressed
    /// framing, unwrapped before the packets are framed.
    compressed: Option<Box<[Unwrap; 2]>>,
    /// A gap broke a direction's compressed framing: look for a header.
    zlost: [bool; 2],
    /// Bytes of the connection seen (a compressed header is looked for in
    /// the first ones when the handshake was not seen).
    seen: [bool; 2],
    /// The connection's fields as every event writes them, rendered when
    /// they change ([`Self::render_conn`]): `user` and the end of `mysql`.
    conn_json: ConnJson,
}

/// Pre-rendered JSON of what a connection's events repeat: each piece is
/// whole fields (`"user":{"name":"..."}`; `"server_version":"...",
/// "schema":"..."`), empty when it has none.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct ConnJson {
    user: Vec<u8>,
    tail: Vec<u8>,
}

impl MysqlSession {
    /// A new session with the given settings.
    pub fn new(cfg: Arc<MysqlConfig>) -> Self {
        let pending = TxQueue::new(cfg.max_in_flight, Overflow::EvictOldest);
        MysqlSession {
            cfg,
            phase: Phase::Start,
            server_caps: 0,
            caps_known: false,
            deprecate_eof: None,
            server_version: None,
            user: None,
            database: None,
            streams: Default::default(),
            pending,
            resp: Resp::Idle,
            swallow_eof: None,
            stmts: HashMap::new(),
            compressed: None,
            zlost: [false; 2],
            seen: [false; 2],
            conn_json: ConnJson::default(),
        }
    }

    /// Renders [`ConnJson`] from the connection's fields (after any of
    /// them changes), with the field-by-field writer.
    fn render_conn(&mut self) {
        self.conn_json = self.conn_fields();
    }

    fn conn_fields(&self) -> ConnJson {
        let mut j = ConnJson::default();
        let mut w = JsonWriter::new(&mut j.user);
        if let Some(u) = &self.user {
            w.begin_obj("user");
            w.str("name", u);
            w.end();
        }
        let mut w = JsonWriter::new(&mut j.tail);
        write_conn_tail(&mut w, self);
        j
    }

    fn feed(&mut self, dir: Dir, data: &[u8], ts: Timestamp, out: &mut TxSink<'_>) {
        let d = dir.idx();
        if !std::mem::replace(&mut self.seen[d], true) && self.phase == Phase::Start {
            if let Some(a) = compress::detect(data) {
                // Picked up mid-stream on a compressed connection; a packet
                // sent as is does not tell the algorithm, the first
                // compressed one does.
                out.count("mysql.compressed_connections", 1);
                out.count("mysql.compressed_midstream", 1);
                self.phase = Phase::Ready;
                self.compressed = Some(Box::new([Unwrap::guessed(a), Unwrap::guessed(a)]));
            }
        }
        let Some(mut z) = self.compressed.take() else {
            return self.feed_plain(dir, data, ts, out);
        };
        let mut data = data;
        if self.zlost[d] {
            match (0..data.len()).find(|&i| compress::looks_compressed(&data[i..])) {
                Some(off) => {
                    self.zlost[d] = false;
                    out.count("mysql.resync_skipped_bytes", off as u64);
                    data = &data[off..];
                }
                None => {
                    out.count("mysql.resync_skipped_bytes", data.len() as u64);
                    self.compressed = Some(z);
                    return;
                }
            }
        }
        let mut lost = false;
        let (packets, errors) = (z[d].packets, z[d].errors);
        z[d].feed(data, &mut |p| match p {
            Piece::Plain(b) => {
                if lost {
                    self.lose(dir, out);
                    lost = false;
                }
                self.feed_plain(dir, b, ts, out)
            }
            Piece::Lost => lost = true,
        });
        if lost {
            self.lose(dir, out);
        }
        out.count("mysql.compressed_packets", z[d].packets - packets);
        out.count("mysql.decompress_errors", z[d].errors - errors);
        if self.compressed.is_none() && self.phase != Phase::Skipped {
            self.compressed = Some(z);
        }
    }

    /// Plain bytes of `dir` were lost: the direction resynchronises.
    fn lose(&mut self, dir: Dir, out: &mut TxSink<'_>) {
        if dir == Dir::ToClient {
            for tx in self.pending.iter_mut() {
                tx.response_lost = true;
            }
        }
        out.count("mysql.gaps_resync", 1);
        let s = &mut self.streams[dir.idx()];
        s.skip = 0;
        s.buf.clear();
        s.cont = false;
        s.lost = true;
    }

    fn feed_plain(&mut self, dir: Dir, mut data: &[u8], ts: Timestamp, out: &mut TxSink<'_>) {
        let d = dir.idx();
        if self.phase == Phase::Skipped {
            out.count("mysql.skipped_bytes", data.len() as u64);
            return;
        }
        let s = &mut self.streams[d];
        if s.skip > 0 {
            let n = (s.skip.min(data.len() as u64)) as usize;
            s.skip -= n as u64;
            data = data.get(n..).unwrap_or(&[]);
            self.touch(dir, ts);
        }
        if data.is_empty() {
            return;
        }
        let mut buf = std::mem::take(&mut self.streams[d].buf);
        parse_in_place(&mut buf, data, |b| self.parse_packets(dir, b, ts, out));
        if self.phase == Phase::Skipped {
            buf = Vec::new();
        }
        self.streams[d].buf = buf;
    }

    /// Marks the transaction the bytes of `dir` belong to as active at `ts`.
    fn touch(&mut self, dir: Dir, ts: Timestamp) {
        match dir {
            Dir::ToServer => {
                if let Some(tx) = self.pending.back_mut() {
                    tx.request_end = Some(ts);
                }
            }
            Dir::ToClient => {
                if let Some(tx) = self.pending.front_mut() {
                    tx.response_end = Some(ts);
                }
            }
        }
    }

    /// Handles every whole packet in `bytes`; returns the bytes consumed.
    fn parse_packets(
        &mut self,
        dir: Dir,
        bytes: &[u8],
        ts: Timestamp,
        out: &mut TxSink<'_>,
    ) -> usize {
        let d = dir.idx();
        let mut pos = 0;
        while pos < bytes.len() {
            if self.phase == Phase::Skipped {
                out.count("mysql.skipped_bytes", (bytes.len() - pos) as u64);
                return bytes.len();
            }
            let rest = bytes.get(pos..).unwrap_or(&[]);
            if self.streams[d].lost {
                match RESYNC.scan(rest, |b| self.find_sync(dir, b), out) {
                    Scan::Found(off) => {
                        self.streams[d].lost_bytes = 0;
                        self.streams[d].lost = false;
                        pos += off;
                        continue;
                    }
                    Scan::NotFound(drop) => {
                        let s = &mut self.streams[d];
                        s.lost_bytes += drop as u64;
                        if s.lost_bytes > MAX_UNSYNCED {
                            // Not MySQL as we know it (TLS picked up mid-stream,
                            // compression, another protocol): stop looking.
                            out.count("mysql.unsynced_connections", 1);
                            self.phase = Phase::Skipped;
                            return bytes.len();
                        }
                        return pos + drop;
                    }
                }
            }
            let Some(h) = PacketHeader::parse(rest) else {
                break;
            };
            let total = h.total();
            if total <= rest.len() {
                let payload = rest.get(HEADER_LEN..total).unwrap_or(&[]);
                self.on_packet(dir, h, payload, ts, out);
                pos += total;
                continue;
            }
            let avail = rest.len() - HEADER_LEN;
            if h.len as usize > MAX_BUFFERED && avail >= PREFIX_WANT {
                let payload = rest.get(HEADER_LEN..).unwrap_or(&[]);
                out.count("mysql.packets_truncated", 1);
                self.on_packet(dir, h, payload, ts, out);
                self.streams[d].skip = (h.len as usize - avail) as u64;
                return bytes.len();
            }
            break;
        }
        pos
    }

    /// The query attributes before a COM_QUERY's statement: when the login
    /// negotiated CLIENT_QUERY_ATTRIBUTES; when the login was not seen
    /// (picked up mid-stream), when the body starts with a control byte (no
    /// statement does) and parses as attributes followed by text.
    fn query_attributes<'b>(&self, body: &'b [u8]) -> Option<(parser::QueryAttributes, &'b [u8])> {
        let (max, len) = (self.cfg.max_params, self.cfg.max_query_length);
        if self.caps_known {
            if self.server_caps & caps::QUERY_ATTRIBUTES == 0 {
                return None;
            }
            return parser::split_query_attributes(body, max, len);
        }
        let first = *body.first()?;
        if first >= 0x20 || first.is_ascii_whitespace() {
            return None;
        }
        let (qa, rest) = parser::split_query_attributes(body, max, len)?;
        let starts_text = rest
            .first()
            .is_some_and(|&b| b >= 0x20 || b.is_ascii_whitespace());
        starts_text.then_some((qa, rest))
    }

    /// Finds where parsing can resume in a lost direction.
    fn find_sync(&self, dir: Dir, b: &[u8]) -> Option<usize> {
        let want_response_start =
            matches!(self.resp, Resp::Idle) || self.pending.front().is_none_or(|t| t.orphan);
        (0..b.len().saturating_sub(HEADER_LEN)).find(|&off| match dir {
            Dir::ToServer => sync_client_at(b, off),
            Dir::ToClient => sync_server_at(b, off, want_response_start),
        })
    }

    fn on_packet(
        &mut self,
        dir: Dir,
        h: PacketHeader,
        p: &[u8],
        ts: Timestamp,
        out: &mut TxSink<'_>,
    ) {
        let d = dir.idx();
        if self.streams[d].cont {
            self.streams[d].cont = h.len == MAX_PAYLOAD;
            self.add_bytes(dir, h, ts);
            return;
        }
        match (self.phase, dir) {
            (Phase::Start, Dir::ToClient) => {
                if h.seq == 0 {
                    if let Some(g) = parser::parse_greeting(p) {
                        self.server_version =
                            Some(String::from_utf8_lossy(g.server_version).into());
                        self.render_conn();
                        self.server_caps = g.capabilities;
                        self.phase = Phase::Greeting;
                        return;
                    }
                }
                self.phase = Phase::Ready;
            }
            (Phase::Start, Dir::ToServer) => {
                if h.seq == 1 && !parser::plausible_command(h, p) {
                    self.phase = Phase::Greeting;
                } else {
                    self.phase = Phase::Ready;
                }
            }
            _ => {}
        }
        match self.phase {
            Phase::Greeting => match dir {
                Dir::ToServer => self.on_handshake_response(h, p, ts, out),
                Dir::ToClient => out.count("mysql.handshake_packets", 1),
            },
            Phase::Auth => self.on_auth_packet(dir, h, p, ts, out),
            Phase::Ready => {
                if h.len == MAX_PAYLOAD {
                    self.streams[d].cont = true;
                }
                match dir {
                    Dir::ToServer => self.on_request(h, p, ts, out),
                    Dir::ToClient => self.on_response(h, p, ts, out),
                }
            }
            Phase::Start | Phase::Skipped => {}
        }
    }

    fn add_bytes(&mut self, dir: Dir, h: PacketHeader, ts: Timestamp) {
        let n = h.total() as u64;
        match dir {
            Dir::ToServer => {
                if let Some(tx) = self.pending.back_mut() {
                    tx.request_bytes += n;
                    tx.request_end = Some(ts);
                }
            }
            Dir::ToClient => {
                if let Some(tx) = self.pending.front_mut() {
                    tx.response_bytes += n;
                    tx.response_end = Some(ts);
                }
            }
        }
    }

    fn on_handshake_response(
        &mut self,
        h: PacketHeader,
        p: &[u8],
        ts: Timestamp,
        out: &mut TxSink<'_>,
    ) {
        match parser::parse_handshake_response(p) {
            Some(parser::HandshakeResponse::SslRequest { .. }) => {
                out.count("mysql.tls_connections", 1);
                self.phase = Phase::Skipped;
                let tx = MysqlTx {
                    method: "SSL_REQUEST".into(),
                    request_start: Some(ts),
                    request_end: Some(ts),
                    request_bytes: h.total() as u64,
                    ..Default::default()
                };
                self.emit(tx, true, out);
            }
            Some(parser::HandshakeResponse::Login {
                capabilities,
                user,
                database,
            }) => {
                self.user = Some(String::from_utf8_lossy(user).into());
                if let Some(db) = database {
                    self.database = Some(String::from_utf8_lossy(db).into());
                }
                self.render_conn();
                let negotiated = if self.server_caps != 0 {
                    capabilities & self.server_caps
                } else {
                    capabilities
                };
                self.deprecate_eof = Some(negotiated & caps::DEPRECATE_EOF != 0);
                self.server_caps = negotiated;
                self.caps_known = true;
                self.phase = Phase::Auth;
            }
            None => {
                out.count("mysql.handshake_unparsed", 1);
                self.phase = Phase::Ready;
                self.on_request(h, p, ts, out);
            }
        }
    }

    fn on_auth_packet(
        &mut self,
        dir: Dir,
        h: PacketHeader,
        p: &[u8],
        ts: Timestamp,
        out: &mut TxSink<'_>,
    ) {
        if dir == Dir::ToServer {
            if h.seq == 0 && parser::plausible_command(h, p) {
                self.phase = Phase::Ready;
                self.on_request(h, p, ts, out);
            }
            return;
        }
        match p.first() {
            Some(0x00) => {
                let algorithm = if self.server_caps & caps::ZSTD_COMPRESSION != 0 {
                    out.count("mysql.zstd_connections", 1);
                    Some(Algorithm::Zstd)
                } else if self.server_caps & caps::COMPRESS != 0 {
                    Some(Algorithm::Zlib)
                } else {
                    None
                };
                if let Some(a) = algorithm {
                    // Every packet after this OK is compressed.
                    out.count("mysql.compressed_connections", 1);
                    self.compressed = Some(Box::new([Unwrap::new(a), Unwrap::new(a)]));
                    self.phase = Phase::Ready;
                } else {
                    self.phase = Phase::Ready;
                }
            }
            Some(0xff) => {
                self.phase = Phase::Ready;
                let mut tx = MysqlTx {
                    method: "LOGIN".into(),
                    response_start: Some(ts),
                    response_end: Some(ts),
                    response_bytes: h.total() as u64,
                    ..Default::default()
                };
                if let Some(e) = parser::parse_err(p) {
                    tx.error_code = Some(e.code);
                    tx.error_message = Some(e.text());
                }
                out.count("mysql.login_failures", 1);
                self.emit(tx, true, out);
            }
            _ => {}
        }
    }

    fn on_request(&mut self, h: PacketHeader, p: &[u8], ts: Timestamp, out: &mut TxSink<'_>) {
        if h.seq != 0 {
            // LOCAL INFILE upload or an auth exchange of COM_CHANGE_USER.
            self.add_bytes(Dir::ToServer, h, ts);
            return;
        }
        let Some(&c) = p.first() else {
            out.count("mysql.unknown_commands", 1);
            return;
        };
        if parser::command_name(c).is_none() {
            out.count("mysql.unknown_commands", 1);
            self.streams[Dir::ToServer.idx()].lost = true;
            return;
        }
        // A response of unknown structure ends when the next command starts;
        // a response nobody asked for is dropped.
        if let Some(front) = self.pending.front() {
            if front.orphan {
                self.pending.pop_tx();
                out.count("mysql.unmatched_responses", 1);
                self.resp = Resp::Idle;
            } else if self.resp == Resp::Generic && front.response_packets > 0 {
                self.complete(out);
            }
        }
        let body = p.get(1..).unwrap_or(&[]);
        let mut tx = MysqlTx {
            command: c,
            request_start: Some(ts),
            request_end: Some(ts),
            request_bytes: h.total() as u64,
            request_lost: h.len as usize > p.len(),
            ..Default::default()
        };
        match c {
            cmd::QUERY | cmd::STMT_PREPARE => {
                let mut text = body;
                if c == cmd::QUERY {
                    if let Some((qa, rest)) = self.query_attributes(body) {
                        out.count("mysql.query_attributes", 1);
                        tx.query_attributes = Some(qa);
                        text = rest;
                    }
                }
                let q = parser::trim_sql(text);
                tx.method = parser::sql_method(q);
                if tx.method == "USE" {
                    let db = parser::trim_sql(q.get(3..).unwrap_or(&[]));
                    let db: Vec<u8> = db
                        .iter()
                        .copied()
                        .filter(|&b| b != b'`' && b != b';')
                        .collect();
                    tx.use_db = Some(String::from_utf8_lossy(&db).into());
                }
                tx.query = Some(bounded(q, self.cfg.max_query_length));
            }
            cmd::STMT_EXECUTE => {
                let mut r = parser::Reader::new(body);
                let id = r.u32().unwrap_or(0);
                tx.statement_id = Some(id);
                match self.stmts.get_mut(&id) {
                    Some(st) => {
                        tx.method = st.method.clone();
                        tx.query = Some(st.query.clone());
                        tx.params = parser::parse_execute_params(
                            r.rest(),
                            st.num_params,
                            &mut st.types,
                            self.cfg.max_params,
                            self.cfg.max_query_length,
                        );
                    }
                    None => {
                        out.count("mysql.unknown_statements", 1);
                        tx.method = "EXECUTE".into();
                    }
                }
            }
            cmd::STMT_CLOSE => {
                let id = parser::Reader::new(body).u32().unwrap_or(0);
                self.stmts.remove(&id);
                out.count("mysql.stmt_close", 1);
                return;
            }
            cmd::STMT_SEND_LONG_DATA => {
                out.count("mysql.stmt_send_long_data", 1);
                return;
            }
            cmd::INIT_DB => {
                let db = String::from_utf8_lossy(body).into_owned();
                tx.method = "USE".into();
                tx.query = Some(bounded(
                    format!("USE {db}").as_bytes(),
                    self.cfg.max_query_length,
                ));
                tx.use_db = Some(db);
            }
            _ => tx.method = parser::command_name(c).unwrap_or("UNKNOWN").into(),
        }
        if c == cmd::QUIT {
            self.emit(tx, false, out);
            return;
        }
        if let Pushed::Evicted(old) = self.pending.push(tx) {
            out.count("mysql.in_flight_dropped", 1);
            self.resp = Resp::Idle;
            if !old.orphan {
                self.emit(old, true, out);
            }
        }
    }

    fn on_response(&mut self, h: PacketHeader, p: &[u8], ts: Timestamp, out: &mut TxSink<'_>) {
        let first = p.first().copied().unwrap_or(0);
        if let Some(seq) = self.swallow_eof.take() {
            if seq == h.seq && parser::is_classic_eof(first, h.len) {
                self.deprecate_eof = Some(false);
                return;
            }
        }
        if self.pending.is_empty() {
            self.pending.push(MysqlTx {
                command: cmd::QUERY,
                orphan: true,
                ..Default::default()
            });
            self.resp = Resp::Idle;
        }
        let lost_front = self.pending.front().is_some_and(|t| t.response_lost);
        if h.seq == 1 && self.resp != Resp::Idle && lost_front && self.pending.kept() > 1 {
            // The end of a response was lost and the next one starts here.
            self.complete(out);
        }
        let cfg = Arc::clone(&self.cfg);
        let deprecate = self.deprecate_eof;
        let Some(tx) = self.pending.front_mut() else {
            return;
        };
        tx.response_start.get_or_insert(ts);
        tx.response_end = Some(ts);
        tx.response_bytes += h.total() as u64;
        tx.response_packets += 1;
        let mut state = self.resp;
        // A packet may be re-examined after a state change (MaybeEof).
        loop {
            match state {
                Resp::Idle => {
                    state = idle_packet(tx, h, p, first);
                    if tx.command == cmd::STMT_PREPARE && first == 0x00 {
                        if let Some(ok) = parser::parse_prepare_ok(p) {
                            if let Some(q) = &tx.query {
                                let st = Stmt {
                                    method: tx.method.clone(),
                                    query: q.clone(),
                                    num_params: ok.num_params.into(),
                                    types: Default::default(),
                                };
                                tx.statement_id = Some(ok.statement_id);
                                if self.stmts.len() >= cfg.max_prepared_statements.max(1)
                                    && !self.stmts.contains_key(&ok.statement_id)
                                {
                                    out.count("mysql.statements_evicted", 1);
                                    self.stmts.clear();
                                }
                                self.stmts.insert(ok.statement_id, st);
                            }
                        }
                    }
                    if tx.command == cmd::BINLOG_DUMP || tx.command == cmd::BINLOG_DUMP_GTID {
                        if first != 0xff {
                            out.count("mysql.replication_connections", 1);
                            self.phase = Phase::Skipped;
                        }
                        self.complete(out);
                        return;
                    }
                }
                Resp::Defs(left, then) => {
                    if first == 0xff {
                        set_err(tx, p);
                        state = Resp::Idle;
                        self.resp = state;
                        self.complete(out);
                        return;
                    }
                    if left == u64::MAX && parser::is_classic_eof(first, h.len) {
                        state = after_defs(then, true);
                    } else if let Some(c) = parser::parse_column_def(p) {
                        if matches!(then, AfterDefs::Rows(_)) {
                            note_column(tx, &c, &cfg);
                        }
                        let left = left.saturating_sub(if left == u64::MAX { 0 } else { 1 });
                        state = if left == 0 {
                            match deprecate {
                                Some(true) => after_defs(then, true),
                                Some(false) => Resp::MaybeEof(then),
                                None if then == AfterDefs::Done
                                    || then == AfterDefs::PrepareColumns(0) =>
                                {
                                    self.swallow_eof = Some(h.seq.wrapping_add(1));
                                    DONE
                                }
                                None => Resp::MaybeEof(then),
                            }
                        } else {
                            Resp::Defs(left, then)
                        };
                    } else {
                        out.count("mysql.bad_column_definitions", 1);
                        state = Resp::Generic;
                    }
                }
                Resp::MaybeEof(then) => {
                    if parser::is_classic_eof(first, h.len) {
                        self.deprecate_eof.get_or_insert(false);
                        state = after_defs(then, true);
                    } else {
                        self.deprecate_eof.get_or_insert(true);
                        state = after_defs(then, false);
                        if state != DONE {
                            continue;
                        }
                    }
                }
                Resp::Rows(binary) => {
                    if first == 0xff {
                        set_err(tx, p);
                        state = DONE;
                    } else if parser::is_row_terminator(first, h.len) {
                        let status = if h.len < 7 {
                            parser::eof_status(p)
                        } else {
                            parser::parse_ok(p).map_or(0, |o| o.status)
                        };
                        state = if status & parser::SERVER_MORE_RESULTS_EXISTS != 0 {
                            Resp::Idle
                        } else {
                            DONE
                        };
                    } else {
                        tx.num_rows += 1;
                        if cfg.send_response && tx.rows.len() < cfg.max_rows {
                            let mut row = Vec::new();
                            if binary {
                                parser::binary_row(
                                    p,
                                    &tx.column_types,
                                    cfg.max_row_length,
                                    &mut row,
                                );
                            } else {
                                parser::text_row(p, cfg.max_row_length, &mut row);
                            }
                            tx.rows.push(row);
                        }
                    }
                }
                Resp::Generic => {
                    if first == 0x00 && parser::parse_ok(p).is_some() {
                        tx.ok = parser::parse_ok(p);
                        state = DONE;
                    } else if first == 0xff {
                        set_err(tx, p);
                        state = DONE;
                    }
                }
                Resp::Done => {}
                Resp::Infile => {
                    if first == 0xff {
                        set_err(tx, p);
                    } else {
                        tx.ok = parser::parse_ok(p);
                    }
                    state = DONE;
                }
            }
            break;
        }
        if state == DONE {
            self.resp = Resp::Idle;
            self.complete(out);
        } else {
            self.resp = state;
        }
    }

    /// Pops the front transaction (its response is complete) and emits it.
    fn complete(&mut self, out: &mut TxSink<'_>) {
        self.resp = Resp::Idle;
        let Some(tx) = self.pending.pop_tx() else {
            return;
        };
        if tx.orphan {
            out.count("mysql.unmatched_responses", 1);
            return;
        }
        if tx.error_code.is_none() {
            if let Some(db) = &tx.use_db {
                self.database = Some(db.clone());
                self.render_conn();
            }
        }
        self.emit(tx, true, out);
    }

    fn emit(&self, tx: MysqlTx, expects_response: bool, out: &mut TxSink<'_>) {
        let unmatched = expects_response && tx.response_start.is_none();
        let error = if tx.response_lost {
            Some(LOSS_RESPONSE)
        } else if tx.request_lost {
            Some(LOSS_REQUEST)
        } else if unmatched {
            Some(UNMATCHED_REQUEST)
        } else {
            None
        };
        if unmatched {
            out.count("mysql.unmatched_requests", 1);
        }
        let status = if tx.error_code.is_some() || unmatched {
            Status::Error
        } else {
            Status::Ok
        };
        let t = Transaction {
            kind: "mysql",
            status: Some(status),
            request_start: tx.request_start,
            request_end: tx.request_end,
            response_start: tx.response_start,
            response_end: tx.response_end,
            request_bytes: tx.request_bytes,
            response_bytes: tx.response_bytes,
            error,
            real_client_ip: None,
            action: None,
            detail: TxDetail {
                code: tx.error_code.map_or(Code::None, |c| Code::Num(c.into())),
                method: Some(tx.method.as_bytes()),
                resource: tx.query.as_deref().map(str::as_bytes),
                ..TxDetail::default()
            },
            ..Transaction::default()
        };
        debug_assert_eq!(self.conn_json, self.conn_fields(), "render_conn not called");
        out.emit(&t, |w| write_body(w, &tx, self));
    }

    /// Reports every transaction still waiting (at close or on timeout).
    fn flush_pending(&mut self, older_than: Option<Timestamp>, out: &mut TxSink<'_>) {
        while let Some(front) = self.pending.front() {
            if let Some(limit) = older_than {
                let last = front
                    .response_end
                    .or(front.request_end)
                    .or(front.request_start)
                    .unwrap_or(0);
                if last >= limit {
                    break;
                }
            }
            let Some(mut tx) = self.pending.pop_tx() else {
                break;
            };
            self.resp = Resp::Idle;
            if tx.orphan {
                out.count("mysql.unmatched_responses", 1);
                continue;
            }
            if tx.response_start.is_some() && !tx.response_lost && older_than.is_none() {
                // The connection ended in the middle of the response.
                tx.response_lost = true;
            }
            self.emit(tx, true, out);
        }
    }
}

/// The first packet of a response (or of the next result).
fn idle_packet(tx: &mut MysqlTx, h: PacketHeader, p: &[u8], first: u8) -> Resp {
    match first {
        0xff => {
            set_err(tx, p);
            return DONE;
        }
        0x00 if tx.command != cmd::STMT_FETCH => {
            if tx.command == cmd::STMT_PREPARE {
                return match parser::parse_prepare_ok(p) {
                    Some(ok) if ok.num_params > 0 => Resp::Defs(
                        ok.num_params.into(),
                        AfterDefs::PrepareColumns(ok.num_columns),
                    ),
                    Some(ok) if ok.num_columns > 0 => {
                        Resp::Defs(ok.num_columns.into(), AfterDefs::Done)
                    }
                    _ => DONE,
                };
            }
            if let Some(ok) = parser::parse_ok(p) {
                merge_ok(tx, ok);
                if ok.status & parser::SERVER_MORE_RESULTS_EXISTS != 0 {
                    tx.results += 1;
                    return Resp::Idle;
                }
            }
            return DONE;
        }
        _ => {}
    }
    match tx.command {
        cmd::QUERY | cmd::STMT_EXECUTE => {
            if first == 0xfb {
                tx.infile = Some(String::from_utf8_lossy(p.get(1..).unwrap_or(&[])).into_owned());
                return Resp::Infile;
            }
            if first == 0xfe {
                return DONE;
            }
            match parser::Reader::new(p).lenenc() {
                Some(n) if n > 0 && h.len < 10 => {
                    tx.results += 1;
                    tx.num_fields = Some(tx.num_fields.unwrap_or(0).max(n));
                    Resp::Defs(n, AfterDefs::Rows(tx.command == cmd::STMT_EXECUTE))
                }
                _ => Resp::Generic,
            }
        }
        cmd::FIELD_LIST => {
            if parser::is_classic_eof(first, h.len) {
                return DONE;
            }
            Resp::Defs(u64::MAX, AfterDefs::Done)
        }
        cmd::STATISTICS => DONE,
        cmd::STMT_FETCH => {
            if parser::is_row_terminator(first, h.len) {
                DONE
            } else {
                tx.num_rows += 1;
                Resp::Rows(true)
            }
        }
        _ => Resp::Generic,
    }
}

/// The state after definitions (and their EOF when `eof_consumed`).
fn after_defs(then: AfterDefs, _eof_consumed: bool) -> Resp {
    match then {
        AfterDefs::Rows(b) => Resp::Rows(b),
        AfterDefs::PrepareColumns(0) | AfterDefs::Done => DONE,
        AfterDefs::PrepareColumns(n) => Resp::Defs(n.into(), AfterDefs::Done),
    }
}

fn merge_ok(tx: &mut MysqlTx, ok: parser::OkPacket) {
    let acc = tx.ok.get_or_insert_with(Default::default);
    acc.affected_rows = acc.affected_rows.saturating_add(ok.affected_rows);
    if ok.insert_id != 0 {
        acc.insert_id = ok.insert_id;
    }
    acc.status = ok.status;
    acc.warnings = acc.warnings.saturating_add(ok.warnings);
}

fn set_err(tx: &mut MysqlTx, p: &[u8]) {
    if let Some(e) = parser::parse_err(p) {
        tx.error_code = Some(e.code);
        tx.error_message = Some(e.text());
    } else {
        tx.error_code = Some(0);
    }
}

fn note_column(tx: &mut MysqlTx, c: &parser::ColumnDef<'_>, cfg: &MysqlConfig) {
    if tx.column_types.len() < MAX_COLUMNS {
        tx.column_types.push((c.column_type, c.flags & 0x20 != 0));
        if cfg.send_response {
            tx.columns.push(common::lossy(c.name).into_owned());
        }
    }
    if !c.schema.is_empty() && !c.table.is_empty() && tx.tables.len() < MAX_TABLES {
        // `schema.table`, built only when it is not in the list yet (every
        // column of a result names the same one or two).
        let (schema, table) = (common::lossy(c.schema), common::lossy(c.table));
        let seen = tx.tables.iter().any(|t| {
            t.len() == schema.len() + 1 + table.len()
                && t.starts_with(&*schema)
                && t.as_bytes()[schema.len()] == b'.'
                && t.ends_with(&*table)
        });
        if !seen {
            tx.tables.push(format!("{schema}.{table}"));
        }
    }
}

/// `path`: the tables of the result columns (Packetbeat), else the table
/// the statement names, qualified with the current database (the reference
/// for [`write_path`]).
#[cfg(test)]
fn path_of(tx: &MysqlTx, database: Option<&str>) -> Option<String> {
    if !tx.tables.is_empty() {
        return Some(tx.tables.join(", "));
    }
    let q = tx.query.as_deref()?;
    let (db, table) = parser::sql_table(q.as_bytes())?;
    match (db, database) {
        (Some(db), _) => Some(format!("{db}.{table}")),
        (None, Some(cur)) => Some(format!("{cur}.{table}")),
        (None, None) => Some(table),
    }
}

/// `,"path":"..."` (what the test-only `path_of` builds), written in pieces: the text of
/// valid UTF-8 pieces side by side is the text of the joined string.
fn write_path(w: &mut JsonWriter<'_>, tx: &MysqlTx, database: Option<&str>) {
    if let Some((first, rest)) = tx.tables.split_first() {
        w.lit(br#","path":""#);
        w.text(first.as_bytes());
        for t in rest {
            w.lit(b", ");
            w.text(t.as_bytes());
        }
        w.lit(b"\"");
        return;
    }
    let Some((db, table)) = tx
        .query
        .as_deref()
        .and_then(|q| parser::sql_table(q.as_bytes()))
    else {
        return;
    };
    w.lit(br#","path":""#);
    if let Some(db) = db.as_deref().or(database) {
        w.text(db.as_bytes());
        w.lit(b".");
    }
    w.text(table.as_bytes());
    w.lit(b"\"");
}

/// The `mysql` part of a transaction's event, as a template: constant
/// runs of keys and punctuation copied whole, the values written between
/// them, and the connection's fields copied from [`ConnJson`] (byte for
/// byte what `tests::write_body_fields`, the field-by-field writer,
/// gives; tested).
fn write_body(w: &mut JsonWriter<'_>, tx: &MysqlTx, s: &MysqlSession) {
    w.field(br#""method":""#);
    w.text(tx.method.as_bytes());
    if let Some(q) = &tx.query {
        w.lit(br#"","query":""#);
        w.text(q.as_bytes());
        if s.cfg.send_request {
            w.lit(br#"","request":""#);
            w.text(q.as_bytes());
        }
    }
    w.lit(b"\"");
    write_path(w, tx, s.database.as_deref());
    if !tx.params.is_empty() {
        w.begin_arr("params");
        for p in &tx.params {
            w.elem_str(p);
        }
        w.end_arr();
    }
    if s.cfg.send_response && (tx.num_fields.is_some() || tx.ok.is_some()) {
        w.str("response", &common::csv(&tx.columns, &tx.rows));
    }
    if !s.conn_json.user.is_empty() {
        w.interleave(&[&s.conn_json.user], &[]);
    }
    w.lit(br#","mysql":{"#);
    write_tx_fields(w, tx);
    if !s.conn_json.tail.is_empty() {
        w.interleave(&[&s.conn_json.tail], &[]);
    }
    w.end();
}

/// The fields of `mysql` that belong to the transaction.
fn write_tx_fields(w: &mut JsonWriter<'_>, tx: &MysqlTx) {
    if let Some(ok) = &tx.ok {
        w.u64("affected_rows", ok.affected_rows);
        w.u64("insert_id", ok.insert_id);
    }
    if let Some(n) = tx.num_fields {
        w.u64("num_fields", n);
        w.u64("num_rows", tx.num_rows);
    } else if tx.num_rows > 0 {
        w.u64("num_rows", tx.num_rows);
    }
    if tx.results > 1 {
        w.u64("results", tx.results.into());
    }
    if let Some(code) = tx.error_code {
        w.u64("error_code", code.into());
        if let Some(m) = &tx.error_message {
            w.str("error_message", m);
        }
    }
    if let Some(id) = tx.statement_id {
        w.u64("statement_id", id.into());
    }
    if let Some(f) = &tx.infile {
        w.str("local_infile", f);
    }
    if let Some(qa) = tx.query_attributes.as_ref().filter(|q| q.count > 0) {
        // Names come from the wire: values, never keys.
        w.begin_arr("query_attributes");
        for (name, value) in &qa.attrs {
            w.begin();
            w.str("name", name);
            w.str("value", value);
            w.end();
        }
        w.end_arr();
    }
    if tx.method == "SSL_REQUEST" {
        w.bool("tls", true);
    }
}

/// The fields that end `mysql`: the connection's.
fn write_conn_tail(w: &mut JsonWriter<'_>, s: &MysqlSession) {
    if let Some(v) = &s.server_version {
        w.str("server_version", v);
    }
    if let Some(db) = &s.database {
        w.str("schema", db);
    }
}

/// `b` as text, at most `max` bytes.
fn bounded(b: &[u8], max: usize) -> String {
    parser::truncate_string(common::lossy(b).into_owned(), max)
}

/// A client command packet starts at `off` and either ends exactly at the
/// end of `b`, is followed by another plausible command, or is a long
/// statement whose first bytes look like SQL.
fn sync_client_at(b: &[u8], off: usize) -> bool {
    let rest = b.get(off..).unwrap_or(&[]);
    let Some(h) = PacketHeader::parse(rest) else {
        return false;
    };
    let payload = rest.get(HEADER_LEN..).unwrap_or(&[]);
    if !parser::plausible_command(h, payload) {
        return false;
    }
    let total = h.total();
    if total == rest.len() {
        return true;
    }
    if total < rest.len() {
        let next = rest.get(total..).unwrap_or(&[]);
        return PacketHeader::parse(next)
            .is_some_and(|n| parser::plausible_command(n, next.get(HEADER_LEN..).unwrap_or(&[])));
    }
    // Incomplete: accept a statement with at least 16 bytes of text.
    payload.len() >= 17
        && matches!(
            payload.first(),
            Some(&cmd::QUERY) | Some(&cmd::STMT_PREPARE)
        )
        && payload
            .get(1..17)
            .is_some_and(|t| t.iter().all(|c| c.is_ascii_graphic() || *c == b' '))
}

/// A chain of at least two server packets with consecutive sequence ids
/// starts at `off` and runs to the end of `b` (the last one may be
/// incomplete). With `want_start`, the first packet must open a response
/// (sequence id 1).
fn sync_server_at(b: &[u8], off: usize, want_start: bool) -> bool {
    let mut pos = off;
    let mut links = 0u32;
    let mut prev: Option<u8> = None;
    loop {
        let rest = b.get(pos..).unwrap_or(&[]);
        if rest.is_empty() {
            return links >= 2 || (links == 1 && want_start);
        }
        let Some(h) = PacketHeader::parse(rest) else {
            // A partial header at the very end.
            return links >= 2;
        };
        if h.len == 0 {
            return false;
        }
        match prev {
            None if want_start && h.seq != 1 => return false,
            Some(p) if h.seq != p.wrapping_add(1) => return false,
            _ => {}
        }
        if h.total() > rest.len() {
            return links >= 2;
        }
        prev = Some(h.seq);
        links += 1;
        if links >= CHAIN_ENOUGH {
            return true;
        }
        pos += h.total();
    }
}

impl Session for MysqlSession {
    fn data(&mut self, dir: Dir, data: &[u8], ts: Timestamp, out: &mut TxSink<'_>) {
        self.feed(dir, data, ts, out);
    }

    fn gap(&mut self, dir: Dir, len: u64, _ts: Timestamp, out: &mut TxSink<'_>) {
        if self.phase == Phase::Skipped {
            return;
        }
        out.count("mysql.gap_bytes", len);
        match dir {
            Dir::ToClient => {
                for tx in self.pending.iter_mut() {
                    tx.response_lost = true;
                }
            }
            Dir::ToServer => {
                if let Some(tx) = self.pending.back_mut() {
                    if self.streams[dir.idx()].skip > 0 {
                        tx.request_lost = true;
                    }
                }
            }
        }
        if let Some(z) = self.compressed.as_mut() {
            // `len` compressed bytes: the plain stream resyncs; the
            // compressed framing holds when the gap is inside a packet.
            if !z[dir.idx()].gap(len) {
                self.zlost[dir.idx()] = true;
            }
            let s = &mut self.streams[dir.idx()];
            out.count("mysql.gaps_resync", 1);
            s.skip = 0;
            s.buf.clear();
            s.cont = false;
            s.lost = true;
            return;
        }
        let s = &mut self.streams[dir.idx()];
        if s.skip >= len {
            // The gap is inside a packet being skipped: still in sync.
            s.skip -= len;
            return;
        }
        out.count("mysql.gaps_resync", 1);
        s.skip = 0;
        s.buf.clear();
        s.cont = false;
        s.lost = true;
        if self.phase != Phase::Ready {
            self.phase = Phase::Ready;
        }
    }

    fn end(&mut self, _dir: Dir, _ts: Timestamp, _out: &mut TxSink<'_>) {}

    fn tick(&mut self, now: Timestamp, out: &mut TxSink<'_>) {
        let limit = now.saturating_sub(self.cfg.transaction_timeout.nanos());
        self.flush_pending(Some(limit), out);
    }

    fn close(&mut self, _now: Timestamp, out: &mut TxSink<'_>) {
        self.flush_pending(None, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::testkit::encode_body;

    /// The field-by-field writer [`write_body`] replaced (the reference).
    fn write_body_fields(w: &mut JsonWriter<'_>, tx: &MysqlTx, s: &MysqlSession) {
        let cfg = &s.cfg;
        w.str("method", &tx.method);
        if let Some(q) = &tx.query {
            w.str("query", q);
            if cfg.send_request {
                w.str("request", q);
            }
        }
        if let Some(p) = &path_of(tx, s.database.as_deref()) {
            w.str("path", p);
        }
        if !tx.params.is_empty() {
            w.begin_arr("params");
            for p in &tx.params {
                w.elem_str(p);
            }
            w.end_arr();
        }
        if cfg.send_response && (tx.num_fields.is_some() || tx.ok.is_some()) {
            w.str("response", &common::csv(&tx.columns, &tx.rows));
        }
        if let Some(u) = &s.user {
            w.begin_obj("user");
            w.str("name", u);
            w.end();
        }
        w.begin_obj("mysql");
        write_tx_fields(w, tx);
        write_conn_tail(w, s);
        w.end();
    }

    #[test]
    fn template_body_equals_the_field_by_field_writer() {
        let huge = "x\"\\\u{1}é".repeat(10_000);
        let lossy = String::from_utf8_lossy(b"select \xff\xfe from t\r\n\x7f").into_owned();
        let texts = ["", "SELECT a FROM db.t1", "a\"b\\c\n\t\u{0}", &lossy, &huge];
        let mut n = 0;
        for (i, text) in texts.iter().enumerate() {
            let other = texts[(i + 2) % texts.len()];
            for conn in 0..4 {
                for send in [false, true] {
                    let cfg = MysqlConfig {
                        send_request: send,
                        send_response: send,
                        ..MysqlConfig::default()
                    };
                    let mut s = MysqlSession::new(Arc::new(cfg));
                    if conn & 1 == 1 {
                        s.user = Some(other.into());
                        s.server_version = Some(text.to_string());
                    }
                    if conn & 2 == 2 {
                        s.database = Some(other.into());
                    }
                    s.render_conn();
                    let txs = [
                        MysqlTx::default(),
                        MysqlTx {
                            method: text.to_string(),
                            query: Some(text.to_string()),
                            ok: Some(parser::OkPacket::default()),
                            tables: vec![other.into(), text.to_string()],
                            ..MysqlTx::default()
                        },
                        MysqlTx {
                            method: "SSL_REQUEST".into(),
                            query: Some("insert into `x`.`y` values (1)".into()),
                            params: vec![text.to_string(), String::new()],
                            error_code: Some(1064),
                            error_message: Some(other.into()),
                            num_fields: Some(2),
                            columns: vec![text.to_string()],
                            rows: vec![vec![other.into()]],
                            infile: Some(String::new()),
                            query_attributes: Some(parser::QueryAttributes {
                                attrs: vec![(text.to_string(), other.into())],
                                count: 1,
                            }),
                            ..MysqlTx::default()
                        },
                        MysqlTx {
                            method: "UPDATE".into(),
                            query: Some(format!("update t{i} set a = 1")),
                            statement_id: Some(7),
                            num_rows: 3,
                            results: 2,
                            ..MysqlTx::default()
                        },
                    ];
                    for tx in &txs {
                        let fast = encode_body(write_body, tx, &s);
                        let slow = encode_body(write_body_fields, tx, &s);
                        assert_eq!(
                            String::from_utf8_lossy(&fast),
                            String::from_utf8_lossy(&slow)
                        );
                        serde_json::from_slice::<serde_json::Value>(&fast).unwrap();
                        n += 1;
                    }
                }
            }
        }
        assert_eq!(n, 5 * 4 * 2 * 4);
    }

    #[test]
    fn tables_are_listed_once_each() {
        let mut tx = MysqlTx::default();
        let cfg = MysqlConfig::default();
        let col = |schema: &'static [u8], table: &'static [u8]| parser::ColumnDef {
            schema,
            table,
            name: b"c",
            column_type: 3,
            flags: 0,
        };
        for (schema, table) in [
            (&b"db"[..], &b"t1"[..]),
            (b"db", b"t1"),
            (b"db.t", b"1"),
            (b"d\xff", b"t"),
            (b"d\xff", b"t"),
            (b"db", b"t2"),
        ] {
            note_column(&mut tx, &col(schema, table), &cfg);
        }
        assert_eq!(tx.tables, ["db.t1", "db.t.1", "d\u{fffd}.t", "db.t2"]);
    }
}
