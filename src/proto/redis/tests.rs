//! Redis parser and session tests: field-commented messages of every
//! RESP2/RESP3 type, every prefix (incomplete, never an error), every
//! split point of pipelined exchanges, pairing, pub/sub, MULTI/EXEC, gaps,
//! bounds, and the Packetbeat corpus through the pcap harness.

use super::parser::{Kind, RespParser, Token, Visitor};
use super::session::{Collector, Message};
use super::{RedisConfig, RedisSession};
use crate::flow::Dir;
use crate::proto::mysql::tests::{corpus, replay, Harness};
use crate::time::{MILLISECOND, SECOND};
use serde_json::Value;
use std::sync::Arc;

/// Renders tokens as text so that runs can be compared.
#[derive(Default)]
struct Log(Vec<String>);

impl Visitor for Log {
    fn token(&mut self, t: Token<'_>) -> bool {
        let s = match t {
            Token::Aggregate { kind, len } => format!("agg {kind:?} {len}"),
            Token::AggregateEnd => "end-agg".into(),
            Token::Line { kind, text } => {
                format!("line {kind:?} {}", String::from_utf8_lossy(text))
            }
            Token::BulkStart { kind, len } => format!("bulk {kind:?} {len}"),
            Token::BulkChunk(c) => format!("chunk {}", String::from_utf8_lossy(c)),
            Token::BulkEnd => "end-bulk".into(),
            Token::Inline(l) => format!("inline {}", String::from_utf8_lossy(l)),
            Token::End { bytes } => format!("END {bytes}"),
        };
        // Chunks may be split differently: merge consecutive ones.
        if let (Some(last), Some(rest)) = (self.0.last_mut(), s.strip_prefix("chunk ")) {
            if last.starts_with("chunk ") {
                last.push_str(rest);
                return true;
            }
        }
        self.0.push(s);
        true
    }
}

fn tokens(inline: bool, chunks: &[&[u8]]) -> Result<Vec<String>, super::parser::RespError> {
    let mut p = RespParser::new(inline);
    let mut log = Log::default();
    for c in chunks {
        let n = p.feed(c, &mut log)?;
        assert_eq!(n, c.len(), "a visitor that never stops consumes everything");
    }
    Ok(log.0)
}

/// `SET key3 me` as a RESP array of bulk strings.
const SET_CMD: &[u8] = b"*3\r\n\
$3\r\nset\r\n\
$4\r\nkey3\r\n\
$2\r\nme\r\n";

/// One message of every RESP3 type inside a map, with an attribute.
const RESP3_ALL: &[u8] = b"|1\r\n\
+ttl\r\n:3600\r\n\
%8\r\n\
+s\r\n+simple\r\n\
+i\r\n:-42\r\n\
+d\r\n,3.14\r\n\
+b\r\n#t\r\n\
+n\r\n_\r\n\
+big\r\n(3492890328409238509324850943850943825024385\r\n\
+v\r\n=15\r\ntxt:Some string\r\n\
+set\r\n~2\r\n$1\r\na\r\n*0\r\n";

#[test]
fn set_command_tokens() {
    let t = tokens(false, &[SET_CMD]).unwrap();
    assert_eq!(
        t,
        vec![
            "agg Array 3",
            "bulk Bulk 3",
            "chunk set",
            "end-bulk",
            "bulk Bulk 4",
            "chunk key3",
            "end-bulk",
            "bulk Bulk 2",
            "chunk me",
            "end-bulk",
            "end-agg",
            &format!("END {}", SET_CMD.len()),
        ]
    );
}

#[test]
fn resp3_types_parse() {
    let t = tokens(false, &[RESP3_ALL]).unwrap();
    assert!(t.contains(&"agg Attribute 1".to_string()));
    assert!(t.contains(&"line Double 3.14".to_string()));
    assert!(t.contains(&"line Boolean t".to_string()));
    assert!(t.contains(&"line Null ".to_string()));
    assert!(t.contains(&"bulk Verbatim 15".to_string()));
    assert!(t.contains(&"agg Set 2".to_string()));
    assert_eq!(t.last().unwrap(), &format!("END {}", RESP3_ALL.len()));
    assert_eq!(t.iter().filter(|s| s.starts_with("END")).count(), 1);
}

