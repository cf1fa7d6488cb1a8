//! A farm of sensors, one cluster: the aggregator's per-interval summaries
//! indexed into Elasticsearch ([`summary`]), and the report built back
//! from the cluster over every sensor or a chosen few ([`query`]).
//!
//! A summary document holds one aggregator key (interval, server group,
//! server, protocol) of one sensor: the counts, errors, bytes and latency
//! histograms as indexed fields (the histograms as Elasticsearch
//! `histogram` fields, so Kibana's percentiles work on them), and the
//! whole mergeable record (`summary.stats`, stored, not indexed). The
//! report merges the records of every matching document exactly as the
//! workers' records merge in one process, so counts are exact and the
//! HDR histograms give the same percentiles as the NDJSON-built report.

pub mod query;
pub mod summary;
