//! SYN flood: 1,000,000 SYNs from random addresses to random ports of one
//! server, with real HTTP traffic (tests/data/http_sample.pcap, nginx +
//! curl) interleaved ten times from ten client addresses. Replays it with
//! the default settings under `/usr/bin/time -v` and reports the peak RSS,
//! the evictions by kind, the memory budgets hit, and whether every real
//! HTTP transaction (15 per copy) came out.
//!
//! `cargo bench --bench flood` (SYNS=N for another flood size, WORKERS=N).
//! Exits non-zero when the peak RSS is 512 MiB or more or a transaction is
//! missing.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

/// xorshift64*: deterministic "random" addresses and ports.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn ip_checksum(h: &[u8]) -> u16 {
    let mut s: u32 = 0;
    for c in h.chunks(2) {
        s += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

fn syn(rng: &mut Rng) -> Vec<u8> {
    let r = rng.next();
    let src = [10, 200 + (r & 31) as u8, (r >> 8) as u8, (r >> 16) as u8];
    let dst = [10, 99, 0, 1];
    let sport = 1024 + ((r >> 24) % 64000) as u16;
    let dport = 1 + ((r >> 40) % 65535) as u16;
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 8, 0];
    let mut ip = vec![
        0x45,
        0,
        0,
        40,
        (r >> 48) as u8,
        (r >> 56) as u8,
        0x40,
        0,
        64,
        6,
        0,
        0,
    ];
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    let c = ip_checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&(rng.next() as u32).to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 0, 0x50, 0x02, 0xfa, 0xf0, 0, 0, 0, 0]);
    f
}

/// The records of a classic little-endian microsecond pcap.
fn records(bytes: &[u8]) -> Vec<(u64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut off = 24;
    while off + 16 <= bytes.len() {
        let u = |i: usize| u32::from_le_bytes(bytes[off + i..off + i + 4].try_into().unwrap());
        let (sec, usec, incl) = (u(0), u(4), u(8) as usize);
        let ts = u64::from(sec) * 1_000_000 + u64::from(usec);
        out.push((ts, bytes[off + 16..off + 16 + incl].to_vec()));
        off += 16 + incl;
    }
    out
}

