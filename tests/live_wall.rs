//! End to end: camsim -> RTSP -> GStreamer decode -> wgpu compositor (offscreen, lavapipe)
//! -> pixels read back. Each tile shows its own camera, and the timecode stripe read from the
//! rendered picture is the capture time of the frame shown.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use vigie::config::StreamKind;
use vigie::ingest::{IngestTimings, StreamManager, Transport};
use vigie::media::{Frame, decode_timecode_luma};
use vigie::render::{FULL_UV, Offscreen, StreamId, TileDraw};
use vigie::sim::{CamSim, CamSimOptions, EncodeMode, camera_rgb};

#[test]
fn a_2x2_wall_shows_each_camera_and_its_capture_time() {
    let sim = CamSim::start(CamSimOptions {
        cameras: 4,
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        encode: EncodeMode::Live,
        ..CamSimOptions::default()
    })
    .expect("camsim");
    let cameras = sim.cameras();
    let mut streams = StreamManager::new(IngestTimings::default(), Transport::Tcp);
    // The same camera asked for by two tiles is one stream.
    let slots: Vec<_> = cameras
        .iter()
        .map(|c| streams.want(c, StreamKind::Sub))
        .collect();
    let again = streams.want(&cameras[0], StreamKind::Sub);
    assert!(std::sync::Arc::ptr_eq(&slots[0], &again));
    assert_eq!(streams.active(), 4);

    // Wait until every stream has pictures, keeping the newest of each.
    let mut latest: Vec<Option<Frame>> = vec![None; 4];
    let t0 = Instant::now();
    while latest.iter().any(Option::is_none) {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "no picture from every camera"
        );
        for (i, s) in slots.iter().enumerate() {
            while let Some(f) = s.take() {
                latest[i] = Some(f);
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let frames: Vec<Frame> = latest.into_iter().flatten().collect();

    // 2x2 grid at 1280x720: each tile is exactly one 640x360 picture.
    let mut gpu = Offscreen::new().expect("wgpu adapter");
    let mut tiles = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        gpu.upload(StreamId(i as u64), f);
        let (x, y) = ((i % 2) as f32 * 0.5, (i / 2) as f32 * 0.5);
        tiles.push(TileDraw {
            stream: StreamId(i as u64),
            rect: [x, y, 0.5, 0.5],
            uv: FULL_UV,
            brightness: 1.0,
        });
    }
    let img = gpu.render(1280, 720, &tiles).expect("render");

    for (i, f) in frames.iter().enumerate() {
        let (ox, oy) = ((i % 2) as u32 * 640, (i / 2) as u32 * 360);
        // Field colour, away from stripe, square and text.
        let got = img.mean(ox + 280, oy + 80, 80, 40);
        let want = camera_rgb(i as u32 + 1);
        for c in 0..3 {
            assert!(
                (got[c] - want[c] as f32).abs() <= 10.0,
                "tile {i}: {got:?} is not cam{:03}'s {want:?}",
                i + 1
            );
        }
        // The stripe read from the screen equals the one in the decoded picture...
        let on_screen = decode_timecode_luma(640, 360, |x, y| img.pixel(ox + x, oy + y)[1]);
        let in_frame = decode_timecode_luma(f.width, f.height, |x, y| f.luma_at(x, y));
        assert_eq!(on_screen, in_frame, "tile {i}");
        // ...and is when the camera captured the picture: shortly before it arrived here.
        let latency = f.capture_utc_ms - on_screen;
        assert!(
            (0..1000).contains(&latency),
            "tile {i}: captured {on_screen}, arrived {} ({latency} ms)",
            f.capture_utc_ms
        );
    }
    streams.shutdown();
}
