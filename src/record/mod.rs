//! Recording without transcoding: the camera's packets remuxed into segment files.
//!
//! Contract: nothing here decodes video or knows egui/wgpu. So far this holds the fragmented
//! MP4 writer ([`fmp4`]) and the index/file checker ([`check`]); the recorder service that
//! drives them is described in ARCHITECTURE.md (status: proposed).

pub mod check;
pub mod fmp4;
pub mod live;
pub mod owner;
pub mod reconcile;
pub mod recorder;
pub mod retention;
pub mod segment;
pub mod timing;
pub mod volume;

/// Folders under a data folder that hold files set aside, not segments.
pub const SET_ASIDE: [&str; 2] = ["lost+found", "quarantine"];

/// Segment files (`.mp4`) under `data`, relative to it: regular files only (a symbolic link is
/// never taken for footage, nor followed into another folder), leaving out the folders of
/// [`SET_ASIDE`] (files set aside are known and not segments).
pub(crate) fn segment_files(data: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut stack = vec![data.to_owned()];
    let mut files = Vec::new();
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            // The entry's own type: links are not followed.
            let Ok(kind) = e.file_type() else {
                continue;
            };
            if kind.is_dir() {
                if p.file_name()
                    .is_none_or(|n| !SET_ASIDE.iter().any(|s| n == *s))
                {
                    stack.push(p);
                }
            } else if kind.is_file() && p.extension().is_some_and(|x| x == "mp4") {
                files.push(p.strip_prefix(data).unwrap_or(&p).to_owned());
            }
        }
    }
    files.sort();
    files
}
