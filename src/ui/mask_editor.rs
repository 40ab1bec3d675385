//! The privacy-mask editor (administrators): a still of the chosen camera — its latest
//! recorded keyframe, drawn through the compositor without masks so that what must be hidden
//! can be seen — with the masks in force drawn over it. A click adds a point; "Save mask"
//! stores the polygon; a mask can be removed. Every still shown, mask added and mask removed is
//! written to the audit log. Reads and writes run on a thread of their own.

use std::sync::{Arc, mpsc};

use eframe::egui_wgpu;
use egui::{Align2, Color32, FontId, Pos2, Rect, Sense, Stroke, pos2, vec2};

use super::video::VideoCallback;
use crate::auth::{Action, Session};
use crate::client::Api;
use crate::media::FrameSlot;
use crate::render::{FULL_UV, StreamId, TileDraw, fit_rect, polygon_contains};
use crate::store::{CameraRow, Mask};

enum Job {
    Still(String),
    Masks(String),
    Add(Mask),
    Remove(i64, String),
}

enum Reply {
    /// A camera's still: the picture and the instant it shows.
    Still(String, Result<(crate::media::Frame, i64), String>),
    Masks(String, Vec<Mask>),
    Error(String),
}

/// The editor for one signed-in administrator.
pub struct MaskEditor {
    session: Session,
    cameras: Vec<CameraRow>,
    camera: Option<String>,
    slot: Arc<FrameSlot>,
    shown_at: Option<i64>,
    masks: Vec<Mask>,
    /// The polygon being drawn, in picture fractions.
    points: Vec<[f32; 2]>,
    label: String,
    selected: Option<i64>,
    message: Option<String>,
    jobs: mpsc::Sender<Job>,
    replies: mpsc::Receiver<Reply>,
}

impl MaskEditor {
    /// The editor on the site server `api`; `listed` is its answer to `GET /v1/cameras`, asked
    /// off the UI thread.
    pub fn on_server(
        api: Arc<crate::client::Api>,
        listed: Vec<crate::client::ApiCamera>,
        session: Session,
        repaint: Arc<dyn Fn() + Send + Sync>,
    ) -> Result<MaskEditor, String> {
        if !session.may(Action::EditMasks) {
            return Err(format!(
                "{} ({}) may not {}",
                session.user,
                session.role,
                Action::EditMasks.as_str()
            ));
        }
        let cameras: Vec<CameraRow> = listed.iter().map(|c| c.camera_row()).collect();
        let (jobs, rx) = mpsc::channel::<Job>();
        let (tx, replies) = mpsc::channel::<Reply>();
        std::thread::Builder::new()
            .name("mask editor".into())
            .spawn(move || worker(&api, rx, tx, repaint))
            .map_err(|e| e.to_string())?;
        Ok(MaskEditor {
            session,
            cameras,
            camera: None,
            slot: FrameSlot::new(),
            shown_at: None,
            masks: Vec::new(),
            points: Vec::new(),
            label: String::new(),
            selected: None,
            message: None,
            jobs,
            replies,
        })
    }

    /// Opens `camera`: its still and its masks.
    pub fn select(&mut self, camera: &str) {
        self.camera = Some(camera.to_owned());
        self.slot = FrameSlot::new();
        self.shown_at = None;
        self.masks.clear();
        self.points.clear();
        self.selected = None;
        let _ = self.jobs.send(Job::Still(camera.to_owned()));
        let _ = self.jobs.send(Job::Masks(camera.to_owned()));
    }

    /// Adds a point of the polygon being drawn (fractions of the picture).
    pub fn add_point(&mut self, p: [f32; 2]) {
        self.points
            .push([p[0].clamp(0.0, 1.0), p[1].clamp(0.0, 1.0)]);
    }

    /// Saves the polygon being drawn as a mask of the current camera.
    pub fn save(&mut self) {
        let Some(camera) = self.camera.clone() else {
            return;
        };
        if self.points.len() < 3 {
            self.message = Some("A mask needs at least 3 points: click on the picture".into());
            return;
        }
        let m = Mask {
            id: 0,
            camera_id: camera,
            polygon: std::mem::take(&mut self.points),
            label: std::mem::take(&mut self.label),
            author: self.session.user.clone(),
            created_utc_ns: crate::time::now_utc_ns(),
        };
        let _ = self.jobs.send(Job::Add(m));
    }

