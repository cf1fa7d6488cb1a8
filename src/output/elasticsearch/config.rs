//! `[output.elasticsearch]`: the settings of the Elasticsearch output, as
//! written in the TOML file, and their validation.
//!
//! Validation turns the raw strings (host URLs, the index pattern) into
//! checked values once, so the sender never meets a malformed host or
//! pattern at run time. It does not contact the cluster.

use super::encoder::IndexPattern;
use crate::time::HumanDuration;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The default index pattern: one index per day of event time.
pub const DEFAULT_INDEX: &str = "spanlens-%{+yyyy.MM.dd}";

/// `[output.elasticsearch]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ElasticsearchConfig {
    /// Node URLs (`http://host:9200`, `https://host:9200/prefix`); requests
    /// go round-robin with failover. `--es URL` (repeatable) replaces them.
    pub hosts: Vec<String>,
    /// Index name pattern; `%{+yyyy.MM.dd}` is replaced from each event's own
    /// time (UTC). Tokens: `yyyy`, `yy`, `MM`, `dd`, `HH`.
    pub index: String,
    /// Basic authentication user (with `password`).
    pub username: Option<String>,
    /// Basic authentication password.
    pub password: Option<String>,
    /// API key, the base64 `id:key` form sent as `Authorization: ApiKey ...`.
    pub api_key: Option<String>,
    /// PEM file of the certificate authorities to trust for `https` hosts
    /// (default: the bundled web PKI roots).
    pub ca_file: Option<PathBuf>,
    /// Verify server certificates (`false` logs a warning at start).
    pub ssl_verification: bool,
    /// Documents per bulk request at most.
    pub bulk_max_docs: usize,
    /// Uncompressed bytes per bulk request at most.
    pub bulk_max_bytes: usize,
    /// A partly filled bulk request is sent after this wall time.
    pub flush_interval: HumanDuration,
    /// Bulk requests in flight at once (1 sends one at a time). Each is
    /// its own keep-alive connection, driven by a small pool of sender
    /// threads; the node indexes them in parallel on its write threads.
    pub max_in_flight: usize,
    /// Gzip request bodies.
    pub compression: bool,
    /// Gzip level 1 (fast) ..= 9 (small).
    pub compression_level: u32,
    /// Attempts after the first for a failed request or a retryable
    /// document before its batch goes to the spool.
    pub max_retries: u32,
    /// First retry delay; doubles per attempt, with jitter.
    pub backoff_init: HumanDuration,
    /// Longest retry delay, also the pause between probes while the cluster is down.
    pub backoff_max: HumanDuration,
    /// Connect timeout per attempt.
    pub connect_timeout: HumanDuration,
    /// Whole-request timeout per attempt (send and receive).
    pub timeout: HumanDuration,
    /// Bytes of encoded requests held in memory before spilling to the spool.
    pub queue_max_bytes: usize,
    /// Directory of the on-disk spool. Unset: `<state dir>/spool` (see
    /// [`default_state_dir`]); `""` turns the spool off (what exceeds the
    /// memory queue, or is undelivered at the end, is then lost and counted).
    pub spool_dir: Option<PathBuf>,
    /// Bytes the spool may hold; at the bound the oldest entries are
    /// dropped to make room, and counted (`output.es.dropped_spool_bound`).
    pub spool_max_bytes: u64,
    /// NDJSON file for documents Elasticsearch rejected for good (mapping
    /// or parsing errors), one line per document with the reason. Unset:
    /// `<state dir>/dead-letter.ndjson`; `""` keeps no file (such documents
    /// are then lost and counted).
    pub dead_letter: Option<PathBuf>,
    /// On shutdown, how long to try to deliver what is queued before spooling it.
    pub close_timeout: HumanDuration,
    /// Install (or update) the index template at start.
    pub template: bool,
    /// Name of the index template.
    pub template_name: String,
    /// `index.number_of_shards` in the template.
    pub shards: u32,
    /// `index.number_of_replicas` in the template (0 on a single node).
    pub replicas: u32,
    /// `index.refresh_interval` in the template (`"30s"`, `"-1"` for none);
    /// unset leaves the cluster's default (1 s, or on demand for an index
    /// nobody searches). A longer interval makes indexing cheaper and
    /// events searchable later.
    pub refresh_interval: Option<String>,
    /// Also index the aggregator's per-interval summaries (per interval,
    /// server group, server and protocol: counts, errors, bytes, the latency
    /// histogram, and the whole mergeable record) into `summaries_index`.
    pub summaries: bool,
    /// Index name pattern of the summaries (times: the interval's start).
    pub summaries_index: String,
    /// Share of OK transactions faster than `sample_slow` whose events are
    /// kept (1 keeps all); errors and slow ones are always kept, and the
    /// summaries count what was left out. Applies to every output.
    pub sample_ok: f64,
    /// Transactions at least this long are always kept when sampling.
    pub sample_slow: HumanDuration,
}

