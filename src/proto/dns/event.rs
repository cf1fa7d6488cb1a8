//! The `dns.*` fields of an event, as Packetbeat writes them, plus its
//! `method`, `query` and `resource`.
//!
//! Names are written without the trailing dot, `ttl` as a number, record
//! data in the presentation form Packetbeat uses (`data` holds the main
//! value: the address, target name, TXT strings joined by spaces, SOA
//! primary server, base64 keys and signatures, upper-case hex digests;
//! type-specific parts get their own keys: `preference`, `priority`,
//! `weight`, `port`, `rname`, `serial`, `key_tag`, `algorithm`, ...).

use super::parser::{self, Message, Rdata, Record};
use super::DnsConfig;
use crate::event::JsonWriter;
use base64::Engine;
use std::io::Write;

/// Reused buffers for rendering names and record data.
#[derive(Debug, Default)]
pub struct Scratch {
    name: Vec<u8>,
    data: Vec<u8>,
    /// Records whose RDATA could not be decoded (counted by the session).
    pub bad_rdata: u64,
}

/// Text of the report's fields of one transaction (see [`detail`]).
#[derive(Debug, Default)]
pub struct DetailText {
    qtype: Vec<u8>,
    name: Vec<u8>,
    rcode: Vec<u8>,
}

/// What the report counts for a transaction written by [`write`] with the
/// same `q` and `m`: the question type of `m` (`dns.question.type`) as
/// its operation, the question name of `q` (`resource`) and the response
/// code of `m` (`dns.response_code`), as bytes in `d`.
pub fn detail<'d>(
    q: (&[u8], &Message),
    m: (&[u8], &Message),
    d: &'d mut DetailText,
) -> crate::event::TxDetail<'d> {
    d.qtype.clear();
    d.name.clear();
    let qtype =
        m.1.question
            .map(|question| push_type(&mut d.qtype, question.qtype));
    let name = q.1.question.map(|question| {
        if parser::write_name(q.0, question.name.into(), &mut d.name).is_err() {
            d.name.clear();
            d.name.extend_from_slice(b"?");
        }
    });
    rcode_text(m.1.rcode(), &mut d.rcode);
    let d: &'d DetailText = d;
    crate::event::TxDetail {
        method: qtype.map(|_| &d.qtype[..]),
        resource: name.map(|_| &d.name[..]),
        code: std::str::from_utf8(&d.rcode)
            .map_or(crate::event::Code::None, crate::event::Code::Text),
        ..Default::default()
    }
}

/// Writes a type mnemonic or `TYPE<n>`.
fn push_type(out: &mut Vec<u8>, t: u16) {
    match parser::type_name(t) {
        Some(n) => out.extend_from_slice(n.as_bytes()),
        None => {
            let _ = write!(out, "TYPE{t}");
        }
    }
}

fn push_class(out: &mut Vec<u8>, c: u16) {
    match parser::class_name(c) {
        Some(n) => out.extend_from_slice(n.as_bytes()),
        None => {
            let _ = write!(out, "CLASS{c}");
        }
    }
}

fn type_field(w: &mut JsonWriter<'_>, k: &str, t: u16, tmp: &mut Vec<u8>) {
    match parser::type_name(t) {
        Some(n) => w.ascii(k, n),
        None => {
            tmp.clear();
            push_type(tmp, t);
            w.bytes_lossy(k, tmp);
        }
    }
}

fn class_field(w: &mut JsonWriter<'_>, k: &str, c: u16, tmp: &mut Vec<u8>) {
    match parser::class_name(c) {
        Some(n) => w.ascii(k, n),
        None => {
            tmp.clear();
            push_class(tmp, c);
            w.bytes_lossy(k, tmp);
        }
    }
}

/// The response code name, or its number as text.
pub fn rcode_text(rc: u16, tmp: &mut Vec<u8>) -> &[u8] {
    tmp.clear();
    match parser::rcode_name(rc) {
        Some(n) => tmp.extend_from_slice(n.as_bytes()),
        None => {
            let _ = write!(tmp, "{rc}");
        }
    }
    tmp
}

fn opcode_field(w: &mut JsonWriter<'_>, k: &str, op: u8, tmp: &mut Vec<u8>) {
    match parser::opcode_name(op) {
        Some(n) => w.ascii(k, n),
        None => {
            tmp.clear();
            let _ = write!(tmp, "{op}");
            w.bytes_lossy(k, tmp);
        }
    }
}

