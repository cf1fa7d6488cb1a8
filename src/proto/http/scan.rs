//! The common HTTP/1.x head, scanned without httparse: the strict fast path
//! of [`super::parser::Head`].
//!
//! - [`request_line`], [`status_line`]: the start line of the usual shape
//!   (single spaces, `HTTP/1.0` or `HTTP/1.1`, CRLF).
//! - [`scan_fields`]: the header lines `token:value CRLF` up to the empty
//!   line, found with word-at-a-time control-byte searches.
//! - [`Wants`] and [`classify`]: which header fields a session needs when no
//!   header is copied into the event (`send_headers`, `send_all_headers`):
//!   then only those fields are recorded, and names are compared by length
//!   first and then ASCII-case-insensitively, never lower-cased.
//! - [`scan_lean_fields`]: the header lines for such a lean table. Each
//!   line's end is found with one word-at-a-time search for a byte below
//!   0x20; the name is told by its first byte and the colon right after a
//!   read name's length, then one case-folded word comparison; only the
//!   lines that name a read field are looked into further.
//!
//! Anything outside the strict shape (bare LF, tabs, obs-fold, extra
//! spaces, obs-text in the start line, control bytes, too many fields)
//! makes these return `None` and httparse decides, so a head always gets
//! the fields httparse gives it. Not here: framing, body, streaming (see
//! `parser.rs`).

use super::HttpConfig;

/// Header fields parsed per head; more is an invalid head.
pub const MAX_HEADERS: usize = 100;

/// A byte range inside a [`super::parser::Head`]'s buffer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Span {
    /// Offset of the first byte.
    pub start: u32,
    /// Length in bytes.
    pub len: u32,
}

impl Span {
    /// The bytes of this span in `buf` (empty when out of range).
    pub fn get<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        let s = self.start as usize;
        buf.get(s..s + self.len as usize).unwrap_or(&[])
    }

    pub(super) fn of(base: &[u8], part: &[u8]) -> Span {
        let start = (part.as_ptr() as usize).wrapping_sub(base.as_ptr() as usize);
        if start > base.len() || part.len() > base.len() - start {
            return Span::default();
        }
        Span {
            start: start as u32,
            len: part.len() as u32,
        }
    }
}

/// Longest method a request line may have (as the start-line probe of the
/// stream parser wants it).
pub const MAX_METHOD: usize = 24;

/// Which header fields a head keeps in its table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wants {
    /// Every field, names lower-cased (some header is copied into events).
    pub all: bool,
    /// Without `all`: one more name kept (first occurrence) besides the
    /// fields the decoder and the event need: `real_ip_header`.
    extra: Option<Box<[u8]>>,
    /// `extra` is a token (see [`Wants::extra_token`]).
    extra_is_token: bool,
}

impl Default for Wants {
    fn default() -> Self {
        Wants::ALL
    }
}

impl Wants {
    /// Every field (the table `send_headers` needs).
    pub const ALL: Wants = Wants {
        all: true,
        extra: None,
        extra_is_token: false,
    };

    /// Only the fields the decoder and the event read, and `extra`.
    pub fn lean(extra: Option<&str>) -> Wants {
        let extra = extra.filter(|e| !e.is_empty());
        Wants {
            all: false,
            extra_is_token: extra.is_some_and(|e| e.bytes().all(|b| TCHAR[b as usize])),
            extra: extra.map(|e| e.as_bytes().to_vec().into_boxed_slice()),
        }
    }

    /// What the settings need: every field when headers are copied into
    /// events, else the lean set plus `real_ip_header`.
    pub fn from_config(cfg: &HttpConfig) -> Wants {
        if cfg.send_all_headers || !cfg.send_headers.is_empty() {
            Wants::ALL
        } else {
            Wants::lean(cfg.real_ip_header.as_deref())
        }
    }

    /// An extra name is kept.
    #[inline]
    pub fn has_extra(&self) -> bool {
        self.extra.is_some()
    }

    /// `name` is the extra field (any case).
    pub fn is_extra(&self, name: &[u8]) -> bool {
        self.extra
            .as_deref()
            .is_some_and(|e| e.len() == name.len() && e.eq_ignore_ascii_case(name))
    }

