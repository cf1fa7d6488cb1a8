//! A bounded BSON reader: walks the elements of one document in place
//! (no allocation, no copy), so the decoder reads the few keys it needs
//! (the command name, `$db`, `ok`, `errmsg`, `cursor.firstBatch`, ...) and
//! never keeps a document; and a bounded renderer to MongoDB Extended JSON
//! (relaxed) for the optional `query` / `request` / `response` texts.
//!
//! Specification: BSON 1.1, <https://bsonspec.org/spec.html>. Every length
//! is checked against the bytes at hand; a bad length ends the walk
//! ([`Iter::bad`] says so), it never panics or reads out of bounds.
//! Nesting is followed only as deep as [`MAX_DEPTH`] when rendering.

use std::fmt::Write as _;

/// Deepest nesting the renderer follows (deeper values print as `"..."`).
pub const MAX_DEPTH: usize = 16;

/// One document: the bytes of its elements (between the length and the
/// trailing zero).
#[derive(Debug, Clone, Copy)]
pub struct Doc<'a> {
    elems: &'a [u8],
}

/// Reads a document from the start of `b`: the document and the bytes it
/// took, or `None` when its length is not plausible or not all here.
pub fn doc(b: &[u8]) -> Option<(Doc<'_>, usize)> {
    let len = i32_at(b, 0)?;
    if len < 5 {
        return None;
    }
    let len = len as usize;
    if len > b.len() || b[len - 1] != 0 {
        return None;
    }
    Some((
        Doc {
            elems: &b[4..len - 1],
        },
        len,
    ))
}

/// Little-endian i32 at `at`.
#[inline]
pub fn i32_at(b: &[u8], at: usize) -> Option<i32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(i32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// Little-endian i64 at `at`.
#[inline]
pub fn i64_at(b: &[u8], at: usize) -> Option<i64> {
    let s = b.get(at..at.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(i64::from_le_bytes(a))
}

/// The NUL-terminated string at the start of `b` and the bytes it took.
#[inline]
pub fn cstring(b: &[u8]) -> Option<(&[u8], usize)> {
    // Keys are short: a plain scan beats memchr's setup on them.
    let n = match b.iter().take(32).position(|&c| c == 0) {
        Some(n) => n,
        None if b.len() > 32 => 32 + memchr::memchr(0, &b[32..])?,
        None => return None,
    };
    Some((&b[..n], n + 1))
}

/// One element: its type byte, key and value bytes.
#[derive(Debug, Clone, Copy)]
pub struct Elem<'a> {
    /// The BSON type byte.
    pub kind: u8,
    /// The key (not checked as UTF-8).
    pub key: &'a [u8],
    /// The value's bytes, exactly as long as its type says.
    pub value: &'a [u8],
}

/// The elements of a [`Doc`], in order.
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    rest: &'a [u8],
    bad: bool,
}

impl<'a> Doc<'a> {
    /// Its elements.
    pub fn iter(&self) -> Iter<'a> {
        Iter {
            rest: self.elems,
            bad: false,
        }
    }

    /// The first element (a command's name).
    pub fn first(&self) -> Option<Elem<'a>> {
        self.iter().next()
    }

    /// The first element with key `key`.
    pub fn get(&self, key: &str) -> Option<Elem<'a>> {
        self.iter().find(|e| e.key == key.as_bytes())
    }

    /// Elements counted (an array's length).
    pub fn count(&self) -> u64 {
        self.iter().count() as u64
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.elems.is_empty()
    }
}

impl Iter<'_> {
    /// Whether the walk stopped at a malformed element.
    pub fn bad(&self) -> bool {
        self.bad
    }
}

