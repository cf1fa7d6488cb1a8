//! End to end: `spanlens replay` on every AMQP capture of the Packetbeat
//! corpus, asserting the values MANIFEST.md lists, and on the capture made
//! with the real rabbitmq-server and clients under tests/data
//! (tests/data/make-captures-amqp.sh), whose method counts and reply codes
//! must equal tshark's, recorded in `amqp-rabbitmq.expected.json`.

mod common;

use common::{config_file, corpus, data, of_type, replay};
use serde_json::Value;
use spanlens::proto::amqp::parser::{method_info, Role};
use std::collections::BTreeMap;

/// The `type: amqp` events of `path` with `config`, in time order.
fn events_at(path: &std::path::Path, config: &str) -> Vec<Value> {
    let cfg = config_file(config);
    let all = replay(&[
        "-c",
        cfg.path().to_str().expect("utf-8 temp path"),
        path.to_str().expect("utf-8 path"),
    ]);
    let mut ev: Vec<Value> = of_type(&all, "amqp").into_iter().cloned().collect();
    ev.sort_by(|a, b| {
        let t = |e: &Value| e["@timestamp"].as_str().unwrap_or_default().to_string();
        t(a).cmp(&t(b))
    });
    ev
}

fn events_with(file: &str, config: &str) -> Option<Vec<Value>> {
    let dir = corpus()?;
    Some(events_at(&dir.join(file), config))
}

const CONFIG: &str = "[flows]\nenabled = false\n";

fn all_ok_on_5672(ev: &[Value]) {
    for e in ev {
        assert_eq!(e["destination"]["port"], 5672, "{e}");
        assert_eq!(e["network"]["transport"], "tcp", "{e}");
    }
}

#[test]
fn amqp_publish() {
    let Some(ev) = events_with(
        "amqp_publish.pcap",
        "[flows]\nenabled = false\n[protocols.amqp]\nsend_request = true\n",
    ) else {
        return;
    };
    assert_eq!(ev.len(), 2, "{ev:#?}");
    all_ok_on_5672(&ev);
    let d = &ev[0];
    assert_eq!(d["method"], "queue.declare");
    assert_eq!(d["event"]["action"], "amqp.queue.declare");
    assert_eq!(d["status"], "OK");
    assert_eq!(d["amqp"]["queue"], "hello");
    for k in ["durable", "auto-delete", "exclusive", "no-wait"] {
        assert_eq!(d["amqp"][k], false, "{k}");
    }
    let p = &ev[1];
    assert_eq!(p["method"], "basic.publish");
    assert_eq!(p["status"], "OK");
    assert_eq!(p["request"], "hello");
    assert_eq!(p["amqp"]["routing-key"], "hello");
    assert_eq!(p["amqp"]["mandatory"], false);
    assert_eq!(p["amqp"]["immediate"], false);
    assert_eq!(p["amqp"]["content-type"], "text/plain");
    assert_eq!(p["amqp"]["body-size"], 5);
    assert!(p["error"].is_null());
}

