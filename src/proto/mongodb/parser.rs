//! The MongoDB wire protocol: message framing by the standard header and
//! summaries of each opcode's body, read with the bounded BSON walker in
//! [`super::bson`] (only the keys an event needs; documents are never
//! kept, at most rendered as bounded text when asked to).
//!
//! Specification: MongoDB Wire Protocol,
//! <https://www.mongodb.com/docs/manual/reference/mongodb-wire-protocol/>
//! (OP_MSG with its section kinds 0 and 1 and the checksum flag,
//! OP_COMPRESSED) and the legacy opcodes OP_REPLY, OP_UPDATE, OP_INSERT,
//! OP_QUERY, OP_GET_MORE, OP_DELETE and OP_KILL_CURSORS
//! (<https://www.mongodb.com/docs/manual/legacy-opcodes/>).

use super::bson::{self, Bounded, Doc, Elem};

/// OP_REPLY: answer to OP_QUERY / OP_GET_MORE.
pub const OP_REPLY: i32 = 1;
/// OP_UPDATE (legacy, no reply).
pub const OP_UPDATE: i32 = 2001;
/// OP_INSERT (legacy, no reply).
pub const OP_INSERT: i32 = 2002;
/// OP_QUERY (legacy; commands through `db.$cmd`).
pub const OP_QUERY: i32 = 2004;
/// OP_GET_MORE (legacy).
pub const OP_GET_MORE: i32 = 2005;
/// OP_DELETE (legacy, no reply).
pub const OP_DELETE: i32 = 2006;
/// OP_KILL_CURSORS (legacy, no reply).
pub const OP_KILL_CURSORS: i32 = 2007;
/// OP_COMPRESSED: another message, compressed.
pub const OP_COMPRESSED: i32 = 2012;
/// OP_MSG: every command of current drivers and servers.
pub const OP_MSG: i32 = 2013;

/// OP_MSG flag: a CRC-32C checksum ends the message.
pub const CHECKSUM_PRESENT: u32 = 1;
/// OP_MSG flag: the sender sends another message without waiting.
pub const MORE_TO_COME: u32 = 2;

/// The standard message header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// `messageLength`, header included.
    pub len: usize,
    /// `requestID`.
    pub request_id: i32,
    /// `responseTo`.
    pub response_to: i32,
    /// `opCode`.
    pub opcode: i32,
}

/// Bytes of the standard header.
pub const HEADER_LEN: usize = 16;

/// The header at the start of `b` (at least 16 bytes), unchecked.
pub fn header(b: &[u8]) -> Option<Header> {
    Some(Header {
        len: bson::i32_at(b, 0)? as u32 as usize,
        request_id: bson::i32_at(b, 4)?,
        response_to: bson::i32_at(b, 8)?,
        opcode: bson::i32_at(b, 12)?,
    })
}

/// The name of a known opcode.
pub fn opcode_name(op: i32) -> Option<&'static str> {
    Some(match op {
        OP_REPLY => "OP_REPLY",
        OP_UPDATE => "OP_UPDATE",
        OP_INSERT => "OP_INSERT",
        OP_QUERY => "OP_QUERY",
        OP_GET_MORE => "OP_GET_MORE",
        OP_DELETE => "OP_DELETE",
        OP_KILL_CURSORS => "OP_KILL_CURSORS",
        OP_COMPRESSED => "OP_COMPRESSED",
        OP_MSG => "OP_MSG",
        _ => return None,
    })
}

/// The shortest whole message of a known opcode (header included).
pub fn min_len(op: i32) -> usize {
    HEADER_LEN
        + match op {
            OP_REPLY => 20,
            OP_MSG => 10,
            OP_QUERY => 18,
            OP_INSERT => 5,
            OP_UPDATE => 19,
            OP_DELETE => 14,
            OP_GET_MORE => 17,
            OP_KILL_CURSORS => 8,
            OP_COMPRESSED => 9,
            _ => 0,
        }
}

/// Whether `h` could start a message no longer than `max`: a length
/// between the opcode's minimum and `max`. Unknown opcodes pass with any
/// length of at least a header (they are skipped by their length).
pub fn plausible(h: &Header, max: usize) -> bool {
    h.len >= min_len(h.opcode) && h.len <= max
}

