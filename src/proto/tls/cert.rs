//! X.509 certificates sent in clear (TLS 1.2 and earlier), summarised with
//! `x509-parser` (rusticata) into the ECS `x509.*` fields Packetbeat writes.
//!
//! Names are written as Go's `pkix.Name.String()` does (RFC 2253 order: the
//! last RDN first, `CN=...,O=...,C=US`), signature algorithms with Go's
//! names (`SHA256-RSA`, `ECDSA-SHA256`), serial numbers as upper-case hex
//! without leading zeros, fingerprints as upper-case hex.

use base64::Engine;
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::fmt::Write;
use x509_parser::prelude::*;
use x509_parser::public_key::PublicKey;

/// One side of a certificate name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Name {
    /// The whole name, RFC 2253 order.
    pub distinguished_name: String,
    /// CN
    pub common_name: Option<String>,
    /// C
    pub country: Option<String>,
    /// O
    pub organization: Option<String>,
    /// OU
    pub organizational_unit: Option<String>,
    /// L
    pub locality: Option<String>,
    /// ST
    pub state_or_province: Option<String>,
}

/// What an event says about one certificate.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CertInfo {
    /// Subject.
    pub subject: Name,
    /// Issuer.
    pub issuer: Name,
    /// Start of validity, Unix seconds.
    pub not_before: i64,
    /// End of validity, Unix seconds.
    pub not_after: i64,
    /// Serial number, upper-case hex.
    pub serial: String,
    /// `SHA256-RSA`, ...
    pub signature_algorithm: String,
    /// `RSA`, `ECDSA`, `Ed25519`, `DSA`.
    pub public_key_algorithm: String,
    /// Key size in bits (curve size for EC keys).
    pub public_key_size: u64,
    /// X.509 version (3).
    pub version: u32,
    /// Subject alternative names (DNS names, addresses, e-mails, URIs).
    pub alternative_names: Vec<String>,
    /// Upper-case hex MD5, SHA-1 and SHA-256 of the DER bytes.
    pub md5: String,
    /// SHA-1 fingerprint.
    pub sha1: String,
    /// SHA-256 fingerprint.
    pub sha256: String,
    /// The DER bytes, base64 (only kept with `include_raw_certificates`).
    pub raw: Option<String>,
}

fn upper_hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02X}");
    }
    s
}

fn name(n: &X509Name<'_>) -> Name {
    let mut out = Name::default();
    let reg = oid_registry();
    let mut rdns: Vec<String> = Vec::new();
    for rdn in n.iter_rdn() {
        let mut parts: Vec<String> = Vec::new();
        for attr in rdn.iter() {
            let oid = attr.attr_type();
            let value = attr
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|_| format!("#{}", upper_hex(attr.attr_value().data)));
            let abbrev = match oid.to_id_string().as_str() {
                "2.5.4.3" => "CN",
                "2.5.4.6" => "C",
                "2.5.4.7" => "L",
                "2.5.4.8" => "ST",
                "2.5.4.9" => "STREET",
                "2.5.4.10" => "O",
                "2.5.4.11" => "OU",
                "2.5.4.5" => "SERIALNUMBER",
                "2.5.4.17" => "POSTALCODE",
                _ => "",
            };
            let slot = match abbrev {
                "CN" => Some(&mut out.common_name),
                "C" => Some(&mut out.country),
                "O" => Some(&mut out.organization),
                "OU" => Some(&mut out.organizational_unit),
                "L" => Some(&mut out.locality),
                "ST" => Some(&mut out.state_or_province),
                _ => None,
            };
            if let Some(slot) = slot {
                slot.get_or_insert_with(|| value.clone());
            }
            let key = if abbrev.is_empty() {
                oid2abbrev(oid, reg)
                    .map(str::to_string)
                    .unwrap_or_else(|_| oid.to_id_string())
            } else {
                abbrev.to_string()
            };
            parts.push(format!("{key}={}", escape_dn(&value)));
        }
        rdns.push(parts.join("+"));
    }
    rdns.reverse();
    out.distinguished_name = rdns.join(",");
    out
}

