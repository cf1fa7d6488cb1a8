//! End to end: every HTTP capture of the shared corpus replayed through the
//! binary with the settings its MANIFEST.md line implies (ports above all),
//! asserting the values Packetbeat's system tests assert.
//!
//! Skips (with a printed notice) when the corpus is absent.

mod common;

use common::{config_file, corpus, of_type, replay};
use serde_json::Value;
use std::path::Path;

/// Replays `file` with one worker and `[protocols.http]` = `http` (TOML body).
fn http_events(dir: &Path, file: &str, http: &str) -> Vec<Value> {
    let cfg = config_file(&format!(
        "[flows]\nenabled = false\n\n[protocols.http]\n{http}\n"
    ));
    let path = dir.join(file);
    let events = replay(&[
        "-w",
        "1",
        "-c",
        cfg.path().to_str().unwrap(),
        path.to_str().unwrap(),
    ]);
    of_type(&events, "http").into_iter().cloned().collect()
}

fn with_request(events: &[Value]) -> Vec<&Value> {
    events
        .iter()
        .filter(|e| e["http"].get("request").is_some())
        .collect()
}

#[test]
fn http_minitwit_three_keep_alive_transactions_on_port_80() {
    let Some(dir) = corpus() else { return };
    let ev = http_events(&dir, "http_minitwit.pcap", "ports = [80]");
    assert_eq!(ev.len(), 3);
    let expect = [
        ("OK", 364, 1000, "/"),
        ("OK", 471, 234, "/static/style.css"),
        ("Error", 289, 396, "/favicon.ico"),
    ];
    for (e, (status, cb, sb, path)) in ev.iter().zip(expect) {
        assert_eq!(e["status"], status);
        assert_eq!(e["source"]["bytes"], cb);
        assert_eq!(e["destination"]["bytes"], sb);
        assert_eq!(e["url"]["path"], path);
        assert_eq!(e["client"]["ip"], "192.168.1.104");
        assert_eq!(e["client"]["port"], 54742);
        assert_eq!(e["server"]["ip"], "192.168.1.110");
        assert_eq!(e["server"]["port"], 80);
        assert_eq!(e["network"]["type"], "ipv4");
        assert_eq!(e["network"]["transport"], "tcp");
    }
    let codes: Vec<_> = ev
        .iter()
        .map(|e| e["http"]["response"]["status_code"].clone())
        .collect();
    assert_eq!(codes, [200, 304, 404]);
}

#[test]
fn http_100_continue_is_one_transaction() {
    let Some(dir) = corpus() else { return };
    let ev = http_events(
        &dir,
        "http_100_continue.pcap",
        "ports = [9200]\nsend_all_headers = true",
    );
    assert_eq!(ev.len(), 1);
    assert_eq!(
        ev[0]["http"]["request"]["headers"]["expect"],
        "100-continue"
    );
    assert_eq!(ev[0]["http"]["response"]["status_code"], 200);
    assert!(ev[0].get("error").is_none());
}

#[test]
fn http_10_connection_close_body_ends_with_the_connection() {
    let Some(dir) = corpus() else { return };
    let ev = http_events(
        &dir,
        "http_10_connection_close.pcap",
        "ports = [8000]\nsend_all_headers = true",
    );
    assert_eq!(ev.len(), 1);
    let e = &ev[0];
    assert_eq!(e["status"], "OK");
    assert_eq!(e["http"]["response"]["status_code"], 200);
    // No Content-Length header (the body ends with the connection): the
    // 11422 bytes Packetbeat reports are the body it counted.
    assert!(e["http"]["response"]["headers"]
        .get("content-length")
        .is_none());
    assert_eq!(e["http"]["response"]["body"]["bytes"], 11422);
    assert_eq!(e["client"]["ip"], "127.0.0.1");
    assert_eq!(e["client"]["port"], 37885);
    assert_eq!(e["server"]["port"], 8000);
}

#[test]
fn http_basicauth_is_redacted_and_names_the_user() {
    let Some(dir) = corpus() else { return };
    let ev = http_events(
        &dir,
        "http_basicauth.pcap",
        "ports = [80]\nsend_all_headers = true",
    );
    assert_eq!(ev.len(), 1);
    let e = &ev[0];
    assert_eq!(e["http"]["request"]["headers"]["authorization"], "*");
    assert_eq!(e["user"]["name"], "simplesimon");
    assert_eq!(e["url"]["full"], "http://www.example.com/");
    assert_eq!(e["http"]["request"]["method"], "GET");
    assert_eq!(e["http"]["response"]["status_code"], 200);
    assert_eq!(e["client"]["port"], 55874);
    assert_eq!(e["status"], "OK");
}

