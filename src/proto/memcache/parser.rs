//! Memcache framing: the text protocol (memcached `doc/protocol.txt`) and
//! the binary protocol (the memcached binary protocol specification), pure
//! and streaming. Values are never kept: their bytes are counted and
//! skipped as they arrive, so memory per direction is bounded by
//! `max_line` (a text line, or a binary header with its extras and key).

/// The binary protocol's header length.
pub const BIN_HEADER: usize = 24;
/// Request magic.
pub const MAGIC_REQ: u8 = 0x80;
/// Response magic.
pub const MAGIC_RESP: u8 = 0x81;
/// Value bytes kept for the few values an event shows (counters, stats,
/// versions, error texts).
pub const KEEP_VALUE: usize = 256;

/// One parsed message (a text line with its value, or a binary packet).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Msg {
    /// Binary protocol.
    pub binary: bool,
    /// Text: the first word (`set`, `VALUE`, `STORED`, ...). Empty for binary.
    pub word: String,
    /// Text: the words after the first (keys, numbers, `noreply`).
    pub args: Vec<String>,
    /// Binary: opcode.
    pub opcode: u8,
    /// Binary: the request magic was seen (else a response).
    pub request: bool,
    /// Binary: status (responses).
    pub status: u16,
    /// Binary: opaque.
    pub opaque: u32,
    /// Binary: CAS.
    pub cas: u64,
    /// Binary: the extras.
    pub extras: Vec<u8>,
    /// Binary: the key.
    pub key: Vec<u8>,
    /// Bytes of the value (data block / binary value).
    pub value_len: u64,
    /// The first [`KEEP_VALUE`] bytes of the value.
    pub value: Vec<u8>,
    /// Wire bytes of the message.
    pub wire: u64,
}

/// What [`Reader::feed`] stopped at.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// All input consumed, nothing complete.
    More,
    /// A whole message.
    Msg(Box<Msg>),
    /// Bytes that are not memcache (a line too long, a bad binary magic):
    /// skipped up to the next line end (text) or counted (binary).
    Bad(&'static str),
}

/// Whether a text command carries a data block (`<bytes>` at `args[3]`).
pub fn is_storage(cmd: &str) -> bool {
    matches!(
        cmd,
        "set" | "add" | "replace" | "append" | "prepend" | "cas"
    )
}

/// One direction's message reader.
#[derive(Debug)]
pub struct Reader {
    /// Requests (client to server) or responses.
    pub requests: bool,
    buf: Vec<u8>,
    max_line: usize,
    /// A message whose value is still arriving.
    cur: Option<Box<Msg>>,
    /// Value bytes still to come for `cur` (text: with the trailing CRLF).
    left: u64,
    /// Text: the value is followed by CRLF (kept out of `value`).
    crlf: bool,
    /// Skipping to the end of a bad line.
    skipping: bool,
    /// Bytes skipped as not memcache.
    pub skipped: u64,
}

impl Reader {
    /// A reader for requests or responses.
    pub fn new(requests: bool, max_line: usize) -> Self {
        Reader {
            requests,
            buf: Vec::new(),
            max_line: max_line.max(64),
            cur: None,
            left: 0,
            crlf: false,
            skipping: false,
            skipped: 0,
        }
    }

    /// Whether a message is partly received.
    pub fn in_message(&self) -> bool {
        self.cur.is_some() || !self.buf.is_empty()
    }

    /// Bytes were lost: whatever was being assembled is dropped; the next
    /// bytes are scanned for a line end (text) or taken as a header.
    pub fn gap(&mut self, len: u64) {
        if let Some(m) = self.cur.as_mut() {
            if len < self.left {
                self.left -= len;
                m.wire += len;
                return;
            }
        }
        self.cur = None;
        self.left = 0;
        self.buf.clear();
        self.skipping = true;
    }

