//! Bulk request bodies: the `_bulk` NDJSON format (Elasticsearch "Bulk API"
//! reference), built from events that are already encoded.
//!
//! A [`BulkChunk`] is one request body: for every document an action line
//! `{"create":{"_index":"...","_id":"..."}}` and the event's JSON, each
//! followed by `\n`, plus the position of every document so that failed
//! items can be re-sent by index. The body is also the spool's file format,
//! so [`BulkChunk::from_body`] rebuilds a chunk from disk. [`IndexPattern`]
//! names the index from the event's own time. Nothing here does I/O or
//! parses event JSON.

use crate::event::EventMeta;
use crate::time::{civil, Timestamp, SECOND};
use std::io::Write as _;

/// One piece of an index pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(String),
    /// A separator inside a date format (`.` in `yyyy.MM.dd`).
    DateSep(String),
    Year4,
    Year2,
    Month,
    Day,
    Hour,
}

/// A parsed index name pattern such as `spanlens-%{+yyyy.MM.dd}`, with a
/// one-entry cache (events arrive in rough time order, so the name rarely changes).
#[derive(Debug, Clone)]
pub struct IndexPattern {
    pieces: Vec<Piece>,
    uses_time: bool,
    cache_key: Option<u64>,
    cache: String,
}

/// Characters Elasticsearch refuses in index names.
const BAD_INDEX_CHARS: &[char] = &['\\', '/', '*', '?', '"', '<', '>', '|', ' ', ',', '#', ':'];

impl IndexPattern {
    /// Parses a pattern: literal text with `%{+FORMAT}` parts, where FORMAT
    /// holds the tokens `yyyy`, `yy`, `MM`, `dd`, `HH` and separators `.-_`.
    pub fn parse(s: &str) -> Result<IndexPattern, String> {
        let mut pieces = Vec::new();
        let mut rest = s;
        while let Some(i) = rest.find("%{") {
            let (lit, tail) = rest.split_at(i);
            if !lit.is_empty() {
                pieces.push(Piece::Literal(lit.to_string()));
            }
            let end = tail
                .find('}')
                .ok_or_else(|| format!("'{s}': unclosed %{{"))?;
            let fmt = tail
                .get(2..end)
                .and_then(|f| f.strip_prefix('+'))
                .ok_or_else(|| {
                    format!("'{s}': only time formats like %{{+yyyy.MM.dd}} are supported")
                })?;
            Self::parse_format(s, fmt, &mut pieces)?;
            rest = tail.get(end + 1..).unwrap_or("");
        }
        if !rest.is_empty() {
            pieces.push(Piece::Literal(rest.to_string()));
        }
        let literal: String = pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Literal(l) => Some(l.as_str()),
                _ => None,
            })
            .collect();
        if pieces.is_empty() {
            return Err("the index name is empty".into());
        }
        if literal.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(format!("'{s}': index names must be lowercase"));
        }
        if let Some(c) = literal.chars().find(|c| BAD_INDEX_CHARS.contains(c)) {
            return Err(format!("'{s}': '{c}' is not allowed in an index name"));
        }
        if matches!(pieces.first(), Some(Piece::Literal(l)) if l.starts_with(['-', '_', '+', '.']))
        {
            return Err(format!("'{s}': an index name cannot start with - _ + or ."));
        }
        if matches!(pieces.first(), Some(p) if !matches!(p, Piece::Literal(_))) {
            return Err(format!(
                "'{s}': start the index name with a fixed prefix (the template matches <prefix>*)"
            ));
        }
        let uses_time = pieces
            .iter()
            .any(|p| !matches!(p, Piece::Literal(_) | Piece::DateSep(_)));
        Ok(IndexPattern {
            pieces,
            uses_time,
            cache_key: None,
            cache: String::new(),
        })
    }

    fn parse_format(whole: &str, fmt: &str, pieces: &mut Vec<Piece>) -> Result<(), String> {
        let b = fmt.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            let run = b[i..].iter().take_while(|&&x| x == c).count();
            let piece = match (c, run) {
                (b'y', 4) => Piece::Year4,
                (b'y', 2) => Piece::Year2,
                (b'M', 2) => Piece::Month,
                (b'd', 2) => Piece::Day,
                (b'H', 2) => Piece::Hour,
                (b'.' | b'-' | b'_', _) => {
                    Piece::DateSep(String::from_utf8_lossy(&b[i..i + run]).into_owned())
                }
                _ => {
                    return Err(format!(
                        "'{whole}': unsupported date token '{}' (use yyyy, yy, MM, dd, HH)",
                        String::from_utf8_lossy(&b[i..i + run])
                    ))
                }
            };
            pieces.push(piece);
            i += run;
        }
        Ok(())
    }

    /// The pattern with every date part replaced by `*`, for the template's
    /// `index_patterns`.
    pub fn wildcard(&self) -> String {
        let mut out = String::new();
        for p in &self.pieces {
            match p {
                Piece::Literal(l) => out.push_str(l),
                Piece::DateSep(_) => {}
                _ => {
                    if !out.ends_with('*') {
                        out.push('*')
                    }
                }
            }
        }
        out
    }

    /// The index name for an event at `ts` (UTC).
    pub fn render(&mut self, ts: Timestamp) -> &str {
        // Every supported token has at most hourly resolution.
        let key = if self.uses_time {
            ts / (3600 * SECOND)
        } else {
            0
        };
        if self.cache_key != Some(key) {
            let c = civil(ts);
            self.cache.clear();
            for p in &self.pieces {
                use std::fmt::Write as _;
                let _ = match p {
                    Piece::Literal(l) | Piece::DateSep(l) => write!(self.cache, "{l}"),
                    Piece::Year4 => write!(self.cache, "{:04}", c.year.clamp(0, 9999)),
                    Piece::Year2 => write!(self.cache, "{:02}", c.year.rem_euclid(100)),
                    Piece::Month => write!(self.cache, "{:02}", c.month),
                    Piece::Day => write!(self.cache, "{:02}", c.day),
                    Piece::Hour => write!(self.cache, "{:02}", c.hour),
                };
            }
            self.cache_key = Some(key);
        }
        &self.cache
    }
}