#[test]
fn http_get_2k_file_over_max_message_size_is_still_one_transaction() {
    let Some(dir) = corpus() else { return };
    let cfg = config_file(
        "[flows]\nenabled = false\n[protocols.http]\nports = [8000]\nmax_message_size = 1024\ninclude_body_for = [\"application/octet-stream\"]\n",
    );
    let stats = tempfile::NamedTempFile::new().unwrap();
    let pcap = dir.join("http_get_2k_file.pcap");
    let all = replay(&[
        "-w",
        "1",
        "-c",
        cfg.path().to_str().unwrap(),
        "--stats-json",
        stats.path().to_str().unwrap(),
        pcap.to_str().unwrap(),
    ]);
    let ev = of_type(&all, "http");
    assert_eq!(ev.len(), 1);
    let counters: Value = serde_json::from_slice(&std::fs::read(stats.path()).unwrap()).unwrap();
    assert_eq!(counters["http"]["messages_over_max_size"], 1, "{counters}");
    let body = &ev[0]["http"]["response"]["body"];
    assert_eq!(body["bytes"], 2048);
    assert!(body.get("content").is_none(), "skipped body is not kept");
}

#[test]
fn http_over_vlan_query() {
    let Some(dir) = corpus() else { return };
    let ev = http_events(&dir, "http_over_vlan.pcap", "ports = [8080]");
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["query"], "GET /jpetstore/");
}

#[test]
fn http_post_form_params_headers_and_sizes() {
    let Some(dir) = corpus() else { return };
    let ev = http_events(
        &dir,
        "http_post.pcap",
        "ports = [80]\nsend_all_headers = true",
    );
    assert_eq!(ev.len(), 1);
    let e = &ev[0];
    assert_eq!(
        e["url"]["query"],
        "address=anklamerstr.14b&telephon=8932784368&user=monica"
    );
    assert_eq!(e["query"], "POST /register");
    let rq = &e["http"]["request"]["headers"];
    for h in ["content-length", "content-type", "host", "user-agent"] {
        assert!(rq.get(h).is_some(), "request header {h}");
    }
    let rs = &e["http"]["response"]["headers"];
    for h in [
        "content-length",
        "content-type",
        "date",
        "connection",
        "server",
    ] {
        assert!(rs.get(h).is_some(), "response header {h}");
    }
    assert_eq!(rq["content-type"], "application/x-www-form-urlencoded");
    assert_eq!(rs["content-type"], "text/html; charset=utf-8");
    let r = &e["http"]["response"];
    let head = r["bytes"].as_u64().unwrap() - r["body"]["bytes"].as_u64().unwrap();
    assert_eq!(head, 172, "response head bytes");
}

#[test]
fn http_post_json_sent_as_a_form() {
    let Some(dir) = corpus() else { return };
    let ev = http_events(
        &dir,
        "http_post_json.pcap",
        "ports = [9200]\nsend_all_headers = true",
    );
    assert_eq!(ev.len(), 1);
    let e = &ev[0];
    assert_eq!(
        e["http"]["request"]["headers"]["content-type"],
        "application/x-www-form-urlencoded; charset=UTF-8"
    );
    assert_eq!(
        e["http"]["response"]["headers"]["content-type"],
        "application/json; charset=UTF-8"
    );
    assert_eq!(
        e["url"]["query"],
        "%7B+%22query%22%3A+%7B+%22match_all%22%3A+%7B%7D%7D%7D%0A="
    );
    assert!(e["http"]["request"]["body"]["bytes"].as_u64().unwrap() > 0);
    assert!(e["http"]["response"]["body"]["bytes"].as_u64().unwrap() > 0);
}

#[test]
fn http_realip_and_x_forwarded_for_give_the_real_client() {
    let Some(dir) = corpus() else { return };
    let ev = http_events(
        &dir,
        "http_realip.pcap",
        "ports = [8002]\nreal_ip_header = \"X-Forward-For\"",
    );
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["client"]["ip"], "89.247.39.104");
    assert_eq!(ev[0]["network"]["forwarded_ip"], "89.247.39.104");
    let ev = http_events(
        &dir,
        "http_x_forwarded_for.pcap",
        "ports = [80]\nreal_ip_header = \"X-Forwarded-For\"",
    );
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["client"]["ip"], "89.247.39.104");
    assert_eq!(ev[0]["network"]["forwarded_ip"], "89.247.39.104");
    assert_ne!(
        ev[0]["source"]["ip"], "89.247.39.104",
        "the proxy stays the source"
    );
}

#[test]
fn http_unmatched_response_then_a_normal_transaction() {
    let Some(dir) = corpus() else { return };
    let ev = http_events(
        &dir,
        "http_unmatched.pcap",
        "ports = [8080]\nsend_all_headers = true",
    );
    // Packetbeat's two events (connection 2) ...
    let conn2: Vec<_> = ev
        .iter()
        .filter(|e| e["http"].get("response").is_some())
        .collect();
    assert_eq!(conn2.len(), 2);
    assert_eq!(conn2[0]["status"], "Error");
    assert_eq!(conn2[0]["http"]["response"]["status_code"], 404);
    assert_eq!(conn2[0]["error"]["message"], "Unmatched response");
    assert_eq!(conn2[1]["status"], "OK");
    assert_eq!(conn2[1]["http"]["response"]["status_code"], 200);
    // Packetbeat puts its computed length (0) in the headers; the request has
    // no such header, so spanlens reports the body size instead.
    assert!(conn2[1]["http"]["request"]["headers"]
        .get("content-length")
        .is_none());
    assert_eq!(conn2[1]["http"]["request"]["body"]["bytes"], 0);
    // ... plus connection 1's request, reset without an answer: Packetbeat's
    // test exits before its connection times out; spanlens reports it when
    // the flow ends.
    let conn1: Vec<_> = ev
        .iter()
        .filter(|e| e["http"].get("response").is_none())
        .collect();
    assert_eq!(conn1.len(), 1);
    assert_eq!(conn1[0]["query"], "GET /something");
    assert_eq!(conn1[0]["error"]["message"], "Unmatched request");
}

