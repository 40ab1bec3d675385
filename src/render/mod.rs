//! GPU rendering of video tiles with wgpu.
//!
//! Contract: runs on the thread that owns the wgpu device (the UI thread inside eframe's
//! paint callbacks, or the caller of [`Offscreen`]). Takes [`crate::media::Frame`]s, never
//! GStreamer types; knows nothing of egui widgets or SQL. YUV -> RGB happens in
//! `shaders/tiles.wgsl`.

mod compositor;
mod offscreen;

pub use compositor::{
    Compositor, CompositorStats, MASK_RGB, Polygon, StreamId, TileDraw, fit_rect, polygon_contains,
};
pub use offscreen::{Offscreen, RenderError, RgbaImage};

/// The whole picture, for `TileDraw::uv`.
pub const FULL_UV: [f32; 4] = [0.0, 0.0, 1.0, 1.0];
