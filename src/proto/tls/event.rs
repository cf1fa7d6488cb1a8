//! The `tls.*` fields of a handshake event (ECS, as Packetbeat writes them).

use super::cert::{CertInfo, Name};
use super::fingerprint;
use super::handshake::Handshake;
use super::names;
use super::TlsConfig;
use crate::event::{JsonWriter, Status, Transaction};
use crate::proto::common::errors;
use crate::proto::{Dir, TxSink};
use crate::time::SECOND;

/// `"k":"<hex of b>"` (hex digits need no escaping: written as they are).
fn hex_field(w: &mut JsonWriter<'_>, k: &str, b: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut stack = [0u8; 64];
    let mut heap = Vec::new();
    let out: &mut [u8] = if b.len() <= 32 {
        &mut stack[..b.len() * 2]
    } else {
        heap.resize(b.len() * 2, 0);
        &mut heap
    };
    for (i, &x) in b.iter().enumerate() {
        out[2 * i] = DIGITS[usize::from(x >> 4)];
        out[2 * i + 1] = DIGITS[usize::from(x & 15)];
    }
    w.bytes_lossy(k, out);
}

/// An array element: the name when known, else `(unknown:0x....)`.
fn elem_name(w: &mut JsonWriter<'_>, name: Option<&'static str>, v: u16) {
    match name {
        Some(n) => w.elem_str(n),
        None => w.elem_str(&names::unknown(v)),
    }
}

/// Writes one event for the handshake.
pub fn emit(cfg: &TlsConfig, h: &Handshake, out: &mut TxSink<'_>) {
    let established = h.established();
    let fatal = h.alerts.iter().any(|a| a.level == 2);
    let error = if h.lost[0] {
        Some(errors::LOSS_REQUEST)
    } else if h.lost[1] {
        Some(errors::LOSS_RESPONSE)
    } else {
        None
    };
    let completed = match (h.switched[0], h.switched[1]) {
        (Some(a), Some(b)) => Some(a.max(b)),
        _ => None,
    };
    let server_last = h.first[1].map(|_| h.last[1]);
    let tx = Transaction {
        kind: "tls",
        status: Some(if established && !fatal {
            Status::Ok
        } else {
            Status::Error
        }),
        request_start: h.first[0],
        request_end: h.hello_end.or(h.first[0].map(|_| h.last[0])),
        response_start: h.first[1],
        response_end: completed.or(server_last),
        request_bytes: h.bytes[0],
        response_bytes: h.bytes[1],
        error,
        real_client_ip: None,
        action: None,
        // The report counts the version as the operation and the server
        // name as the resource (`tls.version`, `tls.client.server_name`).
        detail: crate::event::TxDetail {
            method: h
                .version()
                .and_then(names::version)
                .map(|(v, _)| v.as_bytes()),
            resource: h
                .client
                .as_ref()
                .and_then(|ch| ch.server_names.first())
                .map(|n| n.as_bytes()),
            ..Default::default()
        },
        ..Transaction::default()
    };
    out.emit(&tx, |w| {
        w.begin_obj("tls");
        write_tls(cfg, h, established, w);
        w.end();
    });
}

fn write_tls(cfg: &TlsConfig, h: &Handshake, established: bool, w: &mut JsonWriter<'_>) {
    if let Some((v, p)) = h.version().and_then(names::version) {
        w.ascii("version", v);
        w.ascii("version_protocol", p);
    }
    if let Some(sh) = &h.server {
        match names::cipher(sh.cipher) {
            Some(n) => w.str("cipher", n),
            None => w.str("cipher", &names::cipher_or_unknown(sh.cipher)),
        }
        if let Some(p) = &sh.alpn {
            w.bytes_lossy("next_protocol", p);
        }
    }
    if let Some(g) = h.curve {
        w.str("curve", &names::group_or_unknown(g));
    }
    w.bool("resumed", h.resumption().is_some());
    w.bool("established", established);

    w.begin_obj("client");
    if let Some(ch) = &h.client {
        if let Some(sni) = ch.server_names.first() {
            w.str("server_name", sni);
        }
        w.bytes_lossy("ja3", fingerprint::ja3_fixed(ch).as_str().as_bytes());
        w.bytes_lossy("ja4", fingerprint::ja4_fixed(ch).as_str().as_bytes());
        w.begin_arr("supported_ciphers");
        for &c in &ch.ciphers {
            match c {
                0x00ff => w.elem_str("TLS_EMPTY_RENEGOTIATION_INFO_SCSV"),
                0x5600 => w.elem_str("TLS_FALLBACK_SCSV"),
                c => elem_name(w, names::cipher(c), c),
            }
        }
        w.end_arr();
    }
    write_certs(cfg, &h.client_certs, w);
    w.end();

    w.begin_obj("server");
    if let Some(sh) = &h.server {
        w.bytes_lossy("ja3s", fingerprint::ja3s_fixed(sh).as_str().as_bytes());
    }
    write_certs(cfg, &h.server_certs, w);
    w.end();

    if cfg.include_detailed_fields {
        w.begin_obj("detailed");
        write_detailed(cfg, h, w);
        w.end();
    }
}

