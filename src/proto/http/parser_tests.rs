//! Tests of the HTTP head parser: the strict fast path against httparse,
//! heads parsed in place against buffered ones, and the streaming parser.

use super::*;

/// A request head, field by field.
const GET_HEAD: &[u8] = concat!(
    "GET /index.html?q=1 HTTP/1.1\r\n", // method SP target SP version
    "Host: www.example.com\r\n",        // host -> url.domain
    "User-Agent: curl/8.0\r\n",         // user_agent.original
    "Accept: */*\r\n",                  // not kept unless asked
    "\r\n",                             // end of head
)
.as_bytes();

#[test]
fn request_head_fields_are_ranges_into_the_buffer() {
    let mut h = Head {
        raw: GET_HEAD.to_vec(),
        ..Head::default()
    };
    h.parse_request(false).unwrap();
    assert_eq!(h.method(), b"GET");
    assert_eq!(h.target(), b"/index.html?q=1");
    assert_eq!(h.minor, 1);
    assert_eq!(h.value(h.host), Some(&b"www.example.com"[..]));
    assert_eq!(h.value(h.user_agent), Some(&b"curl/8.0"[..]));
    assert_eq!(h.request_framing(), Ok(Framing::None));
}

#[test]
fn header_names_are_lower_cased_and_reason_too() {
    let mut h = Head {
        raw: b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\nX-Thing: A\r\n\r\n".to_vec(),
        ..Head::default()
    };
    h.parse_response(false).unwrap();
    assert_eq!(h.status, 200);
    assert_eq!(h.minor, 0);
    assert_eq!(h.reason.get(&h.raw), b"ok");
    assert_eq!(h.find("x-thing"), Some(&b"A"[..]));
    assert_eq!(h.response_framing(false, false), Ok(Framing::Length(5)));
    assert_eq!(h.response_framing(true, false), Ok(Framing::None));
}

/// Every parsed field of a head, as bytes, for comparing two parses.
fn fields(h: &Head) -> String {
    let hdrs: Vec<_> = h
        .headers
        .iter()
        .map(|(n, v)| (n.get(&h.raw).to_vec(), v.get(&h.raw).to_vec()))
        .collect();
    format!(
        "{:?} {:?} {} {} {:?} {:?} {:?} {} {} {} {} {:?} {:?} {:?} {:?} {:?} {:?} {:?}",
        h.method(),
        h.target(),
        h.minor,
        h.status,
        h.reason.get(&h.raw),
        hdrs,
        h.content_length,
        h.bad_content_length,
        h.transfer_encoding,
        h.chunked,
        h.expect_continue,
        h.host,
        h.user_agent,
        h.referer,
        h.content_type,
        h.content_encoding,
        h.authorization,
        h.raw,
    )
}