#[test]
fn amqp_emit_receive() {
    let Some(ev) = events_with("amqp_emit_receive.pcap", CONFIG) else {
        return;
    };
    let methods: Vec<&str> = ev.iter().map(|e| e["method"].as_str().unwrap()).collect();
    assert_eq!(
        methods,
        [
            "exchange.declare",
            "queue.declare",
            "queue.bind",
            "basic.consume",
            "exchange.declare",
            "basic.publish",
            "basic.deliver",
        ]
    );
    all_ok_on_5672(&ev);
    assert!(ev
        .iter()
        .all(|e| e["status"] == "OK" && e["error"].is_null()));
    let x = &ev[0]["amqp"];
    assert_eq!(x["exchange"], "logs");
    assert_eq!(x["durable"], true);
    assert_eq!(x["exchange-type"], "fanout");
    assert_eq!(x["passive"], false);
    assert_eq!(x["no-wait"], false);
    let q = &ev[1]["amqp"];
    assert_eq!(q["exclusive"], true);
    assert_eq!(q["queue"], "amq.gen-Iq95Zja_wgS1oeYQv1bfSg");
    assert_eq!(ev[2]["amqp"]["exchange"], "logs");
    assert_eq!(ev[2]["amqp"]["queue"], "amq.gen-Iq95Zja_wgS1oeYQv1bfSg");
    assert_eq!(ev[3]["amqp"]["no-ack"], true);
    assert_eq!(ev[3]["amqp"]["exclusive"], false);
    assert_eq!(ev[4]["amqp"]["exchange"], "logs");
    let p = &ev[5]["amqp"];
    assert_eq!(p["exchange"], "logs");
    assert_eq!(p["content-type"], "text/plain");
    assert_eq!(p["mandatory"], false);
    assert_eq!(p["immediate"], false);
    let d = &ev[6]["amqp"];
    assert_eq!(d["delivery-tag"], 1);
    assert_eq!(d["redelivered"], false);
    assert_eq!(d["exchange"], "logs");
    assert_eq!(d["content-type"], "text/plain");
    // The receiver and the emitter are two connections.
    assert_ne!(ev[0]["source"]["port"], ev[5]["source"]["port"]);
    assert_eq!(ev[6]["source"]["port"], ev[0]["source"]["port"]);
}

#[test]
fn amqp_channel_error() {
    let Some(ev) = events_with("amqp_channel_error.pcap", CONFIG) else {
        return;
    };
    let methods: Vec<&str> = ev.iter().map(|e| e["method"].as_str().unwrap()).collect();
    assert_eq!(
        methods,
        ["exchange.declare", "queue.declare", "channel.close"]
    );
    all_ok_on_5672(&ev);
    let x = &ev[0];
    assert_eq!(x["status"], "OK");
    assert_eq!(x["amqp"]["exchange"], "titres");
    assert_eq!(x["amqp"]["durable"], true);
    assert_eq!(x["amqp"]["exchange-type"], "fanout");
    assert_eq!(x["amqp"]["no-wait"], true);
    assert_eq!(ev[1]["status"], "OK");
    assert_eq!(ev[1]["amqp"]["queue"], "my_queue");
    assert_eq!(ev[1]["amqp"]["exclusive"], true);
    let c = &ev[2];
    assert_eq!(c["status"], "Error");
    assert_eq!(c["amqp"]["reply-code"], 404);
    assert_eq!(
        c["amqp"]["reply-text"],
        "NOT_FOUND - no exchange 'plop' in vhost '/'"
    );
    assert_eq!(c["error"]["message"], c["amqp"]["reply-text"]);
    assert_eq!(c["amqp"]["class-id"], 50);
    assert_eq!(c["amqp"]["method-id"], 20);
    // Answered by the client's close-ok: the round trip is timed.
    assert!(c["transaction"]["wait_us"].is_u64(), "{c}");
}

#[test]
fn connection_information_when_not_hidden() {
    let Some(ev) = events_with(
        "amqp_publish.pcap",
        "[flows]\nenabled = false\n[protocols.amqp]\nhide_connection_information = false\n",
    ) else {
        return;
    };
    let methods: Vec<&str> = ev.iter().map(|e| e["method"].as_str().unwrap()).collect();
    assert_eq!(
        methods,
        [
            "connection.start",
            "connection.tune",
            "connection.open",
            "channel.open",
            "queue.declare",
            "basic.publish",
            "channel.close",
            "connection.close",
        ]
    );
    assert_eq!(ev[0]["amqp"]["server-properties"]["product"], "RabbitMQ");
    assert_eq!(ev[7]["amqp"]["reply-text"], "kthxbai");
    assert!(ev.iter().all(|e| e["status"] == "OK"));
}

// ------------------------------------------------ the capture made locally

