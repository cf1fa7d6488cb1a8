//! DHCPv4 message parsing: the BOOTP header (RFC 951, RFC 2131 section 2)
//! and the options Packetbeat reports (RFC 2132; RFC 3925 for the
//! vendor-identifying vendor class).
//!
//! Pure and bounded: a [`Message`] is the fixed header plus the offsets of
//! the options of interest in the caller's buffer; option lengths are
//! checked against the buffer, an option seen twice keeps its first
//! occurrence (RFC 3396 concatenation is not done), the option overload
//! of option 52 is not followed.

use std::net::Ipv4Addr;

/// Size of the fixed BOOTP header (through `file`).
pub const HEADER: usize = 236;
/// The magic cookie in front of the options (RFC 2131 section 3).
pub const COOKIE: [u8; 4] = [99, 130, 83, 99];

/// BOOTREQUEST.
pub const OP_REQUEST: u8 = 1;
/// BOOTREPLY.
pub const OP_REPLY: u8 = 2;

/// Option 53 values (RFC 2132 section 9.6).
pub mod msg {
    /// DHCPDISCOVER.
    pub const DISCOVER: u8 = 1;
    /// DHCPOFFER.
    pub const OFFER: u8 = 2;
    /// DHCPREQUEST.
    pub const REQUEST: u8 = 3;
    /// DHCPDECLINE.
    pub const DECLINE: u8 = 4;
    /// DHCPACK.
    pub const ACK: u8 = 5;
    /// DHCPNAK.
    pub const NAK: u8 = 6;
    /// DHCPRELEASE.
    pub const RELEASE: u8 = 7;
    /// DHCPINFORM.
    pub const INFORM: u8 = 8;
}

/// The name of a message type in lower case (Packetbeat's
/// `dhcpv4.option.message_type`).
pub fn msg_name(t: u8) -> Option<&'static str> {
    Some(match t {
        1 => "discover",
        2 => "offer",
        3 => "request",
        4 => "decline",
        5 => "ack",
        6 => "nak",
        7 => "release",
        8 => "inform",
        9 => "forcerenew",
        10 => "leasequery",
        11 => "leaseunassigned",
        12 => "leaseunknown",
        13 => "leaseactive",
        _ => return None,
    })
}

/// An option's value: offset and length in the message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Opt {
    start: u16,
    len: u8,
    seen: bool,
}

impl Opt {
    /// The value bytes in `buf`, if the option was present.
    pub fn get<'a>(&self, buf: &'a [u8]) -> Option<&'a [u8]> {
        if !self.seen {
            return None;
        }
        buf.get(usize::from(self.start)..usize::from(self.start) + usize::from(self.len))
    }
}

/// The options Packetbeat reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// 53.
    pub message_type: Option<u8>,
    /// 55.
    pub parameter_request_list: Opt,
    /// 50.
    pub requested_ip: Opt,
    /// 54.
    pub server_identifier: Opt,
    /// 28.
    pub broadcast_address: Opt,
    /// 57.
    pub max_message_size: Opt,
    /// 60.
    pub class_identifier: Opt,
    /// 15.
    pub domain_name: Opt,
    /// 6.
    pub dns_servers: Opt,
    /// 124.
    pub vendor_identifying: Opt,
    /// 1.
    pub subnet_mask: Opt,
    /// 2.
    pub time_offset: Opt,
    /// 3.
    pub router: Opt,
    /// 4.
    pub time_servers: Opt,
    /// 42.
    pub ntp_servers: Opt,
    /// 12.
    pub hostname: Opt,
    /// 51.
    pub lease_time: Opt,
    /// 56.
    pub message: Opt,
    /// 58.
    pub renewal_time: Opt,
    /// 59.
    pub rebinding_time: Opt,
    /// 67.
    pub boot_file_name: Opt,
    /// Options seen in all (including ones not reported).
    pub count: u16,
}

/// One DHCPv4 message (offsets refer to the buffer given to [`parse`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message {
    /// 1 BOOTREQUEST, 2 BOOTREPLY.
    pub op: u8,
    /// Hardware type (1 Ethernet).
    pub htype: u8,
    /// Hardware address length.
    pub hlen: u8,
    /// Relay hops.
    pub hops: u8,
    /// Transaction id.
    pub xid: u32,
    /// Seconds since the client began.
    pub secs: u16,
    /// Flags (bit 15: broadcast).
    pub flags: u16,
    /// Client address.
    pub ciaddr: Ipv4Addr,
    /// "Your" (assigned) address.
    pub yiaddr: Ipv4Addr,
    /// Next server address.
    pub siaddr: Ipv4Addr,
    /// Relay agent address.
    pub giaddr: Ipv4Addr,
    /// Client hardware address (first `hlen` bytes, at most 16).
    pub chaddr: [u8; 16],
    /// The options.
    pub options: Options,
}

