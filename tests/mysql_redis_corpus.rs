//! End to end: `spanlens replay` on every MySQL and Redis capture of the
//! Packetbeat corpus, asserting the values MANIFEST.md lists, and on the
//! captures made with real servers under tests/data/ (event and error
//! counts equal to tshark's, recorded beside each pcap in
//! `<name>.expected.json` when the capture was made).
//!
//! Packetbeat reports only statements (COM_QUERY, prepared statements);
//! spanlens also reports PING, USE (COM_INIT_DB) and QUIT, so Packetbeat's
//! counts and indices are checked on the events that carry a `query`.

mod common;

use common::{config_file, corpus, data, of_type, replay};
use serde_json::Value;

const CONFIG: &str = "\
[flows]
enabled = false
[protocols.mysql]
ports = [3306, 3307, 13001]
[protocols.redis]
ports = [6379, 6380]
";

fn events(file: &str, kind: &str) -> Option<Vec<Value>> {
    let dir = corpus()?;
    let cfg = config_file(CONFIG);
    let path = dir.join(file);
    let all = replay(&[
        "-c",
        cfg.path().to_str().expect("utf-8 temp path"),
        path.to_str().expect("utf-8 corpus path"),
    ]);
    Some(of_type(&all, kind).into_iter().cloned().collect())
}

fn statements(ev: &[Value]) -> Vec<&Value> {
    ev.iter().filter(|e| e["query"].is_string()).collect()
}

#[test]
fn mysql_affected_rows() {
    let Some(ev) = events("mysql_affected_rows.pcap", "mysql") else {
        return;
    };
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["method"], "UPDATE");
    assert_eq!(ev[0]["mysql"]["affected_rows"], 316);
    assert_eq!(ev[0]["status"], "OK");
}

#[test]
fn mysql_connection_phase() {
    let Some(ev) = events("mysql_connection.pcap", "mysql") else {
        return;
    };
    // tshark -Y mysql.command: 7 (5 queries, COM_INIT_DB, COM_QUIT)
    assert_eq!(ev.len(), 7);
    assert!(ev.iter().any(|e| e["query"] == "SELECT DATABASE()"));
    assert!(ev.iter().all(|e| e["user"]["name"] == "root"));
    assert!(ev.iter().all(|e| e["mysql"]["server_version"] == "8.0.12"));
}

#[test]
fn mysql_error_database_not_selected() {
    let Some(ev) = events("mysql_err_database_not_selected.pcap", "mysql") else {
        return;
    };
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["method"], "SELECT");
    assert_eq!(ev[0]["status"], "Error");
    assert_eq!(ev[0]["mysql"]["error_code"], 1046);
    assert_eq!(
        ev[0]["mysql"]["error_message"],
        "3D000: No database selected"
    );
}

#[test]
fn mysql_int_string_operations() {
    let Some(ev) = events("mysql_int_string_operations.pcap", "mysql") else {
        return;
    };
    let q = statements(&ev);
    assert_eq!(q.len(), 157);
    let n = |m: &str| q.iter().filter(|e| e["method"] == m).count();
    assert_eq!(
        (n("SELECT"), n("SHOW"), n("ALTER"), n("SET"), n("CREATE")),
        (134, 10, 4, 3, 2)
    );
    assert!(q.iter().all(|e| e["server"]["port"] == 13001));
}

#[test]
fn mysql_long_result_sets() {
    let Some(ev) = events("mysql_long.pcap", "mysql") else {
        return;
    };
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["mysql"]["num_rows"], 400);
    let Some(ev) = events("mysql_long_result.pcap", "mysql") else {
        return;
    };
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["mysql"]["num_rows"], 15);
}

#[test]
fn mysql_long_result_response_text() {
    let Some(dir) = corpus() else {
        return;
    };
    for (opts, lines, longest) in [
        ("", 11, 261),
        ("max_row_length = 79", 11, 81),
        ("max_rows = 5", 6, 261),
        ("max_rows = 2000", 16, 261),
    ] {
        let cfg = config_file(&format!(
            "[flows]\nenabled = false\n[protocols.mysql]\nsend_response = true\n{opts}\n"
        ));
        let all = replay(&[
            "-c",
            cfg.path().to_str().unwrap(),
            dir.join("mysql_long_result.pcap").to_str().unwrap(),
        ]);
        let ev = of_type(&all, "mysql");
        let text = ev[0]["response"].as_str().expect("response text");
        assert_eq!(text.lines().count(), lines, "{opts}");
        let data_len = text.lines().skip(1).map(str::len).max().unwrap_or(0);
        assert_eq!(data_len, longest, "{opts}");
    }
    // Without send_response/send_request there is no text.
    let Some(ev) = events("mysql_long_result.pcap", "mysql") else {
        return;
    };
    assert!(ev[0].get("response").is_none() && ev[0].get("request").is_none());
}

#[test]
fn mysql_prepared_statement() {
    let Some(ev) = events("mysql_prepare_statement.pcap", "mysql") else {
        return;
    };
    assert_eq!(ev.len(), 2);
    assert!(ev.iter().all(|e| e["server"]["port"] == 3307));
    assert_eq!(ev[1]["method"], "SELECT");
    assert_eq!(ev[1]["status"], "OK");
    assert_eq!(ev[1]["params"][0], "A1224638");
    assert_eq!(ev[1]["mysql"]["num_rows"], 1);
}

