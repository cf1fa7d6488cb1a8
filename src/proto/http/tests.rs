//! Session tests: pairing, streaming splits, losses, bounds and event fields.

use super::session::errors;
use super::*;
use crate::event::{EventBatch, FlowContext, Transport};
use crate::proto::{Dir, Session, TxSink};
use crate::stats::Counters;
use crate::time::{Timestamp, SECOND};
use serde_json::Value;
use std::sync::Arc;

struct Harness {
    flow: FlowContext,
    batch: EventBatch,
    counters: Counters,
    session: HttpSession,
}

impl Harness {
    fn new(cfg: HttpConfig) -> Self {
        Harness {
            flow: FlowContext::new(
                7,
                ("192.168.1.104".parse().unwrap(), 54742),
                ("192.168.1.110".parse().unwrap(), 80),
                Transport::Tcp,
                "1:x".into(),
            ),
            batch: EventBatch::default(),
            counters: Counters::new(),
            session: HttpSession::new(Arc::new(cfg)),
        }
    }

    fn sink(&mut self) -> (TxSink<'_>, &mut HttpSession) {
        (
            TxSink {
                flow: &mut self.flow,
                events: &mut self.batch,
                counters: &mut self.counters,
            },
            &mut self.session,
        )
    }

    fn data(&mut self, dir: Dir, bytes: &[u8], ts: Timestamp) {
        let (mut sink, s) = self.sink();
        s.data(dir, bytes, ts, &mut sink);
    }

    fn req(&mut self, bytes: &[u8], ts: Timestamp) {
        self.data(Dir::ToServer, bytes, ts);
    }

    fn resp(&mut self, bytes: &[u8], ts: Timestamp) {
        self.data(Dir::ToClient, bytes, ts);
    }

    fn gap(&mut self, dir: Dir, len: u64, ts: Timestamp) {
        let (mut sink, s) = self.sink();
        s.gap(dir, len, ts, &mut sink);
    }

    fn end(&mut self, dir: Dir, ts: Timestamp) {
        let (mut sink, s) = self.sink();
        s.end(dir, ts, &mut sink);
    }

    fn tick(&mut self, ts: Timestamp) {
        let (mut sink, s) = self.sink();
        s.tick(ts, &mut sink);
    }

    fn close(&mut self, ts: Timestamp) {
        let (mut sink, s) = self.sink();
        s.close(ts, &mut sink);
    }

    fn events(&self) -> Vec<Value> {
        (0..self.batch.len())
            .map(|i| serde_json::from_slice(self.batch.json(i)).expect("valid JSON"))
            .collect()
    }
}

const T0: Timestamp = 1_700_000_000 * SECOND;

/// A keep-alive GET and its 200 with a 5-byte body.
const GET: &[u8] = concat!(
    "GET /index.html?b=2&a=1 HTTP/1.1\r\n", // request line with a query
    "Host: www.example.com\r\n",            // url.domain
    "User-Agent: test/1.0\r\n",             // user_agent.original
    "Referer: http://x/\r\n",               // http.request.referrer
    "\r\n",                                 // end of head, no body
)
.as_bytes();

const OK5: &[u8] = concat!(
    "HTTP/1.1 200 OK\r\n",                         // status line
    "Content-Type: text/plain; charset=utf-8\r\n", // mime_type text/plain
    "Content-Length: 5\r\n",                       // body framing
    "\r\n",                                        // end of head
    "hello",                                       // body
)
.as_bytes();

#[test]
fn get_and_response_make_one_event_with_all_fields() {
    let mut h = Harness::new(HttpConfig::default());
    h.req(GET, T0);
    h.resp(OK5, T0 + 3_000_000);
    let ev = h.events();
    assert_eq!(ev.len(), 1);
    let e = &ev[0];
    assert_eq!(e["type"], "http");
    assert_eq!(e["status"], "OK");
    assert_eq!(e["http"]["version"], "1.1");
    assert_eq!(e["http"]["request"]["method"], "GET");
    assert_eq!(e["http"]["request"]["bytes"], GET.len());
    assert_eq!(e["http"]["request"]["body"]["bytes"], 0);
    assert_eq!(e["http"]["request"]["referrer"], "http://x/");
    assert_eq!(e["http"]["response"]["status_code"], 200);
    assert_eq!(e["http"]["response"]["status_phrase"], "ok");
    assert_eq!(e["http"]["response"]["bytes"], OK5.len());
    assert_eq!(e["http"]["response"]["body"]["bytes"], 5);
    assert_eq!(e["http"]["response"]["mime_type"], "text/plain");
    assert_eq!(e["url"]["domain"], "www.example.com");
    assert_eq!(e["url"]["path"], "/index.html");
    assert_eq!(e["url"]["query"], "a=1&b=2");
    assert_eq!(
        e["url"]["full"],
        "http://www.example.com/index.html?a=1&b=2"
    );
    assert_eq!(e["user_agent"]["original"], "test/1.0");
    assert_eq!(e["method"], "GET");
    assert_eq!(e["query"], "GET /index.html");
    assert_eq!(e["path"], "/index.html");
    assert_eq!(e["source"]["bytes"], GET.len());
    assert_eq!(e["destination"]["bytes"], OK5.len());
    assert_eq!(e["event"]["duration"], 3_000_000);
    assert_eq!(e["transaction"]["wait_us"], 3_000);
    assert!(e.get("error").is_none());
}

