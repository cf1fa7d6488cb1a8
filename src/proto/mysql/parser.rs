//! Pure parsing of MySQL client/server protocol packets.
//!
//! Reference: the MySQL Client/Server Protocol documentation
//! (<https://dev.mysql.com/doc/dev/mysql-server/latest/PAGE_PROTOCOL.html>):
//! packets are a 3-byte little-endian payload length, a 1-byte sequence id
//! and the payload. This module reads one packet header or payload at a
//! time: handshake (protocol 10 greeting, HandshakeResponse41/320,
//! SSLRequest), command packets, OK/ERR/EOF, column definitions, text and
//! binary rows and COM_STMT_EXECUTE parameters. Every function takes a
//! byte slice and returns `None` (or a shorter result) when the bytes are
//! too short; nothing here panics, allocates per packet beyond the strings
//! it returns, or keeps state. It does not pair requests with responses or
//! track connection state (that is [`super::session`]), and it does not
//! decompress the compressed protocol.

/// Bytes of a packet header.
pub const HEADER_LEN: usize = 4;
/// A payload of this length continues in the next packet.
pub const MAX_PAYLOAD: u32 = 0xff_ffff;

/// Capability flags (`CLIENT_*`) the decoder cares about.
pub mod caps {
    /// The client names a database in the handshake response.
    pub const CONNECT_WITH_DB: u32 = 0x0000_0008;
    /// zlib compression of the protocol.
    pub const COMPRESS: u32 = 0x0000_0020;
    /// 4.1 protocol (OK/ERR with SQL state, 32-bit capabilities).
    pub const PROTOCOL_41: u32 = 0x0000_0200;
    /// TLS upgrade (SSLRequest).
    pub const SSL: u32 = 0x0000_0800;
    /// Auth response prefixed with one length byte.
    pub const SECURE_CONNECTION: u32 = 0x0000_8000;
    /// Auth response prefixed with a length-encoded integer.
    pub const PLUGIN_AUTH_LENENC_DATA: u32 = 0x0020_0000;
    /// No EOF packets: result sets end with an OK packet with a 0xfe header.
    pub const DEPRECATE_EOF: u32 = 0x0100_0000;
    /// zstd compression of the protocol.
    pub const ZSTD_COMPRESSION: u32 = 0x0400_0000;
    /// COM_QUERY (and COM_STMT_EXECUTE) carry query attributes (MySQL 8.0.23+).
    pub const QUERY_ATTRIBUTES: u32 = 0x0800_0000;
}

/// Server status flag: another result set follows this one.
pub const SERVER_MORE_RESULTS_EXISTS: u16 = 0x0008;

/// Command bytes (`COM_*`), the first payload byte of a request.
pub mod cmd {
    /// COM_SLEEP (internal, never sent by clients).
    pub const SLEEP: u8 = 0x00;
    /// COM_QUIT
    pub const QUIT: u8 = 0x01;
    /// COM_INIT_DB
    pub const INIT_DB: u8 = 0x02;
    /// COM_QUERY
    pub const QUERY: u8 = 0x03;
    /// COM_FIELD_LIST
    pub const FIELD_LIST: u8 = 0x04;
    /// COM_STATISTICS
    pub const STATISTICS: u8 = 0x09;
    /// COM_PING
    pub const PING: u8 = 0x0e;
    /// COM_CHANGE_USER
    pub const CHANGE_USER: u8 = 0x11;
    /// COM_BINLOG_DUMP
    pub const BINLOG_DUMP: u8 = 0x12;
    /// COM_STMT_PREPARE
    pub const STMT_PREPARE: u8 = 0x16;
    /// COM_STMT_EXECUTE
    pub const STMT_EXECUTE: u8 = 0x17;
    /// COM_STMT_SEND_LONG_DATA
    pub const STMT_SEND_LONG_DATA: u8 = 0x18;
    /// COM_STMT_CLOSE
    pub const STMT_CLOSE: u8 = 0x19;
    /// COM_STMT_RESET
    pub const STMT_RESET: u8 = 0x1a;
    /// COM_SET_OPTION
    pub const SET_OPTION: u8 = 0x1b;
    /// COM_STMT_FETCH
    pub const STMT_FETCH: u8 = 0x1c;
    /// COM_BINLOG_DUMP_GTID
    pub const BINLOG_DUMP_GTID: u8 = 0x1e;
    /// COM_RESET_CONNECTION
    pub const RESET_CONNECTION: u8 = 0x1f;
}

