//! Newest-frame-wins hand-off between a producer thread and the compositor.
//!
//! The producer (a GStreamer streaming thread) calls [`FrameSlot::publish`]; it never blocks
//! beyond a short mutex held only to move a reference. The consumer (the render thread) calls
//! [`FrameSlot::take`] once per repaint. Up to [`PENDING_DEPTH`] frames wait, so that two
//! pictures arriving within one screen refresh (network bunching) are both shown, one refresh
//! apart; past that the oldest waiting frame is replaced and counted as dropped.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::Frame;

/// What a stream is doing, as shown on its tiles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamState {
    /// Opening the connection or waiting for the first picture.
    Connecting,
    /// Pictures are arriving.
    Live,
    /// Pictures stopped arriving; the last one stays on screen, dimmed.
    Lost { since_utc_ms: i64, reason: String },
    /// The stream cannot be shown as configured (wrong URL, refused credentials, unsupported
    /// codec). Retried with the longest backoff; the message is safe to display (no secrets).
    Failed { reason: String },
    /// Nobody asked for this stream any more.
    Stopped,
}

impl StreamState {
    /// A short label for overlays.
    pub fn label(&self) -> &'static str {
        match self {
            StreamState::Connecting => "connecting",
            StreamState::Live => "live",
            StreamState::Lost { .. } => "signal lost",
            StreamState::Failed { .. } => "failed",
            StreamState::Stopped => "stopped",
        }
    }
}

/// Counters read by overlays and benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SlotStats {
    /// Frames published by the producer.
    pub published: u64,
    /// Frames taken by the consumer.
    pub taken: u64,
    /// Frames replaced by a newer one before the consumer took them.
    pub dropped: u64,
}

/// Frames that may wait for the consumer before the oldest is dropped.
pub const PENDING_DEPTH: usize = 2;

type Waker = Arc<dyn Fn() + Send + Sync>;

#[derive(Default)]
struct Inner {
    pending: VecDeque<Frame>,
    last: Option<Frame>,
    state: Option<StreamState>,
    decoder: String,
    waker: Option<Waker>,
}

/// The newest decoded frame of one stream, plus its state.
#[derive(Default)]
pub struct FrameSlot {
    inner: Mutex<Inner>,
    published: AtomicU64,
    taken: AtomicU64,
    dropped: AtomicU64,
    /// The decode budget asks this stream for keyframes only (one picture a GOP).
    keyframes_only: AtomicBool,
    /// Times the server moved this relayed stream to a keyframe because it fell behind.
    relay_skips: AtomicU64,
    /// The server sends keyframes only (a bandwidth cap, or the budget's request).
    relay_keyframes_only: AtomicBool,
    /// The server sends the camera's sub stream for the main stream asked (a bandwidth cap).
    relay_sub_for_main: AtomicBool,
}

impl FrameSlot {
    pub fn new() -> Arc<FrameSlot> {
        Arc::new(FrameSlot::default())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the data half-written (only Option
        // swaps happen under it), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Asks the producer to decode keyframes only (true) or every picture (false).
    pub fn set_keyframes_only(&self, on: bool) {
        self.keyframes_only.store(on, Ordering::Relaxed);
    }

    /// True while the stream decodes keyframes only.
    pub fn keyframes_only(&self) -> bool {
        self.keyframes_only.load(Ordering::Relaxed)
    }

    /// Producer side: offers a new frame. Never blocks on the consumer.
    pub fn publish(&self, frame: Frame) {
        let waker = {
            let mut inner = self.lock();
            if inner.pending.len() >= PENDING_DEPTH {
                inner.pending.pop_front();
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            inner.pending.push_back(frame.clone());
            inner.last = Some(frame);
            if inner.state != Some(StreamState::Live) {
                inner.state = Some(StreamState::Live);
            }
            inner.waker.clone()
        };
        self.published.fetch_add(1, Ordering::Relaxed);
        if let Some(w) = waker {
            w();
        }
    }

    /// Consumer side: the frame published since the last call, if any.
    pub fn take(&self) -> Option<Frame> {
        let f = self.lock().pending.pop_front();
        if f.is_some() {
            self.taken.fetch_add(1, Ordering::Relaxed);
        }
        f
    }

    /// The most recent frame, taken or not (for stills and for tiles created later).
    pub fn last(&self) -> Option<Frame> {
        self.lock().last.clone()
    }

    pub fn set_state(&self, state: StreamState) {
        let waker = {
            let mut inner = self.lock();
            inner.state = Some(state);
            inner.waker.clone()
        };
        if let Some(w) = waker {
            w();
        }
    }

    pub fn state(&self) -> StreamState {
        self.lock().state.clone().unwrap_or(StreamState::Connecting)
    }

    pub fn set_decoder(&self, name: &str) {
        self.lock().decoder = name.to_owned();
    }

    /// Name of the GStreamer decoder element in use ("avdec_h264", "nvh264dec", ...).
    pub fn decoder(&self) -> String {
        self.lock().decoder.clone()
    }

    /// What the server says of a relayed stream: skips to a keyframe, keyframes only, the sub
    /// stream sent for the main stream.
    pub fn set_relay_notes(&self, skips: u64, keyframes_only: bool, sub_for_main: bool) {
        self.relay_skips.store(skips, Ordering::Relaxed);
        self.relay_keyframes_only
            .store(keyframes_only, Ordering::Relaxed);
        self.relay_sub_for_main
            .store(sub_for_main, Ordering::Relaxed);
    }

    /// True while the server sends the sub stream for this main stream (a bandwidth cap).
    pub fn relay_sub_for_main(&self) -> bool {
        self.relay_sub_for_main.load(Ordering::Relaxed)
    }

    /// Times the server skipped this stream to a keyframe (the workstation fell behind).
    pub fn relay_skips(&self) -> u64 {
        self.relay_skips.load(Ordering::Relaxed)
    }

    /// True while the server sends this stream's keyframes only.
    pub fn relay_keyframes_only(&self) -> bool {
        self.relay_keyframes_only.load(Ordering::Relaxed)
    }

    /// Called after each publish or state change (the UI passes its repaint request).
    pub fn set_waker(&self, waker: Option<Waker>) {
        self.lock().waker = waker;
    }

    pub fn stats(&self) -> SlotStats {
        SlotStats {
            published: self.published.load(Ordering::Relaxed),
            taken: self.taken.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::Colorimetry;

    fn frame(tag: u8) -> Frame {
        Frame::from_i420(
            2,
            2,
            Colorimetry::default(),
            vec![tag; 4],
            vec![128],
            vec![128],
        )
    }

    #[test]
    fn newest_frames_win_and_replacements_count_as_dropped() {
        let slot = FrameSlot::new();
        slot.publish(frame(1));
        slot.publish(frame(2));
        slot.publish(frame(3));
        assert_eq!(slot.take().expect("a frame").luma_at(0, 0), 2);
        assert_eq!(slot.take().expect("a frame").luma_at(0, 0), 3);
        assert!(slot.take().is_none());
        let stats = slot.stats();
        assert_eq!((stats.published, stats.taken, stats.dropped), (3, 2, 1));
        assert_eq!(slot.last().expect("last").luma_at(1, 1), 3);
        assert_eq!(slot.state(), StreamState::Live);
    }
}
