//! Binary-level tests of the foundation: bad input gets one clear line and
//! a non-zero exit, filters and groups work, runs are deterministic across
//! worker counts, counters are written.

mod common;

use common::*;
use std::io::Write;

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// One line on stderr, non-zero exit, nothing on stdout.
fn assert_clean_failure(out: &std::process::Output, needle: &str) {
    let err = stderr_of(out);
    assert!(
        !out.status.success(),
        "expected failure, got success; stderr: {err}"
    );
    assert!(
        out.stdout.is_empty(),
        "stdout must stay empty on error, got {} bytes",
        out.stdout.len()
    );
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one line expected: {err}"
    );
    assert!(err.starts_with("spanlens: error: "), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains(needle), "expected '{needle}' in: {err}");
}

#[test]
fn missing_file_is_named() {
    let out = run(&["replay", "/nonexistent/capture.pcap"]);
    assert_clean_failure(&out, "/nonexistent/capture.pcap does not exist");
}

#[test]
fn not_a_pcap_is_named() {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(b"this is not a capture file at all, just text\n")
        .unwrap();
    let out = run(&["replay", f.path().to_str().unwrap()]);
    assert_clean_failure(&out, "is not a pcap or pcapng capture");
}

#[test]
fn a_directory_is_not_a_pcap() {
    let out = run(&["replay", "/tmp"]);
    assert_clean_failure(&out, "it is a directory");
}

#[test]
fn bad_cidr_is_named() {
    let out = run(&[
        "replay",
        "--server",
        "10.0.0.0/40",
        data("http_sample.pcap").to_str().unwrap(),
    ]);
    assert_clean_failure(&out, "10.0.0.0/40");
    let out = run(&[
        "replay",
        "--exclude",
        "web",
        data("http_sample.pcap").to_str().unwrap(),
    ]);
    assert_clean_failure(&out, "--exclude");
}

#[test]
fn bad_bpf_quotes_libpcap() {
    let out = run(&[
        "replay",
        "--bpf",
        "tcp port eighty",
        data("http_sample.pcap").to_str().unwrap(),
    ]);
    assert_clean_failure(&out, "bad BPF filter 'tcp port eighty'");
}

#[test]
fn zero_workers_is_rejected() {
    let out = run(&[
        "replay",
        "-w",
        "0",
        data("http_sample.pcap").to_str().unwrap(),
    ]);
    assert_clean_failure(&out, "workers");
}

#[test]
fn bad_config_key_and_value_are_named() {
    let f = config_file("[flows]\ntcp_timout = \"10s\"\n");
    let out = run(&[
        "replay",
        "-c",
        f.path().to_str().unwrap(),
        data("http_sample.pcap").to_str().unwrap(),
    ]);
    assert_clean_failure(&out, "tcp_timout");
    let f = config_file("[flows]\ntcp_timeout = \"ten seconds\"\n");
    let out = run(&["check-config", f.path().to_str().unwrap()]);
    assert_clean_failure(&out, "line 2");
    let f = config_file("[protocols.http]\nports = [80]\n[protocols.redis]\nports = [80]\n");
    let out = run(&["check-config", f.path().to_str().unwrap()]);
    assert_clean_failure(&out, "port 80 is claimed by both");
}

#[test]
fn missing_config_file_is_named() {
    let out = run(&["check-config", "/nonexistent/spanlens.toml"]);
    assert_clean_failure(&out, "cannot read config file /nonexistent/spanlens.toml");
}

