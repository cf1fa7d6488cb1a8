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
