//! MySQL parser and session tests: field-commented packets, every prefix
//! and every split point, pairing, errors, gaps and bounds; plus a small
//! pcap harness (libpcap + etherparse + the TCP placeholder) that replays
//! the Packetbeat corpus through a session before the full pipeline
//! exists. The Redis tests reuse the harness.

use super::parser::{self, PacketHeader};
use super::{MysqlConfig, MysqlSession};
use crate::event::{EventBatch, FlowContext, Transport};
use crate::proto::{Dir, Session, TxSink};
use crate::stats::Counters;
use crate::tcp::{Delivery, Segment, TcpConfig, TcpConn};
use crate::time::{Timestamp, MILLISECOND, SECOND};
use serde_json::Value;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::Arc;

// ---------------------------------------------------------------- harness

/// A fake flow context for hand-built sinks.
pub(crate) fn flow() -> FlowContext {
    FlowContext::new(
        7,
        (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 40000),
        (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 3306),
        Transport::Tcp,
        "1:test".into(),
    )
}

/// Drives one session by hand and collects its events.
pub(crate) struct Harness<S: Session> {
    pub session: S,
    pub flow: FlowContext,
    pub batch: EventBatch,
    pub counters: Counters,
}

impl<S: Session> Harness<S> {
    pub fn new(session: S) -> Self {
        Harness {
            session,
            flow: flow(),
            batch: EventBatch::default(),
            counters: Counters::new(),
        }
    }

    fn with<R>(&mut self, f: impl FnOnce(&mut S, &mut TxSink<'_>) -> R) -> R {
        let mut sink = TxSink {
            flow: &mut self.flow,
            events: &mut self.batch,
            counters: &mut self.counters,
        };
        f(&mut self.session, &mut sink)
    }

    pub fn data(&mut self, dir: Dir, b: &[u8], ts: Timestamp) {
        self.with(|s, o| s.data(dir, b, ts, o));
    }

    pub fn gap(&mut self, dir: Dir, n: u64, ts: Timestamp) {
        self.with(|s, o| s.gap(dir, n, ts, o));
    }

    pub fn tick(&mut self, now: Timestamp) {
        self.with(|s, o| s.tick(now, o));
    }

    pub fn close(&mut self, now: Timestamp) {
        self.with(|s, o| s.close(now, o));
    }

    pub fn events(&self) -> Vec<Value> {
        (0..self.batch.len())
            .map(|i| serde_json::from_slice(self.batch.json(i)).expect("valid JSON event"))
            .collect()
    }
}

/// A file of the shared corpus, or `None` (with a message) when absent.
pub(crate) fn corpus(file: &str) -> Option<PathBuf> {
    let p = crate::test_support::corpus_dir()?.join(file);
    if p.exists() {
        Some(p)
    } else {
        crate::test_support::skip(&format!("corpus file {} not found", p.display()));
        None
    }
}

/// Replays a pcap: every TCP flow with a server port in `ports` gets a
/// session from `make`; returns all events (in emission order) and counters.
pub(crate) fn replay<S: Session>(
    path: &std::path::Path,
    ports: &[u16],
    make: impl Fn() -> S,
) -> (Vec<Value>, Counters) {
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};
    let mut cap = pcap::Capture::from_file(path).expect("open pcap");
    let link = cap.get_datalink().0;
    type Key = (IpAddr, u16, IpAddr, u16);
    let mut flows: HashMap<Key, (TcpConn, Harness<S>)> = HashMap::new();
    let mut order: Vec<Key> = Vec::new();
    let mut now = 0;
    while let Ok(pkt) = cap.next_packet() {
        let ts = pkt.header.ts.tv_sec as u64 * SECOND + pkt.header.ts.tv_usec as u64 * 1000;
        now = now.max(ts);
        let sliced = match link {
            1 => SlicedPacket::from_ethernet(pkt.data),
            113 => SlicedPacket::from_ip(pkt.data.get(16..).unwrap_or(&[])),
            0 | 108 => SlicedPacket::from_ip(pkt.data.get(4..).unwrap_or(&[])),
            _ => SlicedPacket::from_ip(pkt.data),
        };
        let Ok(sp) = sliced else { continue };
        let (src, dst) = match &sp.net {
            Some(NetSlice::Ipv4(v4)) => (
                IpAddr::V4(v4.header().source_addr()),
                IpAddr::V4(v4.header().destination_addr()),
            ),
            Some(NetSlice::Ipv6(v6)) => (
                IpAddr::V6(v6.header().source_addr()),
                IpAddr::V6(v6.header().destination_addr()),
            ),
            _ => continue,
        };
        let Some(TransportSlice::Tcp(tcp)) = &sp.transport else {
            continue;
        };
        let (sp_, dp) = (tcp.source_port(), tcp.destination_port());
        let (key, dir) = if ports.contains(&dp) {
            ((src, sp_, dst, dp), Dir::ToServer)
        } else if ports.contains(&sp_) {
            ((dst, dp, src, sp_), Dir::ToClient)
        } else {
            continue;
        };
        let entry = flows.entry(key).or_insert_with(|| {
            order.push(key);
            let mut h = Harness::new(make());
            h.flow.client = (key.0, key.1);
            h.flow.server = (key.2, key.3);
            (TcpConn::new(&TcpConfig::default()), h)
        });
        let mut flags = 0u8;
        for (on, bit) in [
            (tcp.fin(), crate::tcp::flags::FIN),
            (tcp.syn(), crate::tcp::flags::SYN),
            (tcp.rst(), crate::tcp::flags::RST),
            (tcp.psh(), crate::tcp::flags::PSH),
            (tcp.ack(), crate::tcp::flags::ACK),
        ] {
            if on {
                flags |= bit;
            }
        }
        let seg = Segment {
            seq: tcp.sequence_number(),
            ack: tcp.acknowledgment_number(),
            flags,
            window: tcp.window_size(),
            payload: tcp.payload(),
            wire_payload_len: tcp.payload().len() as u32,
        };
        let (conn, h) = entry;
        let mut counters = Counters::new();
        conn.segment(dir, &seg, ts, &mut counters, &mut |d, del, t| match del {
            Delivery::Data(b) => h.data(d, b, t),
            Delivery::Gap(n) => h.gap(d, n, t),
            Delivery::End => h.with(|s, o| s.end(d, t, o)),
        });
    }
    let mut all = Vec::new();
    let mut counters = Counters::new();
    for k in order {
        if let Some((_, mut h)) = flows.remove(&k) {
            h.close(now + SECOND);
            all.extend(h.events());
            counters.merge(&h.counters);
        }
    }
    (all, counters)
}

