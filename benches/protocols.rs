//! One micro benchmark over every registered protocol: transactions per
//! second on one core, each protocol decoding its own `SAMPLE` exchange
//! (framing, parsing, pairing and JSON encoding of the events) through the
//! session a worker would create. A protocol added to the registry is
//! benchmarked here without a line of bench code.
//!
//! Run: `cargo bench --bench protocols` (criterion reports time per
//! exchange and, with `Throughput::Elements`, transactions per second;
//! `<name>` in wall time, `<name>_cpu` in the thread's CPU time).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use spanlens::proto::testkit::{bench_exchange, session_for, AnySession, T0};
use spanlens::proto::{ProtocolId, ProtocolsConfig};
use std::time::Duration;

/// CPU time of this thread, so that `<name>_cpu` means "per core" even on
/// a loaded machine (the plain `<name>` figure is wall time).
fn thread_cpu_ns() -> Option<u64> {
    Some(
        cpu_time::ThreadTime::try_now()
            .ok()?
            .as_duration()
            .as_nanos() as u64,
    )
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("protocols");
    for &p in ProtocolId::ALL {
        let sample = p.sample();
        // Transactions per exchange, counted once so the figure is per transaction.
        let (mut s, mut d) = session_for(p);
        let mut ts = T0;
        let per = bench_exchange(&mut s, &mut d, sample, &mut ts).max(1) as u64;
        // A protocol that reports once per connection (TLS: one handshake)
        // gives nothing on a second run of its sample: it is timed with a
        // fresh session per exchange, the session's creation included.
        let per_connection = bench_exchange(&mut s, &mut d, sample, &mut ts) == 0;
        g.throughput(Throughput::Elements(per));
        let cfg = ProtocolsConfig::default();
        g.bench_function(p.name(), |b| {
            let (mut s, mut d) = session_for(p);
            let mut ts = T0;
            b.iter(|| {
                if per_connection {
                    // What a worker does for a new flow: one session from
                    // the shared settings.
                    s = AnySession::new(p, &cfg);
                }
                bench_exchange(&mut s, &mut d, sample, &mut ts)
            });
        });
        if thread_cpu_ns().is_none() {
            continue;
        }
        g.bench_function(format!("{}_cpu", p.name()), |b| {
            let (mut s, mut d) = session_for(p);
            let mut ts = T0;
            b.iter_custom(|iters| {
                let t0 = thread_cpu_ns().unwrap_or(0);
                for _ in 0..iters {
                    if per_connection {
                        s = AnySession::new(p, &cfg);
                    }
                    bench_exchange(&mut s, &mut d, sample, &mut ts);
                }
                Duration::from_nanos(thread_cpu_ns().unwrap_or(0).saturating_sub(t0))
            });
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
