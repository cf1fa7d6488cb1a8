//! A tiny MaxMind DB writer for tests, per the published MaxMind DB format
//! spec (version 2.0): an IPv4 search tree with 24-bit records, a data
//! section, and the metadata map after `\xAB\xCD\xEFMaxMind.com`. It writes
//! only what the tests need; the reader is the real `maxminddb` crate.
#![allow(dead_code)]

/// A value in the data section.
pub enum V {
    /// UTF-8 string (type 2).
    S(&'static str),
    /// Double (type 3).
    F(f64),
    /// uint16 (type 5).
    U16(u16),
    /// uint32 (type 6).
    U32(u32),
    /// uint64 (extended type 9).
    U64(u64),
    /// Map (type 7), keys in order.
    M(Vec<(&'static str, V)>),
    /// Array (extended type 11).
    A(Vec<V>),
}

fn ctrl(out: &mut Vec<u8>, typ: u8, size: usize) {
    let (t, ext) = if typ > 7 {
        (0u8, Some(typ - 7))
    } else {
        (typ, None)
    };
    let (s, extra): (u8, Vec<u8>) = if size < 29 {
        (size as u8, vec![])
    } else if size < 29 + 256 {
        (29, vec![(size - 29) as u8])
    } else {
        let v = size - 285;
        (30, vec![(v >> 8) as u8, v as u8])
    };
    out.push((t << 5) | s);
    if let Some(e) = ext {
        out.push(e);
    }
    out.extend(extra);
}

fn uint(out: &mut Vec<u8>, typ: u8, v: u64) {
    let bytes: Vec<u8> = v
        .to_be_bytes()
        .iter()
        .copied()
        .skip_while(|b| *b == 0)
        .collect();
    ctrl(out, typ, bytes.len());
    out.extend(bytes);
}

/// Encodes one value.
pub fn encode(out: &mut Vec<u8>, v: &V) {
    match v {
        V::S(s) => {
            ctrl(out, 2, s.len());
            out.extend_from_slice(s.as_bytes());
        }
        V::F(f) => {
            ctrl(out, 3, 8);
            out.extend_from_slice(&f.to_be_bytes());
        }
        V::U16(n) => uint(out, 5, u64::from(*n)),
        V::U32(n) => uint(out, 6, u64::from(*n)),
        V::U64(n) => uint(out, 9, *n),
        V::M(kv) => {
            ctrl(out, 7, kv.len());
            for (k, v) in kv {
                encode(out, &V::S(k));
                encode(out, v);
            }
        }
        V::A(items) => {
            ctrl(out, 11, items.len());
            for i in items {
                encode(out, i);
            }
        }
    }
}

/// Builds an IPv4 database: `(network, prefix length, record)`.
pub fn build(networks: Vec<([u8; 4], u8, V)>) -> Vec<u8> {
    // Binary trie over the address bits; leaves hold data offsets.
    #[derive(Default, Clone)]
    struct Node {
        kids: [Option<usize>; 2],
        leaf: [Option<usize>; 2],
    }
    let mut data = Vec::new();
    let mut nodes = vec![Node::default()];
    for (net, len, rec) in &networks {
        let off = data.len();
        encode(&mut data, rec);
        let bits = u32::from_be_bytes(*net);
        let mut n = 0;
        for depth in 0..*len {
            let bit = ((bits >> (31 - depth)) & 1) as usize;
            if depth + 1 == *len {
                nodes[n].leaf[bit] = Some(off);
            } else {
                n = match nodes[n].kids[bit] {
                    Some(k) => k,
                    None => {
                        nodes.push(Node::default());
                        let k = nodes.len() - 1;
                        nodes[n].kids[bit] = Some(k);
                        k
                    }
                };
            }
        }
    }
    let count = nodes.len();
    let mut out = Vec::new();
    for node in &nodes {
        for side in 0..2 {
            let rec = match (node.kids[side], node.leaf[side]) {
                (Some(k), _) => k,
                (None, Some(off)) => count + 16 + off,
                (None, None) => count,
            } as u32;
            out.extend_from_slice(&rec.to_be_bytes()[1..]);
        }
    }
    out.extend_from_slice(&[0u8; 16]);
    out.extend_from_slice(&data);
    out.extend_from_slice(b"\xAB\xCD\xEFMaxMind.com");
    let meta = V::M(vec![
        ("binary_format_major_version", V::U16(2)),
        ("binary_format_minor_version", V::U16(0)),
        ("build_epoch", V::U64(1_700_000_000)),
        ("database_type", V::S("spanlens-test-City")),
        (
            "description",
            V::M(vec![("en", V::S("spanlens test database"))]),
        ),
        ("ip_version", V::U16(4)),
        ("languages", V::A(vec![V::S("en")])),
        ("node_count", V::U32(count as u32)),
        ("record_size", V::U16(24)),
    ]);
    encode(&mut out, &meta);
    out
}

fn names(en: &'static str) -> V {
    V::M(vec![("names", V::M(vec![("en", V::S(en))]))])
}

/// The database the tests use: 10.99.0.0/24 (the bundled HTTP sample's
/// clients) in Paris, 198.51.100.0/24 in New York, 203.0.113.0/24 Japan
/// with no city or location.
pub fn test_database() -> Vec<u8> {
    let country = |iso: &'static str, en: &'static str| {
        V::M(vec![
            ("iso_code", V::S(iso)),
            ("names", V::M(vec![("en", V::S(en))])),
        ])
    };
    build(vec![
        (
            [10, 99, 0, 0],
            24,
            V::M(vec![
                ("city", names("Paris")),
                ("country", country("FR", "France")),
                (
                    "location",
                    V::M(vec![("latitude", V::F(48.86)), ("longitude", V::F(2.35))]),
                ),
            ]),
        ),
        (
            [198, 51, 100, 0],
            24,
            V::M(vec![
                ("city", names("New York")),
                ("country", country("US", "United States")),
                (
                    "location",
                    V::M(vec![("latitude", V::F(40.71)), ("longitude", V::F(-74.01))]),
                ),
            ]),
        ),
        (
            [203, 0, 113, 0],
            24,
            V::M(vec![("country", country("JP", "Japan"))]),
        ),
    ])
}
