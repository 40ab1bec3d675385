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

/// How long footage may have been expired when a retention pass finds it, without an
/// administrator's word. A pass runs every minute and normally finds footage that expired within
/// that minute; footage expired longer ago means the clock jumped (a bad NTP answer, a typo),
/// retention periods were shortened, or the recorder was stopped a long time.
pub const RETENTION_SHARE_NS: i64 = 3_600 * 1_000_000_000;

/// The event written when a retention pass is refused (an alarm is raised with it).
pub const RETENTION_REFUSED: &str = "retention refused";
/// The event an administrator's allowance writes (`vigie retention allow`).
pub const RETENTION_ALLOWED: &str = "retention allowed";
/// The event written once an allowed pass has run: the next refusal needs a new allowance.
pub const RETENTION_RESUMED: &str = "retention resumed";

/// What a retention pass did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RetentionPass {
    /// This many segments went.
    Deleted(usize),
    /// Nothing went: the pass found footage expired more than [`RETENTION_SHARE_NS`] ago, and
    /// no administrator allowed it. Why, in words.
    Refused(String),
}

/// The instant retention, the disk budget and hold expiry are judged at: the wall clock as it
/// was when the recorder started, moved on by the monotonic time elapsed since, and never
/// ahead of the wall clock. A wall clock stepped forward while recording deletes nothing early;
/// one stepped back deletes less.
pub struct RetentionClock {
    start_utc_ns: i64,
    start: std::time::Instant,
}

impl RetentionClock {
    /// Anchored at `now_utc_ns`, the wall clock now.
    pub fn new(now_utc_ns: i64) -> RetentionClock {
        RetentionClock::at(now_utc_ns, std::time::Instant::now())
    }

    /// Anchored at `utc_ns`, the wall clock at the monotonic instant `at`.
    pub fn at(utc_ns: i64, at: std::time::Instant) -> RetentionClock {
        RetentionClock {
            start_utc_ns: utc_ns,
            start: at,
        }
    }

    /// The instant to judge at, the wall clock reading `wall_utc_ns` at the monotonic instant
    /// `at`.
    pub fn judge_at(&self, wall_utc_ns: i64, at: std::time::Instant) -> i64 {
        let elapsed = at.saturating_duration_since(self.start).as_nanos();
        let moved = self
            .start_utc_ns
            .saturating_add(i64::try_from(elapsed).unwrap_or(i64::MAX));
        wall_utc_ns.min(moved)
    }
}

/// Deletes every segment expired at `now_utc_ns`, unless some expired more than
/// [`RETENTION_SHARE_NS`] ago and no administrator allowed it since the last refusal: then
/// nothing is deleted, and the first refusal raises an alarm.
pub fn apply_retention(
    data: &Path,
    store: &mut Store,
    now_utc_ns: i64,
) -> Result<RetentionPass, StoreError> {
    let expired = store.expired_footage(now_utc_ns)?;
    let standing = guard(store)?;
    if let Some((camera, segments, expired_at)) = expired.first()
        && now_utc_ns.saturating_sub(*expired_at) > RETENTION_SHARE_NS
        && standing != Guard::Allowed
    {
        let why = format!(
            "retention refused: {segments} segments of camera {camera} would go, the first \
             expired {:.1} h ago judged at {} (UTC); footage expired over an hour ago means the \
             clock jumped, retention was shortened or the recorder was stopped a long time. \
             Nothing was deleted. Check the server's clock, then allow the pass with \
             `vigie retention allow`.",
            now_utc_ns.saturating_sub(*expired_at) as f64 / 3.6e12,
            crate::time::rfc3339(now_utc_ns),
        );
        if standing == Guard::Normal {
            tracing::error!("{why}");
            raise_refusal(store, now_utc_ns, &why)?;
        }
        return Ok(RetentionPass::Refused(why));
    }
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
    // Allowed, or the clock back within bounds: the next refusal raises a new alarm.
    if standing != Guard::Normal {
        store.apply(&crate::store::WriteOp::Event {
            camera_id: None,
            at_utc_ns: now_utc_ns,
            kind: RETENTION_RESUMED.into(),
            detail: format!("{n} segments deleted by the pass"),
        })?;
    }
    Ok(RetentionPass::Deleted(n))
}

/// Where the guard stands: told by the latest of its three events.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Guard {
    /// None yet, or passes resumed.
    Normal,
    /// A refused pass waits for an administrator.
    Waiting,
    /// An administrator allowed the refused pass.
    Allowed,
}

fn guard(store: &Store) -> Result<Guard, StoreError> {
    let refused = store.last_event_id(RETENTION_REFUSED)?;
    let allowed = store.last_event_id(RETENTION_ALLOWED)?;
    let resumed = store.last_event_id(RETENTION_RESUMED)?;
    Ok(if allowed > refused.max(resumed) {
        Guard::Allowed
    } else if refused > allowed.max(resumed) {
        Guard::Waiting
    } else {
        Guard::Normal
    })
}

/// `user`'s allowance of the refused pass: the next pass deletes what it finds, however much.
/// False (nothing written) when no refused pass waits.
pub fn allow(store: &Store, user: &str, now_utc_ns: i64) -> Result<bool, StoreError> {
    if guard(store)? != Guard::Waiting {
        return Ok(false);
    }
    store.apply(&crate::store::WriteOp::Event {
        camera_id: None,
        at_utc_ns: now_utc_ns,
        kind: RETENTION_ALLOWED.into(),
        detail: format!("allowed by {user}"),
    })?;
    Ok(true)
}

/// The refusal's event, and an alarm in the room's list.
fn raise_refusal(store: &Store, now_utc_ns: i64, why: &str) -> Result<(), StoreError> {
    store.apply(&crate::store::WriteOp::Event {
        camera_id: None,
        at_utc_ns: now_utc_ns,
        kind: RETENTION_REFUSED.into(),
        detail: why.to_owned(),
    })?;
    store.system_alarm("retention_refused", RETENTION_AUTHOR, &[], why, now_utc_ns)
}

/// Free bytes on the file system holding `data` (None: unknown; the recorder runs on Linux).
#[cfg(unix)]
pub fn free_bytes(data: &Path) -> Option<u64> {
    let c = std::ffi::CString::new(data.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: statvfs writes into the struct we pass; the path is NUL-terminated.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    Some(st.f_bavail as u64 * st.f_frsize as u64)
}

/// Free bytes on the file system holding `data` (None: unknown; the recorder runs on Linux).
#[cfg(not(unix))]
pub fn free_bytes(_data: &Path) -> Option<u64> {
    None
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
