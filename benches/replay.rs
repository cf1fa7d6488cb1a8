//! Replay throughput: the whole pipeline on real captures, against the
//! floor of any libpcap-based reader and against ndpiReader (issue 18,
//! target 2). Two markdown tables, ready for the README:
//!
//! 1. Target: per capture, `SPANLENS_BENCH_RUNS` (default 5) rounds, each
//!    running once, in an order that rotates from round to round:
//!    the floor `tcpdump -Z root -r F -w /dev/null` (a bare libpcap read),
//!    `spanlens replay -q --no-progress -w 2 -o /dev/null F`
//!    (`SPANLENS_BENCH_TARGET_WORKERS`, default 2) and `ndpiReader -i F -q`
//!    (nDPI's flow DPI, Debian package libndpi-bin; no transactions).
//!    Wall seconds min/median/max, packets per second at the median, and
//!    the ratios taken round by round (median, min-max): spanlens over the
//!    floor (target: at most 2.0) and spanlens's packets per second over
//!    ndpiReader's (target: at least 1.0). A missing tcpdump falls back to
//!    an in-process libpcap read, a missing ndpiReader leaves its columns
//!    out; either is said in one line.
//! 2. Modes (`SPANLENS_BENCH_MODE_RUNS`, default 2, best run kept): the
//!    in-process libpcap read, then `flows` (`flows.analysis = "flows"`),
//!    `reassembly` (`"tcp"`: TCP reassembly and metrics, no decoders) and
//!    `full`,
//!    with 1 and 2 workers (`SPANLENS_BENCH_WORKERS`, default `1,2`;
//!    `SPANLENS_BENCH_MODES=full` keeps only the last).
//!
//! Captures: every `*.pcap`/`*.pcapng` in `SPANLENS_BENCH_DIR` (default
//! `benches/captures/`, made by `benches/lab/make-captures.sh`; a
//! `NAME_100k.pcap` cut is skipped when `NAME.pcap` is there too) plus files
//! named in `SPANLENS_BENCH_PCAP` (colon-separated); `SPANLENS_BENCH_FILTER`
//! keeps only file names containing one of its comma-separated words;
//! `SPANLENS_BENCH_TABLES` picks `target`, `modes` or both (default
//! `target,modes`).
//!
//! Run: `cargo bench --bench replay` (tools: `tests/deps.sh --bench`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(default)
}

fn captures() -> Vec<PathBuf> {
    let mut v = Vec::new();
    let dir = std::env::var_os("SPANLENS_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/captures"));
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
    // A `NAME_100k.pcap` cut (cost.sh's default input) beside its whole
    // `NAME.pcap` only repeats the same traffic: keep the whole file.
    let names: Vec<String> = v.iter().map(|p| name_of(p)).collect();
    v.retain(|p| {
        let n = name_of(p);
        !n.strip_suffix("_100k.pcap")
            .is_some_and(|base| names.contains(&format!("{base}.pcap")))
    });
    if let Ok(f) = std::env::var("SPANLENS_BENCH_FILTER") {
        let wanted: Vec<&str> = f.split(',').filter(|s| !s.is_empty()).collect();
        v.retain(|p| {
            let n = name_of(p);
            wanted.is_empty() || wanted.iter().any(|w| n.contains(w))
        });
    }
    v
}

/// The executable `name` on `PATH`, if any.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Bare libpcap read in this process: every packet touched once.
fn floor_in_process(path: &Path) -> (Duration, u64, u64) {
    let t = Instant::now();
    let mut cap = match pcap::Capture::from_file(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cannot open {}: {e}", path.display());
            std::process::exit(1);
        }
    };
    let (mut pkts, mut bytes) = (0u64, 0u64);
    while let Ok(p) = cap.next_packet() {
        pkts += 1;
        bytes += u64::from(p.header.len);
        std::hint::black_box(p.data.first());
    }
    (t.elapsed(), pkts, bytes)
}

/// One timed run of a child process: wall and CPU (user + system) seconds.
#[derive(Clone, Copy, Default)]
struct Timed {
    secs: f64,
    cpu: f64,
}

/// Runs `cmd` with its output discarded; exits the bench with one line if
/// it fails.
fn timed(mut cmd: Command, what: &str) -> Timed {
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    let cpu0 = children_cpu();
    let t = Instant::now();
    let out = match cmd.output() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("cannot run {what}: {e}");
            std::process::exit(1);
        }
    };
    let secs = t.elapsed().as_secs_f64();
    let cpu = children_cpu() - cpu0;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        eprintln!(
            "{what} failed ({}): {}",
            out.status,
            err.lines().last().unwrap_or("")
        );
        std::process::exit(1);
    }
    Timed { secs, cpu }
}