/// The default index pattern of summaries.
pub const DEFAULT_SUMMARIES_INDEX: &str = "spanlens-summary-%{+yyyy.MM.dd}";

impl Default for ElasticsearchConfig {
    fn default() -> Self {
        ElasticsearchConfig {
            hosts: vec!["http://127.0.0.1:9200".into()],
            index: DEFAULT_INDEX.into(),
            username: None,
            password: None,
            api_key: None,
            ca_file: None,
            ssl_verification: true,
            bulk_max_docs: 2000,
            bulk_max_bytes: 5 << 20,
            flush_interval: HumanDuration::secs(1),
            max_in_flight: 2,
            compression: true,
            compression_level: 1,
            max_retries: 3,
            backoff_init: HumanDuration::millis(250),
            backoff_max: HumanDuration::secs(10),
            connect_timeout: HumanDuration::secs(5),
            timeout: HumanDuration::secs(20),
            queue_max_bytes: 64 << 20,
            spool_dir: None,
            spool_max_bytes: 1 << 30,
            dead_letter: None,
            close_timeout: HumanDuration::secs(60),
            template: true,
            template_name: "spanlens".into(),
            shards: 1,
            replicas: 1,
            refresh_interval: None,
            summaries: false,
            summaries_index: DEFAULT_SUMMARIES_INDEX.into(),
            sample_ok: 1.0,
            sample_slow: HumanDuration::millis(500),
        }
    }
}

/// Most bulk requests in flight (`max_in_flight`): each is one connection and
/// one sender thread.
pub const MAX_IN_FLIGHT: usize = 16;

/// An Elasticsearch time value for `refresh_interval`: `-1`, or digits and
/// a unit (`ms`, `s`, `m`, `h`, `d`).
fn valid_interval(s: &str) -> bool {
    if s == "-1" {
        return true;
    }
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && matches!(&s[digits..], "ms" | "s" | "m" | "h" | "d")
}

/// Where spanlens keeps its state (spool, dead letters) when the config
/// names no path: `$STATE_DIRECTORY` (set by systemd's `StateDirectory=`,
/// first entry), else `/var/lib/spanlens` for root, else
/// `$XDG_STATE_HOME/spanlens`, else `~/.local/state/spanlens`, else
/// `./spanlens-state`. The same rule serves live capture, replay and
/// `spanlens spool`, so they all find the same spool.
pub fn default_state_dir() -> PathBuf {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if let Some(d) = env("STATE_DIRECTORY") {
        let first = d
            .to_string_lossy()
            .split(':')
            .next()
            .unwrap_or("")
            .to_string();
        if !first.is_empty() {
            return PathBuf::from(first);
        }
    }
    if rustix::process::geteuid().is_root() {
        return PathBuf::from("/var/lib/spanlens");
    }
    if let Some(x) = env("XDG_STATE_HOME") {
        return PathBuf::from(x).join("spanlens");
    }
    if let Some(h) = env("HOME") {
        return PathBuf::from(h).join(".local/state/spanlens");
    }
    PathBuf::from("spanlens-state")
}

fn resolve(p: &Option<PathBuf>, default: &str) -> Option<PathBuf> {
    match p {
        None => Some(default_state_dir().join(default)),
        Some(p) if p.as_os_str().is_empty() => None,
        Some(p) => Some(p.clone()),
    }
}

impl ElasticsearchConfig {
    /// The spool directory in effect (`None`: turned off with `spool_dir = ""`).
    pub fn spool_path(&self) -> Option<PathBuf> {
        resolve(&self.spool_dir, "spool")
    }

    /// The dead-letter file in effect (`None`: turned off with `dead_letter = ""`).
    pub fn dead_letter_path(&self) -> Option<PathBuf> {
        resolve(&self.dead_letter, "dead-letter.ndjson")
    }
}

/// A node URL, checked and split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostUrl {
    /// `http://host:port/prefix` without a trailing slash; request paths are appended.
    pub base: String,
    /// True for `https`.
    pub tls: bool,
}

