//! The report page in a real browser (Debian's chromium, headless): built
//! from real captures, it must load with no console error, draw every
//! panel, and show the same totals (transactions, errors per status code,
//! per-server p95) as an independent computation from the NDJSON done here.
//! A screenshot is saved under target/ as a test artifact.
//! Needs chromium (tests/deps.sh --test); skips with a message otherwise.

mod common;

use common::browser::*;
use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The captures the page is built from: HTTP, MySQL, Redis and flows.
const CAPTURES: [&str; 4] = [
    "http_sample.pcap",
    "mysqlslap.pcap",
    "redis-cli.pcap",
    "flows_sample.pcap",
];

fn artifacts() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-test");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The p95 the way the page defines it: the smallest value with at least
/// 95% of the values at or below it.
fn p95(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    let rank = ((0.95 * v.len() as f64).ceil() as usize).max(1);
    v[rank - 1]
}

/// The code column of an event, computed here from the raw JSON.
fn code_of(e: &Value) -> Option<String> {
    match e["type"].as_str()? {
        "http" => e["http"]["response"]["status_code"]
            .as_u64()
            .map(|c| c.to_string()),
        "mysql" => e["mysql"]["error_code"].as_u64().map(|c| c.to_string()),
        "redis" => e["redis"]["error"].as_str().map(|m| {
            let w = m.split_whitespace().next().unwrap_or("");
            if !w.is_empty() && w.bytes().all(|b| b.is_ascii_uppercase()) {
                w.to_string()
            } else {
                "ERR".to_string()
            }
        }),
        _ => None,
    }
    .or_else(|| (e["status"] == "Error").then(|| "error".to_string()))
}

fn build_events(dir: &Path) -> (PathBuf, PathBuf) {
    let events = dir.join("events.ndjson");
    let stats = dir.join("stats.json");
    let files: Vec<PathBuf> = CAPTURES.iter().map(|c| data(c)).collect();
    succeed(
        bin()
            .args(["replay", "-q", "--no-progress", "-o"])
            .arg(&events)
            .arg("--stats-json")
            .arg(&stats)
            .args(&files),
    );
    (events, stats)
}