#[test]
fn mysql_windows_line_ending() {
    let Some(ev) = events("mysql_windows_lineending.pcap", "mysql") else {
        return;
    };
    let q = statements(&ev);
    assert_eq!(q.len(), 1);
    assert_eq!(q[0]["method"], "SELECT");
    assert_eq!(q[0]["status"], "OK");
}

#[test]
fn mysql_gap_keeps_the_transaction() {
    let Some(ev) = events("mysql_with_gap.pcap", "mysql") else {
        return;
    };
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["status"], "OK");
    assert_eq!(ev[0]["method"], "SELECT");
    assert!(ev[0]["mysql"]["num_rows"].as_u64().unwrap() > 1);
    assert_eq!(
        ev[0]["error"]["message"],
        "Packet loss while capturing the response"
    );
}

#[test]
fn mysql_whitespace_statements() {
    let Some(ev) = events("mysql_with_whitespaces.pcap", "mysql") else {
        return;
    };
    let q = statements(&ev);
    assert_eq!(q.len(), 7);
    assert!(q.iter().all(|e| e["server"]["port"] == 3306));
    assert_eq!(q[0]["method"], "SET");
    assert_eq!(q[2]["method"], "DROP");
    assert_eq!(q[3]["method"], "CREATE");
    assert_eq!(q[5]["method"], "SELECT");
    assert_eq!(q[5]["path"], "test.test");
    assert_eq!(q[5]["destination"]["bytes"], 118);
    assert!(q.iter().all(|e| e["status"] == "OK"));
}

#[test]
fn redis_session() {
    let Some(ev) = events("redis_session.pcap", "redis") else {
        return;
    };
    assert_eq!(ev.len(), 11);
    assert_eq!(ev[0]["method"], "SET");
    assert_eq!(ev[0]["resource"], "key3");
    assert_eq!(ev[0]["query"], "set key3 me");
    assert_eq!(ev[0]["redis"]["return_value"], "OK");
    assert_eq!(ev[1]["method"], "GET");
    assert_eq!(ev[1]["query"], "get key3");
    assert_eq!(ev[1]["redis"]["return_value"], "me");
    assert_eq!(ev[2]["method"], "LLEN");
    assert_eq!(ev[2]["status"], "Error");
    assert_eq!(
        ev[2]["redis"]["error"],
        "ERR Operation against a key holding the wrong kind of value"
    );
    for e in &ev[3..] {
        assert_eq!(e["status"], "OK");
        assert!(e["redis"]["return_value"].is_string());
    }
    for e in &ev {
        assert!(e["source"]["bytes"].as_u64().unwrap() > 0);
        assert!(e["destination"]["bytes"].as_u64().unwrap() > 0);
    }
}

#[test]
fn redis_send_options() {
    let Some(dir) = corpus() else {
        return;
    };
    for send in [false, true] {
        let cfg = config_file(&format!(
            "[flows]\nenabled = false\n[protocols.redis]\nports = [6380]\n\
             send_request = {send}\nsend_response = {send}\n"
        ));
        let all = replay(&[
            "-c",
            cfg.path().to_str().unwrap(),
            dir.join("redis_one_transaction.pcap").to_str().unwrap(),
        ]);
        let ev = of_type(&all, "redis");
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].get("request").is_some(), send);
        assert_eq!(ev[0].get("response").is_some(), send);
    }
}

// ------------------------------------------------ captures made locally

/// Replays `tests/data/<name>.pcap` and compares with the tshark counts
/// recorded in `<name>.expected.json` when the capture was made.
fn check_local(name: &str) {
    let pcap = data(&format!("{name}.pcap"));
    let expected = data(&format!("{name}.expected.json"));
    let Ok(text) = std::fs::read_to_string(&expected) else {
        common::skip(&format!("{} not found", expected.display()));
        return;
    };
    let want: Value = serde_json::from_str(&text).expect("expected.json");
    let cfg = config_file(CONFIG);
    let all = replay(&["-c", cfg.path().to_str().unwrap(), pcap.to_str().unwrap()]);
    let kind = want["type"].as_str().expect("type");
    let ev = of_type(&all, kind);
    let reported = |e: &&&Value| e["redis"]["push"] != true;
    assert_eq!(
        ev.iter().filter(reported).count() as u64,
        want["transactions"].as_u64().unwrap(),
        "{name}: transactions"
    );
    assert_eq!(
        ev.iter().filter(|e| e["status"] == "Error").count() as u64,
        want["errors"].as_u64().unwrap(),
        "{name}: errors"
    );
    if let Some(methods) = want["methods"].as_object() {
        for (m, n) in methods {
            assert_eq!(
                ev.iter().filter(|e| e["method"] == m.as_str()).count() as u64,
                n.as_u64().unwrap(),
                "{name}: method {m}"
            );
        }
    }
    assert!(
        ev.iter().all(|e| e["error"]["message"].is_null()),
        "{name}: no loss"
    );
}

#[test]
fn local_mariadb_client_capture() {
    check_local("mariadb-client");
}

#[test]
fn local_redis_cli_capture() {
    check_local("redis-cli");
}

#[test]
fn local_redis_benchmark_capture() {
    check_local("redis-benchmark");
}

#[test]
fn local_redis_benchmark_pipelined_capture() {
    check_local("redis-benchmark-p16");
}

#[test]
fn local_mysqlslap_capture() {
    check_local("mysqlslap");
}
