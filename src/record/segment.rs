//! One segment file being recorded: access units in, a durable fragmented MP4 and its index
//! row out.
//!
//! Crash safety: the file is created under its final name (new, never overwritten), each GOP
//! is written as one fragment, and [`SegmentWriter::finish`] fsyncs the file and its folder
//! before returning the [`SegmentRow`] — the caller inserts the row only then. A crash before
//! that leaves a file with no row, which start-up reconciliation truncates to its complete
//! prefix ([`super::fmp4::complete_length`]) and indexes.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::fmp4::{Fmp4Writer, Sample, TrackConfig, VideoCodec};
use crate::store::{Keyframe, SegmentRow, TimeSource, encode_keyframes};

/// Hashes what passes through.
struct Hashing<W: Write> {
    inner: W,
    hasher: Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let n = self.inner.write_vectored(bufs)?;
        let mut left = n;
        for b in bufs {
            let take = left.min(b.len());
            self.hasher.update(&b[..take]);
            left -= take;
            if left == 0 {
                break;
            }
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A segment being written.
pub struct SegmentWriter {
    /// Its folder, held open: made durable at the end through this handle, so that a volume
    /// unmounted meanwhile from behind the path still gets its file's entry synced.
    dir: File,
    rel_path: String,
    camera_id: String,
    codec: VideoCodec,
    start_utc_ns: i64,
    time_source: TimeSource,
    mp4: Fmp4Writer<Hashing<File>>,
    /// The GOP being gathered: (data, duration, keyframe).
    gop: Vec<(Vec<u8>, u32, bool)>,
    /// Its bytes.
    gop_bytes: usize,
}

impl SegmentWriter {
    /// Creates `camera_id/YYYY-MM-DD/camera_id-<start ns>.mp4` under `data_dir`.
    pub fn create(
        data_dir: &Path,
        camera_id: &str,
        start_utc_ns: i64,
        track: &TrackConfig,
        time_source: TimeSource,
    ) -> io::Result<SegmentWriter> {
        let day = chrono::DateTime::from_timestamp_nanos(start_utc_ns)
            .format("%Y-%m-%d")
            .to_string();
        let rel_dir = format!("{camera_id}/{day}");
        std::fs::create_dir_all(data_dir.join(&rel_dir))?;
        let dir = File::open(data_dir.join(&rel_dir))?;
        let rel_path = format!("{rel_dir}/{camera_id}-{start_utc_ns}.mp4");
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(data_dir.join(&rel_path))?;
        let out = Hashing {
            inner: file,
            hasher: Sha256::new(),
        };
        let mp4 = Fmp4Writer::new(out, track)?;
        Ok(SegmentWriter {
            dir,
            rel_path,
            camera_id: camera_id.to_owned(),
            codec: track.codec,
            start_utc_ns,
            time_source,
            mp4,
            gop: Vec::new(),
            gop_bytes: 0,
        })
    }

    /// Adds one access unit (length-prefixed NAL units). A keyframe closes the GOP before it,
    /// which is written as one fragment.
    pub fn push(&mut self, data: &[u8], duration_90k: u32, keyframe: bool) -> io::Result<()> {
        self.push_owned(data.to_vec(), duration_90k, keyframe)
    }

    /// [`SegmentWriter::push`] without a copy.
    pub fn push_owned(
        &mut self,
        data: Vec<u8>,
        duration_90k: u32,
        keyframe: bool,
    ) -> io::Result<()> {
        if keyframe && !self.gop.is_empty() {
            self.write_gop()?;
        }
        self.gop_bytes += data.len();
        self.gop.push((data, duration_90k, keyframe));
        Ok(())
    }

    fn write_gop(&mut self) -> io::Result<()> {
        let samples: Vec<Sample<'_>> = self
            .gop
            .iter()
            .map(|(d, dur, k)| Sample {
                data: d,
                duration_90k: *dur,
                keyframe: *k,
            })
            .collect();
        self.mp4.write_fragment(&samples)?;
        self.gop.clear();
        self.gop_bytes = 0;
        Ok(())
    }

    /// Bytes of the GOP gathered in memory (written when the next keyframe comes).
    pub fn gathered_bytes(&self) -> usize {
        self.gop_bytes
    }

    /// Time covered so far, including the GOP not yet written, in nanoseconds.
    pub fn duration_ns(&self) -> i64 {
        let pending: u64 = self.gop.iter().map(|g| g.1 as u64).sum();
        ((self.mp4.duration_90k() + pending) as i128 * 1_000_000_000 / 90_000) as i64
    }

    /// When the segment's first picture was captured (UTC ns).
    pub fn start_utc_ns(&self) -> i64 {
        self.start_utc_ns
    }

    /// How its pictures are timed.
    pub fn time_source(&self) -> TimeSource {
        self.time_source
    }

    /// Path relative to the data folder.
    pub fn rel_path(&self) -> &str {
        &self.rel_path
    }

    /// Writes the last GOP, makes the file and its folder durable, and returns the row to
    /// index.
    pub fn finish(mut self) -> io::Result<SegmentRow> {
        if !self.gop.is_empty() {
            self.write_gop()?;
        }
        let duration_ns = self.duration_ns().max(1);
        let keyframes: Vec<Keyframe> = self
            .mp4
            .keyframes()
            .iter()
            .map(|&(time_90k, offset)| Keyframe { time_90k, offset })
            .collect();
        let bytes = self.mp4.bytes();
        let mut out = self.mp4.into_inner();
        out.flush()?;
        let sha256: [u8; 32] = out.hasher.finalize().into();
        let file = out.inner;
        file.sync_all()?;
        self.dir.sync_all()?;
        Ok(SegmentRow {
            camera_id: self.camera_id,
            start_utc_ns: self.start_utc_ns,
            end_utc_ns: self.start_utc_ns + duration_ns,
            path: self.rel_path,
            bytes,
            sha256,
            codec: match self.codec {
                VideoCodec::H264 => "h264".into(),
                VideoCodec::H265 => "h265".into(),
            },
            keyframes: encode_keyframes(&keyframes),
            time_source: self.time_source,
        })
    }
}
