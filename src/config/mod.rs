//! Configuration: the TOML schema (raw, as written) and its validation into
//! the typed settings the pipeline runs with.
//!
//! Every section denies unknown keys, so a typo is an error naming the key
//! rather than a silently ignored setting. Command-line options are applied
//! on top of the file by [`Config::apply_overrides`] before validation.

pub use crate::time::HumanDuration;

use crate::dispatch::filter::{CidrError, Filter, GroupMap};
use crate::proto::{ProtocolsConfig, Registry};
use crate::tcp::TcpConfig;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Errors loading or validating a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// TOML syntax, an unknown key or a value of the wrong type.
    #[error("config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, naming the key.
        message: String,
    },
    /// A value that parses but is not acceptable.
    #[error("invalid setting {key}: {message}")]
    Invalid {
        /// Dotted key, e.g. `workers` or `servers.web`.
        key: String,
        /// What is wrong and what to do.
        message: String,
    },
}

/// `[capture]`: libpcap settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CaptureConfig {
    /// Bytes captured per packet (live).
    pub snaplen: i32,
    /// Kernel capture buffer in MiB (live).
    pub buffer_mb: u32,
    /// Put the interface in promiscuous mode (live).
    pub promiscuous: bool,
    /// Deliver packets as they arrive instead of in kernel batches (live).
    pub immediate: bool,
    /// A BPF filter compiled by libpcap.
    pub bpf: Option<String>,
    /// Hand exact duplicate frames (a SPAN session mirroring both
    /// directions) on to the workers instead of counting them as
    /// `capture.duplicates` and dropping them.
    pub keep_duplicates: bool,
}

impl Default for CaptureConfig {
    fn default() -> Self {
        CaptureConfig {
            snaplen: 65535,
            buffer_mb: 64,
            promiscuous: true,
            immediate: false,
            bpf: None,
            keep_duplicates: false,
        }
    }
}

/// `[filter]`: which traffic is analysed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilterConfig {
    /// Addresses or CIDRs of servers to analyse (a packet is kept when either
    /// endpoint matches one; empty keeps everything).
    pub server: Vec<String>,
    /// Addresses or CIDRs never analysed (either endpoint matching drops the packet).
    pub exclude: Vec<String>,
    /// Tunnel ids (VNI, ERSPAN session id, GRE key) analysed; empty keeps
    /// every packet, tunnelled or not; otherwise untunnelled packets are dropped.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tunnel_id: Vec<u32>,
}

/// One `[servers]` group: a list of CIDRs, or CIDRs that hold only inside
/// one tunnel (`tenant_a = { tunnel_id = 42, cidrs = ["10.0.0.0/24"] }`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ServerGroup {
    /// `name = ["cidr", ...]`
    Cidrs(Vec<String>),
    /// `name = { tunnel_id = N, cidrs = [...] }`
    InTunnel {
        /// The tunnel id (VNI, ERSPAN session id, GRE key).
        tunnel_id: u32,
        /// Prefixes of the group inside that tunnel.
        cidrs: Vec<String>,
    },
}

/// `[flows]`: flow table and flow events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FlowsConfig {
    /// Emit `type: flow` events.
    pub enabled: bool,
    /// Interval of intermediate flow reports (`flow.final: false`), packet time.
    pub period: HumanDuration,
    /// TCP idle timeout.
    pub tcp_timeout: HumanDuration,
    /// Timeout after both FINs or an RST.
    pub tcp_close_timeout: HumanDuration,
    /// UDP (and other IP protocols) idle timeout.
    pub udp_timeout: HumanDuration,
    /// Flows per worker before the oldest idle ones are evicted.
    pub max_flows_per_worker: usize,
    /// How much work is done per flow: `flows`, `tcp` or `full` (the default).
    pub analysis: Analysis,
    /// Deprecated alias: `tcp_analysis = false` means `analysis = "flows"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_analysis: Option<bool>,
}

/// `flows.analysis`: the levels of work, each including the one before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Analysis {
    /// Flow events only: packet and byte counts per flow, no `tcp.*`, no
    /// protocol decoding (the cheapest; for benchmarks and pure flow logs).
    Flows,
    /// Flows plus TCP reassembly and metrics (`tcp.*`, handshake RTT),
    /// no protocol decoding.
    Tcp,
    /// Everything: flows, TCP analysis and protocol decoding (TCP and UDP).
    Full,
}

