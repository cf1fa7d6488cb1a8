//! ONC RPC and NFS wire formats: pure, bounded functions over byte slices.
//!
//! - RFC 5531 (ONC RPC v2): call and reply headers, auth flavours
//!   (AUTH_NONE, AUTH_SYS/AUTH_UNIX, RPCSEC_GSS per RFC 2203), and the TCP
//!   record marking (a 4-byte header per fragment: last-fragment bit and
//!   31-bit length; a record is fragments up to the last one).
//! - RFC 4506 (XDR): big-endian 4-byte units, opaque data padded to 4.
//! - RFC 1813 (NFSv3): procedure numbers, the file handle that leads the
//!   arguments of every procedure but NULL, `nfsstat3`.
//! - RFC 7530 / 8881 / 7862 (NFSv4.0 / 4.1 / 4.2): COMPOUND with its tag,
//!   minor version and operations; the arguments of the operations that are
//!   read here to reach the next one; `nfsstat4`.
//!
//! A message is read from a prefix of its record (the session keeps at
//! most `max_header_size` bytes of each record and skips the rest, so a
//! 1 MiB WRITE never sits in memory): running out of bytes inside that
//! prefix ends the operation list early (`ops_truncated`), never an error.

/// The NFS program number.
pub const NFS_PROGRAM: u32 = 100_003;

/// An XDR read position.
#[derive(Debug, Clone)]
pub struct Xdr<'a> {
    b: &'a [u8],
    pos: usize,
}

/// Ran out of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Short;

type R<T> = Result<T, Short>;

impl<'a> Xdr<'a> {
    /// Reads from the start of `b`.
    pub fn new(b: &'a [u8]) -> Self {
        Xdr { b, pos: 0 }
    }

    /// Bytes read so far.
    pub fn pos(&self) -> usize {
        self.pos
    }

    fn take(&mut self, n: usize) -> R<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or(Short)?;
        if end > self.b.len() {
            return Err(Short);
        }
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    /// One unsigned int.
    pub fn u32(&mut self) -> R<u32> {
        let s = self.take(4)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }

    /// One unsigned hyper.
    pub fn u64(&mut self) -> R<u64> {
        Ok((u64::from(self.u32()?) << 32) | u64::from(self.u32()?))
    }

    /// `n` bytes of fixed opaque data (padded to 4).
    pub fn fixed(&mut self, n: usize) -> R<&'a [u8]> {
        let s = self.take(n)?;
        self.take((4 - n % 4) % 4)?;
        Ok(s)
    }

    /// Variable-length opaque data or a string (length, bytes, padding).
    pub fn opaque(&mut self) -> R<&'a [u8]> {
        let n = self.u32()? as usize;
        self.fixed(n)
    }

    /// Skips `n` unsigned ints.
    pub fn skip(&mut self, n: usize) -> R<()> {
        self.take(n.checked_mul(4).ok_or(Short)?).map(|_| ())
    }

    /// A bitmap4 / array of u32 (skipped).
    pub fn skip_u32_array(&mut self) -> R<()> {
        let n = self.u32()? as usize;
        self.skip(n)
    }

    /// The rest.
    pub fn rest(&self) -> &'a [u8] {
        &self.b[self.pos.min(self.b.len())..]
    }
}

/// The credentials of a call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cred {
    /// The flavour number.
    pub flavor: u32,
    /// AUTH_UNIX stamp.
    pub stamp: Option<u32>,
    /// AUTH_UNIX machine name (at most 255 bytes, lossy UTF-8).
    pub machine: Option<String>,
    /// AUTH_UNIX uid.
    pub uid: Option<u32>,
    /// AUTH_UNIX gid.
    pub gid: Option<u32>,
    /// AUTH_UNIX supplementary gids (at most 16, as RFC 5531 allows).
    pub gids: Vec<u32>,
    /// RPCSEC_GSS: procedure, sequence number, service.
    pub gss: Option<(u32, u32, u32)>,
}

/// RPC auth flavour names (RFC 5531 and the IANA registry).
pub fn flavor_name(f: u32) -> &'static str {
    match f {
        0 => "none",
        1 => "unix",
        2 => "short",
        3 => "des",
        4 => "kerb4",
        6 => "rpcsec_gss",
        390003 => "krb5",
        390004 => "krb5i",
        390005 => "krb5p",
        _ => "unknown",
    }
}

