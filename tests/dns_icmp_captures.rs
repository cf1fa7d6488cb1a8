//! End to end: `spanlens replay` on every DNS and ICMP capture of the
//! Packetbeat corpus, asserting the values MANIFEST.md lists (skipped, with
//! a notice, when the corpus is absent), and on the captures made with
//! unbound, NSD, dig and ping under tests/data/ (counts and codes equal to
//! tshark's, recorded in `<name>.expected.json` by `oracle_dns.py` when the
//! capture was made with `make-captures-dns.sh`).

mod common;

use common::{corpus, data, of_type, replay};
use serde_json::Value;
use std::collections::HashMap;

fn corpus_events(file: &str) -> Option<Vec<Value>> {
    let dir = corpus()?;
    Some(replay(&[dir
        .join(file)
        .to_str()
        .expect("utf-8 corpus path")]))
}

fn one<'a>(ev: &'a [Value], kind: &str) -> &'a Value {
    let v = of_type(ev, kind);
    assert_eq!(v.len(), 1, "{kind} events: {v:?}");
    v[0]
}

#[test]
fn dns_google_com() {
    let Some(ev) = corpus_events("dns_google_com.pcap") else {
        return;
    };
    let o = one(&ev, "dns");
    assert_eq!(o["network"]["type"], "ipv4");
    assert_eq!(o["network"]["protocol"], "dns");
    assert_eq!(o["network"]["transport"], "udp");
    assert_eq!(o["network"]["bytes"], 312);
    assert_eq!(o["event"]["start"], "2015-08-27T08:00:55.638957Z");
    assert_eq!(o["event"]["end"], "2015-08-27T08:00:55.700739Z");
    assert_eq!(o["event"]["duration"], 61_782_000);
    assert_eq!(o["client"]["ip"], "192.168.238.68");
    assert_eq!(o["source"]["port"], 60893);
    assert_eq!(o["source"]["bytes"], 28);
    assert_eq!(o["server"]["ip"], "192.168.238.1");
    assert_eq!(o["destination"]["port"], 53);
    assert_eq!(o["destination"]["bytes"], 284);
    assert_eq!(o["method"], "QUERY");
    assert_eq!(o["query"], "class IN, type A, google.com");
    assert_eq!(o["dns"]["question"]["type"], "A");
    assert_eq!(o["status"], "OK");
    let answers = o["dns"]["answers"].as_array().unwrap();
    assert_eq!(answers.len(), 16);
    assert!(answers.iter().all(|a| a["type"] == "A"));
}

#[test]
fn dns_not_found() {
    let Some(ev) = corpus_events("dns_not_found.pcap") else {
        return;
    };
    let o = one(&ev, "dns");
    assert_eq!(o["query"], "class IN, type A, nothing.elastic.co");
    assert_eq!(o["status"], "Error");
    assert_eq!(o["dns"]["response_code"], "NXDOMAIN");
    assert_eq!(o["dns"]["answers_count"], 0);
    assert_eq!(o["dns"]["authorities_count"], 1);
    assert!(o["dns"].get("authorities").is_none());
}

#[test]
fn dns_mx_ns_txt_additional() {
    for (file, qtype, answers) in [
        ("dns_mx.pcap", "MX", 5),
        ("dns_ns.pcap", "NS", 4),
        ("dns_txt.pcap", "TXT", 2),
    ] {
        let Some(ev) = corpus_events(file) else {
            return;
        };
        let o = one(&ev, "dns");
        assert_eq!(
            o["query"],
            format!("class IN, type {qtype}, elastic.co"),
            "{file}"
        );
        assert_eq!(o["dns"]["question"]["type"], qtype);
        assert_eq!(o["status"], "OK");
        assert_eq!(o["network"]["transport"], "udp");
        let a = o["dns"]["answers"].as_array().unwrap();
        assert_eq!(a.len(), answers, "{file}");
        assert!(a.iter().all(|x| x["type"] == qtype));
        if qtype == "TXT" {
            assert_eq!(o["server"]["ip"], "8.8.8.8");
            assert!(a.iter().any(|x| x["data"]
                .as_str()
                .unwrap()
                .contains("include:_spf.google.com")));
        }
        if qtype == "MX" {
            assert_eq!(o["dns"]["authorities_count"], 4);
            assert!(a.iter().all(|x| x["preference"].is_u64()));
        }
    }
    let Some(ev) = corpus_events("dns_additional.pcap") else {
        return;
    };
    assert_eq!(one(&ev, "dns")["dns"]["additionals_count"], 1);
}

