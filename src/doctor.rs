//! `spanlens doctor`: reads a capture interface's settings and the host's,
//! and says what to change on a SPAN/TAP box and why.
//!
//! Read-only: it reads sysfs (`/sys/class/net/IF/...`,
//! `/sys/devices/system/cpu/...`), procfs (`/proc/meminfo`,
//! `/proc/sys/net/core/*`, `/proc/net/softnet_stat`) and runs `ethtool -k`
//! (offloads) and `ethtool -g` (ring sizes) when ethtool is installed. It
//! changes nothing; the fixes it prints are commands for the operator (and
//! the scripts in `tuning/` apply them with `--apply`).
//!
//! Every value that cannot be read (a veth has no ring settings, a loopback
//! has no link speed, ethtool may be missing) is listed under "could not
//! read" with the reason, instead of being guessed. Tests point
//! [`Sources::root`] at a fake sysfs/procfs tree and give canned ethtool
//! output ([`EthtoolSource::Canned`]).
//!
//! Not done here: IRQ affinity inspection (see `tuning/irq-affinity.sh`),
//! NIC firmware counters (`ethtool -S`), and anything that needs privileges.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::Command;

/// Errors of [`run`].
#[derive(Debug, thiserror::Error)]
pub enum DoctorError {
    /// No interface of that name exists in this network namespace.
    #[error("no network interface named {iface:?} (available: {})", available.join(", "))]
    UnknownInterface {
        /// The name asked for.
        iface: String,
        /// Interfaces listed in `/sys/class/net`.
        available: Vec<String>,
    },
    /// `/sys/class/net` itself could not be listed (no sysfs mounted?).
    #[error("cannot list network interfaces in {path}: {source}")]
    NoSysfs {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Writing the report failed.
    #[error("cannot write the report: {0}")]
    Write(#[from] io::Error),
}

/// Where ethtool's answers come from.
#[derive(Debug, Clone)]
pub enum EthtoolSource {
    /// Run this ethtool program (`ethtool` looked up in `PATH`).
    Program(PathBuf),
    /// Fixed outputs (tests): `ethtool -k` and `ethtool -g` text, or the
    /// reason each could not be read.
    Canned {
        /// Output of `ethtool -k IF`, or why it failed.
        features: Result<String, String>,
        /// Output of `ethtool -g IF`, or why it failed.
        rings: Result<String, String>,
    },
}

/// Where doctor reads from.
#[derive(Debug, Clone)]
pub struct Sources {
    /// Prefix of `/sys` and `/proc` (`/` on a real host, a temp dir in tests).
    pub root: PathBuf,
    /// How to ask ethtool.
    pub ethtool: EthtoolSource,
}

impl Sources {
    /// The running host: `/sys`, `/proc` and `ethtool` from `PATH`.
    pub fn system() -> Sources {
        Sources {
            root: PathBuf::from("/"),
            ethtool: EthtoolSource::Program(PathBuf::from("ethtool")),
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel.trim_start_matches('/'))
    }

    fn read(&self, rel: &str) -> Result<String, String> {
        let p = self.path(rel);
        std::fs::read_to_string(&p)
            .map(|s| s.trim().to_string())
            .map_err(|e| format!("{}: {e}", p.display()))
    }

    fn read_u64(&self, rel: &str) -> Result<u64, String> {
        let s = self.read(rel)?;
        s.parse::<u64>()
            .map_err(|_| format!("{}: not a number: {s:?}", self.path(rel).display()))
    }

    fn ethtool(&self, flag: &str, iface: &str) -> Result<String, String> {
        match &self.ethtool {
            EthtoolSource::Canned { features, rings } => {
                if flag == "-k" {
                    features.clone()
                } else {
                    rings.clone()
                }
            }
            EthtoolSource::Program(prog) => {
                let out = Command::new(prog)
                    .arg(flag)
                    .arg(iface)
                    .output()
                    .map_err(|e| {
                        if e.kind() == io::ErrorKind::NotFound {
                            "ethtool is not installed (apt-get install ethtool)".to_string()
                        } else {
                            format!("cannot run ethtool: {e}")
                        }
                    })?;
                if out.status.success() {
                    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
                } else {
                    let err = String::from_utf8_lossy(&out.stderr);
                    let first = err.lines().next().unwrap_or("").trim();
                    Err(format!(
                        "ethtool {flag} {iface} failed: {}",
                        if first.is_empty() {
                            "no message"
                        } else {
                            first
                        }
                    ))
                }
            }
        }
    }
}

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Fine as it is; stated so the operator knows it was checked.
    Ok,
    /// Worth changing on a busy mirror port.
    Advice,
    /// Costs data now (drops, link down, merged segments).
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Ok => "ok",
            Severity::Advice => "advice",
            Severity::Warning => "WARNING",
        })
    }
}

/// One conclusion: what was seen, what to change and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// How much it matters.
    pub severity: Severity,
    /// Short topic (`offloads`, `ring`, `drops`, ...).
    pub topic: &'static str,
    /// What was seen.
    pub message: String,
    /// What to run or set, empty when nothing is to be done.
    pub fix: String,
}

/// NIC ring sizes from `ethtool -g`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rings {
    /// Current RX descriptors.
    pub rx: Option<u64>,
    /// Maximum RX descriptors.
    pub rx_max: Option<u64>,
    /// Current TX descriptors.
    pub tx: Option<u64>,
    /// Maximum TX descriptors.
    pub tx_max: Option<u64>,
}