/// The name of a command byte (the `method` of non-SQL commands), `None`
/// for bytes that are not client commands.
pub fn command_name(c: u8) -> Option<&'static str> {
    Some(match c {
        cmd::QUIT => "QUIT",
        cmd::INIT_DB => "USE",
        cmd::QUERY => "QUERY",
        cmd::FIELD_LIST => "FIELD_LIST",
        0x05 => "CREATE_DB",
        0x06 => "DROP_DB",
        0x07 => "REFRESH",
        0x08 => "SHUTDOWN",
        cmd::STATISTICS => "STATISTICS",
        0x0a => "PROCESS_INFO",
        0x0c => "PROCESS_KILL",
        0x0d => "DEBUG",
        cmd::PING => "PING",
        cmd::CHANGE_USER => "CHANGE_USER",
        cmd::BINLOG_DUMP => "BINLOG_DUMP",
        0x13 => "TABLE_DUMP",
        0x15 => "REGISTER_SLAVE",
        cmd::STMT_PREPARE => "PREPARE",
        cmd::STMT_EXECUTE => "EXECUTE",
        cmd::STMT_SEND_LONG_DATA => "STMT_SEND_LONG_DATA",
        cmd::STMT_CLOSE => "STMT_CLOSE",
        cmd::STMT_RESET => "STMT_RESET",
        cmd::SET_OPTION => "SET_OPTION",
        cmd::STMT_FETCH => "STMT_FETCH",
        cmd::BINLOG_DUMP_GTID => "BINLOG_DUMP_GTID",
        cmd::RESET_CONNECTION => "RESET_CONNECTION",
        _ => return None,
    })
}

/// A packet header: payload length and sequence id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketHeader {
    /// Payload length (0..=0xffffff).
    pub len: u32,
    /// Sequence id.
    pub seq: u8,
}

impl PacketHeader {
    /// Reads the 4-byte header at the start of `b`.
    pub fn parse(b: &[u8]) -> Option<PacketHeader> {
        let h = b.get(..HEADER_LEN)?;
        Some(PacketHeader {
            len: u32::from(h[0]) | u32::from(h[1]) << 8 | u32::from(h[2]) << 16,
            seq: h[3],
        })
    }

    /// Header plus payload bytes.
    pub fn total(self) -> usize {
        HEADER_LEN + self.len as usize
    }
}

/// A little cursor over a payload; every read is bounds-checked.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Reads from the start of `b`.
    pub fn new(b: &'a [u8]) -> Self {
        Reader { b }
    }

    /// Bytes not read yet.
    pub fn rest(&self) -> &'a [u8] {
        self.b
    }

    /// Takes `n` bytes.
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.b.len() {
            return None;
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Some(h)
    }

    /// One byte.
    pub fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    /// Little-endian u16.
    pub fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_le_bytes([b[0], b[1]]))
    }

    /// Little-endian u24.
    pub fn u24(&mut self) -> Option<u32> {
        self.take(3)
            .map(|b| u32::from(b[0]) | u32::from(b[1]) << 8 | u32::from(b[2]) << 16)
    }

    /// Little-endian u32.
    pub fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Little-endian u64.
    pub fn u64(&mut self) -> Option<u64> {
        self.take(8).map(|b| {
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            u64::from_le_bytes(a)
        })
    }

    /// A length-encoded integer; `None` for the NULL marker 0xfb, 0xff or
    /// too few bytes.
    pub fn lenenc(&mut self) -> Option<u64> {
        match self.u8()? {
            n @ 0..=0xfa => Some(u64::from(n)),
            0xfc => self.u16().map(u64::from),
            0xfd => self.u24().map(u64::from),
            0xfe => self.u64(),
            _ => None,
        }
    }

    /// A length-encoded string.
    pub fn lenenc_str(&mut self) -> Option<&'a [u8]> {
        let n = self.lenenc()?;
        let n = usize::try_from(n).ok()?;
        self.take(n)
    }

    /// A NUL-terminated string (the NUL is consumed, not returned).
    pub fn nul_str(&mut self) -> Option<&'a [u8]> {
        let end = self.b.iter().position(|&c| c == 0)?;
        let s = self.take(end)?;
        self.take(1)?;
        Some(s)
    }
}

/// The server greeting (Protocol::HandshakeV10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Greeting<'a> {
    /// `server_version`, e.g. `8.0.12`.
    pub server_version: &'a [u8],
    /// The server's capability flags (lower 16 bits only for old servers).
    pub capabilities: u32,
}

