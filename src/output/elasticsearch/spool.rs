//! The on-disk spool: bulk bodies that could not be delivered yet, kept in
//! order in a directory and bounded in bytes.
//!
//! Each entry is one file `<seq>-<docs>.bulk` holding a bulk body exactly as
//! it would be sent (see [`BulkChunk`]); the sequence number orders entries,
//! so the spool survives a restart and is replayed oldest first. A file is
//! written to a temporary name and renamed, so a crash never leaves half an
//! entry under a real name. The spool does not send anything, and it never
//! drops silently: [`Spool::push_back`] says when an entry did not fit, and
//! [`Spool::evict_for`] (the caller's way to make room at the bound by
//! dropping the oldest entries) returns how many documents it removed.
//!
//! One process at a time: [`Spool::open`] takes an exclusive `flock` on
//! `<dir>/.lock` for as long as the spool lives, so a replay and a live run
//! (or two runs) never interleave their entries; [`Spool::inspect`] reads
//! a spool without the lock, for `spanlens spool status`.

use super::encoder::{BulkChunk, MalformedBody};
use std::collections::VecDeque;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Spool failures.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// A file operation failed.
    #[error("spool {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A spool file is not a bulk body (corrupted or not ours).
    #[error("spool file {path}: {source}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: MalformedBody,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    seq: u64,
    bytes: u64,
    docs: u64,
}

/// First sequence number of a new spool: leaves room to push in front.
const FIRST_SEQ: u64 = 1 << 40;

/// A bounded, ordered, on-disk queue of bulk bodies.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    entries: VecDeque<Entry>,
    bytes: u64,
    docs: u64,
    /// Holds the `flock` while the spool is open (None for [`Spool::inspect`]).
    _lock: Option<fs::File>,
}

/// What `spanlens spool status` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolInfo {
    /// Entries (bulk requests).
    pub entries: usize,
    /// Documents.
    pub docs: u64,
    /// Bytes on disk.
    pub bytes: u64,
    /// Modification time of the oldest and the newest entry.
    pub oldest: Option<std::time::SystemTime>,
    /// See `oldest`.
    pub newest: Option<std::time::SystemTime>,
    /// The hosts recorded by the run that wrote the spool (`<dir>/cluster`).
    pub cluster: Option<String>,
}

fn lock(dir: &Path) -> Result<fs::File, SpoolError> {
    let path = dir.join(".lock");
    let f = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| SpoolError::Io {
            path: path.clone(),
            source,
        })?;
    if rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_err() {
        return Err(SpoolError::Io {
            path: dir.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::WouldBlock,
                "in use by another spanlens process (stop it, or give this run its own output.elasticsearch.spool_dir)",
            ),
        });
    }
    Ok(f)
}

impl Spool {
    /// Opens (creating) `dir` and locks it; entries left by an earlier run
    /// are kept, in order; stray temporary files are removed.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<Spool, SpoolError> {
        fs::create_dir_all(dir).map_err(|source| SpoolError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let l = lock(dir)?;
        let mut s = Self::scan(dir, max_bytes, true)?;
        s._lock = Some(l);
        Ok(s)
    }

    /// Reads what `dir` holds without locking or changing it.
    pub fn inspect(dir: &Path) -> Result<SpoolInfo, SpoolError> {
        let s = Self::scan(dir, u64::MAX, false)?;
        let mtime = |e: Option<&Entry>| {
            e.and_then(|e| fs::metadata(s.path(e)).ok())
                .and_then(|m| m.modified().ok())
        };
        Ok(SpoolInfo {
            entries: s.entries.len(),
            docs: s.docs,
            bytes: s.bytes,
            oldest: mtime(s.entries.front()),
            newest: mtime(s.entries.back()),
            cluster: fs::read_to_string(dir.join("cluster"))
                .ok()
                .map(|t| t.trim().to_string()),
        })
    }

