//! The retry policy: a pure classifier of HTTP statuses and of `_bulk`
//! responses (Elasticsearch "Bulk API" reference, response body), plus the
//! backoff delay. No I/O, no clock, no randomness of its own: the caller
//! passes the jitter, so every decision is testable with canned input.
//!
//! Rules (as in Vector's and Beats' Elasticsearch outputs):
//! - a whole request that failed to connect, timed out, or got 429 or 5xx is
//!   retried; so are 401/403/404/407/408, which an operator can fix without
//!   the data being lost; 413 splits the request; any other 4xx rejects it;
//! - in a 2xx response each item counts on its own: 200/201 indexed, 409 on
//!   `create` means the document already exists (a duplicate, which is
//!   success), 429 and 5xx are retried, any other status is a permanent
//!   rejection (mapping or parsing error) for the dead-letter file;
//! - a 2xx body that cannot be read, or whose item count differs from the
//!   request's, retries the whole request (safe: `create` with fixed ids).

use serde::Deserialize;
use std::time::Duration;

/// What to do with a whole request, from its HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestVerdict {
    /// 2xx: read the items.
    ReadItems,
    /// Transient or fixable failure: send the whole request again later.
    Retry,
    /// 413: the body was too large; send each half on its own.
    Split,
    /// The request can never succeed (a 4xx such as 400): reject every document.
    Reject,
}

/// Classifies a whole-request HTTP status.
pub fn classify_status(status: u16) -> RequestVerdict {
    match status {
        200..=299 => RequestVerdict::ReadItems,
        413 => RequestVerdict::Split,
        401 | 403 | 404 | 407 | 408 | 429 => RequestVerdict::Retry,
        500..=599 => RequestVerdict::Retry,
        // 1xx/3xx should never reach us (no redirects followed): retrying is safe.
        100..=199 | 300..=399 => RequestVerdict::Retry,
        _ => RequestVerdict::Reject,
    }
}

/// Why a document was not indexed (a fixed set, so counters are static names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailReason {
    /// 429: the node's queues were full.
    Rejected,
    /// 5xx on the item, or no answer (connection refused, timeout).
    Server,
    /// 400 mapping or parsing error (`mapper_parsing_exception`,
    /// `document_parsing_exception`, `illegal_argument_exception`, ...).
    Mapping,
    /// A write block on the index (`cluster_block_exception`): read-only,
    /// or the disk flood-stage watermark reached. Retried: an operator
    /// frees the disk or lifts the block and nothing is lost.
    ReadOnly,
    /// 401/403 security errors: wrong credentials or missing privileges.
    /// Retried (an operator fixes the role), the documents wait in the spool.
    Auth,
    /// Any other 4xx on the item (for example a closed index).
    Other,
}

impl FailReason {
    /// Every reason, in counter order.
    pub const ALL: [FailReason; 6] = [
        FailReason::Rejected,
        FailReason::Server,
        FailReason::Mapping,
        FailReason::ReadOnly,
        FailReason::Auth,
        FailReason::Other,
    ];

    /// Position in [`FailReason::ALL`].
    pub fn index(self) -> usize {
        match self {
            FailReason::Rejected => 0,
            FailReason::Server => 1,
            FailReason::Mapping => 2,
            FailReason::ReadOnly => 3,
            FailReason::Auth => 4,
            FailReason::Other => 5,
        }
    }

    /// The counter name `output.es.docs_failed_<reason>`.
    pub fn counter(self) -> &'static str {
        match self {
            FailReason::Rejected => "output.es.docs_failed_rejected",
            FailReason::Server => "output.es.docs_failed_server",
            FailReason::Mapping => "output.es.docs_failed_mapping",
            FailReason::ReadOnly => "output.es.docs_failed_readonly",
            FailReason::Auth => "output.es.docs_failed_auth",
            FailReason::Other => "output.es.docs_failed_other",
        }
    }

    /// The short name used in the summary and the dead-letter file.
    pub fn name(self) -> &'static str {
        match self {
            FailReason::Rejected => "busy (429)",
            FailReason::Server => "server error or no answer",
            FailReason::Mapping => "mapping",
            FailReason::ReadOnly => "index read-only or disk full",
            FailReason::Auth => "auth",
            FailReason::Other => "other",
        }
    }

    /// The reason of a whole-request failure from its status and body.
    pub fn of_request(status: u16, body: &[u8]) -> FailReason {
        let b = String::from_utf8_lossy(&body[..body.len().min(2048)]);
        if b.contains("cluster_block_exception") {
            FailReason::ReadOnly
        } else if status == 401 || status == 403 || b.contains("security_exception") {
            FailReason::Auth
        } else if status == 429 {
            FailReason::Rejected
        } else if status >= 500 {
            FailReason::Server
        } else {
            FailReason::Other
        }
    }
}