#[test]
fn check_config_prints_effective_settings() {
    let f = config_file(
        "[servers]\nweb = [\"10.0.0.0/24\", \"10.0.1.5\"]\n[protocols.http]\nports = [80, 8080]\n",
    );
    let out = run(&["check-config", f.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("web = [") && text.contains("10.0.1.5"),
        "{text}"
    );
    assert!(
        text.contains("tcp_timeout = \"60s\""),
        "defaults are printed: {text}"
    );
}

#[test]
fn unknown_interface_lists_alternatives() {
    let out = run(&["live", "-i", "nosuchif0"]);
    assert_clean_failure(&out, "unknown interface 'nosuchif0'");
    assert!(stderr_of(&out).contains("lo"), "lists available interfaces");
}

#[test]
fn no_capture_permission_names_capabilities() {
    // Run as an unprivileged user; skip where that is impossible.
    if !is_root() || !have("setpriv") {
        common::skip("needs root and setpriv to drop privileges");
        return;
    }
    let out = std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(env!("CARGO_BIN_EXE_spanlens"))
        .args(["live", "-i", "lo"])
        .output()
        .unwrap();
    assert_clean_failure(&out, "CAP_NET_RAW");
    assert!(stderr_of(&out).contains("CAP_NET_ADMIN"));
}

#[test]
fn truncated_pcap_is_processed_up_to_the_cut_with_a_warning() {
    let full = std::fs::read(data("http_sample.pcap")).unwrap();
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(&full[..full.len() - 37]).unwrap();
    let stats = tempfile::NamedTempFile::new().unwrap();
    let out = run(&[
        "replay",
        "--no-progress",
        "--stats-json",
        stats.path().to_str().unwrap(),
        f.path().to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("WARN") && stderr_of(&out).contains("truncated"));
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(stats.path()).unwrap()).unwrap();
    assert_eq!(s["capture"]["truncated_files"], 1);
    let events = parse_ndjson(&out.stdout);
    assert!(
        !events.is_empty(),
        "packets before the cut still produce events"
    );
}

#[test]
fn stats_json_has_the_counters() {
    let stats = tempfile::NamedTempFile::new().unwrap();
    let events = replay(&[
        "--stats-json",
        stats.path().to_str().unwrap(),
        data("http_sample.pcap").to_str().unwrap(),
    ]);
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(stats.path()).unwrap()).unwrap();
    assert!(s["capture"]["packets"].as_u64().unwrap() > 0);
    assert_eq!(
        s["output"]["events_written"].as_u64().unwrap(),
        events.len() as u64
    );
    assert_eq!(
        s["events"]["flow"].as_u64().unwrap(),
        of_type(&events, "flow").len() as u64
    );
}

#[test]
fn output_file_gets_the_same_events_as_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.ndjson");
    let stdout_events = replay(&[data("http_sample.pcap").to_str().unwrap()]);
    let out = run(&[
        "replay",
        "-q",
        "-o",
        path.to_str().unwrap(),
        data("http_sample.pcap").to_str().unwrap(),
    ]);
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    let file_events = parse_ndjson(&std::fs::read(&path).unwrap());
    assert_eq!(canonical(&stdout_events), canonical(&file_events));
}

#[test]
fn every_event_has_the_common_fields() {
    let events = replay(&[data("http_sample.pcap").to_str().unwrap()]);
    assert!(!events.is_empty());
    for e in &events {
        for f in ["@timestamp", "type", "event", "client", "server", "network"] {
            assert!(!e[f].is_null(), "missing {f} in {e}");
        }
        assert!(e["network"]["community_id"]
            .as_str()
            .unwrap()
            .starts_with("1:"));
        let ts = e["@timestamp"].as_str().unwrap();
        assert_eq!(ts.len(), 27, "RFC 3339 with microseconds: {ts}");
        assert!(ts.ends_with('Z'));
    }
}

mod corpus_tests {
    use super::*;

    #[test]
    fn flow_counts_match_packetbeats_flow_tests() {
        let Some(c) = corpus() else { return };
        let ev = replay(&[c.join("mysql_long.pcap").to_str().unwrap()]);
        let flows = of_type(&ev, "flow");
        assert_eq!(flows.len(), 1);
        let f = flows[0];
        assert_eq!(f["source"]["ip"], "192.168.33.1");
        assert_eq!(f["source"]["port"], 60137);
        assert_eq!(f["destination"]["port"], 3306);
        assert_eq!(f["source"]["packets"], 22);
        assert_eq!(f["source"]["bytes"], 1480);
        assert_eq!(f["destination"]["packets"], 10);
        assert_eq!(f["destination"]["bytes"], 181133);
        assert_eq!(f["flow"]["final"], true);

        let ev = replay(&[c.join("802.1q-q-in-q-icmp.pcap").to_str().unwrap()]);
        let f = of_type(&ev, "flow")[0];
        assert_eq!(f["network"]["vlan"], serde_json::json!([101, 600]));
        assert_eq!(f["network"]["bytes"], 82);
        assert_eq!(f["network"]["packets"], 1);

        let ev = replay(&[c.join("icmp6_ping_over_vlan.pcap").to_str().unwrap()]);
        let f = of_type(&ev, "flow")[0];
        assert_eq!(f["network"]["vlan"], serde_json::json!([10]));
        assert_eq!(f["source"]["bytes"], 70);
        assert_eq!(f["destination"]["bytes"], 70);
        assert_eq!(f["client"]["ip"], "::1");

        let ev = replay(&[c
            .join("memcache_bin_udp_counter_ops.pcap")
            .to_str()
            .unwrap()]);
        let f = of_type(&ev, "flow")[0];
        assert_eq!(f["network"]["transport"], "udp");
        assert_eq!(f["source"]["ip"], "192.168.188.37");
        assert_eq!(f["source"]["port"], 63888);
        assert_eq!(f["destination"]["port"], 11211);
        assert_eq!(f["source"]["packets"], 3);
        assert_eq!(f["source"]["bytes"], 280);
    }

