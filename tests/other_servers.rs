//! Vigie against RTSP servers that are not camsim: a plain gst-rtsp-server with stock
//! elements, serving H.264 (decodes) and Motion JPEG (refused with a clear state).

mod common;

use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::glib;
use gstreamer_rtsp_server as rtsp;
use gstreamer_rtsp_server::prelude::*;
use vigie::ingest::{IngestTimings, LiveStream, StreamSource, Transport};
use vigie::media::{FrameSlot, PixelFormat, StreamState};

struct Server {
    main_loop: glib::MainLoop,
    port: i32,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start(mounts: &[(&str, &str)]) -> Server {
        gst::init().expect("gstreamer");
        let server = rtsp::RTSPServer::new();
        server.set_address("127.0.0.1");
        server.set_service("0");
        let pool = rtsp::RTSPThreadPool::new();
        pool.set_max_threads(4);
        server.set_thread_pool(Some(&pool));
        let points = server.mount_points().expect("mounts");
        for (path, launch) in mounts {
            let f = rtsp::RTSPMediaFactory::new();
            f.set_launch(launch);
            f.set_shared(true);
            // A mount under /udp answers RTP over TCP with 461 Unsupported Transport, as
            // VLC's RTSP server and some cameras do.
            if path.starts_with("/udp") {
                f.set_protocols(gstreamer_rtsp::RTSPLowerTrans::UDP);
            }
            points.add_factory(path, f);
        }
        let ctx = glib::MainContext::new();
        let main_loop = glib::MainLoop::new(Some(&ctx), false);
        let id = server.attach(Some(&ctx)).expect("attach");
        let port = server.bound_port();
        let ml = main_loop.clone();
        let thread = std::thread::spawn(move || {
            let _g = ctx.acquire();
            ml.run();
            if let Some(s) = ctx.find_source_by_id(&id) {
                s.destroy();
            }
        });
        Server {
            main_loop,
            port,
            thread: Some(thread),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.main_loop.quit();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn open(url: String) -> LiveStream {
    open_over(url, Transport::Tcp)
}

fn open_over(url: String, transport: Transport) -> LiveStream {
    let source = StreamSource {
        label: "other/stream".into(),
        url,
        credential: None,
        transport,
    };
    LiveStream::open(source, FrameSlot::new(), IngestTimings::default()).expect("opens")
}

#[test]
fn a_stock_h264_server_decodes_and_mjpeg_is_refused_clearly() {
    let server = Server::start(&[
        (
            "/h264",
            "( videotestsrc is-live=true pattern=smpte ! video/x-raw,format=I420,width=320,height=240,framerate=15/1 ! x264enc tune=zerolatency speed-preset=ultrafast ! rtph264pay name=pay0 pt=96 )",
        ),
        (
            "/mjpeg",
            "( videotestsrc is-live=true ! video/x-raw,format=I420,width=320,height=240,framerate=15/1 ! jpegenc ! rtpjpegpay name=pay0 pt=26 )",
        ),
    ]);
    let h264 = open(format!("rtsp://127.0.0.1:{}/h264", server.port));
    let mjpeg = open(format!("rtsp://127.0.0.1:{}/mjpeg", server.port));
    let t0 = Instant::now();
    let frame = loop {
        if let Some(f) = h264.slot().take() {
            break f;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "no picture: {:?}",
            h264.slot().state()
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!((frame.width, frame.height), (320, 240));
    assert!(matches!(
        frame.format,
        PixelFormat::I420 | PixelFormat::Nv12
    ));
    // SMPTE bars: white on the left, then yellow, cyan, green, magenta, red, blue: luma falls
    // from bar to bar.
    let bars: Vec<i32> = (0..7)
        .map(|k| frame.luma_at(k * 320 / 7 + 20, 60) as i32)
        .collect();
    assert!(bars[0] >= 180, "white bar luma {}", bars[0]);
    assert!(bars.windows(2).all(|w| w[0] > w[1]), "bar lumas {bars:?}");

    loop {
        if let StreamState::Failed { reason } = mjpeg.slot().state() {
            assert!(reason.contains("unsupported codec JPEG"), "{reason}");
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "mjpeg state {:?}",
            mjpeg.slot().state()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    h264.stop_and_join();
    mjpeg.stop_and_join();
}

/// The first picture of `stream` (15 s at most), or its state then.
fn first_picture(stream: &LiveStream) -> Result<vigie::media::Frame, StreamState> {
    let t0 = Instant::now();
    loop {
        if let Some(f) = stream.slot().take() {
            return Ok(f);
        }
        let state = stream.slot().state();
        if matches!(state, StreamState::Failed { .. }) || t0.elapsed() > Duration::from_secs(15) {
            return Err(state);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_server_refusing_rtp_over_tcp_is_shown_and_recorded_over_udp() {
    let server = Server::start(&[(
        "/udp-only",
        "( videotestsrc is-live=true pattern=smpte ! video/x-raw,format=I420,width=320,height=240,framerate=15/1 ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 ! rtph264pay name=pay0 pt=96 )",
    )]);
    let url = format!("rtsp://127.0.0.1:{}/udp-only", server.port);
    // Told TCP: the tile says the camera refuses it, and how to set it.
    let tcp = open_over(url.clone(), Transport::Tcp);
    match first_picture(&tcp) {
        Err(StreamState::Failed { reason }) => assert!(
            reason.contains("refuses RTP over TCP") && reason.contains("transport = \"udp\""),
            "{reason}"
        ),
        other => panic!("TCP on a UDP-only server: {:?}", other.map(|f| f.width)),
    }
    tcp.stop_and_join();
    // Auto (the default): TCP refused, UDP taken, the bars shown.
    let auto = open_over(url.clone(), Transport::Auto);
    let frame = first_picture(&auto).unwrap_or_else(|s| panic!("auto: {s:?}"));
    assert_eq!((frame.width, frame.height), (320, 240));
    assert!(frame.luma_at(20, 60) >= 180, "white bar");
    auto.stop_and_join();

    // `vigie still --url` as an installer would run it.
    let dir = std::env::temp_dir().join(format!("vigie-udp-only-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let png = dir.join("still.png");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(["still", "--url", &url, "--out"])
        .arg(&png)
        .env(
            "XDG_RUNTIME_DIR",
            std::env::var("XDG_RUNTIME_DIR").unwrap_or("/tmp".into()),
        )
        .output()
        .expect("vigie still");
    assert!(
        out.status.success() && png.exists(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The recorder: cam001 on "auto" is recorded over UDP; cam002 told TCP records nothing
    // and its gap names the transport.
    let cameras = dir.join("cameras.toml");
    let camera = |id: &str, transport: &str| {
        format!(
            "[[camera]]\nid = \"{id}\"\nname = \"{id}\"\nlatitude = 50.0\nlongitude = 3.0\nkind = \"fixed\"\nmain_url = \"{url}\"\n{transport}\n"
        )
    };
    std::fs::write(
        &cameras,
        camera("cam001", "") + &camera("cam002", "transport = \"tcp\""),
    )
    .expect("cameras file");
    let data = dir.join("data");
    let recorder = common::spawn_recorder(&cameras, &data, 1, &[]);
    common::wait_for_segments(&data, "cam001", 3, Duration::from_secs(60));
    common::terminate(recorder);
    common::assert_check_clean(&data);
    let store =
        vigie::store::Store::open_readonly(&data.join(vigie::store::INDEX_FILE)).expect("index");
    assert_eq!(common::segment_count(&data, "cam002"), 0);
    let tl = store.timeline("cam002", 0, i64::MAX / 2).expect("timeline");
    assert!(
        tl.gaps
            .iter()
            .any(|(_, cause)| cause.contains("refuses RTP over TCP")),
        "{:?}",
        tl.gaps
    );

    // Through the site server: the recorder's UDP session is the one the workstation gets; the
    // camera forced to TCP is shown failed, saying why.
    let site = dir.join("site");
    common::add_user(&site, "op", "operator", &["*"]);
    let file = vigie::config::CamerasFile::load(&cameras).expect("cameras file");
    let site_server = vigie::server::Server::start(vigie::server::ServerOptions {
        cameras: file.cameras,
        record: true,
        ..common::server_options(&site)
    })
    .expect("server");
    let api = common::signed_in(&site_server, &site, "op");
    let relay = std::sync::Arc::new(
        vigie::client::relay::RelayClient::start(&api, None).expect("live connection"),
    );
    let shown = |cam: &str| {
        vigie::ingest::LiveStream::relayed(
            relay.clone(),
            cam,
            vigie::config::StreamKind::Sub,
            vigie::media::FrameSlot::new(),
            vigie::ingest::IngestTimings::default(),
        )
        .expect("stream")
    };
    let (udp, tcp) = (shown("cam001"), shown("cam002"));
    let frame = first_picture(&udp).unwrap_or_else(|s| panic!("through the server: {s:?}"));
    assert_eq!((frame.width, frame.height), (320, 240));
    assert!(frame.luma_at(20, 60) >= 180, "white bar");
    common::wait_for(
        "cam002 failed with its reason",
        || matches!(tcp.slot().state(), StreamState::Failed { reason } if reason.contains("refuses RTP over TCP")),
    );
    udp.stop_and_join();
    tcp.stop_and_join();
    drop(relay);
    site_server.stop();
    let _ = std::fs::remove_dir_all(&dir);
}
