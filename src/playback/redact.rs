//! Masked copies of recorded footage, for a citizen's access request: the recording decoded,
//! the privacy masks painted in the masks' colour, third parties' regions pixelated (blocks
//! averaged: what was there cannot be recovered), re-encoded to H.264 in an MP4.
//!
//! `GopDecoder` -> pictures as I420 -> masks and blur painted on the CPU (a per-pixel plan made
//! once per picture size) -> `appsrc ! x264enc ! h264parse ! mp4mux ! filesink`.

use std::path::Path;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use super::decode::GopDecoder;
use crate::ingest::VideoCodec;
use crate::media::{Frame, Matrix, PixelFormat, Range};
use crate::render::{MASK_RGB, Polygon, polygon_contains as inside};

/// What to hide.
#[derive(Clone, Debug, Default)]
pub struct Redaction {
    /// Privacy masks: painted in the masks' colour.
    pub masks: Vec<Polygon>,
    /// Third parties: pixelated.
    pub blur: Vec<Polygon>,
}

const NONE: u8 = 0;
const MASK: u8 = 1;
const BLUR: u8 = 2;

/// Which pixels of a `w` x `h` picture are masked or blurred (masks win).
struct Plan {
    w: usize,
    h: usize,
    luma: Vec<u8>,
    chroma: Vec<u8>,
    block: usize,
    any_blur: bool,
}

impl Plan {
    fn new(w: usize, h: usize, r: &Redaction) -> Plan {
        let class = |fx: f32, fy: f32| {
            if r.masks.iter().any(|p| inside(p, fx, fy)) {
                MASK
            } else if r.blur.iter().any(|p| inside(p, fx, fy)) {
                BLUR
            } else {
                NONE
            }
        };
        let luma: Vec<u8> = (0..h)
            .flat_map(|y| (0..w).map(move |x| (x, y)))
            .map(|(x, y)| class((x as f32 + 0.5) / w as f32, (y as f32 + 0.5) / h as f32))
            .collect();
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let chroma = (0..ch)
            .flat_map(|y| (0..cw).map(move |x| (x, y)))
            .map(|(x, y)| class((x as f32 + 0.5) / cw as f32, (y as f32 + 0.5) / ch as f32))
            .collect();
        Plan {
            w,
            h,
            any_blur: luma.contains(&BLUR),
            luma,
            chroma,
            block: (w / 32).max(8) & !1,
        }
    }
}

/// The masks' colour as Y'CbCr for `matrix` and `range`.
fn mask_yuv(matrix: Matrix, range: Range) -> [u8; 3] {
    let (kr, kb) = matrix.coefficients();
    let [r, g, b] = MASK_RGB.map(|v| v as f32 / 255.0);
    let y = kr * r + (1.0 - kr - kb) * g + kb * b;
    let pb = (b - y) / (2.0 * (1.0 - kb));
    let pr = (r - y) / (2.0 * (1.0 - kr));
    let (ys, cs, y0) = match range {
        Range::Limited => (219.0, 224.0, 16.0),
        Range::Full => (255.0, 255.0, 0.0),
    };
    [
        (y0 + ys * y).round() as u8,
        (128.0 + cs * pb).round() as u8,
        (128.0 + cs * pr).round() as u8,
    ]
}

/// Replaces the `BLUR` samples of a plane by the mean of their block.
fn pixelate(plane: &mut [u8], w: usize, h: usize, class: &[u8], block: usize) {
    for by in (0..h).step_by(block) {
        for bx in (0..w).step_by(block) {
            let rows = by..(by + block).min(h);
            let cols = bx..(bx + block).min(w);
            let mut hit = false;
            let (mut sum, mut n) = (0u32, 0u32);
            for y in rows.clone() {
                for x in cols.clone() {
                    hit |= class[y * w + x] == BLUR;
                    sum += plane[y * w + x] as u32;
                    n += 1;
                }
            }
            if hit {
                let mean = (sum / n.max(1)) as u8;
                for y in rows.clone() {
                    for x in cols.clone() {
                        if class[y * w + x] == BLUR {
                            plane[y * w + x] = mean;
                        }
                    }
                }
            }
        }
    }
}

