//! Recorded footage fetched from the site server, one GOP a request, for the same
//! [`crate::playback::Player`] that reads the data folder on the server: the workstation decodes
//! and draws; it never opens the index or a segment file.

use std::sync::Arc;

use super::{Api, ClientError, path_segment};
use crate::playback::{FootageSource, Near, PlaybackError, RawGop};

/// GOPs asked of the server through a signed-in [`Api`].
pub struct RemoteFootage {
    api: Arc<Api>,
}

impl RemoteFootage {
    pub fn new(api: Arc<Api>) -> RemoteFootage {
        RemoteFootage { api }
    }
}

impl FootageSource for RemoteFootage {
    fn gop(&mut self, camera: &str, at: i64, near: Near) -> Result<RawGop, PlaybackError> {
        let path = format!(
            "/v1/cameras/{}/gop?at={at}&near={}",
            path_segment(camera),
            near.as_str()
        );
        match self.api.get_bytes(&path) {
            Ok(wire) => RawGop::decode(&wire).map_err(|why| {
                PlaybackError::Server(format!(
                    "camera {camera}: the server's GOP could not be read: {why}"
                ))
            }),
            Err(ClientError::Refused {
                status: 404,
                message,
            }) if message.contains("nothing recorded") => Err(PlaybackError::NoFootage {
                camera: camera.to_owned(),
                at: crate::time::rfc3339(at),
            }),
            Err(e) => Err(PlaybackError::Server(e.to_string())),
        }
    }
}

/// The latest recorded keyframe of a camera, for the mask editor (`GET
/// /v1/cameras/ID/mask-still`: allowed to those who edit masks, logged by the server).
pub struct MaskStill {
    api: Arc<Api>,
}

impl MaskStill {
    pub fn new(api: Arc<Api>) -> MaskStill {
        MaskStill { api }
    }
}

impl FootageSource for MaskStill {
    fn gop(&mut self, camera: &str, _at: i64, _near: Near) -> Result<RawGop, PlaybackError> {
        let wire = self
            .api
            .get_bytes(&format!("/v1/cameras/{}/mask-still", path_segment(camera)))
            .map_err(|e| PlaybackError::Server(e.to_string()))?;
        RawGop::decode(&wire).map_err(|why| {
            PlaybackError::Server(format!(
                "camera {camera}: the server's still could not be read: {why}"
            ))
        })
    }
}
