//! `vigie server`: the one process of a site that owns the footage, the index, the keys and the
//! camera passwords, and serves every workstation over TLS.
//!
//! It runs the recorder (when given the cameras to record) and the event service (when given an
//! address for it) in process, as `vigie recorder` and `vigie events` do on their own, and serves
//! the API ([`api`]) over HTTPS on a tokio runtime of its own (two workers). TLS is always on:
//! the certificate is the site's own ([`pki`]) or one the site gives. A plain HTTP request on the
//! port is answered 400 with a line saying to use https, and nothing else.
//!
//! The data folder is made 0700 and tightened to 0700 if it was group- or world-readable (the
//! layout of older packages): only the server's user reads the index, the segments and the keys.
//!
//! Threads: "server api" runtime workers (accept loop, TLS handshakes, handlers), the blocking
//! pool for SQL; the recorder's and the event service's own. [`Server::stop`] closes the
//! listener, lets answers in flight finish for up to 5 s, and stops the recorder (which closes
//! its segments).

pub mod alarms;
pub mod api;
pub mod exports;
pub mod live;
pub mod pki;
pub mod playback;
pub mod relay;
pub mod review;
pub mod sessions;
pub mod wall;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;

use crate::config::Camera;

/// How to run a site server.
pub struct ServerOptions {
    pub data: PathBuf,
    /// Cameras known to the site (served to workstations; recorded when `record` is set).
    pub cameras: Vec<Camera>,
    pub record: bool,
    /// Record only these camera ids (empty: all).
    pub record_only: Vec<String>,
    pub recorder: crate::record::recorder::RecorderOptions,
    /// The API's address.
    pub listen: SocketAddr,
    /// Host names and addresses the server certificate is made for.
    pub names: Vec<String>,
    /// A site-given certificate chain and key, instead of the server's own CA.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// The event service's address (HTTP, loopback by default in `vigie events`), if it runs.
    pub events: Option<crate::events::service::ServiceOptions>,
    pub sessions: sessions::SessionLimits,
}

