//! The dashboard's files: `GET /` is `api/ui/index.html`, `GET /ui/<path>` any file under
//! `api/ui/` (the page's script and style, `vendor/` for the pinned chart libraries). They are
//! compiled into the binary (`rust-embed`, with `debug-embed` so a debug build embeds them
//! too): nothing is read from disk or fetched from elsewhere at run time, so the page works
//! through the tunnel and on an air-gapped host. No key is needed: the files hold no data and
//! no secret; the page signs in (`POST /session`) before it reads anything.
//!
//! Each answer has its type from the file's extension, a weak `ETag` (the file's SHA-256; weak
//! because the compression layer may re-encode the body) answered with 304 on `If-None-Match`,
//! and `Cache-Control`: `no-cache` (revalidate: the page changes with each release) except under
//! `vendor/`, whose pinned files may be kept a week.

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::ApiError;

#[derive(rust_embed::Embed)]
#[folder = "ui/"]
struct Files;

/// How long the vendored libraries may be kept without asking.
const VENDOR_CACHE: &str = "public, max-age=604800";
/// Everything else: kept, but revalidated (a 304 when unchanged).
const PAGE_CACHE: &str = "no-cache";

#[utoipa::path(
    get, path = "/", operation_id = "dashboard_page", tag = "dashboard",
    security(()),
    responses(
        (status = 200, description = "The dashboard (HTML; its script, style and libraries are under /ui/). It signs in with POST /session", body = String, content_type = "text/html"),
        (status = 304, description = "Unchanged since the `ETag` given in If-None-Match"),
    )
)]
pub async fn page(headers: HeaderMap) -> Result<Response, ApiError> {
    serve("index.html", &headers)
}

/// `GET /ui/{*path}` (not in the document: a wildcard path a fuzzer would only walk into 404s).
pub async fn file(Path(path): Path<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    serve(&path, &headers)
}

fn serve(path: &str, headers: &HeaderMap) -> Result<Response, ApiError> {
    let Some(file) = Files::get(path) else {
        return Err(ApiError::NotFound(format!(
            "no file `{path}` in the dashboard"
        )));
    };
    let hash = file.metadata.sha256_hash();
    let etag = format!(
        "W/\"{}\"",
        hash.iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let cache = if path.starts_with("vendor/") {
        VENDOR_CACHE
    } else {
        PAGE_CACHE
    };
    let etag_value =
        HeaderValue::from_str(&etag).map_err(|err| ApiError::Internal(err.to_string()))?;
    let common = [
        (header::ETAG, etag_value),
        (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
    ];
    if matches(headers, &etag) {
        return Ok((StatusCode::NOT_MODIFIED, common).into_response());
    }
    Ok((
        common,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(content_type(path)),
        )],
        file.data.into_owned(),
    )
        .into_response())
}

/// Whether `If-None-Match` names `etag` (weak comparison, as RFC 9110 says for this header).
fn matches(headers: &HeaderMap, etag: &str) -> bool {
    let bare = |tag: &str| tag.trim().trim_start_matches("W/").to_owned();
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|tag| tag.trim() == "*" || bare(tag) == bare(etag))
}

/// The type of a file, by its extension.
fn content_type(path: &str) -> &'static str {
    let extension = path
        .rsplit_once('.')
        .filter(|(_, ext)| !ext.contains('/'))
        .map_or("", |(_, ext)| ext);
    match extension.to_ascii_lowercase().as_str() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" | "md" | "" => "text/plain; charset=utf-8",
        "sha256" | "sum" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_come_from_the_extension() {
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(
            content_type("vendor/uPlot.iife.min.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            content_type("vendor/uplot/LICENSE"),
            "text/plain; charset=utf-8"
        );
        assert_eq!(content_type("x.bin"), "application/octet-stream");
    }

    #[test]
    fn the_index_is_embedded_and_revalidated() {
        let response = serve("index.html", &HeaderMap::new()).unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let etag = response.headers()[header::ETAG]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(etag.starts_with("W/\""));
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-cache");
        let mut headers = HeaderMap::new();
        headers.insert(
            header::IF_NONE_MATCH,
            etag.trim_start_matches("W/").parse().unwrap(),
        );
        let again = serve("index.html", &headers).unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert!(serve("../Cargo.toml", &HeaderMap::new()).is_err());
    }
}
