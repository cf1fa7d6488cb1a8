//! SIP message parsing (RFC 3261 section 7 and 20, the compact header
//! forms of section 7.3.3) and the SDP summary (RFC 8866 section 5).
//!
//! Pure functions over one buffer: a [`Message`] holds [`Span`]s into the
//! bytes it was parsed from, never copies. Over UDP a datagram is one
//! message (a missing `Content-Length` means the rest of the datagram is
//! the body); over TCP messages are framed by `Content-Length` (absent
//! means no body, RFC 3261 section 18.3), and [`parse`] answers
//! [`Error::More`] until the whole message is there. Bounds: the header
//! block is at most `max_bytes`, at most [`MAX_VIA`] `Via` values are kept
//! (all are counted), a body is never longer than `max_bytes`.

/// `Via` header values kept per message (the rest are counted).
pub const MAX_VIA: usize = 8;

/// A byte range of the parsed buffer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Span {
    /// First byte.
    pub start: u32,
    /// One past the last byte.
    pub end: u32,
}

impl Span {
    fn new(start: usize, end: usize) -> Span {
        Span {
            start: start as u32,
            end: end as u32,
        }
    }

    /// The bytes of the span in `buf`.
    pub fn get<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        buf.get(self.start as usize..self.end as usize)
            .unwrap_or_default()
    }

    /// Whether the span is empty.
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }
}

/// Why a buffer is not a SIP message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The message is not complete yet (TCP only).
    More,
    /// Not SIP, or broken beyond use (the text says why).
    Bad(&'static str),
}

/// The start line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// `METHOD Request-URI SIP/2.0`.
    Request {
        /// The method token.
        method: Span,
        /// The Request-URI.
        uri: Span,
    },
    /// `SIP/2.0 Status-Code Reason-Phrase`.
    Response {
        /// The status code.
        code: u16,
        /// The reason phrase.
        phrase: Span,
    },
}

/// One parsed SIP message: spans into the buffer given to [`parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message {
    /// Request or response line.
    pub start: Start,
    /// `SIP/2.0`.
    pub version: Span,
    /// `Call-ID` (`i`).
    pub call_id: Span,
    /// `From` (`f`).
    pub from: Span,
    /// `To` (`t`).
    pub to: Span,
    /// The first `Contact` (`m`).
    pub contact: Span,
    /// `CSeq` number.
    pub cseq_num: u32,
    /// `CSeq` method.
    pub cseq_method: Span,
    /// `User-Agent` (requests) or `Server` (responses).
    pub user_agent: Span,
    /// `Content-Type` (`c`).
    pub content_type: Span,
    /// `Content-Encoding` (`e`).
    pub content_encoding: Span,
    /// `Content-Length` (`l`) as sent.
    pub content_length: Option<u32>,
    /// `Max-Forwards`.
    pub max_forwards: Option<u32>,
    /// `Authorization` or `Proxy-Authorization`.
    pub authorization: Span,
    /// `Supported` (`k`).
    pub supported: Span,
    /// `Allow`.
    pub allow: Span,
    /// `Accept`.
    pub accept: Span,
    /// `Via` (`v`) header values, top first (at most [`MAX_VIA`]).
    pub via: [Span; MAX_VIA],
    /// `Via` values kept in `via`.
    pub via_kept: u8,
    /// `Via` values seen (a header with commas counts each).
    pub via_count: u16,
    /// The `branch` parameter of the top `Via`.
    pub branch: Span,
    /// The body.
    pub body: Span,
    /// Bytes of the whole message (header block and body).
    pub len: usize,
}

impl Message {
    /// Whether this is a request.
    pub fn is_request(&self) -> bool {
        matches!(self.start, Start::Request { .. })
    }

