//! The page model: everything the page draws, computed from an aggregate.
//!
//! Shape (JSON): `meta`, `sensor` (counters or null), `servers` (the table
//! rows) and `views`: `all`, one per server row with a page of its own, one
//! per server group. Every view has the same panels (see [`view`]).

use crate::aggregate::{Aggregator, Hist, Key, Labels, Stats, Tally};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Latency heatmap buckets: upper edges in microseconds.
const HEAT_EDGES: [u64; 16] = [
    50,
    100,
    200,
    500,
    1_000,
    2_000,
    5_000,
    10_000,
    20_000,
    50_000,
    100_000,
    200_000,
    500_000,
    1_000_000,
    5_000_000,
    u64::MAX,
];
const HEAT_LABELS: [&str; 16] = [
    "50µs", "100µs", "200µs", "500µs", "1ms", "2ms", "5ms", "10ms", "20ms", "50ms", "100ms",
    "200ms", "500ms", "1s", "5s", ">5s",
];

/// The first [`LIST`] entries of a key's top list in `order` (ties by
/// name), as `[name, count, error %, p50, p95, count bound]` rows.
fn top_rows(s: &Stats, order: fn(&Tally, &Tally) -> std::cmp::Ordering) -> Value {
    let mut v: Vec<_> = s.top.entries.iter().collect();
    v.sort_by(|a, b| order(&a.1, &b.1).then(a.0.cmp(&b.0)));
    v.into_iter()
        .take(LIST)
        .map(|(k, t)| {
            json!([
                k,
                t.n,
                100.0 * ratio(t.errors, t.n),
                t.lat.q(0.5),
                t.lat.q(0.95),
                t.err
            ])
        })
        .collect()
}

/// Most frequent first.
fn by_count(a: &Tally, b: &Tally) -> std::cmp::Ordering {
    b.n.cmp(&a.n)
}

/// How many rows a list panel shows.
const LIST: usize = 20;

/// SQL verbs that only read.
fn is_read(method: &str) -> bool {
    matches!(
        method.to_ascii_uppercase().as_str(),
        "SELECT" | "SHOW" | "DESCRIBE" | "DESC" | "EXPLAIN" | "USE" | "STMT_EXECUTE_SELECT"
    )
}