/// The fast path and httparse alone give the same head (fields, errors
/// and the lower-cased buffer) on common and on odd heads; the odd ones
/// go to httparse.
#[test]
fn fast_path_and_httparse_agree() {
    let requests: &[&[u8]] = &[
        GET_HEAD,
        b"GET / HTTP/1.0\r\n\r\n",
        b"POST /a?b=c HTTP/1.1\r\nHost: h:8080\r\nContent-Length:  12  \r\nContent-Type: application/x-www-form-urlencoded\r\nX-Forwarded-For: 1.2.3.4, 5.6.7.8\r\nEmpty:\r\nSpaces:   \r\n\r\n",
        b"PUT /x HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\nExpect: 100-continue\r\nAUTHORIZATION: Basic dXNlcjpwYXNz\r\nReferer: http://r/\r\n\r\n",
        b"GET / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
        b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
        b"GET  /  HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1\nHost: a\n\n",
        b"GET / HTTP/1.1\r\nHost:\ta\t\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost : a\r\nUser-Agent: u\r\n\r\n",
        b"GET / HTTP/1.1\r\nBad\x01: a\r\nHost: b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\x01b\r\nUser-Agent: u\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\x7fb\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\xc3\xa9\r\n\r\n",
        b"GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /\xe2 HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.2\r\n\r\n",
        b"GET / HTTP/2.0\r\n\r\n",
        b"G(T / HTTP/1.1\r\n\r\n",
        b"\r\nGET / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\n folded: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nA: x\ry\r\n\r\n",
        b"GET / HTTP/1.1\r\n:x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\nBODY",
    ];
    let mut many = b"GET / HTTP/1.1\r\n".to_vec();
    for i in 0..MAX_HEADERS {
        many.extend_from_slice(format!("H{i}: v\r\n").as_bytes());
    }
    let mut too_many = many.clone();
    too_many.extend_from_slice(b"Last: v\r\n\r\n");
    many.extend_from_slice(b"\r\n");
    let mut all: Vec<Vec<u8>> = requests.iter().map(|r| r.to_vec()).collect();
    all.push(many);
    all.push(too_many);
    for raw in &all {
        for partial in [false, true] {
            let mut fast = Head {
                raw: raw.clone(),
                ..Head::default()
            };
            let mut slow = fast.clone();
            let a = fast.parse_request(partial);
            let b = slow.parse_request_httparse(&Wants::ALL, partial);
            let what = String::from_utf8_lossy(raw);
            assert_eq!(a, b, "{what:?}");
            assert_eq!(fields(&fast), fields(&slow), "{what:?}");
        }
    }
    let responses: &[&[u8]] = &[
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/html; charset=UTF-8\r\n\r\n",
        b"HTTP/1.0 404 Not Found\r\nConnection: close\r\n\r\n",
        b"HTTP/1.1 204\r\n\r\n",
        b"HTTP/1.1 204 \r\n\r\n",
        b"HTTP/1.1 200  OK\r\n\r\n",
        b"HTTP/1.1  200 OK\r\n\r\n",
        b"HTTP/1.1 200 \xc3\xa9\r\n\r\n",
        b"HTTP/1.1 200 O\tK\r\n\r\n",
        b"HTTP/1.1 2x0 OK\r\n\r\n",
        b"HTTP/1.2 200 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length : 1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n",
        b"HTTP/1.1 200 OK\nContent-Length: 1\n\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n",
        b"HTTP/1.1 200 OK\r\nA\x01: 1\r\nContent-Length: 2\r\n\r\n",
    ];
    for raw in responses {
        for partial in [false, true] {
            let mut fast = Head {
                raw: raw.to_vec(),
                ..Head::default()
            };
            let mut slow = fast.clone();
            let a = fast.parse_response(partial);
            let b = slow.parse_response_httparse(&Wants::ALL, partial);
            let what = String::from_utf8_lossy(raw);
            assert_eq!(a, b, "{what:?}");
            assert_eq!(fields(&fast), fields(&slow), "{what:?}");
        }
    }
}

/// What the session and the event read from a head, whatever its
/// table holds: the lean and the full table must give the same.
fn view(h: &Head, extra: Option<&str>) -> String {
    format!(
        "{:?} {:?} {} {} {:?} {:?} {} {} {} {} {:?} {:?} {:?} {:?} {:?} {:?} {:?}",
        h.method(),
        h.target(),
        h.minor,
        h.status,
        h.reason.get(&h.raw),
        h.content_length,
        h.bad_content_length,
        h.transfer_encoding,
        h.chunked,
        h.expect_continue,
        h.value(h.host),
        h.value(h.user_agent),
        h.value(h.referer),
        h.value(h.content_type),
        h.value(h.content_encoding),
        h.value(h.authorization),
        extra.map(|e| h.find(e)),
    )
}

