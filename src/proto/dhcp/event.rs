//! The `dhcpv4.*` fields of one message, with Packetbeat's names and value
//! forms (`op_code: bootrequest`, `transaction_id: 0x00003d1d`,
//! `client_mac` in the ECS form `00-0B-82-01-FC-42`, `flags: unicast`,
//! option values under `option`).

use super::parser::{self, Message};
use crate::event::JsonWriter;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};

fn hardware_type(t: u8) -> Option<&'static str> {
    // RFC 1700 / IANA ARP hardware types (the names insomniacslk/dhcp uses).
    Some(match t {
        1 => "Ethernet",
        2 => "Experimental Ethernet",
        3 => "Amateur Radio AX.25",
        4 => "Proteon ProNET Token Ring",
        5 => "Chaos",
        6 => "IEEE 802",
        7 => "ARCNET",
        8 => "Hyperchannel",
        9 => "Lanstar",
        15 => "Frame Relay",
        16 => "ATM",
        18 => "Fibre Channel",
        20 => "Serial Line",
        32 => "InfiniBand",
        _ => return None,
    })
}

fn ip4(w: &mut JsonWriter<'_>, k: &str, a: Ipv4Addr) {
    w.ip(k, IpAddr::V4(a));
}

fn ip_list(w: &mut JsonWriter<'_>, k: &str, v: &[u8]) {
    w.begin_arr(k);
    let mut s = String::new();
    for a in parser::addrs(v) {
        s.clear();
        let _ = std::fmt::Write::write_fmt(&mut s, format_args!("{a}"));
        w.elem_str(&s);
    }
    w.end_arr();
}

/// `00-0B-82-01-FC-42` (ECS MAC form).
pub fn mac(hw: &[u8], out: &mut Vec<u8>) {
    const H: &[u8; 16] = b"0123456789ABCDEF";
    out.clear();
    for (i, b) in hw.iter().enumerate() {
        if i > 0 {
            out.push(b'-');
        }
        out.push(H[usize::from(b >> 4)]);
        out.push(H[usize::from(b & 15)]);
    }
}

/// Writes the fields of `m` (parsed from `buf`) into the open object.
pub fn message(w: &mut JsonWriter<'_>, buf: &[u8], m: &Message, tmp: &mut Vec<u8>) {
    w.ascii(
        "op_code",
        if m.op == parser::OP_REQUEST {
            "bootrequest"
        } else {
            "bootreply"
        },
    );
    match hardware_type(m.htype) {
        Some(t) => w.ascii("hardware_type", t),
        None => w.u64("hardware_type", m.htype.into()),
    }
    w.u64("hops", m.hops.into());
    tmp.clear();
    let _ = write!(tmp, "0x{:08x}", m.xid);
    w.bytes_lossy("transaction_id", tmp);
    w.u64("seconds", m.secs.into());
    w.ascii(
        "flags",
        if m.flags & 0x8000 != 0 {
            "broadcast"
        } else {
            "unicast"
        },
    );
    mac(m.hw(), tmp);
    w.bytes_lossy("client_mac", tmp);
    for (k, a) in [
        ("client_ip", m.ciaddr),
        ("assigned_ip", m.yiaddr),
        ("server_ip", m.siaddr),
        ("relay_ip", m.giaddr),
    ] {
        if !a.is_unspecified() {
            ip4(w, k, a);
        }
    }
    fn text(b: &[u8]) -> &[u8] {
        let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
        &b[..end]
    }
    if buf.len() >= parser::HEADER {
        let sname = text(&buf[44..108]);
        if !sname.is_empty() {
            w.bytes_lossy("server_name", sname);
        }
        let file = text(&buf[108..236]);
        if !file.is_empty() {
            w.bytes_lossy("boot_file_name", file);
        }
    }
    options(w, buf, m);
}

fn options(w: &mut JsonWriter<'_>, buf: &[u8], m: &Message) {
    let o = &m.options;
    if o.count == 0 {
        return;
    }
    w.begin_obj("option");
    if let Some(t) = o.message_type {
        match parser::msg_name(t) {
            Some(n) => w.ascii("message_type", n),
            None => w.str("message_type", &format!("unknown ({t})")),
        }
    }
    if let Some(v) = o.parameter_request_list.get(buf) {
        w.begin_arr("parameter_request_list");
        for &c in v {
            match parser::option_name(c) {
                Some(n) => w.elem_str(n),
                None => w.elem_str(&format!("unknown ({c})")),
            }
        }
        w.end_arr();
    }
    let one = |w: &mut JsonWriter<'_>, k: &str, v: Option<&[u8]>| {
        if let Some(a) = v.and_then(parser::addr) {
            ip4(w, k, a);
        }
    };
    one(w, "requested_ip_address", o.requested_ip.get(buf));
    one(w, "server_identifier", o.server_identifier.get(buf));
    one(w, "broadcast_address", o.broadcast_address.get(buf));
    if let Some([a, b]) = o.max_message_size.get(buf) {
        w.u64("max_dhcp_message_size", u16::from_be_bytes([*a, *b]).into());
    }
    if let Some(v) = o.class_identifier.get(buf).filter(|v| !v.is_empty()) {
        w.bytes_lossy("class_identifier", v);
    }
    if let Some(v) = o.domain_name.get(buf).filter(|v| !v.is_empty()) {
        w.bytes_lossy("domain_name", v);
    }
    if let Some(v) = o.dns_servers.get(buf) {
        ip_list(w, "dns_servers", v);
    }
    if let Some(v) = o.vendor_identifying.get(buf) {
        // RFC 3925 section 3: enterprise number, length, data; repeated.
        w.begin_arr("vendor_identifying_options");
        let mut rest = v;
        let mut hex = String::new();
        while rest.len() >= 5 {
            let id = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
            let n = usize::from(rest[4]).min(rest.len() - 5);
            hex.clear();
            for b in &rest[5..5 + n] {
                let _ = std::fmt::Write::write_fmt(&mut hex, format_args!("{b:02x}"));
            }
            w.begin();
            w.u64("id", id.into());
            w.str("data", &hex);
            w.end();
            rest = &rest[5 + n..];
        }
        w.end_arr();
    }
    one(w, "subnet_mask", o.subnet_mask.get(buf));
    if let Some(n) = o.time_offset.get(buf).and_then(parser::u32_of) {
        w.i64("utc_time_offset_sec", i64::from(n as i32));
    }
    if let Some(v) = o.router.get(buf) {
        ip_list(w, "router", v);
    }
    if let Some(v) = o.time_servers.get(buf) {
        ip_list(w, "time_servers", v);
    }
    if let Some(v) = o.ntp_servers.get(buf) {
        ip_list(w, "ntp_servers", v);
    }
    if let Some(v) = o.hostname.get(buf).filter(|v| !v.is_empty()) {
        w.bytes_lossy("hostname", v);
    }
    for (k, v) in [
        ("ip_address_lease_time_sec", o.lease_time),
        ("renewal_time_sec", o.renewal_time),
        ("rebinding_time_sec", o.rebinding_time),
    ] {
        if let Some(n) = v.get(buf).and_then(parser::u32_of).filter(|n| *n != 0) {
            w.u64(k, n.into());
        }
    }
    if let Some(v) = o.message.get(buf).filter(|v| !v.is_empty()) {
        w.bytes_lossy("message", v);
    }
    if let Some(v) = o.boot_file_name.get(buf).filter(|v| !v.is_empty()) {
        w.bytes_lossy("boot_file_name", v);
    }
    w.end();
}
