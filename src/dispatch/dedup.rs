//! Exact duplicate frames, recognised in the capture thread.
//!
//! A SPAN session that mirrors both directions of two ports (the server's
//! and the uplink's) hands every packet over twice, a few microseconds
//! apart, sometimes the copy first. Fed twice, TCP reassembly is right
//! (the second copy is a retransmission), but every metric doubles and
//! copies arriving after a connection closed look like new traffic.
//!
//! [`Dedup`] remembers the last [`WINDOW`] frames in a ring and calls a
//! frame a duplicate when an identical one (the same wire and captured
//! lengths, every captured byte the same) is in the ring and that frame
//! is at most [`MAX_AGE`] of packet time away (either way: a copy may
//! carry an earlier timestamp). Frames of up to [`SLOT`] bytes are kept
//! whole in the ring and compared byte for byte; each also has a cheap
//! 64-bit key (the lengths and four 8-byte words: the IP header's length
//! and id, the TCP sequence and acknowledgement numbers over IPv4 and
//! over IPv6, and the frame's last eight bytes), and only a frame whose
//! key is in the ring is compared. Copying a frame costs a fraction of
//! hashing it (callgrind, the wrk lab cut of 266-byte frames: about 200
//! instructions a packet for the whole-frame hash and the ring, against
//! about 120 now, 50 of them the copy). Longer frames are remembered by a 64-bit hash of all
//! their bytes (fixed-seed ahash over the lengths and every byte), as
//! before. The ring is a fixed 64 KiB array allocated once: nothing is
//! allocated per packet. Beside the ring, a count per value of a key's
//! low [`LOW_BITS`] bits says how many remembered keys end in them: when
//! the new frame's count is zero (about 97 frames in 100 without copies)
//! there is nothing to scan.
//!
//! The whole frame is compared, not a prefix: under encapsulation the first
//! bytes are only the outer headers (VXLAN in VXLAN puts the inner TCP
//! header past byte 128) and a tunnel's outer UDP checksum is usually 0,
//! so two different inner segments of the same length share any prefix of
//! headers. Only a frame identical byte for byte is a copy.
//!
//! A VXLAN frame whose inner frame the capture thread's fast path takes
//! is judged by its inner frame and VNI instead
//! ([`Dedup::is_duplicate_in_tunnel`]): a mirror that doubles the
//! underlay hands over byte-identical outer frames, whose inner frames and
//! VNIs are identical too, so every copy found before is still found; the
//! same inner frame in the same VNI behind other outer headers (mirrored
//! before and after an underlay router, or a head-end replica of a
//! broadcast to several VTEPs) is one packet of the overlay and is now a
//! copy as well; and 50 bytes fewer are compared.
//!
//! What it cannot tell apart: two frames a real sender made identical
//! within the window. Over IPv4 a stack's IP ID and the TCP timestamp
//! option differ between packets; over IPv6 a repeated duplicate ACK
//! without timestamps can be byte-identical. `[capture] keep_duplicates`
//! turns the check off.

use crate::time::{Timestamp, MILLISECOND};

/// Frames remembered.
pub const WINDOW: usize = 32;
/// Packet time within which an identical frame is a copy.
pub const MAX_AGE: Timestamp = 50 * MILLISECOND;
/// Frames up to this many bytes are kept and compared whole; longer ones
/// are remembered by a hash of all their bytes.
pub const SLOT: usize = 2048;

/// Bits of a key that index the counts beside the ring.
const LOW_BITS: u32 = 10;
const LOW_MASK: u64 = (1 << LOW_BITS) - 1;

/// Which frames can be copies of each other: a plain frame, or the inner
/// frame of one tunnel.
const PLAIN: u64 = 0;