    /// The extra name when it is a token: only then can a parsed field
    /// name (always a token) equal it.
    #[inline]
    fn extra_token(&self) -> Option<&[u8]> {
        self.extra.as_deref().filter(|_| self.extra_is_token)
    }
}

/// The header fields the decoder or the event reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `Content-Length`.
    ContentLength,
    /// `Transfer-Encoding`.
    TransferEncoding,
    /// `Expect`.
    Expect,
    /// `Host`.
    Host,
    /// `User-Agent`.
    UserAgent,
    /// `Referer`.
    Referer,
    /// `Content-Type`.
    ContentType,
    /// `Content-Encoding`.
    ContentEncoding,
    /// `Authorization`.
    Authorization,
    /// Any other name.
    Other,
}

/// Which [`Field`] `name` is (any case): its length picks the one
/// candidate, then a case-folded word comparison decides.
#[inline]
pub fn classify(name: &[u8]) -> Field {
    let (want, field): (&[u8], Field) = match name.len() {
        4 => (b"host", Field::Host),
        6 => (b"expect", Field::Expect),
        7 => (b"referer", Field::Referer),
        10 => (b"user-agent", Field::UserAgent),
        12 => (b"content-type", Field::ContentType),
        13 => (b"authorization", Field::Authorization),
        14 => (b"content-length", Field::ContentLength),
        16 => (b"content-encoding", Field::ContentEncoding),
        17 => (b"transfer-encoding", Field::TransferEncoding),
        _ => return Field::Other,
    };
    if eq_lower(name, want) {
        field
    } else {
        Field::Other
    }
}

/// `name` equals `want` (lower-case letters and `-`, at least 4 bytes, the
/// same length) ignoring ASCII case: exactly `eq_ignore_ascii_case`.
#[inline]
fn eq_lower(name: &[u8], want: &[u8]) -> bool {
    debug_assert_eq!(name.len(), want.len());
    let n = name.len();
    if n != want.len() || n < 4 {
        return false;
    }
    if n < 8 {
        return fold32(name, want, 0) && fold32(name, want, n - 4);
    }
    fold64(name, want, 0) && fold64(name, want, n - 8) && (n <= 16 || fold64(name, want, 8))
}

/// Bytes `at..at + 8` of `name` and `want` agree, letters in any case:
/// `want`'s letters (bit 0x40 set, unlike `-`) get bit 0x20 forced in `name`.
#[inline]
fn fold64(name: &[u8], want: &[u8], at: usize) -> bool {
    let word = |s: &[u8]| {
        s.get(at..at + 8)
            .and_then(|w| w.try_into().ok())
            .map_or(0, u64::from_le_bytes)
    };
    let w = word(want);
    let case = (w >> 1) & 0x2020_2020_2020_2020;
    (word(name) | case) == w
}

/// [`fold64`] for 4 bytes.
#[inline]
fn fold32(name: &[u8], want: &[u8], at: usize) -> bool {
    let word = |s: &[u8]| {
        s.get(at..at + 4)
            .and_then(|w| w.try_into().ok())
            .map_or(0, u32::from_le_bytes)
    };
    let w = word(want);
    let case = (w >> 1) & 0x2020_2020;
    (word(name) | case) == w
}

/// What the name at the start of a header line is, read as a prefix of
/// the line (no search for the colon).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    /// A field that is read, its name `len` bytes, then the colon.
    Field(Field, usize),
    /// A name that is read, then a space or a tab: httparse may take the
    /// spaces before a colon (responses); it decides.
    Unsure,
    /// No name that is read.
    Other,
}

/// The read name `want` (see [`eq_lower`]) at the start of `line`, then
/// the colon.
#[inline(always)]
fn probe_one(line: &[u8], want: &[u8], field: Field) -> Probe {
    let n = want.len();
    match line.get(n) {
        Some(b':') if eq_lower(&line[..n], want) => Probe::Field(field, n),
        Some(b' ' | b'\t') if eq_lower(&line[..n], want) => Probe::Unsure,
        _ => Probe::Other,
    }
}

