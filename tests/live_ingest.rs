//! camsim -> RTSP -> GStreamer decode -> FrameSlot, with real components on loopback.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use vigie::config::StreamKind;
use vigie::ingest::{IngestTimings, LiveStream, StreamSource, Transport};
use vigie::media::{Frame, FrameSlot, StreamState, decode_timecode_luma};
use vigie::sim::{CamSim, CamSimOptions, EncodeMode, camera_ycbcr};

fn camsim(cameras: u32, encode: EncodeMode) -> CamSim {
    CamSim::start(CamSimOptions {
        cameras,
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        encode,
        ..CamSimOptions::default()
    })
    .expect("camsim starts")
}

fn open(sim: &CamSim, number: u32, kind: StreamKind, transport: Transport) -> LiveStream {
    let source = StreamSource {
        label: format!("cam{number:03}/{}", kind.as_str()),
        url: sim.url(number, kind),
        credential: None,
        transport,
    };
    LiveStream::open(source, FrameSlot::new(), IngestTimings::default()).expect("stream opens")
}

/// Waits for the next frame published after now.
fn next_frame(slot: &Arc<FrameSlot>, timeout: Duration) -> Frame {
    let deadline = Instant::now() + timeout;
    let _ = slot.take();
    while Instant::now() < deadline {
        if let Some(f) = slot.take() {
            return f;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("no frame within {timeout:?}; state {:?}", slot.state());
}

#[test]
fn each_stream_shows_its_camera_and_carries_its_capture_time() {
    let sim = camsim(3, EncodeMode::Live);
    let streams: Vec<_> = [
        (1, Transport::Tcp),
        (2, Transport::Udp),
        (3, Transport::Tcp),
    ]
    .into_iter()
    .map(|(n, t)| (n, open(&sim, n, StreamKind::Sub, t)))
    .collect();
    for (n, s) in &streams {
        let f = next_frame(s.slot(), Duration::from_secs(15));
        assert_eq!((f.width, f.height), (640, 360));
        // Field colour, sampled away from the stripe, the square and the text.
        let expected = camera_ycbcr(*n);
        let y = f.luma_at(320, 100) as i32;
        assert!(
            (y - expected[0] as i32).abs() <= 6,
            "cam{n:03}: luma {y}, expected {}",
            expected[0]
        );
        // The stripe is the capture time; the frame arrived a little after it.
        let t = decode_timecode_luma(f.width, f.height, |x, y| f.luma_at(x, y));
        let latency = f.capture_utc_ms - t;
        assert!(
            (0..1500).contains(&latency),
            "cam{n:03}: stripe {t}, arrival {} ({latency} ms)",
            f.capture_utc_ms
        );
        assert_eq!(s.slot().decoder(), "avdec_h264");
    }
    // Consecutive pictures are one frame interval apart in the stripe and in the stream clock.
    let slot = streams[0].1.slot();
    let a = next_frame(slot, Duration::from_secs(5));
    let b = next_frame(slot, Duration::from_secs(5));
    let ta = decode_timecode_luma(a.width, a.height, |x, y| a.luma_at(x, y));
    let tb = decode_timecode_luma(b.width, b.height, |x, y| b.luma_at(x, y));
    let dpts = (b.pts_ns.expect("pts") as i64 - a.pts_ns.expect("pts") as i64) / 1_000_000;
    assert!(
        ((tb - ta) - dpts).abs() <= 40,
        "stripe advanced {} ms, pts {} ms",
        tb - ta,
        dpts
    );
    for (_, s) in streams {
        s.stop_and_join();
    }
}

#[test]
fn a_stopped_camera_is_lost_then_live_again() {
    let sim = camsim(2, EncodeMode::Loop);
    let s = open(&sim, 2, StreamKind::Sub, Transport::Tcp);
    next_frame(s.slot(), Duration::from_secs(20));
    assert!(sim.stop_camera("cam002"));
    let t0 = Instant::now();
    while !matches!(s.slot().state(), StreamState::Lost { .. }) {
        assert!(
            t0.elapsed() < Duration::from_secs(3),
            "not lost after 3 s: {:?}",
            s.slot().state()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(1500));
    assert!(sim.restart_camera("cam002"));
    let t1 = Instant::now();
    let _ = s.slot().take();
    loop {
        if s.slot().take().is_some() && s.slot().state() == StreamState::Live {
            break;
        }
        assert!(
            t1.elapsed() < Duration::from_secs(5),
            "not live 5 s after restart: {:?}",
            s.slot().state()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    s.stop_and_join();
}

#[test]
fn a_wrong_path_is_a_clear_failure_not_a_crash() {
    let sim = camsim(1, EncodeMode::Loop);
    let source = StreamSource {
        label: "cam404/sub".into(),
        url: format!("rtsp://{}/cam404/sub", sim.addr()),
        credential: None,
        transport: Transport::Tcp,
    };
    let s = LiveStream::open(source, FrameSlot::new(), IngestTimings::default()).expect("opens");
    let t0 = Instant::now();
    loop {
        if let StreamState::Failed { reason } = s.slot().state() {
            assert!(reason.contains("404"), "{reason}");
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "{:?}",
            s.slot().state()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    s.stop_and_join();
}

#[test]
fn h265_streams_decode_with_the_h265_decoder() {
    let sim = CamSim::start(CamSimOptions {
        cameras: 1,
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        encode: EncodeMode::Live,
        codec: vigie::sim::Codec::H265,
        ..CamSimOptions::default()
    })
    .expect("camsim");
    let s = open(&sim, 1, StreamKind::Sub, Transport::Tcp);
    let f = next_frame(s.slot(), Duration::from_secs(20));
    assert_eq!(s.slot().decoder(), "avdec_h265");
    let y = f.luma_at(320, 100) as i32;
    assert!((y - camera_ycbcr(1)[0] as i32).abs() <= 6, "luma {y}");
    let t = decode_timecode_luma(f.width, f.height, |x, y| f.luma_at(x, y));
    assert!(
        (0..1500).contains(&(f.capture_utc_ms - t)),
        "stripe {t} arrival {}",
        f.capture_utc_ms
    );
    s.stop_and_join();
}

#[test]
fn a_stream_asked_for_keyframes_only_decodes_one_picture_a_gop_then_all_again() {
    // Loop clips: 25 fps, a keyframe every 50 pictures (2 s) by default.
    let sim = camsim(1, EncodeMode::Loop);
    let s = open(&sim, 1, StreamKind::Sub, Transport::Tcp);
    let slot = s.slot().clone();
    next_frame(&slot, Duration::from_secs(15));
    let pictures_in = |d: Duration| {
        let before = slot.stats().published;
        std::thread::sleep(d);
        slot.stats().published - before
    };
    let full = pictures_in(Duration::from_secs(4));
    slot.set_keyframes_only(true);
    std::thread::sleep(Duration::from_millis(500));
    let keys = pictures_in(Duration::from_secs(4));
    slot.set_keyframes_only(false);
    // Back to every picture from the next keyframe on.
    std::thread::sleep(Duration::from_millis(2500));
    let again = pictures_in(Duration::from_secs(4));
    assert!(full >= 80, "{full} pictures in 4 s at full rate");
    assert!(
        (1..=3).contains(&keys),
        "{keys} pictures in 4 s on keyframes only"
    );
    assert!(again >= 80, "{again} pictures in 4 s after coming back");
    s.stop_and_join();
}
