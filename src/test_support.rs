//! Helpers for the library's own tests.

use std::path::PathBuf;

/// The shared corpus of real captures (`SPANLENS_CORPUS`, else
/// `../shared/corpus` beside the repository), or `None` with a notice when
/// it is not on this machine.
pub(crate) fn corpus_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("SPANLENS_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    if dir.join("MANIFEST.md").is_file() {
        Some(dir)
    } else {
        skip(&format!("corpus not found at {}", dir.display()));
        None
    }
}

/// Reports a skipped test: prints `SKIPPED: <test>: <reason>` on stderr and
/// appends the same line to `$SPANLENS_SKIP_LOG` when set, so the test
/// runner (tests/run-all.sh) counts and lists every skip.
pub(crate) fn skip(reason: &str) {
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

/// One step of Marsaglia's xorshift64: a fixed-seed pseudo-random sequence
/// for the randomized tests (`x` must not start at zero).
pub(crate) fn xorshift64(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}
