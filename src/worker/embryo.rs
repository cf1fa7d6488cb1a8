//! Embryonic flows: a TCP flow that is only a SYN so far.
//!
//! A port scan or a SYN flood creates one flow per SYN. Such a flow is kept
//! as an [`Embryo`] (32 bytes inside the table slot, nothing on the heap)
//! instead of a full flow with reassembly, metrics and a protocol session
//! (about 1 KB). The flow's next packet, or its report (expiry, eviction,
//! end of input), promotes it: the full flow is built as it would have
//! been from the SYN and the SYN is fed to its TCP connection, so the
//! output is the same as without the compact form. An embryo gets no
//! interim flow report (it has one packet).

use crate::flow::Side;
use crate::time::Timestamp;

/// The one SYN of an embryonic flow.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Embryo {
    /// When it arrived.
    pub ts: Timestamp,
    /// Its frame number (part of the flow id).
    pub frame: u64,
    /// Sequence number.
    pub seq: u32,
    /// Frame length on the wire.
    pub wire_len: u32,
    /// Raw window.
    pub window: u16,
    /// TCP flags (SYN, maybe ECE/CWR bits cleared by the decoder).
    pub flags: u8,
    /// Its direction relative to the key (the client's side).
    pub side: Side,
}
