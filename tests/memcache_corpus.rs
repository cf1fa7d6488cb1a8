//! End to end: `spanlens replay` on every Memcache capture of the Packetbeat
//! corpus (text and binary, TCP and UDP), asserting the values MANIFEST.md
//! lists from Packetbeat's tests (test_0040_memcache_tcp_{bin,text}_basic.py,
//! test_0041_memcache_udp_{bin,text}_basic.py). Packetbeat's event order is
//! kept except where its tests index events by key; the last event of each
//! TCP capture is the client's `quit`.

mod common;

use common::{config_file, corpus, of_type, replay};
use serde_json::{json, Value};

fn events(file: &str) -> Option<Vec<Value>> {
    let dir = corpus()?;
    let cfg = config_file("[flows]\nenabled = false\n");
    let path = dir.join(file);
    let all = replay(&[
        "-c",
        cfg.path().to_str().expect("utf-8 temp path"),
        path.to_str().expect("utf-8 corpus path"),
    ]);
    let ev: Vec<Value> = of_type(&all, "memcache").into_iter().cloned().collect();
    for e in &ev {
        assert_eq!(e["client"]["ip"], "192.168.188.37");
        assert_eq!(e["server"]["ip"], "192.168.188.38");
        assert_eq!(e["server"]["port"], 11211);
    }
    Some(ev)
}

fn req(e: &Value) -> &Value {
    &e["memcache"]["request"]
}

fn resp(e: &Value) -> &Value {
    &e["memcache"]["response"]
}

fn by_key<'a>(ev: &'a [Value], key: &str) -> &'a Value {
    ev.iter()
        .find(|e| req(e)["keys"][0] == key)
        .unwrap_or_else(|| panic!("no event for key {key}"))
}

fn all_ok(ev: &[Value]) {
    for e in ev {
        assert_eq!(e["status"], "OK", "{e}");
    }
}

fn protocol(ev: &[Value], transport: &str, kind: &str) {
    for e in ev {
        assert_eq!(e["network"]["transport"], transport);
        assert_eq!(e["memcache"]["protocol_type"], kind);
    }
}

#[test]
fn bin_tcp_single_load_store() {
    let Some(ev) = events("memcache_bin_tcp_single_load_store.pcap") else {
        return;
    };
    protocol(&ev, "tcp", "binary");
    all_ok(&ev);
    let set = &ev[0];
    assert_eq!(req(set)["opcode"], "Set");
    assert_eq!(req(set)["command"], "set");
    assert_eq!(req(set)["type"], "Store");
    assert_eq!(req(set)["keys"], json!(["test_key"]));
    assert_eq!(req(set)["exptime"], 0);
    assert_eq!(req(set)["bytes"], 2046);
    assert_eq!(req(set)["count_values"], 1);
    assert_eq!(resp(set)["opcode"], "Set");
    assert_eq!(resp(set)["status"], "Success");
    assert!(resp(set)["cas_unique"].is_u64());
    assert_eq!(req(set)["opaque"], resp(set)["opaque"]);
    let get = &ev[1];
    assert_eq!(req(get)["opcode"], "GetK");
    assert_eq!(req(get)["command"], "get");
    assert_eq!(req(get)["type"], "Load");
    assert_eq!(resp(get)["type"], "Load");
    assert_eq!(resp(get)["count_values"], 1);
    assert_eq!(resp(get)["bytes"], 2046);
    assert_eq!(resp(get)["keys"], json!(["test_key"]));
    assert!(resp(get)["cas_unique"].is_u64());
    assert_eq!(ev.len(), 3);
}

#[test]
fn bin_tcp_multi_store_load_with_quiet_gets() {
    let Some(ev) = events("memcache_bin_tcp_multi_store_load.pcap") else {
        return;
    };
    protocol(&ev, "tcp", "binary");
    all_ok(&ev);
    assert_eq!(ev.len(), 10);
    for (k, n) in [("k1", 100), ("k2", 20), ("k3", 10)] {
        let s = ev[..3].iter().find(|e| req(e)["keys"][0] == k).unwrap();
        assert_eq!(req(s)["bytes"], n);
        assert_eq!(req(s)["opcode"], "Set");
        assert_eq!(resp(s)["status"], "Success");
        assert!(resp(s)["cas_unique"].is_u64());
        assert_eq!(req(s)["opaque"], resp(s)["opaque"]);
    }
    let gets = &ev[3..8];
    for g in gets {
        assert_eq!(req(g)["opcode"], "GetKQ");
        assert_eq!(req(g)["command"], "get");
        assert_eq!(req(g)["quiet"], true);
    }
    assert!(by_key(gets, "x")["memcache"].get("response").is_none());
    assert!(by_key(gets, "y")["memcache"].get("response").is_none());
    for k in ["k1", "k2", "k3"] {
        let g = by_key(gets, k);
        assert_eq!(resp(g)["status"], "Success");
        assert!(resp(g)["cas_unique"].is_u64());
        assert_eq!(req(g)["opaque"], resp(g)["opaque"]);
    }
    let noop = &ev[8];
    assert_eq!(req(noop)["command"], "noop");
    assert_eq!(req(noop)["opaque"], resp(noop)["opaque"]);
}

