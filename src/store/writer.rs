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

    /// Waits until everything sent so far is committed.
    pub fn flush(&self) -> bool {
        let (tx, rx) = mpsc::channel();
        self.send(WriteOp::Flush(tx)) && rx.recv().is_ok()
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
    let mut batch = Vec::with_capacity(BATCH);
    while let Ok(first) = rx.recv() {
        batch.push(first);
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        let path = store.path.clone();
        let tx = store.conn.transaction().map_err(|source| StoreError::Sql {
            path: path.clone(),
            source,
        })?;
        let mut waiting = Vec::new();
        for op in batch.drain(..) {
            let r = apply(&tx, &op);
            match r {
                Ok(n) => written += n as u64,
                Err(e) => {
                    tracing::error!(index = %path.display(), "index write refused: {e}: {op:?}")
                }
            }
            if let WriteOp::Flush(reply) = op {
                waiting.push(reply);
            }
        }
        tx.commit().map_err(|source| StoreError::Sql {
            path: path.clone(),
            source,
        })?;
        for reply in waiting {
            let _ = reply.send(());
        }
    }
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
                "INSERT INTO segment (camera_id, start_utc_ns, end_utc_ns, path, bytes, sha256, codec, keyframes)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
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
                    s.keyframes
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
