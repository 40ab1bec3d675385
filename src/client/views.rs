//! Saved views and salvos, per user: a named arrangement of one screen (its layout and the
//! camera of each tile) or of several (a salvo: one action puts a set of cameras on a set of
//! screens). Kept by the server (`GET /v1/views`, `PUT /v1/views/NAME`); read and written by a
//! thread of their own ("saved views").

use std::sync::{Arc, Mutex, mpsc};

use serde::{Deserialize, Serialize};

use super::Api;

/// One screen of a saved view.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScreenView {
    /// The screen's name in the workstation profile.
    pub screen: String,
    /// The layout's name.
    pub layout: String,
    /// Each tile's camera id, in reading order.
    pub cameras: Vec<Option<String>>,
}

/// A saved view: one screen, or several (a salvo).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedView {
    pub name: String,
    pub screens: Vec<ScreenView>,
}

impl SavedView {
    /// A salvo acts on several screens.
    pub fn is_salvo(&self) -> bool {
        self.screens.len() > 1
    }
}

struct Shared {
    views: Mutex<Vec<SavedView>>,
    error: Mutex<Option<String>>,
}

/// The signed-in user's views, and saving new ones.
pub struct ViewStore {
    tx: Option<mpsc::Sender<SavedView>>,
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn load(api: &Api) -> Result<Vec<SavedView>, String> {
    api.get("/v1/views").map_err(|e| e.to_string())
}

fn save(api: &Api, view: &SavedView) -> Result<(), String> {
    api.put_empty(
        &format!("/v1/views/{}", super::path_segment(&view.name)),
        &view.screens,
    )
    .map_err(|e| e.to_string())
}

impl ViewStore {
    /// The signed-in user's views, kept by the server `api`; `repaint` is called when they were
    /// read again.
    pub fn start(api: Arc<Api>, repaint: Arc<dyn Fn() + Send + Sync>) -> ViewStore {
        let shared = Arc::new(Shared {
            views: Mutex::new(Vec::new()),
            error: Mutex::new(None),
        });
        let (tx, rx) = mpsc::channel::<SavedView>();
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("saved views".into())
            .spawn(move || {
                let set_error = |e: Option<String>| {
                    *s.error.lock().unwrap_or_else(|p| p.into_inner()) = e;
                };
                let refresh = || match load(&api) {
                    Ok(v) => *s.views.lock().unwrap_or_else(|p| p.into_inner()) = v,
                    Err(e) => set_error(Some(e)),
                };
                refresh();
                repaint();
                while let Ok(view) = rx.recv() {
                    set_error(save(&api, &view).err());
                    refresh();
                    repaint();
                }
            })
            .ok();
        ViewStore {
            tx: Some(tx),
            shared,
            thread,
        }
    }

    /// Saves `view` (replacing one of the same name).
    pub fn save(&self, view: SavedView) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(view);
        }
    }

    /// The views as last read.
    pub fn list(&self) -> Vec<SavedView> {
        self.shared
            .views
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn error(&self) -> Option<String> {
        self.shared
            .error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl Drop for ViewStore {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
