//! End to end: `spanlens replay` on every Cassandra capture of the
//! Packetbeat corpus (CQL v4, loopback, port 9042), asserting the values
//! MANIFEST.md lists from Packetbeat's test_0062_cassandra.py, and, where
//! tshark is installed, that every CQL frame tshark's dissector sees
//! (`-d tcp.port==9042,cql`: connection, stream id, opcode) is in exactly
//! one event, as a request or as its answer.
//!
//! One deliberate difference from Packetbeat: cassandra_compressed.pcap
//! answers two pipelined queries in reverse order. Packetbeat pairs in
//! arrival order (its test pairs the system.local QUERY on stream 0 with
//! the RESULT of stream 64, and reads a row count of 290917 from the
//! column specs); spanlens pairs by stream id, as the protocol says, and
//! reports tshark's row count.

mod common;

use common::{config_file, corpus, have, of_type, replay};
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::Command;

const CONFIG: &str = "[flows]\nenabled = false\n";

fn events_with(file: &str, config: &str) -> Option<Vec<Value>> {
    let dir = corpus()?;
    let cfg = config_file(config);
    let path = dir.join(file);
    let all = replay(&[
        "-c",
        cfg.path().to_str().expect("utf-8 temp path"),
        path.to_str().expect("utf-8 corpus path"),
    ]);
    let ev: Vec<Value> = of_type(&all, "cassandra").into_iter().cloned().collect();
    for e in &ev {
        assert_eq!(e["server"]["port"], 9042, "{e}");
    }
    Some(ev)
}

fn events(file: &str) -> Option<Vec<Value>> {
    let ev = events_with(file, CONFIG)?;
    tshark_agrees(file, &ev);
    Some(ev)
}

/// The events of the connection from client port `port`, by start time
/// (connections are decoded by different workers: their events interleave).
fn conn(ev: &[Value], port: u64) -> Vec<Value> {
    let mut v: Vec<Value> = ev
        .iter()
        .filter(|e| e["client"]["port"] == port)
        .cloned()
        .collect();
    v.sort_by(|a, b| {
        let t = |e: &Value| e["event"]["start"].as_str().unwrap_or_default().to_string();
        t(a).cmp(&t(b))
    });
    v
}

fn req(e: &Value) -> &Value {
    &e["cassandra"]["request"]
}

fn resp(e: &Value) -> &Value {
    &e["cassandra"]["response"]
}

/// The event's `source.bytes` and `destination.bytes` are `src` and `dst`.
#[track_caller]
fn bytes(e: &Value, src: u64, dst: u64) {
    assert_eq!(
        (
            e["source"]["bytes"].as_u64(),
            e["destination"]["bytes"].as_u64()
        ),
        (Some(src), Some(dst)),
        "{e}"
    );
}

/// `headers` has the version, op, length, flags and stream given.
fn headers(h: &Value, op: &str, length: u64, flags: &str, stream: i64) {
    assert_eq!(h["headers"]["version"], "4", "{h}");
    assert_eq!(h["headers"]["op"], op, "{h}");
    assert_eq!(h["headers"]["length"], length, "{h}");
    assert_eq!(h["headers"]["flags"], flags, "{h}");
    assert_eq!(h["headers"]["stream"], stream, "{h}");
}

