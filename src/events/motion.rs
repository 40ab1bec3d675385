//! Motion detection on pictures already decoded for the wall (the sub stream): no decode of
//! its own. Each picture's luma is reduced to a 32x18 grid of cell means; a cell moves when it
//! differs from its slowly-updated background by more than a threshold; motion is reported
//! when the moving share of the zone's cells passes the camera's sensitivity, at most once per
//! cool-down.

use crate::media::Frame;

pub const GRID_W: usize = 32;
pub const GRID_H: usize = 18;

/// A camera's motion settings.
#[derive(Clone, Debug, PartialEq)]
pub struct MotionZone {
    pub camera: String,
    /// Polygon in picture fractions; empty: the whole picture.
    pub polygon: crate::media::Polygon,
    /// 0 (only large changes) to 1 (the smallest change).
    pub sensitivity: f32,
}

/// One camera's detector.
pub struct Detector {
    /// Cells of the zone.
    cells: Vec<bool>,
    background: Option<Vec<f32>>,
    threshold: f32,
    share: f32,
    cooldown_ns: i64,
    last_report: i64,
}

impl Detector {
    pub fn new(zone: &MotionZone) -> Detector {
        let cells = (0..GRID_W * GRID_H)
            .map(|i| {
                let x = ((i % GRID_W) as f32 + 0.5) / GRID_W as f32;
                let y = ((i / GRID_W) as f32 + 0.5) / GRID_H as f32;
                zone.polygon.len() < 3 || crate::media::polygon_contains(&zone.polygon, x, y)
            })
            .collect();
        let s = zone.sensitivity.clamp(0.0, 1.0);
        Detector {
            cells,
            background: None,
            // Luma difference of a cell: 40 at sensitivity 0 down to 8 at 1.
            threshold: 40.0 - 32.0 * s,
            // Moving share of the zone: 5 % at sensitivity 0 down to 0.2 % at 1.
            share: 0.05 - 0.048 * s,
            cooldown_ns: 10_000_000_000,
            last_report: i64::MIN / 2,
        }
    }

    fn grid(frame: &Frame) -> Vec<f32> {
        let mut out = vec![0f32; GRID_W * GRID_H];
        let (w, h) = (frame.width as usize, frame.height as usize);
        if w < GRID_W || h < GRID_H {
            return out;
        }
        // 4x4 samples per cell: enough to see a person-sized change, cheap at any size.
        for (i, cell) in out.iter_mut().enumerate() {
            let (cx, cy) = (i % GRID_W, i / GRID_W);
            let mut sum = 0u32;
            for sy in 0..4 {
                for sx in 0..4 {
                    let x = (cx * (w / GRID_W) + (2 * sx + 1) * (w / GRID_W) / 8).min(w - 1);
                    let y = (cy * (h / GRID_H) + (2 * sy + 1) * (h / GRID_H) / 8).min(h - 1);
                    sum += frame.luma_at(x as u32, y as u32) as u32;
                }
            }
            *cell = sum as f32 / 16.0;
        }
        out
    }

    /// Looks at a picture taken at `at_utc_ns`; true when it shows motion to report.
    pub fn feed(&mut self, frame: &Frame, at_utc_ns: i64) -> bool {
        let grid = Self::grid(frame);
        let Some(bg) = self.background.as_mut() else {
            self.background = Some(grid);
            return false;
        };
        let (mut zone, mut moving) = (0usize, 0usize);
        for ((g, b), inside) in grid.iter().zip(bg.iter_mut()).zip(&self.cells) {
            if *inside {
                zone += 1;
                if (g - *b).abs() > self.threshold {
                    moving += 1;
                }
            }
            // The background follows slow changes (light, weather) in a few seconds.
            *b += (g - *b) * 0.05;
        }
        let seen = zone > 0 && moving as f32 / zone as f32 >= self.share;
        if seen && at_utc_ns - self.last_report >= self.cooldown_ns {
            self.last_report = at_utc_ns;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picture(square_at: Option<(u32, u32)>) -> Frame {
        let (w, h) = (320u32, 180u32);
        let mut y = vec![60u8; (w * h) as usize];
        if let Some((sx, sy)) = square_at {
            for yy in sy..sy + 40 {
                for xx in sx..sx + 40 {
                    y[(yy * w + xx) as usize] = 220;
                }
            }
        }
        let c = vec![128u8; (w * h / 4) as usize];
        Frame::from_i420(w, h, Default::default(), y, c.clone(), c)
    }

    #[test]
    fn a_moving_square_is_seen_only_in_its_zone() {
        let whole = MotionZone {
            camera: "cam001".into(),
            polygon: Vec::new(),
            sensitivity: 0.5,
        };
        let mut d = Detector::new(&whole);
        assert!(
            !d.feed(&picture(None), 0),
            "the first picture is the background"
        );
        assert!(!d.feed(&picture(None), 40_000_000), "nothing moved");
        assert!(
            d.feed(&picture(Some((200, 100))), 80_000_000),
            "a square appeared"
        );
        assert!(
            !d.feed(&picture(Some((240, 100))), 120_000_000),
            "cool-down"
        );
        // A zone on the left half does not see the right half move.
        let left = MotionZone {
            polygon: vec![[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]],
            ..whole
        };
        let mut d = Detector::new(&left);
        d.feed(&picture(None), 0);
        assert!(!d.feed(&picture(Some((220, 100))), 40_000_000));
        assert!(d.feed(&picture(Some((40, 100))), 80_000_000));
    }
}
