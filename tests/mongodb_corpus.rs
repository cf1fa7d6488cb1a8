//! End to end: `spanlens replay` on every MongoDB capture of the Packetbeat
//! corpus (`mongo*`), asserting the values MANIFEST.md lists from
//! Packetbeat's tests (test_0025_mongodb_basic.py), and comparing the
//! transaction counts with tshark's MongoDB dissector
//! (`-d tcp.port==27017,mongo`) when tshark is installed.
//!
//! Debian has no MongoDB server package, so there are no captures of our
//! own: these captures and the unit tests (src/proto/mongodb/tests.rs,
//! which build OP_MSG, legacy, compressed and exhaust exchanges) are the
//! tests.

mod common;

use common::{config_file, corpus, have, of_type, replay};
use serde_json::Value;
use std::process::Command;

const CONFIG: &str = "[flows]\nenabled = false\n";

/// The mongodb events and the run's counters (`--stats-json`).
fn run(file: &str, config: &str) -> Option<(Vec<Value>, Value)> {
    let dir = corpus()?;
    let cfg = config_file(config);
    let stats = tempfile::NamedTempFile::new().expect("temp file");
    let path = dir.join(file);
    let all = replay(&[
        "-c",
        cfg.path().to_str().expect("utf-8 temp path"),
        "--stats-json",
        stats.path().to_str().expect("utf-8 temp path"),
        path.to_str().expect("utf-8 corpus path"),
    ]);
    let s: Value = serde_json::from_slice(&std::fs::read(stats.path()).expect("stats file"))
        .expect("stats JSON");
    Some((of_type(&all, "mongodb").into_iter().cloned().collect(), s))
}

fn events(file: &str) -> Option<Vec<Value>> {
    run(file, CONFIG).map(|(e, _)| e)
}

fn with_options(file: &str, options: &str) -> Option<Vec<Value>> {
    run(file, &format!("{CONFIG}[protocols.mongodb]\n{options}\n")).map(|(e, _)| e)
}

/// A counter from `--stats-json` (`mongodb.x` is `{"mongodb": {"x": n}}`).
fn counter(stats: &Value, name: &str) -> u64 {
    let mut v = stats;
    for part in name.split('.') {
        v = &v[part];
    }
    v.as_u64().unwrap_or(0)
}

/// tshark's MongoDB messages to the server port `port`, and from it.
fn tshark_messages(file: &str, port: u16) -> Option<(usize, usize)> {
    if !have("tshark") {
        common::skip("tshark not installed: counts not compared");
        return None;
    }
    let dir = corpus()?;
    let out = Command::new("tshark")
        .args(["-r"])
        .arg(dir.join(file))
        .args([
            "-d",
            &format!("tcp.port=={port},mongo"),
            "-Y",
            "mongo",
            "-T",
            "fields",
            "-e",
            "tcp.dstport",
            "-e",
            "mongo.opcode",
        ])
        .output()
        .expect("run tshark");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (mut to, mut from) = (0, 0);
    for line in text.lines() {
        let mut f = line.split('\t');
        let dst = f.next().unwrap_or("");
        // One line per frame; a frame may hold several messages.
        let n = f
            .next()
            .unwrap_or("")
            .split(',')
            .filter(|s| !s.is_empty())
            .count();
        if dst == port.to_string() {
            to += n;
        } else {
            from += n;
        }
    }
    Some((to, from))
}

fn methods(ev: &[Value], m: &str) -> usize {
    ev.iter().filter(|e| e["method"] == m).count()
}

/// Every request tshark sees is one event with a method, every reply is
/// in one event, and every event is of the server port.
fn same_counts_as_tshark(file: &str, port: u16, ev: &[Value]) {
    for e in ev {
        assert_eq!(e["server"]["port"], port, "{e}");
        assert_eq!(e["network"]["transport"], "tcp");
    }
    let Some((requests, replies)) = tshark_messages(file, port) else {
        return;
    };
    let with_request = ev.iter().filter(|e| e["method"].is_string()).count();
    let with_reply = ev
        .iter()
        .filter(|e| e["destination"]["bytes"].as_u64().unwrap_or(0) > 0)
        .count();
    assert_eq!(with_request, requests, "{file}: requests (tshark)");
    assert_eq!(with_reply, replies, "{file}: replies (tshark)");
}

#[test]
fn mongo_one_row() {
    let Some(ev) = events("mongo_one_row.pcap") else {
        return;
    };
    assert_eq!(ev.len(), 1);
    let e = &ev[0];
    assert_eq!(e["type"], "mongodb");
    assert_eq!(e["method"], "find");
    assert_eq!(e["status"], "OK");
    assert_eq!(e["resource"], "test.restaurants");
    assert_eq!(e["mongodb"]["opcode"], "OP_QUERY");
    assert_eq!(e["mongodb"]["numberToReturn"], 1);
    assert_eq!(e["mongodb"]["numberReturned"], 1);
    assert!(e["query"].as_str().unwrap().ends_with(".limit(1)"), "{e}");
    assert!(e.get("request").is_none() && e.get("response").is_none());
    same_counts_as_tshark("mongo_one_row.pcap", 27017, &ev);
}

