//! The live workspace's alarm side: the shared alarm list (a panel), and the alarm screen
//! where an alarm's linked cameras appear live, each beside a replay of the seconds before
//! the alarm from the recorder.

use std::time::Instant;

use super::{LiveWorkspace, Screen, TileState};
use crate::auth::Action;
use crate::playback::worker::{Request, TileWorker};
use crate::ui::alarms::{AlarmBoard, AlarmCommand, BoardRequest};
use crate::ui::map::{MapAction, MapView};

/// Replays start this long before the alarm...
pub(super) const REPLAY_BEFORE_NS: i64 = 10_000_000_000;
/// ...and run until this long after it, then loop.
pub(super) const REPLAY_AFTER_NS: i64 = 2_000_000_000;

/// Stream ids of replays: above every live stream's.
pub(super) const REPLAY_STREAM_BASE: u64 = 1 << 40;

/// A replay as tests see it: camera, span replayed, interval of the picture shown.
pub type ReplayShown = (String, (i64, i64), Option<(i64, i64)>);

/// One camera's replay on the alarm screen.
pub(super) struct Replay {
    /// Started on a thread (it opens the index and the camera's files): None until then.
    pub worker: Option<TileWorker>,
    pub from_ns: i64,
    pub to_ns: i64,
    pub started: Instant,
}

/// A replay's worker, started for (alarm, camera index).
pub(super) type ReplayStarted = (i64, usize, Result<TileWorker, String>);

impl Replay {
    /// The instant to show now: the replay loops over its span.
    pub fn instant(&self) -> i64 {
        let span = (self.to_ns - self.from_ns).max(1);
        self.from_ns + (self.started.elapsed().as_nanos() as i64) % span
    }
}

/// Live tiles and replay tiles for `n` cameras: a layout with room for both.
fn layout_for(n: usize) -> &'static str {
    match n {
        0..=2 => "2x2",
        3..=4 => "3x3",
        _ => "4x4",
    }
}

impl LiveWorkspace {
    /// Starts the alarm list once someone who handles alarms or views live is signed in, and
    /// takes its news: new alarms go to the alarm screen, the most urgent first.
    pub(super) fn alarms_frame(&mut self, ctx: &egui::Context) {
        if self.alarms.is_none()
            && let Some((session, _)) = &self.session
            && session.may(Action::HandleAlarms)
            && let Some(api) = &self.server
        {
            self.alarms = Some(AlarmBoard::on_server(api.clone(), session, ctx));
        }
        let Some(board) = &mut self.alarms else {
            return;
        };
        board.poll();
        if let Some(rx) = &self.replay_rx {
            for (alarm, ci, started) in rx.try_iter() {
                match started {
                    Ok(worker) if Some(alarm) == self.alarm_shown => {
                        if let Some(r) = self.replays.get_mut(&ci) {
                            worker.request(Request::At(r.from_ns));
                            r.worker = Some(worker);
                        }
                    }
                    Ok(_) => {}
                    Err(e) => tracing::info!("alarm {alarm}: no replay: {e}"),
                }
            }
        }
        let Some(board) = &mut self.alarms else {
            return;
        };
        let mut show = None;
        let mut sound: Option<String> = None;
        for id in board.take_arrived() {
            let Some(a) = board.alarms.get(&id) else {
                continue;
            };
            if a.state != "new" {
                continue;
            }
            if sound.as_deref() != Some("alert") && a.sound != "none" {
                sound = Some(a.sound.clone());
            }
            let current = show
                .or(self.alarm_shown)
                .and_then(|s| board.alarms.get(&s))
                .filter(|c| c.state != "closed");
            if current.is_none_or(|c| a.priority <= c.priority) {
                show = Some(id);
            }
        }
        // An escalated alarm (still new after its time) sounds like an alert button.
        if !board.take_escalated().is_empty() {
            sound = Some("alert".into());
        }
        if let Some(id) = show {
            self.show_alarm(id);
        }
        // An alert button nobody has acknowledged sounds again every 15 s.
        let now = std::time::Instant::now();
        let unanswered = self.alarms.as_ref().is_some_and(|b| {
            b.open_alarms()
                .first()
                .is_some_and(|a| a.kind == "alert_button" && a.state == "new")
        });
        if sound.is_none()
            && unanswered
            && self
                .last_sound
                .is_none_or(|t| now.duration_since(t).as_secs() >= 15)
        {
            sound = Some("alert".into());
        }
        if let Some(s) = sound
            && self.sounds
        {
            crate::ingest::sound::play(&s);
            self.last_sound = Some(now);
        }
        if unanswered {
            ctx.request_repaint_after(std::time::Duration::from_secs(1));
        }
        if !self.replays.is_empty() {
            ctx.request_repaint_after(std::time::Duration::from_millis(40));
        }
    }

