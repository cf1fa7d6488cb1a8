//! A farm of sensors: every event names its sensor (`observer.*`), the
//! events carry the fields Packetbeat's Kibana dashboards use (the list in
//! tests/data/packetbeat-dashboard-fields.txt), and sampling keeps what it
//! promises. The Elasticsearch side (summaries, the report built from the
//! cluster) is in tests/es_report.rs.

mod common;

use common::*;
use serde_json::Value;

/// The host name as `uname -n` prints it (computed outside spanlens).
fn host_name() -> String {
    let out = std::process::Command::new("uname")
        .arg("-n")
        .output()
        .expect("uname");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn every_event_names_its_sensor() {
    let host = host_name();
    let pcap = data("http_sample.pcap");
    let ev = replay(&[pcap.to_str().unwrap()]);
    assert!(ev.len() > 20, "{} events", ev.len());
    for e in &ev {
        assert_eq!(e["observer"]["name"], host.as_str(), "{e}");
        assert_eq!(e["observer"]["hostname"], host.as_str(), "{e}");
    }
    let cfg = config_file("[observer]\nname = \"span-dc1-rack4\"\n");
    let named = replay(&[
        "-c",
        cfg.path().to_str().unwrap(),
        "-w",
        "3",
        pcap.to_str().unwrap(),
    ]);
    assert_eq!(named.len(), ev.len());
    for e in &named {
        assert_eq!(e["observer"]["name"], "span-dc1-rack4", "{e}");
        assert_eq!(e["observer"]["hostname"], host.as_str(), "{e}");
    }
    // Apart from the name, the same events.
    let strip = |v: &[Value]| {
        let v: Vec<Value> = v
            .iter()
            .map(|e| {
                let mut e = e.clone();
                e.as_object_mut().unwrap().remove("observer");
                e
            })
            .collect();
        canonical(&v)
    };
    assert_eq!(strip(&ev), strip(&named));

    let bad = config_file("[observer]\nname = \"\"\n");
    let out = run(&[
        "replay",
        "-q",
        "-c",
        bad.path().to_str().unwrap(),
        pcap.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("observer.name"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

/// A dotted field of an event (`http.response.status_code`), if present
/// and not null. `@timestamp` is one key.
fn field<'a>(e: &'a Value, path: &str) -> Option<&'a Value> {
    if let Some(v) = e.get(path) {
        return (!v.is_null()).then_some(v);
    }
    let mut v = e;
    for part in path.split('.') {
        v = v.get(part)?;
    }
    (!v.is_null()).then_some(v)
}

/// The field list committed with this test: (field, event kinds, use).
fn dashboard_fields() -> Vec<(String, Vec<String>, String)> {
    let text = std::fs::read_to_string(data("packetbeat-dashboard-fields.txt")).unwrap();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(cols.len(), 3, "bad line {l:?}");
            (
                cols[0].to_string(),
                cols[1].split(',').map(str::to_string).collect(),
                cols[2].to_string(),
            )
        })
        .collect()
}

/// The events of one kind of the field list.
fn of_kind<'a>(ev: &'a [Value], kind: &str) -> Vec<&'a Value> {
    ev.iter()
        .filter(|e| match kind {
            "tx" => e["type"] != "flow",
            k => e["type"] == k,
        })
        .collect()
}

/// HTTP, MySQL and flows from the committed captures.
fn sample_events() -> Vec<Value> {
    let files: Vec<String> = ["http_sample.pcap", "mysqlslap.pcap", "flows_sample.pcap"]
        .iter()
        .map(|f| data(f).display().to_string())
        .collect();
    let args: Vec<&str> = files.iter().map(String::as_str).collect();
    replay(&args)
}