    /// Removes mask `id` of the current camera.
    pub fn remove(&mut self, id: i64) {
        if let Some(camera) = self.camera.clone() {
            let _ = self.jobs.send(Job::Remove(id, camera));
        }
    }

    /// The masks in force on the current camera, as last read.
    pub fn masks(&self) -> &[Mask] {
        &self.masks
    }

    /// True when the current camera's still is shown.
    pub fn still_ready(&self) -> bool {
        self.slot.last().is_some()
    }

    fn poll(&mut self) {
        while let Ok(r) = self.replies.try_recv() {
            match r {
                Reply::Still(cam, result) if Some(&cam) == self.camera.as_ref() => match result {
                    Ok((frame, at)) => {
                        self.slot.publish(frame);
                        self.shown_at = Some(at);
                    }
                    Err(e) => self.message = Some(e),
                },
                Reply::Masks(cam, masks) if Some(&cam) == self.camera.as_ref() => {
                    self.masks = masks;
                }
                Reply::Error(e) => self.message = Some(e),
                _ => {}
            }
        }
    }

    pub fn show(&mut self, ui: &mut egui::Ui) {
        self.poll();
        egui::Panel::top("mask editor top").show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.strong("Vigie · Privacy masks");
                ui.separator();
                ui.label("Click on the picture to place the points of a polygon over what must never be seen (windows, doors, gardens).");
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    ui.label(format!("{} · {}", self.session.user, self.session.role));
                });
            });
        });
        egui::Panel::left("mask editor cameras")
            .resizable(true)
            .default_size(230.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    let mut pick = None;
                    for c in &self.cameras {
                        let on = self.camera.as_deref() == Some(c.id.as_str());
                        if ui
                            .selectable_label(on, format!("{}  {}", c.id, c.name))
                            .clicked()
                        {
                            pick = Some(c.id.clone());
                        }
                    }
                    if let Some(id) = pick {
                        self.select(&id);
                    }
                });
            });
        egui::Panel::bottom("mask editor tools").show(ui, |ui| {
            ui.horizontal_wrapped(|ui| {
                ui.label(format!("{} point(s)", self.points.len()));
                if ui.button("Undo point").clicked() {
                    self.points.pop();
                }
                if ui.button("Clear").clicked() {
                    self.points.clear();
                }
                let l = ui.label("Label");
                ui.add(egui::TextEdit::singleline(&mut self.label).desired_width(200.0))
                    .labelled_by(l.id);
                if ui.button("Save mask").clicked() {
                    self.save();
                }
                ui.separator();
                let sel = self.selected;
                if ui
                    .add_enabled(sel.is_some(), egui::Button::new("Remove selected mask"))
                    .clicked()
                    && let Some(id) = sel
                {
                    self.remove(id);
                    self.selected = None;
                }
            });
            if let Some(m) = &self.message {
                ui.colored_label(Color32::from_rgb(240, 160, 60), m);
            }
        });
        egui::CentralPanel::no_frame().show(ui, |ui| self.picture(ui));
    }

    fn picture(&mut self, ui: &mut egui::Ui) {
        let rect = ui.available_rect_before_wrap();
        let response = ui.allocate_rect(rect, Sense::click());
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, 0.0, Color32::from_gray(12));
        let Some(frame) = self.slot.last() else {
            painter.text(
                rect.center(),
                Align2::CENTER_CENTER,
                if self.camera.is_some() {
                    "reading the camera's latest recorded picture…"
                } else {
                    "Pick a camera"
                },
                FontId::proportional(16.0),
                Color32::GRAY,
            );
            return;
        };
        let ppp = ui.ctx().pixels_per_point();
        let fit = fit_rect(
            [0.0, 0.0, 1.0, 1.0],
            [rect.width() * ppp, rect.height() * ppp],
            [frame.width, frame.height],
        );
        let pic = Rect::from_min_size(
            rect.min + vec2(fit[0] * rect.width(), fit[1] * rect.height()),
            vec2(fit[2] * rect.width(), fit[3] * rect.height()),
        );
        let sid = StreamId(0);
        painter.add(egui_wgpu::Callback::new_paint_callback(
            rect,
            VideoCallback {
                batch: 2,
                sources: vec![(sid, self.slot.clone())],
                tiles: vec![TileDraw {
                    stream: sid,
                    rect: fit,
                    uv: FULL_UV,
                    brightness: 1.0,
                }],
                masks: Vec::new(),
            },
        ));
        painter.rect_stroke(
            pic,
            0.0,
            Stroke::new(1.0, Color32::from_gray(90)),
            egui::StrokeKind::Outside,
        );
        let to_screen = |p: [f32; 2]| {
            pos2(
                pic.min.x + p[0] * pic.width(),
                pic.min.y + p[1] * pic.height(),
            )
        };
        let from_screen = |p: Pos2| {
            [
                (p.x - pic.min.x) / pic.width(),
                (p.y - pic.min.y) / pic.height(),
            ]
        };
        // The masks in force: filled, so the administrator sees what viewers will not.
        let mut clicked_mask = None;
        let click = response
            .clicked()
            .then(|| response.interact_pointer_pos())
            .flatten();
        for m in &self.masks {
            let pts: Vec<Pos2> = m.polygon.iter().map(|p| to_screen(*p)).collect();
            let on = self.selected == Some(m.id);
            painter.add(egui::Shape::convex_polygon(
                pts.clone(),
                Color32::from_rgba_unmultiplied(56, 56, 64, if on { 230 } else { 170 }),
                Stroke::new(if on { 3.0 } else { 1.5 }, Color32::from_rgb(255, 200, 80)),
            ));
            if let Some(c) = pts.first() {
                painter.text(
                    *c + vec2(4.0, 4.0),
                    Align2::LEFT_TOP,
                    format!("#{} {}", m.id, m.label),
                    FontId::proportional(12.0),
                    Color32::WHITE,
                );
            }
            if let Some(p) = click
                && let [x, y] = from_screen(p)
                && polygon_contains(&m.polygon, x, y)
            {
                clicked_mask = Some(m.id);
            }
        }
        // The polygon being drawn.
        let pts: Vec<Pos2> = self.points.iter().map(|p| to_screen(*p)).collect();
        if pts.len() >= 2 {
            painter.add(egui::Shape::closed_line(
                pts.clone(),
                Stroke::new(2.0, Color32::from_rgb(90, 200, 255)),
            ));
        }
        for p in &pts {
            painter.circle_filled(*p, 4.0, Color32::from_rgb(90, 200, 255));
        }
        if let Some(t) = self.shown_at {
            painter.text(
                pic.left_bottom() + vec2(6.0, -6.0),
                Align2::LEFT_BOTTOM,
                format!(
                    "recorded {} (Paris)",
                    crate::time::paris(t, "%Y-%m-%d %H:%M:%S")
                ),
                FontId::proportional(12.0),
                Color32::WHITE,
            );
        }
        if let Some(p) = click
            && pic.contains(p)
        {
            if self.points.is_empty() && clicked_mask.is_some() {
                self.selected = clicked_mask;
            } else {
                self.add_point(from_screen(p));
            }
        }
    }
}