#[test]
fn every_prefix_is_incomplete_never_an_error() {
    for msg in [
        SET_CMD,
        RESP3_ALL,
        b"-ERR wrong kind\r\n",
        b"$-1\r\n",
        b"*-1\r\n",
    ] {
        for n in 0..msg.len() {
            let t = tokens(false, &[&msg[..n]]).unwrap_or_else(|e| panic!("prefix {n}: {e}"));
            assert!(!t.iter().any(|s| s.starts_with("END")), "prefix {n} ended");
        }
    }
}

#[test]
fn every_split_point_gives_the_same_tokens() {
    let mut pipeline = Vec::new();
    pipeline.extend_from_slice(SET_CMD);
    pipeline.extend_from_slice(b"*2\r\n$3\r\nget\r\n$4\r\nkey3\r\n");
    pipeline.extend_from_slice(b"PING\r\n");
    let whole = tokens(true, &[&pipeline]).unwrap();
    assert_eq!(whole.iter().filter(|s| s.starts_with("END")).count(), 3);
    for cut in 0..=pipeline.len() {
        let t = tokens(true, &[&pipeline[..cut], &pipeline[cut..]]).unwrap();
        assert_eq!(t, whole, "cut {cut}");
    }
    // And byte by byte.
    let bytes: Vec<&[u8]> = pipeline.chunks(1).collect();
    assert_eq!(tokens(true, &bytes).unwrap(), whole);
}

#[test]
fn errors_are_reported() {
    assert!(tokens(false, &[b"hello\r\n"]).is_err());
    assert!(tokens(false, &[b"*x\r\n"]).is_err());
    assert!(tokens(false, &[b"$3\r\nabcXY"]).is_err());
    assert!(tokens(false, &[b"$?\r\n"]).is_err());
    let deep = "*1\r\n".repeat(super::parser::MAX_DEPTH + 1);
    assert!(tokens(false, &[deep.as_bytes()]).is_err());
    // Inline commands are fine on the request side.
    assert_eq!(
        tokens(true, &[b"get key\r\n"]).unwrap(),
        vec!["inline get key", "END 9"]
    );
}

#[test]
fn reply_start_detection() {
    use super::parser::{find_reply_start, find_request_start};
    assert_eq!(find_request_start(b"lo\r\n*2\r\n$3\r\nget"), Some(4));
    assert_eq!(find_request_start(b"xx*2\r\n"), None);
    assert_eq!(find_reply_start(b"abc\r\n:12\r\n"), Some(5));
    assert_eq!(find_reply_start(b"abc\r\n#x\r\n"), None);
}

fn collect(request: bool, max: usize, b: &[u8]) -> Vec<Message> {
    let mut p = RespParser::new(request);
    let mut c = Collector::new(request, max);
    let mut rest = b;
    while !rest.is_empty() {
        let n = p.feed(rest, &mut c).unwrap();
        rest = &rest[n..];
    }
    c.done
}

#[test]
fn collector_renders_return_values() {
    let m = collect(false, 1024, b"*3\r\n$1\r\na\r\n:2\r\n*2\r\n+x\r\n$-1\r\n");
    assert_eq!(m[0].text, "[a, 2, [x, nil]]");
    let m = collect(false, 1024, RESP3_ALL);
    assert_eq!(
        m[0].text,
        "{s: simple, i: -42, d: 3.14, b: true, n: nil, \
         big: 3492890328409238509324850943850943825024385, v: Some string, set: [a, []]}"
    );
    let m = collect(false, 1024, b"!21\r\nSYNTAX invalid syntax\r\n");
    assert_eq!(m[0].error.as_deref(), Some("SYNTAX invalid syntax"));
    let m = collect(false, 8, b"$20\r\n01234567890123456789\r\n");
    assert_eq!(m[0].text, "01234567");
    let m = collect(true, 1024, SET_CMD);
    assert_eq!(m[0].text, "set key3 me");
    assert_eq!(m[0].elems, vec!["set", "key3", "me"]);
    assert_eq!(m[0].leg.bytes, SET_CMD.len() as u64);
}

// ---------------------------------------------------------------- session

fn cfg() -> Arc<RedisConfig> {
    Arc::new(RedisConfig::default())
}

fn session() -> Harness<RedisSession> {
    Harness::new(RedisSession::new(cfg()))
}

