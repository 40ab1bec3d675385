//! The live workspace: a camera tree, a wall of tiles in a layout, per-tile overlays.
//!
//! Runs on the UI thread and never waits: it asks the [`StreamProvider`] for slots (which
//! opens streams in the background), takes whatever frame each slot holds, and hands frames
//! and tile rectangles to one paint callback for the whole wall.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Local, TimeZone, Utc};
use eframe::egui_wgpu;
use egui::{Align2, Color32, FontId, Key, Rect, Sense, Stroke, StrokeKind, Vec2, pos2, vec2};

mod alarm_wall;

use super::alarms::AlarmBoard;
use super::map::MapView;
use super::video::VideoCallback;
use crate::auth::{Action, Session, audit};
use crate::client::masks::MaskWatch;
use crate::client::views::{SavedView, ScreenView, ViewStore};
use crate::client::wall::{WallCommand, WallFeed, WallMessage};
use crate::config::{Camera, Layout, StreamKind, Workstation, builtin_layouts};
use crate::ingest::StreamManager;
use crate::ingest::budget::{BudgetStream, DecodeBudget};
use crate::media::{FrameSlot, StreamState};
use crate::playback::worker::Request as PlaybackRequest;
use crate::render::{FULL_UV, StreamId, TileDraw, fit_rect};

/// Where the workspace gets decoded streams from: the real [`StreamManager`], or prepared
/// slots in tests.
pub trait StreamProvider {
    /// The slot of a stream, opening it if needed; marks it as in use this frame.
    fn want(&mut self, camera: &Camera, kind: StreamKind) -> Arc<FrameSlot>;
    /// Stops streams no tile used for a while.
    fn collect(&mut self);
    /// Streams being decoded.
    fn active(&self) -> usize;
    fn set_waker(&mut self, waker: Arc<dyn Fn() + Send + Sync>);
    /// Takes every stream from the site server's live connection from now on (the streams
    /// open are closed). Prepared slots ignore it.
    fn use_relay(&mut self, _relay: Arc<dyn crate::relay::Relay>) {}
    /// True when the streams come through the site server (which then logs the live views).
    fn relayed(&self) -> bool {
        false
    }
}

impl StreamProvider for StreamManager {
    fn want(&mut self, camera: &Camera, kind: StreamKind) -> Arc<FrameSlot> {
        StreamManager::want(self, camera, kind)
    }
    fn collect(&mut self) {
        StreamManager::collect(self)
    }
    fn active(&self) -> usize {
        StreamManager::active(self)
    }
    fn set_waker(&mut self, waker: Arc<dyn Fn() + Send + Sync>) {
        StreamManager::set_waker(self, waker)
    }
    fn use_relay(&mut self, relay: Arc<dyn crate::relay::Relay>) {
        self.shutdown();
        self.set_relay(relay);
    }
    fn relayed(&self) -> bool {
        StreamManager::relayed(self)
    }
}

impl Drop for LiveWorkspace {
    /// The views still on screen stop with the window; lifted masks are put back.
    fn drop(&mut self) {
        if let Some((session, writer)) = &self.session {
            self.lifts.restore_all(session, &mut |e| writer.log(e));
        }
        if let Some((session, writer)) = &self.session
            && !self.watching.is_empty()
            && !self.streams.relayed()
        {
            let cams: Vec<&str> = self
                .watching
                .iter()
                .map(|&ci| self.cameras[ci].id.as_str())
                .collect();
            writer.log(session.entry("live view stop", &cams.join(","), None, "", ""));
        }
    }
}

type ByCamera = std::collections::HashMap<String, Arc<Vec<crate::render::Polygon>>>;

/// Tile height in physical pixels from which the main stream is used...
const MAIN_ABOVE_PX: f32 = 480.0;
/// ...and below which a tile goes back to the sub stream.
const SUB_BELOW_PX: f32 = 360.0;

#[derive(Clone, Copy, Default)]
struct TileState {
    camera: Option<usize>,
    main: bool,
    /// The tile replays the camera's recording around the alarm on screen.
    replay: bool,
}

/// Source of "now" (a seam for snapshot tests).
pub type Clock = Box<dyn Fn() -> DateTime<Utc>>;

/// One screen of the workstation: its layout, tiles and selection.
#[derive(Clone, Default)]
struct Screen {
    name: String,
    layout: usize,
    tiles: Vec<TileState>,
    selected: usize,
    maximised: Option<usize>,
    /// Which stream each tile showed in the last frame drawn.
    shown_kinds: Vec<Option<StreamKind>>,
    /// Borderless full screen on this monitor (index in the system's order).
    monitor: Option<usize>,
    /// False while the screen's window is minimised or covered: its tiles ask for no video
    /// (their streams stop after the stream manager's grace period unless another screen
    /// shows them).
    visible: bool,
}

impl Screen {
    fn new(name: &str, layout: usize, tiles: Vec<TileState>) -> Screen {
        Screen {
            name: name.to_owned(),
            layout,
            tiles,
            visible: true,
            ..Default::default()
        }
    }
}

pub struct LiveWorkspace {
    cameras: Vec<Camera>,
    layouts: Vec<Layout>,
    /// The workstation's screens; the first is the main window.
    screens: Vec<Screen>,
    /// The screen the camera tree, the top bar and the keyboard act on.
    active: usize,
    search: String,
    streams: Box<dyn StreamProvider>,
    clock: Clock,
    waker_installed: bool,
    /// "Review…" opens the review window on this site server (URL, CA file).
    review_server: Option<(String, Option<std::path::PathBuf>)>,
    /// The signed-in user and where their live views are logged.
    session: Option<(Session, audit::Writer)>,
    /// Cameras (indices) on screen at the last frame (their views are logged as they start and
    /// stop).
    watching: BTreeSet<usize>,
    /// Once signed in: the privacy masks, kept current (nothing is drawn before they are read).
    masks: Option<MaskWatch>,
    /// The site server the wall signed in at: alarms, masks and replays come from it.
    server: Option<Arc<crate::client::Api>>,
    /// The cameras come from the server at sign-in (no cameras file on this workstation).
    cameras_from_server: bool,
    /// The most live video this workstation receives, kbit/s (a remote room on a slow link).
    bandwidth_cap_kbps: Option<u32>,
    /// Masks a supervisor lifted (logged).
    lifts: super::masks::Lifts,
    /// Decoded pixels per second per decoder kind, and the streams put on keyframes only.
    budget: DecodeBudget,
    /// This frame's streams and their most important tile (filled by each screen drawn).
    frame_streams: HashMap<u64, (Arc<FrameSlot>, f64)>,
    /// Once signed in: the user's saved views and salvos.
    views: Option<ViewStore>,
    /// The name typed for a view to save.
    view_name: String,
    /// This workstation's name (the machine's unless given): where wall commands are sent.
    workstation: String,
    /// The profile to open again on the cameras handed at sign-in.
    profile: Option<Workstation>,
    /// Signed in at the server: the wall commands relayed to this workstation, and the state
    /// of that link when it is not connected.
    wall: Option<WallFeed>,
    wall_link: Option<String>,
    /// Once signed in: the shared alarm list.
    alarms: Option<AlarmBoard>,
    alarm_panel_open: bool,
    /// The screen where alarms put their cameras (made when the first alarm comes if the
    /// workstation names none), and the alarm it shows.
    alarm_screen: Option<usize>,
    alarm_shown: Option<i64>,
    /// Replays on the alarm screen, by camera index, and their workers being started.
    replays: HashMap<usize, alarm_wall::Replay>,
    replay_rx: Option<std::sync::mpsc::Receiver<alarm_wall::ReplayStarted>>,
    /// The map window.
    map_open: bool,
    map: MapView,
    /// The map was centred on the alarm it focuses.
    map_centred: bool,
    /// Motion detection on the sub streams shown (off unless zones are given).
    motion: Option<crate::events::motion::MotionWatch>,
    /// Alarm sounds on, and when the last one played.
    sounds: bool,
    last_sound: Option<std::time::Instant>,
}

