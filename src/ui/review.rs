//! The review workspace ("centre de relecture"): recorded cameras in a synced grid, a
//! zoomable timeline per camera (recorded spans, gaps and their causes, events, bookmarks,
//! holds), transport controls, bookmarks and legal holds.
//!
//! Threads: each tile's pictures come from a [`TileWorker`] (its own thread, file and decoder);
//! timelines are read and bookmarks and holds written by one "review index" thread. The UI
//! thread only reads their latest results.

use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eframe::egui_wgpu;
use egui::{Align2, Color32, FontId, Rect, Sense, Stroke, StrokeKind, pos2, vec2};

use super::export_dialog::ExportDialog;
use super::video::VideoCallback;
use crate::auth::{Action, Session};
use crate::client::Api;
use crate::playback::worker::{Request, TileWorker};
use crate::render::{FULL_UV, StreamId, TileDraw, fit_rect};
use crate::store::{Bookmark, CameraRow, Hold, Span};

/// Playback speeds offered, as multiples of real time.
pub const SPEEDS: [f64; 8] = [0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0];

/// From this speed on, playback shows keyframes only.
pub const FAST_SPEED: f64 = 4.0;

const NS: i64 = 1_000_000_000;
const DAY_NS: i64 = 86_400 * NS;

pub use crate::time::{paris, paris_offset_s, parse_paris};

pub use crate::playback::timeline::TimelineData;

enum IndexJob {
    Timeline {
        camera: String,
        from: i64,
        to: i64,
    },
    Bookmark(Bookmark),
    Hold(Hold),
    /// A mask lifted or put back (the entry the lift made).
    MaskLift(crate::auth::audit::Entry),
}

/// The review workspace's thread of requests to the server (timelines, bookmarks, holds).
struct IndexThread {
    tx: mpsc::Sender<IndexJob>,
    results: Arc<Mutex<HashMap<String, TimelineData>>>,
    /// The last error, shown in the status line.
    error: Arc<Mutex<Option<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl IndexThread {
    fn start(api: &Arc<Api>, repaint: Arc<dyn Fn() + Send + Sync>) -> IndexThread {
        let (tx, rx) = mpsc::channel::<IndexJob>();
        let results: Arc<Mutex<HashMap<String, TimelineData>>> = Arc::default();
        let error: Arc<Mutex<Option<String>>> = Arc::default();
        let (r2, e2, api) = (results.clone(), error.clone(), api.clone());
        let thread = std::thread::Builder::new()
            .name("review index".into())
            .spawn(move || {
                let fail = |e: String| *e2.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
                let keep = |camera: String, data: TimelineData| {
                    r2.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(camera, data);
                };
                while let Ok(job) = rx.recv() {
                    if let Err(e) = server_job(&api, job, &keep) {
                        fail(e);
                    }
                    repaint();
                }
            })
            .ok();
        IndexThread {
            tx,
            results,
            error,
            thread,
        }
    }
}

/// A job as requests to the site server, which decides and logs (the footage it serves, the
/// bookmarks and holds it stores, the masks lifted).
fn server_job(api: &Api, job: IndexJob, keep: &dyn Fn(String, TimelineData)) -> Result<(), String> {
    let cam = |c: &str| crate::client::path_segment(c);
    match job {
        IndexJob::Timeline { camera, from, to } => api
            .review_timeline(&camera, from, to)
            .map(|data| keep(camera, data))
            .map_err(|e| e.to_string()),
        IndexJob::Bookmark(b) => api
            .post::<_, serde_json::Value>(
                &format!("/v1/cameras/{}/bookmarks", cam(&b.camera_id)),
                &crate::server::review::NewBookmark {
                    at_utc_ns: b.at_utc_ns,
                    note: b.note,
                },
            )
            .map(|_| ())
            .map_err(|e| e.to_string()),
        IndexJob::Hold(h) => api
            .post::<_, serde_json::Value>(
                &format!("/v1/cameras/{}/holds", cam(&h.camera_id)),
                &crate::server::review::NewHold {
                    from_utc_ns: h.span.start_utc_ns,
                    to_utc_ns: h.span.end_utc_ns,
                    procedure: h.procedure,
                    reason: h.reason,
                    days: 0,
                    expires_utc_ns: Some(h.expires_utc_ns),
                },
            )
            .map(|_| ())
            .map_err(|e| e.to_string()),
        IndexJob::MaskLift(e) => api
            .post_empty(
                &format!("/v1/cameras/{}/masks/lift", cam(&e.cameras)),
                &crate::server::review::MaskLift {
                    lifted: e.action == "mask lifted",
                    reason: e.reason,
                },
            )
            .map_err(|e| e.to_string()),
    }
}

/// A tile of the grid.
struct Tile {
    worker: TileWorker,
    /// The playhead last asked for.
    asked: Option<i64>,
}

/// The review workspace.
pub struct ReviewWorkspace {
    api: Arc<Api>,
    session: Session,
    /// Masks lifted or put back, waiting for the index thread to tell the server (which logs
    /// them, as it logs the footage it serves and what it stores).
    mask_lifts: Vec<crate::auth::audit::Entry>,
    export: ExportDialog,
    cameras: Vec<CameraRow>,
    search: String,
    /// Columns (and rows) of the grid: 1 to 4.
    grid: usize,
    tiles: Vec<Option<Tile>>,
    selected: usize,
    /// The instant shown, UTC ns.
    playhead: i64,
    playing: bool,
    speed: usize,
    reverse: bool,
    last_tick: Option<Instant>,
    /// Visible timeline range.
    view: (i64, i64),
    /// A range picked on the timeline (shift-drag), for holds and, later, exports.
    selection: Option<(i64, i64)>,
    index: Option<IndexThread>,
    /// The privacy masks, kept current (no picture is drawn before they are read).
    masks: Option<crate::client::masks::MaskWatch>,
    /// Masks a supervisor lifted (logged).
    lifts: super::masks::Lifts,
    fetched: HashMap<String, (i64, i64, Instant)>,
    jump: String,
    note: String,
    procedure: String,
    reason: String,
    hold_days: u32,
    message: Option<String>,
}

impl ReviewWorkspace {
    /// A workspace on the site server `api` (signed in as `session`): the cameras, timelines,
    /// footage, masks, bookmarks, holds and exports all come from it.
    ///
    /// Without `at_utc_ns`, the playhead starts 10 s before the end of the latest recording
    /// indexed, or near the live edge where none is yet.
    /// `listed` is the server's answer to `GET /v1/cameras`, asked off the UI thread.
    pub fn on_server(
        api: Arc<crate::client::Api>,
        listed: Vec<crate::client::ApiCamera>,
        at_utc_ns: Option<i64>,
        session: Session,
    ) -> Result<ReviewWorkspace, String> {
        if !session.may(Action::Playback) {
            return Err(format!(
                "{} ({}) may not {}",
                session.user,
                session.role,
                Action::Playback.as_str()
            ));
        }
        let at_utc_ns = at_utc_ns.unwrap_or_else(|| {
            listed
                .iter()
                .filter_map(|c| c.recorded_until_utc_ns)
                .max()
                .map(|end| end - 10 * NS)
                // The segment being written: its fragments are complete a GOP behind.
                .unwrap_or_else(|| crate::time::now_utc_ns() - 3 * NS)
        });
        let cameras = listed.iter().map(|c| c.camera_row()).collect();
        Ok(ReviewWorkspace {
            api,
            session,
            mask_lifts: Vec::new(),
            export: ExportDialog::default(),
            cameras,
            search: String::new(),
            grid: 2,
            tiles: (0..16).map(|_| None).collect(),
            selected: 0,
            playhead: at_utc_ns,
            playing: false,
            speed: 3,
            reverse: false,
            last_tick: None,
            view: (at_utc_ns - 5 * 60 * NS, at_utc_ns + 5 * 60 * NS),
            selection: None,
            index: None,
            masks: None,
            lifts: Default::default(),
            fetched: HashMap::new(),
            jump: paris(at_utc_ns, "%Y-%m-%d %H:%M:%S"),
            note: String::new(),
            procedure: String::new(),
            reason: String::new(),
            hold_days: 365,
            message: None,
        })
    }

