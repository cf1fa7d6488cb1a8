//! A minimal streaming JSON object writer over a reused `Vec<u8>`.
//!
//! Events are encoded once, in the worker that produced them, straight into
//! the bytes the exporter writes, with no intermediate tree. The writer only
//! tracks whether a comma is due; callers are responsible for balancing
//! `begin`/`end` (tests parse every encoded event back with serde_json).
//!
//! Two ways to write: field by field (`str`, `u64`, `begin_obj`, ...), and
//! as a template for the hot event shapes, where constant runs of keys and
//! punctuation are one copy each ([`JsonWriter::lit`], [`JsonWriter::field`])
//! and the values go between them without keys or quotes
//! ([`JsonWriter::text`], [`JsonWriter::num`], [`JsonWriter::ts`]). Both
//! give the same bytes (tested).

use crate::time::{push_digits, write_rfc3339, Timestamp};
use std::net::IpAddr;

/// Appends JSON into a borrowed buffer.
pub struct JsonWriter<'a> {
    buf: &'a mut Vec<u8>,
    need_comma: bool,
}

impl<'a> JsonWriter<'a> {
    /// Starts writing at the end of `buf` (nothing is written yet).
    pub fn new(buf: &'a mut Vec<u8>) -> Self {
        JsonWriter {
            buf,
            need_comma: false,
        }
    }

    /// Continues after a value already in `buf` (the next field needs a comma).
    pub fn continuing(buf: &'a mut Vec<u8>) -> Self {
        JsonWriter {
            buf,
            need_comma: true,
        }
    }

    /// The buffer written so far.
    pub fn buf(&self) -> &[u8] {
        self.buf
    }

    /// `"k":` with no value yet: the caller writes it (pre-rendered
    /// fragments that end in a key, see [`Self::interleave`]).
    pub fn key_only(&mut self, k: &str) {
        self.key(k);
        self.need_comma = true;
    }

    /// Appends a constant piece of JSON as it is: keys, punctuation and
    /// constant values written as one copy (a template), e.g.
    /// `br#","status":"OK","event":{"kind":"event""#`. The piece carries its
    /// own leading comma when it starts a field after another one (the
    /// writer adds none); it may end inside a value (`"method":"`), which
    /// the value writers ([`Self::text`], [`Self::num`], [`Self::ts`], ...)
    /// and the next piece complete. After it a comma is due unless it ends
    /// in `{`, `[`, `:` or `,`.
    #[inline(always)]
    pub fn lit(&mut self, piece: &'static [u8]) {
        debug_assert!(
            piece.first() != Some(&b',') || self.need_comma,
            "{:?} after an opening",
            String::from_utf8_lossy(piece)
        );
        self.buf.extend_from_slice(piece);
        self.need_comma = !matches!(piece.last(), Some(b'{' | b'[' | b':' | b','));
    }

    /// [`Self::lit`] for a piece that starts a field (`"key":...`, no
    /// comma of its own): the comma is written first when one is due.
    #[inline(always)]
    pub fn field(&mut self, piece: &'static [u8]) {
        debug_assert_eq!(piece.first(), Some(&b'"'));
        self.sep();
        self.lit(piece);
    }

    /// A number as a bare value (after a piece that ends in `:`).
    #[inline(always)]
    pub fn num(&mut self, v: u64) {
        push_u64(self.buf, v);
        self.need_comma = true;
    }

    /// The inside of a string value (between the quotes a piece before and
    /// a piece after write): JSON-escaped, invalid UTF-8 replaced by U+FFFD.
    #[inline(always)]
    pub fn text(&mut self, v: &[u8]) {
        text_into(self.buf, v);
        self.need_comma = true;
    }

    /// [`Self::text`], returning whether `v` was plain (printable ASCII with
    /// nothing to escape), for [`Self::text_again`].
    #[inline(always)]
    pub fn text_checked(&mut self, v: &[u8]) -> bool {
        self.need_comma = true;
        if copy_if_plain(self.buf, v) {
            return true;
        }
        text_slow(self.buf, v);
        false
    }

    /// The same value as an earlier [`Self::text_checked`] that returned
    /// `plain`: when it was plain, copied without checking it again.
    #[inline(always)]
    pub fn text_again(&mut self, v: &[u8], plain: bool) {
        if plain {
            debug_assert!(v.iter().all(|&b| b < 0x80 && !NEEDS_ESCAPE[b as usize]));
            copy_words(self.buf, v);
            self.need_comma = true;
        } else {
            self.text(v);
        }
    }

