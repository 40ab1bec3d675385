//! Privacy masks (CSI L251-3): drawn by an administrator, they hide the same pixels, in one
//! constant colour, in a still, in playback and in live view; who may edit them is checked and
//! every change is logged.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{CLIP_S as S, CLIP_T0 as T0, add_user, clip_recording, vigie_as};
use egui_kittest::Harness;
use vigie::auth::{Role, Session};
use vigie::config::Camera;
use vigie::media::FrameSlot;
use vigie::render::MASK_RGB;
use vigie::sim::{Painter, demo_cameras};
use vigie::store::{INDEX_FILE, Store};
use vigie::ui::{LiveApp, LiveWorkspace, ReviewApp};

/// The mask of cam001: the right half of the upper part of the picture.
const POLYGON: [[f32; 2]; 4] = [[0.5, 0.1], [0.95, 0.1], [0.95, 0.6], [0.5, 0.6]];

fn polygon_arg() -> String {
    POLYGON
        .iter()
        .map(|[x, y]| format!("{x},{y}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn read_png(path: &std::path::Path) -> (u32, u32, Vec<[u8; 3]>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(path).expect("png"),
    ));
    let mut reader = decoder.read_info().expect("png header");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("png frame");
    let ch = info.color_type.samples();
    let px = buf
        .chunks(ch)
        .take((info.width * info.height) as usize)
        .map(|c| [c[0], c[1], c[2]])
        .collect();
    (info.width, info.height, px)
}

/// Pixels in exactly the mask's colour.
fn mask_pixels(rgba: &[u8]) -> usize {
    rgba.chunks(4).filter(|p| p[..3] == MASK_RGB).count()
}

