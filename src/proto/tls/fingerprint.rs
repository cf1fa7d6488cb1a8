//! Client and server hello fingerprints.
//!
//! - JA3 and JA3S (Salesforce, <https://github.com/salesforce/ja3>): MD5 of
//!   `SSLVersion,Ciphers,Extensions,EllipticCurves,EllipticCurvePointFormats`
//!   (JA3) and `SSLVersion,Cipher,Extensions` (JA3S), decimal values joined
//!   by `-`, GREASE values (RFC 8701) left out.
//! - JA4 (FoxIO, <https://github.com/FoxIO-LLC/ja4>, technical details):
//!   `a_b_c` with a = protocol, version, SNI flag, cipher and extension
//!   counts, ALPN first and last characters; b = first 12 hex digits of the
//!   SHA-256 of the sorted cipher list; c = the same of the sorted extension
//!   list (without SNI and ALPN) and the signature algorithms in order.

use super::parser::{is_grease, ClientHello, ServerHello};
use md5::{Digest, Md5};
use sha2::Sha256;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `v` in decimal (no formatting machinery: this runs per value).
fn push_dec(out: &mut String, v: u32) {
    let mut buf = [0u8; 10];
    let mut i = buf.len();
    let mut v = v;
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for &b in &buf[i..] {
        out.push(b as char);
    }
}

fn join_dec<T: Into<u32> + Copy>(out: &mut String, vals: impl Iterator<Item = T>) {
    for (i, v) in vals.enumerate() {
        if i > 0 {
            out.push('-');
        }
        push_dec(out, v.into());
    }
}

fn md5_hex(s: &str) -> String {
    hex(&Md5::digest(s.as_bytes()))
}

fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for &x in b {
        s.push(HEX[usize::from(x >> 4)] as char);
        s.push(HEX[usize::from(x & 15)] as char);
    }
    s
}

/// The JA3 string of a ClientHello.
pub fn ja3_string(ch: &ClientHello) -> String {
    let mut s = String::with_capacity(256);
    push_dec(&mut s, ch.version.into());
    s.push(',');
    join_dec(
        &mut s,
        ch.ciphers.iter().copied().filter(|&c| !is_grease(c)),
    );
    s.push(',');
    join_dec(
        &mut s,
        ch.extensions.iter().copied().filter(|&e| !is_grease(e)),
    );
    s.push(',');
    join_dec(&mut s, ch.groups.iter().copied().filter(|&g| !is_grease(g)));
    s.push(',');
    join_dec(&mut s, ch.point_formats.iter().copied());
    s
}

/// The JA3 hash of a ClientHello (32 lowercase hex digits).
pub fn ja3(ch: &ClientHello) -> String {
    md5_hex(&ja3_string(ch))
}

/// The JA3S string of a ServerHello.
pub fn ja3s_string(sh: &ServerHello) -> String {
    let mut s = String::with_capacity(64);
    push_dec(&mut s, sh.version.into());
    s.push(',');
    push_dec(&mut s, sh.cipher.into());
    s.push(',');
    join_dec(
        &mut s,
        sh.extensions.iter().copied().filter(|&e| !is_grease(e)),
    );
    s
}

/// The JA3S hash of a ServerHello.
pub fn ja3s(sh: &ServerHello) -> String {
    md5_hex(&ja3s_string(sh))
}

fn ja4_version(v: u16) -> &'static str {
    match v {
        0x0304 => "13",
        0x0303 => "12",
        0x0302 => "11",
        0x0301 => "10",
        0x0300 => "s3",
        0x0002 | 0x0200 => "s2",
        0xfeff => "d1",
        0xfefd => "d2",
        0xfefc => "d3",
        _ => "00",
    }
}

fn sha256_12(s: &str) -> String {
    let d = Sha256::digest(s.as_bytes());
    hex(&d[..6])
}

fn hex_list(vals: &[u16], sep: char) -> String {
    let mut s = String::with_capacity(vals.len() * 5);
    for (i, v) in vals.iter().enumerate() {
        if i > 0 {
            s.push(sep);
        }
        for shift in [12, 8, 4, 0] {
            s.push(HEX[usize::from((v >> shift) & 15)] as char);
        }
    }
    s
}

/// The JA4 fingerprint of a ClientHello seen over TCP (`t`).
pub fn ja4(ch: &ClientHello) -> String {
    let (a, b, c) = ja4_parts(ch);
    format!("{a}_{}_{}", sha_or_zero(&b), sha_or_zero(&c))
}

fn sha_or_zero(raw: &str) -> String {
    if raw.is_empty() {
        "000000000000".into()
    } else {
        sha256_12(raw)
    }
}

