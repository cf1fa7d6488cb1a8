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
        eprintln!("corpus not found at {}: skipping", dir.display());
        None
    }
}
