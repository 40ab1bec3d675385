//! The little HTTP/1.1 the event endpoint speaks: one request at a time per connection
//! (keep-alive), `Content-Length` bodies only, hard limits on every part, and an answer with
//! a status and a JSON message for anything it refuses. Parsing never panics on any input.

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt};

/// Request line and headers, bytes at most.
pub const MAX_HEAD: usize = 8 * 1024;
const MAX_HEADERS: usize = 64;

/// A request as read.
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The client asked to close after this one (or spoke HTTP/1.0).
    pub close: bool,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The token of an `Authorization: Bearer ...` header.
    pub fn bearer(&self) -> Option<&str> {
        let v = self.header("authorization")?;
        let (scheme, token) = v.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then_some(token.trim())
    }
}

/// A refusal: the status and what to tell the sender.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub message: String,
}

pub fn refuse(status: u16, message: impl Into<String>) -> Refusal {
    Refusal {
        status,
        message: message.into(),
    }
}

/// Reads one line of at most `budget` bytes (counting down), without the line end.
async fn line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    budget: &mut usize,
) -> Result<Option<String>, Refusal> {
    let mut buf = Vec::new();
    let mut limited = r.take(*budget as u64 + 1);
    let n = limited
        .read_until(b'\n', &mut buf)
        .await
        .map_err(|e| refuse(400, format!("reading the request: {e}")))?;
    if n == 0 {
        return Ok(None);
    }
    if n > *budget {
        return Err(refuse(431, format!("request head over {MAX_HEAD} bytes")));
    }
    *budget -= n;
    if buf.last() != Some(&b'\n') {
        return Err(refuse(400, "request cut short"));
    }
    buf.pop();
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    String::from_utf8(buf)
        .map(Some)
        .map_err(|_| refuse(400, "request head is not UTF-8"))
}

/// Reads the next request. `Ok(None)`: the client closed the connection between requests.
pub async fn read_request<R: AsyncBufRead + Unpin>(
    r: &mut R,
    max_body: usize,
) -> Result<Option<Request>, Refusal> {
    let mut budget = MAX_HEAD;
    // Blank lines before a request are allowed (RFC 9112, 2.2).
    let first = loop {
        match line(r, &mut budget).await? {
            None => return Ok(None),
            Some(l) if l.is_empty() => continue,
            Some(l) => break l,
        }
    };
    let mut parts = first.split(' ');
    let (Some(method), Some(path), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(refuse(400, "malformed request line"));
    };
    let http10 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => return Err(refuse(505, format!("{version:?} is not HTTP/1.1"))),
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(refuse(400, "malformed method"));
    }
    let mut headers = Vec::new();
    loop {
        let Some(l) = line(r, &mut budget).await? else {
            return Err(refuse(400, "request cut short"));
        };
        if l.is_empty() {
            break;
        }
        if headers.len() == MAX_HEADERS {
            return Err(refuse(431, format!("more than {MAX_HEADERS} headers")));
        }
        let Some((name, value)) = l.split_once(':') else {
            return Err(refuse(400, format!("malformed header line {l:?}")));
        };
        if name.is_empty() || name.bytes().any(|b| b.is_ascii_whitespace()) {
            return Err(refuse(400, "malformed header name"));
        }
        headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
    }
    let mut req = Request {
        method: method.to_owned(),
        path: path.to_owned(),
        close: http10,
        headers,
        body: Vec::new(),
    };
    if let Some(c) = req.header("connection") {
        if c.eq_ignore_ascii_case("close") {
            req.close = true;
        } else if c.eq_ignore_ascii_case("keep-alive") {
            req.close = false;
        }
    }
    if req.header("transfer-encoding").is_some() {
        return Err(refuse(
            411,
            "send the body with a Content-Length, not chunked",
        ));
    }
    let lengths: Vec<&str> = req
        .headers
        .iter()
        .filter(|(n, _)| n == "content-length")
        .map(|(_, v)| v.as_str())
        .collect();
    let length = match lengths.as_slice() {
        [] => 0,
        [one] => one
            .parse::<usize>()
            .map_err(|_| refuse(400, format!("Content-Length {one:?} is not a number")))?,
        _ => return Err(refuse(400, "more than one Content-Length")),
    };
    if length > max_body {
        return Err(refuse(
            413,
            format!("body of {length} bytes, more than {max_body}"),
        ));
    }
    if req.method == "POST" && lengths.is_empty() {
        return Err(refuse(411, "a POST needs a Content-Length"));
    }
    let mut body = vec![0; length];
    r.read_exact(&mut body)
        .await
        .map_err(|_| refuse(400, "body shorter than its Content-Length"))?;
    req.body = body;
    Ok(Some(req))
}