#[test]
fn masks_hide_the_same_pixels_in_stills_playback_and_live() {
    let data = clip_recording("masks");
    add_user(&data, "admin", "administrator", &[]);
    add_user(&data, "sup", "supervisor", &["*"]);
    add_user(&data, "rev", "reviewer", &["*"]);
    let masks = |user: &str, args: &[&str]| {
        vigie_as(
            user,
            ["masks"]
                .iter()
                .chain(args)
                .map(std::ffi::OsString::from)
                .chain(["--data".into(), data.clone().into_os_string()]),
        )
    };
    // Who may: administrators; a bad polygon is named.
    let (ok, _, err) = masks(
        "rev",
        &["add", "--camera", "cam001", "--polygon", &polygon_arg()],
    );
    assert!(
        !ok && err.contains("rev (reviewer) may not edit privacy masks"),
        "{err}"
    );
    let (ok, _, err) = masks(
        "admin",
        &[
            "add",
            "--camera",
            "cam001",
            "--polygon",
            "0.1,0.1 0.2,0.1 1.5,0.3",
        ],
    );
    assert!(
        !ok && err.contains("point 3 (1.5,0.3) is outside the picture"),
        "{err}"
    );
    let (ok, out, err) = masks(
        "admin",
        &[
            "add",
            "--camera",
            "cam001",
            "--polygon",
            &polygon_arg(),
            "--label",
            "fenêtres du n° 12",
        ],
    );
    assert!(ok && out.contains("mask 1 on cam001"), "{err}");
    let (ok, out, _) = masks("admin", &["list"]);
    assert!(
        ok && out.contains("cam001") && out.contains("fenêtres"),
        "{out}"
    );

    // A still: inside the polygon every pixel is the mask's colour; outside, the pixels are
    // those of cam002 (the same clip, no mask).
    let at = T0 + 2 * S + 500_000_000;
    let still = |camera: &str| {
        let out = data.join(format!("{camera}.png"));
        let (ok, _, err) = vigie_as(
            "sup",
            [
                "still".as_ref(),
                "--data".as_ref(),
                data.as_os_str(),
                "--camera".as_ref(),
                std::ffi::OsStr::new(camera),
                "--at".as_ref(),
                std::ffi::OsStr::new(&vigie::time::rfc3339(at)),
                "--out".as_ref(),
                out.as_os_str(),
            ],
        );
        assert!(ok, "{err}");
        read_png(&out)
    };
    let (w, h, masked) = still("cam001");
    let (_, _, plain) = still("cam002");
    let (mut inside, mut outside, mut differs_inside) = (0, 0, 0);
    for y in 0..h {
        for x in 0..w {
            let (fx, fy) = ((x as f32 + 0.5) / w as f32, (y as f32 + 0.5) / h as f32);
            let margin = 1.5 / w as f32;
            let i = (y * w + x) as usize;
            let inner =
                fx > 0.5 + margin && fx < 0.95 - margin && fy > 0.1 + margin && fy < 0.6 - margin;
            let outer =
                fx < 0.5 - margin || fx > 0.95 + margin || fy < 0.1 - margin || fy > 0.6 + margin;
            if inner {
                inside += 1;
                assert_eq!(masked[i], MASK_RGB, "pixel {x},{y} under the mask");
                differs_inside += (plain[i] != MASK_RGB) as usize;
            } else if outer {
                outside += 1;
                assert_eq!(masked[i], plain[i], "pixel {x},{y} outside the mask");
            }
        }
    }
    assert!(inside > 10_000 && outside > 30_000, "{inside} {outside}");
    assert_eq!(
        differs_inside, inside,
        "the unmasked picture is not the mask's colour"
    );

    // Playback: the review grid, one tile, through a site server.
    let server = common::start_server(&data);
    let mut ws = common::review_at(&server, &data, "sup", at);
    ws.set_grid(1);
    assert!(ws.assign(0, "cam001"));
    let mut h = Harness::builder()
        .with_size([1000.0, 700.0])
        .wgpu()
        .build_eframe(move |cc| ReviewApp::new(cc, ws));
    let settle = |h: &mut Harness<'static, ReviewApp>| {
        let t0 = Instant::now();
        loop {
            h.run_steps(1);
            if h.state_mut().workspace().expect("open").settled() {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "playback did not settle"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        h.run_steps(2);
        mask_pixels(h.render().expect("render").as_raw())
    };
    let masked_px = settle(&mut h);
    eprintln!("playback masked pixels: {masked_px}");
    assert!(h.state_mut().workspace().expect("open").assign(0, "cam002"));
    let plain_px = settle(&mut h);
    assert!(
        masked_px > 10_000 && plain_px < 500,
        "playback: {masked_px} mask pixels with the mask, {plain_px} without"
    );
    drop(h);

    // Live: the wall, one tile, signed in.
    let cams: Vec<Camera> = demo_cameras().into_iter().take(2).collect();
    assert_eq!(cams[0].id, "cam001");
    let slots: Vec<Arc<FrameSlot>> = (0..2)
        .map(|i| {
            let slot = FrameSlot::new();
            slot.publish(Painter::new(i + 1, 640, 360, 50).frame(3, 1_795_000_000_000));
            slot
        })
        .collect();
    let mut wall = LiveWorkspace::new(cams.clone(), None, Box::new(common::Slots(cams, slots)));
    assert!(wall.set_layout("1x1"));
    common::wall_signed_in(&mut wall, &server, &data, "sup");
    let mut h = Harness::builder()
        .with_size([1000.0, 700.0])
        .wgpu()
        .build_eframe(move |cc| LiveApp::new(cc, wall, Vec::new()));
    let live = |h: &mut Harness<'static, LiveApp>| {
        let t0 = Instant::now();
        while !h.state_mut().workspace().masks_ready() {
            h.run_steps(1);
            assert!(t0.elapsed() < Duration::from_secs(20), "masks not read");
            std::thread::sleep(Duration::from_millis(20));
        }
        h.run_steps(3);
        mask_pixels(h.render().expect("render").as_raw())
    };
    let masked_px = live(&mut h);
    eprintln!("live masked pixels: {masked_px}");
    // A supervisor lifts them for an emergency, then puts them back: both logged.
    h.state_mut()
        .workspace()
        .lift_masks("cam001", "incendie signalé au n° 12")
        .expect("a supervisor may lift");
    let lifted_px = live(&mut h);
    assert!(lifted_px < 500, "lifted: {lifted_px} mask pixels");
    h.state_mut().workspace().restore_masks("cam001");
    let restored_px = live(&mut h);
    assert!(
        masked_px > 10_000 && restored_px >= masked_px * 9 / 10,
        "restored: {restored_px} mask pixels against {masked_px} before the lift"
    );
    let operator = Session {
        user: "op".into(),
        role: Role::Operator,
        cameras: vec!["*".into()],
    };
    let refused =
        vigie::ui::masks::Lifts::default().lift(&operator, "cam001", "curious", &mut |_| {});
    assert!(refused.is_err_and(|e| e.contains("op (operator) may not lift a privacy mask")));
    assert!(h.state_mut().workspace().assign(0, "cam002"));
    let plain_px = live(&mut h);
    assert!(
        masked_px > 10_000 && plain_px < 500,
        "live: {masked_px} mask pixels with the mask, {plain_px} without"
    );
    drop(h);

    // Removing is logged too; the trail names the administrator.
    let (ok, _, err) = masks("admin", &["remove", "--id", "1"]);
    assert!(ok, "{err}");
    common::assert_logged(
        &data,
        &[
            "rev refused ",
            "admin mask added cam001",
            "sup still cam001",
            "sup mask lifted cam001",
            "sup mask restored cam001",
            "admin mask removed cam001",
        ],
    );
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn an_administrator_draws_a_mask_over_a_still() {
    draw_a_mask(false);
}

#[test]
fn an_administrator_draws_a_mask_through_the_site_server() {
    draw_a_mask(true);
}

/// The editor signed in at a site server that does everything; then, with `remove`, the mask
/// removed again, else a snapshot with a second polygon being drawn.
fn draw_a_mask(remove: bool) {
    let data = clip_recording(if remove {
        "mask-editor-server"
    } else {
        "mask-editor"
    });
    add_user(&data, "admin", "administrator", &[]);
    // The server serves the cameras the index knows.
    let server = common::start_server_with(
        &data,
        vigie::server::indexed_cameras(&data).expect("cameras"),
    );
    let target = (common::server_url(&server), common::server_ca(&data));
    let mut h = Harness::builder()
        .with_size([1000.0, 700.0])
        .wgpu()
        .build_eframe(move |cc| vigie::ui::MaskEditorApp::signing_in(cc, &target));
    h.run_steps(2);
    common::sign_in_ui(&mut h, "admin", common::PASSWORD);
    let wait = |h: &mut Harness<'static, vigie::ui::MaskEditorApp>,
                what: &str,
                ok: &dyn Fn(&mut vigie::ui::MaskEditorApp) -> bool| {
        let t0 = Instant::now();
        while !ok(h.state_mut()) {
            assert!(t0.elapsed() < Duration::from_secs(20), "{what}");
            h.run_steps(1);
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait(&mut h, "signed in", &|app| app.editor().is_some());
    h.state_mut().editor().expect("editor").select("cam002");
    wait(&mut h, "the still", &|app| {
        app.editor().expect("editor").still_ready()
    });
    let e = h.state_mut().editor().expect("editor");
    for p in [[0.1, 0.1], [0.4, 0.1], [0.4, 0.5], [0.1, 0.5]] {
        e.add_point(p);
    }
    e.save();
    wait(&mut h, "the saved mask", &|app| {
        app.editor().expect("editor").masks().len() == 1
    });
    let m = h.state_mut().editor().expect("editor").masks()[0].clone();
    assert_eq!(
        (m.camera_id.as_str(), m.author.as_str(), m.polygon.len()),
        ("cam002", "admin", 4)
    );
    if remove {
        // The mask is in the index, and it goes again.
        let in_force = Store::open_readonly(&data.join(INDEX_FILE))
            .expect("index")
            .masks(Some("cam002"))
            .expect("masks");
        assert_eq!(in_force.len(), 1);
        h.state_mut().editor().expect("editor").remove(m.id);
        wait(&mut h, "the mask removed", &|app| {
            app.editor().expect("editor").masks().is_empty()
        });
        drop(h);
        server.stop();
        common::assert_logged(
            &data,
            &[
                "admin login ",
                "admin mask editor still cam002",
                "admin mask added cam002",
                "admin mask removed cam002",
            ],
        );
        let _ = std::fs::remove_dir_all(&data);
        return;
    }
    // One point of a second polygon, to show one being drawn.
    h.state_mut()
        .editor()
        .expect("editor")
        .add_point([0.6, 0.7]);
    h.run_steps(3);
    h.snapshot("mask_editor");
    drop(h);
    common::assert_logged(
        &data,
        &[
            "admin login ",
            "admin mask editor still cam002",
            "admin mask added cam002",
        ],
    );
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn a_citizens_copy_is_masked_re_encoded_signed_and_recorded() {
    let data = clip_recording("access");
    add_user(&data, "rev", "reviewer", &["*"]);
    Store::open(&data.join(INDEX_FILE))
        .expect("index")
        .add_mask(&vigie::store::Mask {
            id: 0,
            camera_id: "cam001".into(),
            polygon: POLYGON.to_vec(),
            label: "fenêtres".into(),
            author: "admin".into(),
            created_utc_ns: T0,
        })
        .expect("mask");
    let out = data.join("DA-2026-003");
    let request = |extra: &[&str]| {
        let mut args: Vec<std::ffi::OsString> = [
            "access-request",
            "--camera",
            "cam001",
            "--from",
            &vigie::time::rfc3339(T0 + S),
            "--to",
            &vigie::time::rfc3339(T0 + 4 * S),
            "--reference",
            "DA-2026-003",
            "--requester",
            "Mme Claire Dubois",
            "--identity-check",
            "carte d'identité no. 123456 vue au guichet par rev",
            "--reason",
            "droit d'accès (art. L253-5 CSI)",
        ]
        .iter()
        .map(std::ffi::OsString::from)
        .collect();
        args.extend(extra.iter().map(std::ffi::OsString::from));
        args.push("--data".into());
        args.push(data.clone().into_os_string());
        vigie_as("rev", args)
    };
    let (ok, _, err) = request(&[
        "--out",
        out.to_str().expect("utf-8"),
        "--blur",
        "cam001:0.0,0.62 0.3,0.62 0.3,0.98 0.0,0.98",
    ]);
    assert!(ok, "{err}");

    // Verifiable like any export, and says what it is.
    let (ok, said) = {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_vigie"))
            .arg("verify")
            .arg(&out)
            .output()
            .expect("verify");
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
        )
    };
    assert!(ok && said.contains("OK: 1 files intact"), "{said}");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).expect("manifest"))
            .expect("JSON");
    assert_eq!(manifest["masked"], true);
    assert_eq!(manifest["purpose"], "citizen access request");
    assert_eq!(manifest["access_request"]["requester"], "Mme Claire Dubois");
    let video = out.join(manifest["files"][0]["name"].as_str().expect("a video file"));

    // Every picture: under the mask, luma is the mask's, constant, give or take the encoder's
    // rounding.
    let raw = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&video)
        .args(["-f", "rawvideo", "-pix_fmt", "gray", "-"])
        .output()
        .expect("ffmpeg");
    assert!(raw.status.success());
    let (w, h) = (320usize, 240usize);
    let frames = raw.stdout.len() / (w * h);
    assert!(
        (70..=80).contains(&frames),
        "{frames} pictures for 3 s at 25 fps"
    );
    for (n, f) in raw.stdout.chunks(w * h).enumerate() {
        let (mut lo, mut hi) = (255u8, 0u8);
        for y in 0..h {
            for x in 0..w {
                let (fx, fy) = ((x as f32 + 0.5) / w as f32, (y as f32 + 0.5) / h as f32);
                // Away from the edges, where the encoder's blocks straddle the mask.
                if fx > 0.53 && fx < 0.92 && fy > 0.14 && fy < 0.56 {
                    lo = lo.min(f[y * w + x]);
                    hi = hi.max(f[y * w + x]);
                }
            }
        }
        // Flat, at the mask's luma: 65 in limited range, which ffmpeg's gray output scales
        // to full range (57).
        assert!(
            hi - lo <= 3 && (54..=68).contains(&lo),
            "picture {n}: luma under the mask from {lo} to {hi}"
        );
    }

    // A refusal is recorded with its ground.
    let (ok, stdout, err) = request(&["--refuse", "images déjà effacées (durée de conservation)"]);
    assert!(ok && stdout.contains("refused"), "{err}");
    common::assert_logged(
        &data,
        &[
            "rev citizen access export cam001",
            "rev citizen access refused cam001",
        ],
    );
    let _ = std::fs::remove_dir_all(&data);
}
