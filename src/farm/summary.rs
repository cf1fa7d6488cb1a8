//! Summary documents (`[output.elasticsearch] summaries = true`): one per
//! aggregator key and sensor, written with their own index template
//! (`histogram` fields for the latencies, the record stored whole).
//!
//! Document ids are deterministic: sensor, run, flush number, interval
//! start and a hash of (group, server, protocol). A replay flushes once, at
//! the end, with run `replay`: replaying a capture again writes the same
//! ids (`create` answers 409 and nothing is counted twice). A live run
//! flushes intervals as they age (two intervals behind the newest) and
//! names its run by its wall-clock start, so a restart never reuses an id;
//! late transactions of a flushed interval go out in a later flush, as a
//! document of their own, and merge in the report like any other.

use crate::aggregate::{Aggregator, Hist, Key, Stats};
use crate::event::Observer;
use crate::output::elasticsearch::client::EsClient;
use crate::output::elasticsearch::encoder::IndexPattern;
use crate::output::elasticsearch::ElasticsearchConfig;
use crate::stats::Counters;
use serde_json::{json, Value};

/// Name of the summaries' index template: the events' `template_name`
/// with `-summary`.
pub fn template_name(events_template: &str) -> String {
    format!("{events_template}-summary")
}
/// Bumped when the summary mappings change.
pub const TEMPLATE_VERSION: u64 = 1;
/// `type` of a summary document.
pub const TYPE: &str = "summary";

/// Bytes of one bulk request at most.
const BULK_BYTES: usize = 4 << 20;

/// The mappings of summary documents; without `histogram` (a cluster
/// without x-pack's analytics module, such as the integ-test distribution)
/// the histograms are kept in the document only.
pub fn mappings(histogram: bool) -> Value {
    let long = json!({"type": "long"});
    let kw = json!({"type": "keyword", "ignore_above": 1024});
    let hist = if histogram {
        json!({"type": "histogram"})
    } else {
        json!({"type": "object", "enabled": false})
    };
    json!({
        "_meta": {"spanlens_summary_version": TEMPLATE_VERSION},
        "dynamic": false,
        "properties": {
            "@timestamp": {"type": "date"},
            "type": kw,
            "observer": {"properties": {"name": kw, "hostname": kw}},
            "event": {"properties": {"kind": kw, "dataset": kw, "duration": long}},
            "server": {"properties": {
                "ip": {"type": "ip"}, "port": long, "group": kw, "address": kw
            }},
            "network": {"properties": {"protocol": kw}},
            "summary": {"properties": {
                "interval_secs": long, "requests": long, "errors": long,
                "bytes_in": long, "bytes_out": long, "sampled_out": long,
                "flows": long, "retransmissions": long, "resets": long,
                "latency_us": hist, "server_us": hist, "network_us": hist,
                "stats": {"type": "object", "enabled": false}
            }}
        }
    })
}

/// The composable template for `pattern` (e.g. `spanlens-summary-*`).
/// Priority 160: above the events' template, whose pattern may overlap.
/// Shards, replicas and `refresh_interval` are the events' settings
/// (`[output.elasticsearch]`), so one setting governs both indices.
pub fn template_body(
    pattern: &str,
    shards: u32,
    replicas: u32,
    refresh_interval: Option<&str>,
    histogram: bool,
) -> Value {
    let mut index = json!({"number_of_shards": shards, "number_of_replicas": replicas});
    if let Some(r) = refresh_interval {
        index["refresh_interval"] = json!(r);
    }
    json!({
        "index_patterns": [pattern],
        "priority": 160,
        "_meta": {"spanlens_summary_version": TEMPLATE_VERSION},
        "template": {
            "settings": {"index": index},
            "mappings": mappings(histogram)
        }
    })
}

/// An HDR histogram as an Elasticsearch `histogram` value: each recorded
/// bucket's highest equivalent value (microseconds) and its count.
pub fn histogram_field(h: &Hist) -> Value {
    let mut values = Vec::new();
    let mut counts = Vec::new();
    for b in h.hdr().iter_recorded() {
        values.push(b.value_iterated_to());
        counts.push(b.count_at_value());
    }
    json!({"values": values, "counts": counts})
}

