//! One PostgreSQL connection: message framing per direction, the startup
//! phase, pairing of requests with responses, the statement cache, and
//! resynchronisation after gaps.
//!
//! Pairing follows the protocol's own rule: the server answers messages
//! in the order it received them. Every client message that gets an
//! answer is queued as an *expectation* (Query, Parse, Bind, Describe,
//! Execute, Close, Sync, FunctionCall); the expectations that are
//! transactions (Query, Execute, FunctionCall) carry a [`PgTx`] in a
//! second queue in the same order. Server messages answer the front
//! expectation: ParseComplete pops a Parse, CommandComplete completes an
//! Execute, ReadyForQuery completes a Query or pops a Sync. After an
//! ErrorResponse in the extended protocol the server skips everything up
//! to the next Sync; the decoder does the same (the failing Execute gets
//! the error, later Executes of the pipeline are reported as not
//! executed).
//!
//! Bytes and times: a transaction's request is every client message that
//! led to it (Parse, Bind, Describe, Execute, the Sync after it), its
//! response the server messages answering Describe and Execute (or the
//! Query) without ParseComplete, BindComplete, CloseComplete and
//! ReadyForQuery (Packetbeat counts the same way). COPY data counts as
//! request (COPY FROM STDIN) or response (COPY TO STDOUT) bytes.
//!
//! Framing is streaming: a message is handled once it is buffered whole,
//! except messages longer than [`MAX_BUFFERED`] (a wide row, a COPY chunk,
//! a huge statement), which are handled from their first [`PREFIX_WANT`]
//! bytes while the rest is skipped without buffering. A gap inside a
//! message being skipped keeps the stream in sync; any other gap makes the
//! direction *lost*: bytes are scanned for a chain of plausible messages
//! ([`parser::chain_at`]) and parsing resumes there, the transactions
//! whose bytes were lost carry the loss in `error.message`, and until the
//! next ReadyForQuery an answer that does not fit the front expectation
//! pops the expectations before the one it fits.

use super::parser::{self, be, fe, Head, Header};
use super::PgsqlConfig;
use crate::event::{Code, JsonWriter, Status, Transaction, TxDetail};
use crate::proto::common::errors::{LOSS_REQUEST, LOSS_RESPONSE, UNMATCHED_REQUEST};
use crate::proto::common::{self, parse_in_place, Leg, Overflow, Resync, Scan, TxQueue};
use crate::proto::mysql::parser::{sql_method, sql_method_word, trim_sql, truncate_string};
use crate::proto::{Dir, Session, TxSink};
use crate::time::Timestamp;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// Messages up to this body size are buffered whole before parsing.
pub const MAX_BUFFERED: usize = 64 * 1024;
/// Larger messages are parsed from this many leading bytes.
pub const PREFIX_WANT: usize = 8 * 1024;
/// Where a lost direction resumes: the kit's scan with PostgreSQL's
/// message-chain test; 16 KiB kept for the next scan.
const RESYNC: Resync = Resync {
    resyncs: "pgsql.resyncs",
    skipped: "pgsql.resync_skipped_bytes",
    keep: 16 * 1024,
};
/// Bytes skipped without finding sync before the connection is given up.
const MAX_UNSYNCED: u64 = 1 << 20;
/// Distinct `method` texts cached per connection.
const MAX_METHODS: usize = 32;
/// Named portals remembered (most clients use only the unnamed one).
const MAX_PORTALS: usize = 64;
/// Bytes kept of error and notice messages and of startup parameters.
const MAX_TEXT: usize = 1024;
/// Column names kept per result set (`send_response`).
const MAX_COLUMNS: usize = 1024;
/// Expectations without a transaction queued per transaction bound.
const EXPECT_PER_TX: usize = 8;
/// Expectations searched for an answer after a loss.
const RESYNC_LOOKAHEAD: usize = 16;

/// `error.message` of an Execute the server skipped after an error.
pub const NOT_EXECUTED: &str = "Not executed: an earlier message of the pipeline failed";

/// Connection phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Nothing seen yet: the first client bytes decide.
    Start,
    /// The client sends untagged startup packets (SSLRequest answered `N`
    /// may be followed by a StartupMessage).
    Handshake,
    /// StartupMessage sent: authentication until the first ReadyForQuery.
    Auth,
    /// Query cycles.
    Ready,
    /// TLS or GSSAPI encryption, a cancel connection, or no sync found:
    /// nothing more is parsed.
    Skipped,
}

/// A client message the server will answer, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Simple Query: answered up to ReadyForQuery (a transaction).
    Query,
    /// FunctionCall: answered up to ReadyForQuery (a transaction).
    Function,
    /// Execute: rows, then CommandComplete / EmptyQuery / PortalSuspended
    /// (a transaction).
    Execute,
    /// Parse: ParseComplete.
    Parse,
    /// Bind: BindComplete.
    Bind,
    /// Describe: [ParameterDescription] then RowDescription or NoData.
    Describe,
    /// Close: CloseComplete.
    Close,
    /// Sync: ReadyForQuery.
    Sync,
}

impl Expect {
    fn has_tx(self) -> bool {
        matches!(self, Expect::Query | Expect::Function | Expect::Execute)
    }

    fn method(self) -> &'static str {
        match self {
            Expect::Query => "QUERY",
            Expect::Function => "FUNCTION_CALL",
            Expect::Execute => "EXECUTE",
            Expect::Parse => "PARSE",
            Expect::Bind => "BIND",
            Expect::Describe => "DESCRIBE",
            Expect::Close => "CLOSE",
            Expect::Sync => "SYNC",
        }
    }
}

/// One side of a transaction: the kit's [`Leg`] once its first byte is
/// seen, and whether bytes of it were lost (also before that).
#[derive(Debug, Clone, Copy, Default)]
struct Side {
    leg: Option<Leg>,
    lost: bool,
}

impl Side {
    fn add(&mut self, n: u64, ts: Timestamp) {
        self.leg.get_or_insert_with(|| Leg::at(ts)).add(ts, n);
    }

    fn started(&self) -> bool {
        self.leg.is_some()
    }

    /// The time of the last byte seen.
    fn last(&self) -> Option<Timestamp> {
        self.leg.map(|l| l.end)
    }

    /// Marks the side active at `ts` (bytes skipped inside a message).
    fn touch(&mut self, ts: Timestamp) {
        if let Some(l) = &mut self.leg {
            l.end = l.end.max(ts);
        }
    }

    /// Puts `earlier` (bytes seen before this side's) in front of it.
    fn absorb(&mut self, earlier: Side) {
        self.lost |= earlier.lost;
        let Some(e) = earlier.leg else { return };
        match &mut self.leg {
            Some(l) => {
                l.start = e.start;
                l.end = l.end.max(e.end);
                l.bytes += e.bytes;
            }
            None => self.leg = Some(e),
        }
    }

