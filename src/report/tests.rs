use super::*;

#[test]
fn the_page_has_no_script_breakout_and_carries_the_data() {
    if assets_available().is_err() {
        // The build had no ui/node_modules: the error names the fix.
        let e = render_page(None, false).unwrap_err().to_string();
        assert!(e.contains("tests/deps.sh"), "{e}");
        return;
    }
    let v = serde_json::json!({"x": "</script><script>alert(1)</script>"});
    let html = render_page(Some(&v), false).unwrap();
    assert_eq!(
        html.matches("</script>").count(),
        3,
        "only the page's own script ends"
    );
    assert!(html.contains("<\\/script><script>alert(1)"));
}

/// The page as the first implementation built it (`str::replace` over the
/// whole page, three times): the one-pass writer must give the same bytes.
fn render_page_by_replace(data: Option<&serde_json::Value>, live: bool) -> String {
    fn safe(s: &str) -> String {
        s.replace("</", "<\\/").replace("<!--", "<\\!--")
    }
    let lib = format!(
        "{}\n{}\nwindow.WORLD = {};",
        assets::ECHARTS.unwrap_or_default(),
        assets::TOPOJSON.unwrap_or_default(),
        assets::WORLD.unwrap_or_default()
    );
    let data = match data {
        Some(d) => safe(&d.to_string()),
        None => "null".into(),
    };
    let boot = format!("window.SPANLENS_DATA = {data};\nwindow.SPANLENS_LIVE = {live};\n{SCRIPT}");
    TEMPLATE
        .replacen(LIBS_MARK, &safe(&lib), 1)
        .replacen(APP_MARK, &safe(&boot), 1)
}

#[test]
fn one_pass_page_equals_the_replace_chain() {
    assert_eq!(
        script_safe("a</b<!--c<d<<//<!-<!--"),
        "a<\\/b<\\!--c<d<<\\//<!-<\\!--"
    );
    if assets_available().is_err() {
        return;
    }
    for lib in [assets::ECHARTS, assets::TOPOJSON, assets::WORLD] {
        let lib = lib.unwrap_or_default();
        assert!(!lib.contains(APP_MARK) && !lib.contains(LIBS_MARK));
        // Embedded already safe (build.rs), so the page copies them whole.
        assert!(
            script_safe(lib) == lib,
            "an embedded library still holds </ or <!--"
        );
    }
    let v = serde_json::json!({"x": "</script><!-- <b>", "y": [1, 2.5, "<\\/"]});
    for (d, live) in [(Some(&v), false), (None, true)] {
        assert!(render_page(d, live).unwrap() == render_page_by_replace(d, live));
    }
}
