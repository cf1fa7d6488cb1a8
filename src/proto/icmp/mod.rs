//! ICMP and ICMPv6: echo request/reply pairs as `type: icmp` transactions
//! with their round-trip time, unanswered requests, and errors linked to
//! the flow they quote.
//!
//! - [`parser`]: pure message parsing and Packetbeat's type/code texts.

pub mod parser;