    /// The method of a request, else the `CSeq` method.
    pub fn method<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        match self.start {
            Start::Request { method, .. } => method.get(buf),
            Start::Response { .. } => self.cseq_method.get(buf),
        }
    }

    /// The status code of a response.
    pub fn code(&self) -> Option<u16> {
        match self.start {
            Start::Response { code, .. } => Some(code),
            Start::Request { .. } => None,
        }
    }

    /// The `Via` values kept.
    pub fn vias(&self) -> &[Span] {
        &self.via[..usize::from(self.via_kept)]
    }
}

fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

fn trim(buf: &[u8], mut s: usize, mut e: usize) -> (usize, usize) {
    while s < e && matches!(buf[s], b' ' | b'\t' | b'\r' | b'\n') {
        s += 1;
    }
    while e > s && matches!(buf[e - 1], b' ' | b'\t' | b'\r' | b'\n') {
        e -= 1;
    }
    (s, e)
}

fn number(v: &[u8]) -> Option<u32> {
    if v.is_empty() || v.len() > 9 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(v.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0')))
}

/// Where the header block ends: the offset of the body (after the empty
/// line), accepting bare LF line ends as RFC 3261 section 7.5 allows.
fn header_end(buf: &[u8]) -> Option<usize> {
    for i in memchr::memchr_iter(b'\n', buf) {
        match buf.get(i + 1) {
            Some(b'\n') => return Some(i + 2),
            Some(b'\r') if buf.get(i + 2) == Some(&b'\n') => return Some(i + 3),
            _ => {}
        }
    }
    None
}

/// Whether `buf` starts like a SIP message (a response line, or a method
/// token followed by a URI with a scheme): what resync looks for.
pub fn looks_like_start(buf: &[u8]) -> bool {
    if buf.starts_with(b"SIP/2.0 ") {
        return true;
    }
    let Some(sp) = buf.iter().take(32).position(|&b| b == b' ') else {
        return false;
    };
    sp > 0
        && buf[..sp].iter().all(|b| b.is_ascii_uppercase())
        && buf[sp + 1..]
            .iter()
            .take(8)
            .position(|&b| b == b':')
            .is_some_and(|c| c >= 3)
}

/// Parses one message at the start of `buf`. `datagram`: `buf` is a whole
/// UDP payload. `max_bytes` bounds the header block and the body.
pub fn parse(buf: &[u8], datagram: bool, max_bytes: usize) -> Result<Message, Error> {
    let Some(hend) = header_end(buf) else {
        if datagram {
            return Err(Error::Bad("no end of the SIP header block"));
        }
        if buf.len() > max_bytes {
            return Err(Error::Bad("SIP header block longer than max_message_bytes"));
        }
        // A start line must look right once it is whole (or once it is
        // too long to be one), so garbage fails fast.
        let line_done = memchr::memchr(b'\n', buf).is_some() || buf.len() > 64;
        if line_done && !looks_like_start(buf) {
            return Err(Error::Bad("not a SIP start line"));
        }
        return Err(Error::More);
    };
    if hend > max_bytes {
        return Err(Error::Bad("SIP header block longer than max_message_bytes"));
    }
    let head = &buf[..hend];
    let line_end = memchr::memchr(b'\n', head).unwrap_or(head.len());
    let (ls, le) = trim(head, 0, line_end);
    let line = &head[ls..le];
    let (start, version) = if let Some(rest) = line.strip_prefix(b"SIP/2.0 ") {
        if rest.len() < 3 || !rest[..3].iter().all(u8::is_ascii_digit) {
            return Err(Error::Bad("SIP status code is not three digits"));
        }
        if rest.len() > 3 && rest[3] != b' ' {
            return Err(Error::Bad("SIP status code is not three digits"));
        }
        let code = number(&rest[..3]).unwrap_or(0) as u16;
        if !(100..700).contains(&code) {
            return Err(Error::Bad("SIP status code out of range"));
        }
        let ps = (ls + 8 + 4).min(le);
        (
            Start::Response {
                code,
                phrase: Span::new(ps, le),
            },
            Span::new(ls, ls + 7),
        )
    } else {
        let m_end = line
            .iter()
            .position(|&b| b == b' ')
            .ok_or(Error::Bad("not a SIP start line"))?;
        if m_end == 0 || !line[..m_end].iter().all(|&b| is_token(b)) {
            return Err(Error::Bad("SIP method is not a token"));
        }
        let u_len = line[m_end + 1..]
            .iter()
            .position(|&b| b == b' ')
            .ok_or(Error::Bad("SIP request line has no version"))?;
        let v = &line[m_end + 1 + u_len + 1..];
        if !v.starts_with(b"SIP/") {
            return Err(Error::Bad("not a SIP start line"));
        }
        if u_len == 0 {
            return Err(Error::Bad("SIP request line has no URI"));
        }
        let us = ls + m_end + 1;
        (
            Start::Request {
                method: Span::new(ls, ls + m_end),
                uri: Span::new(us, us + u_len),
            },
            Span::new(us + u_len + 1, le),
        )
    };
    let mut m = Message {
        start,
        version,
        call_id: Span::default(),
        from: Span::default(),
        to: Span::default(),
        contact: Span::default(),
        cseq_num: 0,
        cseq_method: Span::default(),
        user_agent: Span::default(),
        content_type: Span::default(),
        content_encoding: Span::default(),
        content_length: None,
        max_forwards: None,
        authorization: Span::default(),
        supported: Span::default(),
        allow: Span::default(),
        accept: Span::default(),
        via: [Span::default(); MAX_VIA],
        via_kept: 0,
        via_count: 0,
        branch: Span::default(),
        body: Span::default(),
        len: 0,
    };
    let mut pos = (line_end + 1).min(hend);
    while pos < hend {
        // One header field, with its continuation lines (section 7.3.1).
        let mut end = pos;
        loop {
            end += memchr::memchr(b'\n', &head[end..]).map_or(head.len() - end, |i| i + 1);
            if end >= hend || !matches!(head[end], b' ' | b'\t') {
                break;
            }
        }
        let field = (pos, end);
        pos = end;
        let (fs, fe) = trim(head, field.0, field.1);
        if fs == fe {
            continue;
        }
        let Some(colon) = head[fs..fe].iter().position(|&b| b == b':') else {
            return Err(Error::Bad("SIP header line without a colon"));
        };
        let (ns, ne) = trim(head, fs, fs + colon);
        let (vs, ve) = trim(head, fs + colon + 1, fe);
        let value = Span::new(vs, ve);
        header(&mut m, &head[ns..ne], head, value)?;
    }
    let body_len = match (m.content_length, datagram) {
        (Some(n), _) => n as usize,
        (None, true) => buf.len() - hend,
        (None, false) => 0,
    };
    if body_len > max_bytes {
        return Err(Error::Bad("SIP body longer than max_message_bytes"));
    }
    if buf.len() < hend + body_len {
        return if datagram {
            Err(Error::Bad("SIP Content-Length beyond the datagram"))
        } else {
            Err(Error::More)
        };
    }
    m.body = Span::new(hend, hend + body_len);
    m.len = hend + body_len;
    if m.cseq_method.is_empty() {
        return Err(Error::Bad("SIP message without a CSeq"));
    }
    Ok(m)
}

/// The headers [`header`] reads, by their lower-case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Name {
    Via,
    CallId,
    From,
    To,
    Contact,
    CSeq,
    UserAgent,
    ContentType,
    ContentEncoding,
    ContentLength,
    MaxForwards,
    Authorization,
    Supported,
    Allow,
    Accept,
    Other,
}