    /// Consumes bytes up to the next message. [`Step::More`] means all of
    /// `data` was consumed: call again with the rest until then.
    pub fn feed(&mut self, data: &[u8]) -> (usize, Step) {
        let mut pos = 0;
        loop {
            // A value in progress: count and skip its bytes.
            if let Some(m) = self.cur.as_mut() {
                let take = (self.left.min((data.len() - pos) as u64)) as usize;
                let chunk = &data[pos..pos + take];
                let value_part = if self.crlf {
                    // The last two bytes of `left` are the CRLF.
                    let in_value = self.left.saturating_sub(2);
                    &chunk[..(in_value.min(take as u64)) as usize]
                } else {
                    chunk
                };
                let room = KEEP_VALUE.saturating_sub(m.value.len());
                m.value
                    .extend_from_slice(&value_part[..room.min(value_part.len())]);
                m.wire += take as u64;
                self.left -= take as u64;
                pos += take;
                if self.left > 0 {
                    return (pos, Step::More);
                }
                let m = self.cur.take().expect("checked");
                return (pos, Step::Msg(m));
            }
            if pos == data.len() && self.buf.is_empty() {
                return (pos, Step::More);
            }
            if self.skipping {
                match memchr::memchr(b'\n', &data[pos..]) {
                    Some(i) => {
                        self.skipped += i as u64 + 1;
                        pos += i + 1;
                        self.skipping = false;
                        continue;
                    }
                    None => {
                        self.skipped += (data.len() - pos) as u64;
                        return (data.len(), Step::More);
                    }
                }
            }
            let first = self.buf.first().copied().or(data.get(pos).copied());
            let Some(first) = first else {
                return (pos, Step::More);
            };
            if first == MAGIC_REQ || first == MAGIC_RESP {
                // Binary: collect the header, then extras and key.
                let need_hdr = BIN_HEADER.saturating_sub(self.buf.len());
                let take = need_hdr.min(data.len() - pos);
                self.buf.extend_from_slice(&data[pos..pos + take]);
                pos += take;
                if self.buf.len() < BIN_HEADER {
                    return (pos, Step::More);
                }
                let h = &self.buf[..BIN_HEADER];
                let key_len = usize::from(u16::from_be_bytes([h[2], h[3]]));
                let ext_len = usize::from(h[4]);
                let total = u64::from(u32::from_be_bytes([h[8], h[9], h[10], h[11]]));
                let head = key_len + ext_len;
                if (head as u64) > total || head + BIN_HEADER > self.max_line {
                    self.buf.clear();
                    self.skipping = true;
                    return (pos, Step::Bad("binary header out of bounds"));
                }
                let want = BIN_HEADER + head;
                let take = (want - self.buf.len()).min(data.len() - pos);
                self.buf.extend_from_slice(&data[pos..pos + take]);
                pos += take;
                if self.buf.len() < want {
                    return (pos, Step::More);
                }
                let h = &self.buf;
                let m = Box::new(Msg {
                    binary: true,
                    opcode: h[1],
                    request: h[0] == MAGIC_REQ,
                    status: u16::from_be_bytes([h[6], h[7]]),
                    opaque: u32::from_be_bytes([h[12], h[13], h[14], h[15]]),
                    cas: u64::from_be_bytes([
                        h[16], h[17], h[18], h[19], h[20], h[21], h[22], h[23],
                    ]),
                    extras: h[BIN_HEADER..BIN_HEADER + ext_len].to_vec(),
                    key: h[BIN_HEADER + ext_len..want].to_vec(),
                    value_len: total - head as u64,
                    wire: want as u64,
                    ..Msg::default()
                });
                self.buf.clear();
                self.left = m.value_len;
                self.crlf = false;
                if self.left == 0 {
                    return (pos, Step::Msg(m));
                }
                self.cur = Some(m);
                continue;
            }
            // Text: a line up to LF.
            let rest = &data[pos..];
            match memchr::memchr(b'\n', rest) {
                None => {
                    if self.buf.len() + rest.len() > self.max_line {
                        self.skipped += (self.buf.len() + rest.len()) as u64;
                        self.buf.clear();
                        self.skipping = true;
                        return (data.len(), Step::Bad("line too long"));
                    }
                    self.buf.extend_from_slice(rest);
                    return (data.len(), Step::More);
                }
                Some(i) => {
                    if self.buf.len() + i + 1 > self.max_line {
                        self.skipped += (self.buf.len() + i + 1) as u64;
                        self.buf.clear();
                        return (pos + i + 1, Step::Bad("line too long"));
                    }
                    self.buf.extend_from_slice(&rest[..=i]);
                    pos += i + 1;
                    let line = std::mem::take(&mut self.buf);
                    match self.text_line(&line) {
                        Ok(Some(m)) => return (pos, Step::Msg(m)),
                        Ok(None) => continue,
                        Err(e) => return (pos, Step::Bad(e)),
                    }
                }
            }
        }
    }