impl HostUrl {
    /// Parses `http://host[:port][/prefix]`, `https://...`, or a bare
    /// `host[:port]` (http, port 9200).
    pub fn parse(s: &str) -> Result<HostUrl, String> {
        let s = s.trim();
        let (scheme, rest) = match s.split_once("://") {
            Some((sc, r)) => (sc.to_ascii_lowercase(), r),
            None => ("http".to_string(), s),
        };
        let tls = match scheme.as_str() {
            "http" => false,
            "https" => true,
            other => return Err(format!("'{s}': scheme '{other}' is not http or https")),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        if authority.is_empty() {
            return Err(format!("'{s}' names no host"));
        }
        if authority.contains('@') {
            return Err(format!(
                "'{s}': put credentials in username/password or api_key, not in the URL"
            ));
        }
        let has_port = match authority.rfind(':') {
            // `[::1]` alone has colons but no port after the bracket.
            Some(i) => !authority.ends_with(']') && i > authority.rfind(']').unwrap_or(0),
            None => false,
        };
        if has_port {
            let port = authority.rsplit(':').next().unwrap_or("");
            if port.parse::<u16>().map(|p| p == 0).unwrap_or(true) {
                return Err(format!("'{s}': '{port}' is not a port"));
            }
        }
        let authority = if has_port {
            authority.to_string()
        } else {
            format!("{authority}:9200")
        };
        let path = path.trim_end_matches('/');
        Ok(HostUrl {
            base: format!("{scheme}://{authority}{path}"),
            tls,
        })
    }
}

/// Settings after validation.
#[derive(Debug, Clone)]
pub struct ValidConfig {
    /// The settings as written.
    pub raw: ElasticsearchConfig,
    /// The hosts, parsed.
    pub hosts: Vec<HostUrl>,
    /// The index pattern, parsed.
    pub index: IndexPattern,
}

impl ElasticsearchConfig {
    /// The sampling policy, when `sample_ok` is below 1.
    pub fn sampling(&self) -> Option<crate::event::Sampling> {
        (self.sample_ok < 1.0).then(|| crate::event::Sampling {
            keep: self.sample_ok,
            slow_ns: self.sample_slow.nanos(),
        })
    }
}

impl ElasticsearchConfig {
    /// Checks every value; the error names the key (`output.elasticsearch.<key>`)
    /// and what to do.
    pub fn validate(&self) -> Result<ValidConfig, (String, String)> {
        let key = |k: &str| format!("output.elasticsearch.{k}");
        if self.hosts.is_empty() {
            return Err((
                key("hosts"),
                "name at least one node URL (or --es URL)".into(),
            ));
        }
        let hosts = self
            .hosts
            .iter()
            .map(|h| HostUrl::parse(h))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|m| (key("hosts"), m))?;
        let index = IndexPattern::parse(&self.index).map_err(|m| (key("index"), m))?;
        if self.username.is_some() != self.password.is_some() {
            return Err((key("username"), "username and password go together".into()));
        }
        if self.username.is_some() && self.api_key.is_some() {
            return Err((
                key("api_key"),
                "use either api_key or username/password, not both".into(),
            ));
        }
        if self.bulk_max_docs == 0 {
            return Err((key("bulk_max_docs"), "must be at least 1".into()));
        }
        if self.bulk_max_bytes < 1024 {
            return Err((key("bulk_max_bytes"), "must be at least 1024".into()));
        }
        if self.queue_max_bytes < self.bulk_max_bytes {
            return Err((
                key("queue_max_bytes"),
                "must be at least bulk_max_bytes".into(),
            ));
        }
        if !(1..=MAX_IN_FLIGHT).contains(&self.max_in_flight) {
            return Err((
                key("max_in_flight"),
                format!("must be 1 to {MAX_IN_FLIGHT}"),
            ));
        }
        if let Some(r) = &self.refresh_interval {
            if !valid_interval(r) {
                return Err((
                    key("refresh_interval"),
                    format!("'{r}' is not an interval: use e.g. \"1s\", \"30s\", \"500ms\" or \"-1\" (no refresh)"),
                ));
            }
        }
        if !(1..=9).contains(&self.compression_level) {
            return Err((key("compression_level"), "must be 1 to 9".into()));
        }
        if self.backoff_init.0.is_zero() || self.backoff_max < self.backoff_init {
            return Err((
                key("backoff_init"),
                "must be more than 0s and at most backoff_max".into(),
            ));
        }
        if self.timeout.0.is_zero() || self.connect_timeout.0.is_zero() {
            return Err((key("timeout"), "timeouts must be more than 0s".into()));
        }
        if self.flush_interval.0.is_zero() {
            return Err((key("flush_interval"), "must be more than 0s".into()));
        }
        if self.template_name.is_empty() || self.template_name.contains(['/', ' ', '*', '?']) {
            return Err((key("template_name"), "must be a plain name".into()));
        }
        if self.shards == 0 {
            return Err((key("shards"), "must be at least 1".into()));
        }
        if !(0.0..=1.0).contains(&self.sample_ok) {
            return Err((
                key("sample_ok"),
                format!(
                    "{} is not a share: use 0 to 1 (0.1 keeps 10%)",
                    self.sample_ok
                ),
            ));
        }
        let summaries_index =
            IndexPattern::parse(&self.summaries_index).map_err(|m| (key("summaries_index"), m))?;
        if self.summaries && summaries_index.wildcard() == index.wildcard() {
            return Err((
                key("summaries_index"),
                "must differ from the events' index pattern (the mappings differ)".into(),
            ));
        }
        Ok(ValidConfig {
            raw: self.clone(),
            hosts,
            index,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_urls_are_normalised() {
        let h = HostUrl::parse("http://127.0.0.1:9250/").unwrap();
        assert_eq!(h.base, "http://127.0.0.1:9250");
        assert!(!h.tls);
        let h = HostUrl::parse("es1.example").unwrap();
        assert_eq!(h.base, "http://es1.example:9200");
        let h = HostUrl::parse("HTTPS://es:443/proxy/es/").unwrap();
        assert_eq!(h.base, "https://es:443/proxy/es");
        assert!(h.tls);
        let h = HostUrl::parse("http://[::1]").unwrap();
        assert_eq!(h.base, "http://[::1]:9200");
        let h = HostUrl::parse("http://[::1]:9201").unwrap();
        assert_eq!(h.base, "http://[::1]:9201");
    }

    #[test]
    fn bad_host_urls_are_named() {
        for bad in [
            "ftp://x",
            "http://",
            "http://u:p@h:9200",
            "http://h:0",
            "http://h:99999",
        ] {
            let e = HostUrl::parse(bad).unwrap_err();
            assert!(e.contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn defaults_validate() {
        let v = ElasticsearchConfig::default().validate().unwrap();
        assert_eq!(v.hosts.len(), 1);
    }

    #[test]
    fn bad_values_name_their_key() {
        let mut c = ElasticsearchConfig {
            bulk_max_docs: 0,
            ..Default::default()
        };
        assert_eq!(
            c.validate().unwrap_err().0,
            "output.elasticsearch.bulk_max_docs"
        );
        c.bulk_max_docs = 10;
        c.username = Some("u".into());
        assert_eq!(c.validate().unwrap_err().0, "output.elasticsearch.username");
        c.password = Some("p".into());
        c.index = "Spanlens-%{+yyyy}".into();
        assert_eq!(c.validate().unwrap_err().0, "output.elasticsearch.index");
    }

    #[test]
    fn in_flight_and_refresh_interval_are_checked() {
        let ok: ElasticsearchConfig =
            toml::from_str("max_in_flight = 4\nrefresh_interval = \"30s\"\n").unwrap();
        assert!(ok.validate().is_ok());
        for (toml_text, key) in [
            ("max_in_flight = 0\n", "max_in_flight"),
            ("max_in_flight = 17\n", "max_in_flight"),
            ("refresh_interval = \"30\"\n", "refresh_interval"),
            ("refresh_interval = \"s\"\n", "refresh_interval"),
            ("refresh_interval = \"-2\"\n", "refresh_interval"),
        ] {
            let c: ElasticsearchConfig = toml::from_str(toml_text).unwrap();
            assert_eq!(
                c.validate().unwrap_err().0,
                format!("output.elasticsearch.{key}"),
                "{toml_text}"
            );
        }
        for good in ["-1", "1s", "500ms", "2m"] {
            assert!(valid_interval(good), "{good}");
        }
    }

    #[test]
    fn spool_and_dead_letter_default_on_and_empty_turns_them_off() {
        let c = ElasticsearchConfig::default();
        let state = default_state_dir();
        assert_eq!(c.spool_path(), Some(state.join("spool")));
        assert_eq!(c.dead_letter_path(), Some(state.join("dead-letter.ndjson")));
        let off: ElasticsearchConfig =
            toml::from_str("spool_dir = \"\"\ndead_letter = \"\"\n").unwrap();
        assert_eq!((off.spool_path(), off.dead_letter_path()), (None, None));
        let set: ElasticsearchConfig = toml::from_str("spool_dir = \"/x/s\"\n").unwrap();
        assert_eq!(set.spool_path(), Some(PathBuf::from("/x/s")));
    }

    #[test]
    fn toml_section_parses() {
        let c: ElasticsearchConfig = toml::from_str(
            "hosts = [\"http://a:9200\", \"http://b:9200\"]\nbulk_max_docs = 10\nflush_interval = \"200ms\"\nspool_dir = \"/tmp/x\"\n",
        )
        .unwrap();
        assert_eq!(c.hosts.len(), 2);
        assert_eq!(c.bulk_max_docs, 10);
        assert_eq!(c.flush_interval, HumanDuration::millis(200));
        assert!(toml::from_str::<ElasticsearchConfig>("bulk_max_doc = 1\n").is_err());
    }
}