/// Many heads of many shapes: start lines and header lines (names in
/// any case, repeated, odd bytes, bare LF, obs-fold, tabs) drawn from a
/// fixed sequence.
fn many_heads(request: bool) -> Vec<Vec<u8>> {
    let starts: &[&[u8]] = if request {
        &[
            b"GET /a?b=c HTTP/1.1\r\n",
            b"POST / HTTP/1.0\r\n",
            b"PUT  /x HTTP/1.1\r\n",
            b"GET /\xc3\xa9 HTTP/1.1\r\n",
            b"GET / HTTP/1.1\n",
            b"THISMETHODISMUCHLONGERTHANUSUAL / HTTP/1.1\r\n",
        ]
    } else {
        &[
            b"HTTP/1.1 200 OK\r\n",
            b"HTTP/1.0 404 Not Found\r\n",
            b"HTTP/1.1 204\r\n",
            b"HTTP/1.1 200  OK\r\n",
            b"HTTP/1.1 200 O\tK\r\n",
            b"HTTP/1.1 100 Continue\n",
        ]
    };
    let lines: &[&[u8]] = &[
        b"Host: www.example.com\r\n",
        b"HOST: other\r\n",
        b"host:bare\r\n",
        b"Content-Length: 5\r\n",
        b"content-length:  5 \r\n",
        b"Content-Length: 6\r\n",
        b"CONTENT-LENGTH: x\r\n",
        b"Transfer-Encoding: gzip, chunked\r\n",
        b"transfer-encoding: gzip\r\n",
        b"Expect: 100-continue\r\n",
        b"expect: 100-CONTINUE \r\n",
        b"Expect: nothing\r\n",
        b"User-Agent: curl/8.0\r\n",
        b"user-agent: second\r\n",
        b"Referer: http://r/\r\n",
        b"Content-Type: text/html; charset=UTF-8\r\n",
        b"content-type: application/x-www-form-urlencoded\r\n",
        b"Content-Encoding: gzip\r\n",
        b"Authorization: Basic dXNlcjpwYXNz\r\n",
        b"X-Forwarded-For: 1.2.3.4, 5.6.7.8\r\n",
        b"x-forwarded-for: 9.9.9.9\r\n",
        b"X-Real-IP: 10.0.0.1\r\n",
        b"Connection: keep-alive\r\n",
        b"Last-Modified: Wed, 02 Dec 2026 03:38:31 GMT\r\n",
        b"Empty:\r\n",
        b"Spaces:    \r\n",
        b"Ho st: z\r\n",
        b"Bad(: 1\r\n",
        b"Host : spaced\r\n",
        b"Tab:\tv\r\n",
        b"Obs: caf\xc3\xa9\r\n",
        b"Ctl: a\x01b\r\n",
        b"Del: a\x7fb\r\n",
        b"Fold: a\r\n b\r\n",
        b"NoColon\r\n",
        b"Lf: only\n",
        b"Cr: a\rb\r\n",
        b":novalue\r\n",
        // Names that are read, nearly: blanks or odd bytes before the
        // colon, a longer or shorter name, digits, '_', non-ASCII.
        b"Content-Length : 7\r\n",
        b"Content-Length\t: 7\r\n",
        b"HOST\t:tabbed\r\n",
        b"Hostx: longer\r\n",
        b"Hos: shorter\r\n",
        b"Content-Type-X: longer\r\n",
        b"X-Host: prefixed\r\n",
        b"X_Real_IP2: 10.0.0.2\r\n",
        b"x_real_ip2:10.0.0.3\r\n",
        b"H\xc3\xa9: accent\r\n",
        b"Host\xc3\xa9: accent\r\n",
        b"Content-Length: 5\x01\r\n",
        b"Host: a\tb\r\n",
        b"Host:\r\n",
        b"Host:    \r\n",
        b"User-Agent: caf\xc3\xa9 \r\n",
        b"X: a\x00b\r\n",
        b"Ho\x00st: a\r\n",
        b"\x00X: a\r\n",
        b"X: a\rb\r\n",
        b"Host: a\rb\r\n",
        b"\tLeading: tab\r\n",
        b"Referer: r\n",
        b"X: bare\n",
        b"Authorization:Basic\r\n",
        b"CONTENT-ENCODING: br\r\n",
        b"Expect:100-continue\r\n",
        b"Transfer-Encoding:chunked\r\n",
        b"TRANSFER-ENCODING : chunked\r\n",
        b"Content-Length: 99999999999999999999\r\n",
        b"Obs: \xff\xfe\x80\r\n",
        b"\xffName: v\r\n",
    ];
    // Very long lines, read and not.
    let long_value = format!("X-Long: {}\r\n", "v".repeat(5000));
    let long_host = format!("Host: {}\r\n", "h".repeat(3000));
    let long_name = format!("{}: v\r\n", "N".repeat(2000));
    let mut lines: Vec<&[u8]> = lines.to_vec();
    lines.push(long_value.as_bytes());
    lines.push(long_host.as_bytes());
    lines.push(long_name.as_bytes());
    let mut heads = Vec::new();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |n: usize| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) as usize % n
    };
    for i in 0..3000 {
        // Mostly clean heads (the fast path), some with an odd line.
        let start = if i % 4 == 0 {
            starts[next(starts.len())]
        } else {
            starts[i % 2]
        };
        let mut h = start.to_vec();
        let count = next(9);
        for _ in 0..count {
            let pick = if i % 3 == 0 {
                next(lines.len())
            } else {
                next(26)
            };
            h.extend_from_slice(lines[pick]);
        }
        h.extend_from_slice(if i % 17 == 0 { b"\n" } else { b"\r\n" });
        heads.push(h);
    }
    heads
}