/// RFC 2253 section 2.4 escaping of an attribute value.
fn escape_dn(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for (i, c) in v.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == ' ' || c == '#'))
            || (i + 1 == v.chars().count() && c == ' ');
        if special {
            s.push('\\');
        }
        s.push(c);
    }
    s
}

fn signature_name(oid: &str) -> String {
    match oid {
        "1.2.840.113549.1.1.2" => "MD2-RSA",
        "1.2.840.113549.1.1.4" => "MD5-RSA",
        "1.2.840.113549.1.1.5" => "SHA1-RSA",
        "1.2.840.113549.1.1.11" => "SHA256-RSA",
        "1.2.840.113549.1.1.12" => "SHA384-RSA",
        "1.2.840.113549.1.1.13" => "SHA512-RSA",
        "1.2.840.113549.1.1.10" => "RSASSA-PSS",
        "1.2.840.10040.4.3" => "DSA-SHA1",
        "2.16.840.1.101.3.4.3.2" => "DSA-SHA256",
        "1.2.840.10045.4.1" => "ECDSA-SHA1",
        "1.2.840.10045.4.3.2" => "ECDSA-SHA256",
        "1.2.840.10045.4.3.3" => "ECDSA-SHA384",
        "1.2.840.10045.4.3.4" => "ECDSA-SHA512",
        "1.3.101.112" => "Ed25519",
        other => return other.to_string(),
    }
    .to_string()
}

fn curve_bits(oid: &str) -> u64 {
    match oid {
        "1.2.840.10045.3.1.7" => 256,
        "1.3.132.0.34" => 384,
        "1.3.132.0.35" => 521,
        "1.2.840.10045.3.1.1" => 192,
        "1.3.132.0.33" => 224,
        _ => 0,
    }
}

/// Summarises one DER certificate; `None` when it does not parse.
pub fn summarise(der: &[u8], keep_raw: bool) -> Option<CertInfo> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let tbs = &cert.tbs_certificate;
    let spki = tbs.public_key();
    let key_oid = spki.algorithm.algorithm.to_id_string();
    let (public_key_algorithm, public_key_size) = match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => ("RSA".to_string(), rsa.key_size() as u64),
        Ok(PublicKey::EC(_)) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string())
                .unwrap_or_default();
            ("ECDSA".to_string(), curve_bits(&curve))
        }
        Ok(PublicKey::DSA(y)) => ("DSA".to_string(), (y.len() * 8) as u64),
        _ if key_oid == "1.3.101.112" => ("Ed25519".to_string(), 256),
        _ => (key_oid, 0),
    };
    let mut serial = upper_hex(tbs.raw_serial());
    let trimmed = serial.trim_start_matches('0').to_string();
    serial = if trimmed.is_empty() {
        "0".into()
    } else {
        trimmed
    };
    let mut alternative_names = Vec::new();
    if let Ok(Some(san)) = tbs.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                GeneralName::DNSName(s) | GeneralName::RFC822Name(s) | GeneralName::URI(s) => {
                    alternative_names.push(s.to_string())
                }
                GeneralName::IPAddress(b) => match b.len() {
                    4 => alternative_names
                        .push(std::net::Ipv4Addr::from(<[u8; 4]>::try_from(*b).ok()?).to_string()),
                    16 => alternative_names
                        .push(std::net::Ipv6Addr::from(<[u8; 16]>::try_from(*b).ok()?).to_string()),
                    _ => {}
                },
                _ => {}
            }
        }
    }
    Some(CertInfo {
        subject: name(tbs.subject()),
        issuer: name(tbs.issuer()),
        not_before: tbs.validity().not_before.timestamp(),
        not_after: tbs.validity().not_after.timestamp(),
        serial,
        signature_algorithm: signature_name(&cert.signature_algorithm.algorithm.to_id_string()),
        public_key_algorithm,
        public_key_size,
        version: tbs.version().0 + 1,
        alternative_names,
        md5: upper_hex(&Md5::digest(der)),
        sha1: upper_hex(&Sha1::digest(der)),
        sha256: upper_hex(&Sha256::digest(der)),
        raw: keep_raw.then(|| base64::engine::general_purpose::STANDARD.encode(der)),
    })
}
