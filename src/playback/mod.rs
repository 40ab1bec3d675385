//! Playback of recorded footage: the picture of a camera at any instant, exact to the frame.
//!
//! A seek asks the index for the segment and the keyframe at or before the instant (no file
//! scanning), reads that one fragment (our segments hold one GOP per fragment), decodes from
//! the keyframe forward to the picture whose interval contains the instant and shows it. The
//! decoded pictures of the last GOPs stay in a bounded cache: stepping forward continues the
//! decode where it stopped, stepping or playing backward decodes the previous GOP forward and
//! shows it backward. Pictures are `media::Frame`s, the live path's type, so tiles, shaders and
//! overlays are shared.
//!
//! Contract: no egui or wgpu here; readers of the index only (never blocks the recorder).

pub mod decode;
pub mod redact;
pub mod worker;

use std::collections::VecDeque;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::ingest::VideoCodec;
use crate::media::Frame;
use crate::record::fmp4::{self, SampleInfo};
use crate::store::{INDEX_FILE, Segment, Store, StoreError};
use decode::GopDecoder;

/// Why a picture cannot be shown.
#[derive(Debug, thiserror::Error)]
pub enum PlaybackError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("camera {camera}: nothing recorded at {at}")]
    NoFootage { camera: String, at: String },
    #[error("{path}: damaged segment: {why}")]
    Damaged { path: String, why: String },
    #[error("decoding {path}: {why}")]
    Decode { path: String, why: String },
}

/// A picture and the interval of the timeline it stands for.
#[derive(Clone)]
pub struct Shown {
    pub frame: Frame,
    /// When it was captured: the start of its interval.
    pub start_utc_ns: i64,
    /// When the next picture was captured.
    pub end_utc_ns: i64,
    pub segment_id: i64,
}

/// The pictures of one GOP decoded so far.
struct Gop {
    segment: Segment,
    moof_offset: u64,
    samples: Vec<SampleInfo>,
    frames: Vec<Frame>,
}

impl Gop {
    fn interval(&self, i: usize) -> (i64, i64) {
        let s = &self.samples[i];
        let start = self.segment.row.start_utc_ns + ticks_ns(s.time_90k);
        let end = self.segment.row.start_utc_ns + ticks_ns(s.time_90k + s.duration_90k as u64);
        (start, end.min(self.segment.row.end_utc_ns).max(start + 1))
    }

    /// The sample whose interval holds `at`.
    /// (Compared in nanoseconds as [`Gop::interval`] computes them, so that the end of one
    /// interval is the start of the next whatever the rounding.)
    fn index_at(&self, at: i64) -> usize {
        let start = self.segment.row.start_utc_ns;
        self.samples
            .iter()
            .rposition(|s| start + ticks_ns(s.time_90k) <= at)
            .unwrap_or(0)
    }
}

fn ticks_ns(t90: u64) -> i64 {
    (t90 as i128 * 1_000_000_000 / 90_000) as i64
}

/// GOPs kept decoded per player: the one shown and the one before or after it.
const CACHED_GOPS: usize = 2;

/// Plays one camera's recordings.
pub struct Player {
    data: PathBuf,
    camera: String,
    store: Store,
    decoder: Option<(VideoCodec, Vec<u8>, GopDecoder)>,
    /// Most recently used first.
    cache: VecDeque<Gop>,
    /// The GOP (segment id, fragment offset) the decoder last fed, and how far.
    fed: Option<(i64, u64, usize)>,
}

impl Player {
    /// A player of `camera` over the recorder's data folder `data`.
    pub fn open(data: &Path, camera: &str) -> Result<Player, PlaybackError> {
        Ok(Player {
            data: data.to_owned(),
            camera: camera.to_owned(),
            store: Store::open_readonly(&data.join(INDEX_FILE))?,
            decoder: None,
            cache: VecDeque::new(),
            fed: None,
        })
    }

    pub fn camera(&self) -> &str {
        &self.camera
    }

