//! `vigie bench events`: event-to-alarm-on-screen latency and a sustained event rate, with the
//! live workspace's UI frame time under that load against the same UI idle, in one run.
//!
//! In one process: `vigie events` (HTTP on loopback, its writer, the index in a temporary
//! folder), sender threads posting smart-camera events, and the live workspace (217 demo
//! cameras on a 4x4 wall, signed in, alarm list open) run frame by frame on an egui context
//! at 60 Hz, laid out and tessellated as on screen (video pictures are not decoded: every
//! tile shows a still, which costs the same at each frame).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::pipeline::{percentile, thread_cpu_s};
use crate::config::{Camera, StreamKind};
use crate::events::client::EventClient;
use crate::events::rules::Rules;
use crate::events::service::ServiceOptions;
use crate::events::{Event, EventKind, event_json};
use crate::media::FrameSlot;
use crate::ui::{LiveWorkspace, StreamProvider};

/// Every tile shows one still picture of its camera.
struct Stills(HashMap<String, Arc<FrameSlot>>);

impl StreamProvider for Stills {
    fn want(&mut self, camera: &Camera, _kind: StreamKind) -> Arc<FrameSlot> {
        self.0
            .entry(camera.id.clone())
            .or_insert_with(|| {
                let slot = FrameSlot::new();
                let n = camera.id.trim_start_matches("cam").parse().unwrap_or(1);
                slot.publish(crate::sim::Painter::new(n, 640, 360, 50).frame(0, 0));
                slot
            })
            .clone()
    }
    fn collect(&mut self) {}
    fn active(&self) -> usize {
        self.0.len()
    }
    fn set_waker(&mut self, _waker: Arc<dyn Fn() + Send + Sync>) {}
}

/// The UI, one frame at a time.
struct Ui {
    ctx: egui::Context,
    ws: LiveWorkspace,
    /// When each alarm was first in the list at the end of a frame (UTC ns).
    first_seen: HashMap<i64, i64>,
    /// Per alarm, its last event time as each frame showed it: (last event, frame end).
    shown: HashMap<i64, Vec<(i64, i64)>>,
}

impl Ui {
    /// One frame; returns the UI thread's CPU time for it in ms (what the frame costs,
    /// whatever else the machine runs).
    fn frame(&mut self) -> f64 {
        let t0 = thread_cpu_s();
        let input = egui::RawInput {
            screen_rect: Some(egui::Rect::from_min_size(
                egui::Pos2::ZERO,
                egui::vec2(1920.0, 1080.0),
            )),
            ..Default::default()
        };
        let ws = &mut self.ws;
        let out = self.ctx.run_ui(input, |ui| ws.show(ui));
        let _ = self.ctx.tessellate(out.shapes, out.pixels_per_point);
        let ms = (thread_cpu_s() - t0) * 1e3;
        // What this frame showed (outside the time measured).
        let now = crate::time::now_utc_ns();
        if let Some(b) = self.ws.alarm_board() {
            for (id, a) in &b.alarms {
                self.first_seen.entry(*id).or_insert(now);
                let v = self.shown.entry(*id).or_default();
                if v.last().is_none_or(|l| l.0 != a.last_event_utc_ns) {
                    v.push((a.last_event_utc_ns, now));
                }
            }
        }
        ms
    }

    /// True once a frame showed an alarm's last event at or after `at`.
    fn shows_event_at(&self, posts: &[(i64, i64)], at: i64) -> bool {
        posts.iter().filter(|p| p.1 == at).all(|(id, at)| {
            let stored_at = at - at.rem_euclid(1_000_000);
            self.shown
                .get(id)
                .is_some_and(|v| v.iter().any(|s| s.0 >= stored_at))
        })
    }

    /// For each (alarm, event time): ms from the event's sending to the first frame showing
    /// the alarm with that event (or a later one), sorted.
    fn latencies(&self, posts: &[(i64, i64)]) -> Vec<f64> {
        let mut v: Vec<f64> = posts
            .iter()
            .filter_map(|(id, at)| {
                let frames = self.shown.get(id)?;
                // Event times travel in JSON to the millisecond.
                let stored_at = at - at.rem_euclid(1_000_000);
                let i = frames.partition_point(|s| s.0 < stored_at);
                frames.get(i).map(|s| (s.1 - at) as f64 / 1e6)
            })
            .collect();
        v.sort_by(f64::total_cmp);
        v
    }

