//! Recording without transcoding: the camera's packets remuxed into segment files.
//!
//! Contract: nothing here decodes video or knows egui/wgpu. So far this holds the fragmented
//! MP4 writer ([`fmp4`]) and the index/file checker ([`check`]); the recorder service that
//! drives them is described in ARCHITECTURE.md (status: proposed).

pub mod check;
pub mod fmp4;
pub mod reconcile;
pub mod recorder;
pub mod retention;
pub mod segment;
