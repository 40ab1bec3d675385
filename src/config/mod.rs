//! Declarative configuration: the cameras file, its credentials, screen layouts and
//! workstation profiles.
//!
//! Contract: plain data parsed from TOML, validated once at load. Every error names the file,
//! the line and the field. Nothing here opens a stream or a window. Passwords live only in
//! [`Credential`], whose `Debug` hides them, and URLs are shown through [`redact_url`].

mod cameras;
pub mod dirs;
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

/// The permission bits of `path` when every user may read it (a file holding a secret must
/// not be); None when others may not. Windows protects files with access lists, not mode
/// bits: None there.
pub(crate) fn readable_by_all(path: &std::path::Path) -> std::io::Result<Option<u32>> {
    let meta = std::fs::metadata(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode();
        Ok((mode & 0o004 != 0).then_some(mode & 0o777))
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        Ok(None)
    }
}

/// 1-based line of byte offset `pos` in `text`.
pub(crate) fn line_of(text: &str, pos: usize) -> usize {
    text[..pos.min(text.len())]
        .bytes()
        .filter(|&b| b == b'\n')
        .count()
        + 1
}
