//! `vigie check`: every invariant between the index and the segment files, verified.
//!
//! For each indexed segment: the file exists, has the indexed size, is a complete fragmented
//! MP4 (nothing after its last complete fragment), and (with `hash`) has the indexed SHA-256.
//! No two segments of a camera overlap. Files under the data folder that no row names are
//! reported too.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::store::{INDEX_FILE, Store, StoreError};

use super::fmp4::complete_length;

/// One broken invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    Missing {
        id: i64,
        path: String,
    },
    Size {
        id: i64,
        path: String,
        indexed: u64,
        actual: u64,
    },
    Incomplete {
        id: i64,
        path: String,
        playable: u64,
        actual: u64,
    },
    Hash {
        id: i64,
        path: String,
    },
    Unindexed {
        path: String,
    },
    Unreadable {
        path: String,
        error: String,
    },
    /// Two segments of one camera cover the same instant.
    Overlap {
        camera_id: String,
        first: String,
        second: String,
        overlap_ns: i64,
    },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Missing { id, path } => write!(f, "segment {id}: {path} is missing"),
            Problem::Size {
                id,
                path,
                indexed,
                actual,
            } => {
                write!(
                    f,
                    "segment {id}: {path} has {actual} bytes, the index says {indexed}"
                )
            }
            Problem::Incomplete {
                id,
                path,
                playable,
                actual,
            } => {
                write!(
                    f,
                    "segment {id}: {path} ends in an incomplete fragment (playable up to byte {playable} of {actual})"
                )
            }
            Problem::Hash { id, path } => {
                write!(f, "segment {id}: {path} does not match its indexed SHA-256")
            }
            Problem::Unindexed { path } => write!(f, "{path} is not in the index"),
            Problem::Unreadable { path, error } => write!(f, "{path}: cannot be read: {error}"),
            Problem::Overlap {
                camera_id,
                first,
                second,
                overlap_ns,
            } => write!(
                f,
                "camera {camera_id}: {second} starts {:.3} ms before {first} ends",
                *overlap_ns as f64 / 1e6
            ),
        }
    }
}

/// What a check found.
#[derive(Debug, Default)]
pub struct Report {
    pub segments: usize,
    pub bytes: u64,
    pub problems: Vec<Problem>,
}

/// Checks the data folder `data` (its index and segment files).
pub fn check(data: &Path, hash: bool) -> Result<Report, StoreError> {
    let store = Store::open_readonly(&data.join(INDEX_FILE))?;
    let mut report = Report::default();
    let mut indexed = std::collections::HashSet::new();
    let mut all = store.all_segments()?;
    all.sort_by(|a, b| {
        (&a.row.camera_id, a.row.start_utc_ns).cmp(&(&b.row.camera_id, b.row.start_utc_ns))
    });
    for w in all.windows(2) {
        let (a, b) = (&w[0].row, &w[1].row);
        if a.camera_id == b.camera_id && b.start_utc_ns < a.end_utc_ns {
            report.problems.push(Problem::Overlap {
                camera_id: a.camera_id.clone(),
                first: a.path.clone(),
                second: b.path.clone(),
                overlap_ns: a.end_utc_ns - b.start_utc_ns,
            });
        }
    }
    for seg in all {
        report.segments += 1;
        let (id, rel) = (seg.id, seg.row.path.clone());
        indexed.insert(PathBuf::from(&rel));
        let path = data.join(&rel);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                report.problems.push(Problem::Missing { id, path: rel });
                continue;
            }
            Err(e) => {
                report.problems.push(Problem::Unreadable {
                    path: rel,
                    error: e.to_string(),
                });
                continue;
            }
        };
        let actual = bytes.len() as u64;
        report.bytes += actual;
        if actual != seg.row.bytes {
            report.problems.push(Problem::Size {
                id,
                path: rel.clone(),
                indexed: seg.row.bytes,
                actual,
            });
        }
        let playable = complete_length(&bytes);
        if playable != actual {
            report.problems.push(Problem::Incomplete {
                id,
                path: rel.clone(),
                playable,
                actual,
            });
        }
        if hash && Sha256::digest(&bytes).as_slice() != seg.row.sha256 {
            report.problems.push(Problem::Hash { id, path: rel });
        }
    }
    for rel in super::segment_files(data) {
        if !indexed.contains(&rel) {
            report.problems.push(Problem::Unindexed {
                path: rel.display().to_string(),
            });
        }
    }
    Ok(report)
}

/// SHA-256 of a file, streamed.
pub fn sha256_file(path: &Path) -> std::io::Result<[u8; 32]> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().into())
}
