//! End to end: `spanlens replay` on the DHCPv4 capture of the Packetbeat
//! corpus (dhcp.pcap, values from MANIFEST.md: Packetbeat's
//! test_0066_dhcp.py) and on the dnsmasq capture under tests/data/ (made
//! by make-captures-dhcp.sh) with tshark's counts from
//! `dhcp-dnsmasq.expected.json`.
//!
//! Packetbeat writes one event per DHCP message; spanlens one per client
//! message and its reply: the four messages of dhcp.pcap are two events,
//! the client's fields at `dhcpv4.*` and the server's at `dhcpv4.reply.*`,
//! each with Packetbeat's values.

mod common;

use common::{corpus, data, of_type, replay};
use serde_json::{json, Value};
use std::collections::BTreeMap;

fn dhcp_events(path: &std::path::Path, stats: Option<&std::path::Path>) -> Vec<Value> {
    let mut args: Vec<String> = vec![];
    if let Some(p) = stats {
        args.push("--stats-json".into());
        args.push(p.to_str().expect("utf-8 temp path").into());
    }
    args.push(path.to_str().expect("utf-8 path").into());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let all = replay(&refs);
    of_type(&all, "dhcpv4").into_iter().cloned().collect()
}

/// What Packetbeat writes for every message of dhcp.pcap.
fn common_fields(m: &Value) {
    assert_eq!(m["hops"], 0);
    assert_eq!(m["seconds"], 0);
    assert_eq!(m["flags"], "unicast");
    assert_eq!(m["hardware_type"], "Ethernet");
    assert_eq!(m["client_mac"], "00-0B-82-01-FC-42");
}

fn lease(o: &Value) {
    assert_eq!(o["ip_address_lease_time_sec"], 3600);
    assert_eq!(o["renewal_time_sec"], 1800);
    assert_eq!(o["rebinding_time_sec"], 3150);
    assert_eq!(o["subnet_mask"], "255.255.255.0");
    assert_eq!(o["server_identifier"], "192.168.0.1");
}

#[test]
fn dhcp_pcap_is_two_transactions_with_packetbeats_values() {
    let Some(dir) = corpus() else {
        return;
    };
    let ev = dhcp_events(&dir.join("dhcp.pcap"), None);
    assert_eq!(ev.len(), 2, "DISCOVER+OFFER and REQUEST+ACK: {ev:#?}");
    for e in &ev {
        assert_eq!(e["status"], "OK");
        assert_eq!(e["network"]["transport"], "udp");
        assert_eq!(e["network"]["type"], "ipv4");
        assert_eq!(e["client"]["ip"], "0.0.0.0");
        assert_eq!(e["client"]["port"], 68);
        assert_eq!(e["server"]["ip"], "255.255.255.255");
        assert_eq!(e["server"]["port"], 67);
        assert_eq!(e["source"]["bytes"], 272, "the request's bytes");
        assert_eq!(e["destination"]["bytes"], 300, "the reply's bytes");
        assert!(e.get("error").is_none());
        common_fields(&e["dhcpv4"]);
        common_fields(&e["dhcpv4"]["reply"]);
        assert_eq!(e["dhcpv4"]["op_code"], "bootrequest");
        assert_eq!(e["dhcpv4"]["reply"]["op_code"], "bootreply");
        assert_eq!(e["dhcpv4"]["assigned_ip"], "192.168.0.10");
        assert_eq!(e["dhcpv4"]["reply"]["assigned_ip"], "192.168.0.10");
        lease(&e["dhcpv4"]["reply"]["option"]);
        assert!(e["transaction"]["wait_us"].as_u64().unwrap() < 1000);
    }
    let (d, r) = (&ev[0], &ev[1]);
    assert_eq!(d["method"], "DISCOVER");
    assert_eq!(d["dhcpv4"]["transaction_id"], "0x00003d1d");
    assert_eq!(d["dhcpv4"]["reply"]["transaction_id"], "0x00003d1d");
    assert_eq!(d["dhcpv4"]["option"]["message_type"], "discover");
    assert_eq!(
        d["dhcpv4"]["option"]["parameter_request_list"],
        json!(["Subnet Mask", "Router", "Domain Name Server", "NTP Servers"])
    );
    assert_eq!(d["dhcpv4"]["reply"]["option"]["message_type"], "offer");
    assert_eq!(r["method"], "REQUEST");
    assert_eq!(r["dhcpv4"]["transaction_id"], "0x00003d1e");
    assert_eq!(r["dhcpv4"]["option"]["message_type"], "request");
    assert_eq!(
        r["dhcpv4"]["option"]["requested_ip_address"],
        "192.168.0.10"
    );
    assert_eq!(r["dhcpv4"]["reply"]["option"]["message_type"], "ack");
}

