//! End to end: `spanlens replay` on every Thrift capture of the Packetbeat
//! corpus (thrift_tutorial.pcap, thrift_tutorial_framed_transport.pcap,
//! thrift_integration.pcap, thrift_echo_binary.pcap, ipv6_thrift.pcap),
//! asserting the values MANIFEST.md lists from Packetbeat's
//! test_0002_thrift_basics.py and test_0004_ipv6.py, and comparing the calls
//! with tshark's Thrift dissector (decode-as port 9090) when tshark is
//! installed. The IDL files under tests/data/thrift are spanlens' own,
//! with the signatures the captures call.

mod common;

use common::{config_file, corpus, have, of_type, replay};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

fn events(file: &str, section: &str) -> Option<Vec<Value>> {
    let dir = corpus()?;
    let cfg = config_file(&format!(
        "[flows]\nenabled = false\n[protocols.thrift]\n{section}\n"
    ));
    let path = dir.join(file);
    let all = replay(&[
        "-c",
        cfg.path().to_str().expect("utf-8 temp path"),
        path.to_str().expect("utf-8 corpus path"),
    ]);
    let mut ev: Vec<Value> = of_type(&all, "thrift").into_iter().cloned().collect();
    // Packetbeat's order: by the call's time.
    ev.sort_by_key(|e| e["@timestamp"].as_str().unwrap_or("").to_string());
    for e in &ev {
        assert_eq!(e["server"]["port"], 9090, "{e}");
    }
    Some(ev)
}

fn idl(files: &[&str]) -> String {
    let list: Vec<String> = files
        .iter()
        .map(|f| {
            let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("tests/data/thrift")
                .join(f);
            format!("{:?}", p.to_str().unwrap())
        })
        .collect();
    format!("idl_files = [{}]", list.join(", "))
}

fn t<'a>(e: &'a Value, k: &str) -> &'a Value {
    &e["thrift"][k]
}

/// test_0002_thrift_basics.py `tutorial_asserts`.
fn tutorial_asserts(ev: &[Value]) {
    assert_eq!(ev.len(), 17, "{ev:#?}");
    assert!(ev
        .iter()
        .all(|e| e["source"]["bytes"].as_u64().unwrap() > 0));
    for (i, e) in ev.iter().enumerate() {
        let out = e["destination"]["bytes"].as_u64().unwrap_or(0);
        if i == 14 || i == 15 {
            assert_eq!(out, 0, "zip call {i} has no reply");
            assert_eq!(e["method"], "zip");
            assert_eq!(e["status"], "OK");
        } else {
            assert!(out > 0, "{i}: {e}");
        }
    }
    let expect = [
        ("ping", "()", ""),
        ("add", "(1: 1, 2: 1)", "2"),
        ("add16", "(1: 1, 2: 1)", "2"),
        ("add64", "(1: 1, 2: 1)", "2"),
        ("add_doubles", "(1: 1.2, 2: 1.3)", "2.5"),
        ("echo_bool", "(1: true)", "true"),
        ("echo_string", "(1: \"hello\")", "\"hello\""),
    ];
    for (e, (m, p, r)) in ev.iter().zip(expect) {
        assert_eq!(e["method"], m);
        assert_eq!(t(e, "params"), p);
        assert_eq!(t(e, "return_value"), r);
        assert_eq!(e["query"], format!("{m}{p}"));
    }
    // #11: calculate divides by zero and gets InvalidOperation.
    assert_eq!(ev[11]["method"], "calculate");
    assert_eq!(ev[11]["status"], "Error");
    assert_eq!(
        t(&ev[11], "exceptions"),
        "(1: (1: 4, 2: \"Cannot divide by 0\"))"
    );
    assert!(ev
        .iter()
        .enumerate()
        .all(|(i, e)| i == 11 || e["status"] == "OK"));
}

#[test]
fn tutorial_socket_transport_with_request_and_response_text() {
    let Some(ev) = events(
        "thrift_tutorial.pcap",
        "send_request = true\nsend_response = true",
    ) else {
        return;
    };
    tutorial_asserts(&ev);
    assert!(ev
        .iter()
        .all(|e| !e["request"].as_str().unwrap().is_empty()));
    assert_eq!(ev[0]["request"], "ping()");
    assert_eq!(
        ev[11]["response"],
        "Exceptions: (1: (1: 4, 2: \"Cannot divide by 0\"))"
    );
    assert!(ev
        .iter()
        .all(|e| t(e, "transport") == "socket" && t(e, "protocol") == "binary"));
}

#[test]
fn tutorial_default_sends_no_text() {
    let Some(ev) = events("thrift_tutorial.pcap", "") else {
        return;
    };
    tutorial_asserts(&ev);
    assert!(ev
        .iter()
        .all(|e| e.get("request").is_none() && e.get("response").is_none()));
}

#[test]
fn tutorial_framed_transport_configured_and_detected() {
    for section in ["transport_type = \"framed\"", ""] {
        let Some(ev) = events("thrift_tutorial_framed_transport.pcap", section) else {
            return;
        };
        tutorial_asserts(&ev);
        assert!(ev.iter().all(|e| t(e, "transport") == "framed"));
    }
}

