//! A workstation window's log file. A window started from a menu or the Start menu has no
//! terminal: what it logs also goes to a file of the day in the user's log folder
//! ([`crate::config::dirs::user_logs`]), `vigie-YYYY-MM-DD.log` (local date), kept
//! [`KEEP_DAYS`] days, for the site's support to read. Plain text, one event a line, UTC times.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Days of log files kept; older ones are removed when a day's file is opened.
pub const KEEP_DAYS: i64 = 14;

/// Appends to the file of the day, opening the next day's at midnight.
pub struct DailyLog {
    dir: PathBuf,
    today: Box<dyn Fn() -> chrono::NaiveDate + Send + Sync>,
    open: Mutex<Option<(chrono::NaiveDate, std::fs::File)>>,
}

impl DailyLog {
    /// Log files in `dir` (made when missing), dated by the local clock.
    pub fn at(dir: &Path) -> std::io::Result<DailyLog> {
        DailyLog::with_clock(dir, Box::new(|| chrono::Local::now().date_naive()))
    }

    /// The same, dated by `today` (tests).
    pub fn with_clock(
        dir: &Path,
        today: Box<dyn Fn() -> chrono::NaiveDate + Send + Sync>,
    ) -> std::io::Result<DailyLog> {
        std::fs::create_dir_all(dir)?;
        Ok(DailyLog {
            dir: dir.to_owned(),
            today,
            open: Mutex::new(None),
        })
    }

    /// The file of `day`.
    pub fn file_of(&self, day: chrono::NaiveDate) -> PathBuf {
        self.dir
            .join(format!("vigie-{}.log", day.format("%Y-%m-%d")))
    }

    /// Removes the log files older than [`KEEP_DAYS`] before `day` (only files named as this
    /// writer names them).
    fn prune(&self, day: chrono::NaiveDate) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            let Some(date) = name
                .to_str()
                .and_then(|n| n.strip_prefix("vigie-"))
                .and_then(|n| n.strip_suffix(".log"))
                .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
            else {
                continue;
            };
            if (day - date).num_days() >= KEEP_DAYS {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }

    fn append(&self, buf: &[u8]) -> std::io::Result<()> {
        let day = (self.today)();
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let file = match open.take() {
            Some((d, f)) if d == day => f,
            _ => {
                let f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.file_of(day))?;
                self.prune(day);
                f
            }
        };
        let (_, f) = open.insert((day, file));
        f.write_all(buf)
    }
}

impl Write for &DailyLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.append(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicI64, Ordering};

    #[test]
    fn a_file_a_day_and_two_weeks_kept() {
        let dir = std::env::temp_dir().join(format!("vigie-logfile-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let base = chrono::NaiveDate::from_ymd_opt(2026, 11, 1).expect("date");
        let offset = Arc::new(AtomicI64::new(0));
        let o = offset.clone();
        let log = DailyLog::with_clock(
            &dir,
            Box::new(move || base + chrono::Days::new(o.load(Ordering::Relaxed) as u64)),
        )
        .expect("log folder");
        // Someone else's file in the folder is left alone.
        std::fs::write(dir.join("notes.txt"), "kept").expect("other file");
        for day in 0..20 {
            offset.store(day, Ordering::Relaxed);
            (&log)
                .write_all(format!("event of day {day}\n").as_bytes())
                .expect("write");
            (&log).write_all(b"a second line\n").expect("write");
        }
        let last = base + chrono::Days::new(19);
        assert_eq!(
            std::fs::read_to_string(log.file_of(last)).expect("today's file"),
            "event of day 19\na second line\n"
        );
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .expect("folder")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        // Days 6 to 19 (14 files) and the other file.
        assert_eq!(names.len(), 15, "{names:?}");
        assert_eq!(names[0], "notes.txt");
        assert_eq!(names[1], "vigie-2026-11-07.log");
        assert_eq!(names[14], "vigie-2026-11-20.log");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
