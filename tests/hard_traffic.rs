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

fn flow_on_port(events: &[Value], port: u64) -> Vec<&Value> {
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

/// Events of a replay with `input` piped into standard input.
fn replay_stdin(args: &[&str], input: &[u8]) -> (Vec<Value>, String) {
    use std::io::Write;
    use std::process::Stdio;
    let mut all = vec!["replay", "-q", "--no-progress"];
    all.extend_from_slice(args);
    let mut child = bin()
        .args(&all)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let bytes = input.to_vec();
    // Written in small pieces, as a pipe delivers them.
    let writer = std::thread::spawn(move || {
        for chunk in bytes.chunks(1000) {
            stdin.write_all(chunk).unwrap();
        }
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{all:?}: {err}");
    (parse_ndjson(&out.stdout), err)
}

#[test]
fn standard_input_dash_and_dev_stdin_read_a_pipe() {
    let path = data("http_sample.pcap");
    let want = canonical(&replay(&[path.to_str().unwrap()]));
    let bytes = std::fs::read(&path).unwrap();
    let (dash, _) = replay_stdin(&["-"], &bytes);
    assert_eq!(canonical(&dash), want);
    let (dev, _) = replay_stdin(&["/dev/stdin"], &bytes);
    assert_eq!(canonical(&dev), want);
    // A pcapng through a pipe too.
    let ng = data("mixed_snaplens.pcapng");
    let (piped, _) = replay_stdin(&["-"], &std::fs::read(&ng).unwrap());
    assert_eq!(
        canonical(&piped),
        canonical(&replay(&[ng.to_str().unwrap()]))
    );
}

#[test]
fn a_fifo_is_opened_once_and_read() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("capture.fifo");
    let st = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(st.success());
    let path = data("http_sample.pcap");
    let bytes = std::fs::read(&path).unwrap();
    let f2 = fifo.clone();
    // The writer opens the FIFO once; a reader opening it twice would
    // block forever (or read half of it), so the child has a deadline.
    let writer = std::thread::spawn(move || std::fs::write(&f2, bytes).unwrap());
    let mut child = bin()
        .args(["replay", "-q", "--no-progress"])
        .arg(&fifo)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("replay of a FIFO did not finish");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        canonical(&parse_ndjson(&out.stdout)),
        canonical(&replay(&[path.to_str().unwrap()]))
    );
}

#[test]
fn standard_input_twice_is_refused() {
    let out = run(&["replay", "-", "-"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("standard input can be read only once"),
        "{err}"
    );
}

/// Events of one type as sorted text, without `flow.id` (it depends on
/// the frame number, which differs between a merged file and its inputs).
fn sorted_of_type(events: &[Value], t: &str) -> Vec<String> {
    let mut v: Vec<String> = of_type(events, t)
        .iter()
        .map(|e| {
            let mut e = (*e).clone();
            e["flow"].as_object_mut().map(|f| f.remove("id"));
            e.to_string()
        })
        .collect();
    v.sort();
    v
}

fn oracle_packets(name: &str) -> u64 {
    let v: Value = serde_json::from_slice(&std::fs::read(data(name)).unwrap()).unwrap();
    v["packets"].as_u64().unwrap()
}

#[test]
fn pcapng_with_interfaces_of_different_snaplens_reads_as_its_inputs() {
    // mergecap of flows_sample.pcap (262144) and http_ipv6.pcap (65535).
    let (merged, stats) = replay_stats(&[data("mixed_snaplens.pcapng").to_str().unwrap()]);
    let parts = replay(&[
        data("flows_sample.pcap").to_str().unwrap(),
        data("http_ipv6.pcap").to_str().unwrap(),
    ]);
    assert_eq!(canonical(&merged), canonical(&parts));
    assert_eq!(of_type(&merged, "http").len(), 2);
    assert_eq!(
        stats["capture"]["packets"].as_u64().unwrap(),
        oracle_packets("flows_sample.expected.json") + oracle_packets("http_ipv6.expected.json")
    );
    assert_eq!(stats["capture"]["truncated_files"], 0);
}

#[test]
fn pcapng_with_interfaces_of_different_link_types_decodes_each() {
    // Ethernet (flows_sample.pcap) and Linux cooked (http_ipv6.pcap as SLL).
    let path = data("mixed_linktypes.pcapng");
    let out = run(&["replay", "-q", "--no-progress", path.to_str().unwrap()]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("truncated"), "{err}");
    let merged = parse_ndjson(&out.stdout);
    let v6 = replay(&[data("http_ipv6.pcap").to_str().unwrap()]);
    let flows = replay(&[data("flows_sample.pcap").to_str().unwrap()]);
    // The transactions are the same; flow byte counts differ by the link
    // header (16 bytes for SLL instead of 14), so flows are compared by count.
    assert_eq!(sorted_of_type(&merged, "http"), sorted_of_type(&v6, "http"));
    assert_eq!(
        of_type(&merged, "flow").len(),
        of_type(&v6, "flow").len() + of_type(&flows, "flow").len()
    );
    // A BPF filter is compiled for each link type.
    let tcp6 = replay(&["--bpf", "ip6 and tcp", path.to_str().unwrap()]);
    assert_eq!(sorted_of_type(&tcp6, "http"), sorted_of_type(&v6, "http"));
    let is_tcp6 = |f: &&Value| f["network"]["type"] == "ipv6" && f["network"]["transport"] == "tcp";
    let want = of_type(&merged, "flow").into_iter().filter(is_tcp6).count();
    assert!(want >= 2, "both inputs have an IPv6 TCP connection");
    assert_eq!(of_type(&tcp6, "flow").len(), want);
    assert!(of_type(&tcp6, "flow").iter().all(is_tcp6));
}

#[test]
fn records_longer_than_the_declared_snaplen_are_decoded_whole_with_a_warning() {
    let path = data("small_snaplen.pcap");
    let out = run(&["replay", "-q", "--no-progress", path.to_str().unwrap()]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        (err.contains("warning:") || err.contains("WARN"))
            && err.contains("longer than the snaplen its header declares (96 bytes"),
        "{err}"
    );
    let events = parse_ndjson(&out.stdout);
    let whole = replay(&[data("http_ipv6.pcap").to_str().unwrap()]);
    assert_eq!(canonical(&events), canonical(&whole));
    assert_eq!(of_type(&events, "http").len(), 2);
}

#[test]
fn resegmented_copies_within_the_rtt_are_out_of_order_as_tshark_says() {
    let want: Value =
        serde_json::from_slice(&std::fs::read(data("resegmented_http.expected.json")).unwrap())
            .unwrap();
    let events = replay(&[data("resegmented_http.pcap").to_str().unwrap()]);
    let flows = of_type(&events, "flow");
    assert_eq!(flows.len(), 1);
    let tcp = &flows[0]["tcp"];
    // tshark's tcp.analysis.retransmission includes its spurious and fast
    // retransmissions.
    assert_eq!(
        tcp["server"]["retransmitted_segments"],
        want["server"]["retransmission"]
    );
    assert_eq!(
        tcp["server"]["out_of_order_segments"],
        want["server"]["out_of_order"]
    );
    assert_eq!(
        tcp["client"]["retransmitted_segments"],
        want["client"]["retransmission"]
    );
    assert_eq!(
        tcp["client"]["duplicate_acks"],
        want["client"]["duplicate_ack"]
    );
    assert!(want["server"]["out_of_order"].as_u64().unwrap() >= 5);
    assert!(want["server"]["fast_retransmission"].as_u64().unwrap() >= 1);
    // The response still decodes whole.
    let http = of_type(&events, "http");
    assert_eq!(http.len(), 1);
    assert_eq!(
        http[0]["http"]["response"]["body"]["bytes"],
        want["http_body_bytes"]
    );
    assert_eq!(tcp["server"]["gap_bytes"], 0);
}

fn final_flows(events: &[Value]) -> Vec<&Value> {
    of_type(events, "flow")
        .into_iter()
        .filter(|f| f["flow"]["final"] == true)
        .collect()
}

fn unique_ids(flows: &[&Value]) -> bool {
    let mut ids: Vec<&str> = flows
        .iter()
        .map(|f| f["flow"]["id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    let n = ids.len();
    ids.dedup();
    ids.len() == n
}

fn status_histogram(events: &[Value]) -> std::collections::BTreeMap<u64, usize> {
    let mut h = std::collections::BTreeMap::new();
    for e in of_type(events, "http") {
        *h.entry(e["http"]["response"]["status_code"].as_u64().unwrap_or(0))
            .or_insert(0) += 1;
    }
    h
}

#[test]
fn duplicated_capture_gives_each_connection_once() {
    let path = data("duplicated_http.pcap");
    let original = replay(&[data("http_sample.pcap").to_str().unwrap()]);
    let frames = oracle_packets("http_sample.expected.json");
    let mut want = status_histogram(&original);
    // The reused port carries stream 0's exchange again (a 200).
    *want.get_mut(&200).unwrap() += 1;

    let keep = config_file("[capture]\nkeep_duplicates = true\n");
    for (mode, extra) in [("default", None), ("keep_duplicates", Some(&keep))] {
        let mut args = vec![];
        if let Some(c) = extra {
            args.extend(["-c", c.path().to_str().unwrap()]);
        }
        args.push(path.to_str().unwrap());
        let (events, stats) = replay_stats(&args);
        let flows = final_flows(&events);
        // 12 connections, and stream 0's exchange again on a reused port.
        assert_eq!(flows.len(), 13, "{mode}");
        assert!(unique_ids(&flows), "{mode}: a flow.id repeats");
        assert_eq!(status_histogram(&events), want, "{mode}");
        assert!(
            of_type(&events, "http")
                .iter()
                .all(|e| !e.to_string().contains("Unmatched")),
            "{mode}"
        );
        // The late copies after the connections were reported.
        assert_eq!(stats["flows"]["segments_after_close"], 3, "{mode}");
        let reused: Vec<_> = flows
            .iter()
            .filter(|f| f["source"]["port"] == 51214)
            .collect();
        assert_eq!(reused.len(), 2, "{mode}");
        assert_ne!(reused[0]["flow"]["id"], reused[1]["flow"]["id"]);
        let retransmitted: u64 = flows
            .iter()
            .map(|f| {
                f["tcp"]["client"]["retransmitted_segments"]
                    .as_u64()
                    .unwrap()
            })
            .sum();
        if mode == "default" {
            assert_eq!(stats["capture"]["duplicates"].as_u64().unwrap(), frames);
            // Each connection's packets counted once, as in the original.
            let count = |evs: &[&Value]| -> u64 {
                evs.iter()
                    .map(|f| f["network"]["packets"].as_u64().unwrap())
                    .sum()
            };
            let orig_flows = final_flows(&original);
            let reused_packets = 10;
            assert_eq!(count(&flows), count(&orig_flows) + reused_packets);
            assert_eq!(retransmitted, 0);
        } else {
            assert!(stats["capture"].get("duplicates").is_none());
            assert!(retransmitted > 0, "copies are retransmissions when kept");
        }
    }
}

#[test]
fn wsgi_drum_duplicated_capture_has_sixteen_connections_and_no_unmatched_response() {
    let Some(dir) = corpus() else { return };
    let cfg = config_file("[protocols.http]\nports = [8888]\n");
    let (events, stats) = replay_stats(&[
        "-c",
        cfg.path().to_str().unwrap(),
        dir.join("wsgi_drum.pcap").to_str().unwrap(),
    ]);
    // MANIFEST: 16 loopback connections, 16 transactions, every packet twice.
    let flows = final_flows(&events);
    assert_eq!(flows.len(), 16);
    assert!(unique_ids(&flows));
    assert_eq!(of_type(&events, "http").len(), 16);
    assert!(!events.iter().any(|e| e.to_string().contains("Unmatched")));
    assert!(stats["capture"]["duplicates"].as_u64().unwrap() > 500);
}

#[test]
fn memory_budgets_are_enforced_and_counted() {
    // Budgets of 0 MiB: every use hits them.
    let run_with = |memcap: &str, file: &str| {
        let cfg = config_file(&format!("[memcap]\n{memcap}\n"));
        let stats = tempfile::NamedTempFile::new().unwrap();
        let out = run(&[
            "replay",
            "--no-progress",
            "-c",
            cfg.path().to_str().unwrap(),
            "--stats-json",
            stats.path().to_str().unwrap(),
            "-o",
            "/dev/null",
            data(file).to_str().unwrap(),
        ]);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{err}");
        let stats: Value = serde_json::from_slice(&std::fs::read(stats.path()).unwrap()).unwrap();
        (stats, err)
    };
    let (s, err) = run_with("protocol_state_mb = 0", "http_sample.pcap");
    assert_eq!(
        s["memcap"]["protocol_state_hits"], 12,
        "one per HTTP connection"
    );
    assert!(
        s["events"].get("http").is_none(),
        "no session, no transaction"
    );
    assert!(err.contains("protocol state 12"), "stats line: {err}");

    let (s, _) = run_with("reassembly_mb = 0", "impaired_http.pcap");
    assert!(s["memcap"]["reassembly_hits"].as_u64().unwrap() >= 1);
    assert_eq!(s["memcap"]["reassembly_bytes"], 0);

    let (s, err) = run_with("flow_table_mb = 0", "http_sample.pcap");
    assert!(s["memcap"]["flow_table_hits"].as_u64().unwrap() >= 10);
    assert!(s["flows"]["evicted"].as_u64().unwrap() >= 10);
    assert!(err.contains("memcap hits: flow table"), "{err}");

    // Defaults: nothing hit on a small capture.
    let (s, _) = run_with("", "http_sample.pcap");
    assert!(s
        .get("memcap")
        .is_none_or(|m| m.get("flow_table_hits").is_none()));
    assert_eq!(s["events"]["http"], 15);
}

/// HTTP (or Redis) transactions: (path or resource, status code or
/// return value, error.message), in capture order per connection.
fn tx_summary(events: &[Value], t: &str) -> Vec<(String, String, String)> {
    let mut tx: Vec<&Value> = of_type(events, t);
    tx.sort_by_key(|e| {
        (
            e["source"]["port"].as_u64(),
            e["event"]["start"].as_str().map(str::to_string),
        )
    });
    let s = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        v => v.to_string(),
    };
    tx.iter()
        .map(|e| {
            let what = if t == "http" {
                s(&e["url"]["path"])
            } else {
                s(&e["resource"])
            };
            let got = if t == "http" {
                s(&e["http"]["response"]["status_code"])
            } else if e["redis"]["error"].is_string() {
                s(&e["redis"]["error"])
            } else {
                s(&e["redis"]["return_value"])
            };
            (
                format!("{} {what}", s(&e["method"])),
                got,
                s(&e["error"]["message"]),
            )
        })
        .collect()
}

fn t3(a: &str, b: &str, c: &str) -> (String, String, String) {
    (a.into(), b.into(), c.into())
}

#[test]
fn after_a_one_mebibyte_response_head_the_next_response_pairs() {
    // Scripted peers on real TCP stacks (make-captures-hard.sh); gzipped
    // because the 1.1 MB head is repetitive.
    use std::io::Read;
    let mut gz = flate2::read::GzDecoder::new(
        std::fs::File::open(data("http_head_too_large.pcap.gz")).unwrap(),
    );
    let mut bytes = Vec::new();
    gz.read_to_end(&mut bytes).unwrap();
    assert!(bytes.len() > 1_100_000);
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &bytes).unwrap();
    let (events, stats) = replay_stats(&[file.path().to_str().unwrap()]);
    assert_eq!(
        tx_summary(&events, "http"),
        [
            t3("GET /big", "200", "Response head too large"),
            t3("GET /next", "200", ""),
        ]
    );
    let big = &of_type(&events, "http")
        .into_iter()
        .find(|e| e["url"]["path"] == "/big")
        .unwrap()
        .clone();
    // The whole response: 1.1 MB of head and its 10-byte body.
    assert!(big["destination"]["bytes"].as_u64().unwrap() > 1_100_000);
    assert_eq!(stats["http"]["head_too_large"], 1);
    assert!(stats["http"]
        .get("unmatched_requests")
        .is_none_or(|v| v == 0));
}

#[test]
fn unparsable_lengths_and_request_lines_are_errors_and_the_stream_resyncs() {
    let path = data("http_bad_length.pcap");
    let events = replay(&[path.to_str().unwrap()]);
    let mut got = tx_summary(&events, "http");
    got.sort();
    let mut want = vec![
        t3("POST /upload", "400", "Invalid request body framing"),
        t3("GET /after-length", "200", ""),
        // A control byte in the target: the method is still known.
        t3("GET ", "400", "Invalid request head"),
        t3("GET /good", "200", ""),
        t3(
            "GET /resp-bad-length",
            "200",
            "Invalid response body framing",
        ),
        t3("GET /resp-after", "200", ""),
    ];
    want.sort();
    assert_eq!(got, want);
    assert!(
        events.iter().all(|e| e["method"] != "abcGET"),
        "no body bytes glued to a method"
    );
    assert!(events
        .iter()
        .all(|e| e["error"]["message"] != "Unmatched request"
            && e["error"]["message"] != "Unmatched response"));
}

#[test]
fn an_early_final_response_counts_the_request_body_that_follows() {
    let path = data("http_early_final.pcap");
    let events = replay(&[path.to_str().unwrap()]);
    assert_eq!(
        tx_summary(&events, "http"),
        [t3("POST /upload", "401", ""), t3("GET /after", "200", "")]
    );
    let post = of_type(&events, "http")
        .into_iter()
        .find(|e| e["method"] == "POST")
        .unwrap()
        .clone();
    assert_eq!(post["http"]["request"]["body"]["bytes"], 27000);
    // Head and body: the client's payload bytes before the next request.
    let head = post["source"]["bytes"].as_u64().unwrap() - 27000;
    assert!((100..400).contains(&head), "{post}");
}

#[test]
fn redis_bad_bulk_lengths_resync_without_mispairing() {
    let path = data("redis_bad_replies.pcap");
    let (events, stats) = replay_stats(&[path.to_str().unwrap()]);
    let got = tx_summary(&events, "redis");
    let want = [
        // Sequential: each bad reply answers its own command.
        t3("GET a", "", "Invalid response"),
        t3("GET b", "bbb", ""),
        t3("PING ", "PONG", ""),
        t3("GET c", "", "Response too large"),
        t3("GET d", "d", ""),
        // Pipelined: what follows a bad reply cannot be told apart.
        t3("GET e", "", "Invalid response"),
        t3("GET f", "", "Invalid response"),
        t3("PING ", "", "Invalid response"),
        t3("PING ", "PONG", ""),
        // A reply nobody asked for is an event.
        t3(" ", "SURPRISE", "Unmatched response"),
        t3("PING ", "PONG", ""),
    ];
    let mut g = got.clone();
    let mut w = want.to_vec();
    g.sort();
    w.sort();
    assert_eq!(g, w, "{got:?}");
    assert!(events
        .iter()
        .all(|e| e["error"]["message"] != "Packet loss while capturing the response"));
    assert_eq!(stats["redis"]["too_large"], 1);
    assert_eq!(stats["redis"]["unmatched_responses"], 1);
}

#[test]
fn redis_rejected_requests_pair_with_their_protocol_error() {
    // A real redis-server answers "-ERR Protocol error" and closes.
    let path = data("redis_bad_requests.pcap");
    let events = replay(&[path.to_str().unwrap()]);
    let mut got = tx_summary(&events, "redis");
    got.sort();
    let err = "ERR Protocol error: invalid bulk length";
    let mut want = vec![
        t3("SET k", "OK", ""),
        t3("GET k", "v", ""),
        t3("PING ", "PONG", ""),
        t3("GET ", err, "Invalid request"),
        t3("PING ", "PONG", ""),
        t3("GET ", err, "Request too large"),
        t3("PING ", "PONG", ""),
    ];
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn postgresql_on_an_http_port_is_not_labelled_http() {
    let path = data("pgsql_on_http_port.pcap");
    let (events, stats) = replay_stats(&[path.to_str().unwrap()]);
    let flows = final_flows(&events);
    let on = |port: u64| {
        flows
            .iter()
            .find(|f| f["destination"]["port"] == port)
            .copied()
            .unwrap_or_else(|| panic!("no flow to port {port}"))
    };
    let pg = on(8080);
    // Flows name their decoder in `flow.protocol` (never `network.protocol`).
    assert!(pg["flow"].get("protocol").is_none(), "{pg}");
    assert!(pg["network"].get("protocol").is_none(), "{pg}");
    assert!(pg["source"]["bytes"].as_u64().unwrap() > 0);
    assert_eq!(on(8000)["flow"]["protocol"], "http");
    assert_eq!(of_type(&events, "http").len(), 1, "the real HTTP flow");
    assert_eq!(stats["flows"]["protocol_rejected"], 1);
    assert!(stats["http"]["not_http"].as_u64().unwrap() >= 1);
}

#[test]
fn mysql_query_attributes_are_decoded_and_the_statement_is_the_text() {
    let path = data("mysql_query_attributes.pcap");
    let events = replay(&[path.to_str().unwrap()]);
    let mysql = of_type(&events, "mysql");
    let queries: Vec<(u64, String)> = mysql
        .iter()
        .filter(|e| e["method"] == "SELECT")
        .map(|e| {
            (
                e["source"]["port"].as_u64().unwrap(),
                e["query"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let sql = |p: u64, q: &str| (p, q.to_string());
    let mut want = vec![
        sql(50001, "SELECT name FROM users WHERE id = 7"),
        sql(50001, "SELECT 1"),
        // Picked up mid-stream: the attributes are recognised anyway.
        sql(50002, "SELECT name FROM users WHERE id = 7"),
        sql(50002, "SELECT 1"),
    ];
    let mut got = queries.clone();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    for e in mysql
        .iter()
        .filter(|e| e["query"] == "SELECT name FROM users WHERE id = 7")
    {
        assert_eq!(
            e["mysql"]["query_attributes"],
            serde_json::json!([
                {"name": "trace_id", "value": "4bf92f3577b34da6"},
                {"name": "service", "value": "billing"},
            ])
        );
        assert_eq!(e["status"], "OK");
    }
    assert!(mysql.iter().all(|e| e.get("error").is_none()));
    // tshark (which needs the handshake) sees the same on the first connection.
    if have("tshark") {
        let out = std::process::Command::new("tshark")
            .args([
                "-r",
                path.to_str().unwrap(),
                "-Y",
                "mysql.command==3 && tcp.srcport==50001",
            ])
            .args([
                "-T",
                "fields",
                "-e",
                "mysql.query",
                "-e",
                "mysql.query_attr_name",
            ])
            .args(["-e", "mysql.query_attr_value"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "SELECT name FROM users WHERE id = 7\ttrace_id,service\t4bf92f3577b34da6,billing",
                "SELECT 1\t\t"
            ]
        );
    } else {
        skip("tshark not installed: the oracle check is skipped");
    }
}

/// (method, query, num_rows, error_code, error.message) of each MySQL event.
fn mysql_summary(events: &[Value]) -> Vec<String> {
    let mut v: Vec<(String, String)> = of_type(events, "mysql")
        .iter()
        .map(|e| {
            (
                e["event"]["start"].as_str().unwrap_or("").to_string(),
                format!(
                    "{} | {} | rows {} | code {} | {}",
                    e["method"].as_str().unwrap_or(""),
                    e["query"].as_str().unwrap_or(""),
                    e["mysql"]["num_rows"],
                    e["mysql"]["error_code"],
                    e["error"]["message"].as_str().unwrap_or("")
                ),
            )
        })
        .collect();
    v.sort();
    v.into_iter().map(|(_, s)| s).collect()
}

#[test]
fn mysql_compressed_protocol_is_decoded_with_and_without_the_handshake() {
    // Real MariaDB and `mariadb --compress` (make-captures-hard.sh).
    let whole = data("mysql_compressed.pcap");
    let (events, stats) = replay_stats(&[whole.to_str().unwrap()]);
    let got = mysql_summary(&events);
    let big = "SELECT REPEAT(CONCAT('row-', seq, '-'), 40) AS r FROM seq_1_to_1200";
    assert!(
        got.contains(&format!("SELECT | {big} | rows 1200 | code null | ")),
        "{got:#?}"
    );
    assert!(got
        .contains(&"SELECT | SELECT * FROM no_such_table | rows null | code 1146 | ".to_string()));
    assert!(got.contains(&"USE | USE t | rows null | code null | ".to_string()));
    assert!(
        got.iter().all(|s| !s.ends_with("Unmatched request")),
        "{got:#?}"
    );
    assert_eq!(got.len(), 9, "{got:#?}");
    assert_eq!(stats["mysql"]["compressed_connections"], 1);
    // The 1200-row result: many TCP segments and several compressed packets.
    assert!(stats["mysql"]["compressed_packets"].as_u64().unwrap() > 20);
    assert!(stats["mysql"]
        .get("decompress_errors")
        .is_none_or(|v| v == 0));

    // The same connection without its handshake (make-hard.py).
    let mid = data("mysql_compressed_midstream.pcap");
    let (events, stats) = replay_stats(&[mid.to_str().unwrap()]);
    assert_eq!(mysql_summary(&events), got);
    assert_eq!(stats["mysql"]["compressed_midstream"], 1);
}

#[test]
fn mysql_zstd_compression_is_decoded_with_and_without_the_handshake() {
    // Generated (make-hard.py, frames from the zstd tool): no MySQL 8 here.
    let path = data("mysql_zstd.pcap");
    let (events, stats) = replay_stats(&[path.to_str().unwrap()]);
    let mut got: Vec<(u64, String, u64)> = of_type(&events, "mysql")
        .iter()
        .map(|e| {
            assert!(e.get("error").is_none(), "{e}");
            (
                e["source"]["port"].as_u64().unwrap(),
                e["query"].as_str().unwrap().to_string(),
                e["mysql"]["num_rows"].as_u64().unwrap(),
            )
        })
        .collect();
    got.sort();
    let q = |p: u64, s: &str, n: u64| (p, s.to_string(), n);
    assert_eq!(
        got,
        [
            q(50011, "SELECT 1", 1),
            q(50011, "SELECT r FROM t", 500),
            q(50012, "SELECT 1", 1),
            q(50012, "SELECT r FROM t", 500),
        ]
    );
    assert_eq!(stats["mysql"]["zstd_connections"], 1);
    assert_eq!(stats["mysql"]["compressed_midstream"], 1);
}