/// JA4's three parts before hashing (`ja4_r` without the prefix's
/// separators): the `a` prefix, the sorted cipher list, and the sorted
/// extensions `_` signature algorithms.
pub fn ja4_parts(ch: &ClientHello) -> (String, String, String) {
    let version = ch
        .supported_versions
        .iter()
        .copied()
        .filter(|&v| !is_grease(v))
        .max()
        .unwrap_or(ch.version);
    let sni = if ch.extensions.contains(&0) { 'd' } else { 'i' };
    let mut ciphers: Vec<u16> = ch
        .ciphers
        .iter()
        .copied()
        .filter(|&c| !is_grease(c))
        .collect();
    let exts: Vec<u16> = ch
        .extensions
        .iter()
        .copied()
        .filter(|&e| !is_grease(e))
        .collect();
    let alpn = match ch.alpn.first() {
        Some(p) if !p.is_empty() => {
            let (f, l) = (p[0], p[p.len() - 1]);
            if f.is_ascii_alphanumeric() && l.is_ascii_alphanumeric() {
                format!("{}{}", f as char, l as char)
            } else {
                let h = hex(p);
                let hb = h.as_bytes();
                format!("{}{}", hb[0] as char, hb[hb.len() - 1] as char)
            }
        }
        _ => "00".into(),
    };
    let a = format!(
        "t{}{}{:02}{:02}{}",
        ja4_version(version),
        sni,
        ciphers.len().min(99),
        exts.len().min(99),
        alpn
    );
    ciphers.sort_unstable();
    let b = hex_list(&ciphers, ',');
    let mut sorted: Vec<u16> = exts.into_iter().filter(|&e| e != 0 && e != 16).collect();
    sorted.sort_unstable();
    let mut c = hex_list(&sorted, ',');
    let sigs: Vec<u16> = ch
        .signature_algorithms
        .iter()
        .copied()
        .filter(|&s| !is_grease(s))
        .collect();
    if !sigs.is_empty() && !c.is_empty() {
        c.push('_');
        c.push_str(&hex_list(&sigs, ','));
    }
    (a, b, c)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FoxIO's worked example (JA4 technical details): Chrome's ClientHello
    /// gives `t13d1516h2_8daaf6152771_e5627efa2ab1`.
    #[test]
    fn ja4_matches_foxio_reference_vector() {
        let mut extensions = vec![0x0a0a, 0x0000, 0x0010]; // GREASE, SNI, ALPN
        extensions.extend([
            0x0005, 0x000a, 0x000b, 0x000d, 0x0012, 0x0015, 0x0017, 0x001b, 0x0023, 0x002b, 0x002d,
            0x0033, 0x4469, 0xff01,
        ]);
        let ch = ClientHello {
            version: 0x0303,
            ciphers: vec![
                0x1a1a, // GREASE: not counted
                0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013,
                0xc014, 0x009c, 0x009d, 0x002f, 0x0035,
            ],
            extensions,
            supported_versions: vec![0x2a2a, 0x0304, 0x0303],
            alpn: vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            signature_algorithms: vec![
                0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
            ],
            ..ClientHello::default()
        };
        let (a, b, c) = ja4_parts(&ch);
        assert_eq!(a, "t13d1516h2");
        assert_eq!(
            b,
            "002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9"
        );
        assert_eq!(
            c,
            "0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_0403,0804,0401,0503,0805,0501,0806,0601"
        );
        assert_eq!(ja4(&ch), "t13d1516h2_8daaf6152771_e5627efa2ab1");
    }

    #[test]
    fn ja4_without_alpn_sni_or_ciphers() {
        let ch = ClientHello {
            version: 0x0301,
            ..ClientHello::default()
        };
        assert_eq!(ja4(&ch), "t10i000000_000000000000_000000000000");
        // A non-alphanumeric ALPN uses the first and last hex digits.
        let ch = ClientHello {
            version: 0x0303,
            alpn: vec![vec![0xab, 0x01]],
            extensions: vec![16],
            ..ClientHello::default()
        };
        assert!(ja4(&ch).starts_with("t12i0001a1_"), "{}", ja4(&ch));
    }

    /// Salesforce's JA3 README example string and hash.
    #[test]
    fn ja3_matches_salesforce_reference_vector() {
        let ch = ClientHello {
            version: 769,
            ciphers: vec![47, 53, 5, 10, 49161, 49162, 49171, 49172, 50, 56, 19, 4],
            extensions: vec![0, 10, 11],
            groups: vec![23, 24, 25],
            point_formats: vec![0],
            ..ClientHello::default()
        };
        assert_eq!(
            ja3_string(&ch),
            "769,47-53-5-10-49161-49162-49171-49172-50-56-19-4,0-10-11,23-24-25,0"
        );
        assert_eq!(ja3(&ch), "ada70206e40642a3e4461f35503241d5");
    }

    /// JA3's upstream JA3S regression packet (a TLS 1.0 ServerHello record).
    #[test]
    fn ja3s_matches_upstream_reference_packet() {
        let rec = crate::proto::tls::tests::unhex(
            "160301003d020000390301543dd2ddedbfe33895bd6bc676a3fa6b9fe5773a6e04d5476d1af3bcbc1dcbbb00c011000011ff01000100000b00040300010200230000",
        );
        // Record header (5) and handshake header (4) precede the body.
        let sh = super::super::parser::parse_server_hello(&rec[9..]).unwrap();
        assert_eq!(ja3s_string(&sh), "769,49169,65281-11-35");
        assert_eq!(ja3s(&sh), "bed95e1b525d2f41db3a6d68fac5b566");
    }
}
