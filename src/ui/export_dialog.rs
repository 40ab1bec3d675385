//! The review's export window: the selected range of one or more cameras, the requisition's
//! number, officer and reason, a destination chosen with the system's folder dialog (or typed),
//! then the export on a thread of its own with progress and a cancel button.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, mpsc};

use crate::export::Request;
use crate::time::{paris, rfc3339};

/// An export under way.
struct Running {
    /// Fraction written, in millionths.
    progress: Arc<AtomicU32>,
    cancel: Arc<AtomicBool>,
    done: mpsc::Receiver<Result<Done, String>>,
}

/// A finished export, made by the server and fetched.
struct Done {
    files: usize,
    dir: PathBuf,
    missing: Vec<String>,
}

/// The export window's state.
pub struct ExportDialog {
    pub open: bool,
    range: (i64, i64),
    /// Cameras offered (those in the grid) and whether each is ticked.
    cameras: Vec<(String, bool)>,
    requisition: String,
    officer: String,
    reason: String,
    /// A citizen's access request: a masked, re-encoded copy.
    citizen: bool,
    requester: String,
    identity_check: String,
    /// Regions to pixelate in a citizen's copy (third parties), per camera.
    blur: Vec<(String, crate::render::Polygon)>,
    /// The region being drawn: its camera and points so far (picture fractions).
    drawing: Option<(String, Vec<[f32; 2]>)>,
    /// The camera of the review's selected tile, where a new region is drawn.
    pub selected_camera: Option<String>,
    /// The folder the export folder is created in.
    parent: String,
    picking: Option<mpsc::Receiver<Option<PathBuf>>>,
    running: Option<Running>,
    /// The outcome of the last export, in words.
    pub outcome: Option<Result<String, String>>,
}

fn default_parent() -> String {
    crate::config::dirs::home()
        .map(|h| h.join("Vigie exports"))
        .unwrap_or_else(|| PathBuf::from("Vigie exports"))
        .display()
        .to_string()
}

/// A requisition number as a folder name.
fn folder_name(requisition: &str, now_ns: i64) -> String {
    format!(
        "{}_{}",
        crate::export::safe_name(requisition),
        chrono::DateTime::from_timestamp_nanos(now_ns).format("%Y%m%dT%H%M%SZ")
    )
}

impl Default for ExportDialog {
    fn default() -> ExportDialog {
        ExportDialog {
            open: false,
            range: (0, 0),
            cameras: Vec::new(),
            requisition: String::new(),
            officer: String::new(),
            reason: String::new(),
            citizen: false,
            requester: String::new(),
            identity_check: String::new(),
            blur: Vec::new(),
            drawing: None,
            selected_camera: None,
            parent: default_parent(),
            picking: None,
            running: None,
            outcome: None,
        }
    }
}

impl ExportDialog {
    /// Opens the window for `range` over the grid's `cameras`, `selected` ticked.
    pub fn start(&mut self, range: (i64, i64), cameras: Vec<String>, selected: Option<&str>) {
        self.open = true;
        self.range = range;
        self.cameras = cameras
            .into_iter()
            .map(|c| {
                let on = Some(c.as_str()) == selected;
                (c, on)
            })
            .collect();
        self.outcome = None;
    }

    /// Makes it a citizen's access request (a masked copy) from `requester`, whose identity
    /// was checked as `identity_check`.
    pub fn citizen(&mut self, requester: &str, identity_check: &str) {
        self.citizen = true;
        self.requester = requester.to_owned();
        self.identity_check = identity_check.to_owned();
    }

    /// The camera a blur region is being drawn on.
    pub fn drawing_on(&self) -> Option<&str> {
        self.drawing.as_ref().map(|(c, _)| c.as_str())
    }

    /// Starts a blur region on `camera`: the next clicks on its picture place its points.
    pub fn draw_blur(&mut self, camera: &str) {
        self.drawing = Some((camera.to_owned(), Vec::new()));
    }