/// RPCSEC_GSS procedure names (RFC 2203).
pub fn gss_proc_name(p: u32) -> &'static str {
    match p {
        0 => "data",
        1 => "init",
        2 => "continue_init",
        3 => "destroy",
        _ => "unknown",
    }
}

/// RPCSEC_GSS service names.
pub fn gss_service_name(s: u32) -> &'static str {
    match s {
        1 => "none",
        2 => "integrity",
        3 => "privacy",
        _ => "unknown",
    }
}

/// A call header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallHeader {
    /// Transaction id.
    pub xid: u32,
    /// RPC version (2).
    pub rpcvers: u32,
    /// Program number.
    pub prog: u32,
    /// Program version.
    pub vers: u32,
    /// Procedure.
    pub proc_: u32,
    /// Credentials.
    pub cred: Cred,
}

/// A reply header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyStat {
    /// MSG_ACCEPTED with its accept_stat (0 success, 1 prog_unavail,
    /// 2 prog_mismatch, 3 proc_unavail, 4 garbage_args, 5 system_err).
    Accepted(u32),
    /// MSG_DENIED with its reject_stat (0 rpc_mismatch, 1 auth_error).
    Denied(u32),
}

impl ReplyStat {
    /// Packetbeat's `rpc.status` words.
    pub fn name(self) -> &'static str {
        match self {
            ReplyStat::Accepted(0) => "success",
            ReplyStat::Accepted(1) => "prog_unavail",
            ReplyStat::Accepted(2) => "prog_mismatch",
            ReplyStat::Accepted(3) => "proc_unavail",
            ReplyStat::Accepted(4) => "garbage_args",
            ReplyStat::Accepted(5) => "system_err",
            ReplyStat::Accepted(_) => "unknown",
            ReplyStat::Denied(0) => "rpc_mismatch",
            ReplyStat::Denied(1) => "auth_error",
            ReplyStat::Denied(_) => "denied",
        }
    }
}

/// One RPC message header and where its body starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rpc {
    /// A call; the procedure's arguments follow at `body`.
    Call(CallHeader, usize),
    /// A reply; the results follow at `body` when accepted with success.
    Reply(u32, ReplyStat, usize),
}

/// Why a header is not an RPC message.
pub type Bad = &'static str;

/// Reads an RPC message header from a record's first bytes. `Err(None)`:
/// more bytes are needed; `Err(Some(why))`: not RPC.
pub fn rpc(b: &[u8]) -> Result<Rpc, Option<Bad>> {
    let mut x = Xdr::new(b);
    let xid = x.u32().map_err(|_| None)?;
    match x.u32().map_err(|_| None)? {
        0 => {
            let rpcvers = x.u32().map_err(|_| None)?;
            if rpcvers != 2 {
                return Err(Some("RPC version is not 2"));
            }
            let prog = x.u32().map_err(|_| None)?;
            let vers = x.u32().map_err(|_| None)?;
            let proc_ = x.u32().map_err(|_| None)?;
            let flavor = x.u32().map_err(|_| None)?;
            let body = x.opaque().map_err(|_| None)?;
            if body.len() > 400 {
                return Err(Some("credentials longer than 400 bytes"));
            }
            let cred = cred(flavor, body);
            let _vf = x.u32().map_err(|_| None)?;
            let verf = x.opaque().map_err(|_| None)?;
            if verf.len() > 400 {
                return Err(Some("verifier longer than 400 bytes"));
            }
            Ok(Rpc::Call(
                CallHeader {
                    xid,
                    rpcvers,
                    prog,
                    vers,
                    proc_,
                    cred,
                },
                x.pos(),
            ))
        }
        1 => match x.u32().map_err(|_| None)? {
            0 => {
                let _vf = x.u32().map_err(|_| None)?;
                let verf = x.opaque().map_err(|_| None)?;
                if verf.len() > 400 {
                    return Err(Some("verifier longer than 400 bytes"));
                }
                let st = x.u32().map_err(|_| None)?;
                if st > 5 {
                    return Err(Some("unknown accept status"));
                }
                Ok(Rpc::Reply(xid, ReplyStat::Accepted(st), x.pos()))
            }
            1 => {
                let st = x.u32().map_err(|_| None)?;
                if st > 1 {
                    return Err(Some("unknown reject status"));
                }
                Ok(Rpc::Reply(xid, ReplyStat::Denied(st), x.pos()))
            }
            _ => Err(Some("unknown reply status")),
        },
        _ => Err(Some("unknown RPC message type")),
    }
}