impl LiveWorkspace {
    /// A wall over `cameras`, first tiles filled with the first cameras.
    pub fn new(
        cameras: Vec<Camera>,
        layout: Option<Layout>,
        streams: Box<dyn StreamProvider>,
    ) -> LiveWorkspace {
        let mut layouts = builtin_layouts();
        let layout_index = match layout {
            Some(l) => match layouts.iter().position(|x| *x == l) {
                Some(i) => i,
                None => {
                    layouts.push(l);
                    layouts.len() - 1
                }
            },
            None => layouts.iter().position(|l| l.name == "4x4").unwrap_or(0),
        };
        let cells = layouts.iter().map(|l| l.cells.len()).max().unwrap_or(1);
        let tiles = (0..cells)
            .map(|i| TileState {
                camera: (i < cameras.len()).then_some(i),
                ..Default::default()
            })
            .collect();
        LiveWorkspace {
            cameras,
            layouts,
            screens: vec![Screen::new("Screen 1", layout_index, tiles)],
            active: 0,
            search: String::new(),
            streams,
            clock: Box::new(Utc::now),
            waker_installed: false,
            review_server: None,
            session: None,
            watching: BTreeSet::new(),
            masks: None,
            server: None,
            cameras_from_server: false,
            bandwidth_cap_kbps: None,
            lifts: Default::default(),
            budget: DecodeBudget::default(),
            frame_streams: HashMap::new(),
            views: None,
            view_name: String::new(),
            workstation: machine_name(),
            profile: None,
            wall: None,
            wall_link: None,
            alarms: None,
            alarm_panel_open: true,
            alarm_screen: None,
            alarm_shown: None,
            replays: HashMap::new(),
            replay_rx: None,
            map_open: false,
            map: MapView::default(),
            map_centred: true,
            motion: None,
            sounds: true,
            last_sound: None,
        }
    }

    /// Names this workstation for wall commands (default: the machine's name).
    pub fn named(mut self, name: &str) -> Self {
        self.workstation = name.to_owned();
        self
    }

    /// This workstation's name, where wall commands are sent.
    pub fn workstation_name(&self) -> &str {
        &self.workstation
    }

    /// Wall control's link to the server when it is not connected (why), if it was started.
    pub fn wall_link(&self) -> Option<&str> {
        self.wall_link.as_deref()
    }

    /// True once the wall listens for commands relayed by the server.
    pub fn takes_wall_commands(&self) -> bool {
        self.wall.is_some() && self.wall_link.is_none()
    }

    /// Signed in at the server: listens for wall commands (from the first frame on) and applies
    /// those that came.
    fn wall_frame(&mut self, ctx: &egui::Context) {
        let (Some(api), Some(_)) = (&self.server, &self.session) else {
            return;
        };
        if self.wall.is_none() {
            let ctx = ctx.clone();
            match WallFeed::start(
                api,
                &self.workstation,
                Arc::new(move || ctx.request_repaint()),
            ) {
                Ok(f) => {
                    self.wall = Some(f);
                    self.wall_link = Some("connecting".into());
                }
                Err(e) => {
                    // Not asked again every frame: the window says why.
                    self.wall_link = Some(e.to_string());
                    return;
                }
            }
        }
        let messages = self.wall.as_ref().map(|f| f.drain()).unwrap_or_default();
        for m in messages {
            match m {
                WallMessage::Command(c) => {
                    if let Err(e) = self.apply_command(&c) {
                        tracing::warn!("wall command from {}: {e}", c.by);
                    }
                }
                WallMessage::Link(crate::client::sse::Link::Connected) => self.wall_link = None,
                WallMessage::Link(crate::client::sse::Link::Reconnecting(why)) => {
                    self.wall_link = Some(format!("reconnecting: {why}"));
                }
                WallMessage::Link(crate::client::sse::Link::Ended(why)) => {
                    self.wall_link = Some(format!("ended: {why}"));
                }
            }
        }
    }

    /// Applies a command from another workstation; what it did, or why not.
    pub fn apply_command(&mut self, c: &WallCommand) -> Result<String, String> {
        let s = self
            .screens
            .iter()
            .position(|x| x.name == c.screen)
            .ok_or_else(|| format!("no screen {:?} here", c.screen))?;
        let mut done = Vec::new();
        if let Some(name) = &c.layout {
            let l = self
                .layouts
                .iter()
                .position(|l| &l.name == name)
                .ok_or_else(|| format!("no layout {name:?} here"))?;
            self.screens[s].layout = l;
            self.screens[s].maximised = None;
            done.push(format!("layout {name}"));
        }
        if let Some(id) = &c.camera {
            let ci = self
                .cameras
                .iter()
                .position(|x| &x.id == id)
                .ok_or_else(|| format!("camera {id} is not shown on this workstation"))?;
            let n = self.layouts[self.screens[s].layout].cells.len();
            let scr = &mut self.screens[s];
            let tile = c.tile.unwrap_or(scr.selected);
            if tile >= n {
                return Err(format!("screen {} has {n} tiles", scr.name));
            }
            if scr.tiles.len() < n {
                scr.tiles.resize(n, TileState::default());
            }
            scr.tiles[tile].camera = Some(ci);
            scr.tiles[tile].replay = false;
            scr.selected = tile;
            done.push(format!("{id} on tile {}", tile + 1));
        }
        let what = format!("{}: {}", c.screen, done.join(", "));
        if let Some((session, writer)) = &self.session {
            writer.log(session.entry(
                "wall command received",
                c.camera.as_deref().unwrap_or(""),
                None,
                "",
                &format!("from {}: {what}", c.by),
            ));
        }
        Ok(what)
    }

    /// Opens the screens of workstation profile `ws` (its first screen in the main window), each
    /// with its layout and cameras; ids the cameras file does not know are left out (and
    /// returned).
    pub fn with_workstation(mut self, ws: &Workstation) -> (Self, Vec<String>) {
        let unknown = self.apply_profile(ws);
        (self, unknown)
    }

    /// Opens the screens of profile `ws` now, and again on the cameras the server hands at
    /// sign-in (those the user may not see are left out then).
    pub fn with_profile(mut self, ws: &Workstation) -> Self {
        self.apply_profile(ws);
        self.profile = Some(ws.clone());
        self
    }

