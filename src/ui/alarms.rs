//! The shared alarm list: what every workstation of the room sees of the alarms, who holds
//! which, and the operator's actions on them.
//!
//! Threads: [`AlarmFeed`] ("alarm requests") takes the server's pushed alarm feed and asks for
//! the notes and vehicles; it sends the user's actions (state changes, comments, dispatches) as
//! requests, which the server serialises, carries out and logs. The UI thread only drains its
//! channel.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use egui::{Color32, RichText, Sense, vec2};

use crate::auth::Session;
use crate::events::alarm::{AlarmAction, AlarmState};
use crate::events::geo;
use crate::store::{AlarmRow, NoteRow, VehicleRow};

/// Something the user asks of the feed.
#[derive(Clone, Debug, PartialEq)]
pub enum AlarmCommand {
    Act {
        id: i64,
        action: AlarmAction,
        comment: String,
    },
    Dispatch {
        alarm: i64,
        vehicle: String,
        distance_m: f64,
        eta_s: f64,
    },
}

/// What the feed sends the UI.
#[derive(Default)]
struct FeedUpdate {
    alarms: Vec<AlarmRow>,
    notes: Vec<NoteRow>,
    vehicles: Vec<VehicleRow>,
    /// Outcome of a command: the message, and whether it is an error.
    result: Option<(String, bool)>,
    error: Option<String>,
}