    /// The inside of a string value known to be printable ASCII with
    /// nothing to escape (a constant of the program: `http`, `OK`, ...).
    #[inline(always)]
    pub fn text_ascii(&mut self, v: &'static str) {
        debug_assert_eq!(plain_ascii_prefix(v.as_bytes()), v.len(), "{v:?}");
        self.buf.extend_from_slice(v.as_bytes());
        self.need_comma = true;
    }

    /// The inside of a time string: `2024-01-02T03:04:05.678901Z`.
    #[inline(always)]
    pub fn ts(&mut self, ts: Timestamp) {
        write_rfc3339(self.buf, ts);
        self.need_comma = true;
    }

    /// Pre-rendered fields with numbers between them: `parts[0]`, `nums[0]`,
    /// `parts[1]`, `nums[1]`, ... Each part but the first continues the
    /// JSON after a number, so the whole run is valid where a field may
    /// start.
    #[inline]
    pub fn interleave(&mut self, parts: &[&[u8]], nums: &[u64]) {
        self.sep();
        for (i, p) in parts.iter().enumerate() {
            self.buf.extend_from_slice(p);
            if let Some(&n) = nums.get(i) {
                push_u64(self.buf, n);
            }
        }
        self.need_comma = true;
    }

    /// Starts a run of fields to be copied again later with [`Self::run`]:
    /// writes the comma due and returns where the run starts (it ends
    /// where the caller stops; the fields it holds follow one another
    /// without a leading comma).
    #[inline]
    pub fn begin_run(&mut self) -> usize {
        self.sep();
        self.need_comma = false;
        self.buf.len()
    }

    /// Fields written earlier after [`Self::begin_run`], copied as they are.
    #[inline]
    pub fn run(&mut self, fields: &[u8]) {
        self.sep();
        self.buf.extend_from_slice(fields);
        self.need_comma = true;
    }

    #[inline(always)]
    fn sep(&mut self) {
        if self.need_comma {
            self.buf.push(b',');
        }
    }

    #[inline(always)]
    fn key(&mut self, k: &str) {
        self.sep();
        self.buf.push(b'"');
        self.buf.extend_from_slice(k.as_bytes());
        self.buf.extend_from_slice(b"\":");
    }

    /// Writes `{` (a top-level object or an array element).
    #[inline(always)]
    pub fn begin(&mut self) {
        self.sep();
        self.buf.push(b'{');
        self.need_comma = false;
    }

    /// Writes `"k":{`.
    #[inline(always)]
    pub fn begin_obj(&mut self, k: &str) {
        self.key(k);
        self.buf.push(b'{');
        self.need_comma = false;
    }

    /// Writes `"k":[`.
    #[inline(always)]
    pub fn begin_arr(&mut self, k: &str) {
        self.key(k);
        self.buf.push(b'[');
        self.need_comma = false;
    }

    /// Closes an object.
    #[inline(always)]
    pub fn end(&mut self) {
        self.buf.push(b'}');
        self.need_comma = true;
    }

    /// Closes an array.
    #[inline(always)]
    pub fn end_arr(&mut self) {
        self.buf.push(b']');
        self.need_comma = true;
    }

    /// `"k":"v"` with JSON escaping.
    #[inline(always)]
    pub fn str(&mut self, k: &str, v: &str) {
        self.key(k);
        escape_into(self.buf, v.as_bytes());
        self.need_comma = true;
    }

    /// `"k":"v"` for a constant of the program (protocol names, `OK`, ...):
    /// printable ASCII with nothing to escape, copied without a scan.
    #[inline(always)]
    pub fn ascii(&mut self, k: &str, v: &'static str) {
        debug_assert_eq!(plain_ascii_prefix(v.as_bytes()), v.len(), "{v:?}");
        self.plain(k, v.as_bytes());
    }

    /// `"k":"v"` for bytes known to be printable ASCII with nothing to escape.
    #[inline(always)]
    fn plain(&mut self, k: &str, v: &[u8]) {
        self.key(k);
        self.buf.push(b'"');
        self.buf.extend_from_slice(v);
        self.buf.push(b'"');
        self.need_comma = true;
    }

    /// `"k":"v"` from bytes that may not be UTF-8 (invalid sequences become
    /// U+FFFD). The key is copied inline (a constant at the call site), the
    /// value by [`lossy_into`].
    #[inline(always)]
    pub fn bytes_lossy(&mut self, k: &str, v: &[u8]) {
        self.key(k);
        lossy_into(self.buf, v);
        self.need_comma = true;
    }

    /// A string element inside an array.
    #[inline]
    pub fn elem_str(&mut self, v: &str) {
        self.sep();
        escape_into(self.buf, v.as_bytes());
        self.need_comma = true;
    }

    /// An address element inside an array.
    #[inline]
    pub fn elem_ip(&mut self, ip: IpAddr) {
        self.sep();
        self.ip_value(ip);
        self.need_comma = true;
    }

