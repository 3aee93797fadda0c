use super::*;

#[test]
fn a_payment_whose_token_was_spent_meanwhile_answers_like_the_gate_401_token_expired() {
    let from_pay = ApiError::from(PayError::TokenExpired);
    let from_gate = ApiError::from(AuthorizeError::Expired);
    assert_eq!((from_pay.status(), from_pay.code()), (StatusCode::UNAUTHORIZED, "TOKEN_EXPIRED"));
    assert_eq!(from_pay, from_gate, "one answer for one state, whoever notices it");
}

#[test]
fn a_slow_body_is_the_clients_408_request_timeout_never_a_5xx() {
    let error = ApiError::request_timeout(std::time::Duration::from_millis(1500));
    assert_eq!((error.status(), error.code()), (StatusCode::REQUEST_TIMEOUT, "REQUEST_TIMEOUT"));
    assert!(error.body.message.contains("1500 ms"), "{}", error.body.message);
}

#[test]
fn too_many_streams_of_a_token_is_429_without_retry_after() {
    let response = ApiError::from(StreamRefusal::TooManyForToken(2)).error_response();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().get(RETRY_AFTER).is_none(), "closing a stream frees one at once");
}

#[test]
fn a_full_instance_is_429_streams_full_with_retry_after() {
    let error = ApiError::from(StreamRefusal::InstanceFull);
    assert_eq!((error.status(), error.code()), (StatusCode::TOO_MANY_REQUESTS, "STREAMS_FULL"));
    let response = error.error_response();
    assert_eq!(response.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()), Some("5"));
}

#[test]
fn every_refused_payment_is_answered_with_the_code_it_is_counted_by() {
    let refusals = [
        PayError::TokenExpired,
        PayError::InvalidAmount,
        PayError::ReservationNotFound,
        PayError::NotPayable,
        PayError::Expired,
        PayError::AmountMismatch,
        PayError::InsufficientBalance,
    ];
    for refusal in refusals {
        let (status, code) = pay_refusal(&refusal).expect("a refusal");
        assert!(crate::metrics::REFUSALS.contains(&code), "{code} has no series from start-up");
        let answer = ApiError::from(refusal);
        assert_eq!((answer.status(), answer.code()), (status, code));
    }
    assert!(pay_refusal(&PayError::Store(StoreError::Unavailable("down".into()))).is_err());
}
