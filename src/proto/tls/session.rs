//! [`TlsSession`]: one `type: tls` event per connection's handshake.
//!
//! Both directions go through a [`RecordReader`]; the session keeps the
//! parsed hellos, the certificate summaries, the alerts and the time each
//! direction switched to encrypted records. The event goes out when both
//! directions have switched (`tls.established: true`), or, with
//! `established: false`, when either direction ends first, when the
//! handshake stalls for `transaction_timeout` of packet time, or when the
//! flow closes. After that, and once a direction is encrypted, its bytes are
//! not parsed at all: the payload is never looked at.
//!
//! Resumption (as Packetbeat decides it, RFC 5077): TLS 1.2 without a key
//! exchange message and with the client's session id echoed (`id`) or a
//! ticket offered and acknowledged (`ticket`); TLS 1.3 when the server
//! selects a pre-shared key (method `id` when the session id was echoed, as
//! Packetbeat writes it, else `ticket`). A TLS 1.3 full handshake that only
//! echoes the middlebox-compatibility session id is not resumed.
//!
//! Bounds: `max_handshake_bytes` per handshake message, `max_certificates`
//! per chain, 16 alerts per connection.

use super::cert::{self, CertInfo};
use super::event;
pub use super::handshake::{Alert, Handshake, MAX_ALERTS};
use super::parser::{self, hs, RecordReader, Step};
use super::TlsConfig;
use crate::proto::{Dir, Session, TxSink};
use crate::time::Timestamp;
use std::sync::Arc;

/// A TLS connection.
pub struct TlsSession {
    cfg: Arc<TlsConfig>,
    readers: [RecordReader; 2],
    hs: Handshake,
    /// The event was written; nothing more is parsed.
    done: bool,
    /// Stream bytes that are not TLS (counted once per connection).
    not_tls: bool,
}

impl TlsSession {
    /// A new session with the given settings.
    pub fn new(cfg: Arc<TlsConfig>) -> Self {
        let max = cfg.max_handshake_bytes;
        TlsSession {
            cfg,
            readers: [RecordReader::new(max), RecordReader::new(max)],
            hs: Handshake::default(),
            done: false,
            not_tls: false,
        }
    }

    /// The handshake seen so far.
    pub fn handshake(&self) -> &Handshake {
        &self.hs
    }

    fn on_message(&mut self, dir: Dir, t: u8, ts: Timestamp, out: &mut TxSink<'_>) {
        let body = self.readers[dir.idx()].message();
        match (dir, t) {
            (Dir::ToServer, hs::CLIENT_HELLO) => match parser::parse_client_hello(body) {
                Ok(ch) => {
                    if ch.bad_extensions > 0 {
                        out.count("tls.bad_extensions", u64::from(ch.bad_extensions));
                    }
                    self.hs.client = Some(ch);
                    self.hs.hello_end = Some(ts);
                }
                Err(_) => out.count("tls.parse_errors", 1),
            },
            (Dir::ToClient, hs::SERVER_HELLO) => match parser::parse_server_hello(body) {
                Ok(sh) => {
                    if sh.bad_extensions > 0 {
                        out.count("tls.bad_extensions", u64::from(sh.bad_extensions));
                    }
                    if sh.selected_version == Some(0x0304) {
                        self.readers[0].set_tls13();
                        self.readers[1].set_tls13();
                        self.hs.curve = sh.key_share_group.or(self.hs.curve);
                    }
                    if sh.retry {
                        self.hs.retried = true;
                    }
                    if !sh.retry || self.hs.server.is_none() {
                        self.hs.server = Some(sh);
                    }
                }
                Err(_) => out.count("tls.parse_errors", 1),
            },
            (_, hs::CERTIFICATE) => {
                let max = self.cfg.max_certificates;
                match parser::certificates(body, max) {
                    Ok(list) => {
                        let raw = self.cfg.include_raw_certificates;
                        let certs: Vec<CertInfo> = list
                            .iter()
                            .filter_map(|der| cert::summarise(der, raw))
                            .collect();
                        if certs.len() < list.len() {
                            out.count("tls.bad_certificates", (list.len() - certs.len()) as u64);
                        }
                        match dir {
                            Dir::ToClient => self.hs.server_certs = certs,
                            Dir::ToServer => self.hs.client_certs = certs,
                        }
                    }
                    Err(_) => out.count("tls.parse_errors", 1),
                }
            }
            (Dir::ToClient, hs::SERVER_KEY_EXCHANGE) => {
                self.hs.key_exchanged = true;
                let ecdhe = self
                    .hs
                    .server
                    .as_ref()
                    .and_then(|s| super::names::cipher(s.cipher))
                    .is_some_and(|n| n.contains("ECDHE"));
                if ecdhe {
                    self.hs.curve = parser::server_key_exchange_curve(body).or(self.hs.curve);
                }
            }
            (Dir::ToServer, hs::CLIENT_KEY_EXCHANGE) => self.hs.key_exchanged = true,
            (Dir::ToClient, hs::CERTIFICATE_REQUEST) => self.hs.cert_requested = true,
            _ => {}
        }
    }

