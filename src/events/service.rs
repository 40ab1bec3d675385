//! `vigie events`: the event endpoint and the alarm writer.
//!
//! ```text
//!  smart cameras, alert buttons ── HTTP POST /v1/events ──┐      (tokio, 2 workers)
//!  patrol vehicles ── HTTP POST /v1/positions, UDP JSON ──┤  check, authenticate, rule, place
//!                                                         v
//!                                   "alarm writer" thread: merge into open alarms, batched
//!                                   transactions, audit entries, escalation every second
//!                                                         v
//!                                           index (alarm_event, alarm, vehicle)
//! ```
//!
//! A second listener may speak HTTPS (rustls) for sources on the network; the first stays on
//! loopback for the site's own senders. An event is answered `201` only once it is committed; anything refused gets a 4xx and a
//! JSON message, and is logged once per sender and reason a minute.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::http::{self, Refusal, Request, refuse};
use super::rules::{Rules, matches};
use super::{Event, MAX_BODY, Position, parse_event, parse_position};
use crate::auth::audit;
use crate::config::Camera;
use crate::store::{EventRow, Link, NewAlarm, Store, VehicleRow};

/// How the service is set up.
pub struct ServiceOptions {
    /// The installation's data folder (its index).
    pub data: PathBuf,
    /// HTTP address; loopback by default.
    pub listen: SocketAddr,
    /// A UDP address for vehicle positions (one JSON report per datagram), if any.
    pub udp: Option<SocketAddr>,
    pub rules: Rules,
    pub cameras: Vec<Camera>,
    /// A second listener speaking HTTPS, for sources on the network.
    pub tls: Option<TlsOptions>,
}

