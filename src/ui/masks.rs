//! The privacy masks a window applies, read from the index by a thread of its own and re-read
//! every few seconds, so that a mask an administrator draws reaches every screen soon after.
//!
//! Fail closed: until the masks have been read once, a window draws no video of any camera.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::render::Polygon;
use crate::store::{INDEX_FILE, Store};

type ByCamera = HashMap<String, Arc<Vec<Polygon>>>;

/// How often the masks are read again.
const REFRESH: Duration = Duration::from_secs(3);

struct Shared {
    masks: Mutex<Option<Arc<ByCamera>>>,
    error: Mutex<Option<String>>,
    stop: AtomicBool,
}

/// Every camera's masks, kept current.
pub struct MaskWatch {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Reads the masks in force, by camera.
pub fn read_masks(data: &Path) -> Result<ByCamera, crate::store::StoreError> {
    let store = Store::open_readonly(&data.join(INDEX_FILE))?;
    let mut by: HashMap<String, Vec<Polygon>> = HashMap::new();
    for m in store.masks(None)? {
        by.entry(m.camera_id).or_default().push(m.polygon);
    }
    Ok(by.into_iter().map(|(k, v)| (k, Arc::new(v))).collect())
}

/// The masks in force, by camera, from the site server (the cameras this user may see).
fn fetch_masks(api: &crate::client::Api) -> Result<ByCamera, crate::client::ClientError> {
    Ok(api
        .all_masks()?
        .into_iter()
        .map(|(cam, ms)| (cam, Arc::new(ms.into_iter().map(|m| m.polygon).collect())))
        .collect())
}

impl MaskWatch {
    pub fn start(data: &Path, repaint: Arc<dyn Fn() + Send + Sync>) -> MaskWatch {
        MaskWatch::watch(crate::client::Backend::Data(data.to_owned()), repaint)
    }

    /// Masks read from the folder or asked of the server, as `backend` says.
    pub fn watch(
        backend: crate::client::Backend,
        repaint: Arc<dyn Fn() + Send + Sync>,
    ) -> MaskWatch {
        let shared = Arc::new(Shared {
            masks: Mutex::new(None),
            error: Mutex::new(None),
            stop: AtomicBool::new(false),
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("privacy masks".into())
            .spawn(move || {
                while !s.stop.load(Ordering::Relaxed) {
                    let read = match &backend {
                        crate::client::Backend::Data(data) => {
                            read_masks(data).map_err(|e| e.to_string())
                        }
                        crate::client::Backend::Server(api) => {
                            fetch_masks(api).map_err(|e| e.to_string())
                        }
                    };
                    match read {
                        Ok(m) => {
                            let changed = {
                                let mut cur = s.masks.lock().unwrap_or_else(|e| e.into_inner());
                                let changed = cur.as_deref() != Some(&m);
                                if changed {
                                    *cur = Some(Arc::new(m));
                                }
                                changed
                            };
                            *s.error.lock().unwrap_or_else(|e| e.into_inner()) = None;
                            if changed {
                                repaint();
                            }
                        }
                        Err(e) => {
                            *s.error.lock().unwrap_or_else(|e| e.into_inner()) =
                                Some(format!("privacy masks: {e}"));
                            repaint();
                        }
                    }
                    let mut slept = Duration::ZERO;
                    while slept < REFRESH && !s.stop.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(100));
                        slept += Duration::from_millis(100);
                    }
                }
            })
            .ok();
        MaskWatch { shared, thread }
    }

    /// Every camera's masks, once read (None before: draw no video).
    pub fn current(&self) -> Option<Arc<ByCamera>> {
        self.shared
            .masks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Why the masks could not be read, if they could not.
    pub fn error(&self) -> Option<String> {
        self.shared
            .error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for MaskWatch {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Privacy masks lifted by a supervisor, for an emergency, on some cameras of one window:
/// each lift and restore is logged with its reason; closing the window restores them.
#[derive(Default)]
pub struct Lifts {
    lifted: std::collections::BTreeMap<String, String>,
    /// The reason being typed.
    reason: String,
    pub message: Option<String>,
}

impl Lifts {
    pub fn is_lifted(&self, camera: &str) -> bool {
        self.lifted.contains_key(camera)
    }

    /// Lifts `camera`'s masks for `session`, for `reason`; the entry goes to `log`.
    pub fn lift(
        &mut self,
        session: &crate::auth::Session,
        camera: &str,
        reason: &str,
        log: &mut dyn FnMut(crate::auth::audit::Entry),
    ) -> Result<(), String> {
        use crate::auth::Action;
        if !session.may(Action::LiftMask) {
            return Err(format!(
                "{} ({}) may not {}",
                session.user,
                session.role,
                Action::LiftMask.as_str()
            ));
        }
        if !session.may_see(camera) {
            return Err(format!("{} may not see camera {camera}", session.user));
        }
        if reason.trim().is_empty() {
            return Err("Lifting a privacy mask needs a reason".into());
        }
        log(session.entry("mask lifted", camera, None, reason.trim(), ""));
        self.lifted
            .insert(camera.to_owned(), reason.trim().to_owned());
        Ok(())
    }

    /// Puts `camera`'s masks back.
    pub fn restore(
        &mut self,
        session: &crate::auth::Session,
        camera: &str,
        log: &mut dyn FnMut(crate::auth::audit::Entry),
    ) {
        if let Some(reason) = self.lifted.remove(camera) {
            log(session.entry("mask restored", camera, None, &reason, ""));
        }
    }

    /// Restores every lifted mask (the window closes).
    pub fn restore_all(
        &mut self,
        session: &crate::auth::Session,
        log: &mut dyn FnMut(crate::auth::audit::Entry),
    ) {
        let cams: Vec<String> = self.lifted.keys().cloned().collect();
        for c in cams {
            self.restore(session, &c, log);
        }
    }

    /// The controls for the selected camera: a reason and "Lift masks", or "Restore masks".
    /// Shown only to roles that may lift, for a camera that has masks.
    pub fn controls(
        &mut self,
        ui: &mut egui::Ui,
        session: &crate::auth::Session,
        camera: Option<&str>,
        has_masks: bool,
        log: &mut dyn FnMut(crate::auth::audit::Entry),
    ) {
        let Some(camera) = camera else {
            return;
        };
        if !session.may(crate::auth::Action::LiftMask) || !(has_masks || self.is_lifted(camera)) {
            return;
        }
        if self.is_lifted(camera) {
            if ui
                .button(format!("Restore masks on {camera}"))
                .on_hover_text("Masks are lifted on this camera: logged")
                .clicked()
            {
                self.restore(session, camera, log);
            }
        } else {
            let l = ui.label("Lift masks, reason:");
            ui.add(egui::TextEdit::singleline(&mut self.reason).desired_width(140.0))
                .labelled_by(l.id);
            if ui
                .button(format!("Lift on {camera}"))
                .on_hover_text(
                    "Shows what the privacy masks hide, for an emergency; logged with the reason",
                )
                .clicked()
            {
                let reason = std::mem::take(&mut self.reason);
                match self.lift(session, camera, &reason, log) {
                    Ok(()) => self.message = None,
                    Err(e) => {
                        self.reason = reason;
                        self.message = Some(e);
                    }
                }
            }
        }
    }
}
