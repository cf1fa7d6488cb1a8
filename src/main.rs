//! The `spanlens` binary: parse arguments, load the config, run, and turn
//! any error into one line on stderr with a non-zero exit.

use anyhow::{bail, Context, Result};
use clap::Parser;
use spanlens::capture::{check_bpf, LiveOptions, Source};
use spanlens::cli::{Cli, Command, CommonArgs};
use spanlens::config::{Config, Overrides, RawConfig};
use spanlens::output::elasticsearch::ElasticsearchOutput;
use spanlens::output::ndjson::NdjsonOutput;
use spanlens::output::{Output, Tee};
use spanlens::pipeline::{run, RunOptions, RunSummary};
use spanlens::stats::Registry;
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Opts the process out of transparent huge pages. mimalloc asks for them,
/// and every thread's first allocation of a size class then faults in and
/// zeroes a whole 2 MiB page: on a 2-core VM that was 40% of a short
/// replay's time and 25 MiB of its peak RSS (38 MiB against 13 MiB on
/// `http_wrk_small.pcap`), with no throughput gain on long replays
/// (README, Performance). Failure only keeps the kernel's default.
fn no_transparent_huge_pages() {
    // SAFETY: PR_SET_THP_DISABLE takes plain integer arguments and only
    // sets a flag on this process.
    let _ = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
}

fn main() -> ExitCode {
    no_transparent_huge_pages();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            let msg = format!("{e:#}");
            eprintln!("spanlens: error: {}", msg.replace('\n', " "));
            ExitCode::from(1)
        }
    }
}