fn cred(flavor: u32, body: &[u8]) -> Cred {
    let mut c = Cred {
        flavor,
        ..Cred::default()
    };
    let mut x = Xdr::new(body);
    match flavor {
        1 => {
            c.stamp = x.u32().ok();
            if let Ok(m) = x.opaque() {
                c.machine = Some(String::from_utf8_lossy(&m[..m.len().min(255)]).into_owned());
            }
            c.uid = x.u32().ok();
            c.gid = x.u32().ok();
            if let Ok(n) = x.u32() {
                for _ in 0..n.min(16) {
                    match x.u32() {
                        Ok(g) => c.gids.push(g),
                        Err(_) => break,
                    }
                }
            }
        }
        6 => {
            let v = x.u32();
            let p = x.u32();
            let s = x.u32();
            let svc = x.u32();
            if let (Ok(1), Ok(p), Ok(s), Ok(svc)) = (v, p, s, svc) {
                c.gss = Some((p, s, svc));
            }
        }
        _ => {}
    }
    c
}

/// NFSv3 procedure names (RFC 1813).
pub fn v3_proc_name(p: u32) -> &'static str {
    const N: [&str; 22] = [
        "NULL",
        "GETATTR",
        "SETATTR",
        "LOOKUP",
        "ACCESS",
        "READLINK",
        "READ",
        "WRITE",
        "CREATE",
        "MKDIR",
        "SYMLINK",
        "MKNOD",
        "REMOVE",
        "RMDIR",
        "RENAME",
        "LINK",
        "READDIR",
        "READDIRPLUS",
        "FSSTAT",
        "FSINFO",
        "PATHCONF",
        "COMMIT",
    ];
    N.get(p as usize).copied().unwrap_or("UNKNOWN")
}

/// NFSv2 procedure names (RFC 1094).
pub fn v2_proc_name(p: u32) -> &'static str {
    const N: [&str; 18] = [
        "NULL",
        "GETATTR",
        "SETATTR",
        "ROOT",
        "LOOKUP",
        "READLINK",
        "READ",
        "WRITECACHE",
        "WRITE",
        "CREATE",
        "REMOVE",
        "RENAME",
        "LINK",
        "SYMLINK",
        "MKDIR",
        "RMDIR",
        "READDIR",
        "STATFS",
    ];
    N.get(p as usize).copied().unwrap_or("UNKNOWN")
}

/// NFSv4 operation names (RFC 7530, 8881, 7862).
pub fn v4_op_name(op: u32) -> &'static str {
    const N: [&str; 72] = [
        "",
        "",
        "",
        "ACCESS",
        "CLOSE",
        "COMMIT",
        "CREATE",
        "DELEGPURGE",
        "DELEGRETURN",
        "GETATTR",
        "GETFH",
        "LINK",
        "LOCK",
        "LOCKT",
        "LOCKU",
        "LOOKUP",
        "LOOKUPP",
        "NVERIFY",
        "OPEN",
        "OPENATTR",
        "OPEN_CONFIRM",
        "OPEN_DOWNGRADE",
        "PUTFH",
        "PUTPUBFH",
        "PUTROOTFH",
        "READ",
        "READDIR",
        "READLINK",
        "REMOVE",
        "RENAME",
        "RENEW",
        "RESTOREFH",
        "SAVEFH",
        "SECINFO",
        "SETATTR",
        "SETCLIENTID",
        "SETCLIENTID_CONFIRM",
        "VERIFY",
        "WRITE",
        "RELEASE_LOCKOWNER",
        "BACKCHANNEL_CTL",
        "BIND_CONN_TO_SESSION",
        "EXCHANGE_ID",
        "CREATE_SESSION",
        "DESTROY_SESSION",
        "FREE_STATEID",
        "GET_DIR_DELEGATION",
        "GETDEVICEINFO",
        "GETDEVICELIST",
        "LAYOUTCOMMIT",
        "LAYOUTGET",
        "LAYOUTRETURN",
        "SECINFO_NO_NAME",
        "SEQUENCE",
        "SET_SSV",
        "TEST_STATEID",
        "WANT_DELEGATION",
        "DESTROY_CLIENTID",
        "RECLAIM_COMPLETE",
        "ALLOCATE",
        "COPY",
        "COPY_NOTIFY",
        "DEALLOCATE",
        "IO_ADVISE",
        "LAYOUTERROR",
        "LAYOUTSTATS",
        "OFFLOAD_CANCEL",
        "OFFLOAD_STATUS",
        "READ_PLUS",
        "SEEK",
        "WRITE_SAME",
        "CLONE",
    ];
    match op {
        10044 => "ILLEGAL",
        3..=71 => N[op as usize],
        _ => "ILLEGAL",
    }
}