    /// The leg with its loss, for [`common::transaction`].
    fn leg(&self) -> Option<Leg> {
        self.leg.map(|l| Leg {
            lost: self.lost,
            ..l
        })
    }
}

/// A prepared statement (or the unnamed one) as Parse gave it.
#[derive(Debug, Clone)]
struct Stmt {
    method: Arc<str>,
    query: Arc<str>,
    /// The statement's name, when named.
    name: Option<Arc<str>>,
}

/// An ErrorResponse or NoticeResponse, bounded.
#[derive(Debug, Clone, Default)]
struct Notice {
    severity: String,
    code: String,
    message: String,
}

impl Notice {
    fn from_fields(f: &parser::Fields<'_>) -> Self {
        Notice {
            severity: bounded(f.severity, 16),
            code: bounded(f.code, 16),
            message: bounded(f.message, MAX_TEXT),
        }
    }
}

/// COPY seen in a transaction: direction and volume (never the data).
#[derive(Debug, Clone, Copy, Default)]
struct Copy {
    /// `in`, `out` or `both`.
    direction: &'static str,
    /// CopyData payload bytes.
    bytes: u64,
    /// CopyData messages.
    messages: u64,
    /// Rows copied, from the `COPY n` CommandComplete.
    rows: u64,
}

/// One transaction and what has been seen of its response.
#[derive(Debug, Default)]
struct PgTx {
    method: Option<Arc<str>>,
    query: Option<Arc<str>>,
    statement: Option<Arc<str>>,
    request: Side,
    response: Side,
    /// More client messages (up to a Sync) belong to this request.
    open: bool,
    /// A response is expected (false for CancelRequest).
    expects_response: bool,
    error: Option<Notice>,
    /// Skipped by the server after an earlier error of its pipeline.
    not_executed: bool,
    notice: Option<Notice>,
    notices: u64,
    num_fields: Option<u64>,
    num_rows: u64,
    affected_rows: Option<u64>,
    /// CommandComplete / EmptyQueryResponse seen (statements run).
    statements: u32,
    copy: Option<Copy>,
    suspended: bool,
    encrypted: bool,
    cancel_pid: Option<u32>,
    columns: Vec<String>,
    rows: Vec<Vec<String>>,
}

/// Per-direction framing state.
#[derive(Debug, Default)]
struct Stream {
    /// Bytes of an incomplete message.
    buf: Vec<u8>,
    /// Bytes of the current message still to skip.
    skip: u64,
    /// The stream lost sync after a gap or garbage.
    lost: bool,
    /// Bytes skipped while looking for sync.
    lost_bytes: u64,
}

/// A PostgreSQL connection.
pub struct PgsqlSession {
    cfg: Arc<PgsqlConfig>,
    phase: Phase,
    /// SSLRequest (`b'S'`) or GSSENCRequest (`b'G'`) sent: the server's
    /// next byte is the one-byte answer.
    awaiting_answer: Option<u8>,
    /// The startup packets' leg (for SSL, LOGIN and CANCEL events).
    startup: Side,
    user: Option<String>,
    database: Option<String>,
    application_name: Option<String>,
    server_version: Option<String>,
    backend_pid: Option<u32>,
    streams: [Stream; 2],
    expect: VecDeque<Expect>,
    txs: TxQueue<PgTx>,
    /// Client bytes (Parse, Bind, Describe, Close) waiting for the
    /// transaction they lead to.
    pre_request: Side,
    /// Describe answers that came before their Execute: bytes and fields.
    pre_response: Side,
    pre_fields: Option<u64>,
    /// The server skips client messages up to the next Sync (an error in
    /// the extended protocol was answered before the Sync was sent).
    discarding: bool,
    /// A direction lost bytes since the last ReadyForQuery.
    suspect: bool,
    unnamed: Option<Stmt>,
    stmts: HashMap<Box<[u8]>, Stmt>,
    unnamed_portal: Option<Stmt>,
    portals: HashMap<Box<[u8]>, Stmt>,
    last_parse: Option<Stmt>,
    /// `method` texts seen on this connection (a handful of keywords),
    /// shared by its transactions instead of one allocation each.
    methods: Vec<Arc<str>>,
    /// The connection's fields as every event writes them, rendered when
    /// they change ([`Self::render_conn`]): `user` and the end of `pgsql`.
    conn_json: ConnJson,
}

/// Pre-rendered JSON of what a connection's events repeat: each piece is
/// whole fields (`"user":{"name":"..."}`; `"backend_pid":..,"database":..,
/// "application_name":..,"server_version":..`), empty when it has none.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct ConnJson {
    user: Vec<u8>,
    tail: Vec<u8>,
}

