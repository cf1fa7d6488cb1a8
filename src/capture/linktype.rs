//! libpcap link-layer header types spanlens understands (the `DLT_*` /
//! `LINKTYPE_*` numbers of a capture); the capture thread decodes them.

/// BSD loopback, host byte order family.
pub const NULL: i32 = 0;
/// Ethernet.
pub const ETHERNET: i32 = 1;
/// Raw IP (some platforms).
pub const RAW_12: i32 = 12;
/// Raw IP (OpenBSD).
pub const RAW_14: i32 = 14;
/// Raw IP.
pub const RAW: i32 = 101;
/// OpenBSD loopback, network byte order family.
pub const LOOP: i32 = 108;
/// Linux cooked capture v1.
pub const LINUX_SLL: i32 = 113;
/// Raw IPv4.
pub const IPV4: i32 = 228;
/// Raw IPv6.
pub const IPV6: i32 = 229;
/// Linux cooked capture v2.
pub const LINUX_SLL2: i32 = 276;

/// Whether the decoder handles this link type.
pub fn supported(lt: i32) -> bool {
    matches!(
        lt,
        NULL | ETHERNET | RAW_12 | RAW_14 | RAW | LOOP | LINUX_SLL | IPV4 | IPV6 | LINUX_SLL2
    )
}