/// Everything doctor read, and its conclusions.
#[derive(Debug, Clone, Default)]
pub struct DoctorReport {
    /// The interface.
    pub iface: String,
    /// `operstate` (`up`, `down`, `unknown`, ...).
    pub operstate: Option<String>,
    /// Link speed in Mbit/s.
    pub speed_mbps: Option<u64>,
    /// MTU in bytes.
    pub mtu: Option<u64>,
    /// Kernel driver (`virtual` for devices without one, e.g. veth, lo).
    pub driver: Option<String>,
    /// Receive queues (`/sys/class/net/IF/queues/rx-*`).
    pub rx_queues: Option<usize>,
    /// Offload features by ethtool name (`generic-receive-offload` -> on).
    pub offloads: BTreeMap<String, bool>,
    /// Ring sizes.
    pub rings: Option<Rings>,
    /// IFF_PROMISC (0x100) in `/sys/class/net/IF/flags`.
    pub promiscuous: Option<bool>,
    /// `statistics/rx_dropped`.
    pub rx_dropped: Option<u64>,
    /// `statistics/rx_missed_errors` (NIC ring overflow).
    pub rx_missed_errors: Option<u64>,
    /// Online CPUs.
    pub cores: Option<usize>,
    /// `MemTotal` in KiB.
    pub mem_total_kib: Option<u64>,
    /// Isolated CPUs (`isolcpus=`), empty when none.
    pub isolated_cpus: Option<Vec<usize>>,
    /// `net.core.rmem_max`.
    pub rmem_max: Option<u64>,
    /// `net.core.netdev_max_backlog`.
    pub netdev_max_backlog: Option<u64>,
    /// Sum over CPUs of the backlog drops in `/proc/net/softnet_stat`.
    pub softnet_dropped: Option<u64>,
    /// Conclusions, in the order printed.
    pub findings: Vec<Finding>,
    /// What could not be read, and why.
    pub unreadable: Vec<(String, String)>,
}

impl DoctorReport {
    /// The findings at `severity` or above.
    pub fn at_least(&self, severity: Severity) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(move |f| f.severity >= severity)
    }
}

/// Offloads that change what the capture sees, with ethtool's short names.
const OFFLOADS: [(&str, &str); 5] = [
    ("generic-receive-offload", "gro"),
    ("large-receive-offload", "lro"),
    ("rx-gro-hw", "rx-gro-hw"),
    ("tcp-segmentation-offload", "tso"),
    ("generic-segmentation-offload", "gso"),
];

/// Most CPUs a cpulist may name (bounds the parse of a hostile file).
const MAX_CPUS: usize = 8192;

/// rmem_max below which doctor advises raising it.
const RMEM_WANT: u64 = 32 << 20;
/// netdev_max_backlog below which doctor advises raising it.
const BACKLOG_WANT: u64 = 10_000;

/// Inspects `iface` on this host and writes the report to `out`.
pub fn run(iface: &str, out: &mut dyn Write) -> Result<DoctorReport, DoctorError> {
    run_with(&Sources::system(), iface, out)
}

/// [`run`] reading from `src` (a fake root in tests).
pub fn run_with(
    src: &Sources,
    iface: &str,
    out: &mut dyn Write,
) -> Result<DoctorReport, DoctorError> {
    let report = inspect(src, iface)?;
    print_report(&report, out)?;
    Ok(report)
}

