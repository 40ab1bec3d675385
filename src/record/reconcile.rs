//! Start-up reconciliation of the index with the segment files, before recording resumes. It
//! never launders: a file is indexed only when it has no row and sits where the recorder
//! writes (`camNNN/YYYY-MM-DD/camNNN-<start ns>.mp4`, a regular file), and a row is never given
//! a fresh hash.
//!
//! - A row whose file has another size than indexed (cut, appended to, replaced): the file is
//!   moved to `quarantine/`, the row goes with a register line, and an alarm is raised. Its
//!   footage is no longer offered or exported.
//! - A row whose file is missing, its folder present: the row goes, with a register line.
//!   When the folder itself is missing, or the file cannot be read (EIO, EACCES), the row is
//!   kept and the problem reported: a volume missing behind a mount point deletes no row.
//! - An unindexed segment (one the recorder was writing when it died) is truncated to its last
//!   complete fragment, fsynced and indexed; one with no complete fragment, not where the
//!   recorder writes, or that cannot be read as a segment, is moved aside to `lost+found/`.
//!
//! Every repair is logged and recorded as an `index repair` event.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::fmp4::{VideoCodec, scan};
use super::retention::RETENTION_AUTHOR;
use crate::store::{CameraRow, Keyframe, SegmentRow, Store, StoreError, WriteOp, encode_keyframes};

/// What reconciliation did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Repairs {
    /// Rows removed (their files were missing, their folders present).
    pub rows_removed: Vec<String>,
    /// Files that disagreed with their rows, moved to `quarantine/` (their rows removed).
    pub quarantined: Vec<String>,
    /// Rows kept although their files could not be checked (why, each).
    pub unchecked: Vec<String>,
    /// Files indexed after the fact (truncated first when they ended mid-fragment).
    pub indexed: Vec<String>,
    /// Files moved to `lost+found/`.
    pub moved_aside: Vec<String>,
}

/// `rel` (a path under the data folder) as one file name under `folder`.
fn set_aside(data: &Path, folder: &str, rel: &str) -> PathBuf {
    data.join(folder).join(rel.replace('/', "_"))
}

/// Moves `data/rel` into `data/folder/`; true when it went.
fn move_aside(data: &Path, folder: &str, rel: &str) -> bool {
    let aside = set_aside(data, folder, rel);
    if let Some(parent) = aside.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    std::fs::rename(data.join(rel), &aside).is_ok()
}

/// Brings the index at `store` in line with the files under `data`.
pub fn reconcile(data: &Path, store: &mut Store) -> Result<Repairs, StoreError> {
    let mut repairs = Repairs::default();
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
    let mut indexed = HashSet::new();
    let note = |camera: &str, detail: String| WriteOp::Event {
        camera_id: Some(camera.to_owned()),
        at_utc_ns: now,
        kind: "index repair".into(),
        detail,
    };
    let mut quarantined_cameras = BTreeSet::new();
    for seg in store.all_segments()? {
        let rel = seg.row.path.clone();
        let path = data.join(&rel);
        // Every row's path stays known: a file at it is never indexed again.
        indexed.insert(PathBuf::from(&rel));
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_file() && m.len() == seg.row.bytes => {}
            Ok(m) => {
                let why = if m.file_type().is_file() {
                    format!(
                        "file has {} bytes, the index said {}",
                        m.len(),
                        seg.row.bytes
                    )
                } else {
                    "not a regular file".to_owned()
                };
                if !move_aside(data, "quarantine", &rel) {
                    tracing::error!(segment = %rel, "cannot quarantine: {why}");
                    repairs
                        .unchecked
                        .push(format!("{rel}: {why}; could not be moved aside"));
                    continue;
                }
                store.finish_deletion(
                    &seg,
                    now,
                    &format!("quarantined at start-up: {why}"),
                    RETENTION_AUTHOR,
                )?;
                tracing::error!(segment = %rel, "quarantined: {why}");
                store.apply(&note(
                    &seg.row.camera_id,
                    format!("{rel} quarantined: {why}"),
                ))?;
                quarantined_cameras.insert(seg.row.camera_id.clone());
                repairs.quarantined.push(rel);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if !path.parent().is_some_and(|d| d.is_dir()) {
                    // The folder is gone too: a volume not mounted, say. Nothing is deleted.
                    tracing::error!(segment = %rel, "folder missing: row kept");
                    repairs
                        .unchecked
                        .push(format!("{rel}: its folder is missing"));
                    continue;
                }
                store.finish_deletion(&seg, now, "file missing at start-up", RETENTION_AUTHOR)?;
                tracing::warn!(segment = %rel, "index repair: row removed: file missing");
                store.apply(&note(
                    &seg.row.camera_id,
                    format!("row of {rel} removed: file missing"),
                ))?;
                repairs.rows_removed.push(rel);
            }
            Err(e) => {
                tracing::error!(segment = %rel, "cannot check: {e}; row kept");
                repairs.unchecked.push(format!("{rel}: {e}"));
            }
        }
    }
    if !repairs.quarantined.is_empty() {
        let cameras: Vec<String> = quarantined_cameras.into_iter().collect();
        store.system_alarm(
            "footage_quarantined",
            RETENTION_AUTHOR,
            &cameras,
            &format!(
                "{} segment file(s) disagreed with the index at start-up (altered, cut or \
                 replaced) and were moved to {}: {}. Their footage is no longer offered or \
                 exported; keep the files for the investigation.",
                repairs.quarantined.len(),
                data.join("quarantine").display(),
                repairs.quarantined.join(", ")
            ),
            now,
        )?;
    }

    let files: Vec<PathBuf> = super::segment_files(data)
        .into_iter()
        .filter(|rel| !indexed.contains(rel))
        .collect();
    for rel in files {
        let rel_s = rel.to_string_lossy().into_owned();
        match index_orphan(data, &rel, store) {
            Ok(Some(row)) => {
                tracing::warn!(segment = %rel_s, "index repair: unindexed segment indexed");
                store.apply(&note(
                    &row.camera_id,
                    format!("{rel_s} indexed at start-up"),
                ))?;
                repairs.indexed.push(rel_s);
            }
            Err(Orphan::Store(e)) => return Err(e),
            outcome @ (Ok(None) | Err(Orphan::File(_))) => {
                let why = match outcome {
                    Err(Orphan::File(reason)) => reason,
                    _ => "no complete fragment".to_owned(),
                };
                if move_aside(data, "lost+found", &rel_s) {
                    tracing::warn!(segment = %rel_s, "index repair: moved to lost+found: {why}");
                    repairs.moved_aside.push(rel_s);
                }
            }
        }
    }
    Ok(repairs)
}