/// Parses a greeting payload: protocol version 10, version string, ...
pub fn parse_greeting(p: &[u8]) -> Option<Greeting<'_>> {
    let mut r = Reader::new(p);
    if r.u8()? != 10 {
        return None;
    }
    let server_version = r.nul_str()?;
    if server_version.is_empty() || !server_version.iter().all(|c| c.is_ascii_graphic()) {
        return None;
    }
    r.u32()?; // connection id
    r.take(8)?; // auth-plugin-data part 1
    r.u8()?; // filler
    let lower = u32::from(r.u16().unwrap_or(0));
    let upper = (|| {
        r.u8()?; // charset
        r.u16()?; // status flags
        r.u16()
    })()
    .map(u32::from)
    .unwrap_or(0);
    Some(Greeting {
        server_version,
        capabilities: lower | upper << 16,
    })
}

/// The client's answer to the greeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandshakeResponse<'a> {
    /// An SSLRequest: TLS follows, nothing more is readable.
    SslRequest {
        /// The client's capability flags.
        capabilities: u32,
    },
    /// A login (HandshakeResponse41 or 320). The password is never read.
    Login {
        /// The client's capability flags.
        capabilities: u32,
        /// User name.
        user: &'a [u8],
        /// Database named at login, if any.
        database: Option<&'a [u8]>,
    },
}

/// Parses a HandshakeResponse41/320 or SSLRequest payload.
pub fn parse_handshake_response(p: &[u8]) -> Option<HandshakeResponse<'_>> {
    let mut r = Reader::new(p);
    let lower = r.u16()?;
    if u32::from(lower) & caps::PROTOCOL_41 == 0 {
        // HandshakeResponse320: caps(2) max-packet(3) user NUL auth [db]
        r.u24()?;
        let capabilities = u32::from(lower);
        if capabilities & caps::SSL != 0 && r.rest().is_empty() {
            return Some(HandshakeResponse::SslRequest { capabilities });
        }
        let user = r.nul_str()?;
        let mut database = None;
        if capabilities & caps::CONNECT_WITH_DB != 0 {
            r.nul_str()?; // auth response
            database = r.nul_str().filter(|d| !d.is_empty());
        }
        return Some(HandshakeResponse::Login {
            capabilities,
            user,
            database,
        });
    }
    let capabilities = u32::from(lower) | u32::from(r.u16()?) << 16;
    r.u32()?; // max packet size
    r.u8()?; // character set
    r.take(23)?; // filler
    if r.rest().is_empty() {
        return if capabilities & caps::SSL != 0 {
            Some(HandshakeResponse::SslRequest { capabilities })
        } else {
            None
        };
    }
    let user = r.nul_str()?;
    // The auth response is skipped without being looked at.
    let auth_ok = if capabilities & caps::PLUGIN_AUTH_LENENC_DATA != 0 {
        r.lenenc_str().is_some()
    } else if capabilities & caps::SECURE_CONNECTION != 0 {
        r.u8().and_then(|n| r.take(n.into())).is_some()
    } else {
        r.nul_str().is_some()
    };
    let mut database = None;
    if auth_ok && capabilities & caps::CONNECT_WITH_DB != 0 {
        database = r.nul_str().filter(|d| !d.is_empty());
    }
    Some(HandshakeResponse::Login {
        capabilities,
        user,
        database,
    })
}

/// An OK packet (header 0x00, or 0xfe when it ends a result set under
/// CLIENT_DEPRECATE_EOF).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OkPacket {
    /// Rows changed by the statement.
    pub affected_rows: u64,
    /// Last AUTO_INCREMENT id.
    pub insert_id: u64,
    /// Server status flags.
    pub status: u16,
    /// Warnings.
    pub warnings: u16,
}

/// Parses an OK packet payload (the header byte included).
pub fn parse_ok(p: &[u8]) -> Option<OkPacket> {
    let mut r = Reader::new(p);
    let h = r.u8()?;
    if h != 0x00 && h != 0xfe {
        return None;
    }
    let affected_rows = r.lenenc()?;
    let insert_id = r.lenenc()?;
    let status = r.u16().unwrap_or(0);
    let warnings = r.u16().unwrap_or(0);
    Some(OkPacket {
        affected_rows,
        insert_id,
        status,
        warnings,
    })
}

/// An ERR packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrPacket<'a> {
    /// The error number, e.g. 1046.
    pub code: u16,
    /// The five-character SQL state, when sent (4.1 protocol).
    pub sql_state: Option<&'a [u8]>,
    /// The human-readable message.
    pub message: &'a [u8],
}

impl ErrPacket<'_> {
    /// `"3D000: No database selected"` (Packetbeat's format), or the
    /// message alone when there is no SQL state.
    pub fn text(&self) -> String {
        let msg = String::from_utf8_lossy(self.message);
        match self.sql_state {
            Some(s) => format!("{}: {msg}", String::from_utf8_lossy(s)),
            None => msg.into_owned(),
        }
    }
}