#[test]
fn bin_tcp_counter_ops() {
    let Some(ev) = events("memcache_bin_tcp_counter_ops.pcap") else {
        return;
    };
    protocol(&ev, "tcp", "binary");
    all_ok(&ev);
    assert_eq!(ev.len(), 5);
    let (set, inc, dec, get) = (&ev[0], &ev[1], &ev[2], &ev[3]);
    assert_eq!(req(set)["keys"], json!(["cnt"]));
    assert_eq!(req(set)["bytes"], 1);
    assert_eq!(req(inc)["opcode"], "Increment");
    assert_eq!(req(inc)["command"], "incr");
    assert_eq!(req(inc)["delta"], 2);
    assert_eq!(req(inc)["initial"], 0);
    assert_eq!(resp(inc)["value"], 2);
    assert_eq!(req(dec)["opcode"], "Decrement");
    assert_eq!(req(dec)["delta"], 5);
    assert_eq!(resp(dec)["value"], 0);
    assert_eq!(req(get)["opcode"], "GetK");
    assert_eq!(resp(get)["count_values"], 1);
    assert_eq!(resp(get)["bytes"], 1);
    assert_eq!(resp(get)["keys"], json!(["cnt"]));
}

#[test]
fn bin_tcp_delete_then_miss() {
    let Some(ev) = events("memcache_bin_tcp_delete.pcap") else {
        return;
    };
    protocol(&ev, "tcp", "binary");
    assert_eq!(ev.len(), 4);
    assert_eq!(ev[0]["status"], "OK");
    assert_eq!(req(&ev[0])["command"], "set");
    assert_eq!(req(&ev[0])["opaque"], resp(&ev[0])["opaque"]);
    assert_eq!(ev[1]["status"], "OK");
    assert_eq!(req(&ev[1])["opcode"], "Delete");
    assert_eq!(req(&ev[1])["type"], "Delete");
    assert_eq!(resp(&ev[1])["status"], "Success");
    assert_eq!(ev[2]["status"], "Error");
    assert_eq!(req(&ev[2])["type"], "Load");
    assert_eq!(req(&ev[2])["keys"], json!(["key"]));
    assert_eq!(resp(&ev[2])["status"], "Key not found");
}

#[test]
fn bin_tcp_stats() {
    let Some(ev) = events("memcache_bin_tcp_stats.pcap") else {
        return;
    };
    protocol(&ev, "tcp", "binary");
    all_ok(&ev);
    let t = &ev[2];
    assert_eq!(req(t)["opcode"], "Stat");
    assert_eq!(req(t)["command"], "stats");
    assert_eq!(req(t)["type"], "Stats");
    assert_eq!(resp(t)["type"], "Stats");
    assert_eq!(req(t)["opaque"], resp(t)["opaque"]);
    let stats = resp(t)["stats"].as_array().unwrap();
    assert!(!stats.is_empty());
    assert!(stats.iter().all(
        |s| !s["name"].as_str().unwrap().is_empty() && !s["value"].as_str().unwrap().is_empty()
    ));
    assert!(stats.iter().any(|s| s["name"] == "pid"));
}

#[test]
fn text_tcp_single_load_store() {
    let Some(ev) = events("memcache_text_tcp_single_load_store.pcap") else {
        return;
    };
    protocol(&ev, "tcp", "text");
    all_ok(&ev);
    let set = &ev[0];
    assert_eq!(req(set)["command"], "set");
    assert_eq!(req(set)["type"], "Store");
    assert_eq!(req(set)["keys"], json!(["test_key"]));
    assert_eq!(req(set)["exptime"], 0);
    assert_eq!(req(set)["bytes"], 2046);
    assert_eq!(req(set)["count_values"], 1);
    assert_eq!(req(set)["noreply"], false);
    assert_eq!(resp(set)["type"], "Success");
    let get = &ev[1];
    assert_eq!(req(get)["command"], "get");
    assert_eq!(resp(get)["type"], "Load");
    assert_eq!(resp(get)["count_values"], 1);
    assert_eq!(resp(get)["keys"], json!(["test_key"]));
}

