//! The module graph of `src/` has no cycle: small shared types live at the
//! bottom (`Dir`, `Transport` in `flow`; `HumanDuration` in `time`; link
//! types in `capture`), and nothing that `config` depends on imports
//! `config` back. Dependencies are the `crate::<module>` paths (and, inside
//! a folder, `super::<file>` paths) of non-test code, comments removed.
//!
//! One mutual reference is deliberate and allowed: `proto::session`'s
//! `TxSink` counts events under the names `proto::registry` generates from
//! the protocol list, and the registry names the session traits.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const ALLOWED: &[(&str, &str)] = &[("proto::registry", "proto::session")];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Non-test code of a file, without comments.
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `prefix::a::b` path in `text` (identifier characters only).
fn paths(text: &str, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(prefix) {
        let before = rest[..i].chars().last();
        rest = &rest[i + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let end = rest
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == ':'))
            .unwrap_or(rest.len());
        out.push(rest[..end].trim_end_matches(':').to_string());
    }
    out
}

fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn dfs(
        u: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(u.to_string(), 1);
        stack.push(u.to_string());
        for v in edges.get(u).into_iter().flatten() {
            match state.get(v.as_str()) {
                Some(1) => {
                    let i = stack.iter().position(|s| s == v).unwrap_or(0);
                    let mut c = stack[i..].to_vec();
                    c.push(v.clone());
                    return Some(c);
                }
                Some(_) => {}
                None => {
                    if let Some(c) = dfs(v, edges, state, stack) {
                        return Some(c);
                    }
                }
            }
        }
        stack.pop();
        state.insert(u.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for u in edges.keys() {
        if !state.contains_key(u.as_str()) {
            if let Some(c) = dfs(u, edges, &mut state, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

#[test]
fn the_module_graph_has_no_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    // Module path of each file: src/proto/http/event.rs is proto::http::event.
    let mut modules: BTreeMap<String, String> = BTreeMap::new();
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap().with_extension("");
        let mut parts: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let name = parts.last().cloned().unwrap_or_default();
        if ["main", "lib", "tests", "corpus_tests", "test_support"].contains(&name.as_str()) {
            continue;
        }
        if name == "mod" {
            parts.pop();
        }
        let text = std::fs::read_to_string(f).unwrap();
        modules.insert(parts.join("::"), code(&text));
    }
    let known: BTreeSet<String> = modules.keys().cloned().collect();
    let top = |m: &str| m.split("::").next().unwrap_or(m).to_string();
    let mut top_edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut file_edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (m, text) in &modules {
        let parent: Vec<&str> = {
            let mut p: Vec<&str> = m.split("::").collect();
            p.pop();
            p
        };
        let mut targets: Vec<String> = paths(text, "crate::");
        targets.extend(paths(text, "super::").into_iter().map(|t| {
            let mut p = parent.clone();
            p.push(&t);
            p.join("::")
        }));
        for t in targets {
            // The longest known module the path names.
            let segs: Vec<&str> = t.split("::").collect();
            let hit = (1..=segs.len())
                .rev()
                .map(|n| segs[..n].join("::"))
                .find(|p| known.contains(p));
            let Some(hit) = hit else { continue };
            if top(&hit) != top(m) {
                top_edges.entry(top(m)).or_default().insert(top(&hit));
            } else if &hit != m
                && !ALLOWED.iter().any(|&(a, b)| {
                    (a == m && b == hit) || (b == m && a == hit)
                })
                // A module's own mod.rs re-exports its files: not a dependency.
                && !m.starts_with(&format!("{hit}::"))
                && !hit.starts_with(&format!("{m}::"))
            {
                file_edges.entry(m.clone()).or_default().insert(hit);
            }
        }
    }
    assert!(top_edges.contains_key("worker"), "the scan found no edges");
    if let Some(c) = find_cycle(&top_edges) {
        panic!("module cycle: {}", c.join(" -> "));
    }
    if let Some(c) = find_cycle(&file_edges) {
        panic!("file cycle: {}", c.join(" -> "));
    }
    for m in ["time", "flow", "stats"] {
        assert!(
            !top_edges.get(m).is_some_and(|d| d.contains("config")),
            "{m} imports config"
        );
    }
}
