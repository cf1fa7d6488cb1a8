//! The capture thread: header decode, filter, flow hash, batches, ticks.

pub mod filter;
