//! Vigie against RTSP servers that are not camsim: a plain gst-rtsp-server with stock
//! elements, serving H.264 (decodes) and Motion JPEG (refused with a clear state).

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
    let source = StreamSource {
        label: "other/stream".into(),
        url,
        credential: None,
        transport: Transport::Tcp,
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
