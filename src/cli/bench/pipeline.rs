//! `vigie bench live`: the live path against the decode floor, in one run.
//!
//! The simulator runs in a child process (its CPU is counted on neither side). CPU figures
//! are this process's user + system time. On a machine without a GPU, wgpu runs on lavapipe,
//! whose rasteriser threads ("llvmpipe-N") and unnamed queue thread (which performs the
//! buffer-to-texture copies of uploads) do the GPU's work on the CPU: their time is reported
//! apart (`gpu_emulation_cpu_s`) and left out of `vigie_cpu_s`, since a real GPU does that work.
//! The one CPU copy of each decoded frame (into wgpu's staging memory) stays counted.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::ingest::{DecodeFloor, IngestTimings, LiveStream, StreamSource, Transport};
use crate::media::{FrameSlot, SlotStats};
use crate::render::{FULL_UV, Offscreen, StreamId, TileDraw, fit_rect};

const FPS: u32 = 25;
const TARGET: (u32, u32) = (1920, 1080);

pub(super) struct SimChild(Child);

impl Drop for SimChild {
    fn drop(&mut self) {
        if let Some(stdin) = self.0.stdin.as_mut() {
            let _ = writeln!(stdin, "quit");
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn spawn_camsim(cameras: u32, mtu: u32) -> anyhow::Result<(SimChild, SocketAddr)> {
    spawn_camsim_at(cameras, mtu, FPS)
}

pub(super) fn spawn_camsim_at(
    cameras: u32,
    mtu: u32,
    fps: u32,
) -> anyhow::Result<(SimChild, SocketAddr)> {
    spawn_camsim_args(cameras, mtu, fps, &[])
}

/// The simulator (looped clips, 25 fps, 1400-byte packets) with `extra` arguments.
pub(super) fn spawn_camsim_with(
    cameras: u32,
    extra: &[&str],
) -> anyhow::Result<(SimChild, SocketAddr)> {
    spawn_camsim_args(cameras, 1400, FPS, extra)
}

fn spawn_camsim_args(
    cameras: u32,
    mtu: u32,
    fps: u32,
    extra: &[&str],
) -> anyhow::Result<(SimChild, SocketAddr)> {
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let exe = std::env::current_exe().context("finding the vigie binary")?;
    let child = Command::new(exe)
        .args([
            "camsim",
            "--cameras",
            &cameras.to_string(),
            "--listen",
            &addr.to_string(),
            "--encode",
            "loop",
            "--fps",
            &fps.to_string(),
            // A keyframe every two seconds whatever the rate: streams start within two.
            "--gop",
            &(fps * 2).max(2).to_string(),
            "--mtu",
            &mtu.to_string(),
        ])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting vigie camsim")?;
    let child = SimChild(child);
    // Clips are encoded before it listens: longer for many cameras on a loaded machine.
    let limit = Duration::from_secs(20 + cameras as u64 / 2);
    let t0 = Instant::now();
    while TcpStream::connect(addr).is_err() {
        if t0.elapsed() > limit {
            bail!(
                "camsim did not listen on {addr} within {} s",
                limit.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok((child, addr))
}

/// CPU seconds of this process (all threads, including those that ended).
pub(super) fn process_cpu_s() -> f64 {
    // SAFETY: getrusage writes into the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// CPU seconds of the calling thread.
pub(super) fn thread_cpu_s() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the struct we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// CPU seconds of this process's threads whose name starts with `prefix`.
pub(super) fn threads_cpu_s(prefix: &str) -> f64 {
    thread_times()
        .iter()
        .filter(|(name, _)| name.starts_with(prefix))
        .map(|(_, t)| t)
        .sum()
}

/// CPU seconds per thread group (names with digits and stream labels folded), for the report.
fn thread_groups() -> std::collections::BTreeMap<String, f64> {
    let mut groups = std::collections::BTreeMap::new();
    for (name, t) in thread_times() {
        let key: String = name
            .split([' ', '-', ':'])
            .next()
            .unwrap_or("")
            .trim_end_matches(|c: char| c.is_ascii_digit())
            .to_owned();
        *groups.entry(key).or_insert(0.0) += t;
    }
    groups
}

/// The name given to library threads that were started without one.
const UNNAMED: &str = "unnamed";

/// CPU seconds of the threads that do a GPU's work when wgpu runs on lavapipe: its
/// rasteriser ("llvmpipe-N") and the driver's unnamed queue thread.
fn gpu_emulation_cpu_s() -> f64 {
    threads_cpu_s("llvmpipe") + threads_cpu_s(UNNAMED)
}

/// (name, CPU seconds) of each live thread of this process.
fn thread_times() -> Vec<(String, f64)> {
    // SAFETY: sysconf has no preconditions.
    let tck = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    let pid = std::process::id();
    let process = std::fs::read_to_string("/proc/self/comm")
        .unwrap_or_default()
        .trim()
        .to_owned();
    let mut out = Vec::new();
    for entry in dir.flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        let ut: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0);
        let st: f64 = fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
        let name = &stat[open + 1..close];
        let tid = entry
            .file_name()
            .to_string_lossy()
            .parse::<u32>()
            .unwrap_or(0);
        // Every thread Vigie starts has a name of its own; a thread that still carries the
        // process's name was started by a library without naming it (the Vulkan driver's queue
        // thread, on lavapipe the one that copies uploads into textures).
        let name = if name == process && tid != pid {
            UNNAMED.to_owned()
        } else {
            name.to_owned()
        };
        out.push((name, (ut + st) / tck));
    }
    out
}

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

pub(super) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Tile rectangles of a near-square grid of `n` tiles on the target.
fn grid(n: u32) -> Vec<[f32; 4]> {
    let cols = (n as f32).sqrt().ceil().max(1.0) as u32;
    let rows = n.div_ceil(cols);
    (0..n)
        .map(|i| {
            let (c, r) = (i % cols, i / cols);
            [
                c as f32 / cols as f32,
                r as f32 / rows as f32,
                1.0 / cols as f32,
                1.0 / rows as f32,
            ]
        })
        .collect()
}

fn wait_until(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) -> anyhow::Result<()> {
    let t0 = Instant::now();
    while !ok() {
        if t0.elapsed() > timeout {
            bail!("{what} within {} s", timeout.as_secs());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// CPU seconds used so far by process `pid`.
fn pid_cpu_s(pid: u32) -> f64 {
    // SAFETY: sysconf has no preconditions.
    let tck = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let Some(close) = stat.rfind(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
    let f = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (f(11) + f(12)) / tck
}

/// `vigie bench camsim`: the simulator serving every camera's sub stream (looped clips) to
/// receive-only clients; its CPU is what it costs to simulate a city.
pub fn camsim(n: u32, seconds: Duration, mtu: u32) -> anyhow::Result<()> {
    let (sim, addr) = spawn_camsim(n, mtu)?;
    let urls: Vec<String> = (1..=n)
        .map(|i| format!("rtsp://{addr}/cam{i:03}/sub"))
        .collect();
    let clients = DecodeFloor::receive_only(&urls)?;
    eprintln!(
        "bench camsim: MTU {mtu}, {n} cameras, sub streams to {n} receive-only clients; encoding the loop clips..."
    );
    wait_until(
        "not every stream delivered",
        Duration::from_secs(180),
        || clients.frames().iter().all(|&f| f > 0),
    )?;
    std::thread::sleep(Duration::from_secs(3));
    let pid = sim.0.id();
    let (c0, p0) = (pid_cpu_s(pid), clients.frames().iter().sum::<u64>());
    let t0 = Instant::now();
    std::thread::sleep(seconds);
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu = pid_cpu_s(pid) - c0;
    let packets = clients.frames().iter().sum::<u64>() - p0;
    eprintln!(
        "camsim: {cpu:.2} CPU s in {elapsed:.1} s = {:.2} cores for {n} streams ({packets} RTP packets delivered)",
        cpu / elapsed
    );
    println!(
        "{{\"cameras\":{n},\"seconds\":{elapsed:.1},\"camsim_cpu_s\":{cpu:.3},\"camsim_cores\":{:.3},\"mtu\":{mtu},\"rtp_packets\":{packets}}}",
        cpu / elapsed
    );
    Ok(())
}

pub fn live(n: u32, seconds: Duration, composite_tiles: u32, direct: bool) -> anyhow::Result<()> {
    if n == 0 || n > 256 {
        bail!("--cameras must be 1 to 256");
    }
    let (_sim, addr) = spawn_camsim(n, 1400)?;
    let urls: Vec<String> = (1..=n)
        .map(|i| format!("rtsp://{addr}/cam{i:03}/sub"))
        .collect();
    let mut gpu = Offscreen::new()?;
    eprintln!(
        "bench live: {n} sub streams (640x360 H.264 {FPS} fps, looped clips) {}, {}s, GPU: {}",
        if direct {
            "straight from the simulator"
        } else {
            "through a site server in this process (its threads measured apart)"
        },
        seconds.as_secs(),
        gpu.adapter_name()
    );

    // Phase 1: the live path, through the server as a workstation gets it.
    let site = if direct {
        None
    } else {
        let demo = crate::sim::demo_cameras();
        let cams: Vec<crate::config::Camera> = (1..=n)
            .map(|i| crate::sim::sim_camera(i, &addr.to_string(), &demo))
            .collect();
        Some(super::relay::Site::start(cams, "live", false)?)
    };
    let relay = match &site {
        Some(s) => Some(s.workstation()?),
        None => None,
    };
    let slots: Vec<Arc<FrameSlot>> = (0..n).map(|_| FrameSlot::new()).collect();
    let streams: Vec<LiveStream> = urls
        .iter()
        .zip(&slots)
        .enumerate()
        .map(|(i, (url, slot))| match &relay {
            Some(r) => LiveStream::relayed(
                r.clone(),
                &format!("cam{:03}", i + 1),
                crate::config::StreamKind::Sub,
                slot.clone(),
                IngestTimings::default(),
            ),
            None => {
                let source = StreamSource {
                    label: format!("cam{:03}/sub", i + 1),
                    url: url.clone(),
                    credential: None,
                    transport: Transport::Tcp,
                };
                LiveStream::open(source, slot.clone(), IngestTimings::default())
            }
        })
        .collect::<Result<_, _>>()?;
    wait_until(
        "not every stream showed a picture",
        Duration::from_secs(60),
        || slots.iter().all(|s| s.stats().published > 0),
    )?;
    std::thread::sleep(Duration::from_secs(2));

    let rects = grid(n);
    let mut sizes = vec![[640u32, 360u32]; n as usize];
    let tick = Duration::from_micros(16_667); // a 60 Hz screen
    let stats0: Vec<SlotStats> = slots.iter().map(|s| s.stats()).collect();
    let (cpu0, gpu_cpu0, groups0) = (process_cpu_s(), gpu_emulation_cpu_s(), thread_groups());
    let server_cpu0 = super::relay::server_cpu_s();
    let t0 = Instant::now();
    let mut composite_ms = Vec::new();
    let mut upload_ms = Vec::new();
    let mut shown = 0u64;
    let mut next = Instant::now();
    while t0.elapsed() < seconds {
        let c0 = thread_cpu_s();
        let mut any = false;
        for (i, slot) in slots.iter().enumerate() {
            if let Some(f) = slot.take() {
                sizes[i] = [f.width, f.height];
                gpu.upload(StreamId(i as u64), &f);
                shown += 1;
                any = true;
            }
        }
        if any {
            upload_ms.push((thread_cpu_s() - c0) * 1000.0);
            let tiles: Vec<TileDraw> = rects
                .iter()
                .enumerate()
                .map(|(i, r)| TileDraw {
                    stream: StreamId(i as u64),
                    rect: fit_rect(*r, [TARGET.0 as f32, TARGET.1 as f32], sizes[i]),
                    uv: FULL_UV,
                    brightness: 1.0,
                })
                .collect();
            gpu.draw(TARGET.0, TARGET.1, &tiles);
            composite_ms.push((thread_cpu_s() - c0) * 1000.0);
        }
        next += tick;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else {
            next = now;
        }
    }
    gpu.wait_idle();
    let elapsed = t0.elapsed().as_secs_f64();
    let gpu_cpu = gpu_emulation_cpu_s() - gpu_cpu0;
    let mut by_thread: Vec<(String, f64)> = thread_groups()
        .into_iter()
        .map(|(k, v)| {
            let d = v - groups0.get(&k).copied().unwrap_or(0.0);
            (k, d)
        })
        .filter(|(_, d)| *d > 0.005)
        .collect();
    by_thread.sort_by(|a, b| b.1.total_cmp(&a.1));
    // The server's threads are the server machine's cost, not the workstation's.
    let server_cpu = super::relay::server_cpu_s() - server_cpu0;
    let vigie_cpu = process_cpu_s() - cpu0 - gpu_cpu - server_cpu;
    let stats1: Vec<SlotStats> = slots.iter().map(|s| s.stats()).collect();
    let dropped: u64 = stats1
        .iter()
        .zip(&stats0)
        .map(|(a, b)| a.dropped - b.dropped)
        .sum();
    let published: u64 = stats1
        .iter()
        .zip(&stats0)
        .map(|(a, b)| a.published - b.published)
        .sum();
    let rss = rss_mb();
    let frames_expected = (n as f64 * FPS as f64 * elapsed).round() as u64;
    for s in streams {
        s.stop_and_join();
    }
    drop(relay);
    drop(site);

    // Phase 2: the floor, same streams, same process.
    let floor = DecodeFloor::start(&urls)?;
    wait_until(
        "the floor pipelines did not all decode",
        Duration::from_secs(60),
        || floor.frames().iter().all(|&f| f > 0),
    )?;
    std::thread::sleep(Duration::from_secs(2));
    let f0: u64 = floor.frames().iter().sum();
    let cpu0 = process_cpu_s();
    let t1 = Instant::now();
    std::thread::sleep(seconds);
    let floor_elapsed = t1.elapsed().as_secs_f64();
    let floor_cpu = (process_cpu_s() - cpu0) * elapsed / floor_elapsed;
    let floor_frames = floor.frames().iter().sum::<u64>() - f0;
    drop(floor);

    // Phase 3: the compositor alone with a full screen of tiles (CPU per frame).
    let mut big_ms = Vec::new();
    let big_rects = grid(composite_tiles.max(1));
    let big_tiles: Vec<TileDraw> = big_rects
        .iter()
        .enumerate()
        .map(|(i, r)| TileDraw {
            stream: StreamId((i as u32 % n) as u64),
            rect: fit_rect(
                *r,
                [TARGET.0 as f32, TARGET.1 as f32],
                sizes[i % n as usize],
            ),
            uv: FULL_UV,
            brightness: 1.0,
        })
        .collect();
    for i in 0..300 {
        let c0 = thread_cpu_s();
        gpu.draw(TARGET.0, TARGET.1, &big_tiles);
        if i >= 20 {
            big_ms.push((thread_cpu_s() - c0) * 1000.0);
        }
        if i % 10 == 0 {
            gpu.wait_idle();
        }
    }
    gpu.wait_idle();

    composite_ms.sort_by(f64::total_cmp);
    upload_ms.sort_by(f64::total_cmp);
    let upload_total_s: f64 = upload_ms.iter().sum::<f64>() / 1000.0;
    let composite_total_s: f64 = composite_ms.iter().sum::<f64>() / 1000.0;
    eprintln!(
        "render thread: {composite_total_s:.2} CPU s over {} repaints, of which uploads {upload_total_s:.2} s (p50 {:.3} ms per repaint)",
        composite_ms.len(),
        percentile(&upload_ms, 0.5)
    );
    big_ms.sort_by(f64::total_cmp);
    let ratio = if floor_cpu > 0.0 {
        vigie_cpu / floor_cpu
    } else {
        0.0
    };
    eprintln!(
        "live path: {vigie_cpu:.2} CPU s in {elapsed:.1} s ({:.1}% of a core per stream), {shown} frames shown of {published} decoded, {dropped} dropped",
        vigie_cpu / elapsed / n as f64 * 100.0
    );
    eprintln!(
        "software GPU (lavapipe rasteriser and queue threads): {gpu_cpu:.2} CPU s, not counted above"
    );
    if !direct {
        eprintln!("site server (its sessions and relay): {server_cpu:.2} CPU s, not counted above");
    }
    let list: Vec<String> = by_thread
        .iter()
        .map(|(k, v)| format!("{k} {v:.2}"))
        .collect();
    eprintln!("CPU s by thread (live path): {}", list.join(", "));
    eprintln!(
        "decode floor: {floor_cpu:.2} CPU s scaled to {elapsed:.1} s ({floor_frames} frames decoded)"
    );
    eprintln!(
        "compositor CPU per frame: {n} tiles with uploads p50 {:.3} ms p99 {:.3} ms; {} tiles p50 {:.3} ms p99 {:.3} ms",
        percentile(&composite_ms, 0.5),
        percentile(&composite_ms, 0.99),
        big_tiles.len(),
        percentile(&big_ms, 0.5),
        percentile(&big_ms, 0.99)
    );
    println!(
        "{{\"streams\":{n},\"seconds\":{:.1},\"vigie_cpu_s\":{vigie_cpu:.3},\"floor_cpu_s\":{floor_cpu:.3},\"ratio\":{ratio:.3},\
         \"frames_expected\":{frames_expected},\"frames_decoded\":{published},\"frames_shown\":{shown},\"dropped\":{dropped},\
         \"composite_cpu_ms_p50\":{:.3},\"composite_cpu_ms_p99\":{:.3},\"composite_tiles\":{},\
         \"composite_full_cpu_ms_p50\":{:.3},\"composite_full_cpu_ms_p99\":{:.3},\"gpu_emulation_cpu_s\":{gpu_cpu:.3},\"server_cpu_s\":{server_cpu:.3},\"through_server\":{},\"rss_mb\":{rss:.1}}}",
        elapsed,
        percentile(&composite_ms, 0.5),
        percentile(&composite_ms, 0.99),
        big_tiles.len(),
        percentile(&big_ms, 0.5),
        percentile(&big_ms, 0.99),
        !direct,
    );
    Ok(())
}

/// `vigie bench index`: a synthetic index of `cameras` x `days` of 60 s segments (30
/// keyframes each), two gaps and twenty events per camera-day, inserted through the writer
/// thread in recording order; then random seek lookups and camera-day timelines.
pub fn index(cameras: u32, days: u32, dir: Option<&std::path::Path>) -> anyhow::Result<()> {
    use crate::store::{
        CameraRow, IndexWriter, Keyframe, SegmentRow, Span, Store, WriteOp, encode_keyframes,
    };
    const S: i64 = 1_000_000_000;
    const DAY: i64 = 86_400 * S;
    let tmp;
    let dir = match dir {
        Some(d) => d.to_owned(),
        None => {
            tmp = std::env::temp_dir().join(format!("vigie-bench-index-{}", std::process::id()));
            tmp.clone()
        }
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("index.sqlite3");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let keyframes = encode_keyframes(
        &(0..30)
            .map(|i| Keyframe {
                time_90k: i * 180_000,
                offset: 48 + i * 125_000,
            })
            .collect::<Vec<_>>(),
    );
    let t0 = 1_790_000_000 * S / DAY * DAY;
    let ids: Vec<String> = (1..=cameras).map(|i| format!("cam{i:03}")).collect();

    eprintln!(
        "bench index: {cameras} cameras x {days} days of 60 s segments into {}",
        path.display()
    );
    let writer = IndexWriter::spawn(&path)?;
    for id in &ids {
        writer.send(WriteOp::Camera(CameraRow::new(id, id)));
    }
    let mut rng = fastrand::Rng::with_seed(217);
    let started = Instant::now();
    let mut rows = 0u64;
    for day in 0..days as i64 {
        for minute in 0..1440i64 {
            let start = t0 + day * DAY + minute * 60 * S;
            for id in &ids {
                writer.send(WriteOp::Segment(SegmentRow {
                    camera_id: id.clone(),
                    start_utc_ns: start,
                    end_utc_ns: start + 60 * S,
                    path: format!("{id}/{}.mp4", start / S),
                    bytes: 15_000_000,
                    sha256: [0x5a; 32],
                    codec: "h264".into(),
                    keyframes: keyframes.clone(),
                    time_source: crate::store::TimeSource::Rtcp,
                }));
                rows += 1;
                if minute % 72 == 0 {
                    // Twenty events a camera-day.
                    writer.send(WriteOp::Event {
                        camera_id: Some(id.clone()),
                        at_utc_ns: start + rng.i64(0..60 * S),
                        kind: "motion".into(),
                        detail: String::new(),
                    });
                    rows += 1;
                }
                if minute % 720 == 360 {
                    // Two short gaps a camera-day.
                    writer.send(WriteOp::Gap {
                        camera_id: id.clone(),
                        span: Span {
                            start_utc_ns: start + 60 * S,
                            end_utc_ns: start + 62 * S,
                        },
                        cause: "camera unreachable".into(),
                    });
                    rows += 1;
                }
            }
        }
    }
    writer.flush();
    let insert_s = started.elapsed().as_secs_f64();
    writer.close()?;
    let store = Store::open(&path)?;
    store.checkpoint()?;
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let insert_rate = rows as f64 / insert_s;
    eprintln!(
        "inserted {rows} rows in {insert_s:.1} s ({insert_rate:.0} rows/s), index {:.1} MB",
        bytes as f64 / 1e6
    );

    let span = days as i64 * DAY;
    let mut seek_ms = Vec::new();
    let mut found = 0;
    for _ in 0..5000 {
        let id = &ids[rng.usize(0..ids.len())];
        let at = t0 + rng.i64(0..span);
        let t = Instant::now();
        let p = store.seek(id, at)?;
        seek_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        found += p.is_some() as u32;
    }
    let mut day_ms = Vec::new();
    for _ in 0..1000 {
        let id = &ids[rng.usize(0..ids.len())];
        let from = t0 + rng.i64(0..days as i64) * DAY;
        let t = Instant::now();
        let tl = store.timeline(id, from, from + DAY)?;
        day_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(
            tl.segments.len() >= 1439,
            "a camera-day timeline has {} segments",
            tl.segments.len()
        );
    }
    seek_ms.sort_by(f64::total_cmp);
    day_ms.sort_by(f64::total_cmp);
    let per_day = bytes as f64 / (cameras as f64 * days as f64);
    eprintln!(
        "seek lookups: {found}/5000 found, p50 {:.3} ms p99 {:.3} ms; camera-day timelines: p50 {:.3} ms p99 {:.3} ms; {per_day:.0} bytes per camera-day",
        percentile(&seek_ms, 0.5),
        percentile(&seek_ms, 0.99),
        percentile(&day_ms, 0.5),
        percentile(&day_ms, 0.99)
    );
    println!(
        "{{\"cameras\":{cameras},\"days\":{days},\"rows\":{rows},\"seek_lookup_ms_p50\":{:.4},\"seek_lookup_ms_p99\":{:.4},\
         \"timeline_day_ms_p50\":{:.3},\"timeline_day_ms_p99\":{:.3},\"insert_rows_per_s\":{insert_rate:.0},\"bytes_per_camera_day\":{per_day:.0}}}",
        percentile(&seek_ms, 0.5),
        percentile(&seek_ms, 0.99),
        percentile(&day_ms, 0.5),
        percentile(&day_ms, 0.99)
    );
    drop(store);
    if dir.starts_with(std::env::temp_dir()) {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}

/// `vigie bench record`: the recorder against ffmpeg's stream copy (`-c copy -f segment`) on
/// the same camsim main streams, in the same run. The recorder runs in this process; each
/// ffmpeg in its own, and their CPU is added up.
pub fn record(n: u32, seconds: Duration, segment: Duration) -> anyhow::Result<()> {
    use crate::record::recorder::Recorder;
    let (_sim, addr) = spawn_camsim(n, 1400)?;
    let cameras: Vec<crate::config::Camera> = {
        let demo = crate::sim::demo_cameras();
        (1..=n)
            .map(|i| crate::sim::sim_camera(i, &addr.to_string(), &demo))
            .collect()
    };
    let dir = std::env::temp_dir().join(format!("vigie-bench-record-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!(
        "bench record: {n} main streams (1280x720 H.264 2 Mbit/s, looped clips), {} s each side",
        seconds.as_secs()
    );

    // Vigie.
    let rec = Recorder::start(
        &cameras,
        &dir.join("vigie"),
        &crate::record::recorder::RecorderOptions {
            segment,
            ..Default::default()
        },
    )?;
    std::thread::sleep(Duration::from_secs(5)); // connections, first keyframes
    let cpu0 = process_cpu_s();
    std::thread::sleep(seconds);
    let vigie_cpu = process_cpu_s() - cpu0;
    rec.stop();
    let vigie_bytes = dir_bytes(&dir.join("vigie"));
    let segments =
        crate::store::Store::open_readonly(&dir.join("vigie").join(crate::store::INDEX_FILE))?
            .all_segments()?
            .len();

    // ffmpeg.
    let out = dir.join("ffmpeg");
    std::fs::create_dir_all(&out)?;
    let mut children = Vec::new();
    for c in &cameras {
        let child = Command::new("ffmpeg")
            .args([
                "-nostdin",
                "-loglevel",
                "error",
                "-rtsp_transport",
                "tcp",
                "-i",
                &c.main_url,
                "-c",
                "copy",
                "-f",
                "segment",
            ])
            .args(["-segment_time", &segment.as_secs().to_string()])
            .args(["-reset_timestamps", "1"])
            .arg(out.join(format!("{}-%03d.mp4", c.id)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting ffmpeg (apt-get install ffmpeg)")?;
        children.push(child);
    }
    std::thread::sleep(Duration::from_secs(5));
    let f0: f64 = children.iter().map(|c| pid_cpu_s(c.id())).sum();
    std::thread::sleep(seconds);
    let ffmpeg_cpu = children.iter().map(|c| pid_cpu_s(c.id())).sum::<f64>() - f0;
    for mut c in children {
        let _ = c.kill();
        let _ = c.wait();
    }
    let ffmpeg_bytes = dir_bytes(&out);
    let _ = std::fs::remove_dir_all(&dir);
    let ratio = if ffmpeg_cpu > 0.0 {
        vigie_cpu / ffmpeg_cpu
    } else {
        0.0
    };
    eprintln!(
        "recorder: {vigie_cpu:.2} CPU s ({:.2} % of a core per stream), {vigie_bytes} bytes; ffmpeg: {ffmpeg_cpu:.2} CPU s ({:.2} % per stream), {ffmpeg_bytes} bytes",
        vigie_cpu / seconds.as_secs_f64() / n as f64 * 100.0,
        ffmpeg_cpu / seconds.as_secs_f64() / n as f64 * 100.0
    );
    println!(
        "{{\"streams\":{n},\"seconds\":{},\"vigie_cpu_s\":{vigie_cpu:.3},\"ffmpeg_cpu_s\":{ffmpeg_cpu:.3},\"ratio\":{ratio:.3},\"bytes_written\":{vigie_bytes},\"segments\":{segments}}}",
        seconds.as_secs()
    );
    Ok(())
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "mp4") {
                total += e.metadata().map(|m| m.len()).unwrap_or(0);
            }
        }
    }
    total
}

/// `vigie bench seek`: random seeks over recorded footage, each from the request to the exact
/// picture drawn (offscreen, GPU work finished), against the floor of decoding one full GOP of
/// the same footage; then scrubbing: a playhead dragged across ten minutes (or the whole
/// recording) at the UI's 60 Hz, and the pictures shown per second.
///
/// With `through_server`, the same seeks again through a site server started on the folder
/// (loopback, real TLS, its own CA): each GOP asked of `GET /v1/cameras/ID/gop`, decoded and
/// drawn here as a workstation does, against the same floor and the direct seeks of this run.
pub fn seek(
    data: &std::path::Path,
    camera: Option<&str>,
    seeks: usize,
    through_server: bool,
) -> anyhow::Result<()> {
    use crate::playback::Player;
    use crate::playback::decode::GopDecoder;
    use crate::playback::worker::{Request, TileWorker};
    use crate::record::fmp4;
    use crate::render::{FULL_UV, Offscreen, StreamId, TileDraw};
    use crate::store::{INDEX_FILE, Store};

    let store = Store::open_readonly(&data.join(INDEX_FILE))?;
    let camera = match camera {
        Some(c) => c.to_owned(),
        None => store
            .cameras()?
            .into_iter()
            .find(|c| store.last_segment_end(&c.id).ok().flatten().is_some())
            .map(|c| c.id)
            .context("no camera with recordings in this folder")?,
    };
    let segs = store.segments(&camera, 0, i64::MAX / 2)?;
    anyhow::ensure!(!segs.is_empty(), "camera {camera}: no recordings");
    let (from, to) = (
        segs[0].row.start_utc_ns,
        segs.last().map_or(0, |s| s.row.end_utc_ns),
    );
    let mut gpu = Offscreen::new()?;
    eprintln!(
        "bench seek: camera {camera}, {} segments, {:.0} s of footage, on {}",
        segs.len(),
        (to - from) as f64 / 1e9,
        gpu.adapter_name()
    );
    let draw = |gpu: &mut Offscreen, f: &crate::media::Frame| {
        gpu.upload(StreamId(0), f);
        gpu.draw(
            1280,
            720,
            &[TileDraw {
                stream: StreamId(0),
                rect: [0.0, 0.0, 1.0, 1.0],
                uv: FULL_UV,
                brightness: 1.0,
            }],
        );
        gpu.wait_idle();
    };

    // The floor: whole GOPs read and decoded, with a decoder already open.
    let mut rng = fastrand::Rng::with_seed(11);
    let mut gop_ms = Vec::new();
    let mut decoder: Option<GopDecoder> = None;
    for _ in 0..seeks.clamp(10, 50) {
        let seg = &segs[rng.usize(0..segs.len())];
        let bytes = std::fs::read(data.join(&seg.row.path))?;
        let Some(table) = fmp4::sample_table(&bytes) else {
            continue;
        };
        let keys: Vec<usize> = (0..table.samples.len())
            .filter(|&i| table.samples[i].keyframe)
            .collect();
        if keys.len() < 2 {
            continue;
        }
        let k = rng.usize(0..keys.len() - 1);
        let gop = &table.samples[keys[k]..keys[k + 1]];
        let dec = match decoder.as_mut() {
            Some(d) => d,
            None => decoder.insert(
                GopDecoder::new(
                    match table.codec {
                        fmp4::VideoCodec::H264 => crate::ingest::VideoCodec::H264,
                        fmp4::VideoCodec::H265 => crate::ingest::VideoCodec::H265,
                    },
                    &table.decoder_config,
                )
                .map_err(|e| anyhow::anyhow!(e))?,
            ),
        };
        let t = Instant::now();
        let units = gop
            .iter()
            .map(|s| {
                let a = s.offset as usize;
                (
                    bytes[a..a + s.size as usize].to_vec(),
                    s.time_90k * 100_000 / 9,
                )
            })
            .collect();
        dec.decode(units).map_err(|e| anyhow::anyhow!(e))?;
        gop_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    gop_ms.sort_by(f64::total_cmp);
    let gop_decode_ms = percentile(&gop_ms, 0.5);

    // Random seeks over the whole recording (the player keeps its decoder, as in the review
    // room; its two cached GOPs are seldom hit over minutes of footage).
    let mut player = Player::open(data, &camera)?;
    let mut seek_ms = Vec::new();
    let mut key_ms = Vec::new();
    let mut draw_ms = Vec::new();
    let server_seed = rng.u64(..);
    for i in 0..seeks {
        let keyframe = i % 4 == 3;
        let at = if keyframe {
            // Exactly on a keyframe.
            let seg = &segs[rng.usize(0..segs.len())];
            let keys = crate::store::decode_keyframes(&seg.row.keyframes).unwrap_or_default();
            let Some(k) = keys.get(rng.usize(0..keys.len().max(1))) else {
                continue;
            };
            seg.row.start_utc_ns + (k.time_90k as i128 * 1_000_000_000 / 90_000) as i64
        } else {
            rng.i64(from..to)
        };
        let t = Instant::now();
        let shown = player.frame_at(at)?;
        let decoded = Instant::now();
        draw(&mut gpu, &shown.frame);
        let ms = t.elapsed().as_secs_f64() * 1e3;
        draw_ms.push(decoded.elapsed().as_secs_f64() * 1e3);
        if keyframe {
            key_ms.push(ms);
        } else {
            seek_ms.push(ms);
        }
    }
    seek_ms.sort_by(f64::total_cmp);
    key_ms.sort_by(f64::total_cmp);
    let (p50, p95) = (percentile(&seek_ms, 0.5), percentile(&seek_ms, 0.95));
    let key_p95 = percentile(&key_ms, 0.95);
    draw_ms.sort_by(f64::total_cmp);
    let draw_p50 = percentile(&draw_ms, 0.5);

    // The same kind of seeks through the site server.
    let remote = if through_server {
        Some(seek_through_server(
            data,
            &camera,
            seeks,
            (from, to),
            server_seed,
            &mut |f| draw(&mut gpu, f),
        )?)
    } else {
        None
    };

    // Scrubbing: ten minutes (or all there is) dragged across in four seconds.
    let worker = TileWorker::start(data, &camera)?;
    let span = (to - from).min(600 * 1_000_000_000);
    let drag = Duration::from_secs(4);
    let t0 = Instant::now();
    let mut shown = 0u64;
    let mut last_seen = None;
    while t0.elapsed() < drag {
        let f = t0.elapsed().as_secs_f64() / drag.as_secs_f64();
        worker.request(Request::At(from + (span as f64 * f) as i64));
        if let Some(frame) = worker.slot().take() {
            draw(&mut gpu, &frame);
            let st = worker.status().shown;
            if st != last_seen {
                shown += 1;
                last_seen = st;
            }
        }
        std::thread::sleep(Duration::from_millis(16));
    }
    let scrub_fps = shown as f64 / drag.as_secs_f64();
    let ratio = if gop_decode_ms > 0.0 {
        p95 / gop_decode_ms
    } else {
        0.0
    };
    eprintln!(
        "seeks: {} random, p50 {p50:.1} ms, p95 {p95:.1} ms; {} on keyframes, p95 {key_p95:.1} ms; full GOP decode {gop_decode_ms:.1} ms (median of {}); upload and draw (lavapipe here) p50 {draw_p50:.1} ms of each seek; scrub: {scrub_fps:.1} pictures/s over {:.0} s of footage",
        seek_ms.len(),
        key_ms.len(),
        gop_ms.len(),
        span as f64 / 1e9
    );
    let server_json = match &remote {
        Some(r) => {
            let ratio = r.p95 / gop_decode_ms.max(1e-9);
            let undrawn = r.undrawn_p95 / gop_decode_ms.max(1e-9);
            eprintln!(
                "through the server: {} seeks, p50 {:.1} ms, p95 {:.1} ms; ratio p95 / full GOP decode {ratio:.2} ({undrawn:.2} without the upload and draw); direct p95 in this run {p95:.1} ms",
                r.seeks, r.p50, r.p95
            );
            format!(
                ",\"server_seek_ms_p50\":{:.2},\"server_seek_ms_p95\":{:.2},\"server_ratio\":{ratio:.3},\"server_ratio_undrawn\":{undrawn:.3}",
                r.p50, r.p95
            )
        }
        None => String::new(),
    };
    println!(
        "{{\"seeks\":{},\"seek_ms_p50\":{p50:.2},\"seek_ms_p95\":{p95:.2},\"keyframe_seek_ms_p95\":{key_p95:.2},\"gop_decode_ms\":{gop_decode_ms:.2},\"draw_ms_p50\":{draw_p50:.2},\"ratio\":{ratio:.3},\"scrub_fps\":{scrub_fps:.1}{server_json}}}",
        seek_ms.len()
    );
    Ok(())
}

/// The password of the accounts the benchmarks sign in with.
pub(super) const BENCH_PASSWORD: &str = "bench password, never a real one";

/// Adds the benchmark's account `name` (`role`, every camera) unless it exists.
pub(super) fn bench_account(
    store: &crate::store::Store,
    name: &str,
    role: &str,
) -> anyhow::Result<()> {
    if store.user(name)?.is_none() {
        store.add_user(
            name,
            role,
            &crate::auth::hash_password(BENCH_PASSWORD)?,
            &["*".to_owned()],
            crate::time::now_utc_ns(),
        )?;
    }
    Ok(())
}

/// Seeks through a site server, from the request to the picture drawn.
struct RemoteSeeks {
    seeks: usize,
    p50: f64,
    p95: f64,
    /// p95 of the seeks without their upload and draw.
    undrawn_p95: f64,
}

fn seek_through_server(
    data: &std::path::Path,
    camera: &str,
    seeks: usize,
    (from, to): (i64, i64),
    seed: u64,
    draw: &mut dyn FnMut(&crate::media::Frame),
) -> anyhow::Result<RemoteSeeks> {
    use crate::server::{Server, ServerOptions};
    const USER: &str = "bench-reviewer";
    let store = crate::store::Store::open(&data.join(crate::store::INDEX_FILE))?;
    bench_account(&store, USER, "reviewer")?;
    drop(store);
    let mut cam = crate::sim::sim_camera(1, "127.0.0.1:9", &crate::sim::demo_cameras());
    cam.id = camera.to_owned();
    let server = Server::start(ServerOptions {
        data: data.to_owned(),
        cameras: vec![cam],
        record: false,
        record_only: Vec::new(),
        recorder: Default::default(),
        listen: "127.0.0.1:0".parse()?,
        names: vec!["127.0.0.1".into()],
        tls: None,
        events: None,
        sessions: Default::default(),
    })?;
    let url = format!("https://127.0.0.1:{}", server.addr().port());
    let ca = std::fs::read(data.join(crate::server::pki::CA_FILE))?;
    let mut api = crate::client::Api::new(&url, &ca)?;
    api.sign_in(USER, BENCH_PASSWORD)?;
    let api = std::sync::Arc::new(api);
    let mut player = crate::playback::Player::with_source(
        Box::new(crate::client::footage::RemoteFootage::new(api.clone())),
        camera,
    );
    let mut rng = fastrand::Rng::with_seed(seed);
    let (mut all, mut undrawn) = (Vec::new(), Vec::new());
    for _ in 0..seeks {
        let at = rng.i64(from..to);
        let t = Instant::now();
        let shown = player.frame_at(at)?;
        undrawn.push(t.elapsed().as_secs_f64() * 1e3);
        draw(&shown.frame);
        all.push(t.elapsed().as_secs_f64() * 1e3);
    }
    drop(player);
    if let Ok(mut api) = std::sync::Arc::try_unwrap(api) {
        let _ = api.sign_out();
    }
    server.stop();
    all.sort_by(f64::total_cmp);
    undrawn.sort_by(f64::total_cmp);
    Ok(RemoteSeeks {
        seeks: all.len(),
        p50: percentile(&all, 0.5),
        p95: percentile(&all, 0.95),
        undrawn_p95: percentile(&undrawn, 0.95),
    })
}

/// One phase of `bench wall`: `screens` drawn from the streams of `manager` for `seconds`.
struct WallRun {
    cpu_s: f64,
    elapsed_s: f64,
    /// CPU ms of the render thread per round (uploads, then every screen drawn).
    round_ms: Vec<f64>,
    frames: u64,
}

fn run_wall(
    gpu: &mut Offscreen,
    manager: &mut crate::ingest::StreamManager,
    cameras: &[crate::config::Camera],
    screens: &[Vec<usize>],
    rects: &[[f32; 4]],
    seconds: Duration,
    rounds_per_s: u32,
) -> WallRun {
    use crate::config::StreamKind;
    let mut sizes: std::collections::HashMap<usize, [u32; 2]> = Default::default();
    let tick = Duration::from_secs(1) / rounds_per_s.max(1);
    let (cpu0, gpu0) = (process_cpu_s(), gpu_emulation_cpu_s());
    let t0 = Instant::now();
    let mut round_ms = Vec::new();
    let mut frames = 0u64;
    let mut next = Instant::now();
    while t0.elapsed() < seconds {
        let c0 = thread_cpu_s();
        // Every screen asks for its streams (one decode each, whatever the screens).
        let mut slots = std::collections::BTreeMap::new();
        for scr in screens {
            for &ci in scr {
                slots
                    .entry(ci)
                    .or_insert_with(|| manager.want(&cameras[ci], StreamKind::Sub));
            }
        }
        // Each stream's new picture is uploaded once...
        for (&ci, slot) in &slots {
            if let Some(f) = slot.take() {
                sizes.insert(ci, [f.width, f.height]);
                gpu.upload(StreamId(ci as u64), &f);
                frames += 1;
            }
        }
        // ...and drawn on every screen that shows it.
        for scr in screens {
            let tiles: Vec<TileDraw> = scr
                .iter()
                .zip(rects)
                .filter_map(|(&ci, r)| {
                    Some(TileDraw {
                        stream: StreamId(ci as u64),
                        rect: fit_rect(*r, [TARGET.0 as f32, TARGET.1 as f32], *sizes.get(&ci)?),
                        uv: FULL_UV,
                        brightness: 1.0,
                    })
                })
                .collect();
            gpu.draw(TARGET.0, TARGET.1, &tiles);
        }
        round_ms.push((thread_cpu_s() - c0) * 1000.0);
        manager.collect();
        gpu.wait_idle();
        next += tick;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else {
            next = now;
        }
    }
    let elapsed_s = t0.elapsed().as_secs_f64();
    let gpu_cpu = gpu_emulation_cpu_s() - gpu0;
    round_ms.sort_by(f64::total_cmp);
    WallRun {
        cpu_s: process_cpu_s() - cpu0 - gpu_cpu,
        elapsed_s,
        round_ms,
        frames,
    }
}

/// `vigie bench wall`: a workstation of `screens` screens of `tiles` tiles each over `cameras`
/// simulated cameras (screen k starts at camera k x tiles, wrapping round), all drawn
/// offscreen at 1920x1080, against one screen showing each distinct stream once, same streams,
/// same run. Software decoding: sub streams at `fps` pictures per second, so that it fits.
pub fn wall(
    cameras: u32,
    screens: u32,
    tiles: u32,
    seconds: Duration,
    fps: u32,
) -> anyhow::Result<()> {
    use crate::ingest::StreamManager;
    if cameras == 0 || cameras > 256 || screens == 0 || screens > 16 || tiles == 0 || tiles > 144 {
        bail!("--cameras 1..256, --screens 1..16, --tiles 1..144");
    }
    let (_sim, addr) = spawn_camsim_at(cameras, 1400, fps.clamp(1, 25))?;
    let cams: Vec<crate::config::Camera> = crate::sim::demo_cameras()
        .into_iter()
        .cycle()
        .take(cameras as usize)
        .enumerate()
        .map(|(i, mut c)| {
            let n = i + 1;
            c.id = format!("cam{n:03}");
            c.main_url = format!("rtsp://{addr}/cam{n:03}/main");
            c.sub_url = Some(format!("rtsp://{addr}/cam{n:03}/sub"));
            c
        })
        .collect();
    let walls: Vec<Vec<usize>> = (0..screens as usize)
        .map(|k| {
            (0..tiles as usize)
                .map(|t| (k * tiles as usize + t) % cams.len())
                .collect()
        })
        .collect();
    let distinct: std::collections::BTreeSet<usize> = walls.iter().flatten().copied().collect();
    let rects = grid(tiles);
    let mut gpu = Offscreen::new()?;
    eprintln!(
        "bench wall: {screens} screens x {tiles} tiles over {cameras} cameras ({} distinct shown), sub streams 640x360 H.264 at {fps} fps (software decoding: reduced frame rate so it fits this machine), {}s a phase, GPU: {}",
        distinct.len(),
        seconds.as_secs(),
        gpu.adapter_name()
    );
    let rss0 = rss_mb();
    let mut manager = StreamManager::new(IngestTimings::default(), Transport::Tcp);
    // Open every stream and wait for pictures before measuring.
    for &ci in &distinct {
        manager.want(&cams[ci], crate::config::StreamKind::Sub);
    }
    wait_until(
        "not every stream showed a picture",
        Duration::from_secs(90),
        || {
            distinct.iter().all(|&ci| {
                manager
                    .want(&cams[ci], crate::config::StreamKind::Sub)
                    .stats()
                    .published
                    > 0
            })
        },
    )?;
    let unique = manager.active();
    // Phase 1: the whole wall, five rounds a second.
    let wall_run = run_wall(&mut gpu, &mut manager, &cams, &walls, &rects, seconds, 5);
    let stats = gpu.stats();
    let rss = rss_mb();
    let unique_after = manager.active();
    // Phase 2: the baseline, one screen showing each distinct stream once.
    let one: Vec<Vec<usize>> = vec![distinct.iter().copied().collect()];
    let one_rects = grid(one[0].len() as u32);
    let base = run_wall(&mut gpu, &mut manager, &cams, &one, &one_rects, seconds, 5);
    manager.shutdown();
    let n = distinct.len() as f64;
    let wall_per_stream = wall_run.cpu_s / wall_run.elapsed_s / n;
    let base_per_stream = base.cpu_s / base.elapsed_s / n;
    let ratio = if base_per_stream > 0.0 {
        wall_per_stream / base_per_stream
    } else {
        0.0
    };
    eprintln!(
        "unique decodes: {unique} (after the run {unique_after}) for {} distinct cameras on {} tiles",
        distinct.len(),
        screens * tiles
    );
    eprintln!(
        "render thread per round, all {screens} screens: p50 {:.2} ms, p99 {:.2} ms ({:.2} ms per screen at p50); one-screen baseline p50 {:.2} ms",
        percentile(&wall_run.round_ms, 0.5),
        percentile(&wall_run.round_ms, 0.99),
        percentile(&wall_run.round_ms, 0.5) / screens as f64,
        percentile(&base.round_ms, 0.5),
    );
    eprintln!(
        "CPU per distinct stream: wall {:.2} % of a core, one screen {:.2} %: ratio {ratio:.2}; frames uploaded: wall {}, one screen {}",
        wall_per_stream * 100.0,
        base_per_stream * 100.0,
        wall_run.frames,
        base.frames
    );
    eprintln!(
        "GPU memory for pictures (texture arrays): {:.1} MB ({} streams, {} size classes); RSS {:.1} MB, {:.2} MB per stream",
        stats.texture_bytes as f64 / 1e6,
        stats.streams,
        stats.classes,
        rss,
        (rss - rss0) / n
    );
    println!(
        "{{\"screens\":{screens},\"tiles_per_screen\":{tiles},\"cameras\":{cameras},\"distinct_shown\":{},\"unique_decodes\":{unique},\"fps\":{fps},\
         \"round_cpu_ms_p50\":{:.3},\"round_cpu_ms_p99\":{:.3},\"baseline_round_cpu_ms_p50\":{:.3},\
         \"cpu_per_stream_wall\":{wall_per_stream:.5},\"cpu_per_stream_one_screen\":{base_per_stream:.5},\"ratio\":{ratio:.3},\
         \"texture_mb\":{:.1},\"rss_mb\":{rss:.1},\"rss_mb_per_stream\":{:.3}}}",
        distinct.len(),
        percentile(&wall_run.round_ms, 0.5),
        percentile(&wall_run.round_ms, 0.99),
        percentile(&base.round_ms, 0.5),
        stats.texture_bytes as f64 / 1e6,
        (rss - rss0) / n
    );
    if unique != distinct.len() {
        bail!(
            "{unique} decodes for {} distinct cameras: a camera is decoded more than once",
            distinct.len()
        );
    }
    Ok(())
}