/// The recent-frame window.
#[derive(Debug)]
pub struct Dedup {
    hasher: ahash::RandomState,
    /// Per remembered frame: its key (the cheap key, or the hash of a
    /// frame longer than [`SLOT`]).
    keys: [u64; WINDOW],
    times: [Timestamp; WINDOW],
    /// Captured length (`u32::MAX`: forgotten, matches nothing).
    lens: [u32; WINDOW],
    /// Wire length and tunnel ([`PLAIN`], or 1 << 32 | tunnel id).
    tags: [(u32, u64); WINDOW],
    /// The frames of up to [`SLOT`] bytes, one slot each.
    frames: Box<[u8]>,
    /// Remembered keys (the first `filled`) per value of their low bits.
    low: [u8; 1 << LOW_BITS],
    next: usize,
    filled: usize,
}

impl Default for Dedup {
    fn default() -> Self {
        Dedup {
            hasher: ahash::RandomState::with_seeds(
                0x5851_f42d_4c95_7f2d,
                0x1405_7b7e_f767_814f,
                0x9e37_79b9_7f4a_7c15,
                0xbf58_476d_1ce4_e5b9,
            ),
            keys: [0; WINDOW],
            times: [0; WINDOW],
            lens: [u32::MAX; WINDOW],
            tags: [(0, 0); WINDOW],
            frames: vec![0; WINDOW * SLOT].into_boxed_slice(),
            low: [0; 1 << LOW_BITS],
            next: 0,
            filled: 0,
        }
    }
}

/// The little-endian word at `at` (or, for a frame shorter than eight
/// bytes, the frame zero-padded).
#[inline(always)]
fn word(f: &[u8], at: usize) -> u64 {
    let at = at.min(f.len().saturating_sub(8));
    match f.get(at..at + 8) {
        Some(w) => u64::from_le_bytes(w.try_into().unwrap_or([0; 8])),
        None => {
            let mut b = [0u8; 8];
            let n = f.len().min(8);
            b[..n].copy_from_slice(&f[..n]);
            u64::from_le_bytes(b)
        }
    }
}

impl Dedup {
    /// Whether `frame` (with `wire_len` on the wire, seen at `ts`) repeats
    /// one of the recent frames. Remembers it when it does not.
    #[inline]
    pub fn is_duplicate(&mut self, ts: Timestamp, wire_len: u32, frame: &[u8]) -> bool {
        self.check(ts, (wire_len, PLAIN), frame)
    }

    /// Whether the frame tunnelled at `inner` in `frame` (tunnel id
    /// `id`) repeats a recent one: the same inner frame through the same
    /// tunnel, whatever the outer headers (an underlay router's TTL and
    /// MACs, a head-end replica's outer destination).
    #[inline]
    pub fn is_duplicate_in_tunnel(
        &mut self,
        ts: Timestamp,
        wire_len: u32,
        frame: &[u8],
        inner: usize,
        id: u32,
    ) -> bool {
        let f = frame.get(inner..).unwrap_or(&[]);
        let tag = (
            wire_len.saturating_sub(inner as u32),
            1 << 32 | u64::from(id),
        );
        self.check(ts, tag, f)
    }

    /// The key of a frame: cheap for frames kept whole, a hash of every
    /// byte for longer ones.
    #[inline(always)]
    fn key(&self, tag: (u32, u64), f: &[u8]) -> u64 {
        if f.len() > SLOT {
            use std::hash::{BuildHasher, Hasher};
            let mut s = self.hasher.build_hasher();
            s.write_u32(tag.0);
            s.write_u64(tag.1);
            s.write_usize(f.len());
            s.write(f);
            return s.finish();
        }
        const K: [u64; 4] = [
            0x9e37_79b9_7f4a_7c15,
            0xc2b2_ae3d_27d4_eb4f,
            0x1656_67b1_9e37_79f9,
            0x27d4_eb2f_1656_67c5,
        ];
        // The IP length and id, the IPv4 TCP sequence and acknowledgement
        // numbers, the IPv6 ones, the last bytes (a payload's end).
        let a = (word(f, 16) ^ K[0]).wrapping_mul(K[1]);
        let b = (word(f, 38) ^ K[2]).wrapping_mul(K[3]);
        let c = (word(f, 58) ^ K[1]).wrapping_mul(K[0]);
        let d = (word(f, f.len()) ^ K[3]).wrapping_mul(K[2]);
        let l = (u64::from(tag.0) << 32 | f.len() as u64) ^ tag.1.rotate_left(17);
        let x = a ^ b.rotate_left(21) ^ c.rotate_left(42) ^ d.rotate_left(11) ^ l;
        // Every input bit into the low bits (the ring's filter).
        let x = (x ^ (x >> 32)).wrapping_mul(K[0]);
        x ^ (x >> 29)
    }

