//! Headless chromium for the page tests (Debian's `chromium`, the flags
//! the brief names, a new empty profile per run).

use super::have;
use std::process::Command;

/// The chromium binary, if installed.
pub fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| have(c))
}

/// Runs headless chromium on `page` with `extra` args; returns (stdout, stderr).
pub fn browse(page: &str, extra: &[&str]) -> (String, String) {
    let browser = chromium().expect("checked by the caller");
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1400,5200",
            "--virtual-time-budget=8000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(page)
        .output()
        .expect("spawn chromium");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Console messages chromium logged for the page (it logs every level as
/// `INFO:CONSOLE`; the page logs nothing itself, so any message fails).
pub fn console_errors(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught"))
        .map(str::to_owned)
        .collect()
}

/// Every `attr="..."` value on elements carrying `marker`.
pub fn attrs<'a>(html: &'a str, marker: &str, attr: &str) -> Vec<(&'a str, String)> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find(marker) {
        let tag_start = rest[..i].rfind('<').unwrap_or(0);
        let tag_end = i + rest[i..].find('>').unwrap_or(rest.len() - i);
        let tag = &rest[tag_start..tag_end];
        let needle = format!("{attr}=\"");
        if let Some(j) = tag.find(&needle) {
            let v = &tag[j + needle.len()..];
            let v = &v[..v.find('"').unwrap_or(v.len())];
            out.push((tag, v.replace("&amp;", "&").replace("&quot;", "\"")));
        }
        rest = &rest[tag_end.min(rest.len())..];
        if rest.is_empty() {
            break;
        }
    }
    out
}

/// The value of `attr` in one tag.
pub fn attr_of(tag: &str, attr: &str) -> Option<String> {
    let needle = format!("{attr}=\"");
    let j = tag.find(&needle)?;
    let v = &tag[j + needle.len()..];
    Some(v[..v.find('"')?].replace("&amp;", "&"))
}