    /// Draws the alarm panel (when there is a board) and acts on what the user asked.
    pub(super) fn alarm_panel(&mut self, ui: &mut egui::Ui) {
        if self.alarms.is_none() || !self.alarm_panel_open {
            return;
        }
        let now = (self.clock)().timestamp_nanos_opt().unwrap_or(0);
        let mut request = None;
        egui::Panel::right("alarm panel")
            .resizable(true)
            .default_size(380.0)
            .show(ui, |ui| {
                if let Some(board) = &mut self.alarms {
                    request = board.show(ui, now);
                }
            });
        match request {
            Some(BoardRequest::ShowAlarm(id)) => {
                self.show_alarm(id);
            }
            Some(BoardRequest::Locate(id)) => {
                self.map_open = true;
                self.map.focus_alarm = Some(id);
                self.map_centred = false;
            }
            None => {}
        }
    }

    /// Puts alarm `id`'s linked cameras on the alarm screen: live on the first tiles, and a
    /// replay of the seconds before the alarm beside each (when the camera is recorded).
    /// False when the alarm or all its cameras are unknown here.
    pub fn show_alarm(&mut self, id: i64) -> bool {
        let Some(a) = self
            .alarms
            .as_ref()
            .and_then(|b| b.alarms.get(&id))
            .cloned()
        else {
            return false;
        };
        let cams: Vec<usize> = a
            .cameras
            .iter()
            .filter_map(|c| self.cameras.iter().position(|x| &x.id == c))
            .take(8)
            .collect();
        if cams.is_empty() {
            return false;
        }
        let layout_name = layout_for(cams.len());
        let layout = self
            .layouts
            .iter()
            .position(|l| l.name == layout_name)
            .unwrap_or(0);
        let cells = self.layouts[layout].cells.len();
        let s = match self.alarm_screen {
            Some(s) if s < self.screens.len() => s,
            _ => {
                self.screens
                    .push(Screen::new("Alarm screen", layout, Vec::new()));
                self.screens.len() - 1
            }
        };
        self.alarm_screen = Some(s);
        let recorded = self.server.clone();
        self.replays.clear();
        let mut to_start = Vec::new();
        let mut tiles = vec![TileState::default(); cells];
        for (k, &ci) in cams.iter().enumerate() {
            if k < cells {
                tiles[k] = TileState {
                    camera: Some(ci),
                    main: false,
                    replay: false,
                };
            }
            let r = cams.len() + k;
            if r < cells
                && let Some(api) = &recorded
            {
                tiles[r] = TileState {
                    camera: Some(ci),
                    main: false,
                    replay: true,
                };
                self.replays.insert(
                    ci,
                    Replay {
                        worker: None,
                        from_ns: a.at_utc_ns - REPLAY_BEFORE_NS,
                        to_ns: a.at_utc_ns + REPLAY_AFTER_NS,
                        started: Instant::now(),
                    },
                );
                to_start.push((ci, self.cameras[ci].id.clone(), api.clone()));
            }
        }
        // The workers ask the server for their first footage: on a thread, never the UI's.
        if !to_start.is_empty() {
            let (tx, rx) = std::sync::mpsc::channel::<ReplayStarted>();
            self.replay_rx = Some(rx);
            let _ = std::thread::Builder::new()
                .name("replay start".into())
                .spawn(move || {
                    for (ci, camera, api) in to_start {
                        let w = TileWorker::with_player(crate::client::player(&api, &camera))
                            .map_err(|e| e.to_string());
                        if tx.send((id, ci, w)).is_err() {
                            return;
                        }
                    }
                });
        }
        if let Some((session, writer)) = &self.session
            && !self.replays.is_empty()
        {
            let ids: Vec<&str> = cams
                .iter()
                .filter(|ci| self.replays.contains_key(ci))
                .map(|&ci| self.cameras[ci].id.as_str())
                .collect();
            writer.log(session.entry(
                "alarm replay",
                &ids.join(","),
                Some((
                    a.at_utc_ns - REPLAY_BEFORE_NS,
                    a.at_utc_ns + REPLAY_AFTER_NS,
                )),
                "",
                &format!("alarm {id}"),
            ));
        }
        let scr = &mut self.screens[s];
        scr.layout = layout;
        scr.tiles = tiles;
        scr.maximised = None;
        scr.selected = 0;
        scr.name = format!("Alarm screen · alarm {id}");
        self.alarm_shown = Some(id);
        if let Some(b) = &mut self.alarms {
            b.selected = Some(id);
        }
        true
    }

