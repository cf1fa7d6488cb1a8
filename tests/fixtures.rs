//! The captures committed under tests/data (made with real servers and
//! clients in network namespaces by tests/data/make-captures.sh) against
//! the values tshark computed from them when they were made
//! (`<name>.expected.json`, written by tests/data/oracle.py): per-flow
//! frames and bytes in each direction, the handshake RTT, and the HTTP
//! transactions, methods and status codes.

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;

fn expected(name: &str) -> Value {
    let text =
        std::fs::read_to_string(data(&format!("{name}.expected.json"))).expect("oracle file");
    serde_json::from_str(&text).expect("oracle JSON")
}

/// "10.99.0.2:51200" or "[fd99::2]:49126" to (ip, port).
fn endpoint(s: &str) -> (String, u64) {
    let (host, port) = s.rsplit_once(':').expect("host:port");
    (
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
        port.parse().expect("port"),
    )
}

fn find_flow<'a>(flows: &[&'a Value], client: &(String, u64), server: &(String, u64)) -> &'a Value {
    flows
        .iter()
        .find(|f| {
            f["client"]["ip"] == client.0.as_str()
                && f["client"]["port"] == client.1
                && f["server"]["ip"] == server.0.as_str()
                && f["server"]["port"] == server.1
        })
        .unwrap_or_else(|| panic!("no flow {client:?} -> {server:?}"))
}

fn check_flows(name: &str) -> Vec<Value> {
    let exp = expected(name);
    let events = replay(&[data(&format!("{name}.pcap")).to_str().unwrap()]);
    let flows = of_type(&events, "flow");
    let convs: Vec<&Value> = exp["tcp"]
        .as_array()
        .unwrap()
        .iter()
        .chain(exp["udp"].as_array().unwrap().iter())
        .collect();
    assert_eq!(
        flows.len(),
        convs.len(),
        "{name}: one flow per conversation"
    );
    for c in &convs {
        let client = endpoint(c["client"].as_str().unwrap());
        let server = endpoint(c["server"].as_str().unwrap());
        let f = find_flow(&flows, &client, &server);
        let (up, down) = (&c["client_to_server"], &c["server_to_client"]);
        assert_eq!(f["source"]["packets"], up["frames"], "{name} {client:?}");
        assert_eq!(f["source"]["bytes"], up["frame_bytes"], "{name} {client:?}");
        assert_eq!(
            f["destination"]["packets"], down["frames"],
            "{name} {client:?}"
        );
        assert_eq!(
            f["destination"]["bytes"], down["frame_bytes"],
            "{name} {client:?}"
        );
        assert_eq!(f["network"]["transport"], c["proto"], "{name} {client:?}");
        if c["proto"] == "tcp" {
            if c["rst_seen"] == true && down["frames"] == 1 {
                // Refused: tshark calls SYN -> RST an initial RTT; we report
                // the rejection and no RTT (there was no handshake).
                assert_eq!(
                    f["tcp"]["syn_rejected"], true,
                    "{name}: refused connection {f}"
                );
                assert!(f["tcp"]["handshake_rtt_us"].is_null(), "{name}: {f}");
                continue;
            }
            let stream = c["stream"].as_u64().unwrap().to_string();
            if let Some(rtt) = exp["initial_rtt"][stream.as_str()].as_f64() {
                let ours = f["tcp"]["handshake_rtt_us"]
                    .as_f64()
                    .expect("handshake RTT");
                assert!(
                    (ours - rtt * 1e6).abs() <= 10.0,
                    "{name} stream {stream}: ours {ours} µs, tshark {} µs",
                    rtt * 1e6
                );
            }
        }
    }
    events
}

fn histogram<'a>(it: impl Iterator<Item = &'a Value>) -> BTreeMap<String, u64> {
    let mut h = BTreeMap::new();
    for v in it {
        let k = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        *h.entry(k).or_insert(0) += 1;
    }
    h
}