    /// The index this player reads (timelines, neighbours).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The picture whose interval contains `at_utc_ns`.
    pub fn frame_at(&mut self, at_utc_ns: i64) -> Result<Shown, PlaybackError> {
        self.frame_at_inner(at_utc_ns, false)
    }

    fn frame_at_inner(&mut self, at_utc_ns: i64, keyframe: bool) -> Result<Shown, PlaybackError> {
        // A cached GOP first: stepping and playing stay off the index and the disk.
        if let Some(pos) = self.cache.iter().position(|g| {
            let first = g.interval(0).0;
            let last = g.interval(g.samples.len() - 1).1;
            (first..last).contains(&at_utc_ns)
        }) {
            let gop = self.cache.remove(pos).expect("cached");
            return self.show(gop, at_utc_ns, keyframe);
        }
        let Some(seek) = self.store.seek(&self.camera, at_utc_ns)? else {
            // Past the indexed footage: the segment the recorder is writing, if any.
            if let Some(gop) = self.live_edge(at_utc_ns)? {
                return self.show(gop, at_utc_ns, keyframe);
            }
            return Err(PlaybackError::NoFootage {
                camera: self.camera.clone(),
                at: rfc3339(at_utc_ns),
            });
        };
        let gop = self.read_gop(seek.segment, seek.keyframe.offset)?;
        self.show(gop, at_utc_ns, keyframe)
    }

    /// Fast play: the keyframe of the GOP holding `at_utc_ns`, standing for the whole GOP (its
    /// interval runs to the next keyframe). One picture decoded per GOP, however fast.
    pub fn keyframe_at(&mut self, at_utc_ns: i64) -> Result<Shown, PlaybackError> {
        let mut shown = self.frame_at_inner(at_utc_ns, true)?;
        if let Some(gop) = self.cache.front() {
            shown.end_utc_ns = gop.interval(gop.samples.len() - 1).1;
        }
        Ok(shown)
    }