    fn apply_profile(&mut self, ws: &Workstation) -> Vec<String> {
        let ids: Vec<String> = self.cameras.iter().map(|c| c.id.clone()).collect();
        let (assigned, unknown) = ws.assignments(&ids);
        self.screens = ws
            .screens
            .iter()
            .zip(assigned)
            .map(|(p, cams)| {
                let layout = match self.layouts.iter().position(|l| *l == p.layout) {
                    Some(i) => i,
                    None => {
                        self.layouts.push(p.layout.clone());
                        self.layouts.len() - 1
                    }
                };
                let tiles = cams
                    .iter()
                    .map(|id| TileState {
                        camera: id
                            .as_ref()
                            .and_then(|id| self.cameras.iter().position(|c| &c.id == id)),
                        ..Default::default()
                    })
                    .collect();
                let mut scr = Screen::new(&p.name, layout, tiles);
                scr.monitor = p.fullscreen.then_some(p.monitor as usize);
                scr
            })
            .collect();
        self.active = 0;
        self.alarm_screen = ws.alarm_screen;
        unknown
    }

    /// Screen `s`'s load: distinct streams it shows and their decoded pixels per second.
    pub fn screen_load(&self, s: usize) -> (usize, f64) {
        let Some(scr) = self.screens.get(s) else {
            return (0, 0.0);
        };
        let ids: HashSet<u64> = scr
            .shown_kinds
            .iter()
            .zip(&scr.tiles)
            .filter_map(|(k, t)| Some(stream_id(t.camera?, (*k)?).0))
            .collect();
        let rate = ids.iter().map(|id| self.budget.rate(*id)).sum();
        (ids.len(), rate)
    }

    /// The arrangement of screen `s` (all screens when None) as a view named `name`.
    pub fn capture_view(&self, name: &str, screen: Option<usize>) -> SavedView {
        let screens = self
            .screens
            .iter()
            .enumerate()
            .filter(|(i, _)| screen.is_none_or(|s| s == *i))
            .map(|(_, scr)| {
                let n = self.layouts[scr.layout].cells.len();
                ScreenView {
                    screen: scr.name.clone(),
                    layout: self.layouts[scr.layout].name.clone(),
                    cameras: scr
                        .tiles
                        .iter()
                        .take(n)
                        .map(|t| t.camera.map(|ci| self.cameras[ci].id.clone()))
                        .collect(),
                }
            })
            .collect();
        SavedView {
            name: name.trim().to_owned(),
            screens,
        }
    }

    /// Saves the active screen's arrangement (or every screen's: a salvo) as `name`.
    pub fn save_view(&mut self, name: &str, salvo: bool) -> Result<(), String> {
        if name.trim().is_empty() {
            return Err("a view needs a name".into());
        }
        let Some(store) = &self.views else {
            return Err("views are saved once signed in".into());
        };
        store.save(self.capture_view(name, (!salvo).then_some(self.active)));
        Ok(())
    }

    /// The saved views and salvos of the signed-in user, as last read.
    pub fn saved_views(&self) -> Vec<SavedView> {
        self.views.as_ref().map(|v| v.list()).unwrap_or_default()
    }

    /// Applies `view`: a one-screen view to the active screen, a salvo to the screens it
    /// names. Cameras not shown to this user, and screens or layouts this workstation does
    /// not have, are left out and returned.
    pub fn apply_view(&mut self, view: &SavedView) -> Vec<String> {
        let mut missing = Vec::new();
        for sv in &view.screens {
            let s = if view.is_salvo() {
                match self.screens.iter().position(|x| x.name == sv.screen) {
                    Some(s) => s,
                    None => {
                        missing.push(format!("screen {}", sv.screen));
                        continue;
                    }
                }
            } else {
                self.active
            };
            match self.layouts.iter().position(|l| l.name == sv.layout) {
                Some(l) => self.screens[s].layout = l,
                None => missing.push(format!("layout {}", sv.layout)),
            }
            let n = self.layouts[self.screens[s].layout].cells.len();
            let scr = &mut self.screens[s];
            scr.maximised = None;
            if scr.tiles.len() < n {
                scr.tiles.resize(n, TileState::default());
            }
            for (i, t) in scr.tiles.iter_mut().enumerate() {
                let id = sv.cameras.get(i).cloned().flatten();
                t.camera = id.as_ref().and_then(|id| {
                    let found = self.cameras.iter().position(|c| &c.id == id);
                    if found.is_none() {
                        missing.push(format!("camera {id}"));
                    }
                    found
                });
                t.main = false;
                t.replay = false;
            }
        }
        missing
    }

    /// Number of screens.
    pub fn screen_count(&self) -> usize {
        self.screens.len()
    }

    /// Makes screen `s` the one the tree, the top bar and the accessors act on.
    pub fn set_active(&mut self, s: usize) -> bool {
        if s < self.screens.len() {
            self.active = s;
            true
        } else {
            false
        }
    }

    /// The distinct streams the screens asked for in the last frame drawn.
    pub fn streams_shown(&self) -> usize {
        let mut set = HashSet::new();
        for scr in &self.screens {
            for (k, t) in scr.shown_kinds.iter().zip(&scr.tiles) {
                if let (Some(k), Some(ci)) = (k, t.camera) {
                    set.insert((ci, *k));
                }
            }
        }
        set.len()
    }

    /// The wall takes its cameras (with their addresses and credentials, in memory only) from
    /// the site server instead of a cameras file, once someone signs in there.
    /// Asks the server to keep this workstation's live video under `kbps` (keyframes only
    /// while over it; the tiles say so).
    pub fn with_bandwidth_cap(mut self, kbps: Option<u32>) -> Self {
        self.bandwidth_cap_kbps = kbps;
        self
    }

    pub fn cameras_from_server(mut self) -> Self {
        self.cameras_from_server = true;
        self
    }

    /// True when the cameras come from the server at sign-in.
    pub fn takes_cameras_from_server(&self) -> bool {
        self.cameras_from_server
    }

    /// Signs `session` in at the site server (`api`, signed in): the role must allow live
    /// view; the cameras come from the server when the wall was made to take them from it;
    /// the live views, masks lifted and restored are reported to the server, which logs them;
    /// alarms, masks, replays, saved views and wall commands come from it.
    ///
    /// `cameras` is the server's answer to `GET /v1/live/cameras`, asked off the UI thread.
    pub fn sign_in_at_server(
        &mut self,
        session: Session,
        api: Arc<crate::client::Api>,
        cameras: Vec<Camera>,
    ) -> Result<(), String> {
        if !session.may(Action::ViewLive) {
            return Err(format!(
                "{} ({}) may not {}",
                session.user,
                session.role,
                Action::ViewLive.as_str()
            ));
        }
        if self.cameras_from_server {
            self.set_cameras(cameras);
            if let Some(p) = self.profile.clone() {
                let unknown = self.apply_profile(&p);
                if !unknown.is_empty() {
                    tracing::warn!(
                        "workstation {}: cameras not handed to {}: {}",
                        p.name,
                        session.user,
                        unknown.join(", ")
                    );
                }
            }
        }
        self.keep_granted(&session);
        // Every stream through the server's live connection from now on.
        let relay = crate::client::relay::RelayClient::start(&api, self.bandwidth_cap_kbps)
            .map_err(|e| format!("live connection to the server: {e}"))?;
        self.streams.use_relay(Arc::new(relay));
        self.session = Some((session, crate::client::live_writer(api.clone())));
        self.server = Some(api);
        Ok(())
    }

    /// Replaces the cameras: the first screen shows the first of them, the others none.
    fn set_cameras(&mut self, cameras: Vec<Camera>) {
        self.cameras = cameras;
        self.watching.clear();
        for (k, scr) in self.screens.iter_mut().enumerate() {
            for (i, t) in scr.tiles.iter_mut().enumerate() {
                t.camera = (k == 0 && i < self.cameras.len()).then_some(i);
            }
        }
    }

