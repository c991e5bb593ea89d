//! The OpenAPI document describes what the results endpoint really answers: real responses, under every
//! method and with a segment breakdown, validate against its schemas (which refuse unknown fields).

use crate::helpers::spawn_app;
use crate::results::{plant, running_experiment};
use serde_json::{json, Value};

/// A validator for one of the document's component schemas.
fn validator(document: &Value, component: &str) -> jsonschema::Validator {
    let mut schema = document.clone();
    schema["$ref"] = json!(format!("#/components/schemas/{component}"));
    jsonschema::draft202012::new(&schema).unwrap_or_else(|e| panic!("{component}: {e}"))
}

fn assert_valid(validator: &jsonschema::Validator, instance: &Value, what: &str) {
    let errors: Vec<String> =
        validator.iter_errors(instance).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{what} does not match the OpenAPI document:\n{}", errors.join("\n"));
}

#[tokio::test]
async fn results_responses_match_the_openapi_document() {
    let app = spawn_app().await;
    // The document needs no credentials.
    let response = reqwest::get(app.url("/api/v1/openapi.json")).await.unwrap();
    assert_eq!(response.status(), 200);
    let document: Value = response.json().await.unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    assert!(document["paths"]["/api/v1/experiments/{key}/results"]["get"].is_object());
    let results_schema = validator(&document, "ExperimentResults");
    let error_schema = validator(&document, "Error");

    let editor = app.signed_in("editor").await;
    let id = running_experiment(&app, &editor, "documented").await;
    plant(&app, id, "doc", [400, 400], |variation, i| (i % (8 - 2 * variation) == 1).then_some(40.0 + i as f64)).await;
    let viewer = app.signed_in("viewer").await;
    for query in [
        "",
        "?segment=device&correction=bh",
        "?method=bayesian&prior_mean=0&prior_variance=0.04&segment=device",
        "?method=sequential&cuped=false&timeline=true",
        "?tails=greater&alpha=0.1",
    ] {
        let response = viewer.get(app.url(&format!("/api/v1/experiments/documented/results{query}"))).send();
        let response = response.await.unwrap();
        assert_eq!(response.status(), 200, "{query}");
        let body: Value = response.json().await.unwrap();
        assert_valid(&results_schema, &body, &format!("results{query}"));
    }

    // The schema can fail: an undocumented field is refused.
    let mut drifted: Value =
        viewer.get(app.url("/api/v1/experiments/documented/results")).send().await.unwrap().json().await.unwrap();
    drifted["metrics"][0]["variations"][1]["surprise"] = json!(1);
    assert!(!results_schema.is_valid(&drifted), "unknown fields are caught");

    for (path, status) in
        [("/api/v1/experiments/documented/results?alpha=2", 400), ("/api/v1/experiments/missing/results", 404)]
    {
        let response = viewer.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), status, "{path}");
        assert_valid(&error_schema, &response.json().await.unwrap(), path);
    }
}

/// Every endpoint the router has is in the document, with its method, and the document has nothing else; and
/// `docs/openapi.json` is the document the server serves (regenerate it with `make openapi`).
#[tokio::test]
async fn the_document_covers_every_endpoint_and_docs_holds_the_served_one() {
    let document = intentlab::api::openapi::document();
    let documented: Vec<(String, String)> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, operations)| {
            operations.as_object().unwrap().keys().map(move |m| (m.to_uppercase(), path.clone()))
        })
        .collect();
    let routes: Vec<(String, String)> =
        intentlab::startup::endpoints().into_iter().map(|(method, path)| (method.to_string(), path)).collect();
    let missing: Vec<_> = routes.iter().filter(|r| !documented.contains(r)).collect();
    let extra: Vec<_> = documented.iter().filter(|d| !routes.contains(d)).collect();
    assert!(missing.is_empty(), "routes missing from the OpenAPI document: {missing:?}");
    assert!(extra.is_empty(), "documented operations no route serves: {extra:?}");

    let committed: Value = serde_json::from_str(include_str!("../../docs/openapi.json")).unwrap();
    assert!(committed == *document, "docs/openapi.json is out of date: run `make openapi`");

    let app = spawn_app().await;
    let served: Value = reqwest::get(app.url("/api/v1/openapi.json")).await.unwrap().json().await.unwrap();
    assert_eq!(&served, document);
}
