//! Command-line definitions (clap). Raw arguments only: validation and
//! merging with the config file happen in `config`.

use crate::time::HumanDuration;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

fn parse_duration(s: &str) -> Result<HumanDuration, String> {
    crate::time::duration::parse(s).map(HumanDuration)
}

/// spanlens: protocol transactions and TCP network metrics from a mirror port.
#[derive(Debug, Parser)]
#[command(name = "spanlens", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read pcap/pcapng files (in the order given) as fast as the CPU allows.
    Replay(ReplayArgs),
    /// Capture from a network interface until SIGINT or SIGTERM.
    Live(LiveArgs),
    /// Validate a config file and print the effective settings.
    CheckConfig {
        /// The TOML file.
        file: PathBuf,
    },
    /// The Elasticsearch output's on-disk spool (same config as the run).
    Spool(SpoolArgs),
    /// Build the HTML report from NDJSON event files (what `replay` and
    /// `live` write).
    Report(ReportArgs),
    /// Read a capture interface's and the host's settings and print what to
    /// change and why (read-only: changes nothing).
    Doctor {
        /// Interface to inspect.
        #[arg(short = 'i', long = "interface", value_name = "IFACE")]
        interface: String,
    },
}

/// Options shared by `replay` and `live`.
#[derive(Debug, Args, Clone, Default)]
pub struct CommonArgs {
    /// TOML config file.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Worker threads (default 2, or the config's pipeline.workers).
    #[arg(short = 'w', long = "workers", value_name = "N")]
    pub workers: Option<usize>,
    /// Analyse only traffic to or from this address or CIDR (repeatable).
    #[arg(long = "server", value_name = "CIDR")]
    pub server: Vec<String>,
    /// Never analyse traffic to or from this address or CIDR (repeatable).
    #[arg(long = "exclude", value_name = "CIDR")]
    pub exclude: Vec<String>,
    /// Analyse only packets from this tunnel (VXLAN/GENEVE VNI, ERSPAN
    /// session id, GRE key; repeatable).
    #[arg(long = "tunnel-id", value_name = "ID")]
    pub tunnel_id: Vec<u32>,
    /// A BPF filter expression applied by libpcap.
    #[arg(long = "bpf", value_name = "EXPR")]
    pub bpf: Option<String>,
    /// Where events go: `-` (NDJSON on stdout, the default), an NDJSON file
    /// path, or `elasticsearch` (see `--es` and `[output.elasticsearch]`).
    #[arg(short = 'o', long = "output", value_name = "PATH")]
    pub output: Option<String>,
    /// Elasticsearch node URL (repeatable); implies `-o elasticsearch`.
    #[arg(long = "es", value_name = "URL")]
    pub es: Vec<String>,
    /// Write the final counters as one JSON object to this file.
    #[arg(long = "stats-json", value_name = "FILE")]
    pub stats_json: Option<PathBuf>,
    /// Serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9108).
    #[arg(long = "metrics", value_name = "ADDR")]
    pub metrics: Option<String>,
    /// Live: interval of the stats line in the log, e.g. 10s (0s = off).
    #[arg(long = "stats-interval", value_name = "DURATION", value_parser = parse_duration)]
    pub stats_interval: Option<HumanDuration>,
    /// Log level: error, warn, info, debug, trace.
    #[arg(long = "log-level", value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Log format: text or json.
    #[arg(long = "log-format", value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// Log to this file instead of stderr (reopened on SIGHUP).
    #[arg(long = "log-file", value_name = "FILE")]
    pub log_file: Option<PathBuf>,
    /// Do not print the summary on stderr.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Also write the HTML report of the run to this file at the end.
    #[arg(long = "report", value_name = "FILE")]
    pub report: Option<PathBuf>,
}