impl Message {
    /// The client hardware address bytes.
    pub fn hw(&self) -> &[u8] {
        &self.chaddr[..usize::from(self.hlen).min(16)]
    }

    /// The pairing key: transaction id and client hardware address.
    pub fn key(&self) -> (u32, [u8; 16]) {
        let mut hw = [0u8; 16];
        let n = usize::from(self.hlen).min(16);
        hw[..n].copy_from_slice(&self.chaddr[..n]);
        (self.xid, hw)
    }
}

fn ip(b: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(b[0], b[1], b[2], b[3])
}

/// Parses one DHCPv4 message (a whole UDP payload).
pub fn parse(buf: &[u8]) -> Result<Message, &'static str> {
    if buf.len() < HEADER {
        return Err("DHCP message shorter than the BOOTP header");
    }
    let op = buf[0];
    if op != OP_REQUEST && op != OP_REPLY {
        return Err("DHCP op is neither BOOTREQUEST nor BOOTREPLY");
    }
    if buf[2] > 16 {
        return Err("DHCP hardware address longer than 16 bytes");
    }
    let mut chaddr = [0u8; 16];
    chaddr.copy_from_slice(&buf[28..44]);
    let mut m = Message {
        op,
        htype: buf[1],
        hlen: buf[2],
        hops: buf[3],
        xid: u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
        secs: u16::from_be_bytes([buf[8], buf[9]]),
        flags: u16::from_be_bytes([buf[10], buf[11]]),
        ciaddr: ip(&buf[12..16]),
        yiaddr: ip(&buf[16..20]),
        siaddr: ip(&buf[20..24]),
        giaddr: ip(&buf[24..28]),
        chaddr,
        options: Options::default(),
    };
    if buf.len() < HEADER + 4 {
        // Plain BOOTP without the cookie: no options.
        return Ok(m);
    }
    if buf[HEADER..HEADER + 4] != COOKIE {
        return Err("DHCP magic cookie missing");
    }
    let mut i = HEADER + 4;
    let o = &mut m.options;
    while i < buf.len() {
        let code = buf[i];
        match code {
            0 => {
                i += 1;
                continue;
            }
            255 => break,
            _ => {}
        }
        let Some(&len) = buf.get(i + 1) else {
            return Err("DHCP option without a length");
        };
        let start = i + 2;
        if start + usize::from(len) > buf.len() || start > usize::from(u16::MAX) {
            return Err("DHCP option longer than the message");
        }
        o.count = o.count.saturating_add(1);
        let v = Opt {
            start: start as u16,
            len,
            seen: true,
        };
        let slot = match code {
            53 => {
                if len >= 1 && o.message_type.is_none() {
                    o.message_type = Some(buf[start]);
                }
                None
            }
            55 => Some(&mut o.parameter_request_list),
            50 => Some(&mut o.requested_ip),
            54 => Some(&mut o.server_identifier),
            28 => Some(&mut o.broadcast_address),
            57 => Some(&mut o.max_message_size),
            60 => Some(&mut o.class_identifier),
            15 => Some(&mut o.domain_name),
            6 => Some(&mut o.dns_servers),
            124 => Some(&mut o.vendor_identifying),
            1 => Some(&mut o.subnet_mask),
            2 => Some(&mut o.time_offset),
            3 => Some(&mut o.router),
            4 => Some(&mut o.time_servers),
            42 => Some(&mut o.ntp_servers),
            12 => Some(&mut o.hostname),
            51 => Some(&mut o.lease_time),
            56 => Some(&mut o.message),
            58 => Some(&mut o.renewal_time),
            59 => Some(&mut o.rebinding_time),
            67 => Some(&mut o.boot_file_name),
            _ => None,
        };
        if let Some(s) = slot {
            if !s.seen {
                *s = v;
            }
        }
        i = start + usize::from(len);
    }
    Ok(m)
}