const EXTRAS: [Option<&str>; 8] = [
    None,
    Some("X-Forwarded-For"),
    Some("host"),
    Some("Content-Length"),
    Some("x-real-ip"),
    Some("X_Real_IP2"),
    // Not a token: never a parsed name.
    Some("X Real"),
    Some("user-agent"),
];

/// The lean table (only the fields read) and the full table give the
/// session and the event the same values, on the fast path and on
/// httparse, for every extra name; and the lean fast path agrees with
/// lean httparse.
#[test]
fn lean_and_full_tables_agree_over_many_heads() {
    let mut fast_lean = 0;
    for request in [true, false] {
        for raw in many_heads(request) {
            for partial in [false, true] {
                let mut full = Head {
                    raw: raw.clone(),
                    ..Head::default()
                };
                let a = if request {
                    full.parse_request(partial)
                } else {
                    full.parse_response(partial)
                };
                for extra in EXTRAS {
                    let wants = Wants::lean(extra);
                    let mut lean = Head {
                        raw: raw.clone(),
                        ..Head::default()
                    };
                    let mut slow = lean.clone();
                    let (b, c) = if request {
                        (
                            lean.parse_request_for(&wants, partial),
                            slow.parse_request_httparse(&wants, partial),
                        )
                    } else {
                        (
                            lean.parse_response_for(&wants, partial),
                            slow.parse_response_httparse(&wants, partial),
                        )
                    };
                    let what = String::from_utf8_lossy(&raw);
                    assert_eq!(a, b, "{what:?} {extra:?}");
                    assert_eq!(b, c, "{what:?} {extra:?}");
                    assert_eq!(view(&full, extra), view(&lean, extra), "{what:?} {extra:?}");
                    assert_eq!(view(&lean, extra), view(&slow, extra), "{what:?} {extra:?}");
                    assert!(lean.headers.len() <= 7, "{what:?}");
                    let mut probe = Head::default();
                    if probe
                        .scan(&raw, request, &wants, DEFAULT_MAX_HEAD)
                        .is_some()
                    {
                        fast_lean += 1;
                    }
                }
            }
        }
    }
    assert!(
        fast_lean > 10_000,
        "the fast path was taken {fast_lean} times"
    );
}

/// A head parsed in place from the input (one whole input) gives the
/// same bytes, fields, consumed count and message size as the same
/// head buffered a byte at a time and parsed afterwards, with the full
/// and the lean table, body bytes following or not.
#[test]
fn heads_parsed_in_place_match_buffered_heads() {
    let mut in_place = 0;
    for request in [true, false] {
        for (i, raw) in many_heads(request).into_iter().enumerate() {
            let mut input = b"\r\n".repeat(i % 2);
            input.extend_from_slice(&raw);
            input.extend_from_slice(b"BODY");
            for extra in EXTRAS {
                let wants = if i % 5 == 0 {
                    Wants::ALL
                } else {
                    Wants::lean(extra)
                };
                let parse = |h: &mut Head| {
                    if request {
                        h.parse_request_for(&wants, false)
                    } else {
                        h.parse_response_for(&wants, false)
                    }
                };
                let mut whole = StreamParser::new(request, DEFAULT_MAX_HEAD);
                let (n, step) = whole.feed_with(&input, &wants);
                let mut bytewise = StreamParser::new(request, DEFAULT_MAX_HEAD);
                let mut m = 0;
                let mut last = Step::More;
                while m < input.len() && matches!(last, Step::More) {
                    let (k, s) = bytewise.feed(&input[m..=m]);
                    m += k.max(1);
                    last = s;
                }
                let what = String::from_utf8_lossy(&input);
                if step != Step::Head {
                    assert_ne!(last, Step::Head, "{what:?}");
                    continue;
                }
                assert_eq!(last, Step::Head, "{what:?}");
                assert_eq!(
                    (n, whole.msg_bytes()),
                    (m, bytewise.msg_bytes()),
                    "{what:?}"
                );
                let mut a = Head::default();
                let pre = whole.take_head(&mut a);
                let ra = if pre { Ok(()) } else { parse(&mut a) };
                let mut b = Head::default();
                assert!(!bytewise.take_head(&mut b), "a head in pieces is buffered");
                let rb = parse(&mut b);
                assert_eq!(ra, rb, "{what:?}");
                assert_eq!(a.raw, b.raw, "{what:?}");
                assert_eq!(view(&a, extra), view(&b, extra), "{what:?}");
                if wants.all {
                    assert_eq!(fields(&a), fields(&b), "{what:?}");
                }
                in_place += usize::from(pre);
            }
        }
    }
    assert!(in_place > 5_000, "parsed in place {in_place} times");
}