impl PgsqlSession {
    /// A new session with the given settings.
    pub fn new(cfg: Arc<PgsqlConfig>) -> Self {
        let txs = TxQueue::new(cfg.max_in_flight, Overflow::EvictOldest);
        PgsqlSession {
            cfg,
            phase: Phase::Start,
            awaiting_answer: None,
            startup: Side::default(),
            user: None,
            database: None,
            application_name: None,
            server_version: None,
            backend_pid: None,
            streams: Default::default(),
            expect: VecDeque::new(),
            txs,
            pre_request: Side::default(),
            pre_response: Side::default(),
            pre_fields: None,
            discarding: false,
            suspect: false,
            unnamed: None,
            stmts: HashMap::new(),
            unnamed_portal: None,
            portals: HashMap::new(),
            last_parse: None,
            methods: Vec::new(),
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
        write_conn_tail(&mut w, self.backend_pid, self);
        j
    }

    fn feed(&mut self, dir: Dir, mut data: &[u8], ts: Timestamp, out: &mut TxSink<'_>) {
        let d = dir.idx();
        if self.phase == Phase::Skipped {
            out.count("pgsql.skipped_bytes", data.len() as u64);
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
        parse_in_place(&mut buf, data, |b| self.parse_messages(dir, b, ts, out));
        if self.phase == Phase::Skipped {
            buf = Vec::new();
        }
        self.streams[d].buf = buf;
    }

    /// The `method` of a statement, from the connection's cache.
    fn method(&mut self, q: &[u8]) -> Arc<str> {
        let word = sql_method_word(q);
        // `sql_method` upper-cases the text of the word: for an ASCII word
        // a cached method matches when the two are equal but for case
        // (cached methods are upper case), with no allocation.
        if word.is_ascii() {
            if let Some(a) = self
                .methods
                .iter()
                .find(|a| a.as_bytes().eq_ignore_ascii_case(word))
            {
                return Arc::clone(a);
            }
        }
        let m = sql_method(q);
        if let Some(a) = self.methods.iter().find(|a| ***a == *m) {
            return Arc::clone(a);
        }
        let a: Arc<str> = Arc::from(m);
        if self.methods.len() < MAX_METHODS {
            self.methods.push(Arc::clone(&a));
        }
        a
    }

    /// Marks the transaction the skipped bytes of `dir` belong to as
    /// active at `ts`.
    fn touch(&mut self, dir: Dir, ts: Timestamp) {
        match dir {
            Dir::ToServer => {
                if let Some(tx) = self.txs.back_mut() {
                    tx.request.touch(ts);
                }
            }
            Dir::ToClient => {
                if let Some(tx) = self.txs.front_mut() {
                    tx.response.touch(ts);
                }
            }
        }
    }

    /// Handles every whole message in `bytes`; returns the bytes consumed.
    fn parse_messages(
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
                out.count("pgsql.skipped_bytes", (bytes.len() - pos) as u64);
                return bytes.len();
            }
            let rest = bytes.get(pos..).unwrap_or(&[]);
            if self.streams[d].lost {
                let client = dir == Dir::ToServer;
                let find = |b: &[u8]| (0..b.len()).find(|&off| parser::chain_at(b, off, client));
                match RESYNC.scan(rest, find, out) {
                    Scan::Found(off) => {
                        let s = &mut self.streams[d];
                        s.lost_bytes = 0;
                        s.lost = false;
                        pos += off;
                        continue;
                    }
                    Scan::NotFound(drop) => {
                        let s = &mut self.streams[d];
                        s.lost_bytes += drop as u64;
                        if s.lost_bytes > MAX_UNSYNCED {
                            // Not PostgreSQL as we know it (TLS picked up
                            // mid-stream, another protocol): stop looking.
                            out.count("pgsql.unsynced_connections", 1);
                            self.phase = Phase::Skipped;
                            return bytes.len();
                        }
                        return pos + drop;
                    }
                }
            }
            // The one-byte answer to SSLRequest / GSSENCRequest.
            if dir == Dir::ToClient {
                if let Some(req) = self.awaiting_answer {
                    let b = rest[0];
                    if b != be::ERROR {
                        self.awaiting_answer = None;
                        self.on_encryption_answer(req, b, ts, out);
                        pos += 1;
                        continue;
                    }
                    // An old server answers with an ErrorResponse instead.
                    self.awaiting_answer = None;
                }
            }
            let untagged = dir == Dir::ToServer
                && matches!(self.phase, Phase::Start | Phase::Handshake)
                && (self.phase == Phase::Handshake || parser::looks_like_startup(rest));
            if dir == Dir::ToServer
                && self.phase == Phase::Start
                && rest[0] == 0
                && rest.len() < parser::STARTUP_HEADER_LEN
            {
                // A startup packet (its length's high byte is 0) cut
                // short: wait for its code. Tagged types are letters.
                break;
            }
            if dir == Dir::ToServer && self.phase == Phase::Start {
                self.phase = if untagged {
                    Phase::Handshake
                } else {
                    Phase::Ready
                };
            }
            if dir == Dir::ToClient && self.phase == Phase::Start {
                self.phase = Phase::Ready;
            }
            if untagged && self.awaiting_answer.is_some() && rest[0] == 0x16 {
                // A TLS ClientHello right after SSLRequest: the answer was S.
                let req = self.awaiting_answer.take().unwrap_or(b'S');
                self.on_encryption_answer(req, req, ts, out);
                continue;
            }
            let head = if untagged {
                parser::startup_header(rest)
            } else {
                parser::tagged_header(rest)
            };
            let h = match head {
                Head::Msg(h) => h,
                Head::More => break,
                Head::Error(_) => {
                    out.count("pgsql.bad_messages", 1);
                    self.lose(dir);
                    continue;
                }
            };
            let hl = usize::from(h.header_len);
            let total = h.total();
            if total <= rest.len() {
                let body = rest.get(hl..total).unwrap_or(&[]);
                self.on_message(dir, h, body, ts, out);
                pos += total;
                continue;
            }
            let avail = rest.len() - hl;
            if h.body_len as usize > MAX_BUFFERED && avail >= PREFIX_WANT {
                let body = rest.get(hl..).unwrap_or(&[]);
                out.count("pgsql.messages_truncated", 1);
                self.on_message(dir, h, body, ts, out);
                self.streams[d].skip = (h.body_len as usize - avail) as u64;
                return bytes.len();
            }
            break;
        }
        pos
    }

    /// The direction lost sync: scan for the next message.
    fn lose(&mut self, dir: Dir) {
        let s = &mut self.streams[dir.idx()];
        s.lost = true;
        s.skip = 0;
        self.suspect = true;
        if matches!(self.phase, Phase::Start | Phase::Handshake | Phase::Auth) {
            self.phase = Phase::Ready;
        }
    }

    fn on_message(
        &mut self,
        dir: Dir,
        h: Header,
        body: &[u8],
        ts: Timestamp,
        out: &mut TxSink<'_>,
    ) {
        match (dir, self.phase) {
            (Dir::ToServer, Phase::Handshake) => self.on_startup_packet(h, body, ts, out),
            (Dir::ToServer, Phase::Auth) => {
                if h.tag == fe::PASSWORD {
                    // Password, SASL or GSS exchange: counted, never read.
                    self.startup.add(h.total() as u64, ts);
                } else {
                    self.phase = Phase::Ready;
                    self.on_client(h, body, ts, out);
                }
            }
            (Dir::ToServer, _) => self.on_client(h, body, ts, out),
            (Dir::ToClient, Phase::Auth | Phase::Handshake) => self.on_auth_reply(h, body, ts, out),
            (Dir::ToClient, _) => self.on_server(h, body, ts, out),
        }
    }

    // ------------------------------------------------------------ startup

    fn on_startup_packet(&mut self, h: Header, body: &[u8], ts: Timestamp, out: &mut TxSink<'_>) {
        self.startup.add(h.total() as u64, ts);
        match parser::parse_startup(body) {
            Some(parser::Startup::Ssl) => {
                out.count("pgsql.ssl_requests", 1);
                self.awaiting_answer = Some(b'S');
            }
            Some(parser::Startup::GssEnc) => {
                out.count("pgsql.gssenc_requests", 1);
                self.awaiting_answer = Some(b'G');
            }
            Some(parser::Startup::Message { params, .. }) => {
                for (k, v) in parser::startup_params(params) {
                    let v = Some(bounded(v, MAX_TEXT));
                    match k {
                        b"user" => self.user = v,
                        b"database" => self.database = v,
                        b"application_name" => self.application_name = v,
                        _ => {}
                    }
                }
                if self.database.is_none() {
                    // The server's default: the database named like the user.
                    self.database = self.user.clone();
                }
                self.render_conn();
                self.phase = Phase::Auth;
            }
            Some(parser::Startup::Cancel { process_id, .. }) => {
                out.count("pgsql.cancel_requests", 1);
                let tx = PgTx {
                    method: Some(Arc::from("CANCEL")),
                    request: std::mem::take(&mut self.startup),
                    cancel_pid: Some(process_id),
                    ..Default::default()
                };
                self.emit(tx, out);
                self.phase = Phase::Skipped;
            }
            Some(parser::Startup::Unknown(_)) | None => {
                out.count("pgsql.startup_unparsed", 1);
                self.phase = Phase::Ready;
            }
        }
    }