/// The reason phrase of the statuses this server sends.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Error",
    }
}

/// A complete response with a JSON body.
pub fn response(status: u16, json: &str, close: bool) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{}",
        reason(status),
        json.len(),
        if close { "Connection: close\r\n" } else { "" }
    );
    if status == 401 {
        out.push_str("WWW-Authenticate: Bearer\r\n");
    }
    out.push_str("\r\n");
    out.push_str(json);
    out.into_bytes()
}

/// `{"error": message}`.
pub fn error_json(message: &str) -> String {
    serde_json::json!({ "error": message }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> Result<Option<Request>, Refusal> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let mut r = tokio::io::BufReader::new(bytes);
            read_request(&mut r, 1024).await
        })
    }

    #[test]
    fn requests_and_their_refusals() {
        let r = parse(b"POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer abc\r\nContent-Length: 2\r\n\r\n{}")
            .expect("ok")
            .expect("a request");
        assert_eq!(
            (r.method.as_str(), r.path.as_str(), r.body.as_slice()),
            ("POST", "/v1/events", &b"{}"[..])
        );
        assert_eq!(r.bearer(), Some("abc"));
        assert!(!r.close);
        assert_eq!(parse(b"").expect("eof"), None);
        for (bytes, status) in [
            (&b"POST /v1/events HTTP/1.1\r\n\r\n"[..], 411),
            (
                b"POST /v1/events HTTP/1.1\r\nContent-Length: 5000\r\n\r\n",
                413,
            ),
            (
                b"POST /v1/events HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                411,
            ),
            (b"POST /v1/events HTTP/2\r\n\r\n", 505),
            (b"GARBAGE\r\n\r\n", 400),
            (
                b"POST /v1/events HTTP/1.1\r\nContent-Length: 10\r\n\r\n{}",
                400,
            ),
            (
                b"POST /v1/events HTTP/1.1\r\nContent-Length: x\r\n\r\n",
                400,
            ),
            (b"POST /v1/events HTTP/1.1\r\nHost", 400),
        ] {
            assert_eq!(
                parse(bytes).expect_err("refused").status,
                status,
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
        let mut huge = b"GET / HTTP/1.1\r\nX: ".to_vec();
        huge.extend(std::iter::repeat_n(b'a', MAX_HEAD));
        huge.extend(b"\r\n\r\n");
        assert_eq!(parse(&huge).expect_err("too big").status, 431);
    }

    #[test]
    fn fuzzed_requests_never_panic() {
        let seed = b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
        let mut rng = fastrand::Rng::with_seed(11);
        for _ in 0..20_000 {
            let mut b = seed.to_vec();
            for _ in 0..rng.usize(1..8) {
                let at = rng.usize(..b.len().max(1));
                match rng.u8(0..4) {
                    0 if !b.is_empty() => b[at] = rng.u8(..),
                    1 if !b.is_empty() => {
                        b.remove(at);
                    }
                    2 => b.insert(at.min(b.len()), b"\r\n: 0"[rng.usize(0..5)]),
                    _ => b.truncate(at),
                }
            }
            let _ = parse(&b);
        }
    }
}
