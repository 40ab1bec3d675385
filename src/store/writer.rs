//! The index's single writer: a thread ("index writer") that takes operations from a bounded
//! channel and commits them in batches, one transaction per batch. A row that breaks a
//! constraint is logged and skipped; the rest of its batch commits.

use std::path::Path;
use std::sync::mpsc;

use rusqlite::params;

use super::{CameraRow, SegmentRow, Span, Store, StoreError};

/// Operations per transaction, at most.
const BATCH: usize = 8192;

/// One change to the index.
#[derive(Debug)]
pub enum WriteOp {
    Camera(CameraRow),
    Segment(SegmentRow),
    Gap {
        camera_id: String,
        span: Span,
        cause: String,
    },
    Event {
        camera_id: Option<String>,
        at_utc_ns: i64,
        kind: String,
        detail: String,
    },
    /// Answered once everything sent before it is committed.
    Flush(mpsc::Sender<()>),
}

/// Handle to the writer thread. Dropping it lets the thread commit what it has and stop.
pub struct IndexWriter {
    tx: Option<mpsc::SyncSender<WriteOp>>,
    thread: Option<std::thread::JoinHandle<Result<u64, StoreError>>>,
}

impl IndexWriter {
    /// Opens the index at `path` (migrating it) and starts the writer.
    pub fn spawn(path: &Path) -> Result<IndexWriter, StoreError> {
        let store = Store::open(path)?;
        let (tx, rx) = mpsc::sync_channel(4 * BATCH);
        let thread = std::thread::Builder::new()
            .name("index writer".into())
            .spawn(move || run(store, &rx))
            .map_err(|e| StoreError::Sql {
                path: path.to_owned(),
                source: rusqlite::Error::ToSqlConversionFailure(Box::new(e)),
            })?;
        Ok(IndexWriter {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Queues `op`; waits only when the writer is far behind. False once the writer stopped.
    pub fn send(&self, op: WriteOp) -> bool {
        self.tx.as_ref().is_some_and(|tx| tx.send(op).is_ok())
    }

    /// Waits until everything sent so far is committed (at most 30 s: a full disk may hold
    /// commits back; false then).
    pub fn flush(&self) -> bool {
        let (tx, rx) = mpsc::channel();
        self.send(WriteOp::Flush(tx)) && rx.recv_timeout(std::time::Duration::from_secs(30)).is_ok()
    }

    /// Commits what is queued, stops the thread, and returns the number of rows written.
    pub fn close(mut self) -> Result<u64, StoreError> {
        self.tx.take();
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(r)) => r,
            _ => Ok(0),
        }
    }
}

impl Drop for IndexWriter {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(mut store: Store, rx: &mpsc::Receiver<WriteOp>) -> Result<u64, StoreError> {
    let mut written = 0u64;
    let mut batch: Vec<WriteOp> = Vec::with_capacity(BATCH);
    let mut failures = 0u32;
    loop {
        // A batch that could not be committed (disk full) is kept and retried with what
        // arrives meanwhile; the writer never gives up while its senders live.
        if batch.is_empty() {
            match rx.recv() {
                Ok(first) => batch.push(first),
                Err(_) => break,
            }
        }
        let mut closed = false;
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => {
                    closed = true;
                    break;
                }
            }
        }
        match commit(&mut store, &batch) {
            Ok(n) => {
                failures = 0;
                written += n;
                for op in batch.drain(..) {
                    if let WriteOp::Flush(reply) = op {
                        let _ = reply.send(());
                    }
                }
            }
            Err(e) => {
                failures += 1;
                if closed && failures >= 10 {
                    // Shutting down and the disk stays full: the files these rows describe
                    // are indexed by the next start-up's reconciliation.
                    tracing::error!(
                        "index commit failed at shutdown, {} operations left to reconciliation: {e}",
                        batch.len()
                    );
                    break;
                }
                tracing::error!("index commit failed, retrying: {e}");
                std::thread::sleep(std::time::Duration::from_millis(500));
            }
        }
    }
    Ok(written)
}

/// Applies `batch` in one transaction; a row that breaks a constraint is logged and skipped.
fn commit(store: &mut Store, batch: &[WriteOp]) -> Result<u64, StoreError> {
    let path = store.path.clone();
    let sql = |source| StoreError::Sql {
        path: path.clone(),
        source,
    };
    let tx = store.conn.transaction().map_err(sql)?;
    let mut written = 0;
    for op in batch {
        match apply(&tx, op) {
            Ok(n) => written += n as u64,
            Err(e @ rusqlite::Error::SqliteFailure(f, _))
                if f.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                tracing::error!(index = %path.display(), "index write refused: {e}: {op:?}")
            }
            Err(e) => return Err(sql(e)),
        }
    }
    tx.commit().map_err(sql)?;
    Ok(written)
}

/// Applies one operation on `conn` (inside the caller's transaction). Returns the rows changed.
pub(super) fn apply(conn: &rusqlite::Connection, op: &WriteOp) -> rusqlite::Result<usize> {
    match op {
        WriteOp::Camera(c) => conn
            .prepare_cached(
                "INSERT INTO camera (id, name, zone, latitude, longitude, retention_days) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (id) DO UPDATE SET name = ?2, zone = ?3, latitude = ?4, longitude = ?5, retention_days = ?6",
            )
            .and_then(|mut q| q.execute(params![c.id, c.name, c.zone, c.latitude, c.longitude, c.retention_days])),
        WriteOp::Segment(s) => conn
            .prepare_cached(
                "INSERT INTO segment (camera_id, start_utc_ns, end_utc_ns, path, bytes, sha256, codec, keyframes, time_source)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )
            .and_then(|mut q| {
                q.execute(params![
                    s.camera_id,
                    s.start_utc_ns,
                    s.end_utc_ns,
                    s.path,
                    s.bytes as i64,
                    &s.sha256[..],
                    s.codec,
                    s.keyframes,
                    s.time_source.as_str()
                ])
            }),
        WriteOp::Gap { camera_id, span, cause } => conn
            .prepare_cached("INSERT INTO gap (camera_id, start_utc_ns, end_utc_ns, cause) VALUES (?1, ?2, ?3, ?4)")
            .and_then(|mut q| q.execute(params![camera_id, span.start_utc_ns, span.end_utc_ns, cause])),
        WriteOp::Event { camera_id, at_utc_ns, kind, detail } => conn
            .prepare_cached("INSERT INTO event (camera_id, at_utc_ns, kind, detail) VALUES (?1, ?2, ?3, ?4)")
            .and_then(|mut q| q.execute(params![camera_id, at_utc_ns, kind, detail])),
        WriteOp::Flush(_) => Ok(0),
    }
}
