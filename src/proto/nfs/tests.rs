//! NFS session tests: the generic checks on TCP exchanges (one and several
//! fragments) and UDP datagrams, pairing by xid, auth flavours, v4
//! compounds, bounds, loss and resync, through the test kit's driver.

use super::parser::NFS_PROGRAM;
use super::{Nfs, NfsConfig, NfsSession, NfsUdpSession};
use crate::flow::Transport;
use crate::proto::testkit::{
    prefix_check, random_check, split_check, AnySession, Driver, Subject, T0,
};
use crate::proto::{DatagramSession, Dir, Protocol, Session};
use std::sync::Arc;

fn be(v: &[u32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_be_bytes()).collect()
}

/// An AUTH_UNIX call to NFS `vers`/`proc_` with `args`.
fn call(xid: u32, vers: u32, proc_: u32, args: &[u8]) -> Vec<u8> {
    let mut cred = be(&[5, 4]);
    cred.extend_from_slice(b"node");
    cred.extend(be(&[1000, 100, 1, 4]));
    let mut v = be(&[xid, 0, 2, NFS_PROGRAM, vers, proc_, 1, cred.len() as u32]);
    v.extend(cred);
    v.extend(be(&[0, 0]));
    v.extend_from_slice(args);
    v
}

fn reply(xid: u32, status: u32, rest: &[u8]) -> Vec<u8> {
    let mut v = be(&[xid, 1, 0, 0, 0, 0, status]);
    v.extend_from_slice(rest);
    v
}

/// One record in one fragment.
fn rec(m: &[u8]) -> Vec<u8> {
    let mut v = be(&[0x8000_0000 | m.len() as u32]);
    v.extend_from_slice(m);
    v
}

/// One record in fragments cut at `cuts`.
fn frags(m: &[u8], cuts: &[usize]) -> Vec<u8> {
    let mut v = Vec::new();
    let mut from = 0;
    for (i, &c) in cuts.iter().chain(std::iter::once(&m.len())).enumerate() {
        let last = i == cuts.len();
        v.extend(be(&[
            (if last { 0x8000_0000 } else { 0 }) | (c - from) as u32
        ]));
        v.extend_from_slice(&m[from..c]);
        from = c;
    }
    v
}

fn lookup_args() -> Vec<u8> {
    let mut a = be(&[8, 1, 2]);
    a.extend(be(&[9]));
    a.extend_from_slice(b"test_file\0\0\0");
    a
}

fn run(steps: &[(Dir, Vec<u8>)]) -> Driver {
    run_with(NfsConfig::default(), steps)
}

fn run_with(cfg: NfsConfig, steps: &[(Dir, Vec<u8>)]) -> Driver {
    let mut s = NfsSession::new(Arc::new(cfg));
    let mut d = Driver::new(Transport::Tcp, 2049);
    let mut ts = T0;
    for (dir, b) in steps {
        s.data(*dir, b, ts, &mut d.sink());
        ts += 1_000_000;
    }
    s.close(ts, &mut d.sink());
    d
}

#[test]
fn the_generic_checks_pass_on_one_and_several_fragments() {
    let subject = Subject {
        name: "nfs",
        make: &|| AnySession::Stream(Box::new(NfsSession::new(Arc::new(NfsConfig::default())))),
    };
    let c = call(7, 3, 3, &lookup_args());
    let r = reply(7, 2, &[]);
    let exchanges = [
        vec![(Dir::ToServer, rec(&c)), (Dir::ToClient, rec(&r))],
        vec![
            (Dir::ToServer, frags(&c, &[3, 30, 31])),
            (Dir::ToClient, frags(&r, &[8])),
        ],
    ];
    for ex in &exchanges {
        let steps: Vec<(Dir, &[u8])> = ex.iter().map(|(d, b)| (*d, b.as_slice())).collect();
        prefix_check(&subject, &steps);
        split_check(&subject, &steps);
        random_check(&subject, &steps, 5, 300);
        let ev = run(ex).events();
        assert_eq!(ev.len(), 1, "{ev:?}");
        let e = &ev[0];
        assert_eq!(e["nfs"]["version"], 3);
        assert_eq!(e["nfs"]["opcode"], "LOOKUP");
        assert_eq!(e["nfs"]["status"], "NFSERR_NOENT");
        assert_eq!(e["status"], "Error");
        assert_eq!(e["rpc"]["xid"], "00000007");
        assert_eq!(e["rpc"]["auth_flavor"], "unix");
        assert_eq!(e["rpc"]["cred"]["machinename"], "node");
        assert_eq!(e["rpc"]["cred"]["uid"], 1000);
        assert_eq!(e["rpc"]["cred"]["gid"], 100);
        assert_eq!(e["rpc"]["cred"]["gids"], serde_json::json!([4]));
        assert_eq!(e["rpc"]["status"], "success");
        // The file handle is hashed, never raw: CRC-32 of 01 00 00 00 02 00 00 00.
        let want = format!("0x{:08x}", crc32fast::hash(&be(&[1, 2])));
        assert_eq!(e["nfs"]["fh_hash"], want);
        assert_eq!(e["source"]["bytes"], ex[0].1.len() as u64);
    }
    prefix_check(&subject, Nfs::SAMPLE);
    split_check(&subject, Nfs::SAMPLE);
}