    /// A number element inside an array.
    #[inline]
    pub fn elem_u64(&mut self, v: u64) {
        self.sep();
        push_u64(self.buf, v);
        self.need_comma = true;
    }

    /// `"k":123`.
    #[inline(always)]
    pub fn u64(&mut self, k: &str, v: u64) {
        self.key(k);
        push_u64(self.buf, v);
        self.need_comma = true;
    }

    /// `"k":"00ab..."`: a u64 as 16 lower-case hex digits (flow ids).
    #[inline]
    pub fn hex64(&mut self, k: &str, v: u64) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        self.key(k);
        let mut b = [b'"'; 18];
        for i in 0..16 {
            b[16 - i] = HEX[((v >> (i * 4)) & 0xf) as usize];
        }
        self.buf.extend_from_slice(&b);
        self.need_comma = true;
    }

    /// `"k":-123`.
    #[inline]
    pub fn i64(&mut self, k: &str, v: i64) {
        self.key(k);
        if v < 0 {
            self.buf.push(b'-');
        }
        push_u64(self.buf, v.unsigned_abs());
        self.need_comma = true;
    }

    /// `"k":1.5` (non-finite values are written as `null`).
    #[inline]
    pub fn f64(&mut self, k: &str, v: f64) {
        self.key(k);
        if v.is_finite() {
            self.buf.extend_from_slice(format!("{v}").as_bytes());
        } else {
            self.buf.extend_from_slice(b"null");
        }
        self.need_comma = true;
    }

    /// `"k":true`.
    #[inline]
    pub fn bool(&mut self, k: &str, v: bool) {
        self.key(k);
        self.buf
            .extend_from_slice(if v { b"true" } else { b"false" });
        self.need_comma = true;
    }

    /// `"k":null`.
    #[inline]
    pub fn null(&mut self, k: &str) {
        self.key(k);
        self.buf.extend_from_slice(b"null");
        self.need_comma = true;
    }

    /// `"k":"2024-01-02T03:04:05.678901Z"`. Returns where the value sits in
    /// the buffer, for [`Self::repeat`].
    #[inline]
    pub fn time(&mut self, k: &str, ts: Timestamp) -> std::ops::Range<usize> {
        self.key(k);
        let start = self.buf.len();
        self.buf.push(b'"');
        write_rfc3339(self.buf, ts);
        self.buf.push(b'"');
        self.need_comma = true;
        start..self.buf.len()
    }

    /// `"k":<value>` where the value is one already written by this writer
    /// (`range` as returned by [`Self::time`]).
    #[inline(always)]
    pub fn repeat(&mut self, k: &str, range: std::ops::Range<usize>) {
        self.key(k);
        self.buf.extend_from_within(range);
        self.need_comma = true;
    }

    /// `"k":"10.0.0.1"` (IPv6 in its canonical text form).
    #[inline]
    pub fn ip(&mut self, k: &str, ip: IpAddr) {
        self.key(k);
        self.ip_value(ip);
        self.need_comma = true;
    }

    #[inline]
    fn ip_value(&mut self, ip: IpAddr) {
        self.buf.push(b'"');
        match ip {
            // Hot path: dotted quad without the formatting machinery.
            IpAddr::V4(v4) => {
                for (i, o) in v4.octets().iter().enumerate() {
                    if i > 0 {
                        self.buf.push(b'.');
                    }
                    push_u64(self.buf, u64::from(*o));
                }
            }
            IpAddr::V6(v6) => {
                use std::io::Write;
                let _ = write!(self.buf, "{v6}");
            }
        }
        self.buf.push(b'"');
    }

    /// `"k":<raw>` where `raw` is already valid JSON.
    #[inline]
    pub fn raw(&mut self, k: &str, raw: &[u8]) {
        self.key(k);
        self.buf.extend_from_slice(raw);
        self.need_comma = true;
    }
}

/// Decimal digits of `v` (see [`push_digits`]).
#[inline]
fn push_u64(out: &mut Vec<u8>, v: u64) {
    push_digits(out, v, 1);
}

/// Bytes that need escaping in a JSON string (controls, `"`, `\\`, DEL).
static NEEDS_ESCAPE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t[0x7f] = true;
    t
};