    fn on_encryption_answer(&mut self, req: u8, answer: u8, ts: Timestamp, out: &mut TxSink<'_>) {
        if answer == b'N' {
            out.count("pgsql.encryption_declined", 1);
            return;
        }
        if answer != req {
            // Not an answer: the server's stream is not what we thought.
            out.count("pgsql.bad_messages", 1);
            self.lose(Dir::ToClient);
            return;
        }
        out.count("pgsql.encrypted_connections", 1);
        let mut response = Side::default();
        response.add(1, ts);
        let tx = PgTx {
            method: Some(Arc::from(if req == b'G' { "GSSENC" } else { "SSL" })),
            request: std::mem::take(&mut self.startup),
            response,
            expects_response: true,
            encrypted: true,
            ..Default::default()
        };
        self.emit(tx, out);
        self.phase = Phase::Skipped;
    }

    /// Server messages between StartupMessage and the first ReadyForQuery.
    fn on_auth_reply(&mut self, h: Header, body: &[u8], ts: Timestamp, out: &mut TxSink<'_>) {
        match h.tag {
            be::AUTHENTICATION | be::NOTICE | be::NEGOTIATE_VERSION => {}
            be::PARAMETER_STATUS => self.on_parameter_status(body),
            be::BACKEND_KEY_DATA => {
                self.backend_pid = parser::parse_backend_key(body).map(|(pid, _)| pid);
                self.render_conn();
            }
            be::READY_FOR_QUERY => {
                self.startup = Side::default();
                self.phase = Phase::Ready;
            }
            be::ERROR => {
                // A failed login (bad password, unknown database, too many
                // connections): one LOGIN event.
                out.count("pgsql.login_failures", 1);
                let mut response = Side::default();
                response.add(h.total() as u64, ts);
                let tx = PgTx {
                    method: Some(Arc::from("LOGIN")),
                    request: std::mem::take(&mut self.startup),
                    response,
                    expects_response: true,
                    error: Some(Notice::from_fields(&parser::parse_fields(body))),
                    ..Default::default()
                };
                self.emit(tx, out);
                self.phase = Phase::Ready;
            }
            _ => {
                // Query-cycle traffic: the startup was not seen whole.
                self.phase = Phase::Ready;
                self.on_server(h, body, ts, out);
            }
        }
    }

    fn on_parameter_status(&mut self, body: &[u8]) {
        if let Some((b"server_version", v)) = parser::parse_parameter_status(body) {
            self.server_version = Some(bounded(v, 64));
            self.render_conn();
        }
    }

    // ------------------------------------------------------------ client

    fn on_client(&mut self, h: Header, body: &[u8], ts: Timestamp, out: &mut TxSink<'_>) {
        let n = h.total() as u64;
        match h.tag {
            fe::QUERY => {
                let q = statement_text(parser::cstr_or_all(body));
                let tx = PgTx {
                    method: Some(self.method(q)),
                    query: Some(shared(q, self.cfg.max_query_length)),
                    ..Default::default()
                };
                self.push_tx(Expect::Query, tx, n, ts, out);
            }
            fe::PARSE => {
                self.pre_request.add(n, ts);
                if let Some(p) = parser::parse_parse(body) {
                    let q = statement_text(p.query);
                    let st = Stmt {
                        method: self.method(q),
                        query: shared(q, self.cfg.max_query_length),
                        name: (!p.name.is_empty()).then(|| shared(p.name, MAX_TEXT)),
                    };
                    self.last_parse = Some(st.clone());
                    if p.name.is_empty() {
                        self.unnamed = Some(st);
                    } else {
                        let max = self.cfg.max_prepared_statements.max(1);
                        if insert_bounded(&mut self.stmts, p.name, st, max) {
                            out.count("pgsql.statements_evicted", 1);
                        }
                    }
                }
                self.push_expect(Expect::Parse, out);
            }
            fe::BIND => {
                self.pre_request.add(n, ts);
                if let Some(b) = parser::parse_bind(body) {
                    let st = if b.statement.is_empty() {
                        self.unnamed.clone()
                    } else {
                        self.stmts.get(b.statement).cloned()
                    };
                    match st {
                        Some(st) if b.portal.is_empty() => self.unnamed_portal = Some(st),
                        Some(st) => {
                            if insert_bounded(&mut self.portals, b.portal, st, MAX_PORTALS) {
                                out.count("pgsql.portals_evicted", 1);
                            }
                        }
                        None => {
                            out.count("pgsql.unknown_statements", 1);
                            if b.portal.is_empty() {
                                self.unnamed_portal = None;
                            } else {
                                self.portals.remove(b.portal);
                            }
                        }
                    }
                }
                self.push_expect(Expect::Bind, out);
            }
            fe::DESCRIBE => {
                self.pre_request.add(n, ts);
                self.push_expect(Expect::Describe, out);
            }
            fe::CLOSE => {
                self.pre_request.add(n, ts);
                match parser::parse_target(body) {
                    Some((b'S', name)) if !name.is_empty() => {
                        self.stmts.remove(name);
                    }
                    Some((b'S', _)) => self.unnamed = None,
                    Some((_, name)) if !name.is_empty() => {
                        self.portals.remove(name);
                    }
                    Some(_) => self.unnamed_portal = None,
                    None => {}
                }
                self.push_expect(Expect::Close, out);
            }
            fe::EXECUTE => {
                let portal = parser::parse_execute(body).map_or(&[][..], |(p, _)| p);
                let st = if portal.is_empty() {
                    self.unnamed_portal.clone()
                } else {
                    self.portals.get(portal).cloned()
                };
                let tx = match st {
                    Some(st) => PgTx {
                        method: Some(st.method),
                        query: Some(st.query),
                        statement: st.name,
                        ..Default::default()
                    },
                    None => {
                        out.count("pgsql.unknown_portals", 1);
                        PgTx::default()
                    }
                };
                self.push_tx(Expect::Execute, tx, n, ts, out);
            }
            fe::SYNC | fe::FLUSH => {
                match self.txs.back_mut() {
                    Some(tx) if tx.open => tx.request.add(n, ts),
                    _ => self.pre_request.add(n, ts),
                }
                if h.tag == fe::SYNC {
                    if let Some(tx) = self.txs.back_mut() {
                        tx.open = false;
                    }
                    self.discarding = false;
                    self.push_expect(Expect::Sync, out);
                }
            }
            fe::FUNCTION_CALL => {
                let tx = PgTx {
                    method: Some(Arc::from("FUNCTION_CALL")),
                    ..Default::default()
                };
                self.push_tx(Expect::Function, tx, n, ts, out);
            }
            fe::COPY_DATA | fe::COPY_DONE | fe::COPY_FAIL => {
                // COPY FROM STDIN: the data belongs to the running COPY.
                if let Some(tx) = self.front_tx() {
                    tx.request.add(n, ts);
                    let c = tx.copy.get_or_insert(Copy {
                        direction: "in",
                        ..Default::default()
                    });
                    if h.tag == fe::COPY_DATA {
                        c.bytes += u64::from(h.body_len);
                        c.messages += 1;
                    }
                }
                if h.tag == fe::COPY_DATA {
                    out.count("pgsql.copy_bytes", u64::from(h.body_len));
                }
            }
            fe::TERMINATE | fe::PASSWORD => {}
            _ => {
                out.count("pgsql.unknown_messages", 1);
                self.lose(Dir::ToServer);
            }
        }
    }

