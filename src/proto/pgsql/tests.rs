//! PostgreSQL parser and session tests: field-commented messages, every
//! prefix and every split point, pairing in the simple and extended
//! protocols, errors, COPY, startup variants, gaps and bounds; then the
//! Packetbeat corpus and the captures of tests/data replayed through the
//! session and the real TCP reassembly.

use super::parser::{self, Head, Header, Startup};
use super::{PgsqlConfig, PgsqlSession};
use crate::proto::mysql::tests::{corpus, replay, Harness};
use crate::proto::Dir;
use crate::time::{Timestamp, MILLISECOND, SECOND};
use serde_json::Value;
use std::sync::Arc;

// ---------------------------------------------------------------- builders

/// A tagged message: type, Int32 length (counting itself), body.
fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    v.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    v.extend_from_slice(body);
    v
}

/// A NUL-terminated string.
fn cs(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

fn startup(params: &[(&str, &str)]) -> Vec<u8> {
    let mut body = 196608u32.to_be_bytes().to_vec(); // protocol 3.0
    for (k, v) in params {
        body.extend(cs(k));
        body.extend(cs(v));
    }
    body.push(0); // end of parameters
    let mut v = (body.len() as u32 + 4).to_be_bytes().to_vec();
    v.extend(body);
    v
}

fn ssl_request() -> Vec<u8> {
    vec![0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f] // length 8, code 1234.5679
}

fn query(q: &str) -> Vec<u8> {
    msg(b'Q', &cs(q))
}

fn parse(name: &str, q: &str) -> Vec<u8> {
    let mut b = cs(name);
    b.extend(cs(q));
    b.extend([0, 0]); // no parameter types
    msg(b'P', &b)
}

fn bind(portal: &str, stmt: &str) -> Vec<u8> {
    let mut b = cs(portal);
    b.extend(cs(stmt));
    b.extend([0, 0, 0, 0, 0, 0]); // 0 formats, 0 params, 0 result formats
    msg(b'B', &b)
}

fn describe_portal(portal: &str) -> Vec<u8> {
    let mut b = vec![b'P'];
    b.extend(cs(portal));
    msg(b'D', &b)
}

fn execute(portal: &str) -> Vec<u8> {
    let mut b = cs(portal);
    b.extend([0, 0, 0, 0]); // no row limit
    msg(b'E', &b)
}

fn sync() -> Vec<u8> {
    msg(b'S', &[])
}

fn row_description(names: &[&str]) -> Vec<u8> {
    let mut b = (names.len() as u16).to_be_bytes().to_vec();
    for n in names {
        b.extend(cs(n));
        b.extend([0u8; 18]); // table oid, column, type oid, size, modifier, format
    }
    msg(b'T', &b)
}

fn data_row(vals: &[Option<&str>]) -> Vec<u8> {
    let mut b = (vals.len() as u16).to_be_bytes().to_vec();
    for v in vals {
        match v {
            Some(s) => {
                b.extend((s.len() as u32).to_be_bytes());
                b.extend(s.as_bytes());
            }
            None => b.extend((-1i32).to_be_bytes()),
        }
    }
    msg(b'D', &b)
}

fn complete(tag: &str) -> Vec<u8> {
    msg(b'C', &cs(tag))
}

fn ready() -> Vec<u8> {
    msg(b'Z', b"I")
}

fn error(severity: &str, code: &str, message: &str) -> Vec<u8> {
    let mut b = vec![b'S'];
    b.extend(cs(severity));
    b.push(b'V');
    b.extend(cs(severity));
    b.push(b'C');
    b.extend(cs(code));
    b.push(b'M');
    b.extend(cs(message));
    b.push(0);
    msg(b'E', &b)
}

fn notice(code: &str, message: &str) -> Vec<u8> {
    let mut e = error("NOTICE", code, message);
    e[0] = b'N';
    e
}

fn cfg() -> Arc<PgsqlConfig> {
    Arc::new(PgsqlConfig::default())
}

fn session() -> Harness<PgsqlSession> {
    Harness::new(PgsqlSession::new(cfg()))
}

const T0: Timestamp = 1_000 * SECOND;

/// Feeds request then response at T0 and T0 + 1 ms and closes.
fn exchange(req: &[u8], resp: &[u8]) -> Vec<Value> {
    let mut h = session();
    h.data(Dir::ToServer, req, T0);
    h.data(Dir::ToClient, resp, T0 + MILLISECOND);
    h.close(T0 + SECOND);
    h.events()
}

// ---------------------------------------------------------------- parser

#[test]
fn startup_message_fields() {
    let b = startup(&[
        ("user", "alice"),
        ("database", "shop"),
        ("application_name", "psql"),
    ]);
    // Int32 length | Int32 196608 (3.0) | "user\0alice\0" ... | 0
    let Head::Msg(h) = parser::startup_header(&b) else {
        panic!("header")
    };
    assert_eq!(h.total(), b.len());
    assert!(parser::looks_like_startup(&b));
    let Some(Startup::Message {
        major,
        minor,
        params,
    }) = parser::parse_startup(&b[4..])
    else {
        panic!("startup message")
    };
    assert_eq!((major, minor), (3, 0));
    let kv: Vec<_> = parser::startup_params(params).collect();
    assert_eq!(kv.len(), 3);
    assert_eq!(kv[0], (&b"user"[..], &b"alice"[..]));
    assert_eq!(kv[2], (&b"application_name"[..], &b"psql"[..]));
}

#[test]
fn ssl_gssenc_and_cancel_requests() {
    assert_eq!(
        parser::parse_startup(&ssl_request()[4..]),
        Some(Startup::Ssl)
    );
    // length 8 | 1234.5680
    let gss = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30];
    assert_eq!(parser::parse_startup(&gss[4..]), Some(Startup::GssEnc));
    assert!(parser::looks_like_startup(&gss));
    // length 16 | 1234.5678 | pid 4242 | key 0xdeadbeef
    let cancel = [
        0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e, 0, 0, 0x10, 0x92, 0xde, 0xad, 0xbe, 0xef,
    ];
    assert_eq!(
        parser::parse_startup(&cancel[4..]),
        Some(Startup::Cancel {
            process_id: 4242,
            key: &[0xde, 0xad, 0xbe, 0xef]
        })
    );
    // A tagged Query is not a startup packet.
    assert!(!parser::looks_like_startup(&query("select 1")));
}