/// Where one document sits in a [`BulkChunk`] body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DocSpan {
    /// Offset of the action line.
    start: u32,
    /// Offset of the source line.
    source: u32,
    /// Offset just past the source line's `\n`.
    end: u32,
}

/// One bulk request body and the position of each of its documents.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BulkChunk {
    body: Vec<u8>,
    docs: Vec<DocSpan>,
}

/// A spool file or body that is not a sequence of action/source line pairs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed bulk body at byte {offset}: {what}")]
pub struct MalformedBody {
    /// Where the problem starts.
    pub offset: usize,
    /// What is wrong.
    pub what: &'static str,
}

impl BulkChunk {
    /// An empty chunk with room for `bytes`.
    pub fn with_capacity(bytes: usize) -> Self {
        BulkChunk {
            body: Vec::with_capacity(bytes),
            docs: Vec::new(),
        }
    }

    /// Number of documents.
    pub fn len(&self) -> usize {
        self.docs.len()
    }

    /// True without documents.
    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// The request body (NDJSON, ends with `\n` when not empty).
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Size of the body in bytes.
    pub fn bytes(&self) -> usize {
        self.body.len()
    }

    /// Removes every document, keeping the allocation.
    pub fn clear(&mut self) {
        self.body.clear();
        self.docs.clear();
    }

    /// Appends a document: the `create` action for `index` with the id
    /// `meta.doc_id()`, then `json` (one encoded event, no newline).
    pub fn push_event(&mut self, index: &str, meta: &EventMeta, json: &[u8]) {
        let start = self.body.len();
        self.body.extend_from_slice(b"{\"create\":{\"_index\":\"");
        // Validated index names need no JSON escaping.
        self.body.extend_from_slice(index.as_bytes());
        self.body.extend_from_slice(b"\",\"_id\":\"");
        // Same text as `EventMeta::doc_id`, without a temporary String.
        let _ = write!(self.body, "{:016x}-{}", meta.flow_id, meta.index);
        self.body.extend_from_slice(b"\"}}\n");
        let source = self.body.len();
        self.body.extend_from_slice(json);
        self.body.push(b'\n');
        self.docs.push(DocSpan {
            start: start as u32,
            source: source as u32,
            end: self.body.len() as u32,
        });
    }

