//! A playback tile's worker: a thread owning a [`Player`], told where the playhead is and
//! publishing the picture for it into a [`FrameSlot`] (as the live path does), so the UI thread
//! never waits for a file or a decoder.

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};

use super::{PlaybackError, Player, Shown};
use crate::media::{FrameSlot, StreamState};

/// What the UI asks of a tile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// The picture whose interval contains this instant (UTC ns).
    At(i64),
    /// One picture after (+1) or before (-1) the one shown.
    Step(i8),
    /// Fast play: the keyframe of the GOP holding this instant, shown for the whole GOP.
    KeyframeAt(i64),
}

/// What a tile shows now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TileStatus {
    /// Interval of the picture shown.
    pub shown: Option<(i64, i64)>,
    /// Why nothing (or an older picture) is shown: no footage, a damaged segment.
    pub note: Option<String>,
    /// Requests answered so far.
    pub answered: u64,
}

struct State {
    request: Option<Request>,
    /// A request is being answered.
    working: bool,
    stop: bool,
    status: TileStatus,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

/// A camera's playback for one tile.
pub struct TileWorker {
    camera: String,
    slot: Arc<FrameSlot>,
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TileWorker {
    /// Starts playing `camera` from the recorder data folder `data`.
    pub fn start(data: &Path, camera: &str) -> Result<TileWorker, PlaybackError> {
        TileWorker::with_player(Player::open(data, camera)?)
    }

    /// Starts playing with `player` (reading the folder, or the site server).
    pub fn with_player(mut player: Player) -> Result<TileWorker, PlaybackError> {
        let name = player.camera().to_owned();
        let camera = name.as_str();
        let slot = FrameSlot::new();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                request: None,
                working: false,
                stop: false,
                status: TileStatus::default(),
            }),
            wake: Condvar::new(),
        });
        let (s2, slot2) = (shared.clone(), slot.clone());
        let thread = std::thread::Builder::new()
            .name(format!("playback {camera}"))
            .spawn(move || {
                let mut shown: Option<Shown> = None;
                loop {
                    let request = {
                        let mut st = s2.state.lock().unwrap_or_else(|e| e.into_inner());
                        while st.request.is_none() && !st.stop {
                            st = s2.wake.wait(st).unwrap_or_else(|e| e.into_inner());
                        }
                        if st.stop {
                            return;
                        }
                        st.working = true;
                        st.request.take()
                    };
                    let Some(request) = request else { continue };
                    let result = match (request, &shown) {
                        (Request::At(t), _) => player.frame_at(t).map(Some),
                        (Request::KeyframeAt(t), _) => player.keyframe_at(t).map(Some),
                        (Request::Step(d), Some(s)) if d > 0 => player.next(s),
                        (Request::Step(_), Some(s)) => player.previous(s),
                        (Request::Step(_), None) => Ok(None),
                    };
                    let mut st = s2.state.lock().unwrap_or_else(|e| e.into_inner());
                    st.working = false;
                    st.status.answered += 1;
                    match result {
                        Ok(Some(s)) => {
                            slot2.publish(s.frame.clone());
                            slot2.set_state(StreamState::Live);
                            st.status.shown = Some((s.start_utc_ns, s.end_utc_ns));
                            st.status.note = None;
                            shown = Some(s);
                        }
                        Ok(None) => st.status.note = Some("end of the recording".into()),
                        Err(e) => {
                            st.status.note = Some(match &e {
                                PlaybackError::NoFootage { .. } => "no recording here".into(),
                                other => other.to_string(),
                            });
                            st.status.shown = None;
                        }
                    }
                }
            })
            .map_err(|e| PlaybackError::Decode {
                path: camera.to_owned(),
                why: format!("cannot start a playback thread: {e}"),
            })?;
        Ok(TileWorker {
            camera: camera.to_owned(),
            slot,
            shared,
            thread: Some(thread),
        })
    }

    pub fn camera(&self) -> &str {
        &self.camera
    }

    /// Where its pictures arrive.
    pub fn slot(&self) -> &Arc<FrameSlot> {
        &self.slot
    }

    /// Asks for a picture; a request not yet started is replaced (the newest wins).
    pub fn request(&self, r: Request) {
        let mut st = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        st.request = Some(r);
        self.shared.wake.notify_one();
    }

    /// What the tile shows now.
    pub fn status(&self) -> TileStatus {
        self.shared
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .status
            .clone()
    }

    /// True while a request waits or is being answered.
    pub fn busy(&self) -> bool {
        let st = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        st.request.is_some() || st.working
    }
}

impl Drop for TileWorker {
    fn drop(&mut self) {
        {
            let mut st = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
            st.stop = true;
            self.shared.wake.notify_one();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