/// Where the first special byte of an 8-byte chunk is: a control byte,
/// `"`, `\\`, DEL or any byte >= 0x80. In each test a borrow can only flag a
/// byte above a byte that really matched, so the lowest flagged byte is
/// exact.
#[inline]
fn special_in_chunk(chunk: [u8; 8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let eq = |x: u64, b: u8| {
        let y = x ^ (LO * u64::from(b));
        y.wrapping_sub(LO) & !y
    };
    let x = u64::from_le_bytes(chunk);
    let below_space = x.wrapping_sub(LO * 0x20) & !x;
    let m = (below_space | eq(x, b'"') | eq(x, b'\\') | eq(x, 0x7f) | x) & HI;
    (m != 0).then(|| (m.trailing_zeros() / 8) as usize)
}

/// Length of the prefix of `s` made of printable ASCII that needs no
/// escaping (see [`special_in_chunk`]), eight bytes at a time.
#[inline]
fn plain_ascii_prefix(s: &[u8]) -> usize {
    let chunk = |i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&s[i..i + 8]);
        w
    };
    let mut i = 0;
    while i + 8 <= s.len() {
        if let Some(k) = special_in_chunk(chunk(i)) {
            return i + k;
        }
        i += 8;
    }
    if i > 0 && i < s.len() {
        // The last 8 bytes, overlapping bytes already found plain: one
        // more chunk instead of a byte loop.
        let end = s.len() - 8;
        return match special_in_chunk(chunk(end)) {
            Some(k) => end + k,
            None => s.len(),
        };
    }
    while i < s.len() && s[i] < 0x80 && !NEEDS_ESCAPE[s[i] as usize] {
        i += 1;
    }
    i
}

/// Appends `s` as a quoted JSON string.
pub fn escape_into(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    escape_body(out, s);
    out.push(b'"');
}

/// Appends `v` as a quoted JSON string, invalid UTF-8 replaced by U+FFFD.
#[inline(never)]
pub fn lossy_into(out: &mut Vec<u8>, v: &[u8]) {
    out.push(b'"');
    text_into(out, v);
    out.push(b'"');
}

/// The inside of a JSON string for `v`: escaped, invalid UTF-8 replaced by
/// U+FFFD. Printable ASCII (nearly every value) is checked 16 bytes at a
/// time and copied whole ([`copy_if_plain`]); anything else takes the
/// byte-by-byte path.
#[inline]
pub fn text_into(out: &mut Vec<u8>, v: &[u8]) {
    if !copy_if_plain(out, v) {
        text_slow(out, v);
    }
}

/// [`text_into`] for a value with a byte to escape or non-ASCII text.
#[cold]
#[inline(never)]
fn text_slow(out: &mut Vec<u8>, v: &[u8]) {
    let plain = copy_plain_prefix(out, v);
    if plain == v.len() {
        return;
    }
    match std::str::from_utf8(v) {
        Ok(_) => escape_rest(out, v, plain),
        Err(_) => {
            out.truncate(out.len() - plain);
            escape_slow(out, String::from_utf8_lossy(v).as_bytes());
        }
    }
}

/// The inside of a JSON string for the UTF-8 text `s`.
#[inline]
fn escape_body(out: &mut Vec<u8>, s: &[u8]) {
    if !copy_if_plain(out, s) {
        escape_slow(out, s);
    }
}

/// [`escape_body`] past the fast check.
#[cold]
#[inline(never)]
fn escape_slow(out: &mut Vec<u8>, s: &[u8]) {
    let plain = copy_plain_prefix(out, s);
    if plain < s.len() {
        escape_rest(out, s, plain);
    }
}

/// Whether some byte of the word `x` is special: a control byte, `"`,
/// `\\`, DEL or any byte >= 0x80 (the high bit of the result). Eleven
/// word operations for eight bytes. Each test may also flag a byte next to
/// a byte that really matched (a carry or borrow out of it), never a word
/// without one: `x + 1` carries only out of 0xff, `x - 0x20` and
/// `(x ^ c) - 1` borrow only out of a byte below 0x20 or equal to `c`.
#[inline(always)]
fn special_word(x: u64) -> u64 {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    (x | x.wrapping_add(LO)
        | x.wrapping_sub(LO * 0x20)
        | (x ^ (LO * u64::from(b'"'))).wrapping_sub(LO)
        | (x ^ (LO * u64::from(b'\\'))).wrapping_sub(LO))
        & HI
}

/// `s[at..at + 8]` as a little-endian word.
#[inline(always)]
fn word_at(s: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&s[at..at + 8]);
    u64::from_le_bytes(w)
}

