//! Recording without transcoding: the camera's packets remuxed into segment files.
//!
//! Contract: nothing here decodes video or knows egui/wgpu. So far this holds the fragmented
//! MP4 writer ([`fmp4`]); the recorder service that drives it is described in ARCHITECTURE.md
//! (status: proposed).

pub mod fmp4;