fn compound(tag: &str, minor: u32, ops: &[u32]) -> Vec<u8> {
    let mut a = be(&[tag.len() as u32]);
    a.extend_from_slice(tag.as_bytes());
    while a.len() % 4 != 0 {
        a.push(0);
    }
    a.extend(be(&[minor, ops.len() as u32]));
    for &op in ops {
        a.extend(be(&[op]));
        match op {
            53 => a.extend(be(&[0, 0, 0, 0, 1, 0, 0, 0])),
            22 => a.extend(be(&[4, 0xfeedf00d])),
            26 => a.extend(be(&[0, 0, 0, 0, 512, 4096, 1, 0x18])),
            9 => a.extend(be(&[1, 0x18])),
            _ => {}
        }
    }
    a
}

#[test]
fn v4_compounds_name_the_main_op_and_list_them_all() {
    let ev = run(&[
        (
            Dir::ToServer,
            rec(&call(8, 4, 1, &compound("readdir", 1, &[53, 22, 26, 9]))),
        ),
        (Dir::ToClient, rec(&reply(8, 0, &[]))),
    ])
    .events();
    let e = &ev[0];
    assert_eq!(e["nfs"]["version"], 4);
    assert_eq!(e["nfs"]["minor_version"], 1);
    assert_eq!(e["nfs"]["tag"], "readdir");
    assert_eq!(e["nfs"]["opcode"], "READDIR");
    assert_eq!(e["method"], "READDIR");
    assert_eq!(
        e["nfs"]["ops"],
        serde_json::json!(["SEQUENCE", "PUTFH", "READDIR", "GETATTR"])
    );
    assert_eq!(e["nfs"]["status"], "NFS_OK");
    assert_eq!(e["status"], "OK");
    assert_eq!(
        e["nfs"]["fh_hash"],
        format!("0x{:08x}", crc32fast::hash(&be(&[0xfeedf00d])))
    );
}

#[test]
fn replies_pair_by_xid_in_any_order_and_other_programs_are_swallowed() {
    let mut mount = be(&[50, 0, 2, 100_005, 3, 1, 0, 0, 0, 0]);
    mount.extend(be(&[0]));
    let d = run(&[
        (
            Dir::ToServer,
            [
                rec(&call(1, 3, 1, &be(&[4, 1]))),
                rec(&call(2, 3, 4, &be(&[4, 2]))),
                rec(&mount),
            ]
            .concat(),
        ),
        (
            Dir::ToClient,
            [
                rec(&reply(2, 0, &[])),
                rec(&reply(50, 0, &[])),
                rec(&reply(1, 70, &[])),
            ]
            .concat(),
        ),
        (Dir::ToClient, rec(&reply(99, 0, &[]))),
    ]);
    let ev = d.events();
    assert_eq!(ev.len(), 3, "{ev:?}");
    assert_eq!(ev[0]["nfs"]["opcode"], "ACCESS");
    assert_eq!(ev[1]["nfs"]["opcode"], "GETATTR");
    assert_eq!(ev[1]["nfs"]["status"], "NFSERR_STALE");
    assert_eq!(ev[2]["error"]["message"], "Unmatched response");
    assert_eq!(d.counters.get("nfs.other_programs"), 1);
}

#[test]
fn gss_and_denied_replies() {
    // RPCSEC_GSS v1, DATA, seq 9, service integrity, handle of 4 bytes.
    let cred = be(&[1, 0, 9, 2, 4, 0xabcd]);
    let mut c = be(&[3, 0, 2, NFS_PROGRAM, 3, 1, 6, cred.len() as u32]);
    c.extend(cred);
    c.extend(be(&[6, 0]));
    // integ: databody length, seq, then the GETATTR args.
    c.extend(be(&[12, 9, 4, 7]));
    let denied = be(&[3, 1, 1, 1]);
    let ev = run(&[(Dir::ToServer, rec(&c)), (Dir::ToClient, rec(&denied))]).events();
    let e = &ev[0];
    assert_eq!(e["rpc"]["auth_flavor"], "rpcsec_gss");
    assert_eq!(e["rpc"]["gss"]["service"], "integrity");
    assert_eq!(e["rpc"]["gss"]["sequence"], 9);
    assert_eq!(e["rpc"]["gss"]["procedure"], "data");
    assert_eq!(e["rpc"]["status"], "auth_error");
    assert_eq!(e["status"], "Error");
    assert_eq!(
        e["nfs"]["fh_hash"],
        format!("0x{:08x}", crc32fast::hash(&be(&[7])))
    );
}