/// Appends `s` and returns true when every byte is plain (printable ASCII
/// but `"` and `\\`); otherwise appends nothing and returns false. Up to
/// 32 bytes (nearly every value) it is one to four words, checked (see
/// [`special_word`]) and copied as they are (the last ones overlapping the
/// first, then cut): no loop and no `memcpy` call.
#[inline(always)]
fn copy_if_plain(out: &mut Vec<u8>, s: &[u8]) -> bool {
    let n = s.len();
    if n < 8 {
        let w = short_word(s);
        if special_word(w) != 0 {
            return false;
        }
        let base = out.len();
        out.extend_from_slice(&w.to_le_bytes());
        out.truncate(base + n);
        return true;
    }
    if n <= 16 {
        let (a, b) = (word_at(s, 0), word_at(s, n - 8));
        if special_word(a) | special_word(b) != 0 {
            return false;
        }
        let base = out.len();
        out.extend_from_slice(&a.to_le_bytes());
        out.truncate(base + n - 8);
        out.extend_from_slice(&b.to_le_bytes());
        return true;
    }
    if n > 32 {
        return copy_if_plain_long(out, s);
    }
    // 17 to 32 bytes: the first 16 and the last 16, as two pairs of words.
    let (a, b, c, d) = (
        word_at(s, 0),
        word_at(s, 8),
        word_at(s, n - 16),
        word_at(s, n - 8),
    );
    if special_word(a) | special_word(b) | special_word(c) | special_word(d) != 0 {
        return false;
    }
    let pair = |x: u64, y: u64| (u128::from(x) | u128::from(y) << 64).to_le_bytes();
    let base = out.len();
    out.extend_from_slice(&pair(a, b));
    out.truncate(base + n - 16);
    out.extend_from_slice(&pair(c, d));
    true
}

/// Appends `s` the way [`copy_if_plain`] does, without the check (for a
/// value already found plain).
#[inline(always)]
fn copy_words(out: &mut Vec<u8>, s: &[u8]) {
    let n = s.len();
    let base = out.len();
    if n < 8 {
        out.extend_from_slice(&short_word(s).to_le_bytes());
        out.truncate(base + n);
    } else if n <= 16 {
        out.extend_from_slice(&word_at(s, 0).to_le_bytes());
        out.truncate(base + n - 8);
        out.extend_from_slice(&word_at(s, n - 8).to_le_bytes());
    } else {
        out.extend_from_slice(s);
    }
}

/// [`copy_if_plain`] for more than 32 bytes: checked a word at a time
/// (the last word overlapping), stopping at the first block of four with a
/// special byte, then copied once.
#[inline(never)]
fn copy_if_plain_long(out: &mut Vec<u8>, s: &[u8]) -> bool {
    let mut blocks = s.chunks_exact(32);
    for b in &mut blocks {
        if special_word(word_at(b, 0))
            | special_word(word_at(b, 8))
            | special_word(word_at(b, 16))
            | special_word(word_at(b, 24))
            != 0
        {
            return false;
        }
    }
    let rest = blocks.remainder();
    let mut m = 0;
    let mut i = 0;
    while i + 8 <= rest.len() {
        m |= special_word(word_at(rest, i));
        i += 8;
    }
    if i < rest.len() {
        m |= special_word(word_at(s, s.len() - 8));
    }
    if m != 0 {
        return false;
    }
    out.extend_from_slice(s);
    true
}

/// The bytes of `s` (fewer than 8) in a little-endian word, read as two
/// overlapping halves (or first, middle and last byte) instead of a loop;
/// the bytes past its end are `a`, which needs no escaping.
#[inline(always)]
fn short_word(s: &[u8]) -> u64 {
    let n = s.len();
    debug_assert!(n < 8);
    let w = if n >= 4 {
        let mut lo = [0u8; 4];
        let mut hi = [0u8; 4];
        lo.copy_from_slice(&s[..4]);
        hi.copy_from_slice(&s[n - 4..]);
        u64::from(u32::from_le_bytes(lo)) | u64::from(u32::from_le_bytes(hi)) << ((n - 4) * 8)
    } else if n > 0 {
        u64::from(s[0]) | u64::from(s[n / 2]) << (n / 2 * 8) | u64::from(s[n - 1]) << ((n - 1) * 8)
    } else {
        0
    };
    w | 0x6161_6161_6161_6161u64 << ((n & 7) * 8)
}

