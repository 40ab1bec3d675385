//! Declarative configuration: the cameras file, its credentials, screen layouts and
//! workstation profiles.
//!
//! Contract: plain data parsed from TOML, validated once at load. Every error names the file,
//! the line and the field. Nothing here opens a stream or a window. Passwords live only in
//! [`Credential`], whose `Debug` hides them, and URLs are shown through [`redact_url`].

mod cameras;
mod layout;
mod workstation;

pub use cameras::{
    Camera, CameraKind, CamerasFile, ConfigError, Credential, StreamKind, Transport, redact_url,
    split_userinfo, valid_camera_id,
};
pub use layout::{Layout, LayoutCell, builtin_layouts};
pub use workstation::{
    MAX_SCREENS, ScreenCameras, ScreenProfile, Workstation, builtin_workstations,
};

/// 1-based line of byte offset `pos` in `text`.
pub(crate) fn line_of(text: &str, pos: usize) -> usize {
    text[..pos.min(text.len())]
        .bytes()
        .filter(|&b| b == b'\n')
        .count()
        + 1
}