    /// The signed-in user.
    pub fn session(&self) -> &Session {
        &self.session
    }

    fn send_mask_lifts(&mut self) {
        if let Some(i) = &self.index {
            for e in self.mask_lifts.drain(..) {
                let _ = i.tx.send(IndexJob::MaskLift(e));
            }
        }
    }

    /// Puts `camera` in tile `tile`; false if it is unknown to the index or not granted to
    /// the user.
    pub fn assign(&mut self, tile: usize, camera: &str) -> bool {
        if tile >= self.tiles.len() || !self.cameras.iter().any(|c| c.id == camera) {
            return false;
        }
        match TileWorker::with_player(crate::client::player(&self.api, camera)) {
            Ok(worker) => {
                self.tiles[tile] = Some(Tile {
                    worker,
                    asked: None,
                });
                true
            }
            Err(e) => {
                self.message = Some(e.to_string());
                false
            }
        }
    }

    pub fn set_grid(&mut self, n: usize) {
        self.grid = n.clamp(1, 4);
    }

    pub fn playhead(&self) -> i64 {
        self.playhead
    }

    /// Moves the playhead (every tile follows).
    pub fn seek(&mut self, at_utc_ns: i64) {
        self.playhead = at_utc_ns;
        let span = self.view.1 - self.view.0;
        if !(self.view.0..self.view.1).contains(&at_utc_ns) {
            self.view = (at_utc_ns - span / 2, at_utc_ns + span / 2);
        }
    }

    pub fn set_view(&mut self, from: i64, to: i64) {
        self.view = (from, to.max(from + NS / 10));
    }

    pub fn set_selection(&mut self, range: Option<(i64, i64)>) {
        self.selection = range;
    }

    /// Plays at `SPEEDS[speed]`, backward when `reverse`.
    pub fn play(&mut self, speed: usize, reverse: bool) {
        self.speed = speed.min(SPEEDS.len() - 1);
        self.reverse = reverse;
        self.playing = true;
        self.last_tick = None;
    }

    pub fn pause(&mut self) {
        self.playing = false;
    }

    /// Steps the playhead one picture of the selected tile forward (+1) or backward (-1).
    pub fn step(&mut self, dir: i8) {
        self.playing = false;
        let shown = self
            .tiles
            .get(self.selected)
            .and_then(|t| t.as_ref())
            .and_then(|t| t.worker.status().shown);
        if let Some((start, end)) = shown {
            self.seek(if dir > 0 { end } else { start - 1 });
        }
    }

    /// Every tile's picture interval, for tests: (camera, interval shown).
    pub fn shown(&self) -> Vec<(String, Option<(i64, i64)>)> {
        self.tiles
            .iter()
            .flatten()
            .map(|t| (t.worker.camera().to_owned(), t.worker.status().shown))
            .collect()
    }

    /// Every tile's note (why it shows no picture for the playhead), in tile order.
    pub fn notes(&self) -> Vec<(String, Option<String>)> {
        self.tiles
            .iter()
            .flatten()
            .map(|t| (t.worker.camera().to_owned(), t.worker.status().note))
            .collect()
    }