fn classify(name: &[u8]) -> Name {
    let mut low = [0u8; 20];
    if name.len() > low.len() {
        return Name::Other;
    }
    for (d, s) in low.iter_mut().zip(name) {
        *d = s.to_ascii_lowercase();
    }
    match &low[..name.len()] {
        b"via" | b"v" => Name::Via,
        b"call-id" | b"i" => Name::CallId,
        b"from" | b"f" => Name::From,
        b"to" | b"t" => Name::To,
        b"contact" | b"m" => Name::Contact,
        b"cseq" => Name::CSeq,
        b"user-agent" | b"server" => Name::UserAgent,
        b"content-type" | b"c" => Name::ContentType,
        b"content-encoding" | b"e" => Name::ContentEncoding,
        b"content-length" | b"l" => Name::ContentLength,
        b"max-forwards" => Name::MaxForwards,
        b"authorization" | b"proxy-authorization" => Name::Authorization,
        b"supported" | b"k" => Name::Supported,
        b"allow" => Name::Allow,
        b"accept" => Name::Accept,
        _ => Name::Other,
    }
}

fn header(m: &mut Message, name: &[u8], buf: &[u8], v: Span) -> Result<(), Error> {
    let first = |s: &mut Span| {
        if s.is_empty() {
            *s = v;
        }
    };
    match classify(name) {
        Name::Via => {
            let top = m.via_count == 0;
            let val = v.get(buf);
            let parts = 1 + quoted_commas(val);
            m.via_count = m.via_count.saturating_add(parts as u16);
            if usize::from(m.via_kept) < MAX_VIA {
                m.via[usize::from(m.via_kept)] = v;
                m.via_kept += 1;
            }
            if top {
                let top_val = first_value(val);
                if let Some((s, e)) = param(top_val, b"branch") {
                    m.branch = Span::new(v.start as usize + s, v.start as usize + e);
                }
            }
        }
        Name::CallId => first(&mut m.call_id),
        Name::From => first(&mut m.from),
        Name::To => first(&mut m.to),
        Name::Contact => first(&mut m.contact),
        Name::CSeq => {
            let val = v.get(buf);
            let sp = val
                .iter()
                .position(u8::is_ascii_whitespace)
                .ok_or(Error::Bad("SIP CSeq without a method"))?;
            m.cseq_num = number(&val[..sp]).ok_or(Error::Bad("SIP CSeq number is not a number"))?;
            let (s, e) = trim(val, sp, val.len());
            if s == e || !val[s..e].iter().all(|&b| is_token(b)) {
                return Err(Error::Bad("SIP CSeq method is not a token"));
            }
            m.cseq_method = Span::new(v.start as usize + s, v.start as usize + e);
        }
        Name::UserAgent => first(&mut m.user_agent),
        Name::ContentType => first(&mut m.content_type),
        Name::ContentEncoding => first(&mut m.content_encoding),
        Name::ContentLength => {
            let n = number(v.get(buf)).ok_or(Error::Bad("SIP Content-Length is not a number"))?;
            if m.content_length.is_some_and(|old| old != n) {
                return Err(Error::Bad("SIP message with two different Content-Length"));
            }
            m.content_length = Some(n);
        }
        Name::MaxForwards => m.max_forwards = number(v.get(buf)),
        Name::Authorization => first(&mut m.authorization),
        Name::Supported => first(&mut m.supported),
        Name::Allow => first(&mut m.allow),
        Name::Accept => first(&mut m.accept),
        Name::Other => {}
    }
    Ok(())
}

