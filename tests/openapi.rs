//! The OpenAPI document is a contract a generated client can rely on: parameters where they are
//! sent, every error status an operation can answer with the error schema, the live stream as
//! Server-Sent Events, header and id constraints as the server enforces them; and a wrong method
//! is a 405 that says which methods the path takes. (`make test-contract` checks the document
//! against the live server with schemathesis; these tests pin the points it found.)

mod support;

use serde_json::{Value, json};
use support::TestServer;

const METHODS: [&str; 4] = ["get", "post", "put", "delete"];

/// The OpenAPI document a freshly started server serves.
async fn document() -> Value {
    let s = TestServer::start(&[]).await;
    let reply = s.get("/api-docs/openapi.json", None).await;
    reply.ok("GET /api-docs/openapi.json").clone()
}

/// Every `(method, path, operation)` of the document.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let paths = doc["paths"].as_object().expect("the document has paths");
    let mut found = Vec::new();
    for (path, item) in paths {
        for method in METHODS {
            if let Some(operation) = item.get(method) {
                found.push((method.to_owned(), path.clone(), operation.clone()));
            }
        }
    }
    found
}

fn operation<'a>(doc: &'a Value, method: &str, path: &str) -> &'a Value {
    let found = &doc["paths"][path][method];
    assert!(found.is_object(), "the document has no {method} {path}");
    found
}

/// The parameters of an operation, none when it declares none.
fn parameters(operation: &Value) -> &[Value] {
    operation["parameters"].as_array().map(Vec::as_slice).unwrap_or_default()
}

/// The parameter `name` of an operation.
fn parameter<'a>(operation: &'a Value, name: &str) -> &'a Value {
    let parameters = parameters(operation);
    parameters
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no parameter {name:?} among {parameters:?}"))
}

fn statuses(operation: &Value) -> Vec<String> {
    operation["responses"].as_object().map(|r| r.keys().cloned().collect()).unwrap_or_default()
}

/// What a local `$ref` (`#/components/...`) points to in `doc` (null when nothing), or `value`
/// itself when it is no reference.
fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    static NOTHING: Value = Value::Null;
    match value["$ref"].as_str().and_then(|r| r.strip_prefix('#')) {
        Some(pointer) => doc.pointer(pointer).unwrap_or(&NOTHING),
        None => value,
    }
}

#[tokio::test]
async fn query_parameters_are_declared_in_the_query_and_path_ids_in_the_path() {
    let doc = document().await;

    let balance = operation(&doc, "get", "/api/balance");
    let user = parameter(balance, "userId");
    assert_eq!(user["in"], "query", "balance's userId: {user}");
    assert_eq!(user["required"], true, "balance's userId is required: {user}");

    let seats = operation(&doc, "get", "/api/{concertId}/available-seats");
    for name in ["date", "scheduleId"] {
        let query = parameter(seats, name);
        assert_eq!(query["in"], "query", "available-seats' {name}: {query}");
        assert_ne!(query["required"], true, "available-seats' {name} is optional: {query}");
    }
    assert_eq!(parameter(seats, "date")["schema"]["format"], "date", "date is YYYY-MM-DD");

    for (method, path, operation) in operations(&doc) {
        for p in parameters(&operation).iter().filter(|p| p["in"] == "path") {
            let name = p["name"].as_str().unwrap_or_default();
            assert!(
                path.contains(&format!("{{{name}}}")),
                "{method} {path}: path parameter {name} not in the path"
            );
        }
    }
}

#[tokio::test]
async fn ids_are_declared_as_positive_64_bit_integers() {
    let doc = document().await;
    let ids = [
        ("get", "/api/balance", "userId"),
        ("get", "/api/{concertId}/available-seats", "concertId"),
        ("get", "/api/{concertId}/available-seats", "scheduleId"),
        ("get", "/api/{concertId}/available-dates", "concertId"),
        ("post", "/api/{concertId}/reserve-seat", "concertId"),
    ];
    for (method, path, name) in ids {
        let schema = &parameter(operation(&doc, method, path), name)["schema"];
        assert_eq!(schema["type"], "integer", "{method} {path} {name}: {schema}");
        assert_eq!(schema["format"], "int64", "{method} {path} {name}: {schema}");
        assert_eq!(schema["minimum"], 1, "{method} {path} {name}: ids start at 1: {schema}");
    }
    let charge = &doc["components"]["schemas"]["ChargeRequest"]["properties"];
    assert_eq!(charge["amount"]["minimum"], 1, "charge amount: {charge}");
    assert_eq!(charge["amount"]["maximum"], 10_000_000, "charge amount: {charge}");
    assert_eq!(charge["userId"]["minimum"], 1, "charge userId: {charge}");
}

#[tokio::test]
async fn the_idempotency_key_header_is_declared_as_the_server_checks_it() {
    let doc = document().await;
    for path in ["/api/charge", "/api/{concertId}/reserve-seat", "/api/pay"] {
        let key = parameter(operation(&doc, "post", path), "Idempotency-Key");
        assert_eq!(key["in"], "header", "{path}: {key}");
        let schema = &key["schema"];
        assert_eq!(schema["minLength"], 1, "{path}: an empty key is refused: {schema}");
        assert_eq!(schema["maxLength"], 255, "{path}: {schema}");
        assert_eq!(schema["pattern"], "^[!-~]+$", "{path}: visible ASCII only: {schema}");
    }
}