    /// True when every tile shows the picture for the playhead (or has said why not), and
    /// the privacy masks have been read (once the window is shown).
    pub fn settled(&self) -> bool {
        let masks_read = self.masks.as_ref().is_none_or(|m| m.current().is_some());
        masks_read
            && self.tiles.iter().flatten().all(|t| {
                let st = t.worker.status();
                t.asked == Some(self.playhead)
                    && !t.worker.busy()
                    && (st.note.is_some()
                        || st
                            .shown
                            .is_some_and(|(a, b)| (a..b).contains(&self.playhead)))
            })
    }

    pub fn show(&mut self, ui: &mut egui::Ui) {
        if self.index.is_none() {
            let ctx = ui.ctx().clone();
            self.index = Some(IndexThread::start(
                &self.api,
                Arc::new(move || ctx.request_repaint()),
            ));
            self.send_mask_lifts();
        }
        if self.masks.is_none() {
            let ctx = ui.ctx().clone();
            self.masks = Some(crate::client::masks::MaskWatch::watch(
                self.api.clone(),
                Arc::new(move || ctx.request_repaint()),
            ));
        }
        self.tick();
        if self.playing {
            ui.ctx().request_repaint_after(Duration::from_millis(10));
        } else if !self.settled() {
            ui.ctx().request_repaint_after(Duration::from_millis(30));
        }
        egui::Panel::top("review top bar").show(ui, |ui| self.top_bar(ui));
        egui::Panel::left("review cameras")
            .resizable(true)
            .default_size(230.0)
            .show(ui, |ui| self.camera_list(ui));
        egui::Panel::bottom("review timeline")
            .resizable(true)
            .default_size(220.0)
            .show(ui, |ui| {
                self.transport(ui);
                self.timelines(ui);
            });
        egui::CentralPanel::no_frame().show(ui, |ui| self.grid_view(ui));
        let ctx = ui.ctx().clone();
        self.export.selected_camera = self.selected_camera();
        self.export.show(&ctx, &self.api);
        if self.export.poll() {
            self.fetched.clear();
        }
        self.request_pictures();
    }

    /// Moves the playhead by the time elapsed since the last tick times the speed, and asks
    /// every tile for its picture. `show` calls it; tests without a window call it directly.
    pub fn tick(&mut self) {
        self.advance();
        self.request_pictures();
    }

    /// The picture a tile shows now.
    pub fn tile_frame(&self, tile: usize) -> Option<crate::media::Frame> {
        self.tiles.get(tile)?.as_ref()?.worker.slot().last()
    }

    /// True when the timelines of every tile's camera have been read for the visible range.
    /// The alarms marked on `camera`'s timeline: (alarm, when, priority, kind).
    pub fn timeline_alarms(&self, camera: &str) -> Vec<(i64, i64, u8, String)> {
        self.index
            .as_ref()
            .and_then(|i| {
                i.results
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(camera)
                    .map(|d| d.alarms.clone())
            })
            .unwrap_or_default()
    }

    pub fn timelines_ready(&self) -> bool {
        let Some(index) = &self.index else {
            return false;
        };
        let results = index.results.lock().unwrap_or_else(|e| e.into_inner());
        self.tiles.iter().flatten().all(|t| {
            results
                .get(t.worker.camera())
                .is_some_and(|d| d.range.0 <= self.view.0 && d.range.1 >= self.view.1)
        })
    }

    fn advance(&mut self) {
        if !self.playing {
            self.last_tick = None;
            return;
        }
        let now = Instant::now();
        if let Some(t) = self.last_tick {
            let dt = now.duration_since(t).as_secs_f64() * SPEEDS[self.speed];
            let d = (dt * 1e9) as i64;
            let at = if self.reverse {
                self.playhead - d
            } else {
                self.playhead + d
            };
            self.seek(at);
        }
        self.last_tick = Some(now);
    }

    fn request_pictures(&mut self) {
        for t in self.tiles.iter_mut().flatten() {
            let st = t.worker.status();
            let showing = st
                .shown
                .is_some_and(|(a, b)| (a..b).contains(&self.playhead));
            if t.asked != Some(self.playhead) && !showing && !t.worker.busy() {
                // From 4x on, keyframes only: one picture a GOP, the way fast review reads.
                let fast = self.playing && SPEEDS[self.speed] >= FAST_SPEED;
                t.worker.request(if fast {
                    Request::KeyframeAt(self.playhead)
                } else {
                    Request::At(self.playhead)
                });
                t.asked = Some(self.playhead);
            } else if showing {
                t.asked = Some(self.playhead);
            }
        }
    }

