//! `vigie camsim`: simulated RTSP cameras for the demo, the tests and the benchmarks.
//!
//! Contract: [`CamSim::start`] serves `rtsp://ADDR/camNNN/main` and `/camNNN/sub` with
//! gst-rtsp-server on a GLib main loop of its own thread ("camsim rtsp"). Each stream that a
//! client plays gets one pacing thread ("camsim cam001/sub") that pushes pictures into the
//! media's `appsrc` at the frame rate; media are shared between clients, so a stream costs the
//! same for one viewer or ten. Two ways to make pictures:
//! - `live`: every picture is painted and encoded when it is sent, so its timecode stripe is
//!   the exact capture time (UTC ms). Costs an encoder per played stream: for a few cameras.
//! - `loop`: a clip of one or more GOPs is painted and encoded once per stream (on first play)
//!   and its access units are sent again and again. Cheap enough for the whole city. Its stripe
//!   carries the time within the clip (ms from the clip's start), not the wall clock.
//!
//! Nothing here knows egui or wgpu.

mod catalog;
mod clip;
mod events;
mod picture;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::glib;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_rtsp_server as rtsp;
use gstreamer_rtsp_server::prelude::*;

pub use catalog::{DEMO_CAMERAS_TOML, demo_cameras, sim_camera};
pub use events::{BUTTONS, EventSim, EventSimOptions, SimSource};
pub use picture::{Painter, camera_rgb, camera_ycbcr, rgb_to_ycbcr709};

use crate::config::{Camera, Credential, StreamKind};
use clip::Clip;

/// Video codec served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    H264,
    H265,
}

/// How pictures are produced (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeMode {
    Live,
    Loop,
}

/// What to serve.
#[derive(Clone, Debug)]
pub struct CamSimOptions {
    pub cameras: u32,
    /// Address to listen on; port 0 picks a free one (see [`CamSim::addr`]).
    pub listen: SocketAddr,
    pub encode: EncodeMode,
    /// With `Loop`: the first `live_cameras` cameras are encoded live all the same.
    pub live_cameras: u32,
    pub codec: Codec,
    pub fps: u32,
    /// Frames between keyframes.
    pub gop: u32,
    pub main_size: (u32, u32),
    pub sub_size: (u32, u32),
    pub main_kbps: u32,
    pub sub_kbps: u32,
    /// Largest RTP packet sent, bytes (RTP over TCP allows up to 65535).
    pub mtu: u32,
    /// When set, every stream asks for these credentials (HTTP Basic, as most cameras).
    pub credential: Option<Credential>,
}

impl Default for CamSimOptions {
    fn default() -> Self {
        CamSimOptions {
            cameras: 4,
            listen: SocketAddr::from(([127, 0, 0, 1], 8554)),
            encode: EncodeMode::Live,
            live_cameras: 0,
            codec: Codec::H264,
            fps: 25,
            gop: 50,
            main_size: (1280, 720),
            sub_size: (640, 360),
            main_kbps: 2000,
            sub_kbps: 500,
            mtu: 1400,
            credential: None,
        }
    }
}

/// Why the simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("GStreamer is not usable: {0}")]
    Init(String),
    #[error("camsim: GStreamer element {0} is missing (install gstreamer1.0-plugins-*)")]
    MissingElement(String),
    #[error("camsim: cannot listen on {addr}: {message}")]
    Listen { addr: SocketAddr, message: String },
    #[error("camsim: --cameras must be 1 to 999, not {0}")]
    CameraCount(u32),
}

/// One simulated camera's switch, shared with its pacing threads.
struct SimCamera {
    number: u32,
    camera: Camera,
    stopped: AtomicBool,
    live: bool,
}

struct Shared {
    /// RTSP connections playing each mount path now.
    playing: Arc<Mutex<HashMap<String, usize>>>,
    opts: CamSimOptions,
    cameras: Vec<Arc<SimCamera>>,
    clips: Mutex<HashMap<(u32, StreamKind), Arc<Clip>>>,
}

/// A running simulator. Dropping it stops the server and every pacing thread.
pub struct CamSim {
    shared: Arc<Shared>,
    server: rtsp::RTSPServer,
    main_loop: glib::MainLoop,
    thread: Option<std::thread::JoinHandle<()>>,
    addr: SocketAddr,
}