/// Copies the longest prefix of `s` that is printable ASCII with nothing to
/// escape to `out` and returns its length. Up to 16 bytes it is one or two
/// 8-byte words, each scanned and copied as one (the second overlapping
/// the first, then cut), so there is no loop and no `memcpy` call per
/// value; up to 32, word by word; longer ones are scanned first and copied
/// once.
#[inline]
fn copy_plain_prefix(out: &mut Vec<u8>, s: &[u8]) -> usize {
    let base = out.len();
    let len = s.len();
    let chunk = |i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&s[i..i + 8]);
        w
    };
    if len < 8 {
        let w = short_word(s).to_le_bytes();
        let k = special_in_chunk(w).unwrap_or(len).min(len);
        out.extend_from_slice(&w);
        out.truncate(base + k);
        return k;
    }
    if len <= 16 {
        let (a, b) = (chunk(0), chunk(len - 8));
        out.extend_from_slice(&a);
        if let Some(k) = special_in_chunk(a) {
            out.truncate(base + k);
            return k;
        }
        out.truncate(base + len - 8);
        out.extend_from_slice(&b);
        if let Some(k) = special_in_chunk(b) {
            out.truncate(base + len - 8 + k);
            return len - 8 + k;
        }
        return len;
    }
    if len > 32 {
        let plain = plain_ascii_prefix(s);
        out.extend_from_slice(&s[..plain]);
        return plain;
    }
    let mut i = 0;
    while i + 8 <= len {
        let c = chunk(i);
        out.extend_from_slice(&c);
        if let Some(k) = special_in_chunk(c) {
            out.truncate(base + i + k);
            return i + k;
        }
        i += 8;
    }
    if i < len {
        // The last 8 bytes, overlapping bytes already copied: rewritten
        // from where they start.
        let end = len - 8;
        let c = chunk(end);
        out.truncate(base + end);
        out.extend_from_slice(&c);
        if let Some(k) = special_in_chunk(c) {
            out.truncate(base + end + k);
            return end + k;
        }
    }
    len
}

