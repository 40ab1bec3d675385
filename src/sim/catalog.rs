//! The demo city: 217 cameras around the centre of Valenciennes, from `assets/demo-cameras.toml`.

use std::path::Path;

use crate::config::{Camera, CamerasFile};

/// The demo cameras file as shipped (URLs point at camsim's default address).
pub const DEMO_CAMERAS_TOML: &str = include_str!("../../assets/demo-cameras.toml");

/// The shipped demo cameras.
pub fn demo_cameras() -> Vec<Camera> {
    CamerasFile::parse(Path::new("assets/demo-cameras.toml"), DEMO_CAMERAS_TOML)
        .map(|f| f.cameras)
        .unwrap_or_default()
}

/// Camera `number` (1-based) of a simulator listening on `authority` ("127.0.0.1:8554"):
/// the demo camera's name and position where there is one, a generated one past 217.
pub fn sim_camera(number: u32, authority: &str, demo: &[Camera]) -> Camera {
    let id = format!("cam{number:03}");
    let base = demo.get(number as usize - 1).cloned();
    let (heading_deg, fov_deg) = match &base {
        Some(c) => (c.heading_deg, c.fov_deg),
        None => (Some((number * 137 % 360) as f32), Some(70.0)),
    };
    let (name, zone, latitude, longitude, kind) = match base {
        Some(c) => (c.name, c.zone, c.latitude, c.longitude, c.kind),
        None => {
            let k = number as f64;
            (
                format!("Caméra simulée {number}"),
                "Simulation".to_owned(),
                50.3579 + 0.004 * (k * 0.7).sin(),
                3.5235 + 0.006 * (k * 1.3).cos(),
                crate::config::CameraKind::Fixed,
            )
        }
    };
    Camera {
        main_url: format!("rtsp://{authority}/{id}/main"),
        sub_url: Some(format!("rtsp://{authority}/{id}/sub")),
        id,
        name,
        zone,
        latitude,
        longitude,
        kind,
        credentials: None,
        retention_days: None,
        heading_deg,
        fov_deg,
        transport: Default::default(),
        credential: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_city_has_217_cameras_near_valenciennes() {
        let cams = demo_cameras();
        assert_eq!(cams.len(), 217);
        for c in &cams {
            assert!(
                (50.33..50.38).contains(&c.latitude) && (3.49..3.57).contains(&c.longitude),
                "{}",
                c.id
            );
        }
        assert!(
            cams.iter()
                .any(|c| c.kind == crate::config::CameraKind::Mobile)
        );
    }
}
