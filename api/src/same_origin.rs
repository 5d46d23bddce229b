//! The same-origin check of requests that a browser authenticates with the session cookie.
//! `SameSite=Strict` already keeps the cookie off requests that other sites start; this is the
//! second lock, for a browser that ignores SameSite or a sibling origin on the same site. A
//! state-changing request (anything but GET, HEAD, OPTIONS) must say where it comes from:
//! `Sec-Fetch-Site: same-origin` (every current browser sends it), or, without that header, an
//! `Origin` equal to the API's own (`http://<Host>`, or `https://<Host>` through the tunnel
//! over HTTPS). Neither header: refused, as a browser always sends one of them on such a
//! request. Programs that send the key in a header are not checked: no browser attaches a key
//! header to a cross-site request by itself.

use axum::extract::Request;
use axum::http::{HeaderMap, Method, header};

use crate::ApiError;

/// Whether `method` changes state (and so needs the check).
fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The origins this request may come from: its own scheme and `Host` (through the tunnel, the
/// forwarded host too).
fn own_origins(request: &Request) -> Vec<String> {
    let scheme = if crate::serve::is_https(request) {
        "https"
    } else {
        "http"
    };
    let mut hosts: Vec<&str> = request
        .headers()
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .into_iter()
        .collect();
    if matches!(
        request.extensions().get::<crate::serve::Peer>(),
        Some(crate::serve::Peer::Tunnel)
    ) && let Some(forwarded) = request
        .headers()
        .get("x-forwarded-host")
        .and_then(|host| host.to_str().ok())
    {
        hosts.push(forwarded);
    }
    hosts
        .into_iter()
        .map(|host| format!("{scheme}://{}", host.trim()))
        .collect()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .map(|value| value.to_str().unwrap_or("(not text)"))
}

/// What is wrong with where the request says it comes from, if anything; `strict` refuses a
/// request that says nothing.
fn judge(request: &Request, strict: bool) -> Result<(), String> {
    let headers = request.headers();
    if let Some(site) = header(headers, "sec-fetch-site") {
        return if site == "same-origin" {
            Ok(())
        } else {
            Err(format!(
                "Sec-Fetch-Site is `{site}`: the dashboard's session may change state only from the API's own pages"
            ))
        };
    }
    match header(headers, header::ORIGIN.as_str()) {
        Some(origin) if own_origins(request).iter().any(|own| own == origin) => Ok(()),
        Some(origin) => Err(format!(
            "Origin `{origin}` is not this API's own: the dashboard's session may change state only from the API's own pages"
        )),
        None if strict => Err(
            "a state-changing request with the session cookie must carry Sec-Fetch-Site or Origin (a browser sends them)"
                .to_owned(),
        ),
        None => Ok(()),
    }
}

/// The check for a request authenticated by the session cookie: a state-changing one must be
/// same-origin (403 naming the reason).
pub fn require(request: &Request) -> Result<(), ApiError> {
    if !changes_state(request.method()) {
        return Ok(());
    }
    judge(request, true).map_err(|reason| {
        tracing::warn!(path = %request.uri().path(), %reason, "refused: a cross-origin request with the session cookie");
        ApiError::Forbidden(reason)
    })
}

/// The check of sign-in (`POST /session`): a browser's request must be same-origin; a program
/// that sends neither `Origin` nor `Sec-Fetch-Site` may sign in too.
pub fn require_if_told(request: &Request) -> Result<(), ApiError> {
    judge(request, false).map_err(ApiError::Forbidden)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, pairs: &[(&str, &str)]) -> Request {
        let mut builder = Request::builder()
            .method(method)
            .uri("/alerts/x/acknowledge");
        for (name, value) in pairs {
            builder = builder.header(*name, *value);
        }
        builder.body(axum::body::Body::empty()).unwrap()
    }

    #[test]
    fn only_same_origin_state_changes_pass() {
        let host = ("host", "127.0.0.1:8000");
        assert!(require(&request("GET", &[host])).is_ok(), "reads pass");
        assert!(require(&request("POST", &[host, ("sec-fetch-site", "same-origin")])).is_ok());
        assert!(require(&request("POST", &[host, ("sec-fetch-site", "cross-site")])).is_err());
        assert!(require(&request("POST", &[host, ("sec-fetch-site", "same-site")])).is_err());
        assert!(
            require(&request(
                "POST",
                &[host, ("origin", "http://127.0.0.1:8000")]
            ))
            .is_ok()
        );
        assert!(require(&request("POST", &[host, ("origin", "http://evil.example")])).is_err());
        assert!(
            require(&request(
                "POST",
                &[host, ("origin", "https://127.0.0.1:8000")]
            ))
            .is_err(),
            "the scheme counts"
        );
        assert!(
            require(&request("DELETE", &[host])).is_err(),
            "says nothing"
        );
        assert!(require_if_told(&request("POST", &[host])).is_ok());
        assert!(require_if_told(&request("POST", &[host, ("origin", "null")])).is_err());
    }
}
