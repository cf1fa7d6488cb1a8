//! Delivery to Elasticsearch through outages, run as the binary against real
//! nodes (no mock): a node killed and restarted, stopped for good (then
//! drained), frozen (SIGSTOP), killed under a full-speed replay, one of
//! three cluster nodes killed, a full spool disk, mapping rejections and a
//! read-only index. Each ends with every event of the capture indexed
//! exactly once (the count and a histogram compared with an NDJSON run of
//! the same capture), or with the exact shortfall counted.
//!
//! Needs `SPANLENS_ES_URL` naming the node `tests/elasticsearch.sh` manages
//! (the tests stop, kill, freeze and restart it) and, for the cluster test,
//! `SPANLENS_ES_CLUSTER` (the URLs `tests/elasticsearch.sh cluster-start`
//! prints); without them each test reports `SKIPPED:` (counted by
//! tests/run-all.sh). Timeouts in the test configs are short so that the
//! whole file runs in a few minutes; the outage lengths are real.

mod common;

use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

static SERIAL: Mutex<()> = Mutex::new(());

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn script(args: &[&str]) -> Option<String> {
    let out = Command::new(repo().join("tests/elasticsearch.sh"))
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The managed single node, held for the whole test.
fn node() -> Option<(MutexGuard<'static, ()>, String)> {
    let serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(es) = std::env::var("SPANLENS_ES_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        common::skip("SPANLENS_ES_URL is not set (tests/run-all.sh starts a node)");
        return None;
    };
    let es = es.trim_end_matches('/').to_string();
    if script(&["url"]).as_deref() != Some(es.as_str()) {
        common::skip(&format!(
            "{es} is not the node tests/elasticsearch.sh manages (ES_PORT), so it cannot be stopped"
        ));
        return None;
    }
    // A previous test may have left it stopped or frozen.
    let _ = script(&["thaw"]);
    script(&["start"]).expect("start the node");
    Some((serial, es))
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

fn call(method: &str, url: &str, body: &str) -> Value {
    let req = ureq::http::Request::builder()
        .method(method)
        .uri(url)
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .unwrap();
    match agent().run(req) {
        Ok(mut r) => {
            let b = r.body_mut().read_to_vec().unwrap_or_default();
            serde_json::from_slice(&b).unwrap_or(Value::Null)
        }
        Err(_) => Value::Null,
    }
}

fn delete_indices(es: &str, prefix: &str) {
    call(
        "DELETE",
        &format!("{es}/{prefix}-*?ignore_unavailable=true&allow_no_indices=true"),
        "",
    );
}

fn count(es: &str, prefix: &str) -> u64 {
    call("POST", &format!("{es}/{prefix}-*/_refresh"), "");
    call("GET", &format!("{es}/{prefix}-*/_count"), "")["count"]
        .as_u64()
        .unwrap_or(0)
}

fn es_types(es: &str, prefix: &str) -> BTreeMap<String, u64> {
    let q = r#"{"size":0,"aggs":{"t":{"terms":{"field":"type","size":100}}}}"#;
    let r = call("POST", &format!("{es}/{prefix}-*/_search"), q);
    let mut h = BTreeMap::new();
    for b in r["aggregations"]["t"]["buckets"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        h.insert(
            b["key"].as_str().unwrap_or("").to_string(),
            b["doc_count"].as_u64().unwrap_or(0),
        );
    }
    h
}

fn types(events: &[Value]) -> BTreeMap<String, u64> {
    let mut h = BTreeMap::new();
    for e in events {
        *h.entry(e["type"].as_str().unwrap_or("").to_string())
            .or_insert(0) += 1;
    }
    h
}

/// `copies` copies of a classic Ethernet/IPv4 pcap, each shifted `gap_us`
/// later than the one before and with the third octet of both addresses
/// set to the copy's number (IPv4 checksum fixed): a longer capture of
/// distinct flows, for paced replays.
fn stretched(src: &Path, copies: u32, gap_us: u64, out: &Path) -> PathBuf {
    let data = std::fs::read(src).unwrap();
    assert_eq!(
        &data[..4],
        &[0xd4, 0xc3, 0xb2, 0xa1],
        "little-endian µs pcap"
    );
    let mut recs = Vec::new();
    let mut off = 24;
    while off + 16 <= data.len() {
        let sec = u32::from_le_bytes(data[off..off + 4].try_into().unwrap()) as u64;
        let usec = u32::from_le_bytes(data[off + 4..off + 8].try_into().unwrap()) as u64;
        let incl = u32::from_le_bytes(data[off + 8..off + 12].try_into().unwrap()) as usize;
        recs.push((sec * 1_000_000 + usec, off + 8, off + 16 + incl));
        off += 16 + incl;
    }
    let mut w = std::io::BufWriter::new(std::fs::File::create(out).unwrap());
    w.write_all(&data[..24]).unwrap();
    for k in 0..u64::from(copies) {
        for &(t, from, to) in &recs {
            let t = t + k * gap_us;
            w.write_all(&((t / 1_000_000) as u32).to_le_bytes())
                .unwrap();
            w.write_all(&((t % 1_000_000) as u32).to_le_bytes())
                .unwrap();
            let mut rec = data[from..to].to_vec();
            let f = &mut rec[8..];
            if f.len() >= 34 && f[12..14] == [0x08, 0x00] {
                let ip = &mut f[14..];
                ip[14] = k as u8;
                ip[18] = k as u8;
                let ihl = usize::from(ip[0] & 0x0f) * 4;
                ip[10] = 0;
                ip[11] = 0;
                let mut sum: u32 = ip[..ihl]
                    .chunks(2)
                    .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
                    .sum();
                while sum > 0xffff {
                    sum = (sum & 0xffff) + (sum >> 16);
                }
                ip[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
            }
            w.write_all(&rec).unwrap();
        }
    }
    w.flush().unwrap();
    out.to_path_buf()
}

fn ndjson(pcap: &Path) -> Vec<Value> {
    common::replay(&["-o", "-", pcap.to_str().unwrap()])
}

/// A config with short timeouts (the outages are real, the waits short);
/// `extra` lines (`key = value`) replace or add settings.
fn config(dir: &Path, hosts: &[String], prefix: &str, extra: &str) -> PathBuf {
    let hosts: Vec<String> = hosts.iter().map(|h| format!("\"{h}\"")).collect();
    let mut kv: Vec<(String, String)> = [
        ("hosts", format!("[{}]", hosts.join(", "))),
        ("index", format!("\"{prefix}-%{{+yyyy.MM.dd}}\"")),
        ("template_name", format!("\"{prefix}\"")),
        ("replicas", "0".into()),
        ("spool_dir", format!("\"{}\"", dir.join("spool").display())),
        (
            "dead_letter",
            format!("\"{}\"", dir.join("dead.ndjson").display()),
        ),
        ("flush_interval", "\"200ms\"".into()),
        ("connect_timeout", "\"1s\"".into()),
        ("timeout", "\"3s\"".into()),
        ("backoff_init", "\"100ms\"".into()),
        ("backoff_max", "\"1s\"".into()),
        ("close_timeout", "\"150s\"".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for line in extra.lines().filter(|l| !l.trim().is_empty()) {
        let (k, v) = line.split_once('=').expect("key = value");
        let (k, v) = (k.trim().to_string(), v.trim().to_string());
        match kv.iter_mut().find(|(kk, _)| *kk == k) {
            Some(e) => e.1 = v,
            None => kv.push((k, v)),
        }
    }
    let mut text = String::from("[output]\npath = \"elasticsearch\"\n[output.elasticsearch]\n");
    for (k, v) in kv {
        text.push_str(&format!("{k} = {v}\n"));
    }
    let p = dir.join("es.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn spawn_replay(cfg: &Path, stats: &Path, pcap: &Path, realtime: Option<&str>) -> Child {
    let mut c = common::bin();
    c.args(["replay", "--no-progress", "-c"])
        .arg(cfg)
        .arg("--stats-json")
        .arg(stats);
    if let Some(s) = realtime {
        c.args(["--realtime", s]);
    }
    c.arg(pcap)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

struct Finished {
    code: i32,
    stderr: String,
    stats: Value,
}

fn finish(mut child: Child, stats: &Path) -> Finished {
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    let stats =
        serde_json::from_slice(&std::fs::read(stats).unwrap_or_default()).unwrap_or(Value::Null);
    Finished {
        code: status.code().unwrap_or(-1),
        stderr: err,
        stats,
    }
}

fn es_stat(s: &Value, k: &str) -> u64 {
    s["output"]["es"][k].as_u64().unwrap_or(0)
}

/// Every event indexed exactly once: the count and the per-type histogram
/// equal the NDJSON run's, and each event has exactly one final fate.
fn assert_exactly_once(es: &str, prefix: &str, events: &[Value], f: &Finished) {
    let n = events.len() as u64;
    assert_eq!(count(es, prefix), n, "indexed count; stderr:\n{}", f.stderr);
    assert_eq!(es_types(es, prefix), types(events));
    let s = &f.stats;
    assert_eq!(es_stat(s, "docs_accepted"), n, "{s}");
    assert_eq!(
        es_stat(s, "docs_indexed") + es_stat(s, "docs_duplicate"),
        n,
        "{s}"
    );
    assert_eq!(es_stat(s, "lost"), 0, "{s}");
    assert_eq!(es_stat(s, "spool_docs"), 0, "{s}");
}

fn after(d: Duration, f: impl FnOnce() + Send + 'static) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        std::thread::sleep(d);
        f()
    })
}

/// Table row 1: paced replay, node SIGKILLed, restarted at once.
#[test]
fn node_killed_and_restarted_mid_replay_loses_and_duplicates_nothing() {
    let Some((_g, es)) = node() else { return };
    let prefix = "dlkill";
    delete_indices(&es, prefix);
    let dir = tempfile::tempdir().unwrap();
    let pcap = stretched(
        &common::data("http_sample.pcap"),
        40,
        1_000_000,
        &dir.path().join("c.pcap"),
    );
    let events = ndjson(&pcap);
    let cfg = config(dir.path(), std::slice::from_ref(&es), prefix, "");
    let stats = dir.path().join("stats.json");
    let started = Instant::now();
    let child = spawn_replay(&cfg, &stats, &pcap, Some("4"));
    let chaos = after(Duration::from_secs(3), || {
        script(&["kill"]).expect("kill");
        script(&["start"]).expect("restart");
    });
    let f = finish(child, &stats);
    chaos.join().unwrap();
    assert_eq!(f.code, 0, "{}", f.stderr);
    assert!(
        es_stat(&f.stats, "bulk_failed") > 0,
        "no outage seen: {}",
        f.stats
    );
    assert_exactly_once(&es, prefix, &events, &f);
    eprintln!(
        "kill/restart: {} events, {:?}",
        events.len(),
        started.elapsed()
    );
    delete_indices(&es, prefix);
}

/// Table row 2: node stopped and not restarted: the rest is spooled (exit 0,
/// nothing lost), `spool status` shows it, `spool drain` delivers it.
#[test]
fn node_stopped_for_good_spools_the_rest_and_drain_delivers_it() {
    let Some((_g, es)) = node() else { return };
    let prefix = "dlstop";
    delete_indices(&es, prefix);
    let dir = tempfile::tempdir().unwrap();
    let pcap = stretched(
        &common::data("http_sample.pcap"),
        40,
        1_000_000,
        &dir.path().join("c.pcap"),
    );
    let events = ndjson(&pcap);
    let n = events.len() as u64;
    let cfg = config(
        dir.path(),
        std::slice::from_ref(&es),
        prefix,
        "close_timeout = \"3s\"",
    );
    let stats = dir.path().join("stats.json");
    let child = spawn_replay(&cfg, &stats, &pcap, Some("4"));
    let chaos = after(Duration::from_secs(4), || {
        script(&["stop"]).expect("stop");
    });
    let f = finish(child, &stats);
    chaos.join().unwrap();
    assert_eq!(f.code, 0, "spooled is not lost: {}", f.stderr);
    let s = &f.stats;
    let waiting = es_stat(s, "spool_docs");
    assert!(waiting > 0, "{s}");
    assert_eq!(es_stat(s, "docs_indexed") + waiting, n, "{s}");
    assert_eq!(es_stat(s, "lost"), 0, "{s}");
    assert!(
        f.stderr
            .contains(&format!("{waiting} documents wait in the spool")),
        "{}",
        f.stderr
    );
    assert!(f
        .stderr
        .contains(&format!("waiting in the spool {waiting}")));

    let status = common::run(&["spool", "status", "-c", cfg.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&status.stdout).to_string();
    assert!(status.status.success(), "{text}");
    assert!(
        text.contains(&format!(": {waiting} documents in ")),
        "{text}"
    );
    assert!(text.contains(&format!("for cluster: {es}")), "{text}");

    // Drain with the node down fails and keeps everything.
    let early = common::run(&["spool", "drain", "-c", cfg.to_str().unwrap()]);
    assert!(!early.status.success());
    script(&["start"]).expect("start");
    let drain = common::run(&["spool", "drain", "-c", cfg.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&drain.stdout).to_string();
    assert!(
        drain.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&drain.stderr)
    );
    assert!(text.contains(": 0 documents in 0 bulk requests"), "{text}");
    assert_eq!(count(&es, prefix), n);
    assert_eq!(es_types(&es, prefix), types(&events));
    delete_indices(&es, prefix);
}

/// Table row 3: a node that accepts connections but does not answer.
#[test]
fn frozen_node_is_an_outage_not_a_loss() {
    let Some((_g, es)) = node() else { return };
    let prefix = "dlfreeze";
    delete_indices(&es, prefix);
    let dir = tempfile::tempdir().unwrap();
    let pcap = stretched(
        &common::data("http_sample.pcap"),
        40,
        1_000_000,
        &dir.path().join("c.pcap"),
    );
    let events = ndjson(&pcap);
    let cfg = config(dir.path(), std::slice::from_ref(&es), prefix, "");
    let stats = dir.path().join("stats.json");
    let child = spawn_replay(&cfg, &stats, &pcap, Some("4"));
    let chaos = after(Duration::from_secs(2), || {
        script(&["freeze"]).expect("freeze");
        std::thread::sleep(Duration::from_secs(9));
        script(&["thaw"]).expect("thaw");
    });
    let f = finish(child, &stats);
    chaos.join().unwrap();
    assert_eq!(f.code, 0, "{}", f.stderr);
    assert!(
        es_stat(&f.stats, "docs_failed_server") > 0,
        "the stall was not seen: {}",
        f.stats
    );
    assert_exactly_once(&es, prefix, &events, &f);
    delete_indices(&es, prefix);
}

/// Table row 4: full-speed replay, node killed early and back later.
#[test]
fn full_speed_replay_survives_a_kill_and_a_late_restart() {
    let Some((_g, es)) = node() else { return };
    let prefix = "dlfast";
    delete_indices(&es, prefix);
    let dir = tempfile::tempdir().unwrap();
    let pcap = stretched(
        &common::data("redis-benchmark.pcap"),
        45,
        100_000,
        &dir.path().join("c.pcap"),
    );
    let events = ndjson(&pcap);
    assert!(events.len() > 30_000, "{}", events.len());
    // Small requests so that the replay is still going when the node dies.
    let cfg = config(
        dir.path(),
        std::slice::from_ref(&es),
        prefix,
        "bulk_max_docs = 500",
    );
    let stats = dir.path().join("stats.json");
    let child = spawn_replay(&cfg, &stats, &pcap, None);
    let chaos = after(Duration::from_millis(700), || {
        script(&["kill"]).expect("kill");
        std::thread::sleep(Duration::from_secs(8));
        script(&["start"]).expect("restart");
    });
    let f = finish(child, &stats);
    chaos.join().unwrap();
    assert_eq!(f.code, 0, "{}", f.stderr);
    assert!(es_stat(&f.stats, "spooled_docs") > 0, "{}", f.stats);
    assert_exactly_once(&es, prefix, &events, &f);
    delete_indices(&es, prefix);
}

/// Three nodes, `hosts` lists all; one is killed mid-replay.
#[test]
fn cluster_node_killed_mid_replay_loses_and_duplicates_nothing() {
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(urls) = std::env::var("SPANLENS_ES_CLUSTER")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        common::skip("SPANLENS_ES_CLUSTER is not set (tests/elasticsearch.sh cluster-start)");
        return;
    };
    let hosts: Vec<String> = urls.split(',').map(|s| s.trim().to_string()).collect();
    assert_eq!(hosts.len(), 3, "{urls}");
    let _ = script(&["node-start", "1"]);
    let prefix = "dlcluster";
    delete_indices(&hosts[0], prefix);
    let dir = tempfile::tempdir().unwrap();
    let pcap = stretched(
        &common::data("http_sample.pcap"),
        40,
        1_000_000,
        &dir.path().join("c.pcap"),
    );
    let events = ndjson(&pcap);
    let cfg = config(dir.path(), &hosts, prefix, "replicas = 1\nshards = 2");
    let stats = dir.path().join("stats.json");
    // A cluster in its steady state: the template and the day's index
    // exist (the first copy's events) and every replica is allocated.
    let first = finish(
        spawn_replay(&cfg, &stats, &common::data("http_sample.pcap"), None),
        &stats,
    );
    assert_eq!(first.code, 0, "{}", first.stderr);
    call(
        "GET",
        &format!(
            "{}/_cluster/health/{prefix}-*?wait_for_status=green&timeout=90s",
            hosts[0]
        ),
        "",
    );
    let child = spawn_replay(&cfg, &stats, &pcap, Some("4"));
    let chaos = after(Duration::from_secs(4), || {
        script(&["node-kill", "1"]).expect("kill node 1");
    });
    let f = finish(child, &stats);
    chaos.join().unwrap();
    assert_eq!(f.code, 0, "{}", f.stderr);
    // Ask a node that is alive.
    assert_exactly_once(&hosts[0], prefix, &events, &f);
    // The cluster heals for the next run (node 1 rejoins).
    script(&["node-start", "1"]).expect("restart node 1");
    delete_indices(&hosts[0], prefix);
}

/// The spool's disk fills up during a stall: one line, counted, the run
/// goes on, and what was spooled before is intact and delivered.
#[test]
fn full_spool_disk_is_one_line_counted_and_the_spool_stays_intact() {
    if !rustix_is_root() {
        common::skip("needs root to mount a small tmpfs");
        return;
    }
    let Some((_g, es)) = node() else { return };
    let prefix = "dlfull";
    delete_indices(&es, prefix);
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    std::fs::create_dir(&spool).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(&spool)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        common::skip("cannot mount a tmpfs here");
        return;
    }
    struct Umount(PathBuf);
    impl Drop for Umount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _umount = Umount(spool.clone());
    let pcap = stretched(
        &common::data("http_sample.pcap"),
        40,
        1_000_000,
        &dir.path().join("c.pcap"),
    );
    let events = ndjson(&pcap);
    let n = events.len() as u64;
    let cfg = config(
        dir.path(),
        std::slice::from_ref(&es),
        prefix,
        "compression = false",
    );
    let stats = dir.path().join("stats.json");
    let child = spawn_replay(&cfg, &stats, &pcap, Some("4"));
    let chaos = after(Duration::from_secs(2), || {
        script(&["freeze"]).expect("freeze");
        std::thread::sleep(Duration::from_secs(8));
        script(&["thaw"]).expect("thaw");
    });
    let f = finish(child, &stats);
    chaos.join().unwrap();
    let s = &f.stats;
    let lost = es_stat(s, "lost");
    assert!(lost > 0, "the spool never filled: {s}");
    assert!(es_stat(s, "spool_errors") > 0, "{s}");
    assert!(es_stat(s, "spooled_docs") > 0, "{s}");
    // Exactly the shortfall: what is indexed plus what was counted lost.
    assert_eq!(count(&es, prefix) + lost, n, "{s}");
    assert_eq!(
        es_stat(s, "docs_indexed") + es_stat(s, "docs_duplicate") + lost,
        n,
        "{s}"
    );
    assert_eq!(f.code, 3, "lost events make the exit status non-zero");
    let full_lines = f
        .stderr
        .lines()
        .filter(|l| l.contains("No space left on device"))
        .count();
    assert_eq!(full_lines, 1, "{}", f.stderr);
    assert!(
        f.stderr.contains(&format!("{lost} documents LOST")),
        "{}",
        f.stderr
    );
    delete_indices(&es, prefix);
}

fn rustix_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// The date part of the daily index of the first event.
fn index_day(events: &[Value]) -> String {
    let ts = events[0]["@timestamp"].as_str().unwrap();
    ts[..10].replace('-', ".")
}

/// Mapping rejections: dead-lettered with a warning naming the file, exit 0;
/// without a dead-letter file they are lost and the exit status says so.
#[test]
fn mapping_rejections_are_dead_lettered_and_named_or_counted_lost() {
    let Some((_g, es)) = node() else { return };
    let pcap = common::data("http_sample.pcap");
    let events = ndjson(&pcap);
    let http = events.iter().filter(|e| e["type"] == "http").count() as u64;
    assert!(http > 0 && http < events.len() as u64);
    for (prefix, dead_letter) in [("dlmap", true), ("dlmaplost", false)] {
        delete_indices(&es, prefix);
        call("DELETE", &format!("{es}/_index_template/{prefix}"), "");
        // An index whose `http` field is a keyword: every HTTP event is refused.
        call(
            "PUT",
            &format!("{es}/{prefix}-{}", index_day(&events)),
            r#"{"settings":{"number_of_replicas":0},"mappings":{"properties":{"http":{"type":"keyword"}}}}"#,
        );
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(
            dir.path(),
            std::slice::from_ref(&es),
            prefix,
            if dead_letter {
                ""
            } else {
                "dead_letter = \"\""
            },
        );
        let stats = dir.path().join("stats.json");
        let f = finish(spawn_replay(&cfg, &stats, &pcap, None), &stats);
        let s = &f.stats;
        assert_eq!(es_stat(s, "dead_lettered"), http, "{s}");
        assert_eq!(es_stat(s, "docs_failed_mapping"), http, "{s}");
        assert_eq!(count(&es, prefix), events.len() as u64 - http);
        assert!(
            f.stderr.contains(&format!("mapping {http},")),
            "{}",
            f.stderr
        );
        if dead_letter {
            assert_eq!(f.code, 0, "{}", f.stderr);
            let file = dir.path().join("dead.ndjson");
            assert!(
                f.stderr
                    .contains(&format!("dead-letter file {}", file.display())),
                "{}",
                f.stderr
            );
            let lines = std::fs::read_to_string(&file).unwrap().lines().count() as u64;
            assert_eq!(lines, http);
        } else {
            assert_eq!(f.code, 3, "{}", f.stderr);
            assert_eq!(es_stat(s, "lost"), http, "{s}");
        }
        delete_indices(&es, prefix);
    }
}

/// A read-only (disk-full-like) index: the reason is shown, nothing is lost
/// (spooled), and once the block is lifted `spool drain` delivers it all.
#[test]
fn read_only_index_shows_its_reason_and_keeps_the_documents() {
    let Some((_g, es)) = node() else { return };
    let prefix = "dlro";
    delete_indices(&es, prefix);
    let pcap = common::data("http_sample.pcap");
    let events = ndjson(&pcap);
    let n = events.len() as u64;
    let index = format!("{es}/{prefix}-{}", index_day(&events));
    call("DELETE", &format!("{es}/_index_template/{prefix}"), "");
    call(
        "PUT",
        &index,
        r#"{"settings":{"number_of_replicas":0,"index.blocks.read_only_allow_delete":true}}"#,
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        std::slice::from_ref(&es),
        prefix,
        "close_timeout = \"2s\"\nmax_retries = 1",
    );
    let stats = dir.path().join("stats.json");
    let f = finish(spawn_replay(&cfg, &stats, &pcap, None), &stats);
    let s = &f.stats;
    assert_eq!(f.code, 0, "{}", f.stderr);
    assert!(es_stat(s, "docs_failed_readonly") >= n, "{s}");
    assert_eq!(es_stat(s, "spool_docs"), n, "{s}");
    assert!(
        f.stderr.contains("index read-only or disk full")
            && f.stderr.contains("cluster_block_exception"),
        "{}",
        f.stderr
    );
    call(
        "PUT",
        &format!("{index}/_settings"),
        r#"{"index.blocks.read_only_allow_delete":null}"#,
    );
    let drain = common::run(&["spool", "drain", "-c", cfg.to_str().unwrap()]);
    assert!(
        drain.status.success(),
        "{}",
        String::from_utf8_lossy(&drain.stderr)
    );
    assert_eq!(count(&es, prefix), n);
    delete_indices(&es, prefix);
}

/// The test captures: every copy yields the original's events.
#[test]
fn stretched_capture_repeats_every_event() {
    let dir = tempfile::tempdir().unwrap();
    for (name, copies) in [("http_sample.pcap", 40), ("redis-benchmark.pcap", 45)] {
        let src = common::data(name);
        let one = ndjson(&src);
        let many = ndjson(&stretched(
            &src,
            copies,
            1_000_000,
            &dir.path().join("s.pcap"),
        ));
        assert_eq!(many.len(), one.len() * copies as usize, "{name}");
        assert_eq!(types(&many).len(), types(&one).len());
    }
}

/// `--es URL -o FILE`: both outputs get every event.
#[test]
fn es_and_ndjson_file_together_both_get_every_event() {
    let Some((_g, es)) = node() else { return };
    let prefix = "dltee";
    delete_indices(&es, prefix);
    let dir = tempfile::tempdir().unwrap();
    let pcap = common::data("http_sample.pcap");
    let events = ndjson(&pcap);
    let cfg = config(dir.path(), std::slice::from_ref(&es), prefix, "");
    let file = dir.path().join("events.ndjson");
    let out = common::run(&[
        "replay",
        "-q",
        "--no-progress",
        "-c",
        cfg.to_str().unwrap(),
        "--es",
        &es,
        "-o",
        file.to_str().unwrap(),
        pcap.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Two workers hand their batches to the exporter in whatever order they
    // finish, so compare the events as sets.
    let sorted = |v: &[Value]| {
        let mut s: Vec<String> = v.iter().map(|e| e.to_string()).collect();
        s.sort();
        s
    };
    let written = common::parse_ndjson(&std::fs::read(&file).unwrap());
    assert_eq!(sorted(&written), sorted(&events));
    assert_eq!(count(&es, prefix), events.len() as u64);
    assert_eq!(es_types(&es, prefix), types(&events));
    delete_indices(&es, prefix);
}