    /// Shows the map in a window of its own (a viewport: a monitor of its own on a wall).
    pub(super) fn map_window(&mut self, ctx: &egui::Context) {
        let id = egui::ViewportId::from_hash_of("vigie map");
        let builder = egui::ViewportBuilder::default()
            .with_title("Vigie — Map")
            .with_inner_size([1200.0, 800.0]);
        let mut action = None;
        let mut close = false;
        ctx.show_viewport_immediate(id, builder, |ui, _class| {
            let now = (self.clock)().timestamp_nanos_opt().unwrap_or(0);
            if let Some(focus) = self.map.focus_alarm.filter(|_| !self.map_centred)
                && let Some((lat, lon)) = self
                    .alarms
                    .as_ref()
                    .and_then(|b| b.alarms.get(&focus))
                    .and_then(|a| a.location)
            {
                self.map.center_on(lat, lon);
                self.map_centred = true;
            }
            egui::CentralPanel::default().show(ui, |ui| {
                action = self.map.show(ui, &self.cameras, self.alarms.as_ref(), now);
            });
            if ui.ctx().input(|i| i.viewport().close_requested()) {
                close = true;
            }
            ui.ctx()
                .request_repaint_after(std::time::Duration::from_millis(250));
        });
        if close {
            self.map_open = false;
        }
        match action {
            Some(MapAction::ShowCamera(id)) => {
                let tile = self.screens[self.active].selected;
                self.assign(tile, &id);
            }
            Some(MapAction::SelectAlarm(id)) => {
                if let Some(b) = &mut self.alarms {
                    b.selected = Some(id);
                }
            }
            Some(MapAction::Dispatch {
                alarm,
                vehicle,
                distance_m,
                eta_s,
            }) => {
                if let Some(b) = &mut self.alarms {
                    b.send(AlarmCommand::Dispatch {
                        alarm,
                        vehicle,
                        distance_m,
                        eta_s,
                    });
                }
            }
            None => {}
        }
    }

    /// Uses `map` (its background) for the map window.
    pub fn with_map(mut self, map: MapView) -> Self {
        self.map = map;
        self
    }

    /// Opens the map window (tests, workstation start-up).
    pub fn open_map(&mut self) {
        self.map_open = true;
    }

    /// Plays alarm sounds (on by default; tests and benches turn them off).
    pub fn with_sounds(mut self, on: bool) -> Self {
        self.sounds = on;
        self
    }

    /// The alarm shown on the alarm screen, and that screen.
    pub fn alarm_on_screen(&self) -> Option<(i64, usize)> {
        self.alarm_shown.zip(self.alarm_screen)
    }

    /// The replays on the alarm screen: camera, the span replayed, and the interval of the
    /// picture shown now (None before the first).
    pub fn alarm_replays(&self) -> Vec<ReplayShown> {
        let mut v: Vec<_> = self
            .replays
            .iter()
            .map(|(&ci, r)| {
                (
                    self.cameras[ci].id.clone(),
                    (r.from_ns, r.to_ns),
                    r.worker.as_ref().and_then(|w| w.status().shown),
                )
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// The cameras of screen `s`'s tiles: (camera id, replay) per tile.
    pub fn screen_tiles(&self, s: usize) -> Vec<Option<(String, bool)>> {
        self.screens
            .get(s)
            .map(|scr| {
                let n = self.layouts[scr.layout].cells.len();
                scr.tiles
                    .iter()
                    .take(n)
                    .map(|t| t.camera.map(|ci| (self.cameras[ci].id.clone(), t.replay)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The alarm list (once someone who handles alarms signed in).
    pub fn alarm_board(&mut self) -> Option<&mut AlarmBoard> {
        self.alarms.as_mut()
    }
}
