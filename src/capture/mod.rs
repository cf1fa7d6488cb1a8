//! Packet sources through libpcap: capture files (pcap and pcapng, read in
//! the order given) and live interfaces.
//!
//! A [`Source`] yields [`RawPacket`]s with nanosecond timestamps. It knows
//! nothing about protocols; the capture thread decodes headers. Errors are
//! phrased for the operator: what failed and what to do about it.

pub mod linktype;

use crate::time::Timestamp;
use pcap::{Activated, Capture, Precision};
use std::path::{Path, PathBuf};

/// Why a capture could not be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The capture file does not exist.
    #[error("capture file {0} does not exist; check the path")]
    Missing(PathBuf),
    /// The capture file cannot be read.
    #[error("cannot read capture file {path}: {reason}; check its permissions")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The OS error.
        reason: String,
    },
    /// libpcap does not recognise the file.
    #[error("{path} is not a pcap or pcapng capture ({reason}); give a file written by tcpdump, tshark or dumpcap")]
    NotPcap {
        /// The file.
        path: PathBuf,
        /// libpcap's message.
        reason: String,
    },
    /// The interface does not exist.
    #[error("unknown interface '{name}'; available: {available}")]
    UnknownInterface {
        /// The name given.
        name: String,
        /// The interfaces libpcap lists.
        available: String,
    },
    /// Opening the interface was refused for lack of privilege.
    #[error("no permission to capture on '{name}' ({reason}); run as root or grant the binary CAP_NET_RAW and CAP_NET_ADMIN (setcap cap_net_raw,cap_net_admin=eip $(command -v spanlens))")]
    Permission {
        /// The interface.
        name: String,
        /// libpcap's message.
        reason: String,
    },
    /// A BPF expression libpcap rejected.
    #[error("bad BPF filter '{expr}': {reason}")]
    Bpf {
        /// The expression.
        expr: String,
        /// libpcap's message.
        reason: String,
    },
    /// A link type the decoder does not handle.
    #[error("{what} has link type {linktype}, which spanlens does not decode (supported: Ethernet, Linux cooked SLL/SLL2, BSD loopback, raw IP)")]
    LinkType {
        /// File or interface.
        what: String,
        /// DLT number.
        linktype: i32,
    },
    /// Any other libpcap failure.
    #[error("{what}: {reason}")]
    Pcap {
        /// File or interface.
        what: String,
        /// libpcap's message.
        reason: String,
    },
}

/// One packet as read.
#[derive(Debug)]
pub struct RawPacket<'a> {
    /// Capture time.
    pub ts: Timestamp,
    /// Length on the wire.
    pub wire_len: u32,
    /// Captured bytes.
    pub data: &'a [u8],
}

/// Live capture settings.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// Interface name.
    pub interface: String,
    /// Bytes captured per packet.
    pub snaplen: i32,
    /// Kernel buffer in MiB.
    pub buffer_mb: u32,
    /// Promiscuous mode.
    pub promiscuous: bool,
    /// Immediate mode.
    pub immediate: bool,
}

/// What a read attempt produced.
#[derive(Debug)]
pub enum Next {
    /// A packet (already handed to the callback).
    Packet,
    /// Live capture: nothing arrived within the read timeout.
    Idle,
    /// A file ended cleanly; the next one (if any) is open.
    FileDone,
    /// A file ended with a truncated record; the next one (if any) is open.
    Truncated(String),
    /// No more input.
    End,
}

/// Kernel statistics of a live capture.
#[derive(Debug, Clone, Copy, Default)]
pub struct KernelStats {
    /// Packets received by the filter.
    pub received: u64,
    /// Dropped for lack of buffer space.
    pub dropped: u64,
    /// Dropped by the interface or driver.
    pub if_dropped: u64,
}

enum Handle {
    File(Capture<pcap::Offline>),
    Live(Capture<pcap::Active>),
}

/// A packet source: a list of files or one interface.
pub struct Source {
    handle: Option<Handle>,
    files: std::collections::VecDeque<PathBuf>,
    current: String,
    linktype: i32,
    bpf: Option<String>,
    /// Total size of all input files (progress).
    pub total_bytes: u64,
}