/// Bytes taken by a value of type `kind` at the start of `b`.
fn value_len(kind: u8, b: &[u8]) -> Option<usize> {
    let n = match kind {
        0x01 | 0x09 | 0x11 | 0x12 => 8,
        0x02 | 0x0D | 0x0E => {
            let l = i32_at(b, 0)?;
            if l < 1 {
                return None;
            }
            let n = 4 + l as usize;
            if b.get(n - 1) != Some(&0) {
                return None;
            }
            n
        }
        0x03 | 0x04 | 0x0F => {
            let l = i32_at(b, 0)?;
            if l < 5 {
                return None;
            }
            l as usize
        }
        0x05 => {
            let l = i32_at(b, 0)?;
            if l < 0 {
                return None;
            }
            5 + l as usize
        }
        0x06 | 0x0A | 0x7F | 0xFF => 0,
        0x07 => 12,
        0x08 => 1,
        0x0B => {
            let (_, a) = cstring(b)?;
            let (_, c) = cstring(&b[a..])?;
            a + c
        }
        0x0C => {
            let l = i32_at(b, 0)?;
            if l < 1 {
                return None;
            }
            4 + l as usize + 12
        }
        0x10 => 4,
        0x13 => 16,
        _ => return None,
    };
    (n <= b.len()).then_some(n)
}

impl<'a> Iterator for Iter<'a> {
    type Item = Elem<'a>;

    fn next(&mut self) -> Option<Elem<'a>> {
        let (&kind, rest) = self.rest.split_first()?;
        let parsed = cstring(rest).and_then(|(key, k)| {
            let v = &rest[k..];
            value_len(kind, v).map(|n| (key, &v[..n], k + n))
        });
        match parsed {
            Some((key, value, used)) => {
                self.rest = &rest[used..];
                Some(Elem { kind, key, value })
            }
            None => {
                self.bad = true;
                self.rest = &[];
                None
            }
        }
    }
}

impl<'a> Elem<'a> {
    /// The key as text (lossy only for invalid UTF-8).
    pub fn key_str(&self) -> std::borrow::Cow<'a, str> {
        match std::str::from_utf8(self.key) {
            Ok(k) => std::borrow::Cow::Borrowed(k),
            Err(_) => String::from_utf8_lossy(self.key),
        }
    }

    /// A string value (type 0x02), without its NUL.
    pub fn str(&self) -> Option<&'a str> {
        if self.kind != 0x02 {
            return None;
        }
        std::str::from_utf8(&self.value[4..self.value.len() - 1]).ok()
    }

    /// An embedded document or array (0x03, 0x04).
    pub fn doc(&self) -> Option<Doc<'a>> {
        if self.kind != 0x03 && self.kind != 0x04 {
            return None;
        }
        doc(self.value).map(|(d, _)| d)
    }

    /// A number as an integer (int32, int64, or an integral double).
    pub fn int(&self) -> Option<i64> {
        match self.kind {
            0x10 => i32_at(self.value, 0).map(i64::from),
            0x12 => i64_at(self.value, 0),
            0x01 => {
                let f = self.float()?;
                (f.fract() == 0.0 && f.abs() < 9.0e18).then_some(f as i64)
            }
            _ => None,
        }
    }

    /// A number as a float (double, int32, int64), or a boolean as 0/1.
    pub fn float(&self) -> Option<f64> {
        match self.kind {
            0x01 => i64_at(self.value, 0).map(|v| f64::from_bits(v as u64)),
            0x10 => i32_at(self.value, 0).map(f64::from),
            0x12 => i64_at(self.value, 0).map(|v| v as f64),
            0x08 => Some(f64::from(self.value[0] != 0)),
            _ => None,
        }
    }
}

/// Text bounded to about `limit` bytes: once reached, writing stops.
pub struct Bounded<'o> {
    out: &'o mut String,
    limit: usize,
}

impl<'o> Bounded<'o> {
    /// Appends to `out` until it holds `limit` bytes (0: no limit).
    pub fn new(out: &'o mut String, limit: usize) -> Self {
        let limit = if limit == 0 { usize::MAX } else { limit };
        Bounded { out, limit }
    }

    /// Whether the bound was reached.
    pub fn full(&self) -> bool {
        self.out.len() >= self.limit
    }

    fn push(&mut self, s: &str) {
        if !self.full() {
            self.out.push_str(s);
        }
    }