fn cmd(args: &[&str]) -> Vec<u8> {
    let mut v = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        v.extend(format!("${}\r\n{a}\r\n", a.len()).bytes());
    }
    v
}

#[test]
fn pairs_command_with_reply() {
    let mut h = session();
    h.data(Dir::ToServer, SET_CMD, SECOND);
    h.data(Dir::ToClient, b"+OK\r\n", SECOND + MILLISECOND);
    h.data(Dir::ToServer, &cmd(&["llen", "key3"]), 2 * SECOND);
    h.data(
        Dir::ToClient,
        b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        2 * SECOND,
    );
    let ev = h.events();
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0]["method"], "SET");
    assert_eq!(ev[0]["resource"], "key3");
    assert_eq!(ev[0]["query"], "set key3 me");
    assert_eq!(ev[0]["redis"]["return_value"], "OK");
    assert_eq!(ev[0]["source"]["bytes"], SET_CMD.len() as u64);
    assert_eq!(ev[0]["destination"]["bytes"], 5);
    assert_eq!(ev[0]["event"]["duration"], MILLISECOND);
    assert_eq!(ev[1]["status"], "Error");
    assert_eq!(
        ev[1]["redis"]["error"],
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
}

#[test]
fn pipelined_exchange_every_split_point() {
    let mut req = Vec::new();
    let mut resp = Vec::new();
    for i in 0..5 {
        req.extend(cmd(&["incr", &format!("k{i}")]));
        resp.extend(format!(":{i}\r\n").bytes());
    }
    req.extend(b"PING\r\n");
    resp.extend(b"+PONG\r\n");
    let run = |rc: usize, pc: usize| {
        let mut h = session();
        h.data(Dir::ToServer, &req[..rc], SECOND);
        h.data(Dir::ToServer, &req[rc..], SECOND);
        h.data(Dir::ToClient, &resp[..pc], SECOND);
        h.data(Dir::ToClient, &resp[pc..], SECOND);
        h.events()
    };
    let want = run(req.len(), resp.len());
    assert_eq!(want.len(), 6);
    assert_eq!(want[3]["resource"], "k3");
    assert_eq!(want[3]["redis"]["return_value"], "3");
    assert_eq!(want[5]["method"], "PING");
    for c in 0..=req.len() {
        assert_eq!(run(c, resp.len() / 2), want, "request cut {c}");
    }
    for c in 0..=resp.len() {
        assert_eq!(run(req.len() / 3, c), want, "reply cut {c}");
    }
}

#[test]
fn pubsub_resp2_messages_are_pushes() {
    let mut h = session();
    h.data(Dir::ToServer, &cmd(&["subscribe", "a", "b"]), SECOND);
    h.data(
        Dir::ToClient,
        b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n",
        SECOND,
    );
    h.data(
        Dir::ToClient,
        b"*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$5\r\nhello\r\n",
        2 * SECOND,
    );
    h.data(
        Dir::ToClient,
        b"*4\r\n$8\r\npmessage\r\n$2\r\nb*\r\n$1\r\nb\r\n$2\r\nhi\r\n",
        2 * SECOND,
    );
    let ev = h.events();
    assert_eq!(ev.len(), 3, "{ev:#?}");
    assert_eq!(ev[0]["method"], "SUBSCRIBE");
    assert_eq!(ev[0]["resource"], "a");
    assert_eq!(ev[1]["method"], "MESSAGE");
    assert_eq!(ev[1]["resource"], "a");
    assert_eq!(ev[1]["redis"]["push"], true);
    assert_eq!(ev[1]["redis"]["return_value"], "[message, a, hello]");
    assert_eq!(ev[2]["method"], "PMESSAGE");
    assert_eq!(ev[2]["resource"], "b");
    assert_eq!(h.counters.get("redis.pushes"), 2);
}

#[test]
fn resp3_push_does_not_steal_a_reply() {
    let mut h = session();
    h.data(Dir::ToServer, &cmd(&["get", "k"]), SECOND);
    h.data(
        Dir::ToClient,
        b">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n$3\r\nval\r\n",
        SECOND,
    );
    let ev = h.events();
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0]["redis"]["push"], true);
    assert_eq!(ev[0]["method"], "INVALIDATE");
    assert_eq!(ev[1]["method"], "GET");
    assert_eq!(ev[1]["redis"]["return_value"], "val");
}

