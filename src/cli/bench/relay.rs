//! `vigie bench relay`: what live relay costs the site server, and what it adds to latency.
//!
//! The simulator runs in a child process; the server (recording every camera's main stream)
//! and the workstations' live connections run here, so that the server's threads ("recorder",
//! "relay", "server api") are measured apart from the clients' ("live relay", decoders).
//!
//! 1. Receiving: the server records N main streams, no workstation: its CPU is the cost of
//!    receiving each stream once.
//! 2. Relaying: one workstation, then K, take those N streams (the recorder's sessions) without
//!    decoding. Each workstation past the first costs the server the difference: its CPU per
//!    stream per workstation, as a ratio to (1). What the first costs beyond that is the
//!    stream's being watched at all (its session reads each picture as it arrives instead of
//!    at the recorder's beat), paid once per stream and reported apart.
//! 3. Latency: one camera painted live (its timecode stripe exact), decoded both straight from
//!    the simulator (no jitter buffer) and through the server; each picture's arrival at the
//!    decoder's output is paired by its stripe: the relay's added latency, p50 and p99.
//! 4. Scale (`--scale-cameras`, `--scale-fps`): that many cameras' main streams recorded and
//!    their sub streams sent to four workstations; server CPU per stream. The simulator serving
//!    434 streams at 25 pictures a second takes more than this 2-core machine has, so the
//!    phase runs at `--scale-fps` (5 by default).

use std::collections::HashMap;
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;

use super::pipeline::{percentile, spawn_camsim_at, spawn_camsim_with, threads_cpu_s};
use crate::client::relay::RelayClient;
use crate::config::{Camera, StreamKind};
use crate::ingest::{IngestTimings, LiveStream, Transport};
use crate::media::{FrameSlot, decode_timecode_luma};
use crate::relay::{Incoming, Relay};

/// CPU seconds of the server's threads in this process.
pub(super) fn server_cpu_s() -> f64 {
    SERVER_THREADS.iter().map(|g| threads_cpu_s(g)).sum()
}

pub(super) struct Site {
    server: Option<crate::server::Server>,
    dir: std::path::PathBuf,
    user: String,
}