/// Three pipelined requests (one HEAD, one POST with a body) and their responses.
fn pipelined() -> (Vec<u8>, Vec<u8>) {
    let reqs = [
        &b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n"[..],
        b"HEAD /b HTTP/1.1\r\nHost: h\r\n\r\n",
        b"POST /c HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nbody",
        b"GET /d HTTP/1.1\r\nHost: h\r\n\r\n",
    ]
    .concat();
    let resps = [
        &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", // HEAD: no body
        b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n",
    ]
    .concat();
    (reqs, resps)
}

fn summary(ev: &[Value]) -> Vec<String> {
    ev.iter()
        .map(|e| {
            format!(
                "{} {} {} {} {} {} {}",
                e["status"],
                e["method"],
                e["path"],
                e["http"]["response"]["status_code"],
                e["source"]["bytes"],
                e["destination"]["bytes"],
                e["http"]["response"]["body"]["bytes"],
            )
        })
        .collect()
}

#[test]
fn pipelined_responses_pair_in_order_with_head_and_304_bodiless() {
    let (reqs, resps) = pipelined();
    let mut h = Harness::new(HttpConfig::default());
    h.req(&reqs, T0);
    assert_eq!(h.session.in_flight(), 4);
    h.resp(&resps, T0 + 1);
    let ev = h.events();
    let s = summary(&ev);
    assert_eq!(s.len(), 4, "{s:?}");
    assert!(s[0].starts_with("\"OK\" \"GET\" \"/a\" 200"), "{}", s[0]);
    assert!(s[0].ends_with(" 3"), "chunk data bytes: {}", s[0]);
    assert!(s[1].starts_with("\"OK\" \"HEAD\" \"/b\" 200"), "{}", s[1]);
    assert!(s[1].ends_with(" 0"), "HEAD response has no body: {}", s[1]);
    assert_eq!(ev[2]["http"]["request"]["body"]["bytes"], 4);
    assert_eq!(ev[2]["http"]["response"]["status_code"], 201);
    assert_eq!(ev[3]["http"]["response"]["status_code"], 304);
    assert_eq!(ev[3]["http"]["response"]["body"]["bytes"], 0);
    assert_eq!(h.session.in_flight(), 0);
    assert_eq!(h.counters.get("http.parse_errors"), 0);
}

#[test]
fn every_split_of_a_pipelined_exchange_gives_the_same_transactions() {
    let (reqs, resps) = pipelined();
    let mut whole = Harness::new(HttpConfig::default());
    whole.req(&reqs, T0);
    whole.resp(&resps, T0);
    let expected = whole.events();
    assert_eq!(expected.len(), 4);
    for i in 0..=reqs.len() {
        let mut h = Harness::new(HttpConfig::default());
        h.req(&reqs[..i], T0);
        h.req(&reqs[i..], T0);
        h.resp(&resps, T0);
        assert_eq!(h.events(), expected, "request split at {i}");
    }
    for j in 0..=resps.len() {
        let mut h = Harness::new(HttpConfig::default());
        h.req(&reqs, T0);
        h.resp(&resps[..j], T0);
        h.resp(&resps[j..], T0);
        assert_eq!(h.events(), expected, "response split at {j}");
    }
}

#[test]
fn byte_by_byte_delivery_gives_the_same_transactions() {
    let (reqs, resps) = pipelined();
    let mut whole = Harness::new(HttpConfig::default());
    whole.req(&reqs, T0);
    whole.resp(&resps, T0);
    let mut h = Harness::new(HttpConfig::default());
    for b in reqs.chunks(1) {
        h.req(b, T0);
    }
    for b in resps.chunks(1) {
        h.resp(b, T0);
    }
    assert_eq!(h.events(), whole.events());
}

#[test]
fn every_prefix_of_an_exchange_is_incomplete_never_an_error() {
    let (reqs, resps) = pipelined();
    for cut in 0..resps.len() {
        let mut h = Harness::new(HttpConfig::default());
        h.req(&reqs, T0);
        h.resp(&resps[..cut], T0);
        let n = h.events().len();
        assert!(n < 4, "prefix {cut} completed everything");
        assert!(
            h.events().iter().all(|e| e["status"] == "OK"),
            "prefix {cut}"
        );
        for c in [
            "http.parse_errors",
            "http.not_http",
            "http.unmatched_responses",
        ] {
            assert_eq!(h.counters.get(c), 0, "{c} at prefix {cut}");
        }
    }
    for cut in 0..reqs.len() {
        let mut h = Harness::new(HttpConfig::default());
        h.req(&reqs[..cut], T0);
        assert!(h.events().is_empty());
        assert_eq!(h.counters.get("http.parse_errors"), 0, "prefix {cut}");
        assert_eq!(h.counters.get("http.not_http"), 0, "prefix {cut}");
    }
}

#[test]
fn expect_100_continue_is_one_transaction() {
    let mut h = Harness::new(HttpConfig::default());
    let head =
        b"POST /doc HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n";
    let interim = b"HTTP/1.1 100 Continue\r\n\r\n";
    let fin = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    h.req(head, T0);
    h.resp(interim, T0 + 1000);
    assert!(h.events().is_empty(), "the interim 100 is not the answer");
    h.req(b"abc", T0 + 2000);
    h.resp(fin, T0 + 3000);
    let ev = h.events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["http"]["response"]["status_code"], 200);
    assert_eq!(ev[0]["http"]["request"]["body"]["bytes"], 3);
    assert_eq!(ev[0]["destination"]["bytes"], interim.len() + fin.len());
    assert!(ev[0].get("error").is_none());
    assert_eq!(h.counters.get("http.interim_responses"), 1);
}

