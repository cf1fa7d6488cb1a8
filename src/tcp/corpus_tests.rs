//! Reassembly and metrics on the real captures of the shared corpus
//! (`SPANLENS_CORPUS`, else `../shared/corpus` beside the repository),
//! compared with what tshark reports for the same files. Skipped with a
//! message when the corpus is absent.
//!
//! The captures are decoded here with etherparse (the capture thread's
//! decoder is not part of this module); flows are keyed by their endpoint
//! pair and the client is the SYN's sender, else the higher port.

use super::*;
use crate::test_support::corpus_dir;
use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use std::collections::HashMap;
use std::net::IpAddr;

type Ep = (IpAddr, u16);

/// One replayed connection.
struct Flow {
    client: Ep,
    conn: TcpConn,
    data: [u64; 2],
    gaps: [u64; 2],
    ends: [u32; 2],
    /// Stream bytes after the last gap, to check against the payload.
    bytes: [Vec<u8>; 2],
}

/// Everything one capture produced.
struct Replay {
    flows: Vec<Flow>,
    counters: Counters,
}

impl Replay {
    fn total<T: Into<u64>>(&self, f: impl Fn(&DirMetrics) -> T) -> u64 {
        self.flows
            .iter()
            .map(|fl| f(&fl.conn.metrics().client).into() + f(&fl.conn.metrics().server).into())
            .sum()
    }
}

fn decode(linktype: i32, data: &[u8]) -> Option<SlicedPacket<'_>> {
    match linktype {
        1 => SlicedPacket::from_ethernet(data).ok(),
        // etherparse rejects some hardware types (772, loopback): the
        // 16-byte cooked header is followed by IP either way.
        113 => SlicedPacket::from_linux_sll(data)
            .ok()
            .or_else(|| SlicedPacket::from_ip(data.get(16..)?).ok()),
        0 | 108 => SlicedPacket::from_ip(data.get(4..)?).ok(),
        12 | 101 | 228 | 229 => SlicedPacket::from_ip(data).ok(),
        _ => None,
    }
}

fn replay(name: &str) -> Option<Replay> {
    let path = corpus_dir()?.join(name);
    let mut cap = pcap::Capture::from_file(&path).ok()?;
    let linktype = cap.get_datalink().0;
    let mut index: HashMap<(Ep, Ep), usize> = HashMap::new();
    let mut flows: Vec<Flow> = Vec::new();
    let mut counters = Counters::new();
    let mut last_ts = 0;
    while let Ok(pkt) = cap.next_packet() {
        // Saturating: some corpus files carry timestamps near or before 1970.
        let ts = (pkt.header.ts.tv_sec.max(0) as u64)
            .saturating_mul(crate::time::SECOND)
            .saturating_add((pkt.header.ts.tv_usec.max(0) as u64) * crate::time::MICROSECOND);
        last_ts = last_ts.max(ts);
        let Some(p) = decode(linktype, pkt.data) else {
            continue;
        };
        let (src, dst): (IpAddr, IpAddr) = match &p.net {
            Some(NetSlice::Ipv4(ip)) => (
                ip.header().source_addr().into(),
                ip.header().destination_addr().into(),
            ),
            Some(NetSlice::Ipv6(ip)) => (
                ip.header().source_addr().into(),
                ip.header().destination_addr().into(),
            ),
            _ => continue,
        };
        let Some(TransportSlice::Tcp(tcp)) = &p.transport else {
            continue;
        };
        let a = (src, tcp.source_port());
        let b = (dst, tcp.destination_port());
        let key = if a < b { (a, b) } else { (b, a) };
        let i = *index.entry(key).or_insert_with(|| {
            let client = if tcp.syn() {
                if tcp.ack() {
                    b
                } else {
                    a
                }
            } else if a.1 > b.1 {
                a
            } else {
                b
            };
            flows.push(Flow {
                client,
                conn: TcpConn::new(&TcpConfig::default()),
                data: [0; 2],
                gaps: [0; 2],
                ends: [0; 2],
                bytes: [Vec::new(), Vec::new()],
            });
            flows.len() - 1
        });
        let fl = &mut flows[i];
        let dir = if a == fl.client {
            Dir::ToServer
        } else {
            Dir::ToClient
        };
        let fl_flags = [
            (tcp.fin(), flags::FIN),
            (tcp.syn(), flags::SYN),
            (tcp.rst(), flags::RST),
            (tcp.psh(), flags::PSH),
            (tcp.ack(), flags::ACK),
        ]
        .iter()
        .filter(|(set, _)| *set)
        .fold(0u8, |acc, (_, bit)| acc | bit);
        let seg = Segment {
            seq: tcp.sequence_number(),
            ack: tcp.acknowledgment_number(),
            flags: fl_flags,
            window: tcp.window_size(),
            payload: tcp.payload(),
            wire_payload_len: tcp.payload().len() as u32,
        };
        let Flow {
            conn,
            data,
            gaps,
            ends,
            bytes,
            ..
        } = fl;
        conn.segment(dir, &seg, ts, &mut counters, &mut |d, del, _| {
            record(d, del, data, gaps, ends, bytes)
        });
    }
    for fl in &mut flows {
        let Flow {
            conn,
            data,
            gaps,
            ends,
            bytes,
            ..
        } = fl;
        conn.finish(last_ts, &mut counters, &mut |d, del, _| {
            record(d, del, data, gaps, ends, bytes)
        });
    }
    Some(Replay { flows, counters })
}