    /// Queues an answer-bearing message without a transaction.
    fn push_expect(&mut self, e: Expect, out: &mut TxSink<'_>) {
        if self.discarding && e != Expect::Sync {
            return;
        }
        let max = self.cfg.max_in_flight.max(1) * EXPECT_PER_TX;
        if self.expect.len() >= max {
            self.drop_oldest(out);
        }
        self.expect.push_back(e);
    }

    /// Queues a transaction's request; its request leg takes the bytes of
    /// the messages that led to it.
    fn push_tx(&mut self, e: Expect, mut tx: PgTx, n: u64, ts: Timestamp, out: &mut TxSink<'_>) {
        tx.request.add(n, ts);
        tx.request.absorb(std::mem::take(&mut self.pre_request));
        tx.open = e == Expect::Execute;
        tx.expects_response = true;
        if e == Expect::Execute {
            if let Some(f) = self.pre_fields.take() {
                tx.num_fields = Some(f);
            }
            tx.response.absorb(std::mem::take(&mut self.pre_response));
        }
        if self.discarding {
            // The server skips it: an error came before the Sync.
            tx.not_executed = true;
            out.count("pgsql.not_executed", 1);
            self.emit(tx, out);
            return;
        }
        if self.txs.kept() >= self.cfg.max_in_flight.max(1) {
            self.drop_oldest(out);
        }
        self.expect.push_back(e);
        // Room was made above, so the queue keeps it.
        let _ = self.txs.push(tx);
    }

    /// Bound hit: the oldest expectation (with its transaction) goes.
    fn drop_oldest(&mut self, out: &mut TxSink<'_>) {
        out.count("pgsql.in_flight_dropped", 1);
        while let Some(e) = self.expect.pop_front() {
            if e.has_tx() {
                if let Some(tx) = self.txs.pop_tx() {
                    self.emit(tx, out);
                }
                return;
            }
        }
    }

    /// The transaction the front expectation belongs to.
    fn front_tx(&mut self) -> Option<&mut PgTx> {
        if self.expect.front().is_some_and(|e| e.has_tx()) {
            self.txs.front_mut()
        } else {
            None
        }
    }

    // ------------------------------------------------------------ server

    fn on_server(&mut self, h: Header, body: &[u8], ts: Timestamp, out: &mut TxSink<'_>) {
        let n = h.total() as u64;
        match h.tag {
            be::PARSE_COMPLETE => self.answer(Expect::Parse, out),
            be::BIND_COMPLETE => self.answer(Expect::Bind, out),
            be::CLOSE_COMPLETE => self.answer(Expect::Close, out),
            be::PARAMETER_DESCRIPTION => {
                if self.answer_fits(Expect::Describe, out) {
                    self.describe_answer(n, ts, None);
                }
            }
            be::NO_DATA => {
                if self.answer_fits(Expect::Describe, out) {
                    self.describe_answer(n, ts, None);
                    self.expect.pop_front();
                }
            }
            be::ROW_DESCRIPTION => {
                let send_response = self.cfg.send_response;
                let fields = parser::row_description_count(body).map(u64::from);
                if self.expect.front() == Some(&Expect::Describe) {
                    self.describe_answer(n, ts, fields);
                    self.expect.pop_front();
                    if self.cfg.send_response {
                        if let Some(tx) = self.txs.front_mut() {
                            tx.columns.clear();
                            parser::row_description_names(body, &mut tx.columns, MAX_COLUMNS);
                        }
                    }
                } else if let Some(tx) = self.result_tx(out) {
                    tx.response.add(n, ts);
                    if tx.num_fields.is_none() {
                        tx.num_fields = fields;
                    }
                    if send_response && tx.columns.is_empty() {
                        parser::row_description_names(body, &mut tx.columns, MAX_COLUMNS);
                    }
                }
            }
            be::DATA_ROW => {
                let keep = self.cfg.send_response.then_some(self.cfg.max_rows);
                let row_len = self.cfg.max_row_length;
                if let Some(tx) = self.result_tx(out) {
                    tx.response.add(n, ts);
                    tx.num_rows += 1;
                    if keep.is_some_and(|max| tx.rows.len() < max) {
                        let mut row = Vec::new();
                        parser::data_row(body, row_len, &mut row);
                        tx.rows.push(row);
                    }
                }
            }
            be::COMMAND_COMPLETE | be::EMPTY_QUERY | be::PORTAL_SUSPENDED => {
                let Some(tx) = self.result_tx(out) else {
                    return;
                };
                tx.response.add(n, ts);
                match h.tag {
                    be::COMMAND_COMPLETE => {
                        tx.statements += 1;
                        let tag = parser::parse_command_tag(body);
                        if let Some(r) = tag.rows {
                            if tag.affects_rows() {
                                let a = tx.affected_rows.get_or_insert(0);
                                *a = a.saturating_add(r);
                            } else if tag.is_copy() {
                                let c = tx.copy.get_or_insert_with(Copy::default);
                                c.rows = c.rows.saturating_add(r);
                            }
                        }
                    }
                    be::EMPTY_QUERY => tx.statements += 1,
                    _ => tx.suspended = true,
                }
                if self.expect.front() == Some(&Expect::Execute) {
                    self.complete(out);
                }
            }
            be::ERROR => self.on_error(h, body, ts, out),
            be::NOTICE => {
                out.count("pgsql.notices", 1);
                if let Some(tx) = self.front_tx() {
                    tx.response.add(n, ts);
                    tx.notices += 1;
                    if tx.notice.is_none() {
                        tx.notice = Some(Notice::from_fields(&parser::parse_fields(body)));
                    }
                }
            }
            be::COPY_IN_RESPONSE | be::COPY_OUT_RESPONSE | be::COPY_BOTH_RESPONSE => {
                if let Some(tx) = self.result_tx(out) {
                    tx.response.add(n, ts);
                    let direction = match h.tag {
                        be::COPY_IN_RESPONSE => "in",
                        be::COPY_OUT_RESPONSE => "out",
                        _ => "both",
                    };
                    let c = tx.copy.get_or_insert_with(Copy::default);
                    c.direction = direction;
                }
            }
            be::COPY_DATA | be::COPY_DONE => {
                if let Some(tx) = self.front_tx() {
                    tx.response.add(n, ts);
                    let c = tx.copy.get_or_insert(Copy {
                        direction: "out",
                        ..Default::default()
                    });
                    if h.tag == be::COPY_DATA {
                        c.bytes += u64::from(h.body_len);
                        c.messages += 1;
                    }
                }
                if h.tag == be::COPY_DATA {
                    out.count("pgsql.copy_bytes", u64::from(h.body_len));
                }
            }
            be::FUNCTION_CALL_RESPONSE => {
                if let Some(tx) = self.result_tx(out) {
                    tx.response.add(n, ts);
                }
            }
            be::READY_FOR_QUERY => self.on_ready(out),
            be::PARAMETER_STATUS => {
                self.on_parameter_status(body);
                if let Some(tx) = self.front_tx() {
                    tx.response.add(n, ts);
                }
            }
            be::NOTIFICATION => out.count("pgsql.notifications", 1),
            be::AUTHENTICATION | be::BACKEND_KEY_DATA | be::NEGOTIATE_VERSION => {}
            _ => {
                out.count("pgsql.unknown_messages", 1);
                self.lose(Dir::ToClient);
            }
        }
    }