fn is_write(method: &str) -> bool {
    matches!(
        method.to_ascii_uppercase().as_str(),
        "INSERT" | "UPDATE" | "DELETE" | "REPLACE" | "CREATE" | "DROP" | "ALTER" | "TRUNCATE"
    )
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Rows of a label table, biggest first: `[label, n, errors, p50, p95]`.
fn label_rows(l: &Labels, limit: usize) -> Value {
    let mut v: Vec<_> = l.0.iter().collect();
    v.sort_by(|a, b| b.1.n.cmp(&a.1.n).then(a.0.cmp(&b.0)));
    v.into_iter()
        .take(limit)
        .map(|(k, t)| json!([k, t.n, t.errors, t.lat.q(0.5), t.lat.q(0.95)]))
        .collect()
}

/// `v` (an object) with `fields` moved in: `json!` would copy each
/// [`Value`] it is given by serialising it again.
fn with<const N: usize>(mut v: Value, fields: [(&str, Value); N]) -> Value {
    if let Value::Object(m) = &mut v {
        for (k, f) in fields {
            m.insert(k.to_owned(), f);
        }
    }
    v
}

fn hist_json(h: &Hist) -> Value {
    json!({"p50": h.q(0.5), "p95": h.q(0.95), "p99": h.q(0.99), "n": h.len()})
}

/// Heatmap counts of one histogram, by [`HEAT_EDGES`].
fn heat_counts(h: &Hist) -> [u64; 16] {
    let mut out = [0u64; 16];
    for (v, n) in h.buckets() {
        let i = HEAT_EDGES.iter().position(|&e| v <= e).unwrap_or(15);
        out[i] += n;
    }
    out
}

/// Most distinct user agents whose parse is kept while a model is built
/// (past it, agents are parsed each time they are met).
const UA_CACHE: usize = 4096;

/// Browser and OS of user agents, parsed once per distinct string: every
/// view (overview, each server page, each group) shows the same agents.
struct Agents {
    parser: woothee::parser::Parser,
    seen: std::collections::HashMap<String, (String, String)>,
}

impl Agents {
    fn new() -> Self {
        Agents {
            parser: woothee::parser::Parser::new(),
            seen: std::collections::HashMap::new(),
        }
    }

    /// `(browser, os)` of one user agent.
    fn parse(&mut self, ua: &str) -> (String, String) {
        if let Some(r) = self.seen.get(ua) {
            return r.clone();
        }
        let r = match self.parser.parse(ua) {
            Some(r) if r.name != "UNKNOWN" => {
                let b = if r.version.is_empty() || r.version == "UNKNOWN" {
                    r.name.to_string()
                } else {
                    format!("{} {}", r.name, r.version.split('.').next().unwrap_or(""))
                };
                (b, r.os.to_string())
            }
            _ => {
                // Tools (curl, wrk, ...) are named by their product token.
                let prod = ua.split('/').next().unwrap_or(ua).trim();
                let prod = if prod.is_empty() || ua == "other" {
                    "other"
                } else {
                    prod
                };
                (prod.to_string(), "UNKNOWN".to_string())
            }
        };
        if self.seen.len() < UA_CACHE {
            self.seen.insert(ua.to_owned(), r.clone());
        }
        r
    }
}

/// The slowest transactions' events, parsed once per model: the same
/// events show in the overview, their server's page and their group's.
#[derive(Default)]
struct Events(std::collections::HashMap<*const crate::aggregate::Slow, Value>);

impl Events {
    /// The event of `x` as JSON (`null` if it does not parse).
    fn get(&mut self, x: &crate::aggregate::Slow) -> Value {
        self.0
            .entry(x as *const _)
            .or_insert_with(|| serde_json::from_str(&x.event).unwrap_or(Value::Null))
            .clone()
    }
}

/// One view: every panel's data for the keys `keys`, over interval starts `starts`.
fn view(
    title: &str,
    keys: &[(&Key, &Stats)],
    starts: &[u64],
    agg: &Aggregator,
    agents: &mut Agents,
    events: &mut Events,
) -> Value {
    let cfg = &agg.config;
    let mut bounds = crate::aggregate::Bounds::default();
    let mut total = Stats::default();
    let mut per: BTreeMap<u64, Stats> = BTreeMap::new();
    let mut protos: BTreeMap<&str, Stats> = BTreeMap::new();
    let mut http_codes: BTreeMap<String, BTreeMap<u64, u64>> = BTreeMap::new();
    for (k, s) in keys {
        total.merge(s, cfg, &mut bounds);
        per.entry(k.start).or_default().merge(s, cfg, &mut bounds);
        protos
            .entry(&k.proto)
            .or_default()
            .merge(s, cfg, &mut bounds);
        if &*k.proto == "http" {
            for (c, t) in &s.codes.0 {
                *http_codes
                    .entry(c.clone())
                    .or_default()
                    .entry(k.start)
                    .or_default() += t.n;
            }
        }
    }
    // A latency percentile of an interval; null when it has none.
    let pct = |s: &Stats, q: f64| {
        if s.latency.is_empty() {
            Value::Null
        } else {
            json!(s.latency.q(q))
        }
    };
    let col = |f: &dyn Fn(&Stats) -> Value| -> Value {
        starts
            .iter()
            .map(|t| per.get(t).map_or(Value::Null, f))
            .collect()
    };
    let series = with(
        json!({}),
        [
            ("requests", col(&|s| json!(s.requests))),
            ("errors", col(&|s| json!(s.errors))),
            ("bytes_in", col(&|s| json!(s.bytes_in + s.tcp.bytes_in))),
            ("bytes_out", col(&|s| json!(s.bytes_out + s.tcp.bytes_out))),
            ("p50", col(&|s| pct(s, 0.5))),
            ("p95", col(&|s| pct(s, 0.95))),
            ("p99", col(&|s| pct(s, 0.99))),
        ],
    );
    let mut heat = Vec::new();
    for (i, t) in starts.iter().enumerate() {
        if let Some(s) = per.get(t) {
            for (b, n) in heat_counts(&s.latency).iter().enumerate() {
                if *n > 0 {
                    heat.push(json!([i, b, n]));
                }
            }
        }
    }
    // Browsers and OS from the user agents.
    let mut browsers: BTreeMap<String, u64> = BTreeMap::new();
    let mut oses: BTreeMap<String, u64> = BTreeMap::new();
    for (ua, t) in &total.agents.0 {
        let (b, o) = agents.parse(ua);
        *browsers.entry(b).or_default() += t.n;
        *oses.entry(o).or_default() += t.n;
    }
    let sorted = |m: BTreeMap<String, u64>| -> Value {
        let mut v: Vec<_> = m.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v.into_iter()
            .take(LIST)
            .map(|(k, n)| json!([k, n]))
            .collect()
    };
    // Countries and places: each tracked client's own, plus those of the
    // clients past the bound.
    let mut countries = total.countries.clone();
    let mut places_l = total.places.clone();
    for (ip, c) in &total.clients {
        let country = c
            .country
            .as_deref()
            .unwrap_or_else(|| crate::aggregate::geo_label(*ip));
        countries.add(country, c.n, c.errors);
        if let Some(p) = &c.place {
            places_l.add(p, c.n, c.errors);
        }
    }
    let mut clients: Vec<_> = total.clients.iter().collect();
    clients.sort_by(|a, b| b.1.n.cmp(&a.1.n).then(a.0.cmp(b.0)));
    let mut clients: Vec<Value> = clients
        .into_iter()
        .take(LIST * 5)
        .map(|(ip, c)| {
            let where_ = c
                .country
                .as_deref()
                .unwrap_or_else(|| crate::aggregate::geo_label(*ip));
            json!([ip.to_string(), where_, c.n, c.errors])
        })
        .collect();
    if total.clients_other[0] > 0 {
        clients.push(json!([
            "other",
            "",
            total.clients_other[0],
            total.clients_other[1]
        ]));
    }
    let mut place_list: Vec<&(String, Tally)> = places_l.0.iter().collect();
    place_list.sort_by(|a, b| b.1.n.cmp(&a.1.n).then(a.0.cmp(&b.0)));
    let places: Vec<Value> = place_list
        .into_iter()
        .filter_map(|(p, t)| {
            let (lat, lon) = p.split_once(',')?;
            Some(json!([
                lon.parse::<f64>().ok()?,
                lat.parse::<f64>().ok()?,
                t.n
            ]))
        })
        .collect();
    let mut slowest: Vec<Value> = Vec::new();
    let mut all_slow: Vec<_> = keys
        .iter()
        .flat_map(|(k, s)| s.slowest.iter().map(move |x| (k, x)))
        .collect();
    all_slow.sort_by(|a, b| crate::aggregate::Slow::order(a.1, b.1));
    for (k, x) in all_slow.into_iter().take(LIST) {
        let ev = events.get(x);
        slowest.push(with(
            json!({"us": x.us, "what": x.what, "server": &*k.server, "proto": &*k.proto}),
            [("event", ev)],
        ));
    }
    let tcp = &total.tcp;
    let tcp_json = with(
        json!({
            "flows": tcp.flows, "packets": tcp.packets,
            "retrans": tcp.retrans, "ooo": tcp.ooo,
            "retrans_pct": 100.0 * ratio(tcp.retrans, tcp.packets),
            "ooo_pct": 100.0 * ratio(tcp.ooo, tcp.packets),
            "resets": tcp.resets, "zero_windows": tcp.zero_windows, "lost_bytes": tcp.lost_bytes,
            "syn_unanswered": tcp.syn_unanswered, "syn_rejected": tcp.syn_rejected,
        }),
        [("rtt", hist_json(&tcp.rtt))],
    );
    let mut talkers: Vec<_> = total.talkers.entries.iter().collect();
    talkers.sort_by(|a, b| b.1.bytes.cmp(&a.1.bytes).then(a.0.cmp(&b.0)));
    let talkers: Vec<Value> = talkers
        .into_iter()
        .take(LIST)
        .map(|(ip, t)| json!([ip, t.bytes, t.n]))
        .collect();
    let http = protos.get("http").map(|s| {
        let code_series: BTreeMap<&String, Vec<u64>> = http_codes
            .iter()
            .map(|(c, m)| {
                (
                    c,
                    starts
                        .iter()
                        .map(|t| m.get(t).copied().unwrap_or(0))
                        .collect(),
                )
            })
            .collect();
        with(
            json!({"requests": s.requests, "errors": s.errors, "code_series": code_series}),
            [
                ("top", top_rows(s, by_count)),
                ("codes", label_rows(&s.codes, LIST)),
                ("methods", label_rows(&s.methods, LIST)),
            ],
        )
    });
    let mysql = protos.get("mysql").map(|s| {
        let (mut reads, mut writes, mut other) = (0, 0, 0);
        for (m, t) in &s.methods.0 {
            if is_read(m) {
                reads += t.n;
            } else if is_write(m) {
                writes += t.n;
            } else {
                other += t.n;
            }
        }
        let slow = top_rows(s, |a, b| b.lat.q(0.95).cmp(&a.lat.q(0.95)));
        with(
            json!({"requests": s.requests, "errors": s.errors, "reads": reads, "writes": writes,
                   "other": other}),
            [
                ("top", top_rows(s, by_count)),
                ("slowest", slow),
                ("codes", label_rows(&s.codes, LIST)),
                ("methods", label_rows(&s.methods, LIST)),
            ],
        )
    });
    let redis = protos.get("redis").map(|s| {
        with(
            json!({"requests": s.requests, "errors": s.errors}),
            [
                ("commands", label_rows(&s.methods, LIST * 2)),
                ("keys", top_rows(s, by_count)),
                ("codes", label_rows(&s.codes, LIST)),
            ],
        )
    });
    let types: Vec<Value> = protos
        .iter()
        .filter(|(_, s)| s.requests > 0)
        .map(|(p, s)| json!([p, s.requests, s.errors]))
        .collect();
    let protocols = protocol_panels(keys, &protos, starts, events);
    let span = span_secs(starts, cfg.interval_secs);
    let totals = with(
        json!({
            "requests": total.requests, "errors": total.errors,
            "error_pct": 100.0 * ratio(total.errors, total.requests),
            "rps": total.requests as f64 / span,
            "bytes_in": total.bytes_in, "bytes_out": total.bytes_out,
        }),
        [
            ("latency", hist_json(&total.latency)),
            ("server_time", hist_json(&total.server_time)),
            ("network_time", hist_json(&total.network_time)),
        ],
    );
    with(
        json!({"title": title}),
        [
            ("totals", totals),
            ("series", series),
            (
                "heat",
                with(json!({"labels": HEAT_LABELS}), [("data", heat.into())]),
            ),
            ("codes", label_rows(&total.codes, LIST)),
            ("content_types", label_rows(&total.content_types, LIST)),
            ("methods", label_rows(&total.methods, LIST)),
            ("types", types.into()),
            ("slowest", slowest.into()),
            ("clients", clients.into()),
            ("countries", label_rows(&countries, LIST * 2)),
            ("places", places.into()),
            ("browsers", sorted(browsers)),
            ("os", sorted(oses)),
            ("tcp", tcp_json),
            ("talkers", talkers.into()),
            ("http", http.unwrap_or(Value::Null)),
            ("mysql", mysql.unwrap_or(Value::Null)),
            ("redis", redis.unwrap_or(Value::Null)),
            ("protocols", protocols.into()),
        ],
    )
}

/// Transactions, errors and latency of one protocol in one interval.
#[derive(Default)]
struct Cell {
    requests: u64,
    errors: u64,
    latency: Hist,
}

/// The generic panels of every protocol with transactions in the view, in
/// [`crate::aggregate::PROTOCOLS`], then by name: one tab each on the page. Per protocol: totals, a sparse
/// series (`[interval index, transactions, errors, p50, p95, p99]` for the
/// intervals that have any), methods and codes (`[label, n, errors, p50,
/// p95]`, plus how many transactions carry none), top resources (as the
/// HTTP and MySQL top lists) and the slowest transactions kept whole
/// (`null` when the view holds one protocol: they are then the view's own
/// `slowest`, which the page shows instead of a second copy).
fn protocol_panels(
    keys: &[(&Key, &Stats)],
    protos: &BTreeMap<&str, Stats>,
    starts: &[u64],
    events: &mut Events,
) -> Vec<Value> {
    let index: BTreeMap<u64, usize> = starts.iter().enumerate().map(|(i, &t)| (t, i)).collect();
    let mut cells: BTreeMap<(&str, u64), Cell> = BTreeMap::new();
    for (k, s) in keys {
        if s.requests == 0 {
            continue;
        }
        let c = cells.entry((&*k.proto, k.start)).or_default();
        c.requests += s.requests;
        c.errors += s.errors;
        c.latency.add(&s.latency);
    }
    let mut names: Vec<&str> = protos
        .iter()
        .filter(|(_, s)| s.requests > 0)
        .map(|(p, _)| *p)
        .collect();
    let rank = |p: &str| {
        crate::aggregate::PROTOCOLS
            .iter()
            .position(|n| *n == p)
            .unwrap_or(usize::MAX)
    };
    names.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.cmp(b)));
    let single = names.len() == 1;
    names
        .into_iter()
        .map(|p| {
            let s = &protos[p];
            let series: Vec<Value> = cells
                .range((p, 0)..=(p, u64::MAX))
                .filter_map(|((_, t), c)| {
                    let i = index.get(t)?;
                    let l = &c.latency;
                    Some(json!([
                        i,
                        c.requests,
                        c.errors,
                        l.q(0.5),
                        l.q(0.95),
                        l.q(0.99)
                    ]))
                })
                .collect();
            let none = |l: &Labels| {
                let counted: u64 = l.0.iter().map(|(_, t)| t.n).sum();
                s.requests.saturating_sub(counted)
            };
            let top = top_rows(s, by_count);
            let slowest: Value = if single {
                Value::Null
            } else {
                let mut slow: Vec<_> = keys
                    .iter()
                    .filter(|(k, _)| &*k.proto == p)
                    .flat_map(|(k, s)| s.slowest.iter().map(move |x| (k, x)))
                    .collect();
                slow.sort_by(|a, b| b.1.us.cmp(&a.1.us).then(a.1.event.cmp(&b.1.event)));
                slow.into_iter()
                    .take(LIST)
                    .map(|(k, x)| {
                        let ev = events.get(x);
                        with(
                            json!({"us": x.us, "what": x.what, "server": &*k.server, "proto": p}),
                            [("event", ev)],
                        )
                    })
                    .collect()
            };
            with(
                json!({
                    "name": p,
                    "requests": s.requests,
                    "errors": s.errors,
                    "error_pct": 100.0 * ratio(s.errors, s.requests),
                    "methods_none": none(&s.methods),
                    "codes_none": none(&s.codes),
                }),
                [
                    ("latency", hist_json(&s.latency)),
                    ("series", series.into()),
                    ("methods", label_rows(&s.methods, LIST * 2)),
                    ("codes", label_rows(&s.codes, LIST)),
                    ("top", top),
                    ("slowest", slowest),
                ],
            )
        })
        .collect()
}