impl ServerOptions {
    /// A server of `data` for this machine only: the API on a free loopback port, no recorder,
    /// no event service. What a window opened on a data folder (`--data`, as the server's
    /// user) talks to, so that windows always go through the API.
    pub fn local(data: &std::path::Path, cameras: Vec<Camera>) -> ServerOptions {
        ServerOptions {
            data: data.to_owned(),
            cameras,
            record: false,
            record_only: Vec::new(),
            recorder: Default::default(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            names: vec!["localhost".into(), "127.0.0.1".into()],
            tls: None,
            events: None,
            sessions: sessions::SessionLimits::default(),
        }
    }
}

/// The cameras the index of `data` knows (names, zones and places; no stream addresses): what
/// a local server serves when no cameras file is given.
pub fn indexed_cameras(data: &std::path::Path) -> Result<Vec<Camera>, crate::store::StoreError> {
    let store = crate::store::Store::open_readonly(&data.join(crate::store::INDEX_FILE))?;
    Ok(store
        .cameras()?
        .into_iter()
        .map(|c| Camera {
            id: c.id,
            name: c.name,
            zone: c.zone,
            latitude: c.latitude.unwrap_or(0.0),
            longitude: c.longitude.unwrap_or(0.0),
            kind: crate::config::CameraKind::Fixed,
            main_url: String::new(),
            sub_url: None,
            credentials: None,
            retention_days: Some(c.retention_days),
            heading_deg: None,
            fov_deg: None,
            transport: Default::default(),
            credential: None,
        })
        .collect())
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("data folder {path}: {source}")]
    Data {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Pki(#[from] pki::PkiError),
    #[error("TLS set-up: {0}")]
    Tls(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the API runtime: {0}")]
    Runtime(std::io::Error),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("recorder: {0}")]
    Recorder(String),
    #[error("event service: {0}")]
    Events(String),
    #[error("the installation's signing key: {0}")]
    Key(String),
    #[error("password hashing: {0}")]
    Password(#[from] crate::auth::PasswordError),
}

/// A running site server.
pub struct Server {
    addr: SocketAddr,
    fingerprint: String,
    signing_fingerprint: String,
    runtime: Option<tokio::runtime::Runtime>,
    stop: watch::Sender<bool>,
    recorder: Option<crate::record::recorder::Recorder>,
    events: Option<crate::events::service::EventService>,
    state: Arc<api::ApiState>,
    alarm_watch: Option<alarms::AlarmWatch>,
    relay_runtime: Option<tokio::runtime::Runtime>,
}

impl Server {
    pub fn start(opts: ServerOptions) -> Result<Server, ServerError> {
        prepare_data(&opts.data)?;
        // The index exists (and is migrated) before anything reads it; live views a server
        // ended without stopping are closed in the audit log.
        {
            let store = crate::store::Store::open(&opts.data.join(crate::store::INDEX_FILE))?;
            let closed = relay::LiveViews::recover(&opts.data, &store);
            if closed > 0 {
                tracing::warn!(
                    "server: {closed} live view(s) left open by a server that ended without \
                     stopping them, now logged as stopped"
                );
            }
        }
        let identity = match &opts.tls {
            Some((cert, key)) => pki::site_identity(cert, key)?,
            None => pki::own_identity(&opts.data, &opts.names)?,
        };
        let fingerprint = identity.trust_fingerprint();
        // The installation's signing key exists (made on the first start) and is published.
        let signing_fingerprint = crate::auth::audit::signing_key(&opts.data)
            .map(|k| {
                crate::export::hex(&<sha2::Sha256 as sha2::Digest>::digest(
                    k.verifying_key().as_bytes(),
                ))
            })
            .map_err(|e| ServerError::Key(e.to_string()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ServerError::Tls(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(identity.chain, identity.key)
            .map_err(|e| ServerError::Tls(e.to_string()))?;
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));

        let recorded: Vec<Camera> = opts
            .cameras
            .iter()
            .filter(|c| opts.record_only.is_empty() || opts.record_only.contains(&c.id))
            .cloned()
            .collect();
        // Live video: one camera session per stream in use, the recorder's for the streams it
        // records, others opened on demand on a runtime of their own (one worker).
        let hub = Arc::new(crate::relay::hub::Hub::new(&opts.cameras));
        let relay_runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("relay")
            .enable_all()
            .build()
            .map_err(ServerError::Runtime)?;
        let handle = relay_runtime.handle().clone();
        let relay_handle = handle.clone();
        let max_skew = opts.recorder.max_clock_skew;
        hub.set_opener(Arc::new(move |cam, feed| {
            handle.spawn(crate::record::live::serve(cam, feed, max_skew));
        }));
        let recorder = if opts.record && !recorded.is_empty() {
            Some(
                crate::record::recorder::Recorder::start_relaying(
                    &recorded,
                    &opts.data,
                    &opts.recorder,
                    Some(&hub),
                    Some(relay_runtime.handle().clone()),
                )
                .map_err(|e| ServerError::Recorder(e.to_string()))?,
            )
        } else {
            None
        };
        let events = match opts.events {
            Some(o) => Some(
                crate::events::service::EventService::start(o)
                    .map_err(|e| ServerError::Events(e.to_string()))?,
            ),
            None => None,
        };

        let state = Arc::new(api::ApiState::new(
            opts.data.clone(),
            opts.cameras.clone(),
            sessions::Sessions::new(opts.sessions),
            fingerprint.clone(),
            signing_fingerprint.clone(),
            hub,
        )?);
        let _ = state.relay_runtime.set(relay_handle);
        let alarm_watch = alarms::AlarmWatch::start(opts.data.clone(), state.alarms.clone())
            .map_err(ServerError::Runtime)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("server api")
            .enable_all()
            .build()
            .map_err(ServerError::Runtime)?;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(opts.listen))
            .map_err(|source| ServerError::Listen {
                addr: opts.listen,
                source,
            })?;
        let addr = listener
            .local_addr()
            .map_err(|source| ServerError::Listen {
                addr: opts.listen,
                source,
            })?;
        let (stop, stopped) = watch::channel(false);
        let app = api::router(state.clone());
        runtime.spawn(playback::flusher(state.clone(), stop.subscribe()));
        runtime.spawn(accept_loop(listener, acceptor, app, stopped));
        tracing::info!("server: API on https://{addr}/v1/, CA fingerprint {fingerprint}");
        Ok(Server {
            addr,
            fingerprint,
            signing_fingerprint,
            runtime: Some(runtime),
            stop,
            recorder,
            events,
            state,
            alarm_watch: Some(alarm_watch),
            relay_runtime: Some(relay_runtime),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The API's URL, for a client on this machine.
    pub fn local_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.addr.port())
    }

    /// SHA-256 of the certificate workstations trust (the site CA).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// SHA-256 of the installation's signing key (exports are signed with it): the fingerprint
    /// a site publishes for `vigie verify --fingerprint`.
    pub fn signing_fingerprint(&self) -> &str {
        &self.signing_fingerprint
    }

    /// The event service's address, when it runs.
    pub fn events_addr(&self) -> Option<SocketAddr> {
        self.events.as_ref().map(|e| e.addr())
    }

    /// Camera streams relayed now, with their subscriptions: (camera, stream, subscriptions).
    pub fn relayed(&self) -> Vec<(String, crate::config::StreamKind, usize)> {
        self.state.relay.watched()
    }

    /// Sessions open now.
    pub fn sessions(&self) -> usize {
        self.state.sessions.count()
    }

    /// Stops serving, then stops the recorder (its segments closed) and the event service.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let _ = self.stop.send(true);
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(5));
            // The viewings still open are written before the recorder stops.
            if let Ok(store) = self.state.store() {
                self.state
                    .playback
                    .flush(&store, std::time::Instant::now(), true);
                self.state.live_views.stop_all(&store);
            }
        }
        self.alarm_watch.take();
        // The recorder's camera sessions run on the relay's runtime: they close their
        // segments before it goes.
        if let Some(r) = self.recorder.take() {
            r.stop();
        }
        if let Some(rt) = self.relay_runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(2));
        }
        self.events.take();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Makes the data folder (0700), or tightens an existing one that others could read.
fn prepare_data(data: &Path) -> Result<(), ServerError> {
    std::fs::create_dir_all(data).map_err(|source| ServerError::Data {
        path: data.to_owned(),
        source,
    })?;
    #[cfg(unix)]
    tighten(data)?;
    Ok(())
}

/// The folder 0700 and the signing key 0600 (on Windows the folder's access list protects
/// them; the server runs on Linux).
#[cfg(unix)]
fn tighten(data: &Path) -> Result<(), ServerError> {
    use std::os::unix::fs::PermissionsExt;
    let err = |source| ServerError::Data {
        path: data.to_owned(),
        source,
    };
    let meta = std::fs::metadata(data).map_err(err)?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        std::fs::set_permissions(data, std::fs::Permissions::from_mode(0o700)).map_err(err)?;
        tracing::warn!(
            "server: {} was mode {mode:o}; now 0700 (only the server's user reads the footage)",
            data.display()
        );
    }
    // The signing key is the server's alone (older packages left it 0640 for a group).
    let key = data.join(crate::auth::audit::KEY_FILE);
    if let Ok(m) = std::fs::metadata(&key)
        && m.permissions().mode() & 0o077 != 0
    {
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).map_err(
            |source| ServerError::Data {
                path: key.clone(),
                source,
            },
        )?;
        tracing::warn!("server: {} tightened to 0600", key.display());
    }
    Ok(())
}

