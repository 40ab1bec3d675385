//! The data folder's volume, watched: when the folder stops being the one the recorder
//! started on (its file system unmounted from behind the mount point, a disk gone), recording
//! stops instead of filling the disk beneath, an alarm is raised, and it resumes when the
//! volume is back.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// What a check found changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// The folder is gone or is another one: why.
    Lost(String),
    Back,
}

/// A folder's device and inode. The recorder runs on Linux (the `site` feature); elsewhere a
/// folder has no such identity in the standard library, and only its presence is watched.
fn identity(m: &std::fs::Metadata) -> (u64, u64) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        (m.dev(), m.ino())
    }
    #[cfg(not(unix))]
    {
        let _ = m;
        (0, 0)
    }
}

/// The data folder as found at start: its device and inode.
pub struct DataVolume {
    path: PathBuf,
    dev: u64,
    ino: u64,
    lost: AtomicBool,
}

impl DataVolume {
    /// The volume `path` is on now.
    pub fn at(path: &Path) -> std::io::Result<DataVolume> {
        let (dev, ino) = identity(&std::fs::metadata(path)?);
        Ok(DataVolume {
            path: path.to_owned(),
            dev,
            ino,
            lost: AtomicBool::new(false),
        })
    }

    /// Whether `path` is still the folder found at start; why not otherwise.
    pub fn present(&self) -> Result<(), String> {
        match std::fs::metadata(&self.path) {
            Err(e) => Err(format!("{}: {e}", self.path.display())),
            Ok(m) if identity(&m) != (self.dev, self.ino) => Err(format!(
                "{} is no longer the folder recording started on (device {:#x}, now {:#x}): \
                 its volume is not mounted",
                self.path.display(),
                self.dev,
                identity(&m).0
            )),
            Ok(_) => Ok(()),
        }
    }

    /// As of the last [`DataVolume::check`]: the volume is missing.
    pub fn lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// Looks again; says what changed since the last look.
    pub fn check(&self) -> Option<Change> {
        let now = self.present();
        let was_lost = self.lost.swap(now.is_err(), Ordering::SeqCst);
        match (was_lost, now) {
            (false, Err(why)) => Some(Change::Lost(why)),
            (true, Ok(())) => Some(Change::Back),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_replaced_by_another_is_lost_then_back() {
        let base = std::env::temp_dir().join(format!("vigie-volume-{}", std::process::id()));
        let (data, aside) = (base.join("data"), base.join("aside"));
        std::fs::create_dir_all(&data).expect("folder");
        let v = DataVolume::at(&data).expect("volume");
        assert_eq!(v.check(), None);
        // The folder moved away and an empty one in its place: another inode.
        std::fs::rename(&data, &aside).expect("move");
        assert!(matches!(v.check(), Some(Change::Lost(why)) if why.contains("data")));
        std::fs::create_dir_all(&data).expect("empty folder");
        assert_eq!(v.check(), None);
        assert!(v.lost());
        std::fs::remove_dir(&data).expect("remove");
        std::fs::rename(&aside, &data).expect("back");
        assert_eq!(v.check(), Some(Change::Back));
        assert!(!v.lost());
        let _ = std::fs::remove_dir_all(&base);
    }
}