fn span_secs(starts: &[u64], interval: u64) -> f64 {
    match (starts.first(), starts.last()) {
        (Some(a), Some(b)) => (b - a + interval.max(1)) as f64,
        _ => 1.0,
    }
}

/// A server table row's id (also its view's name).
fn row_id(k: &Key) -> String {
    format!(
        "s:{}|{}|{}",
        k.group.as_deref().unwrap_or(""),
        k.server,
        k.proto
    )
}

/// The keys that make up one view.
type Parts<'a> = Vec<(&'a Key, &'a Stats)>;

/// The whole model.
pub fn build(agg: &Aggregator, sensor: Option<&serde_json::Value>, sources: &[String]) -> Value {
    let cfg = &agg.config;
    let starts: Vec<u64> = {
        let s: std::collections::BTreeSet<u64> = agg.stats().map(|(k, _)| k.start).collect();
        match (s.first(), s.last()) {
            // Every interval between the first and the last, so gaps show.
            (Some(&a), Some(&b)) if (b - a) / cfg.interval_secs.max(1) < 100_000 => {
                (a..=b).step_by(cfg.interval_secs.max(1) as usize).collect()
            }
            _ => s.into_iter().collect(),
        }
    };
    let all: Vec<(&Key, &Stats)> = agg.stats().collect();
    let mut views = serde_json::Map::new();
    let mut agents = Agents::new();
    let mut events = Events::default();
    views.insert(
        "all".into(),
        view("All servers", &all, &starts, agg, &mut agents, &mut events),
    );
    // Server rows: (group, server, proto) over all intervals.
    let mut rows: BTreeMap<String, (Key, Parts<'_>)> = BTreeMap::new();
    let mut groups: BTreeMap<String, Vec<(&Key, &Stats)>> = BTreeMap::new();
    for (k, s) in &all {
        let id = row_id(k);
        rows.entry(id)
            .or_insert_with(|| {
                (
                    Key {
                        start: 0,
                        ..(*k).clone()
                    },
                    Vec::new(),
                )
            })
            .1
            .push((k, s));
        if let Some(g) = &k.group {
            groups.entry(g.to_string()).or_default().push((k, s));
        }
    }
    let span = span_secs(&starts, cfg.interval_secs);
    let mut table = Vec::new();
    let mut by_requests: Vec<(&String, u64)> = Vec::new();
    let mut bounds = crate::aggregate::Bounds::default();
    for (id, (k, parts)) in &rows {
        let mut t = Stats::default();
        for (_, s) in parts {
            t.merge(s, cfg, &mut bounds);
        }
        by_requests.push((id, t.requests + t.tcp.flows));
        table.push(json!({
            "id": id, "kind": "server", "group": k.group.as_deref(), "server": &*k.server,
            "proto": &*k.proto, "requests": t.requests, "rps": t.requests as f64 / span,
            "errors": t.errors, "error_pct": 100.0 * ratio(t.errors, t.requests),
            "p50": t.latency.q(0.5), "p95": t.latency.q(0.95), "p99": t.latency.q(0.99),
            "server_p50": t.server_time.q(0.5), "server_p95": t.server_time.q(0.95),
            "network_p50": t.network_time.q(0.5), "network_p95": t.network_time.q(0.95),
            "flows": t.tcp.flows, "retrans_pct": 100.0 * ratio(t.tcp.retrans, t.tcp.packets),
            "resets": t.tcp.resets, "rtt_p95": t.tcp.rtt.q(0.95),
            "bytes": t.bytes_in + t.bytes_out + t.tcp.bytes_in + t.tcp.bytes_out,
        }));
    }
    by_requests.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    for (id, _) in by_requests.iter().take(cfg.server_pages) {
        if let Some((k, parts)) = rows.get(*id) {
            let title = format!("{} ({})", k.server, k.proto);
            views.insert(
                (*id).clone(),
                view(&title, parts, &starts, agg, &mut agents, &mut events),
            );
        }
    }
    for (g, parts) in &groups {
        let mut t = Stats::default();
        for (_, s) in parts {
            t.merge(s, cfg, &mut bounds);
        }
        let id = format!("g:{g}");
        table.push(json!({
            "id": id, "kind": "group", "group": g, "server": format!("group {g}"), "proto": "",
            "requests": t.requests, "rps": t.requests as f64 / span,
            "errors": t.errors, "error_pct": 100.0 * ratio(t.errors, t.requests),
            "p50": t.latency.q(0.5), "p95": t.latency.q(0.95), "p99": t.latency.q(0.99),
            "server_p50": t.server_time.q(0.5), "server_p95": t.server_time.q(0.95),
            "network_p50": t.network_time.q(0.5), "network_p95": t.network_time.q(0.95),
            "flows": t.tcp.flows, "retrans_pct": 100.0 * ratio(t.tcp.retrans, t.tcp.packets),
            "resets": t.tcp.resets, "rtt_p95": t.tcp.rtt.q(0.95),
            "bytes": t.bytes_in + t.bytes_out + t.tcp.bytes_in + t.tcp.bytes_out,
        }));
        views.insert(
            id,
            view(
                &format!("Group {g}"),
                parts,
                &starts,
                agg,
                &mut agents,
                &mut events,
            ),
        );
    }
    let has_geo = agg
        .stats()
        .any(|(_, s)| !s.places.0.is_empty() || s.clients.values().any(|c| c.country.is_some()))
        || agg.stats().any(|(_, s)| {
            s.countries
                .0
                .iter()
                .any(|(c, _)| c != "private" && c != "unknown")
        });
    with(
        json!({
            "meta": {
                "version": env!("CARGO_PKG_VERSION"),
                "interval_secs": cfg.interval_secs,
                "t": starts.iter().map(|s| s * 1000).collect::<Vec<_>>(),
                "sources": sources,
                "geoip": has_geo,
                "bounds": agg.bounds,
                "config": agg.config,
            },
        }),
        [
            ("sensor", sensor.cloned().unwrap_or(Value::Null)),
            ("servers", table.into()),
            ("views", Value::Object(views)),
        ],
    )
}