impl CamSim {
    /// Starts serving. Returns once the port is bound.
    pub fn start(opts: CamSimOptions) -> Result<CamSim, SimError> {
        if !(1..=999).contains(&opts.cameras) {
            return Err(SimError::CameraCount(opts.cameras));
        }
        gst::init().map_err(|e| SimError::Init(e.to_string()))?;
        let encoder = match opts.codec {
            Codec::H264 => "x264enc",
            Codec::H265 => "x265enc",
        };
        for name in ["appsrc", "clockoverlay", "textoverlay", encoder, "appsink"] {
            if gst::ElementFactory::find(name).is_none() {
                return Err(SimError::MissingElement(name.to_owned()));
            }
        }

        let server = rtsp::RTSPServer::new();
        server.set_address(&opts.listen.ip().to_string());
        server.set_service(&opts.listen.port().to_string());
        if let Some(c) = &opts.credential {
            let auth = rtsp::RTSPAuth::new();
            let token = rtsp::RTSPToken::builder()
                .field(rtsp::RTSP_TOKEN_MEDIA_FACTORY_ROLE, "viewer")
                .build();
            auth.add_basic(&rtsp::RTSPAuth::make_basic(&c.user, &c.password), &token);
            server.set_auth(Some(&auth));
        }
        let pool = rtsp::RTSPThreadPool::new();
        pool.set_max_threads(8);
        server.set_thread_pool(Some(&pool));
        let context = glib::MainContext::new();
        let main_loop = glib::MainLoop::new(Some(&context), false);
        let listen_error = |message: String| SimError::Listen {
            addr: opts.listen,
            message,
        };
        let source = server
            .attach(Some(&context))
            .map_err(|e| listen_error(e.to_string()))?;
        let port = u16::try_from(server.bound_port())
            .map_err(|_| listen_error("no port was bound".into()))?;
        let addr = SocketAddr::new(opts.listen.ip(), port);

        // Port 0 may have been asked for: the cameras' URLs carry the bound one.
        let demo = demo_cameras();
        let authority = addr.to_string();
        let cameras = (1..=opts.cameras)
            .map(|n| {
                Arc::new(SimCamera {
                    number: n,
                    camera: sim_camera(n, &authority, &demo),
                    stopped: AtomicBool::new(false),
                    live: opts.encode == EncodeMode::Live || n <= opts.live_cameras,
                })
            })
            .collect();
        let playing: Arc<Mutex<HashMap<String, usize>>> = Default::default();
        count_players(&server, &playing);
        let shared = Arc::new(Shared {
            playing,
            opts: opts.clone(),
            cameras,
            clips: Mutex::new(HashMap::new()),
        });
        let mounts = server
            .mount_points()
            .ok_or_else(|| SimError::Init("no mount points".into()))?;
        for cam in &shared.cameras {
            for kind in [StreamKind::Main, StreamKind::Sub] {
                mounts.add_factory(
                    &mount_path(cam.number, kind),
                    make_factory(&shared, cam, kind),
                );
            }
        }
        Self::run(shared, server, context, main_loop, source, addr)
    }

    fn run(
        shared: Arc<Shared>,
        server: rtsp::RTSPServer,
        context: glib::MainContext,
        main_loop: glib::MainLoop,
        source: glib::SourceId,
        addr: SocketAddr,
    ) -> Result<CamSim, SimError> {
        let ml = main_loop.clone();
        let thread = std::thread::Builder::new()
            .name("camsim rtsp".into())
            .spawn(move || {
                let _guard = context.acquire();
                ml.run();
                if let Some(s) = context.find_source_by_id(&source) {
                    s.destroy();
                }
            })
            .map_err(|e| SimError::Init(e.to_string()))?;
        tracing::info!(%addr, cameras = shared.cameras.len(), "camsim serving");
        Ok(CamSim {
            shared,
            server,
            main_loop,
            thread: Some(thread),
            addr,
        })
    }

    /// The RTSP sessions playing each stream now ("/cam001/sub" -> 1): what a camera sees of
    /// its clients.
    pub fn playing(&self) -> HashMap<String, usize> {
        let mut m = self
            .shared
            .playing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        m.retain(|_, n| *n > 0);
        m
    }

    /// The address actually bound.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The cameras served, with their URLs.
    pub fn cameras(&self) -> Vec<Camera> {
        self.shared
            .cameras
            .iter()
            .map(|c| c.camera.clone())
            .collect()
    }

    /// URL of one stream of camera `number`.
    pub fn url(&self, number: u32, kind: StreamKind) -> String {
        format!("rtsp://{}{}", self.addr, mount_path(number, kind))
    }

    /// Simulates a camera failure: its streams end (clients see end-of-stream) and new
    /// connections are refused (404) until [`CamSim::restart_camera`].
    pub fn stop_camera(&self, id: &str) -> bool {
        let Some(cam) = self.find(id) else {
            return false;
        };
        cam.stopped.store(true, Ordering::SeqCst);
        if let Some(mounts) = self.server.mount_points() {
            for kind in [StreamKind::Main, StreamKind::Sub] {
                mounts.remove_factory(&mount_path(cam.number, kind));
            }
        }
        tracing::info!(camera = id, "camsim: camera stopped");
        true
    }