impl FlowsConfig {
    /// The level in effect (`tcp_analysis = false` is `Flows`).
    pub fn level(&self) -> Analysis {
        match self.tcp_analysis {
            Some(false) => Analysis::Flows,
            _ => self.analysis,
        }
    }
}

impl Default for FlowsConfig {
    fn default() -> Self {
        FlowsConfig {
            enabled: true,
            period: HumanDuration::secs(10),
            tcp_timeout: HumanDuration::secs(60),
            tcp_close_timeout: HumanDuration::secs(5),
            udp_timeout: HumanDuration::secs(30),
            max_flows_per_worker: 262_144,
            analysis: Analysis::Full,
            tcp_analysis: None,
        }
    }
}

/// `[pipeline]`: thread and queue tuning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    /// Worker threads (0 is invalid).
    pub workers: usize,
    /// Pin threads to cores when the machine has enough.
    pub pin_threads: bool,
    /// Packets per batch handed to a worker.
    pub batch_packets: usize,
    /// Batches queued per worker before back-pressure (replay) or drops (live).
    pub queue_batches: usize,
    /// Wall time after which a partial batch is sent anyway (live).
    pub batch_timeout: HumanDuration,
    /// Event batches queued for the exporter.
    pub exporter_queue: usize,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            workers: 2,
            pin_threads: true,
            batch_packets: 256,
            queue_batches: 16,
            batch_timeout: HumanDuration::millis(50),
            exporter_queue: 8,
        }
    }
}

/// `[monitor]`: self-monitoring and logs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MonitorConfig {
    /// Live capture: interval of the stats line in the log (`"0s"` turns it off).
    pub stats_interval: HumanDuration,
    /// Serve Prometheus metrics at `http://ADDR/metrics` (e.g. "127.0.0.1:9108").
    pub metrics: Option<String>,
    /// `error`, `warn`, `info`, `debug` or `trace`.
    pub log_level: String,
    /// `text` or `json`.
    pub log_format: String,
    /// Log to this file instead of stderr (reopened on SIGHUP, for logrotate).
    pub log_file: Option<PathBuf>,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            stats_interval: HumanDuration::secs(10),
            metrics: None,
            log_level: "info".into(),
            log_format: "text".into(),
            log_file: None,
        }
    }
}

/// `[output]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutputConfig {
    /// `-` for NDJSON on stdout, a path for an NDJSON file.
    pub path: String,
    /// `[output.elasticsearch]`: settings of the Elasticsearch output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub elasticsearch: Option<crate::output::elasticsearch::ElasticsearchConfig>,
}

impl Default for OutputConfig {
    fn default() -> Self {
        OutputConfig {
            path: "-".into(),
            elasticsearch: None,
        }
    }
}

/// `[observer]`: who this sensor is (`observer.name` on every event).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ObserverConfig {
    /// The sensor's name; the host name when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `[memcap]`: memory budgets per subsystem (the worker's `memcap` module
/// says how each is estimated and what a hit does).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MemcapConfig {
    /// Flow table (flows and their TCP state).
    pub flow_table_mb: u64,
    /// TCP out-of-order buffers.
    pub reassembly_mb: u64,
    /// Protocol sessions' inline state.
    pub protocol_state_mb: u64,
}

impl Default for MemcapConfig {
    fn default() -> Self {
        MemcapConfig {
            flow_table_mb: 256,
            reassembly_mb: 128,
            protocol_state_mb: 64,
        }
    }
}