#[test]
fn header_prefixes_are_more_and_short_lengths_are_errors() {
    let q = query("SELECT 1");
    for i in 0..parser::HEADER_LEN {
        assert_eq!(parser::tagged_header(&q[..i]), Head::More, "prefix {i}");
    }
    assert_eq!(
        parser::tagged_header(&q),
        Head::Msg(Header {
            tag: b'Q',
            header_len: 5,
            body_len: 9
        })
    );
    // 'Q' with length 3: shorter than the length field itself.
    assert!(matches!(
        parser::tagged_header(&[b'Q', 0, 0, 0, 3]),
        Head::Error(parser::ParseError::LengthTooSmall)
    ));
    assert!(matches!(
        parser::tagged_header(&[b'D', 0x7f, 0, 0, 0]),
        Head::Error(parser::ParseError::LengthTooLarge)
    ));
    for i in 0..4 {
        assert_eq!(parser::startup_header(&ssl_request()[..i]), Head::More);
    }
}

#[test]
fn parse_bind_execute_bodies() {
    let p = parse("s1", "SELECT $1");
    // 'P' | len | "s1\0" | "SELECT $1\0" | Int16 0
    let m = parser::parse_parse(&p[5..]).expect("parse");
    assert_eq!((m.name, m.query), (&b"s1"[..], &b"SELECT $1"[..]));
    let b = bind("", "s1");
    // 'B' | len | portal "" | statement "s1" | formats, params, result formats
    let m = parser::parse_bind(&b[5..]).expect("bind");
    assert_eq!((m.portal, m.statement), (&b""[..], &b"s1"[..]));
    let e = execute("");
    // 'E' | len | portal "" | Int32 0 (no limit)
    assert_eq!(parser::parse_execute(&e[5..]), Some((&b""[..], 0)));
    let d = describe_portal("p");
    assert_eq!(parser::parse_target(&d[5..]), Some((b'P', &b"p"[..])));
}

#[test]
fn error_fields_prefer_the_unlocalised_severity() {
    let e = error(
        "ERROR",
        "23505",
        "duplicate key value violates unique constraint",
    );
    let f = parser::parse_fields(&e[5..]);
    assert_eq!(f.severity, b"ERROR");
    assert_eq!(f.code, b"23505");
    assert_eq!(f.message, b"duplicate key value violates unique constraint");
    // Localised 'S' only (servers before 9.6), and an unknown field 'X'.
    let mut b = vec![b'S'];
    b.extend(cs("FEHLER"));
    b.push(b'X');
    b.extend(cs("whatever"));
    b.push(b'C');
    b.extend(cs("42P01"));
    b.push(0);
    let f = parser::parse_fields(&b);
    assert_eq!((f.severity, f.code), (&b"FEHLER"[..], &b"42P01"[..]));
}

#[test]
fn command_tags_give_rows_returned_or_affected() {
    let t = parser::parse_command_tag(b"INSERT 0 3\0");
    assert_eq!(
        (t.command, t.rows, t.affects_rows()),
        (&b"INSERT"[..], Some(3), true)
    );
    let t = parser::parse_command_tag(b"SELECT 15\0");
    assert_eq!(
        (t.command, t.rows, t.affects_rows()),
        (&b"SELECT"[..], Some(15), false)
    );
    let t = parser::parse_command_tag(b"UPDATE 316\0");
    assert_eq!((t.rows, t.affects_rows()), (Some(316), true));
    let t = parser::parse_command_tag(b"COPY 3\0");
    assert_eq!(
        (t.command, t.rows, t.is_copy()),
        (&b"COPY"[..], Some(3), true)
    );
    let t = parser::parse_command_tag(b"CREATE TABLE\0");
    assert_eq!((t.command, t.rows), (&b"CREATE TABLE"[..], None));
    let t = parser::parse_command_tag(b"SELECT 18446744073709551615\0");
    assert_eq!(t.rows, Some(u64::MAX));
    let t = parser::parse_command_tag(b"SELECT 18446744073709551616\0");
    assert_eq!(
        (t.command, t.rows),
        (&b"SELECT 18446744073709551616"[..], None)
    );
    let t = parser::parse_command_tag(b"SELECT 000000000000000000001");
    assert_eq!(t.rows, None);
    let t = parser::parse_command_tag(b"MOVE 00000000000000000001");
    assert_eq!((t.command, t.rows), (&b"MOVE"[..], Some(1)));
    let t = parser::parse_command_tag(b"INSERT 0 7 \0x");
    assert_eq!((t.command, t.rows), (&b"INSERT 0 7 "[..], None));
}

#[test]
fn data_row_and_row_description_text() {
    let d = data_row(&[Some("1"), None, Some("pear")]);
    let mut out = Vec::new();
    parser::data_row(&d[5..], 1024, &mut out);
    assert_eq!(out, ["1", "NULL", "pear"]);
    let mut short = Vec::new();
    parser::data_row(&d[5..], 3, &mut short);
    assert_eq!(short, ["1", "NU"]);
    let t = row_description(&["id", "name"]);
    assert_eq!(parser::row_description_count(&t[5..]), Some(2));
    let mut names = Vec::new();
    parser::row_description_names(&t[5..], &mut names, 10);
    assert_eq!(names, ["id", "name"]);
}

#[test]
fn resync_chain_needs_plausible_messages() {
    let b = cat(&[complete("SELECT 1"), ready()]);
    assert!(parser::chain_at(&b, 0, false));
    // One byte in: the length bytes are not a message.
    assert!(!parser::chain_at(&b, 1, false));
    let c = cat(&[parse("", "SELECT 1"), bind("", ""), execute(""), sync()]);
    assert!(parser::chain_at(&c, 0, true));
    assert!(!parser::chain_at(&c, 2, true));
}

// ---------------------------------------------------------------- session

fn select_exchange() -> (Vec<u8>, Vec<u8>) {
    let req = query("select * from test");
    let resp = cat(&[
        row_description(&["a", "b", "c"]),
        data_row(&[Some("mea"), Some("meb"), Some("mec")]),
        data_row(&[Some("mea1"), Some("meb1"), Some("mec1")]),
        complete("SELECT 2"),
        ready(),
    ]);
    (req, resp)
}