#[test]
fn tutorial_with_idl_names_services_and_params() {
    let Some(ev) = events(
        "thrift_tutorial.pcap",
        &idl(&["calculator.thrift", "shared.thrift"]),
    ) else {
        return;
    };
    assert_eq!(ev.len(), 17);
    for e in &ev {
        let s = t(e, "service");
        assert!(s == "Calculator" || s == "SharedService", "{e}");
    }
    let expect = [
        ("ping", "()"),
        ("add", "(num1: 1, num2: 1)"),
        ("add16", "(num1: 1, num2: 1)"),
        ("add64", "(num1: 1, num2: 1)"),
        ("add_doubles", "(num1: 1.2, num2: 1.3)"),
        ("echo_bool", "(b: true)"),
        ("echo_string", "(s: \"hello\")"),
    ];
    for (e, (m, p)) in ev.iter().zip(expect) {
        assert_eq!(e["method"], m);
        assert_eq!(t(e, "params"), p);
    }
    assert_eq!(
        t(&ev[11], "exceptions"),
        "(ouch: (1: 4, 2: \"Cannot divide by 0\"))"
    );
    let get = ev.iter().find(|e| e["method"] == "getStruct").unwrap();
    assert_eq!(t(get, "service"), "SharedService");
}

#[test]
fn integration_suite_with_idl() {
    let Some(ev) = events("thrift_integration.pcap", &idl(&["thrifttest.thrift"])) else {
        return;
    };
    assert_eq!(ev.len(), 26);
    assert!(ev.iter().all(|e| t(e, "service") == "ThriftTest"));
    assert_eq!(ev[0]["method"], "testByte");
    assert_eq!(t(&ev[0], "params"), "(thing: 63)");
    assert_eq!(t(&ev[0], "return_value"), "63");
    assert_eq!(ev[5]["method"], "testEnum");
    assert_eq!(t(&ev[5], "params"), "(thing: 5)");
    assert_eq!(t(&ev[5], "return_value"), "5");
    assert_eq!(ev[17]["method"], "testOneway");
    assert_eq!(t(&ev[17], "params"), "(secondsToSleep: 1)");
    assert!(ev[17]["thrift"].get("return_value").is_none());
    assert_eq!(ev[17]["destination"]["bytes"].as_u64().unwrap_or(0), 0);
    assert_eq!(ev[21]["method"], "testString");
    let py = "Python".repeat(20);
    assert_eq!(*t(&ev[21], "params"), format!("(thing: \"{py}\")"));
    assert_eq!(*t(&ev[21], "return_value"), format!("\"{py}\""));
    // testException raises Xception for "Xception" and a
    // TApplicationException-free reply otherwise.
    let exc: Vec<&Value> = ev
        .iter()
        .filter(|e| e["method"] == "testException")
        .collect();
    assert_eq!(exc.len(), 3);
    assert!(exc
        .iter()
        .any(|e| e["status"] == "Error"
            && t(e, "exceptions").as_str().unwrap().starts_with("(err1: ")));
}

#[test]
fn integration_send_request_only() {
    let Some(ev) = events(
        "thrift_integration.pcap",
        "send_request = true\nsend_response = false",
    ) else {
        return;
    };
    assert_eq!(ev.len(), 26);
    assert!(ev
        .iter()
        .all(|e| !e["request"].as_str().unwrap().is_empty() && e.get("response").is_none()));
}

#[test]
fn echo_binary_once_despite_duplicates() {
    let Some(ev) = events(
        "thrift_echo_binary.pcap",
        &format!(
            "transport_type = \"framed\"\n{}",
            idl(&["calculator.thrift", "shared.thrift"])
        ),
    ) else {
        return;
    };
    assert_eq!(ev.len(), 1, "{ev:#?}");
    assert_eq!(ev[0]["method"], "echo_binary");
    assert_eq!(t(&ev[0], "return_value"), "ab0c1d281a000000");
}

#[test]
fn ipv6_framed_tutorial() {
    let Some(ev) = events("ipv6_thrift.pcap", "transport_type = \"framed\"") else {
        return;
    };
    assert_eq!(ev.len(), 17);
    for e in &ev {
        assert_eq!(e["client"]["ip"], "::1");
        assert_eq!(e["server"]["ip"], "::1");
    }
    // Both zip calls are of the ONEWAY type here.
    let zips: Vec<&Value> = ev.iter().filter(|e| e["method"] == "zip").collect();
    assert_eq!(zips.len(), 2);
    assert!(zips.iter().all(|e| t(e, "message_type") == "oneway"));
}