    /// Adds a point (picture fractions) to the region being drawn.
    pub fn add_blur_point(&mut self, p: [f32; 2]) {
        if let Some((_, pts)) = &mut self.drawing {
            pts.push([p[0].clamp(0.0, 1.0), p[1].clamp(0.0, 1.0)]);
        }
    }

    /// The points of the region being drawn.
    pub fn blur_points(&self) -> &[[f32; 2]] {
        self.drawing
            .as_ref()
            .map(|(_, p)| p.as_slice())
            .unwrap_or(&[])
    }

    /// Closes the region being drawn (3 points or more) and keeps it.
    pub fn close_blur(&mut self) {
        if let Some((cam, pts)) = self.drawing.take()
            && pts.len() >= 3
        {
            self.blur.push((cam, pts));
        }
    }

    /// The finished blur regions of `camera`.
    pub fn blur_regions(&self, camera: &str) -> Vec<crate::render::Polygon> {
        self.blur
            .iter()
            .filter(|(c, _)| c == camera)
            .map(|(_, p)| p.clone())
            .collect()
    }

    /// Fills the form (for tests and scripted use).
    pub fn fill(&mut self, requisition: &str, officer: &str, reason: &str, parent: &Path) {
        self.requisition = requisition.to_owned();
        self.officer = officer.to_owned();
        self.reason = reason.to_owned();
        self.parent = parent.display().to_string();
    }

    /// Starts the export on its own thread.
    pub fn run(&mut self, api: &Arc<crate::client::Api>, ctx: &egui::Context) {
        let cameras: Vec<String> = self
            .cameras
            .iter()
            .filter(|(_, on)| *on)
            .map(|(c, _)| c.clone())
            .collect();
        if cameras.is_empty() {
            self.outcome = Some(Err("Tick at least one camera".into()));
            return;
        }
        let now = crate::time::now_utc_ns();
        let req = Request {
            cameras,
            from_utc_ns: self.range.0,
            to_utc_ns: self.range.1,
            out: PathBuf::from(self.parent.trim()).join(folder_name(&self.requisition, now)),
            requisition: self.requisition.clone(),
            officer: self.officer.clone(),
            reason: self.reason.clone(),
            access: self.citizen.then(|| crate::export::CitizenAccess {
                requester: self.requester.clone(),
                identity_check: self.identity_check.clone(),
                received_utc_ns: now,
                blur: self.blur.clone(),
            }),
        };
        if let Err(e) = std::fs::create_dir_all(self.parent.trim()) {
            self.outcome = Some(Err(format!("{}: {e}", self.parent.trim())));
            return;
        }
        let progress = Arc::new(AtomicU32::new(0));
        let cancel = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let (p, c, api, ctx) = (progress.clone(), cancel.clone(), api.clone(), ctx.clone());
        let spawned = std::thread::Builder::new()
            .name("export".into())
            .spawn(move || {
                let mut report = |f: f64| {
                    p.store((f * 1e6) as u32, Ordering::Relaxed);
                    ctx.request_repaint();
                    !c.load(Ordering::Relaxed)
                };
                let r = fetch(&api, &req, &mut report);
                let _ = tx.send(r);
                ctx.request_repaint();
            });
        match spawned {
            Ok(_) => {
                self.running = Some(Running {
                    progress,
                    cancel,
                    done: rx,
                });
                self.outcome = None;
            }
            Err(e) => self.outcome = Some(Err(format!("cannot start the export: {e}"))),
        }
    }

    /// Asks a running export to stop; it removes what it wrote.
    pub fn cancel(&self) {
        if let Some(r) = &self.running {
            r.cancel.store(true, Ordering::Relaxed);
        }
    }