/// Parses an ERR packet payload (header 0xff included).
pub fn parse_err(p: &[u8]) -> Option<ErrPacket<'_>> {
    let mut r = Reader::new(p);
    if r.u8()? != 0xff {
        return None;
    }
    let code = r.u16()?;
    let mut sql_state = None;
    if r.rest().first() == Some(&b'#') && r.rest().len() >= 6 {
        r.u8()?;
        sql_state = r.take(5);
    }
    Some(ErrPacket {
        code,
        sql_state,
        message: r.rest(),
    })
}

/// Server status flags of an EOF packet (0xfe, warnings, status).
pub fn eof_status(p: &[u8]) -> u16 {
    let mut r = Reader::new(p);
    let _ = r.u8();
    let _ = r.u16();
    r.u16().unwrap_or(0)
}

/// True when a packet of payload length `len` starting with `first` ends
/// a row sequence: a classic EOF (len < 9) or, under
/// CLIENT_DEPRECATE_EOF, an OK packet with a 0xfe header. A row starting
/// with 0xfe carries an 8-byte length and so needs a full 0xffffff packet;
/// the rule holds for both variants, which is what lets mid-stream pickup
/// work without the handshake.
pub fn is_row_terminator(first: u8, len: u32) -> bool {
    first == 0xfe && len < MAX_PAYLOAD
}

/// True when a packet right after the column definitions is a classic EOF
/// (5 bytes: 0xfe, warnings, status; 1 byte before 4.1). An OK terminator
/// under CLIENT_DEPRECATE_EOF is at least 7 bytes.
pub fn is_classic_eof(first: u8, len: u32) -> bool {
    first == 0xfe && len < 7
}

/// The fields of a column definition (Protocol::ColumnDefinition41) that
/// events use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnDef<'a> {
    /// Database (schema) name.
    pub schema: &'a [u8],
    /// Original table name (`org_table`), else the alias.
    pub table: &'a [u8],
    /// Column name (alias).
    pub name: &'a [u8],
    /// Column type (`MYSQL_TYPE_*`).
    pub column_type: u8,
    /// Column flags (0x20 = unsigned).
    pub flags: u16,
}

/// Parses a ColumnDefinition41 payload.
pub fn parse_column_def(p: &[u8]) -> Option<ColumnDef<'_>> {
    let mut r = Reader::new(p);
    let catalog = r.lenenc_str()?;
    if catalog != b"def" {
        return None;
    }
    let schema = r.lenenc_str()?;
    let alias_table = r.lenenc_str()?;
    let org_table = r.lenenc_str()?;
    let name = r.lenenc_str()?;
    r.lenenc_str()?; // org_name
    let mut column_type = 0xfd;
    let mut flags = 0;
    if r.lenenc().is_some() {
        // fixed fields: charset(2) length(4) type(1) flags(2) decimals(1)
        r.u16();
        r.u32();
        column_type = r.u8().unwrap_or(0xfd);
        flags = r.u16().unwrap_or(0);
    }
    Some(ColumnDef {
        schema,
        table: if org_table.is_empty() {
            alias_table
        } else {
            org_table
        },
        name,
        column_type,
        flags,
    })
}

/// Reply to COM_STMT_PREPARE (COM_STMT_PREPARE_OK).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrepareOk {
    /// Statement id used by EXECUTE/CLOSE.
    pub statement_id: u32,
    /// Columns of the result set.
    pub num_columns: u16,
    /// `?` placeholders.
    pub num_params: u16,
}

/// Parses COM_STMT_PREPARE_OK: 0x00, id(4), columns(2), params(2), 0, warnings(2).
pub fn parse_prepare_ok(p: &[u8]) -> Option<PrepareOk> {
    let mut r = Reader::new(p);
    if r.u8()? != 0 {
        return None;
    }
    Some(PrepareOk {
        statement_id: r.u32()?,
        num_columns: r.u16()?,
        num_params: r.u16()?,
    })
}

/// Column/parameter types (`MYSQL_TYPE_*`) with a fixed binary size.
pub mod types {
    /// DECIMAL
    pub const DECIMAL: u8 = 0x00;
    /// TINY
    pub const TINY: u8 = 0x01;
    /// SHORT
    pub const SHORT: u8 = 0x02;
    /// LONG
    pub const LONG: u8 = 0x03;
    /// FLOAT
    pub const FLOAT: u8 = 0x04;
    /// DOUBLE
    pub const DOUBLE: u8 = 0x05;
    /// NULL
    pub const NULL: u8 = 0x06;
    /// TIMESTAMP
    pub const TIMESTAMP: u8 = 0x07;
    /// LONGLONG
    pub const LONGLONG: u8 = 0x08;
    /// INT24
    pub const INT24: u8 = 0x09;
    /// DATE
    pub const DATE: u8 = 0x0a;
    /// TIME
    pub const TIME: u8 = 0x0b;
    /// DATETIME
    pub const DATETIME: u8 = 0x0c;
    /// YEAR
    pub const YEAR: u8 = 0x0d;
}