#[test]
fn report_page_draws_every_panel_with_the_figures_of_the_ndjson() {
    if chromium().is_none() {
        eprintln!("SKIPPED: report browser test needs chromium (tests/deps.sh --test)");
        return;
    }
    let dir = artifacts();
    let (events, stats) = build_events(&dir);
    let page = dir.join("report.html");
    succeed(
        bin()
            .arg("report")
            .arg(&events)
            .arg("--stats")
            .arg(&stats)
            .arg("-o")
            .arg(&page),
    );
    let html = std::fs::read_to_string(&page).unwrap();
    // Self-contained: nothing is fetched when the page opens.
    for needle in [
        "src=\"http",
        "href=\"http",
        "@import",
        "fetch(\"http",
        "<link ",
    ] {
        assert!(!html.contains(needle), "the page refers to {needle}");
    }

    // The console check itself catches an error.
    let bad = dir.join("bad.html");
    std::fs::write(&bad, "<script>undefinedFunction();</script>").unwrap();
    let (_, bad_log) = browse(&format!("file://{}", bad.display()), &["--dump-dom"]);
    assert!(
        !console_errors(&bad_log).is_empty(),
        "console errors are detected: {bad_log}"
    );

    let url = format!("file://{}", page.display());
    let (dom, log) = browse(&url, &["--dump-dom"]);
    let shot = dir.join("report.png");
    let (_, log2) = browse(&url, &[&format!("--screenshot={}", shot.display())]);
    assert!(
        std::fs::metadata(&shot)
            .map(|m| m.len() > 10_000)
            .unwrap_or(false),
        "screenshot at {}",
        shot.display()
    );
    eprintln!("screenshot: {}", shot.display());
    let errs: Vec<String> = console_errors(&log)
        .into_iter()
        .chain(console_errors(&log2))
        .collect();
    assert!(errs.is_empty(), "console errors: {errs:#?}");
    assert!(
        dom.contains("data-rendered="),
        "the page script never finished"
    );
    // The drawn document, without the scripts' own text.
    let dom = &dom[..dom.find("<script").expect("scripts are in the page")];
    assert!(
        dom.contains("<div id=\"errors\"></div>"),
        "the page reported a script error"
    );

    // Every panel drawn.
    let panels = attrs(dom, "data-panel=", "data-panel");
    assert!(panels.len() >= 25, "{} panels", panels.len());
    for (tag, name) in &panels {
        assert_eq!(
            attr_of(tag, "data-state").as_deref(),
            Some("ok"),
            "panel {name} not drawn: {tag}"
        );
    }
    // Charts drew canvases.
    let canvases = dom.matches("<canvas").count();
    let chart_divs = dom.matches("class=\"chart").count();
    assert!(chart_divs >= 14, "{chart_divs} charts");
    assert_eq!(canvases, chart_divs, "every chart drew its canvas");

    // Independent figures from the NDJSON.
    let all = parse_ndjson(&std::fs::read(&events).unwrap());
    let txs: Vec<&Value> = all.iter().filter(|e| e["type"] != "flow").collect();
    let kpi = attrs(dom, "id=\"kpi-requests\"", "data-value");
    assert_eq!(kpi[0].1, txs.len().to_string(), "transactions");
    let errors = txs.iter().filter(|e| e["status"] == "Error").count();
    assert_eq!(
        attrs(dom, "id=\"kpi-errors\"", "data-value")[0].1,
        errors.to_string()
    );

    let mut codes: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for e in &txs {
        if let Some(c) = code_of(e) {
            let v = codes.entry(c).or_default();
            v.0 += 1;
            v.1 += u64::from(e["status"] == "Error");
        }
    }
    let mut page_codes: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for (tag, code) in attrs(dom, "data-code=", "data-code") {
        let n = attr_of(tag, "data-n").unwrap().parse().unwrap();
        let e = attr_of(tag, "data-errors").unwrap().parse().unwrap();
        page_codes.insert(code, (n, e));
    }
    assert_eq!(page_codes, codes, "transactions and errors per code");
    assert!(codes.contains_key("404") && codes.contains_key("200"));

    // Per-server p95 (HdrHistogram keeps 2 significant digits: the page's
    // value is the top of the bucket holding the exact p95, within 1%).
    let mut by_server: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for e in &txs {
        let id = format!(
            "s:|{}:{}|{}",
            e["server"]["ip"].as_str().unwrap(),
            e["server"]["port"],
            e["type"].as_str().unwrap()
        );
        let us = (e["event"]["duration"].as_u64().unwrap() / 1000).max(1);
        by_server.entry(id).or_default().push(us);
    }
    let rows = attrs(dom, "data-id=\"s:", "data-id");
    let mut seen = 0;
    for (tag, id) in rows {
        let Some(durations) = by_server.get(&id) else {
            continue;
        };
        let n: usize = attr_of(tag, "data-requests").unwrap().parse().unwrap();
        assert_eq!(n, durations.len(), "requests of {id}");
        let page: u64 = attr_of(tag, "data-p95").unwrap().parse().unwrap();
        let exact = p95(durations.clone());
        assert!(
            page >= exact && page as f64 <= exact as f64 * 1.01 + 1.0,
            "p95 of {id}: page {page}, exact {exact}"
        );
        seen += 1;
    }
    assert_eq!(seen, by_server.len(), "every server has a row");
}