/// Where a message could start in `b` after lost bytes: the first offset
/// holding a header with a known opcode and a plausible length.
pub fn find_start(b: &[u8], max: usize) -> Option<usize> {
    if b.len() < HEADER_LEN {
        return None;
    }
    (0..=b.len() - HEADER_LEN).find(|&i| {
        header(&b[i..]).is_some_and(|h| opcode_name(h.opcode).is_some() && plausible(&h, max))
    })
}

/// The text bounds of the optional `query` / `request` / `response`.
#[derive(Debug, Clone, Copy)]
pub struct Opts {
    /// Build the full `request` text.
    pub send_request: bool,
    /// Build the `response` text (returned documents, one a line).
    pub send_response: bool,
    /// Documents in the `response` text (0: all), then a `[...]` line.
    pub max_docs: usize,
    /// Bytes per document in the `response` text (0: no limit), then ` ...`.
    pub max_doc_length: usize,
    /// Bytes of the `query` and `request` texts (0: no limit).
    pub max_query_length: usize,
}

/// What an event says of a request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Request {
    /// The opcode (for OP_COMPRESSED: the compressed message's).
    pub opcode: i32,
    /// The command name (`find`, `insert`, `isMaster`, ...) or, for the
    /// legacy write opcodes, the operation.
    pub method: String,
    /// Database.
    pub database: Option<String>,
    /// Collection.
    pub collection: Option<String>,
    /// `fullCollectionName` of the legacy opcodes.
    pub full_collection_name: Option<String>,
    /// Packetbeat's `resource`: `db.collection` (`db.$cmd` for a command
    /// without a collection).
    pub resource: String,
    /// A command (OP_MSG, or OP_QUERY on `db.$cmd`): its reply is a
    /// command reply (`ok`, `errmsg`, ...), not user documents.
    pub command: bool,
    /// No reply will come (legacy writes, kill cursors, OP_MSG moreToCome).
    pub one_way: bool,
    /// `numberToSkip`.
    pub number_to_skip: Option<i32>,
    /// `numberToReturn`.
    pub number_to_return: Option<i32>,
    /// `cursorId` (getMore, killCursors).
    pub cursor_id: Option<i64>,
    /// Documents the request carries (inserted documents, update and
    /// delete statements, cursors to kill).
    pub documents: Option<u64>,
    /// Packetbeat's `query`: `db.collection.method({...})`, without the
    /// inserted documents and update payloads.
    pub query: String,
    /// Packetbeat's `request` (with `send_request`): the same with them.
    pub request: Option<String>,
    /// OP_MSG carried a checksum.
    pub checksum: bool,
    /// The body was not well formed where it was read.
    pub malformed: bool,
}

/// What an event says of a response.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Response {
    /// The opcode (for OP_COMPRESSED: the compressed message's).
    pub opcode: i32,
    /// `cursorId`: the cursor to continue with (0: exhausted).
    pub cursor_id: Option<i64>,
    /// `startingFrom` (OP_REPLY).
    pub starting_from: Option<i32>,
    /// Documents returned (OP_REPLY `numberReturned`; OP_MSG: the cursor's
    /// `firstBatch` / `nextBatch` length).
    pub number_returned: Option<u64>,
    /// `n`: documents a write matched or inserted.
    pub n: Option<i64>,
    /// `nModified`.
    pub n_modified: Option<i64>,
    /// The server's error message (`errmsg`, `$err`, first write error).
    pub error: Option<String>,
    /// Its code (e.g. 11000 duplicate key).
    pub error_code: Option<i32>,
    /// `codeName`.
    pub error_name: Option<String>,
    /// Write errors reported.
    pub write_errors: u64,
    /// OP_MSG moreToCome: another reply to the same request follows
    /// (exhaust cursors, streaming hello).
    pub more_to_come: bool,
    /// Packetbeat's `response` (with `send_response`).
    pub text: Option<String>,
    /// The body was not well formed where it was read.
    pub malformed: bool,
}

impl Response {
    /// Whether the server reported a failure.
    pub fn failed(&self) -> bool {
        self.error.is_some()
    }
}