    /// Collects a finished export's outcome; true when one finished.
    pub fn poll(&mut self) -> bool {
        let Some(r) = &self.running else {
            return false;
        };
        match r.done.try_recv() {
            Ok(result) => {
                self.running = None;
                self.outcome = Some(result.map(|e| {
                    let mut s = format!("Exported {} file(s) to {}", e.files, e.dir.display());
                    if !e.missing.is_empty() {
                        s.push_str(&format!(" ({})", e.missing.join("; ")));
                    }
                    s
                }));
                true
            }
            Err(mpsc::TryRecvError::Empty) => false,
            Err(mpsc::TryRecvError::Disconnected) => {
                self.running = None;
                self.outcome = Some(Err("the export stopped unexpectedly".into()));
                true
            }
        }
    }

    /// Draws the window.
    pub fn show(&mut self, ctx: &egui::Context, api: &Arc<crate::client::Api>) {
        self.poll();
        if let Some(rx) = &self.picking
            && let Ok(choice) = rx.try_recv()
        {
            self.picking = None;
            if let Some(dir) = choice {
                self.parent = dir.display().to_string();
            }
        }
        if !self.open {
            return;
        }
        let mut open = self.open;
        let mut go = false;
        egui::Window::new("Export footage")
            .open(&mut open)
            .collapsible(false)
            .resizable(false)
            .show(ctx, |ui| {
                ui.label(format!(
                    "{} to {} (Paris) · {} to {} UTC",
                    paris(self.range.0, "%Y-%m-%d %H:%M:%S%.3f"),
                    paris(self.range.1, "%H:%M:%S%.3f"),
                    rfc3339(self.range.0),
                    rfc3339(self.range.1)
                ));
                ui.horizontal_wrapped(|ui| {
                    ui.label("Cameras:");
                    for (c, on) in &mut self.cameras {
                        ui.checkbox(on, c.as_str());
                    }
                });
                let busy = self.running.is_some();
                ui.horizontal(|ui| {
                    ui.radio_value(&mut self.citizen, false, "Judicial requisition (as recorded)");
                    ui.radio_value(&mut self.citizen, true, "Citizen's access request (masked copy)");
                });
                egui::Grid::new("export form").num_columns(2).show(ui, |ui| {
                    let mut fields: Vec<(&str, &mut String)> = if self.citizen {
                        vec![
                            ("Request ref.", &mut self.requisition),
                            ("Requester", &mut self.requester),
                            ("Identity checked", &mut self.identity_check),
                        ]
                    } else {
                        vec![
                            ("Requisition no.", &mut self.requisition),
                            ("Officer", &mut self.officer),
                        ]
                    };
                    fields.push(("Reason", &mut self.reason));
                    for (label, value) in fields {
                        let l = ui.label(label);
                        ui.add_enabled(
                            !busy,
                            egui::TextEdit::singleline(value).desired_width(320.0),
                        )
                        .labelled_by(l.id);
                        ui.end_row();
                    }
                    let l = ui.label("Into folder");
                    ui.horizontal(|ui| {
                        ui.add_enabled(
                            !busy,
                            egui::TextEdit::singleline(&mut self.parent).desired_width(240.0),
                        )
                        .labelled_by(l.id);
                        if ui
                            .add_enabled(!busy && self.picking.is_none(), egui::Button::new("Choose…"))
                            .clicked()
                        {
                            self.picking = pick_folder(ui.ctx(), &self.parent);
                        }
                    });
                    ui.end_row();
                });
                if self.citizen {
                    ui.horizontal_wrapped(|ui| {
                        ui.label(format!("{} region(s) to pixelate", self.blur.len()));
                        match (&self.drawing, &self.selected_camera) {
                            (Some((cam, pts)), _) => {
                                ui.label(format!(
                                    "click the points of a region on {cam}'s picture ({})",
                                    pts.len()
                                ));
                                if ui.button("Close region").clicked() {
                                    self.close_blur();
                                }
                            }
                            (None, Some(cam)) => {
                                let cam = cam.clone();
                                if ui
                                    .add_enabled(!busy, egui::Button::new(format!("Draw a region on {cam}")))
                                    .on_hover_text("Third parties to pixelate in the copy: click around them on the tile's picture")
                                    .clicked()
                                {
                                    self.draw_blur(&cam);
                                }
                            }
                            (None, None) => {
                                ui.weak("Select a tile to draw a region on");
                            }
                        }
                        if !self.blur.is_empty() && ui.button("Remove last region").clicked() {
                            self.blur.pop();
                        }
                    });
                }
                ui.weak(if self.citizen {
                    "A folder named after the request is created there: the videos re-encoded with the privacy masks painted in, a signed manifest, SHA256SUMS and a README. The request and the identity check are recorded."
                } else {
                    "A folder named after the requisition is created there: the videos as recorded, a signed manifest, SHA256SUMS and a README on how to check them."
                });
                if let Some(r) = &self.running {
                    let f = r.progress.load(Ordering::Relaxed) as f32 / 1e6;
                    ui.add(egui::ProgressBar::new(f).show_percentage());
                    if ui.button("Cancel").clicked() {
                        self.cancel();
                    }
                } else if ui.button("Export").clicked() {
                    go = true;
                }
                match &self.outcome {
                    Some(Ok(m)) => {
                        ui.colored_label(egui::Color32::from_rgb(120, 210, 120), m);
                    }
                    Some(Err(m)) => {
                        ui.colored_label(egui::Color32::from_rgb(240, 120, 90), m);
                    }
                    None => {}
                }
            });
        if go {
            self.run(api, ctx);
        }
        if !open && self.running.is_none() {
            self.open = false;
        }
    }
}