fn check_http(name: &str, events: &[Value]) {
    let exp = &expected(name)["http"];
    let http = of_type(events, "http");
    assert_eq!(
        http.len() as u64,
        exp["responses"].as_u64().unwrap(),
        "{name}: one event per response"
    );
    let codes = histogram(http.iter().map(|e| &e["http"]["response"]["status_code"]));
    let want: BTreeMap<String, u64> = exp["status_codes"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect();
    assert_eq!(codes, want, "{name}: status codes");
    let methods = histogram(http.iter().map(|e| &e["http"]["request"]["method"]));
    let want: BTreeMap<String, u64> = exp["methods"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect();
    assert_eq!(methods, want, "{name}: methods");
    let mut ours: Vec<String> = http
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["http"]["request"]["method"].as_str().unwrap(),
                e["url"]["path"].as_str().unwrap()
            )
        })
        .collect();
    let mut theirs: Vec<String> = exp["requests_in_order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let uri = r["uri"].as_str().unwrap();
            format!(
                "{} {}",
                r["method"].as_str().unwrap(),
                uri.split('?').next().unwrap()
            )
        })
        .collect();
    ours.sort();
    theirs.sort();
    assert_eq!(ours, theirs, "{name}: requests");
    assert!(http.iter().all(|e| e["status"]
        == if e["http"]["response"]["status_code"].as_u64().unwrap() >= 400 {
            "Error"
        } else {
            "OK"
        }));
}

#[test]
fn http_sample_matches_tshark() {
    let events = check_flows("http_sample");
    check_http("http_sample", &events);
}

#[test]
fn http_ipv6_matches_tshark() {
    let events = check_flows("http_ipv6");
    check_http("http_ipv6", &events);
}

#[test]
fn flows_sample_matches_tshark() {
    check_flows("flows_sample");
}

/// A real capture with one data segment reordered and one lost before the
/// capture point (tests/data/make-impaired.py): out-of-order and
/// retransmission counts equal tshark's, the lost bytes are reported as a
/// gap, and the HTTP transaction survives the loss, marked, where tshark
/// loses the response altogether.
#[test]
fn impaired_capture_out_of_order_and_loss_match_tshark() {
    let exp = expected("impaired_http");
    let events = replay(&[data("impaired_http.pcap").to_str().unwrap()]);
    let flows = of_type(&events, "flow");
    let sum = |side: &str, field: &str| -> u64 {
        flows
            .iter()
            .map(|f| f["tcp"][side][field].as_u64().unwrap_or(0))
            .sum()
    };
    let ooo = sum("client", "out_of_order_segments") + sum("server", "out_of_order_segments");
    let retrans = sum("client", "retransmitted_segments") + sum("server", "retransmitted_segments");
    assert_eq!(
        ooo,
        exp["out_of_order"].as_u64().unwrap(),
        "out-of-order segments"
    );
    assert_eq!(
        retrans,
        exp["retransmissions"].as_u64().unwrap(),
        "retransmissions"
    );
    assert_eq!(
        sum("server", "gap_bytes"),
        exp["dropped_bytes"].as_u64().unwrap(),
        "lost bytes"
    );
    assert_eq!(sum("client", "gap_bytes"), 0);
    let http = of_type(&events, "http");
    let lossy: Vec<_> = http
        .iter()
        .filter(|e| !e["error"]["message"].is_null())
        .collect();
    assert_eq!(lossy.len(), 1, "one transaction hit the loss");
    assert_eq!(
        lossy[0]["error"]["message"],
        "Packet loss while capturing the response"
    );
    assert_eq!(lossy[0]["url"]["path"], "/big.txt");
    assert_eq!(lossy[0]["status"], "OK");
    // Every other transaction of the sample is still there.
    assert_eq!(
        http.len(),
        expected("http_sample")["http"]["responses"]
            .as_u64()
            .unwrap() as usize
    );
    assert_eq!(
        http.len() as u64,
        exp["http_responses"].as_u64().unwrap() + 1
    );
}