fn owned(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Splits `db.collection` (the collection may contain dots).
fn split_ns(ns: &[u8]) -> (String, Option<String>) {
    match memchr::memchr(b'.', ns) {
        Some(i) => (owned(&ns[..i]), Some(owned(&ns[i + 1..]))),
        None => (owned(ns), None),
    }
}

/// Keys left out of `query` (session metadata, and the payload of writes).
fn query_skips(method: &str, key: &[u8]) -> bool {
    matches!(
        key,
        b"$db"
            | b"lsid"
            | b"$clusterTime"
            | b"$readPreference"
            | b"txnNumber"
            | b"documents"
            | b"updates"
            | b"deletes"
    ) || (key == b"update" && method.eq_ignore_ascii_case("findandmodify"))
}

/// Keys left out of `request` (session metadata only).
fn request_skips(key: &[u8]) -> bool {
    matches!(key, b"$db" | b"lsid" | b"$clusterTime")
}

/// Cuts `s` to `limit` bytes at a character boundary and marks the cut.
fn cut(s: &mut String, limit: usize) {
    if limit > 0 && s.len() > limit {
        let mut at = limit;
        while !s.is_char_boundary(at) {
            at -= 1;
        }
        s.truncate(at);
        s.push_str(" ...");
    }
}

/// `resource.method(params)` with `.skip(n)` / `.limit(n)`, Packetbeat's
/// query text, params rendered from `params` without the first key when
/// `command`, and `seqs` (OP_MSG kind-1 sections) appended when given.
#[allow(clippy::too_many_arguments)]
fn query_text(
    resource: &str,
    method: &str,
    params: Option<Doc<'_>>,
    command: bool,
    skip: &dyn Fn(&[u8]) -> bool,
    seqs: &[(&[u8], &[u8])],
    number_to_skip: Option<i32>,
    number_to_return: Option<i32>,
    limit: usize,
) -> String {
    let mut s = String::with_capacity(resource.len() + method.len() + 64);
    s.push_str(resource);
    s.push('.');
    s.push_str(method);
    s.push('(');
    let open = s.len();
    if let Some(p) = params {
        let first = p.first().map(|e| e.key);
        let mut b = Bounded::new(&mut s, limit.saturating_add(1));
        bson::render(p, &mut b, &|k| (command && Some(k) == first) || skip(k));
    }
    if s.len() == open + 2 && s.ends_with("{}") {
        s.truncate(open);
    }
    for (id, docs) in seqs {
        if limit > 0 && s.len() > limit {
            break;
        }
        if s.ends_with('}') {
            s.pop();
            s.push(',');
        } else {
            s.push('{');
        }
        s.push('"');
        s.push_str(&String::from_utf8_lossy(id));
        s.push_str("\":[");
        let mut rest = *docs;
        let mut first = true;
        while let Some((d, n)) = bson::doc(rest) {
            if limit > 0 && s.len() > limit {
                break;
            }
            if !first {
                s.push(',');
            }
            first = false;
            bson::render(
                d,
                &mut Bounded::new(&mut s, limit.saturating_add(1)),
                &|_| false,
            );
            rest = &rest[n..];
        }
        s.push_str("]}");
    }
    cut(&mut s, limit);
    s.push(')');
    if let Some(n) = number_to_skip.filter(|&n| n > 0) {
        s.push_str(&format!(".skip({n})"));
    }
    if let Some(n) = number_to_return.filter(|&n| n > 0 && n < i32::MAX) {
        s.push_str(&format!(".limit({n})"));
    }
    s
}

fn resource(db: Option<&str>, coll: Option<&str>) -> String {
    match (db, coll) {
        (Some(d), Some(c)) => format!("{d}.{c}"),
        (Some(d), None) => format!("{d}.$cmd"),
        (None, Some(c)) => c.to_owned(),
        (None, None) => String::new(),
    }
}

/// Commands whose first element's value is the collection they act on
/// (for others, such as `replSetHeartbeat` or `hello`, it is something
/// else: a replica set name, a flag).
const COLLECTION_COMMANDS: &[&str] = &[
    "find",
    "insert",
    "update",
    "delete",
    "findandmodify",
    "aggregate",
    "count",
    "distinct",
    "create",
    "drop",
    "createindexes",
    "dropindexes",
    "deleteindexes",
    "listindexes",
    "collmod",
    "mapreduce",
    "killcursors",
    "validate",
    "compact",
    "collstats",
    "reindex",
    "geonear",
    "geosearch",
    "parallelcollectionscan",
    "cleanuporphaned",
    "shardcollection",
];

/// A command's collection: the string value of its first element for the
/// commands that name one there, or the `collection` key (getMore).
fn command_collection(d: Doc<'_>) -> Option<String> {
    let first = d.first()?;
    if first.key.eq_ignore_ascii_case(b"getMore") {
        return d.get("collection").and_then(|e| e.str()).map(str::to_owned);
    }
    names_collection(first.key)
        .then(|| first.str())
        .flatten()
        .map(str::to_owned)
}

/// Whether command `name` names its collection as its first value.
fn names_collection(name: &[u8]) -> bool {
    COLLECTION_COMMANDS
        .iter()
        .any(|c| name.eq_ignore_ascii_case(c.as_bytes()))
}

/// The legacy `$query` wrapper: `{$query: {...}, $readPreference: ...}`.
fn unwrap_query(d: Doc<'_>) -> Doc<'_> {
    match d.first() {
        Some(e) if e.key == b"$query" || e.key == b"query" => e.doc().unwrap_or(d),
        _ => d,
    }
}

/// Reads a request body (`body` is the message after its header) of
/// opcode `op`.
pub fn request(op: i32, body: &[u8], o: &Opts) -> Request {
    let mut r = Request {
        opcode: op,
        ..Request::default()
    };
    match op {
        OP_MSG => op_msg_request(body, o, &mut r),
        OP_QUERY => op_query(body, o, &mut r),
        OP_INSERT | OP_UPDATE | OP_DELETE | OP_GET_MORE => legacy(op, body, o, &mut r),
        OP_KILL_CURSORS => {
            r.method = "killCursors".into();
            r.one_way = true;
            let n = bson::i32_at(body, 4);
            r.documents = n.map(|n| n.max(0) as u64);
            r.cursor_id = bson::i64_at(body, 8);
            r.malformed = n.is_none();
            r.query = "killCursors()".into();
        }
        _ => {
            r.method = opcode_name(op).unwrap_or("unknown").into();
            r.malformed = true;
        }
    }
    r
}

/// The sections of an OP_MSG: the body and the kind-1 sequences.
struct Sections<'a> {
    flags: u32,
    body: Option<Doc<'a>>,
    seqs: [(&'a [u8], &'a [u8]); 4],
    nseqs: usize,
    seq_docs: u64,
    malformed: bool,
}

fn sections(b: &[u8]) -> Sections<'_> {
    let mut s = Sections {
        flags: bson::i32_at(b, 0).map_or(0, |f| f as u32),
        body: None,
        seqs: [(&[], &[]); 4],
        nseqs: 0,
        seq_docs: 0,
        malformed: b.len() < 4,
    };
    let end = if s.flags & CHECKSUM_PRESENT != 0 {
        b.len().saturating_sub(4)
    } else {
        b.len()
    };
    let mut rest = b.get(4..end.max(4)).unwrap_or(&[]);
    while let Some((&kind, tail)) = rest.split_first() {
        match kind {
            0 => match bson::doc(tail) {
                Some((d, n)) if s.body.is_none() => {
                    s.body = Some(d);
                    rest = &tail[n..];
                }
                _ => {
                    s.malformed = true;
                    break;
                }
            },
            1 => {
                let size = bson::i32_at(tail, 0).unwrap_or(0);
                let Some(sec) = (size >= 5).then(|| tail.get(4..size as usize)).flatten() else {
                    s.malformed = true;
                    break;
                };
                let Some((id, k)) = bson::cstring(sec) else {
                    s.malformed = true;
                    break;
                };
                let docs = &sec[k..];
                let mut r = docs;
                while let Some((_, n)) = bson::doc(r) {
                    s.seq_docs += 1;
                    r = &r[n..];
                }
                s.malformed |= !r.is_empty();
                if s.nseqs < s.seqs.len() {
                    s.seqs[s.nseqs] = (id, docs);
                    s.nseqs += 1;
                }
                rest = &tail[size as usize..];
            }
            _ => {
                s.malformed = true;
                break;
            }
        }
    }
    s.malformed |= s.body.is_none();
    s
}

