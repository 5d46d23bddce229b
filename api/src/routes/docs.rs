//! `GET /docs`: the interactive API reference (Swagger UI), served without a key from assets
//! compiled into the binary (`utoipa-swagger-ui` with its `vendored` feature: no CDN, nothing
//! downloaded at build or run time). The page holds no secret: a browser signed in to the
//! dashboard loads `/openapi.json` with its session cookie; otherwise the page asks for the key
//! (kept in its memory only) and sends every "Try it out" request with it.
//!
//! The page's own script and style are files (`/docs/docs.js`, `/docs/docs.css`), so it runs
//! under the dashboard's strict policy ([`crate::security_headers::CONTENT_SECURITY_POLICY`]:
//! no inline script or style). Swagger UI itself needs nothing more: it sets styles through the
//! DOM, which the policy allows (checked in Chromium: no violation with every operation
//! expanded and a request executed).

use std::sync::{Arc, LazyLock};

use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use utoipa_swagger_ui::Config;

use crate::ApiError;
use crate::error::Problem;
use crate::extract::{AppPath, AppQuery, NoParams};

/// The page: a key field above Swagger UI.
const PAGE: &str = include_str!("../../assets/docs.html");
/// Its script and style.
const SCRIPT: &str = include_str!("../../assets/docs.js");
const STYLE: &str = include_str!("../../assets/docs.css");

#[utoipa::path(
    get, path = "/docs", operation_id = "docs_page", tag = "meta",
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

/// The files of Swagger UI the page loads.
#[derive(Debug, Clone, Copy, serde::Deserialize, utoipa::ToSchema)]
pub enum DocsFile {
    #[serde(rename = "swagger-ui-bundle.js")]
    Bundle,
    #[serde(rename = "swagger-ui-standalone-preset.js")]
    Preset,
    #[serde(rename = "swagger-ui.css")]
    Css,
    #[serde(rename = "favicon-32x32.png")]
    Favicon32,
    #[serde(rename = "favicon-16x16.png")]
    Favicon16,
    #[serde(rename = "docs.js")]
    Script,
    #[serde(rename = "docs.css")]
    Style,
}

impl DocsFile {
    fn name(self) -> &'static str {
        match self {
            Self::Bundle => "swagger-ui-bundle.js",
            Self::Preset => "swagger-ui-standalone-preset.js",
            Self::Css => "swagger-ui.css",
            Self::Favicon32 => "favicon-32x32.png",
            Self::Favicon16 => "favicon-16x16.png",
            Self::Script => "docs.js",
            Self::Style => "docs.css",
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Self::Bundle | Self::Preset | Self::Script => "text/javascript",
            Self::Css | Self::Style => "text/css",
            Self::Favicon32 | Self::Favicon16 => "image/png",
        }
    }
}

#[utoipa::path(
    get, path = "/docs/{file}", operation_id = "docs_asset", tag = "meta",
    security(()),
    params(
        ("file" = inline(DocsFile), Path, description = "a file of Swagger UI"),
        NoParams,
    ),
    responses(
        (status = 200, description = "The file", content(
            (String = "text/javascript"),
            (String = "text/css"),
            (String = "image/png"),
        )),
        (status = 400, description = "No such file, or a parameter was given", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn asset(
    AppPath(file): AppPath<DocsFile>,
    AppQuery(NoParams {}): AppQuery<NoParams>,
) -> Result<Response, ApiError> {
    let (content_type, own) = match file {
        DocsFile::Script => (file.content_type(), Some(SCRIPT)),
        DocsFile::Style => (file.content_type(), Some(STYLE)),
        _ => (file.content_type(), None),
    };
    if let Some(text) = own {
        return Ok(([(header::CONTENT_TYPE, content_type)], text).into_response());
    }
    let file = file.name();
    match utoipa_swagger_ui::serve(file, CONFIG.clone()) {
        Ok(Some(found)) => Ok((
            [(header::CONTENT_TYPE, content_type)],
            found.bytes.into_owned(),
        )
            .into_response()),
        Ok(None) => Err(ApiError::NotFound(format!("no file `{file}` in /docs"))),
        Err(err) => Err(ApiError::Internal(format!(
            "cannot serve /docs/{file}: {err}"
        ))),
    }
}