/// Every CQL frame tshark sees, as (client port, stream id, opcode), is in
/// exactly one event (its request or its response headers).
fn tshark_agrees(file: &str, ev: &[Value]) {
    if !have("tshark") {
        common::skip("tshark not installed: CQL frames not compared");
        return;
    }
    let path = corpus().expect("corpus").join(file);
    let out = Command::new("tshark")
        .args([
            "-r",
            path.to_str().unwrap(),
            "-d",
            "tcp.port==9042,cql",
            "-Y",
            "cql",
        ])
        .args(["-T", "fields", "-E", "occurrence=a", "-E", "separator=;"])
        .args([
            "-e",
            "tcp.srcport",
            "-e",
            "tcp.dstport",
            "-e",
            "cql.stream",
            "-e",
            "cql.opcode",
        ])
        .output()
        .expect("tshark runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut want: BTreeMap<(u64, i64, u64), u64> = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.split(';').collect();
        let (src, dst): (u64, u64) = (f[0].parse().unwrap(), f[1].parse().unwrap());
        let client = if dst == 9042 { src } else { dst };
        let streams: Vec<i64> = f[2].split(',').map(|s| s.parse().unwrap()).collect();
        let ops: Vec<u64> = f[3].split(',').map(|s| s.parse().unwrap()).collect();
        assert_eq!(streams.len(), ops.len(), "{line}");
        for (s, o) in streams.into_iter().zip(ops) {
            *want.entry((client, s, o)).or_insert(0) += 1;
        }
    }
    let code = |name: &str| -> u64 {
        [
            "ERROR",
            "STARTUP",
            "READY",
            "AUTHENTICATE",
            "",
            "OPTIONS",
            "SUPPORTED",
            "QUERY",
            "RESULT",
            "PREPARE",
            "EXECUTE",
            "REGISTER",
            "EVENT",
            "BATCH",
        ]
        .iter()
        .position(|n| *n == name)
        .unwrap_or_else(|| panic!("op {name}")) as u64
    };
    let mut got: BTreeMap<(u64, i64, u64), u64> = BTreeMap::new();
    for e in ev {
        let client = e["client"]["port"].as_u64().expect("client port");
        for side in [req(e), resp(e)] {
            if let Some(h) = side.get("headers") {
                let key = (
                    client,
                    h["stream"].as_i64().unwrap(),
                    code(h["op"].as_str().unwrap()),
                );
                *got.entry(key).or_insert(0) += 1;
            }
        }
        // A pair shares its stream id.
        if let (Some(a), Some(b)) = (req(e).get("headers"), resp(e).get("headers")) {
            assert_eq!(a["stream"], b["stream"], "{e}");
        }
    }
    assert_eq!(
        got, want,
        "{file}: CQL frames per (client port, stream, opcode)"
    );
}

#[test]
fn create_keyspace() {
    let Some(ev) = events("cassandra_create_keyspace.pcap") else {
        return;
    };
    let e = &ev[0];
    assert_eq!(e["event"]["duration"], 62_453_000);
    // Packetbeat writes milliseconds (…53.502Z); spanlens microseconds.
    assert!(
        e["event"]["end"]
            .as_str()
            .unwrap()
            .starts_with("2016-06-28T09:03:53.502"),
        "{e}"
    );
    assert_eq!(e["client"]["ip"], "127.0.0.1");
    assert_eq!(e["client"]["port"], 52749);
    assert_eq!(e["source"]["bytes"], 133);
    assert_eq!(e["destination"]["bytes"], 44);
    assert_eq!(e["network"]["bytes"], 177);
    assert_eq!(
        e["network"]["community_id"],
        "1:bCORHZnGIk6GWYaE3Kn0DOpQCKE="
    );
    assert_eq!(
        req(e)["query"],
        "CREATE KEYSPACE mykeyspace WITH REPLICATION = { 'class' : 'SimpleStrategy', 'replication_factor' : 1 };"
    );
    headers(req(e), "QUERY", 124, "Default", 20);
    headers(resp(e), "RESULT", 35, "Default", 20);
    let r = &resp(e)["result"];
    assert_eq!(r["type"], "schemaChanged");
    assert_eq!(r["schema_change"]["change"], "CREATED");
    assert_eq!(r["schema_change"]["keyspace"], "mykeyspace");
    assert_eq!(r["schema_change"]["target"], "KEYSPACE");
    // Then the driver's schema-agreement queries, all answered.
    assert_eq!(ev.len(), 4);
    assert!(ev.iter().all(|e| e["status"] == "OK"));
}

