//! `spanlens report --es URL`: the report's aggregate read back from the
//! cluster, from the summaries when the summaries index holds any in the
//! chosen window, else from aggregations over the raw events.
//!
//! From summaries: every matching document's record is merged as the
//! workers' records merge in one process (exact counts, the same HDR
//! histograms). From events: one `composite` aggregation over (interval
//! `date_histogram`, server group, server address and port, type) with
//! `filter`, `sum`, `terms` and `top_hits` sub-aggregations gives each
//! key's counts, bytes, codes, content types, methods, user agents,
//! clients, top resources and slowest transactions; the latency histograms
//! are rebuilt bucket for bucket from one `filter` + `histogram` pair per
//! octave of the aggregator's HDR histogram (2 significant digits), so the
//! percentiles are the ones the NDJSON face computes; the per-URL and
//! per-method histograms likewise, octave by octave.
//! No scripts: this works on clusters without Painless. A second composite
//! aggregation over final flow reports gives TCP health and top talkers. Bounded lists (clients, labels, top
//! entries) are the cluster's top N, where the in-process aggregator keeps
//! the first N it saw: the two differ only past those bounds.

use crate::aggregate::{AggConfig, Aggregator, Client, Hist, Key, Labels, Stats, Tally, TopK};
use crate::output::elasticsearch::client::EsClient;
use serde_json::{json, Value};
use std::sync::Arc;

/// What to read.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Events index pattern (e.g. `spanlens-*`, `packetbeat-*`).
    pub index: String,
    /// Summaries index pattern (e.g. `spanlens-summary-*`).
    pub summaries_index: String,
    /// From this time (ns since the epoch, inclusive).
    pub from: Option<u64>,
    /// To this time (ns, exclusive).
    pub to: Option<u64>,
    /// Only these sensors (`observer.name`); empty: all.
    pub sensors: Vec<String>,
    /// Where to read from.
    pub source: Source,
}

/// Where the figures come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Source {
    /// Summaries when there are any in the window, else events.
    #[default]
    Auto,
    /// Summary documents only.
    Summaries,
    /// Aggregations over the raw events only.
    Events,
}

/// What was read.
#[derive(Debug, Clone, Default)]
pub struct Read {
    /// Summary documents (0 when read from events).
    pub summaries: u64,
    /// Search requests made.
    pub requests: u64,
    /// `summaries` or `events`.
    pub source: &'static str,
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// The time and sensor filter.
fn filter(q: &Query, extra: Vec<Value>) -> Value {
    let mut must = extra;
    let mut range = serde_json::Map::new();
    if let Some(f) = q.from {
        range.insert("gte".into(), json!(crate::time::rfc3339(f)));
    }
    if let Some(t) = q.to {
        range.insert("lt".into(), json!(crate::time::rfc3339(t)));
    }
    if !range.is_empty() {
        must.push(json!({"range": {"@timestamp": range}}));
    }
    if !q.sensors.is_empty() {
        must.push(json!({"terms": {"observer.name": q.sensors}}));
    }
    json!({"bool": {"filter": must}})
}

fn search(
    client: &mut EsClient,
    path: &str,
    body: &Value,
    read: &mut Read,
) -> Result<Value, String> {
    let b = body.to_string();
    read.requests += 1;
    let r = client
        .request("POST", path, Some((b.as_bytes(), "application/json")))
        .map_err(err)?;
    let v: Value =
        serde_json::from_slice(&r.body).map_err(|e| format!("{}{path}: not JSON ({e})", r.host))?;
    if !(200..300).contains(&r.status) {
        let reason = v
            .pointer("/error/root_cause/0/reason")
            .or_else(|| v.pointer("/error/reason"))
            .map(|x| x.to_string())
            .unwrap_or_else(|| v.to_string());
        return Err(format!(
            "{}{path}: HTTP {}: {}",
            r.host,
            r.status,
            reason.chars().take(300).collect::<String>()
        ));
    }
    Ok(v)
}

fn opts() -> &'static str {
    "ignore_unavailable=true&allow_no_indices=true"
}

/// Reads the aggregate `q` selects.
pub fn read(
    client: &mut EsClient,
    q: &Query,
    cfg: AggConfig,
) -> Result<(Aggregator, Read), String> {
    let mut read = Read::default();
    if q.source != Source::Events {
        let agg = from_summaries(client, q, cfg, &mut read)?;
        if read.summaries > 0 || q.source == Source::Summaries {
            read.source = "summaries";
            return Ok((agg, read));
        }
    }
    read.source = "events";
    let agg = from_events(client, q, cfg, &mut read)?;
    Ok((agg, read))
}