/// The thread that keeps the list current and carries out actions.
pub struct AlarmFeed {
    commands: mpsc::Sender<AlarmCommand>,
    updates: mpsc::Receiver<FeedUpdate>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl AlarmFeed {
    /// The list kept current by the site server: its pushed alarm feed, the notes and
    /// vehicles asked every second, and the actions sent as requests the server decides and logs.
    pub fn on_server(
        api: Arc<crate::client::Api>,
        repaint: Arc<dyn Fn() + Send + Sync>,
    ) -> AlarmFeed {
        let (commands, crx) = mpsc::channel();
        let (utx, updates) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("alarm requests".into())
            .spawn(move || feed_from_server(&api, &crx, &utx, &*repaint))
            .ok();
        AlarmFeed {
            commands,
            updates,
            thread,
        }
    }
}

/// How often the notes and the vehicles are asked of the server.
const POLL_SERVER: Duration = Duration::from_secs(1);

fn feed_from_server(
    api: &crate::client::Api,
    commands: &mpsc::Receiver<AlarmCommand>,
    updates: &mpsc::Sender<FeedUpdate>,
    repaint: &(dyn Fn() + Send + Sync),
) {
    use crate::client::alarms::FeedMessage;
    let send = |u: FeedUpdate| {
        let ok = updates.send(u).is_ok();
        repaint();
        ok
    };
    let (tx, pushed) = mpsc::channel();
    let _sse = match api.alarm_feed(0, tx) {
        Ok(f) => f,
        Err(e) => {
            send(FeedUpdate {
                error: Some(format!("alarms cannot be read: {e}")),
                ..Default::default()
            });
            return;
        }
    };
    let (mut note_id, mut vehicle_rev) = (0i64, 0i64);
    let mut last_poll: Option<std::time::Instant> = None;
    // The first update carries the snapshot the server sends on connecting, whole.
    let mut connected_at: Option<std::time::Instant> = None;
    let mut first = true;
    let mut pending = FeedUpdate::default();
    loop {
        match commands.recv_timeout(Duration::from_millis(10)) {
            Ok(c) => {
                let result = carry_out_on_server(api, &c);
                if !send(FeedUpdate {
                    result: Some(result),
                    ..Default::default()
                }) {
                    return;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        let mut quiet = true;
        while let Ok(m) = pushed.try_recv() {
            quiet = false;
            match m {
                FeedMessage::Alarm(row) => pending.alarms.push(*row),
                FeedMessage::Connected => {
                    connected_at.get_or_insert_with(std::time::Instant::now);
                }
                FeedMessage::Reconnecting(why) => {
                    pending.error = Some(format!("alarms: reconnecting to the server ({why})"));
                }
                FeedMessage::Ended(why) => {
                    pending.error = Some(format!("alarms: {why}"));
                }
            }
        }
        if last_poll.is_none_or(|t| t.elapsed() >= POLL_SERVER) {
            last_poll = Some(std::time::Instant::now());
            match api.get::<Vec<NoteRow>>(&format!("/v1/alarms/notes?after={note_id}")) {
                Ok(notes) => {
                    if let Some(n) = notes.last() {
                        note_id = n.id;
                    }
                    pending.notes.extend(notes);
                }
                Err(e) => pending.error = Some(format!("alarm notes: {e}")),
            }
            match api.get::<Vec<VehicleRow>>(&format!("/v1/vehicles?after={vehicle_rev}")) {
                Ok(v) => {
                    if let Some(r) = v.iter().map(|v| v.rev).max() {
                        vehicle_rev = vehicle_rev.max(r);
                    }
                    pending.vehicles.extend(v);
                }
                Err(e) => pending.error = Some(format!("vehicles: {e}")),
            }
        }
        if first {
            // Sent once the snapshot has stopped arriving (or after a second without a feed).
            let settled =
                connected_at.is_some_and(|t| quiet && t.elapsed() >= Duration::from_millis(100));
            let late = last_poll.is_some() && connected_at.is_none() && pending.error.is_some();
            if !(settled || late) {
                continue;
            }
            first = false;
            if !send(std::mem::take(&mut pending)) {
                return;
            }
            continue;
        }
        let news = !pending.alarms.is_empty()
            || !pending.notes.is_empty()
            || !pending.vehicles.is_empty()
            || pending.error.is_some();
        if news && !send(std::mem::take(&mut pending)) {
            return;
        }
    }
}

/// Sends `c` to the server; its answer in words.
fn carry_out_on_server(api: &crate::client::Api, c: &AlarmCommand) -> (String, bool) {
    match c {
        AlarmCommand::Act {
            id,
            action,
            comment,
        } => {
            let verb = match action {
                AlarmAction::Acknowledge => "acknowledge",
                AlarmAction::Take => "take",
                AlarmAction::Close => "close",
                AlarmAction::Comment => "comment",
            };
            match api.alarm_action(*id, verb, comment) {
                Ok(row) => (format!("alarm {id}: {}", row.state), false),
                Err(e) => (e.to_string(), true),
            }
        }
        AlarmCommand::Dispatch {
            alarm,
            vehicle,
            distance_m,
            eta_s,
        } => {
            let body = crate::server::alarms::DispatchBody {
                vehicle: vehicle.clone(),
                distance_m: *distance_m,
                eta_s: *eta_s,
            };
            match api.post::<_, serde_json::Value>(&format!("/v1/alarms/{alarm}/dispatch"), &body) {
                Ok(v) => (
                    v.get("detail")
                        .and_then(|d| d.as_str())
                        .unwrap_or("dispatched")
                        .to_owned(),
                    false,
                ),
                Err(e) => (e.to_string(), true),
            }
        }
    }
}

impl Drop for AlarmFeed {
    fn drop(&mut self) {
        // Closing the command channel stops the thread at its next poll.
        let (tx, _) = mpsc::channel();
        self.commands = tx;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub use crate::events::geo::eta_label;

/// Which alarms the list shows.
#[derive(Clone, Debug, PartialEq)]
pub struct AlarmFilter {
    /// None: every open alarm (not closed).
    pub state: Option<AlarmState>,
    pub all_states: bool,
    /// Priorities up to this one (1..=5).
    pub max_priority: u8,
    /// Empty: every zone.
    pub zone: String,
    /// Only alarms of the last this many hours (0: any time).
    pub hours: u32,
}

impl Default for AlarmFilter {
    fn default() -> Self {
        AlarmFilter {
            state: None,
            all_states: false,
            max_priority: 5,
            zone: String::new(),
            hours: 24,
        }
    }
}

impl AlarmFilter {
    pub fn admits(&self, a: &AlarmRow, now_utc_ns: i64) -> bool {
        let state_ok = match self.state {
            Some(s) => a.state == s.as_str(),
            None => self.all_states || a.state != AlarmState::Closed.as_str(),
        };
        state_ok
            && a.priority <= self.max_priority
            && (self.zone.is_empty() || a.zone == self.zone)
            && (self.hours == 0
                || now_utc_ns - a.at_utc_ns <= self.hours as i64 * 3_600_000_000_000)
    }
}

/// What the user asked of the workspace from the list.
#[derive(Clone, Debug, PartialEq)]
pub enum BoardRequest {
    /// Put the alarm's cameras on the alarm screen.
    ShowAlarm(i64),
    /// Open the map on this alarm.
    Locate(i64),
}

/// The alarm list's state on a workstation.
#[derive(Default)]
pub struct AlarmBoard {
    feed: Option<AlarmFeed>,
    pub alarms: BTreeMap<i64, AlarmRow>,
    notes: HashMap<i64, Vec<NoteRow>>,
    pub vehicles: BTreeMap<String, VehicleRow>,
    pub selected: Option<i64>,
    pub filter: AlarmFilter,
    comment: String,
    message: Option<(String, bool)>,
    error: Option<String>,
    /// Alarms new to this workstation since the last [`AlarmBoard::take_arrived`].
    arrived: Vec<i64>,
    /// Alarms escalated since the last [`AlarmBoard::take_escalated`].
    escalated: Vec<i64>,
    /// Alarms drawn in the list for the first time in the last frame.
    first_drawn: Vec<i64>,
    drawn: std::collections::HashSet<i64>,
    /// The feed's first answer came (alarms older than it are not "arrivals").
    loaded: bool,
    /// Who is signed in (for the buttons offered).
    user: Option<(String, bool)>,
    /// The list as last sorted and filtered, with the filter, the state counts and the zones
    /// it was made with; made again when an alarm is added, changes place, or the filter
    /// changes (an event joining an alarm only updates its row), and each minute for the time
    /// filter.
    view: Option<ListView>,
}

struct ListView {
    ids: Vec<i64>,
    counts: [usize; 4],
    zones: Vec<String>,
    filter: AlarmFilter,
    made_utc_ns: i64,
}

impl AlarmBoard {
    /// A board kept current by the site server, acting through it as the signed-in `session`.
    pub fn on_server(
        api: Arc<crate::client::Api>,
        session: &Session,
        ctx: &egui::Context,
    ) -> AlarmBoard {
        let c = ctx.clone();
        AlarmBoard {
            feed: Some(AlarmFeed::on_server(
                api,
                Arc::new(move || c.request_repaint()),
            )),
            user: Some((
                session.user.clone(),
                session.role == crate::auth::Role::Supervisor,
            )),
            ..Default::default()
        }
    }

    /// A board over rows already read (snapshots, tests): no feed, no actions.
    pub fn from_rows(
        alarms: Vec<AlarmRow>,
        notes: Vec<NoteRow>,
        vehicles: Vec<VehicleRow>,
        user: Option<(&str, bool)>,
    ) -> AlarmBoard {
        let mut b = AlarmBoard {
            loaded: true,
            user: user.map(|(u, s)| (u.to_owned(), s)),
            ..Default::default()
        };
        b.apply(FeedUpdate {
            alarms,
            notes,
            vehicles,
            ..Default::default()
        });
        b.arrived.clear();
        b
    }

    fn apply(&mut self, u: FeedUpdate) {
        let now = crate::time::now_utc_ns();
        for a in u.alarms {
            // Arrivals: alarms new to this board, and at start-up the ones raised in the last
            // minute that nobody has acknowledged yet.
            let recent = a.state == "new" && now - a.created_utc_ns < 60_000_000_000;
            if !self.alarms.contains_key(&a.id) && (self.loaded || recent) {
                self.arrived.push(a.id);
            }
            if a.escalated && self.alarms.get(&a.id).is_some_and(|old| !old.escalated) {
                self.escalated.push(a.id);
            }
            let moved = self.alarms.get(&a.id).is_none_or(|old| {
                order_key(old) != order_key(&a) || old.zone != a.zone || old.owner != a.owner
            });
            if moved {
                self.view = None;
            }
            self.alarms.insert(a.id, a);
        }
        for n in u.notes {
            self.notes.entry(n.alarm_id).or_default().push(n);
        }
        for v in u.vehicles {
            self.vehicles.insert(v.id.clone(), v);
        }
        if let Some(r) = u.result {
            if !r.1 {
                self.comment.clear();
            }
            self.message = Some(r);
        }
        if u.error.is_some() {
            self.error = u.error;
        }
    }

    /// Takes the feed's news; call once per frame.
    pub fn poll(&mut self) {
        let mut got = Vec::new();
        if let Some(f) = &self.feed {
            while let Ok(u) = f.updates.try_recv() {
                got.push(u);
            }
        }
        let had = !got.is_empty();
        for u in got {
            self.apply(u);
        }
        if had {
            self.loaded = true;
        }
    }

    /// Alarms that arrived since the last call, oldest first.
    pub fn take_arrived(&mut self) -> Vec<i64> {
        std::mem::take(&mut self.arrived)
    }

    /// Alarms escalated (still new after their escalation time) since the last call.
    pub fn take_escalated(&mut self) -> Vec<i64> {
        std::mem::take(&mut self.escalated)
    }

    /// Alarms the list drew for the first time in the last frame.
    pub fn first_drawn(&self) -> &[i64] {
        &self.first_drawn
    }

    pub fn send(&mut self, c: AlarmCommand) {
        match &self.feed {
            Some(f) => {
                if f.commands.send(c).is_err() {
                    self.message = Some(("the alarm feed stopped".into(), true));
                }
            }
            None => self.message = Some(("not signed in: alarms are read only".into(), true)),
        }
    }

    /// Open alarms, most urgent first: alert buttons, then priority, then the newest.
    pub fn open_alarms(&self) -> Vec<&AlarmRow> {
        let mut v: Vec<&AlarmRow> = self
            .alarms
            .values()
            .filter(|a| a.state != AlarmState::Closed.as_str())
            .collect();
        v.sort_by_key(|a| order_key(a));
        v
    }

    /// Vehicles that could go to alarm `id`, nearest first: (vehicle, metres, ETA seconds).
    pub fn candidates(&self, id: i64) -> Vec<(&VehicleRow, f64, f64)> {
        let Some(at) = self.alarms.get(&id).and_then(|a| a.location) else {
            return Vec::new();
        };
        let mut v: Vec<(&VehicleRow, f64, f64)> = self
            .vehicles
            .values()
            .filter(|v| v.status != "off duty")
            .map(|v| {
                let d = geo::distance_m((v.latitude, v.longitude), at);
                (v, d, geo::eta_s(d))
            })
            .collect();
        // Available vehicles first, each group by distance.
        v.sort_by(|a, b| {
            (a.0.status != "available")
                .cmp(&(b.0.status != "available"))
                .then(a.1.total_cmp(&b.1))
        });
        v
    }

    /// Draws the list, its filters and the selected alarm's detail.
    pub fn show(&mut self, ui: &mut egui::Ui, now_utc_ns: i64) -> Option<BoardRequest> {
        self.first_drawn.clear();
        let mut request = None;
        let stale = self
            .view
            .as_ref()
            .is_none_or(|v| v.filter != self.filter || now_utc_ns - v.made_utc_ns > 60_000_000_000);
        if stale {
            let mut list: Vec<&AlarmRow> = self
                .alarms
                .values()
                .filter(|a| self.filter.admits(a, now_utc_ns))
                .collect();
            list.sort_by_key(|a| order_key(a));
            let mut zones: Vec<String> = self.alarms.values().map(|a| a.zone.clone()).collect();
            zones.sort_unstable();
            zones.dedup();
            self.view = Some(ListView {
                ids: list.iter().map(|a| a.id).collect(),
                counts: AlarmState::ALL.map(|s| {
                    self.alarms
                        .values()
                        .filter(|a| a.state == s.as_str())
                        .count()
                }),
                zones,
                filter: self.filter.clone(),
                made_utc_ns: now_utc_ns,
            });
        }
        let view = self.view.take()?;
        let counts = view.counts;
        ui.horizontal(|ui| {
            ui.heading("Alarms");
            let text = format!(
                "{} new · {} acknowledged · {} in progress",
                counts[0], counts[1], counts[2]
            );
            if counts[0] > 0 {
                ui.label(
                    RichText::new(text)
                        .color(Color32::from_rgb(255, 110, 90))
                        .strong(),
                );
            } else {
                ui.label(text);
            }
        });
        if let Some(e) = &self.error {
            ui.colored_label(Color32::from_rgb(255, 90, 80), e);
        }
        self.filters(ui, &view.zones);
        ui.separator();
        let ids = &view.ids;
        let row_h = 34.0;
        let list_h = (ui.available_height() * 0.5).max(120.0);
        let mut clicked = None;
        egui::ScrollArea::vertical()
            .id_salt("alarm list")
            .max_height(list_h)
            .auto_shrink([false, false])
            .show_rows(ui, row_h, ids.len(), |ui, range| {
                for &id in &ids[range] {
                    let Some(a) = self.alarms.get(&id) else {
                        continue;
                    };
                    if self.drawn.insert(id) {
                        self.first_drawn.push(id);
                    }
                    if alarm_row(ui, a, self.selected == Some(id), row_h, now_utc_ns) {
                        clicked = Some(id);
                    }
                }
            });
        if ids.is_empty() {
            ui.weak("No alarm matches the filters.");
        }
        // Kept unless an update this frame made it stale.
        if self.view.is_none() {
            self.view = Some(view);
        }
        if let Some(id) = clicked {
            self.selected = Some(id);
            self.message = None;
            request = Some(BoardRequest::ShowAlarm(id));
        }
        ui.separator();
        if let Some(r) = self.detail(ui, now_utc_ns) {
            request = Some(r);
        }
        request
    }

    fn filters(&mut self, ui: &mut egui::Ui, zones: &[String]) {
        let f = &mut self.filter;
        ui.horizontal_wrapped(|ui| {
            let state_label = match (f.state, f.all_states) {
                (Some(s), _) => s.as_str().to_owned(),
                (None, true) => "all".to_owned(),
                (None, false) => "open".to_owned(),
            };
            egui::ComboBox::from_label("State")
                .selected_text(state_label)
                .show_ui(ui, |ui| {
                    if ui
                        .selectable_label(f.state.is_none() && !f.all_states, "open")
                        .clicked()
                    {
                        (f.state, f.all_states) = (None, false);
                    }
                    for s in AlarmState::ALL {
                        if ui
                            .selectable_label(f.state == Some(s), s.as_str())
                            .clicked()
                        {
                            f.state = Some(s);
                        }
                    }
                    if ui
                        .selectable_label(f.state.is_none() && f.all_states, "all")
                        .clicked()
                    {
                        (f.state, f.all_states) = (None, true);
                    }
                });
            egui::ComboBox::from_label("Priority")
                .selected_text(if f.max_priority >= 5 {
                    "any".to_owned()
                } else {
                    format!("1-{}", f.max_priority)
                })
                .show_ui(ui, |ui| {
                    for p in 1..=5u8 {
                        let label = if p == 5 {
                            "any".to_owned()
                        } else {
                            format!("1-{p}")
                        };
                        ui.selectable_value(&mut f.max_priority, p, label);
                    }
                });
            egui::ComboBox::from_label("Zone")
                .selected_text(if f.zone.is_empty() {
                    "all".to_owned()
                } else {
                    f.zone.clone()
                })
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut f.zone, String::new(), "all");
                    for z in zones.iter().filter(|z| !z.is_empty()) {
                        ui.selectable_value(&mut f.zone, z.clone(), z);
                    }
                });
            egui::ComboBox::from_label("Time")
                .selected_text(match f.hours {
                    0 => "any".to_owned(),
                    h => format!("last {h} h"),
                })
                .show_ui(ui, |ui| {
                    for (h, l) in [
                        (1, "last hour"),
                        (24, "last 24 h"),
                        (168, "last 7 days"),
                        (0, "any time"),
                    ] {
                        ui.selectable_value(&mut f.hours, h, l);
                    }
                });
        });
    }

    fn detail(&mut self, ui: &mut egui::Ui, now_utc_ns: i64) -> Option<BoardRequest> {
        let id = self.selected?;
        let a = self.alarms.get(&id)?.clone();
        let mut request = None;
        ui.horizontal(|ui| {
            ui.strong(format!("Alarm {} · {}", a.id, kind_label(&a.kind)));
            ui.label(format!("P{}", a.priority));
            if a.escalated {
                ui.colored_label(Color32::from_rgb(255, 150, 60), "escalated");
            }
        });
        ui.label(format!(
            "{} · {} · {} · {} event{}",
            crate::time::paris(a.at_utc_ns, "%d/%m %H:%M:%S"),
            a.source,
            if a.zone.is_empty() {
                "no zone"
            } else {
                &a.zone
            },
            a.events,
            if a.events == 1 { "" } else { "s" }
        ));
        ui.label(format!(
            "State: {}{}",
            a.state,
            a.owner
                .as_ref()
                .map(|o| format!(" · held by {o}"))
                .unwrap_or_default()
        ));
        if !a.instructions.is_empty() {
            ui.label(RichText::new(&a.instructions).italics());
        }
        ui.horizontal_wrapped(|ui| {
            ui.label("Cameras:");
            for c in &a.cameras {
                ui.monospace(c);
            }
        });
        ui.horizontal(|ui| {
            if ui.button("Show on alarm screen").clicked() {
                request = Some(BoardRequest::ShowAlarm(id));
            }
            if a.location.is_some() && ui.button("Locate on map").clicked() {
                request = Some(BoardRequest::Locate(id));
            }
        });
        let open = a.state != AlarmState::Closed.as_str();
        if open && self.user.is_some() {
            ui.add(
                egui::TextEdit::multiline(&mut self.comment)
                    .hint_text(if a.comment_required {
                        "What was done (needed to close)"
                    } else {
                        "Comment"
                    })
                    .desired_rows(2)
                    .desired_width(f32::INFINITY),
            );
            ui.horizontal(|ui| {
                let act = |ui: &mut egui::Ui, label: &str, action: AlarmAction, enabled: bool| {
                    if ui.add_enabled(enabled, egui::Button::new(label)).clicked() {
                        Some(action)
                    } else {
                        None
                    }
                };
                let st = AlarmState::parse(&a.state).unwrap_or(AlarmState::New);
                let mut chosen = None;
                chosen = chosen.or(act(
                    ui,
                    "Acknowledge",
                    AlarmAction::Acknowledge,
                    st == AlarmState::New,
                ));
                chosen = chosen.or(act(
                    ui,
                    "Take",
                    AlarmAction::Take,
                    st != AlarmState::InProgress
                        || a.owner.as_deref() != self.user.as_ref().map(|u| u.0.as_str()),
                ));
                chosen = chosen.or(act(
                    ui,
                    "Comment",
                    AlarmAction::Comment,
                    !self.comment.trim().is_empty(),
                ));
                chosen = chosen.or(act(
                    ui,
                    "Close",
                    AlarmAction::Close,
                    !a.comment_required || !self.comment.trim().is_empty(),
                ));
                if let Some(action) = chosen {
                    let comment = self.comment.clone();
                    self.send(AlarmCommand::Act {
                        id,
                        action,
                        comment,
                    });
                }
            });
        }
        if let Some((m, err)) = &self.message {
            let c = if *err {
                Color32::from_rgb(255, 90, 80)
            } else {
                Color32::from_rgb(120, 200, 120)
            };
            ui.colored_label(c, m);
        }
        if let Some(notes) = self.notes.get(&id) {
            ui.add_space(4.0);
            for n in notes.iter().rev().take(8) {
                ui.label(
                    RichText::new(format!(
                        "{} {} -> {}{}",
                        crate::time::paris(n.at_utc_ns, "%H:%M:%S"),
                        n.user,
                        n.state,
                        if n.comment.is_empty() {
                            String::new()
                        } else {
                            format!(": {}", n.comment)
                        }
                    ))
                    .small(),
                );
            }
        }
        let _ = now_utc_ns;
        request
    }
}

/// Sort key of the list: open before closed, alert buttons, priority, newest first.
fn order_key(a: &AlarmRow) -> (bool, bool, u8, i64) {
    (
        a.state == AlarmState::Closed.as_str(),
        a.kind != "alert_button",
        a.priority,
        -a.at_utc_ns,
    )
}

/// "Intrusion", "ALERT BUTTON".
pub fn kind_label(kind: &str) -> &str {
    match kind {
        "retention_refused" => "Retention refused: check the clock",
        "footage_quarantined" => "Footage quarantined",
        _ => crate::events::EventKind::parse(kind)
            .map(|k| k.label())
            .unwrap_or(kind),
    }
}

/// The colour of a priority.
pub fn priority_colour(p: u8) -> Color32 {
    match p {
        1 => Color32::from_rgb(230, 50, 40),
        2 => Color32::from_rgb(240, 130, 30),
        3 => Color32::from_rgb(230, 200, 50),
        4 => Color32::from_rgb(90, 160, 230),
        _ => Color32::from_rgb(140, 140, 140),
    }
}

/// One line of the list; true when clicked.
fn alarm_row(ui: &mut egui::Ui, a: &AlarmRow, selected: bool, h: f32, now_utc_ns: i64) -> bool {
    let (rect, resp) = ui.allocate_exact_size(vec2(ui.available_width(), h), Sense::click());
    let p = ui.painter_at(rect);
    let button = a.kind == "alert_button";
    let closed = a.state == AlarmState::Closed.as_str();
    let bg = if button && !closed {
        // An alert button stands out: red, brighter while nobody has acknowledged it.
        let blink = a.state == "new" && (now_utc_ns / 500_000_000) % 2 == 0;
        if blink {
            Color32::from_rgb(150, 20, 20)
        } else {
            Color32::from_rgb(100, 16, 16)
        }
    } else if selected {
        Color32::from_gray(60)
    } else if resp.hovered() {
        Color32::from_gray(45)
    } else {
        Color32::from_gray(30)
    };
    p.rect_filled(rect.shrink(1.0), 3.0, bg);
    if selected {
        p.rect_stroke(
            rect.shrink(1.0),
            3.0,
            egui::Stroke::new(2.0, Color32::WHITE),
            egui::StrokeKind::Inside,
        );
    }
    let bar = egui::Rect::from_min_size(rect.min + vec2(2.0, 2.0), vec2(6.0, h - 4.0));
    p.rect_filled(bar, 2.0, priority_colour(a.priority));
    let text = if closed {
        Color32::GRAY
    } else {
        Color32::WHITE
    };
    let font = egui::FontId::proportional(13.0);
    let small = egui::FontId::proportional(11.0);
    p.text(
        rect.min + vec2(14.0, 3.0),
        egui::Align2::LEFT_TOP,
        format!(
            "P{} {} · {}{}",
            a.priority,
            kind_label(&a.kind),
            a.source,
            if a.events > 1 {
                format!(" x{}", a.events)
            } else {
                String::new()
            }
        ),
        font,
        text,
    );
    p.text(
        rect.right_top() + vec2(-6.0, 3.0),
        egui::Align2::RIGHT_TOP,
        crate::time::paris(a.at_utc_ns, "%H:%M:%S"),
        egui::FontId::monospace(12.0),
        text,
    );
    let state = match (&a.owner, a.state.as_str()) {
        (Some(o), s) if s != "new" => format!("{s} · {o}"),
        (_, s) => s.to_owned(),
    };
    p.text(
        rect.min + vec2(14.0, h - 3.0),
        egui::Align2::LEFT_BOTTOM,
        format!(
            "{}{}{}",
            if a.zone.is_empty() { "—" } else { &a.zone },
            " · ",
            state
        ) + if a.escalated { " · escalated" } else { "" },
        small,
        if a.state == "new" {
            Color32::from_rgb(255, 200, 120)
        } else {
            Color32::LIGHT_GRAY
        },
    );
    resp.clicked()
}
