//! Retention: footage older than its camera's retention (at most 30 days, CSI L252-5) is
//! deleted, unless a legal hold in force covers it. Each deletion follows the safe order —
//! mark the row, unlink the file, fsync its folder, then delete the row and write a register
//! line in one transaction — so a crash midway leaves a marked row that readers skip and the
//! next pass finishes.

use std::path::Path;

use crate::store::{Store, StoreError};

/// Who the register names for automatic deletions.
pub const RETENTION_AUTHOR: &str = "vigie recorder (retention)";

/// Deletes every segment expired at `now_utc_ns`; returns how many.
pub fn apply_retention(
    data: &Path,
    store: &mut Store,
    now_utc_ns: i64,
) -> Result<usize, StoreError> {
    let mut deleted = 0;
    loop {
        let batch = store.expired_segments(now_utc_ns, 256)?;
        if batch.is_empty() {
            break;
        }
        for seg in batch {
            store.mark_deleting(seg.id)?;
            let path = data.join(&seg.row.path);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    // Leave the row marked: readers skip it and the next pass retries.
                    tracing::error!(segment = %seg.row.path, "retention: cannot delete: {e}");
                    return Ok(deleted);
                }
            }
            if let Some(dir) = path.parent()
                && let Ok(d) = std::fs::File::open(dir)
            {
                let _ = d.sync_all();
            }
            store.finish_deletion(&seg, now_utc_ns, "retention period over", RETENTION_AUTHOR)?;
            deleted += 1;
        }
    }
    if deleted > 0 {
        tracing::info!(deleted, "retention: expired segments deleted");
    }
    Ok(deleted)
}