/// Merges every summary document in the window (scrolled, 1000 at a time).
fn from_summaries(
    client: &mut EsClient,
    q: &Query,
    cfg: AggConfig,
    read: &mut Read,
) -> Result<Aggregator, String> {
    let mut agg = Aggregator::new(cfg);
    let i = cfg.interval_secs.max(1);
    let body = json!({
        "size": 1000,
        "sort": ["_doc"],
        "_source": ["@timestamp", "server.address", "server.group", "network.protocol", "summary.stats"],
        "query": filter(q, vec![json!({"term": {"type": super::summary::TYPE}})])
    });
    let path = format!("/{}/_search?scroll=1m&{}", q.summaries_index, opts());
    let mut v = search(client, &path, &body, read)?;
    loop {
        let hits = v
            .pointer("/hits/hits")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if hits.is_empty() {
            break;
        }
        for h in &hits {
            let src = &h["_source"];
            let Some(mut key) = super::summary::key_of(src) else {
                continue;
            };
            let Some(stats) = src.pointer("/summary/stats") else {
                continue;
            };
            let stats: Stats = serde_json::from_value(stats.clone())
                .map_err(|e| format!("summary document {}: {e}", h["_id"]))?;
            key.start = key.start / i * i;
            agg.add_stats(key, &stats);
            read.summaries += 1;
        }
        let Some(id) = v
            .get("_scroll_id")
            .and_then(Value::as_str)
            .map(str::to_owned)
        else {
            break;
        };
        v = search(
            client,
            "/_search/scroll",
            &json!({"scroll": "1m", "scroll_id": id}),
            read,
        )?;
    }
    if let Some(id) = v.get("_scroll_id").and_then(Value::as_str) {
        let b = json!({"scroll_id": id}).to_string();
        let _ = client.request(
            "DELETE",
            "/_search/scroll",
            Some((b.as_bytes(), "application/json")),
        );
    }
    Ok(agg)
}

/// The aggregator's HDR histogram (2 significant digits, 1 us to 1 h) as
/// aggregations without scripts: below 256 us each microsecond is its own
/// bucket; in each octave `[256 << j, 512 << j)` a bucket spans `2 << j`
/// us. One `filter` (the octave's range) with a `histogram` of that width
/// under it per octave rebuilds the histogram bucket for bucket. `unit`
/// is the field's unit in microseconds' terms: 1000 for `event.duration`
/// (ns; `floor(ns / 1000)` is the aggregator's value, so the edges are
/// multiples of the width times 1000), 1 for microsecond fields.
fn hdr_aggs(field: &str, unit: u64) -> Value {
    let mut aggs = serde_json::Map::new();
    let hist = |lo: u64, hi: Option<u64>, width: u64| {
        let mut range = json!({"gte": lo * unit});
        if let Some(h) = hi {
            range["lt"] = json!(h * unit);
        }
        json!({
            "filter": {"range": {field: range}},
            "aggs": {"h": {"histogram": {"field": field, "interval": width * unit, "min_doc_count": 1}}}
        })
    };
    aggs.insert("o_".into(), hist(0, Some(256), 1));
    for j in 0..24u32 {
        let lo = 256u64 << j;
        let hi = (lo * 2).min(HIST_MAX_US);
        aggs.insert(format!("o{j}"), hist(lo, Some(hi), 2 << j));
        if hi == HIST_MAX_US {
            break;
        }
    }
    // Past an hour: clamped to the top, as the aggregator records them.
    aggs.insert(
        "top".into(),
        json!({"filter": {"range": {field: {"gte": HIST_MAX_US * unit}}}}),
    );
    Value::Object(aggs)
}

/// The aggregator's latency bound (1 hour in us).
const HIST_MAX_US: u64 = 3_600_000_000;