fn cfg() -> Arc<MysqlConfig> {
    Arc::new(MysqlConfig::default())
}

fn session() -> Harness<MysqlSession> {
    Harness::new(MysqlSession::new(cfg()))
}

/// Frames a payload as a packet with sequence id `seq`.
fn pkt(seq: u8, payload: &[u8]) -> Vec<u8> {
    let n = payload.len() as u32;
    let mut v = vec![n as u8, (n >> 8) as u8, (n >> 16) as u8, seq];
    v.extend_from_slice(payload);
    v
}

fn lenenc_str(s: &[u8]) -> Vec<u8> {
    let mut v = vec![s.len() as u8];
    v.extend_from_slice(s);
    v
}

fn column_def(schema: &str, table: &str, name: &str, ty: u8) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend(lenenc_str(b"def")); // catalog
    v.extend(lenenc_str(schema.as_bytes())); // schema
    v.extend(lenenc_str(table.as_bytes())); // table alias
    v.extend(lenenc_str(table.as_bytes())); // org_table
    v.extend(lenenc_str(name.as_bytes())); // name
    v.extend(lenenc_str(name.as_bytes())); // org_name
    v.push(0x0c); // length of the fixed fields
    v.extend([0x21, 0x00]); // charset utf8
    v.extend([0x00, 0x01, 0x00, 0x00]); // column length
    v.push(ty); // type
    v.extend([0x00, 0x00]); // flags
    v.push(0); // decimals
    v.extend([0, 0]); // filler
    v
}

/// COM_QUERY "select * from t" -> 2 columns, 3 text rows, classic EOFs.
fn select_exchange(deprecate_eof: bool) -> (Vec<u8>, Vec<u8>) {
    let mut q = vec![0x03]; // COM_QUERY
    q.extend_from_slice(b"select * from t");
    let req = pkt(0, &q);
    let mut resp = Vec::new();
    resp.extend(pkt(1, &[0x02])); // column count = 2
    resp.extend(pkt(2, &column_def("db", "t", "a", 0xfd)));
    resp.extend(pkt(3, &column_def("db", "t", "b", 0xfd)));
    let mut seq = 4;
    if !deprecate_eof {
        resp.extend(pkt(seq, &[0xfe, 0, 0, 0x02, 0])); // EOF: warnings 0, status 2
        seq += 1;
    }
    for r in [&b"x"[..], b"yy", b"zzz"] {
        let mut row = lenenc_str(r); // column a
        row.push(0xfb); // column b = NULL
        resp.extend(pkt(seq, &row));
        seq += 1;
    }
    if deprecate_eof {
        resp.extend(pkt(seq, &[0xfe, 0, 0, 0x02, 0, 0, 0])); // OK with 0xfe header
    } else {
        resp.extend(pkt(seq, &[0xfe, 0, 0, 0x02, 0])); // EOF
    }
    (req, resp)
}

// ---------------------------------------------------------------- parser

/// Server greeting of MySQL 8.0.12 (from mysql_connection.pcap, shortened).
const GREETING: &[u8] = &[
    0x0a, // protocol 10
    b'8', b'.', b'0', b'.', b'1', b'2', 0x00, // server_version "8.0.12"
    0x08, 0x00, 0x00, 0x00, // connection id 8
    1, 2, 3, 4, 5, 6, 7, 8,    // auth-plugin-data part 1
    0x00, // filler
    0xff, 0xff, // capability flags (lower)
    0x21, // charset
    0x02, 0x00, // status flags
    0xff, 0xc3, // capability flags (upper: DEPRECATE_EOF bit 24 set)
    0x15, // auth plugin data length
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // reserved
];

/// HandshakeResponse41: user "root", password scramble, database "test".
const LOGIN: &[u8] = &[
    0x0d, 0xa2, 0x0b,
    0x01, // caps: CONNECT_WITH_DB|PROTOCOL_41|SECURE_CONNECTION|DEPRECATE_EOF...
    0x00, 0x00, 0x00, 0x01, // max packet size
    0x21, // charset
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // filler (23)
    b'r', b'o', b'o', b't', 0x00, // user "root"
    0x04, 0xde, 0xad, 0xbe, 0xef, // auth response: 4 bytes (never read)
    b't', b'e', b's', b't', 0x00, // database "test"
];

#[test]
fn greeting_fields() {
    let g = parser::parse_greeting(GREETING).unwrap();
    assert_eq!(g.server_version, b"8.0.12");
    assert_ne!(g.capabilities & parser::caps::DEPRECATE_EOF, 0);
    for n in 0..8 {
        assert!(
            parser::parse_greeting(&GREETING[..n]).is_none(),
            "prefix {n}"
        );
    }
}

#[test]
fn login_fields_never_include_the_password() {
    match parser::parse_handshake_response(LOGIN).unwrap() {
        parser::HandshakeResponse::Login { user, database, .. } => {
            assert_eq!(user, b"root");
            assert_eq!(database, Some(&b"test"[..]));
        }
        other => panic!("{other:?}"),
    }
    // SSLRequest: the same first 32 bytes with CLIENT_SSL and nothing else.
    let mut ssl = LOGIN[..32].to_vec();
    ssl[1] |= 0x08;
    assert!(matches!(
        parser::parse_handshake_response(&ssl),
        Some(parser::HandshakeResponse::SslRequest { .. })
    ));
}