fn op_msg_request(b: &[u8], o: &Opts, r: &mut Request) {
    let s = sections(b);
    r.command = true;
    r.one_way = s.flags & MORE_TO_COME != 0;
    r.checksum = s.flags & CHECKSUM_PRESENT != 0;
    r.malformed = s.malformed;
    let Some(body) = s.body else {
        r.method = "msg".into();
        return;
    };
    // One walk for the keys an event needs.
    let mut first = None;
    let mut bulk = None;
    let mut get_more_coll = None;
    for e in body.iter() {
        if first.is_none() {
            first = Some(e);
            continue;
        }
        match e.key {
            b"$db" => r.database = e.str().map(str::to_owned),
            b"documents" | b"updates" | b"deletes" if bulk.is_none() => {
                bulk = e.doc().map(|a| a.count())
            }
            b"collection" => get_more_coll = e.str(),
            _ => {}
        }
    }
    r.method = first.map_or_else(|| "msg".into(), |e| e.key_str().into_owned());
    if let Some(f) = first {
        if f.key == b"getMore" {
            r.cursor_id = f.int();
            r.collection = get_more_coll.map(str::to_owned);
        } else if names_collection(f.key) {
            r.collection = f.str().map(str::to_owned);
        }
    }
    r.documents = if s.nseqs > 0 { Some(s.seq_docs) } else { bulk };
    let res = resource(r.database.as_deref(), r.collection.as_deref());
    r.query = query_text(
        &res,
        &r.method,
        Some(body),
        true,
        &|k| query_skips(&r.method, k),
        &[],
        None,
        None,
        o.max_query_length,
    );
    if o.send_request {
        r.request = Some(query_text(
            &res,
            &r.method,
            Some(body),
            true,
            &request_skips,
            &s.seqs[..s.nseqs],
            None,
            None,
            o.max_query_length,
        ));
    }
    r.resource = res;
}

