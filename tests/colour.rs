//! The compositor's YUV -> RGB conversion against reference values, on the real GPU path
//! (lavapipe here). Tolerance: 2 levels of 255 per channel.

use vigie::media::{Colorimetry, Frame, Matrix, Range};
use vigie::render::{FULL_UV, Offscreen, StreamId, TileDraw};

/// Y'CbCr bars: greys, primaries, secondaries and a skin tone.
const BARS: [[u8; 3]; 8] = [
    [16, 128, 128],
    [235, 128, 128],
    [81, 90, 240],
    [145, 54, 34],
    [41, 240, 110],
    [210, 16, 146],
    [170, 166, 16],
    [126, 110, 160],
];

/// The standard's equations, in f64, clamped and rounded.
fn reference(ycbcr: [u8; 3], c: Colorimetry) -> [u8; 3] {
    let (kr, kb) = match c.matrix {
        Matrix::Bt601 => (0.299, 0.114),
        Matrix::Bt709 => (0.2126, 0.0722),
    };
    let [y, cb, cr] = ycbcr.map(|v| v as f64);
    let (y, pb, pr) = match c.range {
        Range::Limited => (
            (y - 16.0) / 219.0,
            (cb - 128.0) / 224.0,
            (cr - 128.0) / 224.0,
        ),
        Range::Full => (y / 255.0, (cb - 128.0) / 255.0, (cr - 128.0) / 255.0),
    };
    let r = y + 2.0 * (1.0 - kr) * pr;
    let b = y + 2.0 * (1.0 - kb) * pb;
    let g = (y - kr * r - kb * b) / (1.0 - kr - kb);
    [r, g, b].map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
}

fn bars_frame(c: Colorimetry, nv12: bool) -> Frame {
    let (w, h) = (160u32, 16u32);
    let mut y = vec![0u8; (w * h) as usize];
    let (cw, ch) = (w / 2, h / 2);
    let mut u = vec![0u8; (cw * ch) as usize];
    let mut v = vec![0u8; (cw * ch) as usize];
    for row in 0..h {
        for x in 0..w {
            y[(row * w + x) as usize] = BARS[(x / 20) as usize][0];
        }
    }
    for row in 0..ch {
        for x in 0..cw {
            let bar = BARS[(x / 10) as usize];
            u[(row * cw + x) as usize] = bar[1];
            v[(row * cw + x) as usize] = bar[2];
        }
    }
    if nv12 {
        let uv = u.iter().zip(&v).flat_map(|(a, b)| [*a, *b]).collect();
        Frame::from_nv12(w, h, c, y, uv)
    } else {
        Frame::from_i420(w, h, c, y, u, v)
    }
}

#[test]
fn bt601_and_bt709_limited_and_full_match_the_reference() {
    let mut gpu = Offscreen::new().expect("a wgpu adapter (lavapipe)");
    let mut worst = 0i32;
    for matrix in [Matrix::Bt601, Matrix::Bt709] {
        for range in [Range::Limited, Range::Full] {
            for nv12 in [false, true] {
                let c = Colorimetry { matrix, range };
                gpu.upload(StreamId(1), &bars_frame(c, nv12));
                let img = gpu
                    .render(
                        160,
                        16,
                        &[TileDraw {
                            stream: StreamId(1),
                            rect: [0.0, 0.0, 1.0, 1.0],
                            uv: FULL_UV,
                            brightness: 1.0,
                        }],
                    )
                    .expect("render");
                for (i, bar) in BARS.iter().enumerate() {
                    let got = img.pixel(i as u32 * 20 + 10, 8);
                    let want = reference(*bar, c);
                    for ch in 0..3 {
                        let d = (got[ch] as i32 - want[ch] as i32).abs();
                        worst = worst.max(d);
                        assert!(
                            d <= 2,
                            "{c:?} nv12={nv12} bar {i} {bar:?}: got {got:?}, want {want:?}"
                        );
                    }
                }
            }
        }
    }
    eprintln!("worst channel error: {worst} levels of 255");
}

#[test]
fn dimming_scales_the_picture_and_tiles_land_where_asked() {
    let mut gpu = Offscreen::new().expect("adapter");
    let c = Colorimetry {
        matrix: Matrix::Bt709,
        range: Range::Full,
    };
    let white = Frame::from_i420(8, 8, c, vec![255; 64], vec![128; 16], vec![128; 16]);
    gpu.upload(StreamId(7), &white);
    let img = gpu
        .render(
            64,
            32,
            &[TileDraw {
                stream: StreamId(7),
                rect: [0.5, 0.0, 0.5, 1.0],
                uv: FULL_UV,
                brightness: 0.5,
            }],
        )
        .expect("render");
    assert_eq!(img.pixel(8, 16), [0, 0, 0], "left half is not covered");
    let p = img.pixel(48, 16);
    assert!(
        p.iter().all(|v| (126..=129).contains(v)),
        "dimmed white: {p:?}"
    );
}

/// The CPU conversion (`vigie still --no-gpu`, where no GPU can draw) against the same
/// reference: within one level.
#[test]
fn the_cpu_conversion_matches_the_reference_too() {
    for matrix in [Matrix::Bt601, Matrix::Bt709] {
        for range in [Range::Limited, Range::Full] {
            for nv12 in [false, true] {
                let c = Colorimetry { matrix, range };
                let rgba = bars_frame(c, nv12).to_rgba();
                assert_eq!(rgba.len(), 160 * 16 * 4);
                for (i, bar) in BARS.iter().enumerate() {
                    let at = (8 * 160 + i * 20 + 10) * 4;
                    let got = &rgba[at..at + 3];
                    let want = reference(*bar, c);
                    for ch in 0..3 {
                        assert!(
                            (got[ch] as i32 - want[ch] as i32).abs() <= 1,
                            "{c:?} nv12={nv12} bar {i} {bar:?}: got {got:?}, want {want:?}"
                        );
                    }
                    assert_eq!(rgba[at + 3], 255);
                }
            }
        }
    }
}
