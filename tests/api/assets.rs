//! The browser bundle's files: named by their build's content hash, precompressed, cached for good; the pages
//! that name them are never cached.

use crate::helpers::spawn_app_with;
use std::path::Path;

const BUILD: &str = "0123456789abcdef";

/// A site root as `tools/bundle` leaves it: `bundle.json` naming `pkg/<build>/`, whose files each have a brotli
/// and a gzip sibling (here with recognisable contents rather than real compression).
fn built_site(root: &Path) {
    let dir = root.join("pkg").join(BUILD);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("intentlab.js"), "plain").unwrap();
    std::fs::write(dir.join("intentlab.js.br"), "brotli").unwrap();
    std::fs::write(dir.join("intentlab.js.gz"), "gzip").unwrap();
    std::fs::write(dir.join("intentlab.css"), "body {}").unwrap();
    let manifest = serde_json::json!({ "inputs": "x", "pkg_dir": format!("pkg/{BUILD}"), "files": [] });
    std::fs::write(root.join("bundle.json"), manifest.to_string()).unwrap();
}

#[tokio::test]
async fn pages_name_the_current_build_and_are_never_cached() {
    let site = tempfile::tempdir().unwrap();
    built_site(site.path());
    let app = spawn_app_with(|s| s.site_root = site.path().display().to_string()).await;

    let response = app.client.get(app.url("/login")).send().await.unwrap();
    assert_eq!(response.headers()["cache-control"], "no-store");
    let html = response.text().await.unwrap();
    assert!(html.contains(&format!("/pkg/{BUILD}/intentlab.js")), "{html}");
    assert!(html.contains(&format!("/pkg/{BUILD}/intentlab.css")), "{html}");
}

#[tokio::test]
async fn bundle_files_are_sent_precompressed_and_cached_for_good() {
    let site = tempfile::tempdir().unwrap();
    built_site(site.path());
    let app = spawn_app_with(|s| s.site_root = site.path().display().to_string()).await;
    // A client that leaves the body as it came, so the test sees which file was sent.
    let client = reqwest::Client::new();
    let url = app.url(&format!("/pkg/{BUILD}/intentlab.js"));

    for (accept, encoding, body) in
        [("br, gzip", Some("br"), "brotli"), ("gzip", Some("gzip"), "gzip"), ("identity", None, "plain")]
    {
        let response = client.get(&url).header("accept-encoding", accept).send().await.unwrap();
        assert_eq!(response.status(), 200, "{accept}");
        let headers = response.headers();
        assert_eq!(headers.get("content-encoding").map(|v| v.to_str().unwrap()), encoding, "{accept}");
        assert_eq!(headers["cache-control"], "public, max-age=31536000, immutable");
        assert_eq!(headers["vary"], "accept-encoding");
        assert!(headers["content-type"].to_str().unwrap().contains("javascript"));
        assert_eq!(response.text().await.unwrap(), body, "{accept}");
    }
}

#[tokio::test]
async fn a_missing_bundle_file_is_a_json_404_that_is_not_cached() {
    let site = tempfile::tempdir().unwrap();
    built_site(site.path());
    let app = spawn_app_with(|s| s.site_root = site.path().display().to_string()).await;
    let response = app.client.get(app.url("/pkg/fedcba9876543210/intentlab.js")).send().await.unwrap();
    assert!(response.headers().get("cache-control").is_none());
    assert_eq!(crate::helpers::error_code(response, 404).await, "not_found");
}