#[test]
fn simple_query_pairs_with_its_rows() {
    let (req, resp) = select_exchange();
    let ev = exchange(&req, &resp);
    assert_eq!(ev.len(), 1);
    let e = &ev[0];
    assert_eq!(e["type"], "pgsql");
    assert_eq!(e["method"], "SELECT");
    assert_eq!(e["query"], "select * from test");
    assert_eq!(e["status"], "OK");
    assert_eq!(e["pgsql"]["num_fields"], 3);
    assert_eq!(e["pgsql"]["num_rows"], 2);
    assert_eq!(e["source"]["bytes"], req.len() as u64);
    // ReadyForQuery is not part of the response (Packetbeat's count).
    assert_eq!(e["destination"]["bytes"], (resp.len() - 6) as u64);
    assert_eq!(e["event"]["duration"], MILLISECOND);
}

#[test]
fn every_split_point_gives_the_same_event() {
    let (req, resp) = select_exchange();
    let whole = exchange(&req, &resp);
    for cut in 0..=resp.len() {
        let mut h = session();
        h.data(Dir::ToServer, &req, T0);
        h.data(Dir::ToClient, &resp[..cut], T0 + MILLISECOND);
        h.data(Dir::ToClient, &resp[cut..], T0 + MILLISECOND);
        h.close(T0 + SECOND);
        assert_eq!(h.events(), whole, "split at {cut}");
    }
    for cut in 0..=req.len() {
        let mut h = session();
        h.data(Dir::ToServer, &req[..cut], T0);
        h.data(Dir::ToServer, &req[cut..], T0);
        h.data(Dir::ToClient, &resp, T0 + MILLISECOND);
        h.close(T0 + SECOND);
        assert_eq!(h.events(), whole, "request split at {cut}");
    }
}

#[test]
fn every_prefix_is_incomplete_never_an_event_or_error() {
    let (req, resp) = select_exchange();
    for cut in 0..resp.len() {
        let mut h = session();
        h.data(Dir::ToServer, &req, T0);
        h.data(Dir::ToClient, &resp[..cut], T0 + MILLISECOND);
        assert!(h.events().is_empty(), "prefix {cut} emitted");
        assert_eq!(h.counters.get("pgsql.bad_messages"), 0);
        assert_eq!(h.counters.get("pgsql.unknown_messages"), 0);
    }
    let full = startup(&[("user", "u")]);
    for cut in 0..full.len() {
        let mut h = session();
        h.data(Dir::ToServer, &full[..cut], T0);
        assert!(h.events().is_empty());
        assert_eq!(
            h.counters.get("pgsql.bad_messages"),
            0,
            "startup prefix {cut}"
        );
    }
}

#[test]
fn multi_statement_query_is_one_transaction() {
    let req = query("SELECT 1; SELECT 2; UPDATE t SET a = 0");
    let resp = cat(&[
        row_description(&["?column?"]),
        data_row(&[Some("1")]),
        complete("SELECT 1"),
        row_description(&["?column?"]),
        data_row(&[Some("2")]),
        complete("SELECT 1"),
        complete("UPDATE 4"),
        ready(),
    ]);
    let ev = exchange(&req, &resp);
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["method"], "SELECT");
    assert_eq!(ev[0]["pgsql"]["statements"], 3);
    assert_eq!(ev[0]["pgsql"]["num_rows"], 2);
    assert_eq!(ev[0]["pgsql"]["affected_rows"], 4);
}

#[test]
fn error_response_sets_code_message_severity_and_status() {
    let req = query("INSERT INTO test VALUES (1)");
    let resp = cat(&[
        error(
            "ERROR",
            "23505",
            "duplicate key value violates unique constraint \"test_pkey\"",
        ),
        ready(),
    ]);
    let ev = exchange(&req, &resp);
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["status"], "Error");
    assert_eq!(ev[0]["pgsql"]["error_code"], "23505");
    assert_eq!(ev[0]["pgsql"]["error_severity"], "ERROR");
    assert!(ev[0]["pgsql"]["error_message"]
        .as_str()
        .unwrap()
        .starts_with("duplicate key"));
}

#[test]
fn notice_is_kept_on_its_transaction() {
    let req = query("DROP TABLE IF EXISTS nope");
    let resp = cat(&[
        notice("00000", "table \"nope\" does not exist, skipping"),
        complete("DROP TABLE"),
        ready(),
    ]);
    let ev = exchange(&req, &resp);
    assert_eq!(ev[0]["status"], "OK");
    assert_eq!(ev[0]["pgsql"]["notice"]["count"], 1);
    assert_eq!(ev[0]["pgsql"]["notice"]["code"], "00000");
    assert_eq!(ev[0]["pgsql"]["notice"]["severity"], "NOTICE");
}

#[test]
fn extended_pipeline_is_one_transaction_per_execute() {
    // Two statements in one pipeline, one Sync.
    let req = cat(&[
        parse("", "SELECT * FROM test WHERE id = $1"),
        bind("", ""),
        describe_portal(""),
        execute(""),
        parse("", "UPDATE test SET a = 1"),
        bind("", ""),
        execute(""),
        sync(),
    ]);
    let resp = cat(&[
        msg(b'1', &[]),
        msg(b'2', &[]),
        row_description(&["id", "a"]),
        data_row(&[Some("1"), Some("x")]),
        complete("SELECT 1"),
        msg(b'1', &[]),
        msg(b'2', &[]),
        complete("UPDATE 7"),
        ready(),
    ]);
    let ev = exchange(&req, &resp);
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0]["method"], "SELECT");
    assert_eq!(ev[0]["query"], "SELECT * FROM test WHERE id = $1");
    assert_eq!(ev[0]["pgsql"]["num_fields"], 2);
    assert_eq!(ev[0]["pgsql"]["num_rows"], 1);
    assert_eq!(ev[1]["method"], "UPDATE");
    assert_eq!(ev[1]["pgsql"]["affected_rows"], 7);
    // Bytes: each Execute's request is its Parse, Bind, [Describe],
    // Execute; the Sync goes to the last one.
    let first = parse("", "SELECT * FROM test WHERE id = $1").len()
        + bind("", "").len()
        + describe_portal("").len()
        + execute("").len();
    assert_eq!(ev[0]["source"]["bytes"], first as u64);
    assert_eq!(
        ev[0]["source"]["bytes"].as_u64().unwrap() + ev[1]["source"]["bytes"].as_u64().unwrap(),
        req.len() as u64
    );
}