/// The operations that make a compound what it is (Packetbeat's "first
/// class" operations): every operation except the file handle, attribute
/// and session plumbing (PUTFH, PUTROOTFH, PUTPUBFH, GETFH, GETATTR,
/// SAVEFH, RESTOREFH, LOOKUP, LOOKUPP, VERIFY, NVERIFY, SECINFO, RENEW,
/// SEQUENCE).
pub fn v4_first_class(op: u32) -> bool {
    !matches!(
        op,
        9 | 10 | 15 | 16 | 17 | 22 | 23 | 24 | 30 | 31 | 32 | 33 | 37 | 53
    ) && (3..=71).contains(&op)
}

/// Status names, NFSv3 and v4 alike (Packetbeat's words: `NFS_OK`,
/// `NFSERR_<name>`).
pub fn status_name(s: u32) -> &'static str {
    match s {
        0 => "NFS_OK",
        1 => "NFSERR_PERM",
        2 => "NFSERR_NOENT",
        5 => "NFSERR_IO",
        6 => "NFSERR_NXIO",
        13 => "NFSERR_ACCESS",
        17 => "NFSERR_EXIST",
        18 => "NFSERR_XDEV",
        19 => "NFSERR_NODEV",
        20 => "NFSERR_NOTDIR",
        21 => "NFSERR_ISDIR",
        22 => "NFSERR_INVAL",
        27 => "NFSERR_FBIG",
        28 => "NFSERR_NOSPC",
        30 => "NFSERR_ROFS",
        31 => "NFSERR_MLINK",
        63 => "NFSERR_NAMETOOLONG",
        66 => "NFSERR_NOTEMPTY",
        69 => "NFSERR_DQUOT",
        70 => "NFSERR_STALE",
        71 => "NFSERR_REMOTE",
        99 => "NFSERR_WFLUSH",
        10001..=10086 => V4_ERR[(s - 10001) as usize],
        10087..=10099 => "NFSERR_UNKNOWN",
        _ => "NFSERR_UNKNOWN",
    }
}

