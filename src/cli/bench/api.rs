//! `vigie bench api`: the site server's API on an index of the city's size, measured through
//! real TLS on loopback against the same work done directly, in the same run.
//!
//! 1. Camera-day timelines: through the API (session check, grant, audit entry, JSON, TLS)
//!    against `Store::timeline` on the same index.
//! 2. Alarm to screen: events at a steady rate into the server's event service while three
//!    workstations hold alarm feeds; per pushed change, the time from the event's instant to its
//!    arrival at the workstation; at the end every workstation must hold the server's last state
//!    of every alarm (none lost).
//! 3. Idle workstations: the server's CPU with K signed-in workstations holding feeds and doing
//!    nothing, against none.
//!
//! The server runs in this process; in the idle phases the process's CPU is the server's (the
//! idle workstations' feed threads wait in a read).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::pipeline::percentile;
use crate::client::Api;
use crate::client::alarms::FeedMessage;
use crate::events::client::EventClient;
use crate::events::{Event, EventKind, event_json};
use crate::server::{Server, ServerOptions, sessions::SessionLimits};
use crate::store::{INDEX_FILE, Store};

/// Arguments of `vigie bench api`.
#[derive(clap::Args, Debug)]
pub struct ApiBenchArgs {
    /// A data folder holding an index made by `vigie bench index --dir DIR` (217 cameras x 30
    /// days for the figures of the README).
    #[arg(long)]
    pub dir: PathBuf,
    /// Camera-day timelines asked.
    #[arg(long, default_value_t = 1000)]
    pub timelines: usize,
    /// Events a second during the alarm phase.
    #[arg(long, default_value_t = 1000)]
    pub rate: u32,
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Workstations holding alarm feeds during the alarm phase.
    #[arg(long, default_value_t = 3)]
    pub clients: usize,
    /// Workstations connected in the idle phase.
    #[arg(long, default_value_t = 20)]
    pub idle_clients: usize,
    #[arg(long, default_value_t = 10)]
    pub idle_seconds: u64,
}

const S: i64 = 1_000_000_000;
const DAY: i64 = 86_400 * S;
const USER: &str = "bench-operator";
use super::pipeline::BENCH_PASSWORD as PASSWORD;

/// The whole process's CPU: in the idle phases only the server and the idle workstations' feed
/// threads (blocked in a read) run, so this is the server's cost, slightly over.
fn server_cpu_s() -> f64 {
    super::pipeline::process_cpu_s()
}

