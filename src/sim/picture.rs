//! The simulated cameras' pictures: a field in the camera's colour, a moving square, and the
//! timecode stripe (see [`crate::media::stripe_height`]). The camera's name and clock are
//! added as text by the encoding pipeline.
//!
//! Colour of camera number `n` (1 for cam001): hue `(n - 1) * 137.508` degrees (the golden
//! angle, so neighbours differ strongly), saturation 0.70, value 0.75, converted to 8-bit
//! R'G'B' and then to Y'CbCr with the BT.709 matrix in limited range. [`camera_rgb`] and
//! [`camera_ycbcr`] compute it; tests compare tiles against it.

use crate::media::{Colorimetry, Frame, Matrix, Range, TIMECODE_CELLS, cell_span, stripe_height};

/// The camera's field colour as 8-bit R'G'B'.
pub fn camera_rgb(number: u32) -> [u8; 3] {
    let h = ((number.saturating_sub(1)) as f64 * 137.508).rem_euclid(360.0) / 60.0;
    let (s, v) = (0.70, 0.75);
    let c = v * s;
    let x = c * (1.0 - (h.rem_euclid(2.0) - 1.0).abs());
    let (r, g, b) = match h as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = v - c;
    let q = |t: f64| ((t + m) * 255.0).round().clamp(0.0, 255.0) as u8;
    [q(r), q(g), q(b)]
}

/// The camera's field colour as limited-range BT.709 Y'CbCr.
pub fn camera_ycbcr(number: u32) -> [u8; 3] {
    rgb_to_ycbcr709(camera_rgb(number))
}

/// 8-bit R'G'B' to limited-range BT.709 Y'CbCr.
pub fn rgb_to_ycbcr709([r, g, b]: [u8; 3]) -> [u8; 3] {
    let (kr, kb) = (0.2126, 0.0722);
    let (r, g, b) = (r as f64 / 255.0, g as f64 / 255.0, b as f64 / 255.0);
    let y = kr * r + (1.0 - kr - kb) * g + kb * b;
    let cb = (b - y) / (2.0 * (1.0 - kb));
    let cr = (r - y) / (2.0 * (1.0 - kr));
    let q = |t: f64| t.round().clamp(0.0, 255.0) as u8;
    [
        q(16.0 + 219.0 * y),
        q(128.0 + 224.0 * cb),
        q(128.0 + 224.0 * cr),
    ]
}

/// Paints I420 pictures of one simulated camera into a reused buffer.
pub struct Painter {
    pub width: u32,
    pub height: u32,
    colour: [u8; 3],
    /// Frames for the moving square to cross the picture and come back.
    period: u32,
}

impl Painter {
    pub fn new(number: u32, width: u32, height: u32, period_frames: u32) -> Painter {
        Painter {
            width,
            height,
            colour: camera_ycbcr(number),
            period: period_frames.max(2),
        }
    }

    /// Size in bytes of one I420 picture.
    pub fn frame_bytes(&self) -> usize {
        let (w, h) = (self.width as usize, self.height as usize);
        w * h + 2 * w.div_ceil(2) * h.div_ceil(2)
    }

    /// Frame number `index` carrying `timecode_ms` as a decoded picture would arrive (I420,
    /// BT.709 limited range), for tests and previews that need no encoder.
    pub fn frame(&self, index: u64, timecode_ms: i64) -> Frame {
        let mut buf = vec![0u8; self.frame_bytes()];
        self.paint(index, timecode_ms, &mut buf);
        let (w, h) = (self.width as usize, self.height as usize);
        let mut y = buf;
        let mut u = y.split_off(w * h);
        let v = u.split_off(w.div_ceil(2) * h.div_ceil(2));
        let c = Colorimetry {
            matrix: Matrix::Bt709,
            range: Range::Limited,
        };
        let mut f = Frame::from_i420(self.width, self.height, c, y, u, v);
        f.capture_utc_ms = timecode_ms;
        f
    }

    /// Paints frame number `index` carrying `timecode_ms` into `out` (I420, tightly packed).
    pub fn paint(&self, index: u64, timecode_ms: i64, out: &mut [u8]) {
        let (w, h) = (self.width as usize, self.height as usize);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let (y_plane, chroma) = out.split_at_mut(w * h);
        let (u_plane, v_plane) = chroma.split_at_mut(cw * ch);
        let [yc, uc, vc] = self.colour;
        y_plane.fill(yc);
        u_plane.fill(uc);
        v_plane.fill(vc);

        // Moving square: crosses the lower half left to right and back over `period` frames.
        let side = ((h / 5) & !1).max(2);
        let phase = (index % self.period as u64) as f64 / self.period as f64;
        let tri = 1.0 - (2.0 * phase - 1.0).abs();
        let x0 = (((w - side) as f64 * tri) as usize) & !1;
        let y0 = ((h * 3 / 5) & !1).min(h - side);
        for row in y_plane[y0 * w..(y0 + side) * w].chunks_exact_mut(w) {
            row[x0..x0 + side].fill(235);
        }
        for row in y0 / 2..(y0 + side) / 2 {
            u_plane[row * cw + x0 / 2..row * cw + (x0 + side) / 2].fill(128);
            v_plane[row * cw + x0 / 2..row * cw + (x0 + side) / 2].fill(128);
        }

        // Timecode stripe.
        let sh = stripe_height(self.height) as usize;
        for k in 0..TIMECODE_CELLS {
            let value = if (timecode_ms >> (47 - k)) & 1 == 1 {
                235
            } else {
                16
            };
            let span = cell_span(k, self.width);
            for row in y_plane[..sh * w].chunks_exact_mut(w) {
                row[span.start as usize..span.end as usize].fill(value);
            }
        }
        u_plane[..sh / 2 * cw].fill(128);
        v_plane[..sh / 2 * cw].fill(128);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::decode_timecode_luma;

    #[test]
    fn colours_are_distinct_for_neighbouring_cameras() {
        for n in 1..217 {
            let (a, b) = (camera_rgb(n), camera_rgb(n + 1));
            let d: i32 = a
                .iter()
                .zip(b)
                .map(|(x, y)| (*x as i32 - y as i32).abs())
                .sum();
            assert!(d > 60, "cam{n:03} and the next are too close: {a:?} {b:?}");
        }
        assert_eq!(camera_rgb(1), [191, 57, 57]);
    }

    #[test]
    fn painted_timecode_reads_back() {
        let p = Painter::new(3, 640, 360, 50);
        let mut buf = vec![0; p.frame_bytes()];
        let t = 1_790_000_000_123;
        p.paint(7, t, &mut buf);
        assert_eq!(
            decode_timecode_luma(640, 360, |x, y| buf[(y * 640 + x) as usize]),
            t
        );
        assert_eq!(buf[640 * 100 + 320], camera_ycbcr(3)[0]);
    }
}