/// Rebuilds a histogram from [`hdr_aggs`]'s answer. `missing`: values the
/// field lacks that the aggregator records as 0 (then 1 us).
fn fill_hdr(h: &mut Hist, aggs: &Value, unit: u64, missing: u64) {
    let Some(o) = aggs.as_object() else { return };
    for (name, a) in o {
        if name == "top" {
            let n = count(a);
            if n > 0 {
                h.record_n(HIST_MAX_US, n as u32);
            }
            continue;
        }
        for b in a["h"]["buckets"].as_array().into_iter().flatten() {
            let (Some(k), Some(n)) = (b["key"].as_f64(), b["doc_count"].as_u64()) else {
                continue;
            };
            let us = (k as u64) / unit;
            h.record_n(us.clamp(1, HIST_MAX_US), n as u32);
        }
    }
    if missing > 0 {
        h.record_n(1, missing as u32);
    }
}

/// The report's small per-entry histogram (`SmallHist`: each microsecond
/// below 8 us, then 8 buckets per octave) of `event.duration`, without
/// scripts: one `filter` (the octave) + `histogram` (its bucket width) per
/// octave up to 2^32 us (71 minutes; longer ones count in the top bucket).
fn small_aggs() -> Value {
    let f = "event.duration";
    let mut aggs = serde_json::Map::new();
    let hist = |lo: u64, hi: Option<u64>, width: u64| {
        let mut range = json!({"gte": lo * 1000});
        if let Some(h) = hi {
            range["lt"] = json!(h * 1000);
        }
        json!({
            "filter": {"range": {f: range}},
            "aggs": {"h": {"histogram": {"field": f, "interval": width * 1000, "min_doc_count": 1}}}
        })
    };
    aggs.insert("s_".into(), hist(0, Some(8), 1));
    for o in 3..32u32 {
        aggs.insert(
            format!("s{o}"),
            hist(1 << o, Some(1 << (o + 1)), 1 << (o - 3)),
        );
    }
    aggs.insert(
        "s32".into(),
        json!({"filter": {"range": {f: {"gte": (1u64 << 32) * 1000}}}}),
    );
    Value::Object(aggs)
}

/// Rebuilds a small histogram from [`small_aggs`]'s answer; `missing`
/// transactions without a duration count as 0 us.
fn fill_small(aggs: &Value, missing: u64) -> crate::aggregate::SmallHist {
    let mut h = crate::aggregate::SmallHist::default();
    let mut put = |us: u64, n: u64| {
        if n == 0 {
            return;
        }
        let mut one = crate::aggregate::SmallHist::default();
        one.record(us);
        if let Some(b) = one.0.first_mut() {
            b.1 = u32::try_from(n).unwrap_or(u32::MAX);
        }
        h.add(&one);
    };
    if let Some(o) = aggs.as_object() {
        for (name, a) in o {
            if name == "s32" {
                put(1 << 32, count(a));
                continue;
            }
            for b in a["h"]["buckets"].as_array().into_iter().flatten() {
                if let (Some(k), Some(n)) = (b["key"].as_f64(), b["doc_count"].as_u64()) {
                    put(k as u64 / 1000, n);
                }
            }
        }
    }
    put(0, missing);
    h
}

fn errors_agg() -> Value {
    json!({"filter": {"term": {"status": "Error"}}})
}

fn terms(field: &str, size: usize, sub: Value) -> Value {
    let mut t = json!({"terms": {"field": field, "size": size.max(1)}});
    if !sub.is_null() {
        t["aggs"] = sub;
    }
    t
}

fn composite(sources: Vec<Value>, after: Option<&Value>, aggs: Value) -> Value {
    let mut c = json!({"size": 10, "sources": sources});
    if let Some(a) = after {
        c["after"] = a.clone();
    }
    json!({"composite": c, "aggs": aggs})
}

