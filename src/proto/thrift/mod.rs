//! Thrift: `type: thrift` transactions from Apache Thrift RPC over TCP.
//!
//! - [`parser`]: the binary (strict and old non-strict) and compact
//!   protocols, socket and framed transports, detected per direction from
//!   the first bytes (or fixed by `transport_type` / `protocol_type`);
//!   values rendered the way Packetbeat renders them, within bounds.
//! - [`session`]: [`ThriftSession`] pairs calls with replies by sequence id
//!   and method name, reports oneway calls at once, exceptions (declared
//!   ones and TApplicationException) as errors, and resynchronises after
//!   gaps at the next plausible message header.
//! - [`idl`]: the optional `idl_files`, read by a small bounded parser for
//!   service, function, parameter and exception names.
//!
//! Not here: THeader and the JSON protocol (counted as parse errors),
//! TMultiplexedProtocol beyond splitting `service:method`.

pub mod idl;
pub mod parser;
pub mod session;
#[cfg(test)]
mod tests;

pub use session::ThriftSession;

use crate::flow::Transport::Tcp;
use crate::proto::registry::default_ports;
use crate::proto::{Dir, Protocol, ProtocolConfig, Session};
use crate::time::HumanDuration;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

/// `[protocols.thrift]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThriftConfig {
    /// Set to false to turn the decoder off.
    pub enabled: bool,
    /// Server ports.
    pub ports: Vec<u16>,
    /// `auto` (detected per direction), `socket` or `framed`.
    pub transport_type: String,
    /// `auto` (detected per direction), `binary` or `compact`.
    pub protocol_type: String,
    /// Bytes of a string value shown (then `...`).
    pub string_max_size: usize,
    /// Items of a list, set, map or struct shown (then `...`).
    pub collection_max_size: usize,
    /// A struct with more fields is taken as a misparse (an error, as in
    /// Packetbeat).
    pub drop_after_n_struct_fields: usize,
    /// Decode reply bodies (false: replies are paired, their values skipped).
    pub capture_reply: bool,
    /// Show every string as `"*"`.
    pub obfuscate_strings: bool,
    /// Add `request` (method and parameters).
    pub send_request: bool,
    /// Add `response` (the return value or the exceptions).
    pub send_response: bool,
    /// Thrift IDL files naming services, parameters and exceptions.
    pub idl_files: Vec<PathBuf>,
    /// Nesting depth of structs and collections (deeper is an error).
    pub max_depth: usize,
    /// Bytes of one rendered summary (`thrift.params`, `return_value`).
    pub max_summary_size: usize,
    /// Bytes of one message; a longer one is skipped as an error.
    pub max_message_size: usize,
    /// Calls awaiting a reply per connection; beyond it the oldest is
    /// reported as unmatched (`thrift.in_flight_dropped`).
    pub max_in_flight: usize,
    /// A call without a reply for this long (packet time) is reported with
    /// `error.message: Unmatched request`.
    pub transaction_timeout: HumanDuration,
    /// The parsed `idl_files` (read once, by `validate`).
    #[serde(skip)]
    pub idl: OnceLock<Result<Arc<idl::Idl>, String>>,
}

impl Default for ThriftConfig {
    fn default() -> Self {
        ThriftConfig {
            enabled: true,
            ports: default_ports(Thrift::DEFAULT_PORTS),
            transport_type: "auto".into(),
            protocol_type: "auto".into(),
            string_max_size: 200,
            collection_max_size: 15,
            drop_after_n_struct_fields: 500,
            capture_reply: true,
            obfuscate_strings: false,
            send_request: false,
            send_response: false,
            idl_files: Vec::new(),
            max_depth: 32,
            max_summary_size: 4096,
            max_message_size: 1 << 20,
            max_in_flight: 64,
            transaction_timeout: HumanDuration::secs(10),
            idl: OnceLock::new(),
        }
    }
}

impl ThriftConfig {
    /// The parsed IDL files (None when there are none, or they failed to
    /// parse: `validate` reported that).
    pub fn idl(&self) -> Option<&idl::Idl> {
        if self.idl_files.is_empty() {
            return None;
        }
        self.idl
            .get_or_init(|| idl::Idl::load(&self.idl_files).map(Arc::new))
            .as_ref()
            .ok()
            .map(|a| &**a)
    }

    /// The parse bounds.
    pub fn limits(&self) -> parser::Limits {
        parser::Limits {
            string_max: self.string_max_size,
            collection_max: self.collection_max_size,
            max_fields: self.drop_after_n_struct_fields,
            max_depth: self.max_depth,
            max_text: self.max_summary_size,
            max_message: self.max_message_size,
            obfuscate: self.obfuscate_strings,
            render: true,
        }
    }
}

impl ProtocolConfig for ThriftConfig {
    fn enabled(&self) -> bool {
        self.enabled
    }
    fn ports(&self) -> &[u16] {
        &self.ports
    }
    fn validate(&self) -> Result<(), (&'static str, String)> {
        if !matches!(self.transport_type.as_str(), "auto" | "socket" | "framed") {
            return Err((
                "transport_type",
                format!("`{}` is not auto, socket or framed", self.transport_type),
            ));
        }
        if !matches!(self.protocol_type.as_str(), "auto" | "binary" | "compact") {
            return Err((
                "protocol_type",
                format!("`{}` is not auto, binary or compact", self.protocol_type),
            ));
        }
        if self.max_message_size < 64 {
            return Err(("max_message_size", "must be at least 64 bytes".into()));
        }
        if self.max_depth == 0 || self.max_depth > 256 {
            return Err(("max_depth", "must be between 1 and 256".into()));
        }
        if !self.idl_files.is_empty() {
            let r = self
                .idl
                .get_or_init(|| idl::Idl::load(&self.idl_files).map(Arc::new));
            if let Err(e) = r {
                return Err(("idl_files", e.clone()));
            }
        }
        Ok(())
    }
}

/// The `thrift` registry entry (`src/proto/registry.rs`).
pub struct Thrift;

impl Protocol for Thrift {
    const NAME: &'static str = "thrift";
    const DEFAULT_PORTS: &'static [(crate::flow::Transport, u16)] = &[(Tcp, 9090)];
    /// A strict-binary socket call `add(1: 1, 2: 1)` and its reply `2`.
    const SAMPLE: &'static [(Dir, &'static [u8])] = &[
        (
            Dir::ToServer,
            b"\x80\x01\x00\x01\x00\x00\x00\x03add\x00\x00\x00\x00\
              \x08\x00\x01\x00\x00\x00\x01\x08\x00\x02\x00\x00\x00\x01\x00",
        ),
        (
            Dir::ToClient,
            b"\x80\x01\x00\x02\x00\x00\x00\x03add\x00\x00\x00\x00\
              \x08\x00\x00\x00\x00\x00\x02\x00",
        ),
    ];
    type Config = ThriftConfig;
    fn stream(cfg: &Arc<ThriftConfig>) -> Option<Box<dyn Session>> {
        Some(Box::new(ThriftSession::new(Arc::clone(cfg))))
    }
}
