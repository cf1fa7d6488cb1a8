//! Hard traffic (issue 17): captures that broke spanlens, each made by
//! tests/data/make-hard.py (derived from real traffic where a real stack
//! cannot produce the case, generated otherwise).

mod common;

use common::*;
use serde_json::Value;

/// Replays with `--stats-json`; returns events and the counters.
fn replay_stats(args: &[&str]) -> (Vec<Value>, Value) {
    let stats = tempfile::NamedTempFile::new().unwrap();
    let mut all = vec!["--stats-json", stats.path().to_str().unwrap()];
    all.extend_from_slice(args);
    let events = replay(&all);
    let s: Value = serde_json::from_slice(&std::fs::read(stats.path()).unwrap()).unwrap();
    (events, s)
}

fn flow_on_port<'a>(events: &'a [Value], port: u64) -> Vec<&'a Value> {
    of_type(events, "flow")
        .into_iter()
        .filter(|f| f["source"]["port"] == port && f["flow"]["final"] == true)
        .collect()
}

#[test]
fn out_of_window_rsts_are_ignored_and_every_transaction_comes_out() {
    let path = data("rst_injected_http.pcap");
    let (events, stats) = replay_stats(&[path.to_str().unwrap()]);
    // Same 15 transactions as the capture without the forged RSTs.
    let http = of_type(&events, "http");
    assert_eq!(http.len(), 15);
    let on_8: Vec<_> = http
        .iter()
        .filter(|e| e["source"]["port"] == 51260)
        .collect();
    assert_eq!(on_8.len(), 3, "keep-alive stream keeps its 3 requests");
    let codes: Vec<u64> = on_8
        .iter()
        .map(|e| e["http"]["response"]["status_code"].as_u64().unwrap())
        .collect();
    assert_eq!(codes, [200, 404, 200]);
    assert_eq!(stats["tcp"]["resets_ignored"], 3);

    let f8 = flow_on_port(&events, 51260);
    assert_eq!(f8.len(), 1);
    assert_eq!(f8[0]["tcp"]["state"], "closed");
    assert_eq!(f8[0]["tcp"]["server"]["resets_ignored"], 1);
    assert_eq!(f8[0]["tcp"]["client"]["resets_ignored"], 1);
    assert_eq!(f8[0]["tcp"]["server"]["resets"], 0);

    // The stale RST|ACK before the SYN-ACK is no rejection.
    let f0 = flow_on_port(&events, 51200);
    assert_eq!(f0.len(), 1);
    assert!(f0[0]["tcp"].get("syn_rejected").is_none(), "{}", f0[0]);
    assert!(f0[0]["tcp"]["handshake_rtt_us"].is_u64());
    assert_eq!(f0[0]["tcp"]["server"]["resets_ignored"], 1);
}
