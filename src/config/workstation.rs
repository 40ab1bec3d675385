//! Workstation profiles (TOML under `layouts/workstations/`): the screens of one workstation,
//! each on a monitor, full screen or windowed, with its layout and the cameras it opens with.
//!
//! ```toml
//! name = "Supervisor wall"
//! alarm_screen = "Wall 16"   # optional: where alarms show their cameras (else a window)
//! [[screen]]
//! name = "Wall 1"
//! monitor = 0            # 0-based, in the order the system lists them
//! fullscreen = true
//! layout = "12x8"        # a built-in layout's name, or a layout file beside this one
//! first_camera = 1       # 1-based: tiles take the cameras from there on, in the cameras
//!                        # file's order, wrapping round (default: 1)
//! # cameras = ["cam001", "cam017"]   # or these, in reading order (the rest stay empty)
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{ConfigError, Layout, builtin_layouts, line_of};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScreen {
    name: String,
    #[serde(default)]
    monitor: u32,
    #[serde(default)]
    fullscreen: bool,
    layout: String,
    first_camera: Option<u32>,
    cameras: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    name: String,
    alarm_screen: Option<String>,
    screen: Vec<toml::Spanned<RawScreen>>,
}

/// Which cameras a screen opens with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScreenCameras {
    /// From this 0-based index of the cameras file on, wrapping round.
    From(usize),
    /// These camera ids, in reading order.
    List(Vec<String>),
}

/// One screen of a workstation.
#[derive(Clone, Debug, PartialEq)]
pub struct ScreenProfile {
    pub name: String,
    pub monitor: u32,
    pub fullscreen: bool,
    pub layout: Layout,
    pub cameras: ScreenCameras,
}

/// A validated workstation profile.
#[derive(Clone, Debug, PartialEq)]
pub struct Workstation {
    pub name: String,
    pub screens: Vec<ScreenProfile>,
    /// The screen (index) where alarms put their cameras; None: a window of its own.
    pub alarm_screen: Option<usize>,
}

/// At most this many screens on one workstation.
pub const MAX_SCREENS: usize = 16;

impl Workstation {
    pub fn load(path: &Path) -> Result<Workstation, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Workstation, ConfigError> {
        let invalid = |line: usize, field: &str, message: String| ConfigError::Invalid {
            path: PathBuf::from(path),
            line,
            field: field.to_owned(),
            message,
        };
        let raw: RawProfile = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(1);
            invalid(line, "workstation", e.message().trim().to_owned())
        })?;
        if raw.screen.is_empty() || raw.screen.len() > MAX_SCREENS {
            return Err(invalid(
                1,
                "screen",
                format!(
                    "{} screens; a workstation has 1 to {MAX_SCREENS}",
                    raw.screen.len()
                ),
            ));
        }
        let builtin = builtin_layouts();
        let mut screens = Vec::new();
        for spanned in raw.screen {
            let line = line_of(text, spanned.span().start);
            let s = spanned.into_inner();
            if screens.iter().any(|x: &ScreenProfile| x.name == s.name) {
                return Err(invalid(
                    line,
                    "name",
                    format!("{:?} names two screens", s.name),
                ));
            }
            let layout = match builtin.iter().find(|l| l.name == s.layout) {
                Some(l) => l.clone(),
                None => {
                    let file = path.parent().unwrap_or(Path::new(".")).join(&s.layout);
                    if !file.is_file() {
                        let names: Vec<&str> = builtin.iter().map(|l| l.name.as_str()).collect();
                        return Err(invalid(
                            line,
                            "layout",
                            format!(
                                "{:?} is neither a built-in layout ({}) nor a file beside the profile",
                                s.layout,
                                names.join(", ")
                            ),
                        ));
                    }
                    Layout::load(&file)?
                }
            };
            let cameras = match (s.first_camera, s.cameras) {
                (Some(_), Some(_)) => {
                    return Err(invalid(
                        line,
                        "cameras",
                        "give first_camera or cameras, not both".into(),
                    ));
                }
                (Some(0), None) => {
                    return Err(invalid(line, "first_camera", "counts from 1".into()));
                }
                (Some(n), None) => ScreenCameras::From(n as usize - 1),
                (None, Some(list)) => {
                    if list.len() > layout.cells.len() {
                        return Err(invalid(
                            line,
                            "cameras",
                            format!(
                                "{} cameras for the {} tiles of {}",
                                list.len(),
                                layout.cells.len(),
                                layout.name
                            ),
                        ));
                    }
                    ScreenCameras::List(list)
                }
                (None, None) => ScreenCameras::From(0),
            };
            screens.push(ScreenProfile {
                name: s.name,
                monitor: s.monitor,
                fullscreen: s.fullscreen,
                layout,
                cameras,
            });
        }
        let alarm_screen = match &raw.alarm_screen {
            None => None,
            Some(name) => Some(
                screens
                    .iter()
                    .position(|s| &s.name == name)
                    .ok_or_else(|| ConfigError::Invalid {
                        path: path.to_owned(),
                        line: text
                            .find("alarm_screen")
                            .map(|p| line_of(text, p))
                            .unwrap_or(1),
                        field: "alarm_screen".into(),
                        message: format!("{name:?} is not the name of one of its screens"),
                    })?,
            ),
        };
        Ok(Workstation {
            name: raw.name,
            screens,
            alarm_screen,
        })
    }

    /// The camera ids each screen opens with, tile by tile (None: empty tile), given the
    /// cameras file's ids in order. Ids unknown to it are left out, and returned.
    pub fn assignments(&self, ids: &[String]) -> (Vec<Vec<Option<String>>>, Vec<String>) {
        let mut unknown = Vec::new();
        let screens = self
            .screens
            .iter()
            .map(|s| {
                let tiles = s.layout.cells.len();
                match &s.cameras {
                    ScreenCameras::From(first) if !ids.is_empty() => (0..tiles)
                        .map(|i| Some(ids[(first + i) % ids.len()].clone()))
                        .collect(),
                    ScreenCameras::From(_) => vec![None; tiles],
                    ScreenCameras::List(list) => (0..tiles)
                        .map(|i| {
                            let id = list.get(i)?;
                            if ids.contains(id) {
                                Some(id.clone())
                            } else {
                                unknown.push(id.clone());
                                None
                            }
                        })
                        .collect(),
                }
            })
            .collect();
        (screens, unknown)
    }
}