/// A tightly packed I420 copy of `f` with `plan` painted in.
fn redacted_i420(f: &Frame, plan: &Plan) -> Vec<u8> {
    let (w, h) = (plan.w, plan.h);
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let mut out = vec![0u8; w * h + 2 * cw * ch];
    let (y_out, c_out) = out.split_at_mut(w * h);
    let (u_out, v_out) = c_out.split_at_mut(cw * ch);
    let (ys, yp) = (f.planes.stride(0), f.planes.plane(0));
    for row in 0..h {
        y_out[row * w..row * w + w].copy_from_slice(&yp[row * ys..row * ys + w]);
    }
    match f.format {
        PixelFormat::I420 => {
            for (i, dst) in [(1, &mut *u_out), (2, &mut *v_out)] {
                let (s, p) = (f.planes.stride(i), f.planes.plane(i));
                for row in 0..ch {
                    dst[row * cw..row * cw + cw].copy_from_slice(&p[row * s..row * s + cw]);
                }
            }
        }
        PixelFormat::Nv12 => {
            let (s, p) = (f.planes.stride(1), f.planes.plane(1));
            for row in 0..ch {
                for x in 0..cw {
                    u_out[row * cw + x] = p[row * s + 2 * x];
                    v_out[row * cw + x] = p[row * s + 2 * x + 1];
                }
            }
        }
    }
    if plan.any_blur {
        pixelate(y_out, w, h, &plan.luma, plan.block);
        pixelate(u_out, cw, ch, &plan.chroma, plan.block / 2);
        pixelate(v_out, cw, ch, &plan.chroma, plan.block / 2);
    }
    let [my, mu, mv] = mask_yuv(f.colorimetry.matrix, f.colorimetry.range);
    for (px, c) in y_out.iter_mut().zip(&plan.luma) {
        if *c == MASK {
            *px = my;
        }
    }
    for ((u, v), c) in u_out.iter_mut().zip(v_out.iter_mut()).zip(&plan.chroma) {
        if *c == MASK {
            *u = mu;
            *v = mv;
        }
    }
    out
}

struct Encoder {
    pipeline: gst::Pipeline,
    src: gst_app::AppSrc,
    plan: Plan,
}

/// Decodes recorded access units and writes the redacted pictures to an MP4.
pub struct Redactor {
    decoder: GopDecoder,
    redaction: Redaction,
    out: std::path::PathBuf,
    encoder: Option<Encoder>,
    pictures: u64,
}

impl Redactor {
    pub fn new(
        codec: VideoCodec,
        config: &[u8],
        redaction: Redaction,
        out: &Path,
    ) -> Result<Redactor, String> {
        Ok(Redactor {
            decoder: GopDecoder::new(codec, config)?,
            redaction,
            out: out.to_owned(),
            encoder: None,
            pictures: 0,
        })
    }

    fn encoder(&mut self, f: &Frame) -> Result<&mut Encoder, String> {
        if self.encoder.is_none() {
            let launch = format!(
                "appsrc name=src format=time is-live=false ! x264enc speed-preset=faster bframes=0 key-int-max=50 \
                 ! video/x-h264,profile=high ! h264parse ! mp4mux faststart=true ! filesink name=sink location=\"{}\"",
                self.out.display().to_string().replace('"', "")
            );
            let pipeline = gst::parse::launch(&launch)
                .map_err(|e| format!("the encoder (x264enc, mp4mux) is not usable: {e}"))?
                .downcast::<gst::Pipeline>()
                .map_err(|_| "the encoder is not a pipeline".to_string())?;
            let src = pipeline
                .by_name("src")
                .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
                .ok_or("no appsrc in the encoder")?;
            let (matrix, range) = (f.colorimetry.matrix, f.colorimetry.range);
            src.set_caps(Some(
                &gst::Caps::builder("video/x-raw")
                    .field("format", "I420")
                    .field("width", f.width as i32)
                    .field("height", f.height as i32)
                    .field("framerate", gst::Fraction::new(0, 1))
                    .field(
                        "colorimetry",
                        match (matrix, range) {
                            (Matrix::Bt709, Range::Limited) => "bt709",
                            (Matrix::Bt601, Range::Limited) => "bt601",
                            (Matrix::Bt709, Range::Full) => "1:3:5:1",
                            (Matrix::Bt601, Range::Full) => "1:4:0:0",
                        },
                    )
                    .build(),
            ));
            pipeline
                .set_state(gst::State::Playing)
                .map_err(|e| format!("starting the encoder: {e}"))?;
            let plan = Plan::new(f.width as usize, f.height as usize, &self.redaction);
            self.encoder = Some(Encoder {
                pipeline,
                src,
                plan,
            });
        }
        self.encoder.as_mut().ok_or_else(|| "no encoder".into())
    }