#[test]
fn mongo_one_row_send_response() {
    let Some(ev) = with_options(
        "mongo_one_row.pcap",
        "send_request = true\nsend_response = true",
    ) else {
        return;
    };
    assert_eq!(ev.len(), 1);
    let e = &ev[0];
    let text = e["response"].as_str().expect("response text");
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.contains("Morris Park Bake Shop") && text.contains("Bronx"),
        "{text}"
    );
    assert!(e["request"]
        .as_str()
        .unwrap()
        .starts_with("test.restaurants.find("));
    assert_eq!(e["source"]["bytes"], 50);
    assert_eq!(e["destination"]["bytes"], 514);
}

#[test]
fn mongodb_more_rows_bounds() {
    let lines = |options: &str| -> Option<Vec<String>> {
        let ev = with_options("mongodb_more_rows.pcap", options)?;
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0]["mongodb"]["numberReturned"], 101);
        let text = ev[0]["response"].as_str().expect("response text");
        Some(text.lines().map(str::to_owned).collect())
    };
    let Some(all) = lines("send_response = true\nmax_docs = 0") else {
        return;
    };
    assert_eq!(all.len(), 101);
    let ten = lines("send_response = true\nmax_docs = 10").unwrap();
    assert_eq!(ten.len(), 11);
    assert_eq!(ten[10], "[...]");
    assert_eq!(ten[..10], all[..10]);
    let short = lines("send_response = true\nmax_doc_length = 10").unwrap();
    assert!(short.iter().all(|l| l.len() < 15), "{short:?}");
    let ev = events("mongodb_more_rows.pcap").unwrap();
    same_counts_as_tshark("mongodb_more_rows.pcap", 27017, &ev);
}

#[test]
fn mongodb_find() {
    let Some(ev) = events("mongodb_find.pcap") else {
        return;
    };
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0]["method"], "find");
    assert_eq!(ev[0]["status"], "OK");
    assert_eq!(ev[0]["resource"], "testDB.testCollection");
    assert!(
        ev[0]["query"].as_str().unwrap().contains("value1"),
        "{}",
        ev[0]
    );
    assert_eq!(ev[1]["method"], "isMaster");
    assert_eq!(ev[0]["client"]["ip"], "172.17.42.1");
    assert_eq!(ev[0]["server"]["ip"], "172.17.0.7");
    same_counts_as_tshark("mongodb_find.pcap", 27017, &ev);
}

#[test]
fn mongodb_inserts() {
    let Some(ev) = events("mongodb_inserts.pcap") else {
        return;
    };
    assert_eq!(ev.len(), 5);
    assert_eq!(ev[1]["type"], "mongodb");
    assert_eq!(ev[1]["method"], "insert");
    assert_eq!(ev[1]["mongodb"]["database"], "testDB");
    assert_eq!(ev[1]["mongodb"]["collection"], "testCollection");
    assert_eq!(ev[1]["mongodb"]["documents"], 1);
    assert_eq!(ev[1]["mongodb"]["n"], 1);
    assert!(
        !ev[1]["query"].as_str().unwrap().contains("testKey"),
        "the inserted document is only in `request`"
    );
    assert_eq!(methods(&ev, "insert"), 2);
    assert_eq!(methods(&ev, "isMaster") + methods(&ev, "ismaster"), 3);
    same_counts_as_tshark("mongodb_inserts.pcap", 27017, &ev);
}

#[test]
fn mongodb_use_db() {
    let Some(ev) = events("mongodb_use_db.pcap") else {
        return;
    };
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["type"], "mongodb");
    assert_eq!(ev[0]["method"], "isMaster");
    assert_eq!(ev[0]["resource"], "testDB.$cmd");
    assert_eq!(ev[0]["status"], "OK");
    same_counts_as_tshark("mongodb_use_db.pcap", 27017, &ev);
}

#[test]
fn mongodb_create_collection() {
    let Some(ev) = events("mongodb_create_collection.pcap") else {
        return;
    };
    assert_eq!(ev.len(), 4);
    assert_eq!(ev[0]["type"], "mongodb");
    assert_eq!(ev[0]["resource"], "testDB.system.namespaces");
    assert_eq!(ev[0]["mongodb"]["numberReturned"], 0);
    let create = ev.iter().find(|e| e["method"] == "create").expect("create");
    assert_eq!(create["status"], "OK");
    assert!(ev.iter().all(|e| e["status"] == "OK"));
    same_counts_as_tshark("mongodb_create_collection.pcap", 27017, &ev);
}