    /// Records which cluster the spooled documents are for (shown by `spool status`).
    pub fn set_cluster(&self, hosts: &str) {
        let _ = fs::write(self.dir.join("cluster"), format!("{hosts}\n"));
    }

    fn scan(dir: &Path, max_bytes: u64, tidy: bool) -> Result<Spool, SpoolError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| SpoolError::Io { path, source }
        };
        let mut entries = Vec::new();
        for e in fs::read_dir(dir).map_err(io(dir))? {
            let e = e.map_err(io(dir))?;
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.ends_with(".tmp") {
                if tidy {
                    let _ = fs::remove_file(e.path());
                }
                continue;
            }
            let Some(stem) = name.strip_suffix(".bulk") else {
                continue;
            };
            let Some((seq, docs)) = stem.split_once('-') else {
                continue;
            };
            let (Ok(seq), Ok(docs)) = (seq.parse::<u64>(), docs.parse::<u64>()) else {
                continue;
            };
            let bytes = e.metadata().map_err(io(&e.path()))?.len();
            entries.push(Entry { seq, bytes, docs });
        }
        entries.sort_by_key(|e| e.seq);
        let bytes = entries.iter().map(|e| e.bytes).sum();
        let docs = entries.iter().map(|e| e.docs).sum();
        Ok(Spool {
            dir: dir.to_path_buf(),
            max_bytes,
            entries: entries.into(),
            bytes,
            docs,
            _lock: None,
        })
    }

    fn path(&self, e: &Entry) -> PathBuf {
        self.dir.join(format!("{:020}-{}.bulk", e.seq, e.docs))
    }

    /// Bytes on disk.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Documents on disk.
    pub fn docs(&self) -> u64 {
        self.docs
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is spooled.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn fits(&self, bytes: u64) -> bool {
        self.bytes.saturating_add(bytes) <= self.max_bytes
    }

    fn write(&self, e: &Entry, body: &[u8]) -> Result<(), SpoolError> {
        let path = self.path(e);
        let tmp = path.with_extension("tmp");
        let io = |source| SpoolError::Io {
            path: tmp.clone(),
            source,
        };
        let written = fs::File::create(&tmp).and_then(|mut f| {
            f.write_all(body)?;
            f.sync_data()
        });
        if let Err(e) = written {
            // A full disk leaves no half entry behind (and frees its room).
            let _ = fs::remove_file(&tmp);
            return Err(io(e));
        }
        fs::rename(&tmp, &path).map_err(|source| SpoolError::Io { path, source })
    }

    /// Makes room for `bytes` more at the bound by deleting the oldest
    /// entries (after the first one when `keep_front`: the sender holds
    /// it). Returns the documents deleted, which the caller counts as lost.
    /// Does nothing when `bytes` alone exceeds the bound.
    pub fn evict_for(&mut self, bytes: u64, keep_front: bool) -> u64 {
        if bytes > self.max_bytes {
            return 0;
        }
        let mut lost = 0;
        let at = usize::from(keep_front);
        while !self.fits(bytes) && self.entries.len() > at {
            let Some(e) = self.entries.remove(at) else {
                break;
            };
            let _ = fs::remove_file(self.path(&e));
            self.bytes = self.bytes.saturating_sub(e.bytes);
            self.docs = self.docs.saturating_sub(e.docs);
            lost += e.docs;
        }
        lost
    }

    fn add(&mut self, chunk: &BulkChunk, front: bool) -> Result<bool, SpoolError> {
        if chunk.is_empty() {
            return Ok(true);
        }
        let bytes = chunk.bytes() as u64;
        if !self.fits(bytes) {
            return Ok(false);
        }
        let seq = if front {
            self.entries
                .front()
                .map_or(FIRST_SEQ, |e| e.seq.saturating_sub(1))
        } else {
            self.entries
                .back()
                .map_or(FIRST_SEQ, |e| e.seq.saturating_add(1))
        };
        let e = Entry {
            seq,
            bytes,
            docs: chunk.len() as u64,
        };
        self.write(&e, chunk.body())?;
        if front {
            self.entries.push_front(e);
        } else {
            self.entries.push_back(e);
        }
        self.bytes += bytes;
        self.docs += e.docs;
        Ok(true)
    }

    /// Appends a chunk (the newest). `Ok(false)` when it does not fit in
    /// `spool_max_bytes`: nothing was written and the caller must count the
    /// documents as dropped.
    pub fn push_back(&mut self, chunk: &BulkChunk) -> Result<bool, SpoolError> {
        self.add(chunk, false)
    }

    /// Puts a chunk before every entry (it is older than all of them: a
    /// batch that was in flight when the cluster went away). Same bound.
    pub fn push_front(&mut self, chunk: &BulkChunk) -> Result<bool, SpoolError> {
        self.add(chunk, true)
    }

    /// Reads the oldest entry without removing it; `None` when empty.
    pub fn peek(&self) -> Result<Option<BulkChunk>, SpoolError> {
        let Some(e) = self.entries.front() else {
            return Ok(None);
        };
        let path = self.path(e);
        let body = fs::read(&path).map_err(|source| SpoolError::Io {
            path: path.clone(),
            source,
        })?;
        BulkChunk::from_body(body)
            .map(Some)
            .map_err(|source| SpoolError::Corrupt { path, source })
    }

    /// Removes the oldest entry (after it was delivered, or when corrupt).
    pub fn pop(&mut self) -> Result<(), SpoolError> {
        if let Some(e) = self.entries.pop_front() {
            self.bytes = self.bytes.saturating_sub(e.bytes);
            self.docs = self.docs.saturating_sub(e.docs);
            let path = self.path(&e);
            fs::remove_file(&path).map_err(|source| SpoolError::Io { path, source })?;
        }
        Ok(())
    }

    /// Replaces the oldest entry by what is left of it (some documents were
    /// delivered, the rest must wait). An empty rest just pops.
    pub fn replace_front(&mut self, rest: &BulkChunk) -> Result<(), SpoolError> {
        self.pop()?;
        if !rest.is_empty() {
            // It was in the spool already, so it fits again.
            let saved = self.max_bytes;
            self.max_bytes = u64::MAX;
            let r = self.push_front(rest);
            self.max_bytes = saved;
            r?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventMeta;

    fn chunk(first: u32, n: u32) -> BulkChunk {
        let mut c = BulkChunk::default();
        for i in first..first + n {
            let m = EventMeta {
                start: 0,
                len: 0,
                ts: 0,
                flow_id: 7,
                index: i,
            };
            c.push_event("spool-test", &m, format!("{{\"n\":{i}}}").as_bytes());
        }
        c
    }

    fn first_index(c: &BulkChunk) -> u64 {
        let v: serde_json::Value = serde_json::from_slice(c.source(0)).unwrap();
        v["n"].as_u64().unwrap()
    }

    #[test]
    fn replays_in_order_including_pushed_front() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(dir.path(), 1 << 20).unwrap();
        assert!(s.push_back(&chunk(10, 2)).unwrap());
        assert!(s.push_back(&chunk(20, 3)).unwrap());
        assert!(s.push_front(&chunk(0, 1)).unwrap());
        assert_eq!(s.docs(), 6);
        let mut seen = Vec::new();
        while let Some(c) = s.peek().unwrap() {
            seen.push(first_index(&c));
            s.pop().unwrap();
        }
        assert_eq!(seen, vec![0, 10, 20]);
        assert_eq!((s.bytes(), s.docs()), (0, 0));
        let bulk_files = fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".bulk")
            })
            .count();
        assert_eq!(bulk_files, 0);
    }

    #[test]
    fn survives_reopen_in_order() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut s = Spool::open(dir.path(), 1 << 20).unwrap();
            for k in 0..12 {
                s.push_back(&chunk(k * 100, 1)).unwrap();
            }
            s.pop().unwrap();
        }
        fs::write(dir.path().join("junk.tmp"), b"half").unwrap();
        let mut s = Spool::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(s.len(), 11);
        assert_eq!(s.docs(), 11);
        let mut seen = Vec::new();
        while let Some(c) = s.peek().unwrap() {
            seen.push(first_index(&c));
            s.pop().unwrap();
        }
        assert_eq!(seen, (1..12).map(|k| k * 100).collect::<Vec<_>>());
        assert!(!dir.path().join("junk.tmp").exists());
    }

    #[test]
    fn bound_refuses_what_does_not_fit() {
        let dir = tempfile::tempdir().unwrap();
        let one = chunk(0, 1);
        let max = one.bytes() as u64 * 2;
        let mut s = Spool::open(dir.path(), max).unwrap();
        assert!(s.push_back(&chunk(0, 1)).unwrap());
        assert!(s.push_back(&chunk(1, 1)).unwrap());
        assert!(!s.push_back(&chunk(2, 1)).unwrap());
        assert!(!s.push_front(&chunk(3, 1)).unwrap());
        assert_eq!(s.bytes(), max);
        assert_eq!(s.len(), 2);
        // Partial delivery: the rest replaces the head even at the bound
        // (here it is larger than the head it replaces).
        s.replace_front(&chunk(5, 2)).unwrap();
        assert_eq!(first_index(&s.peek().unwrap().unwrap()), 5);
        assert_eq!(s.len(), 2);
        assert_eq!(s.docs(), 3);
        s.replace_front(&BulkChunk::default()).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(first_index(&s.peek().unwrap().unwrap()), 1);
    }

    #[test]
    fn corrupt_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("00000000000000000001-1.bulk"), b"garbage\n").unwrap();
        let mut s = Spool::open(dir.path(), 1 << 20).unwrap();
        let e = s.peek().unwrap_err().to_string();
        assert!(e.contains("00000000000000000001-1.bulk"), "{e}");
        s.pop().unwrap();
        assert!(s.is_empty());
    }

    #[test]
    fn eviction_drops_the_oldest_and_counts_it() {
        let dir = tempfile::tempdir().unwrap();
        let one = chunk(0, 1);
        let max = one.bytes() as u64 * 3;
        let mut s = Spool::open(dir.path(), max).unwrap();
        for k in 0..3 {
            assert!(s.push_back(&chunk(k, 1)).unwrap());
        }
        // The sender holds entry 0: entry 1 goes first.
        assert_eq!(s.evict_for(one.bytes() as u64, true), 1);
        assert!(s.push_back(&chunk(3, 1)).unwrap());
        assert_eq!(s.evict_for(one.bytes() as u64, false), 1);
        assert!(s.push_back(&chunk(4, 1)).unwrap());
        let mut seen = Vec::new();
        while let Some(c) = s.peek().unwrap() {
            seen.push(first_index(&c));
            s.pop().unwrap();
        }
        assert_eq!(seen, vec![2, 3, 4]);
        // Larger than the whole bound: nothing is evicted for it.
        assert_eq!(s.evict_for(max + 1, false), 0);
    }

    #[test]
    fn a_second_process_cannot_open_a_locked_spool_but_can_inspect_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(dir.path(), 1 << 20).unwrap();
        s.push_back(&chunk(0, 4)).unwrap();
        s.set_cluster("http://127.0.0.1:9200");
        let e = Spool::open(dir.path(), 1 << 20).unwrap_err().to_string();
        assert!(e.contains("in use by another spanlens process"), "{e}");
        let info = Spool::inspect(dir.path()).unwrap();
        assert_eq!((info.entries, info.docs), (1, 4));
        assert_eq!(info.cluster.as_deref(), Some("http://127.0.0.1:9200"));
        assert!(info.oldest.is_some());
        drop(s);
        assert!(Spool::open(dir.path(), 1 << 20).is_ok());
    }
}
