//! Playback of recorded footage against the timecodes camsim burns into its pictures: a few
//! seconds recorded from a live-encoded camera, then seeks to random instants, frame steps
//! forward and backward across segment boundaries, and `vigie still --data`.

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use common::{
    add_user, cameras_file, camsim, spawn_recorder, terminate, test_dir, vigie_as,
    wait_for_segments,
};
use vigie::media::{Frame, decode_timecode_luma};
use vigie::playback::{Player, Shown, rfc3339};
use vigie::store::{INDEX_FILE, Store};
use vigie::ui::ReviewWorkspace;

const FRAME_NS: i64 = 40_000_000;

struct Recording {
    data: PathBuf,
    /// Recorded span of cam001.
    from: i64,
    to: i64,
    /// Where its segments meet.
    boundaries: Vec<i64>,
}

/// Ten seconds of four cameras (live-encoded, 640x360, 25 fps, a keyframe a second) in 3 s
/// segments, recorded once for every test of this file.
fn recording() -> &'static Recording {
    static REC: OnceLock<Recording> = OnceLock::new();
    REC.get_or_init(|| {
        let sim = camsim(4, true);
        let dir = test_dir("playback");
        let cameras = cameras_file(&sim, &dir);
        let data = dir.join("data");
        let child = spawn_recorder(&cameras, &data, 3, &[]);
        for cam in ["cam001", "cam002", "cam003", "cam004"] {
            wait_for_segments(&data, cam, 3, Duration::from_secs(90));
        }
        terminate(child);
        add_user(&data, "rev", "reviewer", &["cam001", "cam002"]);
        add_user(&data, "op", "operator", &["*"]);
        add_user(&data, "sup", "supervisor", &["*"]);
        // The site's certificates, made once before tests start servers on this folder side
        // by side.
        common::start_server(&data).stop();
        let store = Store::open_readonly(&data.join(INDEX_FILE)).expect("index");
        let segs = store.segments("cam001", 0, i64::MAX / 2).expect("segments");
        assert!(segs.len() >= 3, "{} segments", segs.len());
        Recording {
            from: segs[0].row.start_utc_ns,
            to: segs.last().unwrap().row.end_utc_ns,
            boundaries: segs[1..].iter().map(|s| s.row.start_utc_ns).collect(),
            data,
        }
    })
}

fn stripe_ns(f: &Frame) -> i64 {
    decode_timecode_luma(f.width, f.height, |x, y| f.luma_at(x, y)) * 1_000_000
}

/// The picture shown is the one captured at the start of its interval (its stripe says so).
fn assert_consistent(s: &Shown) {
    let d = stripe_ns(&s.frame) - s.start_utc_ns;
    assert!(
        d.abs() < FRAME_NS / 2,
        "picture captured at {} shown for the interval starting {}",
        rfc3339(stripe_ns(&s.frame)),
        rfc3339(s.start_utc_ns)
    );
    assert!(s.end_utc_ns > s.start_utc_ns);
}

#[test]
fn a_seek_shows_the_picture_whose_interval_holds_the_instant() {
    let rec = recording();
    let mut player = Player::open(&rec.data, "cam001").expect("player");
    let mut rng = fastrand::Rng::with_seed(4);
    for _ in 0..40 {
        let at = rng.i64(rec.from..rec.to);
        let s = player.frame_at(at).expect("picture");
        assert!(
            s.start_utc_ns <= at && at < s.end_utc_ns,
            "{} not in [{}, {})",
            rfc3339(at),
            rfc3339(s.start_utc_ns),
            rfc3339(s.end_utc_ns)
        );
        assert_consistent(&s);
        // The picture's own timecode is within a frame interval before the instant.
        let captured = stripe_ns(&s.frame);
        assert!(
            (at - captured) < FRAME_NS + FRAME_NS / 2 && captured <= at + FRAME_NS / 2,
            "asked {}, shown captured {}",
            rfc3339(at),
            rfc3339(captured)
        );
    }
    // Outside the recording: a clear error, no picture.
    let err = player
        .frame_at(rec.to + 60_000_000_000)
        .err()
        .expect("nothing there");
    assert!(err.to_string().contains("nothing recorded"), "{err}");
}