fn pcap_reason(e: &pcap::Error) -> String {
    match e {
        pcap::Error::PcapError(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Checks a path before libpcap sees it, for clearer errors.
fn check_file(path: &Path) -> Result<u64, CaptureError> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Err(CaptureError::NotPcap {
            path: path.into(),
            reason: "it is a directory".into(),
        }),
        Ok(m) => {
            std::fs::File::open(path).map_err(|e| CaptureError::Unreadable {
                path: path.into(),
                reason: e.to_string(),
            })?;
            Ok(m.len())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(CaptureError::Missing(path.into()))
        }
        Err(e) => Err(CaptureError::Unreadable {
            path: path.into(),
            reason: e.to_string(),
        }),
    }
}

fn open_file(
    path: &Path,
    bpf: Option<&str>,
) -> Result<(Capture<pcap::Offline>, i32), CaptureError> {
    let mut cap = Capture::from_file_with_precision(path, Precision::Nano).map_err(|e| {
        CaptureError::NotPcap {
            path: path.into(),
            reason: pcap_reason(&e),
        }
    })?;
    let lt = cap.get_datalink().0;
    if !linktype::supported(lt) {
        return Err(CaptureError::LinkType {
            what: path.display().to_string(),
            linktype: lt,
        });
    }
    if let Some(expr) = bpf {
        apply_bpf(&mut cap, expr)?;
    }
    Ok((cap, lt))
}

fn apply_bpf<T: Activated + ?Sized>(cap: &mut Capture<T>, expr: &str) -> Result<(), CaptureError> {
    cap.filter(expr, true).map_err(|e| CaptureError::Bpf {
        expr: expr.into(),
        reason: pcap_reason(&e),
    })
}

/// Compiles a BPF expression without any capture (for config checks).
pub fn check_bpf(expr: &str) -> Result<(), CaptureError> {
    let cap = Capture::dead(pcap::Linktype::ETHERNET).map_err(|e| CaptureError::Pcap {
        what: "libpcap".into(),
        reason: pcap_reason(&e),
    })?;
    cap.compile(expr, true)
        .map(|_| ())
        .map_err(|e| CaptureError::Bpf {
            expr: expr.into(),
            reason: pcap_reason(&e),
        })
}

impl Source {
    /// Opens a list of capture files (all are checked up front, so a bad
    /// third file fails before the first is processed).
    pub fn files(paths: &[PathBuf], bpf: Option<String>) -> Result<Source, CaptureError> {
        let mut total = 0;
        for p in paths {
            total += check_file(p)?;
            open_file(p, bpf.as_deref())?;
        }
        let mut s = Source {
            handle: None,
            files: paths.iter().cloned().collect(),
            current: String::new(),
            linktype: 0,
            bpf,
            total_bytes: total,
        };
        s.open_next()?;
        Ok(s)
    }

    fn open_next(&mut self) -> Result<bool, CaptureError> {
        match self.files.pop_front() {
            Some(p) => {
                let (cap, lt) = open_file(&p, self.bpf.as_deref())?;
                self.current = p.display().to_string();
                self.linktype = lt;
                self.handle = Some(Handle::File(cap));
                Ok(true)
            }
            None => {
                self.handle = None;
                Ok(false)
            }
        }
    }

    /// Opens a live interface.
    pub fn live(opts: &LiveOptions, bpf: Option<String>) -> Result<Source, CaptureError> {
        let devices = pcap::Device::list().unwrap_or_default();
        let known = devices.iter().any(|d| d.name == opts.interface);
        if !known && !Path::new("/sys/class/net").join(&opts.interface).exists() {
            let available = devices
                .iter()
                .map(|d| d.name.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            return Err(CaptureError::UnknownInterface {
                name: opts.interface.clone(),
                available: if available.is_empty() {
                    "none visible (no permission to list?)".into()
                } else {
                    available
                },
            });
        }
        let inactive =
            Capture::from_device(opts.interface.as_str()).map_err(|e| CaptureError::Pcap {
                what: opts.interface.clone(),
                reason: pcap_reason(&e),
            })?;
        let cap = inactive
            .snaplen(opts.snaplen)
            .promisc(opts.promiscuous)
            .immediate_mode(opts.immediate)
            .buffer_size((opts.buffer_mb as i32).saturating_mul(1 << 20))
            .precision(Precision::Nano)
            .timeout(100)
            .open();
        let mut cap = match cap {
            Ok(c) => c,
            Err(e) => {
                let reason = pcap_reason(&e);
                let lower = reason.to_lowercase();
                if lower.contains("permission") || lower.contains("not permitted") {
                    return Err(CaptureError::Permission {
                        name: opts.interface.clone(),
                        reason,
                    });
                }
                if lower.contains("no such device") || lower.contains("doesn't exist") {
                    return Err(CaptureError::UnknownInterface {
                        name: opts.interface.clone(),
                        available: devices
                            .iter()
                            .map(|d| d.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    });
                }
                return Err(CaptureError::Pcap {
                    what: opts.interface.clone(),
                    reason,
                });
            }
        };
        let lt = cap.get_datalink().0;
        if !linktype::supported(lt) {
            return Err(CaptureError::LinkType {
                what: opts.interface.clone(),
                linktype: lt,
            });
        }
        if let Some(expr) = &bpf {
            apply_bpf(&mut cap, expr)?;
        }
        // Non-blocking reads: with TPACKET_V3 a blocking read on a link that
        // never carries a packet may not return at the read timeout, and
        // then neither SIGTERM nor wall-clock ticks would be noticed. The
        // capture loop sleeps briefly when a read finds nothing.
        let cap = cap.setnonblock().map_err(|e| CaptureError::Pcap {
            what: opts.interface.clone(),
            reason: pcap_reason(&e),
        })?;
        Ok(Source {
            handle: Some(Handle::Live(cap)),
            files: Default::default(),
            current: opts.interface.clone(),
            linktype: lt,
            bpf,
            total_bytes: 0,
        })
    }

    /// Link type of the packets [`Source::next`] returns now.
    pub fn linktype(&self) -> i32 {
        self.linktype
    }

    /// The file or interface being read.
    pub fn current(&self) -> &str {
        &self.current
    }

    /// Whether this is a live capture.
    pub fn is_live(&self) -> bool {
        matches!(self.handle, Some(Handle::Live(_)))
    }

    /// Kernel statistics (live only).
    pub fn kernel_stats(&mut self) -> Option<KernelStats> {
        match &mut self.handle {
            Some(Handle::Live(c)) => c.stats().ok().map(|s| KernelStats {
                received: s.received.into(),
                dropped: s.dropped.into(),
                if_dropped: s.if_dropped.into(),
            }),
            _ => None,
        }
    }

    /// Reads the next packet and hands it to `on_packet`.
    pub fn next(&mut self, on_packet: impl FnOnce(RawPacket<'_>)) -> Result<Next, CaptureError> {
        let res = match &mut self.handle {
            None => return Ok(Next::End),
            Some(Handle::File(c)) => c.next_packet(),
            Some(Handle::Live(c)) => c.next_packet(),
        };
        let res = match res {
            Ok(p) => {
                let secs = p.header.ts.tv_sec.max(0) as u64;
                let frac = p.header.ts.tv_usec.max(0) as u64;
                // Opened with nanosecond precision: tv_usec holds nanoseconds.
                let ts = secs.saturating_mul(1_000_000_000).saturating_add(frac);
                let data = p.data;
                let wire_len = p.header.len.max(data.len() as u32);
                on_packet(RawPacket { ts, wire_len, data });
                return Ok(Next::Packet);
            }
            Err(e) => e,
        };
        match res {
            pcap::Error::TimeoutExpired => Ok(Next::Idle),
            pcap::Error::NoMorePackets => {
                if self.open_next()? {
                    Ok(Next::FileDone)
                } else {
                    Ok(Next::End)
                }
            }
            e => {
                let reason = pcap_reason(&e);
                if self.is_live() {
                    return Err(CaptureError::Pcap {
                        what: self.current.clone(),
                        reason,
                    });
                }
                let msg = format!(
                    "{} is truncated ({reason}); processed the packets before the cut",
                    self.current
                );
                if self.open_next()? {
                    Ok(Next::Truncated(msg))
                } else {
                    self.handle = None;
                    Ok(Next::Truncated(msg))
                }
            }
        }
    }
}