#[test]
fn create_table() {
    let Some(ev) = events("cassandra_create_table.pcap") else {
        return;
    };
    let e = &ev[0];
    assert_eq!(
        req(e)["query"],
        "CREATE TABLE users (\n  user_id int PRIMARY KEY,\n  fname text,\n  lname text\n);"
    );
    headers(req(e), "QUERY", 98, "Default", 49);
    headers(resp(e), "RESULT", 39, "Default", 49);
    assert_eq!(resp(e)["result"]["type"], "schemaChanged");
    assert_eq!(resp(e)["result"]["schema_change"]["target"], "TABLE");
    assert_eq!(resp(e)["result"]["schema_change"]["object"], "users");
    assert_eq!(ev.len(), 8);
}

#[test]
fn create_index() {
    let Some(ev) = events("cassandra_create_index.pcap") else {
        return;
    };
    let e = &ev[0];
    assert_eq!(req(e)["query"], "CREATE INDEX ON users (lname);");
    headers(req(e), "QUERY", 51, "Default", 92);
    headers(resp(e), "RESULT", 39, "Default", 92);
    assert_eq!(resp(e)["result"]["type"], "schemaChanged");
    assert_eq!(ev.len(), 8);
}

#[test]
fn insert() {
    let Some(ev) = events("cassandra_insert.pcap") else {
        return;
    };
    assert_eq!(ev.len(), 1);
    let e = &ev[0];
    assert_eq!(
        req(e)["query"],
        "INSERT INTO users (user_id,  fname, lname)\n  VALUES (1745, 'john', 'smith');"
    );
    assert_eq!(e["method"], "QUERY");
    headers(req(e), "QUERY", 97, "Default", 252);
    headers(resp(e), "RESULT", 4, "Default", 252);
    assert_eq!(resp(e)["result"]["type"], "void");
}

#[test]
fn select() {
    let Some(ev) = events("cassandra_select.pcap") else {
        return;
    };
    assert_eq!(ev.len(), 1);
    let e = &ev[0];
    assert_eq!(req(e)["query"], "SELECT * FROM users;");
    headers(req(e), "QUERY", 41, "Default", 253);
    headers(resp(e), "RESULT", 89, "Default", 253);
    let r = &resp(e)["result"];
    assert_eq!(r["type"], "rows");
    assert_eq!(r["rows"]["num_rows"], 1);
    assert_eq!(r["rows"]["meta"]["col_count"], 3);
    assert_eq!(r["rows"]["meta"]["keyspace"], "mykeyspace");
    assert_eq!(r["rows"]["meta"]["table"], "users");
}

#[test]
fn select_via_index() {
    let Some(ev) = events("cassandra_select_via_index.pcap") else {
        return;
    };
    assert_eq!(ev.len(), 1);
    let e = &ev[0];
    assert_eq!(
        req(e)["query"],
        "SELECT * FROM users WHERE lname = 'smith';"
    );
    headers(req(e), "QUERY", 63, "Default", 262);
    headers(resp(e), "RESULT", 89, "Default", 262);
    assert_eq!(resp(e)["result"]["type"], "rows");
    assert_eq!(resp(e)["result"]["rows"]["num_rows"], 1);
}

#[test]
fn trace_error() {
    let Some(ev) = events("cassandra_trace_err.pcap") else {
        return;
    };
    assert_eq!(ev.len(), 1);
    let e = &ev[0];
    assert_eq!(e["source"]["bytes"], 55);
    assert_eq!(e["destination"]["bytes"], 62);
    assert_eq!(e["status"], "Error");
    assert_eq!(req(e)["query"], "DROP KEYSPACE mykeyspace;");
    headers(req(e), "QUERY", 46, "Tracing", 275);
    headers(resp(e), "ERROR", 53, "Default", 275);
    let err = &resp(e)["error"];
    assert_eq!(err["code"], 8960);
    assert_eq!(
        err["msg"],
        "Cannot drop non existing keyspace 'mykeyspace'."
    );
    assert_eq!(err["type"], "errConfig");
}

