//! End to end: `spanlens replay` on the SIP captures of the Packetbeat
//! corpus (sip.pcap, sip_tcp.pcap, sip_authenticated_register.pcap) with
//! the values MANIFEST.md lists from Packetbeat's golden files, and on the
//! sipp captures under tests/data/ (made by make-captures-sip.sh) with
//! tshark's counts from `<name>.expected.json`.
//!
//! Packetbeat writes one event per SIP message; spanlens one per
//! transaction. Each test checks that the transactions account for every
//! message of Packetbeat's golden file: a request, its final response, and
//! the provisional responses folded in.

mod common;

use common::{corpus, data, of_type, replay};
use serde_json::{json, Value};
use std::collections::BTreeMap;

fn sip_events(path: &std::path::Path, stats: Option<&std::path::Path>) -> Vec<Value> {
    let mut args = vec![];
    let s;
    if let Some(p) = stats {
        s = p.to_str().expect("utf-8 temp path").to_string();
        args.push("--stats-json");
        args.push(&s);
    }
    args.push(path.to_str().expect("utf-8 path"));
    let all = replay(&args);
    of_type(&all, "sip").into_iter().cloned().collect()
}

fn corpus_events(file: &str) -> Option<Vec<Value>> {
    Some(sip_events(&corpus()?.join(file), None))
}

/// Messages an event stands for: its request, its final response and the
/// provisional responses folded into it.
fn messages(ev: &[Value]) -> u64 {
    ev.iter()
        .map(|e| {
            let s = &e["sip"];
            u64::from(s.get("method").is_some())
                + u64::from(s.get("code").is_some())
                + s["provisional"]["count"].as_u64().unwrap_or(0)
        })
        .sum()
}

#[test]
fn sip_pcap_two_dialogs() {
    let Some(ev) = corpus_events("sip.pcap") else {
        return;
    };
    assert_eq!(ev.len(), 6, "{ev:#?}");
    assert_eq!(messages(&ev), 12, "Packetbeat's 12 events, one per message");
    for e in &ev {
        assert_eq!(e["status"], "OK", "{e}");
        assert_eq!(e["network"]["transport"], "udp");
        assert!(e.get("error").is_none());
    }
    for (dialog, call_id, codec, len) in [
        (0, "1-2187@10.0.2.20", "DVI4/8000", 123),
        (3, "1-2189@10.0.2.20", "DVI4/16000", 124),
    ] {
        let (inv, ack, bye) = (&ev[dialog], &ev[dialog + 1], &ev[dialog + 2]);
        for e in [inv, ack, bye] {
            assert_eq!(e["sip"]["call_id"], call_id);
        }
        assert_eq!(inv["event"]["action"], "sip-invite");
        assert_eq!(inv["sip"]["method"], "INVITE");
        assert_eq!(inv["sip"]["type"], "request");
        assert_eq!(inv["sip"]["cseq"], json!({"code": 1, "method": "INVITE"}));
        assert_eq!(inv["sip"]["code"], 200);
        assert_eq!(inv["sip"]["status"], "OK");
        assert_eq!(inv["sip"]["provisional"]["codes"], json!([100]));
        assert_eq!(inv["sip"]["content_type"], "application/sdp");
        assert_eq!(inv["sip"]["content_length"], len);
        assert_eq!(inv["sip"]["from"]["display_info"], codec);
        assert_eq!(inv["sip"]["sdp"]["owner"]["session_id"], "42");
        assert_eq!(inv["sip"]["sdp"]["connection"]["address"], "10.0.2.20");
        assert_eq!(inv["sip"]["sdp"]["media"][0]["codecs"], json!([codec]));
        assert_eq!(
            inv["sip"]["from"]["uri"]["original"],
            "sip:sipp@10.0.2.20:5060"
        );
        assert_eq!(inv["sip"]["from"]["uri"]["username"], "sipp");
        assert_eq!(inv["sip"]["from"]["tag"], "1");
        assert_eq!(inv["sip"]["to"]["uri"]["username"], "test");
        assert_eq!(inv["sip"]["to"]["uri"]["host"], "10.0.2.15");
        assert_eq!(inv["source"]["ip"], "10.0.2.20");
        assert!(inv["sip"]["response"]["to"]["tag"].is_string());
        assert_eq!(ack["event"]["action"], "sip-ack");
        assert!(ack["sip"].get("code").is_none(), "an ACK has no response");
        assert_eq!(bye["event"]["action"], "sip-bye");
        assert_eq!(bye["sip"]["cseq"]["method"], "BYE");
        assert_eq!(bye["sip"]["code"], 200);
        assert_eq!(bye["source"]["ip"], "10.0.2.15", "the callee hangs up");
        assert_eq!(bye["destination"]["ip"], "10.0.2.20");
    }
}

#[test]
fn sip_over_tcp() {
    let Some(ev) = corpus_events("sip_tcp.pcap") else {
        return;
    };
    assert_eq!(ev.len(), 3, "{ev:#?}");
    assert_eq!(messages(&ev), 7, "Packetbeat's 7 events");
    for e in &ev {
        assert_eq!(e["status"], "OK");
        assert_eq!(e["network"]["transport"], "tcp");
        assert_eq!(e["sip"]["call_id"], "158936656982201062716@10.33.6.100");
    }
    let inv = &ev[0];
    assert_eq!(inv["sip"]["method"], "INVITE");
    assert_eq!(
        inv["sip"]["uri"]["original"],
        "sip:201@10.33.6.101;user=phone"
    );
    assert_eq!(inv["sip"]["provisional"]["codes"], json!([100, 180]));
    assert_eq!(inv["sip"]["code"], 200);
    assert_eq!(inv["source"]["ip"], "10.33.6.100");
    assert_eq!(ev[1]["sip"]["method"], "ACK");
    assert_eq!(ev[2]["sip"]["method"], "BYE");
    assert_eq!(ev[2]["source"]["ip"], "10.33.6.101");
    assert_eq!(ev[2]["sip"]["code"], 200);
}