#[test]
fn close_delimited_http10_response_ends_with_the_direction() {
    let mut h = Harness::new(HttpConfig::default());
    h.req(b"GET /api HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n\r\n", T0);
    h.resp(
        b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n",
        T0 + 1,
    );
    h.resp(&[b'x'; 700], T0 + 2);
    h.resp(&[b'y'; 300], T0 + 3);
    assert!(h.events().is_empty(), "body ends only at the close");
    h.end(Dir::ToClient, T0 + 4);
    let ev = h.events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["http"]["version"], "1.1");
    assert_eq!(ev[0]["http"]["response"]["body"]["bytes"], 1000);
    assert_eq!(ev[0]["url"]["port"], 8000);
    assert_eq!(ev[0]["url"]["full"], "http://127.0.0.1:8000/api");
    assert_eq!(ev[0]["event"]["end"], crate::time::rfc3339(T0 + 3));
}

#[test]
fn gap_inside_a_body_keeps_the_transaction_and_the_next_one() {
    let mut h = Harness::new(HttpConfig::default());
    h.req(
        b"GET /big HTTP/1.1\r\nHost: h\r\n\r\nGET /next HTTP/1.1\r\nHost: h\r\n\r\n",
        T0,
    );
    h.resp(b"HTTP/1.1 200 OK\r\nContent-Length: 3000\r\n\r\n", T0);
    h.resp(&[0; 1000], T0);
    h.gap(Dir::ToClient, 1460, T0);
    h.resp(&[0; 540], T0);
    h.resp(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", T0);
    let ev = h.events();
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0]["status"], "OK");
    assert_eq!(ev[0]["error"]["message"], errors::LOSS_RESPONSE);
    assert_eq!(ev[0]["http"]["response"]["body"]["bytes"], 3000);
    assert_eq!(ev[1]["path"], "/next");
    assert_eq!(ev[1]["status"], "Error");
    assert!(ev[1].get("error").is_none());
}

#[test]
fn gap_in_a_request_body_marks_the_request() {
    let mut h = Harness::new(HttpConfig::default());
    h.req(
        b"POST /up HTTP/1.1\r\nContent-Length: 100\r\n\r\n0123456789",
        T0,
    );
    h.gap(Dir::ToServer, 90, T0);
    h.req(b"GET /after HTTP/1.1\r\n\r\n", T0);
    h.resp(
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        T0,
    );
    let ev = h.events();
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0]["error"]["message"], errors::LOSS_REQUEST);
    assert_eq!(ev[0]["http"]["request"]["body"]["bytes"], 100);
    assert_eq!(ev[1]["path"], "/after");
}

#[test]
fn gap_in_a_head_resyncs_at_the_next_request_line() {
    let mut h = Harness::new(HttpConfig::default());
    h.req(b"GET /lost HTTP/1.1\r\nHost: h\r\nUser-Ag", T0);
    h.gap(Dir::ToServer, 500, T0);
    // The rest of some header, a body fragment, then a real request.
    h.req(
        b"ent: x\r\n\r\nnoise noise\r\nGET /found HTTP/1.1\r\nHost: h\r\n\r\n",
        T0,
    );
    assert_eq!(h.session.in_flight(), 1);
    assert_eq!(h.counters.get("http.lost_heads"), 1);
    h.resp(OK5, T0);
    let ev = h.events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["path"], "/found");
}

#[test]
fn resync_works_when_the_start_line_arrives_in_pieces() {
    let tail = b"ent: x\r\n\r\nnoise noise\r\nGET /found HTTP/1.1\r\nHost: h\r\n\r\n";
    let mut h = Harness::new(HttpConfig::default());
    h.req(b"GET /lost HTTP/1.1\r\nUser-Ag", T0);
    h.gap(Dir::ToServer, 500, T0);
    for b in tail.chunks(1) {
        h.req(b, T0);
    }
    h.resp(OK5, T0);
    let ev = h.events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["path"], "/found");
}

#[test]
fn gap_in_a_response_head_gives_up_the_oldest_request_and_keeps_pairing() {
    let mut h = Harness::new(HttpConfig::default());
    h.req(b"GET /one HTTP/1.1\r\n\r\nGET /two HTTP/1.1\r\n\r\n", T0);
    h.resp(b"HTTP/1.1 200 O", T0);
    h.gap(Dir::ToClient, 200, T0);
    h.resp(
        b"tail of body\r\nHTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n",
        T0,
    );
    let ev = h.events();
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0]["path"], "/one");
    assert_eq!(ev[0]["error"]["message"], errors::LOSS_RESPONSE);
    assert!(ev[0]["http"].get("response").is_none());
    assert_eq!(ev[1]["path"], "/two");
    assert_eq!(ev[1]["http"]["response"]["status_code"], 500);
}

#[test]
fn response_without_request_is_unmatched() {
    let mut h = Harness::new(HttpConfig::default());
    h.resp(
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nno!",
        T0,
    );
    h.req(b"GET /x HTTP/1.1\r\nContent-Length: 0\r\n\r\n", T0 + 1);
    h.resp(OK5, T0 + 2);
    let ev = h.events();
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0]["status"], "Error");
    assert_eq!(ev[0]["error"]["message"], "Unmatched response");
    assert_eq!(ev[0]["http"]["response"]["status_code"], 404);
    assert!(ev[0].get("url").is_none());
    assert_eq!(ev[1]["status"], "OK");
    assert_eq!(h.counters.get("http.unmatched_responses"), 1);
}