/// Commas outside double quotes and angle brackets (values in one header).
fn quoted_commas(v: &[u8]) -> usize {
    let (mut q, mut a, mut n) = (false, false, 0);
    for &b in v {
        match b {
            b'"' => q = !q,
            b'<' if !q => a = true,
            b'>' if !q => a = false,
            b',' if !q && !a => n += 1,
            _ => {}
        }
    }
    n
}

/// The first comma-separated value of a header.
fn first_value(v: &[u8]) -> &[u8] {
    // Fast path: no quotes or brackets before the first comma.
    match memchr::memchr3(b',', b'"', b'<', v) {
        None => return v,
        Some(i) if v[i] == b',' => return &v[..i],
        Some(_) => {}
    }
    let (mut q, mut a) = (false, false);
    for (i, &b) in v.iter().enumerate() {
        match b {
            b'"' => q = !q,
            b'<' if !q => a = true,
            b'>' if !q => a = false,
            b',' if !q && !a => return &v[..i],
            _ => {}
        }
    }
    v
}

/// The value of `;name=value` among the parameters of `v` (outside any
/// `<...>`), as offsets into `v`.
pub fn param(v: &[u8], name: &[u8]) -> Option<(usize, usize)> {
    let after = match memchr::memrchr(b'>', v) {
        Some(gt) if memchr::memchr(b'<', v).is_some() => gt + 1,
        _ => 0,
    };
    let mut i = after;
    while let Some(semi) = memchr::memchr(b';', &v[i..]) {
        let ps = i + semi + 1;
        let pe = memchr::memchr(b';', &v[ps..]).map_or(v.len(), |j| ps + j);
        let (s, e) = trim(v, ps, pe);
        let p = &v[s..e];
        let (k, val) = match p.iter().position(|&b| b == b'=') {
            Some(eq) => (&p[..eq], (s + eq + 1, e)),
            None => (p, (e, e)),
        };
        if trim(k, 0, k.len()) == (0, k.len()) && k.eq_ignore_ascii_case(name) {
            let (vs, ve) = trim(v, val.0, val.1);
            return Some((vs, ve));
        }
        i = pe;
        if i >= v.len() {
            break;
        }
    }
    None
}

