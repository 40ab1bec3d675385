//! The privacy masks a window applies, asked of the site server by a thread of its own and
//! asked again every few seconds, so that a mask an administrator draws reaches every screen
//! soon after.
//!
//! Fail closed: until the masks have been read once, a window draws no video of any camera.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::render::Polygon;

pub type ByCamera = HashMap<String, Arc<Vec<Polygon>>>;

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

/// The masks in force, by camera, from the site server (the cameras this user may see).
fn fetch_masks(api: &super::Api) -> Result<ByCamera, super::ClientError> {
    Ok(api
        .all_masks()?
        .into_iter()
        .map(|(cam, ms)| (cam, Arc::new(ms.into_iter().map(|m| m.polygon).collect())))
        .collect())
}

impl MaskWatch {
    /// The masks of the cameras the user signed in at `api` may see; `repaint` is called when
    /// they change or cannot be asked.
    pub fn watch(api: Arc<super::Api>, repaint: Arc<dyn Fn() + Send + Sync>) -> MaskWatch {
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
                    match fetch_masks(&api) {
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