#[test]
fn sip_authenticated_register() {
    let Some(ev) = corpus_events("sip_authenticated_register.pcap") else {
        return;
    };
    assert_eq!(ev.len(), 1, "{ev:#?}");
    assert_eq!(messages(&ev), 3, "Packetbeat's 3 events");
    let r = &ev[0];
    assert_eq!(r["status"], "OK");
    assert_eq!(r["event"]["action"], "sip-register");
    assert_eq!(r["sip"]["cseq"]["method"], "REGISTER");
    assert_eq!(r["sip"]["provisional"]["codes"], json!([100]));
    assert_eq!(r["sip"]["code"], 200);
    assert_eq!(r["sip"]["auth"]["scheme"], "Digest");
    assert_eq!(r["sip"]["auth"]["realm"], "sip.cybercity.dk");
    assert_eq!(r["sip"]["auth"]["uri"]["original"], "sip:192.168.1.2");
    assert_eq!(r["user"]["name"], "voi18062");
    for k in ["from", "to"] {
        assert_eq!(
            r["sip"][k]["uri"]["original"], "sip:voi18062@sip.cybercity.dk",
            "{k}"
        );
    }
    // Packetbeat's golden file has the To URI as the contact too: its
    // populateContactFields parses the To header. spanlens reports the
    // Contact header the REGISTER carries.
    let contact = &r["sip"]["contact"];
    assert_eq!(
        contact["uri"]["original"],
        "sip:voi18062@192.168.1.2:5060;line=aca6b97ca3f5e51a"
    );
    assert_eq!(contact["uri"]["host"], "192.168.1.2");
    assert_eq!(contact["line"], "aca6b97ca3f5e51a");
}

fn expected(name: &str) -> Value {
    let text = std::fs::read_to_string(data(name)).expect("expected.json next to the capture");
    serde_json::from_str(&text).expect("valid expected.json")
}

fn histogram<'a>(it: impl Iterator<Item = &'a Value>) -> Value {
    let mut h: BTreeMap<String, u64> = BTreeMap::new();
    for v in it {
        let k = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        *h.entry(k).or_default() += 1;
    }
    serde_json::to_value(h).unwrap()
}

/// The sipp captures: one event per request tshark sees (first
/// transmissions), the final codes tshark sees, the provisional responses
/// folded in, and tshark's resent packets counted, not reported.
fn sipp_capture(t: &str) -> Vec<Value> {
    let want = expected(&format!("sip-sipp-{t}.expected.json"));
    let stats = tempfile::NamedTempFile::new().unwrap();
    let ev = sip_events(&data(&format!("sip-sipp-{t}.pcap")), Some(stats.path()));
    let s: Value = serde_json::from_slice(&std::fs::read(stats.path()).unwrap()).unwrap();
    assert_eq!(
        histogram(ev.iter().map(|e| &e["sip"]["method"])),
        want["requests_by_method"]
    );
    assert_eq!(
        histogram(ev.iter().filter_map(|e| e["sip"].get("code"))),
        want["final_responses_by_code"]
    );
    let provisional: u64 = ev
        .iter()
        .map(|e| e["sip"]["provisional"]["count"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(provisional, want["provisional_responses"].as_u64().unwrap());
    assert_eq!(
        s["sip"]["retransmissions"].as_u64().unwrap_or(0),
        want["retransmissions"].as_u64().unwrap()
    );
    let calls: std::collections::BTreeSet<&str> = ev
        .iter()
        .filter(|e| e["sip"]["method"] == "INVITE")
        .filter_map(|e| e["sip"]["call_id"].as_str())
        .collect();
    assert_eq!(
        calls.len() as u64,
        want["invite_call_ids"].as_u64().unwrap()
    );
    for e in &ev {
        assert_eq!(e["network"]["transport"], t);
        let code = e["sip"]["code"].as_u64();
        let failed = e.get("error").is_some() || code.is_some_and(|c| c >= 400);
        assert_eq!(e["status"], if failed { "Error" } else { "OK" }, "{e}");
    }
    let busy: Vec<&Value> = ev.iter().filter(|e| e["sip"]["code"] == 486).collect();
    assert_eq!(busy.len(), 1);
    assert_eq!(busy[0]["sip"]["status"], "Busy Here");
    assert_eq!(busy[0]["sip"]["provisional"]["codes"], json!([100]));
    assert_eq!(
        busy[0]["sip"]["response"]["user_agent"]["original"],
        "sipp-uas-busy"
    );
    assert_eq!(
        busy[0]["sip"]["sdp"]["media"][0]["codecs"],
        json!(["PCMA/8000", "telephone-event/8000"])
    );
    ev
}

#[test]
fn sipp_calls_over_udp_equal_tsharks_counts() {
    let ev = sipp_capture("udp");
    // The OPTIONS nobody answered: retransmitted, reported once, unmatched.
    let opts: Vec<&Value> = ev
        .iter()
        .filter(|e| e["sip"]["method"] == "OPTIONS")
        .collect();
    assert_eq!(opts.len(), 1);
    assert_eq!(opts[0]["error"]["message"], "Unmatched request");
    assert_eq!(opts[0]["sip"]["retransmissions"], 2);
}

#[test]
fn sipp_calls_over_tcp_equal_tsharks_counts() {
    let ev = sipp_capture("tcp");
    assert!(ev.iter().all(|e| e.get("error").is_none()));
}