const V4_ERR: [&str; 86] = [
    "NFSERR_BADHANDLE",
    "NFSERR_NOT_SYNC",
    "NFSERR_BAD_COOKIE",
    "NFSERR_NOTSUPP",
    "NFSERR_TOOSMALL",
    "NFSERR_SERVERFAULT",
    "NFSERR_BADTYPE",
    "NFSERR_DELAY",
    "NFSERR_SAME",
    "NFSERR_DENIED",
    "NFSERR_EXPIRED",
    "NFSERR_LOCKED",
    "NFSERR_GRACE",
    "NFSERR_FHEXPIRED",
    "NFSERR_SHARE_DENIED",
    "NFSERR_WRONGSEC",
    "NFSERR_CLID_INUSE",
    "NFSERR_RESOURCE",
    "NFSERR_MOVED",
    "NFSERR_NOFILEHANDLE",
    "NFSERR_MINOR_VERS_MISMATCH",
    "NFSERR_STALE_CLIENTID",
    "NFSERR_STALE_STATEID",
    "NFSERR_OLD_STATEID",
    "NFSERR_BAD_STATEID",
    "NFSERR_BAD_SEQID",
    "NFSERR_NOT_SAME",
    "NFSERR_LOCK_RANGE",
    "NFSERR_SYMLINK",
    "NFSERR_RESTOREFH",
    "NFSERR_LEASE_MOVED",
    "NFSERR_ATTRNOTSUPP",
    "NFSERR_NO_GRACE",
    "NFSERR_RECLAIM_BAD",
    "NFSERR_RECLAIM_CONFLICT",
    "NFSERR_BADXDR",
    "NFSERR_LOCKS_HELD",
    "NFSERR_OPENMODE",
    "NFSERR_BADOWNER",
    "NFSERR_BADCHAR",
    "NFSERR_BADNAME",
    "NFSERR_BAD_RANGE",
    "NFSERR_LOCK_NOTSUPP",
    "NFSERR_OP_ILLEGAL",
    "NFSERR_DEADLOCK",
    "NFSERR_FILE_OPEN",
    "NFSERR_ADMIN_REVOKED",
    "NFSERR_CB_PATH_DOWN",
    "NFSERR_BADIOMODE",
    "NFSERR_BADLAYOUT",
    "NFSERR_BAD_SESSION_DIGEST",
    "NFSERR_BADSESSION",
    "NFSERR_BADSLOT",
    "NFSERR_COMPLETE_ALREADY",
    "NFSERR_CONN_NOT_BOUND_TO_SESSION",
    "NFSERR_DELEG_ALREADY_WANTED",
    "NFSERR_BACK_CHAN_BUSY",
    "NFSERR_LAYOUTTRYLATER",
    "NFSERR_LAYOUTUNAVAILABLE",
    "NFSERR_NOMATCHING_LAYOUT",
    "NFSERR_RECALLCONFLICT",
    "NFSERR_UNKNOWN_LAYOUTTYPE",
    "NFSERR_SEQ_MISORDERED",
    "NFSERR_SEQUENCE_POS",
    "NFSERR_REQ_TOO_BIG",
    "NFSERR_REP_TOO_BIG",
    "NFSERR_REP_TOO_BIG_TO_CACHE",
    "NFSERR_RETRY_UNCACHED_REP",
    "NFSERR_UNSAFE_COMPOUND",
    "NFSERR_TOO_MANY_OPS",
    "NFSERR_OP_NOT_IN_SESSION",
    "NFSERR_HASH_ALG_UNSUPP",
    "NFSERR_CONN_BINDING_NOT_ENFORCED",
    "NFSERR_CLIENTID_BUSY",
    "NFSERR_PNFS_IO_HOLE",
    "NFSERR_SEQ_FALSE_RETRY",
    "NFSERR_BAD_HIGH_SLOT",
    "NFSERR_DEADSESSION",
    "NFSERR_ENCR_ALG_UNSUPP",
    "NFSERR_PNFS_NO_LAYOUT",
    "NFSERR_NOT_ONLY_OP",
    "NFSERR_WRONG_CRED",
    "NFSERR_WRONG_TYPE",
    "NFSERR_DIRDELEG_UNAVAIL",
    "NFSERR_REJECT_DELEG",
    "NFSERR_RETURNCONFLICT",
];

/// What an NFS call says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NfsCall {
    /// The operation (v2/v3 procedure, v4 main operation, or NULL/COMPOUND).
    pub opcode: &'static str,
    /// v4: the COMPOUND tag (at most 256 bytes, lossy UTF-8).
    pub tag: Option<String>,
    /// v4: the minor version.
    pub minor: Option<u32>,
    /// v4: the operations, in order (at most `max_ops`).
    pub ops: Vec<&'static str>,
    /// v4: not every operation could be listed (more than `max_ops`, an
    /// operation whose arguments are not read here, or the kept prefix of
    /// the record ended).
    pub ops_truncated: bool,
    /// The file handle the operation works on (v2/v3: the first
    /// argument; v4: the current file handle at the main operation).
    pub fh: Option<Vec<u8>>,
    /// The arguments could not be read (RPCSEC_GSS privacy).
    pub opaque_args: bool,
}

/// Reads an NFS call's arguments (`b` starts at the procedure's arguments).
pub fn nfs_call(
    vers: u32,
    proc_: u32,
    gss_service: Option<u32>,
    b: &[u8],
    max_ops: usize,
) -> NfsCall {
    let mut x = Xdr::new(b);
    let mut c = NfsCall::default();
    match gss_service {
        Some(3) => {
            c.opaque_args = true;
        }
        Some(2) => {
            // rpc_gss_integ_data: opaque databody (seq_num, then the args).
            let _ = x.u32();
            let _ = x.u32();
        }
        _ => {}
    }
    match vers {
        2 | 3 => {
            c.opcode = if vers == 3 {
                v3_proc_name(proc_)
            } else {
                v2_proc_name(proc_)
            };
            if proc_ != 0 && !c.opaque_args {
                c.fh = if vers == 3 {
                    x.opaque()
                        .ok()
                        .filter(|f| f.len() <= 64)
                        .map(<[u8]>::to_vec)
                } else {
                    x.fixed(32).ok().map(<[u8]>::to_vec)
                };
            }
        }
        4 => match proc_ {
            0 => c.opcode = "NULL",
            1 if c.opaque_args => c.opcode = "COMPOUND",
            1 => compound(&mut x, &mut c, max_ops),
            _ => c.opcode = "UNKNOWN",
        },
        _ => c.opcode = "UNKNOWN",
    }
    c
}