/// Calls `f` with every bucket of a composite aggregation of `aggs` keyed
/// by `sources` over the documents `query` selects, page by page.
fn each_bucket(
    client: &mut EsClient,
    path: &str,
    query: &Value,
    sources: Vec<Value>,
    aggs: &Value,
    read: &mut Read,
    mut f: impl FnMut(Key, &Value),
) -> Result<(), String> {
    let mut after: Option<Value> = None;
    loop {
        let body = json!({
            "size": 0,
            "query": query,
            "aggs": {"k": composite(sources.clone(), after.as_ref(), aggs.clone())}
        });
        let v = search(client, path, &body, read)?;
        let k = &v["aggregations"]["k"];
        let buckets = k["buckets"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        for b in buckets {
            if let Some(key) = bucket_key(b) {
                f(key, b);
            }
        }
        match k.get("after_key") {
            Some(a) if !buckets.is_empty() => after = Some(a.clone()),
            _ => return Ok(()),
        }
    }
}

fn key_sources(interval: u64, flows: bool) -> Vec<Value> {
    let mut v = vec![
        json!({"t": {"date_histogram": {"field": "@timestamp", "fixed_interval": format!("{interval}s")}}}),
        json!({"g": {"terms": {"field": "server.group", "missing_bucket": true}}}),
        json!({"ip": {"terms": {"field": "server.ip"}}}),
        json!({"port": {"terms": {"field": "server.port", "missing_bucket": true}}}),
    ];
    if flows {
        // `flow.protocol`, else the transport.
        v.push(json!({"p": {"terms": {"field": "flow.protocol", "missing_bucket": true}}}));
        v.push(json!({"tr": {"terms": {"field": "network.transport", "missing_bucket": true}}}));
    } else {
        v.push(json!({"p": {"terms": {"field": "type"}}}));
    }
    v
}

fn bucket_key(b: &Value) -> Option<Key> {
    let k = &b["key"];
    let start = k["t"].as_u64()? / 1000;
    let ip: std::net::IpAddr = k["ip"].as_str()?.parse().ok()?;
    let port = k["port"].as_u64().unwrap_or(0) as u16;
    let proto = k["p"]
        .as_str()
        .or_else(|| k["tr"].as_str())
        .unwrap_or("other");
    Some(Key {
        start,
        group: k["g"].as_str().map(Arc::from),
        server: Arc::from(std::net::SocketAddr::new(ip, port).to_string()),
        proto: Arc::from(proto),
    })
}

fn count(v: &Value) -> u64 {
    v["doc_count"].as_u64().unwrap_or(0)
}

fn sum(v: &Value) -> u64 {
    v["value"].as_f64().unwrap_or(0.0).round() as u64
}

/// The label of a terms bucket (numbers as text).
fn label(b: &Value) -> Option<String> {
    match &b["key"] {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        Value::Number(n) => Some(
            n.as_u64()
                .map(|u| u.to_string())
                .unwrap_or_else(|| n.to_string()),
        ),
        other => Some(other.to_string()),
    }
}

/// Terms buckets as labels; `lat`: with their latency percentiles.
fn labels(agg: &Value, lat: bool) -> Vec<(String, Tally)> {
    agg["buckets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|b| {
            let n = count(b);
            Some((
                label(b)?,
                Tally {
                    n,
                    errors: count(&b["e"]),
                    lat: if lat {
                        fill_small(b, count(&b["nodur"]))
                    } else {
                        Default::default()
                    },
                    ..Tally::default()
                },
            ))
        })
        .collect()
}

/// Adds labels into `into` (same label: counts added).
fn add_labels(into: &mut Labels, from: Vec<(String, Tally)>) {
    for (k, t) in from {
        match into.0.iter_mut().find(|e| e.0 == k) {
            Some(e) => {
                e.1.n += t.n;
                e.1.errors += t.errors;
            }
            None => into.0.push((k, t)),
        }
    }
}

