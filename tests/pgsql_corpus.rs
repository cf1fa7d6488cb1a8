//! End to end: `spanlens replay` on every PostgreSQL capture of the
//! Packetbeat corpus, asserting the values MANIFEST.md lists, and on the
//! captures made with a real server and clients under tests/data
//! (tests/data/make-captures-pgsql.sh), whose transaction and error counts
//! must equal tshark's, recorded beside each pcap in `<name>.expected.json`.
//!
//! spanlens reports one transaction per Query and per Execute (tshark's
//! `Simple query` and `Execute` messages), one per CancelRequest, one per
//! failed login and one per encrypted connection. Packetbeat reports one
//! per Query statement and skips some Executes (see `extended_query`).

mod common;

use common::{config_file, corpus, data, of_type, replay};
use serde_json::Value;

fn events_with(file: &str, config: &str) -> Option<Vec<Value>> {
    let dir = corpus()?;
    let cfg = config_file(config);
    let path = dir.join(file);
    let all = replay(&[
        "-c",
        cfg.path().to_str().expect("utf-8 temp path"),
        path.to_str().expect("utf-8 corpus path"),
    ]);
    Some(of_type(&all, "pgsql").into_iter().cloned().collect())
}

const CONFIG: &str = "[flows]\nenabled = false\n";

fn events(file: &str) -> Option<Vec<Value>> {
    events_with(file, CONFIG)
}

#[test]
fn pgsql_request_response() {
    let Some(ev) = events("pgsql_request_response.pcap") else {
        return;
    };
    assert_eq!(ev.len(), 1);
    let e = &ev[0];
    assert_eq!(e["method"], "SELECT");
    assert_eq!(e["query"], "select * from test");
    assert_eq!(e["destination"]["bytes"], 202);
    assert_eq!(e["pgsql"]["num_rows"], 4);
    assert_eq!(e["status"], "OK");
}

#[test]
fn pgsql_request_response_text() {
    let Some(ev) = events_with(
        "pgsql_request_response.pcap",
        "[flows]\nenabled = false\n[protocols.pgsql]\nsend_response = true\n",
    ) else {
        return;
    };
    let text = ev[0]["response"].as_str().expect("response text");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "a,b,c");
    assert_eq!(lines.len(), 5, "{text}");
    assert!(lines[1].starts_with("mea"), "{text}");
    assert!(
        lines[4].starts_with("mea") && lines[4].contains("mec3"),
        "{text}"
    );
}

#[test]
fn pgsql_insert() {
    let Some(ev) = events("pgsql_insert.pcap") else {
        return;
    };
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["method"], "INSERT");
    assert_eq!(ev[0]["destination"]["bytes"], 16);
    assert_eq!(ev[0]["source"]["bytes"], 63);
}

#[test]
fn pgsql_insert_error() {
    let Some(ev) = events("pgsql_insert_error.pcap") else {
        return;
    };
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["method"], "INSERT");
    assert_eq!(ev[0]["status"], "Error");
    assert_eq!(ev[0]["pgsql"]["error_code"], "23505");
    assert_eq!(ev[0]["pgsql"]["error_severity"], "ERROR");
    assert!(ev[0]["pgsql"]["error_message"].is_string());
}

#[test]
fn pgsql_login_rt() {
    let Some(ev) = events("pgsql_rt.pcap") else {
        return;
    };
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["method"], "SELECT");
    assert_eq!(ev[0]["event"]["duration"], 38_800_000);
}

#[test]
fn pgsql_extended_query() {
    let Some(ev) = events("pgsql_extended_query.pcap") else {
        return;
    };
    // tshark counts two Executes; Packetbeat reports only the SELECT.
    assert_eq!(ev.len(), 2);
    let e = ev
        .iter()
        .find(|e| e["method"] == "SELECT")
        .expect("the SELECT");
    assert_eq!(e["query"], "SELECT * from test where id = $1");
    assert_eq!(e["source"]["bytes"], 90);
    assert_eq!(e["destination"]["bytes"], 101);
}

