//! The MySQL compressed protocol (CLIENT_COMPRESS): unwraps the 7-byte
//! compressed packet framing of one direction into the plain packet
//! stream, streaming.
//!
//! Reference: MySQL client/server protocol, "Compression": each compressed
//! packet is `int<3> compressed length`, `int<1> compressed sequence id`,
//! `int<3> length before compression` (0: the payload is sent as is), then
//! the payload, a zlib stream of its own when compressed. A compressed
//! packet holds any number of plain packets, or a piece of one: the plain
//! bytes are a stream and [`super::session`] frames them as it does on an
//! uncompressed connection.
//!
//! Nothing is buffered but the 7 header bytes: compressed bytes are
//! inflated as they arrive (`flate2`'s streaming [`Decompress`], reset per
//! packet) into a fixed 32 KiB output buffer, so a large or hostile packet
//! costs no more memory than a small one. A corrupt zlib stream skips the
//! rest of its packet (`mysql.decompress_errors`); the plain stream then
//! resynchronises as after a gap.
//!
//! zstd (CLIENT_ZSTD_COMPRESSION_ALGORITHM, MySQL 8.0.18+): the same framing
//! with a zstd frame per packet. `ruzstd` (a pure Rust decoder, no C build)
//! has no push interface, so a zstd packet's payload is buffered, at most
//! [`MAX_ZSTD_PACKET`] bytes (larger ones are skipped and counted as
//! errors), and decoded at its end in 32 KiB pieces.

use flate2::{Decompress, FlushDecompress, Status};
use std::io::Read;

/// Longest zstd-compressed packet buffered for decoding.
pub const MAX_ZSTD_PACKET: usize = 1 << 20;
/// The zstd frame magic number (RFC 8878), little-endian on the wire.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Which compression a connection uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// CLIENT_COMPRESS.
    Zlib,
    /// CLIENT_ZSTD_COMPRESSION_ALGORITHM.
    Zstd,
}

/// Length of a compressed packet header.
pub const HEADER: usize = 7;
/// Output buffer of one inflate step.
const OUT_CHUNK: usize = 32 * 1024;

/// What [`Unwrap::feed`] hands on.
pub enum Piece<'a> {
    /// Plain protocol bytes, in order.
    Plain(&'a [u8]),
    /// Plain bytes were lost (a corrupt compressed packet).
    Lost,
}

/// The compressed framing of one direction.
pub struct Unwrap {
    hdr: [u8; HEADER],
    hdr_len: usize,
    /// Payload bytes of the current compressed packet still to come.
    left: u64,
    /// The current packet's payload is not compressed.
    raw: bool,
    /// The current packet's zlib stream failed: skip its rest.
    broken: bool,
    dec: Option<Box<Decompress>>,
    out: Vec<u8>,
    algorithm: Algorithm,
    /// The algorithm is a guess (picked up mid-stream on a packet sent as
    /// is): the first compressed payload's magic bytes decide it.
    assumed: bool,
    /// The next payload chunk is the first of a compressed packet.
    first_chunk: bool,
    /// The zstd packet being buffered.
    zbuf: Vec<u8>,
    /// Compressed packets seen.
    pub packets: u64,
    /// Corrupt packets.
    pub errors: u64,
}

impl Default for Unwrap {
    fn default() -> Self {
        Unwrap {
            hdr: [0; HEADER],
            hdr_len: 0,
            left: 0,
            raw: false,
            broken: false,
            dec: None,
            out: Vec::new(),
            algorithm: Algorithm::Zlib,
            assumed: false,
            first_chunk: false,
            zbuf: Vec::new(),
            packets: 0,
            errors: 0,
        }
    }
}

fn u24(b: &[u8]) -> u64 {
    u64::from(b[0]) | u64::from(b[1]) << 8 | u64::from(b[2]) << 16
}

impl Unwrap {
    /// The framing of a connection compressed with `algorithm`.
    pub fn new(algorithm: Algorithm) -> Self {
        Unwrap {
            algorithm,
            ..Unwrap::default()
        }
    }

    /// The framing of a connection picked up mid-stream whose algorithm
    /// is not known yet (`guess` until a compressed payload tells).
    pub fn guessed(guess: Algorithm) -> Self {
        Unwrap {
            algorithm: guess,
            assumed: true,
            ..Unwrap::default()
        }
    }

    /// Forgets the packet in progress (after a gap): the next bytes are
    /// taken as the start of a compressed packet.
    pub fn reset(&mut self) {
        self.hdr_len = 0;
        self.left = 0;
        self.broken = false;
        self.zbuf.clear();
    }