#[test]
fn request_without_response_times_out_on_packet_time() {
    let mut h = Harness::new(HttpConfig {
        transaction_timeout: crate::time::HumanDuration::secs(1),
        ..HttpConfig::default()
    });
    h.req(b"GET /something HTTP/1.1\r\nHost: h\r\n\r\n", T0);
    h.tick(T0 + SECOND / 2);
    assert!(h.events().is_empty());
    h.tick(T0 + SECOND);
    let ev = h.events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["status"], "Error");
    assert_eq!(ev[0]["error"]["message"], "Unmatched request");
    assert_eq!(ev[0]["query"], "GET /something");
    h.close(T0 + 5 * SECOND);
    assert_eq!(h.events().len(), 1, "nothing is reported twice");
}

#[test]
fn a_response_in_progress_protects_its_request_from_the_timeout() {
    let mut h = Harness::new(HttpConfig::default());
    h.req(GET, T0);
    h.resp(
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345",
        T0 + SECOND,
    );
    h.tick(T0 + 60 * SECOND);
    assert!(h.events().is_empty());
    h.resp(b"67890", T0 + 61 * SECOND);
    assert_eq!(h.events()[0]["status"], "OK");
}

#[test]
fn unanswered_request_is_reported_at_close() {
    let mut h = Harness::new(HttpConfig::default());
    h.req(GET, T0);
    h.close(T0 + 1);
    let ev = h.events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["error"]["message"], "Unmatched request");
}

#[test]
fn oversized_message_body_is_skipped_but_counted() {
    let mut h = Harness::new(HttpConfig {
        include_body_for: vec!["text/plain".into()],
        max_message_size: 1024,
        ..HttpConfig::default()
    });
    h.req(GET, T0);
    h.resp(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2000\r\n\r\n",
        T0,
    );
    h.resp(&[b'a'; 2000], T0);
    let ev = h.events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["http"]["response"]["body"]["bytes"], 2000);
    assert!(ev[0]["http"]["response"]["body"].get("content").is_none());
    assert_eq!(h.counters.get("http.messages_over_max_size"), 1);
    // Below the bound the body is included.
    let mut h = Harness::new(HttpConfig {
        include_body_for: vec!["TEXT/plain".into()],
        ..HttpConfig::default()
    });
    h.req(GET, T0);
    h.resp(OK5, T0);
    assert_eq!(
        h.events()[0]["http"]["response"]["body"]["content"],
        "hello"
    );
}

#[test]
fn requests_beyond_max_in_flight_are_counted_and_pairing_stays_aligned() {
    let mut h = Harness::new(HttpConfig {
        max_in_flight: 2,
        ..HttpConfig::default()
    });
    for p in ["/1", "/2", "/3", "/4"] {
        h.req(format!("GET {p} HTTP/1.1\r\n\r\n").as_bytes(), T0);
    }
    assert_eq!(h.session.in_flight(), 2);
    assert_eq!(h.counters.get("http.in_flight_overflow"), 2);
    for code in [200, 201, 202, 203] {
        h.resp(
            format!("HTTP/1.1 {code} X\r\nContent-Length: 0\r\n\r\n").as_bytes(),
            T0,
        );
    }
    let ev = h.events();
    assert_eq!(ev.len(), 4);
    assert_eq!(ev[0]["path"], "/1");
    assert_eq!(ev[1]["path"], "/2");
    assert_eq!(ev[1]["http"]["response"]["status_code"], 201);
    assert_eq!(ev[2]["error"]["message"], errors::UNTRACKED_REQUEST);
    assert_eq!(ev[3]["http"]["response"]["status_code"], 203);
    // The queue drained: the next request is tracked again.
    h.req(b"GET /5 HTTP/1.1\r\n\r\n", T0);
    h.resp(OK5, T0);
    assert_eq!(h.events()[4]["path"], "/5");
}

#[test]
fn head_over_the_bound_is_an_error_event_and_parsing_goes_on() {
    let mut h = Harness::new(HttpConfig {
        max_head_bytes: 256,
        ..HttpConfig::default()
    });
    let mut big = b"GET /huge HTTP/1.1\r\n".to_vec();
    for i in 0..40 {
        big.extend_from_slice(format!("X-Filler-{i}: 0123456789\r\n").as_bytes());
    }
    big.extend_from_slice(b"\r\nGET /small HTTP/1.1\r\n\r\n");
    h.req(&big, T0);
    h.resp(b"HTTP/1.1 431 Too Large\r\nContent-Length: 0\r\n\r\n", T0);
    h.resp(OK5, T0);
    let ev = h.events();
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0]["error"]["message"], errors::REQUEST_HEAD_TOO_LARGE);
    assert_eq!(ev[0]["path"], "/huge");
    assert_eq!(ev[0]["status"], "Error");
    assert_eq!(ev[1]["path"], "/small");
    assert_eq!(h.counters.get("http.head_too_large"), 1);
}

#[test]
fn switching_protocols_ends_http_parsing() {
    let mut h = Harness::new(HttpConfig::default());
    h.req(
        b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        T0,
    );
    h.resp(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello",
        T0,
    );
    h.req(b"\x81\x85binaryframe GET / HTTP/1.1\r\n\r\n", T0);
    h.close(T0);
    let ev = h.events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["http"]["response"]["status_code"], 101);
    assert_eq!(h.counters.get("http.upgrades"), 1);
    assert!(h.counters.get("http.upgraded_bytes") > 0);
}