pub fn run(a: ApiBenchArgs) -> anyhow::Result<()> {
    let index = a.dir.join(INDEX_FILE);
    if !index.exists() {
        bail!(
            "{}: no index; make one with vigie bench index --dir {}",
            a.dir.display(),
            a.dir.display()
        );
    }
    let store = Store::open(&index)?;
    let ids: Vec<String> = store.cameras()?.into_iter().map(|c| c.id).collect();
    let first = ids.first().context("the index has no camera")?.clone();
    let t0 = store
        .segments(&first, 0, i64::MAX / 2)?
        .first()
        .map(|s| s.row.start_utc_ns)
        .context("the index has no segment")?;
    let end = store.last_segment_end(&first)?.unwrap_or(t0 + DAY);
    let days = ((end - t0) / DAY).max(1);
    super::pipeline::bench_account(&store, USER, "operator")?;
    let demo = crate::sim::demo_cameras();
    let cameras: Vec<_> = (1..=ids.len() as u32)
        .map(|n| crate::sim::sim_camera(n, "127.0.0.1:9", &demo))
        .collect();
    let server = Server::start(ServerOptions {
        data: a.dir.clone(),
        cameras: cameras.clone(),
        record: false,
        record_only: Vec::new(),
        recorder: Default::default(),
        listen: "127.0.0.1:0".parse()?,
        names: vec!["127.0.0.1".into()],
        tls: None,
        events: Some(crate::events::service::ServiceOptions {
            data: a.dir.clone(),
            listen: "127.0.0.1:0".parse()?,
            udp: None,
            rules: crate::events::rules::Rules::default(),
            cameras,
            tls: None,
        }),
        sessions: SessionLimits::default(),
    })?;
    let url = format!("https://127.0.0.1:{}", server.addr().port());
    let ca = std::fs::read(a.dir.join(crate::server::pki::CA_FILE))?;
    let sign_in = || -> anyhow::Result<Api> {
        let mut api = Api::new(&url, &ca)?;
        api.sign_in(USER, PASSWORD)?;
        Ok(api)
    };
    eprintln!(
        "bench api: {} cameras x {days} days; server on {url}",
        ids.len()
    );

    // 1. Timelines.
    let api = sign_in()?;
    let mut rng = fastrand::Rng::with_seed(13);
    let (mut direct_ms, mut api_ms) = (Vec::new(), Vec::new());
    for _ in 0..a.timelines {
        let id = &ids[rng.usize(0..ids.len())];
        let from = t0 + rng.i64(0..days) * DAY;
        let t = Instant::now();
        let d = store.timeline(id, from, from + DAY)?;
        direct_ms.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let r = api.timeline(id, from, from + DAY)?;
        api_ms.push(t.elapsed().as_secs_f64() * 1e3);
        anyhow::ensure!(
            r.segments.len() == d.segments.len(),
            "{id}: the API's timeline has {} spans, the index {}",
            r.segments.len(),
            d.segments.len()
        );
    }
    direct_ms.sort_by(f64::total_cmp);
    api_ms.sort_by(f64::total_cmp);
    let (tl50, tl99) = (percentile(&api_ms, 0.5), percentile(&api_ms, 0.99));
    let direct99 = percentile(&direct_ms, 0.99);
    eprintln!(
        "camera-day timeline through the API: p50 {tl50:.2} ms p99 {tl99:.2} ms; directly: p99 {direct99:.2} ms"
    );

    // 2. Alarms to three workstations under load.
    let events = server.events_addr().context("event service")?;
    let started_ns = crate::time::now_utc_ns();
    let mut feeds = Vec::new();
    let mut collectors = Vec::new();
    for _ in 0..a.clients {
        let api = sign_in()?;
        let (tx, rx) = mpsc::channel();
        let feed = api.alarm_feed(0, tx)?;
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(FeedMessage::Connected) => {}
            other => bail!("a feed did not connect: {other:?}"),
        }
        collectors.push(
            std::thread::Builder::new()
                .name("bench feed".into())
                .spawn(move || {
                    let mut latency_ms = Vec::new();
                    let mut last: HashMap<i64, i64> = HashMap::new();
                    while let Ok(m) = rx.recv_timeout(Duration::from_secs(3)) {
                        if let FeedMessage::Alarm(row) = m {
                            let now = crate::time::now_utc_ns();
                            if row.created_utc_ns >= started_ns {
                                latency_ms.push((now - row.last_event_utc_ns) as f64 / 1e6);
                                last.insert(row.id, row.rev);
                            }
                        }
                    }
                    (latency_ms, last)
                })?,
        );
        feeds.push((api, feed));
    }
    let senders = 8u32;
    let per_sender = a.rate as f64 / senders as f64;
    let total = a.rate as u64 * a.seconds;
    let mut handles = Vec::new();
    for k in 0..senders {
        let ids = ids.clone();
        let count = total / senders as u64 + u64::from((k as u64) < total % senders as u64);
        handles.push(
            std::thread::Builder::new()
                .name(format!("bench sender {k}"))
                .spawn(move || -> (u64, u64) {
                    let mut client = EventClient::new(events, None);
                    let mut rng = fastrand::Rng::with_seed(k as u64);
                    let start = Instant::now();
                    let (mut ok, mut refused) = (0, 0);
                    for i in 0..count {
                        let due = start + Duration::from_secs_f64(i as f64 / per_sender);
                        if let Some(w) = due.checked_duration_since(Instant::now()) {
                            std::thread::sleep(w);
                        }
                        let e = Event {
                            kind: EventKind::Intrusion,
                            at_utc_ns: crate::time::now_utc_ns(),
                            camera: Some(ids[rng.usize(0..ids.len())].clone()),
                            button: None,
                            confidence: Some(0.9),
                            bbox: None,
                            location: None,
                        };
                        match client.post("/v1/events", &event_json(&e)) {
                            Ok((201, _)) => ok += 1,
                            _ => refused += 1,
                        }
                    }
                    (ok, refused)
                })?,
        );
    }
    let (mut sent, mut refused) = (0u64, 0u64);
    for h in handles {
        let (o, r) = h.join().map_err(|_| anyhow::anyhow!("a sender failed"))?;
        sent += o;
        refused += r;
    }
    // The feeds' collectors end 3 s after the last change they saw.
    let results: Vec<_> = collectors
        .into_iter()
        .map(|c| c.join().map_err(|_| anyhow::anyhow!("a collector failed")))
        .collect::<Result<_, _>>()?;
    drop(feeds);
    let truth: HashMap<i64, (i64, i64)> = store
        .alarms_since(0, usize::MAX >> 1)?
        .into_iter()
        .filter(|r| r.created_utc_ns >= started_ns)
        .map(|r| (r.id, (r.rev, r.events)))
        .collect();
    let stored_events: i64 = truth.values().map(|(_, n)| n).sum();
    let mut lost = 0usize;
    let mut latency = Vec::new();
    for (lat, last) in results {
        latency.extend(lat);
        lost += truth
            .iter()
            .filter(|(id, (rev, _))| last.get(id) != Some(rev))
            .count();
    }
    latency.sort_by(f64::total_cmp);
    let (al50, al99) = (percentile(&latency, 0.5), percentile(&latency, 0.99));
    eprintln!(
        "alarms: {sent} events answered 201 ({refused} refused), {stored_events} in the alarms; {} alarms; \
         event to a workstation's feed p50 {al50:.1} ms p99 {al99:.1} ms over {} pushed changes; \
         workstations missing the last state of an alarm: {lost}",
        truth.len(),
        latency.len()
    );

    // 3. Idle workstations.
    std::thread::sleep(Duration::from_secs(1));
    let idle = Duration::from_secs(a.idle_seconds);
    let c0 = server_cpu_s();
    std::thread::sleep(idle);
    let none = server_cpu_s() - c0;
    let mut idle_feeds = Vec::new();
    for _ in 0..a.idle_clients {
        let api = sign_in()?;
        let (tx, rx) = mpsc::channel();
        let feed = api.alarm_feed(i64::MAX / 2, tx)?;
        idle_feeds.push((api, feed, rx));
    }
    std::thread::sleep(Duration::from_secs(1));
    let c1 = server_cpu_s();
    std::thread::sleep(idle);
    let with = server_cpu_s() - c1;
    let per_ws =
        ((with - none) / a.idle_clients.max(1) as f64 / idle.as_secs_f64() * 100.0).max(0.0);
    eprintln!(
        "idle: server CPU {:.3} % of a core with no workstation, {:.3} % with {}: {per_ws:.4} % per workstation",
        none / idle.as_secs_f64() * 100.0,
        with / idle.as_secs_f64() * 100.0,
        a.idle_clients
    );
    drop(idle_feeds);
    server.stop();
    println!(
        "{{\"cameras\":{},\"days\":{days},\"timeline_api_ms_p50\":{tl50:.3},\"timeline_api_ms_p99\":{tl99:.3},\
         \"timeline_direct_ms_p99\":{direct99:.3},\"events_sent\":{sent},\"events_refused\":{refused},\
         \"alarm_push_ms_p50\":{al50:.2},\"alarm_push_ms_p99\":{al99:.2},\"clients\":{},\"lost\":{lost},\
         \"idle_cpu_pct_per_workstation\":{per_ws:.4}}}",
        ids.len(),
        a.clients
    );
    Ok(())
}
