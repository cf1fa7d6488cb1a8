//! Tests of the Elasticsearch output against a real node (no mock).
//!
//! Gated on `SPANLENS_ES_URL` (e.g. `$(tests/elasticsearch.sh start)`);
//! without it every test reports `SKIPPED: <test>: <reason>`, which
//! tests/run-all.sh counts and lists in its closing line. The outage test
//! also needs the node to be the one `tests/elasticsearch.sh` manages, since
//! it stops and restarts it. Tests share one node, so they run one at a time
//! (a process-wide lock) and each uses its own index prefix and template.

mod common;

use serde_json::Value;
use spanlens::event::EventBatch;
use spanlens::output::elasticsearch::{ElasticsearchConfig, ElasticsearchOutput};
use spanlens::output::Output;
use spanlens::stats::Counters;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

static SERIAL: Mutex<()> = Mutex::new(());

/// The node's URL, with this test holding the node until the guard drops;
/// `None` (with a notice) when `SPANLENS_ES_URL` is not set.
fn node() -> Option<(MutexGuard<'static, ()>, String)> {
    let serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    match std::env::var("SPANLENS_ES_URL") {
        Ok(u) if !u.is_empty() => Some((serial, u.trim_end_matches('/').to_string())),
        _ => {
            common::skip(
                "SPANLENS_ES_URL is not set (start a node with tests/elasticsearch.sh start)",
            );
            None
        }
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn corpus() -> Option<PathBuf> {
    let p = std::env::var_os("SPANLENS_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("../shared/corpus"));
    if p.is_dir() {
        Some(p)
    } else {
        common::skip(&format!("corpus not found at {}", p.display()));
        None
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

fn get_json(url: &str) -> Value {
    let mut r = agent().get(url).call().expect("GET");
    let body = r.body_mut().read_to_vec().expect("body");
    serde_json::from_slice(&body).unwrap_or(Value::Null)
}

fn post_json(url: &str, body: &str) -> Value {
    let mut r = agent()
        .post(url)
        .header("Content-Type", "application/json")
        .send(body)
        .expect("POST");
    let b = r.body_mut().read_to_vec().expect("body");
    serde_json::from_slice(&b).unwrap_or(Value::Null)
}

fn delete_indices(es: &str, prefix: &str) {
    let _ = agent()
        .delete(format!(
            "{es}/{prefix}*?ignore_unavailable=true&allow_no_indices=true"
        ))
        .call();
}

fn count(es: &str, prefix: &str) -> u64 {
    post_json(&format!("{es}/{prefix}*/_refresh"), "");
    get_json(&format!("{es}/{prefix}*/_count"))["count"]
        .as_u64()
        .unwrap_or(0)
}

/// A config writing to indices named `<prefix>-yyyy.MM.dd` with its own template.
fn config(es: &str, prefix: &str, dir: &Path) -> ElasticsearchConfig {
    ElasticsearchConfig {
        hosts: vec![es.to_string()],
        index: format!("{prefix}-%{{+yyyy.MM.dd}}"),
        template_name: prefix.to_string(),
        replicas: 0,
        flush_interval: spanlens::config::HumanDuration::millis(100),
        dead_letter: Some(dir.join("dead.ndjson")),
        spool_dir: Some(dir.join("spool")),
        close_timeout: spanlens::config::HumanDuration::secs(60),
        ..Default::default()
    }
}

fn toml_for(cfg: &ElasticsearchConfig) -> String {
    #[derive(serde::Serialize)]
    struct Out<'a> {
        path: &'a str,
        elasticsearch: &'a ElasticsearchConfig,
    }
    #[derive(serde::Serialize)]
    struct File<'a> {
        output: Out<'a>,
    }
    toml::to_string(&File {
        output: Out {
            path: "elasticsearch",
            elasticsearch: cfg,
        },
    })
    .expect("toml")
}

fn corpus_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("corpus dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    v.sort();
    v
}

fn histogram(events: &[Value], pointer: &str) -> BTreeMap<String, u64> {
    let mut h = BTreeMap::new();
    for e in events {
        if let Some(v) = e.pointer(pointer) {
            *h.entry(v.to_string()).or_insert(0) += 1;
        }
    }
    h
}

fn es_terms(es: &str, prefix: &str, field: &str) -> BTreeMap<String, u64> {
    let q =
        format!(r#"{{"size":0,"aggs":{{"t":{{"terms":{{"field":"{field}","size":10000}}}}}}}}"#);
    let r = post_json(&format!("{es}/{prefix}*/_search"), &q);
    let mut h = BTreeMap::new();
    for b in r["aggregations"]["t"]["buckets"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        h.insert(b["key"].to_string(), b["doc_count"].as_u64().unwrap_or(0));
    }
    h
}

fn field_type(es: &str, prefix: &str, field: &str) -> Option<String> {
    let m = get_json(&format!("{es}/{prefix}*/_mapping/field/{field}"));
    let leaf = field.rsplit('.').next().unwrap_or(field);
    m.as_object()?
        .values()
        .find_map(|idx| idx["mappings"][field]["mapping"][leaf]["type"].as_str())
        .map(String::from)
}

#[test]
fn replay_of_the_corpus_matches_ndjson_output() {
    let Some((_serial, es)) = node() else {
        return;
    };
    let Some(corpus) = corpus() else {
        return;
    };
    let prefix = "itreplay";
    delete_indices(&es, prefix);
    let dir = tempfile::tempdir().unwrap();
    let files = corpus_files(&corpus);
    assert!(!files.is_empty());
    let bin = env!("CARGO_BIN_EXE_spanlens");

    let nd = Command::new(bin)
        .args(["replay", "-q", "--no-progress", "-o", "-"])
        .args(&files)
        .output()
        .unwrap();
    assert!(
        nd.status.success(),
        "{}",
        String::from_utf8_lossy(&nd.stderr)
    );
    let events: Vec<Value> = nd
        .stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert!(!events.is_empty());

    let cfg_path = dir.path().join("es.toml");
    std::fs::write(&cfg_path, toml_for(&config(&es, prefix, dir.path()))).unwrap();
    let stats = dir.path().join("stats.json");
    let run = Command::new(bin)
        .args(["replay", "-q", "--no-progress", "-c"])
        .arg(&cfg_path)
        .arg("--stats-json")
        .arg(&stats)
        .args(&files)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let s: Value = serde_json::from_slice(&std::fs::read(&stats).unwrap()).unwrap();
    let es_stats = &s["output"]["es"];
    assert_eq!(
        es_stats["docs_accepted"].as_u64(),
        Some(events.len() as u64),
        "{s}"
    );
    assert_eq!(es_stats["dropped"].as_u64().unwrap_or(0), 0, "{s}");

    assert_eq!(count(&es, prefix), events.len() as u64);
    assert_eq!(field_type(&es, prefix, "client.ip").as_deref(), Some("ip"));
    assert_eq!(
        field_type(&es, prefix, "destination.port").as_deref(),
        Some("long")
    );
    // The histogram of a status-like field in ES equals the NDJSON one.
    for (field, pointer) in [
        ("http.response.status_code", "/http/response/status_code"),
        ("destination.port", "/destination/port"),
        ("type", "/type"),
    ] {
        let want = histogram(&events, pointer);
        if want.is_empty() {
            eprintln!("note: no event has {field} yet");
            continue;
        }
        assert_eq!(es_terms(&es, prefix, field), want, "{field}");
    }

    // Replaying again creates no duplicates: every document is a 409.
    let again = Command::new(bin)
        .args(["replay", "-q", "--no-progress", "-c"])
        .arg(&cfg_path)
        .arg("--stats-json")
        .arg(&stats)
        .args(&files)
        .output()
        .unwrap();
    assert!(again.status.success());
    let s: Value = serde_json::from_slice(&std::fs::read(&stats).unwrap()).unwrap();
    assert_eq!(
        s["output"]["es"]["docs_duplicate"].as_u64(),
        Some(events.len() as u64),
        "{s}"
    );
    assert_eq!(count(&es, prefix), events.len() as u64);
    delete_indices(&es, prefix);
}

fn batch_of(n: u32, first: u32, ts: u64, flow: u64) -> EventBatch {
    let mut b = EventBatch::default();
    for i in first..first + n {
        b.push(ts + u64::from(i) * 1_000_000, flow, i, |w| {
            w.str("type", "test");
            w.begin_obj("client");
            w.str("ip", "10.1.2.3");
            w.u64("port", 40000);
            w.end();
            w.begin_obj("destination");
            w.u64("port", u64::from(i % 7));
            w.end();
        });
    }
    b
}

#[test]
fn mapping_rejections_go_to_dead_letter_file_and_counter() {
    let Some((_serial, es)) = node() else {
        return;
    };
    let prefix = "itdead";
    delete_indices(&es, prefix);
    let dir = tempfile::tempdir().unwrap();
    let mut out = ElasticsearchOutput::new(config(&es, prefix, dir.path()), false).unwrap();
    let mut b = batch_of(4, 0, 1_700_000_000_000_000_000, 0x51);
    b.push(1_700_000_000_000_000_000, 0x51, 99, |w| {
        w.str("type", "test");
        w.begin_obj("client");
        w.str("ip", "not-an-ip");
        w.end();
    });
    let mut c = Counters::new();
    out.write(&b, &mut c).unwrap();
    out.close(&mut c).unwrap();
    assert_eq!(c.get("output.es.docs_indexed"), 4);
    assert_eq!(c.get("output.es.dead_lettered"), 1);
    assert_eq!(c.get("output.es.docs_failed_mapping"), 1);
    let dead = std::fs::read_to_string(dir.path().join("dead.ndjson")).unwrap();
    let lines: Vec<Value> = dead
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["reason"], "mapping");
    assert_eq!(lines[0]["status"], 400);
    assert_eq!(lines[0]["document"]["client"]["ip"], "not-an-ip");
    assert_eq!(
        lines[0]["action"]["create"]["_id"],
        format!("{:016x}-99", 0x51)
    );
    assert!(
        lines[0]["error"].as_str().unwrap().contains("client.ip"),
        "{dead}"
    );
    assert_eq!(count(&es, prefix), 4);
    delete_indices(&es, prefix);
}

#[test]
fn template_is_installed_once_and_maps_ecs_types() {
    let Some((_serial, es)) = node() else {
        return;
    };
    let prefix = "ittemplate";
    let _ = agent()
        .delete(format!("{es}/_index_template/{prefix}"))
        .call();
    let dir = tempfile::tempdir().unwrap();
    let mut c = Counters::new();
    for _ in 0..2 {
        let mut out = ElasticsearchOutput::new(config(&es, prefix, dir.path()), false).unwrap();
        out.close(&mut c).unwrap();
    }
    let t = get_json(&format!("{es}/_index_template/{prefix}"));
    let m = &t["index_templates"][0]["index_template"]["template"]["mappings"];
    assert_eq!(m["properties"]["client"]["properties"]["ip"]["type"], "ip");
    assert_eq!(m["properties"]["@timestamp"]["type"], "date");
    let url_type = m["properties"]["url"]["properties"]["full"]["type"].clone();
    assert!(
        url_type == "wildcard" || url_type == "keyword",
        "{url_type}"
    );
    let _ = agent()
        .delete(format!("{es}/_index_template/{prefix}"))
        .call();
}

fn script(arg: &str) -> Option<String> {
    let out = Command::new(repo().join("tests/elasticsearch.sh"))
        .arg(arg)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[test]
fn outage_mid_stream_loses_nothing_and_duplicates_nothing() {
    let Some((_serial, es)) = node() else {
        return;
    };
    if script("url").as_deref() != Some(es.as_str()) {
        common::skip(&format!(
            "{es} is not the node tests/elasticsearch.sh manages, so it cannot be stopped"
        ));
        return;
    }
    let prefix = "itoutage";
    delete_indices(&es, prefix);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&es, prefix, dir.path());
    cfg.bulk_max_docs = 50;
    cfg.max_retries = 2;
    cfg.backoff_init = spanlens::config::HumanDuration::millis(100);
    cfg.backoff_max = spanlens::config::HumanDuration::secs(1);
    cfg.connect_timeout = spanlens::config::HumanDuration::secs(1);
    cfg.timeout = spanlens::config::HumanDuration::secs(5);
    cfg.close_timeout = spanlens::config::HumanDuration::secs(180);
    let mut out = ElasticsearchOutput::new(cfg, false).unwrap();
    let mut c = Counters::new();
    let batches = 60u32;
    let per = 40u32;
    let started = Instant::now();
    let mut stopped = false;
    let mut restarted = false;
    for k in 0..batches {
        let b = batch_of(per, k * per, 1_700_000_000_000_000_000, 0x7a9e);
        // write() must not block on the dead cluster.
        let t = Instant::now();
        out.write(&b, &mut c).unwrap();
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "write blocked {:?}",
            t.elapsed()
        );
        std::thread::sleep(Duration::from_millis(50));
        if k == batches / 4 && !stopped {
            script("stop").expect("stop the node");
            stopped = true;
        }
        if k == batches / 2 && !restarted {
            // Writes go on while the node starts (it takes a while).
            std::thread::spawn(|| script("start"));
            restarted = true;
        }
    }
    assert!(stopped && restarted);
    out.close(&mut c).unwrap();
    let total = u64::from(batches * per);
    assert_eq!(c.get("output.es.docs_accepted"), total);
    assert_eq!(c.get("output.es.dropped"), 0);
    assert!(
        c.get("output.es.spooled_docs") > 0,
        "nothing was spooled: {:?}",
        c
    );
    assert_eq!(
        c.get("output.es.docs_indexed") + c.get("output.es.docs_duplicate"),
        total,
        "{c:?}"
    );
    // The node is back (close waited for it).
    let deadline = Instant::now() + Duration::from_secs(120);
    while script("url").is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(1));
    }
    assert_eq!(count(&es, prefix), total);
    eprintln!("outage test took {:?}", started.elapsed());
    delete_indices(&es, prefix);
}