/// Every name that is read, and the extra names, with each byte after it
/// in place of the colon and with each byte of it changed to any value:
/// the lean fast path gives the view and the table of lean httparse.
#[test]
fn lean_fast_path_and_httparse_agree_on_near_names() {
    let names = [
        "host",
        "expect",
        "referer",
        "user-agent",
        "content-type",
        "authorization",
        "content-length",
        "content-encoding",
        "transfer-encoding",
        "x-forwarded-for",
        "x_real_ip2",
    ];
    let mut fast = 0;
    for request in [true, false] {
        let start: &[u8] = if request {
            b"GET / HTTP/1.1\r\n"
        } else {
            b"HTTP/1.1 200 OK\r\n"
        };
        for name in names {
            let mut variants: Vec<Vec<u8>> = Vec::new();
            for byte in 0..=255u8 {
                let mut v = name.as_bytes().to_vec();
                v.push(byte);
                v.extend_from_slice(b": 1\r\n");
                variants.push(v);
                for at in 0..name.len() {
                    let mut v = name.as_bytes().to_vec();
                    v[at] = byte;
                    v.extend_from_slice(b": 2\r\n");
                    variants.push(v);
                }
            }
            for line in variants {
                let mut raw = start.to_vec();
                raw.extend_from_slice(b"Host: first\r\n");
                raw.extend_from_slice(&line);
                raw.extend_from_slice(b"Content-Length: 3\r\n\r\n");
                for extra in [None, Some("X-Forwarded-For"), Some("X_REAL_IP2")] {
                    let wants = Wants::lean(extra);
                    let mut a = Head {
                        raw: raw.clone(),
                        ..Head::default()
                    };
                    let mut b = a.clone();
                    let (ra, rb) = if request {
                        (
                            a.parse_request_for(&wants, false),
                            b.parse_request_httparse(&wants, false),
                        )
                    } else {
                        (
                            a.parse_response_for(&wants, false),
                            b.parse_response_httparse(&wants, false),
                        )
                    };
                    let what = String::from_utf8_lossy(&raw);
                    assert_eq!(ra, rb, "{what:?} {extra:?}");
                    assert_eq!(view(&a, extra), view(&b, extra), "{what:?} {extra:?}");
                    assert_eq!(fields(&a), fields(&b), "{what:?} {extra:?}");
                    let mut probe = Head::default();
                    fast += usize::from(probe.scan(&raw, request, &wants, 4096).is_some());
                }
            }
        }
    }
    assert!(fast > 100_000, "the fast path was taken {fast} times");
}

/// A head split into two inputs at every offset (body bytes after it)
/// gives the head, consumed counts and message size of the whole input,
/// with the lean and the full table.
#[test]
fn a_head_split_at_every_offset_matches_the_whole_head() {
    let heads: [(bool, &[u8]); 3] = [
        (
            true,
            b"GET /small.txt HTTP/1.1\r\nHost: 10.99.0.1\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n",
        ),
        (
            false,
            concat!(
                "HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Wed, 02 Dec 2026 06:27:09 GMT\r\n",
                "Content-Type: text/plain\r\nContent-Length: 4\r\n",
                "Last-Modified: Wed, 02 Dec 2026 06:27:06 GMT\r\nConnection: keep-alive\r\n",
                "ETag: \"6b0fba3a-80\"\r\nAccept-Ranges: bytes\r\n\r\n"
            )
            .as_bytes(),
        ),
        (false, b"HTTP/1.1 200 OK\nContent-Length: 4\nX: y\n\n"),
    ];
    for (request, head) in heads {
        let mut input = head.to_vec();
        input.extend_from_slice(b"BODY");
        for wants in [
            Wants::ALL,
            Wants::lean(None),
            Wants::lean(Some("x-forwarded-for")),
        ] {
            let parse = |h: &mut Head| {
                if request {
                    h.parse_request_for(&wants, false)
                } else {
                    h.parse_response_for(&wants, false)
                }
            };
            let mut whole = StreamParser::new(request, DEFAULT_MAX_HEAD);
            let (n, step) = whole.feed_with(&input, &wants);
            assert_eq!((n, step), (head.len(), Step::Head));
            let mut a = Head::default();
            let ra = if whole.take_head(&mut a) {
                Ok(())
            } else {
                parse(&mut a)
            };
            for cut in 1..head.len() {
                let mut split = StreamParser::new(request, DEFAULT_MAX_HEAD);
                let (k, s) = split.feed_with(&input[..cut], &wants);
                assert_eq!((k, s), (cut, Step::More), "cut at {cut}");
                let (k, s) = split.feed_with(&input[cut..], &wants);
                assert_eq!((cut + k, s), (head.len(), Step::Head), "cut at {cut}");
                assert_eq!(split.msg_bytes(), whole.msg_bytes(), "cut at {cut}");
                let mut b = Head::default();
                let rb = if split.take_head(&mut b) {
                    Ok(())
                } else {
                    parse(&mut b)
                };
                assert_eq!(ra, rb, "cut at {cut}");
                assert_eq!(a.raw, b.raw, "cut at {cut}");
                assert_eq!(
                    view(&a, Some("x-forwarded-for")),
                    view(&b, Some("x-forwarded-for"))
                );
                assert_eq!(fields(&a), fields(&b), "cut at {cut}");
            }
        }
    }
}

