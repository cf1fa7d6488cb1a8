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

/// A fingerprint's text: `N` ASCII bytes (hex digits, JA4's letters and
/// underscores), kept on the stack.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Fixed<const N: usize>([u8; N]);

impl<const N: usize> Fixed<N> {
    /// The text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl<const N: usize> std::fmt::Debug for Fixed<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Text fed into a digest through a small stack buffer: the fingerprint
/// strings are hashed as they are written, never built.
struct Feed<D: Digest> {
    d: D,
    buf: [u8; 64],
    len: usize,
}

impl<D: Digest> Feed<D> {
    fn new() -> Self {
        Feed {
            d: D::new(),
            buf: [0; 64],
            len: 0,
        }
    }

    fn push(&mut self, b: &[u8]) {
        if self.len + b.len() > self.buf.len() {
            self.d.update(&self.buf[..self.len]);
            self.len = 0;
            if b.len() > self.buf.len() {
                self.d.update(b);
                return;
            }
        }
        self.buf[self.len..self.len + b.len()].copy_from_slice(b);
        self.len += b.len();
    }

    fn byte(&mut self, b: u8) {
        self.push(&[b]);
    }

    /// `v` in decimal.
    fn dec(&mut self, v: u32) {
        let mut digits = [0u8; 10];
        let mut i = digits.len();
        let mut v = v;
        loop {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.push(&digits[i..]);
    }

    /// Values in decimal joined by `-`.
    fn dec_list<T: Into<u32>>(&mut self, vals: impl Iterator<Item = T>) {
        for (i, v) in vals.enumerate() {
            if i > 0 {
                self.byte(b'-');
            }
            self.dec(v.into());
        }
    }

    /// Values as 4 hex digits joined by `,`.
    fn hex_list(&mut self, vals: &[u16]) {
        for (i, &v) in vals.iter().enumerate() {
            if i > 0 {
                self.byte(b',');
            }
            self.push(&[
                HEX[usize::from(v >> 12)],
                HEX[usize::from((v >> 8) & 15)],
                HEX[usize::from((v >> 4) & 15)],
                HEX[usize::from(v & 15)],
            ]);
        }
    }

    fn finish(mut self) -> md5::digest::Output<D> {
        self.d.update(&self.buf[..self.len]);
        self.d.finalize()
    }
}

/// The first `N / 2` bytes of `digest` in lowercase hex.
fn hex_fixed<const N: usize>(digest: &[u8]) -> Fixed<N> {
    let mut out = [0u8; N];
    for (i, &x) in digest.iter().take(N / 2).enumerate() {
        out[2 * i] = HEX[usize::from(x >> 4)];
        out[2 * i + 1] = HEX[usize::from(x & 15)];
    }
    Fixed(out)
}

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

/// [`ja3`] without building the JA3 string (what events use).
pub fn ja3_fixed(ch: &ClientHello) -> Fixed<32> {
    let mut f = Feed::<Md5>::new();
    f.dec(ch.version.into());
    f.byte(b',');
    f.dec_list(ch.ciphers.iter().copied().filter(|&c| !is_grease(c)));
    f.byte(b',');
    f.dec_list(ch.extensions.iter().copied().filter(|&e| !is_grease(e)));
    f.byte(b',');
    f.dec_list(ch.groups.iter().copied().filter(|&g| !is_grease(g)));
    f.byte(b',');
    f.dec_list(ch.point_formats.iter().copied());
    hex_fixed(&f.finish())
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

/// [`ja3s`] without building the JA3S string (what events use).
pub fn ja3s_fixed(sh: &ServerHello) -> Fixed<32> {
    let mut f = Feed::<Md5>::new();
    f.dec(sh.version.into());
    f.byte(b',');
    f.dec(sh.cipher.into());
    f.byte(b',');
    f.dec_list(sh.extensions.iter().copied().filter(|&e| !is_grease(e)));
    hex_fixed(&f.finish())
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

/// [`ja4`] without building its parts as text (what events use): the
/// `a` prefix is always 10 characters, so the whole is 36.
pub fn ja4_fixed(ch: &ClientHello) -> Fixed<36> {
    let version = ch
        .supported_versions
        .iter()
        .copied()
        .filter(|&v| !is_grease(v))
        .max()
        .unwrap_or(ch.version);
    let mut out = [b'0'; 36];
    out[0] = b't';
    out[1..3].copy_from_slice(ja4_version(version).as_bytes());
    out[3] = if ch.extensions.contains(&0) {
        b'd'
    } else {
        b'i'
    };
    let mut vals: Vec<u16> = Vec::with_capacity(ch.ciphers.len().max(ch.extensions.len()));
    vals.extend(ch.ciphers.iter().copied().filter(|&c| !is_grease(c)));
    let n_ext = ch.extensions.iter().filter(|&&e| !is_grease(e)).count();
    for (at, n) in [(4, vals.len()), (6, n_ext)] {
        let n = n.min(99);
        out[at] = b'0' + (n / 10) as u8;
        out[at + 1] = b'0' + (n % 10) as u8;
    }
    if let Some(p) = ch.alpn.first().filter(|p| !p.is_empty()) {
        let (f, l) = (p[0], p[p.len() - 1]);
        if f.is_ascii_alphanumeric() && l.is_ascii_alphanumeric() {
            out[8] = f;
            out[9] = l;
        } else {
            out[8] = HEX[usize::from(f >> 4)];
            out[9] = HEX[usize::from(l & 15)];
        }
    }
    out[10] = b'_';
    out[23] = b'_';
    if !vals.is_empty() {
        vals.sort_unstable();
        let mut f = Feed::<Sha256>::new();
        f.hex_list(&vals);
        out[11..23].copy_from_slice(&hex_fixed::<12>(&f.finish()).0);
    }
    vals.clear();
    vals.extend(
        ch.extensions
            .iter()
            .copied()
            .filter(|&e| !is_grease(e) && e != 0 && e != 16),
    );
    if !vals.is_empty() {
        vals.sort_unstable();
        let mut f = Feed::<Sha256>::new();
        f.hex_list(&vals);
        let mut sigs = ch
            .signature_algorithms
            .iter()
            .copied()
            .filter(|&s| !is_grease(s))
            .peekable();
        if sigs.peek().is_some() {
            f.byte(b'_');
            for (i, v) in sigs.enumerate() {
                if i > 0 {
                    f.byte(b',');
                }
                f.hex_list(&[v]);
            }
        }
        out[24..36].copy_from_slice(&hex_fixed::<12>(&f.finish()).0);
    }
    Fixed(out)
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
        assert_eq!(ja4_fixed(&ch).as_str(), ja4(&ch));
    }

    /// The hashed-as-written fingerprints equal the ones built as text,
    /// on hellos of every shape (GREASE, empty lists, odd ALPN values,
    /// lists longer than the feed buffer).
    #[test]
    fn fixed_fingerprints_equal_the_text_ones() {
        fn next(x: &mut u64, m: u64) -> u64 {
            *x ^= *x << 13;
            *x ^= *x >> 7;
            *x ^= *x << 17;
            *x % m
        }
        fn list(x: &mut u64, n: u64) -> Vec<u16> {
            (0..next(x, n))
                .map(|_| match next(x, 4) {
                    0 => 0x0a0a + 0x1010 * next(x, 16) as u16,
                    1 => next(x, 20) as u16,
                    _ => next(x, 65536) as u16,
                })
                .collect()
        }
        let x = &mut 0x9e37_79b9_7f4a_7c15u64;
        for round in 0..500 {
            let ch = ClientHello {
                version: [0x0301, 0x0303, 0x0304, 0x7f1c][round % 4],
                ciphers: list(x, 120),
                extensions: list(x, 40),
                groups: list(x, 12),
                point_formats: (0..next(x, 4)).map(|_| next(x, 256) as u8).collect(),
                supported_versions: list(x, 4),
                signature_algorithms: list(x, 30),
                alpn: (0..next(x, 3))
                    .map(|_| (0..next(x, 6)).map(|_| next(x, 256) as u8).collect())
                    .collect(),
                ..ClientHello::default()
            };
            assert_eq!(ja3_fixed(&ch).as_str(), ja3(&ch), "{ch:?}");
            assert_eq!(ja4_fixed(&ch).as_str(), ja4(&ch), "{ch:?}");
            let sh = ServerHello {
                version: ch.version,
                cipher: next(x, 65536) as u16,
                extensions: list(x, 20),
                ..ServerHello::default()
            };
            assert_eq!(ja3s_fixed(&sh).as_str(), ja3s(&sh), "{sh:?}");
        }
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