/// Why an unindexed file was not indexed.
enum Orphan {
    /// The file is not a usable segment: it goes to lost+found.
    File(String),
    /// The index failed: reconciliation stops.
    Store(StoreError),
}

impl From<std::io::Error> for Orphan {
    fn from(e: std::io::Error) -> Self {
        Orphan::File(e.to_string())
    }
}

impl From<StoreError> for Orphan {
    fn from(e: StoreError) -> Self {
        Orphan::Store(e)
    }
}

/// The camera and start instant of a path where the recorder writes:
/// `camNNN/YYYY-MM-DD/camNNN-<start ns>.mp4`, the day being the start's (UTC).
fn recorder_place(rel: &Path) -> Option<(String, i64)> {
    let parts: Vec<&str> = rel
        .components()
        .map(|c| c.as_os_str().to_str())
        .collect::<Option<_>>()?;
    let [camera, day, name] = parts.as_slice() else {
        return None;
    };
    let start: i64 = name
        .strip_suffix(".mp4")?
        .strip_prefix(camera)?
        .strip_prefix('-')?
        .parse()
        .ok()?;
    let want = chrono::DateTime::from_timestamp_nanos(start)
        .format("%Y-%m-%d")
        .to_string();
    (*day == want && crate::config::valid_camera_id(camera)).then(|| (camera.to_string(), start))
}

/// Indexes a file found without a row, where the recorder writes; None when it holds no
/// complete fragment.
fn index_orphan(data: &Path, rel: &Path, store: &Store) -> Result<Option<SegmentRow>, Orphan> {
    let (camera, start) = recorder_place(rel).ok_or_else(|| {
        Orphan::File("not where the recorder writes (camNNN/YYYY-MM-DD/camNNN-<ns>.mp4)".into())
    })?;
    // Found without its row: how it was timed is unknown, so the weaker claim.
    let Some(row) = complete_row(data, rel, &camera, start, crate::store::TimeSource::Arrival)
        .map_err(Orphan::File)?
    else {
        return Ok(None);
    };
    if !store.has_camera(&camera)? {
        store.apply(&WriteOp::Camera(CameraRow::new(&camera, &camera)))?;
    }
    store.apply(&WriteOp::Segment(row.clone()))?;
    Ok(Some(row))
}

/// The segment `data/rel` of `camera`, started at `start`, cut to its last complete fragment
/// and made durable: its row, hashed over what is kept; None when no fragment is complete.
pub fn complete_row(
    data: &Path,
    rel: &Path,
    camera: &str,
    start: i64,
    time_source: crate::store::TimeSource,
) -> Result<Option<SegmentRow>, String> {
    let path = data.join(rel);
    let io = |e: std::io::Error| format!("{}: {e}", path.display());
    let bytes = std::fs::read(&path).map_err(io)?;
    let Some(found) = scan(&bytes) else {
        return Ok(None);
    };
    if found.duration_90k == 0 {
        return Ok(None);
    }
    // A crafted name or duration cannot overflow: such a file is refused, start-up goes on.
    let end = i64::try_from(found.duration_90k as i128 * 1_000_000_000 / 90_000)
        .ok()
        .and_then(|d| start.checked_add(d))
        .ok_or_else(|| "its start and duration overflow".to_owned())?;
    let keep = usize::try_from(found.complete_len)
        .ok()
        .filter(|&k| k <= bytes.len())
        .ok_or_else(|| "its length overflows".to_owned())?;
    if keep < bytes.len() {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(io)?;
        f.set_len(keep as u64).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io)?;
    }
    Ok(Some(SegmentRow {
        camera_id: camera.to_owned(),
        start_utc_ns: start,
        end_utc_ns: end,
        path: rel.to_string_lossy().into_owned(),
        bytes: keep as u64,
        sha256: Sha256::digest(&bytes[..keep]).into(),
        codec: match found.codec {
            VideoCodec::H264 => "h264".into(),
            VideoCodec::H265 => "h265".into(),
        },
        keyframes: encode_keyframes(
            &found
                .keyframes
                .iter()
                .map(|&(time_90k, offset)| Keyframe { time_90k, offset })
                .collect::<Vec<_>>(),
        ),
        time_source,
    }))
}