/// A head parsed in place is the parser's until taken: `head()` shows
/// it, and a resync or a gap forgets it.
#[test]
fn a_head_parsed_in_place_is_forgotten_on_resync() {
    let mut p = StreamParser::new(true, DEFAULT_MAX_HEAD);
    let (n, s) = p.feed_with(GET_HEAD, &Wants::lean(None));
    assert_eq!((n, s), (GET_HEAD.len(), Step::Head));
    assert_eq!(p.head(), GET_HEAD);
    p.resync();
    let mut h = Head::default();
    assert!(!p.take_head(&mut h));
    assert!(h.raw.is_empty());
    let (_, s) = p.feed(GET_HEAD);
    assert_eq!(
        s,
        Step::More,
        "resynchronising: the line is looked at first"
    );
}

#[test]
fn framing_rules_follow_rfc_9112() {
    let resp = |s: &str| {
        let mut h = Head {
            raw: s.as_bytes().to_vec(),
            ..Head::default()
        };
        h.parse_response(false).unwrap();
        h.response_framing(false, false)
    };
    assert_eq!(
        resp("HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n"),
        Ok(Framing::None)
    );
    assert_eq!(resp("HTTP/1.1 304 Not Modified\r\n\r\n"), Ok(Framing::None));
    assert_eq!(resp("HTTP/1.1 100 Continue\r\n\r\n"), Ok(Framing::None));
    assert_eq!(resp("HTTP/1.0 200 OK\r\n\r\n"), Ok(Framing::Close));
    assert_eq!(
        resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 3\r\n\r\n"),
        Ok(Framing::Chunked)
    );
    assert_eq!(
        resp("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n"),
        Err(ParseError::InvalidContentLength)
    );
}

#[test]
fn start_line_probes() {
    assert!(looks_like_request_line(b"GET / HTTP/1.1\r\n"));
    assert!(looks_like_request_line(b"M-SEARCH * HTTP/1.1\n"));
    assert!(!looks_like_request_line(b"GET / HTTP/2.0\r\n"));
    assert!(!looks_like_request_line(b"GET HTTP/1.1\r\n"));
    assert!(!looks_like_request_line(b"{\"a\": 1} HTTP/1.1\r\n"));
    assert!(looks_like_status_line(b"HTTP/1.1 200 OK\r\n"));
    assert!(looks_like_status_line(b"HTTP/1.1 200\r\n"));
    assert!(!looks_like_status_line(b"HTTP/1.1 20x OK\r\n"));
    assert!(!looks_like_status_line(b"HTTP/1.12000 OK\r\n"));
}

fn run(p: &mut StreamParser, input: &[u8]) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut pos = 0;
    while pos < input.len() {
        let (n, s) = p.feed(&input[pos..]);
        pos += n;
        if s == Step::Head {
            let mut h = Head::default();
            if !p.take_head(&mut h) {
                h.parse_response(false).unwrap();
            }
            if p.set_body(h.response_framing(false, false).unwrap()) {
                steps.push(Step::Done);
            }
            continue;
        }
        if s != Step::More {
            steps.push(s);
        }
    }
    steps
}

