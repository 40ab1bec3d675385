//! Recording without transcoding: the camera's packets remuxed into segment files.
//!
//! Contract: nothing here decodes video or knows egui/wgpu. So far this holds the fragmented
//! MP4 writer ([`fmp4`]) and the index/file checker ([`check`]); the recorder service that
//! drives them is described in ARCHITECTURE.md (status: proposed).

pub mod check;
pub mod fmp4;
pub mod owner;
pub mod reconcile;
pub mod recorder;
pub mod retention;
pub mod segment;
pub mod timing;

/// Segment files (`.mp4`) under `data`, relative to it, leaving out `lost+found/` (files that
/// reconciliation set aside are known and not segments).
pub(crate) fn segment_files(data: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut stack = vec![data.to_owned()];
    let mut files = Vec::new();
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                if p.file_name().is_none_or(|n| n != "lost+found") {
                    stack.push(p);
                }
            } else if p.extension().is_some_and(|x| x == "mp4") {
                files.push(p.strip_prefix(data).unwrap_or(&p).to_owned());
            }
        }
    }
    files.sort();
    files
}
