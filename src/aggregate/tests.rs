use super::hist::HIST_MAX_US;
use super::*;
use hdrhistogram::Histogram;
use std::net::{IpAddr, Ipv4Addr};

fn tx(ts_s: u64, server: &str, us: u64, err: bool, url: &'static str) -> TxSummary<'static> {
    TxSummary {
        ts: ts_s * 1_000_000_000,
        proto: "http",
        error: err,
        duration_ns: us * 1000,
        server_us: Some(us / 2),
        network_us: Some(us / 2),
        request_bytes: 100,
        response_bytes: 1000,
        server: server.parse().unwrap(),
        group: None,
        client: IpAddr::V4(Ipv4Addr::new(10, 0, 0, (us % 200) as u8)),
        code: Code::Num(if err { 500 } else { 200 }),
        content_type: Some(b"text/html"),
        method: Some(b"GET"),
        resource: Some(url.as_bytes()),
        user_agent: Some(b"curl/8.0"),
        country: None,
        place: None,
    }
}

fn feed(a: &mut Aggregator, range: std::ops::Range<u64>) {
    for i in range {
        let url = ["/a", "/b", "/c", "/d", "/e"][(i % 5) as usize];
        a.add_tx(
            &tx(
                1000 + i / 3,
                if i % 2 == 0 {
                    "10.0.0.1:80"
                } else {
                    "10.0.0.2:80"
                },
                100 + i * 7,
                i % 11 == 0,
                url,
            ),
            || Some(format!("{{\"i\":{i}}}")),
        );
    }
}

#[test]
fn merged_workers_equal_one_aggregator() {
    let cfg = AggConfig {
        top_entries: 3,
        slowest: 4,
        ..AggConfig::default()
    };
    let mut one = Aggregator::new(cfg);
    feed(&mut one, 0..300);
    let mut a = Aggregator::new(cfg);
    let mut b = Aggregator::new(cfg);
    feed(&mut a, 0..150);
    feed(&mut b, 150..300);
    a.merge(&b);
    assert_eq!(one.len(), a.len());
    for (k, s) in one.stats() {
        let m = a.get(k).unwrap();
        assert_eq!(s.requests, m.requests);
        assert_eq!(s.errors, m.errors);
        assert_eq!(s.latency.q(0.95), m.latency.q(0.95));
        assert_eq!(s.codes, m.codes);
        assert_eq!(
            s.slowest.iter().map(|x| x.us).collect::<Vec<_>>(),
            m.slowest.iter().map(|x| x.us).collect::<Vec<_>>()
        );
    }
    assert_eq!(one.requests(), 300);
}

/// Many transactions of equal duration: the slowest kept, and their order,
/// do not depend on which shard saw which one or in what order shards merge
/// (the output is the same with 1 worker or 8).
#[test]
fn tied_slowest_do_not_depend_on_the_split_into_workers() {
    let cfg = AggConfig {
        slowest: 3,
        ..AggConfig::default()
    };
    let feed_ties = |a: &mut Aggregator, ids: &mut dyn Iterator<Item = u64>| {
        for i in ids {
            // Two durations only, so most entries tie.
            let us = if i % 4 == 0 { 900 } else { 500 };
            a.add_tx(&tx(1000, "10.0.0.1:80", us, false, "/t"), || {
                Some(format!("{{\"i\":{i}}}"))
            });
        }
    };
    let kept = |a: &Aggregator| -> Vec<(u64, String)> {
        let (_, s) = a.stats().next().expect("one key");
        s.slowest.iter().map(|x| (x.us, x.event.clone())).collect()
    };
    let mut one = Aggregator::new(cfg);
    feed_ties(&mut one, &mut (0..40));
    let want = kept(&one);
    assert_eq!(want.len(), 3);
    assert!(want.windows(2).all(|w| w[0].0 >= w[1].0));
    for split in [1, 7, 20, 33] {
        // Backwards, in two shards, merged both ways round.
        let shards = || {
            let mut a = Aggregator::new(cfg);
            let mut b = Aggregator::new(cfg);
            feed_ties(&mut a, &mut (0..split).rev());
            feed_ties(&mut b, &mut (split..40).rev());
            (a, b)
        };
        let (mut a, b) = shards();
        a.merge(&b);
        assert_eq!(kept(&a), want, "split at {split}");
        let (a, mut b) = shards();
        b.merge(&a);
        assert_eq!(kept(&b), want, "split at {split}, merged the other way");
    }
}

#[test]
fn serialised_intervals_round_trip() {
    let mut a = Aggregator::new(AggConfig::default());
    feed(&mut a, 0..100);
    let text = serde_json::to_string(&a).unwrap();
    let b: Aggregator = serde_json::from_str(&text).unwrap();
    assert_eq!(a.len(), b.len());
    for (k, s) in a.stats() {
        assert_eq!(s.requests, b.get(k).unwrap().requests);
        assert_eq!(s.latency.q(0.99), b.get(k).unwrap().latency.q(0.99));
        assert_eq!(s.top, b.get(k).unwrap().top);
    }
}

#[test]
fn bounds_are_counted_when_hit() {
    let cfg = AggConfig {
        top_entries: 2,
        max_keys: 3,
        max_clients: 5,
        max_labels: 1,
        slowest: 2,
        ..AggConfig::default()
    };
    let mut a = Aggregator::new(cfg);
    feed(&mut a, 0..60);
    assert!(a.len() <= 3 + 20, "other keys are folded");
    assert!(a.bounds.keys > 0);
    assert!(a.bounds.top_evictions > 0);
    assert!(a.bounds.clients > 0);
    assert!(a.bounds.labels > 0);
    for (_, s) in a.stats() {
        assert!(s.top.entries.len() <= 2);
        assert!(s.clients.len() <= 5);
        assert!(s.slowest.len() <= 2);
        // Nothing is lost: every request is in some client bucket.
        assert_eq!(
            s.clients.values().map(|c| c.n).sum::<u64>() + s.clients_other[0],
            s.requests
        );
    }
    assert_eq!(a.requests(), 60);
}

#[test]
fn space_saving_keeps_the_heavy_hitter() {
    let mut b = Bounds::default();
    let mut t = TopK::default();
    for i in 0..1000 {
        let item = if i % 3 == 0 {
            "hot".to_string()
        } else {
            format!("cold{i}")
        };
        t.count(item.as_bytes(), false, 10, 8, &mut b);
    }
    let hot = t.get("hot").unwrap();
    assert!(hot.n >= 334 && hot.n - hot.err <= 334, "{hot:?}");
    assert!(t.entries.len() <= 8);
}

#[test]
fn small_hist_buckets_are_monotonic_and_tight() {
    let mut last = 0;
    for v in 1..100_000u64 {
        let b = SmallHist::bucket(v);
        assert!(b >= last);
        last = b;
        let up = SmallHist::upper(b);
        assert!(
            up >= v && up as f64 <= v as f64 * 1.13 + 1.0,
            "{v} -> {b} -> {up}"
        );
    }
}

#[test]
fn flows_count_only_final_reports() {
    let mut a = Aggregator::new(AggConfig::default());
    let f = FlowSummary {
        ts: 5_000_000_000,
        final_report: false,
        proto: "http",
        server: "10.0.0.1:80".parse().unwrap(),
        group: Some("web"),
        client: "10.0.0.9".parse().unwrap(),
        packets: 10,
        bytes_in: 100,
        bytes_out: 900,
        tcp: Some(TcpSummary {
            retrans: 1,
            handshake_rtt_us: Some(50),
            ..TcpSummary::default()
        }),
    };
    a.add_flow(&f);
    a.add_flow(&FlowSummary {
        final_report: true,
        ..f
    });
    let s = a.stats().next().unwrap().1;
    assert_eq!(s.tcp.flows, 1);
    assert_eq!(s.tcp.bytes_out, 900);
    assert_eq!(s.talkers.get("10.0.0.9").unwrap().bytes, 1000);
    assert_eq!(a.stats().next().unwrap().0.group.as_deref(), Some("web"));
}

#[test]
fn private_addresses_are_labelled() {
    assert_eq!(geo_label("10.1.2.3".parse().unwrap()), "private");
    assert_eq!(geo_label("fd00::1".parse().unwrap()), "private");
    assert_eq!(geo_label("8.8.8.8".parse().unwrap()), "unknown");
}

#[test]
fn hist_counts_like_hdrhistogram() {
    // Every boundary region and a spread of values: the counts kept by
    // index give the crate's own histogram, bucket for bucket.
    let mut vals: Vec<u64> = (0..5000).collect();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..20_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        vals.push(x % (HIST_MAX_US + 1000));
        vals.push((x >> 20) % 100_000);
    }
    for k in 0..40 {
        for d in [0u64, 1, 2] {
            vals.push((1u64 << k).saturating_sub(d));
            vals.push((1u64 << k) + d);
        }
    }
    vals.push(HIST_MAX_US);
    vals.push(u64::MAX);
    let mut ours = Hist::default();
    let mut theirs = Histogram::<u32>::new_with_bounds(1, HIST_MAX_US, 2).unwrap();
    for &v in &vals {
        ours.record(v);
        theirs.saturating_record(v.clamp(1, HIST_MAX_US));
    }
    let a: Vec<(u64, u64)> = ours
        .hdr()
        .iter_recorded()
        .map(|b| (b.value_iterated_to(), b.count_at_value().into()))
        .collect();
    let b: Vec<(u64, u64)> = theirs
        .iter_recorded()
        .map(|b| (b.value_iterated_to(), b.count_at_value().into()))
        .collect();
    assert_eq!(a, b);
    assert_eq!(ours.buckets().collect::<Vec<_>>(), b);
    assert_eq!(ours.len(), theirs.len());
    for q in [0.0, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0] {
        assert_eq!(ours.q(q), theirs.value_at_quantile(q), "q {q}");
    }
    // Round trip through the serialised form.
    let back: Hist = serde_json::from_str(&serde_json::to_string(&ours).unwrap()).unwrap();
    assert_eq!(back.counts, ours.counts);
}

