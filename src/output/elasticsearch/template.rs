//! The index template: ECS-style mappings for spanlens events, as a
//! composable `_index_template` (Elasticsearch 7.8+, 8.x, 9.x, OpenSearch)
//! or a legacy `_template` (Elasticsearch 7.0-7.7).
//!
//! Explicit properties cover the common fields; dynamic templates matched by
//! path cover fields added later by protocols, so they map sanely without
//! a template change: `*.ip` -> `ip`, `*_us`, `*.bytes`, `*.port`,
//! `*.packets`, `*_count`, `*.duration` -> `long`, other strings -> `keyword`.
//! `url.full`, `url.original` and `query` are `wildcard` where the cluster
//! has that type, else `keyword` with a `text` sub-field. This module only
//! builds JSON; the client installs it.

use serde_json::{json, Value};

/// Bumped whenever the mappings change, so a start-up replaces an older template.
pub const TEMPLATE_VERSION: u64 = 2;

/// Which template API and field types the cluster supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flavor {
    /// `_index_template` (else `_template`).
    pub composable: bool,
    /// The `wildcard` field type exists.
    pub wildcard: bool,
}

/// Cluster identity from `GET /` or the nodes info API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterInfo {
    /// `version.number`, e.g. `8.19.21`.
    pub version: String,
    /// True for OpenSearch.
    pub opensearch: bool,
}

impl ClusterInfo {
    fn major_minor(&self) -> (u32, u32) {
        let mut it = self.version.split(['.', '-']);
        let major = it.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        let minor = it.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        (major, minor)
    }

    /// The template flavour to try first.
    pub fn flavor(&self) -> Flavor {
        let v = self.major_minor();
        if self.opensearch {
            Flavor {
                composable: true,
                wildcard: v >= (2, 15),
            }
        } else {
            Flavor {
                composable: v >= (7, 8),
                wildcard: v >= (7, 9),
            }
        }
    }

    /// Reads `GET /` (`{"version":{"number":..,"distribution":"opensearch"}}`)
    /// or the nodes info API (`{"nodes":{"id":{"version":".."}}}`).
    pub fn from_json(body: &[u8]) -> Option<ClusterInfo> {
        let v: Value = serde_json::from_slice(body).ok()?;
        if let Some(num) = v.pointer("/version/number").and_then(Value::as_str) {
            let opensearch =
                v.pointer("/version/distribution").and_then(Value::as_str) == Some("opensearch");
            return Some(ClusterInfo {
                version: num.to_string(),
                opensearch,
            });
        }
        let node = v.get("nodes")?.as_object()?.values().next()?;
        Some(ClusterInfo {
            version: node.get("version")?.as_str()?.to_string(),
            opensearch: node.get("distribution").and_then(Value::as_str) == Some("opensearch"),
        })
    }
}

fn long() -> Value {
    json!({"type": "long"})
}
fn keyword() -> Value {
    json!({"type": "keyword", "ignore_above": 1024})
}
fn ip() -> Value {
    json!({"type": "ip"})
}
fn date() -> Value {
    json!({"type": "date"})
}

/// A long string field searched by substring: `wildcard`, else keyword + text.
fn long_text(f: Flavor) -> Value {
    if f.wildcard {
        json!({"type": "wildcard", "fields": {"text": {"type": "text", "norms": false}}})
    } else {
        json!({"type": "keyword", "ignore_above": 8191,
               "fields": {"text": {"type": "text", "norms": false}}})
    }
}

fn endpoint() -> Value {
    json!({"properties": {
        "ip": ip(), "port": long(), "bytes": long(), "packets": long(),
        "group": keyword(), "domain": keyword(), "mac": keyword()
    }})
}