/// The editor's jobs as requests to the site server, which checks, stores and logs.
fn worker(
    api: &Arc<Api>,
    jobs: mpsc::Receiver<Job>,
    replies: mpsc::Sender<Reply>,
    repaint: Arc<dyn Fn() + Send + Sync>,
) {
    let reply = |r: Reply| {
        let _ = replies.send(r);
        repaint();
    };
    let masks_of = |cam: &str| -> Result<Vec<Mask>, String> {
        Ok(api
            .masks(cam)
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|m| Mask {
                id: m.id,
                camera_id: cam.to_owned(),
                polygon: m.polygon,
                label: m.label,
                author: m.author,
                created_utc_ns: m.created_utc_ns,
            })
            .collect())
    };
    let path = crate::client::path_segment;
    while let Ok(job) = jobs.recv() {
        match job {
            Job::Still(cam) => {
                let mut p = crate::playback::Player::with_source(
                    Box::new(crate::client::footage::MaskStill::new(api.clone())),
                    &cam,
                );
                let r = p
                    .keyframe_at(crate::time::now_utc_ns())
                    .map(|shown| (shown.frame, shown.start_utc_ns))
                    .map_err(|e| e.to_string());
                reply(Reply::Still(cam, r));
            }
            Job::Masks(cam) => match masks_of(&cam) {
                Ok(m) => reply(Reply::Masks(cam, m)),
                Err(e) => reply(Reply::Error(e)),
            },
            Job::Add(m) => {
                let r = api
                    .post::<_, crate::client::ApiMask>(
                        &format!("/v1/cameras/{}/masks", path(&m.camera_id)),
                        &crate::server::playback::NewMask {
                            polygon: m.polygon.clone(),
                            label: m.label.clone(),
                        },
                    )
                    .map_err(|e| e.to_string());
                match r.and_then(|_| masks_of(&m.camera_id)) {
                    Ok(list) => reply(Reply::Masks(m.camera_id, list)),
                    Err(e) => reply(Reply::Error(e)),
                }
            }
            Job::Remove(id, cam) => {
                let r = api
                    .delete(&format!("/v1/masks/{id}"))
                    .map_err(|e| e.to_string());
                match r.and_then(|_| masks_of(&cam)) {
                    Ok(list) => reply(Reply::Masks(cam, list)),
                    Err(e) => reply(Reply::Error(e)),
                }
            }
        }
    }
}