#[test]
fn pgsql_long_result() {
    let Some(ev) = events("pgsql_long_result.pcap") else {
        return;
    };
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["pgsql"]["num_rows"], 15);
    let lines = |cfg: &str| -> usize {
        let c = format!("[flows]\nenabled = false\n[protocols.pgsql]\nsend_response = true\n{cfg}");
        let ev = events_with("pgsql_long_result.pcap", &c).expect("corpus");
        ev[0]["response"]
            .as_str()
            .expect("response")
            .lines()
            .count()
    };
    assert_eq!(lines(""), 11);
    assert_eq!(lines("max_rows = 5\n"), 6);
    assert_eq!(lines("max_rows = 2000\n"), 16);
}

// ------------------------------------------------ captures made locally

fn check_local(name: &str) -> Vec<Value> {
    let pcap = data(&format!("{name}.pcap"));
    let expected = data(&format!("{name}.expected.json"));
    let Ok(text) = std::fs::read_to_string(&expected) else {
        eprintln!("SKIPPED: {} not found", expected.display());
        return Vec::new();
    };
    let want: Value = serde_json::from_str(&text).expect("expected.json");
    let n = |k: &str| want[k].as_u64().expect(k);
    let cfg = config_file(CONFIG);
    let all = replay(&["-c", cfg.path().to_str().unwrap(), pcap.to_str().unwrap()]);
    let ev: Vec<Value> = of_type(&all, "pgsql").into_iter().cloned().collect();
    let count = |f: &dyn Fn(&Value) -> bool| ev.iter().filter(|e| f(e)).count() as u64;
    let logins = count(&|e| e["method"] == "LOGIN");
    let encrypted = count(&|e| e["pgsql"]["encrypted"] == true);
    let cancels = count(&|e| e["method"] == "CANCEL");
    assert_eq!(cancels, n("cancel_requests"), "{name}: cancel requests");
    assert_eq!(
        ev.len() as u64 - logins - encrypted - cancels,
        n("simple_queries") + n("executes"),
        "{name}: one transaction per Simple query and Execute"
    );
    assert_eq!(
        count(&|e| e["pgsql"]["error_code"].is_string()),
        n("errors"),
        "{name}: ErrorResponses"
    );
    assert_eq!(
        count(&|e| e["status"] == "Error"),
        n("errors"),
        "{name}: errors"
    );
    assert_eq!(
        count(&|e| e["pgsql"]["copy"]["direction"] == "in"),
        n("copy_in")
    );
    assert_eq!(
        count(&|e| e["pgsql"]["copy"]["direction"] == "out"),
        n("copy_out")
    );
    assert!(
        ev.iter().all(|e| e["error"]["message"].is_null()),
        "{name}: no loss, nothing unmatched"
    );
    ev
}

#[test]
fn local_psql_capture() {
    let ev = check_local("pgsql-psql");
    if ev.is_empty() {
        return;
    }
    assert!(ev.iter().any(|e| e["pgsql"]["statements"] == 3));
    assert!(ev.iter().any(|e| e["method"] == "LOGIN"));
    assert!(ev
        .iter()
        .all(|e| !e.to_string().contains("wrong") && !e.to_string().contains("kiwi")));
}

#[test]
fn local_tls_capture() {
    let ev = check_local("pgsql-tls");
    if ev.is_empty() {
        return;
    }
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["method"], "SSL");
}

#[test]
fn local_pgbench_simple_capture() {
    check_local("pgbench-simple");
}

#[test]
fn local_pgbench_extended_capture() {
    check_local("pgbench-extended");
}

#[test]
fn local_pgbench_prepared_capture() {
    let ev = check_local("pgbench-prepared");
    let named = ev
        .iter()
        .filter(|e| e["pgsql"]["statement"].is_string())
        .count();
    assert!(named >= 140 || ev.is_empty(), "{named}");
}