#[test]
fn forms_auth_and_proxies_fields() {
    let mut h = Harness::new(HttpConfig {
        hide_keywords: vec!["pass".into(), "password".into()],
        real_ip_header: Some("X-Forwarded-For".into()),
        send_headers: vec![
            "authorization".into(),
            "content-type".into(),
            "Content-Length".into(),
        ],
        include_body_for: vec!["urlencoded".into()],
        ..HttpConfig::default()
    });
    let body = b"user=monica&pass=secret";
    let head = format!(
        concat!(
            "POST /login HTTP/1.1\r\n",
            "Host: example.com:8080\r\n",
            "Authorization: Basic c2ltcGxlc2ltb246cGllbWFu\r\n", // simplesimon:pieman
            "X-Forwarded-For: 89.247.39.104, 10.1.2.3\r\n",
            "Content-Type: application/x-www-form-urlencoded\r\n",
            "Content-Length: {}\r\n\r\n"
        ),
        body.len()
    );
    h.req(head.as_bytes(), T0);
    h.req(body, T0);
    h.resp(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", T0);
    let ev = h.events();
    assert_eq!(ev.len(), 1);
    let e = &ev[0];
    assert_eq!(e["url"]["query"], "pass=xxxxx&user=monica");
    assert_eq!(e["url"]["port"], 8080);
    assert_eq!(
        e["url"]["full"],
        "http://example.com:8080/login?pass=xxxxx&user=monica"
    );
    assert_eq!(e["user"]["name"], "simplesimon");
    assert_eq!(e["http"]["request"]["headers"]["authorization"], "*");
    assert_eq!(
        e["http"]["request"]["headers"]["content-length"],
        body.len()
    );
    assert_eq!(e["client"]["ip"], "89.247.39.104");
    assert_eq!(e["source"]["ip"], "192.168.1.104");
    assert_eq!(e["network"]["forwarded_ip"], "89.247.39.104");
    assert_eq!(
        e["http"]["request"]["body"]["content"],
        "pass=xxxxx&user=monica"
    );
    assert_eq!(e["status"], "Error");
    let text = String::from_utf8_lossy(h.batch.json(0)).to_string();
    assert!(!text.contains("secret"), "{text}");
    assert!(!text.contains("c2ltcGxl"), "{text}");
}

#[test]
fn repeated_headers_are_joined_once() {
    let mut h = Harness::new(HttpConfig {
        send_all_headers: true,
        redact_authorization: false,
        ..HttpConfig::default()
    });
    h.req(
        b"GET / HTTP/1.1\r\nAccept: a\r\nACCEPT: b\r\nAuthorization: Bearer t\r\n\r\n",
        T0,
    );
    h.resp(OK5, T0);
    let e = &h.events()[0];
    assert_eq!(e["http"]["request"]["headers"]["accept"], "a, b");
    assert_eq!(e["http"]["request"]["headers"]["authorization"], "Bearer t");
    assert_eq!(e["http"]["response"]["headers"]["content-length"], 5);
    assert_eq!(
        e["url"]["domain"], "192.168.1.110",
        "no Host: the server address"
    );
}

#[test]
fn non_http_bytes_are_skipped_not_reported() {
    let mut h = Harness::new(HttpConfig::default());
    h.req(
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 binary junk\n more junk\n",
        T0,
    );
    h.resp(b"\x16\x03\x03 more binary\n", T0);
    h.close(T0);
    assert!(h.events().is_empty());
    assert_eq!(h.counters.get("http.not_http"), 2);
}

#[test]
fn chunked_request_with_trailers_then_keep_alive() {
    let mut h = Harness::new(HttpConfig::default());
    let req = concat!(
        "PUT /f HTTP/1.1\r\n",
        "Transfer-Encoding: chunked\r\n",
        "\r\n",
        "4\r\nWiki\r\n",       // chunk 1
        "A\r\n0123456789\r\n", // chunk 2, hex size
        "0\r\n",               // last chunk
        "Checksum: 1\r\n",     // trailer
        "\r\n",                // end
        "GET /g HTTP/1.1\r\n\r\n"
    );
    h.req(req.as_bytes(), T0);
    assert_eq!(h.session.in_flight(), 2);
    h.resp(
        b"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        T0,
    );
    let ev = h.events();
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0]["http"]["request"]["body"]["bytes"], 14);
    assert_eq!(ev[0]["http"]["response"]["status_code"], 204);
    assert_eq!(ev[1]["path"], "/g");
}

