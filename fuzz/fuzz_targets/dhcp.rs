//! Fuzz target: arbitrary bytes through the DHCPv4 parser and a whole
//! `DhcpSession` (datagrams both ways, ticks). Nothing may panic; every
//! event must be valid JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spanlens::proto::dhcp::parser;
use spanlens::proto::dhcp::{DhcpConfig, DhcpSession};
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = parser::parse(data) {
        // What the parser read lies inside the datagram.
        assert!(m.hw().len() <= 16);
        for v in [m.options.parameter_request_list, m.options.hostname] {
            let _ = v.get(data);
        }
    }
    let cfg = Arc::new(DhcpConfig {
        max_in_flight: 4,
        ..Default::default()
    });
    let mut s = DhcpSession::new(Arc::clone(&cfg));
    spanlens::proto::testkit::fuzz_datagram(&mut s, 67, data);
    // Whole-size messages: the fuzz driver's datagrams are at most 252
    // bytes, shorter than a BOOTP header; feed the input as one datagram
    // with a valid header prefix too.
    let mut whole = vec![0u8; 240];
    whole[0] = 1 + (data.first().copied().unwrap_or(0) & 1);
    whole[2] = 6;
    whole[236..240].copy_from_slice(&parser::COOKIE);
    whole.extend_from_slice(data);
    let mut t = DhcpSession::new(cfg);
    spanlens::proto::testkit::fuzz_datagram(&mut t, 67, &[]);
    let mut d = spanlens::proto::testkit::Driver::new(spanlens::flow::Transport::Udp, 67);
    spanlens::proto::DatagramSession::datagram(
        &mut t,
        spanlens::proto::Dir::ToServer,
        &whole,
        spanlens::proto::testkit::T0,
        &mut d.sink(),
    );
    spanlens::proto::DatagramSession::close(&mut t, spanlens::proto::testkit::T0, &mut d.sink());
    let _ = d.events();
});
