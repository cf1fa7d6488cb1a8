//! The HTTP client: one keep-alive ureq agent (rustls), hosts taken
//! round-robin with failover, explicit timeouts, optional gzip of request
//! bodies into a reused buffer, and authentication headers.
//!
//! It knows the few endpoints the output uses (cluster identity, templates,
//! `_bulk`) but no retry policy: every call makes at most one attempt per
//! host and returns the status and body; [`super::retry`] decides.

use super::config::{HostUrl, ValidConfig};
use super::template::{self, ClusterInfo, Flavor};
use base64::Engine as _;
use std::io::Write as _;
use std::time::{Duration, Instant};
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};
use ureq::Agent;

/// Largest response body read (bulk responses are filtered to a few bytes per item).
const MAX_RESPONSE: u64 = 64 << 20;

/// `filter_path` for `_bulk`: only what the classifier reads.
const BULK_PATH: &str =
    "/_bulk?filter_path=errors,items.*.status,items.*.error.type,items.*.error.reason";

/// Client failures.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No host answered: connection refused, DNS, TLS, timeout, reset.
    #[error("{url}: {reason}")]
    Transport {
        /// The URL of the last host tried.
        url: String,
        /// The cause, one line.
        reason: String,
    },
    /// The host answered with an unexpected status.
    #[error("{url}: HTTP {status}: {body}")]
    Status {
        /// The request URL.
        url: String,
        /// The status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// The `ca_file` could not be used.
    #[error("ca_file {path}: {reason}")]
    Ca {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// A response: status, body, and which host answered.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Body bytes.
    pub body: Vec<u8>,
    /// Base URL of the host.
    pub host: String,
}

/// The Elasticsearch HTTP client.
pub struct EsClient {
    agent: Agent,
    hosts: Vec<HostUrl>,
    next: usize,
    auth: Option<String>,
    gzip: Option<u32>,
    gz_buf: Vec<u8>,
}

fn one_line(s: &str) -> String {
    let s: String = s.chars().take(300).collect();
    s.replace(['\n', '\r'], " ")
}

impl EsClient {
    /// Builds the agent from validated settings (reads `ca_file`).
    pub fn new(cfg: &ValidConfig) -> Result<EsClient, ClientError> {
        let raw = &cfg.raw;
        let mut tls = TlsConfig::builder().disable_verification(!raw.ssl_verification);
        if let Some(ca) = &raw.ca_file {
            let ca_err = |reason: String| ClientError::Ca {
                path: ca.display().to_string(),
                reason,
            };
            let pem = std::fs::read(ca).map_err(|e| ca_err(e.to_string()))?;
            let mut certs: Vec<Certificate<'static>> = Vec::new();
            for item in ureq::tls::parse_pem(&pem) {
                if let PemItem::Certificate(c) = item.map_err(|e| ca_err(e.to_string()))? {
                    certs.push(c);
                }
            }
            if certs.is_empty() {
                return Err(ca_err("no PEM certificate in the file".into()));
            }
            tls = tls.root_certs(RootCerts::new_with_certs(&certs));
        }
        let agent: Agent = Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(raw.connect_timeout.0))
            .timeout_global(Some(raw.timeout.0))
            .max_idle_connections_per_host(4)
            .max_idle_age(Duration::from_secs(30))
            .user_agent(concat!("spanlens/", env!("CARGO_PKG_VERSION")))
            .tls_config(tls.build())
            .build()
            .into();
        let auth = if let Some(key) = &raw.api_key {
            Some(format!("ApiKey {key}"))
        } else if let (Some(u), Some(p)) = (&raw.username, &raw.password) {
            Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            ))
        } else {
            None
        };
        Ok(EsClient {
            agent,
            hosts: cfg.hosts.clone(),
            next: 0,
            auth,
            gzip: raw.compression.then_some(raw.compression_level),
            gz_buf: Vec::new(),
        })
    }

    /// Starts the round-robin at host `i` (so parallel senders spread over
    /// the hosts from their first request).
    pub fn start_at(&mut self, i: usize) {
        self.next = i % self.hosts.len().max(1);
    }

    /// The host URLs, for messages.
    pub fn hosts(&self) -> String {
        self.hosts
            .iter()
            .map(|h| h.base.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// One request, tried on each host at most once starting at the next in
    /// round-robin order; a host that answers with any status ends the loop.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        body: Option<(&[u8], &str)>,
    ) -> Result<Reply, ClientError> {
        let n = self.hosts.len().max(1);
        let mut last = ClientError::Transport {
            url: String::new(),
            reason: "no host configured".into(),
        };
        for _ in 0..n {
            let Some(host) = self.hosts.get(self.next % n).cloned() else {
                break;
            };
            self.next = (self.next + 1) % n;
            let url = format!("{}{}", host.base, path);
            match self.attempt(method, &url, body) {
                Ok((status, body)) => {
                    return Ok(Reply {
                        status,
                        body,
                        host: host.base,
                    })
                }
                Err(reason) => {
                    last = ClientError::Transport {
                        url: url.clone(),
                        reason,
                    }
                }
            }
        }
        Err(last)
    }

    fn attempt(
        &self,
        method: &str,
        url: &str,
        body: Option<(&[u8], &str)>,
    ) -> Result<(u16, Vec<u8>), String> {
        let mut req = ureq::http::Request::builder().method(method).uri(url);
        if let Some(a) = &self.auth {
            req = req.header("Authorization", a);
        }
        let result = match body {
            Some((bytes, content_type)) => {
                req = req.header("Content-Type", content_type);
                if content_type == "application/x-ndjson" && self.gzip.is_some() {
                    req = req.header("Content-Encoding", "gzip");
                }
                let r = req.body(bytes).map_err(|e| e.to_string())?;
                self.agent.run(r)
            }
            None => {
                let r = req.body(()).map_err(|e| e.to_string())?;
                self.agent.run(r)
            }
        };
        let mut resp = result.map_err(|e| one_line(&e.to_string()))?;
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE)
            .read_to_vec()
            .map_err(|e| one_line(&e.to_string()))?;
        Ok((status, body))
    }

    /// Asks the cluster who it is: `GET /`, else the nodes info API (the
    /// integ-test distribution has no root endpoint).
    pub fn cluster_info(&mut self) -> Result<ClusterInfo, ClientError> {
        let r = self.request("GET", "/", None)?;
        if r.status == 200 {
            if let Some(i) = ClusterInfo::from_json(&r.body) {
                return Ok(i);
            }
        }
        let path = "/_nodes/_local?filter_path=nodes.*.version,nodes.*.distribution";
        let r2 = self.request("GET", path, None)?;
        if r2.status == 200 {
            if let Some(i) = ClusterInfo::from_json(&r2.body) {
                return Ok(i);
            }
        }
        Err(ClientError::Status {
            url: format!("{}/", r.host),
            status: r.status,
            body: one_line(&String::from_utf8_lossy(&r.body)),
        })
    }

    /// Installs the index template unless the current version is there;
    /// falls back from `wildcard` to keyword+text when the cluster lacks it.
    /// Returns what was done, for a log line.
    pub fn install_template(
        &mut self,
        info: &ClusterInfo,
        name: &str,
        pattern: &str,
        settings: &template::IndexSettings,
    ) -> Result<&'static str, ClientError> {
        let mut flavor: Flavor = info.flavor();
        let path = template::path(flavor, name);
        let r = self.request("GET", &path, None)?;
        if r.status == 200 && template::is_current(flavor, name, settings, &r.body) {
            return Ok("present");
        }
        loop {
            let body = template::body(flavor, pattern, settings).to_string();
            let r = self.request("PUT", &path, Some((body.as_bytes(), "application/json")))?;
            if (200..300).contains(&r.status) {
                return Ok(if flavor.wildcard {
                    "installed"
                } else {
                    "installed (keyword for url.full: no wildcard type)"
                });
            }
            if flavor.wildcard && template::wildcard_unsupported(&r.body) {
                flavor.wildcard = false;
                continue;
            }
            return Err(ClientError::Status {
                url: format!("{}{}", r.host, path),
                status: r.status,
                body: one_line(&String::from_utf8_lossy(&r.body)),
            });
        }
    }

    /// Sends one `_bulk` body (gzipped when enabled). Returns the reply and
    /// the request latency.
    pub fn bulk(&mut self, body: &[u8]) -> Result<(Reply, Duration), ClientError> {
        let started = Instant::now();
        let reply = if let Some(level) = self.gzip {
            let mut buf = std::mem::take(&mut self.gz_buf);
            buf.clear();
            let mut enc = flate2::write::GzEncoder::new(buf, flate2::Compression::new(level));
            let gz = enc.write_all(body).and_then(|_| enc.finish()).map_err(|e| {
                ClientError::Transport {
                    url: BULK_PATH.into(),
                    reason: format!("gzip: {e}"),
                }
            });
            let gz = gz?;
            let r = self.request("POST", BULK_PATH, Some((&gz, "application/x-ndjson")));
            self.gz_buf = gz;
            r
        } else {
            self.request("POST", BULK_PATH, Some((body, "application/x-ndjson")))
        }?;
        Ok((reply, started.elapsed()))
    }
}