fn op_query(b: &[u8], o: &Opts, r: &mut Request) {
    let Some((ns, k)) = b.get(4..).and_then(bson::cstring) else {
        r.method = "find".into();
        r.malformed = true;
        return;
    };
    let (db, coll) = split_ns(ns);
    r.full_collection_name = Some(owned(ns));
    let at = 4 + k;
    r.number_to_skip = bson::i32_at(b, at);
    r.number_to_return = bson::i32_at(b, at + 4);
    let query = b.get(at + 8..).and_then(bson::doc).map(|(d, _)| d);
    r.malformed = query.is_none();
    r.command = coll.as_deref() == Some("$cmd");
    r.database = Some(db);
    let params = query.map(unwrap_query);
    if r.command {
        let first = params.and_then(|d| d.first());
        r.method = first.map_or_else(|| "otherCommand".into(), |e| e.key_str().into_owned());
        r.collection = params.and_then(command_collection);
        r.documents = params
            .and_then(|d| {
                ["documents", "updates", "deletes"]
                    .iter()
                    .find_map(|k| d.get(k))
            })
            .and_then(|e| e.doc())
            .map(|a| a.count());
    } else {
        r.method = "find".into();
        r.collection = coll;
    }
    let res = resource(r.database.as_deref(), r.collection.as_deref());
    let method = r.method.clone();
    let (command, to_skip, to_return) = (r.command, r.number_to_skip, r.number_to_return);
    let text = |skip: &dyn Fn(&[u8]) -> bool| {
        query_text(
            &res,
            &method,
            params,
            command,
            skip,
            &[],
            to_skip,
            to_return,
            o.max_query_length,
        )
    };
    r.query = text(&|k| query_skips(&method, k));
    if o.send_request {
        r.request = Some(text(&request_skips));
    }
    r.resource = res;
}

fn legacy(op: i32, b: &[u8], o: &Opts, r: &mut Request) {
    r.method = match op {
        OP_INSERT => "insert",
        OP_UPDATE => "update",
        OP_DELETE => "delete",
        _ => "getMore",
    }
    .into();
    r.one_way = op != OP_GET_MORE;
    let Some((ns, k)) = b.get(4..).and_then(bson::cstring) else {
        r.malformed = true;
        return;
    };
    let (db, coll) = split_ns(ns);
    r.full_collection_name = Some(owned(ns));
    r.database = Some(db);
    r.collection = coll;
    let at = 4 + k;
    let res = resource(r.database.as_deref(), r.collection.as_deref());
    let mut docs: Vec<Doc<'_>> = Vec::new();
    match op {
        OP_GET_MORE => {
            r.number_to_return = bson::i32_at(b, at);
            r.cursor_id = bson::i64_at(b, at + 4);
            r.malformed = r.cursor_id.is_none();
        }
        OP_INSERT => {
            let mut rest = b.get(at..).unwrap_or(&[]);
            let mut n = 0;
            while let Some((d, used)) = bson::doc(rest) {
                if docs.is_empty() {
                    docs.push(d);
                }
                n += 1;
                rest = &rest[used..];
            }
            r.documents = Some(n);
            r.malformed = !rest.is_empty() || n == 0;
        }
        _ => {
            // OP_UPDATE: flags, selector, update; OP_DELETE: flags, selector.
            let mut rest = b.get(at + 4..).unwrap_or(&[]);
            while let Some((d, used)) = bson::doc(rest) {
                docs.push(d);
                rest = &rest[used..];
                if docs.len() == 2 {
                    break;
                }
            }
            r.documents = Some(1);
            r.malformed = docs.len() < if op == OP_UPDATE { 2 } else { 1 };
        }
    }
    // `query` shows the selector (update, delete); `request` adds the
    // update or the (first) inserted document.
    let selector = if op == OP_INSERT {
        None
    } else {
        docs.first().copied()
    };
    let none = |_: &[u8]| false;
    r.query = query_text(
        &res,
        &r.method,
        selector,
        false,
        &none,
        &[],
        None,
        None,
        o.max_query_length,
    );
    if o.send_request {
        let payload = match op {
            OP_INSERT => docs.first().copied(),
            OP_UPDATE => docs.get(1).copied(),
            _ => None,
        };
        let mut s = r.query.clone();
        if let Some(p) = payload {
            s.push(' ');
            bson::render(
                p,
                &mut Bounded::new(&mut s, o.max_query_length.saturating_add(1)),
                &none,
            );
            cut(&mut s, o.max_query_length);
        }
        r.request = Some(s);
    }
    r.resource = res;
}