    /// Keeps the cameras `session` may see; each screen keeps its own, in order, moved up into
    /// the tiles left.
    fn keep_granted(&mut self, session: &Session) {
        // Each screen keeps the cameras granted, in its order, moved up into the tiles left.
        let ids: Vec<Vec<String>> = self
            .screens
            .iter()
            .map(|scr| {
                scr.tiles
                    .iter()
                    .filter_map(|t| t.camera)
                    .map(|ci| self.cameras[ci].id.clone())
                    .filter(|id| session.may_see(id))
                    .collect()
            })
            .collect();
        self.cameras.retain(|c| session.may_see(&c.id));
        // Camera indices change here; nothing was logged before.
        self.watching.clear();
        for (scr, ids) in self.screens.iter_mut().zip(ids) {
            for (i, t) in scr.tiles.iter_mut().enumerate() {
                t.camera = ids
                    .get(i)
                    .and_then(|id| self.cameras.iter().position(|c| &c.id == id));
            }
        }
    }

    /// The site server the wall signed in at: where its masks, views and replays come from.
    pub(super) fn api(&self) -> Option<Arc<crate::client::Api>> {
        self.server.clone()
    }

    /// Lifts the privacy masks of `camera` for the signed-in supervisor, for `reason` (logged).
    pub fn lift_masks(&mut self, camera: &str, reason: &str) -> Result<(), String> {
        let Some((session, writer)) = &self.session else {
            return Err("nobody is signed in".into());
        };
        self.lifts
            .lift(session, camera, reason, &mut |e| writer.log(e))
    }

    /// Puts `camera`'s masks back (logged).
    pub fn restore_masks(&mut self, camera: &str) {
        if let Some((session, writer)) = &self.session {
            self.lifts.restore(session, camera, &mut |e| writer.log(e));
        }
    }

    /// True once the privacy masks have been read (always true before any sign-in).
    pub fn masks_ready(&self) -> bool {
        match &self.masks {
            Some(m) => m.current().is_some(),
            None => self.server.is_none(),
        }
    }

    /// The signed-in user.
    pub fn session(&self) -> Option<&Session> {
        self.session.as_ref().map(|(s, _)| s)
    }

    /// Logs the live views that started and stopped since the last frame.
    fn log_views(&mut self) {
        // Camera indices, compared every frame; ids only when something changed.
        let now: BTreeSet<usize> = self
            .screens
            .iter()
            .flat_map(|scr| scr.shown_kinds.iter().zip(&scr.tiles))
            .filter_map(|(k, t)| k.and(t.camera))
            .collect();
        if now == self.watching {
            return;
        }
        let ids = |set: &mut dyn Iterator<Item = &usize>| -> Vec<&str> {
            set.map(|&ci| self.cameras[ci].id.as_str()).collect()
        };
        let started = ids(&mut now.difference(&self.watching));
        let stopped = ids(&mut self.watching.difference(&now));
        // Through the server, the server logs the views as it sends them.
        if let Some((session, writer)) = &self.session
            && !self.streams.relayed()
        {
            for (action, cams) in [("live view start", started), ("live view stop", stopped)] {
                if !cams.is_empty() {
                    writer.log(session.entry(action, &cams.join(","), None, "", ""));
                }
            }
        }
        self.watching = now;
    }

    /// Offers "Review" in the top bar, opening `vigie review --server` on the site server at
    /// `url` (trusting the CA file `ca`) in its own window and process.
    pub fn with_review_server(mut self, url: &str, ca: Option<&std::path::Path>) -> Self {
        self.review_server = Some((url.to_owned(), ca.map(|c| c.to_owned())));
        self
    }

    /// Detects motion in the zones given on the sub-stream pictures the wall decodes anyway,
    /// and posts motion events to `vigie events` at `events`.
    pub fn with_motion(
        mut self,
        zones: Vec<crate::events::motion::MotionZone>,
        events: std::net::SocketAddr,
    ) -> Self {
        if !zones.is_empty() {
            self.motion = Some(crate::events::motion::MotionWatch::start(zones, events));
        }
        self
    }

    /// Replaces the clock (tests).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Shows `camera_id` on tile `tile` (0-based, reading order).
    pub fn assign(&mut self, tile: usize, camera_id: &str) -> bool {
        let Some(ci) = self.cameras.iter().position(|c| c.id == camera_id) else {
            return false;
        };
        match self.screens[self.active].tiles.get_mut(tile) {
            Some(t) => {
                t.camera = Some(ci);
                t.replay = false;
                true
            }
            None => false,
        }
    }

    /// Camera id shown on tile `tile`.
    pub fn tile_camera(&self, tile: usize) -> Option<&str> {
        self.screens[self.active]
            .tiles
            .get(tile)?
            .camera
            .map(|ci| self.cameras[ci].id.as_str())
    }

    /// The stream tile `tile` showed in the last frame drawn (None: empty or not drawn).
    pub fn tile_stream(&self, tile: usize) -> Option<StreamKind> {
        self.screens[self.active]
            .shown_kinds
            .get(tile)
            .copied()
            .flatten()
    }

    pub fn maximised(&self) -> Option<usize> {
        self.screens[self.active].maximised
    }

    pub fn layout(&self) -> &Layout {
        &self.layouts[self.screens[self.active].layout]
    }

    /// Selects a layout by name ("4x4", "1 large + 12 small").
    pub fn set_layout(&mut self, name: &str) -> bool {
        match self.layouts.iter().position(|l| l.name == name) {
            Some(i) => {
                let scr = &mut self.screens[self.active];
                scr.layout = i;
                scr.maximised = None;
                true
            }
            None => false,
        }
    }