fn name_field(w: &mut JsonWriter<'_>, k: &str, buf: &[u8], pos: u16, tmp: &mut Vec<u8>) {
    tmp.clear();
    if parser::write_name(buf, pos.into(), tmp).is_err() {
        tmp.extend_from_slice(b"?");
    }
    w.bytes_lossy(k, tmp);
}

fn push_name(out: &mut Vec<u8>, buf: &[u8], pos: u16) {
    if parser::write_name(buf, pos.into(), out).is_err() {
        out.push(b'?');
    }
}

fn push_hex_upper(out: &mut Vec<u8>, b: &[u8]) {
    const H: &[u8; 16] = b"0123456789ABCDEF";
    for &x in b {
        out.push(H[usize::from(x >> 4)]);
        out.push(H[usize::from(x & 15)]);
    }
}

fn push_b64(out: &mut Vec<u8>, b: &[u8]) {
    let mut s = String::new();
    base64::engine::general_purpose::STANDARD.encode_string(b, &mut s);
    out.extend_from_slice(s.as_bytes());
}

/// `YYYYMMDDHHmmSS` (UTC) of a DNSSEC timestamp (RFC 4034 section 3.2).
fn push_dnssec_time(out: &mut Vec<u8>, secs: u32) {
    let secs = i64::from(secs);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let _ = write!(
        out,
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    );
}

fn algorithm_field(w: &mut JsonWriter<'_>, a: u8, tmp: &mut Vec<u8>) {
    match parser::algorithm_name(a) {
        Some(n) => w.ascii("algorithm", n),
        None => {
            tmp.clear();
            let _ = write!(tmp, "{a}");
            w.bytes_lossy("algorithm", tmp);
        }
    }
}

/// Writes one resource record object (inside an array).
fn record(w: &mut JsonWriter<'_>, buf: &[u8], r: &Record, s: &mut Scratch) {
    w.begin();
    name_field(w, "name", buf, r.name, &mut s.name);
    type_field(w, "type", r.rtype, &mut s.name);
    class_field(w, "class", r.class, &mut s.name);
    w.u64("ttl", r.ttl.into());
    let d = &mut s.data;
    d.clear();
    let rd = r.rdata(buf).unwrap_or_else(|raw| {
        s.bad_rdata += 1;
        raw
    });
    match rd {
        Rdata::A(a) => {
            let _ = write!(d, "{a}");
        }
        Rdata::Aaaa(a) => {
            let _ = write!(d, "{a}");
        }
        Rdata::Name(n) => push_name(d, buf, n),
        Rdata::Mx {
            preference,
            exchange,
        } => {
            w.u64("preference", preference.into());
            push_name(d, buf, exchange);
        }
        Rdata::Soa {
            mname,
            rname,
            serial,
            refresh,
            retry,
            expire,
            minimum,
        } => {
            name_field(w, "rname", buf, rname, &mut s.name);
            w.u64("serial", serial.into());
            w.u64("refresh", refresh.into());
            w.u64("retry", retry.into());
            w.u64("expire", expire.into());
            w.u64("minimum", minimum.into());
            push_name(d, buf, mname);
        }
        Rdata::Srv {
            priority,
            weight,
            port,
            target,
        } => {
            w.u64("priority", priority.into());
            w.u64("weight", weight.into());
            w.u64("port", port.into());
            push_name(d, buf, target);
        }
        Rdata::Txt(t) => {
            for (i, part) in parser::txt_strings(t).enumerate() {
                if i > 0 {
                    d.push(b' ');
                }
                d.extend_from_slice(part);
            }
        }
        Rdata::Caa { flags, tag, value } => {
            w.u64("caa_flags", flags.into());
            w.bytes_lossy("caa_tag", tag);
            w.bytes_lossy("caa_value", value);
            let _ = write!(d, "{flags} ");
            d.extend_from_slice(tag);
            d.extend_from_slice(b" \"");
            d.extend_from_slice(value);
            d.push(b'"');
        }
        Rdata::Ds {
            key_tag,
            algorithm,
            digest_type,
            digest,
        } => {
            w.u64("key_tag", key_tag.into());
            algorithm_field(w, algorithm, &mut s.name);
            match parser::digest_name(digest_type) {
                Some(n) => w.ascii("digest_type", n),
                None => w.u64("digest_type", digest_type.into()),
            }
            push_hex_upper(d, digest);
        }
        Rdata::Dnskey {
            flags,
            protocol,
            algorithm,
            key,
        } => {
            w.u64("flags", flags.into());
            w.u64("protocol", protocol.into());
            algorithm_field(w, algorithm, &mut s.name);
            push_b64(d, key);
        }
        Rdata::Rrsig {
            type_covered,
            algorithm,
            labels,
            original_ttl,
            expiration,
            inception,
            key_tag,
            signer,
            signature,
        } => {
            type_field(w, "type_covered", type_covered, &mut s.name);
            algorithm_field(w, algorithm, &mut s.name);
            w.u64("labels", labels.into());
            w.u64("original_ttl", original_ttl.into());
            s.name.clear();
            push_dnssec_time(&mut s.name, expiration);
            w.bytes_lossy("expiration", &s.name);
            s.name.clear();
            push_dnssec_time(&mut s.name, inception);
            w.bytes_lossy("inception", &s.name);
            w.u64("key_tag", key_tag.into());
            name_field(w, "signer_name", buf, signer, &mut s.name);
            push_b64(d, signature);
        }
        Rdata::Nsec { next, bitmap } => {
            s.name.clear();
            for (i, t) in parser::nsec_types(bitmap).enumerate() {
                if i > 0 {
                    s.name.push(b' ');
                }
                push_type(&mut s.name, t);
            }
            w.bytes_lossy("type_bits", &s.name);
            push_name(d, buf, next);
        }
        Rdata::Opt(raw) | Rdata::Other(raw) => push_hex_upper(d, raw),
    }
    w.bytes_lossy("data", d);
    w.end();
}