#[test]
fn text_tcp_multi_get() {
    let Some(ev) = events("memcache_text_tcp_multi_store_load.pcap") else {
        return;
    };
    protocol(&ev, "tcp", "text");
    all_ok(&ev);
    for (k, n) in [("k1", 100), ("k2", 20), ("k3", 10)] {
        let s = by_key(&ev[..3], k);
        assert_eq!(req(s)["bytes"], n);
        assert_eq!(resp(s)["type"], "Success");
    }
    let get = &ev[3];
    assert_eq!(req(get)["keys"], json!(["x", "k1", "k2", "k3", "y"]));
    assert_eq!(resp(get)["keys"], json!(["k1", "k2", "k3"]));
    assert_eq!(resp(get)["bytes"], 130);
    assert_eq!(resp(get)["count_values"], 3);
}

#[test]
fn text_tcp_counter_ops() {
    let Some(ev) = events("memcache_text_tcp_counter_ops.pcap") else {
        return;
    };
    protocol(&ev, "tcp", "text");
    all_ok(&ev);
    assert_eq!(ev.len(), 5);
    assert_eq!(req(&ev[1])["command"], "incr");
    assert_eq!(req(&ev[1])["delta"], 2);
    assert_eq!(resp(&ev[1])["value"], 2);
    assert_eq!(req(&ev[2])["command"], "decr");
    assert_eq!(req(&ev[2])["delta"], 5);
    assert_eq!(resp(&ev[2])["value"], 0);
    assert_eq!(req(&ev[3])["type"], "Load");
    assert_eq!(req(&ev[3])["keys"], json!(["cnt"]));
    assert_eq!(req(&ev[4])["command"], "quit");
}

#[test]
fn text_tcp_delete_then_empty_get() {
    let Some(ev) = events("memcache_text_tcp_delete.pcap") else {
        return;
    };
    protocol(&ev, "tcp", "text");
    all_ok(&ev);
    assert_eq!(ev.len(), 4);
    assert_eq!(req(&ev[1])["command"], "delete");
    assert_eq!(req(&ev[1])["type"], "Delete");
    assert_eq!(resp(&ev[1])["type"], "Success");
    assert_eq!(req(&ev[2])["command"], "get");
    assert_eq!(resp(&ev[2])["command"], "END");
    assert_eq!(resp(&ev[2])["count_values"], 0);
}

#[test]
fn text_tcp_stats() {
    let Some(ev) = events("memcache_text_tcp_stats.pcap") else {
        return;
    };
    protocol(&ev, "tcp", "text");
    all_ok(&ev);
    let t = &ev[2];
    assert_eq!(req(t)["command"], "stats");
    assert!(req(t)["raw_args"].is_string());
    assert_eq!(req(t)["type"], "Stats");
    assert_eq!(resp(t)["command"], "STAT");
    assert_eq!(resp(t)["type"], "Stats");
    let stats = resp(t)["stats"].as_array().unwrap();
    assert!(!stats.is_empty());
    assert!(stats.iter().all(
        |s| !s["name"].as_str().unwrap().is_empty() && !s["value"].as_str().unwrap().is_empty()
    ));
}

/// The UDP captures: one quiet (binary) or noreply (text) store per datagram.
fn udp(file: &str, kind: &str, expect: &[(&str, &str, Option<u64>, Option<u64>)]) {
    let Some(ev) = events(file) else {
        return;
    };
    protocol(&ev, "udp", kind);
    all_ok(&ev);
    assert_eq!(ev.len(), expect.len(), "{file}");
    for (e, (cmd, key, bytes, delta)) in ev.iter().zip(expect) {
        let r = req(e);
        assert_eq!(r["command"], *cmd);
        assert_eq!(r["keys"], json!([key]));
        if let Some(b) = bytes {
            assert_eq!(r["bytes"], *b);
        }
        if let Some(d) = delta {
            assert_eq!(r["delta"], *d);
        }
        if kind == "binary" {
            assert_eq!(r["quiet"], true);
        } else {
            assert_eq!(r["noreply"], true);
        }
        assert!(e["memcache"].get("response").is_none());
    }
}

/// The four UDP captures Packetbeat has in each flavour
/// (`memcache_{bin,text}_udp_*.pcap`), with the same stores in both.
type UdpCase = (
    &'static str,
    &'static [(&'static str, &'static str, Option<u64>, Option<u64>)],
);
const UDP_CASES: &[UdpCase] = &[
    ("single_store", &[("set", "test_key", Some(1024), None)]),
    (
        "multi_store",
        &[
            ("set", "k3", Some(10), None),
            ("set", "k2", Some(20), None),
            ("set", "k1", Some(100), None),
        ],
    ),
    (
        "delete",
        &[("set", "key", Some(3), None), ("delete", "key", None, None)],
    ),
    (
        "counter_ops",
        &[
            ("set", "cnt", Some(1), None),
            ("incr", "cnt", None, Some(2)),
            ("decr", "cnt", None, Some(5)),
        ],
    ),
];