    /// Draws the workspace.
    pub fn show(&mut self, ui: &mut egui::Ui) {
        if !self.waker_installed {
            let ctx = ui.ctx().clone();
            self.streams.set_waker(Arc::new(move || {
                ctx.request_repaint_after(Duration::from_millis(15))
            }));
            self.waker_installed = true;
        }
        if self.masks.is_none()
            && let Some(api) = self.api()
        {
            let ctx = ui.ctx().clone();
            self.masks = Some(MaskWatch::watch(
                api,
                Arc::new(move || ctx.request_repaint()),
            ));
        }
        if self.views.is_none()
            && self.session.is_some()
            && let Some(api) = self.api()
        {
            let ctx = ui.ctx().clone();
            self.views = Some(ViewStore::start(
                api,
                Arc::new(move || ctx.request_repaint()),
            ));
        }
        self.wall_frame(ui.ctx());
        let ctx = ui.ctx().clone();
        self.alarms_frame(&ctx);
        egui::Panel::top("live top bar").show(ui, |ui| self.top_bar(ui));
        egui::Panel::left("camera tree")
            .resizable(true)
            .default_size(250.0)
            .show(ui, |ui| self.camera_tree(ui));
        self.alarm_panel(ui);
        self.screens[0].visible = !hidden(&ctx);
        if self.screens[0].visible {
            egui::CentralPanel::no_frame().show(ui, |ui| self.wall(ui, 0));
            self.keyboard(&ctx, 0);
        } else {
            self.screens[0].shown_kinds.clear();
        }
        // The other screens: a window each (borderless full screen on their monitor when the
        // profile says so), drawn in this frame, sharing the streams and the GPU textures.
        for s in 1..self.screens.len() {
            let scr = &self.screens[s];
            let mut builder = egui::ViewportBuilder::default()
                .with_title(format!("Vigie — {}", scr.name))
                .with_inner_size([1280.0, 720.0]);
            if let Some(m) = scr.monitor {
                builder = builder.with_monitor(m);
            }
            let id = egui::ViewportId::from_hash_of(("vigie screen", s));
            ctx.show_viewport_immediate(id, builder, |ui, class| {
                let ctx = ui.ctx().clone();
                self.screens[s].visible = !hidden(&ctx);
                if self.screens[s].visible {
                    let name = self.screens[s].name.clone();
                    let layout = self.layouts[self.screens[s].layout].name.clone();
                    let (n, rate) = self.screen_load(s);
                    egui::Panel::top(("screen bar", s)).show(ui, |ui| {
                        ui.horizontal(|ui| {
                            ui.strong(name);
                            ui.separator();
                            ui.label(layout);
                            ui.separator();
                            ui.label(format!("{n} streams · {:.0} Mpx/s decoded", rate / 1e6));
                            ui.weak("click a tile, then the camera tree and keys of the main window act on this screen");
                        });
                    });
                    egui::CentralPanel::no_frame().show(ui, |ui| self.wall(ui, s));
                    // Embedded (no native windows): the main window's keys already acted.
                    if class != egui::ViewportClass::EmbeddedWindow {
                        self.keyboard(&ctx, s);
                    }
                } else {
                    self.screens[s].shown_kinds.clear();
                }
            });
        }
        if self.map_open && self.alarms.is_some() {
            self.map_window(&ctx);
        }
        self.streams.collect();
        let streams: Vec<BudgetStream<'_>> = self
            .frame_streams
            .iter()
            .map(|(id, (slot, priority))| BudgetStream {
                id: *id,
                slot,
                priority: *priority,
            })
            .collect();
        self.budget.balance(&streams);
        if let Some(m) = &self.motion {
            // Sub streams only (a stream id's low bit is the main stream), no replays.
            let shown = self
                .frame_streams
                .iter()
                .filter(|(id, _)| **id % 2 == 0 && **id < alarm_wall::REPLAY_STREAM_BASE)
                .filter_map(|(id, (slot, _))| {
                    let cam = &self.cameras.get((*id / 2) as usize)?.id;
                    m.watches(cam).then(|| (cam.clone(), slot.clone()))
                })
                .collect();
            m.set_shown(shown);
        }
        self.frame_streams.clear();
        self.log_views();
    }