    /// True when the front expectation is `e`; after a loss, expectations
    /// in front of a later `e` are given up first.
    fn answer_fits(&mut self, e: Expect, out: &mut TxSink<'_>) -> bool {
        if self.expect.front() == Some(&e) {
            return true;
        }
        if self.suspect {
            let at = self
                .expect
                .iter()
                .take(RESYNC_LOOKAHEAD)
                .position(|&x| x == e);
            if let Some(at) = at {
                for _ in 0..at {
                    self.give_up_front(out);
                }
                return true;
            }
        }
        out.count("pgsql.unexpected_messages", 1);
        false
    }

    /// ParseComplete, BindComplete, CloseComplete: pop what they answer.
    fn answer(&mut self, e: Expect, out: &mut TxSink<'_>) {
        if self.answer_fits(e, out) {
            self.expect.pop_front();
        }
    }

    /// The transaction a result message (rows, CommandComplete, COPY,
    /// FunctionCallResponse) belongs to: the front one. After a loss, a
    /// result for a later Execute gives up the expectations in front.
    fn result_tx(&mut self, out: &mut TxSink<'_>) -> Option<&mut PgTx> {
        if !self.expect.front().is_some_and(|e| e.has_tx()) {
            if self.suspect {
                let at = self
                    .expect
                    .iter()
                    .take(RESYNC_LOOKAHEAD)
                    .position(|e| e.has_tx());
                if let Some(at) = at {
                    for _ in 0..at {
                        self.give_up_front(out);
                    }
                }
            }
            if !self.expect.front().is_some_and(|e| e.has_tx()) {
                out.count("pgsql.unmatched_responses", 1);
                return None;
            }
        }
        self.txs.front_mut()
    }

    /// Answer bytes of a Describe: they belong to the Execute that follows
    /// it (queued already, or the next one to come).
    fn describe_answer(&mut self, n: u64, ts: Timestamp, fields: Option<u64>) {
        let next = self
            .expect
            .iter()
            .skip(1)
            .take_while(|&&e| e != Expect::Sync)
            .any(|e| e.has_tx());
        match self.txs.front_mut() {
            Some(tx) if next => {
                tx.response.add(n, ts);
                if fields.is_some() {
                    tx.num_fields = fields;
                }
            }
            _ => {
                self.pre_response.add(n, ts);
                if fields.is_some() {
                    self.pre_fields = fields;
                }
            }
        }
    }

    /// Pops the front expectation without its answer (lost); a
    /// transaction is reported with the loss.
    fn give_up_front(&mut self, out: &mut TxSink<'_>) {
        if let Some(e) = self.expect.pop_front() {
            if e.has_tx() {
                if let Some(mut tx) = self.txs.pop_tx() {
                    tx.response.lost = true;
                    self.emit(tx, out);
                }
            }
        }
    }

    fn on_error(&mut self, h: Header, body: &[u8], ts: Timestamp, out: &mut TxSink<'_>) {
        let n = h.total() as u64;
        let notice = Notice::from_fields(&parser::parse_fields(body));
        out.count("pgsql.errors", 1);
        match self.expect.front().copied() {
            None | Some(Expect::Sync) => {
                // Nothing waits for it (an error at the implicit commit of
                // Sync, or a FATAL shutdown notice): counted, not reported.
                out.count("pgsql.unmatched_errors", 1);
            }
            Some(Expect::Query) | Some(Expect::Function) => {
                if let Some(tx) = self.txs.front_mut() {
                    tx.response.add(n, ts);
                    if tx.error.is_none() {
                        tx.error = Some(notice);
                    }
                }
            }
            Some(front) => {
                // Extended protocol: the failing message is the front one;
                // the error is reported on the Execute it led to, and the
                // server skips everything up to the next Sync.
                let has_exec = self
                    .expect
                    .iter()
                    .take_while(|&&e| e != Expect::Sync)
                    .any(|e| e.has_tx());
                if !has_exec {
                    // No Execute (yet): a transaction of its own, named by
                    // the statement of a failed Parse.
                    let (method, query, statement) = match (front, self.last_parse.clone()) {
                        (Expect::Parse, Some(st)) => (st.method, Some(st.query), st.name),
                        _ => (Arc::from(front.method()), None, None),
                    };
                    let mut tx = PgTx {
                        method: Some(method),
                        query,
                        statement,
                        request: std::mem::take(&mut self.pre_request),
                        expects_response: true,
                        error: Some(notice.clone()),
                        ..Default::default()
                    };
                    tx.response.absorb(std::mem::take(&mut self.pre_response));
                    tx.response.add(n, ts);
                    self.emit(tx, out);
                }
                let mut first = has_exec;
                while let Some(&e) = self.expect.front() {
                    if e == Expect::Sync {
                        break;
                    }
                    self.expect.pop_front();
                    if !e.has_tx() {
                        continue;
                    }
                    let Some(mut tx) = self.txs.pop_tx() else {
                        continue;
                    };
                    if first {
                        tx.response.add(n, ts);
                        tx.error = Some(notice.clone());
                        first = false;
                    } else {
                        tx.not_executed = true;
                        out.count("pgsql.not_executed", 1);
                    }
                    self.emit(tx, out);
                }
                if self.expect.is_empty() {
                    self.discarding = true;
                }
                self.pre_fields = None;
                self.pre_response = Side::default();
            }
        }
    }

