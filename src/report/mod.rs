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
fn script_safe(s: &str) -> String {
    s.replace("</", "<\\/").replace("<!--", "<\\!--")
}

/// The HTML page. `data` is the model JSON embedded in the page (`None`
/// for the live page, which fetches `data.json`).
pub fn render_page(data: Option<&serde_json::Value>, live: bool) -> Result<String, ReportError> {
    assets_available()?;
    let lib = format!(
        "{}\n{}\nwindow.WORLD = {};",
        assets::ECHARTS.unwrap_or_default(),
        assets::TOPOJSON.unwrap_or_default(),
        assets::WORLD.unwrap_or_default()
    );
    let data = match data {
        Some(d) => script_safe(&d.to_string()),
        None => "null".into(),
    };
    let boot = format!(
        "window.SPANLENS_DATA = {data};\nwindow.SPANLENS_LIVE = {live};\n{}",
        SCRIPT
    );
    Ok(TEMPLATE
        .replacen("/*@LIBS@*/", &script_safe(&lib), 1)
        .replacen("/*@APP@*/", &script_safe(&boot), 1))
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
