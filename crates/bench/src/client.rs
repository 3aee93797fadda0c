//! A lean HTTP/1.1 keep-alive client on `hyper` for the load generator: one idle-connection
//! stack per server, origin-form requests, no URL parsing, proxy or per-request timer. On this
//! 2-core machine the generator shares the CPU with the server and PostgreSQL, and a request
//! through `reqwest` cost the generator about as much CPU as `frontrow` spent answering it;
//! this client costs a fraction of that.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use serde_json::Value;

use crate::BenchResult;

/// Longest wait for one answer before it counts as failed.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Keep-alive connections to one server.
pub struct Pool {
    addr: SocketAddr,
    host: HeaderValue,
    idle: Mutex<Vec<SendRequest<Full<Bytes>>>>,
}

/// One answer: status (0 when there was none), body, and the time from sending to the last
/// byte of the body.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status; 0 when the request failed before an answer (connection error, timeout).
    pub status: u16,
    /// The body as JSON (`Null` when it is not JSON).
    pub body: Value,
    /// From just before sending to the last byte of the body.
    pub latency: Duration,
}

impl Answer {
    /// 2xx.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The error `code` of the body.
    pub fn code(&self) -> &str {
        self.body.get("code").and_then(Value::as_str).unwrap_or("")
    }
}

impl Pool {
    /// A pool for `base` (`http://host:port`, no path).
    pub fn new(base: &str) -> BenchResult<Self> {
        let authority = base.strip_prefix("http://").ok_or_else(|| format!("not an http:// URL: {base}"))?;
        let addr: SocketAddr =
            authority.parse().map_err(|_| format!("expected http://IP:PORT, got {base}"))?;
        Ok(Self { addr, host: HeaderValue::from_str(authority)?, idle: Mutex::new(Vec::new()) })
    }

    /// Sends `method path` with an optional bearer token and JSON body; reads the whole answer.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Answer {
        let started = Instant::now();
        let outcome = match self.request(method, path, token, body) {
            Ok(request) => tokio::time::timeout(TIMEOUT, self.exchange(request)).await.ok(),
            Err(_) => None,
        };
        let (status, bytes) = match outcome {
            Some(Ok(answer)) => answer,
            Some(Err(_)) | None => (0, Bytes::new()),
        };
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        Answer { status, body, latency: started.elapsed() }
    }

    /// `GET path` with a prepared `Authorization` value ([`bearer`]); only the status is kept
    /// (0: no answer). The load generator's request: no per-request formatting, URI parsing
    /// or JSON decoding, so that its CPU stays small beside the server's.
    pub async fn get_status(&self, path: &Uri, authorization: &HeaderValue) -> u16 {
        let request = Request::get(path.clone())
            .header(HOST, self.host.clone())
            .header(AUTHORIZATION, authorization.clone())
            .body(Full::new(Bytes::new()));
        let Ok(request) = request else { return 0 };
        match tokio::time::timeout(TIMEOUT, self.exchange(request)).await {
            Ok(Ok((status, _))) => status,
            Ok(Err(_)) | Err(_) => 0,
        }
    }

    /// The request [`Pool::send`] sends.
    fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> BenchResult<Request<Full<Bytes>>> {
        let mut request = Request::builder().method(method).uri(path).header(HOST, self.host.clone());
        if let Some(token) = token {
            request = request.header(AUTHORIZATION, bearer(token)?);
        }
        let payload = match body {
            Some(body) => {
                request = request.header(CONTENT_TYPE, "application/json");
                Bytes::from(serde_json::to_vec(body)?)
            }
            None => Bytes::new(),
        };
        Ok(request.body(Full::new(payload))?)
    }

    /// Sends and reads; only the status and body bytes are kept.
    async fn exchange(&self, mut request: Request<Full<Bytes>>) -> BenchResult<(u16, Bytes)> {
        for _ in 0..3 {
            let mut sender = self.checkout().await?;
            match sender.try_send_request(request).await {
                Ok(reply) => {
                    let status = reply.status().as_u16();
                    let bytes = reply.into_body().collect().await?.to_bytes();
                    // Only a connection that finished its exchange goes back for reuse.
                    if let Ok(mut idle) = self.idle.lock() {
                        idle.push(sender);
                    }
                    return Ok((status, bytes));
                }
                // A kept-alive connection the server closed as the request left: nothing was
                // sent, so it is safe to send again on another connection.
                Err(mut error) => match error.take_message() {
                    Some(unsent) => request = unsent,
                    None => return Err(error.into_error().into()),
                },
            }
        }
        Err("three connections closed before the request could be sent".into())
    }

    /// An idle connection that is ready, or a new one.
    async fn checkout(&self) -> BenchResult<SendRequest<Full<Bytes>>> {
        loop {
            let popped = self.idle.lock().ok().and_then(|mut idle| idle.pop());
            match popped {
                Some(mut sender) => {
                    if sender.ready().await.is_ok() {
                        return Ok(sender);
                    }
                }
                None => return self.connect().await,
            }
        }
    }

    async fn connect(&self) -> BenchResult<SendRequest<Full<Bytes>>> {
        let stream = tokio::net::TcpStream::connect(self.addr).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            // Ends when the server or the pool closes the connection; nothing to report.
            let _ = connection.await;
        });
        Ok(sender)
    }
}

/// The `Authorization` value for a bearer `token`.
pub fn bearer(token: &str) -> BenchResult<HeaderValue> {
    Ok(HeaderValue::from_str(&format!("Bearer {token}"))?)
}
