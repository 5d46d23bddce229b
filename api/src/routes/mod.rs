//! One module per resource; [`router`] merges them and puts every route but the public ones
//! (`/health`, the docs, the dashboard's files, sign-in and sign-out) behind the API key or the
//! dashboard's session.

pub mod alerts;
pub mod csv;
pub mod docs;
pub mod hardware;
pub mod health;
pub mod logs;
pub mod market;
pub mod metrics;
pub mod portfolio;
pub mod prometheus;
pub mod sample_stream;
pub mod session;
pub mod silences;
pub mod stream;
pub mod trades;
pub mod ui;

use axum::Router;
use axum::middleware;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::{AppState, auth, openapi};

/// Every route, and the OpenAPI document built from the same declarations: a route exists only
/// with its documentation. `/health` (and the docs page) need no key; every other route does.
pub fn router(state: AppState) -> Router {
    let (router, document) = documented(state.clone()).split_for_parts();
    let document = openapi::finish(document, &state);
    match document.to_json() {
        Ok(json) => {
            let _ = state.document.set(json);
        }
        Err(err) => tracing::error!(error = %err, "cannot encode the OpenAPI document"),
    }
    router
        .route("/ui/{*path}", axum::routing::get(ui::file))
        .method_not_allowed_fallback(|| async { crate::ApiError::MethodNotAllowed })
}

/// The routes with their document (the document is also served, at `/openapi.json`).
pub fn documented(state: AppState) -> OpenApiRouter {
    let (public, protected) = routes();
    let protected = protected.route_layer(middleware::from_fn_with_state(
        state.clone(),
        auth::require_key,
    ));
    OpenApiRouter::with_openapi(openapi::base())
        .merge(public)
        .merge(protected)
        .fallback(|| async { crate::ApiError::NotFound("no such route; see /openapi.json".into()) })
        .with_state(state)
}

/// The document alone, as the routes declare it (without the settings' limits).
pub fn document() -> utoipa::openapi::OpenApi {
    let (public, protected) = routes();
    let mut document = OpenApiRouter::with_openapi(openapi::base())
        .merge(public)
        .merge(protected)
        .into_openapi();
    openapi::complete(&mut document);
    document
}

/// The one route list: those served without a key, and those behind it.
fn routes() -> (OpenApiRouter<AppState>, OpenApiRouter<AppState>) {
    let public = OpenApiRouter::new()
        .routes(routes!(health::health))
        .routes(routes!(docs::page))
        .routes(routes!(docs::asset))
        .routes(routes!(ui::page))
        .routes(routes!(
            session::sign_in,
            session::current,
            session::sign_out
        ));
    let protected = OpenApiRouter::new()
        .routes(routes!(prometheus::exposition))
        .routes(routes!(metrics::system))
        .routes(routes!(hardware::hardware))
        .routes(routes!(metrics::all))
        .routes(routes!(portfolio::portfolio))
        .routes(routes!(market::chart))
        .routes(routes!(market::quote))
        .routes(routes!(trades::active))
        .routes(routes!(trades::fills))
        .routes(routes!(trades::history))
        .routes(routes!(trades::stats))
        .routes(routes!(trades::daily))
        .routes(routes!(trades::calendar))
        .routes(routes!(trades::cash_flows))
        .routes(routes!(metrics::history))
        .routes(routes!(sample_stream::samples))
        .routes(routes!(logs::logs))
        .routes(routes!(alerts::alerts))
        .routes(routes!(alerts::deliveries))
        .routes(routes!(stream::alerts))
        .routes(routes!(alerts::alert))
        .routes(routes!(alerts::acknowledge))
        .routes(routes!(silences::silences, silences::create_silence))
        .routes(routes!(silences::delete_silence))
        .routes(routes!(openapi::document));
    (public, protected)
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    fn document() -> Value {
        serde_json::to_value(super::document()).unwrap()
    }

    /// The document is written to `$EXPORTER_OPENAPI_OUT` when set, for looking at it.
    #[test]
    fn the_document_builds_and_can_be_written() {
        let json = super::document().to_pretty_json().unwrap();
        assert!(json.contains("\"/metrics/history\""));
        if let Ok(path) = std::env::var("EXPORTER_OPENAPI_OUT") {
            std::fs::write(path, json).unwrap();
        }
    }

    /// What a generated client relies on: one id per operation, every error answer documented
    /// as problem+json, the key required everywhere but on the public routes.
    #[test]
    fn every_operation_names_its_errors_and_its_security() {
        let doc = document();
        let public = [
            ("get", "/health"),
            ("get", "/docs"),
            ("get", "/docs/{file}"),
            ("get", "/"),
            ("post", "/session"),
            ("delete", "/session"),
        ];
        let mut ids = std::collections::BTreeSet::new();
        let mut operations = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                operations += 1;
                let id = operation["operationId"].as_str().unwrap();
                assert!(
                    ids.insert(id.to_owned()),
                    "{method} {path}: operationId {id} twice"
                );
                let responses = operation["responses"].as_object().unwrap();
                for (status, response) in responses {
                    if status.starts_with('4') || status.starts_with('5') {
                        let content = response["content"].as_object();
                        let types: Vec<&String> = content.iter().flat_map(|c| c.keys()).collect();
                        if path == "/health" {
                            continue;
                        }
                        assert_eq!(
                            types,
                            ["application/problem+json"],
                            "{method} {path} {status}"
                        );
                    }
                }
                if public.contains(&(method.as_str(), path.as_str())) {
                    assert_eq!(operation["security"], serde_json::json!([{}]), "{path}");
                } else {
                    assert!(operation.get("security").is_none(), "{method} {path}");
                    assert!(responses.contains_key("401"), "{method} {path}: no 401");
                }
            }
        }
        assert!(operations >= 27, "{operations} operations");
        let security = &doc["security"];
        assert_eq!(
            security,
            &serde_json::json!([{"api_key": []}, {"bearer": []}, {"session": []}])
        );
        for (path, name) in [("/alerts/{alert_id}", "alert_id"), ("/silences/{id}", "id")] {
            let item = &doc["paths"][path];
            let operation = item.as_object().unwrap().values().next().unwrap();
            let parameter = operation["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == name)
                .unwrap();
            assert_eq!(parameter["schema"]["format"], "uuid", "{path}");
        }
    }
}
