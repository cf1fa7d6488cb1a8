//! Reassembly and metrics tests.
