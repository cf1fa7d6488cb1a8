//! Log output through `tracing`: text or JSON lines, to stderr or to a file
//! that SIGHUP reopens (so logrotate can move it away).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

static FILE: OnceLock<(PathBuf, Mutex<File>)> = OnceLock::new();

fn open(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// Reopens the log file (no-op when logging to stderr).
pub fn reopen() {
    if let Some((path, f)) = FILE.get() {
        if let (Ok(new), Ok(mut g)) = (open(path), f.lock()) {
            *g = new;
        }
    }
}

/// A writer handed to tracing-subscriber for every record.
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match FILE.get() {
            Some((_, f)) => match f.lock() {
                Ok(mut g) => g.write(buf),
                Err(_) => Ok(buf.len()),
            },
            None => std::io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match FILE.get() {
            Some((_, f)) => f.lock().map(|mut g| g.flush()).unwrap_or(Ok(())),
            None => std::io::stderr().flush(),
        }
    }
}

/// Installs the global subscriber. `level`: error..trace; `json`: one JSON
/// object per line; `file`: append there instead of stderr.
pub fn init(level: &str, json: bool, file: Option<&Path>) -> std::io::Result<()> {
    if let Some(p) = file {
        let f = open(p)?;
        let _ = FILE.set((p.to_path_buf(), Mutex::new(f)));
    }
    let filter = tracing_subscriber::EnvFilter::try_new(format!("spanlens={level}"))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("spanlens=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| LogWriter)
        .with_ansi(false)
        .with_target(false);
    let res = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    // A second init (tests) keeps the first subscriber.
    let _ = res;
    Ok(())
}