/// IPv4 addresses in an option value (a multiple of 4 bytes; a ragged
/// tail is ignored).
pub fn addrs(v: &[u8]) -> impl Iterator<Item = Ipv4Addr> + '_ {
    v.chunks_exact(4).map(ip)
}

/// One IPv4 address (exactly 4 bytes).
pub fn addr(v: &[u8]) -> Option<Ipv4Addr> {
    (v.len() == 4).then(|| ip(v))
}

/// A 32-bit value (exactly 4 bytes).
pub fn u32_of(v: &[u8]) -> Option<u32> {
    (v.len() == 4).then(|| u32::from_be_bytes([v[0], v[1], v[2], v[3]]))
}

/// The name of an option code, as Packetbeat's parameter request list
/// writes it (the insomniacslk/dhcp names).
pub fn option_name(code: u8) -> Option<&'static str> {
    Some(match code {
        0 => "Pad",
        1 => "Subnet Mask",
        2 => "Time Offset",
        3 => "Router",
        4 => "Time Server",
        5 => "Name Server",
        6 => "Domain Name Server",
        7 => "Log Server",
        8 => "Quote Server",
        9 => "LPR Server",
        10 => "Impress Server",
        11 => "Resource Location Server",
        12 => "Host Name",
        13 => "Boot File Size",
        14 => "Merit Dump File",
        15 => "Domain Name",
        16 => "Swap Server",
        17 => "Root Path",
        18 => "Extensions Path",
        19 => "IP Forwarding enable/disable",
        20 => "Non-local Source Routing enable/disable",
        21 => "Policy Filter",
        22 => "Maximum Datagram Reassembly Size",
        23 => "Default IP Time-to-live",
        24 => "Path MTU Aging Timeout",
        25 => "Path MTU Plateau Table",
        26 => "Interface MTU",
        27 => "All Subnets Are Local",
        28 => "Broadcast Address",
        29 => "Perform Mask Discovery",
        30 => "Mask Supplier",
        31 => "Perform Router Discovery",
        32 => "Router Solicitation Address",
        33 => "Static Routing Table",
        34 => "Trailer Encapsulation",
        35 => "ARP Cache Timeout",
        36 => "Ethernet Encapsulation",
        37 => "Default TCP TTL",
        38 => "TCP Keepalive Interval",
        39 => "TCP Keepalive Garbage",
        40 => "Network Information Service Domain",
        41 => "Network Information Servers",
        42 => "NTP Servers",
        43 => "Vendor Specific Information",
        44 => "NetBIOS over TCP/IP Name Server",
        45 => "NetBIOS over TCP/IP Datagram Distribution Server",
        46 => "NetBIOS over TCP/IP Node Type",
        47 => "NetBIOS over TCP/IP Scope",
        48 => "X Window System Font Server",
        49 => "X Window System Display Manager",
        50 => "Requested IP Address",
        51 => "IP Addresses Lease Time",
        52 => "Option Overload",
        53 => "DHCP Message Type",
        54 => "Server Identifier",
        55 => "Parameter Request List",
        56 => "Message",
        57 => "Maximum DHCP Message Size",
        58 => "Renew Time Value",
        59 => "Rebinding Time Value",
        60 => "Class Identifier",
        61 => "Client identifier",
        62 => "NetWare/IP Domain Name",
        63 => "NetWare/IP Information",
        64 => "Network Information Service+ Domain",
        65 => "Network Information Service+ Servers",
        66 => "TFTP Server Name",
        67 => "Bootfile Name",
        68 => "Mobile IP Home Agent",
        69 => "SMTP Server",
        70 => "POP Server",
        71 => "NNTP Server",
        72 => "Default WWW Server",
        73 => "Default Finger Server",
        74 => "Default IRC Server",
        75 => "StreetTalk Server",
        76 => "StreetTalk Directory Assistance Server",
        77 => "User Class Information",
        78 => "SLP DIrectory Agent",
        79 => "SLP Service Scope",
        80 => "Rapid Commit",
        81 => "FQDN",
        82 => "Relay Agent Information",
        83 => "Internet Storage Name Service",
        119 => "DNS Domain Search List",
        120 => "SIP Servers",
        121 => "Classless Static Route",
        124 => "Vendor-Identifying Vendor Class",
        125 => "Vendor-Identifying Vendor-Specific",
        150 => "TFTP Server Address",
        255 => "End",
        _ => return None,
    })
}
