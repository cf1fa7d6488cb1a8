//! The farm against a real Elasticsearch (no mock): summaries, sampling,
//! the report built from the cluster, and Packetbeat's dashboard fields
//! under spanlens's template.
//!
//! Gated on `SPANLENS_ES_URL` (single node) and `SPANLENS_ES_CLUSTER`
//! (three nodes, comma-separated URLs), as tests/run-all.sh sets them;
//! without them each test prints `SKIPPED: <test>: <reason>`. Tests run
//! one at a time and each uses its own index prefix and template names.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

static SERIAL: Mutex<()> = Mutex::new(());

fn node(var: &str) -> Option<(MutexGuard<'static, ()>, String)> {
    let serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    match std::env::var(var) {
        Ok(u) if !u.is_empty() => Some((serial, u.trim_end_matches('/').to_string())),
        _ => {
            skip(&format!(
                "{var} is not set (tests/elasticsearch.sh start / cluster-start, or tests/run-all.sh)"
            ));
            None
        }
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

fn call(method: &str, url: &str, body: Option<&str>) -> Value {
    let a = agent();
    let mut r = match (method, body) {
        ("GET", _) => a.get(url).call(),
        ("DELETE", _) => a.delete(url).call(),
        (_, b) => a
            .post(url)
            .header("Content-Type", "application/json")
            .send(b.unwrap_or("")),
    }
    .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let b = r.body_mut().read_to_vec().expect("body");
    serde_json::from_slice(&b).unwrap_or(Value::Null)
}

/// The first URL of a comma-separated list.
fn first(urls: &str) -> String {
    urls.split(',').next().unwrap().to_string()
}

fn reset(es: &str, prefix: &str) {
    call("DELETE", &format!("{es}/{prefix}-*"), None);
    for t in [prefix.to_string(), format!("{prefix}-summary")] {
        call("DELETE", &format!("{es}/_index_template/{t}"), None);
    }
}

fn refresh(es: &str, prefix: &str) {
    call("POST", &format!("{es}/{prefix}-*/_refresh"), Some(""));
}

fn count(es: &str, index: &str, query: &str) -> u64 {
    let v = call(
        "POST",
        &format!("{es}/{index}/_count"),
        Some(&format!("{{\"query\":{query}}}")),
    );
    v["count"]
        .as_u64()
        .unwrap_or_else(|| panic!("count {index}: {v}"))
}

/// A config writing to `prefix-ev-*` and `prefix-sum-*`.
fn es_config(prefix: &str, replicas: u32, extra: &str, observer: Option<&str>) -> String {
    let obs = observer
        .map(|o| format!("[observer]\nname = \"{o}\"\n"))
        .unwrap_or_default();
    format!(
        "{obs}[output.elasticsearch]\nindex = \"{prefix}-ev-%{{+yyyy.MM.dd}}\"\n\
         summaries_index = \"{prefix}-sum-%{{+yyyy.MM.dd}}\"\nsummaries = true\n\
         template_name = \"{prefix}\"\nreplicas = {replicas}\nspool_dir = \"\"\n\
         dead_letter = \"\"\n{extra}"
    )
}

fn ok(out: &std::process::Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Replays `files` into the cluster (and, with `ndjson`, into that file).
fn replay_into(es: &str, cfg: &Path, files: &[PathBuf], ndjson: Option<&Path>, workers: &str) {
    let mut c = bin();
    c.args(["replay", "-q", "--no-progress", "-w", workers, "-c"])
        .arg(cfg);
    for u in es.split(',') {
        c.args(["--es", u]);
    }
    if let Some(p) = ndjson {
        c.arg("-o").arg(p);
    }
    ok(&c.args(files).output().unwrap(), "replay");
}

fn report_es(es: &str, prefix: &str, source: &str, extra: &[&str], out: &Path) -> String {
    let mut c = bin();
    c.arg("report");
    for u in es.split(',') {
        c.args(["--es", u]);
    }
    c.args([
        "--index",
        &format!("{prefix}-ev-*"),
        "--summaries-index",
        &format!("{prefix}-sum-*"),
        "--source",
        source,
    ])
    .args(extra)
    .arg("-o")
    .arg(out);
    let o = c.output().unwrap();
    ok(&o, "report --es");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn report_ndjson(files: &[&Path], out: &Path) {
    let o = bin()
        .arg("report")
        .args(files)
        .arg("-o")
        .arg(out)
        .output()
        .unwrap();
    ok(&o, "report EVENTS");
}

/// The model a page embeds, without input names and run counters.
fn model(page: &Path) -> Value {
    let html = std::fs::read_to_string(page).unwrap();
    let start = html.find("window.SPANLENS_DATA = ").unwrap() + "window.SPANLENS_DATA = ".len();
    let end = html.find(";\nwindow.SPANLENS_LIVE").unwrap();
    let text = html[start..end]
        .replace("<\\/", "</")
        .replace("<\\!--", "<!--");
    let mut m: Value = serde_json::from_str(&text).unwrap();
    m["meta"].as_object_mut().unwrap().remove("sources");
    m.as_object_mut().unwrap().remove("sensor");
    m
}

/// Removes the slowest transactions' whole events (they carry the flow id,
/// which counts frames of its input, and the sensor's name).
fn without_events(v: &mut Value) {
    match v {
        Value::Object(o) => {
            if o.get("event").is_some_and(Value::is_object) && o.contains_key("us") {
                o.remove("event");
            }
            for x in o.values_mut() {
                without_events(x);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(without_events),
        _ => {}
    }
}

const CAPTURES: [&str; 4] = [
    "http_sample.pcap",
    "mysqlslap.pcap",
    "redis-cli.pcap",
    "flows_sample.pcap",
];

fn captures() -> Vec<PathBuf> {
    CAPTURES.iter().map(|c| data(c)).collect()
}

/// The figures the issue asks to be equal: totals and per-server rows.
fn figures(m: &Value) -> Value {
    let all = &m["views"]["all"];
    let rows: Vec<Value> = m["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            serde_json::json!([
                r["server"],
                r["proto"],
                r["requests"],
                r["errors"],
                r["p50"],
                r["p95"],
                r["p99"],
                r["flows"],
                r["resets"]
            ])
        })
        .collect();
    serde_json::json!({
        "totals": all["totals"], "codes": all["codes"], "methods": all["methods"],
        "content_types": all["content_types"], "tcp": all["tcp"], "rows": rows,
        "series": all["series"]["requests"], "errors": all["series"]["errors"],
        "p95": all["series"]["p95"]
    })
}

fn same_report_from_cluster(es: &str, prefix: &str, replicas: u32) {
    reset(&first(es), prefix);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_file(&es_config(prefix, replicas, "", Some("sensor-a")));
    let nd = dir.path().join("events.ndjson");
    replay_into(es, cfg.path(), &captures(), Some(&nd), "2");
    refresh(&first(es), prefix);
    let truth = dir.path().join("ndjson.html");
    report_ndjson(&[&nd], &truth);
    let truth = model(&truth);
    assert_eq!(truth["views"]["all"]["totals"]["requests"], 87);

    // From the summaries: the same report, every figure.
    let sum = dir.path().join("sum.html");
    let msg = report_es(es, prefix, "summaries", &[], &sum);
    assert!(msg.contains("from summaries"), "{msg}");
    assert_eq!(model(&sum), truth, "report from summaries differs");
    // `auto` picks the summaries.
    let auto = dir.path().join("auto.html");
    let msg = report_es(es, prefix, "auto", &[], &auto);
    assert!(msg.contains("from summaries"), "{msg}");

    // From the events' aggregations: counts exact; the latency histograms
    // are rebuilt bucket for bucket (HDR, 2 significant digits: at most 1%
    // relative error against the exact value, and equal to the NDJSON
    // face's own estimate).
    let ev = dir.path().join("events.html");
    let msg = report_es(es, prefix, "events", &[], &ev);
    assert!(msg.contains("from events"), "{msg}");
    let from_events = model(&ev);
    assert_eq!(figures(&from_events), figures(&truth));
    assert_eq!(
        from_events["views"]["all"]["http"]["codes"],
        truth["views"]["all"]["http"]["codes"]
    );
    assert_eq!(
        from_events["views"]["all"]["mysql"]["reads"],
        truth["views"]["all"]["mysql"]["reads"]
    );

    // A window: the whole run, then one after it.
    let first_t = truth["meta"]["t"][0].as_u64().unwrap() / 1000;
    let win = dir.path().join("win.html");
    let from = first_t.to_string();
    report_es(
        es,
        prefix,
        "auto",
        &["--from", &from, "--to", "2099-01-01T00:00:00Z"],
        &win,
    );
    assert_eq!(
        model(&win)["views"]["all"]["totals"],
        truth["views"]["all"]["totals"]
    );
    report_es(
        es,
        prefix,
        "events",
        &["--from", "2099-01-01T00:00:00Z"],
        &win,
    );
    assert_eq!(model(&win)["views"]["all"]["totals"]["requests"], 0);
    // Coarser intervals: the same totals, fewer intervals.
    let coarse = dir.path().join("coarse.html");
    report_es(es, prefix, "summaries", &["--interval", "60"], &coarse);
    let c = model(&coarse);
    for f in [
        "requests",
        "errors",
        "bytes_in",
        "bytes_out",
        "latency",
        "server_time",
        "network_time",
    ] {
        assert_eq!(
            c["views"]["all"]["totals"][f], truth["views"]["all"]["totals"][f],
            "--interval 60: {f}"
        );
    }
    assert!(
        c["meta"]["t"].as_array().unwrap().len() <= truth["meta"]["t"].as_array().unwrap().len()
    );
    assert_eq!(c["meta"]["interval_secs"], 60);
    // A sensor that is not there: an empty report, no error.
    let none = dir.path().join("none.html");
    report_es(es, prefix, "auto", &["--sensor", "no-such"], &none);
    assert_eq!(model(&none)["views"]["all"]["totals"]["requests"], 0);
}

#[test]
fn report_from_one_node_equals_the_ndjson_report() {
    let Some((_g, es)) = node("SPANLENS_ES_URL") else {
        return;
    };
    same_report_from_cluster(&es, "t13one", 0);
}

#[test]
fn report_from_the_three_node_cluster_equals_the_ndjson_report() {
    let Some((_g, es)) = node("SPANLENS_ES_CLUSTER") else {
        return;
    };
    same_report_from_cluster(&es, "t13three", 1);
}

#[test]
fn two_sensors_in_one_index_equal_both_captures_replayed_together() {
    let Some((_g, es)) = node("SPANLENS_ES_URL") else {
        return;
    };
    let prefix = "t13two";
    reset(&es, prefix);
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (
        vec![data("http_sample.pcap"), data("redis-cli.pcap")],
        vec![data("mysqlslap.pcap"), data("flows_sample.pcap")],
    );
    for (name, files) in [("rack-a", &a), ("rack-b", &b)] {
        let cfg = config_file(&es_config(prefix, 0, "", Some(name)));
        replay_into(&es, cfg.path(), files, None, "2");
    }
    refresh(&es, prefix);
    // Both captures through one sensor, as NDJSON.
    let nd = dir.path().join("both.ndjson");
    let all: Vec<&str> = a.iter().chain(&b).map(|p| p.to_str().unwrap()).collect();
    let mut args = vec!["replay", "-q", "--no-progress", "-o", nd.to_str().unwrap()];
    args.extend(all);
    ok(&run(&args), "replay both");
    let truth = dir.path().join("both.html");
    report_ndjson(&[&nd], &truth);
    let mut truth = model(&truth);
    without_events(&mut truth);
    for source in ["summaries", "events"] {
        let p = dir.path().join(format!("farm-{source}.html"));
        report_es(&es, prefix, source, &[], &p);
        let mut m = model(&p);
        without_events(&mut m);
        if source == "summaries" {
            assert_eq!(m, truth, "two sensors ({source}) != both captures together");
        } else {
            assert_eq!(figures(&m), figures(&truth), "two sensors ({source})");
        }
    }
    // One sensor: its own capture only.
    let one = dir.path().join("a.ndjson");
    let mut args = vec!["replay", "-q", "--no-progress", "-o", one.to_str().unwrap()];
    args.extend(a.iter().map(|p| p.to_str().unwrap()));
    ok(&run(&args), "replay a");
    let t = dir.path().join("a.html");
    report_ndjson(&[&one], &t);
    let p = dir.path().join("farm-a.html");
    report_es(&es, prefix, "summaries", &["--sensor", "rack-a"], &p);
    let (mut x, mut y) = (model(&p), model(&t));
    without_events(&mut x);
    without_events(&mut y);
    assert_eq!(x, y, "--sensor rack-a");
}

#[test]
fn sampled_events_with_summaries_still_count_everything() {
    let Some((_g, es)) = node("SPANLENS_ES_URL") else {
        return;
    };
    let prefix = "t13samp";
    reset(&es, prefix);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_file(&es_config(
        prefix,
        0,
        "sample_ok = 0.1\nsample_slow = \"1h\"\n",
        None,
    ));
    let stats = dir.path().join("stats.json");
    let mut c = bin();
    c.args(["replay", "-q", "--no-progress", "-c"])
        .arg(cfg.path())
        .args(["--es", &es, "--stats-json"])
        .arg(&stats)
        .args(captures());
    ok(&c.output().unwrap(), "sampled replay");
    refresh(&es, prefix);
    let st: Value = serde_json::from_str(&std::fs::read_to_string(&stats).unwrap()).unwrap();
    let dropped = st["sampling"]["dropped"].as_u64().unwrap_or(0);
    // The unsampled truth, NDJSON.
    let truth_nd = dir.path().join("all.ndjson");
    let mut args = vec![
        "replay",
        "-q",
        "--no-progress",
        "-o",
        truth_nd.to_str().unwrap(),
    ];
    let files: Vec<String> = captures().iter().map(|p| p.display().to_string()).collect();
    args.extend(files.iter().map(String::as_str));
    ok(&run(&args), "replay");
    let truth_events = parse_ndjson(&std::fs::read(&truth_nd).unwrap());
    let tx: Vec<&Value> = truth_events
        .iter()
        .filter(|e| e["type"] != "flow")
        .collect();
    let errors = tx.iter().filter(|e| e["status"] == "Error").count() as u64;
    let n = tx.len() as u64;
    assert!(
        dropped > 0 && dropped < n - errors,
        "dropped {dropped} of {n}"
    );
    let ev_index = format!("{prefix}-ev-*");
    let indexed_tx = count(
        &es,
        &ev_index,
        r#"{"bool":{"must_not":[{"term":{"type":"flow"}}]}}"#,
    );
    assert_eq!(indexed_tx + dropped, n, "indexed + left out = all");
    // Every error is indexed.
    assert_eq!(
        count(&es, &ev_index, r#"{"term":{"status":"Error"}}"#),
        errors
    );
    // Roughly the share asked for (deterministic: a hash of flow id and index).
    let ok_n = n - errors;
    let kept_ok = ok_n - dropped;
    assert!(
        kept_ok * 100 <= ok_n * 30,
        "kept {kept_ok} of {ok_n} OK transactions"
    );
    // The summaries count what was left out, and the report the truth.
    let sums = call(
        "POST",
        &format!("{es}/{prefix}-sum-*/_search"),
        Some(
            r#"{"size":0,"aggs":{"out":{"sum":{"field":"summary.sampled_out"}},"req":{"sum":{"field":"summary.requests"}}}}"#,
        ),
    );
    assert_eq!(
        sums["aggregations"]["out"]["value"].as_f64(),
        Some(dropped as f64)
    );
    assert_eq!(
        sums["aggregations"]["req"]["value"].as_f64(),
        Some(n as f64)
    );
    let truth = dir.path().join("truth.html");
    report_ndjson(&[&truth_nd], &truth);
    let p = dir.path().join("sampled.html");
    report_es(&es, prefix, "auto", &[], &p);
    assert_eq!(figures(&model(&p)), figures(&model(&truth)));
    // Percentiles in Elasticsearch itself, over the histogram fields
    // (where the cluster has the type: not the integ-test distribution).
    let mapping = call(
        "GET",
        &format!("{es}/{prefix}-sum-*/_mapping/field/summary.latency_us"),
        None,
    );
    if !mapping.to_string().contains("\"histogram\"") {
        eprintln!("note: this cluster has no histogram field type (x-pack): ES-side percentiles not checked");
        return;
    }
    let pct = call(
        "POST",
        &format!("{es}/{prefix}-sum-*/_search"),
        Some(
            r#"{"size":0,"aggs":{"p":{"percentiles":{"field":"summary.latency_us","percents":[50,95]}}}}"#,
        ),
    );
    assert!(
        pct["aggregations"]["p"]["values"]["95.0"].as_f64().unwrap() > 0.0,
        "{pct}"
    );
}

#[test]
fn packetbeat_dashboard_fields_are_aggregatable_in_a_packetbeat_index() {
    let Some((_g, es)) = node("SPANLENS_ES_URL") else {
        return;
    };
    let prefix = "packetbeat-t13";
    reset(&es, prefix);
    let cfg = config_file(&format!(
        "[output.elasticsearch]\nindex = \"{prefix}-%{{+yyyy.MM.dd}}\"\ntemplate_name = \"{prefix}\"\n\
         replicas = 0\nspool_dir = \"\"\ndead_letter = \"\"\n"
    ));
    let files: Vec<PathBuf> = ["http_sample.pcap", "mysqlslap.pcap", "flows_sample.pcap"]
        .iter()
        .map(|f| data(f))
        .collect();
    let mut c = bin();
    c.args(["replay", "-q", "--no-progress", "-c"])
        .arg(cfg.path())
        .args(["--es", &es])
        .args(&files);
    ok(&c.output().unwrap(), "replay");
    refresh(&es, prefix);
    let list = std::fs::read_to_string(data("packetbeat-dashboard-fields.txt")).unwrap();
    let fields: Vec<(String, String)> = list
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let c: Vec<&str> = l.split_whitespace().collect();
            (c[0].to_string(), c[2].to_string())
        })
        .collect();
    let names: Vec<&str> = fields.iter().map(|f| f.0.as_str()).collect();
    let caps = call(
        "GET",
        &format!("{es}/{prefix}-*/_field_caps?fields={}", names.join(",")),
        None,
    );
    for (f, usage) in &fields {
        let c = caps["fields"][f.as_str()]
            .as_object()
            .unwrap_or_else(|| panic!("{f} not in the index: {caps}"));
        for (ty, v) in c {
            assert_eq!(v["searchable"], true, "{f} ({ty}) not searchable");
            if usage == "agg" {
                assert_eq!(v["aggregatable"], true, "{f} ({ty}) not aggregatable");
            }
        }
    }
    // The HTTP dashboard's count (`network.protocol: http`) is the HTTP
    // transactions, not the flows too; its top-queries panel works.
    let http = count(&es, &format!("{prefix}-*"), r#"{"term":{"type":"http"}}"#);
    let by_proto = count(
        &es,
        &format!("{prefix}-*"),
        r#"{"match_phrase":{"network.protocol":"http"}}"#,
    );
    assert_eq!((by_proto, http), (15, 15));
    let top = call(
        "POST",
        &format!("{es}/{prefix}-*/_search"),
        Some(
            r#"{"size":0,"query":{"term":{"type":"http"}},"aggs":{"q":{"terms":{"field":"query","size":5}},"u":{"terms":{"field":"url.full","size":5}}}}"#,
        ),
    );
    assert!(
        !top["aggregations"]["q"]["buckets"]
            .as_array()
            .unwrap()
            .is_empty()
            && !top["aggregations"]["u"]["buckets"]
                .as_array()
                .unwrap()
                .is_empty(),
        "{top}"
    );
}