    /// The picture after `shown` (across segments and over gaps); None at the end.
    pub fn next(&mut self, shown: &Shown) -> Result<Option<Shown>, PlaybackError> {
        match self.frame_at(shown.end_utc_ns) {
            Ok(s) => Ok(Some(s)),
            Err(PlaybackError::NoFootage { .. }) => {
                let after = self.store.segments(
                    &self.camera,
                    shown.end_utc_ns,
                    shown.end_utc_ns + 30 * 86_400_000_000_000,
                )?;
                match after.first() {
                    Some(s) => self
                        .frame_at(s.row.start_utc_ns.max(shown.end_utc_ns))
                        .map(Some),
                    None => Ok(None),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// The picture before `shown` (across segments and over gaps); None at the start.
    pub fn previous(&mut self, shown: &Shown) -> Result<Option<Shown>, PlaybackError> {
        match self.frame_at(shown.start_utc_ns - 1) {
            Ok(s) => Ok(Some(s)),
            Err(PlaybackError::NoFootage { .. }) => {
                let before = self.store.segments(
                    &self.camera,
                    shown.start_utc_ns - 30 * 86_400_000_000_000,
                    shown.start_utc_ns,
                )?;
                match before.last() {
                    Some(s) => self.frame_at(s.row.end_utc_ns - 1).map(Some),
                    None => Ok(None),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Decodes `gop` as far as the picture at `at` (continuing where the decoder stopped when
    /// it last fed this GOP), caches it, and returns that picture.
    fn show(&mut self, mut gop: Gop, at: i64, keyframe: bool) -> Result<Shown, PlaybackError> {
        let want = if keyframe { 0 } else { gop.index_at(at) };
        if want >= gop.frames.len() {
            let key = (gop.segment.id, gop.moof_offset);
            let resume = self
                .fed
                .is_some_and(|(s, o, n)| (s, o) == key && n == gop.frames.len());
            if !resume {
                gop.frames.clear();
            }
            let from = gop.frames.len();
            let frames = self.decode(&gop, from, want)?;
            gop.frames.extend(frames);
            self.fed = Some((key.0, key.1, gop.frames.len()));
        }
        let (start, end) = gop.interval(want);
        let mut frame = gop.frames[want].clone();
        frame.capture_utc_ms = start.div_euclid(1_000_000);
        frame.timed_on_arrival = gop.segment.row.time_source == crate::store::TimeSource::Arrival;
        let shown = Shown {
            frame,
            start_utc_ns: start,
            end_utc_ns: end,
            segment_id: gop.segment.id,
        };
        self.cache.push_front(gop);
        self.cache.truncate(CACHED_GOPS);
        Ok(shown)
    }

    /// The GOP holding `at` in the segment the recorder is still writing (not indexed until it
    /// ends): the newest file of the camera's day folder that starts after its indexed
    /// footage, read up to its last complete fragment.
    fn live_edge(&mut self, at: i64) -> Result<Option<Gop>, PlaybackError> {
        let indexed_end = self
            .store
            .last_segment_end(&self.camera)?
            .unwrap_or(i64::MIN);
        if at < indexed_end {
            return Ok(None);
        }
        let mut best: Option<(i64, PathBuf, String)> = None;
        for day_start in [at, at - 86_400_000_000_000] {
            let day = chrono::DateTime::from_timestamp_nanos(day_start)
                .format("%Y-%m-%d")
                .to_string();
            let rel_dir = format!("{}/{day}", self.camera);
            let Ok(entries) = std::fs::read_dir(self.data.join(&rel_dir)) else {
                continue;
            };
            let prefix = format!("{}-", self.camera);
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let start = name
                    .strip_prefix(&prefix)
                    .and_then(|n| n.strip_suffix(".mp4"))
                    .and_then(|n| n.parse::<i64>().ok());
                if let Some(start) = start
                    && start <= at
                    && start >= indexed_end.saturating_sub(1_000_000_000)
                    && best.as_ref().is_none_or(|b| start > b.0)
                {
                    best = Some((start, e.path(), format!("{rel_dir}/{name}")));
                }
            }
        }
        let Some((start, path, rel)) = best else {
            return Ok(None);
        };
        let Ok(bytes) = std::fs::read(&path) else {
            return Ok(None);
        };
        let Some(table) = fmp4::sample_table(&bytes) else {
            return Ok(None);
        };
        let Some(last) = table.samples.last() else {
            return Ok(None);
        };
        let end = start + ticks_ns(last.time_90k + last.duration_90k as u64);
        if at >= end {
            return Ok(None);
        }
        let key = table
            .samples
            .iter()
            .rposition(|s| start + ticks_ns(s.time_90k) <= at && s.keyframe)
            .unwrap_or(0);
        let next_key = table.samples[key + 1..]
            .iter()
            .position(|s| s.keyframe)
            .map_or(table.samples.len(), |p| key + 1 + p);
        let samples = table.samples[key..next_key].to_vec();
        let segment = Segment {
            // Not indexed yet: an id of its own that no row has.
            id: -start,
            row: crate::store::SegmentRow {
                camera_id: self.camera.clone(),
                start_utc_ns: start,
                end_utc_ns: end,
                path: rel,
                bytes: bytes.len() as u64,
                sha256: [0; 32],
                codec: match table.codec {
                    fmp4::VideoCodec::H264 => "h264".into(),
                    fmp4::VideoCodec::H265 => "h265".into(),
                },
                keyframes: Vec::new(),
                time_source: crate::store::TimeSource::Arrival,
            },
        };
        let mut f = std::fs::File::open(&path).map_err(|e| PlaybackError::Damaged {
            path: segment.row.path.clone(),
            why: e.to_string(),
        })?;
        self.ensure_decoder(&segment, &mut f)?;
        Ok(Some(Gop {
            moof_offset: samples[0].offset,
            segment,
            samples,
            frames: Vec::new(),
        }))
    }

    /// Reads the fragment at `moof_offset` of `segment`.
    fn read_gop(&mut self, segment: Segment, moof_offset: u64) -> Result<Gop, PlaybackError> {
        let path = self.data.join(&segment.row.path);
        let damaged = |why: String| PlaybackError::Damaged {
            path: segment.row.path.clone(),
            why,
        };
        let mut f = std::fs::File::open(&path).map_err(|e| damaged(e.to_string()))?;
        // The moof of a GOP is 12 bytes a picture plus ~100: 64 KiB covers 5000 pictures.
        let mut head = vec![0u8; 64 << 10];
        f.seek(SeekFrom::Start(moof_offset))
            .map_err(|e| damaged(e.to_string()))?;
        let n = read_up_to(&mut f, &mut head).map_err(|e| damaged(e.to_string()))?;
        head.truncate(n);
        let (samples, _, _) = fmp4::read_fragment(&head, moof_offset)
            .ok_or_else(|| damaged(format!("no readable fragment at byte {moof_offset}")))?;
        if samples.is_empty() || !samples[0].keyframe {
            return Err(damaged(format!(
                "the fragment at byte {moof_offset} does not start with a keyframe"
            )));
        }
        self.ensure_decoder(&segment, &mut f)?;
        Ok(Gop {
            segment,
            moof_offset,
            samples,
            frames: Vec::new(),
        })
    }

    /// A decoder for the segment's track (kept while the track does not change).
    fn ensure_decoder(
        &mut self,
        segment: &Segment,
        f: &mut std::fs::File,
    ) -> Result<(), PlaybackError> {
        let damaged = |why: String| PlaybackError::Damaged {
            path: segment.row.path.clone(),
            why,
        };
        let mut head = vec![0u8; 16 << 10];
        f.seek(SeekFrom::Start(0))
            .map_err(|e| damaged(e.to_string()))?;
        let n = read_up_to(f, &mut head).map_err(|e| damaged(e.to_string()))?;
        let (codec, config, _, _) = fmp4::read_track(&head[..n])
            .ok_or_else(|| damaged("no readable init segment".into()))?;
        let codec = match codec {
            fmp4::VideoCodec::H264 => VideoCodec::H264,
            fmp4::VideoCodec::H265 => VideoCodec::H265,
        };
        if self
            .decoder
            .as_ref()
            .is_some_and(|(c, cfg, _)| *c == codec && *cfg == config)
        {
            return Ok(());
        }
        self.decoder = None;
        self.fed = None;
        let dec = GopDecoder::new(codec, &config).map_err(|why| PlaybackError::Decode {
            path: segment.row.path.clone(),
            why,
        })?;
        self.decoder = Some((codec, config, dec));
        Ok(())
    }

    /// Decodes samples `from..=to` of `gop` (from 0, or where the decoder stopped).
    fn decode(&mut self, gop: &Gop, from: usize, to: usize) -> Result<Vec<Frame>, PlaybackError> {
        let path = self.data.join(&gop.segment.row.path);
        let err = |why: String| PlaybackError::Damaged {
            path: gop.segment.row.path.clone(),
            why,
        };
        let first = gop.samples[from].offset;
        let last = &gop.samples[to];
        let mut bytes = vec![0u8; (last.offset + last.size as u64 - first) as usize];
        let mut f = std::fs::File::open(&path).map_err(|e| err(e.to_string()))?;
        f.seek(SeekFrom::Start(first))
            .map_err(|e| err(e.to_string()))?;
        f.read_exact(&mut bytes)
            .map_err(|e| err(format!("pictures {from}..={to}: {e}")))?;
        let units: Vec<(Vec<u8>, u64)> = gop.samples[from..=to]
            .iter()
            .map(|s| {
                let at = (s.offset - first) as usize;
                (
                    bytes[at..at + s.size as usize].to_vec(),
                    ticks_ns(s.time_90k) as u64,
                )
            })
            .collect();
        let Some((_, _, dec)) = self.decoder.as_mut() else {
            return Err(err("no decoder".into()));
        };
        dec.decode(units).map_err(|why| {
            // A decoder that failed mid-GOP is rebuilt for the next request.
            PlaybackError::Decode {
                path: gop.segment.row.path.clone(),
                why,
            }
        })
    }
}

fn read_up_to(f: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

pub use crate::time::rfc3339;