#[test]
fn named_statement_prepared_long_before_keeps_its_text() {
    let mut h = session();
    let mut t = T0;
    // PQprepare: Parse (named) + Sync, answered once.
    h.data(
        Dir::ToServer,
        &cat(&[
            parse("s7", "SELECT abalance FROM accounts WHERE aid = $1"),
            sync(),
        ]),
        t,
    );
    h.data(
        Dir::ToClient,
        &cat(&[msg(b'1', &[]), ready()]),
        t + MILLISECOND,
    );
    // A hundred other queries in between.
    for i in 0..100 {
        t += 10 * MILLISECOND;
        h.data(Dir::ToServer, &query(&format!("SELECT {i}")), t);
        h.data(
            Dir::ToClient,
            &cat(&[complete("SELECT 1"), ready()]),
            t + MILLISECOND,
        );
    }
    t += 10 * MILLISECOND;
    h.data(
        Dir::ToServer,
        &cat(&[bind("", "s7"), describe_portal(""), execute(""), sync()]),
        t,
    );
    h.data(
        Dir::ToClient,
        &cat(&[
            msg(b'2', &[]),
            row_description(&["abalance"]),
            data_row(&[Some("0")]),
            complete("SELECT 1"),
            ready(),
        ]),
        t + MILLISECOND,
    );
    h.close(t + SECOND);
    let ev = h.events();
    assert_eq!(ev.len(), 101, "the Parse+Sync alone is not a transaction");
    let last = ev.last().unwrap();
    assert_eq!(
        last["query"],
        "SELECT abalance FROM accounts WHERE aid = $1"
    );
    assert_eq!(last["pgsql"]["statement"], "s7");
    assert_eq!(last["pgsql"]["num_rows"], 1);
    assert_eq!(last["status"], "OK");
}

#[test]
fn statement_cache_is_bounded_and_counted() {
    let c = PgsqlConfig {
        max_prepared_statements: 4,
        ..Default::default()
    };
    let mut h = Harness::new(PgsqlSession::new(Arc::new(c)));
    for i in 0..10 {
        h.data(
            Dir::ToServer,
            &cat(&[parse(&format!("s{i}"), "SELECT 1"), sync()]),
            T0,
        );
        h.data(Dir::ToClient, &cat(&[msg(b'1', &[]), ready()]), T0);
    }
    assert_eq!(h.counters.get("pgsql.statements_evicted"), 6);
    // s9 is the newest: always kept.
    h.data(
        Dir::ToServer,
        &cat(&[bind("", "s9"), execute(""), sync()]),
        T0,
    );
    h.data(
        Dir::ToClient,
        &cat(&[msg(b'2', &[]), complete("SELECT 1"), ready()]),
        T0,
    );
    h.close(T0 + SECOND);
    let ev = h.events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["query"], "SELECT 1");
}

#[test]
fn error_in_a_pipeline_marks_the_execute_and_skips_the_rest() {
    let req = cat(&[
        parse("", "INSERT INTO t VALUES (1)"),
        bind("", ""),
        execute(""),
        parse("", "SELECT 2"),
        bind("", ""),
        execute(""),
        sync(),
    ]);
    let resp = cat(&[
        msg(b'1', &[]),
        msg(b'2', &[]),
        error("ERROR", "23505", "duplicate key"),
        ready(),
    ]);
    let ev = exchange(&req, &resp);
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0]["method"], "INSERT");
    assert_eq!(ev[0]["pgsql"]["error_code"], "23505");
    assert_eq!(ev[1]["method"], "SELECT");
    assert_eq!(ev[1]["status"], "Error");
    assert_eq!(ev[1]["error"]["message"], super::session::NOT_EXECUTED);
}

#[test]
fn parse_error_without_execute_is_reported() {
    let req = cat(&[parse("bad", "SELEC 1"), sync()]);
    let resp = cat(&[
        error("ERROR", "42601", "syntax error at or near \"SELEC\""),
        ready(),
    ]);
    let ev = exchange(&req, &resp);
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["query"], "SELEC 1");
    assert_eq!(ev[0]["pgsql"]["error_code"], "42601");
    assert_eq!(ev[0]["status"], "Error");
}

#[test]
fn copy_in_and_out_count_bytes_and_rows_not_data() {
    let mut h = session();
    h.data(Dir::ToServer, &query("COPY items FROM STDIN"), T0);
    // CopyInResponse: format 0, 2 columns, formats 0 0
    h.data(Dir::ToClient, &msg(b'G', &[0, 0, 2, 0, 0, 0, 0]), T0 + 1);
    h.data(
        Dir::ToServer,
        &cat(&[
            msg(b'd', b"fig\t1\n"),
            msg(b'd', b"kiwi\t2\n"),
            msg(b'c', &[]),
        ]),
        T0 + 2,
    );
    h.data(Dir::ToClient, &cat(&[complete("COPY 2"), ready()]), T0 + 3);
    h.data(Dir::ToServer, &query("COPY items TO STDOUT"), T0 + 4);
    h.data(
        Dir::ToClient,
        &cat(&[
            msg(b'H', &[0, 0, 2, 0, 0, 0, 0]),
            msg(b'd', b"fig\t1\n"),
            msg(b'd', b"kiwi\t2\n"),
            msg(b'd', b"lime\t4\n"),
            msg(b'c', &[]),
            complete("COPY 3"),
            ready(),
        ]),
        T0 + 5,
    );
    h.close(T0 + SECOND);
    let ev = h.events();
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0]["method"], "COPY");
    assert_eq!(ev[0]["pgsql"]["copy"]["direction"], "in");
    assert_eq!(ev[0]["pgsql"]["copy"]["bytes"], 13);
    assert_eq!(ev[0]["pgsql"]["copy"]["messages"], 2);
    assert_eq!(ev[0]["pgsql"]["copy"]["rows"], 2);
    // The uploaded data is request bytes.
    assert_eq!(
        ev[0]["source"]["bytes"],
        (query("COPY items FROM STDIN").len() + 11 + 12 + 5) as u64
    );
    assert_eq!(ev[1]["pgsql"]["copy"]["direction"], "out");
    assert_eq!(ev[1]["pgsql"]["copy"]["messages"], 3);
    assert_eq!(ev[1]["pgsql"]["copy"]["rows"], 3);
    assert!(
        !ev[1].to_string().contains("kiwi"),
        "COPY data is never kept"
    );
    assert_eq!(h.counters.get("pgsql.copy_bytes"), 13 + 20);
}

