//! Headers every answer carries, JSON and errors included, so the dashboard (and anything else
//! a browser opens here) runs under a strict policy: scripts, styles, images, fonts and requests
//! from the API's own origin only, no inline script, no framing (`frame-ancestors 'none'`), no
//! MIME sniffing, no referrer. The same policy covers the Swagger UI page at `/docs`
//! ([`crate::routes::docs`]). An answer that sets its own header (the static files their
//! `Cache-Control`) keeps it; everything else is `Cache-Control: no-store`, so no authenticated
//! JSON is kept in a shared or browser cache.

use axum::http::{HeaderName, HeaderValue, header};
use axum::response::Response;

/// The dashboard's policy: its own origin only, no inline script or style.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Adds the headers an answer does not set itself.
pub async fn add(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let defaults: [(HeaderName, &'static str); 5] = [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    for (name, value) in defaults {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    }
    response
}
