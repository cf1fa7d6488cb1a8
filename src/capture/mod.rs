//! Packet sources: capture files (pcap and pcapng, read in the order
//! given; `-` is standard input) and live interfaces (libpcap).
//!
//! A [`Source`] yields [`RawPacket`]s with nanosecond timestamps and the
//! link type of each packet (a pcapng may mix interfaces). It knows
//! nothing about protocols; the capture thread decodes headers. Errors are
//! phrased for the operator: what failed and what to do about it.
//!
//! Files are read by [`file`] (pcap-parser), not libpcap, which cannot
//! read a pcapng whose interfaces differ and cuts records to a pcap
//! header's snaplen. Each input is opened once: regular files up front (so
//! a bad third file fails before the first is processed; the first
//! [`MAX_OPEN_UP_FRONT`] of them), FIFOs and standard input when their turn
//! comes, as they can be read only once and opening a FIFO waits for its
//! writer. A BPF filter is compiled by libpcap for each link type met and
//! matched with libpcap's own matcher (`pcap_offline_filter`).

mod file;

pub mod linktype;

use crate::time::Timestamp;
use pcap::{Activated, BpfProgram, Capture, Precision};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Regular files opened (and their headers checked) before the first
/// packet; later ones are opened when their turn comes (file descriptors).
pub const MAX_OPEN_UP_FRONT: usize = 64;

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
    /// Link type of this packet (DLT number).
    pub linktype: i32,
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
    File(file::FileReader),
    Live(Capture<pcap::Active>),
}

/// An input file: opened up front, or to be opened when its turn comes.
enum Input {
    Open(PathBuf, file::FileReader),
    Later(PathBuf),
}

/// A packet source: a list of files or one interface.
pub struct Source {
    handle: Option<Handle>,
    files: std::collections::VecDeque<Input>,
    current: String,
    linktype: i32,
    bpf: Option<String>,
    /// File input: the BPF program compiled per link type.
    programs: HashMap<i32, BpfProgram>,
    warnings: Vec<String>,
    /// Total size of all regular input files (progress).
    pub total_bytes: u64,
}

fn pcap_reason(e: &pcap::Error) -> String {
    match e {
        pcap::Error::PcapError(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Whether `path` means standard input.
fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Checks a path and says whether it is a regular file (with its size).
fn check_file(path: &Path) -> Result<Option<u64>, CaptureError> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Err(CaptureError::NotPcap {
            path: path.into(),
            reason: "it is a directory".into(),
        }),
        Ok(m) if m.is_file() => Ok(Some(m.len())),
        // FIFO, character device (/dev/stdin on a pipe), socket.
        Ok(_) => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(CaptureError::Missing(path.into()))
        }
        Err(e) => Err(CaptureError::Unreadable {
            path: path.into(),
            reason: e.to_string(),
        }),
    }
}

/// Opens an input (once) and reads its file header.
fn open_input(path: &Path) -> Result<file::FileReader, CaptureError> {
    let input: Box<dyn std::io::Read + Send> = if is_stdin(path) {
        Box::new(std::io::stdin())
    } else {
        Box::new(
            std::fs::File::open(path).map_err(|e| CaptureError::Unreadable {
                path: path.into(),
                reason: e.to_string(),
            })?,
        )
    };
    let name = if is_stdin(path) {
        PathBuf::from("standard input")
    } else {
        path.to_path_buf()
    };
    file::FileReader::new(&name, input)
}

fn apply_bpf<T: Activated + ?Sized>(cap: &mut Capture<T>, expr: &str) -> Result<(), CaptureError> {
    cap.filter(expr, true).map_err(|e| CaptureError::Bpf {
        expr: expr.into(),
        reason: pcap_reason(&e),
    })
}

/// Compiles a BPF expression for link type `lt` without any capture.
fn compile_bpf(expr: &str, lt: i32) -> Result<BpfProgram, CaptureError> {
    let cap = Capture::dead(pcap::Linktype(lt)).map_err(|e| CaptureError::Pcap {
        what: "libpcap".into(),
        reason: pcap_reason(&e),
    })?;
    cap.compile(expr, true).map_err(|e| CaptureError::Bpf {
        expr: expr.into(),
        reason: pcap_reason(&e),
    })
}

/// Compiles a BPF expression without any capture (for config checks).
pub fn check_bpf(expr: &str) -> Result<(), CaptureError> {
    compile_bpf(expr, pcap::Linktype::ETHERNET.0).map(|_| ())
}

impl Source {
    /// Opens a list of capture files; `-` is standard input (at most once).
    /// Regular files are opened and their headers checked up front, so a
    /// bad third file fails before the first is processed.
    pub fn files(paths: &[PathBuf], bpf: Option<String>) -> Result<Source, CaptureError> {
        if let Some(expr) = &bpf {
            check_bpf(expr)?;
        }
        if paths.iter().filter(|p| is_stdin(p)).count() > 1 {
            return Err(CaptureError::Pcap {
                what: "-".into(),
                reason: "standard input can be read only once; give `-` once".into(),
            });
        }
        let mut total = 0;
        let mut files = std::collections::VecDeque::new();
        for p in paths {
            let regular = if is_stdin(p) { None } else { check_file(p)? };
            match regular {
                Some(len) if files.len() < MAX_OPEN_UP_FRONT => {
                    total += len;
                    files.push_back(Input::Open(p.clone(), open_input(p)?));
                }
                Some(len) => {
                    total += len;
                    files.push_back(Input::Later(p.clone()));
                }
                None => files.push_back(Input::Later(p.clone())),
            }
        }
        let mut s = Source {
            handle: None,
            files,
            current: String::new(),
            linktype: 0,
            bpf,
            programs: HashMap::new(),
            warnings: Vec::new(),
            total_bytes: total,
        };
        s.open_next()?;
        Ok(s)
    }