#[test]
fn startup_fills_user_database_application_never_the_password() {
    let mut h = session();
    h.data(Dir::ToServer, &ssl_request(), T0);
    h.data(Dir::ToClient, b"N", T0 + 1);
    h.data(
        Dir::ToServer,
        &startup(&[
            ("user", "alice"),
            ("database", "shop"),
            ("application_name", "pgbench"),
        ]),
        T0 + 2,
    );
    h.data(Dir::ToClient, &msg(b'R', &[0, 0, 0, 5, 1, 2, 3, 4]), T0 + 3); // MD5, salt
    h.data(
        Dir::ToServer,
        &msg(b'p', &cs("md5secretsecretsecret")),
        T0 + 4,
    );
    let mut ps = cs("server_version");
    ps.extend(cs("15.8"));
    h.data(
        Dir::ToClient,
        &cat(&[
            msg(b'R', &[0, 0, 0, 0]),
            msg(b'S', &ps),
            msg(b'K', &[0, 0, 0x10, 0x92, 1, 2, 3, 4]),
            ready(),
        ]),
        T0 + 5,
    );
    let (req, resp) = select_exchange();
    h.data(Dir::ToServer, &req, T0 + 6);
    h.data(Dir::ToClient, &resp, T0 + 7);
    h.close(T0 + SECOND);
    let ev = h.events();
    assert_eq!(ev.len(), 1, "{ev:?}");
    let e = &ev[0];
    assert_eq!(e["user"]["name"], "alice");
    assert_eq!(e["pgsql"]["database"], "shop");
    assert_eq!(e["pgsql"]["application_name"], "pgbench");
    assert_eq!(e["pgsql"]["server_version"], "15.8");
    assert_eq!(e["pgsql"]["backend_pid"], 4242);
    assert!(!e.to_string().contains("secret"));
    assert_eq!(h.counters.get("pgsql.encryption_declined"), 1);
}

#[test]
fn ssl_answered_s_is_reported_once_and_not_decoded() {
    let mut h = session();
    h.data(Dir::ToServer, &ssl_request(), T0);
    h.data(Dir::ToClient, b"S", T0 + 1);
    h.data(Dir::ToServer, &[0x16, 3, 1, 0, 200, 1, 0, 0], T0 + 2);
    h.data(
        Dir::ToClient,
        &query("looks like a query but is TLS"),
        T0 + 3,
    );
    h.close(T0 + SECOND);
    let ev = h.events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["method"], "SSL");
    assert_eq!(ev[0]["pgsql"]["encrypted"], true);
    assert_eq!(ev[0]["source"]["bytes"], 8);
    assert_eq!(ev[0]["destination"]["bytes"], 1);
    assert_eq!(h.counters.get("pgsql.encrypted_connections"), 1);
    assert!(h.counters.get("pgsql.skipped_bytes") > 0);
}

#[test]
fn gssenc_answered_g_is_encrypted_too() {
    let mut h = session();
    h.data(Dir::ToServer, &[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30], T0);
    h.data(Dir::ToClient, b"G", T0 + 1);
    h.close(T0 + SECOND);
    let ev = h.events();
    assert_eq!(ev[0]["method"], "GSSENC");
    assert_eq!(h.counters.get("pgsql.gssenc_requests"), 1);
    assert_eq!(h.counters.get("pgsql.encrypted_connections"), 1);
}

#[test]
fn cancel_request_is_an_event_naming_the_backend() {
    let mut h = session();
    let cancel = [
        0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e, 0, 0, 0x10, 0x92, 9, 9, 9, 9,
    ];
    h.data(Dir::ToServer, &cancel, T0);
    h.close(T0 + SECOND);
    let ev = h.events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["method"], "CANCEL");
    assert_eq!(ev[0]["status"], "OK");
    assert_eq!(ev[0]["pgsql"]["backend_pid"], 4242);
    assert_eq!(h.counters.get("pgsql.cancel_requests"), 1);
}

#[test]
fn failed_login_is_one_error_event() {
    let mut h = session();
    h.data(
        Dir::ToServer,
        &startup(&[("user", "alice"), ("database", "shop")]),
        T0,
    );
    h.data(Dir::ToClient, &msg(b'R', &[0, 0, 0, 10]), T0 + 1);
    h.data(
        Dir::ToServer,
        &msg(b'p', b"SCRAM-SHA-256\0\0\0\0\x04abcd"),
        T0 + 2,
    );
    h.data(
        Dir::ToClient,
        &error(
            "FATAL",
            "28P01",
            "password authentication failed for user \"alice\"",
        ),
        T0 + 3,
    );
    h.close(T0 + SECOND);
    let ev = h.events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["method"], "LOGIN");
    assert_eq!(ev[0]["status"], "Error");
    assert_eq!(ev[0]["pgsql"]["error_code"], "28P01");
    assert_eq!(ev[0]["pgsql"]["error_severity"], "FATAL");
    assert_eq!(ev[0]["user"]["name"], "alice");
}

#[test]
fn mid_stream_pickup_decodes_tagged_messages() {
    let (req, resp) = select_exchange();
    let ev = exchange(&req, &resp);
    assert_eq!(ev.len(), 1);
    assert!(ev[0]["user"].is_null());
}

#[test]
fn gap_inside_a_skipped_row_keeps_sync_and_reports_loss() {
    let mut h = session();
    h.data(Dir::ToServer, &query("SELECT big FROM t"), T0);
    let big = "x".repeat(200_000);
    let row = data_row(&[Some(&big)]);
    let head = cat(&[row_description(&["big"]), row[..20_000].to_vec()]);
    h.data(Dir::ToClient, &head, T0 + 1);
    h.gap(Dir::ToClient, 100_000, T0 + 2);
    let tail = &row[120_000..];
    h.data(Dir::ToClient, tail, T0 + 3);
    h.data(
        Dir::ToClient,
        &cat(&[complete("SELECT 1"), ready()]),
        T0 + 4,
    );
    h.close(T0 + SECOND);
    let ev = h.events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["pgsql"]["num_rows"], 1);
    assert_eq!(
        ev[0]["error"]["message"],
        crate::proto::common::errors::LOSS_RESPONSE
    );
    assert_eq!(h.counters.get("pgsql.resyncs"), 0);
}

