//! spanlens: a multi-threaded network sniffer for SPAN/TAP mirror ports.
//!
//! Data flow: [`capture`] (libpcap, file or live) feeds the capture thread
//! in [`dispatch`], which decodes L2-L4 headers, applies the CIDR filter and
//! hands packets to worker shards by a symmetric flow hash. Each
//! [`worker`] owns its flow table, [`tcp`] reassembly and [`proto`]
//! sessions, and encodes [`event`]s into batches for the exporter thread,
//! which writes them to an [`output`]. Packet timestamps ([`time`]) drive
//! every timeout so replays are deterministic.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod aggregate;
pub mod capture;
pub mod cli;
pub mod config;
pub mod defrag;
pub mod dispatch;
pub mod doctor;
pub mod event;
pub mod farm;
pub mod flow;
pub mod geoip;
pub mod harness;
pub mod monitor;
pub mod output;
pub mod pipeline;
pub mod proto;
pub mod report;
pub mod stats;
pub mod tcp;
#[cfg(test)]
mod test_support;
pub mod time;
pub mod worker;