/// The workstation profiles shipped in `layouts/workstations/`, compiled in.
pub fn builtin_workstations() -> Vec<Workstation> {
    const FILES: &[(&str, &str)] = &[
        (
            "supervisor-wall.toml",
            include_str!("../../layouts/workstations/supervisor-wall.toml"),
        ),
        (
            "operator.toml",
            include_str!("../../layouts/workstations/operator.toml"),
        ),
    ];
    FILES
        .iter()
        .filter_map(|(name, text)| {
            Workstation::parse(&Path::new("layouts/workstations").join(name), text).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_profiles_parse() {
        let all = builtin_workstations();
        assert_eq!(all.len(), 2, "both shipped profiles parse");
        let wall = &all[0];
        assert_eq!(wall.screens.len(), 16);
        assert!(
            wall.screens
                .iter()
                .all(|s| s.layout.cells.len() == 96 && s.fullscreen)
        );
        let ids: Vec<String> = (1..=217).map(|i| format!("cam{i:03}")).collect();
        let (tiles, unknown) = wall.assignments(&ids);
        assert!(unknown.is_empty());
        let shown: std::collections::HashSet<&String> = tiles.iter().flatten().flatten().collect();
        assert_eq!(shown.len(), 217, "every camera is on the wall");
        assert_eq!(tiles.iter().flatten().count(), 16 * 96);
    }

    #[test]
    fn errors_name_the_line_and_field() {
        let p = Path::new("ws.toml");
        let e = Workstation::parse(
            p,
            "name = \"x\"\n[[screen]]\nname = \"a\"\nlayout = \"7x7\"\n",
        )
        .expect_err("unknown layout");
        assert!(
            e.to_string().contains("ws.toml:2") && e.to_string().contains("layout"),
            "{e}"
        );
        let e = Workstation::parse(
            p,
            "name = \"x\"\n[[screen]]\nname = \"a\"\nlayout = \"2x2\"\ncameras = [\"a\", \"b\", \"c\", \"d\", \"e\"]\n",
        )
        .expect_err("too many cameras");
        assert!(e.to_string().contains("5 cameras for the 4 tiles"), "{e}");
        let e = Workstation::parse(
            p,
            "name = \"x\"\n[[screen]]\nname = \"a\"\nlayout = \"2x2\"\nmonitr = 1\n",
        )
        .expect_err("typo");
        assert!(e.to_string().contains("monitr"), "{e}");
    }
}