#[test]
fn ops_mixed() {
    let Some(all) = events("cassandra_mixed_frame.pcap") else {
        return;
    };
    let ev = conn(&all, 60301);
    let e = &ev[0];
    bytes(e, 9, 61);
    headers(req(e), "OPTIONS", 0, "Default", 0);
    headers(resp(e), "SUPPORTED", 52, "Default", 0);
    assert!(resp(e)["supported"]["CQL_VERSION"].is_array(), "{e}");
    let e = &ev[1];
    bytes(e, 31, 9);
    headers(req(e), "STARTUP", 22, "Default", 1);
    headers(resp(e), "READY", 0, "Default", 1);
    let e = &ev[2];
    bytes(e, 58, 9);
    headers(req(e), "REGISTER", 49, "Default", 2);
    headers(resp(e), "READY", 0, "Default", 2);
    assert!(ev.iter().all(|e| e["status"] == "OK"));
    // The Elasticsearch HTTP traffic on 9200 is not Cassandra.
    assert!(all.iter().all(|e| e["server"]["port"] == 9042));
}

#[test]
fn ops_ignored() {
    let Some(all) = events_with(
        "cassandra_mixed_frame.pcap",
        "[flows]\nenabled = false\n[protocols.cassandra]\nignored_ops = [\"OPTIONS\", \"REGISTER\"]\n",
    ) else {
        return;
    };
    // The first connection's first two, in its own order: the second
    // connection's events (another worker's) may come between them.
    let ev = conn(&all, 60301);
    let e = &ev[0];
    bytes(e, 31, 9);
    headers(req(e), "STARTUP", 22, "Default", 1);
    headers(resp(e), "READY", 0, "Default", 1);
    let e = &ev[1];
    bytes(e, 101, 116);
    headers(req(e), "QUERY", 92, "Default", 3);
    headers(resp(e), "RESULT", 107, "Default", 3);
    assert!(all
        .iter()
        .all(|e| req(e)["headers"]["op"] != "OPTIONS" && req(e)["headers"]["op"] != "REGISTER"));
}

#[test]
fn compressed_frames() {
    // Packetbeat's test sets compressor = "snappy"; spanlens reads the
    // STARTUP's COMPRESSION option (both connections are captured whole).
    let Some(all) = events("cassandra_compressed.pcap") else {
        return;
    };
    let ev = conn(&all, 50042);
    let e = &ev[0];
    bytes(e, 52, 10);
    headers(req(e), "STARTUP", 43, "Default", 0);
    headers(resp(e), "READY", 1, "Compress", 0);
    assert_eq!(req(e)["compression"], "snappy");
    let e = &ev[1];
    bytes(e, 53, 10);
    headers(req(e), "REGISTER", 44, "Compress", 64);
    headers(resp(e), "READY", 1, "Compress", 64);
    // The pipelined pair, by stream id.
    let local = ev
        .iter()
        .find(|e| req(e)["query"] == "SELECT * FROM system.local WHERE key='local'")
        .expect("the system.local query");
    headers(req(local), "QUERY", 53, "Compress", 0);
    headers(resp(local), "RESULT", 5418, "Compress", 0);
    assert_eq!(local["source"]["bytes"], 62);
    let meta = &resp(local)["result"]["rows"]["meta"];
    assert_eq!(
        (meta["keyspace"].as_str(), meta["table"].as_str()),
        (Some("system"), Some("local"))
    );
    assert_eq!(resp(local)["result"]["rows"]["num_rows"], 1);
    let peers = ev
        .iter()
        .find(|e| req(e)["headers"]["stream"] == 64 && req(e)["headers"]["op"] == "QUERY")
        .expect("the system.peers query");
    headers(resp(peers), "RESULT", 156, "Compress", 64);
    assert_eq!(peers["destination"]["bytes"], 165);
    let r = &resp(peers)["result"]["rows"];
    assert_eq!(r["num_rows"], 0);
    assert_eq!(r["meta"]["col_count"], 9);
    assert_eq!(r["meta"]["flags"], "GlobalTableSpec");
    assert_eq!(
        (r["meta"]["keyspace"].as_str(), r["meta"]["table"].as_str()),
        (Some("system"), Some("peers"))
    );
    // Every compressed body decompressed.
    assert!(
        ev.iter()
            .all(|e| resp(e).get("undecoded").is_none() && req(e).get("undecoded").is_none()),
        "{ev:?}"
    );
    assert!(ev.iter().all(|e| e["status"] == "OK"));
}