    fn text_line(&mut self, line: &[u8]) -> Result<Option<Box<Msg>>, &'static str> {
        let text = line.strip_suffix(b"\n").unwrap_or(line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        if text.is_empty() {
            return Ok(None);
        }
        let s = std::str::from_utf8(text).map_err(|_| "not text")?;
        if !s
            .bytes()
            .all(|b| b.is_ascii_graphic() || b == b' ' || b == b'\t')
        {
            return Err("not text");
        }
        let mut words = s.split_ascii_whitespace();
        let word = words.next().unwrap_or("").to_string();
        let args: Vec<String> = words.map(str::to_string).collect();
        let data_len: Option<u64> = if self.requests {
            is_storage(&word)
                .then(|| args.get(3).and_then(|b| b.parse().ok()))
                .flatten()
        } else if word == "VALUE" {
            args.get(2).and_then(|b| b.parse().ok())
        } else {
            None
        };
        let needs = self.requests && is_storage(&word) || !self.requests && word == "VALUE";
        if needs && data_len.is_none() {
            return Err("bad data length");
        }
        let m = Box::new(Msg {
            word,
            args,
            wire: line.len() as u64,
            value_len: data_len.unwrap_or(0),
            ..Msg::default()
        });
        if let Some(n) = data_len {
            self.left = n + 2;
            self.crlf = true;
            // The value follows: the caller's loop finishes the message.
            self.cur = Some(m);
            return Ok(None);
        }
        Ok(Some(m))
    }
}

/// Binary opcodes (name, quiet).
pub fn opcode_name(op: u8) -> (&'static str, bool) {
    match op {
        0x00 => ("Get", false),
        0x01 => ("Set", false),
        0x02 => ("Add", false),
        0x03 => ("Replace", false),
        0x04 => ("Delete", false),
        0x05 => ("Increment", false),
        0x06 => ("Decrement", false),
        0x07 => ("Quit", false),
        0x08 => ("Flush", false),
        0x09 => ("GetQ", true),
        0x0a => ("No-op", false),
        0x0b => ("Version", false),
        0x0c => ("GetK", false),
        0x0d => ("GetKQ", true),
        0x0e => ("Append", false),
        0x0f => ("Prepend", false),
        0x10 => ("Stat", false),
        0x11 => ("SetQ", true),
        0x12 => ("AddQ", true),
        0x13 => ("ReplaceQ", true),
        0x14 => ("DeleteQ", true),
        0x15 => ("IncrementQ", true),
        0x16 => ("DecrementQ", true),
        0x17 => ("QuitQ", true),
        0x18 => ("FlushQ", true),
        0x19 => ("AppendQ", true),
        0x1a => ("PrependQ", true),
        0x1b => ("Verbosity", false),
        0x1c => ("Touch", false),
        0x1d => ("GAT", false),
        0x1e => ("GATQ", true),
        0x20 => ("SASL list mechs", false),
        0x21 => ("SASL Auth", false),
        0x22 => ("SASL Step", false),
        _ => ("Unknown", false),
    }
}

/// The text command a binary opcode stands for, and its request type.
pub fn opcode_command(op: u8) -> (&'static str, &'static str) {
    match op {
        0x00 | 0x09 | 0x0c | 0x0d => ("get", "Load"),
        0x01 | 0x11 => ("set", "Store"),
        0x02 | 0x12 => ("add", "Store"),
        0x03 | 0x13 => ("replace", "Store"),
        0x0e | 0x19 => ("append", "Store"),
        0x0f | 0x1a => ("prepend", "Store"),
        0x04 | 0x14 => ("delete", "Delete"),
        0x05 | 0x15 => ("incr", "Counter"),
        0x06 | 0x16 => ("decr", "Counter"),
        0x07 | 0x17 => ("quit", "Info"),
        0x08 | 0x18 => ("flush_all", "Info"),
        0x0a => ("noop", "Info"),
        0x0b => ("version", "Info"),
        0x10 => ("stats", "Stats"),
        0x1b => ("verbosity", "Info"),
        0x1c => ("touch", "Store"),
        0x1d | 0x1e => ("gat", "Load"),
        0x20..=0x22 => ("sasl", "Auth"),
        _ => ("unknown", "Unknown"),
    }
}

/// Binary response status names.
pub fn status_name(s: u16) -> &'static str {
    match s {
        0x00 => "Success",
        0x01 => "Key not found",
        0x02 => "Key exists",
        0x03 => "Value too large",
        0x04 => "Invalid arguments",
        0x05 => "Item not stored",
        0x06 => "Incr/Decr on non-numeric value",
        0x07 => "The vbucket belongs to another server",
        0x08 => "Authentication error",
        0x09 => "Authentication continue",
        0x20 => "Authentication required",
        0x21 => "Further authentication steps required",
        0x81 => "Unknown command",
        0x82 => "Out of memory",
        0x83 => "Not supported",
        0x84 => "Internal error",
        0x85 => "Busy",
        0x86 => "Temporary failure",
        _ => "Unknown status",
    }
}