/// The parts of a From / To / Contact value (`"Name" <uri>;tag=x`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NameAddr<'a> {
    /// The display name without quotes.
    pub display: &'a [u8],
    /// The URI.
    pub uri: &'a [u8],
    /// The header parameters after the URI.
    pub params: &'a [u8],
}

/// Splits a From / To / Contact value.
pub fn name_addr(v: &[u8]) -> NameAddr<'_> {
    let v = first_value(v);
    if let Some(lt) = v.iter().position(|&b| b == b'<') {
        let gt = v[lt..]
            .iter()
            .position(|&b| b == b'>')
            .map_or(v.len(), |i| lt + i);
        let (ds, de) = trim(v, 0, lt);
        let mut d = &v[ds..de];
        if d.len() >= 2 && d[0] == b'"' && d[d.len() - 1] == b'"' {
            d = &d[1..d.len() - 1];
        }
        NameAddr {
            display: d,
            uri: &v[lt + 1..gt],
            params: &v[(gt + 1).min(v.len())..],
        }
    } else {
        let semi = v.iter().position(|&b| b == b';').unwrap_or(v.len());
        let (s, e) = trim(v, 0, semi);
        NameAddr {
            display: b"",
            uri: &v[s..e],
            params: &v[semi..],
        }
    }
}

/// The parts of a SIP URI (`sip:user@host:port;params`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Uri<'a> {
    /// `sip`, `sips`, `tel`, ...
    pub scheme: &'a [u8],
    /// The user part (without a password).
    pub user: &'a [u8],
    /// The host (IPv6 without brackets).
    pub host: &'a [u8],
    /// The port, when given.
    pub port: Option<u16>,
    /// The URI parameters (`;transport=tcp;...`), from the first `;`.
    pub params: &'a [u8],
}

