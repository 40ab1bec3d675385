//! Which certificate authority a workstation trusts for each server, and the first-connection
//! check of its fingerprint.
//!
//! The first connection to a server with no CA given or pinned is a probe: a TLS handshake that
//! records the certificates the server presents and sends nothing. The fingerprint of the last
//! one (the CA, which the server sends after its own certificate) is shown to a person; if they
//! confirm it, that CA is written to the pin folder and every later connection verifies the
//! server's certificate against it, host name included.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use super::ClientError;
use crate::server::pki::{fingerprint, pem_certificate};

/// The folder of pinned CAs: one PEM file per server (`HOST_PORT.pem`).
pub struct TrustStore {
    dir: PathBuf,
}

impl TrustStore {
    pub fn new(dir: &Path) -> TrustStore {
        TrustStore {
            dir: dir.to_owned(),
        }
    }

    /// `servers` in the user's Vigie configuration ([`crate::config::dirs::user_config`]).
    pub fn default_location() -> Option<TrustStore> {
        let base = crate::config::dirs::user_config()?;
        Some(TrustStore::new(&base.join("servers")))
    }

    /// The file pinning the CA of the server at `url`.
    pub fn file_for(&self, url: &url::Url) -> PathBuf {
        let host: String = url
            .host_str()
            .unwrap_or("server")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let port = url.port_or_known_default().unwrap_or(super::DEFAULT_PORT);
        self.dir.join(format!("{host}_{port}.pem"))
    }

    /// The pinned CA of `url`, or after `confirm(server, fingerprint)` said yes, the CA the
    /// server presents now (then pinned).
    pub fn pinned_or_ask(
        &self,
        url: &url::Url,
        confirm: &dyn Fn(&str, &str) -> bool,
    ) -> Result<Vec<u8>, ClientError> {
        let file = self.file_for(url);
        if let Ok(pem) = std::fs::read(&file) {
            return Ok(pem);
        }
        let host = url.host_str().unwrap_or_default().to_owned();
        let port = url.port_or_known_default().unwrap_or(super::DEFAULT_PORT);
        let chain = probe(&host, port)?;
        let Some(ca) = chain.last() else {
            return Err(ClientError::Trust(format!(
                "{host}:{port} presented no certificate"
            )));
        };
        let fp = fingerprint(ca.as_ref());
        if !confirm(&format!("{host}:{port}"), &fp) {
            return Err(ClientError::Trust(format!(
                "the CA of {host}:{port} (SHA-256 {fp}) was not confirmed: nothing was sent to it"
            )));
        }
        let pem = pem_certificate(ca.as_ref());
        self.pin(url, pem.as_bytes())?;
        Ok(pem.into_bytes())
    }

    /// Pins `ca_pem` for the server at `url`.
    pub fn pin(&self, url: &url::Url, ca_pem: &[u8]) -> Result<(), ClientError> {
        let file = self.file_for(url);
        std::fs::create_dir_all(&self.dir)
            .and_then(|_| std::fs::write(&file, ca_pem))
            .map_err(|e| ClientError::Trust(format!("pinning the CA in {}: {e}", file.display())))
    }
}

/// A rustls client configuration that trusts the CA(s) of `ca_pem` only.
pub fn client_config(ca_pem: &[u8]) -> Result<rustls::ClientConfig, ClientError> {
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_slice_iter(ca_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ClientError::Trust(format!("the server CA file is not PEM: {e}")))?;
    if certs.is_empty() {
        return Err(ClientError::Trust(
            "the server CA file holds no certificate".into(),
        ));
    }
    for c in certs {
        roots
            .add(c)
            .map_err(|e| ClientError::Trust(format!("the server CA is unusable: {e}")))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Trust(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The certificate problem behind a failed request, in words, if that is why it failed.
pub fn certificate_problem(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = src {
        if let Some(r) = s.downcast_ref::<rustls::Error>() {
            return match r {
                rustls::Error::InvalidCertificate(c) => Some(format!("certificate: {c:?}")),
                other => Some(other.to_string()),
            };
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
            && let Some(r) = inner.downcast_ref::<rustls::Error>()
        {
            return Some(format!("{r}"));
        }
        // Wrapped by a layer that keeps only the text.
        let text = s.to_string();
        if let Some(i) = text.find("invalid peer certificate") {
            return Some(text[i..].to_owned());
        }
        src = s.source();
    }
    None
}

/// Keeps the chain the server presents without judging whom it chains to (the person compares
/// the CA's fingerprint), while still checking the handshake's signatures: only for the probe,
/// which sends no data.
#[derive(Debug)]
struct Recorder {
    chain: Mutex<Vec<CertificateDer<'static>>>,
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let mut c = self.chain.lock().unwrap_or_else(|p| p.into_inner());
        c.push(end_entity.clone().into_owned());
        c.extend(intermediates.iter().map(|i| i.clone().into_owned()));
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The certificates `host:port` presents, server first, from a handshake that sends nothing.
pub fn probe(host: &str, port: u16) -> Result<Vec<CertificateDer<'static>>, ClientError> {
    let unreachable = |why: String| ClientError::Unreachable {
        url: format!("https://{host}:{port}/"),
        why,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let rec = Arc::new(Recorder {
        chain: Mutex::new(Vec::new()),
        algorithms: provider.signature_verification_algorithms,
    });
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Trust(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(rec.clone())
        .with_no_client_auth();
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| ClientError::Url(format!("{host}: {e}")))?;
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name)
        .map_err(|e| ClientError::Trust(e.to_string()))?;
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(|e| unreachable(e.to_string()))?
        .next()
        .ok_or_else(|| unreachable("no address".into()))?;
    let mut tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|e| unreachable(e.to_string()))?;
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = tcp.set_write_timeout(Some(Duration::from_secs(5)));
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp)
            .map_err(|e| unreachable(format!("TLS handshake: {e}")))?;
    }
    // Close without sending a request.
    conn.send_close_notify();
    let _ = conn.complete_io(&mut tcp);
    let _ = tcp.flush();
    let _ = tcp.read(&mut [0u8; 1]);
    let chain = rec.chain.lock().unwrap_or_else(|p| p.into_inner()).clone();
    Ok(chain)
}