    /// Runs frames at 60 Hz for `d`; returns their CPU times.
    fn run(&mut self, d: Duration, stop: &dyn Fn() -> bool) -> Vec<f64> {
        let period = Duration::from_micros(16_667);
        let t0 = Instant::now();
        let mut next = t0;
        let mut times = Vec::new();
        while t0.elapsed() < d && !stop() {
            times.push(self.frame());
            next += period;
            if let Some(wait) = next.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            } else {
                next = Instant::now();
            }
        }
        times
    }
}

pub fn events(rate: u32, seconds: u64, senders: u32) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("vigie-bench-events-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).context("temporary folder")?;
    let cameras = crate::sim::demo_cameras();
    // The wall signs in at a site server of that folder, which runs the event service: alarms
    // reach it as they reach every workstation, pushed by the server.
    const USER: &str = "bench-operator";
    {
        let store = crate::store::Store::open(&dir.join(crate::store::INDEX_FILE))?;
        super::pipeline::bench_account(&store, USER, "operator")?;
    }
    let mut opts = crate::server::ServerOptions::local(&dir, cameras.clone());
    opts.events = Some(ServiceOptions {
        data: dir.clone(),
        listen: "127.0.0.1:0".parse()?,
        udp: None,
        rules: Rules::default(),
        cameras: cameras.clone(),
        tls: None,
    });
    let server = crate::server::Server::start(opts)?;
    let addr = server
        .events_addr()
        .context("the server started no event service")?;
    let ca = std::fs::read(dir.join(crate::server::pki::CA_FILE))?;
    let mut api = crate::client::Api::new(&server.local_url(), &ca)?;
    let info = api.sign_in(USER, super::pipeline::BENCH_PASSWORD)?;
    let session = crate::auth::Session {
        user: info.user,
        role: crate::auth::Role::Operator,
        cameras: info.cameras,
    };
    let mut ws = LiveWorkspace::new(cameras.clone(), None, Box::new(Stills(HashMap::new())));
    ws = ws.with_sounds(false);
    ws.sign_in_at_server(session, std::sync::Arc::new(api), Vec::new())
        .map_err(anyhow::Error::msg)?;
    let mut ui = Ui {
        ctx: egui::Context::default(),
        ws,
        first_seen: HashMap::new(),
        shown: HashMap::new(),
    };
    // Warm-up: the board's first read, fonts, the wall's layout.
    ui.run(Duration::from_secs(2), &|| false);
    if ui.ws.alarm_board().is_none() {
        bail!("the alarm list did not start");
    }

    // An alert is being handled: the alarm screen is open (its live tiles and replays) in
    // both phases compared, and the load's less urgent alarms do not take its place.
    let mut client = EventClient::new(addr, None);
    let first = alert(&mut client, &cameras[0], "bench-first")?;
    wait_on_screen(&mut ui, first)?;

    // 0. One event per camera and type: 868 alarms in the list, the time each took to appear.
    let n_cams = cameras.len();
    let fill = Load::start(addr, rate, n_cams as u64 * 4, senders, 0);
    ui.run(Duration::from_secs(30), &|| fill.finished());
    let (fill_posts, fill_sent, fill_failed, _) = fill.finish();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && !fill_posts.iter().all(|p| ui.first_seen.contains_key(&p.0))
    {
        ui.frame();
        std::thread::sleep(Duration::from_millis(16));
    }
    let created: std::collections::HashSet<i64> = fill_posts.iter().map(|p| p.0).collect();
    let new_latency = ui.latencies(&fill_posts);

    // 1. The UI idle as long as the load will last: the baseline.
    let idle = ui.run(Duration::from_secs(seconds), &|| false);

    // 2. `rate` smart-camera events a second for `seconds` from `senders` connections, all
    // joining the open alarms (the list does not change shape: what is measured is the load).
    let load = Load::start(addr, rate, rate as u64 * seconds, senders, n_cams * 4);
    let loaded = ui.run(Duration::from_secs(seconds + 30), &|| load.finished());
    let (posts, sent, failed, send_s) = load.finish();
    // Frames until the last event is on screen.
    let last = posts.iter().map(|p| p.1).max().unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && !ui.shows_event_at(&posts, last) {
        ui.frame();
        std::thread::sleep(Duration::from_millis(16));
    }
    let load_latency = ui.latencies(&posts);

    // 3. Alert-button presses, five a second: each a new alarm on top of the list and on the
    // alarm screen.
    let mut press_lat = Vec::new();
    for n in 0..100 {
        let at = Instant::now();
        let id = alert(&mut client, &cameras[n * 2 % n_cams], &format!("bench-{n}"))?;
        wait_on_screen(&mut ui, id)?;
        press_lat.push(at.elapsed().as_secs_f64() * 1e3);
        std::thread::sleep(Duration::from_millis(200));
    }
    press_lat.sort_by(f64::total_cmp);

    let store = crate::store::Store::open(&dir.join(crate::store::INDEX_FILE))?;
    // Stored: all but the 101 alert presses.
    let stored = store.alarm_event_count()? as u64 - 101;
    let answered = sent + fill_sent;
    let failed: Vec<String> = fill_failed.into_iter().chain(failed).collect();
    let (mut idle, mut loaded) = (idle, loaded);
    idle.sort_by(f64::total_cmp);
    loaded.sort_by(f64::total_cmp);
    let (ip99, lp99) = (percentile(&idle, 0.99), percentile(&loaded, 0.99));
    let offered = rate as u64 * seconds;
    let p = |v: &[f64], q: f64| percentile(v, q);
    eprintln!(
        "load: {sent} of {offered} events answered 201 in {send_s:.1} s ({:.0}/s); {answered} sent in all, {stored} stored, {} refused or failed",
        sent as f64 / send_s,
        failed.len(),
    );
    eprintln!(
        "event to alarm updated on screen, under load: p50 {:.1} ms, p99 {:.1} ms ({} events)",
        p(&load_latency, 0.5),
        p(&load_latency, 0.99),
        load_latency.len()
    );
    eprintln!(
        "event to new alarm in the list ({} alarms made at {rate}/s): p50 {:.1} ms, p99 {:.1} ms",
        created.len(),
        p(&new_latency, 0.5),
        p(&new_latency, 0.99),
    );
    eprintln!(
        "alert button to alarm on the alarm screen (live and replays): p50 {:.1} ms, p99 {:.1} ms ({} presses)",
        p(&press_lat, 0.5),
        p(&press_lat, 0.99),
        press_lat.len()
    );
    eprintln!(
        "UI frame, CPU of the UI thread: idle p50 {:.2} ms p99 {:.2} ms ({} frames); under load p50 {:.2} ms p99 {:.2} ms ({} frames): p99 ratio {:.2}",
        p(&idle, 0.5),
        ip99,
        idle.len(),
        p(&loaded, 0.5),
        lp99,
        loaded.len(),
        lp99 / ip99.max(1e-9)
    );
    for f in failed.iter().take(5) {
        eprintln!("  failed: {f}");
    }
    println!(
        "{{\"offered\":{offered},\"answered\":{answered},\"stored\":{stored},\"failed\":{},\"send_s\":{send_s:.2},\
         \"load_latency_ms_p50\":{:.2},\"load_latency_ms_p99\":{:.2},\"new_alarm_latency_ms_p50\":{:.2},\"new_alarm_latency_ms_p99\":{:.2},\
         \"press_latency_ms_p50\":{:.2},\"press_latency_ms_p99\":{:.2},\
         \"frame_ms_idle_p50\":{:.3},\"frame_ms_idle_p99\":{ip99:.3},\"frame_ms_load_p50\":{:.3},\"frame_ms_load_p99\":{lp99:.3},\"frame_p99_ratio\":{:.3}}}",
        failed.len(),
        p(&load_latency, 0.5),
        p(&load_latency, 0.99),
        p(&new_latency, 0.5),
        p(&new_latency, 0.99),
        p(&press_lat, 0.5),
        p(&press_lat, 0.99),
        p(&idle, 0.5),
        p(&loaded, 0.5),
        lp99 / ip99.max(1e-9)
    );
    drop(ui);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    if stored != answered || !failed.is_empty() {
        bail!(
            "{answered} events answered, {stored} stored, {} failed: events were lost",
            failed.len()
        );
    }
    Ok(())
}