#[test]
fn large_records_are_skipped_past_the_kept_prefix() {
    let cfg = NfsConfig {
        max_header_size: 512,
        ..NfsConfig::default()
    };
    // WRITE with 100 KB of data, in 3 fragments, fed in 1000-byte pieces.
    let mut args = be(&[4, 1]);
    args.extend(be(&[0, 0, 0, 25_000, 2, 100_000]));
    args.extend(std::iter::repeat_n(0x55u8, 100_000));
    let c = call(11, 3, 7, &args);
    let wire = frags(&c, &[40_000, 80_000]);
    let mut steps: Vec<(Dir, Vec<u8>)> = wire
        .chunks(1000)
        .map(|p| (Dir::ToServer, p.to_vec()))
        .collect();
    steps.push((Dir::ToClient, rec(&reply(11, 0, &[]))));
    let d = run_with(cfg, &steps);
    let ev = d.events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["nfs"]["opcode"], "WRITE");
    assert_eq!(ev[0]["source"]["bytes"], wire.len() as u64);
    assert_eq!(d.counters.get("nfs.skipped_bytes"), (c.len() - 512) as u64);
}

#[test]
fn a_gap_resyncs_at_the_next_record_and_expiry_says_why() {
    let mut s = NfsSession::new(Arc::new(NfsConfig::default()));
    let mut d = Driver::new(Transport::Tcp, 2049);
    s.data(
        Dir::ToServer,
        &rec(&call(1, 3, 1, &be(&[4, 1]))),
        T0,
        &mut d.sink(),
    );
    s.data(
        Dir::ToServer,
        &rec(&call(2, 3, 1, &be(&[4, 1]))),
        T0,
        &mut d.sink(),
    );
    s.gap(Dir::ToClient, 50, T0 + 1, &mut d.sink());
    let mut tail = vec![0u8; 10];
    tail.extend(rec(&reply(2, 0, &[])));
    s.data(Dir::ToClient, &tail, T0 + 2, &mut d.sink());
    assert_eq!(d.counters.get("nfs.resyncs"), 1);
    assert_eq!(d.counters.get("nfs.resync_skipped_bytes"), 10);
    s.tick(T0 + 11_000_000_000, &mut d.sink());
    let ev = d.events();
    assert_eq!(ev.len(), 2, "{ev:?}");
    assert_eq!(ev[0]["rpc"]["xid"], "00000002");
    assert_eq!(ev[0]["status"], "OK");
    assert_eq!(ev[1]["rpc"]["xid"], "00000001");
    assert_eq!(
        ev[1]["error"]["message"],
        "Packet loss while capturing the response"
    );
}

#[test]
fn garbage_and_oversized_records_are_counted() {
    let cfg = NfsConfig {
        max_record_size: 1024,
        ..NfsConfig::default()
    };
    let mut s = NfsSession::new(Arc::new(cfg));
    let mut d = Driver::new(Transport::Tcp, 2049);
    s.data(
        Dir::ToServer,
        &be(&[0x8000_0010, 1, 2, 3, 4]),
        T0,
        &mut d.sink(),
    );
    assert_eq!(d.counters.get("nfs.parse_errors"), 1);
    assert!(s.rejected(), "not RPC from the first record");
    s.data(Dir::ToServer, &rec(&call(5, 3, 0, &[])), T0, &mut d.sink());
    assert_eq!(d.counters.get("nfs.resyncs"), 1);
    s.data(Dir::ToServer, &be(&[0x8010_0000]), T0, &mut d.sink());
    assert_eq!(d.counters.get("nfs.oversized_records"), 1);
    s.data(Dir::ToServer, &rec(&call(6, 3, 0, &[])), T0, &mut d.sink());
    s.data(
        Dir::ToClient,
        &[rec(&reply(5, 0, &[])), rec(&reply(6, 0, &[]))].concat(),
        T0,
        &mut d.sink(),
    );
    let ev = d.events();
    assert_eq!(ev.len(), 2, "{ev:?}");
    assert!(ev
        .iter()
        .all(|e| e["nfs"]["opcode"] == "NULL" && e["status"] == "OK"));
    assert_eq!(d.counters.get("nfs.resyncs"), 2);
    assert!(!s.rejected(), "RPC was decoded after all");
}

#[test]
fn udp_datagrams_are_one_message_each() {
    let mut s = NfsUdpSession::new(Arc::new(NfsConfig::default()));
    let mut d = Driver::new(Transport::Udp, 2049);
    s.datagram(
        Dir::ToServer,
        &call(77, 3, 3, &lookup_args()),
        T0,
        &mut d.sink(),
    );
    s.datagram(Dir::ToClient, &reply(77, 0, &[]), T0 + 1000, &mut d.sink());
    s.datagram(
        Dir::ToServer,
        &call(78, 3, 3, &lookup_args()),
        T0,
        &mut d.sink(),
    );
    s.close(T0 + 2000, &mut d.sink());
    let ev = d.events();
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0]["network"]["transport"], "udp");
    assert_eq!(ev[0]["nfs"]["status"], "NFS_OK");
    assert_eq!(ev[1]["error"]["message"], "Unmatched request");
    let subject = Subject {
        name: "nfs-udp",
        make: &|| {
            AnySession::Datagram(Box::new(NfsUdpSession::new(Arc::new(NfsConfig::default()))))
        },
    };
    let c = call(7, 3, 3, &lookup_args());
    let r = reply(7, 2, &[]);
    random_check(
        &subject,
        &[(Dir::ToServer, &c), (Dir::ToClient, &r)],
        3,
        300,
    );
}