/// Decodes one value of the binary protocol (COM_STMT_EXECUTE parameters,
/// binary result rows) into text. `None` when the bytes are short or the
/// type unknown (the caller stops decoding the rest).
pub fn binary_value(r: &mut Reader<'_>, ty: u8, unsigned: bool) -> Option<String> {
    use types::*;
    Some(match ty {
        TINY => {
            let v = r.u8()?;
            if unsigned {
                v.to_string()
            } else {
                (v as i8).to_string()
            }
        }
        SHORT | YEAR => {
            let v = r.u16()?;
            if unsigned || ty == YEAR {
                v.to_string()
            } else {
                (v as i16).to_string()
            }
        }
        LONG | INT24 => {
            let v = r.u32()?;
            if unsigned {
                v.to_string()
            } else {
                (v as i32).to_string()
            }
        }
        LONGLONG => {
            let v = r.u64()?;
            if unsigned {
                v.to_string()
            } else {
                (v as i64).to_string()
            }
        }
        FLOAT => f32::from_bits(r.u32()?).to_string(),
        DOUBLE => f64::from_bits(r.u64()?).to_string(),
        NULL => "NULL".to_string(),
        DATE | DATETIME | TIMESTAMP => {
            let n = r.u8()?;
            let mut d = Reader::new(r.take(n.into())?);
            let (y, mo, day) = if n >= 4 {
                (d.u16()?, d.u8()?, d.u8()?)
            } else {
                (0, 0, 0)
            };
            let (h, mi, s) = if n >= 7 {
                (d.u8()?, d.u8()?, d.u8()?)
            } else {
                (0, 0, 0)
            };
            let mut out = format!("{y:04}-{mo:02}-{day:02}");
            if ty != DATE {
                out.push_str(&format!(" {h:02}:{mi:02}:{s:02}"));
                if n >= 11 {
                    out.push_str(&format!(".{:06}", d.u32()?));
                }
            }
            out
        }
        TIME => {
            let n = r.u8()?;
            let mut d = Reader::new(r.take(n.into())?);
            if n == 0 {
                "00:00:00".to_string()
            } else {
                let neg = d.u8()? != 0;
                let days = d.u32()?;
                let (h, mi, s) = (d.u8()?, d.u8()?, d.u8()?);
                let hours = u64::from(days) * 24 + u64::from(h);
                let mut out = format!("{}{hours:02}:{mi:02}:{s:02}", if neg { "-" } else { "" });
                if n >= 12 {
                    out.push_str(&format!(".{:06}", d.u32()?));
                }
                out
            }
        }
        // DECIMAL, VARCHAR, BIT, JSON, NEWDECIMAL, ENUM, SET, BLOBs, strings, GEOMETRY
        DECIMAL | 0x0f | 0x10 | 0xf5..=0xff => {
            String::from_utf8_lossy(r.lenenc_str()?).into_owned()
        }
        _ => return None,
    })
}

/// What the decoder remembers of a prepared statement.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StmtParamTypes {
    /// `(type, unsigned)` per parameter, from the last EXECUTE that bound them.
    pub types: Vec<(u8, bool)>,
}

/// Decodes COM_STMT_EXECUTE parameters (the payload after the command
/// byte and statement id: flags, iteration count, NULL bitmap, bound flag,
/// types, values). `num_params` comes from the prepare reply; `saved` holds
/// the types of an earlier EXECUTE when this one does not rebind. Values
/// are capped at `max_len` bytes each; decoding stops at the first
/// unknown type or short read.
pub fn parse_execute_params(
    after_id: &[u8],
    num_params: usize,
    saved: &mut StmtParamTypes,
    max_params: usize,
    max_len: usize,
) -> Vec<String> {
    let mut out = Vec::new();
    if num_params == 0 {
        return out;
    }
    let mut r = Reader::new(after_id);
    let (Some(_flags), Some(_iter)) = (r.u8(), r.u32()) else {
        return out;
    };
    let Some(nulls) = r.take(num_params.div_ceil(8)) else {
        return out;
    };
    let Some(bound) = r.u8() else {
        return out;
    };
    if bound == 1 {
        let mut ts = Vec::with_capacity(num_params.min(4096));
        for _ in 0..num_params {
            match (r.u8(), r.u8()) {
                (Some(t), Some(f)) => ts.push((t, f & 0x80 != 0)),
                _ => return out,
            }
        }
        saved.types = ts;
    }
    if saved.types.len() != num_params {
        return out;
    }
    for (i, &(t, unsigned)) in saved.types.iter().enumerate() {
        if out.len() >= max_params {
            break;
        }
        let is_null = nulls.get(i / 8).is_some_and(|b| b & (1 << (i % 8)) != 0);
        let v = if is_null {
            "NULL".to_string()
        } else {
            match binary_value(&mut r, t, unsigned) {
                Some(v) => v,
                None => break,
            }
        };
        out.push(truncate_string(v, max_len));
    }
    out
}