    fn quoted(&mut self, s: &str) {
        if self.full() {
            return;
        }
        let plain = !s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\');
        if plain && self.out.len() + s.len() < self.limit {
            self.out.push('"');
            self.out.push_str(s);
            self.out.push('"');
            return;
        }
        self.out.push('"');
        for c in s.chars() {
            if self.full() {
                break;
            }
            match c {
                '"' => self.out.push_str("\\\""),
                '\\' => self.out.push_str("\\\\"),
                '\n' => self.out.push_str("\\n"),
                '\r' => self.out.push_str("\\r"),
                '\t' => self.out.push_str("\\t"),
                c if (c as u32) < 0x20 => {
                    let _ = write!(self.out, "\\u{:04x}", c as u32);
                }
                c => self.out.push(c),
            }
        }
        self.out.push('"');
    }

    fn hex(&mut self, b: &[u8]) {
        for x in b {
            if self.full() {
                return;
            }
            let _ = write!(self.out, "{x:02x}");
        }
    }
}

/// Renders `d` as relaxed Extended JSON into `out`, skipping top-level
/// keys for which `skip` is true, and stopping at the bound. A bounded
/// result is cut: the caller marks it (Packetbeat appends ` ...`).
pub fn render(d: Doc<'_>, out: &mut Bounded<'_>, skip: &dyn Fn(&[u8]) -> bool) {
    render_doc(d, out, false, 0, skip);
}

fn render_doc(
    d: Doc<'_>,
    out: &mut Bounded<'_>,
    array: bool,
    depth: usize,
    skip: &dyn Fn(&[u8]) -> bool,
) {
    out.push(if array { "[" } else { "{" });
    let mut first = true;
    let mut it = d.iter();
    for e in it.by_ref() {
        if out.full() {
            return;
        }
        if depth == 0 && skip(e.key) {
            continue;
        }
        if !first {
            out.push(",");
        }
        first = false;
        if !array {
            out.quoted(&e.key_str());
            out.push(":");
        }
        value(e, out, depth + 1);
    }
    if it.bad() {
        if !first {
            out.push(",");
        }
        out.push("\"<malformed>\"");
    }
    out.push(if array { "]" } else { "}" });
}

fn value(e: Elem<'_>, out: &mut Bounded<'_>, depth: usize) {
    let v = e.value;
    match e.kind {
        0x01 => {
            let f = e.float().unwrap_or(0.0);
            if f.is_finite() {
                let mut s = format!("{f}");
                if !s.contains(['.', 'e', 'E']) {
                    s.push_str(".0");
                }
                out.push(&s);
            } else {
                let n = if f.is_nan() {
                    "NaN"
                } else if f > 0.0 {
                    "Infinity"
                } else {
                    "-Infinity"
                };
                out.push("{\"$numberDouble\":\"");
                out.push(n);
                out.push("\"}");
            }
        }
        0x02 | 0x0D | 0x0E => {
            let s = String::from_utf8_lossy(&v[4..v.len() - 1]);
            match e.kind {
                0x02 => out.quoted(&s),
                0x0D => {
                    out.push("{\"$code\":");
                    out.quoted(&s);
                    out.push("}");
                }
                _ => {
                    out.push("{\"$symbol\":");
                    out.quoted(&s);
                    out.push("}");
                }
            }
        }
        0x03 | 0x04 => match e.doc() {
            Some(_) if depth > MAX_DEPTH => out.push("\"...\""),
            Some(d) => render_doc(d, out, e.kind == 0x04, depth, &|_| false),
            None => out.push("\"<malformed>\""),
        },
        0x05 => {
            out.push("{\"$binary\":{\"subType\":\"");
            out.hex(&v[4..5]);
            out.push("\",\"bytes\":");
            let _ = i32_at(v, 0).map(|n| out.push(&n.to_string()));
            out.push("}}");
        }
        0x06 => out.push("{\"$undefined\":true}"),
        0x07 => {
            out.push("{\"$oid\":\"");
            out.hex(v);
            out.push("\"}");
        }
        0x08 => out.push(if v[0] != 0 { "true" } else { "false" }),
        0x09 => {
            out.push("{\"$date\":");
            out.push(&i64_at(v, 0).unwrap_or(0).to_string());
            out.push("}");
        }
        0x0A => out.push("null"),
        0x0B => {
            let (p, n) = cstring(v).unwrap_or((&[], 0));
            let (o, _) = cstring(&v[n..]).unwrap_or((&[], 0));
            out.push("{\"$regularExpression\":{\"pattern\":");
            out.quoted(&String::from_utf8_lossy(p));
            out.push(",\"options\":");
            out.quoted(&String::from_utf8_lossy(o));
            out.push("}}");
        }
        0x0C => out.push("{\"$dbPointer\":\"...\"}"),
        0x0F => out.push("{\"$code\":\"...\",\"$scope\":{}}"),
        0x10 | 0x12 => out.push(&e.int().unwrap_or(0).to_string()),
        0x11 => {
            let inc = i32_at(v, 0).unwrap_or(0) as u32;
            let t = i32_at(v, 4).unwrap_or(0) as u32;
            let _ = write!(out.out, "{{\"$timestamp\":{{\"t\":{t},\"i\":{inc}}}}}");
        }
        0x13 => {
            out.push("{\"$numberDecimalBytes\":\"");
            out.hex(v);
            out.push("\"}");
        }
        0xFF => out.push("{\"$minKey\":1}"),
        0x7F => out.push("{\"$maxKey\":1}"),
        _ => out.push("null"),
    }
}

