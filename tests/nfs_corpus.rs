//! End to end: `spanlens replay` on every NFS capture of the Packetbeat
//! corpus (nfs_v3.pcap, nfs_v4.pcap, nfs4_close.pcap,
//! nfsv42_layoutstats.pcap, nfsv42_clone.pcap), asserting the values
//! MANIFEST.md lists from Packetbeat's test_0061_nfs.py, and comparing xid,
//! operations, status and file handle hash with tshark's RPC/NFS dissectors
//! when tshark is installed.

mod common;

use common::{config_file, corpus, have, of_type, replay};
use serde_json::{json, Value};

fn events(file: &str) -> Option<Vec<Value>> {
    let dir = corpus()?;
    let cfg = config_file("[flows]\nenabled = false\n");
    let path = dir.join(file);
    let all = replay(&[
        "-c",
        cfg.path().to_str().expect("utf-8 temp path"),
        path.to_str().expect("utf-8 corpus path"),
    ]);
    let ev: Vec<Value> = of_type(&all, "nfs").into_iter().cloned().collect();
    for e in &ev {
        assert_eq!(e["server"]["port"], 2049, "{e}");
        assert_eq!(e["network"]["transport"], "tcp");
        assert!(e["event"]["duration"].as_u64().is_some(), "{e}");
        assert!(e["source"]["bytes"].as_u64().unwrap() > 0);
        assert!(e["destination"]["bytes"].as_u64().unwrap() > 0);
        assert!(e["rpc"]["time"].as_u64().is_some());
    }
    Some(ev)
}

#[test]
fn v3_lookup_noent() {
    let Some(ev) = events("nfs_v3.pcap") else {
        return;
    };
    assert_eq!(ev.len(), 1);
    let e = &ev[0];
    assert_eq!(e["rpc"]["auth_flavor"], "unix");
    assert_eq!(e["rpc"]["cred"]["machinename"], "ani");
    assert_eq!(e["rpc"]["status"], "success");
    assert_eq!(e["nfs"]["version"], 3);
    assert_eq!(e["nfs"]["opcode"], "LOOKUP");
    assert_eq!(e["nfs"]["status"], "NFSERR_NOENT");
    assert_eq!(e["status"], "Error");
    assert_eq!(e["client"]["port"], 839);
}

#[test]
fn v41_readdir() {
    let Some(ev) = events("nfs_v4.pcap") else {
        return;
    };
    assert_eq!(ev.len(), 1);
    let e = &ev[0];
    assert_eq!(e["rpc"]["auth_flavor"], "unix");
    assert_eq!(e["nfs"]["version"], 4);
    assert_eq!(e["nfs"]["minor_version"], 1);
    assert_eq!(e["nfs"]["tag"], "readdir");
    assert_eq!(e["nfs"]["opcode"], "READDIR");
    assert_eq!(e["nfs"]["ops"], json!(["SEQUENCE", "PUTFH", "READDIR"]));
    assert_eq!(e["nfs"]["status"], "NFS_OK");
    assert_eq!(e["status"], "OK");
}

#[test]
fn first_class_op_in_the_middle() {
    let Some(ev) = events("nfs4_close.pcap") else {
        return;
    };
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["nfs"]["opcode"], "CLOSE");
    assert_eq!(
        ev[0]["nfs"]["ops"],
        json!(["SEQUENCE", "PUTFH", "CLOSE", "GETATTR"])
    );
    assert_eq!(ev[0]["nfs"]["status"], "NFS_OK");
    assert_eq!(ev[0]["rpc"]["cred"]["machinename"], "desycloud03.desy.de");
}

#[test]
fn first_class_v42_op() {
    let Some(ev) = events("nfsv42_layoutstats.pcap") else {
        return;
    };
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["nfs"]["opcode"], "LAYOUTSTATS");
    assert_eq!(ev[0]["nfs"]["status"], "NFSERR_OP_ILLEGAL");
}

