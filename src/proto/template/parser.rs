//! The template's wire format: pure functions over byte slices, streaming
//! (a partial line is [`Parsed::More`], never an error). A real protocol
//! names its specification here (RFC, vendor document, version).

/// One message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    /// The first word (`GET`, `OK`, `ERR`, ...).
    pub verb: &'a [u8],
    /// The rest of the line, without the line end.
    pub rest: &'a [u8],
}

/// Result of [`parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// A whole message and the bytes it took.
    Done(Line<'a>, usize),
    /// Not enough bytes yet.
    More,
    /// Not a message (too long, or a control byte): resync.
    Error,
}

/// Parses one line from the start of `b`, at most `max` bytes long.
pub fn parse(b: &[u8], max: usize) -> Parsed<'_> {
    let window = &b[..b.len().min(max)];
    if window
        .iter()
        .any(|&c| c < 0x20 && c != b'\n' && c != b'\r' && c != b'\t')
    {
        return Parsed::Error;
    }
    let Some(nl) = memchr::memchr(b'\n', window) else {
        return if b.len() >= max {
            Parsed::Error
        } else {
            Parsed::More
        };
    };
    let line = &b[..nl];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let (verb, rest) = match line.iter().position(|&c| c == b' ') {
        Some(sp) => (&line[..sp], &line[sp + 1..]),
        None => (line, &[][..]),
    };
    Parsed::Done(Line { verb, rest }, nl + 1)
}

/// Where a message could start after lost bytes: just after the next line end.
pub fn find_start(b: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', b).map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_parses_and_every_prefix_is_more() {
        let msg = b"GET user:42\r\n";
        assert_eq!(
            parse(msg, 64),
            Parsed::Done(
                Line {
                    verb: b"GET",
                    rest: b"user:42"
                },
                msg.len()
            )
        );
        for n in 0..msg.len() {
            assert_eq!(parse(&msg[..n], 64), Parsed::More, "prefix {n}");
        }
    }

    #[test]
    fn control_bytes_and_overlong_lines_are_errors() {
        assert_eq!(parse(b"GET \x00x\n", 64), Parsed::Error);
        assert_eq!(parse(b"GET aaaaaaaa", 8), Parsed::Error);
        assert_eq!(find_start(b"junk\nGET"), Some(5));
    }
}