    fn top_bar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.strong("Vigie · Live");
            if self.wall.is_some() {
                // Where the site's other workstations send wall commands, and whether they
                // reach this one now.
                let (text, colour) = match &self.wall_link {
                    None => (self.workstation.clone(), ui.visuals().weak_text_color()),
                    Some(why) => (
                        format!("{}: wall control {why}", self.workstation),
                        Color32::from_rgb(240, 170, 80),
                    ),
                };
                ui.label(egui::RichText::new(text).color(colour))
                    .on_hover_text("this workstation's name for wall commands");
            }
            ui.separator();
            if let Some(b) = &self.alarms {
                let new = b
                    .alarms
                    .values()
                    .filter(|a| a.state == "new")
                    .count();
                let label = if new > 0 {
                    egui::RichText::new(format!("Alarms ({new} new)"))
                        .color(Color32::from_rgb(255, 110, 90))
                        .strong()
                } else {
                    egui::RichText::new("Alarms")
                };
                if ui
                    .selectable_label(self.alarm_panel_open, label)
                    .clicked()
                {
                    self.alarm_panel_open = !self.alarm_panel_open;
                }
                if ui.selectable_label(self.map_open, "Map").clicked() {
                    self.map_open = !self.map_open;
                }
                ui.separator();
            }
            if self.screens.len() > 1 {
                let current = self.screens[self.active].name.clone();
                egui::ComboBox::from_label("Screen")
                    .selected_text(current)
                    .show_ui(ui, |ui| {
                        for i in 0..self.screens.len() {
                            let name = self.screens[i].name.clone();
                            if ui.selectable_label(i == self.active, name).clicked() {
                                self.active = i;
                            }
                        }
                    });
            }
            let a = self.active;
            let current = self.layouts[self.screens[a].layout].name.clone();
            egui::ComboBox::from_label("Layout").selected_text(current).show_ui(ui, |ui| {
                for i in 0..self.layouts.len() {
                    let name = self.layouts[i].name.clone();
                    if ui.selectable_label(i == self.screens[a].layout, name).clicked() {
                        self.screens[a].layout = i;
                        self.screens[a].maximised = None;
                    }
                }
            });
            ui.separator();
            if let Some((url, ca)) = &self.review_server
                && ui
                    .button("Review…")
                    .on_hover_text("Recorded footage, in a window of its own")
                    .clicked()
            {
                let spawned = std::env::current_exe().and_then(|exe| {
                    let mut cmd = std::process::Command::new(exe);
                    cmd.args(["review", "--server", url]);
                    if let Some(ca) = ca {
                        cmd.arg("--server-ca").arg(ca);
                    }
                    cmd.spawn()
                });
                if let Err(e) = spawned {
                    tracing::error!("cannot open the review window: {e}");
                }
            }
            if self.views.is_some() {
                let mut apply = None;
                ui.menu_button("Views", |ui| {
                    if let Some(e) = self.views.as_ref().and_then(|v| v.error()) {
                        ui.colored_label(Color32::from_rgb(240, 120, 90), e);
                    }
                    let list = self.saved_views();
                    if list.is_empty() {
                        ui.weak("No saved view yet");
                    }
                    for v in list {
                        let label = if v.is_salvo() {
                            format!("{} (salvo, {} screens)", v.name, v.screens.len())
                        } else {
                            v.name.clone()
                        };
                        if ui.button(label).clicked() {
                            apply = Some(v);
                            ui.close();
                        }
                    }
                    ui.separator();
                    let l = ui.label("Name");
                    ui.text_edit_singleline(&mut self.view_name).labelled_by(l.id);
                    let name = self.view_name.clone();
                    if ui.button("Save this screen").clicked() {
                        let _ = self.save_view(&name, false);
                        ui.close();
                    }
                    if self.screens.len() > 1 && ui.button("Save all screens (salvo)").clicked() {
                        let _ = self.save_view(&name, true);
                        ui.close();
                    }
                });
                if let Some(v) = apply {
                    let missing = self.apply_view(&v);
                    if !missing.is_empty() {
                        tracing::warn!("view {}: left out {}", v.name, missing.join(", "));
                    }
                }
                ui.separator();
            }
            ui.label(format!("{} streams decoding", self.streams.active()));
            if self.screens.len() > 1 {
                let (n, rate) = self.screen_load(0);
                ui.label(format!("this screen: {n} · {:.0} Mpx/s", rate / 1e6));
            }
            // The load meter: each decoder kind against its budget.
            for l in self.budget.loads() {
                let share = if l.limit.is_finite() && l.limit > 0.0 {
                    l.used / l.limit
                } else {
                    0.0
                };
                let colour = if l.degraded > 0 {
                    Color32::from_rgb(255, 176, 32)
                } else if share > 0.8 {
                    Color32::from_rgb(230, 210, 90)
                } else {
                    Color32::from_rgb(120, 200, 120)
                };
                ui.colored_label(
                    colour,
                    format!("{} {:.0} %", l.kind.label(), share * 100.0),
                )
                .on_hover_text(format!(
                    "{:.0} of {:.0} decoded Mpx/s; {} stream(s) on key frames only",
                    l.used / 1e6,
                    l.limit / 1e6,
                    l.degraded
                ));
            }
            ui.separator();
            if let Some((session, writer)) = &self.session {
                let camera = self
                    .screens[self.active]
                    .tiles
                    .get(self.screens[self.active].selected)
                    .and_then(|t| t.camera)
                    .map(|ci| self.cameras[ci].id.clone());
                let has_masks = camera.as_ref().is_some_and(|c| {
                    self.masks
                        .as_ref()
                        .and_then(|m| m.current())
                        .is_some_and(|m| m.contains_key(c))
                });
                self.lifts.controls(ui, session, camera.as_deref(), has_masks, &mut |e| {
                    writer.log(e)
                });
                if let Some(m) = &self.lifts.message {
                    ui.colored_label(Color32::from_rgb(240, 160, 60), m);
                }
                ui.separator();
            }
            ui.label("Shortcuts").on_hover_text(if self.screens.len() > 1 {
                "Arrows: select a tile\nEnter: maximise · Esc: back\nPgUp/PgDn: cycle the tile's camera\nDel: empty the tile\nCtrl+1..9: the screen the keys and the camera tree act on"
            } else {
                "Arrows: select a tile\nEnter: maximise · Esc: back\nPgUp/PgDn: cycle the tile's camera\nDel: empty the tile"
            });
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                if let Some((session, writer)) = &self.session {
                    ui.label(format!("{} · {}", session.user, session.role));
                    if let Some(e) = writer.error() {
                        ui.colored_label(Color32::from_rgb(240, 120, 90), "audit log failing")
                            .on_hover_text(e);
                    }
                    ui.separator();
                }
                ui.monospace(local_time(&(self.clock)(), "%Y-%m-%d %H:%M:%S"));
            });
        });
    }

    fn camera_tree(&mut self, ui: &mut egui::Ui) {
        ui.add(egui::TextEdit::singleline(&mut self.search).hint_text("Search name, zone, id"));
        ui.separator();
        let needle = self.search.to_lowercase();
        let mut zones: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, c) in self.cameras.iter().enumerate() {
            let hit = needle.is_empty()
                || c.name.to_lowercase().contains(&needle)
                || c.zone.to_lowercase().contains(&needle)
                || c.id.to_lowercase().contains(&needle);
            if hit {
                zones.entry(c.zone.as_str()).or_default().push(i);
            }
        }
        let mut put_on_selected = None;
        egui::ScrollArea::vertical().show(ui, |ui| {
            for (zone, list) in &zones {
                let title = format!(
                    "{} ({})",
                    if zone.is_empty() { "No zone" } else { zone },
                    list.len()
                );
                egui::CollapsingHeader::new(title)
                    .default_open(!needle.is_empty() || zones.len() == 1)
                    .show(ui, |ui| {
                        for &ci in list {
                            let c = &self.cameras[ci];
                            let text = format!("{}  {}", c.id, c.name);
                            // The drag area laid over the label takes the presses, so the
                            // label never reports a double click: read it from the pointer.
                            // Not selectable, or a double click selects a word instead.
                            let r = ui
                                .dnd_drag_source(ui.scope_id().with(("camera", ci)), ci, |ui| {
                                    ui.add(egui::Label::new(text).selectable(false).truncate())
                                })
                                .response;
                            let double = ui.input(|i| {
                                i.pointer
                                    .button_double_clicked(egui::PointerButton::Primary)
                            });
                            if double && r.contains_pointer() {
                                put_on_selected = Some(ci);
                            }
                        }
                    });
            }
        });
        let scr = &mut self.screens[self.active];
        if let Some(ci) = put_on_selected
            && let Some(t) = scr.tiles.get_mut(scr.selected)
        {
            t.camera = Some(ci);
            t.replay = false;
        }
    }

    /// Keys of screen `s` (its window has the keyboard).
    fn keyboard(&mut self, ctx: &egui::Context, s: usize) {
        if ctx.egui_wants_keyboard_input() {
            return;
        }
        // The window with the keyboard's focus is the active screen.
        if ctx.input(|i| i.viewport().focused) == Some(false) {
            return;
        }
        let digit = ctx.input(|i| {
            (i.modifiers.ctrl || i.modifiers.command)
                .then(|| {
                    [
                        Key::Num1,
                        Key::Num2,
                        Key::Num3,
                        Key::Num4,
                        Key::Num5,
                        Key::Num6,
                        Key::Num7,
                        Key::Num8,
                        Key::Num9,
                    ]
                    .iter()
                    .position(|k| i.key_pressed(*k))
                })
                .flatten()
        });
        if let Some(d) = digit {
            // Ctrl+1..9: the screen the camera tree and the keys act on.
            if d < self.screens.len() {
                self.active = d;
            }
            return;
        }
        if s != 0 || self.active >= self.screens.len() {
            self.active = s;
        }
        let s = self.active;
        let mut scr = std::mem::take(&mut self.screens[s]);
        let layout = &self.layouts[scr.layout];
        let n = layout.cells.len();
        let (enter, esc, left, right, up, down, pgup, pgdn, del) = ctx.input(|i| {
            (
                i.key_pressed(Key::Enter),
                i.key_pressed(Key::Escape),
                i.key_pressed(Key::ArrowLeft),
                i.key_pressed(Key::ArrowRight),
                i.key_pressed(Key::ArrowUp),
                i.key_pressed(Key::ArrowDown),
                i.key_pressed(Key::PageUp),
                i.key_pressed(Key::PageDown),
                i.key_pressed(Key::Delete),
            )
        });
        if enter {
            scr.maximised = if scr.maximised.is_some() {
                None
            } else {
                Some(scr.selected)
            };
        }
        if esc {
            scr.maximised = None;
        }
        if left || right {
            scr.selected = (scr.selected + if right { 1 } else { n - 1 }) % n;
        }
        if up || down {
            // Move to the tile whose cell contains the square above or below.
            let cell = layout.cells[scr.selected.min(n - 1)];
            let row = if down {
                cell.row + cell.row_span
            } else {
                cell.row.wrapping_sub(1)
            };
            if let Some(i) = layout.cells.iter().position(|c| {
                (c.row..c.row + c.row_span).contains(&row)
                    && (c.column..c.column + c.column_span).contains(&cell.column)
            }) {
                scr.selected = i;
            }
        }
        if (pgup || pgdn) && !self.cameras.is_empty() {
            let len = self.cameras.len();
            if let Some(t) = scr.tiles.get_mut(scr.selected) {
                let cur = t.camera.unwrap_or(len - 1);
                t.replay = false;
                t.camera = Some(if pgdn {
                    (cur + 1) % len
                } else {
                    (cur + len - 1) % len
                });
            }
        }
        if del && let Some(t) = scr.tiles.get_mut(scr.selected) {
            t.camera = None;
        }
        self.screens[s] = scr;
    }

    /// Draws screen `s`'s tiles.
    fn wall(&mut self, ui: &mut egui::Ui, s: usize) {
        let mut scr = std::mem::take(&mut self.screens[s]);
        let mut clicked = false;
        let rect = ui.available_rect_before_wrap();
        ui.allocate_rect(rect, Sense::hover());
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, 0.0, Color32::BLACK);
        let video_shape = painter.add(egui::Shape::Noop);
        let ppp = ui.ctx().pixels_per_point();
        let grid_px = [rect.width() * ppp, rect.height() * ppp];
        let now = (self.clock)();

        let layout = &self.layouts[scr.layout];
        if scr.tiles.len() < layout.cells.len() {
            scr.tiles.resize(layout.cells.len(), TileState::default());
        }
        scr.selected = scr.selected.min(layout.cells.len() - 1);
        let placed: Vec<(usize, [f32; 4])> = match scr.maximised {
            Some(m) => vec![(m, [0.0, 0.0, 1.0, 1.0])],
            None => layout.tile_fractions().enumerate().collect(),
        };

        // Signed in: the masks must have been read before any video is drawn.
        let masks: Option<Arc<ByCamera>> = match &self.masks {
            Some(w) => w.current(),
            None if self.session.is_some() => None,
            None => Some(Arc::default()),
        };
        let mut mask_list = Vec::new();
        let mut sources = Vec::new();
        scr.shown_kinds.clear();
        scr.shown_kinds.resize(scr.tiles.len(), None);
        let mut draws = Vec::new();
        let mut overlays = Vec::new();
        let mut shown = HashSet::new();
        for (i, frac) in placed {
            let tile_rect = Rect::from_min_size(
                rect.min + vec2(frac[0] * rect.width(), frac[1] * rect.height()),
                vec2(frac[2] * rect.width(), frac[3] * rect.height()),
            )
            .shrink(1.0);
            let resp = ui.interact(tile_rect, ui.scope_id().with(("tile", i)), Sense::click());
            if resp.clicked() {
                scr.selected = i;
                clicked = true;
            }
            if resp.double_clicked() {
                scr.maximised = if scr.maximised.is_some() {
                    None
                } else {
                    Some(i)
                };
                scr.selected = i;
            }
            if let Some(ci) = resp.dnd_release_payload::<usize>() {
                scr.tiles[i].camera = Some(*ci);
                scr.tiles[i].replay = false;
                scr.selected = i;
            }
            let hovered_by_drag = resp.dnd_hover_payload::<usize>().is_some();

            let Some(ci) = scr.tiles[i].camera else {
                overlays.push(Overlay::empty(
                    tile_rect,
                    i == scr.selected,
                    hovered_by_drag,
                ));
                continue;
            };
            let tile_frac = [
                (tile_rect.min.x - rect.min.x) / rect.width(),
                (tile_rect.min.y - rect.min.y) / rect.height(),
                tile_rect.width() / rect.width(),
                tile_rect.height() / rect.height(),
            ];
            let camera = &self.cameras[ci];
            let masks_of = |cam: &str| {
                masks
                    .as_ref()
                    .and_then(|m| m.get(cam))
                    .filter(|_| !self.lifts.is_lifted(cam))
                    .cloned()
            };
            if scr.tiles[i].replay {
                let mut overlay = Overlay {
                    rect: tile_rect,
                    selected: i == scr.selected,
                    drop_target: false,
                    title: Some(format!("REPLAY {} · {}", camera.id, camera.name)),
                    info: String::new(),
                    banner: None,
                    clock: None,
                };
                let Some(r) = self.replays.get(&ci) else {
                    overlay.banner = Some(("not recorded: no replay".into(), Color32::LIGHT_GRAY));
                    overlays.push(overlay);
                    continue;
                };
                let Some(worker) = &r.worker else {
                    overlay.banner = Some(("replay loading…".into(), Color32::LIGHT_GRAY));
                    overlays.push(overlay);
                    continue;
                };
                let t = r.instant();
                worker.request(PlaybackRequest::At(t));
                let slot = worker.slot().clone();
                let sid = StreamId(alarm_wall::REPLAY_STREAM_BASE + ci as u64);
                if shown.insert(sid) {
                    sources.push((sid, slot.clone()));
                    if let Some(p) = masks_of(&camera.id) {
                        mask_list.push((sid, p));
                    }
                }
                let last = slot.last();
                if let Some(f) = &last
                    && masks.is_some()
                {
                    draws.push(TileDraw {
                        stream: sid,
                        rect: fit_rect(tile_frac, grid_px, [f.width, f.height]),
                        uv: FULL_UV,
                        brightness: 1.0,
                    });
                }
                let alarm_at = r.to_ns - alarm_wall::REPLAY_AFTER_NS;
                overlay.info = format!(
                    "{} · alarm {}{:.1} s",
                    crate::time::paris(t, "%H:%M:%S"),
                    if t < alarm_at { "-" } else { "+" },
                    (alarm_at - t).abs() as f64 / 1e9
                );
                overlay.banner = match (worker.status().note, &last) {
                    (Some(n), _) => Some((n, Color32::LIGHT_GRAY)),
                    (None, None) => Some(("replay loading…".into(), Color32::LIGHT_GRAY)),
                    _ if masks.is_none() => {
                        Some(("privacy masks loading…".into(), Color32::LIGHT_GRAY))
                    }
                    _ => None,
                };
                overlays.push(overlay);
                continue;
            }
            let h_px = tile_rect.height() * ppp;
            let tile = &mut scr.tiles[i];
            if tile.main && h_px < SUB_BELOW_PX {
                tile.main = false;
            } else if !tile.main && h_px >= MAIN_ABOVE_PX {
                tile.main = true;
            }
            // A switch to the main stream keeps showing the sub stream until the main
            // stream's first picture arrives: never a black tile.
            let (kind, slot) = if tile.main {
                let main = self.streams.want(camera, StreamKind::Main);
                if main.last().is_some() {
                    (StreamKind::Main, main)
                } else {
                    (StreamKind::Sub, self.streams.want(camera, StreamKind::Sub))
                }
            } else {
                (StreamKind::Sub, self.streams.want(camera, StreamKind::Sub))
            };
            let sid = stream_id(ci, kind);
            scr.shown_kinds[i] = Some(kind);
            if shown.insert(sid) {
                sources.push((sid, slot.clone()));
                if let Some(p) = masks_of(&camera.id) {
                    mask_list.push((sid, p));
                }
            }
            // The budget's view: the stream's most important tile, by size in pixels, more when
            // maximised or selected on the screen in use.
            let weight = if scr.maximised == Some(i) {
                4.0
            } else if i == scr.selected && s == self.active {
                2.0
            } else {
                1.0
            };
            let priority = (tile_rect.area() * ppp * ppp) as f64 * weight;
            let entry = self
                .frame_streams
                .entry(sid.0)
                .or_insert_with(|| (slot.clone(), 0.0));
            entry.1 = entry.1.max(priority);
            let state = slot.state();
            let last = slot.last();
            if let Some(f) = &last
                && masks.is_some()
            {
                let brightness = if state == StreamState::Live {
                    1.0
                } else {
                    0.35
                };
                draws.push(TileDraw {
                    stream: sid,
                    rect: fit_rect(tile_frac, grid_px, [f.width, f.height]),
                    uv: FULL_UV,
                    brightness,
                });
            }
            overlays.push(Overlay {
                rect: tile_rect,
                selected: i == scr.selected,
                drop_target: hovered_by_drag,
                title: Some(format!("{} · {}", camera.id, camera.name)),
                info: format!(
                    "{} · {} {}{}",
                    state.label(),
                    kind.as_str(),
                    last.as_ref()
                        .map(|f| format!("{}x{}", f.width, f.height))
                        .unwrap_or_default(),
                    match slot.decoder() {
                        d if d.is_empty() => String::new(),
                        d => format!(" · {d}"),
                    } + if slot.relay_sub_for_main() {
                        " · sub stream (bandwidth cap)"
                    } else {
                        ""
                    } + if slot.relay_keyframes_only() && !slot.keyframes_only() {
                        " · key frames only (bandwidth cap)"
                    } else if slot.keyframes_only() {
                        " · key frames only"
                    } else {
                        ""
                    } + &match slot.relay_skips() {
                        0 => String::new(),
                        n => format!(" · {n} skips"),
                    }
                ),
                clock: last
                    .as_ref()
                    .filter(|f| !f.timed_on_arrival && f.capture_utc_ms > 0)
                    .and_then(|f| Utc.timestamp_millis_opt(f.capture_utc_ms).single())
                    .map(|t| local_time(&t, "%H:%M:%S")),
                banner: if masks.is_none() {
                    Some(match self.masks.as_ref().and_then(|m| m.error()) {
                        Some(e) => (e, Color32::from_rgb(255, 90, 80)),
                        None => ("privacy masks loading…".into(), Color32::LIGHT_GRAY),
                    })
                } else if self.lifts.is_lifted(&camera.id) {
                    Some((
                        "PRIVACY MASKS LIFTED".into(),
                        Color32::from_rgb(255, 90, 80),
                    ))
                } else {
                    banner(&state, last.is_some())
                },
            });
        }
        painter.set(
            video_shape,
            egui_wgpu::Callback::new_paint_callback(
                rect,
                VideoCallback {
                    batch: s as u64,
                    sources,
                    tiles: draws,
                    masks: mask_list,
                },
            ),
        );
        let clock = local_time(&now, "%H:%M:%S");
        for o in overlays {
            o.paint(&painter, &clock);
        }
        self.screens[s] = scr;
        if clicked {
            self.active = s;
        }
    }
}