/// What a sender did: (alarm, event time) per event answered, how many, the failures.
type Sent = (Vec<(i64, i64)>, u64, Vec<String>);

/// Sender threads posting smart-camera events at a rate; each records (alarm, event time).
struct Load {
    threads: Vec<std::thread::JoinHandle<Sent>>,
    started: Instant,
}

impl Load {
    /// `total` events at `rate` a second over `senders` connections, the k-th (from `first`)
    /// for camera k mod 217 and type k / 217 mod 4.
    fn start(
        addr: std::net::SocketAddr,
        rate: u32,
        total: u64,
        senders: u32,
        first: usize,
    ) -> Load {
        let per = (rate as f64 / senders as f64).max(1.0);
        let n_cams = crate::sim::demo_cameras().len();
        let started = Instant::now();
        let threads = (0..senders as u64)
            .map(|t| {
                std::thread::spawn(move || {
                    let mut client = EventClient::new(addr, None);
                    let kinds = [
                        EventKind::AbnormalBehaviour,
                        EventKind::Loitering,
                        EventKind::Intrusion,
                        EventKind::LineCrossing,
                    ];
                    let (mut posts, mut sent, mut failed) = (Vec::new(), 0u64, Vec::new());
                    let mut n = 0u64;
                    loop {
                        let k = first + (n * senders as u64 + t) as usize;
                        if (k - first) as u64 >= total {
                            break;
                        }
                        let due = started + Duration::from_secs_f64(n as f64 / per);
                        if let Some(w) = due.checked_duration_since(Instant::now()) {
                            std::thread::sleep(w);
                        }
                        let at = crate::time::now_utc_ns();
                        let e = Event {
                            kind: kinds[k / n_cams % 4],
                            at_utc_ns: at,
                            camera: Some(format!("cam{:03}", k % n_cams + 1)),
                            button: None,
                            confidence: Some(0.9),
                            bbox: Some([0.4, 0.3, 0.1, 0.3]),
                            location: None,
                        };
                        match client.post("/v1/events", &event_json(&e)) {
                            Ok((201, body)) => {
                                sent += 1;
                                if let Some(id) = serde_json::from_str::<serde_json::Value>(&body)
                                    .ok()
                                    .and_then(|v| v["alarm"].as_i64())
                                {
                                    posts.push((id, at));
                                }
                            }
                            Ok((s, body)) => failed.push(format!("{s} {body}")),
                            Err(e) => failed.push(e.to_string()),
                        }
                        n += 1;
                    }
                    (posts, sent, failed)
                })
            })
            .collect();
        Load { threads, started }
    }

