//! Application protocols: the session contracts, the registry, the pieces
//! every decoder shares, and one folder per protocol.
//!
//! - [`session`]: [`Session`] (byte streams), [`DatagramSession`]
//!   (datagrams, ICMP messages), [`TxSink`], and the [`Protocol`] /
//!   [`ProtocolConfig`] traits a protocol implements.
//! - [`registry`]: `protocols! { ... }`, the only list of protocols, and the
//!   [`Registry`] that maps `(transport, port)` to a protocol.
//! - [`common`]: the bounded transaction queue, the request/response legs
//!   that become the `transaction.*` fields, the shared error texts and the
//!   resync helper.
//! - [`testkit`]: the session driver and generic checks every decoder's
//!   tests, fuzz targets and benchmarks use.
//! - `http/`, `mysql/`, `redis/`: the decoders; [`template`]: a copy-me
//!   decoder (compiled and tested, not registered).
//!
//! # Adding a protocol
//! Copy `src/proto/template/` to `src/proto/<name>/`, add `pub mod <name>;`
//! below and one line to `protocols!` in `registry.rs`, document it in the
//! README and `examples/spanlens.toml`. The README's "Adding a protocol"
//! section says exactly what to write; the compiler and the registry tests
//! catch a missing piece.

pub mod amqp;
pub mod cassandra;
pub mod common;
pub mod dhcp;
pub mod dns;
pub mod http;
pub mod icmp;
pub mod memcache;
pub mod mongodb;
pub mod mysql;
pub mod nfs;
pub mod pgsql;
pub mod redis;
pub mod registry;
pub mod session;
pub mod sip;
pub mod template;
pub mod testkit;
pub mod thrift;
pub mod tls;

pub use registry::{event_counter, PortConflict, ProtocolId, ProtocolsConfig, Registry};
pub use session::{DatagramSession, Dir, Protocol, ProtocolConfig, Session, TxSink};