    #[test]
    fn same_events_with_one_and_four_workers() {
        let Some(c) = corpus() else { return };
        let mut files: Vec<String> = std::fs::read_dir(&c)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "pcap"))
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        files.sort();
        for f in &files {
            let one = replay(&["-w", "1", f]);
            let four = replay(&["-w", "4", f]);
            assert_eq!(canonical(&one), canonical(&four), "{f}");
        }
        // All files in one run too (flows of different files share shards).
        let mut args: Vec<&str> = vec!["-w", "1"];
        args.extend(files.iter().map(|s| s.as_str()));
        let one = replay(&args);
        args[1] = "4";
        let four = replay(&args);
        assert!(one.len() > 100);
        assert_eq!(canonical(&one), canonical(&four));
    }

    #[test]
    fn server_and_exclude_filters_split_a_capture() {
        let Some(c) = corpus() else { return };
        let f = c.join("http_minitwit.pcap");
        let f = f.to_str().unwrap();
        let all = of_type(&replay(&[f]), "flow").len();
        let farm = replay(&["--server", "192.168.1.0/24", f]);
        let lo = replay(&["--server", "127.0.0.1", f]);
        let not_lo = replay(&["--exclude", "127.0.0.0/8", f]);
        assert!(all > 0);
        assert_eq!(
            of_type(&farm, "flow").len() + of_type(&lo, "flow").len(),
            all
        );
        assert!(of_type(&farm, "flow")
            .iter()
            .all(|e| e["server"]["ip"] == "192.168.1.110"));
        assert!(of_type(&lo, "flow")
            .iter()
            .all(|e| e["server"]["ip"] == "127.0.0.1"));
        assert_eq!(canonical(&farm), canonical(&not_lo));
        // An include that matches nothing keeps nothing.
        assert!(replay(&["--server", "10.99.99.0/24", f]).is_empty());
    }

    #[test]
    fn server_groups_label_events() {
        let Some(c) = corpus() else { return };
        let cfg = config_file("[servers]\nfarm = [\"192.168.1.0/24\"]\nproxy = [\"192.168.1.110\"]\nlocal = [\"127.0.0.0/8\"]\n");
        let ev = replay(&[
            "-c",
            cfg.path().to_str().unwrap(),
            c.join("http_minitwit.pcap").to_str().unwrap(),
        ]);
        assert!(!ev.is_empty());
        for e in &ev {
            let want = if e["server"]["ip"] == "192.168.1.110" {
                "proxy"
            } else {
                "local"
            };
            assert_eq!(e["server"]["group"], want, "{e}");
        }
    }

    /// Per TCP stream by tshark: (frames, bytes as captured, port pair, initial RTT in µs).
    type Stream = (u64, u64, (u64, u64), Option<f64>);

    /// Per TCP stream: (frames, bytes as captured, port pair, initial RTT in µs) by tshark.
    fn tshark_streams(path: &std::path::Path) -> Vec<Stream> {
        let out = std::process::Command::new("tshark")
            .args([
                "-n",
                "-r",
                path.to_str().unwrap(),
                "-Y",
                "tcp",
                "-T",
                "fields",
                "-E",
                "separator=;",
            ])
            .args([
                "-e",
                "tcp.stream",
                "-e",
                "frame.len",
                "-e",
                "tcp.srcport",
                "-e",
                "tcp.dstport",
            ])
            .args(["-e", "tcp.analysis.initial_rtt"])
            .output()
            .unwrap();
        let mut by_stream: std::collections::BTreeMap<u64, Stream> = Default::default();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let f: Vec<&str> = line.split(';').collect();
            let (Ok(stream), Ok(len), Ok(a), Ok(b)) = (
                f[0].parse::<u64>(),
                f[1].parse::<u64>(),
                f[2].parse::<u64>(),
                f[3].parse::<u64>(),
            ) else {
                continue;
            };
            let e = by_stream
                .entry(stream)
                .or_insert((0, 0, (a.min(b), a.max(b)), None));
            e.0 += 1;
            e.1 += len;
            if e.3.is_none() {
                e.3 = f
                    .get(4)
                    .and_then(|s| s.parse::<f64>().ok())
                    .map(|s| s * 1e6);
            }
        }
        by_stream.into_values().collect()
    }

    #[test]
    fn flow_counts_and_rtt_equal_tsharks() {
        let Some(c) = corpus() else { return };
        if !have("tshark") {
            common::skip("tshark not installed");
            return;
        }
        for name in [
            "http_minitwit.pcap",
            "mysql_long.pcap",
            "wsgi_loopback.pcap",
            "ipv6_thrift.pcap",
            "http_10_connection_close.pcap",
            "gap_in_stream.pcap",
            "http_unmatched.pcap",
        ] {
            let path = c.join(name);
            let streams = tshark_streams(&path);
            assert!(!streams.is_empty(), "{name}: tshark saw no TCP");
            let mut theirs: Vec<(u64, u64)> = streams.iter().map(|s| (s.0, s.1)).collect();
            theirs.sort();
            // tshark counts every frame, duplicates included (wsgi_loopback
            // has every packet twice): keep them for this comparison.
            let keep = config_file("[capture]\nkeep_duplicates = true\n");
            let ev = replay(&["-c", keep.path().to_str().unwrap(), path.to_str().unwrap()]);
            let flows: Vec<&serde_json::Value> = of_type(&ev, "flow")
                .into_iter()
                .filter(|e| e["network"]["transport"] == "tcp")
                .collect();
            let mut ours: Vec<(u64, u64)> = flows
                .iter()
                .map(|e| {
                    (
                        e["network"]["packets"].as_u64().unwrap(),
                        e["network"]["bytes"].as_u64().unwrap(),
                    )
                })
                .collect();
            ours.sort();
            assert_eq!(ours, theirs, "{name}: (packets, bytes) per TCP flow");
            for s in &streams {
                let Some(rtt) = s.3 else { continue };
                let f = flows
                    .iter()
                    .find(|e| {
                        let (a, b) = (
                            e["client"]["port"].as_u64().unwrap(),
                            e["server"]["port"].as_u64().unwrap(),
                        );
                        (a.min(b), a.max(b)) == s.2
                    })
                    .unwrap_or_else(|| panic!("{name}: no flow for ports {:?}", s.2));
                let ours = f["tcp"]["handshake_rtt_us"]
                    .as_f64()
                    .unwrap_or_else(|| panic!("{name}: no RTT in {f}"));
                assert!(
                    (ours - rtt).abs() <= 10.0,
                    "{name} ports {:?}: ours {ours} µs, tshark {rtt} µs",
                    s.2
                );
            }
        }
    }
}

