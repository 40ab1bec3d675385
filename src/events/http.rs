//! The event endpoint's HTTP, on hyper: a request taken whole (a `Content-Length` or chunked
//! body of at most [`super::MAX_BODY`] bytes, read within 30 s) and an answer with a status and
//! a JSON body, `{"error": ...}` for anything refused. hyper reads the request line and headers
//! (within 30 s, 8 KiB at most), answering malformed ones with 400 itself.

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;

/// A request as the endpoint's handlers see it.
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
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

/// How long a body may take to arrive.
const BODY_WITHIN: Duration = Duration::from_secs(30);

/// Takes `req` whole: its body of at most `max_body` bytes, which a POST must announce (a
/// length or chunks).
pub async fn read(req: axum::extract::Request, max_body: usize) -> Result<Request, Refusal> {
    let (parts, body) = req.into_parts();
    let length = match parts.headers.get(header::CONTENT_LENGTH) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or_else(|| refuse(400, format!("Content-Length {v:?} is not a number")))?,
        ),
    };
    let chunked = parts.headers.contains_key(header::TRANSFER_ENCODING);
    if parts.method == Method::POST && length.is_none() && !chunked {
        return Err(refuse(411, "a POST needs a Content-Length"));
    }
    if let Some(n) = length.filter(|n| *n > max_body as u64) {
        return Err(refuse(
            413,
            format!("a body of {n} bytes is more than {max_body}"),
        ));
    }
    let body = match tokio::time::timeout(BODY_WITHIN, axum::body::to_bytes(body, max_body)).await {
        Err(_) => return Err(refuse(408, "the body did not arrive within 30 s")),
        Ok(Err(e)) => {
            // Chunked bodies are only measured as they come.
            let too_long = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            return Err(if too_long {
                refuse(413, format!("a body of more than {max_body} bytes"))
            } else {
                refuse(400, format!("the body could not be read: {e}"))
            });
        }
        Ok(Ok(b)) => b.to_vec(),
    };
    let headers = parts
        .headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    Ok(Request {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        headers,
        body,
    })
}

/// An answer with a JSON body.
pub fn response(status: u16, json: String) -> Response {
    let mut r = Response::new(Body::from(json));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if status == 401 {
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    r
}

/// `{"error": message}`.
pub fn error_json(message: &str) -> String {
    serde_json::json!({ "error": message }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_now(req: axum::http::Request<Body>) -> Result<Request, Refusal> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        rt.block_on(read(req, 64))
    }

    fn post(headers: &[(&str, &str)], body: &'static [u8]) -> axum::http::Request<Body> {
        let mut b = axum::http::Request::post("/v1/events");
        for (n, v) in headers {
            b = b.header(*n, *v);
        }
        b.body(Body::from(body)).expect("request")
    }

    #[test]
    fn a_request_is_taken_whole_within_its_limits() {
        let r = read_now(post(
            &[("Content-Length", "2"), ("Authorization", "Bearer abc")],
            b"{}",
        ))
        .expect("read");
        assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/v1/events"));
        assert_eq!((r.bearer(), r.body.as_slice()), (Some("abc"), &b"{}"[..]));
        for (headers, body, status) in [
            (&[][..], &b""[..], 411),
            (&[("Content-Length", "x")][..], &b""[..], 400),
            (&[("Content-Length", "5000")][..], &b""[..], 413),
            (
                &[("Transfer-Encoding", "chunked")][..],
                &[b' '; 100][..],
                413,
            ),
        ] {
            let e = read_now(post(headers, body)).expect_err("refused");
            assert_eq!(e.status, status, "{headers:?}: {e:?}");
        }
    }

    #[test]
    fn answers_are_json_and_a_401_names_its_scheme() {
        let r = response(401, error_json("who are you"));
        assert_eq!(r.status(), 401);
        assert_eq!(r.headers()[header::WWW_AUTHENTICATE], "Bearer");
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
    }
}