#[tokio::test]
async fn every_operation_documents_the_errors_it_can_answer_with_the_error_schema() {
    let doc = document().await;
    for (method, path, operation) in operations(&doc) {
        let listed = statuses(&operation);
        let has = |status: &str| listed.iter().any(|s| s == status);
        let what = format!("{method} {path} lists {listed:?}");
        if operation["security"].is_array() {
            assert!(has("401"), "{what}: a bearer-token operation answers 401");
        }
        if path != "/health" {
            assert!(has("503"), "{what}: the store can be unavailable");
        }
        let takes_input =
            operation["requestBody"].is_object() || parameters(&operation).iter().any(|p| p["in"] == "query");
        if takes_input {
            assert!(has("400"), "{what}: its input can be invalid");
        }
        if operation["requestBody"].is_object() {
            assert!(has("408") && has("413"), "{what}: a body can be too slow or too large");
        }
        for status in listed.iter().filter(|s| s.as_str() >= "400") {
            let response = resolve(&doc, &operation["responses"][status]);
            let schema = &response["content"]["application/json"]["schema"];
            assert_eq!(
                schema["$ref"], "#/components/schemas/ErrorBody",
                "{method} {path} {status}: errors are {{code, message}}: {response}"
            );
        }
    }
    let gated = ["/api/concerts", "/api/balance", "/api/charge", "/api/pay", "/api/{concertId}/reserve-seat"];
    for path in gated {
        let method = if ["/api/concerts", "/api/balance"].contains(&path) { "get" } else { "post" };
        assert!(
            statuses(operation(&doc, method, path)).contains(&"403".to_owned()),
            "{path}: QUEUE_NOT_ACTIVE"
        );
    }
    let error = &doc["components"]["schemas"]["ErrorBody"];
    assert!(
        error["properties"]["position"].is_object(),
        "QUEUE_NOT_ACTIVE's position is in the schema: {error}"
    );
}

#[tokio::test]
async fn the_token_stream_is_documented_as_server_sent_events_carrying_the_token() {
    let doc = document().await;
    let ok = &operation(&doc, "get", "/api/token/stream")["responses"]["200"];
    let content = ok["content"].as_object().expect("the stream's 200 has content");
    assert_eq!(content.keys().collect::<Vec<_>>(), ["text/event-stream"], "{ok}");
    let event = resolve(&doc, &content["text/event-stream"]["schema"]);
    let text = event.to_string();
    assert!(
        text.contains("\"contentMediaType\":\"application/json\"")
            && text.contains("#/components/schemas/TokenResponse"),
        "each event's data is the JSON of GET /api/token: {event}"
    );
}

#[tokio::test]
async fn a_wrong_method_is_405_with_an_allow_header_naming_the_methods_of_the_path() {
    let s = TestServer::start(&[]).await;
    let cases = [
        ("TRACE", "/api/token", "GET, POST"),
        ("HEAD", "/api/concerts", "GET"),
        ("DELETE", "/api/1/reserve-seat", "POST"),
        ("PUT", "/api/1/available-seats", "GET"),
        ("OPTIONS", "/health", "GET"),
        ("BREW", "/api/balance", "GET"),
    ];
    for (method, path, allow) in cases {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let response = s.client.request(method.clone(), s.url(path)).send().await.expect("an answer");
        assert_eq!(response.status().as_u16(), 405, "{method} {path}");
        let header = response.headers().get("allow").and_then(|v| v.to_str().ok()).map(str::to_owned);
        assert_eq!(header.as_deref(), Some(allow), "{method} {path}: Allow");
        if method != reqwest::Method::HEAD {
            let body: Value = response.json().await.expect("a JSON body");
            assert_eq!(body["code"], "METHOD_NOT_ALLOWED", "{method} {path}: {body}");
        }
    }
    let invented =
        s.client.request(reqwest::Method::from_bytes(b"BREW").expect("a method"), s.url("/nowhere"));
    s.send(invented).await.assert_error(404, "NOT_FOUND", "an invented method on an unknown path");
}

#[tokio::test]
async fn a_whole_number_written_with_a_fraction_or_exponent_is_the_integer_the_document_admits() {
    let s = TestServer::start(&[]).await;
    let user = s.uid(1);
    let token = s.active_user(user).await;
    for (amount, balance) in [("100.0", 100), ("1e2", 200), ("2.5e1", 225)] {
        let body = format!(r#"{{"userId": {user}.0, "amount": {amount}}}"#);
        let reply = s.post_raw("/api/charge", Some(&token), &body).await;
        assert_eq!(reply.ok(&body)["currentBalance"], balance, "{body}");
    }
    for amount in ["1.5", "1e-1", "1.0000000000000000001", "1e30"] {
        let body = json!({ "userId": user }).to_string().replace('}', &format!(r#","amount":{amount}}}"#));
        s.post_raw("/api/charge", Some(&token), &body).await.assert_error(400, "VALIDATION_ERROR", &body);
    }
}