/// The model a report page embeds, without what legitimately differs
/// between the two ways of building it (input names, run counters).
fn embedded_model(page: &Path) -> Value {
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

#[test]
fn replay_report_and_report_from_ndjson_give_the_same_figures() {
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<PathBuf> = CAPTURES.iter().map(|c| data(c)).collect();
    let mut models = Vec::new();
    for workers in ["1", "3"] {
        let events = dir.path().join(format!("events{workers}.ndjson"));
        let direct = dir.path().join(format!("direct{workers}.html"));
        succeed(
            bin()
                .args(["replay", "-q", "--no-progress", "-w", workers, "-o"])
                .arg(&events)
                .arg("--report")
                .arg(&direct)
                .args(&files),
        );
        let from_ndjson = dir.path().join(format!("ndjson{workers}.html"));
        succeed(bin().arg("report").arg(&events).arg("-o").arg(&from_ndjson));
        let a = embedded_model(&direct);
        let b = embedded_model(&from_ndjson);
        assert_eq!(
            a, b,
            "replay --report and report EVENTS differ ({workers} workers)"
        );
        models.push(a);
    }
    assert_eq!(
        models[0], models[1],
        "1 worker and 3 workers give the same report"
    );
    let m = &models[0];
    assert_eq!(m["views"]["all"]["totals"]["requests"], 87);
    assert!(m["views"]["all"]["mysql"]["reads"].as_u64().unwrap() > 0);
    assert!(!m["views"]["all"]["redis"]["commands"]
        .as_array()
        .unwrap()
        .is_empty());
    assert!(m["views"]["all"]["tcp"]["flows"].as_u64().unwrap() > 0);
}

#[test]
fn report_errors_are_one_line_and_name_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["report", "/nonexistent/events.ndjson", "-o"])
        .arg(dir.path().join("r.html"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("/nonexistent/events.ndjson"), "{err}");
    // Lines that are not events are counted, not fatal.
    let bad = dir.path().join("mixed.ndjson");
    std::fs::write(&bad, "not json\n{\"type\":\"http\"}\n").unwrap();
    let out = succeed(
        bin()
            .arg("report")
            .arg(&bad)
            .arg("-o")
            .arg(dir.path().join("r.html")),
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("2 lines that are not events"));
}