/// Query attributes of a COM_QUERY sent with CLIENT_QUERY_ATTRIBUTES.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryAttributes {
    /// (name, value) of the first `max` attributes, each bounded.
    pub attrs: Vec<(String, String)>,
    /// Attributes sent (more than kept when over the bound).
    pub count: u64,
}

/// Splits the body of a COM_QUERY (after the command byte) sent with
/// CLIENT_QUERY_ATTRIBUTES into its attributes and the statement text.
/// Layout (MySQL client/server protocol, COM_QUERY): `parameter_count`
/// (lenenc), `parameter_set_count` (lenenc, always 1); when the count is
/// positive, a NULL bitmap of `(count + 7) / 8` bytes, `new_params_bind_flag`
/// (1 byte, always 1), per parameter its type (2 bytes: type and a flag
/// byte, 0x80 unsigned) and name (lenenc string), then the values in the
/// binary protocol encoding; then the statement (`string<EOF>`). `None`
/// when the body does not follow that layout within its bounds. Values and
/// names are capped at `max_len` bytes; at most `max` are kept.
pub fn split_query_attributes(
    body: &[u8],
    max: usize,
    max_len: usize,
) -> Option<(QueryAttributes, &[u8])> {
    let mut r = Reader::new(body);
    let count = r.lenenc()?;
    let sets = r.lenenc()?;
    if sets != 1 {
        return None;
    }
    let mut qa = QueryAttributes {
        attrs: Vec::new(),
        count,
    };
    if count == 0 {
        return Some((qa, r.rest()));
    }
    // Each parameter needs at least 3 bytes (type and an empty name).
    if count > (body.len() / 3) as u64 {
        return None;
    }
    let n = count as usize;
    let nulls = r.take(n.div_ceil(8))?;
    if r.u8()? != 1 {
        return None;
    }
    let mut types = Vec::with_capacity(n.min(4096));
    for _ in 0..n {
        let t = r.u8()?;
        let f = r.u8()?;
        let name = r.lenenc_str()?;
        types.push((t, f & 0x80 != 0, name));
    }
    for (i, (t, unsigned, name)) in types.into_iter().enumerate() {
        let is_null = nulls.get(i / 8).is_some_and(|b| b & (1 << (i % 8)) != 0);
        let v = if is_null {
            "NULL".to_string()
        } else {
            binary_value(&mut r, t, unsigned)?
        };
        if qa.attrs.len() < max {
            qa.attrs.push((
                truncate_string(String::from_utf8_lossy(name).into_owned(), max_len),
                truncate_string(v, max_len),
            ));
        }
    }
    Some((qa, r.rest()))
}