#[test]
fn packetbeat_dashboard_fields_are_in_spanlens_events() {
    let fields = dashboard_fields();
    assert!(fields.len() >= 30, "{} fields", fields.len());
    let ev = sample_events();
    let mut problems = Vec::new();
    for (name, kinds, _) in &fields {
        for k in kinds {
            let (k, some) = match k.strip_suffix('?') {
                Some(k) => (k, true),
                None => (k.as_str(), false),
            };
            let sel = of_kind(&ev, k);
            assert!(!sel.is_empty(), "no {k} events for {name}");
            if some {
                if !sel.iter().any(|e| field(e, name).is_some()) {
                    problems.push(format!("{name}: no {k} event carries it"));
                }
                continue;
            }
            // MySQL commands that carry no statement (QUIT) have no
            // `query` (a difference the README lists).
            let missing: Vec<&&Value> = sel
                .iter()
                .filter(|e| field(e, name).is_none())
                .filter(|e| !(name == "query" && e["type"] == "mysql" && e["method"] == "QUIT"))
                .collect();
            if let Some(m) = missing.first() {
                problems.push(format!(
                    "{name}: {} of {} {k} events lack it, e.g. {m}",
                    missing.len(),
                    sel.len()
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn transaction_panels_count_no_flow_and_new_fields_are_right() {
    let ev = sample_events();
    let flows = of_kind(&ev, "flow");
    let txs = of_kind(&ev, "tx");
    assert!(flows.len() >= 10 && txs.len() >= 15);
    // The HTTP dashboard counts `network.protocol: http`; the overview
    // drops `event.dataset: flow`: both must see transactions only.
    let http_tx = of_type(&ev, "http").len();
    let by_protocol = ev
        .iter()
        .filter(|e| e["network"]["protocol"] == "http")
        .count();
    assert_eq!(by_protocol, http_tx);
    for f in &flows {
        assert!(f["network"].get("protocol").is_none(), "{f}");
        assert_eq!(f["event"]["dataset"], "flow");
        let t = f["event"]["type"].as_array().unwrap();
        assert_eq!(t[0], "connection");
        assert_eq!(t.len() == 2, f["flow"]["final"] == true, "{f}");
        assert_eq!(f["client"]["bytes"], f["source"]["bytes"]);
        assert_eq!(f["server"]["bytes"], f["destination"]["bytes"]);
        // Ethernet captures: both MACs, in ECS form.
        for side in ["source", "destination"] {
            let m = f[side]["mac"].as_str().unwrap_or_else(|| panic!("{f}"));
            assert_eq!(m.len(), 17, "{m}");
            assert!(
                m.split('-').all(|b| b.len() == 2
                    && b.chars()
                        .all(|c| c.is_ascii_hexdigit() && !c.is_lowercase())),
                "{m}"
            );
        }
        if f["client"]["ip"] != "127.0.0.1" {
            assert_ne!(f["source"]["mac"], f["destination"]["mac"], "{f}");
        }
    }
    // The HTTP flows still say which decoder handled them.
    let http_flows = flows
        .iter()
        .filter(|f| f["flow"]["protocol"] == "http")
        .count();
    assert_eq!(http_flows, 12, "http_sample.pcap has 12 TCP conversations");
    let mut with_ext = 0;
    for t in &txs {
        let et: Vec<&str> = t["event"]["type"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(et, ["connection", "protocol"], "{t}");
        assert_eq!(t["client"]["bytes"], t["source"]["bytes"], "{t}");
        assert_eq!(t["server"]["bytes"], t["destination"]["bytes"], "{t}");
        // Every capture here runs between private addresses.
        assert_eq!(t["network"]["direction"], "internal", "{t}");
        let rel: Vec<&Value> = t["related"]["ip"].as_array().unwrap().iter().collect();
        assert!(rel.contains(&&t["client"]["ip"]) && rel.contains(&&t["server"]["ip"]));
        if let Some(p) = t["url"]["path"].as_str() {
            let last = p.rsplit('/').next().unwrap();
            match last.rfind('.') {
                Some(i) if i > 0 && i + 1 < last.len() => {
                    assert_eq!(t["url"]["extension"], &last[i + 1..], "{t}");
                    with_ext += 1;
                }
                _ => assert!(t["url"].get("extension").is_none(), "{t}"),
            }
        }
    }
    assert!(with_ext > 0, "no URL with an extension in the sample");
}

#[test]
fn q_in_q_flow_has_both_vlans_and_macs() {
    let Some(dir) = corpus() else {
        return;
    };
    let p = dir.join("802.1q-q-in-q-icmp.pcap");
    let ev = replay(&[p.to_str().unwrap()]);
    let flows = of_type(&ev, "flow");
    assert_eq!(flows.len(), 1, "{ev:?}");
    let f = flows[0];
    // Packetbeat's test_q_in_q_flow expects exactly these.
    assert_eq!(f["flow"]["vlan"], serde_json::json!([101, 600]));
    assert_eq!(f["source"]["mac"], "08-00-27-3D-25-4E");
    assert_eq!(f["destination"]["mac"], "1C-AF-F7-70-ED-7C");
    assert_eq!(f["network"]["direction"], "internal");
}

#[test]
fn sampling_keeps_every_error_and_the_same_share_with_any_worker_count() {
    let files: Vec<String> = ["http_sample.pcap", "mysqlslap.pcap", "redis-cli.pcap"]
        .iter()
        .map(|f| data(f).display().to_string())
        .collect();
    let all_args: Vec<&str> = files.iter().map(String::as_str).collect();
    let truth = replay(&all_args);
    let tx = |ev: &[Value]| -> Vec<String> {
        let mut v: Vec<String> = ev
            .iter()
            .filter(|e| e["type"] != "flow")
            .map(|e| {
                let mut e = e.clone();
                e.as_object_mut().unwrap().remove("observer");
                e.to_string()
            })
            .collect();
        v.sort();
        v
    };
    let all = tx(&truth);
    let errors = truth.iter().filter(|e| e["status"] == "Error").count();
    assert!(errors > 0, "the sample has errors");
    let cfg = config_file("[output.elasticsearch]\nsample_ok = 0.25\nsample_slow = \"3600s\"\n");
    let mut kept = Vec::new();
    for w in ["1", "4"] {
        let mut args = vec!["-c", cfg.path().to_str().unwrap(), "-w", w];
        args.extend(all_args.iter());
        let ev = replay(&args);
        // Flow events are never sampled.
        assert_eq!(of_type(&ev, "flow").len(), of_type(&truth, "flow").len());
        kept.push(tx(&ev));
    }
    assert_eq!(kept[0], kept[1], "1 and 4 workers keep the same events");
    let k = &kept[0];
    // A subset of the unsampled events, with every error in it.
    for e in k {
        assert!(
            all.binary_search(e).is_ok(),
            "not an event of the full run: {e}"
        );
    }
    let kept_errors = k
        .iter()
        .filter(|e| e.contains("\"status\":\"Error\""))
        .count();
    assert_eq!(kept_errors, errors);
    let ok_all = all.len() - errors;
    let ok_kept = k.len() - kept_errors;
    assert!(
        ok_kept > 0 && ok_kept < ok_all / 2,
        "kept {ok_kept} of {ok_all} OK transactions at 25%"
    );
    // The counter says how many were left out.
    let stats = tempfile::NamedTempFile::new().unwrap();
    let mut args = vec![
        "replay",
        "-q",
        "--no-progress",
        "-c",
        cfg.path().to_str().unwrap(),
        "-o",
        "/dev/null",
        "--stats-json",
        stats.path().to_str().unwrap(),
    ];
    args.extend(all_args.iter());
    assert!(run(&args).status.success());
    let st: Value = serde_json::from_slice(&std::fs::read(stats.path()).unwrap()).unwrap();
    assert_eq!(
        st["sampling"]["dropped"].as_u64(),
        Some((all.len() - k.len()) as u64)
    );
}
