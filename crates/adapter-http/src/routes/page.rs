//! The fans' page at `/` and its assets: plain HTML, CSS and JavaScript modules compiled into
//! the binary, so the page works offline and needs no Node or CDN. The page talks to the same
//! API as any other client (see `docs/architecture.md#the-fans-page`).

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue, X_CONTENT_TYPE_OPTIONS};
use actix_web::{HttpRequest, HttpResponse};

/// Only the page's own files may load: no inline script, no other origin. The page talks to
/// the API of the origin that served it.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'";

/// One embedded file: its path, media type and bytes.
struct Asset {
    path: &'static str,
    media_type: &'static str,
    body: &'static str,
}

/// One embedded file of `assets/`, served at `$path`.
macro_rules! asset {
    ($path:literal, $media_type:expr, $file:literal) => {
        Asset { path: $path, media_type: $media_type, body: include_str!(concat!("../../assets/", $file)) }
    };
}

const SCRIPT: &str = "text/javascript; charset=utf-8";

/// Every file of the page, by the path it is served at.
const ASSETS: &[Asset] = &[
    asset!("/", "text/html; charset=utf-8", "index.html"),
    asset!("/app.css", "text/css; charset=utf-8", "app.css"),
    asset!("/app.js", SCRIPT, "app.js"),
    asset!("/api.js", SCRIPT, "api.js"),
    asset!("/i18n.js", SCRIPT, "i18n.js"),
    asset!("/lists.js", SCRIPT, "lists.js"),
    asset!("/seatmap.js", SCRIPT, "seatmap.js"),
    asset!("/waiting.js", SCRIPT, "waiting.js"),
];

/// The paths the page's files are served at, for the router.
pub fn paths() -> impl Iterator<Item = &'static str> {
    ASSETS.iter().map(|asset| asset.path)
}

/// Serves the embedded file registered at the request's path. `no-cache` makes a browser check
/// again on each visit, so a new binary's page is never mixed with an old script.
pub async fn asset(request: HttpRequest) -> HttpResponse {
    let Some(asset) = ASSETS.iter().find(|asset| asset.path == request.path()) else {
        return HttpResponse::NotFound().finish();
    };
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, HeaderValue::from_static(asset.media_type)))
        .insert_header(("Content-Security-Policy", CONTENT_SECURITY_POLICY))
        .insert_header((X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .insert_header((CACHE_CONTROL, HeaderValue::from_static("no-cache")))
        .body(asset.body)
}