/// The whole file, as written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    /// `[capture]`
    pub capture: CaptureConfig,
    /// `[filter]`
    pub filter: FilterConfig,
    /// `[servers]`: named server groups, `name = ["cidr", ...]` or
    /// `name = { tunnel_id = N, cidrs = [...] }`.
    pub servers: BTreeMap<String, ServerGroup>,
    /// `[flows]`
    pub flows: FlowsConfig,
    /// `[tcp]`
    pub tcp: TcpConfig,
    /// `[protocols.*]`
    pub protocols: ProtocolsConfig,
    /// `[pipeline]`
    pub pipeline: PipelineConfig,
    /// `[decap]`
    pub decap: crate::dispatch::decap::DecapConfig,
    /// `[defrag]`
    pub defrag: crate::defrag::DefragConfig,
    /// `[output]`
    pub output: OutputConfig,
    /// `[monitor]`
    pub monitor: MonitorConfig,
    /// `[memcap]`: memory budgets per subsystem.
    pub memcap: MemcapConfig,
    /// `[report]`: the aggregator's interval and bounds.
    pub report: crate::aggregate::AggConfig,
    /// `[geoip]`: client locations.
    pub geoip: crate::geoip::GeoipConfig,
    /// `[ui]`: the live page.
    pub ui: crate::report::live::UiConfig,
    /// `[observer]`.
    pub observer: ObserverConfig,
}

/// Command-line values that override the file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--workers`
    pub workers: Option<usize>,
    /// `--server` (replaces `filter.server` when given)
    pub server: Vec<String>,
    /// `--exclude` (replaces `filter.exclude` when given)
    pub exclude: Vec<String>,
    /// `--tunnel-id` (replaces `filter.tunnel_id` when given)
    pub tunnel_id: Vec<u32>,
    /// `--bpf`
    pub bpf: Option<String>,
    /// `--output`
    pub output: Option<String>,
    /// `--es URL` (repeatable): Elasticsearch hosts; implies `-o elasticsearch`
    /// when no `--output` is given.
    pub es: Vec<String>,
    /// `--metrics ADDR`
    pub metrics: Option<String>,
    /// `--stats-interval`
    pub stats_interval: Option<HumanDuration>,
    /// `--log-level`
    pub log_level: Option<String>,
    /// `--log-format`
    pub log_format: Option<String>,
    /// `--log-file`
    pub log_file: Option<PathBuf>,
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// The settings as written, with overrides applied.
    pub raw: RawConfig,
    /// Include/exclude filter.
    pub filter: Filter,
    /// Server groups.
    pub groups: GroupMap,
    /// Port to protocol registry.
    pub registry: Registry,
    /// The open `[geoip]` database.
    pub geoip: Option<std::sync::Arc<crate::geoip::GeoIp>>,
    /// This sensor (`[observer]`, the host name by default).
    pub observer: crate::event::Observer,
}