fn from_events(
    client: &mut EsClient,
    q: &Query,
    cfg: AggConfig,
    read: &mut Read,
) -> Result<Aggregator, String> {
    let mut agg = Aggregator::new(cfg);
    let interval = cfg.interval_secs.max(1);
    let path = format!("/{}/_search?{}", q.index, opts());
    let lab_sub = json!({"e": errors_agg()});
    let mut lat_sub = json!({
        "e": errors_agg(),
        "nodur": {"filter": {"bool": {"must_not": [{"exists": {"field": "event.duration"}}]}}}
    });
    if let (Some(m), Value::Object(sm)) = (lat_sub.as_object_mut(), small_aggs()) {
        m.extend(sm);
    }
    let code_fields = [
        "http.response.status_code",
        "mysql.error_code",
        "redis.error",
    ];
    let tx_aggs = json!({
        "e": errors_agg(),
        "bin": {"sum": {"field": "source.bytes"}},
        "bout": {"sum": {"field": "destination.bytes"}},
        "nodur": {"filter": {"bool": {"must_not": [{"exists": {"field": "event.duration"}}]}}},
        "lat": {"filter": {"match_all": {}}, "aggs": hdr_aggs("event.duration", 1000)},
        "srv": {"filter": {"exists": {"field": "transaction.server_us"}}, "aggs": hdr_aggs("transaction.server_us", 1)},
        "net": {"filter": {"exists": {"field": "transaction.network_us"}}, "aggs": hdr_aggs("transaction.network_us", 1)},
        "c_http": terms(code_fields[0], cfg.max_labels, lab_sub.clone()),
        "c_mysql": terms(code_fields[1], cfg.max_labels, lab_sub.clone()),
        "c_redis": terms(code_fields[2], cfg.max_labels * 4, lab_sub.clone()),
        "c_none": {"filter": {"bool": {
            "filter": [{"term": {"status": "Error"}}],
            "must_not": code_fields.iter().map(|f| json!({"exists": {"field": f}})).collect::<Vec<_>>()
        }}},
        "ctypes": terms("http.response.mime_type", cfg.max_labels, lab_sub.clone()),
        "methods": terms("method", cfg.max_labels, lat_sub.clone()),
        "agents": terms("user_agent.original", cfg.max_labels, lab_sub.clone()),
        "r_path": terms("path", cfg.top_entries, lat_sub.clone()),
        "r_query": terms("query", cfg.top_entries, lat_sub.clone()),
        "r_res": terms("resource", cfg.top_entries, lat_sub),
        "clients": terms("client.ip", cfg.max_clients, json!({
            "e": errors_agg(),
            "cc": {"terms": {"field": "client.geo.country_iso_code", "size": 1}}
        })),
        "slow": {"top_hits": {"size": cfg.slowest.max(1), "sort": [{"event.duration": {"order": "desc"}}]}}
    });
    let tx_filter = filter(
        q,
        vec![json!({"bool": {"must_not": [{"terms": {"type": ["flow", super::summary::TYPE]}}]}})],
    );
    each_bucket(
        client,
        &path,
        &tx_filter,
        key_sources(interval, false),
        &tx_aggs,
        read,
        |key, b| {
            let mut s = Stats {
                requests: count(b),
                errors: count(&b["e"]),
                bytes_in: sum(&b["bin"]),
                bytes_out: sum(&b["bout"]),
                ..Stats::default()
            };
            fill_hdr(&mut s.latency, &b["lat"], 1000, count(&b["nodur"]));
            fill_hdr(&mut s.server_time, &b["srv"], 1, 0);
            fill_hdr(&mut s.network_time, &b["net"], 1, 0);
            let proto = &*key.proto;
            match proto {
                "http" => add_labels(&mut s.codes, labels(&b["c_http"], false)),
                "mysql" => add_labels(&mut s.codes, labels(&b["c_mysql"], false)),
                "redis" => {
                    // The error's first word when it is a code (`WRONGTYPE`), else `ERR`.
                    let words = labels(&b["c_redis"], false)
                        .into_iter()
                        .map(|(m, t)| {
                            let mut d = [0u8; 20];
                            let c = crate::event::Code::redis_error(&m)
                                .as_str(&mut d)
                                .unwrap_or("ERR")
                                .to_string();
                            (c, t)
                        })
                        .collect();
                    add_labels(&mut s.codes, words);
                }
                _ => {}
            }
            let none = count(&b["c_none"]);
            if none > 0 {
                add_labels(
                    &mut s.codes,
                    vec![(
                        "error".into(),
                        Tally {
                            n: none,
                            errors: none,
                            ..Tally::default()
                        },
                    )],
                );
            }
            s.content_types = Labels(labels(&b["ctypes"], false));
            s.methods = Labels(labels(&b["methods"], true));
            s.agents = Labels(labels(&b["agents"], false));
            let top = match proto {
                "http" => "r_path",
                "mysql" => "r_query",
                "redis" => "r_res",
                _ if b["r_res"]["buckets"]
                    .as_array()
                    .is_some_and(|a| !a.is_empty()) =>
                {
                    "r_res"
                }
                _ => "r_query",
            };
            s.top = TopK::from_entries(
                labels(&b[top], true),
                b[top]["sum_other_doc_count"].as_u64().unwrap_or(0),
            );
            let (mut cn, mut ce) = (0, 0);
            for c in b["clients"]["buckets"].as_array().into_iter().flatten() {
                let Some(ip) = c["key"].as_str().and_then(|x| x.parse().ok()) else {
                    continue;
                };
                let cl = Client {
                    n: count(c),
                    errors: count(&c["e"]),
                    country: c["cc"]["buckets"][0]["key"].as_str().map(str::to_owned),
                    place: None,
                };
                cn += cl.n;
                ce += cl.errors;
                s.clients.insert(ip, cl);
            }
            s.clients_other = [s.requests - cn.min(s.requests), s.errors - ce.min(s.errors)];
            // The slowest: each hit through the NDJSON reader, so the
            // record is what the other faces keep.
            let mut tmp = Aggregator::new(cfg);
            for h in b["slow"]["hits"]["hits"].as_array().into_iter().flatten() {
                crate::report::add_line(&mut tmp, h["_source"].to_string().as_bytes());
            }
            let mut slow: Vec<_> = tmp.stats().flat_map(|(_, t)| t.slowest.clone()).collect();
            slow.sort_by_key(|x| std::cmp::Reverse(x.us));
            slow.truncate(cfg.slowest);
            s.slowest = slow;
            agg.add_stats(key, &s);
        },
    )?;
    // TCP health and talkers, from final flow reports.
    let flow_aggs = json!({
        "pk": {"sum": {"field": "network.packets"}},
        "bin": {"sum": {"field": "source.bytes"}},
        "bout": {"sum": {"field": "destination.bytes"}},
        "rc": {"sum": {"field": "tcp.client.retransmitted_segments"}},
        "rs": {"sum": {"field": "tcp.server.retransmitted_segments"}},
        "oc": {"sum": {"field": "tcp.client.out_of_order_segments"}},
        "os": {"sum": {"field": "tcp.server.out_of_order_segments"}},
        "xc": {"sum": {"field": "tcp.client.resets"}},
        "xs": {"sum": {"field": "tcp.server.resets"}},
        "zc": {"sum": {"field": "tcp.client.zero_window_segments"}},
        "zs": {"sum": {"field": "tcp.server.zero_window_segments"}},
        "gc": {"sum": {"field": "tcp.client.gap_bytes"}},
        "gs": {"sum": {"field": "tcp.server.gap_bytes"}},
        "su": {"filter": {"term": {"tcp.syn_unanswered": true}}},
        "sr": {"filter": {"term": {"tcp.syn_rejected": true}}},
        "rtt": {"filter": {"exists": {"field": "tcp.handshake_rtt_us"}}, "aggs": hdr_aggs("tcp.handshake_rtt_us", 1)},
        "talk": {"terms": {"field": "client.ip", "size": cfg.top_entries.max(1),
                            "order": {"b": "desc"}},
                 "aggs": {"b": {"sum": {"field": "network.bytes"}}}}
    });
    let flow_filter = filter(
        q,
        vec![
            json!({"term": {"type": "flow"}}),
            json!({"term": {"flow.final": true}}),
        ],
    );
    each_bucket(
        client,
        &path,
        &flow_filter,
        key_sources(interval, true),
        &flow_aggs,
        read,
        |key, b| {
            let mut s = Stats::default();
            let t = &mut s.tcp;
            t.flows = count(b);
            t.packets = sum(&b["pk"]);
            t.bytes_in = sum(&b["bin"]);
            t.bytes_out = sum(&b["bout"]);
            t.retrans = sum(&b["rc"]) + sum(&b["rs"]);
            t.ooo = sum(&b["oc"]) + sum(&b["os"]);
            t.resets = sum(&b["xc"]) + sum(&b["xs"]);
            t.zero_windows = sum(&b["zc"]) + sum(&b["zs"]);
            t.lost_bytes = sum(&b["gc"]) + sum(&b["gs"]);
            t.syn_unanswered = count(&b["su"]);
            t.syn_rejected = count(&b["sr"]);
            fill_hdr(&mut t.rtt, &b["rtt"], 1, 0);
            let talk = b["talk"]["buckets"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| {
                    Some((
                        c["key"].as_str()?.to_owned(),
                        Tally {
                            n: count(c),
                            bytes: sum(&c["b"]),
                            ..Tally::default()
                        },
                    ))
                })
                .collect();
            s.talkers = TopK::from_entries(talk, 0);
            agg.add_stats(key, &s);
        },
    )?;
    Ok(agg)
}

/// Parses `--from` / `--to`: RFC 3339 (`2024-01-02T03:04:05Z`, fraction
/// allowed) or seconds since the epoch.
pub fn parse_time(s: &str) -> Result<u64, String> {
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(secs * 1_000_000_000);
    }
    crate::aggregate::summary::parse_rfc3339(s).ok_or_else(|| {
        format!("'{s}' is not a time: write 2024-01-02T03:04:05Z or seconds since 1970")
    })
}