#[test]
fn stepping_moves_one_frame_either_way_across_segment_boundaries() {
    let rec = recording();
    let mut player = Player::open(&rec.data, "cam001").expect("player");
    let boundary = rec.boundaries[0];
    // Forward, from a second before the first boundary to a second after it.
    let mut s = player.frame_at(boundary - 1_000_000_000).expect("start");
    let first_segment = s.segment_id;
    for _ in 0..50 {
        let next = player.next(&s).expect("decode").expect("a next picture");
        assert_consistent(&next);
        // One picture on: the timecodes differ by the interval of the picture left (40 ms,
        // or what the simulator's pacing made of it under load).
        let step = stripe_ns(&next.frame) - stripe_ns(&s.frame);
        let interval = next.start_utc_ns - s.start_utc_ns;
        assert!(
            (0..2 * FRAME_NS).contains(&interval) && (step - interval).abs() <= 2_000_000,
            "forward step: timecodes {} ms apart for an interval of {} ms at {}",
            step / 1_000_000,
            interval / 1_000_000,
            rfc3339(s.start_utc_ns)
        );
        assert_eq!(next.start_utc_ns, s.end_utc_ns, "no gap, no overlap");
        s = next;
    }
    assert_ne!(s.segment_id, first_segment, "the boundary was crossed");
    // Backward over the same span: decreasing timecodes, one frame at a time.
    for _ in 0..50 {
        let prev = player
            .previous(&s)
            .expect("decode")
            .expect("a previous picture");
        assert_consistent(&prev);
        let step = stripe_ns(&s.frame) - stripe_ns(&prev.frame);
        let interval = s.start_utc_ns - prev.start_utc_ns;
        assert_eq!(
            prev.end_utc_ns,
            s.start_utc_ns,
            "no gap, no overlap: {} [{}, {}) then {} [{}, {})",
            prev.segment_id,
            prev.start_utc_ns,
            prev.end_utc_ns,
            s.segment_id,
            s.start_utc_ns,
            s.end_utc_ns
        );
        assert!(
            (0..2 * FRAME_NS).contains(&interval) && (step - interval).abs() <= 2_000_000,
            "backward step: timecodes {} ms apart for an interval of {} ms at {}",
            step / 1_000_000,
            interval / 1_000_000,
            rfc3339(s.start_utc_ns)
        );
        s = prev;
    }
    assert_eq!(s.segment_id, first_segment);
    // The ends of the recording.
    let first = player.frame_at(rec.from).expect("first");
    assert!(player.previous(&first).expect("decode").is_none());
}

/// The capture instant burnt into a still of 640x360 (ns).
fn png_timecode(file: &std::path::Path) -> i64 {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(file).expect("png"),
    ));
    let mut reader = decoder.read_info().expect("png header");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("png frame");
    assert_eq!((info.width, info.height), (640, 360));
    let ch = info.color_type.samples();
    decode_timecode_luma(info.width, info.height, |x, y| {
        buf[(y * info.width + x) as usize * ch]
    }) * 1_000_000
}