#[test]
fn err_packet_text_has_the_sql_state() {
    let p = [
        &[0xff, 0x16, 0x04][..], // ERR, code 1046
        b"#3D000",               // SQL state marker and state
        b"No database selected", // message
    ]
    .concat();
    let e = parser::parse_err(&p).unwrap();
    assert_eq!(e.code, 1046);
    assert_eq!(e.text(), "3D000: No database selected");
}

#[test]
fn ok_packet_fields() {
    // OK: affected 316 (0xfc 0x3c 0x01), insert id 0, status 0x0022, warnings 0
    let p = [0x00, 0xfc, 0x3c, 0x01, 0x00, 0x22, 0x00, 0x00, 0x00];
    let ok = parser::parse_ok(&p).unwrap();
    assert_eq!(ok.affected_rows, 316);
    assert_eq!(ok.insert_id, 0);
    assert_eq!(ok.status, 0x22);
    for n in 0..3 {
        assert!(parser::parse_ok(&p[..n]).is_none());
    }
}

#[test]
fn method_is_the_first_keyword_without_crlf_or_comments() {
    assert_eq!(parser::sql_method(b"SELECT\r\n* from t"), "SELECT");
    assert_eq!(parser::sql_method(b"\n   drop \n table x"), "DROP");
    assert_eq!(parser::sql_method(b"/* hint */ update t set a=1"), "UPDATE");
    assert_eq!(parser::sql_method(b"-- c\nshow tables"), "SHOW");
    assert_eq!(parser::sql_method(b"(select 1)"), "SELECT");
    assert_eq!(parser::sql_method(b""), "");
    assert_eq!(parser::trim_sql(b" select 1\r\n"), b"select 1");
}

#[test]
fn table_from_statement_text() {
    assert_eq!(
        parser::sql_table(b"insert into test values (1)"),
        Some((None, "test".into()))
    );
    assert_eq!(
        parser::sql_table(b"drop table if exists `db`.`t1`"),
        Some((Some("db".into()), "t1".into()))
    );
    assert_eq!(parser::sql_table(b"select 1"), None);
    assert_eq!(parser::sql_table(b"SET NAMES utf8"), None);
}

#[test]
fn execute_params_decode_binary_values() {
    // COM_STMT_EXECUTE body after the statement id, 4 parameters.
    let mut b = vec![
        0x00, // flags: no cursor
        0x01,
        0x00,
        0x00,
        0x00,        // iteration count 1
        0b0000_1000, // NULL bitmap: parameter 3 is NULL
        0x01,        // new params bound
        0xfd,
        0x00, // param 0: VAR_STRING
        0x0c,
        0x00, // param 1: DATETIME
        0x08,
        0x80, // param 2: LONGLONG unsigned
        0x03,
        0x00, // param 3: LONG (NULL)
    ];
    b.extend(lenenc_str(b"A1224638")); // param 0 value
    b.extend([7, 0xe1, 0x07, 7, 28, 0, 0, 0]); // param 1: 2017-07-28 00:00:00
    b.extend(u64::MAX.to_le_bytes()); // param 2
    let mut saved = parser::StmtParamTypes::default();
    let params = parser::parse_execute_params(&b, 4, &mut saved, 64, 1024);
    assert_eq!(
        params,
        vec![
            "A1224638",
            "2017-07-28 00:00:00",
            "18446744073709551615",
            "NULL"
        ]
    );
    // Every prefix decodes a prefix of the parameters, never panics.
    for n in 0..b.len() {
        let mut s = parser::StmtParamTypes::default();
        let got = parser::parse_execute_params(&b[..n], 4, &mut s, 64, 1024);
        assert!(got.len() <= 4);
        assert_eq!(got[..], params[..got.len()]);
    }
    // A later EXECUTE without rebinding reuses the saved types.
    let mut again = vec![0x00, 1, 0, 0, 0, 0b0000_1110, 0x00];
    again.extend(lenenc_str(b"B7"));
    assert_eq!(
        parser::parse_execute_params(&again, 4, &mut saved, 64, 1024),
        vec!["B7", "NULL", "NULL", "NULL"]
    );
}

#[test]
fn row_terminator_rule_holds_for_both_eof_variants() {
    assert!(parser::is_row_terminator(0xfe, 5)); // classic EOF
    assert!(parser::is_row_terminator(0xfe, 7)); // OK with 0xfe header
    assert!(parser::is_row_terminator(0xfe, 40)); // OK with info text
    assert!(!parser::is_row_terminator(0xfe, parser::MAX_PAYLOAD)); // huge row
    assert!(!parser::is_row_terminator(0x03, 5)); // row
    assert!(parser::is_classic_eof(0xfe, 5));
    assert!(!parser::is_classic_eof(0xfe, 7));
}

#[test]
fn plausible_commands() {
    let q = pkt(0, b"\x03select 1");
    let h = PacketHeader::parse(&q).unwrap();
    assert!(parser::plausible_command(h, &q[4..]));
    let row = pkt(5, b"\x03abc");
    assert!(!parser::plausible_command(
        PacketHeader::parse(&row).unwrap(),
        &row[4..]
    ));
    let ping = pkt(0, b"\x0e");
    assert!(parser::plausible_command(
        PacketHeader::parse(&ping).unwrap(),
        &ping[4..]
    ));
    let bad = pkt(0, b"\x0eXX");
    assert!(!parser::plausible_command(
        PacketHeader::parse(&bad).unwrap(),
        &bad[4..]
    ));
}

// ---------------------------------------------------------------- session