    /// The action line of document `i` (without newline).
    pub fn action(&self, i: usize) -> &[u8] {
        self.docs
            .get(i)
            .and_then(|d| self.body.get(d.start as usize..d.source as usize - 1))
            .unwrap_or(&[])
    }

    /// The event JSON of document `i` (without newline).
    pub fn source(&self, i: usize) -> &[u8] {
        self.docs
            .get(i)
            .and_then(|d| self.body.get(d.source as usize..d.end as usize - 1))
            .unwrap_or(&[])
    }

    /// Both lines of document `i`, with their newlines.
    fn lines(&self, i: usize) -> &[u8] {
        self.docs
            .get(i)
            .and_then(|d| self.body.get(d.start as usize..d.end as usize))
            .unwrap_or(&[])
    }

    /// A new chunk with the documents at `indices` (in that order).
    pub fn subset(&self, indices: &[usize]) -> BulkChunk {
        let mut out = BulkChunk::with_capacity(indices.iter().map(|&i| self.lines(i).len()).sum());
        for &i in indices {
            out.push_lines(self.lines(i));
        }
        out
    }

    /// Splits into two halves (for a request that was too large).
    pub fn halves(&self) -> (BulkChunk, BulkChunk) {
        let mid = self.len() / 2;
        let a: Vec<usize> = (0..mid).collect();
        let b: Vec<usize> = (mid..self.len()).collect();
        (self.subset(&a), self.subset(&b))
    }

    /// Appends every document of `other`.
    pub fn extend_from(&mut self, other: &BulkChunk) {
        for i in 0..other.len() {
            self.push_lines(other.lines(i));
        }
    }

    fn push_lines(&mut self, lines: &[u8]) {
        let start = self.body.len();
        let action_len = lines.iter().position(|&b| b == b'\n').map_or(0, |p| p + 1);
        self.body.extend_from_slice(lines);
        self.docs.push(DocSpan {
            start: start as u32,
            source: (start + action_len) as u32,
            end: self.body.len() as u32,
        });
    }

    /// Rebuilds a chunk from a body (a spool file): lines in pairs, each
    /// action line a JSON object starting with `{"create"`.
    pub fn from_body(body: Vec<u8>) -> Result<BulkChunk, MalformedBody> {
        let mut docs = Vec::new();
        let mut pos = 0usize;
        let next_line = |from: usize| -> Option<usize> {
            body.get(from..)
                .and_then(|r| r.iter().position(|&b| b == b'\n'))
                .map(|p| from + p + 1)
        };
        while pos < body.len() {
            let source = next_line(pos).ok_or(MalformedBody {
                offset: pos,
                what: "action line without newline",
            })?;
            if !body
                .get(pos..source)
                .is_some_and(|l| l.starts_with(b"{\"create\""))
            {
                return Err(MalformedBody {
                    offset: pos,
                    what: "expected a create action line",
                });
            }
            let end = next_line(source).ok_or(MalformedBody {
                offset: source,
                what: "document without newline",
            })?;
            if end - source < 3 {
                return Err(MalformedBody {
                    offset: source,
                    what: "empty document",
                });
            }
            docs.push(DocSpan {
                start: pos as u32,
                source: source as u32,
                end: end as u32,
            });
            pos = end;
        }
        Ok(BulkChunk { body, docs })
    }

