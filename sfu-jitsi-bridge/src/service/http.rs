//! Just enough HTTP/1.1 for the service's few endpoints: one request per connection, heads
//! parsed by `httparse`, bodies by `Content-Length` only, both size-capped and time-capped.
//!
//! Chunked bodies are refused (411): no client of this API needs them, and not parsing them
//! removes a class of request-smuggling bugs. Every response closes the connection.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest request head (request line and headers).
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Most headers in a request.
pub const MAX_HEADERS: usize = 32;
/// Time a client has to send its head and body.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A parsed request.
#[derive(Debug)]
pub struct Request {
    pub method: String,
    /// The path, without the query string.
    pub path: String,
    /// Header names lowercased.
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
    /// Bytes read past the head and body (a WebSocket client's first frames).
    pub leftover: Vec<u8>,
}

impl Request {
    /// The first header of that (lowercase) name, as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    /// Whether a comma-separated header contains `token` (case-insensitive).
    pub fn header_has_token(&self, name: &str, token: &str) -> bool {
        self.header(name)
            .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    }

    /// The bearer token of the `Authorization` header.
    pub fn bearer(&self) -> Option<&str> {
        let value = self.header("authorization")?;
        let (scheme, token) = value.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    }
}

/// Why no request could be read. Each maps to a status ([`ReadError::status`]), or to just
/// closing the connection.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("connection closed")]
    Closed,
    #[error("timed out")]
    Timeout,
    #[error("request head too large")]
    HeadTooLarge,
    #[error("malformed request")]
    Malformed,
    #[error("request body too large")]
    BodyTooLarge,
    #[error("a body needs Content-Length")]
    LengthRequired,
}

impl ReadError {
    /// The status to answer with, if any.
    pub fn status(&self) -> Option<u16> {
        match self {
            ReadError::Closed | ReadError::Timeout => None,
            ReadError::HeadTooLarge => Some(431),
            ReadError::Malformed => Some(400),
            ReadError::BodyTooLarge => Some(413),
            ReadError::LengthRequired => Some(411),
        }
    }
}

/// Reads one request, body included, within [`READ_TIMEOUT`]. `max_body` gives the largest
/// body accepted for a path.
pub async fn read_request<S: AsyncRead + Unpin>(
    stream: &mut S,
    max_body: impl Fn(&str) -> usize,
) -> Result<Request, ReadError> {
    tokio::time::timeout(READ_TIMEOUT, read_inner(stream, max_body))
        .await
        .map_err(|_| ReadError::Timeout)?
}

async fn read_inner<S: AsyncRead + Unpin>(
    stream: &mut S,
    max_body: impl Fn(&str) -> usize,
) -> Result<Request, ReadError> {
    let mut buf = Vec::with_capacity(2048);
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|_| ReadError::Closed)?;
        if n == 0 {
            return Err(ReadError::Closed);
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Request::new(&mut headers);
        match parsed.parse(&buf) {
            Ok(httparse::Status::Complete(head_len)) => {
                let method = parsed.method.ok_or(ReadError::Malformed)?.to_owned();
                let target = parsed.path.ok_or(ReadError::Malformed)?;
                let path = target.split('?').next().unwrap_or_default().to_owned();
                let headers: Vec<(String, Vec<u8>)> = parsed
                    .headers
                    .iter()
                    .map(|h| (h.name.to_ascii_lowercase(), h.value.to_vec()))
                    .collect();
                let mut request = Request {
                    method,
                    path,
                    headers,
                    body: Vec::new(),
                    leftover: Vec::new(),
                };
                if request.header("transfer-encoding").is_some() {
                    return Err(ReadError::LengthRequired);
                }
                let length = match request.header("content-length") {
                    None => 0,
                    Some(v) => v
                        .trim()
                        .parse::<usize>()
                        .map_err(|_| ReadError::Malformed)?,
                };
                if length > max_body(&request.path) {
                    return Err(ReadError::BodyTooLarge);
                }
                let mut rest = buf.split_off(head_len);
                while rest.len() < length {
                    let n = stream
                        .read(&mut chunk)
                        .await
                        .map_err(|_| ReadError::Closed)?;
                    if n == 0 {
                        return Err(ReadError::Closed);
                    }
                    rest.extend_from_slice(&chunk[..n]);
                }
                request.leftover = rest.split_off(length);
                request.body = rest;
                return Ok(request);
            }
            Ok(httparse::Status::Partial) => {
                if buf.len() > MAX_HEAD_BYTES {
                    return Err(ReadError::HeadTooLarge);
                }
            }
            Err(httparse::Error::TooManyHeaders) => return Err(ReadError::HeadTooLarge),
            Err(_) => return Err(ReadError::Malformed),
        }
    }
}

/// A response to write.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// A JSON response.
    pub fn json(status: u16, value: &serde_json::Value) -> Self {
        Self {
            status,
            headers: vec![("Content-Type", "application/json".to_owned())],
            body: value.to_string().into_bytes(),
        }
    }

    /// A JSON error: `{"error": code, "message": message}`.
    pub fn error(status: u16, code: &str, message: &str) -> Self {
        Self::json(
            status,
            &serde_json::json!({ "error": code, "message": message }),
        )
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Writes the response and flushes it.
    pub async fn write<S: AsyncWrite + Unpin>(&self, stream: &mut S) -> std::io::Result<()> {
        let mut out = format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        for (name, value) in &self.headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        out.push_str(&format!(
            "Content-Length: {}\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n",
            self.body.len()
        ));
        stream.write_all(out.as_bytes()).await?;
        stream.write_all(&self.body).await?;
        stream.flush().await
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        411 => "Length Required",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    }
}