#[test]
fn chunked_body_with_extensions_and_trailers() {
    let msg = concat!(
        "HTTP/1.1 200 OK\r\n",
        "Transfer-Encoding: chunked\r\n",
        "\r\n",
        "5;name=value\r\n",   // size 5 with a chunk extension
        "hello\r\n",          // data + CRLF
        "7\r\n",              // size 7
        ", world\r\n",        // data
        "0\r\n",              // last chunk
        "Expires: never\r\n", // trailer field
        "\r\n",               // end of trailers
    )
    .as_bytes();
    let mut p = StreamParser::new(false, DEFAULT_MAX_HEAD);
    let steps = run(&mut p, msg);
    assert_eq!(steps.last(), Some(&Step::Done));
    assert_eq!(p.body_bytes(), 12);
    assert_eq!(p.msg_bytes(), msg.len() as u64);
    assert!(!p.in_message());
}

#[test]
fn bad_chunk_size_is_an_error_then_resync_finds_the_next_response() {
    let msg = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nHTTP/1.1 204 No Content\r\n\r\n";
    let mut p = StreamParser::new(false, DEFAULT_MAX_HEAD);
    let steps = run(&mut p, msg);
    assert_eq!(
        steps,
        vec![Step::Error(ParseError::InvalidChunk), Step::Done]
    );
}

#[test]
fn every_prefix_of_a_message_is_incomplete_never_an_error() {
    let msg = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nServer: x\r\n\r\n3\r\nabc\r\n0\r\nT: 1\r\n\r\n";
    for cut in 0..msg.len() {
        let mut p = StreamParser::new(false, DEFAULT_MAX_HEAD);
        let steps = run(&mut p, &msg[..cut]);
        assert!(
            steps
                .iter()
                .all(|s| matches!(s, Step::Body { done: false, .. })),
            "prefix {cut}: {steps:?}"
        );
        assert!(p.in_message() || cut == 0, "prefix {cut}");
    }
}

/// The vectorised head-end search (whole head in one input) and the
/// line-by-line loop (one byte per input) end heads at the same byte.
#[test]
fn head_end_is_the_first_empty_line_whatever_the_line_ends() {
    let heads: [&[u8]; 6] = [
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\nBODY\r\n\r\n",
        b"GET / HTTP/1.1\nHost: a\n\nX: not a header\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\n\r\nnext\n\n",
        b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\n\nC: 3\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nA: x\ry\r\n\r\n",
    ];
    for msg in heads {
        // Lean: a head parsed in place keeps its names as received.
        let mut whole = StreamParser::new(true, DEFAULT_MAX_HEAD);
        let (n, step) = whole.feed_with(msg, &Wants::lean(None));
        assert_eq!(step, Step::Head, "{:?}", String::from_utf8_lossy(msg));
        let mut bytewise = StreamParser::new(true, DEFAULT_MAX_HEAD);
        let mut m = 0;
        loop {
            let (k, step) = bytewise.feed(&msg[m..=m]);
            m += k;
            if step == Step::Head {
                break;
            }
        }
        assert_eq!(
            (n, whole.head()),
            (m, bytewise.head()),
            "{:?}",
            String::from_utf8_lossy(msg)
        );
    }
}

#[test]
fn head_over_the_bound_is_skipped_to_its_end_keeping_the_framing() {
    let mut p = StreamParser::new(true, 128);
    let mut msg = b"POST / HTTP/1.1\r\nHost: h\r\n".to_vec();
    for i in 0..20 {
        msg.extend_from_slice(format!("X-Header-{i}: some value\r\n").as_bytes());
    }
    msg.extend_from_slice(b"Content-Length: 3\r\n\r\nabcGET /next HTTP/1.1\r\n\r\n");
    // Whole, and a byte at a time: the same head.
    for step in [msg.len(), 1] {
        let mut p2 = p.clone();
        let mut pos = 0;
        let head = loop {
            let end = (pos + step).min(msg.len());
            let (k, s) = p2.feed(&msg[pos..end]);
            pos += k;
            assert!(!matches!(s, Step::Error(_)), "{s:?}");
            if s == Step::Head {
                break p2.head().to_vec();
            }
        };
        assert!(p2.truncated());
        assert_eq!(
            head,
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n".to_vec(),
            "{}",
            String::from_utf8_lossy(&head)
        );
        let tail = b"abcGET /next HTTP/1.1\r\n\r\n".len();
        assert_eq!(p2.msg_bytes(), (msg.len() - tail) as u64);
        let mut h = Head::default();
        assert!(
            !p2.take_head(&mut h),
            "a truncated head is parsed by the caller"
        );
        h.parse_request(false).unwrap();
        assert!(!p2.set_body(h.request_framing().unwrap()));
        let (k, s) = p2.feed(&msg[pos..]);
        assert_eq!(
            (k, s),
            (
                3,
                Step::Body {
                    start: 0,
                    end: 3,
                    done: true
                }
            )
        );
        let (_, s) = p2.feed(&msg[pos + 3..]);
        assert_eq!(s, Step::Head, "the next request follows the body");
        assert!(!p2.truncated());
    }
    p.feed(b"GET ");
    assert!(p.in_message());
}

