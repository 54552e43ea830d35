//! The API documents stay complete: the OpenAPI document the server serves lists exactly
//! the routes of `http::router`, and docs/protocol.md mentions every one of them.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{spawn_app, Backend};

/// Every (method, path) of the API. This mirrors `http::router` in server/src/http.rs (and
/// the `therapist::routes()` and `privacy::routes()` it merges) by hand, on purpose: a route added there without being documented here, in
/// docs/openapi.json and in docs/protocol.md fails this test.
const ROUTES: &[(&str, &str)] = &[
    ("get", "/api/health"),
    ("get", "/api/openapi.json"),
    ("get", "/api/vocabulary"),
    ("post", "/api/signup"),
    ("post", "/api/login"),
    ("post", "/api/logout"),
    ("get", "/api/me"),
    ("get", "/api/couple"),
    ("post", "/api/couple"),
    ("post", "/api/couple/join"),
    ("post", "/api/couple/unpair"),
    ("get", "/api/entries"),
    ("post", "/api/entries"),
    ("get", "/api/entries/{id}"),
    ("delete", "/api/entries/{id}"),
    ("get", "/api/entries/{id}/preview"),
    ("post", "/api/entries/{id}/share"),
    ("post", "/api/entries/{id}/withdraw"),
    ("post", "/api/entries/{id}/outcome"),
    ("get", "/api/events"),
    ("get", "/api/ws"),
    // therapist::routes(), merged into http::router
    ("post", "/api/couple/therapist"),
    ("post", "/api/couple/therapist/approve"),
    ("post", "/api/couple/therapist/revoke"),
    ("get", "/api/therapist/couples"),
    ("get", "/api/summary/{couple_id}"),
    ("get", "/api/summary/{couple_id}/export.json"),
    ("get", "/api/summary/{couple_id}/export.csv"),
    ("get", "/api/summary/{couple_id}/views"),
    // privacy::routes(), merged into http::router
    ("post", "/api/logout/all"),
    ("post", "/api/password"),
    ("get", "/api/me/export"),
    ("delete", "/api/me"),
];

const METHODS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// Every `$ref` in `value` (recursively).
fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn openapi_documents_every_route() {
    let app = spawn_app(Backend::Sqlite).await.expect("SQLite is always available");
    let (status, doc) = app.anonymous().get("/api/openapi.json").await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    assert!(doc.is_object(), "the served document parses as a JSON object: {doc}");
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")),
        "an OpenAPI 3.1 document"
    );
    // Served verbatim from the file in the repository.
    let file: Value = serde_json::from_str(include_str!("../../docs/openapi.json")).expect("docs/openapi.json parses");
    assert_eq!(doc, file, "the server serves docs/openapi.json as it is");

    let paths = doc["paths"].as_object().expect("paths");
    let documented: BTreeSet<(String, String)> = paths
        .iter()
        .flat_map(|(path, item)| {
            let item = item.as_object().expect("a path item is an object");
            item.keys()
                .filter(|m| METHODS.contains(&m.as_str()))
                .map(|m| (m.clone(), path.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    let expected: BTreeSet<(String, String)> = ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    let undocumented: Vec<_> = expected.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&expected).collect();
    assert!(
        undocumented.is_empty() && extra.is_empty(),
        "routes missing from docs/openapi.json: {undocumented:?}; documented but not routed: {extra:?}"
    );

    // Every operation says what it answers, and every reference resolves.
    for (method, path) in &documented {
        let op = &doc["paths"][path][method];
        let responses = op["responses"].as_object().expect("responses");
        assert!(!responses.is_empty(), "{method} {path} documents its responses");
        assert!(op["operationId"].is_string(), "{method} {path} has an operationId");
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let pointer = r.strip_prefix('#').unwrap_or_else(|| panic!("local reference: {r}"));
        assert!(doc.pointer(pointer).is_some(), "unresolved reference {r}");
    }

    // The protocol document covers every path.
    let protocol = include_str!("../../docs/protocol.md");
    let unmentioned: Vec<&str> = ROUTES
        .iter()
        .map(|(_, p)| *p)
        .filter(|p| !protocol.contains(p))
        .collect();
    assert!(
        unmentioned.is_empty(),
        "docs/protocol.md does not mention {unmentioned:?}"
    );
}