/// The calls tshark's Thrift dissector sees (decode-as 9090): method
/// histogram and count equal ours, for every capture.
#[test]
fn calls_equal_tsharks() {
    let Some(dir) = corpus() else {
        return;
    };
    if !have("tshark") {
        common::skip("tshark not installed");
        return;
    }
    for (file, section) in [
        ("thrift_tutorial.pcap", ""),
        ("thrift_tutorial_framed_transport.pcap", ""),
        ("thrift_integration.pcap", ""),
        ("thrift_echo_binary.pcap", ""),
        ("ipv6_thrift.pcap", ""),
    ] {
        let out = std::process::Command::new("tshark")
            .args([
                "-r",
                dir.join(file).to_str().unwrap(),
                "-d",
                "tcp.port==9090,thrift",
                "-Y",
                "thrift",
            ])
            .args([
                "-T",
                "fields",
                "-e",
                "tcp.stream",
                "-e",
                "tcp.seq",
                "-e",
                "thrift.mtype",
                "-e",
                "thrift.method",
            ])
            .output()
            .expect("tshark");
        // One call per (stream, seq, method) so retransmitted segments count once.
        let mut seen = std::collections::BTreeSet::new();
        let mut want: BTreeMap<String, u64> = BTreeMap::new();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let f: Vec<&str> = line.split('\t').collect();
            let types: Vec<&str> = f[2].split(',').collect();
            let methods: Vec<&str> = f[3].split(',').collect();
            for (i, (ty, m)) in types.iter().zip(&methods).enumerate() {
                if (*ty == "0x01" || *ty == "0x04")
                    && seen.insert((f[0].to_string(), f[1].to_string(), i, m.to_string()))
                {
                    *want.entry(m.to_string()).or_default() += 1;
                }
            }
        }
        let ev = events(file, section).unwrap();
        let mut got: BTreeMap<String, u64> = BTreeMap::new();
        for e in &ev {
            *got.entry(e["method"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
        assert_eq!(got, want, "{file}");
    }
}

/// thrift-py.pcap (made by tests/data/make-captures-thrift.sh with
/// thriftpy2 servers and client: binary/compact x socket/framed on ports
/// 9090-9093) against tshark's counts in thrift-py.expected.json: the same
/// calls per method and port, every call but the oneway one answered, the
/// declared exception and the TApplicationException as errors.
#[test]
fn thriftpy2_capture_matches_tshark() {
    let oracle: Value = serde_json::from_slice(
        &std::fs::read(common::data("thrift-py.expected.json")).expect("oracle file"),
    )
    .expect("oracle JSON");
    let pcap = common::data("thrift-py.pcap");
    let bytes = std::fs::read(&pcap).expect("capture");
    let sha = {
        use sha2::{Digest, Sha256};
        Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    assert_eq!(oracle["sha256"], sha, "the oracle belongs to this capture");
    let cfg = config_file(
        "[flows]\nenabled = false\n[protocols.thrift]\nports = [9090, 9091, 9092, 9093]\n",
    );
    let all = replay(&["-c", cfg.path().to_str().unwrap(), pcap.to_str().unwrap()]);
    let ev: Vec<&Value> = of_type(&all, "thrift");
    let layouts = [
        (9090, "binary", "socket"),
        (9091, "binary", "framed"),
        (9092, "compact", "socket"),
        (9093, "compact", "framed"),
    ];
    for (port, proto, transport) in layouts {
        let mine: Vec<&&Value> = ev.iter().filter(|e| e["server"]["port"] == port).collect();
        let want = &oracle["ports"][port.to_string()];
        let mut calls: BTreeMap<String, u64> = BTreeMap::new();
        for e in &mine {
            *calls
                .entry(e["method"].as_str().unwrap().to_string())
                .or_default() += 1;
            assert_eq!(t(e, "protocol"), proto, "{e}");
            assert_eq!(t(e, "transport"), transport, "{e}");
        }
        let want_calls: BTreeMap<String, u64> = want["calls"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
            .collect();
        assert_eq!(calls, want_calls, "port {port}");
        let replies = mine
            .iter()
            .filter(|e| t(e, "reply_type") == "reply")
            .count() as u64;
        let excs = mine
            .iter()
            .filter(|e| t(e, "reply_type") == "exception")
            .count() as u64;
        assert_eq!(replies, want["replies"].as_u64().unwrap(), "port {port}");
        assert_eq!(excs, want["exceptions"].as_u64().unwrap(), "port {port}");
        let by = |m: &str| mine.iter().find(|e| e["method"] == m).unwrap();
        assert_eq!(t(by("add"), "params"), "(1: 2, 2: 40)");
        assert_eq!(t(by("add"), "return_value"), "42");
        assert_eq!(
            t(by("echo"), "params"),
            "(1: \"héllo\", 2: [1, -2, 3], 3: {\"x\": true})"
        );
        assert_eq!(t(by("note"), "message_type"), "oneway");
        assert_eq!(by("note")["status"], "OK");
        let missing = by("missing");
        assert_eq!(missing["status"], "Error");
        assert_eq!(missing["thrift"]["exception"]["type"], "UNKNOWN_METHOD");
        let div: Vec<&&&Value> = mine.iter().filter(|e| e["method"] == "divide").collect();
        assert_eq!(t(div[0], "exceptions"), "(1: (1: 7, 2: \"b is zero\"))");
        assert_eq!(t(div[1], "return_value"), "3");
    }
}