impl Site {
    /// A server of these cameras in this process (recording their main streams when `record`).
    pub(super) fn start(cameras: Vec<Camera>, name: &str, record: bool) -> anyhow::Result<Site> {
        let dir = std::env::temp_dir().join(format!("vigie-bench-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let data = dir.join("data");
        std::fs::create_dir_all(&data)?;
        let user = "bench-operator".to_owned();
        {
            let store = crate::store::Store::open(&data.join(crate::store::INDEX_FILE))?;
            super::pipeline::bench_account(&store, &user, "operator")?;
        }
        let server = crate::server::Server::start(crate::server::ServerOptions {
            cameras,
            record,
            ..crate::server::ServerOptions::local(&data, Vec::new())
        })?;
        Ok(Site {
            server: Some(server),
            dir,
            user,
        })
    }

    /// A workstation's live connection to it.
    pub(super) fn workstation(&self) -> anyhow::Result<Arc<RelayClient>> {
        let data = self.dir.join("data");
        let ca = std::fs::read(data.join(crate::server::pki::CA_FILE))?;
        let url = self
            .server
            .as_ref()
            .map(|s| s.local_url())
            .unwrap_or_default();
        let mut api = crate::client::Api::new(&url, &ca)?;
        api.sign_in(&self.user, super::pipeline::BENCH_PASSWORD)?;
        Ok(Arc::new(RelayClient::start(&api, None)?))
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            s.stop();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A workstation that takes streams without decoding them: a thread counting what arrives.
struct Receiver {
    relay: Arc<RelayClient>,
    ids: Vec<u32>,
    units: Arc<Mutex<u64>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Receiver {
    fn take(relay: Arc<RelayClient>, cameras: &[Camera], kind: StreamKind) -> Receiver {
        let units = Arc::new(Mutex::new(0u64));
        let mut ids = Vec::new();
        let mut threads = Vec::new();
        for c in cameras {
            let (tx, rx) = sync_channel(1024);
            ids.push(relay.subscribe(&c.id, kind, false, tx));
            let u = units.clone();
            threads.push(std::thread::spawn(move || {
                while let Ok(m) = rx.recv() {
                    if let Incoming::Unit(_) = m {
                        *u.lock().unwrap_or_else(|e| e.into_inner()) += 1;
                    }
                }
            }));
        }
        Receiver {
            relay,
            ids,
            units,
            threads,
        }
    }

    fn units(&self) -> u64 {
        *self.units.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stop(self) {
        for id in &self.ids {
            self.relay.unsubscribe(*id);
        }
        drop(self.relay);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// The server's threads, by the prefix of their names.
const SERVER_THREADS: [&str; 3] = ["recorder", "relay", "server api"];

/// CPU nanoseconds of each of the server's threads now, by thread id (the kernel's own count
/// of each thread's time on a CPU, not clock ticks).
fn server_threads() -> HashMap<u32, (String, u64)> {
    let mut out = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for e in dir.flatten() {
        let Ok(tid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let name = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        let name = name.trim();
        if !SERVER_THREADS.iter().any(|p| name.starts_with(p)) {
            continue;
        }
        // A thread's CPU-time clock, as the kernel numbers it: the thread id complemented,
        // shifted by 3, with "per thread" (4) and "scheduler time" (2).
        let clock: libc::clockid_t = (!tid << 3) | 6;
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid timespec to write; a thread that ended meanwhile is an
        // error, and skipped.
        if unsafe { libc::clock_gettime(clock, &mut ts) } == 0 {
            let ns = ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64;
            out.insert(tid as u32, (name.to_owned(), ns));
        }
    }
    out
}

/// Server CPU seconds over `d` (and said per thread group). A thread that starts meanwhile
/// counts from its start; one that ends meanwhile (an idle blocking thread) is left out.
fn measure(d: Duration) -> f64 {
    let before = server_threads();
    std::thread::sleep(d);
    let after = server_threads();
    let mut by = [0u64; SERVER_THREADS.len()];
    for (tid, (name, ns)) in &after {
        let spent = ns.saturating_sub(before.get(tid).map_or(0, |(_, b)| *b));
        if let Some(g) = SERVER_THREADS.iter().position(|p| name.starts_with(p)) {
            by[g] += spent;
        }
    }
    let said: Vec<String> = SERVER_THREADS
        .iter()
        .zip(by)
        .map(|(g, ns)| format!("{g} {:.3}", ns as f64 / 1e9))
        .collect();
    eprintln!("  server CPU s by thread: {}", said.join(", "));
    by.iter().sum::<u64>() as f64 / 1e9
}

/// K workstations on every main stream for `d`: server CPU seconds, pictures delivered.
fn relaying(site: &Site, cameras: &[Camera], k: u32, d: Duration) -> anyhow::Result<(f64, u64)> {
    let receivers: Vec<Receiver> = (0..k)
        .map(|_| {
            Ok(Receiver::take(
                site.workstation()?,
                cameras,
                StreamKind::Main,
            ))
        })
        .collect::<anyhow::Result<_>>()?;
    std::thread::sleep(Duration::from_secs(3));
    let u0: u64 = receivers.iter().map(Receiver::units).sum();
    let cpu = measure(d);
    let delivered: u64 = receivers.iter().map(Receiver::units).sum::<u64>() - u0;
    for r in receivers {
        r.stop();
    }
    Ok((cpu, delivered))
}

pub fn relay(n: u32, k: u32, seconds: Duration, scale: u32, scale_fps: u32) -> anyhow::Result<()> {
    let n = n.max(1);
    let k = k.max(2);
    // Camera 1 painted live (an exact stripe for the latency), the others looped clips.
    let (_sim, addr) = spawn_camsim_with(n, &["--live-cameras", "1"])?;
    let demo = crate::sim::demo_cameras();
    let cameras: Vec<Camera> = (1..=n)
        .map(|i| crate::sim::sim_camera(i, &addr.to_string(), &demo))
        .collect();
    eprintln!(
        "bench relay: {n} cameras (camera 1 painted live, the others looped 1280x720 clips), 1 then {k} workstations, {} s a phase",
        seconds.as_secs()
    );
    let site = Site::start(cameras.clone(), "relay", true)?;
    std::thread::sleep(Duration::from_secs(5)); // sessions, first keyframes
    let receiving = measure(seconds);
    // One workstation, then K: each one more costs the difference.
    let (one, delivered_one) = relaying(&site, &cameras, 1, seconds)?;
    let (all, delivered) = relaying(&site, &cameras, k, seconds)?;
    let secs = seconds.as_secs_f64();
    let per_stream_once = receiving / n as f64;
    let per_stream_client = (all - one).max(0.0) / (n as f64 * (k - 1) as f64);
    // What a watched stream costs once, whatever the workstations: its session reads each
    // picture as it comes instead of at the recorder's beat.
    let watched = ((one - receiving) / n as f64 - per_stream_client).max(0.0);
    let ratio = per_stream_client / per_stream_once.max(1e-9);
    let per_picture_us =
        (all - one).max(0.0) / (delivered as f64 * (k - 1) as f64 / k as f64).max(1.0) * 1e6;
    eprintln!(
        "server: receiving {:.3} % of a core per stream; each workstation {:.3} % per stream (ratio {ratio:.2}, {per_picture_us:.1} µs a picture); a stream being watched {:.3} % once; {delivered_one} then {delivered} pictures delivered",
        per_stream_once / secs * 100.0,
        per_stream_client / secs * 100.0,
        watched / secs * 100.0,
    );

    // Latency: straight from the simulator vs through the server, paired by stripe.
    let (p50, p99, paired) = latency(&site, &cameras[0], seconds)?;
    eprintln!(
        "latency added by the relay (camera 1, main stream): p50 {p50:.2} ms, p99 {p99:.2} ms over {paired} pictures"
    );
    drop(site);

    let mut scale_report = String::new();
    if scale > 0 {
        let per = scale_phase(scale, scale_fps, seconds)?;
        scale_report = format!(
            ",\"scale_cameras\":{scale},\"scale_fps\":{scale_fps},\"scale_server_cpu_pct_per_stream\":{:.4}",
            per * 100.0
        );
    }
    println!(
        "{{\"cameras\":{n},\"workstations\":{k},\"seconds\":{},\"receiving_cpu_s\":{receiving:.3},\"one_workstation_cpu_s\":{one:.3},\"relaying_cpu_s\":{all:.3},\"ratio\":{ratio:.3},\"per_picture_per_workstation_us\":{per_picture_us:.2},\"watched_cpu_pct_per_stream\":{:.4},\"latency_added_p50_ms\":{p50:.3},\"latency_added_p99_ms\":{p99:.3},\"latency_pictures\":{paired}{scale_report}}}",
        seconds.as_secs(),
        watched / secs * 100.0
    );
    Ok(())
}

/// When each picture of `slot` came out of its decoder, by its stripe (ms).
fn arrivals(slot: &Arc<FrameSlot>) -> Arc<Mutex<HashMap<i64, Instant>>> {
    let seen: Arc<Mutex<HashMap<i64, Instant>>> = Default::default();
    let (s, w) = (seen.clone(), Arc::downgrade(slot));
    slot.set_waker(Some(Arc::new(move || {
        let at = Instant::now();
        if let Some(f) = w.upgrade().and_then(|slot| slot.last()) {
            let stripe = decode_timecode_luma(f.width, f.height, |x, y| f.luma_at(x, y));
            s.lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(stripe)
                .or_insert(at);
        }
    })));
    seen
}

fn latency(site: &Site, camera: &Camera, d: Duration) -> anyhow::Result<(f64, f64, usize)> {
    let direct_slot = FrameSlot::new();
    let relay_slot = FrameSlot::new();
    let direct_seen = arrivals(&direct_slot);
    let relay_seen = arrivals(&relay_slot);
    let direct = LiveStream::open(
        crate::ingest::StreamSource {
            label: format!("{}/main", camera.id),
            url: camera.main_url.clone(),
            credential: None,
            transport: Transport::Tcp,
        },
        direct_slot,
        IngestTimings {
            latency_ms: 0,
            ..Default::default()
        },
    )?;
    let relay = site.workstation()?;
    let relayed = LiveStream::relayed(
        relay,
        &camera.id,
        StreamKind::Main,
        relay_slot,
        IngestTimings::default(),
    )?;
    std::thread::sleep(Duration::from_secs(3));
    direct_seen
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clear();
    relay_seen.lock().unwrap_or_else(|e| e.into_inner()).clear();
    std::thread::sleep(d);
    direct.stop_and_join();
    relayed.stop_and_join();
    let a = direct_seen
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let b = relay_seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut added: Vec<f64> = b
        .iter()
        .filter_map(|(stripe, tb)| {
            let ta = a.get(stripe)?;
            Some(if tb >= ta {
                tb.duration_since(*ta).as_secs_f64() * 1e3
            } else {
                -(ta.duration_since(*tb).as_secs_f64() * 1e3)
            })
        })
        .collect();
    anyhow::ensure!(
        !added.is_empty(),
        "no picture seen both ways: the latency cannot be paired"
    );
    added.sort_by(f64::total_cmp);
    Ok((
        percentile(&added, 0.50),
        percentile(&added, 0.99),
        added.len(),
    ))
}

/// `cameras` main streams recorded, their sub streams to four workstations: server CPU per
/// stream (fraction of a core).
fn scale_phase(cameras: u32, fps: u32, d: Duration) -> anyhow::Result<f64> {
    let (_sim, addr) = spawn_camsim_at(cameras, 1400, fps.clamp(1, 25))?;
    let demo = crate::sim::demo_cameras();
    let cams: Vec<Camera> = (1..=cameras)
        .map(|i| crate::sim::sim_camera(i, &addr.to_string(), &demo))
        .collect();
    let site = Site::start(cams.clone(), "relay-scale", true)?;
    let receivers: Vec<Receiver> = (0..4)
        .map(|_| Ok(Receiver::take(site.workstation()?, &cams, StreamKind::Sub)))
        .collect::<anyhow::Result<_>>()
        .context("four workstations")?;
    // Every session connected and delivering (a loaded machine starts them late).
    let t0 = Instant::now();
    let relayed = |site: &Site| site.server.as_ref().map_or(0, |s| s.relayed().len());
    while relayed(&site) < cameras as usize && t0.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(8));
    let u0: u64 = receivers.iter().map(Receiver::units).sum();
    let cpu = measure(d);
    let delivered = receivers.iter().map(Receiver::units).sum::<u64>() - u0;
    let expected = cameras as f64 * 4.0 * fps.clamp(1, 25) as f64 * d.as_secs_f64();
    let streams = cameras as f64 * 2.0;
    let per = cpu / d.as_secs_f64() / streams;
    eprintln!(
        "scale: {cameras} main streams recorded + {cameras} sub streams to 4 workstations, {fps} pictures a second: server {:.1} % of a core, {:.3} % per stream; {delivered} pictures delivered of {expected:.0} sent by the cameras",
        cpu / d.as_secs_f64() * 100.0,
        per * 100.0
    );
    for r in receivers {
        r.stop();
    }
    Ok(per)
}
