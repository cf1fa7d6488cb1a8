//! Names of TLS code points as Packetbeat writes them (IANA registries;
//! unknown values as `(unknown:0x....)`).

use std::borrow::Cow;
use tls_parser::TlsCipherSuiteID;

/// Writes `(unknown:0x%04x)` into `out`.
pub fn unknown(v: u16) -> String {
    format!("(unknown:0x{v:04x})")
}

/// The IANA name of a cipher suite (from tls-parser's table).
pub fn cipher(id: u16) -> Option<&'static str> {
    TlsCipherSuiteID(id).get_ciphersuite().map(|c| c.name)
}

/// A cipher suite name, or `(unknown:0x....)`.
pub fn cipher_or_unknown(id: u16) -> String {
    match cipher(id) {
        Some(n) => n.to_string(),
        None if id == 0x00ff => "TLS_EMPTY_RENEGOTIATION_INFO_SCSV".into(),
        None if id == 0x5600 => "TLS_FALLBACK_SCSV".into(),
        None => unknown(id),
    }
}

/// `tls.version` and `tls.version_protocol` for a wire version.
pub fn version(v: u16) -> Option<(&'static str, &'static str)> {
    Some(match v {
        0x0300 => ("3.0", "ssl"),
        0x0301 => ("1.0", "tls"),
        0x0302 => ("1.1", "tls"),
        0x0303 => ("1.2", "tls"),
        0x0304 => ("1.3", "tls"),
        _ => return None,
    })
}

/// `tls.detailed.version` style: "TLS 1.2", "SSL 3.0".
pub fn version_long(v: u16) -> Cow<'static, str> {
    match v {
        0x0300 => "SSL 3.0".into(),
        0x0301 => "TLS 1.0".into(),
        0x0302 => "TLS 1.1".into(),
        0x0303 => "TLS 1.2".into(),
        0x0304 => "TLS 1.3".into(),
        v if v >> 8 == 0x7f => format!("TLS 1.3 draft {}", v & 0xff).into(),
        v => unknown(v).into(),
    }
}

/// A hello's `version` as Packetbeat writes it ("3.3").
pub fn version_dotted(v: u16) -> Cow<'static, str> {
    match v {
        0x0300 => "3.0".into(),
        0x0301 => "3.1".into(),
        0x0302 => "3.2".into(),
        0x0303 => "3.3".into(),
        0x0304 => "3.4".into(),
        v => format!("{}.{}", v >> 8, v & 0xff).into(),
    }
}

/// Supported groups (RFC 8446 section 4.2.7, RFC 7919, draft ML-KEM hybrids).
pub fn group(g: u16) -> Option<&'static str> {
    Some(match g {
        1 => "sect163k1",
        2 => "sect163r1",
        3 => "sect163r2",
        4 => "sect193r1",
        5 => "sect193r2",
        6 => "sect233k1",
        7 => "sect233r1",
        8 => "sect239k1",
        9 => "sect283k1",
        10 => "sect283r1",
        11 => "sect409k1",
        12 => "sect409r1",
        13 => "sect571k1",
        14 => "sect571r1",
        15 => "secp160k1",
        16 => "secp160r1",
        17 => "secp160r2",
        18 => "secp192k1",
        19 => "secp192r1",
        20 => "secp224k1",
        21 => "secp224r1",
        22 => "secp256k1",
        23 => "secp256r1",
        24 => "secp384r1",
        25 => "secp521r1",
        26 => "brainpoolP256r1",
        27 => "brainpoolP384r1",
        28 => "brainpoolP512r1",
        29 => "x25519",
        30 => "x448",
        256 => "ffdhe2048",
        257 => "ffdhe3072",
        258 => "ffdhe4096",
        259 => "ffdhe6144",
        260 => "ffdhe8192",
        0x11eb => "SecP256r1MLKEM768",
        0x11ec => "X25519MLKEM768",
        0x6399 => "X25519Kyber768Draft00",
        _ => return None,
    })
}

/// A group name, or `(unknown:0x....)`.
pub fn group_or_unknown(g: u16) -> String {
    group(g).map(str::to_string).unwrap_or_else(|| unknown(g))
}