/// The HTTP frame with the client address 10.99.0.2 moved to 10.99.`k`.2
/// (IP checksum fixed; spanlens does not check TCP checksums).
fn readdress(frame: &[u8], k: u8) -> Vec<u8> {
    let mut f = frame.to_vec();
    for off in [26, 30] {
        if f[off..off + 4] == [10, 99, 0, 2] {
            f[off + 2] = k;
        }
    }
    f[24] = 0;
    f[25] = 0;
    let c = ip_checksum(&f[14..34]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
    f
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this
    // binary without it: stay quick there.
    if !std::env::args().any(|a| a == "--bench") {
        println!("flood bench: run with cargo bench --bench flood");
        return;
    }
    let syns: u64 = std::env::var("SYNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let workers = std::env::var("WORKERS").unwrap_or_else(|_| "2".into());
    let copies = 10u8;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("flood.pcap");
    let sample = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/http_sample.pcap"
    ))
    .expect("http_sample.pcap");
    let http = records(&sample);
    let t0 = http[0].0;
    // The flood lasts 20 s of packet time (50,000 SYNs/s); copy k of the
    // HTTP traffic starts at 1 + 2k s.
    let span_us = 20_000_000u64;
    let mut extra: Vec<(u64, Vec<u8>)> = Vec::new();
    for k in 0..copies {
        for (ts, f) in &http {
            extra.push((
                1_000_000 + 2_000_000 * u64::from(k) + (ts - t0),
                readdress(f, 10 + k),
            ));
        }
    }
    extra.sort_by_key(|e| e.0);
    let base = 1_764_600_000_000_000u64;
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).expect("create"));
    let mut hdr = vec![];
    hdr.extend_from_slice(&0xA1B2_C3D4u32.to_le_bytes());
    hdr.extend_from_slice(&2u16.to_le_bytes());
    hdr.extend_from_slice(&4u16.to_le_bytes());
    hdr.extend_from_slice(&[0; 8]);
    hdr.extend_from_slice(&262_144u32.to_le_bytes());
    hdr.extend_from_slice(&1u32.to_le_bytes());
    out.write_all(&hdr).unwrap();
    let mut write = |ts: u64, f: &[u8]| {
        let t = base + ts;
        out.write_all(&((t / 1_000_000) as u32).to_le_bytes())
            .unwrap();
        out.write_all(&((t % 1_000_000) as u32).to_le_bytes())
            .unwrap();
        out.write_all(&(f.len() as u32).to_le_bytes()).unwrap();
        out.write_all(&(f.len() as u32).to_le_bytes()).unwrap();
        out.write_all(f).unwrap();
    };
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut next_extra = extra.iter().peekable();
    for i in 0..syns {
        let ts = i * span_us / syns;
        while let Some((t, f)) = next_extra.next_if(|e| e.0 <= ts) {
            write(*t, f);
        }
        write(ts, &syn(&mut rng));
    }
    for (t, f) in next_extra {
        write(*t, f);
    }
    out.flush().unwrap();
    drop(out);
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "flood: {syns} SYNs + {} HTTP packets ({} transactions), {:.1} MiB pcap",
        extra.len(),
        15 * u64::from(copies),
        size as f64 / 1048576.0
    );

    let stats = dir.path().join("stats.json");
    let mut child = Command::new("/usr/bin/time")
        .arg("-v")
        .arg(env!("CARGO_BIN_EXE_spanlens"))
        .args([
            "replay",
            "-q",
            "--no-progress",
            "-w",
            &workers,
            "--stats-json",
        ])
        .arg(&stats)
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run /usr/bin/time -v spanlens (apt-get install time)");
    let stdout = child.stdout.take().unwrap();
    let (mut http_tx, mut flow_events) = (0u64, 0u64);
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if line.contains("\"type\":\"http\"") {
            http_tx += 1;
        } else if line.contains("\"type\":\"flow\"") {
            flow_events += 1;
        }
    }
    let out = child.wait_with_output().expect("wait");
    let time_v = String::from_utf8_lossy(&out.stderr);
    let grab = |key: &str| {
        time_v
            .lines()
            .find_map(|l| l.trim().strip_prefix(key).map(|v| v.trim().to_string()))
            .unwrap_or_default()
    };
    let rss_kb: u64 = grab("Maximum resident set size (kbytes):")
        .parse()
        .unwrap_or(0);
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&stats).expect("stats")).expect("stats json");
    let get = |a: &str, b: &str| s[a][b].as_u64().unwrap_or(0);
    println!("flood benchmark ({workers} workers, defaults)");
    println!(
        "  peak RSS (time -v)        {:.1} MiB",
        rss_kb as f64 / 1024.0
    );
    println!(
        "  wall / user / system      {} / {} s / {} s",
        grab("Elapsed (wall clock) time (h:mm:ss or m:ss):"),
        grab("User time (seconds):"),
        grab("System time (seconds):")
    );
    println!("  packets                   {}", get("capture", "packets"));
    println!("  flows created             {}", get("flows", "created"));
    println!(
        "  evicted                   {} (embryonic {}, no state {}, with state {})",
        get("flows", "evicted"),
        get("flows", "evicted_embryonic"),
        get("flows", "evicted_no_state"),
        get("flows", "evicted_with_state")
    );
    println!(
        "  memcap hits               flow table {}, reassembly {}, protocol state {}, exporter queue {}",
        get("memcap", "flow_table_hits"),
        get("memcap", "reassembly_hits"),
        get("memcap", "protocol_state_hits"),
        get("memcap", "exporter_queue_hits")
    );
    println!("  flow events               {flow_events}");
    println!(
        "  HTTP transactions         {http_tx} of {}",
        15 * u64::from(copies)
    );
    let ok = out.status.success()
        && rss_kb > 0
        && rss_kb < 512 * 1024
        && http_tx == 15 * u64::from(copies);
    if !ok {
        eprintln!("flood: FAILED (exit {:?})", out.status.code());
        std::process::exit(1);
    }
}