/// xorshift64*: a reproducible stream of pseudo-random bytes.
fn rng(seed: &mut u64) -> u64 {
    *seed ^= *seed >> 12;
    *seed ^= *seed << 25;
    *seed ^= *seed >> 27;
    seed.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

#[test]
fn fuzz_harness_on_pseudo_random_inputs() {
    let (reqs, resps) = pipelined();
    let seeds: Vec<&[u8]> = vec![&reqs, &resps, GET, OK5];
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..3000 {
        let len = (rng(&mut seed) % 400) as usize;
        let mut input = Vec::with_capacity(len);
        while input.len() < len {
            let r = rng(&mut seed);
            if r % 4 == 0 {
                // Splice in a piece of a real message so the parser gets deep.
                let s = seeds[(r >> 8) as usize % seeds.len()];
                let a = (r >> 16) as usize % s.len();
                let b = (a + (r >> 32) as usize % 64).min(s.len());
                input.extend_from_slice(&s[a..b]);
            } else {
                input.push((r >> 24) as u8);
            }
        }
        fuzz_one(&input);
    }
}

/// Privacy by default: the usual password and token parameter names are
/// masked in the query, the form body and `url.full`, and so is the
/// Authorization header, with no configuration; `hide_keywords` adds names;
/// `mask_passwords = false` and `redact_authorization = false` show them.
#[test]
fn passwords_and_authorization_are_masked_by_default() {
    let run = |cfg: HttpConfig| {
        let mut h = Harness::new(HttpConfig {
            send_all_headers: true,
            include_body_for: vec!["urlencoded".into()],
            ..cfg
        });
        let body = b"user=ann&Password=hunter2&api_key=k123&pin=4711";
        let head = format!(
            "POST /login?token=t0k&pwd=p1&passwd=p2&pass=p3&secret=s3&q=ok HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer sEcReT-bearer\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        h.req(head.as_bytes(), T0);
        h.req(body, T0);
        h.resp(OK5, T0);
        let ev = h.events();
        assert_eq!(ev.len(), 1);
        (
            ev[0].clone(),
            String::from_utf8_lossy(h.batch.json(0)).to_string(),
        )
    };
    let (e, text) = run(HttpConfig {
        hide_keywords: vec!["PIN".into()],
        ..HttpConfig::default()
    });
    for secret in [
        "hunter2",
        "k123",
        "t0k",
        "p1",
        "p2",
        "p3",
        "s3",
        "4711",
        "sEcReT-bearer",
    ] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    assert_eq!(
        e["url"]["query"],
        "Password=xxxxx&api_key=xxxxx&pass=xxxxx&passwd=xxxxx&pin=xxxxx&pwd=xxxxx&q=ok&secret=xxxxx&token=xxxxx&user=ann"
    );
    assert_eq!(e["http"]["request"]["headers"]["authorization"], "*");
    assert!(e["url"]["full"].as_str().unwrap().contains("token=xxxxx"));
    let (_, shown) = run(HttpConfig {
        mask_passwords: false,
        redact_authorization: false,
        ..HttpConfig::default()
    });
    for secret in ["hunter2", "k123", "t0k", "sEcReT-bearer", "4711"] {
        assert!(
            shown.contains(secret),
            "{secret} hidden although masking is off"
        );
    }
}

#[test]
fn the_test_kits_generic_checks_pass_on_a_post_and_a_chunked_response() {
    use crate::proto::{testkit, ProtocolId, ProtocolsConfig};
    let cfg = ProtocolsConfig::default();
    let steps: &[(Dir, &[u8])] = &[
        (
            Dir::ToServer,
            b"POST /login HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 17\r\n\r\nuser=a&password=b",
        ),
        (
            Dir::ToClient,
            b"HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nno no\r\n0\r\n\r\n",
        ),
        (Dir::ToServer, b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n"),
        (Dir::ToClient, b"HTTP/1.1 204 No Content\r\n\r\n"),
    ];
    testkit::check_every_prefix(ProtocolId::Http, &cfg, steps);
    testkit::check_every_split(ProtocolId::Http, &cfg, steps);
    testkit::check_random_bytes(ProtocolId::Http, &cfg, steps, 17, 500);
}

/// RFC 9112 §3.2.3/§3.2.4: `OPTIONS *` (asterisk-form) means the server as a
/// whole, `CONNECT host:port` (authority-form) names only a host and port;
/// neither has a path, so `url.full` is the authority alone.
#[test]
fn options_asterisk_and_connect_authority_url_full_follow_rfc_9112() {
    let run = |req: &[u8]| {
        let mut h = Harness::new(HttpConfig::default());
        h.req(req, T0);
        h.resp(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", T0 + 1_000);
        let ev = h.events();
        assert_eq!(ev.len(), 1, "{ev:?}");
        ev[0]["url"].clone()
    };
    let u = run(b"OPTIONS * HTTP/1.1\r\nHost: www.example.com\r\n\r\n");
    assert_eq!(u["full"], "http://www.example.com", "{u}");
    assert_eq!(u["domain"], "www.example.com", "{u}");
    let u = run(b"CONNECT proxy.example.com:8443 HTTP/1.1\r\nHost: proxy.example.com:8443\r\n\r\n");
    assert_eq!(u["full"], "http://proxy.example.com:8443", "{u}");
    assert_eq!(u["domain"], "proxy.example.com", "{u}");
    assert_eq!(u["port"], 8443, "{u}");
    let u = run(b"CONNECT [2001:db8::1]:443 HTTP/1.1\r\n\r\n");
    assert_eq!(u["full"], "http://[2001:db8::1]:443", "{u}");
}

#[test]
fn after_an_oversized_response_head_the_next_response_pairs() {
    let mut h = Harness::new(HttpConfig {
        max_head_bytes: 256,
        ..HttpConfig::default()
    });
    h.req(b"GET /big HTTP/1.1\r\nHost: h\r\n\r\n", T0);
    let mut big = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..200 {
        big.extend_from_slice(format!("X-Filler-{i}: 0123456789\r\n").as_bytes());
    }
    // The body has no line end: skipping it by lines would eat the next
    // status line.
    big.extend_from_slice(b"Content-Length: 10\r\n\r\n0123456789");
    for piece in big.chunks(100) {
        h.resp(piece, T0 + 1000);
    }
    h.req(b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n", T0 + 2000);
    h.resp(OK5, T0 + 3000);
    h.close(T0 + 4000);
    let ev = h.events();
    assert_eq!(ev.len(), 2, "{ev:?}");
    assert_eq!(ev[0]["url"]["path"], "/big");
    assert_eq!(ev[0]["error"]["message"], errors::RESPONSE_HEAD_TOO_LARGE);
    assert_eq!(ev[0]["http"]["response"]["status_code"], 200);
    assert_eq!(ev[0]["destination"]["bytes"], big.len());
    assert_eq!(ev[1]["url"]["path"], "/next");
    assert!(ev[1].get("error").is_none(), "{}", ev[1]);
    assert_eq!(h.counters.get("http.head_too_large"), 1);
    assert_eq!(h.counters.get("http.unmatched_requests"), 0);
}

#[test]
fn an_unparsable_content_length_is_an_error_and_the_next_request_is_found() {
    let mut h = Harness::new(HttpConfig::default());
    h.req(
        b"POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\nabcGET /after HTTP/1.1\r\nHost: h\r\n\r\n",
        T0,
    );
    h.resp(
        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
        T0 + 10,
    );
    h.resp(OK5, T0 + 20);
    let ev = h.events();
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0]["method"], "POST");
    assert_eq!(ev[0]["error"]["message"], errors::BAD_REQUEST_BODY);
    assert_eq!(ev[1]["method"], "GET");
    assert_eq!(ev[1]["url"]["path"], "/after");
}

#[test]
fn a_malformed_request_line_keeps_its_method_and_its_answer() {
    let mut h = Harness::new(HttpConfig::default());
    h.req(b"GET /bad\x01target HTTP/1.1\r\nHost: h\r\n\r\n", T0);
    h.resp(
        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
        T0 + 10,
    );
    h.req(b"GET /good HTTP/1.1\r\nHost: h\r\n\r\n", T0 + 20);
    h.resp(OK5, T0 + 30);
    let ev = h.events();
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0]["method"], "GET");
    assert_eq!(ev[0]["error"]["message"], errors::BAD_REQUEST_HEAD);
    assert_eq!(ev[0]["http"]["response"]["status_code"], 400);
    assert_eq!(ev[1]["url"]["path"], "/good");
    assert_eq!(ev[1]["http"]["response"]["status_code"], 200);
}

#[test]
fn early_final_response_waits_for_the_request_body_and_counts_it() {
    let mut h = Harness::new(HttpConfig::default());
    let head =
        b"POST /up HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 27000\r\n\r\n";
    h.req(head, T0);
    h.resp(
        b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n",
        T0 + 10,
    );
    assert!(h.events().is_empty(), "waits for the body");
    for piece in vec![b'x'; 27000].chunks(1448) {
        h.req(piece, T0 + 20);
    }
    h.req(b"GET /after HTTP/1.1\r\nHost: h\r\n\r\n", T0 + 30);
    h.resp(OK5, T0 + 40);
    let ev = h.events();
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0]["http"]["response"]["status_code"], 401);
    assert_eq!(ev[0]["http"]["request"]["body"]["bytes"], 27000);
    assert_eq!(ev[0]["source"]["bytes"], head.len() + 27000);
    assert_eq!(ev[1]["url"]["path"], "/after");
}