/// The system's folder dialog, on a thread (it blocks until the user answers).
fn pick_folder(ctx: &egui::Context, start: &str) -> Option<mpsc::Receiver<Option<PathBuf>>> {
    let (tx, rx) = mpsc::channel();
    let ctx = ctx.clone();
    let start = PathBuf::from(start);
    std::thread::Builder::new()
        .name("folder dialog".into())
        .spawn(move || {
            let mut d = rfd::FileDialog::new().set_title("Export into folder");
            if start.is_dir() {
                d = d.set_directory(&start);
            }
            let _ = tx.send(d.pick_folder());
            ctx.request_repaint();
        })
        .ok()?;
    Some(rx)
}

/// Has the site server make `req` and fetches it into `req.out`; the server's work is the first
/// half of the progress, the download the second.
fn fetch(
    api: &crate::client::Api,
    req: &Request,
    report: &mut dyn FnMut(f64) -> bool,
) -> Result<Done, String> {
    use crate::client::exports::{AccessOrder, BlurZone, ExportOrder, Stage};
    let order = ExportOrder {
        cameras: req.cameras.clone(),
        from: req.from_utc_ns.to_string(),
        to: req.to_utc_ns.to_string(),
        requisition: req.requisition.clone(),
        officer: req.officer.clone(),
        reason: req.reason.clone(),
        access: req.access.as_ref().map(|a| AccessOrder {
            requester: a.requester.clone(),
            identity_check: a.identity_check.clone(),
            received: Some(a.received_utc_ns.to_string()),
            blur: a
                .blur
                .iter()
                .map(|(camera, points)| BlurZone {
                    camera: camera.clone(),
                    points: points.clone(),
                })
                .collect(),
        }),
    };
    let fetched = crate::client::exports::fetch(api, &order, &req.out, &mut |stage| match stage {
        Stage::Making(f) => report(f / 2.0),
        Stage::Downloading { done, total } => report(0.5 + done as f64 / total.max(1) as f64 / 2.0),
    })
    .map_err(|e| e.to_string())?;
    Ok(Done {
        files: fetched
            .files
            .iter()
            .filter(|f| f.name.ends_with(".mp4"))
            .count(),
        dir: fetched.dir,
        missing: fetched.missing,
    })
}