/// The fate of one document in a bulk response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemOutcome {
    /// 200/201.
    Indexed,
    /// 409 on create: indexed by an earlier attempt.
    Duplicate,
    /// 429/5xx: send again.
    Retry(FailReason),
    /// Never indexable: goes to the dead-letter file with the reason.
    Dead {
        /// Why (`mapping`, `other`).
        reason: FailReason,
        /// The item's HTTP status.
        status: u16,
        /// `error.type: error.reason` from the response.
        message: String,
    },
}

/// Classifies one item from its status and error type.
pub fn classify_item(status: u16, error_type: &str, error_reason: &str) -> ItemOutcome {
    match status {
        200..=299 => ItemOutcome::Indexed,
        409 => ItemOutcome::Duplicate,
        // A write block (read-only index, disk flood stage: 403 or 429).
        _ if error_type == "cluster_block_exception" => ItemOutcome::Retry(FailReason::ReadOnly),
        401 | 403 if error_type == "security_exception" || status == 401 => {
            ItemOutcome::Retry(FailReason::Auth)
        }
        429 => ItemOutcome::Retry(FailReason::Rejected),
        500..=599 => ItemOutcome::Retry(FailReason::Server),
        _ => {
            let t = error_type;
            let mapping = status == 400
                && (t.contains("pars")
                    || t.contains("mapper")
                    || t.contains("mapping")
                    || t.contains("illegal_argument"));
            ItemOutcome::Dead {
                reason: if mapping {
                    FailReason::Mapping
                } else {
                    FailReason::Other
                },
                status,
                message: if error_reason.is_empty() {
                    error_type.to_string()
                } else {
                    format!("{error_type}: {error_reason}")
                },
            }
        }
    }
}

/// A 2xx body that is not a usable bulk response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MalformedResponse {
    /// Not JSON, or not the expected shape.
    #[error("bulk response is not valid JSON: {0}")]
    Json(String),
    /// The item count differs from the number of documents sent.
    #[error("bulk response has {got} items for {sent} documents")]
    Count {
        /// Items in the response.
        got: usize,
        /// Documents in the request.
        sent: usize,
    },
}

#[derive(Deserialize)]
struct RawResponse {
    #[serde(default)]
    items: Vec<std::collections::HashMap<String, RawItem>>,
}

#[derive(Deserialize)]
struct RawItem {
    status: Option<u16>,
    #[serde(default)]
    error: Option<RawError>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawError {
    Obj {
        #[serde(default, rename = "type")]
        kind: String,
        #[serde(default)]
        reason: Option<String>,
    },
    Text(String),
}

/// Reads a 2xx `_bulk` body into one outcome per document sent.
pub fn parse_bulk_response(
    body: &[u8],
    sent: usize,
) -> Result<Vec<ItemOutcome>, MalformedResponse> {
    let raw: RawResponse =
        serde_json::from_slice(body).map_err(|e| MalformedResponse::Json(e.to_string()))?;
    if raw.items.len() != sent {
        return Err(MalformedResponse::Count {
            got: raw.items.len(),
            sent,
        });
    }
    raw.items
        .into_iter()
        .map(|m| {
            // Each item is a one-key object named after the action.
            let item = m
                .into_values()
                .next()
                .ok_or_else(|| MalformedResponse::Json("empty item".into()))?;
            let status = item
                .status
                .ok_or_else(|| MalformedResponse::Json("item without status".into()))?;
            let (kind, reason) = match item.error {
                Some(RawError::Obj { kind, reason }) => (kind, reason.unwrap_or_default()),
                Some(RawError::Text(t)) => (String::new(), t),
                None => (String::new(), String::new()),
            };
            Ok(classify_item(status, &kind, &reason))
        })
        .collect()
}

/// `type: reason` of the first item in a bulk response refused for `r`
/// (for warnings); empty when none is found.
pub fn item_message(body: &[u8], r: &FailReason) -> String {
    let Ok(raw) = serde_json::from_slice::<RawResponse>(body) else {
        return String::new();
    };
    for m in raw.items {
        let Some(item) = m.into_values().next() else {
            continue;
        };
        let (kind, reason) = match item.error {
            Some(RawError::Obj { kind, reason }) => (kind, reason.unwrap_or_default()),
            Some(RawError::Text(t)) => (String::new(), t),
            None => continue,
        };
        let status = item.status.unwrap_or(0);
        if classify_item(status, &kind, &reason) == ItemOutcome::Retry(*r) {
            return format!("HTTP {status} {kind}: {reason}");
        }
    }
    String::new()
}

/// What a bulk response asks the sender to do, by document index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BulkPlan {
    /// Documents newly indexed.
    pub indexed: usize,
    /// Documents that already existed (409).
    pub duplicates: usize,
    /// Documents to send again, with why.
    pub retry: Vec<(usize, FailReason)>,
    /// Documents to dead-letter: index, reason, status, message.
    pub dead: Vec<(usize, FailReason, u16, String)>,
}