/// The sparse list `SmallHist` was before its dense window: the reference
/// the window is checked against.
#[derive(Default)]
struct SparseSmall(Vec<(u16, u32)>);

impl SparseSmall {
    fn record_n(&mut self, b: u16, n: u32) {
        match self.0.binary_search_by_key(&b, |e| e.0) {
            Ok(i) => self.0[i].1 = self.0[i].1.saturating_add(n),
            Err(i) => self.0.insert(i, (b, n)),
        }
    }

    fn q(&self, q: f64) -> u64 {
        let total: u64 = self.0.iter().map(|e| u64::from(e.1)).sum();
        if total == 0 {
            return 0;
        }
        let want = ((q * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for &(b, n) in &self.0 {
            seen += u64::from(n);
            if seen >= want {
                return SmallHist::upper(b);
            }
        }
        0
    }
}

#[test]
fn small_hist_window_counts_like_the_sparse_list() {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for round in 0..50 {
        let (mut ours, mut other) = (SmallHist::default(), SmallHist::default());
        let (mut sparse, mut sparse_other) = (SparseSmall::default(), SparseSmall::default());
        for i in 0..(round * 40) {
            let r = next();
            // Narrow bands, wide spreads, both ends of the range, and
            // values below the window first seen (it grows downwards).
            let v = match i % 5 {
                0 => 900 + r % 300,
                1 => r >> (r % 64),
                2 => r % 8,
                3 => u64::MAX - r % 3,
                _ => 1_000_000u64.saturating_sub(i * 997),
            };
            let into_other = r % 7 == 0;
            if into_other {
                other.record(v);
                sparse_other.record_n(SmallHist::bucket(v), 1);
            } else {
                ours.record(v);
                sparse.record_n(SmallHist::bucket(v), 1);
            }
        }
        ours.add(&other);
        for &(b, n) in &sparse_other.0 {
            sparse.record_n(b, n);
        }
        assert_eq!(
            ours.buckets().collect::<Vec<_>>(),
            sparse.0,
            "round {round}"
        );
        for q in [0.0, 0.25, 0.5, 0.9, 0.95, 0.99, 1.0] {
            assert_eq!(ours.q(q), sparse.q(q), "round {round} q {q}");
        }
        // Serialised as the sparse list was (pairs of non-empty buckets),
        // and read back the same.
        let text = serde_json::to_string(&ours).unwrap();
        assert_eq!(text, serde_json::to_string(&sparse.0).unwrap());
        let back: SmallHist = serde_json::from_str(&text).unwrap();
        assert_eq!(back, ours);
    }
    // Never wider than every bucket there is.
    let mut h = SmallHist::default();
    h.record(u64::MAX);
    h.record(0);
    assert_eq!(SmallHist::bucket(u64::MAX) as usize, SmallHist::BUCKETS - 1);
    assert_eq!(h.buckets().count(), 2);
    let far: SmallHist = serde_json::from_str("[[0,1],[65535,2]]").unwrap();
    assert_eq!(
        far.buckets().last(),
        Some((SmallHist::BUCKETS as u16 - 1, 2))
    );
}

#[test]
fn clients_count_like_a_map() {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut ours = Clients::default();
    let mut map: BTreeMap<IpAddr, Client> = BTreeMap::new();
    let cap = 40;
    let mut hint = 0;
    for i in 0..5000u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let ip: IpAddr = if i % 3 == 0 {
            IpAddr::V6(std::net::Ipv6Addr::from(u128::from(x % 29)))
        } else {
            IpAddr::V4(Ipv4Addr::from((x % 31) as u32))
        };
        let err = x % 5 == 0;
        let new = || Client {
            country: Some(format!("c{i}")),
            ..Client::default()
        };
        // A wrong memo half the time: it must never count elsewhere.
        let memo = if i % 2 == 0 { hint } else { (x % 50) as u32 };
        let at = ours.position(ip, memo, cap, new);
        let theirs = if map.len() < cap {
            Some(map.entry(ip).or_insert_with(new))
        } else {
            map.get_mut(&ip)
        };
        match (at.and_then(|at| ours.at(at)), theirs) {
            (Some(a), Some(b)) => {
                a.n += 1;
                b.n += 1;
                a.errors += u64::from(err);
                b.errors += u64::from(err);
            }
            (None, None) => {}
            (a, b) => panic!("{ip}: {a:?} vs {b:?}"),
        }
        if let Some(at) = at {
            hint = at;
        }
    }
    let mine: Vec<(IpAddr, Client)> = ours.iter().map(|(k, c)| (*k, c.clone())).collect();
    let want: Vec<(IpAddr, Client)> = map.iter().map(|(k, c)| (*k, c.clone())).collect();
    assert_eq!(mine, want);
    assert_eq!(ours.len(), cap);
    assert_eq!(
        serde_json::to_string(&ours).unwrap(),
        serde_json::to_string(&map).unwrap()
    );
    let back: Clients = serde_json::from_str(&serde_json::to_string(&ours).unwrap()).unwrap();
    assert_eq!(back, ours);
    // Merging is the map's entry-wise sum, first country kept.
    let mut merged = back.clone();
    merged.merge(&ours);
    for (ip, c) in &map {
        let m = merged.get(ip).unwrap();
        assert_eq!(
            (m.n, m.errors, &m.country),
            (2 * c.n, 2 * c.errors, &c.country)
        );
    }
}

#[test]
fn short_comparisons_equal_slice_equality() {
    let base: Vec<u8> = (0..40u8).map(|i| b'a' + i % 26).collect();
    for n in 0..base.len() {
        let a = &base[..n];
        assert!(same(a, a));
        assert!(!same(a, &base[..n + 1]));
        for at in 0..n {
            let mut b = a.to_vec();
            b[at] ^= 0x20;
            assert_eq!(same(a, &b), a == &b[..], "length {n}, byte {at}");
        }
    }
}