    #[inline(always)]
    fn check(&mut self, ts: Timestamp, tag: (u32, u64), f: &[u8]) -> bool {
        let k = self.key(tag, f);
        let len = f.len() as u32;
        if self.low[(k & LOW_MASK) as usize] != 0 {
            for i in 0..self.filled {
                if self.keys[i] == k
                    && self.lens[i] == len
                    && self.tags[i] == tag
                    && ts.abs_diff(self.times[i]) <= MAX_AGE
                    && (f.len() > SLOT || self.frames.get(i * SLOT..i * SLOT + f.len()) == Some(f))
                {
                    // Forget it: a third identical frame is not a copy of the
                    // first (a SPAN doubles, it does not triple).
                    self.keys[i] = !k;
                    self.lens[i] = u32::MAX;
                    self.low[(k & LOW_MASK) as usize] -= 1;
                    self.low[(!k & LOW_MASK) as usize] += 1;
                    return true;
                }
            }
        }
        let i = self.next;
        if self.filled == WINDOW {
            self.low[(self.keys[i] & LOW_MASK) as usize] -= 1;
        } else {
            self.filled += 1;
        }
        self.keys[i] = k;
        self.times[i] = ts;
        self.lens[i] = len;
        self.tags[i] = tag;
        if f.len() <= SLOT {
            if let Some(slot) = self.frames.get_mut(i * SLOT..i * SLOT + f.len()) {
                slot.copy_from_slice(f);
            }
        }
        self.low[(k & LOW_MASK) as usize] += 1;
        self.next = (i + 1) % WINDOW;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_is_a_duplicate_once_and_only_within_the_window() {
        let mut d = Dedup::default();
        let a = b"frame a".as_slice();
        let b = b"frame b".as_slice();
        assert!(!d.is_duplicate(1000, 7, a));
        assert!(!d.is_duplicate(1001, 7, b));
        // The copy, stamped earlier than the original.
        assert!(d.is_duplicate(999, 7, a));
        // A third identical frame is new traffic.
        assert!(!d.is_duplicate(1002, 7, a));
        // Same bytes, another wire length (cut by the snaplen): not a copy.
        assert!(!d.is_duplicate(1003, 70, b));
        // Same first 128 bytes (the outer headers of a nested tunnel), a
        // different inner packet further on: not a copy.
        let mut x = vec![0u8; 200];
        let mut y = x.clone();
        y[150] = 1;
        assert!(!d.is_duplicate(1004, 200, &x));
        assert!(!d.is_duplicate(1005, 200, &y));
        x[150] = 1;
        assert!(d.is_duplicate(1006, 200, &x));
        // Too late.
        assert!(!d.is_duplicate(1001 + MAX_AGE + 1, 7, b));
        // Pushed out of the window by WINDOW other frames.
        let mut d = Dedup::default();
        assert!(!d.is_duplicate(0, 1, b"x"));
        for i in 0..WINDOW as u32 {
            assert!(!d.is_duplicate(0, 1, &i.to_le_bytes()));
        }
        assert!(!d.is_duplicate(0, 1, b"x"));
    }

    #[test]
    fn a_tunnelled_copy_is_judged_by_its_inner_frame_and_tunnel() {
        let inner: Vec<u8> = (0..100u8).collect();
        let wrap = |outer: u8| [vec![outer; 50], inner.clone()].concat();
        let mut d = Dedup::default();
        assert!(!d.is_duplicate_in_tunnel(0, 150, &wrap(1), 50, 77));
        // The same inner frame in another tunnel: another tenant's packet.
        assert!(!d.is_duplicate_in_tunnel(1, 150, &wrap(1), 50, 78));
        // Behind other outer headers (an underlay router's TTL, another
        // VTEP), in the same tunnel: a copy.
        assert!(d.is_duplicate_in_tunnel(2, 150, &wrap(2), 50, 77));
        // The byte-identical outer frame is a copy too (of the VNI 78 one).
        assert!(d.is_duplicate_in_tunnel(3, 150, &wrap(1), 50, 78));
        // Another inner frame: not a copy; nor is the inner frame unwrapped.
        let mut other = wrap(1);
        other[120] ^= 1;
        assert!(!d.is_duplicate_in_tunnel(4, 150, &other, 50, 77));
        assert!(!d.is_duplicate(5, 100, &inner));
    }

    /// Frames longer than a slot are remembered by their hash: the same
    /// answers for them.
    #[test]
    fn long_frames_are_judged_by_all_their_bytes() {
        let mut d = Dedup::default();
        let x: Vec<u8> = (0..SLOT as u32 + 900).map(|i| (i * 7) as u8).collect();
        let mut y = x.clone();
        y[SLOT + 500] ^= 0x40;
        assert!(!d.is_duplicate(0, x.len() as u32, &x));
        assert!(!d.is_duplicate(1, y.len() as u32, &y));
        assert!(d.is_duplicate(2, y.len() as u32, &y));
        assert!(d.is_duplicate(3, x.len() as u32, &x));
        assert!(!d.is_duplicate(4, x.len() as u32, &x));
        // A slot's worth and one byte more or less: kept apart.
        let a = vec![5u8; SLOT];
        let b = vec![5u8; SLOT + 1];
        assert!(!d.is_duplicate(5, SLOT as u32 + 1, &a));
        assert!(!d.is_duplicate(6, SLOT as u32 + 1, &b));
        assert!(d.is_duplicate(7, SLOT as u32 + 1, &b));
        assert!(d.is_duplicate(8, SLOT as u32 + 1, &a));
    }

    /// The low-byte counts always match the remembered keys, and the
    /// answers are those of a plain scan of a ring of whole frames every
    /// time, over a stream with many repeats (some within and some beyond
    /// the age limit) of frames that share most bytes, their cheap key's
    /// words included.
    #[test]
    fn answers_as_a_plain_scan_of_whole_frames() {
        let mut d = Dedup::default();
        let mut ring: Vec<Option<(Timestamp, u32, Vec<u8>)>> = vec![None; WINDOW];
        let mut next = 0;
        let mut dups = 0;
        for i in 0u32..20_000 {
            let v = i.wrapping_mul(2_654_435_761) % 61;
            // 4 to 300 bytes; the value only in byte 9 or past byte 100 of
            // longer frames (not in a word the key reads).
            let len = 4 + (v as usize * 37) % 297;
            let mut frame = vec![0xaa; len];
            let at = if len > 120 {
                100 + (v as usize % 20)
            } else {
                len.min(10) - 1
            };
            frame[at] = v as u8;
            let wire = len as u32 + (v % 2);
            let ts = Timestamp::from(i) * MILLISECOND * 2;
            let got = d.is_duplicate(ts, wire, &frame);
            let mut want = false;
            for e in ring.iter_mut() {
                if let Some((t, w, f)) = e {
                    if *w == wire && *f == frame && ts.abs_diff(*t) <= MAX_AGE {
                        *e = None;
                        want = true;
                        break;
                    }
                }
            }
            if !want {
                ring[next] = Some((ts, wire, frame.clone()));
                next = (next + 1) % WINDOW;
            }
            assert_eq!(got, want, "frame {i}");
            dups += u32::from(got);
            let mut counts = [0u8; 1 << LOW_BITS];
            for &k in &d.keys[..d.filled] {
                counts[(k & LOW_MASK) as usize] += 1;
            }
            assert_eq!(counts, d.low, "frame {i}");
        }
        assert!(dups > 1000 && dups < 15_000, "{dups} duplicates");
    }
}
