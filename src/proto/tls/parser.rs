//! TLS record framing and handshake parsing: pure, streaming, bounded.
//!
//! References: RFC 8446 (TLS 1.3) section 5 (record layer) and 4 (handshake
//! messages), RFC 5246 (TLS 1.2) sections 6.2 and 7.4, RFC 6066 (server
//! name, status request), RFC 7301 (ALPN), RFC 8701 (GREASE).
//!
//! [`RecordReader`] cuts one direction's byte stream into records without
//! copying their bodies, except handshake bodies, which it assembles into
//! whole handshake messages (they may span records, and a record may hold
//! several) inside a buffer bounded by `max_message`. It never keeps
//! application data. After a gap it resynchronises at the next byte run that
//! looks like a record header.
//!
//! The bodies of ClientHello, ServerHello and Certificate messages are
//! parsed with `tls-parser` (rusticata, the parser Suricata uses) into the
//! owned summaries [`ClientHello`], [`ServerHello`]; extensions are walked
//! one at a time so that one malformed extension loses only itself.

use tls_parser::{
    parse_tls_client_hello_extension, parse_tls_handshake_client_hello,
    parse_tls_handshake_server_hello, parse_tls_server_hello_extension, TlsExtension,
};

/// Record content types (RFC 8446 section 5.1).
pub mod content {
    /// change_cipher_spec
    pub const CHANGE_CIPHER_SPEC: u8 = 20;
    /// alert
    pub const ALERT: u8 = 21;
    /// handshake
    pub const HANDSHAKE: u8 = 22;
    /// application_data
    pub const APPLICATION_DATA: u8 = 23;
    /// heartbeat (RFC 6520)
    pub const HEARTBEAT: u8 = 24;
}

/// Handshake message types (RFC 8446 section 4, RFC 5246 section 7.4).
pub mod hs {
    /// client_hello
    pub const CLIENT_HELLO: u8 = 1;
    /// server_hello
    pub const SERVER_HELLO: u8 = 2;
    /// new_session_ticket
    pub const NEW_SESSION_TICKET: u8 = 4;
    /// certificate
    pub const CERTIFICATE: u8 = 11;
    /// server_key_exchange
    pub const SERVER_KEY_EXCHANGE: u8 = 12;
    /// certificate_request
    pub const CERTIFICATE_REQUEST: u8 = 13;
    /// server_hello_done
    pub const SERVER_HELLO_DONE: u8 = 14;
    /// client_key_exchange
    pub const CLIENT_KEY_EXCHANGE: u8 = 16;
    /// finished
    pub const FINISHED: u8 = 20;
}

/// Largest record body a peer may send (2^14 + 2048, RFC 5246 section 6.2.3).
pub const MAX_RECORD: usize = (1 << 14) + 2048;
/// Default bound on one handshake message (Packetbeat's and Go's 64 KiB).
pub const DEFAULT_MAX_MESSAGE: usize = 1 << 16;

/// What [`RecordReader::feed`] stopped at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// All input consumed; nothing complete yet.
    More,
    /// A whole plaintext handshake message is in [`RecordReader::message`]
    /// (type, body without its 4-byte header).
    Handshake(u8),
    /// A handshake message longer than the bound was skipped (type, length).
    TooLarge(u8, usize),
    /// change_cipher_spec: what follows in this direction is encrypted.
    ChangeCipherSpec,
    /// A plaintext alert (level, description).
    Alert(u8, u8),
    /// The first byte of an encrypted record (application data, or a
    /// handshake record after change_cipher_spec).
    Encrypted,
    /// The bytes are not TLS records; the reader now looks for the next
    /// plausible record header.
    NotTls,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Collecting the 5-byte record header.
    Header,
    /// Inside a record body (`left` bytes to go).
    Body,
    /// Lost: looking for a plausible record header.
    Resync,
}

/// One direction's record stream.
#[derive(Debug)]
pub struct RecordReader {
    state: State,
    hdr: [u8; 5],
    hdr_len: usize,
    rtype: u8,
    left: usize,
    /// Handshake bytes of the message being assembled.
    hs: Vec<u8>,
    /// Bytes of an oversized handshake message still to skip.
    hs_skip: usize,
    /// Offset of a message that [`Self::message`] returns, and its length.
    msg: (usize, usize),
    /// Bytes of `hs` consumed by messages already returned.
    consumed: usize,
    /// Alert bytes (an alert may be split across segments).
    alert: [u8; 2],
    alert_len: usize,
    encrypted: bool,
    tls13: bool,
    max_message: usize,
    /// Bytes skipped while resynchronising.
    pub skipped: u64,
    /// Records seen.
    pub records: u64,
}