fn compound(x: &mut Xdr<'_>, c: &mut NfsCall, max_ops: usize) {
    c.opcode = "ILLEGAL";
    let Ok(tag) = x.opaque() else {
        c.ops_truncated = true;
        return;
    };
    c.tag = Some(String::from_utf8_lossy(&tag[..tag.len().min(256)]).into_owned());
    c.minor = x.u32().ok();
    let Ok(n) = x.u32() else {
        c.ops_truncated = true;
        return;
    };
    let mut main: Option<&'static str> = None;
    let mut fh: Option<&[u8]> = None;
    let mut saved: Option<&[u8]> = None;
    let mut main_fh: Option<&[u8]> = None;
    for i in 0..n {
        if i as usize >= max_ops {
            c.ops_truncated = true;
            break;
        }
        let Ok(op) = x.u32() else {
            c.ops_truncated = true;
            break;
        };
        let name = v4_op_name(op);
        c.ops.push(name);
        c.opcode = name;
        if main.is_none() && v4_first_class(op) {
            main = Some(name);
            main_fh = fh;
        }
        match skip_v4_args(x, op, &mut fh, &mut saved) {
            Ok(true) => {}
            Ok(false) | Err(Short) => {
                c.ops_truncated = i + 1 < n;
                break;
            }
        }
    }
    if let Some(m) = main {
        c.opcode = m;
        c.fh = main_fh.map(<[u8]>::to_vec);
    } else {
        c.fh = fh.map(<[u8]>::to_vec);
    }
}

/// A stateid4: seqid and 12 opaque bytes.
fn stateid(x: &mut Xdr<'_>) -> R<()> {
    x.skip(4)
}

/// fattr4: a bitmap and the attribute values as opaque data.
fn fattr4(x: &mut Xdr<'_>) -> R<()> {
    x.skip_u32_array()?;
    x.opaque().map(|_| ())
}