fn expected() -> Value {
    let text = std::fs::read_to_string(data("dhcp-dnsmasq.expected.json"))
        .expect("expected.json next to the capture");
    serde_json::from_str(&text).expect("valid expected.json")
}

/// Message type codes (tshark's `dhcp.option.dhcp`) of a message's name.
fn code(name: &str) -> &'static str {
    match name {
        "discover" => "1",
        "offer" => "2",
        "request" => "3",
        "decline" => "4",
        "ack" => "5",
        "nak" => "6",
        "release" => "7",
        "inform" => "8",
        other => panic!("unexpected message type {other}"),
    }
}

#[test]
fn dnsmasq_leases_equal_tsharks_counts() {
    let want = expected();
    let stats = tempfile::NamedTempFile::new().unwrap();
    let ev = dhcp_events(&data("dhcp-dnsmasq.pcap"), Some(stats.path()));
    let s: Value = serde_json::from_slice(&std::fs::read(stats.path()).unwrap()).unwrap();
    // One event per distinct client message (xid and type).
    assert_eq!(
        ev.len() as u64,
        want["distinct_client_messages"].as_u64().unwrap(),
        "{ev:#?}"
    );
    // Every message tshark sees is an event's request or reply, or was
    // counted as a retransmission or an additional reply.
    let mut seen: BTreeMap<&str, u64> = BTreeMap::new();
    for e in &ev {
        for m in [&e["dhcpv4"], &e["dhcpv4"]["reply"]] {
            if let Some(t) = m["option"]["message_type"].as_str() {
                *seen.entry(code(t)).or_default() += 1;
            }
        }
    }
    let total = |m: &BTreeMap<&str, u64>| m.values().sum::<u64>();
    let want_by_type: BTreeMap<String, u64> =
        serde_json::from_value(want["messages_by_type"].clone()).unwrap();
    let counted = s["dhcpv4"]["retransmissions"].as_u64().unwrap_or(0)
        + s["dhcpv4"]["additional_replies"].as_u64().unwrap_or(0);
    assert_eq!(total(&seen) + counted, want_by_type.values().sum::<u64>());
    for (t, n) in &seen {
        assert!(
            *n <= want_by_type[*t],
            "type {t}: {n} in events, tshark {}",
            want_by_type[*t]
        );
    }
    for t in want_by_type.keys() {
        assert!(seen.contains_key(t.as_str()), "type {t} in no event");
    }
    let xids: std::collections::BTreeSet<&str> = ev
        .iter()
        .filter_map(|e| e["dhcpv4"]["transaction_id"].as_str())
        .collect();
    assert_eq!(xids.len() as u64, want["transaction_ids"].as_u64().unwrap());
    let mac = want["client_mac"]
        .as_str()
        .unwrap()
        .replace(':', "-")
        .to_uppercase();
    let methods: Vec<&str> = ev.iter().filter_map(|e| e["method"].as_str()).collect();
    assert_eq!(
        methods,
        ["DISCOVER", "REQUEST", "RELEASE", "REQUEST", "INFORM"]
    );
    for e in &ev {
        assert_eq!(e["dhcpv4"]["client_mac"], mac.as_str());
        assert!(e.get("error").is_none(), "{e}");
        let nak = e["dhcpv4"]["reply"]["option"]["message_type"] == "nak";
        assert_eq!(e["status"], if nak { "Error" } else { "OK" });
    }
    let ack = &ev[1]["dhcpv4"];
    assert_eq!(ack["assigned_ip"], want["ack_assigned"][0]);
    assert_eq!(
        ack["reply"]["option"]["ip_address_lease_time_sec"],
        want["lease_time"]
    );
    assert_eq!(ack["reply"]["option"]["router"], json!(["10.65.0.1"]));
    assert_eq!(
        ack["reply"]["option"]["dns_servers"],
        json!(["10.65.0.1", "10.65.0.2"])
    );
    assert_eq!(ack["reply"]["option"]["domain_name"], "lab.test");
    assert_eq!(ack["option"]["hostname"], "labclient");
    // The OFFER waited for dnsmasq's ping check: the retransmitted
    // DISCOVERs were counted, not reported.
    assert!(s["dhcpv4"]["retransmissions"].as_u64().unwrap() >= 1);
    assert!(ev[0]["transaction"]["wait_us"].as_u64().unwrap() > 1_000_000);
    assert_eq!(ev[4]["dhcpv4"]["reply"]["option"]["message_type"], "ack");
    assert_eq!(ev[4]["dhcpv4"]["client_ip"], "10.65.0.250");
}