    /// True once every sender is done.
    fn finished(&self) -> bool {
        self.threads.iter().all(|t| t.is_finished())
    }

    /// Waits for the senders: (alarm, event time) per event, events answered, failures, and
    /// the seconds they took.
    fn finish(self) -> (Vec<(i64, i64)>, u64, Vec<String>, f64) {
        let mut out = (Vec::new(), 0, Vec::new());
        for t in self.threads {
            if let Ok((p, s, f)) = t.join() {
                out.0.extend(p);
                out.1 += s;
                out.2.extend(f);
            }
        }
        (out.0, out.1, out.2, self.started.elapsed().as_secs_f64())
    }
}

/// Presses alert button `id` by camera `c`; returns its alarm.
fn alert(client: &mut EventClient, c: &Camera, id: &str) -> anyhow::Result<i64> {
    let e = Event {
        kind: EventKind::AlertButton,
        at_utc_ns: crate::time::now_utc_ns(),
        camera: None,
        button: Some(id.to_owned()),
        confidence: None,
        bbox: None,
        location: Some((c.latitude, c.longitude)),
    };
    let (s, body) = client.post("/v1/events", &event_json(&e))?;
    if s != 201 {
        bail!("alert button: {s} {body}");
    }
    serde_json::from_str::<serde_json::Value>(&body)?["alarm"]
        .as_i64()
        .context("no alarm in the answer")
}

/// Runs frames until alarm `id` is on the alarm screen.
fn wait_on_screen(ui: &mut Ui, id: i64) -> anyhow::Result<()> {
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        ui.frame();
        if ui.ws.alarm_on_screen().map(|a| a.0) == Some(id) {
            return Ok(());
        }
        if Instant::now() > until {
            bail!("alarm {id} not on the alarm screen within 5 s");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}