#[test]
fn multi_exec_pairs_one_to_one() {
    let mut h = session();
    let mut req = cmd(&["multi"]);
    req.extend(cmd(&["incr", "a"]));
    req.extend(cmd(&["incr", "b"]));
    req.extend(cmd(&["exec"]));
    h.data(Dir::ToServer, &req, SECOND);
    h.data(
        Dir::ToClient,
        b"+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n:1\r\n:1\r\n",
        SECOND,
    );
    let ev = h.events();
    let methods: Vec<&str> = ev.iter().map(|e| e["method"].as_str().unwrap()).collect();
    assert_eq!(methods, ["MULTI", "INCR", "INCR", "EXEC"]);
    assert_eq!(ev[1]["redis"]["return_value"], "QUEUED");
    assert_eq!(ev[3]["redis"]["return_value"], "[1, 1]");
    assert!(ev[3].get("resource").is_none());
}

#[test]
fn in_flight_bound_keeps_pairing_right() {
    let c = RedisConfig {
        max_in_flight: 2,
        ..Default::default()
    };
    let mut h = Harness::new(RedisSession::new(Arc::new(c)));
    for i in 0..4 {
        h.data(Dir::ToServer, &cmd(&["get", &format!("k{i}")]), SECOND);
    }
    h.data(
        Dir::ToClient,
        b"$2\r\nv0\r\n$2\r\nv1\r\n$2\r\nv2\r\n$2\r\nv3\r\n",
        SECOND,
    );
    h.data(Dir::ToServer, &cmd(&["get", "k4"]), SECOND);
    h.data(Dir::ToClient, b"$2\r\nv4\r\n", SECOND);
    let ev = h.events();
    assert_eq!(ev.len(), 3);
    assert_eq!(ev[1]["redis"]["return_value"], "v1");
    assert_eq!(ev[2]["resource"], "k4");
    assert_eq!(ev[2]["redis"]["return_value"], "v4");
    assert_eq!(h.counters.get("redis.in_flight_dropped"), 2);
    assert_eq!(h.counters.get("redis.unreported_transactions"), 2);
}

#[test]
fn reply_gap_reports_pending_and_never_shifts_pairing() {
    let mut h = session();
    h.data(Dir::ToServer, &cmd(&["get", "a"]), SECOND);
    h.data(Dir::ToServer, &cmd(&["get", "b"]), SECOND);
    h.data(Dir::ToClient, b"$3\r\nv", SECOND);
    h.gap(Dir::ToClient, 10, SECOND);
    h.data(Dir::ToClient, b"\r\n$2\r\nvb\r\n", SECOND); // tail of a lost reply
    h.data(Dir::ToServer, &cmd(&["get", "c"]), 2 * SECOND);
    h.data(Dir::ToClient, b"$2\r\nvc\r\n", 2 * SECOND);
    let ev = h.events();
    assert_eq!(ev.len(), 3);
    assert_eq!(
        ev[0]["error"]["message"],
        crate::proto::common::errors::LOSS_RESPONSE
    );
    assert_eq!(
        ev[1]["error"]["message"],
        crate::proto::common::errors::LOSS_RESPONSE
    );
    assert_eq!(ev[2]["resource"], "c");
    assert_eq!(ev[2]["redis"]["return_value"], "vc");
}

#[test]
fn request_gap_resyncs_at_next_command() {
    let mut h = session();
    let c = cmd(&["set", "a", "xxxxxxxxxxxxxxxx"]);
    h.data(Dir::ToServer, &c[..12], SECOND);
    h.gap(Dir::ToServer, 10, SECOND);
    let mut rest = c[22..].to_vec();
    rest.extend(cmd(&["get", "b"]));
    h.data(Dir::ToServer, &rest, SECOND);
    h.data(Dir::ToClient, b"$2\r\nvb\r\n", SECOND);
    let ev = h.events();
    assert_eq!(ev.len(), 1, "{ev:#?}");
    assert_eq!(ev[0]["resource"], "b");
    // One resync per direction: the command stream and the reply stream.
    assert_eq!(h.counters.get("redis.resyncs"), 2);
}