struct Run {
    secs: f64,
    /// User plus system CPU time of the run: steadier than wall time on a
    /// shared VM, and what a second worker costs on top of the first.
    cpu: f64,
    packets: u64,
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
    let t = timed(cmd, "spanlens replay");
    let s: serde_json::Value = std::fs::read(&stats)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let _ = std::fs::remove_file(&stats);
    Run {
        secs: t.secs,
        cpu: t.cpu,
        packets: s["capture"]["packets"].as_u64().unwrap_or(0),
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

/// Min, median and max of `v` (not empty).
fn spread(v: &[f64]) -> (f64, f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    let med = if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    };
    (s[0], med, s[n - 1])
}

/// `1,234,567` for a count.
fn grouped(x: f64) -> String {
    let s = format!("{:.0}", x.max(0.0));
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn secs_range(v: &[f64]) -> String {
    let (lo, med, hi) = spread(v);
    format!("{lo:.3} / {med:.3} / {hi:.3}")
}

fn ratio_range(v: &[f64]) -> String {
    let (lo, med, hi) = spread(v);
    format!("{med:.2} ({lo:.2}-{hi:.2})")
}

fn name_of(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Table 1: spanlens with `workers` against the floor and ndpiReader.
fn target_table(caps: &[PathBuf], runs: usize, workers: usize) {
    let tcpdump = on_path("tcpdump");
    let ndpi = on_path("ndpiReader");
    let floor_name = if tcpdump.is_some() {
        "tcpdump -Z root -r F -w /dev/null"
    } else {
        println!("tcpdump not installed (apt-get install tcpdump): the floor is an in-process libpcap read");
        "in-process libpcap read"
    };
    if ndpi.is_none() {
        println!("ndpiReader not installed (apt-get install libndpi-bin, or tests/deps.sh --bench): its columns are left out");
    }
    println!();
    println!(
        "Target 2: wall seconds min / median / max over {runs} interleaved rounds; floor = `{floor_name}`, \
         spanlens = `spanlens replay -q --no-progress -w {workers} -o /dev/null F`, ndpiReader = `ndpiReader -i F -q`; \
         CPU s = user + system, median; packets/s at the median wall time; wall ratios round by round, median (min-max); targets: x floor <= 2.00, x ndpiReader >= 1.00"
    );
    println!();
    println!(
        "| capture | packets | floor s | floor CPU s | spanlens -w {workers} s | spanlens CPU s | ndpiReader s | ndpiReader CPU s | floor packets/s | spanlens packets/s | ndpiReader packets/s | spanlens x floor | spanlens packets/s x ndpiReader's | CPU: spanlens x floor | CPU: ndpiReader x spanlens |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut verdicts = Vec::new();
    for cap in caps {
        let name = name_of(cap);
        let (mut fl, mut sl, mut nd) = (Vec::new(), Vec::new(), Vec::new());
        let (mut flc, mut slc, mut ndc) = (Vec::new(), Vec::new(), Vec::new());
        let (mut vs_floor, mut vs_ndpi) = (Vec::new(), Vec::new());
        let mut packets = 0u64;
        for round in 0..runs.max(1) {
            let (mut f, mut s, mut n) = (Timed::default(), 0.0, None);
            for step in 0..3 {
                match (round + step) % 3 {
                    0 => {
                        f = match &tcpdump {
                            Some(t) => {
                                let mut c = Command::new(t);
                                c.args(["-Z", "root", "-r"])
                                    .arg(cap)
                                    .args(["-w", "/dev/null"]);
                                timed(c, "tcpdump")
                            }
                            None => {
                                let secs = floor_in_process(cap).0.as_secs_f64();
                                Timed { secs, cpu: secs }
                            }
                        }
                    }
                    1 => {
                        let r = spanlens(cap, workers, None);
                        packets = r.packets;
                        s = r.secs;
                        slc.push(r.cpu);
                    }
                    _ => {
                        if let Some(nd) = &ndpi {
                            let mut c = Command::new(nd);
                            c.arg("-i").arg(cap).arg("-q");
                            n = Some(timed(c, "ndpiReader"));
                        }
                    }
                }
            }
            fl.push(f.secs);
            flc.push(f.cpu);
            sl.push(s);
            vs_floor.push(s / f.secs);
            if let Some(n) = n {
                nd.push(n.secs);
                ndc.push(n.cpu);
                vs_ndpi.push(n.secs / s);
            }
        }
        let pps = |v: &[f64]| grouped(packets as f64 / spread(v).1);
        let med = |v: &[f64]| spread(v).1;
        let (nd_s, nd_cpu, nd_pps, vs_nd, cpu_nd) = if nd.is_empty() {
            let no = || "-".to_string();
            (no(), no(), no(), no(), no())
        } else {
            (
                secs_range(&nd),
                format!("{:.3}", med(&ndc)),
                pps(&nd),
                ratio_range(&vs_ndpi),
                format!("{:.2}", med(&ndc) / med(&slc)),
            )
        };
        println!(
            "| {name} | {} | {} | {:.3} | {} | {:.3} | {nd_s} | {nd_cpu} | {} | {} | {nd_pps} | {} | {vs_nd} | {:.2} | {cpu_nd} |",
            grouped(packets as f64),
            secs_range(&fl),
            med(&flc),
            secs_range(&sl),
            med(&slc),
            pps(&fl),
            pps(&sl),
            ratio_range(&vs_floor),
            med(&slc) / med(&flc),
        );
        let mut v = format!(
            "{name}: x floor {:.2} ({})",
            spread(&vs_floor).1,
            if spread(&vs_floor).1 <= 2.0 {
                "met"
            } else {
                "not met"
            }
        );
        if !vs_ndpi.is_empty() {
            let m = spread(&vs_ndpi).1;
            v += &format!(
                ", x ndpiReader {m:.2} ({})",
                if m >= 1.0 { "met" } else { "not met" }
            );
        }
        verdicts.push(v);
    }
    println!();
    for v in verdicts {
        println!("{v}");
    }
}

/// Table 2: the pipeline's modes with 1 and 2 workers, best of `runs`.
fn modes_table(caps: &[PathBuf], runs: usize, workers: &[usize], modes: &str) {
    let flow_only = std::env::temp_dir().join("spanlens-bench-flow-only.toml");
    let tcp_only = std::env::temp_dir().join("spanlens-bench-tcp-only.toml");
    let written = std::fs::write(&flow_only, "[flows]\nanalysis = \"flows\"\n")
        .and_then(|_| std::fs::write(&tcp_only, "[flows]\nanalysis = \"tcp\"\n"));
    if let Err(e) = written {
        eprintln!(
            "cannot write the bench configs in {}: {e}",
            std::env::temp_dir().display()
        );
        std::process::exit(1);
    }
    println!();
    println!(
        "Modes: best of {runs} runs; libpcap = in-process libpcap read; spanlens replay -q --no-progress -o /dev/null"
    );
    println!();
    println!(
        "| capture | packets | MB | mode | workers | seconds | cpu s | packets/s | Gbit/s | events/s | peak MiB | x floor |"
    );
    println!("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for cap in caps {
        let name = name_of(cap);
        let (fl, pkts, bytes) = best(runs, || floor_in_process(cap), |r| r.0.as_secs_f64());
        let mut first = true;
        let mut row = |mode: &str, w: usize, secs: f64, cpu: f64, events: u64, peak: u64| {
            let (c, p, m) = if first {
                (
                    name.clone(),
                    grouped(pkts as f64),
                    format!("{:.1}", bytes as f64 / 1e6),
                )
            } else {
                Default::default()
            };
            first = false;
            let opt = |x: String, show: bool| if show { x } else { String::new() };
            println!(
                "| {c} | {p} | {m} | {mode} | {} | {secs:.3} | {cpu:.3} | {} | {:.2} | {} | {} | {:.2} |",
                opt(w.to_string(), w > 0),
                grouped(pkts as f64 / secs),
                bytes as f64 * 8.0 / secs / 1e9,
                opt(grouped(events as f64 / secs), events > 0),
                opt(format!("{:.0}", peak as f64 / (1 << 20) as f64), peak > 0),
                secs / fl.as_secs_f64()
            );
        };
        row("libpcap", 0, fl.as_secs_f64(), fl.as_secs_f64(), 0, 0);
        for &w in workers {
            for (mode, cfg) in [
                ("flows", Some(flow_only.as_path())),
                ("reassembly", Some(tcp_only.as_path())),
                ("full", None),
            ] {
                if !modes.split(',').any(|m| m.trim() == mode) {
                    continue;
                }
                let r = best(runs, || spanlens(cap, w, cfg), |r| r.secs);
                row(mode, w, r.secs, r.cpu, r.events, r.peak_rss);
            }
        }
    }
    let _ = std::fs::remove_file(&flow_only);
    let _ = std::fs::remove_file(&tcp_only);
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
            "no captures: run benches/lab/make-captures.sh, or set SPANLENS_BENCH_DIR=/dir/of/captures or SPANLENS_BENCH_PCAP=/path/a.pcap:/path/b.pcap"
        );
        return;
    }
    let tables = std::env::var("SPANLENS_BENCH_TABLES").unwrap_or_else(|_| "target,modes".into());
    let workers: Vec<usize> = std::env::var("SPANLENS_BENCH_WORKERS")
        .unwrap_or_else(|_| "1,2".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .filter(|&w| w > 0)
        .collect();
    if tables.contains("target") {
        target_table(
            &caps,
            env_or("SPANLENS_BENCH_RUNS", 5),
            env_or("SPANLENS_BENCH_TARGET_WORKERS", 2),
        );
    }
    if tables.contains("modes") {
        let modes = std::env::var("SPANLENS_BENCH_MODES")
            .unwrap_or_else(|_| "flows,reassembly,full".into());
        modes_table(
            &caps,
            env_or("SPANLENS_BENCH_MODE_RUNS", 2),
            &workers,
            &modes,
        );
    }
}