/// Cuts `s` to at most `max` bytes at a character boundary.
pub fn truncate_string(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while cut > 0 && !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

/// Decodes a text-protocol row into column strings (`NULL` for 0xfb),
/// keeping at most `max_len` bytes in total (Packetbeat's
/// `max_row_length`). Stops at the first malformed value.
pub fn text_row(p: &[u8], max_len: usize, out: &mut Vec<String>) {
    let mut r = Reader::new(p);
    let mut used = 0usize;
    while !r.rest().is_empty() {
        let v: &[u8] = if r.rest()[0] == 0xfb {
            r.u8();
            b"NULL"
        } else {
            match r.lenenc_str() {
                Some(v) => v,
                None => return,
            }
        };
        if used < max_len {
            let keep = v.len().min(max_len - used);
            out.push(String::from_utf8_lossy(v.get(..keep).unwrap_or(v)).into_owned());
            used += keep;
        }
    }
}

/// Decodes a binary-protocol row (0x00, NULL bitmap with a 2-bit offset,
/// values) using the column types.
pub fn binary_row(p: &[u8], cols: &[(u8, bool)], max_len: usize, out: &mut Vec<String>) {
    let mut r = Reader::new(p);
    if r.u8() != Some(0) {
        return;
    }
    let Some(nulls) = r.take((cols.len() + 7 + 2) / 8) else {
        return;
    };
    let mut used = 0usize;
    for (i, &(t, unsigned)) in cols.iter().enumerate() {
        let bit = i + 2;
        let v = if nulls
            .get(bit / 8)
            .is_some_and(|b| b & (1 << (bit % 8)) != 0)
        {
            "NULL".to_string()
        } else {
            match binary_value(&mut r, t, unsigned) {
                Some(v) => v,
                None => return,
            }
        };
        if used < max_len {
            let v = truncate_string(v, max_len - used);
            used += v.len();
            out.push(v);
        }
    }
}

/// Packetbeat's `method`: the first word of the statement, upper case,
/// after whitespace (including CRLF), SQL comments and opening
/// parentheses. Returns an empty string for an empty statement.
pub fn sql_method(query: &[u8]) -> String {
    String::from_utf8_lossy(sql_method_word(query)).to_ascii_uppercase()
}

/// The bytes [`sql_method`] is made of (before it is made text and
/// upper-cased), for callers that compare it against the methods they
/// already hold instead of allocating one per statement.
pub fn sql_method_word(query: &[u8]) -> &[u8] {
    let q = skip_sql_noise(query);
    let end = q
        .iter()
        .position(|c| !(c.is_ascii_alphanumeric() || *c == b'_'))
        .unwrap_or(q.len());
    let word = if end == 0 {
        // Not a keyword: take up to whitespace, like Packetbeat.
        let e = q
            .iter()
            .position(|c| c.is_ascii_whitespace())
            .unwrap_or(q.len());
        &q[..e.min(32)]
    } else {
        &q[..end.min(32)]
    };
    word
}

/// Skips leading whitespace, `/* */`, `-- ` and `#` comments and `(`.
fn skip_sql_noise(mut q: &[u8]) -> &[u8] {
    loop {
        let before = q.len();
        while let Some((&c, rest)) = q.split_first() {
            if c.is_ascii_whitespace() || c == b'(' {
                q = rest;
            } else {
                break;
            }
        }
        if q.starts_with(b"/*") {
            q = match q.windows(2).position(|w| w == b"*/") {
                Some(i) => q.get(i + 2..).unwrap_or(&[]),
                None => &[],
            };
        } else if q.starts_with(b"-- ") || q.starts_with(b"#") {
            q = match q.iter().position(|&c| c == b'\n') {
                Some(i) => q.get(i + 1..).unwrap_or(&[]),
                None => &[],
            };
        }
        if q.len() == before {
            return q;
        }
    }
}

/// Trims whitespace and CR/LF around a statement (the `query` field).
pub fn trim_sql(q: &[u8]) -> &[u8] {
    let start = q
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(q.len());
    let end = q
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    q.get(start..end).unwrap_or(&[])
}

/// The table a statement names, from its text: the identifier after
/// `FROM`, `INTO`, `UPDATE`, `TABLE` (skipping `IF [NOT] EXISTS`) or
/// `JOIN`, backticks removed. Returns `(database, table)` with the
/// database only when the name is qualified.
pub fn sql_table(query: &[u8]) -> Option<(Option<String>, String)> {
    let head = query.get(..query.len().min(4096))?;
    if head.is_ascii() {
        return sql_table_ascii(head);
    }
    sql_table_text(query)
}

/// Words of [`sql_table`] that come before the table name.
const TABLE_KEYWORDS: [&[u8]; 5] = [b"FROM", b"INTO", b"UPDATE", b"TABLE", b"JOIN"];
const TABLE_NOISE: [&[u8]; 8] = [
    b"IF",
    b"NOT",
    b"EXISTS",
    b"LOW_PRIORITY",
    b"IGNORE",
    b"TEMPORARY",
    b"TABLE",
    b"ONLY",
];

/// Whether `w` is one of the keywords of `set`, in any case.
fn is_one_of(w: &[u8], set: &[&[u8]]) -> bool {
    set.iter().any(|k| w.eq_ignore_ascii_case(k))
}

/// `db.table` as `(Some(db), table)`; any other name as the table alone.
fn qualified(name: String) -> (Option<String>, String) {
    match name.split_once('.') {
        Some((db, t)) if !db.is_empty() && !t.is_empty() => (Some(db.to_string()), t.to_string()),
        _ => (None, name),
    }
}

/// [`sql_table`] of ASCII text, on the bytes: no copy of the statement, no
/// upper-cased copy of each word (the same answer as [`sql_table_text`]:
/// for ASCII, `char::is_whitespace` is space, `\t`, `\n`, `\x0b`, `\x0c`
/// and `\r`, and `is_alphanumeric` is `is_ascii_alphanumeric`; tested).
fn sql_table_ascii(text: &[u8]) -> Option<(Option<String>, String)> {
    let sep = |b: &u8| {
        matches!(
            b,
            b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b'(' | b',' | b';'
        )
    };
    let mut words = text.split(sep).filter(|w| !w.is_empty());
    while let Some(w) = words.next() {
        if !is_one_of(w, &TABLE_KEYWORDS) {
            continue;
        }
        let mut name = words.next()?;
        while is_one_of(name, &TABLE_NOISE) {
            name = words.next()?;
        }
        let name: String = name
            .iter()
            .filter(|&&b| b != b'`')
            .map(|&b| char::from(b))
            .collect();
        if name.is_empty()
            || !name
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'$')
        {
            return None;
        }
        return Some(qualified(name));
    }
    None
}