/// Looks like the start of a plain HTTP request (a method name in capitals).
fn plain_http(head: &[u8]) -> bool {
    !head.is_empty() && head.iter().take(3).all(|b| b.is_ascii_uppercase())
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    app: axum::Router,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!("server: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stopped.changed() => return,
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        let mut stop = stopped.clone();
        tokio::spawn(async move {
            let _ = tcp.set_nodelay(true);
            // A person who typed http:// gets a line saying so, and nothing else.
            let mut head = [0u8; 4];
            let peeked = tokio::time::timeout(Duration::from_secs(10), tcp.peek(&mut head)).await;
            let Ok(Ok(n)) = peeked else { return };
            if plain_http(&head[..n]) {
                let mut tcp = tcp;
                let body = "Vigie's API speaks HTTPS only: use https:// and the site's CA.\n";
                let answer = format!(
                    "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tcp.write_all(answer.as_bytes()).await;
                let _ = tcp.shutdown().await;
                return;
            }
            let tls =
                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::debug!("server: TLS handshake with {peer}: {e}");
                        return;
                    }
                    Err(_) => return,
                };
            let service = hyper::service::service_fn(move |mut req: hyper::Request<_>| {
                req.extensions_mut().insert(api::Peer(peer));
                let mut app = app.clone();
                async move {
                    use tower_service::Service;
                    app.call(req).await
                }
            });
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
            tokio::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!("server: connection from {peer}: {e}");
                    }
                }
                _ = stop.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn plain_http_is_told_from_a_tls_hello() {
        assert!(super::plain_http(b"GET "));
        assert!(super::plain_http(b"POST"));
        // A TLS record starts 0x16 0x03.
        assert!(!super::plain_http(&[0x16, 0x03, 0x01, 0x02]));
        assert!(!super::plain_http(b""));
    }
}
