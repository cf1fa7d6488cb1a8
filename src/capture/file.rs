//! Capture files and standard input, read with `pcap-parser` (rusticata).
//!
//! libpcap cannot read a pcapng whose interfaces differ in link type or
//! snapshot length (what `mergecap` writes for inputs from different
//! interfaces), and silently cuts a classic pcap's records to the snaplen
//! its header declares; tshark reads both. This reader follows tshark:
//!
//! - pcap (micro- and nanosecond, either byte order) and pcapng (any
//!   number of sections and interfaces, each interface with its own link
//!   type, snapshot length, `if_tsresol` and `if_tsoffset`);
//! - every record is decoded whole; records longer than the declared
//!   snaplen are counted and reported in one warning per file;
//! - an interface with a link type spanlens does not decode is an error
//!   that names the file and the interface and says how to split it out;
//! - a record cut by the end of the file is a truncation: the packets
//!   before it are processed and a warning is printed.
//!
//! It reads from any [`Read`], so a FIFO or standard input (`-`) is read
//! once, as it streams.

use super::CaptureError;
use crate::time::Timestamp;
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{Block, PcapBlockOwned, PcapError};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Reader buffer; grown (up to [`MAX_BUFFER`]) for larger blocks. Records
/// are consumed without shifting the buffer (`consume_noshift`): only a
/// refill moves the few bytes of a record cut at the buffer's end to its
/// front, instead of half the buffer being moved every half buffer read
/// (callgrind: about 140 instructions a packet of memmove on small-packet
/// captures).
const BUFFER: usize = 1 << 20;
/// No block is larger than this in a file spanlens reads.
const MAX_BUFFER: usize = 64 << 20;

/// One interface of a pcapng section (or the pcap header).
#[derive(Debug, Clone, Copy)]
struct Iface {
    linktype: i32,
    /// Declared snapshot length (0: none).
    snaplen: u32,
    /// Timestamp units per second.
    units: u64,
    /// Seconds added to every timestamp.
    offset_s: i64,
}

/// A packet as read from a file.
pub(super) struct FilePacket<'a> {
    pub linktype: i32,
    pub ts: Timestamp,
    pub wire_len: u32,
    pub data: &'a [u8],
}

/// What one read produced.
pub(super) enum Read1 {
    /// A packet (handed to the callback).
    Packet,
    /// The file ended cleanly.
    End,
    /// The file ended inside a record or is damaged.
    Truncated(String),
}

/// Reads the first buffer in full (a pipe may hand out a few bytes per
/// read, and the format is recognised from the first read), then passes
/// reads through.
struct FirstFill<R> {
    inner: R,
    first: bool,
}

impl<R: Read> Read for FirstFill<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if !self.first {
            return self.inner.read(buf);
        }
        self.first = false;
        let mut n = 0;
        while n < buf.len() {
            match self.inner.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }
}

/// A capture file being read.
pub(super) struct FileReader {
    name: String,
    reader: Box<dyn PcapReaderIterator + Send>,
    ifaces: Vec<Iface>,
    /// Records longer than their interface's declared snaplen.
    over_snaplen: u64,
    /// (declared snaplen, longest such record).
    over_snaplen_max: (u32, u32),
    /// Interfaces seen over the whole file (link type, snaplen), for messages.
    interfaces_seen: u32,
}

impl FileReader {
    /// Opens `input` (already an open file, FIFO or standard input) named
    /// `path` in messages. Reads the first buffer.
    pub fn new(path: &Path, input: Box<dyn Read + Send>) -> Result<FileReader, CaptureError> {
        let name = path.display().to_string();
        let rd = FirstFill {
            inner: input,
            first: true,
        };
        let reader = pcap_parser::create_reader(BUFFER, rd).map_err(|e| {
            let reason = match e {
                PcapError::Eof => "it is empty".to_string(),
                PcapError::ReadError => "read error".to_string(),
                PcapError::Incomplete(_) | PcapError::UnexpectedEof => {
                    "it ends inside its file header".to_string()
                }
                _ => "unknown file format".to_string(),
            };
            CaptureError::NotPcap {
                path: path.to_path_buf(),
                reason,
            }
        })?;
        Ok(FileReader {
            name,
            reader,
            ifaces: Vec::new(),
            over_snaplen: 0,
            over_snaplen_max: (0, 0),
            interfaces_seen: 0,
        })
    }