fn dispatch(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::CheckConfig { file } => {
            let cfg = load_config(Some(&file), &CommonArgs::default())?;
            if let Some(bpf) = &cfg.raw.capture.bpf {
                check_bpf(bpf)?;
            }
            print!("{}", cfg.to_toml());
            eprintln!("spanlens: {} is valid", file.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Spool(args) => spool(args),
        Command::Report(args) => {
            let raw = match &args.config {
                Some(p) => RawConfig::load(p)?,
                None => RawConfig::default(),
            };
            let cfg = raw.validate()?;
            spanlens::report::assets_available()?;
            if !args.es.is_empty() {
                return report_from_es(&args, &cfg);
            }
            if args.files.is_empty() {
                bail!(
                    "name NDJSON event files, or --es URL to build the report from Elasticsearch"
                );
            }
            let agg = spanlens::report::read_ndjson(&args.files, cfg.raw.report)?;
            let sensor = match &args.stats {
                Some(p) => Some(read_stats_json(p)?),
                None => None,
            };
            let sources: Vec<String> = args.files.iter().map(|p| p.display().to_string()).collect();
            let size =
                spanlens::report::write_report(&args.output, &agg, sensor.as_ref(), &sources)?;
            eprintln!(
                "spanlens: wrote {} ({} transactions, {} bytes{})",
                args.output.display(),
                agg.requests(),
                size,
                if agg.bounds.bad_lines > 0 {
                    format!(
                        ", {} lines that are not events skipped",
                        agg.bounds.bad_lines
                    )
                } else {
                    String::new()
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Doctor { interface } => {
            let stdout = std::io::stdout();
            spanlens::doctor::run(&interface, &mut stdout.lock())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Replay(args) => {
            let cfg = load_config(args.common.config.as_deref(), &args.common)?;
            if let Some(s) = args.realtime {
                if !(s.is_finite() && s > 0.0) {
                    bail!("--realtime speed must be a positive number, got {s}");
                }
            }
            let mut source = Source::files(&args.files, cfg.raw.capture.bpf.clone())?;
            let opts = RunOptions {
                realtime: args.realtime,
                progress: !args.no_progress && std::io::stderr().is_terminal(),
                stop: stop_flag()?,
                live: false,
                aggregate: None,
            };
            let sources = args.files.iter().map(|p| p.display().to_string()).collect();
            execute(cfg, &mut source, opts, &args.common, sources)
        }
        Command::Live(args) => {
            if args.interface.trim().is_empty() {
                bail!("no capture interface given: pass -i IFACE (under systemd, set SPANLENS_INTERFACE=<mirror port> in /etc/default/spanlens)");
            }
            let mut cfg = load_config(args.common.config.as_deref(), &args.common)?;
            if let Some(ui) = &args.ui {
                cfg.raw.ui.listen = Some(ui.clone());
                cfg.raw
                    .ui
                    .check()
                    .map_err(|m| anyhow::anyhow!("--ui: {m}"))?;
            }
            let c = &cfg.raw.capture;
            let live = LiveOptions {
                interface: args.interface.clone(),
                snaplen: args.snaplen.unwrap_or(c.snaplen),
                buffer_mb: args.buffer_mb.unwrap_or(c.buffer_mb),
                promiscuous: c.promiscuous && !args.no_promisc,
                immediate: c.immediate || args.immediate,
            };
            let mut source = Source::live(&live, cfg.raw.capture.bpf.clone())?;
            let opts = RunOptions {
                realtime: None,
                progress: false,
                stop: stop_flag()?,
                live: true,
                aggregate: None,
            };
            let sources = vec![format!("live on {}", args.interface)];
            execute(cfg, &mut source, opts, &args.common, sources)
        }
    }
}

fn spool(args: spanlens::cli::SpoolArgs) -> Result<ExitCode> {
    use spanlens::cli::SpoolAction;
    use spanlens::output::elasticsearch::spool::Spool;
    let common = CommonArgs {
        config: args.config.clone(),
        es: args.es.clone(),
        ..Default::default()
    };
    let cfg = load_config(args.config.as_deref(), &common)?;
    let es = cfg.raw.output.elasticsearch.clone().unwrap_or_default();
    let Some(dir) = es.spool_path() else {
        bail!("the spool is turned off (output.elasticsearch.spool_dir = \"\")");
    };
    let show = |what: &str| -> Result<u64> {
        if !dir.exists() {
            println!(
                "spool {}: empty (the directory does not exist)",
                dir.display()
            );
            return Ok(0);
        }
        let i = Spool::inspect(&dir)?;
        let age = |t: Option<std::time::SystemTime>| {
            t.and_then(|t| t.elapsed().ok())
                .map(|d| format!("{}s ago", d.as_secs()))
                .unwrap_or_else(|| "-".into())
        };
        println!(
            "spool {}{what}: {} documents in {} bulk requests, {} bytes (spool_max_bytes {}), oldest {}, newest {}",
            dir.display(),
            i.docs,
            i.entries,
            i.bytes,
            es.spool_max_bytes,
            age(i.oldest),
            age(i.newest)
        );
        println!(
            "  for cluster: {} (configured: {})",
            i.cluster.as_deref().unwrap_or("unknown"),
            es.hosts.join(", ")
        );
        if let Some(dl) = es.dead_letter_path() {
            let n = std::fs::read(&dl)
                .map(|b| b.iter().filter(|&&c| c == b'\n').count())
                .unwrap_or(0);
            println!("  dead-letter file {}: {n} documents", dl.display());
        }
        Ok(i.docs)
    };
    match args.action {
        SpoolAction::Status => {
            show("")?;
            Ok(ExitCode::SUCCESS)
        }
        SpoolAction::Drain => {
            let m = &cfg.raw.monitor;
            spanlens::monitor::log::init(
                &m.log_level,
                m.log_format == "json",
                m.log_file.as_deref(),
            )?;
            let mut out = ElasticsearchOutput::new(es.clone(), false)?;
            let mut c = spanlens::stats::Counters::new();
            out.drain(&mut c)?;
            for w in out.warnings(&c) {
                tracing::warn!("{w}");
            }
            drop(out);
            let left = show(" after drain")?;
            println!(
                "  delivered {}, already present {}, dead-lettered {}, lost {}",
                c.get("output.es.docs_indexed"),
                c.get("output.es.docs_duplicate"),
                c.get("output.es.dead_lettered"),
                c.get("output.es.lost")
            );
            Ok(if left == 0 && c.get("output.es.lost") == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

fn load_config(path: Option<&Path>, common: &CommonArgs) -> Result<Config> {
    let mut raw = match path {
        Some(p) => RawConfig::load(p)?,
        None => RawConfig::default(),
    };
    raw.apply_overrides(&Overrides {
        workers: common.workers,
        server: common.server.clone(),
        exclude: common.exclude.clone(),
        tunnel_id: common.tunnel_id.clone(),
        bpf: common.bpf.clone(),
        output: common.output.clone(),
        es: common.es.clone(),
        metrics: common.metrics.clone(),
        stats_interval: common.stats_interval,
        log_level: common.log_level.clone(),
        log_format: common.log_format.clone(),
        log_file: common.log_file.clone(),
    });
    Ok(raw.validate()?)
}

fn stop_flag() -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .context("cannot install signal handler")?;
    }
    Ok(stop)
}

fn open_ndjson(path: &str) -> Result<NdjsonOutput> {
    Ok(match path {
        "-" | "" => NdjsonOutput::stdout(),
        p => NdjsonOutput::file(p.into())?,
    })
}

fn open_output(cfg: &Config, live: bool, common: &CommonArgs) -> Result<Box<dyn Output>> {
    let path = cfg.raw.output.path.as_str();
    let es = || -> Result<ElasticsearchOutput> {
        let es = cfg.raw.output.elasticsearch.clone().unwrap_or_default();
        // Live capture keeps trying while events queue; a replay fails fast.
        Ok(ElasticsearchOutput::new(es, live)?)
    };
    Ok(match path {
        "elasticsearch" => Box::new(es()?),
        // `--es URL -o FILE` (or `-o -`): both outputs get every event.
        p if !common.es.is_empty() && common.output.is_some() => {
            Box::new(Tee::new(Box::new(open_ndjson(p)?), Box::new(es()?)))
        }
        p => Box::new(open_ndjson(p)?),
    })
}

fn execute(
    cfg: Config,
    source: &mut Source,
    mut opts: RunOptions,
    common: &CommonArgs,
    sources: Vec<String>,
) -> Result<ExitCode> {
    let m = &cfg.raw.monitor;
    spanlens::monitor::log::init(&m.log_level, m.log_format == "json", m.log_file.as_deref())
        .with_context(|| {
            format!(
                "cannot open log file {}",
                m.log_file.as_deref().unwrap_or(Path::new("")).display()
            )
        })?;
    let registry = Registry::default();
    let monitor_stop = Arc::new(AtomicBool::new(false));
    if let Some(addr) = &m.metrics {
        let bound =
            spanlens::monitor::metrics::serve(addr, registry.clone(), Arc::clone(&monitor_stop))?;
        tracing::info!("serving metrics at http://{bound}/metrics");
    }
    let hup = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&hup))
        .context("cannot install SIGHUP handler")?;
    let interval = if opts.live {
        m.stats_interval.0
    } else {
        std::time::Duration::ZERO
    };
    let reporter = {
        let (reg, stop) = (registry.clone(), Arc::clone(&monitor_stop));
        std::thread::Builder::new()
            .name("spanlens-monitor".into())
            .spawn(move || spanlens::monitor::reporter(reg, interval, stop, hup))
            .context("cannot start the monitor thread")?
    };
    // The report file and the live page share one aggregator per worker.
    let ui_addr = if opts.live {
        cfg.raw.ui.listen.clone()
    } else {
        None
    };
    // Summaries: when events go to Elasticsearch and the section asks.
    let es_out = cfg.raw.output.path == "elasticsearch" || !common.es.is_empty();
    let summary_counters = Arc::new(std::sync::Mutex::new(spanlens::stats::Counters::new()));
    let sink: Option<spanlens::report::live::Sink> = match &cfg.raw.output.elasticsearch {
        Some(es) if es.summaries && es_out => {
            match spanlens::farm::summary::SummaryWriter::new(
                es,
                cfg.observer.clone(),
                opts.live,
                cfg.raw.report.interval_secs,
            ) {
                Ok(mut w) => {
                    let shared = Arc::clone(&summary_counters);
                    let f: spanlens::report::live::Sink =
                        Box::new(move |a: &spanlens::aggregate::Aggregator| {
                            w.write(a);
                            if let Ok(mut c) = shared.lock() {
                                c.clone_from(&w.counters);
                            }
                        });
                    Some(f)
                }
                Err(e) if !opts.live => bail!("cannot write summaries to Elasticsearch: {e}"),
                Err(e) => {
                    tracing::warn!("no summaries will be written: {e}");
                    None
                }
            }
        }
        _ => None,
    };
    let collector = if common.report.is_some() || ui_addr.is_some() || sink.is_some() {
        if common.report.is_some() || ui_addr.is_some() {
            spanlens::report::assets_available()?;
        }
        let live_sink = sink.map(|f| (f, opts.live));
        let (tx, c) = spanlens::report::live::Collector::start_with(
            cfg.raw.report,
            ui_addr.is_some(),
            live_sink,
        )
        .context("cannot start the report collector thread")?;
        opts.aggregate = Some((cfg.raw.report, tx));
        Some(c)
    } else {
        None
    };
    if let (Some(addr), Some(c)) = (&ui_addr, &collector) {
        let bound = spanlens::report::live::serve(
            addr,
            c.shared(),
            registry.clone(),
            Arc::clone(&monitor_stop),
        )?;
        tracing::info!("serving the live page at http://{bound}/");
        if !common.quiet {
            eprintln!("spanlens: live page at http://{bound}/");
        }
    }
    let output = open_output(&cfg, opts.live, common)?;
    let result = run(cfg, source, output, opts, &registry);
    let aggregate = collector.map(|c| c.finish());
    monitor_stop.store(true, std::sync::atomic::Ordering::Relaxed);
    reporter.thread().unpark();
    let _ = reporter.join();
    let mut summary = result?;
    if let Ok(c) = summary_counters.lock() {
        summary.counters.merge(&c);
    }
    // Every exit path from here on writes the warnings, the stats file and
    // the summary before it reports a failure.
    for w in &summary.warnings {
        tracing::warn!("{w}");
    }
    let stats_written = match &common.stats_json {
        Some(path) => write_stats_json(path, &summary),
        None => Ok(()),
    };
    if let (Some(path), Some(agg)) = (&common.report, &aggregate) {
        let sensor = summary.counters.to_json();
        let size = spanlens::report::write_report(path, agg, Some(&sensor), &sources)?;
        if !common.quiet {
            tracing::info!("wrote report {} ({size} bytes)", path.display());
        }
    }
    if !common.quiet {
        for line in spanlens::stats::summary_text(&summary.counters, summary.elapsed).lines() {
            tracing::info!("{line}");
        }
    }
    if let Some(e) = &summary.error {
        tracing::error!("{}", format!("{e:#}").replace('\n', " "));
        return Ok(ExitCode::from(1));
    }
    stats_written?;
    let lost = spanlens::stats::lost_events(&summary.counters);
    if lost > 0 {
        tracing::error!(
            "{lost} events were neither delivered, nor spooled, nor dead-lettered (see the summary)"
        );
        return Ok(ExitCode::from(3));
    }
    Ok(ExitCode::SUCCESS)
}

/// `spanlens report --es URL ...`: the report from the cluster.
fn report_from_es(args: &spanlens::cli::ReportArgs, cfg: &Config) -> Result<ExitCode> {
    use spanlens::farm::query::{parse_time, read, Query, Source as QSource};
    if !args.files.is_empty() {
        bail!("give either NDJSON files or --es, not both");
    }
    let mut es = cfg.raw.output.elasticsearch.clone().unwrap_or_default();
    es.hosts = args.es.clone();
    let valid = es
        .validate()
        .map_err(|(k, m)| anyhow::anyhow!("--es: {k}: {m}"))?;
    let mut client = spanlens::output::elasticsearch::client::EsClient::new(&valid)?;
    let wildcard = |p: &str| -> Result<String> {
        Ok(
            spanlens::output::elasticsearch::encoder::IndexPattern::parse(p)
                .map_err(|m| anyhow::anyhow!("{m}"))?
                .wildcard(),
        )
    };
    let index = match &args.index {
        Some(i) if i.contains('*') => i.clone(),
        Some(i) => wildcard(i)?,
        None => wildcard(&es.index)?,
    };
    let summaries_index = match &args.summaries_index {
        Some(i) if i.contains('*') => i.clone(),
        Some(i) => wildcard(i)?,
        None => wildcard(&es.summaries_index)?,
    };
    let time = |t: &Option<String>| -> Result<Option<u64>> {
        t.as_deref()
            .map(parse_time)
            .transpose()
            .map_err(|m| anyhow::anyhow!("{m}"))
    };
    let q = Query {
        index,
        summaries_index,
        from: time(&args.from)?,
        to: time(&args.to)?,
        sensors: args.sensor.clone(),
        source: match args.source.as_str() {
            "auto" => QSource::Auto,
            "summaries" => QSource::Summaries,
            "events" => QSource::Events,
            o => bail!("--source {o}: use auto, summaries or events"),
        },
    };
    let mut rcfg = cfg.raw.report;
    if let Some(i) = args.interval {
        if i == 0 || i % rcfg.interval_secs.max(1) != 0 {
            bail!(
                "--interval {i}: use a multiple of [report] interval_secs ({})",
                rcfg.interval_secs
            );
        }
        rcfg.interval_secs = i;
    }
    let started = std::time::Instant::now();
    let (agg, r) = read(&mut client, &q, rcfg).map_err(|e| anyhow::anyhow!("{e}"))?;
    let sensors = if q.sensors.is_empty() {
        "every sensor".to_string()
    } else {
        q.sensors.join(", ")
    };
    let sources = vec![format!("{} ({}; {sensors})", client.hosts(), r.source)];
    let size = spanlens::report::write_report(&args.output, &agg, None, &sources)?;
    eprintln!(
        "spanlens: wrote {} ({} transactions from {}{}, {} searches, {:.3}s, {} bytes)",
        args.output.display(),
        agg.requests(),
        r.source,
        if r.source == "summaries" {
            format!(" ({} documents)", r.summaries)
        } else {
            String::new()
        },
        r.requests,
        started.elapsed().as_secs_f64(),
        size
    );
    Ok(ExitCode::SUCCESS)
}

/// Reads a `--stats-json` file back into counters (for the sensor panel).
fn read_stats_json(path: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read --stats file {}", path.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a --stats-json file (not JSON)", path.display()))?;
    Ok(v)
}

fn write_stats_json(path: &Path, s: &RunSummary) -> Result<()> {
    let mut v = s.counters.to_json();
    if let Some(o) = v.as_object_mut() {
        o.insert(
            "elapsed_seconds".into(),
            serde_json::json!(s.elapsed.as_secs_f64()),
        );
        o.insert("pinned_threads".into(), serde_json::json!(s.pinned));
        if let Some(hwm) = peak_rss_bytes() {
            o.insert("peak_rss_bytes".into(), serde_json::json!(hwm));
        }
    }
    let text = serde_json::to_string_pretty(&v)? + "\n";
    std::fs::write(path, text)
        .with_context(|| format!("cannot write --stats-json file {}", path.display()))
}

/// Peak resident memory of this process (Linux `VmHWM`), for benchmarks.
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
