//! `GET /docs`: the interactive API reference (Swagger UI), served without a key from assets
//! compiled into the binary (`utoipa-swagger-ui` with its `vendored` feature: no CDN, nothing
//! downloaded at build or run time). The page holds no secret: it asks for the key, then loads
//! `/openapi.json` and sends every "Try it out" request with it.

use std::sync::{Arc, LazyLock};

use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use utoipa_swagger_ui::Config;

use crate::ApiError;
use crate::error::Problem;
use crate::extract::{AppPath, AppQuery, NoParams};

/// The page: a key field above Swagger UI.
const PAGE: &str = include_str!("../../assets/docs.html");

#[utoipa::path(
    get, path = "/docs", tag = "meta",
    security(()),
    params(NoParams),
    responses(
        (status = 200, description = "The interactive API reference (asks for the key to load this document)", body = String, content_type = "text/html"),
        (status = 400, description = "A parameter was given; this route takes none", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn page(AppQuery(NoParams {}): AppQuery<NoParams>) -> Html<&'static str> {
    Html(PAGE)
}

/// Swagger UI's own configuration (unused by [`PAGE`], which configures the UI itself, but
/// needed to serve the files).
static CONFIG: LazyLock<Arc<Config<'static>>> =
    LazyLock::new(|| Arc::new(Config::new(["/openapi.json"])));

#[utoipa::path(
    get, path = "/docs/{file}", tag = "meta",
    security(()),
    params(
        ("file" = String, Path, description = "a file of Swagger UI (`swagger-ui-bundle.js`, `swagger-ui.css`, ...)"),
        NoParams,
    ),
    responses(
        (status = 200, description = "The file", content(
            (String = "application/javascript"),
            (String = "text/css"),
            (String = "image/png"),
            (String = "text/html"),
        )),
        (status = 400, description = "A parameter was given; this route takes none", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such file", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn asset(
    AppPath(file): AppPath<String>,
    AppQuery(NoParams {}): AppQuery<NoParams>,
) -> Result<Response, ApiError> {
    if file == "index.html" {
        return Ok(Html(PAGE).into_response());
    }
    match utoipa_swagger_ui::serve(&file, CONFIG.clone()) {
        Ok(Some(found)) => Ok((
            [(header::CONTENT_TYPE, found.content_type)],
            found.bytes.into_owned(),
        )
            .into_response()),
        Ok(None) => Err(ApiError::NotFound(format!("no file `{file}` in /docs"))),
        Err(err) => Err(ApiError::Internal(format!(
            "cannot serve /docs/{file}: {err}"
        ))),
    }
}