impl RawConfig {
    /// Reads and parses a TOML file.
    pub fn load(path: &Path) -> Result<RawConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        RawConfig::parse(&text).map_err(|message| ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parses TOML text; the message names the offending key.
    pub fn parse(text: &str) -> Result<RawConfig, String> {
        toml::from_str(text).map_err(|e| {
            let msg = e.message().trim().to_string();
            match e.span() {
                Some(span) => {
                    let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
                    format!("line {line}: {msg}")
                }
                None => msg,
            }
        })
    }

    /// Applies command-line overrides.
    pub fn apply_overrides(&mut self, o: &Overrides) {
        if let Some(w) = o.workers {
            self.pipeline.workers = w;
        }
        if !o.server.is_empty() {
            self.filter.server = o.server.clone();
        }
        if !o.exclude.is_empty() {
            self.filter.exclude = o.exclude.clone();
        }
        if !o.tunnel_id.is_empty() {
            self.filter.tunnel_id = o.tunnel_id.clone();
        }
        if let Some(b) = &o.bpf {
            self.capture.bpf = Some(b.clone());
        }
        if let Some(out) = &o.output {
            self.output.path = out.clone();
        }
        if let Some(m) = &o.metrics {
            self.monitor.metrics = Some(m.clone());
        }
        if let Some(i) = o.stats_interval {
            self.monitor.stats_interval = i;
        }
        if let Some(l) = &o.log_level {
            self.monitor.log_level = l.clone();
        }
        if let Some(f) = &o.log_format {
            self.monitor.log_format = f.clone();
        }
        if let Some(f) = &o.log_file {
            self.monitor.log_file = Some(f.clone());
        }
        if !o.es.is_empty() {
            self.output
                .elasticsearch
                .get_or_insert_with(Default::default)
                .hosts = o.es.clone();
            if o.output.is_none() {
                self.output.path = "elasticsearch".into();
            }
        }
    }

    /// Checks every value and builds the typed settings.
    pub fn validate(self) -> Result<Config, ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            key: key.to_string(),
            message,
        };
        if self.pipeline.workers == 0 {
            return Err(invalid(
                "workers",
                "must be at least 1 (use about one worker per spare core)".into(),
            ));
        }
        if self.pipeline.workers > 256 {
            return Err(invalid("workers", "must be at most 256".into()));
        }
        if !["error", "warn", "info", "debug", "trace"].contains(&self.monitor.log_level.as_str()) {
            return Err(invalid(
                "monitor.log_level",
                format!(
                    "'{}' is not a level (use error, warn, info, debug or trace)",
                    self.monitor.log_level
                ),
            ));
        }
        if !["text", "json"].contains(&self.monitor.log_format.as_str()) {
            return Err(invalid(
                "monitor.log_format",
                format!(
                    "'{}' is not a format (use text or json)",
                    self.monitor.log_format
                ),
            ));
        }
        if let Some(m) = &self.monitor.metrics {
            if m.parse::<std::net::SocketAddr>().is_err() {
                return Err(invalid(
                    "monitor.metrics (--metrics)",
                    format!("'{m}' is not an address:port (write e.g. 127.0.0.1:9108)"),
                ));
            }
        }
        if self.pipeline.batch_packets == 0 {
            return Err(invalid(
                "pipeline.batch_packets",
                "must be at least 1".into(),
            ));
        }
        if self.pipeline.queue_batches == 0 {
            return Err(invalid(
                "pipeline.queue_batches",
                "must be at least 1".into(),
            ));
        }
        if self.pipeline.exporter_queue == 0 {
            return Err(invalid(
                "pipeline.exporter_queue",
                "must be at least 1".into(),
            ));
        }
        if self.flows.max_flows_per_worker < 16 {
            return Err(invalid(
                "flows.max_flows_per_worker",
                "must be at least 16".into(),
            ));
        }
        if self.flows.period.0.is_zero() {
            return Err(invalid("flows.period", "must be more than 0s".into()));
        }
        if self.tcp.max_holes == 0 {
            return Err(invalid("tcp.max_holes", "must be at least 1".into()));
        }
        if !(64..=262_144).contains(&self.capture.snaplen) {
            return Err(invalid(
                "capture.snaplen",
                "must be between 64 and 262144".into(),
            ));
        }
        let cidr = |key: &str, e: CidrError| invalid(key, e.to_string());
        let filter =
            Filter::new(&self.filter.server, &self.filter.exclude).map_err(|(which, e)| {
                cidr(
                    if which == 0 {
                        "filter.server (--server)"
                    } else {
                        "filter.exclude (--exclude)"
                    },
                    e,
                )
            })?;
        let mut groups = GroupMap::default();
        for (name, group) in &self.servers {
            if name.is_empty() {
                return Err(invalid("servers", "a group name must not be empty".into()));
            }
            let (tunnel, nets) = match group {
                ServerGroup::Cidrs(nets) => (None, nets),
                ServerGroup::InTunnel { tunnel_id, cidrs } => (Some(*tunnel_id), cidrs),
            };
            for n in nets {
                match tunnel {
                    Some(t) => groups.insert_in_tunnel(t, name, n),
                    None => groups.insert(name, n),
                }
                .map_err(|e| cidr(&format!("servers.{name}"), e))?;
            }
        }
        for r in [self.decap.validate(), self.defrag.validate()] {
            r.map_err(|(key, message)| ConfigError::Invalid { key, message })?;
        }
        if self.flows.tcp_analysis == Some(false) && self.flows.analysis != Analysis::Full {
            return Err(invalid(
                "flows.tcp_analysis",
                "is the deprecated spelling of flows.analysis; keep only flows.analysis".into(),
            ));
        }
        crate::proto::registry::validate(&self.protocols)
            .map_err(|(key, message)| ConfigError::Invalid { key, message })?;
        if let Some(es) = &self.output.elasticsearch {
            es.validate()
                .map_err(|(key, message)| ConfigError::Invalid { key, message })?;
        }
        let registry = Registry::new(self.protocols.clone()).map_err(|e| ConfigError::Invalid {
            key: "protocols".into(),
            message: e.to_string(),
        })?;
        let r = &self.report;
        if r.interval_secs == 0 || r.slowest > 1000 || r.top_entries == 0 {
            return Err(invalid(
                "report",
                "interval_secs and top_entries must be at least 1, slowest at most 1000".into(),
            ));
        }
        self.ui.check().map_err(|m| invalid("ui.listen", m))?;
        let geoip = match &self.geoip.database {
            Some(p) => Some(
                crate::geoip::GeoIp::open(p)
                    .map_err(|e| invalid("geoip.database", e.to_string()))?,
            ),
            None => None,
        };
        if let Some(n) = &self.observer.name {
            if n.trim().is_empty() || n.len() > 256 || n.chars().any(char::is_control) {
                return Err(invalid(
                    "observer.name",
                    "must be 1 to 256 printable characters (or leave it out for the host name)"
                        .into(),
                ));
            }
        }
        let observer = crate::event::Observer::new(self.observer.name.as_deref());
        Ok(Config {
            raw: self,
            filter,
            groups,
            registry,
            geoip,
            observer,
        })
    }
}

