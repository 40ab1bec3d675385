//! What a review timeline draws of a camera over a range: recorded spans, gaps and their cause,
//! events, bookmarks, holds, the alarms that showed the camera, and damaged segments. Read from
//! the index here (on the server, or by a command run as its user); workstations get the same
//! [`TimelineData`] as JSON from `GET /v1/cameras/ID/review`.

use std::path::Path;

use crate::store::{Bookmark, Hold, Store, StoreError, Timeline};

/// What the timeline draws of a camera over the visible range.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct TimelineData {
    pub range: (i64, i64),
    pub timeline: Timeline,
    pub bookmarks: Vec<Bookmark>,
    pub holds: Vec<Hold>,
    /// Alarms that showed this camera: (alarm, when, priority, kind).
    pub alarms: Vec<(i64, i64, u8, String)>,
    /// Segments whose file is missing or not of the indexed size.
    pub damaged: Vec<i64>,
}

/// `camera`'s timeline over `from..to`, from the index of the data folder `data`.
pub fn review_timeline(
    store: &Store,
    data: &Path,
    camera: &str,
    from: i64,
    to: i64,
) -> Result<TimelineData, StoreError> {
    let damaged = store
        .segments(camera, from, to)?
        .into_iter()
        .filter(|s| {
            std::fs::metadata(data.join(&s.row.path)).map_or(true, |m| m.len() != s.row.bytes)
        })
        .map(|s| s.id)
        .collect();
    Ok(TimelineData {
        damaged,
        range: (from, to),
        timeline: store.timeline(camera, from, to)?,
        bookmarks: store.bookmarks(camera, from, to)?,
        alarms: store.alarms_of_camera(camera, from, to)?,
        holds: store
            .holds()?
            .into_iter()
            .filter(|h| {
                h.camera_id == camera && h.span.start_utc_ns < to && h.span.end_utc_ns > from
            })
            .collect(),
    })
}
