//! Motion detection on pictures already decoded for the wall (the sub stream): no decode of
//! its own. Each picture's luma is reduced to a 32x18 grid of cell means; a cell moves when it
//! differs from its slowly-updated background by more than a threshold; motion is reported
//! when the moving share of the zone's cells passes the camera's sensitivity, at most once per
//! cool-down.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;

use super::client::EventClient;
use super::{Event, EventKind, event_json};
use crate::config::ConfigError;
use crate::media::{Frame, FrameSlot};

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

/// Motion seen: the moving share of the zone and the box around the moving cells.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Seen {
    pub share: f32,
    pub bbox: [f32; 4],
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

    /// Looks at a picture taken at `at_utc_ns`; `Some` when it shows motion to report.
    pub fn feed(&mut self, frame: &Frame, at_utc_ns: i64) -> Option<Seen> {
        let grid = Self::grid(frame);
        let Some(bg) = self.background.as_mut() else {
            self.background = Some(grid);
            return None;
        };
        let (mut zone, mut moving) = (0usize, 0usize);
        let (mut x0, mut y0, mut x1, mut y1) = (GRID_W, GRID_H, 0, 0);
        for (i, ((g, b), inside)) in grid.iter().zip(bg.iter_mut()).zip(&self.cells).enumerate() {
            if *inside {
                zone += 1;
                if (g - *b).abs() > self.threshold {
                    moving += 1;
                    let (x, y) = (i % GRID_W, i / GRID_W);
                    (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x + 1), y1.max(y + 1));
                }
            }
            // The background follows slow changes (light, weather) in a few seconds.
            *b += (g - *b) * 0.05;
        }
        let share = if zone > 0 {
            moving as f32 / zone as f32
        } else {
            0.0
        };
        if share >= self.share && moving > 0 && at_utc_ns - self.last_report >= self.cooldown_ns {
            self.last_report = at_utc_ns;
            return Some(Seen {
                share,
                bbox: [
                    x0 as f32 / GRID_W as f32,
                    y0 as f32 / GRID_H as f32,
                    (x1 - x0) as f32 / GRID_W as f32,
                    (y1 - y0) as f32 / GRID_H as f32,
                ],
            });
        }
        None
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
            d.feed(&picture(None), 0).is_none(),
            "the first picture is the background"
        );
        assert!(
            d.feed(&picture(None), 40_000_000).is_none(),
            "nothing moved"
        );
        let seen = d
            .feed(&picture(Some((200, 100))), 80_000_000)
            .expect("a square appeared");
        // The square (200..240, 100..140 of 320x180) is inside the box reported.
        let [x, y, w, h] = seen.bbox;
        assert!(
            x <= 0.625 && x + w >= 0.75 && y <= 0.556 && y + h >= 0.777,
            "{:?}",
            seen.bbox
        );
        assert!(
            d.feed(&picture(Some((240, 100))), 120_000_000).is_none(),
            "cool-down"
        );
        // A zone on the left half does not see the right half move.
        let left = MotionZone {
            polygon: vec![[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]],
            ..whole
        };
        let mut d = Detector::new(&left);
        d.feed(&picture(None), 0);
        assert!(d.feed(&picture(Some((220, 100))), 40_000_000).is_none());
        assert!(d.feed(&picture(Some((40, 100))), 80_000_000).is_some());
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawZone {
    camera: String,
    #[serde(default)]
    zone: Vec<[f32; 2]>,
    #[serde(default = "half")]
    sensitivity: f32,
}