impl Config {
    /// Defaults, as with no config file.
    pub fn default_validated() -> Config {
        RawConfig::default().validate().expect("defaults are valid")
    }

    /// The effective settings as TOML (for `check-config`), with secrets
    /// (Elasticsearch password and API key) replaced by `<redacted>`.
    pub fn to_toml(&self) -> String {
        let mut shown = self.raw.clone();
        if let Some(es) = shown.output.elasticsearch.as_mut() {
            for secret in [&mut es.password, &mut es.api_key] {
                if secret.is_some() {
                    *secret = Some("<redacted>".into());
                }
            }
        }
        toml::to_string_pretty(&shown).unwrap_or_else(|e| format!("# cannot print: {e}\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_is_named() {
        let e = RawConfig::parse("[flows]\ntcp_timout = \"5s\"\n").unwrap_err();
        assert!(e.contains("tcp_timout"), "{e}");
        assert!(e.starts_with("line 2"), "{e}");
    }

    #[test]
    fn unknown_protocol_key_is_named() {
        let e = RawConfig::parse("[protocols.http]\nportz = [80]\n").unwrap_err();
        assert!(e.contains("portz"), "{e}");
    }

    #[test]
    fn bad_value_type_is_named() {
        let e = RawConfig::parse("[pipeline]\nworkers = \"two\"\n").unwrap_err();
        assert!(e.contains("line 2"), "{e}");
    }

    #[test]
    fn zero_workers_is_rejected() {
        let mut r = RawConfig::default();
        r.apply_overrides(&Overrides {
            workers: Some(0),
            ..Default::default()
        });
        let e = r.validate().unwrap_err().to_string();
        assert!(e.contains("workers"), "{e}");
    }

    #[test]
    fn port_conflict_is_rejected() {
        let r = RawConfig::parse("[protocols.http]\nports = [80, 6379]\n").unwrap();
        let e = r.validate().unwrap_err().to_string();
        assert!(e.contains("6379"), "{e}");
    }

    #[test]
    fn bad_cidr_names_the_group() {
        let r = RawConfig::parse("[servers]\nweb = [\"10.0.0.0/33\"]\n").unwrap();
        let e = r.validate().unwrap_err().to_string();
        assert!(e.contains("servers.web"), "{e}");
        assert!(e.contains("10.0.0.0/33"), "{e}");
    }

    #[test]
    fn cli_overrides_file() {
        let mut r =
            RawConfig::parse("[pipeline]\nworkers = 4\n[filter]\nserver = [\"10.0.0.1\"]\n")
                .unwrap();
        r.apply_overrides(&Overrides {
            workers: Some(1),
            server: vec!["192.168.0.0/16".into()],
            ..Default::default()
        });
        assert_eq!(r.pipeline.workers, 1);
        assert_eq!(r.filter.server, vec!["192.168.0.0/16".to_string()]);
    }

    #[test]
    fn elasticsearch_section_is_validated_and_es_flag_selects_it() {
        let r = RawConfig::parse("[output.elasticsearch]\nbulk_max_docs = 0\n").unwrap();
        let e = r.validate().unwrap_err().to_string();
        assert!(e.contains("output.elasticsearch.bulk_max_docs"), "{e}");
        let mut r = RawConfig::default();
        r.apply_overrides(&Overrides {
            es: vec!["http://127.0.0.1:9250".into()],
            ..Default::default()
        });
        assert_eq!(r.output.path, "elasticsearch");
        let es = r.output.elasticsearch.as_ref().unwrap();
        assert_eq!(es.hosts, vec!["http://127.0.0.1:9250".to_string()]);
        let c = r.clone().validate().unwrap();
        assert_eq!(RawConfig::parse(&c.to_toml()).unwrap(), r);
    }

    #[test]
    fn check_config_never_prints_secrets() {
        let r = RawConfig::parse(
            "[output.elasticsearch]\nhosts = [\"http://127.0.0.1:9200\"]\nusername = \"u\"\npassword = \"hunter2\"\n",
        )
        .unwrap();
        let text = r.validate().unwrap().to_toml();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("<redacted>"), "{text}");
    }

    #[test]
    fn tenant_groups_decap_and_defrag_sections() {
        let r = RawConfig::parse(
            "[servers]\nweb = [\"10.0.0.0/24\"]\ntenant_a = { tunnel_id = 42, cidrs = [\"10.0.0.0/24\"] }\n\
             [decap]\nvxlan_ports = [4789, 8472]\nteredo = false\n[defrag]\ntimeout = \"10s\"\n",
        )
        .unwrap();
        let c = r.clone().validate().unwrap();
        let ip = "10.0.0.1".parse().unwrap();
        assert_eq!(
            c.groups.lookup_in_tunnel(ip, Some(42)).as_deref(),
            Some("tenant_a")
        );
        assert_eq!(
            c.groups.lookup_in_tunnel(ip, Some(7)).as_deref(),
            Some("web")
        );
        assert_eq!(r.decap.vxlan_ports, vec![4789, 8472]);
        assert!(!r.decap.teredo);
        assert_eq!(RawConfig::parse(&c.to_toml()).unwrap(), r);
        let bad = RawConfig::parse("[decap]\ngeneve_ports = [4789]\n").unwrap();
        let e = bad.validate().unwrap_err().to_string();
        assert!(
            e.contains("decap.geneve_ports") && e.contains("4789"),
            "{e}"
        );
        let bad = RawConfig::parse("[defrag]\nmax_bytes = 10\n").unwrap();
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("defrag.max_bytes"));
        let e = RawConfig::parse("[decap]\nvxlan_port = [1]\n").unwrap_err();
        assert!(e.contains("vxlan_port"), "{e}");
    }

