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
//! allocation per packet, a few hundred bytes in all, and the scan of 32
//! hashes costs less than hashing the frame.
//!
//! The whole frame is hashed, not a prefix: under encapsulation the first
//! bytes are only the outer headers (VXLAN in VXLAN puts the inner TCP
//! header past byte 128) and a tunnel's outer UDP checksum is usually 0,
//! so two different inner segments of the same length share any prefix of
//! headers. Only a frame identical byte for byte is a copy.
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
        for i in 0..self.filled {
            if self.hashes[i] == h && ts.abs_diff(self.times[i]) <= MAX_AGE {
                // Forget it: a third identical frame is not a copy of the
                // first (a SPAN doubles, it does not triple).
                self.hashes[i] = !h;
                return true;
            }
        }
        self.hashes[self.next] = h;
        self.times[self.next] = ts;
        self.next = (self.next + 1) % WINDOW;
        self.filled = (self.filled + 1).min(WINDOW);
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
}