#[test]
fn mongodb_insert_duplicate_key() {
    let Some(ev) = events("mongodb_insert_duplicate_key.pcap") else {
        return;
    };
    assert_eq!(ev.len(), 1, "27018 (mongos) is not watched");
    let e = &ev[0];
    assert_eq!(e["method"], "insert");
    assert_eq!(e["status"], "Error");
    assert_eq!(e["mongodb"]["error_code"], 11000);
    let msg = e["mongodb"]["error"].as_str().unwrap();
    assert!(msg.contains("E11000 duplicate key"), "{msg}");
    assert_eq!(e["mongodb"]["write_errors"], 1);
    assert_eq!(e["resource"], "test.restaurants");
    same_counts_as_tshark("mongodb_insert_duplicate_key.pcap", 27017, &ev);
}

#[test]
fn mongo_3_0_session() {
    let Some(ev) = events("mongo_3.0_session.pcap") else {
        return;
    };
    assert_eq!(ev.len(), 24);
    assert_eq!(methods(&ev, "insert"), 2);
    assert_eq!(methods(&ev, "update"), 1);
    assert_eq!(methods(&ev, "findandmodify"), 1);
    assert_eq!(methods(&ev, "delete"), 1);
    assert_eq!(methods(&ev, "listCollections"), 5);
    assert_eq!(methods(&ev, "isMaster"), 11);
    assert_eq!(methods(&ev, "find"), 3);
    let fam = ev.iter().find(|e| e["method"] == "findandmodify").unwrap();
    assert!(
        !fam["query"].as_str().unwrap().contains("\"update\""),
        "findandmodify's update is left out of `query`: {}",
        fam["query"]
    );
    same_counts_as_tshark("mongo_3.0_session.pcap", 27017, &ev);
}

#[test]
fn mongodb_reply_request_reply() {
    let Some((ev, stats)) = run("mongodb_reply_request_reply.pcap", CONFIG) else {
        return;
    };
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0]["error"]["message"], "Unmatched response");
    assert!(ev[0]["event"]["duration"].as_u64().is_some());
    let e = &ev[1];
    assert_eq!(e["method"], "buildinfo");
    assert_eq!(e["resource"], "admin.$cmd");
    assert_eq!(e["status"], "OK");
    assert!(e["event"]["duration"].as_u64().is_some());
    assert_eq!(counter(&stats, "mongodb.unmatched_responses"), 1);
    same_counts_as_tshark("mongodb_reply_request_reply.pcap", 27017, &ev);
}

#[test]
fn mongodb_op_msg_opcode() {
    let Some((ev, stats)) = run(
        "mongodb_op_msg_opcode.pcap",
        &format!("{CONFIG}[protocols.mongodb]\nports = [9991]\n"),
    ) else {
        return;
    };
    assert_eq!(ev.len(), 101);
    assert_eq!(methods(&ev, "replSetHeartbeat"), 78);
    assert_eq!(methods(&ev, "ismaster"), 23);
    assert!(ev.iter().all(|e| e["mongodb"]["opcode"] == "OP_MSG"));
    // Every heartbeat reply says ok: 0 (tshark shows the same elements):
    // the node is not in its replica set's configuration.
    for e in ev.iter().filter(|e| e["method"] == "replSetHeartbeat") {
        assert_eq!(e["status"], "Error");
        assert_eq!(e["mongodb"]["error_code"], 93);
        assert_eq!(e["mongodb"]["error_name"], "InvalidReplicaSetConfig");
        assert_eq!(e["resource"], "admin.$cmd", "the set name is no collection");
        assert!(e.get("error").is_none(), "{e}");
    }
    assert!(ev
        .iter()
        .filter(|e| e["method"] == "ismaster")
        .all(|e| e["status"] == "OK"));
    assert_eq!(counter(&stats, "mongodb.errors"), 78);
    assert!(
        ev.iter().all(|e| e["mongodb"]["database"] == "admin"),
        "{}",
        ev[0]
    );
    assert_eq!(counter(&stats, "mongodb.unknown_opcodes"), 0);
    assert_eq!(counter(&stats, "mongodb.malformed_messages"), 0);
    same_counts_as_tshark("mongodb_op_msg_opcode.pcap", 9991, &ev);
}

#[test]
fn mongodb_invalid_opcode_2269() {
    let Some((ev, stats)) = run("mongodb_invalid_opcode_2269.pcap", CONFIG) else {
        return;
    };
    assert!(ev.is_empty(), "{ev:?}");
    assert_eq!(counter(&stats, "mongodb.unknown_opcodes"), 3);
    assert_eq!(counter(&stats, "sessions.mongodb"), 3);
}