    fn on_ready(&mut self, out: &mut TxSink<'_>) {
        let mut answered = false;
        while let Some(e) = self.expect.pop_front() {
            answered = true;
            match e {
                Expect::Query | Expect::Function => {
                    self.push_front_done(out);
                    break;
                }
                Expect::Sync => break,
                Expect::Execute => {
                    // Never answered before the cycle ended (lost).
                    if let Some(mut tx) = self.txs.pop_tx() {
                        tx.response.lost = true;
                        self.emit(tx, out);
                    }
                }
                _ => {}
            }
        }
        if !answered {
            out.count("pgsql.unmatched_responses", 1);
        }
        self.pre_response = Side::default();
        self.pre_fields = None;
        if !self.streams[0].lost && !self.streams[1].lost {
            self.suspect = false;
        }
    }

    /// Emits the front transaction (its expectation was just popped).
    fn push_front_done(&mut self, out: &mut TxSink<'_>) {
        if let Some(tx) = self.txs.pop_tx() {
            self.emit(tx, out);
        }
    }

    /// The front Execute is complete.
    fn complete(&mut self, out: &mut TxSink<'_>) {
        self.expect.pop_front();
        self.push_front_done(out);
    }

    fn emit(&self, tx: PgTx, out: &mut TxSink<'_>) {
        let unmatched = tx.expects_response && !tx.not_executed && !tx.response.started();
        let error = if tx.response.lost {
            Some(LOSS_RESPONSE)
        } else if tx.request.lost {
            Some(LOSS_REQUEST)
        } else if tx.not_executed {
            Some(NOT_EXECUTED)
        } else if unmatched {
            Some(UNMATCHED_REQUEST)
        } else {
            None
        };
        if unmatched {
            out.count("pgsql.unmatched_requests", 1);
        }
        let status = if tx.error.is_some() || unmatched || tx.not_executed {
            Status::Error
        } else {
            Status::Ok
        };
        let (request, response) = (tx.request.leg(), tx.response.leg());
        let t = Transaction {
            status: Some(status),
            error,
            detail: TxDetail {
                code: tx
                    .error
                    .as_ref()
                    .map_or(Code::None, |e| Code::Text(&e.code)),
                method: Some(tx.method.as_deref().unwrap_or("EXECUTE").as_bytes()),
                resource: tx.query.as_deref().map(str::as_bytes),
                ..TxDetail::default()
            },
            ..common::transaction("pgsql", request.as_ref(), response.as_ref())
        };
        debug_assert_eq!(self.conn_json, self.conn_fields(), "render_conn not called");
        out.emit(&t, |w| write_body(w, &tx, self));
    }

    /// Reports every transaction still waiting (at close, or those older
    /// than `older_than` on a tick).
    fn flush_pending(&mut self, older_than: Option<Timestamp>, out: &mut TxSink<'_>) {
        while let Some(front) = self.txs.front() {
            if let Some(limit) = older_than {
                let last = front.response.last().max(front.request.last()).unwrap_or(0);
                if last >= limit {
                    break;
                }
            }
            // Pop the expectations up to and including this transaction's.
            while let Some(e) = self.expect.pop_front() {
                if e.has_tx() {
                    break;
                }
            }
            let Some(mut tx) = self.txs.pop_tx() else {
                break;
            };
            if tx.response.started() && !tx.response.lost && older_than.is_none() {
                // The connection ended in the middle of the response.
                tx.response.lost = true;
            }
            self.emit(tx, out);
        }
        if older_than.is_none() {
            self.expect.clear();
        }
    }
}

/// Inserts into a bounded name map; when full, one other entry goes
/// (returns true then).
fn insert_bounded(map: &mut HashMap<Box<[u8]>, Stmt>, name: &[u8], st: Stmt, max: usize) -> bool {
    if let Some(slot) = map.get_mut(name) {
        *slot = st;
        return false;
    }
    let mut evicted = false;
    if map.len() >= max {
        if let Some(k) = map.keys().next().cloned() {
            map.remove(&k);
            evicted = true;
        }
    }
    map.insert(name.into(), st);
    evicted
}

/// `b` as shared text of at most `max` bytes (cut at a character
/// boundary; invalid UTF-8 replaced), with one allocation when valid.
fn shared(b: &[u8], max: usize) -> Arc<str> {
    let cut = b.get(..b.len().min(max)).unwrap_or(b);
    match std::str::from_utf8(cut) {
        Ok(s) => Arc::from(s),
        // Only the cut split a character: keep the whole ones.
        Err(e) if e.error_len().is_none() => {
            Arc::from(std::str::from_utf8(&cut[..e.valid_up_to()]).unwrap_or_default())
        }
        Err(_) => Arc::from(bounded(b, max)),
    }
}