fn section(w: &mut JsonWriter<'_>, key: &str, buf: &[u8], recs: &[Record], s: &mut Scratch) {
    if recs.iter().all(|r| r.rtype == parser::TYPE_OPT) {
        return;
    }
    w.begin_arr(key);
    for r in recs.iter().filter(|r| r.rtype != parser::TYPE_OPT) {
        record(w, buf, r, s);
    }
    w.end_arr();
}

/// `dns.opt`: the EDNS(0) pseudo-record and the options Packetbeat names.
fn opt(w: &mut JsonWriter<'_>, buf: &[u8], m: &Message, s: &mut Scratch) {
    let Some(e) = m.edns() else { return };
    w.begin_obj("opt");
    s.name.clear();
    let _ = write!(s.name, "{}", e.version);
    w.bytes_lossy("version", &s.name);
    w.bool("do", e.dnssec_ok);
    w.u64("udp_size", e.udp_size.into());
    // The OPT record's upper 8 bits alone, shifted into place (miekg/dns's
    // ExtendedRcode, which Packetbeat writes).
    let ext = u16::from(e.ext_rcode) << 4;
    w.bytes_lossy("ext_rcode", rcode_text(ext, &mut s.name));
    for (code, v) in e.options(buf) {
        let d = &mut s.data;
        d.clear();
        let key = match code {
            // NSID (RFC 5001): hex, as miekg/dns prints it.
            3 => {
                for b in v {
                    let _ = write!(d, "{b:02x}");
                }
                "nsid"
            }
            // DAU, DHU, N3U (RFC 6975): algorithm numbers.
            5..=7 => {
                for (i, a) in v.iter().enumerate() {
                    if i > 0 {
                        d.push(b' ');
                    }
                    match parser::algorithm_name(*a) {
                        Some(n) => d.extend_from_slice(n.as_bytes()),
                        None => {
                            let _ = write!(d, "{a}");
                        }
                    }
                }
                ["dau", "dhu", "n3u"][usize::from(code - 5)]
            }
            // Client subnet (RFC 7871): address/source/scope.
            8 if v.len() >= 4 => {
                let family = u16::from_be_bytes([v[0], v[1]]);
                let (src, scope) = (v[2], v[3]);
                let a = &v[4..];
                match family {
                    1 => {
                        let mut o = [0u8; 4];
                        let n = a.len().min(4);
                        o[..n].copy_from_slice(&a[..n]);
                        let _ = write!(d, "{}", std::net::Ipv4Addr::from(o));
                    }
                    2 => {
                        let mut o = [0u8; 16];
                        let n = a.len().min(16);
                        o[..n].copy_from_slice(&a[..n]);
                        let _ = write!(d, "{}", std::net::Ipv6Addr::from(o));
                    }
                    _ => push_hex_upper(d, a),
                }
                let _ = write!(d, "/{src}/{scope}");
                "subnet"
            }
            // EDNS expire (RFC 7314), under Packetbeat's key `local`.
            9 if v.len() == 4 => {
                let _ = write!(d, "{}", u32::from_be_bytes([v[0], v[1], v[2], v[3]]));
                "local"
            }
            // Update lease (draft-sekar-dns-ul).
            2 if v.len() == 4 => {
                let _ = write!(d, "{}", u32::from_be_bytes([v[0], v[1], v[2], v[3]]));
                "ul"
            }
            _ => continue,
        };
        w.bytes_lossy(key, d);
    }
    w.end();
}