/// Reads a response body of opcode `op`; `command` says the request was a
/// command (its reply's first document is read as a command reply).
pub fn response(op: i32, body: &[u8], command: bool, o: &Opts) -> Response {
    let mut r = Response {
        opcode: op,
        ..Response::default()
    };
    match op {
        OP_REPLY => op_reply(body, command, o, &mut r),
        OP_MSG => {
            let s = sections(body);
            r.malformed = s.malformed;
            r.more_to_come = s.flags & MORE_TO_COME != 0;
            if let Some(d) = s.body {
                let batch = command_reply(d, &mut r);
                if o.send_response {
                    r.text = Some(match batch {
                        Some(b) => docs_text(b, o),
                        None => docs_text_one(d, o),
                    });
                }
            }
        }
        _ => r.malformed = true,
    }
    r
}

fn op_reply(b: &[u8], command: bool, o: &Opts, r: &mut Response) {
    let flags = bson::i32_at(b, 0).unwrap_or(0);
    r.cursor_id = bson::i64_at(b, 4);
    r.starting_from = bson::i32_at(b, 12);
    let n = bson::i32_at(b, 16);
    r.number_returned = n.map(|n| n.max(0) as u64);
    r.malformed = n.is_none();
    let docs = b.get(20..).unwrap_or(&[]);
    let first = bson::doc(docs).map(|(d, _)| d);
    if flags & 2 != 0 {
        // QueryFailure: one document with `$err` (and `code`).
        let d = first;
        r.error = Some(
            d.and_then(|d| d.get("$err"))
                .and_then(|e| e.str())
                .unwrap_or("query failure")
                .to_owned(),
        );
        r.error_code = d
            .and_then(|d| d.get("code"))
            .and_then(|e| e.int())
            .map(|c| c as i32);
    } else if flags & 1 != 0 {
        r.error = Some("cursor not found".into());
        r.error_code = Some(43);
    } else if command {
        if let Some(d) = first {
            command_reply(d, r);
        }
    }
    if o.send_response {
        let mut text = String::new();
        let mut rest = docs;
        let mut i = 0;
        while let Some((d, used)) = bson::doc(rest) {
            if !push_doc(&mut text, i, d, o) {
                break;
            }
            i += 1;
            rest = &rest[used..];
        }
        r.text = Some(text);
    }
}

/// Appends line `i` (a document, or the `[...]` marker past `max_docs`);
/// false when no more lines are wanted.
fn push_doc(text: &mut String, i: usize, d: Doc<'_>, o: &Opts) -> bool {
    if i > 0 {
        text.push('\n');
    }
    if o.max_docs > 0 && i >= o.max_docs {
        text.push_str("[...]");
        return false;
    }
    let mut line = String::new();
    let bound = if o.max_doc_length == 0 {
        0
    } else {
        o.max_doc_length + 1
    };
    bson::render(d, &mut Bounded::new(&mut line, bound), &|_| false);
    cut(&mut line, o.max_doc_length);
    text.push_str(&line);
    true
}

fn docs_text(batch: Doc<'_>, o: &Opts) -> String {
    let mut text = String::new();
    for (i, e) in batch.iter().enumerate() {
        let Some(d) = e.doc() else { continue };
        if !push_doc(&mut text, i, d, o) {
            break;
        }
    }
    text
}

