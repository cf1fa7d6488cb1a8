//! DNS over UDP and TCP: one `type: dns` event per query/response pair.
//!
//! - [`parser`]: pure message parsing (RFC 1035 and its extensions) and
//!   TCP length-prefix framing.

pub mod parser;