    fn top_bar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.strong("Vigie · Review");
            ui.separator();
            for n in 1..=4 {
                let label = if n == 1 {
                    "1".to_string()
                } else {
                    format!("{n}x{n}")
                };
                if ui.selectable_label(self.grid == n, label).clicked() {
                    self.grid = n;
                }
            }
            ui.separator();
            let label = ui.label("Go to (Paris)");
            let edit = ui
                .add(egui::TextEdit::singleline(&mut self.jump).desired_width(170.0))
                .labelled_by(label.id);
            if edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter))
                || ui.button("Go").clicked()
            {
                match parse_paris(&self.jump) {
                    Some(t) => self.seek(t),
                    None => {
                        self.message = Some(format!(
                            "{:?} is not a date and time like 2026-11-26 14:03:00",
                            self.jump
                        ))
                    }
                }
            }
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                ui.label(format!("{} · {}", self.session.user, self.session.role));
                ui.separator();
                ui.monospace(format!(
                    "{} Paris · {} UTC",
                    paris(self.playhead, "%Y-%m-%d %H:%M:%S%.3f"),
                    crate::playback::rfc3339(self.playhead)
                ));
            });
        });
    }

    fn camera_list(&mut self, ui: &mut egui::Ui) {
        ui.add(egui::TextEdit::singleline(&mut self.search).hint_text("Search name, zone, id"));
        ui.weak("Click: into the selected tile");
        ui.separator();
        let needle = self.search.to_lowercase();
        let mut zones: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, c) in self.cameras.iter().enumerate() {
            let hit = needle.is_empty()
                || c.name.to_lowercase().contains(&needle)
                || c.zone.to_lowercase().contains(&needle)
                || c.id.to_lowercase().contains(&needle);
            if hit {
                zones.entry(c.zone.clone()).or_default().push(i);
            }
        }
        let mut pick = None;
        egui::ScrollArea::vertical().show(ui, |ui| {
            for (zone, list) in &zones {
                let title = if zone.is_empty() { "No zone" } else { zone };
                egui::CollapsingHeader::new(format!("{title} ({})", list.len()))
                    .default_open(true)
                    .show(ui, |ui| {
                        for &ci in list {
                            let c = &self.cameras[ci];
                            if ui
                                .selectable_label(false, format!("{}  {}", c.id, c.name))
                                .clicked()
                            {
                                pick = Some(c.id.clone());
                            }
                        }
                    });
            }
        });
        if let Some(id) = pick {
            let tile = self.selected;
            self.assign(tile, &id);
            self.selected = (tile + 1) % (self.grid * self.grid);
        }
    }

    fn transport(&mut self, ui: &mut egui::Ui) {
        ui.horizontal_wrapped(|ui| {
            if ui
                .button("‹ frame")
                .on_hover_text("One frame back")
                .clicked()
            {
                self.step(-1);
            }
            if ui.button("« reverse").clicked() {
                self.play(self.speed, true);
            }
            if ui.button("pause").clicked() {
                self.pause();
            }
            if ui.button("play »").clicked() {
                self.play(self.speed, false);
            }
            if ui
                .button("frame ›")
                .on_hover_text("One frame forward")
                .clicked()
            {
                self.step(1);
            }
            ui.separator();
            egui::ComboBox::from_label("speed")
                .selected_text(speed_label(SPEEDS[self.speed]))
                .show_ui(ui, |ui| {
                    for (i, s) in SPEEDS.iter().enumerate() {
                        if ui
                            .selectable_label(i == self.speed, speed_label(*s))
                            .clicked()
                        {
                            self.speed = i;
                        }
                    }
                });
            ui.separator();
            ui.add(
                egui::TextEdit::singleline(&mut self.note)
                    .hint_text("Bookmark note")
                    .desired_width(160.0),
            );
            if ui.button("Bookmark").clicked() {
                self.add_bookmark();
            }
            ui.separator();
            ui.add(
                egui::TextEdit::singleline(&mut self.procedure)
                    .hint_text("Procedure no.")
                    .desired_width(110.0),
            );
            ui.add(
                egui::TextEdit::singleline(&mut self.reason)
                    .hint_text("Reason")
                    .desired_width(140.0),
            );
            ui.add(
                egui::DragValue::new(&mut self.hold_days)
                    .range(1..=3650)
                    .suffix(" days"),
            );
            if ui
                .button("Hold selection")
                .on_hover_text("Shift-drag on a timeline selects a range")
                .clicked()
            {
                self.add_hold();
            }
            ui.separator();
            if ui
                .button("Export selection…")
                .on_hover_text(
                    "For a judicial requisition: the selected range of the grid's cameras",
                )
                .clicked()
            {
                self.open_export();
            }
            let camera = self.selected_camera();
            let has_masks = camera.as_ref().is_some_and(|c| {
                self.masks
                    .as_ref()
                    .and_then(|m| m.current())
                    .is_some_and(|m| m.contains_key(c))
            });
            let lifts = &mut self.mask_lifts;
            self.lifts
                .controls(ui, &self.session, camera.as_deref(), has_masks, &mut |e| {
                    lifts.push(e)
                });
            if let Some(m) = &self.lifts.message {
                ui.colored_label(Color32::from_rgb(240, 160, 60), m);
            }
        });
        self.send_mask_lifts();
        let error = self
            .index
            .as_ref()
            .and_then(|i| i.error.lock().unwrap_or_else(|e| e.into_inner()).clone())
            .or_else(|| self.masks.as_ref().and_then(|m| m.error()));
        if let Some(m) = self.message.clone().or(error) {
            ui.colored_label(Color32::from_rgb(240, 160, 60), m);
        }
    }

    /// Opens the export window on the selected range (the selected tile's camera ticked).
    pub fn open_export(&mut self) {
        if !self.permitted(Action::Export) {
            return;
        }
        let Some(range) = self.selection else {
            self.message = Some("Shift-drag a range on a timeline first".into());
            return;
        };
        let mut cams: Vec<String> = Vec::new();
        for t in self.tiles.iter().flatten() {
            let c = t.worker.camera().to_owned();
            if !cams.contains(&c) {
                cams.push(c);
            }
        }
        let selected = self.selected_camera();
        self.export.start(range, cams, selected.as_deref());
        self.export.selected_camera = selected;
    }

    /// The export window (for tests: fill it, run it, read its outcome).
    pub fn export_dialog(&mut self) -> &mut ExportDialog {
        &mut self.export
    }

    /// Starts the export the window describes.
    pub fn run_export(&mut self, ctx: &egui::Context) {
        self.export.run(&self.api, ctx);
    }

    fn selected_camera(&self) -> Option<String> {
        self.tiles
            .get(self.selected)
            .and_then(|t| t.as_ref())
            .map(|t| t.worker.camera().to_owned())
    }

    /// False (with the reason in the status line) when the role does not allow `action`.
    fn permitted(&mut self, action: Action) -> bool {
        if self.session.may(action) {
            return true;
        }
        self.message = Some(format!(
            "{} ({}) may not {}",
            self.session.user,
            self.session.role,
            action.as_str()
        ));
        false
    }

    fn add_bookmark(&mut self) {
        if !self.permitted(Action::Bookmark) {
            return;
        }
        let Some(camera) = self.selected_camera() else {
            self.message = Some("Select a tile with a camera first".into());
            return;
        };
        let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
        let b = Bookmark {
            id: 0,
            camera_id: camera.clone(),
            at_utc_ns: self.playhead,
            note: std::mem::take(&mut self.note),
            author: self.session.user.clone(),
            created_utc_ns: now,
        };
        if let Some(i) = &self.index {
            let _ = i.tx.send(IndexJob::Bookmark(b));
        }
        self.fetched.remove(&camera);
        self.message = None;
    }

    fn add_hold(&mut self) {
        if !self.permitted(Action::PlaceHold) {
            return;
        }
        let (Some(camera), Some((from, to))) = (self.selected_camera(), self.selection) else {
            self.message = Some("Select a tile, then shift-drag a range on its timeline".into());
            return;
        };
        if self.procedure.trim().is_empty() || self.reason.trim().is_empty() {
            self.message = Some("A hold needs a procedure number and a reason".into());
            return;
        }
        let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
        let h = Hold {
            id: 0,
            camera_id: camera.clone(),
            span: Span {
                start_utc_ns: from,
                end_utc_ns: to,
            },
            procedure: self.procedure.trim().to_owned(),
            reason: self.reason.trim().to_owned(),
            author: self.session.user.clone(),
            created_utc_ns: now,
            expires_utc_ns: now + self.hold_days as i64 * DAY_NS,
            released_utc_ns: None,
        };
        if let Some(i) = &self.index {
            let _ = i.tx.send(IndexJob::Hold(h));
        }
        self.fetched.remove(&camera);
        self.message = None;
    }

    fn grid_view(&mut self, ui: &mut egui::Ui) {
        let rect = ui.available_rect_before_wrap();
        let response = ui.allocate_rect(rect, Sense::click());
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, 0.0, Color32::from_gray(12));
        let video_shape = painter.add(egui::Shape::Noop);
        let n = self.grid;
        let (w, h) = (rect.width() / n as f32, rect.height() / n as f32);
        let ppp = ui.ctx().pixels_per_point();
        let grid_px = [rect.width() * ppp, rect.height() * ppp];
        let masks = self.masks.as_ref().and_then(|m| m.current());
        let mut mask_list = Vec::new();
        let mut sources = Vec::new();
        let mut draws = Vec::new();
        let mut labels = Vec::new();
        // Blur regions of a citizen's copy: drawn on the picture of their camera's tile.
        let mut regions: Vec<(Rect, Vec<crate::render::Polygon>, Vec<[f32; 2]>)> = Vec::new();
        for i in 0..n * n {
            let tile_rect = Rect::from_min_size(
                pos2(
                    rect.min.x + (i % n) as f32 * w,
                    rect.min.y + (i / n) as f32 * h,
                ),
                vec2(w, h),
            )
            .shrink(1.0);
            if response.clicked()
                && let Some(p) = response.interact_pointer_pos()
                && tile_rect.contains(p)
            {
                self.selected = i;
            }
            let Some(tile) = self.tiles[i].as_ref() else {
                labels.push((
                    tile_rect,
                    i == self.selected,
                    "Pick a camera".to_string(),
                    None,
                ));
                continue;
            };
            let sid = StreamId(i as u64);
            sources.push((sid, tile.worker.slot().clone()));
            if let Some(p) = masks.as_ref().and_then(|m| m.get(tile.worker.camera()))
                && !self.lifts.is_lifted(tile.worker.camera())
            {
                mask_list.push((sid, p.clone()));
            }
            let st = tile.worker.status();
            if let Some(f) = tile.worker.slot().last()
                && masks.is_some()
            {
                let frac = [
                    (tile_rect.min.x - rect.min.x) / rect.width(),
                    (tile_rect.min.y - rect.min.y) / rect.height(),
                    tile_rect.width() / rect.width(),
                    tile_rect.height() / rect.height(),
                ];
                let fit = fit_rect(frac, grid_px, [f.width, f.height]);
                draws.push(TileDraw {
                    stream: sid,
                    rect: fit,
                    uv: FULL_UV,
                    brightness: if st.note.is_some() { 0.35 } else { 1.0 },
                });
                let pic = Rect::from_min_size(
                    rect.min + vec2(fit[0] * rect.width(), fit[1] * rect.height()),
                    vec2(fit[2] * rect.width(), fit[3] * rect.height()),
                );
                let cam = tile.worker.camera();
                let drawing = self.export.drawing_on() == Some(cam);
                if drawing
                    && response.clicked()
                    && let Some(p) = response.interact_pointer_pos()
                    && pic.contains(p)
                {
                    self.export.add_blur_point([
                        (p.x - pic.min.x) / pic.width(),
                        (p.y - pic.min.y) / pic.height(),
                    ]);
                }
                let done = self.export.blur_regions(cam);
                if !done.is_empty() || drawing {
                    let current = if drawing {
                        self.export.blur_points().to_vec()
                    } else {
                        Vec::new()
                    };
                    regions.push((pic, done, current));
                }
            }
            let name = self
                .cameras
                .iter()
                .find(|c| c.id == tile.worker.camera())
                .map(|c| format!("{} · {}", c.id, c.name))
                .unwrap_or_default();
            let when = st
                .shown
                .map(|(a, _)| paris(a, "%Y-%m-%d %H:%M:%S%.3f"))
                .unwrap_or_default();
            labels.push((
                tile_rect,
                i == self.selected,
                format!("{name}  {when}"),
                st.note,
            ));
        }
        painter.set(
            video_shape,
            egui_wgpu::Callback::new_paint_callback(
                rect,
                VideoCallback {
                    batch: 1,
                    sources,
                    tiles: draws,
                    masks: mask_list,
                },
            ),
        );
        let stroke = Stroke::new(2.0, Color32::from_rgb(255, 120, 200));
        for (pic, done, current) in regions {
            let at = |q: &[f32; 2]| {
                pos2(
                    pic.min.x + q[0] * pic.width(),
                    pic.min.y + q[1] * pic.height(),
                )
            };
            for poly in done {
                painter.add(egui::Shape::closed_line(
                    poly.iter().map(at).collect(),
                    stroke,
                ));
            }
            if current.len() >= 2 {
                painter.add(egui::Shape::line(current.iter().map(at).collect(), stroke));
            }
            for q in &current {
                painter.circle_filled(at(q), 3.5, stroke.color);
            }
        }
        for (r, selected, title, note) in labels {
            let stroke = if selected {
                Stroke::new(2.0, Color32::from_rgb(90, 160, 255))
            } else {
                Stroke::new(1.0, Color32::from_gray(50))
            };
            painter.rect_stroke(r, 0.0, stroke, StrokeKind::Inside);
            let band = Rect::from_min_size(r.min, vec2(r.width(), 18.0));
            painter.rect_filled(band, 0.0, Color32::from_black_alpha(160));
            painter.text(
                band.left_center() + vec2(4.0, 0.0),
                Align2::LEFT_CENTER,
                title,
                FontId::proportional(12.0),
                Color32::WHITE,
            );
            if let Some(note) = note {
                painter.text(
                    r.center(),
                    Align2::CENTER_CENTER,
                    note,
                    FontId::proportional(14.0),
                    Color32::from_rgb(255, 190, 90),
                );
            }
        }
    }

    fn timelines(&mut self, ui: &mut egui::Ui) {
        // Mouse wheel over the timelines zooms about the pointer, from 30 days to a second.
        let cams: Vec<String> = (0..self.grid * self.grid)
            .filter_map(|i| self.tiles[i].as_ref().map(|t| t.worker.camera().to_owned()))
            .collect();
        let width = ui.available_width();
        let axis = ui.allocate_exact_size(vec2(width, 18.0), Sense::hover()).0;
        self.axis(ui, axis);
        for cam in cams {
            self.fetch(&cam);
            let (row, response) =
                ui.allocate_exact_size(vec2(width, 22.0), Sense::click_and_drag());
            self.row(ui, row, &cam);
            self.row_input(ui, row, &response);
        }
    }

    fn x_of(&self, r: Rect, t: i64) -> f32 {
        let span = (self.view.1 - self.view.0).max(1) as f64;
        r.min.x + ((t - self.view.0) as f64 / span * r.width() as f64) as f32
    }

    fn t_of(&self, r: Rect, x: f32) -> i64 {
        let span = (self.view.1 - self.view.0) as f64;
        self.view.0 + ((x - r.min.x) as f64 / r.width().max(1.0) as f64 * span) as i64
    }

    fn axis(&self, ui: &egui::Ui, r: Rect) {
        let p = ui.painter_at(r);
        let span = self.view.1 - self.view.0;
        let steps = [
            NS / 25,
            NS,
            10 * NS,
            60 * NS,
            600 * NS,
            3600 * NS,
            6 * 3600 * NS,
            DAY_NS,
        ];
        let step = steps
            .iter()
            .copied()
            .find(|s| span / s <= 10)
            .unwrap_or(DAY_NS * 5);
        let fmt = if step < NS {
            "%H:%M:%S%.3f"
        } else if step < DAY_NS {
            "%H:%M:%S"
        } else {
            "%d/%m"
        };
        // Ticks at round Paris times.
        let off = paris_offset_s(self.view.0) * NS;
        let mut t = (self.view.0 + off).div_euclid(step) * step - off;
        while t <= self.view.1 {
            let x = self.x_of(r, t);
            p.line_segment(
                [pos2(x, r.min.y), pos2(x, r.max.y)],
                Stroke::new(1.0, Color32::from_gray(70)),
            );
            p.text(
                pos2(x + 2.0, r.center().y),
                Align2::LEFT_CENTER,
                paris(t, fmt),
                FontId::monospace(10.0),
                Color32::from_gray(170),
            );
            t += step;
        }
    }

    fn fetch(&mut self, cam: &str) {
        let Some(index) = &self.index else { return };
        let stale = self.fetched.get(cam).is_none_or(|(a, b, at)| {
            (*a, *b) != self.view || at.elapsed() > Duration::from_secs(3)
        });
        if stale {
            // A little more than the view, so small pans draw at once.
            let pad = (self.view.1 - self.view.0) / 4;
            let _ = index.tx.send(IndexJob::Timeline {
                camera: cam.to_owned(),
                from: self.view.0 - pad,
                to: self.view.1 + pad,
            });
            self.fetched
                .insert(cam.to_owned(), (self.view.0, self.view.1, Instant::now()));
        }
    }

    fn row(&self, ui: &egui::Ui, r: Rect, cam: &str) {
        let p = ui.painter_at(r);
        p.rect_filled(r, 2.0, Color32::from_gray(28));
        let data = self.index.as_ref().and_then(|i| {
            i.results
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(cam)
                .cloned()
        });
        let band = r.shrink2(vec2(0.0, 5.0));
        if let Some(d) = data {
            for (id, s) in &d.timeline.segments {
                let (a, b) = (self.x_of(r, s.start_utc_ns), self.x_of(r, s.end_utc_ns));
                let colour = if d.damaged.contains(id) {
                    Color32::from_rgb(120, 80, 160)
                } else {
                    Color32::from_rgb(46, 140, 87)
                };
                p.rect_filled(
                    Rect::from_x_y_ranges(a..=(b.max(a + 1.0)), band.y_range()),
                    0.0,
                    colour,
                );
            }
            for (g, _) in &d.timeline.gaps {
                let (a, b) = (self.x_of(r, g.start_utc_ns), self.x_of(r, g.end_utc_ns));
                p.rect_filled(
                    Rect::from_x_y_ranges(a..=(b.max(a + 1.0)), band.y_range()),
                    0.0,
                    Color32::from_rgb(150, 40, 40),
                );
            }
            for h in &d.holds {
                let (a, b) = (
                    self.x_of(r, h.span.start_utc_ns),
                    self.x_of(r, h.span.end_utc_ns),
                );
                p.rect_filled(
                    Rect::from_x_y_ranges(a..=(b.max(a + 1.0)), r.min.y..=r.min.y + 4.0),
                    0.0,
                    Color32::from_rgb(240, 150, 30),
                );
            }
            for (t, _) in &d.timeline.events {
                let x = self.x_of(r, *t);
                p.line_segment(
                    [pos2(x, r.min.y), pos2(x, r.max.y)],
                    Stroke::new(1.0, Color32::from_rgb(240, 220, 60)),
                );
            }
            // Alarms: a flag in the priority's colour from the top of the row.
            for (_, at, priority, _) in &d.alarms {
                let x = self.x_of(r, *at);
                let c = crate::ui::alarms::priority_colour(*priority);
                p.line_segment([pos2(x, r.min.y), pos2(x, r.max.y)], Stroke::new(2.0, c));
                p.add(egui::Shape::convex_polygon(
                    vec![
                        pos2(x, r.min.y),
                        pos2(x + 8.0, r.min.y + 4.0),
                        pos2(x, r.min.y + 8.0),
                    ],
                    c,
                    Stroke::NONE,
                ));
            }
            for b in &d.bookmarks {
                let x = self.x_of(r, b.at_utc_ns);
                p.add(egui::Shape::convex_polygon(
                    vec![
                        pos2(x - 5.0, r.max.y),
                        pos2(x + 5.0, r.max.y),
                        pos2(x, r.max.y - 8.0),
                    ],
                    Color32::from_rgb(80, 160, 255),
                    Stroke::NONE,
                ));
            }
            // A hovered gap says why.
            if let Some(pos) = ui.ctx().pointer_hover_pos()
                && r.contains(pos)
            {
                let t = self.t_of(r, pos.x);
                let what = d
                    .timeline
                    .gaps
                    .iter()
                    .find(|(g, _)| (g.start_utc_ns..g.end_utc_ns).contains(&t))
                    .map(|(_, cause)| format!("gap: {cause}"))
                    .or_else(|| {
                        d.timeline
                            .segments
                            .iter()
                            .find(|(id, s)| {
                                d.damaged.contains(id)
                                    && (s.start_utc_ns..s.end_utc_ns).contains(&t)
                            })
                            .map(|_| "damaged or missing file: playback skips it".to_string())
                    })
                    .or_else(|| {
                        d.bookmarks
                            .iter()
                            .find(|b| (self.x_of(r, b.at_utc_ns) - pos.x).abs() < 5.0)
                            .map(|b| format!("bookmark by {}: {}", b.author, b.note))
                    })
                    .or_else(|| {
                        d.alarms
                            .iter()
                            .find(|a| (self.x_of(r, a.1) - pos.x).abs() < 5.0)
                            .map(|(id, _, p, kind)| {
                                format!("alarm {id}: P{p} {}", crate::ui::alarms::kind_label(kind))
                            })
                    });
                if let Some(w) = what {
                    p.text(
                        pos + vec2(8.0, -10.0),
                        Align2::LEFT_BOTTOM,
                        w,
                        FontId::proportional(12.0),
                        Color32::WHITE,
                    );
                }
            }
        }
        if let Some((a, b)) = self.selection {
            let (a, b) = (self.x_of(r, a), self.x_of(r, b));
            p.rect_filled(
                Rect::from_x_y_ranges(a..=b, r.y_range()),
                0.0,
                Color32::from_rgba_unmultiplied(120, 160, 255, 50),
            );
        }
        let x = self.x_of(r, self.playhead);
        p.line_segment(
            [pos2(x, r.min.y), pos2(x, r.max.y)],
            Stroke::new(2.0, Color32::WHITE),
        );
        p.text(
            r.left_center() + vec2(4.0, 0.0),
            Align2::LEFT_CENTER,
            cam,
            FontId::monospace(11.0),
            Color32::from_gray(220),
        );
    }

    fn row_input(&mut self, ui: &egui::Ui, r: Rect, response: &egui::Response) {
        let shift = ui.input(|i| i.modifiers.shift);
        if let Some(pos) = response.interact_pointer_pos() {
            let t = self.t_of(r, pos.x);
            if shift {
                let origin = ui
                    .input(|i| i.pointer.press_origin())
                    .map(|o| self.t_of(r, o.x));
                if let Some(o) = origin {
                    self.selection = Some((o.min(t), o.max(t).max(o.min(t) + 1)));
                }
            } else if response.dragged() || response.clicked() {
                // Scrubbing: the pictures follow the pointer.
                self.playing = false;
                self.playhead = t;
            }
        }
        if response.hovered() {
            let scroll = ui.input(|i| i.smooth_scroll_delta.y);
            if scroll != 0.0
                && let Some(pos) = ui.ctx().pointer_hover_pos()
            {
                let factor = (-(scroll as f64) / 200.0).exp();
                let pivot = self.t_of(r, pos.x);
                let span = ((self.view.1 - self.view.0) as f64 * factor)
                    .clamp(NS as f64 / 5.0, 30.0 * DAY_NS as f64);
                let left = ((pivot - self.view.0) as f64 / (self.view.1 - self.view.0) as f64
                    * span) as i64;
                self.view = (pivot - left, pivot - left + span as i64);
            }
        }
    }
}

