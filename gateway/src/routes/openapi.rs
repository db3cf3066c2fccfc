//! `GET /api/openapi.json`: the OpenAPI 3.1 document of the API
//! (`gateway/openapi.json`), served as it is in the repository.
//!
//! The document is written by hand, next to the contract in words
//! (docs/API.md), rather than derived from the handlers: it says what the
//! routes promise, which the handlers' types alone do not. The tests below
//! keep it from drifting: every route the gateway registers must be in it
//! with its methods, and nothing else.

use axum::{
    Router,
    http::{HeaderValue, header},
    response::IntoResponse,
    routing::get,
};

use crate::state::AppState;

/// The document, compiled into the binary.
pub const DOCUMENT: &str = include_str!("../../openapi.json");

pub fn router() -> Router<AppState> {
    Router::new().route("/api/openapi.json", get(document))
}

#[tracing::instrument(name = "openapi.document", skip_all)]
async fn document() -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        DOCUMENT,
    )
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::DOCUMENT;

    const METHODS: &[&str] = &["get", "post", "put", "patch", "delete"];

    fn document() -> serde_json::Value {
        serde_json::from_str(DOCUMENT).expect("openapi.json is JSON")
    }

    /// Every `.route("path", get(..).post(..))` in the gateway's sources,
    /// as path → methods. Read from the files so that a route added
    /// anywhere without a line in the document fails here.
    fn registered_routes() -> BTreeMap<String, BTreeSet<String>> {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut routes = BTreeMap::new();
        for dir in [src.join("routes"), src.join("ws")] {
            for entry in std::fs::read_dir(&dir).expect("read the sources") {
                let path = entry.expect("entry").path();
                if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).expect("read a source");
                    // Tests (like this module's) are not routes.
                    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
                    collect_routes(code, &mut routes);
                }
            }
        }
        routes
    }

    fn collect_routes(text: &str, routes: &mut BTreeMap<String, BTreeSet<String>>) {
        let mut rest = text;
        while let Some(at) = rest.find(".route(\"") {
            rest = &rest[at + ".route(\"".len()..];
            let Some(end) = rest.find('"') else { break };
            let path = rest[..end].to_string();
            // The method chain runs to the `)` closing `.route(`.
            let mut depth = 1;
            let chain_end = rest[end..]
                .char_indices()
                .find_map(|(i, c)| {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    (depth == 0).then_some(end + i)
                })
                .expect("a closed .route(");
            let chain = &rest[end..chain_end];
            let methods = routes.entry(path).or_default();
            for method in METHODS {
                let call = format!("{method}(");
                let found = chain
                    .match_indices(&call)
                    .any(|(i, _)| i == 0 || !chain.as_bytes()[i - 1].is_ascii_alphanumeric());
                if found {
                    methods.insert(method.to_string());
                }
            }
        }
    }

    #[test]
    fn the_document_is_openapi_3_1() {
        let doc = document();
        let version = doc["openapi"].as_str().expect("an openapi version");
        assert!(version.starts_with("3.1."), "openapi {version}");
        assert!(doc["info"]["title"].is_string());
    }

    #[test]
    fn every_registered_route_is_documented_with_its_methods() {
        let doc = document();
        let paths = doc["paths"].as_object().expect("paths");
        let routes = registered_routes();
        assert!(
            routes.contains_key("/api/messages/send") && routes.contains_key("/ws"),
            "the source scan found the routes: {routes:?}"
        );
        for (path, methods) in &routes {
            let item = paths
                .get(path)
                .unwrap_or_else(|| panic!("{path} is not in openapi.json"));
            let documented: BTreeSet<String> = METHODS
                .iter()
                .filter(|m| item.get(**m).is_some())
                .map(|m| m.to_string())
                .collect();
            assert_eq!(&documented, methods, "methods of {path}");
        }
        for path in paths.keys() {
            assert!(
                routes.contains_key(path),
                "openapi.json documents {path}, which the gateway does not serve"
            );
        }
    }

    #[test]
    fn every_error_code_the_document_names_exists_and_every_ref_resolves() {
        let doc = document();
        let codes: BTreeSet<&str> = totilove_common::Code::ALL
            .iter()
            .map(|c| c.as_str())
            .collect();
        let documented = doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]
            ["code"]["enum"]
            .as_array()
            .expect("the error code enum");
        let documented: BTreeSet<&str> = documented.iter().filter_map(|c| c.as_str()).collect();
        assert_eq!(
            documented, codes,
            "the error codes are the common crate's table"
        );

        let mut refs = Vec::new();
        collect_refs(&doc, &mut refs);
        assert!(!refs.is_empty());
        for r in refs {
            let pointer = r.strip_prefix('#').expect("a local $ref");
            assert!(doc.pointer(pointer).is_some(), "{r} resolves");
        }
    }

    fn collect_refs(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    match (k.as_str(), v) {
                        ("$ref", serde_json::Value::String(r)) => out.push(r.clone()),
                        _ => collect_refs(v, out),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn the_route_scan_reads_method_chains() {
        let mut routes = BTreeMap::new();
        collect_routes(
            r#"Router::new().route("/a", get(show).put(update)).route("/b/{id}", post(block).delete(unblock))"#,
            &mut routes,
        );
        assert_eq!(routes["/a"], BTreeSet::from(["get".into(), "put".into()]));
        assert_eq!(
            routes["/b/{id}"],
            BTreeSet::from(["delete".into(), "post".into()])
        );
    }
}