    /// Takes the body out (for writing it to the spool), leaving the chunk empty.
    pub fn into_body(self) -> Vec<u8> {
        self.body
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventBatch;

    const DAY: u64 = 86_400 * SECOND;

    fn batch() -> EventBatch {
        let mut b = EventBatch::default();
        b.push(1_440_662_455_638_957_000, 0xabc, 0, |w| {
            w.str("type", "dns");
        });
        b.push(1_440_662_455_638_957_000 + DAY, 0xabc, 1, |w| {
            w.str("type", "dns");
            w.str("q", "a\nb");
        });
        b
    }

    #[test]
    fn default_pattern_names_daily_indices_from_event_time() {
        let mut p = IndexPattern::parse("spanlens-%{+yyyy.MM.dd}").unwrap();
        assert_eq!(p.render(1_440_662_455_638_957_000), "spanlens-2015.08.27");
        assert_eq!(
            p.render(1_440_662_455_638_957_000 + DAY),
            "spanlens-2015.08.28"
        );
        // Back to the first day: the cache must not return the stale name.
        assert_eq!(p.render(1_440_662_455_638_957_000), "spanlens-2015.08.27");
        assert_eq!(p.render(0), "spanlens-1970.01.01");
        assert_eq!(p.wildcard(), "spanlens-*");
    }

    #[test]
    fn other_tokens_and_literals() {
        let mut p = IndexPattern::parse("net-%{+yy_MM}-x-%{+dd.HH}").unwrap();
        assert_eq!(
            p.render(1_709_164_800 * SECOND + 13 * 3600 * SECOND),
            "net-24_02-x-29.13"
        );
        assert_eq!(p.wildcard(), "net-*-x-*");
        let mut fixed = IndexPattern::parse("packets").unwrap();
        assert_eq!(fixed.render(123), "packets");
        assert_eq!(fixed.wildcard(), "packets");
    }

    #[test]
    fn bad_patterns_are_refused() {
        for bad in [
            "",
            "Spanlens",
            "a b",
            "-x",
            "x-%{+yyyy",
            "x-%{[agent.version]}",
            "x-%{+yyyy.MM.dd.mm}",
            "x-%{+YYYY}",
            "%{+yyyy.MM.dd}",
        ] {
            assert!(IndexPattern::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn encoder_writes_create_actions_with_deterministic_ids() {
        let b = batch();
        let mut p = IndexPattern::parse("spanlens-%{+yyyy.MM.dd}").unwrap();
        let mut c = BulkChunk::default();
        for (i, m) in b.events.iter().enumerate() {
            let idx = p.render(m.ts).to_string();
            c.push_event(&idx, m, b.json(i));
        }
        assert_eq!(c.len(), 2);
        let text = std::str::from_utf8(c.body()).unwrap();
        let lines: Vec<&str> = text.split_terminator('\n').collect();
        assert_eq!(lines.len(), 4);
        for (k, m) in b.events.iter().enumerate() {
            let action: serde_json::Value = serde_json::from_str(lines[2 * k]).unwrap();
            assert_eq!(action["create"]["_id"], m.doc_id());
            assert_eq!(lines[2 * k + 1].as_bytes(), b.json(k));
            assert_eq!(c.source(k), b.json(k));
            assert_eq!(c.action(k), lines[2 * k].as_bytes());
        }
        let a0: serde_json::Value = serde_json::from_slice(c.action(0)).unwrap();
        let a1: serde_json::Value = serde_json::from_slice(c.action(1)).unwrap();
        assert_eq!(a0["create"]["_index"], "spanlens-2015.08.27");
        assert_eq!(a1["create"]["_index"], "spanlens-2015.08.28");
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn subset_and_round_trip_through_body() {
        let b = batch();
        let mut c = BulkChunk::default();
        for (i, m) in b.events.iter().enumerate() {
            c.push_event("i", m, b.json(i));
        }
        let s = c.subset(&[1]);
        assert_eq!(s.len(), 1);
        assert_eq!(s.source(0), b.json(1));
        let (h0, h1) = c.halves();
        assert_eq!((h0.len(), h1.len()), (1, 1));
        assert_eq!(h1.source(0), c.source(1));
        let again = BulkChunk::from_body(c.body().to_vec()).unwrap();
        assert_eq!(again, c);
        assert_eq!(BulkChunk::from_body(Vec::new()).unwrap().len(), 0);
    }

    #[test]
    fn malformed_bodies_are_errors_at_every_truncation() {
        let b = batch();
        let mut c = BulkChunk::default();
        for (i, m) in b.events.iter().enumerate() {
            c.push_event("i", m, b.json(i));
        }
        let body = c.body().to_vec();
        let boundaries: Vec<usize> = vec![0, c.docs[1].start as usize, body.len()];
        for cut in 0..=body.len() {
            let r = BulkChunk::from_body(body[..cut].to_vec());
            if boundaries.contains(&cut) {
                assert!(r.is_ok(), "cut {cut}");
            } else {
                assert!(r.is_err(), "cut {cut}");
            }
        }
        assert!(BulkChunk::from_body(b"{\"index\":{}}\n{}\n".to_vec()).is_err());
    }

    #[test]
    fn out_of_range_accessors_are_empty() {
        let c = BulkChunk::default();
        assert!(c.source(3).is_empty());
        assert!(c.action(0).is_empty());
    }
}
