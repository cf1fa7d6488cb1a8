//! Helpers shared by the binary-level tests.
#![allow(dead_code)]

pub mod browser;
pub mod mmdb;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The spanlens binary built for these tests.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_spanlens"))
}

/// Reports a skipped test: prints `SKIPPED: <test>: <reason>` on stderr and
/// appends the same line to `$SPANLENS_SKIP_LOG` when set, so the test
/// runner (tests/run-all.sh) counts and lists every skip.
pub fn skip(reason: &str) {
    let t = std::thread::current();
    let line = format!("SKIPPED: {}: {reason}", t.name().unwrap_or("test"));
    eprintln!("{line}");
    if let Some(p) = std::env::var_os("SPANLENS_SKIP_LOG") {
        use std::io::Write as _;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
        {
            let _ = writeln!(f, "{line}");
        }
    }
}

/// The shared corpus of real captures, or `None` (with a printed notice)
/// when it is not present on this machine.
pub fn corpus() -> Option<PathBuf> {
    let dir = std::env::var_os("SPANLENS_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    if dir.join("MANIFEST.md").is_file() {
        Some(dir)
    } else {
        skip(&format!(
            "corpus not found at {} (set SPANLENS_CORPUS to run the corpus tests)",
            dir.display()
        ));
        None
    }
}

/// A file under tests/data.
pub fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// Runs the binary; returns the output.
pub fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("spawn spanlens")
}

/// Runs `cmd`; panics with its stderr unless it succeeds.
pub fn succeed(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{:?} failed: {}",
        cmd,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `spanlens replay -q --no-progress ARGS` and parses stdout as NDJSON;
/// panics with stderr when it fails.
pub fn replay(args: &[&str]) -> Vec<Value> {
    let mut all = vec!["replay", "-q", "--no-progress"];
    all.extend_from_slice(args);
    let out = run(&all);
    assert!(
        out.status.success(),
        "spanlens {:?} failed: {}",
        all,
        String::from_utf8_lossy(&out.stderr)
    );
    parse_ndjson(&out.stdout)
}

/// Parses NDJSON, checking every line is a JSON object.
pub fn parse_ndjson(bytes: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(bytes)
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("bad JSON line {l}: {e}"))
        })
        .collect()
}

/// Events of one `type`.
pub fn of_type<'a>(events: &'a [Value], t: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == t).collect()
}

/// Writes a temporary config file.
pub fn config_file(text: &str) -> tempfile::NamedTempFile {
    use std::io::Write;
    let mut f = tempfile::Builder::new()
        .suffix(".toml")
        .tempfile()
        .expect("temp file");
    f.write_all(text.as_bytes()).expect("write config");
    f
}

/// Whether a program is on PATH.
pub fn have(program: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Whether the tests run as root (capture, namespaces).
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Canonical text of events for multiset comparison (sorted lines).
pub fn canonical(events: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = events.iter().map(|e| e.to_string()).collect();
    v.sort();
    v
}
