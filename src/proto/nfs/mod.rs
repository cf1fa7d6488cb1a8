//! NFS: `type: nfs` transactions from ONC RPC calls to the NFS program
//! (v2, v3, v4.x) over TCP (record marking, multi-fragment records) and UDP
//! (one message per datagram).
//!
//! - [`parser`]: RPC headers and auth flavours (AUTH_NONE, AUTH_UNIX with
//!   stamp, machine name, uid, gid, gids; RPCSEC_GSS procedure, sequence,
//!   service), NFSv3 procedures and file handles, NFSv4 COMPOUND (tag,
//!   minor version, operations, the main operation as Packetbeat picks it,
//!   the current file handle), statuses, record resync.
//! - [`session`]: [`NfsSession`] (TCP) and [`NfsUdpSession`] (UDP) pair
//!   calls and replies by xid; file handles are reported as their CRC-32
//!   (`nfs.fh_hash`, the same value as tshark's `nfs.fh.hash`), never raw.
//!
//! Not here: the arguments of operations beyond what names them (file
//! names, offsets, attributes), the per-operation results of a COMPOUND
//! (its status is the compound's), arguments under RPCSEC_GSS privacy
//! (reported with `nfs.opcode` from the procedure only), the NFSv4.1
//! backchannel (server-to-client calls are counted, not reported), and
//! the other RPC programs (MOUNT, NLM, portmap: counted, not reported).

pub mod parser;
pub mod session;
#[cfg(test)]
mod tests;

pub use session::{NfsSession, NfsUdpSession};

use crate::flow::Transport::{Tcp, Udp};
use crate::proto::registry::default_ports;
use crate::proto::{DatagramSession, Dir, Protocol, ProtocolConfig, Session};
use crate::time::HumanDuration;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// `[protocols.nfs]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NfsConfig {
    /// Set to false to turn the decoder off.
    pub enabled: bool,
    /// Server ports (TCP and UDP).
    pub ports: Vec<u16>,
    /// Bytes kept from the start of each RPC record for decoding; the rest
    /// (WRITE data, READ and READDIR results) is counted and skipped.
    pub max_header_size: usize,
    /// A record (all its fragments) longer than this is taken as lost
    /// framing: the direction resynchronises (`nfs.oversized_records`).
    pub max_record_size: usize,
    /// COMPOUND operations listed in `nfs.ops`.
    pub max_ops: usize,
    /// Calls awaiting a reply per connection; beyond it the oldest is
    /// reported as unmatched (`nfs.in_flight_dropped`).
    pub max_in_flight: usize,
    /// A call without a reply for this long (packet time) is reported with
    /// `error.message: Unmatched request`.
    pub transaction_timeout: HumanDuration,
}

impl Default for NfsConfig {
    fn default() -> Self {
        NfsConfig {
            enabled: true,
            ports: default_ports(Nfs::DEFAULT_PORTS),
            max_header_size: 8192,
            max_record_size: 16 << 20,
            max_ops: 32,
            max_in_flight: 256,
            transaction_timeout: HumanDuration::secs(10),
        }
    }
}

impl ProtocolConfig for NfsConfig {
    fn enabled(&self) -> bool {
        self.enabled
    }
    fn ports(&self) -> &[u16] {
        &self.ports
    }
    fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.max_header_size < 512 {
            return Err(("max_header_size", "must be at least 512 bytes".into()));
        }
        if self.max_record_size < self.max_header_size || self.max_record_size > 0x7fff_ffff {
            return Err((
                "max_record_size",
                "must be at least max_header_size and below 2 GiB".into(),
            ));
        }
        if self.max_ops == 0 {
            return Err(("max_ops", "must be at least 1".into()));
        }
        Ok(())
    }
}

/// The `nfs` registry entry (`src/proto/registry.rs`).
pub struct Nfs;

impl Protocol for Nfs {
    const NAME: &'static str = "nfs";
    const DEFAULT_PORTS: &'static [(crate::flow::Transport, u16)] = &[(Tcp, 2049), (Udp, 2049)];
    /// An NFSv3 GETATTR call (AUTH_UNIX, one record) and its NFS3_OK reply.
    const SAMPLE: &'static [(Dir, &'static [u8])] = &[
        (
            Dir::ToServer,
            b"\x80\x00\x00\x48\
              \x00\x00\x00\x2a\x00\x00\x00\x00\x00\x00\x00\x02\x00\x01\x86\xa3\
              \x00\x00\x00\x03\x00\x00\x00\x01\
              \x00\x00\x00\x01\x00\x00\x00\x18\x00\x00\x00\x00\x00\x00\x00\x04host\
              \x00\x00\x03\xe8\x00\x00\x03\xe8\x00\x00\x00\x00\
              \x00\x00\x00\x00\x00\x00\x00\x00\
              \x00\x00\x00\x04\xde\xad\xbe\xef",
        ),
        (
            Dir::ToClient,
            b"\x80\x00\x00\x1c\
              \x00\x00\x00\x2a\x00\x00\x00\x01\x00\x00\x00\x00\
              \x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\
              \x00\x00\x00\x00",
        ),
    ];
    type Config = NfsConfig;
    fn stream(cfg: &Arc<NfsConfig>) -> Option<Box<dyn Session>> {
        Some(Box::new(NfsSession::new(Arc::clone(cfg))))
    }
    fn datagram(cfg: &Arc<NfsConfig>) -> Option<Box<dyn DatagramSession>> {
        Some(Box::new(NfsUdpSession::new(Arc::clone(cfg))))
    }
}
