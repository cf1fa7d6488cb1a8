//! Embeds the report page's third-party code (installed from the npm
//! registry into ui/node_modules by tests/deps.sh, never committed) when it
//! is present. Without it spanlens still builds; `--report`, `report` and
//! `--ui` then fail with a one-line error saying to run tests/deps.sh.

use std::path::Path;

fn main() {
    let root = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let assets = [
        ("ECHARTS", "ui/node_modules/echarts/dist/echarts.min.js"),
        (
            "TOPOJSON",
            "ui/node_modules/topojson-client/dist/topojson-client.min.js",
        ),
        ("WORLD", "ui/node_modules/world-atlas/countries-110m.json"),
    ];
    let mut code = String::new();
    for (name, rel) in assets {
        let path = Path::new(&root).join(rel);
        if path.is_file() {
            // Made safe inside a `<script>` element here, once, rather
            // than on every page written (the chart library is over a
            // megabyte, with thousands of `<`).
            let text = std::fs::read_to_string(&path).expect("read a report asset");
            let safe = Path::new(&out).join(format!("{name}.safe"));
            std::fs::write(&safe, script_safe(&text)).expect("write OUT_DIR file");
            code.push_str(&format!(
                "/// Embedded `{rel}`, made safe inside a `<script>` element.\npub const {name}: Option<&str> = Some(include_str!({:?}));\n",
                safe.display().to_string()
            ));
        } else {
            code.push_str(&format!(
                "/// `{rel}` was not installed at build time.\npub const {name}: Option<&str> = None;\n"
            ));
        }
    }
    // The folder, not the files: a missing file would rerun this on every build.
    println!("cargo:rerun-if-changed=ui");
    std::fs::write(Path::new(&out).join("report_assets.rs"), code).expect("write OUT_DIR file");
}

/// `</` becomes `<\/` and `<!--` becomes `<\!--`: what the report's
/// `script_safe_into` does to every part of the page (it leaves these
/// parts unchanged: tested).
fn script_safe(s: &str) -> String {
    s.replace("</", "<\\/").replace("<!--", "<\\!--")
}