    #[test]
    fn analysis_levels_and_the_deprecated_alias() {
        let level = |t: &str| RawConfig::parse(t).unwrap().flows.level();
        assert_eq!(level(""), Analysis::Full);
        assert_eq!(level("[flows]\nanalysis = \"tcp\"\n"), Analysis::Tcp);
        assert_eq!(level("[flows]\nanalysis = \"flows\"\n"), Analysis::Flows);
        assert_eq!(level("[flows]\ntcp_analysis = false\n"), Analysis::Flows);
        assert_eq!(level("[flows]\ntcp_analysis = true\n"), Analysis::Full);
        let e = RawConfig::parse("[flows]\nanalysis = \"some\"\n").unwrap_err();
        assert!(e.contains("flows") || e.contains("full"), "{e}");
        let both = RawConfig::parse("[flows]\ntcp_analysis = false\nanalysis = \"tcp\"\n");
        let e = both.unwrap().validate().unwrap_err().to_string();
        assert!(e.contains("flows.tcp_analysis"), "{e}");
    }

    #[test]
    fn effective_settings_round_trip() {
        let r = RawConfig::parse("[servers]\nweb = [\"10.0.0.0/24\"]\n[flows]\nperiod = \"30s\"\n")
            .unwrap();
        let c = r.clone().validate().unwrap();
        let again = RawConfig::parse(&c.to_toml()).unwrap();
        assert_eq!(again, r);
    }
}