/// Splits a URI; `None` when it has no scheme.
pub fn uri(v: &[u8]) -> Option<Uri<'_>> {
    let colon = memchr::memchr(b':', v)?;
    let scheme = &v[..colon];
    if scheme.is_empty()
        || !scheme
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'+')
    {
        return None;
    }
    let rest = &v[colon + 1..];
    let end = memchr::memchr2(b';', b'?', rest).unwrap_or(rest.len());
    let params = &rest[end..];
    let hostport_user = &rest[..end];
    let (user, hostport) = match memchr::memrchr(b'@', hostport_user) {
        Some(at) => {
            let u = &hostport_user[..at];
            let u = &u[..memchr::memchr(b':', u).unwrap_or(u.len())];
            (u, &hostport_user[at + 1..])
        }
        None => (&b""[..], hostport_user),
    };
    let (host, port) = if let Some(h) = hostport.strip_prefix(b"[") {
        let close = h.iter().position(|&b| b == b']').unwrap_or(h.len());
        let port = h.get(close + 1..).and_then(|p| p.strip_prefix(b":"));
        (&h[..close], port)
    } else {
        match hostport.iter().position(|&b| b == b':') {
            Some(c) => (&hostport[..c], Some(&hostport[c + 1..])),
            None => (hostport, None),
        }
    };
    let port = port.and_then(number).and_then(|p| u16::try_from(p).ok());
    Some(Uri {
        scheme,
        user,
        host,
        port,
        params,
    })
}

/// A media line of an SDP body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Media<'a> {
    /// `audio`, `video`, ...
    pub kind: &'a [u8],
    /// The port.
    pub port: u16,
    /// `RTP/AVP`, ...
    pub protocol: &'a [u8],
    /// The format list (payload types).
    pub formats: &'a [u8],
}

/// What spanlens reports of an SDP body (RFC 8866).
#[derive(Debug, Clone, Default)]
pub struct Sdp<'a> {
    /// `v=`.
    pub version: &'a [u8],
    /// `o=` username (not `-`).
    pub owner_user: &'a [u8],
    /// `o=` session id.
    pub owner_session: &'a [u8],
    /// `o=` session version.
    pub owner_version: &'a [u8],
    /// `o=` address.
    pub owner_ip: &'a [u8],
    /// `s=` (not `-`).
    pub session_name: &'a [u8],
    /// The session-level `c=` value.
    pub connection_info: &'a [u8],
    /// Its address.
    pub connection_addr: &'a [u8],
    /// `m=` lines (at most `MAX_MEDIA`; `media_count` counts all).
    pub media: [Media<'a>; MAX_MEDIA],
    /// Media lines kept.
    pub media_kept: usize,
    /// `a=rtpmap:` values (`<pt> <encoding>/<rate>`), at most `MAX_RTPMAP`.
    pub rtpmap: [(&'a [u8], &'a [u8]); MAX_RTPMAP],
    /// rtpmap attributes kept.
    pub rtpmap_kept: usize,
}

/// SDP media lines kept.
pub const MAX_MEDIA: usize = 4;
/// SDP rtpmap attributes kept.
pub const MAX_RTPMAP: usize = 16;

fn last_word(v: &[u8]) -> &[u8] {
    let v = trim_bytes(v);
    match v.iter().rposition(|&b| b == b' ') {
        Some(i) => &v[i + 1..],
        None => v,
    }
}

fn trim_bytes(v: &[u8]) -> &[u8] {
    let (s, e) = trim(v, 0, v.len());
    &v[s..e]
}