/// Which read [`Field`] `line` (a header line without its end) names:
/// picked by the first byte and the colon right after a candidate's
/// length, then one case-folded word comparison of the name.
#[inline]
fn probe_known(line: &[u8]) -> Probe {
    let Some(&first) = line.first() else {
        return Probe::Other;
    };
    match first | 0x20 {
        b'c' => {
            // content-type, content-length, content-encoding: a name ends
            // at the first byte that is not a token byte, so the first
            // candidate followed by a colon or a blank is the name.
            for (want, field) in [
                (&b"content-type"[..], Field::ContentType),
                (b"content-length", Field::ContentLength),
                (b"content-encoding", Field::ContentEncoding),
            ] {
                let p = probe_one(line, want, field);
                if p != Probe::Other {
                    return p;
                }
            }
            Probe::Other
        }
        b'h' => probe_one(line, b"host", Field::Host),
        b'e' => probe_one(line, b"expect", Field::Expect),
        b'r' => probe_one(line, b"referer", Field::Referer),
        b'u' => probe_one(line, b"user-agent", Field::UserAgent),
        b'a' => probe_one(line, b"authorization", Field::Authorization),
        b't' => probe_one(line, b"transfer-encoding", Field::TransferEncoding),
        _ => Probe::Other,
    }
}

/// [`probe_one`] for the extra name (a token, any bytes of it).
#[inline]
fn probe_extra(line: &[u8], extra: &[u8]) -> Probe {
    let n = extra.len();
    match line.get(n) {
        Some(b':') if line[..n].eq_ignore_ascii_case(extra) => Probe::Field(Field::Other, n),
        Some(b' ' | b'\t') if line[..n].eq_ignore_ascii_case(extra) => Probe::Unsure,
        _ => Probe::Other,
    }
}

/// [`scan_fields`] for a lean table ([`Wants::lean`]): only the lines that
/// name a read field or the extra name are looked into; every other line
/// is passed over with one word-at-a-time search for its end.
///
/// Exactly httparse's result, because with invalid header lines ignored
/// (as `parser.rs` configures it) a line that names no read field cannot
/// change the read fields, provided that the line ends in CRLF with no
/// byte below 0x20 before (NUL and a CR without LF are errors; bare LF,
/// tabs, other controls and obs-fold lines go to httparse), that it does
/// not start with a space,
/// and that its name, the bytes up to the first byte that is not a token
/// byte, is not a read name followed by a colon or by blanks. A line that
/// names a read field gets the strict checks of [`scan_fields`] (no control
/// byte in its value, no tab). At most [`MAX_HEADERS`] lines, ignored ones
/// included. `each` gets (field, name, value) of the read lines in order,
/// [`Field::Other`] for the extra name; the offset just past the empty
/// line, or `None` and httparse decides.
#[inline]
pub fn scan_lean_fields(
    b: &[u8],
    mut at: usize,
    wants: &Wants,
    mut each: impl FnMut(Field, Span, Span),
) -> Option<usize> {
    let extra = wants.extra_token();
    let mut lines = 0;
    loop {
        let end = first_below_space(b, at)?;
        if b[end] != b'\r' || b.get(end + 1) != Some(&b'\n') {
            return None;
        }
        if end == at {
            return Some(at + 2);
        }
        if lines == MAX_HEADERS || b[at] == b' ' {
            return None;
        }
        lines += 1;
        let line = &b[at..end];
        let mut probe = probe_known(line);
        if probe == Probe::Other {
            if let Some(e) = extra {
                probe = probe_extra(line, e);
            }
        }
        match probe {
            Probe::Other => {}
            Probe::Unsure => return None,
            Probe::Field(field, n) => {
                let colon = at + n;
                if first_ctl(b, colon + 1)? != end {
                    return None;
                }
                let (name, value) = name_value(b, at, colon, end);
                each(field, name, value);
            }
        }
        at = end + 2;
    }
}