#[test]
fn gap_between_messages_resyncs_at_the_next_one() {
    let mut h = session();
    h.data(Dir::ToServer, &query("SELECT a FROM t"), T0);
    h.data(
        Dir::ToClient,
        &cat(&[row_description(&["a"]), data_row(&[Some("1")])]),
        T0 + 1,
    );
    h.gap(Dir::ToClient, 37, T0 + 2);
    // Garbage tail of a lost row, then more rows and the end.
    let rest = cat(&[
        b"\x01\x02garbage".to_vec(),
        data_row(&[Some("3")]),
        data_row(&[Some("4")]),
        complete("SELECT 4"),
        ready(),
    ]);
    h.data(Dir::ToClient, &rest, T0 + 3);
    // The next query pairs normally.
    h.data(Dir::ToServer, &query("SELECT 2"), T0 + 4);
    h.data(
        Dir::ToClient,
        &cat(&[complete("SELECT 1"), ready()]),
        T0 + 5,
    );
    h.close(T0 + SECOND);
    let ev = h.events();
    assert_eq!(ev.len(), 2, "{ev:?}");
    assert_eq!(
        ev[0]["error"]["message"],
        crate::proto::common::errors::LOSS_RESPONSE
    );
    assert_eq!(ev[0]["pgsql"]["num_rows"], 3);
    assert_eq!(ev[1]["query"], "SELECT 2");
    assert_eq!(ev[1]["status"], "OK");
    assert_eq!(h.counters.get("pgsql.resyncs"), 1);
}

#[test]
fn gap_in_requests_resyncs_at_the_next_query() {
    let mut h = session();
    h.gap(Dir::ToServer, 1000, T0);
    h.data(
        Dir::ToServer,
        &cat(&[b"tail of a lost query\0".to_vec(), query("SELECT now()")]),
        T0 + 1,
    );
    h.data(
        Dir::ToClient,
        &cat(&[complete("SELECT 1"), ready()]),
        T0 + 2,
    );
    h.close(T0 + SECOND);
    let ev = h.events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["query"], "SELECT now()");
    assert_eq!(
        ev[0]["error"]["message"],
        crate::proto::common::errors::LOSS_REQUEST
    );
}

#[test]
fn a_stream_that_never_syncs_is_given_up() {
    let mut h = session();
    h.data(Dir::ToServer, &query("SELECT 1"), T0);
    h.gap(Dir::ToClient, 10, T0);
    let junk = vec![0xffu8; 2 << 20];
    h.data(Dir::ToClient, &junk, T0 + 1);
    assert_eq!(h.counters.get("pgsql.unsynced_connections"), 1);
    h.close(T0 + SECOND);
    assert_eq!(h.events().len(), 1);
}

#[test]
fn unmatched_request_times_out_as_error() {
    let mut h = session();
    h.data(Dir::ToServer, &query("SELECT pg_sleep(60)"), T0);
    h.tick(T0 + 5 * SECOND);
    assert!(h.events().is_empty());
    h.tick(T0 + 11 * SECOND);
    let ev = h.events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["status"], "Error");
    assert_eq!(
        ev[0]["error"]["message"],
        crate::proto::common::errors::UNMATCHED_REQUEST
    );
    assert_eq!(h.counters.get("pgsql.unmatched_requests"), 1);
}

#[test]
fn in_flight_bound_reports_the_oldest() {
    let c = PgsqlConfig {
        max_in_flight: 4,
        ..Default::default()
    };
    let mut h = Harness::new(PgsqlSession::new(Arc::new(c)));
    for i in 0..6 {
        h.data(
            Dir::ToServer,
            &cat(&[parse("", &format!("SELECT {i}")), bind("", ""), execute("")]),
            T0,
        );
    }
    assert_eq!(h.counters.get("pgsql.in_flight_dropped"), 2);
    assert_eq!(h.events().len(), 2);
    h.close(T0 + SECOND);
    assert_eq!(h.events().len(), 6);
}

#[test]
fn response_without_request_is_counted_not_emitted() {
    let mut h = session();
    h.data(Dir::ToClient, &cat(&[complete("SELECT 1"), ready()]), T0);
    h.close(T0 + SECOND);
    assert!(h.events().is_empty());
    assert!(h.counters.get("pgsql.unmatched_responses") >= 1);
}

#[test]
fn send_response_keeps_max_rows_and_max_row_length() {
    let c = PgsqlConfig {
        send_request: true,
        send_response: true,
        max_rows: 1,
        max_row_length: 5,
        ..Default::default()
    };
    let mut h = Harness::new(PgsqlSession::new(Arc::new(c)));
    let (req, resp) = select_exchange();
    h.data(Dir::ToServer, &req, T0);
    h.data(Dir::ToClient, &resp, T0 + 1);
    h.close(T0 + SECOND);
    let ev = h.events();
    assert_eq!(ev[0]["request"], "select * from test");
    assert_eq!(ev[0]["response"], "a,b,c\nmea,me\n");
}

#[test]
fn pseudo_random_input_never_panics() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let (req, resp) = select_exchange();
    for round in 0..300 {
        let mut h = session();
        let mut t = T0;
        for step in 0..20 {
            let r = crate::test_support::xorshift64(&mut seed);
            let dir = if r & 1 == 0 {
                Dir::ToServer
            } else {
                Dir::ToClient
            };
            t += 1;
            match (r >> 1) % 5 {
                0 => h.gap(dir, (r >> 8) % 5000, t),
                1 => h.data(dir, if dir == Dir::ToServer { &req } else { &resp }, t),
                _ => {
                    let n = ((r >> 8) % 300) as usize;
                    let b: Vec<u8> = (0..n)
                        .map(|_| {
                            let x = crate::test_support::xorshift64(&mut seed);
                            // Mostly message-type-like bytes and small numbers.
                            [b'Q', b'D', b'C', b'Z', b'E', b'P', b'1', 0, 0, 4, x as u8]
                                [(x % 11) as usize]
                        })
                        .collect();
                    h.data(dir, &b, t);
                }
            }
            if step % 7 == 0 {
                h.tick(t + (round % 3) * 20 * SECOND);
            }
        }
        h.close(t + SECOND);
        let _ = h.events();
    }
}