#[test]
fn select_pairs_with_its_result_set_in_both_eof_variants() {
    for deprecate in [false, true] {
        let (req, resp) = select_exchange(deprecate);
        let mut h = session();
        h.data(Dir::ToServer, &req, SECOND);
        h.data(Dir::ToClient, &resp, SECOND + MILLISECOND);
        let ev = h.events();
        assert_eq!(ev.len(), 1, "deprecate_eof={deprecate}");
        let e = &ev[0];
        assert_eq!(e["method"], "SELECT");
        assert_eq!(e["query"], "select * from t");
        assert_eq!(e["path"], "db.t");
        assert_eq!(e["status"], "OK");
        assert_eq!(e["mysql"]["num_fields"], 2);
        assert_eq!(e["mysql"]["num_rows"], 3);
        assert_eq!(e["source"]["bytes"], req.len() as u64);
        assert_eq!(e["destination"]["bytes"], resp.len() as u64);
    }
}

#[test]
fn every_split_point_gives_the_same_event() {
    for deprecate in [false, true] {
        let (req, resp) = select_exchange(deprecate);
        let mut whole = session();
        whole.data(Dir::ToServer, &req, SECOND);
        whole.data(Dir::ToClient, &resp, SECOND);
        let want = whole.events();
        for cut in 0..=resp.len() {
            let mut h = session();
            for c in 0..=req.len() {
                let _ = c; // the request is split too, at the same relative point
            }
            let rc = cut.min(req.len());
            h.data(Dir::ToServer, &req[..rc], SECOND);
            h.data(Dir::ToServer, &req[rc..], SECOND);
            h.data(Dir::ToClient, &resp[..cut], SECOND);
            assert!(
                h.events().is_empty() || cut == resp.len(),
                "event before the response ended (cut {cut})"
            );
            h.data(Dir::ToClient, &resp[cut..], SECOND);
            assert_eq!(h.events(), want, "cut {cut}");
        }
    }
}

#[test]
fn every_prefix_is_incomplete_never_an_event_or_error() {
    let (req, resp) = select_exchange(false);
    for n in 0..resp.len() {
        let mut h = session();
        h.data(Dir::ToServer, &req, SECOND);
        h.data(Dir::ToClient, &resp[..n], SECOND);
        assert!(h.events().is_empty(), "prefix {n}");
        assert_eq!(h.counters.get("mysql.unknown_commands"), 0);
    }
}

#[test]
fn error_response_sets_code_message_and_status() {
    let mut h = session();
    h.data(Dir::ToServer, &pkt(0, b"\x03select * from test"), SECOND);
    let err = [&[0xff, 0x16, 0x04][..], b"#3D000", b"No database selected"].concat();
    h.data(Dir::ToClient, &pkt(1, &err), SECOND);
    let e = &h.events()[0];
    assert_eq!(e["status"], "Error");
    assert_eq!(e["method"], "SELECT");
    assert_eq!(e["mysql"]["error_code"], 1046);
    assert_eq!(e["mysql"]["error_message"], "3D000: No database selected");
}

#[test]
fn handshake_fills_user_version_and_schema() {
    let mut h = session();
    h.data(Dir::ToClient, &pkt(0, GREETING), SECOND);
    h.data(Dir::ToServer, &pkt(1, LOGIN), SECOND);
    h.data(Dir::ToClient, &pkt(2, &[0, 0, 0, 2, 0, 0, 0]), SECOND);
    h.data(Dir::ToServer, &pkt(0, b"\x0e"), 2 * SECOND); // COM_PING
    h.data(Dir::ToClient, &pkt(1, &[0, 0, 0, 2, 0, 0, 0]), 2 * SECOND);
    let ev = h.events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["method"], "PING");
    assert_eq!(ev[0]["user"]["name"], "root");
    assert_eq!(ev[0]["mysql"]["server_version"], "8.0.12");
    assert_eq!(ev[0]["mysql"]["schema"], "test");
    let text = String::from_utf8_lossy(&h.batch.buf).to_string();
    assert!(!text.contains("\u{de}\u{ad}"), "password bytes leaked");
}

#[test]
fn ssl_request_is_reported_once_and_the_rest_skipped() {
    let mut h = session();
    h.data(Dir::ToClient, &pkt(0, GREETING), SECOND);
    let mut ssl = LOGIN[..32].to_vec();
    ssl[1] |= 0x08;
    h.data(Dir::ToServer, &pkt(1, &ssl), SECOND);
    h.data(
        Dir::ToServer,
        &[0x16, 0x03, 0x01, 0x02, 0x00, 1, 2, 3],
        SECOND,
    );
    h.data(Dir::ToClient, &[0x16, 0x03, 0x03, 0x00, 0x40, 9, 9], SECOND);
    h.close(3 * SECOND);
    let ev = h.events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["mysql"]["tls"], true);
    assert_eq!(h.counters.get("mysql.tls_connections"), 1);
}