#[test]
fn request_gap_with_pending_commands_never_mispairs() {
    let mut h = session();
    h.data(Dir::ToServer, &cmd(&["get", "a"]), SECOND);
    h.gap(Dir::ToServer, 20, SECOND); // "get b" lost
    h.data(Dir::ToClient, b"$2\r\nva\r\n$2\r\nvb\r\n", SECOND);
    h.data(Dir::ToServer, &cmd(&["get", "c"]), 2 * SECOND);
    h.data(Dir::ToClient, b"$2\r\nvc\r\n", 2 * SECOND);
    let ev = h.events();
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0]["resource"], "a");
    assert_eq!(
        ev[0]["error"]["message"],
        crate::proto::common::errors::LOSS_REQUEST
    );
    assert_eq!(ev[1]["resource"], "c");
    assert_eq!(ev[1]["redis"]["return_value"], "vc");
}

#[test]
fn garbage_replies_are_counted_not_fatal() {
    let mut h = session();
    h.data(Dir::ToServer, &cmd(&["get", "a"]), SECOND);
    h.data(Dir::ToClient, b"\x16\x03\x03garbage", SECOND);
    h.data(Dir::ToServer, &cmd(&["get", "b"]), 2 * SECOND);
    h.data(Dir::ToClient, b"$2\r\nvb\r\n", 2 * SECOND);
    let ev = h.events();
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[1]["redis"]["return_value"], "vb");
    assert!(h.counters.get("redis.parse_errors") >= 1);
}

#[test]
fn bounds_on_query_and_return_value() {
    let c = RedisConfig {
        max_query_length: 10,
        max_return_value_length: 4,
        send_request: true,
        send_response: true,
        ..Default::default()
    };
    let mut h = Harness::new(RedisSession::new(Arc::new(c)));
    h.data(Dir::ToServer, &cmd(&["set", "key", "a-long-value"]), SECOND);
    h.data(Dir::ToClient, b"+OK-and-more\r\n", SECOND);
    let e = &h.events()[0];
    assert_eq!(e["query"], "set key a-");
    assert_eq!(e["request"], "set key a-");
    assert_eq!(e["redis"]["return_value"], "OK-a");
    assert_eq!(e["response"], "OK-a");
}

#[test]
fn unmatched_request_times_out() {
    let mut h = session();
    h.data(Dir::ToServer, &cmd(&["blpop", "q", "0"]), SECOND);
    h.tick(5 * SECOND);
    assert!(h.events().is_empty());
    h.tick(20 * SECOND);
    let ev = h.events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["status"], "Error");
    assert_eq!(ev[0]["error"]["message"], "Unmatched request");
}

#[test]
fn pseudo_random_input_never_panics() {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let alphabet = b"*$+-:_#,(!=%~|>\r\n0123456789-?abc";
    for _ in 0..300 {
        let mut h = session();
        for _ in 0..20 {
            let mut buf = vec![0u8; (x % 200) as usize];
            for b in buf.iter_mut() {
                crate::test_support::xorshift64(&mut x);
                *b = alphabet[(x % alphabet.len() as u64) as usize];
            }
            let dir = if x % 2 == 0 {
                Dir::ToServer
            } else {
                Dir::ToClient
            };
            if x % 13 == 0 {
                h.gap(dir, x % 100, SECOND);
            } else {
                h.data(dir, &buf, SECOND);
            }
        }
        h.tick(100 * SECOND);
        h.close(100 * SECOND);
        let _ = h.events();
    }
}

// ---------------------------------------------------------------- corpus

fn corpus_events(file: &str) -> Option<Vec<Value>> {
    let p = corpus(file)?;
    Some(replay(&p, &[6380], || RedisSession::new(cfg())).0)
}

#[test]
fn corpus_redis_session() {
    let Some(ev) = corpus_events("redis_session.pcap") else {
        return;
    };
    // tshark -Y resp: 11 requests, 11 replies.
    assert_eq!(ev.len(), 11);
    assert_eq!(ev[0]["method"], "SET");
    assert_eq!(ev[0]["resource"], "key3");
    assert_eq!(ev[0]["query"], "set key3 me");
    assert_eq!(ev[0]["redis"]["return_value"], "OK");
    assert_eq!(ev[1]["method"], "GET");
    assert_eq!(ev[1]["query"], "get key3");
    assert_eq!(ev[1]["redis"]["return_value"], "me");
    assert_eq!(ev[2]["method"], "LLEN");
    assert_eq!(ev[2]["status"], "Error");
    assert_eq!(
        ev[2]["redis"]["error"],
        "ERR Operation against a key holding the wrong kind of value"
    );
    for e in &ev[3..] {
        assert_eq!(e["status"], "OK");
        assert!(e["redis"]["return_value"].is_string());
    }
    assert_eq!(ev[8]["redis"]["return_value"], "nil");
    for e in &ev {
        assert!(e["source"]["bytes"].as_u64().unwrap() > 0);
        assert!(e["destination"]["bytes"].as_u64().unwrap() > 0);
    }
}