/// The summary document of one key.
pub fn document(key: &Key, stats: &Stats, interval_secs: u64, observer: &Observer) -> Value {
    let mut server = json!({"address": &*key.server});
    if let Ok(sa) = key.server.parse::<std::net::SocketAddr>() {
        server["ip"] = json!(sa.ip().to_string());
        server["port"] = json!(sa.port());
    }
    if let Some(g) = &key.group {
        server["group"] = json!(&**g);
    }
    json!({
        "@timestamp": crate::time::rfc3339(key.start * 1_000_000_000),
        "type": TYPE,
        "observer": {"name": observer.name, "hostname": observer.hostname},
        "event": {"kind": "metric", "dataset": "spanlens.summary",
                  "duration": interval_secs * 1_000_000_000},
        "server": server,
        "network": {"protocol": &*key.proto},
        "summary": {
            "interval_secs": interval_secs,
            "requests": stats.requests,
            "errors": stats.errors,
            "bytes_in": stats.bytes_in,
            "bytes_out": stats.bytes_out,
            "sampled_out": stats.sampled_out,
            "flows": stats.tcp.flows,
            "retransmissions": stats.tcp.retrans,
            "resets": stats.tcp.resets,
            "latency_us": histogram_field(&stats.latency),
            "server_us": histogram_field(&stats.server_time),
            "network_us": histogram_field(&stats.network_time),
            "stats": stats
        }
    })
}

/// The key a summary document was written for (`None` when it is not one).
pub fn key_of(doc: &Value) -> Option<Key> {
    let ts = crate::aggregate::summary::parse_rfc3339(doc.get("@timestamp")?.as_str()?)?;
    let server = doc.pointer("/server/address")?.as_str()?;
    let proto = doc.pointer("/network/protocol")?.as_str()?;
    let group = doc.pointer("/server/group").and_then(Value::as_str);
    Some(Key {
        start: ts / 1_000_000_000,
        group: group.map(std::sync::Arc::from),
        server: std::sync::Arc::from(server),
        proto: std::sync::Arc::from(proto),
    })
}

/// The document id of `key` (see the module notes).
pub fn doc_id(observer: &Observer, run: &str, seq: u64, key: &Key) -> String {
    let h = crate::flow::fixed_state().hash_one((
        key.group.as_deref(),
        &*key.server,
        &*key.proto,
        &observer.name,
    ));
    format!("{}-{run}-{seq}-{}-{h:016x}", observer.name, key.start)
}

/// Writes summaries to the cluster; counts under `output.es.summary_*`.
pub struct SummaryWriter {
    client: EsClient,
    index: IndexPattern,
    observer: Observer,
    run: String,
    seq: u64,
    interval_secs: u64,
    /// `output.es.summary_docs` (written), `summary_present` (already there),
    /// `summary_failed`, `summary_bytes`, `summary_requests`.
    pub counters: Counters,
}

impl SummaryWriter {
    /// Connects, installs the summaries' template; `live` names the run by
    /// its wall-clock start (else `replay`).
    pub fn new(
        cfg: &ElasticsearchConfig,
        observer: Observer,
        live: bool,
        interval_secs: u64,
    ) -> Result<SummaryWriter, String> {
        let valid = cfg.validate().map_err(|(k, m)| format!("{k}: {m}"))?;
        let index = IndexPattern::parse(&cfg.summaries_index)?;
        let mut client = EsClient::new(&valid).map_err(|e| e.to_string())?;
        if cfg.template {
            let path = format!("/_index_template/{}", template_name(&cfg.template_name));
            let mut histogram = true;
            loop {
                let body = template_body(
                    &index.wildcard(),
                    cfg.shards,
                    cfg.replicas,
                    cfg.refresh_interval.as_deref(),
                    histogram,
                )
                .to_string();
                let r = client
                    .request("PUT", &path, Some((body.as_bytes(), "application/json")))
                    .map_err(|e| format!("summaries template: {e}"))?;
                if (200..300).contains(&r.status) {
                    break;
                }
                let text = String::from_utf8_lossy(&r.body);
                if histogram && text.contains("[histogram]") && text.contains("does not exist") {
                    tracing::warn!(
                        "this cluster has no histogram field type (x-pack analytics): summary \
                         histograms are stored, not indexed"
                    );
                    histogram = false;
                    continue;
                }
                return Err(format!(
                    "summaries template: HTTP {}: {}",
                    r.status,
                    text.chars().take(300).collect::<String>()
                ));
            }
        }
        let run = if live {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            format!("live{t}")
        } else {
            "replay".into()
        };
        Ok(SummaryWriter {
            client,
            index,
            observer,
            run,
            seq: 0,
            interval_secs: interval_secs.max(1),
            counters: Counters::new(),
        })
    }

    /// Writes every key of `agg` (one flush); failures are counted and
    /// logged, never fatal.
    pub fn write(&mut self, agg: &Aggregator) {
        if agg.is_empty() {
            return;
        }
        let seq = self.seq;
        self.seq += 1;
        let mut body = Vec::with_capacity(BULK_BYTES + 64 * 1024);
        let mut docs = 0u64;
        for (k, s) in agg.stats() {
            let doc = document(k, s, self.interval_secs, &self.observer);
            let index = self.index.render(k.start * 1_000_000_000).to_string();
            let id = doc_id(&self.observer, &self.run, seq, k);
            body.extend_from_slice(
                json!({"create": {"_index": index, "_id": id}})
                    .to_string()
                    .as_bytes(),
            );
            body.push(b'\n');
            let _ = serde_json::to_writer(&mut body, &doc);
            body.push(b'\n');
            docs += 1;
            if body.len() >= BULK_BYTES {
                self.send(&body, docs);
                body.clear();
                docs = 0;
            }
        }
        if docs > 0 {
            self.send(&body, docs);
        }
    }