/// The name (`at` to the colon) and the value (after the colon to `end`,
/// the spaces around it left out, as httparse gives it) of a header line.
#[inline(always)]
fn name_value(b: &[u8], at: usize, colon: usize, end: usize) -> (Span, Span) {
    let mut vs = colon + 1;
    while vs < end && b[vs] == b' ' {
        vs += 1;
    }
    let mut ve = end;
    while ve > vs && b[ve - 1] == b' ' {
        ve -= 1;
    }
    let name = Span {
        start: at as u32,
        len: (colon - at) as u32,
    };
    let value = Span {
        start: vs as u32,
        len: (ve - vs) as u32,
    };
    (name, value)
}

/// Token bytes (RFC 9110 section 5.6.2), as httparse accepts them.
pub static TCHAR: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        i += 1;
    }
    t
};

/// `HTTP/1.0` or `HTTP/1.1` and CRLF at `b[at..]`: the minor version.
fn version_crlf(b: &[u8], at: usize) -> Option<u8> {
    let v = b.get(at..at + 10)?;
    if &v[..7] != b"HTTP/1." || &v[8..] != b"\r\n" {
        return None;
    }
    match v[7] {
        b'0' => Some(0),
        b'1' => Some(1),
        _ => None,
    }
}

/// A request line of one token, one space, an ASCII target, one space and
/// `HTTP/1.0` or `HTTP/1.1` CRLF: (method, target, minor version, offset
/// of the next line).
#[inline]
pub fn request_line(b: &[u8]) -> Option<(Span, Span, u8, usize)> {
    let i = b.iter().position(|&x| !TCHAR[x as usize])?;
    if i == 0 || b[i] != b' ' {
        return None;
    }
    let t = i + 1;
    let j = t + b[t..].iter().position(|x| !(b'!'..=b'~').contains(x))?;
    if j == t || b[j] != b' ' {
        return None;
    }
    let minor = version_crlf(b, j + 1)?;
    let method = Span {
        start: 0,
        len: i as u32,
    };
    let target = Span {
        start: t as u32,
        len: (j - t) as u32,
    };
    Some((method, target, minor, j + 11))
}