#[test]
fn clone_not_supported() {
    let Some(ev) = events("nfsv42_clone.pcap") else {
        return;
    };
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["nfs"]["opcode"], "CLONE");
    assert_eq!(ev[0]["nfs"]["status"], "NFSERR_NOTSUPP");
    assert_eq!(
        ev[0]["nfs"]["ops"],
        json!(["SEQUENCE", "PUTFH", "SAVEFH", "PUTFH", "CLONE", "GETATTR"])
    );
    assert_eq!(ev[0]["status"], "Error");
}

/// tshark's view of each capture's calls: xid, v4 operations, main
/// operation or v3 procedure, reply status, and the file handle hash of
/// the operation (the last one shown before the main operation).
#[test]
fn values_equal_tsharks() {
    let Some(dir) = corpus() else {
        return;
    };
    if !have("tshark") {
        common::skip("tshark not installed");
        return;
    }
    for file in [
        "nfs_v3.pcap",
        "nfs_v4.pcap",
        "nfs4_close.pcap",
        "nfsv42_layoutstats.pcap",
        "nfsv42_clone.pcap",
    ] {
        let out = std::process::Command::new("tshark")
            .args([
                "-r",
                dir.join(file).to_str().unwrap(),
                "-Y",
                "rpc.msgtyp == 0 && nfs",
            ])
            .args([
                "-T",
                "fields",
                "-e",
                "rpc.xid",
                "-e",
                "nfs.opcode",
                "-e",
                "nfs.fh.hash",
                "-e",
                "nfs.procedure_v3",
            ])
            .output()
            .expect("tshark");
        let text = String::from_utf8_lossy(&out.stdout);
        let calls: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
        let ev = events(file).unwrap();
        assert_eq!(ev.len(), calls.len(), "{file}");
        for (e, c) in ev.iter().zip(&calls) {
            assert_eq!(
                format!("0x{}", e["rpc"]["xid"].as_str().unwrap()),
                c[0],
                "{file}"
            );
            let hashes: Vec<&str> = c[2].split(',').filter(|h| !h.is_empty()).collect();
            if c[1].is_empty() {
                // v3: the procedure number and the one handle.
                let procs = ["NULL", "GETATTR", "SETATTR", "LOOKUP"];
                assert_eq!(
                    e["nfs"]["opcode"],
                    procs[c[3].parse::<usize>().unwrap()],
                    "{file}"
                );
                assert_eq!(e["nfs"]["fh_hash"], hashes[0], "{file}");
            } else {
                let ops: Vec<u32> = c[1].split(',').map(|o| o.parse().unwrap()).collect();
                assert_eq!(
                    e["nfs"]["ops"].as_array().unwrap().len(),
                    ops.len(),
                    "{file}"
                );
                // The current handle at the main op is the last PUTFH before it.
                let main = e["nfs"]["ops"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .position(|o| o == &e["nfs"]["opcode"])
                    .unwrap();
                let putfhs_before = ops[..main].iter().filter(|&&o| o == 22).count();
                assert!(putfhs_before > 0, "{file}");
                assert_eq!(e["nfs"]["fh_hash"], hashes[putfhs_before - 1], "{file}");
            }
        }
        // Reply statuses: the compound (or v3) status of each reply.
        let out = std::process::Command::new("tshark")
            .args([
                "-r",
                dir.join(file).to_str().unwrap(),
                "-Y",
                "rpc.msgtyp == 1 && nfs",
            ])
            .args(["-T", "fields", "-e", "nfs.status"])
            .output()
            .expect("tshark");
        let text = String::from_utf8_lossy(&out.stdout);
        let statuses: Vec<u32> = text
            .lines()
            .map(|l| l.split(',').next().unwrap().parse().unwrap())
            .collect();
        let names = |s: u32| match s {
            0 => "NFS_OK",
            2 => "NFSERR_NOENT",
            10004 => "NFSERR_NOTSUPP",
            10044 => "NFSERR_OP_ILLEGAL",
            _ => "other",
        };
        let got: Vec<&str> = ev
            .iter()
            .map(|e| e["nfs"]["status"].as_str().unwrap())
            .collect();
        let want: Vec<&str> = statuses.into_iter().map(names).collect();
        assert_eq!(got, want, "{file}");
    }
}
