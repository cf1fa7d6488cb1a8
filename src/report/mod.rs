//! The report: one self-contained HTML page (scripts, styles, map outlines
//! and data embedded) built from an [`Aggregator`], and the NDJSON reader
//! behind `spanlens report`.
//!
//! The page's data is a [`model`] computed here, so the page only draws:
//! every figure it shows (totals, percentiles, codes) comes from this
//! module and is tested against an independent computation.

pub mod live;
pub mod model;

use crate::aggregate::summary::{Event, Parsed};
use crate::aggregate::{AggConfig, Aggregator};
use std::io::BufRead;
use std::path::Path;

mod assets {
    include!(concat!(env!("OUT_DIR"), "/report_assets.rs"));
}

/// The page template and its script (ours, committed).
const TEMPLATE: &str = include_str!("../../ui/report.html");
const SCRIPT: &str = include_str!("../../ui/report.js");

/// Errors building a report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The chart library or the map was not installed when spanlens was built.
    #[error("this spanlens was built without the report's chart library ({0} missing): run tests/deps.sh (it installs ui/node_modules from the npm registry), then build again")]
    NoAssets(&'static str),
    /// Reading an input file failed.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Writing the report failed.
    #[error("cannot write report {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Whether the page's third-party code was embedded at build time.
pub fn assets_available() -> Result<(), ReportError> {
    let missing = [
        ("echarts", assets::ECHARTS),
        ("topojson-client", assets::TOPOJSON),
        ("world-atlas", assets::WORLD),
    ]
    .into_iter()
    .find(|(_, a)| a.is_none());
    match missing {
        Some((name, _)) => Err(ReportError::NoAssets(name)),
        None => Ok(()),
    }
}

/// Makes text safe inside a `<script>` element.
#[cfg(test)]
fn script_safe(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    script_safe_into(&mut out, s);
    out
}

/// Appends `s` made safe inside a `<script>` element: `</` becomes `<\/`
/// and `<!--` becomes `<\!--` (one pass over the `<` found by `memchr`;
/// the chart library alone is over a megabyte).
fn script_safe_into(out: &mut String, s: &str) {
    let b = s.as_bytes();
    let mut from = 0;
    for i in memchr::memchr_iter(b'<', b) {
        let rest = &b[i + 1..];
        if rest.first() == Some(&b'/') || rest.starts_with(b"!--") {
            // `<` is ASCII: both cuts fall on character boundaries.
            out.push_str(&s[from..=i]);
            out.push('\\');
            from = i + 1;
        }
    }
    out.push_str(&s[from..]);
}

/// Where the libraries go in the template.
const LIBS_MARK: &str = "/*@LIBS@*/";
/// Where the page's own script goes.
const APP_MARK: &str = "/*@APP@*/";

/// The HTML page. `data` is the model JSON embedded in the page (`None`
/// for the live page, which fetches `data.json`).
pub fn render_page(data: Option<&serde_json::Value>, live: bool) -> Result<String, ReportError> {
    assets_available()?;
    let data = match data {
        Some(d) => d.to_string(),
        None => "null".into(),
    };
    // Made safe at build time (`build.rs`).
    let libs = [
        assets::ECHARTS.unwrap_or_default(),
        "\n",
        assets::TOPOJSON.unwrap_or_default(),
        "\nwindow.WORLD = ",
        assets::WORLD.unwrap_or_default(),
        ";",
    ];
    let boot = [
        "window.SPANLENS_DATA = ",
        data.as_str(),
        ";\nwindow.SPANLENS_LIVE = ",
        if live { "true" } else { "false" },
        ";\n",
        SCRIPT,
    ];
    let size = |parts: &[&str]| parts.iter().map(|p| p.len()).sum::<usize>();
    let mut out = String::with_capacity(TEMPLATE.len() + size(&libs) + size(&boot) + 4096);
    // The first LIBS mark, then the first APP mark of the result (the
    // libraries never contain it: tested).
    let safe = |out: &mut String, parts: &[&str]| {
        for p in parts {
            script_safe_into(out, p);
        }
    };
    let copy = |out: &mut String, parts: &[&str]| {
        for p in parts {
            out.push_str(p);
        }
    };
    match TEMPLATE.split_once(LIBS_MARK) {
        None => match TEMPLATE.split_once(APP_MARK) {
            Some((pre, post)) => {
                out.push_str(pre);
                safe(&mut out, &boot);
                out.push_str(post);
            }
            None => out.push_str(TEMPLATE),
        },
        Some((pre, post)) => {
            if let Some((a, b)) = pre.split_once(APP_MARK) {
                out.push_str(a);
                safe(&mut out, &boot);
                out.push_str(b);
                copy(&mut out, &libs);
                out.push_str(post);
            } else {
                out.push_str(pre);
                copy(&mut out, &libs);
                match post.split_once(APP_MARK) {
                    Some((a, b)) => {
                        out.push_str(a);
                        safe(&mut out, &boot);
                        out.push_str(b);
                    }
                    None => out.push_str(post),
                }
            }
        }
    }
    Ok(out)
}

/// Writes the report of `agg` to `path`.
pub fn write_report(
    path: &Path,
    agg: &Aggregator,
    sensor: Option<&serde_json::Value>,
    sources: &[String],
) -> Result<u64, ReportError> {
    let model = model::build(agg, sensor, sources);
    let html = render_page(Some(&model), false)?;
    std::fs::write(path, &html).map_err(|source| ReportError::Write {
        path: path.display().to_string(),
        source,
    })?;
    Ok(html.len() as u64)
}

/// Reads NDJSON event files into one aggregate. Lines that are not events
/// are counted in `bounds.bad_lines`.
pub fn read_ndjson(paths: &[impl AsRef<Path>], cfg: AggConfig) -> Result<Aggregator, ReportError> {
    let mut agg = Aggregator::new(cfg);
    for p in paths {
        let p = p.as_ref();
        let err = |source| ReportError::Read {
            path: p.display().to_string(),
            source,
        };
        let f = std::fs::File::open(p).map_err(err)?;
        let mut r = std::io::BufReader::with_capacity(1 << 20, f);
        let mut line = Vec::with_capacity(4096);
        loop {
            line.clear();
            if r.read_until(b'\n', &mut line).map_err(err)? == 0 {
                break;
            }
            let l = line.strip_suffix(b"\n").unwrap_or(&line);
            if l.iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            add_line(&mut agg, l);
        }
    }
    Ok(agg)
}

/// Folds one NDJSON line into `agg`.
pub fn add_line(agg: &mut Aggregator, line: &[u8]) {
    match Event::parse(line) {
        Ok(ev) => match ev.summary() {
            Parsed::Tx(tx) => agg.add_tx(&tx, || String::from_utf8(line.to_vec()).ok()),
            Parsed::Flow(f) => agg.add_flow(&f),
            Parsed::Other => {}
        },
        Err(_) => agg.bounds.bad_lines += 1,
    }
}

#[cfg(test)]
mod tests;
