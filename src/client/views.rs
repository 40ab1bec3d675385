//! Saved views and salvos, per user: a named arrangement of one screen (its layout and the
//! camera of each tile) or of several (a salvo: one action puts a set of cameras on a set of
//! screens). Kept in the index, through the server (`GET /v1/views`, `PUT /v1/views/NAME`) or
//! in the data folder; read and written by a thread of their own ("saved views").

use std::sync::{Arc, Mutex, mpsc};

use serde::{Deserialize, Serialize};

use super::Backend;
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

/// Where the views are kept.
enum Place {
    Folder(Store, String),
    Server(Arc<super::Api>),
}

impl Place {
    fn open(backend: &Backend, user: &str) -> Result<Place, String> {
        match backend {
            Backend::Data(d) => Store::open(&d.join(INDEX_FILE))
                .map(|s| Place::Folder(s, user.to_owned()))
                .map_err(|e| e.to_string()),
            Backend::Server(api) => Ok(Place::Server(api.clone())),
        }
    }

    fn load(&self) -> Result<Vec<SavedView>, String> {
        match self {
            Place::Server(api) => api.get("/v1/views").map_err(|e| e.to_string()),
            Place::Folder(store, user) => store
                .views(user)
                .map_err(|e| e.to_string())?
                .into_iter()
                .map(|(name, body)| match serde_json::from_str(&body) {
                    Ok(screens) => Ok(SavedView { name, screens }),
                    Err(e) => Err(format!("saved view {name:?} is unreadable: {e}")),
                })
                .collect(),
        }
    }

    fn save(&self, view: &SavedView) -> Result<(), String> {
        match self {
            Place::Server(api) => api
                .put_empty(
                    &format!("/v1/views/{}", super::path_segment(&view.name)),
                    &view.screens,
                )
                .map_err(|e| e.to_string()),
            Place::Folder(store, user) => {
                let body = serde_json::to_string(&view.screens).map_err(|e| e.to_string())?;
                store
                    .save_view(user, &view.name, &body, crate::time::now_utc_ns())
                    .map_err(|e| e.to_string())
            }
        }
    }
}

impl ViewStore {
    /// The views of `user`, kept by `backend`; `repaint` is called when they were read again.
    pub fn start(backend: Backend, user: &str, repaint: Arc<dyn Fn() + Send + Sync>) -> ViewStore {
        let shared = Arc::new(Shared {
            views: Mutex::new(Vec::new()),
            error: Mutex::new(None),
        });
        let (tx, rx) = mpsc::channel::<SavedView>();
        let (s, user) = (shared.clone(), user.to_owned());
        let thread = std::thread::Builder::new()
            .name("saved views".into())
            .spawn(move || {
                let set_error = |e: Option<String>| {
                    *s.error.lock().unwrap_or_else(|p| p.into_inner()) = e;
                };
                let place = match Place::open(&backend, &user) {
                    Ok(p) => p,
                    Err(e) => return set_error(Some(e)),
                };
                let refresh = || match place.load() {
                    Ok(v) => *s.views.lock().unwrap_or_else(|p| p.into_inner()) = v,
                    Err(e) => set_error(Some(e)),
                };
                refresh();
                repaint();
                while let Ok(view) = rx.recv() {
                    set_error(place.save(&view).err());
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