#[test]
fn live_mode_with_a_dead_host_fails_over_to_the_live_one() {
    let Some((_serial, es)) = node() else {
        return;
    };
    let prefix = "itfailover";
    delete_indices(&es, prefix);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&es, prefix, dir.path());
    // Nothing listens on port 1: every other request meets a refused connection.
    cfg.hosts = vec!["http://127.0.0.1:1".into(), es.clone()];
    cfg.bulk_max_docs = 10;
    cfg.compression = false;
    let mut out = ElasticsearchOutput::new(cfg, true).unwrap();
    let mut c = Counters::new();
    for k in 0..10 {
        out.write(
            &batch_of(25, k * 25, 1_700_000_000_000_000_000, 0xfa11),
            &mut c,
        )
        .unwrap();
    }
    out.close(&mut c).unwrap();
    assert_eq!(c.get("output.es.docs_indexed"), 250, "{c:?}");
    // Each request reached the cluster on its first try thanks to failover.
    assert_eq!(c.get("output.es.bulk_failed"), 0, "{c:?}");
    assert_eq!(c.get("output.es.bulk_requests"), 25, "{c:?}");
    assert_eq!(count(&es, prefix), 250);
    delete_indices(&es, prefix);
}

#[test]
fn full_queue_waits_for_the_cluster_instead_of_dropping() {
    let Some((_serial, es)) = node() else {
        return;
    };
    let prefix = "itbackpressure";
    delete_indices(&es, prefix);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&es, prefix, dir.path());
    // A queue of a few small chunks and no spool: without back-pressure
    // most of the input would be dropped.
    cfg.spool_dir = Some("".into());
    cfg.bulk_max_docs = 10;
    cfg.bulk_max_bytes = 4096;
    cfg.queue_max_bytes = 4096;
    let mut out = ElasticsearchOutput::new(cfg, false).unwrap();
    let mut c = Counters::new();
    for k in 0..10 {
        out.write(
            &batch_of(50, k * 50, 1_700_000_000_000_000_000, 0xb9),
            &mut c,
        )
        .unwrap();
    }
    out.close(&mut c).unwrap();
    assert_eq!(c.get("output.es.dropped"), 0, "{c:?}");
    assert_eq!(c.get("output.es.docs_indexed"), 500, "{c:?}");
    assert!(c.get("output.es.write_blocked_us_total") > 0, "{c:?}");
    assert_eq!(count(&es, prefix), 500);
    delete_indices(&es, prefix);
}