#[test]
fn corpus_redis_one_transaction_send_options() {
    let Some(p) = corpus("redis_one_transaction.pcap") else {
        return;
    };
    for send in [false, true] {
        let c = Arc::new(RedisConfig {
            send_request: send,
            send_response: send,
            ..Default::default()
        });
        let (ev, _) = replay(&p, &[6380], || RedisSession::new(c.clone()));
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].get("request").is_some(), send);
        assert_eq!(ev[0].get("response").is_some(), send);
    }
}

#[test]
fn kinds_are_exhaustive() {
    for b in 0u8..=255 {
        if let Some(k) = Kind::from_byte(b) {
            assert!(!(k.is_aggregate() && k.is_bulk()));
        }
    }
}

#[test]
fn the_test_kits_generic_checks_pass_on_a_pipeline_with_an_error_reply() {
    use crate::proto::{testkit, ProtocolId, ProtocolsConfig};
    let cfg = ProtocolsConfig::default();
    let steps: &[(Dir, &[u8])] = &[
        (
            Dir::ToServer,
            b"*2\r\n$4\r\nINCR\r\n$1\r\nk\r\n*3\r\n$5\r\nLPUSH\r\n$1\r\nk\r\n$1\r\nv\r\n",
        ),
        (Dir::ToClient, b":1\r\n"),
        (Dir::ToClient, b"-WRONGTYPE Operation against a key\r\n"),
        (Dir::ToServer, b"*1\r\n$4\r\nPING\r\n"),
        (Dir::ToClient, b"+PONG\r\n"),
    ];
    testkit::check_every_prefix(ProtocolId::Redis, &cfg, steps);
    testkit::check_every_split(ProtocolId::Redis, &cfg, steps);
    testkit::check_random_bytes(ProtocolId::Redis, &cfg, steps, 13, 500);
}

