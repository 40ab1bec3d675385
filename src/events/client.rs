//! A blocking client for the event endpoint, keeping its connection open between posts (the
//! pool of a `reqwest` client): what the simulator, the motion detector, the benches and the
//! tests send events with.

use std::net::SocketAddr;
use std::time::Duration;

/// A connection to `vigie events` (or the server's event service).
pub struct EventClient {
    base: String,
    token: Option<String>,
    http: Option<reqwest::blocking::Client>,
}

impl EventClient {
    pub fn new(addr: SocketAddr, token: Option<String>) -> EventClient {
        EventClient {
            base: format!("http://{addr}"),
            token,
            http: None,
        }
    }

    fn http(&mut self) -> std::io::Result<&reqwest::blocking::Client> {
        if self.http.is_none() {
            // Plain HTTP only; reqwest still wants a TLS set-up (one that trusts nothing).
            let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .map_err(std::io::Error::other)?
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
            let c = reqwest::blocking::Client::builder()
                .tls_backend_preconfigured(tls)
                .https_only(false)
                .connect_timeout(Duration::from_secs(2))
                .timeout(Duration::from_secs(10))
                .tcp_nodelay(true)
                .pool_max_idle_per_host(1)
                .build()
                .map_err(std::io::Error::other)?;
            self.http = Some(c);
        }
        Ok(self.http.as_ref().expect("made above"))
    }

    /// POSTs `body` (JSON) to `path`; returns the status and the answer's body.
    pub fn post(&mut self, path: &str, body: &str) -> std::io::Result<(u16, String)> {
        let url = format!("{}{path}", self.base);
        let token = self.token.clone();
        let mut req = self
            .http()?
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_owned());
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().map_err(std::io::Error::other)?;
        let status = r.status().as_u16();
        let text = r.text().map_err(std::io::Error::other)?;
        Ok((status, text))
    }
}