    /// Decodes one GOP — `units` with their presentation times (ns from the file's start) and
    /// durations — and encodes the pictures shown in `[from_ns, to_ns)`, timed from `from_ns`.
    pub fn gop(
        &mut self,
        units: Vec<(Vec<u8>, u64, u64)>,
        from_ns: u64,
        to_ns: u64,
    ) -> Result<(), String> {
        let times: Vec<(u64, u64)> = units.iter().map(|(_, p, d)| (*p, *d)).collect();
        let frames = self
            .decoder
            .decode(units.into_iter().map(|(d, p, _)| (d, p)).collect())?;
        for (f, (pts, dur)) in frames.iter().zip(times) {
            let end = pts + dur;
            if end <= from_ns || pts >= to_ns {
                continue;
            }
            let start = pts.max(from_ns);
            let enc = self.encoder(f)?;
            if (enc.plan.w, enc.plan.h) != (f.width as usize, f.height as usize) {
                return Err("the picture size changed within one file".into());
            }
            let data = redacted_i420(f, &enc.plan);
            let mut buffer = gst::Buffer::from_mut_slice(data);
            if let Some(b) = buffer.get_mut() {
                b.set_pts(gst::ClockTime::from_nseconds(start - from_ns));
                b.set_duration(gst::ClockTime::from_nseconds(end.min(to_ns) - start));
            }
            enc.src
                .push_buffer(buffer)
                .map_err(|e| format!("the encoder refused a picture: {e:?}"))?;
            self.pictures += 1;
        }
        Ok(())
    }

    /// Ends the file: waits for the encoder and muxer to finish. Returns the pictures written.
    pub fn finish(mut self) -> Result<u64, String> {
        let Some(enc) = self.encoder.take() else {
            return Err("no picture in the range".into());
        };
        enc.src
            .end_of_stream()
            .map_err(|e| format!("ending the encode: {e:?}"))?;
        let bus = enc.pipeline.bus().ok_or("encoder without a bus")?;
        let outcome = match bus.timed_pop_filtered(
            gst::ClockTime::from_seconds(120),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        ) {
            Some(msg) => match msg.view() {
                gst::MessageView::Error(e) => Err(format!("encoding: {}", e.error().message())),
                _ => Ok(self.pictures),
            },
            None => Err("the encoder did not finish within 120 s".into()),
        };
        let _ = enc.pipeline.set_state(gst::State::Null);
        outcome
    }
}

impl Drop for Redactor {
    fn drop(&mut self) {
        if let Some(enc) = self.encoder.take() {
            let _ = enc.pipeline.set_state(gst::State::Null);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_masks_colour_in_yuv_converts_back() {
        // BT.709 limited: R'G'B' (56, 56, 64) -> Y'CbCr and back within 8-bit quantisation.
        let [y, cb, cr] = mask_yuv(Matrix::Bt709, Range::Limited);
        let (y, pb, pr) = (
            (y as f32 - 16.0) / 219.0,
            (cb as f32 - 128.0) / 224.0,
            (cr as f32 - 128.0) / 224.0,
        );
        let r = y + 2.0 * (1.0 - 0.2126) * pr;
        let b = y + 2.0 * (1.0 - 0.0722) * pb;
        let g = (y - 0.2126 * r - 0.0722 * b) / (1.0 - 0.2126 - 0.0722);
        for (got, want) in [r, g, b].iter().zip(MASK_RGB) {
            assert!((got * 255.0 - want as f32).abs() <= 2.5, "{got} {want}");
        }
    }

    #[test]
    fn blur_blocks_take_their_mean_and_masks_win() {
        let r = Redaction {
            masks: vec![vec![[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]]],
            blur: vec![vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]],
        };
        let plan = Plan::new(32, 16, &r);
        assert_eq!(plan.luma[0], MASK);
        assert_eq!(plan.luma[31], BLUR);
        let mut plane: Vec<u8> = (0..32 * 16).map(|i| (i % 32) as u8 * 4).collect();
        pixelate(&mut plane, 32, 16, &plan.luma, 8);
        // Right half: each 8x8 block is flat.
        for by in [0, 8] {
            for bx in [16, 24] {
                let v = plane[by * 32 + bx];
                assert!((0..8).all(|y| (0..8).all(|x| plane[(by + y) * 32 + bx + x] == v)));
            }
        }
    }
}
