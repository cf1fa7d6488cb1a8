//! Wires a run together: one capture thread (the caller's), N worker
//! threads and one exporter thread, pinned to cores when there are enough.
//!
//! Back-pressure: in replay the capture thread blocks on a full shard
//! queue, so nothing is lost; in live mode a full queue drops the batch and
//! counts it (`capture.queue_dropped_packets`). Workers block on a full
//! exporter queue, so the output's pace propagates back to the capture.

use crate::capture::Source;
use crate::config::Config;
use crate::dispatch::{DispatchError, DispatchOptions, Dispatcher, PacketBatch, ShardMsg};
use crate::event::EventBatch;
use crate::output::{Output, OutputError};
use crate::stats::{Counters, Registry};
use crate::worker::Worker;
use crossbeam_channel::{bounded, RecvTimeoutError};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How a run is carried out (beyond the config).
pub struct RunOptions {
    /// Pace a replay at this multiple of capture speed.
    pub realtime: Option<f64>,
    /// Show a progress bar.
    pub progress: bool,
    /// Set by SIGINT/SIGTERM to stop reading.
    pub stop: Arc<AtomicBool>,
    /// Live capture (drops instead of blocking).
    pub live: bool,
    /// Run an aggregator in every worker, sending sealed intervals here
    /// (report file, live page).
    pub aggregate: Option<(
        crate::aggregate::AggConfig,
        crossbeam_channel::Sender<Box<crate::aggregate::Aggregator>>,
    )>,
}