#[test]
fn compressed_connection_is_decoded() {
    use std::io::Write;
    // A compressed packet: 3-byte compressed length, sequence id, 3-byte
    // length before compression (0: sent as is), payload.
    fn zpkt(seq: u8, plain: &[u8], deflate: bool) -> Vec<u8> {
        let (body, ulen) = if deflate {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(plain).unwrap();
            (e.finish().unwrap(), plain.len())
        } else {
            (plain.to_vec(), 0)
        };
        let mut v = (body.len() as u32).to_le_bytes()[..3].to_vec();
        v.push(seq);
        v.extend_from_slice(&(ulen as u32).to_le_bytes()[..3]);
        v.extend(body);
        v
    }
    let mut h = session();
    h.data(Dir::ToClient, &pkt(0, GREETING), SECOND);
    let mut login = LOGIN.to_vec();
    login[0] |= 0x20; // CLIENT_COMPRESS
    h.data(Dir::ToServer, &pkt(1, &login), SECOND);
    h.data(Dir::ToClient, &pkt(2, &[0, 0, 0, 2, 0, 0, 0]), SECOND);
    // A short query sent as is, its result compressed, split anywhere.
    h.data(
        Dir::ToServer,
        &zpkt(0, &pkt(0, b"\x03select 1"), false),
        SECOND,
    );
    let rows = |n: usize| {
        let mut rs = pkt(1, &[1]);
        rs.extend(pkt(2, &column_def("", "", "1", 0x08)));
        // CLIENT_DEPRECATE_EOF (LOGIN): no EOF after the columns, an
        // OK-style terminator after the rows.
        for i in 0..n {
            rs.extend(pkt(3 + (i % 200) as u8, &lenenc_str(b"1")));
        }
        rs.extend(pkt(50, &[0xfe, 0, 0, 2, 0, 0, 0]));
        rs
    };
    let rs = rows(300);
    let (a, b) = rs.split_at(rs.len() / 2);
    let mut wire = zpkt(1, a, true);
    wire.extend(zpkt(2, b, true));
    for piece in wire.chunks(13) {
        h.data(Dir::ToClient, piece, 2 * SECOND);
    }
    // A gap inside the second of three compressed packets of a result:
    // the rows resume with the third, the transaction says what was lost,
    // the next exchange pairs.
    h.data(
        Dir::ToServer,
        &zpkt(0, &pkt(0, b"\x03select 2"), false),
        3 * SECOND,
    );
    let rs = rows(300);
    let third = rs.len() / 3;
    let p1 = zpkt(1, &rs[..third], true);
    let p2 = zpkt(2, &rs[third..2 * third], true);
    let p3 = zpkt(3, &rs[2 * third..], true);
    h.data(Dir::ToClient, &p1, 3 * SECOND);
    h.data(Dir::ToClient, &p2[..20], 3 * SECOND);
    h.gap(Dir::ToClient, 5, 3 * SECOND);
    h.data(Dir::ToClient, &p2[25..], 3 * SECOND);
    h.data(Dir::ToClient, &p3, 3 * SECOND);
    h.data(
        Dir::ToServer,
        &zpkt(0, &pkt(0, b"\x03select 3"), false),
        4 * SECOND,
    );
    h.data(
        Dir::ToClient,
        &zpkt(1, &pkt(1, &[0, 0, 0, 2, 0, 0, 0]), false),
        4 * SECOND,
    );
    h.close(5 * SECOND);
    let ev = h.events();
    assert_eq!(ev.len(), 3, "{ev:#?}");
    assert_eq!(ev[0]["query"], "select 1");
    assert_eq!(ev[0]["mysql"]["num_rows"], 300);
    assert!(ev[0].get("error").is_none());
    assert_eq!(ev[1]["query"], "select 2");
    assert_eq!(ev[1]["error"]["message"], LOSS);
    assert_eq!(ev[2]["query"], "select 3");
    assert!(ev[2].get("error").is_none(), "{}", ev[2]);
    assert_eq!(h.counters.get("mysql.compressed_connections"), 1);
}

#[test]
fn prepared_statement_params_and_close() {
    let mut h = session();
    let q = b"\x16select * from t where a=? and b=?";
    h.data(Dir::ToServer, &pkt(0, q), SECOND);
    let mut resp = pkt(1, &[0x00, 7, 0, 0, 0, 1, 0, 2, 0, 0, 0, 0]); // id 7, 1 col, 2 params
    resp.extend(pkt(2, &column_def("", "", "?", 0xfd)));
    resp.extend(pkt(3, &column_def("", "", "?", 0xfd)));
    resp.extend(pkt(4, &[0xfe, 0, 0, 2, 0]));
    resp.extend(pkt(5, &column_def("db", "t", "a", 0x03)));
    resp.extend(pkt(6, &[0xfe, 0, 0, 2, 0]));
    h.data(Dir::ToClient, &resp, SECOND);
    let mut exec = vec![0x17, 7, 0, 0, 0, 0, 1, 0, 0, 0, 0b00, 1, 0xfd, 0, 0x01, 0];
    exec.extend(lenenc_str(b"A1224638"));
    exec.push(42); // TINY 42
    h.data(Dir::ToServer, &pkt(0, &exec), 2 * SECOND);
    let mut rs = pkt(1, &[1]);
    rs.extend(pkt(2, &column_def("db", "t", "a", 0x03)));
    rs.extend(pkt(3, &[0xfe, 0, 0, 2, 0]));
    rs.extend(pkt(4, &[0x00, 0x00, 5, 0, 0, 0])); // binary row: a = 5
    rs.extend(pkt(5, &[0xfe, 0, 0, 2, 0]));
    h.data(Dir::ToClient, &rs, 2 * SECOND);
    h.data(Dir::ToServer, &pkt(0, &[0x19, 7, 0, 0, 0]), 3 * SECOND); // close
    h.close(4 * SECOND);
    let ev = h.events();
    assert_eq!(ev.len(), 2, "{ev:#?}");
    assert_eq!(ev[0]["method"], "SELECT");
    assert_eq!(ev[0]["mysql"]["statement_id"], 7);
    assert_eq!(ev[1]["method"], "SELECT");
    assert_eq!(ev[1]["query"], "select * from t where a=? and b=?");
    assert_eq!(ev[1]["params"], serde_json::json!(["A1224638", "42"]));
    assert_eq!(ev[1]["mysql"]["num_rows"], 1);
    assert_eq!(h.counters.get("mysql.stmt_close"), 1);
}