/// Whether 5 bytes look like a TLS record header: a known content type,
/// major version 3, minor 0..=4, length within the record bound.
pub fn plausible_header(h: &[u8]) -> bool {
    h.len() >= 5
        && (content::CHANGE_CIPHER_SPEC..=content::HEARTBEAT).contains(&h[0])
        && h[1] == 3
        && h[2] <= 4
        && {
            let len = usize::from(u16::from_be_bytes([h[3], h[4]]));
            len > 0 && len <= MAX_RECORD
        }
}

impl RecordReader {
    /// A reader at the start of a stream.
    pub fn new(max_message: usize) -> Self {
        RecordReader {
            state: State::Header,
            hdr: [0; 5],
            hdr_len: 0,
            rtype: 0,
            left: 0,
            hs: Vec::new(),
            hs_skip: 0,
            msg: (0, 0),
            consumed: 0,
            alert: [0; 2],
            alert_len: 0,
            encrypted: false,
            tls13: false,
            max_message: max_message.max(64),
            skipped: 0,
            records: 0,
        }
    }

    /// Whether this direction has switched to encrypted records.
    pub fn encrypted(&self) -> bool {
        self.encrypted
    }

    /// TLS 1.3 was negotiated: change_cipher_spec no longer switches this
    /// direction to encrypted records (only application_data records do).
    pub fn set_tls13(&mut self) {
        self.tls13 = true;
    }

    /// The body of the handshake message last returned by [`Step::Handshake`].
    pub fn message(&self) -> &[u8] {
        &self.hs[self.msg.0..self.msg.0 + self.msg.1]
    }

    /// Bytes held for an incomplete handshake message.
    pub fn buffered(&self) -> usize {
        self.hs.len() - self.consumed
    }