#[test]
fn http_unmatched_timeout_reports_the_request() {
    let Some(dir) = corpus() else { return };
    let ev = http_events(
        &dir,
        "http_unmatched_timeout.pcap",
        "ports = [8080]\ntransaction_timeout = \"1s\"",
    );
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["status"], "Error");
    assert_eq!(ev[0]["query"], "GET /something");
    assert_eq!(ev[0]["error"]["message"], "Unmatched request");
}

#[test]
fn http_url_params() {
    let Some(dir) = corpus() else { return };
    let ev = http_events(&dir, "http_url_params.pcap", "ports = [80]");
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["query"], "GET /dashboard/transactions");
    assert_eq!(ev[0]["url"]["path"], "/dashboard/transactions");
    assert_eq!(
        ev[0]["url"]["query"],
        "input=packetbeat&src_ip=192.35.243.1"
    );
}

#[test]
fn hide_secret_get_and_post() {
    let Some(dir) = corpus() else { return };
    for file in ["hide_secret_GET.pcap", "hide_secret_POST.pcap"] {
        // Masked with the defaults (privacy by default) ...
        let default = http_events(&dir, file, "ports = [80]");
        assert_eq!(default.len(), 1, "{file}");
        assert_eq!(
            default[0]["url"]["query"], "pass=xxxxx&user=monica",
            "{file}"
        );
        // ... shown only when masking is turned off.
        let shown = http_events(&dir, file, "ports = [80]\nmask_passwords = false");
        assert_eq!(shown.len(), 1, "{file}");
        assert_eq!(shown[0]["url"]["path"], "/login");
        assert_eq!(
            shown[0]["url"]["query"], "pass=secret&user=monica",
            "{file}"
        );
        let hidden = http_events(
            &dir,
            file,
            "ports = [80]\nhide_keywords = [\"pass\", \"password\"]\nsend_all_headers = true\ninclude_body_for = [\"x-www-form\"]",
        );
        assert_eq!(hidden.len(), 1);
        assert_eq!(hidden[0]["url"]["path"], "/login");
        assert_eq!(
            hidden[0]["url"]["query"], "pass=xxxxx&user=monica",
            "{file}"
        );
        assert!(
            !hidden[0].to_string().contains("secret"),
            "{file}: {}",
            hidden[0]
        );
    }
}

#[test]
fn gap_in_stream_keeps_the_transaction() {
    let Some(dir) = corpus() else { return };
    let ev = http_events(&dir, "gap_in_stream.pcap", "ports = [8000]");
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["status"], "OK");
    assert_eq!(
        ev[0]["error"]["message"],
        "Packet loss while capturing the response"
    );
}

#[test]
fn wsgi_drum_sixteen_transactions_one_500() {
    let Some(dir) = corpus() else { return };
    let ev = http_events(&dir, "wsgi_drum.pcap", "ports = [8888]");
    // Every packet of this capture appears twice; the copies of SYNs and
    // responses that arrive after a connection closed start new flows and
    // come out as unmatched responses until the TCP layer recognises them,
    // so only the transactions with a request are counted here.
    let tx = with_request(&ev);
    assert_eq!(tx.len(), 16);
    assert!(ev.iter().all(|e| e["server"]["port"] == 8888));
    let errors: Vec<_> = tx.iter().filter(|e| e["status"] == "Error").collect();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["url"]["path"], "/comment/");
    assert_eq!(errors[0]["http"]["response"]["status_code"], 500);
}

#[test]
fn wsgi_loopback_large_html_body_and_headers() {
    let Some(dir) = corpus() else { return };
    let ev = http_events(
        &dir,
        "wsgi_loopback.pcap",
        "ports = [8888]\nsend_all_headers = true\ninclude_body_for = [\"text/html\"]",
    );
    assert_eq!(ev.len(), 1);
    let e = &ev[0];
    assert_eq!(e["client"]["port"], 46249);
    assert_eq!(e["server"]["port"], 8888);
    assert_eq!(e["query"], "GET /");
    assert_eq!(e["http"]["response"]["status_code"], 200);
    assert_eq!(e["http"]["response"]["status_phrase"], "ok");
    assert_eq!(
        e["http"]["request"]["headers"]["cache-control"],
        "max-age=0"
    );
    let body = e["http"]["response"]["body"]["content"].as_str().unwrap();
    assert!(body.len() > 20000, "{}", body.len());
}