#[test]
fn early_final_response_without_the_body_is_reported_at_close() {
    let mut h = Harness::new(HttpConfig::default());
    h.req(
        b"POST /up HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 50\r\n\r\n",
        T0,
    );
    h.resp(
        b"HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\n\r\n",
        T0 + 10,
    );
    h.req(b"0123456789", T0 + 20);
    h.close(T0 + 30);
    let ev = h.events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["http"]["response"]["status_code"], 417);
    assert_eq!(ev[0]["http"]["request"]["body"]["bytes"], 10);
}

#[test]
fn bytes_that_are_not_http_from_the_start_reject_the_flow() {
    let mut h = Harness::new(HttpConfig::default());
    h.req(b"\x00\x00\x00\x08\x04\xd2\x16\x2f", T0);
    assert!(h.session.rejected());
    let mut h = Harness::new(HttpConfig::default());
    h.resp(b"J\x00\x00\x00\x0a5.5.5-10.11.6-MariaDB\x00", T0);
    assert!(h.session.rejected(), "server-first protocols too");
    // After a gap (picked up mid-stream, loss) it is no verdict.
    let mut h = Harness::new(HttpConfig::default());
    h.gap(Dir::ToServer, 100, T0);
    h.req(b"\x00\x01binary\n", T0);
    assert!(!h.session.rejected());
    // Nor once HTTP was seen.
    let mut h = Harness::new(HttpConfig::default());
    h.req(GET, T0);
    h.resp(b"\x00\x01binary\n", T0);
    assert!(!h.session.rejected());
}