// ---------------------------------------------------------------- corpus

fn corpus_events(file: &str) -> Option<(Vec<Value>, crate::stats::Counters)> {
    let p = corpus(file)?;
    Some(replay(&p, &[5432], || PgsqlSession::new(cfg())))
}

#[test]
fn corpus_request_response() {
    let Some((ev, _)) = corpus_events("pgsql_request_response.pcap") else {
        return;
    };
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["method"], "SELECT");
    assert_eq!(ev[0]["query"], "select * from test");
    assert_eq!(ev[0]["destination"]["bytes"], 202);
    assert_eq!(ev[0]["pgsql"]["num_rows"], 4);
    assert_eq!(ev[0]["pgsql"]["num_fields"], 3);
}

#[test]
fn corpus_insert_and_error() {
    let Some((ev, _)) = corpus_events("pgsql_insert.pcap") else {
        return;
    };
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["method"], "INSERT");
    assert_eq!(ev[0]["destination"]["bytes"], 16);
    assert_eq!(ev[0]["source"]["bytes"], 63);
    assert_eq!(ev[0]["status"], "OK");
    let Some((ev, _)) = corpus_events("pgsql_insert_error.pcap") else {
        return;
    };
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["method"], "INSERT");
    assert_eq!(ev[0]["status"], "Error");
    assert_eq!(ev[0]["pgsql"]["error_code"], "23505");
    assert_eq!(ev[0]["pgsql"]["error_severity"], "ERROR");
}

#[test]
fn corpus_login_rt() {
    let Some((ev, c)) = corpus_events("pgsql_rt.pcap") else {
        return;
    };
    // The first connection gives up after the password request (psql
    // asked for one and reconnected): no transaction.
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["method"], "SELECT");
    assert_eq!(ev[0]["event"]["duration"], 38_800_000);
    assert_eq!(c.get("pgsql.ssl_requests"), 2);
    assert_eq!(c.get("pgsql.encryption_declined"), 2);
    assert!(ev[0]["user"]["name"].is_string());
}

#[test]
fn corpus_extended_query() {
    let Some((ev, _)) = corpus_events("pgsql_extended_query.pcap") else {
        return;
    };
    // tshark: two Executes (a SET with no rows, then the SELECT);
    // Packetbeat reports only the SELECT, spanlens one per Execute.
    assert_eq!(ev.len(), 2);
    let e = &ev[1];
    assert_eq!(e["method"], "SELECT");
    assert_eq!(e["query"], "SELECT * from test where id = $1");
    assert_eq!(e["source"]["bytes"], 90);
    assert_eq!(e["destination"]["bytes"], 101);
    assert_eq!(e["pgsql"]["num_rows"], 1);
}

#[test]
fn corpus_long_result() {
    let Some((ev, _)) = corpus_events("pgsql_long_result.pcap") else {
        return;
    };
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["pgsql"]["num_rows"], 15);
}

#[test]
fn corpus_long_result_response_text_bounds() {
    let Some(p) = corpus("pgsql_long_result.pcap") else {
        return;
    };
    let text = |c: PgsqlConfig| -> String {
        let c = Arc::new(PgsqlConfig {
            send_response: true,
            ..c
        });
        let (ev, _) = replay(&p, &[5432], || PgsqlSession::new(c.clone()));
        ev[0]["response"].as_str().unwrap_or_default().to_string()
    };
    let lines = |s: &str| s.lines().count();
    let d = text(PgsqlConfig::default());
    assert_eq!(lines(&d), 11, "10 rows + header");
    assert!(d.lines().skip(1).map(str::len).max().unwrap() >= 237);
    let short = text(PgsqlConfig {
        max_row_length: 79,
        ..Default::default()
    });
    assert!(short.lines().skip(1).all(|l| l.len() <= 83), "{short}");
    assert_eq!(
        lines(&text(PgsqlConfig {
            max_rows: 5,
            ..Default::default()
        })),
        6
    );
    assert_eq!(
        lines(&text(PgsqlConfig {
            max_rows: 2000,
            ..Default::default()
        })),
        16
    );
}

// ---------------------------------------------------------------- own captures

fn local(name: &str) -> Option<(Vec<Value>, crate::stats::Counters, Value)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let pcap = dir.join(format!("{name}.pcap"));
    let expected: Value = serde_json::from_slice(
        &std::fs::read(dir.join(format!("{name}.expected.json"))).expect("expected.json"),
    )
    .expect("expected JSON");
    let (ev, c) = replay(&pcap, &[5432], || PgsqlSession::new(cfg()));
    Some((ev, c, expected))
}

/// Transactions equal tshark's Simple query + Execute + Cancel request
/// counts, plus one per failed login and per encrypted connection; errors
/// equal its ErrorResponse count.
fn check_local(name: &str) {
    let Some((ev, c, x)) = local(name) else {
        return;
    };
    let n = |k: &str| x[k].as_u64().unwrap();
    let logins = c.get("pgsql.login_failures");
    let encrypted = c.get("pgsql.encrypted_connections");
    assert_eq!(
        ev.len() as u64,
        n("simple_queries") + n("executes") + n("cancel_requests") + logins + encrypted,
        "{name}: transactions"
    );
    let with_code = ev
        .iter()
        .filter(|e| e["pgsql"]["error_code"].is_string())
        .count() as u64;
    assert_eq!(with_code, n("errors"), "{name}: errors");
    assert_eq!(
        c.get("pgsql.ssl_requests"),
        n("ssl_requests"),
        "{name}: SSL requests"
    );
    let copies = |d: &str| {
        ev.iter()
            .filter(|e| e["pgsql"]["copy"]["direction"] == d)
            .count() as u64
    };
    assert_eq!(copies("in"), n("copy_in"), "{name}: COPY in");
    assert_eq!(copies("out"), n("copy_out"), "{name}: COPY out");
    assert_eq!(c.get("pgsql.unmatched_requests"), 0, "{name}");
    assert!(
        ev.iter()
            .all(|e| e["error"]["message"].is_null() || e["pgsql"]["error_code"].is_string()),
        "{name}: no loss or unmatched"
    );
}