#[test]
fn dns_include_authorities_and_additionals() {
    let Some(dir) = corpus() else { return };
    let cfg = common::config_file(
        "[protocols.dns]\ninclude_authorities = true\ninclude_additionals = true\n",
    );
    let run = |f: &str| {
        replay(&[
            "-c",
            cfg.path().to_str().unwrap(),
            dir.join(f).to_str().unwrap(),
        ])
    };
    let ev = run("dns_not_found.pcap");
    assert_eq!(
        one(&ev, "dns")["dns"]["authorities"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let ev = run("dns_additional.pcap");
    assert_eq!(
        one(&ev, "dns")["dns"]["additionals"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn dns_tcp_axfr() {
    let Some(ev) = corpus_events("dns_tcp_axfr.pcap") else {
        return;
    };
    let o = one(&ev, "dns");
    assert_eq!(o["network"]["transport"], "tcp");
    assert_eq!(o["method"], "QUERY");
    assert_eq!(o["query"], "class IN, type AXFR, etas.com");
    assert_eq!(o["dns"]["question"]["type"], "AXFR");
    assert_eq!(o["status"], "OK");
    let a = o["dns"]["answers"].as_array().unwrap();
    assert_eq!(a.len(), 4);
    assert!(a
        .iter()
        .all(|x| x["name"].as_str().unwrap().contains("etas.com")));
}

#[test]
fn dns_udp_edns_ds() {
    let Some(ev) = corpus_events("dns_udp_edns_ds.pcap") else {
        return;
    };
    let o = one(&ev, "dns");
    assert_eq!(o["query"], "class IN, type DS, ietf.org");
    assert_eq!(o["dns"]["question"]["type"], "DS");
    assert_eq!(o["status"], "OK");
    let opt = &o["dns"]["opt"];
    assert_eq!(opt["do"], true);
    assert_eq!(opt["version"], "0");
    assert_eq!(opt["udp_size"], 4000);
    assert_eq!(opt["ext_rcode"], "NOERROR");
    let a = o["dns"]["answers"].as_array().unwrap();
    assert_eq!(a.len(), 3);
    assert!(a
        .iter()
        .all(|x| x["name"].as_str().unwrap().contains("ietf.org")));
    // Two DS records and their RRSIG.
    assert_eq!(a.iter().filter(|x| x["type"] == "DS").count(), 2);
    assert!(a
        .iter()
        .any(|x| x["type"] == "RRSIG" && x["type_covered"] == "DS"));
}

fn icmp_check(file: &str, version: u64, start: &str, durations: &[u64]) {
    let Some(ev) = corpus_events(file) else {
        return;
    };
    let icmp = of_type(&ev, "icmp");
    assert_eq!(icmp.len(), durations.len(), "{file}");
    for (e, d) in icmp.iter().zip(durations) {
        assert_eq!(e["icmp"]["version"], version);
        assert_eq!(e["event"]["duration"], *d, "{file}");
        assert_eq!(e["status"], "OK");
        assert_eq!(e["event"]["dataset"], "icmp");
        assert_eq!(e["event"]["category"], "network");
        assert!(e["server"].get("port").is_none());
        let (req, rep) = if version == 4 { (8, 0) } else { (128, 129) };
        assert_eq!(e["icmp"]["request"]["type"], req);
        assert_eq!(e["icmp"]["request"]["code"], 0);
        assert_eq!(e["icmp"]["request"]["message"], "EchoRequest");
        assert_eq!(e["icmp"]["response"]["type"], rep);
        assert_eq!(e["icmp"]["response"]["message"], "EchoReply");
        assert_eq!(
            e["network"]["transport"],
            if version == 4 { "icmp" } else { "ipv6-icmp" }
        );
    }
    assert!(
        icmp[0]["@timestamp"].as_str().unwrap().starts_with(start),
        "{file}"
    );
}

#[test]
fn icmp_corpus() {
    icmp_check(
        "icmp4_ping.pcap",
        4,
        "2015-10-19T20:49:23.817",
        &[20_130_000],
    );
    icmp_check(
        "icmp4_ping_over_vlan.pcap",
        4,
        "2015-10-19T20:49:23.849085Z",
        &[12_192_000],
    );
    icmp_check("icmp6_ping.pcap", 6, "2015-10-19T20:49:23", &[16_439_000]);
    icmp_check(
        "icmp6_ping_over_vlan.pcap",
        6,
        "2015-10-19T20:49:23.901349Z",
        &[12_333_000],
    );
    icmp_check(
        "icmp_2_pings.pcap",
        4,
        "2015-10-19T21:47:49.900657Z",
        &[12_152_000, 11_935_000],
    );
    let Some(ev) = corpus_events("icmp4_ping.pcap") else {
        return;
    };
    let e = one(&ev, "icmp");
    assert_eq!(e["client"]["ip"], "10.0.0.1");
    assert_eq!(e["server"]["ip"], "10.0.0.2");
    assert_eq!(e["path"], "10.0.0.2");
    assert_eq!(e["source"]["bytes"], 4);
    assert_eq!(e["destination"]["bytes"], 4);
    let Some(ev) = corpus_events("icmp_2_pings.pcap") else {
        return;
    };
    let t: Vec<_> = of_type(&ev, "icmp")
        .iter()
        .map(|e| e["@timestamp"].clone())
        .collect();
    assert_eq!(
        t,
        ["2015-10-19T21:47:49.900657Z", "2015-10-19T21:47:49.924909Z"]
    );
    // One echo request the capture never sees answered.
    let Some(ev) = corpus_events("802.1q-q-in-q-icmp.pcap") else {
        return;
    };
    let e = one(&ev, "icmp");
    assert_eq!(e["error"]["message"], "Unmatched request");
    assert_eq!(e["network"]["vlan"], serde_json::json!([101, 600]));
}

fn oracle(name: &str) -> Value {
    let text =
        std::fs::read_to_string(data(&format!("{name}.expected.json"))).expect("oracle file");
    serde_json::from_str(&text).expect("oracle JSON")
}

fn rcode_name(rc: u64) -> &'static str {
    match rc {
        0 => "NOERROR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        5 => "REFUSED",
        _ => "other",
    }
}

#[test]
fn dig_capture_counts_and_codes_equal_tsharks() {
    let want = oracle("dns-dig");
    let ev = replay(&[data("dns-dig.pcap").to_str().unwrap()]);
    let dns: Vec<&Value> = of_type(&ev, "dns");
    // DNS on port 53 (tshark also decodes the queries sent to the closed
    // port 5399, which are not DNS flows for spanlens).
    let msgs: Vec<&Value> = want["dns"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["ports"].as_array().unwrap().contains(&Value::from(53)))
        .collect();
    let queries: Vec<&Value> = msgs
        .iter()
        .copied()
        .filter(|m| m["response"] == false)
        .collect();
    let orphans = msgs
        .iter()
        .filter(|m| m["response"] == true && m["response_to"].is_null())
        .count();
    // One event per query, answered or not, plus one per orphan response.
    assert_eq!(dns.len(), queries.len() + orphans);
    assert_eq!(queries.len(), 30, "the capture's queries on port 53");
    let answered: Vec<&&Value> = dns
        .iter()
        .filter(|e| e["dns"]["type"] == "answer")
        .collect();
    assert_eq!(
        answered.len() as u64,
        want["dns"]["answered"].as_u64().unwrap()
    );
    // Response codes and TC flags: tshark's histogram.
    let mut got: HashMap<String, u64> = HashMap::new();
    for e in &answered {
        *got.entry(e["dns"]["response_code"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    let mut rcodes: HashMap<String, u64> = HashMap::new();
    for (k, v) in want["dns"]["rcodes"].as_object().unwrap() {
        rcodes.insert(
            rcode_name(k.parse().unwrap()).to_string(),
            v.as_u64().unwrap(),
        );
    }
    assert_eq!(got, rcodes);
    let tc = answered
        .iter()
        .filter(|e| e["dns"]["flags"]["truncated_response"] == true)
        .count();
    assert_eq!(
        tc as u64,
        want["dns"]["truncated_responses"].as_u64().unwrap()
    );
    // Every answered query: same id, transport, question, code and counts.
    for r in msgs
        .iter()
        .filter(|m| m["response"] == true && !m["response_to"].is_null())
    {
        let id = r["id"].as_u64().unwrap();
        let e = answered
            .iter()
            .find(|e| e["dns"]["id"] == id && e["network"]["transport"] == r["transport"])
            .unwrap_or_else(|| panic!("no event for response {r}"));
        assert_eq!(e["dns"]["question"]["name"], r["qname"], "{r}");
        assert_eq!(
            e["dns"]["response_code"],
            rcode_name(r["rcode"].as_u64().unwrap())
        );
        assert_eq!(e["dns"]["answers_count"], r["answers"], "{r}");
        assert_eq!(e["dns"]["authorities_count"], r["authorities"], "{r}");
        let opt = u64::from(e["dns"].get("opt").is_some());
        assert_eq!(
            e["dns"]["additionals_count"].as_u64().unwrap() + opt,
            r["additionals"].as_u64().unwrap(),
            "{r}"
        );
        let ok = r["rcode"] == 0;
        assert_eq!(e["status"], if ok { "OK" } else { "Error" });
    }
    // The queries nobody answered are reported as unmatched.
    let unanswered = queries.iter().filter(|q| q["answered"] == false).count();
    let unmatched = dns
        .iter()
        .filter(|e| e["error"]["message"] == "Unmatched request")
        .count();
    assert_eq!(unmatched, unanswered);
    // Every record type of the zone shows up with its data.
    let types: std::collections::HashSet<&str> = answered
        .iter()
        .flat_map(|e| e["dns"]["answers"].as_array().into_iter().flatten())
        .map(|a| a["type"].as_str().unwrap())
        .collect();
    for t in [
        "A", "AAAA", "CNAME", "MX", "NS", "PTR", "SOA", "SRV", "TXT", "CAA", "DS", "DNSKEY",
        "RRSIG", "NSEC",
    ] {
        assert!(types.contains(t), "no {t} answer in {types:?}");
    }
    let multi = answered
        .iter()
        .find(|e| e["resource"] == "multi.lab.test")
        .expect("multi TXT");
    assert_eq!(
        multi["dns"]["answers"][0]["data"],
        "first string second string third; with \"quotes\""
    );
    let axfr = answered
        .iter()
        .find(|e| e["dns"]["question"]["type"] == "AXFR")
        .expect("AXFR");
    assert_eq!(axfr["network"]["transport"], "tcp");
    let zone = msgs
        .iter()
        .find(|m| m["response"] == true && m["qtype"] == 252)
        .expect("AXFR response");
    assert!(zone["answers"].as_u64().unwrap() > 50);
    assert_eq!(
        axfr["dns"]["answers"].as_array().unwrap().len() as u64,
        zone["answers"].as_u64().unwrap()
    );
    let ecs = answered
        .iter()
        .find(|e| e["dns"]["question"]["type"] == "ANY")
        .expect("ANY query");
    assert_eq!(
        ecs["network"]["transport"], "tcp",
        "dig retried ANY over TCP"
    );
}

#[test]
fn dig_capture_icmp_errors_name_the_failed_dns_flows() {
    let want = oracle("dns-dig");
    let ev = replay(&[data("dns-dig.pcap").to_str().unwrap()]);
    let errors: Vec<&Value> = of_type(&ev, "icmp");
    assert_eq!(
        errors.len(),
        want["icmp"]["errors"].as_array().unwrap().len()
    );
    let flows = of_type(&ev, "flow");
    for e in errors {
        assert_eq!(e["status"], "Error");
        let q = &e["icmp"]["quoted"];
        assert_eq!(q["destination_port"], 5399);
        assert!(
            flows
                .iter()
                .any(|f| f["network"]["community_id"] == q["community_id"]
                    && f["network"]["transport"] == "udp"),
            "the quoted flow {q} is a flow of the capture"
        );
    }
}

#[test]
fn ping_capture_counts_equal_tsharks() {
    let want = oracle("icmp-ping");
    let ev = replay(&[data("icmp-ping.pcap").to_str().unwrap()]);
    let icmp = of_type(&ev, "icmp");
    let pairs = icmp
        .iter()
        .filter(|e| e["icmp"].get("response").is_some())
        .count();
    let unanswered = icmp
        .iter()
        .filter(|e| e["error"]["message"] == "Unmatched request")
        .count();
    assert_eq!(pairs as u64, want["icmp"]["echo_pairs"].as_u64().unwrap());
    assert_eq!(
        unanswered as u64,
        want["icmp"]["unanswered"].as_u64().unwrap()
    );
    assert_eq!(icmp.len(), pairs + unanswered);
    assert_eq!(icmp.iter().filter(|e| e["icmp"]["version"] == 6).count(), 3);
    assert!(icmp
        .iter()
        .filter(|e| e["status"] == "OK")
        .all(|e| e["event"]["duration"].as_u64().unwrap() > 0));
}