#[test]
fn multi_results_count_every_result() {
    let mut h = session();
    h.data(Dir::ToServer, &pkt(0, b"\x03select 1; select 2"), SECOND);
    let mut r = pkt(1, &[1]);
    r.extend(pkt(2, &column_def("", "", "1", 0x08)));
    r.extend(pkt(3, &[0xfe, 0, 0, 0x0a, 0])); // EOF (status: MORE_RESULTS)
    r.extend(pkt(4, &lenenc_str(b"1")));
    r.extend(pkt(5, &[0xfe, 0, 0, 0x0a, 0])); // EOF, more results
    r.extend(pkt(6, &[1]));
    r.extend(pkt(7, &column_def("", "", "2", 0x08)));
    r.extend(pkt(8, &[0xfe, 0, 0, 0x02, 0]));
    r.extend(pkt(9, &lenenc_str(b"2")));
    r.extend(pkt(10, &lenenc_str(b"3")));
    r.extend(pkt(11, &[0xfe, 0, 0, 0x02, 0])); // last
    h.data(Dir::ToClient, &r, SECOND);
    let ev = h.events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["mysql"]["num_rows"], 3);
    assert_eq!(ev[0]["mysql"]["results"], 2);
}

#[test]
fn local_infile_request_upload_and_ok() {
    let mut h = session();
    h.data(
        Dir::ToServer,
        &pkt(0, b"\x03LOAD DATA LOCAL INFILE 'f.csv' INTO TABLE t"),
        SECOND,
    );
    h.data(Dir::ToClient, &pkt(1, b"\xfbf.csv"), SECOND);
    h.data(Dir::ToServer, &pkt(2, b"1,2\n3,4\n"), SECOND);
    h.data(Dir::ToServer, &pkt(3, b""), SECOND);
    assert!(h.events().is_empty());
    h.data(Dir::ToClient, &pkt(4, &[0, 2, 0, 2, 0, 0, 0]), SECOND);
    let ev = h.events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["mysql"]["local_infile"], "f.csv");
    assert_eq!(ev[0]["mysql"]["affected_rows"], 2);
    assert_eq!(ev[0]["path"], "t");
}

#[test]
fn gap_inside_a_skipped_row_keeps_sync_and_reports_loss() {
    let mut h = session();
    h.data(Dir::ToServer, &pkt(0, b"\x03select big from t"), SECOND);
    let mut head = pkt(1, &[1]);
    head.extend(pkt(2, &column_def("db", "t", "big", 0xfc)));
    head.extend(pkt(3, &[0xfe, 0, 0, 2, 0]));
    h.data(Dir::ToClient, &head, SECOND);
    // A 100 000-byte row: header + 20 000 bytes, a 50 000-byte gap, the rest.
    let mut row = vec![0xfd, 0x9d, 0x86, 0x01]; // lenenc 99 997
    row.resize(100_000, b'x');
    let framed = pkt(4, &row);
    h.data(Dir::ToClient, &framed[..20_004], SECOND);
    h.gap(Dir::ToClient, 50_000, SECOND);
    h.data(Dir::ToClient, &framed[70_004..], SECOND);
    h.data(Dir::ToClient, &pkt(5, &[0xfe, 0, 0, 2, 0]), SECOND);
    let ev = h.events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["mysql"]["num_rows"], 1);
    assert_eq!(ev[0]["status"], "OK");
    assert_eq!(
        ev[0]["error"]["message"],
        "Packet loss while capturing the response"
    );
    assert_eq!(h.counters.get("mysql.gaps_resync"), 0);
}

#[test]
fn gap_between_rows_resyncs_and_keeps_counting() {
    let (req, resp) = select_exchange(false);
    // Lose the second row packet entirely, plus 2 bytes of the third.
    let mut pos = 0;
    let mut cuts = vec![];
    while pos < resp.len() {
        let h = PacketHeader::parse(&resp[pos..]).unwrap();
        cuts.push(pos);
        pos += h.total();
    }
    // packets: 0 count, 1-2 defs, 3 EOF, 4-6 rows, 7 EOF
    let mut h = session();
    h.data(Dir::ToServer, &req, SECOND);
    h.data(Dir::ToClient, &resp[..cuts[5]], SECOND);
    h.gap(Dir::ToClient, (cuts[6] - cuts[5]) as u64, SECOND);
    h.data(Dir::ToClient, &resp[cuts[6]..], SECOND);
    let ev = h.events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["mysql"]["num_rows"], 2);
    assert_eq!(
        ev[0]["error"]["message"],
        crate::proto::common::errors::LOSS_RESPONSE
    );
}

#[test]
fn gap_in_requests_resyncs_at_the_next_command() {
    let mut h = session();
    let q1 = pkt(0, b"\x03select 1 from dual where 1=1");
    h.data(Dir::ToServer, &q1[..10], SECOND);
    h.gap(Dir::ToServer, 100, SECOND);
    // garbage tail of the lost statement, then a ping and a query
    let mut rest = b"ere x=1 and y=2".to_vec();
    rest.extend(pkt(0, b"\x03select 2"));
    h.data(Dir::ToServer, &rest, 2 * SECOND);
    h.data(Dir::ToClient, &pkt(1, &[0, 0, 0, 2, 0, 0, 0]), 2 * SECOND);
    let ev = h.events();
    assert_eq!(ev.len(), 1, "{ev:#?}");
    assert_eq!(ev[0]["query"], "select 2");
    assert_eq!(h.counters.get("mysql.resyncs"), 1);
}

#[test]
fn a_stream_that_never_syncs_is_given_up() {
    let mut h = session();
    h.data(Dir::ToServer, &pkt(0, b"\x03select 1"), SECOND);
    h.gap(Dir::ToClient, 5, SECOND);
    let noise: Vec<u8> = (0..4096u32).map(|i| (i * 7 % 251) as u8 | 0x80).collect();
    for _ in 0..400 {
        h.data(Dir::ToClient, &noise, SECOND);
    }
    assert_eq!(h.counters.get("mysql.unsynced_connections"), 1);
    h.close(2 * SECOND);
    assert_eq!(h.events().len(), 1);
}

