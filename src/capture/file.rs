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

/// A classic pcap file's record format (not the "modified" one), once its
/// header is read: records are then parsed here, straight from the
/// reader's buffer ([`FileReader::drain`]).
#[derive(Debug, Clone, Copy)]
struct Classic {
    big_endian: bool,
    iface: Iface,
}

/// A capture file being read.
pub(super) struct FileReader {
    name: String,
    reader: Box<dyn PcapReaderIterator + Send>,
    classic: Option<Classic>,
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
            classic: None,
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
                            let iface = Iface {
                                linktype: lt,
                                snaplen: h.snaplen,
                                units: if h.is_nanosecond_precision() {
                                    1_000_000_000
                                } else {
                                    1_000_000
                                },
                                offset_s: 0,
                            };
                            self.ifaces = vec![iface];
                            self.interfaces_seen = 1;
                            self.classic = (!h.is_modified_format()).then_some(Classic {
                                big_endian: h.is_bigendian(),
                                iface,
                            });
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

    /// Hands every whole record already in the buffer to `on_packet`, in
    /// order, and returns how many: the classic pcap records parsed here
    /// in one loop, as [`FileReader::next`] parses them one call at a
    /// time (callgrind: about 150 instructions a packet fewer on the wrk
    /// lab cut). 0 when the buffer holds no whole record or the file is
    /// not a classic pcap: [`FileReader::next`] reads on (refills, ends,
    /// truncations and pcapng are its business).
    pub fn drain(&mut self, mut on_packet: impl FnMut(FilePacket<'_>)) -> usize {
        let Some(c) = self.classic else {
            return 0;
        };
        if self.reader.consumed() == 0 {
            // The file header is still to be returned by `next`.
            return 0;
        }
        let ifc = c.iface;
        let frac_mul = 1_000_000_000 / ifc.units.max(1);
        let data = self.reader.data();
        let mut off = 0;
        let mut n = 0;
        while let Some(h) = data.get(off..off + 16) {
            let word = |i: usize| {
                let b = [h[i], h[i + 1], h[i + 2], h[i + 3]];
                if c.big_endian {
                    u32::from_be_bytes(b)
                } else {
                    u32::from_le_bytes(b)
                }
            };
            let caplen = word(8);
            let start = off + 16;
            let Some(frame) = data.get(start..start + caplen as usize) else {
                break;
            };
            if ifc.snaplen > 0 && caplen > ifc.snaplen {
                self.over_snaplen += 1;
                if caplen > self.over_snaplen_max.1 {
                    self.over_snaplen_max = (ifc.snaplen, caplen);
                }
            }
            let ts = u64::from(word(0))
                .saturating_mul(1_000_000_000)
                .saturating_add(u64::from(word(4)) * frac_mul);
            on_packet(FilePacket {
                linktype: ifc.linktype,
                ts,
                wire_len: word(12).max(caplen),
                data: frame,
            });
            off = start + caplen as usize;
            n += 1;
        }
        if off > 0 {
            self.reader.consume_noshift(off);
        }
        n
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
        read_with(bytes, false)
    }

    /// Every packet and warning, reading with `drain` wherever it has
    /// records and `next` otherwise.
    fn read_all_draining(bytes: Vec<u8>) -> Result<Got, CaptureError> {
        read_with(bytes, true)
    }

    fn read_with(bytes: Vec<u8>, drain: bool) -> Result<Got, CaptureError> {
        let mut r = FileReader::new(
            &PathBuf::from("t.pcapng"),
            Box::new(std::io::Cursor::new(bytes)),
        )?;
        let mut got = Vec::new();
        loop {
            if drain {
                r.drain(|p| got.push((p.linktype, p.ts, p.data.len())));
            }
            let mut one = None;
            match r.next(|p| one = Some((p.linktype, p.ts, p.data.len())))? {
                Read1::Packet => got.extend(one),
                Read1::End => return Ok((got, r.snaplen_warning())),
                Read1::Truncated(m) => return Ok((got, Some(m))),
            }
        }
    }

    /// A classic pcap: header, then (ts_sec, ts_frac, caplen, origlen, data).
    fn classic(big_endian: bool, nanos: bool, snaplen: u32, recs: &[(u32, u32, usize)]) -> Vec<u8> {
        let w = |v: u32| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let magic = if nanos { 0xA1B2_3C4Du32 } else { 0xA1B2_C3D4 };
        let mut p = w(magic).to_vec();
        let h16 = |v: u16| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        p.extend_from_slice(&h16(2));
        p.extend_from_slice(&h16(4));
        p.extend_from_slice(&[0; 8]);
        p.extend_from_slice(&w(snaplen));
        p.extend_from_slice(&w(1));
        for &(sec, frac, len) in recs {
            for v in [sec, frac, len as u32, len as u32 + 4] {
                p.extend_from_slice(&w(v));
            }
            p.extend((0..len).map(|i| i as u8));
        }
        p
    }

    #[test]
    fn draining_classic_records_reads_what_next_reads() {
        let recs: Vec<(u32, u32, usize)> = (0..300u32)
            .map(|i| (1_700_000_000 + i, i * 1000 + 7, (i as usize * 13) % 200))
            .collect();
        for (be, ns) in [(false, false), (true, true), (false, true), (true, false)] {
            let f = classic(be, ns, 150, &recs);
            let plain = read_all(f.clone()).unwrap();
            let drained = read_all_draining(f.clone()).unwrap();
            assert_eq!(plain, drained, "big endian {be}, ns {ns}");
            assert_eq!(plain.0.len(), 300);
            let frac = if ns { 1 } else { 1000 };
            assert_eq!(plain.0[5], (1, 1_700_000_005_000_000_000 + 5007 * frac, 65));
            assert!(plain
                .1
                .unwrap()
                .contains("records are longer than the snaplen"));
            // Cut inside the last record: the same packets, then the same truncation.
            let cut = f[..f.len() - 3].to_vec();
            let (a, b) = (
                read_all(cut.clone()).unwrap(),
                read_all_draining(cut).unwrap(),
            );
            assert_eq!(a, b);
            assert_eq!(a.0.len(), 299);
            assert!(a.1.unwrap().contains("is truncated"));
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