/// True while the window of `ctx`'s viewport is minimised or covered.
fn hidden(ctx: &egui::Context) -> bool {
    ctx.input(|i| i.viewport().minimized == Some(true) || i.viewport().occluded == Some(true))
}

fn stream_id(camera_index: usize, kind: StreamKind) -> StreamId {
    StreamId(camera_index as u64 * 2 + (kind == StreamKind::Main) as u64)
}

fn local_time(t: &DateTime<Utc>, fmt: &str) -> String {
    Local
        .from_utc_datetime(&t.naive_utc())
        .format(fmt)
        .to_string()
}

/// The centred message of a tile that is not simply live.
fn banner(state: &StreamState, has_picture: bool) -> Option<(String, Color32)> {
    let amber = Color32::from_rgb(255, 176, 32);
    match state {
        StreamState::Live => None,
        StreamState::Connecting if has_picture => None,
        StreamState::Connecting => Some(("connecting…".into(), Color32::LIGHT_GRAY)),
        StreamState::Lost { since_utc_ms, .. } => {
            let since = Utc
                .timestamp_millis_opt(*since_utc_ms)
                .single()
                .map(|t| local_time(&t, "%H:%M:%S"))
                .unwrap_or_default();
            Some((format!("signal lost since {since}"), amber))
        }
        StreamState::Failed { reason } => Some((reason.clone(), Color32::from_rgb(255, 90, 80))),
        StreamState::Stopped => Some(("stopped".into(), Color32::GRAY)),
    }
}