#[test]
fn unmatched_request_times_out_as_error() {
    let mut h = session();
    h.data(Dir::ToServer, &pkt(0, b"\x03select sleep(100)"), SECOND);
    h.tick(5 * SECOND);
    assert!(h.events().is_empty());
    h.tick(12 * SECOND);
    let ev = h.events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["status"], "Error");
    assert_eq!(ev[0]["error"]["message"], "Unmatched request");
}

#[test]
fn in_flight_bound_reports_the_oldest() {
    let c = MysqlConfig {
        max_in_flight: 2,
        ..Default::default()
    };
    let mut h = Harness::new(MysqlSession::new(Arc::new(c)));
    for i in 0..5 {
        h.data(
            Dir::ToServer,
            &pkt(0, format!("\x03select {i}").as_bytes()),
            SECOND,
        );
    }
    assert_eq!(h.counters.get("mysql.in_flight_dropped"), 3);
    assert_eq!(h.events().len(), 3);
}

#[test]
fn response_without_request_is_counted_not_emitted() {
    let mut h = session();
    let (req, resp) = select_exchange(false);
    h.data(Dir::ToClient, &resp, SECOND);
    h.data(Dir::ToServer, &req, 2 * SECOND);
    h.data(Dir::ToClient, &resp, 2 * SECOND);
    let ev = h.events();
    assert_eq!(ev.len(), 1);
    assert_eq!(h.counters.get("mysql.unmatched_responses"), 1);
}

#[test]
fn send_response_keeps_max_rows_and_max_row_length() {
    let c = MysqlConfig {
        send_response: true,
        send_request: true,
        max_rows: 2,
        max_row_length: 2,
        ..Default::default()
    };
    let mut h = Harness::new(MysqlSession::new(Arc::new(c)));
    let (req, resp) = select_exchange(false);
    h.data(Dir::ToServer, &req, SECOND);
    h.data(Dir::ToClient, &resp, SECOND);
    let e = &h.events()[0];
    assert_eq!(e["response"], "a,b\nx,N\nyy\n");
    assert_eq!(e["request"], "select * from t");
    assert_eq!(e["mysql"]["num_rows"], 3);
}

#[test]
fn quit_is_reported_without_response() {
    let mut h = session();
    h.data(Dir::ToServer, &pkt(0, b"\x01"), SECOND);
    let ev = h.events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["method"], "QUIT");
    assert_eq!(ev[0]["status"], "OK");
}

#[test]
fn pseudo_random_input_never_panics() {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for round in 0..300 {
        let mut h = session();
        for _ in 0..20 {
            let mut buf = vec![0u8; (x % 300) as usize];
            for b in buf.iter_mut() {
                crate::test_support::xorshift64(&mut x);
                *b = x as u8;
            }
            let dir = if x % 2 == 0 {
                Dir::ToServer
            } else {
                Dir::ToClient
            };
            if x % 17 == 0 {
                h.gap(dir, x % 5000, SECOND);
            } else {
                h.data(dir, &buf, SECOND + round);
            }
        }
        h.tick(100 * SECOND);
        h.close(100 * SECOND);
        let _ = h.events();
    }
}

// ---------------------------------------------------------------- corpus

fn corpus_events(file: &str, port: u16) -> Option<(Vec<Value>, Counters)> {
    let p = corpus(file)?;
    Some(replay(&p, &[port], || MysqlSession::new(cfg())))
}

/// Events Packetbeat would report: the ones with a statement (`query`).
fn with_query(ev: &[Value]) -> Vec<&Value> {
    ev.iter().filter(|e| e["query"].is_string()).collect()
}

fn count_method(ev: &[&Value], m: &str) -> usize {
    ev.iter().filter(|e| e["method"] == m).count()
}

#[test]
fn corpus_affected_rows_and_error() {
    let Some((ev, _)) = corpus_events("mysql_affected_rows.pcap", 3306) else {
        return;
    };
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["method"], "UPDATE");
    assert_eq!(ev[0]["mysql"]["affected_rows"], 316);
    assert_eq!(ev[0]["status"], "OK");
    let Some((ev, _)) = corpus_events("mysql_err_database_not_selected.pcap", 3306) else {
        return;
    };
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["method"], "SELECT");
    assert_eq!(ev[0]["status"], "Error");
    assert_eq!(ev[0]["mysql"]["error_code"], 1046);
    assert_eq!(
        ev[0]["mysql"]["error_message"],
        "3D000: No database selected"
    );
}

#[test]
fn corpus_connection_phase_does_not_break_the_parser() {
    let Some((ev, _)) = corpus_events("mysql_connection.pcap", 3306) else {
        return;
    };
    // tshark -Y mysql.command: 7 commands (5 queries, init db, quit).
    assert_eq!(ev.len(), 7);
    assert!(ev.iter().any(|e| e["query"] == "SELECT DATABASE()"));
    assert!(ev.iter().all(|e| e["user"]["name"] == "root"));
    assert!(ev.iter().all(|e| e["mysql"]["server_version"] == "8.0.12"));
}

#[test]
fn corpus_int_string_operations() {
    let Some((ev, _)) = corpus_events("mysql_int_string_operations.pcap", 13001) else {
        return;
    };
    let q = with_query(&ev);
    assert_eq!(q.len(), 157);
    assert_eq!(count_method(&q, "SELECT"), 134);
    assert_eq!(count_method(&q, "SHOW"), 10);
    assert_eq!(count_method(&q, "ALTER"), 4);
    assert_eq!(count_method(&q, "SET"), 3);
    assert_eq!(count_method(&q, "CREATE"), 2);
    assert!(q.iter().all(|e| e["server"]["port"] == 13001));
}