impl Drop for ReviewWorkspace {
    /// Puts lifted masks back, then lets the index thread finish its queue.
    fn drop(&mut self) {
        let lifts = &mut self.mask_lifts;
        self.lifts
            .restore_all(&self.session, &mut |e| lifts.push(e));
        self.send_mask_lifts();
        if let Some(mut index) = self.index.take() {
            let thread = index.thread.take();
            drop(index);
            if let Some(t) = thread {
                let _ = t.join();
            }
        }
    }
}

fn speed_label(s: f64) -> String {
    if s < 1.0 {
        format!("1/{}x", (1.0 / s).round())
    } else {
        format!("{s}x")
    }
}

/// What the review window opens once a user has signed in.
#[derive(Clone, Debug)]
pub struct ReviewStart {
    /// The site server (URL, trusted CA in PEM): everything comes from it.
    pub server: (String, Vec<u8>),
    pub at_utc_ns: i64,
    /// Start at the latest footage instead of `at_utc_ns`.
    pub latest: bool,
    /// Grid size, 1 to 4.
    pub grid: usize,
    /// Cameras to put in the first tiles (those not granted to the user are left out).
    pub cameras: Vec<String>,
}

impl ReviewStart {
    /// The workspace on the site server, signed in as `session` through `signed_in`, with the
    /// cameras put in their tiles.
    pub fn open_on_server(
        &self,
        signed_in: super::login::SignedIn,
        session: Session,
    ) -> Result<ReviewWorkspace, String> {
        let at = (!self.latest).then_some(self.at_utc_ns);
        let ws =
            ReviewWorkspace::on_server(Arc::new(signed_in.api), signed_in.cameras, at, session)?;
        Ok(self.arrange(ws))
    }