#[test]
fn parallel_bulk_requests_index_everything_once_and_the_template_follows_the_settings() {
    let Some((_serial, es)) = node() else {
        return;
    };
    let prefix = "itparallel";
    delete_indices(&es, prefix);
    let _ = agent()
        .delete(format!("{es}/_index_template/{prefix}"))
        .call();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&es, prefix, dir.path());
    cfg.bulk_max_docs = 25;
    cfg.max_in_flight = 4;
    // First run: the default refresh; then one with refresh_interval set
    // must replace the template (same mapping version, other settings).
    for (round, refresh) in [(0u32, None), (1, Some("30s"))] {
        cfg.refresh_interval = refresh.map(String::from);
        let mut out = ElasticsearchOutput::new(cfg.clone(), false).unwrap();
        let mut c = Counters::new();
        for k in 0..20 {
            out.write(
                &batch_of(
                    50,
                    k * 50,
                    1_700_000_000_000_000_000,
                    0x9a7 + u64::from(round),
                ),
                &mut c,
            )
            .unwrap();
        }
        out.close(&mut c).unwrap();
        assert_eq!(c.get("output.es.docs_indexed"), 1000, "{c:?}");
        assert_eq!(c.get("output.es.docs_duplicate"), 0, "{c:?}");
        assert_eq!(c.get("output.es.bulk_requests"), 40, "{c:?}");
        assert_eq!(c.get("output.es.lost"), 0, "{c:?}");
        let t = get_json(&format!("{es}/_index_template/{prefix}"));
        let ix = &t["index_templates"][0]["index_template"]["template"]["settings"]["index"];
        assert_eq!(ix["number_of_replicas"], "0", "{t}");
        match refresh {
            Some(r) => assert_eq!(ix["refresh_interval"], r, "{t}"),
            None => assert!(ix.get("refresh_interval").is_none(), "{t}"),
        }
    }
    assert_eq!(count(&es, prefix), 2000);
    delete_indices(&es, prefix);
    let _ = agent()
        .delete(format!("{es}/_index_template/{prefix}"))
        .call();
}
