//! Copy-me template: a complete, tested decoder for a toy line protocol,
//! laid out the way every spanlens protocol is. It is compiled and tested
//! but NOT registered, so it decodes nothing in production.
//!
//! The toy protocol ("template"): a request is one line `<VERB> <argument>`
//! ended by `\n`; the response is one line `OK <text>` or `ERR <text>`.
//! Responses answer requests in order (pipelining allowed).
//!
//! To start a protocol `pgsql` from here:
//! 1. `cp -r src/proto/template src/proto/pgsql`, rename `Template*` to
//!    `Pgsql*`, set `NAME = "pgsql"`, `DEFAULT_PORTS`, and a real `SAMPLE`.
//! 2. Replace [`parser`] with the real wire format (pure functions, `More`
//!    distinct from `Error`, the protocol document named at its top).
//! 3. Keep [`session`]'s shape: a [`TxQueue`](crate::proto::common::TxQueue)
//!    (or `KeyedTxQueue` when responses carry an id), [`Leg`]s turned into
//!    the common fields by `common::transaction`, `common::errors` texts,
//!    `Resync` after a gap; write only your own namespace in `emit`.
//! 4. `pub mod pgsql;` in `src/proto/mod.rs`, one line in `protocols!` in
//!    `src/proto/registry.rs` (`Pgsql: pgsql => pgsql::Pgsql,`), and the
//!    `[protocols.pgsql]` section in README.md and examples/spanlens.toml
//!    (a test checks both). The registry and testkit tests then check the
//!    new protocol's sample (prefixes, splits, random bytes) by themselves.
//!
//! [`Leg`]: crate::proto::common::Leg

pub mod parser;
pub mod session;
#[cfg(test)]
mod tests;

pub use session::TemplateSession;

use crate::flow::Transport::Tcp;
use crate::proto::registry::default_ports;
use crate::proto::{Dir, Protocol, ProtocolConfig, Session};
use crate::time::HumanDuration;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// `[protocols.template]` (what a real protocol's section looks like).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TemplateConfig {
    /// Set to false to turn the decoder off.
    pub enabled: bool,
    /// Server ports.
    pub ports: Vec<u16>,
    /// Requests awaiting a response per connection; beyond it requests are
    /// only counted (`template.in_flight_dropped`), pairing stays right.
    pub max_in_flight: usize,
    /// Longest line accepted; a longer one is a parse error (resync).
    pub max_line: usize,
    /// A request without a response for this long (packet time) is
    /// reported with `error.message: Unmatched request`.
    pub transaction_timeout: HumanDuration,
}

impl Default for TemplateConfig {
    fn default() -> Self {
        TemplateConfig {
            enabled: true,
            ports: default_ports(Template::DEFAULT_PORTS),
            max_in_flight: 64,
            max_line: 1024,
            transaction_timeout: HumanDuration::secs(10),
        }
    }
}

impl ProtocolConfig for TemplateConfig {
    fn enabled(&self) -> bool {
        self.enabled
    }
    fn ports(&self) -> &[u16] {
        &self.ports
    }
    fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.max_line < 8 {
            return Err(("max_line", "must be at least 8".into()));
        }
        Ok(())
    }
}

/// The registry entry a real protocol would have.
pub struct Template;

impl Protocol for Template {
    const NAME: &'static str = "template";
    const DEFAULT_PORTS: &'static [(crate::flow::Transport, u16)] = &[(Tcp, 7777)];
    const SAMPLE: &'static [(Dir, &'static [u8])] = &[
        (Dir::ToServer, b"GET user:42\n"),
        (Dir::ToClient, b"OK alice\n"),
    ];
    type Config = TemplateConfig;
    fn stream(cfg: &Arc<TemplateConfig>) -> Option<Box<dyn Session>> {
        Some(Box::new(TemplateSession::new(Arc::clone(cfg))))
    }
}