#[test]
fn geoip_adds_client_geo_to_events_and_places_clients_on_the_map() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("test.mmdb");
    std::fs::write(&db, common::mmdb::test_database()).unwrap();
    let cfg = config_file(&format!(
        "[geoip]\ndatabase = {:?}\n",
        db.display().to_string()
    ));
    let events = dir.path().join("events.ndjson");
    let page = dir.path().join("report.html");
    succeed(
        bin()
            .args(["replay", "-q", "--no-progress", "-c"])
            .arg(cfg.path())
            .arg("-o")
            .arg(&events)
            .arg("--report")
            .arg(&page)
            .arg(data("http_sample.pcap"))
            .arg(data("redis-cli.pcap")),
    );
    let all = parse_ndjson(&std::fs::read(&events).unwrap());
    for e in &all {
        let geo = &e["client"]["geo"];
        if e["client"]["ip"].as_str().unwrap().starts_with("10.99.0.") {
            assert_eq!(geo["country_iso_code"], "FR", "{e}");
            assert_eq!(geo["country_name"], "France");
            assert_eq!(geo["city_name"], "Paris");
            assert_eq!(geo["location"]["lat"], 48.86);
            assert_eq!(geo["location"]["lon"], 2.35);
        } else {
            // 127.0.0.1: not in the database, and not routable.
            assert_eq!(geo["name"], "private", "{e}");
            assert!(geo.get("country_iso_code").is_none());
        }
    }
    let m = embedded_model(&page);
    assert_eq!(m["meta"]["geoip"], true);
    let all_view = &m["views"]["all"];
    assert_eq!(
        all_view["places"][0],
        serde_json::json!([2.4, 48.9, 15]),
        "{}",
        all_view["places"]
    );
    let countries: BTreeMap<String, u64> = all_view["countries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r[0].as_str().unwrap().to_string(), r[1].as_u64().unwrap()))
        .collect();
    let http = all.iter().filter(|e| e["type"] == "http").count() as u64;
    let redis = all.iter().filter(|e| e["type"] == "redis").count() as u64;
    assert_eq!(countries.get("FR"), Some(&http));
    assert_eq!(countries.get("private"), Some(&redis));
    // The same from the NDJSON.
    let again = dir.path().join("again.html");
    let out = bin()
        .arg("report")
        .arg(&events)
        .arg("-o")
        .arg(&again)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(embedded_model(&again), m);
    // A database that is not one: a one-line error naming the key.
    let bad = dir.path().join("bad.mmdb");
    std::fs::write(&bad, b"nope").unwrap();
    let cfg = config_file(&format!(
        "[geoip]\ndatabase = {:?}\n",
        bad.display().to_string()
    ));
    let out = bin()
        .args(["replay", "-q", "-c"])
        .arg(cfg.path())
        .arg(data("http_sample.pcap"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("geoip.database") && err.contains("bad.mmdb"),
        "{err}"
    );
}

/// Captures of protocols without panels of their own (recorded the same
/// day, so the page's time axis stays short): PostgreSQL, DNS and ICMP,
/// TLS, Memcache, AMQP, SIP, DHCPv4, Thrift.
const PROTOCOL_CAPTURES: [&str; 8] = [
    "pgsql-psql.pcap",
    "dns-dig.pcap",
    "tls-nginx.pcap",
    "memcache-tools.pcap",
    "amqp-rabbitmq.pcap",
    "sip-sipp-udp.pcap",
    "dhcp-dnsmasq.pcap",
    "thrift-py.pcap",
];

/// The protocol sections of a drawn page: (protocol, its part of the DOM).
fn sections(dom: &str) -> Vec<(String, &str)> {
    let mut out = Vec::new();
    let marks: Vec<usize> = dom
        .match_indices("<section class=\"proto\"")
        .map(|(i, _)| i)
        .collect();
    for (n, &i) in marks.iter().enumerate() {
        let end = marks
            .get(n + 1)
            .copied()
            .unwrap_or_else(|| i + dom[i..].find("</section>").unwrap());
        let part = &dom[i..end];
        let tag = &part[..part.find('>').unwrap()];
        out.push((attr_of(tag, "data-proto").unwrap(), part));
    }
    out
}

/// `(transactions, errors)` of each tab in the page's navigation.
fn tabs(dom: &str) -> BTreeMap<String, (u64, u64)> {
    attrs(dom, "data-tab=", "data-tab")
        .into_iter()
        .map(|(tag, p)| {
            let n = attr_of(tag, "data-requests").unwrap().parse().unwrap();
            let e = attr_of(tag, "data-errors").unwrap().parse().unwrap();
            (p, (n, e))
        })
        .collect()
}

/// Loads a page; returns its drawn DOM (without the scripts), after
/// checking that nothing went wrong on the console.
fn drawn(url: &str, shot: Option<&Path>) -> String {
    let (dom, log) = browse(url, &["--dump-dom"]);
    let mut errs = console_errors(&log);
    if let Some(shot) = shot {
        let (_, log2) = browse(url, &[&format!("--screenshot={}", shot.display())]);
        errs.extend(console_errors(&log2));
        assert!(
            std::fs::metadata(shot).is_ok_and(|m| m.len() > 10_000),
            "screenshot at {}",
            shot.display()
        );
        eprintln!("screenshot: {}", shot.display());
    }
    assert!(errs.is_empty(), "console errors on {url}: {errs:#?}");
    assert!(
        dom.contains("data-rendered="),
        "the page script never finished"
    );
    let dom = dom[..dom.find("<script").expect("scripts are in the page")].to_string();
    assert!(
        dom.contains("<div id=\"errors\"></div>"),
        "the page reported a script error"
    );
    dom
}

#[test]
fn every_protocol_gets_a_tab_with_its_figures_from_the_ndjson() {
    let dir = artifacts().join("protocols");
    std::fs::create_dir_all(&dir).unwrap();
    let files: Vec<PathBuf> = PROTOCOL_CAPTURES.iter().map(|c| data(c)).collect();
    // One capture holding every protocol, when mergecap is there.
    let merged = dir.join("protocols.pcap");
    let inputs = if have("mergecap") {
        let out = std::process::Command::new("mergecap")
            .args(["-F", "pcap", "-w"])
            .arg(&merged)
            .args(&files)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        vec![merged]
    } else {
        files
    };
    let events = dir.join("events.ndjson");
    // `-o FILE` appends: start from an empty file on every run.
    let _ = std::fs::remove_file(&events);
    let direct = dir.join("direct.html");
    succeed(
        bin()
            .args(["replay", "-q", "--no-progress", "-o"])
            .arg(&events)
            .arg("--report")
            .arg(&direct)
            .args(&inputs),
    );
    let from_ndjson = dir.join("ndjson.html");
    succeed(bin().arg("report").arg(&events).arg("-o").arg(&from_ndjson));
    // Both faces count every protocol's methods, codes and resources alike.
    let model = embedded_model(&direct);
    assert_eq!(
        model,
        embedded_model(&from_ndjson),
        "replay --report and report EVENTS differ"
    );

    // Independent figures: transactions and errors by `type` and `status`.
    let all = parse_ndjson(&std::fs::read(&events).unwrap());
    let mut want: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for e in all.iter().filter(|e| e["type"] != "flow") {
        let t = want
            .entry(e["type"].as_str().unwrap().to_string())
            .or_default();
        t.0 += 1;
        t.1 += u64::from(e["status"] == "Error");
    }
    for p in [
        "pgsql", "dns", "icmp", "tls", "memcache", "amqp", "sip", "dhcpv4", "thrift",
    ] {
        assert!(
            want.get(p).is_some_and(|t| t.0 > 0),
            "no {p} in the captures"
        );
    }
    assert!(want.values().any(|t| t.1 > 0), "some errors");
    // The model's own list of protocols (what each tab draws).
    for p in model["views"]["all"]["protocols"].as_array().unwrap() {
        let name = p["name"].as_str().unwrap();
        // (`null` only in a view of one protocol.)
        let slow = p["slowest"].as_array().unwrap();
        assert!(!slow.is_empty(), "{name}: slowest");
        assert!(
            slow.iter().all(|s| s["event"]["type"] == name),
            "{name}: the slowest list holds only its own transactions"
        );
    }

    if chromium().is_none() {
        skip("the protocol tabs in a browser need chromium (tests/deps.sh --test)");
        return;
    }
    let url = format!("file://{}", direct.display());
    let dom = drawn(&url, Some(&dir.join("protocols.png")));
    assert_eq!(tabs(&dom), want, "one tab per protocol, with its figures");
    let secs = sections(&dom);
    assert_eq!(
        secs.iter()
            .map(|(p, _)| p.clone())
            .collect::<Vec<_>>()
            .len(),
        want.len(),
        "one section per tab"
    );
    for (p, part) in &secs {
        let (n, errors) = want[p];
        // Every generic panel drawn, charts with their canvas.
        let panels = attrs(part, "data-panel=", "data-panel");
        assert_eq!(panels.len(), 6, "{p}: {panels:?}");
        for (tag, name) in &panels {
            assert_eq!(
                attr_of(tag, "data-state").as_deref(),
                Some("ok"),
                "{p}: panel {name} not drawn: {tag}"
            );
        }
        assert_eq!(
            part.matches("<canvas").count(),
            part.matches("class=\"chart").count(),
            "{p}: every chart drew its canvas"
        );
        // Codes and methods each account for every transaction, and the
        // codes for every error.
        let mut code_n = 0;
        let mut code_e = 0;
        for (tag, _) in attrs(part, "data-pcode=", "data-pcode") {
            code_n += attr_of(tag, "data-n").unwrap().parse::<u64>().unwrap();
            code_e += attr_of(tag, "data-errors").unwrap().parse::<u64>().unwrap();
        }
        let none: u64 = attrs(part, "data-pcode-none=", "data-pcode-none")
            .first()
            .map_or(0, |(_, v)| v.parse().unwrap());
        assert_eq!(code_n + none, n, "{p}: transactions by code");
        assert_eq!(code_e, errors, "{p}: errors by code");
        let mut method_n = 0;
        for (tag, _) in attrs(part, "data-pmethod=", "data-pmethod") {
            method_n += attr_of(tag, "data-n").unwrap().parse::<u64>().unwrap();
        }
        assert!(
            method_n > 0 && method_n <= n,
            "{p}: {method_n} by method of {n}"
        );
    }

    // The report built from the NDJSON shows the same tabs.
    let dom2 = drawn(&format!("file://{}", from_ndjson.display()), None);
    assert_eq!(tabs(&dom2), want, "report EVENTS gives the same tabs");

    // A server's own page: the tab of its protocol alone.
    let row = model["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["proto"] == "dns" && r["requests"].as_u64() > Some(0))
        .expect("a DNS server row");
    let id = row["id"].as_str().unwrap();
    assert!(model["views"].get(id).is_some(), "{id} has a page");
    let dom3 = drawn(
        &format!("{url}#view={}", id.replace('|', "%7C")),
        Some(&dir.join("dns-server.png")),
    );
    let t = tabs(&dom3);
    assert_eq!(t.keys().collect::<Vec<_>>(), ["dns"], "{id}: {t:?}");
    assert_eq!(t["dns"].0, row["requests"].as_u64().unwrap());
    assert_eq!(t["dns"].1, row["errors"].as_u64().unwrap());
}