#[test]
fn a_start_line_over_the_bound_is_an_error_then_resync() {
    let mut p = StreamParser::new(true, 128);
    let mut msg = b"GET /".to_vec();
    msg.extend(std::iter::repeat_n(b'a', 300));
    msg.extend_from_slice(b" HTTP/1.1\r\n\r\nGET /next HTTP/1.1\r\n\r\n");
    let (n, s) = p.feed(&msg);
    assert_eq!(s, Step::Error(ParseError::HeadTooLarge));
    let mut pos = n;
    let mut found = false;
    while pos < msg.len() {
        let (k, s) = p.feed(&msg[pos..]);
        pos += k;
        found |= s == Step::Head;
    }
    assert!(found, "resynced at the next request line");
}

#[test]
fn resync_finds_a_start_line_glued_to_undelimited_bytes() {
    assert_eq!(request_line_start(b"abcGET / HTTP/1.1\r\n"), Some(3));
    assert_eq!(request_line_start(b"GET / HTTP/1.1\r\n"), Some(0));
    assert_eq!(request_line_start(b"xOPTIONS * HTTP/1.1\r\n"), Some(1));
    assert_eq!(request_line_start(b"M-SEARCH * HTTP/1.1\r\n"), Some(0));
    assert_eq!(request_line_start(b"abc def\r\n"), None);
    assert_eq!(status_line_start(b"xyzHTTP/1.1 200 OK\r\n"), Some(3));
    assert_eq!(status_line_start(b"HTTP/1.1 200 OK\r\n"), Some(0));
    assert_eq!(status_line_start(b"HTTP/1.1 2x0 OK\r\n"), None);
    let mut p = StreamParser::new(true, DEFAULT_MAX_HEAD);
    p.resync();
    let (n, s) = p.feed(b"abcGET /b HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(s, Step::More);
    let (_, s) = p.feed(&b"abcGET /b HTTP/1.1\r\nHost: h\r\n\r\n"[n..]);
    assert_eq!(s, Step::Head);
    assert!(p.head().starts_with(b"GET /b HTTP/1.1"));
    assert_eq!(p.skipped(), 3);
}

#[test]
fn binary_first_bytes_are_not_http_before_any_line_end() {
    let mut p = StreamParser::new(true, DEFAULT_MAX_HEAD);
    // A PostgreSQL StartupMessage: no LF anywhere.
    let (_, s) = p.feed(b"\x00\x00\x00\x08\x04\xd2\x16\x2f");
    assert_eq!(s, Step::Error(ParseError::NotHttp));
    let mut r = StreamParser::new(false, DEFAULT_MAX_HEAD);
    assert_eq!(r.feed(b"HTTP/1.").1, Step::More, "a prefix is no error");
    let mut r = StreamParser::new(false, DEFAULT_MAX_HEAD);
    assert_eq!(r.feed(b"R\x00\x00\x00").1, Step::Error(ParseError::NotHttp));
    let mut q = StreamParser::new(true, DEFAULT_MAX_HEAD);
    assert_eq!(q.feed(b"PROPFIND /d").1, Step::More);
}

#[test]
fn gap_in_a_length_body_keeps_the_message() {
    let mut p = StreamParser::new(false, DEFAULT_MAX_HEAD);
    let head = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
    assert_eq!(run(&mut p, head), vec![]);
    assert_eq!(
        p.feed(&[0u8; 10]).1,
        Step::Body {
            start: 0,
            end: 10,
            done: false
        }
    );
    assert_eq!(p.gap(50), GapEffect::InBody { done: false });
    assert_eq!(
        p.feed(&[0u8; 40]).1,
        Step::Body {
            start: 0,
            end: 40,
            done: true
        }
    );
    assert_eq!(p.msg_bytes(), head.len() as u64 + 100);
}