    fn open_next(&mut self) -> Result<bool, CaptureError> {
        if let Some(Handle::File(f)) = &self.handle {
            self.warnings.extend(f.snaplen_warning());
        }
        match self.files.pop_front() {
            Some(input) => {
                let (p, reader) = match input {
                    Input::Open(p, r) => (p, r),
                    Input::Later(p) => {
                        if !is_stdin(&p) {
                            check_file(&p)?;
                        }
                        let r = open_input(&p)?;
                        (p, r)
                    }
                };
                self.current = if is_stdin(&p) {
                    "standard input".into()
                } else {
                    p.display().to_string()
                };
                self.handle = Some(Handle::File(reader));
                Ok(true)
            }
            None => {
                self.handle = None;
                Ok(false)
            }
        }
    }

    /// Warnings about the files read so far (records longer than the
    /// declared snaplen); drained.
    pub fn take_warnings(&mut self) -> Vec<String> {
        if self.handle.is_none() {
            // Everything read: nothing pending.
        } else if let Some(Handle::File(f)) = &self.handle {
            if self.files.is_empty() {
                self.warnings.extend(f.snaplen_warning());
            }
        }
        std::mem::take(&mut self.warnings)
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
            programs: HashMap::new(),
            warnings: Vec::new(),
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

    /// Hands every packet already read from a capture file (the records
    /// whole in its buffer) to `on_packet` in one loop and returns how
    /// many: 0 when there are none, for a live capture, with a BPF filter
    /// or for a pcapng; [`Source::next`] reads on then.
    #[inline]
    pub fn drain(&mut self, mut on_packet: impl FnMut(RawPacket<'_>)) -> usize {
        if self.bpf.is_some() {
            return 0;
        }
        let Some(Handle::File(f)) = &mut self.handle else {
            return 0;
        };
        let linktype = &mut self.linktype;
        f.drain(|p| {
            *linktype = p.linktype;
            on_packet(RawPacket {
                linktype: p.linktype,
                ts: p.ts,
                wire_len: p.wire_len,
                data: p.data,
            })
        })
    }

    /// Reads the next packet and hands it to `on_packet`.
    pub fn next(&mut self, on_packet: impl FnOnce(RawPacket<'_>)) -> Result<Next, CaptureError> {
        let res = match &mut self.handle {
            None => return Ok(Next::End),
            Some(Handle::File(f)) => {
                let bpf = self.bpf.as_deref();
                let programs = &mut self.programs;
                let linktype = &mut self.linktype;
                let mut err = None;
                let mut on_packet = Some(on_packet);
                loop {
                    let mut filtered = false;
                    let r = f.next(|p| {
                        *linktype = p.linktype;
                        if let Some(expr) = bpf {
                            let prog = match programs.entry(p.linktype) {
                                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                                std::collections::hash_map::Entry::Vacant(v) => {
                                    match compile_bpf(expr, p.linktype) {
                                        Ok(prog) => v.insert(prog),
                                        Err(e) => {
                                            err = Some(e);
                                            return;
                                        }
                                    }
                                }
                            };
                            if !prog.filter(p.data) {
                                filtered = true;
                                return;
                            }
                        }
                        if let Some(cb) = on_packet.take() {
                            cb(RawPacket {
                                linktype: p.linktype,
                                ts: p.ts,
                                wire_len: p.wire_len,
                                data: p.data,
                            });
                        }
                    })?;
                    if let Some(e) = err {
                        return Err(e);
                    }
                    if !filtered {
                        break r;
                    }
                }
            }
            Some(Handle::Live(c)) => match c.next_packet() {
                Ok(p) => {
                    let secs = p.header.ts.tv_sec.max(0) as u64;
                    let frac = p.header.ts.tv_usec.max(0) as u64;
                    // Opened with nanosecond precision: tv_usec holds nanoseconds.
                    let ts = secs.saturating_mul(1_000_000_000).saturating_add(frac);
                    let data = p.data;
                    let wire_len = p.header.len.max(data.len() as u32);
                    on_packet(RawPacket {
                        linktype: self.linktype,
                        ts,
                        wire_len,
                        data,
                    });
                    return Ok(Next::Packet);
                }
                Err(pcap::Error::TimeoutExpired) => return Ok(Next::Idle),
                Err(e) => {
                    return Err(CaptureError::Pcap {
                        what: self.current.clone(),
                        reason: pcap_reason(&e),
                    })
                }
            },
        };
        match res {
            file::Read1::Packet => Ok(Next::Packet),
            file::Read1::End => {
                if self.open_next()? {
                    Ok(Next::FileDone)
                } else {
                    Ok(Next::End)
                }
            }
            file::Read1::Truncated(msg) => {
                if !self.open_next()? {
                    self.handle = None;
                }
                Ok(Next::Truncated(msg))
            }
        }
    }
}
