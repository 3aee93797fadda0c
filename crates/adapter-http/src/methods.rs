//! Which methods each path of the API answers. A request with any other method, a standard one
//! (TRACE, HEAD, DELETE…) or an invented one, is 405 `METHOD_NOT_ALLOWED` with the `Allow`
//! header RFC 9110 requires, naming the methods the path does take. The routes are registered
//! here together with their methods, so the `Allow` header cannot drift from the routing.

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::HeaderValue;
use actix_web::middleware::Next;
use actix_web::{Route, web};

use crate::errors::ApiError;

/// The `Allow` value of every path of the API, by route pattern (`/api/{concertId}/…`); app data,
/// read by [`known_methods_only`].
#[derive(Debug, Clone)]
pub struct AllowedMethods(Arc<HashMap<String, HeaderValue>>);

/// Collects the API's resources while they are registered; see [`Paths::add`].
#[derive(Debug, Default)]
pub struct Paths {
    allowed: HashMap<String, HeaderValue>,
}

impl Paths {
    /// Registers `path` with one route per method; any other method is answered 405 with an
    /// `Allow` header listing `routes`' methods.
    pub fn add<const N: usize>(
        &mut self,
        config: &mut web::ServiceConfig,
        path: &str,
        routes: [(Method, Route); N],
    ) {
        let mut methods: Vec<&str> = routes.iter().map(|(method, _)| method.as_str()).collect();
        methods.sort_unstable();
        // Method names are tokens, always valid in a header; an empty `Allow` would mean "none".
        let allow = HeaderValue::from_str(&methods.join(", ")).unwrap_or(HeaderValue::from_static(""));
        let refusal = allow.clone();
        let mut resource = web::resource(path)
            .default_service(web::to(move || std::future::ready(ApiError::method_not_allowed(&refusal))));
        for (method, route) in routes {
            resource = resource.route(route.method(method));
        }
        config.service(resource);
        self.allowed.insert(path.to_owned(), allow);
    }

    /// The table [`known_methods_only`] reads; register it as app data.
    pub fn into_allowed(self) -> AllowedMethods {
        AllowedMethods(Arc::new(self.allowed))
    }
}

/// Answers a method outside RFC 9110's set (and PATCH) before the metrics middleware sees it:
/// the metrics label requests by method, so every invented method would otherwise add time
/// series that are kept forever, a memory leak any client could drive. On a path of the API it
/// is 405 with `Allow`; on any other path 404, as a standard method there would get.
pub async fn known_methods_only(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> actix_web::Result<ServiceResponse<impl MessageBody>> {
    let known = matches!(
        request.method().as_str(),
        "GET" | "HEAD" | "POST" | "PUT" | "DELETE" | "CONNECT" | "OPTIONS" | "TRACE" | "PATCH"
    );
    if known {
        return next.call(request).await.map(ServiceResponse::map_into_left_body);
    }
    let allow = request
        .match_pattern()
        .and_then(|pattern| request.app_data::<AllowedMethods>()?.0.get(&pattern).cloned());
    let response = match allow {
        Some(allow) => ApiError::method_not_allowed(&allow),
        None => actix_web::ResponseError::error_response(&ApiError::not_found("no such resource")),
    };
    Ok(request.into_response(response).map_into_right_body())
}

#[cfg(test)]
mod tests {
    use actix_web::http::StatusCode;
    use actix_web::http::header::ALLOW;
    use actix_web::middleware::from_fn;
    use actix_web::{App, HttpResponse, test};

    use super::*;

    fn app_config(config: &mut web::ServiceConfig) {
        let mut paths = Paths::default();
        let ok = || web::to(HttpResponse::Ok);
        paths.add(config, "/things/{id}", [(Method::POST, ok()), (Method::GET, ok())]);
        config.app_data(paths.into_allowed());
    }

    async fn answer(method: &[u8], path: &str) -> (StatusCode, Option<String>) {
        let app =
            test::init_service(App::new().wrap(from_fn(known_methods_only)).configure(app_config)).await;
        let method = Method::from_bytes(method).expect("a method");
        let response =
            test::call_service(&app, test::TestRequest::default().method(method).uri(path).to_request())
                .await;
        let allow = response.headers().get(ALLOW).and_then(|v| v.to_str().ok()).map(str::to_owned);
        (response.status(), allow)
    }

    #[actix_web::test]
    async fn a_registered_method_reaches_its_route() {
        assert_eq!(answer(b"GET", "/things/7").await, (StatusCode::OK, None));
        assert_eq!(answer(b"POST", "/things/7").await, (StatusCode::OK, None));
    }

    #[actix_web::test]
    async fn any_other_method_is_405_with_the_paths_methods_in_allow() {
        for method in [&b"TRACE"[..], b"HEAD", b"DELETE", b"OPTIONS", b"BREW"] {
            let expected = (StatusCode::METHOD_NOT_ALLOWED, Some("GET, POST".to_owned()));
            assert_eq!(answer(method, "/things/7").await, expected, "{}", String::from_utf8_lossy(method));
        }
    }

    #[actix_web::test]
    async fn an_invented_method_on_a_path_the_api_does_not_serve_is_404() {
        assert_eq!(answer(b"BREW", "/elsewhere").await, (StatusCode::NOT_FOUND, None));
    }
}