/// The mappings object.
pub fn mappings(f: Flavor) -> Value {
    json!({
        "_meta": {"spanlens_template_version": TEMPLATE_VERSION},
        "dynamic_templates": [
            {"ip_fields": {"path_match": "*.ip", "mapping": ip()}},
            {"forwarded_ip": {"path_match": "network.forwarded_ip", "mapping": ip()}},
            {"micros": {"match": "*_us", "match_mapping_type": "long", "mapping": long()}},
            {"bytes": {"match": "bytes", "mapping": long()}},
            {"bytes_suffix": {"match": "*_bytes", "mapping": long()}},
            {"ports": {"match": "port", "mapping": long()}},
            {"packets": {"match": "packets", "mapping": long()}},
            {"counts": {"match": "*_count", "mapping": long()}},
            {"durations": {"match": "duration", "mapping": long()}},
            {"status_codes": {"match": "status_code", "mapping": long()}},
            {"strings": {"match_mapping_type": "string", "mapping": keyword()}}
        ],
        "properties": {
            "@timestamp": date(),
            "observer": {"properties": {"name": keyword(), "hostname": keyword()}},
            "type": keyword(),
            "status": keyword(),
            "method": keyword(),
            "path": keyword(),
            "resource": keyword(),
            // Packetbeat maps `query` as keyword: its dashboards rank it
            // ("Most frequent MySQL queries", "HTTP status codes for the top queries").
            "query": {"type": "keyword", "ignore_above": 8191,
                      "fields": {"text": {"type": "text", "norms": false}}},
            "event": {"properties": {
                "kind": keyword(), "category": keyword(), "dataset": keyword(),
                "type": keyword(), "outcome": keyword(),
                "start": date(), "end": date(), "duration": long()
            }},
            "client": endpoint(),
            "server": endpoint(),
            "source": endpoint(),
            "destination": endpoint(),
            "network": {"properties": {
                "transport": keyword(), "type": keyword(), "protocol": keyword(),
                "community_id": keyword(), "direction": keyword(),
                "bytes": long(), "packets": long(), "vlan": long(),
                "forwarded_ip": ip()
            }},
            "flow": {"properties": {
                "id": keyword(), "final": {"type": "boolean"}, "evicted": {"type": "boolean"},
                "vlan": long(), "protocol": keyword()
            }},
            "related": {"properties": {"ip": ip()}},
            "error": {"properties": {"message": {"type": "text", "norms": false}}},
            "transaction": {"properties": {
                "request_us": long(), "wait_us": long(), "transfer_us": long(),
                "rtt_us": long(), "server_us": long(), "network_us": long()
            }},
            "url": {"properties": {
                "full": long_text(f), "original": long_text(f),
                "scheme": keyword(), "domain": keyword(), "port": long(),
                "path": keyword(), "query": keyword(), "extension": keyword()
            }},
            "http": {"properties": {
                "version": keyword(),
                "request": {"properties": {
                    "method": keyword(), "bytes": long(), "mime_type": keyword(),
                    "body": {"properties": {"bytes": long()}}
                }},
                "response": {"properties": {
                    "status_code": long(), "bytes": long(), "mime_type": keyword(),
                    "body": {"properties": {"bytes": long()}}
                }}
            }},
            "user_agent": {"properties": {"original": keyword()}}
        }
    })
}

/// The index settings the template carries (from the config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSettings {
    /// `index.number_of_shards`.
    pub shards: u32,
    /// `index.number_of_replicas`.
    pub replicas: u32,
    /// `index.refresh_interval`; `None` leaves the cluster's default.
    pub refresh_interval: Option<String>,
}

impl IndexSettings {
    /// The `settings.index` object.
    fn to_json(&self) -> Value {
        let mut index = json!({
            "number_of_shards": self.shards, "number_of_replicas": self.replicas,
            "mapping": {"total_fields": {"limit": 2000}}
        });
        if let Some(r) = &self.refresh_interval {
            index["refresh_interval"] = json!(r);
        }
        index
    }