#[test]
fn repeated_exchanges_copy_their_fields_only_when_nothing_they_show_differs() {
    // Each exchange changes one thing the HTTP fields are written from
    // (or nothing: then the previous event's fields are copied); on one
    // keep-alive connection every event's fields must be those of the
    // same exchange alone on a fresh connection.
    let ok = |status: &str, ct: &str, body: &str| {
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: {ct}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let get = |target: &str, extra: &str| {
        format!("GET {target} HTTP/1.1\r\nHost: www.example.com\r\n{extra}\r\n")
    };
    let base = (get("/a.txt?q=1", ""), ok("200 OK", "text/plain", "hello"));
    let exchanges = [
        base.clone(),
        base.clone(),
        (get("/a.txt?q=1", "User-Agent: x/1\r\n"), base.1.clone()),
        (get("/a.txt?q=1", "User-Agent: x/2\r\n"), base.1.clone()),
        (get("/a.txt?q=2", "User-Agent: x/2\r\n"), base.1.clone()),
        (get("/a.txt?q=2", "User-Agent: x/2\r\n"), base.1.clone()),
        (get("/b.txt?q=2", "User-Agent: x/2\r\n"), base.1.clone()),
        (get("/a.txt?q=1", "Referer: http://r/\r\n"), base.1.clone()),
        (
            get("/a.txt?q=1", "Authorization: Basic dTpw\r\n"),
            base.1.clone(),
        ),
        (base.0.clone(), ok("200 Fine", "text/plain", "hello")),
        (base.0.clone(), ok("404 OK", "text/plain", "hello")),
        (base.0.clone(), ok("200 OK", "text/html", "hello")),
        (base.0.clone(), ok("200 OK", "text/plain", "hello!")),
        (
            base.0.clone(),
            ok("200 OK", "text/plain\r\nContent-Encoding: gzip", "hello"),
        ),
        (
            "GET /a.txt?q=1 HTTP/1.0\r\nHost: www.example.com\r\n\r\n".into(),
            base.1.clone(),
        ),
        ("GET /a.txt?q=1 HTTP/1.1\r\n\r\n".into(), base.1.clone()),
        ("GET /a.txt?q=1 HTTP/1.1\r\n\r\n".into(), base.1.clone()),
        base.clone(),
    ];
    let fields = |e: &Value| {
        let keys = [
            "http",
            "url",
            "user_agent",
            "user",
            "method",
            "query",
            "path",
        ];
        keys.map(|k| e.get(k).cloned())
    };
    let mut h = Harness::new(HttpConfig::default());
    for (i, (q, s)) in exchanges.iter().enumerate() {
        let ts = T0 + i as u64 * SECOND;
        h.req(q.as_bytes(), ts);
        h.resp(s.as_bytes(), ts + 1000);
        let mut alone = Harness::new(HttpConfig::default());
        alone.req(q.as_bytes(), ts);
        alone.resp(s.as_bytes(), ts + 1000);
        let (all, one) = (h.events(), alone.events());
        assert_eq!(all.len(), i + 1);
        assert_eq!(fields(&all[i]), fields(&one[0]), "exchange {i}");
        assert_eq!(h.batch.json(i), alone.batch.json(0), "exchange {i}");
    }
}

#[test]
fn repeated_exchanges_count_in_the_report_as_their_events_read_back_do() {
    // Runs of repeated exchanges (the aggregator counts their labels where
    // the previous one's were) broken by changes of path, agent, status,
    // type and outcome, across intervals, with caps small enough that
    // labels go to `other` and top entries are evicted: the report built
    // at emission equals the one built from the events read back.
    use crate::aggregate::summary::{Event, Parsed};
    use crate::aggregate::{AggConfig, Aggregator};
    let cfg = AggConfig {
        top_entries: 2,
        max_labels: 2,
        slowest: 3,
        ..AggConfig::default()
    };
    let mut h = Harness::new(HttpConfig::default());
    h.batch.aggregate = Some(Box::new(Aggregator::new(cfg)));
    let mut ts = T0;
    for i in 0..240u64 {
        // Runs of 1 to 6 equal exchanges.
        let v = (i / (1 + i % 6)) % 7;
        let path = ["/a", "/b", "/c", "/a", "/d", "/a", "/e"][v as usize];
        let agent = ["x/1", "x/2", "x/1", "x/3", "x/1", "x/1", "x/2"][(v * 3 % 7) as usize];
        let (status, ct) = [
            ("200 OK", "text/plain"),
            ("200 OK", "text/plain"),
            ("404 Not Found", "text/html"),
            ("200 OK", "application/json"),
            ("500 Oops", "text/plain"),
            ("200 OK", "text/plain"),
            ("301 Moved", "image/png"),
        ][(v * 5 % 7) as usize];
        let req = format!("GET {path} HTTP/1.1\r\nHost: h\r\nUser-Agent: {agent}\r\n\r\n");
        let resp =
            format!("HTTP/1.1 {status}\r\nContent-Type: {ct}\r\nContent-Length: 2\r\n\r\nok");
        h.req(req.as_bytes(), ts);
        // Latencies vary within a run (the slowest list takes some).
        h.resp(resp.as_bytes(), ts + (1 + (i * 37) % 500) * 1000);
        ts += (1 + i % 4) * SECOND;
    }
    let direct = h
        .batch
        .aggregate
        .take()
        .unwrap()
        .into_any()
        .downcast::<Aggregator>()
        .unwrap();
    let mut back = Aggregator::new(cfg);
    for i in 0..h.batch.len() {
        let line = h.batch.json(i);
        match Event::parse(line).unwrap().summary() {
            Parsed::Tx(tx) => back.add_tx(&tx, || String::from_utf8(line.to_vec()).ok()),
            _ => panic!("event {i} is not a transaction"),
        }
    }
    assert_eq!(direct.requests(), 240);
    assert!(direct.len() > 10, "the run spans many intervals");
    assert_eq!(direct.len(), back.len());
    let mut evicted = 0;
    for (k, s) in back.stats() {
        let d = direct.get(k).expect("the same keys");
        evicted += s.top.evicted;
        assert_eq!(
            serde_json::to_value(d).unwrap(),
            serde_json::to_value(s).unwrap(),
            "interval {}",
            k.start
        );
    }
    assert!(evicted > 0, "top entries were evicted");
    assert!(
        back.stats()
            .any(|(_, s)| s.methods.get("other").is_none() && s.agents.get("other").is_some()),
        "agents went to `other`"
    );
}
