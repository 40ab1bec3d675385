//! Saved views and salvos, per user: a named arrangement of one screen (its layout and the
//! camera of each tile) or of several (a salvo: one action puts a set of cameras on a set of
//! screens). Kept in the index; read and written by a thread of their own.

use std::path::Path;
use std::sync::{Arc, Mutex, mpsc};

use serde::{Deserialize, Serialize};

use crate::store::{INDEX_FILE, Store};

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
#[derive(Clone, Debug, PartialEq)]
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

fn load(store: &Store, user: &str) -> Result<Vec<SavedView>, String> {
    store
        .views(user)
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|(name, body)| match serde_json::from_str(&body) {
            Ok(screens) => Ok(SavedView { name, screens }),
            Err(e) => Err(format!("saved view {name:?} is unreadable: {e}")),
        })
        .collect()
}

impl ViewStore {
    pub fn start(data: &Path, user: &str, repaint: Arc<dyn Fn() + Send + Sync>) -> ViewStore {
        let shared = Arc::new(Shared {
            views: Mutex::new(Vec::new()),
            error: Mutex::new(None),
        });
        let (tx, rx) = mpsc::channel::<SavedView>();
        let (s, path, user) = (shared.clone(), data.join(INDEX_FILE), user.to_owned());
        let thread = std::thread::Builder::new()
            .name("saved views".into())
            .spawn(move || {
                let set_error = |e: String| {
                    *s.error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                };
                let store = match Store::open(&path) {
                    Ok(st) => st,
                    Err(e) => return set_error(e.to_string()),
                };
                let refresh = || match load(&store, &user) {
                    Ok(v) => *s.views.lock().unwrap_or_else(|p| p.into_inner()) = v,
                    Err(e) => set_error(e),
                };
                refresh();
                repaint();
                while let Ok(view) = rx.recv() {
                    let body = serde_json::to_string(&view.screens).unwrap_or_default();
                    if let Err(e) =
                        store.save_view(&user, &view.name, &body, crate::time::now_utc_ns())
                    {
                        set_error(e.to_string());
                    }
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