#[test]
fn corpus_long_results() {
    let Some((ev, _)) = corpus_events("mysql_long.pcap", 3306) else {
        return;
    };
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["mysql"]["num_rows"], 400);
    let Some((ev, _)) = corpus_events("mysql_long_result.pcap", 3306) else {
        return;
    };
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["mysql"]["num_rows"], 15);
}

#[test]
fn corpus_long_result_response_text_bounds() {
    let Some(p) = corpus("mysql_long_result.pcap") else {
        return;
    };
    for (max_rows, max_row_length, lines) in [(10, 1024, 11), (5, 1024, 6), (2000, 1024, 16)] {
        let c = Arc::new(MysqlConfig {
            send_response: true,
            max_rows,
            max_row_length,
            ..Default::default()
        });
        let (ev, _) = replay(&p, &[3306], || MysqlSession::new(c.clone()));
        let text = ev[0]["response"].as_str().unwrap();
        assert_eq!(text.lines().count(), lines, "max_rows {max_rows}");
    }
}

#[test]
fn corpus_prepared_statement_params() {
    let Some((ev, _)) = corpus_events("mysql_prepare_statement.pcap", 3307) else {
        return;
    };
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[1]["method"], "SELECT");
    assert_eq!(ev[1]["status"], "OK");
    assert_eq!(ev[1]["params"][0], "A1224638");
    assert_eq!(ev[1]["mysql"]["num_rows"], 1);
}

#[test]
fn corpus_windows_line_ending() {
    let Some((ev, _)) = corpus_events("mysql_windows_lineending.pcap", 3306) else {
        return;
    };
    let q = with_query(&ev);
    assert_eq!(q.len(), 1);
    assert_eq!(q[0]["method"], "SELECT");
    assert_eq!(q[0]["status"], "OK");
}

#[test]
fn corpus_gap_keeps_the_transaction() {
    let Some((ev, c)) = corpus_events("mysql_with_gap.pcap", 3306) else {
        return;
    };
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["status"], "OK");
    assert_eq!(ev[0]["method"], "SELECT");
    assert!(ev[0]["mysql"]["num_rows"].as_u64().unwrap() > 1);
    assert_eq!(ev[0]["error"]["message"], LOSS);
    assert_eq!(c.get("mysql.resyncs"), 1);
}

const LOSS: &str = crate::proto::common::errors::LOSS_RESPONSE;

#[test]
fn corpus_whitespace_statements() {
    let Some((ev, _)) = corpus_events("mysql_with_whitespaces.pcap", 3306) else {
        return;
    };
    let q = with_query(&ev);
    assert_eq!(q.len(), 7);
    assert_eq!(q[0]["method"], "SET");
    assert_eq!(q[2]["method"], "DROP");
    assert_eq!(q[3]["method"], "CREATE");
    assert_eq!(q[5]["method"], "SELECT");
    assert_eq!(q[5]["path"], "test.test");
    assert_eq!(q[5]["destination"]["bytes"], 118);
    assert!(q.iter().all(|e| e["status"] == "OK"));
    // tshark -Y mysql.command counts 12 (7 queries, 5 pings).
    assert_eq!(ev.len(), 12);
}

#[test]
fn the_test_kits_generic_checks_pass_on_a_result_set_in_both_eof_variants() {
    use crate::proto::{testkit, ProtocolId, ProtocolsConfig};
    let cfg = ProtocolsConfig::default();
    for deprecate_eof in [false, true] {
        let (req, resp) = select_exchange(deprecate_eof);
        let steps: &[(Dir, &[u8])] = &[(Dir::ToServer, &req), (Dir::ToClient, &resp)];
        testkit::check_every_prefix(ProtocolId::Mysql, &cfg, steps);
        testkit::check_every_split(ProtocolId::Mysql, &cfg, steps);
        testkit::check_random_bytes(ProtocolId::Mysql, &cfg, steps, 11, 300);
    }
}

#[test]
fn query_attributes_split_as_the_protocol_documents_them() {
    // parameter_count 3, parameter_set_count 1, NULL bitmap (the third is
    // NULL), new_params_bind_flag, (type, flag, name) x3, values.
    let mut body = vec![3, 1, 0b100, 1];
    body.extend_from_slice(&[0xfe, 0, 2, b'i', b'd']); // STRING "id"
    body.extend_from_slice(&[0x08, 0x80, 1, b'n']); // unsigned LONGLONG "n"
    body.extend_from_slice(&[0xfe, 0, 1, b'z']); // STRING "z" (NULL)
    body.extend_from_slice(&[3, b'a', b'b', b'c']);
    body.extend_from_slice(&42u64.to_le_bytes());
    body.extend_from_slice(b"SELECT 1");
    let (qa, rest) = parser::split_query_attributes(&body, 10, 100).unwrap();
    assert_eq!(rest, b"SELECT 1");
    assert_eq!(qa.count, 3);
    let pairs: Vec<(&str, &str)> = qa
        .attrs
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    assert_eq!(pairs, [("id", "abc"), ("n", "42"), ("z", "NULL")]);
    // Zero attributes: the `\0\1SELECT` prefix of issue 17.
    let (qa, rest) = parser::split_query_attributes(b"\x00\x01SELECT 2", 10, 100).unwrap();
    assert_eq!((qa.count, rest), (0, &b"SELECT 2"[..]));
    // Bounds: a count beyond the bytes, a cut value, a set count not 1.
    assert!(parser::split_query_attributes(&[0xfc, 0xff, 0xff, 1], 10, 100).is_none());
    assert!(parser::split_query_attributes(&body[..body.len() - 14], 10, 100).is_none());
    assert!(parser::split_query_attributes(b"\x00\x02SELECT", 10, 100).is_none());
    // Kept: at most `max`, each value bounded.
    let (qa, _) = parser::split_query_attributes(&body, 1, 2).unwrap();
    assert_eq!(qa.attrs, [("id".to_string(), "ab".to_string())]);
}
