//! An export made by the server and fetched into a folder of this workstation.
//!
//! The server makes the export (it alone reads the footage and the signing key); this side
//! follows its progress, downloads every file into a hidden folder beside the destination,
//! checks each file's size and SHA-256 against the server's listing, and renames the folder to
//! the destination only once all is there and synced. Cancelled or failed, nothing is left here
//! and the server is told to drop its copy.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::{Api, ClientError};
pub use crate::server::exports::{AccessOrder, BlurZone, ExportFile, ExportOrder, ExportStatus};

/// Where a fetch stands, for a progress bar.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Stage {
    /// The server is writing the export: the fraction done.
    Making(f64),
    /// Bytes downloaded of the total.
    Downloading { done: u64, total: u64 },
}

/// A fetched export.
#[derive(Clone, Debug)]
pub struct Fetched {
    pub dir: PathBuf,
    pub files: Vec<ExportFile>,
    pub manifest_sha256: String,
    /// Parts of the range with no footage, in words.
    pub missing: Vec<String>,
}

/// Why a fetch did not complete (nothing was left in the destination).
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Server(#[from] ClientError),
    #[error("the export failed on the server: {0}")]
    Failed(String),
    #[error("the export was cancelled; nothing was written")]
    Cancelled,
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{name}: the file downloaded differs from the server's ({why}); nothing was kept")]
    Corrupt { name: String, why: String },
    #[error("{0}")]
    Invalid(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> FetchError + '_ {
    move |source| FetchError::Io {
        path: path.to_owned(),
        source,
    }
}

/// How often the server's progress is asked.
const POLL: Duration = Duration::from_millis(200);
/// The longest one file's download may take.
const DOWNLOAD_LIMIT: Duration = Duration::from_secs(6 * 3600);

/// Removes a folder being written unless the fetch completes.
struct Staging(Option<PathBuf>);

impl Drop for Staging {
    fn drop(&mut self) {
        if let Some(d) = self.0.take() {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// Orders `order` from the server and fetches it into `out` (created; it may exist if
/// empty). `progress` returning false cancels, here and on the server.
pub fn fetch(
    api: &Api,
    order: &ExportOrder,
    out: &Path,
    progress: &mut dyn FnMut(Stage) -> bool,
) -> Result<Fetched, FetchError> {
    let out = std::path::absolute(out).map_err(io(out))?;
    match std::fs::read_dir(&out) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(FetchError::Invalid(format!(
                    "{}: the destination folder is not empty",
                    out.display()
                )));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(&out)(e)),
    }
    let (parent, leaf) = match (out.parent(), out.file_name()) {
        (Some(p), Some(l)) => (p.to_owned(), l.to_string_lossy().into_owned()),
        _ => {
            return Err(FetchError::Invalid(format!(
                "{}: not a folder to create",
                out.display()
            )));
        }
    };
    std::fs::create_dir_all(&parent).map_err(io(&parent))?;

    let started: ExportStatus = api.post("/v1/exports", order)?;
    let job = format!("/v1/exports/{}", started.id);
    // The server's copy is dropped whatever happens below.
    let forget = |api: &Api| {
        let _ = api.delete(&job);
    };
    let status = loop {
        let s: ExportStatus = match api.get(&job) {
            Ok(s) => s,
            Err(e) => {
                forget(api);
                return Err(e.into());
            }
        };
        match s.state.as_str() {
            "done" => break s,
            "failed" => {
                forget(api);
                return Err(FetchError::Failed(s.error));
            }
            "cancelled" => {
                forget(api);
                return Err(FetchError::Cancelled);
            }
            _ => {}
        }
        if !progress(Stage::Making(s.progress)) {
            forget(api);
            return Err(FetchError::Cancelled);
        }
        std::thread::sleep(POLL);
    };
    let r = download(api, &job, &status, &parent, &leaf, &out, progress);
    forget(api);
    r.map(|()| Fetched {
        dir: out,
        files: status.files,
        manifest_sha256: status.manifest_sha256,
        missing: status.missing,
    })
}

fn download(
    api: &Api,
    job: &str,
    status: &ExportStatus,
    parent: &Path,
    leaf: &str,
    out: &Path,
    progress: &mut dyn FnMut(Stage) -> bool,
) -> Result<(), FetchError> {
    let staging_dir = parent.join(format!(".{leaf}.partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging_dir);
    std::fs::create_dir(&staging_dir).map_err(io(&staging_dir))?;
    let mut staging = Staging(Some(staging_dir.clone()));
    let total: u64 = status.files.iter().map(|f| f.bytes).sum();
    let mut done = 0u64;
    let mut buf = vec![0u8; 256 * 1024];
    for f in &status.files {
        if f.name.is_empty() || f.name.contains(['/', '\\']) || f.name.starts_with('.') {
            return Err(FetchError::Invalid(format!(
                "the server listed a file named {:?}; refused",
                f.name
            )));
        }
        let path = staging_dir.join(&f.name);
        let mut body = api.get_stream(
            &format!("{job}/files/{}", super::path_segment(&f.name)),
            DOWNLOAD_LIMIT,
        )?;
        let mut file = std::fs::File::create(&path).map_err(io(&path))?;
        let mut hash = Sha256::new();
        let mut bytes = 0u64;
        loop {
            let n = body.read(&mut buf).map_err(|e| FetchError::Corrupt {
                name: f.name.clone(),
                why: format!("the download broke off: {e}"),
            })?;
            if n == 0 {
                break;
            }
            file.write_all(&buf[..n]).map_err(io(&path))?;
            hash.update(&buf[..n]);
            bytes += n as u64;
            let before = done;
            done += n as u64;
            // Asked at most once a MiB.
            if done >> 20 != before >> 20 && !progress(Stage::Downloading { done, total }) {
                return Err(FetchError::Cancelled);
            }
        }
        file.sync_all().map_err(io(&path))?;
        let got = crate::export::hex(&hash.finalize());
        if bytes != f.bytes || got != f.sha256 {
            return Err(FetchError::Corrupt {
                name: f.name.clone(),
                why: format!(
                    "{bytes} bytes, SHA-256 {got}; listed {} bytes, {}",
                    f.bytes, f.sha256
                ),
            });
        }
    }
    if !progress(Stage::Downloading { done, total }) {
        return Err(FetchError::Cancelled);
    }
    if out.exists() {
        // Empty (checked before ordering): replaced by the complete folder.
        std::fs::remove_dir(out).map_err(io(out))?;
    }
    std::fs::rename(&staging_dir, out).map_err(io(out))?;
    staging.0 = None;
    if let Ok(d) = std::fs::File::open(parent) {
        let _ = d.sync_all();
    }
    Ok(())
}