enum Stage {
    SignIn(Box<super::login::LoginScreen>, Option<String>),
    Edit(Box<MaskEditor>),
}

/// The mask editor window: sign-in, then the editor.
pub struct MaskEditorApp {
    stage: Stage,
}

/// The site server a mask editor window signs in at (URL, trusted CA in PEM).
pub type ServerTarget = (String, Vec<u8>);

impl MaskEditorApp {
    /// The window, its sign-in checked by the site server `server` (everything then goes
    /// through it).
    pub fn signing_in(cc: &eframe::CreationContext<'_>, server: &ServerTarget) -> MaskEditorApp {
        if let Some(rs) = cc.wgpu_render_state.as_ref() {
            super::video::install_compositor(rs);
        }
        cc.egui_ctx.set_visuals(egui::Visuals::dark());
        let title = "Vigie · Privacy masks";
        let login = super::login::LoginScreen::server(&server.0, &server.1, title)
            .prefetching(super::login::Prefetch::Cameras);
        MaskEditorApp {
            stage: Stage::SignIn(Box::new(login), None),
        }
    }

    pub fn editor(&mut self) -> Option<&mut MaskEditor> {
        match &mut self.stage {
            Stage::Edit(e) => Some(e),
            Stage::SignIn(..) => None,
        }
    }
}

impl eframe::App for MaskEditorApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let next = match &mut self.stage {
            Stage::Edit(e) => {
                e.show(ui);
                None
            }
            Stage::SignIn(login, refused) => {
                if let Some(r) = refused {
                    ui.colored_label(Color32::from_rgb(240, 120, 90), r.as_str());
                }
                login.show(ui).and_then(|(session, signed_in)| {
                    let ctx = ui.ctx().clone();
                    let repaint = Arc::new(move || ctx.request_repaint());
                    let opened = MaskEditor::on_server(
                        Arc::new(signed_in.api),
                        signed_in.cameras,
                        session,
                        repaint,
                    );
                    match opened {
                        Ok(e) => Some(e),
                        Err(e) => {
                            *refused = Some(e);
                            None
                        }
                    }
                })
            }
        };
        if let Some(e) = next {
            self.stage = Stage::Edit(Box::new(e));
        }
    }
}

/// Opens the mask editor window on its sign-in screen at the site server `server`; `keep` (a
/// local server, say) lives as long as the window.
pub fn run_mask_editor(
    server: ServerTarget,
    keep: Vec<Box<dyn std::any::Any>>,
) -> Result<(), eframe::Error> {
    let r = eframe::run_native(
        "vigie-masks",
        super::native_options("Vigie — privacy masks"),
        Box::new(move |cc| Ok(Box::new(MaskEditorApp::signing_in(cc, &server)))),
    );
    drop(keep);
    r
}
