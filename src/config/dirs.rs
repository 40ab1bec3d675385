//! Where a workstation keeps its configuration, pinned servers and caches, per platform.
//!
//! | what | Linux | Windows |
//! | --- | --- | --- |
//! | the machine's client configuration | `/etc/vigie` | `%ProgramData%\Vigie` |
//! | the user's configuration and pinned CAs | `$XDG_CONFIG_HOME/vigie`, `~/.config/vigie` | `%APPDATA%\Vigie` |
//! | caches (map tiles) | `$XDG_CACHE_HOME/vigie`, `~/.cache/vigie` | `%LOCALAPPDATA%\Vigie\cache` |
//! | the windows' log files | `$XDG_STATE_HOME/vigie/logs`, `~/.local/state/vigie/logs` | `%LOCALAPPDATA%\Vigie\logs` |
//! | exports made from a window | `~/Vigie exports` | `%USERPROFILE%\Vigie exports` |

use std::path::PathBuf;

fn var(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The user's home folder.
pub fn home() -> Option<PathBuf> {
    if cfg!(windows) {
        var("USERPROFILE")
    } else {
        var("HOME")
    }
}

/// The machine's Vigie configuration (the installer's `client.toml`).
pub fn system_config() -> PathBuf {
    if cfg!(windows) {
        var("ProgramData")
            .unwrap_or_else(|| PathBuf::from(r"C:\ProgramData"))
            .join("Vigie")
    } else {
        PathBuf::from("/etc/vigie")
    }
}

/// The user's Vigie configuration (their own `client.toml`, the servers' pinned CAs).
pub fn user_config() -> Option<PathBuf> {
    if cfg!(windows) {
        var("APPDATA").map(|d| d.join("Vigie"))
    } else {
        var("XDG_CONFIG_HOME")
            .or_else(|| home().map(|h| h.join(".config")))
            .map(|d| d.join("vigie"))
    }
}

/// The user's Vigie cache (map tiles); the temporary folder when there is no home.
pub fn user_cache() -> PathBuf {
    let base = if cfg!(windows) {
        var("LOCALAPPDATA").map(|d| d.join("Vigie").join("cache"))
    } else {
        var("XDG_CACHE_HOME")
            .or_else(|| home().map(|h| h.join(".cache")))
            .map(|d| d.join("vigie"))
    };
    base.unwrap_or_else(|| std::env::temp_dir().join("vigie"))
}

/// The user's Vigie log files (a window's log); the temporary folder when there is no home.
pub fn user_logs() -> PathBuf {
    let base = if cfg!(windows) {
        var("LOCALAPPDATA").map(|d| d.join("Vigie").join("logs"))
    } else {
        var("XDG_STATE_HOME")
            .or_else(|| home().map(|h| h.join(".local").join("state")))
            .map(|d| d.join("vigie").join("logs"))
    };
    base.unwrap_or_else(|| std::env::temp_dir().join("vigie").join("logs"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_linux_folders_follow_xdg_and_home() {
        if cfg!(windows) {
            return;
        }
        assert_eq!(super::system_config(), std::path::Path::new("/etc/vigie"));
        // XDG_CONFIG_HOME, when set, wins over HOME; the test reads whatever this process has.
        let want = std::env::var_os("XDG_CONFIG_HOME")
            .filter(|v| !v.is_empty())
            .map(std::path::PathBuf::from)
            .or_else(|| super::home().map(|h| h.join(".config")))
            .map(|d| d.join("vigie"));
        assert_eq!(super::user_config(), want);
        assert!(super::user_cache().ends_with("vigie"));
        assert!(super::user_logs().ends_with("vigie/logs"));
    }
}