/// Signature schemes, with Packetbeat's names (RFC 8446 section 4.2.3).
pub fn signature(s: u16) -> Option<&'static str> {
    Some(match s {
        0x0201 => "rsa_pkcs1_sha1",
        0x0203 => "ecdsa_sha1",
        0x0401 => "rsa_pkcs1_sha256",
        0x0403 => "ecdsa_secp256r1_sha256",
        0x0501 => "rsa_pkcs1_sha384",
        0x0503 => "ecdsa_secp384r1_sha384",
        0x0601 => "rsa_pkcs1_sha512",
        0x0603 => "ecdsa_secp521r1_sha512",
        0x0804 => "rsa_pss_sha256",
        0x0805 => "rsa_pss_sha384",
        0x0806 => "rsa_pss_sha512",
        0x0807 => "ed25519",
        0x0808 => "ed448",
        0x0809 => "rsa_pss_pss_sha256",
        0x080a => "rsa_pss_pss_sha384",
        0x080b => "rsa_pss_pss_sha512",
        _ => return None,
    })
}

/// A signature scheme name, or `(unknown:0x....)`.
pub fn signature_or_unknown(s: u16) -> String {
    signature(s)
        .map(str::to_string)
        .unwrap_or_else(|| unknown(s))
}

/// ec_point_formats (RFC 8422 section 5.1.2).
pub fn point_format(p: u8) -> Cow<'static, str> {
    match p {
        0 => "uncompressed".into(),
        1 => "ansiX962_compressed_prime".into(),
        2 => "ansiX962_compressed_char2".into(),
        p => unknown(u16::from(p)).into(),
    }
}

/// Compression methods (RFC 3749).
pub fn compression(c: u8) -> Cow<'static, str> {
    match c {
        0 => "NULL".into(),
        1 => "DEFLATE".into(),
        64 => "LZS".into(),
        c => unknown(u16::from(c)).into(),
    }
}

/// Names Packetbeat gives the extensions it recognises but does not
/// expand (listed under `extensions._unparsed_`); others are numbers.
pub fn extension(t: u16) -> Cow<'static, str> {
    match t {
        0 => "server_name_indication".into(),
        5 => "status_request".into(),
        0xff01 => "renegotiation_info".into(),
        t => t.to_string().into(),
    }
}

/// Alert levels (RFC 8446 section 6).
pub fn alert_level(l: u8) -> &'static str {
    match l {
        1 => "warning",
        2 => "fatal",
        _ => "unknown",
    }
}

/// Alert descriptions (RFC 8446 section 6, RFC 5246 section 7.2).
pub fn alert(d: u8) -> Option<&'static str> {
    Some(match d {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        21 => "decryption_failed",
        22 => "record_overflow",
        30 => "decompression_failure",
        40 => "handshake_failure",
        41 => "no_certificate",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        60 => "export_restriction",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        100 => "no_renegotiation",
        109 => "missing_extension",
        110 => "unsupported_extension",
        111 => "certificate_unobtainable",
        112 => "unrecognized_name",
        113 => "bad_certificate_status_response",
        114 => "bad_certificate_hash_value",
        115 => "unknown_psk_identity",
        116 => "certificate_required",
        120 => "no_application_protocol",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_packetbeats() {
        assert_eq!(
            cipher_or_unknown(0xc02f),
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
        );
        assert_eq!(cipher_or_unknown(0x1301), "TLS_AES_128_GCM_SHA256");
        assert_eq!(cipher_or_unknown(0xff85), "(unknown:0xff85)");
        assert_eq!(
            cipher_or_unknown(0x00ff),
            "TLS_EMPTY_RENEGOTIATION_INFO_SCSV"
        );
        assert_eq!(signature_or_unknown(0x0301), "(unknown:0x0301)");
        assert_eq!(group_or_unknown(29), "x25519");
        assert_eq!(version_long(0x0303), "TLS 1.2");
        assert_eq!(version_dotted(0x0303), "3.3");
        assert_eq!(alert(40), Some("handshake_failure"));
    }
}
