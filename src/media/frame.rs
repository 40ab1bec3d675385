//! A decoded picture as planes of bytes, with what the shader needs to turn it into RGB.

use std::sync::Arc;

/// Planar YUV layouts that leave the decoders. Both are 4:2:0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PixelFormat {
    /// Y plane, then one plane of interleaved U/V pairs (hardware decoders).
    Nv12,
    /// Y plane, U plane, V plane (libav).
    I420,
}

impl PixelFormat {
    /// Number of planes a frame of this format carries.
    pub fn planes(self) -> usize {
        match self {
            PixelFormat::Nv12 => 2,
            PixelFormat::I420 => 3,
        }
    }
}

/// YUV -> RGB matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Matrix {
    Bt601,
    Bt709,
}

impl Matrix {
    /// The (Kr, Kb) luma coefficients of the matrix.
    pub fn coefficients(self) -> (f32, f32) {
        match self {
            Matrix::Bt601 => (0.299, 0.114),
            Matrix::Bt709 => (0.2126, 0.0722),
        }
    }
}

/// Quantisation range of the samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Range {
    /// Y in 16..=235, chroma in 16..=240 ("TV", what cameras send).
    Limited,
    /// 0..=255 ("PC", JPEG).
    Full,
}

/// Colour description of a stream, read from its caps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Colorimetry {
    pub matrix: Matrix,
    pub range: Range,
}

impl Default for Colorimetry {
    /// What an H.264 stream without VUI colour data means in practice for SD/HD cameras.
    fn default() -> Self {
        Colorimetry {
            matrix: Matrix::Bt709,
            range: Range::Limited,
        }
    }
}

/// Access to the bytes of each plane, whoever owns them (a mapped GStreamer buffer, a `Vec`).
pub trait FramePlanes: Send + Sync {
    /// Bytes of plane `index`, `stride(index)` bytes per row.
    fn plane(&self, index: usize) -> &[u8];
    /// Row pitch of plane `index` in bytes.
    fn stride(&self, index: usize) -> usize;
}

/// Planes held in plain vectors: used by tests, the colour checks and synthetic pictures.
pub struct VecPlanes {
    pub planes: Vec<Vec<u8>>,
    pub strides: Vec<usize>,
}

impl FramePlanes for VecPlanes {
    fn plane(&self, index: usize) -> &[u8] {
        &self.planes[index]
    }
    fn stride(&self, index: usize) -> usize {
        self.strides[index]
    }
}

/// One decoded picture. Cloning is cheap (the planes are shared).
#[derive(Clone)]
pub struct Frame {
    pub width: u32,
    pub height: u32,
    pub format: PixelFormat,
    pub colorimetry: Colorimetry,
    pub planes: Arc<dyn FramePlanes>,
    /// Presentation time in the stream's own timeline, nanoseconds.
    pub pts_ns: Option<u64>,
    /// When the camera captured the picture (UTC, ms since the epoch), where the stream says so
    /// (RTCP sender reports); otherwise when it arrived here.
    pub capture_utc_ms: i64,
    /// True when `capture_utc_ms` is the arrival time rather than the camera's own clock.
    pub timed_on_arrival: bool,
}

impl Frame {
    /// Width and height of the chroma planes (4:2:0, rounded up).
    pub fn chroma_size(&self) -> (u32, u32) {
        (self.width.div_ceil(2), self.height.div_ceil(2))
    }

    /// Luma sample at (x, y). For tests and diagnostics, not for the hot path.
    pub fn luma_at(&self, x: u32, y: u32) -> u8 {
        self.planes.plane(0)[y as usize * self.planes.stride(0) + x as usize]
    }

    /// The picture as 8-bit RGBA, converted on the CPU with the stream's matrix and range (the
    /// compositor's shader does the same on the GPU). For a still without a GPU, not for the
    /// live path.
    pub fn to_rgba(&self) -> Vec<u8> {
        let (kr, kb) = self.colorimetry.matrix.coefficients();
        let kg = 1.0 - kr - kb;
        let (y_off, y_scale, c_scale) = match self.colorimetry.range {
            Range::Limited => (16.0, 255.0 / 219.0, 255.0 / 224.0),
            Range::Full => (0.0, 1.0, 1.0),
        };
        let p = &self.planes;
        let (w, h) = (self.width as usize, self.height as usize);
        let mut out = Vec::with_capacity(w * h * 4);
        for y in 0..h {
            let row = &p.plane(0)[y * p.stride(0)..y * p.stride(0) + w];
            for (x, &luma) in row.iter().enumerate() {
                let (cx, cy) = (x / 2, y / 2);
                let (u, v) = match self.format {
                    PixelFormat::I420 => (
                        p.plane(1)[cy * p.stride(1) + cx],
                        p.plane(2)[cy * p.stride(2) + cx],
                    ),
                    PixelFormat::Nv12 => {
                        let uv = &p.plane(1)[cy * p.stride(1) + 2 * cx..];
                        (uv[0], uv[1])
                    }
                };
                let yy = (luma as f32 - y_off) * y_scale;
                let pb = (u as f32 - 128.0) * c_scale;
                let pr = (v as f32 - 128.0) * c_scale;
                let r = yy + 2.0 * (1.0 - kr) * pr;
                let b = yy + 2.0 * (1.0 - kb) * pb;
                let g = (yy - kr * r - kb * b) / kg;
                let q = |c: f32| c.round().clamp(0.0, 255.0) as u8;
                out.extend_from_slice(&[q(r), q(g), q(b), 255]);
            }
        }
        out
    }

    /// Builds an I420 frame from tightly packed planes (tests, synthetic pictures).
    pub fn from_i420(
        width: u32,
        height: u32,
        colorimetry: Colorimetry,
        y: Vec<u8>,
        u: Vec<u8>,
        v: Vec<u8>,
    ) -> Frame {
        let cw = width.div_ceil(2) as usize;
        Frame {
            width,
            height,
            format: PixelFormat::I420,
            colorimetry,
            planes: Arc::new(VecPlanes {
                planes: vec![y, u, v],
                strides: vec![width as usize, cw, cw],
            }),
            pts_ns: None,
            capture_utc_ms: 0,
            timed_on_arrival: true,
        }
    }

    /// Builds an NV12 frame from tightly packed planes (tests, synthetic pictures).
    pub fn from_nv12(
        width: u32,
        height: u32,
        colorimetry: Colorimetry,
        y: Vec<u8>,
        uv: Vec<u8>,
    ) -> Frame {
        let cw = width.div_ceil(2) as usize * 2;
        Frame {
            width,
            height,
            format: PixelFormat::Nv12,
            colorimetry,
            planes: Arc::new(VecPlanes {
                planes: vec![y, uv],
                strides: vec![width as usize, cw],
            }),
            pts_ns: None,
            capture_utc_ms: 0,
            timed_on_arrival: true,
        }
    }
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frame")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("format", &self.format)
            .field("colorimetry", &self.colorimetry)
            .field("pts_ns", &self.pts_ns)
            .field("capture_utc_ms", &self.capture_utc_ms)
            .finish_non_exhaustive()
    }
}