#[test]
fn local_psql_capture() {
    check_local("pgsql-psql");
    let Some((ev, c, _)) = local("pgsql-psql") else {
        return;
    };
    let multi = ev
        .iter()
        .find(|e| e["pgsql"]["statements"] == 3)
        .expect("multi-statement query");
    assert_eq!(multi["pgsql"]["num_rows"], 2);
    assert!(ev.iter().any(|e| e["pgsql"]["notice"]["count"] == 1));
    assert!(ev
        .iter()
        .any(|e| e["method"] == "LOGIN" && e["pgsql"]["error_code"] == "28P01"));
    let cancel = ev.iter().find(|e| e["method"] == "CANCEL").expect("cancel");
    let sleeper = ev
        .iter()
        .find(|e| e["query"] == "SELECT pg_sleep(5)")
        .expect("pg_sleep");
    assert_eq!(
        cancel["pgsql"]["backend_pid"],
        sleeper["pgsql"]["backend_pid"]
    );
    assert_eq!(sleeper["pgsql"]["error_code"], "57014");
    assert!(ev
        .iter()
        .filter(|e| e["query"].is_string())
        .all(|e| e["pgsql"]["application_name"] == "spanlens-test"));
    assert_eq!(c.get("pgsql.encryption_declined"), 4);
}

#[test]
fn local_tls_capture() {
    check_local("pgsql-tls");
    let Some((ev, c, _)) = local("pgsql-tls") else {
        return;
    };
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["pgsql"]["encrypted"], true);
    assert_eq!(c.get("pgsql.encrypted_connections"), 1);
}

#[test]
fn local_pgbench_simple_capture() {
    check_local("pgbench-simple");
}

#[test]
fn local_pgbench_extended_capture() {
    check_local("pgbench-extended");
}

#[test]
fn local_pgbench_prepared_capture() {
    check_local("pgbench-prepared");
    let Some((ev, _, _)) = local("pgbench-prepared") else {
        return;
    };
    // Named statements prepared once, executed many times, all with text.
    let exec: Vec<_> = ev
        .iter()
        .filter(|e| e["pgsql"]["statement"].is_string())
        .collect();
    assert!(exec.len() >= 140, "{}", exec.len());
    assert!(exec.iter().all(|e| e["query"].is_string()));
}

// ---------------------------------------------------------------- testkit checks

/// A whole connection, one step per message: SSLRequest answered N,
/// startup and authentication, a simple query with rows, a pipeline with a
/// named statement, a COPY FROM STDIN, an error.
fn connection_steps() -> Vec<(Dir, Vec<u8>)> {
    let mut ps = cs("server_version");
    ps.extend(cs("15.8"));
    let mut v: Vec<(Dir, Vec<u8>)> = vec![
        (Dir::ToServer, ssl_request()),
        (Dir::ToClient, b"N".to_vec()),
        (
            Dir::ToServer,
            startup(&[("user", "alice"), ("database", "shop")]),
        ),
        (Dir::ToClient, msg(b'R', &[0, 0, 0, 0])),
        (Dir::ToClient, msg(b'S', &ps)),
        (Dir::ToClient, msg(b'K', &[0, 0, 0x10, 0x92, 1, 2, 3, 4])),
        (Dir::ToClient, ready()),
    ];
    let (q, r) = select_exchange();
    v.push((Dir::ToServer, q));
    v.push((Dir::ToClient, r));
    for m in [
        parse("s1", "SELECT $1"),
        bind("", "s1"),
        describe_portal(""),
        execute(""),
        sync(),
    ] {
        v.push((Dir::ToServer, m));
    }
    for m in [
        msg(b'1', &[]),
        msg(b'2', &[]),
        row_description(&["x"]),
        data_row(&[Some("7")]),
        complete("SELECT 1"),
        ready(),
    ] {
        v.push((Dir::ToClient, m));
    }
    v.push((Dir::ToServer, query("COPY t FROM STDIN")));
    v.push((Dir::ToClient, msg(b'G', &[0, 0, 1, 0, 0])));
    v.push((Dir::ToServer, msg(b'd', b"1\n")));
    v.push((Dir::ToServer, msg(b'c', &[])));
    v.push((Dir::ToClient, complete("COPY 1")));
    v.push((Dir::ToClient, ready()));
    v.push((Dir::ToServer, query("SELECT * FROM nope")));
    v.push((
        Dir::ToClient,
        error("ERROR", "42P01", "relation \"nope\" does not exist"),
    ));
    v.push((Dir::ToClient, ready()));
    v
}

#[test]
fn testkit_generic_checks_on_a_whole_connection() {
    use crate::proto::testkit;
    use crate::proto::{ProtocolId, ProtocolsConfig};
    let owned = connection_steps();
    let steps: Vec<(Dir, &[u8])> = owned.iter().map(|(d, b)| (*d, b.as_slice())).collect();
    let cfg = ProtocolsConfig::default();
    testkit::check_every_prefix(ProtocolId::Pgsql, &cfg, &steps);
    testkit::check_every_split(ProtocolId::Pgsql, &cfg, &steps);
    testkit::check_random_bytes(ProtocolId::Pgsql, &cfg, &steps, 0x5eed_0001, 200);
    // And what the connection decodes to, so the checks compare real events.
    let (mut s, mut d) = testkit::session_for(ProtocolId::Pgsql);
    let mut ts = testkit::T0;
    for (dir, b) in &steps {
        ts += MILLISECOND;
        s.feed(&mut d, *dir, b, ts);
    }
    s.close(&mut d, ts + SECOND);
    let ev = d.events();
    assert_eq!(ev.len(), 4, "{ev:?}");
    assert_eq!(ev[1]["pgsql"]["statement"], "s1");
    assert_eq!(ev[2]["pgsql"]["copy"]["rows"], 1);
    assert_eq!(ev[3]["pgsql"]["error_code"], "42P01");
    assert!(ev.iter().all(|e| e["user"]["name"] == "alice"));
}