    fn arrange(&self, mut ws: ReviewWorkspace) -> ReviewWorkspace {
        ws.set_grid(self.grid);
        let mut left_out = Vec::new();
        for (i, cam) in self.cameras.iter().enumerate() {
            if !ws.assign(i, cam) {
                left_out.push(cam.as_str());
            }
        }
        if !left_out.is_empty() {
            ws.message = Some(format!(
                "Not shown (no recordings, or not granted to you): {}",
                left_out.join(", ")
            ));
        }
        ws
    }
}

struct SignIn {
    login: super::login::LoginScreen,
    start: ReviewStart,
    refused: Option<String>,
}

enum Stage {
    SignIn(Box<SignIn>),
    Review(Box<ReviewWorkspace>),
}

/// The review window: the sign-in screen, then the workspace.
pub struct ReviewApp {
    stage: Stage,
}

impl ReviewApp {
    fn setup(cc: &eframe::CreationContext<'_>) {
        if let Some(rs) = cc.wgpu_render_state.as_ref() {
            super::video::install_compositor(rs);
        }
        cc.egui_ctx.set_visuals(egui::Visuals::dark());
    }

    /// A window on an already signed-in workspace.
    pub fn new(cc: &eframe::CreationContext<'_>, workspace: ReviewWorkspace) -> ReviewApp {
        Self::setup(cc);
        ReviewApp {
            stage: Stage::Review(Box::new(workspace)),
        }
    }

