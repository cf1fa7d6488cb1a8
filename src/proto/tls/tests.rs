//! Byte-level tests: record framing, hello parsing, every prefix and every
//! split of a whole handshake, losses, bounds and the event's fields.

use super::fingerprint;
use super::parser::{self, RecordReader, Step};
use super::{TlsConfig, TlsSession};
use crate::event::{EventBatch, FlowContext, Transport};
use crate::proto::{Dir, Session, TxSink};
use crate::stats::Counters;
use crate::time::{Timestamp, MILLISECOND, SECOND};
use serde_json::Value;
use std::sync::Arc;

/// Bytes from a hex string (whitespace ignored).
pub(crate) fn unhex(s: &str) -> Vec<u8> {
    let s: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    s.chunks(2)
        .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 16).unwrap())
        .collect()
}

/// A record: content type, version 3.3, 16-bit length, body.
fn record(ctype: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![ctype, 3, 3];
    v.extend_from_slice(&(body.len() as u16).to_be_bytes());
    v.extend_from_slice(body);
    v
}

/// A handshake message: type, 24-bit length, body.
fn handshake(t: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![t];
    v.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    v.extend_from_slice(body);
    v
}

/// An extension: type, 16-bit length, data.
fn ext(t: u16, data: &[u8]) -> Vec<u8> {
    let mut v = t.to_be_bytes().to_vec();
    v.extend_from_slice(&(data.len() as u16).to_be_bytes());
    v.extend_from_slice(data);
    v
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// ClientHello body: TLS 1.2 legacy version, GREASE, SNI, ALPN, TLS 1.3 offered.
fn client_hello_body() -> Vec<u8> {
    let exts = cat(&[
        &ext(0x0a0a, &[]),                                             // GREASE extension
        &ext(0x0000, &cat(&[&[0, 12], &[0], &[0, 9], b"localhost"])), // server_name: list len 12, host_name, "localhost"
        &ext(0x000a, &[0, 4, 0x1a, 0x1a, 0, 0x1d]), // supported_groups: GREASE, x25519
        &ext(0x000b, &[1, 0]),                      // ec_point_formats: uncompressed
        &ext(0x0010, &cat(&[&[0, 10], &[2], b"h2", &[6], b"http/1"])), // ALPN: "h2", "http/1"
        &ext(0x002b, &[4, 3, 4, 3, 3]),             // supported_versions: TLS 1.3, TLS 1.2
        &ext(0x000d, &[0, 4, 4, 3, 8, 4]), // signature_algorithms: ecdsa_secp256r1_sha256, rsa_pss_sha256
        &ext(0x0023, &[]),                 // session_ticket: empty (asks for one)
    ]);
    cat(&[
        &[3, 3],                                  // legacy_version TLS 1.2
        &[0x11; 32],                              // random
        &[0],                                     // session id: empty
        &[0, 6, 0x2a, 0x2a, 0xc0, 0x2f, 0, 0xff], // ciphers: GREASE, ECDHE-RSA-AES128-GCM-SHA256, SCSV
        &[1, 0],                                  // compression: NULL
        &(exts.len() as u16).to_be_bytes(),       // extensions length
        &exts,
    ])
}

/// ServerHello body: TLS 1.2, the client's cipher, ALPN h2, point formats.
fn server_hello_body() -> Vec<u8> {
    let exts = cat(&[
        &ext(0xff01, &[0]),                          // renegotiation_info: empty
        &ext(0x0010, &cat(&[&[0, 3], &[2], b"h2"])), // ALPN: "h2"
        &ext(0x000b, &[1, 0]),                       // ec_point_formats: uncompressed
    ]);
    cat(&[
        &[3, 3],                            // version TLS 1.2
        &[0x22; 32],                        // random
        &[0],                               // session id: empty
        &[0xc0, 0x2f],                      // cipher
        &[0],                               // compression NULL
        &(exts.len() as u16).to_be_bytes(), // extensions length
        &exts,
    ])
}

/// ServerKeyExchange body for ECDHE: named_curve (3), secp256r1 (23), point.
const SKE: &[u8] = &[3, 0, 23, 4, 0xaa, 0xbb, 0xcc, 0xdd];

/// The client's and the server's bytes of a full TLS 1.2 handshake followed
/// by application data.
fn tls12_exchange() -> (Vec<u8>, Vec<u8>) {
    let client = cat(&[
        &record(22, &handshake(1, &client_hello_body())), // ClientHello
        &record(22, &handshake(16, &[0, 2, 0xab, 0xcd])), // ClientKeyExchange
        &record(20, &[1]),                                // ChangeCipherSpec
        &record(22, &[0x5a; 40]),                         // Finished (encrypted)
        &record(23, &[0x5b; 64]),                         // application data
    ]);
    let server = cat(&[
        &record(
            22,
            &cat(&[
                &handshake(2, &server_hello_body()), // ServerHello
                &handshake(12, SKE),                 // ServerKeyExchange, same record
                &handshake(14, &[]),                 // ServerHelloDone
            ]),
        ),
        &record(20, &[1]),        // ChangeCipherSpec
        &record(22, &[0x6a; 40]), // Finished (encrypted)
        &record(23, &[0x6b; 99]), // application data
    ]);
    (client, server)
}

struct Harness {
    flow: FlowContext,
    batch: EventBatch,
    counters: Counters,
    session: TlsSession,
}

const T0: Timestamp = 1_700_000_000 * SECOND;

impl Harness {
    fn new(cfg: TlsConfig) -> Self {
        Harness {
            flow: FlowContext::new(
                9,
                ("10.0.0.1".parse().unwrap(), 50000),
                ("10.0.0.2".parse().unwrap(), 443),
                Transport::Tcp,
                "1:x".into(),
            ),
            batch: EventBatch::default(),
            counters: Counters::new(),
            session: TlsSession::new(Arc::new(cfg)),
        }
    }

    fn with(&mut self, f: impl FnOnce(&mut TlsSession, &mut TxSink<'_>)) {
        let mut sink = TxSink {
            flow: &mut self.flow,
            events: &mut self.batch,
            counters: &mut self.counters,
        };
        f(&mut self.session, &mut sink);
    }

    fn data(&mut self, dir: Dir, b: &[u8], ts: Timestamp) {
        self.with(|s, o| s.data(dir, b, ts, o));
    }

    fn events(&self) -> Vec<Value> {
        (0..self.batch.len())
            .map(|i| serde_json::from_slice(self.batch.json(i)).expect("valid JSON"))
            .collect()
    }

    fn counter(&self, name: &str) -> u64 {
        self.counters.get(name)
    }
}

/// Client first flight, server flight, client's second flight, server's.
fn run_exchange(h: &mut Harness, client: &[u8], server: &[u8], cut_c: usize, cut_s: usize) {
    // The ClientHello record ends where the ClientKeyExchange starts.
    h.data(Dir::ToServer, &client[..cut_c], T0);
    h.data(Dir::ToClient, &server[..cut_s], T0 + 10 * MILLISECOND);
    h.data(Dir::ToClient, &server[cut_s..], T0 + 11 * MILLISECOND);
    h.data(Dir::ToServer, &client[cut_c..], T0 + 20 * MILLISECOND);
    h.data(Dir::ToClient, &[], T0 + 30 * MILLISECOND);
}

#[test]
fn client_hello_fields_and_ja3() {
    let ch = parser::parse_client_hello(&client_hello_body()).unwrap();
    assert_eq!(ch.version, 0x0303);
    assert_eq!(ch.ciphers, vec![0x2a2a, 0xc02f, 0x00ff]);
    assert_eq!(ch.extensions, vec![0x0a0a, 0, 10, 11, 16, 43, 13, 35]);
    assert_eq!(ch.server_names, vec!["localhost".to_string()]);
    assert_eq!(ch.alpn, vec![b"h2".to_vec(), b"http/1".to_vec()]);
    assert_eq!(ch.supported_versions, vec![0x0304, 0x0303]);
    assert_eq!(ch.groups, vec![0x1a1a, 29]);
    assert_eq!(ch.point_formats, vec![0]);
    assert_eq!(ch.signature_algorithms, vec![0x0403, 0x0804]);
    assert_eq!(ch.session_ticket, Some(0));
    assert_eq!(ch.bad_extensions, 0);
    // GREASE left out of all three lists.
    assert_eq!(
        fingerprint::ja3_string(&ch),
        "771,49199-255,0-10-11-16-43-13-35,29,0"
    );
    let (a, b, c) = fingerprint::ja4_parts(&ch);
    assert_eq!(a, "t13d0207h2");
    assert_eq!(b, "00ff,c02f");
    assert_eq!(c, "000a,000b,000d,0023,002b_0403,0804");
}

#[test]
fn a_malformed_extension_loses_only_itself() {
    let mut body = client_hello_body();
    // Turn the ec_point_formats list length (1) into 5: that extension no
    // longer parses, the others still do.
    let at = body
        .windows(6)
        .position(|w| w == [0, 0x0b, 0, 2, 1, 0])
        .unwrap();
    body[at + 4] = 5;
    let ch = parser::parse_client_hello(&body).unwrap();
    assert_eq!(ch.bad_extensions, 1);
    assert!(ch.point_formats.is_empty());
    assert_eq!(ch.server_names, vec!["localhost".to_string()]);
    assert_eq!(ch.extensions.len(), 8);
}

#[test]
fn server_hello_fields_and_ja3s() {
    let sh = parser::parse_server_hello(&server_hello_body()).unwrap();
    assert_eq!(sh.cipher, 0xc02f);
    assert_eq!(sh.alpn.as_deref(), Some(&b"h2"[..]));
    assert_eq!(sh.extensions, vec![0xff01, 16, 11]);
    assert_eq!(fingerprint::ja3s_string(&sh), "771,49199,65281-16-11");
    assert!(!sh.retry);
}

#[test]
fn every_prefix_of_a_record_is_incomplete() {
    let rec = record(22, &handshake(1, &client_hello_body()));
    for cut in 0..rec.len() {
        let mut r = RecordReader::new(parser::DEFAULT_MAX_MESSAGE);
        let (n, step) = r.feed(&rec[..cut]);
        assert_eq!((n, step), (cut, Step::More), "prefix {cut}");
        // The rest completes it.
        let (_, step) = r.feed(&rec[cut..]);
        assert_eq!(step, Step::Handshake(1), "rest after {cut}");
        assert_eq!(r.message(), &client_hello_body()[..]);
    }
}

#[test]
fn a_message_split_across_records_and_two_in_one() {
    let msg = handshake(1, &client_hello_body());
    let (a, b) = msg.split_at(7); // the split falls inside the hello
    let two = cat(&[&handshake(14, &[]), &handshake(14, &[])]);
    let stream = cat(&[&record(22, a), &record(22, b), &record(22, &two)]);
    let mut r = RecordReader::new(parser::DEFAULT_MAX_MESSAGE);
    let mut steps = Vec::new();
    let mut pos = 0;
    loop {
        let (n, step) = r.feed(&stream[pos..]);
        pos += n;
        if step == Step::More {
            break;
        }
        steps.push(step);
    }
    assert_eq!(
        steps,
        vec![Step::Handshake(1), Step::Handshake(14), Step::Handshake(14)]
    );
}

#[test]
fn an_oversized_message_is_skipped_and_the_next_one_parsed() {
    let big = handshake(11, &vec![0u8; 3000]);
    let stream = cat(&[
        &record(22, &big[..1500]),
        &record(22, &big[1500..]),
        &record(22, &handshake(14, &[])),
    ]);
    let mut r = RecordReader::new(1024);
    let mut steps = Vec::new();
    let mut pos = 0;
    loop {
        let (n, step) = r.feed(&stream[pos..]);
        pos += n;
        if step == Step::More {
            break;
        }
        steps.push(step);
        assert!(r.buffered() <= 1500 + 4);
    }
    assert_eq!(steps, vec![Step::TooLarge(11, 3000), Step::Handshake(14)]);
}

#[test]
fn junk_then_a_record_resynchronises() {
    let stream = cat(&[b"GET / HTTP/1.1\r\n", &record(22, &handshake(14, &[]))]);
    let mut r = RecordReader::new(parser::DEFAULT_MAX_MESSAGE);
    let mut steps = Vec::new();
    let mut pos = 0;
    loop {
        let (n, step) = r.feed(&stream[pos..]);
        pos += n;
        if step == Step::More {
            break;
        }
        steps.push(step);
    }
    assert_eq!(steps, vec![Step::NotTls, Step::Handshake(14)]);
    assert!(r.skipped > 0);
}

fn check_tls12_event(e: &Value) {
    assert_eq!(e["type"], "tls");
    assert_eq!(e["status"], "OK");
    let t = &e["tls"];
    assert_eq!(t["established"], true);
    assert_eq!(t["resumed"], false);
    assert_eq!(t["version"], "1.2");
    assert_eq!(t["cipher"], "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
    assert_eq!(t["curve"], "secp256r1");
    assert_eq!(t["next_protocol"], "h2");
    assert_eq!(t["client"]["server_name"], "localhost");
    assert_eq!(
        t["client"]["ja3"],
        fingerprint::ja3(&parser::parse_client_hello(&client_hello_body()).unwrap())
    );
    assert_eq!(
        t["client"]["supported_ciphers"],
        serde_json::json!([
            "(unknown:0x2a2a)",
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            "TLS_EMPTY_RENEGOTIATION_INFO_SCSV"
        ])
    );
    let ch = &t["detailed"]["client_hello"];
    assert_eq!(ch["extensions"]["session_ticket"], "");
    assert_eq!(
        ch["extensions"]["supported_versions"],
        serde_json::json!(["TLS 1.3", "TLS 1.2"])
    );
    assert_eq!(
        ch["extensions"]["signature_algorithms"],
        serde_json::json!(["ecdsa_secp256r1_sha256", "rsa_pss_sha256"])
    );
}

#[test]
fn a_full_tls12_handshake_is_one_event() {
    let (client, server) = tls12_exchange();
    let cut_c = record(22, &handshake(1, &client_hello_body())).len();
    let mut h = Harness::new(TlsConfig::default());
    run_exchange(&mut h, &client, &server, cut_c, 40);
    let ev = h.events();
    assert_eq!(ev.len(), 1);
    check_tls12_event(&ev[0]);
    // From the ClientHello to the client's ChangeCipherSpec.
    assert_eq!(ev[0]["event"]["duration"], 20 * MILLISECOND);
    // Nothing more once established, not even at close.
    h.with(|s, o| s.close(T0 + SECOND, o));
    assert_eq!(h.events().len(), 1);
    assert_eq!(h.counter("events.tls"), 1);
}

#[test]
fn every_split_of_both_directions_gives_the_same_event() {
    let (client, server) = tls12_exchange();
    let cut_c = record(22, &handshake(1, &client_hello_body())).len();
    let mut reference = None;
    for split in 1..client.len().max(server.len()) {
        let mut h = Harness::new(TlsConfig::default());
        // Client bytes in two chunks at `split` (within its first flight
        // when it falls there), server bytes likewise.
        let cs = split.min(cut_c);
        h.data(Dir::ToServer, &client[..cs], T0);
        h.data(Dir::ToServer, &client[cs..cut_c], T0);
        let ss = split.min(server.len());
        h.data(Dir::ToClient, &server[..ss], T0 + 10 * MILLISECOND);
        h.data(Dir::ToClient, &server[ss..], T0 + 10 * MILLISECOND);
        let rest = &client[cut_c..];
        let rs = split.min(rest.len());
        h.data(Dir::ToServer, &rest[..rs], T0 + 20 * MILLISECOND);
        h.data(Dir::ToServer, &rest[rs..], T0 + 20 * MILLISECOND);
        let ev = h.events();
        assert_eq!(ev.len(), 1, "split {split}");
        check_tls12_event(&ev[0]);
        let tls = ev[0]["tls"].clone();
        match &reference {
            None => reference = Some(tls),
            Some(r) => assert_eq!(&tls, r, "split {split}"),
        }
    }
}

#[test]
fn every_prefix_of_the_exchange_gives_no_event_until_close() {
    let (client, server) = tls12_exchange();
    let cut_c = record(22, &handshake(1, &client_hello_body())).len();
    // Strict prefixes of the server's flight (the client has sent its hello).
    for cut in 0..server.len() {
        let mut h = Harness::new(TlsConfig::default());
        h.data(Dir::ToServer, &client[..cut_c], T0);
        h.data(Dir::ToClient, &server[..cut], T0 + MILLISECOND);
        assert!(h.events().is_empty(), "prefix {cut}");
        h.with(|s, o| s.close(T0 + SECOND, o));
        let ev = h.events();
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0]["tls"]["established"], false);
        assert_eq!(ev[0]["status"], "Error");
    }
}

#[test]
fn random_chunks_never_panic_and_events_are_json() {
    let (client, server) = tls12_exchange();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..300 {
        let mut h = Harness::new(TlsConfig::default());
        let (mut c, mut s) = (0, 0);
        while c < client.len() || s < server.len() {
            let r = crate::test_support::xorshift64(&mut x);
            let n = (r % 37) as usize + 1;
            if r & 0x100 == 0 && c < client.len() {
                let e = (c + n).min(client.len());
                let mut chunk = client[c..e].to_vec();
                if r & 0x7000 == 0 && !chunk.is_empty() {
                    chunk[0] ^= 0xff; // a corrupted byte
                }
                h.data(Dir::ToServer, &chunk, T0);
                c = e;
            } else if s < server.len() {
                let e = (s + n).min(server.len());
                if r & 0xf000 == 0 {
                    h.with(|ss, o| ss.gap(Dir::ToClient, n as u64, T0, o));
                } else {
                    h.data(Dir::ToClient, &server[s..e], T0);
                }
                s = e;
            } else {
                c = client.len();
            }
        }
        h.with(|ss, o| ss.close(T0 + SECOND, o));
        assert!(h.events().len() <= 1);
    }
}

#[test]
fn a_server_alert_makes_an_error_event() {
    let mut h = Harness::new(TlsConfig::default());
    h.data(
        Dir::ToServer,
        &record(22, &handshake(1, &client_hello_body())),
        T0,
    );
    h.data(Dir::ToClient, &record(21, &[2, 40]), T0 + MILLISECOND); // fatal handshake_failure
    h.with(|s, o| s.end(Dir::ToClient, T0 + 2 * MILLISECOND, o));
    let ev = h.events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["status"], "Error");
    let a = &ev[0]["tls"]["detailed"]["alerts"][0];
    assert_eq!(a["source"], "server");
    assert_eq!(a["severity"], "fatal");
    assert_eq!(a["code"], 40);
    assert_eq!(a["type"], "handshake_failure");
    assert_eq!(
        ev[0]["tls"]["detailed"]["alert_types"],
        serde_json::json!(["handshake_failure"])
    );
}