fn record(
    d: Dir,
    del: Delivery<'_>,
    data: &mut [u64; 2],
    gaps: &mut [u64; 2],
    ends: &mut [u32; 2],
    bytes: &mut [Vec<u8>; 2],
) {
    let i = d.idx();
    match del {
        Delivery::Data(b) => {
            data[i] += b.len() as u64;
            bytes[i].extend_from_slice(b);
        }
        Delivery::Gap(n) => {
            gaps[i] += n;
            bytes[i].clear();
        }
        Delivery::End => ends[i] += 1,
    }
}

/// Every flow of every TCP capture ends exactly once per direction, and
/// only the captures with lost segments have gaps.
#[test]
fn corpus_every_direction_ends_once() {
    let Some(dir) = corpus_dir() else {
        return;
    };
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".pcap") || n.ends_with(".pcapng"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    let mut tcp_flows = 0;
    for f in &files {
        let Some(r) = replay(f) else {
            continue;
        };
        if !r.flows.is_empty() {
            eprintln!(
                "{f} flows={} retr={} ooo={} dupack={} zw={} ka={} gap_bytes={}",
                r.flows.len(),
                r.total(|m| m.retransmitted_segments),
                r.total(|m| m.out_of_order_segments),
                r.total(|m| m.duplicate_acks),
                r.total(|m| m.zero_window_segments),
                r.total(|m| m.keep_alives),
                r.total(|m| m.gap_bytes),
            );
        }
        // tshark finds lost segments in these two only.
        if f != "gap_in_stream.pcap" && f != "mysql_with_gap.pcap" {
            assert_eq!(r.total(|m| m.gap_bytes), 0, "{f}");
        }
        for fl in &r.flows {
            tcp_flows += 1;
            assert_eq!(fl.ends, [1, 1], "{f}: flow {:?}", fl.client);
        }
    }
    assert!(tcp_flows > 50, "only {tcp_flows} TCP flows in the corpus");
}

/// Retransmission counts against tshark's `tcp.analysis.retransmission`.
#[test]
fn corpus_retransmissions_match_tshark() {
    // (capture, tshark retransmissions, tshark duplicate ACKs)
    for (name, retr, dup) in [
        ("http_get_2k_file.pcap", 2, 2),
        ("http_minitwit.pcap", 9, 6),
        ("mysql_windows_lineending.pcap", 1, 0),
        ("mysql_with_whitespaces.pcap", 0, 1),
        ("wsgi_loopback.pcap", 25, 7),
        ("wsgi_drum.pcap", 809, 88),
        ("gap_in_stream.pcap", 0, 0),
    ] {
        let Some(r) = replay(name) else {
            return;
        };
        assert_eq!(r.total(|m| m.retransmitted_segments), retr, "{name}");
        assert_eq!(r.total(|m| m.duplicate_acks), dup, "{name}");
        assert_eq!(r.total(|m| m.out_of_order_segments), 0, "{name}");
        assert_eq!(r.counters.get("tcp.overlap_mismatches"), 0, "{name}");
    }
}

/// The captures with a lost segment yield a gap in the response direction
/// only, and the handshake RTT is measured.
#[test]
fn corpus_lost_segments_become_gaps() {
    // Lost ranges from tshark's relative sequence numbers: the client ACKs
    // 49353 while the response was seen up to 201; frame 26 starts at
    // 157833 after 144801.
    for (name, lost) in [
        ("gap_in_stream.pcap", 49353 - 201),
        ("mysql_with_gap.pcap", 157833 - 144801),
    ] {
        let Some(r) = replay(name) else {
            return;
        };
        let client_gaps: u64 = r.flows.iter().map(|f| f.gaps[0]).sum();
        let server_gaps: u64 = r.flows.iter().map(|f| f.gaps[1]).sum();
        assert_eq!(client_gaps, 0, "{name}");
        assert_eq!(server_gaps, lost, "{name}");
        assert_eq!(r.counters.get("tcp.gap_bytes"), server_gaps, "{name}");
        assert_eq!(r.total(|m| m.gap_bytes), server_gaps, "{name}");
    }
}