/// Reads everything and draws the conclusions, printing nothing.
pub fn inspect(src: &Sources, iface: &str) -> Result<DoctorReport, DoctorError> {
    let available = list_interfaces(src)?;
    // A name with a slash or dot-dots would read outside /sys/class/net.
    let safe = !iface.is_empty() && !iface.contains('/') && iface != "." && iface != "..";
    if !safe || !available.iter().any(|a| a == iface) {
        return Err(DoctorError::UnknownInterface {
            iface: iface.to_string(),
            available,
        });
    }
    let mut r = DoctorReport {
        iface: iface.to_string(),
        ..DoctorReport::default()
    };
    let net = format!("sys/class/net/{iface}");
    let mut unreadable: Vec<(String, String)> = Vec::new();
    let mut note = |what: &str, res: Result<(), String>| {
        if let Err(why) = res {
            unreadable.push((what.to_string(), why));
        }
    };

    note(
        "link state",
        src.read(&format!("{net}/operstate"))
            .map(|s| r.operstate = Some(s)),
    );
    note(
        "link speed",
        src.read(&format!("{net}/speed")).and_then(|s| {
            // -1 (or 4294967295) means unknown.
            match s.parse::<i64>() {
                Ok(v) if v > 0 && v < u32::MAX as i64 => {
                    r.speed_mbps = Some(v as u64);
                    Ok(())
                }
                _ => Err(format!("speed unknown ({s})")),
            }
        }),
    );
    note(
        "MTU",
        src.read_u64(&format!("{net}/mtu")).map(|v| r.mtu = Some(v)),
    );
    r.driver = Some(
        std::fs::read_link(src.path(&format!("{net}/device/driver")))
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "virtual".to_string()),
    );
    note(
        "RX queues",
        std::fs::read_dir(src.path(&format!("{net}/queues")))
            .map(|d| {
                r.rx_queues = Some(
                    d.filter_map(Result::ok)
                        .filter(|e| e.file_name().to_string_lossy().starts_with("rx-"))
                        .count(),
                )
            })
            .map_err(|e| format!("{net}/queues: {e}")),
    );
    note(
        "promiscuous flag",
        src.read(&format!("{net}/flags")).and_then(|s| {
            let v = u64::from_str_radix(s.trim_start_matches("0x"), 16)
                .map_err(|_| format!("{net}/flags: not hex: {s:?}"))?;
            r.promiscuous = Some(v & 0x100 != 0);
            Ok(())
        }),
    );
    note(
        "rx_dropped",
        src.read_u64(&format!("{net}/statistics/rx_dropped"))
            .map(|v| r.rx_dropped = Some(v)),
    );
    note(
        "rx_missed_errors",
        src.read_u64(&format!("{net}/statistics/rx_missed_errors"))
            .map(|v| r.rx_missed_errors = Some(v)),
    );
    note(
        "offloads",
        src.ethtool("-k", iface)
            .map(|t| r.offloads = parse_features(&t)),
    );
    note(
        "ring sizes",
        src.ethtool("-g", iface).and_then(|t| {
            let rings = parse_rings(&t);
            if rings.rx.is_none() && rings.rx_max.is_none() {
                return Err("ethtool -g printed no RX ring sizes".to_string());
            }
            r.rings = Some(rings);
            Ok(())
        }),
    );
    note(
        "CPU count",
        src.read("sys/devices/system/cpu/online").map(|s| {
            r.cores = Some(parse_cpulist(&s).len());
        }),
    );
    note(
        "isolated CPUs",
        src.read("sys/devices/system/cpu/isolated")
            .map(|s| r.isolated_cpus = Some(parse_cpulist(&s))),
    );
    note(
        "memory",
        src.read("proc/meminfo").and_then(|s| {
            r.mem_total_kib = Some(parse_meminfo_total(&s).ok_or("no MemTotal line")?);
            Ok(())
        }),
    );
    note(
        "net.core.rmem_max",
        src.read_u64("proc/sys/net/core/rmem_max")
            .map(|v| r.rmem_max = Some(v)),
    );
    note(
        "net.core.netdev_max_backlog",
        src.read_u64("proc/sys/net/core/netdev_max_backlog")
            .map(|v| r.netdev_max_backlog = Some(v)),
    );
    note(
        "softnet drops",
        src.read("proc/net/softnet_stat")
            .map(|s| r.softnet_dropped = Some(parse_softnet_dropped(&s))),
    );
    r.unreadable = unreadable;
    r.findings = conclude(&r);
    Ok(r)
}

fn list_interfaces(src: &Sources) -> Result<Vec<String>, DoctorError> {
    let dir = src.path("sys/class/net");
    let rd = std::fs::read_dir(&dir).map_err(|source| DoctorError::NoSysfs {
        path: dir.clone(),
        source,
    })?;
    let mut names: Vec<String> = rd
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.') && n != "bonding_masters")
        .collect();
    names.sort();
    Ok(names)
}

/// Parses `ethtool -k` output: `name: on|off [fixed]` lines.
pub fn parse_features(text: &str) -> BTreeMap<String, bool> {
    let mut m = BTreeMap::new();
    for line in text.lines() {
        let Some((name, rest)) = line.trim().split_once(':') else {
            continue;
        };
        let value = rest.split_whitespace().next();
        match value {
            Some("on") => m.insert(name.to_string(), true),
            Some("off") => m.insert(name.to_string(), false),
            _ => None,
        };
    }
    m
}

/// Parses `ethtool -g` output: the "Pre-set maximums" and "Current hardware
/// settings" sections' `RX:` and `TX:` lines (`n/a` reads as absent).
pub fn parse_rings(text: &str) -> Rings {
    let mut r = Rings::default();
    let mut current = false;
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with("Pre-set maximums") {
            current = false;
            continue;
        }
        if l.starts_with("Current hardware settings") {
            current = true;
            continue;
        }
        let Some((key, val)) = l.split_once(':') else {
            continue;
        };
        let v = val.trim().parse::<u64>().ok();
        match (key.trim(), current) {
            ("RX", false) => r.rx_max = v,
            ("RX", true) => r.rx = v,
            ("TX", false) => r.tx_max = v,
            ("TX", true) => r.tx = v,
            _ => {}
        }
    }
    r
}

/// Parses a kernel cpulist (`0-3,8,10-11`), sorted and deduplicated; bad
/// parts are skipped and at most [`MAX_CPUS`] CPUs are listed.
pub fn parse_cpulist(text: &str) -> Vec<usize> {
    let mut cpus = Vec::new();
    for part in text.trim().split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.trim().parse::<usize>(), b.trim().parse::<usize>()),
            None => (part.parse::<usize>(), part.parse::<usize>()),
        };
        let (Ok(lo), Ok(hi)) = (lo, hi) else { continue };
        if lo > hi || hi >= MAX_CPUS {
            continue;
        }
        cpus.extend(lo..=hi);
    }
    cpus.sort_unstable();
    cpus.dedup();
    cpus
}