    /// True when a template's `settings.index` (as the cluster returns it:
    /// numbers as strings) holds these values.
    fn matches(&self, index: Option<&Value>) -> bool {
        let text = |k: &str| {
            index.and_then(|i| i.get(k)).and_then(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
        };
        text("number_of_shards") == Some(self.shards.to_string())
            && text("number_of_replicas") == Some(self.replicas.to_string())
            && text("refresh_interval") == self.refresh_interval
    }
}

/// The template body for `index_patterns` (e.g. `spanlens-*`).
pub fn body(f: Flavor, pattern: &str, ix: &IndexSettings) -> Value {
    let settings = json!({ "index": ix.to_json() });
    if f.composable {
        json!({
            "index_patterns": [pattern],
            "priority": 150,
            "_meta": {"spanlens_template_version": TEMPLATE_VERSION},
            "template": {"settings": settings, "mappings": mappings(f)}
        })
    } else {
        json!({
            "index_patterns": [pattern],
            "order": 150,
            "settings": settings,
            "mappings": mappings(f)
        })
    }
}

/// The request path for a template name.
pub fn path(f: Flavor, name: &str) -> String {
    if f.composable {
        format!("/_index_template/{name}")
    } else {
        format!("/_template/{name}")
    }
}

/// True when a `GET` of the template shows our current version and the
/// configured settings, so no `PUT` is needed (idempotent start-up; a
/// changed `replicas` or `refresh_interval` replaces the template).
pub fn is_current(f: Flavor, name: &str, ix: &IndexSettings, get_body: &[u8]) -> bool {
    let Ok(v) = serde_json::from_slice::<Value>(get_body) else {
        return false;
    };
    let tpl = if f.composable {
        v.get("index_templates")
            .and_then(Value::as_array)
            .and_then(|a| {
                a.iter()
                    .find(|t| t.get("name").and_then(Value::as_str) == Some(name))
            })
            .and_then(|t| t.pointer("/index_template/template"))
    } else {
        v.get(name)
    };
    let Some(tpl) = tpl else {
        return false;
    };
    tpl.pointer("/mappings/_meta/spanlens_template_version")
        .and_then(Value::as_u64)
        == Some(TEMPLATE_VERSION)
        && ix.matches(tpl.pointer("/settings/index"))
}

/// True when a failed `PUT` says the `wildcard` type is unknown (a cluster
/// without x-pack's wildcard module, or an older OpenSearch).
pub fn wildcard_unsupported(error_body: &[u8]) -> bool {
    let s = String::from_utf8_lossy(error_body);
    s.contains("wildcard") && (s.contains("does not exist") || s.contains("No handler for type"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ES8: Flavor = Flavor {
        composable: true,
        wildcard: true,
    };

    #[test]
    fn versions_choose_flavor() {
        let es = |v: &str| ClusterInfo {
            version: v.into(),
            opensearch: false,
        };
        assert_eq!(
            es("7.7.1").flavor(),
            Flavor {
                composable: false,
                wildcard: false
            }
        );
        assert_eq!(
            es("7.8.0").flavor(),
            Flavor {
                composable: true,
                wildcard: false
            }
        );
        assert_eq!(es("8.19.21").flavor(), ES8);
        assert_eq!(es("9.1.0-SNAPSHOT").flavor(), ES8);
        let os = ClusterInfo {
            version: "2.11.0".into(),
            opensearch: true,
        };
        assert_eq!(
            os.flavor(),
            Flavor {
                composable: true,
                wildcard: false
            }
        );
    }

    #[test]
    fn cluster_info_from_root_and_nodes() {
        let root = br#"{"name":"n","version":{"distribution":"opensearch","number":"2.19.1"}}"#;
        assert_eq!(
            ClusterInfo::from_json(root),
            Some(ClusterInfo {
                version: "2.19.1".into(),
                opensearch: true
            })
        );
        let nodes = br#"{"nodes":{"tFy_rUwP":{"version":"8.19.21","build_flavor":"default"}}}"#;
        assert_eq!(
            ClusterInfo::from_json(nodes),
            Some(ClusterInfo {
                version: "8.19.21".into(),
                opensearch: false
            })
        );
        assert_eq!(ClusterInfo::from_json(b"{\"error\":1}"), None);
        assert_eq!(ClusterInfo::from_json(b"nope"), None);
    }

    fn dyn_mapping_for(m: &Value, name: &str) -> Value {
        m["dynamic_templates"]
            .as_array()
            .unwrap()
            .iter()
            .find_map(|t| t.get(name).cloned())
            .unwrap()["mapping"]
            .clone()
    }

    #[test]
    fn mappings_use_ecs_types() {
        let m = mappings(ES8);
        let p = &m["properties"];
        assert_eq!(p["client"]["properties"]["ip"]["type"], "ip");
        assert_eq!(p["destination"]["properties"]["port"]["type"], "long");
        assert_eq!(
            p["http"]["properties"]["response"]["properties"]["status_code"]["type"],
            "long"
        );
        assert_eq!(
            p["http"]["properties"]["request"]["properties"]["method"]["type"],
            "keyword"
        );
        assert_eq!(
            p["network"]["properties"]["community_id"]["type"],
            "keyword"
        );
        assert_eq!(p["server"]["properties"]["group"]["type"], "keyword");
        assert_eq!(p["event"]["properties"]["start"]["type"], "date");
        assert_eq!(p["@timestamp"]["type"], "date");
        assert_eq!(p["url"]["properties"]["full"]["type"], "wildcard");
        assert_eq!(p["transaction"]["properties"]["wait_us"]["type"], "long");
        assert_eq!(dyn_mapping_for(&m, "ip_fields")["type"], "ip");
        assert_eq!(dyn_mapping_for(&m, "strings")["type"], "keyword");
        let no_wc = mappings(Flavor {
            composable: true,
            wildcard: false,
        });
        let full = &no_wc["properties"]["url"]["properties"]["full"];
        assert_eq!(full["type"], "keyword");
        assert_eq!(full["fields"]["text"]["type"], "text");
        // The ip rule must come before the catch-all string rule.
        let names: Vec<String> = m["dynamic_templates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_object().unwrap().keys().next().unwrap().clone())
            .collect();
        assert_eq!(names.first().map(String::as_str), Some("ip_fields"));
        assert_eq!(names.last().map(String::as_str), Some("strings"));
    }

    fn ix(shards: u32, replicas: u32, refresh: Option<&str>) -> IndexSettings {
        IndexSettings {
            shards,
            replicas,
            refresh_interval: refresh.map(String::from),
        }
    }

    #[test]
    fn composable_and_legacy_bodies() {
        let b = body(ES8, "spanlens-*", &ix(1, 0, None));
        assert!(b["template"]["settings"]["index"]
            .get("refresh_interval")
            .is_none());
        let r = body(ES8, "spanlens-*", &ix(1, 0, Some("30s")));
        assert_eq!(
            r["template"]["settings"]["index"]["refresh_interval"],
            "30s"
        );
        assert_eq!(b["index_patterns"][0], "spanlens-*");
        assert_eq!(b["template"]["settings"]["index"]["number_of_replicas"], 0);
        assert!(b["template"]["mappings"]["properties"].is_object());
        let legacy = Flavor {
            composable: false,
            wildcard: false,
        };
        let l = body(legacy, "spanlens-*", &ix(1, 1, None));
        assert!(l["mappings"]["properties"].is_object());
        assert_eq!(path(ES8, "spanlens"), "/_index_template/spanlens");
        assert_eq!(path(legacy, "spanlens"), "/_template/spanlens");
    }

    #[test]
    fn current_template_is_recognised() {
        let s = ix(1, 0, None);
        let b = body(ES8, "spanlens-*", &s);
        let get = json!({"index_templates": [{"name": "spanlens", "index_template": b}]});
        assert!(is_current(ES8, "spanlens", &s, get.to_string().as_bytes()));
        assert!(!is_current(ES8, "other", &s, get.to_string().as_bytes()));
        // Other settings in the config: the template is replaced.
        assert!(!is_current(
            ES8,
            "spanlens",
            &ix(1, 1, None),
            get.to_string().as_bytes()
        ));
        assert!(!is_current(
            ES8,
            "spanlens",
            &ix(1, 0, Some("30s")),
            get.to_string().as_bytes()
        ));
        // As the cluster returns it: numbers as strings.
        let mut as_es = body(ES8, "spanlens-*", &ix(2, 1, Some("-1")));
        as_es["template"]["settings"]["index"]["number_of_shards"] = json!("2");
        as_es["template"]["settings"]["index"]["number_of_replicas"] = json!("1");
        let get_es = json!({"index_templates": [{"name": "spanlens", "index_template": as_es}]});
        assert!(is_current(
            ES8,
            "spanlens",
            &ix(2, 1, Some("-1")),
            get_es.to_string().as_bytes()
        ));
        let mut old = b.clone();
        old["template"]["mappings"]["_meta"]["spanlens_template_version"] = json!(0);
        let get = json!({"index_templates": [{"name": "spanlens", "index_template": old}]});
        assert!(!is_current(ES8, "spanlens", &s, get.to_string().as_bytes()));
        let legacy = Flavor {
            composable: false,
            wildcard: false,
        };
        let lget = json!({"spanlens": body(legacy, "spanlens-*", &s)});
        assert!(is_current(
            legacy,
            "spanlens",
            &s,
            lget.to_string().as_bytes()
        ));
        assert!(!is_current(ES8, "spanlens", &s, b"{}"));
    }

    #[test]
    fn wildcard_error_is_detected() {
        let e = br#"{"error":{"type":"mapper_parsing_exception","reason":"The mapper type [wildcard] declared on field [full] does not exist."},"status":400}"#;
        assert!(wildcard_unsupported(e));
        assert!(!wildcard_unsupported(br#"{"error":"other"}"#));
    }
}