#[test]
fn a_bad_bulk_length_in_a_reply_never_shifts_pairing() {
    use crate::proto::common::errors::{INVALID_RESPONSE, RESPONSE_TOO_LARGE};
    let mut h = session();
    // Negative length (only -1 is allowed): the reply to `get a`.
    h.data(Dir::ToServer, &cmd(&["get", "a"]), SECOND);
    h.data(Dir::ToClient, b"$-5\r\nhello\r\n", SECOND);
    h.data(Dir::ToServer, &cmd(&["get", "b"]), 2 * SECOND);
    h.data(Dir::ToClient, b"$3\r\nbbb\r\n", 2 * SECOND);
    h.data(Dir::ToServer, &cmd(&["ping"]), 3 * SECOND);
    h.data(Dir::ToClient, b"+PONG\r\n", 3 * SECOND);
    // 2^62: a length no Redis allows, not a loss.
    h.data(Dir::ToServer, &cmd(&["get", "c"]), 4 * SECOND);
    h.data(
        Dir::ToClient,
        b"$4611686018427387904\r\nccc\r\n",
        4 * SECOND,
    );
    h.data(Dir::ToServer, &cmd(&["get", "d"]), 5 * SECOND);
    h.data(Dir::ToClient, b"$1\r\nd\r\n", 5 * SECOND);
    let ev = h.events();
    let got: Vec<(String, String, String)> = ev
        .iter()
        .map(|e| {
            (
                e["method"].as_str().unwrap_or("").to_string(),
                e["redis"]["return_value"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                e["error"]["message"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let s = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
    assert_eq!(
        got,
        vec![
            s("GET", "", INVALID_RESPONSE),
            s("GET", "bbb", ""),
            s("PING", "PONG", ""),
            s("GET", "", RESPONSE_TOO_LARGE),
            s("GET", "d", ""),
        ]
    );
    assert_eq!(ev[0]["status"], "Error");
    assert_eq!(ev[3]["status"], "Error");
    assert_eq!(h.counters.get("redis.too_large"), 1);
}

#[test]
fn complete_replies_before_a_bad_one_in_the_same_segment_pair_first() {
    let mut h = session();
    let mut reqs = cmd(&["ping"]);
    reqs.extend(cmd(&["get", "e"]));
    reqs.extend(cmd(&["get", "f"]));
    h.data(Dir::ToServer, &reqs, SECOND);
    h.data(
        Dir::ToClient,
        b"+PONG\r\n$abc\r\neee\r\n$1\r\nf\r\n",
        SECOND,
    );
    h.data(Dir::ToServer, &cmd(&["ping"]), 2 * SECOND);
    h.data(Dir::ToClient, b"+PONG\r\n", 2 * SECOND);
    let ev = h.events();
    assert_eq!(ev.len(), 4, "{ev:?}");
    assert_eq!(ev[0]["redis"]["return_value"], "PONG");
    assert!(ev[0].get("error").is_none());
    assert_eq!(ev[1]["resource"], "e");
    assert_eq!(
        ev[1]["error"]["message"],
        crate::proto::common::errors::INVALID_RESPONSE
    );
    // `get f`'s reply cannot be told from the bad one's payload: given up.
    assert_eq!(ev[2]["resource"], "f");
    assert!(ev[2]["redis"].get("return_value").is_none());
    assert_eq!(ev[3]["method"], "PING");
    assert_eq!(ev[3]["redis"]["return_value"], "PONG");
}

#[test]
fn a_bad_request_keeps_its_place_so_its_error_reply_pairs_with_it() {
    let mut h = session();
    let mut reqs = cmd(&["ping"]);
    reqs.extend_from_slice(b"*2\r\n$3\r\nGET\r\n$-5\r\nabc\r\n");
    reqs.extend(cmd(&["ping"]));
    h.data(Dir::ToServer, &reqs, SECOND);
    h.data(
        Dir::ToClient,
        b"+PONG\r\n-ERR Protocol error: invalid bulk length\r\n+PONG\r\n",
        SECOND,
    );
    let ev = h.events();
    assert_eq!(ev.len(), 3, "{ev:?}");
    assert_eq!(ev[0]["redis"]["return_value"], "PONG");
    assert_eq!(ev[1]["method"], "GET");
    assert_eq!(
        ev[1]["error"]["message"],
        crate::proto::common::errors::INVALID_REQUEST
    );
    assert_eq!(
        ev[1]["redis"]["error"],
        "ERR Protocol error: invalid bulk length"
    );
    assert_eq!(ev[2]["method"], "PING");
    assert_eq!(ev[2]["redis"]["return_value"], "PONG");
}

#[test]
fn an_unmatched_reply_is_an_event() {
    let mut h = session();
    h.data(Dir::ToClient, b"+SURPRISE\r\n", SECOND);
    h.data(Dir::ToServer, &cmd(&["ping"]), 2 * SECOND);
    h.data(Dir::ToClient, b"+PONG\r\n", 2 * SECOND);
    let ev = h.events();
    assert_eq!(ev.len(), 2);
    assert_eq!(
        ev[0]["error"]["message"],
        crate::proto::common::errors::UNMATCHED_RESPONSE
    );
    assert_eq!(ev[0]["status"], "Error");
    assert_eq!(ev[0]["redis"]["return_value"], "SURPRISE");
    assert_eq!(ev[1]["redis"]["return_value"], "PONG");
    assert_eq!(h.counters.get("redis.unmatched_responses"), 1);
}

#[test]
fn a_first_reply_that_is_not_resp_rejects_the_flow() {
    use crate::proto::Session;
    let mut h = session();
    h.data(Dir::ToServer, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", SECOND);
    h.data(Dir::ToClient, b"HTTP/1.1 400 Bad Request\r\n\r\n", SECOND);
    assert!(h.session.rejected());
    let mut h = session();
    h.data(Dir::ToServer, &cmd(&["ping"]), SECOND);
    h.data(Dir::ToClient, b"+PONG\r\n", SECOND);
    h.data(Dir::ToClient, b"HTTP/1.1 400 Bad Request\r\n\r\n", SECOND);
    assert!(!h.session.rejected(), "Redis was seen");
}
