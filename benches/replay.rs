//! Replay throughput: the whole pipeline on real captures, against the
//! floor of any libpcap-based reader (a bare libpcap read of the same file).
//!
//! Captures: every `*.pcap` in `benches/captures/` (made by
//! `benches/lab/make-captures.sh`) plus any files named in
//! `SPANLENS_BENCH_PCAP` (colon-separated). `SPANLENS_BENCH_WORKERS`
//! (default `1,2`), `SPANLENS_BENCH_RUNS` (default 3, best run kept) and
//! `SPANLENS_BENCH_FILTER` (keep only captures whose file name contains it)
//! tune the run. Output: one table row per capture and configuration, with
//! wall and CPU seconds (the floor's CPU is its wall time: one thread).
//!
//! Run: `cargo bench --bench replay`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn captures() -> Vec<PathBuf> {
    let mut v = Vec::new();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/captures");
    if let Ok(rd) = std::fs::read_dir(&dir) {
        let mut found: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
            .collect();
        found.sort();
        v.extend(found);
    }
    if let Ok(list) = std::env::var("SPANLENS_BENCH_PCAP") {
        v.extend(list.split(':').filter(|s| !s.is_empty()).map(PathBuf::from));
    }
    if let Ok(f) = std::env::var("SPANLENS_BENCH_FILTER") {
        v.retain(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().contains(f.as_str()))
        });
    }
    v
}

/// Bare libpcap read: every packet touched once (its length summed).
fn floor(path: &Path) -> (Duration, u64, u64) {
    let t = Instant::now();
    let mut cap = pcap::Capture::from_file(path).expect("open capture");
    let (mut pkts, mut bytes) = (0u64, 0u64);
    while let Ok(p) = cap.next_packet() {
        pkts += 1;
        bytes += u64::from(p.header.len);
        std::hint::black_box(p.data.first());
    }
    (t.elapsed(), pkts, bytes)
}

struct Run {
    secs: f64,
    /// User plus system CPU time of the run: steadier than wall time on a
    /// shared VM, and what a second worker costs on top of the first.
    cpu: f64,
    events: u64,
    peak_rss: u64,
}

fn spanlens(path: &Path, workers: usize, config: Option<&Path>) -> Run {
    let stats = std::env::temp_dir().join(format!("spanlens-bench-{}.json", std::process::id()));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_spanlens"));
    cmd.args(["replay", "-q", "--no-progress", "-o", "/dev/null", "-w"])
        .arg(workers.to_string())
        .arg("--stats-json")
        .arg(&stats);
    if let Some(c) = config {
        cmd.arg("-c").arg(c);
    }
    cmd.arg(path);
    let cpu0 = children_cpu();
    let t = Instant::now();
    let out = cmd.output().expect("run spanlens");
    let secs = t.elapsed().as_secs_f64();
    let cpu = children_cpu() - cpu0;
    assert!(
        out.status.success(),
        "spanlens failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&stats).expect("stats")).expect("stats json");
    let _ = std::fs::remove_file(&stats);
    Run {
        secs,
        cpu,
        events: s["output"]["events_written"].as_u64().unwrap_or(0),
        peak_rss: s["peak_rss_bytes"].as_u64().unwrap_or(0),
    }
}

/// CPU seconds (user + system) used so far by waited-for children.
fn children_cpu() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) } != 0 {
        return 0.0;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn best<T>(runs: usize, mut f: impl FnMut() -> T, key: impl Fn(&T) -> f64) -> T {
    let mut best: Option<T> = None;
    for _ in 0..runs.max(1) {
        let r = f();
        if best.as_ref().is_none_or(|b| key(&r) < key(b)) {
            best = Some(r);
        }
    }
    best.expect("at least one run")
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this
    // binary without it: stay quick there.
    if !std::env::args().any(|a| a == "--bench") {
        println!("replay bench: skipped in test mode");
        return;
    }
    let caps = captures();
    if caps.is_empty() {
        println!(
            "no captures: run benches/lab/make-captures.sh (or set SPANLENS_BENCH_PCAP=/path/a.pcap:/path/b.pcap)"
        );
        return;
    }
    let runs: usize = std::env::var("SPANLENS_BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let workers: Vec<usize> = std::env::var("SPANLENS_BENCH_WORKERS")
        .unwrap_or_else(|_| "1,2".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let flow_only = std::env::temp_dir().join("spanlens-bench-flow-only.toml");
    std::fs::write(&flow_only, "[flows]\nanalysis = \"flows\"\n").expect("write flow-only config");
    let tcp_only = std::env::temp_dir().join("spanlens-bench-tcp-only.toml");
    std::fs::write(
        &tcp_only,
        "[protocols.http]\nenabled = false\n[protocols.mysql]\nenabled = false\n[protocols.redis]\nenabled = false\n",
    )
    .expect("write tcp-only config");
    println!(
        "{:<28} {:>10} {:>8} {:>10} {:>3} {:>8} {:>7} {:>12} {:>7} {:>10} {:>8} {:>7}",
        "capture",
        "packets",
        "MB",
        "mode",
        "w",
        "seconds",
        "cpu s",
        "packets/s",
        "Gbit/s",
        "events/s",
        "peakMiB",
        "x floor"
    );
    for cap in caps {
        let name = cap
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (fl, pkts, bytes) = best(runs, || floor(&cap), |r| r.0.as_secs_f64());
        let row = |mode: &str, w: usize, secs: f64, cpu: f64, events: u64, peak: u64| {
            println!(
                "{:<28} {:>10} {:>8.1} {:>10} {:>3} {:>8.3} {:>7.3} {:>12.0} {:>7.2} {:>10.0} {:>8.1} {:>7.2}",
                name,
                pkts,
                bytes as f64 / 1e6,
                mode,
                w,
                secs,
                cpu,
                pkts as f64 / secs,
                bytes as f64 * 8.0 / secs / 1e9,
                events as f64 / secs,
                peak as f64 / (1 << 20) as f64,
                secs / fl.as_secs_f64()
            );
        };
        row("libpcap", 0, fl.as_secs_f64(), fl.as_secs_f64(), 0, 0);
        for &w in &workers {
            let r = best(runs, || spanlens(&cap, w, Some(&flow_only)), |r| r.secs);
            row("flows", w, r.secs, r.cpu, r.events, r.peak_rss);
            let r = best(runs, || spanlens(&cap, w, Some(&tcp_only)), |r| r.secs);
            row("reassembly", w, r.secs, r.cpu, r.events, r.peak_rss);
            let r = best(runs, || spanlens(&cap, w, None), |r| r.secs);
            row("full", w, r.secs, r.cpu, r.events, r.peak_rss);
        }
    }
    let _ = std::fs::remove_file(&flow_only);
    let _ = std::fs::remove_file(&tcp_only);
}