/// The SDP summary of a body.
pub fn sdp(body: &[u8]) -> Sdp<'_> {
    let mut s = Sdp::default();
    let mut in_media = false;
    for line in body.split(|&b| b == b'\n') {
        let line = trim_bytes(line);
        if line.len() < 2 || line[1] != b'=' {
            continue;
        }
        let v = trim_bytes(&line[2..]);
        match line[0] {
            b'v' => s.version = v,
            b'o' => {
                let mut it = v.split(|&b| b == b' ').filter(|p| !p.is_empty());
                let user = it.next().unwrap_or_default();
                if user != b"-" {
                    s.owner_user = user;
                }
                s.owner_session = it.next().unwrap_or_default();
                s.owner_version = it.next().unwrap_or_default();
                s.owner_ip = it.nth(2).unwrap_or_default();
            }
            b's' if v != b"-" => s.session_name = v,
            b'c' if !in_media => {
                s.connection_info = v;
                s.connection_addr = last_word(v);
            }
            b'm' => {
                in_media = true;
                let mut it = v.splitn(4, |&b| b == b' ');
                let kind = it.next().unwrap_or_default();
                let port = it.next().unwrap_or_default();
                let port = port.split(|&b| b == b'/').next().unwrap_or_default();
                let m = Media {
                    kind,
                    port: number(port)
                        .and_then(|p| u16::try_from(p).ok())
                        .unwrap_or(0),
                    protocol: it.next().unwrap_or_default(),
                    formats: it.next().unwrap_or_default(),
                };
                if s.media_kept < MAX_MEDIA {
                    s.media[s.media_kept] = m;
                    s.media_kept += 1;
                }
            }
            b'a' => {
                if let Some(r) = v.strip_prefix(b"rtpmap:") {
                    let sp = r.iter().position(|&b| b == b' ').unwrap_or(r.len());
                    if s.rtpmap_kept < MAX_RTPMAP {
                        s.rtpmap[s.rtpmap_kept] = (&r[..sp], trim_bytes(&r[sp..]));
                        s.rtpmap_kept += 1;
                    }
                }
            }
            _ => {}
        }
    }
    s
}

/// The encoding name of a static RTP payload type (RFC 3551 table 4 and 5).
pub fn static_payload(pt: u32) -> Option<&'static str> {
    Some(match pt {
        0 => "PCMU/8000",
        3 => "GSM/8000",
        4 => "G723/8000",
        5 => "DVI4/8000",
        6 => "DVI4/16000",
        7 => "LPC/8000",
        8 => "PCMA/8000",
        9 => "G722/8000",
        10 => "L16/44100/2",
        11 => "L16/44100",
        12 => "QCELP/8000",
        13 => "CN/8000",
        14 => "MPA/90000",
        15 => "G728/8000",
        16 => "DVI4/11025",
        17 => "DVI4/22050",
        18 => "G729/8000",
        25 => "CelB/90000",
        26 => "JPEG/90000",
        28 => "nv/90000",
        31 => "H261/90000",
        32 => "MPV/90000",
        33 => "MP2T/90000",
        34 => "H263/90000",
        _ => return None,
    })
}

/// The codec of payload type `pt` in `s`: its rtpmap, else the static table.
pub fn codec<'a>(s: &Sdp<'a>, pt: &[u8]) -> Option<&'a [u8]> {
    s.rtpmap[..s.rtpmap_kept]
        .iter()
        .find(|(p, _)| *p == pt)
        .map(|(_, c)| *c)
        .or_else(|| number(pt).and_then(static_payload).map(str::as_bytes))
}

/// The `Authorization` parts Packetbeat reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Auth<'a> {
    /// `Digest`, ...
    pub scheme: &'a [u8],
    /// `realm`.
    pub realm: &'a [u8],
    /// `username`.
    pub username: &'a [u8],
    /// `uri`.
    pub uri: &'a [u8],
}

/// Splits an `Authorization` value; `None` without a scheme.
pub fn auth(v: &[u8]) -> Option<Auth<'_>> {
    let v = trim_bytes(v);
    let sp = v.iter().position(|&b| b == b' ')?;
    let mut a = Auth {
        scheme: &v[..sp],
        ..Auth::default()
    };
    for p in v[sp + 1..].split(|&b| b == b',') {
        let Some(eq) = p.iter().position(|&b| b == b'=') else {
            continue;
        };
        let k = trim_bytes(&p[..eq]);
        let mut val = trim_bytes(&p[eq + 1..]);
        while let [b'"' | b'\'', rest @ ..] = val {
            val = rest;
        }
        while let [rest @ .., b'"' | b'\''] = val {
            val = rest;
        }
        if k.eq_ignore_ascii_case(b"realm") {
            a.realm = val;
        } else if k.eq_ignore_ascii_case(b"username") {
            a.username = val;
        } else if k.eq_ignore_ascii_case(b"uri") {
            a.uri = val;
        }
    }
    Some(a)
}