/// The `pgsql` part of a transaction's event, as a template: constant runs
/// of keys and punctuation copied whole, the values written between them,
/// and the connection's fields copied from [`ConnJson`] (byte for byte
/// what `tests::write_body_fields`, the field-by-field writer, gives;
/// tested).
fn write_body(w: &mut JsonWriter<'_>, tx: &PgTx, s: &PgsqlSession) {
    w.field(br#""method":""#);
    w.text(tx.method.as_deref().unwrap_or("EXECUTE").as_bytes());
    if let Some(q) = &tx.query {
        w.lit(br#"","query":""#);
        w.text(q.as_bytes());
        if s.cfg.send_request {
            w.lit(br#"","request":""#);
            w.text(q.as_bytes());
        }
    }
    w.lit(b"\"");
    if s.cfg.send_response && (tx.num_fields.is_some() || tx.statements > 0) {
        w.lit(br#","response":""#);
        w.text(crate::proto::common::csv(&tx.columns, &tx.rows).as_bytes());
        w.lit(b"\"");
    }
    if !s.conn_json.user.is_empty() {
        w.interleave(&[&s.conn_json.user], &[]);
    }
    w.lit(br#","pgsql":{"#);
    write_tx_fields(w, tx);
    if tx.cancel_pid.is_some() {
        write_conn_tail(w, tx.cancel_pid, s);
    } else if !s.conn_json.tail.is_empty() {
        w.interleave(&[&s.conn_json.tail], &[]);
    }
    w.end();
}

/// The fields of `pgsql` that belong to the transaction.
fn write_tx_fields(w: &mut JsonWriter<'_>, tx: &PgTx) {
    if let Some(e) = &tx.error {
        w.str("error_code", &e.code);
        w.str("error_message", &e.message);
        w.str("error_severity", &e.severity);
    }
    if let Some(n) = tx.num_fields {
        w.u64("num_fields", n);
        w.u64("num_rows", tx.num_rows);
    } else if tx.num_rows > 0 {
        w.u64("num_rows", tx.num_rows);
    }
    if let Some(a) = tx.affected_rows {
        w.u64("affected_rows", a);
    }
    if tx.statements > 1 {
        w.u64("statements", tx.statements.into());
    }
    if let Some(name) = &tx.statement {
        w.str("statement", name);
    }
    if tx.suspended {
        w.bool("suspended", true);
    }
    if let Some(c) = &tx.copy {
        w.begin_obj("copy");
        w.str("direction", c.direction);
        w.u64("bytes", c.bytes);
        w.u64("messages", c.messages);
        w.u64("rows", c.rows);
        w.end();
    }
    if let Some(nt) = &tx.notice {
        w.begin_obj("notice");
        w.u64("count", tx.notices);
        w.str("severity", &nt.severity);
        w.str("code", &nt.code);
        w.str("message", &nt.message);
        w.end();
    }
    if tx.encrypted {
        w.bool("encrypted", true);
    }
}

/// The fields that end `pgsql`: the connection's (`pid`: the backend's,
/// or the one a CancelRequest names).
fn write_conn_tail(w: &mut JsonWriter<'_>, pid: Option<u32>, s: &PgsqlSession) {
    if let Some(pid) = pid {
        w.u64("backend_pid", pid.into());
    }
    if let Some(db) = &s.database {
        w.str("database", db);
    }
    if let Some(a) = &s.application_name {
        w.str("application_name", a);
    }
    if let Some(v) = &s.server_version {
        w.str("server_version", v);
    }
}

/// The `query` text: trimmed, without the trailing `;` (Packetbeat's
/// `query` has none).
fn statement_text(q: &[u8]) -> &[u8] {
    let mut q = trim_sql(q);
    while let Some(rest) = q.strip_suffix(b";") {
        q = trim_sql(rest);
    }
    q
}

/// `b` as text, at most `max` bytes.
fn bounded(b: &[u8], max: usize) -> String {
    truncate_string(
        String::from_utf8_lossy(b.get(..b.len().min(max + 4)).unwrap_or(b)).into_owned(),
        max,
    )
}

impl Session for PgsqlSession {
    fn data(&mut self, dir: Dir, data: &[u8], ts: Timestamp, out: &mut TxSink<'_>) {
        self.feed(dir, data, ts, out);
    }

    fn gap(&mut self, dir: Dir, len: u64, _ts: Timestamp, out: &mut TxSink<'_>) {
        if self.phase == Phase::Skipped {
            return;
        }
        out.count("pgsql.gap_bytes", len);
        match dir {
            Dir::ToClient => {
                if let Some(tx) = self.txs.front_mut() {
                    tx.response.lost = true;
                }
            }
            Dir::ToServer => match self.txs.back_mut() {
                Some(tx) if tx.open || self.streams[0].skip > 0 => tx.request.lost = true,
                _ => self.pre_request.lost = true,
            },
        }
        let s = &mut self.streams[dir.idx()];
        if s.skip >= len {
            // The gap is inside a message being skipped: still in sync.
            s.skip -= len;
            return;
        }
        out.count("pgsql.gaps_resync", 1);
        s.buf.clear();
        self.lose(dir);
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
    fn write_body_fields(w: &mut JsonWriter<'_>, tx: &PgTx, s: &PgsqlSession) {
        let cfg = &s.cfg;
        w.str("method", tx.method.as_deref().unwrap_or("EXECUTE"));
        if let Some(q) = &tx.query {
            w.str("query", q);
            if cfg.send_request {
                w.str("request", q);
            }
        }
        if cfg.send_response && (tx.num_fields.is_some() || tx.statements > 0) {
            w.str(
                "response",
                &crate::proto::common::csv(&tx.columns, &tx.rows),
            );
        }
        if let Some(u) = &s.user {
            w.begin_obj("user");
            w.str("name", u);
            w.end();
        }
        w.begin_obj("pgsql");
        write_tx_fields(w, tx);
        write_conn_tail(w, tx.cancel_pid.or(s.backend_pid), s);
        w.end();
    }

    #[test]
    fn template_body_equals_the_field_by_field_writer() {
        let huge = "x\"\\\u{1}é".repeat(10_000);
        let lossy = String::from_utf8_lossy(b"select \xff\xfe from t\r\n\x7f").into_owned();
        let texts = ["", "SELECT 1", "a\"b\\c\n\t\u{0}", &lossy, &huge];
        let notice = |t: &str| Notice {
            severity: t.into(),
            code: "42P01".into(),
            message: t.into(),
        };
        let mut n = 0;
        for (i, text) in texts.iter().enumerate() {
            let other = texts[(i + 2) % texts.len()];
            for conn in 0..4 {
                for send in [false, true] {
                    let cfg = PgsqlConfig {
                        send_request: send,
                        send_response: send,
                        ..PgsqlConfig::default()
                    };
                    let mut s = PgsqlSession::new(Arc::new(cfg));
                    if conn & 1 == 1 {
                        s.user = Some(other.into());
                        s.server_version = Some(text.to_string());
                        s.backend_pid = Some(7782);
                    }
                    if conn & 2 == 2 {
                        s.database = Some(other.into());
                        s.application_name = Some(String::new());
                    }
                    s.render_conn();
                    let txs = [
                        PgTx::default(),
                        PgTx {
                            method: Some(Arc::from(*text)),
                            query: Some(Arc::from(*text)),
                            num_fields: Some(1),
                            num_rows: 1,
                            columns: vec![text.to_string()],
                            rows: vec![vec![other.into()]],
                            ..PgTx::default()
                        },
                        PgTx {
                            method: Some(Arc::from("CANCEL")),
                            cancel_pid: Some(42),
                            error: Some(notice(text)),
                            notice: Some(notice(other)),
                            notices: 3,
                            statement: Some(Arc::from(other)),
                            copy: Some(Copy {
                                direction: "in",
                                bytes: 10,
                                messages: 2,
                                rows: 1,
                            }),
                            suspended: true,
                            encrypted: true,
                            affected_rows: Some(0),
                            statements: 2,
                            ..PgTx::default()
                        },
                        PgTx {
                            query: Some(Arc::from(other)),
                            num_rows: 5,
                            ..PgTx::default()
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
    fn cached_methods_match_case_blind_words_only() {
        let mut s = PgsqlSession::new(Arc::new(PgsqlConfig::default()));
        let a = s.method(b"select 1");
        let b = s.method(b"SeLeCt 2");
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(&*a, "SELECT");
        assert_eq!(&*s.method("sélect 1".as_bytes()), "S");
        assert_eq!(&*s.method(b"\xffx y"), "\u{fffd}X");
        assert_eq!(&*s.method(b"\xffX z"), "\u{fffd}X");
        assert_eq!(s.methods.len(), 3);
    }
}