/// A run whose output fails still writes its counters and summary (through
/// the log, here as JSON lines), names the error, and exits 1.
#[test]
fn failed_output_still_writes_stats_and_summary_as_json_log_lines() {
    if !std::path::Path::new("/dev/full").exists() {
        common::skip("no /dev/full on this host");
        return;
    }
    let stats = tempfile::NamedTempFile::new().unwrap();
    let out = run(&[
        "replay",
        "--no-progress",
        "--log-format",
        "json",
        "-o",
        "/dev/full",
        "--stats-json",
        stats.path().to_str().unwrap(),
        data("http_sample.pcap").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let lines: Vec<serde_json::Value> = stderr_of(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect();
    let msgs: Vec<&str> = lines
        .iter()
        .filter_map(|v| v["fields"]["message"].as_str())
        .collect();
    assert!(msgs.iter().any(|m| m.contains("packets,")), "{msgs:?}");
    assert!(msgs.iter().any(|m| m.contains("lost 27")), "{msgs:?}");
    assert!(
        lines.iter().any(|v| v["level"] == "ERROR"
            && v["fields"]["message"]
                .as_str()
                .unwrap_or("")
                .contains("/dev/full")),
        "{msgs:?}"
    );
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(stats.path()).unwrap()).unwrap();
    assert_eq!(s["output"]["events_failed"], 27, "{s}");
}

/// The NDJSON file output appends: two runs, twice the lines.
#[test]
fn ndjson_file_output_appends() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.ndjson");
    for _ in 0..2 {
        let out = run(&[
            "replay",
            "-q",
            "--no-progress",
            "-o",
            file.to_str().unwrap(),
            data("http_sample.pcap").to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", stderr_of(&out));
    }
    let n = std::fs::read_to_string(&file).unwrap().lines().count();
    assert_eq!(n, 54);
}
