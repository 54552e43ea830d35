//! The API documents stay complete: the OpenAPI document the server serves lists exactly
//! the routes `http::router` is built from (`tandem::http::routes()`, the same table), every
//! one of them is served, and docs/protocol.md mentions every one of them.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{spawn_app, Backend};

/// Every (method, path) the router serves, read from the table it is built from.
fn routed() -> BTreeSet<(String, String)> {
    let mut seen = BTreeSet::new();
    for route in tandem::http::routes() {
        let key = (route.method.as_str().to_lowercase(), route.path.to_string());
        assert!(seen.insert(key.clone()), "{key:?} is in the route table twice");
    }
    seen
}

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
    let expected = routed();
    assert!(expected.len() > 30, "the route table has every route: {expected:?}");
    let undocumented: Vec<_> = expected.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&expected).collect();
    assert!(
        undocumented.is_empty() && extra.is_empty(),
        "routed but missing from docs/openapi.json: {undocumented:?}; documented but not routed: {extra:?}"
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

    // Every row is served by its own handler: asked without a session, no route answers with
    // the router's "no such route" 404 or 405 (a privacy row whose path `privacy::routes()`
    // lacks would answer 404 too).
    let client = app.anonymous();
    for (method, path) in &expected {
        let url = format!("{}{}", app.base, path.replace("{id}", "0").replace("{couple_id}", "0"));
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let res = client
            .http
            .request(method.clone(), url)
            .header("Origin", &app.origin)
            .send()
            .await
            .expect("request");
        let status = res.status();
        assert!(
            status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path} is not served: {status} {}",
            res.text().await.unwrap_or_default()
        );
    }

    // The protocol document covers every path.
    let protocol = include_str!("../../docs/protocol.md");
    let unmentioned: Vec<&String> = expected
        .iter()
        .map(|(_, p)| p)
        .filter(|p| !protocol.contains(p.as_str()))
        .collect();
    assert!(
        unmentioned.is_empty(),
        "docs/protocol.md does not mention {unmentioned:?}"
    );
}