fn docs_text_one(d: Doc<'_>, o: &Opts) -> String {
    let mut text = String::new();
    push_doc(&mut text, 0, d, o);
    text
}

fn err_fields(d: Doc<'_>) -> (Option<String>, Option<i32>) {
    let msg = d.get("errmsg").and_then(|e| e.str()).map(str::to_owned);
    let code = d.get("code").and_then(|e| e.int()).map(|c| c as i32);
    (msg, code)
}

/// Reads a command reply (`ok`, `errmsg`, `code`, `codeName`, `n`,
/// `writeErrors`, `writeConcernError`, `cursor`); returns the cursor's
/// batch when there is one.
fn command_reply<'a>(d: Doc<'a>, r: &mut Response) -> Option<Doc<'a>> {
    let mut ok = None;
    let mut batch = None;
    let mut top: (Option<String>, Option<i32>) = (None, None);
    let mut write_error = None;
    let mut concern_error = None;
    for e in d.iter() {
        match e.key {
            b"ok" => ok = e.float(),
            b"errmsg" => top.0 = e.str().map(str::to_owned),
            b"$err" => top.0 = top.0.or_else(|| e.str().map(str::to_owned)),
            b"code" => top.1 = e.int().map(|c| c as i32),
            b"codeName" => r.error_name = e.str().map(str::to_owned),
            b"n" => r.n = e.int(),
            b"nModified" => r.n_modified = e.int(),
            b"writeErrors" => {
                if let Some(a) = e.doc() {
                    r.write_errors = a.count();
                    write_error = a.first().and_then(|x| x.doc()).map(err_fields);
                }
            }
            b"writeConcernError" => concern_error = e.doc().map(err_fields),
            b"cursor" => {
                if let Some(c) = e.doc() {
                    r.cursor_id = c.get("id").and_then(|x| x.int());
                    batch = c
                        .iter()
                        .find(|x| x.key == b"firstBatch" || x.key == b"nextBatch")
                        .and_then(|x: Elem<'_>| x.doc());
                    r.number_returned = batch.map(|b| b.count());
                }
            }
            _ => {}
        }
    }
    if ok == Some(0.0) {
        let name = r.error_name.clone();
        r.error = Some(top.0.or(name).unwrap_or_else(|| "command failed".into()));
        r.error_code = top.1;
    } else if let Some((msg, code)) = write_error {
        r.error = Some(msg.unwrap_or_else(|| "write error".into()));
        r.error_code = code;
    } else if let Some((msg, code)) = concern_error {
        r.error = Some(msg.unwrap_or_else(|| "write concern error".into()));
        r.error_code = code;
    } else if ok.is_none() && top.0.is_some() {
        // A legacy `$err` / `errmsg` without `ok`.
        r.error = top.0;
        r.error_code = top.1;
    }
    batch
}