/// `spanlens report`
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The HTML file to write.
    #[arg(
        short = 'o',
        long = "output",
        value_name = "FILE",
        default_value = "report.html"
    )]
    pub output: PathBuf,
    /// TOML config file (its `[report]` bounds apply).
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// A `--stats-json` file of the run, for the sensor health panel.
    #[arg(long = "stats", value_name = "FILE")]
    pub stats: Option<PathBuf>,
    /// NDJSON event files (or --es).
    #[arg(value_name = "EVENTS")]
    pub files: Vec<PathBuf>,
    /// Build the report from this Elasticsearch cluster instead (node URL,
    /// repeatable; other settings from the config's `[output.elasticsearch]`).
    #[arg(long = "es", value_name = "URL")]
    pub es: Vec<String>,
    /// Events index (pattern like `spanlens-%{+yyyy.MM.dd}` or `spanlens-*`;
    /// default: the config's `index`).
    #[arg(long = "index", value_name = "PATTERN")]
    pub index: Option<String>,
    /// Summaries index (default: the config's `summaries_index`).
    #[arg(long = "summaries-index", value_name = "PATTERN")]
    pub summaries_index: Option<String>,
    /// From this time (RFC 3339, e.g. 2024-05-01T00:00:00Z, or Unix seconds).
    #[arg(long = "from", value_name = "T")]
    pub from: Option<String>,
    /// Up to this time (exclusive).
    #[arg(long = "to", value_name = "T")]
    pub to: Option<String>,
    /// Only this sensor (`observer.name`; repeatable; default all).
    #[arg(long = "sensor", value_name = "NAME")]
    pub sensor: Vec<String>,
    /// Interval of the report in seconds (a multiple of the sensors'
    /// `[report] interval_secs`; coarser intervals make a long window's
    /// report smaller and lighter). Default: the config's.
    #[arg(long = "interval", value_name = "SECS")]
    pub interval: Option<u64>,
    /// `auto` (summaries when there are any, else events), `summaries` or `events`.
    #[arg(long = "source", value_name = "FROM", default_value = "auto")]
    pub source: String,
}

/// `spanlens spool`
#[derive(Debug, Args)]
pub struct SpoolArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: SpoolAction,
    /// TOML config file (the one the run uses).
    #[arg(short = 'c', long = "config", value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// Elasticsearch node URL (repeatable), as for `replay`/`live`.
    #[arg(long = "es", value_name = "URL", global = true)]
    pub es: Vec<String>,
}

/// `spanlens spool status|drain`
#[derive(Debug, Subcommand)]
pub enum SpoolAction {
    /// What is spooled: documents, bytes, age, for which cluster.
    Status,
    /// Deliver the spool now and exit; exit status 1 when something remains.
    Drain,
}

/// `spanlens replay`
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Shared options.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Pace packets by their capture timestamps (optionally SPEED times faster).
    #[arg(long = "realtime", value_name = "SPEED", num_args = 0..=1, default_missing_value = "1")]
    pub realtime: Option<f64>,
    /// Never show the progress bar.
    #[arg(long = "no-progress")]
    pub no_progress: bool,
    /// Capture files (pcap or pcapng; FIFOs too); `-` reads standard input
    /// (as `tcpdump -r -`).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// `spanlens live`
#[derive(Debug, Args)]
pub struct LiveArgs {
    /// Shared options.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Interface to capture on.
    #[arg(short = 'i', long = "interface", value_name = "IFACE")]
    pub interface: String,
    /// Bytes captured per packet.
    #[arg(long = "snaplen", value_name = "BYTES")]
    pub snaplen: Option<i32>,
    /// Kernel capture buffer in MiB.
    #[arg(long = "buffer-mb", value_name = "MIB")]
    pub buffer_mb: Option<u32>,
    /// Do not put the interface in promiscuous mode.
    #[arg(long = "no-promisc")]
    pub no_promisc: bool,
    /// Deliver packets immediately instead of in kernel batches.
    #[arg(long = "immediate")]
    pub immediate: bool,
    /// Serve the live page at http://ADDR/ (e.g. 127.0.0.1:9900; also `[ui] listen`).
    #[arg(long = "ui", value_name = "ADDR")]
    pub ui: Option<String>,
}