    fn emit(&mut self, out: &mut TxSink<'_>) {
        if self.done {
            return;
        }
        self.done = true;
        if self.hs.client.is_none() && self.hs.server.is_none() {
            // Not a handshake we saw (mid-stream start, or not TLS).
            out.count("tls.no_hello", 1);
            return;
        }
        event::emit(&self.cfg, &self.hs, out);
    }
}

impl Session for TlsSession {
    fn data(&mut self, dir: Dir, data: &[u8], ts: Timestamp, out: &mut TxSink<'_>) {
        let i = dir.idx();
        if self.done || self.readers[i].encrypted() {
            return;
        }
        self.hs.first[i].get_or_insert(ts);
        self.hs.last[i] = ts;
        let mut pos = 0;
        loop {
            let (n, step) = self.readers[i].feed(&data[pos..]);
            pos += n;
            match step {
                // All input consumed and no whole message left.
                Step::More => break,
                Step::Handshake(t) => self.on_message(dir, t, ts, out),
                Step::TooLarge(..) => out.count("tls.handshake_too_large", 1),
                Step::ChangeCipherSpec => {
                    if self.readers[i].encrypted() {
                        self.hs.switched[i] = Some(ts);
                        break;
                    }
                }
                Step::Encrypted => {
                    self.hs.switched[i] = Some(ts);
                    break;
                }
                Step::Alert(level, code) => {
                    if self.hs.alerts.len() < MAX_ALERTS {
                        self.hs.alerts.push(Alert {
                            from: dir,
                            level,
                            code,
                        });
                    }
                }
                Step::NotTls => {
                    if !self.not_tls {
                        self.not_tls = true;
                        out.count("tls.not_tls", 1);
                    }
                }
            }
        }
        self.hs.bytes[i] += pos as u64;
        if self.hs.established() {
            self.emit(out);
        }
    }

    fn gap(&mut self, dir: Dir, len: u64, _ts: Timestamp, out: &mut TxSink<'_>) {
        let i = dir.idx();
        if self.done || self.readers[i].encrypted() {
            return;
        }
        out.count("tls.gaps", 1);
        if self.readers[i].gap(len) {
            self.hs.lost[i] = true;
        }
    }

    fn end(&mut self, _dir: Dir, _ts: Timestamp, out: &mut TxSink<'_>) {
        self.emit(out);
    }

    fn tick(&mut self, now: Timestamp, out: &mut TxSink<'_>) {
        if self.done {
            return;
        }
        let last = self.hs.last[0].max(self.hs.last[1]);
        if last > 0 && last.saturating_add(self.cfg.transaction_timeout.nanos()) <= now {
            out.count("tls.handshake_timeouts", 1);
            self.emit(out);
        }
    }

    fn close(&mut self, _now: Timestamp, out: &mut TxSink<'_>) {
        self.emit(out);
    }
}