/// Every UDP case in one flavour: `prefix` in the file name, `kind` in the events.
fn udp_cases(prefix: &str, kind: &str) {
    for (name, expect) in UDP_CASES {
        udp(&format!("memcache_{prefix}_udp_{name}.pcap"), kind, expect);
    }
}

#[test]
fn bin_udp_captures() {
    udp_cases("bin", "binary");
    if let Some(ev) = events("memcache_bin_udp_counter_ops.pcap") {
        for (e, op) in ev.iter().zip(["SetQ", "IncrementQ", "DecrementQ"]) {
            assert_eq!(req(e)["opcode"], op);
        }
    }
}

#[test]
fn text_udp_captures() {
    udp_cases("text", "text");
}

/// memcache-tools.pcap (made by make-captures-memcache.sh with memcached and
/// libmemcached-tools, text and binary over TCP, stores over UDP) against
/// tshark's memcache dissector: the same commands, opcodes and statuses.
#[test]
fn memcached_tools_capture_matches_tshark() {
    use std::collections::BTreeMap;
    let oracle: Value = serde_json::from_slice(
        &std::fs::read(common::data("memcache-tools.expected.json")).expect("oracle file"),
    )
    .expect("oracle JSON");
    let pcap = common::data("memcache-tools.pcap");
    let bytes = std::fs::read(&pcap).expect("capture");
    let sha = {
        use sha2::{Digest, Sha256};
        Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    assert_eq!(oracle["sha256"], sha, "the oracle belongs to this capture");
    let cfg = config_file("[flows]\nenabled = false\n");
    let all = replay(&["-c", cfg.path().to_str().unwrap(), pcap.to_str().unwrap()]);
    let ev: Vec<&Value> = of_type(&all, "memcache");
    let hist = |f: &dyn Fn(&Value) -> Option<String>| -> BTreeMap<String, u64> {
        let mut m = BTreeMap::new();
        for e in &ev {
            if let Some(k) = f(e) {
                *m.entry(k).or_insert(0) += 1;
            }
        }
        m
    };
    let want = |k: &str| -> BTreeMap<String, u64> {
        oracle[k]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
            .collect()
    };
    let tcp = |e: &Value, kind: &str| {
        e["network"]["transport"] == "tcp" && e["memcache"]["protocol_type"] == kind
    };
    // Text: tshark 4.0 does not dissect `touch`; spanlens reports it too.
    let mut text =
        hist(&|e| tcp(e, "text").then(|| req(e)["command"].as_str().unwrap().to_string()));
    assert_eq!(text.remove("touch"), Some(1));
    assert_eq!(text, want("tcp_text_commands"));
    let bin_req = hist(&|e| tcp(e, "binary").then(|| req(e)["opcode_value"].to_string()));
    assert_eq!(bin_req, want("tcp_binary_requests"));
    // tshark counts every response packet (a stats answer is many packets):
    // the failures are one per event, the successes add up with the stats.
    let mut statuses = want("tcp_binary_responses");
    let ok_packets = statuses.remove("0").unwrap();
    let bin_fail = hist(&|e| {
        let s = resp(e)["status_code"].as_u64()?;
        (tcp(e, "binary") && s != 0).then(|| s.to_string())
    });
    assert_eq!(bin_fail, statuses);
    let stat_packets: u64 = ev
        .iter()
        .filter(|e| tcp(e, "binary") && req(e)["command"] == "stats")
        .map(|e| resp(e)["stats"].as_array().unwrap().len() as u64 + 1)
        .sum();
    let other_ok = ev
        .iter()
        .filter(|e| tcp(e, "binary") && resp(e)["status_code"] == 0 && req(e)["command"] != "stats")
        .count() as u64;
    assert_eq!(stat_packets + other_ok, ok_packets);
    for e in &ev {
        let failed = resp(e)["status_code"].as_u64().is_some_and(|s| s != 0);
        assert_eq!(e["status"], if failed { "Error" } else { "OK" }, "{e}");
    }
    // UDP: two stores sent, one per datagram, neither answered (the one
    // server datagram is an empty frame).
    let udp: Vec<&&Value> = ev
        .iter()
        .filter(|e| e["network"]["transport"] == "udp")
        .collect();
    assert_eq!(
        udp.len() as u64,
        oracle["udp_datagrams_to_server"].as_u64().unwrap()
    );
    assert!(udp.iter().all(|e| req(e)["command"] == "set"));
}
