//! Start-up reconciliation of the index with the segment files, before recording resumes.
//!
//! - A row whose file is missing, or whose file does not have the indexed size, loses its row
//!   (the file, if any, is then treated as unindexed).
//! - An unindexed `.mp4` (a segment the recorder was writing when it died) is truncated to its
//!   last complete fragment, fsynced and indexed; one with no complete fragment, or that cannot
//!   be read as a segment, is moved aside to `lost+found/`.
//!
//! Every repair is logged and recorded as an `index repair` event.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::fmp4::{VideoCodec, scan};
use crate::store::{CameraRow, Keyframe, SegmentRow, Store, StoreError, WriteOp, encode_keyframes};

/// What reconciliation did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Repairs {
    /// Rows removed (their files were missing or of the wrong size).
    pub rows_removed: Vec<String>,
    /// Files indexed after the fact (truncated first when they ended mid-fragment).
    pub indexed: Vec<String>,
    /// Files moved to `lost+found/`.
    pub moved_aside: Vec<String>,
}

/// Brings the index at `store` in line with the files under `data`.
pub fn reconcile(data: &Path, store: &Store) -> Result<Repairs, StoreError> {
    let mut repairs = Repairs::default();
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
    let mut indexed = HashSet::new();
    let note = |camera: &str, detail: String| WriteOp::Event {
        camera_id: Some(camera.to_owned()),
        at_utc_ns: now,
        kind: "index repair".into(),
        detail,
    };
    for seg in store.all_segments()? {
        let size = std::fs::metadata(data.join(&seg.row.path))
            .map(|m| m.len())
            .ok();
        if size == Some(seg.row.bytes) {
            indexed.insert(PathBuf::from(&seg.row.path));
            continue;
        }
        store.delete_segment(seg.id)?;
        let why = match size {
            None => "file missing".to_owned(),
            Some(n) => format!("file has {n} bytes, the index said {}", seg.row.bytes),
        };
        tracing::warn!(segment = %seg.row.path, "index repair: row removed: {why}");
        store.apply(&note(
            &seg.row.camera_id,
            format!("row of {} removed: {why}", seg.row.path),
        ))?;
        repairs.rows_removed.push(seg.row.path);
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
                let aside = data.join("lost+found").join(rel_s.replace('/', "_"));
                if let Some(parent) = aside.parent() {
                    let _ = std::fs::create_dir_all(parent);
                }
                if std::fs::rename(data.join(&rel), &aside).is_ok() {
                    tracing::warn!(segment = %rel_s, "index repair: moved to lost+found: {why}");
                    repairs.moved_aside.push(rel_s);
                }
            }
        }
    }
    Ok(repairs)
}

/// Indexes a file found without a row; None when it holds no complete fragment.
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

fn index_orphan(data: &Path, rel: &Path, store: &Store) -> Result<Option<SegmentRow>, Orphan> {
    let path = data.join(rel);
    let bytes = std::fs::read(&path)?;
    let Some(found) = scan(&bytes) else {
        return Ok(None);
    };
    if found.duration_90k == 0 {
        return Ok(None);
    }
    // camNNN/YYYY-MM-DD/camNNN-<start ns>.mp4
    let camera = rel
        .components()
        .next()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .ok_or(Orphan::File("no camera folder".into()))?;
    let stem = rel
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .ok_or(Orphan::File("no file name".into()))?;
    let start: i64 = stem
        .rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or(Orphan::File("no start time in the name".into()))?;
    let keep = found.complete_len as usize;
    if keep < bytes.len() {
        let f = std::fs::OpenOptions::new().write(true).open(&path)?;
        f.set_len(keep as u64)?;
        f.sync_all()?;
    }
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    if !store.has_camera(&camera)? {
        store.apply(&WriteOp::Camera(CameraRow::new(&camera, &camera)))?;
    }
    let row = SegmentRow {
        camera_id: camera,
        start_utc_ns: start,
        end_utc_ns: start + (found.duration_90k as i128 * 1_000_000_000 / 90_000) as i64,
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
        // Found without its row: how it was timed is unknown, so the weaker claim.
        time_source: crate::store::TimeSource::Arrival,
    };
    store.apply(&WriteOp::Segment(row.clone()))?;
    Ok(Some(row))
}