    /// Brings a stopped camera back.
    pub fn restart_camera(&self, id: &str) -> bool {
        let Some(cam) = self.find(id) else {
            return false;
        };
        cam.stopped.store(false, Ordering::SeqCst);
        if let Some(mounts) = self.server.mount_points() {
            for kind in [StreamKind::Main, StreamKind::Sub] {
                mounts.add_factory(
                    &mount_path(cam.number, kind),
                    make_factory(&self.shared, &cam, kind),
                );
            }
        }
        tracing::info!(camera = id, "camsim: camera restarted");
        true
    }

    fn find(&self, id: &str) -> Option<Arc<SimCamera>> {
        self.shared
            .cameras
            .iter()
            .find(|c| c.camera.id == id)
            .cloned()
    }
}

impl Drop for CamSim {
    fn drop(&mut self) {
        for cam in &self.shared.cameras {
            cam.stopped.store(true, Ordering::SeqCst);
        }
        self.main_loop.quit();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Counts each connection's PLAY per mount path until the connection closes.
fn count_players(server: &rtsp::RTSPServer, playing: &Arc<Mutex<HashMap<String, usize>>>) {
    let playing = playing.clone();
    server.connect_client_connected(move |_, client| {
        let played: Arc<Mutex<Vec<String>>> = Default::default();
        let (p1, mine) = (playing.clone(), played.clone());
        client.connect_play_request(move |_, ctx| {
            let Some(path) = ctx
                .uri()
                .and_then(|u| url::Url::parse(u.request_uri().as_str()).ok())
                .map(|u| u.path().trim_end_matches('/').to_owned())
            else {
                return;
            };
            let mut mine = mine.lock().unwrap_or_else(|e| e.into_inner());
            if !mine.contains(&path) {
                *p1.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry(path.clone())
                    .or_default() += 1;
                mine.push(path);
            }
        });
        let p2 = playing.clone();
        client.connect_closed(move |_| {
            let mut all = p2.lock().unwrap_or_else(|e| e.into_inner());
            for path in played.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
                if let Some(n) = all.get_mut(&path) {
                    *n = n.saturating_sub(1);
                }
            }
        });
    });
}

fn mount_path(number: u32, kind: StreamKind) -> String {
    format!("/cam{number:03}/{}", kind.as_str())
}

/// Geometry and rate of one stream.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StreamSpec {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub gop: u32,
    pub kbps: u32,
    pub codec: Codec,
    pub mtu: u32,
}

impl StreamSpec {
    fn new(opts: &CamSimOptions, kind: StreamKind) -> StreamSpec {
        let ((width, height), kbps) = match kind {
            StreamKind::Main => (opts.main_size, opts.main_kbps),
            StreamKind::Sub => (opts.sub_size, opts.sub_kbps),
        };
        StreamSpec {
            width,
            height,
            fps: opts.fps.max(1),
            gop: opts.gop.max(1),
            kbps,
            codec: opts.codec,
            mtu: opts.mtu.clamp(400, 65000),
        }
    }

    fn raw_caps(&self) -> String {
        format!(
            "video/x-raw,format=I420,width={},height={},framerate={}/1,colorimetry=bt709,pixel-aspect-ratio=1/1",
            self.width, self.height, self.fps
        )
    }

    /// Encoder and caps, as a launch fragment.
    fn encoder(&self) -> String {
        match self.codec {
            Codec::H264 => format!(
                "x264enc tune=zerolatency speed-preset=ultrafast key-int-max={} bitrate={} threads=1 ! video/x-h264,profile=constrained-baseline",
                self.gop, self.kbps
            ),
            Codec::H265 => format!(
                "x265enc tune=zerolatency speed-preset=ultrafast key-int-max={} bitrate={} ! video/x-h265,profile=main",
                self.gop, self.kbps
            ),
        }
    }

    fn payloader(&self) -> String {
        let element = match self.codec {
            Codec::H264 => "rtph264pay",
            Codec::H265 => "rtph265pay",
        };
        format!(
            "{element} name=pay0 pt=96 config-interval=-1 aggregate-mode=zero-latency mtu={}",
            self.mtu
        )
    }

    fn frame_duration(&self) -> Duration {
        Duration::from_nanos(1_000_000_000 / self.fps as u64)
    }
}

