//! Retention and the disk budget. Retention deletes footage older than its camera's retention
//! (at most 30 days, CSI L252-5); the disk budget deletes the oldest footage when free space
//! falls below a reserve, and raises an alarm event. Neither touches footage a legal hold in
//! force covers. Each deletion follows the safe order —
//! mark the row, unlink the file, fsync its folder, then delete the row and write a register
//! line in one transaction — so a crash midway leaves a marked row that readers skip and the
//! next pass finishes.

use std::path::Path;

use crate::store::{Store, StoreError};

/// Who the register names for automatic deletions.
pub const RETENTION_AUTHOR: &str = "vigie recorder";

/// Deletes every segment expired at `now_utc_ns`; returns how many.
pub fn apply_retention(
    data: &Path,
    store: &mut Store,
    now_utc_ns: i64,
) -> Result<usize, StoreError> {
    let n = delete_while(
        data,
        store,
        now_utc_ns,
        true,
        "retention period over",
        || true,
    )?;
    if n > 0 {
        tracing::info!(deleted = n, "retention: expired segments deleted");
    }
    Ok(n)
}

/// Free bytes on the file system holding `data`.
pub fn free_bytes(data: &Path) -> Option<u64> {
    let c = std::ffi::CString::new(data.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: statvfs writes into the struct we pass; the path is NUL-terminated.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    Some(st.f_bavail as u64 * st.f_frsize as u64)
}

/// Keeps `reserve` bytes free under `data`: deletes the oldest unheld segments until there are,
/// and records an alarm event when it had to. Returns how many segments went.
pub fn apply_disk_budget(
    data: &Path,
    store: &mut Store,
    now_utc_ns: i64,
    reserve: u64,
) -> Result<usize, StoreError> {
    if free_bytes(data).is_none_or(|f| f >= reserve) {
        return Ok(0);
    }
    // Free a little more than the reserve, so that the next pass is not at once.
    let target = reserve + reserve / 10;
    let n = delete_while(
        data,
        store,
        now_utc_ns,
        false,
        "disk budget: reserve reached",
        || free_bytes(data).is_some_and(|f| f < target),
    )?;
    let free = free_bytes(data).unwrap_or(0);
    tracing::warn!(
        deleted = n,
        free,
        reserve,
        "disk budget: oldest footage rolled off"
    );
    store.apply(&crate::store::WriteOp::Event {
        camera_id: None,
        at_utc_ns: now_utc_ns,
        kind: "alarm: disk budget".into(),
        detail: format!("{n} segments deleted to keep {reserve} bytes free; {free} bytes free now"),
    })?;
    Ok(n)
}

fn delete_while(
    data: &Path,
    store: &mut Store,
    now_utc_ns: i64,
    only_expired: bool,
    reason: &str,
    mut more: impl FnMut() -> bool,
) -> Result<usize, StoreError> {
    let mut deleted = 0;
    let mut cameras = std::collections::BTreeSet::new();
    let mut span: Option<(i64, i64)> = None;
    let outcome = (|| {
        while more() {
            let batch = store.deletable_segments(now_utc_ns, only_expired, 64)?;
            if batch.is_empty() {
                break;
            }
            for seg in batch {
                if !more() {
                    break;
                }
                store.mark_deleting(seg.id)?;
                let path = data.join(&seg.row.path);
                match std::fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        // Leave the row marked: readers skip it and the next pass retries.
                        tracing::error!(segment = %seg.row.path, "cannot delete: {e}");
                        return Ok(deleted);
                    }
                }
                if let Some(dir) = path.parent()
                    && let Ok(d) = std::fs::File::open(dir)
                {
                    let _ = d.sync_all();
                }
                store.finish_deletion(&seg, now_utc_ns, reason, RETENTION_AUTHOR)?;
                deleted += 1;
                cameras.insert(seg.row.camera_id.clone());
                span = Some(match span {
                    None => (seg.row.start_utc_ns, seg.row.end_utc_ns),
                    Some((a, b)) => (a.min(seg.row.start_utc_ns), b.max(seg.row.end_utc_ns)),
                });
            }
        }
        Ok(deleted)
    })();
    // One audit entry per pass: what went, and why.
    if deleted > 0 {
        let entry = crate::auth::audit::Entry {
            at_utc_ns: now_utc_ns,
            user: RETENTION_AUTHOR.to_owned(),
            role: "recorder".into(),
            action: "deleted".into(),
            cameras: cameras.into_iter().collect::<Vec<_>>().join(","),
            range: span,
            reason: reason.to_owned(),
            detail: format!("{deleted} segments (files and rows; lines in the register)"),
        };
        if let Err(e) = crate::auth::audit::append(data, &entry) {
            tracing::error!("audit log: {e}");
        }
    }
    outcome
}