#[test]
fn a_stalled_handshake_expires_on_packet_time() {
    let mut h = Harness::new(TlsConfig::default());
    h.data(
        Dir::ToServer,
        &record(22, &handshake(1, &client_hello_body())),
        T0,
    );
    h.with(|s, o| s.tick(T0 + 9 * SECOND, o));
    assert!(h.events().is_empty());
    h.with(|s, o| s.tick(T0 + 10 * SECOND, o));
    assert_eq!(h.events().len(), 1);
    assert_eq!(h.counter("tls.handshake_timeouts"), 1);
}

#[test]
fn a_gap_in_the_server_hello_is_reported() {
    let (client, server) = tls12_exchange();
    let cut_c = record(22, &handshake(1, &client_hello_body())).len();
    let mut h = Harness::new(TlsConfig::default());
    h.data(Dir::ToServer, &client[..cut_c], T0);
    h.data(Dir::ToClient, &server[..20], T0);
    h.with(|s, o| s.gap(Dir::ToClient, 30, T0, o));
    h.with(|s, o| s.close(T0 + SECOND, o));
    let ev = h.events();
    assert_eq!(ev.len(), 1);
    assert_eq!(
        ev[0]["error"]["message"],
        crate::proto::common::errors::LOSS_RESPONSE
    );
    assert!(ev[0]["tls"].get("cipher").is_none());
    assert_eq!(h.counter("tls.gaps"), 1);
}