    /// The warning about records longer than the declared snaplen, if any.
    pub fn snaplen_warning(&self) -> Option<String> {
        (self.over_snaplen > 0).then(|| {
            format!(
                "{}: {} records are longer than the snaplen its header declares ({} bytes; the longest has {}): decoded them whole, as tshark does",
                self.name, self.over_snaplen, self.over_snaplen_max.0, self.over_snaplen_max.1
            )
        })
    }

    /// Reads the next packet, skipping non-packet blocks, and hands it to
    /// `on_packet`.
    pub fn next(&mut self, on_packet: impl FnOnce(FilePacket<'_>)) -> Result<Read1, CaptureError> {
        let mut on_packet = Some(on_packet);
        loop {
            let offset = match self.reader.next() {
                Ok((offset, block)) => {
                    let r = match block {
                        PcapBlockOwned::LegacyHeader(h) => {
                            let lt = h.network.0;
                            check_linktype(&self.name, lt, None)?;
                            self.ifaces = vec![Iface {
                                linktype: lt,
                                snaplen: h.snaplen,
                                units: if h.is_nanosecond_precision() {
                                    1_000_000_000
                                } else {
                                    1_000_000
                                },
                                offset_s: 0,
                            }];
                            self.interfaces_seen = 1;
                            None
                        }
                        PcapBlockOwned::Legacy(b) => {
                            let Some(ifc) = self.ifaces.first().copied() else {
                                return Err(iface_error(&self.name, 0, "but the file has no header"));
                            };
                            let caplen = b.caplen;
                            let frac = u64::from(b.ts_usec) * (1_000_000_000 / ifc.units);
                            let ts = u64::from(b.ts_sec)
                                .saturating_mul(1_000_000_000)
                                .saturating_add(frac);
                            Some((ifc, caplen, ts, b.origlen, b.data))
                        }
                        PcapBlockOwned::NG(Block::SectionHeader(_)) => {
                            // A new section: interface numbers start again.
                            self.ifaces.clear();
                            None
                        }
                        PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                            let lt = idb.linktype.0;
                            let id = self.ifaces.len();
                            let iname = idb.if_name().and_then(Result::ok).map(str::to_string);
                            check_linktype(&self.name, lt, Some((id, iname)))?;
                            self.ifaces.push(Iface {
                                linktype: lt,
                                snaplen: idb.snaplen,
                                units: idb.ts_resolution().unwrap_or(1_000_000),
                                offset_s: idb.ts_offset(),
                            });
                            self.interfaces_seen += 1;
                            None
                        }
                        PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                            let Some(ifc) = self.ifaces.get(epb.if_id as usize).copied() else {
                                return Err(iface_error(
&self.name,
                                    epb.if_id,
                                    "which no interface description block declares",
                                ));
                            };
                            let units = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                            let ts = units_to_ns(units, ifc.units, ifc.offset_s);
                            let data = epb.data;
                            let data = data.get(..epb.caplen as usize).unwrap_or(data);
                            Some((ifc, epb.caplen, ts, epb.origlen, data))
                        }
                        PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                            let Some(ifc) = self.ifaces.first().copied() else {
                                return Err(iface_error(
                                    &self.name,
                                    0,
                                    "which no interface description block declares",
                                ));
                            };
                            let data = spb.data;
                            let data = data.get(..spb.origlen as usize).unwrap_or(data);
                            let data = if ifc.snaplen > 0 {
                                data.get(..ifc.snaplen as usize).unwrap_or(data)
                            } else {
                                data
                            };
                            // No timestamp in a simple packet block.
                            Some((ifc, data.len() as u32, 0, spb.origlen, data))
                        }
                        PcapBlockOwned::NG(_) => None,
                    };
                    match r {
                        Some((ifc, caplen, ts, origlen, data)) => {
                            if ifc.snaplen > 0 && caplen > ifc.snaplen {
                                self.over_snaplen += 1;
                                if caplen > self.over_snaplen_max.1 {
                                    self.over_snaplen_max = (ifc.snaplen, caplen);
                                }
                            }
                            let pkt = FilePacket {
                                linktype: ifc.linktype,
                                ts,
                                wire_len: origlen.max(data.len() as u32),
                                data,
                            };
                            if let Some(f) = on_packet.take() {
                                f(pkt);
                            }
                            self.reader.consume_noshift(offset);
                            return Ok(Read1::Packet);
                        }
                        None => offset,
                    }
                }
                Err(PcapError::Eof) => return Ok(Read1::End),
                Err(PcapError::Incomplete(_)) => {
                    self.refill()?;
                    continue;
                }
                Err(PcapError::BufferTooSmall) => {
                    let cap = self.reader.data().len().max(BUFFER) * 2;
                    if cap > MAX_BUFFER || !self.reader.grow(cap) {
                        return Ok(Read1::Truncated(format!(
                            "{} has a block larger than {} MiB ({}); processed the packets before it",
                            self.name,
                            MAX_BUFFER >> 20,
                            "the file is damaged"
                        )));
                    }
                    self.refill()?;
                    continue;
                }
                Err(PcapError::UnexpectedEof) => {
                    return Ok(Read1::Truncated(format!(
                        "{} is truncated (its last record is cut short); processed the packets before the cut",
                        self.name
                    )))
                }
                Err(e) => {
                    let reason = match e {
                        PcapError::ReadError => "read error".to_string(),
                        PcapError::NomError(_, k) => format!("unparsable block: {k:?}"),
                        PcapError::OwnedNomError(_, k) => format!("unparsable block: {k:?}"),
                        _ => "unparsable data".to_string(),
                    };
                    return Ok(Read1::Truncated(format!(
                        "{} is damaged ({reason}); processed the packets before it",
                        self.name
                    )));
                }
            };
            self.reader.consume_noshift(offset);
        }
    }

    fn refill(&mut self) -> Result<(), CaptureError> {
        self.reader.refill().map_err(|_| CaptureError::Unreadable {
            path: PathBuf::from(&self.name),
            reason: "read error".into(),
        })
    }
}