/// [`sql_table`] of any statement, as text (the reference for
/// [`sql_table_ascii`]).
fn sql_table_text(query: &[u8]) -> Option<(Option<String>, String)> {
    let text = String::from_utf8_lossy(query.get(..query.len().min(4096))?);
    let mut words = text
        .split(|c: char| c.is_whitespace() || c == '(' || c == ',' || c == ';')
        .filter(|w| !w.is_empty());
    while let Some(w) = words.next() {
        if !is_one_of(w.as_bytes(), &TABLE_KEYWORDS) {
            continue;
        }
        let mut name = words.next()?;
        while is_one_of(name.as_bytes(), &TABLE_NOISE) {
            name = words.next()?;
        }
        let name = name.replace('`', "");
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '.' || c == '$')
        {
            return None;
        }
        return Some(qualified(name));
    }
    None
}

/// True when `h` (with the payload bytes in `p`, possibly a prefix)
/// looks like the first packet of a client command: sequence id 0, a
/// known command byte, a sane length, and for COM_QUERY text that starts
/// like SQL. Used to find the next request after a gap.
pub fn plausible_command(h: PacketHeader, p: &[u8]) -> bool {
    if h.seq != 0 || h.len == 0 || h.len > 64 << 20 {
        return false;
    }
    let Some(&c) = p.first() else {
        return false;
    };
    if command_name(c).is_none() {
        return false;
    }
    match c {
        cmd::QUIT | cmd::PING | cmd::STATISTICS | cmd::RESET_CONNECTION => h.len == 1,
        cmd::QUERY | cmd::STMT_PREPARE => {
            h.len > 1
                && p.get(1)
                    .is_none_or(|&b| b.is_ascii_graphic() || b.is_ascii_whitespace())
        }
        cmd::STMT_EXECUTE | cmd::STMT_CLOSE | cmd::STMT_RESET => h.len >= 5,
        cmd::INIT_DB => h.len > 1 && h.len < 256,
        _ => true,
    }
}

#[cfg(test)]
mod table_tests {
    use super::*;

    #[test]
    fn ascii_table_scan_equals_the_text_one() {
        let words: &[&[u8]] = &[
            b"select",
            b"a",
            b"FROM",
            b"from",
            b"From",
            b"into",
            b"UPDATE",
            b"table",
            b"join",
            b"if",
            b"NOT",
            b"exists",
            b"low_priority",
            b"ignore",
            b"temporary",
            b"only",
            b"t1",
            b"`db`.`t1`",
            b"db.",
            b".t",
            b"a$b",
            b"x-y",
            b"``",
            b"db.t.u",
            b"",
        ];
        let seps: &[&[u8]] = &[
            b" ", b"\t", b"\n", b"\x0b", b"\x0c", b"\r", b"(", b",", b";", b" ,\x0b",
        ];
        // Every sequence of three words with every pair of separators.
        let mut n = 0;
        for a in words {
            for b in words {
                for c in words {
                    for (i, s1) in seps.iter().enumerate() {
                        let s2 = seps[(i * 7 + a.len()) % seps.len()];
                        let q = [*a, *s1, *b, s2, *c].concat();
                        assert_eq!(
                            sql_table_ascii(&q),
                            sql_table_text(&q),
                            "{:?}",
                            String::from_utf8_lossy(&q)
                        );
                        assert_eq!(sql_table(&q), sql_table_text(&q));
                        n += 1;
                    }
                }
            }
        }
        assert!(n > 100_000);
        // Non-ASCII statements take the text path.
        assert_eq!(
            sql_table("select * from café".as_bytes()),
            Some((None, "café".into()))
        );
        assert_eq!(sql_table(b"select * from t\xff"), None);
    }
}
