//! ICMP session tests.