    /// `len` bytes were not captured. True when they fell inside the
    /// current packet (its rest is skipped, the next header is known);
    /// false when the framing is lost (the caller looks for a header).
    pub fn gap(&mut self, len: u64) -> bool {
        if self.hdr_len == 0 && self.left > 0 && self.left >= len {
            self.left -= len;
            self.broken = true;
            return true;
        }
        self.reset();
        false
    }

    /// Between compressed packets.
    pub fn at_boundary(&self) -> bool {
        self.hdr_len == 0 && self.left == 0
    }

    /// Unwraps `data`, handing each plain piece to `sink` in order.
    pub fn feed(&mut self, mut data: &[u8], sink: &mut impl FnMut(Piece<'_>)) {
        while !data.is_empty() {
            if self.left == 0 {
                let n = (HEADER - self.hdr_len).min(data.len());
                self.hdr[self.hdr_len..self.hdr_len + n].copy_from_slice(&data[..n]);
                self.hdr_len += n;
                data = &data[n..];
                if self.hdr_len < HEADER {
                    return;
                }
                self.hdr_len = 0;
                self.packets += 1;
                self.left = u24(&self.hdr[0..3]);
                self.raw = u24(&self.hdr[4..7]) == 0;
                self.broken = false;
                self.zbuf.clear();
                self.first_chunk = !self.raw;
                continue;
            }
            if std::mem::take(&mut self.first_chunk) {
                if self.assumed {
                    if data.starts_with(&ZSTD_MAGIC) {
                        self.algorithm = Algorithm::Zstd;
                        self.assumed = false;
                    } else if data.first() == Some(&0x78) {
                        self.algorithm = Algorithm::Zlib;
                        self.assumed = false;
                    }
                }
                match self.algorithm {
                    Algorithm::Zstd if self.left as usize > MAX_ZSTD_PACKET => {
                        self.errors += 1;
                        self.broken = true;
                        sink(Piece::Lost);
                    }
                    Algorithm::Zstd => {}
                    Algorithm::Zlib => match self.dec.as_mut() {
                        Some(d) => d.reset(true),
                        None => self.dec = Some(Box::new(Decompress::new(true))),
                    },
                }
            }
            let n = self.left.min(data.len() as u64) as usize;
            let (chunk, rest) = data.split_at(n);
            data = rest;
            self.left -= n as u64;
            if self.broken {
                continue;
            }
            if self.raw {
                sink(Piece::Plain(chunk));
                continue;
            }
            if self.algorithm == Algorithm::Zstd {
                self.zbuf.extend_from_slice(chunk);
                if self.left == 0 {
                    self.unzstd(sink);
                }
                continue;
            }
            self.inflate(chunk, sink);
        }
    }

    /// Decodes the buffered zstd packet.
    fn unzstd(&mut self, sink: &mut impl FnMut(Piece<'_>)) {
        let frame = std::mem::take(&mut self.zbuf);
        let mut src: &[u8] = &frame;
        let mut ok = false;
        if let Ok(mut dec) = ruzstd::decoding::StreamingDecoder::new(&mut src) {
            let mut out = std::mem::take(&mut self.out);
            out.resize(OUT_CHUNK, 0);
            ok = loop {
                match dec.read(&mut out) {
                    Ok(0) => break true,
                    Ok(n) => sink(Piece::Plain(&out[..n])),
                    Err(_) => break false,
                }
            };
            out.clear();
            self.out = out;
        }
        if !ok {
            self.errors += 1;
            sink(Piece::Lost);
        }
        self.zbuf = frame;
        self.zbuf.clear();
    }

    fn inflate(&mut self, mut input: &[u8], sink: &mut impl FnMut(Piece<'_>)) {
        let Some(dec) = self.dec.as_mut() else {
            return;
        };
        if self.out.capacity() < OUT_CHUNK {
            self.out = Vec::with_capacity(OUT_CHUNK);
        }
        loop {
            self.out.clear();
            let (i0, o0) = (dec.total_in(), dec.total_out());
            let st = dec.decompress_vec(input, &mut self.out, FlushDecompress::None);
            let used = (dec.total_in() - i0) as usize;
            let made = (dec.total_out() - o0) as usize;
            input = input.get(used..).unwrap_or(&[]);
            if made > 0 {
                sink(Piece::Plain(&self.out));
            }
            match st {
                Err(_) => {
                    self.errors += 1;
                    self.broken = true;
                    sink(Piece::Lost);
                    return;
                }
                Ok(Status::StreamEnd) => return,
                Ok(_) if used == 0 && made == 0 => return,
                Ok(_) => {}
            }
        }
    }
}

/// `b` starts with a compressed packet header (a connection picked up
/// mid-stream): a zlib stream header after it when the length before
/// compression is set, else a plain packet header whose length fills the
/// compressed payload (or a chain of them).
pub fn looks_compressed(b: &[u8]) -> bool {
    detect(b).is_some()
}

/// [`looks_compressed`], and with which algorithm (a packet sent as is
/// tells none: zlib is assumed, the more common).
pub fn detect(b: &[u8]) -> Option<Algorithm> {
    if b.len() < HEADER + 2 {
        return None;
    }
    let clen = u24(&b[0..3]);
    let ulen = u24(&b[4..7]);
    if clen == 0 {
        return None;
    }
    if ulen > 0 && b.get(HEADER..HEADER + 4) == Some(&ZSTD_MAGIC[..]) {
        return (clen <= ulen + 32).then_some(Algorithm::Zstd);
    }
    zlib_or_raw(b, clen, ulen).then_some(Algorithm::Zlib)
}

fn zlib_or_raw(b: &[u8], clen: u64, ulen: u64) -> bool {
    if ulen > 0 {
        // RFC 1950: CM 8, window <= 32K, FCHECK; MySQL uses no dictionary.
        let (cmf, flg) = (b[7], b[8]);
        // Compressed only when that makes it smaller (MySQL sends the
        // payload as is otherwise), and at most zlib's 1032:1.
        return cmf == 0x78
            && flg & 0x20 == 0
            && (u16::from(cmf) << 8 | u16::from(flg)) % 31 == 0
            && clen <= ulen + 16
            && ulen <= clen.saturating_mul(1032) + 64;
    }
    // Plain packets inside, their lengths adding up to the compressed one.
    let mut off = 0u64;
    while off < clen {
        let at = HEADER + off as usize;
        let Some(h) = b.get(at..at + 4) else {
            return false;
        };
        off += u24(&h[0..3]) + 4;
    }
    off == clen
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zlib(b: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }

    fn packet(seq: u8, payload: &[u8], compress: bool) -> Vec<u8> {
        let (body, ulen) = if compress {
            (zlib(payload), payload.len())
        } else {
            (payload.to_vec(), 0)
        };
        let mut v = (body.len() as u32).to_le_bytes()[..3].to_vec();
        v.push(seq);
        v.extend_from_slice(&(ulen as u32).to_le_bytes()[..3]);
        v.extend(body);
        v
    }

    fn unwrap_all(u: &mut Unwrap, wire: &[u8], step: usize) -> (Vec<u8>, usize) {
        let mut plain = Vec::new();
        let mut lost = 0;
        for c in wire.chunks(step) {
            u.feed(c, &mut |p| match p {
                Piece::Plain(b) => plain.extend_from_slice(b),
                Piece::Lost => lost += 1,
            });
        }
        (plain, lost)
    }

    #[test]
    fn compressed_and_raw_packets_give_the_plain_stream_whatever_the_split() {
        let big: Vec<u8> = (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let mut wire = packet(0, b"\x05\x00\x00\x00\x03SELECT", false);
        wire.extend(packet(1, &big, true));
        wire.extend(packet(2, b"tail", true));
        let mut want = b"\x05\x00\x00\x00\x03SELECT".to_vec();
        want.extend_from_slice(&big);
        want.extend_from_slice(b"tail");
        for step in [1, 7, 1448, wire.len()] {
            let mut u = Unwrap::default();
            let (plain, lost) = unwrap_all(&mut u, &wire, step);
            assert_eq!(lost, 0);
            assert_eq!(plain, want, "step {step}");
            assert_eq!(u.packets, 3);
            assert!(u.at_boundary());
        }
    }

    #[test]
    fn a_corrupt_packet_is_lost_and_the_next_one_decodes() {
        let mut bad = packet(0, &[7u8; 5000], true);
        let n = bad.len();
        bad[HEADER + 4..n - 4].fill(0xff);
        bad.extend(packet(1, b"after", true));
        let mut u = Unwrap::default();
        let (plain, lost) = unwrap_all(&mut u, &bad, 100);
        assert_eq!(lost, 1);
        assert!(plain.ends_with(b"after"));
        assert_eq!(u.errors, 1);
    }

    #[test]
    fn compressed_headers_are_recognised_plain_packets_are_not() {
        assert!(looks_compressed(&packet(0, &[b'x'; 300], true)));
        assert!(looks_compressed(&packet(
            0,
            b"\x07\x00\x00\x00\x03SELECT",
            false
        )));
        // Plain packets: a COM_QUERY and an OK packet.
        assert!(!looks_compressed(b"\x09\x00\x00\x00\x03SELECT 1"));
        assert!(!looks_compressed(
            b"\x07\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00"
        ));
    }
}
