//! Exact duplicate frames, recognised in the capture thread.
//!
//! A SPAN session that mirrors both directions of two ports (the server's
//! and the uplink's) hands every packet over twice, a few microseconds
//! apart, sometimes the copy first. Fed twice, TCP reassembly is right
//! (the second copy is a retransmission), but every metric doubles and
//! copies arriving after a connection closed look like new traffic.
//!
//! [`Dedup`] keeps a 64-bit hash (fixed-seed ahash over the wire and
//! captured lengths and every captured byte) of the last [`WINDOW`] frames
//! in a ring, and
//! calls a frame a duplicate when the same hash is in the ring and that
//! frame is at most [`MAX_AGE`] of packet time away (either way: a copy
//! may carry an earlier timestamp). The ring is a fixed array: no
//! allocation per packet, under a kilobyte in all. Beside the ring, a count
//! per value of a hash's low byte says how many remembered hashes end in
//! it: when the new frame's count is zero (most frames) there is nothing
//! to scan, and otherwise the ring is scanned as before, so the answer is
//! the same (callgrind: about 70 instructions a packet fewer than
//! scanning the 32 hashes every time).
//!
//! The whole frame is hashed, not a prefix: under encapsulation the first
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
//! copy as well; and 50 bytes fewer are hashed.
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

/// The recent-frame window.
#[derive(Debug)]
pub struct Dedup {
    hasher: ahash::RandomState,
    hashes: [u64; WINDOW],
    times: [Timestamp; WINDOW],
    /// Remembered hashes (the first `filled`) per low byte.
    low: [u8; 256],
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
            hashes: [0; WINDOW],
            times: [0; WINDOW],
            low: [0; 256],
            next: 0,
            filled: 0,
        }
    }
}

impl Dedup {
    /// Whether `frame` (with `wire_len` on the wire, seen at `ts`) repeats
    /// one of the recent frames. Remembers it when it does not.
    #[inline]
    pub fn is_duplicate(&mut self, ts: Timestamp, wire_len: u32, frame: &[u8]) -> bool {
        let h = {
            use std::hash::{BuildHasher, Hasher};
            let mut s = self.hasher.build_hasher();
            s.write_u32(wire_len);
            s.write_usize(frame.len());
            s.write(frame);
            s.finish()
        };
        self.seen(ts, h)
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
        let h = {
            use std::hash::{BuildHasher, Hasher};
            let f = frame.get(inner..).unwrap_or(&[]);
            let mut s = self.hasher.build_hasher();
            s.write_u64(u64::from(id) << 32 | u64::from(wire_len.saturating_sub(inner as u32)));
            s.write_usize(f.len());
            s.write(f);
            s.finish()
        };
        self.seen(ts, h)
    }

    #[inline(always)]
    fn seen(&mut self, ts: Timestamp, h: u64) -> bool {
        if self.low[h as u8 as usize] != 0 {
            for i in 0..self.filled {
                if self.hashes[i] == h && ts.abs_diff(self.times[i]) <= MAX_AGE {
                    // Forget it: a third identical frame is not a copy of the
                    // first (a SPAN doubles, it does not triple).
                    self.hashes[i] = !h;
                    self.low[h as u8 as usize] -= 1;
                    self.low[!h as u8 as usize] += 1;
                    return true;
                }
            }
        }
        if self.filled == WINDOW {
            self.low[self.hashes[self.next] as u8 as usize] -= 1;
        } else {
            self.filled += 1;
        }
        self.hashes[self.next] = h;
        self.times[self.next] = ts;
        self.low[h as u8 as usize] += 1;
        self.next = (self.next + 1) % WINDOW;
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

    /// The low-byte counts always match the remembered hashes, and the
    /// answers are those of a plain scan of the ring every time (the
    /// window as it was before the counts), over a stream with many
    /// repeats, some within and some beyond the age limit.
    #[test]
    fn shortcut_answers_as_the_plain_scan() {
        let mut d = Dedup::default();
        let (mut hashes, mut times) = ([0u64; WINDOW], [0 as Timestamp; WINDOW]);
        let (mut next, mut filled) = (0, 0);
        let mut dups = 0;
        for i in 0u32..20_000 {
            let frame = (i.wrapping_mul(2_654_435_761) % 61).to_le_bytes();
            let ts = Timestamp::from(i) * MILLISECOND * 2;
            let got = d.is_duplicate(ts, 4, &frame);
            let h = {
                use std::hash::{BuildHasher, Hasher};
                let mut s = d.hasher.build_hasher();
                s.write_u32(4);
                s.write_usize(frame.len());
                s.write(&frame);
                s.finish()
            };
            let mut want = false;
            for j in 0..filled {
                if hashes[j] == h && ts.abs_diff(times[j]) <= MAX_AGE {
                    hashes[j] = !h;
                    want = true;
                    break;
                }
            }
            if !want {
                hashes[next] = h;
                times[next] = ts;
                next = (next + 1) % WINDOW;
                filled = (filled + 1).min(WINDOW);
            }
            assert_eq!(got, want, "frame {i}");
            dups += u32::from(got);
            let mut counts = [0u8; 256];
            for &h in &d.hashes[..d.filled] {
                counts[h as u8 as usize] += 1;
            }
            assert_eq!(counts, d.low, "frame {i}");
        }
        assert!(dups > 1000 && dups < 15_000, "{dups} duplicates");
    }
}
