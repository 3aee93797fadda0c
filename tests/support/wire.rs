//! HTTP on a raw TCP socket, for what a well-behaved client library never sends: a body shorter
//! than its `Content-Length`, or one trickled in byte by byte.

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::TestServer;

/// One answer read off a raw connection.
#[derive(Debug)]
pub struct RawReply {
    /// The status code of the status line.
    pub status: u16,
    /// The header lines, lower-cased, `name: value` each.
    pub headers: Vec<String>,
    /// The body as text.
    pub text: String,
    /// The body parsed as JSON, `Value::Null` when it is not JSON.
    pub json: Value,
    /// From the first byte written to the end of the answer.
    pub elapsed: Duration,
}

impl RawReply {
    /// The value of header `name` (lower case), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find_map(|line| line.strip_prefix(name)?.strip_prefix(':').map(str::trim))
    }
}

impl TestServer {
    /// Opens a raw connection to the server.
    async fn connect_raw(&self) -> TcpStream {
        TcpStream::connect(self.base_url.trim_start_matches("http://")).await.expect("connect to the server")
    }

    /// Writes `head` (the request line and headers, without the blank line) and then `parts` of
    /// the body, each after its delay; then reads the answer for at most `limit`.
    pub async fn raw_exchange(&self, head: &str, parts: &[(Duration, &[u8])], limit: Duration) -> RawReply {
        let mut stream = self.connect_raw().await;
        let started = Instant::now();
        let head = format!("{head}\r\nHost: {}\r\n\r\n", self.base_url.trim_start_matches("http://"));
        stream.write_all(head.as_bytes()).await.expect("send the request head");
        let (mut reader, mut writer) = stream.split();
        // The answer is read while the body is still being written: the server may answer early.
        let writing = async {
            for (delay, bytes) in parts {
                tokio::time::sleep(*delay).await;
                if writer.write_all(bytes).await.is_err() {
                    break; // the server has answered and closed
                }
            }
            std::future::pending::<()>().await;
        };
        let reading = async {
            tokio::select! {
                reply = read_reply(&mut reader) => reply,
                () = writing => unreachable!("writing never ends by itself"),
            }
        };
        let (status, headers, text) = tokio::time::timeout(limit, reading)
            .await
            .unwrap_or_else(|_| panic!("no complete answer within {limit:?}; log:\n{}", self.log_tail()));
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        RawReply { status, headers, text, json, elapsed: started.elapsed() }
    }
}

/// Reads one HTTP/1.1 answer: until its `Content-Length` is complete, or until the server closes.
async fn read_reply(stream: &mut (impl AsyncReadExt + Unpin)) -> (u16, Vec<String>, String) {
    let mut bytes = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        if let Some(reply) = complete(&bytes) {
            return reply;
        }
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => bytes.extend_from_slice(&buffer[..n]),
        }
    }
    complete(&bytes)
        .unwrap_or_else(|| panic!("the connection closed mid-answer: {:?}", String::from_utf8_lossy(&bytes)))
}

/// The status, headers and body of `bytes` once they hold a whole answer.
fn complete(bytes: &[u8]) -> Option<(u16, Vec<String>, String)> {
    let text = String::from_utf8_lossy(bytes);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<String> = lines.map(str::to_ascii_lowercase).collect();
    let length = headers
        .iter()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse::<usize>().ok())
        .unwrap_or(0);
    (body.len() >= length).then(|| (status, headers, body[..length].to_owned()))
}
