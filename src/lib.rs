//! Vigie: a control-room video client for a city's video-protection centre.
//!
//! Layers, top to bottom (dependencies point down only; see ARCHITECTURE.md):
//! - [`ui`]: egui workspaces, widgets and input.
//! - [`render`]: the wgpu tile compositor and its shaders.
//! - [`ingest`]: GStreamer pipelines from RTSP to decoded planes; [`sim`]: camera simulator.
//! - [`media`] and [`config`]: plain frame, stream, camera and layout types.
//!
//! - [`record`], [`store`], [`playback`]: the recorder, its SQLite index, recorded playback.
//! - [`auth`]: users, roles, the permission table and the audit log; [`export`]: signed
//!   exports for requisitions.
//!
//! [`cli`] is the command-line front used by `src/main.rs`.

pub mod auth;
pub mod cli;
pub mod client;
pub mod config;
pub mod events;
pub mod export;
pub mod ingest;
pub mod media;
pub mod playback;
pub mod record;
pub mod relay;
pub mod render;
pub mod server;
#[cfg(feature = "site")]
pub mod sim;

// The site server, its recorder and the camera simulator run on Linux; a Windows machine is a
// workstation, built with `--no-default-features`.
#[cfg(all(feature = "site", not(unix)))]
compile_error!(
    "the `site` feature (server, recorder, simulator) builds on Linux only: build a Windows workstation with --no-default-features"
);
pub mod store;
pub mod tiles;
pub mod time;
pub mod ui;