/// Errors that end a run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Reading or dispatching packets failed.
    #[error(transparent)]
    Dispatch(#[from] DispatchError),
    /// The output failed.
    #[error(transparent)]
    Output(#[from] OutputError),
    /// A thread panicked (a bug: please report it).
    #[error("internal error: the {0} thread panicked")]
    Panic(&'static str),
    /// Spawning a thread failed.
    #[error("cannot start thread: {0}")]
    Spawn(std::io::Error),
}

/// The result of a run, also when it failed: the counters of every thread
/// that finished are kept, so the summary and `--stats-json` can always be
/// written.
#[derive(Debug)]
pub struct RunSummary {
    /// Every counter of every thread.
    pub counters: Counters,
    /// Non-fatal problems (truncated input, rejected or spooled documents).
    pub warnings: Vec<String>,
    /// What ended the run early or made it fail (reading, the output, a
    /// panicked thread); `None` for a clean run.
    pub error: Option<RunError>,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Whether threads were pinned to cores.
    pub pinned: bool,
}

/// Runs the pipeline over `source` until it ends or `opts.stop` is set.
/// `Err` only when the threads could not be started; every other failure
/// is in [`RunSummary::error`], next to the counters.
pub fn run(
    config: Config,
    source: &mut Source,
    output: Box<dyn Output>,
    opts: RunOptions,
    registry: &Registry,
) -> Result<RunSummary, RunError> {
    let started = Instant::now();
    let config = Arc::new(config);
    let p = &config.raw.pipeline;
    let n = p.workers;
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    // Pin only when every thread gets a core of its own; on a small machine
    // the scheduler does better than fixed placement.
    let pinned = p.pin_threads && cores.len() >= n + 2;
    if pinned {
        core_affinity::set_for_current(cores[0]);
    }

    let (ex_tx, ex_rx) = bounded::<EventBatch>(p.exporter_queue);
    // Written batches go back to the workers for reuse.
    let (spare_tx, spare_rx) = bounded::<EventBatch>(p.exporter_queue + n);
    let (rc_tx, rc_rx) = bounded::<PacketBatch>(n * (p.queue_batches + 2));
    let exporter_slot = registry.slot();
    let exporter_core = if pinned {
        cores.get(n + 1).copied()
    } else {
        None
    };
    let exporter = std::thread::Builder::new()
        .name("spanlens-export".into())
        .spawn(move || {
            if let Some(c) = exporter_core {
                core_affinity::set_for_current(c);
            }
            export_loop(output, ex_rx, spare_tx, exporter_slot)
        })
        .map_err(RunError::Spawn)?;

    let mut shard_txs = Vec::with_capacity(n);
    let mut workers = Vec::with_capacity(n);
    for id in 0..n {
        let (tx, rx) = bounded::<ShardMsg>(p.queue_batches);
        shard_txs.push(tx);
        let w = Worker::new(
            id,
            Arc::clone(&config),
            (ex_tx.clone(), spare_rx.clone()),
            rc_tx.clone(),
            registry.slot(),
        );
        let w = match &opts.aggregate {
            Some((cfg, sealed)) => w.with_aggregator(*cfg, sealed.clone(), opts.live),
            None => w,
        };
        let core = if pinned {
            cores.get(id + 1).copied()
        } else {
            None
        };
        let h = std::thread::Builder::new()
            .name(format!("spanlens-w{id}"))
            .spawn(move || {
                if let Some(c) = core {
                    core_affinity::set_for_current(c);
                }
                w.run(rx)
            })
            .map_err(RunError::Spawn)?;
        workers.push(h);
    }
    drop(ex_tx);
    drop(rc_tx);

    let dispatcher = Dispatcher::new(
        shard_txs,
        rc_rx,
        config.filter.clone(),
        DispatchOptions {
            batch_packets: p.batch_packets,
            batch_timeout: p.batch_timeout.0,
            realtime: opts.realtime,
            progress: opts.progress,
            keep_duplicates: config.raw.capture.keep_duplicates,
            dhcp_exchanges: config.registry.lookup(crate::flow::Transport::Udp, 67)
                == Some(crate::proto::ProtocolId::Dhcpv4),
        },
        registry.slot(),
        opts.live,
    )
    .with_decoder(
        crate::dispatch::decap::Decoder::new(&config.raw.decap, &config.raw.defrag),
        config.raw.filter.tunnel_id.clone(),
    );
    let dispatched = dispatcher.run(source, &opts.stop);

    let mut counters = Counters::new();
    let mut warnings = Vec::new();
    let mut worker_panicked = false;
    for h in workers {
        match h.join() {
            Ok(c) => counters.merge(&c),
            Err(_) => worker_panicked = true,
        }
    }
    let exported = exporter.join();
    let mut error = None;
    match dispatched {
        Ok((capture_counters, summary)) => {
            counters.merge(&capture_counters);
            warnings.extend(summary.warnings);
        }
        Err(e) => error = Some(RunError::Dispatch(e)),
    }
    if worker_panicked {
        error.get_or_insert(RunError::Panic("worker"));
    }
    match exported {
        Ok((c, res, w)) => {
            counters.merge(&c);
            warnings.extend(w);
            if let Err(e) = res {
                error.get_or_insert(RunError::Output(e));
            }
        }
        Err(_) => {
            error.get_or_insert(RunError::Panic("exporter"));
        }
    }
    counters.set("pipeline.workers", n as u64);
    Ok(RunSummary {
        counters,
        warnings,
        error,
        elapsed: started.elapsed(),
        pinned,
    })
}

/// Lets the output flush on time, then publishes the exporter's counters
/// with the current queue depth.
fn idle_and_publish(
    output: &mut dyn Output,
    counters: &mut Counters,
    first_error: &mut Option<OutputError>,
    rx: &crossbeam_channel::Receiver<EventBatch>,
    slot: &crate::stats::Published,
) {
    if let Err(e) = output.idle(counters) {
        first_error.get_or_insert(e);
    }
    counters.set("pipeline.exporter_queue_depth", rx.len() as u64);
    slot.publish(counters);
}

/// The exporter thread: writes event batches to the output in arrival order.
fn export_loop(
    mut output: Box<dyn Output>,
    rx: crossbeam_channel::Receiver<EventBatch>,
    spare: crossbeam_channel::Sender<EventBatch>,
    slot: crate::stats::Published,
) -> (Counters, Result<(), OutputError>, Vec<String>) {
    let mut counters = Counters::new();
    let mut first_error: Option<OutputError> = None;
    let mut last_idle = Instant::now();
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(mut batch) => {
                counters.add("output.batches", 1);
                counters.add("output.events", batch.len() as u64);
                if let Err(e) = output.write(&batch, &mut counters) {
                    counters.add("output.write_errors", 1);
                    first_error.get_or_insert(e);
                }
                batch.clear();
                let _ = spare.try_send(batch);
                if last_idle.elapsed() >= Duration::from_millis(100) {
                    last_idle = Instant::now();
                    idle_and_publish(output.as_mut(), &mut counters, &mut first_error, &rx, &slot);
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                last_idle = Instant::now();
                idle_and_publish(output.as_mut(), &mut counters, &mut first_error, &rx, &slot);
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    if let Err(e) = output.close(&mut counters) {
        first_error.get_or_insert(e);
    }
    let warnings = output.warnings(&counters);
    // The final totals are returned to the caller; clear the slot so they
    // are not counted twice by a registry reader.
    slot.publish(&Counters::new());
    (counters, first_error.map_or(Ok(()), Err), warnings)
}