#[test]
fn not_tls_makes_no_event() {
    let mut h = Harness::new(TlsConfig::default());
    h.data(Dir::ToServer, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", T0);
    h.with(|s, o| s.close(T0 + SECOND, o));
    assert!(h.events().is_empty());
    assert_eq!(h.counter("tls.not_tls"), 1);
    assert_eq!(h.counter("tls.no_hello"), 1);
}

#[test]
fn tls13_handshake_with_compatibility_change_cipher_spec() {
    let sh_exts = cat(&[
        &ext(0x002b, &[3, 4]),                            // supported_versions: TLS 1.3
        &ext(0x0033, &cat(&[&[0, 29, 0, 32], &[7; 32]])), // key_share: x25519, 32-byte key
    ]);
    let sh = cat(&[
        &[3, 3],          // legacy_version
        &[0x33; 32],      // random
        &[4, 1, 2, 3, 4], // legacy_session_id_echo (4 bytes)
        &[0x13, 0x01],    // TLS_AES_128_GCM_SHA256
        &[0],             // compression
        &(sh_exts.len() as u16).to_be_bytes(),
        &sh_exts,
    ]);
    let server = cat(&[
        &record(22, &handshake(2, &sh)), // ServerHello
        &record(20, &[1]),               // compatibility CCS: not a switch in 1.3
        &record(23, &[9; 50]),           // EncryptedExtensions.. (encrypted)
    ]);
    let client2 = cat(&[
        &record(20, &[1]),     // compatibility CCS
        &record(23, &[8; 53]), // Finished (encrypted)
    ]);
    let mut h = Harness::new(TlsConfig::default());
    h.data(
        Dir::ToServer,
        &record(22, &handshake(1, &client_hello_body())),
        T0,
    );
    h.data(Dir::ToClient, &server, T0 + 5 * MILLISECOND);
    assert!(h.events().is_empty());
    h.data(Dir::ToServer, &client2[..6], T0 + 6 * MILLISECOND);
    assert!(h.events().is_empty(), "a TLS 1.3 CCS does not establish");
    h.data(Dir::ToServer, &client2[6..], T0 + 7 * MILLISECOND);
    let ev = h.events();
    assert_eq!(ev.len(), 1);
    let t = &ev[0]["tls"];
    assert_eq!(t["version"], "1.3");
    assert_eq!(t["cipher"], "TLS_AES_128_GCM_SHA256");
    assert_eq!(t["curve"], "x25519");
    assert_eq!(t["established"], true);
    // No pre_shared_key: a full handshake, not resumed.
    assert_eq!(t["resumed"], false);
    assert_eq!(ev[0]["event"]["duration"], 7 * MILLISECOND);
}

/// The test kit's generic checks on the full TLS 1.2 exchange above (the
/// client's last step ends with its ChangeCipherSpec, which establishes).
#[test]
fn generic_checks_on_a_full_exchange() {
    use crate::proto::{testkit, ProtocolId, ProtocolsConfig};
    let (client, server) = tls12_exchange();
    let cut_c = record(22, &handshake(1, &client_hello_body())).len();
    let ccs_end = cut_c + record(22, &handshake(16, &[0, 2, 0xab, 0xcd])).len() + 6;
    let steps: &[(Dir, &[u8])] = &[
        (Dir::ToServer, &client[..cut_c]),
        (Dir::ToClient, &server),
        (Dir::ToServer, &client[cut_c..ccs_end]),
    ];
    let cfg = ProtocolsConfig::default();
    testkit::check_every_prefix(ProtocolId::Tls, &cfg, steps);
    testkit::check_every_split(ProtocolId::Tls, &cfg, steps);
    testkit::check_random_bytes(ProtocolId::Tls, &cfg, steps, 7, 200);
}