/// Where the HTTPS listener is, and its certificate chain and key (PEM files).
#[derive(Clone, Debug)]
pub struct TlsOptions {
    pub listen: SocketAddr,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Counters, for `GET /v1/health` and the bench.
#[derive(Default)]
pub struct Stats {
    pub events: AtomicU64,
    pub positions: AtomicU64,
    pub refused: AtomicU64,
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("events: cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("events: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("events: {0}")]
    Io(#[from] std::io::Error),
    #[error("events: {path}: {why}")]
    Tls { path: PathBuf, why: String },
}

/// The TLS acceptor for `o`: rustls (ring), TLS 1.2 and 1.3, no client certificates.
fn tls_acceptor(o: &TlsOptions) -> Result<tokio_rustls::TlsAcceptor, ServiceError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let tls = |path: &PathBuf, why: String| ServiceError::Tls {
        path: path.clone(),
        why,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&o.cert)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| tls(&o.cert, format!("not a PEM certificate chain: {e}")))?;
    if certs.is_empty() {
        return Err(tls(&o.cert, "holds no certificate".into()));
    }
    let key = PrivateKeyDer::from_pem_file(&o.key)
        .map_err(|e| tls(&o.key, format!("not a PEM private key: {e}")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls(&o.cert, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| tls(&o.key, format!("does not go with the certificate: {e}")))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

struct EventJob {
    event: Event,
    received_utc_ns: i64,
    placed: Option<(NewAlarm, u32)>,
    reply: tokio::sync::oneshot::Sender<Result<(i64, Option<i64>), String>>,
}

enum Job {
    Event(Box<EventJob>),
    Position(Position),
}

struct Shared {
    rules: Rules,
    cameras: Vec<Camera>,
    jobs: mpsc::SyncSender<Job>,
    stats: Arc<Stats>,
    /// When each (sender, reason) was last logged, and each sender's lines this minute.
    logged: Mutex<HashMap<(IpAddr, String), Instant>>,
    per_sender: Mutex<HashMap<IpAddr, (Instant, u32)>>,
    /// Connections open, by address.
    open: Mutex<Open>,
    /// The time of the newest position taken from each vehicle over UDP: an older or equal
    /// one is a replay (or came out of order) and is dropped.
    udp_newest: Mutex<HashMap<String, i64>>,
}

/// Connections open: in all, and by address.
#[derive(Default)]
struct Open {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

/// The most connections open at once, and from one address: a sender holding many idle ones
/// (or a flood) never keeps an alert button from being answered, nor the process from its
/// file descriptors (the unit's `LimitNOFILE` is above the total).
pub const MAX_CONNECTIONS: usize = 4096;
/// Log lines one sender's refusals may take a minute.
pub const LOG_LINES_PER_SENDER: u32 = 10;
pub const MAX_CONNECTIONS_PER_ADDRESS: usize = 64;

/// A connection counted in [`Shared::open`] while it lives.
struct Counted {
    shared: Arc<Shared>,
    peer: IpAddr,
}

impl Drop for Counted {
    fn drop(&mut self) {
        let mut open = self.shared.open.lock().unwrap_or_else(|e| e.into_inner());
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.by_address.get_mut(&self.peer) {
            *n -= 1;
            if *n == 0 {
                open.by_address.remove(&self.peer);
            }
        }
    }
}

impl Shared {
    /// Counts a connection from `peer`; None (and the refusal logged) past the limits.
    fn admit(self: &Arc<Self>, peer: IpAddr) -> Option<Counted> {
        let refused = {
            let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
            let total = open.total;
            let mine = open.by_address.get(&peer).copied().unwrap_or(0);
            if total >= MAX_CONNECTIONS {
                Some(format!("{total} connections open, the most there may be"))
            } else if mine >= MAX_CONNECTIONS_PER_ADDRESS {
                Some(format!(
                    "{mine} connections open from this address, the most there may be"
                ))
            } else {
                open.total += 1;
                *open.by_address.entry(peer).or_insert(0) += 1;
                None
            }
        };
        match refused {
            Some(why) => {
                self.log_refusal(peer, "connection", &refuse(503, why));
                None
            }
            None => Some(Counted {
                shared: self.clone(),
                peer,
            }),
        }
    }

    /// Logs a refusal once per sender and reason a minute, and at most
    /// [`LOG_LINES_PER_SENDER`] lines per sender a minute; what a sender sent is escaped
    /// (no control character reaches the log).
    fn log_refusal(&self, peer: IpAddr, what: &str, refusal: &Refusal) {
        self.stats.refused.fetch_add(1, Ordering::Relaxed);
        let key = (peer, format!("{what} {}", refusal.message));
        let now = Instant::now();
        let minute = Duration::from_secs(60);
        {
            let mut logged = self.logged.lock().unwrap_or_else(|e| e.into_inner());
            if logged
                .get(&key)
                .is_some_and(|t| now.duration_since(*t) < minute)
            {
                return;
            }
            if logged.len() > 4096 {
                logged.clear();
            }
            logged.insert(key, now);
        }
        {
            let mut senders = self.per_sender.lock().unwrap_or_else(|e| e.into_inner());
            if senders.len() > 4096 {
                senders.clear();
            }
            let (since, lines) = senders.entry(peer).or_insert((now, 0));
            if now.duration_since(*since) >= minute {
                (*since, *lines) = (now, 0);
            }
            *lines += 1;
            if *lines > LOG_LINES_PER_SENDER {
                if *lines == LOG_LINES_PER_SENDER + 1 {
                    tracing::warn!("events: more refusals from {peer} this minute, not logged");
                }
                return;
            }
        }
        tracing::warn!(
            "events: refused {} from {peer}: {} {}",
            what.escape_debug(),
            refusal.status,
            refusal.message.escape_debug()
        );
    }
}

/// The running service. Dropping it stops the listeners and lets the writer commit and stop.
pub struct EventService {
    addr: SocketAddr,
    tls_addr: Option<SocketAddr>,
    udp_addr: Option<SocketAddr>,
    stats: Arc<Stats>,
    runtime: Option<tokio::runtime::Runtime>,
    writer: Option<std::thread::JoinHandle<()>>,
}

impl EventService {
    pub fn start(opts: ServiceOptions) -> Result<EventService, ServiceError> {
        let store = Store::open(&opts.data.join(crate::store::INDEX_FILE))?;
        let (jobs, rx) = mpsc::sync_channel(16_384);
        let stats = Arc::new(Stats::default());
        let data = opts.data.clone();
        let writer = std::thread::Builder::new()
            .name("alarm writer".into())
            .spawn(move || write_loop(store, &data, &rx))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("events")
            .enable_all()
            .build()?;
        let shared = Arc::new(Shared {
            rules: opts.rules,
            cameras: opts.cameras,
            jobs,
            stats: stats.clone(),
            logged: Mutex::default(),
            per_sender: Mutex::default(),
            open: Mutex::default(),
            udp_newest: Mutex::default(),
        });
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(opts.listen))
            .map_err(|source| ServiceError::Listen {
                addr: opts.listen,
                source,
            })?;
        let addr = listener.local_addr()?;
        runtime.spawn(accept(listener, shared.clone(), None));
        let tls_addr = match &opts.tls {
            None => None,
            Some(o) => {
                let acceptor = tls_acceptor(o)?;
                let listener = runtime
                    .block_on(tokio::net::TcpListener::bind(o.listen))
                    .map_err(|source| ServiceError::Listen {
                        addr: o.listen,
                        source,
                    })?;
                let a = listener.local_addr()?;
                runtime.spawn(accept(listener, shared.clone(), Some(acceptor)));
                Some(a)
            }
        };
        let udp_addr = match opts.udp {
            None => None,
            Some(u) => {
                let sock = runtime
                    .block_on(tokio::net::UdpSocket::bind(u))
                    .map_err(|source| ServiceError::Listen { addr: u, source })?;
                let a = sock.local_addr()?;
                runtime.spawn(udp_positions(sock, shared.clone()));
                Some(a)
            }
        };
        tracing::info!(
            "events: HTTP on {addr}, HTTPS on {tls_addr:?}, UDP positions on {udp_addr:?}"
        );
        Ok(EventService {
            addr,
            tls_addr,
            udp_addr,
            stats,
            runtime: Some(runtime),
            writer: Some(writer),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The HTTPS listener's address, when there is one.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls_addr
    }

    pub fn udp_addr(&self) -> Option<SocketAddr> {
        self.udp_addr
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }
}

impl Drop for EventService {
    fn drop(&mut self) {
        // The tasks hold the job sender: once they are gone the writer drains and stops.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(2));
        }
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

/// Takes the connections of `listener`, each on a task of its own served by hyper; with `tls`,
/// after a TLS handshake of at most 10 s.
async fn accept(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("events: accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Past the limits the connection is closed at once.
        let Some(counted) = shared.admit(peer.ip()) else {
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let Some(acceptor) = tls.clone() else {
            tokio::spawn(async move {
                connection(stream, peer, shared).await;
                drop(counted);
            });
            continue;
        };
        tokio::spawn(async move {
            let _counted = counted;
            match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await {
                Ok(Ok(tls)) => connection(tls, peer, shared).await,
                Ok(Err(e)) => {
                    shared.log_refusal(peer.ip(), "TLS handshake", &refuse(400, e.to_string()))
                }
                Err(_) => shared.log_refusal(
                    peer.ip(),
                    "TLS handshake",
                    &refuse(408, "not finished within 10 s"),
                ),
            }
        });
    }
}

/// Serves one connection (HTTP/1.1, keep-alive): the request line and headers within 30 s.
async fn connection<S>(stream: S, peer: SocketAddr, shared: Arc<Shared>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let shared = shared.clone();
        async move {
            let req = req.map(axum::body::Body::new);
            let described = format!("{} {}", req.method(), req.uri().path());
            let answer = match http::read(req, MAX_BODY).await {
                Err(refusal) => Err((refusal, "request".to_owned())),
                Ok(req) => handle(&req, &shared).await.map_err(|r| (r, described)),
            };
            Ok::<_, std::convert::Infallible>(match answer {
                Ok((status, json)) => http::response(status, json),
                Err((refusal, what)) => {
                    shared.log_refusal(peer.ip(), &what, &refusal);
                    http::response(refusal.status, http::error_json(&refusal.message))
                }
            })
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        // A sender that closes its side after the request still gets the answer.
        .half_close(true)
        .max_buf_size(16 * 1024 + MAX_BODY);
    if let Err(e) = builder
        .serve_connection(
            hyper_util::rt::TokioIo::new(WriteWithin::new(stream, WRITE_WITHIN)),
            service,
        )
        .await
    {
        tracing::debug!("events: connection from {peer}: {e}");
    }
}

/// How long an answer may wait for a sender to read it before the connection is closed.
pub const WRITE_WITHIN: Duration = Duration::from_secs(10);

/// A stream whose writes fail with `TimedOut` when the peer has not taken any byte for a
/// while: a sender that stops reading never holds a connection (and its buffers) for long.
struct WriteWithin<S> {
    inner: S,
    within: Duration,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<S> WriteWithin<S> {
    fn new(inner: S, within: Duration) -> WriteWithin<S> {
        WriteWithin {
            inner,
            within,
            deadline: None,
        }
    }

    /// What a pending write becomes: still pending, or an error once the deadline passed.
    fn pending<T>(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<T>> {
        let within = self.within;
        let deadline = self
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(within)));
        match deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("the peer read nothing for {} s", within.as_secs()),
            ))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn settle<T>(
        &mut self,
        r: Poll<std::io::Result<T>>,
        cx: &mut Context<'_>,
    ) -> Poll<std::io::Result<T>> {
        match r {
            Poll::Ready(r) => {
                self.deadline = None;
                Poll::Ready(r)
            }
            Poll::Pending => self.pending(cx),
        }
    }
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for WriteWithin<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for WriteWithin<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.settle(r, cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.settle(r, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let r = Pin::new(&mut self.inner).poll_flush(cx);
        self.settle(r, cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let r = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.settle(r, cx)
    }
}

/// Checks the token and says which source posts (none when no source is declared).
fn authenticate<'a>(
    req: &Request,
    shared: &'a Shared,
) -> Result<Option<&'a super::rules::Source>, Refusal> {
    shared
        .rules
        .source_of(req.bearer())
        .map_err(|why| refuse(401, why))
}

/// Bodies are JSON whatever the Content-Type says (cameras' notification settings often send
/// text/plain or a form type), except multipart, which is never JSON.
fn json_body(req: &Request) -> Result<(), Refusal> {
    match req.header("content-type") {
        Some(t) if t.to_ascii_lowercase().starts_with("multipart/") => Err(refuse(
            415,
            format!("Content-Type {t:?}: send the JSON event as the body"),
        )),
        _ => Ok(()),
    }
}

fn may_speak_for(source: Option<&super::rules::Source>, id: &str) -> Result<(), Refusal> {
    match source {
        Some(s) if !s.may.iter().any(|p| matches(p, id)) => Err(refuse(
            403,
            format!("source {:?} may not send for {id:?}", s.name),
        )),
        _ => Ok(()),
    }
}

async fn handle(req: &Request, shared: &Shared) -> Result<(u16, String), Refusal> {
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/v1/health") => Ok((
            200,
            serde_json::json!({
                "events": shared.stats.events.load(Ordering::Relaxed),
                "positions": shared.stats.positions.load(Ordering::Relaxed),
                "refused": shared.stats.refused.load(Ordering::Relaxed),
            })
            .to_string(),
        )),
        ("POST", "/v1/events") => {
            let source = authenticate(req, shared)?;
            json_body(req)?;
            let event = parse_event(&req.body).map_err(|e| refuse(400, e.to_string()))?;
            may_speak_for(source, event.source())?;
            let received_utc_ns = crate::time::now_utc_ns();
            not_ahead(event.at_utc_ns, received_utc_ns)?;
            let placed = match shared.rules.rule_for(&event) {
                None => None,
                Some(rule) => {
                    let p = shared
                        .rules
                        .place(rule, &event, &shared.cameras)
                        .map_err(|e| refuse(422, e.to_string()))?;
                    Some((
                        NewAlarm {
                            at_utc_ns: event.at_utc_ns,
                            kind: event.kind.as_str().to_owned(),
                            source: event.source().to_owned(),
                            rule: rule.name.clone(),
                            priority: rule.priority,
                            zone: p.zone,
                            cameras: p.cameras,
                            instructions: rule.instructions.clone(),
                            sound: rule.sound.clone(),
                            location: p.location,
                            comment_required: rule.comment_to_close,
                            escalate_utc_ns: rule
                                .escalate_after_s
                                .map(|s| received_utc_ns + s as i64 * 1_000_000_000),
                        },
                        rule.merge_within_s,
                    ))
                }
            };
            let (reply, answer) = tokio::sync::oneshot::channel();
            shared
                .jobs
                .try_send(Job::Event(Box::new(EventJob {
                    event,
                    received_utc_ns,
                    placed,
                    reply,
                })))
                .map_err(|_| refuse(503, "the alarm writer is behind; send again"))?;
            match answer.await {
                Ok(Ok((event, alarm))) => {
                    shared.stats.events.fetch_add(1, Ordering::Relaxed);
                    Ok((
                        201,
                        serde_json::json!({ "event": event, "alarm": alarm }).to_string(),
                    ))
                }
                Ok(Err(e)) => Err(refuse(503, e)),
                Err(_) => Err(refuse(503, "the alarm writer stopped")),
            }
        }
        ("POST", "/v1/positions") => {
            let source = authenticate(req, shared)?;
            json_body(req)?;
            let p = parse_position(&req.body).map_err(|e| refuse(400, e.to_string()))?;
            may_speak_for(source, &p.vehicle)?;
            not_ahead(p.at_utc_ns, crate::time::now_utc_ns())?;
            shared
                .jobs
                .try_send(Job::Position(p))
                .map_err(|_| refuse(503, "the alarm writer is behind; send again"))?;
            shared.stats.positions.fetch_add(1, Ordering::Relaxed);
            Ok((202, "{}".into()))
        }
        (_, "/v1/events" | "/v1/positions" | "/v1/health") => Err(refuse(
            405,
            format!("{} is not allowed on {}", req.method, req.path),
        )),
        (_, path) => Err(refuse(
            404,
            format!("no {path:?} here: POST /v1/events or /v1/positions, GET /v1/health"),
        )),
    }
}

/// How far ahead of this server's clock an event or a position may be dated.
pub const MAX_AHEAD_NS: i64 = 5_000_000_000;

/// Refuses what is dated more than [`MAX_AHEAD_NS`] after `now_utc_ns`: a sender whose clock
/// is ahead would otherwise place alarms and patrols in the future.
fn not_ahead(at_utc_ns: i64, now_utc_ns: i64) -> Result<(), Refusal> {
    let ahead = at_utc_ns.saturating_sub(now_utc_ns);
    if ahead > MAX_AHEAD_NS {
        return Err(refuse(
            400,
            format!(
                "time: {:.1} s after this server's clock (at most {} s): the sender's clock is wrong",
                ahead as f64 / 1e9,
                MAX_AHEAD_NS / 1_000_000_000
            ),
        ));
    }
    Ok(())
}

async fn udp_positions(sock: tokio::net::UdpSocket, shared: Arc<Shared>) {
    let mut buf = vec![0u8; MAX_BODY + 1];
    loop {
        let (n, peer) = match sock.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("events: UDP: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        match udp_position(&buf[..n], &shared) {
            Ok(p) => {
                if shared.jobs.try_send(Job::Position(p)).is_ok() {
                    shared.stats.positions.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(refusal) => shared.log_refusal(peer.ip(), "UDP position", &refusal),
        }
    }
}

/// Checks one position datagram: when sources are declared, its MAC line by a source with a
/// `udp_key` that may speak for the vehicle; its time not ahead of this server's clock nor
/// older than the vehicle's newest report over UDP (a replay).
fn udp_position(datagram: &[u8], shared: &Shared) -> Result<Position, Refusal> {
    let (report, mac) = super::split_datagram(datagram);
    let source = if shared.rules.sources.is_empty() {
        None
    } else {
        let mac = mac.ok_or_else(|| {
            refuse(
                401,
                "no MAC line: a declared source ends each datagram with `vigie-mac SOURCE HMAC`",
            )
        })?;
        let source = shared.rules.source_named(mac.source).ok_or_else(|| {
            refuse(
                401,
                format!(
                    "the MAC line names {:?}, which is not a declared source",
                    String::from_utf8_lossy(mac.source)
                ),
            )
        })?;
        let key = source
            .udp_key
            .as_ref()
            .ok_or_else(|| refuse(401, format!("source {:?} has no udp_key", source.name)))?;
        if !super::verify_mac(key, report, mac.digest) {
            return Err(refuse(
                401,
                format!("the MAC does not match (source {:?})", source.name),
            ));
        }
        Some(source)
    };
    let p = parse_position(report).map_err(|e| refuse(400, e.to_string()))?;
    may_speak_for(source, &p.vehicle)?;
    not_ahead(p.at_utc_ns, crate::time::now_utc_ns())?;
    let mut newest = shared.udp_newest.lock().unwrap_or_else(|e| e.into_inner());
    if newest.get(&p.vehicle).is_some_and(|t| p.at_utc_ns <= *t) {
        return Err(refuse(
            409,
            format!(
                "vehicle {:?}: not newer than its last report (a replay, or out of order)",
                p.vehicle
            ),
        ));
    }
    if newest.len() >= 65_536 && !newest.contains_key(&p.vehicle) {
        newest.clear();
    }
    newest.insert(p.vehicle.clone(), p.at_utc_ns);
    Ok(p)
}

/// The service's name in the audit log.
const SERVICE_USER: &str = "vigie-events";

fn service_entry(action: &str, a: &crate::store::AlarmRow, detail: String) -> audit::Entry {
    audit::Entry {
        at_utc_ns: crate::time::now_utc_ns(),
        user: SERVICE_USER.into(),
        role: "service".into(),
        action: action.into(),
        cameras: a.cameras.join(","),
        range: None,
        reason: String::new(),
        detail,
    }
}

fn write_loop(store: Store, data: &std::path::Path, rx: &mpsc::Receiver<Job>) {
    // Open alarms events may join: (rule, source) -> (alarm, last event received, window).
    let mut open: HashMap<(String, String), (i64, i64, i64)> = HashMap::new();
    let mut last_escalation = Instant::now();
    loop {
        let mut batch = Vec::new();
        match rx.recv_timeout(Duration::from_millis(500)) {
            Ok(j) => batch.push(j),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        while batch.len() < 2048 {
            match rx.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        let mut rows = Vec::new();
        let mut replies = Vec::new();
        let mut windows = Vec::new();
        let mut positions = Vec::new();
        // (rule, source) -> index in this batch of the event that last linked it.
        let mut in_batch: HashMap<(String, String), usize> = HashMap::new();
        for job in batch {
            match job {
                Job::Position(p) => positions.push(VehicleRow {
                    id: p.vehicle,
                    rev: 0,
                    latitude: p.latitude,
                    longitude: p.longitude,
                    heading_deg: p.heading_deg,
                    speed_kmh: p.speed_kmh,
                    status: p.status.as_str().to_owned(),
                    at_utc_ns: p.at_utc_ns,
                }),
                Job::Event(job) => {
                    let EventJob {
                        event,
                        received_utc_ns,
                        placed,
                        reply,
                    } = *job;
                    let row = EventRow {
                        received_utc_ns,
                        at_utc_ns: event.at_utc_ns,
                        kind: event.kind.as_str().to_owned(),
                        source: event.source().to_owned(),
                        camera_id: event.camera.clone(),
                        confidence: event.confidence,
                        bbox: event
                            .bbox
                            .map(|b| serde_json::to_string(&b).unwrap_or_else(|_| "null".into())),
                        location: event.location,
                    };
                    let (link, new, window) = match placed {
                        None => (Link::None, None, 0),
                        Some((new, window_s)) => {
                            let key = (new.rule.clone(), new.source.clone());
                            let link = if let Some(i) = in_batch.get(&key) {
                                Link::SameAs(*i)
                            } else {
                                match open.get(&key) {
                                    Some((id, last, window))
                                        if received_utc_ns - last <= *window =>
                                    {
                                        Link::Alarm(*id)
                                    }
                                    _ => Link::None,
                                }
                            };
                            in_batch.insert(key, rows.len());
                            (link, Some(new), window_s as i64 * 1_000_000_000)
                        }
                    };
                    windows.push(window);
                    rows.push((row, link, new));
                    replies.push(reply);
                }
            }
        }
        if !rows.is_empty() {
            let now = crate::time::now_utc_ns();
            match store.add_events(&rows, now) {
                Ok(stored) => {
                    for ((((row, _, new), s), reply), window) in
                        rows.iter().zip(&stored).zip(replies).zip(&windows)
                    {
                        if let (Some(alarm), Some(new)) = (s.alarm, new) {
                            open.insert(
                                (new.rule.clone(), new.source.clone()),
                                (alarm, row.received_utc_ns, *window),
                            );
                        }
                        let _ = reply.send(Ok((s.event, s.alarm)));
                    }
                    for s in stored.iter().filter(|s| s.created) {
                        if let Some(Ok(Some(a))) = s.alarm.map(|id| store.alarm(id)) {
                            let detail = format!(
                                "alarm {}: {} from {}, priority {}, rule {:?}",
                                a.id, a.kind, a.source, a.priority, a.rule
                            );
                            log_entry(&store, data, service_entry("alarm raised", &a, detail));
                        }
                    }
                }
                Err(e) => {
                    tracing::error!("events: storing {} events: {e}", rows.len());
                    for reply in replies {
                        let _ = reply.send(Err(format!("the index refused the event: {e}")));
                    }
                }
            }
        }
        if !positions.is_empty()
            && let Err(e) = store.update_vehicles(&positions)
        {
            tracing::error!("events: storing {} positions: {e}", positions.len());
        }
        if last_escalation.elapsed() >= Duration::from_secs(1) {
            last_escalation = Instant::now();
            match store.escalate_due(crate::time::now_utc_ns()) {
                Ok(list) => {
                    for a in list {
                        let detail = format!(
                            "alarm {}: still new after its escalation time; priority now {}",
                            a.id, a.priority
                        );
                        log_entry(&store, data, service_entry("alarm escalated", &a, detail));
                    }
                }
                Err(e) => tracing::error!("events: escalation: {e}"),
            }
            open.retain(|_, (_, last, _)| crate::time::now_utc_ns() - *last < 3_600_000_000_000);
        }
    }
}

fn log_entry(store: &Store, data: &std::path::Path, entry: audit::Entry) {
    if let Err(e) = audit::append_with(store, &entry) {
        tracing::error!("events: audit log in {}: {e}", data.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `f` logs, as text.
    fn logged(f: impl FnOnce()) -> String {
        #[derive(Clone, Default)]
        struct Sink(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Sink {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().expect("lock").extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let sink = Sink::default();
        let out = sink.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || out.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let bytes = sink.0.lock().expect("lock").clone();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[test]
    fn refusals_are_logged_escaped_and_throttled_per_sender() {
        let (jobs, _rx) = mpsc::sync_channel(1);
        let shared = Shared {
            rules: Rules::default(),
            cameras: Vec::new(),
            jobs,
            stats: Arc::default(),
            logged: Mutex::default(),
            per_sender: Mutex::default(),
            open: Mutex::default(),
            udp_newest: Mutex::default(),
        };
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let text = logged(|| {
            // A sender's message with a forged log line in it.
            shared.log_refusal(
                a,
                "POST /v1/events",
                &refuse(400, "x\nevents: all is well\u{1b}[0m"),
            );
            // Fifty different reasons from one sender, and one from another.
            for i in 0..50 {
                shared.log_refusal(a, "POST /v1/events", &refuse(400, format!("reason {i}")));
            }
            shared.log_refusal(b, "POST /v1/events", &refuse(400, "reason 0"));
        });
        assert!(!text.contains("\nevents: all is well"), "{text}");
        assert!(text.contains("x\\nevents: all is well\\u{1b}[0m"), "{text}");
        let from_a = text
            .lines()
            .filter(|l| l.contains("from 10.0.0.1:"))
            .count();
        assert_eq!(from_a, LOG_LINES_PER_SENDER as usize, "{text}");
        assert!(text.contains("more refusals from 10.0.0.1 this minute, not logged"));
        assert!(text.contains("from 10.0.0.2: 400 reason 0"));
        assert_eq!(shared.stats.refused.load(Ordering::Relaxed), 52);
    }
}