fn half() -> f32 {
    0.5
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawZones {
    #[serde(default)]
    motion: Vec<toml::Spanned<RawZone>>,
}

/// Reads a motion file:
///
/// ```toml
/// [[motion]]
/// camera = "cam012"
/// sensitivity = 0.6                                   # 0..1, default 0.5
/// zone = [[0.1, 0.5], [0.6, 0.5], [0.6, 1.0], [0.1, 1.0]]   # optional: else the whole picture
/// ```
pub fn load_zones(path: &Path) -> Result<Vec<MotionZone>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let invalid = |line: usize, field: String, message: String| ConfigError::Invalid {
        path: path.to_owned(),
        line,
        field,
        message,
    };
    let raw: RawZones = toml::from_str(&text).map_err(|e| {
        let line = e
            .span()
            .map(|s| crate::config::line_of(&text, s.start))
            .unwrap_or(1);
        invalid(line, "file".into(), e.message().trim().to_owned())
    })?;
    let mut out = Vec::new();
    for z in raw.motion {
        let line = crate::config::line_of(&text, z.span().start);
        let z = z.into_inner();
        let at = |f: &str, m: String| invalid(line, format!("motion {:?}: {f}", z.camera), m);
        if !(0.0..=1.0).contains(&z.sensitivity) {
            return Err(at(
                "sensitivity",
                format!("{} is not within 0..1", z.sensitivity),
            ));
        }
        if !z.zone.is_empty()
            && (z.zone.len() < 3 || z.zone.iter().flatten().any(|v| !(0.0..=1.0).contains(v)))
        {
            return Err(at(
                "zone",
                "3 or more [x, y] points, fractions of the picture within 0..1".into(),
            ));
        }
        out.push(MotionZone {
            camera: z.camera,
            polygon: z.zone,
            sensitivity: z.sensitivity,
        });
    }
    Ok(out)
}

/// The sub-stream slots shown, by camera, shared with the thread.
type Shown = Arc<Mutex<Vec<(String, Arc<FrameSlot>)>>>;

/// A camera's detector and the picture it last looked at (capture time, PTS).
type Watched = std::collections::HashMap<String, (Detector, Option<(i64, Option<u64>)>)>;

/// The detection thread ("motion"): five times a second it looks at the newest picture of each
/// camera with a zone whose sub stream the wall decodes, and posts an event when it sees motion.
pub struct MotionWatch {
    /// The sub-stream slots shown now, by camera.
    slots: Shown,
    zones: Vec<MotionZone>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MotionWatch {
    pub fn start(zones: Vec<MotionZone>, events: std::net::SocketAddr) -> MotionWatch {
        let slots: Shown = Arc::default();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (s2, st2, z2) = (slots.clone(), stop.clone(), zones.clone());
        let thread = std::thread::Builder::new()
            .name("motion".into())
            .spawn(move || {
                let mut client = EventClient::new(events, None);
                let mut detectors: Watched = z2
                    .iter()
                    .map(|z| (z.camera.clone(), (Detector::new(z), None)))
                    .collect();
                let mut warned = false;
                while !st2.load(std::sync::atomic::Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(200));
                    let shown = s2.lock().unwrap_or_else(|e| e.into_inner()).clone();
                    for (camera, slot) in shown {
                        let (Some((d, last)), Some(f)) = (detectors.get_mut(&camera), slot.last())
                        else {
                            continue;
                        };
                        let id = (f.capture_utc_ms, f.pts_ns);
                        if *last == Some(id) {
                            continue;
                        }
                        *last = Some(id);
                        let now = crate::time::now_utc_ns();
                        if let Some(seen) = d.feed(&f, now) {
                            let e = Event {
                                kind: EventKind::Motion,
                                at_utc_ns: now,
                                camera: Some(camera.clone()),
                                button: None,
                                confidence: Some(seen.share.clamp(0.0, 1.0)),
                                bbox: Some(seen.bbox),
                                location: None,
                            };
                            match client.post("/v1/events", &event_json(&e)) {
                                Ok((201, _)) => {}
                                Ok((s, m)) => {
                                    tracing::warn!("motion on {camera}: event refused: {s} {m}")
                                }
                                Err(e) => {
                                    if !warned {
                                        tracing::warn!(
                                            "motion on {camera}: {events} unreachable: {e}"
                                        );
                                        warned = true;
                                    }
                                }
                            }
                        }
                    }
                }
            })
            .ok();
        MotionWatch {
            slots,
            zones,
            stop,
            thread,
        }
    }

    /// True when `camera` has a zone.
    pub fn watches(&self, camera: &str) -> bool {
        self.zones.iter().any(|z| z.camera == camera)
    }

    /// The sub-stream slots the wall shows now (of cameras with a zone).
    pub fn set_shown(&self, shown: Vec<(String, Arc<FrameSlot>)>) {
        *self.slots.lock().unwrap_or_else(|e| e.into_inner()) = shown;
    }
}

impl Drop for MotionWatch {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
