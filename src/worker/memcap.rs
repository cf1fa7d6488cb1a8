//! Memory budgets per subsystem (`[memcap]`), as Suricata's memcaps.
//!
//! Counts alone do not bound memory: a flow table full of established
//! flows with protocol state weighs ten times one full of SYNs. Each
//! budget is for the whole process, split evenly between the workers; a
//! worker keeps an estimate of what it holds and, when a budget is hit,
//! counts it (`memcap.<name>_hits`, shown in the stats line and metrics)
//! and gives something up instead of growing:
//!
//! - `flow_table_mb` (default 256): flows, estimated as each flow's
//!   hash-table bucket plus, for a full flow, its boxed state (embryonic
//!   flows have none). Hit: the worker evicts, embryonic flows first.
//! - `reassembly_mb` (default 128): out-of-order bytes buffered by TCP
//!   reassembly. Hit: the connection that pushed the total over gives its
//!   buffered bytes to its decoder at once, with gaps for the holes.
//! - `protocol_state_mb` (default 64): the inline state of protocol
//!   sessions (each decoder bounds its own buffers: `[protocols.*]`). Hit:
//!   a new flow gets no session (its packets are still counted in flow
//!   events).
//! - the exporter queue is `pipeline.exporter_queue` event batches of at
//!   most 320 KiB each (2.5 MiB by default); a worker finding it full
//!   counts `memcap.exporter_queue_hits` and waits (replay) for room.

use crate::config::MemcapConfig;

/// One worker's share of the budgets and what it holds, in bytes.
#[derive(Debug, Default)]
pub(crate) struct Budget {
    pub flow_table_cap: u64,
    pub reassembly_cap: u64,
    pub protocol_cap: u64,
    pub reassembly: u64,
    pub protocol: u64,
}

impl Budget {
    /// The share of `workers` workers.
    pub fn new(c: &MemcapConfig, workers: usize) -> Self {
        let share = |mb: u64| (mb << 20) / workers.max(1) as u64;
        Budget {
            flow_table_cap: share(c.flow_table_mb),
            reassembly_cap: share(c.reassembly_mb),
            protocol_cap: share(c.protocol_state_mb),
            ..Default::default()
        }
    }
}