fn iface_error(file: &str, id: u32, what: &str) -> CaptureError {
    CaptureError::Pcap {
        what: file.to_string(),
        reason: format!(
            "a packet refers to interface {id}, {what}; the file is damaged (`tshark -r FILE -w fixed.pcapng` may repair it)"
        ),
    }
}

/// Timestamp units (at `units` per second) plus an offset in seconds, as
/// nanoseconds since the epoch.
fn units_to_ns(v: u64, units: u64, offset_s: i64) -> Timestamp {
    let units = units.max(1);
    let ns = (u128::from(v) * 1_000_000_000 / u128::from(units)) as i128;
    let ns = ns + i128::from(offset_s) * 1_000_000_000;
    ns.clamp(0, i128::from(u64::MAX)) as u64
}

fn check_linktype(
    file: &str,
    lt: i32,
    iface: Option<(usize, Option<String>)>,
) -> Result<(), CaptureError> {
    if super::linktype::supported(lt) {
        return Ok(());
    }
    let what = match iface {
        None => file.to_string(),
        Some((id, name)) => format!(
            "{file} interface {id}{} (a pcapng with several interfaces: keep the others with `tshark -r {file} -Y 'frame.interface_id != {id}' -w OUT.pcapng`)",
            name.map(|n| format!(" ({n})")).unwrap_or_default()
        ),
    };
    Err(CaptureError::LinkType { what, linktype: lt })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(kind: u32, body: &[u8]) -> Vec<u8> {
        let mut b = body.to_vec();
        while b.len() % 4 != 0 {
            b.push(0);
        }
        let len = (b.len() + 12) as u32;
        let mut out = kind.to_le_bytes().to_vec();
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&b);
        out.extend_from_slice(&len.to_le_bytes());
        out
    }

    fn shb() -> Vec<u8> {
        let mut body = 0x1A2B_3C4Du32.to_le_bytes().to_vec();
        body.extend_from_slice(&1u16.to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes());
        body.extend_from_slice(&(-1i64).to_le_bytes());
        block(0x0A0D_0D0A, &body)
    }

    fn idb(lt: u16, snaplen: u32, tsresol: Option<u8>) -> Vec<u8> {
        let mut body = lt.to_le_bytes().to_vec();
        body.extend_from_slice(&0u16.to_le_bytes());
        body.extend_from_slice(&snaplen.to_le_bytes());
        if let Some(r) = tsresol {
            body.extend_from_slice(&9u16.to_le_bytes());
            body.extend_from_slice(&1u16.to_le_bytes());
            body.extend_from_slice(&[r, 0, 0, 0]);
            body.extend_from_slice(&[0, 0, 0, 0]);
        }
        block(1, &body)
    }

    fn epb(if_id: u32, ts: u64, data: &[u8]) -> Vec<u8> {
        let mut body = if_id.to_le_bytes().to_vec();
        body.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        body.extend_from_slice(&(ts as u32).to_le_bytes());
        body.extend_from_slice(&(data.len() as u32).to_le_bytes());
        body.extend_from_slice(&(data.len() as u32).to_le_bytes());
        body.extend_from_slice(data);
        block(6, &body)
    }

    type Got = (Vec<(i32, Timestamp, usize)>, Option<String>);

    fn read_all(bytes: Vec<u8>) -> Result<Got, CaptureError> {
        let mut r = FileReader::new(
            &PathBuf::from("t.pcapng"),
            Box::new(std::io::Cursor::new(bytes)),
        )?;
        let mut got = Vec::new();
        loop {
            let mut one = None;
            match r.next(|p| one = Some((p.linktype, p.ts, p.data.len())))? {
                Read1::Packet => got.extend(one),
                Read1::End => return Ok((got, r.snaplen_warning())),
                Read1::Truncated(m) => return Ok((got, Some(m))),
            }
        }
    }

    #[test]
    fn interfaces_keep_their_own_link_type_resolution_and_snaplen() {
        let mut f = shb();
        f.extend(idb(1, 65535, None)); // microseconds
        f.extend(idb(113, 64, Some(9))); // nanoseconds, snaplen 64
        f.extend(epb(0, 1_700_000_000_123_456, &[0u8; 60]));
        f.extend(epb(1, 1_700_000_000_123_456_789, &[0u8; 100]));
        let (got, warn) = read_all(f).unwrap();
        assert_eq!(
            got,
            vec![
                (1, 1_700_000_000_123_456_000, 60),
                (113, 1_700_000_000_123_456_789, 100)
            ]
        );
        let w = warn.unwrap();
        assert!(w.contains("1 records are longer than the snaplen its header declares (64 bytes; the longest has 100)"), "{w}");
    }

    #[test]
    fn an_interface_of_an_unknown_link_type_names_the_file_and_how_to_split_it() {
        let mut f = shb();
        f.extend(idb(1, 65535, None));
        f.extend(idb(147, 65535, None));
        f.extend(epb(0, 1, &[0u8; 60]));
        let e = read_all(f).unwrap_err().to_string();
        assert!(e.contains("t.pcapng interface 1"), "{e}");
        assert!(e.contains("frame.interface_id != 1"), "{e}");
        assert!(e.contains("link type 147"), "{e}");
    }

    #[test]
    fn a_cut_record_is_a_truncation_after_the_packets_before_it() {
        let mut f = shb();
        f.extend(idb(1, 0, None));
        f.extend(epb(0, 5, &[0u8; 60]));
        let mut cut = epb(0, 6, &[0u8; 60]);
        cut.truncate(30);
        f.extend(cut);
        let (got, msg) = read_all(f).unwrap();
        assert_eq!(got.len(), 1);
        assert!(msg.unwrap().contains("is truncated"));
        // Big-endian nanosecond classic pcap.
        let mut p = 0xA1B2_3C4Du32.to_be_bytes().to_vec();
        p.extend_from_slice(&2u16.to_be_bytes());
        p.extend_from_slice(&4u16.to_be_bytes());
        p.extend_from_slice(&[0; 8]);
        p.extend_from_slice(&262_144u32.to_be_bytes());
        p.extend_from_slice(&1u32.to_be_bytes());
        for v in [7u32, 42, 4, 4] {
            p.extend_from_slice(&v.to_be_bytes());
        }
        p.extend_from_slice(&[1, 2, 3, 4]);
        let (got, _) = read_all(p).unwrap();
        assert_eq!(got, vec![(1, 7_000_000_042, 4)]);
    }
}