    /// Consumes bytes up to the next event; returns how many were consumed.
    /// [`Step::More`] means all of `data` was consumed and no whole message
    /// is left: call again (with the rest, possibly empty) until then.
    pub fn feed(&mut self, data: &[u8]) -> (usize, Step) {
        // A message returned by the previous call is no longer needed.
        if self.consumed > 0 {
            self.hs.drain(..self.consumed);
            self.consumed = 0;
            self.msg = (0, 0);
        }
        if let Some(step) = self.next_message() {
            return (0, step);
        }
        let mut pos = 0;
        while pos < data.len() {
            match self.state {
                State::Resync => {
                    // Look for a header that starts within the data we have.
                    let rest = &data[pos..];
                    match (0..rest.len()).find(|&i| {
                        rest.len() - i < 5 && could_start_header(&rest[i..])
                            || plausible_header(&rest[i..])
                    }) {
                        Some(i) => {
                            self.skipped += i as u64;
                            pos += i;
                            self.state = State::Header;
                            self.hdr_len = 0;
                        }
                        None => {
                            self.skipped += rest.len() as u64;
                            return (data.len(), Step::More);
                        }
                    }
                }
                State::Header => {
                    let take = (5 - self.hdr_len).min(data.len() - pos);
                    self.hdr[self.hdr_len..self.hdr_len + take]
                        .copy_from_slice(&data[pos..pos + take]);
                    self.hdr_len += take;
                    pos += take;
                    if self.hdr_len < 5 {
                        return (pos, Step::More);
                    }
                    self.hdr_len = 0;
                    if !plausible_header(&self.hdr) {
                        self.lose_sync();
                        // Look again from the byte after the bad header's start.
                        let back = 4.min(pos);
                        return (pos - back, Step::NotTls);
                    }
                    self.records += 1;
                    self.rtype = self.hdr[0];
                    self.left = usize::from(u16::from_be_bytes([self.hdr[3], self.hdr[4]]));
                    self.state = State::Body;
                    self.alert_len = 0;
                    let encrypted_record = self.rtype == content::APPLICATION_DATA
                        || (self.encrypted && self.rtype != content::CHANGE_CIPHER_SPEC);
                    if encrypted_record && !self.encrypted {
                        self.encrypted = true;
                        return (pos, Step::Encrypted);
                    }
                }
                State::Body => {
                    let take = self.left.min(data.len() - pos);
                    let chunk = &data[pos..pos + take];
                    pos += take;
                    self.left -= take;
                    let done = self.left == 0;
                    if done {
                        self.state = State::Header;
                    }
                    match self.rtype {
                        _ if self.encrypted && self.rtype != content::CHANGE_CIPHER_SPEC => {}
                        content::HANDSHAKE => {
                            self.take_handshake(chunk);
                            if let Some(step) = self.next_message() {
                                return (pos, step);
                            }
                        }
                        // TLS 1.3 sends it only for middleboxes (RFC 8446
                        // appendix D.4): it changes nothing there.
                        content::CHANGE_CIPHER_SPEC if done => {
                            self.encrypted |= !self.tls13;
                            return (pos, Step::ChangeCipherSpec);
                        }
                        content::ALERT => {
                            for &b in chunk {
                                if self.alert_len < 2 {
                                    self.alert[self.alert_len] = b;
                                }
                                self.alert_len += 1;
                            }
                            if done && self.alert_len >= 2 {
                                return (pos, Step::Alert(self.alert[0], self.alert[1]));
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        (pos, Step::More)
    }

    fn take_handshake(&mut self, mut chunk: &[u8]) {
        if self.hs_skip > 0 {
            let n = self.hs_skip.min(chunk.len());
            self.hs_skip -= n;
            chunk = &chunk[n..];
        }
        self.hs.extend_from_slice(chunk);
    }

    /// Returns the next whole message in the handshake buffer, if any.
    fn next_message(&mut self) -> Option<Step> {
        loop {
            if self.hs_skip > 0 {
                return None;
            }
            let avail = &self.hs[self.consumed..];
            if avail.len() < 4 {
                return None;
            }
            let t = avail[0];
            let len = (usize::from(avail[1]) << 16)
                | (usize::from(avail[2]) << 8)
                | usize::from(avail[3]);
            if len > self.max_message {
                // Skip it: what is buffered now, the rest as it arrives.
                let have = avail.len() - 4;
                self.hs.clear();
                self.consumed = 0;
                if have >= len {
                    // Cannot happen with the bound below, kept for safety.
                    continue;
                }
                self.hs_skip = len - have;
                return Some(Step::TooLarge(t, len));
            }
            if avail.len() < 4 + len {
                return None;
            }
            self.msg = (self.consumed + 4, len);
            self.consumed += 4 + len;
            return Some(Step::Handshake(t));
        }
    }

    fn lose_sync(&mut self) {
        self.state = State::Resync;
        self.hs.clear();
        self.consumed = 0;
        self.msg = (0, 0);
        self.hs_skip = 0;
        self.hdr_len = 0;
    }

    /// `len` bytes were never captured. A gap inside an encrypted or
    /// application record only shortens it; a gap inside a handshake record
    /// drops the message being assembled and the rest of that record; a gap
    /// across records makes the reader resynchronise. Returns whether
    /// plaintext handshake bytes were lost.
    pub fn gap(&mut self, len: u64) -> bool {
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if self.state == State::Body && len <= self.left {
            let handshake = self.rtype == content::HANDSHAKE && !self.encrypted;
            self.left -= len;
            if self.left == 0 {
                self.state = State::Header;
            }
            if handshake {
                self.hs.clear();
                self.consumed = 0;
                self.msg = (0, 0);
                self.hs_skip = 0;
                // The rest of this record is skipped, not assembled.
                self.rtype = 0;
            }
            return handshake;
        }
        let handshake = !self.encrypted;
        self.lose_sync();
        handshake
    }
}

/// A short tail that could still grow into a plausible header.
fn could_start_header(h: &[u8]) -> bool {
    let mut full = [0u8; 5];
    full[..h.len()].copy_from_slice(h);
    // Fill what is missing with the most permissive values.
    if h.len() < 2 {
        full[1] = 3;
    }
    if h.len() < 3 {
        full[2] = 3;
    }
    if h.len() < 5 {
        full[3] = 0;
        full[4] = 1;
    }
    plausible_header(&full)
}

/// Whether a 16-bit value is a GREASE value (RFC 8701: 0x?a?a, both bytes equal).
pub fn is_grease(v: u16) -> bool {
    (v >> 8) == (v & 0xff) && v & 0x0f == 0x0a
}

/// A parsed ClientHello: what the event and the fingerprints need.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientHello {
    /// legacy_version (0x0303 for TLS 1.2 and 1.3).
    pub version: u16,
    /// The 32 random bytes.
    pub random: [u8; 32],
    /// legacy_session_id (0 to 32 bytes).
    pub session_id: Vec<u8>,
    /// Offered cipher suites, in order, GREASE included.
    pub ciphers: Vec<u16>,
    /// Offered compression methods.
    pub compression: Vec<u8>,
    /// Extension types, in order, GREASE included.
    pub extensions: Vec<u16>,
    /// server_name (host_name entries).
    pub server_names: Vec<String>,
    /// application_layer_protocol_negotiation protocol names.
    pub alpn: Vec<Vec<u8>>,
    /// supported_versions, in order.
    pub supported_versions: Vec<u16>,
    /// supported_groups (elliptic_curves), in order.
    pub groups: Vec<u16>,
    /// ec_point_formats.
    pub point_formats: Vec<u8>,
    /// signature_algorithms, in order.
    pub signature_algorithms: Vec<u16>,
    /// session_ticket extension present (with its length).
    pub session_ticket: Option<usize>,
    /// status_request extension present (with its status type, 1 = ocsp).
    pub status_request: Option<u8>,
    /// pre_shared_key offered.
    pub psk: bool,
    /// Extensions that did not parse (counted, kept in `extensions`).
    pub bad_extensions: u32,
}

/// A parsed ServerHello.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerHello {
    /// legacy_version.
    pub version: u16,
    /// The 32 random bytes.
    pub random: [u8; 32],
    /// legacy_session_id_echo.
    pub session_id: Vec<u8>,
    /// The chosen cipher suite.
    pub cipher: u16,
    /// The chosen compression method.
    pub compression: u8,
    /// Extension types, in order.
    pub extensions: Vec<u16>,
    /// supported_versions: the version chosen in TLS 1.3.
    pub selected_version: Option<u16>,
    /// The ALPN protocol chosen.
    pub alpn: Option<Vec<u8>>,
    /// ec_point_formats.
    pub point_formats: Vec<u8>,
    /// key_share group (TLS 1.3).
    pub key_share_group: Option<u16>,
    /// session_ticket extension present (the server will send a ticket).
    pub session_ticket: bool,
    /// pre_shared_key selected (TLS 1.3 resumption).
    pub psk: bool,
    /// Extensions that did not parse.
    pub bad_extensions: u32,
    /// This is a HelloRetryRequest (RFC 8446 section 4.1.3).
    pub retry: bool,
}

/// The random value that marks a ServerHello as a HelloRetryRequest.
const HRR_RANDOM: [u8; 32] = [
    0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
    0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
];

/// Why a handshake message did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// Walks an extensions block (`u16 type, u16 len, data` repeated), calling
/// `f(type, raw)` with `raw` the whole extension including its header.
fn walk_extensions(mut ext: &[u8], mut f: impl FnMut(u16, &[u8])) -> bool {
    while !ext.is_empty() {
        if ext.len() < 4 {
            return false;
        }
        let t = u16::from_be_bytes([ext[0], ext[1]]);
        let len = usize::from(u16::from_be_bytes([ext[2], ext[3]]));
        if ext.len() < 4 + len {
            return false;
        }
        f(t, &ext[..4 + len]);
        ext = &ext[4 + len..];
    }
    true
}

fn copy_random(r: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let n = r.len().min(32);
    out[..n].copy_from_slice(&r[..n]);
    out
}

/// Parses a ClientHello body (after the 4-byte handshake header).
pub fn parse_client_hello(body: &[u8]) -> Result<ClientHello, Malformed> {
    let (_, ch) = parse_tls_handshake_client_hello(body).map_err(|_| Malformed)?;
    let mut out = ClientHello {
        version: ch.version.0,
        random: copy_random(ch.random),
        session_id: ch.session_id.unwrap_or(&[]).to_vec(),
        ciphers: ch.ciphers.iter().map(|c| c.0).collect(),
        compression: ch.comp.iter().map(|c| c.0).collect(),
        ..ClientHello::default()
    };
    let ok = walk_extensions(ch.ext.unwrap_or(&[]), |t, raw| {
        out.extensions.push(t);
        match parse_tls_client_hello_extension(raw) {
            Ok((_, ext)) => match ext {
                TlsExtension::SNI(names) => out.server_names.extend(
                    names
                        .iter()
                        .filter(|(t, _)| t.0 == 0)
                        .map(|(_, n)| String::from_utf8_lossy(n).into_owned()),
                ),
                TlsExtension::ALPN(p) => out.alpn.extend(p.iter().map(|p| p.to_vec())),
                TlsExtension::SupportedVersions(v) => {
                    out.supported_versions.extend(v.iter().map(|v| v.0))
                }
                TlsExtension::EllipticCurves(g) => out.groups.extend(g.iter().map(|g| g.0)),
                TlsExtension::EcPointFormats(p) => out.point_formats.extend_from_slice(p),
                TlsExtension::SignatureAlgorithms(s) => out.signature_algorithms.extend(s),
                TlsExtension::SessionTicket(t) => out.session_ticket = Some(t.len()),
                TlsExtension::StatusRequest(s) => {
                    out.status_request = Some(s.map(|(t, _)| t.0).unwrap_or(0))
                }
                TlsExtension::PreSharedKey(_) => out.psk = true,
                _ => {}
            },
            Err(_) => out.bad_extensions += 1,
        }
    });
    if !ok {
        out.bad_extensions += 1;
    }
    Ok(out)
}

/// Parses a ServerHello body (after the 4-byte handshake header).
pub fn parse_server_hello(body: &[u8]) -> Result<ServerHello, Malformed> {
    let (_, sh) = parse_tls_handshake_server_hello(body).map_err(|_| Malformed)?;
    let random = copy_random(sh.random);
    let mut out = ServerHello {
        version: sh.version.0,
        random,
        session_id: sh.session_id.unwrap_or(&[]).to_vec(),
        cipher: sh.cipher.0,
        compression: sh.compression.0,
        retry: random == HRR_RANDOM,
        ..ServerHello::default()
    };
    let ok = walk_extensions(sh.ext.unwrap_or(&[]), |t, raw| {
        out.extensions.push(t);
        let data = &raw[4..];
        // The server's forms of these are fixed-size: read them directly.
        match t {
            43 if data.len() == 2 => {
                out.selected_version = Some(u16::from_be_bytes([data[0], data[1]]));
                return;
            }
            51 if data.len() >= 2 => {
                out.key_share_group = Some(u16::from_be_bytes([data[0], data[1]]));
                return;
            }
            41 => {
                out.psk = true;
                return;
            }
            35 => {
                out.session_ticket = true;
                return;
            }
            _ => {}
        }
        match parse_tls_server_hello_extension(raw) {
            Ok((_, ext)) => match ext {
                TlsExtension::ALPN(p) => out.alpn = p.first().map(|p| p.to_vec()),
                TlsExtension::EcPointFormats(p) => out.point_formats.extend_from_slice(p),
                _ => {}
            },
            Err(_) => out.bad_extensions += 1,
        }
    });
    if !ok {
        out.bad_extensions += 1;
    }
    Ok(out)
}

/// Splits a TLS 1.2 Certificate body into its DER certificates (at most
/// `max` of them).
pub fn certificates(body: &[u8], max: usize) -> Result<Vec<&[u8]>, Malformed> {
    if body.len() < 3 {
        return Err(Malformed);
    }
    let total = (usize::from(body[0]) << 16) | (usize::from(body[1]) << 8) | usize::from(body[2]);
    let mut list = body.get(3..3 + total).ok_or(Malformed)?;
    let mut out = Vec::new();
    while list.len() >= 3 && out.len() < max {
        let len = (usize::from(list[0]) << 16) | (usize::from(list[1]) << 8) | usize::from(list[2]);
        let cert = list.get(3..3 + len).ok_or(Malformed)?;
        out.push(cert);
        list = &list[3 + len..];
    }
    Ok(out)
}

/// The named curve of an ECDHE ServerKeyExchange (RFC 8422 section 5.4:
/// `curve_type` 3 = named_curve, then the 16-bit group).
pub fn server_key_exchange_curve(body: &[u8]) -> Option<u16> {
    match body {
        [3, hi, lo, ..] => Some(u16::from_be_bytes([*hi, *lo])),
        _ => None,
    }
}