/// Groups item outcomes into a plan.
pub fn plan(outcomes: Vec<ItemOutcome>) -> BulkPlan {
    let mut p = BulkPlan::default();
    for (i, o) in outcomes.into_iter().enumerate() {
        match o {
            ItemOutcome::Indexed => p.indexed += 1,
            ItemOutcome::Duplicate => p.duplicates += 1,
            ItemOutcome::Retry(r) => p.retry.push((i, r)),
            ItemOutcome::Dead {
                reason,
                status,
                message,
            } => p.dead.push((i, reason, status, message)),
        }
    }
    p
}

/// Exponential backoff with "equal jitter": attempt 0 waits about `init`,
/// each further attempt doubles, capped at `max`; half the delay is fixed
/// and half is `jitter` (0.0..1.0) of it, so a fleet does not retry in step.
pub fn backoff_delay(attempt: u32, init: Duration, max: Duration, jitter: f64) -> Duration {
    let exp = init.saturating_mul(1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX));
    let d = exp.min(max);
    let half = d / 2;
    half + half.mul_f64(jitter.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_statuses() {
        assert_eq!(classify_status(200), RequestVerdict::ReadItems);
        assert_eq!(classify_status(201), RequestVerdict::ReadItems);
        assert_eq!(classify_status(429), RequestVerdict::Retry);
        assert_eq!(classify_status(500), RequestVerdict::Retry);
        assert_eq!(classify_status(502), RequestVerdict::Retry);
        assert_eq!(classify_status(503), RequestVerdict::Retry);
        assert_eq!(classify_status(401), RequestVerdict::Retry);
        assert_eq!(classify_status(413), RequestVerdict::Split);
        assert_eq!(classify_status(400), RequestVerdict::Reject);
        assert_eq!(classify_status(422), RequestVerdict::Reject);
    }

    #[test]
    fn all_ok_response() {
        let body = br#"{"took":3,"errors":false,"items":[
            {"create":{"_index":"i","_id":"a","status":201,"result":"created"}},
            {"create":{"_index":"i","_id":"b","status":201,"result":"created"}}]}"#;
        let p = plan(parse_bulk_response(body, 2).unwrap());
        assert_eq!(p.indexed, 2);
        assert!(p.retry.is_empty() && p.dead.is_empty());
        assert_eq!(p.duplicates, 0);
    }

    #[test]
    fn mixed_response_sorts_every_item() {
        // Real shapes from Elasticsearch 8: 201, 429 rejected execution,
        // 500, 400 mapping error, 409 version conflict, 200.
        let body = br#"{"errors":true,"items":[
          {"create":{"_index":"i","_id":"0","status":201}},
          {"create":{"_index":"i","_id":"1","status":429,"error":{"type":"es_rejected_execution_exception","reason":"rejected execution of coordinating operation"}}},
          {"create":{"_index":"i","_id":"2","status":500,"error":{"type":"illegal_state_exception","reason":"boom"}}},
          {"create":{"_index":"i","_id":"3","status":400,"error":{"type":"document_parsing_exception","reason":"[1:30] failed to parse field [client.ip] of type [ip] in document with id '3'"}}},
          {"create":{"_index":"i","_id":"4","status":409,"error":{"type":"version_conflict_engine_exception","reason":"[4]: version conflict, document already exists"}}},
          {"create":{"_index":"i","_id":"5","status":200}},
          {"create":{"_index":"i","_id":"6","status":403,"error":{"type":"cluster_block_exception","reason":"index [i] blocked by: [FORBIDDEN/8/index write (api)];"}}}
        ]}"#;
        let p = plan(parse_bulk_response(body, 7).unwrap());
        assert_eq!(p.indexed, 2);
        assert_eq!(p.duplicates, 1);
        assert_eq!(
            p.retry,
            vec![
                (1, FailReason::Rejected),
                (2, FailReason::Server),
                (6, FailReason::ReadOnly)
            ]
        );
        assert_eq!(p.dead.len(), 1);
        let (i, r, s, m) = &p.dead[0];
        assert_eq!((*i, *r, *s), (3, FailReason::Mapping, 400));
        assert!(
            m.starts_with("document_parsing_exception: [1:30] failed to parse field [client.ip]")
        );
    }

    #[test]
    fn blocks_and_security_errors_are_retried_with_their_reason() {
        // Disk flood stage (ES 8 answers 429) and an explicit read-only block (403).
        let flood = classify_item(
            429,
            "cluster_block_exception",
            "index [i] blocked by: [TOO_MANY_REQUESTS/12/disk usage exceeded flood-stage watermark, index has read-only-allow-delete block];",
        );
        assert_eq!(flood, ItemOutcome::Retry(FailReason::ReadOnly));
        let ro = classify_item(
            403,
            "cluster_block_exception",
            "FORBIDDEN/5/index read-only (api)",
        );
        assert_eq!(ro, ItemOutcome::Retry(FailReason::ReadOnly));
        let auth = classify_item(
            403,
            "security_exception",
            "action [indices:data/write/bulk[s]] is unauthorized",
        );
        assert_eq!(auth, ItemOutcome::Retry(FailReason::Auth));
        assert!(matches!(
            classify_item(404, "index_not_found_exception", "no such index"),
            ItemOutcome::Dead {
                reason: FailReason::Other,
                ..
            }
        ));
        assert_eq!(FailReason::of_request(401, b"{}"), FailReason::Auth);
        assert_eq!(
            FailReason::of_request(403, br#"{"error":{"type":"cluster_block_exception"}}"#),
            FailReason::ReadOnly
        );
        assert_eq!(FailReason::of_request(503, b""), FailReason::Server);
        for (i, r) in FailReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
    }

    #[test]
    fn older_mapper_exception_name_is_mapping() {
        let o = classify_item(400, "mapper_parsing_exception", "failed to parse");
        assert!(matches!(
            o,
            ItemOutcome::Dead {
                reason: FailReason::Mapping,
                ..
            }
        ));
    }

    #[test]
    fn filtered_response_without_action_fields_parses() {
        // With filter_path=items.*.status,items.*.error.type,items.*.error.reason
        let body = br#"{"items":[{"create":{"status":201}},{"create":{"status":409,"error":{"type":"version_conflict_engine_exception"}}}]}"#;
        let p = plan(parse_bulk_response(body, 2).unwrap());
        assert_eq!((p.indexed, p.duplicates), (1, 1));
    }

    #[test]
    fn malformed_bodies_are_errors() {
        assert!(matches!(
            parse_bulk_response(b"<html>503 Service Unavailable</html>", 1),
            Err(MalformedResponse::Json(_))
        ));
        assert!(matches!(
            parse_bulk_response(br#"{"items":[{"create":{"status":201}}]}"#, 2),
            Err(MalformedResponse::Count { got: 1, sent: 2 })
        ));
        assert!(parse_bulk_response(br#"{"items":[{}]}"#, 1).is_err());
        assert!(parse_bulk_response(br#"{"items":[{"create":{}}]}"#, 1).is_err());
        assert!(parse_bulk_response(b"", 0).is_err());
        let full = br#"{"errors":false,"items":[{"create":{"status":201}}]}"#;
        for cut in 0..full.len() {
            assert!(parse_bulk_response(&full[..cut], 1).is_err(), "cut {cut}");
        }
    }

    #[test]
    fn whole_request_503_is_retried_not_read() {
        // A 503 body is never parsed as items.
        assert_eq!(classify_status(503), RequestVerdict::Retry);
    }

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let init = Duration::from_millis(100);
        let max = Duration::from_secs(2);
        assert_eq!(backoff_delay(0, init, max, 0.0), Duration::from_millis(50));
        assert_eq!(backoff_delay(0, init, max, 1.0), Duration::from_millis(100));
        assert_eq!(backoff_delay(3, init, max, 1.0), Duration::from_millis(800));
        assert_eq!(backoff_delay(10, init, max, 1.0), max);
        assert_eq!(
            backoff_delay(200, init, max, 0.5),
            Duration::from_millis(1500)
        );
        let mid = backoff_delay(2, init, max, 0.5);
        assert!(mid > Duration::from_millis(200) && mid < Duration::from_millis(400));
    }
}