    fn send(&mut self, body: &[u8], docs: u64) {
        let mut last = String::new();
        for attempt in 0..4u32 {
            if attempt > 0 {
                std::thread::sleep(std::time::Duration::from_millis(500 << attempt));
            }
            self.counters.add("output.es.summary_requests", 1);
            match self.client.bulk(body) {
                Ok((r, _)) if (200..300).contains(&r.status) => {
                    let (ok, present, failed, reason) = bulk_items(&r.body);
                    self.counters.add("output.es.summary_docs", ok);
                    self.counters.add("output.es.summary_present", present);
                    self.counters
                        .add("output.es.summary_bytes", body.len() as u64);
                    if failed > 0 {
                        self.counters.add("output.es.summary_failed", failed);
                        tracing::warn!("{failed} summary documents refused: {reason}");
                    }
                    return;
                }
                Ok((r, _)) => {
                    last = format!(
                        "HTTP {}: {}",
                        r.status,
                        String::from_utf8_lossy(&r.body)
                            .chars()
                            .take(200)
                            .collect::<String>()
                    )
                }
                Err(e) => last = e.to_string(),
            }
        }
        self.counters.add("output.es.summary_failed", docs);
        tracing::warn!("{docs} summary documents not written: {last}");
    }
}

/// Created, already present (409), failed items of a bulk reply, and the
/// first failure's reason.
fn bulk_items(body: &[u8]) -> (u64, u64, u64, String) {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return (0, 0, 0, String::new());
    };
    let (mut ok, mut present, mut failed, mut reason) = (0, 0, 0, String::new());
    for item in v
        .get("items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(r) = item.get("create").or_else(|| item.get("index")) else {
            continue;
        };
        match r.get("status").and_then(Value::as_u64).unwrap_or(0) {
            200..=299 => ok += 1,
            409 => present += 1,
            _ => {
                failed += 1;
                if reason.is_empty() {
                    reason = r.get("error").map(|e| e.to_string()).unwrap_or_default();
                }
            }
        }
    }
    (ok, present, failed, reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::{AggConfig, TxSummary};

    #[test]
    fn the_summaries_template_takes_the_events_refresh_interval() {
        let t = template_body("spanlens-summary-*", 1, 0, Some("30s"), true);
        let index = &t["template"]["settings"]["index"];
        assert_eq!(index["refresh_interval"], "30s");
        assert_eq!(index["number_of_replicas"], 0);
        let t = template_body("spanlens-summary-*", 1, 0, None, true);
        assert!(t["template"]["settings"]["index"]
            .get("refresh_interval")
            .is_none());
    }

    #[test]
    fn a_document_gives_back_its_key_and_record() {
        let mut agg = Aggregator::new(AggConfig::default());
        for (i, us) in [120u64, 900, 15_000, 15_100].iter().enumerate() {
            let tx = TxSummary {
                ts: 1_700_000_005_000_000_000 + i as u64,
                proto: "http",
                error: i == 2,
                duration_ns: us * 1000,
                server_us: None,
                network_us: None,
                request_bytes: 10,
                response_bytes: 100,
                server: "10.0.0.2:80".parse().unwrap(),
                group: Some("web"),
                client: "10.0.0.1".parse().unwrap(),
                code: crate::event::Code::Num(200),
                content_type: None,
                method: Some(b"GET"),
                resource: Some(b"/x"),
                user_agent: None,
                country: None,
                place: None,
            };
            agg.add_tx(&tx, || None);
        }
        let obs = Observer {
            name: "s1".into(),
            hostname: "h".into(),
        };
        let (k, s) = agg.stats().next().unwrap();
        let doc = document(k, s, 10, &obs);
        assert_eq!(key_of(&doc).as_ref(), Some(k));
        assert_eq!(doc["summary"]["requests"], 4);
        assert_eq!(doc["summary"]["errors"], 1);
        // The histogram field: increasing values, counts summing to requests.
        let vals: Vec<u64> = doc["summary"]["latency_us"]["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        assert!(vals.windows(2).all(|w| w[0] < w[1]), "{vals:?}");
        let n: u64 = doc["summary"]["latency_us"]["counts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert_eq!(n, 4);
        let back: Stats = serde_json::from_value(doc["summary"]["stats"].clone()).unwrap();
        assert_eq!(back.requests, 4);
        for q in [0.5, 0.95, 0.99] {
            assert_eq!(back.latency.q(q), s.latency.q(q));
        }
        assert_ne!(doc_id(&obs, "replay", 0, k), doc_id(&obs, "replay", 1, k));
    }
}