fn make_factory(
    shared: &Arc<Shared>,
    cam: &Arc<SimCamera>,
    kind: StreamKind,
) -> rtsp::RTSPMediaFactory {
    let spec = StreamSpec::new(&shared.opts, kind);
    let launch = if cam.live {
        format!(
            "( appsrc name=src is-live=true format=time do-timestamp=false max-buffers=2 leaky-type=downstream caps=\"{}\" \
             ! clockoverlay name=text halignment=left valignment=bottom shaded-background=true \
               time-format=\"%Y-%m-%d %H:%M:%S\" font-desc=\"Sans {}\" \
             ! {} ! {} )",
            spec.raw_caps(),
            (spec.height / 30).max(8),
            spec.encoder(),
            spec.payloader()
        )
    } else {
        let caps = match spec.codec {
            Codec::H264 => "video/x-h264,stream-format=byte-stream,alignment=au",
            Codec::H265 => "video/x-h265,stream-format=byte-stream,alignment=au",
        };
        format!(
            "( appsrc name=src is-live=true format=time do-timestamp=false max-buffers=4 leaky-type=downstream caps=\"{caps}\" ! {} )",
            spec.payloader()
        )
    };
    let factory = rtsp::RTSPMediaFactory::new();
    if shared.opts.credential.is_some() {
        let role = gst::Structure::builder("viewer")
            .field(rtsp::RTSP_PERM_MEDIA_FACTORY_ACCESS, true)
            .field(rtsp::RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, true)
            .build();
        factory.add_role_from_structure(&role);
    }
    factory.set_launch(&launch);
    factory.set_shared(true);
    let shared_weak = Arc::downgrade(shared);
    let cam = cam.clone();
    factory.connect_media_configure(move |_, media| {
        let Some(shared) = shared_weak.upgrade() else {
            return;
        };
        let Some(bin) = media.element().downcast::<gst::Bin>().ok() else {
            return;
        };
        if let Some(text) = bin.by_name("text") {
            text.set_property("text", format!("{} {}", cam.camera.id, cam.camera.name));
        }
        let Some(src) = bin
            .by_name("src")
            .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
        else {
            tracing::error!(camera = %cam.camera.id, "camsim: media without appsrc");
            return;
        };
        let cam = cam.clone();
        let name = format!("camsim {}/{}", cam.camera.id, kind.as_str());
        let spawned = std::thread::Builder::new()
            .name(name)
            .spawn(move || pace(&shared, &cam, kind, spec, &src));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "camsim: cannot start a pacing thread");
        }
    });
    factory
}

/// Pushes one picture per frame interval until the media goes away or the camera is stopped.
fn pace(
    shared: &Shared,
    cam: &SimCamera,
    kind: StreamKind,
    spec: StreamSpec,
    src: &gst_app::AppSrc,
) {
    let clip = if cam.live {
        None
    } else {
        let key = (cam.number, kind);
        let cached = shared
            .clips
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .cloned();
        match cached {
            Some(c) => Some(c),
            None => match Clip::encode(cam.number, &cam.camera, spec) {
                Ok(c) => {
                    let c = Arc::new(c);
                    shared
                        .clips
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(key, c.clone());
                    Some(c)
                }
                Err(e) => {
                    tracing::error!(camera = %cam.camera.id, error = %e, "camsim: cannot encode the loop clip");
                    return;
                }
            },
        }
    };
    let painter = Painter::new(cam.number, spec.width, spec.height, spec.fps * 2);
    let frame_dur = spec.frame_duration();
    let start = Instant::now();
    let mut index: u64 = 0;
    loop {
        if cam.stopped.load(Ordering::SeqCst) {
            let _ = src.end_of_stream();
            return;
        }
        let deadline = start + frame_dur * index as u32;
        let now = Instant::now();
        if deadline > now {
            std::thread::sleep(deadline - now);
        } else if now - deadline > frame_dur * 4 {
            // Fell behind (machine overloaded): skip ahead rather than burst.
            index = ((now - start).as_nanos() / frame_dur.as_nanos()) as u64;
        }
        // The picture's wall-clock time (its stripe) and its running time (its PTS, hence its
        // RTP timestamp and the RTCP sender reports) are read at the same instant, so that they
        // match whatever the scheduling delays after this point.
        let (Some(clock), Some(base)) = (src.clock(), src.base_time()) else {
            index += 1;
            continue; // not playing yet
        };
        let running = clock.time().saturating_sub(base);
        let mut buffer = match &clip {
            // A shallow copy: the clip's buffers are shared and keep no timestamps.
            Some(clip) => clip.access_unit(index).copy(),
            None => {
                let wall_ms = chrono::Utc::now().timestamp_millis();
                let mut data = vec![0u8; painter.frame_bytes()];
                painter.paint(index, wall_ms, &mut data);
                gst::Buffer::from_mut_slice(data)
            }
        };
        if let Some(b) = buffer.get_mut() {
            b.set_pts(running);
            b.set_dts(gst::ClockTime::NONE);
            b.set_duration(frame_dur.try_into().ok());
        }
        if src.push_buffer(buffer).is_err() {
            return; // the media was shut down
        }
        index += 1;
    }
}