/// `subject`, `issuer`, validity, `hash.*` and `x509.*` of the leaf, the raw
/// chain when asked for.
fn write_certs(cfg: &TlsConfig, certs: &[CertInfo], w: &mut JsonWriter<'_>) {
    let Some(leaf) = certs.first() else {
        return;
    };
    w.str("subject", &leaf.subject.distinguished_name);
    w.str("issuer", &leaf.issuer.distinguished_name);
    write_time(w, "not_before", leaf.not_before);
    write_time(w, "not_after", leaf.not_after);
    if !cfg.fingerprints.is_empty() {
        w.begin_obj("hash");
        for f in &cfg.fingerprints {
            match f.as_str() {
                "md5" => w.str("md5", &leaf.md5),
                "sha1" => w.str("sha1", &leaf.sha1),
                "sha256" => w.str("sha256", &leaf.sha256),
                _ => {}
            }
        }
        w.end();
    }
    if cfg.send_certificates {
        w.begin_obj("x509");
        write_x509(w, leaf);
        w.end();
    }
    if cfg.include_raw_certificates {
        if let Some(raw) = &leaf.raw {
            w.str("certificate", raw);
        }
        w.begin_arr("certificate_chain");
        for c in certs {
            if let Some(raw) = &c.raw {
                w.elem_str(raw);
            }
        }
        w.end_arr();
    }
}

fn write_time(w: &mut JsonWriter<'_>, k: &str, secs: i64) {
    match u64::try_from(secs) {
        Ok(s) if s < u64::MAX / SECOND => {
            w.time(k, s * SECOND);
        }
        _ => w.i64(k, secs),
    }
}

fn write_name(w: &mut JsonWriter<'_>, k: &str, n: &Name) {
    w.begin_obj(k);
    w.str("distinguished_name", &n.distinguished_name);
    let fields = [
        ("common_name", &n.common_name),
        ("country", &n.country),
        ("organization", &n.organization),
        ("organizational_unit", &n.organizational_unit),
        ("locality", &n.locality),
        ("state_or_province", &n.state_or_province),
    ];
    for (key, v) in fields {
        if let Some(v) = v {
            w.str(key, v);
        }
    }
    w.end();
}

fn write_x509(w: &mut JsonWriter<'_>, c: &CertInfo) {
    if !c.alternative_names.is_empty() {
        w.begin_arr("alternative_names");
        for n in &c.alternative_names {
            w.elem_str(n);
        }
        w.end_arr();
    }
    write_name(w, "issuer", &c.issuer);
    write_name(w, "subject", &c.subject);
    write_time(w, "not_before", c.not_before);
    write_time(w, "not_after", c.not_after);
    w.str("public_key_algorithm", &c.public_key_algorithm);
    if c.public_key_size > 0 {
        w.u64("public_key_size", c.public_key_size);
    }
    w.str("serial_number", &c.serial);
    w.str("signature_algorithm", &c.signature_algorithm);
    w.u64("version_number", u64::from(c.version));
}

fn str_list<'a, S: AsRef<str>>(
    w: &mut JsonWriter<'_>,
    k: &str,
    items: impl Iterator<Item = S> + 'a,
) {
    w.begin_arr(k);
    for s in items {
        w.elem_str(s.as_ref());
    }
    w.end_arr();
}

