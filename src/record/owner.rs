//! One owner per data folder: the process that records into it (a recorder, or a server that
//! records) holds an exclusive lock on `DIR/owner.lock` as long as it runs. A second one is
//! refused at start, naming the process that holds the folder. The kernel lets the lock go
//! when its holder exits, however it exits.

use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The lock file's name in the data folder.
pub const LOCK_FILE: &str = "owner.lock";

/// Why the folder could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum OwnerError {
    #[error(
        "{path}: another Vigie recorder or server already records into this folder{holder}; \
         one process owns a data folder"
    )]
    Held { path: PathBuf, holder: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The held lock; dropping it lets the folder go.
#[derive(Debug)]
pub struct Owner {
    _file: std::fs::File,
}

impl Owner {
    /// Takes `data` for this process, or says who holds it.
    pub fn take(data: &Path) -> Result<Owner, OwnerError> {
        let path = data.join(LOCK_FILE);
        let io = |source| OwnerError::Io {
            path: path.clone(),
            source,
        };
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        if let Err(e) = file.try_lock() {
            if let std::fs::TryLockError::Error(e) = e {
                return Err(io(e));
            }
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            let pid = pid.trim();
            return Err(OwnerError::Held {
                path: data.to_owned(),
                holder: if pid.is_empty() {
                    String::new()
                } else {
                    format!(" (process {pid})")
                },
            });
        }
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        Ok(Owner { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_owner_is_refused_until_the_first_lets_go() {
        let dir = std::env::temp_dir().join(format!("vigie-owner-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let first = Owner::take(&dir).expect("first");
        let refused = Owner::take(&dir).expect_err("second");
        let msg = refused.to_string();
        assert!(
            msg.contains(&dir.display().to_string())
                && msg.contains(&format!("process {}", std::process::id())),
            "{msg}"
        );
        drop(first);
        Owner::take(&dir).expect("free again");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