#[test]
fn review_through_the_server_is_frame_exact_and_logged() {
    let rec = recording();
    let s = common::start_server(&rec.data);
    let api = std::sync::Arc::new(common::signed_in(&s, &rec.data, "rev"));
    let mut remote = Player::with_source(
        Box::new(vigie::client::footage::RemoteFootage::new(api.clone())),
        "cam001",
    );
    let mut local = Player::open(&rec.data, "cam001").expect("player");
    let mut rng = fastrand::Rng::with_seed(13);
    for _ in 0..25 {
        let at = rng.i64(rec.from..rec.to);
        let r = remote.frame_at(at).expect("a picture through the server");
        let l = local.frame_at(at).expect("a picture from the folder");
        assert!(r.start_utc_ns <= at && at < r.end_utc_ns);
        assert_consistent(&r);
        // The same picture, decoded from the same bytes: the same interval and timecode.
        assert_eq!(
            (r.start_utc_ns, r.end_utc_ns, stripe_ns(&r.frame)),
            (l.start_utc_ns, l.end_utc_ns, stripe_ns(&l.frame)),
            "at {}",
            rfc3339(at)
        );
    }
    // Stepping across a segment boundary, both ways, as the local player does.
    let boundary = rec.boundaries[0];
    let mut r = remote.frame_at(boundary - 200_000_000).expect("start");
    for _ in 0..10 {
        r = remote.next(&r).expect("decode").expect("a next picture");
        assert_consistent(&r);
    }
    assert!(r.start_utc_ns >= boundary, "the boundary was crossed");
    for _ in 0..10 {
        r = remote
            .previous(&r)
            .expect("decode")
            .expect("a previous picture");
        assert_consistent(&r);
    }
    // Past the end: no picture, said as the local player says it.
    let e = remote
        .frame_at(rec.to + 60_000_000_000)
        .err()
        .expect("none");
    assert!(e.to_string().contains("nothing recorded"), "{e}");
    // A camera not granted: the server's refusal.
    let mut other = Player::with_source(
        Box::new(vigie::client::footage::RemoteFootage::new(api.clone())),
        "cam003",
    );
    let e = other.frame_at(rec.from + 1).err().expect("refused");
    assert!(e.to_string().contains("may not see camera cam003"), "{e}");

    // A still through the server, by a Unix user who cannot read the data folder.
    let ws = test_dir("playback-still-ws");
    std::fs::set_permissions(&ws, std::os::unix::fs::PermissionsExt::from_mode(0o777))
        .expect("chmod");
    let ca = ws.join("site-ca.pem");
    std::fs::write(&ca, common::server_ca(&rec.data)).expect("CA");
    std::fs::set_permissions(&ca, std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .expect("chmod");
    let at = rec.from + (rec.to - rec.from) / 3 + 11_000_000;
    let out = ws.join("still.png");
    let (ok, _, err) = common::vigie_as_nobody(
        &ws,
        "rev",
        [
            "still",
            "--server",
            &common::server_url(&s),
            "--server-ca",
            ca.to_str().expect("path"),
            "--camera",
            "cam001",
            "--at",
            &rfc3339(at),
            "--out",
            out.to_str().expect("path"),
        ],
    );
    assert!(ok, "{err}");
    let captured = png_timecode(&out);
    assert!(
        captured <= at + FRAME_NS / 2 && at - captured < FRAME_NS + FRAME_NS / 2,
        "asked {}, the still's picture captured {}",
        rfc3339(at),
        rfc3339(captured)
    );

    drop((remote, other));
    s.stop();
    // Viewing is logged: its start at once, its span when the server closes it.
    common::assert_logged(
        &rec.data,
        &[
            "rev playback start cam001",
            "rev playback cam001",
            "rev refused cam003",
            "rev still cam001",
        ],
    );
    let _ = std::fs::remove_dir_all(&ws);
}

#[test]
fn still_renders_the_recorded_picture_at_an_instant() {
    let rec = recording();
    let at = rec.from + (rec.to - rec.from) / 2 + 7_000_000;
    let out = rec.data.with_file_name("still.png");
    let still = |user: &str, camera: &str| {
        vigie_as(
            user,
            [
                "still".as_ref(),
                "--data".as_ref(),
                rec.data.as_os_str(),
                "--camera".as_ref(),
                camera.as_ref(),
                "--at".as_ref(),
                std::ffi::OsStr::new(&rfc3339(at)),
                "--out".as_ref(),
                out.as_os_str(),
            ],
        )
    };
    let (ok, _, err) = still("rev", "cam001");
    assert!(ok, "{err}");
    let captured = png_timecode(&out);
    assert!(
        captured <= at + FRAME_NS / 2 && at - captured < FRAME_NS + FRAME_NS / 2,
        "asked {}, rendered picture captured {}",
        rfc3339(at),
        rfc3339(captured)
    );
    // A camera with no footage: a clear error naming it.
    let (ok, _, err) = still("sup", "cam404");
    assert!(!ok);
    assert!(err.contains("camera cam404: nothing recorded"), "{err}");
    // Reviewers see only their cameras; operators take no stills.
    let (ok, _, err) = still("rev", "cam003");
    assert!(
        !ok && err.contains("rev may not see camera cam003"),
        "{err}"
    );
    let (ok, _, err) = still("op", "cam001");
    assert!(
        !ok && err.contains("op (operator) may not take a still"),
        "{err}"
    );
}

#[test]
fn a_synced_grid_shows_the_same_instant_on_every_tile() {
    let rec = recording();
    let server = common::start_server_with(
        &rec.data,
        vigie::server::indexed_cameras(&rec.data).expect("cameras"),
    );
    let mut ws = common::review_at(&server, &rec.data, "sup", rec.from + 2_000_000_000);
    for (i, cam) in ["cam001", "cam002", "cam003", "cam004"].iter().enumerate() {
        assert!(ws.assign(i, cam));
    }
    let settle = |ws: &mut ReviewWorkspace| {
        let t0 = std::time::Instant::now();
        loop {
            ws.tick();
            if ws.settled() {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "tiles never settled"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    let agree = |ws: &ReviewWorkspace| -> i64 {
        let stripes: Vec<i64> = (0..4)
            .map(|i| stripe_ns(&ws.tile_frame(i).expect("a picture")))
            .collect();
        // Each tile shows the picture whose interval holds the playhead, captured when its
        // interval starts; so the tiles are apart by less than a frame interval (40 ms, or
        // the longest interval shown when the simulator's pacing stretched one).
        let shown = ws.shown();
        let mut longest = FRAME_NS;
        for ((cam, s), stripe) in shown.iter().zip(&stripes) {
            let (a, b) = s.expect("a picture");
            assert!((a..b).contains(&ws.playhead()), "{cam}");
            assert!(
                (stripe - a).abs() < FRAME_NS / 2,
                "{cam}: picture and interval differ"
            );
            longest = longest.max(b - a);
        }
        let spread = stripes.iter().max().unwrap() - stripes.iter().min().unwrap();
        assert!(
            // (Plus the few milliseconds by which a camera's reports and pictures may differ.)
            spread < longest + 3_000_000,
            "tiles {} ms apart at {}",
            spread / 1_000_000,
            rfc3339(ws.playhead())
        );
        stripes[0]
    };
    let mut rng = fastrand::Rng::with_seed(7);
    for _ in 0..8 {
        ws.seek(rng.i64(rec.from + 500_000_000..rec.to - 500_000_000));
        settle(&mut ws);
        agree(&ws);
    }
    // Playing forward at 2x, then backward at 1x: still in step, time going the right way.
    ws.seek(rec.from + 3_000_000_000);
    settle(&mut ws);
    let before = agree(&ws);
    ws.play(4, false);
    let t0 = std::time::Instant::now();
    while t0.elapsed() < Duration::from_millis(1500) {
        ws.tick();
        std::thread::sleep(Duration::from_millis(10));
    }
    ws.pause();
    settle(&mut ws);
    let after = agree(&ws);
    assert!(
        after > before + 2_000_000_000,
        "2x for 1.5 s moved {} ms",
        (after - before) / 1_000_000
    );
    ws.play(3, true);
    let t0 = std::time::Instant::now();
    while t0.elapsed() < Duration::from_millis(1000) {
        ws.tick();
        std::thread::sleep(Duration::from_millis(10));
    }
    ws.pause();
    settle(&mut ws);
    let back = agree(&ws);
    assert!(
        back < after - 500_000_000,
        "reverse moved {} ms",
        (back - after) / 1_000_000
    );
    // At 8x, keyframes only: each picture stands for its whole GOP (a second here).
    ws.seek(rec.from + 500_000_000);
    settle(&mut ws);
    ws.play(6, false);
    let t0 = std::time::Instant::now();
    let mut gop_long = 0;
    while t0.elapsed() < Duration::from_millis(800) {
        ws.tick();
        gop_long += ws
            .shown()
            .iter()
            .filter(|(_, s)| s.is_some_and(|(a, b)| b - a > 500_000_000))
            .count();
        std::thread::sleep(Duration::from_millis(20));
    }
    ws.pause();
    assert!(
        gop_long > 0,
        "fast play shows keyframes standing for their GOPs"
    );
}

#[test]
fn playback_reaches_the_live_edge_of_the_segment_being_recorded() {
    let sim = camsim(1, true);
    let dir = test_dir("live-edge");
    let cameras = cameras_file(&sim, &dir);
    let data = dir.join("data");
    // 60 s segments: nothing is indexed during this test.
    let child = spawn_recorder(&cameras, &data, 60, &[]);
    std::thread::sleep(Duration::from_secs(7));
    let mut player = Player::open(&data, "cam001").expect("player");
    let at = chrono::Utc::now().timestamp_nanos_opt().unwrap() - 2_500_000_000;
    let shown = player.frame_at(at);
    // The same through the site server.
    add_user(&data, "rev", "reviewer", &["cam001"]);
    let s = common::start_server(&data);
    let mut remote = Player::with_source(
        Box::new(vigie::client::footage::RemoteFootage::new(
            std::sync::Arc::new(common::signed_in(&s, &data, "rev")),
        )),
        "cam001",
    );
    let remote_shown = remote.frame_at(at);
    s.stop();
    terminate(child);
    let shown = shown.expect("a picture from the segment being written");
    assert!(shown.segment_id < 0, "not from the index");
    assert!(shown.start_utc_ns <= at && at < shown.end_utc_ns);
    assert_consistent(&shown);
    let r = remote_shown.expect("the same picture through the server");
    assert_eq!(
        (r.start_utc_ns, r.end_utc_ns),
        (shown.start_utc_ns, shown.end_utc_ns)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