fn write_detailed(cfg: &TlsConfig, h: &Handshake, w: &mut JsonWriter<'_>) {
    if let Some(v) = h.version() {
        w.str("version", &names::version_long(v));
    }
    if let Some(m) = h.resumption() {
        w.ascii("resumption_method", m);
    }
    w.bool("client_certificate_requested", h.cert_requested);
    if h.retried {
        w.bool("hello_retry_request", true);
    }
    if let Some(ch) = &h.client {
        w.begin_obj("client_hello");
        w.str("version", &names::version_dotted(ch.version));
        hex_field(w, "random", &ch.random);
        if !ch.session_id.is_empty() {
            hex_field(w, "session_id", &ch.session_id);
        }
        str_list(
            w,
            "supported_compression_methods",
            ch.compression.iter().map(|&c| names::compression(c)),
        );
        w.begin_obj("extensions");
        let mut unparsed: Vec<std::borrow::Cow<'static, str>> = Vec::new();
        for &t in &ch.extensions {
            match t {
                0 | 10 | 11 | 13 | 16 | 35 | 43 => {}
                t if super::parser::is_grease(t) => {}
                t => unparsed.push(names::extension(t)),
            }
        }
        if !unparsed.is_empty() {
            str_list(w, "_unparsed_", unparsed.into_iter());
        }
        if !ch.alpn.is_empty() {
            str_list(
                w,
                "application_layer_protocol_negotiation",
                ch.alpn.iter().map(|p| String::from_utf8_lossy(p)),
            );
        }
        if !ch.point_formats.is_empty() {
            str_list(
                w,
                "ec_points_formats",
                ch.point_formats.iter().map(|&p| names::point_format(p)),
            );
        }
        if !ch.server_names.is_empty() {
            str_list(w, "server_name_indication", ch.server_names.iter());
        }
        if let Some(n) = ch.session_ticket {
            w.str("session_ticket", if n == 0 { "" } else { "present" });
        }
        if !ch.signature_algorithms.is_empty() {
            w.begin_arr("signature_algorithms");
            for &s in &ch.signature_algorithms {
                elem_name(w, names::signature(s), s);
            }
            w.end_arr();
        }
        if !ch.groups.is_empty() {
            w.begin_arr("supported_groups");
            for &g in &ch.groups {
                elem_name(w, names::group(g), g);
            }
            w.end_arr();
        }
        if !ch.supported_versions.is_empty() {
            str_list(
                w,
                "supported_versions",
                ch.supported_versions
                    .iter()
                    .filter(|&&v| !super::parser::is_grease(v))
                    .map(|&v| names::version_long(v)),
            );
        }
        if let Some(t) = ch.status_request {
            w.begin_obj("status_request");
            w.str("type", if t == 1 { "ocsp" } else { "unknown" });
            w.end();
        }
        w.end();
        w.end();
    }
    if let Some(sh) = &h.server {
        w.begin_obj("server_hello");
        w.str("version", &names::version_dotted(sh.version));
        hex_field(w, "random", &sh.random);
        if !sh.session_id.is_empty() {
            hex_field(w, "session_id", &sh.session_id);
        }
        w.str(
            "selected_compression_method",
            &names::compression(sh.compression),
        );
        w.begin_obj("extensions");
        let unparsed: Vec<std::borrow::Cow<'static, str>> = sh
            .extensions
            .iter()
            .filter(|&&t| !matches!(t, 11 | 16 | 35 | 43))
            .map(|&t| names::extension(t))
            .collect();
        if !unparsed.is_empty() {
            str_list(w, "_unparsed_", unparsed.into_iter());
        }
        if let Some(p) = &sh.alpn {
            str_list(
                w,
                "application_layer_protocol_negotiation",
                std::iter::once(String::from_utf8_lossy(p).into_owned()),
            );
        }
        if !sh.point_formats.is_empty() {
            str_list(
                w,
                "ec_points_formats",
                sh.point_formats.iter().map(|&p| names::point_format(p)),
            );
        }
        if sh.session_ticket {
            w.str("session_ticket", "");
        }
        if let Some(v) = sh.selected_version {
            w.str("supported_versions", &names::version_long(v));
        }
        w.end();
        w.end();
    }
    if cfg.send_certificates {
        for (k, certs) in [
            ("server_certificate_chain", &h.server_certs),
            ("client_certificate_chain", &h.client_certs),
        ] {
            if certs.len() > 1 {
                w.begin_arr(k);
                for c in &certs[1..] {
                    w.begin();
                    write_x509(w, c);
                    w.end();
                }
                w.end_arr();
            }
        }
    }
    if !h.alerts.is_empty() {
        w.begin_arr("alerts");
        for a in &h.alerts {
            w.begin();
            w.ascii(
                "source",
                if a.from == Dir::ToServer {
                    "client"
                } else {
                    "server"
                },
            );
            w.ascii("severity", names::alert_level(a.level));
            w.u64("code", u64::from(a.code));
            match names::alert(a.code) {
                Some(n) => w.ascii("type", n),
                None => w.str("type", &names::unknown(u16::from(a.code))),
            }
            w.end();
        }
        w.end_arr();
        str_list(
            w,
            "alert_types",
            h.alerts.iter().map(|a| {
                names::alert(a.code)
                    .map(str::to_string)
                    .unwrap_or_else(|| names::unknown(u16::from(a.code)))
            }),
        );
    }
}
