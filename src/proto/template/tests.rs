//! The template's tests: the generic checks of the test kit on its sample
//! and on a pipelined exchange, and the session's own behaviour (pairing,
//! errors, loss, timeout) through the test kit's driver.

use super::{Template, TemplateConfig, TemplateSession};
use crate::flow::Transport;
use crate::proto::testkit::{
    prefix_check, random_check, split_check, AnySession, Driver, Subject, T0,
};
use crate::proto::{Dir, Protocol, Session};
use std::sync::Arc;

fn session() -> AnySession {
    AnySession::Stream(Box::new(TemplateSession::new(Arc::new(
        TemplateConfig::default(),
    ))))
}

const PIPELINE: &[(Dir, &[u8])] = &[
    (Dir::ToServer, b"GET a\nGET b\r\nDEL c\n"),
    (Dir::ToClient, b"OK 1\n"),
    (Dir::ToClient, b"OK 2\n"),
    (Dir::ToClient, b"ERR no such key\n"),
];

#[test]
fn the_generic_checks_pass_on_the_sample_and_a_pipeline() {
    let subject = Subject {
        name: "template",
        make: &session,
    };
    for steps in [Template::SAMPLE, PIPELINE] {
        prefix_check(&subject, steps);
        split_check(&subject, steps);
        random_check(&subject, steps, 7, 500);
    }
}

fn run(steps: &[(Dir, &[u8])]) -> Driver {
    let mut s = TemplateSession::new(Arc::new(TemplateConfig::default()));
    let mut d = Driver::new(Transport::Tcp, 7777);
    let mut ts = T0;
    for (dir, b) in steps {
        s.data(*dir, b, ts, &mut d.sink());
        ts += 1_000_000;
    }
    s.close(ts, &mut d.sink());
    d
}

#[test]
fn pipelined_requests_pair_in_order_and_err_is_an_error() {
    let ev = run(PIPELINE).events();
    assert_eq!(ev.len(), 3);
    assert_eq!(ev[0]["query"], "a");
    assert_eq!(ev[0]["template"]["response"], "1");
    assert_eq!(ev[2]["method"], "DEL");
    assert_eq!(ev[2]["status"], "Error");
    assert_eq!(ev[2]["template"]["status"], "ERR");
    // The legs became the common fields: 1 ms between request and response.
    assert_eq!(ev[0]["transaction"]["wait_us"], 1000);
    assert_eq!(ev[0]["source"]["bytes"], 6);
}

#[test]
fn a_response_gap_reports_the_waiting_request_and_pairing_restarts() {
    let mut s = TemplateSession::new(Arc::new(TemplateConfig::default()));
    let mut d = Driver::new(Transport::Tcp, 7777);
    s.data(Dir::ToServer, b"GET a\n", T0, &mut d.sink());
    s.gap(Dir::ToClient, 10, T0 + 1, &mut d.sink());
    s.data(
        Dir::ToClient,
        b"tail of lost\nOK late\n",
        T0 + 2,
        &mut d.sink(),
    );
    s.data(Dir::ToServer, b"GET b\n", T0 + 3, &mut d.sink());
    s.data(Dir::ToClient, b"OK b\n", T0 + 4, &mut d.sink());
    let ev = d.events();
    assert_eq!(
        ev[0]["error"]["message"],
        "Packet loss while capturing the response"
    );
    assert_eq!(ev.len(), 2, "{ev:?}");
    assert_eq!(ev[1]["template"]["response"], "b");
    assert_eq!(d.counters.get("template.ignored_responses"), 1);
}

#[test]
fn a_request_without_response_expires_on_tick() {
    let mut s = TemplateSession::new(Arc::new(TemplateConfig::default()));
    let mut d = Driver::new(Transport::Tcp, 7777);
    s.data(Dir::ToServer, b"GET a\n", T0, &mut d.sink());
    s.tick(T0 + 9_000_000_000, &mut d.sink());
    assert!(d.events().is_empty());
    s.tick(T0 + 11_000_000_000, &mut d.sink());
    assert_eq!(d.events()[0]["error"]["message"], "Unmatched request");
    assert_eq!(d.counters.get("template.unmatched_requests"), 1);
}

#[test]
fn a_bad_line_is_counted_and_the_next_line_decodes() {
    let ev = run(&[
        (Dir::ToServer, b"GET \x01bad\nGET ok\n"),
        (Dir::ToClient, b"OK y\n"),
    ]);
    assert_eq!(ev.counters.get("template.parse_errors"), 1);
    let e = ev.events();
    assert_eq!(e.len(), 1);
    assert_eq!(e[0]["query"], "ok");
}