/// The rest of [`escape_body`] once the first `plain` bytes of `s` are in
/// `out`: runs without an escapable byte are copied whole.
#[cold]
fn escape_rest(out: &mut Vec<u8>, s: &[u8], plain: usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(s.len() - plain + 8);
    let mut start = plain;
    let mut i = plain;
    while i < s.len() {
        let b = s[i];
        i += 1;
        if !NEEDS_ESCAPE[b as usize] {
            // Part of a multi-byte UTF-8 sequence: copied as it is.
            i += plain_ascii_prefix(&s[i..]);
            continue;
        }
        out.extend_from_slice(&s[start..i - 1]);
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 0xf) as usize]);
            }
        }
        start = i;
        i += plain_ascii_prefix(&s[i..]);
    }
    out.extend_from_slice(&s[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_objects_parse_back() {
        let mut buf = Vec::new();
        let mut w = JsonWriter::new(&mut buf);
        w.begin();
        w.str("type", "http");
        w.begin_obj("client");
        w.ip("ip", "10.0.0.1".parse().unwrap());
        w.u64("port", 40000);
        w.end();
        w.begin_arr("vlan");
        w.elem_u64(10);
        w.elem_u64(20);
        w.end_arr();
        w.str("q", "a\"b\\c\n\u{1}é");
        w.i64("neg", -5);
        w.bool("t", true);
        w.null("n");
        w.time("@timestamp", 1_000_001_000);
        w.hex64("id", 0x00ab_cdef_0123_4567);
        w.end();
        let v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        assert_eq!(v["client"]["ip"], "10.0.0.1");
        assert_eq!(v["client"]["port"], 40000);
        assert_eq!(v["vlan"][1], 20);
        assert_eq!(v["q"], "a\"b\\c\n\u{1}é");
        assert_eq!(v["neg"], -5);
        assert_eq!(v["@timestamp"], "1970-01-01T00:00:01.000001Z");
        assert_eq!(v["id"], format!("{:016x}", 0x00ab_cdef_0123_4567u64));
    }

    #[test]
    fn invalid_utf8_is_replaced_not_dropped() {
        let mut buf = Vec::new();
        let mut w = JsonWriter::new(&mut buf);
        w.begin();
        w.bytes_lossy("b", b"ok\xffok");
        w.end();
        let v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        assert_eq!(v["b"], "ok\u{fffd}ok");
    }

    #[test]
    fn plain_prefix_stops_exactly_at_the_first_special_byte() {
        let naive = |s: &[u8]| {
            s.iter()
                .position(|&b| b >= 0x80 || NEEDS_ESCAPE[b as usize])
                .unwrap_or(s.len())
        };
        let copied = |s: &[u8]| {
            let mut out = b"xy".to_vec();
            let k = copy_plain_prefix(&mut out, s);
            assert_eq!(&out[..2], b"xy");
            assert_eq!(&out[2..], &s[..k]);
            k
        };
        // Every byte value at every position of strings up to 40 bytes
        // (short ones, words and a tail, long ones scanned first), after
        // and before a special byte too.
        for len in 0..41 {
            for pos in 0..len {
                for b in 0..=255u8 {
                    let mut s = vec![b'a'; len];
                    s[pos] = b;
                    assert_eq!(
                        plain_ascii_prefix(&s),
                        naive(&s),
                        "byte {b:#x} at {pos}/{len}"
                    );
                    assert_eq!(copied(&s), naive(&s), "copy: byte {b:#x} at {pos}/{len}");
                    if pos + 1 < len {
                        s[pos + 1] = 0x1f;
                        assert_eq!(plain_ascii_prefix(&s), naive(&s), "{b:#x} then 0x1f");
                        assert_eq!(copied(&s), naive(&s), "copy: {b:#x} then 0x1f");
                    }
                }
            }
        }
    }

    #[test]
    fn every_char_round_trips_through_escape_and_lossy() {
        let all: String = (0u32..0x800)
            .chain([0xfffd, 0x1f600])
            .filter_map(char::from_u32)
            .collect();
        for s in [
            &all[..],
            "plain ascii only, long enough to chunk",
            "é\"\u{7f}x",
        ] {
            let mut buf = Vec::new();
            let mut w = JsonWriter::new(&mut buf);
            w.begin();
            w.str("s", s);
            w.bytes_lossy("b", s.as_bytes());
            w.end();
            let v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
            assert_eq!(v["s"], s);
            assert_eq!(v["b"], s);
        }
    }

    #[test]
    fn numbers_at_every_digit_count() {
        let mut vals = vec![0, 1, 9, u64::MAX, u64::MAX - 1];
        let mut p = 1u64;
        while let Some(next) = p.checked_mul(10) {
            vals.extend([p - 1, p, p + 1]);
            p = next;
        }
        vals.extend([p - 1, p]);
        let mut out = b"x".to_vec();
        for v in vals {
            out.truncate(1);
            push_u64(&mut out, v);
            assert_eq!(&out[1..], v.to_string().as_bytes());
        }
    }

    /// xorshift64*: deterministic inputs without a random crate.
    fn next(state: &mut u64) -> u64 {
        *state ^= *state >> 12;
        *state ^= *state << 25;
        *state ^= *state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Random bytes, biased towards what makes escaping hard: quotes,
    /// backslashes, controls, DEL, UTF-8 lead and continuation bytes, runs
    /// of plain ASCII of every length.
    fn nasty_bytes(state: &mut u64) -> Vec<u8> {
        const SPECIAL: &[u8] =
            b"\"\\\n\r\t\x00\x1f\x7f\x80\xbf\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xff";
        let len = (next(state) % 40) as usize;
        (0..len)
            .map(|_| {
                let r = next(state);
                match r % 4 {
                    0 => SPECIAL[(r >> 8) as usize % SPECIAL.len()],
                    1 => (r >> 8) as u8,
                    _ => b' ' + ((r >> 8) % 95) as u8,
                }
            })
            .collect()
    }

    #[test]
    fn escaping_equals_serde_json_over_random_strings() {
        let mut state = 0x0123_4567_89ab_cdef;
        for _ in 0..50_000 {
            let bytes = nasty_bytes(&mut state);
            let text = String::from_utf8_lossy(&bytes).into_owned();
            // serde_json leaves DEL as it is and writes \b and \f; ours
            // writes \u007f, \u0008 and \u000c: compare after parsing,
            // and byte for byte where none of the three is involved.
            let theirs = serde_json::to_string(&text).unwrap();
            let mut ours = Vec::new();
            escape_into(&mut ours, text.as_bytes());
            let mut lossy = Vec::new();
            lossy_into(&mut lossy, &bytes);
            assert_eq!(lossy, ours, "{bytes:?}");
            let back: String = serde_json::from_slice(&ours).unwrap();
            assert_eq!(back, text, "{bytes:?}");
            if !text.contains(['\u{7f}', '\u{8}', '\u{c}']) {
                assert_eq!(String::from_utf8(ours).unwrap(), theirs, "{bytes:?}");
            }
        }
    }

    /// Whether every byte of `s` is plain, byte by byte from the table.
    fn naive_plain(s: &[u8]) -> bool {
        s.iter().all(|&b| b < 0x80 && !NEEDS_ESCAPE[b as usize])
    }

    #[test]
    fn plain_check_equals_the_table_for_every_byte_at_every_position() {
        for b in 0..=255u8 {
            let mut c = [b'a'; 8];
            c[3] = b;
            assert_eq!(
                special_word(u64::from_le_bytes(c)) == 0,
                naive_plain(&c),
                "{b:#x}"
            );
        }
        // Random plain strings are never flagged.
        let mut state = 11;
        for len in (0..200).chain([1000, 4096]) {
            let s: Vec<u8> = (0..len)
                .map(|_| {
                    let b = b' ' + (next(&mut state) % 95) as u8;
                    if b == b'"' || b == b'\\' {
                        b'x'
                    } else {
                        b
                    }
                })
                .collect();
            let mut out = Vec::new();
            assert!(copy_if_plain(&mut out, &s), "{s:?}");
            assert_eq!(out, s);
        }
        // Lengths 0..=80: the short word, the two words, the blocks of
        // the long loop and its overlapping tail.
        for len in 0..=80 {
            let clean = vec![b'a'; len];
            let mut out = b"xy".to_vec();
            assert!(copy_if_plain(&mut out, &clean));
            assert_eq!(&out[2..], &clean[..]);
            for pos in 0..len {
                for b in 0..=255u8 {
                    let mut s = vec![b'~'; len];
                    s[pos] = b;
                    let mut out = b"xy".to_vec();
                    let plain = copy_if_plain(&mut out, &s);
                    assert_eq!(plain, naive_plain(&s), "byte {b:#x} at {pos}/{len}");
                    let want: &[u8] = if plain { &s } else { b"" };
                    assert_eq!(&out[..2], b"xy");
                    assert_eq!(&out[2..], want, "byte {b:#x} at {pos}/{len}");
                }
            }
        }
    }

    #[test]
    fn fast_text_equals_the_byte_by_byte_path_and_serde_json() {
        let mut state = 0x005e_ed0f_1e57;
        // Mostly plain strings of every length up to 64 with zero, one or a
        // few special bytes (controls, quotes, backslashes, DEL, UTF-8 and
        // invalid sequences) anywhere.
        const SPECIAL: &[u8] =
            b"\"\\\n\r\t\x00\x01\x08\x0c\x1f\x7f\x80\xbf\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xff";
        for i in 0..200_000u64 {
            let len = (i % 65) as usize;
            let mut s: Vec<u8> = (0..len)
                .map(|_| b' ' + (next(&mut state) % 95) as u8)
                .collect();
            for _ in 0..(next(&mut state) % 4) {
                if len > 0 {
                    let at = (next(&mut state) % len as u64) as usize;
                    s[at] = match next(&mut state) % 3 {
                        0 => (next(&mut state) >> 8) as u8,
                        _ => SPECIAL[(next(&mut state) >> 8) as usize % SPECIAL.len()],
                    };
                }
            }
            let mut fast = b"x".to_vec();
            text_into(&mut fast, &s);
            let mut slow = b"x".to_vec();
            text_slow(&mut slow, &s);
            assert_eq!(fast, slow, "{s:?}");
            // Checked once, then written again without the check.
            let mut twice = b"x".to_vec();
            let mut w = JsonWriter::new(&mut twice);
            let plain = w.text_checked(&s);
            w.text_again(&s, plain);
            assert_eq!(plain, naive_plain(&s), "{s:?}");
            assert_eq!(twice, [&slow[..], &slow[1..]].concat(), "{s:?}");
            let text = String::from_utf8_lossy(&s).into_owned();
            let mut esc = b"x".to_vec();
            escape_body(&mut esc, text.as_bytes());
            assert_eq!(esc, slow, "{s:?}");
            let quoted = [&b"\""[..], &fast[1..], b"\""].concat();
            let back: String = serde_json::from_slice(&quoted).unwrap();
            assert_eq!(back, text, "{s:?}");
            if !text.contains(['\u{7f}', '\u{8}', '\u{c}']) {
                let theirs = serde_json::to_string(&text).unwrap();
                assert_eq!(String::from_utf8(quoted).unwrap(), theirs, "{s:?}");
            }
        }
    }

    #[test]
    fn templates_equal_the_field_by_field_writer() {
        let mut state = 7;
        for _ in 0..5_000 {
            let a = nasty_bytes(&mut state);
            let b = nasty_bytes(&mut state);
            let n = next(&mut state) >> (next(&mut state) % 64);
            let ts = next(&mut state) % (4_102_444_800 * crate::time::SECOND);
            let mut slow = Vec::new();
            let mut w = JsonWriter::new(&mut slow);
            w.begin();
            w.u64("n", n);
            w.begin_obj("o");
            w.bytes_lossy("a", &a);
            w.ascii("k", "http");
            w.end();
            w.time("t", ts);
            w.bytes_lossy("b", &b);
            w.end();
            let mut fast = Vec::new();
            let mut w = JsonWriter::new(&mut fast);
            w.begin();
            w.field(br#""n":"#);
            w.num(n);
            w.lit(br#","o":{"#);
            w.field(br#""a":""#);
            w.text(&a);
            w.lit(br#"","k":""#);
            w.text_ascii("http");
            w.lit(br#""}"#);
            w.field(br#""t":""#);
            w.ts(ts);
            w.lit(b"\"");
            w.bytes_lossy("b", &b);
            w.end();
            assert_eq!(
                String::from_utf8_lossy(&fast),
                String::from_utf8_lossy(&slow)
            );
            serde_json::from_slice::<serde_json::Value>(&fast).unwrap();
        }
    }
}