/// A text request's type (Packetbeat's `memcache.request.type`).
pub fn text_request_type(cmd: &str) -> &'static str {
    match cmd {
        "set" | "add" | "replace" | "append" | "prepend" | "cas" | "touch" => "Store",
        "get" | "gets" | "gat" | "gats" => "Load",
        "delete" => "Delete",
        "incr" | "decr" => "Counter",
        "stats" => "Stats",
        _ => "Info",
    }
}

/// A text response's type and whether it is an error.
pub fn text_response_type(word: &str) -> (&'static str, bool) {
    match word {
        "STORED" | "DELETED" | "TOUCHED" | "OK" => ("Success", false),
        "NOT_STORED" | "EXISTS" | "NOT_FOUND" => ("Fail", false),
        "ERROR" | "CLIENT_ERROR" | "SERVER_ERROR" => ("Error", true),
        "VALUE" | "END" => ("Load", false),
        "STAT" => ("Stats", false),
        "VERSION" => ("Info", false),
        w if !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit()) => ("Counter", false),
        _ => ("Unknown", true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(r: &mut Reader, data: &[u8]) -> Vec<Step> {
        let mut out = Vec::new();
        let mut pos = 0;
        loop {
            let (n, s) = r.feed(&data[pos..]);
            pos += n;
            if s == Step::More {
                break;
            }
            out.push(s);
        }
        out
    }

    fn msgs(steps: Vec<Step>) -> Vec<Msg> {
        steps
            .into_iter()
            .filter_map(|s| match s {
                Step::Msg(m) => Some(*m),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn text_storage_command_and_its_value() {
        let req = b"set k 5 0 3\r\nabc\r\nget k\r\n";
        for cut in 0..=req.len() {
            let mut r = Reader::new(true, 4096);
            let mut m = msgs(all(&mut r, &req[..cut]));
            m.extend(msgs(all(&mut r, &req[cut..])));
            assert_eq!(m.len(), 2, "cut {cut}");
            assert_eq!(m[0].word, "set");
            assert_eq!(m[0].args, vec!["k", "5", "0", "3"]);
            assert_eq!(m[0].value_len, 3);
            assert_eq!(m[0].value, b"abc");
            assert_eq!(m[0].wire, 18);
            assert_eq!(m[1].word, "get");
        }
    }

    #[test]
    fn binary_header_extras_key_value() {
        // Set "k" with flags 0, exptime 0, value "xy", opaque 7.
        #[rustfmt::skip]
        let pkt: Vec<u8> = [
            &[0x80, 0x01, 0x00, 0x01, 0x08, 0x00, 0x00, 0x00][..], // magic, Set, key len 1, extras 8, type, vbucket
            &[0x00, 0x00, 0x00, 0x0b],                              // total body 11 = 8 + 1 + 2
            &[0x00, 0x00, 0x00, 0x07],                              // opaque
            &[0; 8],                                                // cas
            &[0; 8],                                                // extras: flags, exptime
            b"k",                                                   // key
            b"xy",                                                  // value
        ]
        .concat();
        for cut in 0..=pkt.len() {
            let mut r = Reader::new(true, 4096);
            let mut m = msgs(all(&mut r, &pkt[..cut]));
            m.extend(msgs(all(&mut r, &pkt[cut..])));
            assert_eq!(m.len(), 1, "cut {cut}");
            assert!(m[0].binary && m[0].request);
            assert_eq!(m[0].opcode, 1);
            assert_eq!(m[0].opaque, 7);
            assert_eq!(m[0].key, b"k");
            assert_eq!(m[0].extras.len(), 8);
            assert_eq!(m[0].value_len, 2);
            assert_eq!(m[0].wire, 35);
        }
    }

    #[test]
    fn a_long_line_is_bad_and_skipped() {
        let mut r = Reader::new(true, 64);
        let mut data = vec![b'x'; 100];
        data.extend_from_slice(b"\r\nget k\r\n");
        let steps = all(&mut r, &data);
        assert!(matches!(steps[0], Step::Bad(_)));
        assert_eq!(msgs(steps)[0].word, "get");
    }
}