/// The method names spanlens reports for tshark's `class.method` counts:
/// one event per answered request, close, one-way and content method (a
/// reply completes its request's event; basic.get answered by get-empty
/// is reported as `basic.get-empty`).
#[test]
fn local_rabbitmq_capture_matches_tshark() {
    let pcap = data("amqp-rabbitmq.pcap");
    let expected = data("amqp-rabbitmq.expected.json");
    let Ok(text) = std::fs::read_to_string(&expected) else {
        eprintln!("SKIPPED: {} not found", expected.display());
        return;
    };
    let want: Value = serde_json::from_str(&text).expect("expected.json");
    let tshark: BTreeMap<(u16, u16), u64> = want["methods"]
        .as_object()
        .expect("methods")
        .iter()
        .map(|(k, v)| {
            let (c, m) = k.split_once('.').expect("class.method");
            (
                (c.parse().unwrap(), m.parse().unwrap()),
                v.as_u64().unwrap(),
            )
        })
        .collect();
    let ev = events_at(
        &pcap,
        "[flows]\nenabled = false\n[protocols.amqp]\nhide_connection_information = false\n",
    );
    let mut ours: BTreeMap<String, u64> = BTreeMap::new();
    for e in &ev {
        *ours
            .entry(e["method"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    let t = |c: u16, m: u16| tshark.get(&(c, m)).copied().unwrap_or(0);
    let mut expect: BTreeMap<String, u64> = BTreeMap::new();
    for (&(c, m), &n) in &tshark {
        let info = method_info(c, m).expect("a method tshark knows");
        let close = matches!((c, m), (10, 50) | (20, 40));
        let n = match info.role {
            Role::Reply => continue,
            Role::Content if info.id == 71 => continue, // completes basic.get
            // A request the server answered with a channel or connection
            // error instead of its reply is not reported (Packetbeat
            // neither): only the close is, with its reply code. A failed
            // close without close-ok is reported.
            Role::Request(reply) if !close => {
                t(c, reply) + if (c, m) == (60, 70) { t(60, 72) } else { 0 }
            }
            _ => n,
        };
        *expect.entry(info.name.to_string()).or_default() += n;
    }
    // basic.get answered by get-empty is named after the reply.
    let empty = t(60, 72);
    if empty > 0 {
        *expect.get_mut("basic.get").unwrap() -= empty;
        expect.insert("basic.get-empty".into(), empty);
    }
    assert_eq!(ours, expect, "events per method vs tshark's PDUs");

    // Every request tshark saw answered is answered in our events too.
    let answered = |name: &str| {
        ev.iter()
            .filter(|e| e["method"] == name && e["transaction"]["wait_us"].is_u64())
            .count() as u64
    };
    assert_eq!(answered("queue.declare"), t(50, 11));
    assert_eq!(answered("basic.get"), t(60, 71));
    assert_eq!(answered("channel.close"), t(20, 41));
    assert_eq!(answered("connection.close"), t(10, 51));

    // Reply codes of closes and returns, as tshark lists them.
    let mut codes: Vec<u64> = ev
        .iter()
        .filter_map(|e| e["amqp"]["reply-code"].as_u64())
        .collect();
    codes.sort_unstable();
    let mut want_codes: Vec<u64> = want["reply_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    want_codes.sort_unstable();
    assert_eq!(codes, want_codes);
    let errors = ev.iter().filter(|e| e["status"] == "Error").count();
    let failing = want_codes.iter().filter(|&&c| c >= 300).count();
    // Failed closes and returns, plus the rejects.
    assert_eq!(errors, failing + t(60, 90) as usize);

    // Nothing lost, nothing unmatched, bodies never written by default.
    for e in &ev {
        if e["status"] == "Error" {
            continue;
        }
        assert!(e["error"].is_null(), "{e}");
        assert!(e["request"].is_null() && e["response"].is_null(), "{e}");
    }
    let json = ev
        .iter()
        .find(|e| e["amqp"]["content-type"] == "application/json")
        .unwrap();
    assert_eq!(json["amqp"]["headers"]["source"], "spanlens");
    assert_eq!(json["amqp"]["delivery-mode"], "persistent");
    assert!(ev.iter().all(|e| !e.to_string().contains("guest\u{0}")));
}