/// Writes `method`, `query`, `resource` from `q` (the query when there is
/// one, else the response) and the `dns` object from `m` (the response
/// when there is one).
pub fn write(
    w: &mut JsonWriter<'_>,
    cfg: &DnsConfig,
    q: (&[u8], &Message),
    m: (&[u8], &Message),
    answered: bool,
    s: &mut Scratch,
) {
    let (qbuf, qmsg) = q;
    let (buf, msg) = m;
    opcode_field(w, "method", qmsg.header.opcode(), &mut s.name);
    if let Some(question) = qmsg.question {
        s.data.clear();
        s.data.extend_from_slice(b"class ");
        push_class(&mut s.data, question.qclass);
        s.data.extend_from_slice(b", type ");
        push_type(&mut s.data, question.qtype);
        s.data.extend_from_slice(b", ");
        push_name(&mut s.data, qbuf, question.name);
        w.bytes_lossy("query", &s.data);
        name_field(w, "resource", qbuf, question.name, &mut s.name);
    }
    let h = msg.header;
    w.begin_obj("dns");
    w.ascii("type", if answered { "answer" } else { "query" });
    w.u64("id", h.id.into());
    opcode_field(w, "op_code", h.opcode(), &mut s.name);
    w.begin_obj("flags");
    w.bool("authoritative", h.authoritative());
    w.bool("truncated_response", h.truncated());
    w.bool("recursion_desired", h.recursion_desired());
    w.bool("recursion_available", h.recursion_available());
    w.bool("authentic_data", h.authentic_data());
    w.bool("checking_disabled", h.checking_disabled());
    w.end();
    w.begin_arr("header_flags");
    let dnssec_ok = msg.edns().is_some_and(|e| e.dnssec_ok);
    for (on, f) in [
        (h.authoritative(), "AA"),
        (h.truncated(), "TC"),
        (h.recursion_desired(), "RD"),
        (h.recursion_available(), "RA"),
        (h.authentic_data(), "AD"),
        (h.checking_disabled(), "CD"),
        (dnssec_ok, "DO"),
    ] {
        if on {
            w.elem_str(f);
        }
    }
    w.end_arr();
    w.bytes_lossy("response_code", rcode_text(msg.rcode(), &mut s.name));
    if let Some(question) = msg.question {
        w.begin_obj("question");
        name_field(w, "name", buf, question.name, &mut s.name);
        type_field(w, "type", question.qtype, &mut s.name);
        class_field(w, "class", question.qclass, &mut s.name);
        w.end();
    }
    opt(w, buf, msg, s);
    w.u64("answers_count", msg.answers().len() as u64);
    section(w, "answers", buf, msg.answers(), s);
    w.u64("authorities_count", msg.authorities().len() as u64);
    if cfg.include_authorities {
        section(w, "authorities", buf, msg.authorities(), s);
    }
    let extra = msg.additionals().len() - usize::from(msg.opt.is_some());
    w.u64("additionals_count", extra as u64);
    if cfg.include_additionals {
        section(w, "additionals", buf, msg.additionals(), s);
    }
    let ips = msg
        .answers()
        .iter()
        .filter(|r| (r.rtype == 1 && r.rdlen == 4) || (r.rtype == 28 && r.rdlen == 16));
    if ips.clone().next().is_some() {
        w.begin_arr("resolved_ip");
        for r in ips {
            s.data.clear();
            match r.rdata(buf) {
                Ok(Rdata::A(a)) => {
                    let _ = write!(s.data, "{a}");
                }
                Ok(Rdata::Aaaa(a)) => {
                    let _ = write!(s.data, "{a}");
                }
                _ => continue,
            }
            if let Ok(t) = std::str::from_utf8(&s.data) {
                w.elem_str(t);
            }
        }
        w.end_arr();
    }
    w.end();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dnssec_times_are_utc_calendar_digits() {
        let mut o = Vec::new();
        push_dnssec_time(&mut o, 0);
        assert_eq!(o, b"19700101000000");
        o.clear();
        push_dnssec_time(&mut o, 1_700_000_000);
        assert_eq!(o, b"20231114221320");
        o.clear();
        push_dnssec_time(&mut o, 951_782_400); // 2000-02-29 (leap day)
        assert_eq!(o, b"20000229000000");
    }
}