    /// A window that asks who is there first.
    pub fn sign_in(cc: &eframe::CreationContext<'_>, start: ReviewStart) -> ReviewApp {
        Self::setup(cc);
        ReviewApp {
            stage: Stage::SignIn(Box::new(SignIn {
                login: super::login::LoginScreen::server(
                    &start.server.0,
                    &start.server.1,
                    "Vigie · Review",
                )
                .prefetching(super::login::Prefetch::Cameras),
                start,
                refused: None,
            })),
        }
    }

    /// The workspace, once signed in.
    pub fn workspace(&mut self) -> Option<&mut ReviewWorkspace> {
        match &mut self.stage {
            Stage::Review(ws) => Some(ws),
            Stage::SignIn(..) => None,
        }
    }
}

impl eframe::App for ReviewApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let next = match &mut self.stage {
            Stage::Review(ws) => {
                ws.show(ui);
                None
            }
            Stage::SignIn(signin) => {
                let SignIn {
                    login,
                    start,
                    refused,
                } = signin.as_mut();
                if let Some(r) = refused {
                    ui.colored_label(Color32::from_rgb(240, 120, 90), r.as_str());
                }
                let opened = login
                    .show(ui)
                    .map(|(session, signed_in)| start.open_on_server(signed_in, session));
                match opened {
                    Some(Ok(ws)) => Some(ws),
                    Some(Err(e)) => {
                        *refused = Some(e);
                        None
                    }
                    None => None,
                }
            }
        };
        if let Some(ws) = next {
            self.stage = Stage::Review(Box::new(ws));
        }
    }
}

/// Opens the review window on its sign-in screen and runs until it is closed; `keep` (a local
/// server, say) lives as long as the window.
pub fn run_review(
    start: ReviewStart,
    keep: Vec<Box<dyn std::any::Any>>,
    title: &str,
) -> Result<(), eframe::Error> {
    let options = super::native_options(title);
    let r = eframe::run_native(
        "vigie-review",
        options,
        Box::new(move |cc| Ok(Box::new(ReviewApp::sign_in(cc, start)))),
    );
    drop(keep);
    r
}