/// Skips one operation's arguments, following PUTFH / SAVEFH /
/// RESTOREFH for the current file handle; `Ok(false)`: not read here.
fn skip_v4_args<'a>(
    x: &mut Xdr<'a>,
    op: u32,
    fh: &mut Option<&'a [u8]>,
    saved: &mut Option<&'a [u8]>,
) -> R<bool> {
    match op {
        // ACCESS, SECINFO_NO_NAME, RECLAIM_COMPLETE: one u32.
        3 | 52 | 58 => x.skip(1)?,
        // CLOSE: seqid, stateid.
        4 => {
            x.skip(1)?;
            stateid(x)?;
        }
        // COMMIT: offset, count.
        5 => x.skip(3)?,
        // CREATE: type (links carry data, devices two u32), name, attributes.
        6 => {
            match x.u32()? {
                5 => {
                    x.opaque()?;
                }
                3 | 4 => x.skip(2)?,
                _ => {}
            }
            x.opaque()?;
            fattr4(x)?;
        }
        // DELEGPURGE: clientid. DESTROY_CLIENTID: clientid.
        7 | 57 => x.skip(2)?,
        // DELEGRETURN, FREE_STATEID: stateid.
        8 | 45 => stateid(x)?,
        // GETATTR: bitmap.
        9 => x.skip_u32_array()?,
        // GETFH, LOOKUPP, PUTPUBFH, PUTROOTFH, READLINK: nothing.
        10 | 16 | 27 => {}
        23 | 24 => *fh = None,
        // LINK, LOOKUP, REMOVE, SECINFO: a name.
        11 | 15 | 28 | 33 => {
            x.opaque()?;
        }
        // LOCKT: type, offset, length, owner (clientid, opaque).
        13 => {
            x.skip(5)?;
            x.skip(2)?;
            x.opaque()?;
        }
        // LOCKU: type, seqid, stateid, offset, length.
        14 => {
            x.skip(2)?;
            stateid(x)?;
            x.skip(4)?;
        }
        // NVERIFY, VERIFY: attributes.
        17 | 37 => fattr4(x)?,
        // OPEN_CONFIRM: stateid, seqid.
        20 => {
            stateid(x)?;
            x.skip(1)?;
        }
        // OPEN_DOWNGRADE: stateid, seqid, access, deny.
        21 => {
            stateid(x)?;
            x.skip(3)?;
        }
        // PUTFH: the file handle (at most 128 bytes).
        22 => {
            let f = x.opaque()?;
            if f.len() > 128 {
                return Ok(false);
            }
            *fh = Some(f);
        }
        // READ: stateid, offset, count.
        25 => {
            stateid(x)?;
            x.skip(3)?;
        }
        // READDIR: cookie, verifier, dircount, maxcount, bitmap.
        26 => {
            x.skip(6)?;
            x.skip_u32_array()?;
        }
        // RENAME: two names.
        29 => {
            x.opaque()?;
            x.opaque()?;
        }
        // RENEW: clientid.
        30 => x.skip(2)?,
        31 => *fh = *saved,
        32 => *saved = *fh,
        // SETATTR: stateid, attributes.
        34 => {
            stateid(x)?;
            fattr4(x)?;
        }
        // WRITE: stateid, offset, stable, data.
        38 => {
            stateid(x)?;
            x.skip(3)?;
            x.opaque()?;
        }
        // DESTROY_SESSION: sessionid.
        44 => x.skip(4)?,
        // LAYOUTGET: signal, type, iomode, offset, length, minlength, stateid, maxcount.
        50 => {
            x.skip(9)?;
            stateid(x)?;
            x.skip(1)?;
        }
        // SEQUENCE: sessionid, sequenceid, slotid, highest slotid, cachethis.
        53 => x.skip(8)?,
        // TEST_STATEID: stateids.
        55 => {
            let n = x.u32()? as usize;
            x.skip(n.checked_mul(4).ok_or(Short)?)?;
        }
        // ALLOCATE, DEALLOCATE: stateid, offset, length.
        59 | 62 => {
            stateid(x)?;
            x.skip(4)?;
        }
        // SEEK: stateid, offset, what.
        69 => {
            stateid(x)?;
            x.skip(3)?;
        }
        // CLONE: source and destination stateids, offsets, count.
        71 => {
            stateid(x)?;
            stateid(x)?;
            x.skip(6)?;
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// The status of an accepted, successful NFS reply (`b` at the results):
/// v2/v3 `nfsstat`, v4 the COMPOUND status; NULL has none.
pub fn nfs_reply_status(vers: u32, proc_: u32, gss_service: Option<u32>, b: &[u8]) -> Option<u32> {
    if proc_ == 0 {
        return Some(0);
    }
    let mut x = Xdr::new(b);
    match gss_service {
        Some(3) => return None,
        Some(2) => {
            x.u32().ok()?;
            x.u32().ok()?;
        }
        _ => {}
    }
    match vers {
        2..=4 => x.u32().ok(),
        _ => None,
    }
}

/// Where an RPC record could start after lost bytes: a record mark with a
/// plausible length followed by a call to the NFS program or a reply
/// whose xid `is_pending` knows.
pub fn find_record(b: &[u8], max_record: usize, is_pending: &dyn Fn(u32) -> bool) -> Option<usize> {
    if b.len() < 16 {
        return None;
    }
    (0..=b.len() - 16).find(|&i| {
        let mark = u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let len = (mark & 0x7fff_ffff) as usize;
        if !(12..=max_record).contains(&len) {
            return false;
        }
        match rpc(&b[i + 4..]) {
            Ok(Rpc::Call(h, _)) => h.prog == NFS_PROGRAM && (2..=4).contains(&h.vers),
            Ok(Rpc::Reply(xid, _, _)) => is_pending(xid),
            Err(None) => {
                // Cut by the chunk end: a call header start is enough.
                let w = |k: usize| {
                    b.get(i + 4 + 4 * k..i + 8 + 4 * k)
                        .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
                };
                w(1) == Some(0) && w(2) == Some(2) && w(3).is_none_or(|p| p == NFS_PROGRAM)
            }
            Err(Some(_)) => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn be(v: &[u32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_be_bytes()).collect()
    }

    #[test]
    fn an_auth_unix_call_header_is_read() {
        let mut b = be(&[0x1234, 0, 2, NFS_PROGRAM, 3, 3, 1]);
        let mut cred = be(&[7, 3]);
        cred.extend_from_slice(b"ani\0");
        cred.extend(be(&[1000, 100, 2, 10, 20]));
        b.extend(be(&[cred.len() as u32]));
        b.extend(cred);
        b.extend(be(&[0, 0]));
        let Ok(Rpc::Call(h, body)) = rpc(&b) else {
            panic!("not a call")
        };
        assert_eq!(body, b.len());
        assert_eq!(
            (h.xid, h.prog, h.vers, h.proc_),
            (0x1234, NFS_PROGRAM, 3, 3)
        );
        assert_eq!(h.cred.machine.as_deref(), Some("ani"));
        assert_eq!(
            (h.cred.uid, h.cred.gid, h.cred.stamp),
            (Some(1000), Some(100), Some(7))
        );
        assert_eq!(h.cred.gids, vec![10, 20]);
        for i in 0..b.len() {
            assert_eq!(rpc(&b[..i]), Err(None), "{i}");
        }
    }

    #[test]
    fn a_compound_lists_its_ops_and_picks_the_main_one() {
        // tag "t", minor 1, SEQUENCE, PUTFH(fh 4 bytes), CLOSE, GETATTR.
        let mut b = be(&[1]);
        b.extend_from_slice(b"t\0\0\0");
        b.extend(be(&[
            1, 4, 53, 0, 0, 0, 0, 1, 2, 3, 0, 22, 4, 0xaabbccdd, 4, 1, 0, 0, 0, 0, 9, 1, 0x18,
        ]));
        let c = nfs_call(4, 1, None, &b, 32);
        assert_eq!(c.opcode, "CLOSE");
        assert_eq!(c.ops, vec!["SEQUENCE", "PUTFH", "CLOSE", "GETATTR"]);
        assert_eq!(c.tag.as_deref(), Some("t"));
        assert_eq!(c.minor, Some(1));
        assert_eq!(c.fh.as_deref(), Some(&[0xaa, 0xbb, 0xcc, 0xdd][..]));
        assert!(!c.ops_truncated);
        // Only plumbing: the last op is the main one.
        let mut p = be(&[0, 1, 2, 22, 4, 1, 9, 0]);
        p.truncate(p.len());
        let c = nfs_call(4, 1, None, &p, 32);
        assert_eq!(c.opcode, "GETATTR");
        // Cut short: the ops read so far, flagged.
        let c = nfs_call(4, 1, None, &b[..b.len() - 12], 32);
        assert_eq!(c.opcode, "CLOSE");
        assert!(c.ops_truncated);
    }

    #[test]
    fn status_and_names() {
        assert_eq!(status_name(2), "NFSERR_NOENT");
        assert_eq!(status_name(10004), "NFSERR_NOTSUPP");
        assert_eq!(status_name(10044), "NFSERR_OP_ILLEGAL");
        assert_eq!(status_name(10086), "NFSERR_RETURNCONFLICT");
        assert_eq!(v4_op_name(71), "CLONE");
        assert_eq!(v4_op_name(65), "LAYOUTSTATS");
        assert_eq!(v3_proc_name(3), "LOOKUP");
        assert!(v4_first_class(65) && !v4_first_class(22));
    }

    #[test]
    fn records_are_found_after_garbage() {
        let mut b = vec![1, 2, 3];
        let call = be(&[9, 0, 2, NFS_PROGRAM, 3, 0, 0, 0, 0, 0]);
        b.extend(be(&[0x8000_0000 | call.len() as u32]));
        b.extend(&call);
        assert_eq!(find_record(&b, 1 << 20, &|_| false), Some(3));
        let reply = be(&[9, 1, 0, 0, 0, 0, 0]);
        let mut r = vec![0u8; 5];
        r.extend(be(&[0x8000_0000 | reply.len() as u32]));
        r.extend(&reply);
        r.extend([0; 8]);
        assert_eq!(find_record(&r, 1 << 20, &|x| x == 9), Some(5));
        assert_eq!(find_record(&r, 1 << 20, &|_| false), None);
    }
}