/// The compressor named by OP_COMPRESSED's `compressorId`.
pub fn compressor_name(id: u8) -> &'static str {
    match id {
        0 => "noop",
        1 => "snappy",
        2 => "zlib",
        3 => "zstd",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::super::bson::build::{d, msg, op_msg, V};
    use super::*;

    const O: Opts = Opts {
        send_request: true,
        send_response: true,
        max_docs: 10,
        max_doc_length: 5000,
        max_query_length: 1024,
    };

    #[test]
    fn op_msg_request_names_command_database_and_collection() {
        let body = d(&[
            ("insert", V::S("users")),
            ("ordered", V::B(true)),
            ("$db", V::S("shop")),
        ]);
        let m = op_msg(
            5,
            0,
            CHECKSUM_PRESENT,
            &body,
            &[(
                "documents",
                vec![d(&[("a", V::I(1))]), d(&[("a", V::I(2))])],
            )],
        );
        let h = header(&m).unwrap();
        assert_eq!((h.len, h.request_id, h.opcode), (m.len(), 5, OP_MSG));
        let r = request(OP_MSG, &m[16..], &O);
        assert_eq!(r.method, "insert");
        assert_eq!(r.database.as_deref(), Some("shop"));
        assert_eq!(r.collection.as_deref(), Some("users"));
        assert_eq!(r.documents, Some(2));
        assert!(r.checksum && !r.one_way && !r.malformed);
        assert_eq!(r.query, r#"shop.users.insert({"ordered":true})"#);
        assert_eq!(
            r.request.as_deref(),
            Some(r#"shop.users.insert({"ordered":true,"documents":[{"a":1},{"a":2}]})"#)
        );
    }

    #[test]
    fn op_query_commands_and_finds() {
        let q = d(&[("count", V::S("c")), ("query", V::D(d(&[("x", V::I(1))])))]);
        let mut body = 0i32.to_le_bytes().to_vec();
        body.extend_from_slice(b"db.$cmd\0");
        body.extend_from_slice(&0i32.to_le_bytes());
        body.extend_from_slice(&(-1i32).to_le_bytes());
        body.extend_from_slice(&q);
        let r = request(OP_QUERY, &body, &O);
        assert_eq!((r.method.as_str(), r.command), ("count", true));
        assert_eq!(r.collection.as_deref(), Some("c"));
        assert_eq!(r.query, r#"db.c.count({"query":{"x":1}})"#);
        let mut body = 0i32.to_le_bytes().to_vec();
        body.extend_from_slice(b"test.restaurants\0");
        body.extend_from_slice(&5i32.to_le_bytes());
        body.extend_from_slice(&1i32.to_le_bytes());
        body.extend_from_slice(&d(&[]));
        let r = request(OP_QUERY, &body, &O);
        assert_eq!((r.method.as_str(), r.command), ("find", false));
        assert_eq!(r.query, "test.restaurants.find().skip(5).limit(1)");
    }

    #[test]
    fn replies_carry_counts_cursors_and_errors() {
        let batch = V::A(vec![d(&[("_id", V::I(1))]), d(&[("_id", V::I(2))])]);
        let body = d(&[
            (
                "cursor",
                V::D(d(&[
                    ("firstBatch", batch),
                    ("id", V::L(77)),
                    ("ns", V::S("a.b")),
                ])),
            ),
            ("ok", V::F(1.0)),
        ]);
        let m = op_msg(9, 5, 0, &body, &[]);
        let r = response(OP_MSG, &m[16..], true, &O);
        assert_eq!((r.number_returned, r.cursor_id), (Some(2), Some(77)));
        assert!(!r.failed());
        assert_eq!(r.text.as_deref(), Some("{\"_id\":1}\n{\"_id\":2}"));
        let we = V::A(vec![d(&[
            ("index", V::I(0)),
            ("code", V::I(11000)),
            ("errmsg", V::S("E11000 dup")),
        ])]);
        let body = d(&[("n", V::I(0)), ("writeErrors", we), ("ok", V::F(1.0))]);
        let r = response(OP_MSG, &op_msg(1, 1, 0, &body, &[])[16..], true, &O);
        assert_eq!(r.error.as_deref(), Some("E11000 dup"));
        assert_eq!(
            (r.error_code, r.write_errors, r.n),
            (Some(11000), 1, Some(0))
        );
        let body = d(&[
            ("ok", V::F(0.0)),
            ("errmsg", V::S("ns not found")),
            ("code", V::I(26)),
            ("codeName", V::S("NamespaceNotFound")),
        ]);
        let r = response(OP_MSG, &op_msg(1, 1, 0, &body, &[])[16..], true, &O);
        assert_eq!(r.error.as_deref(), Some("ns not found"));
        assert_eq!(
            (r.error_code, r.error_name.as_deref()),
            (Some(26), Some("NamespaceNotFound"))
        );
        // A user document with an `ok` key is not an error in a find reply.
        let mut reply = 0i32.to_le_bytes().to_vec();
        reply.extend_from_slice(&0i64.to_le_bytes());
        reply.extend_from_slice(&0i32.to_le_bytes());
        reply.extend_from_slice(&1i32.to_le_bytes());
        reply.extend_from_slice(&d(&[("ok", V::F(0.0))]));
        let r = response(OP_REPLY, &reply, false, &O);
        assert!(!r.failed());
        assert_eq!(r.number_returned, Some(1));
    }

    #[test]
    fn framing_helpers() {
        let m = msg(1, 0, OP_KILL_CURSORS, &[0; 16]);
        let h = header(&m).unwrap();
        assert!(plausible(&h, 1 << 20));
        assert!(!plausible(&h, 20));
        let mut junk = vec![0xffu8; 7];
        junk.extend_from_slice(&m);
        assert_eq!(find_start(&junk, 1 << 20), Some(7));
        assert_eq!(find_start(&m[..15], 1 << 20), None);
        let r = request(OP_KILL_CURSORS, &m[16..], &O);
        assert_eq!(
            (r.method.as_str(), r.one_way, r.documents),
            ("killCursors", true, Some(0))
        );
    }
}