/// A status line `HTTP/1.d NNN`, then a space and a reason of visible ASCII
/// and spaces (not starting with a blank), or the line end: (minor
/// version, status, reason, offset of the next line).
#[inline]
pub fn status_line(b: &[u8]) -> Option<(u8, u16, Span, usize)> {
    if b.len() < 14 || !b.starts_with(b"HTTP/1.") || b[8] != b' ' {
        return None;
    }
    let minor = match b[7] {
        b'0' => 0,
        b'1' => 1,
        _ => return None,
    };
    let code = &b[9..12];
    if !code.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let status = code.iter().fold(0u16, |n, &d| n * 10 + u16::from(d - b'0'));
    match b[12] {
        b'\r' if b[13] == b'\n' => Some((minor, status, Span { start: 12, len: 0 }, 14)),
        b' ' => {
            let s = 13;
            let k = s + b[s..].iter().position(|x| !(b' '..=b'~').contains(x))?;
            if b[k] != b'\r' || b.get(k + 1) != Some(&b'\n') || (k > s && b[s] == b' ') {
                return None;
            }
            let reason = Span {
                start: s as u32,
                len: (k - s) as u32,
            };
            Some((minor, status, reason, k + 2))
        }
        _ => None,
    }
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// High bit of each byte of `x` that is below 0x20 or is 0x7f (exact, no
/// carries between bytes; bytes from 0x80 are obs-text and pass).
#[inline]
fn ctl_mask(x: u64) -> u64 {
    let below = !(((x & !HI) + LO * 0x60) | x) & HI;
    let y = x ^ (LO * 0x7f);
    let del = !(((y & !HI) + !HI) | y) & HI;
    below | del
}

/// High bit of each byte of `x` that is below 0x20, exact for the first
/// one (a borrow only runs past a byte that is flagged).
#[inline(always)]
fn below_space_mask(x: u64) -> u64 {
    x.wrapping_sub(LO * 0x20) & !x & HI
}

/// Offset in `b` of the first byte below 0x20 from `at` (CR, LF, tab,
/// NUL, other controls; 0x7f and obs-text are not).
#[inline]
pub fn first_below_space(b: &[u8], at: usize) -> Option<usize> {
    let word = |w: &[u8]| u64::from_le_bytes(w.try_into().unwrap_or([0; 8]));
    let mut i = at;
    while let Some(w) = b.get(i..i + 8) {
        let m = below_space_mask(word(w));
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    (i..b.len()).find(|&k| b[k] < 0x20)
}

/// Offset from `at` of the first control byte (below 0x20 or 0x7f) in `b`.
#[inline]
pub fn first_ctl(b: &[u8], at: usize) -> Option<usize> {
    let mut i = at;
    while let Some(w) = b.get(i..i + 8) {
        let x = u64::from_le_bytes(w.try_into().unwrap_or([0; 8]));
        let m = ctl_mask(x);
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    (i..b.len()).find(|&k| b[k] < 0x20 || b[k] == 0x7f)
}

/// Header lines from `at` to the empty line, each `token:value CRLF` with
/// no control byte but the line end (no tab either), at most
/// [`MAX_HEADERS`]: `each` gets every (name, value) in order, the value
/// without the spaces around it as httparse gives it, and can stop the
/// scan by returning `false`. The offset just past the empty line, or
/// `None` when a line is not of that shape or the empty line is not in `b`.
#[inline]
pub fn scan_fields(
    b: &[u8],
    mut at: usize,
    mut each: impl FnMut(Span, Span) -> bool,
) -> Option<usize> {
    let mut fields = 0;
    loop {
        if *b.get(at)? == b'\r' {
            return (b.get(at + 1) == Some(&b'\n')).then_some(at + 2);
        }
        let c = at + b[at..].iter().position(|&x| !TCHAR[x as usize])?;
        if c == at || b[c] != b':' || fields == MAX_HEADERS {
            return None;
        }
        fields += 1;
        let end = first_ctl(b, c + 1)?;
        if b[end] != b'\r' || b.get(end + 1) != Some(&b'\n') {
            return None;
        }
        let (name, value) = name_value(b, at, c, end);
        if !each(name, value) {
            return None;
        }
        at = end + 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The control-byte search finds exactly the bytes below 0x20 and 0x7f
    /// at every offset, and nothing else.
    #[test]
    fn control_byte_search_is_exact() {
        for bad in (0u8..0x20).chain([0x7f]) {
            for at in 0..20 {
                let mut v = vec![b'a'; 20];
                v.extend_from_slice(&[0x80, 0xff, b' ', b'~']);
                v[at] = bad;
                assert_eq!(first_ctl(&v, 0), Some(at), "{bad:#x} at {at}");
            }
        }
        let clean: Vec<u8> = (0x20u8..0x7f).chain(0x80..=0xff).collect();
        for at in 0..clean.len() {
            assert_eq!(first_ctl(&clean, at), None);
        }
    }

    /// The search for the line end finds exactly the first byte below 0x20
    /// at every offset and length (word steps and the byte tail), whatever
    /// bytes follow it; 0x7f and obs-text are passed over.
    #[test]
    fn below_space_search_is_exact() {
        for len in 0..40 {
            for at in 0..len {
                for bad in [0u8, b'\t', b'\r', b'\n', 0x1f] {
                    let mut v: Vec<u8> = (0..len)
                        .map(|i| [b'a', 0x7f, 0x80, 0xff, b' '][i % 5])
                        .collect();
                    v[at] = bad;
                    // Bytes after the first hit that would borrow or match.
                    for k in at + 1..len {
                        v[k] = [0u8, 0x20, 0x21, b'\n'][k % 4];
                    }
                    for from in 0..=at {
                        assert_eq!(
                            first_below_space(&v, from),
                            Some(at),
                            "{len} {at} {bad:#x} {from}"
                        );
                    }
                }
            }
            let clean: Vec<u8> = (0..len).map(|i| (0x20 + (i * 37) % 0xe0) as u8).collect();
            for from in 0..=len {
                assert_eq!(first_below_space(&clean, from), None);
            }
        }
    }

    const NAMES: [(&str, Field); 9] = [
        ("host", Field::Host),
        ("expect", Field::Expect),
        ("referer", Field::Referer),
        ("user-agent", Field::UserAgent),
        ("content-type", Field::ContentType),
        ("authorization", Field::Authorization),
        ("content-length", Field::ContentLength),
        ("content-encoding", Field::ContentEncoding),
        ("transfer-encoding", Field::TransferEncoding),
    ];

    /// The folded word comparison is `eq_ignore_ascii_case`: every case mix
    /// of each name matches, and every single-byte change of it (any byte
    /// value at any position) that `eq_ignore_ascii_case` rejects is
    /// rejected too.
    #[test]
    fn classify_is_exactly_case_insensitive_equality() {
        for (name, field) in NAMES {
            let n = name.as_bytes();
            for mix in 0..64u32 {
                let v: Vec<u8> = n
                    .iter()
                    .enumerate()
                    .map(|(i, &b)| {
                        if mix >> (i % 6) & 1 == 1 {
                            b.to_ascii_uppercase()
                        } else {
                            b
                        }
                    })
                    .collect();
                assert_eq!(classify(&v), field, "{:?}", String::from_utf8_lossy(&v));
            }
            for at in 0..n.len() {
                for byte in 0..=255u8 {
                    let mut v = n.to_vec();
                    v[at] = byte;
                    let same = v.eq_ignore_ascii_case(n);
                    let got = classify(&v);
                    assert_eq!(got == field, same, "{:?}", String::from_utf8_lossy(&v));
                }
            }
        }
        for other in [
            "",
            "a",
            "hostx",
            "hos",
            "x-forwarded-for",
            "content-lengthx",
        ] {
            assert_eq!(classify(other.as_bytes()), Field::Other, "{other}");
        }
    }

    #[test]
    fn wants_follow_the_settings() {
        let mut cfg = HttpConfig::default();
        assert!(!Wants::from_config(&cfg).all);
        cfg.real_ip_header = Some("X-Forwarded-For".into());
        let w = Wants::from_config(&cfg);
        assert!(!w.all && w.is_extra(b"x-forwarded-for") && !w.is_extra(b"x-forwarded"));
        cfg.send_headers = vec!["accept".into()];
        assert!(Wants::from_config(&cfg).all);
        cfg.send_headers.clear();
        cfg.send_all_headers = true;
        assert!(Wants::from_config(&cfg).all);
        assert!(!Wants::lean(Some("")).is_extra(b""));
        assert_eq!(
            Wants::lean(Some("X_Real-IP2")).extra_token(),
            Some(&b"X_Real-IP2"[..])
        );
        assert_eq!(Wants::lean(Some("X Real")).extra_token(), None);
        assert_eq!(Wants::lean(None).extra_token(), None);
    }

    #[test]
    fn scan_stops_at_the_empty_line_and_rejects_odd_lines() {
        let head = b"Host: a\r\nX:  b  \r\n\r\nrest";
        assert_eq!(scan_fields(b"A: b:c\r\n\r\n", 0, |_, _| true), Some(10));
        let mut seen = Vec::new();
        let end = scan_fields(head, 0, |n, v| {
            seen.push((n.get(head).to_vec(), v.get(head).to_vec()));
            true
        });
        assert_eq!(end, Some(20));
        assert_eq!(
            seen,
            vec![
                (b"Host".to_vec(), b"a".to_vec()),
                (b"X".to_vec(), b"b".to_vec())
            ]
        );
        for odd in [
            &b"Host: a\n\r\n"[..],
            b"Host: a\r\n",
            b"Host : a\r\n\r\n",
            b"Host: a\tb\r\n\r\n",
            b" Host: a\r\n\r\n",
            b"Host: a\r\n\r",
            b"Ho(st: a\r\n\r\n",
            b"NoColon\r\nB: c\r\n\r\n",
        ] {
            assert_eq!(scan_fields(odd, 0, |_, _| true), None, "{odd:?}");
        }
        assert_eq!(scan_fields(b"A: 1\r\n\r\n", 0, |_, _| false), None);
    }
}