/// Builds BSON for tests, benches and samples: `d(&[("find", s("users"))])`.
#[cfg(test)]
pub mod build {
    /// A value.
    pub enum V<'a> {
        /// 0x02
        S(&'a str),
        /// 0x10
        I(i32),
        /// 0x12
        L(i64),
        /// 0x01
        F(f64),
        /// 0x08
        B(bool),
        /// 0x03 (already encoded)
        D(Vec<u8>),
        /// 0x04 (elements already encoded as documents)
        A(Vec<Vec<u8>>),
    }

    /// An encoded document.
    pub fn d(elems: &[(&str, V<'_>)]) -> Vec<u8> {
        let mut b = vec![0, 0, 0, 0];
        for (k, v) in elems {
            let kind: u8 = match v {
                V::S(_) => 2,
                V::I(_) => 0x10,
                V::L(_) => 0x12,
                V::F(_) => 1,
                V::B(_) => 8,
                V::D(_) => 3,
                V::A(_) => 4,
            };
            b.push(kind);
            b.extend_from_slice(k.as_bytes());
            b.push(0);
            match v {
                V::S(s) => {
                    b.extend_from_slice(&(s.len() as i32 + 1).to_le_bytes());
                    b.extend_from_slice(s.as_bytes());
                    b.push(0);
                }
                V::I(i) => b.extend_from_slice(&i.to_le_bytes()),
                V::L(i) => b.extend_from_slice(&i.to_le_bytes()),
                V::F(f) => b.extend_from_slice(&f.to_le_bytes()),
                V::B(x) => b.push(u8::from(*x)),
                V::D(x) => b.extend_from_slice(x),
                V::A(items) => {
                    let idx: Vec<String> = (0..items.len()).map(|i| i.to_string()).collect();
                    let mut a = vec![0, 0, 0, 0];
                    for (i, it) in items.iter().enumerate() {
                        a.push(3);
                        a.extend_from_slice(idx[i].as_bytes());
                        a.push(0);
                        a.extend_from_slice(it);
                    }
                    a.push(0);
                    let n = a.len() as i32;
                    a[..4].copy_from_slice(&n.to_le_bytes());
                    b.extend_from_slice(&a);
                }
            }
        }
        b.push(0);
        let n = b.len() as i32;
        b[..4].copy_from_slice(&n.to_le_bytes());
        b
    }

    /// A whole message: header (`len` filled in) then `body`.
    pub fn msg(request_id: i32, response_to: i32, opcode: i32, body: &[u8]) -> Vec<u8> {
        let mut m = Vec::with_capacity(16 + body.len());
        m.extend_from_slice(&((16 + body.len()) as i32).to_le_bytes());
        m.extend_from_slice(&request_id.to_le_bytes());
        m.extend_from_slice(&response_to.to_le_bytes());
        m.extend_from_slice(&opcode.to_le_bytes());
        m.extend_from_slice(body);
        m
    }

    /// An OP_MSG with flag bits `flags`, the body document and kind-1
    /// sequences `(identifier, documents)`.
    pub fn op_msg(
        request_id: i32,
        response_to: i32,
        flags: u32,
        body: &[u8],
        seqs: &[(&str, Vec<Vec<u8>>)],
    ) -> Vec<u8> {
        let mut b = flags.to_le_bytes().to_vec();
        b.push(0);
        b.extend_from_slice(body);
        for (id, docs) in seqs {
            b.push(1);
            let size = 4 + id.len() + 1 + docs.iter().map(Vec::len).sum::<usize>();
            b.extend_from_slice(&(size as i32).to_le_bytes());
            b.extend_from_slice(id.as_bytes());
            b.push(0);
            for d in docs {
                b.extend_from_slice(d);
            }
        }
        if flags & 1 != 0 {
            b.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        }
        msg(request_id, response_to, 2013, &b)
    }
}

#[cfg(test)]
mod tests {
    use super::build::{d, V};
    use super::*;

    #[test]
    fn elements_are_walked_in_place() {
        let b = d(&[
            ("find", V::S("users")),
            ("filter", V::D(d(&[("age", V::I(42))]))),
            ("limit", V::L(7)),
            ("ok", V::F(1.0)),
        ]);
        let (doc, n) = doc(&b).unwrap();
        assert_eq!(n, b.len());
        let first = doc.first().unwrap();
        assert_eq!((first.key, first.str()), (&b"find"[..], Some("users")));
        assert_eq!(doc.get("limit").unwrap().int(), Some(7));
        assert_eq!(doc.get("ok").unwrap().int(), Some(1));
        let f = doc.get("filter").unwrap().doc().unwrap();
        assert_eq!(f.get("age").unwrap().int(), Some(42));
        assert_eq!(doc.count(), 4);
        let mut s = String::new();
        render(doc, &mut Bounded::new(&mut s, 0), &|k| k == b"find");
        assert_eq!(s, r#"{"filter":{"age":42},"limit":7,"ok":1.0}"#);
    }

    #[test]
    fn bad_lengths_stop_the_walk_without_reading_past_the_end() {
        let mut b = d(&[("a", V::S("xy")), ("b", V::I(1))]);
        // The string claims 100 bytes.
        b[7] = 100;
        let (doc, _) = doc(&b).unwrap();
        let mut it = doc.iter();
        assert!(it.next().is_none());
        assert!(it.bad());
        assert!(super::doc(&b[..b.len() - 1]).is_none());
        assert!(super::doc(&[4, 0, 0, 0]).is_none());
        for cut in 0..b.len() {
            let _ = super::doc(&b[..cut]).map(|(d, _)| d.count());
        }
    }

    #[test]
    fn rendering_stops_at_the_bound_and_at_depth() {
        let b = d(&[("name", V::S("a\"b\n")), ("n", V::I(5))]);
        let (doc, _) = doc(&b).unwrap();
        let mut s = String::new();
        render(doc, &mut Bounded::new(&mut s, 0), &|_| false);
        assert_eq!(s, r#"{"name":"a\"b\n","n":5}"#);
        let mut s = String::new();
        render(doc, &mut Bounded::new(&mut s, 6), &|_| false);
        assert!(s.len() < 12, "{s}");
        let mut deep = d(&[("x", V::I(1))]);
        for _ in 0..40 {
            deep = d(&[("x", V::D(deep))]);
        }
        let (doc, _) = super::doc(&deep).unwrap();
        let mut s = String::new();
        render(doc, &mut Bounded::new(&mut s, 0), &|_| false);
        assert!(s.contains("\"...\""), "{s}");
    }
}
