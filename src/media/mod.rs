//! Plain frame and stream types shared by every layer.
//!
//! Contract: nothing here knows GStreamer, wgpu, egui or SQL. Producers (`ingest`, later
//! `playback`) fill a [`FrameSlot`]; consumers (`render`) take the newest frame from it. Every
//! method is non-blocking apart from a short uncontended mutex, so the GStreamer streaming
//! thread and the UI thread can both call them.

mod frame;
mod polygon;
mod slot;
mod timecode;

pub use frame::{Colorimetry, Frame, FramePlanes, Matrix, PixelFormat, Range, VecPlanes};
pub use polygon::{Polygon, polygon_contains};
pub use slot::{FrameSlot, SlotStats, StreamState};
pub use timecode::{TIMECODE_CELLS, cell_span, decode_timecode_luma, stripe_height};