/// `text` on one line, cut with an ellipsis to fit `width`.
fn one_line(text: &str, font: FontId, width: f32) -> egui::text::LayoutJob {
    let mut job = egui::text::LayoutJob::simple_singleline(text.to_owned(), font, Color32::WHITE);
    job.wrap = egui::text::TextWrapping {
        max_width: width,
        max_rows: 1,
        break_anywhere: true,
        overflow_character: Some('…'),
    };
    job
}

struct Overlay {
    rect: Rect,
    selected: bool,
    drop_target: bool,
    title: Option<String>,
    info: String,
    banner: Option<(String, Color32)>,
    /// The capture time of the picture shown, when the camera's own; else the wall clock.
    clock: Option<String>,
}

impl Overlay {
    fn empty(rect: Rect, selected: bool, drop_target: bool) -> Overlay {
        Overlay {
            rect,
            selected,
            drop_target,
            title: None,
            info: String::new(),
            banner: Some(("drop a camera here".into(), Color32::DARK_GRAY)),
            clock: None,
        }
    }

    fn paint(&self, painter: &egui::Painter, clock: &str) {
        let clock = self.clock.as_deref().unwrap_or(clock);
        let r = self.rect;
        let size = (r.height() / 14.0).clamp(9.0, 14.0);
        let font = FontId::proportional(size);
        let strip = Color32::from_black_alpha(150);
        if let Some(title) = &self.title {
            let bar = Rect::from_min_size(r.min, vec2(r.width(), size + 6.0));
            painter.rect_filled(bar, 0.0, strip);
            let clock_w = painter
                .layout_no_wrap(clock.to_owned(), font.clone(), Color32::WHITE)
                .size()
                .x;
            let title_galley = painter.layout_job(one_line(
                title,
                font.clone(),
                (r.width() - clock_w - 14.0).max(10.0),
            ));
            painter.galley(
                pos2(r.min.x + 4.0, r.min.y + 3.0),
                title_galley,
                Color32::WHITE,
            );
            painter.text(
                pos2(r.max.x - 4.0, r.min.y + 3.0),
                Align2::RIGHT_TOP,
                clock,
                font.clone(),
                Color32::WHITE,
            );
            let info_pos = pos2(r.min.x + 4.0, r.max.y - 3.0);
            let g = painter.layout_no_wrap(
                self.info.clone(),
                FontId::proportional(size * 0.9),
                Color32::from_gray(220),
            );
            painter.rect_filled(
                Rect::from_min_size(
                    info_pos - vec2(2.0, g.size().y + 1.0),
                    g.size() + Vec2::splat(4.0),
                ),
                2.0,
                strip,
            );
            painter.galley(info_pos - vec2(0.0, g.size().y), g, Color32::from_gray(220));
        }
        if let Some((text, colour)) = &self.banner {
            let mut job = egui::text::LayoutJob::simple(
                text.clone(),
                FontId::proportional(size * 1.1),
                *colour,
                r.width() - 8.0,
            );
            job.halign = egui::Align::Center;
            let g = painter.layout_job(job);
            painter.galley(
                pos2(r.center().x, r.center().y - g.size().y / 2.0),
                g,
                *colour,
            );
        }
        if self.drop_target {
            painter.rect_stroke(
                r,
                0.0,
                Stroke::new(3.0, Color32::from_rgb(80, 160, 255)),
                StrokeKind::Inside,
            );
        } else if self.selected {
            painter.rect_stroke(
                r,
                0.0,
                Stroke::new(2.0, Color32::from_rgb(255, 210, 0)),
                StrokeKind::Inside,
            );
        } else {
            painter.rect_stroke(
                r,
                0.0,
                Stroke::new(1.0, Color32::from_gray(40)),
                StrokeKind::Inside,
            );
        }
    }
}

/// The machine's name: what a wall without a profile is called for wall commands.
fn machine_name() -> String {
    let name = std::env::var("COMPUTERNAME").ok().or_else(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_owned())
    });
    name.filter(|n| !n.is_empty())
        .unwrap_or_else(|| "workstation".into())
}