fn parse_meminfo_total(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// Sums the second column (packets dropped because the per-CPU backlog was
/// full) of `/proc/net/softnet_stat`, one hex row per CPU.
pub fn parse_softnet_dropped(text: &str) -> u64 {
    text.lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter_map(|h| u64::from_str_radix(h, 16).ok())
        .fold(0u64, u64::saturating_add)
}

fn fmt_cpus(cpus: &[usize]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let start = cpus[i];
        let mut end = start;
        while i + 1 < cpus.len() && cpus[i + 1] == end + 1 {
            i += 1;
            end = cpus[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    parts.join(",")
}

/// Draws the conclusions from what was read.
fn conclude(r: &DoctorReport) -> Vec<Finding> {
    let mut f = Vec::new();
    let iface = &r.iface;
    let mut add = |severity, topic, message: String, fix: String| {
        f.push(Finding {
            severity,
            topic,
            message,
            fix,
        })
    };

    match r.operstate.as_deref() {
        Some("up") | Some("unknown") => {}
        Some(state) => add(
            Severity::Warning,
            "link",
            format!("{iface} is {state}: nothing will be captured until the link is up"),
            format!("ip link set {iface} up   # and check the cable/SPAN session"),
        ),
        None => {}
    }

    if let Some(mtu) = r.mtu {
        // Ethernet header plus one VLAN tag.
        let frame = mtu + 18;
        if mtu > 1500 {
            let (message, fix) = if frame > 65535 {
                (
                    format!("MTU {mtu}: frames up to {frame} bytes, more than the default capture.snaplen 65535, so the largest would be cut"),
                    format!("[capture] snaplen = {}   # in spanlens.toml", frame.min(262_144)),
                )
            } else {
                (
                    format!("MTU {mtu} (jumbo frames): frames up to {frame} bytes; the default capture.snaplen 65535 covers them, keep any smaller snaplen at least {frame}"),
                    String::new(),
                )
            };
            add(Severity::Advice, "mtu", message, fix);
        }
    }

    let on: Vec<&str> = OFFLOADS
        .iter()
        .filter(|(long, _)| r.offloads.get(*long).copied().unwrap_or(false))
        .map(|(_, short)| *short)
        .collect();
    if !r.offloads.is_empty() {
        if on.is_empty() {
            add(
                Severity::Ok,
                "offloads",
                "GRO, LRO, TSO and GSO are off: the capture sees wire-sized segments".into(),
                String::new(),
            );
        } else {
            let fixable: Vec<String> = on.iter().map(|s| format!("{s} off")).collect();
            add(
                Severity::Warning,
                "offloads",
                format!(
                    "{} on: the kernel merges (GRO/LRO) or the capture sees unsplit (TSO/GSO) segments, so packet counts, segment sizes, retransmissions and RTT differ from the wire",
                    on.join(", ").to_uppercase()
                ),
                format!("ethtool -K {iface} {}   # or tuning/nic.sh {iface} --apply", fixable.join(" ")),
            );
        }
    }

    if let Some(rings) = r.rings {
        match (rings.rx, rings.rx_max) {
            (Some(rx), Some(max)) if rx < max => add(
                Severity::Advice,
                "ring",
                format!("RX ring {rx} of a possible {max} descriptors: bursts on a mirror port overflow a small ring (counted in rx_missed_errors)"),
                format!("ethtool -G {iface} rx {max}"),
            ),
            (Some(rx), Some(_)) => add(
                Severity::Ok,
                "ring",
                format!("RX ring at its maximum ({rx})"),
                String::new(),
            ),
            _ => {}
        }
    }

    match r.promiscuous {
        Some(false) => add(
            Severity::Advice,
            "promiscuous",
            format!("{iface} is not in promiscuous mode: mirrored frames addressed to other hosts are dropped by the NIC unless the capture turns it on (spanlens does while capture.promiscuous = true, the default)"),
            format!("ip link set {iface} promisc on   # keeps it on when spanlens is stopped"),
        ),
        Some(true) => add(
            Severity::Ok,
            "promiscuous",
            "promiscuous mode is on".into(),
            String::new(),
        ),
        None => {}
    }

    let dropped = r.rx_dropped.unwrap_or(0);
    let missed = r.rx_missed_errors.unwrap_or(0);
    if dropped > 0 || missed > 0 {
        add(
            Severity::Warning,
            "drops",
            format!("{iface} has dropped packets since boot: rx_dropped {dropped}, rx_missed_errors {missed} (ring full). Check whether they still grow while spanlens runs"),
            format!("ethtool -G {iface} rx <max>; spread IRQs with tuning/irq-affinity.sh; watch: ip -s link show {iface}"),
        );
    } else if r.rx_dropped.is_some() {
        add(
            Severity::Ok,
            "drops",
            format!("no receive drops on {iface} so far"),
            String::new(),
        );
    }
    if let Some(d) = r.softnet_dropped.filter(|&d| d > 0) {
        add(
            Severity::Warning,
            "backlog",
            format!("{d} packets were dropped because a CPU's input backlog was full (/proc/net/softnet_stat)"),
            "sysctl -w net.core.netdev_max_backlog=250000".into(),
        );
    }

    if let Some(v) = r.rmem_max.filter(|&v| v < RMEM_WANT) {
        add(
            Severity::Advice,
            "sysctl",
            format!("net.core.rmem_max is {v} bytes: socket receive buffers are capped there (libpcap's mmap ring, capture.buffer_mb, is not, but a non-mmap capture and the exporter's sockets are)"),
            format!("sysctl -w net.core.rmem_max={}   # and persist in /etc/sysctl.d/", 128u64 << 20),
        );
    }
    if let Some(v) = r.netdev_max_backlog.filter(|&v| v < BACKLOG_WANT) {
        add(
            Severity::Advice,
            "sysctl",
            format!("net.core.netdev_max_backlog is {v}: a burst larger than that per CPU is dropped before the capture sees it"),
            "sysctl -w net.core.netdev_max_backlog=250000".into(),
        );
    }

    if let Some(cores) = r.cores {
        let isolated = r.isolated_cpus.clone().unwrap_or_default();
        // One core for the capture thread, one for the exporter and the
        // system; the rest for workers.
        let workers = cores.saturating_sub(2).max(1);
        let mut msg = format!(
            "{cores} CPUs online: about {workers} worker(s) (one core for the capture thread, one for the exporter and the system)"
        );
        if cores <= 2 {
            msg.push_str(
                "; with so few cores, expect the capture thread and workers to share CPUs",
            );
        }
        add(
            Severity::Ok,
            "workers",
            msg,
            format!("spanlens live --workers {workers}   # or [pipeline] workers = {workers}"),
        );
        if isolated.is_empty() {
            if cores >= 4 {
                add(
                    Severity::Advice,
                    "cpu",
                    "no isolated CPUs: the scheduler and IRQs share the capture and worker cores".into(),
                    format!("isolcpus={}-{} on the kernel command line, or CPUAffinity= in the unit, and IRQs kept off them (tuning/irq-affinity.sh)", 1, cores - 1),
                );
            }
        } else {
            add(
                Severity::Ok,
                "cpu",
                format!(
                    "isolated CPUs {}: give them to spanlens (CPUAffinity={} in the unit) and keep NIC IRQs off them",
                    fmt_cpus(&isolated),
                    isolated.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(" ")
                ),
                String::new(),
            );
        }
    }
    if let Some(kib) = r.mem_total_kib {
        let mib = kib / 1024;
        // The capture ring should stay a small part of RAM.
        let ring = (mib / 16).clamp(16, 1024);
        add(
            Severity::Ok,
            "memory",
            format!("{mib} MiB of RAM: a capture ring of up to {ring} MiB is affordable"),
            format!("[capture] buffer_mb = {ring}"),
        );
    }
    if let Some(q) = r.rx_queues {
        if q > 1 {
            add(
                Severity::Ok,
                "rss",
                format!("{q} RX queues (RSS): pin their IRQs to cores that run neither the capture thread nor workers"),
                format!("tuning/irq-affinity.sh {iface} --cpus <housekeeping cpus> --apply"),
            );
        }
    }
    f
}

fn opt<T: fmt::Display>(v: &Option<T>) -> String {
    v.as_ref()
        .map(|x| x.to_string())
        .unwrap_or_else(|| "?".into())
}

/// Prints the report as text.
pub fn print_report(r: &DoctorReport, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "spanlens doctor: {} (read-only, nothing changed)",
        r.iface
    )?;
    writeln!(out)?;
    writeln!(out, "Interface")?;
    writeln!(out, "  link:          {}", opt(&r.operstate))?;
    writeln!(
        out,
        "  speed:         {}",
        r.speed_mbps
            .map(|s| format!("{s} Mbit/s"))
            .unwrap_or_else(|| "?".into())
    )?;
    writeln!(out, "  mtu:           {}", opt(&r.mtu))?;
    writeln!(out, "  driver:        {}", opt(&r.driver))?;
    writeln!(out, "  rx queues:     {}", opt(&r.rx_queues))?;
    writeln!(
        out,
        "  promiscuous:   {}",
        r.promiscuous
            .map(|p| if p { "on" } else { "off" }.to_string())
            .unwrap_or_else(|| "?".into())
    )?;
    if r.offloads.is_empty() {
        writeln!(out, "  offloads:      ?")?;
    } else {
        let list: Vec<String> = OFFLOADS
            .iter()
            .filter_map(|(long, short)| {
                r.offloads
                    .get(*long)
                    .map(|on| format!("{short} {}", if *on { "on" } else { "off" }))
            })
            .collect();
        writeln!(out, "  offloads:      {}", list.join(", "))?;
    }
    match r.rings {
        Some(g) => writeln!(
            out,
            "  rings:         rx {} (max {}), tx {} (max {})",
            opt(&g.rx),
            opt(&g.rx_max),
            opt(&g.tx),
            opt(&g.tx_max)
        )?,
        None => writeln!(out, "  rings:         ?")?,
    }
    writeln!(
        out,
        "  drops so far:  rx_dropped {}, rx_missed_errors {}",
        opt(&r.rx_dropped),
        opt(&r.rx_missed_errors)
    )?;
    writeln!(out)?;
    writeln!(out, "Host")?;
    writeln!(out, "  cpus online:   {}", opt(&r.cores))?;
    writeln!(
        out,
        "  isolated cpus: {}",
        r.isolated_cpus
            .as_ref()
            .map(|c| if c.is_empty() {
                "none".to_string()
            } else {
                fmt_cpus(c)
            })
            .unwrap_or_else(|| "?".into())
    )?;
    writeln!(
        out,
        "  memory:        {}",
        r.mem_total_kib
            .map(|k| format!("{} MiB", k / 1024))
            .unwrap_or_else(|| "?".into())
    )?;
    writeln!(out, "  rmem_max:      {}", opt(&r.rmem_max))?;
    writeln!(out, "  netdev_max_backlog: {}", opt(&r.netdev_max_backlog))?;
    writeln!(out, "  softnet drops: {}", opt(&r.softnet_dropped))?;
    writeln!(out)?;
    writeln!(out, "Findings")?;
    for f in &r.findings {
        writeln!(out, "  [{}] {}: {}", f.severity, f.topic, f.message)?;
        if !f.fix.is_empty() {
            let label = if f.severity == Severity::Ok {
                "suggest"
            } else {
                "change"
            };
            writeln!(out, "      {label}: {}", f.fix)?;
        }
    }
    if !r.unreadable.is_empty() {
        writeln!(out)?;
        writeln!(out, "Could not read")?;
        for (what, why) in &r.unreadable {
            writeln!(out, "  {what}: {why}")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::path::Path;

    /// `ethtool -k` on a virtio NIC, trimmed (real output, ethtool 6.1).
    const FEATURES_ON: &str = "Features for eth9:
rx-checksumming: on [fixed]
tx-checksumming: on
\ttx-checksum-ipv4: off [fixed]
scatter-gather: on
tcp-segmentation-offload: on
\ttx-tcp-segmentation: on
generic-segmentation-offload: on
generic-receive-offload: on
large-receive-offload: off [fixed]
rx-vlan-offload: off [fixed]
rx-gro-hw: off [fixed]
";

    const FEATURES_OFF: &str = "Features for eth9:
tcp-segmentation-offload: off
generic-segmentation-offload: off
generic-receive-offload: off
large-receive-offload: off [fixed]
";

    /// `ethtool -g` on an ixgbe NIC (real layout).
    const RINGS: &str = "Ring parameters for eth9:
Pre-set maximums:
RX:\t\t4096
RX Mini:\tn/a
RX Jumbo:\tn/a
TX:\t\t4096
Current hardware settings:
RX:\t\t512
RX Mini:\tn/a
RX Jumbo:\tn/a
TX:\t\t1024
";

    fn put(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().expect("has a parent")).expect("mkdir");
        fs::write(p, text).expect("write");
    }

    /// A host with 8 CPUs (2-7 isolated), 16 GiB, default sysctls, and
    /// eth9: up, 10G, MTU 1500, not promiscuous, 2 RX queues, 5 drops.
    fn fake_host() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        let r = dir.path();
        let net = "sys/class/net/eth9";
        put(r, &format!("{net}/operstate"), "up\n");
        put(r, &format!("{net}/speed"), "10000\n");
        put(r, &format!("{net}/mtu"), "1500\n");
        put(r, &format!("{net}/flags"), "0x1003\n");
        put(r, &format!("{net}/statistics/rx_dropped"), "5\n");
        put(r, &format!("{net}/statistics/rx_missed_errors"), "0\n");
        fs::create_dir_all(r.join(format!("{net}/queues/rx-0"))).expect("mkdir");
        fs::create_dir_all(r.join(format!("{net}/queues/rx-1"))).expect("mkdir");
        fs::create_dir_all(r.join(format!("{net}/queues/tx-0"))).expect("mkdir");
        put(r, "sys/class/net/lo/operstate", "unknown\n");
        put(r, "sys/devices/system/cpu/online", "0-7\n");
        put(r, "sys/devices/system/cpu/isolated", "2-7\n");
        put(
            r,
            "proc/meminfo",
            "MemTotal:       16384000 kB\nMemFree: 1 kB\n",
        );
        put(r, "proc/sys/net/core/rmem_max", "212992\n");
        put(r, "proc/sys/net/core/netdev_max_backlog", "1000\n");
        put(
            r,
            "proc/net/softnet_stat",
            "000440ea 00000000 00000001\n0003b79b 00000000 00000000\n",
        );
        dir
    }

    fn sources(root: &Path, features: Result<&str, &str>, rings: Result<&str, &str>) -> Sources {
        Sources {
            root: root.to_path_buf(),
            ethtool: EthtoolSource::Canned {
                features: features.map(str::to_string).map_err(str::to_string),
                rings: rings.map(str::to_string).map_err(str::to_string),
            },
        }
    }

    fn finding<'a>(r: &'a DoctorReport, topic: &str) -> Vec<&'a Finding> {
        r.findings.iter().filter(|f| f.topic == topic).collect()
    }

    #[test]
    fn unknown_interface_names_it_and_lists_the_available_ones() {
        let host = fake_host();
        let src = sources(host.path(), Ok(FEATURES_ON), Ok(RINGS));
        let err = inspect(&src, "eth0").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("\"eth0\""), "{msg}");
        assert!(msg.contains("eth9, lo"), "{msg}");
        match err {
            DoctorError::UnknownInterface { available, .. } => {
                assert_eq!(available, vec!["eth9".to_string(), "lo".to_string()])
            }
            other => panic!("wrong error {other:?}"),
        }
    }

    #[test]
    fn interface_name_cannot_escape_sysfs() {
        let host = fake_host();
        let src = sources(host.path(), Ok(FEATURES_ON), Ok(RINGS));
        for bad in ["../eth9", "eth9/..", "..", ".", ""] {
            assert!(
                matches!(
                    inspect(&src, bad),
                    Err(DoctorError::UnknownInterface { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn missing_sysfs_is_an_error_naming_the_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let src = sources(dir.path(), Ok(""), Ok(""));
        let err = inspect(&src, "eth9").unwrap_err();
        assert!(matches!(err, DoctorError::NoSysfs { .. }));
        assert!(err.to_string().contains("sys/class/net"), "{err}");
    }

    #[test]
    fn reads_interface_and_host_settings() {
        let host = fake_host();
        let src = sources(host.path(), Ok(FEATURES_ON), Ok(RINGS));
        let r = inspect(&src, "eth9").expect("report");
        assert_eq!(r.operstate.as_deref(), Some("up"));
        assert_eq!(r.speed_mbps, Some(10_000));
        assert_eq!(r.mtu, Some(1500));
        assert_eq!(r.driver.as_deref(), Some("virtual"));
        assert_eq!(r.rx_queues, Some(2));
        assert_eq!(r.promiscuous, Some(false));
        assert_eq!(r.rx_dropped, Some(5));
        assert_eq!(r.rx_missed_errors, Some(0));
        assert_eq!(r.cores, Some(8));
        assert_eq!(r.isolated_cpus, Some(vec![2, 3, 4, 5, 6, 7]));
        assert_eq!(r.mem_total_kib, Some(16_384_000));
        assert_eq!(r.rmem_max, Some(212_992));
        assert_eq!(r.netdev_max_backlog, Some(1000));
        assert_eq!(r.softnet_dropped, Some(0));
        assert_eq!(
            r.rings,
            Some(Rings {
                rx: Some(512),
                rx_max: Some(4096),
                tx: Some(1024),
                tx_max: Some(4096)
            })
        );
        assert_eq!(r.offloads.get("generic-receive-offload"), Some(&true));
        assert_eq!(r.offloads.get("large-receive-offload"), Some(&false));
        assert!(r.unreadable.is_empty(), "{:?}", r.unreadable);
    }

    #[test]
    fn advises_what_to_change_and_why() {
        let host = fake_host();
        let src = sources(host.path(), Ok(FEATURES_ON), Ok(RINGS));
        let r = inspect(&src, "eth9").expect("report");

        let off = finding(&r, "offloads");
        assert_eq!(off.len(), 1);
        assert_eq!(off[0].severity, Severity::Warning);
        assert_eq!(
            off[0].fix.split("   #").next(),
            Some("ethtool -K eth9 gro off tso off gso off")
        );
        assert!(
            off[0].message.contains("GRO, TSO, GSO"),
            "{}",
            off[0].message
        );

        let ring = finding(&r, "ring");
        assert_eq!(ring[0].fix, "ethtool -G eth9 rx 4096");

        let promisc = finding(&r, "promiscuous");
        assert_eq!(promisc[0].severity, Severity::Advice);
        assert!(promisc[0].fix.contains("promisc on"));

        let drops = finding(&r, "drops");
        assert_eq!(drops[0].severity, Severity::Warning);
        assert!(
            drops[0].message.contains("rx_dropped 5"),
            "{}",
            drops[0].message
        );

        let sysctl = finding(&r, "sysctl");
        assert_eq!(sysctl.len(), 2);
        assert!(sysctl
            .iter()
            .any(|f| f.fix.contains("net.core.rmem_max=134217728")));
        assert!(sysctl
            .iter()
            .any(|f| f.fix.contains("netdev_max_backlog=250000")));

        let workers = finding(&r, "workers");
        assert!(workers[0].fix.contains("--workers 6"), "{}", workers[0].fix);
        let cpu = finding(&r, "cpu");
        assert!(cpu[0].message.contains("2-7"), "{}", cpu[0].message);
        assert!(
            cpu[0].message.contains("CPUAffinity=2 3 4 5 6 7"),
            "{}",
            cpu[0].message
        );
        assert_eq!(finding(&r, "rss").len(), 1);
        assert!(finding(&r, "link").is_empty());
        assert!(finding(&r, "backlog").is_empty());
    }

    #[test]
    fn a_well_tuned_interface_gets_no_warnings() {
        let host = fake_host();
        let r0 = host.path();
        put(r0, "sys/class/net/eth9/flags", "0x1103\n");
        put(r0, "sys/class/net/eth9/statistics/rx_dropped", "0\n");
        put(r0, "proc/sys/net/core/rmem_max", "134217728\n");
        put(r0, "proc/sys/net/core/netdev_max_backlog", "250000\n");
        let rings = RINGS.replace("RX:\t\t512", "RX:\t\t4096");
        let src = sources(r0, Ok(FEATURES_OFF), Ok(&rings));
        let r = inspect(&src, "eth9").expect("report");
        assert_eq!(r.promiscuous, Some(true));
        let bad: Vec<_> = r.at_least(Severity::Advice).collect();
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(finding(&r, "offloads")[0].severity, Severity::Ok);
        assert_eq!(finding(&r, "ring")[0].severity, Severity::Ok);
    }

    #[test]
    fn veth_without_rings_or_speed_says_what_it_could_not_read() {
        let host = fake_host();
        put(host.path(), "sys/class/net/eth9/speed", "-1\n");
        let src = sources(
            host.path(),
            Ok(FEATURES_OFF),
            Err("ethtool -g eth9 failed: netlink error: Operation not supported"),
        );
        let mut out = Vec::new();
        let r = run_with(&src, "eth9", &mut out).expect("report");
        assert_eq!(r.rings, None);
        assert_eq!(r.speed_mbps, None);
        let what: Vec<&str> = r.unreadable.iter().map(|(w, _)| w.as_str()).collect();
        assert_eq!(what, vec!["link speed", "ring sizes"]);
        let text = String::from_utf8(out).expect("utf8");
        assert!(text.contains("Could not read"), "{text}");
        assert!(
            text.contains("ring sizes: ethtool -g eth9 failed: netlink error"),
            "{text}"
        );
        assert!(text.contains("rings:         ?"), "{text}");
        assert!(text.contains("read-only, nothing changed"), "{text}");
    }

    #[test]
    fn missing_ethtool_is_reported_not_fatal() {
        let host = fake_host();
        let src = Sources {
            root: host.path().to_path_buf(),
            ethtool: EthtoolSource::Program(PathBuf::from("/nonexistent/ethtool")),
        };
        let r = inspect(&src, "eth9").expect("report");
        let why: Vec<&str> = r
            .unreadable
            .iter()
            .filter(|(w, _)| w == "offloads" || w == "ring sizes")
            .map(|(_, y)| y.as_str())
            .collect();
        assert_eq!(why.len(), 2);
        assert!(why.iter().all(|y| y.contains("not installed")), "{why:?}");
    }

    #[test]
    fn empty_interface_dir_reports_every_missing_file() {
        let host = fake_host();
        fs::create_dir_all(host.path().join("sys/class/net/bare0")).expect("mkdir");
        let src = sources(host.path(), Err("x"), Err("y"));
        let r = inspect(&src, "bare0").expect("report");
        let what: Vec<&str> = r.unreadable.iter().map(|(w, _)| w.as_str()).collect();
        for want in [
            "link state",
            "link speed",
            "MTU",
            "RX queues",
            "promiscuous flag",
            "rx_dropped",
            "rx_missed_errors",
            "offloads",
            "ring sizes",
        ] {
            assert!(what.contains(&want), "{want} missing from {what:?}");
        }
        // Host values still read.
        assert_eq!(r.cores, Some(8));
    }

    #[test]
    fn link_down_and_jumbo_mtu_are_flagged() {
        let host = fake_host();
        put(host.path(), "sys/class/net/eth9/operstate", "down\n");
        put(host.path(), "sys/class/net/eth9/mtu", "9000\n");
        let src = sources(host.path(), Ok(FEATURES_OFF), Ok(RINGS));
        let r = inspect(&src, "eth9").expect("report");
        assert_eq!(finding(&r, "link")[0].severity, Severity::Warning);
        assert!(finding(&r, "mtu")[0].message.contains("9018"));
        assert!(finding(&r, "mtu")[0].fix.is_empty());
        put(host.path(), "sys/class/net/eth9/mtu", "65536\n");
        let r = inspect(&src, "eth9").expect("report");
        assert_eq!(
            finding(&r, "mtu")[0].fix.split("   #").next(),
            Some("[capture] snaplen = 65554")
        );
    }

    #[test]
    fn softnet_backlog_drops_are_summed_over_cpus() {
        let host = fake_host();
        put(
            host.path(),
            "proc/net/softnet_stat",
            "000440ea 0000000a 00000001\n0003b79b 00000010 00000000\n",
        );
        let src = sources(host.path(), Ok(FEATURES_OFF), Ok(RINGS));
        let r = inspect(&src, "eth9").expect("report");
        assert_eq!(r.softnet_dropped, Some(26));
        assert!(finding(&r, "backlog")[0].message.starts_with("26 packets"));
    }

    #[test]
    fn features_parser_reads_on_off_and_fixed() {
        let m = parse_features(FEATURES_ON);
        assert_eq!(m.get("tcp-segmentation-offload"), Some(&true));
        assert_eq!(m.get("tx-checksum-ipv4"), Some(&false));
        assert_eq!(m.get("rx-gro-hw"), Some(&false));
        assert!(!m.contains_key("Features for eth9"));
        assert!(parse_features("garbage\n: :\nx: maybe\n").is_empty());
    }

    #[test]
    fn rings_parser_reads_both_sections_and_skips_na() {
        let g = parse_rings(RINGS);
        assert_eq!(
            (g.rx, g.rx_max, g.tx, g.tx_max),
            (Some(512), Some(4096), Some(1024), Some(4096))
        );
        assert_eq!(
            parse_rings("netlink error: Operation not supported\n"),
            Rings::default()
        );
    }

    #[test]
    fn cpulist_parser_handles_ranges_and_rejects_nonsense() {
        assert_eq!(parse_cpulist("0-3,8,10-11\n"), vec![0, 1, 2, 3, 8, 10, 11]);
        assert_eq!(parse_cpulist(""), Vec::<usize>::new());
        assert_eq!(parse_cpulist("5-2,x,3"), vec![3]);
        assert_eq!(parse_cpulist("0-99999999"), Vec::<usize>::new());
        assert_eq!(parse_cpulist("1,1,0-1"), vec![0, 1]);
        assert_eq!(fmt_cpus(&parse_cpulist("0-3,8,10-11")), "0-3,8,10-11");
    }

    #[test]
    fn softnet_parser_ignores_bad_rows() {
        assert_eq!(
            parse_softnet_dropped("a 0000000f\nshort\nb zz\nc 00000001\n"),
            16
        );
        assert_eq!(parse_softnet_dropped(""), 0);
    }
}
